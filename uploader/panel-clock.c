/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's clock as the desk measures it. Kept against the desk's
 * monotonic clock (panel time = monotonic + mono_offset), so a step of
 * the desk's wall clock (NTP syncing late) does not spoil signing; the
 * offset to the wall clock is derived when asked. Each answer bounds the
 * panel's time between the request's send and receipt: the offset lies
 * in [panel_lo - recv, panel_hi - sent]; the midpoint is kept with the
 * half-width, and the estimate never claims a tighter bound than one
 * answer gave. */
#include "panel-clock.h"

/* How fast an old measurement loses worth: a board's crystal may drift
 * 100 ppm from the panel's clock. */
#define DRIFT_PER_US 1e-4
#define STORE_EVERY_US (60 * G_USEC_PER_SEC)

struct _UploaderPanelClock {
  GMutex lock;
  gboolean known;
  gint64 mono_offset_us; /* panel clock minus desk monotonic clock */
  gint64 bound_us;
  gint64 measured_mono_us;
  /* news for the store */
  gboolean changed;
  gint64 stored_mono_us;
  gint64 stored_wall_offset_us;
  gboolean stored;
};

UploaderPanelClock *
uploader_panel_clock_new (void)
{
  UploaderPanelClock *self = g_new0 (UploaderPanelClock, 1);
  g_mutex_init (&self->lock);
  return self;
}

void
uploader_panel_clock_free (UploaderPanelClock *self)
{
  if (self == NULL)
    return;
  g_mutex_clear (&self->lock);
  g_free (self);
}

gint64
uploader_panel_clock_now (UploaderPanelClock *self)
{
  g_mutex_lock (&self->lock);
  gint64 now = self->known ? g_get_monotonic_time () + self->mono_offset_us : g_get_real_time ();
  g_mutex_unlock (&self->lock);
  return now;
}

static gint64
aged_bound (UploaderPanelClock *self, gint64 now_mono)
{
  return self->bound_us + (gint64) ((now_mono - self->measured_mono_us) * DRIFT_PER_US);
}

/* Under lock. */
static void
get_locked (UploaderPanelClock *self, AnsimDeskClock *out)
{
  *out = (AnsimDeskClock){ 0 };
  if (!self->known)
    return;
  gint64 mono = g_get_monotonic_time ();
  gint64 wall = g_get_real_time ();
  out->measured = TRUE;
  out->offset_us = mono + self->mono_offset_us - wall;
  out->bound_us = aged_bound (self, mono);
  out->measured_wall_us = wall - (mono - self->measured_mono_us);
}

gboolean
uploader_panel_clock_learn (UploaderPanelClock *self, gint64 sent_mono, gint64 recv_mono,
                            gint64 panel_lo_us, gint64 panel_hi_us, const char *from)
{
  if (recv_mono < sent_mono || panel_hi_us < panel_lo_us || panel_lo_us <= 0)
    return FALSE;
  gint64 lo = panel_lo_us - recv_mono, hi = panel_hi_us - sent_mono;
  gint64 mid = lo + (hi - lo) / 2, half = (hi - lo + 1) / 2;
  g_mutex_lock (&self->lock);
  gboolean take = !self->known;
  gboolean moved = FALSE;
  if (self->known)
    {
      gint64 aged = aged_bound (self, recv_mono);
      /* Disjoint intervals: one of the clocks stepped; the new answer is
       * the truth now, however wide. */
      moved = ABS (mid - self->mono_offset_us) > half + aged;
      take = moved || half <= aged;
    }
  if (take)
    {
      gboolean first = !self->known;
      self->known = TRUE;
      self->mono_offset_us = mid;
      self->bound_us = half;
      self->measured_mono_us = recv_mono;
      if (first || moved)
        {
          AnsimDeskClock now;
          get_locked (self, &now);
          g_autofree char *what = ansim_desk_clock_describe (&now);
          g_message ("%s: this board's clock is %s (from %s)",
                     first ? "learnt the panel's clock" : "the panel's clock moved", what, from);
          self->changed = TRUE;
        }
    }
  g_mutex_unlock (&self->lock);
  return take;
}

void
uploader_panel_clock_get (UploaderPanelClock *self, AnsimDeskClock *out)
{
  g_mutex_lock (&self->lock);
  get_locked (self, out);
  g_mutex_unlock (&self->lock);
}

gboolean
uploader_panel_clock_take_news (UploaderPanelClock *self, AnsimDeskClock *out)
{
  g_mutex_lock (&self->lock);
  get_locked (self, out);
  gint64 mono = g_get_monotonic_time ();
  gboolean due = FALSE;
  if (out->measured)
    {
      /* A wall-clock step shows here as a change of the offset: stored
       * at once, so the next manifest written has it. */
      gint64 drift = ABS (out->offset_us - self->stored_wall_offset_us);
      due = !self->stored || self->changed || mono - self->stored_mono_us >= STORE_EVERY_US
            || drift > MAX (G_USEC_PER_SEC, 2 * out->bound_us);
      if (due && self->stored && !self->changed && drift > MAX (G_USEC_PER_SEC, 2 * out->bound_us))
        {
          g_autofree char *what = ansim_desk_clock_describe (out);
          g_message ("this board's wall clock stepped: it is now %s", what);
        }
    }
  if (due)
    {
      self->stored = TRUE;
      self->changed = FALSE;
      self->stored_mono_us = mono;
      self->stored_wall_offset_us = out->offset_us;
    }
  g_mutex_unlock (&self->lock);
  return due;
}
