/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Inside the recorder: the pre-event ring, capture sources, the segmenter
 * and incidents. Not part of the public interface (recorder.h). */
#pragma once

#include <gst/gst.h>

#include "db.h"
#include "evidence.h"

G_BEGIN_DECLS

/* Streams of a source, as held in the ring and fed to the segmenter. */
typedef enum {
  RECORDER_STREAM_VIDEO, /* H.264, stream-format avc, alignment au */
  RECORDER_STREAM_AUDIO, /* Opus */
  RECORDER_N_STREAMS,
} RecorderStream;

/* ---- prebuffer.c: the pre-event ring ------------------------------------ */

/* Encoded buffers of the last pre_event time, whole GOPs only, so replay
 * always starts at a video keyframe. Not thread-safe: the source holds its
 * lock around every call. Times are capture times: CLOCK_MONOTONIC in ns
 * (running time + base time on the system clock), continuous across
 * pipeline restarts. */
typedef struct _RecorderRing RecorderRing;

typedef struct {
  GstClockTime duration; /* newest buffer - first keyframe */
  gsize bytes;           /* payload bytes held */
  guint n_gops;
  guint n_buffers;
  guint64 n_dropped_for_cap; /* GOPs dropped early because max_bytes was reached */
} RecorderRingStats;

typedef void (*RecorderRingFunc) (RecorderStream stream, GstBuffer *buffer, gpointer user_data);

RecorderRing *recorder_ring_new (GstClockTime pre_event, gsize max_bytes);
void recorder_ring_free (RecorderRing *ring);
/* Takes the buffer. Video keyframes start a GOP; anything before the first
 * keyframe is dropped. Then drops whole GOPs from the head while the next
 * one still starts at or before now - pre_event (so the head stays at or
 * before now - pre_event), or while over max_bytes. */
void recorder_ring_push (RecorderRing *ring, RecorderStream stream, GstBuffer *buffer,
                         GstClockTime now);
/* Calls func on every buffer from the last keyframe at or before from (or
 * the head keyframe, if none is; from NONE: the head) on, in push order;
 * audio older than that keyframe is skipped. Returns that keyframe's PTS,
 * or GST_CLOCK_TIME_NONE when the ring is empty. */
GstClockTime recorder_ring_foreach (RecorderRing *ring, GstClockTime from, RecorderRingFunc func,
                                    gpointer user_data);
void recorder_ring_get_stats (RecorderRing *ring, RecorderRingStats *out_stats);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RecorderRing, recorder_ring_free)

/* ---- segmenter.c: buffers to sealed-size media files in memory ---------- */

typedef struct _RecorderSegmenter RecorderSegmenter;

/* One finished Matroska segment, on the main context. start and duration
 * are in the timeline of the buffers pushed (capture time, ns). */
typedef void (*RecorderSegmentFunc) (GBytes *media, GstClockTime start, GstClockTime duration,
                                     gpointer user_data);
/* All pushed buffers are in segments (error NULL), or the pipeline failed. */
typedef void (*RecorderSegmenterDoneFunc) (const GError *error, gpointer user_data);

/* audio_caps NULL: video only. Runs its own pipeline (appsrc ! splitmuxsink
 * with matroskamux and one GMemoryOutputStream per segment); nothing it
 * holds is ever written to disk. */
RecorderSegmenter *recorder_segmenter_new (const char *name, GstCaps *video_caps,
                                           GstCaps *audio_caps, guint segment_seconds,
                                           RecorderSegmentFunc segment_func,
                                           RecorderSegmenterDoneFunc done_func, gpointer user_data,
                                           GError **error);
/* Any thread, in order per stream. Buffers before the first video
 * keyframe are skipped; that keyframe's PTS is the segmenter's time zero.
 * After a hole in the video (a source failure) a new segment starts at the
 * next keyframe; delta frames before it cannot be decoded and are dropped
 * (and counted in the log). Does not take the buffer. */
void recorder_segmenter_push (RecorderSegmenter *seg, RecorderStream stream, GstBuffer *buffer);
/* No more buffers: the last segment is closed, then done_func runs. */
void recorder_segmenter_finish (RecorderSegmenter *seg);
void recorder_segmenter_free (RecorderSegmenter *seg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RecorderSegmenter, recorder_segmenter_free)

/* ---- source.c: capture, encode, keep the ring ---------------------------- */

typedef enum { RECORDER_VIDEO_TEST, RECORDER_VIDEO_V4L2, RECORDER_VIDEO_RTSP } RecorderVideoInput;
typedef enum {
  RECORDER_AUDIO_NONE,
  RECORDER_AUDIO_TEST,
  RECORDER_AUDIO_ALSA,
  RECORDER_AUDIO_PULSE,
  RECORDER_AUDIO_RTSP,
} RecorderAudioInput;

typedef struct {
  const char *name;
  gboolean wearable;
  RecorderVideoInput video;
  const char *device; /* v4l2 */
  const char *url;    /* rtsp */
  RecorderAudioInput audio;
  const char *audio_device; /* alsa */
  guint width, height, framerate, bitrate_kbps, keyframe_ms;
  const char *encoder; /* factory name, or "auto" */
  guint pre_event_seconds;
} RecorderSourceConfig;

typedef struct _RecorderSource RecorderSource;

/* One stream of a source lost while the other went on (a bodycam's
 * picture from the network, its sound from a microphone). Capture times,
 * CLOCK_MONOTONIC µs. */
typedef struct {
  RecorderStream stream;
  gint64 from_mono_us; /* end of its last buffer */
  gint64 to_mono_us;   /* its first usable buffer (a keyframe); 0: still lost */
  char *reason;        /* "source NAME: video lost: WHY" */
} RecorderOutage;

/* The H.264 encoder factory to use: requested if present, else the first
 * present of v4l2h264enc, x264enc, openh264enc; NULL with an error if none. */
char *recorder_pick_h264_encoder (const char *requested, GError **error);

/* Builds and starts the capture pipeline on the thread-default context. */
RecorderSource *recorder_source_new (const RecorderSourceConfig *config, GError **error);
void recorder_source_free (RecorderSource *src);
const char *recorder_source_get_name (RecorderSource *src);
gboolean recorder_source_has_audio (RecorderSource *src);
/* Replays the ring into seg from the last keyframe at or before
 * trigger_mono_us - pre_event and then forwards every new buffer, with no
 * buffer lost or repeated between the two (one lock). Returns the PTS of
 * the first buffer given (a keyframe), or GST_CLOCK_TIME_NONE when nothing
 * has been captured yet (then the first live keyframe starts it). */
GstClockTime recorder_source_attach (RecorderSource *src, RecorderSegmenter *seg,
                                     gint64 trigger_mono_us);
/* Stops forwarding; no push happens after this returns. */
void recorder_source_detach (RecorderSource *src);
/* Caps of the encoded streams once known (NULL before the first buffer). */
GstCaps *recorder_source_get_caps (RecorderSource *src, RecorderStream stream);
/* Why the source last failed (main context), or NULL. */
const char *recorder_source_get_last_error (RecorderSource *src);
/* The one-stream outages that ended after after_mono_us (the newest 64
 * are kept), then those still going on (to_mono_us 0); RecorderOutage*,
 * copies. A failure of a capture carrying every stream of the source is
 * not one: the hole in the picture shows it (recorder_source_get_last_error). */
GPtrArray *recorder_source_list_outages (RecorderSource *src, gint64 after_mono_us);
void recorder_source_get_ring_stats (RecorderSource *src, RecorderRingStats *out_stats);
/* What the recorder's status reports of a source (main context). */
typedef enum {
  RECORDER_SOURCE_STARTING, /* no frame since the recorder started */
  RECORDER_SOURCE_LIVE,     /* frames arriving */
  RECORDER_SOURCE_LOST,     /* failed or silent; being retried */
} RecorderSourceHealth;

typedef struct {
  RecorderSourceHealth health;
  gint64 since_wall_us;   /* in that health since (UTC) */
  const char *last_error; /* why it last failed, or NULL; owned by the source */
  guint n_outages;        /* failures since the start (each a gap in a recording then) */
} RecorderSourceState;

void recorder_source_get_state (RecorderSource *src, RecorderSourceState *out_state);
/* Waits (iterating the default context) until both streams' caps are known. */
gboolean recorder_source_wait_ready (RecorderSource *src, guint timeout_ms, GError **error);

/* ---- incident.c: one source's recording of one incident ----------------- */
/* Main context, except where said; the sealing itself runs on a thread of
 * the incident's own (seal-thread.c; the files of an incident and their
 * threads: incident-private.h). */

/* What incidents share, owned by the recorder. */
typedef struct {
  sqlite3 *db;         /* the main context's connection */
  const char *db_path; /* each sealing thread opens its own */
  const char *desk_id;
  const char *device_id;
  AnsimDeviceKey *device_key;
  GPtrArray *recipients; /* AnsimAgeRecipient* */
  const char *spool_dir;
  guint segment_seconds;
  gint64 post_event_us;
  gint64 max_incident_us;
  const char *uploader_socket; /* the uploader's wake socket, or NULL */
  GHashTable *chain_heads;     /* source name -> its newest incident's chain link
                                   * (chain-link.c; main context) */
  gint64 min_free_bytes;       /* [recorder] min_free_mb */
  gint64 held_cap_bytes;       /* [recorder] held_segments_mb, per incident */
  /* Segments waiting for disk space, all incidents together, for the
   * status reply; updated by sealing threads under spool_lock. */
  GMutex spool_lock;
  guint held_segments;
  gint64 held_bytes;
  guint64 unkept_segments;
} RecorderContext;

/* Bytes free for the recorder in dir, or -1 if it cannot be told (disk-full.c). */
gint64 recorder_free_bytes (const char *dir);

typedef struct _RecorderIncident RecorderIncident;

/* The incident has been closed (and written) or failed; free it now.
 * Runs on the context that opened the incident. */
typedef void (*RecorderIncidentClosedFunc) (RecorderIncident *inc, gpointer user_data);

/* Opens an incident for src at the trigger's edge time: database row,
 * event and alert in one transaction (fast: a few ms). Then call
 * recorder_incident_start(). */
RecorderIncident *recorder_incident_open (RecorderContext *ctx, RecorderSource *src,
                                          const char *trigger, AnsimTriggerKind kind,
                                          gint64 edge_mono_us, gint64 notice_mono_us,
                                          const char *const *notice_detail,
                                          RecorderIncidentClosedFunc closed_func,
                                          gpointer user_data, GError **error);
/* Starts recording (pre-event ring, then live) and the incident's sealing
 * thread, which writes the signed manifest with the press and notice
 * events first (chained to the same source's previous incident once that
 * one is closed). On failure the row is closed as "interrupted"; free the
 * incident. */
gboolean recorder_incident_start (RecorderIncident *inc, GError **error);
/* Another press of a trigger: an event of the incident, and the post-event
 * time starts again from it. */
void recorder_incident_extend (RecorderIncident *inc, const char *kind, gint64 mono_us);
/* An event of the alarm loop or the notice (detail: name, value, ...,
 * NULL, or NULL), in the manifest with its next version; the post-event
 * time is not changed. Ignored once the incident is ending. */
void recorder_incident_add_event (RecorderIncident *inc, const char *kind, gint64 mono_us,
                                  const char *const *detail);
/* Stops recording now; closed_func runs once the last segment is sealed. */
void recorder_incident_end (RecorderIncident *inc, const char *reason);
gboolean recorder_incident_is_ending (RecorderIncident *inc);
gint64 recorder_incident_get_opened_mono_us (RecorderIncident *inc);
gint64 recorder_incident_get_id (RecorderIncident *inc);
const char *recorder_incident_get_uuid (RecorderIncident *inc);
void recorder_incident_free (RecorderIncident *inc);

/* At start: closes every incident left open (a crash or power cut) with
 * reason "interrupted", signs its manifest again and queues it. */
gboolean recorder_incidents_close_interrupted (RecorderContext *ctx, GError **error);

G_END_DECLS
