/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Playback of an incident's segments in the console: decrypted, checked
 * against the signed manifest, remuxed to fragmented MP4 (remux.h) and
 * audited once per (user, incident, session) with the time ranges served
 * (docs/console.md, Playback). */
#pragma once

#include <libsoup/soup.h>
#include <sqlite3.h>

#include "auth.h"
#include "store.h"

G_BEGIN_DECLS

typedef struct _PanelPlayback PanelPlayback;

/* identities: of AnsimAgeIdentity (a reference is taken); NULL: no
 * playback, every request answered 503 "no-playback". idle_us: a viewing
 * with no media served for this long gets its audit entry. Writes the
 * entries a previous run left pending. */
PanelPlayback *panel_playback_new (sqlite3 *db, PanelStore *store, GPtrArray *identities,
                                   gint64 idle_us);
/* Writes every pending entry (the panel stops). */
void panel_playback_free (PanelPlayback *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelPlayback, panel_playback_free)

gboolean panel_playback_enabled (PanelPlayback *self);

/* GET /api/incidents/ID/segments/INDEX/media for session. */
void panel_playback_serve (PanelPlayback *self, SoupServerMessage *msg, PanelSession *session,
                           gint64 incident_id, gint64 index);

/* Writes the audit entries of viewings idle since before now_us - idle
 * (all of them when all); FALSE with error if the log cannot be written
 * (the rows stay pending). For tests too. */
gboolean panel_playback_flush (PanelPlayback *self, gboolean all, const char *why, GError **error);

G_END_DECLS
