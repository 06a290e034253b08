/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Matroska segment -> fragmented MP4, by GStreamer's demuxer, parsers and
 * mp4mux: a remux, so every coded frame served is one the desk sealed
 * (the plaintext was checked against the signed manifest before it gets
 * here). Must keep true: nothing touches the disk, an unknown stream is an
 * error (never silently dropped), and a pipeline that stalls ends with an
 * error instead of holding its thread. */
#include "remux.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gio/gio.h>
#include <gst/gst.h>
#include <string.h>

#define REMUX_TIMEOUT_NS (10 * GST_SECOND)

typedef struct {
  GstElement *pipeline;
  GstElement *mux;
  GstElement *video_parse;
  gint64 start_ns;
  guint video_frames;
  guint audio_packets;
  char *unknown; /* caps of a stream that cannot be carried */
  GMutex lock;
} Remux;

void
panel_remux_free (PanelRemux *remux)
{
  if (remux == NULL)
    return;
  g_clear_pointer (&remux->mp4, g_bytes_unref);
  g_free (remux->codecs);
  g_free (remux);
}

static GstPadProbeReturn
count_video (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Remux *r = data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  (void) pad;
  g_mutex_lock (&r->lock);
  /* mp4mux starts each track at its first decoding time. */
  GstClockTime t = GST_BUFFER_DTS_IS_VALID (buffer) ? GST_BUFFER_DTS (buffer)
                                                    : GST_BUFFER_PTS (buffer);
  if (r->video_frames == 0 && GST_CLOCK_TIME_IS_VALID (t))
    r->start_ns = (gint64) t;
  r->video_frames++;
  g_mutex_unlock (&r->lock);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
count_audio (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Remux *r = data;
  (void) pad;
  (void) info;
  g_mutex_lock (&r->lock);
  r->audio_packets++;
  g_mutex_unlock (&r->lock);
  return GST_PAD_PROBE_OK;
}

static void
on_pad_added (GstElement *demux, GstPad *pad, gpointer data)
{
  Remux *r = data;
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
  const char *name = caps != NULL ? gst_structure_get_name (gst_caps_get_structure (caps, 0)) : "";
  const char *parser = NULL;
  const char *template = NULL;
  gboolean video = FALSE;
  (void) demux;
  if (g_str_equal (name, "video/x-h264"))
    parser = "h264parse", template = "video_%u", video = TRUE;
  else if (g_str_equal (name, "audio/x-opus"))
    parser = "opusparse", template = "audio_%u";
  if (parser == NULL)
    {
      g_mutex_lock (&r->lock);
      if (r->unknown == NULL)
        r->unknown = caps != NULL ? gst_caps_to_string (caps) : g_strdup ("(no caps)");
      g_mutex_unlock (&r->lock);
      GstElement *sink = gst_element_factory_make ("fakesink", NULL);
      gst_bin_add (GST_BIN (r->pipeline), sink);
      gst_element_sync_state_with_parent (sink);
      g_autoptr (GstPad) sinkpad = gst_element_get_static_pad (sink, "sink");
      gst_pad_link (pad, sinkpad);
      return;
    }
  GstElement *parse = gst_element_factory_make (parser, NULL);
  /* The demuxer feeds every stream from one thread while the muxer waits
   * for all of them: a queue per stream (the segment is in memory anyway). */
  GstElement *queue = gst_element_factory_make ("queue", NULL);
  if (parse == NULL || queue == NULL)
    {
      g_clear_object (&parse);
      g_clear_object (&queue);
      return;
    }
  g_object_set (queue, "max-size-buffers", 0, "max-size-bytes", 0, "max-size-time", (guint64) 0,
                NULL);
  gst_bin_add_many (GST_BIN (r->pipeline), queue, parse, NULL);
  gst_element_link (queue, parse);
  if (video)
    r->video_parse = parse;
  g_autoptr (GstPad) in = gst_element_get_static_pad (queue, "sink");
  g_autoptr (GstPad) out = gst_element_get_static_pad (parse, "src");
  g_autoptr (GstPad) muxpad = gst_element_request_pad_simple (r->mux, template);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, video ? count_video : count_audio, r, NULL);
  gst_pad_link (out, muxpad);
  gst_element_sync_state_with_parent (parse);
  gst_element_sync_state_with_parent (queue);
  gst_pad_link (pad, in);
}

/* avc1.PPCCLL from the parser's avcC (the browser wants the profile). */
static char *
video_codec (GstElement *parse)
{
  if (parse == NULL)
    return NULL;
  g_autoptr (GstPad) src = gst_element_get_static_pad (parse, "src");
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (src);
  const GValue *v =
    caps != NULL ? gst_structure_get_value (gst_caps_get_structure (caps, 0), "codec_data") : NULL;
  GstBuffer *data = v != NULL && G_VALUE_HOLDS (v, GST_TYPE_BUFFER) ? gst_value_get_buffer (v)
                                                                    : NULL;
  guint8 avcc[4];
  if (data == NULL || gst_buffer_extract (data, 0, avcc, 4) != 4)
    return g_strdup ("avc1.42e01e");
  return g_strdup_printf ("avc1.%02x%02x%02x", avcc[1], avcc[2], avcc[3]);
}

static gboolean
opus_rate (guint32 rate)
{
  return rate == 8000 || rate == 12000 || rate == 16000 || rate == 24000 || rate == 48000;
}

/* GStreamer 1.22's mp4mux writes the Opus dOps box's PreSkip,
 * InputSampleRate and OutputGain little-endian, as in OpusHead; ISO/IEC
 * 14496-12 Opus (and Chromium, which refuses the segment) want them
 * big-endian. Swapped in place when the little-endian reading is the
 * plausible one, so a fixed muxer is left alone. */
static void
fix_opus_dops (GByteArray *mp4)
{
  guint8 *p = mp4->data;
  for (guint i = 4; i + 15 <= mp4->len; i++)
    {
      if (memcmp (p + i, "dOps", 4) != 0 || GST_READ_UINT32_BE (p + i - 4) < 19)
        continue;
      guint8 *b = p + i + 4; /* Version, OutputChannelCount, PreSkip, InputSampleRate, OutputGain */
      if (opus_rate (GST_READ_UINT32_BE (b + 4)) || !opus_rate (GST_READ_UINT32_LE (b + 4)))
        return;
      guint16 skip = GST_READ_UINT16_LE (b + 2);
      guint32 rate = GST_READ_UINT32_LE (b + 4);
      gint16 gain = (gint16) GST_READ_UINT16_LE (b + 8);
      GST_WRITE_UINT16_BE (b + 2, skip);
      GST_WRITE_UINT32_BE (b + 4, rate);
      GST_WRITE_UINT16_BE (b + 8, (guint16) gain);
      return;
    }
}

static gpointer
init_gst (gpointer data)
{
  (void) data;
  gst_init (NULL, NULL);
  return NULL;
}

void
panel_remux_init (void)
{
  static GOnce once = G_ONCE_INIT;
  g_once (&once, init_gst, NULL);
}

PanelRemux *
panel_remux_matroska_to_fmp4 (GBytes *matroska, GError **error)
{
  panel_remux_init ();

  Remux r = { 0 };
  g_mutex_init (&r.lock);
  r.start_ns = -1;
  r.pipeline = gst_pipeline_new ("remux");
  GstElement *src = gst_element_factory_make ("appsrc", NULL);
  GstElement *demux = gst_element_factory_make ("matroskademux", NULL);
  r.mux = gst_element_factory_make ("mp4mux", NULL);
  GstElement *sink = gst_element_factory_make ("appsink", NULL);
  PanelRemux *result = NULL;
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GstBus) bus = gst_element_get_bus (r.pipeline);
  g_autofree char *video = NULL;
  if (src == NULL || demux == NULL || r.mux == NULL || sink == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "GStreamer's appsrc, matroskademux, mp4mux or appsink is missing");
      g_clear_object (&src);
      g_clear_object (&demux);
      g_clear_object (&r.mux);
      g_clear_object (&sink);
      goto done;
    }
  /* 1 s fragments: the browser can show a frame before the whole
   * segment is parsed; streamable: nothing is rewritten afterwards. */
  g_object_set (r.mux, "fragment-duration", 1000, "streamable", TRUE, NULL);
  g_object_set (src, "format", GST_FORMAT_BYTES, NULL);
  g_object_set (sink, "sync", FALSE, NULL);
  gst_bin_add_many (GST_BIN (r.pipeline), src, demux, r.mux, sink, NULL);
  gst_element_link (src, demux);
  gst_element_link (r.mux, sink);
  g_signal_connect (demux, "pad-added", G_CALLBACK (on_pad_added), &r);

  /* The bytes are handed over whole; appsrc keeps a reference. */
  GstBuffer *buffer = gst_buffer_new_wrapped_bytes (matroska);
  gst_app_src_push_buffer (GST_APP_SRC (src), buffer);
  gst_app_src_end_of_stream (GST_APP_SRC (src));

  if (gst_element_set_state (r.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the remux pipeline does not start");
      goto done;
    }
  gint64 deadline = g_get_monotonic_time () + REMUX_TIMEOUT_NS / 1000;
  for (;;)
    {
      g_autoptr (GstSample) sample =
        gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 100 * GST_MSECOND);
      if (sample != NULL)
        {
          GstMapInfo map;
          GstBuffer *b = gst_sample_get_buffer (sample);
          if (gst_buffer_map (b, &map, GST_MAP_READ))
            {
              g_byte_array_append (out, map.data, map.size);
              gst_buffer_unmap (b, &map);
            }
          continue;
        }
      g_autoptr (GstMessage) m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
      if (m != NULL)
        {
          g_autoptr (GError) e = NULL;
          gst_message_parse_error (m, &e, NULL);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "the segment cannot be remuxed: %s", e->message);
          goto done;
        }
      if (gst_app_sink_is_eos (GST_APP_SINK (sink)))
        break;
      if (g_get_monotonic_time () > deadline)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "the segment was not remuxed within %d s",
                       (int) (REMUX_TIMEOUT_NS / GST_SECOND));
          goto done;
        }
    }
  if (r.unknown != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "the segment holds a stream the browser player cannot carry: %s", r.unknown);
      goto done;
    }
  if (r.video_frames == 0 || out->len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the segment holds no video");
      goto done;
    }
  fix_opus_dops (out);
  result = g_new0 (PanelRemux, 1);
  video = video_codec (r.video_parse);
  result->codecs = r.audio_packets > 0 ? g_strconcat (video, ",opus", NULL)
                                       : g_steal_pointer (&video);
  result->start_ns = r.start_ns;
  result->video_frames = r.video_frames;
  result->audio_packets = r.audio_packets;
  result->mp4 = g_byte_array_free_to_bytes (g_steal_pointer (&out));

done:
  gst_element_set_state (r.pipeline, GST_STATE_NULL);
  gst_object_unref (r.pipeline);
  g_free (r.unknown);
  g_mutex_clear (&r.lock);
  return result;
}
