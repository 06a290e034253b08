/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk end of the panel's push channel (docs/protocol.md, Channel):
 * one long poll kept open to the panel in a thread of its own, with its
 * own HTTP connection and database connection, so alerts and uploads never
 * wait for it and it never waits for them. What the panel says is passed
 * to the recorder's control socket at once. */
#pragma once

#include <sqlite3.h>

#include "evidence.h"
#include "panel-clock.h"

G_BEGIN_DECLS

typedef struct _UploaderChannel UploaderChannel;

/* Called from the channel's thread whenever the panel answered it (any
 * HTTP answer that is not a 5xx), after the answer was acted on: proof
 * that the path to the panel works. */
typedef void (*UploaderChannelAnsweredFunc) (guint status, gpointer user_data);

typedef struct {
  const char *panel_url;
  const char *ca_file;         /* or NULL */
  const char *database;        /* the desk database (channel_state, events) */
  const char *recorder_socket; /* the recorder's control socket */
  const AnsimDeviceKey *key;   /* borrowed; outlives the channel */
  gint64 wait_ms;              /* how long the panel may hold a request */
  UploaderChannelAnsweredFunc answered;
  gpointer answered_data;
  UploaderPanelClock *clock; /* shared with the worker's client; borrowed */
} UploaderChannelConfig;

/* Opens its database connection and starts the thread. */
UploaderChannel *uploader_channel_new (const UploaderChannelConfig *config, GError **error);
/* Stops the thread (within about a second) and frees. */
void uploader_channel_free (UploaderChannel *channel);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UploaderChannel, uploader_channel_free)

/* TRUE while the channel works: its last request was answered 200 and the
 * one held now is not overdue. Then the heartbeat need not poll for
 * acknowledgements. Any thread. */
gboolean uploader_channel_is_live (UploaderChannel *channel);
/* Gives up the request held now and asks again at once: the panel was
 * seen answering again, and the held one may be dead (cut cable, panel
 * restarted). Any thread. */
void uploader_channel_reconnect (UploaderChannel *channel);

/* The desk log's "acknowledged" event for incident uuid, once per incident
 * (whoever learned it first: an upload answer, the heartbeat or the
 * channel); detail_json may be NULL. Sets *out_logged when it wrote one. */
gboolean uploader_log_acknowledged (sqlite3 *db, const char *uuid, const char *detail_json,
                                    gboolean *out_logged, GError **error);

G_END_DECLS
