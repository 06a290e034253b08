/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansim-panel: the site's evidence store, incident log and console. */
#pragma once

#include <glib.h>
#include "config.h"

G_BEGIN_DECLS

typedef struct _Panel Panel;

/* Opens (and migrates) the site's incident log and listens for HTTP. */
Panel *panel_new (AnsimConfig *config, GError **error);
void panel_free (Panel *self);
/* The base URL it listens on, e.g. "http://127.0.0.1:8080/". */
const char *panel_get_url (Panel *self);
/* The web console, for publishing live events (console.h). */
typedef struct _PanelConsole PanelConsole;
PanelConsole *panel_get_console (Panel *self);
/* The desks' push channel, for messages to a desk (channel.h). */
typedef struct _PanelChannel PanelChannel;
PanelChannel *panel_get_channel (Panel *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Panel, panel_free)

G_END_DECLS
