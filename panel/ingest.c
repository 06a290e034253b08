/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file does one thing: it is the panel's device API, everything a
 * desk board asks of the panel: request authentication (RFC 9421 subset,
 * nonce cache), enrollment, and the ingest of alerts, events, manifests
 * and segments into the incident log and the store. */
#include "ingest.h"

#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/random.h>

#include "channel-db.h"
#include "checkpoint.h"
#include "db.h"
#include "audit.h"
#include "auth.h"
#include "drill-db.h"
#include "evidence.h"
#include "httpsig.h"
#include "json-event.h"
#include "notes.h"
#include "policy.h"
#include "segments.h"
#include "util.h"

/* Failed enrollments from one client before it waits (1 s, doubling, at
 * most ENROLL_MAX_DELAY_S) between tries: codes are 80 bits, but guessing
 * must still be slow and seen. */
#define ENROLL_FREE_FAILURES 5
#define ENROLL_MAX_DELAY_S 300

/* Alerts, events, heartbeats and enrollments are small; only manifests
 * and segments may use max_body_size. */
#define PANEL_MAX_JSON_BODY (64 * 1024)

struct _PanelIngest {
  sqlite3 *db;
  PanelStore *store;
  gsize max_body_size;
  gint64 clock_skew_s;
  char *site_name;
  gint64 nonces_purged_at_us;
  PanelIngestNotify notify;
  gpointer notify_data;
  PanelIngestOnAlert on_alert;
  gpointer on_alert_data;
  /* Enrollment tries per client: growing waits after failed ones, and the
   * tries refused meanwhile, written as one audit entry when the wait ends. */
  PanelThrottle *enroll_throttle;
  GHashTable *enroll_refused;        /* client -> count (GUINT_TO_POINTER) */
  const AnsimDeviceKey *signing_key; /* may be NULL */
};

/* The authenticated sender of a request. */
typedef struct {
  char *id;
  char *desk_id;
  char *fingerprint;
  AnsimDeviceKey *key;
} Device;

static void
device_clear (Device *d)
{
  g_free (d->id);
  g_free (d->desk_id);
  g_free (d->fingerprint);
  ansim_device_key_free (d->key);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Device, device_clear)

/* A handler's answer. */
typedef struct {
  guint status;
  JsonBuilder *b;   /* an open object */
  const char *code; /* a refusal's error code (a literal), else NULL */
} Reply;

static void write_enroll_refused (PanelIngest *self, const char *client);

PanelIngest *
panel_ingest_new (sqlite3 *db, PanelStore *store, const PanelIngestOptions *options)
{
  PanelIngest *self = g_new0 (PanelIngest, 1);
  self->db = db;
  self->store = store;
  self->max_body_size = options->max_body_size;
  self->clock_skew_s = options->clock_skew_s;
  self->site_name = g_strdup (options->site_name != NULL ? options->site_name : "");
  self->notify = options->notify;
  self->notify_data = options->notify_data;
  self->on_alert = options->on_alert;
  self->on_alert_data = options->on_alert_data;
  self->enroll_throttle =
    panel_throttle_new (ENROLL_FREE_FAILURES, 1, ENROLL_MAX_DELAY_S * G_USEC_PER_SEC);
  self->enroll_refused = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->signing_key = options->signing_key;
  return self;
}

void
panel_ingest_free (PanelIngest *self)
{
  if (self == NULL)
    return;
  g_free (self->site_name);
  /* Refused enrollments not yet written: written before the panel goes. */
  {
    g_autoptr (GPtrArray) clients = g_ptr_array_new_with_free_func (g_free);
    GHashTableIter iter;
    gpointer client;
    g_hash_table_iter_init (&iter, self->enroll_refused);
    while (g_hash_table_iter_next (&iter, &client, NULL))
      g_ptr_array_add (clients, g_strdup (client));
    for (guint i = 0; i < clients->len; i++)
      write_enroll_refused (self, clients->pdata[i]);
  }
  panel_throttle_free (self->enroll_throttle);
  g_hash_table_unref (self->enroll_refused);
  g_free (self);
}

gboolean
panel_ingest_owns_path (const char *path)
{
  return path != NULL && g_str_has_prefix (path, PANEL_API_PREFIX);
}

/* Inside the alert's transaction (the webhooks' outbox rows). */
static gboolean
queue_alert_webhooks (PanelIngest *self, gint64 incident_id, GError **error)
{
  return self->on_alert == NULL
         || self->on_alert (self->on_alert_data, self->db, incident_id, error);
}

static void
tell (PanelIngest *self, PanelIngestNews news, gint64 incident_id, gint64 number)
{
  if (self->notify != NULL)
    self->notify (self->notify_data, news, incident_id, number);
}

/* ---- answers --------------------------------------------------------------- */

static void reply_error (Reply *r, guint status, const char *code, const char *format, ...)
  G_GNUC_PRINTF (4, 5);

static void
reply_error (Reply *r, guint status, const char *code, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *message = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_clear_object (&r->b);
  r->b = json_builder_new ();
  json_builder_begin_object (r->b);
  json_builder_set_member_name (r->b, "error");
  json_builder_add_string_value (r->b, code);
  json_builder_set_member_name (r->b, "message");
  json_builder_add_string_value (r->b, message);
  r->status = status;
  r->code = code;
}

static void
reply_ok (Reply *r, guint status, const char *result)
{
  g_clear_object (&r->b);
  r->b = json_builder_new ();
  json_builder_begin_object (r->b);
  json_builder_set_member_name (r->b, "result");
  json_builder_add_string_value (r->b, result);
  r->status = status;
}

static void
add_string (Reply *r, const char *name, const char *value)
{
  json_builder_set_member_name (r->b, name);
  if (value != NULL)
    json_builder_add_string_value (r->b, value);
  else
    json_builder_add_null_value (r->b);
}

static void
add_int (Reply *r, const char *name, gint64 value)
{
  json_builder_set_member_name (r->b, name);
  json_builder_add_int_value (r->b, value);
}

static void
reply_db_error (Reply *r, sqlite3 *db, const char *what)
{
  int code = sqlite3_errcode (db);
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_FULL || code == SQLITE_IOERR)
    reply_error (r, 503, "database-unavailable", "%s: %s", what, sqlite3_errmsg (db));
  else
    reply_error (r, 500, "database-error", "%s: %s", what, sqlite3_errmsg (db));
}

static void
reply_store_error (Reply *r, const GError *error)
{
  if (g_error_matches (error, PANEL_STORE_ERROR, PANEL_STORE_ERROR_FULL))
    reply_error (r, 507, "store-full", "the evidence store is full: %s", error->message);
  else if (g_error_matches (error, PANEL_STORE_ERROR, PANEL_STORE_ERROR_UNAVAILABLE))
    reply_error (r, 503, "store-unavailable", "the evidence store is unavailable: %s",
                 error->message);
  else if (g_error_matches (error, PANEL_STORE_ERROR, PANEL_STORE_ERROR_CONFLICT))
    reply_error (r, 409, "conflict", "%s", error->message);
  else
    reply_error (r, 500, "store-error", "%s", error->message);
}

/* ---- ids and bodies ------------------------------------------------------- */

/* A decimal without sign or leading zeros, at most 12 digits. */
static gboolean
parse_index (const char *s, gint64 *out)
{
  gsize len = strlen (s);
  if (len == 0 || len > 12 || (len > 1 && s[0] == '0'))
    return FALSE;
  gint64 v = 0;
  for (const char *c = s; *c; c++)
    {
      if (!g_ascii_isdigit (*c))
        return FALSE;
      v = v * 10 + (*c - '0');
    }
  *out = v;
  return TRUE;
}

/* The body as a JSON object whose members are all in allowed. */
static JsonObject *
body_object (Reply *r, GBytes *body, const char *const *allowed)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) error = NULL;
  gsize len = 0;
  const char *data = g_bytes_get_data (body, &len);
  if (len > PANEL_MAX_JSON_BODY)
    {
      reply_error (r, 413, "too-large", "a JSON body is at most %d bytes", PANEL_MAX_JSON_BODY);
      return NULL;
    }
  if (len == 0 || !g_utf8_validate (data, len, NULL)
      || !json_parser_load_from_data (parser, data, len, &error))
    {
      reply_error (r, 400, "bad-request", "the body is not JSON%s%s", error ? ": " : "",
                   error ? error->message : "");
      return NULL;
    }
  if (!ansim_json_integers_fit (data, len, &error))
    {
      reply_error (r, 400, "bad-request", "%s", error->message);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      reply_error (r, 400, "bad-request", "the body is not a JSON object");
      return NULL;
    }
  JsonObject *o = json_node_get_object (root);
  g_autoptr (GList) members = json_object_get_members (o);
  for (GList *l = members; l != NULL; l = l->next)
    if (!g_strv_contains (allowed, l->data))
      {
        reply_error (r, 400, "bad-request", "unknown member '%.64s'", (const char *) l->data);
        return NULL;
      }
  return json_object_ref (o);
}

static const char *
get_string (Reply *r, JsonObject *o, const char *name, gboolean required, gsize max_len)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    {
      if (required)
        reply_error (r, 400, "bad-request", "member '%s' is missing", name);
      return NULL;
    }
  if (json_node_get_value_type (n) != G_TYPE_STRING || strlen (json_node_get_string (n)) > max_len)
    {
      reply_error (r, 400, "bad-request", "member '%s' must be a string of at most %zu bytes", name,
                   max_len);
      return NULL;
    }
  return json_node_get_string (n);
}

static gboolean
get_int (Reply *r, JsonObject *o, const char *name, gint64 *out)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || json_node_get_node_type (n) != JSON_NODE_VALUE
      || json_node_get_value_type (n) != G_TYPE_INT64)
    {
      reply_error (r, 400, "bad-request", "member '%s' must be an integer", name);
      return FALSE;
    }
  *out = json_node_get_int (n);
  return TRUE;
}

/* ---- authentication ------------------------------------------------------- */

static gboolean
load_device (PanelIngest *self, Reply *r, const char *fingerprint, Device *out,
             gint64 *out_revoked_at_us)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db, "SELECT id, desk_id, public_key, revoked_at_us FROM devices WHERE fingerprint = ?1",
    &error);
  if (stmt == NULL)
    return reply_db_error (r, self->db, "looking up the device"), FALSE;
  sqlite3_bind_text (stmt, 1, fingerprint, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE)
    {
      reply_error (r, 401, "unknown-device", "no device enrolled with key %s", fingerprint);
      return FALSE;
    }
  if (rc != SQLITE_ROW)
    return reply_db_error (r, self->db, "looking up the device"), FALSE;
  out->id = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  out->desk_id = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  out->fingerprint = g_strdup (fingerprint);
  out->key = ansim_device_key_new_public_from_raw (sqlite3_column_blob (stmt, 2), out->id, &error);
  if (out->key == NULL)
    {
      reply_error (r, 500, "database-error", "device %s: %s", out->id, error->message);
      return FALSE;
    }
  *out_revoked_at_us =
    sqlite3_column_type (stmt, 3) == SQLITE_NULL ? 0 : sqlite3_column_int64 (stmt, 3);
  return TRUE;
}

/* Remembers the nonce; FALSE (409) if the device used it before. */
static gboolean
insert_nonce (PanelIngest *self, Reply *r, const char *device_id, const char *nonce)
{
  gint64 now = g_get_real_time ();
  g_autoptr (GError) error = NULL;
  if (now - self->nonces_purged_at_us > 60 * G_USEC_PER_SEC)
    {
      /* A nonce outlives every request that could still carry it: a
       * request is accepted while |now - created| <= skew. */
      g_autoptr (sqlite3_stmt) purge =
        ansim_db_prepare (self->db, "DELETE FROM request_nonces WHERE seen_at_us < ?1", &error);
      if (purge != NULL)
        {
          sqlite3_bind_int64 (purge, 1,
                              now - 2 * self->clock_skew_s * G_USEC_PER_SEC - 60 * G_USEC_PER_SEC);
          if (sqlite3_step (purge) == SQLITE_DONE)
            self->nonces_purged_at_us = now;
        }
    }
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "INSERT INTO request_nonces (device_id, nonce, seen_at_us) VALUES (?1, ?2, ?3) "
    "ON CONFLICT DO NOTHING",
    &error);
  if (stmt == NULL)
    return reply_db_error (r, self->db, "recording the nonce"), FALSE;
  sqlite3_bind_text (stmt, 1, device_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, nonce, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, now);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return reply_db_error (r, self->db, "recording the nonce"), FALSE;
  if (sqlite3_changes (self->db) == 0)
    {
      reply_error (r, 409, "replayed", "nonce %s was already used by device %s", nonce, device_id);
      return FALSE;
    }
  return TRUE;
}

/* The nonce is committed without a disk flush of its own, which took one
 * of the two fsyncs off every alert's way: a request that goes on to
 * write commits with synchronous = FULL, and that flush of the WAL covers
 * the nonce written before it; one that writes nothing changed nothing,
 * so a replay after a power cut could only get the same answer again. */
static gboolean
record_nonce (PanelIngest *self, Reply *r, const char *device_id, const char *nonce)
{
  if (sqlite3_exec (self->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK)
    g_debug ("nonce: %s; committed with a flush", sqlite3_errmsg (self->db));
  gboolean ok = insert_nonce (self, r, device_id, nonce);
  if (sqlite3_exec (self->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK)
    g_warning ("cannot set synchronous = FULL again: %s", sqlite3_errmsg (self->db));
  return ok;
}

/* A refusal for time carries the panel's clock to the microsecond, so a
 * desk whose clock is off learns the offset from it and signs again at
 * once (docs/protocol.md, "Clocks"). */
static gboolean
check_created (PanelIngest *self, Reply *r, gint64 created)
{
  gint64 now_us = g_get_real_time ();
  gint64 now_s = now_us / G_USEC_PER_SEC;
  if (created < now_s - self->clock_skew_s || created > now_s + self->clock_skew_s)
    {
      reply_error (r, 401, "stale",
                   "the request was signed at %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                   " s from the panel's clock (at most %" G_GINT64_FORMAT " s allowed)",
                   created, created - now_s, self->clock_skew_s);
      add_int (r, "panel_time_us", now_us);
      add_int (r, "max_skew_s", self->clock_skew_s);
      return FALSE;
    }
  return TRUE;
}

/* Parses the signature headers and checks the body's digest. */
static AnsimHttpsig *
parse_signed (Reply *r, const PanelRequest *req, const guint8 body_sha[32])
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimHttpsig) sig = ansim_httpsig_parse (req->signature_input, req->signature, &error);
  if (sig == NULL)
    {
      if (g_error_matches (error, ANSIM_HTTPSIG_ERROR, ANSIM_HTTPSIG_ERROR_MISSING))
        reply_error (r, 401, "unsigned", "%s", error->message);
      else
        reply_error (r, 400, "bad-signature-header", "%s", error->message);
      return NULL;
    }
  if (!ansim_httpsig_check_content_digest_for (req->content_digest, body_sha, &error))
    {
      reply_error (
        r, g_error_matches (error, ANSIM_HTTPSIG_ERROR, ANSIM_HTTPSIG_ERROR_MISSING) ? 401 : 400,
        g_error_matches (error, ANSIM_HTTPSIG_ERROR, ANSIM_HTTPSIG_ERROR_DIGEST) ? "digest-mismatch"
                                                                                 : "unsigned",
        "%s", error->message);
      return NULL;
    }
  return g_steal_pointer (&sig);
}

/* Everything a device request must pass before its handler runs. */
static gboolean
authenticate (PanelIngest *self, Reply *r, const PanelRequest *req, const guint8 body_sha[32],
              Device *out)
{
  g_autoptr (AnsimHttpsig) sig = parse_signed (r, req, body_sha);
  if (sig == NULL)
    return FALSE;
  gint64 revoked_at_us = 0;
  if (!load_device (self, r, sig->keyid, out, &revoked_at_us))
    return FALSE;
  g_autoptr (GError) error = NULL;
  if (!ansim_httpsig_verify (sig, out->key, req->method, req->path, req->content_digest, &error))
    {
      reply_error (r, 401, "bad-signature", "%s", error->message);
      return FALSE;
    }
  if (revoked_at_us != 0)
    {
      reply_error (r, 403, "revoked", "device %s was revoked", out->id);
      return FALSE;
    }
  return check_created (self, r, sig->created) && record_nonce (self, r, out->id, sig->nonce);
}

/* ---- enrollment ----------------------------------------------------------- */

static char *
code_sha256 (const char *code)
{
  g_autofree char *upper = g_ascii_strup (code, -1);
  return ansim_hash_sha256_hex_dup (upper, strlen (upper));
}

char *
panel_enrollment_code_new (sqlite3 *db, const char *device_id, const char *desk_id, gint64 valid_s,
                           const char *actor, GError **error)
{
  /* 16 symbols of a 32-letter alphabet without 0/O, 1/I: 80 bits. */
  static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  g_autoptr (GString) code = g_string_new (NULL);
  guint8 raw[16];
  if (!ansim_is_name (device_id) || (desk_id != NULL && !ansim_is_name (desk_id)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "device and desk ids are 1 to 64 of A-Z a-z 0-9 . _ -");
      return NULL;
    }
  if (getrandom (raw, sizeof raw, 0) != sizeof raw)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot get random bytes");
      return NULL;
    }
  for (guint i = 0; i < sizeof raw; i++)
    {
      if (i > 0 && i % 4 == 0)
        g_string_append_c (code, '-');
      g_string_append_c (code, alphabet[raw[i] % 32]);
    }
  g_autofree char *hash = code_sha256 (code->str);
  gint64 now = g_get_real_time ();
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db,
    "INSERT INTO enrollment_codes (code_sha256, device_id, desk_id, created_at_us, expires_at_us) "
    "VALUES (?1, ?2, ?3, ?4, ?5)",
    error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, hash, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, device_id, -1, SQLITE_STATIC);
  if (desk_id != NULL)
    sqlite3_bind_text (stmt, 3, desk_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 4, now);
  sqlite3_bind_int64 (stmt, 5, now + valid_s * G_USEC_PER_SEC);
  g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
  ansim_json_builder_add_string (json, "desk", desk_id);
  ansim_json_builder_add_int (json, "valid_s", valid_s);
  g_autofree char *detail = ansim_json_builder_end (json);
  g_autofree char *target = g_strdup_printf ("device %s", device_id);
  /* The code itself is a secret: only who made one for which device. */
  if (!ansim_db_begin (db, error))
    return NULL;
  if (sqlite3_step (stmt) != SQLITE_DONE)
    {
      ansim_db_set_error (db, error, "storing the enrollment code");
      ansim_db_rollback (db);
      return NULL;
    }
  if (!panel_audit_append (db, actor, NULL, NULL, PANEL_AUDIT_ENROLLMENT_CODE_CREATED, target,
                           detail, error)
      || !ansim_db_commit (db, error))
    {
      ansim_db_rollback (db);
      return NULL;
    }
  return g_string_free (g_steal_pointer (&code), FALSE);
}

gboolean
panel_device_revoke (sqlite3 *db, const char *device_id, const char *reason, const char *actor,
                     GError **error)
{
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (db,
                      "UPDATE devices SET revoked_at_us = ?2, revoke_reason = ?3 "
                      "WHERE id = ?1 AND revoked_at_us IS NULL",
                      error);
  g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
  g_autofree char *detail = NULL;
  g_autofree char *target = g_strdup_printf ("device %s", device_id);

  if (stmt == NULL || !ansim_db_begin (db, error))
    return FALSE;
  sqlite3_bind_text (stmt, 1, device_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, g_get_real_time ());
  sqlite3_bind_text (stmt, 3, reason, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    {
      ansim_db_set_error (db, error, "revoking the device");
      goto fail;
    }
  if (sqlite3_changes (db) == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no enrolled, unrevoked device '%s'",
                   device_id);
      goto fail;
    }
  ansim_json_builder_add_string (json, "reason", reason);
  detail = ansim_json_builder_end (json);
  if (!panel_audit_append (db, actor, NULL, NULL, PANEL_AUDIT_DEVICE_REVOKED, target, detail, error)
      || !ansim_db_commit (db, error))
    goto fail;
  return TRUE;

fail:
  ansim_db_rollback (db);
  return FALSE;
}

static gboolean
ensure_desk (PanelIngest *self, Reply *r, const char *desk_id, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (self->db,
                      "INSERT INTO desks (id, name) VALUES (?1, coalesce (?2, ?1)) "
                      "ON CONFLICT (id) DO UPDATE SET name = ?2 WHERE ?2 IS NOT NULL",
                      &error);
  if (stmt == NULL)
    return reply_db_error (r, self->db, "recording the desk"), FALSE;
  /* The desk's own name, as its alerts carry it, is what people see. */
  sqlite3_bind_text (stmt, 1, desk_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return reply_db_error (r, self->db, "recording the desk"), FALSE;
  return TRUE;
}

static void
enroll_attempt (PanelIngest *self, Reply *r, const PanelRequest *req, const guint8 body_sha[32])
{
  static const char *const members[] = { "code", "device_id", "public_key", NULL };
  g_autoptr (AnsimHttpsig) sig = parse_signed (r, req, body_sha);
  if (sig == NULL)
    return;
  g_autoptr (JsonObject) o = body_object (r, req->body, members);
  if (o == NULL)
    return;
  const char *code = get_string (r, o, "code", TRUE, 64);
  const char *pem = code ? get_string (r, o, "public_key", TRUE, 1024) : NULL;
  const char *device_id = pem ? get_string (r, o, "device_id", FALSE, 64) : NULL;
  if (code == NULL || pem == NULL || r->status != 0)
    return;
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimDeviceKey) key =
    ansim_device_key_new_public_from_pem (pem, strlen (pem), "public_key", &error);
  if (key == NULL)
    return reply_error (r, 400, "bad-request", "%s", error->message);
  /* The request is signed with the key it enrolls: proof of possession. */
  if (strcmp (sig->keyid, ansim_device_key_get_fingerprint (key)) != 0)
    return reply_error (r, 401, "bad-signature", "keyid is not the enrolled key's fingerprint");
  if (!ansim_httpsig_verify (sig, key, req->method, req->path, req->content_digest, &error))
    return reply_error (r, 401, "bad-signature", "%s", error->message);
  if (!check_created (self, r, sig->created))
    return;

  g_autofree char *hash = code_sha256 (code);
  g_autofree char *code_device = NULL;
  g_autofree char *desk_id = NULL;
  g_autoptr (sqlite3_stmt) find = NULL;
  g_autoptr (sqlite3_stmt) insert = NULL;
  g_autoptr (sqlite3_stmt) use = NULL;
  gint64 now = g_get_real_time ();
  guint8 raw[32];
  int rc;
  if (!ansim_db_begin (self->db, &error))
    return reply_db_error (r, self->db, "enrolling");
  find =
    ansim_db_prepare (self->db,
                      "SELECT device_id, desk_id, expires_at_us, used_at_us FROM enrollment_codes "
                      "WHERE code_sha256 = ?1",
                      &error);
  if (find == NULL)
    goto db_error;
  sqlite3_bind_text (find, 1, hash, -1, SQLITE_STATIC);
  rc = sqlite3_step (find);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    goto db_error;
  if (rc == SQLITE_DONE || sqlite3_column_type (find, 3) != SQLITE_NULL
      || sqlite3_column_int64 (find, 2) < now)
    {
      ansim_db_rollback (self->db);
      return reply_error (r, 403, "bad-code", "the enrollment code is unknown, used or expired");
    }
  code_device = g_strdup ((const char *) sqlite3_column_text (find, 0));
  desk_id = g_strdup ((const char *) sqlite3_column_text (find, 1));
  if (device_id != NULL && strcmp (device_id, code_device) != 0)
    {
      ansim_db_rollback (self->db);
      return reply_error (r, 403, "bad-code", "the code admits device '%s', not '%s'", code_device,
                          device_id);
    }
  if (desk_id != NULL && !ensure_desk (self, r, desk_id, NULL))
    {
      ansim_db_rollback (self->db);
      return;
    }
  ansim_device_key_get_public_raw (key, raw);
  insert =
    ansim_db_prepare (self->db,
                      "INSERT INTO devices (id, desk_id, public_key, fingerprint, enrolled_at_us) "
                      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                      &error);
  if (insert == NULL)
    goto db_error;
  sqlite3_bind_text (insert, 1, code_device, -1, SQLITE_STATIC);
  if (desk_id != NULL)
    sqlite3_bind_text (insert, 2, desk_id, -1, SQLITE_STATIC);
  sqlite3_bind_blob (insert, 3, raw, sizeof raw, SQLITE_STATIC);
  sqlite3_bind_text (insert, 4, ansim_device_key_get_fingerprint (key), -1, SQLITE_STATIC);
  sqlite3_bind_int64 (insert, 5, now);
  if (sqlite3_step (insert) != SQLITE_DONE)
    goto db_error;
  if (sqlite3_changes (self->db) == 0)
    {
      ansim_db_rollback (self->db);
      return reply_error (r, 409, "already-enrolled",
                          "device '%s' or this key is already enrolled; revoke and re-enroll "
                          "under a new device id",
                          code_device);
    }
  use = ansim_db_prepare (
    self->db, "UPDATE enrollment_codes SET used_at_us = ?2 WHERE code_sha256 = ?1", &error);
  if (use == NULL)
    goto db_error;
  sqlite3_bind_text (use, 1, hash, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (use, 2, now);
  if (sqlite3_step (use) != SQLITE_DONE)
    goto db_error;
  {
    g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
    ansim_json_builder_add_string (json, "desk", desk_id);
    ansim_json_builder_add_string (json, "fingerprint", ansim_device_key_get_fingerprint (key));
    g_autofree char *detail = ansim_json_builder_end (json);
    g_autofree char *who = g_strdup_printf ("device %s", code_device);
    if (!panel_audit_append (self->db, who, NULL, req->client, PANEL_AUDIT_DEVICE_ENROLLED, who,
                             detail, &error)
        || !ansim_db_commit (self->db, &error))
      goto db_error;
  }
  reply_ok (r, 201, "enrolled");
  add_string (r, "device_id", code_device);
  add_string (r, "desk_id", desk_id);
  add_string (r, "fingerprint", ansim_device_key_get_fingerprint (key));
  add_string (r, "site", self->site_name);
  return;

db_error:
  reply_db_error (r, self->db, "enrolling");
  ansim_db_rollback (self->db);
}

/* The tries refused while client waited, as one audit entry. */
static void
write_enroll_refused (PanelIngest *self, const char *client)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->enroll_refused, client));
  g_autoptr (GError) error = NULL;
  g_autofree char *detail = NULL;

  if (n == 0)
    return;
  detail = g_strdup_printf ("{\"count\":%u}", n);
  if (!panel_audit_append (self->db, NULL, NULL, client, PANEL_AUDIT_ENROLLMENT_THROTTLED,
                           "enrollment", detail, &error))
    g_warning ("cannot write %u throttled enrollments from %s to the audit log: %s", n, client,
               error->message);
  g_hash_table_remove (self->enroll_refused, client);
}

static void
handle_enroll (PanelIngest *self, Reply *r, const PanelRequest *req, const guint8 body_sha[32])
{
  const char *client = req->client != NULL ? req->client : "unknown";
  gint64 now = g_get_real_time ();
  gint64 wait_us = panel_throttle_check (self->enroll_throttle, "enroll", client, 0, now);

  if (wait_us > 0)
    {
      gint64 wait_s = (wait_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->enroll_refused, client));
      g_hash_table_insert (self->enroll_refused, g_strdup (client), GUINT_TO_POINTER (n + 1));
      reply_error (r, 429, "throttled",
                   "too many failed enrollments from %s; try again in %" G_GINT64_FORMAT " s",
                   client, wait_s);
      add_int (r, "retry_after_s", wait_s);
      return;
    }
  write_enroll_refused (self, client);
  enroll_attempt (self, r, req, body_sha);
  if (r->status == 201)
    panel_throttle_success (self->enroll_throttle, "enroll", client);
  else if (r->status >= 400 && r->status < 500)
    {
      g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
      g_autoptr (GError) error = NULL;
      ansim_json_builder_add_string (json, "reason", r->code);
      g_autofree char *detail = ansim_json_builder_end (json);

      panel_throttle_failure (self->enroll_throttle, "enroll", client, now);
      if (!panel_audit_append (self->db, NULL, NULL, client, PANEL_AUDIT_ENROLLMENT_REFUSED,
                               "enrollment", detail, &error))
        g_warning ("cannot write a refused enrollment to the audit log: %s", error->message);
    }
}

/* ---- ingest --------------------------------------------------------------- */

/* The panel's incident row of this device's incident uuid; 0 if none. */
static gint64
find_incident (PanelIngest *self, Reply *r, const Device *d, const char *uuid)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db, "SELECT id FROM incidents WHERE device_id = ?1 AND uuid = ?2", &error);
  if (stmt == NULL)
    return reply_db_error (r, self->db, "looking up the incident"), -1;
  sqlite3_bind_text (stmt, 1, d->id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return sqlite3_column_int64 (stmt, 0);
  if (rc != SQLITE_DONE)
    return reply_db_error (r, self->db, "looking up the incident"), -1;
  return 0;
}

/* What the desk wants back about an incident: its status (for the "help is
 * coming" light). */
static void
add_incident_state (PanelIngest *self, Reply *r, gint64 incident_id)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db, "SELECT status, acknowledged_at_us, alerted_at_us FROM incidents WHERE id = ?1",
    NULL);
  if (stmt == NULL)
    return;
  sqlite3_bind_int64 (stmt, 1, incident_id);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return;
  add_string (r, "status", (const char *) sqlite3_column_text (stmt, 0));
  json_builder_set_member_name (r->b, "acknowledged_at_us");
  if (sqlite3_column_type (stmt, 1) == SQLITE_NULL)
    json_builder_add_null_value (r->b);
  else
    json_builder_add_int_value (r->b, sqlite3_column_int64 (stmt, 1));
  add_int (r, "alerted_at_us", sqlite3_column_int64 (stmt, 2));
}

/* One press = one alert: a press on a desk with several sources opens one
 * incident per source, all with the press's monotonic time and trigger.
 * The new incident joins the alert of an earlier incident of the same
 * press (alert_id, the first incident's id) and takes its drill mark and
 * acknowledgement (not a resolution: it is still to be looked at, and an
 * alert resolved without acknowledgement leaves it open); otherwise it is an alert of its own. The wall clock
 * must agree too, so a desk that restarted cannot join an old alert by
 * chance. Inside the caller's transaction. Returns the alert's id, 0 on a
 * database error. */
static gint64
join_press_alert (sqlite3 *db, gint64 id, const char *source)
{
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (
    db,
    "UPDATE incidents SET source = coalesce (?2, source), alert_id = coalesce ("
    " (SELECT min (p.alert_id) FROM incidents p WHERE p.device_id = incidents.device_id"
    "  AND p.trigger = incidents.trigger AND p.opened_mono_us = incidents.opened_mono_us"
    "  AND abs (p.opened_wall_us - incidents.opened_wall_us) < 2000000 AND p.id <> incidents.id"
    "  AND p.alert_id IS NOT NULL), id) WHERE id = ?1 RETURNING alert_id",
    NULL);
  if (st == NULL)
    return 0;
  sqlite3_bind_int64 (st, 1, id);
  sqlite3_bind_text (st, 2, source, -1, SQLITE_STATIC);
  if (sqlite3_step (st) != SQLITE_ROW)
    return 0;
  gint64 alert = sqlite3_column_int64 (st, 0);
  if (sqlite3_step (st) != SQLITE_DONE)
    return 0;
  if (alert == id)
    return alert;
  g_autoptr (sqlite3_stmt) copy = ansim_db_prepare (
    db,
    "UPDATE incidents SET (is_drill, status, acknowledged_by, acknowledged_at_us, "
    "escalated_at_us) = (SELECT a.is_drill, CASE WHEN a.acknowledged_at_us IS NULL THEN 'open' "
    "ELSE 'acknowledged' END, a.acknowledged_by, a.acknowledged_at_us, a.escalated_at_us "
    "FROM incidents a WHERE a.id = ?2) WHERE id = ?1",
    NULL);
  if (copy == NULL)
    return 0;
  sqlite3_bind_int64 (copy, 1, id);
  sqlite3_bind_int64 (copy, 2, alert);
  return sqlite3_step (copy) == SQLITE_DONE ? alert : 0;
}

/* A device speaks only for the desk it was enrolled for: a request naming
 * another desk is refused 403 and audited. A device enrolled without a
 * desk is bound to the first desk it names. FALSE after replying. */
static gboolean
check_desk (PanelIngest *self, Reply *r, const PanelRequest *req, const Device *d,
            const char *desk_id, const char *what)
{
  g_autoptr (GError) error = NULL;

  if (desk_id == NULL)
    return TRUE;
  if (d->desk_id == NULL)
    {
      g_autoptr (sqlite3_stmt) bind = ansim_db_prepare (
        self->db, "UPDATE devices SET desk_id = ?2 WHERE id = ?1 AND desk_id IS NULL", &error);
      if (bind == NULL)
        return reply_db_error (r, self->db, "binding the device to its desk"), FALSE;
      sqlite3_bind_text (bind, 1, d->id, -1, SQLITE_STATIC);
      sqlite3_bind_text (bind, 2, desk_id, -1, SQLITE_STATIC);
      if (sqlite3_step (bind) != SQLITE_DONE)
        return reply_db_error (r, self->db, "binding the device to its desk"), FALSE;
      if (sqlite3_changes (self->db) > 0)
        return TRUE;
      /* Bound meanwhile by another request: check against that. */
      g_autoptr (sqlite3_stmt) read =
        ansim_db_prepare (self->db, "SELECT desk_id FROM devices WHERE id = ?1", &error);
      if (read == NULL
          || (sqlite3_bind_text (read, 1, d->id, -1, SQLITE_STATIC),
              sqlite3_step (read) != SQLITE_ROW))
        return reply_db_error (r, self->db, "reading the device's desk"), FALSE;
      if (g_strcmp0 ((const char *) sqlite3_column_text (read, 0), desk_id) == 0)
        return TRUE;
    }
  else if (strcmp (d->desk_id, desk_id) == 0)
    return TRUE;

  g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
  ansim_json_builder_add_string (json, "request", what);
  ansim_json_builder_add_string (json, "device", d->id);
  ansim_json_builder_add_string (json, "enrolled_desk", d->desk_id);
  ansim_json_builder_add_string (json, "named_desk", desk_id);
  g_autofree char *detail = ansim_json_builder_end (json);
  g_autofree char *actor = g_strdup_printf ("device %s", d->id);
  g_autofree char *target = g_strdup_printf ("desk %s", desk_id);
  if (!panel_audit_append (self->db, actor, NULL, req->client, PANEL_AUDIT_DEVICE_WRONG_DESK,
                           target, detail, &error))
    return reply_db_error (r, self->db, "writing the audit log"), FALSE;
  g_warning ("device %s (desk %s) sent %s for desk %s: refused", d->id,
             d->desk_id != NULL ? d->desk_id : "(none)", what, desk_id);
  reply_error (r, 403, "wrong-desk", "device %s serves desk %s, not %s", d->id,
               d->desk_id != NULL ? d->desk_id : "(another)", desk_id);
  return FALSE;
}

static void
handle_alert (PanelIngest *self, Reply *r, const PanelRequest *req, const Device *d,
              const char *uuid)
{
  static const char *const members[] = { "desk_id",        "desk_name",
                                         "trigger",        "trigger_kind",
                                         "opened_wall_us", "opened_mono_us",
                                         "drill",          "prev_manifest_hash",
                                         "source",         NULL };
  g_autoptr (JsonObject) o = body_object (r, req->body, members);
  if (o == NULL)
    return;
  const char *desk_id = get_string (r, o, "desk_id", TRUE, 64);
  const char *source = get_string (r, o, "source", FALSE, 64);
  const char *desk_name = get_string (r, o, "desk_name", FALSE, 256);
  const char *trigger = get_string (r, o, "trigger", TRUE, 64);
  const char *kind = get_string (r, o, "trigger_kind", TRUE, 16);
  const char *prev = get_string (r, o, "prev_manifest_hash", FALSE, 64);
  gint64 wall = 0, mono = 0;
  if (r->status != 0 || !get_int (r, o, "opened_wall_us", &wall)
      || !get_int (r, o, "opened_mono_us", &mono))
    return;
  if (!ansim_is_name (desk_id) || (prev != NULL && !ansim_is_sha256_hex (prev))
      || (!g_str_equal (kind, "button") && !g_str_equal (kind, "bodycam")))
    return reply_error (r, 400, "bad-request",
                        "desk_id, trigger_kind or prev_manifest_hash "
                        "is not in the expected form");
  /* "drill" is accepted from older desks but ignored: whether a press is
   * a drill is decided here, by an armed drill (panel_drill_claim), never
   * by the desk, so a real press can never be turned into a drill. */
  if (!check_desk (self, r, req, d, desk_id, "an alert"))
    return;

  gint64 id = find_incident (self, r, d, uuid);
  if (id < 0)
    return;
  if (id > 0)
    {
      reply_ok (r, 200, "already-stored");
      add_string (r, "incident", uuid);
      add_incident_state (self, r, id);
      return;
    }
  g_autoptr (GError) error = NULL;
  if (!ansim_db_begin (self->db, &error))
    return reply_db_error (r, self->db, "recording the alert");
  if (!ensure_desk (self, r, desk_id, desk_name))
    return ansim_db_rollback (self->db);
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "INSERT INTO incidents (device_id, uuid, desk_id, trigger, trigger_kind, opened_wall_us, "
    "opened_mono_us, alerted_at_us, is_drill, prev_manifest_hash) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    &error);
  if (stmt == NULL)
    {
      reply_db_error (r, self->db, "recording the alert");
      return ansim_db_rollback (self->db);
    }
  sqlite3_bind_text (stmt, 1, d->id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, desk_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, trigger, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 5, kind, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 6, wall);
  sqlite3_bind_int64 (stmt, 7, mono);
  sqlite3_bind_int64 (stmt, 8, g_get_real_time ());
  sqlite3_bind_int (stmt, 9, 0);
  if (prev != NULL)
    sqlite3_bind_text (stmt, 10, prev, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    {
      reply_db_error (r, self->db, "recording the alert");
      return ansim_db_rollback (self->db);
    }
  id = sqlite3_last_insert_rowid (self->db);
  gint64 alert_id = join_press_alert (self->db, id, source);
  if (alert_id == 0)
    {
      reply_db_error (r, self->db, "grouping the alert");
      return ansim_db_rollback (self->db);
    }
  /* A press inside an armed drill's window is the drill (decided here, on
   * the panel, so the desk's path stays exactly that of a real press); a
   * second source of the same press took its alert's mark above. */
  gint64 drill_id = 0;
  if (alert_id == id && !panel_drill_claim (self->db, desk_id, wall, id, &drill_id, &error))
    {
      g_warning ("%s", error->message);
      reply_db_error (r, self->db, "recording the alert");
      return ansim_db_rollback (self->db);
    }
  if (!queue_alert_webhooks (self, id, &error))
    {
      g_warning ("%s", error->message);
      reply_db_error (r, self->db, "recording the alert");
      return ansim_db_rollback (self->db);
    }
  if (!ansim_db_commit (self->db, &error))
    return reply_db_error (r, self->db, "recording the alert");
  if (drill_id > 0)
    g_message ("incident %s is part of drill %" G_GINT64_FORMAT, uuid, drill_id);
  g_message ("ALERT from device %s desk %s (%s, %s): incident %s", d->id, desk_id, trigger, kind,
             uuid);
  reply_ok (r, 201, "stored");
  add_string (r, "incident", uuid);
  add_incident_state (self, r, id);
  tell (self, PANEL_INGEST_ALERT, id, 0);
}

static void
handle_event (PanelIngest *self, Reply *r, const PanelRequest *req, const Device *d,
              gint64 event_id)
{
  static const char *const members[] = { "kind",    "at_wall_us", "at_mono_us", "desk_id",
                                         "trigger", "incident",   "detail",     NULL };
  g_autoptr (JsonObject) o = body_object (r, req->body, members);
  if (o == NULL)
    return;
  const char *kind = get_string (r, o, "kind", TRUE, 64);
  const char *desk_id = get_string (r, o, "desk_id", FALSE, 64);
  const char *trigger = get_string (r, o, "trigger", FALSE, 64);
  const char *uuid = get_string (r, o, "incident", FALSE, 36);
  gint64 wall = 0, mono = 0;
  if (r->status != 0 || !get_int (r, o, "at_wall_us", &wall)
      || !get_int (r, o, "at_mono_us", &mono))
    return;
  for (const char *c = kind; *c; c++)
    if (!g_ascii_islower (*c) && !g_ascii_isdigit (*c) && *c != '-')
      return reply_error (r, 400, "bad-request", "kind must be lowercase letters, digits, '-'");
  if (uuid != NULL && !ansim_is_uuid (uuid))
    return reply_error (r, 400, "bad-id", "incident is not a lowercase UUID");
  if (!check_desk (self, r, req, d, desk_id, "an event"))
    return;
  JsonNode *detail = json_object_get_member (o, "detail");
  g_autofree char *detail_json = NULL;
  if (detail != NULL && !JSON_NODE_HOLDS_NULL (detail))
    {
      if (!JSON_NODE_HOLDS_OBJECT (detail))
        return reply_error (r, 400, "bad-request", "detail must be an object");
      detail_json = json_to_string (detail, FALSE);
    }
  gint64 incident = 0;
  if (uuid != NULL)
    {
      incident = find_incident (self, r, d, uuid);
      if (incident < 0)
        return;
      if (incident == 0)
        return reply_error (r, 409, "unknown-incident", "incident %s has not been alerted", uuid);
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "INSERT INTO events (at_wall_us, at_mono_us, received_at_us, device_id, device_event_id, "
    "kind, desk_id, trigger, incident_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
    "ON CONFLICT (device_id, device_event_id) DO NOTHING",
    &error);
  if (stmt == NULL)
    return reply_db_error (r, self->db, "recording the event");
  sqlite3_bind_int64 (stmt, 1, wall);
  sqlite3_bind_int64 (stmt, 2, mono);
  sqlite3_bind_int64 (stmt, 3, g_get_real_time ());
  sqlite3_bind_text (stmt, 4, d->id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 5, event_id);
  sqlite3_bind_text (stmt, 6, kind, -1, SQLITE_STATIC);
  if (desk_id != NULL)
    sqlite3_bind_text (stmt, 7, desk_id, -1, SQLITE_STATIC);
  if (trigger != NULL)
    sqlite3_bind_text (stmt, 8, trigger, -1, SQLITE_STATIC);
  if (incident > 0)
    sqlite3_bind_int64 (stmt, 9, incident);
  if (detail_json != NULL)
    sqlite3_bind_text (stmt, 10, detail_json, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return reply_db_error (r, self->db, "recording the event");
  reply_ok (r, sqlite3_changes (self->db) > 0 ? 201 : 200,
            sqlite3_changes (self->db) > 0 ? "stored" : "already-stored");
  add_int (r, "event", event_id);
}

/* The signed chain-head receipt of the device's source (docs/receipts.md),
 * after a final manifest: the desk keeps it. Failing to sign is logged and
 * leaves it out; the upload itself succeeded. */
static void
add_chain_receipt (PanelIngest *self, Reply *r, const Device *d, AnsimManifest *m)
{
  g_autoptr (GError) error = NULL;
  if (self->signing_key == NULL || !ansim_manifest_is_closed (m)
      || ansim_manifest_get_source (m) == NULL)
    return;
  g_autofree char *note = panel_notes_chain_receipt (self->db, self->signing_key, d->id,
                                                     ansim_manifest_get_source (m), &error);
  if (note == NULL && error != NULL)
    g_warning ("device %s: cannot sign its chain receipt: %s", d->id, error->message);
  if (note != NULL)
    add_string (r, "chain_receipt", note);
}

/* The desk clock members of the manifest, kept beside the incident for
 * the console (incidents.desk_clock); left as it was when the manifest
 * does not say. */
static void
add_desk_clock_member (JsonBuilder *b, const char *name, const AnsimDeskClock *c)
{
  if (c == NULL)
    return;
  json_builder_set_member_name (b, name);
  if (!c->measured)
    {
      json_builder_add_null_value (b);
      return;
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "offset_us");
  json_builder_add_int_value (b, c->offset_us);
  json_builder_set_member_name (b, "bound_us");
  json_builder_add_int_value (b, c->bound_us);
  json_builder_set_member_name (b, "measured_wall_us");
  json_builder_add_int_value (b, c->measured_wall_us);
  json_builder_end_object (b);
}

static gboolean
record_desk_clock (sqlite3 *db, gint64 incident, const AnsimManifest *m, GError **error)
{
  const AnsimDeskClock *open = ansim_manifest_get_desk_clock (m, ANSIM_MANIFEST_CLOCK_AT_OPEN);
  const AnsimDeskClock *close = ansim_manifest_get_desk_clock (m, ANSIM_MANIFEST_CLOCK_AT_CLOSE);
  if (open == NULL && close == NULL)
    return TRUE;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_desk_clock_member (b, "at_open", open);
  add_desk_clock_member (b, "at_close", close);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *json = json_to_string (root, FALSE);
  g_autoptr (sqlite3_stmt) st =
    ansim_db_prepare (db, "UPDATE incidents SET desk_clock = ?2 WHERE id = ?1", error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, incident);
  sqlite3_bind_text (st, 2, json, -1, SQLITE_STATIC);
  if (sqlite3_step (st) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "recording the desk clock");
  return TRUE;
}

/* A manifest must say what every checkpoint the panel kept of its incident
 * signed: the same header, and at each checkpoint's entry count the same
 * chain head. The first disagreement is refused, naming the entry. */
static gboolean
manifest_matches_checkpoints (PanelIngest *self, Reply *r, const AnsimManifest *m, gint64 incident)
{
  g_autoptr (sqlite3_stmt) st =
    ansim_db_prepare (self->db,
                      "SELECT sequence, header_sha256, entries, head FROM incident_checkpoints "
                      "WHERE incident_id = ?1 ORDER BY sequence",
                      NULL);
  if (st == NULL)
    return reply_db_error (r, self->db, "reading the checkpoints"), FALSE;
  sqlite3_bind_int64 (st, 1, incident);
  char header[ANSIM_SHA256_HEX_LEN + 1];
  ansim_manifest_header_hash (m, header);
  while (sqlite3_step (st) == SQLITE_ROW)
    {
      gint64 seq = sqlite3_column_int64 (st, 0);
      guint64 entries = sqlite3_column_int64 (st, 2);
      const char *head = (const char *) sqlite3_column_text (st, 3);
      char h[ANSIM_SHA256_HEX_LEN + 1];
      if (!g_str_equal ((const char *) sqlite3_column_text (st, 1), header))
        return reply_error (r, 409, "checkpoint-mismatch",
                            "checkpoint %" G_GINT64_FORMAT " signs another header than the "
                            "manifest's",
                            seq),
               FALSE;
      if (!ansim_manifest_head_after (m, entries, h))
        return reply_error (r, 409, "checkpoint-mismatch",
                            "checkpoint %" G_GINT64_FORMAT " counts %" G_GUINT64_FORMAT
                            " entries; the manifest has %u",
                            seq, entries, ansim_manifest_get_n_entries (m)),
               FALSE;
      if (!g_str_equal (h, head))
        return reply_error (r, 409, "checkpoint-mismatch",
                            "checkpoint %" G_GINT64_FORMAT ": entry %" G_GINT64_FORMAT
                            " of the manifest is not the one it signed",
                            seq, (gint64) entries - 1),
               FALSE;
    }
  return TRUE;
}

static void
handle_manifest (PanelIngest *self, Reply *r, const PanelRequest *req, const Device *d,
                 const char *uuid)
{
  g_autoptr (GError) error = NULL;
  gsize len = 0;
  const void *data = g_bytes_get_data (req->body, &len);
  g_autoptr (GBytes) sig = ansim_sf_binary_decode (req->manifest_signature, ANSIM_SIGNATURE_SIZE);
  if (sig == NULL)
    return reply_error (r, 400, "bad-request",
                        "Ansim-Manifest-Signature must be the manifest's 64-byte signature "
                        "as :BASE64:");
  if (!ansim_json_integers_fit (data, len, &error))
    return reply_error (r, 400, "bad-request", "%s", error->message);
  g_autoptr (AnsimManifest) m = ansim_manifest_parse (data, len, &error);
  if (m == NULL)
    return reply_error (r, 422, "bad-manifest", "%s", error->message);
  if (strcmp (ansim_manifest_get_incident_id (m), uuid) != 0)
    return reply_error (r, 422, "bad-manifest", "the manifest is of incident %s, not %s",
                        ansim_manifest_get_incident_id (m), uuid);
  if (strcmp (ansim_manifest_get_device_fingerprint (m), d->fingerprint) != 0
      || strcmp (ansim_manifest_get_device_id (m), d->id) != 0)
    return reply_error (r, 422, "bad-manifest",
                        "the manifest names device %s (%s), not the "
                        "sender %s (%s)",
                        ansim_manifest_get_device_id (m), ansim_manifest_get_device_fingerprint (m),
                        d->id, d->fingerprint);
  if (!ansim_device_key_verify (d->key, data, len, g_bytes_get_data (sig, NULL),
                                ANSIM_SIGNATURE_SIZE, NULL))
    return reply_error (r, 422, "bad-manifest-signature",
                        "the manifest's signature does not verify with the device's key");
  if (!ansim_manifest_check_chain (m, &error))
    return reply_error (r, 422, "broken-chain", "%s", error->message);
  if (!ansim_is_name (ansim_manifest_get_desk_id (m)))
    return reply_error (r, 422, "bad-manifest", "desk id is not a name");
  if (!check_desk (self, r, req, d, ansim_manifest_get_desk_id (m), "a manifest"))
    return;

  char hash[ANSIM_SHA256_HEX_LEN + 1];
  ansim_hash_sha256_hex (data, len, hash);
  gint64 incident = find_incident (self, r, d, uuid);
  if (incident < 0)
    return;

  /* What the panel has already: the latest manifest and its entries. */
  guint n = ansim_manifest_get_n_entries (m);
  g_autoptr (GPtrArray) known = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *known_hash = NULL;
  gboolean known_closed = FALSE;
  if (incident > 0)
    {
      g_autoptr (sqlite3_stmt) inc = ansim_db_prepare (
        self->db, "SELECT manifest_hash, close_reason IS NOT NULL FROM incidents WHERE id = ?1",
        &error);
      if (inc == NULL || (sqlite3_bind_int64 (inc, 1, incident), sqlite3_step (inc)) != SQLITE_ROW)
        return reply_db_error (r, self->db, "reading the incident");
      known_hash = g_strdup ((const char *) sqlite3_column_text (inc, 0));
      known_closed = sqlite3_column_int (inc, 1);
      g_autoptr (sqlite3_stmt) segs = ansim_db_prepare (
        self->db, "SELECT entry_hash FROM segments WHERE incident_id = ?1 ORDER BY idx", &error);
      if (segs == NULL)
        return reply_db_error (r, self->db, "reading the segments");
      sqlite3_bind_int64 (segs, 1, incident);
      while (sqlite3_step (segs) == SQLITE_ROW)
        g_ptr_array_add (known, g_strdup ((const char *) sqlite3_column_text (segs, 0)));
    }
  if (incident > 0 && !manifest_matches_checkpoints (self, r, m, incident))
    return;
  if (known_hash != NULL && strcmp (known_hash, hash) == 0)
    {
      reply_ok (r, 200, "already-stored");
      add_string (r, "manifest_sha256", hash);
      add_incident_state (self, r, incident);
      add_chain_receipt (self, r, d, m);
      return;
    }
  for (guint i = 0; i < MIN (n, known->len); i++)
    {
      char h[ANSIM_SHA256_HEX_LEN + 1];
      ansim_manifest_entry_hash (ansim_manifest_get_entry (m, i), h);
      if (strcmp (h, known->pdata[i]) != 0)
        return reply_error (r, 409, "chain-break",
                            "entry %u differs from the one already "
                            "received for incident %s",
                            i, uuid);
    }
  /* Once closed, an incident's manifest is final: another closed one, or
   * one with more entries, is a different history. */
  if (known_closed && (ansim_manifest_is_closed (m) || n > known->len))
    return reply_error (r, 409, "chain-break", "incident %s was already closed with manifest %s",
                        uuid, known_hash);
  /* An older version arriving after a newer one adds nothing. */
  if (n < known->len || (known_closed && n == known->len))
    {
      reply_ok (r, 200, "superseded");
      add_string (r, "manifest_sha256", hash);
      add_incident_state (self, r, incident);
      return;
    }

  g_autofree char *key = g_strdup_printf ("%s/%s/manifest-%s.json", d->id, uuid, hash);
  g_autofree char *sig_key = g_strdup_printf ("%s.sig", key);
  PanelStorePutOptions lock;
  /* The manifest's drill flag is the desk's word: not used (see handle_alert). */
  if (!panel_retention_lock_options (self->db, incident, FALSE, &lock, &error))
    return reply_db_error (r, self->db, "reading the retention policy");
  if (!panel_store_put (self->store, key, req->body, hash, &lock, NULL, &error)
      || !panel_store_put (self->store, sig_key, sig, NULL, &lock, NULL, &error))
    return reply_store_error (r, error);

  gint64 now = g_get_real_time ();
  gboolean created = incident == 0;
  if (!ansim_db_begin (self->db, &error))
    return reply_db_error (r, self->db, "recording the manifest");
  if (incident == 0)
    {
      /* No alert came before (e.g. it was refused then): the manifest says
       * all an alert would. */
      g_autoptr (sqlite3_stmt) ins = ansim_db_prepare (
        self->db,
        "INSERT INTO incidents (device_id, uuid, desk_id, trigger, trigger_kind, opened_wall_us, "
        "opened_mono_us, alerted_at_us, is_drill, prev_manifest_hash) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        &error);
      if (ins == NULL || !ensure_desk (self, r, ansim_manifest_get_desk_id (m), NULL))
        goto db_error;
      sqlite3_bind_text (ins, 1, d->id, -1, SQLITE_STATIC);
      sqlite3_bind_text (ins, 2, uuid, -1, SQLITE_STATIC);
      sqlite3_bind_text (ins, 3, ansim_manifest_get_desk_id (m), -1, SQLITE_STATIC);
      sqlite3_bind_text (ins, 4, ansim_manifest_get_trigger_name (m), -1, SQLITE_STATIC);
      sqlite3_bind_text (
        ins, 5, ansim_manifest_get_trigger_kind (m) == ANSIM_TRIGGER_BODYCAM ? "bodycam" : "button",
        -1, SQLITE_STATIC);
      sqlite3_bind_int64 (ins, 6, ansim_manifest_get_opened_wall_us (m));
      sqlite3_bind_int64 (ins, 7, ansim_manifest_get_opened_mono_us (m));
      sqlite3_bind_int64 (ins, 8, now);
      sqlite3_bind_int (ins, 9, 0);
      if (ansim_manifest_get_previous_manifest_sha256 (m) != NULL)
        sqlite3_bind_text (ins, 10, ansim_manifest_get_previous_manifest_sha256 (m), -1,
                           SQLITE_STATIC);
      if (sqlite3_step (ins) != SQLITE_DONE)
        goto db_error;
      incident = sqlite3_last_insert_rowid (self->db);
      gint64 alert_id = join_press_alert (self->db, incident, ansim_manifest_get_source (m));
      gint64 drill_id = 0;
      if (alert_id == 0)
        goto db_error;
      if (alert_id == incident
          && !panel_drill_claim (self->db, ansim_manifest_get_desk_id (m),
                                 ansim_manifest_get_opened_wall_us (m), incident, &drill_id,
                                 &error))
        goto db_error;
      if (!queue_alert_webhooks (self, incident, &error))
        goto db_error;
    }
  {
    g_autoptr (sqlite3_stmt) upd = ansim_db_prepare (
      self->db,
      "UPDATE incidents SET manifest_hash = ?2, manifest_store_key = ?3, manifest_at_us = ?4, "
      "closed_wall_us = ?5, closed_mono_us = ?6, close_reason = ?7, "
      "source = coalesce (source, ?8) WHERE id = ?1",
      &error);
    if (upd == NULL)
      goto db_error;
    sqlite3_bind_int64 (upd, 1, incident);
    sqlite3_bind_text (upd, 8, ansim_manifest_get_source (m), -1, SQLITE_STATIC);
    sqlite3_bind_text (upd, 2, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text (upd, 3, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (upd, 4, now);
    if (ansim_manifest_is_closed (m))
      {
        sqlite3_bind_int64 (upd, 5, ansim_manifest_get_closed_wall_us (m));
        sqlite3_bind_int64 (upd, 6, ansim_manifest_get_closed_mono_us (m));
        sqlite3_bind_text (upd, 7, ansim_manifest_get_close_reason (m), -1, SQLITE_STATIC);
      }
    if (sqlite3_step (upd) != SQLITE_DONE || !record_desk_clock (self->db, incident, m, &error))
      goto db_error;
    g_autoptr (sqlite3_stmt) seg = ansim_db_prepare (self->db,
                                                     "INSERT INTO segments (" ANSIM_SEGMENTS_COLUMNS
                                                     ") VALUES (" ANSIM_SEGMENTS_VALUES ") "
                                                     "ON CONFLICT DO NOTHING",
                                                     &error);
    if (seg == NULL)
      goto db_error;
    for (guint i = known->len; i < n; i++)
      {
        ansim_segments_bind_entry (seg, incident, ansim_manifest_get_entry (m, i));
        if (sqlite3_step (seg) != SQLITE_DONE)
          goto db_error;
      }
  }
  if (!ansim_db_commit (self->db, &error))
    return reply_db_error (r, self->db, "recording the manifest");
  reply_ok (r, 201, "stored");
  add_string (r, "manifest_sha256", hash);
  add_string (r, "store_key", key);
  add_incident_state (self, r, incident);
  add_chain_receipt (self, r, d, m);
  tell (self, created ? PANEL_INGEST_ALERT : PANEL_INGEST_MANIFEST, incident, 0);
  return;

db_error:
  if (r->status == 0)
    reply_db_error (r, self->db, "recording the manifest");
  ansim_db_rollback (self->db);
}

/* The newest checkpoint the panel holds of incident: its sequence (-1 if
 * none), the SHA-256 of its text and its header hash. */
static gboolean
last_checkpoint (sqlite3 *db, gint64 incident, gint64 *out_sequence,
                 char out_sha256[ANSIM_SHA256_HEX_LEN + 1],
                 char out_header[ANSIM_SHA256_HEX_LEN + 1])
{
  g_autoptr (sqlite3_stmt) st =
    ansim_db_prepare (db,
                      "SELECT sequence, sha256, header_sha256 FROM incident_checkpoints "
                      "WHERE incident_id = ?1 ORDER BY sequence DESC LIMIT 1",
                      NULL);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, incident);
  int rc = sqlite3_step (st);
  *out_sequence = -1;
  out_sha256[0] = out_header[0] = '\0';
  if (rc == SQLITE_ROW)
    {
      *out_sequence = sqlite3_column_int64 (st, 0);
      g_strlcpy (out_sha256, (const char *) sqlite3_column_text (st, 1), ANSIM_SHA256_HEX_LEN + 1);
      g_strlcpy (out_header, (const char *) sqlite3_column_text (st, 2), ANSIM_SHA256_HEX_LEN + 1);
    }
  return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

/* A version 3 desk's per-segment upload (docs/protocol.md, "Checkpoints"):
 * one signed checkpoint and the entries it adds. The live view rests on
 * it: it is refused unless signed by the device's key, the next in its
 * chain, and the entries sent lead exactly to its chain head. */
static void
handle_checkpoint (PanelIngest *self, Reply *r, const PanelRequest *req, const Device *d,
                   const char *uuid, gint64 sequence)
{
  g_autoptr (GError) error = NULL;
  gsize len = 0;
  const char *data = g_bytes_get_data (req->body, &len);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root = len > 0 && json_parser_load_from_data (parser, data, len, NULL)
                     ? json_parser_get_root (parser)
                     : NULL;
  JsonObject *o = root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root)
                                                                : NULL;
  const char *text = o != NULL ? json_object_get_string_member_with_default (o, "checkpoint", NULL)
                               : NULL;
  const char *sig64 = o != NULL ? json_object_get_string_member_with_default (o, "signature", NULL)
                                : NULL;
  JsonNode *entries_node = o != NULL ? json_object_get_member (o, "entries") : NULL;
  if (text == NULL || sig64 == NULL || entries_node == NULL)
    return reply_error (r, 400, "bad-checkpoint",
                        "the body must be a JSON object with \"checkpoint\" (text), "
                        "\"signature\" (base64) and \"entries\" (array)");
  gsize sig_len = 0;
  g_autofree guint8 *sig = g_base64_decode (sig64, &sig_len);
  if (sig_len != ANSIM_SIGNATURE_SIZE)
    return reply_error (r, 400, "bad-checkpoint",
                        "signature: %zu bytes, not a 64-byte Ed25519 signature", sig_len);
  AnsimCheckpoint c;
  if (!ansim_checkpoint_parse (text, strlen (text), &c, &error))
    return reply_error (r, 400, "bad-checkpoint", "%s", error->message);
  if (!g_str_equal (c.incident_id, uuid) || (gint64) c.sequence != sequence)
    return reply_error (r, 400, "bad-checkpoint",
                        "the checkpoint is number %" G_GUINT64_FORMAT " of incident %s, not "
                        "%" G_GINT64_FORMAT " of %s",
                        c.sequence, c.incident_id, sequence, uuid);
  if (!ansim_device_key_verify (d->key, text, strlen (text), sig, sig_len, NULL))
    return reply_error (r, 400, "bad-checkpoint-signature",
                        "checkpoint %" G_GINT64_FORMAT ": the signature does not verify with the "
                        "device's key",
                        sequence);
  g_autoptr (AnsimManifest) sent = ansim_manifest_parse_entries (entries_node, &error);
  if (sent == NULL)
    return reply_error (r, 400, "bad-checkpoint", "%s", error->message);

  gint64 incident = find_incident (self, r, d, uuid);
  if (incident < 0)
    return;
  if (incident == 0)
    return reply_error (r, 409, "manifest-needed",
                        "incident %s is not known yet; send its alert or manifest first", uuid);
  char text_sha[ANSIM_SHA256_HEX_LEN + 1];
  ansim_hash_sha256_hex (text, strlen (text), text_sha);
  gint64 last = -1;
  char last_sha[ANSIM_SHA256_HEX_LEN + 1], header[ANSIM_SHA256_HEX_LEN + 1];
  if (!last_checkpoint (self->db, incident, &last, last_sha, header))
    return reply_db_error (r, self->db, "reading the checkpoints");
  if (sequence <= last)
    {
      g_autoptr (sqlite3_stmt) st = ansim_db_prepare (
        self->db,
        "SELECT sha256 FROM incident_checkpoints WHERE incident_id = ?1 AND sequence = ?2", NULL);
      if (st == NULL)
        return reply_db_error (r, self->db, "reading the checkpoints");
      sqlite3_bind_int64 (st, 1, incident);
      sqlite3_bind_int64 (st, 2, sequence);
      if (sqlite3_step (st) != SQLITE_ROW)
        return reply_db_error (r, self->db, "reading the checkpoints");
      if (!g_str_equal ((const char *) sqlite3_column_text (st, 0), text_sha))
        return reply_error (r, 409, "checkpoint-conflict",
                            "incident %s already has a different checkpoint %" G_GINT64_FORMAT,
                            uuid, sequence);
      reply_ok (r, 200, "already-stored");
      add_int (r, "next_sequence", last + 1);
      add_incident_state (self, r, incident);
      return;
    }
  if (sequence > last + 1)
    {
      reply_error (r, 409, "checkpoint-gap",
                   "incident %s: checkpoint %" G_GINT64_FORMAT " comes before %" G_GINT64_FORMAT,
                   uuid, last + 1, sequence);
      add_int (r, "next_sequence", last + 1);
      return;
    }
  if (last >= 0 && !g_str_equal (c.previous, last_sha))
    return reply_error (r, 409, "chain-break",
                        "checkpoint %" G_GINT64_FORMAT " names previous %s, but checkpoint "
                        "%" G_GINT64_FORMAT " has SHA-256 %s",
                        sequence, c.previous, last, last_sha);
  if (last < 0 && strspn (c.previous, "0") != ANSIM_SHA256_HEX_LEN)
    return reply_error (r, 409, "chain-break", "checkpoint 0 names a previous checkpoint");
  if (last >= 0 && !g_str_equal (c.header_sha256, header))
    return reply_error (r, 409, "checkpoint-mismatch",
                        "checkpoint %" G_GINT64_FORMAT " commits to header %s, the ones before "
                        "to %s",
                        sequence, c.header_sha256, header);

  /* The entries the panel holds, and where the sent ones fit. */
  g_autoptr (GPtrArray) known = g_ptr_array_new_with_free_func (g_free);
  {
    g_autoptr (sqlite3_stmt) segs = ansim_db_prepare (
      self->db, "SELECT entry_hash FROM segments WHERE incident_id = ?1 ORDER BY idx", &error);
    if (segs == NULL)
      return reply_db_error (r, self->db, "reading the segments");
    sqlite3_bind_int64 (segs, 1, incident);
    while (sqlite3_step (segs) == SQLITE_ROW)
      g_ptr_array_add (known, g_strdup ((const char *) sqlite3_column_text (segs, 0)));
  }
  guint n_sent = ansim_manifest_get_n_entries (sent);
  guint64 first = n_sent > 0 ? ansim_manifest_get_entry (sent, 0)->index : known->len;
  if (first > known->len)
    return reply_error (r, 409, "entries-missing",
                        "the entries sent start at index %" G_GUINT64_FORMAT "; the panel has %u",
                        first, known->len);
  if (first + n_sent > MAX (c.entries, known->len))
    return reply_error (r, 400, "bad-checkpoint",
                        "entries sent up to index %" G_GUINT64_FORMAT
                        ", beyond the %" G_GUINT64_FORMAT " the checkpoint counts",
                        first + n_sent - 1, c.entries);
  /* The chain as it will stand: each sent entry in place (index, link,
   * the same as one already held), then the signed head at its count. */
  g_autoptr (GPtrArray) chain = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < known->len; i++)
    g_ptr_array_add (chain, g_strdup (known->pdata[i]));
  for (guint i = 0; i < n_sent; i++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (sent, i);
      guint64 at = first + i;
      char h[ANSIM_SHA256_HEX_LEN + 1];
      if (e->index != at || (at > 0 && !g_str_equal (e->prev, chain->pdata[at - 1])))
        return reply_error (r, 409, "chain-break",
                            "entry %" G_GUINT64_FORMAT " does not follow entry %" G_GUINT64_FORMAT,
                            e->index, at - 1);
      ansim_manifest_entry_hash (e, h);
      if (at < known->len && !g_str_equal (h, known->pdata[at]))
        return reply_error (r, 409, "chain-break",
                            "entry %" G_GUINT64_FORMAT " differs from the one already received",
                            e->index);
      if (at >= chain->len)
        g_ptr_array_add (chain, g_strdup (h));
    }
  if (c.entries > chain->len)
    return reply_error (r, 409, "entries-missing",
                        "checkpoint %" G_GINT64_FORMAT " counts %" G_GUINT64_FORMAT
                        " entries; the panel has %u and was sent %u",
                        sequence, c.entries, known->len, n_sent);
  /* For no entries the head is the chain start, only known from the header:
   * the final manifest is checked against it. */
  if (c.entries > 0 && !g_str_equal (chain->pdata[c.entries - 1], c.head))
    return reply_error (r, 409, "checkpoint-mismatch",
                        "checkpoint %" G_GINT64_FORMAT " signs chain head %s, but entry "
                        "%" G_GUINT64_FORMAT " hashes to %s",
                        sequence, c.head, c.entries - 1,
                        (const char *) chain->pdata[c.entries - 1]);

  if (!ansim_db_begin (self->db, &error))
    return reply_db_error (r, self->db, "recording the checkpoint");
  {
    g_autoptr (sqlite3_stmt) ins = ansim_db_prepare (
      self->db,
      "INSERT INTO incident_checkpoints (incident_id, sequence, text, signature, sha256, "
      "header_sha256, entries, head, received_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
      &error);
    if (ins == NULL)
      goto db_error;
    sqlite3_bind_int64 (ins, 1, incident);
    sqlite3_bind_int64 (ins, 2, sequence);
    sqlite3_bind_blob (ins, 3, text, strlen (text), SQLITE_STATIC);
    sqlite3_bind_blob (ins, 4, sig, sig_len, SQLITE_STATIC);
    sqlite3_bind_text (ins, 5, text_sha, -1, SQLITE_STATIC);
    sqlite3_bind_text (ins, 6, c.header_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (ins, 7, c.entries);
    sqlite3_bind_text (ins, 8, c.head, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (ins, 9, g_get_real_time ());
    if (sqlite3_step (ins) != SQLITE_DONE)
      goto db_error;
    g_autoptr (sqlite3_stmt) seg = ansim_db_prepare (self->db,
                                                     "INSERT INTO segments (" ANSIM_SEGMENTS_COLUMNS
                                                     ") VALUES (" ANSIM_SEGMENTS_VALUES ") "
                                                     "ON CONFLICT DO NOTHING",
                                                     &error);
    if (seg == NULL)
      goto db_error;
    for (guint i = 0; i < n_sent; i++)
      {
        if (first + i < known->len)
          continue;
        ansim_segments_bind_entry (seg, incident, ansim_manifest_get_entry (sent, i));
        if (sqlite3_step (seg) != SQLITE_DONE)
          goto db_error;
      }
  }
  if (!ansim_db_commit (self->db, &error))
    return reply_db_error (r, self->db, "recording the checkpoint");
  reply_ok (r, 201, "stored");
  add_int (r, "next_sequence", sequence + 1);
  add_incident_state (self, r, incident);
  tell (self, PANEL_INGEST_MANIFEST, incident, 0);
  return;

db_error:
  if (r->status == 0)
    reply_db_error (r, self->db, "recording the checkpoint");
  ansim_db_rollback (self->db);
}

static void
handle_segment (PanelIngest *self, Reply *r, const PanelRequest *req, const Device *d,
                const char *uuid, gint64 idx, const char *actual)
{
  gint64 incident = find_incident (self, r, d, uuid);
  if (incident < 0)
    return;
  if (incident == 0)
    return reply_error (r, 409, "manifest-needed",
                        "incident %s is not known yet; send its "
                        "manifest first",
                        uuid);
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (self->db,
                      "SELECT kind, cipher_size, cipher_sha256, store_key FROM segments "
                      "WHERE incident_id = ?1 AND idx = ?2",
                      &error);
  if (stmt == NULL)
    return reply_db_error (r, self->db, "reading the segment");
  sqlite3_bind_int64 (stmt, 1, incident);
  sqlite3_bind_int64 (stmt, 2, idx);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE)
    return reply_error (
      r, 409, "manifest-needed",
      "no manifest received so far lists segment %" G_GINT64_FORMAT " of incident %s", idx, uuid);
  if (rc != SQLITE_ROW)
    return reply_db_error (r, self->db, "reading the segment");
  if (!g_str_equal ((const char *) sqlite3_column_text (stmt, 0), "media"))
    return reply_error (r, 409, "not-media", "entry %" G_GINT64_FORMAT " is a gap", idx);
  gint64 size = sqlite3_column_int64 (stmt, 1);
  g_autofree char *expected = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
  gboolean have = sqlite3_column_type (stmt, 3) != SQLITE_NULL;
  /* Ends the read transaction: held across the store's put, it could
   * not become the UPDATE's write once another connection (the console
   * acknowledging) wrote meanwhile (SQLITE_BUSY_SNAPSHOT, no retry). */
  sqlite3_reset (stmt);
  if ((gint64) g_bytes_get_size (req->body) != size || strcmp (actual, expected) != 0)
    return reply_error (
      r, 422, "hash-mismatch",
      "segment %" G_GINT64_FORMAT " of incident %s: "
      "the body (%zu bytes, SHA-256 %s) is not what the manifest lists (%" G_GINT64_FORMAT
      " bytes, %s)",
      idx, uuid, g_bytes_get_size (req->body), actual, size, expected);
  g_autofree char *key =
    g_strdup_printf ("%s/%s/seg-%06" G_GINT64_FORMAT ".mkv.age", d->id, uuid, idx);
  if (have)
    {
      reply_ok (r, 200, "already-stored");
      add_string (r, "store_key", key);
      add_incident_state (self, r, incident);
      return;
    }
  PanelStorePutOptions lock;
  if (!panel_retention_lock_options (self->db, incident, FALSE, &lock, &error))
    return reply_db_error (r, self->db, "reading the retention policy");
  if (!panel_store_put (self->store, key, req->body, actual, &lock, NULL, &error))
    return reply_store_error (r, error);
  g_autoptr (sqlite3_stmt) upd =
    ansim_db_prepare (self->db,
                      "UPDATE segments SET store_key = ?3, received_at_us = ?4 "
                      "WHERE incident_id = ?1 AND idx = ?2 AND store_key IS NULL",
                      &error);
  if (upd == NULL)
    return reply_db_error (r, self->db, "recording the segment");
  sqlite3_bind_int64 (upd, 1, incident);
  sqlite3_bind_int64 (upd, 2, idx);
  sqlite3_bind_text (upd, 3, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (upd, 4, g_get_real_time ());
  if (sqlite3_step (upd) != SQLITE_DONE)
    return reply_db_error (r, self->db, "recording the segment");
  reply_ok (r, 201, "stored");
  add_string (r, "store_key", key);
  add_incident_state (self, r, incident);
  tell (self, PANEL_INGEST_SEGMENT, incident, idx);
}

static void
handle_heartbeat (PanelIngest *self, Reply *r, const PanelRequest *req, const Device *d)
{
  static const char *const members[] = {
    "wall_us", "disk_free_bytes", "queue_length", "oldest_item_age_s", "recorder", "version", NULL
  };
  g_autoptr (JsonObject) o = body_object (r, req->body, members);
  if (o == NULL)
    return;
  gint64 device_wall = 0;
  if (!get_int (r, o, "wall_us", &device_wall))
    return;
  gint64 now = g_get_real_time ();
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db, "UPDATE devices SET last_seen_at_us = ?2, heartbeat = ?3 WHERE id = ?1", &error);
  if (stmt == NULL)
    return reply_db_error (r, self->db, "recording the heartbeat");
  sqlite3_bind_text (stmt, 1, d->id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, now);
  sqlite3_bind_text (stmt, 3, g_bytes_get_data (req->body, NULL), g_bytes_get_size (req->body),
                     SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return reply_db_error (r, self->db, "recording the heartbeat");
  reply_ok (r, 200, "ok");
  add_int (r, "time_us", now);
  add_int (r, "clock_offset_us", device_wall - now);
  /* The device's recent incidents someone has acted on. */
  json_builder_set_member_name (r->b, "incidents");
  json_builder_begin_array (r->b);
  g_autoptr (sqlite3_stmt) inc =
    ansim_db_prepare (self->db,
                      "SELECT uuid, status, acknowledged_at_us FROM incidents WHERE device_id = ?1 "
                      "AND alerted_at_us > ?2 ORDER BY id DESC LIMIT 50",
                      NULL);
  if (inc != NULL)
    {
      sqlite3_bind_text (inc, 1, d->id, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (inc, 2, now - G_GINT64_CONSTANT (24 * 3600) * G_USEC_PER_SEC);
      while (sqlite3_step (inc) == SQLITE_ROW)
        {
          json_builder_begin_object (r->b);
          json_builder_set_member_name (r->b, "incident");
          json_builder_add_string_value (r->b, (const char *) sqlite3_column_text (inc, 0));
          json_builder_set_member_name (r->b, "status");
          json_builder_add_string_value (r->b, (const char *) sqlite3_column_text (inc, 1));
          json_builder_set_member_name (r->b, "acknowledged_at_us");
          if (sqlite3_column_type (inc, 2) == SQLITE_NULL)
            json_builder_add_null_value (r->b);
          else
            json_builder_add_int_value (r->b, sqlite3_column_int64 (inc, 2));
          json_builder_end_object (r->b);
        }
    }
  json_builder_end_array (r->b);
  /* The audit log's head, signed: desks keep these so that a rewrite of
   * the log shows (docs/receipts.md). */
  if (self->signing_key != NULL)
    {
      g_autoptr (GError) note_error = NULL;
      g_autofree char *note =
        panel_notes_audit_checkpoint (self->db, self->signing_key, &note_error);
      if (note == NULL && note_error != NULL)
        g_warning ("cannot sign an audit checkpoint: %s", note_error->message);
      if (note != NULL)
        add_string (r, "audit_checkpoint", note);
    }
  tell (self, PANEL_INGEST_HEARTBEAT, 0, 0);
}

/* The desk's channel (docs/protocol.md, "Channel"): its messages after
 * "after" now, or, when there are none and it asked to wait, a hold. */
static void
handle_channel (PanelIngest *self, Reply *r, const PanelRequest *req, const Device *d,
                PanelIngestWait **out_wait)
{
  static const char *const members[] = { "after", "wait_ms", NULL };
  g_autoptr (JsonObject) o = body_object (r, req->body, members);
  if (o == NULL)
    return;
  gint64 after = 0, wait_ms = 0;
  if (!get_int (r, o, "after", &after))
    return;
  if (after < 0)
    return reply_error (r, 400, "bad-request",
                        "member 'after' must be 0 or the seq of the "
                        "last message received, not %" G_GINT64_FORMAT,
                        after);
  if (json_object_has_member (o, "wait_ms") && !get_int (r, o, "wait_ms", &wait_ms))
    return;
  if (wait_ms < 0 || wait_ms > PANEL_CHANNEL_MAX_WAIT_MS)
    return reply_error (r, 400, "bad-request",
                        "member 'wait_ms' must be between 0 and %d, not %" G_GINT64_FORMAT,
                        PANEL_CHANNEL_MAX_WAIT_MS, wait_ms);
  g_autoptr (GError) error = NULL;
  reply_ok (r, 200, "ok");
  gint n = panel_channel_db_read (self->db, d->id, after, r->b, &error);
  if (n < 0)
    return reply_db_error (r, self->db, "reading the channel");
  if (n == 0 && wait_ms > 0 && out_wait != NULL)
    {
      *out_wait = g_new0 (PanelIngestWait, 1);
      **out_wait = (PanelIngestWait){ g_strdup (d->id), after, wait_ms };
    }
}

void
panel_ingest_wait_free (PanelIngestWait *wait)
{
  if (wait == NULL)
    return;
  g_free (wait->device_id);
  g_free (wait);
}

/* ---- routing -------------------------------------------------------------- */

static void
route (PanelIngest *self, Reply *r, const PanelRequest *req, PanelIngestWait **out_wait)
{
  const char *method = req->method != NULL ? req->method : "";
  const char *path = req->path != NULL ? req->path : "";
  if (!panel_ingest_owns_path (path))
    return reply_error (r, 404, "not-found", "no such resource");
  if (g_bytes_get_size (req->body) > self->max_body_size)
    return reply_error (r, 413, "too-large", "the body is over %zu bytes", self->max_body_size);
  /* One SHA-256 of the body serves the digest check, the manifest's
   * entry and the store. */
  gsize body_len = 0;
  const void *body_data = g_bytes_get_data (req->body, &body_len);
  guint8 body_sha[32];
  char body_hex[65];
  ansim_hash_sha256 (body_data, body_len, body_sha);
  ansim_hex_encode (body_sha, sizeof body_sha, body_hex);
  const char *rest = path + strlen (PANEL_API_PREFIX);
  g_auto (GStrv) parts = g_strsplit (rest, "/", 6);
  guint n = g_strv_length (parts);

  if (n == 1 && g_str_equal (parts[0], "enroll"))
    {
      if (!g_str_equal (method, "POST"))
        return reply_error (r, 405, "method-not-allowed", "use POST");
      return handle_enroll (self, r, req, body_sha);
    }

  /* Which handler, with its ids checked, before anything is read. */
  enum { NONE, ALERT, EVENT, MANIFEST, CHECKPOINT, SEGMENT, HEARTBEAT, CHANNEL } what = NONE;
  const char *want = "PUT";
  gint64 number = 0;
  const char *uuid = NULL;
  if (n == 1 && g_str_equal (parts[0], "heartbeat"))
    what = HEARTBEAT, want = "POST";
  else if (n == 1 && g_str_equal (parts[0], "channel"))
    what = CHANNEL, want = "POST";
  else if (n == 2 && g_str_equal (parts[0], "alerts"))
    what = ALERT, uuid = parts[1];
  else if (n == 2 && g_str_equal (parts[0], "events"))
    {
      if (!parse_index (parts[1], &number) || number == 0)
        return reply_error (r, 400, "bad-id", "an event id is a positive decimal number");
      what = EVENT;
    }
  else if (n == 3 && g_str_equal (parts[0], "incidents") && g_str_equal (parts[2], "manifest"))
    what = MANIFEST, uuid = parts[1];
  else if (n == 4 && g_str_equal (parts[0], "incidents") && g_str_equal (parts[2], "segments"))
    {
      if (!parse_index (parts[3], &number))
        return reply_error (r, 400, "bad-id", "a segment index is a decimal number");
      what = SEGMENT, uuid = parts[1];
    }
  else if (n == 4 && g_str_equal (parts[0], "incidents") && g_str_equal (parts[2], "checkpoints"))
    {
      if (!parse_index (parts[3], &number))
        return reply_error (r, 400, "bad-id", "a checkpoint sequence is a decimal number");
      what = CHECKPOINT, uuid = parts[1];
    }
  if (what == NONE)
    return reply_error (r, 404, "not-found", "no such resource");
  if (uuid != NULL && !ansim_is_uuid (uuid))
    return reply_error (r, 400, "bad-id", "an incident id is a lowercase UUID");
  if (!g_str_equal (method, want))
    return reply_error (r, 405, "method-not-allowed", "use %s", want);

  g_auto (Device) d = { 0 };
  if (!authenticate (self, r, req, body_sha, &d))
    return;
  switch (what)
    {
    case ALERT: return handle_alert (self, r, req, &d, uuid);
    case EVENT: return handle_event (self, r, req, &d, number);
    case MANIFEST: return handle_manifest (self, r, req, &d, uuid);
    case CHECKPOINT: return handle_checkpoint (self, r, req, &d, uuid, number);
    case SEGMENT: return handle_segment (self, r, req, &d, uuid, number, body_hex);
    case HEARTBEAT: return handle_heartbeat (self, r, req, &d);
    case CHANNEL: return handle_channel (self, r, req, &d, out_wait);
    case NONE: break;
    }
}

void
panel_ingest_handle (PanelIngest *self, const PanelRequest *request, guint *out_status,
                     char **out_json)
{
  panel_ingest_handle_full (self, request, out_status, out_json, NULL);
}

void
panel_ingest_handle_full (PanelIngest *self, const PanelRequest *request, guint *out_status,
                          char **out_json, PanelIngestWait **out_wait)
{
  Reply r = { 0 };
  if (out_wait != NULL)
    *out_wait = NULL;
  route (self, &r, request, out_wait);
  if (r.b == NULL)
    reply_error (&r, 500, "internal", "no answer");
  json_builder_end_object (r.b);
  g_autoptr (JsonNode) root = json_builder_get_root (r.b);
  g_object_unref (r.b);
  *out_status = r.status;
  *out_json = json_to_string (root, FALSE);
}
