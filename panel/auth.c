/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains people and access: scrypt password hashes (OpenSSL
 * EVP_KDF), the users and sessions tables, and login throttling. */
#include "auth.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "util.h"

G_DEFINE_QUARK (panel - auth - error - quark, panel_auth_error)

#define SALT_LEN 16
#define HASH_LEN 32
#define TOKEN_LEN 32
#define PASSWORD_MIN_CHARS 10
#define PASSWORD_MAX_BYTES 256

const PanelScryptParams panel_scrypt_default = { .log2_n = 17, .r = 8, .p = 1 };

static gpointer
read_current_params (gpointer data)
{
  static PanelScryptParams params;
  const char *text = g_getenv ("ANSIM_TEST_SCRYPT_LOG2_N");
  guint64 log2_n = 0;

  (void) data;
  params = panel_scrypt_default;
  if (text != NULL && g_ascii_string_to_unsigned (text, 10, 10, 20, &log2_n, NULL))
    params.log2_n = (guint) log2_n;
  return &params;
}

const PanelScryptParams *
panel_scrypt_current (void)
{
  static GOnce once = G_ONCE_INIT;
  return g_once (&once, read_current_params, NULL);
}

static const char *const role_names[] = { "security", "trainer", "admin", "auditor" };

const char *
panel_role_to_string (PanelRole role)
{
  for (guint i = 0; i < G_N_ELEMENTS (role_names); i++)
    if (role == (PanelRole) (1u << i))
      return role_names[i];
  return "none";
}

gboolean
panel_role_from_string (const char *name, PanelRole *out_role)
{
  for (guint i = 0; name != NULL && i < G_N_ELEMENTS (role_names); i++)
    if (strcmp (name, role_names[i]) == 0)
      {
        *out_role = 1u << i;
        return TRUE;
      }
  return FALSE;
}

/* ---- passwords -------------------------------------------------------- */

static gboolean
scrypt (const char *password, const guint8 *salt, gsize salt_len, const PanelScryptParams *params,
        guint8 *out, gsize out_len, GError **error)
{
  g_autoptr (EVP_KDF) kdf = EVP_KDF_fetch (NULL, "SCRYPT", NULL);
  g_autoptr (EVP_KDF_CTX) ctx = kdf != NULL ? EVP_KDF_CTX_new (kdf) : NULL;
  uint64_t n = (uint64_t) 1 << params->log2_n;
  uint32_t r = params->r, p = params->p;
  /* OpenSSL refuses parameters needing more than maxmem; allow what the
   * parsed bounds permit (2^20 * 128 * 8 = 1 GiB at most). */
  uint64_t maxmem = (uint64_t) 1 << 31;
  OSSL_PARAM ossl_params[] = {
    OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_PASSWORD, (void *) password,
                                       strlen (password)),
    OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_SALT, (void *) salt, salt_len),
    OSSL_PARAM_construct_uint64 (OSSL_KDF_PARAM_SCRYPT_N, &n),
    OSSL_PARAM_construct_uint32 (OSSL_KDF_PARAM_SCRYPT_R, &r),
    OSSL_PARAM_construct_uint32 (OSSL_KDF_PARAM_SCRYPT_P, &p),
    OSSL_PARAM_construct_uint64 (OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
    OSSL_PARAM_construct_end (),
  };

  if (ctx == NULL || EVP_KDF_derive (ctx, out, out_len, ossl_params) != 1)
    {
      g_set_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_CRYPTO,
                   "scrypt (N=2^%u, r=%u, p=%u) failed in OpenSSL", params->log2_n, params->r,
                   params->p);
      return FALSE;
    }
  return TRUE;
}

char *
panel_password_hash (const char *password, const PanelScryptParams *params, GError **error)
{
  guint8 salt[SALT_LEN], hash[HASH_LEN];
  g_autofree char *salt64 = NULL, *hash64 = NULL;

  if (params == NULL)
    params = panel_scrypt_current ();
  if (RAND_bytes (salt, sizeof salt) != 1)
    {
      g_set_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_CRYPTO, "no random bytes for a salt");
      return NULL;
    }
  if (!scrypt (password, salt, sizeof salt, params, hash, sizeof hash, error))
    return NULL;
  salt64 = g_base64_encode (salt, sizeof salt);
  hash64 = g_base64_encode (hash, sizeof hash);
  OPENSSL_cleanse (hash, sizeof hash);
  return g_strdup_printf ("$scrypt$ln=%u,r=%u,p=%u$%s$%s", params->log2_n, params->r, params->p,
                          salt64, hash64);
}

static gboolean
is_base64 (const char *s)
{
  return *s != '\0'
         && s[strspn (s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789+/=")]
              == '\0';
}

/* The parts of a stored hash; FALSE when it is malformed. */
static gboolean
parse_stored (const char *stored, PanelScryptParams *params, guint8 **out_salt, gsize *salt_len,
              guint8 **out_expected)
{
  g_auto (GStrv) parts = g_strsplit (stored, "$", -1);
  g_autofree guint8 *salt = NULL, *expected = NULL;
  gsize expected_len = 0;
  char tail = 0;

  /* "", "scrypt", "ln=..", SALT, HASH */
  if (g_strv_length (parts) != 5 || parts[0][0] != '\0' || strcmp (parts[1], "scrypt") != 0
      || sscanf (parts[2], "ln=%u,r=%u,p=%u%c", &params->log2_n, &params->r, &params->p, &tail) != 3
      || params->log2_n < 10 || params->log2_n > 20 || params->r < 1 || params->r > 32
      || params->p < 1 || params->p > 16 || !is_base64 (parts[3]) || !is_base64 (parts[4]))
    return FALSE;
  salt = g_base64_decode (parts[3], salt_len);
  expected = g_base64_decode (parts[4], &expected_len);
  if (*salt_len < 4 || expected_len != HASH_LEN)
    return FALSE;
  if (out_salt != NULL)
    *out_salt = g_steal_pointer (&salt);
  if (out_expected != NULL)
    *out_expected = g_steal_pointer (&expected);
  return TRUE;
}

gboolean
panel_password_needs_rehash (const char *stored)
{
  PanelScryptParams params = { 0 };
  const PanelScryptParams *now = panel_scrypt_current ();
  gsize salt_len = 0;

  if (!parse_stored (stored, &params, NULL, &salt_len, NULL))
    return FALSE;
  /* Memory cost N * r is what matters against GPUs. */
  return ((guint64) params.r << params.log2_n) < ((guint64) now->r << now->log2_n);
}

gboolean
panel_password_verify (const char *stored, const char *password, gboolean *out_match,
                       GError **error)
{
  PanelScryptParams params = { 0 };
  g_autofree guint8 *salt = NULL, *expected = NULL;
  gsize salt_len = 0;
  guint8 computed[HASH_LEN];

  *out_match = FALSE;
  if (!parse_stored (stored, &params, &salt, &salt_len, &expected))
    goto malformed;
  if (!scrypt (password, salt, salt_len, &params, computed, sizeof computed, error))
    return FALSE;
  *out_match = CRYPTO_memcmp (computed, expected, HASH_LEN) == 0;
  OPENSSL_cleanse (computed, sizeof computed);
  return TRUE;

malformed:
  g_set_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_INVALID,
               "stored password hash is malformed (expected $scrypt$ln=N,r=R,p=P$SALT$HASH)");
  return FALSE;
}

gboolean
panel_password_check_policy (const char *password, GError **error)
{
  if (!g_utf8_validate (password, -1, NULL))
    {
      g_set_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_INVALID, "password is not UTF-8");
      return FALSE;
    }
  if (g_utf8_strlen (password, -1) < PASSWORD_MIN_CHARS)
    {
      g_set_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_INVALID,
                   "password too short: at least %d characters", PASSWORD_MIN_CHARS);
      return FALSE;
    }
  if (strlen (password) > PASSWORD_MAX_BYTES)
    {
      g_set_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_INVALID,
                   "password too long: at most %d bytes", PASSWORD_MAX_BYTES);
      return FALSE;
    }
  return TRUE;
}

char *
panel_password_generate (void)
{
  /* 55 symbols, no 0/O, 1/l/I: read aloud or copied from a screen. */
  static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const guint n = sizeof alphabet - 1;
  char *out = g_malloc (21);
  guint i = 0;

  while (i < 20)
    {
      guint8 byte;
      if (RAND_bytes (&byte, 1) != 1)
        g_error ("no random bytes from OpenSSL");
      /* Rejection sampling keeps every symbol equally likely. */
      if (byte < 256 - 256 % n)
        out[i++] = alphabet[byte % n];
    }
  out[20] = '\0';
  return out;
}

static gpointer
make_dummy_hash (gpointer data)
{
  (void) data;
  g_autofree char *password = panel_password_generate ();
  char *hash = panel_password_hash (password, NULL, NULL);
  if (hash == NULL)
    g_error ("cannot compute a scrypt hash");
  return hash;
}

const char *
panel_password_dummy_hash (void)
{
  static GOnce once = G_ONCE_INIT;
  return g_once (&once, make_dummy_hash, NULL);
}

/* ---- users ------------------------------------------------------------ */

gboolean
panel_user_name_is_valid (const char *name)
{
  gsize len = name != NULL ? strlen (name) : 0;
  return len >= 1 && len <= 64
         && name[strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789._-")] == '\0';
}

static gboolean
check_name (const char *name, GError **error)
{
  if (!panel_user_name_is_valid (name))
    {
      g_set_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_INVALID,
                   "invalid user name '%.64s': use 1 to 64 of a-z, 0-9, '.', '_', '-'",
                   name != NULL ? name : "");
      return FALSE;
    }
  return TRUE;
}

/* {"key": "value", ...} from NULL-terminated key, value pairs. */
static char *detail_json (const char *key, ...) G_GNUC_NULL_TERMINATED;

static char *
detail_json (const char *key, ...)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  va_list args;

  json_builder_begin_object (b);
  va_start (args, key);
  for (; key != NULL; key = va_arg (args, const char *))
    {
      json_builder_set_member_name (b, key);
      json_builder_add_string_value (b, va_arg (args, const char *));
    }
  va_end (args);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* Write one user row (?1 name, ?2 text_arg, ?3 int_arg, ?4 text_arg2),
 * end the user's sessions if asked, and audit it, all in one transaction.
 * adding: the statement inserts, and no row written means the user exists;
 * else it changes, and no row written means there is no such user. */
static gboolean
write_user (sqlite3 *db, const char *name, gboolean adding, const char *sql, const char *text_arg,
            gint64 int_arg, const char *text_arg2, gboolean end_sessions, const char *actor,
            const char *actor_role, const char *client, const char *detail, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = NULL;
  g_autofree char *target = g_strdup_printf ("user %s", name);
  gint64 now = g_get_real_time ();

  if (!check_name (name, error) || !ansim_db_begin (db, error))
    return FALSE;
  stmt = ansim_db_prepare (db, sql, error);
  if (stmt == NULL)
    goto fail;
  sqlite3_bind_text (stmt, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, text_arg, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, int_arg);
  sqlite3_bind_text (stmt, 4, text_arg2, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    {
      ansim_db_set_error (db, error, adding ? "adding a user" : "changing a user");
      goto fail;
    }
  if (sqlite3_changes (db) == 0)
    {
      if (adding)
        g_set_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_EXISTS, "user '%s' exists already",
                     name);
      else
        g_set_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_NOT_FOUND, "no user named '%s'",
                     name);
      goto fail;
    }
  if (end_sessions)
    {
      g_autoptr (sqlite3_stmt) end = ansim_db_prepare (
        db, "UPDATE sessions SET ended_at_us = ?2 WHERE user_name = ?1 AND ended_at_us IS NULL",
        error);
      if (end == NULL)
        goto fail;
      sqlite3_bind_text (end, 1, name, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (end, 2, now);
      if (sqlite3_step (end) != SQLITE_DONE)
        {
          ansim_db_set_error (db, error, "ending sessions");
          goto fail;
        }
    }
  if (!panel_audit_append (db, actor, actor_role, client,
                           adding ? PANEL_AUDIT_USER_ADDED : PANEL_AUDIT_USER_CHANGED, target,
                           detail, error))
    goto fail;
  return ansim_db_commit (db, error);

fail:
  ansim_db_rollback (db);
  return FALSE;
}

gboolean
panel_user_add (sqlite3 *db, const char *name, PanelRole role, const char *password,
                const char *actor, const char *actor_role, const char *client, GError **error)
{
  g_autofree char *hash = NULL;
  g_autofree char *detail = NULL;

  if (!check_name (name, error) || !panel_password_check_policy (password, error))
    return FALSE;
  hash = panel_password_hash (password, NULL, error);
  if (hash == NULL)
    return FALSE;
  detail = detail_json ("role", panel_role_to_string (role), NULL);
  return write_user (db, name, TRUE,
                     "INSERT INTO users (name, role, password_hash, created_at_us,"
                     " password_changed_at_us) VALUES (?1, ?2, ?4, ?3, ?3)"
                     " ON CONFLICT (name) DO NOTHING",
                     panel_role_to_string (role), g_get_real_time (), hash, FALSE, actor,
                     actor_role, client, detail, error);
}

gboolean
panel_user_set_password (sqlite3 *db, const char *name, const char *password, const char *actor,
                         const char *actor_role, const char *client, GError **error)
{
  g_autofree char *hash = NULL;

  if (!panel_password_check_policy (password, error))
    return FALSE;
  hash = panel_password_hash (password, NULL, error);
  if (hash == NULL)
    return FALSE;
  return write_user (db, name, FALSE,
                     "UPDATE users SET password_hash = ?2, password_changed_at_us = ?3"
                     " WHERE name = ?1",
                     hash, g_get_real_time (), NULL, TRUE, actor, actor_role, client,
                     "{\"change\":\"password\"}", error);
}

gboolean
panel_user_set_disabled (sqlite3 *db, const char *name, gboolean disabled, const char *actor,
                         const char *actor_role, const char *client, GError **error)
{
  return write_user (db, name, FALSE,
                     disabled ? "UPDATE users SET disabled_at_us = coalesce (disabled_at_us, ?3)"
                                " WHERE name = ?1"
                              : "UPDATE users SET disabled_at_us = NULL WHERE name = ?1",
                     NULL, g_get_real_time (), NULL, disabled, actor, actor_role, client,
                     disabled ? "{\"change\":\"disabled\"}" : "{\"change\":\"enabled\"}", error);
}

gboolean
panel_user_set_role (sqlite3 *db, const char *name, PanelRole role, const char *actor,
                     const char *actor_role, const char *client, GError **error)
{
  g_autofree char *detail =
    detail_json ("change", "role", "role", panel_role_to_string (role), NULL);
  return write_user (db, name, FALSE, "UPDATE users SET role = ?2 WHERE name = ?1",
                     panel_role_to_string (role), 0, NULL, FALSE, actor, actor_role, client, detail,
                     error);
}

gboolean
panel_user_rehash (sqlite3 *db, const char *name, const char *old_hash, const char *new_hash,
                   GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db, "UPDATE users SET password_hash = ?3 WHERE name = ?1 AND password_hash = ?2", error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, old_hash, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, new_hash, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "storing a password hash of the current cost");
  return TRUE;
}

gboolean
panel_user_unlock (sqlite3 *db, const char *name, const char *actor, const char *actor_role,
                   const char *client, GError **error)
{
  return write_user (db, name, FALSE, "UPDATE users SET login_unlocked_at_us = ?3 WHERE name = ?1",
                     NULL, g_get_real_time (), NULL, FALSE, actor, actor_role, client,
                     "{\"change\":\"unlocked\"}", error);
}

gboolean
panel_user_count (sqlite3 *db, gint64 *out_count, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (db, "SELECT count(*) FROM users", error);

  if (stmt == NULL)
    return FALSE;
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return ansim_db_set_error (db, error, "counting users");
  *out_count = sqlite3_column_int64 (stmt, 0);
  return TRUE;
}

void
panel_user_free (PanelUser *user)
{
  if (user == NULL)
    return;
  g_free (user->name);
  if (user->password_hash != NULL)
    OPENSSL_cleanse (user->password_hash, strlen (user->password_hash));
  g_free (user->password_hash);
  g_free (user);
}

PanelUser *
panel_user_lookup (sqlite3 *db, const char *name, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = NULL;
  PanelUser *user;
  int rc;

  if (!panel_user_name_is_valid (name))
    return NULL;
  stmt = ansim_db_prepare (db,
                           "SELECT name, role, password_hash, disabled_at_us IS NOT NULL,"
                           " coalesce (login_unlocked_at_us, 0) FROM users WHERE name = ?1",
                           error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, name, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE)
    return NULL;
  if (rc != SQLITE_ROW)
    {
      ansim_db_set_error (db, error, "reading a user");
      return NULL;
    }
  user = g_new0 (PanelUser, 1);
  user->name = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  panel_role_from_string ((const char *) sqlite3_column_text (stmt, 1), &user->role);
  user->password_hash = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
  user->disabled = sqlite3_column_int (stmt, 3) != 0;
  user->login_unlocked_at_us = sqlite3_column_int64 (stmt, 4);
  return user;
}

/* ---- sessions --------------------------------------------------------- */

void
panel_session_free (PanelSession *session)
{
  if (session == NULL)
    return;
  g_free (session->user);
  g_free (session->token_sha256);
  g_free (session->csrf_token);
  g_free (session);
}

static char *
random_token (gboolean url_safe, GError **error)
{
  guint8 bytes[TOKEN_LEN];
  char *out;

  if (RAND_bytes (bytes, sizeof bytes) != 1)
    {
      g_set_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_CRYPTO, "no random bytes for a token");
      return NULL;
    }
  if (!url_safe)
    return ansim_hash_sha256_hex_dup (bytes, sizeof bytes);
  /* base64url without padding: cookie-safe. */
  out = g_base64_encode (bytes, sizeof bytes);
  g_strdelimit (out, "+", '-');
  g_strdelimit (out, "/", '_');
  *strchr (out, '=') = '\0';
  OPENSSL_cleanse (bytes, sizeof bytes);
  return out;
}

static char *
token_sha256 (const char *token)
{
  return ansim_hash_sha256_hex_dup (token, strlen (token));
}

PanelSession *
panel_session_create (sqlite3 *db, const char *user, PanelRole role, const char *client,
                      gint64 now_us, gint64 lifetime_us, char **out_token, GError **error)
{
  g_autofree char *token = random_token (TRUE, error);
  g_autofree char *csrf = token != NULL ? random_token (FALSE, error) : NULL;
  g_autoptr (sqlite3_stmt) stmt = NULL;
  g_autoptr (PanelSession) session = NULL;

  if (csrf == NULL)
    return NULL;
  session = g_new0 (PanelSession, 1);
  session->user = g_strdup (user);
  session->role = role;
  session->token_sha256 = token_sha256 (token);
  session->csrf_token = g_steal_pointer (&csrf);
  session->created_at_us = now_us;
  session->expires_at_us = now_us + lifetime_us;
  stmt = ansim_db_prepare (
    db,
    "INSERT INTO sessions (token_sha256, user_name, csrf_token, client, created_at_us,"
    " expires_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, session->token_sha256, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, user, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, session->csrf_token, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, client, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 5, session->created_at_us);
  sqlite3_bind_int64 (stmt, 6, session->expires_at_us);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    {
      ansim_db_set_error (db, error, "creating a session");
      return NULL;
    }
  /* Forget sessions long over, so the table stays small. */
  {
    g_autoptr (sqlite3_stmt) purge =
      ansim_db_prepare (db, "DELETE FROM sessions WHERE expires_at_us < ?1", NULL);
    if (purge != NULL)
      {
        sqlite3_bind_int64 (purge, 1, now_us - (gint64) 30 * 24 * 3600 * G_USEC_PER_SEC);
        sqlite3_step (purge);
      }
  }
  *out_token = g_steal_pointer (&token);
  return g_steal_pointer (&session);
}

PanelSession *
panel_session_lookup (sqlite3 *db, const char *token, gint64 now_us, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = NULL;
  g_autofree char *sha = NULL;
  PanelSession *session;
  int rc;

  /* 32 bytes in base64url: 43 characters. Anything else is not ours. */
  if (token == NULL || strlen (token) != 43
      || token[strspn (token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")]
           != '\0')
    return NULL;
  sha = token_sha256 (token);
  stmt = ansim_db_prepare (
    db,
    "SELECT s.user_name, u.role, s.csrf_token, s.created_at_us, s.expires_at_us"
    " FROM sessions s JOIN users u ON u.name = s.user_name"
    " WHERE s.token_sha256 = ?1 AND s.ended_at_us IS NULL AND s.expires_at_us > ?2"
    " AND u.disabled_at_us IS NULL",
    error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, sha, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, now_us);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE)
    return NULL;
  if (rc != SQLITE_ROW)
    {
      ansim_db_set_error (db, error, "reading a session");
      return NULL;
    }
  session = g_new0 (PanelSession, 1);
  session->user = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  panel_role_from_string ((const char *) sqlite3_column_text (stmt, 1), &session->role);
  session->token_sha256 = g_steal_pointer (&sha);
  session->csrf_token = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
  session->created_at_us = sqlite3_column_int64 (stmt, 3);
  session->expires_at_us = sqlite3_column_int64 (stmt, 4);
  return session;
}

gboolean
panel_session_end (sqlite3 *db, const char *sha, gint64 now_us, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db, "UPDATE sessions SET ended_at_us = ?2 WHERE token_sha256 = ?1 AND ended_at_us IS NULL",
    error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, sha, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, now_us);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "ending a session");
  return TRUE;
}

/* ---- login throttling -------------------------------------------------- */

/* Bound on remembered pairs and clients; past it, those whose last
 * failure is older than max_delay_us are dropped. */
#define THROTTLE_PRUNE_AT 4096
#define THROTTLE_FIRST_DELAY_US G_USEC_PER_SEC

typedef struct {
  guint failures;
  gint64 last_us; /* the last failure */
} Failures;

struct _PanelThrottle {
  guint free_failures;
  guint unknown_per_client;
  gint64 max_delay_us;
  GHashTable *pairs;   /* "ACCOUNT\nCLIENT" -> Failures */
  GHashTable *unknown; /* CLIENT -> Failures under names that are no user */
};

PanelThrottle *
panel_throttle_new (guint free_failures, guint unknown_per_client, gint64 max_delay_us)
{
  PanelThrottle *self = g_new0 (PanelThrottle, 1);

  self->free_failures = MAX (free_failures, 1);
  self->unknown_per_client = MAX (unknown_per_client, 1);
  self->max_delay_us = MAX (max_delay_us, THROTTLE_FIRST_DELAY_US);
  self->pairs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->unknown = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return self;
}

void
panel_throttle_free (PanelThrottle *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->pairs);
  g_hash_table_unref (self->unknown);
  g_free (self);
}

static char *
pair_key (const char *account, const char *client)
{
  return g_strdup_printf ("%s\n%s", account, client != NULL ? client : "");
}

/* The wait after f's failures: none for the first free ones, then 1 s
 * doubling per failure, at most max_delay_us. */
static gint64
backoff_us (PanelThrottle *self, const Failures *f)
{
  guint over;

  if (f == NULL || f->failures < self->free_failures)
    return 0;
  over = f->failures - self->free_failures;
  if (over >= 40)
    return self->max_delay_us;
  return MIN ((gint64) THROTTLE_FIRST_DELAY_US << over, self->max_delay_us);
}

gint64
panel_throttle_check (PanelThrottle *self, const char *account, const char *client,
                      gint64 unlocked_at_us, gint64 now_us)
{
  Failures *f;
  gint64 until;

  if (account == NULL)
    {
      f = client != NULL ? g_hash_table_lookup (self->unknown, client) : NULL;
      if (f == NULL || f->failures < self->unknown_per_client
          || f->last_us + self->max_delay_us <= now_us)
        return 0;
      return f->last_us + self->max_delay_us - now_us;
    }
  {
    g_autofree char *key = pair_key (account, client);
    f = g_hash_table_lookup (self->pairs, key);
    if (f != NULL && (f->last_us < unlocked_at_us || f->last_us + self->max_delay_us <= now_us))
      {
        /* Unlocked on the panel host, or quiet long enough: forgotten. */
        g_hash_table_remove (self->pairs, key);
        return 0;
      }
    until = f != NULL ? f->last_us + backoff_us (self, f) : 0;
    return until > now_us ? until - now_us : 0;
  }
}

static gboolean
is_stale (gpointer key, gpointer value, gpointer user_data)
{
  (void) key;
  const Failures *f = value;
  const gint64 *cutoff = user_data;
  return f->last_us <= *cutoff;
}

static void
record (PanelThrottle *self, GHashTable *table, char *key, gint64 now_us)
{
  Failures *f;

  if (g_hash_table_size (table) >= THROTTLE_PRUNE_AT)
    {
      gint64 cutoff = now_us - self->max_delay_us;
      g_hash_table_foreach_remove (table, is_stale, &cutoff);
    }
  f = g_hash_table_lookup (table, key);
  if (f == NULL)
    {
      f = g_new0 (Failures, 1);
      g_hash_table_insert (table, g_strdup (key), f);
    }
  else if (f->last_us + self->max_delay_us <= now_us)
    f->failures = 0;
  f->failures++;
  f->last_us = now_us;
  g_free (key);
}

void
panel_throttle_failure (PanelThrottle *self, const char *account, const char *client, gint64 now_us)
{
  if (account != NULL)
    record (self, self->pairs, pair_key (account, client), now_us);
  else if (client != NULL)
    record (self, self->unknown, g_strdup (client), now_us);
}

void
panel_throttle_success (PanelThrottle *self, const char *account, const char *client)
{
  g_autofree char *key = NULL;

  if (account == NULL)
    return;
  key = pair_key (account, client);
  g_hash_table_remove (self->pairs, key);
}

guint
panel_throttle_size (PanelThrottle *self)
{
  return g_hash_table_size (self->pairs) + g_hash_table_size (self->unknown);
}
