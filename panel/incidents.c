/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The console's incident routes (API in docs/console.md): live alerts to
 * every open console, acknowledge and resolve (recorded in the incident,
 * its timeline and the audit log; the desk learns it from ingest's
 * answers), notes, the incident list and detail, playback.
 * Acknowledge and resolve act on every incident of the alert's press
 * together. The devices page and device alerts are devices.c's, the
 * escalation escalation.c's, export and the disclosure register
 * disclosures.c's; this file owns PanelIncidents' life. */
#include "incidents.h"
#include "incidents-private.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "age.h"
#include "audit.h"
#include "db.h"
#include "disclosures.h"
#include "drill-db.h"
#include "evidence.h"
#include "httpsig.h"
#include "json-event.h"
#include "playback.h"

#define MAX_NOTE_CHARS 2000

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
  "  AS segments_received, "
  "(SELECT max (c.received_at_us) FROM incident_checkpoints c WHERE c.incident_id = i.id) "
  "  AS checkpoint_at_us "
  "FROM incidents i LEFT JOIN desks k ON k.id = i.desk_id ";

/* ---- JSON ------------------------------------------------------------- */

/* The current row as an object named by its columns; these columns are
 * booleans, and these hold JSON text embedded as JSON. */
static const char *const row_booleans[] = { "is_drill", "online", "legal_hold", NULL };
static const char *const row_embedded[] = { "detail", "heartbeat", "sources", NULL };

void
panel_incidents_add_row (JsonBuilder *b, sqlite3_stmt *stmt)
{
  panel_http_add_row (b, stmt, row_booleans, row_embedded);
}

/* Every row stmt gives as an array named name; FALSE on a database error
 * (the array is then incomplete). */
gboolean
panel_incidents_add_rows (JsonBuilder *b, const char *name, sqlite3_stmt *stmt)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    panel_incidents_add_row (b, stmt);
  json_builder_end_array (b);
  return rc == SQLITE_DONE;
}

/* One incident as JSON (NULL: no such incident or a database error). */
JsonNode *
panel_incidents_node (PanelIncidents *self, gint64 id)
{
  g_autofree char *sql = g_strconcat (incident_select, "WHERE i.id = ?1", NULL);
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (self->db, sql, NULL);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, id);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  panel_incidents_add_row (b, stmt);
  return json_builder_get_root (b);
}

void
panel_incidents_publish (PanelIncidents *self, const char *event, gint64 id, gint64 index)
{
  g_autoptr (JsonNode) node = panel_incidents_node (self, id);
  if (node == NULL)
    {
      g_warning ("cannot read incident %" G_GINT64_FORMAT " to publish it", id);
      return;
    }
  if (index >= 0)
    json_object_set_int_member (json_node_get_object (node), "index", index);
  panel_console_publish (self->console, event, node);
}

gboolean
panel_incidents_append_ids (sqlite3_stmt *stmt, GArray *ids)
{
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (stmt, 0);
      g_array_append_val (ids, id);
    }
  return rc == SQLITE_DONE;
}

/* ---- events ----------------------------------------------------------- */

/* A panel event (device_id NULL) in the site's log; inside the caller's
 * transaction when there is one. */
gboolean
panel_incidents_log_event (PanelIncidents *self, const char *kind, gint64 incident_id,
                           const char *actor, const char *desk_id, const char *detail_json)
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

void
panel_incidents_on_ingest (gpointer user_data, PanelIngestNews news, gint64 incident_id,
                           gint64 number)
{
  PanelIncidents *self = user_data;
  if (self == NULL)
    return;
  switch (news)
    {
    case PANEL_INGEST_ALERT: panel_incidents_publish (self, "incident", incident_id, -1); break;
    case PANEL_INGEST_SEGMENT:
      panel_incidents_publish (self, "segment", incident_id, number);
      break;
    case PANEL_INGEST_MANIFEST:
      panel_incidents_publish (self, "incident-updated", incident_id, -1);
      break;
    case PANEL_INGEST_HEARTBEAT: panel_devices_on_heartbeat (self); break;
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
  if (!panel_incidents_add_rows (b, "incidents", stmt))
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
    /* The press by the panel's clock when the manifest said the desk's
     * offset ("device-corrected"), else by the desk's ("device"). */
    " SELECT opened_wall_us + coalesce (json_extract (desk_clock, '$.at_open.offset_us'), 0)"
    "  AS at_us, 'pressed' AS what, NULL AS actor,"
    "  json_object ('trigger', trigger, 'trigger_kind', trigger_kind, 'clock',"
    "   CASE WHEN json_extract (desk_clock, '$.at_open.offset_us') IS NULL THEN 'device'"
    "   ELSE 'device-corrected' END, 'device_wall_us', opened_wall_us)"
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
  if (!panel_incidents_add_rows (b, "timeline", stmt))
    return FALSE;

  g_autoptr (sqlite3_stmt) seg = ansim_db_prepare (
    self->db,
    "SELECT idx, kind, start_wall_us, duration_us, gap_reason, cipher_size, cipher_sha256, "
    "received_at_us FROM segments WHERE incident_id = ?1 ORDER BY idx",
    NULL);
  if (seg == NULL)
    return FALSE;
  sqlite3_bind_int64 (seg, 1, id);
  return panel_incidents_add_rows (b, "segments", seg);
}

/* What ingest has verified, in words people can read. */
static void
add_integrity (JsonBuilder *b, JsonObject *incident)
{
  /* A live version 3 incident has signed checkpoints, its manifest only
   * at the close: either is the device's checked signature over the list. */
  gboolean manifest = !json_object_get_null_member (incident, "manifest_at_us")
                      || !json_object_get_null_member (incident, "checkpoint_at_us");
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
      : g_strdup_printf ("The signature of the manifest (or, while recording, of its latest "
                         "checkpoint) matches the desk's enrolled key and continues "
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

/* The incidents of id's press (one per camera, id's own included), for
 * the console's side-by-side players. */
static gboolean
add_cameras (PanelIncidents *self, JsonBuilder *b, gint64 id)
{
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (self->db,
                      "SELECT id, source, opened_wall_us FROM incidents "
                      "WHERE alert_id = (SELECT alert_id FROM incidents WHERE id = ?1) ORDER BY id",
                      NULL);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  return panel_incidents_add_rows (b, "cameras", stmt);
}

/* The desk's clock as the latest manifest recorded it, for the incident
 * page to show the desk's times by the panel's clock: "flag" is "ok",
 * "off" (more than desk_clock_tolerance_ms at opening or closing),
 * "never-measured" or "unknown" (no manifest said). */
static gboolean
add_desk_clock (PanelIncidents *self, JsonBuilder *b, gint64 id)
{
  g_autoptr (sqlite3_stmt) st =
    ansim_db_prepare (self->db, "SELECT desk_clock FROM incidents WHERE id = ?1", NULL);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, id);
  if (sqlite3_step (st) != SQLITE_ROW)
    return FALSE;
  const char *text = (const char *) sqlite3_column_text (st, 0);
  g_autoptr (JsonNode) node = text != NULL ? json_from_string (text, NULL) : NULL;
  JsonObject *o = node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node)
                                                                : NULL;
  static const char *const ends[] = { "at_open", "at_close" };
  gboolean never = FALSE, off = FALSE, known = FALSE;
  for (guint i = 0; o != NULL && i < G_N_ELEMENTS (ends); i++)
    {
      JsonNode *end = json_object_get_member (o, ends[i]);
      if (end == NULL)
        continue;
      known = TRUE;
      if (!JSON_NODE_HOLDS_OBJECT (end))
        never = TRUE;
      else if (ABS (json_object_get_int_member_with_default (json_node_get_object (end),
                                                             "offset_us", 0))
               > self->desk_clock_tolerance_us)
        off = TRUE;
    }
  json_builder_set_member_name (b, "desk_clock");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "flag");
  json_builder_add_string_value (b, !known  ? "unknown"
                                    : never ? "never-measured"
                                    : off   ? "off"
                                            : "ok");
  json_builder_set_member_name (b, "tolerance_us");
  json_builder_add_int_value (b, self->desk_clock_tolerance_us);
  for (guint i = 0; o != NULL && i < G_N_ELEMENTS (ends); i++)
    {
      JsonNode *end = json_object_get_member (o, ends[i]);
      if (end == NULL)
        continue;
      json_builder_set_member_name (b, ends[i]);
      json_builder_add_value (b, json_node_copy (end));
    }
  json_builder_end_object (b);
  return TRUE;
}

static void
show_incident (PanelIncidents *self, SoupServerMessage *msg, PanelSession *session,
               GHashTable *query, gint64 id)
{
  g_autoptr (JsonNode) node = panel_incidents_node (self, id);
  if (node == NULL)
    return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such incident");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "incident");
  json_builder_add_value (b, json_node_copy (node));
  add_integrity (b, json_node_get_object (node));
  if (!add_desk_clock (self, b, id))
    return panel_console_send_db_error (msg, self->db, "reading the desk clock");
  if (!add_timeline (self, b, id))
    return panel_console_send_db_error (msg, self->db, "reading the timeline");
  json_builder_set_member_name (b, "playback");
  json_builder_add_boolean_value (b, panel_playback_enabled (self->playback));
  if (!add_cameras (self, b, id))
    return panel_console_send_db_error (msg, self->db, "reading the alert's cameras");
  json_builder_set_member_name (b, "categories");
  json_builder_begin_array (b);
  for (guint i = 0; categories[i] != NULL; i++)
    json_builder_add_string_value (b, categories[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  /* One entry per page open, not per refresh (console.h). */
  if (!panel_console_audit_view (self->console, msg, session, query, id))
    return;
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

static void
send_incident (PanelIncidents *self, SoupServerMessage *msg, gint64 id)
{
  g_autoptr (JsonNode) node = panel_incidents_node (self, id);
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
  return panel_incidents_append_ids (stmt, members);
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

  g_autoptr (JsonNode) before = panel_incidents_node (self, id);
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
      if (!panel_incidents_log_event (self, kind, member, session->user, NULL, detail))
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
      panel_incidents_publish (self, action == ANNOTATE ? "incident-updated" : kind, member, -1);
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
      if (!panel_incidents_log_event (self, "alert-shown", id, session->user, NULL, NULL))
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
  panel_incidents_publish (self, "incident-updated", id, -1);
  send_incident (self, msg, id);
}

/* ---- routes ----------------------------------------------------------- */

static void
handle_list (PanelHttpRequest *req)
{
  list_incidents (req->user_data, req->msg, req->query);
}

static void
handle_show (PanelHttpRequest *req)
{
  show_incident (req->user_data, req->msg, req->session, req->query, req->ids[0]);
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

/* Decrypted, remuxed to fragmented MP4 and audited by playback.c. */
static void
handle_media (PanelHttpRequest *req)
{
  PanelIncidents *self = req->user_data;
  panel_playback_serve (self->playback, req->msg, req->session, req->ids[0], req->ids[1]);
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
    panel_incidents_publish (self, "incident-updated", id, -1);
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
  { PANEL_HTTP_POST, "/api/incidents/{incident-id}/legal-hold", CONSOLE, PANEL_ROLE_ADMIN, 0,
    handle_legal_hold },
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
  self->playback =
    panel_playback_new (db, store, identities,
                        ansim_config_get_int (config, "panel", "playback_idle_s") * G_USEC_PER_SEC);
  panel_http_add_routes (http, routes, G_N_ELEMENTS (routes), self);
  panel_devices_start (self, http, config);
  panel_escalation_start (self, config);
  self->desk_clock_tolerance_us =
    ansim_config_get_int (config, "panel", "desk_clock_tolerance_ms") * 1000;
  if (!panel_disclosures_start (self, http, config, error))
    {
      panel_incidents_free (self);
      return NULL;
    }
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
  g_clear_pointer (&self->playback, panel_playback_free);
  g_clear_pointer (&self->identities, g_ptr_array_unref);
  g_free (self->export_dir);
  g_free (self);
}
