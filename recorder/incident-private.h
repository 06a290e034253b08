/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What the files of one incident's recording share, inside recorder/ only:
 *   incident.c      the lifecycle on the main context: open, start, extend,
 *                   end, free; gaps and timers
 *   seal-thread.c   the incident's sealing thread and its job queue
 *   disk-full.c     the disk-full policy: hold segments in memory, in order
 *   incident-db.c   the incident's rows in the desk database
 *   chain-link.c    handing a closed incident's final hash to its successor
 *   recovery.c      closing incidents a crash left open
 *
 * Threads: the main context opens the incident, receives its segments from
 * the segmenter and decides gaps, ends and events; everything slow (age
 * encryption, hashing, signing, fsync, the database rows of each entry)
 * runs on the incident's own sealing thread, which takes jobs from one
 * queue in order, so segments stay in order and a press never waits for a
 * disk. The sealing thread owns the manifest and its own database
 * connection; it tells the main context when the incident is closed.
 * Sealing order (crash-safe): a segment file gets its final name only once
 * the signed manifest listing it is durable; then the database rows. */
#pragma once

#include "recorder-private.h"

G_BEGIN_DECLS

/* ---- chain-link.c ---------------------------------------------------------- */

/* The final manifest hash of one source's newest incident, for its
 * successor to chain to. Refcounted; set once, by the sealing thread. */
typedef struct {
  gint ref;
  GMutex lock;
  GCond cond;
  gboolean done; /* closed (or failed): hash is final */
  char *hash;    /* NULL: no final manifest */
} RecorderChainLink;

RecorderChainLink *recorder_chain_link_new (void);
RecorderChainLink *recorder_chain_link_ref (RecorderChainLink *l);
void recorder_chain_link_unref (gpointer p);
/* Once, by the sealing thread (or at free): the final hash, or NULL. */
void recorder_chain_link_set (RecorderChainLink *l, const char *hash);
/* Without waiting: whether it is done, and then its hash (or NULL). */
gboolean recorder_chain_link_peek (RecorderChainLink *l, char **out_hash);
/* Waits for the predecessor to be closed; its final hash or NULL. */
char *recorder_chain_link_wait (RecorderChainLink *l);

/* ---- the sealing thread's jobs ------------------------------------------- */

typedef enum {
  JOB_START,      /* create and write the first manifest */
  JOB_SEGMENT,    /* seal one segment */
  JOB_GAP,        /* a gap entry (written with the next manifest) */
  JOB_STREAM_GAP, /* a one-stream gap entry (stream in Job.stream) */
  JOB_EVENT,      /* an event (written with the next manifest) */
  JOB_CLOSE,      /* close the manifest and the incident; the last job */
} JobKind;

typedef struct {
  JobKind kind;
  GBytes *media;
  gint64 wall_us, mono_us, duration_us;
  char *text;         /* gap reason, event kind, close reason */
  char **detail;      /* JOB_EVENT: the event's detail (name, value, ..., NULL), or NULL */
  const char *stream; /* JOB_STREAM_GAP: "video" or "audio" (static) */
} Job;

void incident_job_free (Job *job);

struct _RecorderIncident {
  RecorderContext *ctx;   /* not owned */
  RecorderSource *source; /* not owned */
  gint64 id;
  char *uuid;
  char *dir; /* spool_dir/uuid */
  char *trigger;
  char *source_name;
  AnsimTriggerKind kind;
  gint64 opened_mono_us;
  gint64 notice_mono_us;
  char **notice_detail; /* how the notice was given (name, value, ..., NULL) */
  GstCaps *caps[RECORDER_N_STREAMS];
  GMainContext *main_context;
  RecorderIncidentClosedFunc closed_func;
  gpointer user_data;
  /* main context only */
  RecorderSegmenter *segmenter;
  gint64 live_from_mono_us; /* when recording started */
  gint64 deadline_mono_us;  /* post-event end */
  guint timer;
  char *end_reason; /* set once ending */
  gint64 end_mono_us;
  gint64 next_start_mono_us;                     /* end of the last segment delivered, or 0 */
  gint64 first_start_mono_us;                    /* start of the first segment delivered, or 0 */
  gint64 stream_gap_from_us[RECORDER_N_STREAMS]; /* outages from here on are not declared yet */
  /* sealing */
  GAsyncQueue *jobs;              /* Job*, in order */
  GThread *thread;                /* NULL before start */
  RecorderChainLink *link;        /* this incident's final hash (owned ref) */
  RecorderChainLink *predecessor; /* the same source's previous incident still closing */
  char *prev_manifest;            /* what the manifest chains to, known at open, or NULL */
  /* sealing thread only */
  sqlite3 *db;
  AnsimManifest *manifest;
  gboolean failed;   /* sealing failed: segments no longer written */
  guint n_committed; /* manifest entries with their database rows */
  guint n_segments;
  guint64 n_unsealed; /* segments received after a failure */
  /* disk full (sealing thread only) */
  GQueue held; /* Job* (segments, gaps) waiting for space, in order */
  gint64 held_bytes;
  gboolean low; /* in a disk-full episode */
  guint unkept; /* segments not kept (memory cap), > 0: a gap pending */
  gint64 unkept_from_mono_us, unkept_from_wall_us, unkept_to_mono_us;
};

static inline gint64
incident_wall_of_mono (gint64 mono_us)
{
  return g_get_real_time () - (g_get_monotonic_time () - mono_us);
}

/* ---- seal-thread.c ------------------------------------------------------- */

typedef enum {
  SEAL_OK,
  SEAL_NO_ROOM, /* nothing changed: try again when there is space */
  SEAL_FAILED,  /* reported; the incident takes no more entries */
} SealResult;

/* The thread body; data is the incident. Ends after JOB_CLOSE, then
 * calls closed_func on the main context. */
gpointer incident_seal_thread (gpointer user_data);
/* Main context: queues one job for the sealing thread. */
void incident_push_job (RecorderIncident *inc, JobKind kind, GBytes *media, gint64 wall_us,
                        gint64 mono_us, gint64 duration_us, const char *text);
/* Main context: queues an event with its detail (name, value, ..., NULL;
 * may be NULL), written with the next manifest. */
void incident_push_event (RecorderIncident *inc, const char *kind, gint64 mono_us,
                          const char *const *detail);
/* Sealing thread: one segment or gap into the manifest, in order. */
SealResult incident_seal_one (RecorderIncident *inc, Job *job);

/* ---- disk-full.c (sealing thread) ---------------------------------------- */

/* Whether a segment of len bytes leaves min_free_bytes free. */
gboolean incident_has_room (RecorderIncident *inc, gsize len);
gboolean incident_waiting_for_space (RecorderIncident *inc);
/* Writes what waits for space, in order, while there is space; then the
 * gap of what could not be kept. */
void incident_flush_held (RecorderIncident *inc);
/* A segment or gap, in order after everything before it; held in memory
 * while the disk is full, up to the cap, then declared as a gap. Takes job. */
void incident_seal_in_order (RecorderIncident *inc, Job *job);

/* ---- incident-db.c ------------------------------------------------------- */

/* The incident row, its alert and its opening event, in one transaction
 * on ctx->db; sets inc->id. */
gboolean incident_db_insert (RecorderIncident *inc, AnsimTriggerKind kind, const char *prev_hash,
                             gint64 opened_wall, GError **error);
gboolean incident_db_queue_manifest (sqlite3 *db, gint64 incident_id, const char *uuid,
                                     const char *manifest_hash, GError **error);
/* The segment and outbox rows of manifest entries from position `from`
 * on; inside the caller's transaction. */
gboolean incident_db_record_entries (sqlite3 *db, gint64 incident_id, const char *uuid,
                                     const AnsimManifest *manifest, guint from, GError **error);
/* Closes the row (and records entries from `from` on and the manifest's
 * hash, if manifest is not NULL) with its closing event, in one
 * transaction. */
gboolean incident_db_close (RecorderContext *ctx, sqlite3 *db, gint64 id, const char *uuid,
                            const char *reason, gint64 wall_us, gint64 mono_us,
                            const AnsimManifest *manifest, guint from, GError **error);
/* The final manifest hash of this source's latest closed incident. */
char *incident_db_previous_manifest_hash (sqlite3 *db, const char *source);
/* Any thread, with the database connection of that thread (or NULL): logs
 * the failure and records an "error" event. */
void incident_report_failure (RecorderIncident *inc, sqlite3 *db, const char *what,
                              const GError *error);

G_END_DECLS
