/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansim-panel: the site server: evidence store, incident log and console. */
#include "daemon.h"
#include "panel.h"

int
main (int argc, char **argv)
{
  return ansim_daemon_main (argc, argv, &ansim_panel_config_schema, (AnsimDaemonStart) panel_new,
                            (GDestroyNotify) panel_free);
}
