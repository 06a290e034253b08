/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Durable file writes, written once: a file appears whole or not at all,
 * and once the call returns TRUE it survives a power cut. Used for evidence
 * (manifests, keys, signatures) and the panel's file store. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* All of these report failures in the G_FILE_ERROR domain (code from errno)
 * with the message "WHAT PATH: strerror", and leave errno set to the cause
 * on return so that a caller may classify it further (a full disk, a lost
 * mount). */

/* Sets error to "WHAT PATH: strerror (saved_errno)" in G_FILE_ERROR, sets
 * errno back to saved_errno and returns FALSE: the one spelling of a
 * failed system call on a file, for these helpers and their callers. */
gboolean ansim_set_error_from_errno (GError **error, int saved_errno, const char *what,
                                     const char *path);

typedef enum {
  ANSIM_WRITE_NO_REPLACE = 0, /* fail with G_FILE_ERROR_EXIST if path exists */
  ANSIM_WRITE_REPLACE = 1,    /* atomically replace an existing file */
} AnsimWriteMode;

/* Writes data to a temporary file beside path with exactly this mode
 * (whatever the umask), fsyncs it, renames it to path and fsyncs the
 * folder. On failure the temporary file is removed and path is untouched.
 * With ANSIM_WRITE_NO_REPLACE, of two racing writers exactly one wins; the
 * other gets G_FILE_ERROR_EXIST ("PATH exists already; not replacing it"). */
gboolean ansim_file_write_durable (const char *path, const void *data, gsize len, int mode,
                                   AnsimWriteMode how, GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* rename() that never replaces: RENAME_NOREPLACE where the file system has
 * it, else link()+unlink(), else (FAT, as on a USB stick) check and rename.
 * G_FILE_ERROR_EXIST when to exists. Does not sync the folder. */
gboolean ansim_rename_noreplace (const char *from, const char *to,
                                 GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* For a file written piece by piece (a segment while it is sealed): creates
 * a hidden temporary file beside path (".NAME.tmp-XXXXXX") with exactly
 * this mode and returns its descriptor (O_CLOEXEC), its path in out_tmp.
 * The caller writes, fsyncs, closes, then renames it (or unlinks it). */
int ansim_file_open_temp (const char *path, int mode, char **out_tmp, GError **error);
/* write() until all of data is written or it fails (EINTR retried); FALSE
 * with errno set. No GError: the caller names the file. */
gboolean ansim_write_all (int fd, const void *data, gsize len) G_GNUC_WARN_UNUSED_RESULT;

/* Makes the folder's entries (a rename, a new or removed file) durable.
 * File systems that cannot sync a folder (EINVAL, ENOTSUP) count as done. */
gboolean ansim_fsync_dir (const char *dir, GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* Removes path and, if it is a folder, everything below it, without
 * following symbolic links (a link is removed, not what it points to).
 * A missing path is success. Goes on past a failure and reports the first
 * one; error may be NULL for best-effort cleanup. */
gboolean ansim_remove_tree (const char *path, GError **error);

G_END_DECLS
