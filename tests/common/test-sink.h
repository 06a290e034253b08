/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A sink for the streaming decryptors in tests and fuzz targets: counts
 * what is released and hashes it, so that a run can be compared with the
 * expected plaintext without keeping it. Header-only so that fuzz targets,
 * which link nothing else of the tests, can use it. */
#pragma once

#include <glib.h>

typedef struct {
  GChecksum *sha256;
  gsize released;
} TestSink;

static inline gboolean
test_sink_write (const guint8 *data, gsize len, gpointer user_data, G_GNUC_UNUSED GError **error)
{
  TestSink *sink = user_data;

  g_checksum_update (sink->sha256, data, len);
  sink->released += len;
  return TRUE;
}
