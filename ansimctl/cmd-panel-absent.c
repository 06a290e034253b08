/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel-host commands of an ansimctl built without the panel (a desk
 * board's build, e.g. arm64): each refuses, naming where it runs, and
 * changes nothing. Every panel-host command in the table needs one here. */
#include "ansimctl.h"
#include "cmd-panel.h"

static int
absent (const char *command)
{
  g_printerr ("ansimctl %s: runs on the panel host; this ansimctl was built without the "
              "panel (a desk board's build)\n",
              command);
  return 2;
}

int
ansimctl_enroll_code (G_GNUC_UNUSED int argc, G_GNUC_UNUSED char **argv)
{
  return absent ("enroll-code");
}

int
ansimctl_revoke (G_GNUC_UNUSED int argc, G_GNUC_UNUSED char **argv)
{
  return absent ("revoke");
}

int
ansimctl_user (G_GNUC_UNUSED int argc, G_GNUC_UNUSED char **argv)
{
  return absent ("user");
}

int
ansimctl_audit (G_GNUC_UNUSED int argc, G_GNUC_UNUSED char **argv)
{
  return absent ("audit");
}

int
ansimctl_purge (G_GNUC_UNUSED int argc, G_GNUC_UNUSED char **argv)
{
  return absent ("purge");
}

int
ansimctl_drill (G_GNUC_UNUSED int argc, G_GNUC_UNUSED char **argv)
{
  return absent ("drill");
}
