/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansimctl's commands; each parses its own options and returns an exit status. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

#include "config.h"

typedef struct {
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
} AnsimctlCommand;

extern const AnsimctlCommand ansimctl_commands[];

int ansimctl_check_config (int argc, char **argv);
int ansimctl_config_reference (int argc, char **argv);
int ansimctl_press (int argc, char **argv);
int ansimctl_status (int argc, char **argv);
int ansimctl_enroll_code (int argc, char **argv);
/* Any panel-host command in a build without the panel: refuses. */
int ansimctl_panel_absent (int argc, char **argv);
int ansimctl_revoke (int argc, char **argv);
int ansimctl_enroll (int argc, char **argv);

/* ---- shared by the commands (options.c) ---------------------------------- */

/* Parses context's options off argv, then wants min_args..max_args
 * operands. FALSE (exit 2) after saying why: "ansimctl COMMAND: ..." for a
 * bad option or an extra operand, the command's help for a missing one. */
gboolean ansimctl_parse (GOptionContext *context, int *argc, char ***argv, int min_args,
                         int max_args, const char *command);

/* --config, --data-dir and (with_socket) --socket of a daemon's command. */
typedef struct {
  char *config;
  char *data_dir;
  char *socket;
  char *help[3];
} AnsimctlConfigOptions;
void ansimctl_config_options_clear (AnsimctlConfigOptions *o);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AnsimctlConfigOptions, ansimctl_config_options_clear)
/* daemon names it in the help ("recorder", "panel", "uploader"). */
void ansimctl_add_config_options (GOptionContext *context, AnsimctlConfigOptions *o,
                                  const char *daemon, gboolean with_socket);

/* The configuration as the daemon resolves it: the file (or the embedded
 * defaults), the data directory from --data-dir, else $ANSIM_DATA_DIR,
 * else the file's. */
AnsimConfig *ansimctl_load_config (const AnsimConfigSchema *schema, AnsimctlConfigOptions *o,
                                   GError **error);
/* The panel's database, opened (and migrated) as the panel itself would;
 * out_config (may be NULL) gets the configuration it was found with. */
sqlite3 *ansimctl_open_panel_db (AnsimctlConfigOptions *o, AnsimConfig **out_config,
                                 GError **error);
