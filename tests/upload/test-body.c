/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Nothing of a request is read before the panel knows it may be (issue
 * 14): over real TCP on loopback against a real ansim-panel, a 256 MiB
 * body announced to every route class (unknown path, static file,
 * console, device: unsigned, unknown key, over the cap) gets its answer
 * before a byte of it is sent, and sending it anyway leaves the panel's
 * VmRSS within a few MB; a chunked body is cut at the cap; the memory
 * budget of bodies refuses what would go over it, while segment bodies
 * (staged on disk) do not count; one user cannot take the live-alert
 * streams others need, and a closed stream frees its slot at once; Range
 * on static files is answered by the panel (one range, else 416 or 200);
 * plain HTTP off loopback needs allow_plain_http, Secure cookies come from
 * a trusted proxy's word, HTTPS brings HSTS. Clients are raw sockets, so that what is
 * sent when is exactly what the test says. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpsig.h"
#include "test-console.h"
#include "upload-helpers.h"

#define API "/api/v1/"
#define BIG_BODY (G_GUINT64_CONSTANT (256) * 1024 * 1024)
/* "Within a few MB": what the panel may grow by while 256 MiB bodies
 * come at it in parallel. */
#define RSS_SLACK_KIB (8 * 1024)
#define PASSWORD "password-for-tests-1"

typedef struct {
  char *dir;
  TestDesk *desk;
  TestDesk *stranger; /* a key the panel never enrolled */
  TestPanel *panel;
} Fixture;

static Fixture fx;

/* A blocking TCP connection to the panel from source address from (NULL:
 * any). */
static int
connect_panel_from (const char *from)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  if (from != NULL)
    {
      g_autoptr (GInetAddress) inet = g_inet_address_new_from_string (from);
      g_autoptr (GSocketAddress) local = g_inet_socket_address_new (inet, 0);
      g_socket_client_set_local_address (client, local);
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnection) conn =
    g_socket_client_connect_to_host (client, "127.0.0.1", fx.panel->port, NULL, &error);
  g_assert_no_error (error);
  int fd = dup (g_socket_get_fd (g_socket_connection_get_socket (conn)));
  g_assert_cmpint (fd, >=, 0);
  /* GSocket made it non-blocking; these clients block. */
  g_assert_cmpint (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK), ==, 0);
  return fd;
}

static int
connect_panel (void)
{
  return connect_panel_from (NULL);
}

static void
send_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      gssize n = send (fd, data, len, MSG_NOSIGNAL);
      g_assert_cmpint (n, >, 0);
      data += n, len -= n;
    }
}

/* Reads until the answer's headers and Content-Length body are in, or
 * timeout_ms pass (NULL then). Returns the whole answer. */
static char *
read_answer (int fd, int timeout_ms)
{
  g_autoptr (GString) got = g_string_new (NULL);
  gint64 end = g_get_monotonic_time () + timeout_ms * 1000;
  for (;;)
    {
      const char *eoh = strstr (got->str, "\r\n\r\n");
      if (eoh != NULL)
        {
          const char *cl = strstr (got->str, "Content-Length: ");
          gsize want = cl != NULL && cl < eoh ? g_ascii_strtoull (cl + 16, NULL, 10) : 0;
          if (got->len >= (gsize) (eoh + 4 - got->str) + want)
            return g_string_free (g_steal_pointer (&got), FALSE);
        }
      int left = (int) MAX (0, (end - g_get_monotonic_time ()) / 1000);
      struct pollfd p = { fd, POLLIN, 0 };
      if (poll (&p, 1, left) <= 0)
        return NULL;
      char buf[4096];
      gssize n = recv (fd, buf, sizeof buf, 0);
      if (n <= 0)
        return got->len > 0 ? g_string_free (g_steal_pointer (&got), FALSE) : NULL;
      g_string_append_len (got, buf, n);
    }
}

static guint
status_of (const char *answer)
{
  g_assert_nonnull (answer);
  g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 "));
  return (guint) g_ascii_strtoull (answer + 9, NULL, 10);
}

static gint64
panel_rss_kib (void)
{
  g_autofree char *path =
    g_strdup_printf ("/proc/%s/status", g_subprocess_get_identifier (fx.panel->proc));
  g_autofree char *text = test_read_file (path);
  const char *line = strstr (text, "VmRSS:");
  g_assert_nonnull (line);
  return g_ascii_strtoll (line + 6, NULL, 10);
}

/* Request headers for method path announcing length body bytes; signed
 * by desk (may be NULL: unsigned). */
static char *
headers_for (const char *method, const char *path, guint64 length, TestDesk *desk,
             const char *cookie)
{
  GString *h = g_string_new (NULL);
  g_string_append_printf (h,
                          "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Type: "
                          "application/json\r\nContent-Length: %" G_GUINT64_FORMAT "\r\n",
                          method, path, fx.panel->port, length);
  if (cookie != NULL)
    g_string_append_printf (h, "Cookie: %s\r\n", cookie);
  if (desk != NULL)
    {
      g_autofree char *digest = NULL, *input = NULL, *signature = NULL;
      test_desk_sign (desk, method, path, "", 0, &digest, &input, &signature);
      g_string_append_printf (h, "Content-Digest: %s\r\nSignature-Input: %s\r\nSignature: %s\r\n",
                              digest, input, signature);
    }
  g_string_append (h, "\r\n");
  return g_string_free (h, FALSE);
}

typedef struct {
  const char *what;
  const char *method;
  const char *path;
  TestDesk *desk;
  guint want;
  const char *code;
  guint64 length;     /* announced and sent; 0: BIG_BODY */
  const char *cookie; /* a session's, or NULL */
  /* results */
  guint status;
  char *answer;
  guint64 sent; /* body bytes the panel took before closing */
  int send_errno;
  gint finished; /* atomic */
} Attack;

/* One attacker: headers, the answer (before any body byte), then the
 * body anyway until the panel closes or all of it went. */
static gpointer
attack (gpointer data)
{
  Attack *a = data;
  guint64 length = a->length != 0 ? a->length : BIG_BODY;
  g_autofree char *head = headers_for (a->method, a->path, length, a->desk, a->cookie);
  int fd = connect_panel ();
  send_all (fd, head, strlen (head));
  a->answer = read_answer (fd, 10000);
  if (a->answer == NULL)
    {
      close (fd);
      g_atomic_int_set (&a->finished, 1);
      return NULL;
    }
  a->status = status_of (a->answer);
  g_autofree char *block = g_malloc0 (1024 * 1024);
  while (a->sent < length)
    {
      gssize n = send (fd, block, MIN (1024 * 1024, length - a->sent), MSG_NOSIGNAL);
      if (n <= 0)
        {
          a->send_errno = errno;
          break;
        }
      a->sent += n;
    }
  close (fd);
  g_atomic_int_set (&a->finished, 1);
  return NULL;
}

static void
test_refused_before_body (void)
{
  g_autofree char *seg =
    g_strdup_printf (API "incidents/%s/segments/0", "0b6e1c8a-3c1f-4a53-9d55-5d6b2a8c9e10");
  g_autoptr (TestConsole) console = test_console_new (fx.panel->url, NULL, 10);
  TestLogin trainer = { 0 }, security = { 0 };
  test_console_login (console, "trainer", PASSWORD, &trainer);
  test_console_login (console, "security", PASSWORD, &security);
  Attack attacks[] = {
    { "unknown path", "POST", "/no/such/path", NULL, 404, "not-found" },
    { "static file", "PUT", "/console/index.html", NULL, 405, "method-not-allowed" },
    { "console, no session", "POST", "/api/users", NULL, 401, "not-logged-in" },
    { "console, anyone, over the cap", "POST", "/api/login", NULL, 413, "too-large" },
    { "console, wrong role", "POST", "/api/users", NULL, 403, "forbidden", 0, trainer.cookie },
    { "console, no CSRF token", "POST", "/api/incidents/1/acknowledge", NULL, 403, "csrf", 0,
      security.cookie },
    { "health", "GET", "/api/health", NULL, 413, "too-large" },
    /* within the cap (4 MiB): refused for who sends it */
    { "device, unsigned", "PUT", seg, NULL, 401, "unsigned", 4 << 20 },
    { "device, unknown key", "PUT", seg, fx.stranger, 401, "unknown-device", 4 << 20 },
    { "device, over the cap", "PUT", seg, fx.desk, 413, "too-large" },
  };
  GThread *threads[G_N_ELEMENTS (attacks)];
  gint64 base = panel_rss_kib (), peak = base;

  for (guint i = 0; i < G_N_ELEMENTS (attacks); i++)
    threads[i] = g_thread_new ("attack", attack, &attacks[i]);
  /* The panel's RSS while they send. */
  for (gboolean done = FALSE; !done;)
    {
      peak = MAX (peak, panel_rss_kib ());
      g_usleep (20 * 1000);
      done = TRUE;
      for (guint i = 0; i < G_N_ELEMENTS (attacks); i++)
        done = done && g_atomic_int_get (&attacks[i].finished);
    }
  for (guint i = 0; i < G_N_ELEMENTS (attacks); i++)
    g_thread_join (threads[i]);
  peak = MAX (peak, panel_rss_kib ());
  for (guint i = 0; i < G_N_ELEMENTS (attacks); i++)
    {
      Attack *a = &attacks[i];
      if (a->answer == NULL)
        g_error ("%s: no answer to the headers within 10 s", a->what);
      g_test_message ("%s: %u, then took %" G_GUINT64_FORMAT " MiB of the body (%s)", a->what,
                      a->status, a->sent / (1024 * 1024),
                      a->send_errno != 0 ? g_strerror (a->send_errno) : "all");
      if (a->status != a->want || strstr (a->answer, a->code) == NULL)
        g_error ("%s %s (%s): expected %u %s, got:\n%s", a->method, a->path, a->what, a->want,
                 a->code, a->answer);
      g_assert_nonnull (strstr (a->answer, "Connection: close"));
      g_free (a->answer);
    }
  g_test_message ("panel VmRSS %" G_GINT64_FORMAT " KiB before, peak %" G_GINT64_FORMAT " KiB",
                  base, peak);
  test_login_clear (&trainer);
  test_login_clear (&security);
  g_assert_cmpint (peak - base, <, RSS_SLACK_KIB);
  /* And it still serves. */
  int fd = connect_panel ();
  g_autofree char *head = headers_for ("GET", "/api/health", 0, NULL, NULL);
  send_all (fd, head, strlen (head));
  g_autofree char *answer = read_answer (fd, 5000);
  close (fd);
  g_assert_cmpuint (status_of (answer), ==, 200);
}

/* A chunked body is counted as it arrives: the answer comes once it is
 * over the cap (64 KiB for login), long before the client stops. */
static void
test_chunked_cut (void)
{
  int fd = connect_panel ();
  g_autofree char *head = g_strdup_printf (
    "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    "Transfer-Encoding: chunked\r\n\r\n");
  send_all (fd, head, strlen (head));
  g_autofree char *chunk = g_malloc (16 * 1024 + 16);
  gsize len = g_snprintf (chunk, 16, "%x\r\n", 16 * 1024);
  memset (chunk + len, ' ', 16 * 1024);
  memcpy (chunk + len + 16 * 1024, "\r\n", 2);
  len += 16 * 1024 + 2;
  g_autofree char *answer = NULL;
  gsize sent = 0;
  while (sent < 64 * 1024 * 1024 && answer == NULL)
    {
      gssize n = send (fd, chunk, len, MSG_NOSIGNAL);
      if (n <= 0)
        break;
      sent += n;
      answer = read_answer (fd, 0);
    }
  if (answer == NULL)
    answer = read_answer (fd, 5000);
  close (fd);
  g_test_message ("chunked: answered after %zu KiB", sent / 1024);
  g_assert_nonnull (answer);
  g_assert_cmpuint (status_of (answer), ==, 413);
  g_assert_nonnull (strstr (answer, "\"too-large\""));
  g_assert_cmpuint (sent, <, 4 * 1024 * 1024);

  /* A small chunked body is read as any other (no 411). */
  fd = connect_panel ();
  const char *json = "{\"user\":\"nobody\",\"password\":\"wrong-password\"}";
  g_autofree char *small = g_strdup_printf (
    "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
    strlen (json), json);
  send_all (fd, small, strlen (small));
  g_autofree char *login = read_answer (fd, 10000);
  close (fd);
  g_assert_cmpuint (status_of (login), ==, 401);
}

/* max_bodies_in_memory = 1 (MiB): a 2 MiB manifest would go over, and is
 * refused before its body; a 3 MiB segment is staged on disk and reaches
 * ingest (which finds it is not the segment the manifest lists). */
static void
test_budget (void)
{
  g_autofree char *uuid = test_desk_record (fx.desk, 1, 1000);
  g_autofree char *manifest = g_strdup_printf (API "incidents/%s/manifest", uuid);
  g_autofree char *head = headers_for ("PUT", manifest, 2 * 1024 * 1024, fx.desk, NULL);
  int fd = connect_panel ();
  send_all (fd, head, strlen (head));
  g_autofree char *answer = read_answer (fd, 5000);
  close (fd);
  g_assert_cmpuint (status_of (answer), ==, 503);
  g_assert_nonnull (strstr (answer, "Retry-After: "));
  g_assert_nonnull (strstr (answer, "\"busy\""));

  g_autofree char *seg = g_strdup_printf (API "incidents/%s/segments/0", uuid);
  gsize size = 3 * 1024 * 1024;
  g_autofree char *body = g_malloc0 (size);
  g_autofree char *digest = NULL, *input = NULL, *signature = NULL;
  test_desk_sign (fx.desk, "PUT", seg, body, size, &digest, &input, &signature);
  g_autofree char *shead = g_strdup_printf (
    "PUT %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\nContent-Digest: %s\r\n"
    "Signature-Input: %s\r\nSignature: %s\r\n\r\n",
    seg, size, digest, input, signature);
  fd = connect_panel ();
  send_all (fd, shead, strlen (shead));
  send_all (fd, body, size);
  g_autofree char *sanswer = read_answer (fd, 10000);
  close (fd);
  g_test_message ("staged segment: %s", sanswer);
  /* The panel has not seen the incident's manifest: 409; it got that far. */
  g_assert_cmpuint (status_of (sanswer), ==, 409);
  g_assert_nonnull (strstr (sanswer, "\"manifest-needed\""));
  /* Nothing left in the staging area. */
  g_autofree char *staging = g_build_filename (fx.panel->dir, "staging", NULL);
  g_autoptr (GDir) dir = g_dir_open (staging, 0, NULL);
  g_assert_nonnull (dir);
  g_assert_null (g_dir_read_name (dir));
}

/* GET /api/events/stream as login on a new connection; its status, the
 * connection left open in *out_fd (closed when not 200). */
static guint
open_stream (const TestLogin *login, int *out_fd)
{
  int fd = connect_panel ();
  g_autofree char *head = g_strdup_printf (
    "GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: %s\r\n\r\n", login->cookie);
  send_all (fd, head, strlen (head));
  /* A stream's answer has no length: its headers and first event are
   * enough; a refusal is complete. */
  g_autoptr (GString) got = g_string_new (NULL);
  while (strstr (got->str, "\r\n\r\n") == NULL
         || (g_str_has_prefix (got->str, "HTTP/1.1 200") && strstr (got->str, "connected") == NULL)
         || (!g_str_has_prefix (got->str, "HTTP/1.1 200") && strstr (got->str, "}") == NULL))
    {
      struct pollfd p = { fd, POLLIN, 0 };
      g_assert_cmpint (poll (&p, 1, 5000), ==, 1);
      char buf[4096];
      gssize n = recv (fd, buf, sizeof buf, 0);
      g_assert_cmpint (n, >, 0);
      g_string_append_len (got, buf, n);
    }
  guint status = status_of (got->str);
  if (status != 200)
    {
      g_test_message ("stream refused: %s", got->str);
      g_assert_nonnull (strstr (got->str, "\"busy\""));
      close (fd);
      fd = -1;
    }
  *out_fd = fd;
  return status;
}

/* One user cannot take the live-alert slots others need: a trainer gets
 * at most 4 streams, security still gets one; a closed stream's slot is
 * free again at once, not at the next keep-alive (15 s). */
static void
test_stream_caps (void)
{
  g_autoptr (TestConsole) console = test_console_new (fx.panel->url, NULL, 10);
  TestLogin trainer = { 0 }, security = { 0 };
  test_console_login (console, "trainer", PASSWORD, &trainer);
  test_console_login (console, "security", PASSWORD, &security);
  int fds[4], extra = -1, guard = -1;
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    g_assert_cmpuint (open_stream (&trainer, &fds[i]), ==, 200);
  for (guint i = 0; i < 20; i++)
    g_assert_cmpuint (open_stream (&trainer, &extra), ==, 503);
  g_assert_cmpuint (open_stream (&security, &guard), ==, 200);

  /* The trainer closes one console: another opens at once. */
  close (fds[0]);
  gint64 closed_at = g_get_monotonic_time ();
  guint status = 0;
  while ((status = open_stream (&trainer, &fds[0])) != 200
         && g_get_monotonic_time () - closed_at < 2 * G_USEC_PER_SEC)
    g_usleep (50 * 1000);
  g_test_message ("slot free again after %" G_GINT64_FORMAT " ms",
                  (g_get_monotonic_time () - closed_at) / 1000);
  g_assert_cmpuint (status, ==, 200);
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    close (fds[i]);
  close (guard);
  test_login_clear (&trainer);
  test_login_clear (&security);
}

/* GET path with a Range header (NULL: none) on a new connection. */
static char *
get_range (const char *path, const char *range)
{
  int fd = connect_panel ();
  g_autofree char *head = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s\r\n", path,
                                           range != NULL ? "Range: " : "",
                                           range != NULL ? range : "", range != NULL ? "\r\n" : "");
  send_all (fd, head, strlen (head));
  char *answer = read_answer (fd, 5000);
  close (fd);
  g_assert_nonnull (answer);
  return answer;
}

static gsize
body_length (const char *answer)
{
  return strlen (strstr (answer, "\r\n\r\n") + 4);
}

/* Range on the console's files is the panel's own: one range (206), none
 * it has (416), anything else the whole file (200); never libsoup's
 * handling, which answered bytes=-99999999 with an empty 206 and GLib
 * CRITICALs, and 2,000 overlapping ranges with a thousand copies. */
static void
test_static_range (void)
{
  const char *path = "/console/index.html";
  g_autofree char *whole = get_range (path, NULL);
  g_assert_cmpuint (status_of (whole), ==, 200);
  g_assert_nonnull (strstr (whole, "Accept-Ranges: bytes"));
  gsize size = body_length (whole);
  const char *content = strstr (whole, "\r\n\r\n") + 4;
  g_assert_cmpuint (size, >, 100);

  g_autofree char *first = get_range (path, "bytes=0-9");
  g_assert_cmpuint (status_of (first), ==, 206);
  g_autofree char *cr = g_strdup_printf ("Content-Range: bytes 0-9/%zu", size);
  g_assert_nonnull (strstr (first, cr));
  g_assert_cmpuint (body_length (first), ==, 10);
  g_assert_true (strncmp (strstr (first, "\r\n\r\n") + 4, content, 10) == 0);

  /* A suffix longer than the file: all of it, as one range. */
  g_autofree char *suffix = get_range (path, "bytes=-99999999");
  g_assert_cmpuint (status_of (suffix), ==, 206);
  g_autofree char *cr_all = g_strdup_printf ("Content-Range: bytes 0-%zu/%zu", size - 1, size);
  g_assert_nonnull (strstr (suffix, cr_all));
  g_assert_cmpuint (body_length (suffix), ==, size);

  g_autofree char *tail = get_range (path, "bytes=-5");
  g_assert_cmpuint (status_of (tail), ==, 206);
  g_assert_cmpstr (strstr (tail, "\r\n\r\n") + 4, ==, content + size - 5);

  g_autofree char *past_end = g_strdup_printf ("bytes=%zu-", size);
  g_autofree char *beyond = get_range (path, past_end);
  g_assert_cmpuint (status_of (beyond), ==, 416);
  g_autofree char *cr_none = g_strdup_printf ("Content-Range: bytes */%zu", size);
  g_assert_nonnull (strstr (beyond, cr_none));
  g_autofree char *zero = get_range (path, "bytes=-0");
  g_assert_cmpuint (status_of (zero), ==, 416);

  /* Not one well-formed range: the whole file, once. */
  GString *many = g_string_new ("bytes=0-");
  for (guint i = 0; i < 2000; i++)
    g_string_append (many, ",0-");
  g_autofree char *many_ranges = g_string_free (many, FALSE);
  const char *whole_cases[] = { many_ranges, "bytes=9-3",     "bytes=abc",
                                "items=0-1", "bytes=0-1,5-6", "bytes=99999999999999999999-",
                                "bytes= 5-" };
  for (guint i = 0; i < G_N_ELEMENTS (whole_cases); i++)
    {
      g_autofree char *answer = get_range (path, whole_cases[i]);
      g_assert_cmpuint (status_of (answer), ==, 200);
      g_assert_cmpuint (body_length (answer), ==, size);
    }
  g_autofree char *log = test_read_file (fx.panel->log_path);
  g_assert_null (strstr (log, "CRITICAL"));
}

/* The login's Set-Cookie line, logging in from source address from with
 * (or without) X-Forwarded-Proto: https. */
static char *
login_cookie (const char *from, gboolean forwarded_https)
{
  const char *json = "{\"user\":\"security\",\"password\":\"" PASSWORD "\"}";
  g_autofree char *req = g_strdup_printf (
    "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    "%sContent-Length: %zu\r\n\r\n%s",
    forwarded_https ? "X-Forwarded-Proto: https\r\n" : "", strlen (json), json);
  int fd = connect_panel_from (from);
  send_all (fd, req, strlen (req));
  g_autofree char *answer = read_answer (fd, 10000);
  close (fd);
  g_assert_cmpuint (status_of (answer), ==, 200);
  const char *line = strstr (answer, "Set-Cookie: ");
  g_assert_nonnull (line);
  return g_strndup (line, strcspn (line, "\r\n"));
}

/* TLS posture: plain HTTP on a network address needs allow_plain_http;
 * behind a TLS proxy, cookies are Secure only when a trusted proxy
 * (trusted_proxies = 127.0.0.2 here) says the client used HTTPS; a panel
 * serving HTTPS itself sends HSTS. */
static void
test_tls_posture (void)
{
  g_autofree char *dir = g_build_filename (fx.dir, "plain", NULL);
  g_autoptr (TestPanel) plain = test_panel_new (dir, "listen_address = 0.0.0.0");
  g_autofree char *exe = test_build_path ("panel/ansim-panel");
  g_autofree char *err = NULL;
  int rc = test_run (NULL, &err, exe, "--config", plain->conf, NULL);
  g_test_message ("%s", err);
  g_assert_cmpint (rc, !=, 0);
  g_assert_nonnull (strstr (err, "plain HTTP on an address other than loopback"));
  g_assert_nonnull (strstr (err, "allow_plain_http = true"));

  g_autofree char *direct = login_cookie ("127.0.0.1", TRUE);
  g_assert_null (strstr (direct, "Secure"));
  g_autofree char *proxied_plain = login_cookie ("127.0.0.2", FALSE);
  g_assert_null (strstr (proxied_plain, "Secure"));
  g_autofree char *proxied_https = login_cookie ("127.0.0.2", TRUE);
  g_assert_nonnull (strstr (proxied_https, "; Secure"));
  g_autofree char *health = get_range ("/api/health", NULL);
  g_assert_null (strstr (health, "Strict-Transport-Security"));

  g_autofree char *tls_dir = g_build_filename (fx.dir, "tls", NULL);
  g_autoptr (TestPanel) tls = test_panel_new_https (tls_dir, NULL);
  test_panel_start (tls);
  g_autoptr (GError) error = NULL;
  g_autoptr (GTlsDatabase) ca = g_tls_file_database_new (tls->ca_file, &error);
  g_assert_no_error (error);
  g_autoptr (SoupSession) session = soup_session_new_with_options ("tls-database", ca, NULL);
  g_autofree char *url = g_strconcat (tls->url, "/api/health", NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr (GBytes) body = soup_session_send_and_read (session, msg, NULL, &error);
  (void) body; /* kept for its cleanup */
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  g_assert_cmpstr (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                 "Strict-Transport-Security"),
                   ==, "max-age=31536000");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_autoptr (GError) error = NULL;
  fx.dir = g_dir_make_tmp ("ansim-body-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (fx.dir, "desk", NULL);
  g_autofree char *stranger_dir = g_build_filename (fx.dir, "stranger", NULL);
  g_autofree char *panel_dir = g_build_filename (fx.dir, "panel", NULL);
  fx.desk = test_desk_new (desk_dir);
  fx.stranger = test_desk_new_at (stranger_dir, "dev-9", "desk-9", "9번 창구");
  fx.panel = test_panel_new (panel_dir, "max_body_size = 4\nmax_bodies_in_memory = 1\n"
                                        "trusted_proxies = 127.0.0.2");
  test_add_user (fx.panel->conf, "trainer", "trainer", PASSWORD);
  test_add_user (fx.panel->conf, "security", "security", PASSWORD);
  test_panel_start (fx.panel);
  test_panel_enroll (fx.panel, fx.desk, "dev-1");

  g_test_add_func ("/body/refused-before-body", test_refused_before_body);
  g_test_add_func ("/body/chunked-cut", test_chunked_cut);
  g_test_add_func ("/body/budget", test_budget);
  g_test_add_func ("/body/stream-caps", test_stream_caps);
  g_test_add_func ("/body/static-range", test_static_range);
  g_test_add_func ("/body/tls-posture", test_tls_posture);
  int rc = g_test_run ();

  test_panel_free (fx.panel);
  test_desk_free (fx.desk);
  test_desk_free (fx.stranger);
  test_rm_rf (fx.dir);
  g_free (fx.dir);
  return rc;
}
