/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk's side of the alarm loop: alert delivery deadlines, the
 * police-bell relay and its policy, the local "not delivered" signal and
 * the supervision of the path to the panel (alarm.h says what it keeps
 * true). Every timer runs on the main context the alarm was made on. */
#include "alarm.h"

#include <string.h>

/* Alerts kept after they are decided and their incident ended, at most. */
#define MAX_ALERTS 256
/* A relay fired for an incident this recorder no longer tracks (an
 * escalation after the end) is pulsed this long when it would be held. */
#define UNTRACKED_PULSE_MS 3000
#define BLINK_MS 250
#define BEEP_MS 150
#define SUPERVISION_TICK_MS 250

typedef struct {
  char *uuid;
  gint64 incident_id;
  char *trigger;
  gint64 edge_us;
  gint64 opened_seq;      /* age, for trimming */
  gboolean decided;       /* delivered or not delivered */
  gboolean delivered;     /* the panel's 2xx came (maybe late) */
  gboolean not_delivered; /* the deadline passed without it */
  gboolean acknowledged;
  gboolean ended;
  gboolean bell_fired; /* by this alert (any reason) */
  guint deadline_id;
  guint ack_id;
} Alert;

struct _RecorderAlarm {
  RecorderAlarmConfig config;
  RecorderAlarmOutputs out;
  RecorderAlarmEventFunc event_func;
  RecorderAlarmLightFunc light_func;
  gpointer user_data;
  GHashTable *alerts; /* uuid -> Alert* */
  gint64 seq;
  gboolean bell_held; /* on until no alert holds it */
  guint blink_id;
  gboolean blink_on;
  guint beep_id;
  guint beeps_left;
  /* supervision */
  guint supervision_id;
  gint64 last_ok_mono_us;
  gint64 last_ok_wall_us; /* 0: never since the start */
  gboolean path_down;
  gint64 state_since_wall_us; /* down: the last answer (or the start); up: when it came back */
  gint64 last_down_wall_us;   /* 0: never */
};

typedef struct {
  RecorderAlarm *alarm;
  char *uuid;
} AlertRef;

static void
alert_free (gpointer p)
{
  Alert *a = p;
  g_clear_handle_id (&a->deadline_id, g_source_remove);
  g_clear_handle_id (&a->ack_id, g_source_remove);
  g_free (a->uuid);
  g_free (a->trigger);
  g_free (a);
}

static void
alert_ref_free (gpointer p)
{
  AlertRef *r = p;
  g_free (r->uuid);
  g_free (r);
}

static const char *const policy_names[] = { "on-press", "fallback", "never" };

char *
recorder_detail_text (const char *s)
{
  if (s == NULL || *s == '\0' || !g_utf8_validate (s, -1, NULL))
    return g_strdup ("?");
  glong n = g_utf8_strlen (s, -1);
  char *text = g_utf8_substring (s, 0, MIN (n, 120));
  for (char *p = text; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      *p = ' ';
  return text;
}

static void
emit (RecorderAlarm *self, Alert *a, const char *uuid, const char *kind, gint64 mono_us,
      const char *const *detail)
{
  self->event_func (a != NULL ? a->uuid : uuid, a != NULL ? a->incident_id : 0,
                    a != NULL ? a->trigger : NULL, kind, mono_us, detail, self->user_data);
}

/* ---- the police-bell relay --------------------------------------------- */

static gboolean
alert_holds_bell (Alert *a)
{
  return a->bell_fired && !a->acknowledged && !a->ended;
}

/* Hold mode: off once no alert holds the relay. */
static void
release_bell_if_free (RecorderAlarm *self)
{
  if (!self->bell_held || self->out.police_bell == NULL)
    return;
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, self->alerts);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (alert_holds_bell (value))
      return;
  g_autoptr (GError) error = NULL;
  self->bell_held = FALSE;
  if (!hw_output_set (self->out.police_bell, FALSE, &error))
    g_warning ("police-bell relay: %s; it may stay on", error->message);
  else
    g_message ("police-bell relay released (acknowledged or ended)");
}

/* Fires the relay for a (or for uuid, untracked) because of reason, or
 * records why it does not. Never fires twice for one alert for the same
 * automatic reason: callers check bell_fired. */
static void
fire_bell (RecorderAlarm *self, Alert *a, const char *uuid, const char *reason)
{
  gint64 now = g_get_monotonic_time ();
  const char *refused = NULL;

  if (self->config.police_bell == RECORDER_POLICE_BELL_NEVER)
    refused = "policy never";
  else if (self->out.police_bell == NULL)
    refused = "no police-bell output";
  if (refused != NULL)
    {
      const char *detail[] = { "reason", reason, "refused", refused, NULL };
      g_message ("police-bell relay not fired for %s (%s): %s", uuid, reason, refused);
      emit (self, a, uuid, "police-bell-refused", now, detail);
      return;
    }

  g_autoptr (GError) error = NULL;
  guint pulse_ms = self->config.bell_pulse_ms;
  gboolean hold = pulse_ms == 0 && a != NULL && !a->acknowledged && !a->ended;
  if (pulse_ms == 0 && !hold)
    pulse_ms = UNTRACKED_PULSE_MS;
  gboolean ok;
  if (hold)
    {
      /* A pulse still running would switch a held relay off. */
      ok = hw_output_set (self->out.police_bell, TRUE, &error);
      self->bell_held |= ok;
    }
  else if (self->bell_held)
    ok = TRUE; /* already on and held: it stays on */
  else
    ok = hw_output_pulse (self->out.police_bell, pulse_ms, &error);
  if (a != NULL)
    a->bell_fired = TRUE;
  g_autofree char *how = hold ? g_strdup ("hold") : g_strdup_printf ("pulse %u ms", pulse_ms);
  if (!ok)
    {
      g_warning ("police-bell relay for %s (%s): %s", uuid, reason, error->message);
      g_autofree char *why = recorder_detail_text (error->message);
      const char *detail[] = { "reason", reason,  "output", how, "result",
                               "failed", "error", why,      NULL };
      emit (self, a, uuid, "police-bell", now, detail);
      return;
    }
  g_message ("police-bell relay fired for %s: %s (%s)", uuid, reason, how);
  const char *detail[] = { "reason", reason, "output", how, NULL };
  emit (self, a, uuid, "police-bell", now, detail);
}

/* ---- the local "not delivered" signal ---------------------------------- */

static gboolean
any_undelivered_recording (RecorderAlarm *self)
{
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, self->alerts);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Alert *a = value;
      if (a->not_delivered && !a->delivered && !a->ended)
        return TRUE;
    }
  return FALSE;
}

static gboolean
on_blink (gpointer user_data)
{
  RecorderAlarm *self = user_data;
  if (!any_undelivered_recording (self))
    {
      self->blink_id = 0;
      self->light_func (self->user_data);
      return G_SOURCE_REMOVE;
    }
  self->blink_on = !self->blink_on;
  hw_output_set (self->out.recording, self->blink_on, NULL);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_beep (gpointer user_data)
{
  RecorderAlarm *self = user_data;
  if (self->beeps_left == 0)
    {
      self->beep_id = 0;
      return G_SOURCE_REMOVE;
    }
  self->beeps_left--;
  hw_output_pulse (self->out.buzzer, BEEP_MS, NULL);
  return G_SOURCE_CONTINUE;
}

static void
signal_not_delivered (RecorderAlarm *self)
{
  if (self->config.undelivered_blink && self->out.recording != NULL && self->blink_id == 0)
    {
      self->blink_on = FALSE;
      hw_output_set (self->out.recording, FALSE, NULL);
      self->blink_id = g_timeout_add (BLINK_MS, on_blink, self);
    }
  if (self->config.undelivered_buzzer && self->out.buzzer != NULL && self->beep_id == 0)
    {
      self->beeps_left = 2;
      hw_output_pulse (self->out.buzzer, BEEP_MS, NULL);
      self->beep_id = g_timeout_add (2 * BEEP_MS, on_beep, self);
    }
}

/* ---- deadlines ----------------------------------------------------------- */

static Alert *
lookup (RecorderAlarm *self, const char *uuid)
{
  return uuid != NULL ? g_hash_table_lookup (self->alerts, uuid) : NULL;
}

static gboolean
on_alert_deadline (gpointer user_data)
{
  AlertRef *ref = user_data;
  RecorderAlarm *self = ref->alarm;
  Alert *a = lookup (self, ref->uuid);

  if (a == NULL)
    return G_SOURCE_REMOVE;
  a->deadline_id = 0;
  if (a->decided)
    return G_SOURCE_REMOVE;
  a->decided = TRUE;
  a->not_delivered = TRUE;
  gint64 now = g_get_monotonic_time ();
  g_autofree char *after = g_strdup_printf ("%" G_GINT64_FORMAT, (now - a->edge_us) / 1000);
  g_autofree char *deadline =
    g_strdup_printf ("%" G_GINT64_FORMAT, self->config.alert_deadline_us / 1000);
  const char *detail[] = { "deadline-ms", deadline, "after-ms", after, NULL };
  g_warning ("incident %s: the panel did not take the alert within %s ms: not delivered", a->uuid,
             deadline);
  emit (self, a, NULL, "alert-not-delivered", now, detail);
  if (self->config.police_bell == RECORDER_POLICE_BELL_FALLBACK && !a->bell_fired
      && self->out.police_bell != NULL)
    fire_bell (self, a, a->uuid, "not-delivered");
  signal_not_delivered (self);
  return G_SOURCE_REMOVE;
}

static gboolean
on_ack_deadline (gpointer user_data)
{
  AlertRef *ref = user_data;
  RecorderAlarm *self = ref->alarm;
  Alert *a = lookup (self, ref->uuid);

  if (a == NULL)
    return G_SOURCE_REMOVE;
  a->ack_id = 0;
  if (a->acknowledged || a->ended)
    return G_SOURCE_REMOVE;
  gint64 now = g_get_monotonic_time ();
  g_autofree char *deadline =
    g_strdup_printf ("%" G_GINT64_FORMAT, self->config.ack_deadline_us / G_USEC_PER_SEC);
  const char *detail[] = { "deadline-s", deadline, NULL };
  g_warning ("incident %s: not acknowledged within %s s", a->uuid, deadline);
  emit (self, a, NULL, "alert-not-acknowledged", now, detail);
  if (self->config.police_bell == RECORDER_POLICE_BELL_FALLBACK && !a->bell_fired
      && self->out.police_bell != NULL)
    fire_bell (self, a, a->uuid, "not-acknowledged");
  return G_SOURCE_REMOVE;
}

static guint
add_alert_timeout (RecorderAlarm *self, Alert *a, gint64 at_us, GSourceFunc func)
{
  AlertRef *ref = g_new0 (AlertRef, 1);
  ref->alarm = self;
  ref->uuid = g_strdup (a->uuid);
  gint64 wait_ms = MAX (0, (at_us - g_get_monotonic_time () + 999) / 1000);
  return g_timeout_add_full (G_PRIORITY_HIGH, (guint) wait_ms, func, ref, alert_ref_free);
}

/* Forgets the oldest alerts that are over (decided and ended). */
static void
trim (RecorderAlarm *self)
{
  while (g_hash_table_size (self->alerts) > MAX_ALERTS)
    {
      GHashTableIter iter;
      gpointer key, value;
      const char *oldest = NULL;
      gint64 oldest_seq = G_MAXINT64;
      g_hash_table_iter_init (&iter, self->alerts);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          Alert *a = value;
          if (a->decided && a->ended && a->opened_seq < oldest_seq)
            oldest = key, oldest_seq = a->opened_seq;
        }
      if (oldest == NULL)
        return;
      g_hash_table_remove (self->alerts, oldest);
    }
}

void
recorder_alarm_press (RecorderAlarm *self, const char *uuid, gint64 incident_id,
                      const char *trigger, gint64 edge_us, gboolean opened)
{
  Alert *a = lookup (self, uuid);
  if (a == NULL)
    {
      if (!opened)
        return;
      a = g_new0 (Alert, 1);
      a->uuid = g_strdup (uuid);
      a->incident_id = incident_id;
      a->trigger = g_strdup (trigger);
      a->edge_us = edge_us;
      a->opened_seq = self->seq++;
      g_hash_table_replace (self->alerts, a->uuid, a);
      a->deadline_id =
        add_alert_timeout (self, a, edge_us + self->config.alert_deadline_us, on_alert_deadline);
      if (self->config.ack_deadline_us > 0)
        a->ack_id =
          add_alert_timeout (self, a, edge_us + self->config.ack_deadline_us, on_ack_deadline);
      trim (self);
    }
  /* Without a relay the policy has nothing to fire; only a request from
   * the panel (escalation) is recorded as refused. */
  if (self->config.police_bell == RECORDER_POLICE_BELL_ON_PRESS && self->out.police_bell != NULL)
    fire_bell (self, a, uuid, "on-press");
}

void
recorder_alarm_incident_ended (RecorderAlarm *self, const char *uuid)
{
  Alert *a = lookup (self, uuid);
  if (a == NULL || a->ended)
    return;
  a->ended = TRUE;
  g_clear_handle_id (&a->ack_id, g_source_remove);
  release_bell_if_free (self);
}

gboolean
recorder_alarm_delivered (RecorderAlarm *self, const char *uuid, GError **error)
{
  Alert *a = lookup (self, uuid);
  if (a == NULL)
    {
      g_set_error (error, HW_ERROR, HW_ERROR_INVALID,
                   "delivered: incident '%.64s' is not one this recorder is waiting for", uuid);
      return FALSE;
    }
  if (a->delivered)
    return TRUE;
  gint64 now = g_get_monotonic_time ();
  a->delivered = TRUE;
  a->decided = TRUE;
  g_clear_handle_id (&a->deadline_id, g_source_remove);
  g_autofree char *after = g_strdup_printf ("%" G_GINT64_FORMAT, (now - a->edge_us) / 1000);
  const char *detail[] = { "after-ms", after, "late", a->not_delivered ? "yes" : "no", NULL };
  g_message ("incident %s: alert delivered %s ms after the press%s", a->uuid, after,
             a->not_delivered ? " (after its deadline)" : "");
  emit (self, a, NULL, "alert-delivered", now, detail);
  return TRUE;
}

gboolean
recorder_alarm_acknowledged (RecorderAlarm *self, const char *uuid)
{
  Alert *a = lookup (self, uuid);
  if (a == NULL || a->acknowledged)
    return FALSE;
  a->acknowledged = TRUE;
  g_clear_handle_id (&a->ack_id, g_source_remove);
  release_bell_if_free (self);
  return TRUE;
}

gboolean
recorder_alarm_is_acknowledged (RecorderAlarm *self, const char *uuid)
{
  Alert *a = lookup (self, uuid);
  return a != NULL && a->acknowledged;
}

static gboolean
is_reason (const char *s)
{
  gsize n = strlen (s);
  if (n == 0 || n > 64)
    return FALSE;
  for (const char *p = s; *p != '\0'; p++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '-'))
      return FALSE;
  return TRUE;
}

gboolean
recorder_alarm_police_bell (RecorderAlarm *self, const char *uuid, const char *reason,
                            GError **error)
{
  if (!is_reason (reason))
    {
      g_set_error (error, HW_ERROR, HW_ERROR_INVALID,
                   "police-bell: bad reason '%.64s'; expected lowercase letters, digits and "
                   "'-' (e.g. escalated)",
                   reason);
      return FALSE;
    }
  if (!g_uuid_string_is_valid (uuid))
    {
      g_set_error (error, HW_ERROR, HW_ERROR_INVALID,
                   "police-bell: '%.64s' is not an incident "
                   "UUID",
                   uuid);
      return FALSE;
    }
  fire_bell (self, lookup (self, uuid), uuid, reason);
  return TRUE;
}

/* ---- supervision --------------------------------------------------------- */

static void
set_fault (RecorderAlarm *self, gboolean on)
{
  g_autoptr (GError) error = NULL;
  if (self->out.fault != NULL && !hw_output_set (self->out.fault, on, &error))
    g_warning ("fault output: %s, continuing without it", error->message);
}

static gboolean
on_supervision_tick (gpointer user_data)
{
  RecorderAlarm *self = user_data;
  gint64 now = g_get_monotonic_time ();

  if (!self->path_down && now - self->last_ok_mono_us >= self->config.supervision_us)
    {
      self->path_down = TRUE;
      self->state_since_wall_us = self->last_ok_wall_us != 0 ? self->last_ok_wall_us
                                                             : self->state_since_wall_us;
      self->last_down_wall_us = g_get_real_time ();
      set_fault (self, TRUE);
      g_autofree char *silent =
        g_strdup_printf ("%" G_GINT64_FORMAT, (now - self->last_ok_mono_us) / G_USEC_PER_SEC);
      const char *detail[] = { "silent-s", silent, NULL };
      g_warning ("PATH DOWN: no answer from the panel for %s s (supervision_s); the fault "
                 "output is on",
                 silent);
      emit (self, NULL, NULL, "path-down", now, detail);
    }
  return G_SOURCE_CONTINUE;
}

void
recorder_alarm_path_ok (RecorderAlarm *self)
{
  gint64 now = g_get_monotonic_time ();
  self->last_ok_mono_us = now;
  self->last_ok_wall_us = g_get_real_time ();
  if (!self->path_down)
    return;
  self->path_down = FALSE;
  g_autofree char *down = g_strdup_printf (
    "%" G_GINT64_FORMAT, (self->last_ok_wall_us - self->last_down_wall_us) / G_USEC_PER_SEC);
  self->state_since_wall_us = self->last_ok_wall_us;
  set_fault (self, FALSE);
  const char *detail[] = { "down-s", down, NULL };
  g_message ("path up: the panel answers again (fault shown for %s s)", down);
  emit (self, NULL, NULL, "path-up", now, detail);
}

/* ---- status ---------------------------------------------------------------- */

gboolean
recorder_alarm_owns_light (RecorderAlarm *self)
{
  return self->blink_id != 0;
}

void
recorder_alarm_add_status (RecorderAlarm *self, JsonBuilder *b)
{
  json_builder_set_member_name (b, "path");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "state");
  json_builder_add_string_value (b, self->config.supervision_us == 0 ? "unsupervised"
                                    : self->path_down                ? "down"
                                                                     : "up");
  json_builder_set_member_name (b, "since_us");
  json_builder_add_int_value (b, self->state_since_wall_us);
  json_builder_set_member_name (b, "last_ok_us");
  json_builder_add_int_value (b, self->last_ok_wall_us);
  json_builder_set_member_name (b, "last_down_us");
  json_builder_add_int_value (b, self->last_down_wall_us);
  json_builder_set_member_name (b, "supervision_s");
  json_builder_add_int_value (b, self->config.supervision_us / G_USEC_PER_SEC);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "police_bell");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "policy");
  json_builder_add_string_value (b, policy_names[self->config.police_bell]);
  json_builder_set_member_name (b, "output");
  json_builder_add_boolean_value (b, self->out.police_bell != NULL);
  json_builder_set_member_name (b, "on");
  json_builder_add_boolean_value (b, self->out.police_bell != NULL
                                       && hw_output_get (self->out.police_bell));
  json_builder_end_object (b);
}

RecorderAlarm *
recorder_alarm_new (const RecorderAlarmConfig *config, const RecorderAlarmOutputs *outputs,
                    RecorderAlarmEventFunc event_func, RecorderAlarmLightFunc light_func,
                    gpointer user_data)
{
  RecorderAlarm *self = g_new0 (RecorderAlarm, 1);
  self->config = *config;
  self->out = *outputs;
  self->event_func = event_func;
  self->light_func = light_func;
  self->user_data = user_data;
  self->alerts = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, alert_free);
  /* The start counts as an answer: a desk is not "down" before it had a
   * chance to hear from the panel. */
  self->last_ok_mono_us = g_get_monotonic_time ();
  self->state_since_wall_us = g_get_real_time ();
  if (self->config.supervision_us > 0)
    self->supervision_id = g_timeout_add (SUPERVISION_TICK_MS, on_supervision_tick, self);
  if (self->out.police_bell != NULL)
    hw_output_set (self->out.police_bell, FALSE, NULL);
  set_fault (self, FALSE);
  return self;
}

void
recorder_alarm_free (RecorderAlarm *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->supervision_id, g_source_remove);
  g_clear_handle_id (&self->blink_id, g_source_remove);
  g_clear_handle_id (&self->beep_id, g_source_remove);
  g_hash_table_unref (self->alerts);
  if (self->out.police_bell != NULL)
    hw_output_set (self->out.police_bell, FALSE, NULL);
  set_fault (self, FALSE);
  g_free (self);
}
