/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk clock lines of `ansimctl verify` (docs/evidence-format.md,
 * "Desk clock"). A time is shown by the panel's clock only when the
 * manifest says what the offset was; "never measured" is said, never
 * read as an offset of 0. */
#include "clock-report.h"

static char *
format_wall (gint64 wall_us)
{
  g_autoptr (GDateTime) s = g_date_time_new_from_unix_utc (wall_us / G_USEC_PER_SEC);
  g_autoptr (GDateTime) t = s != NULL ? g_date_time_add (s, wall_us % G_USEC_PER_SEC) : NULL;
  return t != NULL ? g_date_time_format (t, "%Y-%m-%dT%H:%M:%S.%fZ") : g_strdup ("?");
}

static guint
print_one (const AnsimManifest *m, AnsimManifestClockWhen when, gint64 desk_wall_us,
           gint64 tolerance_us)
{
  const char *at = when == ANSIM_MANIFEST_CLOCK_AT_OPEN ? "opening" : "closing";
  const char *what = when == ANSIM_MANIFEST_CLOCK_AT_OPEN ? "opened" : "closed";
  const AnsimDeskClock *c = ansim_manifest_get_desk_clock (m, when);
  g_autofree char *desk_time = format_wall (desk_wall_us);
  if (c == NULL)
    {
      g_print ("info: %s %s by the desk's clock; the manifest does not say how far that clock "
               "was from the panel's\n",
               what, desk_time);
      return 0;
    }
  if (!c->measured)
    {
      g_print ("info: %s %s by the desk's clock\n", what, desk_time);
      g_print ("warning: desk clock never measured against the panel's at %s: the incident's "
               "times are the desk's clock alone\n",
               at);
      return 1;
    }
  g_autofree char *panel_time = format_wall (desk_wall_us + c->offset_us);
  g_autofree char *offset = ansim_desk_clock_describe (c);
  g_autofree char *measured = format_wall (c->measured_wall_us);
  g_print ("info: %s %s by the desk's clock = %s by the panel's (desk clock at %s: %s, measured "
           "%s desk time)\n",
           what, desk_time, panel_time, at, offset, measured);
  if (ABS (c->offset_us) > tolerance_us)
    {
      g_print ("warning: desk clock off by more than %.3f s at %s: read the panel's times\n",
               tolerance_us / (double) G_USEC_PER_SEC, at);
      return 1;
    }
  return 0;
}

guint
ansimctl_print_desk_clock (const AnsimManifest *m, gint64 tolerance_us)
{
  guint warnings = print_one (m, ANSIM_MANIFEST_CLOCK_AT_OPEN,
                              ansim_manifest_get_opened_wall_us (m), tolerance_us);
  if (ansim_manifest_is_closed (m))
    warnings += print_one (m, ANSIM_MANIFEST_CLOCK_AT_CLOSE, ansim_manifest_get_closed_wall_us (m),
                           tolerance_us);
  return warnings;
}
