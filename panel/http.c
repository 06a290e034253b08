/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's route table and dispatcher, and the JSON answer helpers.
 * Route, method, parameters, caller and Content-Length are checked when a
 * request's headers are in (got-headers), so a refused request gets its
 * answer without a handler ever seeing it. What must stay true: nothing
 * reaches a handler that its route does not allow; every refusal has the
 * one error shape {"error": CODE, "message": TEXT}.
 *
 * Left for issue 14: libsoup 3.2 still reads a refused request's body
 * (unless the client sent Expect: 100-continue) before the answer goes
 * out, and an accepted body is read whole into memory; chunked bodies are
 * refused (411) rather than counted. */
#include "http.h"

#include <string.h>

#include "address-mask.h"
#include "console.h"
#include "httpsig.h"

#define MATCH_KEY "panel-http-match"

struct _PanelHttp {
  SoupServer *server;    /* a reference */
  PanelConsole *console; /* borrowed */
  GArray *routes;        /* of PanelRoute */
  GArray *user_data;     /* gpointer per route */
  gboolean test_routes;
  GPtrArray *trusted_proxies; /* GInetAddressMask; NULL: none */
};

/* A request matched to its route, kept on the message from got-headers to
 * the handler. */
typedef struct {
  guint route; /* index in routes */
  PanelSession *session;
  gint64 ids[PANEL_HTTP_MAX_PARAMS];
  char *params[PANEL_HTTP_MAX_PARAMS];
  guint n_params;
  gboolean refused; /* answered already */
} Match;

static void
match_free (Match *m)
{
  panel_session_free (m->session);
  for (guint i = 0; i < m->n_params; i++)
    g_free (m->params[i]);
  g_free (m);
}

/* ---- answers ---------------------------------------------------------- */

void
panel_http_send_json_node (SoupServerMessage *msg, guint status, JsonNode *node)
{
  g_autofree char *body = json_to_string (node, FALSE);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, body, strlen (body));
}

void
panel_http_send_json (SoupServerMessage *msg, guint status, JsonBuilder *b)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  panel_http_send_json_node (msg, status, root);
}

void
panel_http_send_error (SoupServerMessage *msg, guint status, const char *code, const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, code);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  panel_http_send_json (msg, status, b);
}

void
panel_http_send_errorf (SoupServerMessage *msg, guint status, const char *code, const char *format,
                        ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *text = g_strdup_vprintf (format, args);
  va_end (args);
  panel_http_send_error (msg, status, code, text);
}

void
panel_http_send_db_error (SoupServerMessage *msg, sqlite3 *db, const char *what)
{
  g_warning ("%s: %s", what, sqlite3_errmsg (db));
  panel_http_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                         "the panel cannot use its database");
}

gboolean
panel_http_parse_id (const char *text, gint64 *out)
{
  if (text == NULL || *text == '\0' || strlen (text) > 18)
    return FALSE;
  for (const char *c = text; *c; c++)
    if (!g_ascii_isdigit (*c))
      return FALSE;
  *out = g_ascii_strtoll (text, NULL, 10);
  return *out > 0;
}

gboolean
panel_http_only_members (SoupServerMessage *msg, JsonObject *o, const char *const *allowed)
{
  g_autoptr (GList) names = json_object_get_members (o);
  for (GList *l = names; l != NULL; l = l->next)
    if (!g_strv_contains (allowed, l->data))
      {
        panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                "unknown member \"%.64s\"", (char *) l->data);
        return FALSE;
      }
  return TRUE;
}

void
panel_http_add_columns (JsonBuilder *b, sqlite3_stmt *stmt, const char *const *booleans,
                        const char *const *embedded)
{
  for (int c = 0; c < sqlite3_column_count (stmt); c++)
    {
      const char *name = sqlite3_column_name (stmt, c);
      json_builder_set_member_name (b, name);
      switch (sqlite3_column_type (stmt, c))
        {
        case SQLITE_NULL: json_builder_add_null_value (b); break;
        case SQLITE_INTEGER:
          if (booleans != NULL && g_strv_contains (booleans, name))
            json_builder_add_boolean_value (b, sqlite3_column_int (stmt, c) != 0);
          else
            json_builder_add_int_value (b, sqlite3_column_int64 (stmt, c));
          break;
        default:
          {
            const char *text = (const char *) sqlite3_column_text (stmt, c);
            g_autoptr (JsonNode) node = NULL;
            if (embedded != NULL && g_strv_contains (embedded, name))
              node = json_from_string (text, NULL);
            if (node != NULL)
              json_builder_add_value (b, g_steal_pointer (&node));
            else
              json_builder_add_string_value (b, text);
          }
        }
    }
}

void
panel_http_add_row (JsonBuilder *b, sqlite3_stmt *stmt, const char *const *booleans,
                    const char *const *embedded)
{
  json_builder_begin_object (b);
  panel_http_add_columns (b, stmt, booleans, embedded);
  json_builder_end_object (b);
}

/* ---- the table -------------------------------------------------------- */

static const struct {
  PanelHttpMethod bit;
  const char *name;
} methods[] = {
  { PANEL_HTTP_GET, "GET" },
  { PANEL_HTTP_HEAD, "HEAD" },
  { PANEL_HTTP_POST, "POST" },
  { PANEL_HTTP_PUT, "PUT" },
};

static guint
method_bit (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    if (g_strcmp0 (name, methods[i].name) == 0)
      return methods[i].bit;
  return 0;
}

char *
panel_http_methods_to_string (guint mask)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    if (mask & methods[i].bit)
      g_string_append_printf (s, "%s%s", s->len > 0 ? ", " : "", methods[i].name);
  return g_string_free (s, FALSE);
}

void
panel_http_add_routes (PanelHttp *self, const PanelRoute *routes, gsize n, gpointer user_data)
{
  for (gsize i = 0; i < n; i++)
    {
      if (routes[i].caller == PANEL_CALLER_TEST && !self->test_routes)
        continue;
      if (routes[i].caller == PANEL_CALLER_TEST)
        g_warning ("ANSIM_PANEL_TEST_PUBLISH=1: the test-only path %s is open", routes[i].pattern);
      g_array_append_val (self->routes, routes[i]);
      g_array_append_val (self->user_data, user_data);
    }
}

const PanelRoute *
panel_http_get_routes (PanelHttp *self, guint *n)
{
  *n = self->routes->len;
  return (const PanelRoute *) self->routes->data;
}

guint
panel_http_route_roles (PanelHttp *self, PanelHttpMethod method, const char *pattern)
{
  for (guint i = 0; i < self->routes->len; i++)
    {
      const PanelRoute *r = &g_array_index (self->routes, PanelRoute, i);
      if ((r->methods & method) && g_str_equal (r->pattern, pattern)
          && (r->caller == PANEL_CALLER_CONSOLE || r->caller == PANEL_CALLER_TEST))
        return r->roles;
    }
  return 0;
}

/* How well path's segments fit pattern: -1 not at all; else a score
 * where a literal segment earlier in the path weighs more than any later
 * ones, so "/api/drills/schedule" beats "/api/drills/{drill-id}". */
static gint64
fit (const char *pattern, char **segs, guint n_segs)
{
  g_auto (GStrv) pat = g_strsplit (pattern + 1, "/", -1);
  guint n = g_strv_length (pat);
  gint64 score = 0;
  if (n != n_segs || n > 60)
    return -1;
  for (guint i = 0; i < n; i++)
    {
      score <<= 1;
      if (pat[i][0] == '{')
        {
          if (segs[i][0] == '\0')
            return -1;
        }
      else if (g_str_equal (pat[i], segs[i]))
        score |= 1;
      else
        return -1;
    }
  return score;
}

/* The parameters of path under pattern, typed; FALSE after answering 400. */
static gboolean
read_params (SoupServerMessage *msg, const char *pattern, char **segs, Match *m)
{
  g_auto (GStrv) pat = g_strsplit (pattern + 1, "/", -1);
  for (guint i = 0; pat[i] != NULL; i++)
    {
      const char *p = pat[i];
      gsize len = strlen (p);
      if (p[0] != '{' || m->n_params == PANEL_HTTP_MAX_PARAMS)
        continue;
      guint k = m->n_params++;
      m->params[k] = g_strdup (segs[i]);
      g_autofree char *name = g_strndup (p + 1, len - 2);
      if (g_str_has_suffix (name, "-id"))
        {
          name[strlen (name) - 3] = '\0';
          if (!panel_http_parse_id (segs[i], &m->ids[k]))
            {
              panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                      "%s %s id is a positive decimal number",
                                      strchr ("aeiou", name[0]) != NULL ? "an" : "a", name);
              return FALSE;
            }
        }
      else if (g_str_has_suffix (name, "-index"))
        {
          name[strlen (name) - 6] = '\0';
          if (!g_str_equal (segs[i], "0") && !panel_http_parse_id (segs[i], &m->ids[k]))
            {
              panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                      "a %s index is a decimal number", name);
              return FALSE;
            }
        }
    }
  return TRUE;
}

/* Matches msg to a route and checks everything the headers tell: 404,
 * 400 (parameters), 405 with Allow, 401/403 (console caller), 411/413
 * (body). Answers a refusal itself (m->refused). */
static Match *
match_request (PanelHttp *self, SoupServerMessage *msg)
{
  Match *m = g_new0 (Match, 1);
  const char *path = g_uri_get_path (soup_server_message_get_uri (msg));
  const char *method = soup_server_message_get_method (msg);
  m->refused = TRUE;
  if (path[0] != '/')
    {
      panel_http_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such resource");
      return m;
    }
  g_auto (GStrv) segs = g_strsplit (path + 1, "/", -1);
  guint n_segs = g_strv_length (segs);
  gint64 best = -1;
  const char *pattern = NULL;
  guint allowed = 0;
  for (guint i = 0; i < self->routes->len; i++)
    {
      const PanelRoute *r = &g_array_index (self->routes, PanelRoute, i);
      gint64 score = fit (r->pattern, segs, n_segs);
      if (score > best)
        best = score, pattern = r->pattern;
    }
  if (pattern == NULL)
    {
      if (g_str_equal (path, "/"))
        soup_server_message_set_redirect (msg, SOUP_STATUS_FOUND, "/console/");
      else
        panel_http_send_errorf (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such resource: %.200s",
                                path);
      return m;
    }
  const PanelRoute *route = NULL;
  for (guint i = 0; i < self->routes->len; i++)
    {
      const PanelRoute *r = &g_array_index (self->routes, PanelRoute, i);
      if (!g_str_equal (r->pattern, pattern))
        continue;
      allowed |= r->methods;
      if (route == NULL && (r->methods & method_bit (method)))
        route = r, m->route = i;
    }
  if (!read_params (msg, pattern, segs, m))
    return m;
  if (route == NULL)
    {
      g_autofree char *allow = panel_http_methods_to_string (allowed);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", allow);
      panel_http_send_errorf (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method-not-allowed",
                              "method not allowed; use %s", allow);
      return m;
    }
  if (route->caller == PANEL_CALLER_CONSOLE || route->caller == PANEL_CALLER_TEST)
    {
      if (self->console == NULL)
        {
          panel_http_send_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
                                 "the console is not ready");
          return m;
        }
      m->session = panel_console_authorize (self->console, msg, route->roles);
      if (m->session == NULL)
        return m;
    }
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  gsize cap = route->max_body != 0 ? route->max_body : PANEL_HTTP_JSON_MAX_BODY;
  if (soup_message_headers_get_encoding (h) == SOUP_ENCODING_CHUNKED)
    {
      panel_http_send_error (msg, SOUP_STATUS_LENGTH_REQUIRED, "length-required",
                             "send a Content-Length, not a chunked body");
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection",
                                    "close");
      return m;
    }
  goffset length = soup_message_headers_get_content_length (h);
  if (length < 0 || (guint64) length > cap)
    {
      panel_http_send_errorf (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too-large",
                              "the body is over %zu bytes", cap);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection",
                                    "close");
      return m;
    }
  if (route->caller == PANEL_CALLER_DEVICE)
    {
      /* Only that the request is signed at all; the signature itself is
       * checked by ingest.c, which needs the device's key (issue 14: check
       * it here, before the body). */
      g_autoptr (GError) error = NULL;
      g_autoptr (AnsimHttpsig) sig =
        ansim_httpsig_parse (soup_message_headers_get_one (h, "Signature-Input"),
                             soup_message_headers_get_one (h, "Signature"), &error);
      if (sig == NULL)
        {
          if (g_error_matches (error, ANSIM_HTTPSIG_ERROR, ANSIM_HTTPSIG_ERROR_MISSING))
            panel_http_send_error (msg, SOUP_STATUS_UNAUTHORIZED, "unsigned", error->message);
          else
            panel_http_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-signature-header",
                                   error->message);
          return m;
        }
    }
  m->refused = FALSE;
  return m;
}

/* ---- dispatch --------------------------------------------------------- */

static void
on_got_headers (SoupServerMessage *msg, gpointer user_data)
{
  PanelHttp *self = user_data;
  g_object_set_data_full (G_OBJECT (msg), MATCH_KEY, match_request (self, msg),
                          (GDestroyNotify) match_free);
}

/* Headers on every answer of the panel, API and pages alike; the route
 * check once the request's headers are in. */
static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  (void) server;
  soup_message_headers_replace (h, "Content-Security-Policy",
                                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                                "form-action 'self'; object-src 'none'");
  soup_message_headers_replace (h, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (h, "X-Frame-Options", "DENY");
  soup_message_headers_replace (h, "Referrer-Policy", "no-referrer");
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  g_signal_connect (msg, "got-headers", G_CALLBACK (on_got_headers), user_data);
}

static void
dispatch (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
          gpointer user_data)
{
  PanelHttp *self = user_data;
  (void) server;
  Match *m = g_object_get_data (G_OBJECT (msg), MATCH_KEY);
  if (m == NULL)
    {
      /* Not seen at got-headers (should not happen): checked now. */
      m = match_request (self, msg);
      g_object_set_data_full (G_OBJECT (msg), MATCH_KEY, m, (GDestroyNotify) match_free);
    }
  if (m->refused || soup_server_message_get_status (msg) != SOUP_STATUS_NONE)
    return;
  const PanelRoute *route = &g_array_index (self->routes, PanelRoute, m->route);
  /* The headers promised a size; the body read must keep to the cap too. */
  gsize cap = route->max_body != 0 ? route->max_body : PANEL_HTTP_JSON_MAX_BODY;
  if ((gsize) soup_server_message_get_request_body (msg)->length > cap)
    return panel_http_send_errorf (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too-large",
                                   "the body is over %zu bytes", cap);
  PanelHttpRequest req = {
    .msg = msg,
    .method = soup_server_message_get_method (msg),
    .path = path,
    .query = query,
    .route = route,
    .session = m->session,
    .n_params = m->n_params,
    .user_data = g_array_index (self->user_data, gpointer, m->route),
  };
  for (guint i = 0; i < m->n_params; i++)
    {
      req.ids[i] = m->ids[i];
      req.params[i] = m->params[i];
    }
  route->handler (&req);
}

PanelHttp *
panel_http_new (SoupServer *server)
{
  PanelHttp *self = g_new0 (PanelHttp, 1);
  self->server = g_object_ref (server);
  self->routes = g_array_new (FALSE, FALSE, sizeof (PanelRoute));
  self->user_data = g_array_new (FALSE, FALSE, sizeof (gpointer));
  self->test_routes = g_strcmp0 (g_getenv ("ANSIM_PANEL_TEST_PUBLISH"), "1") == 0;
  g_signal_connect (server, "request-started", G_CALLBACK (on_request_started), self);
  soup_server_add_handler (server, NULL, dispatch, self, NULL);
  return self;
}

void
panel_http_set_console (PanelHttp *self, PanelConsole *console)
{
  self->console = console;
}

void
panel_http_free (PanelHttp *self)
{
  if (self == NULL)
    return;
  soup_server_remove_handler (self->server, NULL);
  g_signal_handlers_disconnect_by_data (self->server, self);
  g_object_unref (self->server);
  g_array_unref (self->routes);
  g_array_unref (self->user_data);
  g_clear_pointer (&self->trusted_proxies, g_ptr_array_unref);
  g_free (self);
}

/* ---- who is asking ----------------------------------------------------- */

void
panel_http_set_trusted_proxies (PanelHttp *self, GPtrArray *masks)
{
  g_clear_pointer (&self->trusted_proxies, g_ptr_array_unref);
  self->trusted_proxies = masks;
}

gboolean
panel_http_peer_is_trusted_proxy (PanelHttp *self, SoupServerMessage *msg)
{
  return self->trusted_proxies != NULL && self->trusted_proxies->len > 0
         && ansim_address_masks_contain (self->trusted_proxies,
                                         soup_server_message_get_remote_host (msg));
}

char *
panel_http_client_address (PanelHttp *self, SoupServerMessage *msg)
{
  const char *peer = soup_server_message_get_remote_host (msg);
  const char *forwarded;
  g_auto (GStrv) hops = NULL;

  if (!panel_http_peer_is_trusted_proxy (self, msg))
    return g_strdup (peer != NULL ? peer : "unknown");
  forwarded = soup_message_headers_get_list (soup_server_message_get_request_headers (msg),
                                             "X-Forwarded-For");
  if (forwarded == NULL)
    return g_strdup (peer);
  /* Each proxy appends the address it got the request from; walking back
   * from the end, the first one not among our proxies is the client (what
   * stands before it, the client could have written itself). */
  hops = g_strsplit (forwarded, ",", -1);
  for (guint i = g_strv_length (hops); i > 0; i--)
    {
      g_autoptr (GInetAddress) addr = NULL;
      char *hop = g_strstrip (hops[i - 1]);

      addr = g_inet_address_new_from_string (hop);
      if (addr == NULL)
        break; /* not an address: trust nothing before it */
      if (!ansim_address_masks_contain (self->trusted_proxies, hop))
        return g_strdup (hop);
    }
  return g_strdup (peer);
}
