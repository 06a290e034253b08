/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Small helpers every ansim program shares, written once: SHA-256 in
 * lowercase hex, the public value checks (ids, hashes, names, tokens), the
 * OpenSSL error as a GError and the autoptr cleanups for OpenSSL types.
 * They never log; checks accept NULL and say FALSE. */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_PKEY_CTX, EVP_PKEY_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_MD_CTX, EVP_MD_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_CIPHER_CTX, EVP_CIPHER_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_KDF, EVP_KDF_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_KDF_CTX, EVP_KDF_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BIO, BIO_free)

#define ANSIM_SHA256_LEN 32
#define ANSIM_SHA256_HEX_LEN 64

/* ---- SHA-256 --------------------------------------------------------------- */

/* SHA-256 with OpenSSL (SHA-NI where the CPU has it; several times faster
 * than GChecksum on large bodies). SHA-256 is always in OpenSSL's default
 * provider: a failure means a broken installation, on which no evidence
 * may be made, so these abort (g_error) rather than return an error.
 * data may be NULL when len is 0. */
void ansim_hash_sha256 (const void *data, gsize len, guint8 out[ANSIM_SHA256_LEN]);
/* The same as lowercase hex: 64 characters and a NUL. */
void ansim_hash_sha256_hex (const void *data, gsize len, char out_hex[ANSIM_SHA256_HEX_LEN + 1]);
/* Newly allocated lowercase hex of data, or of bytes (NULL: of no bytes). */
char *ansim_hash_sha256_hex_dup (const void *data, gsize len);
char *ansim_hash_sha256_hex_bytes (GBytes *bytes);
/* Streaming: begin, EVP_DigestUpdate() any number of times, then end (which
 * does not free the context). */
EVP_MD_CTX *ansim_hash_sha256_begin (void);
void ansim_hash_sha256_end (EVP_MD_CTX *ctx, guint8 out[ANSIM_SHA256_LEN]);
void ansim_hash_sha256_end_hex (EVP_MD_CTX *ctx, char out_hex[ANSIM_SHA256_HEX_LEN + 1]);

/* n bytes as 2n lowercase hex digits and a NUL into out (2n + 1 bytes). */
void ansim_hex_encode (const guint8 *in, gsize n, char *out);

/* ---- value checks ---------------------------------------------------------- */

#define ANSIM_NAME_MAX 64  /* device, desk, source names */
#define ANSIM_TOKEN_MAX 64 /* kinds and close reasons */
#define ANSIM_TEXT_MAX 256 /* free text: trigger names, reasons */

/* A UUID in the 8-4-4-4-12 form, lowercase hex only (the one spelling ansim
 * writes, so that ids compare as strings). */
gboolean ansim_is_uuid (const char *s);
/* Exactly 64 lowercase hex digits (a SHA-256). */
gboolean ansim_is_sha256_hex (const char *s);
/* A name (device, desk): 1..ANSIM_NAME_MAX of [A-Za-z0-9._-]. */
gboolean ansim_is_name (const char *s);
/* A token: 1..ANSIM_TOKEN_MAX of [a-z0-9-], not starting with '-'. */
gboolean ansim_is_token (const char *s);
/* Text: 1..ANSIM_TEXT_MAX bytes of valid UTF-8 without control characters,
 * so that it stays on one line wherever it is written. */
gboolean ansim_is_text (const char *s);

/* ---- OpenSSL errors ------------------------------------------------------- */

/* Sets error (domain, code) to "WHAT: <OpenSSL's first queued error>",
 * clears OpenSSL's error queue for this thread, and returns FALSE so that
 * a caller can write `return ansim_set_openssl_error (…);`. */
gboolean ansim_set_openssl_error (GError **error, GQuark domain, int code, const char *what);

/* ---- retries ---------------------------------------------------------------- */

/* The wait before attempt number attempt (1: the first retry), in the unit
 * of initial and max: initial doubled per attempt up to max, then a random
 * point in its upper half, so that many clients do not retry in step. */
gint64 ansim_backoff (gint64 initial, gint64 max, gint64 attempt);

/* ---- JSON integers ----------------------------------------------------------- */

/* FALSE with an error naming the first integer literal in JSON text that
 * does not fit 64 bits (json-glib wraps such numbers silently: 2^64 + 5
 * reads as 5). Looks at literals outside strings; text need not be valid
 * JSON (the parser says what else is wrong). */
gboolean ansim_json_integers_fit (const char *text, gsize len, GError **error);

G_END_DECLS
