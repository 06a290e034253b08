/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What every ansimctl command does the same way: parse its options and
 * operands, and find a daemon's configuration, data directory and (for the
 * panel) database as that daemon itself would. A command that gets these
 * wrong would act on another site's files, so there is one way. */
#include "ansimctl.h"

#include <errno.h>

#include "db.h"

gboolean
ansimctl_parse (GOptionContext *context, int *argc, char ***argv, int min_args, int max_args,
                const char *command)
{
  g_autoptr (GError) error = NULL;

  if (!g_option_context_parse (context, argc, argv, &error))
    {
      g_printerr ("ansimctl %s: %s\n", command, error->message);
      return FALSE;
    }
  if (*argc - 1 > max_args)
    {
      g_printerr ("ansimctl %s: unexpected argument '%s'\n", command, (*argv)[max_args + 1]);
      return FALSE;
    }
  if (*argc - 1 < min_args)
    {
      g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);
      g_printerr ("%s", help);
      return FALSE;
    }
  return TRUE;
}

void
ansimctl_config_options_clear (AnsimctlConfigOptions *o)
{
  g_free (o->config);
  g_free (o->data_dir);
  g_free (o->socket);
  for (guint i = 0; i < G_N_ELEMENTS (o->help); i++)
    g_free (o->help[i]);
}

void
ansimctl_add_config_options (GOptionContext *context, AnsimctlConfigOptions *o, const char *daemon,
                             gboolean with_socket)
{
  /* GOption keeps the descriptions by reference: o owns them. */
  o->help[0] =
    g_strdup_printf ("The %s's configuration file (default: the embedded defaults)", daemon);
  o->help[1] = g_strdup_printf ("The %s's data directory (default: $ANSIM_DATA_DIR or the "
                                "configuration's)",
                                daemon);
  o->help[2] = g_strdup_printf ("The %s's control socket, overriding the configuration", daemon);
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &o->config, o->help[0], "FILE" },
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &o->data_dir, o->help[1], "DIR" },
    { "socket", 's', 0, G_OPTION_ARG_FILENAME, &o->socket, o->help[2], "PATH" },
    { NULL }
  };
  if (!with_socket)
    entries[2] = entries[3];
  g_option_context_add_main_entries (context, entries, NULL);
}

AnsimConfig *
ansimctl_load_config (const AnsimConfigSchema *schema, AnsimctlConfigOptions *o, GError **error)
{
  g_autoptr (AnsimConfig) config = ansim_config_load (schema, o->config, error);
  if (config == NULL)
    return NULL;
  const char *data_dir = o->data_dir != NULL ? o->data_dir : g_getenv ("ANSIM_DATA_DIR");
  if (data_dir != NULL)
    {
      g_autofree char *absolute = g_canonicalize_filename (data_dir, NULL);
      ansim_config_set_data_dir (config, absolute);
    }
  return g_steal_pointer (&config);
}

sqlite3 *
ansimctl_open_panel_db (AnsimctlConfigOptions *o, AnsimConfig **out_config, GError **error)
{
  g_autoptr (AnsimConfig) config = ansimctl_load_config (&ansim_panel_config_schema, o, error);
  if (config == NULL)
    return NULL;
  g_autofree char *path = ansim_config_get_path (config, "panel", "database");
  g_autofree char *dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0750) < 0)
    {
      int saved = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot create directory '%s': %s", dir, g_strerror (saved));
      return NULL;
    }
  sqlite3 *db = ansim_db_open (&ansim_panel_db_schema, path, error);
  if (db != NULL && out_config != NULL)
    *out_config = g_steal_pointer (&config);
  return db;
}
