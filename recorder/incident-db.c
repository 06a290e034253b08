/* SPDX-License-Identifier: GPL-3.0-or-later */
/* An incident's rows in the desk database: the incident, its alert and
 * events, the segment and outbox rows of manifest entries, and its close.
 * Every function here runs inside one transaction of its own or of its
 * caller, so a crash leaves the rows of a whole step or none; the files
 * they describe are durable before (see incident-private.h). */
#include "incident-private.h"

#include "json-event.h"
#include "outbox.h"
#include "segments.h"

gboolean
incident_db_queue_manifest (sqlite3 *db, gint64 incident_id, const char *uuid,
                            const char *manifest_hash, GError **error)
{
  g_autoptr (sqlite3_stmt) up =
    ansim_db_prepare (db, "UPDATE incidents SET manifest_hash = ?2 WHERE id = ?1", error);
  if (up == NULL)
    return FALSE;
  g_autofree char *path = g_build_filename (uuid, ANSIM_MANIFEST_NAME, NULL);
  sqlite3_bind_int64 (up, 1, incident_id);
  sqlite3_bind_text (up, 2, manifest_hash, -1, SQLITE_STATIC);
  if (sqlite3_step (up) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "queueing the manifest");
  return ansim_outbox_queue_manifest (db, incident_id, path, NULL, error);
}

/* The segment and outbox rows of manifest entries from position `from`
 * on; inside the caller's transaction. */
gboolean
incident_db_record_entries (sqlite3 *db, gint64 incident_id, const char *uuid,
                            const AnsimManifest *manifest, guint from, GError **error)
{
  guint n = ansim_manifest_get_n_entries (manifest);

  for (guint i = from; i < n; i++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (manifest, i);
      gboolean media = e->kind == ANSIM_ENTRY_SEGMENT;
      g_autofree char *path = media ? g_build_filename (uuid, e->file, NULL) : NULL;

      g_autoptr (sqlite3_stmt) seg = ansim_db_prepare (
        db,
        "INSERT INTO segments (" ANSIM_SEGMENTS_COLUMNS ", spool_path, sealed_at_us) "
        "VALUES (" ANSIM_SEGMENTS_VALUES ", ?14, ?15)",
        error);
      if (seg == NULL)
        return FALSE;
      ansim_segments_bind_entry (seg, incident_id, e);
      if (media)
        sqlite3_bind_text (seg, 14, path, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (seg, 15, g_get_real_time ());
      if (sqlite3_step (seg) != SQLITE_DONE)
        return ansim_db_set_error (db, error, "recording the segment");
      if (media
          && !ansim_outbox_queue_segment (db, incident_id, (gint64) e->index, path, NULL, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
incident_db_close (RecorderContext *ctx, sqlite3 *db, gint64 id, const char *uuid,
                   const char *reason, gint64 wall_us, gint64 mono_us,
                   const AnsimManifest *manifest, guint from, GError **error)
{
  const char *manifest_hash = manifest != NULL ? ansim_manifest_get_written_sha256 (manifest)
                                               : NULL;
  g_autoptr (AnsimJsonBuilder) j = ansim_json_builder_new ();
  ansim_json_builder_add_string (j, "uuid", uuid);
  ansim_json_builder_add_string (j, "reason", reason);
  g_autofree char *detail = ansim_json_builder_end (j);
  if (!ansim_db_begin (db, error))
    return FALSE;
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (
    db,
    "UPDATE incidents SET closed_wall_us = ?2, closed_mono_us = ?3, close_reason = ?4 "
    "WHERE id = ?1",
    error);
  if (st == NULL)
    goto fail;
  sqlite3_bind_int64 (st, 1, id);
  sqlite3_bind_int64 (st, 2, wall_us);
  sqlite3_bind_int64 (st, 3, mono_us);
  sqlite3_bind_text (st, 4, reason, -1, SQLITE_STATIC);
  if (sqlite3_step (st) != SQLITE_DONE)
    {
      ansim_db_set_error (db, error, "closing the incident");
      goto fail;
    }
  if (manifest != NULL && !incident_db_record_entries (db, id, uuid, manifest, from, error))
    goto fail;
  if (manifest_hash != NULL && !incident_db_queue_manifest (db, id, uuid, manifest_hash, error))
    goto fail;
  gint64 event_id = 0;
  if (!ansim_db_log_event (db, "incident-closed", ctx->desk_id, NULL, id, mono_us, detail,
                           &event_id, error)
      || !ansim_outbox_queue_event (db, event_id, NULL, error))
    goto fail;
  return ansim_db_commit (db, error);

fail:
  ansim_db_rollback (db);
  return FALSE;
}

/* Any thread, with the database connection of that thread. */
void
incident_report_failure (RecorderIncident *inc, sqlite3 *db, const char *what, const GError *error)
{
  g_autoptr (AnsimJsonBuilder) j = ansim_json_builder_new ();
  ansim_json_builder_add_string (j, "what", what);
  ansim_json_builder_add_string (j, "message", error->message);
  g_autofree char *detail = ansim_json_builder_end (j);
  g_warning ("incident %s (%s): %s failed: %s", inc->uuid, inc->source_name, what, error->message);
  if (db != NULL)
    ansim_db_log_event (db, "error", inc->ctx->desk_id, inc->trigger, inc->id,
                        g_get_monotonic_time (), detail, NULL, NULL);
}

/* The final manifest hash of this source's latest closed incident (one
 * chain per device and source; docs/evidence-format.md, "The chain"). */
char *
incident_db_previous_manifest_hash (sqlite3 *db, const char *source)
{
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (
    db,
    "SELECT i.manifest_hash FROM incidents i JOIN events e ON e.incident_id = i.id "
    "AND e.kind = 'incident-opened' WHERE i.closed_wall_us IS NOT NULL "
    "AND i.manifest_hash IS NOT NULL AND json_extract (e.detail, '$.source') = ?1 "
    "ORDER BY i.id DESC LIMIT 1",
    NULL);
  if (st == NULL)
    return NULL;
  sqlite3_bind_text (st, 1, source, -1, SQLITE_STATIC);
  if (sqlite3_step (st) == SQLITE_ROW)
    return g_strdup ((const char *) sqlite3_column_text (st, 0));
  return NULL;
}

gboolean
incident_db_insert (RecorderIncident *inc, AnsimTriggerKind kind, const char *prev_hash,
                    gint64 opened_wall, GError **error)
{
  RecorderContext *ctx = inc->ctx;
  g_autoptr (AnsimJsonBuilder) j = ansim_json_builder_new ();
  ansim_json_builder_add_string (j, "uuid", inc->uuid);
  ansim_json_builder_add_string (j, "source", inc->source_name);
  g_autofree char *detail = ansim_json_builder_end (j);

  if (!ansim_db_begin (ctx->db, error))
    return FALSE;
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (
    ctx->db,
    "INSERT INTO incidents (uuid, desk_id, trigger, trigger_kind, opened_wall_us, "
    "opened_mono_us, is_drill, prev_manifest_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)",
    error);
  if (st == NULL)
    goto fail;
  sqlite3_bind_text (st, 1, inc->uuid, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 2, ctx->desk_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 3, inc->trigger, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 4, kind == ANSIM_TRIGGER_BODYCAM ? "bodycam" : "button", -1,
                     SQLITE_STATIC);
  sqlite3_bind_int64 (st, 5, opened_wall);
  sqlite3_bind_int64 (st, 6, inc->opened_mono_us);
  if (prev_hash != NULL)
    sqlite3_bind_text (st, 7, prev_hash, -1, SQLITE_STATIC);
  if (sqlite3_step (st) != SQLITE_DONE)
    {
      ansim_db_set_error (ctx->db, error, "recording the incident");
      goto fail;
    }
  inc->id = sqlite3_last_insert_rowid (ctx->db);
  /* The alert first (the panel needs it before any event of the incident),
   * then the opening event, all in the incident's transaction. */
  gint64 event_id = 0;
  if (!ansim_outbox_queue_alert (ctx->db, inc->id, NULL, error)
      || !ansim_db_log_event (ctx->db, "incident-opened", ctx->desk_id, inc->trigger, inc->id,
                              inc->opened_mono_us, detail, &event_id, error)
      || !ansim_outbox_queue_event (ctx->db, event_id, NULL, error)
      || !ansim_db_commit (ctx->db, error))
    goto fail;
  return TRUE;

fail:
  ansim_db_rollback (ctx->db);
  return FALSE;
}
