/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Live events for the console: GET /api/events/stream (Server-Sent
 * Events) and the test-only POST /api/test/publish. */
#pragma once

#include <json-glib/json-glib.h>
#include <sqlite3.h>

#include "http.h"

G_BEGIN_DECLS

typedef struct _PanelEvents PanelEvents;

/* Registers the routes on http; db (borrowed, outlives the events) is
 * read at each keep-alive to close streams whose session ended. */
PanelEvents *panel_events_new (PanelHttp *http, sqlite3 *db);
/* Ends every open stream. */
void panel_events_free (PanelEvents *self);

/* Sends `event: EVENT` with data (not consumed) to every open stream
 * (auditors' streams: "escalated" only). Main thread only. */
void panel_events_publish (PanelEvents *self, const char *event, JsonNode *data);
guint panel_events_n_streams (PanelEvents *self);
/* Ends the streams of this session now (logout), each with a
 * session-ended event, so its consoles say at once that they get no
 * alerts. Main thread only. */
void panel_events_end_session (PanelEvents *self, const char *token_sha256);

G_END_DECLS
