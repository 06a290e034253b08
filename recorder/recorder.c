/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The recorder: configuration to hw inputs/outputs, and every trigger event
 * written to the desk's append-only event log. */
#include "recorder.h"

#include <errno.h>
#include <glib/gstdio.h>

#include "db.h"
#include "evidence.h"
#include "hw.h"

struct _Recorder {
  AnsimConfig *config;          /* not owned */
  char *desk_id;
  sqlite3 *db;
  GPtrArray *inputs;            /* HwInput* */
  GPtrArray *outputs;           /* HwOutput* */
  HwControl *control;
};

static const char *const input_kinds[] = { "gpio", "evdev", "simulated", NULL };
static const char *const bias_names[] = { "as-is", "disable", "pull-up", "pull-down", NULL };

static void
on_trigger_event (const HwEvent *event, gpointer user_data)
{
  Recorder *self = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *detail =
    g_strdup_printf ("{\"reported_mono_us\":%" G_GINT64_FORMAT "}", event->reported_us);

  if (!ansim_db_log_event (self->db, hw_event_kind_to_string (event->kind), self->desk_id,
                           event->trigger, 0, event->edge_us, detail, NULL, &error))
    {
      g_warning ("trigger %s: %s not recorded in the event log: %s",
                 event->trigger, hw_event_kind_to_string (event->kind), error->message);
      return;
    }
  g_message ("trigger %s: %s (decided %.1f ms after the edge)", event->trigger,
             hw_event_kind_to_string (event->kind),
             (event->reported_us - event->edge_us) / 1000.0);
}

static guint
choice_index (const char *value, const char *const *choices)
{
  for (guint i = 0; choices[i] != NULL; i++)
    if (g_strcmp0 (value, choices[i]) == 0)
      return i;
  g_assert_not_reached ();
}

static gboolean
open_inputs (Recorder *self, GError **error)
{
  AnsimConfig *c = self->config;
  g_auto (GStrv) groups = ansim_config_list_named (c, "trigger");

  for (char **g = groups; *g != NULL; g++)
    {
      const char *input = ansim_config_get_string (c, *g, "input");
      HwInputConfig ic = {
        .trigger = ansim_config_group_instance (*g),
        .kind = choice_index (input, input_kinds),
        .debounce_ms = ansim_config_get_int (c, *g, "debounce_ms"),
        .long_press_ms = ansim_config_get_int (c, *g, "long_press_ms"),
      };
      g_autofree char *device = NULL;
      if (ic.kind == HW_INPUT_GPIO)
        {
          ic.chip = ansim_config_get_string (c, *g, "chip");
          ic.line = ansim_config_get_int (c, *g, "line");
          ic.active_low = ansim_config_get_bool (c, *g, "active_low");
          ic.bias = choice_index (ansim_config_get_string (c, *g, "bias"), bias_names);
        }
      else if (ic.kind == HW_INPUT_EVDEV)
        {
          device = ansim_config_get_path (c, *g, "device");
          ic.device = device;
          ic.key_code = ansim_config_key_code (ansim_config_get_string (c, *g, "key"));
        }
      HwInput *in = hw_input_new (&ic, on_trigger_event, self, error);
      if (in == NULL)
        return FALSE;
      g_ptr_array_add (self->inputs, in);
    }
  return TRUE;
}

static gboolean
open_outputs (Recorder *self, GError **error)
{
  AnsimConfig *c = self->config;
  g_auto (GStrv) groups = ansim_config_list_named (c, "output");

  for (char **g = groups; *g != NULL; g++)
    {
      gboolean gpio = g_str_equal (ansim_config_get_string (c, *g, "kind"), "gpio");
      HwOutputConfig oc = {
        .name = ansim_config_group_instance (*g),
        .kind = gpio ? HW_OUTPUT_GPIO : HW_OUTPUT_SIMULATED,
      };
      if (gpio)
        {
          oc.chip = ansim_config_get_string (c, *g, "chip");
          oc.line = ansim_config_get_int (c, *g, "line");
          oc.active_low = ansim_config_get_bool (c, *g, "active_low");
        }
      HwOutput *out = hw_output_new (&oc, error);
      if (out == NULL)
        return FALSE;
      g_ptr_array_add (self->outputs, out);
    }
  return TRUE;
}

/* The desk and its triggers as configured now, so the uploader and the panel
 * can name them; one transaction, so a reader never sees half of it. */
static gboolean
record_desk (Recorder *self, GError **error)
{
  AnsimConfig *c = self->config;
  g_auto (GStrv) groups = ansim_config_list_named (c, "trigger");

  if (!ansim_db_begin (self->db, error))
    return FALSE;
  g_autoptr (sqlite3_stmt) desk = ansim_db_prepare (self->db,
    "INSERT INTO desks (id, name) VALUES (?1, ?2) "
    "ON CONFLICT (id) DO UPDATE SET name = excluded.name", error);
  g_autoptr (sqlite3_stmt) trigger = ansim_db_prepare (self->db,
    "INSERT INTO triggers (name, desk_id, kind, input) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT DO UPDATE SET kind = excluded.kind, input = excluded.input", error);
  if (desk == NULL || trigger == NULL)
    goto fail;

  sqlite3_bind_text (desk, 1, self->desk_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (desk, 2, ansim_config_get_string (c, "desk", "name"), -1, SQLITE_STATIC);
  if (sqlite3_step (desk) != SQLITE_DONE)
    {
      ansim_db_set_error (self->db, error, "recording the desk");
      goto fail;
    }
  for (char **g = groups; *g != NULL; g++)
    {
      sqlite3_reset (trigger);
      sqlite3_bind_text (trigger, 1, ansim_config_group_instance (*g), -1, SQLITE_STATIC);
      sqlite3_bind_text (trigger, 2, self->desk_id, -1, SQLITE_STATIC);
      sqlite3_bind_text (trigger, 3, ansim_config_get_string (c, *g, "kind"), -1, SQLITE_STATIC);
      sqlite3_bind_text (trigger, 4, ansim_config_get_string (c, *g, "input"), -1, SQLITE_STATIC);
      if (sqlite3_step (trigger) != SQLITE_DONE)
        {
          ansim_db_set_error (self->db, error, "recording the desk's triggers");
          goto fail;
        }
    }
  return ansim_db_commit (self->db, error);

fail:
  ansim_db_rollback (self->db);
  return FALSE;
}

static gboolean
make_dir (const char *path, GError **error)
{
  if (g_mkdir_with_parents (path, 0750) < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                   "cannot create directory '%s': %s", path, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

Recorder *
recorder_new (AnsimConfig *config, GError **error)
{
  g_return_val_if_fail (config != NULL, NULL);

  g_autoptr (Recorder) self = g_new0 (Recorder, 1);
  self->config = config;
  self->desk_id = g_strdup (ansim_config_get_string (config, "desk", "id"));
  self->inputs = g_ptr_array_new_with_free_func ((GDestroyNotify) hw_input_free);
  self->outputs = g_ptr_array_new_with_free_func ((GDestroyNotify) hw_output_free);

  g_autofree char *data_dir = ansim_config_get_path (config, "recorder", "data_dir");
  g_autofree char *spool_dir = ansim_config_get_path (config, "recorder", "spool_dir");
  g_autofree char *database = ansim_config_get_path (config, "recorder", "database");
  g_autofree char *socket_path = ansim_config_get_path (config, "recorder", "control_socket");
  if (!make_dir (data_dir, error) || !make_dir (spool_dir, error))
    return NULL;

  /* Created on first start; refused when others may read it. */
  g_autofree char *key_path = ansim_config_get_path (config, "recorder", "device_key");
  g_autoptr (AnsimDeviceKey) device_key = ansim_device_key_load_or_create (key_path, error);
  if (device_key == NULL)
    return NULL;
  g_message ("device key %s, fingerprint %s", key_path,
             ansim_device_key_get_fingerprint (device_key));

  self->db = ansim_db_open (&ansim_desk_db_schema, database, error);
  if (self->db == NULL || !record_desk (self, error))
    return NULL;
  if (!open_outputs (self, error) || !open_inputs (self, error))
    return NULL;

  self->control = hw_control_new (socket_path, error);
  if (self->control == NULL)
    return NULL;
  for (guint i = 0; i < self->inputs->len; i++)
    hw_control_add_input (self->control, g_ptr_array_index (self->inputs, i));
  for (guint i = 0; i < self->outputs->len; i++)
    hw_control_add_output (self->control, g_ptr_array_index (self->outputs, i));

  g_message ("desk %s ready: %u trigger(s), %u output(s), database %s, control socket %s",
             self->desk_id, self->inputs->len, self->outputs->len, database, socket_path);
  return g_steal_pointer (&self);
}

void
recorder_free (Recorder *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->control, hw_control_free);
  g_clear_pointer (&self->inputs, g_ptr_array_unref);
  g_clear_pointer (&self->outputs, g_ptr_array_unref);
  g_clear_pointer (&self->db, sqlite3_close);
  g_free (self->desk_id);
  g_free (self);
}
