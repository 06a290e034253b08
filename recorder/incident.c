/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains an incident as one source records it: the database
 * row, the signed manifest, sealing each segment from memory into the
 * spool, the post-event and maximum-length timers, and closing incidents a
 * crash left open. Everything runs on the main context. */
#include "recorder-private.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "outbox.h"

struct _RecorderIncident {
  RecorderContext *ctx;              /* not owned */
  RecorderSource *source;            /* not owned */
  gint64 id;
  char *uuid;
  char *dir;                         /* spool_dir/uuid */
  char *trigger;
  AnsimManifest *manifest;
  RecorderSegmenter *segmenter;
  gint64 opened_mono_us;
  gint64 live_from_mono_us;          /* when recording started */
  gint64 deadline_mono_us;           /* post-event end */
  guint timer;
  char *end_reason;                  /* set once ending */
  gint64 end_mono_us;
  gboolean failed;                   /* sealing failed: segments no longer written */
  guint n_committed;                 /* manifest entries with their database rows */
  gint64 next_start_mono_us;         /* end of the last entry, or 0 */
  RecorderIncidentClosedFunc closed_func;
  gpointer user_data;
  guint n_segments;
  /* from open to start */
  AnsimTriggerKind kind;
  char *prev_manifest;               /* what the manifest chains to, or NULL */
  gint64 notice_mono_us;
  GstCaps *caps[RECORDER_N_STREAMS];
};

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
log_event (RecorderIncident *inc, const char *kind, gint64 mono_us, const char *detail,
           GError **error)
{
  return ansim_db_log_event (inc->ctx->db, kind, inc->ctx->desk_id, inc->trigger, inc->id,
                             mono_us, detail, NULL, error);
}

static gboolean
queue_manifest (RecorderContext *ctx, gint64 incident_id, const char *uuid,
                const char *manifest_hash, GError **error)
{
  g_autoptr (sqlite3_stmt) up = ansim_db_prepare (ctx->db,
    "UPDATE incidents SET manifest_hash = ?2 WHERE id = ?1", error);
  if (up == NULL)
    return FALSE;
  g_autofree char *path = g_build_filename (uuid, ANSIM_MANIFEST_NAME, NULL);
  sqlite3_bind_int64 (up, 1, incident_id);
  sqlite3_bind_text (up, 2, manifest_hash, -1, SQLITE_STATIC);
  if (sqlite3_step (up) != SQLITE_DONE)
    return ansim_db_set_error (ctx->db, error, "queueing the manifest");
  return ansim_outbox_queue_manifest (ctx->db, incident_id, path, NULL, error);
}

/* The segment and outbox rows of manifest entries from position `from`
 * on; inside the caller's transaction. */
static gboolean
record_entries (RecorderContext *ctx, gint64 incident_id, const char *uuid,
                const AnsimManifest *manifest, guint from, GError **error)
{
  guint n = ansim_manifest_get_n_entries (manifest);

  for (guint i = from; i < n; i++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (manifest, i);
      char entry_hash[ANSIM_SHA256_HEX_LEN + 1];
      ansim_manifest_entry_hash (e, entry_hash);
      gboolean media = e->kind == ANSIM_ENTRY_SEGMENT;
      g_autofree char *path = media ? g_build_filename (uuid, e->file, NULL) : NULL;
      gboolean first_ever = strspn (e->prev, "0") == ANSIM_SHA256_HEX_LEN;

      g_autoptr (sqlite3_stmt) seg = ansim_db_prepare (ctx->db,
        "INSERT INTO segments (incident_id, idx, kind, start_wall_us, start_mono_us, "
        "duration_us, gap_reason, plain_size, cipher_size, plain_sha256, cipher_sha256, "
        "prev_entry_hash, entry_hash, spool_path, sealed_at_us) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)", error);
      if (seg == NULL)
        return FALSE;
      sqlite3_bind_int64 (seg, 1, incident_id);
      sqlite3_bind_int64 (seg, 2, (gint64) e->index);
      sqlite3_bind_text (seg, 3, media ? "media" : "gap", -1, SQLITE_STATIC);
      sqlite3_bind_int64 (seg, 4, e->start_wall_us);
      sqlite3_bind_int64 (seg, 5, e->start_mono_us);
      sqlite3_bind_int64 (seg, 6, e->duration_us);
      if (media)
        {
          sqlite3_bind_int64 (seg, 8, e->plain_size);
          sqlite3_bind_int64 (seg, 9, e->cipher_size);
          sqlite3_bind_text (seg, 10, e->sha256_plain, -1, SQLITE_STATIC);
          sqlite3_bind_text (seg, 11, e->sha256_cipher, -1, SQLITE_STATIC);
          sqlite3_bind_text (seg, 14, path, -1, SQLITE_STATIC);
        }
      else
        sqlite3_bind_text (seg, 7, e->reason, -1, SQLITE_STATIC);
      if (!(e->index == 0 && first_ever))
        sqlite3_bind_text (seg, 12, e->prev, -1, SQLITE_STATIC);
      sqlite3_bind_text (seg, 13, entry_hash, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (seg, 15, g_get_real_time ());
      if (sqlite3_step (seg) != SQLITE_DONE)
        return ansim_db_set_error (ctx->db, error, "recording the segment");
      if (media && !ansim_outbox_queue_segment (ctx->db, incident_id, (gint64) e->index, path,
                                                NULL, error))
        return FALSE;
    }
  return TRUE;
}

/* In one transaction: the rows of the entries the database lacks, the
 * outbox rows and the hash of the manifest just written. The manifest
 * (and every file it lists) is durable before this runs, so a crash
 * before the commit loses nothing: the next start adds the rows. */
static gboolean
commit_db (RecorderIncident *inc, GError **error)
{
  RecorderContext *ctx = inc->ctx;
  guint n = ansim_manifest_get_n_entries (inc->manifest);

  if (!ansim_db_begin (ctx->db, error))
    return FALSE;
  if (!record_entries (ctx, inc->id, inc->uuid, inc->manifest, inc->n_committed, error) ||
      !queue_manifest (ctx, inc->id, inc->uuid,
                       ansim_manifest_get_written_sha256 (inc->manifest), error))
    goto fail;
  if (!ansim_db_commit (ctx->db, error))
    return FALSE;
  inc->n_committed = n;
  if (n > 0)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (inc->manifest, n - 1);
      inc->next_start_mono_us = e->start_mono_us + e->duration_us;
    }
  return TRUE;

fail:
  ansim_db_rollback (ctx->db);
  return FALSE;
}

/* Writes the manifest, then commit_db(). */
static gboolean
commit_manifest (RecorderIncident *inc, GError **error)
{
  return ansim_manifest_write (inc->manifest, inc->dir, inc->ctx->device_key, error)
    && commit_db (inc, error);
}

static void
report_failure (RecorderIncident *inc, const char *what, const GError *error)
{
  g_autofree char *msg = json_escape (error->message);
  g_autofree char *detail = g_strdup_printf ("{\"what\":\"%s\",\"message\":\"%s\"}", what, msg);
  g_warning ("incident %s (%s): %s failed: %s", inc->uuid, recorder_source_get_name (inc->source),
             what, error->message);
  log_event (inc, "error", g_get_monotonic_time (), detail, NULL);
}

/* Time without media before mono_us (a source failure) becomes a gap
 * entry naming why, so the timeline stays whole and honest. */
static gboolean
add_gap_until (RecorderIncident *inc, gint64 mono_us, gint64 min_us, GError **error)
{
  gint64 from = inc->next_start_mono_us;

  if (from == 0 || mono_us - from <= min_us)
    return TRUE;
  const char *why = recorder_source_get_last_error (inc->source);
  g_autofree char *reason = g_strdup_printf ("source %s: %s", recorder_source_get_name (inc->source),
                                             why != NULL ? why : "no frames");
  g_message ("incident %s: gap of %.1f s (%s)", inc->uuid, (mono_us - from) / 1e6, reason);
  if (!ansim_manifest_add_gap (inc->manifest, wall_of_mono (from), from, mono_us - from, reason,
                               error))
    return FALSE;
  inc->next_start_mono_us = mono_us;
  return TRUE;
}

/* Main context: one finished Matroska file in memory. */
static void
on_segment (GBytes *media, GstClockTime start, GstClockTime duration, gpointer user_data)
{
  RecorderIncident *inc = user_data;
  RecorderContext *ctx = inc->ctx;
  g_autoptr (GError) error = NULL;
  gsize len;
  const guint8 *data = g_bytes_get_data (media, &len);

  if (inc->failed)
    return;
  gint64 start_mono = (gint64) (start / 1000);
  gint64 start_wall = wall_of_mono (start_mono);
  if (!add_gap_until (inc, start_mono, ANSIM_MANIFEST_TIME_TOLERANCE_US / 2, &error))
    {
      inc->failed = TRUE;
      report_failure (inc, "recording a gap", error);
      return;
    }
  /* Crash-safe order: the file gets its final name only once the signed
   * manifest listing it is durable; then the database rows. */
  if (!ansim_manifest_seal_segment_durable (inc->manifest, inc->dir, ctx->device_key,
                                            (AnsimAgeRecipient *const *) ctx->recipients->pdata,
                                            ctx->recipients->len, data, len, start_wall,
                                            start_mono, (gint64) (duration / 1000), &error) ||
      !commit_db (inc, &error))
    {
      /* The evidence library never leaves a half-sealed file; stop adding
       * to this incident rather than write a chain with a hole. */
      inc->failed = TRUE;
      report_failure (inc, "sealing a segment", error);
      return;
    }
  inc->n_segments++;
  guint n = ansim_manifest_get_n_entries (inc->manifest);
  const AnsimManifestEntry *e = ansim_manifest_get_entry (inc->manifest, n - 1);
  g_autofree char *detail = g_strdup_printf ("{\"idx\":%" G_GUINT64_FORMAT ",\"file\":\"%s\","
                                             "\"bytes\":%" G_GINT64_FORMAT ",\"duration_us\":%"
                                             G_GINT64_FORMAT "}", e->index, e->file,
                                             e->cipher_size, e->duration_us);
  log_event (inc, "segment-sealed", g_get_monotonic_time (), detail, NULL);
  g_debug ("incident %s: sealed %s (%" G_GSIZE_FORMAT " bytes, %.2f s)", inc->uuid, e->file, len,
           duration / 1e9);
}

static gboolean
close_in_db (RecorderContext *ctx, gint64 id, const char *uuid, const char *reason,
             gint64 wall_us, gint64 mono_us, const AnsimManifest *manifest, guint from,
             GError **error)
{
  const char *manifest_hash = manifest != NULL ? ansim_manifest_get_written_sha256 (manifest)
                                               : NULL;
  g_autofree char *detail = g_strdup_printf ("{\"uuid\":\"%s\",\"reason\":\"%s\"}", uuid,
                                             reason);
  if (!ansim_db_begin (ctx->db, error))
    return FALSE;
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (ctx->db,
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
      ansim_db_set_error (ctx->db, error, "closing the incident");
      goto fail;
    }
  if (manifest != NULL && !record_entries (ctx, id, uuid, manifest, from, error))
    goto fail;
  if (manifest_hash != NULL && !queue_manifest (ctx, id, uuid, manifest_hash, error))
    goto fail;
  gint64 event_id = 0;
  if (!ansim_db_log_event (ctx->db, "incident-closed", ctx->desk_id, NULL, id, mono_us, detail,
                           &event_id, error) ||
      !ansim_outbox_queue_event (ctx->db, event_id, NULL, error))
    goto fail;
  return ansim_db_commit (ctx->db, error);

fail:
  ansim_db_rollback (ctx->db);
  return FALSE;
}

static void
on_segmenter_done (const GError *seg_error, gpointer user_data)
{
  RecorderIncident *inc = user_data;
  RecorderContext *ctx = inc->ctx;
  g_autoptr (GError) error = NULL;
  gint64 wall = wall_of_mono (inc->end_mono_us);

  if (seg_error != NULL)
    report_failure (inc, "recording", seg_error);
  /* The source was down when the incident ended: the gap to the end (past
   * what encoding latency explains). */
  if (!inc->failed && (!add_gap_until (inc, inc->end_mono_us, G_USEC_PER_SEC, &error) ||
                       (ansim_manifest_get_n_entries (inc->manifest) > inc->n_committed &&
                        !commit_manifest (inc, &error))))
    {
      report_failure (inc, "recording a gap", error);
      g_clear_error (&error);
    }
  if (!ansim_manifest_close (inc->manifest, inc->end_reason, wall, inc->end_mono_us, &error) ||
      !ansim_manifest_write (inc->manifest, inc->dir, ctx->device_key, &error) ||
      !close_in_db (ctx, inc->id, inc->uuid, inc->end_reason, wall, inc->end_mono_us,
                    inc->manifest, ansim_manifest_get_n_entries (inc->manifest), &error))
    report_failure (inc, "closing", error);
  else
    g_message ("incident %s (%s) closed: %s, %u segment(s)", inc->uuid,
               recorder_source_get_name (inc->source), inc->end_reason, inc->n_segments);
  inc->closed_func (inc, inc->user_data);
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
                                             recorder_source_get_name (inc->source));

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

/* The final manifest hash of this device's latest closed incident: what
 * the next incident chains to. */
static char *
previous_manifest_hash (RecorderContext *ctx)
{
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (ctx->db,
    "SELECT manifest_hash FROM incidents WHERE closed_wall_us IS NOT NULL "
    "AND manifest_hash IS NOT NULL ORDER BY closed_wall_us DESC, id DESC LIMIT 1", NULL);
  if (st != NULL && sqlite3_step (st) == SQLITE_ROW)
    return g_strdup ((const char *) sqlite3_column_text (st, 0));
  return NULL;
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
  inc->uuid = g_uuid_string_random ();
  inc->dir = g_build_filename (ctx->spool_dir, inc->uuid, NULL);
  inc->trigger = g_strdup (trigger);
  inc->opened_mono_us = edge_mono_us;
  inc->deadline_mono_us = edge_mono_us + ctx->post_event_us;
  inc->closed_func = closed_func;
  inc->user_data = user_data;
  gint64 opened_wall = wall_of_mono (edge_mono_us);
  inc->prev_manifest = previous_manifest_hash (ctx);
  inc->kind = kind;
  inc->notice_mono_us = notice_mono_us;
  inc->caps[RECORDER_STREAM_VIDEO] = g_steal_pointer (&video_caps);
  inc->caps[RECORDER_STREAM_AUDIO] = g_steal_pointer (&audio_caps);

  if (!insert_incident (inc, kind, inc->prev_manifest, opened_wall, error))
    {
      recorder_incident_free (inc);
      return NULL;
    }
  return inc;
}

gboolean
recorder_incident_start (RecorderIncident *inc, GError **error)
{
  RecorderContext *ctx = inc->ctx;
  gint64 opened_wall = wall_of_mono (inc->opened_mono_us);
  AnsimManifestInfo info = {
    .device_id = ctx->device_id,
    .desk_id = ctx->desk_id,
    .trigger_name = inc->trigger,
    .trigger_kind = inc->kind,
    .incident_id = inc->uuid,
    .opened_wall_us = opened_wall,
    .opened_mono_us = inc->opened_mono_us,
    .previous_manifest_sha256 = inc->prev_manifest,
  };
  inc->manifest = ansim_manifest_new (&info, ctx->device_key, error);
  if (inc->manifest == NULL ||
      !ansim_manifest_add_event (inc->manifest, "press", opened_wall, inc->opened_mono_us,
                                 error) ||
      !ansim_manifest_add_event (inc->manifest, "notice-given", wall_of_mono (inc->notice_mono_us),
                                 inc->notice_mono_us, error) ||
      !commit_manifest (inc, error))
    goto fail;

  inc->segmenter = recorder_segmenter_new (recorder_source_get_name (inc->source),
                                           inc->caps[RECORDER_STREAM_VIDEO],
                                           inc->caps[RECORDER_STREAM_AUDIO],
                                           ctx->segment_seconds, on_segment, on_segmenter_done,
                                           inc, error);
  if (inc->segmenter == NULL)
    goto fail;
  inc->live_from_mono_us = g_get_monotonic_time ();
  GstClockTime first = recorder_source_attach (inc->source, inc->segmenter, inc->opened_mono_us);
  inc->timer = g_timeout_add (50, on_timer, inc);
  g_message ("incident %s opened by %s on source %s, recording from %.2f s before the trigger",
             inc->uuid, inc->trigger, recorder_source_get_name (inc->source),
             first == GST_CLOCK_TIME_NONE ? 0.0
             : (inc->opened_mono_us - (gint64) (first / 1000)) / 1e6);
  return TRUE;

fail:
  /* The row exists: close it, so it is not mistaken for a crash. */
  close_in_db (ctx, inc->id, inc->uuid, "interrupted", g_get_real_time (),
               g_get_monotonic_time (), NULL, 0, NULL);
  return FALSE;
}

void
recorder_incident_extend (RecorderIncident *inc, const char *kind, gint64 mono_us)
{
  g_autoptr (GError) error = NULL;

  if (inc->end_reason != NULL)
    return;
  inc->deadline_mono_us = MAX (inc->deadline_mono_us, mono_us + inc->ctx->post_event_us);
  if (!ansim_manifest_add_event (inc->manifest, kind, wall_of_mono (mono_us), mono_us, &error))
    report_failure (inc, "adding an event", error);
  /* The event is on disk with the next segment's manifest; no fsync here
   * so a press never waits for the disk. */
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
  g_message ("incident %s (%s) ending: %s", inc->uuid, recorder_source_get_name (inc->source),
             reason);
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
  recorder_segmenter_free (inc->segmenter);
  ansim_manifest_free (inc->manifest);
  for (guint i = 0; i < RECORDER_N_STREAMS; i++)
    g_clear_pointer (&inc->caps[i], gst_caps_unref);
  g_free (inc->prev_manifest);
  g_free (inc->end_reason);
  g_free (inc->trigger);
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
  if (!close_in_db (ctx, id, uuid, "interrupted", wall, mono, m, (guint) rows, error))
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
