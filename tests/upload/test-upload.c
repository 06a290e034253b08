/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The upload path end to end over loopback with real processes: desks
 * whose outbox is filled as the recorder fills it, a real ansim-uploader,
 * a real ansim-panel with the filesystem store; faults (panel down, the
 * link to the panel's network namespace down, panel killed mid-upload,
 * uploader killed, store down, store full, an S3 store that hangs) and
 * what the desk may delete. */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "db.h"
#include "outbox.h"
#include "test-netns.h"
#include "upload-helpers.h"

typedef struct {
  char *dir;
  TestDesk *desk;
  TestPanel *panel;
  GSubprocess *uploader;
  TestNetns *net; /* made by the link-down test */
} Fixture;

/* Runs a command (argv as one string, split on spaces); its output goes to
 * the test's messages. FALSE if it failed. */
static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;
  f->dir = g_dir_make_tmp ("ansim-up-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (f->dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (f->dir, "panel", NULL);
  f->desk = test_desk_new (desk_dir);
  f->panel = test_panel_new (panel_dir, "max_body_size = 16");
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  test_process_stop (f->uploader, SIGTERM);
  g_clear_object (&f->uploader);
  g_clear_pointer (&f->panel, test_panel_free);
  g_clear_pointer (&f->desk, test_desk_free);
  g_clear_pointer (&f->net, test_netns_free);
  g_autofree char *store = g_build_filename (f->dir, "panel", "store", NULL);
  umount2 (store, MNT_DETACH); /* the store-full test's tmpfs, if any */
  test_rm_rf (f->dir);
  g_free (f->dir);
}

static gboolean
all_confirmed (gpointer data)
{
  Fixture *f = data;
  return test_desk_count (f->desk, "confirmed_at_us IS NULL") == 0;
}

static void
wait_all_confirmed (Fixture *f, double seconds)
{
  if (!test_wait_until (all_confirmed, f, seconds))
    {
      g_autofree char *log = NULL;
      g_autofree char *path = g_build_filename (f->desk->dir, "uploader.log", NULL);
      g_file_get_contents (path, &log, NULL, NULL);
      g_error ("%" G_GINT64_FORMAT
               " outbox items still unconfirmed after %.0f s; uploader log:\n%s",
               test_desk_count (f->desk, "confirmed_at_us IS NULL"), seconds, log);
    }
}

/* Every segment the desk sealed is in the panel's store exactly once,
 * byte for byte, and in the panel's incident log; every alert and event
 * too. */
static void
assert_panel_has_everything (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) segs =
    ansim_db_prepare (f->desk->db,
                      "SELECT i.uuid, s.idx, s.cipher_sha256, s.spool_path FROM segments s "
                      "JOIN incidents i ON i.id = s.incident_id ORDER BY i.id, s.idx",
                      &error);
  g_assert_no_error (error);
  sqlite3 *pdb = test_panel_open_db (f->panel);
  g_autofree char *store = g_build_filename (f->panel->dir, "store", NULL);
  guint n = 0;
  while (sqlite3_step (segs) == SQLITE_ROW)
    {
      const char *uuid = (const char *) sqlite3_column_text (segs, 0);
      gint64 idx = sqlite3_column_int64 (segs, 1);
      const char *sha = (const char *) sqlite3_column_text (segs, 2);
      g_autoptr (sqlite3_stmt) p = ansim_db_prepare (
        pdb,
        "SELECT s.store_key, s.cipher_sha256, s.received_at_us FROM segments s "
        "JOIN incidents i ON i.id = s.incident_id WHERE i.uuid = ?1 AND s.idx = ?2",
        &error);
      g_assert_no_error (error);
      sqlite3_bind_text (p, 1, uuid, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (p, 2, idx);
      g_assert_cmpint (sqlite3_step (p), ==, SQLITE_ROW);
      g_assert_cmpstr ((const char *) sqlite3_column_text (p, 1), ==, sha);
      g_assert_cmpint (sqlite3_column_type (p, 0), ==, SQLITE_TEXT);
      g_autofree char *object = g_build_filename (store, sqlite3_column_text (p, 0), NULL);
      g_autofree char *bytes = NULL;
      gsize len = 0;
      g_assert_true (g_file_get_contents (object, &bytes, &len, &error));
      g_autofree char *actual =
        g_compute_checksum_for_data (G_CHECKSUM_SHA256, (guchar *) bytes, len);
      g_assert_cmpstr (actual, ==, sha);
      n++;
    }
  /* exactly once: as many segment objects (non-hidden files) as segments */
  g_autofree char *cmd = g_strdup_printf ("find '%s' -name 'seg-*' -type f | wc -l", store);
  g_autofree char *out = NULL;
  const char *sh[] = { "sh", "-c", cmd, NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) sh, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               NULL, NULL, NULL));
  g_assert_cmpint (atoi (out), ==, n);
  g_assert_cmpint (test_panel_count (f->panel, "SELECT count(*) FROM segments WHERE store_key "
                                               "IS NOT NULL"),
                   ==, n);
  sqlite3_close (pdb);

  gint64 alerts = test_desk_count (f->desk, "class = 0");
  g_assert_cmpint (test_panel_count (f->panel, "SELECT count(*) FROM incidents"), ==, alerts);
  g_assert_cmpint (test_panel_count (f->panel,
                                     "SELECT count(*) FROM incidents WHERE "
                                     "manifest_hash IS NOT NULL AND close_reason IS NOT NULL"),
                   ==, alerts);
  g_assert_cmpint (test_panel_count (f->panel, "SELECT count(*) FROM events WHERE device_id "
                                               "IS NOT NULL"),
                   ==, test_desk_count (f->desk, "class = 1"));
}

/* The desk never deleted a file the panel had not confirmed, and every
 * file of an unconfirmed item is still there. */
static void
assert_desk_deleted_nothing_unconfirmed (Fixture *f)
{
  g_assert_cmpint (test_desk_count (f->desk, "deleted_at_us IS NOT NULL AND confirmed_at_us "
                                             "IS NULL"),
                   ==, 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    f->desk->db,
    "SELECT path FROM outbox WHERE path IS NOT NULL AND (confirmed_at_us IS NULL OR "
    "deleted_at_us IS NULL)",
    &error);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      g_autofree char *file =
        g_build_filename (f->desk->spool, sqlite3_column_text (stmt, 0), NULL);
      g_assert_true (g_file_test (file, G_FILE_TEST_IS_REGULAR));
    }
}

static void
test_end_to_end (Fixture *f, gconstpointer data)
{
  (void) data;
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  g_free (test_desk_record (f->desk, 3, 100000));
  g_free (test_desk_record (f->desk, 2, 70000));
  f->uploader = test_uploader_start (f->desk, f->panel->url, NULL);
  wait_all_confirmed (f, 30);
  assert_panel_has_everything (f);
  /* the default keep period: nothing deleted yet */
  g_assert_cmpint (test_desk_count (f->desk, "deleted_at_us IS NOT NULL"), ==, 0);
  assert_desk_deleted_nothing_unconfirmed (f);
  /* the heartbeat: queue, disk, clock, and the recorder (not running here) */
  g_assert_cmpint (test_panel_count (f->panel,
                                     "SELECT count(*) FROM devices WHERE id = 'dev-1' "
                                     "AND last_seen_at_us IS NOT NULL "
                                     "AND json_extract (heartbeat, '$.disk_free_bytes') > 0 "
                                     "AND json_extract (heartbeat, '$.queue_length') >= 0 "
                                     "AND json_extract (heartbeat, '$.recorder.ok') = 0 "
                                     "AND json_extract (heartbeat, '$.recorder.error') "
                                     "IS NOT NULL"),
                   ==, 1);
  /* the chain between incidents arrived as declared */
  g_assert_cmpint (test_panel_count (f->panel, "SELECT count(*) FROM incidents b JOIN incidents a "
                                               "ON b.prev_manifest_hash = a.manifest_hash"),
                   ==, 1);
}

/* Evidence format version 3 over the wire: a backlog of one incident of
 * 40 short segments (the uploader starts after the close, so it fills the
 * panel's checkpoints from 0 after a checkpoint-gap) ends with every
 * checkpoint kept, one manifest object in the store, and the panel's
 * bytes per segment (segment object + checkpoint row) the same for the
 * first and the last segment within 10 %. */
static void
test_checkpoints_constant (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;
  const guint n = 40;
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  f->desk->source = "desk-camera";
  g_autofree char *uuid = test_desk_record (f->desk, n, 4000);
  (void) uuid; /* kept for its cleanup */
  f->uploader = test_uploader_start (f->desk, f->panel->url, NULL);
  wait_all_confirmed (f, 30);
  assert_panel_has_everything (f);

  /* checkpoint 0 at the first segment ... n at the close */
  g_assert_cmpint (test_panel_count (f->panel, "SELECT count(*) FROM incident_checkpoints"), ==,
                   n + 1);
  g_assert_cmpint (test_panel_count (f->panel, "SELECT count(*) FROM incident_checkpoints "
                                               "WHERE sequence <= entries AND entries = "
                                               "min (sequence + 1, 40)"),
                   ==, n + 1);
  sqlite3 *pdb = test_panel_open_db (f->panel);
  g_autofree char *store = g_build_filename (f->panel->dir, "store", NULL);
  gint64 per_segment[2] = { 0, 0 };
  for (int k = 0; k < 2; k++)
    {
      guint idx = k == 0 ? 0 : n - 1;
      g_autoptr (sqlite3_stmt) st = ansim_db_prepare (
        pdb,
        "SELECT s.store_key, length (c.text) + length (c.signature) FROM segments s "
        "JOIN incident_checkpoints c ON c.incident_id = s.incident_id AND c.sequence = s.idx "
        "WHERE s.idx = ?1",
        &error);
      g_assert_no_error (error);
      sqlite3_bind_int64 (st, 1, idx);
      g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
      g_autofree char *object = g_build_filename (store, sqlite3_column_text (st, 0), NULL);
      GStatBuf sb;
      g_assert_cmpint (g_stat (object, &sb), ==, 0);
      per_segment[k] = sb.st_size + sqlite3_column_int64 (st, 1);
    }
  sqlite3_close (pdb);
  g_test_message ("panel bytes per segment: first %" G_GINT64_FORMAT ", last %" G_GINT64_FORMAT,
                  per_segment[0], per_segment[1]);
  g_assert_cmpint (per_segment[1] * 10, <=, per_segment[0] * 11);
  g_assert_cmpint (per_segment[1] * 10, >=, per_segment[0] * 9);
  g_autofree char *cmd =
    g_strdup_printf ("find '%s' -name 'manifest-*.json' -type f | wc -l", store);
  g_autofree char *out = NULL;
  const char *sh[] = { "sh", "-c", cmd, NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) sh, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               NULL, NULL, NULL));
  g_assert_cmpint (atoi (out), ==, 1);
}

/* A damaged checkpoint on the desk (a bad flash block) never holds back
 * the evidence: the uploader sends the whole manifest instead, and every
 * segment and the closed manifest still arrive. */
static void
test_checkpoint_damaged (Fixture *f, gconstpointer data)
{
  (void) data;
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  f->desk->source = "desk-camera";
  g_autofree char *uuid = test_desk_record (f->desk, 3, 4000);
  g_autofree char *damaged =
    g_build_filename (f->desk->spool, uuid, "checkpoints", "checkpoint-000001", NULL);
  g_assert_cmpint (g_chmod (damaged, 0644), ==, 0);
  test_write_file (damaged, "not a checkpoint\n", 17);
  f->uploader = test_uploader_start (f->desk, f->panel->url, NULL);
  wait_all_confirmed (f, 30);
  assert_panel_has_everything (f);
  /* checkpoint 0 arrived before the damaged one; the uploader said why */
  g_assert_cmpint (test_panel_count (f->panel, "SELECT count(*) FROM incident_checkpoints"), ==, 1);
  g_autofree char *log = NULL;
  g_autofree char *log_path = g_build_filename (f->desk->dir, "uploader.log", NULL);
  g_assert_true (g_file_get_contents (log_path, &log, NULL, NULL));
  g_assert_nonnull (strstr (log, "checkpoint 1 of "));
  g_assert_nonnull (strstr (log, "sending the whole manifest"));
}

/* Alerts go first: with a backlog of segments queued, a new alert is
 * recorded by the panel before the backlog drains, and the wake socket
 * makes it leave at once although the uploader polls only hourly. */
static void
test_wake_and_alert_first (Fixture *f, gconstpointer data)
{
  (void) data;
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  f->uploader =
    test_uploader_start (f->desk, f->panel->url,
                         "poll_interval = 3600\nsupervision_s = 0\nheartbeat_interval = 86400\n"
                         "max_send_rate = 2000");
  g_usleep (500000); /* started, first heartbeat sent, now idle for an hour */
  g_free (test_desk_record (f->desk, 6, 1000000)); /* ~3 s at 2000 KiB/s */
  g_autofree char *sock = g_build_filename (f->desk->dir, "uploader.sock", NULL);
  g_autoptr (GError) error = NULL;
  ansim_outbox_wake_uploader (sock, &error);
  g_assert_no_error (error);
  g_usleep (1000000);
  TestIncident *inc = test_incident_open (f->desk);
  gint64 queued = g_get_real_time ();
  g_assert_true (ansim_outbox_wake_uploader (sock, &error));
  g_assert_no_error (error);
  g_autofree char *sql = g_strdup_printf ("SELECT alerted_at_us FROM incidents WHERE uuid = '%s'",
                                          test_incident_get_uuid (inc));
  gint64 alerted = 0;
  for (int i = 0; i < 500 && alerted == 0; i++)
    {
      sqlite3 *db = test_panel_open_db (f->panel);
      sqlite3_stmt *stmt = NULL;
      sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);
      if (sqlite3_step (stmt) == SQLITE_ROW)
        alerted = sqlite3_column_int64 (stmt, 0);
      sqlite3_finalize (stmt);
      sqlite3_close (db);
      g_usleep (10000);
    }
  g_assert_cmpint (alerted, >, 0);
  /* at most one segment (~0.5 s at the cap) was in flight before it */
  g_assert_cmpint (alerted - queued, <, 2 * G_USEC_PER_SEC);
  g_assert_cmpint (test_desk_count (f->desk, "class = 3 AND confirmed_at_us IS NULL"), >, 0);
  test_incident_close (inc);
  g_assert_true (ansim_outbox_wake_uploader (sock, &error));
  wait_all_confirmed (f, 30);
  assert_panel_has_everything (f);
}

static gboolean
all_segments_deleted (gpointer data)
{
  Fixture *f = data;
  return test_desk_count (f->desk, "class = 3 AND deleted_at_us IS NULL") == 0;
}

/* Panel down: the queue grows, nothing is confirmed or deleted; panel up:
 * it drains, alerts before manifests before segments, FIFO within each. */
static void
test_panel_unreachable (Fixture *f, gconstpointer data)
{
  (void) data;
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  test_panel_stop (f->panel, SIGTERM);
  f->uploader = test_uploader_start (f->desk, f->panel->url, "keep_after_upload = 0");
  g_free (test_desk_record (f->desk, 3, 50000));
  g_usleep (1500000);
  gint64 waiting = test_desk_count (f->desk, "confirmed_at_us IS NULL");
  g_free (test_desk_record (f->desk, 3, 50000));
  g_usleep (1500000);
  g_assert_cmpint (test_desk_count (f->desk, "confirmed_at_us IS NULL"), >, waiting);
  g_assert_cmpint (test_desk_count (f->desk, "confirmed_at_us IS NOT NULL"), ==, 0);
  g_assert_cmpint (test_desk_count (f->desk, "attempts > 0"), >, 0);
  assert_desk_deleted_nothing_unconfirmed (f);

  test_panel_start (f->panel);
  wait_all_confirmed (f, 30);
  assert_panel_has_everything (f);
  /* order of confirmation: by class, then FIFO */
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    f->desk->db, "SELECT class, id, confirmed_at_us FROM outbox ORDER BY confirmed_at_us, id",
    &error);
  int last_class = -1;
  gint64 last_id = 0;
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      int klass = sqlite3_column_int (stmt, 0);
      gint64 id = sqlite3_column_int64 (stmt, 1);
      g_assert_cmpint (klass, >=, last_class);
      if (klass == last_class)
        g_assert_cmpint (id, >, last_id);
      last_class = klass;
      last_id = id;
    }
  /* keep_after_upload = 0: confirmed segment files go, and only those */
  g_assert_true (test_wait_until (all_segments_deleted, f, 10));
  assert_desk_deleted_nothing_unconfirmed (f);
}

static gboolean
some_segments_stored (gpointer data)
{
  Fixture *f = data;
  return test_panel_count (f->panel, "SELECT count(*) FROM segments WHERE store_key IS NOT NULL")
         >= 2;
}

/* Confirmation order among the items confirmed in [from, to): alerts,
 * then events, manifests, segments; FIFO within each. */
static void
assert_confirmed_in_order (Fixture *f, gint64 from, gint64 to)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    f->desk->db,
    "SELECT class, id FROM outbox WHERE confirmed_at_us >= ?1 AND confirmed_at_us < ?2 "
    "ORDER BY confirmed_at_us, id",
    &error);
  g_assert_no_error (error);
  sqlite3_bind_int64 (stmt, 1, from);
  sqlite3_bind_int64 (stmt, 2, to);
  int last_class = -1;
  gint64 last_id = 0;
  guint n = 0;
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      int klass = sqlite3_column_int (stmt, 0);
      gint64 id = sqlite3_column_int64 (stmt, 1);
      g_assert_cmpint (klass, >=, last_class);
      if (klass == last_class)
        g_assert_cmpint (id, >, last_id);
      last_class = klass;
      last_id = id;
      n++;
    }
  g_assert_cmpuint (n, >, 0);
}

/* The panel in its own network namespace, reached over a veth pair whose
 * link is taken down in the middle of the uploads: the queue grows,
 * nothing is confirmed or deleted while it is down; link up: everything
 * drains in order, each item exactly once. */
static void
test_link_down (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autofree char *why = NULL;
  f->net = test_netns_new (&why);
  if (f->net == NULL)
    {
      g_test_skip (why);
      return;
    }
  g_clear_pointer (&f->panel, test_panel_free);
  g_autofree char *panel_dir = g_build_filename (f->dir, "panel", NULL);
  f->panel =
    test_panel_new_in_netns (panel_dir, "max_body_size = 16", f->net->name, f->net->inner_ip);
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  g_test_message ("panel at %s in namespace %s, desk side %s on %s", f->panel->url, f->net->name,
                  f->net->host_ip, f->net->host_if);

  g_free (test_desk_record (f->desk, 6, 300000));
  /* slow enough that the cut falls in the middle of the uploads */
  f->uploader =
    test_uploader_start (f->desk, f->panel->url,
                         "keep_after_upload = 0\nmax_send_rate = 1024\n"
                         "request_timeout = 3\nsupervision_s = 0\nheartbeat_interval = 3600");
  g_assert_true (test_wait_until (some_segments_stored, f, 30));
  test_netns_set_link (f->net, FALSE);
  gint64 down_at = g_get_real_time ();
  /* a request in flight when the link went down ends (its timeout) */
  g_usleep (4 * G_USEC_PER_SEC);
  gint64 confirmed = test_desk_count (f->desk, "confirmed_at_us IS NOT NULL");
  gint64 waiting = test_desk_count (f->desk, "confirmed_at_us IS NULL");
  g_assert_cmpint (waiting, >, 0);
  g_free (test_desk_record (f->desk, 2, 100000)); /* more presses meanwhile */
  g_usleep (3 * G_USEC_PER_SEC);
  g_assert_cmpint (test_desk_count (f->desk, "confirmed_at_us IS NULL"), >, waiting);
  g_assert_cmpint (test_desk_count (f->desk, "confirmed_at_us IS NOT NULL"), ==, confirmed);
  assert_desk_deleted_nothing_unconfirmed (f);
  g_test_message ("link down: %" G_GINT64_FORMAT " confirmed before, %" G_GINT64_FORMAT " waiting",
                  confirmed, test_desk_count (f->desk, "confirmed_at_us IS NULL"));

  test_netns_set_link (f->net, TRUE);
  gint64 up_at = g_get_real_time ();
  wait_all_confirmed (f, 60);
  g_test_message ("drained %.1f s after the link came back", (g_get_real_time () - up_at) / 1e6);
  assert_panel_has_everything (f);
  /* in order before the cut, and in order in the drain */
  assert_confirmed_in_order (f, 0, down_at);
  assert_confirmed_in_order (f, up_at, G_MAXINT64);
  g_assert_true (test_wait_until (all_segments_deleted, f, 10));
  assert_desk_deleted_nothing_unconfirmed (f);
}

/* The panel killed -9 in the middle of segment uploads, then restarted:
 * every item arrives exactly once. */
static void
test_panel_killed (Fixture *f, gconstpointer data)
{
  (void) data;
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  g_free (test_desk_record (f->desk, 8, 2 * 1024 * 1024));
  f->uploader = test_uploader_start (f->desk, f->panel->url, "max_send_rate = 4096");
  g_assert_true (test_wait_until (some_segments_stored, f, 30));
  g_usleep (g_random_int_range (100000, 400000)); /* inside the next segment's transfer */
  test_panel_stop (f->panel, SIGKILL);
  g_usleep (1500000);
  assert_desk_deleted_nothing_unconfirmed (f);
  test_panel_start (f->panel);
  wait_all_confirmed (f, 60);
  /* the kill was felt: some send failed and was retried */
  g_assert_cmpint (test_desk_count (f->desk, "class = 3 AND attempts > 0"), >, 0);
  assert_panel_has_everything (f);
  assert_desk_deleted_nothing_unconfirmed (f);
}

/* The uploader killed -9 at random moments, again and again: no loss, no
 * duplicate. */
static void
test_uploader_killed (Fixture *f, gconstpointer data)
{
  (void) data;
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  for (int i = 0; i < 3; i++)
    g_free (test_desk_record (f->desk, 4, 300000));
  for (int run = 0; run < 8 && !all_confirmed (f); run++)
    {
      f->uploader = test_uploader_start (f->desk, f->panel->url, "max_send_rate = 3000");
      g_usleep (g_random_int_range (50000, 600000));
      test_process_stop (f->uploader, SIGKILL);
      g_clear_object (&f->uploader);
    }
  f->uploader = test_uploader_start (f->desk, f->panel->url, NULL);
  wait_all_confirmed (f, 60);
  assert_panel_has_everything (f);
  assert_desk_deleted_nothing_unconfirmed (f);
}

/* The store's directory gone (a network mount dropped): 503, items kept
 * and retried; back: everything arrives. */
static void
test_store_down (Fixture *f, gconstpointer data)
{
  (void) data;
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  g_autofree char *store = g_build_filename (f->panel->dir, "store", NULL);
  g_autofree char *away = g_build_filename (f->panel->dir, "store-away", NULL);
  g_assert_cmpint (g_rename (store, away), ==, 0);
  g_free (test_desk_record (f->desk, 2, 50000));
  f->uploader = test_uploader_start (f->desk, f->panel->url, "keep_after_upload = 0");
  g_usleep (2500000);
  /* alerts and events need no store; manifests and segments wait */
  g_assert_cmpint (test_desk_count (f->desk, "class >= 2 AND confirmed_at_us IS NOT NULL"), ==, 0);
  g_assert_cmpint (test_desk_count (f->desk, "last_error LIKE '%503 store-unavailable%'"), >, 0);
  assert_desk_deleted_nothing_unconfirmed (f);
  g_assert_cmpint (g_rename (away, store), ==, 0);
  wait_all_confirmed (f, 30);
  assert_panel_has_everything (f);
}

/* The store's disk full: 507, nothing lost on the desk; space freed:
 * everything arrives. */
static void
test_store_full (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autofree char *store = g_build_filename (f->panel->dir, "store", NULL);
  g_assert_cmpint (g_mkdir_with_parents (store, 0700), ==, 0);
  if (mount ("tmpfs", store, "tmpfs", 0, "size=600k") != 0)
    {
      g_test_skip ("cannot mount a small tmpfs (needs root)");
      return;
    }
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  g_free (test_desk_record (f->desk, 4, 250000));
  f->uploader = test_uploader_start (f->desk, f->panel->url, "keep_after_upload = 0");
  g_usleep (3000000);
  g_assert_cmpint (test_desk_count (f->desk, "last_error LIKE '%507 store-full%'"), >, 0);
  g_assert_cmpint (test_desk_count (f->desk, "confirmed_at_us IS NULL"), >, 0);
  assert_desk_deleted_nothing_unconfirmed (f);
  /* more room */
  g_assert_cmpint (mount ("tmpfs", store, "tmpfs", MS_REMOUNT, "size=8m"), ==, 0);
  wait_all_confirmed (f, 30);
  assert_panel_has_everything (f);
}

/* ---- a store that hangs -------------------------------------------------- */

/* An "S3 endpoint" on loopback that accepts connections and never answers
 * (a gateway stuck behind a dead disk), until stopped. */
typedef struct {
  GSocketListener *listener;
  guint port;
  GCancellable *cancel;
  GThread *thread;
  GPtrArray *connections; /* held open, never answered; under lock */
  GMutex lock;
} StuckS3;

static gpointer
stuck_s3_run (gpointer data)
{
  StuckS3 *st = data;
  for (;;)
    {
      GSocketConnection *c = g_socket_listener_accept (st->listener, NULL, st->cancel, NULL);
      if (c == NULL)
        return NULL;
      g_mutex_lock (&st->lock);
      g_ptr_array_add (st->connections, c);
      g_mutex_unlock (&st->lock);
    }
}

static StuckS3 *
stuck_s3_new (void)
{
  g_autoptr (GError) error = NULL;
  StuckS3 *st = g_new0 (StuckS3, 1);
  g_mutex_init (&st->lock);
  st->listener = g_socket_listener_new ();
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_assert_true (g_socket_listener_add_address (st->listener, addr, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error));
  g_assert_no_error (error);
  st->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  st->cancel = g_cancellable_new ();
  st->connections = g_ptr_array_new_with_free_func (g_object_unref);
  st->thread = g_thread_new ("stuck-s3", stuck_s3_run, st);
  return st;
}

static guint
stuck_s3_count (StuckS3 *st)
{
  g_mutex_lock (&st->lock);
  guint n = st->connections->len;
  g_mutex_unlock (&st->lock);
  return n;
}

/* Closes everything: the panel's store calls fail at once from now on. */
static void
stuck_s3_free (StuckS3 *st)
{
  g_cancellable_cancel (st->cancel);
  g_thread_join (st->thread);
  g_socket_listener_close (st->listener);
  g_object_unref (st->listener);
  g_object_unref (st->cancel);
  g_ptr_array_unref (st->connections); /* closes them */
  g_mutex_clear (&st->lock);
  g_free (st);
}

static gboolean
store_write_hanging (gpointer data)
{
  return stuck_s3_count (data) > 0;
}

static gboolean
store_failed (gpointer data)
{
  Fixture *f = data;
  return test_desk_count (f->desk, "class = 2 AND last_error LIKE '%503 store-unavailable%'") > 0;
}

static gint64
alerted_at (TestPanel *panel, const char *uuid)
{
  g_autofree char *sql = g_strdup_printf ("SELECT coalesce (max (alerted_at_us), 0) FROM "
                                          "incidents WHERE uuid = '%s'",
                                          uuid);
  return test_panel_count (panel, sql);
}

/* The S3 store hangs for 10 s in the middle of a desk's manifest upload:
 * another desk's alert is still recorded at once (store writes run off
 * the panel's main loop); when the store fails the upload is answered
 * 503 and retried, nothing is lost. */
static void
test_slow_store (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;
  StuckS3 *s3 = stuck_s3_new ();
  g_autofree char *creds = g_build_filename (f->panel->dir, "s3-credentials", NULL);
  g_assert_true (g_file_set_contents_full (creds,
                                           "[default]\naws_access_key_id = ansim\n"
                                           "aws_secret_access_key = ansim-secret\n",
                                           -1, G_FILE_SET_CONTENTS_NONE, 0600, &error));
  g_assert_no_error (error);
  g_autofree char *extra = g_strdup_printf ("store = s3\ns3_endpoint = http://127.0.0.1:%u\n"
                                            "s3_bucket = evidence\ns3_credentials_file = %s\n"
                                            "s3_max_attempts = 1\ns3_timeout = 10\n"
                                            "s3_retention_days = 0\n",
                                            s3->port, creds);
  g_autofree char *conf =
    g_strdup_printf ("[panel]\ndata_dir = %s\nport = %u\n%s", f->panel->dir, f->panel->port, extra);
  g_assert_true (g_file_set_contents (f->panel->conf, conf, -1, NULL));
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  g_autofree char *other_dir = g_build_filename (f->dir, "desk-2", NULL);
  g_autoptr (TestDesk) other = test_desk_new (other_dir);
  test_panel_enroll (f->panel, other, "dev-2");
  /* desk 2's uploader idles (hourly polls) until a press wakes it */
  g_autoptr (GSubprocess) up2 =
    test_uploader_start (other, f->panel->url,
                         "poll_interval = 3600\n"
                         "supervision_s = 0\nheartbeat_interval = 3600");
  g_autofree char *wake2 = g_build_filename (other->dir, "uploader.sock", NULL);

  /* desk 1: its alert goes through, then its manifest hangs in the store */
  g_autofree char *first = test_desk_record (f->desk, 1, 50000);
  f->uploader =
    test_uploader_start (f->desk, f->panel->url, "supervision_s = 0\nheartbeat_interval = 3600");
  g_assert_true (test_wait_until (store_write_hanging, s3, 10));
  gint64 hanging_since = g_get_monotonic_time ();
  g_assert_cmpint (alerted_at (f->panel, first), >, 0);

  /* desk 2 presses meanwhile */
  TestIncident *inc = test_incident_open (other);
  g_autofree char *uuid = g_strdup (test_incident_get_uuid (inc));
  gint64 queued = g_get_real_time ();
  g_assert_true (ansim_outbox_wake_uploader (wake2, &error));
  gint64 alerted = 0;
  while ((alerted = alerted_at (f->panel, uuid)) == 0
         && g_get_real_time () - queued < 15 * G_USEC_PER_SEC)
    g_usleep (10000);
  gint64 still_hanging = g_get_monotonic_time () - hanging_since;
  g_test_message ("alert recorded %.0f ms after it was queued, while a store write hung "
                  "for %.1f s",
                  (alerted - queued) / 1000.0, still_hanging / 1e6);
  g_assert_cmpint (alerted, >, 0);
  /* A stalled main loop would have waited for the store's 10 s timeout. */
  g_assert_cmpint (alerted - queued, <, 2 * G_USEC_PER_SEC);
  g_assert_cmpint (still_hanging, <, 9 * G_USEC_PER_SEC);
  g_assert_cmpint (test_desk_count (f->desk, "class = 2 AND confirmed_at_us IS NOT NULL"), ==, 0);

  /* the store fails (its 10 s timeout): 503, kept on the desk, retried */
  g_assert_true (test_wait_until (store_failed, f, 20));
  test_incident_close (inc);
  test_process_stop (up2, SIGTERM);
  test_process_stop (f->uploader, SIGTERM);
  g_clear_object (&f->uploader);
  g_assert_cmpint (test_desk_count (f->desk, "deleted_at_us IS NOT NULL"), ==, 0);
  assert_desk_deleted_nothing_unconfirmed (f);
  stuck_s3_free (s3);
}

static gboolean
certificate_refused (gpointer data)
{
  Fixture *f = data;
  return test_desk_count (f->desk, "last_error LIKE '%certificate%'") > 0;
}

/* HTTPS: the uploader verifies the panel's certificate against ca_file;
 * without it (the system's store does not know the test CA) nothing is
 * sent and the reason is recorded. */
static void
test_https (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autofree char *panel_dir = g_build_filename (f->dir, "panel-tls", NULL);
  test_panel_free (f->panel);
  f->panel = test_panel_new_https (panel_dir, NULL);
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  g_free (test_desk_record (f->desk, 2, 50000));
  g_autofree char *ca = g_strdup_printf ("ca_file = %s", f->panel->ca_file);
  f->uploader = test_uploader_start (f->desk, f->panel->url, ca);
  wait_all_confirmed (f, 30);
  assert_panel_has_everything (f);
  test_process_stop (f->uploader, SIGTERM);
  g_clear_object (&f->uploader);

  f->uploader = test_uploader_start (f->desk, f->panel->url, NULL);
  g_free (test_desk_record (f->desk, 1, 50000));
  /* the first refusal is its heartbeat's; then the items' (a busy
   * machine may need a few seconds for both) */
  g_assert_true (test_wait_until (certificate_refused, f, 20));
  g_assert_cmpint (test_desk_count (f->desk, "confirmed_at_us IS NULL"), >, 0);
  g_assert_cmpint (test_panel_count (f->panel, "SELECT count(*) FROM incidents"), ==, 1);
}

static gboolean
desk_acknowledged (gpointer data)
{
  Fixture *f = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    f->desk->db, "SELECT count(*) FROM events WHERE kind = 'acknowledged'", &error);
  return sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_int (stmt, 0) > 0;
}

/* Security staff acknowledge on the panel: the next heartbeat brings it
 * back and the desk's event log gets "acknowledged" (the recorder's "help
 * is coming" light), once. */
static void
test_acknowledged (Fixture *f, gconstpointer data)
{
  (void) data;
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  g_autofree char *uuid = test_desk_record (f->desk, 1, 10000);
  f->uploader = test_uploader_start (f->desk, f->panel->url, "heartbeat_interval = 5");
  wait_all_confirmed (f, 30);
  g_assert_false (desk_acknowledged (f));
  g_autofree char *path = g_build_filename (f->panel->dir, "panel.db", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) pdb = ansim_db_open (&ansim_panel_db_schema, path, &error);
  g_assert_no_error (error);
  g_autofree char *sql = g_strdup_printf (
    "UPDATE incidents SET status = 'acknowledged', "
    "acknowledged_by = 'guard-kim', acknowledged_at_us = %" G_GINT64_FORMAT " WHERE uuid = '%s'",
    g_get_real_time (), uuid);
  g_assert_true (ansim_db_exec (pdb, sql, &error));
  g_assert_true (test_wait_until (desk_acknowledged, f, 12));
  g_usleep (5500000); /* one more heartbeat: still one event */
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    f->desk->db,
    "SELECT count(*), max (i.uuid) FROM events e JOIN incidents i ON i.id = e.incident_id "
    "WHERE e.kind = 'acknowledged'",
    &error);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_assert_cmpint (sqlite3_column_int (stmt, 0), ==, 1);
  g_assert_cmpstr ((const char *) sqlite3_column_text (stmt, 1), ==, uuid);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, setup, fn, teardown)
  ADD ("/upload/end-to-end", test_end_to_end);
  ADD ("/upload/checkpoints-constant", test_checkpoints_constant);
  ADD ("/upload/checkpoint-damaged", test_checkpoint_damaged);
  ADD ("/upload/wake-and-alert-first", test_wake_and_alert_first);
  ADD ("/upload/panel-unreachable", test_panel_unreachable);
  ADD ("/upload/panel-killed", test_panel_killed);
  ADD ("/upload/uploader-killed", test_uploader_killed);
  ADD ("/upload/store-down", test_store_down);
  ADD ("/upload/store-full", test_store_full);
  ADD ("/upload/slow-store", test_slow_store);
  ADD ("/upload/link-down", test_link_down);
  ADD ("/upload/https", test_https);
  ADD ("/upload/acknowledged", test_acknowledged);
  return g_test_run ();
}
