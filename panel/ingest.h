/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's device API (docs/protocol.md): enrollment, signed ingest of
 * alerts, events, manifests and segments, heartbeats, the desk's channel
 * (its messages; the waiting is in channel.h); and the admin side
 * of device identity (enrollment codes, revocation). Independent of the
 * HTTP server so that it can be tested and fuzzed directly. */
#pragma once

#include <gio/gio.h>
#include <sqlite3.h>

#include "device-key.h"
#include "store.h"

G_BEGIN_DECLS

#define PANEL_API_PREFIX "/api/v1/"

/* One request as the HTTP server received it; strings may be NULL. */
typedef struct {
  const char *client; /* the client's address (http.h), for throttling and the audit log */
  const char *method;
  const char *path; /* raw (still percent-encoded) path */
  const char *signature_input;
  const char *signature;
  const char *content_digest;
  const char *manifest_signature; /* Ansim-Manifest-Signature */
  GBytes *body;                   /* never NULL */
} PanelRequest;

/* What ingest tells the rest of the panel (the console) after a commit:
 * PANEL_INGEST_ALERT for a new incident (from its alert, or from a
 * manifest when the alert never came), PANEL_INGEST_SEGMENT when segment
 * number of incident_id was stored, PANEL_INGEST_MANIFEST for a newer
 * manifest, PANEL_INGEST_HEARTBEAT (incident_id 0) after a heartbeat. */
typedef enum {
  PANEL_INGEST_ALERT,
  PANEL_INGEST_SEGMENT,
  PANEL_INGEST_MANIFEST,
  PANEL_INGEST_HEARTBEAT,
} PanelIngestNews;
typedef void (*PanelIngestNotify) (gpointer user_data, PanelIngestNews news, gint64 incident_id,
                                   gint64 number);
/* Called inside the transaction that creates incident_id, on ingest's db
 * and thread, so what it writes (the webhook outbox) is kept exactly when
 * the incident is; FALSE with an error rolls the alert back. */
typedef gboolean (*PanelIngestOnAlert) (gpointer user_data, sqlite3 *db, gint64 incident_id,
                                        GError **error);

typedef struct {
  gsize max_body_size; /* bytes */
  gint64 clock_skew_s;
  const char *site_name;
  PanelIngestNotify notify; /* may be NULL */
  gpointer notify_data;
  PanelIngestOnAlert on_alert; /* may be NULL */
  gpointer on_alert_data;
  /* Signs the audit checkpoint of heartbeat answers and the chain receipt
   * of final manifest answers (borrowed; NULL: no notes). */
  const AnsimDeviceKey *signing_key;
} PanelIngestOptions;

typedef struct _PanelIngest PanelIngest;

/* db and store are borrowed and must outlive it; one thread at a time. */
PanelIngest *panel_ingest_new (sqlite3 *db, PanelStore *store, const PanelIngestOptions *options);
void panel_ingest_free (PanelIngest *ingest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelIngest, panel_ingest_free)

/* TRUE for paths this API serves (so the server routes them here). */
gboolean panel_ingest_owns_path (const char *path);

/* Handles one request: the HTTP status and a JSON object for the body
 * (every error is {"error": CODE, "message": TEXT}). A channel request is
 * answered at once (as with wait_ms 0). */
void panel_ingest_handle (PanelIngest *ingest, const PanelRequest *request, guint *out_status,
                          char **out_json);

/* A channel request that found no message and asked to wait: the server
 * may hold it (channel.h) instead of sending out_json (its answer now). */
typedef struct {
  char *device_id;
  gint64 after;
  gint64 wait_ms;
} PanelIngestWait;
void panel_ingest_wait_free (PanelIngestWait *wait);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelIngestWait, panel_ingest_wait_free)

/* As panel_ingest_handle; out_wait is set for a channel request that may
 * be held, else NULL. */
void panel_ingest_handle_full (PanelIngest *ingest, const PanelRequest *request, guint *out_status,
                               char **out_json, PanelIngestWait **out_wait);

/* Admin: a one-time enrollment code admitting device_id (on desk_id, may
 * be NULL: then the device is bound to the first desk it names), valid
 * for valid_s seconds. Only the code's SHA-256 is kept; the audit log
 * gets who (actor) made a code for which device. */
char *panel_enrollment_code_new (sqlite3 *db, const char *device_id, const char *desk_id,
                                 gint64 valid_s, const char *actor, GError **error);
/* Admin: refuses every later request of the device; keeps its evidence.
 * Audited with actor. */
gboolean panel_device_revoke (sqlite3 *db, const char *device_id, const char *reason,
                              const char *actor, GError **error);

G_END_DECLS
