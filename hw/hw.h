/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk's hardware: panic button and bodycam trigger inputs (libgpiod,
 * evdev or simulated), and the recording light, "help is coming" light and
 * buzzer outputs. Everything runs on the thread-default GLib main context. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HW_ERROR (hw_error_quark ())
GQuark hw_error_quark (void);

typedef enum {
  HW_ERROR_NO_DEVICE, /* chip, line or input device not there */
  HW_ERROR_BUSY,      /* line already requested by someone else */
  HW_ERROR_INVALID,   /* bad argument from configuration */
  HW_ERROR_FAILED,
} HwErrorCode;

typedef enum {
  HW_EVENT_PRESS,      /* the input became active and stayed so for the debounce window */
  HW_EVENT_RELEASE,    /* ...and became inactive again */
  HW_EVENT_LONG_PRESS, /* still active long_press_ms after the press; at most once per press */
} HwEventKind;

const char *hw_event_kind_to_string (HwEventKind kind);

typedef struct {
  HwEventKind kind;
  const char *trigger; /* trigger name the input is mapped to, e.g. "desk-button" */
  gint64 edge_us;      /* CLOCK_MONOTONIC (g_get_monotonic_time) of the edge that began the state */
  gint64 reported_us;  /* CLOCK_MONOTONIC when the event was decided (edge + debounce) */
} HwEvent;

typedef void (*HwEventFunc) (const HwEvent *event, gpointer user_data);

/* Debounce and long-press logic shared by every input kind. Pure: time is
 * fed in, so it can be tested without a clock. An edge is accepted only once
 * the raw level has held for debounce_ms; shorter glitches vanish. */
typedef struct _HwDebouncer HwDebouncer;

HwDebouncer *hw_debouncer_new (const char *trigger, guint debounce_ms, guint long_press_ms,
                               HwEventFunc func, gpointer user_data);
void hw_debouncer_free (HwDebouncer *self);
/* A raw level change (or a repeat of the same level) seen at now_us. */
void hw_debouncer_feed (HwDebouncer *self, gboolean active, gint64 now_us);
/* Emit whatever has become due by now_us. */
void hw_debouncer_advance (HwDebouncer *self, gint64 now_us);
/* Monotonic time when advance() has something to decide, or -1. */
gint64 hw_debouncer_next_deadline (HwDebouncer *self);
gboolean hw_debouncer_is_pressed (HwDebouncer *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HwDebouncer, hw_debouncer_free)

typedef enum {
  HW_BIAS_AS_IS,
  HW_BIAS_DISABLE,
  HW_BIAS_PULL_UP,
  HW_BIAS_PULL_DOWN,
} HwBias;

typedef enum {
  HW_INPUT_GPIO,
  HW_INPUT_EVDEV,
  HW_INPUT_SIMULATED,
} HwInputKind;

typedef struct {
  const char *trigger; /* required */
  HwInputKind kind;
  guint debounce_ms;
  guint long_press_ms;
  /* gpio */
  const char *chip; /* name, path, label or number, as gpiod_chip_open_lookup() */
  guint line;
  gboolean active_low;
  HwBias bias;
  /* evdev */
  const char *device; /* /dev/input/... */
  guint key_code;     /* linux/input-event-codes.h KEY_* / BTN_* */
} HwInputConfig;

/* An input attached to the thread-default main context. A missing device at
 * creation is an error; one that disappears later is reported with
 * g_warning and re-opened when it returns. */
typedef struct _HwInput HwInput;

HwInput *hw_input_new (const HwInputConfig *config, HwEventFunc func, gpointer user_data,
                       GError **error);
void hw_input_free (HwInput *self);
const char *hw_input_get_trigger (HwInput *self);
HwInputKind hw_input_get_kind (HwInput *self);
/* TRUE while the device is open and delivering events. */
gboolean hw_input_is_connected (HwInput *self);
void hw_input_get_timing (HwInput *self, guint *out_debounce_ms, guint *out_long_press_ms);
/* Simulated inputs only: a raw level change, as the wire would give it. */
void hw_input_inject (HwInput *self, gboolean active);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HwInput, hw_input_free)

typedef enum {
  HW_OUTPUT_GPIO,
  HW_OUTPUT_SIMULATED,
} HwOutputKind;

typedef struct {
  const char *name; /* "recording", "acknowledged", "buzzer" */
  HwOutputKind kind;
  const char *chip;
  guint line;
  gboolean active_low;
} HwOutputConfig;

typedef struct _HwOutput HwOutput;

HwOutput *hw_output_new (const HwOutputConfig *config, GError **error);
void hw_output_free (HwOutput *self);
const char *hw_output_get_name (HwOutput *self);
gboolean hw_output_set (HwOutput *self, gboolean on, GError **error);
gboolean hw_output_get (HwOutput *self);
/* On for ms, then off (a beep); cancelled by a later set(). */
gboolean hw_output_pulse (HwOutput *self, guint ms, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HwOutput, hw_output_free)

G_END_DECLS
