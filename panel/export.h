/* SPDX-License-Identifier: GPL-3.0-or-later */
/* An incident's evidence package for police or court (docs/console.md). */
#pragma once

#include <glib.h>
#include <sqlite3.h>

#include "store.h"

G_BEGIN_DECLS

/* A tar holding ansim-incident-ID/{incident/ (manifest.json, its .sig,
 * device.pub.pem, seg-NNNNNN.mkv.age as received), media/ (decrypted,
 * with_media and identities only), report.json, report.html, SHA256SUMS}.
 * out_name: the file name; out_summary: the verification's summary line. */
GBytes *panel_export_incident (sqlite3 *db, PanelStore *store, gint64 id, GPtrArray *identities,
                               gboolean with_media, const char *exported_by, char **out_name,
                               char **out_summary, GError **error);

G_END_DECLS
