/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Test-only generator: seals media files into an incident folder with the
 * evidence library, as the recorder does, and re-signs edited manifests. */
#include "durable.h"
#include "evidence.h"

#include <stdio.h>
#include <string.h>

static int
usage (void)
{
  g_printerr (
    "usage: make-incident seal --dir DIR --device-key KEY --recipient age1… [--recipient …]\n"
    "                          [--previous INCIDENT] [--desk ID] [--segment-us US]\n"
    "                          [--gap-after N --gap-us US --gap-reason TEXT] [--open]\n"
    "                          [--stream-gap-after N --stream-gap STREAM]\n"
    "                          [--source NAME --format-version N --incident-id UUID]\n"
    "                          [--opened-wall-us US --opened-mono-us US]\n"
    "                          MEDIA...\n"
    "       make-incident resign --device-key KEY DIR\n"
    "seal writes DIR/manifest.json (+ .sig) after every step, as the recorder does.\n"
    "resign signs DIR/manifest.json as it is now (to forge a well-signed but edited\n"
    "manifest in tests).\n");
  return 2;
}

static gboolean
seal_file (AnsimManifest *m, const char *dir, GPtrArray *recipients, const char *path, gint64 wall,
           gint64 mono, gint64 duration, GError **error)
{
  g_autoptr (AnsimSegmentSealer) sealer = ansim_segment_sealer_new (
    m, dir, (AnsimAgeRecipient **) recipients->pdata, recipients->len, error);
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileInputStream) in = NULL;
  guint8 buf[50000]; /* not a chunk multiple, like a muxer's writes */

  if (sealer == NULL || (in = g_file_read (file, NULL, error)) == NULL)
    return FALSE;
  for (;;)
    {
      gssize n = g_input_stream_read (G_INPUT_STREAM (in), buf, sizeof buf, NULL, error);
      if (n < 0)
        return FALSE;
      if (n == 0)
        break;
      if (!ansim_segment_sealer_write (sealer, buf, n, error))
        return FALSE;
    }
  return ansim_segment_sealer_finish (sealer, wall, mono, duration, error);
}

static int
seal (int argc, char **argv)
{
  g_autofree char *dir = NULL, *key_path = NULL, *previous = NULL, *gap_reason = NULL;
  g_autofree char *desk = NULL, *source = NULL, *incident_id = NULL, *stream_gap = NULL;
  g_auto (GStrv) recipient_texts = NULL;
  gint64 segment_us = 2000000, gap_us = 1500000, opened_wall = 0, opened_mono = 0;
  int gap_after = -1, stream_gap_after = -1, format_version = 0;
  gboolean leave_open = FALSE;
  GOptionEntry entries[] = {
    { "dir", 0, 0, G_OPTION_ARG_FILENAME, &dir, "Incident folder", "DIR" },
    { "device-key", 0, 0, G_OPTION_ARG_FILENAME, &key_path, "Device key (created if missing)",
      "KEY" },
    { "recipient", 0, 0, G_OPTION_ARG_STRING_ARRAY, &recipient_texts, "age recipient", "R" },
    { "previous", 0, 0, G_OPTION_ARG_FILENAME, &previous, "Previous incident folder", "DIR" },
    { "desk", 0, 0, G_OPTION_ARG_STRING, &desk, "Desk id", "ID" },
    { "segment-us", 0, 0, G_OPTION_ARG_INT64, &segment_us, "Duration of each segment", "US" },
    { "gap-after", 0, 0, G_OPTION_ARG_INT, &gap_after, "Add a gap after this many segments", "N" },
    { "gap-us", 0, 0, G_OPTION_ARG_INT64, &gap_us, "Duration of the gap", "US" },
    { "gap-reason", 0, 0, G_OPTION_ARG_STRING, &gap_reason, "Reason of the gap", "TEXT" },
    { "open", 0, 0, G_OPTION_ARG_NONE, &leave_open, "Leave the incident open", NULL },
    { "stream-gap-after", 0, 0, G_OPTION_ARG_INT, &stream_gap_after,
      "Add a one-stream gap over the last half of this segment (1 = the first)", "N" },
    { "stream-gap", 0, 0, G_OPTION_ARG_STRING, &stream_gap, "Its stream (video, audio)", "STREAM" },
    { "source", 0, 0, G_OPTION_ARG_STRING, &source, "Capture source (none: format version 1)",
      "NAME" },
    { "format-version", 0, 0, G_OPTION_ARG_INT, &format_version, "Format version to write", "N" },
    { "incident-id", 0, 0, G_OPTION_ARG_STRING, &incident_id, "Incident id", "UUID" },
    { "opened-wall-us", 0, 0, G_OPTION_ARG_INT64, &opened_wall, "Wall time of the trigger", "US" },
    { "opened-mono-us", 0, 0, G_OPTION_ARG_INT64, &opened_mono, "Monotonic time of the trigger",
      "US" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("MEDIA...");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("make-incident: %s\n", error->message);
      return 2;
    }
  if (dir == NULL || key_path == NULL || recipient_texts == NULL)
    return usage ();

  g_autoptr (AnsimDeviceKey) key = ansim_device_key_load_or_create (key_path, &error);
  g_autoptr (GPtrArray) recipients =
    g_ptr_array_new_with_free_func ((GDestroyNotify) ansim_age_recipient_free);
  g_autofree char *previous_hash = NULL;
  g_autoptr (AnsimManifest) m = NULL;
  if (key == NULL)
    goto failed;
  for (guint i = 0; recipient_texts[i] != NULL; i++)
    {
      AnsimAgeRecipient *r = ansim_age_recipient_parse (recipient_texts[i], &error);
      if (r == NULL)
        goto failed;
      g_ptr_array_add (recipients, r);
    }
  if (previous != NULL)
    {
      g_autofree char *path = g_build_filename (previous, ANSIM_MANIFEST_NAME, NULL);
      g_autofree char *data = NULL;
      gsize len = 0;
      if (!g_file_get_contents (path, &data, &len, &error))
        goto failed;
      previous_hash = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (guchar *) data, len);
    }

  /* The trigger two segments after the start: the pre-event part. */
  gint64 wall = opened_wall != 0 ? opened_wall : g_get_real_time ();
  gint64 mono = opened_mono != 0 ? opened_mono : g_get_monotonic_time ();
  gint64 pre_event = MIN (2, argc - 1) * segment_us;
  AnsimManifestInfo info = {
    .device_id = "test-board",
    .desk_id = desk != NULL ? desk : "desk-01",
    .trigger_name = "desk-button",
    .trigger_kind = ANSIM_TRIGGER_BUTTON,
    .opened_wall_us = wall,
    .opened_mono_us = mono,
    .previous_manifest_sha256 = previous_hash,
    .source = source,
    .format_version = (guint) format_version,
    .incident_id = incident_id,
  };
  m = ansim_manifest_new (&info, key, &error);
  if (m == NULL || !ansim_manifest_add_event (m, "press", wall, mono, &error)
      || !ansim_manifest_add_event (m, "notice-given", wall + 1000, mono + 1000, &error)
      || !ansim_manifest_write (m, dir, key, &error))
    goto failed;
  wall -= pre_event;
  mono -= pre_event;
  for (int i = 1; i < argc; i++)
    {
      if (gap_after == i - 1)
        {
          if (!ansim_manifest_add_gap (m, wall, mono, gap_us,
                                       gap_reason != NULL ? gap_reason : "camera-lost", &error)
              || !ansim_manifest_write (m, dir, key, &error))
            goto failed;
          wall += gap_us;
          mono += gap_us;
        }
      if (!seal_file (m, dir, recipients, argv[i], wall, mono, segment_us, &error)
          || !ansim_manifest_write (m, dir, key, &error))
        goto failed;
      /* Written when the stream is back, after the segment it overlaps. */
      if (stream_gap_after == i
          && (!ansim_manifest_add_stream_gap (
                m, wall + segment_us / 2, mono + segment_us / 2, segment_us / 2,
                stream_gap != NULL ? stream_gap : "audio", "microphone-lost", &error)
              || !ansim_manifest_write (m, dir, key, &error)))
        goto failed;
      wall += segment_us;
      mono += segment_us;
    }
  if (!leave_open
      && (!ansim_manifest_close (m, "post-event", wall, mono, &error)
          || !ansim_manifest_write (m, dir, key, &error)))
    goto failed;
  g_print ("%s %s\n", ansim_manifest_get_incident_id (m), ansim_manifest_get_written_sha256 (m));
  return 0;

failed:
  g_printerr ("make-incident: %s\n", error->message);
  return 1;
}

static int
resign (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimDeviceKey) key = NULL;
  g_autoptr (GBytes) sig = NULL;
  g_autofree char *data = NULL, *manifest = NULL, *sig_path = NULL;
  gsize len = 0;

  if (argc != 4 || !g_str_equal (argv[1], "--device-key"))
    return usage ();
  manifest = g_build_filename (argv[3], ANSIM_MANIFEST_NAME, NULL);
  sig_path = g_build_filename (argv[3], ANSIM_MANIFEST_SIG_NAME, NULL);
  if ((key = ansim_device_key_load (argv[2], &error)) == NULL
      || !g_file_get_contents (manifest, &data, &len, &error)
      || (sig = ansim_device_key_sign (key, data, len, &error)) == NULL
      || !ansim_file_write_durable (sig_path, g_bytes_get_data (sig, NULL), g_bytes_get_size (sig),
                                    0644, ANSIM_WRITE_REPLACE, &error))
    {
      g_printerr ("make-incident: %s\n", error->message);
      return 1;
    }
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc >= 2 && g_str_equal (argv[1], "seal"))
    return seal (argc - 1, argv + 1);
  if (argc >= 2 && g_str_equal (argv[1], "resign"))
    return resign (argc - 1, argv + 1);
  return usage ();
}
