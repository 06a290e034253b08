/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the console's HTTP side: login and logout, session
 * cookies, role and CSRF checks (which panel/http.c's dispatcher calls for
 * every console route), users and audit APIs, the role table the
 * interface follows, and the static interface from the GResource. Live
 * events are in events.c. */
#include "console.h"

#include <openssl/crypto.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "events.h"
#include "http.h"
#include "json-event.h"
#include "panel-resources.h"
#include "util.h"

#define COOKIE_NAME "ansim_session"
#define CSRF_HEADER "X-CSRF-Token"
#define AUDIT_PAGE_DEFAULT 50
#define AUDIT_PAGE_MAX 500
#define AUDIT_ROLES (PANEL_ROLE_AUDITOR | PANEL_ROLE_ADMIN)

struct _PanelConsole {
  SoupServer *server; /* a reference */
  sqlite3 *db;        /* borrowed */
  gint64 session_lifetime_us;
  PanelThrottle *throttle;
  GCancellable *cancellable; /* cancelled at free: pending password checks drop out */
  PanelHttp *http;           /* borrowed */
  PanelEvents *events;
  /* Logins being checked right now, per account name and per address:
   * the throttle only counts finished attempts, so without this bound many
   * parallel guesses could all pass its check before the first failed. */
  GHashTable *pending_accounts; /* name -> count (GUINT_TO_POINTER) */
  GHashTable *pending_addresses;
  guint pending_total;  /* each check holds 128 MiB for scrypt */
  gint64 last_check_us; /* how long the last password check took */
  /* Refused tries, summed per (account, client) into one login-throttled
   * audit entry per window (audit_window_us), so a flood of tries cannot
   * flood the log. */
  GHashTable *throttled; /* "ACCOUNT\nCLIENT" -> Throttled */
  gint64 audit_window_us;
  guint throttled_flush; /* timeout source id */
  gboolean flushing_all; /* at free: every window ends now */
  gboolean access_purpose;
  GHashTable *decoys; /* source ids (GUINT_TO_POINTER) of logins answered later */
  /* Page opens already audited: "SESSION-SHA\nINCIDENT\nVIEW". Bounded:
   * when full it is emptied, which can only add entries, never lose one. */
  GHashTable *views;
};

#define MAX_VIEWS_REMEMBERED 20000
#define MAX_THROTTLED_REMEMBERED 4096
#define MAX_PURPOSE_CHARS 500

typedef struct {
  char *account; /* a user's name, or NULL: names that are no user */
  char *client;
  guint count;
  gint64 first_us, last_us;
} Throttled;

static void
throttled_free (Throttled *t)
{
  g_free (t->account);
  g_free (t->client);
  g_free (t);
}

/* One login-throttled entry for t (outside any transaction). */
static void
throttled_write (PanelConsole *self, Throttled *t)
{
  g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *detail = NULL;

  ansim_json_builder_add_int (json, "count", t->count);
  ansim_json_builder_add_int (json, "first_at_us", t->first_us);
  ansim_json_builder_add_int (json, "last_at_us", t->last_us);
  detail = ansim_json_builder_end (json);
  if (!panel_audit_append (self->db, NULL, NULL, t->client, PANEL_AUDIT_LOGIN_THROTTLED,
                           t->account != NULL ? t->account : "(unknown user names)", detail,
                           &error))
    g_warning ("cannot write %u throttled logins of %s from %s to the audit log: %s", t->count,
               t->account != NULL ? t->account : "unknown user names", t->client, error->message);
}

static gboolean
throttled_due (gpointer key, gpointer value, gpointer user_data)
{
  PanelConsole *self = user_data;
  Throttled *t = value;

  (void) key;
  if (!self->flushing_all && t->first_us + self->audit_window_us > g_get_real_time ())
    return FALSE;
  throttled_write (self, t);
  return TRUE;
}

static gboolean
flush_throttled (gpointer user_data)
{
  PanelConsole *self = user_data;
  g_hash_table_foreach_remove (self->throttled, throttled_due, self);
  return G_SOURCE_CONTINUE;
}

/* A refused try: counted into its window's entry. */
static void
note_throttled (PanelConsole *self, const char *account, const char *client)
{
  g_autofree char *key = g_strdup_printf ("%s\n%s", account != NULL ? account : "", client);
  gint64 now = g_get_real_time ();
  Throttled *t = g_hash_table_lookup (self->throttled, key);

  if (t != NULL && t->first_us + self->audit_window_us <= now)
    {
      throttled_write (self, t);
      g_hash_table_remove (self->throttled, key);
      t = NULL;
    }
  if (t == NULL && g_hash_table_size (self->throttled) >= MAX_THROTTLED_REMEMBERED)
    {
      /* Bounded: many clients at once end their windows early (more
       * entries, never a lost count). */
      self->flushing_all = TRUE;
      flush_throttled (self);
      self->flushing_all = FALSE;
    }
  if (t == NULL)
    {
      t = g_new0 (Throttled, 1);
      t->account = g_strdup (account);
      t->client = g_strdup (client);
      t->first_us = now;
      g_hash_table_insert (self->throttled, g_steal_pointer (&key), t);
    }
  t->count++;
  t->last_us = now;
}

/* ---- sessions and checks ---------------------------------------------- */

static char *
cookie_token (SoupServerMessage *msg)
{
  const char *header =
    soup_message_headers_get_list (soup_server_message_get_request_headers (msg), "Cookie");
  GHashTable *params;
  char *token = NULL;

  if (header == NULL)
    return NULL;
  params = soup_header_parse_semi_param_list (header);
  token = g_strdup (g_hash_table_lookup (params, COOKIE_NAME));
  soup_header_free_param_list (params);
  return token;
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
  const char *given =
    soup_message_headers_get_one (soup_server_message_get_request_headers (msg), CSRF_HEADER);
  gsize len = strlen (session->csrf_token);

  return given != NULL && strlen (given) == len
         && CRYPTO_memcmp (given, session->csrf_token, len) == 0;
}

PanelSession *
panel_console_authorize (PanelConsole *self, SoupServerMessage *msg, guint roles)
{
  g_autofree char *token = cookie_token (msg);
  g_autoptr (GError) error = NULL;
  g_autoptr (PanelSession) session =
    panel_session_lookup (self->db, token, g_get_real_time (), &error);

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
      g_autofree char *text =
        g_strdup_printf ("the role %s may not use this", panel_role_to_string (session->role));
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
  g_autofree char *client = msg != NULL ? panel_http_client_address (self->http, msg) : NULL;

  return panel_audit_append (self->db, session != NULL ? session->user : NULL,
                             session != NULL ? panel_role_to_string (session->role) : NULL, client,
                             action, target, detail_json, error);
}

gboolean
panel_console_audit_or_fail (PanelConsole *self, SoupServerMessage *msg, PanelSession *session,
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

static gboolean
is_view_token (const char *s)
{
  gsize len = s != NULL ? strlen (s) : 0;
  return len >= 8 && len <= 64
         && s[strspn (s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")]
              == '\0';
}

gboolean
panel_console_audit_view (PanelConsole *self, SoupServerMessage *msg, PanelSession *session,
                          GHashTable *query, gint64 incident_id)
{
  const char *view = query != NULL ? g_hash_table_lookup (query, "view") : NULL;
  const char *purpose = query != NULL ? g_hash_table_lookup (query, "purpose") : NULL;
  g_autofree char *key = NULL;
  g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, incident_id);
  g_autofree char *detail = NULL;

  if (view != NULL && !is_view_token (view))
    {
      panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                "view must be 8 to 64 of A-Z a-z 0-9 - _");
      return FALSE;
    }
  if (view != NULL)
    {
      key =
        g_strdup_printf ("%s\n%" G_GINT64_FORMAT "\n%s", session->token_sha256, incident_id, view);
      if (g_hash_table_contains (self->views, key))
        return TRUE; /* a refresh of a page open already audited */
    }
  if (purpose != NULL)
    {
      g_autofree char *trimmed = g_strstrip (g_strdup (purpose));
      if (!g_utf8_validate (trimmed, -1, NULL) || *trimmed == '\0'
          || g_utf8_strlen (trimmed, -1) > MAX_PURPOSE_CHARS)
        {
          panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                    "purpose must be 1 to 500 characters of text");
          return FALSE;
        }
      g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
      ansim_json_builder_add_string (json, "purpose", trimmed);
      detail = ansim_json_builder_end (json);
    }
  else if (self->access_purpose)
    {
      panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "purpose-required",
                                "say why you open this incident (purpose), as the site requires");
      return FALSE;
    }
  if (!panel_console_audit_or_fail (self, msg, session, PANEL_AUDIT_INCIDENT_VIEWED, target,
                                    detail))
    return FALSE;
  if (key != NULL)
    {
      if (g_hash_table_size (self->views) >= MAX_VIEWS_REMEMBERED)
        g_hash_table_remove_all (self->views);
      g_hash_table_add (self->views, g_steal_pointer (&key));
    }
  return TRUE;
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
  if (size > PANEL_HTTP_JSON_MAX_BODY)
    {
      panel_console_send_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too-large",
                                "request body too large");
      return NULL;
    }
  if (!ansim_json_integers_fit (data, size, &error))
    {
      panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", error->message);
      return NULL;
    }
  if (!json_parser_load_from_data (parser, data != NULL ? data : "", size, &error)
      || json_parser_get_root (parser) == NULL
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
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
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static void add_role_table (PanelConsole *self, JsonBuilder *b, PanelRole role);

static void
add_session_members (PanelConsole *self, JsonBuilder *b, PanelSession *session)
{
  json_builder_set_member_name (b, "user");
  json_builder_add_string_value (b, session->user);
  json_builder_set_member_name (b, "role");
  json_builder_add_string_value (b, panel_role_to_string (session->role));
  json_builder_set_member_name (b, "csrf_token");
  json_builder_add_string_value (b, session->csrf_token);
  json_builder_set_member_name (b, "expires_at_us");
  json_builder_add_int_value (b, session->expires_at_us);
  json_builder_set_member_name (b, "access_purpose");
  json_builder_add_boolean_value (b, self->access_purpose);
  add_role_table (self, b, session->role);
}

static void
set_cookie (PanelConsole *self, SoupServerMessage *msg, const char *token, gint64 max_age_s)
{
  g_autofree char *value = g_strdup_printf (
    COOKIE_NAME "=%s; Path=/; Max-Age=%" G_GINT64_FORMAT "; HttpOnly; SameSite=Strict%s", token,
    max_age_s, panel_http_is_https (self->http, msg) ? "; Secure" : "");
  soup_message_headers_append (soup_server_message_get_response_headers (msg), "Set-Cookie", value);
}

/* ---- login ------------------------------------------------------------ */

typedef struct {
  PanelConsole *console; /* valid unless cancellable is cancelled */
  GCancellable *cancellable;
  SoupServerMessage *msg;
  char *name; /* as typed, if a valid user name; else NULL */
  char *password;
  PanelUser *user;   /* NULL: no such user (the dummy hash is checked) */
  gint64 started_us; /* when the password check started */
  char *client;
  gboolean pending; /* counted in the console's pending tables */
  char *new_hash;   /* the password hashed at today's cost, when its hash was older */
} Login;

#define MAX_PENDING_PER_ACCOUNT 1
#define MAX_PENDING_PER_ADDRESS 4
#define MAX_PENDING_TOTAL 4

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
      login->console->pending_total--;
    }
  g_object_unref (login->cancellable);
  g_object_unref (login->msg);
  g_free (login->name);
  if (login->password != NULL)
    OPENSSL_cleanse (login->password, strlen (login->password));
  g_free (login->password);
  panel_user_free (login->user);
  g_free (login->client);
  g_free (login->new_hash);
  g_free (login);
}

/* In a worker thread: scrypt takes about 0.4 s, which must not hold up
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
  /* A hash from before the cost was raised: hash again while the password
   * is at hand, so that every active account moves to the new cost. A
   * failure here only leaves the old hash. */
  if (match && login->user != NULL && panel_password_needs_rehash (login->user->password_hash))
    login->new_hash = panel_password_hash (login->password, NULL, NULL);
  g_task_return_boolean (task, match && login->user != NULL);
}

static void
login_failed (PanelConsole *self, Login *login, const char *reason)
{
  g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
  ansim_json_builder_add_string (json, "reason", reason);
  g_autofree char *detail = ansim_json_builder_end (json);

  panel_throttle_failure (self->throttle, login->user != NULL ? login->user->name : NULL,
                          login->client, g_get_real_time ());
  if (!panel_console_audit_or_fail (self, login->msg, NULL, PANEL_AUDIT_LOGIN_FAILED,
                                    login->name != NULL ? login->name : "(invalid user name)",
                                    detail))
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
  self->last_check_us = g_get_monotonic_time () - login->started_us;
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
  if (session == NULL
      || (login->new_hash != NULL
          && !panel_user_rehash (self->db, login->user->name, login->user->password_hash,
                                 login->new_hash, &error))
      || !panel_console_audit (self, login->msg, session, PANEL_AUDIT_LOGIN, NULL,
                               login->new_hash != NULL ? "{\"password_hash\":\"upgraded\"}" : NULL,
                               &error)
      || !ansim_db_commit (self->db, &error))
    {
      ansim_db_rollback (self->db);
      goto db_error;
    }
  panel_throttle_success (self->throttle, login->user->name, login->client);
  set_cookie (self, login->msg, token, self->session_lifetime_us / G_USEC_PER_SEC);
  {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    json_builder_begin_object (b);
    add_session_members (self, b, session);
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

typedef struct {
  Login *login;
  guint source;
} Decoy;

static void
decoy_free (gpointer data)
{
  Decoy *decoy = data;
  login_free (decoy->login);
  g_free (decoy);
}

static gboolean
login_decoy_done (gpointer data)
{
  Decoy *decoy = data;
  Login *login = decoy->login;

  panel_console_send_error (login->msg, SOUP_STATUS_UNAUTHORIZED, "bad-credentials",
                            "wrong user name or password");
  soup_server_message_unpause (login->msg);
  g_hash_table_remove (login->console->decoys, GUINT_TO_POINTER (decoy->source));
  return G_SOURCE_REMOVE;
}

/* Answers login (taken) as a wrong password once as long as the last real
 * check took has passed. The console removes what is still waiting when
 * it goes. */
static void
login_decoy (PanelConsole *self, Login *login)
{
  gint64 delay_ms = CLAMP (self->last_check_us / 1000, 50, 2000);
  Decoy *decoy = g_new0 (Decoy, 1);

  decoy->login = login;
  soup_server_message_pause (login->msg);
  decoy->source =
    g_timeout_add_full (G_PRIORITY_DEFAULT, delay_ms, login_decoy_done, decoy, decoy_free);
  g_hash_table_add (self->decoys, GUINT_TO_POINTER (decoy->source));
}

static void
remove_decoy (gpointer key, gpointer value, gpointer user_data)
{
  (void) value;
  (void) user_data;
  g_source_remove (GPOINTER_TO_UINT (key));
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
handle_login (PanelHttpRequest *req)
{
  PanelConsole *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  g_autoptr (JsonObject) body = NULL;
  g_autoptr (GError) error = NULL;
  const char *name, *password;
  Login *login;
  gint64 wait_us;
  gboolean busy;

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
  login->client = panel_http_client_address (self->http, msg);
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

  wait_us = panel_throttle_check (
    self->throttle, login->user != NULL ? login->user->name : NULL, login->client,
    login->user != NULL ? login->user->login_unlocked_at_us : 0, g_get_real_time ());
  if (wait_us > 0 && login->user == NULL)
    {
      /* Names that are no user, past this client's budget: answered as a
       * wrong password after as long as a check takes, without the check,
       * so the answer tells nothing about which names exist. */
      note_throttled (self, NULL, login->client);
      login_decoy (self, login);
      return;
    }
  /* Another attempt for the same name (or too many from the address, or
   * too many in all) is still being checked: try again in a second. */
  busy = wait_us == 0
         && (pending_get (self->pending_accounts, login->name) >= MAX_PENDING_PER_ACCOUNT
             || pending_get (self->pending_addresses, login->client) >= MAX_PENDING_PER_ADDRESS
             || self->pending_total >= MAX_PENDING_TOTAL);
  if (busy)
    wait_us = 1;
  if (wait_us > 0)
    {
      gint64 wait_s = (wait_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
      g_autofree char *retry = g_strdup_printf ("%" G_GINT64_FORMAT, wait_s);
      g_autofree char *text =
        g_strdup_printf ("too many failed logins; try again in %" G_GINT64_FORMAT " s", wait_s);
      g_autoptr (JsonBuilder) b = json_builder_new ();

      note_throttled (self, login->user != NULL ? login->user->name : NULL, login->client);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After",
                                    retry);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "error");
      json_builder_add_string_value (b, "throttled");
      json_builder_set_member_name (b, "message");
      json_builder_add_string_value (b, text);
      json_builder_set_member_name (b, "retry_after_s");
      json_builder_add_int_value (b, wait_s);
      json_builder_end_object (b);
      panel_console_send_json (msg, 429, b);
      /* libsoup 3.2 has no phrase of its own for 429. */
      soup_server_message_set_status (msg, 429, "Too Many Requests");
      login_free (login);
      return;
    }
  login->pending = TRUE;
  pending_add (self->pending_accounts, login->name, 1);
  pending_add (self->pending_addresses, login->client, 1);
  self->pending_total++;
  login->started_us = g_get_monotonic_time ();
  soup_server_message_pause (msg);
  {
    g_autoptr (GTask) task = g_task_new (NULL, NULL, login_verified, login);
    g_task_set_task_data (task, login, NULL);
    g_task_run_in_thread (task, login_verify_thread);
  }
}

static void
handle_logout (PanelHttpRequest *req)
{
  PanelConsole *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  PanelSession *session = req->session;
  g_autoptr (GError) error = NULL;

  if (!ansim_db_begin (self->db, &error)
      || !panel_session_end (self->db, session->token_sha256, g_get_real_time (), &error)
      || !panel_console_audit (self, msg, session, PANEL_AUDIT_LOGOUT, NULL, NULL, &error)
      || !ansim_db_commit (self->db, &error))
    {
      ansim_db_rollback (self->db);
      g_warning ("logout: %s", error->message);
      panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                "the panel cannot write its database");
      return;
    }
  panel_events_end_session (self->events, session->token_sha256);
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
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "UPDATE sessions SET expires_at_us = ?2 WHERE token_sha256 = ?1 AND ended_at_us IS NULL",
    &error);
  if (stmt == NULL || !ansim_db_begin (self->db, &error))
    return panel_http_send_db_error (msg, self->db, "renewing the session"), FALSE;
  sqlite3_bind_text (stmt, 1, session->token_sha256, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, expires);
  if (sqlite3_step (stmt) != SQLITE_DONE
      || !panel_console_audit (self, msg, session, PANEL_AUDIT_SESSION_RENEWED, NULL, NULL, &error)
      || !ansim_db_commit (self->db, &error))
    {
      ansim_db_rollback (self->db);
      return panel_http_send_db_error (msg, self->db, "renewing the session"), FALSE;
    }
  session->expires_at_us = expires;
  set_cookie (self, msg, token, self->session_lifetime_us / G_USEC_PER_SEC);
  return TRUE;
}

static void
handle_session (PanelHttpRequest *req)
{
  PanelConsole *self = req->user_data;
  g_autoptr (JsonBuilder) b = json_builder_new ();

  if (g_str_equal (req->method, "POST") && !renew_session (self, req->msg, req->session))
    return;
  json_builder_begin_object (b);
  add_session_members (self, b, req->session);
  json_builder_end_object (b);
  panel_console_send_json (req->msg, SOUP_STATUS_OK, b);
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
      case PANEL_AUTH_ERROR_INVALID:
        status = SOUP_STATUS_BAD_REQUEST;
        code = "bad-request";
        break;
      case PANEL_AUTH_ERROR_EXISTS:
        status = SOUP_STATUS_CONFLICT;
        code = "exists";
        break;
      case PANEL_AUTH_ERROR_NOT_FOUND:
        status = SOUP_STATUS_NOT_FOUND;
        code = "not-found";
        break;
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
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db, "SELECT name, role, created_at_us, disabled_at_us FROM users ORDER BY name", &error);
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
handle_users (PanelHttpRequest *req)
{
  PanelConsole *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  PanelSession *session = req->session;
  g_autoptr (JsonObject) body = NULL;
  g_autoptr (GError) error = NULL;
  const char *name = NULL;
  g_autofree char *actor = NULL;
  const char *actor_role;
  g_autofree char *client = panel_http_client_address (self->http, msg);

  if (req->n_params == 1)
    {
      name = req->params[0];
      if (!panel_user_name_is_valid (name))
        {
          panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such user");
          return;
        }
    }
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

    if ((disabled != NULL && json_node_get_value_type (disabled) != G_TYPE_BOOLEAN)
        || (json_object_has_member (body, "role") && !panel_role_from_string (role_name, &role))
        || (json_object_has_member (body, "password") && password == NULL)
        || (disabled == NULL && role_name == NULL && password == NULL))
      {
        panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                  "give any of \"role\" (a role name), \"disabled\" (true or "
                                  "false), \"password\" (a string)");
        return;
      }
    if ((role_name != NULL
         && !panel_user_set_role (self->db, name, role, actor, actor_role, client, &error))
        || (password != NULL
            && !panel_user_set_password (self->db, name, password, actor, actor_role, client,
                                         &error))
        || (disabled != NULL
            && !panel_user_set_disabled (self->db, name, json_node_get_boolean (disabled), actor,
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
      g_autofree char *message = g_strdup_printf (
        "%s must be a whole number from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, name, min, max);
      panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", message);
      return FALSE;
    }
  return TRUE;
}

/* A text parameter of at most max_len bytes; NULL when absent or empty. */
static gboolean
parse_text_param (GHashTable *query, const char *name, gsize max_len, const char **value,
                  SoupServerMessage *msg)
{
  const char *text = query != NULL ? g_hash_table_lookup (query, name) : NULL;

  if (text == NULL || *text == '\0')
    return TRUE;
  if (strlen (text) > max_len || !g_utf8_validate (text, -1, NULL))
    {
      g_autofree char *message =
        g_strdup_printf ("%s must be UTF-8 text of at most %zu bytes", name, max_len);
      panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", message);
      return FALSE;
    }
  *value = text;
  return TRUE;
}

/* GET /api/audit/export: the log up to the export's own entry, written a
 * batch of entries at a time as the previous one leaves (chunked), so the
 * panel never holds the whole log in memory. */
#define AUDIT_EXPORT_BATCH 256

typedef struct {
  sqlite3 *db; /* borrowed; the console outlives its requests */
  gint64 last_id, until_id;
} AuditExport;

static void
audit_export_next (SoupServerMessage *msg, gpointer data)
{
  AuditExport *x = data;
  SoupMessageBody *body = soup_server_message_get_response_body (msg);
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  gint64 next = x->last_id;
  gsize len;

  if (x->last_id >= x->until_id)
    {
      soup_message_body_complete (body);
      return;
    }
  if (!panel_audit_export_batch (x->db, x->last_id, x->until_id, AUDIT_EXPORT_BATCH, out, &next,
                                 &error))
    {
      /* The headers are out: cut the answer short, which the client sees
       * as a chunked body without its end. */
      GSocket *socket = soup_server_message_get_socket (msg);
      g_warning ("audit export: %s; the download is cut short", error->message);
      if (socket != NULL)
        g_socket_shutdown (socket, FALSE, TRUE, NULL);
      soup_message_body_complete (body);
      return;
    }
  if (next == x->last_id)
    x->last_id = x->until_id; /* nothing more below until_id */
  else
    x->last_id = next;
  len = out->len;
  if (len == 0)
    {
      soup_message_body_complete (body);
      return;
    }
  soup_message_body_append (body, SOUP_MEMORY_TAKE, g_string_free (g_steal_pointer (&out), FALSE),
                            len);
}

static void
audit_export_finished (SoupServerMessage *msg, gpointer data)
{
  g_signal_handlers_disconnect_by_data (msg, data);
  g_free (data);
}

static void
audit_export_start (AuditExport *x, SoupServerMessage *msg)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);

  soup_message_headers_replace (h, "Content-Disposition",
                                "attachment; filename=\"ansim-audit.jsonl\"");
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  soup_message_headers_set_content_type (h, "application/x-ndjson", NULL);
  soup_message_headers_set_encoding (h, SOUP_ENCODING_CHUNKED);
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  g_signal_connect (msg, "wrote-chunk", G_CALLBACK (audit_export_next), x);
  g_signal_connect (msg, "finished", G_CALLBACK (audit_export_finished), x);
  audit_export_next (msg, x);
}

static void
handle_audit (PanelHttpRequest *req)
{
  PanelConsole *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  PanelSession *session = req->session;
  GHashTable *query = req->query;
  const char *path = req->path;
  g_autoptr (GError) error = NULL;

  if (strcmp (path, "/api/audit") == 0)
    {
      gint64 before = 0, limit = AUDIT_PAGE_DEFAULT;
      PanelAuditFilter filter = { 0 };
      g_autoptr (JsonNode) entries = NULL;
      g_autoptr (JsonBuilder) b = json_builder_new ();
      JsonArray *array;

      if (!parse_int_param (query, "before", 0, G_MAXINT64, &before, msg)
          || !parse_int_param (query, "limit", 1, AUDIT_PAGE_MAX, &limit, msg)
          || !parse_int_param (query, "incident", 1, G_MAXINT64, &filter.incident_id, msg)
          || !parse_int_param (query, "from_us", 0, G_MAXINT64, &filter.from_us, msg)
          || !parse_int_param (query, "to_us", 0, G_MAXINT64, &filter.to_us, msg)
          || !parse_text_param (query, "user", 128, &filter.actor, msg)
          || !parse_text_param (query, "action", 64, &filter.action, msg))
        return;
      entries = panel_audit_list (self->db, before, limit, &filter, &error);
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
        json_builder_add_int_value (
          b, json_object_get_int_member (
               json_array_get_object_element (array, json_array_get_length (array) - 1), "id"));
      else
        json_builder_add_null_value (b);
      json_builder_end_object (b);
      panel_console_send_json (msg, SOUP_STATUS_OK, b);
    }
  else if (strcmp (path, "/api/audit/export") == 0)
    {
      AuditExport *x;

      /* The export is itself an entry, so it is part of what it exports. */
      if (!panel_console_audit_or_fail (self, msg, session, PANEL_AUDIT_AUDIT_EXPORTED, "audit log",
                                        NULL))
        return;
      x = g_new0 (AuditExport, 1);
      x->db = self->db;
      if (!panel_audit_last_id (self->db, &x->until_id, &error))
        {
          g_free (x);
          send_auth_error (msg, error);
          return;
        }
      audit_export_start (x, msg);
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
handle_ui (PanelHttpRequest *req)
{
  SoupServerMessage *msg = req->msg;
  const char *path = req->path;
  const char *name;
  g_autofree char *resource = NULL;
  g_autoptr (GBytes) bytes = NULL;

  if (strcmp (path, "/console") == 0)
    {
      soup_server_message_set_redirect (msg, SOUP_STATUS_MOVED_PERMANENTLY, "/console/");
      return;
    }
  name = path + strlen ("/console/");
  if (*name == '\0')
    name = "index.html";
  /* Resource names are flat: no directories, no dot files, no "..". */
  if (strchr (name, '/') != NULL || name[0] == '.'
      || name[strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789-_.")] != '\0')
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
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control",
                                "no-cache");
  panel_http_send_bytes (msg, content_type_for (name), bytes);
}

/* ---- role table and set-up -------------------------------------------- */

/* The interface's pages and actions, each open to the roles of the route
 * it uses, so what the console offers cannot drift from what the server
 * allows. The first page a role may open is its start page. */
static const struct {
  const char *name;
  PanelHttpMethod method;
  const char *pattern;
} pages[] = {
  { "alerts", PANEL_HTTP_GET, "/api/incidents" },
  { "incidents", PANEL_HTTP_GET, "/api/incidents" },
  { "devices", PANEL_HTTP_GET, "/api/devices" },
  { "audit", PANEL_HTTP_GET, "/api/audit" },
  { "drills", PANEL_HTTP_GET, "/api/drills" },
  { "reports", PANEL_HTTP_GET, "/api/reports" },
  { "disclosures", PANEL_HTTP_GET, "/api/disclosures" },
  { "settings", PANEL_HTTP_GET, "/api/settings/retention" },
}, actions[] = {
  { "stream", PANEL_HTTP_GET, "/api/events/stream" },
  { "act", PANEL_HTTP_POST, "/api/incidents/{incident-id}/acknowledge" },
  { "not-a-drill", PANEL_HTTP_POST, "/api/incidents/{incident-id}/not-a-drill" },
  { "legal-hold", PANEL_HTTP_POST, "/api/incidents/{incident-id}/legal-hold" },
  { "change-retention", PANEL_HTTP_POST, "/api/settings/retention" },
  { "run-drills", PANEL_HTTP_POST, "/api/drills" },
  { "device-alerts", PANEL_HTTP_GET, "/api/devices/alerts" },
  { "acknowledge-device-alerts", PANEL_HTTP_POST, "/api/devices/alerts/{alert-id}/acknowledge" },
};

/* "pages" and "actions": the names role may use. */
static void
add_role_table (PanelConsole *self, JsonBuilder *b, PanelRole role)
{
  json_builder_set_member_name (b, "pages");
  json_builder_begin_array (b);
  for (guint i = 0; i < G_N_ELEMENTS (pages); i++)
    if (panel_http_route_roles (self->http, pages[i].method, pages[i].pattern) & role)
      json_builder_add_string_value (b, pages[i].name);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "actions");
  json_builder_begin_array (b);
  for (guint i = 0; i < G_N_ELEMENTS (actions); i++)
    if (panel_http_route_roles (self->http, actions[i].method, actions[i].pattern) & role)
      json_builder_add_string_value (b, actions[i].name);
  json_builder_end_array (b);
}

static const PanelRoute routes[] = {
  { PANEL_HTTP_POST, "/api/login", PANEL_CALLER_ANYONE, 0, 0, handle_login },
  { PANEL_HTTP_POST, "/api/logout", PANEL_CALLER_CONSOLE, PANEL_ROLES_ANY, 0, handle_logout },
  { PANEL_HTTP_GET, "/api/session", PANEL_CALLER_CONSOLE, PANEL_ROLES_ANY, 0, handle_session },
  { PANEL_HTTP_POST, "/api/session", PANEL_CALLER_CONSOLE, PANEL_ROLES_ANY, 0, handle_session },
  { PANEL_HTTP_GET | PANEL_HTTP_POST, "/api/users", PANEL_CALLER_CONSOLE, PANEL_ROLE_ADMIN, 0,
    handle_users },
  { PANEL_HTTP_POST, "/api/users/{name}", PANEL_CALLER_CONSOLE, PANEL_ROLE_ADMIN, 0, handle_users },
  { PANEL_HTTP_GET, "/api/audit", PANEL_CALLER_CONSOLE, AUDIT_ROLES, 0, handle_audit },
  { PANEL_HTTP_GET, "/api/audit/verify", PANEL_CALLER_CONSOLE, AUDIT_ROLES, 0, handle_audit },
  { PANEL_HTTP_GET, "/api/audit/export", PANEL_CALLER_CONSOLE, AUDIT_ROLES, 0, handle_audit },
  { PANEL_HTTP_GET | PANEL_HTTP_HEAD, "/console", PANEL_CALLER_ANYONE, 0, 0, handle_ui },
  { PANEL_HTTP_GET | PANEL_HTTP_HEAD, "/console/", PANEL_CALLER_ANYONE, 0, 0, handle_ui },
  { PANEL_HTTP_GET | PANEL_HTTP_HEAD, "/console/{file}", PANEL_CALLER_ANYONE, 0, 0, handle_ui },
};

PanelConsole *
panel_console_new (PanelHttp *http, SoupServer *server, sqlite3 *db, AnsimConfig *config,
                   GError **error)
{
  PanelConsole *self = g_new0 (PanelConsole, 1);

  (void) error;
  self->http = http;
  self->server = g_object_ref (server);
  self->db = db;
  self->cancellable = g_cancellable_new ();
  self->session_lifetime_us =
    ansim_config_get_int (config, "panel", "session_lifetime_s") * G_USEC_PER_SEC;
  self->throttle =
    panel_throttle_new (ansim_config_get_int (config, "panel", "login_failures_per_account"),
                        ansim_config_get_int (config, "panel", "login_failures_per_address"),
                        ansim_config_get_int (config, "panel", "login_lockout_s") * G_USEC_PER_SEC);
  self->pending_accounts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->pending_addresses = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->last_check_us = 300 * 1000;
  self->throttled =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) throttled_free);
  self->audit_window_us =
    ansim_config_get_int (config, "panel", "login_audit_window_s") * G_USEC_PER_SEC;
  self->throttled_flush = g_timeout_add_seconds (
    ansim_config_get_int (config, "panel", "login_audit_window_s"), flush_throttled, self);
  self->access_purpose = ansim_config_get_bool (config, "panel", "access_purpose");
  self->views = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->decoys = g_hash_table_new (NULL, NULL);

  panel_get_resource (); /* registers the interface's resources */
  panel_http_add_routes (http, routes, G_N_ELEMENTS (routes), self);
  panel_http_set_console (http, self);
  self->events = panel_events_new (http, db);
  return self;
}

void
panel_console_publish (PanelConsole *self, const char *event, JsonNode *data)
{
  g_return_if_fail (self != NULL);
  panel_events_publish (self->events, event, data);
}

guint
panel_console_n_streams (PanelConsole *self)
{
  return panel_events_n_streams (self->events);
}

void
panel_console_free (PanelConsole *self)
{
  if (self == NULL)
    return;
  g_cancellable_cancel (self->cancellable);
  /* What was refused so far is written before the panel goes. */
  self->flushing_all = TRUE;
  flush_throttled (self);
  g_clear_handle_id (&self->throttled_flush, g_source_remove);
  g_hash_table_unref (self->throttled);
  g_hash_table_unref (self->views);
  g_hash_table_foreach (self->decoys, remove_decoy, NULL);
  g_hash_table_unref (self->decoys);
  g_clear_pointer (&self->events, panel_events_free);
  panel_http_set_console (self->http, NULL);
  g_object_unref (self->server);
  g_object_unref (self->cancellable);
  panel_throttle_free (self->throttle);
  g_hash_table_unref (self->pending_accounts);
  g_hash_table_unref (self->pending_addresses);
  g_free (self);
}
