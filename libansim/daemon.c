/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The shared life cycle of ansim-recorder, ansim-uploader and ansim-panel:
 * load and validate the configuration, start, run the loop, stop cleanly. */
#include "daemon.h"

#include <glib-unix.h>
#include <locale.h>
#include <signal.h>

#include "ansim-build.h"

static gboolean
on_signal (gpointer user_data)
{
  GMainLoop *loop = user_data;
  /* Ctrl-C in a terminal and a supervisor's SIGTERM may both arrive. */
  if (g_main_loop_is_running (loop))
    g_message ("stopping");
  g_main_loop_quit (loop);
  return G_SOURCE_CONTINUE;
}

int
ansim_daemon_main (int argc, char **argv, const AnsimConfigSchema *schema, AnsimDaemonStart start,
                   GDestroyNotify stop)
{
  g_autofree char *config_path = NULL;
  g_autofree char *data_dir = NULL;
  gboolean check_only = FALSE;
  gboolean version = FALSE;
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      "Configuration file (default: the embedded demo defaults)", "FILE" },
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir,
      "Directory for databases and spool, overriding data_dir", "DIR" },
    { "check", 0, 0, G_OPTION_ARG_NONE, &check_only, "Validate the configuration and exit", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL }
  };

  setlocale (LC_ALL, "");
  /* A log reader that went away must not kill a daemon holding evidence. */
  signal (SIGPIPE, SIG_IGN);
  g_autoptr (GOptionContext) context = g_option_context_new (NULL);
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s: %s\n", schema->program, error->message);
      return 2;
    }
  if (argc > 1)
    {
      g_printerr ("%s: unexpected argument '%s'\n", schema->program, argv[1]);
      return 2;
    }
  if (version)
    {
      g_print ("%s %s\n", schema->program, ANSIM_VERSION);
      return 0;
    }

  g_autoptr (AnsimConfig) config = ansim_config_load (schema, config_path, &error);
  if (config == NULL)
    {
      g_printerr ("%s: %s\n", schema->program, error->message);
      return 1;
    }
  if (data_dir != NULL)
    {
      g_autofree char *absolute = g_canonicalize_filename (data_dir, NULL);
      ansim_config_set_data_dir (config, absolute);
    }
  if (check_only)
    {
      g_print ("%s: ok\n", ansim_config_get_origin (config));
      return 0;
    }

  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  guint term_id = g_unix_signal_add (SIGTERM, on_signal, loop);
  guint int_id = g_unix_signal_add (SIGINT, on_signal, loop);

  gpointer daemon = start (config, &error);
  if (daemon == NULL)
    {
      g_printerr ("%s: %s\n", schema->program, error->message);
      g_source_remove (term_id);
      g_source_remove (int_id);
      return 1;
    }
  g_message ("%s %s running with %s", schema->program, ANSIM_VERSION,
             ansim_config_get_origin (config));
  g_main_loop_run (loop);

  stop (daemon);
  g_source_remove (term_id);
  g_source_remove (int_id);
  g_message ("stopped cleanly");
  return 0;
}
