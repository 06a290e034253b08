/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The uploader: works off the desk's outbox in a worker thread (blocking
 * libcurl and SQLite there, never on the main loop), alerts first; retries
 * with backoff; deletes local files only after the panel's confirmation
 * and the keep period; sends heartbeats. The panel's push channel runs in
 * a thread of its own (channel.c). The main loop owns the wake socket the
 * recorder pokes. Tells the recorder (control socket) when an alert was
 * delivered and, at most once a second, that the panel answers
 * (`path-ok`), which keeps the desk's path supervision up. */
#include "uploader.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "ansim-build.h"
#include "channel.h"
#include "client.h"
#include "db.h"
#include "outbox.h"
#include "checkpoint.h"
#include "evidence.h"
#include "httpsig.h"
#include "note.h"
#include "control-client.h"
#include "desk-clock.h"

typedef enum {
  SEND_CONFIRMED,    /* the panel stored it (or had it) */
  SEND_ITEM_FAILED,  /* the panel refused this item: retry it later, others go on */
  SEND_PANEL_FAILED, /* no answer, or the panel cannot take anything: back off as a whole */
} SendResult;

struct _Uploader {
  sqlite3 *db; /* main thread */
  char *panel_url;
  char *database;
  char *spool_dir;
  char *wake_path;
  char *recorder_socket;
  char *ca_file;
  AnsimDeviceKey *key;
  gint64 poll_us, heartbeat_us, retry_min_us, retry_max_us, keep_us, timeout_s, send_rate;
  GMutex path_lock;
  gint64 last_path_ok_us; /* under path_lock (monotonic): the last path-ok sent */

  GSocket *wake_socket;
  GSource *wake_source;

  UploaderChannel *channel;        /* NULL when [uploader] channel = false */
  UploaderPanelClock *panel_clock; /* learnt by both clients */

  GThread *worker;
  GMutex lock;
  GCond cond;
  gboolean wake; /* under lock */
  gint stop;     /* atomic; also curl's cancel flag */

  /* worker thread only */
  sqlite3 *wdb;
  UploaderClient *client;
  guint panel_failures; /* consecutive whole-panel failures */
  /* Scheduling is by the monotonic clock: a step of the wall clock (NTP
   * syncing late) must not hold uploads or heartbeats back. */
  gint64 panel_not_before_us;
  gint64 next_heartbeat_us;
  gint64 last_heartbeat_us;
  gint64 ack_poll_until_us; /* asking often while an alert waits for "help is coming" */
  gint64 ack_poll_us;
  gboolean panel_down_logged;
};

static gint64
backoff_us (Uploader *self, guint failures)
{
  gint64 delay = self->retry_min_us;
  for (guint i = 1; i < failures && delay < self->retry_max_us; i++)
    delay *= 2;
  delay = MIN (delay, self->retry_max_us);
  /* Jitter: between half and all of it, so desks do not retry in step. */
  return delay / 2 + (gint64) (g_random_double () * (delay / 2));
}

gint64
uploader_count_waiting (Uploader *self, GError **error)
{
  gint64 count = 0;
  return ansim_outbox_count_waiting (self->db, &count, NULL, error) ? count : -1;
}

/* ---- reading the outbox (worker) ---------------------------------------- */

static gboolean
next_item (Uploader *self, gint64 now, AnsimOutboxItem *out, gint64 *out_next_due, GError **error)
{
  gboolean clock_reset = FALSE;
  if (!ansim_outbox_claim (self->wdb, now, self->retry_max_us, out, out_next_due, &clock_reset,
                           error))
    return FALSE;
  if (clock_reset)
    g_message ("retry times beyond retry_max reset (the clock went back)");
  return TRUE;
}

/* The JSON body of an alert, from the incident and desk rows. */
static GBytes *
alert_body (Uploader *self, const AnsimOutboxItem *item, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->wdb,
    "SELECT i.desk_id, d.name, i.trigger, i.trigger_kind, i.opened_wall_us, i.opened_mono_us, "
    "i.is_drill, i.prev_manifest_hash, (SELECT json_extract (e.detail, '$.source') FROM events e "
    " WHERE e.incident_id = i.id AND e.kind = 'incident-opened') FROM incidents i "
    "JOIN desks d ON d.id = i.desk_id WHERE i.id = ?1",
    error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, item->incident_id);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "incident %" G_GINT64_FORMAT " of outbox item %" G_GINT64_FORMAT " not found",
                   item->incident_id, item->id);
      return NULL;
    }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  const char *names[] = { "desk_id", "desk_name", "trigger", "trigger_kind" };
  for (int i = 0; i < 4; i++)
    {
      json_builder_set_member_name (b, names[i]);
      json_builder_add_string_value (b, (const char *) sqlite3_column_text (stmt, i));
    }
  json_builder_set_member_name (b, "opened_wall_us");
  json_builder_add_int_value (b, sqlite3_column_int64 (stmt, 4));
  json_builder_set_member_name (b, "opened_mono_us");
  json_builder_add_int_value (b, sqlite3_column_int64 (stmt, 5));
  json_builder_set_member_name (b, "drill");
  json_builder_add_boolean_value (b, sqlite3_column_int (stmt, 6));
  if (sqlite3_column_type (stmt, 7) != SQLITE_NULL)
    {
      json_builder_set_member_name (b, "prev_manifest_hash");
      json_builder_add_string_value (b, (const char *) sqlite3_column_text (stmt, 7));
    }
  /* The camera, so the panel can list an alert's cameras at once. */
  if (sqlite3_column_type (stmt, 8) == SQLITE_TEXT)
    {
      json_builder_set_member_name (b, "source");
      json_builder_add_string_value (b, (const char *) sqlite3_column_text (stmt, 8));
    }
  json_builder_end_object (b);
  return uploader_client_json_body (b);
}

static GBytes *
event_body (Uploader *self, const AnsimOutboxItem *item, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->wdb,
    "SELECT kind, at_wall_us, at_mono_us, desk_id, trigger, detail FROM events WHERE id = ?1",
    error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, item->event_id);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "event %" G_GINT64_FORMAT " not found",
                   item->event_id);
      return NULL;
    }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, (const char *) sqlite3_column_text (stmt, 0));
  json_builder_set_member_name (b, "at_wall_us");
  json_builder_add_int_value (b, sqlite3_column_int64 (stmt, 1));
  json_builder_set_member_name (b, "at_mono_us");
  json_builder_add_int_value (b, sqlite3_column_int64 (stmt, 2));
  if (sqlite3_column_type (stmt, 3) != SQLITE_NULL)
    {
      json_builder_set_member_name (b, "desk_id");
      json_builder_add_string_value (b, (const char *) sqlite3_column_text (stmt, 3));
    }
  if (sqlite3_column_type (stmt, 4) != SQLITE_NULL)
    {
      json_builder_set_member_name (b, "trigger");
      json_builder_add_string_value (b, (const char *) sqlite3_column_text (stmt, 4));
    }
  if (item->uuid != NULL)
    {
      json_builder_set_member_name (b, "incident");
      json_builder_add_string_value (b, item->uuid);
    }
  if (sqlite3_column_type (stmt, 5) != SQLITE_NULL)
    {
      g_autoptr (JsonNode) detail =
        json_from_string ((const char *) sqlite3_column_text (stmt, 5), NULL);
      if (detail != NULL && JSON_NODE_HOLDS_OBJECT (detail))
        {
          json_builder_set_member_name (b, "detail");
          json_builder_add_value (b, g_steal_pointer (&detail));
        }
    }
  json_builder_end_object (b);
  return uploader_client_json_body (b);
}

static GBytes *
read_spool (Uploader *self, const char *rel, GError **error)
{
  g_autofree char *path = g_build_filename (self->spool_dir, rel, NULL);
  char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  return g_bytes_new_take (data, len);
}

/* The manifest and its signature as one consistent pair: the recorder
 * rewrites both after every segment, manifest first. */
static gboolean
read_manifest (Uploader *self, const AnsimOutboxItem *item, GBytes **out_manifest, GBytes **out_sig,
               GError **error)
{
  g_autofree char *sig_rel = g_strconcat (item->path, ".sig", NULL);
  for (int tries = 0;; tries++)
    {
      g_autoptr (GBytes) m = read_spool (self, item->path, error);
      g_autoptr (GBytes) s = m != NULL ? read_spool (self, sig_rel, error) : NULL;
      if (s == NULL)
        return FALSE;
      if (ansim_device_key_verify (self->key, g_bytes_get_data (m, NULL), g_bytes_get_size (m),
                                   g_bytes_get_data (s, NULL), g_bytes_get_size (s), NULL))
        {
          *out_manifest = g_steal_pointer (&m);
          *out_sig = g_steal_pointer (&s);
          return TRUE;
        }
      if (tries == 5)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "%s: its signature does not verify with this device's key", item->path);
          return FALSE;
        }
      g_usleep (20000);
    }
}

/* ---- checkpoints (evidence format version 3) ------------------------------ */

/* Checkpoint sequence of the spool incident folder's newest signed
 * checkpoint, or -1 if none. */
static gint64
newest_checkpoint (Uploader *self, const char *uuid)
{
  g_autofree char *cdir = g_build_filename (self->spool_dir, uuid, ANSIM_CHECKPOINT_DIR, NULL);
  g_autoptr (GDir) d = g_dir_open (cdir, 0, NULL);
  const char *name;
  gint64 newest = -1;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, "checkpoint-") && g_str_has_suffix (name, ".sig"))
      newest = MAX (newest, (gint64) g_ascii_strtoull (name + strlen ("checkpoint-"), NULL, 10));
  return newest;
}

/* The text of checkpoint seq, parsed; its signature when sig is not NULL. */
static GBytes *
read_checkpoint (Uploader *self, const char *uuid, gint64 seq, AnsimCheckpoint *out, GBytes **sig,
                 GError **error)
{
  g_autofree char *cname = ansim_checkpoint_file_name (seq);
  g_autofree char *rel = g_build_filename (uuid, ANSIM_CHECKPOINT_DIR, cname, NULL);
  g_autofree char *sig_rel = g_strconcat (rel, ".sig", NULL);
  g_autoptr (GBytes) text = read_spool (self, rel, error);
  if (text == NULL
      || !ansim_checkpoint_parse (g_bytes_get_data (text, NULL), g_bytes_get_size (text), out,
                                  error))
    return NULL;
  if (sig != NULL && (*sig = read_spool (self, sig_rel, error)) == NULL)
    return NULL;
  return g_steal_pointer (&text);
}

/* PUT one checkpoint with the entries it adds (from the manifest as it
 * stands on the desk, which is written before the checkpoint). */
static gboolean
send_checkpoint (Uploader *self, const AnsimOutboxItem *item, const AnsimManifest *m, gint64 seq,
                 gboolean *out_unreachable, guint *out_status, JsonObject **out_answer,
                 GError **error)
{
  *out_unreachable = FALSE;
  AnsimCheckpoint c, before;
  g_autoptr (GBytes) sig = NULL;
  g_autoptr (GBytes) text = read_checkpoint (self, item->uuid, seq, &c, &sig, error);
  if (text == NULL)
    return FALSE;
  guint64 from = 0;
  if (seq > 0)
    {
      g_autoptr (GBytes) prev = read_checkpoint (self, item->uuid, seq - 1, &before, NULL, error);
      if (prev == NULL)
        return FALSE;
      from = MIN (before.entries, c.entries);
    }
  if (c.entries > ansim_manifest_get_n_entries (m))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "checkpoint %" G_GINT64_FORMAT " counts more entries than the manifest has",
                   seq);
      return FALSE;
    }
  g_autoptr (GBytes) body = ansim_checkpoint_upload_body (text, sig, m, from, c.entries);
  g_autofree char *path =
    g_strdup_printf ("/api/v1/incidents/%s/checkpoints/%" G_GINT64_FORMAT, item->uuid, seq);
  *out_unreachable =
    !uploader_client_send (self->client, "PUT", path, body, NULL, out_status, out_answer, error);
  return !*out_unreachable;
}

typedef enum {
  CHECKPOINTS_SENT,     /* the panel holds every checkpoint on the desk */
  CHECKPOINTS_FALLBACK, /* the panel cannot take them (yet): send the whole manifest */
  CHECKPOINTS_FAILED,   /* status/answer/error say why */
} CheckpointsResult;

/* Brings the panel's checkpoints of the incident up to the desk's newest:
 * usually one request (the newest, right after the one before); after a
 * gap (a backlog, a restart) the panel names the one it wants next. */
static CheckpointsResult
send_checkpoints (Uploader *self, const AnsimOutboxItem *item, const AnsimManifest *m,
                  gboolean *out_unreachable, guint *out_status, JsonObject **out_answer,
                  GError **error)
{
  gint64 newest = newest_checkpoint (self, item->uuid);
  gint64 seq = newest;
  gboolean rewound = FALSE;
  while (seq >= 0 && seq <= newest)
    {
      g_clear_pointer (out_answer, json_object_unref);
      *out_status = 0;
      if (!send_checkpoint (self, item, m, seq, out_unreachable, out_status, out_answer, error))
        {
          if (*out_unreachable)
            return CHECKPOINTS_FAILED;
          /* A damaged checkpoint on the desk must not hold back the
           * evidence: the whole manifest goes instead. */
          g_warning ("checkpoint %" G_GINT64_FORMAT " of %s: %s; sending the whole manifest", seq,
                     item->uuid, (*error)->message);
          g_clear_error (error);
          return CHECKPOINTS_FALLBACK;
        }
      uploader_panel_answered (self, *out_status);
      const char *code = *out_answer != NULL
                           ? json_object_get_string_member_with_default (*out_answer, "error", "")
                           : "";
      if (*out_status >= 200 && *out_status < 300)
        seq++;
      else if (g_str_equal (code, "checkpoint-gap") && !rewound)
        {
          rewound = TRUE;
          seq = json_object_get_int_member_with_default (*out_answer, "next_sequence", -1);
        }
      else if (*out_status >= 500 || *out_status == 401 || *out_status == 403
               || g_str_equal (code, "replayed"))
        return CHECKPOINTS_FAILED; /* the panel as a whole, for now */
      else
        {
          /* Refused for good (or the incident unknown there): the whole
           * manifest, which the panel checks against what it kept. */
          g_autofree char *why = uploader_client_describe (*out_status, *out_answer);
          if (!g_str_equal (code, "manifest-needed"))
            g_warning ("checkpoint %" G_GINT64_FORMAT " of %s: %s; sending the whole manifest", seq,
                       item->uuid, why);
          return CHECKPOINTS_FALLBACK;
        }
    }
  return CHECKPOINTS_SENT;
}

/* Records the panel's "someone is coming" from an upload or heartbeat
 * answer in the desk's event log, once per incident: the recorder's poll
 * of the log lights the acknowledged output from it. The fallback for the
 * channel, which tells the recorder at once. */
static void
note_acknowledged (Uploader *self, const char *uuid, const char *status)
{
  if (uuid == NULL || status == NULL || g_str_equal (status, "open"))
    return;
  g_autoptr (GError) error = NULL;
  gboolean logged = FALSE;
  if (!uploader_log_acknowledged (self->wdb, uuid, NULL, &logged, &error))
    g_warning ("cannot log the acknowledgement of %s: %s", uuid, error->message);
  else if (logged)
    g_message ("incident %s acknowledged by the panel", uuid);
}

/* The desk keeps at most this many audit checkpoints; beyond it every
 * second one of the older half goes, so old history thins out but stays. */
#define MAX_CHECKPOINTS 20000

/* Keeps a signed note from the panel (docs/receipts.md) in panel_notes.
 * The desk has no panel key to check it with; it keeps what parses, and
 * whoever audits checks the signatures. One row per subject: the first
 * checkpoint of each log length, every receipt. */
static void
keep_note (Uploader *self, JsonObject *answer, const char *member)
{
  const char *note = json_object_get_string_member_with_default (answer, member, NULL);
  gboolean receipt = g_str_equal (member, "chain_receipt");
  g_autoptr (GError) error = NULL;
  g_autofree char *subject = NULL;

  if (note == NULL)
    return;
  g_auto (GStrv) lines = g_strsplit (note, "\n", 8);
  if (strlen (note) > ANSIM_NOTE_MAX_SIZE || g_strv_length (lines) < 5
      || strcmp (lines[0], receipt ? ANSIM_CHAIN_RECEIPT_HEADER : ANSIM_AUDIT_CHECKPOINT_HEADER)
           != 0)
    {
      g_warning ("the panel's %s is not a signed note of that kind, ignoring", member);
      return;
    }
  /* Subject: the lines after the header but for the time. */
  subject = receipt ? g_strjoin (" ", lines[1], lines[2], lines[3], NULL) : g_strdup (lines[1]);
  g_autoptr (sqlite3_stmt) ins = ansim_db_prepare (
    self->wdb,
    "INSERT INTO panel_notes (kind, subject, note, received_at_us) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT DO NOTHING",
    &error);
  if (ins != NULL)
    {
      sqlite3_bind_text (ins, 1, receipt ? "chain-receipt" : "audit-checkpoint", -1, SQLITE_STATIC);
      sqlite3_bind_text (ins, 2, subject, -1, SQLITE_STATIC);
      sqlite3_bind_text (ins, 3, note, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (ins, 4, g_get_real_time ());
      if (sqlite3_step (ins) != SQLITE_DONE)
        ansim_db_set_error (self->wdb, &error, "keeping the panel's note");
    }
  if (error == NULL && !receipt && sqlite3_changes (self->wdb) > 0)
    ansim_db_exec (self->wdb,
                   "DELETE FROM panel_notes WHERE id IN (SELECT id FROM (SELECT id, row_number () "
                   "OVER (ORDER BY id) AS n, count (*) OVER () AS total FROM panel_notes WHERE "
                   "kind = 'audit-checkpoint') WHERE total > " G_STRINGIFY (
                     MAX_CHECKPOINTS) " AND n % 2 = 0 AND n <= total / 2)",
                   &error);
  if (error != NULL)
    g_warning ("cannot keep the panel's %s: %s", member, error->message);
}

#define PATH_OK_EVERY_US G_USEC_PER_SEC

void
uploader_panel_answered (Uploader *self, guint status)
{
  if (status == 0 || status >= 500)
    return;
  gint64 now = g_get_monotonic_time ();
  g_mutex_lock (&self->path_lock);
  gboolean due = self->last_path_ok_us == 0 || now - self->last_path_ok_us >= PATH_OK_EVERY_US;
  if (due)
    self->last_path_ok_us = now;
  g_mutex_unlock (&self->path_lock);
  if (!due)
    return;
  g_autoptr (GError) error = NULL;
  g_autofree char *reply = ansim_control_request (self->recorder_socket, "path-ok", &error);
  if (reply == NULL)
    g_debug ("cannot tell the recorder the path is up: %s", error->message);
}

/* The recorder owns the alert's deadline: it hears at once that the panel
 * took it. */
static void
tell_delivered (Uploader *self, const char *uuid)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *request = g_strdup_printf ("delivered %s", uuid);
  g_autofree char *reply = ansim_control_request (self->recorder_socket, request, &error);
  if (reply == NULL)
    g_warning ("cannot tell the recorder that alert %s was delivered: %s", uuid, error->message);
  else if (!g_str_has_prefix (reply, "{\"ok\":true"))
    g_debug ("recorder on alert %s delivered: %s", uuid, reply);
}

static void
mark (Uploader *self, const AnsimOutboxItem *item, gboolean confirmed, gint64 next_attempt,
      const char *last_error)
{
  g_autoptr (GError) error = NULL;
  if (!(confirmed
          ? ansim_outbox_confirm (self->wdb, item->id, &error)
          : ansim_outbox_mark_failed (self->wdb, item->id, next_attempt, last_error, &error)))
    g_warning ("cannot update outbox item %" G_GINT64_FORMAT ": %s", item->id, error->message);
}

static SendResult
checkpoints_failed (Uploader *self, AnsimOutboxItem *item, gboolean unreachable, guint status,
                    JsonObject *answer, GError *error)
{
  if (unreachable)
    {
      mark (self, item, FALSE, 0, error->message);
      if (!self->panel_down_logged)
        g_warning ("panel unreachable: %s; retrying with backoff", error->message);
      self->panel_down_logged = TRUE;
      return SEND_PANEL_FAILED;
    }
  g_autofree char *why = error != NULL ? g_strdup (error->message)
                                       : uploader_client_describe (status, answer);
  g_warning ("checkpoints of %s: %s; retrying this item later", item->uuid, why);
  mark (self, item, FALSE, g_get_real_time () + backoff_us (self, item->attempts + 1), why);
  return status >= 500 || status == 401 || status == 403 ? SEND_PANEL_FAILED : SEND_ITEM_FAILED;
}

/* The panel holds every checkpoint the desk wrote: this manifest row and
 * the older ones of the incident are done. */
static SendResult
confirm_checkpoints (Uploader *self, AnsimOutboxItem *item, gint64 superseded_up_to,
                     JsonObject *answer)
{
  g_autoptr (GError) error = NULL;
  if (self->panel_down_logged)
    g_message ("panel reachable again");
  self->panel_down_logged = FALSE;
  mark (self, item, TRUE, 0, NULL);
  if (superseded_up_to > item->id
      && !ansim_outbox_confirm_manifests (self->wdb, item->incident_id, superseded_up_to, &error))
    g_warning ("cannot confirm older manifest rows: %s", error->message);
  if (answer != NULL)
    note_acknowledged (self, item->uuid,
                       json_object_get_string_member_with_default (answer, "status", NULL));
  return SEND_CONFIRMED;
}

/* How long after an alert the uploader keeps asking often. */
#define ACK_POLL_WINDOW_US (G_GINT64_CONSTANT (15) * 60 * G_USEC_PER_SEC)

static SendResult
send_item (Uploader *self, AnsimOutboxItem *item)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GBytes) sig = NULL;
  g_autofree char *path = NULL;
  g_autofree char *sig_header = NULL;
  const char *method = "PUT";
  gint64 superseded_up_to = 0;

  if (item->klass != ANSIM_OUTBOX_EVENT && item->uuid == NULL)
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no incident");
  else
    switch (item->klass)
      {
      case ANSIM_OUTBOX_ALERT:
        path = g_strdup_printf ("/api/v1/alerts/%s", item->uuid);
        body = alert_body (self, item, &error);
        break;
      case ANSIM_OUTBOX_EVENT:
        path = g_strdup_printf ("/api/v1/events/%" G_GINT64_FORMAT, item->event_id);
        body = event_body (self, item, &error);
        break;
      case ANSIM_OUTBOX_MANIFEST:
        path = g_strdup_printf ("/api/v1/incidents/%s/manifest", item->uuid);
        superseded_up_to = ansim_outbox_last_manifest (self->wdb, item->incident_id);
        if (read_manifest (self, item, &body, &sig, &error))
          {
            /* Version 3: per segment only the new checkpoints and entries;
             * the whole manifest once, at the close (docs/protocol.md). */
            g_autoptr (AnsimManifest) m =
              ansim_manifest_parse (g_bytes_get_data (body, NULL), g_bytes_get_size (body), NULL);
            if (m != NULL && ansim_manifest_get_format_version (m) >= 3)
              {
                guint status = 0;
                gboolean unreachable = FALSE;
                g_autoptr (JsonObject) answer = NULL;
                CheckpointsResult sent =
                  send_checkpoints (self, item, m, &unreachable, &status, &answer, &error);
                if (sent == CHECKPOINTS_FAILED)
                  return checkpoints_failed (self, item, unreachable, status, answer, error);
                if (sent == CHECKPOINTS_SENT && !ansim_manifest_is_closed (m))
                  return confirm_checkpoints (self, item, superseded_up_to, answer);
                g_clear_error (&error);
              }
            g_autofree char *v =
              ansim_sf_binary_encode (g_bytes_get_data (sig, NULL), g_bytes_get_size (sig));
            sig_header = g_strdup_printf ("Ansim-Manifest-Signature: %s", v);
          }
        break;
      case ANSIM_OUTBOX_SEGMENT:
      default:
        path = g_strdup_printf ("/api/v1/incidents/%s/segments/%" G_GINT64_FORMAT, item->uuid,
                                item->segment_idx);
        body = read_spool (self, item->path, &error);
        break;
      }
  if (body == NULL)
    {
      /* Nothing to send: a local problem the panel cannot fix. Kept, retried. */
      g_autofree char *why = g_strdup_printf (
        "cannot build the %s: %s", ansim_outbox_class_name (item->klass), error->message);
      g_warning ("outbox item %" G_GINT64_FORMAT ": %s; retrying later", item->id, why);
      mark (self, item, FALSE, g_get_real_time () + backoff_us (self, item->attempts + 1), why);
      return SEND_ITEM_FAILED;
    }

  const char *extra[] = { sig_header, NULL };
  guint status = 0;
  g_autoptr (JsonObject) answer = NULL;
  gboolean answered =
    uploader_client_send (self->client, method, path, body, extra, &status, &answer, &error);
  if (answered)
    uploader_panel_answered (self, status);
  if (answered && status >= 200 && status < 300 && item->klass == ANSIM_OUTBOX_ALERT)
    tell_delivered (self, item->uuid);
  if (!answered)
    {
      mark (self, item, FALSE, 0, error->message);
      if (!self->panel_down_logged)
        g_warning ("panel unreachable: %s; retrying with backoff", error->message);
      self->panel_down_logged = TRUE;
      return SEND_PANEL_FAILED;
    }
  if (self->panel_down_logged)
    g_message ("panel reachable again");
  self->panel_down_logged = FALSE;

  if (status >= 200 && status < 300)
    {
      mark (self, item, TRUE, 0, NULL);
      if (superseded_up_to > item->id
          && !ansim_outbox_confirm_manifests (self->wdb, item->incident_id, superseded_up_to,
                                              &error))
        g_warning ("cannot confirm older manifest rows: %s", error->message);
      g_debug ("%s %s: %u %s", method, path, status,
               json_object_get_string_member_with_default (answer, "result", ""));
      if (answer != NULL && item->uuid != NULL)
        {
          const char *state = json_object_get_string_member_with_default (answer, "status", NULL);
          /* An alert nobody has acknowledged yet: ask again soon, so the
           * desk's light follows the console within about ack_poll_us. */
          if (item->klass == ANSIM_OUTBOX_ALERT && g_strcmp0 (state, "open") == 0)
            {
              self->ack_poll_until_us = g_get_monotonic_time () + ACK_POLL_WINDOW_US;
              if (!uploader_channel_is_live (self->channel))
                self->next_heartbeat_us =
                  MIN (self->next_heartbeat_us, g_get_monotonic_time () + self->ack_poll_us);
            }
          note_acknowledged (self, item->uuid, state);
        }
      if (answer != NULL && item->klass == ANSIM_OUTBOX_MANIFEST)
        keep_note (self, answer, "chain_receipt");
      return SEND_CONFIRMED;
    }
  g_autofree char *why = uploader_client_describe (status, answer);
  const char *code =
    answer != NULL ? json_object_get_string_member_with_default (answer, "error", "") : "";
  /* Whatever the panel as a whole cannot do now: its store, its clock
   * check, our enrollment. Every item would fail the same way. */
  if (status >= 500 || status == 401 || status == 403 || g_str_equal (code, "replayed"))
    {
      mark (self, item, FALSE, 0, why);
      g_warning ("%s %s: %s; retrying with backoff", method, path, why);
      return SEND_PANEL_FAILED;
    }
  g_warning ("%s %s: %s; retrying this item later", method, path, why);
  mark (self, item, FALSE, g_get_real_time () + backoff_us (self, item->attempts + 1), why);
  return SEND_ITEM_FAILED;
}

/* Deletes segment files the panel confirmed more than keep_us ago. */
static void
delete_expired (Uploader *self, gint64 now)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
  if (!ansim_outbox_expire (self->wdb, self->spool_dir, now - self->keep_us, now, problems, &error))
    g_debug ("cannot expire uploaded files: %s", error->message);
  for (guint i = 0; i < problems->len; i++)
    g_warning ("%s", (const char *) g_ptr_array_index (problems, i));
}

static SendResult
send_heartbeat (Uploader *self)
{
  gint64 now = g_get_real_time ();
  gint64 queue = 0, oldest = now;
  if (!ansim_outbox_count_waiting (self->wdb, &queue, &oldest, NULL))
    queue = 0, oldest = now;
  struct statvfs vfs;
  gint64 free_bytes = statvfs (self->spool_dir, &vfs) == 0 ? (gint64) (vfs.f_bavail * vfs.f_frsize)
                                                           : -1;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "wall_us");
  json_builder_add_int_value (b, now);
  json_builder_set_member_name (b, "disk_free_bytes");
  json_builder_add_int_value (b, free_bytes);
  json_builder_set_member_name (b, "queue_length");
  json_builder_add_int_value (b, queue);
  json_builder_set_member_name (b, "oldest_item_age_s");
  json_builder_add_int_value (b, (now - oldest) / G_USEC_PER_SEC);
  json_builder_set_member_name (b, "version");
  json_builder_add_string_value (b, ANSIM_VERSION);
  /* The recorder's own report: its triggers, outputs and sources
   * (cameras, microphones) with their state. */
  json_builder_set_member_name (b, "recorder");
  g_autoptr (GError) status_error = NULL;
  g_autofree char *reply = ansim_control_request (self->recorder_socket, "status", &status_error);
  g_autoptr (JsonNode) state = reply != NULL ? json_from_string (reply, NULL) : NULL;
  if (state != NULL && JSON_NODE_HOLDS_OBJECT (state))
    json_builder_add_value (b, g_steal_pointer (&state));
  else
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "ok");
      json_builder_add_boolean_value (b, FALSE);
      json_builder_set_member_name (b, "error");
      json_builder_add_string_value (b, status_error != NULL ? status_error->message
                                                             : "not a JSON object");
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  g_autoptr (GBytes) body = uploader_client_json_body (b);
  guint status = 0;
  g_autoptr (JsonObject) answer = NULL;
  g_autoptr (GError) error = NULL;
  if (!uploader_client_send (self->client, "POST", "/api/v1/heartbeat", body, NULL, &status,
                             &answer, &error))
    return SEND_PANEL_FAILED;
  uploader_panel_answered (self, status);
  if (status != 200 || answer == NULL)
    {
      g_autofree char *why = uploader_client_describe (status, answer);
      g_warning ("heartbeat refused: %s", why);
      return status >= 500 || status == 401 || status == 403 ? SEND_PANEL_FAILED : SEND_ITEM_FAILED;
    }
  keep_note (self, answer, "audit_checkpoint");
  gint64 offset = json_object_get_int_member_with_default (answer, "clock_offset_us", 0);
  if (ABS (offset) > 2 * G_USEC_PER_SEC)
    g_warning ("this board's clock is %.1f s off the panel's; check NTP",
               offset / (double) G_USEC_PER_SEC);
  JsonArray *incidents = json_object_get_array_member (answer, "incidents");
  gboolean any_open = FALSE;
  for (guint i = 0; incidents != NULL && i < json_array_get_length (incidents); i++)
    {
      JsonObject *o = json_array_get_object_element (incidents, i);
      if (o == NULL)
        continue;
      const char *incident_status = json_object_get_string_member_with_default (o, "status", NULL);
      any_open |= g_strcmp0 (incident_status, "open") == 0;
      note_acknowledged (self, json_object_get_string_member_with_default (o, "incident", NULL),
                         incident_status);
    }
  if (!any_open)
    self->ack_poll_until_us = 0;
  return SEND_CONFIRMED;
}

/* Heartbeats come every ack_poll_us while an alert of this desk is still
 * open on the panel (for at most ACK_POLL_WINDOW_US after it was sent),
 * unless the channel works: then it brings the acknowledgement. Asked
 * again at each turn, so a channel that stops working in the window
 * brings the poll back. */
static gint64
heartbeat_interval (Uploader *self, gint64 mono)
{
  return mono < self->ack_poll_until_us && !uploader_channel_is_live (self->channel)
           ? self->ack_poll_us
           : self->heartbeat_us;
}

/* The offset learnt goes to the desk database, where the recorder puts it
 * in manifests and `ansimctl status` shows it. */
static void
store_panel_clock (Uploader *self)
{
  AnsimDeskClock clock;
  g_autoptr (GError) error = NULL;
  if (uploader_panel_clock_take_news (self->panel_clock, &clock)
      && !ansim_desk_clock_store (self->wdb, self->panel_url, &clock, &error))
    g_warning ("cannot store the desk clock's offset: %s", error->message);
}

static gpointer
worker (gpointer user_data)
{
  Uploader *self = user_data;
  self->next_heartbeat_us = 0;
  while (!g_atomic_int_get (&self->stop))
    {
      gint64 now = g_get_real_time (); /* for the outbox's times, which are wall-clock */
      gint64 mono = g_get_monotonic_time ();
      gint64 wake_at = mono + self->poll_us;
      g_autoptr (GError) error = NULL;

      if (mono >= self->panel_not_before_us)
        {
          SendResult result = SEND_CONFIRMED;
          if (mono >= self->next_heartbeat_us
              || mono >= self->last_heartbeat_us + heartbeat_interval (self, mono))
            {
              self->last_heartbeat_us = mono;
              result = send_heartbeat (self);
              self->next_heartbeat_us = mono + heartbeat_interval (self, mono);
            }
          g_auto (AnsimOutboxItem) item = { 0 };
          gint64 next_due = G_MAXINT64;
          if (result != SEND_PANEL_FAILED)
            {
              if (!next_item (self, now, &item, &next_due, &error))
                g_warning ("%s; retrying", error->message);
              else if (item.id != 0)
                result = send_item (self, &item);
              else if (next_due - now < self->poll_us)
                wake_at = mono + MAX (next_due - now, 0);
            }
          if (result == SEND_PANEL_FAILED)
            {
              self->panel_failures++;
              /* At least one try per heartbeat interval: the desk's path
               * supervision must see the panel back soon. */
              self->panel_not_before_us =
                mono + MIN (backoff_us (self, self->panel_failures), self->heartbeat_us);
              wake_at = self->panel_not_before_us;
            }
          else
            {
              /* The panel is back: the channel's held request may be one
               * that died with the link; ask afresh. */
              if (self->panel_failures > 0 && self->channel != NULL)
                uploader_channel_reconnect (self->channel);
              self->panel_failures = 0;
              if (item.id != 0)
                continue; /* more may be waiting */
            }
        }
      else
        wake_at = self->panel_not_before_us;
      delete_expired (self, now);
      store_panel_clock (self);

      g_mutex_lock (&self->lock);
      /* A wake-up (new alert) cuts a panel backoff short: an alert is worth
       * one immediate try. */
      while (!self->wake && !g_atomic_int_get (&self->stop))
        {
          gint64 deadline = MIN (wake_at, mono + heartbeat_interval (self, mono));
          if (deadline <= g_get_monotonic_time ()
              || !g_cond_wait_until (&self->cond, &self->lock, deadline))
            break;
        }
      if (self->wake)
        self->panel_not_before_us = 0;
      self->wake = FALSE;
      g_mutex_unlock (&self->lock);
    }
  return NULL;
}

void
uploader_wake (Uploader *self)
{
  g_mutex_lock (&self->lock);
  self->wake = TRUE;
  g_cond_signal (&self->cond);
  g_mutex_unlock (&self->lock);
}

static gboolean
on_wake (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  (void) condition;
  char buf[64];
  while (g_socket_receive (socket, buf, sizeof buf, NULL, NULL) > 0)
    ;
  uploader_wake (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
open_wake_socket (Uploader *self, GError **error)
{
  self->wake_socket =
    g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  if (self->wake_socket == NULL)
    return FALSE;
  g_socket_set_blocking (self->wake_socket, FALSE);
  g_unlink (self->wake_path); /* a stale socket from an earlier run */
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (self->wake_path);
  if (!g_socket_bind (self->wake_socket, addr, FALSE, error))
    {
      g_prefix_error (error, "wake socket %s: ", self->wake_path);
      return FALSE;
    }
  self->wake_source = g_socket_create_source (self->wake_socket, G_IO_IN, NULL);
  g_source_set_callback (self->wake_source, G_SOURCE_FUNC (on_wake), self, NULL);
  g_source_attach (self->wake_source, NULL);
  return TRUE;
}

/* Every channel answer proves the path desk -> panel -> desk: the
 * recorder's path supervision hears it as from the worker's answers.
 * Channel thread. */
static void
on_channel_answered (guint status, gpointer user_data)
{
  uploader_panel_answered (user_data, status);
}

Uploader *
uploader_new (AnsimConfig *config, GError **error)
{
  g_autoptr (Uploader) self = g_new0 (Uploader, 1);
  g_mutex_init (&self->lock);
  g_mutex_init (&self->path_lock);
  g_cond_init (&self->cond);
  self->database = ansim_config_get_path (config, "uploader", "database");
  self->panel_url = g_strdup (ansim_config_get_string (config, "uploader", "panel_url"));
  self->spool_dir = ansim_config_get_path (config, "uploader", "spool_dir");
  self->wake_path = ansim_config_get_path (config, "uploader", "wake_socket");
  self->recorder_socket = ansim_config_get_path (config, "uploader", "recorder_socket");
  if (ansim_config_has_key (config, "uploader", "ca_file"))
    self->ca_file = ansim_config_get_path (config, "uploader", "ca_file");
  self->poll_us = ansim_config_get_int (config, "uploader", "poll_interval") * G_USEC_PER_SEC;
  /* 0: from the recorder's supervision window, so that it sees the path
   * up (a quarter of it; docs/config.md). */
  gint64 supervision_s = ansim_config_get_int (config, "uploader", "supervision_s");
  gint64 heartbeat_s = ansim_config_get_int (config, "uploader", "heartbeat_interval");
  if (heartbeat_s == 0)
    heartbeat_s = supervision_s > 0 ? MAX (1, supervision_s / 4) : 60;
  self->heartbeat_us = heartbeat_s * G_USEC_PER_SEC;
  self->ack_poll_us = ansim_config_get_int (config, "uploader", "acknowledgement_poll_ms") * 1000;
  self->retry_min_us = ansim_config_get_int (config, "uploader", "retry_min") * G_USEC_PER_SEC;
  self->retry_max_us = ansim_config_get_int (config, "uploader", "retry_max") * G_USEC_PER_SEC;
  self->keep_us = ansim_config_get_int (config, "uploader", "keep_after_upload") * G_USEC_PER_SEC;
  self->timeout_s = ansim_config_get_int (config, "uploader", "request_timeout");
  self->send_rate = ansim_config_get_int (config, "uploader", "max_send_rate") * 1024;

  g_autofree char *key_path = ansim_config_get_path (config, "uploader", "device_key");
  /* The recorder creates the same file the same way; of two racing
   * creators one wins and both use its key. */
  self->key = ansim_device_key_load_or_create (key_path, error);
  if (self->key == NULL)
    return NULL;
  self->db = ansim_db_open (&ansim_desk_db_schema, self->database, error);
  if (self->db == NULL)
    return NULL;
  self->wdb = ansim_db_open (&ansim_desk_db_schema, self->database, error);
  if (self->wdb == NULL)
    return NULL;
  self->client = uploader_client_new (self->panel_url, self->ca_file, self->key, error);
  if (self->client == NULL)
    return NULL;
  uploader_client_set_timeout (self->client, self->timeout_s);
  uploader_client_set_max_send_rate (self->client, self->send_rate);
  uploader_client_set_cancel_flag (self->client, &self->stop);
  self->panel_clock = uploader_panel_clock_new ();
  uploader_client_share_clock (self->client, self->panel_clock);
  if (!open_wake_socket (self, error))
    return NULL;
  gint64 waiting = uploader_count_waiting (self, error);
  if (waiting < 0)
    return NULL;
  g_message ("database %s open; %" G_GINT64_FORMAT " outbox item(s) waiting for %s; device key %s",
             self->database, waiting, self->panel_url,
             ansim_device_key_get_fingerprint (self->key));
  if (ansim_config_get_bool (config, "uploader", "channel"))
    {
      UploaderChannelConfig cc = {
        .panel_url = self->panel_url,
        .ca_file = self->ca_file,
        .database = self->database,
        .recorder_socket = self->recorder_socket,
        .key = self->key,
        .wait_ms = ansim_config_get_int (config, "uploader", "channel_wait_ms"),
        .answered = on_channel_answered,
        .answered_data = self,
        .clock = self->panel_clock,
      };
      self->channel = uploader_channel_new (&cc, error);
      if (self->channel == NULL)
        return NULL;
    }
  else
    g_message ("channel = false: acknowledgements come only with heartbeats and upload answers");
  self->worker = g_thread_new ("uploader", worker, self);
  return g_steal_pointer (&self);
}

void
uploader_free (Uploader *self)
{
  if (self == NULL)
    return;
  if (self->worker != NULL)
    {
      g_atomic_int_set (&self->stop, 1);
      uploader_wake (self);
      g_thread_join (self->worker);
    }
  /* After the worker, which may ask it to reconnect. */
  g_clear_pointer (&self->channel, uploader_channel_free);
  if (self->wake_source != NULL)
    {
      g_source_destroy (self->wake_source);
      g_source_unref (self->wake_source);
      g_unlink (self->wake_path);
    }
  g_clear_object (&self->wake_socket);
  g_clear_pointer (&self->client, uploader_client_free);
  g_clear_pointer (&self->panel_clock, uploader_panel_clock_free);
  g_clear_pointer (&self->wdb, sqlite3_close);
  g_clear_pointer (&self->db, sqlite3_close);
  ansim_device_key_free (self->key);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->path_lock);
  g_cond_clear (&self->cond);
  g_free (self->panel_url);
  g_free (self->database);
  g_free (self->spool_dir);
  g_free (self->wake_path);
  g_free (self->recorder_socket);
  g_free (self->ca_file);
  g_free (self);
}
