/* SPDX-License-Identifier: GPL-3.0-or-later */
/* age v1 (c2sp.org/age) with OpenSSL 3: X25519 recipient stanzas, HKDF-SHA-256,
 * the header HMAC and the ChaCha20-Poly1305 STREAM payload, both directions.
 * One job, the age format, so it is long: encryptor and decryptor share
 * the header code and must stay byte-compatible with the age tool. */
#include "age.h"

#include "bech32.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

G_DEFINE_QUARK (ansim - age - error - quark, ansim_age_error)

#define X25519_SIZE 32
#define FILE_KEY_SIZE 16
#define PAYLOAD_NONCE_SIZE 16
#define AEAD_NONCE_SIZE 12
#define MAC_SIZE 32
#define WRAPPED_KEY_SIZE (FILE_KEY_SIZE + ANSIM_AGE_TAG_SIZE)
#define CT_CHUNK_SIZE (ANSIM_AGE_CHUNK_SIZE + ANSIM_AGE_TAG_SIZE)
#define BODY_COLUMNS 64
#define BODY_LINE_BYTES 48
/* A peer controls the header; our files have a few hundred bytes of it and
 * even a post-quantum stanza is under 2 KiB. */
#define HEADER_MAX (1024 * 1024)
/* Each X25519 stanza costs a scalar multiplication per identity; real files
 * have a few recipients. */
#define STANZAS_MAX 1024
#define IDENTITY_FILE_MAX (64 * 1024)

static const char version_line[] = "age-encryption.org/v1";
static const char version_prefix[] = "age-encryption.org/";
static const char x25519_label[] = "age-encryption.org/v1/X25519";
static const char secret_hrp[] = "AGE-SECRET-KEY-";
static const char recipient_hrp[] = "age";

struct _AnsimAgeRecipient {
  guint8 public_key[X25519_SIZE];
};

struct _AnsimAgeIdentity {
  guint8 secret_key[X25519_SIZE];
  guint8 public_key[X25519_SIZE];
};

/* ---- OpenSSL helpers ---------------------------------------------------- */

typedef struct {
  EVP_CIPHER *chacha;
  EVP_KDF *hkdf;
} Algorithms;

/* Fetched once per process: implicit fetches on every chunk would cost a
 * lock and a lookup each. Never freed (process lifetime). */
static const Algorithms *
algorithms (void)
{
  static gsize once;
  static Algorithms algs;

  if (g_once_init_enter (&once))
    {
      algs.chacha = EVP_CIPHER_fetch (NULL, "ChaCha20-Poly1305", NULL);
      algs.hkdf = EVP_KDF_fetch (NULL, "HKDF", NULL);
      g_once_init_leave (&once, 1);
    }
  return &algs;
}

static gboolean
set_openssl_error (GError **error, const char *what)
{
  return ansim_set_openssl_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_FAILED, what);
}

static gboolean
hkdf_sha256 (const guint8 *ikm, gsize ikm_len, const guint8 *salt, gsize salt_len, const char *info,
             guint8 out[32], GError **error)
{
  const Algorithms *algs = algorithms ();
  g_autoptr (EVP_KDF_CTX) kctx = NULL;
  OSSL_PARAM params[5], *p = params;

  if (algs->hkdf == NULL || (kctx = EVP_KDF_CTX_new (algs->hkdf)) == NULL)
    return set_openssl_error (error, "HKDF unavailable");
  *p++ = OSSL_PARAM_construct_utf8_string (OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0);
  *p++ = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_KEY, (void *) ikm, ikm_len);
  /* An absent salt is HashLen zero bytes, the same HMAC key as an empty one. */
  if (salt_len > 0)
    *p++ = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_SALT, (void *) salt, salt_len);
  *p++ = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_INFO, (void *) info, strlen (info));
  *p = OSSL_PARAM_construct_end ();
  if (EVP_KDF_derive (kctx, out, 32, params) <= 0)
    return set_openssl_error (error, "HKDF failed");
  return TRUE;
}

static EVP_CIPHER_CTX *
chacha_ctx_new (const guint8 key[32], gboolean encrypt, GError **error)
{
  const Algorithms *algs = algorithms ();
  g_autoptr (EVP_CIPHER_CTX) ctx = NULL;
  int ok;

  if (algs->chacha == NULL || (ctx = EVP_CIPHER_CTX_new ()) == NULL)
    {
      set_openssl_error (error, "ChaCha20-Poly1305 unavailable");
      return NULL;
    }
  if (encrypt)
    ok = EVP_EncryptInit_ex2 (ctx, algs->chacha, key, NULL, NULL);
  else
    ok = EVP_DecryptInit_ex2 (ctx, algs->chacha, key, NULL, NULL);
  if (ok <= 0)
    {
      set_openssl_error (error, "ChaCha20-Poly1305 setup failed");
      return NULL;
    }
  return g_steal_pointer (&ctx);
}

/* Seals len bytes (out may equal in) and appends the 16-byte tag. The key
 * stays set in ctx; only the nonce changes, which is all a chunk needs. */
static gboolean
chacha_seal (EVP_CIPHER_CTX *ctx, const guint8 nonce[AEAD_NONCE_SIZE], const guint8 *in, gsize len,
             guint8 *out)
{
  int outl = 0, finl = 0;

  if (EVP_EncryptInit_ex2 (ctx, NULL, NULL, nonce, NULL) <= 0)
    return FALSE;
  if (len > 0 && EVP_EncryptUpdate (ctx, out, &outl, in, (int) len) <= 0)
    return FALSE;
  if (EVP_EncryptFinal_ex (ctx, out + outl, &finl) <= 0)
    return FALSE;
  return EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_AEAD_GET_TAG, ANSIM_AGE_TAG_SIZE, out + len) > 0;
}

/* Opens len bytes (ciphertext and tag) into out. Returns TRUE only for
 * authentic input; otherwise out is wiped, so nothing unauthenticated can
 * leak to a caller. */
static gboolean
chacha_open (EVP_CIPHER_CTX *ctx, const guint8 nonce[AEAD_NONCE_SIZE], const guint8 *in, gsize len,
             guint8 *out)
{
  gsize ct_len = len - ANSIM_AGE_TAG_SIZE;
  int outl = 0, finl = 0;

  g_assert (len >= ANSIM_AGE_TAG_SIZE);
  if (EVP_DecryptInit_ex2 (ctx, NULL, NULL, nonce, NULL) > 0
      && (ct_len == 0 || EVP_DecryptUpdate (ctx, out, &outl, in, (int) ct_len) > 0)
      && EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_AEAD_SET_TAG, ANSIM_AGE_TAG_SIZE,
                              (void *) (in + ct_len))
           > 0
      && EVP_DecryptFinal_ex (ctx, out + outl, &finl) > 0)
    return TRUE;
  OPENSSL_cleanse (out, ct_len);
  ERR_clear_error ();
  return FALSE;
}

static EVP_PKEY *
x25519_private_key (const guint8 secret[X25519_SIZE], GError **error)
{
  EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key (EVP_PKEY_X25519, NULL, secret, X25519_SIZE);

  if (pkey == NULL)
    set_openssl_error (error, "X25519 key setup failed");
  return pkey;
}

static gboolean
x25519_public_key (EVP_PKEY *pkey, guint8 out[X25519_SIZE], GError **error)
{
  size_t len = X25519_SIZE;

  if (EVP_PKEY_get_raw_public_key (pkey, out, &len) <= 0 || len != X25519_SIZE)
    return set_openssl_error (error, "X25519 public key unavailable");
  return TRUE;
}

/* X25519(ours, peer). Returns FALSE when the result would be all zero (a
 * low-order peer point), which age requires us to refuse. OpenSSL itself
 * refuses that case in EVP_PKEY_derive; with two valid 32-byte keys it is
 * the only way derive fails, and the explicit check below guards the rest. */
static gboolean
x25519_shared (EVP_PKEY *ours, const guint8 peer[X25519_SIZE], guint8 out[X25519_SIZE])
{
  static const guint8 zero[X25519_SIZE];
  g_autoptr (EVP_PKEY_CTX) ctx = NULL;
  g_autoptr (EVP_PKEY) peer_key = NULL;
  size_t len = X25519_SIZE;
  gboolean ok;

  peer_key = EVP_PKEY_new_raw_public_key (EVP_PKEY_X25519, NULL, peer, X25519_SIZE);
  ctx = EVP_PKEY_CTX_new_from_pkey (NULL, ours, NULL);
  ok = peer_key != NULL && ctx != NULL && EVP_PKEY_derive_init (ctx) > 0
       && EVP_PKEY_derive_set_peer_ex (ctx, peer_key, 0) > 0 && EVP_PKEY_derive (ctx, out, &len) > 0
       && len == X25519_SIZE && CRYPTO_memcmp (out, zero, X25519_SIZE) != 0;
  if (!ok)
    {
      OPENSSL_cleanse (out, X25519_SIZE);
      ERR_clear_error ();
    }
  return ok;
}

static gboolean
random_bytes (guint8 *out, gsize len, GError **error)
{
  if (RAND_priv_bytes (out, (int) len) <= 0)
    return set_openssl_error (error, "random generator failed");
  return TRUE;
}

/* ---- base64 without padding, canonical only ------------------------------ */

static const char b64_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static gsize
b64_encoded_len (gsize n)
{
  return (n * 4 + 2) / 3;
}

static void
b64_encode_append (GString *out, const guint8 *in, gsize n)
{
  gsize i;

  for (i = 0; i + 3 <= n; i += 3)
    {
      guint32 v = (guint32) in[i] << 16 | (guint32) in[i + 1] << 8 | in[i + 2];
      g_string_append_c (out, b64_alphabet[v >> 18]);
      g_string_append_c (out, b64_alphabet[(v >> 12) & 63]);
      g_string_append_c (out, b64_alphabet[(v >> 6) & 63]);
      g_string_append_c (out, b64_alphabet[v & 63]);
    }
  if (n - i == 1)
    {
      guint32 v = (guint32) in[i] << 16;
      g_string_append_c (out, b64_alphabet[v >> 18]);
      g_string_append_c (out, b64_alphabet[(v >> 12) & 63]);
    }
  else if (n - i == 2)
    {
      guint32 v = (guint32) in[i] << 16 | (guint32) in[i + 1] << 8;
      g_string_append_c (out, b64_alphabet[v >> 18]);
      g_string_append_c (out, b64_alphabet[(v >> 12) & 63]);
      g_string_append_c (out, b64_alphabet[(v >> 6) & 63]);
    }
}

static int
b64_value (guint8 c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* Decodes unpadded base64 into out (room for out_size bytes). Refuses any
 * character outside the alphabet ('=', CR, LF included), an impossible
 * length and non-zero unused bits, so every value has one encoding. */
static gboolean
b64_decode (const guint8 *in, gsize len, guint8 *out, gsize out_size, gsize *out_len)
{
  guint32 acc = 0;
  guint bits = 0;
  gsize o = 0;

  if (len % 4 == 1 || len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > out_size)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      int v = b64_value (in[i]);

      if (v < 0)
        return FALSE;
      acc = ((acc << 6) | (guint32) v) & 0xfff;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          out[o++] = (acc >> bits) & 0xff;
        }
    }
  if ((acc & ((1u << bits) - 1)) != 0)
    return FALSE;
  *out_len = o;
  return TRUE;
}

/* ---- keys ----------------------------------------------------------------- */

AnsimAgeRecipient *
ansim_age_recipient_parse (const char *text, GError **error)
{
  g_autoptr (AnsimAgeRecipient) recipient = NULL;
  const char *reason = NULL;
  char hrp[32];
  gsize len = 0;

  g_return_val_if_fail (text != NULL, NULL);

  if (g_str_has_prefix (text, "age1pq1") || g_str_has_prefix (text, "age1tag"))
    {
      g_set_error (
        error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY,
        "unsupported age recipient type (only X25519 \"age1…\" recipients are supported): %.20s…",
        text);
      return NULL;
    }
  if (g_str_has_prefix (text, "AGE-SECRET-KEY-"))
    {
      /* Never echo a secret key pasted in the wrong place. */
      g_set_error_literal (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY,
                           "this is an age secret key (identity), not a recipient; "
                           "the recipient is its public key (age1…)");
      return NULL;
    }
  if (g_str_has_prefix (text, "ssh-"))
    {
      g_set_error_literal (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY,
                           "SSH recipients are not supported; use an age X25519 recipient (age1…)");
      return NULL;
    }

  recipient = g_new0 (AnsimAgeRecipient, 1);
  if (!ansim_bech32_decode (text, hrp, sizeof hrp, recipient->public_key,
                            sizeof recipient->public_key, &len, &reason))
    {
      g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY,
                   "malformed age recipient \"%.100s\": %s", text, reason);
      return NULL;
    }
  if (strcmp (hrp, recipient_hrp) != 0 || len != X25519_SIZE)
    {
      g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY,
                   "malformed age recipient \"%.100s\": not an X25519 recipient (age1…)", text);
      return NULL;
    }
  return g_steal_pointer (&recipient);
}

char *
ansim_age_recipient_to_string (const AnsimAgeRecipient *recipient)
{
  g_return_val_if_fail (recipient != NULL, NULL);
  return ansim_bech32_encode (recipient_hrp, recipient->public_key, X25519_SIZE);
}

void
ansim_age_recipient_free (AnsimAgeRecipient *recipient)
{
  g_free (recipient);
}

static AnsimAgeIdentity *
identity_from_secret (const guint8 secret[X25519_SIZE], GError **error)
{
  g_autoptr (AnsimAgeIdentity) identity = g_new0 (AnsimAgeIdentity, 1);
  g_autoptr (EVP_PKEY) pkey = NULL;

  memcpy (identity->secret_key, secret, X25519_SIZE);
  pkey = x25519_private_key (identity->secret_key, error);
  if (pkey == NULL || !x25519_public_key (pkey, identity->public_key, error))
    return NULL;
  return g_steal_pointer (&identity);
}

AnsimAgeIdentity *
ansim_age_identity_parse (const char *text, GError **error)
{
  const char *reason = NULL;
  guint8 secret[X25519_SIZE];
  AnsimAgeIdentity *identity;
  char hrp[32];
  gsize len = 0;

  g_return_val_if_fail (text != NULL, NULL);

  /* Messages never quote the text: it is a secret key. */
  if (g_str_has_prefix (text, "AGE-SECRET-KEY-PQ-"))
    {
      g_set_error_literal (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY,
                           "post-quantum (ML-KEM hybrid) age identities are not supported");
      return NULL;
    }
  if (g_str_has_prefix (text, "AGE-PLUGIN-"))
    {
      g_set_error_literal (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY,
                           "age plugin identities are not supported");
      return NULL;
    }
  if (!ansim_bech32_decode (text, hrp, sizeof hrp, secret, sizeof secret, &len, &reason))
    {
      g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY,
                   "malformed age identity: %s", reason);
      return NULL;
    }
  if (strcmp (hrp, secret_hrp) != 0 || len != X25519_SIZE)
    {
      OPENSSL_cleanse (secret, sizeof secret);
      g_set_error_literal (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY,
                           "malformed age identity: not an X25519 identity (AGE-SECRET-KEY-1…)");
      return NULL;
    }
  identity = identity_from_secret (secret, error);
  OPENSSL_cleanse (secret, sizeof secret);
  return identity;
}

AnsimAgeIdentity *
ansim_age_identity_generate (GError **error)
{
  guint8 secret[X25519_SIZE];
  AnsimAgeIdentity *identity;

  if (!random_bytes (secret, sizeof secret, error))
    return NULL;
  identity = identity_from_secret (secret, error);
  OPENSSL_cleanse (secret, sizeof secret);
  return identity;
}

char *
ansim_age_identity_to_string (const AnsimAgeIdentity *identity)
{
  g_return_val_if_fail (identity != NULL, NULL);
  return ansim_bech32_encode (secret_hrp, identity->secret_key, X25519_SIZE);
}

AnsimAgeRecipient *
ansim_age_identity_to_recipient (const AnsimAgeIdentity *identity)
{
  AnsimAgeRecipient *recipient;

  g_return_val_if_fail (identity != NULL, NULL);
  recipient = g_new0 (AnsimAgeRecipient, 1);
  memcpy (recipient->public_key, identity->public_key, X25519_SIZE);
  return recipient;
}

void
ansim_age_identity_free (AnsimAgeIdentity *identity)
{
  if (identity == NULL)
    return;
  OPENSSL_cleanse (identity, sizeof *identity);
  g_free (identity);
}

void
ansim_age_secret_free (char *secret)
{
  if (secret == NULL)
    return;
  OPENSSL_cleanse (secret, strlen (secret));
  g_free (secret);
}

GPtrArray *
ansim_age_identities_parse (const char *data, gsize len, const char *origin, GError **error)
{
  g_autoptr (GPtrArray) identities =
    g_ptr_array_new_with_free_func ((GDestroyNotify) ansim_age_identity_free);
  const char *p = data, *end = data + len;
  guint line_no = 0;

  g_return_val_if_fail (data != NULL || len == 0, NULL);
  if (origin == NULL)
    origin = "identity file";

  if (len > IDENTITY_FILE_MAX)
    {
      g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY,
                   "%s: larger than %d KiB, not an age identity file", origin,
                   IDENTITY_FILE_MAX / 1024);
      return NULL;
    }

  while (p < end)
    {
      const char *nl = memchr (p, '\n', end - p);
      const char *line_end = nl ? nl : end;
      gsize line_len;
      char line[256];
      g_autoptr (GError) local = NULL;
      AnsimAgeIdentity *identity;

      line_no++;
      line_len = line_end - p;
      /* age (Go's line scanner) accepts CRLF files. */
      if (line_len > 0 && p[line_len - 1] == '\r')
        line_len--;
      if (line_len == 0 || p[0] == '#')
        {
          p = nl ? nl + 1 : end;
          continue;
        }
      if (line_len >= sizeof line || memchr (p, '\0', line_len) != NULL)
        {
          g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY,
                       "%s: line %u: not an age identity", origin, line_no);
          return NULL;
        }
      memcpy (line, p, line_len);
      line[line_len] = '\0';
      identity = ansim_age_identity_parse (line, &local);
      OPENSSL_cleanse (line, sizeof line);
      if (identity == NULL)
        {
          g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY, "%s: line %u: %s",
                       origin, line_no, local->message);
          return NULL;
        }
      g_ptr_array_add (identities, identity);
      p = nl ? nl + 1 : end;
    }

  if (identities->len == 0)
    {
      g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY, "%s: no identities found",
                   origin);
      return NULL;
    }
  return g_steal_pointer (&identities);
}

GPtrArray *
ansim_age_identities_load (const char *path, GError **error)
{
  g_autofree char *display = NULL;
  GPtrArray *identities = NULL;
  char *buf;
  gsize len = 0;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);

  display = g_filename_display_name (path);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "%s: cannot open identity file: %s", display, g_strerror (saved));
      return NULL;
    }

  /* One fixed buffer, read in place: growing it would leave copies of the
   * secret in freed memory. */
  buf = g_malloc (IDENTITY_FILE_MAX + 1);
  for (;;)
    {
      ssize_t n = read (fd, buf + len, IDENTITY_FILE_MAX + 1 - len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       "%s: cannot read identity file: %s", display, g_strerror (saved));
          goto out;
        }
      if (n == 0)
        break;
      len += n;
      if (len > IDENTITY_FILE_MAX)
        break;
    }
  identities = ansim_age_identities_parse (buf, len, display, error);

out:
  OPENSSL_cleanse (buf, IDENTITY_FILE_MAX + 1);
  g_free (buf);
  close (fd);
  return identities;
}

char *
ansim_age_keygen (char **out_recipient, GError **error)
{
  g_autoptr (AnsimAgeIdentity) identity = NULL;
  g_autoptr (AnsimAgeRecipient) recipient = NULL;
  g_autoptr (GDateTime) now = NULL;
  g_autofree char *public = NULL;
  g_autofree char *created = NULL;
  char *secret, *text, *p;
  gsize len;

  identity = ansim_age_identity_generate (error);
  if (identity == NULL)
    return NULL;
  recipient = ansim_age_identity_to_recipient (identity);
  public = ansim_age_recipient_to_string (recipient);
  secret = ansim_age_identity_to_string (identity);

  /* Same lines as age-keygen, RFC 3339 local time ("Z" when UTC, as Go
   * prints it). */
  now = g_date_time_new_now_local ();
  if (g_date_time_get_utc_offset (now) == 0)
    created = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
  else
    created = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S%:z");

  /* Assembled at its exact size: printf-style growth would scatter copies
   * of the secret through the heap. */
  len = strlen ("# created: \n# public key: \n\n") + strlen (created) + strlen (public)
        + strlen (secret);
  text = p = g_malloc (len + 1);
  p = g_stpcpy (p, "# created: ");
  p = g_stpcpy (p, created);
  p = g_stpcpy (p, "\n# public key: ");
  p = g_stpcpy (p, public);
  p = g_stpcpy (p, "\n");
  p = g_stpcpy (p, secret);
  p = g_stpcpy (p, "\n");
  g_assert ((gsize) (p - text) == len);
  ansim_age_secret_free (secret);

  if (out_recipient != NULL)
    *out_recipient = g_steal_pointer (&public);
  return text;
}

/* ---- encryption ----------------------------------------------------------- */

/* Output to a GOutputStream (the _new_for_stream variants). */
typedef struct {
  GOutputStream *stream;
  GCancellable *cancellable; /* may be NULL */
} StreamSink;

struct _AnsimAgeEncryptor {
  AnsimAgeWriteFunc write_func;
  gpointer user_data;
  StreamSink sink;     /* owned refs when writing to a stream */
  EVP_CIPHER_CTX *ctx; /* keyed with the payload key once */
  guint64 chunk_index;
  gsize buf_len;   /* plaintext bytes waiting in buf */
  GError *failure; /* first error, repeated by later calls */
  gboolean finished;
  /* One chunk: plaintext, sealed in place, tag appended. */
  guint8 buf[CT_CHUNK_SIZE];
};

static void
stream_nonce (guint64 index, gboolean last, guint8 nonce[AEAD_NONCE_SIZE])
{
  /* 11-byte big-endian counter, then the last-chunk flag. */
  memset (nonce, 0, AEAD_NONCE_SIZE);
  for (guint i = 0; i < 8; i++)
    nonce[10 - i] = (index >> (8 * i)) & 0xff;
  nonce[11] = last ? 0x01 : 0x00;
}

static gboolean
stream_sink_write (const guint8 *data, gsize len, gpointer user_data, GError **error)
{
  StreamSink *sink = user_data;

  return g_output_stream_write_all (sink->stream, data, len, NULL, sink->cancellable, error);
}

static void
stream_sink_init (StreamSink *sink, GOutputStream *stream, GCancellable *cancellable)
{
  sink->stream = g_object_ref (stream);
  sink->cancellable = cancellable ? g_object_ref (cancellable) : NULL;
}

static void
stream_sink_clear (StreamSink *sink)
{
  g_clear_object (&sink->stream);
  g_clear_object (&sink->cancellable);
}

/* Builds one X25519 stanza for recipient and appends it to header. */
static gboolean
append_x25519_stanza (GString *header, const AnsimAgeRecipient *recipient,
                      const guint8 file_key[FILE_KEY_SIZE], GError **error)
{
  g_autoptr (EVP_PKEY) ephemeral = NULL;
  g_autoptr (EVP_CIPHER_CTX) ctx = NULL;
  static const guint8 zero_nonce[AEAD_NONCE_SIZE];
  guint8 share[X25519_SIZE], shared[X25519_SIZE], wrap_key[32];
  guint8 salt[2 * X25519_SIZE], body[WRAPPED_KEY_SIZE];
  gboolean ok = FALSE;

  /* A new ephemeral secret for every stanza of every file. */
  ephemeral = EVP_PKEY_Q_keygen (NULL, NULL, "X25519");
  if (ephemeral == NULL)
    return set_openssl_error (error, "X25519 key generation failed");
  if (!x25519_public_key (ephemeral, share, error))
    return FALSE;
  if (!x25519_shared (ephemeral, recipient->public_key, shared))
    {
      g_autofree char *text = ansim_age_recipient_to_string (recipient);
      g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY,
                   "recipient %s is not a usable X25519 public key (low-order point)", text);
      return FALSE;
    }

  memcpy (salt, share, X25519_SIZE);
  memcpy (salt + X25519_SIZE, recipient->public_key, X25519_SIZE);
  if (!hkdf_sha256 (shared, sizeof shared, salt, sizeof salt, x25519_label, wrap_key, error))
    goto out;
  ctx = chacha_ctx_new (wrap_key, TRUE, error);
  if (ctx == NULL)
    goto out;
  if (!chacha_seal (ctx, zero_nonce, file_key, FILE_KEY_SIZE, body))
    {
      set_openssl_error (error, "wrapping the file key failed");
      goto out;
    }

  g_string_append (header, "-> X25519 ");
  b64_encode_append (header, share, sizeof share);
  g_string_append_c (header, '\n');
  /* 32 bytes are 43 columns: one short line ends the body. */
  b64_encode_append (header, body, sizeof body);
  g_string_append_c (header, '\n');
  ok = TRUE;

out:
  OPENSSL_cleanse (shared, sizeof shared);
  OPENSSL_cleanse (wrap_key, sizeof wrap_key);
  return ok;
}

static gboolean
enc_write (AnsimAgeEncryptor *enc, const guint8 *data, gsize len, GError **error)
{
  return enc->write_func (data, len, enc->user_data, error);
}

static gboolean
enc_start (AnsimAgeEncryptor *enc, AnsimAgeRecipient *const *recipients, guint n_recipients,
           GError **error)
{
  g_autoptr (GString) header = g_string_sized_new (64 + 110 * n_recipients);
  guint8 file_key[FILE_KEY_SIZE], mac_key[32], payload_key[32], nonce[PAYLOAD_NONCE_SIZE];
  guint8 mac[MAC_SIZE];
  size_t mac_len = 0;
  gboolean ok = FALSE;

  if (n_recipients == 0)
    {
      g_set_error_literal (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_INVALID_KEY,
                           "no recipients to encrypt to");
      return FALSE;
    }
  if (!random_bytes (file_key, sizeof file_key, error)
      || !random_bytes (nonce, sizeof nonce, error))
    goto out;

  g_string_append (header, version_line);
  g_string_append_c (header, '\n');
  for (guint i = 0; i < n_recipients; i++)
    if (!append_x25519_stanza (header, recipients[i], file_key, error))
      goto out;
  g_string_append (header, "---");

  if (!hkdf_sha256 (file_key, sizeof file_key, NULL, 0, "header", mac_key, error))
    goto out;
  if (EVP_Q_mac (NULL, "HMAC", NULL, "SHA256", NULL, mac_key, sizeof mac_key,
                 (const guint8 *) header->str, header->len, mac, sizeof mac, &mac_len)
        == NULL
      || mac_len != MAC_SIZE)
    {
      set_openssl_error (error, "header MAC failed");
      goto out;
    }
  g_string_append_c (header, ' ');
  b64_encode_append (header, mac, sizeof mac);
  g_string_append_c (header, '\n');
  g_string_append_len (header, (const char *) nonce, sizeof nonce);

  if (!hkdf_sha256 (file_key, sizeof file_key, nonce, sizeof nonce, "payload", payload_key, error))
    goto out;
  enc->ctx = chacha_ctx_new (payload_key, TRUE, error);
  if (enc->ctx == NULL)
    goto out;

  ok = enc_write (enc, (const guint8 *) header->str, header->len, error);

out:
  OPENSSL_cleanse (file_key, sizeof file_key);
  OPENSSL_cleanse (mac_key, sizeof mac_key);
  OPENSSL_cleanse (payload_key, sizeof payload_key);
  return ok;
}

static AnsimAgeEncryptor *
encryptor_new (AnsimAgeRecipient *const *recipients, guint n_recipients,
               AnsimAgeWriteFunc write_func, gpointer user_data, GOutputStream *stream,
               GCancellable *cancellable, GError **error)
{
  g_autoptr (AnsimAgeEncryptor) enc = g_new0 (AnsimAgeEncryptor, 1);

  if (stream != NULL)
    {
      stream_sink_init (&enc->sink, stream, cancellable);
      enc->write_func = stream_sink_write;
      enc->user_data = &enc->sink;
    }
  else
    {
      enc->write_func = write_func;
      enc->user_data = user_data;
    }
  if (!enc_start (enc, recipients, n_recipients, error))
    return NULL;
  return g_steal_pointer (&enc);
}

AnsimAgeEncryptor *
ansim_age_encryptor_new (AnsimAgeRecipient *const *recipients, guint n_recipients,
                         AnsimAgeWriteFunc write_func, gpointer user_data, GError **error)
{
  g_return_val_if_fail (recipients != NULL || n_recipients == 0, NULL);
  g_return_val_if_fail (write_func != NULL, NULL);
  return encryptor_new (recipients, n_recipients, write_func, user_data, NULL, NULL, error);
}

AnsimAgeEncryptor *
ansim_age_encryptor_new_for_stream (AnsimAgeRecipient *const *recipients, guint n_recipients,
                                    GOutputStream *stream, GCancellable *cancellable,
                                    GError **error)
{
  g_return_val_if_fail (recipients != NULL || n_recipients == 0, NULL);
  g_return_val_if_fail (G_IS_OUTPUT_STREAM (stream), NULL);
  return encryptor_new (recipients, n_recipients, NULL, NULL, stream, cancellable, error);
}

/* Seals len plaintext bytes at in as the next chunk into enc->buf (in may be
 * enc->buf itself) and writes it. */
static gboolean
enc_chunk (AnsimAgeEncryptor *enc, const guint8 *in, gsize len, gboolean last, GError **error)
{
  guint8 nonce[AEAD_NONCE_SIZE];

  stream_nonce (enc->chunk_index, last, nonce);
  if (!chacha_seal (enc->ctx, nonce, in, len, enc->buf))
    return set_openssl_error (error, "payload encryption failed");
  enc->chunk_index++;
  return enc_write (enc, enc->buf, len + ANSIM_AGE_TAG_SIZE, error);
}

static gboolean
enc_fail (AnsimAgeEncryptor *enc, GError *local, GError **error)
{
  enc->failure = g_error_copy (local);
  OPENSSL_cleanse (enc->buf, sizeof enc->buf);
  enc->buf_len = 0;
  g_propagate_error (error, local);
  return FALSE;
}

gboolean
ansim_age_encryptor_update (AnsimAgeEncryptor *enc, const void *data, gsize len, GError **error)
{
  const guint8 *p = data;
  GError *local = NULL;

  g_return_val_if_fail (enc != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (!enc->finished, FALSE);

  if (enc->failure != NULL)
    {
      g_propagate_error (error, g_error_copy (enc->failure));
      return FALSE;
    }

  while (len > 0)
    {
      gsize n;

      /* A full buffer is sealed only once more input shows it is not the
       * last chunk: a file whose size is a multiple of 64 KiB ends with a
       * full final chunk, never an empty one. */
      if (enc->buf_len == ANSIM_AGE_CHUNK_SIZE)
        {
          if (!enc_chunk (enc, enc->buf, ANSIM_AGE_CHUNK_SIZE, FALSE, &local))
            return enc_fail (enc, local, error);
          enc->buf_len = 0;
        }
      /* Whole chunks straight from the caller's memory, no copy. */
      if (enc->buf_len == 0 && len > ANSIM_AGE_CHUNK_SIZE)
        {
          if (!enc_chunk (enc, p, ANSIM_AGE_CHUNK_SIZE, FALSE, &local))
            return enc_fail (enc, local, error);
          p += ANSIM_AGE_CHUNK_SIZE;
          len -= ANSIM_AGE_CHUNK_SIZE;
          continue;
        }
      n = MIN (len, ANSIM_AGE_CHUNK_SIZE - enc->buf_len);
      memcpy (enc->buf + enc->buf_len, p, n);
      enc->buf_len += n;
      p += n;
      len -= n;
    }
  return TRUE;
}

gboolean
ansim_age_encryptor_finish (AnsimAgeEncryptor *enc, GError **error)
{
  GError *local = NULL;

  g_return_val_if_fail (enc != NULL, FALSE);
  g_return_val_if_fail (!enc->finished, FALSE);

  if (enc->failure != NULL)
    {
      g_propagate_error (error, g_error_copy (enc->failure));
      return FALSE;
    }
  /* Empty only if the whole payload is empty, as the spec requires. */
  g_assert (enc->buf_len > 0 || enc->chunk_index == 0);
  if (!enc_chunk (enc, enc->buf, enc->buf_len, TRUE, &local))
    return enc_fail (enc, local, error);
  enc->finished = TRUE;
  enc->buf_len = 0;
  return TRUE;
}

void
ansim_age_encryptor_free (AnsimAgeEncryptor *enc)
{
  if (enc == NULL)
    return;
  EVP_CIPHER_CTX_free (enc->ctx);
  stream_sink_clear (&enc->sink);
  g_clear_error (&enc->failure);
  OPENSSL_cleanse (enc->buf, sizeof enc->buf);
  g_free (enc);
}

/* ---- decryption ----------------------------------------------------------- */

typedef enum {
  DEC_HEADER,   /* collecting and checking header lines */
  DEC_NONCE,    /* header authenticated; collecting the payload nonce */
  DEC_PAYLOAD,  /* decrypting STREAM chunks */
  DEC_FINISHED, /* final chunk authenticated and released, input ended */
} DecState;

typedef enum {
  HDR_VERSION, /* expecting "age-encryption.org/v1" */
  HDR_NEXT,    /* expecting a stanza ("->") or the MAC line ("---") */
  HDR_BODY,    /* inside a stanza body: 64-column lines until a shorter one */
} HdrState;

typedef struct {
  guint8 share[X25519_SIZE];
  guint8 body[WRAPPED_KEY_SIZE];
} X25519Stanza;

struct _AnsimAgeDecryptor {
  AnsimAgeWriteFunc write_func;
  gpointer user_data;
  StreamSink sink;              /* owned refs when writing to a stream */
  AnsimAgeIdentity *identities; /* copies, wiped on free */
  guint n_identities;
  DecState state;
  GError *failure; /* first error, repeated by later calls */

  /* Header: raw bytes as received, since the MAC covers exactly them. */
  GByteArray *header;
  gsize line_start; /* offset in header of the line being read */
  guint line_no;
  HdrState hdr_state;
  guint n_stanzas;
  GArray *x25519;     /* X25519Stanza, complete ones */
  gboolean in_x25519; /* the stanza being read is an X25519 one */
  X25519Stanza current;
  gsize current_body_len; /* may exceed the 32 bytes kept */
  gsize mac_offset;       /* header bytes covered by the MAC */
  guint8 mac[MAC_SIZE];
  guint8 file_key[FILE_KEY_SIZE];

  guint8 nonce[PAYLOAD_NONCE_SIZE];
  gsize nonce_len;

  EVP_CIPHER_CTX *ctx; /* keyed with the payload key once */
  guint64 chunk_index;
  gsize ct_len; /* bytes waiting in ct */
  /* Allocated once the header is authenticated: a bad header costs no
   * chunk buffers. */
  guint8 *ct; /* CT_CHUNK_SIZE bytes */
  guint8 *pt; /* ANSIM_AGE_CHUNK_SIZE bytes, wiped after use */
};

static gboolean header_error (GError **error, AnsimAgeDecryptor *dec, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

static gboolean
header_error (GError **error, AnsimAgeDecryptor *dec, const char *format, ...)
{
  g_autofree char *detail = NULL;
  va_list args;

  va_start (args, format);
  detail = g_strdup_vprintf (format, args);
  va_end (args);
  if (dec != NULL && dec->line_no > 0)
    g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_MALFORMED_HEADER,
                 "malformed header: line %u: %s", dec->line_no, detail);
  else
    g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_MALFORMED_HEADER, "malformed header: %s",
                 detail);
  return FALSE;
}

static gboolean
is_printable (const guint8 *s, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (s[i] < 0x20 || s[i] > 0x7e)
      return FALSE;
  return TRUE;
}

/* Tries every identity on every X25519 stanza, then checks the header MAC. */
static gboolean
dec_open_header (AnsimAgeDecryptor *dec, GError **error)
{
  static const guint8 zero_nonce[AEAD_NONCE_SIZE];
  guint8 shared[X25519_SIZE], salt[2 * X25519_SIZE], wrap_key[32];
  guint8 mac_key[32], mac[MAC_SIZE];
  size_t mac_len = 0;
  gboolean found = FALSE, ok = FALSE;

  for (guint i = 0; i < dec->n_identities && !found; i++)
    {
      const AnsimAgeIdentity *id = &dec->identities[i];
      g_autoptr (EVP_PKEY) pkey = x25519_private_key (id->secret_key, error);

      if (pkey == NULL)
        goto out;
      for (guint s = 0; s < dec->x25519->len && !found; s++)
        {
          const X25519Stanza *st = &g_array_index (dec->x25519, X25519Stanza, s);
          g_autoptr (EVP_CIPHER_CTX) ctx = NULL;

          if (!x25519_shared (pkey, st->share, shared))
            {
              header_error (error, NULL,
                            "X25519 stanza %u has a low-order share "
                            "(all-zero shared secret)",
                            s + 1);
              goto out;
            }
          memcpy (salt, st->share, X25519_SIZE);
          memcpy (salt + X25519_SIZE, id->public_key, X25519_SIZE);
          if (!hkdf_sha256 (shared, sizeof shared, salt, sizeof salt, x25519_label, wrap_key,
                            error))
            goto out;
          ctx = chacha_ctx_new (wrap_key, FALSE, error);
          if (ctx == NULL)
            goto out;
          found = chacha_open (ctx, zero_nonce, st->body, sizeof st->body, dec->file_key);
        }
    }
  if (!found)
    {
      g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_NO_MATCH,
                   "no matching recipient: the file is not encrypted to %s "
                   "(%u recipient stanza%s, %u of them X25519)",
                   dec->n_identities == 1 ? "this identity" : "any of these identities",
                   dec->n_stanzas, dec->n_stanzas == 1 ? "" : "s", dec->x25519->len);
      goto out;
    }

  if (!hkdf_sha256 (dec->file_key, sizeof dec->file_key, NULL, 0, "header", mac_key, error))
    goto out;
  if (EVP_Q_mac (NULL, "HMAC", NULL, "SHA256", NULL, mac_key, sizeof mac_key, dec->header->data,
                 dec->mac_offset, mac, sizeof mac, &mac_len)
        == NULL
      || mac_len != MAC_SIZE)
    {
      set_openssl_error (error, "header MAC failed");
      goto out;
    }
  if (CRYPTO_memcmp (mac, dec->mac, MAC_SIZE) != 0)
    {
      g_set_error_literal (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_HEADER_MAC,
                           "header MAC mismatch: the header was altered or damaged");
      goto out;
    }
  ok = TRUE;

out:
  OPENSSL_cleanse (shared, sizeof shared);
  OPENSSL_cleanse (wrap_key, sizeof wrap_key);
  OPENSSL_cleanse (mac_key, sizeof mac_key);
  return ok;
}

static gboolean
dec_mac_line (AnsimAgeDecryptor *dec, const guint8 *line, gsize len, GError **error)
{
  gsize n = 0;

  if (dec->n_stanzas == 0)
    return header_error (error, dec, "no recipient stanzas before the MAC line");
  /* "--- " and exactly 43 base64 columns. */
  if (len < 4 || line[3] != ' ')
    return header_error (error, dec, "MAC line must be \"--- \" followed by the MAC");
  if (len != 4 + b64_encoded_len (MAC_SIZE)
      || !b64_decode (line + 4, len - 4, dec->mac, sizeof dec->mac, &n) || n != MAC_SIZE)
    return header_error (error, dec, "MAC is not canonical unpadded base64 of 32 bytes");

  dec->mac_offset = dec->line_start + 3;
  if (!dec_open_header (dec, error))
    return FALSE;

  /* The header has served its purpose; keep only what the payload needs. */
  g_clear_pointer (&dec->header, g_byte_array_unref);
  g_clear_pointer (&dec->x25519, g_array_unref);
  dec->state = DEC_NONCE;
  return TRUE;
}

static gboolean
dec_stanza_line (AnsimAgeDecryptor *dec, const guint8 *line, gsize len, GError **error)
{
  const guint8 *p = line + 2, *end = line + len;
  const guint8 *args[2] = { NULL, NULL };
  gsize arg_lens[2] = { 0, 0 };
  guint n_args = 0;
  gsize n = 0;

  if (p == end)
    return header_error (error, dec, "recipient stanza without arguments");
  while (p < end)
    {
      const guint8 *start;

      if (*p != ' ')
        return header_error (error, dec, "stanza arguments must be separated by single spaces");
      start = ++p;
      while (p < end && *p != ' ')
        {
          if (*p < 0x21 || *p > 0x7e)
            return header_error (error, dec, "invalid character 0x%02x in stanza argument", *p);
          p++;
        }
      if (p == start)
        return header_error (error, dec, "empty stanza argument");
      if (n_args < 2)
        {
          args[n_args] = start;
          arg_lens[n_args] = p - start;
        }
      n_args++;
    }

  if (++dec->n_stanzas > STANZAS_MAX)
    return header_error (error, dec, "more than %d recipient stanzas", STANZAS_MAX);
  dec->in_x25519 = arg_lens[0] == 6 && memcmp (args[0], "X25519", 6) == 0;
  dec->current_body_len = 0;
  if (dec->in_x25519)
    {
      /* Checked even if none of our identities turns out to match. */
      if (n_args != 2)
        return header_error (error, dec, "X25519 stanza must have exactly one argument, has %u",
                             n_args - 1);
      if (arg_lens[1] != b64_encoded_len (X25519_SIZE)
          || !b64_decode (args[1], arg_lens[1], dec->current.share, sizeof dec->current.share, &n)
          || n != X25519_SIZE)
        return header_error (error, dec,
                             "X25519 share is not canonical unpadded base64 of 32 bytes");
    }
  dec->hdr_state = HDR_BODY;
  return TRUE;
}

static gboolean
dec_body_line (AnsimAgeDecryptor *dec, const guint8 *line, gsize len, GError **error)
{
  guint8 bytes[BODY_LINE_BYTES];
  gsize n = 0;

  if ((len >= 3 && memcmp (line, "---", 3) == 0) || (len >= 2 && memcmp (line, "->", 2) == 0))
    return header_error (error, dec, "stanza body must end with a line shorter than 64 columns");
  if (len > BODY_COLUMNS)
    return header_error (error, dec, "stanza body line longer than 64 columns");
  if (!b64_decode (line, len, bytes, sizeof bytes, &n))
    return header_error (error, dec, "stanza body is not canonical unpadded base64");

  if (dec->in_x25519 && dec->current_body_len + n <= sizeof dec->current.body)
    memcpy (dec->current.body + dec->current_body_len, bytes, n);
  dec->current_body_len += n;
  if (len == BODY_COLUMNS)
    return TRUE;

  /* A short line (possibly empty) ends the stanza. */
  if (dec->in_x25519)
    {
      /* Checked before any decryption, against partitioning oracles. */
      if (dec->current_body_len != WRAPPED_KEY_SIZE)
        return header_error (error, dec,
                             "X25519 stanza body is %" G_GSIZE_FORMAT " bytes, expected 32",
                             dec->current_body_len);
      g_array_append_val (dec->x25519, dec->current);
    }
  dec->hdr_state = HDR_NEXT;
  return TRUE;
}

static gboolean
dec_header_line (AnsimAgeDecryptor *dec, const guint8 *line, gsize len, GError **error)
{
  switch (dec->hdr_state)
    {
    case HDR_VERSION:
      if (len == strlen (version_line) && memcmp (line, version_line, len) == 0)
        {
          dec->hdr_state = HDR_NEXT;
          return TRUE;
        }
      if (len > strlen (version_prefix) && len < 64 && is_printable (line, len))
        return header_error (error, dec, "unsupported format version \"%.*s\" (only %s)", (int) len,
                             line, version_line);
      return header_error (error, dec, "not an age v1 file");

    case HDR_NEXT:
      if (len >= 3 && memcmp (line, "---", 3) == 0)
        return dec_mac_line (dec, line, len, error);
      if (len >= 2 && memcmp (line, "->", 2) == 0)
        return dec_stanza_line (dec, line, len, error);
      return header_error (error, dec,
                           "expected a recipient stanza (\"->\") or the MAC line (\"---\")");

    case HDR_BODY: return dec_body_line (dec, line, len, error);
    }
  g_assert_not_reached ();
}

/* Consumes header bytes from *data; stops after the MAC line. */
static gboolean
dec_header_feed (AnsimAgeDecryptor *dec, const guint8 **data, gsize *len, GError **error)
{
  while (*len > 0 && dec->state == DEC_HEADER)
    {
      const guint8 *lf = memchr (*data, '\n', *len);
      gsize n = lf ? (gsize) (lf - *data) + 1 : *len;

      if (dec->header->len + n > HEADER_MAX)
        {
          return header_error (error, NULL, "header longer than %d KiB", HEADER_MAX / 1024);
        }
      g_byte_array_append (dec->header, *data, n);
      *data += n;
      *len -= n;

      if (lf == NULL)
        {
          /* Say "not an age file" at once rather than buffer a whole
           * unrelated file looking for a newline. */
          if (dec->hdr_state == HDR_VERSION)
            {
              gsize check = MIN (dec->header->len, strlen (version_prefix));

              if (memcmp (dec->header->data, version_prefix, check) != 0)
                {
                  if (dec->header->data[0] == '-')
                    return header_error (error, NULL,
                                         "not an age v1 file "
                                         "(ASCII-armored age files are not supported)");
                  return header_error (error, NULL, "not an age v1 file");
                }
            }
          break;
        }
      dec->line_no++;
      if (!dec_header_line (dec, dec->header->data + dec->line_start,
                            dec->header->len - dec->line_start - 1, error))
        return FALSE;
      if (dec->header != NULL)
        dec->line_start = dec->header->len;
    }
  return TRUE;
}

static gboolean
dec_emit (AnsimAgeDecryptor *dec, gsize len, GError **error)
{
  gboolean ok = TRUE;

  if (len > 0)
    ok = dec->write_func (dec->pt, len, dec->user_data, error);
  OPENSSL_cleanse (dec->pt, len);
  return ok;
}

static gboolean
dec_open_chunk (AnsimAgeDecryptor *dec, const guint8 *ct, gsize len, gboolean last)
{
  guint8 nonce[AEAD_NONCE_SIZE];

  stream_nonce (dec->chunk_index, last, nonce);
  return chacha_open (dec->ctx, nonce, ct, len, dec->pt);
}

static gboolean
payload_error (GError **error, AnsimAgeDecryptor *dec)
{
  g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_PAYLOAD,
               "payload authentication failed at chunk %" G_GUINT64_FORMAT
               " (plaintext offset %" G_GUINT64_FORMAT "): the file was altered or damaged",
               dec->chunk_index, dec->chunk_index * ANSIM_AGE_CHUNK_SIZE);
  return FALSE;
}

/* A full chunk with more input after it. It should be a middle chunk; if it
 * only opens as a final chunk, the bytes after it are trailing data. */
static gboolean
dec_chunk_followed (AnsimAgeDecryptor *dec, const guint8 *ct, GError **error)
{
  if (dec_open_chunk (dec, ct, CT_CHUNK_SIZE, FALSE))
    {
      if (!dec_emit (dec, ANSIM_AGE_CHUNK_SIZE, error))
        return FALSE;
      dec->chunk_index++;
      return TRUE;
    }
  if (dec_open_chunk (dec, ct, CT_CHUNK_SIZE, TRUE))
    {
      /* Authentic, so it is released; the file still fails. */
      if (!dec_emit (dec, ANSIM_AGE_CHUNK_SIZE, error))
        return FALSE;
      g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_TRAILING_DATA,
                   "trailing data after the final chunk (chunk %" G_GUINT64_FORMAT ")",
                   dec->chunk_index);
      return FALSE;
    }
  return payload_error (error, dec);
}

static gboolean
dec_payload_feed (AnsimAgeDecryptor *dec, const guint8 *p, gsize len, GError **error)
{
  while (len > 0)
    {
      gsize n;

      if (dec->ct_len == CT_CHUNK_SIZE)
        {
          if (!dec_chunk_followed (dec, dec->ct, error))
            return FALSE;
          dec->ct_len = 0;
        }
      /* Whole chunks straight from the caller's memory, no copy. */
      if (dec->ct_len == 0 && len > CT_CHUNK_SIZE)
        {
          if (!dec_chunk_followed (dec, p, error))
            return FALSE;
          p += CT_CHUNK_SIZE;
          len -= CT_CHUNK_SIZE;
          continue;
        }
      n = MIN (len, CT_CHUNK_SIZE - dec->ct_len);
      memcpy (dec->ct + dec->ct_len, p, n);
      dec->ct_len += n;
      p += n;
      len -= n;
    }
  return TRUE;
}

static gboolean
dec_payload_key (AnsimAgeDecryptor *dec, GError **error)
{
  guint8 payload_key[32];
  gboolean ok;

  ok = hkdf_sha256 (dec->file_key, sizeof dec->file_key, dec->nonce, sizeof dec->nonce, "payload",
                    payload_key, error);
  OPENSSL_cleanse (dec->file_key, sizeof dec->file_key);
  if (ok)
    dec->ctx = chacha_ctx_new (payload_key, FALSE, error);
  OPENSSL_cleanse (payload_key, sizeof payload_key);
  if (!ok || dec->ctx == NULL)
    return FALSE;
  dec->ct = g_malloc (CT_CHUNK_SIZE);
  dec->pt = g_malloc (ANSIM_AGE_CHUNK_SIZE);
  return TRUE;
}

static gboolean
dec_update (AnsimAgeDecryptor *dec, const guint8 *p, gsize len, GError **error)
{
  if (dec->state == DEC_HEADER && !dec_header_feed (dec, &p, &len, error))
    return FALSE;
  if (dec->state == DEC_NONCE && len > 0)
    {
      gsize n = MIN (len, PAYLOAD_NONCE_SIZE - dec->nonce_len);

      memcpy (dec->nonce + dec->nonce_len, p, n);
      dec->nonce_len += n;
      p += n;
      len -= n;
      if (dec->nonce_len == PAYLOAD_NONCE_SIZE)
        {
          if (!dec_payload_key (dec, error))
            return FALSE;
          dec->state = DEC_PAYLOAD;
        }
    }
  if (dec->state == DEC_PAYLOAD && len > 0)
    return dec_payload_feed (dec, p, len, error);
  return TRUE;
}

/* End of input: what is buffered is the last chunk of the file. */
static gboolean
dec_finish (AnsimAgeDecryptor *dec, GError **error)
{
  gsize len = dec->ct_len;

  switch (dec->state)
    {
    case DEC_HEADER:
      if (dec->header->len == 0)
        return header_error (error, NULL, "empty file");
      return header_error (error, NULL, "file ends inside the header (truncated)");
    case DEC_NONCE:
      return header_error (error, NULL,
                           "file ends before the end of the 16-byte payload nonce (truncated)");
    case DEC_PAYLOAD: break;
    case DEC_FINISHED: g_assert_not_reached ();
    }

  if (len < ANSIM_AGE_TAG_SIZE)
    {
      if (len == 0 && dec->chunk_index == 0)
        g_set_error_literal (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_TRUNCATED,
                             "truncated: the payload has no chunks");
      else
        g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_TRUNCATED,
                     "truncated: the file ends inside chunk %" G_GUINT64_FORMAT, dec->chunk_index);
      return FALSE;
    }
  if (dec_open_chunk (dec, dec->ct, len, TRUE))
    {
      gsize pt_len = len - ANSIM_AGE_TAG_SIZE;

      if (pt_len == 0 && dec->chunk_index > 0)
        {
          g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_PAYLOAD,
                       "final chunk %" G_GUINT64_FORMAT " is empty, which only an empty "
                       "file may have",
                       dec->chunk_index);
          return FALSE;
        }
      if (!dec_emit (dec, pt_len, error))
        return FALSE;
      dec->chunk_index++;
      dec->ct_len = 0;
      return TRUE;
    }
  if (len == CT_CHUNK_SIZE && dec_open_chunk (dec, dec->ct, len, FALSE))
    {
      /* An authentic middle chunk: everything after it was cut off. */
      if (!dec_emit (dec, ANSIM_AGE_CHUNK_SIZE, error))
        return FALSE;
      g_set_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_TRUNCATED,
                   "truncated: the file ends after chunk %" G_GUINT64_FORMAT
                   ", which is not the final chunk",
                   dec->chunk_index);
      dec->chunk_index++;
      return FALSE;
    }
  return payload_error (error, dec);
}

static void
dec_wipe (AnsimAgeDecryptor *dec)
{
  OPENSSL_cleanse (dec->file_key, sizeof dec->file_key);
  if (dec->pt != NULL)
    OPENSSL_cleanse (dec->pt, ANSIM_AGE_CHUNK_SIZE);
}

static gboolean
dec_fail (AnsimAgeDecryptor *dec, GError *local, GError **error)
{
  dec->failure = g_error_copy (local);
  dec_wipe (dec);
  g_propagate_error (error, local);
  return FALSE;
}

static AnsimAgeDecryptor *
decryptor_new (AnsimAgeIdentity *const *identities, guint n_identities)
{
  AnsimAgeDecryptor *dec = g_new0 (AnsimAgeDecryptor, 1);

  dec->identities = g_new0 (AnsimAgeIdentity, n_identities);
  for (guint i = 0; i < n_identities; i++)
    dec->identities[i] = *identities[i];
  dec->n_identities = n_identities;
  dec->header = g_byte_array_new ();
  dec->x25519 = g_array_new (FALSE, TRUE, sizeof (X25519Stanza));
  return dec;
}

AnsimAgeDecryptor *
ansim_age_decryptor_new (AnsimAgeIdentity *const *identities, guint n_identities,
                         AnsimAgeWriteFunc write_func, gpointer user_data)
{
  AnsimAgeDecryptor *dec;

  g_return_val_if_fail (identities != NULL && n_identities > 0, NULL);
  g_return_val_if_fail (write_func != NULL, NULL);

  dec = decryptor_new (identities, n_identities);
  dec->write_func = write_func;
  dec->user_data = user_data;
  return dec;
}

AnsimAgeDecryptor *
ansim_age_decryptor_new_for_stream (AnsimAgeIdentity *const *identities, guint n_identities,
                                    GOutputStream *stream, GCancellable *cancellable)
{
  AnsimAgeDecryptor *dec;

  g_return_val_if_fail (identities != NULL && n_identities > 0, NULL);
  g_return_val_if_fail (G_IS_OUTPUT_STREAM (stream), NULL);

  dec = decryptor_new (identities, n_identities);
  stream_sink_init (&dec->sink, stream, cancellable);
  dec->write_func = stream_sink_write;
  dec->user_data = &dec->sink;
  return dec;
}

gboolean
ansim_age_decryptor_update (AnsimAgeDecryptor *dec, const void *data, gsize len, GError **error)
{
  GError *local = NULL;

  g_return_val_if_fail (dec != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (dec->state != DEC_FINISHED, FALSE);

  if (dec->failure != NULL)
    {
      g_propagate_error (error, g_error_copy (dec->failure));
      return FALSE;
    }
  if (!dec_update (dec, data, len, &local))
    return dec_fail (dec, local, error);
  return TRUE;
}

gboolean
ansim_age_decryptor_finish (AnsimAgeDecryptor *dec, GError **error)
{
  GError *local = NULL;

  g_return_val_if_fail (dec != NULL, FALSE);
  g_return_val_if_fail (dec->state != DEC_FINISHED, FALSE);

  if (dec->failure != NULL)
    {
      g_propagate_error (error, g_error_copy (dec->failure));
      return FALSE;
    }
  if (!dec_finish (dec, &local))
    return dec_fail (dec, local, error);
  dec->state = DEC_FINISHED;
  dec_wipe (dec);
  return TRUE;
}

void
ansim_age_decryptor_free (AnsimAgeDecryptor *dec)
{
  if (dec == NULL)
    return;
  EVP_CIPHER_CTX_free (dec->ctx);
  stream_sink_clear (&dec->sink);
  g_clear_error (&dec->failure);
  g_clear_pointer (&dec->header, g_byte_array_unref);
  g_clear_pointer (&dec->x25519, g_array_unref);
  dec_wipe (dec);
  g_free (dec->pt);
  g_free (dec->ct);
  OPENSSL_cleanse (dec->identities, sizeof (AnsimAgeIdentity) * dec->n_identities);
  g_free (dec->identities);
  OPENSSL_cleanse (dec, sizeof *dec);
  g_free (dec);
}

/* ---- helpers -------------------------------------------------------------- */

static gboolean
byte_array_write (const guint8 *data, gsize len, gpointer user_data, G_GNUC_UNUSED GError **error)
{
  g_byte_array_append (user_data, data, len);
  return TRUE;
}

GBytes *
ansim_age_encrypt_bytes (AnsimAgeRecipient *const *recipients, guint n_recipients,
                         GBytes *plaintext, GError **error)
{
  g_autoptr (AnsimAgeEncryptor) enc = NULL;
  g_autoptr (GByteArray) out = NULL;
  gsize len = 0;
  const guint8 *data;

  g_return_val_if_fail (plaintext != NULL, NULL);

  data = g_bytes_get_data (plaintext, &len);
  out = g_byte_array_sized_new (128 + 110 * n_recipients + len
                                + (len / ANSIM_AGE_CHUNK_SIZE + 1) * ANSIM_AGE_TAG_SIZE);
  enc = ansim_age_encryptor_new (recipients, n_recipients, byte_array_write, out, error);
  if (enc == NULL || !ansim_age_encryptor_update (enc, data, len, error)
      || !ansim_age_encryptor_finish (enc, error))
    return NULL;
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

GBytes *
ansim_age_decrypt_bytes (AnsimAgeIdentity *const *identities, guint n_identities,
                         GBytes *ciphertext, GError **error)
{
  g_autoptr (AnsimAgeDecryptor) dec = NULL;
  GByteArray *out;
  const guint8 *data;
  gsize len = 0;

  g_return_val_if_fail (identities != NULL && n_identities > 0, NULL);
  g_return_val_if_fail (ciphertext != NULL, NULL);

  data = g_bytes_get_data (ciphertext, &len);
  out = g_byte_array_sized_new (len);
  dec = ansim_age_decryptor_new (identities, n_identities, byte_array_write, out);
  if (!ansim_age_decryptor_update (dec, data, len, error)
      || !ansim_age_decryptor_finish (dec, error))
    {
      /* Never hand out part of a file that failed. */
      OPENSSL_cleanse (out->data, out->len);
      g_byte_array_unref (out);
      return NULL;
    }
  return g_byte_array_free_to_bytes (out);
}

gboolean
ansim_age_decrypt_stream (AnsimAgeIdentity *const *identities, guint n_identities, GInputStream *in,
                          GOutputStream *out, GCancellable *cancellable, GError **error)
{
  g_autoptr (AnsimAgeDecryptor) dec = NULL;
  g_autofree guint8 *buf = NULL;

  g_return_val_if_fail (identities != NULL && n_identities > 0, FALSE);
  g_return_val_if_fail (G_IS_INPUT_STREAM (in), FALSE);
  g_return_val_if_fail (G_IS_OUTPUT_STREAM (out), FALSE);

  dec = ansim_age_decryptor_new_for_stream (identities, n_identities, out, cancellable);
  buf = g_malloc (CT_CHUNK_SIZE);
  for (;;)
    {
      gssize n = g_input_stream_read (in, buf, CT_CHUNK_SIZE, cancellable, error);

      if (n < 0)
        return FALSE;
      if (n == 0)
        break;
      if (!ansim_age_decryptor_update (dec, buf, n, error))
        return FALSE;
    }
  return ansim_age_decryptor_finish (dec, error);
}
