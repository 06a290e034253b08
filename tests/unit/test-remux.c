/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Playback's building blocks: the strict Range parser (one range, else
 * the whole body or 416, whatever is sent) and the remux of a recorded
 * segment (H.264 + Opus in Matroska, timestamps continuing from an
 * earlier segment, as the recorder writes them) to fragmented MP4 with
 * every frame kept. */
#include <gio/gio.h>
#include <string.h>

#include "range.h"
#include "remux.h"

static void
test_range (void)
{
  static const struct {
    const char *header;
    gint64 size;
    PanelRange want;
    gint64 first, last;
  } cases[] = {
    { NULL, 100, PANEL_RANGE_WHOLE, 0, 0 },
    { "bytes=0-", 100, PANEL_RANGE_PART, 0, 99 },
    { "bytes=1-", 100, PANEL_RANGE_PART, 1, 99 },
    { "bytes=10-19", 100, PANEL_RANGE_PART, 10, 19 },
    { "bytes=90-1000", 100, PANEL_RANGE_PART, 90, 99 },
    { "bytes=-10", 100, PANEL_RANGE_PART, 90, 99 },
    { "bytes=-99999999", 100, PANEL_RANGE_PART, 0, 99 },
    { "bytes=-0", 100, PANEL_RANGE_UNSATISFIABLE, 0, 0 },
    { "bytes=100-", 100, PANEL_RANGE_UNSATISFIABLE, 0, 0 },
    { "bytes=0-", 0, PANEL_RANGE_UNSATISFIABLE, 0, 0 },
    { "bytes= 0-", 100, PANEL_RANGE_WHOLE, 0, 0 },
    { "bytes=0-1,2-3", 100, PANEL_RANGE_WHOLE, 0, 0 },
    { "bytes=5-2", 100, PANEL_RANGE_WHOLE, 0, 0 },
    { "bytes=-", 100, PANEL_RANGE_WHOLE, 0, 0 },
    { "bytes=1-2-3", 100, PANEL_RANGE_WHOLE, 0, 0 },
    { "bytes=99999999999999999999-", 100, PANEL_RANGE_WHOLE, 0, 0 },
    { "bytes=0x10-", 100, PANEL_RANGE_WHOLE, 0, 0 },
    { "items=0-1", 100, PANEL_RANGE_WHOLE, 0, 0 },
    { "bytes=0-1 ", 100, PANEL_RANGE_WHOLE, 0, 0 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gint64 first = 0, last = 0;
      PanelRange got = panel_range_parse (cases[i].header, cases[i].size, &first, &last);
      g_test_message ("%s", cases[i].header != NULL ? cases[i].header : "(none)");
      g_assert_cmpint (got, ==, cases[i].want);
      if (got == PANEL_RANGE_PART)
        {
          g_assert_cmpint (first, ==, cases[i].first);
          g_assert_cmpint (last, ==, cases[i].last);
        }
    }
}

/* The second segment (2 s to 3 s of the incident: 15 frames) made by
 * gst-launch-1.0 the way the recorder's splitmuxsink makes it, from live
 * sources (3 s of real time). */
static GBytes *
record_segment (const char *dir, gboolean audio)
{
  g_autofree char *pipeline = g_strdup_printf (
    "gst-launch-1.0 -q videotestsrc is-live=true num-buffers=45 ! video/x-raw,width=160,height=120,framerate=15/1 "
    "! timeoverlay ! x264enc speed-preset=ultrafast tune=zerolatency key-int-max=15 ! h264parse "
    "! queue ! mux.video %s splitmuxsink name=mux muxer-factory=matroskamux "
    "max-size-time=2000000000 location=%s/seg%%d.mkv",
    audio
      ? "audiotestsrc is-live=true num-buffers=150 samplesperbuffer=960 ! audioconvert ! opusenc ! queue "
        "! mux.audio_0"
      : "",
    dir);
  g_autoptr (GError) error = NULL;
  int status = 0;
  g_assert_true (g_spawn_command_line_sync (pipeline, NULL, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_autofree char *second = g_build_filename (dir, "seg1.mkv", NULL);
  char *data = NULL;
  gsize size = 0;
  g_assert_true (g_file_get_contents (second, &data, &size, NULL));
  return g_bytes_new_take (data, size);
}

static void
check_remux (gboolean audio)
{
  g_autofree char *dir = g_dir_make_tmp ("ansim-test-remux-XXXXXX", NULL);
  g_autoptr (GBytes) segment = record_segment (dir, audio);
  g_autoptr (GError) error = NULL;
  g_autoptr (PanelRemux) remux = panel_remux_matroska_to_fmp4 (segment, &error);
  g_assert_no_error (error);
  /* 15 frames, none lost or added; the segment's place in the incident. */
  g_assert_cmpuint (remux->video_frames, ==, 15);
  g_assert_cmpint (remux->start_ns, >=, 1900 * G_TIME_SPAN_MILLISECOND * 1000);
  g_assert_cmpint (remux->start_ns, <, 2500 * G_TIME_SPAN_MILLISECOND * 1000);
  g_assert_true (g_str_has_prefix (remux->codecs, "avc1."));
  g_assert_cmpint (g_str_has_suffix (remux->codecs, ",opus"), ==, audio);
  if (audio)
    g_assert_cmpuint (remux->audio_packets, >, 40);
  gsize size = 0;
  const guint8 *mp4 = g_bytes_get_data (remux->mp4, &size);
  /* ftyp, then moov, then fragments (moof), as MSE wants them. */
  g_assert_cmpuint (size, >, 1000);
  g_assert_cmpmem (mp4 + 4, 4, "ftyp", 4);
  g_assert_nonnull (memmem (mp4, MIN (size, 4096), "moov", 4));
  g_assert_nonnull (memmem (mp4, size, "moof", 4));
  /* ffprobe reads the same frames back. */
  g_autofree char *out = g_build_filename (dir, "out.mp4", NULL);
  g_assert_true (g_file_set_contents (out, (const char *) mp4, (gssize) size, NULL));
  g_autofree char *cmd = g_strdup_printf (
    "ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames "
    "-of csv=p=0 %s",
    out);
  g_autofree char *frames = NULL;
  int status = 0;
  g_assert_true (g_spawn_command_line_sync (cmd, &frames, NULL, &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpint (g_ascii_strtoll (frames, NULL, 10), ==, 15);
  g_autofree char *rm = g_strdup_printf ("rm -rf %s", dir);
  g_spawn_command_line_sync (rm, NULL, NULL, NULL, NULL);
}

static void
test_remux_video (void)
{
  check_remux (FALSE);
}

static void
test_remux_video_audio (void)
{
  check_remux (TRUE);
}

static void
test_remux_garbage (void)
{
  g_autoptr (GBytes) junk = g_bytes_new_static ("not a matroska file at all", 26);
  g_autoptr (GError) error = NULL;
  g_autoptr (PanelRemux) remux = panel_remux_matroska_to_fmp4 (junk, &error);
  g_assert_null (remux);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/playback/range", test_range);
  g_test_add_func ("/playback/remux/video", test_remux_video);
  g_test_add_func ("/playback/remux/video-audio", test_remux_video_audio);
  g_test_add_func ("/playback/remux/garbage", test_remux_garbage);
  return g_test_run ();
}
