/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the evidence package of one incident for disclosure
 * (docs/console.md "Export"): the incident folder exactly as
 * docs/evidence-format.md describes it, rebuilt from the store and checked
 * with ansim_incident_verify() against the device's enrolled key; with
 * media, one MP4 of the whole incident remuxed (never re-encoded) from the
 * verified plaintext with GStreamer; report.json and report.html (who
 * asked for it, for whom and on what legal basis, the incident's facts,
 * integrity, every file's SHA-256, the chain of custody); SHA256SUMS; as a
 * tar streamed in 64 KiB chunks.
 * What must stay true: no plaintext ever reaches a disk. Only the
 * encrypted originals pass through a folder (under the panel's
 * data_dir, removed once opened and at every start); the MP4, reports and
 * sums live in memory-backed files (memfd) that vanish with the process,
 * even after kill -9. The panel's memory does not grow with the incident
 * beyond those files. No server path enters the package or the audit. */
#include "export.h"
#include "notes.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "db.h"
#include "durable.h"
#include "evidence.h"
#include "http.h"

/* ---- memory-backed files ---------------------------------------------- */

/* A file in memory: gone when its last descriptor closes, also when the
 * process dies, and never written to a file system (only swap could hold
 * its pages, as for any memory). */
static int
memfile_new (const char *name, GError **error)
{
  int fd = memfd_create (name, MFD_CLOEXEC);
  if (fd < 0)
    ansim_set_error_from_errno (error, errno, "cannot create a memory file", name);
  return fd;
}

static gboolean
memfile_write (int fd, const void *data, gsize len, GError **error)
{
  if (!ansim_write_all (fd, data, len))
    return ansim_set_error_from_errno (error, errno, "cannot write a memory file", "export");
  return TRUE;
}

/* SHA-256 (hex, into out) and size of a descriptor's whole content, read
 * with pread (the offset is left alone). */
static gboolean
fd_sha256 (int fd, char out[ANSIM_SHA256_HEX_LEN + 1], goffset *out_size, GError **error)
{
  g_autoptr (EVP_MD_CTX) sum = ansim_hash_sha256_begin ();
  g_autofree guint8 *buffer = g_malloc (PANEL_EXPORT_CHUNK);
  goffset at = 0;
  for (;;)
    {
      ssize_t n = pread (fd, buffer, PANEL_EXPORT_CHUNK, at);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return ansim_set_error_from_errno (error, errno, "cannot read a package file", "export");
      if (n == 0)
        break;
      EVP_DigestUpdate (sum, buffer, n);
      at += n;
    }
  ansim_hash_sha256_end_hex (sum, out);
  *out_size = at;
  return TRUE;
}

/* ---- tar (POSIX ustar), read out chunk by chunk -------------------------- */

typedef struct {
  char *name; /* in the tar: top/…, directories end in '/' */
  int fd;     /* the content (read with pread); -1 for a directory */
  goffset size;
} TarEntry;

static void
tar_entry_free (gpointer data)
{
  TarEntry *e = data;
  g_free (e->name);
  g_free (e);
}

/* One file of the package, as SHA256SUMS and the report list it. */
typedef struct {
  char *name; /* relative to the package's top folder */
  int fd;     /* owned */
  goffset size;
  char sha256[ANSIM_SHA256_HEX_LEN + 1];
} PackageFile;

static void
package_file_free (gpointer data)
{
  PackageFile *f = data;
  if (f->fd >= 0)
    close (f->fd);
  g_free (f->name);
  g_free (f);
}

/* Where the reader is: each entry is a 512-byte header, its data and
 * zeros up to the next multiple of 512; the archive ends with 1024 zeros. */
typedef enum {
  TAR_HEADER,
  TAR_DATA,
  TAR_PADDING,
  TAR_TRAILER,
  TAR_END,
} TarPhase;

/* What the MP4 of the incident holds, for the report. */
typedef struct {
  char *name; /* package path, or NULL without media */
  guint64 frames;
  gint64 duration_us;
  guint n_segments; /* remuxed */
  gboolean audio;
  char *problem; /* why there is no MP4, or NULL */
} VideoSummary;

struct _PanelExport {
  /* what panel_export_new found (main thread) */
  gint64 id;
  char *uuid, *device, *desk;
  char *source;               /* the camera, or NULL (a version 1 manifest) */
  PanelExportRequest request; /* strings owned */
  gboolean drill;             /* a drill's incident: said in both reports */
  AnsimDeviceKey *key;        /* the enrolled key */
  GPtrArray *identities;      /* the site identity for media, or NULL */
  JsonNode *facts;            /* the incident row, its timeline and custody (report) */
  char *top, *work, *folder;
  char *receipt, *panel_pem; /* receipt.txt (may be NULL), panel-signing.pub.pem */
  PanelStore *store;         /* not owned; outlives the export */
  GPtrArray *to_copy;        /* store key, file name, … still to copy into folder */
  guint copied;              /* entries of to_copy done (counted in strings) */
  gint64 exported_at_us;
  gint64 footage_from_us, footage_until_us; /* the signed manifest's span, or 0 */
  /* the package (from panel_export_prepare_async on) */
  GPtrArray *files; /* PackageFile, in the order added */
  VideoSummary video;
  char *name;    /* ansim-incident-ID.tar */
  char *summary; /* the verification's summary line */
  char *sha256;  /* of the whole tar, from the first reading */
  goffset size;
  gint64 mtime_s;     /* one time for every entry, so both readings agree */
  GPtrArray *entries; /* TarEntry, in tar order (fds borrowed from files) */
  /* the reader */
  guint index;
  TarPhase phase;
  goffset done; /* bytes of the current phase already given out */
  guint8 header[512];
};

static void
tar_octal (char *field, gsize width, guint64 value)
{
  g_snprintf (field, width, "%0*" G_GINT64_MODIFIER "o", (int) width - 1, value);
}

static void
tar_header (guint8 header[512], const TarEntry *e, gint64 mtime_s)
{
  gboolean is_dir = e->fd < 0;
  memset (header, 0, 512);
  g_assert (strlen (e->name) < 100);
  memcpy (header, e->name, strlen (e->name));
  tar_octal ((char *) header + 100, 8, is_dir ? 0755 : 0644);
  tar_octal ((char *) header + 108, 8, 0);
  tar_octal ((char *) header + 116, 8, 0);
  tar_octal ((char *) header + 124, 12, e->size);
  tar_octal ((char *) header + 136, 12, mtime_s);
  memset (header + 148, ' ', 8);
  header[156] = is_dir ? '5' : '0';
  memcpy (header + 257, "ustar", 6);
  memcpy (header + 263, "00", 2);
  guint sum = 0;
  for (guint i = 0; i < 512; i++)
    sum += header[i];
  g_snprintf ((char *) header + 148, 8, "%06o", sum);
  header[155] = ' ';
}

static void
export_rewind (PanelExport *self)
{
  self->index = 0;
  self->phase = TAR_HEADER;
  self->done = 0;
}

gssize
panel_export_read (PanelExport *self, guint8 *buffer, gsize count, GError **error)
{
  gsize filled = 0;
  while (filled < count && self->phase != TAR_END)
    {
      TarEntry *e = self->index < self->entries->len ? self->entries->pdata[self->index] : NULL;
      gsize room = count - filled;
      switch (self->phase)
        {
        case TAR_HEADER:
          if (e == NULL)
            {
              self->phase = TAR_TRAILER;
              break;
            }
          if (self->done == 0)
            tar_header (self->header, e, self->mtime_s);
          {
            gsize n = MIN (room, 512 - (gsize) self->done);
            memcpy (buffer + filled, self->header + self->done, n);
            filled += n;
            self->done += n;
          }
          if (self->done == 512)
            {
              self->done = 0;
              if (e->size == 0)
                self->index++;
              else
                self->phase = TAR_DATA;
            }
          break;
        case TAR_DATA:
          {
            gsize want = MIN (room, (gsize) (e->size - self->done));
            ssize_t n = pread (e->fd, buffer + filled, want, self->done);
            if (n < 0 && errno == EINTR)
              break;
            if (n < 0)
              {
                ansim_set_error_from_errno (error, errno, "cannot read", e->name);
                return -1;
              }
            if (n == 0)
              {
                /* Sizes were taken when the package was made; its files
                 * are private and must not change. */
                g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                             "%s: shorter than when the package was made", e->name);
                return -1;
              }
            filled += n;
            self->done += n;
            if (self->done == e->size)
              {
                self->done = 0;
                self->phase = e->size % 512 != 0 ? TAR_PADDING : TAR_HEADER;
                if (self->phase == TAR_HEADER)
                  self->index++;
              }
          }
          break;
        case TAR_PADDING:
          {
            gsize pad = 512 - e->size % 512;
            gsize n = MIN (room, pad - (gsize) self->done);
            memset (buffer + filled, 0, n);
            filled += n;
            self->done += n;
            if (self->done == (goffset) pad)
              {
                self->done = 0;
                self->phase = TAR_HEADER;
                self->index++;
              }
          }
          break;
        case TAR_TRAILER:
          {
            gsize n = MIN (room, 1024 - (gsize) self->done);
            memset (buffer + filled, 0, n);
            filled += n;
            self->done += n;
            if (self->done == 1024)
              self->phase = TAR_END;
          }
          break;
        case TAR_END:
        default: break;
        }
    }
  return filled;
}

/* ---- the package ------------------------------------------------------- */

static char *
html_escape (const char *text)
{
  return g_markup_escape_text (text != NULL ? text : "", -1);
}

void
panel_export_free (PanelExport *self)
{
  if (self == NULL)
    return;
  if (self->work != NULL)
    ansim_remove_tree (self->work, NULL);
  g_free (self->work);
  g_free (self->uuid);
  g_free (self->device);
  g_free (self->desk);
  g_free (self->source);
  g_free ((char *) self->request.recipient);
  g_free ((char *) self->request.purpose);
  g_free ((char *) self->request.legal_basis);
  g_free ((char *) self->request.exported_by);
  ansim_device_key_free (self->key);
  g_clear_pointer (&self->identities, g_ptr_array_unref);
  g_clear_pointer (&self->facts, json_node_unref);
  g_clear_pointer (&self->to_copy, g_ptr_array_unref);
  g_clear_pointer (&self->entries, g_ptr_array_unref);
  g_clear_pointer (&self->files, g_ptr_array_unref);
  g_free (self->video.name);
  g_free (self->video.problem);
  g_free (self->top);
  g_free (self->folder);
  g_free (self->receipt);
  g_free (self->panel_pem);
  g_free (self->name);
  g_free (self->summary);
  g_free (self->sha256);
  g_free (self);
}

const char *
panel_export_get_name (PanelExport *self)
{
  return self->name;
}

const char *
panel_export_get_summary (PanelExport *self)
{
  return self->summary;
}

const char *
panel_export_get_sha256 (PanelExport *self)
{
  return self->sha256;
}

goffset
panel_export_get_size (PanelExport *self)
{
  return self->size;
}

const char *
panel_export_get_uuid (PanelExport *self)
{
  return self->uuid;
}

const char *
panel_export_get_desk (PanelExport *self)
{
  return self->desk;
}

void
panel_export_get_footage (PanelExport *self, gint64 *out_from_us, gint64 *out_until_us)
{
  *out_from_us = self->footage_from_us;
  *out_until_us = self->footage_until_us;
}

/* Panels before this one assembled packages, decrypted video included, in
 * $TMPDIR/ansim-export-XXXXXX and left them there when killed. Folders of
 * this user untouched for an hour go (a running export touches its own;
 * TMPDIR may be shared with other programs, hence the owner and age). */
static void
remove_legacy_folders (void)
{
  const char *tmp = g_get_tmp_dir ();
  g_autoptr (GDir) dir = g_dir_open (tmp, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      if (!g_str_has_prefix (name, "ansim-export-")
          || strlen (name) != strlen ("ansim-export-XXXXXX"))
        continue;
      g_autofree char *path = g_build_filename (tmp, name, NULL);
      GStatBuf st;
      if (g_lstat (path, &st) == 0 && S_ISDIR (st.st_mode) && st.st_uid == geteuid ()
          && st.st_mtime < g_get_real_time () / G_USEC_PER_SEC - 3600)
        ansim_remove_tree (path, NULL);
    }
}

gboolean
panel_export_clean_work_dir (const char *work_dir, GError **error)
{
  /* Whatever a killed panel left: encrypted originals only, but nobody's
   * business once the export that needed them is gone. */
  remove_legacy_folders ();
  if (!ansim_remove_tree (work_dir, error))
    return FALSE;
  if (g_mkdir_with_parents (work_dir, 0700) < 0)
    return ansim_set_error_from_errno (error, errno, "cannot create folder", work_dir);
  return TRUE;
}

/* Rows of a query as a JSON array member of the object b builds. */
static gboolean
add_rows (JsonBuilder *b, const char *member, sqlite3_stmt *stmt)
{
  static const char *const embedded[] = { "detail", NULL };
  json_builder_set_member_name (b, member);
  json_builder_begin_array (b);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    panel_http_add_row (b, stmt, NULL, embedded);
  json_builder_end_array (b);
  return rc == SQLITE_DONE;
}

/* What the report says about the incident, read now on the main thread:
 * the incident row, its panel timeline (acknowledgement, notes,
 * resolution) and who viewed, played and exported it (the audit log). */
static JsonNode *
read_facts (sqlite3 *db, gint64 id, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  g_autoptr (sqlite3_stmt) inc = ansim_db_prepare (
    db,
    "SELECT i.desk_id, coalesce (k.name, i.desk_id) AS desk_name, i.device_id, i.source, "
    "i.trigger, i.trigger_kind, i.opened_wall_us, i.alerted_at_us, i.closed_wall_us, "
    "i.close_reason, i.status, i.acknowledged_by, i.acknowledged_at_us, i.resolved_by, "
    "i.resolved_at_us, i.resolution FROM incidents i LEFT JOIN desks k ON k.id = i.desk_id "
    "WHERE i.id = ?1",
    error);
  if (inc == NULL)
    return NULL;
  sqlite3_bind_int64 (inc, 1, id);
  if (sqlite3_step (inc) != SQLITE_ROW)
    return NULL;
  json_builder_set_member_name (b, "incident");
  panel_http_add_row (b, inc, NULL, NULL);
  g_autoptr (sqlite3_stmt) events = ansim_db_prepare (
    db,
    "SELECT coalesce (received_at_us, at_wall_us) AS at_us, kind, actor, detail FROM events "
    "WHERE incident_id = ?1 ORDER BY at_us, id",
    error);
  g_autoptr (sqlite3_stmt) custody = ansim_db_prepare (
    db, "SELECT at_us, actor, role, action FROM audit_log WHERE target = ?1 ORDER BY id", error);
  /* The other cameras of the same press: their own incidents and exports. */
  g_autoptr (sqlite3_stmt) siblings = ansim_db_prepare (
    db,
    "SELECT id, source FROM incidents WHERE alert_id = (SELECT alert_id FROM incidents "
    "WHERE id = ?1) AND id <> ?1 ORDER BY id",
    error);
  if (events == NULL || custody == NULL || siblings == NULL)
    return NULL;
  sqlite3_bind_int64 (events, 1, id);
  sqlite3_bind_int64 (siblings, 1, id);
  g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, id);
  sqlite3_bind_text (custody, 1, target, -1, SQLITE_TRANSIENT);
  if (!add_rows (b, "timeline", events) || !add_rows (b, "custody", custody)
      || !add_rows (b, "other_cameras", siblings))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "reading the incident: %s",
                   sqlite3_errmsg (db));
      return NULL;
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

PanelExport *
panel_export_new (sqlite3 *db, PanelStore *store, const char *work_dir, gint64 id,
                  GPtrArray *identities, const PanelExportRequest *request, GError **error)
{
  g_autoptr (sqlite3_stmt) inc = ansim_db_prepare (
    db,
    "SELECT i.uuid, i.device_id, i.desk_id, i.manifest_store_key, d.public_key, i.source, "
    "i.resolution, i.is_drill FROM incidents i JOIN devices d ON d.id = i.device_id WHERE i.id = ?1",
    error);
  if (inc == NULL)
    return NULL;
  sqlite3_bind_int64 (inc, 1, id);
  if (sqlite3_step (inc) != SQLITE_ROW)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "no such incident");
      return NULL;
    }
  if (sqlite3_column_type (inc, 3) == SQLITE_NULL)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_AGAIN,
                   "no signed manifest has arrived yet: nothing to export");
      return NULL;
    }
  g_autofree char *uuid = g_strdup ((const char *) sqlite3_column_text (inc, 0));
  g_autofree char *device = g_strdup ((const char *) sqlite3_column_text (inc, 1));
  g_autofree char *desk = g_strdup ((const char *) sqlite3_column_text (inc, 2));
  g_autofree char *manifest_key = g_strdup ((const char *) sqlite3_column_text (inc, 3));
  g_autofree char *source = g_strdup ((const char *) sqlite3_column_text (inc, 5));

  /* The device's enrolled key, and as SubjectPublicKeyInfo PEM for the folder. */
  g_autoptr (AnsimDeviceKey) key =
    ansim_device_key_new_public_from_raw (sqlite3_column_blob (inc, 4), device, error);
  if (key == NULL)
    return NULL;
  g_autofree char *pem = ansim_device_key_get_public_pem (key);
  g_autoptr (JsonNode) facts = read_facts (db, id, error);
  if (facts == NULL)
    return NULL;

  g_autoptr (PanelExport) self = g_new0 (PanelExport, 1);
  self->entries = g_ptr_array_new_with_free_func (tar_entry_free);
  self->files = g_ptr_array_new_with_free_func (package_file_free);
  self->to_copy = g_ptr_array_new_with_free_func (g_free);
  self->store = store;
  g_autofree char *template = g_build_filename (work_dir, "export-XXXXXX", NULL);
  if (g_mkdtemp_full (template, 0700) == NULL)
    {
      ansim_set_error_from_errno (error, errno, "cannot create a folder in", work_dir);
      return NULL;
    }
  self->work = g_steal_pointer (&template);
  self->folder = g_build_filename (self->work, "incident", NULL);
  g_autofree char *sig_key = g_strconcat (manifest_key, ".sig", NULL);
  if (g_mkdir (self->folder, 0700) < 0)
    {
      ansim_set_error_from_errno (error, errno, "cannot create folder", "incident");
      return NULL;
    }
  g_autoptr (GBytes) manifest = panel_store_get (store, manifest_key, error);
  g_autoptr (GBytes) sig = manifest != NULL ? panel_store_get (store, sig_key, error) : NULL;
  if (sig == NULL)
    return NULL;
  g_autofree char *mpath = g_build_filename (self->folder, ANSIM_MANIFEST_NAME, NULL);
  g_autofree char *spath = g_build_filename (self->folder, ANSIM_MANIFEST_SIG_NAME, NULL);
  g_autofree char *kpath = g_build_filename (self->folder, ANSIM_DEVICE_PUB_NAME, NULL);
  /* A private scratch folder: no fsync (it is gone after the answer). */
  if (!g_file_set_contents_full (mpath, g_bytes_get_data (manifest, NULL),
                                 g_bytes_get_size (manifest), G_FILE_SET_CONTENTS_NONE, 0600, error)
      || !g_file_set_contents_full (spath, g_bytes_get_data (sig, NULL), g_bytes_get_size (sig),
                                    G_FILE_SET_CONTENTS_NONE, 0600, error)
      || !g_file_set_contents_full (kpath, pem, strlen (pem), G_FILE_SET_CONTENTS_NONE, 0600,
                                    error))
    return NULL;
  /* The panel's signed chain-head receipt and its key (docs/receipts.md). */
  if (!panel_notes_export_files (db, id, &self->receipt, &self->panel_pem, error))
    return NULL;
  {
    /* The signed checkpoints the panel kept (evidence format version 3):
     * verify then checks the final manifest against what the desk signed
     * while the incident was live. */
    g_autoptr (sqlite3_stmt) cp = ansim_db_prepare (
      db,
      "SELECT sequence, text, signature FROM incident_checkpoints WHERE incident_id = ?1 "
      "ORDER BY sequence",
      error);
    g_autofree char *cdir = g_build_filename (self->folder, ANSIM_CHECKPOINT_DIR, NULL);
    if (cp == NULL)
      return NULL;
    sqlite3_bind_int64 (cp, 1, id);
    while (sqlite3_step (cp) == SQLITE_ROW)
      {
        g_autofree char *name = ansim_checkpoint_file_name (sqlite3_column_int64 (cp, 0));
        g_autofree char *sig_name = g_strconcat (name, ".sig", NULL);
        if (g_mkdir_with_parents (cdir, 0700) < 0)
          {
            g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", cdir,
                         g_strerror (errno));
            return NULL;
          }
        g_autofree char *path = g_build_filename (cdir, name, NULL);
        g_autofree char *sig_path = g_build_filename (cdir, sig_name, NULL);
        if (!g_file_set_contents_full (path, sqlite3_column_blob (cp, 1),
                                       sqlite3_column_bytes (cp, 1), G_FILE_SET_CONTENTS_NONE, 0600,
                                       error)
            || !g_file_set_contents_full (sig_path, sqlite3_column_blob (cp, 2),
                                          sqlite3_column_bytes (cp, 2), G_FILE_SET_CONTENTS_NONE,
                                          0600, error))
          return NULL;
      }
  }
  {
    g_autoptr (sqlite3_stmt) seg = ansim_db_prepare (
      db,
      "SELECT idx, store_key FROM segments WHERE incident_id = ?1 AND store_key IS NOT NULL "
      "ORDER BY idx",
      error);
    if (seg == NULL)
      return NULL;
    sqlite3_bind_int64 (seg, 1, id);
    while (sqlite3_step (seg) == SQLITE_ROW)
      {
        g_autofree char *name = g_strdup_printf ("seg-%06" G_GINT64_FORMAT ".mkv.age",
                                                 (gint64) sqlite3_column_int64 (seg, 0));
        /* copied later, one per main-loop turn (panel_export_prepare_async) */
        g_ptr_array_add (self->to_copy, g_strdup ((const char *) sqlite3_column_text (seg, 1)));
        g_ptr_array_add (self->to_copy, g_steal_pointer (&name));
      }
  }

  self->id = id;
  self->uuid = g_steal_pointer (&uuid);
  self->device = g_steal_pointer (&device);
  self->desk = g_steal_pointer (&desk);
  self->source = g_steal_pointer (&source);
  self->drill = sqlite3_column_int (inc, 7) != 0;
  self->key = g_steal_pointer (&key);
  self->identities = request->with_media && identities != NULL ? g_ptr_array_ref (identities)
                                                               : NULL;
  self->facts = g_steal_pointer (&facts);
  self->request.recipient = g_strdup (request->recipient);
  self->request.purpose = g_strdup (request->purpose);
  self->request.legal_basis = g_strdup (request->legal_basis);
  self->request.exported_by = g_strdup (request->exported_by);
  self->request.with_media = self->identities != NULL;
  self->exported_at_us = g_get_real_time ();
  self->top = g_strdup_printf ("ansim-incident-%" G_GINT64_FORMAT, id);
  return g_steal_pointer (&self);
}

/* Adds a file of the package: takes fd, hashes it. */
static gboolean
add_file (PanelExport *self, const char *name, int fd, GError **error)
{
  PackageFile *f = g_new0 (PackageFile, 1);
  f->name = g_strdup (name);
  f->fd = fd;
  g_ptr_array_add (self->files, f);
  return fd_sha256 (fd, f->sha256, &f->size, error);
}

/* Adds a file held in memory with this content. */
static gboolean
add_memory_file (PanelExport *self, const char *name, const void *data, gsize len, GError **error)
{
  int fd = memfile_new (name, error);
  if (fd < 0)
    return FALSE;
  if (!memfile_write (fd, data, len, error))
    {
      close (fd);
      return FALSE;
    }
  return add_file (self, name, fd, error);
}

/* The verifier names the folder it checked; the package and the audit
 * call it incident/ (no server path leaves the panel). */
static char *
hide_folder (const char *text, const char *folder)
{
  g_auto (GStrv) parts = g_strsplit (text, folder, -1);
  return g_strjoinv ("incident", parts);
}

/* ---- the MP4 ------------------------------------------------------------- */

/* Samples of one stream of one segment, demuxed. */
typedef struct {
  GMutex lock;
  GPtrArray *video, *audio; /* GstSample */
} Demuxed;

static GstFlowReturn
on_sample (GstAppSink *sink, gpointer data)
{
  GPtrArray *to = data;
  GstSample *sample = gst_app_sink_pull_sample (sink);
  if (sample == NULL)
    return GST_FLOW_EOS;
  Demuxed *d = g_object_get_data (G_OBJECT (sink), "demuxed");
  g_mutex_lock (&d->lock);
  g_ptr_array_add (to, sample);
  g_mutex_unlock (&d->lock);
  return GST_FLOW_OK;
}

static void
on_pad_added (GstElement *demux, GstPad *pad, gpointer data)
{
  Demuxed *d = data;
  g_autoptr (GstCaps) caps = gst_pad_query_caps (pad, NULL);
  const char *kind = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  GPtrArray *to = g_str_has_prefix (kind, "video/")   ? d->video
                  : g_str_has_prefix (kind, "audio/") ? d->audio
                                                      : NULL;
  GstElement *sink = gst_element_factory_make (to != NULL ? "appsink" : "fakesink", NULL);
  /* The demuxer feeds every sink from one thread: a sink that waited for
   * the others to preroll would wait forever. */
  g_object_set (sink, "async", FALSE, "sync", FALSE, NULL);
  GstElement *bin = GST_ELEMENT (gst_element_get_parent (demux));
  gst_bin_add (GST_BIN (bin), sink);
  gst_object_unref (bin);
  if (to != NULL)
    {
      GstAppSinkCallbacks callbacks = { .new_sample = on_sample };
      g_object_set_data (G_OBJECT (sink), "demuxed", d);
      gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, to, NULL);
    }
  gst_element_sync_state_with_parent (sink);
  g_autoptr (GstPad) sinkpad = gst_element_get_static_pad (sink, "sink");
  gst_pad_link (pad, sinkpad);
}

/* Runs pipeline to its end; FALSE with the first error. */
static gboolean
run_to_eos (GstElement *pipeline, GError **error)
{
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "GStreamer could not start");
      gst_element_set_state (pipeline, GST_STATE_NULL);
      return FALSE;
    }
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr (GstMessage) m =
    gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  gboolean ok = m != NULL && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS;
  if (!ok)
    {
      g_autoptr (GError) gst_error = NULL;
      if (m != NULL)
        gst_message_parse_error (m, &gst_error, NULL);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "GStreamer: %s",
                   gst_error != NULL ? gst_error->message : "no end of stream within 120 s");
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return ok;
}

/* One decrypted segment (Matroska in memory) into its samples. */
static gboolean
demux_segment (GBytes *plain, Demuxed *d, GError **error)
{
  g_autoptr (GstElement) pipeline =
    gst_parse_launch ("appsrc name=src ! matroskademux name=demux", error);
  if (pipeline == NULL)
    return FALSE;
  g_autoptr (GstElement) src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  g_autoptr (GstElement) demux = gst_bin_get_by_name (GST_BIN (pipeline), "demux");
  g_signal_connect (demux, "pad-added", G_CALLBACK (on_pad_added), d);
  gst_app_src_push_buffer (GST_APP_SRC (src), gst_buffer_new_wrapped_bytes (plain));
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  return run_to_eos (pipeline, error);
}

static gint64
first_pts (GPtrArray *samples)
{
  for (guint i = 0; i < samples->len; i++)
    {
      GstBuffer *b = gst_sample_get_buffer (samples->pdata[i]);
      if (GST_BUFFER_PTS_IS_VALID (b))
        return GST_BUFFER_PTS (b);
    }
  return -1;
}

/* Pushes a segment's samples shifted by offset (ns); a frame without a
 * decoding time decodes when it is shown (the recorder's H.264 and Opus
 * have no reordering). */
static gboolean
push_samples (GstElement *src, GPtrArray *samples, gint64 offset, GError **error)
{
  for (guint i = 0; i < samples->len; i++)
    {
      GstSample *s = samples->pdata[i];
      GstBuffer *b = gst_buffer_copy (gst_sample_get_buffer (s));
      if (GST_BUFFER_PTS_IS_VALID (b))
        GST_BUFFER_PTS (b) = MAX (0, (gint64) GST_BUFFER_PTS (b) + offset);
      if (GST_BUFFER_DTS_IS_VALID (b))
        GST_BUFFER_DTS (b) = MAX (0, (gint64) GST_BUFFER_DTS (b) + offset);
      else
        GST_BUFFER_DTS (b) = GST_BUFFER_PTS (b);
      GstSample *shifted = gst_sample_new (b, gst_sample_get_caps (s), NULL, NULL);
      gst_buffer_unref (b);
      GstFlowReturn flow = gst_app_src_push_sample (GST_APP_SRC (src), shifted);
      gst_sample_unref (shifted);
      if (flow != GST_FLOW_OK)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the MP4 muxer refused a frame (%s)",
                       gst_flow_get_name (flow));
          return FALSE;
        }
    }
  return TRUE;
}

/* The whole incident as one MP4 in a memory file: every segment whose
 * signature, chain and plaintext hash hold, demuxed and muxed again with
 * its own timestamps (no re-encoding). Times follow the signed manifest:
 * a segment whose clock disagrees with the manifest by more than the
 * format's tolerance is placed where the manifest says, so a gap stays a
 * gap of its real length. */
static int
make_mp4 (PanelExport *self, const AnsimManifest *m, GError **error)
{
  static gsize gst_ready = 0;
  if (g_once_init_enter (&gst_ready))
    {
      gst_init (NULL, NULL);
      g_once_init_leave (&gst_ready, 1);
    }
  AnsimAgeIdentity *const *ids = (AnsimAgeIdentity *const *) self->identities->pdata;
  guint n_ids = self->identities->len;
  g_autoptr (GstElement) mux = NULL;
  g_autoptr (GstElement) vsrc = NULL;
  g_autoptr (GstElement) asrc = NULL;
  int fd = -1;
  gint64 base_wall = -1, base_pts = -1, end_ns = 0;
  guint64 frames = 0;

  for (guint p = 0; p < ansim_manifest_get_n_entries (m); p++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (m, p);
      if (e->kind != ANSIM_ENTRY_SEGMENT)
        continue;
      g_autofree char *path = g_build_filename (self->folder, e->file, NULL);
      g_autoptr (GMappedFile) cipher = g_mapped_file_new (path, FALSE, NULL);
      if (cipher == NULL)
        continue; /* not received: a gap in the MP4, named in the report */
      g_autoptr (GBytes) cbytes = g_mapped_file_get_bytes (cipher);
      g_autoptr (GBytes) plain = ansim_age_decrypt_bytes (ids, n_ids, cbytes, NULL);
      char sha[ANSIM_SHA256_HEX_LEN + 1] = "";
      if (plain != NULL)
        ansim_hash_sha256_hex (g_bytes_get_data (plain, NULL), g_bytes_get_size (plain), sha);
      if (plain == NULL || strcmp (sha, e->sha256_plain) != 0)
        continue; /* the report names it (altered, cannot decrypt) */
      Demuxed d = { .video = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sample_unref),
                    .audio = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sample_unref) };
      g_mutex_init (&d.lock);
      gboolean ok = demux_segment (plain, &d, error);
      g_mutex_clear (&d.lock);
      g_autoptr (GPtrArray) video = d.video, audio = d.audio;
      if (!ok)
        {
          g_prefix_error (error, "%s: ", e->file);
          if (fd >= 0)
            close (fd);
          return -1;
        }
      gint64 pts = first_pts (video);
      if (pts < 0)
        continue;
      if (mux == NULL)
        {
          fd = memfile_new ("ansim-export.mp4", error);
          if (fd < 0)
            return -1;
          /* faststart=false: with it mp4mux would write the media to a
           * temporary file in TMPDIR, i.e. plaintext on disk. The moov
           * goes at the end; players read it there. */
          g_autofree char *desc = g_strdup_printf (
            "appsrc name=v format=time max-bytes=0 ! h264parse ! mp4mux name=mux "
            "faststart=false ! fdsink fd=%d%s",
            fd, audio->len > 0 ? " appsrc name=a format=time max-bytes=0 ! mux." : "");
          mux = gst_parse_launch (desc, error);
          if (mux == NULL)
            {
              close (fd);
              return -1;
            }
          vsrc = gst_bin_get_by_name (GST_BIN (mux), "v");
          asrc = gst_bin_get_by_name (GST_BIN (mux), "a");
          if (gst_element_set_state (mux, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the MP4 muxer cannot start");
              close (fd);
              return -1;
            }
          base_wall = e->start_wall_us;
          base_pts = pts;
        }
      /* Where this segment belongs by the signed manifest, in the MP4's
       * clock (the first segment's own timestamps). */
      gint64 expected = base_pts + (e->start_wall_us - base_wall) * GST_USECOND;
      gint64 offset = 0;
      if (ABS (pts - expected) > ANSIM_MANIFEST_TIME_TOLERANCE_US * GST_USECOND)
        offset = expected - pts;
      if (!push_samples (vsrc, video, offset, error)
          || (asrc != NULL && !push_samples (asrc, audio, offset, error)))
        {
          gst_element_set_state (mux, GST_STATE_NULL);
          close (fd);
          return -1;
        }
      frames += video->len;
      end_ns = MAX (end_ns, expected + e->duration_us * GST_USECOND);
      self->video.n_segments++;
      self->video.audio = self->video.audio || (asrc != NULL && audio->len > 0);
    }
  if (mux == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "no segment with video could be checked and decrypted");
      return -1;
    }
  gst_app_src_end_of_stream (GST_APP_SRC (vsrc));
  if (asrc != NULL)
    gst_app_src_end_of_stream (GST_APP_SRC (asrc));
  g_autoptr (GstBus) bus = gst_element_get_bus (mux);
  g_autoptr (GstMessage) msg =
    gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  gboolean ok = msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS;
  if (!ok)
    {
      g_autoptr (GError) gst_error = NULL;
      if (msg != NULL)
        gst_message_parse_error (msg, &gst_error, NULL);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the MP4 muxer: %s",
                   gst_error != NULL ? gst_error->message : "no end within 120 s");
    }
  gst_element_set_state (mux, GST_STATE_NULL);
  if (!ok)
    {
      close (fd);
      return -1;
    }
  self->video.frames = frames;
  self->video.duration_us = (end_ns - base_pts) / GST_USECOND;
  return fd;
}

/* ---- reports ------------------------------------------------------------- */

static char *
local_time (gint64 us)
{
  if (us <= 0)
    return g_strdup ("—");
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local (us / G_USEC_PER_SEC);
  if (dt == NULL)
    return g_strdup ("—");
  return g_date_time_format (dt, "%Y-%m-%d %H:%M:%S %z");
}

static const char *
member_string (JsonObject *o, const char *name)
{
  return o != NULL ? json_object_get_string_member_with_default (o, name, NULL) : NULL;
}

static gint64
member_int (JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;
  return n != NULL && JSON_NODE_HOLDS_VALUE (n) ? json_node_get_int (n) : 0;
}

/* The console's catalog of one language (compiled into the panel), so the
 * report says "위협 · Threat" in the console's words; NULL if absent. */
static JsonParser *
load_catalog (const char *lang)
{
  g_autofree char *path = g_strdup_printf ("/org/ansim/panel/ui/strings-%s.json", lang);
  g_autoptr (GBytes) bytes = g_resources_lookup_data (path, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  JsonParser *parser = json_parser_new ();
  if (bytes == NULL
      || !json_parser_load_from_data (parser, g_bytes_get_data (bytes, NULL),
                                      g_bytes_get_size (bytes), NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    g_clear_object (&parser);
  return parser;
}

typedef struct {
  JsonParser *ko, *en;
} Catalogs;

static const char *
catalog_text (JsonParser *catalog, const char *key)
{
  if (catalog == NULL)
    return NULL;
  const char *text = json_object_get_string_member_with_default (
    json_node_get_object (json_parser_get_root (catalog)), key, NULL);
  return text != NULL && strchr (text, '{') == NULL ? text : NULL;
}

/* "한국어 · English (code)" for prefix.code, or the code alone. */
static char *
label (const Catalogs *c, const char *prefix, const char *code)
{
  if (code == NULL)
    return NULL;
  g_autofree char *key = g_strconcat (prefix, code, NULL);
  const char *ko = catalog_text (c->ko, key), *en = catalog_text (c->en, key);
  if (ko == NULL || en == NULL)
    return g_strdup (code);
  return g_strdup_printf ("%s · %s", ko, en);
}

/* One table row "<tr><th>label</th><td>escaped text</td></tr>". */
static void
html_row (GString *html, const char *label, const char *text)
{
  g_autofree char *e = html_escape (text != NULL && text[0] ? text : "—");
  g_string_append_printf (html, "<tr><th>%s</th><td>%s</td></tr>\n", label, e);
}

static void
html_time_row (GString *html, const char *label, gint64 us, const char *by)
{
  g_autofree char *t = local_time (us);
  g_autofree char *text = by != NULL && us > 0 ? g_strdup_printf ("%s · %s", t, by) : g_strdup (t);
  html_row (html, label, text);
}

static void
write_report_json (PanelExport *self, AnsimVerifyReport *report, JsonBuilder *b)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, "ansim-evidence-package/2");
  json_builder_set_member_name (b, "incident");
  json_builder_add_int_value (b, self->id);
  json_builder_set_member_name (b, "uuid");
  json_builder_add_string_value (b, self->uuid);
  json_builder_set_member_name (b, "device");
  json_builder_add_string_value (b, self->device);
  json_builder_set_member_name (b, "fingerprint");
  json_builder_add_string_value (b, ansim_device_key_get_fingerprint (self->key));
  json_builder_set_member_name (b, "desk");
  json_builder_add_string_value (b, self->desk);
  json_builder_set_member_name (b, "source");
  if (self->source != NULL)
    json_builder_add_string_value (b, self->source);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "drill");
  json_builder_add_boolean_value (b, self->drill);
  json_builder_set_member_name (b, "exported_at_us");
  json_builder_add_int_value (b, self->exported_at_us);
  json_builder_set_member_name (b, "exported_by");
  json_builder_add_string_value (b, self->request.exported_by);
  json_builder_set_member_name (b, "recipient");
  json_builder_add_string_value (b, self->request.recipient);
  json_builder_set_member_name (b, "purpose");
  json_builder_add_string_value (b, self->request.purpose);
  json_builder_set_member_name (b, "legal_basis");
  json_builder_add_string_value (b, self->request.legal_basis);
  json_builder_set_member_name (b, "footage_from_us");
  json_builder_add_int_value (b, self->footage_from_us);
  json_builder_set_member_name (b, "footage_until_us");
  json_builder_add_int_value (b, self->footage_until_us);
  json_builder_set_member_name (b, "media_included");
  json_builder_add_boolean_value (b, self->video.name != NULL);
  json_builder_set_member_name (b, "video");
  if (self->video.name != NULL)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "file");
      json_builder_add_string_value (b, self->video.name);
      json_builder_set_member_name (b, "frames");
      json_builder_add_int_value (b, self->video.frames);
      json_builder_set_member_name (b, "duration_us");
      json_builder_add_int_value (b, self->video.duration_us);
      json_builder_set_member_name (b, "segments");
      json_builder_add_int_value (b, self->video.n_segments);
      json_builder_set_member_name (b, "audio");
      json_builder_add_boolean_value (b, self->video.audio);
      json_builder_end_object (b);
    }
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "intact");
  json_builder_add_boolean_value (b, report->n_findings == 0);
  json_builder_set_member_name (b, "summary");
  json_builder_add_string_value (b, self->summary);
  json_builder_set_member_name (b, "lines");
  json_builder_begin_array (b);
  for (guint i = 0; i < report->lines->len; i++)
    {
      g_autofree char *line =
        hide_folder (((AnsimFinding *) report->lines->pdata[i])->text, self->folder);
      json_builder_add_string_value (b, line);
    }
  json_builder_end_array (b);
  JsonObject *facts = json_node_get_object (self->facts);
  json_builder_set_member_name (b, "timeline");
  json_builder_add_value (b, json_node_copy (json_object_get_member (facts, "timeline")));
  json_builder_set_member_name (b, "custody");
  json_builder_add_value (b, json_node_copy (json_object_get_member (facts, "custody")));
  json_builder_set_member_name (b, "other_cameras");
  json_builder_add_value (b, json_node_copy (json_object_get_member (facts, "other_cameras")));
  json_builder_set_member_name (b, "files");
  json_builder_begin_array (b);
  for (guint i = 0; i < self->files->len; i++)
    {
      PackageFile *f = self->files->pdata[i];
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, f->name);
      json_builder_set_member_name (b, "size");
      json_builder_add_int_value (b, f->size);
      json_builder_set_member_name (b, "sha256");
      json_builder_add_string_value (b, f->sha256);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
}

static const char report_style[] =
  "<style>\n"
  "@page { size: A4; margin: 10mm; }\n"
  "body { font: 9pt/1.25 sans-serif; margin: 0 auto; max-width: 190mm; }\n"
  "h1 { font-size: 13pt; margin: 0 0 2mm; } h2 { font-size: 10pt; margin: 3mm 0 1mm; }\n"
  "table { border-collapse: collapse; width: 100%; }\n"
  "th, td { border: 0.5pt solid #999; padding: 0.5mm 1.5mm; text-align: left; "
  "vertical-align: top; }\n"
  "th { background: #eee; font-weight: 600; white-space: nowrap; width: 1%; }\n"
  "ul { margin: 0; padding-left: 5mm; } .files td, .custody td { font-size: 7pt; }\n"
  ".files td:last-child { font-family: monospace; font-size: 6.5pt; word-break: break-all; }\n"
  ".cols { display: flex; gap: 3mm; } .cols > div { flex: 1; }\n"
  ".drill { font-size: 12pt; color: #b3261e; }\n"
  "</style>\n";

/* The report for people (Korean and English), printable to one A4 page
 * for a short incident. */
static char *
write_report_html (PanelExport *self, AnsimVerifyReport *report)
{
  JsonObject *facts = json_node_get_object (self->facts);
  JsonObject *inc = json_object_get_object_member (facts, "incident");
  JsonArray *timeline = json_object_get_array_member (facts, "timeline");
  JsonArray *custody = json_object_get_array_member (facts, "custody");
  g_autoptr (JsonParser) ko = load_catalog ("ko");
  g_autoptr (JsonParser) en = load_catalog ("en");
  Catalogs cat = { ko, en };
  GString *html = g_string_new (NULL);
  g_autofree char *e_sum = html_escape (self->summary);
  g_string_append_printf (html,
                          "<!DOCTYPE html>\n<html lang=\"ko\"><head><meta charset=\"utf-8\">"
                          "<title>안심 사건 %" G_GINT64_FORMAT " 제공 보고서 / ansim incident "
                          "%" G_GINT64_FORMAT " disclosure report</title>\n%s</head><body>\n"
                          "<h1>개인영상정보 제공 보고서 · Disclosure report — 사건 · incident "
                          "%" G_GINT64_FORMAT "</h1>\n",
                          self->id, self->id, report_style, self->id);
  if (self->drill)
    g_string_append (html, "<p class=\"drill\"><b>모의훈련 · DRILL</b>: this incident was a "
                           "drill, not a real event.</p>\n");
  g_string_append_printf (html,
                          "<p><b>%s</b></p>\n<div class=\"cols\"><div>\n"
                          "<h2>사건 · Incident</h2>\n<table>\n",
                          e_sum);
  g_autofree char *desk = g_strdup_printf ("%s (%s)", member_string (inc, "desk_name"), self->desk);
  html_row (html, "창구 · Desk", desk);
  g_autofree char *device = g_strdup_printf ("%s, %s, key %s", self->device,
                                             self->source != NULL ? self->source : "camera",
                                             ansim_device_key_get_fingerprint (self->key));
  html_row (html, "장치 · Device, camera", device);
  html_row (html, "사건 번호 · UUID", self->uuid);
  g_autofree char *trigger = g_strdup_printf ("%s (%s)", member_string (inc, "trigger"),
                                              member_string (inc, "trigger_kind"));
  html_row (html, "호출 · Trigger", trigger);
  html_row (html, "구분 · Kind", self->drill ? "모의훈련 · drill" : "실제 상황 · real incident");
  html_time_row (html, "눌림 · Pressed (desk clock)", member_int (inc, "opened_wall_us"), NULL);
  html_time_row (html, "알림 수신 · Alert received", member_int (inc, "alerted_at_us"), NULL);
  html_time_row (html, "확인 · Acknowledged", member_int (inc, "acknowledged_at_us"),
                 member_string (inc, "acknowledged_by"));
  html_time_row (html, "종결 · Resolved", member_int (inc, "resolved_at_us"),
                 member_string (inc, "resolved_by"));
  {
    g_autofree char *resolution = label (&cat, "category.", member_string (inc, "resolution"));
    html_row (html, "결과 · Resolution", resolution);
  }
  {
    g_autofree char *closed = local_time (member_int (inc, "closed_wall_us"));
    g_autofree char *text = g_strdup_printf ("%s (%s)", closed,
                                             member_string (inc, "close_reason") != NULL
                                               ? member_string (inc, "close_reason")
                                               : "still recording");
    html_row (html, "녹화 종료 · Recording ended", text);
  }
  /* Presses as the desk signed them (the manifest's events). */
  {
    g_autoptr (GString) presses = g_string_new (NULL);
    const AnsimManifest *m = report->manifest;
    guint n = 0;
    for (guint i = 0; m != NULL && i < ansim_manifest_get_n_events (m); i++)
      {
        const AnsimManifestEvent *ev = ansim_manifest_get_event (m, i);
        if (!g_str_has_suffix (ev->kind, "press"))
          continue;
        g_autofree char *t = local_time (ev->wall_us);
        g_string_append_printf (presses, "%s%s %s", n++ > 0 ? "; " : "", ev->kind, t);
      }
    g_autofree char *text = g_strdup_printf ("%u%s%s", n, n > 0 ? ": " : "", presses->str);
    html_row (html, "누름 · Presses (signed)", text);
  }
  {
    JsonArray *others = json_object_get_array_member (facts, "other_cameras");
    g_autoptr (GString) text = g_string_new (NULL);
    for (guint i = 0; i < json_array_get_length (others); i++)
      {
        JsonObject *o = json_array_get_object_element (others, i);
        g_string_append_printf (
          text, "%sincident %" G_GINT64_FORMAT " (%s)", i > 0 ? "; " : "", member_int (o, "id"),
          member_string (o, "source") != NULL ? member_string (o, "source") : "camera");
      }
    if (text->len > 0)
      g_string_append (text, ": exported separately");
    html_row (html, "같은 호출의 다른 카메라 · Other cameras of this press",
              text->len > 0 ? text->str : "none");
  }
  g_string_append (html, "</table>\n</div><div>\n<h2>제공 · Disclosure</h2>\n<table>\n");
  html_row (html, "받는 곳 · Recipient", self->request.recipient);
  html_row (html, "목적 · Purpose", self->request.purpose);
  html_row (html, "법적 근거 · Legal basis", self->request.legal_basis);
  html_time_row (html, "제공 · Exported", self->exported_at_us, self->request.exported_by);
  {
    g_autofree char *from = local_time (self->footage_from_us);
    g_autofree char *until = local_time (self->footage_until_us);
    g_autofree char *span = g_strdup_printf ("%s – %s", from, until);
    html_row (html, "촬영 기간 · Footage", span);
  }
  if (self->video.name != NULL)
    {
      g_autofree char *v = g_strdup_printf (
        "%s: %" G_GUINT64_FORMAT " frames, %.1f s, %u segments%s (remuxed, not re-encoded)",
        self->video.name, self->video.frames, self->video.duration_us / 1e6, self->video.n_segments,
        self->video.audio ? ", with sound" : "");
      html_row (html, "영상 · Video", v);
    }
  else
    html_row (html, "영상 · Video",
              self->video.problem != NULL ? self->video.problem
                                          : "not included (encrypted originals only)");
  /* Gaps: how they show in the MP4. */
  {
    g_autoptr (GString) gaps = g_string_new (NULL);
    const AnsimManifest *m = report->manifest;
    for (guint p = 0; m != NULL && p < ansim_manifest_get_n_entries (m); p++)
      {
        const AnsimManifestEntry *e = ansim_manifest_get_entry (m, p);
        if (e->kind != ANSIM_ENTRY_GAP)
          continue;
        g_autofree char *t = local_time (e->start_wall_us);
        g_string_append_printf (gaps, "%s%s, %.1f s%s%s (%s)", gaps->len > 0 ? "; " : "", t,
                                e->duration_us / 1e6, e->stream != NULL ? ", " : "",
                                e->stream != NULL ? e->stream : "", e->reason);
      }
    if (gaps->len > 0)
      g_string_append (gaps, ". In the MP4 the last picture before a gap stays on screen for "
                             "the gap's length while the clock runs on.");
    html_row (html, "공백 · Gaps", gaps->len > 0 ? gaps->str : "none");
  }
  g_string_append (html, "</table>\n</div></div>\n<h2>경과 · Timeline (panel)</h2>\n<table>\n");
  for (guint i = 0; i < json_array_get_length (timeline); i++)
    {
      JsonObject *ev = json_array_get_object_element (timeline, i);
      JsonObject *detail = json_object_has_member (ev, "detail")
                               && JSON_NODE_HOLDS_OBJECT (json_object_get_member (ev, "detail"))
                             ? json_object_get_object_member (ev, "detail")
                             : NULL;
      g_autofree char *t = local_time (member_int (ev, "at_us"));
      const char *note = member_string (detail, "note");
      g_autofree char *category = label (&cat, "category.", member_string (detail, "category"));
      g_autofree char *kind = label (&cat, "timeline.", member_string (ev, "kind"));
      const char *actor = member_string (ev, "actor");
      g_autofree char *text =
        g_strdup_printf ("%s%s%s%s%s", kind, actor != NULL ? " · " : "", actor != NULL ? actor : "",
                         category != NULL ? " · " : "", category != NULL ? category : "");
      g_autofree char *e_t = html_escape (t);
      g_autofree char *e_text = html_escape (text);
      g_autofree char *e_note = html_escape (note);
      g_string_append_printf (html, "<tr><th>%s</th><td>%s%s%s</td></tr>\n", e_t, e_text,
                              note != NULL ? ": " : "", e_note);
    }
  g_string_append (html, "</table>\n<h2>무결성 · Integrity</h2>\n<ul>\n");
  for (guint i = 0; i < report->lines->len; i++)
    {
      AnsimFinding *f = report->lines->pdata[i];
      if (f->kind == ANSIM_FINDING_INFO && report->lines->len > 6)
        continue; /* the problems and the summary are what a reader needs */
      g_autofree char *line = hide_folder (f->text, self->folder);
      g_autofree char *e = html_escape (line);
      g_string_append_printf (html, "<li>%s</li>\n", e);
    }
  g_string_append (html, "</ul>\n<h2>열람·제공 기록 · Chain of custody (audit log)</h2>\n"
                         "<table class=\"custody\">\n");
  for (guint i = 0; i < json_array_get_length (custody); i++)
    {
      JsonObject *a = json_array_get_object_element (custody, i);
      g_autofree char *t = local_time (member_int (a, "at_us"));
      g_autofree char *action = label (&cat, "action.", member_string (a, "action"));
      g_autofree char *text =
        g_strdup_printf ("%s [%s] · %s (%s)", action, member_string (a, "action"),
                         member_string (a, "actor") != NULL ? member_string (a, "actor") : "—",
                         member_string (a, "role") != NULL ? member_string (a, "role") : "—");
      g_autofree char *e_t = html_escape (t);
      g_autofree char *e_text = html_escape (text);
      g_string_append_printf (html, "<tr><th>%s</th><td>%s</td></tr>\n", e_t, e_text);
    }
  {
    g_autofree char *t = local_time (self->exported_at_us);
    g_autofree char *e_t = html_escape (t);
    g_autofree char *e_by = html_escape (self->request.exported_by);
    g_string_append_printf (html, "<tr><th>%s</th><td>export · %s (this package)</td></tr>\n", e_t,
                            e_by);
  }
  g_string_append (html, "</table>\n<h2>파일 · Files (SHA-256)</h2>\n<table class=\"files\">\n");
  for (guint i = 0; i < self->files->len; i++)
    {
      PackageFile *f = self->files->pdata[i];
      g_autofree char *e_name = html_escape (f->name);
      g_string_append_printf (html,
                              "<tr><th>%s</th><td>%" G_GOFFSET_FORMAT " B</td><td>%s</td></tr>\n",
                              e_name, f->size, f->sha256);
    }
  g_string_append (
    html,
    "</table>\n<p>This report and every file above are listed in <code>SHA256SUMS</code>. The "
    "signature of <code>incident/manifest.json</code> was checked against the device key the "
    "panel enrolled; each segment's size and SHA-256 against the signed manifest. Check it "
    "again offline with <code>ansimctl verify PACKAGE.tar</code>, or <code>sha256sum -c "
    "SHA256SUMS</code> and the openssl/age commands of docs/evidence-format.md.</p>\n"
    "</body></html>\n");
  return g_string_free (html, FALSE);
}

/* ---- assembly ------------------------------------------------------------ */

static int
compare_files (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(PackageFile *const *) a)->name, (*(PackageFile *const *) b)->name);
}

/* Opens every file of the incident folder (sorted): the folder can go at
 * once, the package reads the open files. */
/* The files of folder (and of its folders: checkpoints/) as rel/NAME. */
static gboolean
add_folder_files (PanelExport *self, const char *folder, const char *rel, GError **error)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, error);
  if (dir == NULL)
    return FALSE;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (folder, names->pdata[i], NULL);
      g_autofree char *file_rel = g_strconcat (rel, "/", names->pdata[i], NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          if (!add_folder_files (self, path, file_rel, error))
            return FALSE;
          continue;
        }
      int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0)
        return ansim_set_error_from_errno (error, errno, "cannot open", file_rel);
      if (!add_file (self, file_rel, fd, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
add_incident_folder (PanelExport *self, GError **error)
{
  return add_folder_files (self, self->folder, "incident", error);
}

/* The package, in one place: the encrypted originals, the MP4, the
 * reports, then SHA256SUMS over all of them and the tar's entries. A new
 * kind of file (e.g. a signed receipt) is one more add_*_file() call
 * before the reports, which then list it too. */
static gboolean
export_assemble (PanelExport *self, AnsimVerifyReport *report, GError **error)
{
  if (!add_incident_folder (self, error))
    return FALSE;
  if (self->identities != NULL)
    {
      g_autoptr (GError) video_error = NULL;
      int fd = report->signature_ok ? make_mp4 (self, report->manifest, &video_error) : -1;
      if (fd >= 0)
        {
          g_autofree char *cam = g_strdup (
            self->source != NULL && ansim_is_name (self->source) ? self->source : "camera");
          if (strlen (cam) > 32)
            cam[32] = '\0';
          self->video.name =
            g_strdup_printf ("video/incident-%" G_GINT64_FORMAT "-%s.mp4", self->id, cam);
          if (!add_file (self, self->video.name, fd, error))
            return FALSE;
        }
      else
        /* Said in the report; the package keeps what can be checked. */
        self->video.problem = g_strdup_printf (
          "no MP4: %s", video_error != NULL ? video_error->message : "the signature does not hold");
    }
  /* The panel's signed chain-head receipt and its key (docs/receipts.md). */
  if ((self->receipt != NULL
       && !add_memory_file (self, "receipt.txt", self->receipt, strlen (self->receipt), error))
      || !add_memory_file (self, "panel-signing.pub.pem", self->panel_pem, strlen (self->panel_pem),
                           error))
    return FALSE;
  /* The reports list every file above. */
  g_ptr_array_sort (self->files, compare_files);
  {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    write_report_json (self, report, b);
    g_autoptr (JsonNode) node = json_builder_get_root (b);
    g_autoptr (JsonGenerator) gen = json_generator_new ();
    json_generator_set_root (gen, node);
    json_generator_set_pretty (gen, TRUE);
    g_autofree char *json = json_generator_to_data (gen, NULL);
    g_autofree char *html = write_report_html (self, report);
    if (!add_memory_file (self, "report.json", json, strlen (json), error)
        || !add_memory_file (self, "report.html", html, strlen (html), error))
      return FALSE;
  }
  g_ptr_array_sort (self->files, compare_files);
  g_autoptr (GString) sums = g_string_new (NULL);
  for (guint i = 0; i < self->files->len; i++)
    {
      PackageFile *f = self->files->pdata[i];
      g_string_append_printf (sums, "%s  %s\n", f->sha256, f->name);
    }
  if (!add_memory_file (self, "SHA256SUMS", sums->str, sums->len, error))
    return FALSE;

  /* The tar: the top folder, each folder before its files. */
  g_autofree char *top_dir = g_strconcat (self->top, "/", NULL);
  TarEntry *top = g_new0 (TarEntry, 1);
  top->name = g_strdup (top_dir);
  top->fd = -1;
  g_ptr_array_add (self->entries, top);
  g_autoptr (GHashTable) folders = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < self->files->len; i++)
    {
      PackageFile *f = self->files->pdata[i];
      for (const char *slash = strchr (f->name, '/'); slash != NULL;
           slash = strchr (slash + 1, '/'))
        {
          char *folder = g_strndup (f->name, slash - f->name + 1);
          if (!g_hash_table_add (folders, folder))
            continue;
          TarEntry *d = g_new0 (TarEntry, 1);
          d->name = g_strconcat (top_dir, folder, NULL);
          d->fd = -1;
          g_ptr_array_add (self->entries, d);
        }
      TarEntry *e = g_new0 (TarEntry, 1);
      e->name = g_strconcat (top_dir, f->name, NULL);
      e->fd = f->fd;
      e->size = f->size;
      g_ptr_array_add (self->entries, e);
    }
  return TRUE;
}

/* The rest touches only the private folder and memory files (no database,
 * no store), so it runs in a worker thread: verifying, decrypting,
 * remuxing and hashing a large incident takes seconds that the main loop
 * owes to live alerts. */
static gboolean
export_prepare (PanelExport *self, GError **error)
{
  AnsimDeviceKey *trusted[] = { self->key };
  AnsimVerifyOptions options = {
    .trusted_keys = trusted,
    .n_trusted_keys = 1,
    .trusted_keys_origin = "the panel's enrolled key of the device",
  };
  if (self->identities != NULL)
    {
      /* Checks each segment's plaintext in memory; nothing is written. */
      options.identities = (AnsimAgeIdentity *const *) self->identities->pdata;
      options.n_identities = self->identities->len;
      options.identities_origin = "the site identity";
    }
  g_autoptr (AnsimVerifyReport) report = ansim_incident_verify (self->folder, &options, error);
  if (report == NULL)
    return FALSE;
  self->summary = hide_folder (report->summary, self->folder);
  for (guint p = 0; report->manifest != NULL && p < ansim_manifest_get_n_entries (report->manifest);
       p++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (report->manifest, p);
      if (self->footage_from_us == 0 || e->start_wall_us < self->footage_from_us)
        self->footage_from_us = e->start_wall_us;
      self->footage_until_us = MAX (self->footage_until_us, e->start_wall_us + e->duration_us);
    }
  if (!export_assemble (self, report, error))
    return FALSE;
  /* Everything is open or in memory: the folder goes now. */
  ansim_remove_tree (self->work, NULL);
  g_clear_pointer (&self->work, g_free);
  self->mtime_s = self->exported_at_us / G_USEC_PER_SEC;
  self->name = g_strconcat (self->top, ".tar", NULL);

  /* A first reading for the package's SHA-256 and size: the audit entry
   * names them before the first byte is sent. */
  g_autoptr (EVP_MD_CTX) sum = ansim_hash_sha256_begin ();
  g_autofree guint8 *buffer = g_malloc (PANEL_EXPORT_CHUNK);
  char hex[ANSIM_SHA256_HEX_LEN + 1];
  gssize n;
  while ((n = panel_export_read (self, buffer, PANEL_EXPORT_CHUNK, error)) > 0)
    {
      EVP_DigestUpdate (sum, buffer, n);
      self->size += n;
    }
  if (n < 0)
    return FALSE;
  ansim_hash_sha256_end_hex (sum, hex);
  self->sha256 = g_strdup (hex);
  export_rewind (self);
  return TRUE;
}

static void
prepare_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  (void) source;
  (void) cancellable;
  GError *error = NULL;
  if (export_prepare (task_data, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/* One segment from the store into the folder per main-loop turn, at idle
 * priority: the store is the main thread's, and live alerts go first. */
static gboolean
copy_step (gpointer data)
{
  GTask *task = data;
  PanelExport *self = g_task_get_task_data (task);
  if (self->copied < self->to_copy->len)
    {
      GError *error = NULL;
      const char *key = self->to_copy->pdata[self->copied];
      const char *name = self->to_copy->pdata[self->copied + 1];
      self->copied += 2;
      g_autoptr (GBytes) bytes = panel_store_get (self->store, key, &error);
      g_autofree char *path = g_build_filename (self->folder, name, NULL);
      if (bytes == NULL
          || !g_file_set_contents_full (path, g_bytes_get_data (bytes, NULL),
                                        g_bytes_get_size (bytes), G_FILE_SET_CONTENTS_NONE, 0600,
                                        &error))
        {
          g_task_return_error (task, error);
          return G_SOURCE_REMOVE;
        }
      return G_SOURCE_CONTINUE;
    }
  g_task_run_in_thread (task, prepare_thread);
  return G_SOURCE_REMOVE;
}

void
panel_export_prepare_async (PanelExport *self, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, NULL, callback, user_data);
  g_task_set_task_data (task, self, NULL);
  g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, copy_step, task, g_object_unref);
}

gboolean
panel_export_prepare_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- sending ----------------------------------------------------------- */

/* One chunk at a time: the next is read when the previous one has been
 * written (libsoup drops written chunks, as the body does not accumulate),
 * so memory does not grow with the package. */
static void
send_next_chunk (SoupServerMessage *msg, gpointer data)
{
  PanelExport *self = data;
  SoupMessageBody *body = soup_server_message_get_response_body (msg);
  g_autoptr (GError) error = NULL;
  guint8 *buffer = g_malloc (PANEL_EXPORT_CHUNK);
  gssize n = panel_export_read (self, buffer, PANEL_EXPORT_CHUNK, &error);
  if (n > 0)
    {
      soup_message_body_append (body, SOUP_MEMORY_TAKE, buffer, n);
      return;
    }
  g_free (buffer);
  if (n < 0)
    {
      /* The headers are out: all that is left is to cut the answer short,
       * which the client sees as a download shorter than Content-Length. */
      g_warning ("export %s: %s; the download is cut short", self->name, error->message);
      GSocket *socket = soup_server_message_get_socket (msg);
      if (socket != NULL)
        g_socket_shutdown (socket, FALSE, TRUE, NULL);
    }
  soup_message_body_complete (body);
}

static void
send_finished (SoupServerMessage *msg, gpointer data)
{
  g_signal_handlers_disconnect_by_data (msg, data);
  panel_export_free (data);
}

void
panel_export_send (PanelExport *self, SoupServerMessage *msg)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  g_autofree char *disposition = g_strdup_printf ("attachment; filename=\"%s\"", self->name);
  soup_message_headers_replace (h, "Content-Disposition", disposition);
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  soup_message_headers_set_content_type (h, "application/x-tar", NULL);
  soup_message_headers_set_content_length (h, self->size);
  /* The console says when the video was asked for but could not be made
   * (the report says why). */
  soup_message_headers_replace (h, "X-Ansim-Video",
                                self->video.name != NULL      ? "included"
                                : self->video.problem != NULL ? "failed"
                                                              : "not-asked");
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  g_signal_connect (msg, "wrote-chunk", G_CALLBACK (send_next_chunk), self);
  g_signal_connect (msg, "finished", G_CALLBACK (send_finished), self);
  send_next_chunk (msg, self);
}
