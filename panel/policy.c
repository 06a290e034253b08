/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the retention policy: periods per category, the
 * retention category of an incident, and the Object Lock of new objects. */
#include "policy.h"

#include <string.h>

#include "db.h"

#define DAY_US ((gint64) 86400 * G_USEC_PER_SEC)

const PanelPolicyCategory panel_policy_categories[PANEL_POLICY_N_CATEGORIES] = {
  { "drill", 30 },  { "incident", 30 },   { "verbal-abuse", 0 },
  { "threat", 0 },  { "assault", 0 },     { "property-damage", 0 },
  { "medical", 0 }, { "false-alarm", 0 }, { "other", 0 },
};

void
panel_policy_clear (PanelPolicy *p)
{
  for (guint i = 0; i < PANEL_POLICY_N_CATEGORIES; i++)
    g_clear_pointer (&p->changed_by[i], g_free);
}

int
panel_policy_category_index (const char *name)
{
  for (guint i = 0; name != NULL && i < PANEL_POLICY_N_CATEGORIES; i++)
    if (strcmp (panel_policy_categories[i].name, name) == 0)
      return i;
  return -1;
}

gboolean
panel_policy_load (sqlite3 *db, PanelPolicy *p, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db, "SELECT category, days, changed_by, changed_at_us FROM retention_policy", error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  for (guint i = 0; i < PANEL_POLICY_N_CATEGORIES; i++)
    p->days[i] = panel_policy_categories[i].default_days;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      int i = panel_policy_category_index ((const char *) sqlite3_column_text (stmt, 0));
      if (i < 0)
        continue;
      p->days[i] = sqlite3_column_int (stmt, 1);
      p->overridden[i] = TRUE;
      g_free (p->changed_by[i]);
      p->changed_by[i] = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
      p->changed_at_us[i] = sqlite3_column_int64 (stmt, 3);
    }
  if (rc != SQLITE_DONE)
    {
      ansim_db_set_error (db, error, "reading the retention policy");
      return FALSE;
    }
  return TRUE;
}

gint
panel_policy_days (const PanelPolicy *p, int i)
{
  return p->days[i] > 0 ? p->days[i] : p->days[PANEL_POLICY_INCIDENT];
}

/* The retention category of an incident. */
int
panel_policy_incident_category (gboolean is_drill, const char *resolution)
{
  int i;

  if (is_drill || g_strcmp0 (resolution, "drill") == 0)
    return PANEL_POLICY_DRILL;
  i = panel_policy_category_index (resolution);
  return i > PANEL_POLICY_INCIDENT ? i : PANEL_POLICY_INCIDENT;
}

/* Periods count from the alert's arrival at the panel (the recording). */
gint64
panel_policy_expiry_us (const PanelPolicy *p, int category, gint64 alerted_at_us)
{
  return alerted_at_us + panel_policy_days (p, category) * DAY_US;
}

/* ---- Object Lock for new objects ------------------------------------ */

gboolean
panel_retention_lock_options (sqlite3 *db, gint64 incident_id, gboolean is_drill,
                              PanelStorePutOptions *out_options, GError **error)
{
  g_auto (PanelPolicy) p = { 0 };

  memset (out_options, 0, sizeof *out_options);
  if (!panel_policy_load (db, &p, error))
    return FALSE;
  if (incident_id <= 0)
    {
      out_options->retain_until_us = panel_policy_expiry_us (
        &p, is_drill ? PANEL_POLICY_DRILL : PANEL_POLICY_INCIDENT, g_get_real_time ());
      return TRUE;
    }
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (db,
                      "SELECT is_drill, resolution, alerted_at_us, legal_hold_at_us IS NOT NULL, "
                      "coalesce (locked_until_us, 0) FROM incidents WHERE id = ?1",
                      error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, incident_id);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      ansim_db_set_error (db, error, "reading the incident's retention");
      return FALSE;
    }
  int category = panel_policy_incident_category (sqlite3_column_int (stmt, 0),
                                                 (const char *) sqlite3_column_text (stmt, 1));
  out_options->retain_until_us =
    MAX (panel_policy_expiry_us (&p, category, sqlite3_column_int64 (stmt, 2)),
         sqlite3_column_int64 (stmt, 4));
  out_options->legal_hold = sqlite3_column_int (stmt, 3);
  return TRUE;
}
