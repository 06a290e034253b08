/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the console's routes for drills (모의훈련; API in
 * docs/console.md): arming a drill for desks and a time window, arrival
 * on scene, the end of a drill, and the drill schedule. The database side
 * and the tag ingest puts on a press are in drill-db.c, the response-time
 * reports in reports.c. */
#include "drills.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "json-event.h"
#include "reports.h"

#define READ_ROLES (PANEL_ROLE_TRAINER | PANEL_ROLE_ADMIN | PANEL_ROLE_AUDITOR)
#define RUN_ROLES (PANEL_ROLE_TRAINER | PANEL_ROLE_ADMIN)
#define MAX_DRILL_DESKS 100
#define MAX_NOTE_CHARS 2000
#define DAY_US (24 * G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC)

/* ---- answers -------------------------------------------------------------- */

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
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64 || json_node_get_int (node) < 0)
    {
      panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                              "%s must be a time in microseconds since 1970 (an integer)", name);
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
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING
      || g_utf8_strlen (json_node_get_string (node), -1) > max)
    {
      panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                              "%s must be text of at most %ld characters", name, max);
      return FALSE;
    }
  *out = json_node_get_string (node);
  if (**out == '\0')
    *out = NULL;
  return TRUE;
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
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "SELECT id, armed_by, armed_at_us, window_start_us, window_end_us, note, ended_by, "
    "ended_at_us FROM drills WHERE ?1 = 0 OR id = ?1 ORDER BY id DESC LIMIT 200",
    NULL);
  g_autoptr (sqlite3_stmt) desks = ansim_db_prepare (
    self->db,
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
list_drills (PanelHttpRequest *req)
{
  PanelDrills *self = req->user_data;
  SoupServerMessage *msg = req->msg;
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
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (self->db, "SELECT id, name FROM desks ORDER BY id", NULL);
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
  json_builder_add_value (out,
                          json_node_copy (json_array_get_element (json_node_get_array (list), 0)));
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
      return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", error->message);
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
arm_drill (PanelHttpRequest *req)
{
  PanelDrills *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  PanelSession *session = req->session;
  static const char *const members[] = { "desks", "start_us", "end_us", "note", NULL };
  g_autoptr (JsonObject) body = panel_console_read_json_object (msg);
  if (body == NULL || !panel_http_only_members (msg, body, members))
    return;
  gint64 start = 0, end = 0;
  const char *note = NULL;
  if (!int_member (msg, body, "start_us", &start) || !int_member (msg, body, "end_us", &end)
      || !text_member (msg, body, "note", MAX_NOTE_CHARS, &note))
    return;
  JsonNode *desks_node = json_object_get_member (body, "desks");
  if (desks_node == NULL || !JSON_NODE_HOLDS_ARRAY (desks_node)
      || json_array_get_length (json_node_get_array (desks_node)) > MAX_DRILL_DESKS)
    return panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                   "desks must be a list of 1 to %d desk ids", MAX_DRILL_DESKS);
  JsonArray *desks = json_node_get_array (desks_node);
  g_autoptr (GPtrArray) ids = g_ptr_array_new ();
  for (guint i = 0; i < json_array_get_length (desks); i++)
    {
      JsonNode *n = json_array_get_element (desks, i);
      if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
        return panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                       "desks must be a list of desk ids (text)");
      g_ptr_array_add (ids, (gpointer) json_node_get_string (n));
    }
  g_autoptr (GError) error = NULL;
  gint64 id = 0;
  if (!panel_drill_arm (self->db, (const char *const *) ids->pdata, ids->len, start, end, note,
                        session->user, panel_role_to_string (session->role), client_of (msg), &id,
                        &error))
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
      if (body == NULL
          || !panel_http_only_members (msg, body,
                                       action == ARRIVAL ? arrival_members : end_members))
        return;
      if (action == ARRIVAL)
        {
          if (!text_member (msg, body, "desk", 64, &desk))
            return;
          if (desk == NULL)
            return panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                           "desk (the desk whose press was answered) is required");
          desk = desk_owned = g_strdup (desk); /* outlives body */
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
  g_autoptr (sqlite3_stmt) drill =
    ansim_db_prepare (self->db, "SELECT ended_at_us FROM drills WHERE id = ?1", NULL);
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
    g_autoptr (sqlite3_stmt) dd = ansim_db_prepare (
      self->db,
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
        return panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                       "desk \"%s\" is not part of drill %" G_GINT64_FORMAT, desk,
                                       id);
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
    g_autoptr (sqlite3_stmt) upd =
      ansim_db_prepare (self->db,
                        "UPDATE drill_desks SET arrived_by = ?3, arrived_at_us = ?4 "
                        "WHERE drill_id = ?1 AND desk_id = ?2",
                        NULL);
    /* In the incident's timeline too. */
    g_autoptr (sqlite3_stmt) log = ansim_db_prepare (
      self->db,
      "INSERT INTO events (at_wall_us, at_mono_us, kind, desk_id, trigger, incident_id, actor, "
      "detail) SELECT ?1, ?2, 'drill-arrival', desk_id, trigger, id, ?4, json (?5) "
      "FROM incidents WHERE id = ?3",
      NULL);
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
  if (!panel_console_audit_or_fail (self->console, msg, session, PANEL_AUDIT_DRILL_ARRIVAL, target,
                                    detail))
    {
      ansim_db_rollback (self->db);
      return;
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
list_schedule (PanelHttpRequest *req)
{
  PanelDrills *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  /* The last drill of a desk is its latest drill press; for the site
   * (desk_id NULL), the latest drill press anywhere. */
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "SELECT s.id, s.desk_id, coalesce (k.name, s.desk_id) AS desk_name, s.every_days, "
    "s.created_by, s.created_at_us, "
    "(SELECT max (i.opened_wall_us) FROM drill_desks dd JOIN incidents i ON i.id = dd.incident_id "
    " WHERE s.desk_id IS NULL OR dd.desk_id = s.desk_id) AS last_drill_at_us "
    "FROM drill_schedules s LEFT JOIN desks k ON k.id = s.desk_id "
    "ORDER BY s.desk_id IS NOT NULL, s.desk_id",
    NULL);
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
      gint64 due =
        (never ? sqlite3_column_int64 (stmt, 5) : sqlite3_column_int64 (stmt, 6)) + every;
      gint64 soon = MIN (14 * DAY_US, every / 4);
      json_builder_set_member_name (b, "due_at_us");
      json_builder_add_int_value (b, due);
      json_builder_set_member_name (b, "status");
      json_builder_add_string_value (b, now >= due          ? "overdue"
                                        : now >= due - soon ? "due-soon"
                                                            : "ok");
      json_builder_end_object (b);
    }
  if (rc != SQLITE_DONE)
    return panel_console_send_db_error (msg, self->db, "reading the schedule");
  json_builder_end_array (b);
  json_builder_end_object (b);
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

/* Audits a schedule change (inside its transaction), commits it and
 * answers the schedule as it now stands. */
static void
commit_schedule_change (PanelHttpRequest *req, const char *action, const char *target,
                        gint64 every_days)
{
  PanelDrills *self = req->user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
  ansim_json_builder_add_int (json, "every_days", every_days);
  g_autofree char *detail = ansim_json_builder_end (json);
  if (!panel_console_audit_or_fail (self->console, req->msg, req->session, action, target, detail))
    {
      ansim_db_rollback (self->db);
      return;
    }
  if (!ansim_db_commit (self->db, &error))
    return panel_console_send_db_error (req->msg, self->db, "committing");
  list_schedule (req);
}

/* POST /api/drills/schedule {"desk": ID or null (the whole site), "every_days"} */
static void
set_schedule (PanelHttpRequest *req)
{
  PanelDrills *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  PanelSession *session = req->session;
  static const char *const members[] = { "desk", "every_days", NULL };
  g_autoptr (JsonObject) body = panel_console_read_json_object (msg);
  if (body == NULL || !panel_http_only_members (msg, body, members))
    return;
  const char *desk = NULL;
  if (!text_member (msg, body, "desk", 64, &desk))
    return;
  JsonNode *every_node = json_object_get_member (body, "every_days");
  if (every_node == NULL || !JSON_NODE_HOLDS_VALUE (every_node)
      || json_node_get_value_type (every_node) != G_TYPE_INT64 || json_node_get_int (every_node) < 1
      || json_node_get_int (every_node) > 3660)
    return panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                   "every_days must be a whole number of days from 1 to 3660 "
                                   "(e.g. 91 for quarterly)");
  gint64 every = json_node_get_int (every_node);
  g_autoptr (GError) error = NULL;
  if (!ansim_db_begin (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "beginning a transaction");
  g_autoptr (sqlite3_stmt) known =
    ansim_db_prepare (self->db, "SELECT 1 FROM desks WHERE id = ?1", NULL);
  g_autoptr (sqlite3_stmt) del =
    ansim_db_prepare (self->db, "DELETE FROM drill_schedules WHERE desk_id IS ?1", NULL);
  g_autoptr (sqlite3_stmt) ins = ansim_db_prepare (
    self->db,
    "INSERT INTO drill_schedules (desk_id, every_days, created_by, created_at_us) "
    "VALUES (?1, ?2, ?3, ?4)",
    NULL);
  if (known == NULL || del == NULL || ins == NULL)
    goto db_error;
  if (desk != NULL)
    {
      sqlite3_bind_text (known, 1, desk, -1, SQLITE_STATIC);
      int rc = sqlite3_step (known);
      if (rc == SQLITE_DONE)
        {
          ansim_db_rollback (self->db);
          return panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                         "unknown desk \"%s\"", desk);
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
    return commit_schedule_change (req, PANEL_AUDIT_DRILL_SCHEDULE_SET, target, every);
  }

db_error:
  ansim_db_rollback (self->db);
  panel_console_send_db_error (msg, self->db, "setting the schedule");
}

static void
remove_schedule (PanelHttpRequest *req)
{
  PanelDrills *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  gint64 id = req->ids[0];
  g_autoptr (GError) error = NULL;
  if (!ansim_db_begin (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "beginning a transaction");
  g_autoptr (sqlite3_stmt) del = ansim_db_prepare (
    self->db,
    "DELETE FROM drill_schedules WHERE id = ?1 RETURNING coalesce ('desk ' || desk_id, 'site'), "
    "every_days",
    NULL);
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
    gint64 every = sqlite3_column_int64 (del, 1);
    if (sqlite3_step (del) != SQLITE_DONE)
      goto db_error;
    g_clear_pointer (&del, sqlite3_finalize);
    return commit_schedule_change (req, PANEL_AUDIT_DRILL_SCHEDULE_REMOVED, target, every);
  }

db_error:
  ansim_db_rollback (self->db);
  panel_console_send_db_error (msg, self->db, "removing the schedule entry");
}
/* GET /api/drills/ID: the drill and its report rows. */
static void
show_drill (PanelHttpRequest *req)
{
  PanelDrills *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  gint64 id = req->ids[0];
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
  json_builder_add_value (out,
                          json_node_copy (json_array_get_element (json_node_get_array (list), 0)));
  json_builder_set_member_name (out, "report");
  json_builder_begin_array (out);
  if (!panel_reports_add_drill (self->db, out, id))
    return panel_console_send_db_error (msg, self->db, "reading the report");
  json_builder_end_array (out);
  json_builder_end_object (out);
  panel_console_send_json (msg, SOUP_STATUS_OK, out);
}

/* ---- routes ------------------------------------------------------------------ */

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

#define CONSOLE PANEL_CALLER_CONSOLE

static const PanelRoute routes[] = {
  { PANEL_HTTP_GET, "/api/drills", CONSOLE, READ_ROLES, 0, list_drills },
  { PANEL_HTTP_POST, "/api/drills", CONSOLE, RUN_ROLES, 0, arm_drill },
  { PANEL_HTTP_GET, "/api/drills/{drill-id}", CONSOLE, READ_ROLES, 0, show_drill },
  { PANEL_HTTP_POST, "/api/drills/{drill-id}/arrival", CONSOLE, RUN_ROLES, 0, handle_arrival },
  { PANEL_HTTP_POST, "/api/drills/{drill-id}/end", CONSOLE, RUN_ROLES, 0, handle_end },
  { PANEL_HTTP_GET, "/api/drills/schedule", CONSOLE, READ_ROLES, 0, list_schedule },
  { PANEL_HTTP_POST, "/api/drills/schedule", CONSOLE, RUN_ROLES, 0, set_schedule },
  { PANEL_HTTP_POST, "/api/drills/schedule/{schedule-id}/remove", CONSOLE, RUN_ROLES, 0,
    remove_schedule },
};

PanelDrills *
panel_drills_new (PanelHttp *http, sqlite3 *db, PanelConsole *console, const char *site_name)
{
  return panel_drill_site_new (http, routes, G_N_ELEMENTS (routes), db, console, site_name);
}

void
panel_drills_free (PanelDrills *self)
{
  panel_drill_site_free (self);
}
