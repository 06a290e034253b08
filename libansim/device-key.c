/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the device's Ed25519 identity (AnsimDeviceKey): load,
 * create, sign, verify, fingerprint. What it must keep true: a private key
 * is never written where group or others can read it, never half-written
 * (of two racing creators one wins and both use its key), and wiped from
 * memory when freed. */
#include "device-key.h"
#include "durable.h"
#include "evidence-private.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#define KEY_FILE_MAX (64 * 1024) /* a PEM key is a few hundred bytes */

static gboolean
openssl_failed (GError **error, const char *what)
{
  return ansim_set_openssl_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_FAILED, what);
}

gboolean
ansim_device_key_is_fingerprint (const char *s)
{
  if (s == NULL || strlen (s) != ANSIM_FINGERPRINT_LEN)
    return FALSE;
  for (int i = 0; i < ANSIM_FINGERPRINT_LEN; i++)
    {
      if (i % 5 == 4)
        {
          if (s[i] != ':')
            return FALSE;
        }
      else if (!g_ascii_isdigit (s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
        return FALSE;
    }
  return TRUE;
}

struct _AnsimDeviceKey {
  EVP_PKEY *pkey;
  gboolean has_private;
  char *path;
  guint8 raw[32];
  char fingerprint[ANSIM_FINGERPRINT_LEN + 1];
};

void
ansim_device_key_free (AnsimDeviceKey *key)
{
  if (key == NULL)
    return;
  /* OpenSSL clears the Ed25519 private key when the EVP_PKEY goes. */
  EVP_PKEY_free (key->pkey);
  g_free (key->path);
  g_free (key);
}

static AnsimDeviceKey *
device_key_wrap (EVP_PKEY *pkey, gboolean has_private, const char *origin, GError **error)
{
  g_autoptr (EVP_PKEY) owned = pkey;
  size_t raw_len = 32;
  char digest[ANSIM_SHA256_HEX_LEN + 1];

  if (EVP_PKEY_get_id (pkey) != EVP_PKEY_ED25519)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY,
                   "%s holds a %s key, not an Ed25519 key", origin,
                   OBJ_nid2sn (EVP_PKEY_get_base_id (pkey)));
      return NULL;
    }
  g_autoptr (AnsimDeviceKey) key = g_new0 (AnsimDeviceKey, 1);
  key->pkey = g_steal_pointer (&owned);
  key->has_private = has_private;
  if (!EVP_PKEY_get_raw_public_key (key->pkey, key->raw, &raw_len) || raw_len != 32)
    {
      openssl_failed (error, "cannot read the Ed25519 public key");
      return NULL;
    }
  ansim_hash_sha256_hex (key->raw, 32, digest);
  /* 16 bytes = 32 hex digits, in groups of 4. */
  char *f = key->fingerprint;
  for (int i = 0; i < 8; i++)
    {
      if (i > 0)
        *f++ = ':';
      memcpy (f, digest + 4 * i, 4);
      f += 4;
    }
  *f = '\0';
  return g_steal_pointer (&key);
}

char *
ansim_device_key_public_path (const char *private_path)
{
  g_return_val_if_fail (private_path != NULL, NULL);
  if (g_str_has_suffix (private_path, ".pem"))
    return g_strdup_printf ("%.*s.pub.pem", (int) (strlen (private_path) - 4), private_path);
  return g_strdup_printf ("%s.pub.pem", private_path);
}

gboolean
ansim_device_key_has_private (const AnsimDeviceKey *key)
{
  return key->has_private;
}

const char *
ansim_device_key_get_path (const AnsimDeviceKey *key)
{
  return key->path;
}

const char *
ansim_device_key_get_fingerprint (const AnsimDeviceKey *key)
{
  return key->fingerprint;
}

void
ansim_device_key_get_public_raw (const AnsimDeviceKey *key, guint8 out_raw[32])
{
  memcpy (out_raw, key->raw, 32);
}

char *
ansim_device_key_get_public_pem (const AnsimDeviceKey *key)
{
  g_autoptr (BIO) mem = BIO_new (BIO_s_mem ());
  char *data = NULL;
  long len;

  if (mem == NULL || !PEM_write_bio_PUBKEY (mem, key->pkey))
    g_error ("OpenSSL cannot write a public key");
  len = BIO_get_mem_data (mem, &data);
  return g_strndup (data, len);
}

/* Keys are never encrypted; this keeps OpenSSL from prompting on a tty. */
static int
no_passphrase (G_GNUC_UNUSED char *buf, G_GNUC_UNUSED int size, G_GNUC_UNUSED int rwflag,
               G_GNUC_UNUSED void *u)
{
  return -1;
}

AnsimDeviceKey *
ansim_device_key_new_public_from_pem (const char *pem, gsize len, const char *origin,
                                      GError **error)
{
  g_autoptr (BIO) mem = BIO_new_mem_buf (pem, (int) MIN (len, (gsize) KEY_FILE_MAX));
  EVP_PKEY *pkey = mem != NULL ? PEM_read_bio_PUBKEY (mem, NULL, no_passphrase, NULL) : NULL;

  ERR_clear_error ();
  if (pkey == NULL)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY,
                   "%s is not a public key in PEM (\"-----BEGIN PUBLIC KEY-----\")",
                   origin != NULL ? origin : "the data");
      return NULL;
    }
  return device_key_wrap (pkey, FALSE, origin != NULL ? origin : "the data", error);
}

AnsimDeviceKey *
ansim_device_key_new_public_from_raw (const guint8 raw[32], const char *origin, GError **error)
{
  EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key (EVP_PKEY_ED25519, NULL, raw, 32);

  if (pkey == NULL)
    return ansim_set_openssl_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY,
                                    "reading an Ed25519 public key"),
           NULL;
  return device_key_wrap (pkey, FALSE, origin != NULL ? origin : "the data", error);
}

AnsimDeviceKey *
ansim_device_key_load_public (const char *path, GError **error)
{
  g_autoptr (GBytes) pem = ansim_evidence_read_small_file (path, KEY_FILE_MAX, error);
  AnsimDeviceKey *key;

  if (pem == NULL)
    return NULL;
  key = ansim_device_key_new_public_from_pem (g_bytes_get_data (pem, NULL), g_bytes_get_size (pem),
                                              path, error);
  if (key != NULL)
    key->path = g_strdup (path);
  return key;
}

static gboolean
refuse_mode (const char *path, mode_t mode, GError **error)
{
  if ((mode & (S_IRWXG | S_IRWXO)) == 0)
    return FALSE;
  g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY_PERMISSIONS,
               "device key %s has mode %04o: group or others may read or write it, so it is "
               "refused (chmod 600 %s)",
               path, (unsigned) (mode & 07777), path);
  return TRUE;
}

/* Writes the public key beside the private one when it is missing or
 * belongs to another key (e.g. left from a replaced key). */
static gboolean
ensure_public_file (const AnsimDeviceKey *key, GError **error)
{
  g_autofree char *pub_path = ansim_device_key_public_path (key->path);
  g_autoptr (AnsimDeviceKey) existing = ansim_device_key_load_public (pub_path, NULL);
  g_autofree char *pem = NULL;

  if (existing != NULL && memcmp (existing->raw, key->raw, 32) == 0)
    return TRUE;
  pem = ansim_device_key_get_public_pem (key);
  return ansim_file_write_durable (pub_path, pem, strlen (pem), 0644, ANSIM_WRITE_REPLACE, error);
}

/* Loads a private key; ENOENT is reported as G_FILE_ERROR_NOENT. */
static AnsimDeviceKey *
load_private (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  guint8 *buf;
  gsize len = 0;
  AnsimDeviceKey *key = NULL;

  if (fd < 0)
    {
      ansim_set_error_from_errno (error, errno, "cannot open device key", path);
      return NULL;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY,
                   "device key %s is not a regular file", path);
      return NULL;
    }
  if (refuse_mode (path, st.st_mode, error))
    {
      close (fd);
      return NULL;
    }
  buf = g_malloc (KEY_FILE_MAX);
  for (;;)
    {
      ssize_t n = read (fd, buf + len, KEY_FILE_MAX - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          ansim_set_error_from_errno (error, errno, "cannot read device key", path);
          goto out;
        }
      if (n == 0)
        break;
      len += n;
      if (len == KEY_FILE_MAX)
        {
          g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY,
                       "device key %s is too large to be a key", path);
          goto out;
        }
    }
  {
    g_autoptr (BIO) mem = BIO_new_mem_buf (buf, (int) len);
    EVP_PKEY *pkey = mem != NULL ? PEM_read_bio_PrivateKey (mem, NULL, no_passphrase, NULL) : NULL;

    ERR_clear_error ();
    if (pkey == NULL)
      {
        g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY,
                     "device key %s is not an unencrypted private key in PEM "
                     "(\"-----BEGIN PRIVATE KEY-----\")",
                     path);
        goto out;
      }
    key = device_key_wrap (pkey, TRUE, path, error);
    if (key != NULL)
      key->path = g_strdup (path);
  }

out:
  OPENSSL_cleanse (buf, KEY_FILE_MAX);
  g_free (buf);
  close (fd);
  return key;
}

AnsimDeviceKey *
ansim_device_key_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_autoptr (AnsimDeviceKey) key = load_private (path, error);
  g_autoptr (GError) local = NULL;

  if (key == NULL)
    return NULL;
  /* The public file is a convenience for people and tools; a read-only
   * folder must not stop a device that has its key. */
  if (!ensure_public_file (key, &local))
    g_debug ("cannot write the public key beside %s: %s", path, local->message);
  return g_steal_pointer (&key);
}

static AnsimDeviceKey *
create_key (const char *path, GError **error)
{
  g_autoptr (EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new_id (EVP_PKEY_ED25519, NULL);
  g_autoptr (BIO) mem = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr (EVP_PKEY) pkey = NULL;
  char *pem = NULL;
  long pem_len;
  gboolean written;

  if (ctx == NULL || EVP_PKEY_keygen_init (ctx) <= 0 || EVP_PKEY_keygen (ctx, &pkey) <= 0)
    {
      openssl_failed (error, "cannot generate an Ed25519 key");
      return NULL;
    }
  mem = BIO_new (BIO_s_mem ());
  if (mem == NULL || !PEM_write_bio_PrivateKey (mem, pkey, NULL, NULL, 0, NULL, NULL))
    {
      openssl_failed (error, "cannot encode the Ed25519 key");
      return NULL;
    }
  pem_len = BIO_get_mem_data (mem, &pem);
  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      OPENSSL_cleanse (pem, pem_len);
      ansim_set_error_from_errno (error, errno, "cannot create folder", dir);
      return NULL;
    }
  /* Never replace: if another process made a key meanwhile, use that. */
  written = ansim_file_write_durable (path, pem, pem_len, 0600, ANSIM_WRITE_NO_REPLACE, &local);
  OPENSSL_cleanse (pem, pem_len);
  if (!written && !g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_EXIST))
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&local), "cannot create device key: ");
      return NULL;
    }
  g_autoptr (AnsimDeviceKey) key = load_private (path, error);
  if (key == NULL)
    return NULL;
  if (!ensure_public_file (key, error))
    return NULL;
  return g_steal_pointer (&key);
}

AnsimDeviceKey *
ansim_device_key_load_or_create (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_autoptr (GError) local = NULL;
  AnsimDeviceKey *key = ansim_device_key_load (path, &local);

  if (key != NULL)
    return key;
  if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    return create_key (path, error);
  g_propagate_error (error, g_steal_pointer (&local));
  return NULL;
}

GBytes *
ansim_device_key_sign (const AnsimDeviceKey *key, const void *data, gsize len, GError **error)
{
  g_return_val_if_fail (key != NULL, NULL);
  g_autoptr (EVP_MD_CTX) ctx = EVP_MD_CTX_new ();
  guint8 sig[ANSIM_SIGNATURE_SIZE];
  size_t sig_len = sizeof sig;

  if (!key->has_private)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY,
                   "%s is a public key: it cannot sign", key->path ? key->path : "the key");
      return NULL;
    }
  /* Pure Ed25519: no digest, the message itself goes in. */
  if (ctx == NULL || EVP_DigestSignInit (ctx, NULL, NULL, NULL, key->pkey) <= 0
      || EVP_DigestSign (ctx, sig, &sig_len, data, len) <= 0 || sig_len != sizeof sig)
    {
      openssl_failed (error, "cannot sign");
      return NULL;
    }
  return g_bytes_new (sig, sig_len);
}

gboolean
ansim_device_key_verify (const AnsimDeviceKey *key, const void *data, gsize len,
                         const void *signature, gsize signature_len, GError **error)
{
  g_return_val_if_fail (key != NULL, FALSE);
  g_autoptr (EVP_MD_CTX) ctx = EVP_MD_CTX_new ();
  int r;

  if (signature_len != ANSIM_SIGNATURE_SIZE)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_SIGNATURE,
                   "the signature is %" G_GSIZE_FORMAT " bytes; an Ed25519 signature is %d",
                   signature_len, ANSIM_SIGNATURE_SIZE);
      return FALSE;
    }
  if (ctx == NULL || EVP_DigestVerifyInit (ctx, NULL, NULL, NULL, key->pkey) <= 0)
    return openssl_failed (error, "cannot verify");
  r = EVP_DigestVerify (ctx, signature, signature_len, data, len);
  ERR_clear_error ();
  if (r != 1)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_SIGNATURE,
                   "the signature does not verify with key %s", key->fingerprint);
      return FALSE;
    }
  return TRUE;
}
