/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the signed HTTP client the uploader and `ansimctl
 * enroll` use to talk to the panel. */
#include "client.h"

#include <curl/curl.h>
#include <string.h>

#include "httpsig.h"
#include "panel-clock.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CURL, curl_easy_cleanup)

#define MAX_ANSWER (1024 * 1024)

struct _UploaderClient {
  CURL *curl;
  char *base_url;  /* without trailing '/' */
  char *base_path; /* path part of base_url without trailing '/', may be "" */
  char *ca_file;
  const AnsimDeviceKey *key;
  gint64 timeout_s;
  gint64 max_send_rate;
  const gint *cancel;
  UploaderPanelClock *clock; /* own_clock or a shared one */
  UploaderPanelClock *own_clock;
};

static void
curl_init_once (void)
{
  static gsize done = 0;
  if (g_once_init_enter (&done))
    {
      curl_global_init (CURL_GLOBAL_DEFAULT);
      g_once_init_leave (&done, 1);
    }
}

UploaderClient *
uploader_client_new (const char *panel_url, const char *ca_file, const AnsimDeviceKey *key,
                     GError **error)
{
  g_autoptr (GUri) uri = g_uri_parse (panel_url, G_URI_FLAGS_ENCODED, error);
  if (uri == NULL)
    return NULL;
  curl_init_once ();
  UploaderClient *self = g_new0 (UploaderClient, 1);
  self->curl = curl_easy_init ();
  self->base_url = g_strdup (panel_url);
  while (g_str_has_suffix (self->base_url, "/"))
    self->base_url[strlen (self->base_url) - 1] = '\0';
  self->base_path = g_strdup (g_uri_get_path (uri));
  while (g_str_has_suffix (self->base_path, "/"))
    self->base_path[strlen (self->base_path) - 1] = '\0';
  self->ca_file = g_strdup (ca_file);
  self->key = key;
  self->timeout_s = 120;
  self->own_clock = uploader_panel_clock_new ();
  self->clock = self->own_clock;
  return self;
}

void
uploader_client_free (UploaderClient *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->curl, curl_easy_cleanup);
  g_free (self->base_url);
  g_free (self->base_path);
  g_free (self->ca_file);
  uploader_panel_clock_free (self->own_clock);
  g_free (self);
}

void
uploader_client_set_timeout (UploaderClient *self, gint64 seconds)
{
  self->timeout_s = seconds;
}

void
uploader_client_set_max_send_rate (UploaderClient *self, gint64 bytes_per_s)
{
  self->max_send_rate = bytes_per_s;
}

void
uploader_client_share_clock (UploaderClient *self, UploaderPanelClock *clock)
{
  self->clock = clock != NULL ? clock : self->own_clock;
}

void
uploader_client_set_cancel_flag (UploaderClient *self, const gint *flag)
{
  self->cancel = flag;
}

static size_t
on_data (char *ptr, size_t size, size_t nmemb, void *user_data)
{
  GByteArray *answer = user_data;
  if (answer->len + size * nmemb > MAX_ANSWER)
    return 0;
  g_byte_array_append (answer, (const guint8 *) ptr, size * nmemb);
  return size * nmemb;
}

static int
on_progress (void *user_data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
             curl_off_t ulnow)
{
  (void) dltotal, (void) dlnow, (void) ultotal, (void) ulnow;
  UploaderClient *self = user_data;
  return self->cancel != NULL && g_atomic_int_get (self->cancel) ? 1 : 0;
}

GBytes *
uploader_client_json_body (JsonBuilder *builder)
{
  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  char *json = json_to_string (root, FALSE);
  return g_bytes_new_take (json, strlen (json));
}

static size_t
on_header (char *buffer, size_t size, size_t nitems, void *user_data)
{
  gint64 *date_us = user_data;
  gsize len = size * nitems;
  if (len > 5 && g_ascii_strncasecmp (buffer, "Date:", 5) == 0)
    {
      g_autofree char *value = g_strstrip (g_strndup (buffer + 5, len - 5));
      time_t t = curl_getdate (value, NULL);
      *date_us = t > 0 ? (gint64) t * G_USEC_PER_SEC : 0;
    }
  return len;
}

/* The panel's time from its answer: the precise member of a refusal for
 * time or of an answer that carries it, else the Date header (whole
 * seconds, so the clock read somewhere in that second). */
static void
learn_clock (UploaderClient *self, JsonObject *answer, gint64 date_us, gint64 sent_mono,
             gint64 recv_mono)
{
  static const char *const members[] = { "panel_time_us", "time_us" };
  for (guint i = 0; answer != NULL && i < G_N_ELEMENTS (members); i++)
    {
      JsonNode *n = json_object_get_member (answer, members[i]);
      if (n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64)
        {
          gint64 t = json_node_get_int (n);
          uploader_panel_clock_learn (self->clock, sent_mono, recv_mono, t, t, members[i]);
          return;
        }
    }
  if (date_us > 0)
    uploader_panel_clock_learn (self->clock, sent_mono, recv_mono, date_us,
                                date_us + G_USEC_PER_SEC - 1, "Date");
}

static gboolean
is_stale (guint status, JsonObject *answer)
{
  return status == 401 && answer != NULL
         && g_strcmp0 (json_object_get_string_member_with_default (answer, "error", NULL), "stale")
              == 0;
}

static gboolean
send_once (UploaderClient *self, const char *method, const char *path, GBytes *body,
           const char *const *extra_headers, guint *out_status, JsonObject **out_json,
           GError **error)
{
  gsize len = 0;
  const char *data = body != NULL ? g_bytes_get_data (body, &len) : "";
  if (data == NULL)
    data = "";
  g_autofree char *full_path = g_strconcat (self->base_path, path, NULL);
  g_autofree char *url = g_strconcat (self->base_url, path, NULL);
  g_autofree char *digest = ansim_httpsig_content_digest (data, len);
  g_autofree char *sig_input = NULL, *sig = NULL;
  /* Signed with the panel's time as measured, not the board's. */
  if (!ansim_httpsig_sign (self->key, method, full_path, digest,
                           uploader_panel_clock_now (self->clock) / G_USEC_PER_SEC, NULL,
                           &sig_input, &sig, error))
    return FALSE;

  struct curl_slist *headers = NULL;
  g_autofree char *h_digest = g_strdup_printf ("Content-Digest: %s", digest);
  g_autofree char *h_input = g_strdup_printf ("Signature-Input: %s", sig_input);
  g_autofree char *h_sig = g_strdup_printf ("Signature: %s", sig);
  headers = curl_slist_append (headers, h_digest);
  headers = curl_slist_append (headers, h_input);
  headers = curl_slist_append (headers, h_sig);
  headers = curl_slist_append (headers, "Content-Type: application/octet-stream");
  for (; extra_headers != NULL && *extra_headers != NULL; extra_headers++)
    headers = curl_slist_append (headers, *extra_headers);

  g_autoptr (GByteArray) answer = g_byte_array_new ();
  gint64 date_us = 0;
  CURL *c = self->curl;
  curl_easy_reset (c);
  curl_easy_setopt (c, CURLOPT_URL, url);
  curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt (c, CURLOPT_POSTFIELDS, data);
  curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
  curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, answer);
  curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (c, CURLOPT_HEADERDATA, &date_us);
  curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (c, CURLOPT_TIMEOUT, (long) self->timeout_s);
  curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt (c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt (c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt (c, CURLOPT_XFERINFODATA, self);
  curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (self->ca_file != NULL)
    curl_easy_setopt (c, CURLOPT_CAINFO, self->ca_file);
  if (self->max_send_rate > 0)
    curl_easy_setopt (c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t) self->max_send_rate);
  gint64 sent_mono = g_get_monotonic_time ();
  CURLcode rc = curl_easy_perform (c);
  gint64 recv_mono = g_get_monotonic_time ();
  curl_slist_free_all (headers);
  if (rc != CURLE_OK)
    {
      g_set_error (error, G_IO_ERROR,
                   rc == CURLE_OPERATION_TIMEDOUT    ? G_IO_ERROR_TIMED_OUT
                   : rc == CURLE_ABORTED_BY_CALLBACK ? G_IO_ERROR_CANCELLED
                                                     : G_IO_ERROR_FAILED,
                   "%s %s: %s", method, url, curl_easy_strerror (rc));
      return FALSE;
    }
  long status = 0;
  curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
  *out_status = status;
  *out_json = NULL;
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  if (answer->len > 0
      && json_parser_load_from_data (parser, (const char *) answer->data, answer->len, NULL)
      && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    *out_json = json_object_ref (json_node_get_object (json_parser_get_root (parser)));
  learn_clock (self, *out_json, date_us, sent_mono, recv_mono);
  return TRUE;
}

gboolean
uploader_client_send (UploaderClient *self, const char *method, const char *path, GBytes *body,
                      const char *const *extra_headers, guint *out_status, JsonObject **out_json,
                      GError **error)
{
  g_autoptr (JsonObject) answer = NULL;
  if (!send_once (self, method, path, body, extra_headers, out_status, &answer, error))
    return FALSE;
  /* Refused for time: the refusal carried the panel's clock, now learnt;
   * signed again at once, so a wrong board clock costs one round trip. */
  if (is_stale (*out_status, answer))
    {
      g_clear_pointer (&answer, json_object_unref);
      g_message ("%s %s: refused as signed at the wrong time; signing again with the panel's "
                 "time",
                 method, path);
      if (!send_once (self, method, path, body, extra_headers, out_status, &answer, error))
        return FALSE;
    }
  if (out_json != NULL)
    *out_json = g_steal_pointer (&answer);
  return TRUE;
}

char *
uploader_client_describe (guint status, JsonObject *answer)
{
  const char *code =
    answer != NULL ? json_object_get_string_member_with_default (answer, "error", NULL) : NULL;
  const char *message =
    answer != NULL ? json_object_get_string_member_with_default (answer, "message", NULL) : NULL;
  return g_strdup_printf ("HTTP %u %s%s%s", status, code != NULL ? code : "",
                          message != NULL ? ": " : "", message != NULL ? message : "");
}
