/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Drills end to end over real HTTP on loopback: a real ansim-panel, two
 * desks whose outboxes are filled as the recorder fills them and a real
 * ansim-uploader for each. A trainer arms a drill, the desk presses, the
 * alert arrives tagged as a drill, security's console shows and
 * acknowledges it (the desk learns it), the trainer records arrival and
 * ends the drill; the report's figures are checked against the stored
 * timestamps and the times this test measured around each step. A real
 * press on another desk during the window stays real. Roles, bad input,
 * conflicts, the schedule, CSV export and the export package's flag. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "db.h"
#include "outbox.h"
#include "test-console.h"
#include "upload-helpers.h"

#define PASSWORD "drill-test-password-1"

static const char *const roles[] = { "security", "trainer", "admin", "auditor" };
enum { SECURITY, TRAINER, ADMIN, AUDITOR };

static char *dir;
static TestPanel *panel;
static TestDesk *desk1, *desk2;
static GSubprocess *uploader1, *uploader2;
static TestConsole *console;
static TestLogin logins[4];

static gint64
panel_int (const char *sql)
{
  return test_panel_count (panel, sql);
}

/* ---- set-up ----------------------------------------------------------- */

static void
set_up (void)
{
  g_autoptr (GError) error = NULL;
  dir = g_dir_make_tmp ("ansim-drills-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *d1 = g_build_filename (dir, "desk1", NULL);
  g_autofree char *d2 = g_build_filename (dir, "desk2", NULL);
  g_autofree char *pd = g_build_filename (dir, "panel", NULL);
  desk1 = test_desk_new_at (d1, "dev-1", "desk-1", "민원실 1번 창구");
  desk2 = test_desk_new_at (d2, "dev-2", "desk-2", "민원실 2번 창구");
  panel = test_panel_new (pd, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    test_add_user (panel->conf, roles[i], roles[i], PASSWORD);
  test_panel_start (panel);
  test_panel_enroll (panel, desk1, "dev-1");
  test_panel_enroll (panel, desk2, "dev-2");
  uploader1 = test_uploader_start (desk1, panel->url, NULL);
  uploader2 = test_uploader_start (desk2, panel->url, NULL);
  console = test_console_new (panel->url, NULL, 10);
  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    test_console_login (console, roles[i], PASSWORD, &logins[i]);
}

static void
tear_down (void)
{
  g_clear_pointer (&console, test_console_free);
  test_process_stop (uploader1, SIGTERM);
  test_process_stop (uploader2, SIGTERM);
  g_clear_object (&uploader1);
  g_clear_object (&uploader2);
  g_clear_pointer (&panel, test_panel_free);
  g_clear_pointer (&desk1, test_desk_free);
  g_clear_pointer (&desk2, test_desk_free);
  for (guint i = 0; i < G_N_ELEMENTS (logins); i++)
    test_login_clear (&logins[i]);
  test_rm_rf (dir);
  g_free (dir);
}

/* ---- helpers ---------------------------------------------------------- */

static gint64
desk_opened_wall_us (TestDesk *desk, TestIncident *incident)
{
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (desk->db, "SELECT opened_wall_us FROM incidents WHERE id = ?1", NULL);
  sqlite3_bind_int64 (stmt, 1, test_incident_get_id (incident));
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  return sqlite3_column_int64 (stmt, 0);
}

static gboolean
desk_acknowledged (gpointer data)
{
  TestIncident *incident = data;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    desk1->db, "SELECT count(*) FROM events WHERE kind = 'acknowledged' AND incident_id = ?1",
    NULL);
  sqlite3_bind_int64 (stmt, 1, test_incident_get_id (incident));
  return sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_int64 (stmt, 0) > 0;
}

static gint64
arm (const char *desks_json, gint64 start, gint64 end)
{
  g_autofree char *body = g_strdup_printf ("{\"desks\":%s,\"start_us\":%" G_GINT64_FORMAT
                                           ",\"end_us\":%" G_GINT64_FORMAT
                                           ",\"note\":\"Q4 scenario: verbal abuse\"}",
                                           desks_json, start, end);
  g_autoptr (JsonNode) node =
    test_console_post_ok (console, "/api/drills", &logins[TRAINER], body, 201);
  JsonObject *drill = json_object_get_object_member (json_node_get_object (node), "drill");
  g_assert_cmpstr (json_object_get_string_member (drill, "armed_by"), ==, "trainer");
  return json_object_get_int_member (drill, "id");
}

/* sql_prefix ends in "= ": the id follows. */
static gint64
panel_time (const char *sql_prefix, gint64 id)
{
  g_autofree char *sql = g_strdup_printf ("%s%" G_GINT64_FORMAT, sql_prefix, id);
  return panel_int (sql);
}

/* A figure of a report row, or -1 when null. */
static gint64
figure (JsonObject *row, const char *name)
{
  JsonNode *n = json_object_get_member (row, name);
  g_assert_nonnull (n);
  return JSON_NODE_HOLDS_NULL (n) ? -1 : json_node_get_int (n);
}

/* ---- tests ------------------------------------------------------------ */

/* Wrong roles and bad input are refused with a clear error and change
 * nothing (no drill, no audit entry). */
static void
test_refusals (void)
{
  gint64 now = g_get_real_time ();
  g_autofree char *good = g_strdup_printf ("{\"desks\":[\"desk-1\"],\"start_us\":%" G_GINT64_FORMAT
                                           ",\"end_us\":%" G_GINT64_FORMAT "}",
                                           now, now + 600 * G_USEC_PER_SEC);
  guint audit_before = panel_int ("SELECT count(*) FROM audit_log");
  guint status = 0;

  test_console_refused (console, "/api/drills", &logins[SECURITY], good, 403, "forbidden");
  test_console_refused (console, "/api/drills", &logins[AUDITOR], good, 403, "forbidden");
  test_console_refused (console, "/api/drills", NULL, good, 401, "not-logged-in");
  {
    g_autofree char *reply = test_console_request (console, "POST", "/api/drills", &logins[TRAINER],
                                                   TEST_CSRF_NONE, "application/json", good, 0,
                                                   &status, NULL);
    g_assert_cmpuint (status, ==, 403);
    g_assert_nonnull (strstr (reply, "csrf"));
  }
  /* Security must not learn in advance that a drill is armed. */
  g_free (test_console_request (console, "GET", "/api/drills", &logins[SECURITY], TEST_CSRF_NONE,
                                "application/json", NULL, 0, &status, NULL));
  g_assert_cmpuint (status, ==, 403);
  g_free (test_console_request (console, "GET", "/api/reports", &logins[SECURITY], TEST_CSRF_NONE,
                                "application/json", NULL, 0, &status, NULL));
  g_assert_cmpuint (status, ==, 403);
  /* The auditor reads. */
  g_autoptr (JsonNode) list = test_console_get_ok (console, "/api/drills", &logins[AUDITOR]);
  g_assert_cmpuint (
    json_array_get_length (json_object_get_array_member (json_node_get_object (list), "drills")),
    ==, 0);
  g_autoptr (JsonNode) rep =
    test_console_get_ok (console, "/api/reports?kind=drill", &logins[AUDITOR]);
  (void) rep;

  g_autofree char *backwards = g_strdup_printf (
    "{\"desks\":[\"desk-1\"],\"start_us\":%" G_GINT64_FORMAT ",\"end_us\":%" G_GINT64_FORMAT "}",
    now + 600 * G_USEC_PER_SEC, now);
  test_console_refused (console, "/api/drills", &logins[TRAINER], backwards, 400,
                        "end (end_us) must be after");
  g_autofree char *unknown =
    g_strdup_printf ("{\"desks\":[\"desk-1\",\"desk-9\"],\"start_us\":%" G_GINT64_FORMAT
                     ",\"end_us\":%" G_GINT64_FORMAT "}",
                     now, now + 600 * G_USEC_PER_SEC);
  test_console_refused (console, "/api/drills", &logins[TRAINER], unknown, 400,
                        "unknown desk \\\"desk-9\\\"");
  g_autofree char *past = g_strdup_printf (
    "{\"desks\":[\"desk-1\"],\"start_us\":%" G_GINT64_FORMAT ",\"end_us\":%" G_GINT64_FORMAT "}",
    now - G_GINT64_CONSTANT (7200000000), now - G_GINT64_CONSTANT (3600000000));
  test_console_refused (console, "/api/drills", &logins[TRAINER], past, 400, "already ended");
  test_console_refused (console, "/api/drills", &logins[TRAINER],
                        "{\"desks\":[],\"start_us\":1,\"end_us\":2}", 400, "desks must be");
  test_console_refused (console, "/api/drills", &logins[TRAINER],
                        "{\"desks\":[\"desk-1\"],\"start_us\":\"soon\",\"end_us\":2}", 400,
                        "start_us must be");
  test_console_refused (console, "/api/drills", &logins[TRAINER],
                        "{\"desks\":[\"desk-1\"],\"start_us\":1,\"end_us\":2,\"loud\":true}", 400,
                        "unknown member");
  test_console_refused (console, "/api/drills", &logins[TRAINER], "[", 400, "not a JSON object");
  test_console_refused (console, "/api/drills/1/end", &logins[TRAINER], NULL, 404, "no such drill");
  test_console_refused (console, "/api/drills/x/end", &logins[TRAINER], NULL, 400, "drill id");
  test_console_refused (console, "/api/drills/schedule", &logins[TRAINER], "{\"every_days\":0}",
                        400, "every_days");
  test_console_refused (console, "/api/drills/schedule", &logins[TRAINER],
                        "{\"desk\":\"desk-9\",\"every_days\":30}", 400, "unknown desk");
  test_console_refused (console, "/api/drills/schedule", &logins[SECURITY], "{\"every_days\":30}",
                        403, "forbidden");
  g_free (test_console_request (console, "GET", "/api/reports?kind=maybe", &logins[TRAINER],
                                TEST_CSRF_NONE, "application/json", NULL, 0, &status, NULL));
  g_assert_cmpuint (status, ==, 400);

  /* Every route that changes something: no session 401, no CSRF token
   * 403, a wrong role 403, an oversized body 413, odd ids 400/404. */
  static const char *const writes[] = { "/api/drills",
                                        "/api/drills/1/arrival",
                                        "/api/drills/1/end",
                                        "/api/drills/schedule",
                                        "/api/drills/schedule/1/remove",
                                        "/api/incidents/1/shown",
                                        "/api/incidents/1/not-a-drill",
                                        NULL };
  for (guint i = 0; writes[i] != NULL; i++)
    {
      g_autofree char *a = test_console_request (console, "POST", writes[i], NULL, TEST_CSRF_NONE,
                                                 "application/json", "{}", 0, &status, NULL);
      (void) a;
      g_assert_cmpuint (status, ==, 401);
      g_autofree char *b = test_console_request (console, "POST", writes[i], &logins[ADMIN],
                                                 TEST_CSRF_NONE, "application/json", "{}", 0,
                                                 &status, NULL);
      g_assert_cmpuint (status, ==, 403);
      g_assert_nonnull (strstr (b, "csrf"));
      g_autofree char *c = test_console_request (console, "POST", writes[i], &logins[AUDITOR],
                                                 TEST_CSRF_RIGHT, "application/json", "{}", 0,
                                                 &status, NULL);
      g_assert_cmpuint (status, ==, 403);
      g_assert_nonnull (strstr (c, "forbidden"));
      g_autofree char *big = g_strnfill (70 * 1024, ' ');
      g_autofree char *d = test_console_request (console, "POST", writes[i], &logins[ADMIN],
                                                 TEST_CSRF_RIGHT, "application/json", big, 0,
                                                 &status, NULL);
      (void) d;
      g_assert_cmpuint (status, ==, 413);
    }
  static const char *const odd[] = { "/api/drills/-1/end",   "/api/drills/0/end",
                                     "/api/drills/1x/end",   "/api/drills/1/end/now",
                                     "/api/drills/1/%2e%2e", "/api/drills/schedule/x/remove",
                                     "/api/drillsx",         NULL };
  for (guint i = 0; odd[i] != NULL; i++)
    {
      g_autofree char *reply = test_console_request (console, "POST", odd[i], &logins[TRAINER],
                                                     TEST_CSRF_RIGHT, "application/json", "{}", 0,
                                                     &status, NULL);
      if (status != 400 && status != 404)
        g_error ("POST %s: %u %s", odd[i], status, reply);
    }
  g_free (test_console_request (console, "PUT", "/api/drills", &logins[TRAINER], TEST_CSRF_RIGHT,
                                "application/json", "{}", 0, &status, NULL));
  g_assert_cmpuint (status, ==, 405);

  g_assert_cmpint (panel_int ("SELECT count(*) FROM drills"), ==, 0);
  g_assert_cmpint (panel_int ("SELECT count(*) FROM drill_desks"), ==, 0);
  g_assert_cmpint (panel_int ("SELECT count(*) FROM drill_schedules"), ==, 0);
  g_assert_cmpint (panel_int ("SELECT count(*) FROM audit_log"), ==, audit_before);
}

/* Arm, press, alert, shown, acknowledge, arrival, resolve, end; the report
 * against the stored times and this test's own clock around each step.
 * Meanwhile a real press on desk-2 stays real. */
static void
test_full_drill (void)
{
  gint64 now = g_get_real_time ();
  gint64 drill = arm ("[\"desk-1\"]", now - G_USEC_PER_SEC, now + 600 * G_USEC_PER_SEC);
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR], "drill-armed", NULL, NULL),
                    ==, 1);
  /* It was asked to start a second ago: it starts when armed. */
  g_assert_cmpint (panel_int ("SELECT window_start_us - armed_at_us FROM drills"), ==, 0);
  g_autofree char *arrival_path =
    g_strdup_printf ("/api/drills/%" G_GINT64_FORMAT "/arrival", drill);
  test_console_refused (console, arrival_path, &logins[TRAINER], "{\"desk\":\"desk-1\"}", 409,
                        "nobody has pressed");
  test_console_refused (console, arrival_path, &logins[TRAINER], "{\"desk\":\"desk-2\"}", 400,
                        "not part of drill");
  test_console_refused (console, arrival_path, &logins[TRAINER], "{}", 400, "desk (the desk");
  /* A second drill overlapping on the same desk would be ambiguous. */
  {
    g_autofree char *body = g_strdup_printf (
      "{\"desks\":[\"desk-1\"],\"start_us\":%" G_GINT64_FORMAT ",\"end_us\":%" G_GINT64_FORMAT "}",
      now, now + 60 * G_USEC_PER_SEC);
    test_console_refused (console, "/api/drills", &logins[TRAINER], body, 409,
                          "already armed by drill");
  }

  /* A real press at another desk during the window stays real. */
  gint64 real_id = 0;
  TestIncident *real = test_desk_press (desk2, panel, 16 * 1024, &real_id);
  g_autofree char *real_path = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT, real_id);
  {
    g_autoptr (JsonNode) node = test_console_get_ok (console, real_path, &logins[SECURITY]);
    JsonObject *inc = json_object_get_object_member (json_node_get_object (node), "incident");
    g_assert_false (json_object_get_boolean_member (inc, "is_drill"));
    g_assert_cmpstr (json_object_get_string_member (inc, "desk_id"), ==, "desk-2");
  }

  /* The drill press. */
  gint64 t_press = g_get_real_time ();
  gint64 id = 0;
  TestIncident *incident = test_desk_press (desk1, panel, 16 * 1024, &id);
  gint64 t_alerted = g_get_real_time ();
  g_autofree char *path = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT, id);
  {
    g_autoptr (JsonNode) node = test_console_get_ok (console, path, &logins[SECURITY]);
    JsonObject *inc = json_object_get_object_member (json_node_get_object (node), "incident");
    g_assert_true (json_object_get_boolean_member (inc, "is_drill"));
    /* the timeline says why */
    JsonArray *timeline = json_object_get_array_member (json_node_get_object (node), "timeline");
    gboolean tagged = FALSE;
    for (guint i = 0; i < json_array_get_length (timeline); i++)
      tagged |= g_strcmp0 (json_object_get_string_member (
                             json_array_get_object_element (timeline, i), "what"),
                           "drill-tagged")
                == 0;
    g_assert_true (tagged);
  }
  /* The list filters drills from real incidents. */
  {
    g_autoptr (JsonNode) drills =
      test_console_get_ok (console, "/api/incidents?drill=1", &logins[SECURITY]);
    JsonArray *a = json_object_get_array_member (json_node_get_object (drills), "incidents");
    g_assert_cmpuint (json_array_get_length (a), ==, 1);
    g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (a, 0), "id"), ==,
                     id);
    g_autoptr (JsonNode) reals =
      test_console_get_ok (console, "/api/incidents?drill=0", &logins[SECURITY]);
    a = json_object_get_array_member (json_node_get_object (reals), "incidents");
    g_assert_cmpuint (json_array_get_length (a), ==, 1);
    g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (a, 0), "id"), ==,
                     real_id);
  }

  /* Security's console shows the banner, then a second console; only the
   * first counts. The trainer's console is not security's response. */
  g_autofree char *shown_path = g_strdup_printf ("%s/shown", path);
  gint64 t_shown0 = g_get_real_time ();
  g_autoptr (JsonNode) shown =
    test_console_post_ok (console, shown_path, &logins[SECURITY], NULL, 200);
  gint64 t_shown1 = g_get_real_time ();
  g_assert_true (json_object_get_boolean_member (json_node_get_object (shown), "first"));
  g_autoptr (JsonNode) shown2 =
    test_console_post_ok (console, shown_path, &logins[ADMIN], NULL, 200);
  g_assert_false (json_object_get_boolean_member (json_node_get_object (shown2), "first"));
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (shown2), "shown_by"), ==,
                   "security");
  test_console_refused (console, shown_path, &logins[TRAINER], NULL, 403, "forbidden");

  g_autofree char *ack_path = g_strdup_printf ("%s/acknowledge", path);
  gint64 t_ack0 = g_get_real_time ();
  g_autoptr (JsonNode) acked =
    test_console_post_ok (console, ack_path, &logins[SECURITY], NULL, 200);
  (void) acked;
  gint64 t_ack1 = g_get_real_time ();
  /* The same path as a real press: the desk's "help is coming" light. */
  g_assert_true (test_wait_until (desk_acknowledged, incident, 15));

  gint64 t_arr0 = g_get_real_time ();
  g_autoptr (JsonNode) arrived =
    test_console_post_ok (console, arrival_path, &logins[TRAINER], "{\"desk\":\"desk-1\"}", 200);
  (void) arrived;
  gint64 t_arr1 = g_get_real_time ();
  test_console_refused (console, arrival_path, &logins[TRAINER], "{\"desk\":\"desk-1\"}", 409,
                        "already recorded");
  test_console_refused (console, arrival_path, &logins[SECURITY], "{\"desk\":\"desk-1\"}", 403,
                        "forbidden");

  g_autofree char *resolve_path = g_strdup_printf ("%s/resolve", path);
  gint64 t_res0 = g_get_real_time ();
  g_autoptr (JsonNode) resolved =
    test_console_post_ok (console, resolve_path, &logins[SECURITY],
                          "{\"category\":\"drill\",\"note\":\"drill ok\"}", 200);
  (void) resolved;
  gint64 t_res1 = g_get_real_time ();

  g_autofree char *end_path = g_strdup_printf ("/api/drills/%" G_GINT64_FORMAT "/end", drill);
  test_console_refused (console, end_path, &logins[AUDITOR], NULL, 403, "forbidden");
  g_autoptr (JsonNode) ended =
    test_console_post_ok (console, end_path, &logins[TRAINER], NULL, 200);
  g_assert_cmpstr (
    json_object_get_string_member (
      json_object_get_object_member (json_node_get_object (ended), "drill"), "state"),
    ==, "ended");
  test_console_refused (console, end_path, &logins[TRAINER], NULL, 409, "already ended");

  /* Each drill action is one audit entry. */
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR], "drill-armed", NULL, NULL),
                    ==, 1);
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "drill-arrival", NULL, NULL), ==, 1);
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR], "drill-ended", NULL, NULL),
                    ==, 1);

  /* The report against the stored times... */
  gint64 pressed = desk_opened_wall_us (desk1, incident);
  gint64 alerted = panel_time ("SELECT alerted_at_us FROM incidents WHERE id = ", id);
  gint64 shown_at = panel_time ("SELECT at_wall_us FROM events WHERE kind = 'alert-shown' AND "
                                "incident_id = ",
                                id);
  gint64 acked_at = panel_time ("SELECT acknowledged_at_us FROM incidents WHERE id = ", id);
  gint64 arrived_at = panel_time ("SELECT arrived_at_us FROM drill_desks WHERE drill_id = ", drill);
  gint64 resolved_at = panel_time ("SELECT resolved_at_us FROM incidents WHERE id = ", id);
  /* ...and the stored times against this test's clock around each step. */
  g_assert_cmpint (t_press, <=, pressed);
  g_assert_cmpint (pressed, <=, alerted);
  g_assert_cmpint (alerted, <=, t_alerted);
  g_assert_cmpint (t_shown0, <=, shown_at);
  g_assert_cmpint (shown_at, <=, t_shown1);
  g_assert_cmpint (t_ack0, <=, acked_at);
  g_assert_cmpint (acked_at, <=, t_ack1);
  g_assert_cmpint (t_arr0, <=, arrived_at);
  g_assert_cmpint (arrived_at, <=, t_arr1);
  g_assert_cmpint (t_res0, <=, resolved_at);
  g_assert_cmpint (resolved_at, <=, t_res1);

  g_autofree char *drill_path = g_strdup_printf ("/api/drills/%" G_GINT64_FORMAT, drill);
  g_autoptr (JsonNode) report = test_console_get_ok (console, drill_path, &logins[AUDITOR]);
  JsonArray *rows = json_object_get_array_member (json_node_get_object (report), "report");
  g_assert_cmpuint (json_array_get_length (rows), ==, 1);
  JsonObject *row = json_array_get_object_element (rows, 0);
  g_assert_cmpint (figure (row, "incident_id"), ==, id);
  g_assert_cmpint (figure (row, "pressed_at_us"), ==, pressed);
  g_assert_cmpint (figure (row, "press_to_alert_us"), ==, alerted - pressed);
  g_assert_cmpint (figure (row, "press_to_shown_us"), ==, shown_at - pressed);
  g_assert_cmpint (figure (row, "press_to_ack_us"), ==, acked_at - pressed);
  g_assert_cmpint (figure (row, "press_to_arrival_us"), ==, arrived_at - pressed);
  g_assert_cmpint (figure (row, "press_to_resolved_us"), ==, resolved_at - pressed);
  g_assert_cmpstr (json_object_get_string_member (row, "shown_by"), ==, "security");
  g_assert_cmpstr (json_object_get_string_member (row, "acknowledged_by"), ==, "security");
  g_assert_cmpstr (json_object_get_string_member (row, "arrived_by"), ==, "trainer");
  g_assert_cmpstr (json_object_get_string_member (row, "resolved_by"), ==, "security");
  g_test_message ("drill: press -> alert %.3f s, -> shown %.3f s, -> acknowledged %.3f s, "
                  "-> arrival %.3f s, -> resolved %.3f s",
                  (alerted - pressed) / 1e6, (shown_at - pressed) / 1e6, (acked_at - pressed) / 1e6,
                  (arrived_at - pressed) / 1e6, (resolved_at - pressed) / 1e6);

  /* Trends: one drill at desk-1; the real incident only in kind=real. */
  g_autoptr (JsonNode) trends =
    test_console_get_ok (console, "/api/reports?kind=drill", &logins[TRAINER]);
  JsonObject *t = json_object_get_object_member (json_node_get_object (trends), "trends");
  JsonArray *by_desk = json_object_get_array_member (t, "desk");
  g_assert_cmpuint (json_array_get_length (by_desk), ==, 1);
  JsonObject *d1 = json_array_get_object_element (by_desk, 0);
  g_assert_cmpstr (json_object_get_string_member (d1, "key"), ==, "desk-1");
  g_assert_cmpint (json_object_get_int_member (d1, "pressed"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (d1, "median_press_to_ack_us"), ==,
                   acked_at - pressed);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (t, "site")), ==, 1);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (t, "month")), ==, 1);
  g_autoptr (JsonNode) reals =
    test_console_get_ok (console, "/api/reports?kind=real", &logins[TRAINER]);
  JsonArray *real_rows = json_object_get_array_member (json_node_get_object (reals), "rows");
  g_assert_cmpuint (json_array_get_length (real_rows), ==, 1);
  g_assert_cmpint (figure (json_array_get_object_element (real_rows, 0), "incident_id"), ==,
                   real_id);
  g_assert_cmpint (figure (json_array_get_object_element (real_rows, 0), "press_to_ack_us"), ==,
                   -1);

  /* CSV: the same figures in seconds, and the export is audited. */
  guint status = 0;
  g_autofree char *csv = test_console_request (console, "GET", "/api/reports/export?kind=drill",
                                               &logins[TRAINER], TEST_CSRF_NONE, "application/json",
                                               NULL, 0, &status, NULL);
  g_assert_cmpuint (status, ==, 200);
  g_auto (GStrv) lines = g_strsplit (csv, "\r\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 3); /* header, one row, "" */
  g_assert_true (g_str_has_prefix (lines[0], "kind,drill,desk_id,desk_name,incident,pressed_at"));
  g_auto (GStrv) cells = g_strsplit (lines[1], ",", -1);
  g_assert_cmpuint (g_strv_length (cells), ==, 20);
  g_autofree char *ack_s = g_strdup_printf ("%" G_GINT64_FORMAT ".%06" G_GINT64_FORMAT,
                                            (acked_at - pressed) / G_USEC_PER_SEC,
                                            (acked_at - pressed) % G_USEC_PER_SEC);
  g_assert_cmpstr (cells[0], ==, "drill");
  g_assert_cmpstr (cells[10], ==, "security");
  g_assert_cmpstr (cells[17], ==, ack_s);
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "report-exported", NULL, NULL), ==, 1);

  /* The evidence package says it was a drill. */
  test_incident_close (incident);
  test_incident_close (real);
  g_autofree char *export_path = g_strdup_printf ("%s/export", path);
  gint64 end = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
  g_autoptr (GBytes) tar = NULL;
  for (;;)
    {
      g_autofree char *url = g_strconcat (panel->url, export_path, NULL);
      g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
      g_autoptr (GError) error = NULL;
      SoupMessageHeaders *h = soup_message_get_request_headers (msg);
      soup_message_headers_replace (h, "Cookie", logins[SECURITY].cookie);
      soup_message_headers_replace (h, "X-CSRF-Token", logins[SECURITY].csrf);
      static const char body[] = "{\"recipient\": \"훈련 평가\", \"purpose\": \"모의훈련 검토\", "
                                 "\"legal_basis\": \"내부 점검\"}";
      g_autoptr (GBytes) b = g_bytes_new_static (body, strlen (body));
      soup_message_set_request_body_from_bytes (msg, "application/json", b);
      g_clear_pointer (&tar, g_bytes_unref);
      tar = soup_session_send_and_read (console->http, msg, NULL, &error);
      g_assert_no_error (error);
      status = soup_message_get_status (msg);
      if (status == 200 || g_get_monotonic_time () > end)
        break;
      g_usleep (100000);
    }
  g_assert_cmpuint (status, ==, 200);
  gsize tar_size = 0;
  const char *tar_data = g_bytes_get_data (tar, &tar_size);
  static const char flag[] = "\"drill\" : true", banner[] = "모의훈련 · DRILL";
  g_assert_nonnull (memmem (tar_data, tar_size, flag, strlen (flag)));
  g_assert_nonnull (memmem (tar_data, tar_size, banner, strlen (banner)));

  /* After the end, a press at desk-1 inside the old window is real. */
  gint64 after_id = 0;
  TestIncident *after = test_desk_press (desk1, panel, 16 * 1024, &after_id);
  g_autofree char *after_sql =
    g_strdup_printf ("SELECT is_drill FROM incidents WHERE id = %" G_GINT64_FORMAT, after_id);
  g_assert_cmpint (panel_int (after_sql), ==, 0);
  test_incident_close (after);
}

/* Two desks in one drill; a second press at a desk whose drill already
 * caught its press is real. */
static void
test_several_desks (void)
{
  gint64 now = g_get_real_time ();
  gint64 drill = arm ("[\"desk-1\",\"desk-2\"]", now - G_USEC_PER_SEC, now + 600 * G_USEC_PER_SEC);
  gint64 a = 0, b = 0, c = 0;
  TestIncident *ia = test_desk_press (desk2, panel, 16 * 1024, &a);
  TestIncident *ib = test_desk_press (desk2, panel, 16 * 1024, &b);
  TestIncident *ic = test_desk_press (desk1, panel, 16 * 1024, &c);
  g_autofree char *sql = g_strdup_printf ("SELECT group_concat (is_drill, '') FROM (SELECT "
                                          "is_drill FROM incidents WHERE id IN (%" G_GINT64_FORMAT
                                          ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT
                                          ") ORDER BY id)",
                                          a, b, c);
  g_autoptr (sqlite3) db = test_panel_open_db (panel);
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (db, sql, NULL);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_assert_cmpstr ((const char *) sqlite3_column_text (stmt, 0), ==, "101");
  g_autofree char *path = g_strdup_printf ("/api/drills/%" G_GINT64_FORMAT, drill);
  g_autoptr (JsonNode) node = test_console_get_ok (console, path, &logins[TRAINER]);
  JsonArray *desks = json_object_get_array_member (
    json_object_get_object_member (json_node_get_object (node), "drill"), "desks");
  g_assert_cmpuint (json_array_get_length (desks), ==, 2);
  g_assert_cmpint (
    json_object_get_int_member (json_array_get_object_element (desks, 0), "incident_id"), ==, c);
  g_assert_cmpint (
    json_object_get_int_member (json_array_get_object_element (desks, 1), "incident_id"), ==, a);
  g_autofree char *end_path = g_strdup_printf ("%s/end", path);
  g_autoptr (JsonNode) ended = test_console_post_ok (console, end_path, &logins[ADMIN], "{}", 200);
  (void) ended;
  test_incident_close (ia);
  test_incident_close (ib);
  test_incident_close (ic);
}

/* The schedule: the site quarterly, desk-1 monthly, desk-2 yearly. */
static void
test_schedule (void)
{
  g_autoptr (JsonNode) s1 = test_console_post_ok (console, "/api/drills/schedule", &logins[TRAINER],
                                                  "{\"every_days\":91}", 200);
  (void) s1;
  g_autoptr (JsonNode) s2 = test_console_post_ok (console, "/api/drills/schedule", &logins[TRAINER],
                                                  "{\"desk\":\"desk-1\",\"every_days\":30}", 200);
  (void) s2;
  g_autoptr (JsonNode) s3 = test_console_post_ok (console, "/api/drills/schedule", &logins[TRAINER],
                                                  "{\"desk\":\"desk-2\",\"every_days\":365}", 200);
  (void) s3;
  /* Setting the site again replaces its row. */
  g_autoptr (JsonNode) s4 = test_console_post_ok (console, "/api/drills/schedule", &logins[ADMIN],
                                                  "{\"desk\":null,\"every_days\":92}", 200);
  (void) s4;
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "drill-schedule-set", NULL, NULL), ==, 4);
  g_autoptr (JsonNode) node =
    test_console_get_ok (console, "/api/drills/schedule", &logins[AUDITOR]);
  JsonArray *list = json_object_get_array_member (json_node_get_object (node), "schedules");
  g_assert_cmpuint (json_array_get_length (list), ==, 3);
  gint64 last_desk1 =
    panel_int ("SELECT max (i.opened_wall_us) FROM drill_desks dd JOIN "
               "incidents i ON i.id = dd.incident_id WHERE dd.desk_id = 'desk-1'");
  for (guint i = 0; i < 3; i++)
    {
      JsonObject *o = json_array_get_object_element (list, i);
      if (json_object_get_null_member (o, "desk_id"))
        {
          g_assert_cmpint (json_object_get_int_member (o, "every_days"), ==, 92);
          g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "ok");
        }
      else if (g_str_equal (json_object_get_string_member (o, "desk_id"), "desk-1"))
        {
          g_assert_cmpint (json_object_get_int_member (o, "last_drill_at_us"), ==, last_desk1);
          g_assert_cmpint (json_object_get_int_member (o, "due_at_us"), ==,
                           last_desk1 + 30 * 24 * G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC);
          g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "ok");
        }
    }
  g_assert_cmpint (panel_int ("SELECT count(*) FROM drill_schedules"), ==, 3);
  gint64 id = panel_int ("SELECT id FROM drill_schedules WHERE desk_id = 'desk-2'");
  g_autofree char *remove =
    g_strdup_printf ("/api/drills/schedule/%" G_GINT64_FORMAT "/remove", id);
  g_autoptr (JsonNode) s6 = test_console_post_ok (console, remove, &logins[TRAINER], NULL, 200);
  (void) s6;
  test_console_refused (console, remove, &logins[TRAINER], NULL, 404, "no such schedule");
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "drill-schedule-removed", NULL, NULL), ==,
    1);
  g_assert_cmpint (panel_int ("SELECT count(*) FROM drill_schedules"), ==, 2);

  /* Time passing, written straight into the database: two desks never
   * drilled, whose schedules were set 100 and 80 days ago (every 91 days:
   * overdue since 9 days, and due within 14 days). */
  g_autofree char *path = g_build_filename (panel->dir, "panel.db", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) rw = ansim_db_open (&ansim_panel_db_schema, path, &error);
  g_assert_no_error (error);
  gint64 day = 24 * G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC, now = g_get_real_time ();
  g_autofree char *sql = g_strdup_printf (
    "INSERT INTO desks (id, name) VALUES ('desk-3', 'Desk 3'), ('desk-4', 'Desk 4');"
    "INSERT INTO drill_schedules (desk_id, every_days, created_by, created_at_us) VALUES "
    "('desk-3', 91, 'trainer', %" G_GINT64_FORMAT "), ('desk-4', 91, 'trainer', %" G_GINT64_FORMAT
    ");",
    now - 100 * day, now - 80 * day);
  g_assert_true (ansim_db_exec (rw, sql, &error));
  g_autoptr (JsonNode) aged =
    test_console_get_ok (console, "/api/drills/schedule", &logins[TRAINER]);
  list = json_object_get_array_member (json_node_get_object (aged), "schedules");
  guint seen = 0;
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *o = json_array_get_object_element (list, i);
      const char *desk = json_object_get_string_member_with_default (o, "desk_id", NULL);
      if (g_strcmp0 (desk, "desk-3") == 0 || g_strcmp0 (desk, "desk-4") == 0)
        {
          seen++;
          g_assert_true (json_object_get_null_member (o, "last_drill_at_us"));
          g_assert_cmpstr (json_object_get_string_member (o, "status"), ==,
                           g_str_equal (desk, "desk-3") ? "overdue" : "due-soon");
        }
    }
  g_assert_cmpuint (seen, ==, 2);
}

/* ansimctl drill, on the panel host: the same rules, audited as ansimctl. */
static int
ansimctl (const char *args, char **out)
{
  g_autofree char *ctl = test_build_path ("ansimctl/ansimctl");
  g_autofree char *cmd = g_strdup_printf ("%s drill %s --config %s", ctl, args, panel->conf);
  g_autoptr (GError) error = NULL;
  int status = 0;
  g_autofree char *err = NULL;
  g_assert_true (g_spawn_command_line_sync (cmd, out, &err, &status, &error));
  g_assert_no_error (error);
  char *joined = g_strconcat (*out, err, NULL);
  g_free (*out);
  *out = joined;
  return g_spawn_check_wait_status (status, NULL) ? 0 : 1;
}

static void
test_ansimctl_commands (void)
{
  g_autofree char *out = NULL;
  guint drills = panel_int ("SELECT count(*) FROM drills");
  g_assert_cmpint (ansimctl ("arm --desk desk-9", &out), ==, 1);
  g_assert_nonnull (strstr (out, "unknown desk \"desk-9\""));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (panel_int ("SELECT count(*) FROM drills"), ==, drills);
  g_assert_cmpint (ansimctl ("arm --desk desk-2 --minutes 10 --note cli", &out), ==, 0);
  gint64 id = panel_int ("SELECT max (id) FROM drills");
  g_autofree char *armed = g_strdup_printf ("drill %" G_GINT64_FORMAT " armed for 1 desk(s)", id);
  g_assert_nonnull (strstr (out, armed));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (panel_int ("SELECT count(*) FROM audit_log WHERE action = 'drill-armed' "
                              "AND actor GLOB 'ansimctl:*' AND role IS NULL"),
                   ==, 1);
  gint64 at_desk2 = 0;
  TestIncident *incident = test_desk_press (desk2, panel, 16 * 1024, &at_desk2);
  g_autofree char *sql =
    g_strdup_printf ("SELECT is_drill FROM incidents WHERE id = %" G_GINT64_FORMAT, at_desk2);
  g_assert_cmpint (panel_int (sql), ==, 1);
  g_assert_cmpint (ansimctl ("list", &out), ==, 0);
  g_autofree char *line = g_strdup_printf ("incident %" G_GINT64_FORMAT, at_desk2);
  g_assert_nonnull (strstr (out, line));
  g_clear_pointer (&out, g_free);
  g_autofree char *end = g_strdup_printf ("end %" G_GINT64_FORMAT, id);
  g_assert_cmpint (ansimctl (end, &out), ==, 0);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ansimctl (end, &out), ==, 1);
  g_assert_nonnull (strstr (out, "already ended"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ansimctl ("end 999", &out), ==, 1);
  g_assert_nonnull (strstr (out, "no such drill"));
  test_incident_close (incident);
}

/* A press the panel took for the drill was a real emergency: security
 * says so, the incident becomes real and the desk waits for the drill's
 * press again. */
static void
test_not_a_drill (void)
{
  gint64 now = g_get_real_time ();
  gint64 drill = arm ("[\"desk-1\"]", now, now + 600 * G_USEC_PER_SEC);
  gint64 first = 0, second = 0;
  TestIncident *a = test_desk_press (desk1, panel, 16 * 1024, &first);
  g_autofree char *path =
    g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/not-a-drill", first);
  test_console_refused (console, path, &logins[AUDITOR], NULL, 403, "forbidden");
  g_autoptr (JsonNode) real = test_console_post_ok (
    console, path, &logins[SECURITY], "{\"note\":\"a real threat, not the drill\"}", 200);
  g_assert_false (json_object_get_boolean_member (
    json_object_get_object_member (json_node_get_object (real), "incident"), "is_drill"));
  test_console_refused (console, path, &logins[SECURITY], NULL, 409, "is not the press of a drill");
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "drill-untagged", NULL, NULL), ==, 1);
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM events WHERE kind = "
                                          "'drill-untagged' AND actor = 'security' AND "
                                          "incident_id = %" G_GINT64_FORMAT,
                                          first);
  g_assert_cmpint (panel_int (sql), ==, 1);
  g_autofree char *waiting =
    g_strdup_printf ("SELECT count(*) FROM drill_desks WHERE drill_id = %" G_GINT64_FORMAT
                     " AND incident_id IS NULL",
                     drill);
  g_assert_cmpint (panel_int (waiting), ==, 1);
  /* The next press at the desk is the drill. */
  TestIncident *b = test_desk_press (desk1, panel, 16 * 1024, &second);
  g_autofree char *is_drill =
    g_strdup_printf ("SELECT is_drill FROM incidents WHERE id = %" G_GINT64_FORMAT, second);
  g_assert_cmpint (panel_int (is_drill), ==, 1);
  g_autofree char *end = g_strdup_printf ("/api/drills/%" G_GINT64_FORMAT "/end", drill);
  g_autoptr (JsonNode) ended = test_console_post_ok (console, end, &logins[TRAINER], NULL, 200);
  (void) ended;
  test_incident_close (a);
  test_incident_close (b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  set_up ();
  g_test_add_func ("/drills/refusals", test_refusals);
  g_test_add_func ("/drills/full-run", test_full_drill);
  g_test_add_func ("/drills/several-desks", test_several_desks);
  g_test_add_func ("/drills/schedule", test_schedule);
  g_test_add_func ("/drills/ansimctl", test_ansimctl_commands);
  g_test_add_func ("/drills/not-a-drill", test_not_a_drill);
  int rc = g_test_run ();
  tear_down ();
  return rc;
}
