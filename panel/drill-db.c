/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains drills in the panel database: arming and ending
 * (shared by the console and ansimctl) and the tag ingest puts on a press:
 * the first press of an armed desk inside its drill's window belongs to
 * that drill. Kept apart from drills.c (the console routes) so that
 * ingest, its fuzz target and ansimctl need no HTTP server. */
#include "drill-db.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "json-event.h"

#define MAX_DRILL_DESKS 100
#define MAX_WINDOW_US (7 * 24 * G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC)

G_DEFINE_QUARK (panel - drill - error - quark, panel_drill_error)

static gboolean
db_failed (sqlite3 *db, GError **error, const char *what)
{
  g_set_error (error, PANEL_DRILL_ERROR, PANEL_DRILL_ERROR_DATABASE, "%s: %s", what,
               sqlite3_errmsg (db));
  ansim_db_rollback (db);
  return FALSE;
}

/* The drill error for a failed begin, audit or commit (its message kept). */
static gboolean
database_error (GError **error, GError *local)
{
  g_set_error (error, PANEL_DRILL_ERROR, PANEL_DRILL_ERROR_DATABASE, "%s", local->message);
  return FALSE;
}

static gboolean
begin (sqlite3 *db, GError **error)
{
  g_autoptr (GError) local = NULL;
  return ansim_db_begin (db, &local) || database_error (error, local);
}

/* Closes the detail object d is building, with the note when there is
 * one, and returns it as JSON text. */
static char *
end_detail (JsonBuilder *d, const char *note)
{
  if (note != NULL)
    {
      json_builder_set_member_name (d, "note");
      json_builder_add_string_value (d, note);
    }
  json_builder_end_object (d);
  g_autoptr (JsonNode) dn = json_builder_get_root (d);
  return json_to_string (dn, FALSE);
}

/* Audits what the transaction did and commits it, or rolls it back. */
static gboolean
audit_and_commit (sqlite3 *db, const char *actor, const char *actor_role, const char *client,
                  const char *action, const char *target, const char *detail, GError **error)
{
  g_autoptr (GError) local = NULL;
  if (panel_audit_append (db, actor, actor_role, client, action, target, detail, &local)
      && ansim_db_commit (db, &local))
    return TRUE;
  ansim_db_rollback (db);
  return database_error (error, local);
}

gboolean
panel_drill_arm (sqlite3 *db, const char *const *desks, guint n_desks, gint64 start_us,
                 gint64 end_us, const char *note, const char *actor, const char *actor_role,
                 const char *client, gint64 *out_id, GError **error)
{
  if (n_desks == 0 || n_desks > MAX_DRILL_DESKS)
    {
      g_set_error (error, PANEL_DRILL_ERROR, PANEL_DRILL_ERROR_INVALID,
                   "desks must be a list of 1 to %d desk ids", MAX_DRILL_DESKS);
      return FALSE;
    }
  for (guint i = 0; i < n_desks; i++)
    {
      if (desks[i] == NULL || strlen (desks[i]) == 0 || strlen (desks[i]) > 64)
        {
          g_set_error (error, PANEL_DRILL_ERROR, PANEL_DRILL_ERROR_INVALID,
                       "a desk id is 1 to 64 characters");
          return FALSE;
        }
      for (guint j = 0; j < i; j++)
        if (g_str_equal (desks[i], desks[j]))
          {
            g_set_error (error, PANEL_DRILL_ERROR, PANEL_DRILL_ERROR_INVALID,
                         "desk \"%s\" is listed twice", desks[i]);
            return FALSE;
          }
    }
  gint64 now = g_get_real_time ();
  const char *bad = end_us <= start_us ? "the window's end (end_us) must be after its start "
                                         "(start_us)"
                    : end_us <= now    ? "the window has already ended (end_us is in the past)"
                    : end_us - start_us > MAX_WINDOW_US ? "the window is longer than 7 days"
                    : note != NULL && g_utf8_strlen (note, -1) > 2000
                      ? "the note is longer than 2000 characters"
                      : NULL;
  if (bad != NULL)
    {
      g_set_error_literal (error, PANEL_DRILL_ERROR, PANEL_DRILL_ERROR_INVALID, bad);
      return FALSE;
    }
  /* A press from before the drill was armed is never the drill: its alert
   * may still be on its way (a desk offline for a while), and a real
   * incident taken for a drill is the one mistake that must not happen. */
  start_us = MAX (start_us, now);

  if (!begin (db, error))
    return FALSE;
  g_autoptr (sqlite3_stmt) known = ansim_db_prepare (db, "SELECT 1 FROM desks WHERE id = ?1", NULL);
  /* An unclaimed, not ended drill on the same desk with an overlapping
   * window would make the press's drill ambiguous. */
  g_autoptr (sqlite3_stmt) overlap =
    ansim_db_prepare (db,
                      "SELECT d.id FROM drill_desks dd JOIN drills d ON d.id = dd.drill_id "
                      "WHERE dd.desk_id = ?1 AND dd.incident_id IS NULL AND d.ended_at_us IS NULL "
                      "AND d.window_start_us < ?3 AND d.window_end_us > ?2 LIMIT 1",
                      NULL);
  g_autoptr (sqlite3_stmt) ins = ansim_db_prepare (
    db,
    "INSERT INTO drills (armed_by, armed_at_us, window_start_us, window_end_us, note) "
    "VALUES (?1, ?2, ?3, ?4, ?5)",
    NULL);
  g_autoptr (sqlite3_stmt) ins_desk =
    ansim_db_prepare (db, "INSERT INTO drill_desks (drill_id, desk_id) VALUES (?1, ?2)", NULL);
  if (known == NULL || overlap == NULL || ins == NULL || ins_desk == NULL)
    return db_failed (db, error, "arming the drill");
  for (guint i = 0; i < n_desks; i++)
    {
      sqlite3_reset (known);
      sqlite3_bind_text (known, 1, desks[i], -1, SQLITE_STATIC);
      int rc = sqlite3_step (known);
      if (rc == SQLITE_DONE)
        {
          ansim_db_rollback (db);
          g_set_error (error, PANEL_DRILL_ERROR, PANEL_DRILL_ERROR_INVALID,
                       "unknown desk \"%s\" (no device was ever enrolled for it)", desks[i]);
          return FALSE;
        }
      if (rc != SQLITE_ROW)
        return db_failed (db, error, "arming the drill");
      sqlite3_reset (overlap);
      sqlite3_bind_text (overlap, 1, desks[i], -1, SQLITE_STATIC);
      sqlite3_bind_int64 (overlap, 2, start_us);
      sqlite3_bind_int64 (overlap, 3, end_us);
      rc = sqlite3_step (overlap);
      if (rc == SQLITE_ROW)
        {
          g_set_error (error, PANEL_DRILL_ERROR, PANEL_DRILL_ERROR_CONFLICT,
                       "desk \"%s\" is already armed by drill %" G_GINT64_FORMAT " in an "
                       "overlapping window; end that drill first",
                       desks[i], (gint64) sqlite3_column_int64 (overlap, 0));
          ansim_db_rollback (db);
          return FALSE;
        }
      if (rc != SQLITE_DONE)
        return db_failed (db, error, "arming the drill");
    }
  sqlite3_bind_text (ins, 1, actor, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (ins, 2, now);
  sqlite3_bind_int64 (ins, 3, start_us);
  sqlite3_bind_int64 (ins, 4, end_us);
  sqlite3_bind_text (ins, 5, note, -1, SQLITE_STATIC);
  if (sqlite3_step (ins) != SQLITE_DONE)
    return db_failed (db, error, "arming the drill");
  gint64 id = sqlite3_last_insert_rowid (db);
  for (guint i = 0; i < n_desks; i++)
    {
      sqlite3_reset (ins_desk);
      sqlite3_bind_int64 (ins_desk, 1, id);
      sqlite3_bind_text (ins_desk, 2, desks[i], -1, SQLITE_STATIC);
      if (sqlite3_step (ins_desk) != SQLITE_DONE)
        return db_failed (db, error, "arming the drill");
    }
  g_autoptr (JsonBuilder) d = json_builder_new ();
  json_builder_begin_object (d);
  json_builder_set_member_name (d, "desks");
  json_builder_begin_array (d);
  for (guint i = 0; i < n_desks; i++)
    json_builder_add_string_value (d, desks[i]);
  json_builder_end_array (d);
  json_builder_set_member_name (d, "start_us");
  json_builder_add_int_value (d, start_us);
  json_builder_set_member_name (d, "end_us");
  json_builder_add_int_value (d, end_us);
  g_autofree char *detail = end_detail (d, note);
  g_autofree char *target = g_strdup_printf ("drill %" G_GINT64_FORMAT, id);
  if (!audit_and_commit (db, actor, actor_role, client, PANEL_AUDIT_DRILL_ARMED, target, detail,
                         error))
    return FALSE;
  *out_id = id;
  return TRUE;
}

gboolean
panel_drill_end (sqlite3 *db, gint64 id, const char *actor, const char *actor_role,
                 const char *client, GError **error)
{
  if (!begin (db, error))
    return FALSE;
  g_autoptr (sqlite3_stmt) upd = ansim_db_prepare (
    db, "UPDATE drills SET ended_by = ?2, ended_at_us = ?3 WHERE id = ?1 AND ended_at_us IS NULL",
    NULL);
  g_autoptr (sqlite3_stmt) exists =
    ansim_db_prepare (db, "SELECT 1 FROM drills WHERE id = ?1", NULL);
  if (upd == NULL || exists == NULL)
    return db_failed (db, error, "ending the drill");
  sqlite3_bind_int64 (upd, 1, id);
  sqlite3_bind_text (upd, 2, actor, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (upd, 3, g_get_real_time ());
  if (sqlite3_step (upd) != SQLITE_DONE)
    return db_failed (db, error, "ending the drill");
  if (sqlite3_changes (db) == 0)
    {
      sqlite3_bind_int64 (exists, 1, id);
      gboolean found = sqlite3_step (exists) == SQLITE_ROW;
      ansim_db_rollback (db);
      g_set_error (error, PANEL_DRILL_ERROR,
                   found ? PANEL_DRILL_ERROR_CONFLICT : PANEL_DRILL_ERROR_NOT_FOUND,
                   found ? "the drill has already ended" : "no such drill");
      return FALSE;
    }
  g_autofree char *target = g_strdup_printf ("drill %" G_GINT64_FORMAT, id);
  g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
  ansim_json_builder_add_int (json, "drill", id);
  g_autofree char *detail = ansim_json_builder_end (json);
  if (!audit_and_commit (db, actor, actor_role, client, PANEL_AUDIT_DRILL_ENDED, target, detail,
                         error))
    return FALSE;
  return TRUE;
}

gboolean
panel_drill_untag (sqlite3 *db, gint64 incident_id, const char *note, const char *actor,
                   const char *actor_role, const char *client, gint64 *out_drill_id, GError **error)
{
  if (!begin (db, error))
    return FALSE;
  g_autoptr (sqlite3_stmt) find = ansim_db_prepare (
    db,
    "SELECT drill_id, desk_id, arrived_by, arrived_at_us FROM drill_desks WHERE incident_id = ?1",
    NULL);
  g_autoptr (sqlite3_stmt) unlink = ansim_db_prepare (
    db,
    "UPDATE drill_desks SET incident_id = NULL, arrived_by = NULL, arrived_at_us = NULL "
    "WHERE incident_id = ?1",
    NULL);
  g_autoptr (sqlite3_stmt) mark =
    ansim_db_prepare (db, "UPDATE incidents SET is_drill = 0 WHERE id = ?1", NULL);
  g_autoptr (sqlite3_stmt) log = ansim_db_prepare (
    db,
    "INSERT INTO events (at_wall_us, at_mono_us, kind, desk_id, trigger, incident_id, actor, "
    "detail) SELECT ?1, ?2, 'drill-untagged', desk_id, trigger, id, ?4, json (?5) "
    "FROM incidents WHERE id = ?3",
    NULL);
  if (find == NULL || unlink == NULL || mark == NULL || log == NULL)
    return db_failed (db, error, "making the incident real");
  sqlite3_bind_int64 (find, 1, incident_id);
  int rc = sqlite3_step (find);
  if (rc == SQLITE_DONE)
    {
      ansim_db_rollback (db);
      g_set_error (error, PANEL_DRILL_ERROR, PANEL_DRILL_ERROR_NOT_FOUND,
                   "incident %" G_GINT64_FORMAT " is not the press of a drill", incident_id);
      return FALSE;
    }
  if (rc != SQLITE_ROW)
    return db_failed (db, error, "making the incident real");
  gint64 drill = sqlite3_column_int64 (find, 0);
  g_autoptr (JsonBuilder) d = json_builder_new ();
  json_builder_begin_object (d);
  json_builder_set_member_name (d, "drill");
  json_builder_add_int_value (d, drill);
  json_builder_set_member_name (d, "desk");
  json_builder_add_string_value (d, (const char *) sqlite3_column_text (find, 1));
  if (sqlite3_column_type (find, 3) != SQLITE_NULL)
    {
      /* kept here, since the drill's row forgets it */
      json_builder_set_member_name (d, "arrived_by");
      json_builder_add_string_value (d, (const char *) sqlite3_column_text (find, 2));
      json_builder_set_member_name (d, "arrived_at_us");
      json_builder_add_int_value (d, sqlite3_column_int64 (find, 3));
    }
  g_autofree char *detail = end_detail (d, note);
  gint64 now = g_get_real_time ();
  sqlite3_bind_int64 (unlink, 1, incident_id);
  sqlite3_bind_int64 (mark, 1, incident_id);
  sqlite3_bind_int64 (log, 1, now);
  sqlite3_bind_int64 (log, 2, g_get_monotonic_time ());
  sqlite3_bind_int64 (log, 3, incident_id);
  sqlite3_bind_text (log, 4, actor, -1, SQLITE_STATIC);
  sqlite3_bind_text (log, 5, detail, -1, SQLITE_STATIC);
  if (sqlite3_step (unlink) != SQLITE_DONE || sqlite3_step (mark) != SQLITE_DONE
      || sqlite3_step (log) != SQLITE_DONE)
    return db_failed (db, error, "making the incident real");
  g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, incident_id);
  if (!audit_and_commit (db, actor, actor_role, client, PANEL_AUDIT_DRILL_UNTAGGED, target, detail,
                         error))
    return FALSE;
  *out_drill_id = drill;
  return TRUE;
}

gboolean
panel_drill_claim (sqlite3 *db, const char *desk_id, gint64 pressed_wall_us, gint64 incident_id,
                   gint64 *out_drill_id, GError **error)
{
  *out_drill_id = 0;
  /* The oldest armed drill first, should two overlap on the desk. */
  g_autoptr (sqlite3_stmt) find = ansim_db_prepare (
    db,
    "SELECT d.id, d.armed_by FROM drill_desks dd JOIN drills d ON d.id = dd.drill_id "
    "WHERE dd.desk_id = ?1 AND dd.incident_id IS NULL AND d.ended_at_us IS NULL "
    "AND ?2 >= d.window_start_us AND ?2 < d.window_end_us ORDER BY d.id LIMIT 1",
    error);
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
  /* armed_by is a person's login name: escaped, whatever it holds. */
  g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
  ansim_json_builder_add_int (json, "drill", drill);
  ansim_json_builder_add_string (json, "armed_by", (const char *) sqlite3_column_text (find, 1));
  g_autofree char *detail = ansim_json_builder_end (json);
  g_autoptr (sqlite3_stmt) tie = ansim_db_prepare (
    db, "UPDATE drill_desks SET incident_id = ?3 WHERE drill_id = ?1 AND desk_id = ?2", error);
  g_autoptr (sqlite3_stmt) mark =
    ansim_db_prepare (db, "UPDATE incidents SET is_drill = 1 WHERE id = ?1", error);
  /* actor NULL: the panel decided it, from the armed window. */
  g_autoptr (sqlite3_stmt) log = ansim_db_prepare (
    db,
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
  if (sqlite3_step (tie) != SQLITE_DONE || sqlite3_step (mark) != SQLITE_DONE
      || sqlite3_step (log) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "tagging the incident as a drill");
  *out_drill_id = drill;
  return TRUE;
}
