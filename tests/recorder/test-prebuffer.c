/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The pre-event ring alone, on synthetic buffers: whole GOPs, the head at
 * or before now - pre_event, start selection for a trigger in the past,
 * audio trimming, and the memory bound. */
#include "recorder-private.h"

#define MS (GST_MSECOND)

typedef struct {
  GPtrArray *seen; /* GstBuffer*, refs */
  GArray *streams;
} Replay;

static void
collect (RecorderStream stream, GstBuffer *buffer, gpointer user_data)
{
  Replay *r = user_data;
  g_ptr_array_add (r->seen, gst_buffer_ref (buffer));
  g_array_append_val (r->streams, stream);
}

static GstBuffer *
frame (GstClockTime pts, gboolean key, gsize size)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, size, NULL);
  GST_BUFFER_PTS (b) = pts;
  GST_BUFFER_DURATION (b) = 40 * MS;
  if (!key)
    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DELTA_UNIT);
  return b;
}

/* 25 fps, a keyframe every second, pushed "live" (now = pts + 10 ms). */
static void
feed (RecorderRing *ring, GstClockTime from, GstClockTime to, gsize size)
{
  for (GstClockTime t = from; t < to; t += 40 * MS)
    {
      recorder_ring_push (ring, RECORDER_STREAM_VIDEO, frame (t, t % GST_SECOND == 0, size),
                          t + 10 * MS);
      if (t % (20 * MS) == 0)
        recorder_ring_push (ring, RECORDER_STREAM_AUDIO, frame (t + 5 * MS, TRUE, 100),
                            t + 10 * MS);
    }
}

static void
test_window (void)
{
  g_autoptr (RecorderRing) ring = recorder_ring_new (5 * GST_SECOND, 1 << 30);
  RecorderRingStats st;

  /* Starts at a delta frame: dropped until the first keyframe. */
  recorder_ring_push (ring, RECORDER_STREAM_VIDEO, frame (0, FALSE, 10), 0);
  recorder_ring_get_stats (ring, &st);
  g_assert_cmpuint (st.n_buffers, ==, 0);

  feed (ring, GST_SECOND, 20 * GST_SECOND, 1000);
  recorder_ring_get_stats (ring, &st);
  /* now = 19.97 s: the head is the last keyframe at or before 14.97 s. */
  Replay r = { g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref),
               g_array_new (FALSE, FALSE, sizeof (RecorderStream)) };
  GstClockTime head = recorder_ring_foreach (ring, GST_CLOCK_TIME_NONE, collect, &r);
  g_assert_cmpuint (head, ==, 14 * GST_SECOND);
  g_assert_cmpuint (st.n_gops, ==, 6);
  g_assert_cmpuint (st.duration, ==, 19960 * MS - 14 * GST_SECOND + 5 * MS);
  /* Replay: a keyframe first, then in push order with no gap. */
  GstBuffer *first = r.seen->pdata[0];
  g_assert_false (GST_BUFFER_FLAG_IS_SET (first, GST_BUFFER_FLAG_DELTA_UNIT));
  GstClockTime expect = 14 * GST_SECOND;
  guint n_video = 0;
  for (guint i = 0; i < r.seen->len; i++)
    {
      GstBuffer *b = r.seen->pdata[i];
      if (g_array_index (r.streams, RecorderStream, i) == RECORDER_STREAM_AUDIO)
        {
          g_assert_cmpuint (GST_BUFFER_PTS (b), >=, head);
          continue;
        }
      g_assert_cmpuint (GST_BUFFER_PTS (b), ==, expect);
      expect += 40 * MS;
      n_video++;
    }
  g_assert_cmpuint (n_video, ==, 6 * 25);

  /* A trigger at 18.5 s with 5 s: from the keyframe at 13 s? Trimmed
   * already; the head (14 s) is the best there is. At 19.5 s: from 14 s.
   * from = 16.2 s: the keyframe at 16 s. */
  g_ptr_array_set_size (r.seen, 0);
  g_array_set_size (r.streams, 0);
  g_assert_cmpuint (recorder_ring_foreach (ring, 16200 * MS, collect, &r), ==, 16 * GST_SECOND);
  g_assert_cmpuint (GST_BUFFER_PTS ((GstBuffer *) r.seen->pdata[0]), ==, 16 * GST_SECOND);
  g_assert_cmpuint (recorder_ring_foreach (ring, 16 * GST_SECOND, collect, &r), ==,
                    16 * GST_SECOND);
  g_assert_cmpuint (recorder_ring_foreach (ring, 10 * GST_SECOND, collect, &r), ==,
                    14 * GST_SECOND);
  g_ptr_array_unref (r.seen);
  g_array_unref (r.streams);
}

/* Sound encoded faster than the picture arrives before the keyframe it
 * follows; it must still be replayed, after the keyframe. */
static void
test_audio_before_keyframe (void)
{
  g_autoptr (RecorderRing) ring = recorder_ring_new (10 * GST_SECOND, 1 << 30);
  Replay r = { g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref),
               g_array_new (FALSE, FALSE, sizeof (RecorderStream)) };

  recorder_ring_push (ring, RECORDER_STREAM_VIDEO, frame (0, TRUE, 10), 0);
  recorder_ring_push (ring, RECORDER_STREAM_AUDIO, frame (990 * MS, TRUE, 10), 1000 * MS);
  recorder_ring_push (ring, RECORDER_STREAM_AUDIO, frame (1010 * MS, TRUE, 10), 1020 * MS);
  recorder_ring_push (ring, RECORDER_STREAM_VIDEO, frame (GST_SECOND, TRUE, 10), 1030 * MS);
  recorder_ring_push (ring, RECORDER_STREAM_AUDIO, frame (1030 * MS, TRUE, 10), 1040 * MS);
  g_assert_cmpuint (recorder_ring_foreach (ring, GST_SECOND, collect, &r), ==, GST_SECOND);
  g_assert_cmpuint (r.seen->len, ==, 3);
  g_assert_cmpuint (GST_BUFFER_PTS ((GstBuffer *) r.seen->pdata[0]), ==, GST_SECOND);
  g_assert_cmpuint (GST_BUFFER_PTS ((GstBuffer *) r.seen->pdata[1]), ==, 1010 * MS);
  g_assert_cmpuint (GST_BUFFER_PTS ((GstBuffer *) r.seen->pdata[2]), ==, 1030 * MS);
  g_ptr_array_unref (r.seen);
  g_array_unref (r.streams);
}

/* 120 s of 2 Mbit/s: held in full, memory as expected, and the byte cap
 * trims whole GOPs from the head when a stream runs far over its rate. */
static void
test_memory (void)
{
  /* 2 Mbit/s at 25 fps = 10 000 bytes a frame. */
  g_autoptr (RecorderRing) ring = recorder_ring_new (120 * GST_SECOND, 64 * 1024 * 1024);
  RecorderRingStats st;

  feed (ring, 0, 130 * GST_SECOND, 10000);
  recorder_ring_get_stats (ring, &st);
  g_assert_cmpuint (st.duration, >=, 120 * GST_SECOND);
  g_assert_cmpuint (st.duration, <, 122 * GST_SECOND);
  g_assert_cmpuint (st.bytes, >=, 120 * 25 * 10000);
  g_assert_cmpuint (st.bytes, <, 123 * 25 * 10000 + 123 * 50 * 100);
  g_assert_cmpuint (st.n_dropped_for_cap, ==, 0);

  /* Ten times the rate: the cap holds, the newest GOP stays. */
  feed (ring, 130 * GST_SECOND, 160 * GST_SECOND, 100000);
  recorder_ring_get_stats (ring, &st);
  g_assert_cmpuint (st.bytes, <=, 64 * 1024 * 1024);
  g_assert_cmpuint (st.n_dropped_for_cap, >, 0);
  g_assert_cmpuint (st.n_gops, >=, 1);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/recorder/prebuffer/window", test_window);
  g_test_add_func ("/recorder/prebuffer/memory", test_memory);
  g_test_add_func ("/recorder/prebuffer/audio-before-keyframe", test_audio_before_keyframe);
  return g_test_run ();
}
