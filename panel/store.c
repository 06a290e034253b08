/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the store interface's checks and the filesystem
 * backend. */
#include "store.h"

#include "durable.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK (panel - store - error - quark, panel_store_error)

gboolean
panel_store_key_is_valid (const char *key)
{
  if (key == NULL || *key == '\0' || strlen (key) > 1024)
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (key, "/", 0);
  guint n = g_strv_length (parts);
  if (n > 8)
    return FALSE;
  for (guint i = 0; i < n; i++)
    {
      gsize len = strlen (parts[i]);
      if (len == 0 || len > 128 || parts[i][0] == '.')
        return FALSE;
      for (const char *c = parts[i]; *c; c++)
        if (!g_ascii_isalnum (*c) && *c != '.' && *c != '_' && *c != '-')
          return FALSE;
    }
  return TRUE;
}

static gboolean
check_key (const char *key, GError **error)
{
  if (panel_store_key_is_valid (key))
    return TRUE;
  g_set_error (error, PANEL_STORE_ERROR, PANEL_STORE_ERROR_INVALID_KEY,
               "invalid store key '%.200s'", key != NULL ? key : "(null)");
  return FALSE;
}

gboolean
panel_store_put (PanelStore *store, const char *key, GBytes *data, const char *sha256,
                 const PanelStorePutOptions *options, gboolean *out_existed, GError **error)
{
  static const PanelStorePutOptions none = { 0 };
  gboolean existed = FALSE;
  if (!check_key (key, error))
    return FALSE;
  g_autofree char *hex = sha256 != NULL ? g_strdup (sha256) : ansim_hash_sha256_hex_bytes (data);
  if (!store->backend->put (store, key, data, hex, options != NULL ? options : &none, &existed,
                            error))
    return FALSE;
  if (out_existed != NULL)
    *out_existed = existed;
  return TRUE;
}

gboolean
panel_store_head (PanelStore *store, const char *key, gboolean *out_exists, gint64 *out_size,
                  GError **error)
{
  gboolean exists = FALSE;
  gint64 size = 0;
  if (!check_key (key, error) || !store->backend->head (store, key, &exists, &size, error))
    return FALSE;
  if (out_exists != NULL)
    *out_exists = exists;
  if (out_size != NULL)
    *out_size = size;
  return TRUE;
}

GBytes *
panel_store_get (PanelStore *store, const char *key, GError **error)
{
  if (!check_key (key, error))
    return NULL;
  return store->backend->get (store, key, error);
}

gboolean
panel_store_delete (PanelStore *store, const char *key, GError **error)
{
  return check_key (key, error) && store->backend->remove (store, key, error);
}

/* A prefix is a valid key followed by '/'. */
static gboolean
check_prefix (const char *prefix, GError **error)
{
  gsize len = prefix != NULL ? strlen (prefix) : 0;
  g_autofree char *key = len > 1 && prefix[len - 1] == '/' ? g_strndup (prefix, len - 1) : NULL;
  if (key != NULL && panel_store_key_is_valid (key))
    return TRUE;
  g_set_error (error, PANEL_STORE_ERROR, PANEL_STORE_ERROR_INVALID_KEY,
               "invalid store prefix '%.200s'", prefix != NULL ? prefix : "(null)");
  return FALSE;
}

gboolean
panel_store_purge_prefix (PanelStore *store, const char *prefix, guint *out_n_objects,
                          guint64 *out_bytes, GError **error)
{
  guint n = 0;
  guint64 bytes = 0;
  if (!check_prefix (prefix, error)
      || !store->backend->purge_prefix (store, prefix, &n, &bytes, error))
    return FALSE;
  if (out_n_objects != NULL)
    *out_n_objects = n;
  if (out_bytes != NULL)
    *out_bytes = bytes;
  return TRUE;
}

gboolean
panel_store_has_locks (PanelStore *store)
{
  return store->backend->protect_prefix != NULL;
}

gboolean
panel_store_protect_prefix (PanelStore *store, const char *prefix, gint64 retain_until_us,
                            int legal_hold, GError **error)
{
  if (!check_prefix (prefix, error))
    return FALSE;
  return store->backend->protect_prefix == NULL
         || store->backend->protect_prefix (store, prefix, retain_until_us, legal_hold, error);
}

void
panel_store_free (PanelStore *store)
{
  if (store != NULL)
    store->backend->free (store);
}

/* ---- filesystem backend -------------------------------------------------- */

typedef struct {
  PanelStore parent;
  char *root;
} FsStore;

/* ENOSPC and EDQUOT mean "full"; a vanished or unusable root "unavailable". */
static int
fs_error_code (int err)
{
  if (err == ENOSPC || err == EDQUOT || err == EFBIG)
    return PANEL_STORE_ERROR_FULL;
  if (err == ENOENT || err == EIO || err == EROFS || err == ENOTDIR || err == EACCES
      || err == ESTALE || err == ENOTCONN)
    return PANEL_STORE_ERROR_UNAVAILABLE;
  return PANEL_STORE_ERROR_FAILED;
}

static gboolean
fs_error (GError **error, int err, const char *what, const char *path)
{
  g_set_error (error, PANEL_STORE_ERROR, fs_error_code (err), "%s %s: %s", what, path,
               g_strerror (err));
  return FALSE;
}

/* A durable.h failure in the store's terms: durable.h leaves errno as the
 * cause, which gives the code; its message stays. */
static gboolean
fs_durable_error (GError **error, GError *local)
{
  g_set_error_literal (error, PANEL_STORE_ERROR, fs_error_code (errno), local->message);
  return FALSE;
}

static gboolean
fsync_dir (const char *dir, GError **error)
{
  g_autoptr (GError) local = NULL;

  return ansim_fsync_dir (dir, &local) || fs_durable_error (error, local);
}

static gboolean
same_content (const char *path, GBytes *data, gboolean *out_same, GError **error)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &contents, &len, &local))
    return fs_error (error, EIO, "cannot read", path);
  *out_same = len == g_bytes_get_size (data)
              && memcmp (contents, g_bytes_get_data (data, NULL), len) == 0;
  return TRUE;
}

static gboolean
fs_put (PanelStore *store, const char *key, GBytes *data, const char *sha256_hex,
        const PanelStorePutOptions *options, gboolean *out_existed, GError **error)
{
  (void) sha256_hex;
  (void) options; /* no retention on a plain filesystem: the panel enforces it */
  FsStore *self = (FsStore *) store;
  g_autofree char *path = g_build_filename (self->root, key, NULL);
  g_autofree char *dir = g_path_get_dirname (path);
  struct stat st;

  if (stat (self->root, &st) < 0)
    return fs_error (error, errno, "store directory", self->root);
  if (lstat (path, &st) == 0)
    {
      gboolean same = FALSE;
      if (!same_content (path, data, &same, error))
        return FALSE;
      if (!same)
        {
          g_set_error (error, PANEL_STORE_ERROR, PANEL_STORE_ERROR_CONFLICT,
                       "%s already holds different bytes", key);
          return FALSE;
        }
      *out_existed = TRUE;
      return TRUE;
    }
  if (g_mkdir_with_parents (dir, 0750) < 0)
    return fs_error (error, errno, "cannot create directory", dir);

  gsize len = 0;
  const guint8 *p = g_bytes_get_data (data, &len);
  g_autoptr (GError) local = NULL;
  if (!ansim_file_write_durable (path, p, len, 0640, ANSIM_WRITE_NO_REPLACE, &local))
    {
      /* Never replaced: of two racing writers of one key, one wins and the
       * other compares its bytes with the winner's. */
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_EXIST))
        return fs_put (store, key, data, sha256_hex, options, out_existed, error);
      return fs_durable_error (error, local);
    }
  *out_existed = FALSE;
  return TRUE;
}

static gboolean
fs_head (PanelStore *store, const char *key, gboolean *out_exists, gint64 *out_size, GError **error)
{
  FsStore *self = (FsStore *) store;
  g_autofree char *path = g_build_filename (self->root, key, NULL);
  struct stat st;
  if (stat (self->root, &st) < 0)
    return fs_error (error, errno, "store directory", self->root);
  if (lstat (path, &st) < 0)
    {
      if (errno != ENOENT && errno != ENOTDIR)
        return fs_error (error, errno, "cannot stat", path);
      *out_exists = FALSE;
      return TRUE;
    }
  *out_exists = S_ISREG (st.st_mode);
  *out_size = st.st_size;
  return TRUE;
}

static GBytes *
fs_get (PanelStore *store, const char *key, GError **error)
{
  FsStore *self = (FsStore *) store;
  g_autofree char *path = g_build_filename (self->root, key, NULL);
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &contents, &len, &local))
    {
      g_set_error (error, PANEL_STORE_ERROR,
                   g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT)
                     ? PANEL_STORE_ERROR_NOT_FOUND
                     : PANEL_STORE_ERROR_UNAVAILABLE,
                   "%s", local->message);
      return NULL;
    }
  return g_bytes_new_take (g_steal_pointer (&contents), len);
}

static gboolean
fs_remove (PanelStore *store, const char *key, GError **error)
{
  FsStore *self = (FsStore *) store;
  g_autofree char *path = g_build_filename (self->root, key, NULL);
  g_autofree char *dir = g_path_get_dirname (path);
  if (unlink (path) < 0)
    return errno == ENOENT || errno == ENOTDIR || fs_error (error, errno, "cannot delete", path);
  return fsync_dir (dir, error);
}

/* Every file in the incident's directory (temp files of an interrupted
 * write too), then the directory itself. The device's directory stays:
 * ingest may be writing another incident there. */
static gboolean
fs_purge_prefix (PanelStore *store, const char *prefix, guint *out_n, guint64 *out_bytes,
                 GError **error)
{
  FsStore *self = (FsStore *) store;
  g_autofree char *dir = g_build_filename (self->root, prefix, NULL);
  g_autofree char *parent = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (GDir) d = NULL;
  struct stat st;
  const char *name;

  if (stat (self->root, &st) < 0)
    return fs_error (error, errno, "store directory", self->root);
  if (g_str_has_suffix (dir, "/"))
    dir[strlen (dir) - 1] = '\0';
  d = g_dir_open (dir, 0, &local);
  if (d == NULL)
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      return fs_error (error, EIO, "cannot list", dir);
    }
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      if (lstat (path, &st) < 0)
        return fs_error (error, errno, "cannot stat", path);
      if (!S_ISREG (st.st_mode))
        {
          g_set_error (error, PANEL_STORE_ERROR, PANEL_STORE_ERROR_FAILED,
                       "%s is not a regular file; the purge leaves it and stops", path);
          return FALSE;
        }
      if (unlink (path) < 0 && errno != ENOENT)
        return fs_error (error, errno, "cannot delete", path);
      (*out_n)++;
      *out_bytes += st.st_size;
    }
  if (!fsync_dir (dir, error))
    return FALSE;
  if (rmdir (dir) < 0 && errno != ENOENT)
    return fs_error (error, errno, "cannot remove directory", dir);
  parent = g_path_get_dirname (dir);
  return fsync_dir (parent, error);
}

static void
fs_free (PanelStore *store)
{
  FsStore *self = (FsStore *) store;
  g_free (self->root);
  g_free (self);
}

static const PanelStoreBackend fs_backend = {
  .name = "filesystem",
  .put = fs_put,
  .head = fs_head,
  .get = fs_get,
  .remove = fs_remove,
  .purge_prefix = fs_purge_prefix,
  .protect_prefix = NULL,
  .free = fs_free,
};

PanelStore *
panel_store_new_filesystem (const char *root, GError **error)
{
  if (g_mkdir_with_parents (root, 0750) < 0)
    {
      fs_error (error, errno, "cannot create store directory", root);
      return NULL;
    }
  FsStore *self = g_new0 (FsStore, 1);
  self->parent.backend = &fs_backend;
  self->root = g_canonicalize_filename (root, NULL);
  return &self->parent;
}
