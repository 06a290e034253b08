/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's side of the alarm loop over real HTTP on loopback: a real
 * ansim-panel, a desk whose outbox is filled as the recorder fills it and
 * a real ansim-uploader. Two incidents of one press (same trigger and
 * monotonic press time, two cameras) are one alert, a third press its own
 * (the cameras' names, from the recorder's alert, are in alarm.test.mjs);
 * acknowledging and resolving one incident acts on its whole alert (each
 * incident keeps its own timeline and audit entry); an alert nobody
 * acknowledges escalates after escalate_after_s, once, with an escalated
 * event on its timeline, its "escalated" webhook queued and its desk asked
 * to ring the police bell (in the escalation's transaction), and an
 * acknowledged one does not. */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "db.h"
#include "outbox.h"
#include "test-console.h"
#include "upload-helpers.h"

#define PASSWORD "alarm-test-password-1"
#define ESCALATE_S 3

static char *dir;
static TestPanel *panel;
static TestDesk *desk;
static GSubprocess *uploader;
static TestConsole *console;
static TestLogin login;

static JsonObject *
call_ok (const char *method, const char *path, const char *body)
{
  g_autoptr (JsonNode) node = g_str_equal (method, "GET")
                                ? test_console_get_ok (console, path, &login)
                                : test_console_post_ok (console, path, &login, body, 200);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

/* The incident whose uuid is given, as the console lists it. */
static JsonObject *
incident (const char *uuid)
{
  g_autoptr (JsonObject) list = call_ok ("GET", "/api/incidents?limit=10", NULL);
  JsonArray *a = json_object_get_array_member (list, "incidents");
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonObject *o = json_array_get_object_element (a, i);
      if (g_str_equal (json_object_get_string_member (o, "uuid"), uuid))
        return json_object_ref (o);
    }
  return NULL;
}

static gboolean
timeline_has (gint64 id, const char *what)
{
  g_autofree char *path = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT, id);
  g_autoptr (JsonObject) o = call_ok ("GET", path, NULL);
  JsonArray *a = json_object_get_array_member (o, "timeline");
  for (guint i = 0; i < json_array_get_length (a); i++)
    if (g_str_equal (json_object_get_string_member (json_array_get_object_element (a, i), "what"),
                     what))
      return TRUE;
  return FALSE;
}

/* Makes inc another camera's incident of press's press: same monotonic
 * press time, a wall clock a little later (each source reads it apart). */
static void
same_press (TestIncident *inc, TestIncident *press)
{
  g_autofree char *same = g_strdup_printf (
    "UPDATE incidents SET (opened_wall_us, opened_mono_us) = (SELECT opened_wall_us + 1500, "
    "opened_mono_us FROM incidents WHERE id = %" G_GINT64_FORMAT ") WHERE id = %" G_GINT64_FORMAT
    ";",
    test_incident_get_id (press), test_incident_get_id (inc));
  g_assert_cmpint (sqlite3_exec (desk->db, same, NULL, NULL, NULL), ==, SQLITE_OK);
}

static char *uuid_a, *uuid_b, *uuid_c, *uuid_d;

static gboolean
three_arrived (gpointer data)
{
  (void) data;
  g_autoptr (JsonObject) c = incident (uuid_c);
  g_autoptr (JsonObject) a = incident (uuid_a);
  g_autoptr (JsonObject) b = incident (uuid_b);
  return c != NULL && a != NULL && b != NULL;
}

static gboolean
four_arrived (gpointer data)
{
  g_autoptr (JsonObject) d = incident (uuid_d);
  return three_arrived (data) && d != NULL;
}

static void
test_one_press_one_alert (void)
{
  /* Opened (and the uploader started) before the clock of escalation
   * matters: A and B are one press on two cameras, C another press. */
  TestIncident *a = test_incident_open (desk);
  TestIncident *b = test_incident_open (desk);
  g_usleep (2000);
  TestIncident *c = test_incident_open (desk);
  same_press (b, a);
  uuid_a = g_strdup (test_incident_get_uuid (a));
  uuid_b = g_strdup (test_incident_get_uuid (b));
  uuid_c = g_strdup (test_incident_get_uuid (c));
  uploader = test_uploader_start (desk, panel->url, "poll_interval = 1");
  g_assert_true (test_wait_until (three_arrived, NULL, 15));
  /* D: a drill's press. Drills are armed on the panel (the desk cannot
   * mark one, docs/protocol.md), so the next press at the desk is it. */
  const char *arm[] = { "drill", "arm",      "--desk",    "desk-1", "--minutes",
                        "5",     "--config", panel->conf, NULL };
  g_autofree char *armed = test_ansimctl_ok (NULL, arm);
  (void) armed;
  TestIncident *d = test_incident_open (desk);
  uuid_d = g_strdup (test_incident_get_uuid (d));
  {
    g_autofree char *sock = g_build_filename (desk->dir, "uploader.sock", NULL);
    g_autoptr (GError) error = NULL;
    g_assert_true (ansim_outbox_wake_uploader (sock, &error));
  }
  g_assert_true (test_wait_until (four_arrived, NULL, 15));

  g_autoptr (JsonObject) ia = incident (uuid_a);
  g_autoptr (JsonObject) ib = incident (uuid_b);
  g_autoptr (JsonObject) ic = incident (uuid_c);
  gint64 id_a = json_object_get_int_member (ia, "id");
  gint64 id_c = json_object_get_int_member (ic, "id");
  g_assert_cmpint (json_object_get_int_member (ia, "alert_id"), ==, id_a);
  g_assert_cmpint (json_object_get_int_member (ib, "alert_id"), ==, id_a);
  g_assert_cmpint (json_object_get_int_member (ic, "alert_id"), ==, id_c);

  /* Acknowledging B acknowledges A (its alert), not C. */
  g_autofree char *ack = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/acknowledge",
                                          json_object_get_int_member (ib, "id"));
  g_autoptr (JsonObject) acked = call_ok ("POST", ack, NULL);
  (void) acked;
  g_clear_pointer (&ia, json_object_unref);
  g_clear_pointer (&ic, json_object_unref);
  ia = incident (uuid_a);
  ic = incident (uuid_c);
  g_assert_cmpstr (json_object_get_string_member (ia, "status"), ==, "acknowledged");
  g_assert_cmpstr (json_object_get_string_member (ia, "acknowledged_by"), ==, "security");
  g_assert_cmpstr (json_object_get_string_member (ic, "status"), ==, "open");
  g_assert_true (timeline_has (id_a, "acknowledged"));
  g_assert_cmpint (test_panel_count (panel, "SELECT count(*) FROM audit_log WHERE action = "
                                            "'acknowledged'"),
                   ==, 2);
  /* Again: the alert is taken. */
  test_console_refused (console, ack, &login, NULL, 409, "\"error\":\"conflict\"");

  test_incident_close (a);
  test_incident_close (b);
  test_incident_close (c);
  test_incident_close (d);
}

static gboolean
c_escalated (gpointer data)
{
  (void) data;
  g_autoptr (JsonObject) c = incident (uuid_c);
  g_autoptr (JsonObject) d = incident (uuid_d);
  return !json_object_get_null_member (c, "escalated_at_us")
         && !json_object_get_null_member (d, "escalated_at_us");
}

static void
test_escalation (void)
{
  g_autoptr (JsonObject) ic = incident (uuid_c);
  gint64 alerted = json_object_get_int_member (ic, "alerted_at_us");
  g_assert_true (json_object_get_null_member (ic, "escalated_at_us"));
  g_assert_true (test_wait_until (c_escalated, NULL, ESCALATE_S + 5));
  g_clear_pointer (&ic, json_object_unref);
  ic = incident (uuid_c);
  gint64 at = json_object_get_int_member (ic, "escalated_at_us");
  g_test_message ("alerted -> escalated: %.2f s (escalate_after_s = %d)", (at - alerted) / 1e6,
                  ESCALATE_S);
  g_assert_cmpint (at - alerted, >=, ESCALATE_S * G_USEC_PER_SEC);
  g_assert_cmpint (at - alerted, <, (ESCALATE_S + 2) * G_USEC_PER_SEC);
  g_assert_true (timeline_has (json_object_get_int_member (ic, "id"), "escalated"));
  /* Once, and never the alert that was acknowledged in time. */
  g_usleep (G_USEC_PER_SEC);
  g_assert_cmpint (test_panel_count (panel, "SELECT count(*) FROM events WHERE kind = "
                                            "'escalated'"),
                   ==, 2);
  g_autoptr (JsonObject) ia = incident (uuid_a);
  g_assert_true (json_object_get_null_member (ia, "escalated_at_us"));
  /* The webhooks (their receiver is down: the rows stay pending), C's and
   * the drill D's; the desk's police bell for C only: a drill never asks
   * for the police. */
  g_autoptr (JsonObject) id = incident (uuid_d);
  g_assert_true (json_object_get_boolean_member (id, "is_drill"));
  g_autofree char *d_hook = g_strdup_printf (
    "SELECT count(*) FROM webhook_deliveries WHERE event = 'escalated' AND "
    "json_extract (body, '$.incidents[0].uuid') = '%s' AND json_extract (body, '$.drill')",
    uuid_d);
  g_assert_cmpint (test_panel_count (panel, d_hook), ==, 1);
  g_autofree char *c_uuid_hook =
    g_strdup_printf ("SELECT count(*) FROM webhook_deliveries WHERE event = 'escalated' AND "
                     "json_extract (body, '$.incidents[0].uuid') = '%s'",
                     uuid_c);
  g_assert_cmpint (test_panel_count (panel, c_uuid_hook), ==, 1);
  g_assert_cmpint (test_panel_count (panel, "SELECT count(*) FROM webhook_deliveries WHERE "
                                            "event = 'escalated'"),
                   ==, 2);
  g_autofree char *c_bell = g_strdup_printf (
    "SELECT count(*) FROM channel_messages WHERE kind = 'police-bell' AND reason = 'escalated' "
    "AND incident_id = %" G_GINT64_FORMAT,
    json_object_get_int_member (ic, "id"));
  g_assert_cmpint (test_panel_count (panel, c_bell), ==, 1);
  g_assert_cmpint (test_panel_count (panel, "SELECT count(*) FROM channel_messages WHERE "
                                            "kind = 'police-bell'"),
                   ==, 1);

  /* Resolving A resolves B, its alert's other camera. */
  g_autofree char *resolve = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/resolve",
                                              json_object_get_int_member (ia, "id"));
  g_autoptr (JsonObject) done = call_ok ("POST", resolve, "{\"category\":\"false-alarm\"}");
  (void) done;
  g_autoptr (JsonObject) ib = incident (uuid_b);
  g_assert_cmpstr (json_object_get_string_member (ib, "status"), ==, "resolved");
  g_assert_cmpstr (json_object_get_string_member (ib, "category"), ==, "false-alarm");
}

/* A signed heartbeat whose recorder part reports a path outage (what the
 * desk's supervision writes once the panel answers again): one 장치 이상
 * alert of kind path-down, raised at the desk's time of the outage and
 * cleared when the path came back, its path-down webhook queued; the same
 * report again changes nothing. */
static void
post_heartbeat (const char *body)
{
  const char *path = "/api/v1/heartbeat";
  g_autofree char *url = g_strconcat (panel->url, path, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  g_autofree char *digest = NULL, *input = NULL, *signature = NULL;
  test_desk_sign (desk, "POST", path, body, strlen (body), &digest, &input, &signature);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  soup_message_headers_replace (h, "Content-Digest", digest);
  soup_message_headers_replace (h, "Signature-Input", input);
  soup_message_headers_replace (h, "Signature", signature);
  g_autoptr (GBytes) bytes = g_bytes_new (body, strlen (body));
  soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  g_autoptr (SoupSession) session = soup_session_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) reply = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  (void) reply;
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
}

static JsonObject *
path_down_alert (gint64 down_at_us)
{
  g_autoptr (JsonObject) list = call_ok ("GET", "/api/devices/alerts", NULL);
  JsonArray *a = json_object_get_array_member (list, "alerts");
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonObject *o = json_array_get_object_element (a, i);
      if (g_str_equal (json_object_get_string_member (o, "kind"), "path-down")
          && json_object_get_int_member (o, "raised_at_us") == down_at_us)
        return json_object_ref (o);
    }
  return NULL;
}

static void
test_path_down (void)
{
  gint64 now = g_get_real_time ();
  gint64 down = now - 60 * G_USEC_PER_SEC, back = now - 5 * G_USEC_PER_SEC;
  g_autofree char *body =
    g_strdup_printf ("{\"wall_us\":%" G_GINT64_FORMAT ",\"recorder\":{\"path\":{\"state\":\"up\","
                     "\"since_us\":%" G_GINT64_FORMAT ",\"last_ok_us\":%" G_GINT64_FORMAT
                     ",\"last_down_us\":%" G_GINT64_FORMAT ",\"supervision_s\":20}}}",
                     now, back, now, down);
  g_assert_null (path_down_alert (down));
  post_heartbeat (body);
  g_autoptr (JsonObject) alert = path_down_alert (down);
  g_assert_nonnull (alert);
  g_assert_cmpint (json_object_get_int_member (alert, "cleared_at_us"), ==, back);
  g_assert_cmpstr (json_object_get_string_member (alert, "device"), ==, "dev-1");
  g_assert_cmpint (test_panel_count (panel, "SELECT count(*) FROM webhook_deliveries WHERE "
                                            "event = 'path-down' AND "
                                            "json_extract (body, '$.device') = 'dev-1'"),
                   ==, 1);
  /* The next heartbeat says the same: nothing new. */
  post_heartbeat (body);
  g_assert_cmpint (test_panel_count (panel, "SELECT count(*) FROM device_alerts WHERE "
                                            "kind = 'path-down'"),
                   ==, 1);
  g_assert_cmpint (test_panel_count (panel, "SELECT count(*) FROM webhook_deliveries WHERE "
                                            "event = 'path-down'"),
                   ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_autoptr (GError) error = NULL;
  dir = g_dir_make_tmp ("ansim-alarm-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);
  desk = test_desk_new (desk_dir);
  /* A webhook nobody answers (port 9, discard): its rows stay pending,
   * so the test reads what was queued. */
  g_autofree char *extra = g_strdup_printf ("escalate_after_s = %d\n"
                                            "[webhook gw]\nurl = http://127.0.0.1:9/hook\n"
                                            "secret = alarm-test-secret-0123456789\n"
                                            "events = escalated; path-down\n",
                                            ESCALATE_S);
  panel = test_panel_new (panel_dir, extra);
  test_add_user (panel->conf, "security", "security", PASSWORD);
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");
  console = test_console_new (panel->url, NULL, 5);
  test_console_login (console, "security", PASSWORD, &login);

  g_test_add_func ("/alarm/one-press-one-alert", test_one_press_one_alert);
  g_test_add_func ("/alarm/escalation", test_escalation);
  g_test_add_func ("/alarm/path-down", test_path_down);
  int rc = g_test_run ();

  test_process_stop (uploader, SIGTERM);
  g_clear_object (&uploader);
  g_clear_pointer (&console, test_console_free);
  test_login_clear (&login);
  g_clear_pointer (&panel, test_panel_free);
  g_clear_pointer (&desk, test_desk_free);
  test_rm_rf (dir);
  g_free (dir);
  g_free (uuid_a);
  g_free (uuid_b);
  g_free (uuid_c);
  g_free (uuid_d);
  return rc;
}
