/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the segmenter: encoded buffers in, independently
 * playable Matroska segments out, all in memory.
 *
 *   appsrc (H.264) ─┐
 *                   ├─ splitmuxsink muxer-factory=matroskamux
 *   appsrc (Opus) ──┘    sink-factory=giostreamsink (one GMemoryOutputStream
 *                        per segment, set in "sink-added")
 *
 * The segmenter picks the cuts itself: at the first video keyframe
 * segment_seconds or more after the last cut it asks splitmuxsink to split
 * there ("split-at-running-time"), so it knows exactly where each segment
 * starts and ends (the running-time in splitmuxsink's messages is not
 * that). splitmuxsink posts "splitmuxsink-fragment-closed" naming the sink,
 * in order; its stream then holds the whole file. matroskamux keeps
 * timestamps continuous across files. */
#include "recorder-private.h"

#include <gio/gio.h>
#include <gst/app/gstappsrc.h>

typedef struct {
  GstClockTime start;        /* of this segment */
  GstClockTime previous_end; /* end of the segment before (earlier after a hole) */
} Cut;

struct _RecorderSegmenter {
  char *name;
  GstElement *pipeline;
  GstElement *appsrc[RECORDER_N_STREAMS];
  guint bus_watch;
  RecorderSegmentFunc segment_func;
  RecorderSegmenterDoneFunc done_func;
  gpointer user_data;
  GstElement *splitmux; /* owned by the pipeline */
  GstClockTime segment_time;
  GMutex lock;       /* guards the members below */
  GstClockTime zero; /* PTS of the first video keyframe pushed */
  GArray *cuts;      /* Cut: where segment i starts, segmenter time */
  guint n_sinks;     /* sinks created so far: segment i has sink i */
  GstClockTime last_cut;
  GstClockTime end;       /* end of the newest video frame pushed */
  GstClockTime audio_end; /* end of the newest sound pushed, or NONE */
  guint64 n_dropped;      /* delta frames dropped after holes */
  /* main context only */
  GHashTable *closed; /* segment number -> its sink, closed but not delivered */
  guint next_delivery;
  gboolean finished;
  gboolean done;
  GMainContext *context; /* where the bus is watched */
  GSource *finish_watch; /* after finish: the muxer's end of stream overdue? */
  gint64 finished_at_us;
  gboolean lose_eos; /* test hook: ANSIM_TEST_SEGMENTER_EOS=lost */
};

#define STREAM_KEY "ansim-memory-stream"
/* Video this far past the last frame's end is a hole (a source failure):
 * the next segment starts after it, so the manifest can show the gap. */
#define HOLE (500 * GST_MSECOND)
#define CUT_SLACK (100 * GST_MSECOND)
/* splitmuxsink with async-finalize sometimes posts no end of stream once
 * every segment is finished (seen under load, GStreamer 1.22): an
 * incident must close anyway. After EOS_GRACE_S with every segment
 * delivered it is done; after EOS_GIVE_UP_S it is done with an error
 * naming the segment that never came. */
#define EOS_GRACE_S 5
#define EOS_GIVE_UP_S 60

/* Streaming thread: each new segment gets its own memory stream. */
#define NUMBER_KEY "ansim-segment-number"

static void
on_sink_added (GstElement *splitmux, GstElement *sink, gpointer user_data)
{
  (void) splitmux;
  RecorderSegmenter *seg = user_data;
  GOutputStream *stream = g_memory_output_stream_new_resizable ();

  g_object_set (sink, "stream", stream, "sync", FALSE, NULL);
  g_object_set_data_full (G_OBJECT (sink), STREAM_KEY, stream, g_object_unref);
  g_mutex_lock (&seg->lock);
  g_object_set_data (G_OBJECT (sink), NUMBER_KEY, GUINT_TO_POINTER (seg->n_sinks++));
  g_mutex_unlock (&seg->lock);
}

static void
deliver_fragment (RecorderSegmenter *seg, GstElement *sink, guint number)
{
  GOutputStream *stream = g_object_get_data (G_OBJECT (sink), STREAM_KEY);

  g_mutex_lock (&seg->lock);
  GstClockTime begin = number < seg->cuts->len ? g_array_index (seg->cuts, Cut, number).start
                                               : seg->end;
  /* The last segment ends with the last frame (at EOS), or with the
   * sound if it went on while the picture was lost. */
  GstClockTime last = seg->audio_end != GST_CLOCK_TIME_NONE && seg->end != GST_CLOCK_TIME_NONE
                          && seg->audio_end > seg->end + HOLE
                        ? seg->audio_end
                        : seg->end;
  GstClockTime end =
    number + 1 < seg->cuts->len ? g_array_index (seg->cuts, Cut, number + 1).previous_end : last;
  g_mutex_unlock (&seg->lock);

  g_output_stream_close (stream, NULL, NULL);
  g_autoptr (GBytes) media =
    g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (stream));
  g_object_set_data (G_OBJECT (sink), STREAM_KEY, NULL);
  seg->segment_func (media, seg->zero + begin, end > begin ? end - begin : 0, seg->user_data);
}

/* With async-finalize, segments finish in parallel: a short last one can
 * close before the one before it. Deliver them in order. */
static void
on_fragment_closed (RecorderSegmenter *seg, const GstStructure *s)
{
  const GValue *v = gst_structure_get_value (s, "sink");
  GstElement *sink = v != NULL ? g_value_get_object (v) : NULL;

  if (sink == NULL || g_object_get_data (G_OBJECT (sink), STREAM_KEY) == NULL)
    {
      g_warning ("source %s: a closed segment has no memory stream, ignoring", seg->name);
      return;
    }
  guint number = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (sink), NUMBER_KEY));
  g_hash_table_insert (seg->closed, GUINT_TO_POINTER (number), gst_object_ref (sink));
  GstElement *next;
  while ((next = g_hash_table_lookup (seg->closed, GUINT_TO_POINTER (seg->next_delivery))) != NULL)
    {
      deliver_fragment (seg, next, seg->next_delivery);
      g_hash_table_remove (seg->closed, GUINT_TO_POINTER (seg->next_delivery));
      seg->next_delivery++;
    }
}

static void
finish_done (RecorderSegmenter *seg, const GError *error)
{
  if (seg->done)
    return;
  seg->done = TRUE;
  seg->done_func (error, seg->user_data);
}

/* Every started segment delivered (segment i has sink i). */
static gboolean
all_delivered (RecorderSegmenter *seg)
{
  g_mutex_lock (&seg->lock);
  guint started = seg->n_sinks;
  g_mutex_unlock (&seg->lock);
  return seg->next_delivery >= started && g_hash_table_size (seg->closed) == 0;
}

static gboolean
on_finish_watch (gpointer user_data)
{
  RecorderSegmenter *seg = user_data;
  gint64 waited_s = (g_get_monotonic_time () - seg->finished_at_us) / G_USEC_PER_SEC;

  if (seg->done)
    ;
  else if (waited_s >= EOS_GRACE_S && all_delivered (seg))
    {
      g_warning ("source %s: the muxer sent no end of stream %d s after the last of its %u "
                 "segment(s); the incident ends with them",
                 seg->name, EOS_GRACE_S, seg->next_delivery);
      finish_done (seg, NULL);
    }
  else if (waited_s >= EOS_GIVE_UP_S)
    {
      g_autoptr (GError) error =
        g_error_new (GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
                     "the muxer did not finish segment %u within %d s of the end",
                     seg->next_delivery, EOS_GIVE_UP_S);
      g_warning ("source %s: %s", seg->name, error->message);
      finish_done (seg, error);
    }
  else
    return G_SOURCE_CONTINUE;
  seg->finish_watch = NULL;
  return G_SOURCE_REMOVE;
}

static gboolean
on_bus_message (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  (void) bus;
  RecorderSegmenter *seg = user_data;

  switch (GST_MESSAGE_TYPE (msg))
    {
    case GST_MESSAGE_ELEMENT:
      if (gst_message_has_name (msg, "splitmuxsink-fragment-closed"))
        on_fragment_closed (seg, gst_message_get_structure (msg));
      break;
    case GST_MESSAGE_EOS:
      if (!seg->lose_eos)
        finish_done (seg, NULL);
      break;
    case GST_MESSAGE_ERROR:
      {
        g_autoptr (GError) error = NULL;
        g_autofree char *debug = NULL;
        gst_message_parse_error (msg, &error, &debug);
        g_warning ("source %s: segmenter failed: %s (%s)", seg->name, error->message,
                   debug != NULL ? debug : "");
        finish_done (seg, error);
        break;
      }
    default: break;
    }
  return G_SOURCE_CONTINUE;
}

RecorderSegmenter *
recorder_segmenter_new (const char *name, GstCaps *video_caps, GstCaps *audio_caps,
                        guint segment_seconds, RecorderSegmentFunc segment_func,
                        RecorderSegmenterDoneFunc done_func, gpointer user_data, GError **error)
{
  g_return_val_if_fail (video_caps != NULL, NULL);

  g_autoptr (RecorderSegmenter) seg = g_new0 (RecorderSegmenter, 1);
  seg->name = g_strdup (name);
  seg->segment_func = segment_func;
  seg->done_func = done_func;
  seg->user_data = user_data;
  seg->zero = GST_CLOCK_TIME_NONE;
  seg->last_cut = GST_CLOCK_TIME_NONE;
  seg->end = GST_CLOCK_TIME_NONE;
  seg->audio_end = GST_CLOCK_TIME_NONE;
  seg->lose_eos = g_strcmp0 (g_getenv ("ANSIM_TEST_SEGMENTER_EOS"), "lost") == 0;
  g_mutex_init (&seg->lock);

  seg->pipeline = gst_pipeline_new (NULL);
  GstElement *splitmux = gst_element_factory_make ("splitmuxsink", NULL);
  seg->appsrc[RECORDER_STREAM_VIDEO] = gst_element_factory_make ("appsrc", NULL);
  if (audio_caps != NULL)
    seg->appsrc[RECORDER_STREAM_AUDIO] = gst_element_factory_make ("appsrc", NULL);
  if (splitmux == NULL || seg->appsrc[RECORDER_STREAM_VIDEO] == NULL
      || (audio_caps != NULL && seg->appsrc[RECORDER_STREAM_AUDIO] == NULL))
    {
      g_clear_object (&splitmux);
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                   "splitmuxsink or appsrc missing (gstreamer1.0-plugins-good, -base)");
      return NULL;
    }
  g_object_set (splitmux, "async-finalize", TRUE, "sink-factory", "giostreamsink", "muxer-factory",
                "matroskamux", NULL);
  seg->splitmux = splitmux;
  seg->segment_time = (GstClockTime) segment_seconds * GST_SECOND;
  seg->cuts = g_array_new (FALSE, FALSE, sizeof (Cut));
  seg->closed = g_hash_table_new_full (NULL, NULL, NULL, gst_object_unref);
  g_signal_connect (splitmux, "sink-added", G_CALLBACK (on_sink_added), seg);
  gst_bin_add (GST_BIN (seg->pipeline), splitmux);

  for (guint i = 0; i < RECORDER_N_STREAMS; i++)
    {
      GstElement *src = seg->appsrc[i];
      if (src == NULL)
        continue;
      /* Unlimited queue: a slow muxer must never make the capture side
       * drop a frame; the incident's length bounds what can pile up. */
      g_object_set (src, "caps", i == RECORDER_STREAM_VIDEO ? video_caps : audio_caps, "format",
                    GST_FORMAT_TIME, "is-live", FALSE, "max-bytes", (guint64) 0, "block", FALSE,
                    NULL);
      gst_bin_add (GST_BIN (seg->pipeline), src);
      GstPad *sinkpad = gst_element_request_pad_simple (
        splitmux, i == RECORDER_STREAM_VIDEO ? "video" : "audio_%u");
      GstPad *srcpad = gst_element_get_static_pad (src, "src");
      GstPadLinkReturn r = gst_pad_link (srcpad, sinkpad);
      gst_object_unref (srcpad);
      gst_object_unref (sinkpad);
      if (r != GST_PAD_LINK_OK)
        {
          g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
                       "source %s: cannot link the segmenter's inputs (%d)", name, r);
          return NULL;
        }
    }
  g_autoptr (GstBus) bus = gst_pipeline_get_bus (GST_PIPELINE (seg->pipeline));
  seg->bus_watch = gst_bus_add_watch (bus, on_bus_message, seg);
  seg->context = g_main_context_ref_thread_default ();
  if (gst_element_set_state (seg->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE,
                   "source %s: the segmenter pipeline does not start", name);
      return NULL;
    }
  return g_steal_pointer (&seg);
}

void
recorder_segmenter_push (RecorderSegmenter *seg, RecorderStream stream, GstBuffer *buffer)
{
  GstElement *src = seg->appsrc[stream];

  if (src == NULL)
    return;
  g_mutex_lock (&seg->lock);
  if (seg->zero == GST_CLOCK_TIME_NONE)
    {
      if (stream != RECORDER_STREAM_VIDEO
          || GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT)
          || !GST_BUFFER_PTS_IS_VALID (buffer))
        {
          g_mutex_unlock (&seg->lock);
          return;
        }
      seg->zero = GST_BUFFER_PTS (buffer);
    }
  GstClockTime zero = seg->zero;
  /* Time zero is the first keyframe, so the files start near 0. */
  GstClockTime pts = GST_BUFFER_PTS (buffer), dts = GST_BUFFER_DTS (buffer);
  if (GST_CLOCK_TIME_IS_VALID (pts) && pts < zero)
    {
      g_mutex_unlock (&seg->lock);
      return; /* audio from before the first picture */
    }
  gboolean split = FALSE;
  if (stream == RECORDER_STREAM_VIDEO && GST_CLOCK_TIME_IS_VALID (pts))
    {
      GstClockTime t = pts - zero;
      gboolean key = !GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT);
      gboolean hole = seg->end != GST_CLOCK_TIME_NONE && t > seg->end + HOLE;
      if (hole && !key)
        {
          /* Refers to pictures that never came: undecodable. */
          if (seg->n_dropped++ % 100 == 0)
            g_message ("source %s: %" G_GUINT64_FORMAT " picture(s) after a hole dropped "
                       "until the next keyframe",
                       seg->name, seg->n_dropped);
          g_mutex_unlock (&seg->lock);
          return;
        }
      GstClockTime frame = GST_BUFFER_DURATION_IS_VALID (buffer) ? GST_BUFFER_DURATION (buffer)
                           : seg->end != GST_CLOCK_TIME_NONE && t > seg->end ? t - seg->end
                                                                             : 0;
      /* CUT_SLACK: a network camera's keyframes jitter around their slot. */
      if (key
          && (seg->last_cut == GST_CLOCK_TIME_NONE || hole
              || t + CUT_SLACK >= seg->last_cut + seg->segment_time))
        {
          /* After a hole in the picture the segment before ends with
           * its last frame, or with its sound if that went on (then only
           * the picture has a gap; the source reports that one). */
          GstClockTime before = seg->end;
          if (hole && seg->audio_end != GST_CLOCK_TIME_NONE && seg->audio_end > before)
            before = MIN (seg->audio_end, t);
          Cut cut = { t, hole ? before : t };
          split = seg->last_cut != GST_CLOCK_TIME_NONE;
          seg->last_cut = t;
          g_array_append_val (seg->cuts, cut);
        }
      seg->end = t + frame;
    }
  else if (stream == RECORDER_STREAM_AUDIO && GST_CLOCK_TIME_IS_VALID (pts))
    {
      GstClockTime a_end =
        pts - zero + (GST_BUFFER_DURATION_IS_VALID (buffer) ? GST_BUFFER_DURATION (buffer) : 0);
      if (seg->audio_end == GST_CLOCK_TIME_NONE || a_end > seg->audio_end)
        seg->audio_end = a_end;
    }
  g_mutex_unlock (&seg->lock);
  if (split)
    g_signal_emit_by_name (seg->splitmux, "split-at-running-time", (guint64) (pts - zero));
  GstBuffer *copy = gst_buffer_copy (buffer); /* metadata only; memory shared */
  GST_BUFFER_PTS (copy) = GST_CLOCK_TIME_IS_VALID (pts) ? pts - zero : GST_CLOCK_TIME_NONE;
  GST_BUFFER_DTS (copy) = GST_CLOCK_TIME_IS_VALID (dts) && dts >= zero ? dts - zero
                                                                       : GST_CLOCK_TIME_NONE;
  gst_app_src_push_buffer (GST_APP_SRC (src), copy);
}

void
recorder_segmenter_finish (RecorderSegmenter *seg)
{
  if (seg->finished)
    return;
  seg->finished = TRUE;
  for (guint i = 0; i < RECORDER_N_STREAMS; i++)
    if (seg->appsrc[i] != NULL)
      gst_app_src_end_of_stream (GST_APP_SRC (seg->appsrc[i]));
  seg->finished_at_us = g_get_monotonic_time ();
  seg->finish_watch = g_timeout_source_new_seconds (1);
  g_source_set_callback (seg->finish_watch, on_finish_watch, seg, NULL);
  g_source_attach (seg->finish_watch, seg->context);
  g_source_unref (seg->finish_watch);
}

void
recorder_segmenter_free (RecorderSegmenter *seg)
{
  if (seg == NULL)
    return;
  if (seg->bus_watch != 0)
    g_source_remove (seg->bus_watch);
  if (seg->finish_watch != NULL)
    g_source_destroy (seg->finish_watch);
  g_clear_pointer (&seg->context, g_main_context_unref);
  if (seg->pipeline != NULL)
    {
      gst_element_set_state (seg->pipeline, GST_STATE_NULL);
      gst_object_unref (seg->pipeline);
    }
  g_clear_pointer (&seg->cuts, g_array_unref);
  g_clear_pointer (&seg->closed, g_hash_table_unref);
  g_mutex_clear (&seg->lock);
  g_free (seg->name);
  g_free (seg);
}
