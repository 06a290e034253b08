/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk's alarm loop (recorder/alarm.c) on real kernel GPIO lines:
 * runs inside the QEMU guest of run-in-qemu. The panic button is line 0
 * (pulled by the test as a wire would be), the police-bell relay line 5
 * and the fault line 6, read back from gpio-sim's sim_gpioN/value, i.e.
 * what the relay and the fault lamp see. The uploader's part (the
 * `delivered` and `path-ok` lines) is played by calling the alarm as the
 * recorder's control socket does; a panel that is down or unreachable is
 * one that never answers. Keeps true: a press not delivered raises the
 * police-bell line within alert_deadline_ms (+ scheduling), a delivered
 * one never does (fallback); on-press raises it on every press; the
 * fault line rises after supervision_s without an answer and falls when
 * one comes. */
#include "sim-text.h"
#include "alarm.h"
#include "hw.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define LINE_BUTTON 0
#define LINE_BELL 5
#define LINE_FAULT 6
#define MS 1000
#define DEADLINE_MS 1000
#define DEBOUNCE_MS 30
/* Allowed lateness of a timer under QEMU/TCG. */
#define LATE_MS 250

static char *sim_sysfs_dir;


static void
sim_pull (guint line, gboolean up)
{
  char path[256];
  g_snprintf (path, sizeof path, "%s/sim_gpio%u/pull", sim_sysfs_dir, line);
  sim_write_text (path, up ? "pull-up" : "pull-down");
}

static int
sim_value (guint line)
{
  char path[256];
  g_snprintf (path, sizeof path, "%s/sim_gpio%u/value", sim_sysfs_dir, line);
  g_autofree char *text = sim_read_text (path);
  return text[0] - '0';
}

/* ---- fixture: button, relay, fault line, the alarm --------------------------- */

typedef struct {
  HwInput *button;
  HwOutput *bell;
  HwOutput *fault;
  RecorderAlarm *alarm;
  GPtrArray *events; /* kinds, in order */
  char *uuid;        /* the last press's incident */
  gint64 edge_us;    /* its edge */
  gboolean deliver;  /* the "uploader" reports delivery */
  int bell_at_press; /* the police-bell line just after the press was decided */
  guint n_presses;
} Fixture;

static void
on_event (const char *uuid, gint64 incident_id, const char *trigger, const char *kind,
          gint64 mono_us, const char *const *detail, gpointer user_data)
{
  (void) uuid;
  (void) incident_id;
  (void) trigger;
  (void) detail;
  Fixture *f = user_data;
  g_test_message ("event %s at +%.1f ms", kind, (mono_us - f->edge_us) / 1000.0);
  g_ptr_array_add (f->events, g_strdup (kind));
}

static void
on_light (gpointer user_data)
{
  (void) user_data;
}

static gboolean
deliver_cb (gpointer user_data)
{
  Fixture *f = user_data;
  g_autoptr (GError) error = NULL;
  g_assert_true (recorder_alarm_delivered (f->alarm, f->uuid, &error));
  g_assert_no_error (error);
  return G_SOURCE_REMOVE;
}

/* What the recorder does on a press: one incident opened, its alert
 * queued; the uploader would answer "delivered" ~50 ms later. */
static void
on_button (const HwEvent *event, gpointer user_data)
{
  Fixture *f = user_data;
  if (event->kind != HW_EVENT_PRESS)
    return;
  g_free (f->uuid);
  f->uuid = g_uuid_string_random ();
  f->edge_us = event->edge_us;
  f->n_presses++;
  recorder_alarm_press (f->alarm, f->uuid, f->n_presses, "desk-button", event->edge_us, TRUE);
  if (f->deliver)
    g_timeout_add (50, deliver_cb, f);
}

static void
make_alarm (Fixture *f, RecorderPoliceBellPolicy policy, guint pulse_ms, gint64 supervision_s)
{
  RecorderAlarmConfig c = {
    .police_bell = policy,
    .alert_deadline_us = DEADLINE_MS * MS,
    .bell_pulse_ms = pulse_ms,
    .supervision_us = supervision_s * G_USEC_PER_SEC,
  };
  RecorderAlarmOutputs o = { .police_bell = f->bell, .fault = f->fault };
  f->alarm = recorder_alarm_new (&c, &o, on_event, on_light, f);
}

static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;
  const char *label = g_getenv ("ANSIM_SIM_LABEL");
  HwInputConfig ic = {
    .trigger = "desk-button",
    .kind = HW_INPUT_GPIO,
    .debounce_ms = DEBOUNCE_MS,
    .long_press_ms = 3000,
    .chip = label,
    .line = LINE_BUTTON,
    .bias = HW_BIAS_AS_IS,
  };
  sim_pull (LINE_BUTTON, FALSE);
  f->button = hw_input_new (&ic, on_button, f, &error);
  g_assert_no_error (error);
  HwOutputConfig bc = {
    .name = "police-bell", .kind = HW_OUTPUT_GPIO, .chip = label, .line = LINE_BELL
  };
  f->bell = hw_output_new (&bc, &error);
  g_assert_no_error (error);
  HwOutputConfig fc = { .name = "fault", .kind = HW_OUTPUT_GPIO, .chip = label, .line = LINE_FAULT };
  f->fault = hw_output_new (&fc, &error);
  g_assert_no_error (error);
  f->events = g_ptr_array_new_with_free_func (g_free);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  g_clear_pointer (&f->alarm, recorder_alarm_free);
  g_clear_pointer (&f->button, hw_input_free);
  g_clear_pointer (&f->bell, hw_output_free);
  g_clear_pointer (&f->fault, hw_output_free);
  g_ptr_array_unref (f->events);
  g_free (f->uuid);
}

/* Runs the main loop, reading the line every millisecond, until it shows
 * level or until_us; the time it first did, or 0. */
static gint64
watch_line (guint line, int level, gint64 until_us)
{
  while (g_get_monotonic_time () < until_us)
    {
      if (sim_value (line) == level)
        return g_get_monotonic_time ();
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (1000);
    }
  return 0;
}

static void
spin_ms (guint ms)
{
  watch_line (LINE_BUTTON, 2, g_get_monotonic_time () + ms * MS);
}

static gboolean
has_event (Fixture *f, const char *kind)
{
  for (guint i = 0; i < f->events->len; i++)
    if (g_str_equal (f->events->pdata[i], kind))
      return TRUE;
  return FALSE;
}

/* One press on the wire: pulled up for 150 ms, then released. Returns
 * once the press was decided (the edge is f->edge_us). */
static void
press (Fixture *f)
{
  guint before = f->n_presses;
  sim_pull (LINE_BUTTON, TRUE);
  gint64 end = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  while (f->n_presses == before && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (f->n_presses, ==, before + 1);
  f->bell_at_press = sim_value (LINE_BELL);
  spin_ms (120);
  sim_pull (LINE_BUTTON, FALSE);
}

/* A delivered press never raises the police-bell line (fallback). */
static void
test_delivered (Fixture *f, gconstpointer data)
{
  (void) data;
  make_alarm (f, RECORDER_POLICE_BELL_FALLBACK, 0, 0);
  f->deliver = TRUE;
  press (f);
  g_assert_cmpint (watch_line (LINE_BELL, 1, f->edge_us + (DEADLINE_MS + 1000) * MS), ==, 0);
  g_assert_true (has_event (f, "alert-delivered"));
  g_assert_false (has_event (f, "alert-not-delivered"));
  g_assert_false (has_event (f, "police-bell"));
}

/* The panel down or unreachable: nothing answers; the line rises at the
 * deadline and stays up (hold) until the incident ends. */
static void
test_not_delivered (Fixture *f, gconstpointer data)
{
  (void) data;
  make_alarm (f, RECORDER_POLICE_BELL_FALLBACK, 0, 0);
  press (f);
  gint64 up = watch_line (LINE_BELL, 1, f->edge_us + 5 * G_USEC_PER_SEC);
  g_assert_cmpint (up, >, 0);
  double ms = (up - f->edge_us) / 1000.0;
  g_test_message ("press edge -> police-bell line high: %.1f ms (deadline %d ms)", ms, DEADLINE_MS);
  g_assert_cmpfloat (ms, >=, DEADLINE_MS);
  g_assert_cmpfloat (ms, <=, DEADLINE_MS + LATE_MS);
  g_assert_true (has_event (f, "alert-not-delivered"));
  g_assert_true (has_event (f, "police-bell"));
  spin_ms (500);
  g_assert_cmpint (sim_value (LINE_BELL), ==, 1);
  /* A late answer does not open it; the incident's end does. */
  g_autoptr (GError) error = NULL;
  g_assert_true (recorder_alarm_delivered (f->alarm, f->uuid, &error));
  g_assert_cmpint (sim_value (LINE_BELL), ==, 1);
  recorder_alarm_incident_ended (f->alarm, f->uuid);
  g_assert_cmpint (sim_value (LINE_BELL), ==, 0);
}

/* on-press: every press raises the line (a 200 ms pulse). */
static void
test_on_press (Fixture *f, gconstpointer data)
{
  (void) data;
  make_alarm (f, RECORDER_POLICE_BELL_ON_PRESS, 200, 0);
  f->deliver = TRUE;
  for (int i = 0; i < 3; i++)
    {
      g_assert_cmpint (sim_value (LINE_BELL), ==, 0);
      press (f);
      /* Raised as the press was decided, before any answer. */
      g_assert_cmpint (f->bell_at_press, ==, 1);
      gint64 down = watch_line (LINE_BELL, 0, g_get_monotonic_time () + G_USEC_PER_SEC);
      g_assert_cmpint (down, >, 0);
    }
  guint fired = 0;
  for (guint i = 0; i < f->events->len; i++)
    fired += g_str_equal (f->events->pdata[i], "police-bell");
  g_assert_cmpuint (fired, ==, 3);
}

/* never: nothing raises it, not even the panel's escalation. */
static void
test_never (Fixture *f, gconstpointer data)
{
  (void) data;
  make_alarm (f, RECORDER_POLICE_BELL_NEVER, 0, 0);
  press (f);
  g_assert_cmpint (watch_line (LINE_BELL, 1, f->edge_us + (DEADLINE_MS + 500) * MS), ==, 0);
  g_autoptr (GError) error = NULL;
  g_assert_true (recorder_alarm_police_bell (f->alarm, f->uuid, "escalated", &error));
  g_assert_cmpint (sim_value (LINE_BELL), ==, 0);
  g_assert_true (has_event (f, "police-bell-refused"));
}

/* The fault line: up after supervision_s without an answer, down when one
 * comes. */
static void
test_fault (Fixture *f, gconstpointer data)
{
  (void) data;
  make_alarm (f, RECORDER_POLICE_BELL_FALLBACK, 0, 2);
  /* Answers every 200 ms for a second: stays down. */
  for (int i = 0; i < 5; i++)
    {
      recorder_alarm_path_ok (f->alarm);
      spin_ms (200);
    }
  g_assert_cmpint (sim_value (LINE_FAULT), ==, 0);
  recorder_alarm_path_ok (f->alarm);
  gint64 last = g_get_monotonic_time ();
  gint64 up = watch_line (LINE_FAULT, 1, last + 5 * G_USEC_PER_SEC);
  g_assert_cmpint (up, >, 0);
  g_test_message ("last answer -> fault line high: %.2f s (supervision_s 2)", (up - last) / 1e6);
  g_assert_cmpint (up - last, >=, 2 * G_USEC_PER_SEC);
  g_assert_cmpint (up - last, <=, 2 * G_USEC_PER_SEC + 600 * MS);
  g_assert_true (has_event (f, "path-down"));
  recorder_alarm_path_ok (f->alarm);
  g_assert_cmpint (sim_value (LINE_FAULT), ==, 0);
  g_assert_true (has_event (f, "path-up"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The alarm warns (not delivered, path down) as it should. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  const char *cfs = g_getenv ("ANSIM_SIM_CONFIGFS");
  if (cfs == NULL)
    {
      g_printerr ("run me inside run-in-qemu (ANSIM_SIM_CONFIGFS is not set)\n");
      return 1;
    }
  g_autofree char *dev_path = g_build_filename (cfs, "dev_name", NULL);
  g_autofree char *chip_path = g_build_filename (cfs, "bank0", "chip_name", NULL);
  g_autofree char *dev = sim_read_text (dev_path);
  g_autofree char *chip = sim_read_text (chip_path);
  sim_sysfs_dir = g_build_filename ("/sys/devices/platform", dev, chip, NULL);
#define ADD(path, fn) g_test_add ("/gpio-sim/alarm/" path, Fixture, NULL, setup, fn, teardown)
  ADD ("delivered", test_delivered);
  ADD ("not-delivered", test_not_delivered);
  ADD ("on-press", test_on_press);
  ADD ("never", test_never);
  ADD ("fault", test_fault);
  return g_test_run ();
}
