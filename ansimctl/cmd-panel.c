/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansimctl commands run on the panel host against the panel's database:
 * `user add|passwd|disable|enable|unlock|list`, `audit verify|export`, `purge` and
 * `drill arm|end|list`. */
#include "cmd-panel.h"
#include "cmd-notes.h"
#include "ansimctl.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "retention.h"
#include "store.h"
#include "drill-db.h"

static char *
actor (void)
{
  return g_strdup_printf ("ansimctl:%s", g_get_user_name ());
}

/* One line from stdin, without its newline. */
static char *
read_password_line (GError **error)
{
  char buffer[1100];

  if (fgets (buffer, sizeof buffer, stdin) == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "no password on standard input");
      return NULL;
    }
  buffer[strcspn (buffer, "\r\n")] = '\0';
  return g_strdup (buffer);
}

static int
user_add (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autofree char *role_name = NULL;
  gboolean from_stdin = FALSE, if_none = FALSE;
  GOptionEntry entries[] = {
    { "role", 'r', 0, G_OPTION_ARG_STRING, &role_name,
      "security, trainer, admin or auditor (required)", "ROLE" },
    { "password-stdin", 0, 0, G_OPTION_ARG_NONE, &from_stdin,
      "Read the password from the first line of standard input (default: generate one and "
      "print it once)",
      NULL },
    { "if-no-users", 0, 0, G_OPTION_ARG_NONE, &if_none,
      "Do nothing (and succeed) when the panel has any user already: the first admin", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("NAME - add a console user");
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = NULL;
  g_autofree char *password = NULL, *who = actor ();
  PanelRole role;

  g_option_context_add_main_entries (context, entries, NULL);
  ansimctl_add_config_options (context, &o, "panel", FALSE);
  if (!ansimctl_parse (context, &argc, &argv, 1, 1, "user add"))
    return 2;
  if (!panel_role_from_string (role_name, &role))
    {
      g_printerr ("ansimctl user add: --role must be security, trainer, admin or auditor\n");
      return 2;
    }
  db = ansimctl_open_panel_db (&o, NULL, &error);
  if (db == NULL)
    goto fail;
  if (if_none)
    {
      gint64 n = 0;
      if (!panel_user_count (db, &n, &error))
        goto fail;
      if (n > 0)
        return 0;
    }
  password = from_stdin ? read_password_line (&error) : panel_password_generate ();
  if (password == NULL || !panel_user_add (db, argv[1], role, password, who, NULL, NULL, &error))
    goto fail;
  if (from_stdin)
    g_print ("added user %s (%s)\n", argv[1], role_name);
  else
    g_print ("added user %s (%s) with password: %s\n", argv[1], role_name, password);
  return 0;

fail:
  g_printerr ("ansimctl user add: %s\n", error->message);
  return 1;
}

static int
user_passwd (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  gboolean from_stdin = FALSE;
  GOptionEntry entries[] = {
    { "password-stdin", 0, 0, G_OPTION_ARG_NONE, &from_stdin,
      "Read the new password from standard input (default: generate and print one)", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context =
    g_option_context_new ("NAME - set a user's password (ends the user's sessions)");
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = NULL;
  g_autofree char *password = NULL, *who = actor ();

  g_option_context_add_main_entries (context, entries, NULL);
  ansimctl_add_config_options (context, &o, "panel", FALSE);
  if (!ansimctl_parse (context, &argc, &argv, 1, 1, "user passwd"))
    return 2;
  db = ansimctl_open_panel_db (&o, NULL, &error);
  if (db == NULL)
    goto fail;
  password = from_stdin ? read_password_line (&error) : panel_password_generate ();
  if (password == NULL || !panel_user_set_password (db, argv[1], password, who, NULL, NULL, &error))
    goto fail;
  if (from_stdin)
    g_print ("password of %s changed\n", argv[1]);
  else
    g_print ("password of %s changed to: %s\n", argv[1], password);
  return 0;

fail:
  g_printerr ("ansimctl user passwd: %s\n", error->message);
  return 1;
}

static int
user_set_disabled (int argc, char **argv, gboolean disabled)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autoptr (GOptionContext) context = g_option_context_new (
    disabled ? "NAME - disable a user (ends the user's sessions)" : "NAME - enable a user again");
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = NULL;
  g_autofree char *who = actor ();

  ansimctl_add_config_options (context, &o, "panel", FALSE);
  if (!ansimctl_parse (context, &argc, &argv, 1, 1, disabled ? "user disable" : "user enable"))
    return 2;
  db = ansimctl_open_panel_db (&o, NULL, &error);
  if (db == NULL || !panel_user_set_disabled (db, argv[1], disabled, who, NULL, NULL, &error))
    {
      g_printerr ("ansimctl user %s: %s\n", disabled ? "disable" : "enable", error->message);
      return 1;
    }
  g_print ("user %s %s\n", argv[1], disabled ? "disabled" : "enabled");
  return 0;
}

static int
user_unlock (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autoptr (GOptionContext) context =
    g_option_context_new ("NAME - let a user whose logins are being slowed try again now");
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = NULL;
  g_autofree char *who = actor ();

  g_option_context_set_description (
    context, "Clears the user's login back-off on every client; the running panel sees it\n"
             "at the user's next try. Audited as a change of the user.");
  ansimctl_add_config_options (context, &o, "panel", FALSE);
  if (!ansimctl_parse (context, &argc, &argv, 1, 1, "user unlock"))
    return 2;
  db = ansimctl_open_panel_db (&o, NULL, &error);
  if (db == NULL || !panel_user_unlock (db, argv[1], who, NULL, NULL, &error))
    {
      g_printerr ("ansimctl user unlock: %s\n", error->message);
      return 1;
    }
  g_print ("user %s unlocked: failed logins before now no longer count\n", argv[1]);
  return 0;
}

static int
user_list (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autoptr (GOptionContext) context = g_option_context_new ("- list console users");
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = NULL;
  g_autoptr (sqlite3_stmt) stmt = NULL;

  ansimctl_add_config_options (context, &o, "panel", FALSE);
  if (!ansimctl_parse (context, &argc, &argv, 0, 0, "user list"))
    return 2;
  db = ansimctl_open_panel_db (&o, NULL, &error);
  if (db != NULL)
    stmt = ansim_db_prepare (db,
                             "SELECT name, role, disabled_at_us IS NOT NULL FROM users"
                             " ORDER BY name",
                             &error);
  if (stmt == NULL)
    {
      g_printerr ("ansimctl user list: %s\n", error->message);
      return 1;
    }
  while (sqlite3_step (stmt) == SQLITE_ROW)
    g_print ("%-24s %-9s%s\n", sqlite3_column_text (stmt, 0), sqlite3_column_text (stmt, 1),
             sqlite3_column_int (stmt, 2) ? " (disabled)" : "");
  return 0;
}

int
ansimctl_user (int argc, char **argv)
{
  const char *sub = argc > 1 ? argv[1] : "";

  if (strcmp (sub, "add") == 0)
    return user_add (argc - 1, argv + 1);
  if (strcmp (sub, "passwd") == 0)
    return user_passwd (argc - 1, argv + 1);
  if (strcmp (sub, "disable") == 0)
    return user_set_disabled (argc - 1, argv + 1, TRUE);
  if (strcmp (sub, "enable") == 0)
    return user_set_disabled (argc - 1, argv + 1, FALSE);
  if (strcmp (sub, "unlock") == 0)
    return user_unlock (argc - 1, argv + 1);
  if (strcmp (sub, "list") == 0)
    return user_list (argc - 1, argv + 1);
  g_printerr ("Usage: ansimctl user add|passwd|disable|enable|unlock|list [OPTIONS] [NAME]\n"
              "'ansimctl user add --help' describes the options.\n");
  return 2;
}

int
ansimctl_audit (int argc, char **argv)
{
  const char *sub = argc > 1 ? argv[1] : "";
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = NULL;
  g_autoptr (AnsimConfig) config = NULL;
  g_auto (GStrv) checkpoints = NULL;
  g_autofree char *panel_key = NULL, *database = NULL;
  GOptionEntry verify_entries[] = {
    { "checkpoints", 'c', 0, G_OPTION_ARG_FILENAME_ARRAY, &checkpoints,
      "Also compare with the signed checkpoints in PATH: a desk's data directory, its desk.db, "
      "or a file of notes ('ansimctl notes', GET /api/audit/checkpoint); may be repeated",
      "PATH" },
    { "panel-key", 0, 0, G_OPTION_ARG_FILENAME, &panel_key,
      "Check the checkpoints' signatures with this public key (PEM; default: the one beside "
      "the panel's database)",
      "FILE" },
    { NULL }
  };

  if (strcmp (sub, "verify") != 0 && strcmp (sub, "export") != 0 && strcmp (sub, "checkpoint") != 0)
    {
      g_printerr ("Usage: ansimctl audit verify|export|checkpoint [OPTIONS]\n");
      return 2;
    }
  context = g_option_context_new (strcmp (sub, "verify") == 0 ? "- check the audit log's hash chain"
                                  : strcmp (sub, "export") == 0
                                    ? "- print the audit log as JSON lines"
                                    : "- print a signed checkpoint of the audit log's head");
  if (strcmp (sub, "verify") == 0)
    {
      g_option_context_add_main_entries (context, verify_entries, NULL);
      g_option_context_set_description (
        context, "Checks the chain of the audit log; with --checkpoints also that the log still\n"
                 "holds what the panel signed and handed to the desks, naming the first entry\n"
                 "where they diverge (docs/receipts.md). Exit status: 0 intact, 1 not.");
    }
  ansimctl_add_config_options (context, &o, "panel", FALSE);
  argc--;
  argv++;
  g_autofree char *command = g_strconcat ("audit ", sub, NULL);
  if (!ansimctl_parse (context, &argc, &argv, 0, 0, command))
    return 2;
  db = ansimctl_open_panel_db (&o, &config, &error);
  if (db == NULL)
    goto fail;
  database = ansim_config_get_path (config, "panel", "database");
  if (strcmp (sub, "export") == 0)
    {
      /* In pieces, so a long log never sits whole in memory. */
      gint64 until = 0, last = 0, next = 0;
      if (!panel_audit_last_id (db, &until, &error))
        goto fail;
      do
        {
          g_autoptr (GString) out = g_string_new (NULL);
          last = next;
          if (!panel_audit_export_batch (db, last, until, 1000, out, &next, &error))
            goto fail;
          fwrite (out->str, 1, out->len, stdout);
        }
      while (next != last);
      return fflush (stdout) == 0 ? 0 : 1;
    }
  if (strcmp (sub, "checkpoint") == 0)
    return ansimctl_audit_checkpoint (db, database);
  {
    g_autofree char *problem = NULL;
    gint64 n = 0;
    int status = 0;
    if (!panel_audit_verify (db, &n, &problem, &error))
      goto fail;
    if (problem != NULL)
      {
        g_print ("audit log BROKEN: %s\n", problem);
        status = 1;
      }
    else
      g_print ("audit log intact: %" G_GINT64_FORMAT " entries, chain verified\n", n);
    if (checkpoints != NULL)
      {
        /* Not inside MAX (): it would run twice. */
        int against = ansimctl_audit_verify_checkpoints (db, database, checkpoints, panel_key);
        status = MAX (status, against);
      }
    return status;
  }

fail:
  g_printerr ("ansimctl audit %s: %s\n", sub, error->message);
  return 1;
}

/* The evidence store the panel's configuration names. */
static PanelStore *
open_store (AnsimConfig *config, GError **error)
{
  if (strcmp (ansim_config_get_string (config, "panel", "store"), "s3") == 0)
    return panel_store_new_s3 (config, error);
  g_autofree char *dir = ansim_config_get_path (config, "panel", "store_dir");
  return panel_store_new_filesystem (dir, error);
}

int
ansimctl_purge (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autoptr (GOptionContext) context =
    g_option_context_new ("- delete incidents whose retention period is over");
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = NULL;
  g_autoptr (AnsimConfig) config = NULL;
  g_autoptr (PanelStore) store = NULL;
  g_autoptr (GString) report = g_string_new (NULL);
  g_autofree char *who = actor ();
  gboolean dry_run = FALSE, now = FALSE;
  guint n = 0, failed = 0;
  GOptionEntry entries[] = { { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
                               "Only list what would be purged and what is kept, and why", NULL },
                             { "now", 0, 0, G_OPTION_ARG_NONE, &now,
                               "Purge now (one audit entry per incident)", NULL },
                             { NULL } };

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (
    context,
    "Incidents that are resolved, not on legal hold and older than their category's retention\n"
    "period (console: Settings) are deleted from the evidence store and the database. A purge\n"
    "that was interrupted is finished first. The panel does the same every purge_interval_s.");
  ansimctl_add_config_options (context, &o, "panel", FALSE);
  if (!ansimctl_parse (context, &argc, &argv, 0, 0, "purge"))
    return 2;
  if (dry_run == now)
    {
      g_printerr ("ansimctl purge: give exactly one of --dry-run and --now\n");
      return 2;
    }
  db = ansimctl_open_panel_db (&o, &config, &error);
  if (db == NULL || (store = open_store (config, &error)) == NULL)
    goto fail;
  if (!panel_retention_purge (db, store, dry_run, who, report, &n, &failed, &error))
    goto fail;
  if (!dry_run && !panel_retention_extend_locks (db, store, &error))
    goto fail;
  fputs (report->str, stdout);
  if (dry_run)
    g_print ("%u incident%s would be purged (dry run: nothing changed)\n", n, n == 1 ? "" : "s");
  else
    g_print ("%u incident%s purged%s\n", n, n == 1 ? "" : "s",
             failed > 0 ? ", some FAILED (see above); they are retried on the next run" : "");
  return failed > 0 ? 1 : 0;

fail:
  g_printerr ("ansimctl purge: %s\n", error->message);
  return 1;
}

static int
drill_arm (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_auto (GStrv) desks = NULL;
  gint minutes = 60;
  g_autofree char *note = NULL;
  GOptionEntry entries[] = { { "desk", 0, 0, G_OPTION_ARG_STRING_ARRAY, &desks,
                               "A desk to arm (repeat for several)", "DESK" },
                             { "minutes", 'm', 0, G_OPTION_ARG_INT, &minutes,
                               "The window, from now (default 60)", "N" },
                             { "note", 0, 0, G_OPTION_ARG_STRING, &note, "The scenario", "TEXT" },
                             { NULL } };
  g_autoptr (GOptionContext) context =
    g_option_context_new ("- arm a drill: the next press at each desk within the window is the "
                          "drill");
  g_option_context_add_main_entries (context, entries, NULL);
  ansimctl_add_config_options (context, &o, "panel", FALSE);
  if (!ansimctl_parse (context, &argc, &argv, 0, 0, "drill arm"))
    return 2;
  if (desks == NULL || minutes < 1)
    {
      g_printerr ("ansimctl drill arm: give at least one --desk and --minutes of 1 or more\n");
      return 2;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = ansimctl_open_panel_db (&o, NULL, &error);
  g_autofree char *who = actor ();
  gint64 now = g_get_real_time (), id = 0;
  if (db == NULL
      || !panel_drill_arm (db, (const char *const *) desks, g_strv_length (desks), now,
                           now + (gint64) minutes * 60 * G_USEC_PER_SEC, note, who, NULL, NULL, &id,
                           &error))
    {
      g_printerr ("ansimctl drill arm: %s\n", error->message);
      return 1;
    }
  g_print ("drill %" G_GINT64_FORMAT " armed for %u desk(s) for %d minutes\n", id,
           g_strv_length (desks), minutes);
  return 0;
}

static int
drill_end (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autoptr (GOptionContext) context = g_option_context_new ("ID - end a drill");
  ansimctl_add_config_options (context, &o, "panel", FALSE);
  if (!ansimctl_parse (context, &argc, &argv, 1, 1, "drill end"))
    return 2;
  gint64 id = 0;
  if (!g_ascii_string_to_signed (argv[1], 10, 1, G_MAXINT64, &id, NULL))
    {
      g_printerr ("ansimctl drill end: '%s' is not a drill number\n", argv[1]);
      return 2;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = ansimctl_open_panel_db (&o, NULL, &error);
  g_autofree char *who = actor ();
  if (db == NULL || !panel_drill_end (db, id, who, NULL, NULL, &error))
    {
      g_printerr ("ansimctl drill end: %s\n", error->message);
      return 1;
    }
  g_print ("drill %" G_GINT64_FORMAT " ended\n", id);
  return 0;
}

static char *
local_time (gint64 us)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local (us / G_USEC_PER_SEC);
  return dt != NULL ? g_date_time_format (dt, "%Y-%m-%d %H:%M:%S") : g_strdup ("?");
}

static int
drill_list (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autoptr (GOptionContext) context = g_option_context_new ("- list drills, newest first");
  ansimctl_add_config_options (context, &o, "panel", FALSE);
  if (!ansimctl_parse (context, &argc, &argv, 0, 0, "drill list"))
    return 2;
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = ansimctl_open_panel_db (&o, NULL, &error);
  g_autoptr (sqlite3_stmt) stmt = NULL;
  if (db != NULL)
    stmt = ansim_db_prepare (
      db,
      "SELECT d.id, d.window_start_us, d.window_end_us, d.armed_by, d.ended_at_us IS NOT NULL, "
      "dd.desk_id, dd.incident_id, i.acknowledged_by, dd.arrived_at_us IS NOT NULL "
      "FROM drills d JOIN drill_desks dd ON dd.drill_id = d.id "
      "LEFT JOIN incidents i ON i.id = dd.incident_id ORDER BY d.id DESC, dd.desk_id",
      &error);
  if (stmt == NULL)
    {
      g_printerr ("ansimctl drill list: %s\n", error->message);
      return 1;
    }
  gint64 last = 0;
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      if (sqlite3_column_int64 (stmt, 0) != last)
        {
          last = sqlite3_column_int64 (stmt, 0);
          g_autofree char *from = local_time (sqlite3_column_int64 (stmt, 1));
          g_autofree char *until = local_time (sqlite3_column_int64 (stmt, 2));
          g_print ("drill %" G_GINT64_FORMAT "  %s .. %s  by %s%s\n", last, from, until,
                   sqlite3_column_text (stmt, 3), sqlite3_column_int (stmt, 4) ? "  (ended)" : "");
        }
      if (sqlite3_column_type (stmt, 6) == SQLITE_NULL)
        g_print ("  desk %-16s no press yet\n", sqlite3_column_text (stmt, 5));
      else
        g_print ("  desk %-16s incident %" G_GINT64_FORMAT "%s%s%s\n",
                 sqlite3_column_text (stmt, 5), (gint64) sqlite3_column_int64 (stmt, 6),
                 sqlite3_column_type (stmt, 7) != SQLITE_NULL ? ", acknowledged by " : "",
                 sqlite3_column_type (stmt, 7) != SQLITE_NULL
                   ? (const char *) sqlite3_column_text (stmt, 7)
                   : "",
                 sqlite3_column_int (stmt, 8) ? ", arrival recorded" : "");
    }
  return 0;
}

int
ansimctl_drill (int argc, char **argv)
{
  const char *sub = argc > 1 ? argv[1] : "";

  if (strcmp (sub, "arm") == 0)
    return drill_arm (argc - 1, argv + 1);
  if (strcmp (sub, "end") == 0)
    return drill_end (argc - 1, argv + 1);
  if (strcmp (sub, "list") == 0)
    return drill_list (argc - 1, argv + 1);
  g_printerr ("Usage: ansimctl drill arm|end|list [OPTIONS]\n"
              "'ansimctl drill arm --help' describes the options.\n");
  return 2;
}
