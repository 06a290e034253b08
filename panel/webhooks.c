/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the outgoing webhooks (docs/webhooks.md): the outbox
 * rows (table webhook_deliveries, docs/schema.md), their signed POSTs with
 * libsoup on the main loop, retries with backoff, give-up, and the admins'
 * delivery list. What it keeps true: a row is written with the change that
 * caused it and leaves the pending state only as delivered (2xx) or given
 * up (recorded); per webhook one attempt at a time, oldest row first, so a
 * receiver sees events in order; a retried row keeps its body and delivery
 * id, so a receiver can drop duplicates. */
#include "webhooks.h"

#include <openssl/evp.h>
#include <string.h>

#include "ansim-build.h"
#include "db.h"
#include "http.h"
#include "util.h"

/* Periodic pass: catches rows queued by another connection without a kick
 * and prunes old finished rows. */
#define POLL_INTERVAL_S 10
#define KEEP_FINISHED_US (30 * G_TIME_SPAN_DAY)
#define MAX_ERROR_CHARS 300

typedef struct {
  PanelWebhooks *owner;
  char *name;
  char *url;
  GBytes *secret;
  GStrv events;
  gint64 timeout_ms;
  gint64 retry_initial_us, retry_max_us, give_up_after_us;
  /* An attempt in flight: */
  gint64 row_id; /* 0: none */
  GCancellable *cancel;
  guint timeout_id;
  gboolean timed_out;
  guint wake_id; /* the next attempt's timer */
} Hook;

struct _PanelWebhooks {
  sqlite3 *db;
  GPtrArray *hooks; /* of Hook */
  SoupSession *session;
  guint poll_id;
  guint kick_id;
  gint64 pruned_at_us;
  gint in_flight;
  gboolean stopping;
};

static void hook_run (Hook *hook);

static void
hook_free (Hook *hook)
{
  g_clear_handle_id (&hook->wake_id, g_source_remove);
  g_clear_handle_id (&hook->timeout_id, g_source_remove);
  g_clear_object (&hook->cancel);
  g_free (hook->name);
  g_free (hook->url);
  g_bytes_unref (hook->secret);
  g_strfreev (hook->events);
  g_free (hook);
}

/* ---- configuration ------------------------------------------------------- */

/* The first line of the secret file (its length and mode were checked
 * with the configuration). */
static GBytes *
read_secret_file (AnsimConfig *config, const char *group, GError **error)
{
  g_autofree char *path = ansim_config_get_path (config, group, "secret_file");
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, error))
    {
      g_prefix_error (error, "[%s] secret_file: ", group);
      return NULL;
    }
  gsize len = strcspn (text, "\r\n");
  if (len < ANSIM_WEBHOOK_MIN_SECRET)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "[%s] secret_file: the secret in %s is too short", group, path);
      return NULL;
    }
  return g_bytes_new (text, len);
}

static Hook *
hook_new (PanelWebhooks *owner, AnsimConfig *config, const char *group, GError **error)
{
  GBytes *secret = NULL;
  if (ansim_config_has_key (config, group, "secret_file"))
    secret = read_secret_file (config, group, error);
  else
    {
      const char *s = ansim_config_get_string (config, group, "secret");
      secret = g_bytes_new (s, strlen (s));
    }
  if (secret == NULL)
    return NULL;
  Hook *hook = g_new0 (Hook, 1);
  hook->owner = owner;
  hook->name = g_strdup (ansim_config_group_instance (group));
  hook->url = g_strdup (ansim_config_get_string (config, group, "url"));
  hook->secret = secret;
  hook->events = g_strsplit (ansim_config_get_string (config, group, "events"), ";", -1);
  for (char **e = hook->events; *e != NULL; e++)
    g_strstrip (*e);
  hook->timeout_ms = ansim_config_get_int (config, group, "timeout_ms");
  hook->retry_initial_us = ansim_config_get_int (config, group, "retry_initial_ms") * 1000;
  hook->retry_max_us = ansim_config_get_int (config, group, "retry_max_s") * G_USEC_PER_SEC;
  hook->give_up_after_us =
    ansim_config_get_int (config, group, "give_up_after_h") * G_TIME_SPAN_HOUR;
  return hook;
}

/* ---- the outbox ---------------------------------------------------------- */

static char *
iso_time (gint64 us)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  g_autofree char *s = g_date_time_format (t, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%03dZ", s, (int) (us % G_USEC_PER_SEC / 1000));
}

gboolean
panel_webhooks_emit (PanelWebhooks *self, sqlite3 *db, const char *event, JsonNode *data,
                     GError **error)
{
  g_return_val_if_fail (g_strv_contains (ansim_webhook_events, event), FALSE);
  g_return_val_if_fail (data == NULL || JSON_NODE_HOLDS_OBJECT (data), FALSE);
  if (self == NULL)
    return TRUE;
  gint64 now = g_get_real_time ();
  g_autofree char *at = iso_time (now);
  g_autoptr (sqlite3_stmt) ins = NULL;
  for (guint i = 0; i < self->hooks->len; i++)
    {
      Hook *hook = g_ptr_array_index (self->hooks, i);
      if (!g_strv_contains ((const char *const *) hook->events, event))
        continue;
      if (ins == NULL)
        {
          ins = ansim_db_prepare (
            db,
            "INSERT INTO webhook_deliveries (webhook, event, delivery_id, body, created_at_us, "
            "next_attempt_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            error);
          if (ins == NULL)
            return FALSE;
        }
      g_autofree char *delivery = g_uuid_string_random ();
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "event");
      json_builder_add_string_value (b, event);
      json_builder_set_member_name (b, "delivery");
      json_builder_add_string_value (b, delivery);
      json_builder_set_member_name (b, "webhook");
      json_builder_add_string_value (b, hook->name);
      json_builder_set_member_name (b, "occurred_at");
      json_builder_add_string_value (b, at);
      json_builder_set_member_name (b, "occurred_at_us");
      json_builder_add_int_value (b, now);
      if (data != NULL)
        {
          JsonObjectIter iter;
          const char *name;
          JsonNode *value;
          json_object_iter_init (&iter, json_node_get_object (data));
          while (json_object_iter_next (&iter, &name, &value))
            {
              json_builder_set_member_name (b, name);
              json_builder_add_value (b, json_node_copy (value));
            }
        }
      json_builder_end_object (b);
      g_autoptr (JsonNode) root = json_builder_get_root (b);
      g_autofree char *body = json_to_string (root, FALSE);
      sqlite3_reset (ins);
      sqlite3_bind_text (ins, 1, hook->name, -1, SQLITE_STATIC);
      sqlite3_bind_text (ins, 2, event, -1, SQLITE_STATIC);
      sqlite3_bind_text (ins, 3, delivery, -1, SQLITE_STATIC);
      sqlite3_bind_text (ins, 4, body, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (ins, 5, now);
      if (sqlite3_step (ins) != SQLITE_DONE)
        return ansim_db_set_error (db, error, "queueing a webhook delivery");
    }
  return TRUE;
}

JsonNode *
panel_webhooks_incident_data (sqlite3 *db, gint64 incident_id, GError **error)
{
#define ISO(col) "strftime ('%Y-%m-%dT%H:%M:%fZ', " col " / 1e6, 'unixepoch')"
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db,
    "SELECT json_object ('drill', json (CASE WHEN i.is_drill THEN 'true' ELSE 'false' END), "
    "'device', i.device_id, 'desk', json_object ('id', i.desk_id, 'name', "
    "coalesce (k.name, i.desk_id)), 'trigger', i.trigger, 'trigger_kind', i.trigger_kind, "
    "'incidents', json_array (json_object ('uuid', i.uuid, 'status', i.status, "
    "'opened_at', " ISO (
      "i.opened_wall_us") ", 'opened_wall_us', i.opened_wall_us, "
                          "'alerted_at', " ISO (
                            "i.alerted_at_us") ", 'alerted_at_us', i.alerted_at_us, "
                                               "'acknowledged_by', i.acknowledged_by, 'acknowledged_at_us', i.acknowledged_at_us, "
                                               "'resolved_by', i.resolved_by, 'resolved_at_us', i.resolved_at_us, "
                                               "'category', i.resolution))) "
                                               "FROM incidents i LEFT JOIN desks k ON k.id = i.desk_id WHERE i.id = ?1",
    error);
#undef ISO
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, incident_id);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no incident %" G_GINT64_FORMAT,
                   incident_id);
      return NULL;
    }
  if (rc != SQLITE_ROW)
    {
      ansim_db_set_error (db, error, "reading an incident for a webhook");
      return NULL;
    }
  return json_from_string ((const char *) sqlite3_column_text (stmt, 0), error);
}

/* The oldest pending row of hook: FALSE if none. */
typedef struct {
  gint64 id, created_at_us, attempts, next_attempt_at_us;
  char *delivery_id, *event, *body, *last_error;
} Row;

static void
row_clear (Row *row)
{
  g_free (row->delivery_id);
  g_free (row->event);
  g_free (row->body);
  g_free (row->last_error);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Row, row_clear)

static gboolean
oldest_pending (Hook *hook, Row *out)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    hook->owner->db,
    "SELECT id, created_at_us, attempts, next_attempt_at_us, delivery_id, event, body, "
    "last_error FROM webhook_deliveries WHERE webhook = ?1 AND delivered_at_us IS NULL "
    "AND gave_up_at_us IS NULL ORDER BY id LIMIT 1",
    NULL);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, hook->name, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return FALSE;
  out->id = sqlite3_column_int64 (stmt, 0);
  out->created_at_us = sqlite3_column_int64 (stmt, 1);
  out->attempts = sqlite3_column_int64 (stmt, 2);
  out->next_attempt_at_us = sqlite3_column_int64 (stmt, 3);
  out->delivery_id = g_strdup ((const char *) sqlite3_column_text (stmt, 4));
  out->event = g_strdup ((const char *) sqlite3_column_text (stmt, 5));
  out->body = g_strdup ((const char *) sqlite3_column_text (stmt, 6));
  out->last_error = g_strdup ((const char *) sqlite3_column_text (stmt, 7));
  return TRUE;
}

/* Gives a row up, recorded in the row and in the site's event log. */
static gboolean
give_up (PanelWebhooks *self, const char *webhook, gint64 id, const char *why)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) upd = NULL;
  g_autoptr (sqlite3_stmt) ev = NULL;
  if (!ansim_db_begin (self->db, &error))
    goto failed;
  upd = ansim_db_prepare (
    self->db, "UPDATE webhook_deliveries SET gave_up_at_us = ?2, last_error = ?3 WHERE id = ?1",
    &error);
  ev = ansim_db_prepare (
    self->db,
    "INSERT INTO events (at_wall_us, at_mono_us, kind, detail) "
    "SELECT ?2, ?4, 'webhook-gave-up', json_object ('webhook', webhook, 'event', event, "
    "'delivery', delivery_id, 'attempts', attempts, 'error', ?3) "
    "FROM webhook_deliveries WHERE id = ?1",
    &error);
  if (upd == NULL || ev == NULL)
    goto rollback;
  sqlite3_bind_int64 (upd, 1, id);
  sqlite3_bind_int64 (upd, 2, g_get_real_time ());
  sqlite3_bind_text (upd, 3, why, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (ev, 1, id);
  sqlite3_bind_int64 (ev, 2, g_get_real_time ());
  sqlite3_bind_text (ev, 3, why, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (ev, 4, g_get_monotonic_time ());
  if (sqlite3_step (upd) != SQLITE_DONE || sqlite3_step (ev) != SQLITE_DONE)
    {
      ansim_db_set_error (self->db, &error, "giving a delivery up");
      goto rollback;
    }
  if (!ansim_db_commit (self->db, &error))
    goto failed;
  g_warning ("webhook %s: delivery row %" G_GINT64_FORMAT " given up: %s", webhook, id, why);
  return TRUE;

rollback:
  ansim_db_rollback (self->db);
failed:
  g_warning ("webhook %s: cannot record giving up row %" G_GINT64_FORMAT ": %s; tried again "
             "at the next pass",
             webhook, id, error != NULL ? error->message : "?");
  return FALSE;
}

/* ---- delivery ------------------------------------------------------------ */

typedef struct {
  Hook *hook;
  SoupMessage *msg;
  char *delivery_id;
  char *event;
  gint64 attempts; /* before this one */
} Attempt;

static void
attempt_free (Attempt *a)
{
  g_object_unref (a->msg);
  g_free (a->delivery_id);
  g_free (a->event);
  g_free (a);
}

static char *
sign (GBytes *secret, const char *timestamp, const char *body)
{
  g_autofree char *input = g_strconcat (timestamp, ".", body, NULL);
  unsigned char mac[32];
  size_t len = 0;
  gsize key_len = 0;
  const void *key = g_bytes_get_data (secret, &key_len);
  if (EVP_Q_mac (NULL, "HMAC", NULL, "SHA256", NULL, key, key_len, (const unsigned char *) input,
                 strlen (input), mac, sizeof mac, &len)
        == NULL
      || len != sizeof mac)
    return NULL;
  GString *hex = g_string_sized_new (64);
  for (guint i = 0; i < sizeof mac; i++)
    g_string_append_printf (hex, "%02x", mac[i]);
  return g_string_free (hex, FALSE);
}

static gboolean
on_attempt_timeout (gpointer data)
{
  Hook *hook = data;
  hook->timeout_id = 0;
  hook->timed_out = TRUE;
  g_cancellable_cancel (hook->cancel);
  return G_SOURCE_REMOVE;
}

static gboolean
on_wake (gpointer data)
{
  Hook *hook = data;
  hook->wake_id = 0;
  hook_run (hook);
  return G_SOURCE_REMOVE;
}

static void
record_attempt (Hook *hook, gint64 row_id, guint status, const char *error_text, gint64 attempts)
{
  PanelWebhooks *self = hook->owner;
  gint64 now = g_get_real_time ();
  gboolean ok = error_text == NULL;
  g_autoptr (sqlite3_stmt) upd = ansim_db_prepare (
    self->db,
    ok ? "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at_us = ?2, "
         "last_status = ?3, last_error = NULL, delivered_at_us = ?2 WHERE id = ?1"
       : "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at_us = ?2, "
         "last_status = ?3, last_error = ?4, next_attempt_at_us = ?5 WHERE id = ?1",
    NULL);
  if (upd == NULL)
    return;
  sqlite3_bind_int64 (upd, 1, row_id);
  sqlite3_bind_int64 (upd, 2, now);
  if (status > 0)
    sqlite3_bind_int (upd, 3, status);
  if (!ok)
    {
      sqlite3_bind_text (upd, 4, error_text, -1, SQLITE_STATIC);
      /* exponential up to the cap, jittered so that panels do not retry in step */
      sqlite3_bind_int64 (
        upd, 5, now + ansim_backoff (hook->retry_initial_us, hook->retry_max_us, attempts + 1));
    }
  if (sqlite3_step (upd) != SQLITE_DONE)
    g_warning ("webhook %s: cannot record an attempt: %s; it may be sent again", hook->name,
               sqlite3_errmsg (self->db));
}

static void
on_sent (GObject *source, GAsyncResult *result, gpointer data)
{
  Attempt *a = data;
  Hook *hook = a->hook;
  PanelWebhooks *self = hook->owner;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) reply =
    soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  gint64 row_id = hook->row_id;
  hook->row_id = 0;
  g_clear_handle_id (&hook->timeout_id, g_source_remove);
  g_clear_object (&hook->cancel);
  self->in_flight--;
  if (self->stopping)
    {
      /* Not counted: it goes again, at once, at the next start. */
      attempt_free (a);
      return;
    }
  guint status = error == NULL ? soup_message_get_status (a->msg) : 0;
  g_autofree char *problem = NULL;
  if (error != NULL)
    problem = hook->timed_out
                ? g_strdup_printf ("no answer within %" G_GINT64_FORMAT " ms", hook->timeout_ms)
                : g_strdup (error->message);
  else if (!SOUP_STATUS_IS_SUCCESSFUL (status))
    {
      gsize n = 0;
      const char *text = reply != NULL ? g_bytes_get_data (reply, &n) : "";
      g_autofree char *said = g_utf8_make_valid (text, MIN (n, MAX_ERROR_CHARS));
      problem = g_strdup_printf ("HTTP %u %s%s%s", status, soup_message_get_reason_phrase (a->msg),
                                 *said ? ": " : "", said);
    }
  record_attempt (hook, row_id, status, problem, a->attempts);
  if (problem == NULL)
    g_message ("webhook %s: %s delivered (%s, HTTP %u, attempt %" G_GINT64_FORMAT ")", hook->name,
               a->event, a->delivery_id, status, a->attempts + 1);
  else
    g_warning ("webhook %s: %s delivery %s failed (attempt %" G_GINT64_FORMAT "): %s; "
               "retried later",
               hook->name, a->event, a->delivery_id, a->attempts + 1, problem);
  attempt_free (a);
  hook_run (hook);
}

/* Sends the oldest pending row if it is due, or sets the timer for it. */
static void
hook_run (Hook *hook)
{
  PanelWebhooks *self = hook->owner;
  if (self->stopping || hook->row_id != 0)
    return;
  g_clear_handle_id (&hook->wake_id, g_source_remove);
  g_auto (Row) row = { 0 };
  gint64 now = g_get_real_time ();
  for (;;)
    {
      row_clear (&row);
      memset (&row, 0, sizeof row);
      if (!oldest_pending (hook, &row))
        return;
      if (now - row.created_at_us <= hook->give_up_after_us)
        break;
      g_autofree char *why = g_strdup_printf ("not delivered within %" G_GINT64_FORMAT " h "
                                              "(%" G_GINT64_FORMAT " attempts; last: %s)",
                                              hook->give_up_after_us / G_TIME_SPAN_HOUR,
                                              row.attempts,
                                              row.last_error != NULL ? row.last_error : "none");
      if (!give_up (self, hook->name, row.id, why))
        return;
    }
  if (row.next_attempt_at_us > now)
    {
      gint64 ms = (row.next_attempt_at_us - now + 999) / 1000;
      hook->wake_id = g_timeout_add (MIN (ms, G_MAXUINT), on_wake, hook);
      return;
    }
  g_autofree char *timestamp = g_strdup_printf ("%" G_GINT64_FORMAT, now / G_USEC_PER_SEC);
  g_autofree char *signature = sign (hook->secret, timestamp, row.body);
  SoupMessage *msg = soup_message_new ("POST", hook->url);
  if (msg == NULL || signature == NULL)
    {
      g_clear_object (&msg);
      record_attempt (hook, row.id, 0, msg == NULL ? "the url cannot be used" : "cannot sign",
                      row.attempts);
      hook->wake_id = g_timeout_add_seconds (1, on_wake, hook);
      return;
    }
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  g_autofree char *sig_header = g_strconcat ("sha256=", signature, NULL);
  soup_message_headers_replace (h, "User-Agent", "ansim-panel/" ANSIM_VERSION);
  soup_message_headers_replace (h, "X-Ansim-Event", row.event);
  soup_message_headers_replace (h, "X-Ansim-Delivery", row.delivery_id);
  soup_message_headers_replace (h, "X-Ansim-Timestamp", timestamp);
  soup_message_headers_replace (h, "X-Ansim-Signature", sig_header);
  gsize body_len = strlen (row.body);
  g_autoptr (GBytes) body = g_bytes_new_take (g_steal_pointer (&row.body), body_len);
  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  Attempt *a = g_new0 (Attempt, 1);
  *a = (Attempt){ hook, msg, g_steal_pointer (&row.delivery_id), g_steal_pointer (&row.event),
                  row.attempts };
  hook->row_id = row.id;
  hook->cancel = g_cancellable_new ();
  hook->timed_out = FALSE;
  hook->timeout_id = g_timeout_add (hook->timeout_ms, on_attempt_timeout, hook);
  self->in_flight++;
  soup_session_send_and_read_async (self->session, msg, G_PRIORITY_DEFAULT, hook->cancel, on_sent,
                                    a);
}

static void
run_all (PanelWebhooks *self)
{
  for (guint i = 0; i < self->hooks->len; i++)
    hook_run (g_ptr_array_index (self->hooks, i));
}

static gboolean
on_kick (gpointer data)
{
  PanelWebhooks *self = data;
  self->kick_id = 0;
  run_all (self);
  return G_SOURCE_REMOVE;
}

void
panel_webhooks_kick (PanelWebhooks *self)
{
  if (self != NULL && self->kick_id == 0 && self->hooks->len > 0)
    self->kick_id = g_idle_add_full (G_PRIORITY_DEFAULT, on_kick, self, NULL);
}

/* Finished rows go after KEEP_FINISHED_US; pending ones never (they are
 * given up first, visibly). */
static void
prune (PanelWebhooks *self)
{
  g_autoptr (sqlite3_stmt) del =
    ansim_db_prepare (self->db,
                      "DELETE FROM webhook_deliveries WHERE created_at_us < ?1 "
                      "AND (delivered_at_us IS NOT NULL OR gave_up_at_us IS NOT NULL)",
                      NULL);
  if (del == NULL)
    return;
  sqlite3_bind_int64 (del, 1, g_get_real_time () - KEEP_FINISHED_US);
  if (sqlite3_step (del) != SQLITE_DONE)
    g_warning ("cannot prune old webhook deliveries: %s; tried again later",
               sqlite3_errmsg (self->db));
  self->pruned_at_us = g_get_real_time ();
}

static gboolean
on_poll (gpointer data)
{
  PanelWebhooks *self = data;
  if (g_get_real_time () - self->pruned_at_us > G_TIME_SPAN_HOUR)
    prune (self);
  run_all (self);
  return G_SOURCE_CONTINUE;
}

/* Rows of a webhook removed from the configuration would wait forever. */
static void
give_up_unconfigured (PanelWebhooks *self)
{
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (self->db,
                      "SELECT id, webhook FROM webhook_deliveries WHERE delivered_at_us IS NULL "
                      "AND gave_up_at_us IS NULL ORDER BY id",
                      NULL);
  if (stmt == NULL)
    return;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      const char *name = (const char *) sqlite3_column_text (stmt, 1);
      gboolean known = FALSE;
      for (guint i = 0; i < self->hooks->len && !known; i++)
        known = g_str_equal (((Hook *) g_ptr_array_index (self->hooks, i))->name, name);
      if (known)
        continue;
      gint64 id = sqlite3_column_int64 (stmt, 0);
      g_array_append_val (ids, id);
      g_ptr_array_add (names, g_strdup (name));
    }
  g_clear_pointer (&stmt, sqlite3_finalize);
  for (guint i = 0; i < ids->len; i++)
    give_up (self, g_ptr_array_index (names, i), g_array_index (ids, gint64, i),
             "the webhook is no longer configured");
}

PanelWebhooks *
panel_webhooks_new (sqlite3 *db, AnsimConfig *config, GError **error)
{
  g_autoptr (PanelWebhooks) self = g_new0 (PanelWebhooks, 1);
  self->db = db;
  self->hooks = g_ptr_array_new_with_free_func ((GDestroyNotify) hook_free);
  g_auto (GStrv) groups = ansim_config_list_named (config, "webhook");
  for (char **g = groups; *g != NULL; g++)
    {
      Hook *hook = hook_new (self, config, *g, error);
      if (hook == NULL)
        return NULL;
      g_ptr_array_add (self->hooks, hook);
    }
  self->session = soup_session_new_with_options ("user-agent", "ansim-panel/" ANSIM_VERSION, NULL);
  give_up_unconfigured (self);
  prune (self);
  if (self->hooks->len > 0)
    {
      self->poll_id = g_timeout_add_seconds (POLL_INTERVAL_S, on_poll, self);
      panel_webhooks_kick (self);
      g_autoptr (GString) names = g_string_new (NULL);
      for (guint i = 0; i < self->hooks->len; i++)
        g_string_append_printf (names, "%s%s", i > 0 ? ", " : "",
                                ((Hook *) g_ptr_array_index (self->hooks, i))->name);
      /* Names only: a URL may carry credentials. */
      g_message ("webhooks: %s", names->str);
    }
  return g_steal_pointer (&self);
}

void
panel_webhooks_free (PanelWebhooks *self)
{
  if (self == NULL)
    return;
  self->stopping = TRUE;
  g_clear_handle_id (&self->poll_id, g_source_remove);
  g_clear_handle_id (&self->kick_id, g_source_remove);
  for (guint i = 0; i < self->hooks->len; i++)
    {
      Hook *hook = g_ptr_array_index (self->hooks, i);
      if (hook->cancel != NULL)
        g_cancellable_cancel (hook->cancel);
    }
  while (self->in_flight > 0)
    g_main_context_iteration (NULL, TRUE);
  g_ptr_array_unref (self->hooks);
  g_clear_object (&self->session);
  g_free (self);
}

/* ---- GET /api/webhooks --------------------------------------------------- */

static void
handle_webhooks (PanelHttpRequest *req)
{
  PanelWebhooks *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "webhooks");
  json_builder_begin_array (b);
  g_autoptr (sqlite3_stmt) counts = ansim_db_prepare (
    self->db,
    "SELECT count(*) FILTER (WHERE delivered_at_us IS NULL AND gave_up_at_us IS NULL), "
    "count(*) FILTER (WHERE gave_up_at_us IS NOT NULL), max (delivered_at_us) "
    "FROM webhook_deliveries WHERE webhook = ?1",
    NULL);
  if (counts == NULL)
    return panel_http_send_db_error (msg, self->db, "listing webhooks");
  for (guint i = 0; i < self->hooks->len; i++)
    {
      Hook *hook = g_ptr_array_index (self->hooks, i);
      g_autoptr (GUri) uri = g_uri_parse (hook->url, G_URI_FLAGS_NONE, NULL);
      /* Never show credentials a URL may carry. */
      g_autofree char *shown =
        uri != NULL ? g_uri_to_string_partial (uri, G_URI_HIDE_USERINFO | G_URI_HIDE_QUERY)
                    : g_strdup ("?");
      sqlite3_reset (counts);
      sqlite3_bind_text (counts, 1, hook->name, -1, SQLITE_STATIC);
      if (sqlite3_step (counts) != SQLITE_ROW)
        return panel_http_send_db_error (msg, self->db, "listing webhooks");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, hook->name);
      json_builder_set_member_name (b, "url");
      json_builder_add_string_value (b, shown);
      json_builder_set_member_name (b, "events");
      json_builder_begin_array (b);
      for (char **e = hook->events; *e != NULL; e++)
        if (**e != '\0')
          json_builder_add_string_value (b, *e);
      json_builder_end_array (b);
      json_builder_set_member_name (b, "pending");
      json_builder_add_int_value (b, sqlite3_column_int64 (counts, 0));
      json_builder_set_member_name (b, "given_up");
      json_builder_add_int_value (b, sqlite3_column_int64 (counts, 1));
      json_builder_set_member_name (b, "last_delivered_at_us");
      if (sqlite3_column_type (counts, 2) == SQLITE_NULL)
        json_builder_add_null_value (b);
      else
        json_builder_add_int_value (b, sqlite3_column_int64 (counts, 2));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "deliveries");
  json_builder_begin_array (b);
  g_autoptr (sqlite3_stmt) rows = ansim_db_prepare (
    self->db,
    "SELECT id, webhook, event, delivery_id, json_extract (body, '$.incidents[0].uuid') AS "
    "incident, json_extract (body, '$.desk.id') AS desk, created_at_us, attempts, "
    "last_attempt_at_us, last_status, last_error, CASE WHEN delivered_at_us IS NULL AND "
    "gave_up_at_us IS NULL THEN next_attempt_at_us END AS next_attempt_at_us, delivered_at_us, "
    "gave_up_at_us FROM webhook_deliveries ORDER BY id DESC LIMIT 200",
    NULL);
  if (rows == NULL)
    return panel_http_send_db_error (msg, self->db, "listing webhook deliveries");
  int rc;
  while ((rc = sqlite3_step (rows)) == SQLITE_ROW)
    panel_http_add_row (b, rows, NULL, NULL);
  if (rc != SQLITE_DONE)
    return panel_http_send_db_error (msg, self->db, "listing webhook deliveries");
  json_builder_end_array (b);
  json_builder_end_object (b);
  panel_http_send_json (msg, SOUP_STATUS_OK, b);
}

/* Admins see what was sent and what failed; the secret never. */
static const PanelRoute routes[] = {
  { PANEL_HTTP_GET, "/api/webhooks", PANEL_CALLER_CONSOLE, PANEL_ROLE_ADMIN, 0, handle_webhooks },
};

void
panel_webhooks_serve (PanelWebhooks *self, PanelHttp *http)
{
  panel_http_add_routes (http, routes, G_N_ELEMENTS (routes), self);
}
