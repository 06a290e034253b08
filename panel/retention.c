/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains retention: the policy (embedded defaults overridden
 * by rows of retention_policy), its settings route, legal holds, the
 * Object Lock dates that follow the policy, and the crash-safe purge. */
#include "retention.h"

#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "json-event.h"
#include "policy.h"

#define MAX_REASON_CHARS 500

/* ---- the purge -------------------------------------------------------- */

typedef struct {
  gint64 id;
  char *device_id;
  char *uuid;
  char *desk_id;
  char *desk_name;
  char *resolution;
  int category;
  gint days;
  gint64 alerted_at_us;
  gint64 resolved_at_us;
  gint64 expires_at_us;
  gint64 purge_started_at_us;
  gboolean resumed; /* marked by an earlier pass that did not finish */
} Doomed;

static void
doomed_free (Doomed *d)
{
  g_free (d->device_id);
  g_free (d->uuid);
  g_free (d->desk_id);
  g_free (d->desk_name);
  g_free (d->resolution);
  g_free (d);
}

static char *
format_time (gint64 us)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  return t != NULL ? g_date_time_format (t, "%Y-%m-%d %H:%M UTC") : g_strdup ("?");
}

static const char incident_columns[] =
  "SELECT i.id, i.device_id, i.uuid, i.desk_id, coalesce (k.name, i.desk_id), i.is_drill, "
  "i.resolution, i.alerted_at_us, i.resolved_at_us, i.status, "
  "i.legal_hold_at_us IS NOT NULL, i.purge_started_at_us "
  "FROM incidents i LEFT JOIN desks k ON k.id = i.desk_id ";

static Doomed *
doomed_from_row (sqlite3_stmt *s, const PanelPolicy *p)
{
  Doomed *d = g_new0 (Doomed, 1);
  d->id = sqlite3_column_int64 (s, 0);
  d->device_id = g_strdup ((const char *) sqlite3_column_text (s, 1));
  d->uuid = g_strdup ((const char *) sqlite3_column_text (s, 2));
  d->desk_id = g_strdup ((const char *) sqlite3_column_text (s, 3));
  d->desk_name = g_strdup ((const char *) sqlite3_column_text (s, 4));
  d->resolution = g_strdup ((const char *) sqlite3_column_text (s, 6));
  d->category = panel_policy_incident_category (sqlite3_column_int (s, 5), d->resolution);
  d->days = panel_policy_days (p, d->category);
  d->alerted_at_us = sqlite3_column_int64 (s, 7);
  d->resolved_at_us = sqlite3_column_int64 (s, 8);
  d->expires_at_us = panel_policy_expiry_us (p, d->category, d->alerted_at_us);
  d->purge_started_at_us = sqlite3_column_int64 (s, 11);
  return d;
}

/* Under the write lock: the policy now in force decides, and the mark is
 * set in the same transaction, so a hold placed meanwhile either came
 * first (the incident is skipped) or is refused (by the table's CHECK). */
static gboolean
select_and_mark (sqlite3 *db, gboolean dry_run, gint64 now, GPtrArray *doomed, GString *report,
                 GError **error)
{
  g_auto (PanelPolicy) p = { 0 };
  g_autoptr (sqlite3_stmt) sel = NULL, mark = NULL;
  g_autofree char *sql = NULL;
  int rc;

  if (!ansim_db_begin (db, error))
    return FALSE;
  if (!panel_policy_load (db, &p, error))
    goto fail;
  sql = g_strconcat (incident_columns, "ORDER BY i.id", NULL);
  sel = ansim_db_prepare (db, sql, error);
  mark = ansim_db_prepare (
    db,
    "UPDATE incidents SET purge_started_at_us = ?2 WHERE id = ?1 AND status = 'resolved' "
    "AND legal_hold_at_us IS NULL AND purge_started_at_us IS NULL",
    error);
  if (sel == NULL || mark == NULL)
    goto fail;
  while ((rc = sqlite3_step (sel)) == SQLITE_ROW)
    {
      Doomed *d = doomed_from_row (sel, &p);
      gboolean resolved = g_strcmp0 ((const char *) sqlite3_column_text (sel, 9), "resolved") == 0;
      gboolean held = sqlite3_column_int (sel, 10);
      g_autofree char *until = format_time (d->expires_at_us);

      if (d->purge_started_at_us != 0)
        {
          d->resumed = TRUE;
          if (report != NULL)
            g_string_append_printf (report,
                                    "incident %" G_GINT64_FORMAT " (desk %s): purge "
                                    "interrupted earlier, %s\n",
                                    d->id, d->desk_id, dry_run ? "would be finished" : "finishing");
          g_ptr_array_add (doomed, d);
          continue;
        }
      if (held || !resolved || d->expires_at_us > now)
        {
          if (report != NULL)
            g_string_append_printf (report,
                                    "incident %" G_GINT64_FORMAT " (desk %s, %s, %d "
                                    "days): kept, %s\n",
                                    d->id, d->desk_id, panel_policy_categories[d->category].name,
                                    d->days,
                                    held        ? "on legal hold"
                                    : !resolved ? "not resolved yet"
                                                : "until");
          if (report != NULL && !held && resolved)
            {
              g_string_truncate (report, report->len - 1);
              g_string_append_printf (report, " %s\n", until);
            }
          doomed_free (d);
          continue;
        }
      if (report != NULL)
        g_string_append_printf (report,
                                "incident %" G_GINT64_FORMAT " (desk %s, %s, %d days): "
                                "expired %s, %s\n",
                                d->id, d->desk_id, panel_policy_categories[d->category].name,
                                d->days, until, dry_run ? "would be purged" : "purging");
      if (!dry_run)
        {
          sqlite3_reset (mark);
          sqlite3_bind_int64 (mark, 1, d->id);
          sqlite3_bind_int64 (mark, 2, now);
          if (sqlite3_step (mark) != SQLITE_DONE)
            {
              doomed_free (d);
              ansim_db_set_error (db, error, "marking an incident for the purge");
              goto fail;
            }
          d->purge_started_at_us = now;
        }
      g_ptr_array_add (doomed, d);
    }
  if (rc != SQLITE_DONE)
    {
      ansim_db_set_error (db, error, "reading the incidents");
      goto fail;
    }
  if (dry_run)
    {
      ansim_db_rollback (db);
      return TRUE;
    }
  return ansim_db_commit (db, error);

fail:
  ansim_db_rollback (db);
  return FALSE;
}

static gint64
count_rows (sqlite3 *db, const char *sql, gint64 id)
{
  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (db, sql, NULL);
  if (s == NULL)
    return -1;
  sqlite3_bind_int64 (s, 1, id);
  return sqlite3_step (s) == SQLITE_ROW ? sqlite3_column_int64 (s, 0) : -1;
}

/* The rows of a marked incident, and its audit entry, in one transaction. */
static gboolean
delete_rows (sqlite3 *db, Doomed *d, const char *actor, const char *store_name, guint n_objects,
             guint64 bytes, GError **error)
{
  static const char *const deletes[] = {
    "DELETE FROM segments WHERE incident_id = ?1",
    "DELETE FROM incident_checkpoints WHERE incident_id = ?1",
    "DELETE FROM events WHERE incident_id = ?1",
    /* A drill's press: the drill keeps its other desks and its own record. */
    "DELETE FROM drill_desks WHERE incident_id = ?1",
    "DELETE FROM incidents WHERE id = ?1 AND purge_started_at_us IS NOT NULL",
  };
  g_autoptr (AnsimJsonBuilder) b = ansim_json_builder_new ();
  g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, d->id);
  g_autofree char *until = format_time (d->expires_at_us);
  g_autofree char *why = NULL;
  gint64 n_segments, n_events;

  if (!ansim_db_begin (db, error))
    return FALSE;
  if (count_rows (db, "SELECT count(*) FROM incidents WHERE id = ?1", d->id) != 1)
    {
      /* Another purge (the panel's or ansimctl's) finished it meanwhile. */
      ansim_db_rollback (db);
      return TRUE;
    }
  n_segments = count_rows (db, "SELECT count(*) FROM segments WHERE incident_id = ?1", d->id);
  n_events = count_rows (db, "SELECT count(*) FROM events WHERE incident_id = ?1", d->id);
  why = g_strdup_printf ("retention period of %d days for %s incidents ended on %s", d->days,
                         panel_policy_categories[d->category].name, until);
  ansim_json_builder_add_string (b, "uuid", d->uuid);
  ansim_json_builder_add_string (b, "device", d->device_id);
  ansim_json_builder_add_string (b, "desk", d->desk_id);
  ansim_json_builder_add_string (b, "desk_name", d->desk_name);
  ansim_json_builder_add_string (b, "retention_category",
                                 panel_policy_categories[d->category].name);
  ansim_json_builder_add_string (b, "resolution", d->resolution);
  ansim_json_builder_add_int (b, "retention_days", d->days);
  ansim_json_builder_add_int (b, "alerted_at_us", d->alerted_at_us);
  ansim_json_builder_add_int (b, "expired_at_us", d->expires_at_us);
  ansim_json_builder_add_string (b, "reason", why);
  ansim_json_builder_add_string (b, "store", store_name);
  ansim_json_builder_add_uint (b, "objects_deleted", n_objects);
  ansim_json_builder_add_uint (b, "bytes_deleted", bytes);
  ansim_json_builder_add_int (b, "segment_rows_deleted", n_segments);
  ansim_json_builder_add_int (b, "event_rows_deleted", n_events);
  ansim_json_builder_add_int (b, "purge_started_at_us", d->purge_started_at_us);
  ansim_json_builder_add_bool (b, "resumed", d->resumed);
  g_autofree char *detail = ansim_json_builder_end (b);

  if (!panel_audit_append (db, actor, NULL, NULL, PANEL_AUDIT_INCIDENT_PURGED, target, detail,
                           error))
    goto fail;
  for (guint i = 0; i < G_N_ELEMENTS (deletes); i++)
    {
      g_autoptr (sqlite3_stmt) s = ansim_db_prepare (db, deletes[i], error);
      if (s == NULL)
        goto fail;
      sqlite3_bind_int64 (s, 1, d->id);
      if (sqlite3_step (s) != SQLITE_DONE)
        {
          ansim_db_set_error (db, error, "deleting the incident's rows");
          goto fail;
        }
    }
  return ansim_db_commit (db, error);

fail:
  ansim_db_rollback (db);
  return FALSE;
}

gboolean
panel_retention_purge (sqlite3 *db, PanelStore *store, gboolean dry_run, const char *actor,
                       GString *report, guint *out_purged, guint *out_failed, GError **error)
{
  g_autoptr (GPtrArray) doomed = g_ptr_array_new_with_free_func ((GDestroyNotify) doomed_free);
  guint purged = 0, failed = 0;

  /* Tests only: die like a power cut after destroying the objects of that
   * many incidents, before their rows go (tests/upload/test-retention.c). */
  const char *kill_after = g_getenv ("ANSIM_TEST_PURGE_KILL_AFTER");
  guint n_destroyed = 0;

  if (!select_and_mark (db, dry_run, g_get_real_time (), doomed, report, error))
    return FALSE;
  for (guint i = 0; !dry_run && i < doomed->len; i++)
    {
      Doomed *d = doomed->pdata[i];
      g_autofree char *prefix = g_strdup_printf ("%s/%s/", d->device_id, d->uuid);
      g_autoptr (GError) local = NULL;
      guint n_objects = 0;
      guint64 bytes = 0;

      /* Objects first: a crash after this leaves the rows and the mark, and
       * the next pass finishes the job. Rows first would leave objects
       * nobody knows about. */
      if (!panel_store_purge_prefix (store, prefix, &n_objects, &bytes, &local)
          && g_error_matches (local, PANEL_STORE_ERROR, PANEL_STORE_ERROR_LOCKED))
        {
          /* Nothing was deleted: unmark it, so that it can still be held
           * while the store keeps it. */
          g_autoptr (sqlite3_stmt) unmark = ansim_db_prepare (
            db, "UPDATE incidents SET purge_started_at_us = NULL WHERE id = ?1", error);
          if (unmark == NULL)
            return FALSE;
          sqlite3_bind_int64 (unmark, 1, d->id);
          if (sqlite3_step (unmark) != SQLITE_DONE)
            {
              ansim_db_set_error (db, error, "unmarking an incident");
              return FALSE;
            }
          g_message ("incident %" G_GINT64_FORMAT " kept: %s", d->id, local->message);
          if (report != NULL)
            g_string_append_printf (report, "incident %" G_GINT64_FORMAT ": kept, %s\n", d->id,
                                    local->message);
          continue;
        }
      if (local != NULL)
        {
          failed++;
          g_warning ("purge of incident %" G_GINT64_FORMAT ": %s; it stays marked and is "
                     "retried on the next pass",
                     d->id, local->message);
          if (report != NULL)
            g_string_append_printf (report, "incident %" G_GINT64_FORMAT ": FAILED: %s\n", d->id,
                                    local->message);
          continue;
        }
      if (kill_after != NULL && ++n_destroyed == g_ascii_strtoull (kill_after, NULL, 10))
        raise (SIGKILL);
      if (!delete_rows (db, d, actor, store->backend->name, n_objects, bytes, error))
        return FALSE;
      purged++;
      g_message ("incident %" G_GINT64_FORMAT " of desk %s purged: %u objects, %" G_GUINT64_FORMAT
                 " bytes (%s, %d days)",
                 d->id, d->desk_id, n_objects, bytes, panel_policy_categories[d->category].name,
                 d->days);
      if (report != NULL)
        g_string_append_printf (report,
                                "incident %" G_GINT64_FORMAT
                                ": purged, %u objects, %" G_GUINT64_FORMAT " bytes\n",
                                d->id, n_objects, bytes);
    }
  if (out_purged != NULL)
    *out_purged = dry_run ? doomed->len : purged;
  if (out_failed != NULL)
    *out_failed = failed;
  return TRUE;
}

gboolean
panel_retention_extend_locks (sqlite3 *db, PanelStore *store, GError **error)
{
  g_auto (PanelPolicy) p = { 0 };
  g_autoptr (GPtrArray) todo = g_ptr_array_new_with_free_func ((GDestroyNotify) doomed_free);
  g_autofree char *sql = NULL;
  g_autoptr (sqlite3_stmt) sel = NULL;
  int rc;

  if (!panel_store_has_locks (store))
    return TRUE;
  if (!panel_policy_load (db, &p, error))
    return FALSE;
  sql = g_strconcat ("SELECT i.id, i.device_id, i.uuid, i.desk_id, i.desk_id, i.is_drill, "
                     "i.resolution, i.alerted_at_us, i.resolved_at_us, i.status, 0, 0, "
                     "coalesce (i.locked_until_us, 0) FROM incidents i "
                     "WHERE i.purge_started_at_us IS NULL",
                     NULL);
  sel = ansim_db_prepare (db, sql, error);
  if (sel == NULL)
    return FALSE;
  while ((rc = sqlite3_step (sel)) == SQLITE_ROW)
    {
      Doomed *d = doomed_from_row (sel, &p);
      if (d->expires_at_us > sqlite3_column_int64 (sel, 12))
        g_ptr_array_add (todo, d);
      else
        doomed_free (d);
    }
  if (rc != SQLITE_DONE)
    {
      ansim_db_set_error (db, error, "reading the incidents");
      return FALSE;
    }
  for (guint i = 0; i < todo->len; i++)
    {
      Doomed *d = todo->pdata[i];
      g_autofree char *prefix = g_strdup_printf ("%s/%s/", d->device_id, d->uuid);
      g_autoptr (GError) local = NULL;
      g_autoptr (sqlite3_stmt) upd = NULL;

      if (!panel_store_protect_prefix (store, prefix, d->expires_at_us, -1, &local))
        {
          g_warning ("cannot extend the lock of incident %" G_GINT64_FORMAT ": %s; retried on "
                     "the next pass",
                     d->id, local->message);
          continue;
        }
      upd = ansim_db_prepare (db,
                              "UPDATE incidents SET locked_until_us = ?2 WHERE id = ?1 "
                              "AND coalesce (locked_until_us, 0) < ?2",
                              error);
      if (upd == NULL)
        return FALSE;
      sqlite3_bind_int64 (upd, 1, d->id);
      sqlite3_bind_int64 (upd, 2, d->expires_at_us);
      if (sqlite3_step (upd) != SQLITE_DONE)
        {
          ansim_db_set_error (db, error, "recording a lock date");
          return FALSE;
        }
    }
  return TRUE;
}

/* ---- routes ----------------------------------------------------------- */

struct _PanelRetention {
  sqlite3 *db;
  PanelStore *store;
  PanelConsole *console;
  guint timer_id;
};

static void
send_internal (SoupServerMessage *msg, const char *what, GError *error)
{
  g_warning ("%s: %s", what, error != NULL ? error->message : "?");
  panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                            "the panel cannot use its database");
}

static JsonNode *
policy_node (const PanelPolicy *p)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "policy");
  json_builder_begin_array (b);
  for (guint i = 0; i < PANEL_POLICY_N_CATEGORIES; i++)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "category");
      json_builder_add_string_value (b, panel_policy_categories[i].name);
      json_builder_set_member_name (b, "days");
      if (p->days[i] > 0)
        json_builder_add_int_value (b, p->days[i]);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "effective_days");
      json_builder_add_int_value (b, panel_policy_days (p, i));
      json_builder_set_member_name (b, "default_days");
      if (panel_policy_categories[i].default_days > 0)
        json_builder_add_int_value (b, panel_policy_categories[i].default_days);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "changed_by");
      if (p->overridden[i] && p->changed_by[i] != NULL)
        json_builder_add_string_value (b, p->changed_by[i]);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "changed_at_us");
      if (p->overridden[i])
        json_builder_add_int_value (b, p->changed_at_us[i]);
      else
        json_builder_add_null_value (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "min_days");
  json_builder_add_int_value (b, PANEL_RETENTION_MIN_DAYS);
  json_builder_set_member_name (b, "max_days");
  json_builder_add_int_value (b, PANEL_RETENTION_MAX_DAYS);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* The value of one member of a settings change: a whole number of days in
 * range, or null (back to the default). */
static gboolean
parse_days (JsonNode *node, gint *out_days)
{
  if (JSON_NODE_HOLDS_NULL (node))
    {
      *out_days = 0;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  gint64 v = json_node_get_int (node);
  if (v < PANEL_RETENTION_MIN_DAYS || v > PANEL_RETENTION_MAX_DAYS)
    return FALSE;
  *out_days = (gint) v;
  return TRUE;
}

/* POST /api/settings/retention {"drill": 14, "assault": 365, "threat": null}:
 * all members checked before anything changes; one transaction writes the
 * rows and one audit entry per changed category (old and new value). */
static void
change_policy (PanelRetention *self, SoupServerMessage *msg, PanelSession *session)
{
  g_autoptr (JsonObject) body = panel_console_read_json_object (msg);
  g_autoptr (GList) names = NULL;
  g_auto (PanelPolicy) before = { 0 }, after = { 0 };
  g_autoptr (GError) error = NULL;
  gint wanted[PANEL_POLICY_N_CATEGORIES];
  gboolean given[PANEL_POLICY_N_CATEGORIES] = { FALSE };
  guint n_changed = 0;
  g_autoptr (JsonNode) node = NULL;

  if (body == NULL)
    return;
  names = json_object_get_members (body);
  if (names == NULL)
    return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                     "give at least one category with its days");
  for (GList *l = names; l != NULL; l = l->next)
    {
      int i = panel_policy_category_index (l->data);
      if (i < 0)
        {
          g_autofree char *text =
            g_strdup_printf ("unknown retention category \"%.64s\"", (char *) l->data);
          return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", text);
        }
      if (!parse_days (json_object_get_member (body, l->data), &wanted[i]))
        {
          g_autofree char *text = g_strdup_printf (
            "%s: days must be a whole number from %d to %d, or null for the default",
            panel_policy_categories[i].name, PANEL_RETENTION_MIN_DAYS, PANEL_RETENTION_MAX_DAYS);
          return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", text);
        }
      given[i] = TRUE;
    }

  if (!ansim_db_begin (self->db, &error))
    return send_internal (msg, "changing the retention policy", error);
  if (!panel_policy_load (self->db, &before, &error))
    goto fail;
  for (guint i = 0; i < PANEL_POLICY_N_CATEGORIES; i++)
    {
      /* null: back to the embedded default (for a resolution category:
       * the incident period). */
      gint new_days = given[i] && wanted[i] == 0 ? panel_policy_categories[i].default_days
                                                 : wanted[i];
      gboolean new_override = given[i] && wanted[i] != 0;
      if (!given[i] || (new_days == before.days[i] && new_override == before.overridden[i]))
        continue;
      g_autoptr (sqlite3_stmt) s = ansim_db_prepare (
        self->db,
        new_override ? "INSERT INTO retention_policy (category, days, changed_by, changed_at_us) "
                       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (category) DO UPDATE SET days = ?2, "
                       "changed_by = ?3, changed_at_us = ?4"
                     : "DELETE FROM retention_policy WHERE category = ?1",
        &error);
      if (s == NULL)
        goto fail;
      sqlite3_bind_text (s, 1, panel_policy_categories[i].name, -1, SQLITE_STATIC);
      if (new_override)
        {
          sqlite3_bind_int (s, 2, new_days);
          sqlite3_bind_text (s, 3, session->user, -1, SQLITE_STATIC);
          sqlite3_bind_int64 (s, 4, g_get_real_time ());
        }
      if (sqlite3_step (s) != SQLITE_DONE)
        {
          ansim_db_set_error (self->db, &error, "writing the retention policy");
          goto fail;
        }
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "setting");
      g_autofree char *setting = g_strdup_printf ("retention.%s", panel_policy_categories[i].name);
      json_builder_add_string_value (b, setting);
      json_builder_set_member_name (b, "old_days");
      if (before.days[i] > 0)
        json_builder_add_int_value (b, before.days[i]);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "new_days");
      if (new_days > 0)
        json_builder_add_int_value (b, new_days);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "old_is_default");
      json_builder_add_boolean_value (b, !before.overridden[i]);
      json_builder_set_member_name (b, "new_is_default");
      json_builder_add_boolean_value (b, !new_override);
      json_builder_end_object (b);
      g_autoptr (JsonNode) change = json_builder_get_root (b);
      g_autofree char *detail = json_to_string (change, FALSE);
      g_autofree char *target = g_strdup_printf ("retention %s", panel_policy_categories[i].name);
      if (!panel_console_audit (self->console, msg, session, PANEL_AUDIT_SETTING_CHANGED, target,
                                detail, &error))
        goto fail;
      n_changed++;
    }
  if (!panel_policy_load (self->db, &after, &error) || !ansim_db_commit (self->db, &error))
    goto fail;
  if (n_changed > 0)
    g_message ("retention policy: %u categories changed by %s", n_changed, session->user);
  node = policy_node (&after);
  panel_console_send_json_node (msg, SOUP_STATUS_OK, node);
  return;

fail:
  ansim_db_rollback (self->db);
  send_internal (msg, "changing the retention policy", error);
}

static void
handle_policy (PanelHttpRequest *req)
{
  PanelRetention *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  g_auto (PanelPolicy) p = { 0 };
  g_autoptr (GError) error = NULL;
  if (!panel_policy_load (self->db, &p, &error))
    return send_internal (msg, "reading the retention policy", error);
  g_autoptr (JsonNode) node = policy_node (&p);
  panel_console_send_json_node (msg, SOUP_STATUS_OK, node);
}

static void
handle_change_policy (PanelHttpRequest *req)
{
  change_policy (req->user_data, req->msg, req->session);
}

/* Auditors may read the policy they check the purges against. */
static const PanelRoute routes[] = {
  { PANEL_HTTP_GET, "/api/settings/retention", PANEL_CALLER_CONSOLE,
    PANEL_ROLE_ADMIN | PANEL_ROLE_AUDITOR, 0, handle_policy },
  { PANEL_HTTP_POST, "/api/settings/retention", PANEL_CALLER_CONSOLE, PANEL_ROLE_ADMIN, 0,
    handle_change_policy },
};

/* ---- legal hold ------------------------------------------------------- */

void
panel_retention_handle_hold (PanelRetention *self, SoupServerMessage *msg, PanelSession *session,
                             gint64 id)
{
  g_autoptr (JsonObject) body = panel_console_read_json_object (msg);
  g_autoptr (GError) error = NULL;
  g_autofree char *device_id = NULL, *uuid = NULL, *desk_id = NULL, *reason = NULL;
  gboolean hold, held, purging;
  JsonNode *node;
  g_autoptr (JsonBuilder) r = json_builder_new ();
  g_autoptr (JsonNode) answer = NULL;

  if (body == NULL)
    return;
  static const char *const members[] = { "hold", "reason", NULL };
  if (!panel_http_only_members (msg, body, members))
    return;
  node = json_object_get_member (body, "hold");
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return panel_console_send_error (
      msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
      "hold must be true (place a legal hold) or false (release it)");
  hold = json_node_get_boolean (node);
  node = json_object_get_member (body, "reason");
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                     "reason is required: why the hold is placed or released");
  reason = g_strstrip (g_strdup (json_node_get_string (node)));
  if (*reason == '\0' || g_utf8_strlen (reason, -1) > MAX_REASON_CHARS)
    return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                     "reason must be text of 1 to 500 characters");

  {
    g_autoptr (sqlite3_stmt) s =
      ansim_db_prepare (self->db,
                        "SELECT device_id, uuid, desk_id, legal_hold_at_us IS NOT NULL, "
                        "purge_started_at_us IS NOT NULL FROM incidents WHERE id = ?1",
                        &error);
    if (s == NULL)
      return send_internal (msg, "reading the incident", error);
    sqlite3_bind_int64 (s, 1, id);
    if (sqlite3_step (s) != SQLITE_ROW)
      return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such incident");
    device_id = g_strdup ((const char *) sqlite3_column_text (s, 0));
    uuid = g_strdup ((const char *) sqlite3_column_text (s, 1));
    desk_id = g_strdup ((const char *) sqlite3_column_text (s, 2));
    held = sqlite3_column_int (s, 3);
    purging = sqlite3_column_int (s, 4);
  }
  if (purging)
    return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict",
                                     "the incident's retention period is over and it is being "
                                     "purged; it can no longer be held");
  if (hold == held)
    return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict",
                                     hold ? "the incident is already on legal hold"
                                          : "the incident is not on legal hold");

  g_autofree char *prefix = g_strdup_printf ("%s/%s/", device_id, uuid);
  /* Placing: the objects' holds first, so a database that says "held"
   * never has unheld objects; a store that cannot be reached changes
   * nothing. */
  if (hold && !panel_store_protect_prefix (self->store, prefix, 0, 1, &error))
    {
      g_warning ("legal hold on incident %" G_GINT64_FORMAT ": %s", id, error->message);
      return panel_console_send_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "store-unavailable",
                                       "the evidence store did not accept the legal hold; "
                                       "nothing changed, try again");
    }

  gint64 now = g_get_real_time ();
  g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, id);
  g_autoptr (AnsimJsonBuilder) b = ansim_json_builder_new ();
  ansim_json_builder_add_string (b, "reason", reason);
  ansim_json_builder_add_string (b, "desk", desk_id);
  ansim_json_builder_add_string (b, "uuid", uuid);
  g_autofree char *detail = ansim_json_builder_end (b);

  if (!ansim_db_begin (self->db, &error))
    return send_internal (msg, "recording the legal hold", error);
  {
    g_autoptr (sqlite3_stmt) upd = ansim_db_prepare (
      self->db,
      hold
        ? "UPDATE incidents SET legal_hold_at_us = ?2, legal_hold_by = ?3, legal_hold_reason = ?4 "
          "WHERE id = ?1 AND legal_hold_at_us IS NULL AND purge_started_at_us IS NULL"
        : "UPDATE incidents SET legal_hold_at_us = NULL, legal_hold_by = NULL, "
          "legal_hold_reason = NULL WHERE id = ?1 AND legal_hold_at_us IS NOT NULL",
      &error);
    g_autoptr (sqlite3_stmt) ev = ansim_db_prepare (
      self->db,
      "INSERT INTO events (at_wall_us, at_mono_us, kind, desk_id, trigger, incident_id, actor, "
      "detail) SELECT ?2, ?3, ?4, desk_id, trigger, id, ?5, ?6 FROM incidents WHERE id = ?1",
      &error);
    if (upd == NULL || ev == NULL)
      goto fail;
    sqlite3_bind_int64 (upd, 1, id);
    if (hold)
      {
        sqlite3_bind_int64 (upd, 2, now);
        sqlite3_bind_text (upd, 3, session->user, -1, SQLITE_STATIC);
        sqlite3_bind_text (upd, 4, reason, -1, SQLITE_STATIC);
      }
    if (sqlite3_step (upd) != SQLITE_DONE)
      {
        ansim_db_set_error (self->db, &error, "recording the legal hold");
        goto fail;
      }
    if (sqlite3_changes (self->db) != 1)
      {
        ansim_db_rollback (self->db);
        return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict",
                                         "the incident changed meanwhile; reload it");
      }
    sqlite3_bind_int64 (ev, 1, id);
    sqlite3_bind_int64 (ev, 2, now);
    sqlite3_bind_int64 (ev, 3, g_get_monotonic_time ());
    sqlite3_bind_text (ev, 4, hold ? "legal-hold" : "legal-hold-released", -1, SQLITE_STATIC);
    sqlite3_bind_text (ev, 5, session->user, -1, SQLITE_STATIC);
    sqlite3_bind_text (ev, 6, detail, -1, SQLITE_STATIC);
    if (sqlite3_step (ev) != SQLITE_DONE)
      {
        ansim_db_set_error (self->db, &error, "recording the legal hold");
        goto fail;
      }
  }
  if (!panel_console_audit (self->console, msg, session,
                            hold ? PANEL_AUDIT_LEGAL_HOLD_SET : PANEL_AUDIT_LEGAL_HOLD_RELEASED,
                            target, detail, &error)
      || !ansim_db_commit (self->db, &error))
    goto fail;
  g_message ("incident %" G_GINT64_FORMAT ": legal hold %s by %s", id, hold ? "placed" : "released",
             session->user);
  /* Releasing: the database first; objects still held are harmless, the
   * purge lifts their hold before it deletes them. */
  if (!hold)
    {
      g_autoptr (GError) local = NULL;
      if (!panel_store_protect_prefix (self->store, prefix, 0, 0, &local))
        g_warning ("incident %" G_GINT64_FORMAT ": the objects keep their legal hold (%s); the "
                   "purge lifts it when their time comes",
                   id, local->message);
    }
  json_builder_begin_object (r);
  json_builder_set_member_name (r, "id");
  json_builder_add_int_value (r, id);
  json_builder_set_member_name (r, "legal_hold");
  json_builder_add_boolean_value (r, hold);
  json_builder_set_member_name (r, "legal_hold_by");
  json_builder_add_string_value (r, hold ? session->user : NULL);
  json_builder_set_member_name (r, "legal_hold_reason");
  json_builder_add_string_value (r, hold ? reason : NULL);
  json_builder_end_object (r);
  answer = json_builder_get_root (r);
  panel_console_send_json_node (msg, SOUP_STATUS_OK, answer);
  return;

fail:
  ansim_db_rollback (self->db);
  send_internal (msg, "recording the legal hold", error);
}

/* ---- the periodic pass ------------------------------------------------ */

static gboolean
on_timer (gpointer user_data)
{
  PanelRetention *self = user_data;
  g_autoptr (GError) error = NULL;
  guint purged = 0, failed = 0;

  if (!panel_retention_purge (self->db, self->store, FALSE, "ansim-panel", NULL, &purged, &failed,
                              &error))
    g_warning ("purge: %s; retried on the next pass", error->message);
  g_clear_error (&error);
  if (!panel_retention_extend_locks (self->db, self->store, &error))
    g_warning ("extending Object Lock dates: %s; retried on the next pass", error->message);
  return G_SOURCE_CONTINUE;
}

PanelRetention *
panel_retention_new (PanelHttp *http, sqlite3 *db, PanelStore *store, PanelConsole *console,
                     AnsimConfig *config)
{
  PanelRetention *self = g_new0 (PanelRetention, 1);
  gint64 interval = ansim_config_get_int (config, "panel", "purge_interval_s");

  self->db = db;
  self->store = store;
  self->console = console;
  panel_http_add_routes (http, routes, G_N_ELEMENTS (routes), self);
  if (interval > 0)
    self->timer_id = g_timeout_add_seconds (interval, on_timer, self);
  return self;
}

void
panel_retention_free (PanelRetention *self)
{
  if (self == NULL)
    return;
  if (self->timer_id != 0)
    g_source_remove (self->timer_id);
  g_free (self);
}
