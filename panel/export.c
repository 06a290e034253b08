/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the evidence package of one incident (docs/console.md
 * "Export"): the incident folder exactly as docs/evidence-format.md
 * describes it, rebuilt from the store, checked with
 * ansim_incident_verify() against the device's enrolled key, optionally
 * the decrypted media, a report (JSON and HTML) and SHA256SUMS, as a tar
 * put together in a private folder and streamed from it in 64 KiB chunks:
 * the panel's memory does not grow with the incident. */
#include "export.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "checkpoint.h"
#include "db.h"
#include "durable.h"
#include "evidence.h"

static gboolean
write_file (const char *dir, const char *name, const void *data, gsize len, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  /* A private scratch folder: no fsync (it is gone after the answer). */
  return g_file_set_contents_full (path, data, len, G_FILE_SET_CONTENTS_NONE, 0600, error);
}

static gboolean
copy_object (PanelStore *store, const char *key, const char *dir, const char *name, GError **error)
{
  g_autoptr (GBytes) data = panel_store_get (store, key, error);
  if (data == NULL)
    return FALSE;
  return write_file (dir, name, g_bytes_get_data (data, NULL), g_bytes_get_size (data), error);
}

/* ---- tar (POSIX ustar), read out chunk by chunk -------------------------- */

typedef struct {
  char *name; /* in the tar: top/…, directories end in '/' */
  char *path; /* on disk; NULL for a directory */
  goffset size;
} TarEntry;

static void
tar_entry_free (gpointer data)
{
  TarEntry *e = data;
  g_free (e->name);
  g_free (e->path);
  g_free (e);
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

struct _PanelExport {
  /* what panel_export_new found (main thread) */
  gint64 id;
  char *uuid, *device, *desk, *exported_by;
  gboolean drill;        /* a drill's incident: said in both reports */
  AnsimDeviceKey *key;   /* the enrolled key */
  GPtrArray *identities; /* the site identity for media, or NULL */
  char *top, *root, *folder, *media;
  PanelStore *store;  /* not owned; outlives the export */
  GPtrArray *to_copy; /* store key, file name, … still to copy into folder */
  guint copied;       /* entries of to_copy done (counted in strings) */
  /* the package (from panel_export_prepare_async on) */
  char *tmp;     /* private folder holding the package's files; removed by _free */
  char *name;    /* ansim-incident-ID.tar */
  char *summary; /* the verification's summary line */
  char *sha256;  /* of the whole tar, from the first reading */
  goffset size;
  gint64 mtime_s;     /* one time for every entry, so both readings agree */
  GPtrArray *entries; /* TarEntry, in tar order */
  /* the reader */
  guint index;
  TarPhase phase;
  goffset done; /* bytes of the current phase already given out */
  guint8 header[512];
  GInputStream *in; /* the current entry's file, during TAR_DATA */
};

static void
tar_octal (char *field, gsize width, guint64 value)
{
  g_snprintf (field, width, "%0*" G_GINT64_MODIFIER "o", (int) width - 1, value);
}

static void
tar_header (guint8 header[512], const TarEntry *e, gint64 mtime_s)
{
  gboolean is_dir = e->path == NULL;
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
  g_clear_object (&self->in);
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
                {
                  g_autoptr (GFile) file = g_file_new_for_path (e->path);
                  self->in = G_INPUT_STREAM (g_file_read (file, NULL, error));
                  if (self->in == NULL)
                    return -1;
                  self->phase = TAR_DATA;
                }
            }
          break;
        case TAR_DATA:
          {
            gsize want = MIN (room, (gsize) (e->size - self->done));
            gssize n = g_input_stream_read (self->in, buffer + filled, want, NULL, error);
            if (n < 0)
              return -1;
            if (n == 0)
              {
                /* Sizes were taken when the package was made; its private
                 * folder must not change. */
                g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                             "%s: shorter than when the package was made", e->path);
                return -1;
              }
            filled += n;
            self->done += n;
            if (self->done == e->size)
              {
                g_clear_object (&self->in);
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

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Files of dir (one level of subfolders), sorted, relative to root. */
static void
list_files (const char *root, const char *rel, GPtrArray *out)
{
  g_autofree char *path = rel[0] ? g_build_filename (root, rel, NULL) : g_strdup (root);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, rel[0] ? g_build_filename (rel, name, NULL) : g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *full = g_build_filename (root, names->pdata[i], NULL);
      if (g_file_test (full, G_FILE_TEST_IS_DIR))
        list_files (root, names->pdata[i], out);
      else
        g_ptr_array_add (out, g_strdup (names->pdata[i]));
    }
}

/* SHA-256 of a file, read in pieces. */
static char *
sha256_file (const char *path, goffset *out_size, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileInputStream) in = g_file_read (file, NULL, error);
  if (in == NULL)
    return NULL;
  g_autoptr (EVP_MD_CTX) sum = ansim_hash_sha256_begin ();
  g_autofree guint8 *buffer = g_malloc (PANEL_EXPORT_CHUNK);
  char hex[ANSIM_SHA256_HEX_LEN + 1];
  goffset size = 0;
  for (;;)
    {
      gssize n = g_input_stream_read (G_INPUT_STREAM (in), buffer, PANEL_EXPORT_CHUNK, NULL, error);
      if (n < 0)
        return NULL;
      if (n == 0)
        break;
      EVP_DigestUpdate (sum, buffer, n);
      size += n;
    }
  *out_size = size;
  ansim_hash_sha256_end_hex (sum, hex);
  return g_strdup (hex);
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
  g_clear_object (&self->in);
  if (self->tmp != NULL)
    ansim_remove_tree (self->tmp, NULL);
  g_free (self->tmp);
  g_free (self->uuid);
  g_free (self->device);
  g_free (self->desk);
  g_free (self->exported_by);
  ansim_device_key_free (self->key);
  g_clear_pointer (&self->identities, g_ptr_array_unref);
  g_clear_pointer (&self->to_copy, g_ptr_array_unref);
  g_free (self->top);
  g_free (self->root);
  g_free (self->folder);
  g_free (self->media);
  g_free (self->name);
  g_free (self->summary);
  g_free (self->sha256);
  g_clear_pointer (&self->entries, g_ptr_array_unref);
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

static void
add_entry (PanelExport *self, const char *name, const char *path, goffset size)
{
  TarEntry *e = g_new0 (TarEntry, 1);
  e->name = g_strdup (name);
  e->path = g_strdup (path);
  e->size = size;
  g_ptr_array_add (self->entries, e);
}

PanelExport *
panel_export_new (sqlite3 *db, PanelStore *store, gint64 id, GPtrArray *identities,
                  gboolean with_media, const char *exported_by, GError **error)
{
  g_autoptr (sqlite3_stmt) inc = ansim_db_prepare (
    db,
    "SELECT i.uuid, i.device_id, i.desk_id, i.manifest_store_key, d.public_key, i.status, "
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

  /* The device's enrolled key, and as SubjectPublicKeyInfo PEM for the folder. */
  g_autoptr (AnsimDeviceKey) key =
    ansim_device_key_new_public_from_raw (sqlite3_column_blob (inc, 4), device, error);
  if (key == NULL)
    return NULL;
  g_autofree char *pem = ansim_device_key_get_public_pem (key);

  g_autoptr (PanelExport) self = g_new0 (PanelExport, 1);
  self->entries = g_ptr_array_new_with_free_func (tar_entry_free);
  self->to_copy = g_ptr_array_new_with_free_func (g_free);
  self->store = store;
  self->tmp = g_dir_make_tmp ("ansim-export-XXXXXX", error);
  if (self->tmp == NULL)
    return NULL;
  const char *tmp = self->tmp;
  g_autofree char *top = g_strdup_printf ("ansim-incident-%" G_GINT64_FORMAT, id);
  g_autofree char *root = g_build_filename (tmp, top, NULL);
  g_autofree char *folder = g_build_filename (root, "incident", NULL);
  g_autofree char *media = g_build_filename (root, "media", NULL);
  g_autofree char *sig_key = g_strconcat (manifest_key, ".sig", NULL);
  if (g_mkdir_with_parents (folder, 0700) < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", folder,
                   g_strerror (errno));
      return NULL;
    }
  if (!copy_object (store, manifest_key, folder, "manifest.json", error)
      || !copy_object (store, sig_key, folder, "manifest.json.sig", error)
      || !write_file (folder, ANSIM_DEVICE_PUB_NAME, pem, strlen (pem), error))
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
    g_autofree char *cdir = g_build_filename (folder, ANSIM_CHECKPOINT_DIR, NULL);
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
        if (!write_file (cdir, name, sqlite3_column_blob (cp, 1), sqlite3_column_bytes (cp, 1),
                         error)
            || !write_file (cdir, sig_name, sqlite3_column_blob (cp, 2),
                            sqlite3_column_bytes (cp, 2), error))
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
  self->drill = sqlite3_column_int (inc, 7) != 0;
  self->key = g_steal_pointer (&key);
  self->identities = with_media && identities != NULL ? g_ptr_array_ref (identities) : NULL;
  self->exported_by = g_strdup (exported_by);
  self->top = g_steal_pointer (&top);
  self->root = g_steal_pointer (&root);
  self->folder = g_steal_pointer (&folder);
  self->media = g_steal_pointer (&media);
  return g_steal_pointer (&self);
}

/* The rest touches only the private folder (no database, no store), so it
 * runs in a worker thread: verifying, decrypting and hashing a large
 * incident takes seconds that the main loop owes to live alerts. */
static gboolean
export_prepare (PanelExport *self, GError **error)
{
  gint64 id = self->id;
  const char *uuid = self->uuid, *device = self->device, *desk = self->desk;
  gboolean drill = self->drill;
  const char *exported_by = self->exported_by, *top = self->top, *root = self->root;
  const char *folder = self->folder, *media = self->media;
  AnsimDeviceKey *key = self->key;
  GPtrArray *identities = self->identities;
  g_autoptr (AnsimVerifyReport) report = NULL;
  AnsimDeviceKey *trusted[] = { key };
  AnsimVerifyOptions options = {
    .trusted_keys = trusted,
    .n_trusted_keys = 1,
    .trusted_keys_origin = "the panel's enrolled key of the device",
  };
  if (identities != NULL)
    {
      options.identities = (AnsimAgeIdentity *const *) identities->pdata;
      options.n_identities = identities->len;
      options.identities_origin = "the site identity";
      options.decrypt_to = media;
    }
  report = ansim_incident_verify (folder, &options, error);
  if (report == NULL)
    return FALSE;

  /* The report, for tools and for people. */
  {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "format");
    json_builder_add_string_value (b, "ansim-evidence-package/1");
    json_builder_set_member_name (b, "incident");
    json_builder_add_int_value (b, id);
    json_builder_set_member_name (b, "uuid");
    json_builder_add_string_value (b, uuid);
    json_builder_set_member_name (b, "device");
    json_builder_add_string_value (b, device);
    json_builder_set_member_name (b, "fingerprint");
    json_builder_add_string_value (b, ansim_device_key_get_fingerprint (key));
    json_builder_set_member_name (b, "desk");
    json_builder_add_string_value (b, desk);
    json_builder_set_member_name (b, "drill");
    json_builder_add_boolean_value (b, drill);
    json_builder_set_member_name (b, "exported_at_us");
    json_builder_add_int_value (b, g_get_real_time ());
    json_builder_set_member_name (b, "exported_by");
    json_builder_add_string_value (b, exported_by);
    json_builder_set_member_name (b, "media_included");
    json_builder_add_boolean_value (b, options.decrypt_to != NULL);
    json_builder_set_member_name (b, "intact");
    json_builder_add_boolean_value (b, report->n_findings == 0);
    json_builder_set_member_name (b, "summary");
    json_builder_add_string_value (b, report->summary);
    json_builder_set_member_name (b, "lines");
    json_builder_begin_array (b);
    for (guint i = 0; i < report->lines->len; i++)
      json_builder_add_string_value (b, ((AnsimFinding *) report->lines->pdata[i])->text);
    json_builder_end_array (b);
    json_builder_end_object (b);
    g_autoptr (JsonNode) node = json_builder_get_root (b);
    g_autoptr (JsonGenerator) gen = json_generator_new ();
    json_generator_set_root (gen, node);
    json_generator_set_pretty (gen, TRUE);
    g_autofree char *json = json_generator_to_data (gen, NULL);
    if (!write_file (root, "report.json", json, strlen (json), error))
      return FALSE;

    g_autoptr (GString) html = g_string_new (NULL);
    g_autofree char *e_uuid = html_escape (uuid);
    g_autofree char *e_desk = html_escape (desk);
    g_autofree char *e_dev = html_escape (device);
    g_autofree char *e_by = html_escape (exported_by);
    g_autofree char *e_sum = html_escape (report->summary);
    g_string_append_printf (
      html,
      "<!DOCTYPE html>\n<html lang=\"ko\"><head><meta charset=\"utf-8\">"
      "<title>안심 증거 검증 보고서 / ansim verification report</title></head><body>\n"
      "<h1>증거 검증 보고서 · Verification report</h1>\n"
      "%s<p><b>%s</b></p>\n<table>\n"
      "<tr><th>사건 · Incident</th><td>%" G_GINT64_FORMAT " (%s)</td></tr>\n"
      "<tr><th>창구 · Desk</th><td>%s</td></tr>\n"
      "<tr><th>구분 · Kind</th><td>%s</td></tr>\n"
      "<tr><th>장치 · Device</th><td>%s, key %s</td></tr>\n"
      "<tr><th>내보낸 사람 · Exported by</th><td>%s</td></tr>\n"
      "<tr><th>영상 포함 · Media included</th><td>%s</td></tr>\n</table>\n"
      "<h2>검사 항목 · Checks</h2>\n<ul>\n",
      drill ? "<p style=\"font-size:1.4em;color:#b3261e\"><b>모의훈련 · DRILL</b>: this "
              "incident was a drill, not a real event.</p>\n"
            : "",
      e_sum, id, e_uuid, e_desk, drill ? "모의훈련 · drill" : "실제 상황 · real incident", e_dev,
      ansim_device_key_get_fingerprint (key), e_by,
      options.decrypt_to != NULL ? "예 · yes (media/)" : "아니요 · no");
    for (guint i = 0; i < report->lines->len; i++)
      {
        g_autofree char *line = html_escape (((AnsimFinding *) report->lines->pdata[i])->text);
        g_string_append_printf (html, "<li>%s</li>\n", line);
      }
    g_string_append (
      html,
      "</ul>\n<p>The signature of <code>incident/manifest.json</code> was checked against the "
      "device key the panel enrolled; each segment's size and SHA-256 against the signed "
      "manifest. Check it again offline with <code>ansimctl verify PACKAGE.tar</code>, or "
      "<code>sha256sum -c SHA256SUMS</code> and the openssl/age commands of "
      "docs/evidence-format.md.</p>\n</body></html>\n");
    if (!write_file (root, "report.html", html->str, html->len, error))
      return FALSE;
  }

  /* SHA256SUMS over every other file, then the tar's entries. */
  {
    g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
    list_files (root, "", files);
    g_autoptr (GArray) sizes = g_array_new (FALSE, FALSE, sizeof (goffset));
    g_autoptr (GString) sums = g_string_new (NULL);
    for (guint i = 0; i < files->len; i++)
      {
        g_autofree char *path = g_build_filename (root, files->pdata[i], NULL);
        goffset size = 0;
        g_autofree char *sha = sha256_file (path, &size, error);
        if (sha == NULL)
          return FALSE;
        g_array_append_val (sizes, size);
        g_string_append_printf (sums, "%s  %s\n", sha, (char *) files->pdata[i]);
      }
    if (!write_file (root, "SHA256SUMS", sums->str, sums->len, error))
      return FALSE;
    g_ptr_array_add (files, g_strdup ("SHA256SUMS"));
    goffset sums_size = sums->len;
    g_array_append_val (sizes, sums_size);

    g_autofree char *top_dir = g_strconcat (top, "/", NULL);
    add_entry (self, top_dir, NULL, 0);
    g_autofree char *incident_dir = g_strconcat (top, "/incident/", NULL);
    add_entry (self, incident_dir, NULL, 0);
    if (options.decrypt_to != NULL)
      {
        g_autofree char *media_dir = g_strconcat (top, "/media/", NULL);
        add_entry (self, media_dir, NULL, 0);
      }
    for (guint i = 0; i < files->len; i++)
      {
        g_autofree char *path = g_build_filename (root, files->pdata[i], NULL);
        g_autofree char *name = g_strconcat (top, "/", files->pdata[i], NULL);
        add_entry (self, name, path, g_array_index (sizes, goffset, i));
      }
  }
  self->mtime_s = g_get_real_time () / G_USEC_PER_SEC;
  self->name = g_strconcat (top, ".tar", NULL);
  self->summary = g_strdup (report->summary);

  /* A first reading for the package's SHA-256 and size: the audit entry
   * names them before the first byte is sent. */
  {
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
  }
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
      if (!copy_object (self->store, key, self->folder, name, &error))
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
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  g_signal_connect (msg, "wrote-chunk", G_CALLBACK (send_next_chunk), self);
  g_signal_connect (msg, "finished", G_CALLBACK (send_finished), self);
  send_next_chunk (msg, self);
}
