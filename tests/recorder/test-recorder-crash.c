/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Crash safety of sealing, point by point: the recorder kills itself with
 * SIGKILL (ANSIM_TEST_CRASH_AT, the same as kill -9 or a power cut) at each
 * step of sealing a segment, is restarted, and the interrupted incident
 * must pass the real `ansimctl verify` (signature, chain, every file, every
 * plaintext) with nothing already sealed lost: every listed segment in
 * place and queued for upload, a file the manifest never listed set aside
 * and recorded, never deleted. */
#include "recorder-test-common.h"

static void
test_crash_point (Fixture *f, gconstpointer data)
{
  const Setup *s = data;
  const char *env[] = { "ANSIM_TEST_CRASH_AT", s->crash_at, NULL };
  g_autoptr (GError) error = NULL;

  start_host_env (f, env);
  test_wait_log (f->log_path, "recorder", "recorder-host: ready", 1, 20000);
  test_wait_log (f->log_path, "recorder", "H.264 encoder", 1, 1000);
  g_usleep ((s->pre_event_s + 2) * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "100");
  /* It kills itself at the crash point. */
  g_subprocess_wait (f->host, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (g_subprocess_get_if_exited (f->host));
  g_assert_cmpint (g_subprocess_get_term_sig (f->host), ==, SIGKILL);
  g_clear_object (&f->host);
  g_assert_cmpuint (test_count_in_file (f->log_path, "reached: killing this process"), ==, 1);
  {
    g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
    g_assert_cmpint (
      test_db_int (db, "SELECT count(*) FROM incidents WHERE closed_wall_us IS NULL"), ==, 1);
  }

  start_host_env (f, NULL);
  test_wait_log (f->log_path, "recorder", "recorder-host: ready", 2, 20000);
  g_assert_cmpuint (test_count_in_file (f->log_path, "closed as interrupted"), ==, 1);
  g_assert_cmpuint (test_count_in_file (f->log_path, s->expect), ==, 1);
  test_process_end (&f->host);

  g_autoptr (GPtrArray) uuids = incident_uuids (f, NULL);
  g_assert_cmpuint (uuids->len, ==, 1);
  const char *uuid = uuids->pdata[0];
  assert_verifies (f, uuid, NULL);
  {
    /* Every checkpoint the desk signed agrees with the final manifest, the
     * last one (the close's) with all of it. */
    g_autofree char *inc_dir = g_build_filename (f->spool_dir, uuid, NULL);
    AnsimVerifyOptions opt = { 0 };
    g_autoptr (AnsimVerifyReport) r = ansim_incident_verify (inc_dir, &opt, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (r->n_findings, ==, 0);
    g_assert_cmpuint (r->n_checkpoints, >=, 4);
    g_assert_cmpuint (r->checkpoint_entries, ==, ansim_manifest_get_n_entries (r->manifest));
  }

  g_autofree char *dir = g_build_filename (f->spool_dir, uuid, NULL);
  g_autoptr (AnsimManifest) m = ansim_manifest_load (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ansim_manifest_get_close_reason (m), ==, "interrupted");
  g_assert_cmpuint (ansim_manifest_get_format_version (m), ==, ANSIM_MANIFEST_VERSION);
  guint n = ansim_manifest_get_n_entries (m), segments = 0;
  gint64 closed = ansim_manifest_get_closed_mono_us (m);
  /* The close comes after everything it closes: the open (the segments
   * sealed so far may all be the pre-event buffer), every entry, every
   * event (the notice is given after the press). */
  g_assert_cmpint (closed, >=, ansim_manifest_get_opened_mono_us (m));
  for (guint i = 0; i < n; i++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (m, i);
      segments += e->kind == ANSIM_ENTRY_SEGMENT;
      g_assert_cmpint (e->start_mono_us + e->duration_us, <=, closed);
    }
  for (guint i = 0; i < ansim_manifest_get_n_events (m); i++)
    g_assert_cmpint (ansim_manifest_get_event (m, i)->mono_us, <=, closed);
  {
    /* The desk's row says the same close. */
    g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
    g_autofree char *sql =
      g_strdup_printf ("SELECT closed_mono_us FROM incidents WHERE uuid = '%s'", uuid);
    g_assert_cmpint (test_db_int (db, sql), ==, closed);
  }
  /* Segments 0 and 1 were committed before the crash, at the third. */
  g_assert_cmpuint (segments, >=, 2);

  /* Nothing sealed is lost: one row and one upload per listed segment. */
  g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
  g_assert_cmpint (test_db_int (db, "SELECT count(*) FROM segments WHERE kind = 'media'"), ==,
                   segments);
  g_assert_cmpint (test_db_int (db, "SELECT count(*) FROM outbox WHERE class = 3"), ==, segments);
  /* No leftover temp file in the incident. */
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    g_assert_null (strstr (name, ".tmp-"));

  gboolean set_aside = strstr (s->expect, "moved to") != NULL;
  g_assert_cmpint (test_db_int (db, "SELECT count(*) FROM events WHERE kind = 'file-set-aside'"),
                   ==, set_aside ? 1 : 0);
  guint aside_events = 0;
  for (guint i = 0; i < ansim_manifest_get_n_events (m); i++)
    aside_events += g_str_equal (ansim_manifest_get_event (m, i)->kind, "file-set-aside");
  g_assert_cmpuint (aside_events, ==, set_aside ? 1 : 0);
  if (set_aside)
    {
      /* The unlisted segment (the third) kept, outside the incident. */
      g_autofree char *aside = g_build_filename (f->spool_dir, ".set-aside", uuid, NULL);
      g_autoptr (GDir) a = g_dir_open (aside, 0, &error);
      g_assert_no_error (error);
      const char *kept = g_dir_read_name (a);
      g_assert_nonnull (kept);
      g_assert_true (g_str_has_prefix (kept, ".seg-000002.mkv.age.tmp-"));
      g_autofree char *kept_path = g_build_filename (aside, kept, NULL);
      GStatBuf st;
      g_assert_cmpint (g_stat (kept_path, &st), ==, 0);
      g_assert_cmpint (st.st_size, >, 0);
      g_assert_cmpuint (segments, ==, 2);
    }
  else
    g_assert_cmpuint (segments, >=, 3);
}

/* Interrupted while only the pre-event buffer was sealed: its one segment
 * ends before the press, and the notice comes after the press. The close
 * must still come after all of it (format version 3 refuses anything
 * else; recorders before it closed such an incident before its open). */
static void
test_crash_in_pre_event (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  const char *env[] = { "ANSIM_TEST_CRASH_AT", "segment-partial:2", NULL };
  g_autoptr (GError) error = NULL;

  start_host_env (f, env);
  test_wait_log (f->log_path, "recorder", "recorder-host: ready", 1, 20000);
  test_wait_log (f->log_path, "recorder", "H.264 encoder", 1, 1000);
  g_usleep (5 * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "100");
  g_subprocess_wait (f->host, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_subprocess_get_term_sig (f->host), ==, SIGKILL);
  g_clear_object (&f->host);
  start_host_env (f, NULL);
  test_wait_log (f->log_path, "recorder", "recorder-host: ready", 2, 20000);
  test_process_end (&f->host);

  g_autoptr (GPtrArray) uuids = incident_uuids (f, NULL);
  g_assert_cmpuint (uuids->len, ==, 1);
  assert_verifies (f, uuids->pdata[0], NULL);
  g_autofree char *dir = g_build_filename (f->spool_dir, uuids->pdata[0], NULL);
  g_autoptr (AnsimManifest) m = ansim_manifest_load (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ansim_manifest_get_n_entries (m), ==, 1);
  const AnsimManifestEntry *e = ansim_manifest_get_entry (m, 0);
  /* The situation this is about: media only from before the press. */
  g_assert_cmpint (e->start_mono_us + e->duration_us, <, ansim_manifest_get_opened_mono_us (m));
  gint64 closed = ansim_manifest_get_closed_mono_us (m);
  g_assert_cmpint (closed, >=, ansim_manifest_get_opened_mono_us (m));
  for (guint i = 0; i < ansim_manifest_get_n_events (m); i++)
    g_assert_cmpint (ansim_manifest_get_event (m, i)->mono_us, <=, closed);
}

/* Each crash point with the restart's words that show how it was handled.
 * Counts: the third segment (manifest-written: the first write is the
 * incident's opening manifest). */
static const Setup points[] = {
  { .pre_event_s = 2, .post_event_s = 30, .crash_at = "segment-partial:3", .expect = "moved to" },
  { .pre_event_s = 2, .post_event_s = 30, .crash_at = "segment-encrypted:3", .expect = "moved to" },
  { .pre_event_s = 2,
    .post_event_s = 30,
    .crash_at = "manifest-written:4",
    .expect = "was sealed and listed when it was interrupted: put in place" },
  /* Version 3: the checkpoint after the manifest (the fourth write: the
   * third segment), and a power cut between its text and signature, which
   * the restart completes (the same deterministic signature). */
  { .pre_event_s = 2,
    .post_event_s = 30,
    .crash_at = "checkpoint-text-written:4",
    .expect = "was sealed and listed when it was interrupted: put in place" },
  { .pre_event_s = 2,
    .post_event_s = 30,
    .crash_at = "checkpoint-written:4",
    .expect = "was sealed and listed when it was interrupted: put in place" },
  { .pre_event_s = 2,
    .post_event_s = 30,
    .crash_at = "manifest-signed:3",
    .expect = "was sealed and listed when it was interrupted: put in place" },
  { .pre_event_s = 2,
    .post_event_s = 30,
    .crash_at = "segment-renamed:3",
    .expect = "had no database row yet: added" },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!test_have_programs ("needs age", "age", NULL))
    return 77;
  for (guint i = 0; i < G_N_ELEMENTS (points); i++)
    {
      g_autofree char *point = g_strndup (points[i].crash_at, strcspn (points[i].crash_at, ":"));
      g_autofree char *path = g_strdup_printf ("/recorder/crash/%s", point);
      g_test_add (path, Fixture, &points[i], fixture_setup, test_crash_point, fixture_teardown);
    }
  static const Setup pre_event = { .pre_event_s = 4, .post_event_s = 30 };
  g_test_add ("/recorder/crash/in-pre-event", Fixture, &pre_event, fixture_setup,
              test_crash_in_pre_event, fixture_teardown);
  return g_test_run ();
}
