/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The console's API over real HTTP on loopback: a real ansim-panel process,
 * users made with `ansimctl user add`, requests from a libsoup client. Role
 * matrix, CSRF, bad input, throttling, session expiry, audit entries, the
 * audit chain checked by `ansimctl audit verify`, and live events. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/prctl.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sqlite3.h>
#include <string.h>

#include "test-common.h"
#include "test-console.h"

typedef struct {
  char *dir;
  GSubprocess *process;
  char *url;            /* "http://127.0.0.1:PORT" without the trailing slash */
  TestConsole *console; /* on url, through the shared session */
} Panel;

static const char *const roles[] = { "security", "trainer", "admin", "auditor" };
#define PASSWORD "password-for-tests-1"

static SoupSession *http;
static Panel main_panel, short_panel, tls_panel;
static TestLogin logins[4]; /* by role, on main_panel */

/* A panel in a fresh directory with the four users, listening on a free
 * port; the URL comes from its log line. */
static void
panel_start (Panel *p, const char *extra_config, gboolean test_publish, gboolean tls)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *conf = NULL, *text = NULL, *program = test_build_path ("panel/ansim-panel");
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GDataInputStream) log = NULL;

  p->dir = g_dir_make_tmp ("ansim-test-console-XXXXXX", &error);
  g_assert_no_error (error);
  conf = g_build_filename (p->dir, "panel.conf", NULL);
  if (tls)
    {
      /* A self-signed certificate made by the openssl command line. */
      g_autoptr (GSubprocessLauncher) in_dir = g_subprocess_launcher_new (
        G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
      g_autoptr (GSubprocess) openssl = NULL;
      g_subprocess_launcher_set_cwd (in_dir, p->dir);
      openssl = g_subprocess_launcher_spawn (in_dir, &error, "openssl", "req", "-x509", "-newkey",
                                             "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                             "-keyout", "key.pem", "-out", "cert.pem", "-days", "2",
                                             "-subj", "/CN=127.0.0.1", NULL);
      g_assert_no_error (error);
      g_subprocess_wait_check (openssl, NULL, &error);
      g_assert_no_error (error);
    }
  text = g_strdup_printf ("[panel]\ndata_dir = %s\nport = 0\n%s%s", p->dir, extra_config,
                          tls ? "tls_certificate = cert.pem\ntls_key = key.pem\n" : "");
  g_assert_true (g_file_set_contents (conf, text, -1, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    test_add_user (conf, roles[i], roles[i], PASSWORD);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, test_die_with_parent, NULL, NULL);
  if (test_publish)
    g_subprocess_launcher_setenv (launcher, "ANSIM_PANEL_TEST_PUBLISH", "1", TRUE);
  /* LeakSanitizer itself crashes ("Tracer caught signal 11") walking the
   * threads GnuTLS leaves behind in glib-networking; AddressSanitizer stays
   * on. The plain-HTTP panels keep leak checking. */
  if (tls && g_getenv ("ASAN_OPTIONS") != NULL)
    {
      g_autofree char *options = g_strconcat (g_getenv ("ASAN_OPTIONS"), ":detect_leaks=0", NULL);
      g_subprocess_launcher_setenv (launcher, "ASAN_OPTIONS", options, TRUE);
    }
  p->process = g_subprocess_launcher_spawn (launcher, &error, program, "--config", conf, NULL);
  g_assert_no_error (error);
  log = g_data_input_stream_new (g_subprocess_get_stderr_pipe (p->process));
  for (;;)
    {
      g_autofree char *line = g_data_input_stream_read_line_utf8 (log, NULL, NULL, &error);
      const char *at;
      g_assert_no_error (error);
      if (line == NULL)
        g_error ("ansim-panel stopped before listening");
      g_test_message ("panel: %s", line);
      if ((at = strstr (line, "listening on ")) != NULL)
        {
          p->url = g_strdup (at + strlen ("listening on "));
          if (g_str_has_suffix (p->url, "/"))
            p->url[strlen (p->url) - 1] = '\0';
          p->console = test_console_new (p->url, http, 0);
          break;
        }
    }
}

static void
panel_stop (Panel *p)
{
  g_autoptr (GError) error = NULL;
  if (p->process == NULL)
    return;
  g_subprocess_send_signal (p->process, SIGTERM);
  g_subprocess_wait_check (p->process, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&p->process);
}

static void
panel_remove (Panel *p)
{
  g_autoptr (GDir) dir = g_dir_open (p->dir, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *file = g_build_filename (p->dir, name, NULL);
      g_unlink (file);
    }
  g_rmdir (p->dir);
  g_free (p->dir);
  g_free (p->url);
  g_clear_pointer (&p->console, test_console_free);
}

/* Entries of the audit log (newest first) as an auditor sees them. */
static JsonArray *
audit_entries (Panel *p, TestLogin *auditor)
{
  guint status = 0;
  g_autofree char *body = test_console_request (p->console, "GET", "/api/audit?limit=500", auditor,
                                                TEST_CSRF_NONE, NULL, NULL, 0, &status, NULL);
  g_autoptr (JsonObject) o = NULL;
  g_assert_cmpuint (status, ==, 200);
  o = test_json_parse_object (body);
  return json_array_ref (json_object_get_array_member (o, "entries"));
}

static guint
count_entries (JsonArray *entries, const char *action, const char *actor)
{
  guint n = 0;
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *e = json_array_get_object_element (entries, i);
      if (g_strcmp0 (json_object_get_string_member (e, "action"), action) == 0
          && (actor == NULL
              || (!json_object_get_null_member (e, "actor")
                  && g_strcmp0 (json_object_get_string_member (e, "actor"), actor) == 0)))
        n++;
    }
  return n;
}

/* ---- tests ---- */

static void
test_login_roles (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    {
      g_autoptr (SoupMessage) msg = NULL;
      g_autofree char *body = NULL;
      g_autoptr (JsonObject) o = NULL;
      const char *cookie;

      g_assert_cmpuint (
        test_console_try_login (main_panel.console, roles[i], PASSWORD, &logins[i], &body, &msg),
        ==, 200);
      o = test_json_parse_object (body);
      g_assert_cmpstr (json_object_get_string_member (o, "role"), ==, roles[i]);
      cookie = soup_message_headers_get_one (soup_message_get_response_headers (msg), "Set-Cookie");
      g_assert_nonnull (strstr (cookie, "; HttpOnly"));
      g_assert_nonnull (strstr (cookie, "; SameSite=Strict"));
      g_assert_nonnull (strstr (cookie, "; Path=/"));
      g_assert_nonnull (strstr (cookie, "; Max-Age=3600"));
      g_assert_null (strstr (cookie, "Secure")); /* plain HTTP */
    }
}

typedef struct {
  const char *method;
  const char *path;
  const char *body;
  guint expect[5]; /* no session, security, trainer, admin, auditor */
} Route;

static const Route routes[] = {
  { "GET", "/api/health", NULL, { 200, 200, 200, 200, 200 } },
  { "GET", "/api/session", NULL, { 401, 200, 200, 200, 200 } },
  { "GET", "/api/audit", NULL, { 401, 403, 403, 200, 200 } },
  { "GET", "/api/audit?limit=2&before=3", NULL, { 401, 403, 403, 200, 200 } },
  { "GET", "/api/audit/verify", NULL, { 401, 403, 403, 200, 200 } },
  { "GET", "/api/audit/export", NULL, { 401, 403, 403, 200, 200 } },
  { "GET", "/api/users", NULL, { 401, 403, 403, 200, 403 } },
  /* Invalid for an admin too, so that nothing changes. */
  { "POST", "/api/users", "{\"name\":\"x\"}", { 401, 403, 403, 400, 403 } },
  { "POST", "/api/users/nobody", "{\"disabled\":true}", { 401, 403, 403, 404, 403 } },
  { "POST", "/api/test/publish", "{\"event\":\"test\",\"data\":{}}", { 401, 403, 403, 204, 403 } },
  /* Auditors too: an escalation reaches every logged-in console. */
  { "GET", "/api/events/stream", NULL, { 401, 200, 200, 200, 200 } },
  { "POST", "/api/devices/alerts/999/acknowledge", NULL, { 401, 409, 403, 409, 403 } },
};

static void
test_role_matrix (void)
{
  for (guint r = 0; r < G_N_ELEMENTS (routes); r++)
    for (guint who = 0; who < 5; who++)
      {
        TestLogin *login = who == 0 ? NULL : &logins[who - 1];
        guint status = 0;
        g_autofree char *body = NULL;
        g_autofree char *url = NULL;

        if (g_str_equal (routes[r].path, "/api/events/stream"))
          {
            /* A stream never ends: read the headers only. */
            g_autoptr (SoupMessage) msg = NULL;
            g_autoptr (GInputStream) in = NULL;
            g_autoptr (GError) error = NULL;
            url = g_strconcat (main_panel.url, routes[r].path, NULL);
            msg = soup_message_new ("GET", url);
            if (login != NULL)
              soup_message_headers_replace (soup_message_get_request_headers (msg), "Cookie",
                                            login->cookie);
            in = soup_session_send (http, msg, NULL, &error);
            g_assert_no_error (error);
            status = soup_message_get_status (msg);
            if (status == 200)
              g_assert_cmpstr (soup_message_headers_get_content_type (
                                 soup_message_get_response_headers (msg), NULL),
                               ==, "text/event-stream");
            g_input_stream_close (in, NULL, NULL);
          }
        else
          body = test_console_request (main_panel.console, routes[r].method, routes[r].path, login,
                                       login != NULL ? TEST_CSRF_RIGHT : TEST_CSRF_NONE,
                                       routes[r].body != NULL ? "application/json" : NULL,
                                       routes[r].body, 0, &status, NULL);
        if (status != routes[r].expect[who])
          g_error ("%s %s as %s: HTTP %u, expected %u (%s)", routes[r].method, routes[r].path,
                   who == 0 ? "nobody" : roles[who - 1], status, routes[r].expect[who],
                   body != NULL ? body : "");
        /* Every refusal is a JSON error: a code and a message. */
        if (status >= 400 && body != NULL)
          {
            g_autoptr (JsonObject) o = test_json_parse_object (body);
            g_assert_nonnull (json_object_get_string_member_with_default (o, "error", NULL));
            g_assert_nonnull (json_object_get_string_member_with_default (o, "message", NULL));
          }
      }
}

static guint
n_users (TestLogin *admin)
{
  guint status = 0;
  g_autofree char *body = test_console_request (main_panel.console, "GET", "/api/users", admin,
                                                TEST_CSRF_NONE, NULL, NULL, 0, &status, NULL);
  g_autoptr (JsonObject) o = test_json_parse_object (body);
  g_assert_cmpuint (status, ==, 200);
  return json_array_get_length (json_object_get_array_member (o, "users"));
}

static void
test_csrf (void)
{
  TestLogin *admin = &logins[2];
  const char *create = "{\"name\":\"eve\",\"role\":\"admin\",\"password\":\"eve-password-1\"}";
  guint status = 0, users = n_users (admin);
  g_autofree char *body = NULL;

  body = test_console_request (main_panel.console, "POST", "/api/users", admin, TEST_CSRF_NONE,
                               "application/json", create, 0, &status, NULL);
  g_assert_cmpuint (status, ==, 403);
  g_assert_nonnull (strstr (body, "\"error\":\"csrf\""));
  g_clear_pointer (&body, g_free);
  body = test_console_request (main_panel.console, "POST", "/api/users", admin, TEST_CSRF_WRONG,
                               "application/json", create, 0, &status, NULL);
  g_assert_cmpuint (status, ==, 403);
  g_assert_cmpuint (n_users (admin), ==, users);

  /* Logout without the token does not end the session. */
  g_clear_pointer (&body, g_free);
  body = test_console_request (main_panel.console, "POST", "/api/logout", admin, TEST_CSRF_NONE,
                               NULL, NULL, 0, &status, NULL);
  g_assert_cmpuint (status, ==, 403);
  g_assert_cmpuint (n_users (admin), ==, users);

  /* With the token it goes through. */
  g_clear_pointer (&body, g_free);
  body = test_console_request (main_panel.console, "POST", "/api/users", admin, TEST_CSRF_RIGHT,
                               "application/json", create, 0, &status, NULL);
  g_assert_cmpuint (status, ==, 201);
  g_assert_cmpuint (n_users (admin), ==, users + 1);

  /* A login posted from another site is refused. */
  {
    g_autofree char *url = g_strconcat (main_panel.url, "/api/login", NULL);
    g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
    static const char text[] = "{\"user\":\"admin\",\"password\":\"" PASSWORD "\"}";
    g_autoptr (GBytes) json = g_bytes_new_static (text, strlen (text));
    g_autoptr (GBytes) reply = NULL;
    soup_message_headers_replace (soup_message_get_request_headers (msg), "Origin",
                                  "https://evil.example");
    soup_message_set_request_body_from_bytes (msg, "application/json", json);
    reply = soup_session_send_and_read (http, msg, NULL, NULL);
    g_assert_cmpuint (soup_message_get_status (msg), ==, 403);
  }
}

static void
test_bad_input (void)
{
  TestLogin *admin = &logins[2];
  g_autoptr (JsonArray) before = audit_entries (&main_panel, &logins[3]);
  g_autoptr (JsonArray) after = NULL;
  guint users = n_users (admin);
  g_autofree char *big = g_strnfill (100 * 1024, ' ');
  static const struct {
    const char *method, *path, *type, *body;
    guint expect;
  } cases[] = {
    { "POST", "/api/users", "application/json", "{\"name\":", 400 },
    { "POST", "/api/users", "application/json", "[1,2]", 400 },
    { "POST", "/api/users", "application/json", "", 400 },
    { "POST", "/api/users", "text/plain", "{\"name\":\"a\"}", 415 },
    { "POST", "/api/users", "application/json",
      "{\"name\":\"a\",\"role\":\"superuser\",\"password\":\"long-enough-1\"}", 400 },
    { "POST", "/api/users", "application/json",
      "{\"name\":\"../../etc\",\"role\":\"admin\",\"password\":\"long-enough-1\"}", 400 },
    { "POST", "/api/users", "application/json",
      "{\"name\":\"short\",\"role\":\"admin\",\"password\":\"short\"}", 400 },
    /* Traversal: refused by libsoup (400) or by the route (404); 0 = either. */
    { "POST", "/api/users/..%2F..%2Fetc", "application/json", "{\"disabled\":true}", 0 },
    { "POST", "/api/users/security", "application/json", "{\"disabled\":\"yes\"}", 400 },
    { "POST", "/api/users/security", "application/json", "{}", 400 },
    { "DELETE", "/api/users/security", NULL, NULL, 405 },
    { "GET", "/api/audit?limit=0", NULL, NULL, 400 },
    { "GET", "/api/audit?limit=abc", NULL, NULL, 400 },
    { "GET", "/api/audit?before=-1", NULL, NULL, 400 },
    { "GET", "/console/..%2F..%2Fpanel.db", NULL, NULL, 0 },
    { "GET", "/console/%2e%2e/panel.conf", NULL, NULL, 0 },
    { "GET", "/console/../../panel.db", NULL, NULL, 0 },
    { "GET", "/console/.hidden", NULL, NULL, 404 },
    { "GET", "/console/no-such.js", NULL, NULL, 404 },
    { "GET", "/api/no-such", NULL, NULL, 404 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      guint status = 0;
      g_autofree char *body = test_console_request (main_panel.console, cases[i].method,
                                                    cases[i].path, admin, TEST_CSRF_RIGHT,
                                                    cases[i].type, cases[i].body, 0, &status, NULL);
      if (cases[i].expect == 0 ? status != 400 && status != 404 : status != cases[i].expect)
        g_error ("%s %s %s: HTTP %u, expected %u: %s", cases[i].method, cases[i].path,
                 cases[i].body ? cases[i].body : "", status, cases[i].expect, body);
    }
  {
    guint status = 0;
    g_autofree char *body = test_console_request (main_panel.console, "POST", "/api/users", admin,
                                                  TEST_CSRF_RIGHT, "application/json", big,
                                                  strlen (big), &status, NULL);
    (void) body; /* kept for its cleanup */
    g_assert_cmpuint (status, ==, 413);
  }
  g_assert_cmpuint (n_users (admin), ==, users);
  after = audit_entries (&main_panel, &logins[3]);
  g_assert_cmpuint (json_array_get_length (after), ==, json_array_get_length (before));
}

static void
test_headers (void)
{
  static const char *const paths[] = { "/console/", "/api/health", "/api/nothing", "/api/audit" };
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr (SoupMessage) msg = NULL;
      guint status = 0;
      g_autofree char *body = test_console_request (main_panel.console, "GET", paths[i], NULL,
                                                    TEST_CSRF_NONE, NULL, NULL, 0, &status, &msg);
      (void) body; /* kept for its cleanup */
      SoupMessageHeaders *h = soup_message_get_response_headers (msg);
      const char *csp = soup_message_headers_get_one (h, "Content-Security-Policy");
      g_assert_nonnull (csp);
      g_assert_true (g_str_has_prefix (csp, "default-src 'self'"));
      g_assert_nonnull (strstr (csp, "frame-ancestors 'none'"));
      g_assert_cmpstr (soup_message_headers_get_one (h, "X-Content-Type-Options"), ==, "nosniff");
    }
  /* The interface: Korean page, nothing fetched from elsewhere. */
  {
    guint status = 0;
    g_autofree char *html = test_console_request (main_panel.console, "GET", "/console/", NULL,
                                                  TEST_CSRF_NONE, NULL, NULL, 0, &status, NULL);
    g_assert_cmpuint (status, ==, 200);
    g_assert_nonnull (strstr (html, "<html lang=\"ko\">"));
    g_assert_null (strstr (html, "http://"));
    g_assert_null (strstr (html, "https://"));
  }
}

/* Each login and logout leaves exactly one entry; a user change one. */
static void
test_audit_entries (void)
{
  TestLogin *auditor = &logins[3];
  g_autoptr (JsonArray) before = audit_entries (&main_panel, auditor);
  g_autoptr (JsonArray) after = NULL;
  TestLogin extra = { 0 };
  guint status = 0;
  g_autofree char *body = NULL;

  g_assert_cmpuint (
    test_console_try_login (main_panel.console, "trainer", PASSWORD, &extra, NULL, NULL), ==, 200);
  g_assert_cmpuint (
    test_console_try_login (main_panel.console, "trainer", "wrong-password", NULL, NULL, NULL), ==,
    401);
  body = test_console_request (main_panel.console, "POST", "/api/logout", &extra, TEST_CSRF_RIGHT,
                               NULL, NULL, 0, &status, NULL);
  g_assert_cmpuint (status, ==, 204);
  /* The ended session is refused. */
  g_clear_pointer (&body, g_free);
  body = test_console_request (main_panel.console, "GET", "/api/session", &extra, TEST_CSRF_NONE,
                               NULL, NULL, 0, &status, NULL);
  g_assert_cmpuint (status, ==, 401);
  g_clear_pointer (&body, g_free);
  body = test_console_request (main_panel.console, "POST", "/api/users/eve", &logins[2],
                               TEST_CSRF_RIGHT, "application/json", "{\"role\":\"auditor\"}", 0,
                               &status, NULL);
  g_assert_cmpuint (status, ==, 204);

  after = audit_entries (&main_panel, auditor);
  g_assert_cmpuint (json_array_get_length (after), ==, json_array_get_length (before) + 4);
  g_assert_cmpuint (count_entries (after, "login", "trainer"), ==,
                    count_entries (before, "login", "trainer") + 1);
  g_assert_cmpuint (count_entries (after, "login-failed", NULL), ==,
                    count_entries (before, "login-failed", NULL) + 1);
  g_assert_cmpuint (count_entries (after, "logout", "trainer"), ==,
                    count_entries (before, "logout", "trainer") + 1);
  g_assert_cmpuint (count_entries (after, "user-changed", "admin"), ==,
                    count_entries (before, "user-changed", "admin") + 1);
  /* Newest first: the role change, with who did it, as what, from where. */
  {
    JsonObject *e = json_array_get_object_element (after, 0);
    g_assert_cmpstr (json_object_get_string_member (e, "action"), ==, "user-changed");
    g_assert_cmpstr (json_object_get_string_member (e, "actor"), ==, "admin");
    g_assert_cmpstr (json_object_get_string_member (e, "role"), ==, "admin");
    g_assert_cmpstr (json_object_get_string_member (e, "client"), ==, "127.0.0.1");
    g_assert_cmpstr (json_object_get_string_member (e, "target"), ==, "user eve");
  }
  test_login_clear (&extra);
}

static void
test_events_stream (void)
{
  g_autofree char *url = g_strconcat (main_panel.url, "/api/events/stream", NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr (GError) error = NULL;
  g_autoptr (GInputStream) in = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  guint status = 0;
  g_autofree char *body = NULL;
  gint64 sent;

  soup_message_headers_replace (soup_message_get_request_headers (msg), "Cookie", logins[0].cookie);
  in = soup_session_send (http, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);

  sent = g_get_monotonic_time ();
  body = test_console_request (main_panel.console, "POST", "/api/test/publish", &logins[2],
                               TEST_CSRF_RIGHT, "application/json",
                               "{\"event\":\"incident\",\"data\":{\"desk\":\"민원실 1번\"}}", 0,
                               &status, NULL);
  g_assert_cmpuint (status, ==, 204);
  while (strstr (seen->str, "\n\n") == NULL || strstr (seen->str, "event: incident") == NULL)
    {
      char buffer[1024];
      gssize n = g_input_stream_read (in, buffer, sizeof buffer, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      g_string_append_len (seen, buffer, n);
    }
  g_test_message ("published to received: %.1f ms", (g_get_monotonic_time () - sent) / 1000.0);
  g_assert_nonnull (strstr (seen->str, "event: incident\ndata: {\"desk\":\"민원실 1번\"}\n\n"));
  g_assert_cmpint (g_get_monotonic_time () - sent, <, 5 * G_USEC_PER_SEC);
  g_input_stream_close (in, NULL, NULL);
}

typedef struct {
  guint n_done, n_401, n_429;
  GMainLoop *loop;
} Parallel;

static void
parallel_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Parallel *par = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, NULL);
  (void) body; /* kept for its cleanup */
  guint status = soup_message_get_status (msg);

  par->n_401 += status == 401;
  par->n_429 += status == 429;
  if (++par->n_done == 8)
    g_main_loop_quit (par->loop);
}

/* Eight guesses at once for one account: the throttle must not be
 * outrun while the first ones are still being checked. */
static void
test_parallel_guesses (void)
{
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Parallel par = { .loop = loop };
  g_autofree char *url = g_strconcat (main_panel.url, "/api/login", NULL);
  static const char json[] = "{\"user\":\"auditor\",\"password\":\"wrong-password\"}";

  for (guint i = 0; i < 8; i++)
    {
      g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
      g_autoptr (GBytes) body = g_bytes_new_static (json, strlen (json));
      soup_message_set_request_body_from_bytes (msg, "application/json", body);
      soup_session_send_and_read_async (http, msg, G_PRIORITY_DEFAULT, NULL, parallel_done, &par);
    }
  g_main_loop_run (loop);
  g_test_message ("8 parallel guesses: %u checked (401), %u refused (429)", par.n_401, par.n_429);
  g_assert_cmpuint (par.n_401 + par.n_429, ==, 8);
  g_assert_cmpuint (par.n_401, >=, 1);
  g_assert_cmpuint (par.n_401, <=, 5); /* login_failures_per_account */
}

/* `ansimctl audit verify` on the live log, then after tampering. */
static void
test_audit_tamper (void)
{
  g_autofree char *conf = g_build_filename (main_panel.dir, "panel.conf", NULL);
  g_autofree char *db_path = g_build_filename (main_panel.dir, "panel.db", NULL);
  const char *args[] = { "audit", "verify", "--config", conf, NULL };
  g_autofree char *out = NULL, *out2 = NULL, *body = NULL;
  sqlite3 *db = NULL;
  guint status = 0;

  g_assert_cmpint (test_ansimctl (&out, NULL, args), ==, 0);
  g_assert_true (g_str_has_prefix (out, "audit log intact: "));

  /* Someone with the sqlite3 shell rewrites who acknowledged an alert. */
  g_assert_cmpint (sqlite3_open (db_path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db,
                                 "DROP TRIGGER audit_log_no_update;"
                                 "UPDATE audit_log SET actor = 'someone-else' WHERE id = 6;",
                                 NULL, NULL, NULL),
                   ==, SQLITE_OK);
  sqlite3_close (db);
  g_assert_cmpint (test_ansimctl (&out2, NULL, args), ==, 1);
  g_test_message ("%s", out2);
  g_assert_true (g_str_has_prefix (out2, "audit log BROKEN: entry 6: its content does not match"));

  body = test_console_request (main_panel.console, "GET", "/api/audit/verify", &logins[3],
                               TEST_CSRF_NONE, NULL, NULL, 0, &status, NULL);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (strstr (body, "\"intact\":false"));
  g_assert_nonnull (strstr (body, "entry 6: "));
}

static void
test_session_expiry (void)
{
  TestLogin login = { 0 };
  guint status = 0;
  g_autofree char *body = NULL;
  gint64 start = g_get_real_time ();

  g_assert_cmpuint (
    test_console_try_login (short_panel.console, "security", PASSWORD, &login, NULL, NULL), ==,
    200);
  body = test_console_request (short_panel.console, "GET", "/api/session", &login, TEST_CSRF_NONE,
                               NULL, NULL, 0, &status, NULL);
  g_assert_cmpuint (status, ==, 200);
  /* Lifetime 5 s; the check is on the panel's clock. */
  while (g_get_real_time () < start + 6 * G_USEC_PER_SEC)
    g_usleep (200000);
  g_clear_pointer (&body, g_free);
  body = test_console_request (short_panel.console, "GET", "/api/session", &login, TEST_CSRF_NONE,
                               NULL, NULL, 0, &status, NULL);
  g_assert_cmpuint (status, ==, 401);
  test_login_clear (&login);
}

static void
test_throttle (void)
{
  g_autoptr (SoupMessage) msg = NULL;
  g_autofree char *body = NULL;
  g_autoptr (JsonObject) o = NULL;
  TestLogin auditor = { 0 };
  g_autoptr (JsonArray) entries = NULL;
  gint64 retry = 0;

  /* 3 failures of one user from one client, then that client waits. */
  for (guint i = 0; i < 3; i++)
    g_assert_cmpuint (
      test_console_try_login (short_panel.console, "security", "wrong-password", NULL, NULL, NULL),
      ==, 401);
  /* Slowed: even the right password is refused for now, with a clear answer. */
  g_assert_cmpuint (
    test_console_try_login (short_panel.console, "security", PASSWORD, NULL, &body, &msg), ==, 429);
  o = test_json_parse_object (body);
  g_assert_cmpstr (json_object_get_string_member (o, "error"), ==, "throttled");
  g_assert_true (g_ascii_string_to_signed (
    soup_message_headers_get_one (soup_message_get_response_headers (msg), "Retry-After"), 10, 1,
    60, &retry, NULL));
  g_assert_cmpint (json_object_get_int_member (o, "retry_after_s"), ==, retry);

  /* Another account from the same address still works... */
  g_assert_cmpuint (
    test_console_try_login (short_panel.console, "auditor", PASSWORD, &auditor, NULL, NULL), ==,
    200);
  /* ...and failures under names that are no user do not lock real users
   * out (tests/upload/test-staff.c goes further). */
  g_assert_cmpuint (test_console_try_login (short_panel.console, "nobody", "x", NULL, NULL, NULL),
                    ==, 401);
  g_assert_cmpuint (
    test_console_try_login (short_panel.console, "NOT A NAME", "x", NULL, NULL, NULL), ==, 401);
  g_assert_cmpuint (
    test_console_try_login (short_panel.console, "admin", PASSWORD, NULL, NULL, NULL), ==, 200);

  entries = audit_entries (&short_panel, &auditor);
  /* 3 + 2 checked failures; the refused try goes into a login-throttled
   * entry at the end of its window (login_audit_window_s). */
  g_assert_cmpuint (count_entries (entries, "login-failed", NULL), ==, 5);
  test_login_clear (&auditor);
}

static gboolean
accept_test_certificate (SoupMessage *msg, GTlsCertificate *certificate,
                         GTlsCertificateFlags errors, gpointer user_data)
{
  (void) msg;
  (void) errors;
  /* Only the certificate this test made. */
  return g_tls_certificate_is_same (certificate, user_data);
}

/* With tls_certificate and tls_key the panel serves HTTPS and marks the
 * session cookie Secure. */
static void
test_tls (void)
{
  g_autofree char *cert_path = g_build_filename (tls_panel.dir, "cert.pem", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GTlsCertificate) cert = g_tls_certificate_new_from_file (cert_path, &error);
  g_autofree char *url = g_strconcat (tls_panel.url, "/api/login", NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  static const char json[] = "{\"user\":\"admin\",\"password\":\"" PASSWORD "\"}";
  g_autoptr (GBytes) body = g_bytes_new_static (json, strlen (json));
  g_autoptr (GBytes) reply = NULL;
  const char *cookie;

  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (tls_panel.url, "https://"));
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_test_certificate), cert);
  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  reply = soup_session_send_and_read (http, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  cookie = soup_message_headers_get_one (soup_message_get_response_headers (msg), "Set-Cookie");
  g_assert_nonnull (strstr (cookie, "; HttpOnly; SameSite=Strict; Secure"));

  /* Plain HTTP to the same port gets nowhere. */
  {
    g_autofree char *plain =
      g_strconcat ("http://", tls_panel.url + strlen ("https://"), "/api/health", NULL);
    g_autoptr (SoupMessage) m = soup_message_new ("GET", plain);
    g_autoptr (GBytes) r = soup_session_send_and_read (http, m, NULL, NULL);
    (void) r; /* kept for its cleanup */
    g_assert_cmpuint (soup_message_get_status (m), !=, 200);
  }
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  http = soup_session_new_with_options ("timeout", 20, "max-conns-per-host", 10, NULL);
  panel_start (&main_panel, "session_lifetime_s = 3600\n", TRUE, FALSE);
  panel_start (&short_panel,
               "session_lifetime_s = 5\nlogin_failures_per_account = 3\n"
               "login_failures_per_address = 5\nlogin_lockout_s = 60\n",
               FALSE, FALSE);
  panel_start (&tls_panel, "", FALSE, TRUE);

  /* One flat suite: the tests run in this order and share the panels. */
  g_test_add_func ("/console/login-each-role", test_login_roles);
  g_test_add_func ("/console/role-matrix", test_role_matrix);
  g_test_add_func ("/console/csrf", test_csrf);
  g_test_add_func ("/console/bad-input", test_bad_input);
  g_test_add_func ("/console/headers", test_headers);
  g_test_add_func ("/console/audit-one-entry-each", test_audit_entries);
  g_test_add_func ("/console/events-stream", test_events_stream);
  g_test_add_func ("/console/parallel-guesses", test_parallel_guesses);
  g_test_add_func ("/console/audit-tamper", test_audit_tamper);
  g_test_add_func ("/console/session-expiry", test_session_expiry);
  g_test_add_func ("/console/login-throttle", test_throttle);
  g_test_add_func ("/console/tls-secure-cookie", test_tls);
  status = g_test_run ();

  panel_stop (&main_panel);
  panel_stop (&short_panel);
  panel_stop (&tls_panel);
  panel_remove (&main_panel);
  panel_remove (&short_panel);
  panel_remove (&tls_panel);
  for (guint i = 0; i < G_N_ELEMENTS (logins); i++)
    test_login_clear (&logins[i]);
  g_object_unref (http);
  return status;
}
