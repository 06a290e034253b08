/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the drill tag ingest puts on a press: the first press
 * of an armed desk inside its drill's window belongs to that drill. Kept
 * apart from drills.c (the console routes) so ingest and its fuzz target
 * need no HTTP server. */
#include "drill-tag.h"

#include "db.h"

gboolean
panel_drill_claim (sqlite3 *db, const char *desk_id, gint64 pressed_wall_us, gint64 incident_id,
                   gint64 *out_drill_id, GError **error)
{
  *out_drill_id = 0;
  /* The oldest armed drill first, should two overlap on the desk. */
  g_autoptr (sqlite3_stmt) find = ansim_db_prepare (db,
    "SELECT d.id, d.armed_by FROM drill_desks dd JOIN drills d ON d.id = dd.drill_id "
    "WHERE dd.desk_id = ?1 AND dd.incident_id IS NULL AND d.ended_at_us IS NULL "
    "AND ?2 >= d.window_start_us AND ?2 < d.window_end_us ORDER BY d.id LIMIT 1", error);
  if (find == NULL)
    return FALSE;
  sqlite3_bind_text (find, 1, desk_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (find, 2, pressed_wall_us);
  int rc = sqlite3_step (find);
  if (rc == SQLITE_DONE)
    return TRUE;
  if (rc != SQLITE_ROW)
    return ansim_db_set_error (db, error, "looking for an armed drill");
  gint64 drill = sqlite3_column_int64 (find, 0);
  g_autofree char *detail = g_strdup_printf ("{\"drill\":%" G_GINT64_FORMAT ",\"armed_by\":\"%s\"}",
                                             drill, (const char *) sqlite3_column_text (find, 1));
  g_autoptr (sqlite3_stmt) tie = ansim_db_prepare (db,
    "UPDATE drill_desks SET incident_id = ?3 WHERE drill_id = ?1 AND desk_id = ?2", error);
  g_autoptr (sqlite3_stmt) mark = ansim_db_prepare (db,
    "UPDATE incidents SET is_drill = 1 WHERE id = ?1", error);
  /* actor NULL: the panel decided it, from the armed window. */
  g_autoptr (sqlite3_stmt) log = ansim_db_prepare (db,
    "INSERT INTO events (at_wall_us, at_mono_us, kind, desk_id, trigger, incident_id, detail) "
    "SELECT ?1, ?2, 'drill-tagged', desk_id, trigger, id, json (?4) FROM incidents WHERE id = ?3",
    error);
  if (tie == NULL || mark == NULL || log == NULL)
    return FALSE;
  sqlite3_bind_int64 (tie, 1, drill);
  sqlite3_bind_text (tie, 2, desk_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (tie, 3, incident_id);
  sqlite3_bind_int64 (mark, 1, incident_id);
  sqlite3_bind_int64 (log, 1, g_get_real_time ());
  sqlite3_bind_int64 (log, 2, g_get_monotonic_time ());
  sqlite3_bind_int64 (log, 3, incident_id);
  sqlite3_bind_text (log, 4, detail, -1, SQLITE_STATIC);
  if (sqlite3_step (tie) != SQLITE_DONE || sqlite3_step (mark) != SQLITE_DONE ||
      sqlite3_step (log) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "tagging the incident as a drill");
  *out_drill_id = drill;
  return TRUE;
}

