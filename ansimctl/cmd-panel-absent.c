/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel-host commands of an ansimctl built without the panel (a desk
 * board's build, e.g. arm64): the command table points each of them here
 * (ON_PANEL_HOST in commands.c); it refuses, naming where the command
 * runs, and changes nothing. */
#include "ansimctl.h"

int
ansimctl_panel_absent (int argc, char **argv)
{
  g_printerr ("ansimctl %s: runs on the panel host; this ansimctl was built without the "
              "panel (a desk board's build)\n",
              argc > 0 ? argv[0] : "");
  return 2;
}
