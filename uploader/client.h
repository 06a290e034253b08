/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk's HTTP client for the panel's device API: libcurl, every
 * request signed with the device key (docs/protocol.md). */
#pragma once

#include <json-glib/json-glib.h>

#include "evidence.h"
#include "panel-clock.h"

G_BEGIN_DECLS

typedef struct _UploaderClient UploaderClient;

/* panel_url: base URL (a path in it is kept as a prefix); ca_file: PEM
 * CA bundle for https, NULL = the system's store. key is borrowed and
 * must outlive the client. One thread at a time. */
UploaderClient *uploader_client_new (const char *panel_url, const char *ca_file,
                                     const AnsimDeviceKey *key, GError **error);
void uploader_client_free (UploaderClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UploaderClient, uploader_client_free)

void uploader_client_set_timeout (UploaderClient *client, gint64 seconds);
/* Bytes per second, 0 = no cap. */
void uploader_client_set_max_send_rate (UploaderClient *client, gint64 bytes_per_s);
/* Learn the panel's clock into clock (borrowed; shared with other
 * clients) instead of the client's own. NULL: the client's own again. */
void uploader_client_share_clock (UploaderClient *client, UploaderPanelClock *clock);
/* While *flag is non-zero, a transfer in progress is abandoned. */
void uploader_client_set_cancel_flag (UploaderClient *client, const gint *flag);

/* Sends one signed request to PANEL_URL + path (path starts with
 * "/api/v1/"). extra_headers: "Name: value" strings, NULL-terminated, or
 * NULL. Returns FALSE only when no HTTP answer came (connection, TLS,
 * timeout): error says why. Otherwise out_status is the HTTP status and
 * out_json the answer's JSON object (NULL if it was not one). Every
 * answer teaches the client the panel's clock, and requests are signed
 * with it; a request refused as stale is signed again and sent once more
 * at once (docs/protocol.md, "Clocks"). */
gboolean uploader_client_send (UploaderClient *client, const char *method, const char *path,
                               GBytes *body, const char *const *extra_headers, guint *out_status,
                               JsonObject **out_json, GError **error);

/* The JSON a builder holds (its object ended), as a request body. */
GBytes *uploader_client_json_body (JsonBuilder *builder);

/* The "error" and "message" of an answer, as "code: message". */
char *uploader_client_describe (guint status, JsonObject *answer);

G_END_DECLS
