/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the console's HTTP side: login and logout, session
 * cookies, role and CSRF checks, users and audit APIs, the static interface
 * from the GResource, and the Server-Sent Events stream. */
#include "console.h"

#include <openssl/crypto.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "panel-resources.h"

#define COOKIE_NAME "ansim_session"
#define CSRF_HEADER "X-CSRF-Token"
/* Console requests are small JSON documents; anything bigger is refused
 * before its body is read. */
#define MAX_BODY_BYTES (64 * 1024)
#define AUDIT_PAGE_DEFAULT 50
#define AUDIT_PAGE_MAX 500
/* A bound on open event streams: each holds a connection and a buffer. */
#define MAX_STREAMS 256
#define KEEPALIVE_S 15
/* Every role has the stream: an escalation reaches every logged-in
 * console. Auditors' streams carry nothing else (see ALERTS_ONLY). */
#define STREAM_ROLES PANEL_ROLES_ANY
#define ALERTS_ONLY_ROLES PANEL_ROLE_AUDITOR
#define AUDIT_ROLES (PANEL_ROLE_AUDITOR | PANEL_ROLE_ADMIN)

typedef struct {
  PanelConsole *console;
  SoupServerMessage *msg;     /* a reference */
  char *token_sha256;
  gboolean alerts_only;       /* only escalations (and the session's end) */
} Stream;

struct _PanelConsole {
  SoupServer *server;         /* a reference */
  sqlite3 *db;                /* borrowed */
  gint64 session_lifetime_us;
  PanelThrottle *throttle;
  GCancellable *cancellable;  /* cancelled at free: pending password checks drop out */
  GList *streams;             /* of Stream */
  guint keepalive_id;
  gint64 next_event_id;
  gboolean test_publish;
  /* Logins being checked right now, per account name and per address:
   * the throttle only counts finished attempts, so without this bound many
   * parallel guesses could all pass its check before the first failed. */
  GHashTable *pending_accounts; /* name -> count (GUINT_TO_POINTER) */
  GHashTable *pending_addresses;
};

/* ---- answers ---------------------------------------------------------- */

void
panel_console_send_json_node (SoupServerMessage *msg, guint status, JsonNode *node)
{
  g_autofree char *body = json_to_string (node, FALSE);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, body,
                                    strlen (body));
}

void
panel_console_send_json (SoupServerMessage *msg, guint status, JsonBuilder *b)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  panel_console_send_json_node (msg, status, root);
}

void
panel_console_send_db_error (SoupServerMessage *msg, sqlite3 *db, const char *what)
{
  g_warning ("%s: %s", what, sqlite3_errmsg (db));
  panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                            "the panel cannot use its database");
}

void
panel_console_send_error (SoupServerMessage *msg, guint status, const char *code,
                          const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, message);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, code);
  json_builder_end_object (b);
  panel_console_send_json (msg, status, b);
}

static void end_streams (PanelConsole *self, const char *token_sha256);

static gboolean
require_method (SoupServerMessage *msg, const char *allowed)
{
  const char *method = soup_server_message_get_method (msg);
  g_auto (GStrv) list = g_strsplit (allowed, ", ", -1);

  if (g_strv_contains ((const char *const *) list, method))
    return TRUE;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", allowed);
  {
    g_autofree char *text = g_strdup_printf ("method not allowed; use %s", allowed);
    panel_console_send_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method-not-allowed", text);
  }
  return FALSE;
}

/* Headers on every answer of the panel, API and pages alike. */
static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);

  (void) server;
  (void) user_data;
  soup_message_headers_replace (h, "Content-Security-Policy",
                                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                                "form-action 'self'; object-src 'none'");
  soup_message_headers_replace (h, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (h, "X-Frame-Options", "DENY");
  soup_message_headers_replace (h, "Referrer-Policy", "no-referrer");
  soup_message_headers_replace (h, "Cache-Control", "no-store");
}

/* ---- sessions and checks ---------------------------------------------- */

static char *
cookie_token (SoupServerMessage *msg)
{
  const char *header = soup_message_headers_get_list (soup_server_message_get_request_headers (msg),
                                                      "Cookie");
  GHashTable *params;
  char *token = NULL;

  if (header == NULL)
    return NULL;
  params = soup_header_parse_semi_param_list (header);
  token = g_strdup (g_hash_table_lookup (params, COOKIE_NAME));
  soup_header_free_param_list (params);
  return token;
}

static const char *
client_address (SoupServerMessage *msg)
{
  const char *host = soup_server_message_get_remote_host (msg);
  return host != NULL ? host : "unknown";
}

static gboolean
is_safe_method (SoupServerMessage *msg)
{
  const char *method = soup_server_message_get_method (msg);
  return strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0;
}

static gboolean
csrf_ok (SoupServerMessage *msg, PanelSession *session)
{
  const char *given = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                    CSRF_HEADER);
  gsize len = strlen (session->csrf_token);

  return given != NULL && strlen (given) == len &&
         CRYPTO_memcmp (given, session->csrf_token, len) == 0;
}

PanelSession *
panel_console_authorize (PanelConsole *self, SoupServerMessage *msg, guint roles)
{
  g_autofree char *token = cookie_token (msg);
  g_autoptr (GError) error = NULL;
  g_autoptr (PanelSession) session = panel_session_lookup (self->db, token, g_get_real_time (),
                                                           &error);

  if (error != NULL)
    {
      g_warning ("%s", error->message);
      panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                "the panel cannot read its database");
      return NULL;
    }
  if (session == NULL)
    {
      panel_console_send_error (msg, SOUP_STATUS_UNAUTHORIZED, "not-logged-in",
                                "log in first (no valid session)");
      return NULL;
    }
  if ((session->role & roles) == 0)
    {
      g_autofree char *text = g_strdup_printf ("the role %s may not use this",
                                               panel_role_to_string (session->role));
      panel_console_send_error (msg, SOUP_STATUS_FORBIDDEN, "forbidden", text);
      return NULL;
    }
  if (!is_safe_method (msg) && !csrf_ok (msg, session))
    {
      panel_console_send_error (msg, SOUP_STATUS_FORBIDDEN, "csrf",
                                "missing or wrong " CSRF_HEADER " header");
      return NULL;
    }
  return g_steal_pointer (&session);
}

gboolean
panel_console_audit (PanelConsole *self, SoupServerMessage *msg, PanelSession *session,
                     const char *action, const char *target, const char *detail_json,
                     GError **error)
{
  return panel_audit_append (self->db, session != NULL ? session->user : NULL,
                             session != NULL ? panel_role_to_string (session->role) : NULL,
                             msg != NULL ? client_address (msg) : NULL, action, target,
                             detail_json, error);
}

/* Audit, and answer 500 when even that fails: an action that cannot be
 * audited must not look successful. */
static gboolean
audit_or_fail (PanelConsole *self, SoupServerMessage *msg, PanelSession *session,
               const char *action, const char *target, const char *detail_json)
{
  g_autoptr (GError) error = NULL;
  if (panel_console_audit (self, msg, session, action, target, detail_json, &error))
    return TRUE;
  g_warning ("cannot write the audit log: %s", error->message);
  panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                            "the panel cannot write its audit log");
  return FALSE;
}

JsonObject *
panel_console_read_json_object (SoupServerMessage *msg)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  const char *type = soup_message_headers_get_content_type (h, NULL);
  g_autoptr (GBytes) body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  gsize size = 0;
  const char *data = g_bytes_get_data (body, &size);

  /* Also a CSRF defence for login: a cross-site form cannot send this type
   * without a CORS preflight, which the panel never grants. */
  if (g_strcmp0 (type, "application/json") != 0)
    {
      panel_console_send_error (msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, "bad-request",
                                "the body must be application/json");
      return NULL;
    }
  if (size > MAX_BODY_BYTES)
    {
      panel_console_send_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too-large",
                                "request body too large");
      return NULL;
    }
  if (!json_parser_load_from_data (parser, data != NULL ? data : "", size, &error) ||
      json_parser_get_root (parser) == NULL || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_autofree char *text = g_strdup_printf ("the body is not a JSON object%s%s",
                                               error != NULL ? ": " : "",
                                               error != NULL ? error->message : "");
      panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", text);
      return NULL;
    }
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

/* A string member, or NULL (then not a string or missing). */
static const char *
string_member (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static void
add_session_members (JsonBuilder *b, PanelSession *session)
{
  json_builder_set_member_name (b, "user");
  json_builder_add_string_value (b, session->user);
  json_builder_set_member_name (b, "role");
  json_builder_add_string_value (b, panel_role_to_string (session->role));
  json_builder_set_member_name (b, "csrf_token");
  json_builder_add_string_value (b, session->csrf_token);
  json_builder_set_member_name (b, "expires_at_us");
  json_builder_add_int_value (b, session->expires_at_us);
}

static void
set_cookie (PanelConsole *self, SoupServerMessage *msg, const char *token, gint64 max_age_s)
{
  g_autofree char *value = g_strdup_printf (COOKIE_NAME "=%s; Path=/; Max-Age=%" G_GINT64_FORMAT
                                            "; HttpOnly; SameSite=Strict%s",
                                            token, max_age_s,
                                            soup_server_is_https (self->server) ? "; Secure" : "");
  soup_message_headers_append (soup_server_message_get_response_headers (msg), "Set-Cookie", value);
}

/* ---- login ------------------------------------------------------------ */

typedef struct {
  PanelConsole *console;      /* valid unless cancellable is cancelled */
  GCancellable *cancellable;
  SoupServerMessage *msg;
  char *name;                 /* as typed, if a valid user name; else NULL */
  char *password;
  PanelUser *user;            /* NULL: no such user (the dummy hash is checked) */
  char *client;
  gboolean pending;           /* counted in the console's pending tables */
} Login;

#define MAX_PENDING_PER_ACCOUNT 1
#define MAX_PENDING_PER_ADDRESS 4

static guint
pending_get (GHashTable *table, const char *key)
{
  return key != NULL ? GPOINTER_TO_UINT (g_hash_table_lookup (table, key)) : 0;
}

static void
pending_add (GHashTable *table, const char *key, int delta)
{
  guint n;
  if (key == NULL)
    return;
  n = pending_get (table, key) + delta;
  if (n == 0)
    g_hash_table_remove (table, key);
  else
    g_hash_table_insert (table, g_strdup (key), GUINT_TO_POINTER (n));
}

static void
login_free (Login *login)
{
  if (login->pending && !g_cancellable_is_cancelled (login->cancellable))
    {
      pending_add (login->console->pending_accounts, login->name, -1);
      pending_add (login->console->pending_addresses, login->client, -1);
    }
  g_object_unref (login->cancellable);
  g_object_unref (login->msg);
  g_free (login->name);
  if (login->password != NULL)
    OPENSSL_cleanse (login->password, strlen (login->password));
  g_free (login->password);
  panel_user_free (login->user);
  g_free (login->client);
  g_free (login);
}

/* In a worker thread: scrypt takes 0.1 to 0.3 s, which must not hold up
 * the main loop (alerts, uploads). */
static void
login_verify_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Login *login = task_data;
  gboolean match = FALSE;
  GError *error = NULL;

  (void) source;
  (void) cancellable;
  if (!panel_password_verify (login->user != NULL ? login->user->password_hash
                                                  : panel_password_dummy_hash (),
                              login->password, &match, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, match && login->user != NULL);
}

static void
login_failed (PanelConsole *self, Login *login, const char *reason)
{
  g_autofree char *detail = g_strdup_printf ("{\"reason\":\"%s\"}", reason);

  panel_throttle_failure (self->throttle, login->name, login->client, g_get_real_time ());
  if (!audit_or_fail (self, login->msg, NULL, PANEL_AUDIT_LOGIN_FAILED,
                      login->name != NULL ? login->name : "(invalid user name)", detail))
    return;
  panel_console_send_error (login->msg, SOUP_STATUS_UNAUTHORIZED, "bad-credentials",
                            "wrong user name or password");
}

static void
login_verified (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Login *login = user_data;
  PanelConsole *self = login->console;
  g_autoptr (GError) error = NULL;
  g_autofree char *token = NULL;
  g_autoptr (PanelSession) session = NULL;
  gboolean match;

  (void) source;
  if (g_cancellable_is_cancelled (login->cancellable))
    goto out;
  match = g_task_propagate_boolean (G_TASK (result), &error);
  if (error != NULL)
    {
      g_warning ("login of '%s': %s", login->name, error->message);
      panel_console_send_error (login->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                "the password could not be checked");
      goto out;
    }
  if (!match)
    {
      login_failed (self, login, login->user == NULL ? "unknown-user" : "wrong-password");
      goto out;
    }
  if (login->user->disabled)
    {
      login_failed (self, login, "disabled");
      goto out;
    }
  if (!ansim_db_begin (self->db, &error))
    goto db_error;
  session = panel_session_create (self->db, login->user->name, login->user->role, login->client,
                                  g_get_real_time (), self->session_lifetime_us, &token, &error);
  if (session == NULL ||
      !panel_console_audit (self, login->msg, session, PANEL_AUDIT_LOGIN, NULL, NULL, &error) ||
      !ansim_db_commit (self->db, &error))
    {
      ansim_db_rollback (self->db);
      goto db_error;
    }
  panel_throttle_success (self->throttle, login->name);
  set_cookie (self, login->msg, token, self->session_lifetime_us / G_USEC_PER_SEC);
  {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    json_builder_begin_object (b);
    add_session_members (b, session);
    json_builder_end_object (b);
    panel_console_send_json (login->msg, SOUP_STATUS_OK, b);
  }
  goto out;

db_error:
  g_warning ("login of '%s': %s", login->name, error->message);
  panel_console_send_error (login->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                            "the panel cannot write its database");
out:
  if (!g_cancellable_is_cancelled (login->cancellable))
    soup_server_message_unpause (login->msg);
  login_free (login);
}

/* Origin, when the browser sends it, must be this server: refuses a login
 * posted from another site (login CSRF). */
static gboolean
origin_ok (SoupServerMessage *msg)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  const char *origin = soup_message_headers_get_one (h, "Origin");
  const char *host = soup_message_headers_get_one (h, "Host");
  g_autoptr (GUri) uri = NULL;
  g_autofree char *authority = NULL;

  if (origin == NULL)
    return TRUE;
  uri = g_uri_parse (origin, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || host == NULL || g_uri_get_host (uri) == NULL)
    return FALSE;
  authority = g_uri_get_port (uri) > 0
    ? g_strdup_printf ("%s:%d", g_uri_get_host (uri), g_uri_get_port (uri))
    : g_strdup (g_uri_get_host (uri));
  return g_ascii_strcasecmp (authority, host) == 0;
}

static void
handle_login (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
              gpointer user_data)
{
  PanelConsole *self = user_data;
  g_autoptr (JsonObject) body = NULL;
  g_autoptr (GError) error = NULL;
  const char *name, *password;
  Login *login;
  gint64 wait_us;
  gboolean busy;

  (void) server;
  (void) path;
  (void) query;
  if (!require_method (msg, "POST"))
    return;
  if (!origin_ok (msg))
    {
      panel_console_send_error (msg, SOUP_STATUS_FORBIDDEN, "csrf",
                                "login from another origin refused");
      return;
    }
  body = panel_console_read_json_object (msg);
  if (body == NULL)
    return;
  name = string_member (body, "user");
  password = string_member (body, "password");
  if (name == NULL || password == NULL || strlen (password) > 1024)
    {
      panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                "give \"user\" and \"password\" as strings");
      return;
    }
  login = g_new0 (Login, 1);
  login->console = self;
  login->cancellable = g_object_ref (self->cancellable);
  login->msg = g_object_ref (msg);
  login->name = panel_user_name_is_valid (name) ? g_strdup (name) : NULL;
  login->password = g_strdup (password);
  login->client = g_strdup (client_address (msg));

  wait_us = panel_throttle_check (self->throttle, login->name, login->client, g_get_real_time ());
  /* Another attempt for the same name (or too many from the address) is
   * still being checked: try again in a second. */
  busy = wait_us == 0 &&
    (pending_get (self->pending_accounts, login->name) >= MAX_PENDING_PER_ACCOUNT ||
     pending_get (self->pending_addresses, login->client) >= MAX_PENDING_PER_ADDRESS);
  if (busy)
    wait_us = 1;
  if (wait_us > 0)
    {
      gint64 wait_s = (wait_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
      g_autofree char *retry = g_strdup_printf ("%" G_GINT64_FORMAT, wait_s);
      g_autofree char *text = g_strdup_printf ("too many failed logins; try again in %"
                                               G_GINT64_FORMAT " s", wait_s);
      if (audit_or_fail (self, msg, NULL, PANEL_AUDIT_LOGIN_FAILED,
                         login->name != NULL ? login->name : "(invalid user name)",
                         busy ? "{\"reason\":\"in-progress\"}" : "{\"reason\":\"throttled\"}"))
        {
          g_autoptr (JsonBuilder) b = json_builder_new ();
          soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                        "Retry-After", retry);
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "error");
          json_builder_add_string_value (b, text);
          json_builder_set_member_name (b, "code");
          json_builder_add_string_value (b, "throttled");
          json_builder_set_member_name (b, "retry_after_s");
          json_builder_add_int_value (b, wait_s);
          json_builder_end_object (b);
          panel_console_send_json (msg, 429, b);
          /* libsoup 3.2 has no phrase of its own for 429. */
          soup_server_message_set_status (msg, 429, "Too Many Requests");
        }
      login_free (login);
      return;
    }
  if (login->name != NULL)
    {
      login->user = panel_user_lookup (self->db, login->name, &error);
      if (error != NULL)
        {
          g_warning ("%s", error->message);
          panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                    "the panel cannot read its database");
          login_free (login);
          return;
        }
    }
  login->pending = TRUE;
  pending_add (self->pending_accounts, login->name, 1);
  pending_add (self->pending_addresses, login->client, 1);
  soup_server_message_pause (msg);
  {
    g_autoptr (GTask) task = g_task_new (NULL, NULL, login_verified, login);
    g_task_set_task_data (task, login, NULL);
    g_task_run_in_thread (task, login_verify_thread);
  }
}

static void
handle_logout (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
               gpointer user_data)
{
  PanelConsole *self = user_data;
  g_autoptr (PanelSession) session = NULL;
  g_autoptr (GError) error = NULL;

  (void) server;
  (void) path;
  (void) query;
  if (!require_method (msg, "POST"))
    return;
  session = panel_console_authorize (self, msg, PANEL_ROLES_ANY);
  if (session == NULL)
    return;
  if (!ansim_db_begin (self->db, &error) ||
      !panel_session_end (self->db, session->token_sha256, g_get_real_time (), &error) ||
      !panel_console_audit (self, msg, session, PANEL_AUDIT_LOGOUT, NULL, NULL, &error) ||
      !ansim_db_commit (self->db, &error))
    {
      ansim_db_rollback (self->db);
      g_warning ("logout: %s", error->message);
      panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                "the panel cannot write its database");
      return;
    }
  end_streams (self, session->token_sha256);
  set_cookie (self, msg, "", 0);
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

/* POST /api/session: the session lasts session_lifetime_s from now (the
 * console offers it before expiry, so an open console does not silently
 * stop receiving alerts). FALSE when the answer (an error) was sent. */
static gboolean
renew_session (PanelConsole *self, SoupServerMessage *msg, PanelSession *session)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *token = cookie_token (msg);
  gint64 expires = g_get_real_time () + self->session_lifetime_us;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (self->db,
    "UPDATE sessions SET expires_at_us = ?2 WHERE token_sha256 = ?1 AND ended_at_us IS NULL",
    &error);
  if (stmt == NULL || !ansim_db_begin (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "renewing the session"), FALSE;
  sqlite3_bind_text (stmt, 1, session->token_sha256, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, expires);
  if (sqlite3_step (stmt) != SQLITE_DONE ||
      !panel_console_audit (self, msg, session, PANEL_AUDIT_SESSION_RENEWED, NULL, NULL, &error) ||
      !ansim_db_commit (self->db, &error))
    {
      ansim_db_rollback (self->db);
      return panel_console_send_db_error (msg, self->db, "renewing the session"), FALSE;
    }
  session->expires_at_us = expires;
  set_cookie (self, msg, token, self->session_lifetime_us / G_USEC_PER_SEC);
  return TRUE;
}

static void
handle_session (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                gpointer user_data)
{
  PanelConsole *self = user_data;
  g_autoptr (PanelSession) session = NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();

  (void) server;
  (void) path;
  (void) query;
  if (!require_method (msg, "GET, POST"))
    return;
  session = panel_console_authorize (self, msg, PANEL_ROLES_ANY);
  if (session == NULL)
    return;
  if (g_str_equal (soup_server_message_get_method (msg), "POST") &&
      !renew_session (self, msg, session))
    return;
  json_builder_begin_object (b);
  add_session_members (b, session);
  json_builder_end_object (b);
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

/* ---- users (admin) ---------------------------------------------------- */

static void
send_auth_error (SoupServerMessage *msg, GError *error)
{
  guint status = SOUP_STATUS_INTERNAL_SERVER_ERROR;
  const char *code = "internal";

  if (error->domain == PANEL_AUTH_ERROR)
    switch ((PanelAuthErrorCode) error->code)
      {
      case PANEL_AUTH_ERROR_INVALID: status = SOUP_STATUS_BAD_REQUEST; code = "bad-request"; break;
      case PANEL_AUTH_ERROR_EXISTS: status = SOUP_STATUS_CONFLICT; code = "exists"; break;
      case PANEL_AUTH_ERROR_NOT_FOUND: status = SOUP_STATUS_NOT_FOUND; code = "not-found"; break;
      case PANEL_AUTH_ERROR_CRYPTO: break;
      }
  if (status == SOUP_STATUS_INTERNAL_SERVER_ERROR)
    g_warning ("%s", error->message);
  panel_console_send_error (msg, status, code, error->message);
}

static void
list_users (PanelConsole *self, SoupServerMessage *msg)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (self->db,
    "SELECT name, role, created_at_us, disabled_at_us FROM users ORDER BY name", &error);
  g_autoptr (JsonBuilder) b = json_builder_new ();

  if (stmt == NULL)
    {
      send_auth_error (msg, error);
      return;
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "users");
  json_builder_begin_array (b);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, (const char *) sqlite3_column_text (stmt, 0));
      json_builder_set_member_name (b, "role");
      json_builder_add_string_value (b, (const char *) sqlite3_column_text (stmt, 1));
      json_builder_set_member_name (b, "created_at_us");
      json_builder_add_int_value (b, sqlite3_column_int64 (stmt, 2));
      json_builder_set_member_name (b, "disabled");
      json_builder_add_boolean_value (b, sqlite3_column_type (stmt, 3) != SQLITE_NULL);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

/* GET /api/users, POST /api/users {name, role, password},
 * POST /api/users/NAME {role?, disabled?, password?}. */
static void
handle_users (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
              gpointer user_data)
{
  PanelConsole *self = user_data;
  g_autoptr (PanelSession) session = NULL;
  g_autoptr (JsonObject) body = NULL;
  g_autoptr (GError) error = NULL;
  const char *name = NULL;
  g_autofree char *actor = NULL;
  const char *actor_role, *client = client_address (msg);

  (void) server;
  (void) query;
  if (strcmp (path, "/api/users") == 0)
    {
      if (!require_method (msg, "GET, POST"))
        return;
    }
  else
    {
      name = path + strlen ("/api/users/");
      if (!require_method (msg, "POST"))
        return;
      if (!panel_user_name_is_valid (name))
        {
          panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such user");
          return;
        }
    }
  session = panel_console_authorize (self, msg, PANEL_ROLE_ADMIN);
  if (session == NULL)
    return;
  if (is_safe_method (msg))
    {
      list_users (self, msg);
      return;
    }
  body = panel_console_read_json_object (msg);
  if (body == NULL)
    return;
  actor = g_strdup (session->user);
  actor_role = panel_role_to_string (session->role);
  if (name == NULL)
    {
      const char *role_name = string_member (body, "role");
      const char *password = string_member (body, "password");
      PanelRole role;

      name = string_member (body, "name");
      if (name == NULL || password == NULL || !panel_role_from_string (role_name, &role))
        {
          panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                    "give \"name\", \"password\" and \"role\" (security, "
                                    "trainer, admin or auditor)");
          return;
        }
      if (!panel_user_add (self->db, name, role, password, actor, actor_role, client, &error))
        {
          send_auth_error (msg, error);
          return;
        }
      soup_server_message_set_status (msg, SOUP_STATUS_CREATED, NULL);
      return;
    }
  {
    JsonNode *disabled = json_object_get_member (body, "disabled");
    const char *role_name = string_member (body, "role");
    const char *password = string_member (body, "password");
    PanelRole role;

    if ((disabled != NULL && json_node_get_value_type (disabled) != G_TYPE_BOOLEAN) ||
        (json_object_has_member (body, "role") && !panel_role_from_string (role_name, &role)) ||
        (json_object_has_member (body, "password") && password == NULL) ||
        (disabled == NULL && role_name == NULL && password == NULL))
      {
        panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                  "give any of \"role\" (a role name), \"disabled\" (true or "
                                  "false), \"password\" (a string)");
        return;
      }
    if ((role_name != NULL && !panel_user_set_role (self->db, name, role, actor, actor_role, client, &error)) ||
        (password != NULL &&
         !panel_user_set_password (self->db, name, password, actor, actor_role, client,
                                   &error)) ||
        (disabled != NULL && !panel_user_set_disabled (self->db, name,
                                                       json_node_get_boolean (disabled), actor,
                                                       actor_role, client, &error)))
      {
        send_auth_error (msg, error);
        return;
      }
    soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
  }
}

/* ---- audit (auditor, admin) ------------------------------------------- */

static gboolean
parse_int_param (GHashTable *query, const char *name, gint64 min, gint64 max, gint64 *value,
                 SoupServerMessage *msg)
{
  const char *text = query != NULL ? g_hash_table_lookup (query, name) : NULL;
  if (text == NULL)
    return TRUE;
  if (!g_ascii_string_to_signed (text, 10, min, max, value, NULL))
    {
      g_autofree char *message = g_strdup_printf ("%s must be a whole number from %" G_GINT64_FORMAT
                                                  " to %" G_GINT64_FORMAT, name, min, max);
      panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", message);
      return FALSE;
    }
  return TRUE;
}

static void
handle_audit (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
              gpointer user_data)
{
  PanelConsole *self = user_data;
  g_autoptr (PanelSession) session = NULL;
  g_autoptr (GError) error = NULL;

  (void) server;
  if (!require_method (msg, "GET"))
    return;
  session = panel_console_authorize (self, msg, AUDIT_ROLES);
  if (session == NULL)
    return;

  if (strcmp (path, "/api/audit") == 0)
    {
      gint64 before = 0, limit = AUDIT_PAGE_DEFAULT;
      g_autoptr (JsonNode) entries = NULL;
      g_autoptr (JsonBuilder) b = json_builder_new ();
      JsonArray *array;

      if (!parse_int_param (query, "before", 0, G_MAXINT64, &before, msg) ||
          !parse_int_param (query, "limit", 1, AUDIT_PAGE_MAX, &limit, msg))
        return;
      entries = panel_audit_list (self->db, before, limit, &error);
      if (entries == NULL)
        {
          send_auth_error (msg, error);
          return;
        }
      array = json_node_get_array (entries);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "entries");
      json_builder_add_value (b, json_node_copy (entries));
      /* The cursor for the next (older) page, null at the start of the log. */
      json_builder_set_member_name (b, "next_before");
      if (json_array_get_length (array) == (guint) limit)
        json_builder_add_int_value (b, json_object_get_int_member (
          json_array_get_object_element (array, json_array_get_length (array) - 1), "id"));
      else
        json_builder_add_null_value (b);
      json_builder_end_object (b);
      panel_console_send_json (msg, SOUP_STATUS_OK, b);
    }
  else if (strcmp (path, "/api/audit/export") == 0)
    {
      g_autofree char *lines = NULL;

      /* The export is itself an entry, so it is part of what it exports. */
      if (!audit_or_fail (self, msg, session, PANEL_AUDIT_AUDIT_EXPORTED, "audit log", NULL))
        return;
      lines = panel_audit_export_jsonl (self->db, &error);
      if (lines == NULL)
        {
          send_auth_error (msg, error);
          return;
        }
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Content-Disposition",
                                    "attachment; filename=\"ansim-audit.jsonl\"");
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_server_message_set_response (msg, "application/x-ndjson", SOUP_MEMORY_TAKE,
                                        g_steal_pointer (&lines), strlen (lines));
    }
  else if (strcmp (path, "/api/audit/verify") == 0)
    {
      g_autofree char *problem = NULL;
      gint64 n = 0;
      g_autoptr (JsonBuilder) b = json_builder_new ();

      if (!panel_audit_verify (self->db, &n, &problem, &error))
        {
          send_auth_error (msg, error);
          return;
        }
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "intact");
      json_builder_add_boolean_value (b, problem == NULL);
      json_builder_set_member_name (b, "entries_checked");
      json_builder_add_int_value (b, n);
      json_builder_set_member_name (b, "problem");
      if (problem != NULL)
        json_builder_add_string_value (b, problem);
      else
        json_builder_add_null_value (b);
      json_builder_end_object (b);
      panel_console_send_json (msg, SOUP_STATUS_OK, b);
    }
  else
    panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such resource");
}

/* ---- static interface ------------------------------------------------- */

static const char *
content_type_for (const char *name)
{
  if (g_str_has_suffix (name, ".html"))
    return "text/html; charset=utf-8";
  if (g_str_has_suffix (name, ".js"))
    return "text/javascript; charset=utf-8";
  if (g_str_has_suffix (name, ".css"))
    return "text/css; charset=utf-8";
  if (g_str_has_suffix (name, ".json"))
    return "application/json";
  if (g_str_has_suffix (name, ".svg"))
    return "image/svg+xml";
  return "application/octet-stream";
}

static void
handle_ui (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
           gpointer user_data)
{
  const char *name;
  g_autofree char *resource = NULL;
  g_autoptr (GBytes) bytes = NULL;
  gsize size = 0;
  gconstpointer data;

  (void) server;
  (void) query;
  (void) user_data;
  if (!require_method (msg, "GET, HEAD"))
    return;
  if (strcmp (path, "/console") == 0)
    {
      soup_server_message_set_redirect (msg, SOUP_STATUS_MOVED_PERMANENTLY, "/console/");
      return;
    }
  name = path + strlen ("/console/");
  if (*name == '\0')
    name = "index.html";
  /* Resource names are flat: no directories, no dot files, no "..". */
  if (strchr (name, '/') != NULL || name[0] == '.' ||
      name[strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789-_.")] != '\0')
    {
      panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such resource");
      return;
    }
  resource = g_strconcat ("/org/ansim/panel/ui/", name, NULL);
  bytes = g_resources_lookup_data (resource, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  if (bytes == NULL)
    {
      panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such resource");
      return;
    }
  data = g_bytes_get_data (bytes, &size);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control",
                                "no-cache");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, content_type_for (name), SOUP_MEMORY_COPY, data, size);
}

/* ---- Server-Sent Events ----------------------------------------------- */

static void
stream_write (Stream *stream, const char *text)
{
  SoupMessageBody *body = soup_server_message_get_response_body (stream->msg);
  soup_message_body_append (body, SOUP_MEMORY_COPY, text, strlen (text));
  soup_server_message_unpause (stream->msg);
}

static void
stream_free (Stream *stream)
{
  g_signal_handlers_disconnect_by_data (stream->msg, stream);
  g_object_unref (stream->msg);
  g_free (stream->token_sha256);
  g_free (stream);
}

/* Ends the response; the message's own signals no longer reach the stream. */
static void
stream_close (Stream *stream)
{
  PanelConsole *self = stream->console;
  g_autoptr (SoupServerMessage) msg = g_object_ref (stream->msg);

  self->streams = g_list_remove (self->streams, stream);
  stream_free (stream);
  soup_message_body_complete (soup_server_message_get_response_body (msg));
  soup_server_message_unpause (msg);
}

static void
on_stream_gone (SoupServerMessage *msg, gpointer user_data)
{
  Stream *stream = user_data;
  (void) msg;
  stream->console->streams = g_list_remove (stream->console->streams, stream);
  stream_free (stream);
}

/* Every KEEPALIVE_S: a comment line keeps proxies and the browser from
 * timing out, and a stream whose session ended or expired is closed. */
static gboolean
on_keepalive (gpointer user_data)
{
  PanelConsole *self = user_data;
  gint64 now = g_get_real_time ();

  for (GList *l = self->streams; l != NULL;)
    {
      Stream *stream = l->data;
      g_autoptr (sqlite3_stmt) stmt = NULL;
      gboolean live = TRUE;

      l = l->next;
      /* The expiry is read each time: a renewed session goes on. */
      stmt = ansim_db_prepare (self->db,
        "SELECT 1 FROM sessions s JOIN users u ON u.name = s.user_name"
        " WHERE s.token_sha256 = ?1 AND s.ended_at_us IS NULL AND u.disabled_at_us IS NULL"
        " AND s.expires_at_us > ?2", NULL);
      if (stmt != NULL)
        {
          sqlite3_bind_text (stmt, 1, stream->token_sha256, -1, SQLITE_STATIC);
          sqlite3_bind_int64 (stmt, 2, now);
          live = sqlite3_step (stmt) == SQLITE_ROW;
        }
      if (live)
        stream_write (stream, ": keep-alive\n\n");
      else
        {
          stream_write (stream, "event: session-ended\ndata: {}\n\n");
          stream_close (stream);
        }
    }
  return G_SOURCE_CONTINUE;
}

static void
handle_stream (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
               gpointer user_data)
{
  PanelConsole *self = user_data;
  g_autoptr (PanelSession) session = NULL;
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  Stream *stream;

  (void) server;
  (void) path;
  (void) query;
  if (!require_method (msg, "GET"))
    return;
  session = panel_console_authorize (self, msg, STREAM_ROLES);
  if (session == NULL)
    return;
  if (g_list_length (self->streams) >= MAX_STREAMS)
    {
      soup_message_headers_replace (h, "Retry-After", "10");
      panel_console_send_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "busy",
                                "too many open consoles");
      return;
    }
  stream = g_new0 (Stream, 1);
  stream->console = self;
  stream->msg = g_object_ref (msg);
  stream->token_sha256 = g_strdup (session->token_sha256);
  stream->alerts_only = (session->role & ALERTS_ONLY_ROLES) != 0;
  self->streams = g_list_prepend (self->streams, stream);
  g_signal_connect (msg, "finished", G_CALLBACK (on_stream_gone), stream);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_stream_gone), stream);

  soup_message_headers_set_encoding (h, SOUP_ENCODING_CHUNKED);
  soup_message_headers_set_content_type (h, "text/event-stream", NULL);
  /* Sent bytes are not kept: a stream may stay open all day. */
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  stream_write (stream, "retry: 2000\n: connected\n\n");
}

void
panel_console_publish (PanelConsole *self, const char *event, JsonNode *data)
{
  g_autofree char *json = json_to_string (data, FALSE);
  g_autofree char *text = NULL;

  g_return_if_fail (self != NULL);
  g_return_if_fail (event != NULL && strpbrk (event, "\r\n") == NULL);

  /* json_to_string never emits raw newlines in compact form, so the data
   * fits one "data:" line. */
  text = g_strdup_printf ("id: %" G_GINT64_FORMAT "\nevent: %s\ndata: %s\n\n",
                          ++self->next_event_id, event, json);
  for (GList *l = self->streams; l != NULL; l = l->next)
    {
      Stream *stream = l->data;
      if (!stream->alerts_only || g_str_equal (event, "escalated"))
        stream_write (stream, text);
    }
}

/* A session that ended here (logout) ends its streams now, not at the
 * next keep-alive: its consoles say at once that they get no alerts. */
static void
end_streams (PanelConsole *self, const char *token_sha256)
{
  for (GList *l = self->streams; l != NULL;)
    {
      Stream *stream = l->data;
      l = l->next;
      if (g_str_equal (stream->token_sha256, token_sha256))
        {
          stream_write (stream, "event: session-ended\ndata: {}\n\n");
          stream_close (stream);
        }
    }
}

guint
panel_console_n_streams (PanelConsole *self)
{
  return g_list_length (self->streams);
}

/* A test-only path (ANSIM_PANEL_TEST_PUBLISH=1 in the environment): an
 * admin posts {event, data} and it goes through panel_console_publish. */
static void
handle_test_publish (SoupServer *server, SoupServerMessage *msg, const char *path,
                     GHashTable *query, gpointer user_data)
{
  PanelConsole *self = user_data;
  g_autoptr (PanelSession) session = NULL;
  g_autoptr (JsonObject) body = NULL;
  const char *event;
  JsonNode *data;

  (void) server;
  (void) path;
  (void) query;
  if (!require_method (msg, "POST"))
    return;
  session = panel_console_authorize (self, msg, PANEL_ROLE_ADMIN);
  if (session == NULL)
    return;
  body = panel_console_read_json_object (msg);
  if (body == NULL)
    return;
  event = string_member (body, "event");
  data = json_object_get_member (body, "data");
  if (event == NULL || data == NULL || event[strspn (event, "abcdefghijklmnopqrstuvwxyz-")] != '\0')
    {
      panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                "give \"event\" (lowercase name) and \"data\"");
      return;
    }
  panel_console_publish (self, event, data);
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

/* ---- set-up ----------------------------------------------------------- */

/* Refuse big bodies on console routes once the headers are in, before
 * libsoup reads the body into memory. */
static void
early_limit (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
             gpointer user_data)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);

  (void) server;
  (void) path;
  (void) query;
  (void) user_data;
  if (soup_message_headers_get_encoding (h) == SOUP_ENCODING_CHUNKED ||
      soup_message_headers_get_content_length (h) > MAX_BODY_BYTES)
    {
      panel_console_send_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too-large",
                                "request body too large (at most 64 KiB, with Content-Length)");
    }
}

PanelConsole *
panel_console_new (SoupServer *server, sqlite3 *db, AnsimConfig *config, GError **error)
{
  PanelConsole *self = g_new0 (PanelConsole, 1);
  static const char *const api_paths[] = { "/api/login", "/api/logout", "/api/session",
                                           "/api/users", "/api/audit", "/api/events",
                                           "/api/incidents", "/api/devices", "/api/drills",
                                           "/api/reports", "/console" };

  (void) error;
  self->server = g_object_ref (server);
  self->db = db;
  self->cancellable = g_cancellable_new ();
  self->session_lifetime_us =
    ansim_config_get_int (config, "panel", "session_lifetime_s") * G_USEC_PER_SEC;
  self->throttle = panel_throttle_new (
    ansim_config_get_int (config, "panel", "login_failures_per_account"),
    ansim_config_get_int (config, "panel", "login_failures_per_address"),
    ansim_config_get_int (config, "panel", "login_lockout_s") * G_USEC_PER_SEC);
  self->test_publish = g_strcmp0 (g_getenv ("ANSIM_PANEL_TEST_PUBLISH"), "1") == 0;
  self->pending_accounts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->pending_addresses = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  panel_get_resource ();  /* registers the interface's resources */
  g_signal_connect (server, "request-started", G_CALLBACK (on_request_started), self);
  for (guint i = 0; i < G_N_ELEMENTS (api_paths); i++)
    soup_server_add_early_handler (server, api_paths[i], early_limit, self, NULL);
  soup_server_add_handler (server, "/api/login", handle_login, self, NULL);
  soup_server_add_handler (server, "/api/logout", handle_logout, self, NULL);
  soup_server_add_handler (server, "/api/session", handle_session, self, NULL);
  soup_server_add_handler (server, "/api/users", handle_users, self, NULL);
  soup_server_add_handler (server, "/api/audit", handle_audit, self, NULL);
  soup_server_add_handler (server, "/api/events/stream", handle_stream, self, NULL);
  soup_server_add_handler (server, "/console", handle_ui, self, NULL);
  if (self->test_publish)
    {
      g_warning ("ANSIM_PANEL_TEST_PUBLISH=1: the test-only path /api/test/publish is open "
                 "to admins");
      soup_server_add_handler (server, "/api/test/publish", handle_test_publish, self, NULL);
    }
  self->keepalive_id = g_timeout_add_seconds (KEEPALIVE_S, on_keepalive, self);
  return self;
}

void
panel_console_free (PanelConsole *self)
{
  if (self == NULL)
    return;
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->keepalive_id, g_source_remove);
  while (self->streams != NULL)
    stream_close (self->streams->data);
  g_signal_handlers_disconnect_by_data (self->server, self);
  g_object_unref (self->server);
  g_object_unref (self->cancellable);
  panel_throttle_free (self->throttle);
  g_hash_table_unref (self->pending_accounts);
  g_hash_table_unref (self->pending_addresses);
  g_free (self);
}
