/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The devices page and the 장치 이상 device alerts (API in
 * docs/console.md): the offline check of desk devices, the path-down
 * reports their heartbeats carry, GET /api/devices, GET
 * /api/devices/alerts and acknowledging one. An alert, its event and its
 * webhooks are written in one transaction, and the consoles are told only
 * after it committed; a device's offline alert is raised once per outage,
 * also across restarts (load_offline). */
#include "incidents-private.h"

#include "audit.h"
#include "db.h"

/* The device-offline webhook rows for the current row of check_devices. */
static gboolean
queue_device_offline (PanelIncidents *self, sqlite3_stmt *stmt, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "device");
  json_builder_add_string_value (b, (const char *) sqlite3_column_text (stmt, 0));
  json_builder_set_member_name (b, "desk");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, (const char *) sqlite3_column_text (stmt, 1));
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, (const char *) sqlite3_column_text (stmt, 2));
  json_builder_end_object (b);
  json_builder_set_member_name (b, "last_seen_at_us");
  json_builder_add_int_value (b, sqlite3_column_int64 (stmt, 3));
  json_builder_set_member_name (b, "offline_after_s");
  json_builder_add_int_value (b, self->offline_after_us / G_USEC_PER_SEC);
  json_builder_end_object (b);
  g_autoptr (JsonNode) data = json_builder_get_root (b);
  return panel_webhooks_emit (self->webhooks, self->db, "device-offline", data, error);
}

/* The 장치 이상 alert of an offline device: raised with its offline event,
 * cleared (not removed: someone must still acknowledge it) when the
 * device is back; in the caller's transaction. *alert_id: the device
 * alert's id, 0 if none. FALSE on a database error. */
static gboolean
device_alert_raise_or_clear (PanelIncidents *self, const char *device_id, const char *desk_id,
                             gboolean offline, gint64 now, gint64 *alert_id)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    offline ? "INSERT INTO device_alerts (device_id, desk_id, kind, raised_at_us) "
              "VALUES (?1, ?2, 'device-offline', ?3) RETURNING id"
            : "UPDATE device_alerts SET cleared_at_us = ?3 WHERE device_id = ?1 "
              "AND cleared_at_us IS NULL AND ?2 IS ?2 RETURNING id",
    NULL);
  int rc;

  *alert_id = 0;
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, device_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, desk_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, now);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    *alert_id = sqlite3_column_int64 (stmt, 0);
  return rc == SQLITE_DONE;
}

/* Raises (once) the alert of a desk device whose heartbeats stopped, and
 * notes its return. */
static gboolean
check_devices (gpointer user_data)
{
  PanelIncidents *self = user_data;
  gint64 now = g_get_real_time ();
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "SELECT d.id AS device, d.desk_id, coalesce (k.name, d.desk_id) AS desk_name, "
    "coalesce (d.last_seen_at_us, d.enrolled_at_us) AS last_seen_at_us "
    "FROM devices d LEFT JOIN desks k ON k.id = d.desk_id WHERE d.revoked_at_us IS NULL",
    NULL);
  if (stmt == NULL)
    return G_SOURCE_CONTINUE;
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      const char *id = (const char *) sqlite3_column_text (stmt, 0);
      gboolean offline = sqlite3_column_int64 (stmt, 3) < now - self->offline_after_us;
      if (offline == g_hash_table_contains (self->offline, id))
        continue;
      g_autoptr (JsonBuilder) b = json_builder_new ();
      panel_incidents_add_row (b, stmt);
      g_autoptr (JsonNode) node = json_builder_get_root (b);
      g_autofree char *detail = json_to_string (node, FALSE);
      const char *kind = offline ? "device-offline" : "device-online";
      g_autoptr (GError) error = NULL;
      if (!ansim_db_begin (self->db, &error))
        {
          g_warning ("cannot record %s of %s: %s", kind, id, error->message);
          continue; /* tried again at the next check */
        }
      gint64 device_alert = 0;
      if (!panel_incidents_log_event (self, kind, 0, NULL,
                                      (const char *) sqlite3_column_text (stmt, 1), detail)
          || !device_alert_raise_or_clear (self, id, (const char *) sqlite3_column_text (stmt, 1),
                                           offline, now, &device_alert)
          || (offline && !queue_device_offline (self, stmt, &error))
          || !ansim_db_commit (self->db, &error))
        {
          g_warning ("cannot record %s of %s: %s", kind, id,
                     error != NULL ? error->message : sqlite3_errmsg (self->db));
          ansim_db_rollback (self->db);
          continue; /* tried again at the next check */
        }
      if (offline)
        panel_webhooks_kick (self->webhooks);
      if (device_alert > 0)
        json_object_set_int_member (json_node_get_object (node), "device_alert", device_alert);
      if (offline)
        {
          g_hash_table_add (self->offline, g_strdup (id));
          g_warning ("device %s (desk %s) sent no heartbeat for %" G_GINT64_FORMAT " s", id,
                     (const char *) sqlite3_column_text (stmt, 2),
                     (gint64) ((now - sqlite3_column_int64 (stmt, 3)) / G_USEC_PER_SEC));
        }
      else
        {
          g_hash_table_remove (self->offline, id);
          g_message ("device %s is back online", id);
        }
      panel_console_publish (self->console, kind, node);
    }
  return G_SOURCE_CONTINUE;
}

/* A desk that lost its path to the panel (its recorder's supervision,
 * docs/recorder.md) says so in its heartbeats once the path is back:
 * recorder.path.last_down_us. Each such outage becomes one 장치 이상 alert
 * of kind path-down (raised at the desk's time of the outage, cleared when
 * the path came back), a path-down event and its webhooks, in one
 * transaction; the console gets it at once. While the path is down the
 * panel hears nothing: the device-offline alert covers that time. */
static void
check_path_reports (PanelIncidents *self)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "SELECT d.id AS device, d.desk_id, coalesce (k.name, d.desk_id) AS desk_name, "
    "json_extract (d.heartbeat, '$.recorder.path.last_down_us') AS down_at_us, "
    "CASE WHEN json_extract (d.heartbeat, '$.recorder.path.state') = 'up' "
    "THEN json_extract (d.heartbeat, '$.recorder.path.since_us') END AS restored_at_us "
    "FROM devices d LEFT JOIN desks k ON k.id = d.desk_id "
    "WHERE d.revoked_at_us IS NULL AND json_valid (d.heartbeat) "
    "AND json_type (d.heartbeat, '$.recorder.path.last_down_us') = 'integer' "
    "AND json_extract (d.heartbeat, '$.recorder.path.last_down_us') > 0 "
    "AND NOT EXISTS (SELECT 1 FROM device_alerts a WHERE a.device_id = d.id "
    "AND a.kind = 'path-down' AND a.raised_at_us = "
    "json_extract (d.heartbeat, '$.recorder.path.last_down_us'))",
    NULL);
  g_autoptr (GPtrArray) reports = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  if (stmt == NULL)
    return;
  /* Read first: a transaction cannot commit under a running statement. */
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      panel_incidents_add_row (b, stmt);
      g_ptr_array_add (reports, json_builder_get_root (b));
    }
  g_clear_pointer (&stmt, sqlite3_finalize);
  for (guint i = 0; i < reports->len; i++)
    {
      JsonNode *node = g_ptr_array_index (reports, i);
      JsonObject *o = json_node_get_object (node);
      const char *id = json_object_get_string_member (o, "device");
      const char *desk_id = json_object_get_string_member_with_default (o, "desk_id", NULL);
      g_autofree char *detail = json_to_string (node, FALSE);
      g_autoptr (GError) error = NULL;
      g_autoptr (sqlite3_stmt) ins = ansim_db_prepare (
        self->db,
        "INSERT INTO device_alerts (device_id, desk_id, kind, raised_at_us, cleared_at_us) "
        "VALUES (?1, ?2, 'path-down', ?3, ?4) RETURNING id",
        &error);
      gint64 alert_id = 0;
      if (ins == NULL || !ansim_db_begin (self->db, &error))
        {
          g_warning ("cannot record the path-down of %s: %s", id,
                     error != NULL ? error->message : sqlite3_errmsg (self->db));
          return; /* tried again at the next heartbeat */
        }
      sqlite3_bind_text (ins, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_text (ins, 2, desk_id, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (ins, 3, json_object_get_int_member (o, "down_at_us"));
      if (json_object_get_null_member (o, "restored_at_us"))
        sqlite3_bind_null (ins, 4);
      else
        sqlite3_bind_int64 (ins, 4, json_object_get_int_member (o, "restored_at_us"));
      if (sqlite3_step (ins) == SQLITE_ROW)
        alert_id = sqlite3_column_int64 (ins, 0);
      g_clear_pointer (&ins, sqlite3_finalize);
      if (alert_id == 0 || !panel_incidents_log_event (self, "path-down", 0, NULL, desk_id, detail)
          || !panel_webhooks_emit (self->webhooks, self->db, "path-down", node, &error)
          || !ansim_db_commit (self->db, &error))
        {
          g_warning ("cannot record the path-down of %s: %s", id,
                     error != NULL ? error->message : sqlite3_errmsg (self->db));
          ansim_db_rollback (self->db);
          return;
        }
      panel_webhooks_kick (self->webhooks);
      json_object_set_int_member (o, "device_alert", alert_id);
      g_warning ("device %s (desk %s) reports it could not reach the panel from %" G_GINT64_FORMAT,
                 id, json_object_get_string_member_with_default (o, "desk_name", "?"),
                 json_object_get_int_member (o, "down_at_us"));
      panel_console_publish (self->console, "path-down", node);
    }
}

/* After a restart: devices whose latest offline/online event says offline
 * were already alerted. */
static void
load_offline (PanelIncidents *self)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "SELECT json_extract (detail, '$.device'), kind FROM events WHERE id IN "
    "(SELECT max (id) FROM events WHERE kind IN ('device-offline', 'device-online') "
    " AND device_id IS NULL GROUP BY json_extract (detail, '$.device'))",
    NULL);
  if (stmt == NULL)
    return;
  while (sqlite3_step (stmt) == SQLITE_ROW)
    if (sqlite3_column_type (stmt, 0) == SQLITE_TEXT
        && g_str_equal ((const char *) sqlite3_column_text (stmt, 1), "device-offline"))
      g_hash_table_add (self->offline, g_strdup ((const char *) sqlite3_column_text (stmt, 0)));
}

static const char device_alert_select[] =
  "SELECT a.id, a.kind, a.device_id AS device, a.desk_id, "
  "coalesce (k.name, a.desk_id) AS desk_name, a.raised_at_us, a.cleared_at_us, "
  "a.acknowledged_by, a.acknowledged_at_us FROM device_alerts a "
  "LEFT JOIN desks k ON k.id = a.desk_id ";

/* The device alert's acknowledgement and its audit entry; FALSE when the
 * answer (an error) was sent. */
static gboolean
acknowledge_device_alert (PanelIncidents *self, SoupServerMessage *msg, PanelSession *session,
                          gint64 id)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *target = g_strdup_printf ("device alert %" G_GINT64_FORMAT, id);
  if (!ansim_db_begin (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "beginning a transaction"), FALSE;
  g_autoptr (sqlite3_stmt) upd =
    ansim_db_prepare (self->db,
                      "UPDATE device_alerts SET acknowledged_by = ?2, acknowledged_at_us = ?3 "
                      "WHERE id = ?1 AND acknowledged_at_us IS NULL",
                      NULL);
  if (upd == NULL)
    goto db_error;
  sqlite3_bind_int64 (upd, 1, id);
  sqlite3_bind_text (upd, 2, session->user, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (upd, 3, g_get_real_time ());
  if (sqlite3_step (upd) != SQLITE_DONE)
    goto db_error;
  if (sqlite3_changes (self->db) != 1)
    {
      ansim_db_rollback (self->db);
      panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict",
                                "no such device alert, or it is already acknowledged");
      return FALSE;
    }
  if (!panel_console_audit_or_fail (self->console, msg, session, PANEL_AUDIT_ACKNOWLEDGED, target,
                                    NULL))
    {
      ansim_db_rollback (self->db);
      return FALSE;
    }
  if (!ansim_db_commit (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "committing"), FALSE;
  return TRUE;

db_error:
  ansim_db_rollback (self->db);
  panel_console_send_db_error (msg, self->db, "acknowledging the device alert");
  return FALSE;
}

/* GET /api/devices/alerts: the 장치 이상 alerts still listed (not both
 * acknowledged and cleared), newest first. */
static void
handle_device_alerts (PanelHttpRequest *req)
{
  PanelIncidents *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  g_autofree char *sql = g_strconcat (
    device_alert_select,
    "WHERE a.cleared_at_us IS NULL OR a.acknowledged_at_us IS NULL ORDER BY a.id DESC", NULL);
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (self->db, sql, NULL);
  if (stmt == NULL)
    return panel_console_send_db_error (msg, self->db, "listing device alerts");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  if (!panel_incidents_add_rows (b, "alerts", stmt))
    return panel_console_send_db_error (msg, self->db, "listing device alerts");
  json_builder_end_object (b);
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

/* POST /api/devices/alerts/ID/acknowledge: answers the alert as it is now
 * and tells every console. */
static void
handle_device_alert_acknowledge (PanelHttpRequest *req)
{
  PanelIncidents *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  gint64 id = req->ids[0];
  if (!acknowledge_device_alert (self, msg, req->session, id))
    return;
  g_autofree char *sql = g_strconcat (device_alert_select, "WHERE a.id = ?1", NULL);
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (self->db, sql, NULL);
  if (stmt == NULL)
    return panel_console_send_db_error (msg, self->db, "reading the device alert");
  sqlite3_bind_int64 (stmt, 1, id);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return panel_console_send_db_error (msg, self->db, "reading the device alert");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  panel_incidents_add_row (b, stmt);
  g_autoptr (JsonNode) node = json_builder_get_root (b);
  g_message ("device alert %" G_GINT64_FORMAT " acknowledged by %s", id, req->session->user);
  panel_console_publish (self->console, "device-alert-acknowledged", node);
  panel_console_send_json_node (msg, SOUP_STATUS_OK, node);
}

static void
handle_devices (PanelHttpRequest *req)
{
  PanelIncidents *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "SELECT d.id, d.desk_id, coalesce (k.name, d.desk_id) AS desk_name, d.fingerprint, "
    "d.enrolled_at_us, d.revoked_at_us, d.last_seen_at_us, "
    "d.revoked_at_us IS NULL AND d.last_seen_at_us >= ?1 AS online, "
    "json_extract (d.heartbeat, '$.wall_us') - d.last_seen_at_us AS clock_offset_us, "
    "json_extract (d.heartbeat, '$.disk_free_bytes') AS disk_free_bytes, "
    "json_extract (d.heartbeat, '$.queue_length') AS queue_length, "
    "json_extract (d.heartbeat, '$.recorder.sources') AS sources, "
    "json_extract (d.heartbeat, '$.recorder.error') AS recorder_error, "
    "(SELECT max (s.received_at_us) FROM segments s JOIN incidents i ON i.id = s.incident_id "
    " WHERE i.device_id = d.id) AS last_upload_at_us, "
    "d.heartbeat FROM devices d LEFT JOIN desks k ON k.id = d.desk_id ORDER BY d.desk_id, d.id",
    NULL);
  if (stmt == NULL)
    return panel_console_send_db_error (msg, self->db, "listing devices");
  sqlite3_bind_int64 (stmt, 1, g_get_real_time () - self->offline_after_us);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "offline_after_s");
  json_builder_add_int_value (b, self->offline_after_us / G_USEC_PER_SEC);
  if (!panel_incidents_add_rows (b, "devices", stmt))
    return panel_console_send_db_error (msg, self->db, "listing devices");
  json_builder_end_object (b);
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

void
panel_devices_on_heartbeat (PanelIncidents *self)
{
  if (g_hash_table_size (self->offline) > 0)
    check_devices (self);
  check_path_reports (self);
}

static const PanelRoute routes[] = {
  { PANEL_HTTP_GET, "/api/devices", CONSOLE, ACT_ROLES, 0, handle_devices },
  { PANEL_HTTP_GET, "/api/devices/alerts", CONSOLE, VIEW_ROLES, 0, handle_device_alerts },
  { PANEL_HTTP_POST, "/api/devices/alerts/{alert-id}/acknowledge", CONSOLE, ACT_ROLES, 0,
    handle_device_alert_acknowledge },
};

void
panel_devices_start (PanelIncidents *self, PanelHttp *http, AnsimConfig *config)
{
  gint64 after_s = ansim_config_get_int (config, "panel", "device_offline_after_s");
  self->offline_after_us = after_s * G_USEC_PER_SEC;
  self->offline = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  load_offline (self);
  panel_http_add_routes (http, routes, G_N_ELEMENTS (routes), self);
  /* Checked often enough that an offline desk is noticed within a quarter
   * of the limit (at least every 10 s). */
  self->check_id = g_timeout_add_seconds (CLAMP (after_s / 4, 1, 10), check_devices, self);
}
