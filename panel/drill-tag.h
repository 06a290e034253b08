/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The drill tag decided at alert ingest (drills.h has the console side). */
#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* For ingest, inside its write transaction, right after it inserted
 * incident_id: if desk_id has a drill armed (not ended) whose window holds
 * pressed_wall_us (the press time on the desk's clock) and that has not
 * caught a press on this desk yet, ties the incident to it, sets
 * incidents.is_drill and logs a `drill-tagged` event. *out_drill_id is
 * that drill, or 0 (a real incident). FALSE only on a database error. */
gboolean panel_drill_claim (sqlite3 *db, const char *desk_id, gint64 pressed_wall_us,
                            gint64 incident_id, gint64 *out_drill_id, GError **error);

G_END_DECLS
