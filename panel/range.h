/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The HTTP Range header as the panel honours it (RFC 9110 §14): one byte
 * range or none. Anything else is answered whole (200) or, when the one
 * range lies beyond the end, with 416; never a multipart answer. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  PANEL_RANGE_WHOLE,         /* no Range, or one the panel ignores: 200 with everything */
  PANEL_RANGE_PART,          /* 206 with bytes [*first, *last] */
  PANEL_RANGE_UNSATISFIABLE, /* 416 with Content-Range: bytes *|size */
} PanelRange;

/* header may be NULL. Accepted: "bytes=A-B", "bytes=A-", "bytes=-N"
 * (decimal, no spaces, no list). */
PanelRange panel_range_parse (const char *header, gint64 size, gint64 *first, gint64 *last);

G_END_DECLS
