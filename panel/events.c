/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Live events for the console (docs/console.md, "Live events"): each open
 * GET /api/events/stream is a paused message the panel writes events to.
 * What must stay true: a stream ends when its session ends, expires or its
 * user is disabled (checked at every keep-alive, with the expiry read from
 * the database so a renewed session goes on; at once on logout); sent
 * bytes are not kept; at most MAX_STREAMS are open, at most
 * MAX_STREAMS_PER_USER of one user (so that one account cannot take the
 * slots security needs), and a stream whose client closed its connection
 * gives its slot back at once (not at the next keep-alive write); an
 * auditor's stream carries only escalations (and the session's end). */
#include "events.h"

#include <string.h>

#include "console.h"
#include "db.h"

/* A bound on open event streams: each holds a connection and a buffer. */
#define MAX_STREAMS 256
/* A few consoles (tabs, screens) per person. */
#define MAX_STREAMS_PER_USER 4
#define KEEPALIVE_S 15
/* Every role has the stream: an escalation reaches every logged-in
 * console. Auditors' streams carry nothing else (see ALERTS_ONLY_ROLES). */
#define STREAM_ROLES PANEL_ROLES_ANY
#define ALERTS_ONLY_ROLES PANEL_ROLE_AUDITOR

typedef struct {
  PanelEvents *events;
  SoupServerMessage *msg; /* a reference */
  char *token_sha256;
  char *user;
  gboolean alerts_only; /* only escalations (and the session's end) */
  guint watch_id;       /* the client's socket: closed or talking */
} Stream;

struct _PanelEvents {
  sqlite3 *db;    /* borrowed */
  GList *streams; /* of Stream */
  guint keepalive_id;
  gint64 next_event_id;
};

static void
stream_write (Stream *stream, const char *text)
{
  SoupMessageBody *body = soup_server_message_get_response_body (stream->msg);
  soup_message_body_append (body, SOUP_MEMORY_COPY, text, strlen (text));
  soup_server_message_unpause (stream->msg);
}

static void
stream_free (Stream *stream)
{
  g_signal_handlers_disconnect_by_data (stream->msg, stream);
  g_clear_handle_id (&stream->watch_id, g_source_remove);
  g_object_unref (stream->msg);
  g_free (stream->token_sha256);
  g_free (stream->user);
  g_free (stream);
}

/* Ends the response; the message's own signals no longer reach the stream. */
static void
stream_close (Stream *stream)
{
  PanelEvents *self = stream->events;
  g_autoptr (SoupServerMessage) msg = g_object_ref (stream->msg);

  self->streams = g_list_remove (self->streams, stream);
  stream_free (stream);
  soup_message_body_complete (soup_server_message_get_response_body (msg));
  soup_server_message_unpause (msg);
}

static void
on_stream_gone (SoupServerMessage *msg, gpointer user_data)
{
  Stream *stream = user_data;
  (void) msg;
  stream->events->streams = g_list_remove (stream->events->streams, stream);
  stream_free (stream);
}

/* The client closed the connection (an SSE client never sends anything
 * more): the slot is free now, and the connection is closed at once
 * rather than when a write would fail. */
static gboolean
on_client_closed (gpointer user_data)
{
  Stream *stream = user_data;
  g_autoptr (SoupServerMessage) msg = g_object_ref (stream->msg);
  stream->watch_id = 0;
  stream->events->streams = g_list_remove (stream->events->streams, stream);
  stream_free (stream);
  g_autoptr (GIOStream) conn = soup_server_message_steal_connection (msg);
  if (conn != NULL)
    g_io_stream_close (conn, NULL, NULL);
  return G_SOURCE_REMOVE;
}

/* Every KEEPALIVE_S: a comment line keeps proxies and the browser from
 * timing out, and a stream whose session ended or expired is closed. */
static gboolean
on_keepalive (gpointer user_data)
{
  PanelEvents *self = user_data;
  gint64 now = g_get_real_time ();

  for (GList *l = self->streams; l != NULL;)
    {
      Stream *stream = l->data;
      g_autoptr (sqlite3_stmt) stmt = NULL;
      gboolean live = TRUE;

      l = l->next;
      /* The expiry is read each time: a renewed session goes on. */
      stmt = ansim_db_prepare (
        self->db,
        "SELECT 1 FROM sessions s JOIN users u ON u.name = s.user_name"
        " WHERE s.token_sha256 = ?1 AND s.ended_at_us IS NULL AND u.disabled_at_us IS NULL"
        " AND s.expires_at_us > ?2",
        NULL);
      if (stmt != NULL)
        {
          sqlite3_bind_text (stmt, 1, stream->token_sha256, -1, SQLITE_STATIC);
          sqlite3_bind_int64 (stmt, 2, now);
          live = sqlite3_step (stmt) == SQLITE_ROW;
        }
      if (live)
        stream_write (stream, ": keep-alive\n\n");
      else
        {
          stream_write (stream, "event: session-ended\ndata: {}\n\n");
          stream_close (stream);
        }
    }
  return G_SOURCE_CONTINUE;
}

static void
handle_stream (PanelHttpRequest *req)
{
  PanelEvents *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  PanelSession *session = req->session;
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  Stream *stream;

  guint of_user = 0;
  for (GList *l = self->streams; l != NULL; l = l->next)
    of_user += g_str_equal (((Stream *) l->data)->user, session->user);
  if (of_user >= MAX_STREAMS_PER_USER)
    {
      soup_message_headers_replace (h, "Retry-After", "10");
      panel_http_send_errorf (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "busy",
                              "%s has %u consoles open already; close one", session->user, of_user);
      return;
    }
  if (g_list_length (self->streams) >= MAX_STREAMS)
    {
      soup_message_headers_replace (h, "Retry-After", "10");
      panel_http_send_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "busy",
                             "too many open consoles");
      return;
    }
  stream = g_new0 (Stream, 1);
  stream->events = self;
  stream->msg = g_object_ref (msg);
  stream->token_sha256 = g_strdup (session->token_sha256);
  stream->user = g_strdup (session->user);
  stream->alerts_only = (session->role & ALERTS_ONLY_ROLES) != 0;
  self->streams = g_list_prepend (self->streams, stream);
  g_signal_connect (msg, "finished", G_CALLBACK (on_stream_gone), stream);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_stream_gone), stream);
  stream->watch_id = panel_http_watch_client (msg, on_client_closed, stream);

  soup_message_headers_set_encoding (h, SOUP_ENCODING_CHUNKED);
  soup_message_headers_set_content_type (h, "text/event-stream", NULL);
  /* Sent bytes are not kept: a stream may stay open all day. */
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  stream_write (stream, "retry: 2000\n: connected\n\n");
}

void
panel_events_publish (PanelEvents *self, const char *event, JsonNode *data)
{
  g_autofree char *json = json_to_string (data, FALSE);
  g_autofree char *text = NULL;

  g_return_if_fail (self != NULL);
  g_return_if_fail (event != NULL && strpbrk (event, "\r\n") == NULL);

  /* json_to_string never emits raw newlines in compact form, so the data
   * fits one "data:" line. */
  text = g_strdup_printf ("id: %" G_GINT64_FORMAT "\nevent: %s\ndata: %s\n\n",
                          ++self->next_event_id, event, json);
  for (GList *l = self->streams; l != NULL; l = l->next)
    {
      Stream *stream = l->data;
      if (!stream->alerts_only || g_str_equal (event, "escalated"))
        stream_write (stream, text);
    }
}

void
panel_events_end_session (PanelEvents *self, const char *token_sha256)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (token_sha256 != NULL);

  for (GList *l = self->streams; l != NULL;)
    {
      Stream *stream = l->data;
      l = l->next;
      if (g_str_equal (stream->token_sha256, token_sha256))
        {
          stream_write (stream, "event: session-ended\ndata: {}\n\n");
          stream_close (stream);
        }
    }
}

guint
panel_events_n_streams (PanelEvents *self)
{
  return g_list_length (self->streams);
}

/* A test-only path (ANSIM_PANEL_TEST_PUBLISH=1 in the environment): an
 * admin posts {event, data} and it goes through panel_events_publish. */
static void
handle_test_publish (PanelHttpRequest *req)
{
  PanelEvents *self = req->user_data;
  SoupServerMessage *msg = req->msg;
  g_autoptr (JsonObject) body = NULL;
  const char *event;
  JsonNode *data;

  body = panel_console_read_json_object (msg);
  if (body == NULL)
    return;
  JsonNode *event_node = json_object_get_member (body, "event");
  event = event_node != NULL && JSON_NODE_HOLDS_VALUE (event_node)
              && json_node_get_value_type (event_node) == G_TYPE_STRING
            ? json_node_get_string (event_node)
            : NULL;
  data = json_object_get_member (body, "data");
  if (event == NULL || data == NULL || event[strspn (event, "abcdefghijklmnopqrstuvwxyz-")] != '\0')
    {
      panel_http_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                             "give \"event\" (lowercase name) and \"data\"");
      return;
    }
  panel_events_publish (self, event, data);
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

static const PanelRoute routes[] = {
  { PANEL_HTTP_GET, "/api/events/stream", PANEL_CALLER_CONSOLE, STREAM_ROLES, 0, handle_stream },
  { PANEL_HTTP_POST, "/api/test/publish", PANEL_CALLER_TEST, PANEL_ROLE_ADMIN, 0,
    handle_test_publish },
};

PanelEvents *
panel_events_new (PanelHttp *http, sqlite3 *db)
{
  PanelEvents *self = g_new0 (PanelEvents, 1);
  self->db = db;
  panel_http_add_routes (http, routes, G_N_ELEMENTS (routes), self);
  self->keepalive_id = g_timeout_add_seconds (KEEPALIVE_S, on_keepalive, self);
  return self;
}

void
panel_events_free (PanelEvents *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->keepalive_id, g_source_remove);
  while (self->streams != NULL)
    stream_close (self->streams->data);
  g_free (self);
}
