/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the panel's signing key and the audit checkpoints and
 * chain-head receipts it signs (docs/receipts.md). Each note is built from
 * one read of the database, so it never mixes two states. */
#include "notes.h"

#include "db.h"
#include "note.h"
#include "util.h"

char *
panel_signing_key_path (const char *database)
{
  g_autofree char *dir = g_path_get_dirname (database);
  return g_build_filename (dir, "panel-signing.pem", NULL);
}

AnsimDeviceKey *
panel_signing_key_open (const char *database, GError **error)
{
  g_autofree char *path = panel_signing_key_path (database);
  return ansim_device_key_load_or_create (path, error);
}

AnsimDeviceKey *
panel_signing_key_open_public (const char *database, GError **error)
{
  g_autofree char *path = panel_signing_key_path (database);
  g_autofree char *pub = ansim_device_key_public_path (path);
  return ansim_device_key_load_public (pub, error);
}

char *
panel_notes_audit_checkpoint (sqlite3 *db, const AnsimDeviceKey *key, GError **error)
{
  g_autoptr (sqlite3_stmt) last =
    ansim_db_prepare (db, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1", error);
  AnsimAuditCheckpoint c = { 0 };

  if (last == NULL)
    return NULL;
  switch (sqlite3_step (last))
    {
    case SQLITE_ROW: break;
    case SQLITE_DONE: return NULL;
    default: ansim_db_set_error (db, error, "reading the audit log"); return NULL;
    }
  c.entries = sqlite3_column_int64 (last, 0);
  g_strlcpy (c.head, (const char *) sqlite3_column_text (last, 1), sizeof c.head);
  c.time_us = g_get_real_time ();
  g_autofree char *text = ansim_audit_checkpoint_text (&c);
  return ansim_note_sign (text, ANSIM_NOTE_PANEL_NAME, key, error);
}

char *
panel_notes_chain_receipt (sqlite3 *db, const AnsimDeviceKey *key, const char *device_id,
                           const char *source, GError **error)
{
  /* One statement: the newest closed incident and the count in one read. */
  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (
    db,
    "SELECT (SELECT manifest_hash FROM incidents WHERE device_id = ?1 AND source = ?2 "
    "        AND close_reason IS NOT NULL AND manifest_hash IS NOT NULL "
    "        ORDER BY opened_wall_us DESC, id DESC LIMIT 1), "
    "       (SELECT count(*) FROM incidents WHERE device_id = ?1 AND source = ?2 "
    "        AND close_reason IS NOT NULL AND manifest_hash IS NOT NULL)",
    error);
  AnsimChainReceipt r = { 0 };

  if (s == NULL)
    return NULL;
  if (!ansim_is_name (device_id) || !ansim_is_name (source))
    return NULL;
  sqlite3_bind_text (s, 1, device_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (s, 2, source, -1, SQLITE_STATIC);
  if (sqlite3_step (s) != SQLITE_ROW)
    {
      ansim_db_set_error (db, error, "reading the incidents");
      return NULL;
    }
  if (sqlite3_column_type (s, 0) == SQLITE_NULL)
    return NULL;
  r.device = (char *) device_id;
  r.source = (char *) source;
  g_strlcpy (r.head, (const char *) sqlite3_column_text (s, 0), sizeof r.head);
  r.incidents = sqlite3_column_int64 (s, 1);
  r.time_us = g_get_real_time ();
  g_autofree char *text = ansim_chain_receipt_text (&r);
  return ansim_note_sign (text, ANSIM_NOTE_PANEL_NAME, key, error);
}

gboolean
panel_notes_export_files (sqlite3 *db, gint64 incident_id, char **out_receipt, char **out_pem,
                          GError **error)
{
  const char *database = sqlite3_db_filename (db, "main");
  g_autoptr (AnsimDeviceKey) key = NULL;
  g_autoptr (sqlite3_stmt) s = NULL;
  g_autofree char *note = NULL;

  if (database == NULL || *database == '\0')
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                   "the incident log has no file, so no signing key beside it");
      return FALSE;
    }
  key = panel_signing_key_open (database, error);
  s = ansim_db_prepare (db, "SELECT device_id, source FROM incidents WHERE id = ?1", error);
  if (key == NULL || s == NULL)
    return FALSE;
  sqlite3_bind_int64 (s, 1, incident_id);
  if (sqlite3_step (s) == SQLITE_ROW && sqlite3_column_type (s, 1) != SQLITE_NULL)
    {
      note = panel_notes_chain_receipt (db, key, (const char *) sqlite3_column_text (s, 0),
                                        (const char *) sqlite3_column_text (s, 1), error);
      if (note == NULL && error != NULL && *error != NULL)
        return FALSE;
    }
  *out_receipt = g_steal_pointer (&note);
  *out_pem = ansim_device_key_get_public_pem (key);
  return TRUE;
}
