/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A full disk during an incident, on a real small file system: the spool
 * is an 8 MB tmpfs (mounted in a private mount namespace, so nothing
 * outlives the test) that the test fills up mid-incident, then frees.
 * The recorder must say so (log, control socket status, `ansimctl status`,
 * events in the incident), hold segments in memory up to
 * held_segments_mb, declare what it could not keep as a `disk-full` gap,
 * write the held ones when space returns, delete nothing, and the
 * incident must pass the real `ansimctl verify`. Needs root to mount. */
#include "recorder-test-common.h"

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

/* Why this test cannot run here, or NULL. */
static const char *skip_reason;

static void
setup (Fixture *f, gconstpointer data)
{
  fixture_setup (f, data);
  if (skip_reason != NULL)
    return;
  g_assert_cmpint (g_mkdir (f->spool_dir, 0700), ==, 0);
  if (mount ("tmpfs", f->spool_dir, "tmpfs", 0, "size=8m,mode=0700") != 0)
    g_error ("mount tmpfs on %s: %s", f->spool_dir, g_strerror (errno));
}

static void
teardown (Fixture *f, gconstpointer data)
{
  test_process_kill (&f->host);
  if (skip_reason == NULL && !g_test_failed ())
    g_assert_cmpint (umount2 (f->spool_dir, MNT_DETACH), ==, 0);
  fixture_teardown (f, data);
}

static gint64
free_bytes (const char *dir)
{
  struct statvfs vfs;
  g_assert_cmpint (statvfs (dir, &vfs), ==, 0);
  return (gint64) vfs.f_bavail * vfs.f_frsize;
}

static void
test_disk_full (Fixture *f, gconstpointer data)
{
  (void) data;
  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autofree char *sock = g_build_filename (f->data_dir, "control.sock", NULL);
  g_autofree char *filler = g_build_filename (f->spool_dir, "filler", NULL);

  start_host_env (f, NULL);
  test_wait_log (f->log_path, "recorder", "recorder-host: ready", 1, 20000);
  test_wait_log (f->log_path, "recorder", "H.264 encoder", 1, 1000);
  g_usleep (4 * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "100");
  test_wait_log (f->log_path, "recorder", "sealed seg-000002", 1, 20000);

  /* Fill the spool: 1 MB stays free, below min_free_mb = 2. */
  guint sealed_before = test_count_in_file (f->log_path, "sealed seg-");
  gint64 fill = free_bytes (f->spool_dir) - 1024 * 1024;
  g_assert_cmpint (fill, >, 0);
  {
    g_autofree char *zeros = g_malloc0 (fill);
    g_assert_true (g_file_set_contents (filler, zeros, fill, &error));
    g_assert_no_error (error);
  }
  g_test_message ("spool filled: %.1f MB free", free_bytes (f->spool_dir) / 1048576.0);
  test_wait_log (f->log_path, "recorder", "holding segments in memory", 1, 10000);

  /* Reported on the control socket and by ansimctl status. */
  g_autofree char *reply = ansim_control_request (sock, "status", &error);
  g_assert_no_error (error);
  g_test_message ("status: %s", reply);
  g_assert_nonnull (strstr (reply, "\"low\":true"));
  {
    g_autofree char *ctl = test_build_path ("ansimctl/ansimctl");
    const char *argv[] = { ctl, "status", "--config", f->config_path, NULL };
    g_autofree char *out = NULL;
    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                  NULL, &error);
    g_assert_no_error (error);
    g_test_message ("ansimctl status:\n%s", out);
    g_assert_nonnull (strstr (out, "DISK FULL"));
  }

  /* Past the memory for held segments: not kept, a gap to come. */
  test_wait_log (f->log_path, "recorder", "memory for held segments is full", 1, 60000);
  g_usleep (3 * G_USEC_PER_SEC);
  g_autofree char *reply2 = ansim_control_request (sock, "status", &error);
  g_assert_no_error (error);
  g_test_message ("status: %s", reply2);
  g_assert_null (strstr (reply2, "\"unkept_segments\":0}"));
  const char *h = strstr (reply2, "\"held_segments\":");
  g_assert_nonnull (h);
  guint held_in_memory = (guint) g_ascii_strtoull (h + strlen ("\"held_segments\":"), NULL, 10);
  g_assert_cmpuint (held_in_memory, >=, 1);

  /* Space returns: the held segments are written, then the gap. */
  g_assert_cmpint (g_unlink (filler), ==, 0);
  test_wait_log (f->log_path, "recorder", "space is back", 1, 10000);
  test_wait_log (f->log_path, "recorder", "recorded as a disk-full gap", 1, 1000);
  g_usleep (4 * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "long");
  test_recorder_wait_closed (f->data_dir, f->log_path, 1, 30000);
  g_autofree char *reply3 = ansim_control_request (sock, "status", &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (reply3, "\"low\":false"));
  g_assert_nonnull (strstr (reply3, "\"held_segments\":0,"));
  test_process_end (&f->host);

  g_autoptr (GPtrArray) uuids = incident_uuids (f, NULL);
  g_assert_cmpuint (uuids->len, ==, 1);
  assert_verifies (f, uuids->pdata[0], NULL);

  g_autofree char *dir = g_build_filename (f->spool_dir, uuids->pdata[0], NULL);
  g_autoptr (AnsimManifest) m = ansim_manifest_load (dir, &error);
  g_assert_no_error (error);
  gint64 low_at = -1, ok_at = -1;
  for (guint i = 0; i < ansim_manifest_get_n_events (m); i++)
    {
      const AnsimManifestEvent *ev = ansim_manifest_get_event (m, i);
      if (g_str_equal (ev->kind, "disk-low") && low_at < 0)
        low_at = ev->mono_us;
      if (g_str_equal (ev->kind, "disk-ok"))
        ok_at = ev->mono_us;
    }
  g_assert_cmpint (low_at, >, 0);
  g_assert_cmpint (ok_at, >, low_at);
  /* Entries: segments sealed before, the held ones, one disk-full gap,
   * segments after. */
  guint gaps = 0, before = 0, after = 0;
  for (guint i = 0; i < ansim_manifest_get_n_entries (m); i++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (m, i);
      if (e->kind == ANSIM_ENTRY_GAP)
        {
          g_assert_cmpstr (e->reason, ==, "disk-full");
          g_assert_cmpint (e->duration_us, >=, 1000000);
          g_test_message ("disk-full gap of %.1f s", e->duration_us / 1e6);
          gaps++;
        }
      else if (gaps == 0)
        before++;
      else
        after++;
    }
  g_test_message ("%u segment(s) sealed before the disk filled, %u held in memory, %u "
                  "before the gap in all, %u after it",
                  sealed_before, held_in_memory, before, after);
  g_assert_cmpuint (gaps, ==, 1);
  g_assert_cmpuint (before, >=, sealed_before + held_in_memory);
  g_assert_cmpuint (after, >=, 1);
  g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
  g_assert_cmpint (test_db_int (db, "SELECT count(*) FROM events WHERE kind = 'disk-low'"), ==, 1);
  g_assert_cmpint (test_db_int (db, "SELECT count(*) FROM events WHERE kind = 'disk-ok'"), ==, 1);
  g_assert_cmpint (test_db_int (db, "SELECT count(*) FROM segments WHERE kind = 'gap' "
                                    "AND gap_reason = 'disk-full'"),
                   ==, 1);
  /* Nothing set aside or lost: every listed segment has its upload. */
  g_assert_cmpint (test_db_int (db, "SELECT count(*) FROM outbox WHERE class = 3"), ==,
                   test_db_int (db, "SELECT count(*) FROM segments WHERE kind = 'media'"));
}

static const Setup disk_setup = {
  .recorder_extra = "min_free_mb = 2\nheld_segments_mb = 1\n",
  .pre_event_s = 2,
  .post_event_s = 120,
  .bitrate_kbps = 1500,
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!test_have_programs ("needs age", "age", NULL))
    return 77;
  /* A private mount namespace: the tmpfs goes away with this process. */
  if (geteuid () != 0)
    skip_reason = "needs root to mount a small tmpfs as the spool (run as root)";
  else if (unshare (CLONE_NEWNS) != 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    skip_reason = "cannot make a private mount namespace (unshare CLONE_NEWNS refused)";
  g_test_add ("/recorder/disk/full-then-freed", Fixture, &disk_setup, setup, test_disk_full,
              teardown);
  return g_test_run ();
}
