/* SPDX-License-Identifier: GPL-3.0-or-later */
/* PUT throughput of the panel's S3 client: COUNT objects of SIZE bytes to a
 * gateway, as the evidence store sends segments; bench/run-s3 sets up the
 * gateway and the curl baseline. Prints "mbps=… seconds=… bytes=…". */
#include "s3.h"

#include <stdlib.h>
#include <string.h>

int
main (int argc, char **argv)
{
  g_autofree char *endpoint = NULL, *bucket = NULL, *credentials = NULL;
  gint size_kib = 2048, count = 32, part_mib = 0;
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- S3 PUT throughput");
  GOptionEntry entries[] = {
    { "endpoint", 0, 0, G_OPTION_ARG_STRING, &endpoint, "gateway URL", "URL" },
    { "bucket", 0, 0, G_OPTION_ARG_STRING, &bucket, "bucket", "NAME" },
    { "credentials", 0, 0, G_OPTION_ARG_FILENAME, &credentials, "credentials file", "FILE" },
    { "size-kib", 0, 0, G_OPTION_ARG_INT, &size_kib, "object size in KiB [2048]", "N" },
    { "count", 0, 0, G_OPTION_ARG_INT, &count, "objects [32]", "N" },
    { "part-mib", 0, 0, G_OPTION_ARG_INT, &part_mib,
      "multipart with parts of N MiB (0: single PUT)", "N" },
    { NULL }
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (PanelS3) s3 = NULL;
  g_autoptr (GBytes) data = NULL;
  guint8 *bytes;
  gsize size;
  gint64 start, elapsed;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || endpoint == NULL || bucket == NULL
      || credentials == NULL || size_kib <= 0 || count <= 0)
    {
      g_printerr ("bench-s3: %s\n",
                  error ? error->message : "--endpoint, --bucket and --credentials are needed");
      return 2;
    }
  {
    PanelS3Config c = {
      .endpoint = endpoint,
      .bucket = bucket,
      .credentials_file = credentials,
      .part_size = part_mib > 0 ? (guint64) part_mib * 1024 * 1024 : 0,
      .multipart_threshold = part_mib > 0 ? (guint64) part_mib * 1024 * 1024 : G_MAXUINT64,
    };

    s3 = panel_s3_new (&c, &error);
  }
  if (s3 == NULL)
    {
      g_printerr ("bench-s3: %s\n", error->message);
      return 1;
    }
  size = (gsize) size_kib * 1024;
  bytes = g_malloc (size);
  for (gsize i = 0; i < size; i++)
    bytes[i] = (guint8) g_random_int ();
  data = g_bytes_new_take (bytes, size);

  /* One warm-up PUT opens the connection, as the panel's would be. */
  if (!panel_s3_put (s3, "bench/warm-up", data, NULL, NULL, &error))
    {
      g_printerr ("bench-s3: %s\n", error->message);
      return 1;
    }
  start = g_get_monotonic_time ();
  for (gint i = 0; i < count; i++)
    {
      /* Few distinct keys: the gateway's memory store does not fill up. */
      g_autofree char *key = g_strdup_printf ("bench/object-%d", i % 4);

      if (!panel_s3_put (s3, key, data, NULL, NULL, &error))
        {
          g_printerr ("bench-s3: %s\n", error->message);
          return 1;
        }
    }
  elapsed = g_get_monotonic_time () - start;
  g_print ("mbps=%.1f seconds=%.3f bytes=%" G_GUINT64_FORMAT "\n", (double) size * count / elapsed,
           elapsed / 1e6, (guint64) size * count);
  return 0;
}
