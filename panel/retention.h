/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Retention: how long each category of incident is kept (the policy admins
 * set in the console), legal holds that stop any deletion, and the purge
 * that destroys what has expired, in the store and the database, with one
 * audit entry per incident. docs/console.md, "Retention". */
#pragma once

#include <libsoup/soup.h>
#include <sqlite3.h>

#include "config.h"
#include "console.h"
#include "policy.h"
#include "store.h"

G_BEGIN_DECLS

/* Periods are whole days in this range. */
#define PANEL_RETENTION_MIN_DAYS 1
#define PANEL_RETENTION_MAX_DAYS 3650

/* One pass of the purge. Incidents whose purge was interrupted are
 * finished first; then every resolved incident, not on legal hold, whose
 * period under the policy is over is marked, its objects destroyed, and
 * its rows deleted together with an `incident-purged` audit entry by
 * actor. dry_run: only says what it would do. report (may be NULL) gets
 * one line per incident. Returns FALSE only when the database cannot be
 * used; an incident whose objects cannot be destroyed stays marked, is
 * counted in *out_failed and retried on the next pass. */
gboolean panel_retention_purge (sqlite3 *db, PanelStore *store, gboolean dry_run, const char *actor,
                                GString *report, guint *out_purged, guint *out_failed,
                                GError **error);

/* On a store with Object Lock: extends the retention date of every
 * incident's objects whose expiry under the policy is later than what they
 * carry (a longer period, a category changed). */
gboolean panel_retention_extend_locks (sqlite3 *db, PanelStore *store, GError **error);

typedef struct _PanelRetention PanelRetention;

/* Registers GET/POST /api/settings/retention and runs the purge (and the
 * lock extension) every [panel] purge_interval_s on the main loop. All
 * borrowed. */
PanelRetention *panel_retention_new (PanelHttp *http, sqlite3 *db, PanelStore *store,
                                     PanelConsole *console, AnsimConfig *config);
void panel_retention_free (PanelRetention *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelRetention, panel_retention_free)

/* POST /api/incidents/ID/legal-hold {"hold": true|false, "reason"}: admin
 * only (the caller checked the session's role). Answers msg itself. */
void panel_retention_handle_hold (PanelRetention *self, SoupServerMessage *msg,
                                  PanelSession *session, gint64 incident_id);

G_END_DECLS
