/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A desk whose clock is wrong, with the real daemons: ansim-recorder and
 * ansim-uploader run under libfaketime (the faketime package) while the
 * panel keeps the true time. A press must still reach the panel at once
 * (after at most one refused round trip, taken before the press by the
 * first heartbeat), the offset must be in the desk database, `ansimctl
 * status` and both ends of the manifest; a wall-clock step in the middle
 * of an incident must give a clock-step event with its size and leave a
 * manifest that verifies. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "db.h"
#include "desk-clock.h"
#include "desk-rig.h"
#include "test-console.h"

typedef struct {
  TestDeskRig rig;
  char *faketime_file; /* the step test's clock setting */
} Fixture;

static const char *
libfaketime (void)
{
  static const char *const candidates[] = {
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
  };
  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    if (g_file_test (candidates[i], G_FILE_TEST_EXISTS))
      return candidates[i];
  g_error ("libfaketime is not installed: install the faketime package (scripts/packages)");
  return NULL;
}

static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  test_desk_rig_init (&f->rig, "ansim-desk-clock-XXXXXX");
  f->faketime_file = g_build_filename (f->rig.dir, "faketime", NULL);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  test_desk_rig_clear (&f->rig);
  g_free (f->faketime_file);
}

/* The monotonic clock stays true, as on a real board whose wall clock
 * is wrong or set by NTP. */
#define FAKETIME_ENV(setting_name, setting)                                                        \
  {                                                                                                \
    "LD_PRELOAD", libfaketime (), "FAKETIME_DONT_FAKE_MONOTONIC", "1", setting_name, setting,      \
      "FAKETIME_CACHE_DURATION", "1", NULL                                                         \
  }

static gint64
desk_value (Fixture *f, const char *sql)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (f->rig.desk->db, sql, &error);
  g_assert_no_error (error);
  int rc = sqlite3_step (st);
  g_assert_true (rc == SQLITE_ROW || rc == SQLITE_DONE);
  return rc == SQLITE_ROW ? sqlite3_column_int64 (st, 0) : -1;
}

static gboolean
clock_learnt (gpointer data)
{
  return desk_value (data, "SELECT count(*) FROM desk_clock") > 0;
}

static gboolean
alerted (gpointer data)
{
  Fixture *f = data;
  return test_panel_count (f->rig.panel, "SELECT count(*) FROM incidents") > 0;
}

static gboolean
final_manifest_stored (gpointer data)
{
  Fixture *f = data;
  return test_panel_count (f->rig.panel, "SELECT count(*) FROM incidents WHERE close_reason IS NOT "
                                         "NULL AND manifest_store_key IS NOT NULL")
         > 0;
}

/* The desk's latest offset, in µs, as the uploader stored it. */
static AnsimDeskClock
stored_clock (Fixture *f)
{
  AnsimDeskClock clock;
  g_autoptr (GError) error = NULL;
  g_assert_true (ansim_desk_clock_load (f->rig.desk->db, &clock, &error));
  g_assert_no_error (error);
  return clock;
}

static void
assert_offset_near (const AnsimDeskClock *clock, gint64 want_us, const char *what)
{
  g_assert_nonnull (clock);
  if (!clock->measured)
    g_error ("%s: never measured", what);
  g_test_message ("%s: offset %.3f s ± %.3f s", what, clock->offset_us / 1e6,
                  clock->bound_us / 1e6);
  g_assert_cmpint (ABS (clock->offset_us - want_us), <, 2 * G_USEC_PER_SEC);
  g_assert_cmpint (clock->bound_us, <, G_USEC_PER_SEC);
}

/* The final manifest as the panel stored it. */
static AnsimManifest *
stored_manifest (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  sqlite3 *pdb = test_panel_open_db (f->rig.panel);
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (
    pdb, "SELECT manifest_store_key FROM incidents WHERE close_reason IS NOT NULL", &error);
  g_assert_no_error (error);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  g_autofree char *path =
    g_build_filename (f->rig.panel->dir, "store", sqlite3_column_text (st, 0), NULL);
  g_clear_pointer (&st, sqlite3_finalize);
  sqlite3_close (pdb);
  g_autoptr (GBytes) bytes = test_read_bytes (path);
  AnsimManifest *m =
    ansim_manifest_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);
  g_assert_no_error (error);
  return m;
}

/* `ansimctl verify` of the desk's copy of its only incident: it must
 * hold; returns what it printed. */
static char *
verify_desk_copy (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) spool = g_dir_open (f->rig.desk->spool, 0, &error);
  g_assert_no_error (error);
  const char *uuid = g_dir_read_name (spool);
  g_assert_nonnull (uuid);
  g_autofree char *folder = g_build_filename (f->rig.desk->spool, uuid, NULL);
  g_autofree char *pub = g_build_filename (f->rig.desk->dir, "device.pub.pem", NULL);
  const char *args[] = { "verify", "--key", pub, folder, NULL };
  char *out = test_ansimctl_ok (NULL, args);
  g_test_message ("ansimctl verify: %s", out);
  return out;
}

static void
start_desk (Fixture *f, const char *recorder_lines, const char *const *env)
{
  test_panel_start (f->rig.panel);
  test_panel_enroll (f->rig.panel, f->rig.desk, "dev-1");
  test_desk_rig_write_recorder_conf (&f->rig, recorder_lines, NULL, NULL);
  test_desk_rig_start_recorder (&f->rig, env, 1200);
  f->rig.uploader = test_uploader_start_env (f->rig.desk, f->rig.panel->url,
                                             "supervision_s = 0\nheartbeat_interval = 3600", env);
  /* The first heartbeat is refused as stale and teaches the uploader the
   * panel's clock; it is signed again at once. */
  if (!test_wait_until (clock_learnt, f, 10))
    {
      g_autofree char *log = g_build_filename (f->rig.desk->dir, "uploader.log", NULL);
      g_autofree char *text = test_read_file (log);
      g_error ("the uploader did not learn the panel's clock in 10 s:\n%s", text);
    }
}

static gboolean
desk_incident_closed (gpointer data)
{
  return desk_value (data, "SELECT count(*) FROM incidents WHERE closed_wall_us IS NOT NULL") > 0;
}

static void
test_offset (Fixture *f, gconstpointer data)
{
  const char *setting = data;
  gint64 desk_ahead_s = g_str_equal (setting, "-600s")   ? -600
                        : g_str_equal (setting, "+600s") ? 600
                                                         : -3 * 365 * 86400;
  const char *const env[] = FAKETIME_ENV ("FAKETIME", setting);
  start_desk (f, "pre_event_seconds = 1\npost_event_seconds = 1\nnotice_sound = none", env);

  AnsimDeskClock learnt = stored_clock (f);
  assert_offset_near (&learnt, -desk_ahead_s * G_USEC_PER_SEC, "learnt");
  g_autofree char *conf = g_strdup (f->rig.recorder_conf);
  const char *args[] = { "status", "--config", conf, NULL };
  g_autofree char *status = test_ansimctl_ok (NULL, args);
  g_test_message ("ansimctl status: %s", status);
  g_assert_nonnull (
    strstr (status, desk_ahead_s < 0 ? "s behind the panel's" : "s ahead of the panel's"));

  /* The press reaches the panel as fast as with a right clock. */
  gint64 pressed = g_get_monotonic_time ();
  test_desk_rig_press (&f->rig);
  g_assert_true (test_wait_until (alerted, f, 10));
  gint64 latency_us = g_get_monotonic_time () - pressed;
  g_test_message ("press -> alert stored: %.1f ms", latency_us / 1e3);
  g_assert_cmpint (latency_us, <, 2 * G_USEC_PER_SEC);

  g_assert_true (test_wait_until (final_manifest_stored, f, 30));
  g_autoptr (AnsimManifest) m = stored_manifest (f);
  /* The desk's own times, wrong as its clock was, and what they were off by. */
  gint64 opened = ansim_manifest_get_opened_wall_us (m);
  g_assert_cmpint (ABS (opened - (g_get_real_time () + desk_ahead_s * G_USEC_PER_SEC)), <,
                   60 * G_USEC_PER_SEC);
  assert_offset_near (ansim_manifest_get_desk_clock (m, ANSIM_MANIFEST_CLOCK_AT_OPEN),
                      -desk_ahead_s * G_USEC_PER_SEC, "manifest, at opening");
  assert_offset_near (ansim_manifest_get_desk_clock (m, ANSIM_MANIFEST_CLOCK_AT_CLOSE),
                      -desk_ahead_s * G_USEC_PER_SEC, "manifest, at closing");

  /* The console's incident page reads the same and flags it. */
  test_add_user (f->rig.panel->conf, "guard", "security", "guard-password-1");
  g_autoptr (TestConsole) console = test_console_new (f->rig.panel->url, NULL, 5);
  TestLogin login = { 0 };
  test_console_login (console, "guard", "guard-password-1", &login);
  gint64 panel_id = test_panel_count (f->rig.panel, "SELECT id FROM incidents");
  g_autofree char *api = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT, panel_id);
  g_autoptr (JsonNode) page = test_console_get_ok (console, api, &login);
  JsonObject *clock = json_object_get_object_member (json_node_get_object (page), "desk_clock");
  g_assert_cmpstr (json_object_get_string_member (clock, "flag"), ==, "off");
  gint64 api_offset =
    json_object_get_int_member (json_object_get_object_member (clock, "at_open"), "offset_us");
  g_assert_cmpint (api_offset, ==,
                   ansim_manifest_get_desk_clock (m, ANSIM_MANIFEST_CLOCK_AT_OPEN)->offset_us);
  /* Its timeline puts the press by the panel's clock, next to the alert. */
  JsonArray *timeline = json_object_get_array_member (json_node_get_object (page), "timeline");
  gint64 pressed_at = 0, alert_at = 0;
  for (guint i = 0; i < json_array_get_length (timeline); i++)
    {
      JsonObject *e = json_array_get_object_element (timeline, i);
      const char *what = json_object_get_string_member (e, "what");
      if (g_str_equal (what, "pressed"))
        pressed_at = json_object_get_int_member (e, "at_us");
      else if (g_str_equal (what, "alert-received"))
        alert_at = json_object_get_int_member (e, "at_us");
    }
  g_assert_cmpint (alert_at, >=, pressed_at);
  g_assert_cmpint (alert_at - pressed_at, <, 2 * G_USEC_PER_SEC);
  test_login_clear (&login);

  /* verify shows the panel's times and warns. */
  g_assert_true (test_wait_until (desk_incident_closed, f, 10));
  g_autofree char *out = verify_desk_copy (f);
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *today = g_date_time_format (now, "= %F");
  g_assert_nonnull (strstr (out, today)); /* the panel's time of the opening */
  g_assert_nonnull (strstr (out, "desk clock off by more than 2.000 s at opening"));
}

/* NTP syncing in the middle of an incident: the wall clock jumps an hour
 * back while monotonic time goes on. */
static void
test_step (Fixture *f, gconstpointer data)
{
  (void) data;
  test_write_file (f->faketime_file, "+0s\n", -1);
  const char *const env[] = FAKETIME_ENV ("FAKETIME_TIMESTAMP_FILE", f->faketime_file);
  start_desk (f, "pre_event_seconds = 1\npost_event_seconds = 4\nnotice_sound = none", env);
  AnsimDeskClock before = stored_clock (f);
  assert_offset_near (&before, 0, "before the step");

  test_desk_rig_press (&f->rig);
  g_assert_true (test_wait_until (alerted, f, 10));
  g_usleep (G_USEC_PER_SEC);
  test_write_file (f->faketime_file, "-3600s\n", -1);
  g_assert_true (test_wait_until (desk_incident_closed, f, 30));
  g_assert_true (test_wait_until (final_manifest_stored, f, 30));

  /* In the desk's log, tied to the incident, with the step's size. */
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (
    f->rig.desk->db,
    "SELECT json_extract (detail, '$.\"step-us\"') FROM events WHERE kind = 'clock-step' "
    "AND incident_id IS NOT NULL",
    &error);
  g_assert_no_error (error);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  gint64 step_us = g_ascii_strtoll ((const char *) sqlite3_column_text (st, 0), NULL, 10);
  g_assert_cmpint (ABS (step_us + G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC), <,
                   5 * G_USEC_PER_SEC);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_DONE);

  /* In the manifest, which says the offset changed, and still verifies. */
  g_autoptr (AnsimManifest) m = stored_manifest (f);
  guint steps = 0;
  for (guint i = 0; i < ansim_manifest_get_n_events (m); i++)
    {
      const AnsimManifestEvent *e = ansim_manifest_get_event (m, i);
      if (g_str_equal (e->kind, "clock-step"))
        {
          steps++;
          const char *size = ansim_manifest_event_get_detail (e, "step-us");
          g_assert_nonnull (size);
          g_assert_cmpint (g_ascii_strtoll (size, NULL, 10), ==, step_us);
        }
    }
  g_assert_cmpuint (steps, ==, 1);
  assert_offset_near (ansim_manifest_get_desk_clock (m, ANSIM_MANIFEST_CLOCK_AT_OPEN), 0,
                      "manifest, at opening");
  assert_offset_near (ansim_manifest_get_desk_clock (m, ANSIM_MANIFEST_CLOCK_AT_CLOSE),
                      G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC, "manifest, at closing");

  g_autofree char *out = verify_desk_copy (f);
  g_assert_null (strstr (out, "desk clock off by more than 2.000 s at opening"));
  g_assert_nonnull (strstr (out, "desk clock off by more than 2.000 s at closing"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* libfaketime is preloaded into the daemons: AddressSanitizer must not
   * insist on coming first. */
  const char *asan = g_getenv ("ASAN_OPTIONS");
  if (asan != NULL)
    {
      g_autofree char *more = g_strconcat (asan, ":verify_asan_link_order=0", NULL);
      g_setenv ("ASAN_OPTIONS", more, TRUE);
    }
#define ADD(path, data, fn) g_test_add (path, Fixture, data, setup, fn, teardown)
  ADD ("/desk-clock/offset/600s-slow", "-600s", test_offset);
  ADD ("/desk-clock/offset/600s-fast", "+600s", test_offset);
  ADD ("/desk-clock/offset/3-years-slow", "-3y", test_offset);
  ADD ("/desk-clock/step", NULL, test_step);
  return g_test_run ();
}
