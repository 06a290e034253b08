/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The incident's sealing thread: takes jobs from one queue in order
 * (start, segments, gaps, events, close), seals each segment from memory
 * into the spool (age encryption, hashes, signed manifest, fsync), then
 * the database rows. Owns the manifest and its own database connection;
 * tells the main context when the incident is closed. Keeps the sealing
 * order: a file is renamed only once the manifest listing it is durable,
 * the rows come after that. */
#include "incident-private.h"

#include "json-event.h"

void
incident_job_free (Job *job)
{
  g_clear_pointer (&job->media, g_bytes_unref);
  g_free (job->text);
  g_strfreev (job->detail);
  g_free (job);
}

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
  if (!incident_db_record_entries (inc->db, inc->id, inc->uuid, inc->manifest, inc->n_committed,
                                   error)
      || !incident_db_queue_manifest (inc->db, inc->id, inc->uuid,
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

/* The desk's offset to the panel's clock as the uploader last stored it,
 * into the manifest: "never measured" when there is none. A failure to
 * read it is logged and leaves the member out rather than the incident. */
static void
note_desk_clock (RecorderIncident *inc, AnsimManifestClockWhen when)
{
  AnsimDeskClock clock;
  g_autoptr (GError) error = NULL;
  if (!ansim_desk_clock_load (inc->db, &clock, &error)
      || !ansim_manifest_set_desk_clock (inc->manifest, when, &clock, &error))
    g_warning ("incident %s: cannot record the desk clock's offset: %s", inc->uuid, error->message);
}

/* Writes the manifest, then commit_db(). */
static gboolean
commit_manifest (RecorderIncident *inc, GError **error)
{
  return ansim_manifest_write (inc->manifest, inc->dir, inc->ctx->device_key, error)
         && commit_db (inc, error);
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
      inc->prev_manifest = recorder_chain_link_wait (inc->predecessor);
      if (inc->prev_manifest == NULL)
        inc->prev_manifest = incident_db_previous_manifest_hash (inc->db, inc->source_name);
      g_autoptr (sqlite3_stmt) st = ansim_db_prepare (
        inc->db, "UPDATE incidents SET prev_manifest_hash = ?2 WHERE id = ?1", error);
      if (st == NULL)
        return FALSE;
      sqlite3_bind_int64 (st, 1, inc->id);
      if (inc->prev_manifest != NULL)
        sqlite3_bind_text (st, 2, inc->prev_manifest, -1, SQLITE_STATIC);
      if (sqlite3_step (st) != SQLITE_DONE)
        return ansim_db_set_error (inc->db, error, "recording what the incident chains to");
    }
  gint64 opened_wall = incident_wall_of_mono (inc->opened_mono_us);
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
  if (inc->manifest == NULL)
    return FALSE;
  note_desk_clock (inc, ANSIM_MANIFEST_CLOCK_AT_OPEN);
  return ansim_manifest_add_event (inc->manifest, "press", opened_wall, inc->opened_mono_us, error)
         && ansim_manifest_add_event_with_detail (
           inc->manifest, "notice-given", incident_wall_of_mono (inc->notice_mono_us),
           inc->notice_mono_us, (const char *const *) inc->notice_detail, error)
         && commit_manifest (inc, error);
}

/* One segment or gap into the manifest, in order. */
SealResult
incident_seal_one (RecorderIncident *inc, Job *job)
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
          incident_report_failure (inc, inc->db, "recording a gap", error);
          return SEAL_FAILED;
        }
      return SEAL_OK;
    }
  gsize len;
  const guint8 *data = g_bytes_get_data (job->media, &len);
  if (!incident_has_room (inc, len))
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
      if (g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOSPC)
          && ansim_manifest_get_n_entries (inc->manifest) == before)
        return SEAL_NO_ROOM;
      /* Otherwise stop adding to this incident rather than write a chain
       * with a hole. */
      inc->failed = TRUE;
      incident_report_failure (inc, inc->db, "sealing a segment", error);
      return SEAL_FAILED;
    }
  if (!commit_db (inc, &error))
    {
      inc->failed = TRUE;
      incident_report_failure (inc, inc->db, "recording a sealed segment", error);
      return SEAL_FAILED;
    }
  inc->n_segments++;
  guint n = ansim_manifest_get_n_entries (inc->manifest);
  const AnsimManifestEntry *e = ansim_manifest_get_entry (inc->manifest, n - 1);
  g_autoptr (AnsimJsonBuilder) j = ansim_json_builder_new ();
  ansim_json_builder_add_uint (j, "idx", e->index);
  ansim_json_builder_add_string (j, "file", e->file);
  ansim_json_builder_add_int (j, "bytes", e->cipher_size);
  ansim_json_builder_add_int (j, "duration_us", e->duration_us);
  g_autofree char *detail = ansim_json_builder_end (j);
  ansim_db_log_event (inc->db, "segment-sealed", ctx->desk_id, inc->trigger, inc->id,
                      g_get_monotonic_time (), detail, NULL, NULL);
  g_debug ("incident %s: sealed %s (%" G_GSIZE_FORMAT " bytes, %.2f s)", inc->uuid, e->file, len,
           job->duration_us / 1e6);
  return SEAL_OK;
}

static void
seal_close (RecorderIncident *inc, Job *job)
{
  RecorderContext *ctx = inc->ctx;
  g_autoptr (GError) error = NULL;

  /* What waits for space is written before the close, however long that
   * takes (a shutdown that cannot wait leaves the incident open: the next
   * start closes it as interrupted). */
  for (guint tries = 0; incident_waiting_for_space (inc) && !inc->failed; tries++)
    {
      incident_flush_held (inc);
      if (!incident_waiting_for_space (inc))
        break;
      if (tries % 30 == 0)
        g_warning ("incident %s (%s): ending, but %u segment(s) still wait for disk space",
                   inc->uuid, inc->source_name, g_queue_get_length (&inc->held));
      g_usleep (G_USEC_PER_SEC);
    }
  /* A gap added last (the source down at the end) is not written yet. */
  if (!inc->failed && inc->manifest != NULL
      && ansim_manifest_get_n_entries (inc->manifest) > inc->n_committed
      && !commit_manifest (inc, &error))
    {
      incident_report_failure (inc, inc->db, "recording a gap", error);
      g_clear_error (&error);
    }
  if (inc->manifest != NULL && !ansim_manifest_is_closed (inc->manifest))
    note_desk_clock (inc, ANSIM_MANIFEST_CLOCK_AT_CLOSE);
  if (inc->manifest == NULL)
    {
      /* Never started: the row alone, closed so it is not taken for a crash. */
      if (inc->db == NULL
          || !incident_db_close (ctx, inc->db, inc->id, inc->uuid, job->text, job->wall_us,
                                 job->mono_us, NULL, 0, &error))
        g_warning ("incident %s (%s): closing failed: %s", inc->uuid, inc->source_name,
                   error != NULL ? error->message : "no database");
    }
  else if (!ansim_manifest_close (inc->manifest, job->text, job->wall_us, job->mono_us, &error)
           || !ansim_manifest_write (inc->manifest, inc->dir, ctx->device_key, &error)
           || !incident_db_close (ctx, inc->db, inc->id, inc->uuid, job->text,
                                  ansim_manifest_get_closed_wall_us (inc->manifest),
                                  ansim_manifest_get_closed_mono_us (inc->manifest), inc->manifest,
                                  ansim_manifest_get_n_entries (inc->manifest), &error))
    incident_report_failure (inc, inc->db, "closing", error);
  else
    {
      recorder_chain_link_set (inc->link, ansim_manifest_get_written_sha256 (inc->manifest));
      g_message ("incident %s (%s) closed: %s, %u segment(s)", inc->uuid, inc->source_name,
                 job->text, inc->n_segments);
    }
  /* A successor waits on this: it must never wait forever. */
  g_autofree char *unused = NULL;
  if (!recorder_chain_link_peek (inc->link, &unused))
    recorder_chain_link_set (inc->link, NULL);
}

static gboolean
on_closed_in_main (gpointer user_data)
{
  RecorderIncident *inc = user_data;
  inc->closed_func (inc, inc->user_data);
  return G_SOURCE_REMOVE;
}

gpointer
incident_seal_thread (gpointer user_data)
{
  RecorderIncident *inc = user_data;
  g_autoptr (GError) error = NULL;

  inc->db = ansim_db_open (&ansim_desk_db_schema, inc->ctx->db_path, &error);
  if (inc->db == NULL)
    {
      incident_report_failure (inc, NULL, "opening the database", error);
      g_clear_error (&error);
      inc->failed = TRUE;
    }
  for (;;)
    {
      /* While segments wait for space, look again every second. */
      Job *job = incident_waiting_for_space (inc) && !inc->failed
                   ? g_async_queue_timeout_pop (inc->jobs, G_USEC_PER_SEC)
                   : g_async_queue_pop (inc->jobs);
      if (job == NULL)
        {
          incident_flush_held (inc);
          continue;
        }
      JobKind kind = job->kind;
      switch (kind)
        {
        case JOB_START:
          if (!inc->failed && !seal_start (inc, &error))
            {
              inc->failed = TRUE;
              incident_report_failure (inc, inc->db, "writing the first manifest", error);
              g_clear_pointer (&inc->manifest, ansim_manifest_free);
              g_clear_error (&error);
            }
          break;
        case JOB_SEGMENT:
        case JOB_GAP:
        case JOB_STREAM_GAP: incident_seal_in_order (inc, g_steal_pointer (&job)); break;
        case JOB_EVENT:
          /* On disk with the next manifest written. */
          if (inc->manifest != NULL && !ansim_manifest_is_closed (inc->manifest)
              && !ansim_manifest_add_event_with_detail (inc->manifest, job->text, job->wall_us,
                                                        job->mono_us,
                                                        (const char *const *) job->detail, &error))
            {
              incident_report_failure (inc, inc->db, "adding an event", error);
              g_clear_error (&error);
            }
          break;
        case JOB_CLOSE: seal_close (inc, job); break;
        }
      if (job != NULL)
        incident_job_free (job);
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

void
incident_push_job (RecorderIncident *inc, JobKind kind, GBytes *media, gint64 wall_us,
                   gint64 mono_us, gint64 duration_us, const char *text)
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

void
incident_push_event (RecorderIncident *inc, const char *kind, gint64 mono_us,
                     const char *const *detail)
{
  Job *job = g_new0 (Job, 1);
  job->kind = JOB_EVENT;
  job->wall_us = incident_wall_of_mono (mono_us);
  job->mono_us = mono_us;
  job->text = g_strdup (kind);
  job->detail = g_strdupv ((char **) detail);
  g_async_queue_push (inc->jobs, job);
}
