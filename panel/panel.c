/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's HTTP server (libsoup 3) and its incident-log database: GET
 * /api/health and the device API under /api/v1/ (ingest.c). Segments and
 * manifests are ingested by store workers, off the main loop; channel
 * requests with nothing to send yet are held by channel.c. */
#include "panel.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "ansim-build.h"
#include "channel.h"
#include "console.h"
#include "drills.h"
#include "db.h"
#include "incidents.h"
#include "retention.h"
#include "ingest.h"
#include "store.h"

/* Segment and manifest uploads write to the store, which may take seconds
 * (S3 retries, a slow disk): they run in up to STORE_WORKERS threads, each
 * request on an idle worker's own database connection and PanelIngest,
 * while their HTTP message is paused; the main loop goes on answering
 * alerts, heartbeats and the console. Ingest news come back to the main
 * loop. */
#define STORE_WORKERS 4

typedef struct {
  sqlite3 *db;
  PanelIngest *ingest;
} StoreWorker;

struct _Panel {
  sqlite3 *db;
  char *database;
  PanelStore *store;
  PanelIngest *ingest;
  PanelIngestOptions worker_options;
  GThreadPool *store_pool;      /* of StoreJob */
  GAsyncQueue *idle_workers;    /* StoreWorker*, made on demand */
  gint pending;                 /* atomic: jobs and news not yet back on the main loop */
  gsize max_body_size;
  SoupServer *server;
  PanelConsole *console;
  PanelIncidents *incidents;
  PanelRetention *retention;
  PanelDrills *drills;
  PanelChannel *channel;
  char *url;
  char *site_name;
  gint64 started_mono_us;
};

static void
send_json (SoupServerMessage *msg, guint status, JsonBuilder *b)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *body = json_to_string (root, FALSE);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, body, strlen (body));
}

static void
handle_health (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
               gpointer user_data)
{
  (void) server;
  (void) path;
  (void) query;
  Panel *self = user_data;
  g_autoptr (JsonBuilder) b = json_builder_new ();

  if (g_strcmp0 (soup_server_message_get_method (msg), "GET") != 0)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "error");
      json_builder_add_string_value (b, "method not allowed; use GET");
      json_builder_end_object (b);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", "GET");
      send_json (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, b);
      return;
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, "ok");
  json_builder_set_member_name (b, "version");
  json_builder_add_string_value (b, ANSIM_VERSION);
  json_builder_set_member_name (b, "site");
  json_builder_add_string_value (b, self->site_name);
  json_builder_set_member_name (b, "database_version");
  json_builder_add_int_value (b, ansim_db_get_version (self->db));
  json_builder_set_member_name (b, "uptime_s");
  json_builder_add_int_value (b, (g_get_monotonic_time () - self->started_mono_us) / G_USEC_PER_SEC);
  json_builder_end_object (b);
  send_json (msg, SOUP_STATUS_OK, b);
}

static void
send_raw_json (SoupServerMessage *msg, guint status, const char *code, const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, code);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  send_json (msg, status, b);
}

/* Refuses an oversized or unsized body before it is read. */
static void
on_got_headers (SoupServerMessage *msg, gpointer user_data)
{
  Panel *self = user_data;
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  GUri *uri = soup_server_message_get_uri (msg);
  if (!panel_ingest_owns_path (g_uri_get_path (uri)))
    return;
  if (soup_message_headers_get_encoding (h) == SOUP_ENCODING_CHUNKED)
    {
      send_raw_json (msg, SOUP_STATUS_LENGTH_REQUIRED, "length-required",
                     "send a Content-Length, not a chunked body");
      return;
    }
  goffset length = soup_message_headers_get_content_length (h);
  if (length < 0 || (guint64) length > self->max_body_size)
    {
      g_autofree char *m = g_strdup_printf ("the body is over %zu bytes", self->max_body_size);
      send_raw_json (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too-large", m);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Connection", "close");
    }
}

static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  (void) server;
  g_signal_connect (msg, "got-headers", G_CALLBACK (on_got_headers), user_data);
}

static void
send_ingest_answer (SoupServerMessage *msg, const char *method, const char *path, guint status,
                    char *json)
{
  if (status >= 400)
    g_message ("%s %s: %u %s", method, path, status, json);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, json,
                                    strlen (json));
}

/* ---- store workers ---------------------------------------------------- */

/* One request handed to a store worker; the strings are copies. */
typedef struct {
  Panel *panel;
  SoupServerMessage *msg;       /* a reference; paused until the answer */
  char *method, *path, *signature_input, *signature, *content_digest, *manifest_signature;
  GBytes *body;
  guint status;
  char *json;
  gboolean gone;                /* main loop: the client went away meanwhile */
} StoreJob;

static void
store_job_free (StoreJob *job)
{
  g_object_unref (job->msg);
  g_free (job->method);
  g_free (job->path);
  g_free (job->signature_input);
  g_free (job->signature);
  g_free (job->content_digest);
  g_free (job->manifest_signature);
  g_bytes_unref (job->body);
  g_free (job->json);
  g_free (job);
}

static void
store_worker_free (StoreWorker *w)
{
  panel_ingest_free (w->ingest);
  sqlite3_close (w->db);
  g_free (w);
}

/* Main loop: the connection closed while a worker had the request. */
static void
on_store_job_gone (SoupServerMessage *msg, gpointer user_data)
{
  (void) msg;
  StoreJob *job = user_data;
  job->gone = TRUE;
}

/* Main loop: the worker's answer goes out (if anyone still listens: the
 * desk re-sends, and a re-send is answered "already stored"). */
static gboolean
finish_store_job (gpointer data)
{
  StoreJob *job = data;
  g_signal_handlers_disconnect_by_data (job->msg, job);
  if (job->gone)
    g_message ("%s %s: %u, but the device closed the connection before the answer",
               job->method, job->path, job->status);
  else
    {
      send_ingest_answer (job->msg, job->method, job->path, job->status,
                          g_steal_pointer (&job->json));
      soup_server_message_unpause (job->msg);
    }
  g_atomic_int_dec_and_test (&job->panel->pending);
  store_job_free (job);
  return G_SOURCE_REMOVE;
}

typedef struct {
  Panel *panel;
  PanelIngestNews news;
  gint64 incident_id, number;
} News;

static gboolean
deliver_news (gpointer data)
{
  News *n = data;
  panel_incidents_on_ingest (n->panel->incidents, n->news, n->incident_id, n->number);
  g_atomic_int_dec_and_test (&n->panel->pending);
  g_free (n);
  return G_SOURCE_REMOVE;
}

/* Worker thread: ingest news go to the main loop, in order. */
static void
on_worker_news (gpointer user_data, PanelIngestNews news, gint64 incident_id, gint64 number)
{
  Panel *self = user_data;
  News *n = g_new (News, 1);
  *n = (News) { self, news, incident_id, number };
  g_atomic_int_inc (&self->pending);
  g_main_context_invoke (NULL, deliver_news, n);
}

/* Worker thread. */
static void
run_store_job (gpointer data, gpointer user_data)
{
  StoreJob *job = data;
  Panel *self = user_data;
  StoreWorker *w = g_async_queue_try_pop (self->idle_workers);
  if (w == NULL)
    {
      g_autoptr (GError) error = NULL;
      w = g_new0 (StoreWorker, 1);
      w->db = ansim_db_open (&ansim_panel_db_schema, self->database, &error);
      if (w->db == NULL)
        {
          g_warning ("store worker: %s", error->message);
          g_free (w);
          job->status = SOUP_STATUS_SERVICE_UNAVAILABLE;
          job->json = g_strdup ("{\"error\":\"database\",\"message\":\"the incident log "
                                "cannot be opened; try again later\"}");
          g_main_context_invoke (NULL, finish_store_job, job);
          return;
        }
      w->ingest = panel_ingest_new (w->db, self->store, &self->worker_options);
    }
  PanelRequest req = {
    .method = job->method,
    .path = job->path,
    .signature_input = job->signature_input,
    .signature = job->signature,
    .content_digest = job->content_digest,
    .manifest_signature = job->manifest_signature,
    .body = job->body,
  };
  panel_ingest_handle (w->ingest, &req, &job->status, &job->json);
  g_async_queue_push (self->idle_workers, w);
  g_main_context_invoke (NULL, finish_store_job, job);
}

/* Uploads that write to the store: segments and manifests. */
static gboolean
goes_to_store (const char *method, const char *path)
{
  return g_strcmp0 (method, "PUT") == 0 && g_str_has_prefix (path, PANEL_API_PREFIX "incidents/");
}

static void
handle_api (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
            gpointer user_data)
{
  (void) server;
  (void) query;
  Panel *self = user_data;
  if (soup_server_message_get_status (msg) != SOUP_STATUS_NONE)
    return; /* refused in got-headers */
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr (GBytes) bytes = soup_message_body_flatten (body);
  PanelRequest req = {
    .method = soup_server_message_get_method (msg),
    .path = path,
    .signature_input = soup_message_headers_get_one (h, "Signature-Input"),
    .signature = soup_message_headers_get_one (h, "Signature"),
    .content_digest = soup_message_headers_get_one (h, "Content-Digest"),
    .manifest_signature = soup_message_headers_get_one (h, "Ansim-Manifest-Signature"),
    .body = bytes,
  };
  if (goes_to_store (req.method, path))
    {
      StoreJob *job = g_new0 (StoreJob, 1);
      *job = (StoreJob) {
        .panel = self,
        .msg = g_object_ref (msg),
        .method = g_strdup (req.method),
        .path = g_strdup (path),
        .signature_input = g_strdup (req.signature_input),
        .signature = g_strdup (req.signature),
        .content_digest = g_strdup (req.content_digest),
        .manifest_signature = g_strdup (req.manifest_signature),
        .body = g_steal_pointer (&bytes),
      };
      g_atomic_int_inc (&self->pending);
      g_signal_connect (msg, "disconnected", G_CALLBACK (on_store_job_gone), job);
      g_signal_connect (msg, "finished", G_CALLBACK (on_store_job_gone), job);
      soup_server_message_pause (msg);
      g_thread_pool_push (self->store_pool, job, NULL);
      return;
    }
  guint status = 0;
  char *json = NULL;
  g_autoptr (PanelIngestWait) wait = NULL;
  panel_ingest_handle_full (self->ingest, &req, &status, &json, &wait);
  if (wait != NULL)
    {
      g_free (json); /* the answer comes later */
      return panel_channel_hold (self->channel, msg, wait);
    }
  send_ingest_answer (msg, req.method, path, status, json);
}

static void
handle_not_found (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                  gpointer user_data)
{
  (void) server;
  (void) query;
  (void) user_data;
  if (strcmp (path, "/") == 0)
    {
      soup_server_message_set_redirect (msg, SOUP_STATUS_FOUND, "/console/");
      return;
    }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  g_autofree char *message = g_strdup_printf ("no such resource: %.200s", path);
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  send_json (msg, SOUP_STATUS_NOT_FOUND, b);
}

/* Ingest runs before the console exists; its news go there once it does. */
static void
on_ingest_news (gpointer user_data, PanelIngestNews news, gint64 incident_id, gint64 number)
{
  Panel *self = user_data;
  panel_incidents_on_ingest (self->incidents, news, incident_id, number);
}

Panel *
panel_new (AnsimConfig *config, GError **error)
{
  g_autoptr (Panel) self = g_new0 (Panel, 1);
  g_autofree char *data_dir = ansim_config_get_path (config, "panel", "data_dir");
  g_autofree char *database = ansim_config_get_path (config, "panel", "database");
  const char *address = ansim_config_get_string (config, "panel", "listen_address");
  guint port = ansim_config_get_int (config, "panel", "port");

  self->started_mono_us = g_get_monotonic_time ();
  self->site_name = g_strdup (ansim_config_get_string (config, "panel", "site_name"));
  if (g_mkdir_with_parents (data_dir, 0750) < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                   "cannot create directory '%s': %s", data_dir, g_strerror (errno));
      return NULL;
    }
  self->db = ansim_db_open (&ansim_panel_db_schema, database, error);
  if (self->db == NULL)
    return NULL;
  g_autofree char *store_dir = ansim_config_get_path (config, "panel", "store_dir");
  g_autofree char *store_name = NULL;
  if (strcmp (ansim_config_get_string (config, "panel", "store"), "s3") == 0)
    {
      self->store = panel_store_new_s3 (config, error);
      store_name = g_strdup_printf ("%s/%s", ansim_config_get_string (config, "panel", "s3_endpoint"),
                                    ansim_config_get_string (config, "panel", "s3_bucket"));
    }
  else
    {
      self->store = panel_store_new_filesystem (store_dir, error);
      store_name = g_strdup (store_dir);
    }
  if (self->store == NULL)
    return NULL;
  self->max_body_size = ansim_config_get_int (config, "panel", "max_body_size") * 1024 * 1024;
  PanelIngestOptions options = {
    .max_body_size = self->max_body_size,
    .clock_skew_s = ansim_config_get_int (config, "panel", "clock_skew"),
    .site_name = self->site_name,
    .notify = on_ingest_news,
    .notify_data = self,
  };
  self->ingest = panel_ingest_new (self->db, self->store, &options);
  self->database = g_strdup (database);
  self->worker_options = options;
  self->worker_options.notify = on_worker_news;
  self->idle_workers = g_async_queue_new ();
  self->store_pool = g_thread_pool_new (run_store_job, self, STORE_WORKERS, TRUE, error);
  if (self->store_pool == NULL)
    return NULL;

  g_autoptr (GTlsCertificate) tls = NULL;
  if (ansim_config_has_key (config, "panel", "tls_certificate"))
    {
      g_autofree char *cert = ansim_config_get_path (config, "panel", "tls_certificate");
      g_autofree char *key = ansim_config_get_path (config, "panel", "tls_key");
      tls = g_tls_certificate_new_from_files (cert, key, error);
      if (tls == NULL)
        {
          g_prefix_error (error, "TLS certificate %s with key %s: ", cert, key);
          return NULL;
        }
    }
  self->server = soup_server_new ("server-header", "ansim-panel", "tls-certificate", tls, NULL);
  g_signal_connect (self->server, "request-started", G_CALLBACK (on_request_started), self);
  soup_server_add_handler (self->server, "/api/health", handle_health, self, NULL);
  soup_server_add_handler (self->server, "/api/v1", handle_api, self, NULL);
  self->console = panel_console_new (self->server, self->db, config, error);
  if (self->console == NULL)
    return NULL;
  self->incidents = panel_incidents_new (self->server, self->db, self->store, self->console,
                                         config, error);
  if (self->incidents == NULL)
    return NULL;
  self->retention = panel_retention_new (self->server, self->db, self->store, self->console,
                                         config);
  panel_incidents_set_retention (self->incidents, self->retention);
  self->channel = panel_channel_new (self->db);
  panel_incidents_set_channel (self->incidents, self->channel);
  panel_channel_add_test_route (self->channel, self->server, self->console);
  self->drills = panel_drills_new (self->server, self->db, self->console, self->site_name);
  soup_server_add_handler (self->server, NULL, handle_not_found, self, NULL);

  g_autoptr (GInetAddress) inet = g_str_equal (address, "*")
    ? g_inet_address_new_any (G_SOCKET_FAMILY_IPV6)
    : g_inet_address_new_from_string (address);
  g_autoptr (GSocketAddress) sockaddr = g_inet_socket_address_new (inet, port);
  g_autoptr (GError) local_error = NULL;
  if (!soup_server_listen (self->server, sockaddr, tls != NULL ? SOUP_SERVER_LISTEN_HTTPS : 0,
                           &local_error))
    {
      g_set_error (error, G_IO_ERROR, local_error->code, "cannot listen on %s port %u: %s",
                   address, port, local_error->message);
      return NULL;
    }
  /* The bound port, which differs from the configured one when that is 0. */
  GSList *uris = soup_server_get_uris (self->server);
  self->url = uris != NULL ? g_uri_to_string (uris->data) : g_strdup ("(unknown)");
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  g_message ("incident log %s open; evidence store %s; listening on %s", database, store_name,
             self->url);
  return g_steal_pointer (&self);
}

void
panel_free (Panel *self)
{
  if (self == NULL)
    return;
  /* Uploads in the workers finish (each is a few store calls at most),
   * and their answers and news are delivered before anything goes. */
  if (self->store_pool != NULL)
    g_thread_pool_free (self->store_pool, FALSE, TRUE);
  while (g_atomic_int_get (&self->pending) > 0)
    g_main_context_iteration (NULL, TRUE);
  if (self->idle_workers != NULL)
    {
      StoreWorker *w;
      while ((w = g_async_queue_try_pop (self->idle_workers)) != NULL)
        store_worker_free (w);
      g_async_queue_unref (self->idle_workers);
    }
  g_clear_pointer (&self->channel, panel_channel_free);
  g_clear_pointer (&self->drills, panel_drills_free);
  g_clear_pointer (&self->incidents, panel_incidents_free);
  g_clear_pointer (&self->retention, panel_retention_free);
  g_clear_pointer (&self->console, panel_console_free);
  if (self->server != NULL)
    {
      soup_server_disconnect (self->server);
      g_object_unref (self->server);
    }
  g_clear_pointer (&self->ingest, panel_ingest_free);
  g_clear_pointer (&self->store, panel_store_free);
  g_clear_pointer (&self->db, sqlite3_close);
  g_free (self->url);
  g_free (self->site_name);
  g_free (self->database);
  g_free (self);
}

const char *
panel_get_url (Panel *self)
{
  return self->url;
}

PanelConsole *
panel_get_console (Panel *self)
{
  return self->console;
}

PanelChannel *
panel_get_channel (Panel *self)
{
  return self->channel;
}
