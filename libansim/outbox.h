/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk's upload queue as the recorder fills it (docs/schema.md,
 * "outbox"), and the wake-up call that makes the uploader look at once. */
#pragma once

#include <gio/gio.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* Each queues one row in the caller's transaction (or its own, outside
 * one) and returns its id in out_id (may be NULL). path: relative to the
 * spool directory, e.g. "<incident uuid>/manifest.json". */
gboolean ansim_outbox_queue_alert (sqlite3 *db, gint64 incident_id, gint64 *out_id,
                                   GError **error);
gboolean ansim_outbox_queue_event (sqlite3 *db, gint64 event_id, gint64 *out_id, GError **error);
gboolean ansim_outbox_queue_manifest (sqlite3 *db, gint64 incident_id, const char *path,
                                      gint64 *out_id, GError **error);
gboolean ansim_outbox_queue_segment (sqlite3 *db, gint64 incident_id, gint64 segment_idx,
                                     const char *path, gint64 *out_id, GError **error);

/* Sends one datagram "wake" to the uploader's wake socket (an AF_UNIX
 * SOCK_DGRAM socket, [uploader] wake_socket): it then sends at once
 * instead of at its next poll. Never blocks; FALSE with error when no
 * uploader listens (the item is queued anyway and goes at the next poll). */
gboolean ansim_outbox_wake_uploader (const char *socket_path, GError **error);

G_END_DECLS
