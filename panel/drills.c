/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the console's side of drills (모의훈련) and the
 * response-time reports (API in docs/console.md): arming a drill for desks
 * and a time window, arrival on scene, the end of a drill (the database
 * side and the tag ingest puts on a press are in drill-db.c), the drill
 * schedule, and the figures press -> alert -> shown -> acknowledged ->
 * arrival -> resolved per drill, per desk, per site and per month, for
 * drills and (separately) real incidents. */
#include "drills.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "json-event.h"

#define READ_ROLES (PANEL_ROLE_TRAINER | PANEL_ROLE_ADMIN | PANEL_ROLE_AUDITOR)
#define RUN_ROLES (PANEL_ROLE_TRAINER | PANEL_ROLE_ADMIN)
#define MAX_DRILL_DESKS 100
#define MAX_NOTE_CHARS 2000
#define MAX_REPORT_ROWS 10000
#define DAY_US (24 * G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC)

struct _PanelDrills {
  sqlite3 *db;
  PanelConsole *console;
  char *site_name;
};

/* ---- answers -------------------------------------------------------------- */

static void
bad_request (SoupServerMessage *msg, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
bad_request (SoupServerMessage *msg, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *text = g_strdup_vprintf (format, args);
  va_end (args);
  panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", text);
}

/* The current row as an object named by its columns. */
static void
add_row (JsonBuilder *b, sqlite3_stmt *stmt)
{
  panel_http_add_row (b, stmt, NULL, NULL);
}

/* An integer member (required); answers 400 itself. */
static gboolean
int_member (SoupServerMessage *msg, JsonObject *o, const char *name, gint64 *out)
{
  JsonNode *node = json_object_get_member (o, name);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64 || json_node_get_int (node) < 0)
    {
      bad_request (msg, "%s must be a time in microseconds since 1970 (an integer)", name);
      return FALSE;
    }
  *out = json_node_get_int (node);
  return TRUE;
}

/* A string member of 1..max characters, or NULL when absent/null. */
static gboolean
text_member (SoupServerMessage *msg, JsonObject *o, const char *name, glong max, const char **out)
{
  *out = NULL;
  JsonNode *node = json_object_get_member (o, name);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING ||
      g_utf8_strlen (json_node_get_string (node), -1) > max)
    {
      bad_request (msg, "%s must be text of at most %ld characters", name, max);
      return FALSE;
    }
  *out = json_node_get_string (node);
  if (**out == '\0')
    *out = NULL;
  return TRUE;
}

static gboolean
audit (PanelDrills *self, SoupServerMessage *msg, PanelSession *session, const char *action,
       const char *target, const char *detail)
{
  g_autoptr (GError) error = NULL;
  if (panel_console_audit (self->console, msg, session, action, target, detail, &error))
    return TRUE;
  g_warning ("cannot write the audit log: %s", error->message);
  return FALSE;
}

static void
audit_failed (SoupServerMessage *msg)
{
  panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                            "the panel cannot write its audit log");
}

/* ---- drills ---------------------------------------------------------------- */

static const char *
drill_state (gint64 now, gint64 start, gint64 end, gboolean ended)
{
  return ended ? "ended" : now < start ? "scheduled" : now < end ? "armed" : "window-over";
}

/* Drills (newest first; only id when id > 0) with their desks. */
static gboolean
add_drills (PanelDrills *self, JsonBuilder *b, gint64 id)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (self->db,
    "SELECT id, armed_by, armed_at_us, window_start_us, window_end_us, note, ended_by, "
    "ended_at_us FROM drills WHERE ?1 = 0 OR id = ?1 ORDER BY id DESC LIMIT 200", NULL);
  g_autoptr (sqlite3_stmt) desks = ansim_db_prepare (self->db,
    "SELECT dd.desk_id, coalesce (k.name, dd.desk_id) AS desk_name, dd.incident_id, "
    "i.opened_wall_us AS pressed_at_us, i.status AS incident_status, i.acknowledged_by, "
    "dd.arrived_at_us, dd.arrived_by FROM drill_desks dd LEFT JOIN desks k ON k.id = dd.desk_id "
    "LEFT JOIN incidents i ON i.id = dd.incident_id WHERE dd.drill_id = ?1 ORDER BY dd.desk_id",
    NULL);
  if (stmt == NULL || desks == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  gint64 now = g_get_real_time ();
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      json_builder_begin_object (b);
      panel_http_add_columns (b, stmt, NULL, NULL);
      json_builder_set_member_name (b, "state");
      json_builder_add_string_value (b, drill_state (now, sqlite3_column_int64 (stmt, 3),
                                                     sqlite3_column_int64 (stmt, 4),
                                                     sqlite3_column_type (stmt, 7) != SQLITE_NULL));
      json_builder_set_member_name (b, "desks");
      json_builder_begin_array (b);
      sqlite3_reset (desks);
      sqlite3_bind_int64 (desks, 1, sqlite3_column_int64 (stmt, 0));
      int drc;
      while ((drc = sqlite3_step (desks)) == SQLITE_ROW)
        add_row (b, desks);
      json_builder_end_array (b);
      json_builder_end_object (b);
      if (drc != SQLITE_DONE)
        return FALSE;
    }
  return rc == SQLITE_DONE;
}

static void
list_drills (PanelDrills *self, SoupServerMessage *msg)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "now_us");
  json_builder_add_int_value (b, g_get_real_time ());
  json_builder_set_member_name (b, "drills");
  json_builder_begin_array (b);
  if (!add_drills (self, b, 0))
    return panel_console_send_db_error (msg, self->db, "listing drills");
  json_builder_end_array (b);
  json_builder_set_member_name (b, "desks");
  json_builder_begin_array (b);
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (self->db,
    "SELECT id, name FROM desks ORDER BY id", NULL);
  if (stmt == NULL)
    return panel_console_send_db_error (msg, self->db, "listing desks");
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    add_row (b, stmt);
  if (rc != SQLITE_DONE)
    return panel_console_send_db_error (msg, self->db, "listing desks");
  json_builder_end_array (b);
  json_builder_end_object (b);
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

static void
send_drill (PanelDrills *self, SoupServerMessage *msg, guint status, gint64 id)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_array (b);
  if (!add_drills (self, b, id))
    return panel_console_send_db_error (msg, self->db, "reading the drill");
  json_builder_end_array (b);
  g_autoptr (JsonNode) list = json_builder_get_root (b);
  if (json_array_get_length (json_node_get_array (list)) == 0)
    return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such drill");
  g_autoptr (JsonBuilder) out = json_builder_new ();
  json_builder_begin_object (out);
  json_builder_set_member_name (out, "drill");
  json_builder_add_value (out, json_node_copy (json_array_get_element (json_node_get_array (list), 0)));
  json_builder_end_object (out);
  panel_console_send_json (msg, status, out);
}

static const char *
client_of (SoupServerMessage *msg)
{
  const char *host = soup_server_message_get_remote_host (msg);
  return host != NULL ? host : "unknown";
}

/* Answers a failed panel_drill_arm/end. */
static void
send_drill_error (SoupServerMessage *msg, GError *error)
{
  switch (error->code)
    {
    case PANEL_DRILL_ERROR_INVALID:
      return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                       error->message);
    case PANEL_DRILL_ERROR_CONFLICT:
      return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict", error->message);
    case PANEL_DRILL_ERROR_NOT_FOUND:
      return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", error->message);
    default:
      g_warning ("drill: %s", error->message);
      return panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                       "the panel cannot record the drill");
    }
}

/* POST /api/drills {"desks": [...], "start_us", "end_us", "note"?} */
static void
arm_drill (PanelDrills *self, SoupServerMessage *msg, PanelSession *session)
{
  static const char *const members[] = { "desks", "start_us", "end_us", "note", NULL };
  g_autoptr (JsonObject) body = panel_console_read_json_object (msg);
  if (body == NULL || !panel_http_only_members (msg, body, members))
    return;
  gint64 start = 0, end = 0;
  const char *note = NULL;
  if (!int_member (msg, body, "start_us", &start) || !int_member (msg, body, "end_us", &end) ||
      !text_member (msg, body, "note", MAX_NOTE_CHARS, &note))
    return;
  JsonNode *desks_node = json_object_get_member (body, "desks");
  if (desks_node == NULL || !JSON_NODE_HOLDS_ARRAY (desks_node) ||
      json_array_get_length (json_node_get_array (desks_node)) > MAX_DRILL_DESKS)
    return bad_request (msg, "desks must be a list of 1 to %d desk ids", MAX_DRILL_DESKS);
  JsonArray *desks = json_node_get_array (desks_node);
  g_autoptr (GPtrArray) ids = g_ptr_array_new ();
  for (guint i = 0; i < json_array_get_length (desks); i++)
    {
      JsonNode *n = json_array_get_element (desks, i);
      if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
        return bad_request (msg, "desks must be a list of desk ids (text)");
      g_ptr_array_add (ids, (gpointer) json_node_get_string (n));
    }
  g_autoptr (GError) error = NULL;
  gint64 id = 0;
  if (!panel_drill_arm (self->db, (const char *const *) ids->pdata, ids->len, start, end, note,
                        session->user, panel_role_to_string (session->role), client_of (msg),
                        &id, &error))
    return send_drill_error (msg, error);
  g_message ("drill %" G_GINT64_FORMAT " armed by %s for %u desk(s)", id, session->user, ids->len);
  send_drill (self, msg, SOUP_STATUS_CREATED, id);
}

typedef enum { ARRIVAL, END } DrillAction;

/* POST /api/drills/ID/arrival {"desk"} and /api/drills/ID/end {} (the
 * latter through panel_drill_end, shared with ansimctl). */
static void
act_on_drill (PanelDrills *self, SoupServerMessage *msg, PanelSession *session, gint64 id,
              DrillAction action)
{
  static const char *const arrival_members[] = { "desk", NULL };
  static const char *const end_members[] = { NULL };
  const char *desk = NULL;
  g_autofree char *desk_owned = NULL;
  g_autofree char *target = g_strdup_printf ("drill %" G_GINT64_FORMAT, id);
  g_autofree char *detail = NULL;
  if (action == ARRIVAL || soup_server_message_get_request_body (msg)->length > 0)
    {
      g_autoptr (JsonObject) body = panel_console_read_json_object (msg);
      if (body == NULL ||
          !panel_http_only_members (msg, body, action == ARRIVAL ? arrival_members : end_members))
        return;
      if (action == ARRIVAL)
        {
          if (!text_member (msg, body, "desk", 64, &desk))
            return;
          if (desk == NULL)
            return bad_request (msg, "desk (the desk whose press was answered) is required");
          desk = desk_owned = g_strdup (desk);  /* outlives body */
        }
    }
  g_autoptr (GError) error = NULL;
  if (action == END)
    {
      if (!panel_drill_end (self->db, id, session->user, panel_role_to_string (session->role),
                            client_of (msg), &error))
        return send_drill_error (msg, error);
      g_message ("drill %" G_GINT64_FORMAT " ended by %s", id, session->user);
      return send_drill (self, msg, SOUP_STATUS_OK, id);
    }
  if (!ansim_db_begin (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "beginning a transaction");
  g_autoptr (sqlite3_stmt) drill = ansim_db_prepare (self->db,
    "SELECT ended_at_us FROM drills WHERE id = ?1", NULL);
  if (drill == NULL)
    goto db_error;
  sqlite3_bind_int64 (drill, 1, id);
  int rc = sqlite3_step (drill);
  if (rc == SQLITE_DONE)
    {
      ansim_db_rollback (self->db);
      return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such drill");
    }
  if (rc != SQLITE_ROW)
    goto db_error;
  if (sqlite3_column_type (drill, 0) != SQLITE_NULL)
    {
      ansim_db_rollback (self->db);
      return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict",
                                       "the drill has already ended");
    }
  gint64 now = g_get_real_time ();
  {
    g_autoptr (sqlite3_stmt) dd = ansim_db_prepare (self->db,
      "SELECT incident_id, arrived_at_us FROM drill_desks WHERE drill_id = ?1 AND desk_id = ?2",
      NULL);
    if (dd == NULL)
      goto db_error;
    sqlite3_bind_int64 (dd, 1, id);
    sqlite3_bind_text (dd, 2, desk, -1, SQLITE_STATIC);
    rc = sqlite3_step (dd);
    const char *conflict = NULL;
    if (rc == SQLITE_DONE)
      {
        ansim_db_rollback (self->db);
        return bad_request (msg, "desk \"%s\" is not part of drill %" G_GINT64_FORMAT, desk, id);
      }
    if (rc != SQLITE_ROW)
      goto db_error;
    if (sqlite3_column_type (dd, 0) == SQLITE_NULL)
      conflict = "nobody has pressed at that desk during the drill yet";
    else if (sqlite3_column_type (dd, 1) != SQLITE_NULL)
      conflict = "arrival at that desk is already recorded";
    if (conflict != NULL)
      {
        ansim_db_rollback (self->db);
        return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict", conflict);
      }
    gint64 incident = sqlite3_column_int64 (dd, 0);
    {
      g_autoptr (JsonBuilder) d = json_builder_new ();
      json_builder_begin_object (d);
      json_builder_set_member_name (d, "drill");
      json_builder_add_int_value (d, id);
      json_builder_set_member_name (d, "desk");
      json_builder_add_string_value (d, desk);
      json_builder_set_member_name (d, "incident");
      json_builder_add_int_value (d, incident);
      json_builder_end_object (d);
      g_autoptr (JsonNode) dn = json_builder_get_root (d);
      detail = json_to_string (dn, FALSE);
    }
    g_autoptr (sqlite3_stmt) upd = ansim_db_prepare (self->db,
      "UPDATE drill_desks SET arrived_by = ?3, arrived_at_us = ?4 "
      "WHERE drill_id = ?1 AND desk_id = ?2", NULL);
    /* In the incident's timeline too. */
    g_autoptr (sqlite3_stmt) log = ansim_db_prepare (self->db,
      "INSERT INTO events (at_wall_us, at_mono_us, kind, desk_id, trigger, incident_id, actor, "
      "detail) SELECT ?1, ?2, 'drill-arrival', desk_id, trigger, id, ?4, json (?5) "
      "FROM incidents WHERE id = ?3", NULL);
    if (upd == NULL || log == NULL)
      goto db_error;
    sqlite3_bind_int64 (upd, 1, id);
    sqlite3_bind_text (upd, 2, desk, -1, SQLITE_STATIC);
    sqlite3_bind_text (upd, 3, session->user, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (upd, 4, now);
    sqlite3_bind_int64 (log, 1, now);
    sqlite3_bind_int64 (log, 2, g_get_monotonic_time ());
    sqlite3_bind_int64 (log, 3, incident);
    sqlite3_bind_text (log, 4, session->user, -1, SQLITE_STATIC);
    sqlite3_bind_text (log, 5, detail, -1, SQLITE_STATIC);
    if (sqlite3_step (upd) != SQLITE_DONE || sqlite3_step (log) != SQLITE_DONE)
      goto db_error;
  }
  if (!audit (self, msg, session, PANEL_AUDIT_DRILL_ARRIVAL, target, detail))
    {
      ansim_db_rollback (self->db);
      return audit_failed (msg);
    }
  if (!ansim_db_commit (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "committing");
  g_message ("drill %" G_GINT64_FORMAT ": arrival at %s recorded by %s", id, desk, session->user);
  send_drill (self, msg, SOUP_STATUS_OK, id);
  return;

db_error:
  ansim_db_rollback (self->db);
  panel_console_send_db_error (msg, self->db, "recording the drill");
}

/* ---- schedule ---------------------------------------------------------------- */

static void
list_schedule (PanelDrills *self, SoupServerMessage *msg)
{
  /* The last drill of a desk is its latest drill press; for the site
   * (desk_id NULL), the latest drill press anywhere. */
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (self->db,
    "SELECT s.id, s.desk_id, coalesce (k.name, s.desk_id) AS desk_name, s.every_days, "
    "s.created_by, s.created_at_us, "
    "(SELECT max (i.opened_wall_us) FROM drill_desks dd JOIN incidents i ON i.id = dd.incident_id "
    " WHERE s.desk_id IS NULL OR dd.desk_id = s.desk_id) AS last_drill_at_us "
    "FROM drill_schedules s LEFT JOIN desks k ON k.id = s.desk_id "
    "ORDER BY s.desk_id IS NOT NULL, s.desk_id", NULL);
  if (stmt == NULL)
    return panel_console_send_db_error (msg, self->db, "reading the schedule");
  gint64 now = g_get_real_time ();
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "site");
  json_builder_add_string_value (b, self->site_name);
  json_builder_set_member_name (b, "schedules");
  json_builder_begin_array (b);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      json_builder_begin_object (b);
      panel_http_add_columns (b, stmt, NULL, NULL);
      gint64 every = sqlite3_column_int64 (stmt, 3) * DAY_US;
      gboolean never = sqlite3_column_type (stmt, 6) == SQLITE_NULL;
      /* Never drilled: the first is due one interval after the schedule
       * was set. */
      gint64 due = (never ? sqlite3_column_int64 (stmt, 5) : sqlite3_column_int64 (stmt, 6)) + every;
      gint64 soon = MIN (14 * DAY_US, every / 4);
      json_builder_set_member_name (b, "due_at_us");
      json_builder_add_int_value (b, due);
      json_builder_set_member_name (b, "status");
      json_builder_add_string_value (b, now >= due ? "overdue" : now >= due - soon ? "due-soon"
                                                                                    : "ok");
      json_builder_end_object (b);
    }
  if (rc != SQLITE_DONE)
    return panel_console_send_db_error (msg, self->db, "reading the schedule");
  json_builder_end_array (b);
  json_builder_end_object (b);
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

/* POST /api/drills/schedule {"desk": ID or null (the whole site), "every_days"} */
static void
set_schedule (PanelDrills *self, SoupServerMessage *msg, PanelSession *session)
{
  static const char *const members[] = { "desk", "every_days", NULL };
  g_autoptr (JsonObject) body = panel_console_read_json_object (msg);
  if (body == NULL || !panel_http_only_members (msg, body, members))
    return;
  const char *desk = NULL;
  if (!text_member (msg, body, "desk", 64, &desk))
    return;
  JsonNode *every_node = json_object_get_member (body, "every_days");
  if (every_node == NULL || !JSON_NODE_HOLDS_VALUE (every_node) ||
      json_node_get_value_type (every_node) != G_TYPE_INT64 ||
      json_node_get_int (every_node) < 1 || json_node_get_int (every_node) > 3660)
    return bad_request (msg, "every_days must be a whole number of days from 1 to 3660 "
                        "(e.g. 91 for quarterly)");
  gint64 every = json_node_get_int (every_node);
  g_autoptr (GError) error = NULL;
  if (!ansim_db_begin (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "beginning a transaction");
  g_autoptr (sqlite3_stmt) known = ansim_db_prepare (self->db,
    "SELECT 1 FROM desks WHERE id = ?1", NULL);
  g_autoptr (sqlite3_stmt) del = ansim_db_prepare (self->db,
    "DELETE FROM drill_schedules WHERE desk_id IS ?1", NULL);
  g_autoptr (sqlite3_stmt) ins = ansim_db_prepare (self->db,
    "INSERT INTO drill_schedules (desk_id, every_days, created_by, created_at_us) "
    "VALUES (?1, ?2, ?3, ?4)", NULL);
  if (known == NULL || del == NULL || ins == NULL)
    goto db_error;
  if (desk != NULL)
    {
      sqlite3_bind_text (known, 1, desk, -1, SQLITE_STATIC);
      int rc = sqlite3_step (known);
      if (rc == SQLITE_DONE)
        {
          ansim_db_rollback (self->db);
          return bad_request (msg, "unknown desk \"%s\"", desk);
        }
      if (rc != SQLITE_ROW)
        goto db_error;
    }
  sqlite3_bind_text (del, 1, desk, -1, SQLITE_STATIC);
  sqlite3_bind_text (ins, 1, desk, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (ins, 2, every);
  sqlite3_bind_text (ins, 3, session->user, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (ins, 4, g_get_real_time ());
  if (sqlite3_step (del) != SQLITE_DONE || sqlite3_step (ins) != SQLITE_DONE)
    goto db_error;
  {
    g_autofree char *target = desk != NULL ? g_strdup_printf ("desk %s", desk) : g_strdup ("site");
    g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
    ansim_json_builder_add_int (json, "every_days", every);
    g_autofree char *detail = ansim_json_builder_end (json);
    if (!audit (self, msg, session, PANEL_AUDIT_DRILL_SCHEDULE_SET, target, detail))
      {
        ansim_db_rollback (self->db);
        return audit_failed (msg);
      }
  }
  if (!ansim_db_commit (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "committing");
  list_schedule (self, msg);
  return;

db_error:
  ansim_db_rollback (self->db);
  panel_console_send_db_error (msg, self->db, "setting the schedule");
}

static void
remove_schedule (PanelDrills *self, SoupServerMessage *msg, PanelSession *session, gint64 id)
{
  g_autoptr (GError) error = NULL;
  if (!ansim_db_begin (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "beginning a transaction");
  g_autoptr (sqlite3_stmt) del = ansim_db_prepare (self->db,
    "DELETE FROM drill_schedules WHERE id = ?1 RETURNING coalesce ('desk ' || desk_id, 'site'), "
    "every_days", NULL);
  if (del == NULL)
    goto db_error;
  sqlite3_bind_int64 (del, 1, id);
  int rc = sqlite3_step (del);
  if (rc == SQLITE_DONE)
    {
      ansim_db_rollback (self->db);
      return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found",
                                       "no such schedule entry");
    }
  if (rc != SQLITE_ROW)
    goto db_error;
  {
    g_autofree char *target = g_strdup ((const char *) sqlite3_column_text (del, 0));
    g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
    ansim_json_builder_add_int (json, "every_days", sqlite3_column_int64 (del, 1));
    g_autofree char *detail = ansim_json_builder_end (json);
    if (sqlite3_step (del) != SQLITE_DONE)
      goto db_error;
    if (!audit (self, msg, session, PANEL_AUDIT_DRILL_SCHEDULE_REMOVED, target, detail))
      {
        ansim_db_rollback (self->db);
        return audit_failed (msg);
      }
  }
  g_clear_pointer (&del, sqlite3_finalize);
  if (!ansim_db_commit (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "committing");
  list_schedule (self, msg);
  return;

db_error:
  ansim_db_rollback (self->db);
  panel_console_send_db_error (msg, self->db, "removing the schedule entry");
}

/* ---- reports ---------------------------------------------------------------- */

/* The steps of a response, in order; each is a time or missing. */
enum { PRESSED, ALERTED, SHOWN, ACKNOWLEDGED, ARRIVED, RESOLVED, N_STEPS };
static const char *const step_at[] = { "pressed_at_us", "alerted_at_us", "shown_at_us",
                                       "acknowledged_at_us", "arrived_at_us", "resolved_at_us" };
static const char *const step_by[] = { NULL, NULL, "shown_by", "acknowledged_by", "arrived_by",
                                       "resolved_by" };
/* Figures: each step's time since the press. */
static const char *const figure[] = { NULL, "press_to_alert_us", "press_to_shown_us",
                                      "press_to_ack_us", "press_to_arrival_us",
                                      "press_to_resolved_us" };

typedef struct {
  gint64 drill_id;              /* 0: a real incident */
  char *desk_id, *desk_name;
  gint64 incident_id;           /* 0: no press during the drill */
  gint64 window_start_us;
  gint64 at[N_STEPS];
  gboolean has[N_STEPS];
  char *by[N_STEPS];
  char *month;                  /* YYYY-MM of the press (panel's local time) */
} ReportRow;

static void
report_row_free (gpointer data)
{
  ReportRow *r = data;
  g_free (r->desk_id);
  g_free (r->desk_name);
  g_free (r->month);
  for (guint i = 0; i < N_STEPS; i++)
    g_free (r->by[i]);
  g_free (r);
}

/* Rows of drills (one per armed desk; drill_id > 0: that drill only) or
 * of real incidents, in [since_us, until_us) of the drill's window start
 * or the incident's alert; NULL on a database error. */
static GPtrArray *
report_rows (PanelDrills *self, gboolean drills, gint64 since_us, gint64 until_us, gint64 drill_id)
{
  /* The first console that showed the alert: the earliest alert-shown. */
  static const char shown[] =
    "(SELECT e.at_wall_us FROM events e WHERE e.incident_id = i.id AND e.kind = 'alert-shown' "
    " ORDER BY e.at_wall_us, e.id LIMIT 1), "
    "(SELECT e.actor FROM events e WHERE e.incident_id = i.id AND e.kind = 'alert-shown' "
    " ORDER BY e.at_wall_us, e.id LIMIT 1), ";
  g_autofree char *sql = drills
    ? g_strconcat ("SELECT d.id, dd.desk_id, coalesce (k.name, dd.desk_id), i.id, "
                   "d.window_start_us, i.opened_wall_us, i.alerted_at_us, ", shown,
                   "i.acknowledged_at_us, i.acknowledged_by, dd.arrived_at_us, dd.arrived_by, "
                   "i.resolved_at_us, i.resolved_by "
                   "FROM drill_desks dd JOIN drills d ON d.id = dd.drill_id "
                   "LEFT JOIN incidents i ON i.id = dd.incident_id "
                   "LEFT JOIN desks k ON k.id = dd.desk_id "
                   "WHERE (?1 IS NULL OR d.window_start_us >= ?1) "
                   "AND (?2 IS NULL OR d.window_start_us < ?2) AND (?3 = 0 OR d.id = ?3) "
                   "ORDER BY d.id, dd.desk_id LIMIT ?4", NULL)
    : g_strconcat ("SELECT 0, i.desk_id, coalesce (k.name, i.desk_id), i.id, "
                   "i.alerted_at_us, i.opened_wall_us, i.alerted_at_us, ", shown,
                   "i.acknowledged_at_us, i.acknowledged_by, NULL, NULL, "
                   "i.resolved_at_us, i.resolved_by "
                   "FROM incidents i LEFT JOIN desks k ON k.id = i.desk_id "
                   "WHERE i.is_drill = 0 AND (?1 IS NULL OR i.alerted_at_us >= ?1) "
                   "AND (?2 IS NULL OR i.alerted_at_us < ?2) AND ?3 = ?3 "
                   "ORDER BY i.id LIMIT ?4", NULL);
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (self->db, sql, NULL);
  if (stmt == NULL)
    return NULL;
  if (since_us >= 0)
    sqlite3_bind_int64 (stmt, 1, since_us);
  if (until_us >= 0)
    sqlite3_bind_int64 (stmt, 2, until_us);
  sqlite3_bind_int64 (stmt, 3, drill_id);
  sqlite3_bind_int64 (stmt, 4, MAX_REPORT_ROWS + 1);  /* one more: to tell it was cut */
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func (report_row_free);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      ReportRow *r = g_new0 (ReportRow, 1);
      r->drill_id = sqlite3_column_int64 (stmt, 0);
      r->desk_id = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
      r->desk_name = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
      r->incident_id = sqlite3_column_int64 (stmt, 3);
      r->window_start_us = sqlite3_column_int64 (stmt, 4);
      /* columns: 5 pressed, 6 alerted, 7/8 shown at/by, 9/10 ack, 11/12 arrived, 13/14 resolved */
      static const int at_col[] = { 5, 6, 7, 9, 11, 13 };
      for (guint s = 0; s < N_STEPS; s++)
        {
          r->has[s] = sqlite3_column_type (stmt, at_col[s]) != SQLITE_NULL;
          r->at[s] = sqlite3_column_int64 (stmt, at_col[s]);
          if (step_by[s] != NULL && sqlite3_column_type (stmt, at_col[s] + 1) != SQLITE_NULL)
            r->by[s] = g_strdup ((const char *) sqlite3_column_text (stmt, at_col[s] + 1));
        }
      if (r->has[PRESSED])
        {
          g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local (r->at[PRESSED] /
                                                                      G_USEC_PER_SEC);
          r->month = dt != NULL ? g_date_time_format (dt, "%Y-%m") : NULL;
        }
      g_ptr_array_add (rows, r);
    }
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&rows);
}

static gboolean
row_figure (ReportRow *r, guint step, gint64 *out)
{
  if (!r->has[PRESSED] || !r->has[step])
    return FALSE;
  *out = r->at[step] - r->at[PRESSED];
  return TRUE;
}

static void
add_report_row (JsonBuilder *b, ReportRow *r)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "drill_id");
  if (r->drill_id > 0)
    json_builder_add_int_value (b, r->drill_id);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "desk_id");
  json_builder_add_string_value (b, r->desk_id);
  json_builder_set_member_name (b, "desk_name");
  json_builder_add_string_value (b, r->desk_name);
  json_builder_set_member_name (b, "incident_id");
  if (r->incident_id > 0)
    json_builder_add_int_value (b, r->incident_id);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "month");
  json_builder_add_string_value (b, r->month);
  for (guint s = 0; s < N_STEPS; s++)
    {
      json_builder_set_member_name (b, step_at[s]);
      if (r->has[s])
        json_builder_add_int_value (b, r->at[s]);
      else
        json_builder_add_null_value (b);
      if (step_by[s] != NULL)
        {
          json_builder_set_member_name (b, step_by[s]);
          json_builder_add_string_value (b, r->by[s]);
        }
    }
  for (guint s = ALERTED; s < N_STEPS; s++)
    {
      gint64 v;
      json_builder_set_member_name (b, figure[s]);
      if (row_figure (r, s, &v))
        json_builder_add_int_value (b, v);
      else
        json_builder_add_null_value (b);
    }
  json_builder_end_object (b);
}

static int
cmp_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

static int
cmp_key (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* Groups rows by key (desk, site or month): count, and the median of each
 * figure (the mean of the two middle values for an even count, rounded
 * down). */
static void
add_trend (JsonBuilder *b, GPtrArray *rows, const char *by, const char *site_name)
{
  g_autoptr (GPtrArray) keys = g_ptr_array_new ();
  for (guint i = 0; i < rows->len; i++)
    {
      ReportRow *r = rows->pdata[i];
      const char *key = g_str_equal (by, "desk") ? r->desk_id
                        : g_str_equal (by, "site") ? site_name : r->month;
      if (key != NULL && !g_ptr_array_find_with_equal_func (keys, key, g_str_equal, NULL))
        g_ptr_array_add (keys, (gpointer) key);
    }
  g_ptr_array_sort (keys, cmp_key);
  json_builder_set_member_name (b, by);
  json_builder_begin_array (b);
  for (guint k = 0; k < keys->len; k++)
    {
      const char *label = keys->pdata[k];
      guint armed = 0, pressed = 0;
      GArray *values[N_STEPS];
      for (guint s = 0; s < N_STEPS; s++)
        values[s] = g_array_new (FALSE, FALSE, sizeof (gint64));
      for (guint i = 0; i < rows->len; i++)
        {
          ReportRow *r = rows->pdata[i];
          const char *key = g_str_equal (by, "desk") ? r->desk_id
                            : g_str_equal (by, "site") ? site_name : r->month;
          if (g_strcmp0 (key, keys->pdata[k]) != 0)
            continue;
          if (g_str_equal (by, "desk"))
            label = r->desk_name;
          armed++;
          pressed += r->has[PRESSED];
          for (guint s = ALERTED; s < N_STEPS; s++)
            {
              gint64 v;
              if (row_figure (r, s, &v))
                g_array_append_val (values[s], v);
            }
        }
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "key");
      json_builder_add_string_value (b, keys->pdata[k]);
      json_builder_set_member_name (b, "label");
      json_builder_add_string_value (b, label);
      json_builder_set_member_name (b, "rows");
      json_builder_add_int_value (b, armed);
      json_builder_set_member_name (b, "pressed");
      json_builder_add_int_value (b, pressed);
      for (guint s = ALERTED; s < N_STEPS; s++)
        {
          g_autofree char *name = g_strdup_printf ("median_%s", figure[s]);
          json_builder_set_member_name (b, name);
          GArray *v = values[s];
          if (v->len == 0)
            {
              json_builder_add_null_value (b);
              continue;
            }
          g_array_sort (v, cmp_gint64);
          gint64 *x = (gint64 *) v->data;
          json_builder_add_int_value (b, v->len % 2 ? x[v->len / 2]
                                         : (x[v->len / 2 - 1] + x[v->len / 2]) / 2);
        }
      for (guint s = 0; s < N_STEPS; s++)
        g_array_unref (values[s]);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

/* kind, since_us, until_us from the query; answers 400 itself. */
static gboolean
report_query (SoupServerMessage *msg, GHashTable *query, gboolean *out_drills, gint64 *since_us,
              gint64 *until_us)
{
  static const char *const known[] = { "kind", "since_us", "until_us", NULL };
  *since_us = *until_us = -1;
  *out_drills = TRUE;
  if (query == NULL)
    return TRUE;
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, query);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (!g_strv_contains (known, key))
      {
        bad_request (msg, "unknown parameter \"%.64s\" (kind, since_us, until_us)", (char *) key);
        return FALSE;
      }
  const char *kind = g_hash_table_lookup (query, "kind");
  const char *since = g_hash_table_lookup (query, "since_us");
  const char *until = g_hash_table_lookup (query, "until_us");
  if (kind != NULL && !g_str_equal (kind, "drill") && !g_str_equal (kind, "real"))
    {
      bad_request (msg, "kind is drill or real");
      return FALSE;
    }
  if ((since != NULL && !g_ascii_string_to_signed (since, 10, 0, G_MAXINT64, since_us, NULL)) ||
      (until != NULL && !g_ascii_string_to_signed (until, 10, 0, G_MAXINT64, until_us, NULL)))
    {
      bad_request (msg, "since_us and until_us are times in microseconds since 1970");
      return FALSE;
    }
  *out_drills = kind == NULL || g_str_equal (kind, "drill");
  return TRUE;
}

static void
send_report (PanelDrills *self, SoupServerMessage *msg, GHashTable *query)
{
  gboolean drills;
  gint64 since, until;
  if (!report_query (msg, query, &drills, &since, &until))
    return;
  g_autoptr (GPtrArray) rows = report_rows (self, drills, since, until, 0);
  if (rows == NULL)
    return panel_console_send_db_error (msg, self->db, "reading the report");
  gboolean truncated = rows->len > MAX_REPORT_ROWS;
  if (truncated)
    g_ptr_array_set_size (rows, MAX_REPORT_ROWS);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, drills ? "drill" : "real");
  json_builder_set_member_name (b, "site");
  json_builder_add_string_value (b, self->site_name);
  json_builder_set_member_name (b, "truncated");
  json_builder_add_boolean_value (b, truncated);
  json_builder_set_member_name (b, "rows");
  json_builder_begin_array (b);
  for (guint i = 0; i < rows->len; i++)
    add_report_row (b, rows->pdata[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "trends");
  json_builder_begin_object (b);
  add_trend (b, rows, "desk", self->site_name);
  add_trend (b, rows, "site", self->site_name);
  add_trend (b, rows, "month", self->site_name);
  json_builder_end_object (b);
  json_builder_end_object (b);
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

/* One CSV field (RFC 4180); a leading = + - @ is neutralised so that a
 * spreadsheet does not run a desk name as a formula. */
static void
csv_field (GString *out, const char *text, gboolean last)
{
  if (text == NULL)
    text = "";
  gboolean quote = strpbrk (text, ",\"\r\n") != NULL || strchr ("=+-@", text[0]) != NULL;
  if (quote)
    {
      g_string_append_c (out, '"');
      if (*text != '\0' && strchr ("=+-@", text[0]) != NULL)
        g_string_append_c (out, '\'');
      for (const char *c = text; *c; c++)
        {
          if (*c == '"')
            g_string_append_c (out, '"');
          g_string_append_c (out, *c);
        }
      g_string_append_c (out, '"');
    }
  else
    g_string_append (out, text);
  g_string_append (out, last ? "\r\n" : ",");
}

static char *
iso_time (gboolean has, gint64 us)
{
  if (!has)
    return NULL;
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  if (dt == NULL)
    return NULL;
  g_autofree char *base = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%06" G_GINT64_FORMAT "Z", base, us % G_USEC_PER_SEC);
}

static void
export_report (PanelDrills *self, SoupServerMessage *msg, PanelSession *session,
               GHashTable *query)
{
  gboolean drills;
  gint64 since, until;
  if (!report_query (msg, query, &drills, &since, &until))
    return;
  g_autoptr (GPtrArray) rows = report_rows (self, drills, since, until, 0);
  if (rows == NULL)
    return panel_console_send_db_error (msg, self->db, "reading the report");
  if (rows->len > MAX_REPORT_ROWS)
    g_ptr_array_set_size (rows, MAX_REPORT_ROWS);
  g_autoptr (GString) csv = g_string_new (NULL);
  static const char *const header[] = {
    "kind", "drill", "desk_id", "desk_name", "incident", "pressed_at", "alert_received_at",
    "shown_at", "shown_by", "acknowledged_at", "acknowledged_by", "arrived_at", "arrived_by",
    "resolved_at", "resolved_by", "press_to_alert_s", "press_to_shown_s", "press_to_ack_s",
    "press_to_arrival_s", "press_to_resolved_s", NULL };
  for (guint i = 0; header[i] != NULL; i++)
    csv_field (csv, header[i], header[i + 1] == NULL);
  for (guint i = 0; i < rows->len; i++)
    {
      ReportRow *r = rows->pdata[i];
      g_autofree char *drill = r->drill_id > 0 ? g_strdup_printf ("%" G_GINT64_FORMAT, r->drill_id)
                                               : NULL;
      g_autofree char *incident = r->incident_id > 0
        ? g_strdup_printf ("%" G_GINT64_FORMAT, r->incident_id) : NULL;
      csv_field (csv, drills ? "drill" : "real", FALSE);
      csv_field (csv, drill, FALSE);
      csv_field (csv, r->desk_id, FALSE);
      csv_field (csv, r->desk_name, FALSE);
      csv_field (csv, incident, FALSE);
      for (guint s = 0; s < N_STEPS; s++)
        {
          g_autofree char *at = iso_time (r->has[s], r->at[s]);
          csv_field (csv, at, FALSE);
          if (step_by[s] != NULL)
            csv_field (csv, r->by[s], FALSE);
        }
      for (guint s = ALERTED; s < N_STEPS; s++)
        {
          gint64 v;
          g_autofree char *text = row_figure (r, s, &v)
            ? g_strdup_printf ("%s%" G_GINT64_FORMAT ".%06" G_GINT64_FORMAT, v < 0 ? "-" : "",
                               ABS (v) / G_USEC_PER_SEC, ABS (v) % G_USEC_PER_SEC)
            : NULL;
          /* numbers are never quoted: bypass the formula guard for "-" */
          if (text != NULL)
            g_string_append (csv, text);
          g_string_append (csv, s + 1 == N_STEPS ? "\r\n" : ",");
        }
    }
  g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
  ansim_json_builder_add_string (json, "kind", drills ? "drill" : "real");
  ansim_json_builder_add_uint (json, "rows", rows->len);
  ansim_json_builder_add_int (json, "since_us", since);
  ansim_json_builder_add_int (json, "until_us", until);
  g_autofree char *detail = ansim_json_builder_end (json);
  if (!audit (self, msg, session, PANEL_AUDIT_REPORT_EXPORTED, drills ? "drill report"
                                                                      : "incident report", detail))
    return audit_failed (msg);
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  g_autofree char *disposition = g_strdup_printf ("attachment; filename=\"ansim-%s-report.csv\"",
                                                  drills ? "drill" : "incident");
  soup_message_headers_replace (h, "Content-Disposition", disposition);
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/csv; charset=utf-8", SOUP_MEMORY_COPY, csv->str,
                                    csv->len);
}

/* GET /api/drills/ID: the drill and its report rows. */
static void
show_drill (PanelDrills *self, SoupServerMessage *msg, gint64 id)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_array (b);
  if (!add_drills (self, b, id))
    return panel_console_send_db_error (msg, self->db, "reading the drill");
  json_builder_end_array (b);
  g_autoptr (JsonNode) list = json_builder_get_root (b);
  if (json_array_get_length (json_node_get_array (list)) == 0)
    return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such drill");
  g_autoptr (GPtrArray) rows = report_rows (self, TRUE, -1, -1, id);
  if (rows == NULL)
    return panel_console_send_db_error (msg, self->db, "reading the report");
  g_autoptr (JsonBuilder) out = json_builder_new ();
  json_builder_begin_object (out);
  json_builder_set_member_name (out, "drill");
  json_builder_add_value (out, json_node_copy (json_array_get_element (json_node_get_array (list), 0)));
  json_builder_set_member_name (out, "report");
  json_builder_begin_array (out);
  for (guint i = 0; i < rows->len; i++)
    add_report_row (out, rows->pdata[i]);
  json_builder_end_array (out);
  json_builder_end_object (out);
  panel_console_send_json (msg, SOUP_STATUS_OK, out);
}

/* ---- routes ------------------------------------------------------------------ */

static void
handle_list (PanelHttpRequest *req)
{
  list_drills (req->user_data, req->msg);
}

static void
handle_arm (PanelHttpRequest *req)
{
  arm_drill (req->user_data, req->msg, req->session);
}

static void
handle_show (PanelHttpRequest *req)
{
  show_drill (req->user_data, req->msg, req->ids[0]);
}

static void
handle_arrival (PanelHttpRequest *req)
{
  act_on_drill (req->user_data, req->msg, req->session, req->ids[0], ARRIVAL);
}

static void
handle_end (PanelHttpRequest *req)
{
  act_on_drill (req->user_data, req->msg, req->session, req->ids[0], END);
}

static void
handle_list_schedule (PanelHttpRequest *req)
{
  list_schedule (req->user_data, req->msg);
}

static void
handle_set_schedule (PanelHttpRequest *req)
{
  set_schedule (req->user_data, req->msg, req->session);
}

static void
handle_remove_schedule (PanelHttpRequest *req)
{
  remove_schedule (req->user_data, req->msg, req->session, req->ids[0]);
}

static void
handle_report (PanelHttpRequest *req)
{
  send_report (req->user_data, req->msg, req->query);
}

static void
handle_export_report (PanelHttpRequest *req)
{
  export_report (req->user_data, req->msg, req->session, req->query);
}

#define CONSOLE PANEL_CALLER_CONSOLE

static const PanelRoute routes[] = {
  { PANEL_HTTP_GET, "/api/drills", CONSOLE, READ_ROLES, 0, handle_list },
  { PANEL_HTTP_POST, "/api/drills", CONSOLE, RUN_ROLES, 0, handle_arm },
  { PANEL_HTTP_GET, "/api/drills/{drill-id}", CONSOLE, READ_ROLES, 0, handle_show },
  { PANEL_HTTP_POST, "/api/drills/{drill-id}/arrival", CONSOLE, RUN_ROLES, 0, handle_arrival },
  { PANEL_HTTP_POST, "/api/drills/{drill-id}/end", CONSOLE, RUN_ROLES, 0, handle_end },
  { PANEL_HTTP_GET, "/api/drills/schedule", CONSOLE, READ_ROLES, 0, handle_list_schedule },
  { PANEL_HTTP_POST, "/api/drills/schedule", CONSOLE, RUN_ROLES, 0, handle_set_schedule },
  { PANEL_HTTP_POST, "/api/drills/schedule/{schedule-id}/remove", CONSOLE, RUN_ROLES, 0,
    handle_remove_schedule },
  { PANEL_HTTP_GET, "/api/reports", CONSOLE, READ_ROLES, 0, handle_report },
  { PANEL_HTTP_GET, "/api/reports/export", CONSOLE, READ_ROLES, 0, handle_export_report },
};

PanelDrills *
panel_drills_new (PanelHttp *http, sqlite3 *db, PanelConsole *console, const char *site_name)
{
  PanelDrills *self = g_new0 (PanelDrills, 1);
  self->db = db;
  self->console = console;
  self->site_name = g_strdup (site_name);
  panel_http_add_routes (http, routes, G_N_ELEMENTS (routes), self);
  return self;
}

void
panel_drills_free (PanelDrills *self)
{
  if (self == NULL)
    return;
  g_free (self->site_name);
  g_free (self);
}
