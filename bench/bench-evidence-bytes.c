/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Evidence bytes per segment over a long incident (issue 19): seals N
 * segments into a real incident folder with the evidence library in the
 * recorder's crash-safe order (temp file, manifest and signature,
 * checkpoint, rename, each fsynced), once as format version 2 and once as
 * version 3, and prints per segment at segment 10 and at the last: the
 * bytes the desk wrote (segment, manifest, signature, checkpoint) and the
 * sealing time; then the evidence overhead per hour of video as the
 * uploader sends it: every manifest version for version 2, and for
 * version 3 per segment only the checkpoint request body (the uploader's
 * own ansim_checkpoint_upload_body()) plus the whole manifest once at the
 * close; the same is what the panel stores per segment. The segment's
 * media is small here; the video bytes per hour are computed from --kbps. */
#include "checkpoint.h"
#include "durable.h"
#include "evidence.h"

#include <glib/gstdio.h>

#include <stdio.h>
#include <string.h>

static gint64
written_size (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  GStatBuf st;

  return g_stat (path, &st) == 0 ? st.st_size : 0;
}

int
main (int argc, char **argv)
{
  gint n = 1800, kbps = 600, segment_s = 2, version = 0;
  GOptionEntry entries[] = {
    { "segments", 0, 0, G_OPTION_ARG_INT, &n, "Segments per incident (1800: 1 h of 2 s)", "N" },
    { "kbps", 0, 0, G_OPTION_ARG_INT, &kbps, "Video bit rate for the overhead (600)", "KBPS" },
    { "segment-seconds", 0, 0, G_OPTION_ARG_INT, &segment_s, "Segment length (2)", "S" },
    { "version", 0, 0, G_OPTION_ARG_INT, &version, "Only this format version (2 or 3)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- evidence bytes per segment");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || n < 11)
    {
      g_printerr ("bench-evidence-bytes: %s\n", error ? error->message : "--segments below 11");
      return 2;
    }
  g_autofree char *root = g_dir_make_tmp ("bench-evidence-XXXXXX", &error);
  g_autofree char *key_path = g_build_filename (root, "device.pem", NULL);
  g_autoptr (AnsimDeviceKey) key = ansim_device_key_load_or_create (key_path, &error);
  g_autoptr (AnsimAgeIdentity) id = ansim_age_identity_generate (&error);
  g_autoptr (AnsimAgeRecipient) rcpt = id ? ansim_age_identity_to_recipient (id) : NULL;
  if (key == NULL || rcpt == NULL)
    goto failed;
  guint8 media[1024];
  memset (media, 0x5a, sizeof media);
  gint64 video_per_segment = (gint64) kbps * 1000 / 8 * segment_s;

  for (guint v = 2; v <= 3; v++)
    {
      if (version != 0 && (guint) version != v)
        continue;
      g_autofree char *dir = g_strdup_printf ("%s/v%u", root, v);
      AnsimManifestInfo info = {
        .device_id = "bench-board",
        .desk_id = "desk-01",
        .trigger_name = "desk-button",
        .trigger_kind = ANSIM_TRIGGER_BUTTON,
        .source = "cam",
        .format_version = v,
        .opened_wall_us = g_get_real_time (),
        .opened_mono_us = g_get_monotonic_time (),
      };
      g_autoptr (AnsimManifest) m = ansim_manifest_new (&info, key, &error);
      if (m == NULL || !ansim_manifest_write (m, dir, key, &error))
        goto failed;
      gint64 total_manifests = 0, total_evidence = 0, total_wire = 0, wire_at_10 = 0;
      for (gint i = 0; i < n; i++)
        {
          gint64 t0 = g_get_monotonic_time ();
          if (!ansim_manifest_seal_segment_durable (
                m, dir, key, &rcpt, 1, media, sizeof media,
                info.opened_wall_us + (gint64) i * segment_s * G_USEC_PER_SEC,
                info.opened_mono_us + (gint64) i * segment_s * G_USEC_PER_SEC,
                (gint64) segment_s * G_USEC_PER_SEC, &error))
            goto failed;
          gint64 took = g_get_monotonic_time () - t0;
          gint64 manifest = written_size (dir, ANSIM_MANIFEST_NAME) + ANSIM_SIGNATURE_SIZE;
          gint64 checkpoint = 0, wire = manifest;
          if (v >= 3)
            {
              g_autofree char *name = ansim_checkpoint_file_name ((guint64) i + 1);
              g_autofree char *cdir = g_build_filename (dir, ANSIM_CHECKPOINT_DIR, NULL);
              g_autofree char *path = g_build_filename (cdir, name, NULL);
              g_autofree char *sig_path = g_strconcat (path, ".sig", NULL);
              g_autofree char *text_data = NULL, *sig_data = NULL;
              gsize text_len = 0, sig_len = 0;
              if (!g_file_get_contents (path, &text_data, &text_len, &error)
                  || !g_file_get_contents (sig_path, &sig_data, &sig_len, &error))
                goto failed;
              g_autoptr (GBytes) text = g_bytes_new (text_data, text_len);
              g_autoptr (GBytes) sig = g_bytes_new (sig_data, sig_len);
              checkpoint = g_bytes_get_size (text) + g_bytes_get_size (sig);
              /* What the uploader sends for this segment besides the segment. */
              g_autoptr (GBytes) body =
                ansim_checkpoint_upload_body (text, sig, m, (guint) i, (guint) i + 1);
              wire = g_bytes_get_size (body);
            }
          total_manifests += manifest;
          total_evidence += manifest + checkpoint;
          total_wire += wire;
          if (i + 1 == 10)
            wire_at_10 = wire;
          if (i + 1 == 10 || i + 1 == n)
            printf ("version=%u segment=%d manifest_bytes=%" G_GINT64_FORMAT
                    " checkpoint_bytes=%" G_GINT64_FORMAT " segment_file_bytes=%" G_GINT64_FORMAT
                    " upload_evidence_bytes=%" G_GINT64_FORMAT " seal_ms=%.2f\n",
                    v, i + 1, manifest, checkpoint,
                    written_size (dir, ansim_manifest_get_entry (m, (guint) i)->file), wire,
                    took / 1e3);
          if (i + 1 == n)
            printf ("version=%u upload_evidence_last_over_10=%.3f\n", v,
                    (double) wire / (double) wire_at_10);
        }
      gint64 video = video_per_segment * n;
      /* Version 3 sends the whole manifest once, at the close. */
      if (v >= 3)
        total_wire += written_size (dir, ANSIM_MANIFEST_NAME) + ANSIM_SIGNATURE_SIZE;
      printf ("version=%u segments=%d manifest_bytes_total=%" G_GINT64_FORMAT
              " desk_evidence_bytes_total=%" G_GINT64_FORMAT
              " upload_evidence_bytes_total=%" G_GINT64_FORMAT " video_bytes=%" G_GINT64_FORMAT
              " upload_over_video=%.3f\n",
              v, n, total_manifests, total_evidence, total_wire, video,
              (double) (video + total_wire) / (double) video);
      fflush (stdout);
    }
  ansim_remove_tree (root, NULL);
  return 0;

failed:
  g_printerr ("bench-evidence-bytes: %s\n", error->message);
  if (root != NULL)
    ansim_remove_tree (root, NULL);
  return 1;
}
