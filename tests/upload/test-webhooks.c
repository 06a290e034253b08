/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Outgoing webhooks end to end over real HTTP on loopback: a real
 * ansim-panel and ansim-uploader, a desk whose outbox is filled as the
 * recorder fills it, and a receiver (libsoup server in a thread of this
 * test) that checks every X-Ansim-Signature with its own HMAC (GLib's, not
 * the panel's OpenSSL call) and once with the `openssl dgst` line of
 * docs/webhooks.md. Signed alert, acknowledgement and resolution in order;
 * receiver down -> retried with backoff, then delivered in order; panel
 * SIGKILLed after the alert's commit, before its delivery -> delivered
 * exactly once after the restart; device-offline; the admins' list; bad
 * [webhook] settings refused naming the key. Backoff is shortened through
 * retry_initial_ms / retry_max_s so the whole file runs in seconds. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "outbox.h"
#include "test-console.h"
#include "upload-helpers.h"

#define PASSWORD "webhook-test-password-1"
#define SECRET "webhook-test-secret-0123456789abcdef"

/* ---- the receiver ------------------------------------------------------ */

typedef struct {
  char *event, *delivery, *timestamp, *signature, *body;
} Delivery;

static void
delivery_free (Delivery *d)
{
  g_free (d->event);
  g_free (d->delivery);
  g_free (d->timestamp);
  g_free (d->signature);
  g_free (d->body);
  g_free (d);
}

typedef struct {
  GMutex lock;
  GPtrArray *got; /* of Delivery, in arrival order */
  guint bad;      /* requests whose signature or headers were wrong */
  char *bad_reason;
  guint port;
  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;
  gboolean listening;
} Receiver;

static Receiver receiver;

/* The receiver's own check, as docs/webhooks.md tells a receiver to do it. */
static const char *
verify (const char *timestamp, const char *signature, const char *body)
{
  if (timestamp == NULL || signature == NULL || !g_str_has_prefix (signature, "sha256="))
    return "missing X-Ansim-Timestamp or X-Ansim-Signature";
  gint64 ts = g_ascii_strtoll (timestamp, NULL, 10);
  if (ABS (g_get_real_time () / G_USEC_PER_SEC - ts) > 300)
    return "timestamp outside the 5-minute window";
  g_autofree char *input = g_strconcat (timestamp, ".", body, NULL);
  g_autofree char *mac = g_compute_hmac_for_string (G_CHECKSUM_SHA256, (const guchar *) SECRET,
                                                    strlen (SECRET), input, -1);
  if (strcmp (mac, signature + strlen ("sha256=")) != 0)
    return "signature does not match";
  return NULL;
}

static void
on_hook (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
         gpointer user_data)
{
  (void) server;
  (void) path;
  (void) query;
  (void) user_data;
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  SoupMessageBody *mb = soup_server_message_get_request_body (msg);
  g_autoptr (GBytes) bytes = soup_message_body_flatten (mb);
  g_autofree char *body = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  const char *timestamp = soup_message_headers_get_one (h, "X-Ansim-Timestamp");
  const char *signature = soup_message_headers_get_one (h, "X-Ansim-Signature");
  const char *delivery = soup_message_headers_get_one (h, "X-Ansim-Delivery");
  const char *event = soup_message_headers_get_one (h, "X-Ansim-Event");
  const char *problem = verify (timestamp, signature, body);
  g_autoptr (JsonNode) node = problem == NULL ? json_from_string (body, NULL) : NULL;
  if (problem == NULL
      && (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)
          || g_strcmp0 (json_object_get_string_member_with_default (json_node_get_object (node),
                                                                    "delivery", NULL),
                        delivery)
               != 0
          || g_strcmp0 (json_object_get_string_member_with_default (json_node_get_object (node),
                                                                    "event", NULL),
                        event)
               != 0))
    problem = "the body's delivery or event differ from the headers";
  g_mutex_lock (&receiver.lock);
  if (problem != NULL)
    {
      receiver.bad++;
      g_free (receiver.bad_reason);
      receiver.bad_reason = g_strdup (problem);
    }
  else
    {
      Delivery *d = g_new0 (Delivery, 1);
      *d = (Delivery){ g_strdup (event), g_strdup (delivery), g_strdup (timestamp),
                       g_strdup (signature), g_strdup (body) };
      g_ptr_array_add (receiver.got, d);
    }
  g_mutex_unlock (&receiver.lock);
  soup_server_message_set_status (msg, problem == NULL ? 200 : 401, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "ok", 2);
}

static gpointer
receiver_thread (gpointer data)
{
  (void) data;
  g_main_context_push_thread_default (receiver.context);
  g_autoptr (SoupServer) server = soup_server_new (NULL, NULL);
  soup_server_add_handler (server, "/hook", on_hook, NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, receiver.port);
  /* The port may linger a moment after a previous stop. */
  for (int i = 0; i < 100 && !soup_server_listen (server, addr, 0, &error); i++)
    {
      g_clear_error (&error);
      g_usleep (20000);
    }
  g_assert_no_error (error);
  g_mutex_lock (&receiver.lock);
  receiver.listening = TRUE;
  g_mutex_unlock (&receiver.lock);
  g_main_loop_run (receiver.loop);
  soup_server_disconnect (server);
  g_main_context_pop_thread_default (receiver.context);
  return NULL;
}

static gboolean
receiver_is_listening (gpointer data)
{
  (void) data;
  g_mutex_lock (&receiver.lock);
  gboolean yes = receiver.listening;
  g_mutex_unlock (&receiver.lock);
  return yes;
}

static void
receiver_start (void)
{
  g_assert_null (receiver.thread);
  receiver.context = g_main_context_new ();
  receiver.loop = g_main_loop_new (receiver.context, FALSE);
  receiver.listening = FALSE;
  receiver.thread = g_thread_new ("receiver", receiver_thread, NULL);
  g_assert_true (test_wait_until (receiver_is_listening, NULL, 5));
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
receiver_stop (void)
{
  if (receiver.thread == NULL)
    return;
  g_main_context_invoke (receiver.context, quit_loop, receiver.loop);
  g_thread_join (g_steal_pointer (&receiver.thread));
  g_clear_pointer (&receiver.loop, g_main_loop_unref);
  g_clear_pointer (&receiver.context, g_main_context_unref);
}

/* Deliveries so far of event for incident uuid (NULL: any), in arrival order. */
static GPtrArray *
received (const char *event, const char *uuid)
{
  GPtrArray *out = g_ptr_array_new ();
  g_mutex_lock (&receiver.lock);
  g_assert_cmpuint (receiver.bad, ==, 0);
  for (guint i = 0; i < receiver.got->len; i++)
    {
      Delivery *d = g_ptr_array_index (receiver.got, i);
      if (event != NULL && strcmp (d->event, event) != 0)
        continue;
      if (uuid != NULL && strstr (d->body, uuid) == NULL)
        continue;
      g_ptr_array_add (out, d);
    }
  g_mutex_unlock (&receiver.lock);
  return out;
}

typedef struct {
  const char *event, *uuid;
  guint n;
} Want;

static gboolean
has_received (gpointer data)
{
  Want *w = data;
  g_autoptr (GPtrArray) got = received (w->event, w->uuid);
  return got->len >= w->n;
}

static void
wait_received (const char *event, const char *uuid, guint n, double timeout_s)
{
  Want w = { event, uuid, n };
  if (!test_wait_until (has_received, &w, timeout_s))
    g_error ("no %s webhook for %s within %.0f s", event, uuid, timeout_s);
}

/* ---- the panel and a desk ---------------------------------------------- */

static char *dir;
static TestDesk *desk;
static TestPanel *panel;
static GSubprocess *uploader;
static TestConsole *console;

static char *
panel_conf_extra (guint port)
{
  return g_strdup_printf ("\n[webhook gw]\nurl = http://127.0.0.1:%u/hook\nsecret = " SECRET "\n"
                          "events = alert; acknowledged;resolved ; device-offline\n"
                          "retry_initial_ms = 100\nretry_max_s = 1\ntimeout_ms = 2000\n",
                          port);
}

static gboolean
socket_exists (gpointer path)
{
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

static void
set_up (void)
{
  g_autoptr (GError) error = NULL;
  dir = g_dir_make_tmp ("ansim-webhooks-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *dd = g_build_filename (dir, "desk", NULL);
  g_autofree char *pd = g_build_filename (dir, "panel", NULL);
  g_mutex_init (&receiver.lock);
  receiver.got = g_ptr_array_new_with_free_func ((GDestroyNotify) delivery_free);
  receiver.port = test_free_port ();
  desk = test_desk_new (dd);
  g_autofree char *extra = panel_conf_extra (receiver.port);
  panel = test_panel_new (pd, extra);
  test_add_user (panel->conf, "admin", "admin", PASSWORD);
  test_add_user (panel->conf, "guard", "security", PASSWORD);
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");
  uploader = test_uploader_start (desk, panel->url, NULL);
  g_autofree char *sock = g_build_filename (desk->dir, "uploader.sock", NULL);
  g_assert_true (test_wait_until (socket_exists, sock, 10));
  console = test_console_new (panel->url, NULL, 10);
}

static void
tear_down (void)
{
  g_clear_pointer (&console, test_console_free);
  test_process_stop (uploader, SIGTERM);
  g_clear_object (&uploader);
  g_clear_pointer (&panel, test_panel_free);
  g_clear_pointer (&desk, test_desk_free);
  receiver_stop ();
  g_clear_pointer (&receiver.got, g_ptr_array_unref);
  g_free (receiver.bad_reason);
  test_rm_rf (dir);
  g_free (dir);
}

static gint64
row_int (const char *column, const char *uuid, const char *event)
{
  g_autofree char *sql = g_strdup_printf ("SELECT coalesce ((SELECT %s FROM webhook_deliveries "
                                          "WHERE event = '%s' AND json_extract (body, "
                                          "'$.incidents[0].uuid') = '%s'), -1)",
                                          column, event, uuid);
  return test_panel_count (panel, sql);
}

typedef struct {
  const char *uuid, *event;
} RowRef;

static gboolean
is_marked_delivered (gpointer data)
{
  RowRef *r = data;
  return row_int ("delivered_at_us IS NOT NULL", r->uuid, r->event) == 1;
}

/* The receiver has it before the panel has recorded the answer. */
static void
wait_marked_delivered (const char *uuid, const char *event)
{
  RowRef r = { uuid, event };
  if (!test_wait_until (is_marked_delivered, &r, 5))
    g_error ("the %s webhook of %s is not marked delivered", event, uuid);
}

/* ---- tests -------------------------------------------------------------- */

/* The docs' receiver recipe, run by the shell: the same hex as the header. */
static void
check_with_openssl_cli (Delivery *d)
{
  g_autofree char *body_path = g_build_filename (dir, "body.json", NULL);
  g_assert_true (g_file_set_contents (body_path, d->body, -1, NULL));
  /* As in docs/webhooks.md. */
  g_autofree char *script =
    g_strdup_printf ("printf '%%s.' \"$TIMESTAMP\" | cat - '%s' | "
                     "openssl dgst -sha256 -mac HMAC -macopt key:\"$SECRET\"",
                     body_path);
  g_autofree char *env_ts = g_strconcat ("TIMESTAMP=", d->timestamp, NULL);
  const char *argv[] = { "sh", "-c", script, NULL };
  const char *envp[] = { env_ts, "SECRET=" SECRET, "PATH=/usr/bin:/bin", NULL };
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, (char **) envp, G_SPAWN_SEARCH_PATH, NULL,
                               NULL, &out, &err, &status, &error));
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  g_strstrip (out);
  /* "HMAC-SHA2-256(stdin)= HEX" */
  const char *hex = strrchr (out, ' ');
  g_assert_nonnull (hex);
  g_assert_cmpstr (hex + 1, ==, d->signature + strlen ("sha256="));
  g_remove (body_path);
}

/* (a) alert -> signed webhook; acknowledge and resolve follow, in order;
 * the admins see them delivered, security may not look. */
static void
test_signed_in_order (void)
{
  receiver_start ();
  TestIncident *incident = test_desk_press (desk, panel, 0, NULL);
  const char *uuid = test_incident_get_uuid (incident);
  g_autofree char *uuid_copy = g_strdup (uuid);
  wait_received ("alert", uuid, 1, 10);
  g_autoptr (GPtrArray) alerts = received ("alert", uuid);
  Delivery *d = g_ptr_array_index (alerts, 0);
  check_with_openssl_cli (d);
  g_autoptr (JsonNode) node = json_from_string (d->body, NULL);
  JsonObject *o = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (o, "webhook"), ==, "gw");
  g_assert_cmpstr (json_object_get_string_member (o, "device"), ==, "dev-1");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "desk"), "id"),
                   ==, "desk-1");
  g_assert_false (json_object_get_boolean_member (o, "drill"));
  g_assert_cmpuint (g_uuid_string_is_valid (json_object_get_string_member (o, "delivery")), ==,
                    TRUE);
  JsonObject *inc =
    json_array_get_object_element (json_object_get_array_member (o, "incidents"), 0);
  g_assert_cmpstr (json_object_get_string_member (inc, "uuid"), ==, uuid);
  g_assert_cmpstr (json_object_get_string_member (inc, "status"), ==, "open");
  wait_marked_delivered (uuid, "alert");
  g_assert_cmpint (row_int ("last_status", uuid, "alert"), ==, 200);

  TestLogin admin = { 0 }, guard = { 0 };
  test_console_login (console, "admin", PASSWORD, &admin);
  g_autofree char *sql = g_strdup_printf ("SELECT id FROM incidents WHERE uuid = '%s'", uuid);
  gint64 id = test_panel_count (panel, sql);
  g_autofree char *ack = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/acknowledge", id);
  g_autofree char *res = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/resolve", id);
  json_node_unref (test_console_post_ok (console, ack, &admin, NULL, 200));
  json_node_unref (test_console_post_ok (console, res, &admin, "{\"category\":\"threat\"}", 200));
  wait_received ("resolved", uuid, 1, 10);
  wait_marked_delivered (uuid, "resolved");
  g_autoptr (GPtrArray) all = received (NULL, uuid);
  g_assert_cmpuint (all->len, ==, 3);
  g_assert_cmpstr (((Delivery *) all->pdata[0])->event, ==, "alert");
  g_assert_cmpstr (((Delivery *) all->pdata[1])->event, ==, "acknowledged");
  g_assert_cmpstr (((Delivery *) all->pdata[2])->event, ==, "resolved");
  g_assert_nonnull (strstr (((Delivery *) all->pdata[1])->body, "\"acknowledged_by\":\"admin\""));
  g_assert_nonnull (strstr (((Delivery *) all->pdata[2])->body, "\"category\":\"threat\""));

  guint status = 0;
  g_autofree char *list = test_console_request (console, "GET", "/api/webhooks", &admin,
                                                TEST_CSRF_RIGHT, NULL, NULL, 0, &status, NULL);
  g_assert_cmpuint (status, ==, 200);
  g_autoptr (JsonNode) ln = test_json_parse (list);
  JsonObject *lo = json_node_get_object (ln);
  JsonObject *hook =
    json_array_get_object_element (json_object_get_array_member (lo, "webhooks"), 0);
  g_assert_cmpstr (json_object_get_string_member (hook, "name"), ==, "gw");
  g_assert_cmpint (json_object_get_int_member (hook, "pending"), ==, 0);
  JsonObject *latest =
    json_array_get_object_element (json_object_get_array_member (lo, "deliveries"), 0);
  g_assert_cmpstr (json_object_get_string_member (latest, "event"), ==, "resolved");
  g_assert_cmpstr (json_object_get_string_member (latest, "incident"), ==, uuid_copy);
  g_assert_cmpint (json_object_get_int_member (latest, "last_status"), ==, 200);
  g_assert_false (json_object_get_null_member (latest, "delivered_at_us"));
  g_assert_null (strstr (list, SECRET));
  test_console_login (console, "guard", PASSWORD, &guard);
  g_free (test_console_request (console, "GET", "/api/webhooks", &guard, TEST_CSRF_RIGHT, NULL,
                                NULL, 0, &status, NULL));
  g_assert_cmpuint (status, ==, 403);
  test_login_clear (&admin);
  test_login_clear (&guard);
  test_incident_close (incident);
}

/* (c) receiver down: the alert is retried with growing waits, a later one
 * waits behind it, and both arrive in order once the receiver is back. */
static void
test_receiver_down (void)
{
  receiver_stop ();
  TestIncident *first = test_desk_press (desk, panel, 0, NULL);
  g_autofree char *uuid1 = g_strdup (test_incident_get_uuid (first));
  TestIncident *second = test_desk_press (desk, panel, 0, NULL);
  g_autofree char *uuid2 = g_strdup (test_incident_get_uuid (second));
  /* 100 ms doubling to a 1 s cap (with jitter to half): in 2.5 s a handful
   * of attempts, not the ~25 a fixed 100 ms would make. */
  g_usleep (2500 * 1000);
  gint64 attempts = row_int ("attempts", uuid1, "alert");
  g_assert_cmpint (attempts, >=, 3);
  g_assert_cmpint (attempts, <=, 9);
  g_assert_cmpint (row_int ("attempts", uuid2, "alert"), ==, 0); /* in order: it waits */
  g_assert_cmpint (row_int ("last_error IS NOT NULL", uuid1, "alert"), ==, 1);
  g_assert_cmpint (row_int ("next_attempt_at_us > last_attempt_at_us", uuid1, "alert"), ==, 1);
  g_assert_cmpint (row_int ("delivered_at_us IS NULL", uuid1, "alert"), ==, 1);
  receiver_start ();
  wait_received ("alert", uuid2, 1, 10);
  g_autoptr (GPtrArray) a1 = received ("alert", uuid1);
  g_autoptr (GPtrArray) a2 = received ("alert", uuid2);
  g_assert_cmpuint (a1->len, ==, 1);
  g_assert_cmpuint (a2->len, ==, 1);
  g_autoptr (GPtrArray) all = received ("alert", NULL);
  g_assert_true (all->pdata[all->len - 2] == a1->pdata[0]);
  g_assert_true (all->pdata[all->len - 1] == a2->pdata[0]);
  wait_marked_delivered (uuid2, "alert");
  g_assert_cmpint (row_int ("attempts", uuid1, "alert"), >, attempts);
  test_incident_close (first);
  test_incident_close (second);
}

/* (b) the panel dies (SIGKILL) after committing the alert and before
 * delivering it: after the restart it is delivered exactly once. */
static void
test_kill_before_delivery (void)
{
  receiver_stop ();
  TestIncident *incident = test_desk_press (desk, panel, 0, NULL);
  g_autofree char *uuid = g_strdup (test_incident_get_uuid (incident));
  test_panel_stop (panel, SIGKILL);
  g_assert_cmpint (row_int ("delivered_at_us IS NULL", uuid, "alert"), ==, 1);
  g_autofree char *delivery = NULL;
  (void) delivery;
  {
    g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM webhook_deliveries WHERE "
                                            "json_extract (body, '$.incidents[0].uuid') = '%s'",
                                            uuid);
    g_assert_cmpint (test_panel_count (panel, sql), ==, 1);
  }
  receiver_start ();
  test_panel_start (panel);
  wait_received ("alert", uuid, 1, 10);
  /* Long enough for a duplicate to show (retry, the periodic pass). */
  g_usleep (1500 * 1000);
  g_autoptr (GPtrArray) got = received ("alert", uuid);
  g_assert_cmpuint (got->len, ==, 1);
  g_autoptr (GPtrArray) all = received (NULL, NULL);
  guint same = 0;
  for (guint i = 0; i < all->len; i++)
    same +=
      g_str_equal (((Delivery *) all->pdata[i])->delivery, ((Delivery *) got->pdata[0])->delivery);
  g_assert_cmpuint (same, ==, 1);
  wait_marked_delivered (uuid, "alert");
  g_assert_cmpint (row_int ("last_status", uuid, "alert"), ==, 200);
  test_incident_close (incident);
}

/* A desk that stops sending heartbeats: device-offline, once. */
static void
test_device_offline (void)
{
  g_autofree char *pd = g_build_filename (dir, "panel-offline", NULL);
  g_autofree char *dd = g_build_filename (dir, "desk-offline", NULL);
  g_autofree char *hooks = panel_conf_extra (receiver.port);
  g_autofree char *extra = g_strconcat ("device_offline_after_s = 2\n", hooks, NULL);
  g_autoptr (TestPanel) other = test_panel_new (pd, extra);
  g_autoptr (TestDesk) quiet = test_desk_new_at (dd, "dev-9", "desk-9", "민원실 9번 창구");
  test_panel_start (other);
  test_panel_enroll (other, quiet, "dev-9");
  Want w = { "device-offline", "\"dev-9\"", 1 };
  g_assert_true (test_wait_until (has_received, &w, 10));
  g_autoptr (GPtrArray) got = received ("device-offline", "\"dev-9\"");
  g_assert_nonnull (strstr (((Delivery *) got->pdata[0])->body, "\"id\":\"desk-9\""));
  test_panel_stop (other, SIGTERM);
}

/* (d) bad [webhook] settings: the panel refuses to start, naming the key,
 * and creates nothing. */
static void
test_bad_config (void)
{
  static const struct {
    const char *lines, *says;
  } cases[] = {
    { "url = http://127.0.0.1:9/h\nsecret = short\nevents = alert\n",
      "[webhook gw] secret = 'short': too short (5 bytes)" },
    { "url = http://127.0.0.1:9/h\nsecret = " SECRET "\nevents = alert;alarm\n",
      "[webhook gw] events = 'alert;alarm': unknown event 'alarm'" },
    { "url = ftp://127.0.0.1/h\nsecret = " SECRET "\nevents = alert\n",
      "[webhook gw] url = 'ftp://127.0.0.1/h'" },
    { "url = http://127.0.0.1:9/h\nevents = alert\n",
      "[webhook gw] secret: missing (and no secret_file)" },
    { "url = http://127.0.0.1:9/h\nsecret_file = ../short.key\nevents = alert\n",
      "secret_file = '../short.key': the secret in" },
  };
  g_autofree char *bin = test_build_path ("panel/ansim-panel");
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *d = g_build_filename (dir, "bad", NULL);
      g_assert_cmpint (g_mkdir_with_parents (d, 0700), ==, 0);
      g_autofree char *key = g_build_filename (d, "short.key", NULL); /* beside data_dir */
      g_assert_true (g_file_set_contents (key, "0123456789\n", -1, NULL));
      g_assert_cmpint (g_chmod (key, 0600), ==, 0);
      g_autofree char *conf = g_build_filename (d, "panel.conf", NULL);
      g_autofree char *data = g_build_filename (d, "data", NULL);
      g_autofree char *text = g_strdup_printf ("[panel]\ndata_dir = %s\nport = 0\n\n"
                                               "[webhook gw]\n%s",
                                               data, cases[i].lines);
      g_assert_true (g_file_set_contents (conf, text, -1, NULL));
      const char *argv[] = { bin, "--config", conf, NULL };
      g_autofree char *out = NULL, *err = NULL;
      int status = 0;
      g_autoptr (GError) error = NULL;
      g_assert_true (
        g_spawn_sync (d, (char **) argv, NULL, 0, NULL, NULL, &out, &err, &status, &error));
      g_assert_no_error (error);
      if (g_spawn_check_wait_status (status, NULL) || strstr (err, cases[i].says) == NULL)
        g_error ("case %u: exit %d, wanted a refusal saying \"%s\"; stderr: %s", i, status,
                 cases[i].says, err);
      g_autofree char *db = g_build_filename (data, "panel.db", NULL);
      g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));
      test_rm_rf (d);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  set_up ();
  g_test_add_func ("/webhooks/signed-in-order", test_signed_in_order);
  g_test_add_func ("/webhooks/receiver-down", test_receiver_down);
  g_test_add_func ("/webhooks/kill-before-delivery", test_kill_before_delivery);
  g_test_add_func ("/webhooks/device-offline", test_device_offline);
  g_test_add_func ("/webhooks/bad-config", test_bad_config);
  int rc = g_test_run ();
  tear_down ();
  return rc;
}
