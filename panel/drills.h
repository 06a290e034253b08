/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Drills (모의훈련): trainers arm a drill for desks and a time window,
 * ingest tags the next press of an armed desk, the trainer records arrival
 * on scene and ends it. The figures are in reports.h. */
#pragma once

#include <libsoup/soup.h>
#include <sqlite3.h>

#include "console.h"
#include "drill-db.h"

G_BEGIN_DECLS

typedef struct _PanelDrillSite PanelDrills; /* defined in reports.h */

/* Registers /api/drills... on http. db and console are borrowed;
 * site_name labels the site's schedule row. */
PanelDrills *panel_drills_new (PanelHttp *http, sqlite3 *db, PanelConsole *console,
                               const char *site_name);
void panel_drills_free (PanelDrills *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelDrills, panel_drills_free)

G_END_DECLS
