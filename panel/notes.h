/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's signed notes (docs/receipts.md): its signing key, kept beside
 * its database, and the two things it signs with it: audit checkpoints (the
 * audit chain's head, handed to every desk) and chain-head receipts (a
 * device and source's newest final manifest, handed to the desk and put in
 * exports). What must stay true: a note states only what the database held
 * in the same read, and the private key file is never readable by others. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

#include "device-key.h"

G_BEGIN_DECLS

/* "DIR/panel-signing.pem" for the database "DIR/panel.db". */
char *panel_signing_key_path (const char *database);
/* The key beside the database, created on first use (0600). */
AnsimDeviceKey *panel_signing_key_open (const char *database, GError **error);
/* Only its public half (for checking; works without the private file). */
AnsimDeviceKey *panel_signing_key_open_public (const char *database, GError **error);

/* A signed checkpoint of the audit log's newest entry; NULL with an error
 * when the log cannot be read, NULL without one when it is empty. */
char *panel_notes_audit_checkpoint (sqlite3 *db, const AnsimDeviceKey *key, GError **error);
/* A signed receipt of the newest closed incident of device_id's source;
 * NULL without an error when the panel holds none. */
char *panel_notes_chain_receipt (sqlite3 *db, const AnsimDeviceKey *key, const char *device_id,
                                 const char *source, GError **error);

/* For an evidence package: the current receipt of the incident's device
 * and source (*out_receipt NULL when the panel holds no closed incident of
 * it) and the panel's public signing key as PEM (free both). The key is
 * the one beside db's file. */
gboolean panel_notes_export_files (sqlite3 *db, gint64 incident_id, char **out_receipt,
                                   char **out_pem, GError **error);

G_END_DECLS
