/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Outgoing webhooks ([webhook NAME] in panel.conf, docs/webhooks.md):
 * events queued in the panel database's outbox in the transaction of the
 * change that caused them, then POSTed as signed JSON, at least once and
 * in order per webhook, with backoff, until delivered or given up. */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sqlite3.h>

#include "config.h"
#include "console.h"

G_BEGIN_DECLS

typedef struct _PanelHttp PanelHttp;

typedef struct _PanelWebhooks PanelWebhooks;

/* Reads the [webhook] groups (and their secret files); db is borrowed, the
 * panel's main-loop connection. Rows of webhooks no longer configured are
 * given up, with that reason. Delivery starts on the main loop. */
PanelWebhooks *panel_webhooks_new (sqlite3 *db, AnsimConfig *config, GError **error);
/* Stops: attempts in flight are cancelled and stay pending (sent again at
 * the next start, with the same delivery id). */
void panel_webhooks_free (PanelWebhooks *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelWebhooks, panel_webhooks_free)

/* Queues event (one of ansim_webhook_events) for every webhook that wants
 * it: one outbox row each, on db (any connection of the panel database,
 * inside the caller's transaction when it has one, so the event is kept
 * exactly when the change is). data is a JSON object whose members are
 * added to the body. self NULL: nothing to do. Any thread; the rows are
 * sent once panel_webhooks_kick() runs or the next periodic pass. */
gboolean panel_webhooks_emit (PanelWebhooks *self, sqlite3 *db, const char *event, JsonNode *data,
                              GError **error);
/* Main loop, after the commit: deliver what is due now. self may be NULL. */
void panel_webhooks_kick (PanelWebhooks *self);

/* The body members of an incident event (desk, device, trigger, drill,
 * incidents[]) read on db; NULL with an error if there is no such incident. */
JsonNode *panel_webhooks_incident_data (sqlite3 *db, gint64 incident_id, GError **error);

/* Registers GET /api/webhooks (admins: the webhooks and recent deliveries
 * and failures) in the route table. */
void panel_webhooks_serve (PanelWebhooks *self, PanelHttp *http);

G_END_DECLS
