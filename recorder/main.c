/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansim-recorder: the desk daemon that turns triggers into evidence. */
#include "daemon.h"
#include "recorder.h"

/* An incident that cannot finish (its sealing thread waits for disk space)
 * keeps the recorder in use: left to the process's exit, which follows. */
static void
stop (gpointer recorder)
{
  if (recorder_shutdown (recorder))
    recorder_free (recorder);
}

int
main (int argc, char **argv)
{
  return ansim_daemon_main (argc, argv, &ansim_recorder_config_schema,
                            (AnsimDaemonStart) recorder_new, stop);
}
