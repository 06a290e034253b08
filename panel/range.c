/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Strict single-range parsing (range.h). Must keep true: no input makes
 * more bytes than size, first <= last < size on PANEL_RANGE_PART, and a
 * number too long for 64 bits is not a range. */
#include "range.h"

#include <string.h>

/* Digits only, at most 18 of them (fits in gint64); -1 otherwise. */
static gint64
parse_number (const char *start, const char *end)
{
  if (end <= start || end - start > 18)
    return -1;
  gint64 v = 0;
  for (const char *p = start; p < end; p++)
    {
      if (!g_ascii_isdigit (*p))
        return -1;
      v = v * 10 + (*p - '0');
    }
  return v;
}

PanelRange
panel_range_parse (const char *header, gint64 size, gint64 *first, gint64 *last)
{
  if (header == NULL || !g_str_has_prefix (header, "bytes="))
    return PANEL_RANGE_WHOLE;
  const char *spec = header + strlen ("bytes=");
  const char *end = spec + strlen (spec);
  const char *dash = strchr (spec, '-');
  /* A list, a space or any other byte than digits and one dash: ignored,
   * as the RFC allows, so the answer is the whole (audited) body. */
  if (dash == NULL || strchr (spec, ',') != NULL || strchr (dash + 1, '-') != NULL)
    return PANEL_RANGE_WHOLE;
  if (dash == spec)
    {
      gint64 n = parse_number (dash + 1, end);
      if (n < 0)
        return PANEL_RANGE_WHOLE;
      if (n == 0 || size == 0)
        return PANEL_RANGE_UNSATISFIABLE;
      *first = n >= size ? 0 : size - n;
      *last = size - 1;
      return PANEL_RANGE_PART;
    }
  gint64 a = parse_number (spec, dash);
  gint64 b = dash + 1 == end ? G_MAXINT64 : parse_number (dash + 1, end);
  if (a < 0 || b < 0 || b < a)
    return PANEL_RANGE_WHOLE;
  if (a >= size)
    return PANEL_RANGE_UNSATISFIABLE;
  *first = a;
  *last = MIN (b, size - 1);
  return PANEL_RANGE_PART;
}
