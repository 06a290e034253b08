/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the console's incident and device routes (API in
 * docs/console.md): live alerts to every open console, acknowledge and
 * resolve (recorded in the incident, its timeline and the audit log; the
 * desk learns it from ingest's answers), notes, the incident list and
 * detail, the devices page and the offline-desk alert. */
#include "incidents.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "age.h"
#include "audit.h"
#include "db.h"
#include "drill-db.h"
#include "evidence.h"
#include "export.h"
#include "httpsig.h"
#include "json-event.h"

#define MAX_NOTE_CHARS 2000

struct _PanelIncidents {
  sqlite3 *db;
  PanelStore *store;
  PanelConsole *console;
  GPtrArray *identities; /* of AnsimAgeIdentity; NULL: no playback */
  gint64 offline_after_us;
  guint check_id;
  GHashTable *offline;       /* device ids whose offline alert was raised */
  PanelRetention *retention; /* legal holds; NULL until set */
  PanelWebhooks *webhooks;   /* NULL until set */
  PanelChannel *channel;     /* to the desks; NULL until set */
  gint64 escalate_after_us;
  guint escalate_id;
  GArray *escalation_hooks; /* of EscalationHook */
};

typedef struct {
  PanelEscalatedFunc func;
  gpointer user_data;
} EscalationHook;

/* Resolution categories (incidents.resolution). */
static const char *const categories[] = { "verbal-abuse",    "threat",  "assault",
                                          "property-damage", "medical", "false-alarm",
                                          "drill",           "other",   NULL };

static const char incident_select[] =
  "SELECT i.id, i.uuid, i.device_id, i.desk_id, coalesce (k.name, i.desk_id) AS desk_name, "
  "i.trigger, i.trigger_kind, i.is_drill, i.status, i.alerted_at_us, i.opened_wall_us, "
  "i.closed_wall_us, i.close_reason, i.acknowledged_by, i.acknowledged_at_us, i.resolved_by, "
  "i.resolved_at_us, i.resolution AS category, i.manifest_at_us, "
  "i.legal_hold_at_us IS NOT NULL AS legal_hold, i.legal_hold_at_us, i.legal_hold_by, "
  "i.legal_hold_reason, i.purge_started_at_us, i.alert_id, i.source, i.escalated_at_us, "
  "(SELECT count(*) FROM segments s WHERE s.incident_id = i.id AND s.kind = 'media') "
  "  AS segments_listed, "
  "(SELECT count(*) FROM segments s WHERE s.incident_id = i.id AND s.store_key IS NOT NULL) "
  "  AS segments_received "
  "FROM incidents i LEFT JOIN desks k ON k.id = i.desk_id ";

/* ---- JSON ------------------------------------------------------------- */

/* The current row as an object named by its columns; these columns are
 * booleans, and these hold JSON text embedded as JSON. */
static const char *const row_booleans[] = { "is_drill", "online", "legal_hold", NULL };
static const char *const row_embedded[] = { "detail", "heartbeat", "sources", NULL };

static void
add_row (JsonBuilder *b, sqlite3_stmt *stmt)
{
  panel_http_add_row (b, stmt, row_booleans, row_embedded);
}

/* Every row stmt gives as an array named name; FALSE on a database error
 * (the array is then incomplete). */
static gboolean
add_rows (JsonBuilder *b, const char *name, sqlite3_stmt *stmt)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    add_row (b, stmt);
  json_builder_end_array (b);
  return rc == SQLITE_DONE;
}

/* One incident as JSON (NULL: no such incident or a database error). */
static JsonNode *
incident_node (PanelIncidents *self, gint64 id)
{
  g_autofree char *sql = g_strconcat (incident_select, "WHERE i.id = ?1", NULL);
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (self->db, sql, NULL);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, id);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  add_row (b, stmt);
  return json_builder_get_root (b);
}

static void
publish_incident (PanelIncidents *self, const char *event, gint64 id, gint64 index)
{
  g_autoptr (JsonNode) node = incident_node (self, id);
  if (node == NULL)
    {
      g_warning ("cannot read incident %" G_GINT64_FORMAT " to publish it", id);
      return;
    }
  if (index >= 0)
    json_object_set_int_member (json_node_get_object (node), "index", index);
  panel_console_publish (self->console, event, node);
}

/* ---- events and offline desks --------------------------------------- */

/* A panel event (device_id NULL) in the site's log; inside the caller's
 * transaction when there is one. */
static gboolean
log_panel_event (PanelIncidents *self, const char *kind, gint64 incident_id, const char *actor,
                 const char *desk_id, const char *detail_json)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "INSERT INTO events (at_wall_us, at_mono_us, kind, desk_id, trigger, incident_id, actor, "
    "detail) VALUES (?1, ?2, ?3, coalesce (?4, (SELECT desk_id FROM incidents WHERE id = ?5)), "
    "(SELECT trigger FROM incidents WHERE id = ?5), ?5, ?6, ?7)",
    NULL);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, g_get_real_time ());
  sqlite3_bind_int64 (stmt, 2, g_get_monotonic_time ());
  sqlite3_bind_text (stmt, 3, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, desk_id, -1, SQLITE_STATIC);
  if (incident_id > 0)
    sqlite3_bind_int64 (stmt, 5, incident_id);
  sqlite3_bind_text (stmt, 6, actor, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 7, detail_json, -1, SQLITE_STATIC);
  return sqlite3_step (stmt) == SQLITE_DONE;
}

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
      add_row (b, stmt);
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
      if (!log_panel_event (self, kind, 0, NULL, (const char *) sqlite3_column_text (stmt, 1),
                            detail)
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
      add_row (b, stmt);
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
      if (alert_id == 0 || !log_panel_event (self, "path-down", 0, NULL, desk_id, detail)
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

/* ---- escalation -------------------------------------------------------- */

/* The one place an escalation is announced, after its commit: every open
 * console (all roles; events.c lets auditors' streams have this event
 * too) and every hook. The webhooks and the police bell are not hooks:
 * they are written in the escalation's transaction (check_escalations). */
static void
announce_escalation (PanelIncidents *self, gint64 alert_id)
{
  g_autoptr (JsonNode) node = incident_node (self, alert_id);
  if (node == NULL)
    {
      g_warning ("cannot read incident %" G_GINT64_FORMAT " to announce its escalation", alert_id);
      return;
    }
  g_warning ("alert %" G_GINT64_FORMAT " (desk %s) not acknowledged for %" G_GINT64_FORMAT
             " s: escalated",
             alert_id, json_object_get_string_member (json_node_get_object (node), "desk_name"),
             self->escalate_after_us / G_USEC_PER_SEC);
  panel_console_publish (self->console, "escalated", node);
  for (guint i = 0; i < self->escalation_hooks->len; i++)
    {
      EscalationHook *hook = &g_array_index (self->escalation_hooks, EscalationHook, i);
      hook->func (hook->user_data, alert_id, node);
    }
}

/* Escalates the alerts nobody acknowledged for escalate_after_s: marks
 * every incident of the alert, puts an escalated event on each timeline,
 * queues the "escalated" webhooks and (real incidents only) the desk's
 * police-bell message, in one transaction; then announces it. */
static gboolean
check_escalations (gpointer user_data)
{
  PanelIncidents *self = user_data;
  gint64 now = g_get_real_time ();
  g_autoptr (GArray) due = g_array_new (FALSE, FALSE, sizeof (gint64));
  {
    g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
      self->db,
      "SELECT DISTINCT alert_id FROM incidents WHERE status = 'open' AND alerted_at_us <= ?1 "
      "AND escalated_at_us IS NULL AND alert_id IS NOT NULL",
      NULL);
    if (stmt == NULL)
      return G_SOURCE_CONTINUE;
    sqlite3_bind_int64 (stmt, 1, now - self->escalate_after_us);
    while (sqlite3_step (stmt) == SQLITE_ROW)
      {
        gint64 alert = sqlite3_column_int64 (stmt, 0);
        g_array_append_val (due, alert);
      }
  }
  g_autofree char *detail = g_strdup_printf ("{\"after_s\":%" G_GINT64_FORMAT "}",
                                             self->escalate_after_us / G_USEC_PER_SEC);
  for (guint i = 0; i < due->len; i++)
    {
      gint64 alert = g_array_index (due, gint64, i);
      g_autoptr (GError) error = NULL;
      g_autoptr (GArray) marked = g_array_new (FALSE, FALSE, sizeof (gint64));
      g_autoptr (GArray) real = g_array_new (FALSE, FALSE, sizeof (gint64));
      if (!ansim_db_begin (self->db, &error))
        {
          g_warning ("cannot escalate alert %" G_GINT64_FORMAT ": %s", alert, error->message);
          continue;
        }
      g_autoptr (sqlite3_stmt) upd =
        ansim_db_prepare (self->db,
                          "UPDATE incidents SET escalated_at_us = ?2 WHERE alert_id = ?1 "
                          "AND escalated_at_us IS NULL RETURNING id, is_drill",
                          NULL);
      gboolean ok = upd != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (upd, 1, alert);
          sqlite3_bind_int64 (upd, 2, now);
          int rc;
          while ((rc = sqlite3_step (upd)) == SQLITE_ROW)
            {
              gint64 id = sqlite3_column_int64 (upd, 0);
              g_array_append_val (marked, id);
              if (!sqlite3_column_int (upd, 1))
                g_array_append_val (real, id);
            }
          ok = rc == SQLITE_DONE;
        }
      for (guint j = 0; ok && j < marked->len; j++)
        ok = log_panel_event (self, "escalated", g_array_index (marked, gint64, j), NULL, NULL,
                              detail);
      /* The webhooks' "escalated" rows (one per incident, as its "alert"
       * was) in this transaction: kept exactly when the escalation is. */
      for (guint j = 0; ok && j < marked->len; j++)
        {
          g_autoptr (JsonNode) data =
            panel_webhooks_incident_data (self->db, g_array_index (marked, gint64, j), &error);
          ok = data != NULL
               && panel_webhooks_emit (self->webhooks, self->db, "escalated", data, &error);
        }
      /* The desk's police bell, for real incidents only: a drill tests the
       * response inside the office, not the police line. The desk's own
       * police_bell policy decides whether the relay fires. */
      for (guint j = 0; ok && self->channel != NULL && j < real->len; j++)
        ok = panel_channel_ring_police_bell (self->channel, g_array_index (real, gint64, j),
                                             "escalated", &error);
      if (!ok || !ansim_db_commit (self->db, &error))
        {
          g_warning ("cannot escalate alert %" G_GINT64_FORMAT ": %s", alert,
                     error != NULL ? error->message : sqlite3_errmsg (self->db));
          ansim_db_rollback (self->db);
          continue; /* tried again at the next check */
        }
      panel_webhooks_kick (self->webhooks);
      announce_escalation (self, alert);
      for (guint j = 0; j < marked->len; j++)
        publish_incident (self, "incident-updated", g_array_index (marked, gint64, j), -1);
    }
  return G_SOURCE_CONTINUE;
}

void
panel_incidents_add_escalation_hook (PanelIncidents *self, PanelEscalatedFunc func,
                                     gpointer user_data)
{
  EscalationHook hook = { func, user_data };
  g_array_append_val (self->escalation_hooks, hook);
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

void
panel_incidents_on_ingest (gpointer user_data, PanelIngestNews news, gint64 incident_id,
                           gint64 number)
{
  PanelIncidents *self = user_data;
  if (self == NULL)
    return;
  switch (news)
    {
    case PANEL_INGEST_ALERT: publish_incident (self, "incident", incident_id, -1); break;
    case PANEL_INGEST_SEGMENT: publish_incident (self, "segment", incident_id, number); break;
    case PANEL_INGEST_MANIFEST: publish_incident (self, "incident-updated", incident_id, -1); break;
    case PANEL_INGEST_HEARTBEAT:
      if (g_hash_table_size (self->offline) > 0)
        check_devices (self);
      check_path_reports (self);
      break;
    }
}

/* ---- requests --------------------------------------------------------- */

static gboolean
is_category (const char *text)
{
  return text != NULL && g_strv_contains (categories, text);
}

/* A member that must be a string of 1..max characters if present. */
static gboolean
optional_text (SoupServerMessage *msg, JsonObject *o, const char *name, glong max, const char **out)
{
  *out = NULL;
  JsonNode *node = json_object_get_member (o, name);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING
      || g_utf8_strlen (json_node_get_string (node), -1) > max)
    {
      g_autofree char *text =
        g_strdup_printf ("%s must be text of at most %ld characters", name, max);
      panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", text);
      return FALSE;
    }
  *out = json_node_get_string (node);
  if (**out == '\0')
    *out = NULL;
  return TRUE;
}

static void
list_incidents (PanelIncidents *self, SoupServerMessage *msg, GHashTable *query)
{
  static const char *const statuses[] = { "open", "acknowledged", "resolved", "unresolved", NULL };
  static const char *const known[] = { "status",   "desk",     "drill", "category",
                                       "since_us", "until_us", "limit", NULL };
  const char *status = query ? g_hash_table_lookup (query, "status") : NULL;
  const char *desk = query ? g_hash_table_lookup (query, "desk") : NULL;
  const char *drill = query ? g_hash_table_lookup (query, "drill") : NULL;
  const char *category = query ? g_hash_table_lookup (query, "category") : NULL;
  const char *since = query ? g_hash_table_lookup (query, "since_us") : NULL;
  const char *until = query ? g_hash_table_lookup (query, "until_us") : NULL;
  const char *limit_text = query ? g_hash_table_lookup (query, "limit") : NULL;
  gint64 since_us = 0, until_us = 0, limit = 100;

  if (query != NULL)
    {
      GHashTableIter iter;
      gpointer key;
      g_hash_table_iter_init (&iter, query);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        if (!g_strv_contains (known, key))
          {
            g_autofree char *text = g_strdup_printf ("unknown filter \"%.64s\"", (char *) key);
            return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", text);
          }
    }
  if ((status != NULL && !g_strv_contains (statuses, status))
      || (desk != NULL && (strlen (desk) == 0 || strlen (desk) > 64))
      || (drill != NULL && !g_str_equal (drill, "0") && !g_str_equal (drill, "1"))
      || (category != NULL && !is_category (category))
      || (since != NULL && !g_ascii_string_to_signed (since, 10, 0, G_MAXINT64, &since_us, NULL))
      || (until != NULL && !g_ascii_string_to_signed (until, 10, 0, G_MAXINT64, &until_us, NULL))
      || (limit_text != NULL && !g_ascii_string_to_signed (limit_text, 10, 1, 500, &limit, NULL)))
    return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                     "a filter is out of range: status (open, acknowledged, "
                                     "resolved, unresolved), desk, drill (0 or 1), category, "
                                     "since_us, until_us, limit (1-500)");
  g_autofree char *sql = g_strconcat (
    incident_select,
    "WHERE (?1 IS NULL OR i.status = ?1 OR (?1 = 'unresolved' AND i.status <> 'resolved')) "
    "AND (?2 IS NULL OR i.desk_id = ?2) AND (?3 IS NULL OR i.is_drill = ?3) "
    "AND (?4 IS NULL OR i.resolution = ?4) AND (?5 IS NULL OR i.alerted_at_us >= ?5) "
    "AND (?6 IS NULL OR i.alerted_at_us < ?6) ORDER BY i.id DESC LIMIT ?7",
    NULL);
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (self->db, sql, NULL);
  if (stmt == NULL)
    return panel_console_send_db_error (msg, self->db, "listing incidents");
  sqlite3_bind_text (stmt, 1, status, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, desk, -1, SQLITE_STATIC);
  if (drill != NULL)
    sqlite3_bind_int (stmt, 3, drill[0] == '1');
  sqlite3_bind_text (stmt, 4, category, -1, SQLITE_STATIC);
  if (since != NULL)
    sqlite3_bind_int64 (stmt, 5, since_us);
  if (until != NULL)
    sqlite3_bind_int64 (stmt, 6, until_us);
  sqlite3_bind_int64 (stmt, 7, limit);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  if (!add_rows (b, "incidents", stmt))
    return panel_console_send_db_error (msg, self->db, "listing incidents");
  json_builder_set_member_name (b, "categories");
  json_builder_begin_array (b);
  for (guint i = 0; categories[i] != NULL; i++)
    json_builder_add_string_value (b, categories[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

/* The whole story of one incident, oldest first, from the incident row,
 * the site's events and the segments' arrival. */
static gboolean
add_timeline (PanelIncidents *self, JsonBuilder *b, gint64 id)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "SELECT at_us, what, actor, detail, segment FROM ("
    " SELECT opened_wall_us AS at_us, 'pressed' AS what, NULL AS actor,"
    "  json_object ('trigger', trigger, 'trigger_kind', trigger_kind, 'clock', 'device')"
    "  AS detail, NULL AS segment, 0 AS o FROM incidents WHERE id = ?1"
    " UNION ALL SELECT alerted_at_us, 'alert-received', NULL, NULL, NULL, 1"
    "  FROM incidents WHERE id = ?1"
    " UNION ALL SELECT coalesce (received_at_us, at_wall_us), kind, actor, detail, NULL, 2"
    "  FROM events WHERE incident_id = ?1"
    " UNION ALL SELECT received_at_us, 'segment-received', NULL, NULL, idx, 3"
    "  FROM segments WHERE incident_id = ?1 AND received_at_us IS NOT NULL"
    ") ORDER BY at_us, o, segment",
    NULL);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  if (!add_rows (b, "timeline", stmt))
    return FALSE;

  g_autoptr (sqlite3_stmt) seg = ansim_db_prepare (
    self->db,
    "SELECT idx, kind, start_wall_us, duration_us, gap_reason, cipher_size, cipher_sha256, "
    "received_at_us FROM segments WHERE incident_id = ?1 ORDER BY idx",
    NULL);
  if (seg == NULL)
    return FALSE;
  sqlite3_bind_int64 (seg, 1, id);
  return add_rows (b, "segments", seg);
}

/* What ingest has verified, in words people can read. */
static void
add_integrity (JsonBuilder *b, JsonObject *incident)
{
  gboolean manifest = !json_object_get_null_member (incident, "manifest_at_us");
  gint64 listed = json_object_get_int_member (incident, "segments_listed");
  gint64 received = json_object_get_int_member (incident, "segments_received");
  gboolean closed = !json_object_get_null_member (incident, "closed_wall_us");

  json_builder_set_member_name (b, "integrity");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "signature");
  json_builder_add_string_value (b, manifest ? "verified" : "not-yet");
  json_builder_set_member_name (b, "checksums");
  json_builder_add_string_value (b, received == 0        ? "not-yet"
                                    : received == listed ? "all-verified"
                                                         : "verified-so-far");
  json_builder_set_member_name (b, "complete");
  json_builder_add_boolean_value (b, closed && manifest && received == listed);
  json_builder_set_member_name (b, "summary");
  g_autofree char *text =
    !manifest
      ? g_strdup ("No signed manifest has arrived yet: nothing can be checked so far.")
      : g_strdup_printf ("The manifest's signature matches the desk's enrolled key and continues "
                         "its chain; %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
                         " segments arrived, "
                         "each matching the size and SHA-256 the signed manifest lists.%s",
                         received, listed,
                         closed ? (received == listed ? " The incident is closed and complete."
                                                      : " The incident is closed; segments are "
                                                        "still on their way.")
                                : " The incident is still recording.");
  json_builder_add_string_value (b, text);
  json_builder_end_object (b);
}

static void
show_incident (PanelIncidents *self, SoupServerMessage *msg, PanelSession *session, gint64 id)
{
  g_autoptr (JsonNode) node = incident_node (self, id);
  if (node == NULL)
    return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such incident");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "incident");
  json_builder_add_value (b, json_node_copy (node));
  add_integrity (b, json_node_get_object (node));
  if (!add_timeline (self, b, id))
    return panel_console_send_db_error (msg, self->db, "reading the timeline");
  json_builder_set_member_name (b, "categories");
  json_builder_begin_array (b);
  for (guint i = 0; categories[i] != NULL; i++)
    json_builder_add_string_value (b, categories[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, id);
  if (!panel_console_audit_or_fail (self->console, msg, session, PANEL_AUDIT_INCIDENT_VIEWED,
                                    target, NULL))
    return;
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

static void
send_incident (PanelIncidents *self, SoupServerMessage *msg, gint64 id)
{
  g_autoptr (JsonNode) node = incident_node (self, id);
  if (node == NULL)
    return panel_console_send_db_error (msg, self->db, "reading the incident");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "incident");
  json_builder_add_value (b, g_steal_pointer (&node));
  json_builder_end_object (b);
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

typedef enum { ACKNOWLEDGE, RESOLVE, ANNOTATE, SHOWN, NOT_A_DRILL } Action;

/* Appends the other incidents of id's alert that acknowledging (open ones)
 * or resolving (unresolved ones) still changes. */
static gboolean
add_alert_members (PanelIncidents *self, gint64 id, gboolean acknowledging, GArray *members)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "SELECT id FROM incidents WHERE alert_id = (SELECT alert_id FROM incidents WHERE id = ?1) "
    "AND id <> ?1 AND (CASE WHEN ?2 THEN status = 'open' ELSE status <> 'resolved' END) "
    "ORDER BY id",
    NULL);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  sqlite3_bind_int (stmt, 2, acknowledging);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 member = sqlite3_column_int64 (stmt, 0);
      g_array_append_val (members, member);
    }
  return rc == SQLITE_DONE;
}

/* Acknowledge, resolve or annotate: the incident row, an event in its
 * timeline and the audit entry in one transaction; then every console is
 * told. */
static void
act (PanelIncidents *self, SoupServerMessage *msg, PanelSession *session, gint64 id, Action action)
{
  static const char *const ack_members[] = { NULL };
  static const char *const resolve_members[] = { "category", "note", NULL };
  static const char *const note_members[] = { "category", "note", NULL };
  const char *category = NULL, *note = NULL;
  g_autoptr (JsonObject) body = NULL;

  /* Acknowledging takes no body (a button press must not fail on one). */
  if (action != ACKNOWLEDGE || soup_server_message_get_request_body (msg)->length > 0)
    {
      body = panel_console_read_json_object (msg);
      if (body == NULL)
        return;
      if (!panel_http_only_members (msg, body,
                                    action == ACKNOWLEDGE ? ack_members
                                    : action == RESOLVE   ? resolve_members
                                                          : note_members)
          || !optional_text (msg, body, "category", 64, &category)
          || !optional_text (msg, body, "note", MAX_NOTE_CHARS, &note))
        return;
    }
  if ((action == RESOLVE && !is_category (category))
      || (action == ANNOTATE && category != NULL && !is_category (category)))
    {
      g_autofree char *list = g_strjoinv (", ", (char **) categories);
      g_autofree char *text = g_strdup_printf ("category must be one of: %s", list);
      return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", text);
    }
  if (action == ANNOTATE && category == NULL && note == NULL)
    return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                     "give a note, a category or both");

  g_autoptr (JsonNode) before = incident_node (self, id);
  if (before == NULL)
    return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such incident");
  const char *status = json_object_get_string_member (json_node_get_object (before), "status");
  const char *old_category =
    json_object_get_string_member_with_default (json_node_get_object (before), "category", NULL);
  if (action == ACKNOWLEDGE && !g_str_equal (status, "open"))
    return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict",
                                     g_str_equal (status, "resolved")
                                       ? "the incident is already resolved"
                                       : "the incident is already acknowledged");
  if (action == RESOLVE && g_str_equal (status, "resolved"))
    return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict",
                                     "the incident is already resolved");

  g_autoptr (JsonBuilder) d = json_builder_new ();
  json_builder_begin_object (d);
  if (category != NULL)
    {
      json_builder_set_member_name (d, "category");
      json_builder_add_string_value (d, category);
      if (action == ANNOTATE)
        {
          json_builder_set_member_name (d, "previous_category");
          if (old_category != NULL)
            json_builder_add_string_value (d, old_category);
          else
            json_builder_add_null_value (d);
        }
    }
  if (note != NULL)
    {
      json_builder_set_member_name (d, "note");
      json_builder_add_string_value (d, note);
    }
  json_builder_end_object (d);
  g_autoptr (JsonNode) detail_node = json_builder_get_root (d);
  g_autofree char *detail = json_to_string (detail_node, FALSE);

  gint64 now = g_get_real_time ();
  g_autoptr (GError) error = NULL;
  if (!ansim_db_begin (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "beginning a transaction");
  const char *sql =
    action == ACKNOWLEDGE ? "UPDATE incidents SET status = 'acknowledged', acknowledged_by = ?2, "
                            "acknowledged_at_us = ?3 WHERE id = ?1 AND status = 'open'"
    : action == RESOLVE
      ? "UPDATE incidents SET status = 'resolved', resolved_by = ?2, resolved_at_us = ?3, "
        "resolution = ?4 WHERE id = ?1 AND status <> 'resolved'"
      : "UPDATE incidents SET resolution = coalesce (?4, resolution) WHERE id = ?1";
  g_autoptr (sqlite3_stmt) upd = ansim_db_prepare (self->db, sql, &error);
  const char *kind = action == ACKNOWLEDGE ? "acknowledged"
                     : action == RESOLVE   ? "resolved"
                                           : "note";
  const char *audit_action = action == ACKNOWLEDGE ? PANEL_AUDIT_ACKNOWLEDGED
                             : action == RESOLVE   ? PANEL_AUDIT_RESOLVED
                                                   : PANEL_AUDIT_INCIDENT_ANNOTATED;
  /* Acknowledge and resolve act on the whole alert (every incident of the
   * press, each still its own evidence with its own timeline entry). */
  g_autoptr (GArray) members = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_array_append_val (members, id);
  if (upd == NULL
      || (action != ANNOTATE && !add_alert_members (self, id, action == ACKNOWLEDGE, members)))
    goto db_error;
  for (guint i = 0; i < members->len; i++)
    {
      gint64 member = g_array_index (members, gint64, i);
      g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, member);
      sqlite3_reset (upd);
      sqlite3_bind_int64 (upd, 1, member);
      if (action != ANNOTATE)
        {
          sqlite3_bind_text (upd, 2, session->user, -1, SQLITE_STATIC);
          sqlite3_bind_int64 (upd, 3, now);
        }
      sqlite3_bind_text (upd, 4, category, -1, SQLITE_STATIC);
      if (sqlite3_step (upd) != SQLITE_DONE)
        goto db_error;
      if (sqlite3_changes (self->db) != 1)
        {
          /* Someone else acted between the read and the write. */
          ansim_db_rollback (self->db);
          return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict",
                                           "the incident changed meanwhile; reload it");
        }
      if (!log_panel_event (self, kind, member, session->user, NULL, detail))
        goto db_error;
      /* One webhook event per incident, as its "alert" was. */
      if (action != ANNOTATE)
        {
          g_autoptr (JsonNode) data = panel_webhooks_incident_data (self->db, member, &error);
          if (data == NULL || !panel_webhooks_emit (self->webhooks, self->db, kind, data, &error))
            {
              g_warning ("cannot queue the %s webhooks: %s", kind, error->message);
              goto db_error;
            }
        }
      /* The desk's "help is coming" light: in this transaction, so it is
       * sent exactly when the acknowledgement is recorded. */
      if (action != ANNOTATE && self->channel != NULL
          && !panel_channel_post (self->channel, member,
                                  action == ACKNOWLEDGE ? PANEL_CHANNEL_ACKNOWLEDGED
                                                        : PANEL_CHANNEL_RESOLVED,
                                  NULL, &error))
        goto db_error;
      if (!panel_console_audit_or_fail (self->console, msg, session, audit_action, target, detail))
        {
          ansim_db_rollback (self->db);
          return;
        }
    }
  if (!ansim_db_commit (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "committing");
  panel_webhooks_kick (self->webhooks);
  for (guint i = 0; i < members->len; i++)
    {
      gint64 member = g_array_index (members, gint64, i);
      g_message ("incident %" G_GINT64_FORMAT " %s by %s", member, kind, session->user);
      publish_incident (self, action == ANNOTATE ? "incident-updated" : kind, member, -1);
    }
  send_incident (self, msg, id);
  return;

db_error:
  ansim_db_rollback (self->db);
  panel_console_send_db_error (msg, self->db, "recording the action");
}

static void send_shown (PanelIncidents *self, SoupServerMessage *msg, gint64 id, gboolean first);

/* POST /api/incidents/ID/shown: a console of security staff put the alert
 * banner on screen. The first one is the "alert displayed" step of the
 * response-time reports (drills.c); later ones change nothing. Stamped
 * with the panel's clock when the request arrives, so it is comparable
 * with alerted_at_us and acknowledged_at_us. */
static void
mark_shown (PanelIncidents *self, SoupServerMessage *msg, PanelSession *session, gint64 id)
{
  g_autoptr (GError) error = NULL;
  gboolean first = FALSE;
  if (!ansim_db_begin (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "beginning a transaction");
  g_autoptr (sqlite3_stmt) known = ansim_db_prepare (
    self->db,
    "SELECT (SELECT count(*) FROM events WHERE incident_id = ?1 AND kind = 'alert-shown') "
    "FROM incidents WHERE id = ?1",
    NULL);
  if (known == NULL)
    goto db_error;
  sqlite3_bind_int64 (known, 1, id);
  int rc = sqlite3_step (known);
  if (rc == SQLITE_DONE)
    {
      ansim_db_rollback (self->db);
      return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such incident");
    }
  if (rc != SQLITE_ROW)
    goto db_error;
  if (sqlite3_column_int64 (known, 0) == 0)
    {
      if (!log_panel_event (self, "alert-shown", id, session->user, NULL, NULL))
        goto db_error;
      first = TRUE;
    }
  g_clear_pointer (&known, sqlite3_finalize);
  if (!ansim_db_commit (self->db, &error))
    return panel_console_send_db_error (msg, self->db, "committing");
  send_shown (self, msg, id, first);
  return;

db_error:
  ansim_db_rollback (self->db);
  panel_console_send_db_error (msg, self->db, "recording that the alert was shown");
}

static void
send_shown (PanelIncidents *self, SoupServerMessage *msg, gint64 id, gboolean first)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "SELECT at_wall_us, actor FROM events WHERE incident_id = ?1 AND kind = 'alert-shown' "
    "ORDER BY at_wall_us, id LIMIT 1",
    NULL);
  if (stmt == NULL)
    return panel_console_send_db_error (msg, self->db, "reading the alert-shown event");
  sqlite3_bind_int64 (stmt, 1, id);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return panel_console_send_db_error (msg, self->db, "reading the alert-shown event");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "first");
  json_builder_add_boolean_value (b, first);
  json_builder_set_member_name (b, "shown_at_us");
  json_builder_add_int_value (b, sqlite3_column_int64 (stmt, 0));
  json_builder_set_member_name (b, "shown_by");
  json_builder_add_string_value (b, (const char *) sqlite3_column_text (stmt, 1));
  json_builder_end_object (b);
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

/* POST /api/incidents/ID/not-a-drill {"note"?}: the press the panel took
 * for a drill was a real emergency. */
static void
untag_drill (PanelIncidents *self, SoupServerMessage *msg, PanelSession *session, gint64 id)
{
  static const char *const members[] = { "note", NULL };
  const char *note = NULL;
  g_autoptr (JsonObject) body = NULL;
  if (soup_server_message_get_request_body (msg)->length > 0)
    {
      body = panel_console_read_json_object (msg);
      if (body == NULL || !panel_http_only_members (msg, body, members)
          || !optional_text (msg, body, "note", MAX_NOTE_CHARS, &note))
        return;
    }
  g_autoptr (GError) error = NULL;
  gint64 drill = 0;
  const char *host = soup_server_message_get_remote_host (msg);
  if (!panel_drill_untag (self->db, id, note, session->user, panel_role_to_string (session->role),
                          host != NULL ? host : "unknown", &drill, &error))
    {
      if (g_error_matches (error, PANEL_DRILL_ERROR, PANEL_DRILL_ERROR_NOT_FOUND))
        return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict", error->message);
      g_warning ("%s", error->message);
      return panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                       "the panel cannot record the change");
    }
  g_message ("incident %" G_GINT64_FORMAT " is a real incident, not drill %" G_GINT64_FORMAT
             " (%s)",
             id, drill, session->user);
  publish_incident (self, "incident-updated", id, -1);
  send_incident (self, msg, id);
}

/* One segment's media, decrypted with the site identity and checked
 * against the signed manifest's plaintext hash before a byte is served.
 * Matroska as the desk recorded it: Debian's chromium plays Matroska with
 * H.264 directly, so nothing is remuxed and what is shown is exactly the
 * evidence. Each playback (a request from the start of the file) is
 * audited. */
static void
play_segment (PanelIncidents *self, SoupServerMessage *msg, PanelSession *session, gint64 id,
              gint64 idx)
{
  if (self->identities == NULL)
    return panel_console_send_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "no-playback",
                                     "this panel has no site_identity: playback is off");
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (self->db,
                      "SELECT kind, store_key, plain_sha256, plain_size FROM segments "
                      "WHERE incident_id = ?1 AND idx = ?2",
                      NULL);
  if (stmt == NULL)
    return panel_console_send_db_error (msg, self->db, "reading the segment");
  sqlite3_bind_int64 (stmt, 1, id);
  sqlite3_bind_int64 (stmt, 2, idx);
  int rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return panel_console_send_db_error (msg, self->db, "reading the segment");
  if (rc == SQLITE_DONE || !g_str_equal ((const char *) sqlite3_column_text (stmt, 0), "media")
      || sqlite3_column_type (stmt, 1) == SQLITE_NULL)
    return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found",
                                     "no such segment received (yet)");
  g_autofree char *key = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  g_autofree char *want = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
  gint64 size = sqlite3_column_int64 (stmt, 3);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) cipher = panel_store_get (self->store, key, &error);
  g_autoptr (GBytes) plain = NULL;
  if (cipher != NULL)
    plain = ansim_age_decrypt_bytes ((AnsimAgeIdentity *const *) self->identities->pdata,
                                     self->identities->len, cipher, &error);
  if (plain == NULL)
    {
      g_warning ("playback of incident %" G_GINT64_FORMAT " segment %" G_GINT64_FORMAT ": %s", id,
                 idx, error->message);
      return panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "integrity",
                                       "the segment cannot be read or decrypted");
    }
  char hex[ANSIM_SHA256_HEX_LEN + 1];
  ansim_hash_sha256_hex (g_bytes_get_data (plain, NULL), g_bytes_get_size (plain), hex);
  if ((gint64) g_bytes_get_size (plain) != size || g_strcmp0 (hex, want) != 0)
    {
      g_warning ("incident %" G_GINT64_FORMAT " segment %" G_GINT64_FORMAT ": the decrypted "
                 "media is not what the signed manifest lists",
                 id, idx);
      return panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "integrity",
                                       "the decrypted media does not match the signed manifest");
    }
  /* A media element asks again for parts (Range); one entry per playback. */
  const char *range =
    soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Range");
  if (range == NULL || g_str_has_prefix (range, "bytes=0-"))
    {
      g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, id);
      g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
      ansim_json_builder_add_int (json, "segment", idx);
      g_autofree char *detail = ansim_json_builder_end (json);
      if (!panel_console_audit_or_fail (self->console, msg, session, PANEL_AUDIT_PLAYBACK, target,
                                        detail))
        return;
    }
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "video/x-matroska", SOUP_MEMORY_COPY,
                                    g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));
}

/* An export whose package is being prepared in a worker thread; msg is
 * paused meanwhile. */
typedef struct {
  PanelIncidents *self;
  SoupServerMessage *msg;
  PanelExport *export;
  gint64 id;
  gboolean with_media;
} ExportJob;

/* Audited first, then streamed; consumes export. */
static void
export_audit_and_send (ExportJob *job, PanelExport *export)
{
  PanelIncidents *self = job->self;
  SoupServerMessage *msg = job->msg;
  g_autoptr (PanelExport) owned = export;
  /* The session is looked up again: it may have ended meanwhile. */
  g_autoptr (PanelSession) session =
    panel_console_authorize (self->console, msg, PANEL_ROLE_SECURITY | PANEL_ROLE_ADMIN);
  if (session == NULL)
    return;
  g_autoptr (JsonBuilder) d = json_builder_new ();
  json_builder_begin_object (d);
  json_builder_set_member_name (d, "media");
  json_builder_add_boolean_value (d, job->with_media);
  json_builder_set_member_name (d, "package_sha256");
  json_builder_add_string_value (d, panel_export_get_sha256 (owned));
  json_builder_set_member_name (d, "size");
  json_builder_add_int_value (d, panel_export_get_size (owned));
  json_builder_set_member_name (d, "verification");
  json_builder_add_string_value (d, panel_export_get_summary (owned));
  json_builder_end_object (d);
  g_autoptr (JsonNode) dn = json_builder_get_root (d);
  g_autofree char *detail = json_to_string (dn, FALSE);
  g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, job->id);
  if (!panel_console_audit_or_fail (self->console, msg, session, PANEL_AUDIT_EXPORT, target,
                                    detail))
    return;
  /* Streamed from the package's private folder as the client reads it. */
  panel_export_send (g_steal_pointer (&owned), msg);
}

static void
export_prepared (GObject *source, GAsyncResult *result, gpointer data)
{
  ExportJob *job = data;
  g_autoptr (GError) error = NULL;
  (void) source;
  if (panel_export_prepare_finish (result, &error))
    export_audit_and_send (job, g_steal_pointer (&job->export));
  else
    {
      g_warning ("export of incident %" G_GINT64_FORMAT ": %s", job->id, error->message);
      panel_console_send_error (job->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                "the package cannot be made");
      g_clear_pointer (&job->export, panel_export_free);
    }
  soup_server_message_unpause (job->msg);
  g_object_unref (job->msg);
  g_free (job);
}

static void
export_incident (PanelIncidents *self, SoupServerMessage *msg, PanelSession *session, gint64 id,
                 GHashTable *query)
{
  const char *media = query != NULL ? g_hash_table_lookup (query, "media") : NULL;
  if (media != NULL && !g_str_equal (media, "0") && !g_str_equal (media, "1"))
    return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                     "media is 0 or 1");
  gboolean with_media = media != NULL && media[0] == '1';
  if (with_media && self->identities == NULL)
    return panel_console_send_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "no-playback",
                                     "this panel has no site_identity: it cannot add media");
  g_autoptr (GError) error = NULL;
  PanelExport *export = panel_export_new (self->db, self->store, id, self->identities, with_media,
                                          session->user, &error);
  if (export == NULL)
    {
      if (g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found",
                                         "no such incident");
      if (g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_AGAIN))
        return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict", error->message);
      g_warning ("export of incident %" G_GINT64_FORMAT ": %s", id, error->message);
      return panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                       "the package cannot be made");
    }
  ExportJob *job = g_new0 (ExportJob, 1);
  job->self = self;
  job->msg = g_object_ref (msg);
  job->export = export;
  job->id = id;
  job->with_media = with_media;
  soup_server_message_pause (msg);
  panel_export_prepare_async (export, export_prepared, job);
}

/* ---- routes ----------------------------------------------------------- */

static void
handle_list (PanelHttpRequest *req)
{
  list_incidents (req->user_data, req->msg, req->query);
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
  if (!add_rows (b, "alerts", stmt))
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
  add_row (b, stmt);
  g_autoptr (JsonNode) node = json_builder_get_root (b);
  g_message ("device alert %" G_GINT64_FORMAT " acknowledged by %s", id, req->session->user);
  panel_console_publish (self->console, "device-alert-acknowledged", node);
  panel_console_send_json_node (msg, SOUP_STATUS_OK, node);
}

static void
handle_show (PanelHttpRequest *req)
{
  show_incident (req->user_data, req->msg, req->session, req->ids[0]);
}

static void
handle_acknowledge (PanelHttpRequest *req)
{
  act (req->user_data, req->msg, req->session, req->ids[0], ACKNOWLEDGE);
}

static void
handle_resolve (PanelHttpRequest *req)
{
  act (req->user_data, req->msg, req->session, req->ids[0], RESOLVE);
}

static void
handle_notes (PanelHttpRequest *req)
{
  act (req->user_data, req->msg, req->session, req->ids[0], ANNOTATE);
}

static void
handle_shown (PanelHttpRequest *req)
{
  mark_shown (req->user_data, req->msg, req->session, req->ids[0]);
}

static void
handle_not_a_drill (PanelHttpRequest *req)
{
  untag_drill (req->user_data, req->msg, req->session, req->ids[0]);
}

static void
handle_media (PanelHttpRequest *req)
{
  play_segment (req->user_data, req->msg, req->session, req->ids[0], req->ids[1]);
}

static void
handle_export (PanelHttpRequest *req)
{
  export_incident (req->user_data, req->msg, req->session, req->ids[0], req->query);
}

static void
handle_legal_hold (PanelHttpRequest *req)
{
  PanelIncidents *self = req->user_data;
  gint64 id = req->ids[0];
  if (self->retention == NULL)
    return panel_console_send_error (req->msg, SOUP_STATUS_NOT_FOUND, "not-found",
                                     "no such resource");
  panel_retention_handle_hold (self->retention, req->msg, req->session, id);
  if (soup_server_message_get_status (req->msg) == SOUP_STATUS_OK)
    publish_incident (self, "incident-updated", id, -1);
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
  if (!add_rows (b, "devices", stmt))
    return panel_console_send_db_error (msg, self->db, "listing devices");
  json_builder_end_object (b);
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

/* The site identity decrypts every desk's evidence: refuse a file others
 * could read or replace. */
static GPtrArray *
load_identity (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) < 0)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "[panel] site_identity %s: %s",
                   path, g_strerror (e));
      return NULL;
    }
  close (fd);
  if (!S_ISREG (st.st_mode) || st.st_uid != geteuid () || (st.st_mode & 077) != 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                   "[panel] site_identity %s must be a file owned by this user (uid %u) and "
                   "readable by nobody else (mode 0600 or 0400; it is %04o, uid %u)",
                   path, (guint) geteuid (), (guint) (st.st_mode & 07777), (guint) st.st_uid);
      return NULL;
    }
  GPtrArray *ids = ansim_age_identities_load (path, error);
  if (ids == NULL)
    g_prefix_error (error, "[panel] site_identity %s: ", path);
  return ids;
}

#define VIEW_ROLES (PANEL_ROLE_SECURITY | PANEL_ROLE_TRAINER | PANEL_ROLE_ADMIN)
#define ACT_ROLES (PANEL_ROLE_SECURITY | PANEL_ROLE_ADMIN)
#define CONSOLE PANEL_CALLER_CONSOLE

/* Security on the scene and the trainer running the drill may both find
 * that a "drill" press was real; placing and releasing legal holds is the
 * administrator's (docs/console.md). */
static const PanelRoute routes[] = {
  { PANEL_HTTP_GET, "/api/incidents", CONSOLE, VIEW_ROLES, 0, handle_list },
  { PANEL_HTTP_GET, "/api/incidents/{incident-id}", CONSOLE, VIEW_ROLES, 0, handle_show },
  { PANEL_HTTP_POST, "/api/incidents/{incident-id}/acknowledge", CONSOLE, ACT_ROLES, 0,
    handle_acknowledge },
  { PANEL_HTTP_POST, "/api/incidents/{incident-id}/resolve", CONSOLE, ACT_ROLES, 0,
    handle_resolve },
  { PANEL_HTTP_POST, "/api/incidents/{incident-id}/notes", CONSOLE, ACT_ROLES, 0, handle_notes },
  { PANEL_HTTP_POST, "/api/incidents/{incident-id}/shown", CONSOLE, ACT_ROLES, 0, handle_shown },
  { PANEL_HTTP_POST, "/api/incidents/{incident-id}/not-a-drill", CONSOLE, VIEW_ROLES, 0,
    handle_not_a_drill },
  { PANEL_HTTP_GET, "/api/incidents/{incident-id}/segments/{segment-index}/media", CONSOLE,
    ACT_ROLES, 0, handle_media },
  { PANEL_HTTP_GET, "/api/incidents/{incident-id}/export", CONSOLE, ACT_ROLES, 0, handle_export },
  { PANEL_HTTP_POST, "/api/incidents/{incident-id}/legal-hold", CONSOLE, PANEL_ROLE_ADMIN, 0,
    handle_legal_hold },
  { PANEL_HTTP_GET, "/api/devices", CONSOLE, ACT_ROLES, 0, handle_devices },
  { PANEL_HTTP_GET, "/api/devices/alerts", CONSOLE, VIEW_ROLES, 0, handle_device_alerts },
  { PANEL_HTTP_POST, "/api/devices/alerts/{alert-id}/acknowledge", CONSOLE, ACT_ROLES, 0,
    handle_device_alert_acknowledge },
};

PanelIncidents *
panel_incidents_new (PanelHttp *http, sqlite3 *db, PanelStore *store, PanelConsole *console,
                     AnsimConfig *config, GError **error)
{
  GPtrArray *identities = NULL;
  if (ansim_config_has_key (config, "panel", "site_identity"))
    {
      g_autofree char *path = ansim_config_get_path (config, "panel", "site_identity");
      identities = load_identity (path, error);
      if (identities == NULL)
        return NULL;
      g_message ("playback on: segments are decrypted with the site identity %s", path);
    }
  PanelIncidents *self = g_new0 (PanelIncidents, 1);
  self->db = db;
  self->store = store;
  self->identities = identities;
  self->console = console;
  gint64 after_s = ansim_config_get_int (config, "panel", "device_offline_after_s");
  self->offline_after_us = after_s * G_USEC_PER_SEC;
  self->offline = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  load_offline (self);
  panel_http_add_routes (http, routes, G_N_ELEMENTS (routes), self);
  /* Checked often enough that an offline desk is noticed within a quarter
   * of the limit (at least every 10 s). */
  self->check_id = g_timeout_add_seconds (CLAMP (after_s / 4, 1, 10), check_devices, self);
  self->escalate_after_us =
    ansim_config_get_int (config, "panel", "escalate_after_s") * G_USEC_PER_SEC;
  self->escalation_hooks = g_array_new (FALSE, FALSE, sizeof (EscalationHook));
  /* A quarter second: an escalation is announced at most that late. */
  self->escalate_id = g_timeout_add (250, check_escalations, self);
  return self;
}

void
panel_incidents_set_retention (PanelIncidents *self, PanelRetention *retention)
{
  self->retention = retention;
}

void
panel_incidents_set_webhooks (PanelIncidents *self, PanelWebhooks *webhooks)
{
  self->webhooks = webhooks;
}

void
panel_incidents_set_channel (PanelIncidents *self, PanelChannel *channel)
{
  self->channel = channel;
}

void
panel_incidents_free (PanelIncidents *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->check_id, g_source_remove);
  g_clear_handle_id (&self->escalate_id, g_source_remove);
  g_clear_pointer (&self->escalation_hooks, g_array_unref);
  g_hash_table_unref (self->offline);
  g_clear_pointer (&self->identities, g_ptr_array_unref);
  g_free (self);
}
