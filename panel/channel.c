/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the waiting side of the desks' push channel: held
 * (paused) channel requests, one per device, answered when a message for
 * the device commits, when their wait ends, or when the device asks again. */
#include "channel.h"

#include "console.h"
#include "http.h"

#include <json-glib/json-glib.h>
#include <string.h>

struct _PanelChannel {
  sqlite3 *db;
  GHashTable *waiting; /* device id (the Waiter's own) → Waiter */
  GHashTable *woken;   /* device ids with a message since the last wake-up */
  guint wake_id;
};

typedef struct {
  PanelChannel *channel;
  SoupServerMessage *msg; /* a reference; paused */
  char *device_id;
  gint64 after;
  guint timeout_id;
  guint watch_id; /* the desk's socket: closed or talking */
} Waiter;

static void
waiter_free (Waiter *w)
{
  g_signal_handlers_disconnect_by_data (w->msg, w);
  g_clear_handle_id (&w->timeout_id, g_source_remove);
  g_clear_handle_id (&w->watch_id, g_source_remove);
  g_object_unref (w->msg);
  g_free (w->device_id);
  g_free (w);
}

/* The answer as ingest would give it now; FALSE when there is no message
 * yet and only_messages. */
static gboolean
answer (Waiter *w, gboolean only_messages)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (GError) error = NULL;
  guint status = SOUP_STATUS_OK;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "result");
  json_builder_add_string_value (b, "ok");
  gint n = panel_channel_db_read (w->channel->db, w->device_id, w->after, b, &error);
  if (n == 0 && only_messages)
    return FALSE;
  if (n < 0)
    {
      g_clear_object (&b);
      b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "error");
      json_builder_add_string_value (b, "database-unavailable");
      json_builder_set_member_name (b, "message");
      json_builder_add_string_value (b, error->message);
      status = SOUP_STATUS_SERVICE_UNAVAILABLE;
      g_message ("POST " PANEL_API_PREFIX "channel (device %s): %s", w->device_id, error->message);
    }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  char *json = json_to_string (root, FALSE);
  g_signal_handlers_disconnect_by_data (w->msg, w);
  soup_server_message_set_status (w->msg, status, NULL);
  soup_server_message_set_response (w->msg, "application/json", SOUP_MEMORY_TAKE, json,
                                    strlen (json));
  soup_server_message_unpause (w->msg);
  return TRUE;
}

/* Answers the device's held request, if any, and lets it go. */
static void
release (PanelChannel *self, const char *device_id, gboolean only_messages)
{
  Waiter *w = g_hash_table_lookup (self->waiting, device_id);
  if (w == NULL)
    return;
  if (!answer (w, only_messages))
    return;
  g_hash_table_remove (self->waiting, device_id);
}

static gboolean
on_wait_over (gpointer data)
{
  Waiter *w = data;
  w->timeout_id = 0;
  release (w->channel, w->device_id, FALSE);
  return G_SOURCE_REMOVE;
}

/* The device went away while held: nothing to answer. */
static void
on_gone (SoupServerMessage *msg, gpointer data)
{
  (void) msg;
  Waiter *w = data;
  g_hash_table_remove (w->channel->waiting, w->device_id);
}

/* The desk closed its connection while held: its slot is free now and
 * the connection closed, not at the end of the wait. */
static gboolean
on_client_closed (gpointer data)
{
  Waiter *w = data;
  g_autoptr (SoupServerMessage) msg = g_object_ref (w->msg);
  w->watch_id = 0;
  g_hash_table_remove (w->channel->waiting, w->device_id);
  g_autoptr (GIOStream) conn = soup_server_message_steal_connection (msg);
  if (conn != NULL)
    g_io_stream_close (conn, NULL, NULL);
  return G_SOURCE_REMOVE;
}

static gboolean
wake (gpointer data)
{
  PanelChannel *self = data;
  self->wake_id = 0;
  g_autoptr (GHashTable) woken = g_steal_pointer (&self->woken);
  self->woken = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter it;
  gpointer device_id;
  g_hash_table_iter_init (&it, woken);
  while (g_hash_table_iter_next (&it, &device_id, NULL))
    release (self, device_id, TRUE);
  return G_SOURCE_REMOVE;
}

PanelChannel *
panel_channel_new (sqlite3 *db)
{
  PanelChannel *self = g_new0 (PanelChannel, 1);
  self->db = db;
  self->waiting =
    g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) waiter_free);
  self->woken = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return self;
}

void
panel_channel_free (PanelChannel *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->wake_id, g_source_remove);
  GHashTableIter it;
  Waiter *w;
  g_hash_table_iter_init (&it, self->waiting);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &w))
    {
      g_signal_handlers_disconnect_by_data (w->msg, w);
      answer (w, FALSE);
      g_hash_table_iter_remove (&it);
    }
  g_hash_table_unref (self->waiting);
  g_hash_table_unref (self->woken);
  g_free (self);
}

void
panel_channel_hold (PanelChannel *self, SoupServerMessage *msg, const PanelIngestWait *wait)
{
  /* A newer request of the same desk replaces the held one (the desk
   * reconnected, or a stale connection lingers): at most one per desk. */
  release (self, wait->device_id, FALSE);
  if (g_hash_table_size (self->waiting) >= PANEL_CHANNEL_MAX_WAITING)
    {
      static const char body[] =
        "{\"error\":\"too-many-waiting\",\"message\":\"the panel holds " G_STRINGIFY (
          PANEL_CHANNEL_MAX_WAITING) " channel requests already; try again later\"}";
      g_message ("POST " PANEL_API_PREFIX "channel (device %s): 503 too many waiting",
                 wait->device_id);
      soup_server_message_set_status (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, NULL);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC, body,
                                        strlen (body));
      return;
    }
  Waiter *w = g_new0 (Waiter, 1);
  w->channel = self;
  w->msg = g_object_ref (msg);
  w->device_id = g_strdup (wait->device_id);
  w->after = wait->after;
  w->timeout_id = g_timeout_add (wait->wait_ms, on_wait_over, w);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_gone), w);
  g_signal_connect (msg, "finished", G_CALLBACK (on_gone), w);
  w->watch_id = panel_http_watch_client (msg, on_client_closed, w);
  soup_server_message_pause (msg);
  g_hash_table_insert (self->waiting, w->device_id, w);
}

gboolean
panel_channel_post (PanelChannel *self, gint64 incident_id, PanelChannelKind kind,
                    const char *reason, GError **error)
{
  char *device_id = NULL;
  if (!panel_channel_db_post (self->db, incident_id, kind, reason, &device_id, error))
    return FALSE;
  g_hash_table_add (self->woken, device_id);
  /* At high priority: the acknowledgement's way to the desk is the point. */
  if (self->wake_id == 0)
    self->wake_id = g_idle_add_full (G_PRIORITY_HIGH, wake, self, NULL);
  return TRUE;
}

gboolean
panel_channel_ring_police_bell (PanelChannel *self, gint64 incident_id, const char *reason,
                                GError **error)
{
  return panel_channel_post (self, incident_id, PANEL_CHANNEL_POLICE_BELL, reason, error);
}

guint
panel_channel_get_n_waiting (PanelChannel *self)
{
  return g_hash_table_size (self->waiting);
}

/* Test only (ANSIM_PANEL_TEST_PUBLISH=1): rings an incident's desk bell
 * without waiting for an escalation. */
static void
handle_test_police_bell (PanelHttpRequest *req)
{
  PanelChannel *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  g_autoptr (JsonObject) body = panel_console_read_json_object (msg);
  if (body == NULL)
    return;
  JsonNode *n = json_object_get_member (body, "incident");
  if (n == NULL || json_node_get_value_type (n) != G_TYPE_INT64)
    return panel_http_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                  "give \"incident\" (its row id)");
  g_autoptr (GError) error = NULL;
  if (!panel_channel_ring_police_bell (self, json_node_get_int (n), "test", &error))
    return panel_http_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", error->message);
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

static const PanelRoute test_routes[] = {
  { PANEL_HTTP_POST, "/api/test/police-bell", PANEL_CALLER_TEST, PANEL_ROLE_ADMIN, 0,
    handle_test_police_bell },
};

void
panel_channel_add_test_route (PanelChannel *self, PanelHttp *http)
{
  panel_http_add_routes (http, test_routes, G_N_ELEMENTS (test_routes), self);
}
