/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The web console's server side: login, sessions, role checks, CSRF, the
 * audit API, the static interface (GResource); live events (SSE) through
 * events.c. */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sqlite3.h>

#include "auth.h"
#include "config.h"
#include "http.h"

G_BEGIN_DECLS

/* Registers the console's routes in http (and becomes the one that
 * authorizes console callers there) and opens the live-event streams
 * (events.c). server: for its TLS state. db stays owned by the caller and
 * must outlive the console. The session answer carries the role's
 * "pages" and "actions", derived from the route table. */
PanelConsole *panel_console_new (PanelHttp *http, SoupServer *server, sqlite3 *db,
                                 AnsimConfig *config, GError **error);
void panel_console_free (PanelConsole *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelConsole, panel_console_free)

/* Tell every open console: sends `event: EVENT` with data (a JSON value,
 * not consumed) on GET /api/events/stream to each open stream; auditors'
 * streams get only "escalated" (events.c). Main thread only. */
void panel_console_publish (PanelConsole *self, const char *event, JsonNode *data);
/* Open event streams right now (for tests and the benchmark). */
guint panel_console_n_streams (PanelConsole *self);

/* For the dispatcher (http.c) and re-checks: the session cookie, the
 * role (roles: a mask of PanelRole) and, on any method but GET/HEAD, the X-CSRF-Token header.
 * On refusal it answers the request itself (401, 403 with a JSON error)
 * and returns NULL; else the session (free it). */
PanelSession *panel_console_authorize (PanelConsole *self, SoupServerMessage *msg, guint roles);

/* Write an audit entry for what session did (view, playback, export,
 * acknowledgement, resolution, ...). target, detail_json may be NULL. */
gboolean panel_console_audit (PanelConsole *self, SoupServerMessage *msg, PanelSession *session,
                              const char *action, const char *target, const char *detail_json,
                              GError **error);
/* The same, answering 500 when even that fails (and FALSE): an action
 * that cannot be audited must not look successful. */
gboolean panel_console_audit_or_fail (PanelConsole *self, SoupServerMessage *msg,
                                      PanelSession *session, const char *action, const char *target,
                                      const char *detail_json);

/* The incident-viewed entry of GET /api/incidents/ID: one per page open,
 * not per automatic refresh. The console names each page open with a
 * random query parameter view=TOKEN and repeats it on refreshes; the first
 * request of a (session, incident, view) is audited, later ones are not.
 * Without view every request is audited. With [panel] access_purpose the
 * first request must carry purpose=TEXT (1 to 500 characters), written
 * into the entry; without it the answer is 400 purpose-required. FALSE
 * after answering (an error). */
gboolean panel_console_audit_view (PanelConsole *self, SoupServerMessage *msg,
                                   PanelSession *session, GHashTable *query, gint64 incident_id);

/* The request body as a JSON object (application/json, at most 64 KiB),
 * or NULL after answering 415/413/400 itself. */
JsonObject *panel_console_read_json_object (SoupServerMessage *msg);

/* The routes' answer helpers (http.h), under the names the route modules
 * have used since before the route table. */
#define panel_console_send_error panel_http_send_error
#define panel_console_send_json panel_http_send_json
#define panel_console_send_json_node panel_http_send_json_node
#define panel_console_send_db_error panel_http_send_db_error

G_END_DECLS
