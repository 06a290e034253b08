/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansimctl's command table, and the commands for configuration and the
 * desk: check-config, config-reference, press, status. */
#include "ansimctl.h"

#include <json-glib/json-glib.h>

#include "cmd-evidence.h"
#include "config.h"
#include "db.h"
#include "desk-clock.h"
#include "control-client.h"
#include "cmd-notes.h"
#ifdef ANSIM_WITH_PANEL
#include "cmd-panel.h"
#define ON_PANEL_HOST(run) run
#else
/* A desk board's build: the panel-host commands refuse (cmd-panel-absent.c). */
#define ON_PANEL_HOST(run) ansimctl_panel_absent
#endif

const AnsimctlCommand ansimctl_commands[] = {
  { "check-config", "Validate configuration files as the daemons would", ansimctl_check_config },
  { "config-reference", "Print the reference of every configuration key (markdown)",
    ansimctl_config_reference },
  { "press", "Press a simulated trigger of a running recorder", ansimctl_press },
  { "status", "Show a desk's triggers, lights, device key, upload queue and event log",
    ansimctl_status },
  { "keygen", "Make an age identity (the site key that decrypts footage)", ansimctl_keygen },
  { "verify", "Check an incident folder offline: signature, chain, segments", ansimctl_verify },
  { "decrypt", "Write an incident's media, checked, with an age identity", ansimctl_decrypt },
  { "enroll-code", "Create a one-time code to enroll a desk board (panel side)",
    ON_PANEL_HOST (ansimctl_enroll_code) },
  { "revoke", "Revoke an enrolled desk board (panel side)", ON_PANEL_HOST (ansimctl_revoke) },
  { "enroll", "Enroll this desk board with the site's panel", ansimctl_enroll },
  { "user", "Add, change or disable console users (on the panel host)",
    ON_PANEL_HOST (ansimctl_user) },
  { "audit", "Verify, export or checkpoint the panel's audit log (on the panel host)",
    ON_PANEL_HOST (ansimctl_audit) },
  { "panel-key", "Print the panel's signing key for checkpoints and receipts (on the panel host)",
    ON_PANEL_HOST (ansimctl_panel_key) },
  { "notes", "Print the signed checkpoints and receipts this desk keeps from the panel",
    ansimctl_notes },
  { "purge", "Delete incidents whose retention period is over (on the panel host)",
    ON_PANEL_HOST (ansimctl_purge) },
  { "drill", "Arm, end or list drills (모의훈련) (on the panel host)",
    ON_PANEL_HOST (ansimctl_drill) },
  { NULL }
};

static char *
desk_socket (AnsimctlConfigOptions *o, AnsimConfig *config)
{
  if (o->socket != NULL)
    return g_strdup (o->socket);
  return ansim_config_get_path (config, "recorder", "control_socket");
}

int
ansimctl_check_config (int argc, char **argv)
{
  g_autoptr (GOptionContext) context =
    g_option_context_new ("FILE... - validate configuration files");
  g_option_context_set_description (
    context, "The kind of each file (recorder, uploader, panel) is told by its main group.\n"
             "Exit status 0 only when every file is valid.");
  if (!ansimctl_parse (context, &argc, &argv, 0, G_MAXINT, "check-config"))
    return 2;
  if (argc < 2)
    {
      g_printerr ("ansimctl check-config: name at least one FILE\n");
      return 2;
    }
  int status = 0;
  for (int i = 1; i < argc; i++)
    {
      g_autoptr (GError) error = NULL;
      const AnsimConfigSchema *schema = ansim_config_schema_detect (argv[i], &error);
      g_autoptr (AnsimConfig) config = schema != NULL ? ansim_config_load (schema, argv[i], &error)
                                                      : NULL;
      if (config == NULL)
        {
          g_printerr ("%s\n", error->message);
          status = 1;
          continue;
        }
      g_print ("%s: ok (%s configuration)\n", argv[i], schema->program);
    }
  return status;
}

int
ansimctl_config_reference (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("- print the configuration reference");
  if (!ansimctl_parse (context, &argc, &argv, 0, 0, "config-reference"))
    return 2;
  g_autofree char *text = ansim_config_reference_markdown ();
  g_print ("%s", text);
  return 0;
}

static JsonObject *
parse_reply (const char *reply, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, reply, -1, error))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "unexpected reply: %s", reply);
      return NULL;
    }
  JsonObject *object = json_node_get_object (root);
  if (!json_object_get_boolean_member_with_default (object, "ok", FALSE))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s",
                   json_object_get_string_member_with_default (object, "error", reply));
      return NULL;
    }
  return json_object_ref (object);
}

int
ansimctl_press (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autofree char *trigger = NULL;
  gboolean long_press = FALSE;
  int hold_ms = 0;
  GOptionEntry entries[] = { { "trigger", 't', 0, G_OPTION_ARG_STRING, &trigger,
                               "The simulated trigger to press (default: desk-button)", "NAME" },
                             { "long", 'l', 0, G_OPTION_ARG_NONE, &long_press,
                               "Hold past the trigger's long-press threshold", NULL },
                             { "hold", 0, 0, G_OPTION_ARG_INT, &hold_ms,
                               "Hold for MS milliseconds (default: just past the debounce window)",
                               "MS" },
                             { NULL } };
  g_autoptr (GOptionContext) context = g_option_context_new ("- press a simulated trigger");
  g_option_context_add_main_entries (context, entries, NULL);
  ansimctl_add_config_options (context, &o, "recorder", TRUE);
  if (!ansimctl_parse (context, &argc, &argv, 0, 0, "press"))
    return 2;
  if (long_press && hold_ms != 0)
    {
      g_printerr ("ansimctl press: give either --long or --hold, not both\n");
      return 2;
    }
  if (hold_ms < 0)
    {
      g_printerr ("ansimctl press: --hold must be a positive number of milliseconds\n");
      return 2;
    }

  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) config = ansimctl_load_config (&ansim_recorder_config_schema, &o, &error);
  if (config == NULL)
    {
      g_printerr ("ansimctl press: %s\n", error->message);
      return 1;
    }
  g_autofree char *socket_path = desk_socket (&o, config);
  g_autofree char *request =
    long_press    ? g_strdup_printf ("press %s long", trigger ? trigger : "desk-button")
    : hold_ms > 0 ? g_strdup_printf ("press %s %d", trigger ? trigger : "desk-button", hold_ms)
                  : g_strdup_printf ("press %s", trigger ? trigger : "desk-button");
  g_autofree char *reply = ansim_control_request (socket_path, request, &error);
  g_autoptr (JsonObject) answer = reply != NULL ? parse_reply (reply, &error) : NULL;
  if (answer == NULL)
    {
      g_printerr ("ansimctl press: %s\n", error->message);
      return 1;
    }
  g_print ("pressed %s (held %" G_GINT64_FORMAT " ms)\n",
           json_object_get_string_member (answer, "trigger"),
           json_object_get_int_member (answer, "hold_ms"));
  return 0;
}

static void
print_events (sqlite3 *db, int limit)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db,
    "SELECT at_wall_us, kind, coalesce(trigger, ''), coalesce(incident_id, 0) FROM events "
    "ORDER BY id DESC LIMIT ?1",
    &error);
  if (stmt == NULL)
    {
      g_print ("  (cannot read the event log: %s)\n", error->message);
      return;
    }
  sqlite3_bind_int (stmt, 1, limit);
  int rows = 0;
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      gint64 us = sqlite3_column_int64 (stmt, 0);
      g_autoptr (GDateTime) second = g_date_time_new_from_unix_local (us / G_USEC_PER_SEC);
      g_autoptr (GDateTime) at = g_date_time_add (second, us % G_USEC_PER_SEC);
      g_autofree char *when = g_date_time_format (at, "%Y-%m-%d %H:%M:%S.%f");
      g_print ("  %.23s  %-16s %s\n", when, (const char *) sqlite3_column_text (stmt, 1),
               (const char *) sqlite3_column_text (stmt, 2));
      rows++;
    }
  if (rows == 0)
    g_print ("  (no events yet)\n");
}

/* The upload queue: what waits, since when, and why it last failed. */
static void
print_outbox (sqlite3 *db)
{
  static const char *const classes[] = { "alerts", "events", "manifests", "segments" };
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db,
    "SELECT class, count (*), min (created_at_us), max (attempts), "
    " (SELECT last_error FROM outbox o2 WHERE o2.class = o.class AND o2.confirmed_at_us IS NULL "
    "  AND o2.last_error IS NOT NULL ORDER BY o2.id DESC LIMIT 1) "
    "FROM outbox o WHERE confirmed_at_us IS NULL GROUP BY class ORDER BY class",
    NULL);
  if (stmt == NULL)
    return;
  int rows = 0;
  gint64 now = g_get_real_time ();
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      int klass = sqlite3_column_int (stmt, 0);
      g_print (
        "upload queue: %" G_GINT64_FORMAT " %s waiting, oldest %" G_GINT64_FORMAT
        " s, up to %" G_GINT64_FORMAT " attempts%s%s\n",
        (gint64) sqlite3_column_int64 (stmt, 1), klass >= 0 && klass < 4 ? classes[klass] : "?",
        (gint64) (now - sqlite3_column_int64 (stmt, 2)) / G_USEC_PER_SEC,
        (gint64) sqlite3_column_int64 (stmt, 3),
        sqlite3_column_type (stmt, 4) != SQLITE_NULL ? "; last error: " : "",
        sqlite3_column_type (stmt, 4) != SQLITE_NULL ? (const char *) sqlite3_column_text (stmt, 4)
                                                     : "");
      rows++;
    }
  if (rows == 0)
    g_print ("upload queue: empty (everything confirmed by the panel)\n");
}

static char *
format_local_time (gint64 wall_us)
{
  g_autoptr (GDateTime) t = wall_us > 0 ? g_date_time_new_from_unix_local (wall_us / G_USEC_PER_SEC)
                                        : NULL;
  return t != NULL ? g_date_time_format (t, "%F %T") : g_strdup ("never");
}

/* The path to the panel as the recorder supervises it, and the
 * police-bell relay's policy. */
static void
print_path_status (JsonObject *state)
{
  JsonObject *path =
    json_object_has_member (state, "path") ? json_object_get_object_member (state, "path") : NULL;
  if (path != NULL)
    {
      const char *st = json_object_get_string_member_with_default (path, "state", "?");
      g_autofree char *since =
        format_local_time (json_object_get_int_member_with_default (path, "since_us", 0));
      g_autofree char *last_ok =
        format_local_time (json_object_get_int_member_with_default (path, "last_ok_us", 0));
      if (g_str_equal (st, "down"))
        g_print ("  path    PATH DOWN since %s (no answer from the panel for over %" G_GINT64_FORMAT
                 " s)\n",
                 since, json_object_get_int_member_with_default (path, "supervision_s", 0));
      else if (g_str_equal (st, "up"))
        g_print ("  path    up since %s, last answer from the panel %s\n", since, last_ok);
      else
        g_print ("  path    not supervised (supervision_s = 0)\n");
    }
  JsonObject *bell = json_object_has_member (state, "police_bell")
                       ? json_object_get_object_member (state, "police_bell")
                       : NULL;
  if (bell != NULL)
    g_print ("  police-bell policy %s, %s\n",
             json_object_get_string_member_with_default (bell, "policy", "?"),
             !json_object_get_boolean_member_with_default (bell, "output", FALSE)
               ? "no [output police-bell]"
             : json_object_get_boolean_member_with_default (bell, "on", FALSE) ? "relay ON"
                                                                               : "relay off");
}

/* The desk's offset to the panel's clock as the uploader measured it. */
static void
print_desk_clock (sqlite3 *db)
{
  AnsimDeskClock clock;
  g_autoptr (GError) error = NULL;
  if (!ansim_desk_clock_load (db, &clock, &error))
    {
      g_print ("clock: cannot be read: %s\n", error->message);
      return;
    }
  g_autofree char *what = ansim_desk_clock_describe (&clock);
  if (!clock.measured)
    {
      g_print ("clock: %s (the uploader has not heard the panel yet)\n", what);
      return;
    }
  g_autofree char *when = format_local_time (clock.measured_wall_us);
  g_print ("clock: this board's clock is %s, measured %s (board time)\n", what, when);
}

int
ansimctl_status (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  gboolean json = FALSE;
  int events = 10;
  GOptionEntry entries[] = { { "json", 0, 0, G_OPTION_ARG_NONE, &json,
                               "Print the recorder's live state as JSON", NULL },
                             { "events", 'n', 0, G_OPTION_ARG_INT, &events,
                               "How many recent events to show (default 10)", "N" },
                             { NULL } };
  g_autoptr (GOptionContext) context = g_option_context_new ("- show a desk's state");
  g_option_context_add_main_entries (context, entries, NULL);
  ansimctl_add_config_options (context, &o, "recorder", TRUE);
  if (!ansimctl_parse (context, &argc, &argv, 0, 0, "status"))
    return 2;

  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) config = ansimctl_load_config (&ansim_recorder_config_schema, &o, &error);
  if (config == NULL)
    {
      g_printerr ("ansimctl status: %s\n", error->message);
      return 1;
    }
  g_autofree char *socket_path = desk_socket (&o, config);
  g_autofree char *reply = ansim_control_request (socket_path, "status", &error);
  g_autoptr (JsonObject) state = reply != NULL ? parse_reply (reply, &error) : NULL;
  if (json)
    {
      if (state == NULL)
        {
          g_printerr ("ansimctl status: %s\n", error->message);
          return 1;
        }
      g_print ("%s\n", reply);
      return 0;
    }

  g_print ("desk %s (%s)\n", ansim_config_get_string (config, "desk", "id"),
           ansim_config_get_string (config, "desk", "name"));
  if (state == NULL)
    {
      g_print ("recorder: not reachable: %s\n", error->message);
      g_clear_error (&error);
    }
  else
    {
      g_print ("recorder: running\n");
      JsonArray *triggers = json_object_get_array_member (state, "triggers");
      for (guint i = 0; i < json_array_get_length (triggers); i++)
        {
          JsonObject *t = json_array_get_object_element (triggers, i);
          g_print ("  trigger %-14s %-10s %s\n", json_object_get_string_member (t, "name"),
                   json_object_get_string_member (t, "input"),
                   json_object_get_boolean_member (t, "connected") ? "connected" : "NOT CONNECTED");
        }
      JsonArray *sources = json_object_has_member (state, "sources")
                             ? json_object_get_array_member (state, "sources")
                             : NULL;
      for (guint i = 0; sources != NULL && i < json_array_get_length (sources); i++)
        {
          JsonObject *s = json_array_get_object_element (sources, i);
          g_autoptr (GDateTime) since = g_date_time_new_from_unix_local (
            json_object_get_int_member_with_default (s, "since_us", 0) / G_USEC_PER_SEC);
          g_autofree char *when = since != NULL ? g_date_time_format (since, "%F %T") : NULL;
          const char *why = json_object_get_string_member_with_default (s, "last_error", NULL);
          g_print ("  source  %-14s %-8s %-8s since %s, %s, %" G_GINT64_FORMAT " outage(s)%s%s\n",
                   json_object_get_string_member_with_default (s, "name", "?"),
                   json_object_get_string_member_with_default (s, "kind", "?"),
                   json_object_get_string_member_with_default (s, "state", "?"),
                   when != NULL ? when : "?",
                   json_object_get_string_member_with_default (s, "mode", "?"),
                   json_object_get_int_member_with_default (s, "gaps", 0),
                   why != NULL ? "; last error: " : "", why != NULL ? why : "");
        }
      JsonObject *outputs = json_object_get_object_member (state, "outputs");
      g_autoptr (GList) names = json_object_get_members (outputs);
      for (GList *l = names; l != NULL; l = l->next)
        g_print ("  output  %-14s %s\n", (const char *) l->data,
                 json_object_get_boolean_member (outputs, l->data) ? "ON" : "off");
      JsonObject *spool = json_object_has_member (state, "spool")
                            ? json_object_get_object_member (state, "spool")
                            : NULL;
      if (spool != NULL)
        {
          gboolean low = json_object_get_boolean_member_with_default (spool, "low", FALSE);
          g_print ("  spool   %" G_GINT64_FORMAT " MB free (min_free_mb %" G_GINT64_FORMAT ")%s\n",
                   json_object_get_int_member_with_default (spool, "free_mb", -1),
                   json_object_get_int_member_with_default (spool, "min_free_mb", -1),
                   low ? ": DISK FULL, new segments held in memory" : "");
          gint64 held = json_object_get_int_member_with_default (spool, "held_segments", 0);
          gint64 dropped = json_object_get_int_member_with_default (spool, "unkept_segments", 0);
          if (held > 0 || dropped > 0)
            g_print ("          %" G_GINT64_FORMAT
                     " segment(s) held in memory (%.1f MB), %" G_GINT64_FORMAT
                     " not kept (declared as disk-full gaps)\n",
                     held, json_object_get_int_member_with_default (spool, "held_bytes", 0) / 1e6,
                     dropped);
        }
      print_path_status (state);
    }

  g_autofree char *key_path = ansim_config_get_path (config, "recorder", "device_key");
  g_autofree char *key_line = ansimctl_device_fingerprint_line (key_path);
  g_print ("%s\n", key_line);

  g_autofree char *database = ansim_config_get_path (config, "recorder", "database");
  if (!g_file_test (database, G_FILE_TEST_EXISTS))
    {
      g_print ("database: %s does not exist yet\n", database);
      return state != NULL ? 0 : 1;
    }
  g_autoptr (sqlite3) db = NULL;
  if (sqlite3_open_v2 (database, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    {
      g_print ("database: %s cannot be opened: %s\n", database, sqlite3_errmsg (db));
      return 1;
    }
  sqlite3_busy_timeout (db, 5000);
  g_print ("database: %s (schema version %u)\n", database, ansim_db_get_version (db));
  print_desk_clock (db);
  print_outbox (db);
  g_print ("recent events:\n");
  print_events (db, events);
  return state != NULL ? 0 : 1;
}
