/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The media route of the console (playback.h). Must keep true: no
 * decrypted byte leaves the panel before its (session, incident) row in
 * playback_pending records the segment, whatever the Range header asks;
 * every pending row becomes exactly one audit entry (when the viewing has
 * been idle, when the panel stops, or at the next start after a crash);
 * the sealed originals are only read. */
#include "playback.h"

#include "age.h"
#include "audit.h"
#include "db.h"
#include "http.h"
#include "util.h"
#include "range.h"
#include "remux.h"

#include <json-glib/json-glib.h>

/* Remuxed segments kept in memory for the next viewer: a live incident is
 * watched by several consoles at once, each asking for the newest segment
 * (64: half a minute of a press with two cameras and 1 s segments). */
#define CACHE_ENTRIES 64

struct _PanelPlayback {
  sqlite3 *db;
  PanelStore *store;
  GPtrArray *identities;
  gint64 idle_us;
  guint flush_id;
  GHashTable *cache;  /* "incident/index" -> PanelRemux */
  GQueue cache_order; /* of keys (owned by the table), oldest first */
};

typedef struct {
  PanelPlayback *self;
  SoupServerMessage *msg;
  GBytes *cipher;
  char *want_sha256;
  gint64 plain_size;
  char *cache_key;
  char *session_sha256;
  char *user;
  char *role;
  char *client;
  gint64 incident_id;
  gint64 index;
  gint64 start_wall_us;
  gint64 duration_us;
} Job;

static void
job_free (Job *job)
{
  g_clear_object (&job->msg);
  g_clear_pointer (&job->cipher, g_bytes_unref);
  g_free (job->want_sha256);
  g_free (job->cache_key);
  g_free (job->session_sha256);
  g_free (job->user);
  g_free (job->role);
  g_free (job->client);
  g_free (job);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Job, job_free)

typedef enum { FAIL_INTEGRITY = 1, FAIL_REMUX } Failure;

static void
remux_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Job *job = data;
  GPtrArray *ids = job->self->identities;
  g_autoptr (GError) error = NULL;
  (void) source;
  (void) cancellable;
  g_autoptr (GBytes) plain =
    ansim_age_decrypt_bytes ((AnsimAgeIdentity *const *) ids->pdata, ids->len, job->cipher, &error);
  if (plain == NULL)
    return g_task_return_new_error (task, G_IO_ERROR, FAIL_INTEGRITY, "cannot decrypt: %s",
                                    error->message);
  char hex[ANSIM_SHA256_HEX_LEN + 1];
  ansim_hash_sha256_hex (g_bytes_get_data (plain, NULL), g_bytes_get_size (plain), hex);
  if ((gint64) g_bytes_get_size (plain) != job->plain_size
      || g_strcmp0 (hex, job->want_sha256) != 0)
    return g_task_return_new_error (task, G_IO_ERROR, FAIL_INTEGRITY,
                                    "the decrypted media is not what the signed manifest lists");
  PanelRemux *remux = panel_remux_matroska_to_fmp4 (plain, &error);
  if (remux == NULL)
    return g_task_return_new_error (task, G_IO_ERROR, FAIL_REMUX, "%s", error->message);
  g_task_return_pointer (task, remux, (GDestroyNotify) panel_remux_free);
}

static void
cache_put (PanelPlayback *self, const char *key, PanelRemux *remux)
{
  if (g_hash_table_contains (self->cache, key))
    return panel_remux_free (remux);
  char *owned = g_strdup (key);
  g_hash_table_insert (self->cache, owned, remux);
  g_queue_push_tail (&self->cache_order, owned);
  while (g_queue_get_length (&self->cache_order) > CACHE_ENTRIES)
    g_hash_table_remove (self->cache, g_queue_pop_head (&self->cache_order));
}

/* Records that this segment goes to this session, before it does. */
static gboolean
record_served (PanelPlayback *self, Job *job, gsize bytes, GError **error)
{
  g_autofree char *mark = g_strdup_printf ("%" G_GINT64_FORMAT, job->index);
  gint64 now = g_get_real_time ();
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "INSERT INTO playback_pending (session_sha256, incident_id, user, role, client, first_us, "
    "  last_us, segments, requests, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ','||?7||',', 1, ?8) "
    "ON CONFLICT (session_sha256, incident_id) DO UPDATE SET last_us = ?6, "
    "  requests = requests + 1, bytes = bytes + ?8, client = ?5, "
    "  segments = CASE WHEN instr (segments, ','||?7||',') > 0 THEN segments "
    "                  ELSE segments||?7||',' END",
    error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, job->session_sha256, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, job->incident_id);
  sqlite3_bind_text (stmt, 3, job->user, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, job->role, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 5, job->client, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 6, now);
  sqlite3_bind_text (stmt, 7, mark, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 8, (gint64) bytes);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    {
      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_SQL, "recording the playback: %s",
                   sqlite3_errmsg (self->db));
      return FALSE;
    }
  return TRUE;
}

/* The remuxed segment, Range honoured (range.h), after it is recorded. */
static void
send_remux (PanelPlayback *self, Job *job, const PanelRemux *remux)
{
  SoupServerMessage *msg = job->msg;
  gsize size = g_bytes_get_size (remux->mp4);
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  gint64 first = 0, last = (gint64) size - 1;
  PanelRange range =
    panel_range_parse (soup_message_headers_get_one (req, "Range"), (gint64) size, &first, &last);
  /* libsoup would otherwise apply the Range to a 200 itself (multipart,
   * overlapping ranges): the panel's answer is final. */
  soup_message_headers_remove (req, "Range");
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  if (range == PANEL_RANGE_UNSATISFIABLE)
    {
      g_autofree char *cr = g_strdup_printf ("bytes */%" G_GSIZE_FORMAT, size);
      soup_message_headers_replace (h, "Content-Range", cr);
      return panel_http_send_error (msg, SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE, "bad-range",
                                    "the range lies beyond the end of the segment");
    }
  g_autoptr (GError) error = NULL;
  if (!record_served (self, job, (gsize) (last - first + 1), &error))
    {
      g_warning ("%s", error->message);
      return panel_http_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                    "the panel cannot write its audit log");
    }
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  soup_message_headers_replace (h, "Accept-Ranges", "bytes");
  soup_message_headers_replace (h, "X-Ansim-Codecs", remux->codecs);
  g_autofree char *start = g_strdup_printf ("%" G_GINT64_FORMAT, remux->start_ns / 1000);
  soup_message_headers_replace (h, "X-Ansim-Media-Start-Us", start);
  /* Where the segment lies on the desk's clock (the signed manifest's
   * times), so that the player can show wall times and the live edge. */
  g_autofree char *wall = g_strdup_printf ("%" G_GINT64_FORMAT, job->start_wall_us);
  soup_message_headers_replace (h, "X-Ansim-Wall-Start-Us", wall);
  g_autofree char *duration = g_strdup_printf ("%" G_GINT64_FORMAT, job->duration_us);
  soup_message_headers_replace (h, "X-Ansim-Duration-Us", duration);
  g_autofree char *frames = g_strdup_printf ("%u", remux->video_frames);
  soup_message_headers_replace (h, "X-Ansim-Video-Frames", frames);
  const char *data = g_bytes_get_data (remux->mp4, NULL);
  if (range == PANEL_RANGE_PART)
    {
      g_autofree char *cr = g_strdup_printf (
        "bytes %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT "/%" G_GSIZE_FORMAT, first, last, size);
      soup_message_headers_replace (h, "Content-Range", cr);
      soup_server_message_set_status (msg, SOUP_STATUS_PARTIAL_CONTENT, NULL);
    }
  else
    soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "video/mp4", SOUP_MEMORY_COPY, data + first,
                                    (gsize) (last - first + 1));
}

static void
remuxed (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (Job) job = data;
  g_autoptr (GError) error = NULL;
  (void) source;
  PanelRemux *remux = g_task_propagate_pointer (G_TASK (result), &error);
  if (remux == NULL)
    {
      g_warning ("playback of incident %" G_GINT64_FORMAT " segment %" G_GINT64_FORMAT ": %s",
                 job->incident_id, job->index, error->message);
      if (error->code == FAIL_INTEGRITY)
        panel_http_send_error (job->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "integrity",
                               "the segment cannot be read or decrypted, or does not match "
                               "the signed manifest");
      else
        panel_http_send_error (job->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "remux",
                               "the segment cannot be prepared for the browser");
    }
  else
    {
      send_remux (job->self, job, remux);
      cache_put (job->self, job->cache_key, remux);
    }
  soup_server_message_unpause (job->msg);
}

void
panel_playback_serve (PanelPlayback *self, SoupServerMessage *msg, PanelSession *session,
                      gint64 incident_id, gint64 index)
{
  if (self->identities == NULL)
    return panel_http_send_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "no-playback",
                                  "this panel has no site identity ([panel] site_identity): "
                                  "it cannot decrypt video");
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "SELECT kind, store_key, plain_sha256, plain_size, start_wall_us, duration_us "
    "FROM segments "
    "WHERE incident_id = ?1 AND idx = ?2",
    NULL);
  if (stmt == NULL)
    return panel_http_send_db_error (msg, self->db, "reading the segment");
  sqlite3_bind_int64 (stmt, 1, incident_id);
  sqlite3_bind_int64 (stmt, 2, index);
  int rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return panel_http_send_db_error (msg, self->db, "reading the segment");
  if (rc == SQLITE_DONE || !g_str_equal ((const char *) sqlite3_column_text (stmt, 0), "media")
      || sqlite3_column_type (stmt, 1) == SQLITE_NULL)
    return panel_http_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found",
                                  "no such segment received (yet)");
  g_autoptr (Job) job = g_new0 (Job, 1);
  job->self = self;
  job->msg = g_object_ref (msg);
  job->incident_id = incident_id;
  job->index = index;
  job->start_wall_us = sqlite3_column_int64 (stmt, 4);
  job->duration_us = sqlite3_column_int64 (stmt, 5);
  job->cache_key = g_strdup_printf ("%" G_GINT64_FORMAT "/%" G_GINT64_FORMAT, incident_id, index);
  job->session_sha256 = g_strdup (session->token_sha256);
  job->user = g_strdup (session->user);
  job->role = g_strdup (panel_role_to_string (session->role));
  const char *host = soup_server_message_get_remote_host (msg);
  job->client = g_strdup (host != NULL ? host : "unknown");
  job->want_sha256 = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
  job->plain_size = sqlite3_column_int64 (stmt, 3);
  g_autofree char *store_key = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  /* Done reading: a statement left on its row keeps a read snapshot, and
   * the playback record written next would then fail with "database is
   * locked" (SQLITE_BUSY_SNAPSHOT, no waiting) whenever an upload had
   * committed meanwhile. */
  g_clear_pointer (&stmt, sqlite3_finalize);
  PanelRemux *cached = g_hash_table_lookup (self->cache, job->cache_key);
  if (cached != NULL)
    return send_remux (self, job, cached);

  g_autoptr (GError) error = NULL;
  job->cipher = panel_store_get (self->store, store_key, &error);
  if (job->cipher == NULL)
    {
      g_warning ("playback of incident %" G_GINT64_FORMAT " segment %" G_GINT64_FORMAT ": %s",
                 incident_id, index, error->message);
      return panel_http_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "integrity",
                                    "the segment cannot be read from the store");
    }
  soup_server_message_pause (msg);
  Job *owned = g_steal_pointer (&job);
  g_autoptr (GTask) task = g_task_new (NULL, NULL, remuxed, owned);
  g_task_set_task_data (task, owned, NULL);
  g_task_run_in_thread (task, remux_in_thread);
}

/* The wall-time ranges (desk clock) of the segments listed in marks
 * (",3,4,7,"), neighbours joined. */
static void
add_ranges (PanelPlayback *self, JsonBuilder *b, gint64 incident_id, const char *marks)
{
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (self->db,
                      "SELECT start_wall_us, duration_us FROM segments WHERE incident_id = ?1 "
                      "AND instr (?2, ','||idx||',') > 0 ORDER BY start_wall_us",
                      NULL);
  json_builder_set_member_name (b, "ranges");
  json_builder_begin_array (b);
  gint64 from = -1, to = -1;
  if (stmt != NULL)
    {
      sqlite3_bind_int64 (stmt, 1, incident_id);
      sqlite3_bind_text (stmt, 2, marks, -1, SQLITE_STATIC);
      while (sqlite3_step (stmt) == SQLITE_ROW)
        {
          gint64 start = sqlite3_column_int64 (stmt, 0);
          gint64 end = start + sqlite3_column_int64 (stmt, 1);
          if (from >= 0 && start <= to + G_USEC_PER_SEC / 2)
            to = MAX (to, end);
          else
            {
              if (from >= 0)
                {
                  json_builder_begin_array (b);
                  json_builder_add_int_value (b, from);
                  json_builder_add_int_value (b, to);
                  json_builder_end_array (b);
                }
              from = start, to = end;
            }
        }
    }
  if (from >= 0)
    {
      json_builder_begin_array (b);
      json_builder_add_int_value (b, from);
      json_builder_add_int_value (b, to);
      json_builder_end_array (b);
    }
  json_builder_end_array (b);
}

gboolean
panel_playback_flush (PanelPlayback *self, gboolean all, const char *why, GError **error)
{
  /* Looked at first without the write lock: most checks find nothing, and
   * a write transaction (an fsync) each time would compete with ingest. */
  g_autoptr (sqlite3_stmt) any = ansim_db_prepare (
    self->db, "SELECT 1 FROM playback_pending WHERE ?1 OR last_us < ?2 LIMIT 1", error);
  if (any == NULL)
    return FALSE;
  sqlite3_bind_int (any, 1, all);
  sqlite3_bind_int64 (any, 2, g_get_real_time () - self->idle_us);
  int found = sqlite3_step (any);
  g_clear_pointer (&any, sqlite3_finalize);
  if (found == SQLITE_DONE)
    return TRUE;
  if (!ansim_db_begin (self->db, error))
    return FALSE;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "SELECT session_sha256, incident_id, user, role, client, first_us, last_us, segments, "
    "requests, bytes FROM playback_pending WHERE ?1 OR last_us < ?2 ORDER BY first_us",
    error);
  if (stmt == NULL)
    goto fail;
  sqlite3_bind_int (stmt, 1, all);
  sqlite3_bind_int64 (stmt, 2, g_get_real_time () - self->idle_us);
  int rc;
  guint n = 0;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 incident = sqlite3_column_int64 (stmt, 1);
      const char *marks = (const char *) sqlite3_column_text (stmt, 7);
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      /* A prefix of the session key's hash: tells sessions apart, opens none. */
      json_builder_set_member_name (b, "session");
      g_autofree char *session = g_strndup ((const char *) sqlite3_column_text (stmt, 0), 12);
      json_builder_add_string_value (b, session);
      json_builder_set_member_name (b, "from_us");
      json_builder_add_int_value (b, sqlite3_column_int64 (stmt, 5));
      json_builder_set_member_name (b, "until_us");
      json_builder_add_int_value (b, sqlite3_column_int64 (stmt, 6));
      add_ranges (self, b, incident, marks);
      json_builder_set_member_name (b, "segments");
      json_builder_begin_array (b);
      g_auto (GStrv) parts = g_strsplit (marks, ",", -1);
      for (guint i = 0; parts[i] != NULL; i++)
        if (parts[i][0] != '\0')
          json_builder_add_int_value (b, g_ascii_strtoll (parts[i], NULL, 10));
      json_builder_end_array (b);
      json_builder_set_member_name (b, "requests");
      json_builder_add_int_value (b, sqlite3_column_int64 (stmt, 8));
      json_builder_set_member_name (b, "bytes");
      json_builder_add_int_value (b, sqlite3_column_int64 (stmt, 9));
      json_builder_set_member_name (b, "ended");
      json_builder_add_string_value (b, why);
      json_builder_end_object (b);
      g_autoptr (JsonNode) node = json_builder_get_root (b);
      g_autofree char *detail = json_to_string (node, FALSE);
      g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, incident);
      if (!panel_audit_append (self->db, (const char *) sqlite3_column_text (stmt, 2),
                               (const char *) sqlite3_column_text (stmt, 3),
                               (const char *) sqlite3_column_text (stmt, 4), PANEL_AUDIT_PLAYBACK,
                               target, detail, error))
        goto fail;
      n++;
    }
  if (rc != SQLITE_DONE)
    {
      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_SQL, "reading pending playback: %s",
                   sqlite3_errmsg (self->db));
      goto fail;
    }
  g_clear_pointer (&stmt, sqlite3_finalize);
  if (n > 0)
    {
      g_autoptr (sqlite3_stmt) del =
        ansim_db_prepare (self->db, "DELETE FROM playback_pending WHERE ?1 OR last_us < ?2", error);
      if (del == NULL)
        goto fail;
      sqlite3_bind_int (del, 1, all);
      sqlite3_bind_int64 (del, 2, g_get_real_time () - self->idle_us);
      if (sqlite3_step (del) != SQLITE_DONE)
        {
          g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_SQL, "clearing pending playback: %s",
                       sqlite3_errmsg (self->db));
          goto fail;
        }
    }
  return ansim_db_commit (self->db, error);

fail:
  g_clear_pointer (&stmt, sqlite3_finalize);
  ansim_db_rollback (self->db);
  return FALSE;
}

static gboolean
flush_idle (gpointer data)
{
  PanelPlayback *self = data;
  g_autoptr (GError) error = NULL;
  if (!panel_playback_flush (self, FALSE, "idle", &error))
    g_warning ("cannot write the playback audit entries: %s", error->message);
  return G_SOURCE_CONTINUE;
}

PanelPlayback *
panel_playback_new (sqlite3 *db, PanelStore *store, GPtrArray *identities, gint64 idle_us)
{
  PanelPlayback *self = g_new0 (PanelPlayback, 1);
  self->db = db;
  self->store = store;
  self->identities = identities != NULL ? g_ptr_array_ref (identities) : NULL;
  if (identities != NULL)
    panel_remux_init ();
  self->idle_us = idle_us;
  self->cache =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) panel_remux_free);
  g_queue_init (&self->cache_order);
  g_autoptr (GError) error = NULL;
  if (!panel_playback_flush (self, TRUE, "panel-restarted", &error))
    g_warning ("cannot write the playback audit entries left pending: %s", error->message);
  self->flush_id =
    g_timeout_add_seconds (CLAMP (idle_us / G_USEC_PER_SEC / 4, 1, 15), flush_idle, self);
  return self;
}

gboolean
panel_playback_enabled (PanelPlayback *self)
{
  return self->identities != NULL;
}

void
panel_playback_free (PanelPlayback *self)
{
  if (self == NULL)
    return;
  g_autoptr (GError) error = NULL;
  if (!panel_playback_flush (self, TRUE, "panel-stopped", &error))
    g_warning ("cannot write the playback audit entries: %s", error->message);
  g_clear_handle_id (&self->flush_id, g_source_remove);
  g_queue_clear (&self->cache_order);
  g_hash_table_unref (self->cache);
  g_clear_pointer (&self->identities, g_ptr_array_unref);
  g_free (self);
}
