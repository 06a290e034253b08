/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's HTTP server (libsoup 3) and its incident-log database: GET
 * /api/health and the device API under /api/v1/ (ingest.c checks and
 * stores; the routes and store workers are here, so that ingest.c stays
 * free of HTTP and can be fuzzed alone). Segments and manifests are
 * ingested by store workers, off the main loop; channel requests with
 * nothing to send yet are held by channel.c. */
#include "panel.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "ansim-build.h"
#include "channel.h"
#include "address-mask.h"
#include "console.h"
#include "drills.h"
#include "reports.h"
#include "http.h"
#include "db.h"
#include "util.h"
#include "incidents.h"
#include "retention.h"
#include "ingest.h"
#include "notes.h"
#include "store.h"
#include "webhooks.h"

/* Segment and manifest uploads write to the store, which may take seconds
 * (S3 retries, a slow disk): they run in up to STORE_WORKERS threads, each
 * request on an idle worker's own database connection and PanelIngest,
 * while their HTTP message is paused; the main loop goes on answering
 * alerts, heartbeats and the console. Ingest news come back to the main
 * loop. */
#define STORE_WORKERS 4
/* How long a refused upload's connection discards what its client still
 * sends before it is closed (so the client reads the answer, not a reset). */
#define LINGER_MS 2000

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
  GThreadPool *store_pool;   /* of StoreJob */
  GAsyncQueue *idle_workers; /* StoreWorker*, made on demand */
  gint pending;              /* atomic: jobs and news not yet back on the main loop */
  gsize max_body_size;
  SoupServer *server;
  PanelHttp *http;
  PanelConsole *console;
  PanelIncidents *incidents;
  PanelRetention *retention;
  PanelDrills *drills;
  PanelReports *reports;
  PanelWebhooks *webhooks;
  PanelChannel *channel;
  char *url;
  char *site_name;
  gint64 started_mono_us;
  AnsimDeviceKey *signing_key; /* signs audit checkpoints and chain receipts */
};

/* A fresh signed checkpoint of the audit log, as text (docs/receipts.md). */
static void
handle_checkpoint (PanelHttpRequest *req)
{
  Panel *self = req->user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *note = panel_notes_audit_checkpoint (self->db, self->signing_key, &error);

  if (note == NULL && error != NULL)
    return panel_http_send_db_error (req->msg, self->db, "signing an audit checkpoint");
  if (note == NULL)
    return panel_http_send_error (req->msg, SOUP_STATUS_NOT_FOUND, "not-found",
                                  "the audit log is empty: there is nothing to sign yet");
  soup_server_message_set_status (req->msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (req->msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, note,
                                    strlen (note));
  soup_message_headers_replace (soup_server_message_get_response_headers (req->msg),
                                "Content-Disposition",
                                "attachment; filename=\"audit-checkpoint.txt\"");
}

static void
handle_health (PanelHttpRequest *req)
{
  Panel *self = req->user_data;
  g_autoptr (JsonBuilder) b = json_builder_new ();

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
  json_builder_add_int_value (b,
                              (g_get_monotonic_time () - self->started_mono_us) / G_USEC_PER_SEC);
  json_builder_end_object (b);
  panel_http_send_json (req->msg, SOUP_STATUS_OK, b);
}

static void
send_ingest_answer (SoupServerMessage *msg, const char *method, const char *path, guint status,
                    char *json)
{
  if (status >= 400)
    g_message ("%s %s: %u %s", method, path, status, json);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, json, strlen (json));
}

/* ---- store workers ---------------------------------------------------- */

/* One request handed to a store worker; the strings are copies. */
typedef struct {
  Panel *panel;
  SoupServerMessage *msg; /* a reference; paused until the answer */
  char *method, *path, *signature_input, *signature, *content_digest, *manifest_signature;
  GBytes *body;
  guint status;
  char *json;
  gboolean gone; /* main loop: the client went away meanwhile */
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
    g_message ("%s %s: %u, but the device closed the connection before the answer", job->method,
               job->path, job->status);
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
  if (n->news == PANEL_INGEST_ALERT)
    panel_webhooks_kick (n->panel->webhooks);
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
  *n = (News){ self, news, incident_id, number };
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
handle_api (PanelHttpRequest *r)
{
  Panel *self = r->user_data;
  SoupServerMessage *msg = r->msg;
  const char *path = r->path;
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  g_autoptr (GBytes) bytes =
    r->body != NULL ? g_bytes_ref (r->body)
                    : soup_message_body_flatten (soup_server_message_get_request_body (msg));
  g_autofree char *client = panel_http_client_address (self->http, msg);
  PanelRequest req = {
    .client = client,
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
      *job = (StoreJob){
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

/* Before a device request's body is read (http.c): the key it names is
 * an enrolled device's, not revoked. The signature itself, the digest,
 * time and nonce are checked by ingest.c with the body (so a path that is
 * not a valid id is still answered 400 bad-id, whoever signed it). */
static gboolean
check_device (gpointer user_data, SoupServerMessage *msg, const char *method, const char *path,
              const AnsimHttpsig *sig)
{
  Panel *self = user_data;
  g_autoptr (GError) error = NULL;
  (void) method, (void) path;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    self->db, "SELECT id, revoked_at_us FROM devices WHERE fingerprint = ?1", &error);
  if (stmt == NULL)
    return panel_http_send_db_error (msg, self->db, "looking up the device"), FALSE;
  sqlite3_bind_text (stmt, 1, sig->keyid, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE)
    {
      panel_http_send_errorf (msg, SOUP_STATUS_UNAUTHORIZED, "unknown-device",
                              "no device enrolled with key %.100s", sig->keyid);
      return FALSE;
    }
  if (rc != SQLITE_ROW)
    return panel_http_send_db_error (msg, self->db, "looking up the device"), FALSE;
  if (sqlite3_column_type (stmt, 1) != SQLITE_NULL)
    {
      panel_http_send_errorf (msg, SOUP_STATUS_FORBIDDEN, "revoked", "device %s was revoked",
                              (const char *) sqlite3_column_text (stmt, 0));
      return FALSE;
    }
  return TRUE;
}

/* The device API (docs/protocol.md); ingest.c checks each request's
 * signature (enrollment: its one-time code) and its ids again. JSON bodies
 * are small; manifests and segments may use max_body_size, segments
 * staged on disk as they arrive. */
static void
add_device_routes (Panel *self)
{
  const PanelRoute routes[] = {
    { PANEL_HTTP_POST, PANEL_API_PREFIX "enroll", PANEL_CALLER_ANYONE, 0, 0, handle_api },
    { PANEL_HTTP_PUT, PANEL_API_PREFIX "alerts/{incident}", PANEL_CALLER_DEVICE, 0, 0, handle_api },
    { PANEL_HTTP_PUT, PANEL_API_PREFIX "events/{event}", PANEL_CALLER_DEVICE, 0, 0, handle_api },
    { PANEL_HTTP_PUT, PANEL_API_PREFIX "incidents/{incident}/manifest", PANEL_CALLER_DEVICE, 0,
      self->max_body_size, handle_api },
    { PANEL_HTTP_PUT, PANEL_API_PREFIX "incidents/{incident}/segments/{index}", PANEL_CALLER_DEVICE,
      0, self->max_body_size, handle_api, .spool = TRUE },
    { PANEL_HTTP_PUT, PANEL_API_PREFIX "incidents/{incident}/checkpoints/{sequence}",
      PANEL_CALLER_DEVICE, 0, self->max_body_size, handle_api },
    { PANEL_HTTP_POST, PANEL_API_PREFIX "heartbeat", PANEL_CALLER_DEVICE, 0, 0, handle_api },
    { PANEL_HTTP_POST, PANEL_API_PREFIX "channel", PANEL_CALLER_DEVICE, 0, 0, handle_api },
    { PANEL_HTTP_GET, "/api/health", PANEL_CALLER_ANYONE, 0, 0, handle_health },
    { PANEL_HTTP_GET, "/api/audit/checkpoint", PANEL_CALLER_CONSOLE,
      PANEL_ROLE_ADMIN | PANEL_ROLE_AUDITOR, 0, handle_checkpoint },
  };
  panel_http_add_routes (self->http, routes, G_N_ELEMENTS (routes), self);
}

/* Any ingest thread, inside the alert's transaction: the webhooks'
 * "alert" rows (self->webhooks is set before ingest starts, never changed). */
static gboolean
queue_alert (gpointer user_data, sqlite3 *db, gint64 incident_id, GError **error)
{
  Panel *self = user_data;
  g_autoptr (JsonNode) data = panel_webhooks_incident_data (db, incident_id, error);
  return data != NULL && panel_webhooks_emit (self->webhooks, db, "alert", data, error);
}

/* Ingest runs before the console exists; its news go there once it does. */
static void
on_ingest_news (gpointer user_data, PanelIngestNews news, gint64 incident_id, gint64 number)
{
  Panel *self = user_data;
  panel_incidents_on_ingest (self->incidents, news, incident_id, number);
  if (news == PANEL_INGEST_ALERT)
    panel_webhooks_kick (self->webhooks);
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
  self->signing_key = panel_signing_key_open (database, error);
  if (self->signing_key == NULL)
    {
      g_prefix_error (error, "the panel's signing key: ");
      return NULL;
    }
  g_autofree char *store_dir = ansim_config_get_path (config, "panel", "store_dir");
  g_autofree char *store_name = NULL;
  if (strcmp (ansim_config_get_string (config, "panel", "store"), "s3") == 0)
    {
      self->store = panel_store_new_s3 (config, error);
      store_name = g_strdup_printf ("%s/%s",
                                    ansim_config_get_string (config, "panel", "s3_endpoint"),
                                    ansim_config_get_string (config, "panel", "s3_bucket"));
    }
  else
    {
      self->store = panel_store_new_filesystem (store_dir, error);
      store_name = g_strdup (store_dir);
    }
  if (self->store == NULL)
    return NULL;
  self->webhooks = panel_webhooks_new (self->db, config, error);
  if (self->webhooks == NULL)
    return NULL;
  self->max_body_size = ansim_config_get_int (config, "panel", "max_body_size") * 1024 * 1024;
  PanelIngestOptions options = {
    .max_body_size = self->max_body_size,
    .clock_skew_s = ansim_config_get_int (config, "panel", "clock_skew"),
    .site_name = self->site_name,
    .notify = on_ingest_news,
    .notify_data = self,
    .on_alert = queue_alert,
    .on_alert_data = self,
    .signing_key = self->signing_key,
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
  self->http = panel_http_new (self->server);
  g_autofree char *staging_dir = g_build_filename (data_dir, "staging", NULL);
  if (!panel_http_set_limits (
        self->http, ansim_config_get_int (config, "panel", "max_bodies_in_memory") * 1024 * 1024,
        staging_dir, LINGER_MS, error))
    return NULL;
  panel_http_set_device_check (self->http, check_device, self);
  panel_http_set_hsts (self->http, tls != NULL);
  {
    GPtrArray *proxies = ansim_address_masks_parse (
      ansim_config_get_string (config, "panel", "trusted_proxies"), error);
    if (proxies == NULL)
      {
        g_prefix_error (error, "[panel] trusted_proxies: ");
        return NULL;
      }
    panel_http_set_trusted_proxies (self->http, proxies);
  }
  add_device_routes (self);
  self->console = panel_console_new (self->http, self->server, self->db, config, error);
  if (self->console == NULL)
    return NULL;
  self->incidents =
    panel_incidents_new (self->http, self->db, self->store, self->console, config, error);
  if (self->incidents == NULL)
    return NULL;
  self->retention = panel_retention_new (self->http, self->db, self->store, self->console, config);
  panel_incidents_set_retention (self->incidents, self->retention);
  self->channel = panel_channel_new (self->db);
  panel_incidents_set_channel (self->incidents, self->channel);
  panel_channel_add_test_route (self->channel, self->http);
  self->drills = panel_drills_new (self->http, self->db, self->console, self->site_name);
  self->reports = panel_reports_new (self->http, self->db, self->console, self->site_name);
  panel_incidents_set_webhooks (self->incidents, self->webhooks);
  panel_webhooks_serve (self->webhooks, self->http);

  g_autoptr (GInetAddress) inet = g_str_equal (address, "*")
                                    ? g_inet_address_new_any (G_SOCKET_FAMILY_IPV6)
                                    : g_inet_address_new_from_string (address);
  g_autoptr (GSocketAddress) sockaddr = g_inet_socket_address_new (inet, port);
  g_autoptr (GError) local_error = NULL;
  if (!soup_server_listen (self->server, sockaddr, tls != NULL ? SOUP_SERVER_LISTEN_HTTPS : 0,
                           &local_error))
    {
      g_set_error (error, G_IO_ERROR, local_error->code, "cannot listen on %s port %u: %s", address,
                   port, local_error->message);
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
  g_clear_pointer (&self->reports, panel_reports_free);
  g_clear_pointer (&self->webhooks, panel_webhooks_free);
  g_clear_pointer (&self->incidents, panel_incidents_free);
  g_clear_pointer (&self->retention, panel_retention_free);
  g_clear_pointer (&self->console, panel_console_free);
  if (self->server != NULL)
    {
      soup_server_disconnect (self->server);
      g_clear_pointer (&self->http, panel_http_free);
      g_object_unref (self->server);
    }
  g_clear_pointer (&self->ingest, panel_ingest_free);
  g_clear_pointer (&self->store, panel_store_free);
  g_clear_pointer (&self->db, sqlite3_close);
  g_clear_pointer (&self->signing_key, ansim_device_key_free);
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

PanelHttp *
panel_get_http (Panel *self)
{
  return self->http;
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
