/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansimctl: the command line for people and scripts. */
#include <locale.h>
#include <stdio.h>

#include "ansim-build.h"
#include "ansimctl.h"

static void
usage (FILE *to)
{
  fprintf (to, "Usage: ansimctl COMMAND [OPTIONS]\n\nCommands:\n");
  for (const AnsimctlCommand *c = ansimctl_commands; c->name != NULL; c++)
    fprintf (to, "  %-18s %s\n", c->name, c->summary);
  fprintf (to, "\n'ansimctl COMMAND --help' describes a command's options.\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  if (argc < 2 || g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "help"))
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  if (g_str_equal (argv[1], "--version") || g_str_equal (argv[1], "version"))
    {
      printf ("ansimctl %s\n", ANSIM_VERSION);
      return 0;
    }
  for (const AnsimctlCommand *c = ansimctl_commands; c->name != NULL; c++)
    if (g_str_equal (argv[1], c->name))
      {
        /* "Usage: ansimctl verify …" in each command's --help. */
        g_autofree char *prgname = g_strdup_printf ("ansimctl %s", c->name);
        g_set_prgname (prgname);
        return c->run (argc - 1, argv + 1);
      }
  fprintf (stderr, "ansimctl: unknown command '%s'\n\n", argv[1]);
  usage (stderr);
  return 2;
}
