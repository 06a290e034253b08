/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the evidence package of one incident (docs/console.md
 * "Export"): the incident folder exactly as docs/evidence-format.md
 * describes it, rebuilt from the store, checked with
 * ansim_incident_verify() against the device's enrolled key, optionally
 * the decrypted media, a report (JSON and HTML) and SHA256SUMS, as a tar. */
#include "export.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "db.h"
#include "evidence.h"

static gboolean
write_file (const char *dir, const char *name, const void *data, gsize len, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  return g_file_set_contents_full (path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

static gboolean
copy_object (PanelStore *store, const char *key, const char *dir, const char *name,
             GError **error)
{
  g_autoptr (GBytes) data = panel_store_get (store, key, error);
  if (data == NULL)
    return FALSE;
  return write_file (dir, name, g_bytes_get_data (data, NULL), g_bytes_get_size (data), error);
}

static void
rm_rf (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

/* ---- tar (POSIX ustar) ------------------------------------------------- */

static void
tar_octal (char *field, gsize width, guint64 value)
{
  g_snprintf (field, width, "%0*" G_GINT64_MODIFIER "o", (int) width - 1, value);
}

static void
tar_add (GByteArray *tar, const char *name, const guint8 *data, gsize len, gboolean is_dir,
         gint64 mtime)
{
  guint8 header[512] = { 0 };
  g_assert (strlen (name) < 100);
  memcpy (header, name, strlen (name));
  tar_octal ((char *) header + 100, 8, is_dir ? 0755 : 0644);
  tar_octal ((char *) header + 108, 8, 0);
  tar_octal ((char *) header + 116, 8, 0);
  tar_octal ((char *) header + 124, 12, len);
  tar_octal ((char *) header + 136, 12, mtime);
  memset (header + 148, ' ', 8);
  header[156] = is_dir ? '5' : '0';
  memcpy (header + 257, "ustar", 6);
  memcpy (header + 263, "00", 2);
  guint sum = 0;
  for (guint i = 0; i < 512; i++)
    sum += header[i];
  g_snprintf ((char *) header + 148, 8, "%06o", sum);
  header[155] = ' ';
  g_byte_array_append (tar, header, 512);
  if (len > 0)
    {
      static const guint8 zero[512] = { 0 };
      g_byte_array_append (tar, data, len);
      if (len % 512 != 0)
        g_byte_array_append (tar, zero, 512 - len % 512);
    }
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

/* ---- the package ------------------------------------------------------- */

static char *
html_escape (const char *text)
{
  return g_markup_escape_text (text != NULL ? text : "", -1);
}

GBytes *
panel_export_incident (sqlite3 *db, PanelStore *store, gint64 id, GPtrArray *identities,
                       gboolean with_media, const char *exported_by, char **out_name,
                       char **out_summary, GError **error)
{
  g_autoptr (sqlite3_stmt) inc = ansim_db_prepare (db,
    "SELECT i.uuid, i.device_id, i.desk_id, i.manifest_store_key, d.public_key, i.status, "
    "i.resolution, i.is_drill FROM incidents i JOIN devices d ON d.id = i.device_id WHERE i.id = ?1", error);
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
  gboolean drill = sqlite3_column_int (inc, 7) != 0;

  /* The device's enrolled key, as SubjectPublicKeyInfo PEM. */
  static const guint8 spki_prefix[] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
                                        0x03, 0x21, 0x00 };
  guint8 der[sizeof spki_prefix + 32];
  memcpy (der, spki_prefix, sizeof spki_prefix);
  memcpy (der + sizeof spki_prefix, sqlite3_column_blob (inc, 4), 32);
  g_autofree char *b64 = g_base64_encode (der, sizeof der);
  g_autofree char *pem = g_strdup_printf ("-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n",
                                          b64);
  g_autoptr (AnsimDeviceKey) key = ansim_device_key_new_public_from_pem (pem, strlen (pem), device,
                                                                        error);
  if (key == NULL)
    return NULL;

  g_autofree char *tmp = g_dir_make_tmp ("ansim-export-XXXXXX", error);
  if (tmp == NULL)
    return NULL;
  g_autofree char *top = g_strdup_printf ("ansim-incident-%" G_GINT64_FORMAT, id);
  g_autofree char *root = g_build_filename (tmp, top, NULL);
  g_autofree char *folder = g_build_filename (root, "incident", NULL);
  g_autofree char *media = g_build_filename (root, "media", NULL);
  GBytes *result = NULL;
  g_autoptr (AnsimVerifyReport) report = NULL;
  g_autofree char *sig_key = g_strconcat (manifest_key, ".sig", NULL);
  if (g_mkdir_with_parents (folder, 0700) < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", folder,
                   g_strerror (errno));
      goto out;
    }
  if (!copy_object (store, manifest_key, folder, "manifest.json", error) ||
      !copy_object (store, sig_key, folder, "manifest.json.sig", error) ||
      !write_file (folder, ANSIM_DEVICE_PUB_NAME, pem, strlen (pem), error))
    goto out;
  {
    g_autoptr (sqlite3_stmt) seg = ansim_db_prepare (db,
      "SELECT idx, store_key FROM segments WHERE incident_id = ?1 AND store_key IS NOT NULL "
      "ORDER BY idx", error);
    if (seg == NULL)
      goto out;
    sqlite3_bind_int64 (seg, 1, id);
    while (sqlite3_step (seg) == SQLITE_ROW)
      {
        g_autofree char *name = g_strdup_printf ("seg-%06" G_GINT64_FORMAT ".mkv.age",
                                                 (gint64) sqlite3_column_int64 (seg, 0));
        if (!copy_object (store, (const char *) sqlite3_column_text (seg, 1), folder, name, error))
          goto out;
      }
  }

  AnsimDeviceKey *trusted[] = { key };
  AnsimVerifyOptions options = {
    .trusted_keys = trusted,
    .n_trusted_keys = 1,
    .trusted_keys_origin = "the panel's enrolled key of the device",
  };
  if (with_media && identities != NULL)
    {
      options.identities = (AnsimAgeIdentity *const *) identities->pdata;
      options.n_identities = identities->len;
      options.identities_origin = "the site identity";
      options.decrypt_to = media;
    }
  report = ansim_incident_verify (folder, &options, error);
  if (report == NULL)
    goto out;

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
      goto out;

    g_autoptr (GString) html = g_string_new (NULL);
    g_autofree char *e_uuid = html_escape (uuid);
    g_autofree char *e_desk = html_escape (desk);
    g_autofree char *e_dev = html_escape (device);
    g_autofree char *e_by = html_escape (exported_by);
    g_autofree char *e_sum = html_escape (report->summary);
    g_string_append_printf (html,
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
              "incident was a drill, not a real event.</p>\n" : "",
      e_sum, id, e_uuid, e_desk,
      drill ? "모의훈련 · drill" : "실제 상황 · real incident", e_dev,
      ansim_device_key_get_fingerprint (key), e_by,
      options.decrypt_to != NULL ? "예 · yes (media/)" : "아니요 · no");
    for (guint i = 0; i < report->lines->len; i++)
      {
        g_autofree char *line = html_escape (((AnsimFinding *) report->lines->pdata[i])->text);
        g_string_append_printf (html, "<li>%s</li>\n", line);
      }
    g_string_append (html,
      "</ul>\n<p>The signature of <code>incident/manifest.json</code> was checked against the "
      "device key the panel enrolled; each segment's size and SHA-256 against the signed "
      "manifest. Check it again offline with <code>ansimctl verify PACKAGE.tar</code>, or "
      "<code>sha256sum -c SHA256SUMS</code> and the openssl/age commands of "
      "docs/evidence-format.md.</p>\n</body></html>\n");
    if (!write_file (root, "report.html", html->str, html->len, error))
      goto out;
  }

  /* SHA256SUMS over every other file, then the tar. */
  {
    g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
    list_files (root, "", files);
    g_autoptr (GString) sums = g_string_new (NULL);
    for (guint i = 0; i < files->len; i++)
      {
        g_autofree char *path = g_build_filename (root, files->pdata[i], NULL);
        g_autofree char *data = NULL;
        gsize len = 0;
        if (!g_file_get_contents (path, &data, &len, error))
          goto out;
        g_autofree char *sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (guint8 *) data, len);
        g_string_append_printf (sums, "%s  %s\n", sha, (char *) files->pdata[i]);
      }
    if (!write_file (root, "SHA256SUMS", sums->str, sums->len, error))
      goto out;
    g_ptr_array_add (files, g_strdup ("SHA256SUMS"));

    gint64 now_s = g_get_real_time () / G_USEC_PER_SEC;
    g_autoptr (GByteArray) tar = g_byte_array_new ();
    g_autofree char *top_dir = g_strconcat (top, "/", NULL);
    tar_add (tar, top_dir, NULL, 0, TRUE, now_s);
    for (const char *sub_name = "incident/"; sub_name != NULL;
         sub_name = g_str_equal (sub_name, "incident/") && options.decrypt_to ? "media/" : NULL)
      {
        g_autofree char *sub = g_strconcat (top, "/", sub_name, NULL);
        tar_add (tar, sub, NULL, 0, TRUE, now_s);
      }
    for (guint i = 0; i < files->len; i++)
      {
        g_autofree char *path = g_build_filename (root, files->pdata[i], NULL);
        g_autofree char *data = NULL;
        gsize len = 0;
        if (!g_file_get_contents (path, &data, &len, error))
          goto out;
        g_autofree char *name = g_strconcat (top, "/", files->pdata[i], NULL);
        tar_add (tar, name, (guint8 *) data, len, FALSE, now_s);
      }
    static const guint8 end[1024] = { 0 };
    g_byte_array_append (tar, end, sizeof end);
    result = g_byte_array_free_to_bytes (g_steal_pointer (&tar));
  }
  *out_name = g_strconcat (top, ".tar", NULL);
  *out_summary = g_strdup (report->summary);

out:
  rm_rf (tmp);
  return result;
}
