/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The recorder: configuration to hw inputs/outputs and capture sources;
 * every trigger event written to the desk's append-only event log, and
 * presses turned into incidents recorded by the sources they serve. */
#include "recorder.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "alarm.h"
#include "db.h"
#include "evidence.h"
#include "control.h"
#include "hw.h"
#include "json-event.h"
#include "notice.h"
#include "recorder-private.h"

typedef struct {
  RecorderSource *source;
  char **triggers;            /* served; NULL = all */
  RecorderIncident *incident; /* recording now, or NULL */
  gboolean wearable;
} SourceSlot;

struct _Recorder {
  AnsimConfig *config; /* not owned */
  char *desk_id;
  char *device_id;
  char *spool_dir;
  char *database;
  char *uploader_socket;
  sqlite3 *db;
  GPtrArray *inputs;  /* HwInput* */
  GPtrArray *outputs; /* HwOutput* */
  RecorderControl *control;
  AnsimDeviceKey *device_key; /* NULL: incidents are logged, not recorded */
  GPtrArray *recipients;      /* AnsimAgeRecipient* */
  RecorderContext ctx;
  GArray *slots;      /* SourceSlot */
  GPtrArray *closing; /* RecorderIncident* ending, not yet closed */
  gboolean shut_down; /* recorder_shutdown() ran */
  guint stats_timer;
  guint disk_timer;
  guint clock_timer;
  gint64 wall_minus_mono_us; /* the wall clock's lead over the monotonic one, last seen */
  gboolean disk_low;         /* as last logged */
  guint ack_timer;           /* polls for "acknowledged" while incidents are open */
  RecorderAlarm *alarm;      /* delivery, police bell, path supervision */
  RecorderNotice *notice;    /* the notice of filming */
};

static const char *const input_kinds[] = { "gpio", "evdev", "simulated", NULL };
static const char *const bias_names[] = { "as-is", "disable", "pull-up", "pull-down", NULL };

static HwOutput *
find_output (Recorder *self, const char *name)
{
  for (guint i = 0; i < self->outputs->len; i++)
    if (g_str_equal (hw_output_get_name (self->outputs->pdata[i]), name))
      return self->outputs->pdata[i];
  return NULL;
}

static void
set_output (Recorder *self, const char *name, gboolean on)
{
  HwOutput *out = find_output (self, name);
  g_autoptr (GError) error = NULL;

  if (out != NULL && !hw_output_set (out, on, &error))
    g_warning ("output %s: %s, continuing without it", name, error->message);
}

static void
update_recording_light (Recorder *self)
{
  gboolean any = FALSE;

  /* While the alarm blinks it ("not delivered"), the blink owns it. */
  if (self->alarm != NULL && recorder_alarm_owns_light (self->alarm))
    return;
  for (guint i = 0; i < self->slots->len; i++)
    any |= g_array_index (self->slots, SourceSlot, i).incident != NULL;
  set_output (self, "recording", any || self->closing->len > 0);
}

static void
restore_recording_light (gpointer user_data)
{
  update_recording_light (user_data);
}

/* The "help is coming" light: on while an incident still recording is
 * acknowledged, off once none is. Acknowledged: the uploader pushed
 * `acknowledged UUID` on the control socket (at once), or the desk's
 * event log has an "acknowledged" row for it (the uploader writes it from
 * the panel's answers; polled every 200 ms while incidents are open, as
 * the backstop and the record of what the desk was told). */
static gboolean
update_acknowledged_light (Recorder *self)
{
  g_autoptr (GString) ids = g_string_new (NULL);
  gboolean on = FALSE;

  for (guint i = 0; i < self->slots->len; i++)
    {
      RecorderIncident *inc = g_array_index (self->slots, SourceSlot, i).incident;
      if (inc == NULL || recorder_incident_is_ending (inc))
        continue;
      if (self->alarm != NULL
          && recorder_alarm_is_acknowledged (self->alarm, recorder_incident_get_uuid (inc)))
        on = TRUE;
      else
        g_string_append_printf (ids, "%s%" G_GINT64_FORMAT, ids->len > 0 ? "," : "",
                                recorder_incident_get_id (inc));
    }
  gboolean watching = on || ids->len > 0;
  if (ids->len > 0)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *sql = g_strdup_printf ("SELECT DISTINCT i.uuid FROM events e JOIN "
                                              "incidents i ON i.id = e.incident_id WHERE "
                                              "e.kind = 'acknowledged' AND e.incident_id IN (%s)",
                                              ids->str);
      g_autoptr (sqlite3_stmt) st = ansim_db_prepare (self->db, sql, &error);
      if (st == NULL)
        g_warning ("acknowledged light: %s", error->message);
      else
        while (sqlite3_step (st) == SQLITE_ROW)
          {
            if (self->alarm != NULL)
              recorder_alarm_acknowledged (self->alarm, (const char *) sqlite3_column_text (st, 0));
            on = TRUE;
          }
    }
  HwOutput *out = find_output (self, "acknowledged");
  if (out != NULL && hw_output_get (out) != on)
    {
      set_output (self, "acknowledged", on);
      g_message ("help-is-coming light %s", on ? "on: the panel acknowledged the incident" : "off");
    }
  if (!watching && self->ack_timer != 0)
    g_clear_handle_id (&self->ack_timer, g_source_remove);
  return watching;
}

static gboolean
on_ack_timer (gpointer user_data)
{
  Recorder *self = user_data;
  guint timer = self->ack_timer;

  self->ack_timer = 0; /* so the check does not remove the running source */
  gboolean more = update_acknowledged_light (self);
  self->ack_timer = more ? timer : 0;
  return more ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
watch_acknowledged (Recorder *self)
{
  if (self->ack_timer == 0)
    self->ack_timer = g_timeout_add (200, on_ack_timer, self);
}

static gboolean
slot_serves (SourceSlot *slot, const char *trigger)
{
  return slot->triggers == NULL || g_strv_contains ((const char *const *) slot->triggers, trigger);
}

static gboolean
free_closed_incident (gpointer data)
{
  recorder_incident_free (data);
  return G_SOURCE_REMOVE;
}

static void
on_incident_closed (RecorderIncident *inc, gpointer user_data)
{
  Recorder *self = user_data;

  for (guint i = 0; i < self->slots->len; i++)
    if (g_array_index (self->slots, SourceSlot, i).incident == inc)
      g_array_index (self->slots, SourceSlot, i).incident = NULL;
  g_ptr_array_remove (self->closing, inc);
  if (self->alarm != NULL)
    recorder_alarm_incident_ended (self->alarm, recorder_incident_get_uuid (inc));
  /* Not from inside the segmenter's bus callback that got us here. */
  g_idle_add (free_closed_incident, inc);
  update_recording_light (self);
}

static void
end_incident (Recorder *self, SourceSlot *slot, const char *reason)
{
  RecorderIncident *inc = g_steal_pointer (&slot->incident);

  g_ptr_array_add (self->closing, inc);
  recorder_incident_end (inc, reason);
  if (self->alarm != NULL)
    recorder_alarm_incident_ended (self->alarm, recorder_incident_get_uuid (inc));
  update_acknowledged_light (self);
}

static void
on_incident_self_ending (Recorder *self)
{
  /* Timers end incidents by themselves; move them to the closing list. */
  for (guint i = 0; i < self->slots->len; i++)
    {
      SourceSlot *slot = &g_array_index (self->slots, SourceSlot, i);
      if (slot->incident != NULL && recorder_incident_is_ending (slot->incident))
        g_ptr_array_add (self->closing, g_steal_pointer (&slot->incident));
    }
}

/* ---- the alarm loop's events and control lines ------------------------------ */

static RecorderIncident *
find_recording_incident (Recorder *self, const char *uuid)
{
  for (guint i = 0; i < self->slots->len; i++)
    {
      RecorderIncident *inc = g_array_index (self->slots, SourceSlot, i).incident;
      if (inc != NULL && g_strcmp0 (recorder_incident_get_uuid (inc), uuid) == 0)
        return inc;
    }
  return NULL;
}

/* One event: the desk's event log (with its detail as JSON), and the
 * incident's manifest while it still records. */
static void
record_event (Recorder *self, const char *uuid, gint64 incident_id, const char *trigger,
              const char *kind, gint64 mono_us, const char *const *detail)
{
  g_autoptr (AnsimJsonBuilder) j = ansim_json_builder_new ();
  if (uuid != NULL)
    ansim_json_builder_add_string (j, "incident", uuid);
  for (const char *const *d = detail; d != NULL && *d != NULL; d += 2)
    ansim_json_builder_add_string (j, d[0], d[1]);
  g_autofree char *json = ansim_json_builder_end (j);
  RecorderIncident *inc = uuid != NULL ? find_recording_incident (self, uuid) : NULL;
  if (inc != NULL && incident_id == 0)
    incident_id = recorder_incident_get_id (inc);
  g_autoptr (GError) error = NULL;
  if (!ansim_db_log_event (self->db, kind, self->desk_id, trigger, incident_id, mono_us, json, NULL,
                           &error))
    g_warning ("%s not recorded in the event log: %s", kind, error->message);
  if (inc != NULL)
    recorder_incident_add_event (inc, kind, mono_us, detail);
}

/* ---- the wall clock ----------------------------------------------------------- */

/* A step of this size between two looks (1 s apart) is no drift: the
 * wall clock was set (NTP syncing late, someone setting the date). */
#define CLOCK_STEP_MIN_US G_USEC_PER_SEC
#define CLOCK_WATCH_S 1

/* Monotonic time orders everything the recorder writes, so a step changes
 * no order; but every wall time written after it is off from the ones
 * before by the step, and the evidence says so: a clock-step event in the
 * desk's log and in each recording incident, with the step's size. */
static gboolean
watch_clock (gpointer user_data)
{
  Recorder *self = user_data;
  gint64 mono = g_get_monotonic_time ();
  gint64 lead = g_get_real_time () - mono;
  gint64 step = lead - self->wall_minus_mono_us;
  self->wall_minus_mono_us = lead;
  if (ABS (step) < CLOCK_STEP_MIN_US)
    return G_SOURCE_CONTINUE;
  g_warning ("the wall clock stepped %s by %.3f s", step > 0 ? "forward" : "back",
             ABS (step) / (double) G_USEC_PER_SEC);
  g_autofree char *step_text = g_strdup_printf ("%" G_GINT64_FORMAT, step);
  const char *const detail[] = { "step-us", step_text, NULL };
  gboolean in_incident = FALSE;
  for (guint i = 0; i < self->slots->len; i++)
    {
      RecorderIncident *inc = g_array_index (self->slots, SourceSlot, i).incident;
      if (inc == NULL || recorder_incident_is_ending (inc))
        continue;
      record_event (self, recorder_incident_get_uuid (inc), 0, NULL, "clock-step", mono, detail);
      in_incident = TRUE;
    }
  if (!in_incident)
    record_event (self, NULL, 0, NULL, "clock-step", mono, detail);
  return G_SOURCE_CONTINUE;
}

static void
on_alarm_event (const char *uuid, gint64 incident_id, const char *trigger, const char *kind,
                gint64 mono_us, const char *const *detail, gpointer user_data)
{
  record_event (user_data, uuid, incident_id, trigger, kind, mono_us, detail);
}

/* The uploader's lines on the control socket (control.h). */
static gboolean
on_control_command (guint n_args, const char *const *args, gboolean *out_handled,
                    gpointer user_data, GError **error)
{
  Recorder *self = user_data;
  const char *verb = args[0];

  *out_handled = TRUE;
  if (g_str_equal (verb, "path-ok") && n_args == 1)
    {
      recorder_alarm_path_ok (self->alarm);
      return TRUE;
    }
  if (g_str_equal (verb, "delivered") && n_args == 2)
    return recorder_alarm_delivered (self->alarm, args[1], error);
  if (g_str_equal (verb, "acknowledged") && n_args == 2)
    {
      if (!g_uuid_string_is_valid (args[1]))
        {
          g_set_error (error, HW_ERROR, HW_ERROR_INVALID,
                       "acknowledged: '%.64s' is not an incident UUID", args[1]);
          return FALSE;
        }
      if (recorder_alarm_acknowledged (self->alarm, args[1]))
        g_message ("incident %s acknowledged (pushed by the uploader)", args[1]);
      update_acknowledged_light (self);
      return TRUE;
    }
  if (g_str_equal (verb, "police-bell") && n_args == 3)
    return recorder_alarm_police_bell (self->alarm, args[1], args[2], error);
  *out_handled = FALSE;
  return FALSE;
}

static AnsimTriggerKind
trigger_kind (Recorder *self, const char *trigger)
{
  g_autofree char *group = g_strdup_printf ("trigger %s", trigger);
  return g_str_equal (ansim_config_get_string (self->config, group, "kind"), "bodycam")
           ? ANSIM_TRIGGER_BODYCAM
           : ANSIM_TRIGGER_BUTTON;
}

static void
log_cannot_record (Recorder *self, const char *trigger, SourceSlot *slot, const GError *error)
{
  g_autoptr (AnsimJsonBuilder) j = ansim_json_builder_new ();
  ansim_json_builder_add_string (j, "source", recorder_source_get_name (slot->source));
  g_autofree char *detail = ansim_json_builder_end (j);
  g_warning ("trigger %s: source %s cannot record: %s", trigger,
             recorder_source_get_name (slot->source), error->message);
  ansim_db_log_event (self->db, "error", self->desk_id, trigger, 0, g_get_monotonic_time (), detail,
                      NULL, NULL);
}

static void
handle_press (Recorder *self, const HwEvent *event)
{
  RecorderNoticeGiven notice = { .at = -1 };
  g_autoptr (GPtrArray) opened = g_ptr_array_new (); /* SourceSlot* */

  on_incident_self_ending (self);
  /* First every source's incident row (and the light and notice), so the
   * panel hears of all of them at once; then the slower start of each. */
  for (guint i = 0; i < self->slots->len; i++)
    {
      SourceSlot *slot = &g_array_index (self->slots, SourceSlot, i);
      if (!slot_serves (slot, event->trigger))
        continue;
      if (slot->incident != NULL)
        {
          recorder_incident_extend (slot->incident, "press", event->edge_us);
          recorder_alarm_press (self->alarm, recorder_incident_get_uuid (slot->incident),
                                recorder_incident_get_id (slot->incident), event->trigger,
                                event->edge_us, FALSE);
          continue;
        }
      if (self->device_key == NULL)
        {
          g_warning ("trigger %s: no device key, so source %s cannot record", event->trigger,
                     recorder_source_get_name (slot->source));
          continue;
        }
      /* Light first: it is part of the notice. */
      set_output (self, "recording", TRUE);
      if (notice.at < 0)
        recorder_notice_give (self->notice, find_output (self, "recording"),
                              find_output (self, "buzzer"), &notice);
      const char *notice_detail[] = { "by", notice.by, "sound", notice.sound, NULL };
      g_autoptr (GError) error = NULL;
      slot->incident = recorder_incident_open (
        &self->ctx, slot->source, event->trigger, trigger_kind (self, event->trigger),
        event->edge_us, notice.at, notice_detail, on_incident_closed, self, &error);
      if (slot->incident == NULL)
        log_cannot_record (self, event->trigger, slot, error);
      else
        g_ptr_array_add (opened, slot);
    }
  for (guint i = 0; i < opened->len; i++)
    {
      SourceSlot *slot = opened->pdata[i];
      g_autoptr (GError) error = NULL;
      if (!recorder_incident_start (slot->incident, &error))
        {
          log_cannot_record (self, event->trigger, slot, error);
          g_clear_pointer (&slot->incident, recorder_incident_free);
          continue;
        }
      const char *uuid = recorder_incident_get_uuid (slot->incident);
      /* The alert is queued: its delivery deadline runs from the edge. */
      recorder_alarm_press (self->alarm, uuid, recorder_incident_get_id (slot->incident),
                            event->trigger, event->edge_us, TRUE);
      if (g_strcmp0 (notice.sound, "playing") == 0)
        recorder_notice_await_sound (self->notice, uuid);
    }
  recorder_notice_given_clear (&notice);
  update_recording_light (self);
  watch_acknowledged (self);
}

/* A long press ends the incidents that were already recording before this
 * press began; one the same press opened goes on (a clerk holding the
 * button in panic must not stop the recording). */
static void
handle_long_press (Recorder *self, const HwEvent *event)
{
  on_incident_self_ending (self);
  for (guint i = 0; i < self->slots->len; i++)
    {
      SourceSlot *slot = &g_array_index (self->slots, SourceSlot, i);
      if (slot->incident == NULL || !slot_serves (slot, event->trigger))
        continue;
      if (recorder_incident_get_opened_mono_us (slot->incident) < event->edge_us)
        end_incident (self, slot, "long-press");
      else
        recorder_incident_extend (slot->incident, "long-press", event->reported_us);
    }
}

static void
on_trigger_event (const HwEvent *event, gpointer user_data)
{
  Recorder *self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimJsonBuilder) j = ansim_json_builder_new ();
  ansim_json_builder_add_int (j, "reported_mono_us", event->reported_us);
  g_autofree char *detail = ansim_json_builder_end (j);

  if (!ansim_db_log_event (self->db, hw_event_kind_to_string (event->kind), self->desk_id,
                           event->trigger, 0, event->edge_us, detail, NULL, &error))
    g_warning ("trigger %s: %s not recorded in the event log: %s", event->trigger,
               hw_event_kind_to_string (event->kind), error->message);
  else
    g_message ("trigger %s: %s (decided %.1f ms after the edge)", event->trigger,
               hw_event_kind_to_string (event->kind),
               (event->reported_us - event->edge_us) / 1000.0);
  /* Recording never depends on the log having worked. */
  if (event->kind == HW_EVENT_PRESS)
    handle_press (self, event);
  else if (event->kind == HW_EVENT_LONG_PRESS)
    handle_long_press (self, event);
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

static const char *const police_bell_policies[] = { "on-press", "fallback", "never", NULL };

static void
open_alarm (Recorder *self)
{
  AnsimConfig *c = self->config;
  const char *signal = ansim_config_get_string (c, "recorder", "undelivered_signal");
  RecorderAlarmConfig ac = {
    .police_bell =
      choice_index (ansim_config_get_string (c, "recorder", "police_bell"), police_bell_policies),
    .alert_deadline_us = ansim_config_get_int (c, "recorder", "alert_deadline_ms") * 1000,
    .ack_deadline_us = ansim_config_get_int (c, "recorder", "ack_deadline_s") * G_USEC_PER_SEC,
    .supervision_us = ansim_config_get_int (c, "recorder", "supervision_s") * G_USEC_PER_SEC,
    .undelivered_buzzer = strstr (signal, "buzzer") != NULL,
    .undelivered_blink = strstr (signal, "light") != NULL,
  };
  if (find_output (self, "police-bell") != NULL)
    ac.bell_pulse_ms = ansim_config_get_int (c, "output police-bell", "pulse_ms");
  RecorderAlarmOutputs ao = {
    .police_bell = find_output (self, "police-bell"),
    .fault = find_output (self, "fault"),
    .buzzer = find_output (self, "buzzer"),
    .recording = find_output (self, "recording"),
  };
  self->alarm = recorder_alarm_new (&ac, &ao, on_alarm_event, restore_recording_light, self);
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
  g_autoptr (sqlite3_stmt) desk =
    ansim_db_prepare (self->db,
                      "INSERT INTO desks (id, name) VALUES (?1, ?2) "
                      "ON CONFLICT (id) DO UPDATE SET name = excluded.name",
                      error);
  g_autoptr (sqlite3_stmt) trigger =
    ansim_db_prepare (self->db,
                      "INSERT INTO triggers (name, desk_id, kind, input) VALUES (?1, ?2, ?3, ?4) "
                      "ON CONFLICT DO UPDATE SET kind = excluded.kind, input = excluded.input",
                      error);
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

static const char *const video_names[] = { "test", "v4l2", "rtsp", NULL };
static const char *const audio_names[] = { "none", "test", "alsa", "pulse", "rtsp", NULL };

static gboolean
open_sources (Recorder *self, GError **error)
{
  AnsimConfig *c = self->config;
  g_auto (GStrv) groups = ansim_config_list_named (c, "source");

  for (char **g = groups; *g != NULL; g++)
    {
      g_autofree char *device = NULL;
      RecorderSourceConfig sc = {
        .name = ansim_config_group_instance (*g),
        .wearable = g_str_equal (ansim_config_get_string (c, *g, "kind"), "wearable"),
        .video = choice_index (ansim_config_get_string (c, *g, "video"), video_names),
        .audio = choice_index (ansim_config_get_string (c, *g, "audio"), audio_names),
        .width = ansim_config_get_int (c, *g, "width"),
        .height = ansim_config_get_int (c, *g, "height"),
        .framerate = ansim_config_get_int (c, *g, "framerate"),
        .bitrate_kbps = ansim_config_get_int (c, *g, "bitrate_kbps"),
        .keyframe_ms = ansim_config_get_int (c, *g, "keyframe_ms"),
        .encoder = ansim_config_get_string (c, "recorder", "h264_encoder"),
        .pre_event_seconds = ansim_config_get_int (c, "recorder", "pre_event_seconds"),
      };
      if (sc.video == RECORDER_VIDEO_V4L2)
        sc.device = device = ansim_config_get_path (c, *g, "device");
      if (sc.video == RECORDER_VIDEO_RTSP)
        sc.url = ansim_config_get_string (c, *g, "url");
      if (sc.audio == RECORDER_AUDIO_ALSA)
        sc.audio_device = ansim_config_get_string (c, *g, "audio_device");
      if (!sc.wearable && sc.audio != RECORDER_AUDIO_NONE)
        g_warning ("source %s: recording sound on a fixed camera, which 개인정보 보호법 "
                   "제25조⑤ forbids, because agency_audio_override = true",
                   sc.name);

      RecorderSource *src = recorder_source_new (&sc, error);
      if (src == NULL)
        return FALSE;
      SourceSlot slot = { .source = src, .wearable = sc.wearable };
      const char *served = ansim_config_get_string (c, *g, "triggers");
      if (served != NULL)
        {
          slot.triggers = g_strsplit (served, ";", -1);
          for (char **t = slot.triggers; *t != NULL; t++)
            g_strstrip (*t);
        }
      g_array_append_val (self->slots, slot);
    }
  return TRUE;
}

static gboolean
parse_recipients (Recorder *self, GError **error)
{
  const char *text = ansim_config_get_string (self->config, "recorder", "recipients");
  g_auto (GStrv) parts = g_strsplit (text != NULL ? text : "", ";", -1);

  for (char **r = parts; *r != NULL; r++)
    {
      g_strstrip (*r);
      if (**r == '\0')
        continue;
      AnsimAgeRecipient *rec = ansim_age_recipient_parse (*r, error);
      if (rec == NULL)
        return FALSE;
      g_ptr_array_add (self->recipients, rec);
    }
  return TRUE;
}

static void
clear_slot (gpointer data)
{
  SourceSlot *slot = data;
  g_clear_pointer (&slot->source, recorder_source_free);
  g_clear_pointer (&slot->triggers, g_strfreev);
}

/* ---- the sources in the control socket's status (and so the heartbeat) ---- */

static const char *const health_names[] = { "starting", "live", "lost" };

/* "sources": [{name, kind, audio, mode, state, since_us, last_error, gaps}]
 * (docs/protocol.md, Heartbeat). */
static void
add_sources_status (JsonBuilder *b, gpointer user_data)
{
  Recorder *self = user_data;

  json_builder_set_member_name (b, "sources");
  json_builder_begin_array (b);
  for (guint i = 0; i < self->slots->len; i++)
    {
      SourceSlot *slot = &g_array_index (self->slots, SourceSlot, i);
      RecorderSourceState st;
      recorder_source_get_state (slot->source, &st);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, recorder_source_get_name (slot->source));
      json_builder_set_member_name (b, "kind");
      json_builder_add_string_value (b, slot->wearable ? "wearable" : "fixed");
      json_builder_set_member_name (b, "audio");
      json_builder_add_boolean_value (b, recorder_source_has_audio (slot->source));
      json_builder_set_member_name (b, "mode");
      json_builder_add_string_value (b, slot->incident != NULL ? "recording" : "buffering");
      json_builder_set_member_name (b, "state");
      json_builder_add_string_value (b, health_names[st.health]);
      json_builder_set_member_name (b, "since_us");
      json_builder_add_int_value (b, st.since_wall_us);
      json_builder_set_member_name (b, "last_error");
      if (st.last_error != NULL)
        json_builder_add_string_value (b, st.last_error);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "gaps");
      json_builder_add_int_value (b, st.n_outages);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

static gboolean
disk_is_low (Recorder *self, gint64 free_bytes)
{
  return free_bytes >= 0 && free_bytes < self->ctx.min_free_bytes;
}

/* The spool's free space, logged when it falls below min_free_mb and when
 * it is back, incident or not (incidents also record it). */
static gboolean
check_disk (gpointer user_data)
{
  Recorder *self = user_data;
  gint64 free_bytes = recorder_free_bytes (self->spool_dir);
  gboolean low = disk_is_low (self, free_bytes);

  if (low && !self->disk_low)
    g_warning ("spool %s: %.1f MB free, below min_free_mb (%" G_GINT64_FORMAT "): recordings are "
               "held in memory until space returns; nothing is deleted to make room (the "
               "uploader frees space once the panel has confirmed what it stored)",
               self->spool_dir, free_bytes / 1048576.0, self->ctx.min_free_bytes / 1048576);
  else if (!low && self->disk_low)
    g_message ("spool %s: %.1f MB free again", self->spool_dir, free_bytes / 1048576.0);
  self->disk_low = low;
  return G_SOURCE_CONTINUE;
}

/* "spool": {free_mb, min_free_mb, low, held_segments, held_bytes,
 * unkept_segments} (docs/recorder.md, Disk full). */
static void
add_spool_status (JsonBuilder *b, Recorder *self)
{
  gint64 free_bytes = recorder_free_bytes (self->spool_dir);

  g_mutex_lock (&self->ctx.spool_lock);
  guint held = self->ctx.held_segments;
  gint64 held_bytes = self->ctx.held_bytes;
  guint64 unkept = self->ctx.unkept_segments;
  g_mutex_unlock (&self->ctx.spool_lock);
  json_builder_set_member_name (b, "spool");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "free_mb");
  json_builder_add_int_value (b, free_bytes >= 0 ? free_bytes / 1048576 : -1);
  json_builder_set_member_name (b, "min_free_mb");
  json_builder_add_int_value (b, self->ctx.min_free_bytes / 1048576);
  json_builder_set_member_name (b, "low");
  json_builder_add_boolean_value (b, disk_is_low (self, free_bytes) || held > 0);
  json_builder_set_member_name (b, "held_segments");
  json_builder_add_int_value (b, held);
  json_builder_set_member_name (b, "held_bytes");
  json_builder_add_int_value (b, held_bytes);
  json_builder_set_member_name (b, "unkept_segments");
  json_builder_add_int_value (b, (gint64) unkept);
  json_builder_end_object (b);
}

/* The recorder's members of the control socket's status reply (and so
 * of the uploader's heartbeat): "sources", "spool", "path" and
 * "police_bell". */
static void
add_status (JsonBuilder *b, gpointer user_data)
{
  Recorder *self = user_data;
  add_sources_status (b, user_data);
  add_spool_status (b, user_data);
  recorder_alarm_add_status (self->alarm, b);
}

/* Reports what the pre-event buffers hold, so memory use is visible. */
static gboolean
log_prebuffer_stats (gpointer user_data)
{
  Recorder *self = user_data;

  for (guint i = 0; i < self->slots->len; i++)
    {
      RecorderSource *src = g_array_index (self->slots, SourceSlot, i).source;
      RecorderRingStats st;
      recorder_source_get_ring_stats (src, &st);
      g_message ("source %s: pre-event buffer %.1f s, %.1f MB in %u GOP(s)%s",
                 recorder_source_get_name (src), st.duration / 1e9, st.bytes / 1e6, st.n_gops,
                 st.n_dropped_for_cap > 0 ? ", trimmed early by its memory bound" : "");
    }
  return G_SOURCE_CONTINUE;
}

Recorder *
recorder_new_with_device_key (AnsimConfig *config, AnsimDeviceKey *device_key, GError **error)
{
  g_return_val_if_fail (config != NULL, NULL);

  gst_init (NULL, NULL);
  g_autoptr (Recorder) self = g_new0 (Recorder, 1);
  self->config = config;
  self->device_key = device_key;
  self->desk_id = g_strdup (ansim_config_get_string (config, "desk", "id"));
  self->device_id = g_strdup (ansim_config_get_string (config, "recorder", "device_id"));
  self->notice = recorder_notice_new (ansim_config_get_string (config, "recorder", "notice_sound"),
                                      ansim_config_get_string (config, "recorder", "notice_output"),
                                      on_alarm_event, self);
  self->inputs = g_ptr_array_new_with_free_func ((GDestroyNotify) hw_input_free);
  self->outputs = g_ptr_array_new_with_free_func ((GDestroyNotify) hw_output_free);
  self->recipients = g_ptr_array_new_with_free_func ((GDestroyNotify) ansim_age_recipient_free);
  self->slots = g_array_new (FALSE, TRUE, sizeof (SourceSlot));
  g_array_set_clear_func (self->slots, clear_slot);
  self->closing = g_ptr_array_new ();

  g_autofree char *data_dir = ansim_config_get_path (config, "recorder", "data_dir");
  self->spool_dir = ansim_config_get_path (config, "recorder", "spool_dir");
  self->uploader_socket = ansim_config_get_path (config, "recorder", "uploader_socket");
  self->database = ansim_config_get_path (config, "recorder", "database");
  const char *database = self->database;
  g_autofree char *socket_path = ansim_config_get_path (config, "recorder", "control_socket");
  if (!make_dir (data_dir, error) || !make_dir (self->spool_dir, error))
    return NULL;
  if (!parse_recipients (self, error))
    return NULL;

  self->db = ansim_db_open (&ansim_desk_db_schema, database, error);
  if (self->db == NULL || !record_desk (self, error))
    return NULL;
  self->ctx = (RecorderContext){
    .db = self->db,
    .db_path = self->database,
    .desk_id = self->desk_id,
    .device_id = self->device_id,
    .device_key = self->device_key,
    .recipients = self->recipients,
    .spool_dir = self->spool_dir,
    .segment_seconds = ansim_config_get_int (config, "recorder", "segment_seconds"),
    .post_event_us =
      ansim_config_get_int (config, "recorder", "post_event_seconds") * G_USEC_PER_SEC,
    .max_incident_us =
      ansim_config_get_int (config, "recorder", "max_incident_seconds") * G_USEC_PER_SEC,
    .uploader_socket = self->uploader_socket,
    .min_free_bytes =
      (gint64) ansim_config_get_int (config, "recorder", "min_free_mb") * 1024 * 1024,
    .held_cap_bytes =
      (gint64) ansim_config_get_int (config, "recorder", "held_segments_mb") * 1024 * 1024,
  };
  g_mutex_init (&self->ctx.spool_lock);
  if (self->device_key != NULL && !recorder_incidents_close_interrupted (&self->ctx, error))
    return NULL;
  if (!open_outputs (self, error))
    return NULL;
  set_output (self, "recording", FALSE);
  open_alarm (self);
  if (!open_sources (self, error) || !open_inputs (self, error))
    return NULL;
  if (self->slots->len > 0 && self->device_key == NULL)
    g_warning ("no device key: the sources keep their pre-event buffer, but incidents are "
               "only logged, not recorded");

  self->control = recorder_control_new (socket_path, error);
  if (self->control == NULL)
    return NULL;
  for (guint i = 0; i < self->inputs->len; i++)
    recorder_control_add_input (self->control, g_ptr_array_index (self->inputs, i));
  for (guint i = 0; i < self->outputs->len; i++)
    recorder_control_add_output (self->control, g_ptr_array_index (self->outputs, i));
  recorder_control_set_status_func (self->control, add_status, self);
  recorder_control_set_command_func (self->control, on_control_command, self);
  self->stats_timer = g_timeout_add_seconds (60, log_prebuffer_stats, self);
  check_disk (self);
  self->disk_timer = g_timeout_add_seconds (10, check_disk, self);
  self->wall_minus_mono_us = g_get_real_time () - g_get_monotonic_time ();
  self->clock_timer = g_timeout_add_seconds (CLOCK_WATCH_S, watch_clock, self);

  g_message ("desk %s ready: %u trigger(s), %u output(s), %u source(s), database %s, "
             "control socket %s",
             self->desk_id, self->inputs->len, self->outputs->len, self->slots->len, database,
             socket_path);
  return g_steal_pointer (&self);
}

Recorder *
recorder_new (AnsimConfig *config, GError **error)
{
  g_autofree char *data_dir = ansim_config_get_path (config, "recorder", "data_dir");
  g_autofree char *key_path = ansim_config_get_path (config, "recorder", "device_key");

  /* Created on first start (the default lives in data_dir); refused when
   * others may read it. */
  if (!make_dir (data_dir, error))
    return NULL;
  g_autoptr (AnsimDeviceKey) key = ansim_device_key_load_or_create (key_path, error);
  if (key == NULL)
    return NULL;
  g_message ("device key %s, fingerprint %s", key_path, ansim_device_key_get_fingerprint (key));
  return recorder_new_with_device_key (config, g_steal_pointer (&key), error);
}

void
recorder_get_prebuffer_stats (Recorder *self, const char *source, double *out_seconds,
                              gsize *out_bytes)
{
  for (guint i = 0; i < self->slots->len; i++)
    {
      RecorderSource *src = g_array_index (self->slots, SourceSlot, i).source;
      if (g_strcmp0 (recorder_source_get_name (src), source) != 0)
        continue;
      RecorderRingStats st;
      recorder_source_get_ring_stats (src, &st);
      *out_seconds = st.duration / 1e9;
      *out_bytes = st.bytes;
      return;
    }
  *out_seconds = 0;
  *out_bytes = 0;
}

/* Stops recording: every incident still open is closed as "shutdown" with
 * its last segment sealed (waiting up to 10 s for the segmenters). */
static void
close_for_shutdown (Recorder *self)
{
  on_incident_self_ending (self);
  for (guint i = 0; i < self->slots->len; i++)
    {
      SourceSlot *slot = &g_array_index (self->slots, SourceSlot, i);
      if (slot->incident != NULL)
        end_incident (self, slot, "shutdown");
    }
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (self->closing->len > 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  /* Let the idle frees run. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (self->closing->len > 0)
    g_warning ("%u incident(s) did not finish in time; they will be closed as interrupted at "
               "the next start",
               self->closing->len);
}

/* Everything that reacts to the world, stopped: no new incident can open
 * after this. Safe to call twice. */
static void
stop_inputs_and_outputs (Recorder *self)
{
  if (self->stats_timer != 0)
    g_source_remove (self->stats_timer);
  self->stats_timer = 0;
  if (self->disk_timer != 0)
    g_source_remove (self->disk_timer);
  self->disk_timer = 0;
  if (self->clock_timer != 0)
    g_source_remove (self->clock_timer);
  self->clock_timer = 0;
  if (self->ack_timer != 0)
    g_source_remove (self->ack_timer);
  self->ack_timer = 0;
  if (self->notice != NULL)
    recorder_notice_stop (self->notice);
  g_clear_pointer (&self->control, recorder_control_free);
  g_clear_pointer (&self->inputs, g_ptr_array_unref);
  /* Before the outputs it drives. */
  g_clear_pointer (&self->alarm, recorder_alarm_free);
  if (self->outputs != NULL)
    {
      set_output (self, "recording", FALSE);
      set_output (self, "acknowledged", FALSE);
    }
  g_clear_pointer (&self->outputs, g_ptr_array_unref);
}

gboolean
recorder_shutdown (Recorder *self)
{
  g_return_val_if_fail (self != NULL, TRUE);
  if (self->slots != NULL && !self->shut_down)
    close_for_shutdown (self);
  self->shut_down = TRUE;
  stop_inputs_and_outputs (self);
  if (self->closing != NULL && self->closing->len > 0)
    {
      g_message ("leaving %u unfinished incident(s) to the process exit", self->closing->len);
      return FALSE;
    }
  return TRUE;
}

void
recorder_free (Recorder *self)
{
  if (self == NULL)
    return;
  /* Incidents open or closing use the context, keys and recipients from
   * their sealing threads: only recorder_shutdown() may end them. */
  gboolean busy = self->closing != NULL && self->closing->len > 0;
  for (guint i = 0; !busy && self->slots != NULL && i < self->slots->len; i++)
    busy = g_array_index (self->slots, SourceSlot, i).incident != NULL;
  if (busy)
    {
      g_critical ("recorder_free: incidents still recording; call recorder_shutdown() first "
                  "and free only when it returns TRUE");
      return;
    }
  stop_inputs_and_outputs (self);
  g_clear_pointer (&self->closing, g_ptr_array_unref);
  g_clear_pointer (&self->slots, g_array_unref);
  g_clear_pointer (&self->ctx.chain_heads, g_hash_table_unref);
  if (self->ctx.desk_id != NULL)
    g_mutex_clear (&self->ctx.spool_lock);
  g_clear_pointer (&self->recipients, g_ptr_array_unref);
  g_clear_pointer (&self->db, sqlite3_close);
  ansim_device_key_free (self->device_key);
  g_clear_pointer (&self->notice, recorder_notice_free);
  g_free (self->spool_dir);
  g_free (self->database);
  g_free (self->uploader_socket);
  g_free (self->device_id);
  g_free (self->desk_id);
  g_free (self);
}
