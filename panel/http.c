/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's route table and dispatcher, and the JSON answer helpers.
 * Route, method, parameters, caller (console session, or an enrolled
 * device's key) and Content-Length are checked when a request's
 * headers are in (got-headers), before libsoup reads a byte of its body.
 * What must stay true: nothing reaches a handler that its route does not
 * allow; a refused request with a body is answered at once on a
 * connection taken from libsoup (which would otherwise read the whole
 * body first unless the client sent Expect: 100-continue) and closed
 * after a short, bounded discard; chunked bodies are counted as they
 * arrive and cut at the cap; bodies in memory stay within one budget for
 * all requests, and spool routes' bodies go to a staging file instead;
 * every refusal has the one error shape {"error": CODE, "message": TEXT}. */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "address-mask.h"
#include "console.h"
#include "httpsig.h"
#include "range.h"

#define MATCH_KEY "panel-http-match"
/* Default budget until panel_http_set_limits: 64 MiB. */
#define DEFAULT_BODIES_IN_MEMORY (64 * 1024 * 1024)
/* Refused connections discarding what their client still sends, at once;
 * beyond this they are closed without the wait. */
#define MAX_LINGERING 64
/* What a refused connection discards at most: enough for what was in
 * flight when the answer went (a client that reads answers, like libcurl,
 * stops sending then); a client that keeps sending is cut off, so that
 * discarding never takes the main loop from alerts for long. */
#define LINGER_MAX_BYTES (1024 * 1024)
#define SPOOL_PREFIX "body-"

/* The memory budget of request bodies: shared by the server and each
 * message's Match (a message may outlive the server by a moment). Main
 * loop only. */
typedef struct {
  gsize limit;
  gsize used;
} Budget;

struct _PanelHttp {
  SoupServer *server;    /* a reference */
  PanelConsole *console; /* borrowed */
  GArray *routes;        /* of PanelRoute */
  GArray *user_data;     /* gpointer per route */
  gboolean test_routes;
  gboolean hsts;
  PanelHttpDeviceCheck device_check;
  gpointer device_check_data;
  Budget *budget; /* g_rc_box */
  char *staging_dir;
  guint linger_ms;
  GPtrArray *trusted_proxies; /* GInetAddressMask; NULL: none */
};

/* A request matched to its route, kept on the message from got-headers to
 * the handler (freed with the message, which also frees its body). */
typedef struct {
  guint route; /* index in routes */
  PanelSession *session;
  gint64 ids[PANEL_HTTP_MAX_PARAMS];
  char *params[PANEL_HTTP_MAX_PARAMS];
  guint n_params;
  gboolean refused;  /* answered already */
  gboolean has_body; /* a Content-Length above 0, or chunked */
  gboolean chunked;
  gsize cap;        /* the route's body cap */
  guint64 received; /* body bytes so far */
  Budget *budget;   /* a reference while reserved > 0 */
  gsize reserved;   /* bytes of the budget this request holds */
  int spool_fd;     /* the staging file (unlinked), or -1 */
} Match;

static void
match_free (Match *m)
{
  panel_session_free (m->session);
  for (guint i = 0; i < m->n_params; i++)
    g_free (m->params[i]);
  if (m->budget != NULL)
    {
      m->budget->used -= m->reserved;
      g_rc_box_release (m->budget);
    }
  if (m->spool_fd >= 0)
    close (m->spool_fd);
  g_free (m);
}

/* Takes n more bytes of the budget for m; FALSE when they do not fit. */
static gboolean
reserve (Budget *budget, Match *m, gsize n)
{
  if (n > budget->limit - budget->used)
    return FALSE;
  budget->used += n;
  m->reserved += n;
  if (m->budget == NULL)
    m->budget = g_rc_box_acquire (budget);
  return TRUE;
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

void
panel_http_send_bytes (SoupServerMessage *msg, const char *content_type, GBytes *bytes)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  const char *range =
    soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Range");
  gsize size = g_bytes_get_size (bytes);
  gint64 start = 0, end = 0;
  gboolean head = g_strcmp0 (soup_server_message_get_method (msg), "HEAD") == 0;
  soup_message_headers_replace (h, "Accept-Ranges", "bytes");
  switch (head ? PANEL_RANGE_WHOLE : panel_range_parse (range, (gint64) size, &start, &end))
    {
    case PANEL_RANGE_UNSATISFIABLE:
      {
        g_autofree char *cr = g_strdup_printf ("bytes */%zu", size);
        soup_message_headers_replace (h, "Content-Range", cr);
        panel_http_send_errorf (msg, SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE,
                                "range-not-satisfiable", "the range is outside the %zu bytes",
                                size);
        return;
      }
    case PANEL_RANGE_PART:
      {
        g_autofree char *cr =
          g_strdup_printf ("bytes %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT "/%zu", start, end, size);
        g_autoptr (GBytes) part = g_bytes_new_from_bytes (bytes, start, end - start + 1);
        soup_message_headers_replace (h, "Content-Range", cr);
        soup_server_message_set_status (msg, SOUP_STATUS_PARTIAL_CONTENT, NULL);
        soup_server_message_set_response (msg, content_type, SOUP_MEMORY_COPY,
                                          g_bytes_get_data (part, NULL), g_bytes_get_size (part));
        return;
      }
    case PANEL_RANGE_WHOLE:
      /* The whole, once: libsoup must not apply the Range to it. */
      soup_message_headers_remove (soup_server_message_get_request_headers (msg), "Range");
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_server_message_set_response (msg, content_type, SOUP_MEMORY_COPY,
                                        g_bytes_get_data (bytes, NULL), size);
      return;
    }
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
  SoupMessageHeaders *rh = soup_server_message_get_request_headers (msg);
  m->refused = TRUE;
  m->spool_fd = -1;
  m->chunked = soup_message_headers_get_encoding (rh) == SOUP_ENCODING_CHUNKED;
  m->has_body = m->chunked || soup_message_headers_get_content_length (rh) > 0;
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
  goffset length = soup_message_headers_get_content_length (h);
  m->cap = cap;
  if (length < 0 || (guint64) length > cap)
    {
      panel_http_send_errorf (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too-large",
                              "the body is over %zu bytes", cap);
      return m;
    }
  if (route->caller == PANEL_CALLER_DEVICE)
    {
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
      /* The device is known before its body is read; ingest.c checks the
       * signature, digest, time and nonce once the body is in. */
      if (self->device_check != NULL
          && !self->device_check (self->device_check_data, msg, method, path, sig))
        return m;
    }
  gboolean spooled = route->spool && self->staging_dir != NULL;
  if (!spooled && !m->chunked && length > 0 && !reserve (self->budget, m, length))
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After",
                                    "5");
      panel_http_send_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "busy",
                             "the panel is receiving too much at once; try again shortly");
      return m;
    }
  m->refused = FALSE;
  return m;
}

/* ---- answering at once ------------------------------------------------ */

/* A refused connection: its answer being written, then what the client
 * still sends discarded (so that the client reads the answer rather than
 * a reset) until it stops, linger_ms pass or LINGER_MAX_BYTES went; then
 * closed. */
typedef struct {
  GIOStream *stream;
  GBytes *answer;
  GCancellable *cancellable;
  guint timeout_id;
  gsize discarded;
  guint8 buf[16 * 1024];
} Closer;

static guint n_lingering; /* main loop only */

static void
on_closer_closed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  (void) user_data;
  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
  g_object_unref (source);
}

static void
closer_finish (Closer *c)
{
  g_clear_handle_id (&c->timeout_id, g_source_remove);
  g_io_stream_close_async (c->stream, G_PRIORITY_DEFAULT, NULL, on_closer_closed, NULL);
  g_clear_object (&c->cancellable);
  g_bytes_unref (c->answer);
  n_lingering--;
  g_free (c);
}

static gboolean
on_linger_over (gpointer user_data)
{
  Closer *c = user_data;
  c->timeout_id = 0;
  g_cancellable_cancel (c->cancellable);
  return G_SOURCE_REMOVE;
}

static void
on_discarded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Closer *c = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);
  if (n <= 0 || g_cancellable_is_cancelled (c->cancellable)
      || (c->discarded += n) > LINGER_MAX_BYTES)
    return closer_finish (c);
  g_input_stream_read_async (G_INPUT_STREAM (source), c->buf, sizeof c->buf, G_PRIORITY_LOW,
                             c->cancellable, on_discarded, c);
}

static void
on_answer_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Closer *c = user_data;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL)
      || n_lingering > MAX_LINGERING)
    return closer_finish (c);
  g_input_stream_read_async (g_io_stream_get_input_stream (c->stream), c->buf, sizeof c->buf,
                             G_PRIORITY_LOW, c->cancellable, on_discarded, c);
}

/* The response msg holds, as bytes on the wire, closing the connection. */
static GBytes *
serialize_answer (SoupServerMessage *msg)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  guint status = soup_server_message_get_status (msg);
  g_autoptr (GBytes) body = soup_message_body_flatten (soup_server_message_get_response_body (msg));
  GString *s = g_string_new (NULL);
  SoupMessageHeadersIter iter;
  const char *name, *value;
  if (status == SOUP_STATUS_NONE)
    status = SOUP_STATUS_INTERNAL_SERVER_ERROR;
  soup_message_headers_replace (h, "Connection", "close");
  soup_message_headers_set_content_length (h, g_bytes_get_size (body));
  g_string_append_printf (s, "HTTP/1.1 %u %s\r\n", status, soup_status_get_phrase (status));
  soup_message_headers_iter_init (&iter, h);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    g_string_append_printf (s, "%s: %s\r\n", name, value);
  g_string_append (s, "\r\n");
  g_string_append_len (s, g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  return g_string_free_to_bytes (s);
}

/* Sends msg's answer (set already) now, before the rest of its body is
 * read, on the connection taken from libsoup, and closes it. Called from
 * msg's got-headers or got-chunk: libsoup's reader stops when its
 * connection is stolen (soup-server-message-io-http1.c checks after each
 * step that the message still has its I/O). */
static void
answer_now (PanelHttp *self, SoupServerMessage *msg)
{
  Closer *c = g_new0 (Closer, 1);
  c->answer = serialize_answer (msg);
  c->stream = soup_server_message_steal_connection (msg);
  if (c->stream == NULL)
    {
      g_bytes_unref (c->answer);
      g_free (c);
      return;
    }
  n_lingering++;
  c->cancellable = g_cancellable_new ();
  c->timeout_id = g_timeout_add (self->linger_ms, on_linger_over, c);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (c->stream),
                                   g_bytes_get_data (c->answer, NULL), g_bytes_get_size (c->answer),
                                   G_PRIORITY_DEFAULT, c->cancellable, on_answer_written, c);
}

/* ---- bodies ----------------------------------------------------------- */

static gboolean
write_all (int fd, const guint8 *data, gsize len, GError **error)
{
  while (len > 0)
    {
      gssize n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s", g_strerror (saved));
          return FALSE;
        }
      data += n, len -= n;
    }
  return TRUE;
}

/* Each piece of an accepted body as it arrives: counted against the cap,
 * and either kept (within the memory budget) or written to the staging
 * file. Refusals are answered at once. */
static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  PanelHttp *self = user_data;
  Match *m = g_object_get_data (G_OBJECT (msg), MATCH_KEY);
  gsize n = 0;
  const guint8 *data = g_bytes_get_data (chunk, &n);
  g_autoptr (GError) error = NULL;
  if (m == NULL || m->refused)
    return;
  m->received += n;
  if (m->received > m->cap)
    panel_http_send_errorf (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too-large",
                            "the body is over %zu bytes", m->cap);
  else if (m->spool_fd >= 0)
    {
      if (write_all (m->spool_fd, data, n, &error))
        return;
      g_warning ("cannot stage a request body in %s: %s", self->staging_dir, error->message);
      panel_http_send_error (msg, SOUP_STATUS_INSUFFICIENT_STORAGE, "store-full",
                             "the panel cannot stage the body now; try again later");
    }
  else if (!m->chunked || reserve (self->budget, m, n))
    return;
  else
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After",
                                    "5");
      panel_http_send_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "busy",
                             "the panel is receiving too much at once; try again shortly");
    }
  m->refused = TRUE;
  g_signal_handlers_disconnect_by_func (msg, on_got_chunk, user_data);
  answer_now (self, msg);
}

/* A staging file for m's body, already unlinked: it goes with its fd,
 * crash or not. FALSE after answering. */
static gboolean
open_spool (PanelHttp *self, SoupServerMessage *msg, Match *m)
{
  g_autofree char *tmpl = g_build_filename (self->staging_dir, SPOOL_PREFIX "XXXXXX", NULL);
  int fd = g_mkstemp_full (tmpl, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      g_warning ("cannot stage a request body in %s: %s", self->staging_dir, g_strerror (errno));
      panel_http_send_error (msg, SOUP_STATUS_INSUFFICIENT_STORAGE, "store-full",
                             "the panel cannot stage the body now; try again later");
      m->refused = TRUE;
      return FALSE;
    }
  g_unlink (tmpl);
  m->spool_fd = fd;
  return TRUE;
}

/* ---- dispatch --------------------------------------------------------- */

static void
on_got_headers (SoupServerMessage *msg, gpointer user_data)
{
  PanelHttp *self = user_data;
  Match *m;
  if (soup_server_message_get_status (msg) != SOUP_STATUS_NONE)
    {
      /* libsoup refused it already (a path with "..", a scheme that is
       * not the listener's): that answer, before the body too. */
      SoupMessageHeaders *rh = soup_server_message_get_request_headers (msg);
      m = g_new0 (Match, 1);
      m->refused = TRUE;
      m->spool_fd = -1;
      m->has_body = soup_message_headers_get_encoding (rh) == SOUP_ENCODING_CHUNKED
                    || soup_message_headers_get_content_length (rh) > 0;
    }
  else
    m = match_request (self, msg);
  g_object_set_data_full (G_OBJECT (msg), MATCH_KEY, m, (GDestroyNotify) match_free);
  if (m->refused)
    {
      /* Without a body libsoup goes on as usual (keep-alive). */
      if (m->has_body)
        answer_now (self, msg);
      return;
    }
  if (!m->has_body)
    return;
  const PanelRoute *route = &g_array_index (self->routes, PanelRoute, m->route);
  if (route->spool && self->staging_dir != NULL)
    {
      if (!open_spool (self, msg, m))
        return answer_now (self, msg);
      soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
    }
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), self);
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
                                "form-action 'self'; object-src 'none'; media-src 'self' blob:");
  soup_message_headers_replace (h, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (h, "X-Frame-Options", "DENY");
  soup_message_headers_replace (h, "Referrer-Policy", "no-referrer");
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  if (((PanelHttp *) user_data)->hsts)
    soup_message_headers_replace (h, "Strict-Transport-Security", "max-age=31536000");
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
  if ((gsize) soup_server_message_get_request_body (msg)->length > cap || m->received > cap)
    return panel_http_send_errorf (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too-large",
                                   "the body is over %zu bytes", cap);
  g_autoptr (GBytes) body = NULL;
  if (m->spool_fd >= 0)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GMappedFile) mapped = g_mapped_file_new_from_fd (m->spool_fd, FALSE, &error);
      if (mapped == NULL)
        {
          g_warning ("cannot read a staged request body: %s", error->message);
          return panel_http_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                        "the panel cannot read the body it staged");
        }
      body = g_mapped_file_get_bytes (mapped);
    }
  PanelHttpRequest req = {
    .body = body,
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
  self->budget = g_rc_box_new0 (Budget);
  self->budget->limit = DEFAULT_BODIES_IN_MEMORY;
  self->linger_ms = 2000;
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
  g_rc_box_release (self->budget);
  g_free (self->staging_dir);
  g_clear_pointer (&self->trusted_proxies, g_ptr_array_unref);
  g_free (self);
}

void
panel_http_set_device_check (PanelHttp *self, PanelHttpDeviceCheck check, gpointer user_data)
{
  self->device_check = check;
  self->device_check_data = user_data;
}

void
panel_http_set_hsts (PanelHttp *self, gboolean hsts)
{
  self->hsts = hsts;
}

gboolean
panel_http_set_limits (PanelHttp *self, gsize bodies_in_memory, const char *staging_dir,
                       guint linger_ms, GError **error)
{
  self->budget->limit = bodies_in_memory;
  self->linger_ms = linger_ms;
  if (g_mkdir_with_parents (staging_dir, 0700) < 0)
    {
      int saved = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot create the staging directory %s: %s", staging_dir, g_strerror (saved));
      return FALSE;
    }
  /* Staged files are unlinked while open; a name left here is from a
   * crash between create and unlink. */
  g_autoptr (GDir) dir = g_dir_open (staging_dir, 0, error);
  if (dir == NULL)
    return FALSE;
  for (const char *name; (name = g_dir_read_name (dir)) != NULL;)
    if (g_str_has_prefix (name, SPOOL_PREFIX))
      {
        g_autofree char *path = g_build_filename (staging_dir, name, NULL);
        g_unlink (path);
      }
  g_free (self->staging_dir);
  self->staging_dir = g_strdup (staging_dir);
  return TRUE;
}

gsize
panel_http_get_bodies_in_memory (PanelHttp *self)
{
  return self->budget->used;
}

typedef struct {
  GSourceFunc closed;
  gpointer user_data;
} ClientWatch;

static gboolean
on_client_readable (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  ClientWatch *w = user_data;
  (void) socket, (void) condition;
  w->closed (w->user_data);
  return G_SOURCE_REMOVE;
}

guint
panel_http_watch_client (SoupServerMessage *msg, GSourceFunc closed, gpointer user_data)
{
  GSocket *socket = soup_server_message_get_socket (msg);
  if (socket == NULL)
    return 0;
  ClientWatch *w = g_new (ClientWatch, 1);
  *w = (ClientWatch){ closed, user_data };
  g_autoptr (GSource) source = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (source, (GSourceFunc) (void (*) (void)) on_client_readable, w, g_free);
  return g_source_attach (source, NULL);
}

gboolean
panel_http_is_https (PanelHttp *self, SoupServerMessage *msg)
{
  if (soup_server_is_https (self->server))
    return TRUE;
  const char *proto = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                    "X-Forwarded-Proto");
  return proto != NULL && g_ascii_strcasecmp (proto, "https") == 0
         && panel_http_peer_is_trusted_proxy (self, msg);
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
