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

/* The members of a settings change {"drill": 14, "assault": 365,
 * "threat": null}, all checked. FALSE with a message for a 400. */
static gboolean
parse_policy_change (JsonObject *body, gint wanted[PANEL_POLICY_N_CATEGORIES],
                     gboolean given[PANEL_POLICY_N_CATEGORIES], char **out_problem)
{
  g_autoptr (GList) names = json_object_get_members (body);
  for (guint i = 0; i < PANEL_POLICY_N_CATEGORIES; i++)
    given[i] = FALSE, wanted[i] = 0;
  if (names == NULL)
    {
      *out_problem = g_strdup ("give at least one category with its days");
      return FALSE;
    }
  for (GList *l = names; l != NULL; l = l->next)
    {
      int i = panel_policy_category_index (l->data);
      if (i < 0)
        {
          *out_problem = g_strdup_printf ("unknown retention category \"%.64s\"", (char *) l->data);
          return FALSE;
        }
      if (!parse_days (json_object_get_member (body, l->data), &wanted[i]))
        {
          *out_problem = g_strdup_printf (
            "%s: days must be a whole number from %d to %d, or null for the default",
            panel_policy_categories[i].name, PANEL_RETENTION_MIN_DAYS, PANEL_RETENTION_MAX_DAYS);
          return FALSE;
        }
      given[i] = TRUE;
    }
  return TRUE;
}

/* The days a change gives category i (its default for null). */
static gint
new_days_of (const gint *wanted, const gboolean *given, const PanelPolicy *before, guint i)
{
  if (!given[i])
    return before->days[i];
  return wanted[i] == 0 ? panel_policy_categories[i].default_days : wanted[i];
}

/* Inside the write transaction: the categories (names joined by ", ")
 * whose period the change shortens while an incident of theirs is on legal
 * hold; NULL when none. Four eyes apply to those (docs/console.md). */
static char *
shortened_held (PanelRetention *self, const gint *wanted, const gboolean *given,
                const PanelPolicy *before, GError **error)
{
  gboolean held_in[PANEL_POLICY_N_CATEGORIES] = { FALSE };
  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (
    self->db, "SELECT is_drill, resolution FROM incidents WHERE legal_hold_at_us IS NOT NULL",
    error);
  if (s == NULL)
    return NULL;
  while (sqlite3_step (s) == SQLITE_ROW)
    held_in[panel_policy_incident_category (sqlite3_column_int (s, 0),
                                            (const char *) sqlite3_column_text (s, 1))] = TRUE;
  /* Effective periods: a category without its own follows "incident". */
  PanelPolicy next = { 0 };
  for (guint i = 0; i < PANEL_POLICY_N_CATEGORIES; i++)
    next.days[i] = new_days_of (wanted, given, before, i);
  g_autoptr (GString) names = g_string_new (NULL);
  for (guint i = 0; i < PANEL_POLICY_N_CATEGORIES; i++)
    if (held_in[i] && panel_policy_days (&next, i) < panel_policy_days (before, i))
      g_string_append_printf (names, "%s%s", names->len > 0 ? ", " : "",
                              panel_policy_categories[i].name);
  return names->len > 0 ? g_string_free (g_steal_pointer (&names), FALSE) : NULL;
}

/* Inside the write transaction: writes the rows and one audit entry per
 * changed category (old and new value), as session's user. */
static gboolean
apply_policy_change (PanelRetention *self, SoupServerMessage *msg, PanelSession *session,
                     const gint *wanted, const gboolean *given, const PanelPolicy *before,
                     guint *out_changed, GError **error)
{
  *out_changed = 0;
  for (guint i = 0; i < PANEL_POLICY_N_CATEGORIES; i++)
    {
      gint new_days = new_days_of (wanted, given, before, i);
      gboolean new_override = given[i] && wanted[i] != 0;
      if (!given[i] || (new_days == before->days[i] && new_override == before->overridden[i]))
        continue;
      g_autoptr (sqlite3_stmt) s = ansim_db_prepare (
        self->db,
        new_override ? "INSERT INTO retention_policy (category, days, changed_by, changed_at_us) "
                       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (category) DO UPDATE SET days = ?2, "
                       "changed_by = ?3, changed_at_us = ?4"
                     : "DELETE FROM retention_policy WHERE category = ?1",
        error);
      if (s == NULL)
        return FALSE;
      sqlite3_bind_text (s, 1, panel_policy_categories[i].name, -1, SQLITE_STATIC);
      if (new_override)
        {
          sqlite3_bind_int (s, 2, new_days);
          sqlite3_bind_text (s, 3, session->user, -1, SQLITE_STATIC);
          sqlite3_bind_int64 (s, 4, g_get_real_time ());
        }
      if (sqlite3_step (s) != SQLITE_DONE)
        {
          ansim_db_set_error (self->db, error, "writing the retention policy");
          return FALSE;
        }
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "setting");
      g_autofree char *setting = g_strdup_printf ("retention.%s", panel_policy_categories[i].name);
      json_builder_add_string_value (b, setting);
      json_builder_set_member_name (b, "old_days");
      if (before->days[i] > 0)
        json_builder_add_int_value (b, before->days[i]);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "new_days");
      if (new_days > 0)
        json_builder_add_int_value (b, new_days);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "old_is_default");
      json_builder_add_boolean_value (b, !before->overridden[i]);
      json_builder_set_member_name (b, "new_is_default");
      json_builder_add_boolean_value (b, !new_override);
      json_builder_end_object (b);
      g_autoptr (JsonNode) change = json_builder_get_root (b);
      g_autofree char *detail = json_to_string (change, FALSE);
      g_autofree char *target = g_strdup_printf ("retention %s", panel_policy_categories[i].name);
      if (!panel_console_audit (self->console, msg, session, PANEL_AUDIT_SETTING_CHANGED, target,
                                detail, error))
        return FALSE;
      (*out_changed)++;
    }
  return TRUE;
}

/* POST /api/settings/retention: all members checked before anything
 * changes; one transaction. A change that shortens the period of a
 * category holding incidents on legal hold becomes a request for a second
 * administrator (202 with its approval id), changing nothing yet. */
static void
change_policy (PanelRetention *self, SoupServerMessage *msg, PanelSession *session)
{
  g_autoptr (JsonObject) body = panel_console_read_json_object (msg);
  g_auto (PanelPolicy) before = { 0 }, after = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *problem = NULL, *shortened = NULL;
  gint wanted[PANEL_POLICY_N_CATEGORIES];
  gboolean given[PANEL_POLICY_N_CATEGORIES];
  guint n_changed = 0;
  g_autoptr (JsonNode) node = NULL;

  if (body == NULL)
    return;
  if (!parse_policy_change (body, wanted, given, &problem))
    return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", problem);

  if (!ansim_db_begin (self->db, &error))
    return send_internal (msg, "changing the retention policy", error);
  if (!panel_policy_load (self->db, &before, &error))
    goto fail;
  shortened = shortened_held (self, wanted, given, &before, &error);
  if (error != NULL)
    goto fail;
  if (shortened != NULL)
    {
      g_autoptr (JsonNode) request_node = json_node_new (JSON_NODE_OBJECT);
      json_node_set_object (request_node, body);
      g_autofree char *request = json_to_string (request_node, FALSE);
      g_autofree char *reason =
        g_strdup_printf ("shortens the retention of held incidents (%s)", shortened);
      g_autoptr (sqlite3_stmt) ins = ansim_db_prepare (
        self->db,
        "INSERT INTO approvals (action, request, reason, requested_by, requested_at_us) "
        "VALUES ('retention-shorten', ?1, ?2, ?3, ?4)",
        &error);
      if (ins == NULL)
        goto fail;
      sqlite3_bind_text (ins, 1, request, -1, SQLITE_STATIC);
      sqlite3_bind_text (ins, 2, reason, -1, SQLITE_STATIC);
      sqlite3_bind_text (ins, 3, session->user, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (ins, 4, g_get_real_time ());
      if (sqlite3_step (ins) != SQLITE_DONE)
        {
          ansim_db_set_error (self->db, &error, "recording the request");
          goto fail;
        }
      gint64 approval = sqlite3_last_insert_rowid (self->db);
      g_autoptr (AnsimJsonBuilder) d = ansim_json_builder_new ();
      ansim_json_builder_add_int (d, "approval", approval);
      ansim_json_builder_add_string (d, "categories", shortened);
      ansim_json_builder_add_string (d, "change", request);
      g_autofree char *detail = ansim_json_builder_end (d);
      if (!panel_console_audit (self->console, msg, session,
                                PANEL_AUDIT_RETENTION_SHORTEN_REQUESTED, "retention", detail,
                                &error)
          || !ansim_db_commit (self->db, &error))
        goto fail;
      g_message ("retention policy: %s asked to shorten %s, which hold incidents on legal hold "
                 "(approval %" G_GINT64_FORMAT ")",
                 session->user, shortened, approval);
      g_autoptr (JsonBuilder) r = json_builder_new ();
      json_builder_begin_object (r);
      json_builder_set_member_name (r, "approval");
      json_builder_add_int_value (r, approval);
      json_builder_set_member_name (r, "categories");
      json_builder_add_string_value (r, shortened);
      json_builder_end_object (r);
      return panel_console_send_json (msg, SOUP_STATUS_ACCEPTED, r);
    }
  if (!apply_policy_change (self, msg, session, wanted, given, &before, &n_changed, &error))
    goto fail;
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

/* Placing a hold takes one administrator; releasing it takes two (four
 * eyes): one asks (an approvals row, audited), another approves, and only
 * then is it released (audited with both names). */

typedef struct {
  char *device_id, *uuid, *desk_id;
  gboolean held, purging;
} HeldIncident;

static void
held_incident_clear (HeldIncident *h)
{
  g_free (h->device_id);
  g_free (h->uuid);
  g_free (h->desk_id);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HeldIncident, held_incident_clear)

/* FALSE after answering (404, 500). */
static gboolean
read_held_incident (PanelRetention *self, SoupServerMessage *msg, gint64 id, HeldIncident *out)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) s =
    ansim_db_prepare (self->db,
                      "SELECT device_id, uuid, desk_id, legal_hold_at_us IS NOT NULL, "
                      "purge_started_at_us IS NOT NULL FROM incidents WHERE id = ?1",
                      &error);
  if (s == NULL)
    {
      send_internal (msg, "reading the incident", error);
      return FALSE;
    }
  sqlite3_bind_int64 (s, 1, id);
  if (sqlite3_step (s) != SQLITE_ROW)
    {
      panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", "no such incident");
      return FALSE;
    }
  out->device_id = g_strdup ((const char *) sqlite3_column_text (s, 0));
  out->uuid = g_strdup ((const char *) sqlite3_column_text (s, 1));
  out->desk_id = g_strdup ((const char *) sqlite3_column_text (s, 2));
  out->held = sqlite3_column_int (s, 3);
  out->purging = sqlite3_column_int (s, 4);
  return TRUE;
}

static void
send_hold_answer (SoupServerMessage *msg, gint64 id, gboolean held, const char *by,
                  const char *reason, gint64 approval_id, guint status)
{
  g_autoptr (JsonBuilder) r = json_builder_new ();
  json_builder_begin_object (r);
  json_builder_set_member_name (r, "id");
  json_builder_add_int_value (r, id);
  json_builder_set_member_name (r, "legal_hold");
  json_builder_add_boolean_value (r, held);
  json_builder_set_member_name (r, "legal_hold_by");
  json_builder_add_string_value (r, held ? by : NULL);
  json_builder_set_member_name (r, "legal_hold_reason");
  json_builder_add_string_value (r, held ? reason : NULL);
  if (approval_id > 0)
    {
      json_builder_set_member_name (r, "approval");
      json_builder_add_int_value (r, approval_id);
    }
  json_builder_end_object (r);
  g_autoptr (JsonNode) answer = json_builder_get_root (r);
  panel_console_send_json_node (msg, status, answer);
}

/* Inside a write transaction: the hold's change on the incident and its
 * timeline event. FALSE with error; *out_changed FALSE when the incident
 * changed meanwhile. */
static gboolean
write_hold (PanelRetention *self, gint64 id, gboolean hold, const char *user, const char *reason,
            const char *detail, gboolean *out_changed, GError **error)
{
  gint64 now = g_get_real_time ();
  g_autoptr (sqlite3_stmt) upd = ansim_db_prepare (
    self->db,
    hold ? "UPDATE incidents SET legal_hold_at_us = ?2, legal_hold_by = ?3, legal_hold_reason = ?4 "
           "WHERE id = ?1 AND legal_hold_at_us IS NULL AND purge_started_at_us IS NULL"
         : "UPDATE incidents SET legal_hold_at_us = NULL, legal_hold_by = NULL, "
           "legal_hold_reason = NULL WHERE id = ?1 AND legal_hold_at_us IS NOT NULL",
    error);
  g_autoptr (sqlite3_stmt) ev = ansim_db_prepare (
    self->db,
    "INSERT INTO events (at_wall_us, at_mono_us, kind, desk_id, trigger, incident_id, actor, "
    "detail) SELECT ?2, ?3, ?4, desk_id, trigger, id, ?5, ?6 FROM incidents WHERE id = ?1",
    error);
  if (upd == NULL || ev == NULL)
    return FALSE;
  sqlite3_bind_int64 (upd, 1, id);
  if (hold)
    {
      sqlite3_bind_int64 (upd, 2, now);
      sqlite3_bind_text (upd, 3, user, -1, SQLITE_STATIC);
      sqlite3_bind_text (upd, 4, reason, -1, SQLITE_STATIC);
    }
  if (sqlite3_step (upd) != SQLITE_DONE)
    {
      ansim_db_set_error (self->db, error, "recording the legal hold");
      return FALSE;
    }
  *out_changed = sqlite3_changes (self->db) == 1;
  if (!*out_changed)
    return TRUE;
  sqlite3_bind_int64 (ev, 1, id);
  sqlite3_bind_int64 (ev, 2, now);
  sqlite3_bind_int64 (ev, 3, g_get_monotonic_time ());
  sqlite3_bind_text (ev, 4, hold ? "legal-hold" : "legal-hold-released", -1, SQLITE_STATIC);
  sqlite3_bind_text (ev, 5, user, -1, SQLITE_STATIC);
  sqlite3_bind_text (ev, 6, detail, -1, SQLITE_STATIC);
  if (sqlite3_step (ev) != SQLITE_DONE)
    {
      ansim_db_set_error (self->db, error, "recording the legal hold");
      return FALSE;
    }
  return TRUE;
}

static void
place_hold (PanelRetention *self, SoupServerMessage *msg, PanelSession *session, gint64 id,
            const HeldIncident *h, const char *reason)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *prefix = g_strdup_printf ("%s/%s/", h->device_id, h->uuid);
  /* The objects' holds first, so a database that says "held" never has
   * unheld objects; a store that cannot be reached changes nothing. */
  if (!panel_store_protect_prefix (self->store, prefix, 0, 1, &error))
    {
      g_warning ("legal hold on incident %" G_GINT64_FORMAT ": %s", id, error->message);
      return panel_console_send_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "store-unavailable",
                                       "the evidence store did not accept the legal hold; "
                                       "nothing changed, try again");
    }
  g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, id);
  g_autoptr (AnsimJsonBuilder) b = ansim_json_builder_new ();
  ansim_json_builder_add_string (b, "reason", reason);
  ansim_json_builder_add_string (b, "desk", h->desk_id);
  ansim_json_builder_add_string (b, "uuid", h->uuid);
  g_autofree char *detail = ansim_json_builder_end (b);
  gboolean changed = FALSE;

  if (!ansim_db_begin (self->db, &error))
    return send_internal (msg, "recording the legal hold", error);
  if (!write_hold (self, id, TRUE, session->user, reason, detail, &changed, &error))
    goto fail;
  if (!changed)
    {
      ansim_db_rollback (self->db);
      return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict",
                                       "the incident changed meanwhile; reload it");
    }
  if (!panel_console_audit (self->console, msg, session, PANEL_AUDIT_LEGAL_HOLD_SET, target, detail,
                            &error)
      || !ansim_db_commit (self->db, &error))
    goto fail;
  g_message ("incident %" G_GINT64_FORMAT ": legal hold placed by %s", id, session->user);
  send_hold_answer (msg, id, TRUE, session->user, reason, 0, SOUP_STATUS_OK);
  return;

fail:
  ansim_db_rollback (self->db);
  send_internal (msg, "recording the legal hold", error);
}

/* The first administrator's half: a request, audited; the hold stays. */
static void
request_release (PanelRetention *self, SoupServerMessage *msg, PanelSession *session, gint64 id,
                 const HeldIncident *h, const char *reason)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, id);
  gint64 approval = 0;

  if (!ansim_db_begin (self->db, &error))
    return send_internal (msg, "recording the release request", error);
  {
    g_autoptr (sqlite3_stmt) open = ansim_db_prepare (
      self->db,
      "SELECT id, requested_by FROM approvals WHERE action = 'legal-hold-release' "
      "AND incident_id = ?1 AND decision IS NULL",
      &error);
    if (open == NULL)
      goto fail;
    sqlite3_bind_int64 (open, 1, id);
    if (sqlite3_step (open) == SQLITE_ROW)
      {
        g_autofree char *text = g_strdup_printf (
          "the release of this hold already waits for a second administrator (request %" G_GINT64_FORMAT
          " by %s)",
          (gint64) sqlite3_column_int64 (open, 0), (const char *) sqlite3_column_text (open, 1));
        ansim_db_rollback (self->db);
        return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict", text);
      }
    g_autoptr (sqlite3_stmt) ins = ansim_db_prepare (
      self->db,
      "INSERT INTO approvals (action, incident_id, reason, requested_by, requested_at_us) "
      "VALUES ('legal-hold-release', ?1, ?2, ?3, ?4)",
      &error);
    if (ins == NULL)
      goto fail;
    sqlite3_bind_int64 (ins, 1, id);
    sqlite3_bind_text (ins, 2, reason, -1, SQLITE_STATIC);
    sqlite3_bind_text (ins, 3, session->user, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (ins, 4, g_get_real_time ());
    if (sqlite3_step (ins) != SQLITE_DONE)
      {
        ansim_db_set_error (self->db, &error, "recording the release request");
        goto fail;
      }
    approval = sqlite3_last_insert_rowid (self->db);
  }
  {
    g_autoptr (AnsimJsonBuilder) b = ansim_json_builder_new ();
    ansim_json_builder_add_int (b, "approval", approval);
    ansim_json_builder_add_string (b, "reason", reason);
    ansim_json_builder_add_string (b, "desk", h->desk_id);
    ansim_json_builder_add_string (b, "uuid", h->uuid);
    g_autofree char *detail = ansim_json_builder_end (b);
    if (!panel_console_audit (self->console, msg, session, PANEL_AUDIT_LEGAL_HOLD_RELEASE_REQUESTED,
                              target, detail, &error)
        || !ansim_db_commit (self->db, &error))
      goto fail;
  }
  g_message ("incident %" G_GINT64_FORMAT ": release of the legal hold requested by %s "
             "(approval %" G_GINT64_FORMAT ")",
             id, session->user, approval);
  send_hold_answer (msg, id, TRUE, NULL, NULL, approval, SOUP_STATUS_ACCEPTED);
  return;

fail:
  ansim_db_rollback (self->db);
  send_internal (msg, "recording the release request", error);
}

void
panel_retention_handle_hold (PanelRetention *self, SoupServerMessage *msg, PanelSession *session,
                             gint64 id)
{
  g_autoptr (JsonObject) body = panel_console_read_json_object (msg);
  g_autofree char *reason = NULL;
  g_auto (HeldIncident) h = { 0 };
  gboolean hold;
  JsonNode *node;

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
      "hold must be true (place a legal hold) or false (ask to release it)");
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
  if (!read_held_incident (self, msg, id, &h))
    return;
  if (h.purging)
    return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict",
                                     "the incident's retention period is over and it is being "
                                     "purged; it can no longer be held");
  if (hold == h.held)
    return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict",
                                     hold ? "the incident is already on legal hold"
                                          : "the incident is not on legal hold");
  if (hold)
    place_hold (self, msg, session, id, &h, reason);
  else
    request_release (self, msg, session, id, &h, reason);
}

/* ---- approvals (the second administrator's half) ---------------------------- */

static const char *const request_embedded[] = { "request", NULL };

static void
handle_approvals (PanelHttpRequest *req)
{
  PanelRetention *self = req->user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (
    self->db,
    "SELECT a.id, a.action, a.incident_id, i.desk_id, a.reason, a.request, a.requested_by, "
    "a.requested_at_us, coalesce (a.decision, 'pending') AS status, a.decided_by, "
    "a.decided_at_us FROM approvals a LEFT JOIN incidents i ON i.id = a.incident_id "
    "ORDER BY a.decision IS NOT NULL, a.id DESC LIMIT 100",
    &error);
  if (s == NULL)
    return send_internal (req->msg, "reading the approvals", error);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "user");
  json_builder_add_string_value (b, req->session->user);
  json_builder_set_member_name (b, "approvals");
  json_builder_begin_array (b);
  while (sqlite3_step (s) == SQLITE_ROW)
    panel_http_add_row (b, s, NULL, request_embedded);
  json_builder_end_array (b);
  json_builder_end_object (b);
  panel_console_send_json (req->msg, SOUP_STATUS_OK, b);
}

/* Inside the write transaction: the decision on a pending request;
 * *out_changed FALSE when it was decided meanwhile. */
static gboolean
mark_decided (PanelRetention *self, gint64 approval, const char *stored, const char *user,
              gboolean *out_changed, GError **error)
{
  g_autoptr (sqlite3_stmt) upd =
    ansim_db_prepare (self->db,
                      "UPDATE approvals SET decision = ?2, decided_by = ?3, decided_at_us = ?4 "
                      "WHERE id = ?1 AND decision IS NULL",
                      error);
  if (upd == NULL)
    return FALSE;
  sqlite3_bind_int64 (upd, 1, approval);
  sqlite3_bind_text (upd, 2, stored, -1, SQLITE_STATIC);
  sqlite3_bind_text (upd, 3, user, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (upd, 4, g_get_real_time ());
  if (sqlite3_step (upd) != SQLITE_DONE)
    {
      ansim_db_set_error (self->db, error, "recording the decision");
      return FALSE;
    }
  *out_changed = sqlite3_changes (self->db) == 1;
  return TRUE;
}

/* A request to shorten periods that hold held incidents: approved, the
 * stored change is applied as the approver's (setting-changed entries
 * with the approver as actor) in the same transaction. */
static void
decide_retention (PanelRetention *self, SoupServerMessage *msg, PanelSession *session,
                  gint64 approval, const char *stored, const char *requested_by,
                  const char *request)
{
  g_autoptr (GError) error = NULL;
  g_auto (PanelPolicy) before = { 0 }, after = { 0 };
  g_autofree char *problem = NULL;
  gint wanted[PANEL_POLICY_N_CATEGORIES];
  gboolean given[PANEL_POLICY_N_CATEGORIES];
  gboolean approve = g_str_equal (stored, "approved"), changed = FALSE;
  guint n_changed = 0;
  g_autoptr (JsonNode) parsed = json_from_string (request, NULL);
  g_autoptr (JsonNode) node = NULL;

  if (parsed == NULL || !JSON_NODE_HOLDS_OBJECT (parsed)
      || !parse_policy_change (json_node_get_object (parsed), wanted, given, &problem))
    return send_internal (msg, "reading the requested retention change", NULL);
  g_autoptr (AnsimJsonBuilder) b = ansim_json_builder_new ();
  ansim_json_builder_add_int (b, "approval", approval);
  ansim_json_builder_add_string (b, "requested_by", requested_by);
  ansim_json_builder_add_string (b, "change", request);
  g_autofree char *detail = ansim_json_builder_end (b);

  if (!ansim_db_begin (self->db, &error))
    return send_internal (msg, "recording the decision", error);
  if (!mark_decided (self, approval, stored, session->user, &changed, &error))
    goto fail;
  if (!changed)
    {
      ansim_db_rollback (self->db);
      return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict",
                                       "the request was decided meanwhile; reload");
    }
  if (!panel_console_audit (self->console, msg, session,
                            approve ? PANEL_AUDIT_RETENTION_SHORTEN_APPROVED
                            : g_str_equal (stored, "rejected")
                              ? PANEL_AUDIT_RETENTION_SHORTEN_REJECTED
                              : PANEL_AUDIT_RETENTION_SHORTEN_WITHDRAWN,
                            "retention", detail, &error))
    goto fail;
  if (approve
      && (!panel_policy_load (self->db, &before, &error)
          || !apply_policy_change (self, msg, session, wanted, given, &before, &n_changed, &error)))
    goto fail;
  if (!panel_policy_load (self->db, &after, &error) || !ansim_db_commit (self->db, &error))
    goto fail;
  g_message ("retention policy: the change asked by %s %s by %s", requested_by, stored,
             session->user);
  node = policy_node (&after);
  panel_console_send_json_node (msg, SOUP_STATUS_OK, node);
  return;

fail:
  ansim_db_rollback (self->db);
  send_internal (msg, "recording the decision", error);
}

/* POST /api/approvals/{approval-id} {"decision": "approve"|"reject"|"withdraw"}:
 * approve and reject by another administrator than the requester,
 * withdraw by the requester. Approving a release releases the hold in
 * the same transaction. */
static void
handle_decide (PanelHttpRequest *req)
{
  PanelRetention *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  PanelSession *session = req->session;
  gint64 approval = req->ids[0];
  g_autoptr (JsonObject) body = panel_console_read_json_object (msg);
  g_autoptr (GError) error = NULL;
  g_autofree char *requested_by = NULL, *reason = NULL, *action = NULL, *request = NULL;
  g_auto (HeldIncident) h = { 0 };
  gint64 id = 0;

  if (body == NULL)
    return;
  static const char *const members[] = { "decision", NULL };
  if (!panel_http_only_members (msg, body, members))
    return;
  const char *decision = json_object_get_string_member_with_default (body, "decision", "");
  const char *stored = g_str_equal (decision, "approve")    ? "approved"
                       : g_str_equal (decision, "reject")   ? "rejected"
                       : g_str_equal (decision, "withdraw") ? "withdrawn"
                                                            : NULL;
  if (stored == NULL)
    return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                     "decision must be approve, reject or withdraw");
  {
    g_autoptr (sqlite3_stmt) s = ansim_db_prepare (
      self->db,
      "SELECT incident_id, requested_by, reason, decision, action, request FROM approvals "
      "WHERE id = ?1",
      &error);
    if (s == NULL)
      return send_internal (msg, "reading the approval", error);
    sqlite3_bind_int64 (s, 1, approval);
    if (sqlite3_step (s) != SQLITE_ROW)
      return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found",
                                       "no such approval request");
    if (sqlite3_column_type (s, 3) != SQLITE_NULL)
      return panel_http_send_errorf (msg, SOUP_STATUS_CONFLICT, "conflict",
                                     "this request was already %s",
                                     (const char *) sqlite3_column_text (s, 3));
    id = sqlite3_column_int64 (s, 0);
    requested_by = g_strdup ((const char *) sqlite3_column_text (s, 1));
    reason = g_strdup ((const char *) sqlite3_column_text (s, 2));
    action = g_strdup ((const char *) sqlite3_column_text (s, 4));
    request = g_strdup ((const char *) sqlite3_column_text (s, 5));
  }
  gboolean own = g_strcmp0 (requested_by, session->user) == 0;
  if (own && !g_str_equal (stored, "withdrawn"))
    return panel_console_send_error (msg, SOUP_STATUS_FORBIDDEN, "four-eyes",
                                     "you asked for this: a second administrator must approve "
                                     "or reject it (you may withdraw it)");
  if (!own && g_str_equal (stored, "withdrawn"))
    return panel_http_send_errorf (msg, SOUP_STATUS_FORBIDDEN, "forbidden",
                                   "only %s, who asked, can withdraw this request; approve "
                                   "or reject it",
                                   requested_by);
  if (g_strcmp0 (action, "retention-shorten") == 0)
    return decide_retention (self, msg, session, approval, stored, requested_by, request);
  if (!read_held_incident (self, msg, id, &h))
    return;

  g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, id);
  g_autoptr (AnsimJsonBuilder) b = ansim_json_builder_new ();
  ansim_json_builder_add_int (b, "approval", approval);
  ansim_json_builder_add_string (b, "reason", reason);
  ansim_json_builder_add_string (b, "requested_by", requested_by);
  ansim_json_builder_add_string (b, "desk", h.desk_id);
  ansim_json_builder_add_string (b, "uuid", h.uuid);
  g_autofree char *detail = ansim_json_builder_end (b);
  gboolean approve = g_str_equal (stored, "approved"), changed = TRUE;

  if (!ansim_db_begin (self->db, &error))
    return send_internal (msg, "recording the decision", error);
  if (!mark_decided (self, approval, stored, session->user, &changed, &error))
    goto fail;
  if (changed && approve)
    {
      if (!write_hold (self, id, FALSE, session->user, reason, detail, &changed, &error))
        goto fail;
    }
  if (!changed)
    {
      ansim_db_rollback (self->db);
      return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict",
                                       "the request or the incident changed meanwhile; reload");
    }
  if (!panel_console_audit (self->console, msg, session,
                            approve ? PANEL_AUDIT_LEGAL_HOLD_RELEASED
                            : g_str_equal (stored, "rejected")
                              ? PANEL_AUDIT_LEGAL_HOLD_RELEASE_REJECTED
                              : PANEL_AUDIT_LEGAL_HOLD_RELEASE_WITHDRAWN,
                            target, detail, &error)
      || !ansim_db_commit (self->db, &error))
    goto fail;
  g_message ("incident %" G_GINT64_FORMAT ": release of the legal hold (asked by %s) %s by %s", id,
             requested_by, stored, session->user);
  /* Released: the database first; objects still held are harmless, the
   * purge lifts their hold before it deletes them. */
  if (approve)
    {
      g_autoptr (GError) local = NULL;
      g_autofree char *prefix = g_strdup_printf ("%s/%s/", h.device_id, h.uuid);
      if (!panel_store_protect_prefix (self->store, prefix, 0, 0, &local))
        g_warning ("incident %" G_GINT64_FORMAT ": the objects keep their legal hold (%s); the "
                   "purge lifts it when their time comes",
                   id, local->message);
    }
  send_hold_answer (msg, id, !approve, NULL, NULL, approval, SOUP_STATUS_OK);
  return;

fail:
  ansim_db_rollback (self->db);
  send_internal (msg, "recording the decision", error);
}

static const PanelRoute approval_routes[] = {
  { PANEL_HTTP_GET, "/api/approvals", PANEL_CALLER_CONSOLE, PANEL_ROLE_ADMIN | PANEL_ROLE_AUDITOR,
    0, handle_approvals },
  { PANEL_HTTP_POST, "/api/approvals/{approval-id}", PANEL_CALLER_CONSOLE, PANEL_ROLE_ADMIN, 0,
    handle_decide },
};

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
  panel_http_add_routes (http, approval_routes, G_N_ELEMENTS (approval_routes), self);
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
