/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One recorded segment (Matroska: H.264, Opus where sound was recorded)
 * rewrapped as fragmented MP4 for the browser's Media Source Extensions:
 * the same coded frames, never re-encoded, in memory only. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  GBytes *mp4;     /* ftyp + moov + moof/mdat fragments */
  char *codecs;    /* for MediaSource: "avc1.64001f" or "avc1.64001f,opus" */
  gint64 start_ns; /* the segment's first video timestamp in the incident; the
                      * MP4's own timestamps start at 0 */
  guint video_frames;
  guint audio_packets;
} PanelRemux;

void panel_remux_free (PanelRemux *remux);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelRemux, panel_remux_free)

/* GStreamer's one-time initialisation; called once from the main thread
 * when the panel starts with playback (so its process-lifetime allocations
 * are made there, not in a worker); panel_remux_matroska_to_fmp4 calls it
 * too. */
void panel_remux_init (void);

/* Blocking (tens of milliseconds for a 2 s segment): call it from a worker
 * thread. An error names what could not be rewrapped. */
PanelRemux *panel_remux_matroska_to_fmp4 (GBytes *matroska, GError **error);

G_END_DECLS
