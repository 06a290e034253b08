/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Protecting staff and binding devices, against a real ansim-panel over
 * loopback (issue 14): strangers cannot lock a user out, refused logins
 * become one counted audit entry per window, an old password hash is
 * upgraded at login with the real scrypt cost, a device cannot speak for
 * another desk nor mark a press as a drill, and enrollment is audited and
 * throttled. Clients are told apart through X-Forwarded-For from
 * 127.0.0.1, which the panels here list in trusted_proxies. */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "db.h"
#include "httpsig.h"
#include "test-console.h"
#include "upload-helpers.h"

#define PASSWORD "password-for-tests-1"
#define STAFF_CONFIG                                                                               \
  "trusted_proxies = 127.0.0.1, ::1\nlogin_failures_per_account = 3\n"                             \
  "login_failures_per_address = 5\nlogin_lockout_s = 60\nlogin_audit_window_s = 1\n"

static SoupSession *http;

typedef struct {
  char *dir;
  TestPanel *panel;
} Fixture;

/* data: the panel's extra configuration, NULL for STAFF_CONFIG. */
static void
setup (Fixture *f, gconstpointer data)
{
  f->dir = test_make_tmp_dir ("ansim-staff-XXXXXX");
  g_autofree char *panel_dir = g_build_filename (f->dir, "panel", NULL);
  f->panel = test_panel_new (panel_dir, data != NULL ? data : STAFF_CONFIG);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  test_panel_free (f->panel);
  test_rm_rf (f->dir);
  g_free (f->dir);
}

/* POST /api/login as user from client (X-Forwarded-For; NULL: none). */
static guint
login_from (Fixture *f, const char *client, const char *user, const char *password)
{
  g_autofree char *url = g_strconcat (f->panel->url, "/api/login", NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  g_autofree char *json = g_strdup_printf ("{\"user\":\"%s\",\"password\":\"%s\"}", user, password);
  g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) reply = NULL;

  if (client != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Forwarded-For",
                                  client);
  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  reply = soup_session_send_and_read (http, msg, NULL, &error);
  g_assert_no_error (error);
  return soup_message_get_status (msg);
}

static gint64 count (Fixture *f, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gint64
count (Fixture *f, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *sql = g_strdup_vprintf (format, ap);
  va_end (ap);
  return test_panel_count (f->panel, sql);
}

/* ---- logins ---- */

/* Thirty made-up names from one client, then a flood of wrong passwords
 * for the real user from another: the user still logs in from anywhere
 * else, the guesser waits, and ansimctl on the panel host ends the wait. */
static void
test_strangers_cannot_lock_out (Fixture *f, gconstpointer data)
{
  (void) data;
  test_add_user (f->panel->conf, "kim", "security", PASSWORD);
  test_panel_start (f->panel);

  for (guint i = 0; i < 30; i++)
    {
      g_autofree char *name = g_strdup_printf ("stranger-%u", i);
      g_assert_cmpuint (login_from (f, "203.0.113.9", name, "guess-guess-guess"), ==, 401);
    }
  /* The real user behind the same address (one office, one NAT). */
  g_assert_cmpuint (login_from (f, "203.0.113.9", "kim", PASSWORD), ==, 200);

  /* Someone else guesses kim's password. */
  for (guint i = 0; i < 10; i++)
    g_assert_cmpuint (login_from (f, "198.51.100.7", "kim", "wrong-password"), ==,
                      i < 3 ? 401 : 429);
  g_assert_cmpuint (login_from (f, "198.51.100.7", "kim", PASSWORD), ==, 429);
  /* kim, from her own desk, is not slowed at all. */
  g_assert_cmpuint (login_from (f, "203.0.113.9", "kim", PASSWORD), ==, 200);
  g_assert_cmpuint (login_from (f, "192.0.2.1", "kim", PASSWORD), ==, 200);

  /* On the panel host, an administrator lets the slowed client try now. */
  const char *unlock[] = { "user", "unlock", "kim", "--config", f->panel->conf, NULL };
  g_autofree char *out = test_ansimctl_ok (NULL, unlock);
  g_assert_nonnull (strstr (out, "user kim unlocked"));
  g_assert_cmpuint (login_from (f, "198.51.100.7", "kim", PASSWORD), ==, 200);
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE action = 'user-changed' "
                             "AND target = 'user kim' AND detail LIKE '%%unlocked%%'"),
                   ==, 1);
  /* The address the audit log names is the client's, not the proxy's. */
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE action = 'login' "
                             "AND client = '198.51.100.7'"),
                   ==, 1);
}

/* Without trusted_proxies, X-Forwarded-For is anyone's to write: a
 * guesser cannot pose as many clients (nor hide as another). */
static void
test_forwarded_for_not_believed (Fixture *f, gconstpointer data)
{
  (void) data;
  test_add_user (f->panel->conf, "kim", "security", PASSWORD);
  test_panel_start (f->panel);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *client = g_strdup_printf ("203.0.113.%u", i + 1);
      g_assert_cmpuint (login_from (f, client, "kim", "wrong-password"), ==, 401);
    }
  g_assert_cmpuint (login_from (f, "203.0.113.99", "kim", "wrong-password"), ==, 429);
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE action = 'login-failed' "
                             "AND client = '127.0.0.1'"),
                   ==, 3);
}

/* 150 tries in a row after three failures: the log gets the three
 * failures and a few login-throttled entries whose counts add up. */
static void
test_throttled_aggregated (Fixture *f, gconstpointer data)
{
  (void) data;
  guint n_401 = 0, n_429 = 0;
  gint64 start = g_get_monotonic_time ();

  test_add_user (f->panel->conf, "kim", "security", PASSWORD);
  test_add_user (f->panel->conf, "audrey", "auditor", PASSWORD);
  test_panel_start (f->panel);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpuint (login_from (f, "192.0.2.50", "kim", "wrong-password"), ==, 401);
  for (guint i = 0; i < 150; i++)
    {
      guint status = login_from (f, "192.0.2.50", "kim", "wrong-password");
      g_assert_true (status == 401 || status == 429);
      n_401 += status == 401;
      n_429 += status == 429;
    }
  double took_s = (g_get_monotonic_time () - start) / 1e6;
  g_test_message ("150 tries in %.1f s: %u checked, %u refused", took_s, n_401, n_429);
  g_assert_cmpuint (n_429, >=, 140);

  /* Written when each 1 s window ends. */
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (count (f, "SELECT coalesce (sum (json_extract (detail, '$.count')), 0) FROM audit_log "
                   "WHERE action = 'login-throttled' AND target = 'kim' "
                   "AND client = '192.0.2.50'")
         < n_429)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (50000);
    }
  gint64 rows = count (f, "SELECT count(*) FROM audit_log WHERE action = 'login-throttled'");
  g_test_message ("%u refused tries: %" G_GINT64_FORMAT " login-throttled entries", n_429, rows);
  g_assert_cmpint (rows, <=, (gint64) took_s + 2);
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE action = 'login-failed'"), ==,
                   3 + n_401);
  /* The chain still holds. */
  const char *verify[] = { "audit", "verify", "--config", f->panel->conf, NULL };
  g_autofree char *out = test_ansimctl_ok (NULL, verify);
  g_assert_true (g_str_has_prefix (out, "audit log intact"));

  /* The export streams (chunked) every entry up to its own, one per line. */
  g_autoptr (TestConsole) console = test_console_new (f->panel->url, http, 0);
  TestLogin auditor = { 0 };
  g_autoptr (SoupMessage) msg = NULL;
  guint status = 0;
  test_console_login (console, "audrey", PASSWORD, &auditor);
  g_autofree char *lines = test_console_request (console, "GET", "/api/audit/export", &auditor,
                                                 TEST_CSRF_NONE, NULL, NULL, 0, &status, &msg);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpint (soup_message_headers_get_encoding (soup_message_get_response_headers (msg)), ==,
                   SOUP_ENCODING_CHUNKED);
  g_auto (GStrv) split = g_strsplit (lines, "\n", -1);
  gint64 n = count (f, "SELECT max (id) FROM audit_log WHERE action = 'audit-exported'");
  g_assert_cmpint (g_strv_length (split), ==, n + 1);
  for (gint64 i = 0; i < n; i++)
    {
      g_autoptr (JsonObject) o = test_json_parse_object (split[i]);
      g_assert_cmpint (json_object_get_int_member (o, "id"), ==, i + 1);
    }
  test_login_clear (&auditor);
}

/* A user made before the cost was raised (N = 2^15) logs in on a panel
 * with the real cost: the stored hash becomes N = 2^17, and works. */
static void
test_old_hash_rehashed (Fixture *f, gconstpointer data)
{
  (void) data;
  const char *const real_cost[] = { "ANSIM_TEST_SCRYPT_LOG2_N", NULL, NULL };

  g_assert_true (g_setenv ("ANSIM_TEST_SCRYPT_LOG2_N", "15", TRUE));
  test_add_user (f->panel->conf, "old-timer", "security", PASSWORD);
  g_assert_true (g_setenv ("ANSIM_TEST_SCRYPT_LOG2_N", "12", TRUE));
  g_assert_cmpint (count (f, "SELECT count(*) FROM users WHERE name = 'old-timer' AND "
                             "password_hash LIKE '$scrypt$ln=15,r=8,p=1$%%'"),
                   ==, 1);
  test_panel_start_env (f->panel, real_cost);

  gint64 start = g_get_monotonic_time ();
  g_assert_cmpuint (login_from (f, NULL, "old-timer", PASSWORD), ==, 200);
  g_test_message ("login with the upgrade took %.0f ms",
                  (g_get_monotonic_time () - start) / 1000.0);
  g_assert_cmpint (count (f, "SELECT count(*) FROM users WHERE name = 'old-timer' AND "
                             "password_hash LIKE '$scrypt$ln=17,r=8,p=1$%%'"),
                   ==, 1);
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE action = 'login' AND "
                             "actor = 'old-timer' AND detail LIKE '%%upgraded%%'"),
                   ==, 1);
  /* The new hash is of the same password. */
  g_assert_cmpuint (login_from (f, NULL, "old-timer", "wrong-password"), ==, 401);
  g_assert_cmpuint (login_from (f, NULL, "old-timer", PASSWORD), ==, 200);
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE detail LIKE '%%upgraded%%'"), ==,
                   1);
}

/* ---- devices ---- */

/* PUT an alert signed by desk's key; returns the status. */
static guint
send_alert (Fixture *f, TestDesk *desk, const char *desk_id, const char *desk_name, gboolean drill,
            char **out_uuid, char **out_body)
{
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *path = g_strdup_printf ("/api/v1/alerts/%s", uuid);
  g_autofree char *url = g_strconcat (f->panel->url, path, NULL);
  g_autofree char *json =
    g_strdup_printf ("{\"desk_id\":\"%s\",\"desk_name\":\"%s\",\"trigger\":\"button\","
                     "\"trigger_kind\":\"button\",\"opened_wall_us\":%" G_GINT64_FORMAT
                     ",\"opened_mono_us\":%" G_GINT64_FORMAT "%s}",
                     desk_id, desk_name, g_get_real_time (), g_get_monotonic_time (),
                     drill ? ",\"drill\":true" : "");
  g_autofree char *digest = NULL, *input = NULL, *signature = NULL;
  g_autoptr (SoupMessage) msg = soup_message_new ("PUT", url);
  g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) reply = NULL;
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);

  test_desk_sign (desk, "PUT", path, json, strlen (json), &digest, &input, &signature);
  soup_message_headers_replace (h, "Content-Digest", digest);
  soup_message_headers_replace (h, "Signature-Input", input);
  soup_message_headers_replace (h, "Signature", signature);
  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  reply = soup_session_send_and_read (http, msg, NULL, &error);
  g_assert_no_error (error);
  if (out_uuid != NULL)
    *out_uuid = g_steal_pointer (&uuid);
  if (out_body != NULL)
    *out_body = g_strndup (g_bytes_get_data (reply, NULL), g_bytes_get_size (reply));
  return soup_message_get_status (msg);
}

/* A board enrolled for desk-1 raises an alert for desk-2 and for a desk
 * that does not exist: both refused 403 and audited, nothing stored, no
 * desk renamed. A "drill": true from the desk does not make a drill. */
static void
test_device_bound_to_desk (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autofree char *d1 = g_build_filename (f->dir, "desk-1", NULL);
  g_autofree char *d2 = g_build_filename (f->dir, "desk-2", NULL);
  g_autoptr (TestDesk) desk1 = test_desk_new (d1);
  g_autoptr (TestDesk) desk2 = test_desk_new_at (d2, "dev-2", "desk-2", "민원실 2번 창구");
  g_autofree char *body = NULL, *uuid = NULL;

  test_panel_start (f->panel);
  test_panel_enroll (f->panel, desk1, "dev-1");
  test_panel_enroll (f->panel, desk2, "dev-2");
  g_assert_cmpuint (send_alert (f, desk2, "desk-2", "2번 창구", FALSE, NULL, NULL), ==, 201);
  gint64 incidents = count (f, "SELECT count(*) FROM incidents");

  g_assert_cmpuint (send_alert (f, desk1, "desk-2", "renamed by a stranger", FALSE, NULL, &body),
                    ==, 403);
  g_assert_nonnull (strstr (body, "\"wrong-desk\""));
  g_clear_pointer (&body, g_free);
  g_assert_cmpuint (send_alert (f, desk1, "desk-99", "renamed by a stranger", FALSE, NULL, &body),
                    ==, 403);
  g_assert_cmpint (count (f, "SELECT count(*) FROM incidents"), ==, incidents);
  g_assert_cmpint (count (f, "SELECT count(*) FROM desks WHERE id = 'desk-99'"), ==, 0);
  g_assert_cmpint (
    count (f, "SELECT count(*) FROM desks WHERE id = 'desk-2' AND name = '2번 창구'"), ==, 1);
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE action = 'device-wrong-desk' "
                             "AND actor = 'device dev-1' AND client = '127.0.0.1'"),
                   ==, 2);
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE action = 'device-wrong-desk' "
                             "AND target = 'desk desk-2' "
                             "AND json_extract (detail, '$.enrolled_desk') = 'desk-1'"),
                   ==, 1);

  /* Its own desk, claiming a drill: stored as the real press it is. */
  g_assert_cmpuint (send_alert (f, desk1, "desk-1", "1번 창구", TRUE, &uuid, NULL), ==, 201);
  g_assert_cmpint (count (f, "SELECT is_drill FROM incidents WHERE uuid = '%s'", uuid), ==, 0);
  g_assert_cmpint (count (f, "SELECT count(*) FROM incidents WHERE uuid = '%s'", uuid), ==, 1);
}

/* GET /api/incidents/ID?QUERY as login; the status. */
static guint
view (TestConsole *console, const TestLogin *login, gint64 id, const char *query)
{
  g_autofree char *path = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "%s%s", id,
                                           query != NULL ? "?" : "", query != NULL ? query : "");
  guint status = 0;
  g_autofree char *body = test_console_request (console, "GET", path, login, TEST_CSRF_NONE, NULL,
                                                NULL, 0, &status, NULL);
  if (status != 200)
    g_test_message ("%s: %u %s", path, status, body);
  return status;
}

/* One incident-viewed entry per page open (the console's view token), not
 * per refresh; with access_purpose the first load of a view needs the
 * purpose, which the entry keeps. */
static void
test_view_per_page_open (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autofree char *d1 = g_build_filename (f->dir, "desk-1", NULL);
  g_autoptr (TestDesk) desk = test_desk_new (d1);
  g_autofree char *uuid = NULL;
  TestLogin guard = { 0 };

  g_autofree char *conf = g_strdup_printf (
    "[panel]\ndata_dir = %s\nport = %u\naccess_purpose = true\n", f->panel->dir, f->panel->port);
  g_assert_true (g_file_set_contents (f->panel->conf, conf, -1, NULL));
  test_add_user (f->panel->conf, "guard", "security", PASSWORD);
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, desk, "dev-1");
  g_assert_cmpuint (send_alert (f, desk, "desk-1", "1번 창구", FALSE, &uuid, NULL), ==, 201);
  gint64 id = count (f, "SELECT id FROM incidents WHERE uuid = '%s'", uuid);
  g_autoptr (TestConsole) console = test_console_new (f->panel->url, http, 0);
  test_console_login (console, "guard", PASSWORD, &guard);
#define VIEWS count (f, "SELECT count(*) FROM audit_log WHERE action = 'incident-viewed'")

  /* No purpose: refused, not shown, not counted. */
  g_assert_cmpuint (view (console, &guard, id, "view=page-open-0001"), ==, 400);
  g_assert_cmpint (VIEWS, ==, 0);
  g_assert_cmpuint (view (console, &guard, id, "view=page-open-0001&purpose=%20%20"), ==, 400);
  /* With it: one entry with the purpose; the page's refreshes add none. */
  g_assert_cmpuint (view (console, &guard, id,
                          "view=page-open-0001&purpose=%EB%AF%BC%EC%9B%90%20%ED%99%95%EC%9D%B8"),
                    ==, 200);
  for (guint i = 0; i < 5; i++)
    g_assert_cmpuint (view (console, &guard, id, "view=page-open-0001"), ==, 200);
  g_assert_cmpint (VIEWS, ==, 1);
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE action = 'incident-viewed' "
                             "AND json_extract (detail, '$.purpose') = '민원 확인'"),
                   ==, 1);
  /* Opening the page again is a new view, with its own purpose. */
  g_assert_cmpuint (view (console, &guard, id, "view=page-open-0002"), ==, 400);
  g_assert_cmpuint (view (console, &guard, id, "view=page-open-0002&purpose=again"), ==, 200);
  g_assert_cmpint (VIEWS, ==, 2);
  /* A request without a view token is always counted. */
  g_assert_cmpuint (view (console, &guard, id, "purpose=script"), ==, 200);
  g_assert_cmpuint (view (console, &guard, id, "purpose=script"), ==, 200);
  g_assert_cmpint (VIEWS, ==, 4);
  g_assert_cmpuint (view (console, &guard, id, "view=x"), ==, 400);
#undef VIEWS
  test_login_clear (&guard);
}

/* POST /api/v1/enroll with code, signed with key (proof of possession). */
static guint
send_enroll (Fixture *f, TestDesk *desk, const char *code)
{
  g_autofree char *pem = ansim_device_key_get_public_pem (desk->key);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, code);
  json_builder_set_member_name (b, "public_key");
  json_builder_add_string_value (b, pem);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *json = json_to_string (root, FALSE);
  g_autofree char *url = g_strconcat (f->panel->url, "/api/v1/enroll", NULL);
  g_autofree char *digest = NULL, *input = NULL, *signature = NULL;
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) reply = NULL;
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);

  test_desk_sign (desk, "POST", "/api/v1/enroll", json, strlen (json), &digest, &input, &signature);
  soup_message_headers_replace (h, "Content-Digest", digest);
  soup_message_headers_replace (h, "Signature-Input", input);
  soup_message_headers_replace (h, "Signature", signature);
  soup_message_headers_replace (h, "X-Forwarded-For", "198.51.100.23");
  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  reply = soup_session_send_and_read (http, msg, NULL, &error);
  g_assert_no_error (error);
  return soup_message_get_status (msg);
}

/* Codes, enrollments and revocations leave audit entries; guessing codes
 * from one client is slowed after five failures, and the refused tries are
 * counted into one entry. */
static void
test_enrollment_audited_throttled (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autofree char *d1 = g_build_filename (f->dir, "desk-1", NULL);
  g_autofree char *d2 = g_build_filename (f->dir, "guesser", NULL);
  g_autoptr (TestDesk) desk = test_desk_new (d1);
  g_autoptr (TestDesk) guesser = test_desk_new_at (d2, "dev-9", "desk-9", "?");

  test_panel_start (f->panel);
  test_panel_enroll (f->panel, desk, "dev-1");
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE action = "
                             "'enrollment-code-created' AND actor LIKE 'ansimctl:%%' "
                             "AND target = 'device dev-1' "
                             "AND json_extract (detail, '$.desk') = 'desk-1'"),
                   ==, 1);
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE action = 'device-enrolled' "
                             "AND target = 'device dev-1' AND client = '127.0.0.1'"),
                   ==, 1);
  /* No code in clear in the log. */
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE detail LIKE '%%code\"%%'"), ==,
                   0);

  const char *revoke[] = { "revoke", "--config", f->panel->conf, "--device",
                           "dev-1",  "--reason", "board stolen", NULL };
  g_autofree char *out = test_ansimctl_ok (NULL, revoke);
  (void) out; /* kept for its cleanup */
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE action = 'device-revoked' "
                             "AND target = 'device dev-1' "
                             "AND json_extract (detail, '$.reason') = 'board stolen'"),
                   ==, 1);

  for (guint i = 0; i < 5; i++)
    g_assert_cmpuint (send_enroll (f, guesser, "AAAA-BBBB-CCCC-DDDD"), ==, 403);
  for (guint i = 0; i < 20; i++)
    g_assert_cmpuint (send_enroll (f, guesser, "AAAA-BBBB-CCCC-DDDD"), ==, 429);
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE action = 'enrollment-refused' "
                             "AND client = '198.51.100.23' "
                             "AND json_extract (detail, '$.reason') = 'bad-code'"),
                   ==, 5);
  /* The wait after the fifth failure is 1 s; the next try is checked and
   * the 20 refused ones are written as one entry. */
  g_usleep (1100 * 1000);
  g_assert_cmpuint (send_enroll (f, guesser, "AAAA-BBBB-CCCC-DDDD"), ==, 403);
  g_assert_cmpint (count (f, "SELECT count(*) FROM audit_log WHERE action = "
                             "'enrollment-throttled' AND client = '198.51.100.23' "
                             "AND json_extract (detail, '$.count') = 20"),
                   ==, 1);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  http = soup_session_new_with_options ("timeout", 30, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, setup, fn, teardown)
  ADD ("/staff/login/strangers-cannot-lock-out", test_strangers_cannot_lock_out);
  g_test_add ("/staff/login/forwarded-for-not-believed", Fixture,
              "login_failures_per_account = 3\nlogin_audit_window_s = 1\n", setup,
              test_forwarded_for_not_believed, teardown);
  ADD ("/staff/login/throttled-aggregated", test_throttled_aggregated);
  ADD ("/staff/login/old-hash-rehashed", test_old_hash_rehashed);
  ADD ("/staff/device/bound-to-desk", test_device_bound_to_desk);
  ADD ("/staff/device/enrollment-audited-throttled", test_enrollment_audited_throttled);
  ADD ("/staff/audit/view-per-page-open", test_view_per_page_open);
  status = g_test_run ();
  g_object_unref (http);
  return status;
}
