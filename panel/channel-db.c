/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the push channel's messages in the panel database:
 * written with the change that causes them, read back by sequence number
 * for a desk's channel request (docs/protocol.md, "Channel"). */
#include "channel-db.h"

#include "db.h"

static const char *const kind_names[] = {
  [PANEL_CHANNEL_ACKNOWLEDGED] = "acknowledged",
  [PANEL_CHANNEL_RESOLVED] = "resolved",
  [PANEL_CHANNEL_POLICE_BELL] = "police-bell",
};

gboolean
panel_channel_db_post (sqlite3 *db, gint64 incident_id, PanelChannelKind kind, const char *reason,
                       char **out_device_id, GError **error)
{
  g_return_val_if_fail ((guint) kind < G_N_ELEMENTS (kind_names), FALSE);
  g_return_val_if_fail ((reason != NULL) == (kind == PANEL_CHANNEL_POLICE_BELL), FALSE);
  gint64 now = g_get_real_time ();
  g_autoptr (sqlite3_stmt) ins = ansim_db_prepare (
    db,
    "INSERT INTO channel_messages (device_id, kind, incident_id, reason, at_us) "
    "SELECT device_id, ?2, id, ?3, ?4 FROM incidents WHERE id = ?1 RETURNING device_id",
    error);
  if (ins == NULL)
    return FALSE;
  sqlite3_bind_int64 (ins, 1, incident_id);
  sqlite3_bind_text (ins, 2, kind_names[kind], -1, SQLITE_STATIC);
  sqlite3_bind_text (ins, 3, reason, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (ins, 4, now);
  int rc = sqlite3_step (ins);
  if (rc == SQLITE_DONE)
    {
      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_NOT_FOUND,
                   "no incident %" G_GINT64_FORMAT " to send a %s message about", incident_id,
                   kind_names[kind]);
      return FALSE;
    }
  if (rc != SQLITE_ROW)
    return ansim_db_set_error (db, error, "writing a channel message");
  g_autofree char *device_id = g_strdup ((const char *) sqlite3_column_text (ins, 0));
  if (sqlite3_step (ins) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "writing a channel message");
  /* Bounded: expired messages go with each new one (messages are rare:
   * one per acknowledgement, resolution or escalation). */
  g_autoptr (sqlite3_stmt) del =
    ansim_db_prepare (db, "DELETE FROM channel_messages WHERE at_us < ?1", error);
  if (del == NULL)
    return FALSE;
  sqlite3_bind_int64 (del, 1, now - PANEL_CHANNEL_KEEP_US);
  if (sqlite3_step (del) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "dropping expired channel messages");
  if (out_device_id != NULL)
    *out_device_id = g_steal_pointer (&device_id);
  return TRUE;
}

static gboolean
query_int (sqlite3 *db, const char *sql, const char *text, gint64 *out, GError **error)
{
  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (db, sql, error);
  if (s == NULL)
    return FALSE;
  if (text != NULL)
    sqlite3_bind_text (s, 1, text, -1, SQLITE_STATIC);
  if (sqlite3_step (s) != SQLITE_ROW)
    return ansim_db_set_error (db, error, "reading the channel");
  *out = sqlite3_column_int64 (s, 0);
  return TRUE;
}

gint
panel_channel_db_read (sqlite3 *db, const char *device_id, gint64 after, JsonBuilder *b,
                       GError **error)
{
  gint64 now = g_get_real_time ();
  gint64 given = 0, last = 0;
  if (!query_int (db,
                  "SELECT coalesce ((SELECT seq FROM sqlite_sequence "
                  "WHERE name = 'channel_messages'), 0)",
                  NULL, &given, error)
      || !query_int (db,
                     "SELECT coalesce (max (seq), 0) FROM channel_messages "
                     "WHERE device_id = ?1",
                     device_id, &last, error))
    return -1;
  /* The desk remembers a seq this database never gave (restored from a
   * backup, or replaced): it starts over from what is kept. */
  if (after > given)
    after = 0;
  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (
    db,
    "SELECT m.seq, m.kind, i.uuid, m.reason, m.at_us FROM channel_messages m "
    "JOIN incidents i ON i.id = m.incident_id "
    "WHERE m.device_id = ?1 AND m.seq > ?2 AND (m.kind <> 'police-bell' OR m.at_us > ?3) "
    "ORDER BY m.seq LIMIT ?4",
    error);
  if (s == NULL)
    return -1;
  sqlite3_bind_text (s, 1, device_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (s, 2, after);
  sqlite3_bind_int64 (s, 3, now - PANEL_CHANNEL_POLICE_BELL_VALID_US);
  sqlite3_bind_int (s, 4, PANEL_CHANNEL_MAX_MESSAGES);
  json_builder_set_member_name (b, "time_us");
  json_builder_add_int_value (b, now);
  json_builder_set_member_name (b, "messages");
  json_builder_begin_array (b);
  gint n = 0;
  gint64 seq = MAX (after, last);
  int rc;
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      n++;
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "seq");
      json_builder_add_int_value (b, sqlite3_column_int64 (s, 0));
      json_builder_set_member_name (b, "kind");
      json_builder_add_string_value (b, (const char *) sqlite3_column_text (s, 1));
      json_builder_set_member_name (b, "incident");
      json_builder_add_string_value (b, (const char *) sqlite3_column_text (s, 2));
      if (sqlite3_column_type (s, 3) != SQLITE_NULL)
        {
          json_builder_set_member_name (b, "reason");
          json_builder_add_string_value (b, (const char *) sqlite3_column_text (s, 3));
        }
      json_builder_set_member_name (b, "at_us");
      json_builder_add_int_value (b, sqlite3_column_int64 (s, 4));
      json_builder_end_object (b);
      if (n == PANEL_CHANNEL_MAX_MESSAGES)
        seq = sqlite3_column_int64 (s, 0); /* more to come: ask from here */
    }
  if (rc != SQLITE_DONE)
    return ansim_db_set_error (db, error, "reading the channel"), -1;
  json_builder_end_array (b);
  json_builder_set_member_name (b, "seq");
  json_builder_add_int_value (b, seq);
  return n;
}
