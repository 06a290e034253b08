/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's route table (panel/http.h) against the documentation and
 * over real HTTP: a real Panel in this process, on loopback. Every console
 * route's methods and roles are those docs/console.md lists, every device
 * route is in docs/protocol.md, and no documented route is missing; then
 * for every console route, a request without a session gets 401, one from
 * a role not allowed 403, and a method not allowed 405 with Allow; every
 * device route refuses an unsigned request. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "panel.h"

#define PASSWORD "password-for-tests-1"

static const char *const role_names[] = { "security", "trainer", "admin", "auditor" };
static const PanelRole role_bits[] = { PANEL_ROLE_SECURITY, PANEL_ROLE_TRAINER, PANEL_ROLE_ADMIN,
                                       PANEL_ROLE_AUDITOR };

/* A path from the table ("{incident-id}") or the docs ("ID", "N",
 * "NAME") with each parameter segment written "*". */
static char *
normalize (const char *path)
{
  g_auto (GStrv) segs = g_strsplit (path, "/", -1);
  for (guint i = 0; segs[i] != NULL; i++)
    if (segs[i][0] == '{' || g_str_equal (segs[i], "ID") || g_str_equal (segs[i], "N")
        || g_str_equal (segs[i], "NAME"))
      {
        g_free (segs[i]);
        segs[i] = g_strdup ("*");
      }
  return g_strjoinv ("/", segs);
}

typedef struct {
  char *method;
  char *path;  /* normalized */
  guint roles; /* 0: anyone */
} DocRoute;

static void
doc_route_free (DocRoute *r)
{
  g_free (r->method);
  g_free (r->path);
  g_free (r);
}

static char *
read_doc (const char *name)
{
  g_autofree char *path = g_build_filename (g_getenv ("ANSIM_SOURCE_ROOT"), "docs", name, NULL);
  char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

/* The rows "| `METHOD /api/…` … | roles | what |" of docs/console.md. */
static GPtrArray *
console_doc_routes (void)
{
  g_autofree char *text = read_doc ("console.md");
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) doc_route_free);
  g_autoptr (GRegex) re = g_regex_new (
    "^\\| `(GET|POST|PUT) (/api/[^` ?]*)[^`]*`(?:[^|\\\\]|\\\\.)*\\| ([^|]+) \\|", 0, 0, NULL);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (GMatchInfo) m = NULL;
      if (!g_regex_match (re, lines[i], 0, &m))
        continue;
      DocRoute *r = g_new0 (DocRoute, 1);
      g_autofree char *path = g_match_info_fetch (m, 2);
      g_autofree char *roles = g_match_info_fetch (m, 3);
      r->method = g_match_info_fetch (m, 1);
      r->path = normalize (path);
      g_strstrip (roles);
      if (g_str_equal (roles, "any role"))
        r->roles = PANEL_ROLES_ANY;
      else if (!g_str_equal (roles, "anyone"))
        {
          g_auto (GStrv) names = g_strsplit (roles, ",", -1);
          for (guint k = 0; names[k] != NULL; k++)
            {
              PanelRole role;
              if (!panel_role_from_string (g_strstrip (names[k]), &role))
                g_error ("docs/console.md: %s %s: unknown role \"%s\"", r->method, path, names[k]);
              r->roles |= role;
            }
        }
      g_ptr_array_add (out, r);
    }
  g_assert_cmpuint (out->len, >, 20);
  return out;
}

typedef struct {
  Panel *panel;
  char *dir;
  char *url;
  SoupSession *http;
  char *cookie[4];
  char *csrf[4];
} Fixture;

static Fixture fx;

static void
on_read (GObject *source, GAsyncResult *result, gpointer data)
{
  (void) source;
  *(GAsyncResult **) data = g_object_ref (result);
}

/* A request from this process; the panel answers on the same main loop.
 * who: index in role_names, or -1 for no session. */
static guint
request (const char *method, const char *path, int who, const char *body, char **out_allow,
         char **out_body)
{
  g_autofree char *url = g_strconcat (fx.url, path, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new (method, url);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  if (who >= 0)
    {
      soup_message_headers_replace (h, "Cookie", fx.cookie[who]);
      soup_message_headers_replace (h, "X-CSRF-Token", fx.csrf[who]);
    }
  if (body != NULL)
    {
      g_autoptr (GBytes) bytes = g_bytes_new (body, strlen (body));
      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
    }
  soup_session_send_and_read_async (fx.http, msg, G_PRIORITY_DEFAULT, NULL, on_read, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_autoptr (GBytes) reply = soup_session_send_and_read_finish (fx.http, result, &error);
  g_assert_no_error (error);
  if (out_allow != NULL)
    *out_allow =
      g_strdup (soup_message_headers_get_one (soup_message_get_response_headers (msg), "Allow"));
  if (out_body != NULL)
    *out_body = g_strndup (g_bytes_get_data (reply, NULL), g_bytes_get_size (reply));
  return soup_message_get_status (msg);
}

/* The error code of a refusal, which must be {"error": CODE, "message": TEXT}. */
static char *
error_code (const char *body)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  json_parser_load_from_data (parser, body, -1, &error);
  g_assert_no_error (error);
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  g_assert_nonnull (json_object_get_string_member_with_default (o, "message", NULL));
  return g_strdup (json_object_get_string_member (o, "error"));
}

static void
fixture_start (void)
{
  g_autoptr (GError) error = NULL;
  fx.dir = g_dir_make_tmp ("ansim-test-routes-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *conf = g_strdup_printf ("[panel]\ndata_dir = %s\nport = 0\n"
                                           "listen_address = 127.0.0.1\n",
                                           fx.dir);
  g_autoptr (AnsimConfig) config =
    ansim_config_load_data (&ansim_panel_config_schema, conf, "test", &error);
  g_assert_no_error (error);
  g_setenv ("ANSIM_PANEL_TEST_PUBLISH", "1", TRUE);
  g_test_expect_message ("ansim-panel", G_LOG_LEVEL_WARNING, "*test-only path /api/test/publish*");
  g_test_expect_message ("ansim-panel", G_LOG_LEVEL_WARNING,
                         "*test-only path /api/test/police-bell*");
  fx.panel = panel_new (config, &error);
  g_assert_no_error (error);
  g_test_assert_expected_messages ();
  fx.url = g_strdup (panel_get_url (fx.panel));
  if (g_str_has_suffix (fx.url, "/"))
    fx.url[strlen (fx.url) - 1] = '\0';
  g_autofree char *db_path = g_build_filename (fx.dir, "panel.db", NULL);
  sqlite3 *db = ansim_db_open (&ansim_panel_db_schema, db_path, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (role_names); i++)
    {
      panel_user_add (db, role_names[i], role_bits[i], PASSWORD, "test", "admin", NULL, &error);
      g_assert_no_error (error);
    }
  sqlite3_close (db);
  fx.http = soup_session_new ();
  for (guint i = 0; i < G_N_ELEMENTS (role_names); i++)
    {
      g_autofree char *url = g_strconcat (fx.url, "/api/login", NULL);
      g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
      g_autofree char *body =
        g_strdup_printf ("{\"user\":\"%s\",\"password\":\"%s\"}", role_names[i], PASSWORD);
      g_autoptr (GBytes) bytes = g_bytes_new (body, strlen (body));
      g_autoptr (GAsyncResult) result = NULL;
      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
      soup_session_send_and_read_async (fx.http, msg, G_PRIORITY_DEFAULT, NULL, on_read, &result);
      while (result == NULL)
        g_main_context_iteration (NULL, TRUE);
      g_autoptr (GBytes) reply = soup_session_send_and_read_finish (fx.http, result, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
      const char *cookie =
        soup_message_headers_get_one (soup_message_get_response_headers (msg), "Set-Cookie");
      fx.cookie[i] = g_strndup (cookie, strcspn (cookie, ";"));
      g_autoptr (JsonParser) parser = json_parser_new ();
      json_parser_load_from_data (parser, g_bytes_get_data (reply, NULL), g_bytes_get_size (reply),
                                  &error);
      g_assert_no_error (error);
      fx.csrf[i] = g_strdup (json_object_get_string_member (
        json_node_get_object (json_parser_get_root (parser)), "csrf_token"));
    }
}

/* The table and the docs name the same routes with the same roles. */
static void
test_table_matches_docs (void)
{
  g_autoptr (GPtrArray) docs = console_doc_routes ();
  g_autofree char *protocol = read_doc ("protocol.md");
  guint n = 0, seen = 0;
  const PanelRoute *routes = panel_http_get_routes (panel_get_http (fx.panel), &n);
  g_autoptr (GHashTable) matched = g_hash_table_new (NULL, NULL);

  for (guint i = 0; i < n; i++)
    {
      const PanelRoute *r = &routes[i];
      g_autofree char *path = normalize (r->pattern);
      if (r->caller == PANEL_CALLER_DEVICE || g_str_has_prefix (r->pattern, "/api/v1/"))
        {
          /* Device routes: named in docs/protocol.md as `METHOD /api/v1/…`. */
          g_autofree char *methods = panel_http_methods_to_string (r->methods);
          g_autofree char *with_braces = g_strdup_printf ("%s %s", methods, r->pattern);
          g_autofree char *plain = g_strdup_printf ("`%s %s`", methods, r->pattern);
          g_autofree char *pattern_re = NULL;
          {
            g_autofree char *escaped = g_regex_escape_string (path, -1);
            g_autoptr (GString) re = g_string_new ("`");
            g_string_append_printf (re, "%s ", methods);
            for (const char *c = escaped; *c; c++)
              if (*c == '*')
                g_string_append (re, "\\{[a-z ]+\\}");
              else if (*c == '\\' && c[1] == '*')
                {
                  g_string_append (re, "\\{[a-z ]+\\}");
                  c++;
                }
              else
                g_string_append_c (re, *c);
            g_string_append (re, "`");
            pattern_re = g_strdup (re->str);
          }
          if (strstr (protocol, plain) == NULL
              && !g_regex_match_simple (pattern_re, protocol, 0, 0))
            g_error ("device route %s is not in docs/protocol.md", with_braces);
          continue;
        }
      if (!g_str_has_prefix (r->pattern, "/api/") || g_str_equal (r->pattern, "/api/health"))
        {
          g_assert_cmpint (r->caller, ==, PANEL_CALLER_ANYONE);
          continue;
        }
      for (guint bit = PANEL_HTTP_GET; bit <= PANEL_HTTP_PUT; bit <<= 1)
        {
          if (!(r->methods & bit))
            continue;
          g_autofree char *method = panel_http_methods_to_string (bit);
          DocRoute *doc = NULL;
          for (guint k = 0; k < docs->len && doc == NULL; k++)
            {
              DocRoute *d = docs->pdata[k];
              if (g_str_equal (d->method, method) && g_str_equal (d->path, path))
                doc = d;
            }
          if (doc == NULL)
            g_error ("%s %s is not in docs/console.md", method, r->pattern);
          guint roles = r->caller == PANEL_CALLER_ANYONE ? 0 : r->roles;
          if (doc->roles != roles)
            g_error ("%s %s: the table allows roles 0x%x, docs/console.md 0x%x", method, r->pattern,
                     roles, doc->roles);
          g_hash_table_add (matched, doc);
          seen++;
        }
    }
  for (guint k = 0; k < docs->len; k++)
    if (!g_hash_table_contains (matched, docs->pdata[k]))
      g_error ("docs/console.md lists %s %s, which the panel does not serve",
               ((DocRoute *) docs->pdata[k])->method, ((DocRoute *) docs->pdata[k])->path);
  g_assert_cmpuint (seen, ==, docs->len);
}

/* An id for each parameter, so the request reaches the route's checks. */
static char *
example_path (const char *pattern)
{
  g_auto (GStrv) segs = g_strsplit (pattern, "/", -1);
  for (guint i = 0; segs[i] != NULL; i++)
    if (segs[i][0] == '{')
      {
        g_free (segs[i]);
        segs[i] = g_strdup ("1");
      }
  return g_strjoinv ("/", segs);
}

/* Every console route: 401 without a session, 403 for each role not
 * allowed, 405 with Allow for a method it does not take. */
static void
test_refusals (void)
{
  guint n = 0;
  const PanelRoute *routes = panel_http_get_routes (panel_get_http (fx.panel), &n);
  for (guint i = 0; i < n; i++)
    {
      const PanelRoute *r = &routes[i];
      if (r->caller != PANEL_CALLER_CONSOLE && r->caller != PANEL_CALLER_TEST)
        continue;
      g_autofree char *path = example_path (r->pattern);
      guint all = 0;
      for (guint k = 0; k < n; k++)
        if (g_str_equal (routes[k].pattern, r->pattern))
          all |= routes[k].methods;
      for (guint bit = PANEL_HTTP_GET; bit <= PANEL_HTTP_PUT; bit <<= 1)
        {
          if (!(r->methods & bit))
            continue;
          g_autofree char *method = panel_http_methods_to_string (bit);
          const char *body = bit == PANEL_HTTP_POST ? "{}" : NULL;
          g_autofree char *reply = NULL;
          guint status = request (method, path, -1, body, NULL, &reply);
          if (status != 401)
            g_error ("%s %s without a session: %u %s", method, path, status, reply);
          g_autofree char *code = error_code (reply);
          g_assert_cmpstr (code, ==, "not-logged-in");
          for (guint who = 0; who < G_N_ELEMENTS (role_bits); who++)
            {
              if (r->roles & role_bits[who])
                continue;
              g_autofree char *reply2 = NULL;
              status = request (method, path, who, body, NULL, &reply2);
              if (status != 403)
                g_error ("%s %s as %s: %u %s", method, path, role_names[who], status, reply2);
              g_autofree char *code2 = error_code (reply2);
              g_assert_cmpstr (code2, ==, "forbidden");
            }
        }
      /* A method no route of this path takes. */
      const char *wrong = (all & PANEL_HTTP_PUT) == 0 ? "PUT" : "DELETE";
      g_autofree char *allow = NULL, *reply = NULL;
      guint status = request (wrong, path, 2, NULL, &allow, &reply);
      if (status != 405)
        g_error ("%s %s: %u %s", wrong, path, status, reply);
      g_autofree char *want = panel_http_methods_to_string (all);
      g_assert_cmpstr (allow, ==, want);
      g_autofree char *code = error_code (reply);
      g_assert_cmpstr (code, ==, "method-not-allowed");
    }
}

/* Every device route: an unsigned request is refused (401 "unsigned")
 * from its headers; a wrong method gets 405 with Allow. */
static void
test_device_refusals (void)
{
  guint n = 0;
  const PanelRoute *routes = panel_http_get_routes (panel_get_http (fx.panel), &n);
  guint checked = 0;
  for (guint i = 0; i < n; i++)
    {
      const PanelRoute *r = &routes[i];
      if (r->caller != PANEL_CALLER_DEVICE)
        continue;
      g_autofree char *path = example_path (r->pattern);
      g_autofree char *method = panel_http_methods_to_string (r->methods);
      g_autofree char *reply = NULL;
      guint status = request (method, path, -1, "{}", NULL, &reply);
      if (status != 401)
        g_error ("%s %s unsigned: %u %s", method, path, status, reply);
      g_autofree char *code = error_code (reply);
      g_assert_cmpstr (code, ==, "unsigned");
      g_autofree char *allow = NULL, *reply2 = NULL;
      const char *wrong = g_str_equal (method, "GET") ? "PUT" : "GET";
      g_assert_cmpuint (request (wrong, path, -1, NULL, &allow, &reply2), ==, 405);
      g_assert_cmpstr (allow, ==, method);
      checked++;
    }
  g_assert_cmpuint (checked, ==, 7); /* enroll is ANYONE */
}

/* Unknown paths: 404 in the one error shape. */
static void
test_unknown (void)
{
  g_autofree char *reply = NULL;
  g_assert_cmpuint (request ("GET", "/api/no/such/path", 2, NULL, NULL, &reply), ==, 404);
  g_autofree char *code = error_code (reply);
  g_assert_cmpstr (code, ==, "not-found");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  fixture_start ();
  g_test_add_func ("/routes/table-matches-docs", test_table_matches_docs);
  g_test_add_func ("/routes/refusals", test_refusals);
  g_test_add_func ("/routes/device-refusals", test_device_refusals);
  g_test_add_func ("/routes/unknown", test_unknown);
  int status = g_test_run ();
  g_object_unref (fx.http);
  panel_free (fx.panel);
  g_autofree char *rm = g_strdup_printf ("rm -rf '%s'", fx.dir);
  (void) !system (rm);
  return status;
}
