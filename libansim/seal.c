/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains sealing: segments encrypted straight into hidden temp
 * files, manifests written and signed, files published under their final
 * names, the crash points that test the order. What it must keep true
 * (docs/evidence-format.md, "Sealing order"): a file under its final name
 * is always listed by a durable, signed manifest; plaintext never touches
 * the disk; evidence is never replaced. */
#include "seal.h"
#include "checkpoint.h"
#include "durable.h"
#include "evidence-private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* ---- manifest files --------------------------------------------------------------- */

/* After a restart: the checkpoints already in DIR/checkpoints go on from
 * the highest written. A crash between a checkpoint's text and its
 * signature left the text alone: Ed25519 is deterministic, so signing it
 * again writes the very signature that was lost. */
static gboolean
resume_checkpoints (AnsimManifest *m, const char *dir, const AnsimDeviceKey *key, GError **error)
{
  g_autofree char *cdir = g_build_filename (dir, ANSIM_CHECKPOINT_DIR, NULL);
  g_autoptr (GDir) d = g_dir_open (cdir, 0, NULL);
  const char *name;
  gboolean any = FALSE;
  guint64 highest = 0;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      guint64 seq;
      if (strlen (name) != strlen ("checkpoint-000000") || !g_str_has_prefix (name, "checkpoint-"))
        continue;
      seq = g_ascii_strtoull (name + strlen ("checkpoint-"), NULL, 10);
      if (!any || seq > highest)
        highest = seq;
      any = TRUE;
    }
  m->checkpoints_resumed = TRUE;
  if (!any)
    return TRUE;
  g_autofree char *cname = ansim_checkpoint_file_name (highest);
  g_autofree char *path = g_build_filename (cdir, cname, NULL);
  g_autofree char *sig_path = g_strconcat (path, ".sig", NULL);
  g_autoptr (GBytes) text = ansim_evidence_read_small_file (path, ANSIM_CHECKPOINT_MAX_SIZE, NULL);
  AnsimCheckpoint c;
  /* Only a sound checkpoint of this incident gets its lost signature;
   * anything else is left as it is (verify reports it) and recording goes
   * on after it: a damaged file must not stop the desk. */
  gboolean sound =
    text != NULL
    && ansim_checkpoint_parse (g_bytes_get_data (text, NULL), g_bytes_get_size (text), &c, NULL)
    && g_str_equal (c.incident_id, m->incident_id);
  if (sound && !g_file_test (sig_path, G_FILE_TEST_EXISTS))
    {
      g_autoptr (GBytes) sig =
        ansim_device_key_sign (key, g_bytes_get_data (text, NULL), g_bytes_get_size (text), error);
      if (sig == NULL
          || !ansim_file_write_durable (sig_path, g_bytes_get_data (sig, NULL),
                                        g_bytes_get_size (sig), 0644, ANSIM_WRITE_NO_REPLACE,
                                        error))
        return FALSE;
    }
  if (text != NULL)
    ansim_hash_sha256_hex (g_bytes_get_data (text, NULL), g_bytes_get_size (text),
                           m->checkpoint_last);
  else
    g_strlcpy (m->checkpoint_last, ANSIM_ZERO_HASH, sizeof m->checkpoint_last);
  m->checkpoint_next = highest + 1;
  return TRUE;
}

gboolean
ansim_manifest_write (AnsimManifest *m, const char *dir, const AnsimDeviceKey *key, GError **error)
{
  g_return_val_if_fail (m != NULL && dir != NULL && key != NULL, FALSE);
  g_autoptr (GBytes) bytes = ansim_manifest_to_bytes (m);
  g_autoptr (GBytes) sig = NULL;
  g_autofree char *manifest_path = g_build_filename (dir, ANSIM_MANIFEST_NAME, NULL);
  g_autofree char *sig_path = g_build_filename (dir, ANSIM_MANIFEST_SIG_NAME, NULL);
  g_autofree char *pub_path = g_build_filename (dir, ANSIM_DEVICE_PUB_NAME, NULL);
  gsize len = 0;
  const void *data = g_bytes_get_data (bytes, &len);

  if (!g_str_equal (ansim_device_key_get_fingerprint (key), m->device_fingerprint))
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY,
                   "the manifest names device key %s, not %s", m->device_fingerprint,
                   ansim_device_key_get_fingerprint (key));
      return FALSE;
    }
  sig = ansim_device_key_sign (key, data, len, error);
  if (sig == NULL)
    return FALSE;
  if (g_mkdir_with_parents (dir, 0700) < 0)
    return ansim_set_error_from_errno (error, errno, "cannot create folder", dir);
  if (!g_file_test (pub_path, G_FILE_TEST_EXISTS))
    {
      g_autofree char *pem = ansim_device_key_get_public_pem (key);
      if (!ansim_file_write_durable (pub_path, pem, strlen (pem), 0644, ANSIM_WRITE_REPLACE, error))
        return FALSE;
    }
  /* Manifest before signature: after a crash between the two, the newest
   * manifest is on disk (with a stale signature) and can be closed and
   * signed again; the other order could lose its last entry. */
  if (!ansim_file_write_durable (manifest_path, data, len, 0644, ANSIM_WRITE_REPLACE, error))
    return FALSE;
  ansim_evidence_crash_point ("manifest-written");
  if (!ansim_file_write_durable (sig_path, g_bytes_get_data (sig, NULL), g_bytes_get_size (sig),
                                 0644, ANSIM_WRITE_REPLACE, error))
    return FALSE;
  ansim_hash_sha256_hex (data, len, m->written_sha256);
  if (m->format_version >= 3)
    {
      /* The signed checkpoint of what was just written (docs/evidence-format.md,
       * "Checkpoints"): what the panel keeps per segment. */
      AnsimCheckpoint c;
      if (!m->checkpoints_resumed && !resume_checkpoints (m, dir, key, error))
        return FALSE;
      ansim_checkpoint_of_manifest (m, m->checkpoint_next,
                                    m->checkpoint_next > 0 ? m->checkpoint_last : NULL,
                                    g_get_real_time (), g_get_monotonic_time (), &c);
      if (!ansim_checkpoint_write (&c, dir, key, m->checkpoint_last, error))
        return FALSE;
      m->checkpoint_next++;
      ansim_evidence_crash_point ("checkpoint-written");
    }
  return TRUE;
}

/* ---- sealing segments ------------------------------------------------------------- */

struct _AnsimSegmentSealer {
  AnsimManifest *manifest; /* borrowed */
  guint index;             /* the entry it will become */
  char *dir;
  char *path;     /* final name */
  char *tmp_path; /* NULL once renamed or removed */
  int fd;
  AnsimAgeEncryptor *encryptor;
  EVP_MD_CTX *plain_sha, *cipher_sha;
  gint64 plain_size, cipher_size;
  gboolean payload_started;
  gboolean done; /* listed in the manifest */
};

static gboolean
sealer_output (const guint8 *data, gsize len, gpointer user_data, GError **error)
{
  AnsimSegmentSealer *s = user_data;

  /* The age header comes first, alone; then the payload's chunks. */
  gboolean first_chunk = s->cipher_size > 0 && !s->payload_started;

  if (!ansim_write_all (s->fd, data, len))
    return ansim_set_error_from_errno (error, errno, "cannot write", s->tmp_path);
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
                          AnsimAgeRecipient *const *recipients, guint n_recipients, GError **error)
{
  g_return_val_if_fail (manifest != NULL && dir != NULL, NULL);
  g_autofree char *name = ansim_manifest_next_segment_name (manifest);

  if (!ansim_manifest_check_entry_room (manifest, "a segment", error))
    return NULL;
  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      ansim_set_error_from_errno (error, errno, "cannot create folder", dir);
      return NULL;
    }
  g_autoptr (AnsimSegmentSealer) s = g_new0 (AnsimSegmentSealer, 1);
  s->manifest = manifest;
  s->index = manifest->entries->len;
  s->dir = g_strdup (dir);
  s->path = g_build_filename (dir, name, NULL);
  s->plain_sha = ansim_hash_sha256_begin ();
  s->cipher_sha = ansim_hash_sha256_begin ();
  s->fd = ansim_file_open_temp (s->path, 0644, &s->tmp_path, error);
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
  const char *zero = ANSIM_ZERO_HASH;

  if (s->manifest->entries->len != s->index)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_STATE,
                   "an entry was added to incident %s while segment %u was sealed",
                   s->manifest->incident_id, s->index);
      return FALSE;
    }
  /* Check what the entry will hold before it is added. */
  if (!ansim_manifest_check_segment (s->manifest, start_wall_us, start_mono_us, duration_us, 0, 0,
                                     zero, zero, error))
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
      return ansim_set_error_from_errno (error, errno, "cannot write", s->tmp_path);
    }
  s->fd = -1;
  ansim_evidence_crash_point ("segment-encrypted");
  ansim_hash_sha256_end_hex (s->plain_sha, plain_hex);
  ansim_hash_sha256_end_hex (s->cipher_sha, cipher_hex);
  if (!ansim_manifest_add_segment (s->manifest, start_wall_us, start_mono_us, duration_us,
                                   s->cipher_size, s->plain_size, plain_hex, cipher_hex, error))
    return FALSE;
  /* Listed now: from here on the temp file is evidence, kept even if the
   * sealer is freed unpublished (the next start reconciles it). */
  s->done = TRUE;
  return TRUE;
}

/* A sealed file takes its name only if nothing has it: evidence is never
 * replaced (ANSIM_EVIDENCE_ERROR_EXISTS otherwise). */
static gboolean
publish_noreplace (const char *from, const char *to, GError **error)
{
  g_autoptr (GError) local = NULL;

  if (ansim_rename_noreplace (from, to, &local))
    return TRUE;
  if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_EXIST))
    g_set_error_literal (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_EXISTS, local->message);
  else
    g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}

gboolean
ansim_segment_sealer_publish (AnsimSegmentSealer *s, GError **error)
{
  g_return_val_if_fail (s != NULL && s->done && s->tmp_path != NULL, FALSE);

  if (!publish_noreplace (s->tmp_path, s->path, error))
    return FALSE;
  g_clear_pointer (&s->tmp_path, g_free);
  return ansim_fsync_dir (s->dir, error);
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
  g_autoptr (EVP_MD_CTX) sha = ansim_hash_sha256_begin ();
  g_autofree guint8 *buf = g_malloc (ANSIM_EVIDENCE_IO_CHUNK);
  char hex[ANSIM_SHA256_HEX_LEN + 1];
  gint64 size = 0;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return ansim_set_error_from_errno (error, errno, "cannot open", path);
  for (;;)
    {
      ssize_t n = read (fd, buf, ANSIM_EVIDENCE_IO_CHUNK);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          close (fd);
          return ansim_set_error_from_errno (error, saved, "cannot read", path);
        }
      if (n == 0)
        break;
      EVP_DigestUpdate (sha, buf, n);
      size += n;
    }
  close (fd);
  ansim_hash_sha256_end_hex (sha, hex);
  if (size != e->cipher_size || !g_str_equal (hex, e->sha256_cipher))
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_STATE,
                   "%s (%" G_GINT64_FORMAT " bytes, SHA-256 %s) is not what the manifest records "
                   "for %s (%" G_GINT64_FORMAT " bytes, %s)",
                   path, size, hex, e->file, e->cipher_size, e->sha256_cipher);
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
  return same_file_hash (from, entry, error) && publish_noreplace (from, to, error)
         && ansim_fsync_dir (dir, error);
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
