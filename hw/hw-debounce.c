/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Debounce and long-press decisions, shared by every input kind. Time is fed
 * in by the caller, so the same logic runs on GPIO, evdev and simulated edges. */
#include "hw.h"

struct _HwDebouncer {
  char *trigger;
  gint64 debounce_us;
  gint64 long_press_us;
  HwEventFunc func;
  gpointer user_data;

  gboolean raw;      /* last level seen on the wire */
  gint64 raw_since;  /* when the wire took that level */
  gboolean stable;   /* the decided level */
  gint64 press_edge; /* edge that began the current press */
  gboolean long_fired;
};

G_DEFINE_QUARK (hw - error - quark, hw_error)

const char *
hw_event_kind_to_string (HwEventKind kind)
{
  switch (kind)
    {
    case HW_EVENT_PRESS: return "press";
    case HW_EVENT_RELEASE: return "release";
    case HW_EVENT_LONG_PRESS: return "long-press";
    }
  return "unknown";
}

HwDebouncer *
hw_debouncer_new (const char *trigger, guint debounce_ms, guint long_press_ms, HwEventFunc func,
                  gpointer user_data)
{
  g_return_val_if_fail (trigger != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);

  HwDebouncer *self = g_new0 (HwDebouncer, 1);
  self->trigger = g_strdup (trigger);
  self->debounce_us = (gint64) debounce_ms * 1000;
  self->long_press_us = (gint64) long_press_ms * 1000;
  self->func = func;
  self->user_data = user_data;
  return self;
}

void
hw_debouncer_free (HwDebouncer *self)
{
  if (self == NULL)
    return;
  g_free (self->trigger);
  g_free (self);
}

static void
emit (HwDebouncer *self, HwEventKind kind, gint64 edge_us, gint64 now_us)
{
  HwEvent event = {
    .kind = kind,
    .trigger = self->trigger,
    .edge_us = edge_us,
    .reported_us = now_us,
  };
  self->func (&event, self->user_data);
}

/* A long press is the debounced level staying pressed for long_press_ms.
 * While a release is pending at the deadline (raw inactive, not yet
 * decided) we cannot know: wait until the release is confirmed (no long
 * press) or turns out a glitch (long press, reported late). A release edge
 * after the deadline cannot be pending here: feed() advanced before it. */
static gboolean
long_press_due (HwDebouncer *self, gint64 now_us)
{
  if (!self->stable || self->long_fired || self->long_press_us <= 0)
    return FALSE;
  gint64 deadline = self->press_edge + self->long_press_us;
  if (now_us < deadline)
    return FALSE;
  return self->raw;
}

void
hw_debouncer_advance (HwDebouncer *self, gint64 now_us)
{
  g_return_if_fail (self != NULL);

  if (long_press_due (self, now_us))
    {
      self->long_fired = TRUE;
      emit (self, HW_EVENT_LONG_PRESS, self->press_edge, now_us);
    }

  if (self->raw != self->stable && now_us >= self->raw_since + self->debounce_us)
    {
      self->stable = self->raw;
      if (self->stable)
        {
          self->press_edge = self->raw_since;
          self->long_fired = FALSE;
          emit (self, HW_EVENT_PRESS, self->raw_since, now_us);
          /* With a window longer than the threshold it is due at once. */
          if (long_press_due (self, now_us))
            {
              self->long_fired = TRUE;
              emit (self, HW_EVENT_LONG_PRESS, self->press_edge, now_us);
            }
        }
      else
        {
          emit (self, HW_EVENT_RELEASE, self->raw_since, now_us);
        }
    }
}

void
hw_debouncer_feed (HwDebouncer *self, gboolean active, gint64 now_us)
{
  g_return_if_fail (self != NULL);

  active = !!active;
  /* Decisions that fell due before this edge are taken with the old level. */
  hw_debouncer_advance (self, now_us);
  if (active != self->raw)
    {
      self->raw = active;
      self->raw_since = now_us;
    }
  hw_debouncer_advance (self, now_us);
}

gint64
hw_debouncer_next_deadline (HwDebouncer *self)
{
  g_return_val_if_fail (self != NULL, -1);

  gint64 next = -1;
  if (self->raw != self->stable)
    next = self->raw_since + self->debounce_us;
  /* While a release is pending, its own deadline settles the long press. */
  if (self->stable && self->raw && !self->long_fired && self->long_press_us > 0)
    {
      gint64 deadline = self->press_edge + self->long_press_us;
      if (next < 0 || deadline < next)
        next = deadline;
    }
  return next;
}

gboolean
hw_debouncer_is_pressed (HwDebouncer *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->stable;
}
