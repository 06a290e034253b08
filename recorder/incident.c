/* SPDX-License-Identifier: GPL-3.0-or-later */
/* An incident as one source records it, on the main context: open (the
 * database row and the chain to the source's previous incident), start
 * (segmenter, sealing thread, timers), the gaps of a failing source,
 * extend, end and free. Everything slow happens on the sealing thread
 * (seal-thread.c); see incident-private.h for the threads and the
 * sealing order. */
#include "incident-private.h"

#include <string.h>

#include "outbox.h"

/* Time without media before mono_us (a source failure) becomes a gap
 * entry naming why, so the timeline stays whole and honest. */
static void
add_gap_until (RecorderIncident *inc, gint64 mono_us, gint64 min_us)
{
  gint64 from = inc->next_start_mono_us;

  if (from == 0 || mono_us - from <= min_us)
    return;
  const char *why = recorder_source_get_last_error (inc->source);
  g_autofree char *reason =
    g_strdup_printf ("source %s: %s", inc->source_name, why != NULL ? why : "no frames");
  incident_push_job (inc, JOB_GAP, NULL, incident_wall_of_mono (from), from, mono_us - from,
                     reason);
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
        to = ongoing_until_us; /* the close: lost up to the end */
      if (to == 0 || to > until_mono_us || o->from_mono_us < inc->stream_gap_from_us[o->stream])
        continue;
      gint64 from = MAX (o->from_mono_us, first);
      if (to <= from)
        continue;
      Job *job = g_new0 (Job, 1);
      *job = (Job){ .kind = JOB_STREAM_GAP,
                    .wall_us = incident_wall_of_mono (from),
                    .mono_us = from,
                    .duration_us = to - from,
                    .text = g_strdup (o->reason),
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
  incident_push_job (inc, JOB_SEGMENT, media, incident_wall_of_mono (start_mono), start_mono,
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
    incident_report_failure (inc, inc->ctx->db, "recording", seg_error);
  /* The source was down when the incident ended: the gap to the end (past
   * what encoding latency explains). */
  add_gap_until (inc, inc->end_mono_us, G_USEC_PER_SEC);
  add_stream_gaps (inc, inc->end_mono_us, inc->end_mono_us);
  incident_push_job (inc, JOB_CLOSE, NULL, incident_wall_of_mono (inc->end_mono_us),
                     inc->end_mono_us, 0, inc->end_reason);
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

RecorderIncident *
recorder_incident_open (RecorderContext *ctx, RecorderSource *src, const char *trigger,
                        AnsimTriggerKind kind, gint64 edge_mono_us, gint64 notice_mono_us,
                        const char *const *notice_detail, RecorderIncidentClosedFunc closed_func,
                        gpointer user_data, GError **error)
{
  g_autoptr (GstCaps) video_caps = recorder_source_get_caps (src, RECORDER_STREAM_VIDEO);
  g_autoptr (GstCaps) audio_caps =
    recorder_source_has_audio (src) ? recorder_source_get_caps (src, RECORDER_STREAM_AUDIO) : NULL;
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
  inc->notice_detail = g_strdupv ((char **) notice_detail);
  inc->caps[RECORDER_STREAM_VIDEO] = g_steal_pointer (&video_caps);
  inc->caps[RECORDER_STREAM_AUDIO] = g_steal_pointer (&audio_caps);
  inc->main_context = g_main_context_ref_thread_default ();
  inc->jobs = g_async_queue_new_full ((GDestroyNotify) incident_job_free);
  inc->link = recorder_chain_link_new ();
  gint64 opened_wall = incident_wall_of_mono (edge_mono_us);

  /* The chain head of this source: its previous incident, if this process
   * recorded one, else the database. */
  if (ctx->chain_heads == NULL)
    ctx->chain_heads =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, recorder_chain_link_unref);
  RecorderChainLink *head = g_hash_table_lookup (ctx->chain_heads, inc->source_name);
  if (head != NULL && !recorder_chain_link_peek (head, &inc->prev_manifest))
    inc->predecessor = recorder_chain_link_ref (head);
  else if (inc->prev_manifest == NULL)
    inc->prev_manifest = incident_db_previous_manifest_hash (ctx->db, inc->source_name);

  if (!incident_db_insert (inc, kind, inc->prev_manifest, opened_wall, error))
    {
      recorder_incident_free (inc);
      return NULL;
    }
  wake_uploader (ctx);
  g_hash_table_replace (ctx->chain_heads, g_strdup (inc->source_name),
                        recorder_chain_link_ref (inc->link));
  return inc;
}

gboolean
recorder_incident_start (RecorderIncident *inc, GError **error)
{
  RecorderContext *ctx = inc->ctx;

  inc->segmenter = recorder_segmenter_new (inc->source_name, inc->caps[RECORDER_STREAM_VIDEO],
                                           inc->caps[RECORDER_STREAM_AUDIO], ctx->segment_seconds,
                                           on_segment, on_segmenter_done, inc, error);
  if (inc->segmenter == NULL)
    {
      /* The row exists: close it, so it is not mistaken for a crash. */
      incident_db_close (ctx, ctx->db, inc->id, inc->uuid, "interrupted", g_get_real_time (),
                         g_get_monotonic_time (), NULL, 0, NULL);
      recorder_chain_link_set (inc->link, NULL);
      return FALSE;
    }
  /* The first manifest (press and notice events) is written by the sealing
   * thread, before any segment. */
  incident_push_job (inc, JOB_START, NULL, 0, 0, 0, NULL);
  g_autofree char *name = g_strdup_printf ("seal-%.8s", inc->uuid);
  inc->thread = g_thread_new (name, incident_seal_thread, inc);
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
  incident_push_job (inc, JOB_EVENT, NULL, incident_wall_of_mono (mono_us), mono_us, 0, kind);
}

void
recorder_incident_add_event (RecorderIncident *inc, const char *kind, gint64 mono_us,
                             const char *const *detail)
{
  if (inc->end_reason != NULL)
    return;
  incident_push_event (inc, kind, mono_us, detail);
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

const char *
recorder_incident_get_uuid (RecorderIncident *inc)
{
  return inc->uuid;
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
  g_queue_clear_full (&inc->held, (GDestroyNotify) incident_job_free);
  ansim_manifest_free (inc->manifest);
  for (guint i = 0; i < RECORDER_N_STREAMS; i++)
    g_clear_pointer (&inc->caps[i], gst_caps_unref);
  g_clear_pointer (&inc->jobs, g_async_queue_unref);
  g_autofree char *unused = NULL;
  if (inc->link != NULL && !recorder_chain_link_peek (inc->link, &unused))
    recorder_chain_link_set (inc->link, NULL);
  recorder_chain_link_unref (inc->link);
  recorder_chain_link_unref (inc->predecessor);
  g_clear_pointer (&inc->main_context, g_main_context_unref);
  g_free (inc->prev_manifest);
  g_strfreev (inc->notice_detail);
  g_free (inc->end_reason);
  g_free (inc->trigger);
  g_free (inc->source_name);
  g_free (inc->dir);
  g_free (inc->uuid);
  g_free (inc);
}
