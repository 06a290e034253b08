/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The disk-full policy, on the sealing thread: when the spool has less
 * than min_free_mb, segments wait in memory in order (up to
 * held_segments_mb per incident), and what does not fit becomes one
 * "disk-full" gap. Nothing is ever deleted to make room; the order of
 * entries never changes. */
#include "incident-private.h"

#include <sys/statvfs.h>

#include "json-event.h"

gint64
recorder_free_bytes (const char *dir)
{
  struct statvfs vfs;
  return statvfs (dir, &vfs) == 0 ? (gint64) vfs.f_bavail * (gint64) vfs.f_frsize : -1;
}

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
  g_autoptr (AnsimJsonBuilder) j = ansim_json_builder_new ();
  ansim_json_builder_add_int (j, "free_mb", free_bytes / (1024 * 1024));
  ansim_json_builder_add_int (j, "min_free_mb", ctx->min_free_bytes / (1024 * 1024));
  ansim_json_builder_add_uint (j, "held_segments", g_queue_get_length (&inc->held));
  g_autofree char *detail = ansim_json_builder_end (j);
  if (inc->low == low)
    return;
  inc->low = low;
  if (low)
    g_warning ("incident %s (%s): spool %s has %.1f MB free, below min_free_mb (%" G_GINT64_FORMAT
               "): holding segments in memory (up to %" G_GINT64_FORMAT " MB) until space "
               "returns; nothing is deleted",
               inc->uuid, inc->source_name, ctx->spool_dir, free_bytes / 1048576.0,
               ctx->min_free_bytes / (1024 * 1024), ctx->held_cap_bytes / (1024 * 1024));
  else
    g_message ("incident %s (%s): space is back in %s (%.1f MB free): held segments written",
               inc->uuid, inc->source_name, ctx->spool_dir, free_bytes / 1048576.0);
  if (inc->db != NULL)
    ansim_db_log_event (inc->db, low ? "disk-low" : "disk-ok", ctx->desk_id, inc->trigger, inc->id,
                        mono, detail, NULL, NULL);
  if (inc->manifest != NULL && !ansim_manifest_is_closed (inc->manifest))
    ansim_manifest_add_event (inc->manifest, low ? "disk-low" : "disk-ok",
                              incident_wall_of_mono (mono), mono, NULL);
}

gboolean
incident_has_room (RecorderIncident *inc, gsize len)
{
  gint64 free_bytes = recorder_free_bytes (inc->ctx->spool_dir);
  /* Ciphertext is the plaintext plus 16 bytes per 64 KiB and the header. */
  return free_bytes < 0
         || free_bytes - (gint64) (len + len / 2048 + 4096) >= inc->ctx->min_free_bytes;
}

gboolean
incident_waiting_for_space (RecorderIncident *inc)
{
  return !g_queue_is_empty (&inc->held) || inc->unkept > 0;
}

/* Writes what waits for space, in order, while there is space; then the
 * gap of what could not be kept. */
void
incident_flush_held (RecorderIncident *inc)
{
  Job *job;

  while ((job = g_queue_peek_head (&inc->held)) != NULL)
    {
      SealResult r = incident_seal_one (inc, job);
      if (r == SEAL_NO_ROOM)
        return;
      g_queue_pop_head (&inc->held);
      gsize len = job->media != NULL ? g_bytes_get_size (job->media) : 0;
      inc->held_bytes -= len;
      count_held (inc->ctx, job->kind == JOB_SEGMENT ? -1 : 0, -(gint64) len, 0);
      incident_job_free (job);
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
          incident_job_free (job);
        }
      inc->held_bytes = 0;
      return;
    }
  if (inc->unkept > 0)
    {
      g_autoptr (GError) error = NULL;
      gint64 duration = inc->unkept_to_mono_us - inc->unkept_from_mono_us;
      g_warning ("incident %s (%s): %u segment(s), %.1f s, could not be kept while the disk was "
                 "full: recorded as a disk-full gap",
                 inc->uuid, inc->source_name, inc->unkept, duration / 1e6);
      if (!ansim_manifest_add_gap (inc->manifest, inc->unkept_from_wall_us,
                                   inc->unkept_from_mono_us, duration, "disk-full", &error))
        {
          inc->failed = TRUE;
          incident_report_failure (inc, inc->db, "recording a disk-full gap", error);
        }
      inc->unkept = 0;
    }
  set_low (inc, FALSE);
}

/* A segment or gap, in order after everything before it; held in memory
 * while the disk is full, up to the cap, then declared as a gap. */
void
incident_seal_in_order (RecorderIncident *inc, Job *job)
{
  RecorderContext *ctx = inc->ctx;

  if (inc->failed || inc->manifest == NULL)
    {
      if (job->kind == JOB_SEGMENT && inc->n_unsealed++ % 30 == 0)
        g_warning ("incident %s (%s): %" G_GUINT64_FORMAT " segment(s) not sealed since the "
                   "failure above",
                   inc->uuid, inc->source_name, inc->n_unsealed);
      incident_job_free (job);
      return;
    }
  if (incident_waiting_for_space (inc))
    incident_flush_held (inc);
  if (!incident_waiting_for_space (inc))
    {
      SealResult r = incident_seal_one (inc, job);
      if (r != SEAL_NO_ROOM)
        {
          incident_job_free (job);
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
                 "a disk-full gap",
                 inc->uuid, inc->source_name, ctx->held_cap_bytes / 1048576);
    }
  /* A one-stream gap overlaps the segments before it. */
  inc->unkept_to_mono_us = MAX (inc->unkept_to_mono_us, job->mono_us + job->duration_us);
  if (job->kind == JOB_SEGMENT)
    {
      inc->unkept++;
      count_held (ctx, 0, 0, 1);
    }
  incident_job_free (job);
}
