/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the pre-event ring: the encoded buffers of the last
 * pre_event time, held as whole GOPs so a recording starts at a keyframe. */
#include "recorder-private.h"

typedef struct {
  RecorderStream stream;
  GstBuffer *buffer;
} Entry;

typedef struct {
  GstClockTime pts; /* of its keyframe */
  gsize bytes;
  guint n_entries;
} Gop;

struct _RecorderRing {
  GstClockTime pre_event;
  gsize max_bytes;
  GQueue entries; /* Entry*, oldest first */
  GQueue gops;    /* Gop*, oldest first; entries are partitioned into them */
  gsize bytes;
  GstClockTime newest;
  guint64 n_dropped_for_cap;
};

RecorderRing *
recorder_ring_new (GstClockTime pre_event, gsize max_bytes)
{
  RecorderRing *ring = g_new0 (RecorderRing, 1);

  ring->pre_event = pre_event;
  ring->max_bytes = max_bytes;
  ring->newest = GST_CLOCK_TIME_NONE;
  g_queue_init (&ring->entries);
  g_queue_init (&ring->gops);
  return ring;
}

static void
drop_head_gop (RecorderRing *ring)
{
  Gop *gop = g_queue_pop_head (&ring->gops);

  for (guint i = 0; i < gop->n_entries; i++)
    {
      Entry *e = g_queue_pop_head (&ring->entries);
      gst_buffer_unref (e->buffer);
      g_free (e);
    }
  ring->bytes -= gop->bytes;
  g_free (gop);
}

void
recorder_ring_free (RecorderRing *ring)
{
  if (ring == NULL)
    return;
  while (!g_queue_is_empty (&ring->gops))
    drop_head_gop (ring);
  g_free (ring);
}

void
recorder_ring_push (RecorderRing *ring, RecorderStream stream, GstBuffer *buffer, GstClockTime now)
{
  gboolean keyframe = stream == RECORDER_STREAM_VIDEO
                      && !GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  gsize size = gst_buffer_get_size (buffer);

  if (keyframe)
    {
      Gop *gop = g_new0 (Gop, 1);
      gop->pts = GST_BUFFER_PTS (buffer);
      g_queue_push_tail (&ring->gops, gop);
    }
  else if (g_queue_is_empty (&ring->gops))
    {
      gst_buffer_unref (buffer);
      return;
    }

  Gop *tail = g_queue_peek_tail (&ring->gops);
  Entry *e = g_new (Entry, 1);
  e->stream = stream;
  e->buffer = buffer;
  g_queue_push_tail (&ring->entries, e);
  tail->n_entries++;
  tail->bytes += size;
  ring->bytes += size;
  if (GST_BUFFER_PTS_IS_VALID (buffer)
      && (ring->newest == GST_CLOCK_TIME_NONE || GST_BUFFER_PTS (buffer) > ring->newest))
    ring->newest = GST_BUFFER_PTS (buffer);

  /* The head stays the last keyframe at or before now - pre_event. */
  while (ring->gops.length >= 2)
    {
      Gop *next = g_queue_peek_nth (&ring->gops, 1);
      if (now == GST_CLOCK_TIME_NONE || now < ring->pre_event || next->pts > now - ring->pre_event)
        break;
      drop_head_gop (ring);
    }
  /* A stream far above its configured bit rate must not eat the board's
   * memory; the newest GOP always stays. */
  while (ring->bytes > ring->max_bytes && ring->gops.length >= 2)
    {
      drop_head_gop (ring);
      ring->n_dropped_for_cap++;
    }
}

GstClockTime
recorder_ring_foreach (RecorderRing *ring, GstClockTime from, RecorderRingFunc func,
                       gpointer user_data)
{
  GList *g = ring->gops.head, *l = ring->entries.head;

  if (g == NULL)
    return GST_CLOCK_TIME_NONE;
  /* Skip whole GOPs while the next one still starts at or before from. */
  while (from != GST_CLOCK_TIME_NONE && g->next != NULL && ((Gop *) g->next->data)->pts <= from)
    {
      for (guint i = 0; i < ((Gop *) g->data)->n_entries; i++)
        l = l->next;
      g = g->next;
    }
  Gop *start = g->data;

  /* The keyframe first, then sound captured after it that arrived before
   * it (audio encodes faster than video, so it sits in the GOP before),
   * then the rest in push order. Each stream keeps its own order. */
  func (RECORDER_STREAM_VIDEO, ((Entry *) l->data)->buffer, user_data);
  for (GList *a = ring->entries.head; a != l; a = a->next)
    {
      Entry *e = a->data;
      if (e->stream == RECORDER_STREAM_AUDIO && GST_BUFFER_PTS_IS_VALID (e->buffer)
          && GST_BUFFER_PTS (e->buffer) >= start->pts)
        func (e->stream, e->buffer, user_data);
    }
  for (l = l->next; l != NULL; l = l->next)
    {
      Entry *e = l->data;
      if (e->stream == RECORDER_STREAM_AUDIO && GST_BUFFER_PTS_IS_VALID (e->buffer)
          && GST_BUFFER_PTS (e->buffer) < start->pts)
        continue;
      func (e->stream, e->buffer, user_data);
    }
  return start->pts;
}

void
recorder_ring_get_stats (RecorderRing *ring, RecorderRingStats *out_stats)
{
  Gop *head = g_queue_peek_head (&ring->gops);

  out_stats->duration = head != NULL && ring->newest != GST_CLOCK_TIME_NONE
                            && ring->newest >= head->pts
                          ? ring->newest - head->pts
                          : 0;
  out_stats->bytes = ring->bytes;
  out_stats->n_gops = ring->gops.length;
  out_stats->n_buffers = ring->entries.length;
  out_stats->n_dropped_for_cap = ring->n_dropped_for_cap;
}
