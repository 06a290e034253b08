/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Trigger inputs: a GPIO line (libgpiod 1.6), an evdev key (USB HID panic
 * buttons, bodycam docks) or a simulated wire, all fed into HwDebouncer. */
#include "hw.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <gpiod.h>
#include <linux/input.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define REOPEN_INTERVAL_MS 1000

typedef struct gpiod_chip GpiodChip;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GpiodChip, gpiod_chip_close)

struct _HwInput {
  HwInputKind kind;
  char *trigger;
  char *chip_name;
  guint line_offset;
  gboolean active_low;
  HwBias bias;
  char *device;
  guint key_code;

  guint debounce_ms;
  guint long_press_ms;
  HwEventFunc func;
  gpointer user_data;
  HwDebouncer *debouncer;
  GSource *deadline_source; /* fires at the debouncer's next deadline */
  gint64 last_fed;          /* time handed to the debouncer last */

  /* Open device state; fd < 0 while disconnected. */
  struct gpiod_chip *chip;
  struct gpiod_line *line;
  int fd;
  GSource *fd_source;
  guint reopen_id;
};

static void
forward_event (const HwEvent *event, gpointer user_data)
{
  HwInput *self = user_data;
  self->func (event, self->user_data);
}

static void
reschedule (HwInput *self)
{
  g_source_set_ready_time (self->deadline_source, hw_debouncer_next_deadline (self->debouncer));
}

static gboolean
deadline_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  (void) callback;
  HwInput *self = user_data;
  g_source_set_ready_time (source, -1);
  self->last_fed = MAX (self->last_fed, g_get_monotonic_time ());
  hw_debouncer_advance (self->debouncer, self->last_fed);
  reschedule (self);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs deadline_funcs = {
  .dispatch = deadline_dispatch,
};

static void
feed (HwInput *self, gboolean active, gint64 at_us)
{
  /* Kernel edge times are earlier than their reading and may trail a
   * deadline already handled: keep the debouncer's clock monotonic. */
  gint64 now = g_get_monotonic_time ();
  at_us = CLAMP (at_us, self->last_fed, now);
  self->last_fed = at_us;
  hw_debouncer_feed (self->debouncer, active, at_us);
  reschedule (self);
}

static void device_close (HwInput *self);
static gboolean device_open (HwInput *self, GError **error);

static gboolean
reopen_cb (gpointer user_data)
{
  HwInput *self = user_data;
  g_autoptr (GError) error = NULL;

  if (!device_open (self, &error))
    {
      g_debug ("%s: still unavailable: %s", self->trigger, error->message);
      return G_SOURCE_CONTINUE;
    }
  g_message ("trigger %s: input is back and re-opened", self->trigger);
  self->reopen_id = 0;
  return G_SOURCE_REMOVE;
}

static void
lost_device (HwInput *self, const char *why)
{
  g_warning ("trigger %s: input lost (%s); retrying every %d ms", self->trigger, why,
             REOPEN_INTERVAL_MS);
  device_close (self);
  if (self->reopen_id == 0)
    self->reopen_id = g_timeout_add (REOPEN_INTERVAL_MS, reopen_cb, self);
}

static gint64
timespec_to_us (const struct timespec *ts)
{
  return (gint64) ts->tv_sec * G_USEC_PER_SEC + ts->tv_nsec / 1000;
}

/* The fd hung up or failed: the device is lost until it reopens. */
static gboolean
lose_device (HwInput *self, const char *why)
{
  self->fd_source = NULL;
  lost_device (self, why);
  return G_SOURCE_REMOVE;
}

/* After a read that failed (errno set): try again later, or lose it. */
static gboolean
read_failed (HwInput *self)
{
  if (errno == EAGAIN || errno == EINTR)
    return G_SOURCE_CONTINUE;
  return lose_device (self, g_strerror (errno));
}

static gboolean
test_bit (const unsigned long *bits, guint bit)
{
  return !!(bits[bit / (8 * sizeof (unsigned long))]
            & (1UL << (bit % (8 * sizeof (unsigned long)))));
}

/* Watch the opened device's fd with readable, and feed the debouncer the
 * level the input has now. */
static void
watch_device (HwInput *self, int fd, GUnixFDSourceFunc readable, gboolean level)
{
  self->fd = fd;
  self->fd_source = g_unix_fd_source_new (fd, G_IO_IN | G_IO_ERR | G_IO_HUP);
  g_source_set_callback (self->fd_source, (GSourceFunc) (void (*) (void)) readable, self, NULL);
  g_source_attach (self->fd_source, NULL);
  g_source_unref (self->fd_source);
  feed (self, level, g_get_monotonic_time ());
}

static gboolean
gpio_readable (gint fd, GIOCondition cond, gpointer user_data)
{
  HwInput *self = user_data;
  struct gpiod_line_event events[16];

  if (cond & (G_IO_ERR | G_IO_HUP | G_IO_NVAL))
    return lose_device (self, "GPIO chip went away");
  int n = gpiod_line_event_read_fd_multiple (fd, events, G_N_ELEMENTS (events));
  if (n < 0)
    return read_failed (self);
  /* The kernel reports edges as logical levels (active-low applied) with
   * CLOCK_MONOTONIC timestamps, the clock g_get_monotonic_time() uses. */
  for (int i = 0; i < n; i++)
    feed (self, events[i].event_type == GPIOD_LINE_EVENT_RISING_EDGE,
          timespec_to_us (&events[i].ts));
  return G_SOURCE_CONTINUE;
}

static gboolean
gpio_open (HwInput *self, GError **error)
{
  g_autoptr (GpiodChip) chip = gpiod_chip_open_lookup (self->chip_name);
  if (chip == NULL)
    {
      g_set_error (error, HW_ERROR, HW_ERROR_NO_DEVICE, "trigger %s: GPIO chip '%s' not found: %s",
                   self->trigger, self->chip_name, g_strerror (errno));
      return FALSE;
    }
  if (self->line_offset >= gpiod_chip_num_lines (chip))
    {
      g_set_error (error, HW_ERROR, HW_ERROR_NO_DEVICE,
                   "trigger %s: GPIO chip '%s' has %u lines, no line %u", self->trigger,
                   self->chip_name, gpiod_chip_num_lines (chip), self->line_offset);
      return FALSE;
    }
  struct gpiod_line *line = gpiod_chip_get_line (chip, self->line_offset);
  int flags = self->active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
  switch (self->bias)
    {
    case HW_BIAS_AS_IS: break;
    case HW_BIAS_DISABLE: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE; break;
    case HW_BIAS_PULL_UP: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP; break;
    case HW_BIAS_PULL_DOWN: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN; break;
    }
  if (line == NULL || gpiod_line_request_both_edges_events_flags (line, "ansim", flags) < 0)
    {
      int saved = errno;
      g_set_error (error, HW_ERROR, saved == EBUSY ? HW_ERROR_BUSY : HW_ERROR_FAILED,
                   "trigger %s: cannot request line %u of GPIO chip '%s': %s", self->trigger,
                   self->line_offset, self->chip_name, g_strerror (saved));
      return FALSE;
    }
  int value = gpiod_line_get_value (line);
  if (value < 0)
    {
      g_set_error (error, HW_ERROR, HW_ERROR_FAILED,
                   "trigger %s: cannot read line %u of GPIO chip '%s': %s", self->trigger,
                   self->line_offset, self->chip_name, g_strerror (errno));
      return FALSE;
    }
  self->chip = g_steal_pointer (&chip);
  self->line = line;
  watch_device (self, gpiod_line_event_get_fd (line), gpio_readable, value == 1);
  return TRUE;
}

static gboolean
evdev_readable (gint fd, GIOCondition cond, gpointer user_data)
{
  HwInput *self = user_data;
  struct input_event events[32];

  if (cond & (G_IO_ERR | G_IO_HUP | G_IO_NVAL))
    return lose_device (self, "input device went away");
  ssize_t n = read (fd, events, sizeof events);
  if (n < 0)
    return read_failed (self);
  for (size_t i = 0; i < (size_t) n / sizeof events[0]; i++)
    {
      const struct input_event *ev = &events[i];
      gint64 at = (gint64) ev->input_event_sec * G_USEC_PER_SEC + ev->input_event_usec;
      if (ev->type == EV_SYN && ev->code == SYN_DROPPED)
        {
          /* The kernel dropped events: take the key's level as it is now. */
          unsigned long keys[KEY_CNT / (8 * sizeof (unsigned long)) + 1] = { 0 };
          if (ioctl (fd, EVIOCGKEY (sizeof keys), keys) >= 0)
            feed (self, test_bit (keys, self->key_code), g_get_monotonic_time ());
        }
      else if (ev->type == EV_KEY && ev->code == self->key_code && ev->value != 2)
        {
          feed (self, ev->value != 0, at); /* 2 is autorepeat: not an edge */
        }
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
evdev_open (HwInput *self, GError **error)
{
  int fd = open (self->device, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, HW_ERROR,
                   saved == ENOENT || saved == ENODEV ? HW_ERROR_NO_DEVICE : HW_ERROR_FAILED,
                   "trigger %s: input device '%s' cannot be opened: %s", self->trigger,
                   self->device, g_strerror (saved));
      return FALSE;
    }
  unsigned long keys[KEY_CNT / (8 * sizeof (unsigned long)) + 1] = { 0 };
  if (ioctl (fd, EVIOCGBIT (EV_KEY, sizeof keys), keys) < 0)
    {
      g_set_error (error, HW_ERROR, HW_ERROR_INVALID,
                   "trigger %s: '%s' is not an input event device: %s", self->trigger, self->device,
                   g_strerror (errno));
      close (fd);
      return FALSE;
    }
  if (!test_bit (keys, self->key_code))
    {
      g_set_error (error, HW_ERROR, HW_ERROR_INVALID,
                   "trigger %s: input device '%s' has no key with code %u", self->trigger,
                   self->device, self->key_code);
      close (fd);
      return FALSE;
    }
  int clock = CLOCK_MONOTONIC;
  if (ioctl (fd, EVIOCSCLOCKID, &clock) < 0)
    g_warning ("trigger %s: cannot switch '%s' to monotonic timestamps, using arrival time",
               self->trigger, self->device);
  memset (keys, 0, sizeof keys);
  gboolean down = ioctl (fd, EVIOCGKEY (sizeof keys), keys) >= 0 && test_bit (keys, self->key_code);
  watch_device (self, fd, evdev_readable, down);
  return TRUE;
}

static gboolean
device_open (HwInput *self, GError **error)
{
  switch (self->kind)
    {
    case HW_INPUT_GPIO: return gpio_open (self, error);
    case HW_INPUT_EVDEV: return evdev_open (self, error);
    case HW_INPUT_SIMULATED: return TRUE;
    }
  g_assert_not_reached ();
}

static void
device_close (HwInput *self)
{
  if (self->fd_source != NULL)
    {
      g_source_destroy (self->fd_source);
      self->fd_source = NULL;
    }
  if (self->kind == HW_INPUT_GPIO)
    {
      if (self->line != NULL)
        gpiod_line_release (self->line);
      g_clear_pointer (&self->chip, gpiod_chip_close);
      self->line = NULL;
    }
  else if (self->fd >= 0)
    {
      close (self->fd);
    }
  self->fd = -1;
}

HwInput *
hw_input_new (const HwInputConfig *config, HwEventFunc func, gpointer user_data, GError **error)
{
  g_return_val_if_fail (config != NULL && config->trigger != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (config->kind == HW_INPUT_GPIO && config->chip == NULL)
    {
      g_set_error (error, HW_ERROR, HW_ERROR_INVALID, "trigger %s: no GPIO chip given",
                   config->trigger);
      return NULL;
    }
  if (config->kind == HW_INPUT_EVDEV
      && (config->device == NULL || config->key_code == 0 || config->key_code >= KEY_CNT))
    {
      g_set_error (error, HW_ERROR, HW_ERROR_INVALID,
                   "trigger %s: evdev input needs a device and a key code below %d",
                   config->trigger, KEY_CNT);
      return NULL;
    }

  g_autoptr (HwInput) self = g_new0 (HwInput, 1);
  self->kind = config->kind;
  self->trigger = g_strdup (config->trigger);
  self->chip_name = g_strdup (config->chip);
  self->line_offset = config->line;
  self->active_low = config->active_low;
  self->bias = config->bias;
  self->device = g_strdup (config->device);
  self->key_code = config->key_code;
  self->debounce_ms = config->debounce_ms;
  self->long_press_ms = config->long_press_ms;
  self->func = func;
  self->user_data = user_data;
  self->fd = -1;
  self->debouncer = hw_debouncer_new (config->trigger, config->debounce_ms, config->long_press_ms,
                                      forward_event, self);
  self->deadline_source = g_source_new (&deadline_funcs, sizeof (GSource));
  g_source_set_callback (self->deadline_source, NULL, self, NULL);
  g_source_set_name (self->deadline_source, "hw-input debounce");
  g_source_attach (self->deadline_source, NULL);

  if (!device_open (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

void
hw_input_free (HwInput *self)
{
  if (self == NULL)
    return;
  device_close (self);
  if (self->reopen_id != 0)
    g_source_remove (self->reopen_id);
  if (self->deadline_source != NULL)
    {
      g_source_destroy (self->deadline_source);
      g_source_unref (self->deadline_source);
    }
  hw_debouncer_free (self->debouncer);
  g_free (self->trigger);
  g_free (self->chip_name);
  g_free (self->device);
  g_free (self);
}

const char *
hw_input_get_trigger (HwInput *self)
{
  return self->trigger;
}

HwInputKind
hw_input_get_kind (HwInput *self)
{
  return self->kind;
}

gboolean
hw_input_is_connected (HwInput *self)
{
  return self->kind == HW_INPUT_SIMULATED || self->fd >= 0;
}

void
hw_input_inject (HwInput *self, gboolean active)
{
  g_return_if_fail (self->kind == HW_INPUT_SIMULATED);
  feed (self, active, g_get_monotonic_time ());
}

void
hw_input_get_timing (HwInput *self, guint *out_debounce_ms, guint *out_long_press_ms)
{
  *out_debounce_ms = self->debounce_ms;
  *out_long_press_ms = self->long_press_ms;
}
