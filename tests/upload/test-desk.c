/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The whole desk end to end with real processes: ansim-panel (filesystem
 * store), an enrolled desk running ansim-recorder with a test camera and
 * ansim-uploader. A press reaches the panel as an alert, every segment and
 * the final manifest arrive and verify with `ansimctl verify` and the
 * site identity, byte for byte what the desk sealed (per segment only a
 * signed checkpoint, the manifest once, checked against the checkpoints
 * the panel kept); the desk deletes its
 * copies only after confirmation and the keep period. Then the panel's
 * acknowledgement lights the desk's "help is coming" output, and a network
 * camera that goes away shows as lost on the panel's devices API. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "db.h"
#include "control-client.h"
#include "test-console.h"
#include "desk-rig.h"
#include "test-recorder-host.h"

#define KEEP_S 12

typedef struct {
  TestDeskRig rig;
  GSubprocess *camera; /* tests/recorder/rtsp-server, or NULL */
  guint camera_port;
} Fixture;

/* video: the [source desk-camera] lines saying what it films. */
static void
write_recorder_conf (Fixture *f, const char *video)
{
  g_autofree char *source = g_strdup_printf ("%s\nwidth = 320\nheight = 240\nframerate = 15\n"
                                             "bitrate_kbps = 300\nkeyframe_ms = 1000",
                                             video);
  test_desk_rig_write_recorder_conf (
    &f->rig, "pre_event_seconds = 2\npost_event_seconds = 3\nnotice_sound = none", NULL, source);
}

static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  test_desk_rig_init (&f->rig, "ansim-desk-XXXXXX");
  write_recorder_conf (f, "video = test");
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  test_process_kill (&f->camera);
  test_desk_rig_clear (&f->rig);
}

/* Through `ansimctl press`, as the README shows it. */
static void
press (Fixture *f)
{
  const char *args[] = { "press", "--socket", f->rig.control, NULL };
  g_autofree char *out = test_ansimctl_ok (NULL, args);
  (void) out;
}

static gboolean
output_on (Fixture *f, const char *name)
{
  return test_desk_rig_output_on (&f->rig, name);
}

static void
start_recorder (Fixture *f)
{
  test_desk_rig_start_recorder (&f->rig, NULL, 2500); /* the pre-event ring fills */
}

static gint64
panel_value (Fixture *f, const char *sql)
{
  return test_panel_count (f->rig.panel, sql);
}

static gboolean
alerted (gpointer data)
{
  Fixture *f = data;
  return panel_value (f, "SELECT count(*) FROM incidents") > 0;
}

static gboolean
desk_done (gpointer data)
{
  Fixture *f = data;
  return test_desk_count (f->rig.desk, "confirmed_at_us IS NULL") == 0
         && test_desk_count (f->rig.desk, "class = 2 AND incident_id IN (SELECT id FROM incidents "
                                          "WHERE closed_wall_us IS NOT NULL)")
              > 0;
}

static gboolean
all_deleted (gpointer data)
{
  Fixture *f = data;
  return test_desk_count (f->rig.desk, "class = 3 AND deleted_at_us IS NULL") == 0;
}

static void
assert_same_file (const char *a, const char *b)
{
  g_autoptr (GBytes) da = test_read_bytes (a);
  g_autoptr (GBytes) db = test_read_bytes (b);
  g_assert_cmpuint (g_bytes_get_size (da), ==, g_bytes_get_size (db));
  g_assert_true (g_bytes_equal (da, db));
}

static void
copy_file (const char *from, const char *to)
{
  g_autoptr (GBytes) bytes = test_read_bytes (from);
  test_write_file (to, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

/* The panel's stored incident, byte for byte the desk's spool, put
 * together as an incident folder (final manifest as manifest.json) and
 * checked with ansimctl verify and the site identity. Returns the number
 * of segments. */
static guint
check_stored_incident (Fixture *f, const char *uuid)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *store = g_build_filename (f->rig.panel->dir, "store", NULL);
  g_autofree char *folder = g_build_filename (f->rig.dir, "verify", uuid, NULL);
  g_autofree char *desk_inc = g_build_filename (f->rig.desk->spool, uuid, NULL);
  g_assert_cmpint (g_mkdir_with_parents (folder, 0700), ==, 0);
  sqlite3 *pdb = test_panel_open_db (f->rig.panel);

  g_autoptr (sqlite3_stmt) m = ansim_db_prepare (pdb,
                                                 "SELECT manifest_store_key, close_reason "
                                                 "FROM incidents WHERE uuid = ?1",
                                                 &error);
  g_assert_no_error (error);
  sqlite3_bind_text (m, 1, uuid, -1, SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (m), ==, SQLITE_ROW);
  g_assert_cmpstr ((const char *) sqlite3_column_text (m, 1), ==, "post-event");
  g_autofree char *manifest = g_build_filename (store, sqlite3_column_text (m, 0), NULL);
  g_autofree char *manifest_sig = g_strconcat (manifest, ".sig", NULL);
  g_autofree char *desk_manifest = g_build_filename (desk_inc, ANSIM_MANIFEST_NAME, NULL);
  g_autofree char *desk_sig = g_build_filename (desk_inc, ANSIM_MANIFEST_SIG_NAME, NULL);
  assert_same_file (manifest, desk_manifest);
  assert_same_file (manifest_sig, desk_sig);
  g_autofree char *to = g_build_filename (folder, ANSIM_MANIFEST_NAME, NULL);
  copy_file (manifest, to);
  g_free (g_steal_pointer (&to));
  to = g_build_filename (folder, ANSIM_MANIFEST_SIG_NAME, NULL);
  copy_file (manifest_sig, to);

  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (
    pdb,
    "SELECT s.store_key, s.idx FROM segments s "
    "JOIN incidents i ON i.id = s.incident_id WHERE i.uuid = ?1 AND s.kind = 'media' "
    "ORDER BY s.idx",
    &error);
  g_assert_no_error (error);
  sqlite3_bind_text (s, 1, uuid, -1, SQLITE_STATIC);
  guint n = 0;
  while (sqlite3_step (s) == SQLITE_ROW)
    {
      g_assert_cmpint (sqlite3_column_type (s, 0), ==, SQLITE_TEXT);
      g_autofree char *object = g_build_filename (store, sqlite3_column_text (s, 0), NULL);
      g_autofree char *name = g_path_get_basename (object);
      g_autofree char *desk_file = g_build_filename (desk_inc, name, NULL);
      assert_same_file (object, desk_file);
      g_autofree char *dest = g_build_filename (folder, name, NULL);
      copy_file (object, dest);
      n++;
    }
  /* Version 3: per segment the panel got only a signed checkpoint (every
   * one the desk wrote, byte for byte, kept as rows), and the whole manifest
   * once: one manifest object in the store. The checkpoints the panel kept
   * go into the folder, so verify checks the final manifest against them. */
  g_autoptr (sqlite3_stmt) c = ansim_db_prepare (
    pdb,
    "SELECT c.sequence, c.text, c.signature FROM incident_checkpoints c "
    "JOIN incidents i ON i.id = c.incident_id WHERE i.uuid = ?1 ORDER BY c.sequence",
    &error);
  g_assert_no_error (error);
  sqlite3_bind_text (c, 1, uuid, -1, SQLITE_STATIC);
  g_autofree char *cdir = g_build_filename (folder, "checkpoints", NULL);
  g_assert_cmpint (g_mkdir_with_parents (cdir, 0700), ==, 0);
  guint n_checkpoints = 0;
  while (sqlite3_step (c) == SQLITE_ROW)
    {
      g_assert_cmpint (sqlite3_column_int64 (c, 0), ==, n_checkpoints);
      g_autofree char *name = g_strdup_printf ("checkpoint-%06u", n_checkpoints);
      g_autofree char *desk_file = g_build_filename (desk_inc, "checkpoints", name, NULL);
      g_autofree char *dest = g_build_filename (cdir, name, NULL);
      g_autofree char *dest_sig = g_strconcat (dest, ".sig", NULL);
      g_autofree char *desk_csig = g_strconcat (desk_file, ".sig", NULL);
      test_write_file (dest, sqlite3_column_blob (c, 1), sqlite3_column_bytes (c, 1));
      test_write_file (dest_sig, sqlite3_column_blob (c, 2), sqlite3_column_bytes (c, 2));
      assert_same_file (dest, desk_file);
      assert_same_file (dest_sig, desk_csig);
      n_checkpoints++;
    }
  g_autofree char *desk_cdir = g_build_filename (desk_inc, "checkpoints", NULL);
  g_autoptr (GDir) dd = g_dir_open (desk_cdir, 0, NULL);
  g_assert_nonnull (dd);
  guint desk_files = 0;
  while (g_dir_read_name (dd) != NULL)
    desk_files++;
  g_assert_cmpuint (n_checkpoints, >, 2);
  g_assert_cmpuint (desk_files, ==, 2 * n_checkpoints);
  g_autofree char *store_inc = g_path_get_dirname (manifest);
  g_autoptr (GDir) sd = g_dir_open (store_inc, 0, NULL);
  g_assert_nonnull (sd);
  guint manifests = 0;
  const char *sname;
  while ((sname = g_dir_read_name (sd)) != NULL)
    manifests += g_str_has_prefix (sname, "manifest-") && g_str_has_suffix (sname, ".json");
  g_assert_cmpuint (manifests, ==, 1);
  g_clear_pointer (&c, sqlite3_finalize);
  g_clear_pointer (&m, sqlite3_finalize);
  g_clear_pointer (&s, sqlite3_finalize);
  sqlite3_close (pdb);
  g_autofree char *q = g_strdup_printf ("class = 3 AND incident_id = (SELECT id FROM incidents "
                                        "WHERE uuid = '%s')",
                                        uuid);
  g_assert_cmpint (n, ==, test_desk_count (f->rig.desk, q));

  g_autofree char *identity =
    g_build_filename (g_getenv ("ANSIM_SOURCE_ROOT"), "config", "demo-identity.txt", NULL);
  g_autofree char *pub = g_build_filename (f->rig.desk->dir, "device.pub.pem", NULL);
  /* age identities must not be readable by others */
  g_autofree char *id_copy = g_build_filename (f->rig.dir, "identity.txt", NULL);
  copy_file (identity, id_copy);
  g_assert_cmpint (g_chmod (id_copy, 0600), ==, 0);
  const char *args[] = { "verify", "--key", pub, "--identity", id_copy, folder, NULL };
  g_autofree char *out = test_ansimctl_ok (NULL, args);
  g_test_message ("ansimctl verify: %s", out);
  return n;
}

static void
test_desk_end_to_end (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;
  test_panel_start (f->rig.panel);
  test_panel_enroll (f->rig.panel, f->rig.desk, "dev-1");
  start_recorder (f);
  /* Hourly polls: the alert leaves at once only because the recorder
   * wakes the uploader. */
  f->rig.uploader =
    test_uploader_start (f->rig.desk, f->rig.panel->url,
                         "poll_interval = 3600\nsupervision_s = 0\nheartbeat_interval = 3600");
  g_usleep (500000);

  /* 1. press -> alert at the panel */
  press (f);
  g_assert_true (test_wait_until (alerted, f, 10));
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (f->rig.desk->db,
                                                  "SELECT uuid, opened_wall_us "
                                                  "FROM incidents ORDER BY id",
                                                  &error);
  g_assert_no_error (error);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  g_autofree char *uuid = g_strdup ((const char *) sqlite3_column_text (st, 0));
  gint64 opened = sqlite3_column_int64 (st, 1);
  g_clear_pointer (&st, sqlite3_finalize);
  g_autofree char *q =
    g_strdup_printf ("SELECT alerted_at_us FROM incidents WHERE uuid = '%s'", uuid);
  gint64 latency = panel_value (f, q) - opened;
  g_test_message ("press (debounced edge) -> alert recorded by the panel: %.1f ms",
                  latency / 1000.0);
  g_assert_cmpint (latency, >, 0);
  g_assert_cmpint (latency, <, 1 * G_USEC_PER_SEC);

  /* Only alerts wake it (a wake cuts a panel backoff short); segments go at
   * its polls: restarted with the usual short poll and the keep period. */
  test_process_stop (f->rig.uploader, SIGTERM);
  g_clear_object (&f->rig.uploader);
  f->rig.uploader = test_uploader_start (f->rig.desk, f->rig.panel->url,
                                         "supervision_s = 0\nheartbeat_interval = 3600\n"
                                         "keep_after_upload = " G_STRINGIFY (KEEP_S));

  /* 2. everything arrives; the stored incident verifies and matches */
  if (!test_wait_until (desk_done, f, 60))
    g_error ("%" G_GINT64_FORMAT " outbox item(s) unconfirmed",
             test_desk_count (f->rig.desk, "confirmed_at_us IS NULL"));
  guint n = check_stored_incident (f, uuid);
  g_test_message ("%u segment(s) stored and verified", n);
  g_assert_cmpuint (n, >=, 4); /* 2 s before, 3 s after the press, 1 s segments */
  g_assert_cmpint (panel_value (f, "SELECT count(*) FROM events WHERE kind IN "
                                   "('incident-opened', 'incident-closed')"),
                   ==, 2);
  g_assert_false (output_on (f, "acknowledged"));

  /* 3. deleted on the desk only after confirmation and the keep period */
  g_assert_cmpint (test_desk_count (f->rig.desk, "class = 3 AND deleted_at_us IS NOT NULL"), ==, 0);
  g_assert_true (test_wait_until (all_deleted, f, KEEP_S + 15));
  g_assert_cmpint (test_desk_count (f->rig.desk, "class = 3 AND (confirmed_at_us IS NULL OR "
                                                 "deleted_at_us < confirmed_at_us + " G_STRINGIFY (
                                                   KEEP_S) " * 1000000)"),
                   ==, 0);
  g_autofree char *seg0 = g_build_filename (f->rig.desk->spool, uuid, "seg-000000.mkv.age", NULL);
  g_assert_false (g_file_test (seg0, G_FILE_TEST_EXISTS));
}

static gboolean
incident_closed (gpointer data)
{
  Fixture *f = data;
  return test_desk_count (f->rig.desk, "class = 1 AND event_id IN (SELECT id FROM events WHERE "
                                       "kind = 'incident-closed')")
         > 0;
}

static gboolean
recording_on (gpointer data)
{
  return output_on (data, "recording");
}

static gboolean
recording_off (gpointer data)
{
  return !output_on (data, "recording");
}

/* Security staff acknowledge in the panel; the next upload answer brings
 * it back and the desk's light goes on, then off when the incident ends.
 * The fallback path: the channel is off here (test-desk-channel.c has it). */
static void
test_desk_acknowledged (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;
  test_panel_start (f->rig.panel);
  test_panel_enroll (f->rig.panel, f->rig.desk, "dev-1");
  start_recorder (f);
  f->rig.uploader =
    test_uploader_start (f->rig.desk, f->rig.panel->url,
                         "supervision_s = 0\nheartbeat_interval = 3600\nchannel = false");
  /* The recording light (notice of filming, 개인정보 보호법 제25조의2) is
   * off while only the pre-event buffer runs, on from the press. */
  g_assert_false (output_on (f, "recording"));
  press (f);
  g_assert_true (test_wait_until (recording_on, f, 2));
  g_assert_true (test_wait_until (alerted, f, 10));
  g_assert_false (output_on (f, "acknowledged"));

  /* What the console's acknowledge does on main today (there is no API
   * for it yet): the panel's incident row goes to 'acknowledged'. */
  g_autofree char *path = g_build_filename (f->rig.panel->dir, "panel.db", NULL);
  g_autoptr (sqlite3) pdb = ansim_db_open (&ansim_panel_db_schema, path, &error);
  g_assert_no_error (error);
  g_autofree char *sql =
    g_strdup_printf ("UPDATE incidents SET status = 'acknowledged', "
                     "acknowledged_by = 'guard-kim', acknowledged_at_us = %" G_GINT64_FORMAT,
                     g_get_real_time ());
  g_assert_true (ansim_db_exec (pdb, sql, &error));
  g_assert_no_error (error);

  /* Segments go every second while recording: their answers carry it. */
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  gint64 light_at = 0;
  while (g_get_monotonic_time () < end)
    {
      if (output_on (f, "acknowledged"))
        {
          light_at = g_get_monotonic_time ();
          break;
        }
      g_usleep (10000);
    }
  g_assert_cmpint (light_at, >, 0);
  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (f->rig.desk->db,
                                                 "SELECT at_mono_us FROM events "
                                                 "WHERE kind = 'acknowledged'",
                                                 &error);
  g_assert_no_error (error);
  g_assert_cmpint (sqlite3_step (s), ==, SQLITE_ROW);
  gint64 delay = light_at - sqlite3_column_int64 (s, 0);
  g_clear_pointer (&s, sqlite3_finalize); /* no read snapshot held while waiting */
  g_test_message ("upload answer (acknowledged) -> help-is-coming light on: %.1f ms",
                  delay / 1000.0);
  g_assert_cmpint (delay, >=, 0);
  g_assert_cmpint (delay, <, G_USEC_PER_SEC);
  g_assert_true (output_on (f, "recording"));

  /* off when the incident ends (post-event 3 s after the press) */
  end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (output_on (f, "acknowledged") && g_get_monotonic_time () < end)
    g_usleep (20000);
  g_assert_false (output_on (f, "acknowledged"));
  g_assert_true (test_wait_until (incident_closed, f, 10));
  g_assert_false (output_on (f, "acknowledged"));
  /* ... and off once nothing records any more. */
  g_assert_true (test_wait_until (recording_off, f, 10));
}

/* ---- the sources' state on the panel ------------------------------------ */

static void
start_camera (Fixture *f)
{
  f->camera = test_rtsp_camera_start (f->camera_port);
}

typedef struct {
  Fixture *f;
  TestConsole *console;
  TestLogin login;
  JsonNode *last;         /* the last /api/devices answer */
  const char *want_state; /* what wait_source waits for */
  const char *want_mode;
} Console;

/* A security user made with ansimctl, logged in over HTTP. */
static void
console_login (Console *c)
{
  test_add_user (c->f->rig.panel->conf, "guard", "security", "guard-password-1");
  c->console = test_console_new (c->f->rig.panel->url, NULL, 5);
  test_console_login (c->console, "guard", "guard-password-1", &c->login);
}

/* dev-1's desk-camera as GET /api/devices shows it now, or NULL. */
static JsonObject *
api_source (Console *c)
{
  g_clear_pointer (&c->last, json_node_unref);
  c->last = test_console_get_ok (c->console, "/api/devices", &c->login);
  JsonArray *devices = json_object_get_array_member (json_node_get_object (c->last), "devices");
  for (guint i = 0; i < json_array_get_length (devices); i++)
    {
      JsonObject *d = json_array_get_object_element (devices, i);
      if (!g_str_equal (json_object_get_string_member (d, "id"), "dev-1"))
        continue;
      JsonNode *sources = json_object_get_member (d, "sources");
      if (sources == NULL || !JSON_NODE_HOLDS_ARRAY (sources))
        return NULL;
      JsonArray *a = json_node_get_array (sources);
      g_assert_cmpuint (json_array_get_length (a), ==, 1);
      JsonObject *s = json_array_get_object_element (a, 0);
      g_assert_cmpstr (json_object_get_string_member (s, "name"), ==, "desk-camera");
      g_assert_cmpstr (json_object_get_string_member (s, "kind"), ==, "fixed");
      return s;
    }
  return NULL;
}

static gboolean
source_is (gpointer data)
{
  Console *c = data;
  JsonObject *s = api_source (c);
  return s != NULL && g_str_equal (json_object_get_string_member (s, "state"), c->want_state)
         && (c->want_mode == NULL
             || g_str_equal (json_object_get_string_member (s, "mode"), c->want_mode));
}

static JsonObject *
wait_source (Console *c, const char *state, const char *mode, double timeout_s)
{
  c->want_state = state;
  c->want_mode = mode;
  gint64 t0 = g_get_monotonic_time ();
  if (!test_wait_until (source_is, c, timeout_s))
    {
      g_autofree char *last = json_to_string (c->last, FALSE);
      g_error ("the panel did not show desk-camera %s%s%s within %.0f s; last answer: %s", state,
               mode != NULL ? " and " : "", mode != NULL ? mode : "", timeout_s, last);
    }
  g_test_message ("panel API shows desk-camera %s%s%s after %.1f s", state,
                  mode != NULL ? ", " : "", mode != NULL ? mode : "",
                  (g_get_monotonic_time () - t0) / 1e6);
  return api_source (c);
}

/* A network camera (gst-rtsp-server on loopback) killed and started again:
 * the recorder's status, the uploader's heartbeat and the panel's devices
 * API say live, then lost with the error and one outage, then live again,
 * and recording during a press. */
static void
test_desk_source_state (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autofree char *rtsp_server = test_build_path ("tests/recorder/rtsp-server");
  if (!g_file_test (rtsp_server, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("no tests/recorder/rtsp-server (libgstrtspserver-1.0-dev missing)");
      return;
    }
  f->camera_port = test_free_port ();
  g_autofree char *video =
    g_strdup_printf ("video = rtsp\nurl = rtsp://127.0.0.1:%u/cam", f->camera_port);
  write_recorder_conf (f, video);
  start_camera (f);
  test_panel_start (f->rig.panel);
  test_panel_enroll (f->rig.panel, f->rig.desk, "dev-1");
  Console c = { .f = f };
  console_login (&c);
  start_recorder (f);
  f->rig.uploader = test_uploader_start (f->rig.desk, f->rig.panel->url, "heartbeat_interval = 5");

  JsonObject *s = wait_source (&c, "live", "buffering", 20);
  g_assert_cmpint (json_object_get_int_member (s, "gaps"), ==, 0);
  g_assert_true (json_object_get_null_member (s, "last_error"));
  gint64 live_since = json_object_get_int_member (s, "since_us");

  gint64 killed_at = g_get_real_time ();
  test_process_stop (f->camera, SIGKILL);
  g_clear_object (&f->camera);
  /* 3 s without frames at most (the recorder's watchdog) plus a heartbeat
   * (every 5 s) */
  s = wait_source (&c, "lost", NULL, 20);
  g_assert_cmpint (json_object_get_int_member (s, "gaps"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (s, "since_us"), >=, killed_at);
  g_assert_false (json_object_get_null_member (s, "last_error"));
  g_test_message ("lost: %s", json_object_get_string_member (s, "last_error"));
  /* the same on the desk, for whoever stands next to it */
  const char *args[] = { "status", "--config", f->rig.recorder_conf, NULL };
  g_autofree char *out = test_ansimctl_ok (NULL, args);
  g_assert_nonnull (strstr (out, "source  desk-camera"));
  g_assert_nonnull (strstr (out, "fixed    lost"));
  g_assert_nonnull (strstr (out, "1 outage(s); last error: "));

  start_camera (f);
  /* retried with backoff (1, 2, 4, 8 s ...) */
  s = wait_source (&c, "live", NULL, 40);
  g_assert_cmpint (json_object_get_int_member (s, "gaps"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (s, "since_us"), >, live_since);

  press (f);
  wait_source (&c, "live", "recording", 10);
  g_clear_pointer (&c.last, json_node_unref);
  g_clear_pointer (&c.console, test_console_free);
  test_login_clear (&c.login);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, setup, fn, teardown)
  ADD ("/desk/end-to-end", test_desk_end_to_end);
  ADD ("/desk/acknowledged", test_desk_acknowledged);
  ADD ("/desk/source-state", test_desk_source_state);
  return g_test_run ();
}
