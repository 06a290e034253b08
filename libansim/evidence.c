/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the evidence format: device keys, the manifest builder,
 * serializer and strict parser, segment sealing and incident verification. */
#include "evidence.h"
#include "evidence-private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

G_DEFINE_QUARK (ansim-evidence-error-quark, ansim_evidence_error)

#define KEY_FILE_MAX (64 * 1024)          /* a PEM key is a few hundred bytes */
#define SIG_FILE_MAX 1024
#define TEXT_MAX 256                      /* ids, names, reasons */
#define TOKEN_MAX 64                      /* kinds and close reasons */
#define JSON_MAX_DEPTH 8                  /* the format needs 3 */
#define IO_CHUNK (64 * 1024)
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

static gboolean
openssl_failed (GError **error, const char *what)
{
  unsigned long e = ERR_get_error ();
  char buf[256] = "unknown error";

  if (e != 0)
    ERR_error_string_n (e, buf, sizeof buf);
  ERR_clear_error ();
  g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_FAILED, "%s: %s", what, buf);
  return FALSE;
}

/* "WHAT PATH: strerror", in the file error domain. */
static gboolean
errno_failed (GError **error, int saved_errno, const char *what, const char *path)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s %s: %s", what,
               path, g_strerror (saved_errno));
  return FALSE;
}

/* ---- hashing and values ---------------------------------------------------- */

static void
hex_encode (const guint8 *in, gsize n, char *out)
{
  static const char digits[] = "0123456789abcdef";

  for (gsize i = 0; i < n; i++)
    {
      out[2 * i] = digits[in[i] >> 4];
      out[2 * i + 1] = digits[in[i] & 15];
    }
  out[2 * n] = '\0';
}

/* SHA-256 is always present in OpenSSL's default provider: a failure here
 * means a broken installation, and evidence must not be made with it. */
EVP_MD_CTX *
ansim_sha256_new (void)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();

  if (ctx == NULL || !EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL))
    g_error ("OpenSSL cannot compute SHA-256");
  return ctx;
}

void
ansim_sha256_finish_hex (EVP_MD_CTX *ctx, char out_hex[ANSIM_SHA256_HEX_LEN + 1])
{
  guint8 md[32];
  unsigned int len = 0;

  if (!EVP_DigestFinal_ex (ctx, md, &len) || len != 32)
    g_error ("OpenSSL cannot compute SHA-256");
  hex_encode (md, 32, out_hex);
}

void
ansim_sha256_hex (const void *data, gsize len, char out_hex[ANSIM_SHA256_HEX_LEN + 1])
{
  g_autoptr (EVP_MD_CTX) ctx = ansim_sha256_new ();

  EVP_DigestUpdate (ctx, data, len);
  ansim_sha256_finish_hex (ctx, out_hex);
}

gboolean
ansim_evidence_is_sha256_hex (const char *s)
{
  if (s == NULL || strlen (s) != ANSIM_SHA256_HEX_LEN)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isdigit (*p) && !(*p >= 'a' && *p <= 'f'))
      return FALSE;
  return TRUE;
}

static gboolean
is_fingerprint (const char *s)
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

/* Names and reasons: UTF-8 without control characters, so that every
 * value stays on its line of the canonical entry text. */
static gboolean
is_text (const char *s)
{
  gsize len = s != NULL ? strlen (s) : 0;

  if (len == 0 || len > TEXT_MAX || !g_utf8_validate (s, len, NULL))
    return FALSE;
  for (const char *p = s; *p; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

/* Kinds and close reasons: [a-z0-9-], starting with a letter or digit. */
static gboolean
is_token (const char *s)
{
  gsize len = s != NULL ? strlen (s) : 0;

  if (len == 0 || len > TOKEN_MAX || s[0] == '-')
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '-')
      return FALSE;
  return TRUE;
}

static gboolean
is_uuid (const char *s)
{
  if (s == NULL || !g_uuid_string_is_valid (s))
    return FALSE;
  for (const char *p = s; *p; p++)
    if (g_ascii_isupper (*p))
      return FALSE;
  return TRUE;
}

/* 9999-12-31T23:59:59.999999Z */
#define WALL_MAX_US G_GINT64_CONSTANT (253402300799999999)

char *
ansim_evidence_format_wall (gint64 wall_us)
{
  g_return_val_if_fail (wall_us >= 0 && wall_us <= WALL_MAX_US, NULL);
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (wall_us / G_USEC_PER_SEC);
  g_autofree char *seconds = g_date_time_format (t, "%Y-%m-%dT%H:%M:%S");

  return g_strdup_printf ("%s.%06dZ", seconds, (int) (wall_us % G_USEC_PER_SEC));
}

gboolean
ansim_evidence_parse_wall (const char *text, gint64 *out_wall_us)
{
  static const char pattern[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
  int y, mo, d, h, mi, s, us;

  if (text == NULL || strlen (text) != sizeof pattern - 1)
    return FALSE;
  for (gsize i = 0; i < sizeof pattern - 1; i++)
    if (pattern[i] == 'd' ? !g_ascii_isdigit (text[i]) : text[i] != pattern[i])
      return FALSE;
  if (sscanf (text, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ", &y, &mo, &d, &h, &mi, &s, &us) != 7
      || y < 1970)
    return FALSE;
  g_autoptr (GDateTime) t = g_date_time_new_utc (y, mo, d, h, mi, s);
  if (t == NULL)
    return FALSE;
  gint64 wall_us = g_date_time_to_unix (t) * G_USEC_PER_SEC + us;
  /* Only the one spelling ansim writes: the canonical entry text uses it. */
  g_autofree char *again = ansim_evidence_format_wall (wall_us);
  if (g_strcmp0 (again, text) != 0)
    return FALSE;
  *out_wall_us = wall_us;
  return TRUE;
}

gboolean
ansim_evidence_parse_segment_name (const char *name, guint64 *out_index, char **out_plain_name)
{
  gsize len = name != NULL ? strlen (name) : 0;

  /* seg- 6 digits . ext(1..8 of [a-z0-9]) .age */
  if (len < 16 || len > 23 || !g_str_has_prefix (name, "seg-") || !g_str_has_suffix (name, ".age"))
    return FALSE;
  for (int i = 4; i < 10; i++)
    if (!g_ascii_isdigit (name[i]))
      return FALSE;
  if (name[10] != '.')
    return FALSE;
  for (gsize i = 11; i < len - 4; i++)
    if (!g_ascii_islower (name[i]) && !g_ascii_isdigit (name[i]))
      return FALSE;
  if (out_index != NULL)
    *out_index = g_ascii_strtoull (name + 4, NULL, 10);
  if (out_plain_name != NULL)
    *out_plain_name = g_strndup (name, len - 4);
  return TRUE;
}

/* ---- files ------------------------------------------------------------------ */

static gboolean
write_all (int fd, const void *data, gsize len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            errno = EIO;
          return FALSE;
        }
      p += n;
      len -= n;
    }
  return TRUE;
}

static gboolean
fsync_dir (const char *dir, GError **error)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return errno_failed (error, errno, "cannot open folder", dir);
  /* Some file systems cannot sync a folder; the rename is as durable as
   * they make it. */
  if (fsync (fd) < 0 && errno != EINVAL && errno != ENOTSUP)
    {
      int saved = errno;
      close (fd);
      return errno_failed (error, saved, "cannot sync folder", dir);
    }
  close (fd);
  return TRUE;
}

/* rename() that never replaces: RENAME_NOREPLACE where the file system has
 * it, else link()+unlink(), else (FAT, as on a USB stick) check and rename. */
static gboolean
rename_noreplace (const char *from, const char *to, GError **error)
{
#ifdef RENAME_NOREPLACE
  if (renameat2 (AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
    return TRUE;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
    goto failed;
#endif
  if (link (from, to) == 0)
    {
      unlink (from);
      return TRUE;
    }
  if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP)
    goto failed;
  if (g_file_test (to, G_FILE_TEST_EXISTS))
    {
      errno = EEXIST;
      goto failed;
    }
  if (rename (from, to) == 0)
    return TRUE;

failed:
  if (errno == EEXIST)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_EXISTS,
                   "%s exists already; not replacing it", to);
      return FALSE;
    }
  return errno_failed (error, errno, "cannot create", to);
}

static int
open_temp (const char *path, int mode, char **out_tmp, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.tmp-XXXXXX", dir, base);
  int fd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, mode);

  if (fd < 0)
    {
      errno_failed (error, errno, "cannot create a temporary file in", dir);
      return -1;
    }
  /* Exactly this mode, whatever the umask. */
  if (fchmod (fd, mode) < 0)
    {
      int saved = errno;
      close (fd);
      unlink (tmp);
      errno_failed (error, saved, "cannot set the mode of", tmp);
      return -1;
    }
  *out_tmp = g_steal_pointer (&tmp);
  return fd;
}

gboolean
ansim_evidence_write_file (const char *path, const void *data, gsize len, int mode,
                           gboolean replace, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *tmp = NULL;
  int fd = open_temp (path, mode, &tmp, error);

  if (fd < 0)
    return FALSE;
  if (!write_all (fd, data, len) || fsync (fd) < 0)
    {
      int saved = errno;
      close (fd);
      unlink (tmp);
      return errno_failed (error, saved, "cannot write", tmp);
    }
  if (close (fd) < 0)
    {
      int saved = errno;
      unlink (tmp);
      return errno_failed (error, saved, "cannot write", tmp);
    }
  if (replace)
    {
      if (rename (tmp, path) < 0)
        {
          int saved = errno;
          unlink (tmp);
          return errno_failed (error, saved, "cannot replace", path);
        }
    }
  else if (!rename_noreplace (tmp, path, error))
    {
      unlink (tmp);
      return FALSE;
    }
  return fsync_dir (dir, error);
}

/* Reads a small file whole; refuses more than max bytes. */
static GBytes *
read_small_file (const char *path, gsize max, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  GStatBuf st;

  if (g_stat (path, &st) == 0 && st.st_size > (goffset) max)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE,
                   "%s is %" G_GINT64_FORMAT " bytes, more than the %" G_GSIZE_FORMAT " allowed",
                   path, (gint64) st.st_size, max);
      return NULL;
    }
  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  if (len > max)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE,
                   "%s is more than %" G_GSIZE_FORMAT " bytes", path, max);
      return NULL;
    }
  return g_bytes_new_take (g_steal_pointer (&data), len);
}

/* ---- device identity ---------------------------------------------------------- */

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
  ansim_sha256_hex (key->raw, 32, digest);
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
ansim_device_key_load_public (const char *path, GError **error)
{
  g_autoptr (GBytes) pem = read_small_file (path, KEY_FILE_MAX, error);
  AnsimDeviceKey *key;

  if (pem == NULL)
    return NULL;
  key = ansim_device_key_new_public_from_pem (g_bytes_get_data (pem, NULL),
                                              g_bytes_get_size (pem), path, error);
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
               "refused (chmod 600 %s)", path, (unsigned) (mode & 07777), path);
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
  return ansim_evidence_write_file (pub_path, pem, strlen (pem), 0644, TRUE, error);
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
      errno_failed (error, errno, "cannot open device key", path);
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
          errno_failed (error, errno, "cannot read device key", path);
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
                     "(\"-----BEGIN PRIVATE KEY-----\")", path);
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
      errno_failed (error, errno, "cannot create folder", dir);
      return NULL;
    }
  /* Never replace: if another process made a key meanwhile, use that. */
  written = ansim_evidence_write_file (path, pem, pem_len, 0600, FALSE, &local);
  OPENSSL_cleanse (pem, pem_len);
  if (!written && !g_error_matches (local, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_EXISTS))
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

/* ---- manifest: model and builder ------------------------------------------- */

struct _AnsimManifest {
  char *device_id;
  char *device_fingerprint;
  char *desk_id;
  char *trigger_name;
  AnsimTriggerKind trigger_kind;
  char *source;                            /* version 2; NULL in version 1 */
  gboolean drill;
  char *incident_id;
  gint64 opened_wall_us, opened_mono_us;
  gboolean closed;
  gint64 closed_wall_us, closed_mono_us;
  char *close_reason;
  char *previous_manifest_sha256;          /* NULL for a device's first incident */
  char chain_start[ANSIM_SHA256_HEX_LEN + 1];
  GArray *entries;                         /* AnsimManifestEntry */
  GArray *events;                          /* AnsimManifestEvent */
  char written_sha256[ANSIM_SHA256_HEX_LEN + 1];   /* "" before the first write */
};

static void
entry_clear (gpointer p)
{
  AnsimManifestEntry *e = p;

  g_free (e->file);
  g_free (e->reason);
  g_free (e->stream);
}

static void
event_clear (gpointer p)
{
  g_free (((AnsimManifestEvent *) p)->kind);
  g_strfreev (((AnsimManifestEvent *) p)->detail);
}

static AnsimManifest *
manifest_alloc (void)
{
  AnsimManifest *m = g_new0 (AnsimManifest, 1);

  m->entries = g_array_new (FALSE, TRUE, sizeof (AnsimManifestEntry));
  g_array_set_clear_func (m->entries, entry_clear);
  m->events = g_array_new (FALSE, TRUE, sizeof (AnsimManifestEvent));
  g_array_set_clear_func (m->events, event_clear);
  m->close_reason = g_strdup ("open");
  g_strlcpy (m->chain_start, ZERO_HASH, sizeof m->chain_start);
  return m;
}

void
ansim_manifest_free (AnsimManifest *m)
{
  if (m == NULL)
    return;
  g_free (m->device_id);
  g_free (m->device_fingerprint);
  g_free (m->desk_id);
  g_free (m->trigger_name);
  g_free (m->source);
  g_free (m->incident_id);
  g_free (m->close_reason);
  g_free (m->previous_manifest_sha256);
  g_array_unref (m->entries);
  g_array_unref (m->events);
  g_free (m);
}

static gboolean
invalid (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, args);
  va_end (args);
  g_set_error_literal (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED, msg);
  return FALSE;
}

static gboolean
check_int (gint64 v, const char *name, GError **error)
{
  if (v < 0 || v > ANSIM_MANIFEST_MAX_INT)
    return invalid (error, "%s: %" G_GINT64_FORMAT " is not an integer from 0 to 2^53-1", name, v);
  return TRUE;
}

static gboolean
check_wall (gint64 v, const char *name, GError **error)
{
  if (v < 0 || v > WALL_MAX_US)
    return invalid (error, "%s: %" G_GINT64_FORMAT " µs is not a time from 1970 to 9999", name, v);
  return TRUE;
}

AnsimManifest *
ansim_manifest_new (const AnsimManifestInfo *info, const AnsimDeviceKey *key, GError **error)
{
  g_return_val_if_fail (info != NULL && key != NULL, NULL);

  if (!is_text (info->device_id))
    return invalid (error, "device_id: not a name (1 to %d bytes of UTF-8 text)", TEXT_MAX), NULL;
  if (!is_text (info->desk_id))
    return invalid (error, "desk_id: not a name (1 to %d bytes of UTF-8 text)", TEXT_MAX), NULL;
  if (!is_text (info->trigger_name))
    return invalid (error, "trigger_name: not a name (1 to %d bytes of UTF-8 text)", TEXT_MAX), NULL;
  if (info->trigger_kind != ANSIM_TRIGGER_BUTTON && info->trigger_kind != ANSIM_TRIGGER_BODYCAM)
    return invalid (error, "trigger_kind: unknown kind %d", info->trigger_kind), NULL;
  if (info->source != NULL && !is_text (info->source))
    return invalid (error, "source: not a name (1 to %d bytes of UTF-8 text)", TEXT_MAX), NULL;
  if (info->incident_id != NULL && !is_uuid (info->incident_id))
    return invalid (error, "incident_id: \"%s\" is not a lowercase UUID", info->incident_id), NULL;
  if (!check_wall (info->opened_wall_us, "opened_wall", error)
      || !check_int (info->opened_mono_us, "opened_mono_us", error))
    return NULL;
  if (info->previous_manifest_sha256 != NULL
      && !ansim_evidence_is_sha256_hex (info->previous_manifest_sha256))
    return invalid (error, "previous_manifest_sha256: not 64 lowercase hex digits"), NULL;

  AnsimManifest *m = manifest_alloc ();
  m->device_id = g_strdup (info->device_id);
  m->device_fingerprint = g_strdup (key->fingerprint);
  m->desk_id = g_strdup (info->desk_id);
  m->trigger_name = g_strdup (info->trigger_name);
  m->trigger_kind = info->trigger_kind;
  m->source = g_strdup (info->source);
  m->drill = info->drill;
  m->incident_id = info->incident_id ? g_strdup (info->incident_id) : g_uuid_string_random ();
  m->opened_wall_us = info->opened_wall_us;
  m->opened_mono_us = info->opened_mono_us;
  if (info->previous_manifest_sha256 != NULL)
    {
      m->previous_manifest_sha256 = g_strdup (info->previous_manifest_sha256);
      g_strlcpy (m->chain_start, info->previous_manifest_sha256, sizeof m->chain_start);
    }
  return m;
}

static const char *
entry_kind_name (AnsimEntryKind kind)
{
  return kind == ANSIM_ENTRY_SEGMENT ? "segment" : "gap";
}

static const char *
trigger_kind_name (AnsimTriggerKind kind)
{
  return kind == ANSIM_TRIGGER_BUTTON ? "button" : "bodycam";
}

char *
ansim_manifest_entry_canonical (const AnsimManifestEntry *e)
{
  g_autofree char *wall = ansim_evidence_format_wall (e->start_wall_us);
  GString *s = g_string_new ("ansim-entry-v1\n");

  g_string_append_printf (s, "index=%" G_GUINT64_FORMAT "\nkind=%s\nstart_wall=%s\n"
                          "start_mono_us=%" G_GINT64_FORMAT "\nduration_us=%" G_GINT64_FORMAT "\n",
                          e->index, entry_kind_name (e->kind), wall, e->start_mono_us,
                          e->duration_us);
  if (e->kind == ANSIM_ENTRY_SEGMENT)
    g_string_append_printf (s, "file=%s\ncipher_size=%" G_GINT64_FORMAT "\nplain_size=%"
                            G_GINT64_FORMAT "\nsha256_plain=%s\nsha256_cipher=%s\n",
                            e->file, e->cipher_size, e->plain_size, e->sha256_plain,
                            e->sha256_cipher);
  else
    g_string_append_printf (s, "reason=%s\n", e->reason);
  if (e->kind == ANSIM_ENTRY_GAP && e->stream != NULL)
    g_string_append_printf (s, "stream=%s\n", e->stream);
  g_string_append_printf (s, "prev=%s\n", e->prev);
  return g_string_free (s, FALSE);
}

void
ansim_manifest_entry_hash (const AnsimManifestEntry *entry, char out_hex[ANSIM_SHA256_HEX_LEN + 1])
{
  g_autofree char *text = ansim_manifest_entry_canonical (entry);

  ansim_sha256_hex (text, strlen (text), out_hex);
}

const char *
ansim_manifest_get_chain_start (const AnsimManifest *m)
{
  return m->chain_start;
}

static gboolean
check_open_for (const AnsimManifest *m, const char *what, GError **error)
{
  if (m->closed)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_STATE,
                   "incident %s is closed (%s): cannot add %s", m->incident_id, m->close_reason,
                   what);
      return FALSE;
    }
  return TRUE;
}

/* Open, and room for one more entry. */
static gboolean
check_entry_room (const AnsimManifest *m, const char *what, GError **error)
{
  if (!check_open_for (m, what, error))
    return FALSE;
  if (m->entries->len >= ANSIM_MANIFEST_MAX_ENTRIES)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE,
                   "incident %s has %d entries, the most a manifest holds", m->incident_id,
                   ANSIM_MANIFEST_MAX_ENTRIES);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_times (gint64 wall, gint64 mono, gint64 duration, GError **error)
{
  return check_wall (wall, "start_wall", error) && check_int (mono, "start_mono_us", error)
    && check_int (duration, "duration_us", error);
}

/* Appends e (taking its strings) with the next index and the chain link. */
static void
append_entry (AnsimManifest *m, AnsimManifestEntry *e)
{
  e->index = m->entries->len;
  if (m->entries->len == 0)
    g_strlcpy (e->prev, m->chain_start, sizeof e->prev);
  else
    ansim_manifest_entry_hash (&g_array_index (m->entries, AnsimManifestEntry, m->entries->len - 1),
                               e->prev);
  g_array_append_vals (m->entries, e, 1);
}

static gboolean
check_segment (const AnsimManifest *m, gint64 start_wall_us, gint64 start_mono_us,
               gint64 duration_us, gint64 cipher_size, gint64 plain_size,
               const char *sha256_plain, const char *sha256_cipher, GError **error)
{
  return check_entry_room (m, "a segment", error)
    && check_times (start_wall_us, start_mono_us, duration_us, error)
    && check_int (cipher_size, "cipher_size", error) && check_int (plain_size, "plain_size", error)
    && (ansim_evidence_is_sha256_hex (sha256_plain)
        || invalid (error, "sha256_plain: not 64 lowercase hex digits"))
    && (ansim_evidence_is_sha256_hex (sha256_cipher)
        || invalid (error, "sha256_cipher: not 64 lowercase hex digits"));
}

gboolean
ansim_manifest_add_segment (AnsimManifest *m, gint64 start_wall_us, gint64 start_mono_us,
                            gint64 duration_us, gint64 cipher_size, gint64 plain_size,
                            const char *sha256_plain, const char *sha256_cipher, GError **error)
{
  g_return_val_if_fail (m != NULL, FALSE);
  AnsimManifestEntry e = { 0 };

  if (!check_segment (m, start_wall_us, start_mono_us, duration_us, cipher_size, plain_size,
                      sha256_plain, sha256_cipher, error))
    return FALSE;
  e.kind = ANSIM_ENTRY_SEGMENT;
  e.start_wall_us = start_wall_us;
  e.start_mono_us = start_mono_us;
  e.duration_us = duration_us;
  e.file = ansim_manifest_next_segment_name (m);
  e.cipher_size = cipher_size;
  e.plain_size = plain_size;
  g_strlcpy (e.sha256_plain, sha256_plain, sizeof e.sha256_plain);
  g_strlcpy (e.sha256_cipher, sha256_cipher, sizeof e.sha256_cipher);
  append_entry (m, &e);
  return TRUE;
}

static gboolean
is_stream_name (const char *stream)
{
  return g_strcmp0 (stream, "video") == 0 || g_strcmp0 (stream, "audio") == 0;
}

gboolean
ansim_manifest_add_gap (AnsimManifest *m, gint64 start_wall_us, gint64 start_mono_us,
                        gint64 duration_us, const char *reason, GError **error)
{
  return ansim_manifest_add_stream_gap (m, start_wall_us, start_mono_us, duration_us, NULL,
                                        reason, error);
}

gboolean
ansim_manifest_add_stream_gap (AnsimManifest *m, gint64 start_wall_us, gint64 start_mono_us,
                               gint64 duration_us, const char *stream, const char *reason,
                               GError **error)
{
  g_return_val_if_fail (m != NULL, FALSE);
  AnsimManifestEntry e = { 0 };

  if (stream != NULL && !is_stream_name (stream))
    return invalid (error, "stream: \"%s\" is neither \"video\" nor \"audio\"", stream);

  if (!check_entry_room (m, "a gap", error)
      || !check_times (start_wall_us, start_mono_us, duration_us, error))
    return FALSE;
  if (!is_text (reason))
    return invalid (error, "reason: not 1 to %d bytes of UTF-8 text without control characters",
                    TEXT_MAX);
  e.kind = ANSIM_ENTRY_GAP;
  e.start_wall_us = start_wall_us;
  e.start_mono_us = start_mono_us;
  e.duration_us = duration_us;
  e.reason = g_strdup (reason);
  e.stream = g_strdup (stream);
  append_entry (m, &e);
  return TRUE;
}

gboolean
ansim_manifest_add_event (AnsimManifest *m, const char *kind, gint64 wall_us, gint64 mono_us,
                          GError **error)
{
  return ansim_manifest_add_event_with_detail (m, kind, wall_us, mono_us, NULL, error);
}

/* A detail: pairs of a token name and a text value, names not repeated. */
static gboolean
check_detail (const char *const *detail, GError **error)
{
  guint n = 0;

  for (const char *const *d = detail; d != NULL && *d != NULL; d += 2, n++)
    {
      if (n >= ANSIM_MANIFEST_MAX_EVENT_DETAIL)
        return invalid (error, "detail: more than %d members", ANSIM_MANIFEST_MAX_EVENT_DETAIL);
      if (!is_token (d[0]))
        return invalid (error, "detail: \"%s\" is not a name (lowercase letters, digits and '-')",
                        d[0]);
      if (d[1] == NULL || !is_text (d[1]))
        return invalid (error, "detail.%s: expected 1 to %d bytes of text without control "
                        "characters", d[0], TEXT_MAX);
      for (const char *const *e = detail; e < d; e += 2)
        if (strcmp (*e, d[0]) == 0)
          return invalid (error, "detail.%s: given twice", d[0]);
    }
  return TRUE;
}

gboolean
ansim_manifest_add_event_with_detail (AnsimManifest *m, const char *kind, gint64 wall_us,
                                      gint64 mono_us, const char *const *detail, GError **error)
{
  g_return_val_if_fail (m != NULL, FALSE);
  AnsimManifestEvent ev = { 0 };

  if (!check_open_for (m, "an event", error))
    return FALSE;
  if (m->events->len >= ANSIM_MANIFEST_MAX_EVENTS)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE,
                   "incident %s has %d events, the most a manifest holds", m->incident_id,
                   ANSIM_MANIFEST_MAX_EVENTS);
      return FALSE;
    }
  if (!is_token (kind))
    return invalid (error, "kind: \"%s\" is not a kind (lowercase letters, digits and '-')",
                    kind ? kind : "(null)");
  if (!check_wall (wall_us, "wall", error) || !check_int (mono_us, "mono_us", error)
      || !check_detail (detail, error))
    return FALSE;
  ev.kind = g_strdup (kind);
  ev.wall_us = wall_us;
  ev.mono_us = mono_us;
  if (detail != NULL && detail[0] != NULL)
    ev.detail = g_strdupv ((char **) detail);
  g_array_append_vals (m->events, &ev, 1);
  return TRUE;
}

const char *
ansim_manifest_event_get_detail (const AnsimManifestEvent *ev, const char *name)
{
  g_return_val_if_fail (ev != NULL && name != NULL, NULL);
  for (char **d = ev->detail; d != NULL && *d != NULL; d += 2)
    if (strcmp (d[0], name) == 0)
      return d[1];
  return NULL;
}

gboolean
ansim_manifest_close (AnsimManifest *m, const char *reason, gint64 closed_wall_us,
                      gint64 closed_mono_us, GError **error)
{
  g_return_val_if_fail (m != NULL, FALSE);

  if (!check_open_for (m, "a close reason", error))
    return FALSE;
  if (!is_token (reason) || g_str_equal (reason, "open"))
    return invalid (error, "close_reason: \"%s\" is not a close reason (lowercase letters, "
                    "digits and '-', not \"open\")", reason ? reason : "(null)");
  if (!check_wall (closed_wall_us, "closed_wall", error)
      || !check_int (closed_mono_us, "closed_mono_us", error))
    return FALSE;
  m->closed = TRUE;
  m->closed_wall_us = closed_wall_us;
  m->closed_mono_us = closed_mono_us;
  g_free (m->close_reason);
  m->close_reason = g_strdup (reason);
  return TRUE;
}

char *
ansim_manifest_next_segment_name (const AnsimManifest *m)
{
  return g_strdup_printf ("seg-%06u.mkv.age", m->entries->len);
}

/* ---- manifest: serialization -------------------------------------------------- */

static void
add_wall (JsonBuilder *b, const char *name, gint64 wall_us)
{
  g_autofree char *text = ansim_evidence_format_wall (wall_us);

  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, text);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, v);
}

static void
add_string (JsonBuilder *b, const char *name, const char *v)
{
  json_builder_set_member_name (b, name);
  if (v != NULL)
    json_builder_add_string_value (b, v);
  else
    json_builder_add_null_value (b);
}

GBytes *
ansim_manifest_to_bytes (const AnsimManifest *m)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  gsize len = 0;

  /* Member order is fixed: people read these files. */
  json_builder_begin_object (b);
  add_string (b, "format", ANSIM_MANIFEST_FORMAT);
  add_int (b, "format_version", m->source != NULL ? ANSIM_MANIFEST_VERSION : 1);
  add_string (b, "incident_id", m->incident_id);
  add_string (b, "device_id", m->device_id);
  add_string (b, "device_fingerprint", m->device_fingerprint);
  add_string (b, "desk_id", m->desk_id);
  add_string (b, "trigger_name", m->trigger_name);
  add_string (b, "trigger_kind", trigger_kind_name (m->trigger_kind));
  if (m->source != NULL)
    add_string (b, "source", m->source);
  json_builder_set_member_name (b, "drill");
  json_builder_add_boolean_value (b, m->drill);
  add_wall (b, "opened_wall", m->opened_wall_us);
  add_int (b, "opened_mono_us", m->opened_mono_us);
  if (m->closed)
    {
      add_wall (b, "closed_wall", m->closed_wall_us);
      add_int (b, "closed_mono_us", m->closed_mono_us);
    }
  else
    {
      add_string (b, "closed_wall", NULL);
      add_string (b, "closed_mono_us", NULL);
    }
  add_string (b, "close_reason", m->close_reason);
  add_string (b, "previous_manifest_sha256", m->previous_manifest_sha256);

  json_builder_set_member_name (b, "events");
  json_builder_begin_array (b);
  for (guint i = 0; i < m->events->len; i++)
    {
      const AnsimManifestEvent *ev = &g_array_index (m->events, AnsimManifestEvent, i);
      json_builder_begin_object (b);
      add_string (b, "kind", ev->kind);
      add_wall (b, "wall", ev->wall_us);
      add_int (b, "mono_us", ev->mono_us);
      if (ev->detail != NULL)
        {
          json_builder_set_member_name (b, "detail");
          json_builder_begin_object (b);
          for (char **d = ev->detail; *d != NULL; d += 2)
            add_string (b, d[0], d[1]);
          json_builder_end_object (b);
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "entries");
  json_builder_begin_array (b);
  for (guint i = 0; i < m->entries->len; i++)
    {
      const AnsimManifestEntry *e = &g_array_index (m->entries, AnsimManifestEntry, i);
      json_builder_begin_object (b);
      add_int (b, "index", (gint64) e->index);
      add_string (b, "kind", entry_kind_name (e->kind));
      add_wall (b, "start_wall", e->start_wall_us);
      add_int (b, "start_mono_us", e->start_mono_us);
      add_int (b, "duration_us", e->duration_us);
      if (e->kind == ANSIM_ENTRY_SEGMENT)
        {
          add_string (b, "file", e->file);
          add_int (b, "cipher_size", e->cipher_size);
          add_int (b, "plain_size", e->plain_size);
          add_string (b, "sha256_plain", e->sha256_plain);
          add_string (b, "sha256_cipher", e->sha256_cipher);
        }
      else
        {
          add_string (b, "reason", e->reason);
          if (e->stream != NULL)
            add_string (b, "stream", e->stream);
        }
      add_string (b, "prev", e->prev);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_indent (gen, 2);
  char *text = json_generator_to_data (gen, &len);
  /* A final newline, as text files have. */
  text = g_realloc (text, len + 2);
  text[len] = '\n';
  text[len + 1] = '\0';
  return g_bytes_new_take (text, len + 1);
}

gboolean
ansim_manifest_write (AnsimManifest *m, const char *dir, const AnsimDeviceKey *key,
                      GError **error)
{
  g_return_val_if_fail (m != NULL && dir != NULL && key != NULL, FALSE);
  g_autoptr (GBytes) bytes = ansim_manifest_to_bytes (m);
  g_autoptr (GBytes) sig = NULL;
  g_autofree char *manifest_path = g_build_filename (dir, ANSIM_MANIFEST_NAME, NULL);
  g_autofree char *sig_path = g_build_filename (dir, ANSIM_MANIFEST_SIG_NAME, NULL);
  g_autofree char *pub_path = g_build_filename (dir, ANSIM_DEVICE_PUB_NAME, NULL);
  gsize len = 0;
  const void *data = g_bytes_get_data (bytes, &len);

  if (!g_str_equal (key->fingerprint, m->device_fingerprint))
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY,
                   "the manifest names device key %s, not %s", m->device_fingerprint,
                   key->fingerprint);
      return FALSE;
    }
  sig = ansim_device_key_sign (key, data, len, error);
  if (sig == NULL)
    return FALSE;
  if (g_mkdir_with_parents (dir, 0700) < 0)
    return errno_failed (error, errno, "cannot create folder", dir);
  if (!g_file_test (pub_path, G_FILE_TEST_EXISTS))
    {
      g_autofree char *pem = ansim_device_key_get_public_pem (key);
      if (!ansim_evidence_write_file (pub_path, pem, strlen (pem), 0644, TRUE, error))
        return FALSE;
    }
  /* Manifest before signature: after a crash between the two, the newest
   * manifest is on disk (with a stale signature) and can be closed and
   * signed again; the other order could lose its last entry. */
  if (!ansim_evidence_write_file (manifest_path, data, len, 0644, TRUE, error))
    return FALSE;
  ansim_evidence_crash_point ("manifest-written");
  if (!ansim_evidence_write_file (sig_path, g_bytes_get_data (sig, NULL),
                                     g_bytes_get_size (sig), 0644, TRUE, error))
    return FALSE;
  ansim_sha256_hex (data, len, m->written_sha256);
  return TRUE;
}

const char *
ansim_manifest_get_written_sha256 (const AnsimManifest *m)
{
  return m->written_sha256[0] != '\0' ? m->written_sha256 : NULL;
}

/* ---- manifest: strict parser -------------------------------------------------- */

/* Before json-glib sees the text: only JSON's own characters outside
 * strings (no comments or single quotes, which its scanner tolerates), and
 * bounded nesting (its parser recurses). */
static gboolean
prescan (const char *data, gsize len, GError **error)
{
  gboolean in_string = FALSE, escaped = FALSE;
  guint depth = 0;

  for (gsize i = 0; i < len; i++)
    {
      char c = data[i];
      if (in_string)
        {
          if (escaped)
            {
              /* json-glib would cut the string there, jq would not. */
              if (c == 'u' && len - i > 4 && memcmp (data + i + 1, "0000", 4) == 0)
                return invalid (error, "NUL character (\\u0000) inside a string at byte %"
                                G_GSIZE_FORMAT, i);
              escaped = FALSE;
            }
          else if (c == '\\')
            escaped = TRUE;
          else if (c == '"')
            in_string = FALSE;
          else if ((guchar) c < 0x20)
            return invalid (error, "control character inside a string at byte %" G_GSIZE_FORMAT, i);
          continue;
        }
      switch (c)
        {
        case '"':
          in_string = TRUE;
          break;
        case '{':
        case '[':
          if (++depth > JSON_MAX_DEPTH)
            return invalid (error, "nested deeper than %d levels at byte %" G_GSIZE_FORMAT,
                            JSON_MAX_DEPTH, i);
          break;
        case '}':
        case ']':
          if (depth > 0)
            depth--;
          break;
        case ' ': case '\t': case '\n': case '\r': case ':': case ',': case '-': case '+':
        case '.': case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
        case '8': case '9': case 'e': case 'E': case 't': case 'r': case 'u': case 'f': case 'a':
        case 'l': case 's': case 'n':
          break;
        default:
          return invalid (error, "not JSON: unexpected character at byte %" G_GSIZE_FORMAT, i);
        }
    }
  return TRUE;
}

/* json-glib keeps the last of duplicated members silently; the same bytes
 * must not mean different things to different readers. */
typedef struct {
  GHashTable *names;      /* JsonObject* -> GHashTable of member names */
  char *duplicate;
} DupCheck;

static void
on_object_member (G_GNUC_UNUSED JsonParser *parser, JsonObject *object, const char *name,
                  gpointer user_data)
{
  DupCheck *dc = user_data;
  GHashTable *names = g_hash_table_lookup (dc->names, object);

  if (names == NULL)
    {
      names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (dc->names, object, names);
    }
  if (!g_hash_table_add (names, g_strdup (name)) && dc->duplicate == NULL)
    dc->duplicate = g_strdup (name);
}

typedef struct {
  JsonObject *object;
  const char *prefix;     /* "" or "entries[3]." */
} Obj;

static gboolean
only_members (Obj o, const char *const *allowed, GError **error)
{
  g_autoptr (GList) names = json_object_get_members (o.object);

  for (GList *l = names; l != NULL; l = l->next)
    if (!g_strv_contains (allowed, l->data))
      return invalid (error, "%s%s: unknown member", o.prefix, (const char *) l->data);
  return TRUE;
}

static JsonNode *
member (Obj o, const char *name, GError **error)
{
  JsonNode *node = json_object_get_member (o.object, name);

  if (node == NULL)
    invalid (error, "%s%s: missing", o.prefix, name);
  return node;
}

static gboolean
get_string (Obj o, const char *name, gboolean nullable, const char **out, GError **error)
{
  JsonNode *node = member (o, name, error);

  if (node == NULL)
    return FALSE;
  if (nullable && JSON_NODE_HOLDS_NULL (node))
    {
      *out = NULL;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return invalid (error, "%s%s: expected a string%s", o.prefix, name, nullable ? " or null" : "");
  *out = json_node_get_string (node);
  return TRUE;
}

static gboolean
get_int (Obj o, const char *name, gboolean nullable, gboolean *out_null, gint64 *out,
         GError **error)
{
  JsonNode *node = member (o, name, error);

  if (node == NULL)
    return FALSE;
  if (nullable && JSON_NODE_HOLDS_NULL (node))
    {
      *out_null = TRUE;
      *out = 0;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64
      || json_node_get_int (node) < 0 || json_node_get_int (node) > ANSIM_MANIFEST_MAX_INT)
    return invalid (error, "%s%s: expected an integer from 0 to 2^53-1%s", o.prefix, name,
                    nullable ? " or null" : "");
  if (out_null != NULL)
    *out_null = FALSE;
  *out = json_node_get_int (node);
  return TRUE;
}

static gboolean
get_hex (Obj o, const char *name, gboolean nullable, char out[ANSIM_SHA256_HEX_LEN + 1],
         gboolean *out_null, GError **error)
{
  const char *s;

  if (!get_string (o, name, nullable, &s, error))
    return FALSE;
  if (s == NULL)
    {
      *out_null = TRUE;
      return TRUE;
    }
  if (!ansim_evidence_is_sha256_hex (s))
    return invalid (error, "%s%s: expected 64 lowercase hex digits (SHA-256)", o.prefix, name);
  g_strlcpy (out, s, ANSIM_SHA256_HEX_LEN + 1);
  if (out_null != NULL)
    *out_null = FALSE;
  return TRUE;
}

static gboolean
get_text (Obj o, const char *name, char **out, GError **error)
{
  const char *s;

  if (!get_string (o, name, FALSE, &s, error))
    return FALSE;
  if (!is_text (s))
    return invalid (error, "%s%s: expected 1 to %d bytes of text without control characters",
                    o.prefix, name, TEXT_MAX);
  *out = g_strdup (s);
  return TRUE;
}

static gboolean
get_token (Obj o, const char *name, char **out, GError **error)
{
  const char *s;

  if (!get_string (o, name, FALSE, &s, error))
    return FALSE;
  if (!is_token (s))
    return invalid (error, "%s%s: \"%s\" is not a kind (lowercase letters, digits and '-')",
                    o.prefix, name, s);
  *out = g_strdup (s);
  return TRUE;
}

static gboolean
get_wall (Obj o, const char *name, gboolean nullable, gboolean *out_null, gint64 *out,
          GError **error)
{
  const char *s;

  if (!get_string (o, name, nullable, &s, error))
    return FALSE;
  if (s == NULL)
    {
      *out_null = TRUE;
      return TRUE;
    }
  if (!ansim_evidence_parse_wall (s, out))
    return invalid (error, "%s%s: expected a UTC time like 2025-01-02T03:04:05.123456Z", o.prefix,
                    name);
  if (out_null != NULL)
    *out_null = FALSE;
  return TRUE;
}

static JsonArray *
get_array (Obj o, const char *name, guint max, GError **error)
{
  JsonNode *node = member (o, name, error);

  if (node == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return invalid (error, "%s%s: expected an array", o.prefix, name), NULL;
  JsonArray *array = json_node_get_array (node);
  if (json_array_get_length (array) > max)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE,
                   "%s%s: %u elements, more than the %u allowed", o.prefix, name,
                   json_array_get_length (array), max);
      return NULL;
    }
  return array;
}

static gboolean
element_object (JsonArray *array, const char *name, guint i, char **out_prefix, Obj *out,
                GError **error)
{
  JsonNode *node = json_array_get_element (array, i);

  *out_prefix = g_strdup_printf ("%s[%u].", name, i);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return invalid (error, "%s[%u]: expected an object", name, i);
  out->object = json_node_get_object (node);
  out->prefix = *out_prefix;
  return TRUE;
}

static gboolean
parse_entry (Obj o, AnsimManifestEntry *e, GError **error)
{
  static const char *const segment_members[] = {
    "index", "kind", "start_wall", "start_mono_us", "duration_us", "file", "cipher_size",
    "plain_size", "sha256_plain", "sha256_cipher", "prev", NULL
  };
  static const char *const gap_members[] = {
    "index", "kind", "start_wall", "start_mono_us", "duration_us", "reason", "stream", "prev",
    NULL
  };
  const char *kind;
  gint64 index;

  if (!get_string (o, "kind", FALSE, &kind, error))
    return FALSE;
  if (g_str_equal (kind, "segment"))
    e->kind = ANSIM_ENTRY_SEGMENT;
  else if (g_str_equal (kind, "gap"))
    e->kind = ANSIM_ENTRY_GAP;
  else
    return invalid (error, "%skind: \"%s\" is neither \"segment\" nor \"gap\"", o.prefix, kind);
  if (!only_members (o, e->kind == ANSIM_ENTRY_SEGMENT ? segment_members : gap_members, error)
      || !get_int (o, "index", FALSE, NULL, &index, error)
      || !get_wall (o, "start_wall", FALSE, NULL, &e->start_wall_us, error)
      || !get_int (o, "start_mono_us", FALSE, NULL, &e->start_mono_us, error)
      || !get_int (o, "duration_us", FALSE, NULL, &e->duration_us, error))
    return FALSE;
  e->index = index;
  if (e->kind == ANSIM_ENTRY_SEGMENT)
    {
      const char *file;
      if (!get_string (o, "file", FALSE, &file, error))
        return FALSE;
      if (!ansim_evidence_parse_segment_name (file, NULL, NULL))
        return invalid (error, "%sfile: \"%s\" is not a segment file name (seg-NNNNNN.EXT.age)",
                        o.prefix, file);
      e->file = g_strdup (file);
      if (!get_int (o, "cipher_size", FALSE, NULL, &e->cipher_size, error)
          || !get_int (o, "plain_size", FALSE, NULL, &e->plain_size, error)
          || !get_hex (o, "sha256_plain", FALSE, e->sha256_plain, NULL, error)
          || !get_hex (o, "sha256_cipher", FALSE, e->sha256_cipher, NULL, error))
        return FALSE;
    }
  else
    {
      const char *stream = NULL;
      /* Optional: only a one-stream gap has it. */
      if (!get_text (o, "reason", &e->reason, error)
          || (json_object_has_member (o.object, "stream")
              && !get_string (o, "stream", FALSE, &stream, error)))
        return FALSE;
      if (stream != NULL && !is_stream_name (stream))
        return invalid (error, "%sstream: \"%s\" is neither \"video\" nor \"audio\"",
                        o.prefix, stream);
      e->stream = g_strdup (stream);
    }
  return get_hex (o, "prev", FALSE, e->prev, NULL, error);
}

static gboolean
parse_event (Obj o, AnsimManifestEvent *ev, GError **error)
{
  static const char *const members[] = { "kind", "wall", "mono_us", "detail", NULL };

  if (!(only_members (o, members, error) && get_token (o, "kind", &ev->kind, error)
        && get_wall (o, "wall", FALSE, NULL, &ev->wall_us, error)
        && get_int (o, "mono_us", FALSE, NULL, &ev->mono_us, error)))
    return FALSE;
  JsonNode *node = json_object_get_member (o.object, "detail");
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node) || json_object_get_size (json_node_get_object (node)) == 0)
    return invalid (error, "%sdetail: expected an object with at least one member", o.prefix);
  JsonObject *d = json_node_get_object (node);
  if (json_object_get_size (d) > ANSIM_MANIFEST_MAX_EVENT_DETAIL)
    return invalid (error, "%sdetail: more than %d members", o.prefix,
                    ANSIM_MANIFEST_MAX_EVENT_DETAIL);
  g_autoptr (GPtrArray) pairs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GList) names = json_object_get_members (d);
  g_autofree char *prefix = g_strdup_printf ("%sdetail.", o.prefix);
  Obj dobj = { d, prefix };
  for (GList *l = names; l != NULL; l = l->next)
    {
      char *value = NULL;
      if (!is_token (l->data))
        return invalid (error, "%s%s: not a name (lowercase letters, digits and '-')", prefix,
                        (const char *) l->data);
      if (!get_text (dobj, l->data, &value, error))
        return FALSE;
      g_ptr_array_add (pairs, g_strdup (l->data));
      g_ptr_array_add (pairs, value);
    }
  g_ptr_array_add (pairs, NULL);
  ev->detail = (char **) g_ptr_array_free (g_steal_pointer (&pairs), FALSE);
  return TRUE;
}

static gboolean
parse_root (Obj o, AnsimManifest *m, GError **error)
{
  static const char *const members_v1[] = {
    "format", "format_version", "incident_id", "device_id", "device_fingerprint", "desk_id",
    "trigger_name", "trigger_kind", "drill", "opened_wall", "opened_mono_us", "closed_wall",
    "closed_mono_us", "close_reason", "previous_manifest_sha256", "events", "entries", NULL
  };
  static const char *const members_v2[] = {
    "format", "format_version", "incident_id", "device_id", "device_fingerprint", "desk_id",
    "trigger_name", "trigger_kind", "source", "drill", "opened_wall", "opened_mono_us",
    "closed_wall", "closed_mono_us", "close_reason", "previous_manifest_sha256", "events",
    "entries", NULL
  };
  const char *s;
  gint64 version;
  gboolean wall_null = FALSE, mono_null = FALSE, prev_null = FALSE;
  char prev[ANSIM_SHA256_HEX_LEN + 1];
  JsonNode *node;

  /* The format and its version first: a newer manifest gets a message
   * about its version, not about its new members. */
  if (!get_string (o, "format", FALSE, &s, error))
    return FALSE;
  if (!g_str_equal (s, ANSIM_MANIFEST_FORMAT))
    return invalid (error, "format: \"%s\" is not \"%s\"", s, ANSIM_MANIFEST_FORMAT);
  if (!get_int (o, "format_version", FALSE, NULL, &version, error))
    return FALSE;
  if (version != 1 && version != ANSIM_MANIFEST_VERSION)
    return invalid (error, "format_version: version %" G_GINT64_FORMAT " is not supported "
                    "(this program reads versions 1 and %d)", version, ANSIM_MANIFEST_VERSION);
  if (!only_members (o, version == 1 ? members_v1 : members_v2, error))
    return FALSE;

  if (!get_string (o, "incident_id", FALSE, &s, error))
    return FALSE;
  if (!is_uuid (s))
    return invalid (error, "incident_id: \"%s\" is not a lowercase UUID", s);
  m->incident_id = g_strdup (s);
  if (!get_text (o, "device_id", &m->device_id, error))
    return FALSE;
  if (!get_string (o, "device_fingerprint", FALSE, &s, error))
    return FALSE;
  if (!is_fingerprint (s))
    return invalid (error, "device_fingerprint: expected 8 groups of 4 lowercase hex digits "
                    "joined by ':'");
  m->device_fingerprint = g_strdup (s);
  if (!get_text (o, "desk_id", &m->desk_id, error)
      || !get_text (o, "trigger_name", &m->trigger_name, error)
      || !get_string (o, "trigger_kind", FALSE, &s, error))
    return FALSE;
  if (g_str_equal (s, "button"))
    m->trigger_kind = ANSIM_TRIGGER_BUTTON;
  else if (g_str_equal (s, "bodycam"))
    m->trigger_kind = ANSIM_TRIGGER_BODYCAM;
  else
    return invalid (error, "trigger_kind: \"%s\" is neither \"button\" nor \"bodycam\"", s);
  if (version >= 2 && !get_text (o, "source", &m->source, error))
    return FALSE;
  if ((node = member (o, "drill", error)) == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return invalid (error, "drill: expected true or false");
  m->drill = json_node_get_boolean (node);
  if (!get_wall (o, "opened_wall", FALSE, NULL, &m->opened_wall_us, error)
      || !get_int (o, "opened_mono_us", FALSE, NULL, &m->opened_mono_us, error)
      || !get_wall (o, "closed_wall", TRUE, &wall_null, &m->closed_wall_us, error)
      || !get_int (o, "closed_mono_us", TRUE, &mono_null, &m->closed_mono_us, error))
    return FALSE;
  g_clear_pointer (&m->close_reason, g_free);
  if (!get_token (o, "close_reason", &m->close_reason, error))
    return FALSE;
  m->closed = !g_str_equal (m->close_reason, "open");
  if (m->closed && (wall_null || mono_null))
    return invalid (error, "%s: null, but close_reason is \"%s\"",
                    wall_null ? "closed_wall" : "closed_mono_us", m->close_reason);
  if (!m->closed && (!wall_null || !mono_null))
    return invalid (error, "%s: must be null while close_reason is \"open\"",
                    !wall_null ? "closed_wall" : "closed_mono_us");
  if (!get_hex (o, "previous_manifest_sha256", TRUE, prev, &prev_null, error))
    return FALSE;
  if (!prev_null)
    {
      m->previous_manifest_sha256 = g_strdup (prev);
      g_strlcpy (m->chain_start, prev, sizeof m->chain_start);
    }

  JsonArray *events = get_array (o, "events", ANSIM_MANIFEST_MAX_EVENTS, error);
  if (events == NULL)
    return FALSE;
  for (guint i = 0; i < json_array_get_length (events); i++)
    {
      g_autofree char *prefix = NULL;
      AnsimManifestEvent ev = { 0 };
      Obj eo;
      gboolean ok = element_object (events, "events", i, &prefix, &eo, error)
        && parse_event (eo, &ev, error);
      g_array_append_vals (m->events, &ev, 1);
      if (!ok)
        return FALSE;
    }
  JsonArray *entries = get_array (o, "entries", ANSIM_MANIFEST_MAX_ENTRIES, error);
  if (entries == NULL)
    return FALSE;
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      g_autofree char *prefix = NULL;
      AnsimManifestEntry e = { 0 };
      Obj eo;
      gboolean ok = element_object (entries, "entries", i, &prefix, &eo, error)
        && parse_entry (eo, &e, error);
      /* Appended even when half-filled, so the array frees its strings. */
      g_array_append_vals (m->entries, &e, 1);
      if (!ok)
        return FALSE;
    }
  return TRUE;
}

AnsimManifest *
ansim_manifest_parse (const void *data, gsize len, GError **error)
{
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  const char *end = NULL;

  if (len > ANSIM_MANIFEST_MAX_SIZE)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE,
                   "the manifest is %" G_GSIZE_FORMAT " bytes, more than the %d allowed", len,
                   ANSIM_MANIFEST_MAX_SIZE);
      return NULL;
    }
  /* GBytes hands out NULL for an empty body, which json-glib refuses loudly. */
  if (len == 0)
    return invalid (error, "not a JSON object (empty)"), NULL;
  /* Also refuses NUL bytes. */
  if (!g_utf8_validate_len (data, len, &end))
    return invalid (error, "not UTF-8 text (bad byte at %" G_GSIZE_FORMAT ")",
                    (gsize) (end - (const char *) data)), NULL;
  if (!prescan (data, len, error))
    return NULL;

  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  DupCheck dc = { g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_hash_table_unref),
                  NULL };
  gulong handler = g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), &dc);
  gboolean parsed = json_parser_load_from_data (parser, data, len, &local);
  g_signal_handler_disconnect (parser, handler);
  g_hash_table_unref (dc.names);
  g_autofree char *duplicate = dc.duplicate;

  if (!parsed)
    return invalid (error, "not JSON: %s", local->message), NULL;
  if (duplicate != NULL)
    return invalid (error, "%s: member appears twice in one object", duplicate), NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return invalid (error, "not a JSON object"), NULL;

  g_autoptr (AnsimManifest) m = manifest_alloc ();
  Obj o = { json_node_get_object (root), "" };
  if (!parse_root (o, m, error))
    return NULL;
  return g_steal_pointer (&m);
}

AnsimManifest *
ansim_manifest_load (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, ANSIM_MANIFEST_NAME, NULL);
  g_autoptr (GBytes) bytes = read_small_file (path, ANSIM_MANIFEST_MAX_SIZE, error);
  g_autoptr (GError) local = NULL;
  AnsimManifest *m;

  if (bytes == NULL)
    return NULL;
  m = ansim_manifest_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &local);
  if (m == NULL)
    g_propagate_prefixed_error (error, g_steal_pointer (&local), "%s: ", path);
  return m;
}

/* ---- manifest: getters ---------------------------------------------------------- */

const char *ansim_manifest_get_incident_id (const AnsimManifest *m) { return m->incident_id; }
const char *ansim_manifest_get_device_id (const AnsimManifest *m) { return m->device_id; }
const char *ansim_manifest_get_device_fingerprint (const AnsimManifest *m) { return m->device_fingerprint; }
const char *ansim_manifest_get_desk_id (const AnsimManifest *m) { return m->desk_id; }
const char *ansim_manifest_get_trigger_name (const AnsimManifest *m) { return m->trigger_name; }
const char *ansim_manifest_get_source (const AnsimManifest *m) { return m->source; }
AnsimTriggerKind ansim_manifest_get_trigger_kind (const AnsimManifest *m) { return m->trigger_kind; }
gboolean ansim_manifest_get_drill (const AnsimManifest *m) { return m->drill; }
gint64 ansim_manifest_get_opened_wall_us (const AnsimManifest *m) { return m->opened_wall_us; }
gint64 ansim_manifest_get_opened_mono_us (const AnsimManifest *m) { return m->opened_mono_us; }
gboolean ansim_manifest_is_closed (const AnsimManifest *m) { return m->closed; }
gint64 ansim_manifest_get_closed_wall_us (const AnsimManifest *m) { return m->closed_wall_us; }
gint64 ansim_manifest_get_closed_mono_us (const AnsimManifest *m) { return m->closed_mono_us; }
const char *ansim_manifest_get_close_reason (const AnsimManifest *m) { return m->close_reason; }
const char *ansim_manifest_get_previous_manifest_sha256 (const AnsimManifest *m) { return m->previous_manifest_sha256; }
guint ansim_manifest_get_n_entries (const AnsimManifest *m) { return m->entries->len; }
guint ansim_manifest_get_n_events (const AnsimManifest *m) { return m->events->len; }

const AnsimManifestEntry *
ansim_manifest_get_entry (const AnsimManifest *m, guint position)
{
  g_return_val_if_fail (position < m->entries->len, NULL);
  return &g_array_index (m->entries, AnsimManifestEntry, position);
}

const AnsimManifestEvent *
ansim_manifest_get_event (const AnsimManifest *m, guint position)
{
  g_return_val_if_fail (position < m->events->len, NULL);
  return &g_array_index (m->events, AnsimManifestEvent, position);
}

/* ---- sealing segments ------------------------------------------------------------- */

struct _AnsimSegmentSealer {
  AnsimManifest *manifest;     /* borrowed */
  guint index;                 /* the entry it will become */
  char *dir;
  char *path;                  /* final name */
  char *tmp_path;              /* NULL once renamed or removed */
  int fd;
  AnsimAgeEncryptor *encryptor;
  EVP_MD_CTX *plain_sha, *cipher_sha;
  gint64 plain_size, cipher_size;
  gboolean payload_started;
  gboolean done;               /* listed in the manifest */
};

static gboolean
sealer_output (const guint8 *data, gsize len, gpointer user_data, GError **error)
{
  AnsimSegmentSealer *s = user_data;

  /* The age header comes first, alone; then the payload's chunks. */
  gboolean first_chunk = s->cipher_size > 0 && !s->payload_started;

  if (!write_all (s->fd, data, len))
    return errno_failed (error, errno, "cannot write", s->tmp_path);
  EVP_DigestUpdate (s->cipher_sha, data, len);
  s->cipher_size += len;
  if (first_chunk)
    {
      s->payload_started = TRUE;
      ansim_evidence_crash_point ("segment-partial");
    }
  return TRUE;
}

void
ansim_segment_sealer_free (AnsimSegmentSealer *s)
{
  if (s == NULL)
    return;
  ansim_age_encryptor_free (s->encryptor);
  if (s->fd >= 0)
    close (s->fd);
  /* An unfinished (never listed) temp file is not evidence; a listed one is. */
  if (s->tmp_path != NULL && !s->done)
    unlink (s->tmp_path);
  EVP_MD_CTX_free (s->plain_sha);
  EVP_MD_CTX_free (s->cipher_sha);
  g_free (s->dir);
  g_free (s->path);
  g_free (s->tmp_path);
  g_free (s);
}

AnsimSegmentSealer *
ansim_segment_sealer_new (AnsimManifest *manifest, const char *dir,
                          AnsimAgeRecipient *const *recipients, guint n_recipients,
                          GError **error)
{
  g_return_val_if_fail (manifest != NULL && dir != NULL, NULL);
  g_autofree char *name = ansim_manifest_next_segment_name (manifest);

  if (!check_entry_room (manifest, "a segment", error))
    return NULL;
  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      errno_failed (error, errno, "cannot create folder", dir);
      return NULL;
    }
  g_autoptr (AnsimSegmentSealer) s = g_new0 (AnsimSegmentSealer, 1);
  s->manifest = manifest;
  s->index = manifest->entries->len;
  s->dir = g_strdup (dir);
  s->path = g_build_filename (dir, name, NULL);
  s->plain_sha = ansim_sha256_new ();
  s->cipher_sha = ansim_sha256_new ();
  s->fd = open_temp (s->path, 0644, &s->tmp_path, error);
  if (s->fd < 0)
    return NULL;
  s->encryptor = ansim_age_encryptor_new (recipients, n_recipients, sealer_output, s, error);
  if (s->encryptor == NULL)
    return NULL;
  return g_steal_pointer (&s);
}

gboolean
ansim_segment_sealer_write (AnsimSegmentSealer *s, const void *data, gsize len, GError **error)
{
  g_return_val_if_fail (s != NULL && !s->done, FALSE);

  if (!ansim_age_encryptor_update (s->encryptor, data, len, error))
    return FALSE;
  EVP_DigestUpdate (s->plain_sha, data, len);
  s->plain_size += len;
  return TRUE;
}

gboolean
ansim_segment_sealer_finish_pending (AnsimSegmentSealer *s, gint64 start_wall_us,
                                     gint64 start_mono_us, gint64 duration_us, GError **error)
{
  g_return_val_if_fail (s != NULL && !s->done, FALSE);
  char plain_hex[ANSIM_SHA256_HEX_LEN + 1], cipher_hex[ANSIM_SHA256_HEX_LEN + 1];
  const char *zero = ZERO_HASH;

  if (s->manifest->entries->len != s->index)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_STATE,
                   "an entry was added to incident %s while segment %u was sealed",
                   s->manifest->incident_id, s->index);
      return FALSE;
    }
  /* Check what the entry will hold before it is added. */
  if (!check_segment (s->manifest, start_wall_us, start_mono_us, duration_us, 0, 0, zero, zero,
                      error))
    return FALSE;
  if (g_file_test (s->path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_EXISTS,
                   "%s exists already; not replacing it", s->path);
      return FALSE;
    }
  if (!ansim_age_encryptor_finish (s->encryptor, error))
    return FALSE;
  if (fsync (s->fd) < 0 || close (s->fd) < 0)
    {
      s->fd = -1;
      return errno_failed (error, errno, "cannot write", s->tmp_path);
    }
  s->fd = -1;
  ansim_evidence_crash_point ("segment-encrypted");
  ansim_sha256_finish_hex (s->plain_sha, plain_hex);
  ansim_sha256_finish_hex (s->cipher_sha, cipher_hex);
  if (!ansim_manifest_add_segment (s->manifest, start_wall_us, start_mono_us, duration_us,
                                   s->cipher_size, s->plain_size, plain_hex, cipher_hex, error))
    return FALSE;
  /* Listed now: from here on the temp file is evidence, kept even if the
   * sealer is freed unpublished (the next start reconciles it). */
  s->done = TRUE;
  return TRUE;
}

gboolean
ansim_segment_sealer_publish (AnsimSegmentSealer *s, GError **error)
{
  g_return_val_if_fail (s != NULL && s->done && s->tmp_path != NULL, FALSE);

  if (!rename_noreplace (s->tmp_path, s->path, error))
    return FALSE;
  g_clear_pointer (&s->tmp_path, g_free);
  return fsync_dir (s->dir, error);
}

gboolean
ansim_segment_sealer_finish (AnsimSegmentSealer *s, gint64 start_wall_us, gint64 start_mono_us,
                             gint64 duration_us, GError **error)
{
  return ansim_segment_sealer_finish_pending (s, start_wall_us, start_mono_us, duration_us, error)
    && ansim_segment_sealer_publish (s, error);
}

gboolean
ansim_manifest_seal_segment (AnsimManifest *manifest, const char *dir,
                             AnsimAgeRecipient *const *recipients, guint n_recipients,
                             const void *plaintext, gsize len, gint64 start_wall_us,
                             gint64 start_mono_us, gint64 duration_us, GError **error)
{
  g_autoptr (AnsimSegmentSealer) s =
    ansim_segment_sealer_new (manifest, dir, recipients, n_recipients, error);

  return s != NULL && ansim_segment_sealer_write (s, plaintext, len, error)
    && ansim_segment_sealer_finish (s, start_wall_us, start_mono_us, duration_us, error);
}

gboolean
ansim_manifest_seal_segment_durable (AnsimManifest *manifest, const char *dir,
                                     const AnsimDeviceKey *key,
                                     AnsimAgeRecipient *const *recipients, guint n_recipients,
                                     const void *plaintext, gsize len, gint64 start_wall_us,
                                     gint64 start_mono_us, gint64 duration_us, GError **error)
{
  g_autoptr (AnsimSegmentSealer) s =
    ansim_segment_sealer_new (manifest, dir, recipients, n_recipients, error);

  if (s == NULL || !ansim_segment_sealer_write (s, plaintext, len, error)
      || !ansim_segment_sealer_finish_pending (s, start_wall_us, start_mono_us, duration_us, error)
      || !ansim_manifest_write (manifest, dir, key, error))
    return FALSE;
  ansim_evidence_crash_point ("manifest-signed");
  if (!ansim_segment_sealer_publish (s, error))
    return FALSE;
  ansim_evidence_crash_point ("segment-renamed");
  return TRUE;
}

static gboolean
same_file_hash (const char *path, const AnsimManifestEntry *e, GError **error)
{
  g_autoptr (EVP_MD_CTX) sha = ansim_sha256_new ();
  g_autofree guint8 *buf = g_malloc (IO_CHUNK);
  char hex[ANSIM_SHA256_HEX_LEN + 1];
  gint64 size = 0;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return errno_failed (error, errno, "cannot open", path);
  for (;;)
    {
      ssize_t n = read (fd, buf, IO_CHUNK);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          close (fd);
          return errno_failed (error, saved, "cannot read", path);
        }
      if (n == 0)
        break;
      EVP_DigestUpdate (sha, buf, n);
      size += n;
    }
  close (fd);
  ansim_sha256_finish_hex (sha, hex);
  if (size != e->cipher_size || !g_str_equal (hex, e->sha256_cipher))
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_STATE,
                   "%s (%" G_GINT64_FORMAT " bytes, SHA-256 %s) is not what the manifest records "
                   "for %s (%" G_GINT64_FORMAT " bytes, %s)", path, size, hex, e->file,
                   e->cipher_size, e->sha256_cipher);
      return FALSE;
    }
  return TRUE;
}

gboolean
ansim_incident_adopt_temp_segment (const char *dir, const char *tmp_name,
                                   const AnsimManifest *manifest, GError **error)
{
  g_autofree char *target = NULL;
  const char *tail = strstr (tmp_name, ".tmp-");

  if (tmp_name[0] != '.' || tail == NULL)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_STATE,
                   "%s is not a temporary file name", tmp_name);
      return FALSE;
    }
  target = g_strndup (tmp_name + 1, tail - tmp_name - 1);
  const AnsimManifestEntry *entry = NULL;
  for (guint p = 0; p < manifest->entries->len; p++)
    {
      const AnsimManifestEntry *e = &g_array_index (manifest->entries, AnsimManifestEntry, p);
      if (e->kind == ANSIM_ENTRY_SEGMENT && g_str_equal (e->file, target))
        entry = e;
    }
  if (entry == NULL)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_STATE,
                   "%s: the manifest lists no %s", tmp_name, target);
      return FALSE;
    }
  g_autofree char *from = g_build_filename (dir, tmp_name, NULL);
  g_autofree char *to = g_build_filename (dir, target, NULL);
  return same_file_hash (from, entry, error) && rename_noreplace (from, to, error)
    && fsync_dir (dir, error);
}

/* ---- test crash points ------------------------------------------------------------ */

void
ansim_evidence_crash_point (const char *point)
{
  static gsize parsed = 0;
  static char *want;
  static gint target = 1;
  static gint passes;

  if (g_once_init_enter (&parsed))
    {
      const char *env = g_getenv ("ANSIM_TEST_CRASH_AT");
      if (env != NULL && *env != '\0')
        {
          const char *colon = strchr (env, ':');
          want = colon != NULL ? g_strndup (env, colon - env) : g_strdup (env);
          if (colon != NULL)
            target = MAX (1, atoi (colon + 1));
        }
      g_once_init_leave (&parsed, 1);
    }
  if (want == NULL || strcmp (point, want) != 0 || g_atomic_int_add (&passes, 1) + 1 < target)
    return;
  /* The same as a power cut or kill -9: no cleanup, no buffered output. */
  g_printerr ("ANSIM_TEST_CRASH_AT=%s:%d reached: killing this process\n", want, target);
  raise (SIGKILL);
}

/* ---- verification ------------------------------------------------------------------- */

static const char *const finding_words[] = {
  [ANSIM_FINDING_INFO] = "info",
  [ANSIM_FINDING_MISSING_MANIFEST] = "missing manifest",
  [ANSIM_FINDING_MALFORMED_MANIFEST] = "malformed manifest",
  [ANSIM_FINDING_MISSING_SIGNATURE] = "missing signature",
  [ANSIM_FINDING_BAD_SIGNATURE] = "bad signature",
  [ANSIM_FINDING_UNKNOWN_KEY] = "unknown key",
  [ANSIM_FINDING_BROKEN_CHAIN] = "broken chain",
  [ANSIM_FINDING_DUPLICATED_SEGMENT] = "duplicated segment",
  [ANSIM_FINDING_REORDERED_SEGMENTS] = "reordered segments",
  [ANSIM_FINDING_MISSING_ENTRY] = "missing entry",
  [ANSIM_FINDING_MISNAMED_SEGMENT] = "misnamed segment",
  [ANSIM_FINDING_UNDECLARED_GAP] = "undeclared gap",
  [ANSIM_FINDING_OVERLAP] = "overlapping entries",
  [ANSIM_FINDING_MISSING_SEGMENT] = "missing segment",
  [ANSIM_FINDING_EXTRA_SEGMENT] = "extra segment",
  [ANSIM_FINDING_EXTRA_FILE] = "extra file",
  [ANSIM_FINDING_UNREADABLE_SEGMENT] = "unreadable segment",
  [ANSIM_FINDING_TRUNCATED_SEGMENT] = "truncated segment",
  [ANSIM_FINDING_ALTERED_SEGMENT] = "altered segment",
  [ANSIM_FINDING_NO_MATCHING_RECIPIENT] = "no matching recipient",
  [ANSIM_FINDING_CANNOT_DECRYPT] = "cannot decrypt",
  [ANSIM_FINDING_PLAINTEXT_MISMATCH] = "plaintext hash mismatch",
  [ANSIM_FINDING_NOT_WRITTEN] = "not written",
};

static void
finding_free (gpointer p)
{
  AnsimFinding *f = p;

  g_free (f->text);
  g_free (f);
}

void
ansim_verify_report_free (AnsimVerifyReport *r)
{
  if (r == NULL)
    return;
  g_ptr_array_unref (r->lines);
  ansim_manifest_free (r->manifest);
  g_free (r->summary);
  g_free (r);
}

static void
report (AnsimVerifyReport *r, AnsimFindingKind kind, gint64 position, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

static void
report (AnsimVerifyReport *r, AnsimFindingKind kind, gint64 position, const char *fmt, ...)
{
  AnsimFinding *f = g_new0 (AnsimFinding, 1);
  va_list args;

  va_start (args, fmt);
  g_autofree char *detail = g_strdup_vprintf (fmt, args);
  va_end (args);
  f->kind = kind;
  f->position = position;
  f->text = g_strdup_printf ("%s: %s", finding_words[kind], detail);
  g_ptr_array_add (r->lines, f);
  if (kind != ANSIM_FINDING_INFO)
    r->n_findings++;
}

/* "segment 3 (seg-000003.mkv.age)" or "gap 3"; the position is added when
 * it differs from the index, so duplicates and reorders can be told apart. */
static char *
entry_label (const AnsimManifestEntry *e, guint position)
{
  g_autofree char *where = e->index != position
    ? g_strdup_printf (" at position %u", position) : g_strdup ("");

  if (e->kind == ANSIM_ENTRY_SEGMENT)
    return g_strdup_printf ("segment %" G_GUINT64_FORMAT "%s (%s)", e->index, where, e->file);
  return g_strdup_printf ("gap %" G_GUINT64_FORMAT "%s", e->index, where);
}

typedef struct {
  const char *dir;
  const AnsimVerifyOptions *opt;
  AnsimVerifyReport *r;
  AnsimManifest *m;
  const AnsimDeviceKey *key;    /* the key the signature was checked with */
  AnsimDeviceKey **own_key;     /* device.pub.pem when no key is trusted */
} Verify;

static const AnsimDeviceKey *
choose_key (Verify *v)
{
  const AnsimVerifyOptions *opt = v->opt;
  const char *fp = v->m->device_fingerprint;

  if (opt->n_trusted_keys > 0)
    {
      for (guint i = 0; i < opt->n_trusted_keys; i++)
        if (g_str_equal (opt->trusted_keys[i]->fingerprint, fp))
          return opt->trusted_keys[i];
      if (opt->n_trusted_keys == 1)
        report (v->r, ANSIM_FINDING_UNKNOWN_KEY, -1,
                "the manifest names device key %s, but the trusted key %s is %s", fp,
                opt->trusted_keys[0]->path ? opt->trusted_keys[0]->path : "given",
                opt->trusted_keys[0]->fingerprint);
      else
        report (v->r, ANSIM_FINDING_UNKNOWN_KEY, -1,
                "the manifest names device key %s, which is not among the %u trusted keys%s%s",
                fp, opt->n_trusted_keys, opt->trusted_keys_origin ? " in " : "",
                opt->trusted_keys_origin ? opt->trusted_keys_origin : "");
      return NULL;
    }

  g_autofree char *pub_path = g_build_filename (v->dir, ANSIM_DEVICE_PUB_NAME, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimDeviceKey) key = NULL;
  if (!g_file_test (pub_path, G_FILE_TEST_EXISTS))
    {
      report (v->r, ANSIM_FINDING_UNKNOWN_KEY, -1,
              "no trusted key given and no %s beside the manifest: the signature cannot be "
              "checked", ANSIM_DEVICE_PUB_NAME);
      return NULL;
    }
  key = ansim_device_key_load_public (pub_path, &error);
  if (key == NULL)
    {
      report (v->r, ANSIM_FINDING_UNKNOWN_KEY, -1, "%s", error->message);
      return NULL;
    }
  if (!g_str_equal (key->fingerprint, fp))
    {
      report (v->r, ANSIM_FINDING_UNKNOWN_KEY, -1,
              "the manifest names device key %s, but %s beside it is %s", fp,
              ANSIM_DEVICE_PUB_NAME, key->fingerprint);
      return NULL;
    }
  report (v->r, ANSIM_FINDING_INFO, -1,
          "no trusted key given: checking the signature with %s found beside the manifest "
          "(fingerprint %s); this shows the incident is unchanged since it was signed, not "
          "which device signed it: compare the fingerprint with the device's", ANSIM_DEVICE_PUB_NAME,
          key->fingerprint);
  *v->own_key = g_steal_pointer (&key);
  return *v->own_key;
}

static void
check_signature (Verify *v, GBytes *manifest_bytes)
{
  g_autofree char *sig_path = g_build_filename (v->dir, ANSIM_MANIFEST_SIG_NAME, NULL);
  g_autoptr (GBytes) sig = NULL;
  g_autoptr (GError) error = NULL;
  const AnsimDeviceKey *key;
  gsize len = 0;
  const void *data = g_bytes_get_data (manifest_bytes, &len);

  if (!g_file_test (sig_path, G_FILE_TEST_EXISTS))
    {
      report (v->r, ANSIM_FINDING_MISSING_SIGNATURE, -1,
              "%s not found: nothing shows who wrote %s", ANSIM_MANIFEST_SIG_NAME,
              ANSIM_MANIFEST_NAME);
      return;
    }
  key = choose_key (v);
  if (key == NULL)
    return;
  sig = read_small_file (sig_path, SIG_FILE_MAX, &error);
  if (sig == NULL)
    {
      report (v->r, ANSIM_FINDING_BAD_SIGNATURE, -1, "%s", error->message);
      return;
    }
  if (!ansim_device_key_verify (key, data, len, g_bytes_get_data (sig, NULL),
                                g_bytes_get_size (sig), &error))
    {
      if (g_bytes_get_size (sig) != ANSIM_SIGNATURE_SIZE)
        report (v->r, ANSIM_FINDING_BAD_SIGNATURE, -1,
                "%s is %" G_GSIZE_FORMAT " bytes; an Ed25519 signature is %d",
                ANSIM_MANIFEST_SIG_NAME, g_bytes_get_size (sig), ANSIM_SIGNATURE_SIZE);
      else
        report (v->r, ANSIM_FINDING_BAD_SIGNATURE, -1,
                "%s does not verify over %s with device key %s: the manifest was changed after "
                "it was signed, or signed with another key", ANSIM_MANIFEST_SIG_NAME,
                ANSIM_MANIFEST_NAME, key->fingerprint);
      return;
    }
  v->r->signature_ok = TRUE;
  v->key = key;
}

static gboolean
check_previous (Verify *v, GError **error)
{
  const char *given = v->opt->previous;
  const char *recorded = v->m->previous_manifest_sha256;

  if (given == NULL)
    {
      if (recorded == NULL)
        report (v->r, ANSIM_FINDING_INFO, -1,
                "the manifest records no previous incident: the first of its device "
                "(the chain starts at 64 zeros)");
      else
        report (v->r, ANSIM_FINDING_INFO, -1,
                "chained to a previous incident whose manifest has SHA-256 %s (not checked: "
                "no previous incident given)", recorded);
      return TRUE;
    }
  g_autofree char *path = g_file_test (given, G_FILE_TEST_IS_DIR)
    ? g_build_filename (given, ANSIM_MANIFEST_NAME, NULL) : g_strdup (given);
  g_autoptr (GBytes) bytes = read_small_file (path, ANSIM_MANIFEST_MAX_SIZE, error);
  g_autoptr (AnsimManifest) pm = NULL;
  g_autoptr (GError) parse_error = NULL;
  char hex[ANSIM_SHA256_HEX_LEN + 1];

  if (bytes == NULL)
    return FALSE;
  ansim_sha256_hex (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), hex);
  if (recorded == NULL)
    {
      report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1,
              "the manifest records no previous incident, but %s was given as its predecessor",
              path);
      return TRUE;
    }
  if (!g_str_equal (hex, recorded))
    {
      report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1,
              "the previous incident's manifest %s has SHA-256 %s, but this incident chains to %s",
              path, hex, recorded);
      return TRUE;
    }
  /* The bytes are the ones chained to; they must also be a predecessor
   * this incident can have: the same device and source, closed, earlier. */
  pm = ansim_manifest_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                             &parse_error);
  if (pm == NULL)
    {
      report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1, "the previous incident's manifest %s: %s",
              path, parse_error->message);
      return TRUE;
    }
  if (!g_str_equal (pm->device_fingerprint, v->m->device_fingerprint)
      || !g_str_equal (pm->device_id, v->m->device_id))
    report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1,
            "the previous incident %s is of device %s (key %s), this one of device %s (key %s): "
            "incidents chain within one device", pm->incident_id, pm->device_id,
            pm->device_fingerprint, v->m->device_id, v->m->device_fingerprint);
  else if (v->m->source != NULL && pm->source != NULL && !g_str_equal (pm->source, v->m->source))
    report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1,
            "the previous incident %s was recorded by source %s, this one by source %s: each "
            "source's incidents form their own chain", pm->incident_id, pm->source,
            v->m->source);
  else if (v->m->source == NULL && pm->source != NULL)
    report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1,
            "the previous incident %s names source %s, but this one (format version 1) names "
            "none: a version 1 incident cannot follow a version 2 one", pm->incident_id,
            pm->source);
  else if (!pm->closed)
    report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1,
            "the previous incident %s is still open in %s: an incident chains to its "
            "predecessor's final manifest", pm->incident_id, path);
  else if (g_str_equal (pm->incident_id, v->m->incident_id))
    report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1, "%s is this incident's own manifest", path);
  else
    {
      g_autofree char *of = pm->source != NULL ? g_strdup_printf (" (source %s)", pm->source)
                                               : g_strdup ("");
      report (v->r, ANSIM_FINDING_INFO, -1, "chained to the previous incident's manifest %s%s",
              path, of);
    }
  return TRUE;
}

/* Order, duplicates, names, chain links and timeline. */
static void
check_structure (Verify *v)
{
  AnsimManifest *m = v->m;
  g_autoptr (GHashTable) index_at = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_autoptr (GHashTable) file_at = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree gint64 *indices = g_new0 (gint64, MAX (m->entries->len, 1));
  gint64 max_index = -1;
  gboolean in_order_before = FALSE;
  gint64 timeline_before = -1;   /* the last entry on the timeline */

  for (guint p = 0; p < m->entries->len; p++)
    {
      const AnsimManifestEntry *e = &g_array_index (m->entries, AnsimManifestEntry, p);
      g_autofree char *label = entry_label (e, p);
      char expected[ANSIM_SHA256_HEX_LEN + 1];
      gboolean in_order = FALSE;
      gpointer at;

      indices[p] = (gint64) e->index;
      if (g_hash_table_lookup_extended (index_at, &indices[p], NULL, &at))
        report (v->r, ANSIM_FINDING_DUPLICATED_SEGMENT, p,
                "entry %" G_GUINT64_FORMAT " appears twice in the manifest, at positions %u and %u",
                e->index, GPOINTER_TO_UINT (at), p);
      else
        {
          g_autofree char *before_text = g_strdup_printf ("entry %" G_GINT64_FORMAT, max_index);
          g_hash_table_insert (index_at, &indices[p], GUINT_TO_POINTER (p));
          if (indices[p] < max_index)
            report (v->r, ANSIM_FINDING_REORDERED_SEGMENTS, p,
                    "the manifest lists %s after entry %" G_GINT64_FORMAT ": entries are out of order",
                    label, max_index);
          else if (indices[p] > max_index + 1)
            report (v->r, ANSIM_FINDING_MISSING_ENTRY, p,
                    "the manifest has no entry %" G_GINT64_FORMAT "%s (it goes from %s to entry %"
                    G_GUINT64_FORMAT ")", max_index + 1,
                    indices[p] > max_index + 2 ? " and following" : "",
                    max_index < 0 ? "the start" : before_text, e->index);
          else
            in_order = TRUE;
          max_index = MAX (max_index, indices[p]);
        }

      if (e->kind == ANSIM_ENTRY_SEGMENT)
        {
          guint64 named = 0;
          ansim_evidence_parse_segment_name (e->file, &named, NULL);
          if (named != e->index)
            report (v->r, ANSIM_FINDING_MISNAMED_SEGMENT, p,
                    "%s: the file of segment %" G_GUINT64_FORMAT " must be named seg-%06"
                    G_GUINT64_FORMAT ".*", label, e->index, e->index);
          if (g_hash_table_lookup_extended (file_at, e->file, NULL, &at)
              && (gint64) g_array_index (m->entries, AnsimManifestEntry,
                                         GPOINTER_TO_UINT (at)).index != indices[p])
            report (v->r, ANSIM_FINDING_DUPLICATED_SEGMENT, p,
                    "entries at positions %u and %u both claim %s", GPOINTER_TO_UINT (at), p,
                    e->file);
          else
            g_hash_table_insert (file_at, e->file, GUINT_TO_POINTER (p));
        }
      else
        {
          g_autofree char *wall = ansim_evidence_format_wall (e->start_wall_us);
          report (v->r, ANSIM_FINDING_INFO, p, "%s: %.3f s without %s from %s: %s", label,
                  e->duration_us / 1e6, e->stream != NULL ? e->stream : "media", wall,
                  e->reason);
        }

      /* The chain, entry by entry as they stand in the file. */
      if (p == 0)
        g_strlcpy (expected, m->chain_start, sizeof expected);
      else
        ansim_manifest_entry_hash (&g_array_index (m->entries, AnsimManifestEntry, p - 1), expected);
      if (!g_str_equal (e->prev, expected))
        {
          if (p == 0)
            report (v->r, ANSIM_FINDING_BROKEN_CHAIN, p,
                    "%s: prev is %s, but the chain starts at %s (%s)", label, e->prev, expected,
                    m->previous_manifest_sha256 ? "previous_manifest_sha256" : "64 zeros: no previous incident");
          else
            {
              g_autofree char *before = entry_label (&g_array_index (m->entries, AnsimManifestEntry, p - 1), p - 1);
              report (v->r, ANSIM_FINDING_BROKEN_CHAIN, p,
                      "%s: prev is %s, but the entry before it, %s, hashes to %s", label, e->prev,
                      before, expected);
            }
        }

      /* Back to back in time, unless a gap entry says otherwise; only
       * between entries whose order is itself right. A one-stream gap
       * overlaps the segments that kept the other streams: it is outside
       * this timeline, and the entry after it follows the one before. */
      gboolean one_stream = e->kind == ANSIM_ENTRY_GAP && e->stream != NULL;
      if (one_stream)
        {
          in_order_before = in_order_before && in_order;
          v->r->n_gaps++;
          continue;
        }
      if (p > 0 && timeline_before >= 0 && in_order && in_order_before)
        {
          const AnsimManifestEntry *b = &g_array_index (m->entries, AnsimManifestEntry,
                                                        (guint) timeline_before);
          gint64 delta = e->start_mono_us - (b->start_mono_us + b->duration_us);
          g_autofree char *before = entry_label (b, (guint) timeline_before);
          if (delta > ANSIM_MANIFEST_TIME_TOLERANCE_US)
            report (v->r, ANSIM_FINDING_UNDECLARED_GAP, p,
                    "%.3f s between the end of %s and the start of %s are not accounted for",
                    delta / 1e6, before, label);
          else if (delta < -ANSIM_MANIFEST_TIME_TOLERANCE_US)
            report (v->r, ANSIM_FINDING_OVERLAP, p, "%s starts %.3f s before %s ends", label,
                    -delta / 1e6, before);
        }
      in_order_before = in_order;
      timeline_before = p;
      if (e->kind == ANSIM_ENTRY_SEGMENT)
        v->r->n_segments++;
      else
        v->r->n_gaps++;
    }
}

static gboolean
is_known_file (Verify *v, const char *name)
{
  if (g_str_equal (name, ANSIM_MANIFEST_NAME) || g_str_equal (name, ANSIM_MANIFEST_SIG_NAME)
      || g_str_equal (name, ANSIM_DEVICE_PUB_NAME))
    return TRUE;
  for (guint p = 0; v->m != NULL && p < v->m->entries->len; p++)
    {
      const AnsimManifestEntry *e = &g_array_index (v->m->entries, AnsimManifestEntry, p);
      if (e->kind == ANSIM_ENTRY_SEGMENT && g_str_equal (e->file, name))
        return TRUE;
    }
  return FALSE;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static gboolean
check_extra_files (Verify *v, GError **error)
{
  g_autoptr (GDir) d = g_dir_open (v->dir, 0, error);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (d == NULL)
    return FALSE;
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_strings);
  for (guint i = 0; i < names->len; i++)
    {
      name = names->pdata[i];
      if (is_known_file (v, name))
        continue;
      if (name[0] == '.' && strstr (name, ".tmp-") != NULL)
        report (v->r, ANSIM_FINDING_INFO, -1,
                "%s is a temporary file left by an interrupted write; ignored", name);
      else if (ansim_evidence_parse_segment_name (name, NULL, NULL))
        report (v->r, ANSIM_FINDING_EXTRA_SEGMENT, -1, "%s is not in the manifest", name);
      else
        report (v->r, ANSIM_FINDING_EXTRA_FILE, -1, "%s is not part of the incident", name);
    }
  return TRUE;
}

/* Plaintext side of one segment: hashed, and written to a temp file when
 * decrypting out. */
typedef struct {
  EVP_MD_CTX *sha;
  gint64 size;
  int fd;
  const char *tmp_path;
} PlainSink;

static gboolean
plain_sink_write (const guint8 *data, gsize len, gpointer user_data, GError **error)
{
  PlainSink *sink = user_data;

  EVP_DigestUpdate (sink->sha, data, len);
  sink->size += len;
  if (sink->fd >= 0 && !write_all (sink->fd, data, len))
    return errno_failed (error, errno, "cannot write", sink->tmp_path);
  return TRUE;
}

/* SHA-256 of a file in the incident folder; FALSE when it cannot be read. */
static gboolean
hash_incident_file (Verify *v, const char *name, char out_hex[ANSIM_SHA256_HEX_LEN + 1])
{
  g_autofree char *path = g_build_filename (v->dir, name, NULL);
  g_autoptr (EVP_MD_CTX) sha = ansim_sha256_new ();
  g_autofree guint8 *buf = g_malloc (IO_CHUNK);
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return FALSE;
  for (;;)
    {
      ssize_t n = read (fd, buf, IO_CHUNK);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          close (fd);
          return FALSE;
        }
      if (n == 0)
        break;
      EVP_DigestUpdate (sha, buf, n);
    }
  close (fd);
  ansim_sha256_finish_hex (sha, out_hex);
  return TRUE;
}

static void
check_segment_file (Verify *v, guint p, GHashTable *position_of_cipher)
{
  const AnsimManifestEntry *e = &g_array_index (v->m->entries, AnsimManifestEntry, p);
  const AnsimVerifyOptions *opt = v->opt;
  g_autofree char *label = entry_label (e, p);
  g_autofree char *path = g_build_filename (v->dir, e->file, NULL);
  g_autofree char *plain_name = NULL;
  g_autofree char *out_path = NULL;
  g_autofree char *tmp_path = NULL;
  g_autofree guint8 *buf = NULL;
  g_autoptr (EVP_MD_CTX) cipher_sha = NULL;
  g_autoptr (EVP_MD_CTX) plain_sha = NULL;
  g_autoptr (AnsimAgeDecryptor) dec = NULL;
  g_autoptr (GError) dec_error = NULL;
  g_autoptr (GError) error = NULL;
  char cipher_hex[ANSIM_SHA256_HEX_LEN + 1], plain_hex[ANSIM_SHA256_HEX_LEN + 1];
  gint64 size = 0;
  PlainSink sink = { NULL, 0, -1, NULL };
  gboolean read_failed = FALSE;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    {
      if (errno == ENOENT)
        report (v->r, ANSIM_FINDING_MISSING_SEGMENT, p,
                "%s is in the manifest, but its file is missing", label);
      else
        report (v->r, ANSIM_FINDING_UNREADABLE_SEGMENT, p, "%s: %s", label, g_strerror (errno));
      return;
    }
  cipher_sha = ansim_sha256_new ();
  if (opt->n_identities > 0)
    {
      plain_sha = ansim_sha256_new ();
      sink.sha = plain_sha;
      /* Plaintext goes to disk only under a verified signature. */
      if (opt->decrypt_to != NULL && v->r->signature_ok)
        {
          ansim_evidence_parse_segment_name (e->file, NULL, &plain_name);
          out_path = g_build_filename (opt->decrypt_to, plain_name, NULL);
          sink.fd = open_temp (out_path, 0600, &tmp_path, &error);
          if (sink.fd < 0)
            {
              report (v->r, ANSIM_FINDING_NOT_WRITTEN, p, "%s: %s", label, error->message);
              g_clear_error (&error);
            }
          sink.tmp_path = tmp_path;
        }
      dec = ansim_age_decryptor_new (opt->identities, opt->n_identities, plain_sink_write, &sink);
    }

  buf = g_malloc (IO_CHUNK);
  for (;;)
    {
      ssize_t n = read (fd, buf, IO_CHUNK);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          report (v->r, ANSIM_FINDING_UNREADABLE_SEGMENT, p, "%s: %s", label, g_strerror (errno));
          read_failed = TRUE;
          break;
        }
      if (n == 0)
        break;
      EVP_DigestUpdate (cipher_sha, buf, n);
      size += n;
      /* After the decryptor's first failure, keep hashing the file only. */
      if (dec != NULL && dec_error == NULL)
        ansim_age_decryptor_update (dec, buf, n, &dec_error);
    }
  close (fd);
  if (dec != NULL && dec_error == NULL && !read_failed)
    ansim_age_decryptor_finish (dec, &dec_error);
  gboolean written = FALSE;
  if (sink.fd >= 0 && close (sink.fd) < 0 && dec_error == NULL)
    g_set_error (&dec_error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot write %s: %s",
                 tmp_path, g_strerror (errno));
  if (read_failed)
    goto out;

  ansim_sha256_finish_hex (cipher_sha, cipher_hex);
  if (!g_str_equal (cipher_hex, e->sha256_cipher) || size != e->cipher_size)
    {
      gpointer other;
      if (g_hash_table_lookup_extended (position_of_cipher, cipher_hex, NULL, &other)
          && GPOINTER_TO_UINT (other) != p)
        {
          const AnsimManifestEntry *o = &g_array_index (v->m->entries, AnsimManifestEntry,
                                                        GPOINTER_TO_UINT (other));
          g_autofree char *other_label = entry_label (o, GPOINTER_TO_UINT (other));
          char other_hex[ANSIM_SHA256_HEX_LEN + 1];
          /* That segment's own file still holding its data makes this a
           * copy; otherwise the two were swapped or moved. */
          if (hash_incident_file (v, o->file, other_hex) && g_str_equal (other_hex, o->sha256_cipher))
            report (v->r, ANSIM_FINDING_DUPLICATED_SEGMENT, p,
                    "%s is a copy of %s (its SHA-256 is that segment's), not the data of %s",
                    e->file, other_label, label);
          else
            report (v->r, ANSIM_FINDING_REORDERED_SEGMENTS, p,
                    "%s holds the data of %s (its SHA-256 is that segment's)", e->file, other_label);
        }
      else if (size < e->cipher_size)
        report (v->r, ANSIM_FINDING_TRUNCATED_SEGMENT, p,
                "%s is %" G_GINT64_FORMAT " bytes, the manifest records %" G_GINT64_FORMAT, label,
                size, e->cipher_size);
      else if (size > e->cipher_size)
        report (v->r, ANSIM_FINDING_ALTERED_SEGMENT, p,
                "%s is %" G_GINT64_FORMAT " bytes, the manifest records %" G_GINT64_FORMAT, label,
                size, e->cipher_size);
      else
        report (v->r, ANSIM_FINDING_ALTERED_SEGMENT, p,
                "%s: the file's SHA-256 is %s, the manifest records %s", label, cipher_hex,
                e->sha256_cipher);
      goto out;
    }
  if (dec == NULL)
    goto out;
  if (dec_error != NULL)
    {
      if (g_error_matches (dec_error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_NO_MATCH))
        report (v->r, ANSIM_FINDING_NO_MATCHING_RECIPIENT, p,
                "%s: no identity%s%s can decrypt it", label,
                opt->identities_origin ? " in " : " given",
                opt->identities_origin ? opt->identities_origin : "");
      else
        report (v->r, ANSIM_FINDING_CANNOT_DECRYPT, p, "%s: %s", label, dec_error->message);
      goto out;
    }
  ansim_sha256_finish_hex (plain_sha, plain_hex);
  if (!g_str_equal (plain_hex, e->sha256_plain) || sink.size != e->plain_size)
    {
      report (v->r, ANSIM_FINDING_PLAINTEXT_MISMATCH, p,
              "%s: the decrypted media has SHA-256 %s (%" G_GINT64_FORMAT " bytes), the manifest "
              "records %s (%" G_GINT64_FORMAT " bytes)", label, plain_hex, sink.size,
              e->sha256_plain, e->plain_size);
      goto out;
    }
  v->r->n_plaintext_checked++;
  if (tmp_path != NULL && sink.fd >= 0)
    {
      if (rename_noreplace (tmp_path, out_path, &error))
        {
          written = TRUE;
          v->r->n_written++;
        }
      else
        report (v->r, ANSIM_FINDING_NOT_WRITTEN, p, "%s: %s", label, error->message);
    }

out:
  if (tmp_path != NULL && sink.fd >= 0 && !written)
    unlink (tmp_path);
}

static char *
summarize (Verify *v)
{
  AnsimVerifyReport *r = v->r;
  AnsimManifest *m = v->m;
  gint64 media_us = 0;
  GString *s;

  if (m == NULL)
    return g_strdup_printf ("FAILED: %u finding%s in %s", r->n_findings,
                            r->n_findings == 1 ? "" : "s", v->dir);
  for (guint p = 0; p < m->entries->len; p++)
    {
      const AnsimManifestEntry *e = &g_array_index (m->entries, AnsimManifestEntry, p);
      if (e->kind == ANSIM_ENTRY_SEGMENT)
        media_us += e->duration_us;
    }
  if (r->n_findings > 0)
    return g_strdup_printf ("FAILED: %u finding%s in incident %s (desk %s, %u segment%s, %u gap%s)",
                            r->n_findings, r->n_findings == 1 ? "" : "s", m->incident_id,
                            m->desk_id, r->n_segments, r->n_segments == 1 ? "" : "s", r->n_gaps,
                            r->n_gaps == 1 ? "" : "s");
  s = g_string_new (NULL);
  g_string_append_printf (s, "OK: incident %s (desk %s%s): %u segment%s (%.1f s of media), "
                          "%u gap%s, signed by device key %s, chain intact",
                          m->incident_id, m->desk_id, m->drill ? ", drill" : "", r->n_segments,
                          r->n_segments == 1 ? "" : "s", media_us / 1e6, r->n_gaps,
                          r->n_gaps == 1 ? "" : "s", v->key->fingerprint);
  if (v->opt->n_identities > 0)
    g_string_append_printf (s, ", plaintext of all %u segments checked", r->n_plaintext_checked);
  else
    g_string_append (s, "; plaintext not checked (no identity)");
  if (v->opt->decrypt_to != NULL)
    g_string_append_printf (s, "; %u file%s written to %s", r->n_written,
                            r->n_written == 1 ? "" : "s", v->opt->decrypt_to);
  if (!m->closed)
    g_string_append (s, "; the incident is still open");
  return g_string_free (s, FALSE);
}

AnsimVerifyReport *
ansim_incident_verify (const char *dir, const AnsimVerifyOptions *options, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  static const AnsimVerifyOptions no_options = { 0 };
  const AnsimVerifyOptions *opt = options != NULL ? options : &no_options;
  g_autoptr (AnsimVerifyReport) r = g_new0 (AnsimVerifyReport, 1);
  g_autofree char *manifest_path = g_build_filename (dir, ANSIM_MANIFEST_NAME, NULL);
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (AnsimDeviceKey) own_key = NULL;
  Verify v = { dir, opt, r, NULL, NULL, &own_key };

  r->lines = g_ptr_array_new_with_free_func (finding_free);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR, "%s is not a folder", dir);
      return NULL;
    }
  if (opt->decrypt_to != NULL && g_mkdir_with_parents (opt->decrypt_to, 0700) < 0)
    {
      errno_failed (error, errno, "cannot create folder", opt->decrypt_to);
      return NULL;
    }

  bytes = read_small_file (manifest_path, ANSIM_MANIFEST_MAX_SIZE, &local);
  if (bytes == NULL)
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        report (r, ANSIM_FINDING_MISSING_MANIFEST, -1, "%s not found in %s", ANSIM_MANIFEST_NAME, dir);
      else
        report (r, ANSIM_FINDING_MALFORMED_MANIFEST, -1, "%s", local->message);
      g_clear_error (&local);
    }
  else
    {
      r->manifest = ansim_manifest_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                          &local);
      if (r->manifest == NULL)
        {
          report (r, ANSIM_FINDING_MALFORMED_MANIFEST, -1, "%s: %s", ANSIM_MANIFEST_NAME,
                  local->message);
          g_clear_error (&local);
        }
    }
  v.m = r->manifest;
  if (v.m != NULL)
    {
      g_autoptr (GHashTable) position_of_cipher = g_hash_table_new (g_str_hash, g_str_equal);

      check_signature (&v, bytes);
      if (!check_previous (&v, error))
        return NULL;
      if (!v.m->closed)
        report (r, ANSIM_FINDING_INFO, -1,
                "the incident is still open (close_reason \"open\"): this manifest covers the "
                "segments sealed so far");
      check_structure (&v);
      if (opt->decrypt_to != NULL && opt->n_identities > 0 && !r->signature_ok)
        report (r, ANSIM_FINDING_NOT_WRITTEN, -1,
                "no media written to %s: the manifest's signature was not verified",
                opt->decrypt_to);
      for (guint p = 0; p < v.m->entries->len; p++)
        {
          AnsimManifestEntry *e = &g_array_index (v.m->entries, AnsimManifestEntry, p);
          if (e->kind == ANSIM_ENTRY_SEGMENT
              && !g_hash_table_contains (position_of_cipher, e->sha256_cipher))
            g_hash_table_insert (position_of_cipher, e->sha256_cipher, GUINT_TO_POINTER (p));
        }
      for (guint p = 0; p < v.m->entries->len; p++)
        if (g_array_index (v.m->entries, AnsimManifestEntry, p).kind == ANSIM_ENTRY_SEGMENT)
          check_segment_file (&v, p, position_of_cipher);
    }
  if (!check_extra_files (&v, error))
    return NULL;
  r->summary = summarize (&v);
  return g_steal_pointer (&r);
}
