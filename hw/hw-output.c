/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk's outputs: recording light, "help is coming" light and buzzer,
 * on a GPIO line or simulated (state kept in memory, read through HwControl). */
#include "hw.h"

#include <errno.h>
#include <gpiod.h>

struct _HwOutput {
  char *name;
  HwOutputKind kind;
  char *chip_name;
  guint line_offset;
  gboolean active_low;

  struct gpiod_chip *chip; /* NULL while the chip is unavailable */
  struct gpiod_line *line;
  gboolean on; /* what we want the output to show */
  guint pulse_id;
};

static void
line_close (HwOutput *self)
{
  if (self->line != NULL)
    gpiod_line_release (self->line);
  self->line = NULL;
  g_clear_pointer (&self->chip, gpiod_chip_close);
}

static gboolean
line_open (HwOutput *self, GError **error)
{
  struct gpiod_chip *chip = gpiod_chip_open_lookup (self->chip_name);
  if (chip == NULL)
    {
      g_set_error (error, HW_ERROR, HW_ERROR_NO_DEVICE, "output %s: GPIO chip '%s' not found: %s",
                   self->name, self->chip_name, g_strerror (errno));
      return FALSE;
    }
  struct gpiod_line *line = NULL;
  if (self->line_offset < gpiod_chip_num_lines (chip))
    line = gpiod_chip_get_line (chip, self->line_offset);
  int flags = self->active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
  if (line == NULL || gpiod_line_request_output_flags (line, "ansim", flags, self->on) < 0)
    {
      int saved = line == NULL ? ENODEV : errno;
      g_set_error (error, HW_ERROR, saved == EBUSY ? HW_ERROR_BUSY : HW_ERROR_NO_DEVICE,
                   "output %s: cannot request line %u of GPIO chip '%s': %s", self->name,
                   self->line_offset, self->chip_name, g_strerror (saved));
      gpiod_chip_close (chip);
      return FALSE;
    }
  self->chip = chip;
  self->line = line;
  return TRUE;
}

HwOutput *
hw_output_new (const HwOutputConfig *config, GError **error)
{
  g_return_val_if_fail (config != NULL && config->name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (config->kind == HW_OUTPUT_GPIO && config->chip == NULL)
    {
      g_set_error (error, HW_ERROR, HW_ERROR_INVALID, "output %s: no GPIO chip given",
                   config->name);
      return NULL;
    }
  g_autoptr (HwOutput) self = g_new0 (HwOutput, 1);
  self->name = g_strdup (config->name);
  self->kind = config->kind;
  self->chip_name = g_strdup (config->chip);
  self->line_offset = config->line;
  self->active_low = config->active_low;
  if (self->kind == HW_OUTPUT_GPIO && !line_open (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

void
hw_output_free (HwOutput *self)
{
  if (self == NULL)
    return;
  if (self->pulse_id != 0)
    g_source_remove (self->pulse_id);
  /* Leave the light off rather than lit by a daemon that is gone. */
  if (self->line != NULL && self->on)
    gpiod_line_set_value (self->line, 0);
  line_close (self);
  g_free (self->name);
  g_free (self->chip_name);
  g_free (self);
}

const char *
hw_output_get_name (HwOutput *self)
{
  return self->name;
}

static gboolean
apply (HwOutput *self, GError **error)
{
  if (self->kind == HW_OUTPUT_SIMULATED)
    return TRUE;
  /* A chip that went away is re-opened on the next change. */
  if (self->line == NULL && !line_open (self, error))
    return FALSE;
  if (gpiod_line_set_value (self->line, self->on) < 0)
    {
      int saved = errno;
      line_close (self);
      if (line_open (self, NULL) && gpiod_line_set_value (self->line, self->on) == 0)
        return TRUE;
      g_set_error (error, HW_ERROR, HW_ERROR_FAILED,
                   "output %s: cannot set line %u of GPIO chip '%s': %s", self->name,
                   self->line_offset, self->chip_name, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

gboolean
hw_output_set (HwOutput *self, gboolean on, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  if (self->pulse_id != 0)
    {
      g_source_remove (self->pulse_id);
      self->pulse_id = 0;
    }
  self->on = !!on;
  return apply (self, error);
}

gboolean
hw_output_get (HwOutput *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->on;
}

static gboolean
pulse_end (gpointer user_data)
{
  HwOutput *self = user_data;
  g_autoptr (GError) error = NULL;

  self->pulse_id = 0;
  self->on = FALSE;
  if (!apply (self, &error))
    g_warning ("%s, the output may stay on", error->message);
  return G_SOURCE_REMOVE;
}

gboolean
hw_output_pulse (HwOutput *self, guint ms, GError **error)
{
  if (!hw_output_set (self, TRUE, error))
    return FALSE;
  self->pulse_id = g_timeout_add (ms, pulse_end, self);
  return TRUE;
}
