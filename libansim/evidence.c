/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains what every part of the evidence format shares: its
 * error domain, the one spelling of a wall-clock time, segment file names
 * and the capped reading of small files. What it must keep true: a time
 * or a name that parses is exactly the text ansim writes (the canonical
 * entry text and the file names depend on it). */
#include "evidence.h"
#include "evidence-private.h"

#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

G_DEFINE_QUARK (ansim - evidence - error - quark, ansim_evidence_error)

char *
ansim_evidence_format_wall (gint64 wall_us)
{
  g_return_val_if_fail (wall_us >= 0 && wall_us <= ANSIM_WALL_MAX_US, NULL);
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (wall_us / G_USEC_PER_SEC);
  g_autofree char *seconds = g_date_time_format (t, "%Y-%m-%dT%H:%M:%S");

  return g_strdup_printf ("%s.%06dZ", seconds, (int) (wall_us % G_USEC_PER_SEC));
}

gboolean
ansim_evidence_parse_wall (const char *text, gint64 *out_wall_us)
{
  static const char pattern[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
  int y, mo, d, h, mi, s, us;

  if (text == NULL || strlen (text) != sizeof pattern - 1)
    return FALSE;
  for (gsize i = 0; i < sizeof pattern - 1; i++)
    if (pattern[i] == 'd' ? !g_ascii_isdigit (text[i]) : text[i] != pattern[i])
      return FALSE;
  if (sscanf (text, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ", &y, &mo, &d, &h, &mi, &s, &us) != 7 || y < 1970)
    return FALSE;
  g_autoptr (GDateTime) t = g_date_time_new_utc (y, mo, d, h, mi, s);
  if (t == NULL)
    return FALSE;
  gint64 wall_us = g_date_time_to_unix (t) * G_USEC_PER_SEC + us;
  /* Only the one spelling ansim writes: the canonical entry text uses it. */
  g_autofree char *again = ansim_evidence_format_wall (wall_us);
  if (g_strcmp0 (again, text) != 0)
    return FALSE;
  *out_wall_us = wall_us;
  return TRUE;
}

gboolean
ansim_evidence_parse_segment_name (const char *name, guint64 *out_index, char **out_plain_name)
{
  gsize len = name != NULL ? strlen (name) : 0;

  /* seg- 6 digits . ext(1..8 of [a-z0-9]) .age */
  if (len < 16 || len > 23 || !g_str_has_prefix (name, "seg-") || !g_str_has_suffix (name, ".age"))
    return FALSE;
  for (int i = 4; i < 10; i++)
    if (!g_ascii_isdigit (name[i]))
      return FALSE;
  if (name[10] != '.')
    return FALSE;
  for (gsize i = 11; i < len - 4; i++)
    if (!g_ascii_islower (name[i]) && !g_ascii_isdigit (name[i]))
      return FALSE;
  if (out_index != NULL)
    *out_index = g_ascii_strtoull (name + 4, NULL, 10);
  if (out_plain_name != NULL)
    *out_plain_name = g_strndup (name, len - 4);
  return TRUE;
}

/* Reads a small file whole; refuses more than max bytes. */
GBytes *
ansim_evidence_read_small_file (const char *path, gsize max, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  GStatBuf st;

  if (g_stat (path, &st) == 0 && st.st_size > (goffset) max)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE,
                   "%s is %" G_GINT64_FORMAT " bytes, more than the %" G_GSIZE_FORMAT " allowed",
                   path, (gint64) st.st_size, max);
      return NULL;
    }
  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  if (len > max)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE,
                   "%s is more than %" G_GSIZE_FORMAT " bytes", path, max);
      return NULL;
    }
  return g_bytes_new_take (g_steal_pointer (&data), len);
}
