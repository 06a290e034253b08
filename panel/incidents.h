/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The console's incident and device routes: live alerts published to open
 * consoles, acknowledge, resolve, notes, the incident list and timeline,
 * the devices page and the offline-desk alert. */
#pragma once

#include <libsoup/soup.h>
#include <sqlite3.h>

#include "channel.h"
#include "config.h"
#include "console.h"
#include "ingest.h"
#include "retention.h"
#include "store.h"

G_BEGIN_DECLS

typedef struct _PanelIncidents PanelIncidents;

/* Registers GET /api/incidents, /api/incidents/ID, POST
 * /api/incidents/ID/{acknowledge,resolve,notes}, GET
 * /api/incidents/ID/segments/N/media, GET /api/devices on server and
 * starts the offline-desk check. db, store and console are borrowed. Fails
 * when [panel] site_identity is set but unsafe or unreadable. */
PanelIncidents *panel_incidents_new (SoupServer *server, sqlite3 *db, PanelStore *store,
                                     PanelConsole *console, AnsimConfig *config, GError **error);
void panel_incidents_free (PanelIncidents *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelIncidents, panel_incidents_free)

/* Routes POST /api/incidents/ID/legal-hold to retention (borrowed). */
void panel_incidents_set_retention (PanelIncidents *self, PanelRetention *retention);

/* Acknowledge and resolve tell the incident's desk through channel
 * (borrowed; NULL: they do not). */
void panel_incidents_set_channel (PanelIncidents *self, PanelChannel *channel);

/* Ingest's news (a PanelIngestNotify): publishes it to open consoles. */
void panel_incidents_on_ingest (gpointer self, PanelIngestNews news, gint64 incident_id,
                                gint64 number);

G_END_DECLS
