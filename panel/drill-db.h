/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Drills in the panel's database: arming and ending one (for the console
 * and `ansimctl drill`), and the tag ingest puts on a press. The console's
 * routes and the reports are in drills.h. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

#define PANEL_DRILL_ERROR (panel_drill_error_quark ())
GQuark panel_drill_error_quark (void);

typedef enum {
  PANEL_DRILL_ERROR_INVALID,   /* bad window, unknown desk, ... (the message says which) */
  PANEL_DRILL_ERROR_CONFLICT,  /* a desk already armed in an overlapping window; ended */
  PANEL_DRILL_ERROR_NOT_FOUND, /* no such drill */
  PANEL_DRILL_ERROR_DATABASE,  /* SQLite or the audit log failed */
} PanelDrillErrorCode;

/* Arms a drill for desks (1 to 100 distinct desk ids the panel knows) and
 * the window [start_us, end_us) (end after start, not in the past, at most
 * 7 days; a start in the past becomes now: a press before arming is never
 * the drill), in one transaction with its audit entry (`drill-armed`; actor,
 * actor_role and client as for panel_audit_append). Nothing is stored when
 * it fails. */
gboolean panel_drill_arm (sqlite3 *db, const char *const *desks, guint n_desks, gint64 start_us,
                          gint64 end_us, const char *note, const char *actor,
                          const char *actor_role, const char *client, gint64 *out_id,
                          GError **error);

/* Ends a drill (it tags no more presses), audited `drill-ended`. */
gboolean panel_drill_end (sqlite3 *db, gint64 id, const char *actor, const char *actor_role,
                          const char *client, GError **error);

/* Someone found that a press tagged as a drill was a real emergency: the
 * incident becomes real (is_drill 0), leaves its drill (whose desk is
 * armed again if the drill is still running) and a `drill-untagged`
 * event and audit entry (with note, may be NULL) say who and why.
 * *out_drill_id is the drill it left. NOT_FOUND when the incident is not a
 * drill's press. */
gboolean panel_drill_untag (sqlite3 *db, gint64 incident_id, const char *note, const char *actor,
                            const char *actor_role, const char *client, gint64 *out_drill_id,
                            GError **error);

/* For ingest, inside its write transaction, right after it inserted
 * incident_id: if desk_id has a drill armed (not ended) whose window holds
 * pressed_wall_us (the press time on the desk's clock) and that has not
 * caught a press on this desk yet, ties the incident to it, sets
 * incidents.is_drill and logs a `drill-tagged` event. *out_drill_id is
 * that drill, or 0 (a real incident). FALSE only on a database error. */
gboolean panel_drill_claim (sqlite3 *db, const char *desk_id, gint64 pressed_wall_us,
                            gint64 incident_id, gint64 *out_drill_id, GError **error);

G_END_DECLS
