/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The console's incident and device routes: live alerts published to open
 * consoles, acknowledge, resolve, notes, the incident list and timeline,
 * the devices page and the offline-desk alert. */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sqlite3.h>

#include "channel.h"
#include "config.h"
#include "console.h"
#include "ingest.h"
#include "retention.h"
#include "store.h"
#include "webhooks.h"

G_BEGIN_DECLS

typedef struct _PanelIncidents PanelIncidents;

/* Registers GET /api/incidents, /api/incidents/ID, POST
 * /api/incidents/ID/{acknowledge,resolve,notes}, GET
 * /api/incidents/ID/segments/N/media, GET /api/devices in http and
 * starts the offline-desk check. db, store and console are borrowed. Fails
 * when [panel] site_identity is set but unsafe or unreadable. */
PanelIncidents *panel_incidents_new (PanelHttp *http, sqlite3 *db, PanelStore *store,
                                     PanelConsole *console, AnsimConfig *config, GError **error);
void panel_incidents_free (PanelIncidents *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelIncidents, panel_incidents_free)

/* Routes POST /api/incidents/ID/legal-hold to retention (borrowed). */
void panel_incidents_set_retention (PanelIncidents *self, PanelRetention *retention);

/* Queues acknowledged, resolved and device-offline for webhooks (borrowed). */
void panel_incidents_set_webhooks (PanelIncidents *self, PanelWebhooks *webhooks);
/* Acknowledge and resolve tell the incident's desk through channel
 * (borrowed; NULL: they do not). */
void panel_incidents_set_channel (PanelIncidents *self, PanelChannel *channel);

/* Ingest's news (a PanelIngestNotify): publishes it to open consoles. */
void panel_incidents_on_ingest (gpointer self, PanelIngestNews news, gint64 incident_id,
                                gint64 number);

/* Called once when an alert (incident alert_id and the other incidents of
 * its press) went unacknowledged for [panel] escalate_after_s, after the
 * escalated events are committed and every console was told. incident is
 * the alert's first incident as the console API shows it (borrowed). The
 * webhooks' "escalated" event and the desk's police bell are not hooks:
 * they are written in the escalation's own transaction (at least once).
 * Drills escalate too (the drill tests the response): a hook that must not
 * act on a drill checks the incident's is_drill. Main thread. */
typedef void (*PanelEscalatedFunc) (gpointer user_data, gint64 alert_id, JsonNode *incident);

void panel_incidents_add_escalation_hook (PanelIncidents *self, PanelEscalatedFunc func,
                                          gpointer user_data);

G_END_DECLS
