/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The push channel from the panel to each desk (docs/protocol.md,
 * "Channel"): desks long-poll POST /api/v1/channel; the panel holds a
 * request with nothing to send (its HTTP message paused) and answers it
 * the moment a message for that desk commits: an acknowledgement, a
 * resolution, a request to fire the police bell. Main loop only. It must
 * keep true: a held request is answered exactly once (message, timeout,
 * a newer request of the same desk, or shutdown), at most one request per
 * desk and PANEL_CHANNEL_MAX_WAITING in all are held; a request whose desk
 * closed its connection is let go at once. */
#pragma once

#include <libsoup/soup.h>
#include <sqlite3.h>

#include "channel-db.h"
#include "console.h"
#include "ingest.h"

G_BEGIN_DECLS

/* Held requests in all; a request beyond is refused (503). */
#define PANEL_CHANNEL_MAX_WAITING 256

typedef struct _PanelChannel PanelChannel;

/* db is borrowed (the main loop's connection). */
PanelChannel *panel_channel_new (sqlite3 *db);
/* Answers every held request with what there is (nothing, usually). */
void panel_channel_free (PanelChannel *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelChannel, panel_channel_free)

/* Holds msg (a channel request ingest said may wait) until a message for
 * its desk commits or wait->wait_ms pass. A held request of the same
 * device is answered at once; over PANEL_CHANNEL_MAX_WAITING, msg gets
 * 503 too-many-waiting. */
void panel_channel_hold (PanelChannel *self, SoupServerMessage *msg, const PanelIngestWait *wait);

/* Writes a message for the desk that raised incident_id, in the caller's
 * transaction if one is open (call it before the commit of the change it
 * reports), and wakes that desk's held request once the main loop is back
 * (so after the commit; after a rollback it finds nothing and waits on).
 * reason: only for PANEL_CHANNEL_POLICE_BELL. */
gboolean panel_channel_post (PanelChannel *self, gint64 incident_id, PanelChannelKind kind,
                             const char *reason, GError **error);

/* Asks the desk that raised incident_id to fire its police-bell relay
 * (reason, e.g. "escalated", is shown to the desk and logged there). As
 * panel_channel_post: in the caller's transaction if one is open. */
gboolean panel_channel_ring_police_bell (PanelChannel *self, gint64 incident_id, const char *reason,
                                         GError **error);

/* Tests only (a TEST route: the panel runs with ANSIM_PANEL_TEST_PUBLISH=1):
 * POST /api/test/police-bell {"incident": ROW ID} (an admin) calls
 * panel_channel_ring_police_bell (reason "test"). */
typedef struct _PanelHttp PanelHttp;
void panel_channel_add_test_route (PanelChannel *self, PanelHttp *http);

/* Requests held now (for tests and the health page). */
guint panel_channel_get_n_waiting (PanelChannel *self);

G_END_DECLS
