/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What every ansim daemon's main() does: options, configuration, main loop,
 * clean stop on SIGTERM/SIGINT. */
#pragma once

#include <glib.h>
#include "config.h"

G_BEGIN_DECLS

/* Creates the daemon's object from a validated configuration; it attaches
 * itself to the default main context. */
typedef gpointer (*AnsimDaemonStart) (AnsimConfig *config, GError **error);

/* Options: --config FILE (default: the embedded defaults), --data-dir DIR,
 * --check (validate and exit), --version. Returns the exit status: 0 after
 * a clean stop, 1 on a configuration or start error (one line on stderr). */
int ansim_daemon_main (int argc, char **argv, const AnsimConfigSchema *schema,
                       AnsimDaemonStart start, GDestroyNotify stop);

G_END_DECLS
