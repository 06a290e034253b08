/* SPDX-License-Identifier: GPL-3.0-or-later */
/* An incident's evidence package for police or court (docs/console.md). */
#pragma once

#include <glib.h>
#include <sqlite3.h>

#include <libsoup/soup.h>

#include "store.h"

G_BEGIN_DECLS

#define PANEL_EXPORT_CHUNK (64 * 1024)

/* A tar holding ansim-incident-ID/{incident/ (manifest.json, its .sig,
 * device.pub.pem, seg-NNNNNN.mkv.age as received), media/ (decrypted,
 * with_media and identities only), report.json, report.html, SHA256SUMS},
 * made in a private temporary folder (removed by panel_export_free) and
 * read out in chunks: memory does not grow with the incident. Its SHA-256
 * and size are known once prepared (the package is read once for them). */
typedef struct _PanelExport PanelExport;

/* Main thread: reads the incident from db and copies its manifest into the
 * private folder. identities: the site's, for with_media. */
PanelExport *panel_export_new (sqlite3 *db, PanelStore *store, gint64 id, GPtrArray *identities,
                               gboolean with_media, const char *exported_by, GError **error);
/* Copies the segments from the store, one per main-loop turn at idle
 * priority, then in a worker thread: ansim_incident_verify() (and the decrypted media),
 * the reports, SHA256SUMS and the first reading of the tar. self must stay
 * alive and untouched until callback runs (on the calling thread's main
 * context). */
void panel_export_prepare_async (PanelExport *self, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean panel_export_prepare_finish (GAsyncResult *result, GError **error);
void panel_export_free (PanelExport *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelExport, panel_export_free)

const char *panel_export_get_name (PanelExport *self);    /* ansim-incident-ID.tar */
const char *panel_export_get_summary (PanelExport *self); /* the verification's summary */
const char *panel_export_get_sha256 (PanelExport *self);
goffset panel_export_get_size (PanelExport *self);

/* The next bytes of the tar into buffer (at most count): 0 at its end,
 * -1 with error if a file of the package cannot be read. */
gssize panel_export_read (PanelExport *self, guint8 *buffer, gsize count, GError **error);

/* Answers msg with the package (200, Content-Length, attachment), chunk by
 * chunk as the client takes it; consumes self. Main thread. */
void panel_export_send (PanelExport *self, SoupServerMessage *msg);

G_END_DECLS
