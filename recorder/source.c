/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains a capture source: GStreamer pipelines per camera (and
 * microphone) that encode continuously into the pre-event ring, e.g.
 *
 *   videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=30/1
 *     ! timeoverlay (running time and frame number) ! videoconvert
 *     ! x264enc tune=zerolatency key-int-max=30 ! h264parse ! appsink
 *   audiotestsrc is-live=true ! audioconvert ! audioresample ! opusenc ! appsink
 *
 * Picture and sound from different devices (a network camera and a
 * microphone) are two captures, two pipelines that fail and come back on
 * their own: a lost picture never costs the sound, nor the other way
 * round. A network camera with its own sound track is one capture; losing
 * it loses both. The appsink callbacks (streaming threads) put every
 * buffer in the ring and, while an incident records, into its segmenter,
 * under one lock. */
#include "recorder-private.h"

#include <gst/app/gstappsink.h>

#define RING_SLACK (3 * GST_SECOND)
#define MAX_OUTAGES 64
#define ALL_STREAMS ((1u << RECORDER_STREAM_VIDEO) | (1u << RECORDER_STREAM_AUDIO))

typedef struct _Capture Capture;

struct _Capture {
  RecorderSource *src;
  const char *what; /* "capture", "picture" or "sound", for the log */
  guint streams;    /* 1 << RecorderStream, the streams it carries */
  GstElement *pipeline;
  guint bus_watch;
  /* main context only */
  char *last_error; /* why it last failed, or NULL */
  char *last_warning;
  gboolean failed; /* stopped, a retry is scheduled */
  guint retry_timer;
  guint backoff_ms;
  gint64 started_mono_us;       /* (re)started at */
  gpointer last_buffer_mono_us; /* atomic; a gsize, 0 = none yet */
  gint await_keyframe;          /* atomic: sound waits for the picture after a start */
  guint64 n_sound_dropped;      /* streaming thread */
};

struct _RecorderSource {
  char *name;
  gboolean has_audio;
  GstClockTime pre_event;
  Capture *captures[RECORDER_N_STREAMS]; /* one, or picture and sound */
  guint n_captures;
  guint watchdog;

  GMutex lock; /* guards everything below */
  RecorderRing *ring;
  RecorderSegmenter *attached; /* not owned */
  GstCaps *caps[RECORDER_N_STREAMS];
  GstClockTime stream_end[RECORDER_N_STREAMS]; /* end of its newest buffer, or NONE */
  /* A stream lost while the other one goes on: from the end of its last
   * buffer (capture time) to its first usable buffer (a keyframe). */
  RecorderOutage lost[RECORDER_N_STREAMS]; /* current, to_mono_us = 0; or reason NULL */
  GQueue outages;                          /* RecorderOutage*, ended, oldest first */
  /* main context only: what the status reports (recorder_source_get_state) */
  RecorderSourceHealth health;
  gint64 health_since_wall_us; /* in that health since (UTC) */
  guint n_outages;             /* failures since the start, retries not counted */
};

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define STALL_US (3 * G_USEC_PER_SEC)

static const char *const preferred_encoders[] = { "v4l2h264enc", "x264enc", "openh264enc", NULL };

static gboolean
factory_present (const char *name)
{
  g_autoptr (GstElementFactory) f = gst_element_factory_find (name);
  return f != NULL;
}

char *
recorder_pick_h264_encoder (const char *requested, GError **error)
{
  if (requested != NULL && g_strcmp0 (requested, "auto") != 0)
    {
      if (factory_present (requested))
        return g_strdup (requested);
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                   "H.264 encoder %s is not installed", requested);
      return NULL;
    }
  for (guint i = 0; preferred_encoders[i] != NULL; i++)
    if (factory_present (preferred_encoders[i]))
      return g_strdup (preferred_encoders[i]);
  g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
               "no H.264 encoder installed (v4l2h264enc, x264enc from gstreamer1.0-plugins-ugly, "
               "or openh264enc from gstreamer1.0-plugins-bad)");
  return NULL;
}

static char *
encoder_description (const char *factory, const RecorderSourceConfig *c)
{
  guint key_frames = MAX (1, c->framerate * c->keyframe_ms / 1000);

  if (g_str_equal (factory, "x264enc"))
    return g_strdup_printf ("x264enc tune=zerolatency speed-preset=ultrafast bitrate=%u "
                            "key-int-max=%u",
                            c->bitrate_kbps, key_frames);
  if (g_str_equal (factory, "openh264enc"))
    return g_strdup_printf ("openh264enc bitrate=%u gop-size=%u complexity=low",
                            c->bitrate_kbps * 1000, key_frames);
  return g_strdup_printf ("v4l2h264enc extra-controls=\"controls,video_bitrate=%u,"
                          "h264_i_frame_period=%u\" ! video/x-h264,level=(string)4",
                          c->bitrate_kbps * 1000, key_frames);
}

/* Streaming thread of the overlay: burns the frame number next to the
 * running time, so recordings can be checked frame by frame. */
static GstPadProbeReturn
on_test_frame (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  (void) user_data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  g_autoptr (GstElement) overlay = gst_pad_get_parent_element (pad);
  g_autofree char *text =
    g_strdup_printf ("frame %06" G_GUINT64_FORMAT, GST_BUFFER_OFFSET (buffer));
  g_object_set (overlay, "text", text, NULL);
  return GST_PAD_PROBE_OK;
}

static const char *const h264_out =
  "h264parse config-interval=-1 ! video/x-h264,stream-format=avc,alignment=au ! "
  "appsink name=video_sink sync=false";

static void
append_video (GString *d, const RecorderSourceConfig *c, const char *encoder)
{
  g_autofree char *enc = encoder_description (encoder, c);
  g_autofree char *raw_caps = g_strdup_printf ("video/x-raw,width=%u,height=%u,framerate=%u/1",
                                               c->width, c->height, c->framerate);

  switch (c->video)
    {
    case RECORDER_VIDEO_TEST:
      g_string_append_printf (
        d,
        "videotestsrc is-live=true pattern=smpte ! %s ! "
        "timeoverlay name=overlay time-mode=running-time font-desc=\"Sans 24\" "
        "! videoconvert ! %s ! %s",
        raw_caps, enc, h264_out);
      break;
    case RECORDER_VIDEO_V4L2:
      {
        g_autofree char *dev = g_strescape (c->device, NULL);
        g_string_append_printf (d,
                                "v4l2src device=\"%s\" ! videoconvert ! videoscale ! "
                                "videorate ! %s ! videoconvert ! %s ! %s",
                                dev, raw_caps, enc, h264_out);
        break;
      }
    case RECORDER_VIDEO_RTSP:
      {
        g_autofree char *url = g_strescape (c->url, NULL);
        /* Already H.264: passed through without re-encoding. rtspsrc's
         * pads are linked in on_rtsp_pad (again after every restart). */
        g_string_append_printf (d,
                                "rtspsrc name=rtsp location=\"%s\" latency=200 "
                                "rtph264depay name=rtsp_video ! %s",
                                url, h264_out);
        break;
      }
    }
}

static void
append_audio (GString *d, const RecorderSourceConfig *c)
{
  const char *opus = "audioconvert name=audio_in ! audioresample ! audio/x-raw,rate=48000 ! "
                     "opusenc bitrate=64000 ! appsink name=audio_sink sync=false";
  switch (c->audio)
    {
    case RECORDER_AUDIO_NONE: break;
    case RECORDER_AUDIO_TEST:
      g_string_append_printf (d,
                              " audiotestsrc is-live=true wave=ticks ! "
                              "audio/x-raw,channels=1 ! %s",
                              opus);
      break;
    case RECORDER_AUDIO_ALSA:
      {
        g_autofree char *dev = g_strescape (c->audio_device, NULL);
        g_string_append_printf (d, " alsasrc device=\"%s\" ! %s", dev, opus);
        break;
      }
    case RECORDER_AUDIO_PULSE: g_string_append_printf (d, " pulsesrc ! %s", opus); break;
    case RECORDER_AUDIO_RTSP:
      /* decodebin's pad is linked in on_decoded_pad: a parsed "!" link
       * is made once, and a restart gives decodebin a new pad. */
      g_string_append_printf (d, " decodebin name=rtsp_audio %s", opus);
      break;
    }
}

static void
forward_to_segmenter (RecorderStream stream, GstBuffer *buffer, gpointer user_data)
{
  recorder_segmenter_push (user_data, stream, buffer);
}

static void
outage_free (gpointer p)
{
  RecorderOutage *o = p;
  g_free (o->reason);
  g_free (o);
}

/* Under the lock: the stream is back with this buffer; its outage ends. */
static void
end_outage (RecorderSource *src, RecorderStream stream, GstClockTime pts)
{
  RecorderOutage *o = g_new (RecorderOutage, 1);

  *o = src->lost[stream];
  o->to_mono_us = (gint64) (pts / 1000);
  src->lost[stream].reason = NULL;
  g_queue_push_tail (&src->outages, o);
  while (src->outages.length > MAX_OUTAGES)
    outage_free (g_queue_pop_head (&src->outages));
}

static GstFlowReturn
on_new_sample (GstAppSink *sink, Capture *cap, RecorderStream stream)
{
  RecorderSource *src = cap->src;
  g_autoptr (GstSample) sample = gst_app_sink_pull_sample (sink);
  if (sample == NULL)
    return GST_FLOW_EOS;
  GstBuffer *buffer = gst_sample_get_buffer (sample);
  const GstSegment *segment = gst_sample_get_segment (sample);

  /* Ring and segmenter work in capture time: running time plus base time,
   * i.e. CLOCK_MONOTONIC, which keeps going across pipeline restarts. */
  GstClockTime base = gst_element_get_base_time (cap->pipeline);
  /* A deep copy: encoders hand out buffers with room for their worst
   * case, and the ring holds minutes of them; exact-size memory halves
   * what the ring costs in RSS. */
  GstBuffer *copy = gst_buffer_copy_deep (buffer);
  if (segment != NULL && segment->format == GST_FORMAT_TIME)
    {
      if (GST_BUFFER_PTS_IS_VALID (buffer))
        GST_BUFFER_PTS (copy) =
          gst_segment_to_running_time (segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buffer)) + base;
      if (GST_BUFFER_DTS_IS_VALID (buffer))
        GST_BUFFER_DTS (copy) =
          gst_segment_to_running_time (segment, GST_FORMAT_TIME, GST_BUFFER_DTS (buffer)) + base;
    }
  GstClockTime now = (GstClockTime) g_get_monotonic_time () * 1000;
  GstClockTime pts = GST_BUFFER_PTS (copy);

  /* A camera with its own sound, (re)started: its sound before the first
   * keyframe would sit in the segment before the gap (a recording starts
   * at a keyframe); the gap covers both until the picture is usable. */
  gboolean first_keyframe = FALSE;
  if (g_atomic_int_get (&cap->await_keyframe))
    {
      if (stream == RECORDER_STREAM_AUDIO)
        {
          cap->n_sound_dropped++;
          gst_buffer_unref (copy);
          return GST_FLOW_OK;
        }
      if (!GST_BUFFER_FLAG_IS_SET (copy, GST_BUFFER_FLAG_DELTA_UNIT))
        {
          first_keyframe = TRUE;
          if (cap->n_sound_dropped > 0)
            g_message ("source %s: %" G_GUINT64_FORMAT " sound packet(s) before the camera's "
                       "first keyframe dropped",
                       src->name, cap->n_sound_dropped);
          cap->n_sound_dropped = 0;
        }
    }

  g_atomic_pointer_set (&cap->last_buffer_mono_us, GSIZE_TO_POINTER ((gsize) (now / 1000)));
  g_mutex_lock (&src->lock);
  if (src->caps[stream] == NULL)
    src->caps[stream] = gst_caps_ref (gst_sample_get_caps (sample));
  /* A picture is usable again from a keyframe on. */
  if (src->lost[stream].reason != NULL && GST_CLOCK_TIME_IS_VALID (pts)
      && (stream != RECORDER_STREAM_VIDEO
          || !GST_BUFFER_FLAG_IS_SET (copy, GST_BUFFER_FLAG_DELTA_UNIT)))
    end_outage (src, stream, pts);
  if (GST_CLOCK_TIME_IS_VALID (pts))
    src->stream_end[stream] =
      pts + (GST_BUFFER_DURATION_IS_VALID (copy) ? GST_BUFFER_DURATION (copy) : 0);
  if (src->attached != NULL)
    recorder_segmenter_push (src->attached, stream, copy);
  recorder_ring_push (src->ring, stream, copy, now);
  /* Only now may the sound go on: pushed before the keyframe, it would
   * make the segment before the hole look as if it had gone on (seen
   * under load: a 7 s outage inside one segment, no gap entry). */
  if (first_keyframe)
    g_atomic_int_set (&cap->await_keyframe, FALSE);
  g_mutex_unlock (&src->lock);
  return GST_FLOW_OK;
}

static GstFlowReturn
on_video_sample (GstAppSink *sink, gpointer user_data)
{
  return on_new_sample (sink, user_data, RECORDER_STREAM_VIDEO);
}

static GstFlowReturn
on_audio_sample (GstAppSink *sink, gpointer user_data)
{
  return on_new_sample (sink, user_data, RECORDER_STREAM_AUDIO);
}

static void capture_fail (Capture *cap, const char *why);

static void
set_health (RecorderSource *src, RecorderSourceHealth health)
{
  if (src->health == health)
    return;
  src->health = health;
  src->health_since_wall_us = g_get_real_time ();
}

/* Streaming thread: a stream of the camera appeared; its media type says
 * which chain it feeds. */
static void
on_rtsp_pad (GstElement *rtspsrc, GstPad *pad, gpointer user_data)
{
  GstBin *pipeline = user_data;
  g_autoptr (GstCaps) caps = gst_pad_query_caps (pad, NULL);
  const GstStructure *st = gst_caps_get_size (caps) > 0 ? gst_caps_get_structure (caps, 0) : NULL;
  const char *media = st != NULL ? gst_structure_get_string (st, "media") : NULL;
  (void) rtspsrc;

  if (media == NULL)
    return;
  g_autofree char *name = g_strdup_printf ("rtsp_%s", media);
  g_autoptr (GstElement) next = gst_bin_get_by_name (pipeline, name);
  if (next == NULL)
    return; /* e.g. sound from a camera whose sound is not recorded */
  g_autoptr (GstPad) sink = gst_element_get_static_pad (next, "sink");
  if (!gst_pad_is_linked (sink) && gst_pad_link (pad, sink) != GST_PAD_LINK_OK)
    g_warning ("cannot link the camera's %s stream, ignoring it", media);
}

/* Streaming thread: the camera's sound decoded, after every (re)start. */
static void
on_decoded_pad (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  GstBin *pipeline = user_data;
  g_autoptr (GstElement) next = gst_bin_get_by_name (pipeline, "audio_in");
  g_autoptr (GstPad) sink = next != NULL ? gst_element_get_static_pad (next, "sink") : NULL;
  (void) decodebin;

  if (sink != NULL && !gst_pad_is_linked (sink) && gst_pad_link (pad, sink) != GST_PAD_LINK_OK)
    g_warning ("cannot link the camera's decoded sound, ignoring it");
}

static const char *
stream_name (RecorderStream stream)
{
  return stream == RECORDER_STREAM_VIDEO ? "video" : "audio";
}

static gboolean
retry (gpointer user_data)
{
  Capture *cap = user_data;

  cap->retry_timer = 0;
  cap->failed = FALSE;
  cap->started_mono_us = g_get_monotonic_time ();
  g_atomic_int_set (&cap->await_keyframe, cap->streams == ALL_STREAMS);
  g_message ("source %s: restarting the %s", cap->src->name, cap->what);
  if (gst_element_set_state (cap->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    capture_fail (cap, "does not start");
  return G_SOURCE_REMOVE;
}

/* A camera unplugged, a stream lost: stop this capture (the other one, if
 * any, goes on), keep the ring, retry with backoff (1 s doubling to 30 s).
 * Incidents see the hole as a gap: of everything when this capture
 * carries all the source's streams, else of its stream only. */
static void
capture_fail (Capture *cap, const char *why)
{
  RecorderSource *src = cap->src;

  if (cap->failed)
    return;
  cap->failed = TRUE;
  if (cap->backoff_ms == BACKOFF_MIN_MS)
    src->n_outages++;
  set_health (src, RECORDER_SOURCE_LOST);
  /* The first failure of an outage says what happened; the retries after
   * it only say that the camera is still gone. */
  if (cap->backoff_ms == BACKOFF_MIN_MS || cap->last_error == NULL)
    {
      g_free (cap->last_error);
      cap->last_error = g_strdup (why);
    }
  gst_element_set_state (cap->pipeline, GST_STATE_NULL);
  if (src->n_captures > 1)
    {
      g_mutex_lock (&src->lock);
      for (guint s = 0; s < RECORDER_N_STREAMS; s++)
        if ((cap->streams & (1u << s)) && src->lost[s].reason == NULL
            && GST_CLOCK_TIME_IS_VALID (src->stream_end[s]))
          {
            src->lost[s].stream = s;
            src->lost[s].from_mono_us = (gint64) (src->stream_end[s] / 1000);
            src->lost[s].to_mono_us = 0;
            src->lost[s].reason = g_strdup_printf ("source %s: %s lost: %s", src->name,
                                                   stream_name (s), cap->last_error);
          }
      g_mutex_unlock (&src->lock);
    }
  g_warning ("source %s: %s failed: %s; retrying in %.0f s", src->name, cap->what, why,
             cap->backoff_ms / 1000.0);
  cap->retry_timer = g_timeout_add (cap->backoff_ms, retry, cap);
  cap->backoff_ms = MIN (cap->backoff_ms * 2, BACKOFF_MAX_MS);
}

/* Some failures give no error (a network camera that stops sending, a
 * wedged driver): no buffer for STALL_US counts as one. */
static void
check_capture (Capture *cap, gint64 now)
{
  gint64 last = (gint64) GPOINTER_TO_SIZE (g_atomic_pointer_get (&cap->last_buffer_mono_us));

  if (cap->failed)
    return;
  if (last > cap->started_mono_us && cap->backoff_ms != BACKOFF_MIN_MS)
    {
      g_message ("source %s: recovered (the %s)", cap->src->name, cap->what);
      cap->backoff_ms = BACKOFF_MIN_MS;
    }
  gint64 since = MAX (last, cap->started_mono_us);
  /* A start may take a while (RTSP handshake, camera warm-up). */
  gint64 allowed = last > cap->started_mono_us ? STALL_US : 4 * STALL_US;
  if (now - since > allowed)
    capture_fail (cap, last > cap->started_mono_us ? "nothing for 3 s" : "nothing after start");
}

static gboolean
on_watchdog (gpointer user_data)
{
  RecorderSource *src = user_data;
  gint64 now = g_get_monotonic_time ();

  for (guint i = 0; i < src->n_captures; i++)
    check_capture (src->captures[i], now);
  /* Live once every capture delivers again. */
  gboolean live = TRUE;
  for (guint i = 0; i < src->n_captures && live; i++)
    {
      Capture *cap = src->captures[i];
      gint64 last = (gint64) GPOINTER_TO_SIZE (g_atomic_pointer_get (&cap->last_buffer_mono_us));
      live = !cap->failed && last > cap->started_mono_us && now - last <= STALL_US;
    }
  if (live)
    set_health (src, RECORDER_SOURCE_LIVE);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_bus_message (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  (void) bus;
  Capture *cap = user_data;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *debug = NULL;
      gst_message_parse_error (msg, &error, &debug);
      g_debug ("source %s: %s", cap->src->name, debug != NULL ? debug : "");
      capture_fail (cap, error->message);
    }
  else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS)
    {
      g_autofree char *why = g_strdup_printf (
        "the stream ended (%s)", cap->last_warning != NULL ? cap->last_warning : "no reason given");
      capture_fail (cap, why);
    }
  else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING)
    {
      g_autoptr (GError) error = NULL;
      gst_message_parse_warning (msg, &error, NULL);
      g_message ("source %s: %s", cap->src->name, error->message);
      g_free (cap->last_warning);
      cap->last_warning = g_strdup (error->message);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
connect_sink (Capture *cap, const char *name, GstAppSinkCallbacks *cb, GError **error)
{
  g_autoptr (GstElement) sink = gst_bin_get_by_name (GST_BIN (cap->pipeline), name);
  if (sink == NULL)
    {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED, "source %s: no %s", cap->src->name,
                   name);
      return FALSE;
    }
  /* No limit here: the callback only takes references, never waits. */
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), cb, cap, NULL);
  return TRUE;
}

static void
capture_free (Capture *cap)
{
  if (cap == NULL)
    return;
  if (cap->bus_watch != 0)
    g_source_remove (cap->bus_watch);
  if (cap->retry_timer != 0)
    g_source_remove (cap->retry_timer);
  if (cap->pipeline != NULL)
    {
      gst_element_set_state (cap->pipeline, GST_STATE_NULL);
      gst_object_unref (cap->pipeline);
    }
  g_free (cap->last_error);
  g_free (cap->last_warning);
  g_free (cap);
}

/* Builds one capture pipeline (not started) and adds it to the source. */
static gboolean
add_capture (RecorderSource *src, const char *what, guint streams, const char *desc, GError **error)
{
  g_autoptr (GError) local = NULL;
  Capture *cap = g_new0 (Capture, 1);

  cap->src = src;
  cap->what = what;
  cap->streams = streams;
  cap->backoff_ms = BACKOFF_MIN_MS;
  src->captures[src->n_captures++] = cap;
  cap->pipeline = gst_parse_launch_full (desc, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &local);
  if (cap->pipeline == NULL)
    {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED,
                   "source %s: cannot build the %s pipeline: %s", src->name, what, local->message);
      return FALSE;
    }
  /* Running time + base time is then CLOCK_MONOTONIC, whatever a sound
   * card's clock would have been, and the same in every capture. */
  g_autoptr (GstClock) clock = gst_system_clock_obtain ();
  gst_pipeline_use_clock (GST_PIPELINE (cap->pipeline), clock);

  GstAppSinkCallbacks video_cb = { .new_sample = on_video_sample };
  GstAppSinkCallbacks audio_cb = { .new_sample = on_audio_sample };
  if (((streams & (1u << RECORDER_STREAM_VIDEO))
       && !connect_sink (cap, "video_sink", &video_cb, error))
      || ((streams & (1u << RECORDER_STREAM_AUDIO))
          && !connect_sink (cap, "audio_sink", &audio_cb, error)))
    return FALSE;
  g_autoptr (GstElement) rtsp = gst_bin_get_by_name (GST_BIN (cap->pipeline), "rtsp");
  if (rtsp != NULL)
    g_signal_connect (rtsp, "pad-added", G_CALLBACK (on_rtsp_pad), cap->pipeline);
  g_autoptr (GstElement) decoder = gst_bin_get_by_name (GST_BIN (cap->pipeline), "rtsp_audio");
  if (decoder != NULL)
    g_signal_connect (decoder, "pad-added", G_CALLBACK (on_decoded_pad), cap->pipeline);
  g_autoptr (GstElement) overlay = gst_bin_get_by_name (GST_BIN (cap->pipeline), "overlay");
  if (overlay != NULL)
    {
      g_autoptr (GstPad) pad = gst_element_get_static_pad (overlay, "video_sink");
      gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_test_frame, NULL, NULL);
    }
  g_autoptr (GstBus) bus = gst_pipeline_get_bus (GST_PIPELINE (cap->pipeline));
  cap->bus_watch = gst_bus_add_watch (bus, on_bus_message, cap);
  return TRUE;
}

RecorderSource *
recorder_source_new (const RecorderSourceConfig *c, GError **error)
{
  g_autofree char *encoder = NULL;

  if (c->video != RECORDER_VIDEO_RTSP)
    {
      encoder = recorder_pick_h264_encoder (c->encoder, error);
      if (encoder == NULL)
        return NULL;
    }
  RecorderSource *src = g_new0 (RecorderSource, 1);
  src->name = g_strdup (c->name);
  src->has_audio = c->audio != RECORDER_AUDIO_NONE;
  src->pre_event = (GstClockTime) c->pre_event_seconds * GST_SECOND;
  g_mutex_init (&src->lock);
  g_queue_init (&src->outages);
  for (guint s = 0; s < RECORDER_N_STREAMS; s++)
    src->stream_end[s] = GST_CLOCK_TIME_NONE;
  /* Four times the configured rate (plus audio and 4 MB) over the pre-event
   * time: room for busy scenes, a hard bound against a runaway stream. */
  gsize max_bytes = (gsize) (c->bitrate_kbps + 128) * 1000 / 8 * 4
                      * (MAX (c->pre_event_seconds, 1) + c->keyframe_ms / 1000 + 4)
                    + 4 * 1024 * 1024;
  /* The ring holds RING_SLACK more than the pre-event time: the trigger's
   * edge is up to a debounce time (and a busy main loop) in the past when
   * the incident opens, and the recording starts from the edge. */
  src->ring = recorder_ring_new (src->pre_event + RING_SLACK, max_bytes);

  g_autoptr (GString) video = g_string_new (NULL);
  g_autoptr (GString) audio = g_string_new (NULL);
  append_video (video, c, encoder != NULL ? encoder : "none");
  append_audio (audio, c);
  gboolean ok;
  if (c->audio == RECORDER_AUDIO_NONE)
    ok = add_capture (src, "capture", 1u << RECORDER_STREAM_VIDEO, video->str, error);
  else if (c->audio == RECORDER_AUDIO_RTSP)
    {
      /* The camera's own sound: one stream, one capture. */
      g_string_append (video, audio->str);
      ok = add_capture (src, "capture", ALL_STREAMS, video->str, error);
    }
  else
    ok = add_capture (src, "picture", 1u << RECORDER_STREAM_VIDEO, video->str, error)
         && add_capture (src, "sound", 1u << RECORDER_STREAM_AUDIO, audio->str, error);
  if (!ok)
    {
      recorder_source_free (src);
      return NULL;
    }
  for (guint i = 0; i < src->n_captures; i++)
    {
      Capture *cap = src->captures[i];
      if (gst_element_set_state (cap->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
        {
          g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE,
                       "source %s: the %s pipeline does not start", c->name, cap->what);
          recorder_source_free (src);
          return NULL;
        }
      cap->started_mono_us = g_get_monotonic_time ();
      g_atomic_int_set (&cap->await_keyframe, cap->streams == ALL_STREAMS);
    }
  src->health = RECORDER_SOURCE_STARTING;
  src->health_since_wall_us = g_get_real_time ();
  src->watchdog = g_timeout_add (500, on_watchdog, src);
  g_message ("source %s: %s %s, %ux%u at %u fps, %u kbit/s, keyframe every %u ms, "
             "H.264 encoder %s, audio %s, pre-event %u s",
             c->name, c->wearable ? "wearable" : "fixed",
             c->video == RECORDER_VIDEO_TEST   ? "test picture"
             : c->video == RECORDER_VIDEO_V4L2 ? c->device
                                               : c->url,
             c->width, c->height, c->framerate, c->bitrate_kbps, c->keyframe_ms,
             encoder != NULL ? encoder : "none (H.264 passed through)",
             !src->has_audio       ? "none"
             : src->n_captures > 1 ? "Opus (own capture)"
                                   : "Opus",
             c->pre_event_seconds);
  return src;
}

void
recorder_source_free (RecorderSource *src)
{
  if (src == NULL)
    return;
  if (src->watchdog != 0)
    g_source_remove (src->watchdog);
  for (guint i = 0; i < src->n_captures; i++)
    capture_free (src->captures[i]);
  for (guint i = 0; i < RECORDER_N_STREAMS; i++)
    {
      g_clear_pointer (&src->caps[i], gst_caps_unref);
      g_free (src->lost[i].reason);
    }
  g_queue_clear_full (&src->outages, outage_free);
  recorder_ring_free (src->ring);
  g_mutex_clear (&src->lock);
  g_free (src->name);
  g_free (src);
}

const char *
recorder_source_get_name (RecorderSource *src)
{
  return src->name;
}

gboolean
recorder_source_has_audio (RecorderSource *src)
{
  return src->has_audio;
}

GstClockTime
recorder_source_attach (RecorderSource *src, RecorderSegmenter *seg, gint64 trigger_mono_us)
{
  g_mutex_lock (&src->lock);
  gint64 from_us = trigger_mono_us - (gint64) (src->pre_event / 1000);
  GstClockTime from = from_us > 0 ? (GstClockTime) from_us * 1000 : GST_CLOCK_TIME_NONE;
  GstClockTime first = recorder_ring_foreach (src->ring, from, forward_to_segmenter, seg);
  src->attached = seg;
  g_mutex_unlock (&src->lock);
  return first;
}

void
recorder_source_detach (RecorderSource *src)
{
  g_mutex_lock (&src->lock);
  src->attached = NULL;
  g_mutex_unlock (&src->lock);
}

GstCaps *
recorder_source_get_caps (RecorderSource *src, RecorderStream stream)
{
  g_mutex_lock (&src->lock);
  GstCaps *caps = src->caps[stream] != NULL ? gst_caps_ref (src->caps[stream]) : NULL;
  g_mutex_unlock (&src->lock);
  return caps;
}

const char *
recorder_source_get_last_error (RecorderSource *src)
{
  /* A hole in everything comes from the picture's capture (the one that
   * carries video), unless only the sound's says why. */
  for (guint i = 0; i < src->n_captures; i++)
    if (src->captures[i]->last_error != NULL)
      return src->captures[i]->last_error;
  return NULL;
}

GPtrArray *
recorder_source_list_outages (RecorderSource *src, gint64 after_mono_us)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (outage_free);

  g_mutex_lock (&src->lock);
  for (GList *l = src->outages.head; l != NULL; l = l->next)
    {
      RecorderOutage *o = l->data;
      if (o->to_mono_us > after_mono_us)
        {
          RecorderOutage *copy = g_new (RecorderOutage, 1);
          *copy = *o;
          copy->reason = g_strdup (o->reason);
          g_ptr_array_add (out, copy);
        }
    }
  for (guint s = 0; s < RECORDER_N_STREAMS; s++)
    if (src->lost[s].reason != NULL)
      {
        RecorderOutage *copy = g_new (RecorderOutage, 1);
        *copy = src->lost[s];
        copy->reason = g_strdup (src->lost[s].reason);
        g_ptr_array_add (out, copy);
      }
  g_mutex_unlock (&src->lock);
  return out;
}

void
recorder_source_get_ring_stats (RecorderSource *src, RecorderRingStats *out_stats)
{
  g_mutex_lock (&src->lock);
  recorder_ring_get_stats (src->ring, out_stats);
  g_mutex_unlock (&src->lock);
}

gboolean
recorder_source_wait_ready (RecorderSource *src, guint timeout_ms, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  for (;;)
    {
      g_autoptr (GstCaps) v = recorder_source_get_caps (src, RECORDER_STREAM_VIDEO);
      g_autoptr (GstCaps) a = recorder_source_get_caps (src, RECORDER_STREAM_AUDIO);
      if (v != NULL && (!src->has_audio || a != NULL))
        return TRUE;
      if (g_get_monotonic_time () > deadline)
        {
          g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED,
                       "source %s: no picture after %u ms", src->name, timeout_ms);
          return FALSE;
        }
      g_main_context_iteration (NULL, FALSE);
      g_usleep (10000);
    }
}

void
recorder_source_get_state (RecorderSource *src, RecorderSourceState *out_state)
{
  *out_state = (RecorderSourceState){
    .health = src->health,
    .since_wall_us = src->health_since_wall_us,
    .last_error = recorder_source_get_last_error (src),
    .n_outages = src->n_outages,
  };
}
