/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Escalation: an alert nobody acknowledged for [panel] escalate_after_s
 * is escalated once. Every incident of the alert is marked, its timeline
 * event, the "escalated" webhooks and (real incidents only) the desk's
 * police bell are written in one transaction; only after it committed are
 * the consoles and the escalation hooks told (announce_escalation, the
 * one place). */
#include "incidents-private.h"

#include "db.h"

/* The one place an escalation is announced, after its commit: every open
 * console (all roles; events.c lets auditors' streams have this event
 * too) and every hook. The webhooks and the police bell are not hooks:
 * they are written in the escalation's transaction (check_escalations). */
static void
announce_escalation (PanelIncidents *self, gint64 alert_id)
{
  g_autoptr (JsonNode) node = panel_incidents_node (self, alert_id);
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
    /* On a database error: the alerts read so far now, the rest at the
     * next check. */
    panel_incidents_append_ids (stmt, due);
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
        ok = panel_incidents_log_event (self, "escalated", g_array_index (marked, gint64, j), NULL,
                                        NULL, detail);
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
        panel_incidents_publish (self, "incident-updated", g_array_index (marked, gint64, j), -1);
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

void
panel_escalation_start (PanelIncidents *self, AnsimConfig *config)
{
  self->escalate_after_us =
    ansim_config_get_int (config, "panel", "escalate_after_s") * G_USEC_PER_SEC;
  self->escalation_hooks = g_array_new (FALSE, FALSE, sizeof (EscalationHook));
  /* A quarter second: an escalation is announced at most that late. */
  self->escalate_id = g_timeout_add (250, check_escalations, self);
}
