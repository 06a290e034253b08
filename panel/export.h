/* SPDX-License-Identifier: GPL-3.0-or-later */
/* An incident's evidence package for disclosure to police, court or a data
 * subject (docs/console.md "Export"). */
#pragma once

#include <glib.h>
#include <sqlite3.h>

#include <libsoup/soup.h>

#include "store.h"

G_BEGIN_DECLS

#define PANEL_EXPORT_CHUNK (64 * 1024)

/* Who asked for a package, for whom and why: all required (the console
 * refuses an export without them); they go into the report and the
 * disclosure register. */
typedef struct {
  const char *recipient; /* e.g. "서울경찰서 수사과" */
  const char *purpose;   /* e.g. "수사기관 요청: 폭행 사건 수사" */
  const char *legal_basis; /* e.g. "개인정보 보호법 제18조②7, 형사소송법 제199조②" */
  const char *exported_by; /* the console user */
  gboolean with_media;     /* add the MP4 (needs the site identity) */
} PanelExportRequest;

/* A tar holding ansim-incident-ID/{incident/ (manifest.json, its .sig,
 * device.pub.pem, seg-NNNNNN.mkv.age as received), video/incident-ID-
 * CAMERA.mp4 (with_media and identities only), report.json, report.html,
 * SHA256SUMS}. The encrypted originals pass through a private folder
 * under work_dir (removed once opened); everything decrypted or derived
 * lives in memory-backed files; the tar is read out in chunks. Its SHA-256
 * and size are known once prepared (the package is read once for them). */
typedef struct _PanelExport PanelExport;

/* Empties work_dir (what a killed panel left there) and creates it, mode
 * 0700. At every start, before any export. */
gboolean panel_export_clean_work_dir (const char *work_dir, GError **error);

/* Main thread: reads the incident, its timeline and its audit entries
 * from db and copies its manifest into a new folder in work_dir.
 * identities: the site's, for request->with_media. */
PanelExport *panel_export_new (sqlite3 *db, PanelStore *store, const char *work_dir, gint64 id,
                               GPtrArray *identities, const PanelExportRequest *request,
                               GError **error);
/* Copies the segments from the store, one per main-loop turn at idle
 * priority, then in a worker thread: ansim_incident_verify() (and the
 * plaintext checks), the MP4, the reports, SHA256SUMS and the first
 * reading of the tar. self must stay alive and untouched until callback
 * runs (on the calling thread's main context). */
void panel_export_prepare_async (PanelExport *self, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean panel_export_prepare_finish (GAsyncResult *result, GError **error);
void panel_export_free (PanelExport *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelExport, panel_export_free)

const char *panel_export_get_name (PanelExport *self);    /* ansim-incident-ID.tar */
const char *panel_export_get_summary (PanelExport *self); /* the verification's summary */
const char *panel_export_get_sha256 (PanelExport *self);
goffset panel_export_get_size (PanelExport *self);
const char *panel_export_get_uuid (PanelExport *self);
const char *panel_export_get_desk (PanelExport *self);
/* The footage's span by the signed manifest (wall µs; 0 without one). */
void panel_export_get_footage (PanelExport *self, gint64 *out_from_us, gint64 *out_until_us);

/* The next bytes of the tar into buffer (at most count): 0 at its end,
 * -1 with error if a file of the package cannot be read. */
gssize panel_export_read (PanelExport *self, guint8 *buffer, gsize count, GError **error);

/* Answers msg with the package (200, Content-Length, attachment), chunk by
 * chunk as the client takes it; consumes self. Main thread. */
void panel_export_send (PanelExport *self, SoupServerMessage *msg);

G_END_DECLS
