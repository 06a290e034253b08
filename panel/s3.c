/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file does one thing: it is the panel's S3 client (requests signed
 * by libcurl's SigV4, retried on 5xx and network errors, S3 error bodies
 * parsed; objects, versions and Object Lock). It is long because S3 is;
 * the store interface over it is store-s3.c. */

#include "s3.h"
#include "s3-private.h"

#include "curl-cleanups.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK (panel - s3 - error - quark, panel_s3_error)


#define MIB (1024 * 1024)
#define MIN_PART_SIZE (5 * MIB) /* S3's rule for every part but the last */
#define MAX_PARTS 10000
#define MAX_ERROR_BODY (64 * 1024)
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct _PanelS3 {
  char *endpoint; /* scheme://host[:port], no trailing slash */
  char *region;
  char *bucket;
  PanelS3Addressing addressing;
  char *access_key;
  char *secret_key;
  char *ca_file;
  char *sigv4; /* "aws:amz:REGION:s3" */
  guint64 multipart_threshold;
  guint64 part_size;
  guint max_attempts;
  guint retry_delay_ms;
  guint retry_max_delay_ms;
  guint connect_timeout_s;
  guint timeout_s;
  CURL *curl;        /* atomic: an idle handle kept for its connection
                                  * cache, or NULL while a request uses it */
  guint corrupt_md5; /* test hook: countdown to a wrong Content-MD5 */
};

/* One request; the body is sent from memory so a retry can resend it. */
typedef struct {
  const char *method; /* GET HEAD PUT POST DELETE */
  const char *key;    /* NULL: the bucket itself */
  const char *query;  /* sorted, '=' on every key; NULL: none */
  const guint8 *body;
  gsize body_len;
  gboolean has_body;
  const char *const *headers; /* extra "Name: value" lines, NULL-terminated */
  const char *body_sha256;    /* hex SHA-256 of body if the caller has it, else NULL */
  gsize max_response;         /* cap on the answer's body */
} S3Request;

typedef struct {
  long status;
  GByteArray *body;
  GHashTable *headers; /* lower-case name -> value */
  gboolean too_large;
  gsize max;
  /* upload cursor */
  const guint8 *send;
  gsize send_len;
  gsize send_pos;
} S3Response;

static void
response_clear (S3Response *r)
{
  g_clear_pointer (&r->body, g_byte_array_unref);
  g_clear_pointer (&r->headers, g_hash_table_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (S3Response, response_clear)

/* ---- global init --------------------------------------------------------- */

static gboolean
global_init (GError **error)
{
  static gsize done = 0;
  static CURLcode result = CURLE_OK;

  if (g_once_init_enter (&done))
    {
      result = curl_global_init (CURL_GLOBAL_DEFAULT);
      g_once_init_leave (&done, 1);
    }
  if (result != CURLE_OK)
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_FAILED,
                   "libcurl initialisation failed: %s", curl_easy_strerror (result));
      return FALSE;
    }
  return TRUE;
}

/* ---- credentials --------------------------------------------------------- */

/* Reads the AWS shared-credentials file, refusing one that others could read:
 * the secret signs every request to the evidence store. */
static gboolean
load_credentials (PanelS3 *self, const char *path, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  g_autofree char *data = NULL;
  struct stat st;
  gsize len = 0;
  int fd;

  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CREDENTIALS, "S3 credentials file %s: %s",
                   path, g_strerror (saved));
      return FALSE;
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CREDENTIALS,
                   "S3 credentials file %s: not a regular file", path);
      return FALSE;
    }
  if (st.st_uid != geteuid () || (st.st_mode & 077) != 0)
    {
      close (fd);
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CREDENTIALS,
                   "S3 credentials file %s has mode %04o and owner uid %u; it must be owned by "
                   "uid %u and readable by it only (chmod 600)",
                   path, (guint) (st.st_mode & 07777), (guint) st.st_uid, (guint) geteuid ());
      return FALSE;
    }
  {
    char buf[4096];
    GString *s = g_string_new (NULL);
    ssize_t n;

    while ((n = read (fd, buf, sizeof buf)) > 0 && s->len < 65536)
      g_string_append_len (s, buf, n);
    close (fd);
    if (n < 0 || s->len >= 65536)
      {
        g_string_free (s, TRUE);
        g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CREDENTIALS,
                     "S3 credentials file %s: unreadable or larger than 64 KiB", path);
        return FALSE;
      }
    len = s->len;
    data = g_string_free (s, FALSE);
  }
  if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, &local))
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CREDENTIALS, "S3 credentials file %s: %s",
                   path, local->message);
      return FALSE;
    }
  self->access_key = g_key_file_get_string (kf, "default", "aws_access_key_id", NULL);
  self->secret_key = g_key_file_get_string (kf, "default", "aws_secret_access_key", NULL);
  if (self->access_key != NULL)
    g_strstrip (self->access_key);
  if (self->secret_key != NULL)
    g_strstrip (self->secret_key);
  if (self->access_key == NULL || self->secret_key == NULL || *self->access_key == '\0'
      || *self->secret_key == '\0')
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CREDENTIALS,
                   "S3 credentials file %s: needs aws_access_key_id and aws_secret_access_key "
                   "in a [default] section",
                   path);
      return FALSE;
    }
  return TRUE;
}

/* ---- construction -------------------------------------------------------- */

static gboolean
valid_bucket_name (const char *b)
{
  gsize n = strlen (b);

  if (n < 3 || n > 63 || !g_ascii_isalnum (b[0]) || !g_ascii_isalnum (b[n - 1]))
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!(g_ascii_islower (b[i]) || g_ascii_isdigit (b[i]) || b[i] == '-' || b[i] == '.'))
      return FALSE;
  return TRUE;
}

PanelS3 *
panel_s3_new (const PanelS3Config *config, GError **error)
{
  g_autoptr (PanelS3) self = NULL;
  g_autoptr (GUri) uri = NULL;
  g_autoptr (GError) local = NULL;
  const char *scheme;

  g_return_val_if_fail (config != NULL, NULL);
  if (!global_init (error))
    return NULL;

  if (config->endpoint == NULL
      || (uri = g_uri_parse (config->endpoint, G_URI_FLAGS_NONE, &local)) == NULL)
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CONFIG, "S3 endpoint '%s': %s",
                   config->endpoint ? config->endpoint : "", local ? local->message : "missing");
      return NULL;
    }
  scheme = g_uri_get_scheme (uri);
  if ((g_strcmp0 (scheme, "http") != 0 && g_strcmp0 (scheme, "https") != 0)
      || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0'
      || (*g_uri_get_path (uri) != '\0' && strcmp (g_uri_get_path (uri), "/") != 0)
      || g_uri_get_query (uri) != NULL || g_uri_get_userinfo (uri) != NULL)
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CONFIG,
                   "S3 endpoint '%s': expected http(s)://HOST[:PORT] without path or query",
                   config->endpoint);
      return NULL;
    }
  if (config->bucket == NULL || !valid_bucket_name (config->bucket))
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CONFIG,
                   "S3 bucket '%s': expected 3 to 63 lower-case letters, digits, '-' or '.'",
                   config->bucket ? config->bucket : "");
      return NULL;
    }
  if (config->addressing == PANEL_S3_VIRTUAL_HOST
      && g_hostname_is_ip_address (g_uri_get_host (uri)))
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CONFIG,
                   "S3 endpoint %s is an IP address; virtual-host addressing needs a host name "
                   "(BUCKET.HOST), use path addressing",
                   config->endpoint);
      return NULL;
    }
  if (config->ca_file != NULL && strcmp (scheme, "https") != 0)
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CONFIG,
                   "S3 CA file given for the plain-http endpoint %s", config->endpoint);
      return NULL;
    }

  self = g_new0 (PanelS3, 1);
  self->endpoint = g_strdup (config->endpoint);
  if (g_str_has_suffix (self->endpoint, "/"))
    self->endpoint[strlen (self->endpoint) - 1] = '\0';
  self->region = g_strdup (config->region ? config->region : "us-east-1");
  self->bucket = g_strdup (config->bucket);
  self->addressing = config->addressing;
  self->ca_file = g_strdup (config->ca_file);
  self->sigv4 = g_strdup_printf ("aws:amz:%s:s3", self->region);
  self->multipart_threshold = config->multipart_threshold ? config->multipart_threshold : 64 * MIB;
  self->part_size = config->part_size ? config->part_size : 16 * MIB;
  self->max_attempts = config->max_attempts ? config->max_attempts : 5;
  self->retry_delay_ms = config->retry_delay_ms ? config->retry_delay_ms : 200;
  self->retry_max_delay_ms = config->retry_max_delay_ms ? config->retry_max_delay_ms : 5000;
  self->connect_timeout_s = config->connect_timeout_s ? config->connect_timeout_s : 5;
  self->timeout_s = config->timeout_s ? config->timeout_s : 120;
  if (self->part_size < MIN_PART_SIZE)
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CONFIG,
                   "S3 part size %" G_GUINT64_FORMAT " bytes is below S3's minimum of 5 MiB",
                   self->part_size);
      return NULL;
    }
  if (self->multipart_threshold < self->part_size)
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CONFIG,
                   "S3 multipart threshold %" G_GUINT64_FORMAT
                   " is below the part size %" G_GUINT64_FORMAT,
                   self->multipart_threshold, self->part_size);
      return NULL;
    }
  if (config->credentials_file == NULL)
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CREDENTIALS,
                   "no S3 credentials file given");
      return NULL;
    }
  if (!load_credentials (self, config->credentials_file, error))
    return NULL;
  self->curl = curl_easy_init ();
  if (self->curl == NULL)
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_FAILED, "curl_easy_init failed");
      return NULL;
    }
  return g_steal_pointer (&self);
}

void
panel_s3_free (PanelS3 *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->curl, curl_easy_cleanup);
  g_free (self->endpoint);
  g_free (self->region);
  g_free (self->bucket);
  if (self->secret_key != NULL)
    memset (self->secret_key, 0, strlen (self->secret_key));
  g_free (self->access_key);
  g_free (self->secret_key);
  g_free (self->ca_file);
  g_free (self->sigv4);
  g_free (self);
}

void
panel_s3_corrupt_md5_for_test (PanelS3 *self, guint nth)
{
  self->corrupt_md5 = nth;
}

void
panel_s3_object_clear (PanelS3Object *object)
{
  g_clear_pointer (&object->etag, g_free);
  g_clear_pointer (&object->version_id, g_free);
  g_clear_pointer (&object->sha256, g_free);
  memset (object, 0, sizeof *object);
}

/* ---- URLs ---------------------------------------------------------------- */

/* RFC 3986 unreserved characters stay, '/' stays in keys; everything else is
 * %XX with upper-case hex, the form SigV4's canonical URI expects. */
static void
append_encoded (GString *out, const char *s, gboolean keep_slash)
{
  for (const guchar *p = (const guchar *) s; *p; p++)
    {
      if (g_ascii_isalnum (*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~'
          || (keep_slash && *p == '/'))
        g_string_append_c (out, *p);
      else
        g_string_append_printf (out, "%%%02X", *p);
    }
}

static gboolean
check_key (const char *key, GError **error)
{
  gsize n = strlen (key);

  if (n == 0 || n > 1024 || !g_utf8_validate (key, n, NULL) || key[0] == '/')
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CONFIG,
                   "S3 object key '%s': expected 1 to 1024 bytes of UTF-8 not starting with '/'",
                   key);
      return FALSE;
    }
  for (gsize i = 0; i < n; i++)
    if ((guchar) key[i] < 0x20 || key[i] == 0x7f)
      {
        g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CONFIG,
                     "S3 object key contains a control character");
        return FALSE;
      }
  return TRUE;
}

static char *
request_url (PanelS3 *self, const char *key, const char *query)
{
  GString *url = g_string_new (NULL);

  if (self->addressing == PANEL_S3_VIRTUAL_HOST)
    {
      const char *host = strstr (self->endpoint, "://") + 3;

      g_string_append_len (url, self->endpoint, host - self->endpoint);
      g_string_append_printf (url, "%s.%s/", self->bucket, host);
    }
  else
    {
      g_string_append_printf (url, "%s/%s", self->endpoint, self->bucket);
      if (key != NULL)
        g_string_append_c (url, '/');
    }
  if (key != NULL)
    append_encoded (url, key, TRUE);
  if (query != NULL)
    g_string_append_printf (url, "?%s", query);
  return g_string_free (url, FALSE);
}

/* "versionId=V" with V encoded, or NULL. Extra is a sorted prefix such as
 * "retention=" (every subresource name sorts before "versionId"). */
static char *
version_query (const char *extra, const char *version_id)
{
  GString *q = g_string_new (extra);

  if (version_id != NULL)
    {
      if (q->len > 0)
        g_string_append_c (q, '&');
      g_string_append (q, "versionId=");
      append_encoded (q, version_id, FALSE);
    }
  if (q->len == 0)
    {
      g_string_free (q, TRUE);
      return NULL;
    }
  return g_string_free (q, FALSE);
}

/* ---- XML answers --------------------------------------------------------- */

/* Collects the text of the first element of each wanted name, anywhere. */
typedef struct {
  const char *const *names;
  char **values;
  int current;           /* index into names of the open element, or -1 */
  const char *list_name; /* every element of this name goes to list */
  GPtrArray *list;
  gboolean in_list;
  gboolean have_root;
  char root_name[32];
} XmlPick;

static void
xml_start (GMarkupParseContext *ctx, const char *element, const char **an, const char **av,
           gpointer user_data, GError **error)
{
  XmlPick *p = user_data;

  (void) ctx, (void) an, (void) av, (void) error;
  if (!p->have_root)
    {
      g_strlcpy (p->root_name, element, sizeof p->root_name);
      p->have_root = TRUE;
    }
  p->current = -1;
  p->in_list = p->list_name != NULL && strcmp (element, p->list_name) == 0 && p->list->len < 100000;
  if (p->in_list)
    g_ptr_array_add (p->list, g_strdup (""));
  for (int i = 0; p->names[i] != NULL; i++)
    if (strcmp (p->names[i], element) == 0 && p->values[i] == NULL)
      {
        p->current = i;
        p->values[i] = g_strdup ("");
      }
}

static void
xml_end (GMarkupParseContext *ctx, const char *element, gpointer user_data, GError **error)
{
  XmlPick *p = user_data;

  (void) ctx, (void) element, (void) error;
  p->current = -1;
  p->in_list = FALSE;
}

static void
xml_text (GMarkupParseContext *ctx, const char *text, gsize len, gpointer user_data, GError **error)
{
  XmlPick *p = user_data;

  (void) ctx, (void) error;
  if (p->in_list)
    {
      char **last = (char **) &g_ptr_array_index (p->list, p->list->len - 1);

      if (strlen (*last) + len < 4096)
        {
          char *joined = g_strdup_printf ("%s%.*s", *last, (int) len, text);

          g_free (*last);
          *last = joined;
        }
    }
  if (p->current >= 0 && strlen (p->values[p->current]) + len < 4096)
    {
      char *joined = g_strdup_printf ("%s%.*s", p->values[p->current], (int) len, text);

      g_free (p->values[p->current]);
      p->values[p->current] = joined;
    }
}

static const GMarkupParser xml_parser = { xml_start, xml_end, xml_text, NULL, NULL };

/* Parses body; values[i] gets the text of names[i] or NULL. Returns the root
 * element's name ("" if the body is not XML). */
static char *
xml_pick_list (GByteArray *body, const char *const *names, char **values, const char *list_name,
               GPtrArray *list)
{
  XmlPick p = {
    .names = names, .values = values, .current = -1, .list_name = list_name, .list = list
  };
  g_autoptr (GMarkupParseContext) ctx = NULL;
  const char *data;
  gsize len;

  if (body == NULL || body->len == 0)
    return g_strdup ("");
  data = (const char *) body->data;
  len = body->len;
  /* GMarkup does not take the XML declaration. */
  if (len > 5 && memcmp (data, "<?xml", 5) == 0)
    {
      const char *end = g_strstr_len (data, len, "?>");

      if (end != NULL)
        {
          len -= end + 2 - data;
          data = end + 2;
        }
    }
  ctx = g_markup_parse_context_new (&xml_parser, G_MARKUP_IGNORE_QUALIFIED, &p, NULL);
  if (!g_markup_parse_context_parse (ctx, data, len, NULL)
      || !g_markup_parse_context_end_parse (ctx, NULL))
    return g_strdup (p.have_root ? p.root_name : "");
  return g_strdup (p.root_name);
}

static char *
xml_pick (GByteArray *body, const char *const *names, char **values)
{
  return xml_pick_list (body, names, values, NULL, NULL);
}

/* ---- transfers ----------------------------------------------------------- */

static size_t
on_write (char *ptr, size_t size, size_t nmemb, void *user_data)
{
  S3Response *r = user_data;
  gsize n = size * nmemb;

  if (r->body->len + n > r->max)
    {
      r->too_large = TRUE;
      return 0;
    }
  g_byte_array_append (r->body, (const guint8 *) ptr, n);
  return n;
}

static size_t
on_header (char *ptr, size_t size, size_t nmemb, void *user_data)
{
  S3Response *r = user_data;
  gsize n = size * nmemb;
  g_autofree char *line = g_strndup (ptr, n);
  char *colon;

  /* A new status line (after "100 Continue") starts a new header set. */
  if (g_str_has_prefix (line, "HTTP/"))
    {
      g_hash_table_remove_all (r->headers);
      return n;
    }
  colon = strchr (line, ':');
  if (colon != NULL && g_hash_table_size (r->headers) < 200)
    {
      *colon = '\0';
      g_hash_table_replace (r->headers, g_ascii_strdown (g_strstrip (line), -1),
                            g_strdup (g_strstrip (colon + 1)));
    }
  return n;
}

static size_t
on_read (char *buffer, size_t size, size_t nitems, void *user_data)
{
  S3Response *r = user_data;
  gsize n = MIN (size * nitems, r->send_len - r->send_pos);

  memcpy (buffer, r->send + r->send_pos, n);
  r->send_pos += n;
  return n;
}

static int
on_seek (void *user_data, curl_off_t offset, int origin)
{
  S3Response *r = user_data;

  if (origin != SEEK_SET || offset < 0 || (gsize) offset > r->send_len)
    return CURL_SEEKFUNC_CANTSEEK;
  r->send_pos = offset;
  return CURL_SEEKFUNC_OK;
}

static gboolean
retryable_curl (CURLcode code)
{
  switch (code)
    {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return TRUE;
    default: return FALSE;
    }
}

static gboolean
retryable_status (long status)
{
  return status >= 500 || status == 429;
}

static PanelS3ErrorCode
error_code_for (long status, const char *code)
{
  static const struct {
    const char *code;
    PanelS3ErrorCode value;
  } map[] = {
    { "NoSuchKey", PANEL_S3_ERROR_NOT_FOUND },
    { "NoSuchBucket", PANEL_S3_ERROR_NOT_FOUND },
    { "NoSuchVersion", PANEL_S3_ERROR_NOT_FOUND },
    { "NoSuchUpload", PANEL_S3_ERROR_NOT_FOUND },
    { "AccessDenied", PANEL_S3_ERROR_ACCESS_DENIED },
    { "SignatureDoesNotMatch", PANEL_S3_ERROR_AUTH },
    { "InvalidAccessKeyId", PANEL_S3_ERROR_AUTH },
    { "AuthorizationHeaderMalformed", PANEL_S3_ERROR_AUTH },
    { "RequestTimeTooSkewed", PANEL_S3_ERROR_AUTH },
    { "BadDigest", PANEL_S3_ERROR_BAD_DIGEST },
    { "InvalidDigest", PANEL_S3_ERROR_BAD_DIGEST },
    { "XAmzContentSHA256Mismatch", PANEL_S3_ERROR_BAD_DIGEST },
  };

  if (code != NULL)
    for (gsize i = 0; i < G_N_ELEMENTS (map); i++)
      if (strcmp (map[i].code, code) == 0)
        return map[i].value;
  if (status >= 500 || status == 429)
    return PANEL_S3_ERROR_UNAVAILABLE;
  if (status == 404)
    return PANEL_S3_ERROR_NOT_FOUND;
  if (status == 403)
    return PANEL_S3_ERROR_ACCESS_DENIED;
  return PANEL_S3_ERROR_FAILED;
}

/* "S3 PUT bucket/key: HTTP 400 BadDigest: message (request id)". */
static void
set_s3_error (GError **error, const S3Request *req, PanelS3 *self, S3Response *r, const char *what)
{
  static const char *const names[] = { "Code", "Message", "RequestId", NULL };
  char *values[4] = { NULL };
  g_free (xml_pick (r->body, names, values)); /* only the values matter here */
  g_autofree char *target = g_strdup_printf ("%s/%s", self->bucket, req->key ? req->key : "");
  const char *code = values[0];

  /* HEAD answers have no body; name the status the way S3 would. */
  if (code == NULL && r->status == 404)
    code = "NotFound";
  g_set_error (error, PANEL_S3_ERROR, error_code_for (r->status, code),
               "S3 %s %s: %sHTTP %ld %s%s%s%s%s%s", req->method, target, what ? what : "",
               r->status, code ? code : "(no S3 error code)", values[1] && *values[1] ? ": " : "",
               values[1] ? values[1] : "", values[2] ? " (request " : "",
               values[2] ? values[2] : "", values[2] ? ")" : "");
  for (int i = 0; i < 3; i++)
    g_free (values[i]);
}

/* Performs req on c, retrying on 5xx and network errors. TRUE on a 2xx
 * answer (a 200 with an <Error> body, as CompleteMultipartUpload may send,
 * is an error); out gets the answer either way for the caller to read. */
static gboolean
perform_on (PanelS3 *self, CURL *c, const S3Request *req, S3Response *out, GError **error)
{
  g_autofree char *url = request_url (self, req->key, req->query);
  g_autofree char *sha_header = NULL;
  g_autofree char *md5_header = NULL;
  char errbuf[CURL_ERROR_SIZE];
  CURLcode code = CURLE_OK;

  /* The payload hash is signed (curl 7.88 does not compute it itself); the
   * MD5 lets the server refuse bytes altered on the way. */
  if (req->has_body)
    {
      guint8 md5[EVP_MAX_MD_SIZE];
      unsigned int md5_len = 0;
      char sha_hex[ANSIM_SHA256_HEX_LEN + 1];
      g_autofree char *b64 = NULL;

      if (!EVP_Digest (req->body, req->body_len, md5, &md5_len, EVP_md5 (), NULL))
        {
          g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_FAILED, "S3 %s: hashing failed",
                       req->method);
          return FALSE;
        }
      if (req->body_sha256 != NULL)
        g_strlcpy (sha_hex, req->body_sha256, sizeof sha_hex);
      else
        ansim_hash_sha256_hex (req->body, req->body_len, sha_hex);
      if (self->corrupt_md5 > 0 && --self->corrupt_md5 == 0)
        md5[0] ^= 0xff;
      b64 = g_base64_encode (md5, md5_len);
      sha_header = g_strdup_printf ("x-amz-content-sha256: %s", sha_hex);
      md5_header = g_strdup_printf ("Content-MD5: %s", b64);
    }
  else
    {
      sha_header = g_strdup ("x-amz-content-sha256: " EMPTY_SHA256);
    }

  memset (out, 0, sizeof *out);
  out->headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  out->body = g_byte_array_new ();
  for (guint attempt = 1;; attempt++)
    {
      g_autoptr (AnsimCurlSlist) headers = NULL;
      g_byte_array_set_size (out->body, 0);
      g_hash_table_remove_all (out->headers);
      out->status = 0;
      out->too_large = FALSE;
      out->max = req->max_response ? req->max_response : MAX_ERROR_BODY;
      out->send = req->body;
      out->send_len = req->body_len;
      out->send_pos = 0;
      errbuf[0] = '\0';

      curl_easy_reset (c);
      headers = curl_slist_append (headers, sha_header);
      if (md5_header != NULL)
        headers = curl_slist_append (headers, md5_header);
      /* "Expect:" must not be blanked here: curl 7.88 would sign the empty
     * header it then does not send. The 100-continue stays. */
      for (guint i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
        headers = curl_slist_append (headers, req->headers[i]);

      curl_easy_setopt (c, CURLOPT_URL, url);
      curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
      curl_easy_setopt (c, CURLOPT_AWS_SIGV4, self->sigv4);
      curl_easy_setopt (c, CURLOPT_USERNAME, self->access_key);
      curl_easy_setopt (c, CURLOPT_PASSWORD, self->secret_key);
      curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, (long) self->connect_timeout_s);
      curl_easy_setopt (c, CURLOPT_TIMEOUT, (long) self->timeout_s);
      curl_easy_setopt (c, CURLOPT_ERRORBUFFER, errbuf);
      curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, on_write);
      curl_easy_setopt (c, CURLOPT_WRITEDATA, out);
      curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, on_header);
      curl_easy_setopt (c, CURLOPT_HEADERDATA, out);
      if (self->ca_file != NULL)
        curl_easy_setopt (c, CURLOPT_CAINFO, self->ca_file);

      if (strcmp (req->method, "HEAD") == 0)
        {
          curl_easy_setopt (c, CURLOPT_NOBODY, 1L);
        }
      else if (strcmp (req->method, "PUT") == 0)
        {
          curl_easy_setopt (c, CURLOPT_UPLOAD, 1L);
          curl_easy_setopt (c, CURLOPT_READFUNCTION, on_read);
          curl_easy_setopt (c, CURLOPT_READDATA, out);
          curl_easy_setopt (c, CURLOPT_SEEKFUNCTION, on_seek);
          curl_easy_setopt (c, CURLOPT_SEEKDATA, out);
          curl_easy_setopt (c, CURLOPT_INFILESIZE_LARGE, (curl_off_t) req->body_len);
          /* Larger reads than the 64 KiB default: fewer callbacks and syscalls. */
          curl_easy_setopt (c, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
        }
      else if (strcmp (req->method, "POST") == 0)
        {
          curl_easy_setopt (c, CURLOPT_POST, 1L);
          curl_easy_setopt (c, CURLOPT_POSTFIELDS, req->has_body ? (const char *) req->body : "");
          curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
        }
      else if (strcmp (req->method, "GET") != 0)
        {
          curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, req->method);
        }

      code = curl_easy_perform (c);
      if (code == CURLE_OK)
        curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &out->status);
      /* Options point into this iteration's header list. */
      curl_easy_setopt (c, CURLOPT_HTTPHEADER, NULL);

      if (code == CURLE_WRITE_ERROR && out->too_large)
        {
          g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_TOO_LARGE,
                       "S3 %s %s/%s: answer larger than %" G_GSIZE_FORMAT " bytes", req->method,
                       self->bucket, req->key ? req->key : "", out->max);
          return FALSE;
        }
      if (code == CURLE_OK && !retryable_status (out->status))
        break;
      if ((code != CURLE_OK && !retryable_curl (code)) || attempt >= self->max_attempts)
        break;
      g_debug ("S3 %s %s: %s, retrying (attempt %u of %u)", req->method, url,
               code != CURLE_OK ? curl_easy_strerror (code) : "server error", attempt + 1,
               self->max_attempts);
      /* Jitter: many panels behind one gateway do not retry in step. */
      g_usleep ((gulong) ansim_backoff (self->retry_delay_ms, self->retry_max_delay_ms, attempt)
                * 1000);
    }

  if (code != CURLE_OK)
    {
      gboolean transient = retryable_curl (code);
      g_autofree char *what =
        transient ? g_strdup_printf ("no answer after %u attempts: ", self->max_attempts)
                  : g_strdup ("");

      g_set_error (error, PANEL_S3_ERROR,
                   transient ? PANEL_S3_ERROR_UNAVAILABLE : PANEL_S3_ERROR_FAILED,
                   "S3 %s %s/%s: %s%s", req->method, self->bucket, req->key ? req->key : "", what,
                   errbuf[0] ? errbuf : curl_easy_strerror (code));
      return FALSE;
    }
  if (out->status < 200 || out->status > 299)
    {
      g_autofree char *what =
        retryable_status (out->status)
          ? g_strdup_printf ("still failing after %u attempts: ", self->max_attempts)
          : NULL;

      set_s3_error (error, req, self, out, what);
      return FALSE;
    }
  /* CompleteMultipartUpload may fail after its 200 header was sent. Only
   * POST answers are checked: a GET body is the caller's data. */
  if (strcmp (req->method, "POST") == 0 && out->body->len > 0
      && g_strstr_len ((const char *) out->body->data, MIN (out->body->len, 256), "<Error>")
           != NULL)
    {
      set_s3_error (error, req, self, out, "error in a 2xx answer: ");
      return FALSE;
    }
  return TRUE;
}

/* The panel calls the store from several threads (ingest workers, the
 * console): each request takes the idle handle, or a new one when another
 * request holds it, and gives it back (or frees it) when done. */
static gboolean
perform (PanelS3 *self, const S3Request *req, S3Response *out, GError **error)
{
  CURL *c = g_atomic_pointer_exchange (&self->curl, NULL);
  if (c == NULL && (c = curl_easy_init ()) == NULL)
    {
      memset (out, 0, sizeof *out);
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_FAILED, "curl_easy_init failed");
      return FALSE;
    }
  gboolean ok = perform_on (self, c, req, out, error);
  if (!g_atomic_pointer_compare_and_exchange (&self->curl, NULL, c))
    curl_easy_cleanup (c);
  return ok;
}

/* ---- objects ------------------------------------------------------------- */

static const char *
lock_mode_name (PanelS3LockMode mode)
{
  return mode == PANEL_S3_LOCK_COMPLIANCE ? "COMPLIANCE" : "GOVERNANCE";
}

static char *
iso8601 (gint64 unix_seconds)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (unix_seconds);

  return dt != NULL ? g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ") : g_strdup ("");
}

static char *
strip_quotes (const char *etag)
{
  gsize n;

  if (etag == NULL)
    return NULL;
  n = strlen (etag);
  if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"')
    return g_strndup (etag + 1, n - 2);
  return g_strdup (etag);
}

static char *
take_version (S3Response *r)
{
  const char *v = g_hash_table_lookup (r->headers, "x-amz-version-id");

  /* An unversioned bucket may say "null". */
  return v != NULL && *v != '\0' && strcmp (v, "null") != 0 ? g_strdup (v) : NULL;
}

static gboolean
put_single (PanelS3 *self, const char *key, GBytes *data, const PanelS3PutOptions *options,
            char **out_version_id, GError **error)
{
  g_autoptr (GPtrArray) headers = g_ptr_array_new_with_free_func (g_free);
  g_auto (S3Response) r = { 0 };
  gsize len = 0;
  char sha[65];
  S3Request req = { .method = "PUT", .key = key, .has_body = TRUE, .body_sha256 = sha };

  req.body = g_bytes_get_data (data, &len);
  req.body_len = len;
  if (req.body == NULL)
    req.body = (const guint8 *) "";
  /* The server hashes the body against x-amz-content-sha256 itself. */
  if (options->sha256 != NULL)
    g_strlcpy (sha, options->sha256, sizeof sha);
  else
    ansim_hash_sha256_hex (req.body, len, sha);
  g_ptr_array_add (headers, g_strdup_printf ("x-amz-meta-sha256: %s", sha));
  g_ptr_array_add (headers, g_strdup_printf ("Content-Type: %s", options->content_type
                                                                   ? options->content_type
                                                                   : "application/octet-stream"));
  /* In the same request, so the version is never unlocked for a moment. */
  if (options->retain_until != 0)
    {
      g_autofree char *date = iso8601 (options->retain_until);

      g_ptr_array_add (headers, g_strdup_printf ("x-amz-object-lock-mode: %s",
                                                 lock_mode_name (options->lock_mode)));
      g_ptr_array_add (headers, g_strdup_printf ("x-amz-object-lock-retain-until-date: %s", date));
    }
  if (options->legal_hold)
    g_ptr_array_add (headers, g_strdup ("x-amz-object-lock-legal-hold: ON"));
  g_ptr_array_add (headers, NULL);
  req.headers = (const char *const *) headers->pdata;
  if (!perform (self, &req, &r, error))
    return FALSE;
  if (out_version_id != NULL)
    *out_version_id = take_version (&r);
  return TRUE;
}

static void
abort_upload (PanelS3 *self, const char *key, const char *upload_id)
{
  g_autoptr (GError) error = NULL;
  g_auto (S3Response) r = { 0 };
  g_autoptr (GString) q = g_string_new ("uploadId=");
  S3Request req = { .method = "DELETE", .key = key };

  append_encoded (q, upload_id, FALSE);
  req.query = q->str;
  if (!perform (self, &req, &r, &error))
    g_debug ("aborting multipart upload of %s failed, ignoring (the bucket's lifecycle "
             "rule must clean it): %s",
             key, error->message);
}

/* Initiate, send the parts (each with its own Content-MD5), complete; on any
 * failure the upload is aborted so that no partial object is left. */
static gboolean
put_multipart (PanelS3 *self, const char *key, GBytes *data, const PanelS3PutOptions *options,
               char **out_version_id, GError **error)
{
  static const char *const upload_names[] = { "UploadId", NULL };
  g_autofree char *content_type = g_strdup_printf (
    "Content-Type: %s", options->content_type ? options->content_type : "application/octet-stream");
  char sha[65];
  g_autofree char *sha_meta = NULL;
  const char *init_headers[] = { content_type, NULL, NULL };
  g_autoptr (GString) complete = g_string_new ("<CompleteMultipartUpload>");
  g_autoptr (GString) upload_q = g_string_new ("uploadId=");
  g_autofree char *upload_id = NULL;
  char *values[2] = { NULL };
  gsize len = 0;
  const guint8 *bytes = g_bytes_get_data (data, &len);
  guint64 parts = (len + self->part_size - 1) / self->part_size;

  if (parts > MAX_PARTS)
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CONFIG,
                   "S3 object %s of %" G_GSIZE_FORMAT " bytes needs more than %d parts; raise the "
                   "part size",
                   key, len, MAX_PARTS);
      return FALSE;
    }
  /* The whole object's hash, recorded at initiation like any metadata. */
  ansim_hash_sha256_hex (bytes, len, sha);
  /* Parts are checked one by one by the server; the whole here. */
  if (options->sha256 != NULL && g_ascii_strcasecmp (options->sha256, sha) != 0)
    {
      g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_BAD_DIGEST,
                   "S3 PUT %s/%s: the data's SHA-256 is %s, not %s as declared", self->bucket, key,
                   sha, options->sha256);
      return FALSE;
    }
  init_headers[1] = sha_meta = g_strdup_printf ("x-amz-meta-sha256: %s", sha);

  {
    g_auto (S3Response) r = { 0 };
    S3Request req = { .method = "POST",
                      .key = key,
                      .query = "uploads=",
                      .headers = init_headers,
                      .max_response = MAX_ERROR_BODY };

    if (!perform (self, &req, &r, error))
      return FALSE;
    g_free (xml_pick (r.body, upload_names, values));
    upload_id = values[0];
    if (upload_id == NULL || *upload_id == '\0')
      {
        g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_FAILED,
                     "S3 POST %s/%s?uploads: answer without an UploadId", self->bucket, key);
        return FALSE;
      }
  }
  append_encoded (upload_q, upload_id, FALSE);

  for (guint64 i = 0; i < parts; i++)
    {
      g_auto (S3Response) r = { 0 };
      g_autofree char *query =
        g_strdup_printf ("partNumber=%" G_GUINT64_FORMAT "&%s", i + 1, upload_q->str);
      gsize off = i * self->part_size;
      S3Request req = { .method = "PUT",
                        .key = key,
                        .query = query,
                        .has_body = TRUE,
                        .body = bytes + off,
                        .body_len = MIN (self->part_size, len - off) };
      g_autofree char *etag = NULL;

      if (!perform (self, &req, &r, error))
        {
          abort_upload (self, key, upload_id);
          return FALSE;
        }
      etag = strip_quotes (g_hash_table_lookup (r.headers, "etag"));
      if (etag == NULL || *etag == '\0')
        {
          abort_upload (self, key, upload_id);
          g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_FAILED,
                       "S3 PUT %s/%s part %" G_GUINT64_FORMAT ": answer without an ETag",
                       self->bucket, key, i + 1);
          return FALSE;
        }
      g_string_append_printf (complete,
                              "<Part><PartNumber>%" G_GUINT64_FORMAT "</PartNumber>"
                              "<ETag>\"%s\"</ETag></Part>",
                              i + 1, etag);
    }
  g_string_append (complete, "</CompleteMultipartUpload>");

  {
    g_auto (S3Response) r = { 0 };
    const char *xml_headers[] = { "Content-Type: application/xml", NULL };
    S3Request req = { .method = "POST",
                      .key = key,
                      .query = upload_q->str,
                      .has_body = TRUE,
                      .body = (const guint8 *) complete->str,
                      .body_len = complete->len,
                      .headers = xml_headers };

    if (!perform (self, &req, &r, error))
      {
        abort_upload (self, key, upload_id);
        return FALSE;
      }
    if (out_version_id != NULL)
      *out_version_id = take_version (&r);
  }
  return TRUE;
}

gboolean
panel_s3_put (PanelS3 *self, const char *key, GBytes *data, const PanelS3PutOptions *options,
              char **out_version_id, GError **error)
{
  static const PanelS3PutOptions none = { 0 };
  g_autofree char *version = NULL;
  g_autoptr (GError) local = NULL;

  g_return_val_if_fail (self != NULL && key != NULL && data != NULL, FALSE);
  if (options == NULL)
    options = &none;
  if (!check_key (key, error))
    return FALSE;
  if (g_bytes_get_size (data) < self->multipart_threshold)
    return put_single (self, key, data, options, out_version_id, error);

  if (!put_multipart (self, key, data, options, &version, error))
    return FALSE;
  /* Lock headers at initiation are not honoured everywhere (Ceph RGW 16
   * ignores them), so the lock is set on the finished version. */
  if ((options->retain_until != 0
       && !panel_s3_set_retention (self, key, version, options->lock_mode, options->retain_until,
                                   FALSE, &local))
      || (options->legal_hold && !panel_s3_set_legal_hold (self, key, version, TRUE, &local)))
    {
      g_autoptr (GError) undo = NULL;

      if (!panel_s3_delete (self, key, version, TRUE, &undo))
        g_prefix_error (&local,
                        "and removing the unlocked version failed too (%s): ", undo->message);
      g_propagate_prefixed_error (error, g_steal_pointer (&local),
                                  "locking the uploaded object failed: ");
      return FALSE;
    }
  if (out_version_id != NULL)
    *out_version_id = g_steal_pointer (&version);
  return TRUE;
}

gboolean
panel_s3_head (PanelS3 *self, const char *key, const char *version_id, PanelS3Object *out_object,
               GError **error)
{
  g_autofree char *query = version_query ("", version_id);
  g_auto (S3Response) r = { 0 };
  S3Request req = { .method = "HEAD", .key = key, .query = query };
  const char *v;

  g_return_val_if_fail (self != NULL && key != NULL, FALSE);
  if (!check_key (key, error) || !perform (self, &req, &r, error))
    return FALSE;
  if (out_object == NULL)
    return TRUE;
  memset (out_object, 0, sizeof *out_object);
  v = g_hash_table_lookup (r.headers, "content-length");
  out_object->size = v != NULL ? g_ascii_strtoull (v, NULL, 10) : 0;
  out_object->etag = strip_quotes (g_hash_table_lookup (r.headers, "etag"));
  out_object->version_id = take_version (&r);
  out_object->sha256 = g_strdup (g_hash_table_lookup (r.headers, "x-amz-meta-sha256"));
  v = g_hash_table_lookup (r.headers, "x-amz-object-lock-mode");
  if (v != NULL)
    out_object->lock_mode = g_ascii_strcasecmp (v, "COMPLIANCE") == 0 ? PANEL_S3_LOCK_COMPLIANCE
                                                                      : PANEL_S3_LOCK_GOVERNANCE;
  v = g_hash_table_lookup (r.headers, "x-amz-object-lock-retain-until-date");
  if (v != NULL)
    {
      g_autoptr (GDateTime) dt = g_date_time_new_from_iso8601 (v, NULL);

      out_object->retain_until = dt != NULL ? g_date_time_to_unix (dt) : 0;
    }
  v = g_hash_table_lookup (r.headers, "x-amz-object-lock-legal-hold");
  out_object->legal_hold = v != NULL && g_ascii_strcasecmp (v, "ON") == 0;
  return TRUE;
}

gboolean
panel_s3_exists (PanelS3 *self, const char *key, gboolean *out_exists, GError **error)
{
  g_autoptr (GError) local = NULL;

  if (panel_s3_head (self, key, NULL, NULL, &local))
    {
      *out_exists = TRUE;
      return TRUE;
    }
  if (g_error_matches (local, PANEL_S3_ERROR, PANEL_S3_ERROR_NOT_FOUND))
    {
      *out_exists = FALSE;
      return TRUE;
    }
  g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}

GBytes *
panel_s3_get (PanelS3 *self, const char *key, const char *version_id, gsize max_size,
              GError **error)
{
  g_autofree char *query = version_query ("", version_id);
  g_auto (S3Response) r = { 0 };
  S3Request req = { .method = "GET", .key = key, .query = query, .max_response = max_size };

  const char *recorded;

  g_return_val_if_fail (self != NULL && key != NULL && max_size > 0, NULL);
  if (!check_key (key, error) || !perform (self, &req, &r, error))
    return NULL;
  /* Evidence read back is checked against the hash taken when it was
   * stored: damage at rest or on the way is an error, not footage. */
  recorded = g_hash_table_lookup (r.headers, "x-amz-meta-sha256");
  if (recorded != NULL)
    {
      char sha[65];

      ansim_hash_sha256_hex (r.body->data, r.body->len, sha);
      if (g_ascii_strcasecmp (sha, recorded) != 0)
        {
          g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_BAD_DIGEST,
                       "S3 GET %s/%s: the %u bytes received have SHA-256 %s, not %s as recorded at "
                       "upload",
                       self->bucket, key, r.body->len, sha, recorded);
          return NULL;
        }
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&r.body));
}

gboolean
panel_s3_delete (PanelS3 *self, const char *key, const char *version_id, gboolean bypass_governance,
                 GError **error)
{
  g_autofree char *query = version_query ("", version_id);
  const char *bypass[] = { "x-amz-bypass-governance-retention: true", NULL };
  g_auto (S3Response) r = { 0 };
  S3Request req = {
    .method = "DELETE", .key = key, .query = query, .headers = bypass_governance ? bypass : NULL
  };

  g_return_val_if_fail (self != NULL && key != NULL, FALSE);
  return check_key (key, error) && perform (self, &req, &r, error);
}

GPtrArray *
panel_s3_list (PanelS3 *self, const char *prefix, guint max_keys, GError **error)
{
  static const char *const names[] = { "IsTruncated", "NextContinuationToken", NULL };
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *token = NULL;

  g_return_val_if_fail (self != NULL && prefix != NULL, NULL);
  do
    {
      g_auto (S3Response) r = { 0 };
      g_autoptr (GString) q = g_string_new (NULL);
      S3Request req = { .method = "GET", .max_response = 16 * MIB };
      char *values[3] = { NULL };
      g_autofree char *root = NULL;
      gboolean truncated;

      /* Sorted by name, as SigV4 with curl 7.88 needs. */
      if (token != NULL)
        {
          g_string_append (q, "continuation-token=");
          append_encoded (q, token, FALSE);
          g_string_append_c (q, '&');
        }
      g_string_append (q, "list-type=2&max-keys=1000&prefix=");
      append_encoded (q, prefix, FALSE);
      req.query = q->str;
      if (!perform (self, &req, &r, error))
        return NULL;
      root = xml_pick_list (r.body, names, values, "Key", keys);
      truncated = g_strcmp0 (values[0], "true") == 0;
      g_clear_pointer (&token, g_free);
      token = values[1];
      g_free (values[0]);
      if (strcmp (root, "ListBucketResult") != 0
          || (truncated && (token == NULL || *token == '\0')))
        {
          g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_FAILED,
                       "S3 GET %s?list-type=2: not a ListBucketResult answer", self->bucket);
          return NULL;
        }
      if (keys->len > max_keys)
        {
          g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_TOO_LARGE,
                       "S3 bucket %s has more than %u keys under '%s'", self->bucket, max_keys,
                       prefix);
          return NULL;
        }
      if (!truncated)
        break;
    }
  while (TRUE);
  return g_steal_pointer (&keys);
}

/* ListObjectVersions: one PanelS3Version per <Version> and <DeleteMarker>. */
typedef struct {
  GPtrArray *list;
  PanelS3Version *current; /* inside a Version or DeleteMarker */
  GString *text;
  char *truncated, *next_key, *next_version;
  gboolean have_root;
  char root_name[32];
} VersionsParse;

static void
versions_start (GMarkupParseContext *ctx, const char *element, const char **an, const char **av,
                gpointer user_data, GError **error)
{
  VersionsParse *p = user_data;

  (void) ctx, (void) an, (void) av, (void) error;
  if (!p->have_root)
    {
      g_strlcpy (p->root_name, element, sizeof p->root_name);
      p->have_root = TRUE;
    }
  if ((strcmp (element, "Version") == 0 || strcmp (element, "DeleteMarker") == 0)
      && p->current == NULL && p->list->len < 100000)
    {
      p->current = g_new0 (PanelS3Version, 1);
      p->current->is_delete_marker = strcmp (element, "DeleteMarker") == 0;
    }
  g_string_truncate (p->text, 0);
}

static void
versions_end (GMarkupParseContext *ctx, const char *element, gpointer user_data, GError **error)
{
  VersionsParse *p = user_data;
  PanelS3Version *v = p->current;

  (void) ctx, (void) error;
  if (v != NULL && (strcmp (element, "Version") == 0 || strcmp (element, "DeleteMarker") == 0))
    {
      g_ptr_array_add (p->list, v);
      p->current = NULL;
    }
  else if (v != NULL && strcmp (element, "Key") == 0 && v->key == NULL)
    {
      v->key = g_strdup (p->text->str);
    }
  else if (v != NULL && strcmp (element, "VersionId") == 0 && v->version_id == NULL)
    {
      v->version_id = g_strdup (p->text->str);
    }
  else if (v != NULL && strcmp (element, "Size") == 0)
    {
      v->size = g_ascii_strtoull (p->text->str, NULL, 10);
    }
  else if (v == NULL && strcmp (element, "IsTruncated") == 0 && p->truncated == NULL)
    {
      p->truncated = g_strdup (p->text->str);
    }
  else if (v == NULL && strcmp (element, "NextKeyMarker") == 0 && p->next_key == NULL)
    {
      p->next_key = g_strdup (p->text->str);
    }
  else if (v == NULL && strcmp (element, "NextVersionIdMarker") == 0 && p->next_version == NULL)
    {
      p->next_version = g_strdup (p->text->str);
    }
  g_string_truncate (p->text, 0);
}

static void
versions_text (GMarkupParseContext *ctx, const char *text, gsize len, gpointer user_data,
               GError **error)
{
  VersionsParse *p = user_data;

  (void) ctx, (void) error;
  if (p->text->len + len < 4096)
    g_string_append_len (p->text, text, len);
}

static const GMarkupParser versions_parser = { versions_start, versions_end, versions_text, NULL,
                                               NULL };

void
panel_s3_version_free (PanelS3Version *version)
{
  if (version == NULL)
    return;
  g_free (version->key);
  g_free (version->version_id);
  g_free (version);
}

GPtrArray *
panel_s3_list_versions (PanelS3 *self, const char *prefix, guint max_versions, GError **error)
{
  g_autoptr (GPtrArray) list =
    g_ptr_array_new_with_free_func ((GDestroyNotify) panel_s3_version_free);
  g_autofree char *key_marker = NULL, *version_marker = NULL;

  g_return_val_if_fail (self != NULL && prefix != NULL, NULL);
  do
    {
      g_auto (S3Response) r = { 0 };
      g_autoptr (GString) q = g_string_new (NULL);
      g_autoptr (GString) text = g_string_new (NULL);
      S3Request req = { .method = "GET", .max_response = 16 * MIB };
      VersionsParse p = { .list = list, .text = text };
      g_autoptr (GMarkupParseContext) ctx = NULL;
      const char *data;
      gsize len;
      gboolean ok, truncated;

      /* Sorted by name, as SigV4 with curl 7.88 needs. */
      if (key_marker != NULL)
        {
          g_string_append (q, "key-marker=");
          append_encoded (q, key_marker, FALSE);
          g_string_append_c (q, '&');
        }
      g_string_append (q, "max-keys=1000&prefix=");
      append_encoded (q, prefix, FALSE);
      if (version_marker != NULL)
        {
          g_string_append (q, "&version-id-marker=");
          append_encoded (q, version_marker, FALSE);
        }
      g_string_append (q, "&versions=");
      req.query = q->str;
      if (!perform (self, &req, &r, error))
        return NULL;
      data = r.body != NULL ? (const char *) r.body->data : "";
      len = r.body != NULL ? r.body->len : 0;
      if (len > 5 && memcmp (data, "<?xml", 5) == 0)
        {
          const char *end = g_strstr_len (data, len, "?>");

          if (end != NULL)
            {
              len -= end + 2 - data;
              data = end + 2;
            }
        }
      ctx = g_markup_parse_context_new (&versions_parser, G_MARKUP_IGNORE_QUALIFIED, &p, NULL);
      ok = len > 0 && g_markup_parse_context_parse (ctx, data, len, NULL)
           && g_markup_parse_context_end_parse (ctx, NULL)
           && strcmp (p.root_name, "ListVersionsResult") == 0;
      panel_s3_version_free (p.current);
      truncated = g_strcmp0 (p.truncated, "true") == 0;
      g_free (p.truncated);
      g_clear_pointer (&key_marker, g_free);
      g_clear_pointer (&version_marker, g_free);
      key_marker = p.next_key;
      version_marker = p.next_version;
      if (!ok || (truncated && (key_marker == NULL || *key_marker == '\0')))
        {
          g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_FAILED,
                       "S3 GET %s?versions: not a ListVersionsResult answer", self->bucket);
          return NULL;
        }
      for (guint i = 0; i < list->len; i++)
        if (((PanelS3Version *) list->pdata[i])->key == NULL)
          {
            g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_FAILED,
                         "S3 GET %s?versions: a version without a key", self->bucket);
            return NULL;
          }
      if (list->len > max_versions)
        {
          g_set_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_TOO_LARGE,
                       "S3 bucket %s has more than %u versions under '%s'", self->bucket,
                       max_versions, prefix);
          return NULL;
        }
      if (!truncated)
        break;
    }
  while (TRUE);
  return g_steal_pointer (&list);
}

/* ---- Object Lock --------------------------------------------------------- */

static gboolean
put_xml (PanelS3 *self, const char *key, const char *query, const char *xml,
         const char *const *headers, GError **error)
{
  g_auto (S3Response) r = { 0 };
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  S3Request req = { .method = "PUT",
                    .key = key,
                    .query = query,
                    .has_body = TRUE,
                    .body = (const guint8 *) xml,
                    .body_len = strlen (xml) };

  g_ptr_array_add (all, (gpointer) "Content-Type: application/xml");
  for (guint i = 0; headers != NULL && headers[i] != NULL; i++)
    g_ptr_array_add (all, (gpointer) headers[i]);
  g_ptr_array_add (all, NULL);
  req.headers = (const char *const *) all->pdata;
  return perform (self, &req, &r, error);
}

#define S3_XMLNS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

gboolean
panel_s3_set_retention (PanelS3 *self, const char *key, const char *version_id,
                        PanelS3LockMode mode, gint64 retain_until, gboolean bypass_governance,
                        GError **error)
{
  g_autofree char *query = version_query ("retention=", version_id);
  g_autofree char *date = iso8601 (retain_until);
  g_autofree char *xml = g_strdup_printf ("<Retention " S3_XMLNS "><Mode>%s</Mode>"
                                          "<RetainUntilDate>%s</RetainUntilDate></Retention>",
                                          lock_mode_name (mode), date);
  const char *bypass[] = { "x-amz-bypass-governance-retention: true", NULL };

  g_return_val_if_fail (self != NULL && key != NULL && retain_until > 0, FALSE);
  return check_key (key, error)
         && put_xml (self, key, query, xml, bypass_governance ? bypass : NULL, error);
}

gboolean
panel_s3_set_legal_hold (PanelS3 *self, const char *key, const char *version_id, gboolean on,
                         GError **error)
{
  g_autofree char *query = version_query ("legal-hold=", version_id);
  g_autofree char *xml =
    g_strdup_printf ("<LegalHold " S3_XMLNS "><Status>%s</Status></LegalHold>", on ? "ON" : "OFF");

  g_return_val_if_fail (self != NULL && key != NULL, FALSE);
  return check_key (key, error) && put_xml (self, key, query, xml, NULL, error);
}

gboolean
panel_s3_set_default_retention (PanelS3 *self, PanelS3LockMode mode, guint days, GError **error)
{
  g_autofree char *xml = g_strdup_printf (
    "<ObjectLockConfiguration " S3_XMLNS "><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
    "<Rule><DefaultRetention><Mode>%s</Mode><Days>%u</Days></DefaultRetention></Rule>"
    "</ObjectLockConfiguration>",
    lock_mode_name (mode), days);

  g_return_val_if_fail (self != NULL && days > 0, FALSE);
  return put_xml (self, NULL, "object-lock=", xml, NULL, error);
}

/* ---- panel.conf ---------------------------------------------------------- */

PanelS3 *
panel_s3_new_from_config (AnsimConfig *config, GError **error)
{
  g_autofree char *credentials = ansim_config_get_path (config, "panel", "s3_credentials_file");
  g_autofree char *ca_file = NULL;
  PanelS3Config c = {
    .endpoint = ansim_config_get_string (config, "panel", "s3_endpoint"),
    .region = ansim_config_get_string (config, "panel", "s3_region"),
    .bucket = ansim_config_get_string (config, "panel", "s3_bucket"),
    .addressing =
      strcmp (ansim_config_get_string (config, "panel", "s3_addressing"), "virtual-host") == 0
        ? PANEL_S3_VIRTUAL_HOST
        : PANEL_S3_PATH_STYLE,
    .credentials_file = credentials,
    .multipart_threshold =
      (guint64) ansim_config_get_int (config, "panel", "s3_multipart_threshold_mib") * MIB,
    .part_size = (guint64) ansim_config_get_int (config, "panel", "s3_part_size_mib") * MIB,
    .max_attempts = (guint) ansim_config_get_int (config, "panel", "s3_max_attempts"),
    .timeout_s = (guint) ansim_config_get_int (config, "panel", "s3_timeout"),
  };

  if (ansim_config_has_key (config, "panel", "s3_ca_file"))
    c.ca_file = ca_file = ansim_config_get_path (config, "panel", "s3_ca_file");
  return panel_s3_new (&c, error);
}

void
panel_s3_put_options_from_config (AnsimConfig *config, gint64 received,
                                  PanelS3PutOptions *out_options)
{
  gint64 days = ansim_config_get_int (config, "panel", "s3_retention_days");

  memset (out_options, 0, sizeof *out_options);
  if (days > 0)
    {
      out_options->retain_until = received + days * 86400;
      out_options->lock_mode =
        strcmp (ansim_config_get_string (config, "panel", "s3_lock_mode"), "compliance") == 0
          ? PANEL_S3_LOCK_COMPLIANCE
          : PANEL_S3_LOCK_GOVERNANCE;
    }
}
