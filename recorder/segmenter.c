/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the segmenter: encoded buffers in, independently
 * playable Matroska segments out, all in memory.
 *
 *   appsrc (H.264) ─┐
 *                   ├─ splitmuxsink muxer-factory=matroskamux
 *   appsrc (Opus) ──┘    sink-factory=giostreamsink (one GMemoryOutputStream
 *                        per segment, set in "sink-added")
 *
 * splitmuxsink cuts at the first keyframe after segment_seconds and posts
 * "splitmuxsink-fragment-closed" naming the sink; its stream then holds the
 * whole file. matroskamux keeps timestamps continuous across files. */
#include "recorder-private.h"

#include <gio/gio.h>
#include <gst/app/gstappsrc.h>

struct _RecorderSegmenter {
  char *name;
  GstElement *pipeline;
  GstElement *appsrc[RECORDER_N_STREAMS];
  guint bus_watch;
  RecorderSegmentFunc segment_func;
  RecorderSegmenterDoneFunc done_func;
  gpointer user_data;
  GMutex lock;                  /* guards zero and started */
  GstClockTime zero;            /* PTS of the first video keyframe pushed */
  GstClockTime last_end;        /* end of the last segment delivered, segmenter time */
  gboolean finished;
  gboolean done;
};

#define STREAM_KEY "ansim-memory-stream"

/* Streaming thread: each new segment gets its own memory stream. */
static void
on_sink_added (GstElement *splitmux, GstElement *sink, gpointer user_data)
{
  (void) splitmux;
  (void) user_data;
  GOutputStream *stream = g_memory_output_stream_new_resizable ();

  g_object_set (sink, "stream", stream, "sync", FALSE, NULL);
  g_object_set_data_full (G_OBJECT (sink), STREAM_KEY, stream, g_object_unref);
}

static void
deliver_fragment (RecorderSegmenter *seg, const GstStructure *s)
{
  const GValue *v = gst_structure_get_value (s, "sink");
  GstElement *sink = v != NULL ? g_value_get_object (v) : NULL;
  GOutputStream *stream = sink != NULL ? g_object_get_data (G_OBJECT (sink), STREAM_KEY) : NULL;
  GstClockTime offset = GST_CLOCK_TIME_NONE, duration = GST_CLOCK_TIME_NONE;

  if (stream == NULL)
    {
      g_warning ("source %s: a closed segment has no memory stream, ignoring", seg->name);
      return;
    }
  gst_structure_get_clock_time (s, "fragment-offset", &offset);
  gst_structure_get_clock_time (s, "fragment-duration", &duration);
  if (offset == GST_CLOCK_TIME_NONE)
    offset = seg->last_end;
  if (duration == GST_CLOCK_TIME_NONE)
    {
      GstClockTime rt = GST_CLOCK_TIME_NONE;
      gst_structure_get_clock_time (s, "running-time", &rt);
      duration = rt != GST_CLOCK_TIME_NONE && rt > offset ? rt - offset : 0;
    }
  seg->last_end = offset + duration;
  g_output_stream_close (stream, NULL, NULL);
  g_autoptr (GBytes) media =
    g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (stream));
  g_object_set_data (G_OBJECT (sink), STREAM_KEY, NULL);
  seg->segment_func (media, seg->zero + offset, duration, seg->user_data);
}

static void
finish_done (RecorderSegmenter *seg, const GError *error)
{
  if (seg->done)
    return;
  seg->done = TRUE;
  seg->done_func (error, seg->user_data);
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
        deliver_fragment (seg, gst_message_get_structure (msg));
      break;
    case GST_MESSAGE_EOS:
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
    default:
      break;
    }
  return G_SOURCE_CONTINUE;
}

RecorderSegmenter *
recorder_segmenter_new (const char *name, GstCaps *video_caps, GstCaps *audio_caps,
                        guint segment_seconds, RecorderSegmentFunc segment_func,
                        RecorderSegmenterDoneFunc done_func, gpointer user_data,
                        GError **error)
{
  g_return_val_if_fail (video_caps != NULL, NULL);

  g_autoptr (RecorderSegmenter) seg = g_new0 (RecorderSegmenter, 1);
  seg->name = g_strdup (name);
  seg->segment_func = segment_func;
  seg->done_func = done_func;
  seg->user_data = user_data;
  seg->zero = GST_CLOCK_TIME_NONE;
  g_mutex_init (&seg->lock);

  seg->pipeline = gst_pipeline_new (NULL);
  GstElement *splitmux = gst_element_factory_make ("splitmuxsink", NULL);
  seg->appsrc[RECORDER_STREAM_VIDEO] = gst_element_factory_make ("appsrc", NULL);
  if (audio_caps != NULL)
    seg->appsrc[RECORDER_STREAM_AUDIO] = gst_element_factory_make ("appsrc", NULL);
  if (splitmux == NULL || seg->appsrc[RECORDER_STREAM_VIDEO] == NULL ||
      (audio_caps != NULL && seg->appsrc[RECORDER_STREAM_AUDIO] == NULL))
    {
      g_clear_object (&splitmux);
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                   "splitmuxsink or appsrc missing (gstreamer1.0-plugins-good, -base)");
      return NULL;
    }
  g_object_set (splitmux, "async-finalize", TRUE, "sink-factory", "giostreamsink",
                "muxer-factory", "matroskamux",
                "max-size-time", (guint64) segment_seconds * GST_SECOND, NULL);
  g_signal_connect (splitmux, "sink-added", G_CALLBACK (on_sink_added), seg);
  gst_bin_add (GST_BIN (seg->pipeline), splitmux);

  for (guint i = 0; i < RECORDER_N_STREAMS; i++)
    {
      GstElement *src = seg->appsrc[i];
      if (src == NULL)
        continue;
      /* Unlimited queue: a slow muxer must never make the capture side
       * drop a frame; the incident's length bounds what can pile up. */
      g_object_set (src, "caps", i == RECORDER_STREAM_VIDEO ? video_caps : audio_caps,
                    "format", GST_FORMAT_TIME, "is-live", FALSE, "max-bytes", (guint64) 0,
                    "block", FALSE, NULL);
      gst_bin_add (GST_BIN (seg->pipeline), src);
      GstPad *sinkpad = gst_element_request_pad_simple (splitmux,
                                                        i == RECORDER_STREAM_VIDEO ? "video"
                                                                                   : "audio_%u");
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
      if (stream != RECORDER_STREAM_VIDEO ||
          GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT) ||
          !GST_BUFFER_PTS_IS_VALID (buffer))
        {
          g_mutex_unlock (&seg->lock);
          return;
        }
      seg->zero = GST_BUFFER_PTS (buffer);
    }
  GstClockTime zero = seg->zero;
  g_mutex_unlock (&seg->lock);

  /* Time zero is the first keyframe, so the files start near 0. */
  GstClockTime pts = GST_BUFFER_PTS (buffer), dts = GST_BUFFER_DTS (buffer);
  if (GST_CLOCK_TIME_IS_VALID (pts) && pts < zero)
    return;   /* audio from before the first picture */
  GstBuffer *copy = gst_buffer_copy (buffer);   /* metadata only; memory shared */
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
}

void
recorder_segmenter_free (RecorderSegmenter *seg)
{
  if (seg == NULL)
    return;
  if (seg->bus_watch != 0)
    g_source_remove (seg->bus_watch);
  if (seg->pipeline != NULL)
    {
      gst_element_set_state (seg->pipeline, GST_STATE_NULL);
      gst_object_unref (seg->pipeline);
    }
  g_mutex_clear (&seg->lock);
  g_free (seg->name);
  g_free (seg);
}
