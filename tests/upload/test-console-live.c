/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The console's live side over real HTTP on loopback: a real ansim-panel,
 * a desk whose outbox is filled as the recorder fills it and a real
 * ansim-uploader. An alert reaches an open event stream (time measured);
 * acknowledge, resolve and notes are recorded in the incident, its
 * timeline and the audit log, and the desk learns the acknowledgement
 * (time measured); the incident list's filters; the devices page and the
 * offline-desk alert; every new route's roles, CSRF and bad input. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "db.h"
#include "outbox.h"
#include "test-console.h"
#include "upload-helpers.h"

#define PASSWORD "live-console-password-1"
#define OFFLINE_AFTER_S 8
#define EXPORT_BODY                                                                                \
  "{\"media\": false, \"recipient\": \"수사기관\", \"purpose\": \"수사\", "                  \
  "\"legal_basis\": \"개인정보 보호법 제18조②7\"}"

static const char *const roles[] = { "security", "trainer", "admin", "auditor" };
enum { SECURITY, TRAINER, ADMIN, AUDITOR };

typedef struct {
  SoupMessage *msg;
  GInputStream *in;
  GString *buffer;
} Stream;

static char *dir;
static TestPanel *panel;
static TestDesk *desk, *quiet_desk;
static GSubprocess *uploader;
static TestConsole *console;
static SoupSession *stream_http;
static TestLogin logins[4];
static Stream stream;
static gint64 incident_id;
static gint64 quiet_enrolled_us;

static guint
count_all_audit (void)
{
  g_autoptr (JsonNode) node =
    test_console_get_ok (console, "/api/audit?limit=500", &logins[AUDITOR]);
  return json_array_get_length (
    json_object_get_array_member (json_node_get_object (node), "entries"));
}

/* ---- the event stream ------------------------------------------------- */

typedef struct {
  gboolean done;
  gssize n;
  GError *error;
} ReadResult;

static void
read_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ReadResult *rr = user_data;
  rr->n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &rr->error);
  rr->done = TRUE;
}

/* Reads the stream until an event named name arrives (or fails after
 * timeout_s); returns its data and the wall time it arrived. */
/* The device-offline event comes on its own clock (OFFLINE_AFTER_S after
 * enrollment): kept when a wait for another event skips past it, so that a
 * slower run (sanitizers) still finds it. */
static char *skipped_offline;

static JsonNode *
wait_event (const char *name, double timeout_s, gint64 *out_at_us)
{
  g_autofree char *head = g_strdup_printf ("event: %s\ndata: ", name);
  gint64 end = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);
  if (g_str_equal (name, "device-offline") && skipped_offline != NULL)
    {
      g_autofree char *data = g_steal_pointer (&skipped_offline);
      return test_json_parse (data);
    }
  for (;;)
    {
      char *found = strstr (stream.buffer->str, head);
      char *stop = found != NULL ? strstr (found, "\n\n") : NULL;
      if (stop != NULL)
        {
          g_autofree char *data = g_strndup (found + strlen (head), stop - found - strlen (head));
          const char *offline_head = "event: device-offline\ndata: ";
          char *offline =
            g_strstr_len (stream.buffer->str, found - stream.buffer->str, offline_head);
          char *offline_end = offline != NULL ? strstr (offline, "\n\n") : NULL;
          if (offline_end != NULL && skipped_offline == NULL)
            skipped_offline = g_strndup (offline + strlen (offline_head),
                                         offline_end - offline - strlen (offline_head));
          g_string_erase (stream.buffer, 0, stop + 2 - stream.buffer->str);
          return test_json_parse (data);
        }
      if (g_get_monotonic_time () > end)
        g_error ("no '%s' event within %.1f s; the stream so far:\n%s", name, timeout_s,
                 stream.buffer->str);
      char chunk[4096];
      ReadResult rr = { 0 };
      g_input_stream_read_async (stream.in, chunk, sizeof chunk, G_PRIORITY_DEFAULT, NULL,
                                 read_done, &rr);
      while (!rr.done)
        {
          if (g_get_monotonic_time () > end)
            g_error ("no '%s' event within %.1f s; the stream so far:\n%s", name, timeout_s,
                     stream.buffer->str);
          g_main_context_iteration (NULL, FALSE);
          if (!rr.done)
            g_usleep (1000);
        }
      if (out_at_us != NULL)
        *out_at_us = g_get_real_time ();
      g_assert_no_error (rr.error);
      gssize n = rr.n;
      g_assert_cmpint (n, >, 0);
      g_string_append_len (stream.buffer, chunk, n);
    }
}

/* ---- set-up ----------------------------------------------------------- */

static void
set_up (void)
{
  g_autoptr (GError) error = NULL;
  dir = g_dir_make_tmp ("ansim-live-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *quiet_dir = g_build_filename (dir, "quiet-desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);
  desk = test_desk_new (desk_dir);
  desk->source = "desk-camera"; /* format version 3: checkpoints */
  g_autofree char *extra =
    g_strdup_printf ("device_offline_after_s = %d\nsite_identity = %s\nplayback_idle_s = 1",
                     OFFLINE_AFTER_S, desk->site_key_path);
  quiet_desk = test_desk_new (quiet_dir);
  panel = test_panel_new (panel_dir, extra);

  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    test_add_user (panel->conf, roles[i], roles[i], PASSWORD);
  /* The panel's own temporary folder: exports must leave nothing there. */
  g_autofree char *panel_tmp = g_build_filename (dir, "panel-tmp", NULL);
  g_assert_cmpint (g_mkdir (panel_tmp, 0700), ==, 0);
  g_setenv ("TMPDIR", panel_tmp, TRUE);
  /* Under AddressSanitizer the panel (GStreamer, for playback's remux)
   * needs full stacks for lsan.supp to name GLib's quark block; only the
   * panel, so the rest keeps its speed. */
  g_autofree char *asan = g_strdup (g_getenv ("ASAN_OPTIONS"));
  if (asan != NULL)
    {
      g_autofree char *full = g_strconcat (asan, ":fast_unwind_on_malloc=0", NULL);
      g_setenv ("ASAN_OPTIONS", full, TRUE);
    }
  test_panel_start (panel);
  if (asan != NULL)
    g_setenv ("ASAN_OPTIONS", asan, TRUE);
  test_panel_enroll (panel, desk, "dev-1");
  /* Enrolled, never heard of again: raises the offline alert. */
  quiet_enrolled_us = g_get_real_time ();
  test_panel_enroll (panel, quiet_desk, "desk-1-spare");
  uploader = test_uploader_start (desk, panel->url, "heartbeat_interval = 5");
  console = test_console_new (panel->url, NULL, 5);
  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    test_console_login (console, roles[i], PASSWORD, &logins[i]);

  g_autofree char *url = g_strconcat (panel->url, "/api/events/stream", NULL);
  stream.msg = soup_message_new ("GET", url);
  soup_message_headers_replace (soup_message_get_request_headers (stream.msg), "Cookie",
                                logins[SECURITY].cookie);
  /* No I/O timeout on the stream: it may be quiet for longer. */
  stream_http = soup_session_new ();
  stream.in = soup_session_send (stream_http, stream.msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (stream.msg), ==, 200);
  stream.buffer = g_string_new (NULL);
}

static void
tear_down (void)
{
  g_clear_object (&stream.in);
  g_clear_object (&stream.msg);
  if (stream.buffer != NULL)
    g_string_free (stream.buffer, TRUE);
  g_clear_pointer (&console, test_console_free);
  g_clear_object (&stream_http);
  test_process_stop (uploader, SIGTERM);
  g_clear_object (&uploader);
  g_clear_pointer (&panel, test_panel_free);
  g_clear_pointer (&desk, test_desk_free);
  g_clear_pointer (&quiet_desk, test_desk_free);
  for (guint i = 0; i < G_N_ELEMENTS (logins); i++)
    test_login_clear (&logins[i]);
  test_rm_rf (dir);
  g_free (dir);
}

/* ---- tests ------------------------------------------------------------ */

/* One second of H.264 in Matroska (gst-launch-1.0, as the recorder's
 * muxer writes it): playback remuxes what it serves, so it must be media. */
static void
add_media_segment (TestIncident *incident)
{
  g_autofree char *path = g_build_filename (desk->dir, "media.mkv", NULL);
  g_autofree char *cmd = g_strdup_printf (
    "gst-launch-1.0 -q videotestsrc num-buffers=15 ! video/x-raw,width=160,height=120,framerate=15/1 "
    "! x264enc speed-preset=ultrafast tune=zerolatency ! h264parse ! matroskamux "
    "! filesink location=%s",
    path);
  g_autoptr (GError) error = NULL;
  int status = 0;
  g_assert_true (g_spawn_command_line_sync (cmd, NULL, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_autofree char *data = NULL;
  gsize size = 0;
  g_assert_true (g_file_get_contents (path, &data, &size, NULL));
  test_incident_add_segment_data (incident, data, size);
}

static void
test_alert_reaches_console (void)
{
  TestIncident *incident = test_incident_open (desk);
  add_media_segment (incident);
  g_autofree char *uuid = g_strdup (test_incident_get_uuid (incident));
  g_autofree char *sock = g_build_filename (desk->dir, "uploader.sock", NULL);
  g_autoptr (GError) error = NULL;
  gint64 pressed = g_get_real_time ();
  g_assert_true (ansim_outbox_wake_uploader (sock, &error));
  g_assert_no_error (error);

  gint64 arrived = 0;
  g_autoptr (JsonNode) node = wait_event ("incident", 10, &arrived);
  JsonObject *o = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (o, "uuid"), ==, uuid);
  g_assert_cmpstr (json_object_get_string_member (o, "desk_name"), ==, "민원실 1번 창구");
  g_assert_cmpstr (json_object_get_string_member (o, "trigger"), ==, "desk-button");
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "open");
  incident_id = json_object_get_int_member (o, "id");
  gint64 received = json_object_get_int_member (o, "alerted_at_us");
  g_test_message ("press (outbox committed, uploader woken) -> console stream: %.1f ms; "
                  "panel received the alert -> console stream: %.1f ms",
                  (arrived - pressed) / 1000.0, (arrived - received) / 1000.0);
  g_assert_cmpint (arrived - pressed, <, G_USEC_PER_SEC);
  g_assert_cmpint (arrived - received, <, G_USEC_PER_SEC);

  /* Then its segment, as it arrives. */
  g_autoptr (JsonNode) seg = wait_event ("segment", 10, NULL);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (seg), "index"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (seg), "id"), ==, incident_id);
  test_incident_close (incident);
}

/* template with each "%ld" replaced by id */
static char *
with_id (const char *template, gint64 id)
{
  g_auto (GStrv) parts = g_strsplit (template, "%ld", -1);
  g_autofree char *number = g_strdup_printf ("%" G_GINT64_FORMAT, id);
  return g_strjoinv (number, parts);
}

typedef struct {
  const char *method;
  const char *path; /* %ld: an incident id */
  guint allowed;    /* bit per role */
} Route;

#define BIT(r) (1u << (r))

static void
test_roles (void)
{
  static const Route routes[] = {
    { "GET", "/api/incidents", BIT (SECURITY) | BIT (TRAINER) | BIT (ADMIN) },
    { "GET", "/api/incidents/%ld", BIT (SECURITY) | BIT (TRAINER) | BIT (ADMIN) },
    { "POST", "/api/incidents/%ld/acknowledge", BIT (SECURITY) | BIT (ADMIN) },
    { "POST", "/api/incidents/%ld/resolve", BIT (SECURITY) | BIT (ADMIN) },
    { "POST", "/api/incidents/%ld/notes", BIT (SECURITY) | BIT (ADMIN) },
    { "GET", "/api/devices", BIT (SECURITY) | BIT (ADMIN) },
    /* on an incident that does not exist: allowed means 404 */
    { "GET", "/api/incidents/999999/segments/0/media", BIT (SECURITY) | BIT (ADMIN) },
    { "POST", "/api/incidents/%ld/export", BIT (SECURITY) | BIT (ADMIN) },
    { "GET", "/api/disclosures", BIT (ADMIN) | BIT (AUDITOR) },
  };
  guint audit_before = count_all_audit ();
  for (guint i = 0; i < G_N_ELEMENTS (routes); i++)
    {
      /* POSTs go to an incident that does not exist: allowed means 404,
       * and nothing changes either way. */
      gboolean is_post = g_str_equal (routes[i].method, "POST");
      g_autofree char *path = with_id (routes[i].path, is_post ? 999999 : incident_id);
      const char *body = is_post ? "{\"category\":\"other\",\"note\":\"x\"}" : NULL;
      if (g_str_has_suffix (path, "/acknowledge"))
        body = "{}";
      if (g_str_has_suffix (path, "/export"))
        body = EXPORT_BODY;
      guint status = 0;
      g_autofree char *anon = test_console_request (console, routes[i].method, path, NULL,
                                                    TEST_CSRF_NONE, "application/json", body, 0,
                                                    &status, NULL);
      (void) anon; /* kept for its cleanup */
      g_assert_cmpuint (status, ==, 401);
      for (guint r = 0; r < G_N_ELEMENTS (roles); r++)
        {
          g_autofree char *reply =
            test_console_request (console, routes[i].method, path, &logins[r], TEST_CSRF_RIGHT,
                                  "application/json", body, 0, &status, NULL);
          guint expected = !(routes[i].allowed & BIT (r))       ? 403
                           : is_post || strstr (path, "999999") ? 404
                                                                : 200;
          if (status != expected)
            g_error ("%s %s as %s: %u (expected %u) %s", routes[i].method, path, roles[r], status,
                     expected, reply);
          if (is_post && (routes[i].allowed & BIT (r)))
            {
              g_autofree char *no_csrf = test_console_request (console, "POST", path, &logins[r],
                                                               TEST_CSRF_NONE, "application/json",
                                                               body, 0, &status, NULL);
              g_assert_cmpuint (status, ==, 403);
              g_assert_nonnull (strstr (no_csrf, "\"csrf\""));
            }
        }
    }
  /* Only the allowed detail views were audited (security, trainer, admin). */
  g_assert_cmpuint (count_all_audit (), ==, audit_before + 3);
}

static void
test_bad_input (void)
{
  static const struct {
    const char *method, *path, *type, *body;
    guint status;
  } cases[] = {
    { "GET", "/api/incidents/abc", NULL, NULL, 400 },
    { "GET", "/api/incidents/0", NULL, NULL, 400 },
    { "GET", "/api/incidents/-1", NULL, NULL, 400 },
    { "GET", "/api/incidents/%2e%2e%2faudit", NULL, NULL, 400 },
    { "GET", "/api/incidents/1%2f..%2f..%2fusers", NULL, NULL, 400 },
    { "GET", "/api/incidents/99999999999999999999", NULL, NULL, 400 },
    { "GET", "/api/incidents?status=lost", NULL, NULL, 400 },
    { "GET", "/api/incidents?limit=0", NULL, NULL, 400 },
    { "GET", "/api/incidents?drill=maybe", NULL, NULL, 400 },
    { "GET", "/api/incidents?category=nope", NULL, NULL, 400 },
    { "GET", "/api/incidents?since_us=yesterday", NULL, NULL, 400 },
    { "GET", "/api/incidents?colour=red", NULL, NULL, 400 },
    { "GET", "/api/incidents/%ld/what", NULL, NULL, 404 },
    { "POST", "/api/incidents/%ld", "application/json", "{}", 405 },
    { "GET", "/api/incidents/%ld/acknowledge", NULL, NULL, 405 },
    { "POST", "/api/incidents/%ld/resolve", "application/json", "{\"category\":\"nope\"}", 400 },
    { "POST", "/api/incidents/%ld/resolve", "application/json", "{\"note\":\"no category\"}", 400 },
    { "POST", "/api/incidents/%ld/resolve", "application/json", "{\"category\":5}", 400 },
    { "POST", "/api/incidents/%ld/resolve", "application/json", "{", 400 },
    { "POST", "/api/incidents/%ld/resolve", "application/json", "[1]", 400 },
    { "POST", "/api/incidents/%ld/resolve", "text/plain", "{\"category\":\"other\"}", 415 },
    { "POST", "/api/incidents/%ld/resolve", "application/json",
      "{\"category\":\"other\",\"by\":\"someone else\"}", 400 },
    { "POST", "/api/incidents/%ld/acknowledge", "application/json", "{\"x\":1}", 400 },
    { "POST", "/api/incidents/%ld/acknowledge", "application/json", "nonsense", 400 },
    { "POST", "/api/incidents/%ld/notes", "application/json", "{}", 400 },
    { "POST", "/api/incidents/%ld/notes", "application/json", "{\"note\":\"\"}", 400 },
    { "GET", "/api/devices/x", NULL, NULL, 404 },
    { "POST", "/api/devices", "application/json", "{}", 405 },
  };
  guint audit_before = count_all_audit ();
  gint64 events_before = test_panel_count (panel, "SELECT count(*) FROM events");
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = with_id (cases[i].path, incident_id);
      guint status = 0;
      g_autofree char *reply =
        test_console_request (console, cases[i].method, path, &logins[SECURITY], TEST_CSRF_RIGHT,
                              cases[i].type, cases[i].body, 0, &status, NULL);
      if (status != cases[i].status)
        g_error ("%s %s %s: %u (expected %u) %s", cases[i].method, path,
                 cases[i].body ? cases[i].body : "", status, cases[i].status, reply);
      /* An encoded '/' is refused by libsoup itself (400, no body). */
      if (*reply == '\0' && strstr (path, "%2f") != NULL)
        continue;
      g_autoptr (JsonNode) node = test_json_parse (reply);
      g_assert_nonnull (json_object_get_string_member (json_node_get_object (node), "error"));
      g_assert_nonnull (json_object_get_string_member (json_node_get_object (node), "message"));
    }
  /* A body over 64 KiB is refused before it is read. */
  g_autofree char *big = g_strnfill (70 * 1024, 'a');
  g_autofree char *path = g_strdup_printf ("/api/incidents/%ld/notes", (long) incident_id);
  guint status = 0;
  g_autofree char *reply = test_console_request (console, "POST", path, &logins[SECURITY],
                                                 TEST_CSRF_RIGHT, "application/json", big, 0,
                                                 &status, NULL);
  (void) reply; /* kept for its cleanup */
  g_assert_cmpuint (status, ==, 413);

  /* Nothing changed. */
  g_assert_cmpuint (count_all_audit (), ==, audit_before);
  g_assert_cmpint (test_panel_count (panel, "SELECT count(*) FROM events"), ==, events_before);
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM incidents WHERE id = %ld AND "
                                          "status = 'open' AND resolution IS NULL",
                                          (long) incident_id);
  g_assert_cmpint (test_panel_count (panel, sql), ==, 1);
}

static gboolean
desk_knows_acknowledged (gpointer data)
{
  (void) data;
  g_autoptr (sqlite3_stmt) s =
    ansim_db_prepare (desk->db, "SELECT count(*) FROM events WHERE kind = 'acknowledged'", NULL);
  return s != NULL && sqlite3_step (s) == SQLITE_ROW && sqlite3_column_int (s, 0) == 1;
}

static void
test_acknowledge (void)
{
  g_autofree char *path = g_strdup_printf ("/api/incidents/%ld/acknowledge", (long) incident_id);
  g_autofree char *target = g_strdup_printf ("incident %ld", (long) incident_id);
  g_autofree char *body = NULL;
  g_assert_false (desk_knows_acknowledged (NULL));
  /* A trainer may not. */
  g_assert_cmpuint (test_console_post (console, path, &logins[TRAINER], TRUE, NULL, NULL), ==, 403);

  gint64 clicked = g_get_real_time ();
  guint status = test_console_post (console, path, &logins[SECURITY], TRUE, NULL, &body);
  g_assert_cmpuint (status, ==, 200);
  g_autoptr (JsonNode) node = test_json_parse (body);
  JsonObject *o = json_object_get_object_member (json_node_get_object (node), "incident");
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "acknowledged");
  g_assert_cmpstr (json_object_get_string_member (o, "acknowledged_by"), ==, "security");

  /* The desk learns it (its uploader asks often while an alert is open). */
  g_assert_true (test_wait_until (desk_knows_acknowledged, NULL, 10));
  gint64 learned = g_get_real_time ();
  g_test_message ("acknowledge -> the desk's event log has it: %.1f ms",
                  (learned - clicked) / 1000.0);
  g_assert_cmpint (learned - clicked, <, G_USEC_PER_SEC + G_USEC_PER_SEC / 2);

  g_autoptr (JsonNode) ev = wait_event ("acknowledged", 5, NULL);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (ev), "acknowledged_by"), ==,
                   "security");
  g_autofree char *sql = g_strdup_printf (
    "SELECT count(*) FROM events WHERE incident_id = %ld AND kind = 'acknowledged' "
    "AND actor = 'security' AND device_id IS NULL",
    (long) incident_id);
  g_assert_cmpint (test_panel_count (panel, sql), ==, 1);
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "acknowledged", target, NULL), ==, 1);

  /* Twice is refused and changes nothing. */
  g_assert_cmpuint (test_console_post (console, path, &logins[ADMIN], TRUE, NULL, NULL), ==, 409);
  g_assert_cmpint (test_panel_count (panel, sql), ==, 1);
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "acknowledged", target, NULL), ==, 1);
}

static void
test_resolve_and_notes (void)
{
  g_autofree char *path = g_strdup_printf ("/api/incidents/%ld/resolve", (long) incident_id);
  g_autofree char *notes = g_strdup_printf ("/api/incidents/%ld/notes", (long) incident_id);
  g_autofree char *detail = g_strdup_printf ("/api/incidents/%ld", (long) incident_id);
  g_autofree char *target = g_strdup_printf ("incident %ld", (long) incident_id);

  g_assert_cmpuint (
    test_console_post (console, path, &logins[SECURITY], TRUE,
                       "{\"category\":\"threat\",\"note\":\"민원인이 소리를 지름; 퇴장\"}", NULL),
    ==, 200);
  g_autoptr (JsonNode) ev = wait_event ("resolved", 5, NULL);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (ev), "category"), ==,
                   "threat");
  g_assert_cmpuint (
    test_console_post (console, path, &logins[SECURITY], TRUE, "{\"category\":\"other\"}", NULL),
    ==, 409);
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR], "resolved", target, NULL),
                    ==, 1);

  g_assert_cmpuint (
    test_console_post (console, notes, &logins[SECURITY], TRUE, "{\"note\":\"CCTV 확인함\"}", NULL),
    ==, 200);
  g_assert_cmpuint (test_console_post (console, notes, &logins[ADMIN], TRUE,
                                       "{\"category\":\"verbal-abuse\"}", NULL),
                    ==, 200);
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "incident-annotated", target, NULL), ==,
    2);

  guint viewed =
    test_console_count_audit (console, &logins[AUDITOR], "incident-viewed", target, NULL);
  g_autoptr (JsonNode) node = test_console_get_ok (console, detail, &logins[SECURITY]);
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "incident-viewed", target, NULL), ==,
    viewed + 1);
  JsonObject *o = json_node_get_object (node);
  JsonObject *inc = json_object_get_object_member (o, "incident");
  g_assert_cmpstr (json_object_get_string_member (inc, "status"), ==, "resolved");
  g_assert_cmpstr (json_object_get_string_member (inc, "category"), ==, "verbal-abuse");
  g_assert_cmpstr (json_object_get_string_member (inc, "resolved_by"), ==, "security");
  JsonObject *integrity = json_object_get_object_member (o, "integrity");
  g_assert_cmpstr (json_object_get_string_member (integrity, "signature"), ==, "verified");
  g_assert_nonnull (strstr (json_object_get_string_member (integrity, "summary"), "SHA-256"));

  /* The timeline in order, with the people. */
  static const char *const expected[] = { "pressed",      "alert-received", "segment-received",
                                          "acknowledged", "resolved",       "note",
                                          "note" };
  JsonArray *timeline = json_object_get_array_member (o, "timeline");
  guint next = 0;
  g_autoptr (GString) seen = g_string_new (NULL);
  for (guint i = 0; i < json_array_get_length (timeline); i++)
    {
      JsonObject *e = json_array_get_object_element (timeline, i);
      const char *what = json_object_get_string_member (e, "what");
      g_string_append_printf (seen, "%s ", what);
      if (next < G_N_ELEMENTS (expected) && g_str_equal (what, expected[next]))
        next++;
      if (g_str_equal (what, "note") || g_str_equal (what, "resolved")
          || g_str_equal (what, "acknowledged"))
        g_assert_nonnull (json_object_get_string_member (e, "actor"));
    }
  if (next != G_N_ELEMENTS (expected))
    g_error ("timeline out of order or incomplete: %s", seen->str);
}

static guint playback_audit_before;

static void
test_playback (void)
{
  g_autofree char *path =
    g_strdup_printf ("/api/incidents/%ld/segments/0/media", (long) incident_id);
  g_autofree char *target = g_strdup_printf ("incident %ld", (long) incident_id);
  guint status = 0;
  guint before = test_console_count_audit (console, &logins[AUDITOR], "playback", target, NULL);
  for (int r = TRAINER; r <= AUDITOR; r += 2) /* trainer, auditor */
    {
      g_autofree char *no = test_console_request (console, "GET", path, &logins[r], TEST_CSRF_NONE,
                                                  NULL, NULL, 0, &status, NULL);
      (void) no; /* kept for its cleanup */
      g_assert_cmpuint (status, ==, 403);
    }
  g_autofree char *anon =
    test_console_request (console, "GET", path, NULL, TEST_CSRF_NONE, NULL, NULL, 0, &status, NULL);
  (void) anon; /* kept for its cleanup */
  g_assert_cmpuint (status, ==, 401);
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR], "playback", target, NULL),
                    ==, before);

  /* The desk's plaintext, decrypted and remuxed (not re-encoded) to
   * fragmented MP4, placed by the signed manifest's wall time. */
  g_autofree char *url = g_strconcat (panel->url, path, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", url);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Cookie",
                                logins[SECURITY].cookie);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) media = soup_session_send_and_read (console->http, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  SoupMessageHeaders *rh = soup_message_get_response_headers (msg);
  g_assert_cmpstr (soup_message_headers_get_content_type (rh, NULL), ==, "video/mp4");
  gsize size = 0;
  const char *data = g_bytes_get_data (media, &size);
  g_assert_cmpuint (size, >, 8);
  g_assert_cmpmem (data + 4, 4, "ftyp", 4);
  g_assert_true (g_str_has_prefix (soup_message_headers_get_one (rh, "X-Ansim-Codecs"), "avc1."));
  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (
    desk->db, "SELECT start_wall_us FROM segments WHERE idx = 0 ORDER BY incident_id LIMIT 1",
    NULL);
  g_assert_nonnull (s);
  g_assert_cmpint (sqlite3_step (s), ==, SQLITE_ROW);
  g_assert_cmpint (
    g_ascii_strtoll (soup_message_headers_get_one (rh, "X-Ansim-Wall-Start-Us"), NULL, 10), ==,
    sqlite3_column_int64 (s, 0));
  /* Range (issue 14): one range at most, else the whole segment; a range
   * beyond the end is refused; whatever is served is recorded. */
  static const struct {
    const char *range;
    guint status;
    gboolean whole;
  } ranges[] = {
    { "bytes= 0-", 200, TRUE },       { "bytes=1-", 206, FALSE },
    { "bytes=0-9,20-29", 200, TRUE }, { "bytes=99999999-", 416, FALSE },
    { "bytes=-99999999", 206, TRUE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (ranges); i++)
    {
      g_autoptr (SoupMessage) rm = soup_message_new ("GET", url);
      SoupMessageHeaders *q = soup_message_get_request_headers (rm);
      soup_message_headers_replace (q, "Cookie", logins[SECURITY].cookie);
      soup_message_headers_replace (q, "Range", ranges[i].range);
      g_autoptr (GBytes) part = soup_session_send_and_read (console->http, rm, NULL, &error);
      g_assert_no_error (error);
      g_test_message ("Range: %s -> %u, %zu bytes", ranges[i].range, soup_message_get_status (rm),
                      g_bytes_get_size (part));
      g_assert_cmpuint (soup_message_get_status (rm), ==, ranges[i].status);
      if (ranges[i].whole)
        g_assert_cmpuint (g_bytes_get_size (part), ==, size);
      else if (ranges[i].status == 206)
        g_assert_cmpuint (g_bytes_get_size (part), ==, size - 1);
    }
  playback_audit_before = before;
  static const struct {
    const char *path;
    guint status;
  } bad[] = {
    { "/api/incidents/%ld/segments/7/media", 404 },
    { "/api/incidents/%ld/segments/abc/media", 400 },
    { "/api/incidents/%ld/segments/-1/media", 400 },
    { "/api/incidents/%ld/segments/0/plain", 404 },
    { "/api/incidents/999999/segments/0/media", 404 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *p = with_id (bad[i].path, incident_id);
      g_autofree char *reply = test_console_request (console, "GET", p, &logins[SECURITY],
                                                     TEST_CSRF_NONE, NULL, NULL, 0, &status, NULL);
      if (status != bad[i].status)
        g_error ("GET %s: %u, expected %u: %s", p, status, bad[i].status, reply);
    }
}

/* The viewing of test_playback, idle since (playback_idle_s = 1): exactly
 * one entry, with every request that served bytes (all but the 416 and
 * the refused ones). Checked last so that nothing waits for it. */
static void
test_playback_audit (void)
{
  g_autofree char *target = g_strdup_printf ("incident %ld", (long) incident_id);
  guint before = playback_audit_before;
  gint64 until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (test_console_count_audit (console, &logins[AUDITOR], "playback", target, NULL) == before
         && g_get_monotonic_time () < until)
    g_usleep (100000);
  g_autoptr (JsonObject) entry = NULL;
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "playback", target, &entry), ==,
    before + 1);
  JsonObject *d = json_object_get_object_member (entry, "detail");
  g_assert_cmpint (json_object_get_int_member (d, "requests"), ==, 5);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (d, "segments")), ==, 1);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (d, "ranges")), ==, 1);
}

/* A site identity others can read: the panel refuses to start. */
static void
test_unsafe_identity_refused (void)
{
  g_autofree char *key = g_build_filename (dir, "open-site.key", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (desk->site_key_path, &text, NULL, NULL));
  g_assert_true (g_file_set_contents (key, text, -1, NULL));
  g_assert_cmpint (g_chmod (key, 0644), ==, 0);
  g_autofree char *conf = g_build_filename (dir, "unsafe.conf", NULL);
  g_autofree char *data = g_build_filename (dir, "unsafe-panel", NULL);
  g_autofree char *body =
    g_strdup_printf ("[panel]\ndata_dir = %s\nport = 0\nsite_identity = %s\n", data, key);
  g_assert_true (g_file_set_contents (conf, body, -1, NULL));
  g_autofree char *exe = test_build_path ("panel/ansim-panel");
  const char *argv[] = { exe, "--config", conf, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) p = g_subprocess_newv (
    argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, &error);
  g_assert_no_error (error);
  g_autofree char *out = NULL;
  g_subprocess_communicate_utf8 (p, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (test_exit_code (p), !=, 0);
  g_assert_nonnull (strstr (out, "site_identity"));
  g_assert_nonnull (strstr (out, "0644"));
}

static gboolean
desk_all_sent (gpointer data)
{
  (void) data;
  return test_desk_count (desk, "confirmed_at_us IS NULL") == 0;
}

static int
run_ansimctl_verify (const char *package, char **out)
{
  g_autofree char *ctl = test_build_path ("ansimctl/ansimctl");
  const char *argv[] = { ctl, "verify", package, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) p = g_subprocess_newv (
    argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (p, NULL, NULL, out, NULL, &error);
  g_assert_no_error (error);
  return test_exit_code (p);
}

static void
run_shell (const char *cwd, const char *command)
{
  g_autoptr (GError) error = NULL;
  const char *argv[] = { "sh", "-c", command, NULL };
  g_autoptr (GSubprocessLauncher) l =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_cwd (l, cwd);
  g_autoptr (GSubprocess) p = g_subprocess_launcher_spawnv (l, argv, &error);
  g_assert_no_error (error);
  g_autofree char *out = NULL;
  g_subprocess_communicate_utf8 (p, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  if (test_exit_code (p) != 0)
    g_error ("%s: %s", command, out);
}

static gboolean
panel_tmp_empty (gpointer path)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  return d != NULL && g_dir_read_name (d) == NULL;
}

/* POST path with body as the security user (CSRF token sent). */
static SoupMessage *
export_message (const char *path, const char *body)
{
  g_autofree char *url = g_strconcat (panel->url, path, NULL);
  SoupMessage *msg = soup_message_new ("POST", url);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  soup_message_headers_replace (h, "Cookie", logins[SECURITY].cookie);
  soup_message_headers_replace (h, "X-CSRF-Token", logins[SECURITY].csrf);
  g_autoptr (GBytes) b = g_bytes_new (body, strlen (body));
  soup_message_set_request_body_from_bytes (msg, "application/json", b);
  return msg;
}

/* (The package's MP4, report and register: test-export.c, with real
 * video; these segments are random bytes, exported without media.) */
static void
test_export (void)
{
  g_assert_true (test_wait_until (desk_all_sent, NULL, 15));
  g_autofree char *path = g_strdup_printf ("/api/incidents/%ld/export", (long) incident_id);
  g_autofree char *target = g_strdup_printf ("incident %ld", (long) incident_id);
  guint before = test_console_count_audit (console, &logins[AUDITOR], "export", target, NULL);
  for (int r = TRAINER; r <= AUDITOR; r += 2)
    g_assert_cmpuint (test_console_post (console, path, &logins[r], TRUE, EXPORT_BODY, NULL), ==,
                      403);
  test_console_refused (console, path, &logins[SECURITY],
                        "{\"media\": \"yes\", \"recipient\": \"a\", \"purpose\": \"b\", "
                        "\"legal_basis\": \"c\"}",
                        400, "media is true or false");
  test_console_refused (console, "/api/incidents/999999/export", &logins[SECURITY], EXPORT_BODY,
                        404, "no such incident");
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR], "export", target, NULL),
                    ==, before);

  g_autoptr (SoupMessage) msg = export_message (path, EXPORT_BODY);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) tar = soup_session_send_and_read (console->http, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  g_assert_nonnull (strstr (
    soup_message_headers_get_one (soup_message_get_response_headers (msg), "Content-Disposition"),
    ".tar"));
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR], "export", target, NULL),
                    ==, before + 1);
  g_assert_cmpstr (
    soup_message_headers_get_one (soup_message_get_response_headers (msg), "X-Ansim-Video"), ==,
    "not-asked");
  /* Streamed with its length known, and the audit entry (written before
   * the first byte went out) names exactly the bytes that arrived. */
  g_assert_cmpint (
    soup_message_headers_get_content_length (soup_message_get_response_headers (msg)), ==,
    g_bytes_get_size (tar));
  {
    g_autoptr (JsonNode) audit =
      test_console_get_ok (console, "/api/audit?limit=1", &logins[AUDITOR]);
    JsonObject *entry = json_array_get_object_element (
      json_object_get_array_member (json_node_get_object (audit), "entries"), 0);
    g_assert_cmpstr (json_object_get_string_member (entry, "action"), ==, "export");
    JsonObject *d = json_object_get_object_member (entry, "detail");
    g_autofree char *sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, tar);
    g_assert_cmpstr (json_object_get_string_member (d, "package_sha256"), ==, sha);
    g_assert_cmpint (json_object_get_int_member (d, "size"), ==, g_bytes_get_size (tar));
  }
  g_autofree char *work = g_build_filename (dir, "export", NULL);
  g_assert_cmpint (g_mkdir_with_parents (work, 0700), ==, 0);
  g_autofree char *package = g_build_filename (work, "package.tar", NULL);
  g_assert_true (
    g_file_set_contents (package, g_bytes_get_data (tar, NULL), g_bytes_get_size (tar), NULL));

  g_autofree char *out = NULL;
  int rc = run_ansimctl_verify (package, &out);
  g_test_message ("ansimctl verify on the package:\n%s", out);
  g_assert_cmpint (rc, ==, 0);
  g_assert_nonnull (strstr (out, "OK: the package is intact"));
  /* The checkpoints the panel kept are in the package, and agree. */
  g_assert_nonnull (strstr (out, "signed checkpoints agree"));

  /* Peers agree: GNU tar lists it, sha256sum checks its SHA256SUMS. */
  g_autofree char *top = g_strdup_printf ("ansim-incident-%ld", (long) incident_id);
  run_shell (work, "tar -xf package.tar");
  g_autofree char *cmd = g_strdup_printf ("cd %s && sha256sum --quiet -c SHA256SUMS && "
                                          "test -s incident/manifest.json.sig && "
                                          "test -s incident/checkpoints/checkpoint-000000.sig && "
                                          "grep -q '\"intact\" : true' report.json && "
                                          "grep -q '\"video\" : null' report.json && "
                                          "grep -q 'not included' report.html && "
                                          "grep -q '<h1>' report.html",
                                          top);
  run_shell (work, cmd);

  /* Nothing of the package stays behind, not even when the client goes
   * away in the middle of a download. */
  g_autofree char *panel_tmp = g_build_filename (dir, "panel-tmp", NULL);
  g_autofree char *export_work = g_build_filename (panel->dir, "export-work", NULL);
  g_assert_true (test_wait_until (panel_tmp_empty, panel_tmp, 5));
  g_assert_true (test_wait_until (panel_tmp_empty, export_work, 5));
  {
    g_autoptr (SoupSession) once = soup_session_new ();
    g_autoptr (SoupMessage) partial = export_message (path, EXPORT_BODY);
    g_autoptr (GInputStream) in = soup_session_send (once, partial, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (partial), ==, 200);
    char first[512];
    g_assert_cmpint (g_input_stream_read (in, first, sizeof first, NULL, &error), >, 0);
    g_assert_no_error (error);
    /* Mid-download: the package is in memory files, not in TMPDIR. */
    g_assert_true (panel_tmp_empty (panel_tmp));
    g_input_stream_close (in, NULL, NULL);
    soup_session_abort (once);
  }
  g_assert_true (test_wait_until (panel_tmp_empty, panel_tmp, 5));
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR], "export", target, NULL),
                    ==, before + 2);

  /* A changed byte in a segment is found. */
  g_autofree char *tamper = g_strdup_printf (
    "printf 'X' | dd of=%s/incident/seg-000000.mkv.age bs=1 seek=300 conv=notrunc 2>/dev/null && "
    "tar -cf tampered.tar %s",
    top, top);
  run_shell (work, tamper);
  g_autofree char *tampered = g_build_filename (work, "tampered.tar", NULL);
  g_autofree char *out2 = NULL;
  g_assert_cmpint (run_ansimctl_verify (tampered, &out2), ==, 1);
  g_assert_nonnull (strstr (out2, "checksum mismatch: incident/seg-000000.mkv.age"));
  g_assert_nonnull (strstr (out2, "altered segment"));
}

static guint
n_listed (const char *query)
{
  g_autofree char *path = g_strconcat ("/api/incidents", query, NULL);
  g_autoptr (JsonNode) node = test_console_get_ok (console, path, &logins[TRAINER]);
  return json_array_get_length (
    json_object_get_array_member (json_node_get_object (node), "incidents"));
}

static void
test_list_filters (void)
{
  /* A second incident, a drill-free open one. */
  TestIncident *second = test_incident_open (desk);
  g_autofree char *sock = g_build_filename (desk->dir, "uploader.sock", NULL);
  g_assert_true (ansim_outbox_wake_uploader (sock, NULL));
  g_autoptr (JsonNode) ev = wait_event ("incident", 10, NULL);
  (void) ev; /* kept for its cleanup */
  test_incident_close (second);

  g_assert_cmpuint (n_listed (""), ==, 2);
  g_assert_cmpuint (n_listed ("?status=resolved"), ==, 1);
  g_assert_cmpuint (n_listed ("?status=open"), ==, 1);
  g_assert_cmpuint (n_listed ("?status=unresolved"), ==, 1);
  g_assert_cmpuint (n_listed ("?desk=desk-1"), ==, 2);
  g_assert_cmpuint (n_listed ("?desk=desk-9"), ==, 0);
  g_assert_cmpuint (n_listed ("?drill=0"), ==, 2);
  g_assert_cmpuint (n_listed ("?drill=1"), ==, 0);
  g_assert_cmpuint (n_listed ("?category=verbal-abuse"), ==, 1);
  g_assert_cmpuint (n_listed ("?category=medical"), ==, 0);
  g_assert_cmpuint (n_listed ("?limit=1"), ==, 1);
  g_autofree char *future =
    g_strdup_printf ("?since_us=%" G_GINT64_FORMAT, g_get_real_time () + G_USEC_PER_SEC);
  g_assert_cmpuint (n_listed (future), ==, 0);
  g_autofree char *past = g_strdup_printf ("?until_us=%" G_GINT64_FORMAT, quiet_enrolled_us);
  g_assert_cmpuint (n_listed (past), ==, 0);
}

static JsonObject *
find_device (JsonArray *devices, const char *id)
{
  for (guint i = 0; i < json_array_get_length (devices); i++)
    {
      JsonObject *d = json_array_get_object_element (devices, i);
      if (g_str_equal (json_object_get_string_member (d, "id"), id))
        return d;
    }
  g_error ("device %s not listed", id);
}

static void
test_devices_and_offline (void)
{
  /* The quiet device raises its alert once, OFFLINE_AFTER_S after it was
   * last heard of (its enrollment), noticed within a quarter of that. */
  g_autoptr (JsonNode) ev = wait_event ("device-offline", OFFLINE_AFTER_S + 5, NULL);
  JsonObject *o = json_node_get_object (ev);
  g_assert_cmpstr (json_object_get_string_member (o, "device"), ==, "desk-1-spare");
  g_assert_cmpstr (json_object_get_string_member (o, "desk_name"), ==, "민원실 1번 창구");
  gint64 late = g_get_real_time () - quiet_enrolled_us;
  g_test_message ("offline alert %.1f s after the last sign of life (limit %d s)", late / 1e6,
                  OFFLINE_AFTER_S);
  g_assert_cmpint (late, >=, OFFLINE_AFTER_S * G_USEC_PER_SEC);
  g_assert_cmpint (late, <, (OFFLINE_AFTER_S + 4) * G_USEC_PER_SEC);

  g_autoptr (JsonNode) node = test_console_get_ok (console, "/api/devices", &logins[SECURITY]);
  JsonArray *devices = json_object_get_array_member (json_node_get_object (node), "devices");
  JsonObject *board = find_device (devices, "dev-1");
  JsonObject *spare = find_device (devices, "desk-1-spare");
  g_assert_true (json_object_get_boolean_member (board, "online"));
  g_assert_false (json_object_get_boolean_member (spare, "online"));
  g_assert_true (json_object_has_member (board, "queue_length"));
  g_assert_false (json_object_get_null_member (board, "disk_free_bytes"));
  g_assert_false (json_object_get_null_member (board, "clock_offset_us"));
  g_assert_cmpint (ABS (json_object_get_int_member (board, "clock_offset_us")), <,
                   2 * G_USEC_PER_SEC);
  g_assert_false (json_object_get_null_member (board, "last_upload_at_us"));
  g_assert_true (json_object_get_null_member (spare, "last_seen_at_us"));

  /* Published and recorded once, not at every check. */
  g_usleep (3 * G_USEC_PER_SEC);
  g_assert_cmpint (test_panel_count (panel,
                                     "SELECT count(*) FROM events WHERE kind = "
                                     "'device-offline' AND json_extract (detail, '$.device') = "
                                     "'desk-1-spare'"),
                   ==, 1);
  g_assert_cmpint (test_panel_count (panel,
                                     "SELECT count(*) FROM events WHERE kind = "
                                     "'device-offline' AND json_extract (detail, '$.device') = "
                                     "'dev-1'"),
                   ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  set_up ();
  g_test_add_func ("/console-live/alert-reaches-console", test_alert_reaches_console);
  g_test_add_func ("/console-live/roles", test_roles);
  g_test_add_func ("/console-live/bad-input", test_bad_input);
  g_test_add_func ("/console-live/playback", test_playback);
  g_test_add_func ("/console-live/unsafe-identity-refused", test_unsafe_identity_refused);
  g_test_add_func ("/console-live/acknowledge", test_acknowledge);
  g_test_add_func ("/console-live/resolve-and-notes", test_resolve_and_notes);
  g_test_add_func ("/console-live/export", test_export);
  g_test_add_func ("/console-live/list-filters", test_list_filters);
  g_test_add_func ("/console-live/devices-and-offline", test_devices_and_offline);
  g_test_add_func ("/console-live/playback-audit", test_playback_audit);
  int rc = g_test_run ();
  tear_down ();
  return rc;
}
