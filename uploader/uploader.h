/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansim-uploader: sends the desk's outbox to the panel, alerts first. */
#pragma once

#include <glib.h>
#include "config.h"

G_BEGIN_DECLS

typedef struct _Uploader Uploader;

/* Opens (and migrates) the desk database the recorder shares, loads the
 * device key, binds the wake socket and starts the sending thread. */
Uploader *uploader_new (AnsimConfig *config, GError **error);
void uploader_free (Uploader *self);
/* Look at the outbox now (what the wake socket does); any thread. */
void uploader_wake (Uploader *self);
/* The panel answered a request with HTTP status (any thread; the channel
 * client calls it too): unless it is a 5xx, the recorder hears `path-ok`
 * on its control socket, at most once a second. */
void uploader_panel_answered (Uploader *self, guint status);
/* Items in the outbox not yet confirmed by the panel. */
gint64 uploader_count_waiting (Uploader *self, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Uploader, uploader_free)

G_END_DECLS
