/* SPDX-License-Identifier: GPL-3.0-or-later */
/* After a crash or power cut, at start: every incident left open is
 * reconciled with its spool folder (a sealed and listed segment put in
 * place, other temp files set aside, never deleted, missing rows added)
 * and closed as "interrupted" with its manifest signed again. */
#include "incident-private.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "json-event.h"
#include "util.h"

/* A leftover file of an interrupted write that the manifest does not
 * account for: moved out of the incident folder (so the incident verifies)
 * into spool_dir/.set-aside/UUID/, never deleted, and recorded. */
static gboolean
set_aside (RecorderContext *ctx, gint64 id, const char *uuid, const char *dir, const char *name,
           const char *why, AnsimManifest *m, gint64 wall, gint64 mono, GError **error)
{
  g_autofree char *from = g_build_filename (dir, name, NULL);
  g_autofree char *aside_dir = g_build_filename (ctx->spool_dir, ".set-aside", uuid, NULL);
  g_autofree char *to = g_build_filename (aside_dir, name, NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autofree char *hex = NULL;

  /* Ciphertext only: its hash identifies the bytes; the plaintext cannot be
   * recomputed on the desk. */
  if (g_file_get_contents (from, &data, &len, NULL))
    hex = ansim_hash_sha256_hex_dup (data, len);
  else
    hex = g_strdup ("unreadable");
  if (g_mkdir_with_parents (aside_dir, 0700) < 0 || g_rename (from, to) < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot move %s to %s: %s",
                   from, to, g_strerror (errno));
      return FALSE;
    }
  g_warning ("incident %s: %s (%" G_GSIZE_FORMAT " bytes, SHA-256 %s) %s; moved to %s", uuid, name,
             len, hex, why, to);
  g_autofree char *moved_to = g_strdup_printf (".set-aside/%s/%s", uuid, name);
  g_autoptr (AnsimJsonBuilder) j = ansim_json_builder_new ();
  ansim_json_builder_add_string (j, "file", name);
  ansim_json_builder_add_uint (j, "bytes", len);
  ansim_json_builder_add_string (j, "sha256", hex);
  ansim_json_builder_add_string (j, "why", why);
  ansim_json_builder_add_string (j, "moved_to", moved_to);
  g_autofree char *detail = ansim_json_builder_end (j);
  if (!ansim_db_log_event (ctx->db, "file-set-aside", ctx->desk_id, NULL, id, mono, detail, NULL,
                           error))
    return FALSE;
  return m == NULL || ansim_manifest_is_closed (m)
         || ansim_manifest_add_event (m, "file-set-aside", wall, mono, error);
}

static gint64
count_rows (RecorderContext *ctx, gint64 id)
{
  g_autoptr (sqlite3_stmt) st =
    ansim_db_prepare (ctx->db, "SELECT count(*) FROM segments WHERE incident_id = ?1", NULL);
  if (st == NULL)
    return 0;
  sqlite3_bind_int64 (st, 1, id);
  return sqlite3_step (st) == SQLITE_ROW ? sqlite3_column_int64 (st, 0) : 0;
}

/* Reconciles what a crash left: a segment whose signed manifest was
 * durable but not yet renamed is put in place (its bytes checked against
 * the entry); other temp files are set aside; database rows the crash
 * missed are added; then the manifest is closed and signed again. */
static gboolean
close_one_interrupted (RecorderContext *ctx, gint64 id, const char *uuid, gint64 opened_wall,
                       gint64 opened_mono, GError **error)
{
  g_autofree char *dir = g_build_filename (ctx->spool_dir, uuid, NULL);
  g_autofree char *manifest_path = g_build_filename (dir, ANSIM_MANIFEST_NAME, NULL);
  gint64 wall = opened_wall, mono = opened_mono;
  g_autoptr (AnsimManifest) m = NULL;

  if (g_file_test (manifest_path, G_FILE_TEST_EXISTS))
    {
      m = ansim_manifest_load (dir, error);
      if (m == NULL)
        return FALSE;
      /* The last thing it shows happened: the open, the end of its last
       * entry (which may be the pre-event buffer, before the open) or its
       * last event (the notice may come after both). */
      ansim_manifest_get_close_floor (m, &wall, &mono);
    }
  g_autoptr (GPtrArray) temps = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (name[0] == '.' && strstr (name, ".tmp-") != NULL)
      g_ptr_array_add (temps, g_strdup (name));
  for (guint i = 0; i < temps->len; i++)
    {
      g_autoptr (GError) local = NULL;
      name = temps->pdata[i];
      if (m != NULL && g_str_has_prefix (name, ".seg-")
          && ansim_incident_adopt_temp_segment (dir, name, m, &local))
        {
          g_message ("incident %s: %s was sealed and listed when it was interrupted: put in "
                     "place",
                     uuid, name);
          continue;
        }
      g_autofree char *why = g_strdup_printf ("was left by an interrupted write%s%s",
                                              local != NULL ? ": " : " and is not listed",
                                              local != NULL ? local->message : "");
      if (!set_aside (ctx, id, uuid, dir, name, why, m, wall, mono, error))
        return FALSE;
    }
  if (m != NULL)
    {
      if (!ansim_manifest_is_closed (m)
          && !ansim_manifest_close (m, "interrupted", wall, mono, error))
        return FALSE;
      if (!ansim_manifest_write (m, dir, ctx->device_key, error))
        return FALSE;
      wall = ansim_manifest_get_closed_wall_us (m);
      mono = ansim_manifest_get_closed_mono_us (m);
    }
  gint64 rows = count_rows (ctx, id);
  if (m != NULL && rows < ansim_manifest_get_n_entries (m))
    g_message ("incident %s: %u sealed entr%s had no database row yet: added", uuid,
               ansim_manifest_get_n_entries (m) - (guint) rows,
               ansim_manifest_get_n_entries (m) - rows == 1 ? "y" : "ies");
  if (!incident_db_close (ctx, ctx->db, id, uuid, "interrupted", wall, mono, m, (guint) rows,
                          error))
    return FALSE;
  g_message ("incident %s was left open (crash or power cut): closed as interrupted", uuid);
  return TRUE;
}

gboolean
recorder_incidents_close_interrupted (RecorderContext *ctx, GError **error)
{
  g_autoptr (sqlite3_stmt) st =
    ansim_db_prepare (ctx->db,
                      "SELECT id, uuid, opened_wall_us, opened_mono_us FROM incidents "
                      "WHERE closed_wall_us IS NULL ORDER BY id",
                      error);
  if (st == NULL)
    return FALSE;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GPtrArray) uuids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) times = g_array_new (FALSE, FALSE, sizeof (gint64));
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (st, 0), w = sqlite3_column_int64 (st, 2),
             m = sqlite3_column_int64 (st, 3);
      g_array_append_val (ids, id);
      g_ptr_array_add (uuids, g_strdup ((const char *) sqlite3_column_text (st, 1)));
      g_array_append_val (times, w);
      g_array_append_val (times, m);
    }
  if (rc != SQLITE_DONE)
    return ansim_db_set_error (ctx->db, error, "finding open incidents");
  g_clear_pointer (&st, sqlite3_finalize);
  for (guint i = 0; i < ids->len; i++)
    if (!close_one_interrupted (ctx, g_array_index (ids, gint64, i), uuids->pdata[i],
                                g_array_index (times, gint64, 2 * i),
                                g_array_index (times, gint64, 2 * i + 1), error))
      {
        g_prefix_error (error, "closing interrupted incident %s: ", (char *) uuids->pdata[i]);
        return FALSE;
      }
  return TRUE;
}
