/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The push channel's messages in the panel's database (table
 * channel_messages): writing one for the desk of an incident, inside the
 * caller's transaction, and reading a desk's messages after a sequence
 * number into a channel answer. No HTTP here (ingest and the fuzz target
 * use it); the waiting requests are in channel.h. It must keep true: a
 * message is visible exactly when the change that caused it committed, and
 * seq only grows. */
#pragma once

#include <json-glib/json-glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* Longest a channel request may ask to be held (wait_ms). */
#define PANEL_CHANNEL_MAX_WAIT_MS 25000
/* How long messages are kept; a desk away longer misses them. */
#define PANEL_CHANNEL_KEEP_US (G_GINT64_CONSTANT (24 * 3600) * G_USEC_PER_SEC)
/* A police-bell request older than this is not delivered any more: a bell
 * rung minutes after the escalation would call the police to a scene that
 * has moved on (the desk's own fallback covers a cut path). */
#define PANEL_CHANNEL_POLICE_BELL_VALID_US (G_GINT64_CONSTANT (600) * G_USEC_PER_SEC)
/* At most this many messages in one answer; the desk asks again. */
#define PANEL_CHANNEL_MAX_MESSAGES 100

typedef enum {
  PANEL_CHANNEL_ACKNOWLEDGED,
  PANEL_CHANNEL_RESOLVED,
  PANEL_CHANNEL_POLICE_BELL,
} PanelChannelKind;

/* Writes a message for the device that raised incident_id (reason only,
 * and required, for PANEL_CHANNEL_POLICE_BELL), stamped now, and drops
 * expired ones. Runs in the caller's transaction if one is open. The
 * device's id goes to out_device_id (may be NULL). */
gboolean panel_channel_db_post (sqlite3 *db, gint64 incident_id, PanelChannelKind kind,
                                const char *reason, char **out_device_id, GError **error);

/* Adds the members of a channel answer to b (an open object): "time_us",
 * "seq" (the after to send next) and "messages" (those of device_id with
 * seq > after, oldest first). An after beyond every seq the panel has
 * given (its database was replaced) counts as 0. Returns the number of
 * messages, or -1 with error set (b is then unusable). */
gint panel_channel_db_read (sqlite3 *db, const char *device_id, gint64 after, JsonBuilder *b,
                            GError **error);

G_END_DECLS
