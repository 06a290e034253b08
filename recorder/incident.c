/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains an incident as one source records it: the database
 * row, the signed manifest, sealing each segment from memory into the
 * spool, the post-event and maximum-length timers, and closing incidents a
 * crash left open.
 *
 * Threads: the main context opens the incident, receives its segments from
 * the segmenter and decides gaps, ends and events; everything slow (age
 * encryption, hashing, signing, fsync, the database rows of each entry)
 * runs on the incident's own sealing thread, which takes jobs from one
 * queue in order, so segments stay in order and a press never waits for a
 * disk. The sealing thread owns the manifest and its own database
 * connection; it tells the main context when the incident is closed. */
#include "recorder-private.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "outbox.h"
#include "segments.h"

/* The final manifest hash of one source's newest incident, for its
 * successor to chain to. Refcounted; set once, by the sealing thread. */
typedef struct {
  gint ref;
  GMutex lock;
  GCond cond;
  gboolean done;       /* closed (or failed): hash is final */
  char *hash;          /* NULL: no final manifest */
} ChainLink;

static ChainLink *
chain_link_new (void)
{
  ChainLink *l = g_new0 (ChainLink, 1);
  l->ref = 1;
  g_mutex_init (&l->lock);
  g_cond_init (&l->cond);
  return l;
}

static ChainLink *
chain_link_ref (ChainLink *l)
{
  g_atomic_int_inc (&l->ref);
  return l;
}

static void
chain_link_unref (gpointer p)
{
  ChainLink *l = p;
  if (l == NULL || !g_atomic_int_dec_and_test (&l->ref))
    return;
  g_mutex_clear (&l->lock);
  g_cond_clear (&l->cond);
  g_free (l->hash);
  g_free (l);
}

static void
chain_link_set (ChainLink *l, const char *hash)
{
  g_mutex_lock (&l->lock);
  l->hash = g_strdup (hash);
  l->done = TRUE;
  g_cond_broadcast (&l->cond);
  g_mutex_unlock (&l->lock);
}

/* Without waiting: whether it is done, and then its hash (or NULL). */
static gboolean
chain_link_peek (ChainLink *l, char **out_hash)
{
  g_mutex_lock (&l->lock);
  gboolean done = l->done;
  *out_hash = done ? g_strdup (l->hash) : NULL;
  g_mutex_unlock (&l->lock);
  return done;
}

/* Waits for the predecessor to be closed; its final hash or NULL. */
static char *
chain_link_wait (ChainLink *l)
{
  g_mutex_lock (&l->lock);
  while (!l->done)
    g_cond_wait (&l->cond, &l->lock);
  char *hash = g_strdup (l->hash);
  g_mutex_unlock (&l->lock);
  return hash;
}

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
  char *text;     /* gap reason, event kind, close reason */
  const char *stream;   /* JOB_STREAM_GAP: "video" or "audio" (static) */
} Job;

static void
job_free (Job *job)
{
  g_clear_pointer (&job->media, g_bytes_unref);
  g_free (job->text);
  g_free (job);
}

struct _RecorderIncident {
  RecorderContext *ctx;              /* not owned */
  RecorderSource *source;            /* not owned */
  gint64 id;
  char *uuid;
  char *dir;                         /* spool_dir/uuid */
  char *trigger;
  char *source_name;
  AnsimTriggerKind kind;
  gint64 opened_mono_us;
  gint64 notice_mono_us;
  GstCaps *caps[RECORDER_N_STREAMS];
  GMainContext *main_context;
  RecorderIncidentClosedFunc closed_func;
  gpointer user_data;
  /* main context only */
  RecorderSegmenter *segmenter;
  gint64 live_from_mono_us;          /* when recording started */
  gint64 deadline_mono_us;           /* post-event end */
  guint timer;
  char *end_reason;                  /* set once ending */
  gint64 end_mono_us;
  gint64 next_start_mono_us;         /* end of the last segment delivered, or 0 */
  gint64 first_start_mono_us;        /* start of the first segment delivered, or 0 */
  gint64 stream_gap_from_us[RECORDER_N_STREAMS];   /* outages from here on are not declared yet */
  /* sealing */
  GAsyncQueue *jobs;                 /* Job*, in order */
  GThread *thread;                   /* NULL before start */
  ChainLink *link;                   /* this incident's final hash (owned ref) */
  ChainLink *predecessor;            /* the same source's previous incident still closing */
  char *prev_manifest;               /* what the manifest chains to, known at open, or NULL */
  /* sealing thread only */
  sqlite3 *db;
  AnsimManifest *manifest;
  gboolean failed;                   /* sealing failed: segments no longer written */
  guint n_committed;                 /* manifest entries with their database rows */
  guint n_segments;
  guint64 n_unsealed;                /* segments received after a failure */
  /* disk full (sealing thread only) */
  GQueue held;                       /* Job* (segments, gaps) waiting for space, in order */
  gint64 held_bytes;
  gboolean low;                      /* in a disk-full episode */
  guint unkept;                      /* segments not kept (memory cap), > 0: a gap pending */
  gint64 unkept_from_mono_us, unkept_from_wall_us, unkept_to_mono_us;
};

gint64
recorder_free_bytes (const char *dir)
{
  struct statvfs vfs;
  return statvfs (dir, &vfs) == 0 ? (gint64) vfs.f_bavail * (gint64) vfs.f_frsize : -1;
}

static gint64
wall_of_mono (gint64 mono_us)
{
  return g_get_real_time () - (g_get_monotonic_time () - mono_us);
}

static char *
json_escape (const char *s)
{
  g_autoptr (GString) out = g_string_new (NULL);
  for (const char *p = s; *p; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_c (out, '\\');
      if ((guchar) *p < 0x20)
        g_string_append_printf (out, "\\u%04x", *p);
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
queue_manifest (sqlite3 *db, gint64 incident_id, const char *uuid, const char *manifest_hash,
                GError **error)
{
  g_autoptr (sqlite3_stmt) up = ansim_db_prepare (db,
    "UPDATE incidents SET manifest_hash = ?2 WHERE id = ?1", error);
  if (up == NULL)
    return FALSE;
  g_autofree char *path = g_build_filename (uuid, ANSIM_MANIFEST_NAME, NULL);
  sqlite3_bind_int64 (up, 1, incident_id);
  sqlite3_bind_text (up, 2, manifest_hash, -1, SQLITE_STATIC);
  if (sqlite3_step (up) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "queueing the manifest");
  return ansim_outbox_queue_manifest (db, incident_id, path, NULL, error);
}

/* The segment and outbox rows of manifest entries from position `from`
 * on; inside the caller's transaction. */
static gboolean
record_entries (sqlite3 *db, gint64 incident_id, const char *uuid, const AnsimManifest *manifest,
                guint from, GError **error)
{
  guint n = ansim_manifest_get_n_entries (manifest);

  for (guint i = from; i < n; i++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (manifest, i);
      gboolean media = e->kind == ANSIM_ENTRY_SEGMENT;
      g_autofree char *path = media ? g_build_filename (uuid, e->file, NULL) : NULL;

      g_autoptr (sqlite3_stmt) seg = ansim_db_prepare (db,
        "INSERT INTO segments (" ANSIM_SEGMENTS_COLUMNS ", spool_path, sealed_at_us) "
        "VALUES (" ANSIM_SEGMENTS_VALUES ", ?14, ?15)", error);
      if (seg == NULL)
        return FALSE;
      ansim_segments_bind_entry (seg, incident_id, e);
      if (media)
        sqlite3_bind_text (seg, 14, path, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (seg, 15, g_get_real_time ());
      if (sqlite3_step (seg) != SQLITE_DONE)
        return ansim_db_set_error (db, error, "recording the segment");
      if (media && !ansim_outbox_queue_segment (db, incident_id, (gint64) e->index, path,
                                                NULL, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
close_in_db (RecorderContext *ctx, sqlite3 *db, gint64 id, const char *uuid, const char *reason,
             gint64 wall_us, gint64 mono_us, const AnsimManifest *manifest, guint from,
             GError **error)
{
  const char *manifest_hash = manifest != NULL ? ansim_manifest_get_written_sha256 (manifest)
                                               : NULL;
  g_autofree char *detail = g_strdup_printf ("{\"uuid\":\"%s\",\"reason\":\"%s\"}", uuid,
                                             reason);
  if (!ansim_db_begin (db, error))
    return FALSE;
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (db,
    "UPDATE incidents SET closed_wall_us = ?2, closed_mono_us = ?3, close_reason = ?4 "
    "WHERE id = ?1", error);
  if (st == NULL)
    goto fail;
  sqlite3_bind_int64 (st, 1, id);
  sqlite3_bind_int64 (st, 2, wall_us);
  sqlite3_bind_int64 (st, 3, mono_us);
  sqlite3_bind_text (st, 4, reason, -1, SQLITE_STATIC);
  if (sqlite3_step (st) != SQLITE_DONE)
    {
      ansim_db_set_error (db, error, "closing the incident");
      goto fail;
    }
  if (manifest != NULL && !record_entries (db, id, uuid, manifest, from, error))
    goto fail;
  if (manifest_hash != NULL && !queue_manifest (db, id, uuid, manifest_hash, error))
    goto fail;
  gint64 event_id = 0;
  if (!ansim_db_log_event (db, "incident-closed", ctx->desk_id, NULL, id, mono_us, detail,
                           &event_id, error) ||
      !ansim_outbox_queue_event (db, event_id, NULL, error))
    goto fail;
  return ansim_db_commit (db, error);

fail:
  ansim_db_rollback (db);
  return FALSE;
}

/* Any thread, with the database connection of that thread. */
static void
report_failure (RecorderIncident *inc, sqlite3 *db, const char *what, const GError *error)
{
  g_autofree char *msg = json_escape (error->message);
  g_autofree char *detail = g_strdup_printf ("{\"what\":\"%s\",\"message\":\"%s\"}", what, msg);
  g_warning ("incident %s (%s): %s failed: %s", inc->uuid, inc->source_name, what,
             error->message);
  if (db != NULL)
    ansim_db_log_event (db, "error", inc->ctx->desk_id, inc->trigger, inc->id,
                        g_get_monotonic_time (), detail, NULL, NULL);
}

/* ---- the sealing thread ------------------------------------------------------ */

/* In one transaction: the rows of the entries the database lacks, the
 * outbox rows and the hash of the manifest just written. The manifest
 * (and every file it lists) is durable before this runs, so a crash
 * before the commit loses nothing: the next start adds the rows. */
static gboolean
commit_db (RecorderIncident *inc, GError **error)
{
  guint n = ansim_manifest_get_n_entries (inc->manifest);

  if (!ansim_db_begin (inc->db, error))
    return FALSE;
  if (!record_entries (inc->db, inc->id, inc->uuid, inc->manifest, inc->n_committed, error) ||
      !queue_manifest (inc->db, inc->id, inc->uuid,
                       ansim_manifest_get_written_sha256 (inc->manifest), error))
    {
      ansim_db_rollback (inc->db);
      return FALSE;
    }
  if (!ansim_db_commit (inc->db, error))
    return FALSE;
  inc->n_committed = n;
  return TRUE;
}

/* Writes the manifest, then commit_db(). */
static gboolean
commit_manifest (RecorderIncident *inc, GError **error)
{
  return ansim_manifest_write (inc->manifest, inc->dir, inc->ctx->device_key, error)
    && commit_db (inc, error);
}

/* The final manifest hash of this source's latest closed incident (one
 * chain per device and source; docs/evidence-format.md, "The chain"). */
static char *
previous_manifest_hash (sqlite3 *db, const char *source)
{
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (db,
    "SELECT i.manifest_hash FROM incidents i JOIN events e ON e.incident_id = i.id "
    "AND e.kind = 'incident-opened' WHERE i.closed_wall_us IS NOT NULL "
    "AND i.manifest_hash IS NOT NULL AND json_extract (e.detail, '$.source') = ?1 "
    "ORDER BY i.id DESC LIMIT 1", NULL);
  if (st == NULL)
    return NULL;
  sqlite3_bind_text (st, 1, source, -1, SQLITE_STATIC);
  if (sqlite3_step (st) == SQLITE_ROW)
    return g_strdup ((const char *) sqlite3_column_text (st, 0));
  return NULL;
}

static gboolean
seal_start (RecorderIncident *inc, GError **error)
{
  RecorderContext *ctx = inc->ctx;

  if (inc->predecessor != NULL)
    {
      /* The same source's previous incident was still closing at the press:
       * chain to its final manifest once it is written. */
      g_free (inc->prev_manifest);
      inc->prev_manifest = chain_link_wait (inc->predecessor);
      if (inc->prev_manifest == NULL)
        inc->prev_manifest = previous_manifest_hash (inc->db, inc->source_name);
      g_autoptr (sqlite3_stmt) st = ansim_db_prepare (inc->db,
        "UPDATE incidents SET prev_manifest_hash = ?2 WHERE id = ?1", error);
      if (st == NULL)
        return FALSE;
      sqlite3_bind_int64 (st, 1, inc->id);
      if (inc->prev_manifest != NULL)
        sqlite3_bind_text (st, 2, inc->prev_manifest, -1, SQLITE_STATIC);
      if (sqlite3_step (st) != SQLITE_DONE)
        return ansim_db_set_error (inc->db, error, "recording what the incident chains to");
    }
  gint64 opened_wall = wall_of_mono (inc->opened_mono_us);
  AnsimManifestInfo info = {
    .device_id = ctx->device_id,
    .desk_id = ctx->desk_id,
    .trigger_name = inc->trigger,
    .trigger_kind = inc->kind,
    .source = inc->source_name,
    .incident_id = inc->uuid,
    .opened_wall_us = opened_wall,
    .opened_mono_us = inc->opened_mono_us,
    .previous_manifest_sha256 = inc->prev_manifest,
  };
  inc->manifest = ansim_manifest_new (&info, ctx->device_key, error);
  return inc->manifest != NULL &&
    ansim_manifest_add_event (inc->manifest, "press", opened_wall, inc->opened_mono_us, error) &&
    ansim_manifest_add_event (inc->manifest, "notice-given", wall_of_mono (inc->notice_mono_us),
                              inc->notice_mono_us, error) &&
    commit_manifest (inc, error);
}

typedef enum {
  SEAL_OK,
  SEAL_NO_ROOM,     /* nothing changed: try again when there is space */
  SEAL_FAILED,      /* reported; the incident takes no more entries */
} SealResult;

static void
count_held (RecorderContext *ctx, int segments, gint64 bytes, guint unkept)
{
  g_mutex_lock (&ctx->spool_lock);
  ctx->held_segments += segments;
  ctx->held_bytes += bytes;
  ctx->unkept_segments += unkept;
  g_mutex_unlock (&ctx->spool_lock);
}

/* A disk-full episode starts or ends: the log, the event log and the
 * manifest (an event, on disk with the next manifest written) say so. */
static void
set_low (RecorderIncident *inc, gboolean low)
{
  RecorderContext *ctx = inc->ctx;
  gint64 free_bytes = recorder_free_bytes (ctx->spool_dir);
  gint64 mono = g_get_monotonic_time ();
  g_autofree char *detail = g_strdup_printf ("{\"free_mb\":%" G_GINT64_FORMAT ",\"min_free_mb\":%"
                                             G_GINT64_FORMAT ",\"held_segments\":%u}",
                                             free_bytes / (1024 * 1024),
                                             ctx->min_free_bytes / (1024 * 1024),
                                             g_queue_get_length (&inc->held));
  if (inc->low == low)
    return;
  inc->low = low;
  if (low)
    g_warning ("incident %s (%s): spool %s has %.1f MB free, below min_free_mb (%" G_GINT64_FORMAT
               "): holding segments in memory (up to %" G_GINT64_FORMAT " MB) until space "
               "returns; nothing is deleted", inc->uuid, inc->source_name, ctx->spool_dir,
               free_bytes / 1048576.0, ctx->min_free_bytes / (1024 * 1024),
               ctx->held_cap_bytes / (1024 * 1024));
  else
    g_message ("incident %s (%s): space is back in %s (%.1f MB free): held segments written",
               inc->uuid, inc->source_name, ctx->spool_dir, free_bytes / 1048576.0);
  if (inc->db != NULL)
    ansim_db_log_event (inc->db, low ? "disk-low" : "disk-ok", ctx->desk_id, inc->trigger, inc->id,
                        mono, detail, NULL, NULL);
  if (inc->manifest != NULL && !ansim_manifest_is_closed (inc->manifest))
    ansim_manifest_add_event (inc->manifest, low ? "disk-low" : "disk-ok", wall_of_mono (mono),
                              mono, NULL);
}

static gboolean
has_room (RecorderIncident *inc, gsize len)
{
  gint64 free_bytes = recorder_free_bytes (inc->ctx->spool_dir);
  /* Ciphertext is the plaintext plus 16 bytes per 64 KiB and the header. */
  return free_bytes < 0 || free_bytes - (gint64) (len + len / 2048 + 4096) >= inc->ctx->min_free_bytes;
}

/* One segment or gap into the manifest, in order. */
static SealResult
seal_one (RecorderIncident *inc, Job *job)
{
  RecorderContext *ctx = inc->ctx;
  g_autoptr (GError) error = NULL;

  if (job->kind == JOB_GAP || job->kind == JOB_STREAM_GAP)
    {
      /* Written with the next manifest. */
      g_message ("incident %s: %s%sgap of %.1f s (%s)", inc->uuid,
                 job->stream != NULL ? job->stream : "", job->stream != NULL ? " " : "",
                 job->duration_us / 1e6, job->text);
      if (job->stream != NULL
          ? !ansim_manifest_add_stream_gap (inc->manifest, job->wall_us, job->mono_us,
                                            job->duration_us, job->stream, job->text, &error)
          : !ansim_manifest_add_gap (inc->manifest, job->wall_us, job->mono_us, job->duration_us,
                                     job->text, &error))
        {
          inc->failed = TRUE;
          report_failure (inc, inc->db, "recording a gap", error);
          return SEAL_FAILED;
        }
      return SEAL_OK;
    }
  gsize len;
  const guint8 *data = g_bytes_get_data (job->media, &len);
  if (!has_room (inc, len))
    return SEAL_NO_ROOM;
  guint before = ansim_manifest_get_n_entries (inc->manifest);
  /* Crash-safe order: the file gets its final name only once the signed
   * manifest listing it is durable; then the database rows. */
  if (!ansim_manifest_seal_segment_durable (inc->manifest, inc->dir, ctx->device_key,
                                            (AnsimAgeRecipient *const *) ctx->recipients->pdata,
                                            ctx->recipients->len, data, len, job->wall_us,
                                            job->mono_us, job->duration_us, &error))
    {
      /* Full before the segment was listed: the evidence library removed
       * its temp file and nothing changed, so it can wait for space. */
      if (g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOSPC) &&
          ansim_manifest_get_n_entries (inc->manifest) == before)
        return SEAL_NO_ROOM;
      /* Otherwise stop adding to this incident rather than write a chain
       * with a hole. */
      inc->failed = TRUE;
      report_failure (inc, inc->db, "sealing a segment", error);
      return SEAL_FAILED;
    }
  if (!commit_db (inc, &error))
    {
      inc->failed = TRUE;
      report_failure (inc, inc->db, "recording a sealed segment", error);
      return SEAL_FAILED;
    }
  inc->n_segments++;
  guint n = ansim_manifest_get_n_entries (inc->manifest);
  const AnsimManifestEntry *e = ansim_manifest_get_entry (inc->manifest, n - 1);
  g_autofree char *detail = g_strdup_printf ("{\"idx\":%" G_GUINT64_FORMAT ",\"file\":\"%s\","
                                             "\"bytes\":%" G_GINT64_FORMAT ",\"duration_us\":%"
                                             G_GINT64_FORMAT "}", e->index, e->file,
                                             e->cipher_size, e->duration_us);
  ansim_db_log_event (inc->db, "segment-sealed", ctx->desk_id, inc->trigger, inc->id,
                      g_get_monotonic_time (), detail, NULL, NULL);
  g_debug ("incident %s: sealed %s (%" G_GSIZE_FORMAT " bytes, %.2f s)", inc->uuid, e->file, len,
           job->duration_us / 1e6);
  return SEAL_OK;
}

static gboolean
waiting_for_space (RecorderIncident *inc)
{
  return !g_queue_is_empty (&inc->held) || inc->unkept > 0;
}

/* Writes what waits for space, in order, while there is space; then the
 * gap of what could not be kept. */
static void
flush_held (RecorderIncident *inc)
{
  Job *job;

  while ((job = g_queue_peek_head (&inc->held)) != NULL)
    {
      SealResult r = seal_one (inc, job);
      if (r == SEAL_NO_ROOM)
        return;
      g_queue_pop_head (&inc->held);
      gsize len = job->media != NULL ? g_bytes_get_size (job->media) : 0;
      inc->held_bytes -= len;
      count_held (inc->ctx, job->kind == JOB_SEGMENT ? -1 : 0, -(gint64) len, 0);
      job_free (job);
      if (r == SEAL_FAILED)
        break;
    }
  if (inc->failed)
    {
      /* Reported already; what waits can no longer be chained. */
      while ((job = g_queue_pop_head (&inc->held)) != NULL)
        {
          gsize len = job->media != NULL ? g_bytes_get_size (job->media) : 0;
          count_held (inc->ctx, job->kind == JOB_SEGMENT ? -1 : 0, -(gint64) len, 0);
          job_free (job);
        }
      inc->held_bytes = 0;
      return;
    }
  if (inc->unkept > 0)
    {
      g_autoptr (GError) error = NULL;
      gint64 duration = inc->unkept_to_mono_us - inc->unkept_from_mono_us;
      g_warning ("incident %s (%s): %u segment(s), %.1f s, could not be kept while the disk was "
                 "full: recorded as a disk-full gap", inc->uuid, inc->source_name, inc->unkept,
                 duration / 1e6);
      if (!ansim_manifest_add_gap (inc->manifest, inc->unkept_from_wall_us,
                                   inc->unkept_from_mono_us, duration, "disk-full", &error))
        {
          inc->failed = TRUE;
          report_failure (inc, inc->db, "recording a disk-full gap", error);
        }
      inc->unkept = 0;
    }
  set_low (inc, FALSE);
}

/* A segment or gap, in order after everything before it; held in memory
 * while the disk is full, up to the cap, then declared as a gap. */
static void
seal_in_order (RecorderIncident *inc, Job *job)
{
  RecorderContext *ctx = inc->ctx;

  if (inc->failed || inc->manifest == NULL)
    {
      if (job->kind == JOB_SEGMENT && inc->n_unsealed++ % 30 == 0)
        g_warning ("incident %s (%s): %" G_GUINT64_FORMAT " segment(s) not sealed since the "
                   "failure above", inc->uuid, inc->source_name, inc->n_unsealed);
      job_free (job);
      return;
    }
  if (waiting_for_space (inc))
    flush_held (inc);
  if (!waiting_for_space (inc))
    {
      SealResult r = seal_one (inc, job);
      if (r != SEAL_NO_ROOM)
        {
          job_free (job);
          return;
        }
      set_low (inc, TRUE);
    }
  gsize len = job->media != NULL ? g_bytes_get_size (job->media) : 0;
  if (inc->unkept == 0 && inc->held_bytes + (gint64) len <= ctx->held_cap_bytes)
    {
      g_queue_push_tail (&inc->held, job);
      inc->held_bytes += len;
      count_held (ctx, job->kind == JOB_SEGMENT ? 1 : 0, len, 0);
      return;
    }
  /* Over the cap: not kept. Everything after it waits too, so the order
   * holds: held segments, then one gap for what was not kept. */
  if (inc->unkept == 0)
    {
      inc->unkept_from_mono_us = job->mono_us;
      inc->unkept_from_wall_us = job->wall_us;
      g_warning ("incident %s (%s): memory for held segments is full (%" G_GINT64_FORMAT
                 " MB): further segments are not kept until space returns; their time becomes "
                 "a disk-full gap", inc->uuid, inc->source_name, ctx->held_cap_bytes / 1048576);
    }
  /* A one-stream gap overlaps the segments before it. */
  inc->unkept_to_mono_us = MAX (inc->unkept_to_mono_us, job->mono_us + job->duration_us);
  if (job->kind == JOB_SEGMENT)
    {
      inc->unkept++;
      count_held (ctx, 0, 0, 1);
    }
  job_free (job);
}

static void
seal_close (RecorderIncident *inc, Job *job)
{
  RecorderContext *ctx = inc->ctx;
  g_autoptr (GError) error = NULL;

  /* What waits for space is written before the close, however long that
   * takes (a shutdown that cannot wait leaves the incident open: the next
   * start closes it as interrupted). */
  for (guint tries = 0; waiting_for_space (inc) && !inc->failed; tries++)
    {
      flush_held (inc);
      if (!waiting_for_space (inc))
        break;
      if (tries % 30 == 0)
        g_warning ("incident %s (%s): ending, but %u segment(s) still wait for disk space",
                   inc->uuid, inc->source_name, g_queue_get_length (&inc->held));
      g_usleep (G_USEC_PER_SEC);
    }
  /* A gap added last (the source down at the end) is not written yet. */
  if (!inc->failed && inc->manifest != NULL &&
      ansim_manifest_get_n_entries (inc->manifest) > inc->n_committed &&
      !commit_manifest (inc, &error))
    {
      report_failure (inc, inc->db, "recording a gap", error);
      g_clear_error (&error);
    }
  if (inc->manifest == NULL)
    {
      /* Never started: the row alone, closed so it is not taken for a crash. */
      if (inc->db == NULL ||
          !close_in_db (ctx, inc->db, inc->id, inc->uuid, job->text, job->wall_us, job->mono_us,
                        NULL, 0, &error))
        g_warning ("incident %s (%s): closing failed: %s", inc->uuid, inc->source_name,
                   error != NULL ? error->message : "no database");
    }
  else if (!ansim_manifest_close (inc->manifest, job->text, job->wall_us, job->mono_us, &error) ||
           !ansim_manifest_write (inc->manifest, inc->dir, ctx->device_key, &error) ||
           !close_in_db (ctx, inc->db, inc->id, inc->uuid, job->text, job->wall_us, job->mono_us,
                         inc->manifest, ansim_manifest_get_n_entries (inc->manifest), &error))
    report_failure (inc, inc->db, "closing", error);
  else
    {
      chain_link_set (inc->link, ansim_manifest_get_written_sha256 (inc->manifest));
      g_message ("incident %s (%s) closed: %s, %u segment(s)", inc->uuid, inc->source_name,
                 job->text, inc->n_segments);
    }
  /* A successor waits on this: it must never wait forever. */
  g_autofree char *unused = NULL;
  if (!chain_link_peek (inc->link, &unused))
    chain_link_set (inc->link, NULL);
}

static gboolean
on_closed_in_main (gpointer user_data)
{
  RecorderIncident *inc = user_data;
  inc->closed_func (inc, inc->user_data);
  return G_SOURCE_REMOVE;
}

static gpointer
seal_thread (gpointer user_data)
{
  RecorderIncident *inc = user_data;
  g_autoptr (GError) error = NULL;

  inc->db = ansim_db_open (&ansim_desk_db_schema, inc->ctx->db_path, &error);
  if (inc->db == NULL)
    {
      report_failure (inc, NULL, "opening the database", error);
      g_clear_error (&error);
      inc->failed = TRUE;
    }
  for (;;)
    {
      /* While segments wait for space, look again every second. */
      Job *job = waiting_for_space (inc) && !inc->failed
                 ? g_async_queue_timeout_pop (inc->jobs, G_USEC_PER_SEC)
                 : g_async_queue_pop (inc->jobs);
      if (job == NULL)
        {
          flush_held (inc);
          continue;
        }
      JobKind kind = job->kind;
      switch (kind)
        {
        case JOB_START:
          if (!inc->failed && !seal_start (inc, &error))
            {
              inc->failed = TRUE;
              report_failure (inc, inc->db, "writing the first manifest", error);
              g_clear_pointer (&inc->manifest, ansim_manifest_free);
              g_clear_error (&error);
            }
          break;
        case JOB_SEGMENT:
        case JOB_GAP:
        case JOB_STREAM_GAP:
          seal_in_order (inc, g_steal_pointer (&job));
          break;
        case JOB_EVENT:
          /* On disk with the next manifest written. */
          if (inc->manifest != NULL && !ansim_manifest_is_closed (inc->manifest) &&
              !ansim_manifest_add_event (inc->manifest, job->text, job->wall_us, job->mono_us,
                                         &error))
            {
              report_failure (inc, inc->db, "adding an event", error);
              g_clear_error (&error);
            }
          break;
        case JOB_CLOSE:
          seal_close (inc, job);
          break;
        }
      if (job != NULL)
        job_free (job);
      if (kind == JOB_CLOSE)
        break;
    }
  g_clear_pointer (&inc->db, sqlite3_close);
  /* Always dispatched by the main context, never run on this thread. */
  GSource *idle = g_idle_source_new ();
  g_source_set_callback (idle, on_closed_in_main, inc, NULL);
  g_source_attach (idle, inc->main_context);
  g_source_unref (idle);
  return NULL;
}

static void
push_job (RecorderIncident *inc, JobKind kind, GBytes *media, gint64 wall_us, gint64 mono_us,
          gint64 duration_us, const char *text)
{
  Job *job = g_new0 (Job, 1);
  job->kind = kind;
  job->media = media != NULL ? g_bytes_ref (media) : NULL;
  job->wall_us = wall_us;
  job->mono_us = mono_us;
  job->duration_us = duration_us;
  job->text = g_strdup (text);
  g_async_queue_push (inc->jobs, job);
}

/* ---- the main context ---------------------------------------------------------- */

/* Time without media before mono_us (a source failure) becomes a gap
 * entry naming why, so the timeline stays whole and honest. */
static void
add_gap_until (RecorderIncident *inc, gint64 mono_us, gint64 min_us)
{
  gint64 from = inc->next_start_mono_us;

  if (from == 0 || mono_us - from <= min_us)
    return;
  const char *why = recorder_source_get_last_error (inc->source);
  g_autofree char *reason = g_strdup_printf ("source %s: %s", inc->source_name,
                                             why != NULL ? why : "no frames");
  push_job (inc, JOB_GAP, NULL, wall_of_mono (from), from, mono_us - from, reason);
  inc->next_start_mono_us = mono_us;
}

/* The source lost one stream while the other went on (see
 * recorder_source_list_outages): a one-stream gap entry for each such
 * outage of this incident that ended by until_mono_us, or, at the close
 * (ongoing_until_us > 0), still went on then. */
static void
add_stream_gaps (RecorderIncident *inc, gint64 until_mono_us, gint64 ongoing_until_us)
{
  gint64 first = inc->first_start_mono_us;

  if (first == 0)
    return;
  g_autoptr (GPtrArray) outages = recorder_source_list_outages (inc->source, first);
  for (guint i = 0; i < outages->len; i++)
    {
      const RecorderOutage *o = outages->pdata[i];
      gint64 to = o->to_mono_us;
      if (ongoing_until_us > 0 && (to == 0 || to > ongoing_until_us))
        to = ongoing_until_us;   /* the close: lost up to the end */
      if (to == 0 || to > until_mono_us || o->from_mono_us < inc->stream_gap_from_us[o->stream])
        continue;
      gint64 from = MAX (o->from_mono_us, first);
      if (to <= from)
        continue;
      Job *job = g_new0 (Job, 1);
      *job = (Job) { .kind = JOB_STREAM_GAP, .wall_us = wall_of_mono (from), .mono_us = from,
                     .duration_us = to - from, .text = g_strdup (o->reason),
                     .stream = o->stream == RECORDER_STREAM_VIDEO ? "video" : "audio" };
      g_async_queue_push (inc->jobs, job);
      /* Declared once: a later outage of that stream starts after it. */
      inc->stream_gap_from_us[o->stream] = o->from_mono_us + 1;
    }
}

/* One finished Matroska file in memory: to the sealing thread. */
static void
on_segment (GBytes *media, GstClockTime start, GstClockTime duration, gpointer user_data)
{
  RecorderIncident *inc = user_data;
  gint64 start_mono = (gint64) (start / 1000);

  add_gap_until (inc, start_mono, ANSIM_MANIFEST_TIME_TOLERANCE_US / 2);
  push_job (inc, JOB_SEGMENT, media, wall_of_mono (start_mono), start_mono,
            (gint64) (duration / 1000), NULL);
  inc->next_start_mono_us = start_mono + (gint64) (duration / 1000);
  if (inc->first_start_mono_us == 0)
    inc->first_start_mono_us = start_mono;
  /* A stream that came back within this segment: its gap now. */
  add_stream_gaps (inc, inc->next_start_mono_us, 0);
}

static void
on_segmenter_done (const GError *seg_error, gpointer user_data)
{
  RecorderIncident *inc = user_data;

  if (seg_error != NULL)
    report_failure (inc, inc->ctx->db, "recording", seg_error);
  /* The source was down when the incident ended: the gap to the end (past
   * what encoding latency explains). */
  add_gap_until (inc, inc->end_mono_us, G_USEC_PER_SEC);
  add_stream_gaps (inc, inc->end_mono_us, inc->end_mono_us);
  push_job (inc, JOB_CLOSE, NULL, wall_of_mono (inc->end_mono_us), inc->end_mono_us, 0,
            inc->end_reason);
}

static gboolean
on_timer (gpointer user_data)
{
  RecorderIncident *inc = user_data;
  gint64 now = g_get_monotonic_time ();

  if (now >= inc->deadline_mono_us)
    recorder_incident_end (inc, "post-event");
  else if (now >= inc->live_from_mono_us + inc->ctx->max_incident_us)
    recorder_incident_end (inc, "max-length");
  return inc->end_reason == NULL ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Right after an alert is committed, so it leaves at once. The uploader
 * may not run (a desk without a panel, or it is restarting): the alert
 * waits in the outbox for its next poll. */
static void
wake_uploader (RecorderContext *ctx)
{
  g_autoptr (GError) error = NULL;

  if (ctx->uploader_socket != NULL && !ansim_outbox_wake_uploader (ctx->uploader_socket, &error))
    g_debug ("%s; the alert goes at the uploader's next poll", error->message);
}

static gboolean
insert_incident (RecorderIncident *inc, AnsimTriggerKind kind, const char *prev_hash,
                 gint64 opened_wall, GError **error)
{
  RecorderContext *ctx = inc->ctx;
  g_autofree char *detail = g_strdup_printf ("{\"uuid\":\"%s\",\"source\":\"%s\"}", inc->uuid,
                                             inc->source_name);

  if (!ansim_db_begin (ctx->db, error))
    return FALSE;
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (ctx->db,
    "INSERT INTO incidents (uuid, desk_id, trigger, trigger_kind, opened_wall_us, "
    "opened_mono_us, is_drill, prev_manifest_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)",
    error);
  if (st == NULL)
    goto fail;
  sqlite3_bind_text (st, 1, inc->uuid, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 2, ctx->desk_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 3, inc->trigger, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 4, kind == ANSIM_TRIGGER_BODYCAM ? "bodycam" : "button", -1,
                     SQLITE_STATIC);
  sqlite3_bind_int64 (st, 5, opened_wall);
  sqlite3_bind_int64 (st, 6, inc->opened_mono_us);
  if (prev_hash != NULL)
    sqlite3_bind_text (st, 7, prev_hash, -1, SQLITE_STATIC);
  if (sqlite3_step (st) != SQLITE_DONE)
    {
      ansim_db_set_error (ctx->db, error, "recording the incident");
      goto fail;
    }
  inc->id = sqlite3_last_insert_rowid (ctx->db);
  /* The alert first (the panel needs it before any event of the incident),
   * then the opening event, all in the incident's transaction. */
  gint64 event_id = 0;
  if (!ansim_outbox_queue_alert (ctx->db, inc->id, NULL, error) ||
      !ansim_db_log_event (ctx->db, "incident-opened", ctx->desk_id, inc->trigger, inc->id,
                           inc->opened_mono_us, detail, &event_id, error) ||
      !ansim_outbox_queue_event (ctx->db, event_id, NULL, error) ||
      !ansim_db_commit (ctx->db, error))
    goto fail;
  wake_uploader (ctx);
  return TRUE;

fail:
  ansim_db_rollback (ctx->db);
  return FALSE;
}

RecorderIncident *
recorder_incident_open (RecorderContext *ctx, RecorderSource *src, const char *trigger,
                        AnsimTriggerKind kind, gint64 edge_mono_us, gint64 notice_mono_us,
                        RecorderIncidentClosedFunc closed_func, gpointer user_data,
                        GError **error)
{
  g_autoptr (GstCaps) video_caps = recorder_source_get_caps (src, RECORDER_STREAM_VIDEO);
  g_autoptr (GstCaps) audio_caps = recorder_source_has_audio (src)
                                   ? recorder_source_get_caps (src, RECORDER_STREAM_AUDIO) : NULL;
  if (video_caps == NULL || (recorder_source_has_audio (src) && audio_caps == NULL))
    {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED,
                   "source %s has not delivered a picture yet", recorder_source_get_name (src));
      return NULL;
    }

  RecorderIncident *inc = g_new0 (RecorderIncident, 1);
  inc->ctx = ctx;
  inc->source = src;
  inc->source_name = g_strdup (recorder_source_get_name (src));
  inc->uuid = g_uuid_string_random ();
  inc->dir = g_build_filename (ctx->spool_dir, inc->uuid, NULL);
  inc->trigger = g_strdup (trigger);
  inc->opened_mono_us = edge_mono_us;
  inc->deadline_mono_us = edge_mono_us + ctx->post_event_us;
  inc->closed_func = closed_func;
  inc->user_data = user_data;
  inc->kind = kind;
  inc->notice_mono_us = notice_mono_us;
  inc->caps[RECORDER_STREAM_VIDEO] = g_steal_pointer (&video_caps);
  inc->caps[RECORDER_STREAM_AUDIO] = g_steal_pointer (&audio_caps);
  inc->main_context = g_main_context_ref_thread_default ();
  inc->jobs = g_async_queue_new_full ((GDestroyNotify) job_free);
  inc->link = chain_link_new ();
  gint64 opened_wall = wall_of_mono (edge_mono_us);

  /* The chain head of this source: its previous incident, if this process
   * recorded one, else the database. */
  if (ctx->chain_heads == NULL)
    ctx->chain_heads = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, chain_link_unref);
  ChainLink *head = g_hash_table_lookup (ctx->chain_heads, inc->source_name);
  if (head != NULL && !chain_link_peek (head, &inc->prev_manifest))
    inc->predecessor = chain_link_ref (head);
  else if (inc->prev_manifest == NULL)
    inc->prev_manifest = previous_manifest_hash (ctx->db, inc->source_name);

  if (!insert_incident (inc, kind, inc->prev_manifest, opened_wall, error))
    {
      recorder_incident_free (inc);
      return NULL;
    }
  g_hash_table_replace (ctx->chain_heads, g_strdup (inc->source_name), chain_link_ref (inc->link));
  return inc;
}

gboolean
recorder_incident_start (RecorderIncident *inc, GError **error)
{
  RecorderContext *ctx = inc->ctx;

  inc->segmenter = recorder_segmenter_new (inc->source_name, inc->caps[RECORDER_STREAM_VIDEO],
                                           inc->caps[RECORDER_STREAM_AUDIO],
                                           ctx->segment_seconds, on_segment, on_segmenter_done,
                                           inc, error);
  if (inc->segmenter == NULL)
    {
      /* The row exists: close it, so it is not mistaken for a crash. */
      close_in_db (ctx, ctx->db, inc->id, inc->uuid, "interrupted", g_get_real_time (),
                   g_get_monotonic_time (), NULL, 0, NULL);
      chain_link_set (inc->link, NULL);
      return FALSE;
    }
  /* The first manifest (press and notice events) is written by the sealing
   * thread, before any segment. */
  push_job (inc, JOB_START, NULL, 0, 0, 0, NULL);
  g_autofree char *name = g_strdup_printf ("seal-%.8s", inc->uuid);
  inc->thread = g_thread_new (name, seal_thread, inc);
  inc->live_from_mono_us = g_get_monotonic_time ();
  GstClockTime first = recorder_source_attach (inc->source, inc->segmenter, inc->opened_mono_us);
  inc->timer = g_timeout_add (50, on_timer, inc);
  g_message ("incident %s opened by %s on source %s, recording from %.2f s before the trigger%s",
             inc->uuid, inc->trigger, inc->source_name,
             first == GST_CLOCK_TIME_NONE ? 0.0
             : (inc->opened_mono_us - (gint64) (first / 1000)) / 1e6,
             inc->predecessor != NULL ? " (chained once its previous incident is closed)" : "");
  return TRUE;
}

void
recorder_incident_extend (RecorderIncident *inc, const char *kind, gint64 mono_us)
{
  if (inc->end_reason != NULL)
    return;
  inc->deadline_mono_us = MAX (inc->deadline_mono_us, mono_us + inc->ctx->post_event_us);
  /* On disk with the next segment's manifest; a press never waits for the
   * disk. */
  push_job (inc, JOB_EVENT, NULL, wall_of_mono (mono_us), mono_us, 0, kind);
}

void
recorder_incident_end (RecorderIncident *inc, const char *reason)
{
  if (inc->end_reason != NULL)
    return;
  inc->end_reason = g_strdup (reason);
  inc->end_mono_us = g_get_monotonic_time ();
  if (inc->timer != 0 && strcmp (reason, "post-event") != 0 && strcmp (reason, "max-length") != 0)
    g_source_remove (inc->timer);
  inc->timer = 0;
  recorder_source_detach (inc->source);
  g_message ("incident %s (%s) ending: %s", inc->uuid, inc->source_name, reason);
  recorder_segmenter_finish (inc->segmenter);
}

gboolean
recorder_incident_is_ending (RecorderIncident *inc)
{
  return inc->end_reason != NULL;
}

gint64
recorder_incident_get_opened_mono_us (RecorderIncident *inc)
{
  return inc->opened_mono_us;
}

gint64
recorder_incident_get_id (RecorderIncident *inc)
{
  return inc->id;
}

void
recorder_incident_free (RecorderIncident *inc)
{
  if (inc == NULL)
    return;
  if (inc->timer != 0)
    g_source_remove (inc->timer);
  if (inc->segmenter != NULL && inc->end_reason == NULL)
    recorder_source_detach (inc->source);
  /* Freed only once closed, so its thread has ended or is ending. */
  if (inc->thread != NULL)
    g_thread_join (inc->thread);
  recorder_segmenter_free (inc->segmenter);
  g_queue_clear_full (&inc->held, (GDestroyNotify) job_free);
  ansim_manifest_free (inc->manifest);
  for (guint i = 0; i < RECORDER_N_STREAMS; i++)
    g_clear_pointer (&inc->caps[i], gst_caps_unref);
  g_clear_pointer (&inc->jobs, g_async_queue_unref);
  g_autofree char *unused = NULL;
  if (inc->link != NULL && !chain_link_peek (inc->link, &unused))
    chain_link_set (inc->link, NULL);
  chain_link_unref (inc->link);
  chain_link_unref (inc->predecessor);
  g_clear_pointer (&inc->main_context, g_main_context_unref);
  g_free (inc->prev_manifest);
  g_free (inc->end_reason);
  g_free (inc->trigger);
  g_free (inc->source_name);
  g_free (inc->dir);
  g_free (inc->uuid);
  g_free (inc);
}

/* ---- after a crash --------------------------------------------------------- */

/* A leftover file of an interrupted write that the manifest does not
 * account for: moved out of the incident folder (so the incident verifies)
 * into spool_dir/.set-aside/UUID/, never deleted, and recorded. */
static gboolean
set_aside (RecorderContext *ctx, gint64 id, const char *uuid, const char *dir, const char *name,
           const char *why, AnsimManifest *m, gint64 wall, gint64 mono, GError **error)
{
  g_autofree char *from = g_build_filename (dir, name, NULL);
  g_autofree char *aside_dir = g_build_filename (ctx->spool_dir, ".set-aside", uuid, NULL);
  g_autofree char *to = g_build_filename (aside_dir, name, NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autofree char *hex = NULL;

  /* Ciphertext only: its hash identifies the bytes; the plaintext cannot be
   * recomputed on the desk. */
  if (g_file_get_contents (from, &data, &len, NULL))
    hex = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, len);
  else
    hex = g_strdup ("unreadable");
  if (g_mkdir_with_parents (aside_dir, 0700) < 0 || g_rename (from, to) < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                   "cannot move %s to %s: %s", from, to, g_strerror (errno));
      return FALSE;
    }
  g_warning ("incident %s: %s (%" G_GSIZE_FORMAT " bytes, SHA-256 %s) %s; moved to %s", uuid,
             name, len, hex, why, to);
  g_autofree char *esc = json_escape (why);
  g_autofree char *detail = g_strdup_printf ("{\"file\":\"%s\",\"bytes\":%" G_GSIZE_FORMAT
                                             ",\"sha256\":\"%s\",\"why\":\"%s\","
                                             "\"moved_to\":\".set-aside/%s/%s\"}", name, len, hex,
                                             esc, uuid, name);
  if (!ansim_db_log_event (ctx->db, "file-set-aside", ctx->desk_id, NULL, id, mono, detail, NULL,
                           error))
    return FALSE;
  return m == NULL || ansim_manifest_is_closed (m)
         || ansim_manifest_add_event (m, "file-set-aside", wall, mono, error);
}

static gint64
count_rows (RecorderContext *ctx, gint64 id)
{
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (ctx->db,
    "SELECT count(*) FROM segments WHERE incident_id = ?1", NULL);
  if (st == NULL)
    return 0;
  sqlite3_bind_int64 (st, 1, id);
  return sqlite3_step (st) == SQLITE_ROW ? sqlite3_column_int64 (st, 0) : 0;
}

/* Reconciles what a crash left: a segment whose signed manifest was
 * durable but not yet renamed is put in place (its bytes checked against
 * the entry); other temp files are set aside; database rows the crash
 * missed are added; then the manifest is closed and signed again. */
static gboolean
close_one_interrupted (RecorderContext *ctx, gint64 id, const char *uuid, gint64 opened_wall,
                       gint64 opened_mono, GError **error)
{
  g_autofree char *dir = g_build_filename (ctx->spool_dir, uuid, NULL);
  g_autofree char *manifest_path = g_build_filename (dir, ANSIM_MANIFEST_NAME, NULL);
  gint64 wall = opened_wall, mono = opened_mono;
  g_autoptr (AnsimManifest) m = NULL;

  if (g_file_test (manifest_path, G_FILE_TEST_EXISTS))
    {
      m = ansim_manifest_load (dir, error);
      if (m == NULL)
        return FALSE;
      guint n = ansim_manifest_get_n_entries (m);
      if (n > 0)
        {
          const AnsimManifestEntry *e = ansim_manifest_get_entry (m, n - 1);
          wall = e->start_wall_us + e->duration_us;
          mono = e->start_mono_us + e->duration_us;
        }
    }
  g_autoptr (GPtrArray) temps = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (name[0] == '.' && strstr (name, ".tmp-") != NULL)
      g_ptr_array_add (temps, g_strdup (name));
  for (guint i = 0; i < temps->len; i++)
    {
      g_autoptr (GError) local = NULL;
      name = temps->pdata[i];
      if (m != NULL && g_str_has_prefix (name, ".seg-") &&
          ansim_incident_adopt_temp_segment (dir, name, m, &local))
        {
          g_message ("incident %s: %s was sealed and listed when it was interrupted: put in "
                     "place", uuid, name);
          continue;
        }
      g_autofree char *why = g_strdup_printf ("was left by an interrupted write%s%s",
                                              local != NULL ? ": " : " and is not listed",
                                              local != NULL ? local->message : "");
      if (!set_aside (ctx, id, uuid, dir, name, why, m, wall, mono, error))
        return FALSE;
    }
  if (m != NULL)
    {
      if (!ansim_manifest_is_closed (m) &&
          !ansim_manifest_close (m, "interrupted", wall, mono, error))
        return FALSE;
      if (!ansim_manifest_write (m, dir, ctx->device_key, error))
        return FALSE;
    }
  gint64 rows = count_rows (ctx, id);
  if (m != NULL && rows < ansim_manifest_get_n_entries (m))
    g_message ("incident %s: %u sealed entr%s had no database row yet: added", uuid,
               ansim_manifest_get_n_entries (m) - (guint) rows,
               ansim_manifest_get_n_entries (m) - rows == 1 ? "y" : "ies");
  if (!close_in_db (ctx, ctx->db, id, uuid, "interrupted", wall, mono, m, (guint) rows, error))
    return FALSE;
  g_message ("incident %s was left open (crash or power cut): closed as interrupted", uuid);
  return TRUE;
}

gboolean
recorder_incidents_close_interrupted (RecorderContext *ctx, GError **error)
{
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (ctx->db,
    "SELECT id, uuid, opened_wall_us, opened_mono_us FROM incidents "
    "WHERE closed_wall_us IS NULL ORDER BY id", error);
  if (st == NULL)
    return FALSE;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GPtrArray) uuids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) times = g_array_new (FALSE, FALSE, sizeof (gint64));
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (st, 0), w = sqlite3_column_int64 (st, 2),
             m = sqlite3_column_int64 (st, 3);
      g_array_append_val (ids, id);
      g_ptr_array_add (uuids, g_strdup ((const char *) sqlite3_column_text (st, 1)));
      g_array_append_val (times, w);
      g_array_append_val (times, m);
    }
  if (rc != SQLITE_DONE)
    return ansim_db_set_error (ctx->db, error, "finding open incidents");
  g_clear_pointer (&st, sqlite3_finalize);
  for (guint i = 0; i < ids->len; i++)
    if (!close_one_interrupted (ctx, g_array_index (ids, gint64, i), uuids->pdata[i],
                                g_array_index (times, gint64, 2 * i),
                                g_array_index (times, gint64, 2 * i + 1), error))
      {
        g_prefix_error (error, "closing interrupted incident %s: ", (char *) uuids->pdata[i]);
        return FALSE;
      }
  return TRUE;
}
