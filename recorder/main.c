/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansim-recorder: the desk daemon that turns triggers into evidence. */
#include "daemon.h"
#include "recorder.h"

int
main (int argc, char **argv)
{
  return ansim_daemon_main (argc, argv, &ansim_recorder_config_schema,
                            (AnsimDaemonStart) recorder_new, (GDestroyNotify) recorder_free);
}
