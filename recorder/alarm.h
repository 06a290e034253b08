/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk's side of the alarm loop (inside recorder/ only): whether each
 * press's alert reached the panel in time, the police-bell relay and its
 * policy, the optional local "not delivered" signal, and the supervision
 * of the path to the panel (fault output). Main context only. Keeps true:
 * every alert ends as alert-delivered or alert-not-delivered, decided by
 * the recorder's own timer (a dead uploader ends in "not delivered"); the
 * police-bell relay fires only as the policy says, and every firing or
 * refusal is an event. */
#pragma once

#include <json-glib/json-glib.h>

#include "hw.h"

G_BEGIN_DECLS

typedef enum {
  RECORDER_POLICE_BELL_ON_PRESS, /* every press */
  RECORDER_POLICE_BELL_FALLBACK, /* when the panel was not reached (or did not acknowledge) */
  RECORDER_POLICE_BELL_NEVER,
} RecorderPoliceBellPolicy;

typedef struct {
  RecorderPoliceBellPolicy police_bell;
  gint64 alert_deadline_us;
  gint64 ack_deadline_us;      /* 0: not acknowledged is no reason to fire */
  guint bell_pulse_ms;         /* 0: held until acknowledged or the incident ends */
  gint64 supervision_us;       /* 0: no supervision */
  gboolean undelivered_buzzer; /* three short beeps once not delivered */
  gboolean undelivered_blink;  /* the recording light blinks while not delivered */
} RecorderAlarmConfig;

/* Outputs the alarm drives; any may be NULL (not configured). Not owned. */
typedef struct {
  HwOutput *police_bell;
  HwOutput *fault;
  HwOutput *buzzer;
  HwOutput *recording;
} RecorderAlarmOutputs;

/* Records one event: the desk's event log, and the incident's manifest
 * while it records. uuid NULL (and incident_id 0, trigger NULL): an event
 * of the desk (path-down, path-up). detail: name, value, ..., NULL. */
typedef void (*RecorderAlarmEventFunc) (const char *uuid, gint64 incident_id, const char *trigger,
                                        const char *kind, gint64 mono_us, const char *const *detail,
                                        gpointer user_data);
/* The blinking stopped: the recorder sets the recording light as it should be. */
typedef void (*RecorderAlarmLightFunc) (gpointer user_data);

typedef struct _RecorderAlarm RecorderAlarm;

RecorderAlarm *recorder_alarm_new (const RecorderAlarmConfig *config,
                                   const RecorderAlarmOutputs *outputs,
                                   RecorderAlarmEventFunc event_func,
                                   RecorderAlarmLightFunc light_func, gpointer user_data);
/* Turns the relay and fault output off and stops every timer. */
void recorder_alarm_free (RecorderAlarm *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RecorderAlarm, recorder_alarm_free)

/* A press opened (opened TRUE) or extended this incident; edge_us is the
 * press edge (CLOCK_MONOTONIC). An opened incident's alert deadline
 * starts at the edge. on-press fires the relay for every press. */
void recorder_alarm_press (RecorderAlarm *self, const char *uuid, gint64 incident_id,
                           const char *trigger, gint64 edge_us, gboolean opened);
/* The incident stopped recording: a held relay it holds is released. */
void recorder_alarm_incident_ended (RecorderAlarm *self, const char *uuid);
/* The panel answered 2xx to the incident's alert. FALSE (error) if the
 * incident is not one this recorder tracks. */
gboolean recorder_alarm_delivered (RecorderAlarm *self, const char *uuid, GError **error);
/* Someone at the panel took the alert (pushed or polled); TRUE if it was
 * not known as acknowledged before. Unknown incidents are ignored. */
gboolean recorder_alarm_acknowledged (RecorderAlarm *self, const char *uuid);
gboolean recorder_alarm_is_acknowledged (RecorderAlarm *self, const char *uuid);
/* The panel asks for the relay (escalation): fired as the policy allows.
 * FALSE (error) for a reason that is not a token. */
gboolean recorder_alarm_police_bell (RecorderAlarm *self, const char *uuid, const char *reason,
                                     GError **error);
/* The panel answered a request (not a 5xx): the path is up. */
void recorder_alarm_path_ok (RecorderAlarm *self);
/* TRUE while the alarm blinks the recording light (the recorder leaves it alone). */
gboolean recorder_alarm_owns_light (RecorderAlarm *self);
/* s made fit for an event's detail value (docs/evidence-format.md): at
 * most 120 characters, control characters as spaces; "?" if empty. */
char *recorder_detail_text (const char *s);
/* "path": {state, since_us, last_ok_us, last_down_us, supervision_s} and
 * "police_bell": {policy, on}, for the status reply and the heartbeat. */
void recorder_alarm_add_status (RecorderAlarm *self, JsonBuilder *b);

G_END_DECLS
