/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The chain between incidents, per device and source: one press opens an
 * incident on each of two sources, each chaining to its own source's
 * previous incident (the third press comes while the second incidents are
 * still being closed, so their final manifests are waited for). The real
 * `ansimctl verify --previous` accepts each link, and names a swapped or a
 * removed predecessor as a broken chain. */
#include "recorder-test-common.h"

static char *
incident_dir (Fixture *f, GPtrArray *uuids, GPtrArray *sources, const char *source, guint nth)
{
  for (guint i = 0, seen = 0; i < uuids->len; i++)
    if (g_str_equal (sources->pdata[i], source) && seen++ == nth)
      return g_build_filename (f->spool_dir, uuids->pdata[i], NULL);
  g_error ("no incident %u of source %s", nth, source);
}

static void
assert_broken (Fixture *f, const char *dir, const char *previous, const char *why)
{
  g_autofree char *text = NULL;
  int rc = ansimctl_verify (f, dir, previous, &text);
  g_test_message ("verify %s --previous %s:\n%s", dir, previous, text);
  g_assert_cmpint (rc, ==, 1);
  g_assert_nonnull (strstr (text, "broken chain"));
  g_assert_nonnull (strstr (text, why));
}

static void
test_two_sources (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;

  start_host_env (f, NULL);
  test_wait_log (f->log_path, "recorder", "recorder-host: ready", 1, 20000);
  test_wait_log (f->log_path, "recorder", "H.264 encoder", 2, 1000);
  g_usleep (4 * G_USEC_PER_SEC);
  /* A: both sources, ended by the post-event time (3 s). */
  test_recorder_press (f->data_dir, "desk-button", "100");
  test_recorder_wait_closed (f->data_dir, f->log_path, 2, 20000);
  /* B, ended by a long press; C opened by the other trigger at once,
   * while B is still closing. */
  g_usleep (G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "100");
  g_usleep (1500000);
  test_recorder_press (f->data_dir, "desk-button", "long");
  test_wait_log (f->log_path, "recorder", "ending: long-press", 2, 10000);
  test_recorder_press (f->data_dir, "bodycam", "100");
  test_recorder_wait_closed (f->data_dir, f->log_path, 6, 30000);
  test_process_end (&f->host);
  g_test_message ("C waited for B's final manifest: %s",
                  test_count_in_file (f->log_path, "chained once its previous incident is closed")
                      > 0
                    ? "yes"
                    : "no (B had closed already)");

  g_autoptr (GPtrArray) sources = NULL;
  g_autoptr (GPtrArray) uuids = incident_uuids (f, &sources);
  g_assert_cmpuint (uuids->len, ==, 6);
  const char *names[] = { "cam", "body" };
  for (guint s = 0; s < 2; s++)
    {
      g_autofree char *a = incident_dir (f, uuids, sources, names[s], 0);
      g_autofree char *b = incident_dir (f, uuids, sources, names[s], 1);
      g_autofree char *c = incident_dir (f, uuids, sources, names[s], 2);
      g_autoptr (AnsimManifest) ma = ansim_manifest_load (a, &error);
      g_assert_no_error (error);
      g_autoptr (AnsimManifest) mc = ansim_manifest_load (c, &error);
      g_assert_no_error (error);
      /* Each source starts its own chain and names itself. */
      g_assert_null (ansim_manifest_get_previous_manifest_sha256 (ma));
      g_assert_cmpstr (ansim_manifest_get_source (ma), ==, names[s]);
      g_assert_cmpstr (ansim_manifest_get_source (mc), ==, names[s]);
      g_autofree char *a_base = g_path_get_basename (a);
      assert_verifies (f, a_base, NULL);
      g_autofree char *b_base = g_path_get_basename (b);
      g_autofree char *c_base = g_path_get_basename (c);
      assert_verifies (f, b_base, a);
      assert_verifies (f, c_base, b);

      /* The database row names the same predecessor as the manifest. */
      g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
      g_autofree char *sql = g_strdup_printf (
        "SELECT count(*) FROM incidents WHERE uuid = '%s' AND prev_manifest_hash = '%s'", c_base,
        ansim_manifest_get_previous_manifest_sha256 (mc));
      g_assert_cmpint (test_db_int (db, sql), ==, 1);

      /* Swapped: the other source's incident given as the predecessor. */
      g_autofree char *other_a = incident_dir (f, uuids, sources, names[1 - s], 0);
      assert_broken (f, b, other_a, "chains to");
      /* Removed: B taken out, C's predecessor is not A. */
      assert_broken (f, c, a, "chains to");
    }
}

static const Setup two_sources = {
  .two_sources = TRUE, .bodycam_trigger = TRUE, .pre_event_s = 2, .post_event_s = 3
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!test_have_programs ("needs age", "age", NULL))
    return 77;
  g_test_add ("/recorder/chain/two-sources", Fixture, &two_sources, fixture_setup, test_two_sources,
              fixture_teardown);
  return g_test_run ();
}
