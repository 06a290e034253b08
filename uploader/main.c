/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansim-uploader: the desk daemon that sends sealed evidence to the panel. */
#include "daemon.h"
#include "uploader.h"

int
main (int argc, char **argv)
{
  return ansim_daemon_main (argc, argv, &ansim_uploader_config_schema,
                            (AnsimDaemonStart) uploader_new, (GDestroyNotify) uploader_free);
}
