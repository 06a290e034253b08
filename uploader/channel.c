/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the uploader's end of the panel's push channel
 * (docs/protocol.md, Channel): a thread that keeps one long poll open,
 * passes each message to the recorder's control socket ("acknowledged
 * UUID", "police-bell UUID REASON"), logs acknowledgements in the desk's
 * event log and stores how far it got (channel_state) in the same
 * transaction. Keeps true: its own HTTP and database connections, so it
 * never waits behind an upload and an upload never waits behind it; the
 * light is told before anything is written; `after` only moves past a
 * police-bell message once the recorder was reached (or may have been), so
 * a bell is asked for at most once per message and not lost while the
 * recorder is down. */
#include "channel.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "client.h"
#include "control-client.h"
#include "db.h"
#include "json-event.h"

/* The panel keeps a police-bell message 10 minutes; an older one is stale. */
#define BELL_MAX_AGE_US (G_GINT64_CONSTANT (10) * 60 * G_USEC_PER_SEC)
/* After no answer or a 5xx: 1 s doubling to 5 s, so a desk is back within
 * seconds of the panel; after a refusal (a 4xx: an old panel without the
 * channel, a revoked key) once a minute. */
#define RETRY_MIN_US (G_USEC_PER_SEC)
#define RETRY_MAX_US (5 * G_USEC_PER_SEC)
#define REFUSED_RETRY_US (60 * G_USEC_PER_SEC)
/* How much later than wait_ms a held request may be answered before it
 * counts as dead (transfer timeout, and "live"). */
#define ANSWER_MARGIN_MS 5000

struct _UploaderChannel {
  char *panel_url;
  char *recorder_socket;
  gint64 wait_ms;
  UploaderChannelAnsweredFunc answered;
  gpointer answered_data;

  GThread *thread;
  GMutex lock;
  GCond cond;
  gint stop;            /* atomic */
  gint abandon;         /* atomic; the client's cancel flag: stop or reconnect */
  gboolean reconnect;   /* under lock: ask again now */
  gboolean refused;     /* under lock: the panel refused the last request (4xx) */
  gint64 live_until_us; /* under lock; monotonic, 0 = not live */

  /* channel thread only */
  sqlite3 *db;
  UploaderClient *client;
  gint64 after;
  gboolean down_logged;
};

typedef enum {
  TOLD,         /* the recorder answered ok */
  TOLD_REFUSED, /* it answered, but refused (logged) */
  NOT_TOLD,     /* nobody listens: the line was not delivered */
  MAYBE_TOLD,   /* connected, but no answer: it may have acted */
} Told;

gboolean
uploader_log_acknowledged (sqlite3 *db, const char *uuid, const char *detail_json,
                           gboolean *out_logged, GError **error)
{
  *out_logged = FALSE;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db,
    "SELECT i.id, i.desk_id, i.trigger, "
    " EXISTS (SELECT 1 FROM events e WHERE e.incident_id = i.id AND e.kind = 'acknowledged') "
    "FROM incidents i WHERE i.uuid = ?1",
    error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, uuid, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_ROW || sqlite3_column_int (stmt, 3))
    return TRUE;
  gint64 id = sqlite3_column_int64 (stmt, 0);
  g_autofree char *desk = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  g_autofree char *trigger = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
  g_clear_pointer (&stmt, sqlite3_finalize);
  if (!ansim_db_log_event (db, "acknowledged", desk, trigger, id, g_get_monotonic_time (),
                           detail_json, NULL, error))
    return FALSE;
  *out_logged = TRUE;
  return TRUE;
}

/* ---- state shared with the uploader's threads --------------------------- */

static void
set_live (UploaderChannel *self, gboolean live, gboolean refused)
{
  g_mutex_lock (&self->lock);
  self->live_until_us = live ? g_get_monotonic_time () + (self->wait_ms + ANSWER_MARGIN_MS) * 1000
                             : 0;
  self->refused = refused;
  g_mutex_unlock (&self->lock);
}

gboolean
uploader_channel_is_live (UploaderChannel *self)
{
  if (self == NULL)
    return FALSE;
  g_mutex_lock (&self->lock);
  gboolean live = g_get_monotonic_time () < self->live_until_us;
  g_mutex_unlock (&self->lock);
  return live;
}

void
uploader_channel_reconnect (UploaderChannel *self)
{
  g_mutex_lock (&self->lock);
  /* A refusal is not cured by asking again sooner. */
  if (!self->refused)
    {
      self->reconnect = TRUE;
      g_atomic_int_set (&self->abandon, 1);
      g_cond_signal (&self->cond);
    }
  g_mutex_unlock (&self->lock);
}

/* Waits us, or less if stopped or asked to reconnect. */
static void
channel_sleep (UploaderChannel *self, gint64 us)
{
  gint64 end = g_get_monotonic_time () + us;
  g_mutex_lock (&self->lock);
  while (!g_atomic_int_get (&self->stop) && !self->reconnect)
    if (!g_cond_wait_until (&self->cond, &self->lock, end))
      break;
  g_mutex_unlock (&self->lock);
}

static gint64
retry_delay (guint failures)
{
  gint64 delay = RETRY_MIN_US;
  for (guint i = 1; i < failures && delay < RETRY_MAX_US; i++)
    delay *= 2;
  delay = MIN (delay, RETRY_MAX_US);
  return delay / 2 + (gint64) (g_random_double () * (delay / 2));
}

/* ---- the seq, durably ----------------------------------------------------- */

static gboolean
load_after (UploaderChannel *self, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (self->db, "SELECT after_seq FROM channel_state WHERE panel_url = ?1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, self->panel_url, -1, SQLITE_STATIC);
  self->after = sqlite3_step (stmt) == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
  return TRUE;
}

static gboolean
store_after (UploaderChannel *self, gint64 after, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db,
    "INSERT INTO channel_state (panel_url, after_seq, updated_at_us) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (panel_url) DO UPDATE SET after_seq = excluded.after_seq, "
    "updated_at_us = excluded.updated_at_us",
    error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, self->panel_url, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, after);
  sqlite3_bind_int64 (stmt, 3, g_get_real_time ());
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return ansim_db_set_error (self->db, error, "storing the channel's seq");
  return TRUE;
}

/* ---- acting on messages ----------------------------------------------------- */

static Told
tell_recorder (UploaderChannel *self, const char *line)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *reply = ansim_control_request (self->recorder_socket, line, &error);
  if (reply == NULL)
    {
      g_warning ("channel: cannot tell the recorder '%s': %s", line, error->message);
      return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED) ? NOT_TOLD : MAYBE_TOLD;
    }
  g_autoptr (JsonNode) node = json_from_string (reply, NULL);
  JsonObject *o = node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node)
                                                                : NULL;
  if (o == NULL || !json_object_get_boolean_member_with_default (o, "ok", FALSE))
    {
      g_warning ("channel: the recorder refused '%s': %s", line,
                 o != NULL ? json_object_get_string_member_with_default (o, "error", reply)
                           : reply);
      return TOLD_REFUSED;
    }
  g_debug ("channel: '%s' -> %s", line, reply);
  return TOLD;
}

/* Letters, digits and '-', as the panel writes reasons; anything else is
 * not put on the control socket's line. */
static gboolean
reason_is_word (const char *reason)
{
  if (reason == NULL || *reason == '\0' || strlen (reason) > 32)
    return FALSE;
  for (const char *c = reason; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && *c != '-')
      return FALSE;
  return TRUE;
}

/* Acts on one answer. Returns FALSE when it stopped at a police-bell
 * message the recorder was not there to take (ask again soon). */
static gboolean
handle_answer (UploaderChannel *self, JsonObject *answer)
{
  gint64 time_us = json_object_get_int_member_with_default (answer, "time_us", 0);
  gint64 seq = json_object_get_int_member_with_default (answer, "seq", -1);
  JsonNode *list = json_object_get_member (answer, "messages");
  JsonArray *messages = list != NULL && JSON_NODE_HOLDS_ARRAY (list) ? json_node_get_array (list)
                                                                     : NULL;
  g_autoptr (GPtrArray) acknowledged = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) acknowledged_seq = g_array_new (FALSE, FALSE, sizeof (gint64));
  gint64 done_seq = self->after;
  gboolean complete = TRUE;

  if (seq < 0 || messages == NULL)
    {
      g_warning ("channel: an answer without seq or messages, ignoring it");
      return TRUE;
    }
  for (guint i = 0; i < json_array_get_length (messages); i++)
    {
      JsonNode *node = json_array_get_element (messages, i);
      JsonObject *m = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      const char *kind = m != NULL ? json_object_get_string_member_with_default (m, "kind", "")
                                   : "";
      if (kind == NULL) /* not a string */
        kind = "";
      const char *uuid =
        m != NULL ? json_object_get_string_member_with_default (m, "incident", NULL) : NULL;
      gint64 mseq = m != NULL ? json_object_get_int_member_with_default (m, "seq", done_seq)
                              : done_seq;
      if (uuid == NULL || !g_uuid_string_is_valid (uuid))
        {
          g_warning ("channel: message %" G_GINT64_FORMAT " (%s) names no incident, ignoring it",
                     mseq, kind);
        }
      else if (g_str_equal (kind, "acknowledged") || g_str_equal (kind, "resolved"))
        {
          /* Resolved means someone took it too (the heartbeat's rule). The
           * light first; the event log after, with the seq. */
          g_autofree char *line = g_strdup_printf ("acknowledged %s", uuid);
          tell_recorder (self, line);
          g_ptr_array_add (acknowledged, g_strdup (uuid));
          g_array_append_val (acknowledged_seq, mseq);
          g_message ("incident %s %s at the panel (channel, seq %" G_GINT64_FORMAT ")", uuid, kind,
                     mseq);
        }
      else if (g_str_equal (kind, "police-bell"))
        {
          gint64 at_us = json_object_get_int_member_with_default (m, "at_us", time_us);
          const char *reason = json_object_get_string_member_with_default (m, "reason", NULL);
          if (time_us - at_us > BELL_MAX_AGE_US)
            g_warning ("channel: police bell for incident %s asked %.0f s ago, too old; "
                       "not firing it",
                       uuid, (time_us - at_us) / 1e6);
          else
            {
              g_autofree char *line = g_strdup_printf ("police-bell %s %s", uuid,
                                                       reason_is_word (reason) ? reason : "panel");
              g_message ("incident %s: the panel asks for the police bell (%s)", uuid,
                         reason != NULL ? reason : "no reason given");
              if (tell_recorder (self, line) == NOT_TOLD)
                {
                  complete = FALSE;
                  break;
                }
            }
        }
      else
        g_debug ("channel: message %" G_GINT64_FORMAT " of unknown kind '%s', ignoring it", mseq,
                 kind);
      done_seq = mseq;
    }

  gint64 new_after = complete ? seq : done_seq;
  g_autoptr (GError) error = NULL;
  /* An empty answer (wait_ms passed) changes nothing: no write, no fsync
   * in the way of the next message. */
  if (new_after == self->after && acknowledged->len == 0)
    return complete;
  if (!ansim_db_begin (self->db, &error))
    goto failed;
  for (guint i = 0; i < acknowledged->len; i++)
    {
      g_autoptr (AnsimJsonBuilder) j = ansim_json_builder_new ();
      ansim_json_builder_add_string (j, "via", "channel");
      ansim_json_builder_add_int (j, "seq", g_array_index (acknowledged_seq, gint64, i));
      g_autofree char *detail = ansim_json_builder_end (j);
      gboolean logged = FALSE;
      if (!uploader_log_acknowledged (self->db, acknowledged->pdata[i], detail, &logged, &error))
        {
          ansim_db_rollback (self->db);
          goto failed;
        }
    }
  if (!store_after (self, new_after, &error))
    {
      ansim_db_rollback (self->db);
      goto failed;
    }
  if (!ansim_db_commit (self->db, &error))
    goto failed;
  self->after = new_after;
  return complete;

failed:
  /* Kept in memory: this run does not ask twice; after a restart the
   * acknowledgements come again (they are idempotent). */
  g_warning ("channel: cannot record seq %" G_GINT64_FORMAT ": %s", new_after, error->message);
  self->after = new_after;
  return complete;
}

/* ---- the thread --------------------------------------------------------------- */

static gpointer
channel_thread (gpointer user_data)
{
  UploaderChannel *self = user_data;
  guint failures = 0;

  while (!g_atomic_int_get (&self->stop))
    {
      g_mutex_lock (&self->lock);
      self->reconnect = FALSE;
      g_atomic_int_set (&self->abandon, g_atomic_int_get (&self->stop));
      g_mutex_unlock (&self->lock);

      g_autofree char *json = g_strdup_printf ("{\"after\":%" G_GINT64_FORMAT
                                               ",\"wait_ms\":%" G_GINT64_FORMAT "}",
                                               self->after, self->wait_ms);
      g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));
      g_autoptr (JsonObject) answer = NULL;
      g_autoptr (GError) error = NULL;
      guint status = 0;
      gint64 asked_us = g_get_monotonic_time ();
      gboolean answered = uploader_client_send (self->client, "POST", "/api/v1/channel", body, NULL,
                                                &status, &answer, &error);
      if (g_atomic_int_get (&self->stop))
        break;
      if (!answered && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_debug ("channel: request given up to ask again at once");
          continue;
        }
      if (!answered || status != 200 || answer == NULL)
        {
          if (answered && status < 500 && self->answered != NULL)
            self->answered (status, self->answered_data);
          gboolean refused = answered && status < 500;
          g_autofree char *why = answered ? uploader_client_describe (status, answer)
                                          : g_strdup (error->message);
          set_live (self, FALSE, refused);
          failures++;
          if (!self->down_logged)
            g_warning ("channel to the panel: %s; asking again %s", why,
                       refused ? "every minute" : "within seconds");
          self->down_logged = TRUE;
          channel_sleep (self, refused ? REFUSED_RETRY_US : retry_delay (failures));
          continue;
        }
      if (self->down_logged)
        g_message ("channel to the panel open again");
      self->down_logged = FALSE;
      failures = 0;
      set_live (self, TRUE, FALSE);
      JsonNode *list = json_object_get_member (answer, "messages");
      guint n = list != NULL && JSON_NODE_HOLDS_ARRAY (list)
                  ? json_array_get_length (json_node_get_array (list))
                  : 0;
      g_debug ("channel: answered after %.1f ms with %u message(s)",
               (g_get_monotonic_time () - asked_us) / 1e3, n);
      gboolean complete = handle_answer (self, answer);
      /* After the messages: telling the recorder the path is up must not
       * come before the light. */
      if (self->answered != NULL)
        self->answered (status, self->answered_data);
      if (!complete)
        channel_sleep (self, RETRY_MIN_US);
      else if (n == 0 && g_get_monotonic_time () - asked_us < self->wait_ms * 1000 / 4)
        /* Answered empty long before wait_ms: another request of this
         * device took its place (two uploaders?) or the panel is stopping. */
        channel_sleep (self, RETRY_MIN_US);
    }
  return NULL;
}

UploaderChannel *
uploader_channel_new (const UploaderChannelConfig *config, GError **error)
{
  g_autoptr (UploaderChannel) self = g_new0 (UploaderChannel, 1);
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->panel_url = g_strdup (config->panel_url);
  self->recorder_socket = g_strdup (config->recorder_socket);
  self->wait_ms = config->wait_ms;
  self->answered = config->answered;
  self->answered_data = config->answered_data;
  self->db = ansim_db_open (&ansim_desk_db_schema, config->database, error);
  if (self->db == NULL || !load_after (self, error))
    return NULL;
  self->client = uploader_client_new (config->panel_url, config->ca_file, config->key, error);
  if (self->client == NULL)
    return NULL;
  uploader_client_set_timeout (self->client, (self->wait_ms + ANSWER_MARGIN_MS + 999) / 1000);
  uploader_client_set_cancel_flag (self->client, &self->abandon);
  uploader_client_share_clock (self->client, config->clock);
  self->thread = g_thread_new ("channel", channel_thread, self);
  return g_steal_pointer (&self);
}

void
uploader_channel_free (UploaderChannel *self)
{
  if (self == NULL)
    return;
  if (self->thread != NULL)
    {
      g_mutex_lock (&self->lock);
      g_atomic_int_set (&self->stop, 1);
      g_atomic_int_set (&self->abandon, 1);
      g_cond_signal (&self->cond);
      g_mutex_unlock (&self->lock);
      g_thread_join (self->thread);
    }
  g_clear_pointer (&self->client, uploader_client_free);
  g_clear_pointer (&self->db, sqlite3_close);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self->panel_url);
  g_free (self->recorder_socket);
  g_free (self);
}
