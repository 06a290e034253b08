/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the durable file writes of durable.h: temporary file,
 * fsync, rename, fsync of the folder. What must stay true: no reader ever
 * sees a half-written file under its final name, and errno is the cause
 * whenever a function returns FALSE. */
#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

gboolean
ansim_set_error_from_errno (GError **error, int saved_errno, const char *what, const char *path)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s %s: %s", what, path,
               g_strerror (saved_errno));
  errno = saved_errno;
  return FALSE;
}

gboolean
ansim_write_all (int fd, const void *data, gsize len)
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

gboolean
ansim_fsync_dir (const char *dir, GError **error)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return ansim_set_error_from_errno (error, errno, "cannot open folder", dir);
  /* Some file systems cannot sync a folder; the rename is as durable as
   * they make it. */
  if (fsync (fd) < 0 && errno != EINVAL && errno != ENOTSUP)
    {
      int saved = errno;

      close (fd);
      return ansim_set_error_from_errno (error, saved, "cannot sync folder", dir);
    }
  close (fd);
  return TRUE;
}

gboolean
ansim_rename_noreplace (const char *from, const char *to, GError **error)
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
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST, "%s exists already; not replacing it",
                   to);
      errno = EEXIST;
      return FALSE;
    }
  return ansim_set_error_from_errno (error, errno, "cannot create", to);
}

int
ansim_file_open_temp (const char *path, int mode, char **out_tmp, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.tmp-XXXXXX", dir, base);
  int fd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, mode);

  if (fd < 0)
    {
      ansim_set_error_from_errno (error, errno, "cannot create a temporary file in", dir);
      return -1;
    }
  /* Exactly this mode, whatever the umask. */
  if (fchmod (fd, mode) < 0)
    {
      int saved = errno;

      close (fd);
      unlink (tmp);
      ansim_set_error_from_errno (error, saved, "cannot set the mode of", tmp);
      return -1;
    }
  *out_tmp = g_steal_pointer (&tmp);
  return fd;
}

gboolean
ansim_file_write_durable (const char *path, const void *data, gsize len, int mode,
                          AnsimWriteMode how, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *tmp = NULL;
  int fd = ansim_file_open_temp (path, mode, &tmp, error);

  if (fd < 0)
    return FALSE;
  if (!ansim_write_all (fd, data, len) || fsync (fd) < 0)
    {
      int saved = errno;

      close (fd);
      unlink (tmp);
      return ansim_set_error_from_errno (error, saved, "cannot write", tmp);
    }
  if (close (fd) < 0)
    {
      int saved = errno;

      unlink (tmp);
      return ansim_set_error_from_errno (error, saved, "cannot write", tmp);
    }
  if (how == ANSIM_WRITE_REPLACE)
    {
      if (rename (tmp, path) < 0)
        {
          int saved = errno;

          unlink (tmp);
          return ansim_set_error_from_errno (error, saved, "cannot replace", path);
        }
    }
  else if (!ansim_rename_noreplace (tmp, path, error))
    {
      int saved = errno;

      unlink (tmp);
      errno = saved;
      return FALSE;
    }
  return ansim_fsync_dir (dir, error);
}

gboolean
ansim_remove_tree (const char *path, GError **error)
{
  GStatBuf st;
  int first_errno = 0;

  if (g_lstat (path, &st) < 0)
    return errno == ENOENT || ansim_set_error_from_errno (error, errno, "cannot remove", path);
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr (GError) local = NULL;
      g_autoptr (GDir) dir = g_dir_open (path, 0, &local);
      const char *name;

      if (dir == NULL)
        first_errno = errno != 0 ? errno : EIO;
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          if (!ansim_remove_tree (child, first_errno == 0 ? error : NULL) && first_errno == 0)
            first_errno = errno;
        }
      if (g_rmdir (path) < 0 && first_errno == 0)
        return ansim_set_error_from_errno (error, errno, "cannot remove", path);
    }
  else if (g_unlink (path) < 0 && errno != ENOENT)
    return ansim_set_error_from_errno (error, errno, "cannot remove", path);
  if (first_errno != 0)
    {
      /* The first failure below is already in error, unless g_dir_open
       * failed on path itself. */
      if (error != NULL && *error == NULL)
        ansim_set_error_from_errno (error, first_errno, "cannot list", path);
      errno = first_errno;
      return FALSE;
    }
  return TRUE;
}
