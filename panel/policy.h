/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The retention policy: periods per retention category (embedded defaults
 * overridden by rows of retention_policy) and the Object Lock a new object
 * gets. Without libsoup, so that ingest (and its fuzz target) can use it. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

#include "store.h"

G_BEGIN_DECLS

/* Retention categories, in this order. "drill": an incident flagged as a
 * drill by its desk (is_drill) or resolved as one; "incident": every other
 * incident, and the period of a resolution category without its own. */
typedef struct {
  const char *name;
  gint default_days; /* 0: as "incident" */
} PanelPolicyCategory;

enum { PANEL_POLICY_DRILL, PANEL_POLICY_INCIDENT, PANEL_POLICY_N_CATEGORIES = 9 };
extern const PanelPolicyCategory panel_policy_categories[PANEL_POLICY_N_CATEGORIES];

typedef struct {
  gint days[PANEL_POLICY_N_CATEGORIES]; /* 0: as "incident" */
  gboolean overridden[PANEL_POLICY_N_CATEGORIES];
  char *changed_by[PANEL_POLICY_N_CATEGORIES];
  gint64 changed_at_us[PANEL_POLICY_N_CATEGORIES];
} PanelPolicy;

void panel_policy_clear (PanelPolicy *p);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PanelPolicy, panel_policy_clear)

/* -1 for an unknown name. */
int panel_policy_category_index (const char *name);
gboolean panel_policy_load (sqlite3 *db, PanelPolicy *p, GError **error);
/* The period of category i in days. */
gint panel_policy_days (const PanelPolicy *p, int i);
/* The retention category of an incident. */
int panel_policy_incident_category (gboolean is_drill, const char *resolution);
/* Periods count from the alert's arrival at the panel (the recording). */
gint64 panel_policy_expiry_us (const PanelPolicy *p, int category, gint64 alerted_at_us);

/* The Object Lock a new object of an incident gets: retained until the
 * incident's expiry under the policy now in force (never earlier than what
 * its objects already carry), under legal hold while the incident is held.
 * incident_id 0: an incident not recorded yet, alerted now, a drill or not. */
gboolean panel_retention_lock_options (sqlite3 *db, gint64 incident_id, gboolean is_drill,
                                       PanelStorePutOptions *out_options, GError **error);

G_END_DECLS
