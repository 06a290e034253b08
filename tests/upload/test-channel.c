/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desks' push channel (POST /api/v1/channel, docs/protocol.md) over
 * real HTTP on loopback against a real ansim-panel, with requests signed
 * as the uploader signs them: a held request is answered as soon as the
 * console acknowledges (time measured), resolves or the police bell is
 * asked for; "after" gives what a desk missed, across a panel restart; an
 * idle request ends empty after wait_ms; a second request of a desk ends
 * the first, another desk's is untouched; unsigned, badly signed and
 * revoked devices and bad bodies are refused with a clear error. */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "upload-helpers.h"

#define PASSWORD "channel-test-password-1"
#define CHANNEL_PATH "/api/v1/channel"

static char *dir;
static TestPanel *panel;
static TestDesk *desk, *other_desk, *revoked_desk;
static SoupSession *http;
static char *cookie[2], *csrf[2];
enum { SECURITY, ADMIN };
static const char *const roles[] = { "security", "admin" };
static gint64 last_seq; /* the desk's "after" as the tests go */

/* One HTTP exchange, possibly still under way. */
typedef struct {
  SoupMessage *msg;
  gboolean done;
  guint status;
  gint64 sent_us, done_us; /* monotonic */
  char *raw;
  JsonNode *node;
} Call;

static void
call_free (Call *c)
{
  g_clear_object (&c->msg);
  g_free (c->raw);
  if (c->node != NULL)
    json_node_unref (c->node);
  g_free (c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_free)

static void
call_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Call *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes =
    soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  c->done_us = g_get_monotonic_time ();
  c->done = TRUE;
  if (bytes == NULL)
    {
      c->raw = g_strdup_printf ("(no answer: %s)", error->message);
      return;
    }
  c->status = soup_message_get_status (c->msg);
  c->raw = g_bytes_get_size (bytes) > 0
             ? g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes))
             : g_strdup ("");
  if (c->raw[0] != '\0')
    c->node = json_from_string (c->raw, NULL);
}

static Call *
call_start (SoupMessage *msg)
{
  Call *c = g_new0 (Call, 1);
  c->msg = msg;
  c->sent_us = g_get_monotonic_time ();
  soup_session_send_and_read_async (http, msg, G_PRIORITY_DEFAULT, NULL, call_done, c);
  return c;
}

/* Runs the main loop until c is answered; FALSE if it was not within
 * timeout_s. */
static gboolean
call_wait (Call *c, double timeout_s)
{
  gint64 end = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);
  while (!c->done && g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (500);
  return c->done;
}

/* Lets the main loop run for ms (answers may arrive meanwhile). */
static void
spin (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;
  while (g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
}

/* A device request signed with d's key (or not signed, or with a broken
 * signature). */
typedef enum { SIGNED, UNSIGNED, BAD_SIGNATURE } Signing;

static SoupMessage *
device_message (TestDesk *d, const char *method, const char *path, const char *body,
                Signing signing)
{
  g_autofree char *url = g_strconcat (panel->url, path, NULL);
  SoupMessage *msg = soup_message_new (method, url);
  g_autofree char *digest = NULL, *input = NULL, *signature = NULL;
  test_desk_sign (d, method, path, body, strlen (body), &digest, &input, &signature);
  if (signing == BAD_SIGNATURE)
    {
      /* Another valid base64 character in the signature's middle. */
      char *c = signature + strlen ("ansim=:") + 10;
      *c = *c == 'A' ? 'B' : 'A';
    }
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  if (signing != UNSIGNED)
    {
      soup_message_headers_replace (h, "Content-Digest", digest);
      soup_message_headers_replace (h, "Signature-Input", input);
      soup_message_headers_replace (h, "Signature", signature);
    }
  g_autoptr (GBytes) bytes = g_bytes_new (body, strlen (body));
  soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  return msg;
}

static Call *
channel_start (TestDesk *d, gint64 after, gint64 wait_ms)
{
  g_autofree char *body = g_strdup_printf (
    "{\"after\":%" G_GINT64_FORMAT ",\"wait_ms\":%" G_GINT64_FORMAT "}", after, wait_ms);
  return call_start (device_message (d, "POST", CHANNEL_PATH, body, SIGNED));
}

/* A channel answer that must be 200; returns its messages. */
static JsonArray *
channel_ok (Call *c, gint64 *out_seq)
{
  g_assert_true (c->done);
  if (c->status != 200 || c->node == NULL)
    g_error ("channel: %u %s", c->status, c->raw);
  JsonObject *o = json_node_get_object (c->node);
  g_assert_cmpstr (json_object_get_string_member (o, "result"), ==, "ok");
  g_assert_cmpint (json_object_get_int_member (o, "time_us"), >, 0);
  if (out_seq != NULL)
    *out_seq = json_object_get_int_member (o, "seq");
  return json_object_get_array_member (o, "messages");
}

static void
assert_message (JsonArray *messages, guint i, const char *kind, const char *uuid)
{
  g_assert_cmpuint (json_array_get_length (messages), >, i);
  JsonObject *m = json_array_get_object_element (messages, i);
  g_assert_cmpstr (json_object_get_string_member (m, "kind"), ==, kind);
  g_assert_cmpstr (json_object_get_string_member (m, "incident"), ==, uuid);
  g_assert_cmpint (json_object_get_int_member (m, "seq"), >, 0);
  g_assert_cmpint (json_object_get_int_member (m, "at_us"), >, 0);
}

/* The error code of a refused call with its status. */
static void
assert_refused (Call *c, guint status, const char *code, const char *in_message)
{
  g_assert_true (c->done);
  if (c->status != status || c->node == NULL)
    g_error ("expected %u %s, got %u %s", status, code, c->status, c->raw);
  JsonObject *o = json_node_get_object (c->node);
  g_assert_cmpstr (json_object_get_string_member (o, "error"), ==, code);
  if (in_message != NULL)
    g_assert_nonnull (strstr (json_object_get_string_member (o, "message"), in_message));
}

/* An alert from d, as the uploader sends it; returns the uuid and the
 * incident's row id. */
static char *
alert (TestDesk *d, gint64 *out_id)
{
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *path = g_strdup_printf ("/api/v1/alerts/%s", uuid);
  g_autofree char *body = g_strdup_printf (
    "{\"desk_id\":\"%s\",\"trigger\":\"desk-button\",\"trigger_kind\":\"button\","
    "\"opened_wall_us\":%" G_GINT64_FORMAT ",\"opened_mono_us\":%" G_GINT64_FORMAT "}",
    d->desk_id, g_get_real_time (), g_get_monotonic_time ());
  g_autoptr (Call) c = call_start (device_message (d, "PUT", path, body, SIGNED));
  g_assert_true (call_wait (c, 10));
  if (c->status != 201)
    g_error ("alert: %u %s", c->status, c->raw);
  g_autofree char *sql = g_strdup_printf ("SELECT id FROM incidents WHERE uuid = '%s'", uuid);
  *out_id = test_panel_count (panel, sql);
  g_assert_cmpint (*out_id, >, 0);
  return g_steal_pointer (&uuid);
}

/* A console action (acknowledge, resolve) as a person would click it. */
static Call *
console_start (int role, const char *path, const char *body)
{
  g_autofree char *url = g_strconcat (panel->url, path, NULL);
  SoupMessage *msg = soup_message_new ("POST", url);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  soup_message_headers_replace (h, "Cookie", cookie[role]);
  soup_message_headers_replace (h, "X-CSRF-Token", csrf[role]);
  if (body != NULL)
    {
      g_autoptr (GBytes) bytes = g_bytes_new (body, strlen (body));
      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
    }
  return call_start (msg);
}

static void
console_ok (int role, const char *path, const char *body, guint status)
{
  g_autoptr (Call) c = console_start (role, path, body);
  g_assert_true (call_wait (c, 10));
  if (c->status != status)
    g_error ("POST %s: %u %s", path, c->status, c->raw);
}

static void
acknowledge (gint64 id)
{
  g_autofree char *path = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/acknowledge", id);
  console_ok (SECURITY, path, NULL, 200);
}

/* ---- set-up ----------------------------------------------------------- */

static void
login (int role)
{
  g_autofree char *json =
    g_strdup_printf ("{\"user\":\"%s\",\"password\":\"%s\"}", roles[role], PASSWORD);
  g_autofree char *url = g_strconcat (panel->url, "/api/login", NULL);
  SoupMessage *msg = soup_message_new ("POST", url);
  g_autoptr (GBytes) bytes = g_bytes_new (json, strlen (json));
  soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  g_autoptr (Call) c = call_start (msg);
  g_assert_true (call_wait (c, 10));
  g_assert_cmpuint (c->status, ==, 200);
  const char *set =
    soup_message_headers_get_one (soup_message_get_response_headers (c->msg), "Set-Cookie");
  g_assert_nonnull (set);
  g_free (cookie[role]);
  g_free (csrf[role]);
  cookie[role] = g_strndup (set, strcspn (set, ";"));
  csrf[role] =
    g_strdup (json_object_get_string_member (json_node_get_object (c->node), "csrf_token"));
}

static void
set_up (void)
{
  g_autoptr (GError) error = NULL;
  dir = g_dir_make_tmp ("ansim-channel-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *other_dir = g_build_filename (dir, "other-desk", NULL);
  g_autofree char *revoked_dir = g_build_filename (dir, "revoked-desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);
  desk = test_desk_new (desk_dir);
  other_desk = test_desk_new_at (other_dir, "dev-2", "desk-2", "민원실 2번 창구");
  revoked_desk = test_desk_new_at (revoked_dir, "dev-3", "desk-3", "민원실 3번 창구");
  panel = test_panel_new (panel_dir, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    {
      test_add_user (panel->conf, roles[i], roles[i], PASSWORD);
    }
  g_setenv ("ANSIM_PANEL_TEST_PUBLISH", "1", TRUE);
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");
  test_panel_enroll (panel, other_desk, "dev-2");
  test_panel_enroll (panel, revoked_desk, "dev-3");
  /* Several long polls and console requests at once. */
  http = soup_session_new_with_options ("timeout", 60, "max-conns-per-host", 16, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    login (i);
}

static void
tear_down (void)
{
  g_clear_object (&http);
  g_clear_pointer (&panel, test_panel_free);
  g_clear_pointer (&desk, test_desk_free);
  g_clear_pointer (&other_desk, test_desk_free);
  g_clear_pointer (&revoked_desk, test_desk_free);
  for (guint i = 0; i < G_N_ELEMENTS (cookie); i++)
    {
      g_free (cookie[i]);
      g_free (csrf[i]);
    }
  test_rm_rf (dir);
  g_free (dir);
}

/* ---- tests ------------------------------------------------------------ */

/* A desk waiting on the channel hears of the acknowledgement at once. */
static void
test_acknowledge_pushed (void)
{
  gint64 id = 0;
  g_autofree char *uuid = alert (desk, &id);
  g_autoptr (Call) now = channel_start (desk, 0, 0);
  g_assert_true (call_wait (now, 10));
  g_assert_cmpuint (json_array_get_length (channel_ok (now, &last_seq)), ==, 0);

  g_autoptr (Call) held = channel_start (desk, last_seq, 20000);
  spin (500);
  g_assert_false (held->done); /* nothing to say yet: held */

  g_autofree char *path = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/acknowledge", id);
  g_autoptr (Call) ack = console_start (SECURITY, path, NULL);
  g_assert_true (call_wait (held, 5));
  g_assert_true (call_wait (ack, 5));
  g_assert_cmpuint (ack->status, ==, 200);
  double ms = (held->done_us - ack->sent_us) / 1000.0;
  g_test_message ("console acknowledge sent -> channel answer at the desk: %.1f ms "
                  "(the acknowledge's own answer: %.1f ms)",
                  ms, (ack->done_us - ack->sent_us) / 1000.0);
  JsonArray *messages = channel_ok (held, &last_seq);
  g_assert_cmpuint (json_array_get_length (messages), ==, 1);
  assert_message (messages, 0, "acknowledged", uuid);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (messages, 0), "seq"),
                   ==, last_seq);
  /* Well under the 500 ms the heartbeat poll alone took; loose enough
   * for a loaded test machine. */
  g_assert_cmpfloat (ms, <, 1000);

  /* Resolving is pushed the same way. */
  g_autoptr (Call) held2 = channel_start (desk, last_seq, 20000);
  spin (200);
  g_assert_false (held2->done);
  g_autofree char *resolve = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/resolve", id);
  console_ok (SECURITY, resolve, "{\"category\":\"other\"}", 200);
  g_assert_true (call_wait (held2, 5));
  gint64 before = last_seq;
  messages = channel_ok (held2, &last_seq);
  g_assert_cmpuint (json_array_get_length (messages), ==, 1);
  assert_message (messages, 0, "resolved", uuid);
  g_assert_cmpint (last_seq, >, before);
}

/* The police bell (what escalation calls) reaches the desk's held
 * request, with its reason. */
static void
test_police_bell (void)
{
  gint64 id = 0;
  g_autofree char *uuid = alert (desk, &id);
  g_autoptr (Call) held = channel_start (desk, last_seq, 20000);
  spin (200);
  g_assert_false (held->done);
  g_autofree char *body = g_strdup_printf ("{\"incident\":%" G_GINT64_FORMAT "}", id);
  /* Only an admin may use the test route. */
  console_ok (SECURITY, "/api/test/police-bell", body, 403);
  g_assert_false (held->done);
  console_ok (ADMIN, "/api/test/police-bell", body, 204);
  g_assert_true (call_wait (held, 5));
  JsonArray *messages = channel_ok (held, &last_seq);
  g_assert_cmpuint (json_array_get_length (messages), ==, 1);
  assert_message (messages, 0, "police-bell", uuid);
  g_assert_cmpstr (
    json_object_get_string_member (json_array_get_object_element (messages, 0), "reason"), ==,
    "test");
  acknowledge (id);
  g_autoptr (Call) c = channel_start (desk, last_seq, 0);
  g_assert_true (call_wait (c, 5));
  assert_message (channel_ok (c, &last_seq), 0, "acknowledged", uuid);
}

/* A desk that was away gets what it missed, in order, also after the
 * panel restarted; messages of other desks are not its own. */
static void
test_missed_after_reconnect (void)
{
  gint64 id = 0, other_id = 0;
  g_autofree char *uuid = alert (desk, &id);
  g_autofree char *other_uuid = alert (other_desk, &other_id);
  gint64 away_from = last_seq;
  acknowledge (id);
  acknowledge (other_id);
  g_autofree char *resolve = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/resolve", id);
  console_ok (SECURITY, resolve, "{\"category\":\"threat\"}", 200);

  for (int round = 0; round < 2; round++)
    {
      g_autoptr (Call) c = channel_start (desk, away_from, 20000);
      g_assert_true (call_wait (c, 5)); /* there is something: answered at once */
      gint64 seq = 0;
      JsonArray *messages = channel_ok (c, &seq);
      g_assert_cmpuint (json_array_get_length (messages), ==, 2);
      assert_message (messages, 0, "acknowledged", uuid);
      assert_message (messages, 1, "resolved", uuid);
      g_assert_cmpint (
        seq, ==, json_object_get_int_member (json_array_get_object_element (messages, 1), "seq"));
      last_seq = seq;
      if (round == 0)
        {
          /* The same after a restart of the panel (durable, same seq). */
          test_panel_stop (panel, SIGTERM);
          test_panel_start (panel);
        }
    }
  /* The other desk sees only its own; from 0, everything it has. */
  g_autoptr (Call) o = channel_start (other_desk, 0, 0);
  g_assert_true (call_wait (o, 5));
  JsonArray *messages = channel_ok (o, NULL);
  g_assert_cmpuint (json_array_get_length (messages), ==, 1);
  assert_message (messages, 0, "acknowledged", other_uuid);
  /* An after the panel never gave (its database was replaced) starts
   * over from what is kept. */
  g_autoptr (Call) far = channel_start (other_desk, 1000000, 0);
  g_assert_true (call_wait (far, 5));
  g_assert_cmpuint (json_array_get_length (channel_ok (far, NULL)), ==, 1);
}

/* Nothing happens: the answer is an empty list after wait_ms, not before. */
static void
test_idle (void)
{
  g_autoptr (Call) c = channel_start (desk, last_seq, 700);
  g_assert_true (call_wait (c, 10));
  gint64 seq = 0;
  g_assert_cmpuint (json_array_get_length (channel_ok (c, &seq)), ==, 0);
  g_assert_cmpint (seq, ==, last_seq);
  double ms = (c->done_us - c->sent_us) / 1000.0;
  g_test_message ("idle channel request with wait_ms 700 answered after %.1f ms", ms);
  g_assert_cmpfloat (ms, >=, 690);
  g_assert_cmpfloat (ms, <, 3000);
}

/* A desk's newer request ends its older one at once; another desk's
 * held request stays held and gets only its own news. */
static void
test_second_request_ends_first (void)
{
  gint64 id = 0, other_id = 0;
  g_autofree char *uuid = alert (desk, &id);
  g_autofree char *other_uuid = alert (other_desk, &other_id);
  g_autoptr (Call) o0 = channel_start (other_desk, 0, 0);
  g_assert_true (call_wait (o0, 5));
  gint64 other_seq = 0;
  channel_ok (o0, &other_seq);

  g_autoptr (Call) first = channel_start (desk, last_seq, 20000);
  g_autoptr (Call) other = channel_start (other_desk, other_seq, 20000);
  spin (300);
  g_assert_false (first->done);
  g_assert_false (other->done);
  g_autoptr (Call) second = channel_start (desk, last_seq, 20000);
  g_assert_true (call_wait (first, 3));
  g_test_message ("the first request ended %.1f ms after the second was sent",
                  (first->done_us - second->sent_us) / 1000.0);
  g_assert_cmpuint (json_array_get_length (channel_ok (first, NULL)), ==, 0);
  spin (300);
  g_assert_false (second->done);

  acknowledge (id);
  g_assert_true (call_wait (second, 5));
  JsonArray *messages = channel_ok (second, &last_seq);
  g_assert_cmpuint (json_array_get_length (messages), ==, 1);
  assert_message (messages, 0, "acknowledged", uuid);
  spin (300);
  g_assert_false (other->done); /* not its news */
  acknowledge (other_id);
  g_assert_true (call_wait (other, 5));
  assert_message (channel_ok (other, NULL), 0, "acknowledged", other_uuid);
}

/* A held request does not outlive the panel: it ends when the panel stops. */
static void
test_held_at_shutdown (void)
{
  g_autoptr (Call) held = channel_start (desk, last_seq, 20000);
  spin (300);
  g_assert_false (held->done);
  test_panel_stop (panel, SIGTERM);
  g_assert_true (call_wait (held, 5));
  g_test_message ("held request at shutdown: %u %s", held->status, held->raw);
  if (held->status != 0)
    g_assert_cmpuint (json_array_get_length (channel_ok (held, NULL)), ==, 0);
  test_panel_start (panel);
}

static void
test_refused_devices (void)
{
  const char *body = "{\"after\":0,\"wait_ms\":0}";
  g_autoptr (Call) u = call_start (device_message (desk, "POST", CHANNEL_PATH, body, UNSIGNED));
  g_assert_true (call_wait (u, 5));
  assert_refused (u, 401, "unsigned", NULL);
  g_autoptr (Call) b =
    call_start (device_message (desk, "POST", CHANNEL_PATH, body, BAD_SIGNATURE));
  g_assert_true (call_wait (b, 5));
  assert_refused (b, 401, "bad-signature", NULL);
  /* A board that was answered before is refused once revoked. */
  g_autoptr (Call) ok = channel_start (revoked_desk, 0, 0);
  g_assert_true (call_wait (ok, 5));
  channel_ok (ok, NULL);
  const char *args[] = { "revoke", "--config", panel->conf,    "--device",
                         "dev-3",  "--reason", "board stolen", NULL };
  g_free (test_ansimctl_ok ("", args));
  g_autoptr (Call) r = channel_start (revoked_desk, 0, 20000);
  g_assert_true (call_wait (r, 5));
  assert_refused (r, 403, "revoked", NULL);
  g_autoptr (Call) g = call_start (device_message (desk, "GET", CHANNEL_PATH, "", SIGNED));
  g_assert_true (call_wait (g, 5));
  assert_refused (g, 405, "method-not-allowed", "POST");
}

static void
test_bad_bodies (void)
{
  static const struct {
    const char *body;
    const char *in_message;
  } cases[] = {
    { "{\"after\":0,\"wait_ms\":0,\"since\":3}", "unknown member 'since'" },
    { "{\"after\":-1,\"wait_ms\":0}", "'after'" },
    { "{\"after\":0,\"wait_ms\":25001}", "'wait_ms' must be between 0 and 25000" },
    { "{\"after\":0,\"wait_ms\":-5}", "'wait_ms'" },
    { "{\"after\":\"5\"}", "'after' must be an integer" },
    { "{\"after\":1.5}", "'after' must be an integer" },
    { "{\"wait_ms\":100}", "'after' must be an integer" },
    { "[0]", "not a JSON object" },
    { "after=0", "not JSON" },
  };
  gint64 messages_before = test_panel_count (panel, "SELECT count(*) FROM channel_messages");
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (Call) c =
        call_start (device_message (desk, "POST", CHANNEL_PATH, cases[i].body, SIGNED));
      g_assert_true (call_wait (c, 5));
      g_test_message ("%s -> %u %s", cases[i].body, c->status, c->raw);
      assert_refused (c, 400, "bad-request", cases[i].in_message);
    }
  g_assert_cmpint (test_panel_count (panel, "SELECT count(*) FROM channel_messages"), ==,
                   messages_before);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  set_up ();
  g_test_add_func ("/channel/acknowledge-pushed", test_acknowledge_pushed);
  g_test_add_func ("/channel/police-bell", test_police_bell);
  g_test_add_func ("/channel/missed-after-reconnect", test_missed_after_reconnect);
  g_test_add_func ("/channel/idle", test_idle);
  g_test_add_func ("/channel/second-request-ends-first", test_second_request_ends_first);
  g_test_add_func ("/channel/held-at-shutdown", test_held_at_shutdown);
  g_test_add_func ("/channel/refused-devices", test_refused_devices);
  g_test_add_func ("/channel/bad-bodies", test_bad_bodies);
  int rc = g_test_run ();
  tear_down ();
  return rc;
}
