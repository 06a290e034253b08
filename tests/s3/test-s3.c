/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's S3 client against a real Ceph RADOS Gateway started by
 * tests/s3/ceph-rgw in a temporary directory on a free loopback port. */
#include "s3.h"
#include "s3-private.h"
#include "store.h"
#include "test-console.h"
#include "upload-helpers.h"
#include "db.h"

#include <glib/gstdio.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024 * 1024)
#define DAY_US ((gint64) 86400 * G_USEC_PER_SEC)

/* A call that must succeed: its error is shown if it does not. */
#define CHECK(call)                                                                                \
  G_STMT_START                                                                                     \
  {                                                                                                \
    gboolean ok_ = (call);                                                                         \
    g_assert_no_error (error);                                                                     \
    g_assert_true (ok_);                                                                           \
  }                                                                                                \
  G_STMT_END

/* The gateway, shared by all tests (it takes seconds to start). */
static struct {
  GPid pid;
  GOutputStream *commands;   /* harness stdin */
  GDataInputStream *answers; /* harness stdout */
  char *dir;                 /* removed by the harness when it stops */
  char *endpoint;
  char *port;
  char *tls_endpoint;
  char *tls_ca_file;
  char *pids; /* of the Ceph daemons, space-separated */
  char *access_key;
  char *secret_key;
  char *locked_bucket;
  char *plain_bucket;
} rgw;

static char *tmp_dir;
static const char *self_path;
static char *harness_path_for_crash; /* "--crash-with-harness=PATH" */
static char *creds_path;             /* mode 0600, right keys */

/* ---- harness --------------------------------------------------------------- */

static void
harness_child_setup (gpointer data)
{
  (void) data;
  /* If this test dies, the harness hears it and stops the cluster. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static char *
harness_read_line (void)
{
  g_autoptr (GError) error = NULL;
  char *line = g_data_input_stream_read_line (rgw.answers, NULL, NULL, &error);

  g_assert_no_error (error);
  return line;
}

static void
harness_command (const char *command)
{
  g_autofree char *line = g_strdup_printf ("%s\n", command);
  g_autofree char *answer = NULL;
  g_autoptr (GError) error = NULL;

  g_output_stream_write_all (rgw.commands, line, strlen (line), NULL, NULL, &error);
  g_assert_no_error (error);
  answer = harness_read_line ();
  g_assert_cmpstr (answer, ==, "ok");
}

static gboolean
harness_start (const char *script)
{
  const char *argv[] = { script, NULL };
  g_autoptr (GError) error = NULL;
  int in_fd, out_fd;

  if (!g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                 harness_child_setup, NULL, &rgw.pid, &in_fd, &out_fd, NULL,
                                 &error))
    g_error ("cannot run %s: %s", script, error->message);
  rgw.commands = g_unix_output_stream_new (in_fd, TRUE);
  {
    g_autoptr (GInputStream) raw = g_unix_input_stream_new (out_fd, TRUE);

    rgw.answers = g_data_input_stream_new (raw);
  }
  for (;;)
    {
      g_autofree char *line = harness_read_line ();
      char *eq;

      if (line == NULL)
        return FALSE;
      if (strcmp (line, "ready") == 0)
        return TRUE;
      eq = strchr (line, '=');
      if (eq == NULL)
        continue;
      *eq = '\0';
#define TAKE(name)                                                                                 \
  if (strcmp (line, #name) == 0)                                                                   \
  rgw.name = g_strdup (eq + 1)
      TAKE (dir);
      TAKE (endpoint);
      TAKE (tls_endpoint);
      TAKE (tls_ca_file);
      TAKE (pids);
      TAKE (port);
      TAKE (access_key);
      TAKE (secret_key);
      TAKE (locked_bucket);
      TAKE (plain_bucket);
#undef TAKE
    }
}

static void
harness_stop (void)
{
  int status = 0;

  /* End of input is the harness's signal to tear everything down. */
  g_clear_object (&rgw.commands);
  g_clear_object (&rgw.answers);
  if (rgw.pid > 0)
    {
      waitpid (rgw.pid, &status, 0);
      g_spawn_close_pid (rgw.pid);
      rgw.pid = 0;
    }
}

/* Whether a process runs (a zombie does not count). */
static gboolean
process_alive (const char *pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/stat", pid);
  g_autofree char *stat = NULL;
  const char *paren;

  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return FALSE;
  paren = strrchr (stat, ')');
  return paren == NULL || paren[1] != ' ' || paren[2] != 'Z';
}

/* Waits up to 20 s for the daemons to end and the directory to go. */
static void
assert_torn_down (const char *pids, const char *dir)
{
  g_auto (GStrv) list = g_strsplit (pids, " ", -1);
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  gboolean alive;

  g_assert_cmpuint (g_strv_length (list), ==, 3);
  do
    {
      alive = g_file_test (dir, G_FILE_TEST_EXISTS);
      for (char **p = list; *p != NULL; p++)
        alive = alive || process_alive (*p);
      if (alive)
        g_usleep (100 * 1000);
    }
  while (alive && g_get_monotonic_time () < deadline);
  for (char **p = list; *p != NULL; p++)
    if (process_alive (*p))
      g_error ("Ceph daemon %s still runs after the harness stopped", *p);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
}

/* ---- helpers --------------------------------------------------------------- */

static char *
write_credentials (const char *name, const char *access_key, const char *secret_key, int mode)
{
  g_autofree char *path = g_build_filename (tmp_dir, name, NULL);
  g_autofree char *text = g_strdup_printf ("[default]\naws_access_key_id = %s\n"
                                           "aws_secret_access_key = %s\n",
                                           access_key, secret_key);
  g_autoptr (GError) error = NULL;

  g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_NONE, mode, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
  return g_steal_pointer (&path);
}

static PanelS3Config
config_for (const char *bucket)
{
  PanelS3Config c = {
    .endpoint = rgw.endpoint,
    .region = "us-east-1",
    .bucket = bucket,
    .addressing = PANEL_S3_PATH_STYLE,
    .credentials_file = creds_path,
    .max_attempts = 3,
    .retry_delay_ms = 100,
    .retry_max_delay_ms = 400,
    .timeout_s = 60,
  };
  return c;
}

static PanelS3 *
client_for (const char *bucket)
{
  PanelS3Config c = config_for (bucket);
  g_autoptr (GError) error = NULL;
  PanelS3 *s3 = panel_s3_new (&c, &error);

  g_assert_no_error (error);
  return s3;
}

static char *
sha256_of (GBytes *b)
{
  return g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, b);
}

static void
round_trip (PanelS3 *s3, const char *key)
{
  g_autoptr (GBytes) data = test_random_bytes (100000, 7);
  g_autofree char *md5 = g_compute_checksum_for_bytes (G_CHECKSUM_MD5, data);
  g_autofree char *sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, data);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) back = NULL;
  g_auto (PanelS3Object) info = { 0 };
  gboolean exists = FALSE;

  CHECK (panel_s3_put (s3, key, data, NULL, NULL, &error));
  g_assert_no_error (error);
  CHECK (panel_s3_exists (s3, key, &exists, &error));
  g_assert_true (exists);
  CHECK (panel_s3_head (s3, key, NULL, &info, &error));
  g_assert_cmpuint (info.size, ==, 100000);
  g_assert_cmpstr (info.etag, ==, md5);
  g_assert_cmpstr (info.sha256, ==, sha);
  back = panel_s3_get (s3, key, NULL, 1 * MIB, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, data));
  g_clear_pointer (&back, g_bytes_unref);

  /* The caller's size cap holds. */
  back = panel_s3_get (s3, key, NULL, 1000, &error);
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_TOO_LARGE);
  g_assert_null (back);
  g_clear_error (&error);

  CHECK (panel_s3_delete (s3, key, NULL, FALSE, &error));
  g_assert_no_error (error);
  CHECK (panel_s3_exists (s3, key, &exists, &error));
  g_assert_false (exists);
  back = panel_s3_get (s3, key, NULL, 1 * MIB, &error);
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "HTTP 404 NoSuchKey"));
  g_assert_null (back);
}

/* ---- tests ----------------------------------------------------------------- */

/* More keys than one answer holds (1000), names that need encoding, and a
 * prefix that must be honoured. */
static void
test_list (void)
{
  g_autoptr (PanelS3) s3 = client_for (rgw.plain_bucket);
  g_autoptr (GBytes) data = test_random_bytes (10, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) keys = NULL;
  const guint n = 1005;

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *key = g_strdup_printf ("list/incident +%u/segment-%04u.age", i % 2, i);

      CHECK (panel_s3_put (s3, key, data, NULL, NULL, &error));
    }
  CHECK (panel_s3_put (s3, "listed-not/other.age", data, NULL, NULL, &error));
  keys = panel_s3_list (s3, "list/", 5000, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (keys->len, ==, n);
  for (guint i = 1; i < keys->len; i++)
    g_assert_cmpstr (keys->pdata[i - 1], <, keys->pdata[i]);
  g_assert_cmpstr (keys->pdata[0], ==, "list/incident +0/segment-0000.age");
  g_clear_pointer (&keys, g_ptr_array_unref);

  keys = panel_s3_list (s3, "list/incident +1/", 5000, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (keys->len, ==, n / 2);
  g_clear_pointer (&keys, g_ptr_array_unref);

  keys = panel_s3_list (s3, "list/", 100, &error);
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_TOO_LARGE);
  g_assert_null (keys);
}

static void
test_round_trip_path_style (void)
{
  g_autoptr (PanelS3) s3 = client_for (rgw.plain_bucket);

  round_trip (s3, "site/incident 1/segment-0001.age");
}

/* Virtual-host addressing needs BUCKET.HOST to reach the gateway. libcurl
 * resolves every *.localhost name to loopback itself (RFC 6761), and the
 * gateway runs with `rgw dns name = localhost`, so no resolver change is
 * needed. */
static void
test_round_trip_virtual_host (void)
{
  g_autofree char *endpoint = g_strdup_printf ("http://localhost:%s", rgw.port);
  PanelS3Config c = config_for (rgw.plain_bucket);
  g_autoptr (GError) error = NULL;
  g_autoptr (PanelS3) s3 = NULL;

  c.endpoint = endpoint;
  c.addressing = PANEL_S3_VIRTUAL_HOST;
  s3 = panel_s3_new (&c, &error);
  g_assert_no_error (error);
  round_trip (s3, "site/virtual-host/segment-0001.age");
}

/* https with the gateway's self-signed certificate: trusted through the CA
 * file, refused without it (and not retried: it will not get better). */
static void
test_https (void)
{
  PanelS3Config c = config_for (rgw.plain_bucket);
  g_autoptr (GError) error = NULL;
  g_autoptr (PanelS3) s3 = NULL;
  g_autoptr (PanelS3) untrusting = NULL;
  g_autoptr (GBytes) data = test_random_bytes (5000, 8);
  gint64 start;

  c.endpoint = rgw.tls_endpoint;
  c.ca_file = rgw.tls_ca_file;
  s3 = panel_s3_new (&c, &error);
  g_assert_no_error (error);
  round_trip (s3, "site/https/segment-0001.age");

  c.ca_file = NULL;
  c.retry_delay_ms = 2000;
  untrusting = panel_s3_new (&c, &error);
  g_assert_no_error (error);
  start = g_get_monotonic_time ();
  g_assert_false (panel_s3_put (untrusting, "site/https/untrusted.age", data, NULL, NULL, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_FAILED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "certificate"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 1000 * 1000);
}

static void
test_bad_digest (void)
{
  g_autoptr (PanelS3) s3 = client_for (rgw.plain_bucket);
  g_autoptr (GBytes) data = test_random_bytes (4096, 3);
  g_autoptr (GError) error = NULL;
  gboolean exists = TRUE;

  panel_s3_corrupt_md5_for_test (s3, 1);
  g_assert_false (panel_s3_put (s3, "bad-digest", data, NULL, NULL, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_BAD_DIGEST);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "HTTP 400 BadDigest"));
  g_clear_error (&error);
  CHECK (panel_s3_exists (s3, "bad-digest", &exists, &error));
  g_assert_false (exists);
}

static PanelS3 *multipart_client (const char *bucket);

/* A declared SHA-256 that does not match the bytes: refused by the server
 * (single PUT) or by the client (multipart), nothing stored. */
static void
test_wrong_declared_sha256 (void)
{
  g_autoptr (PanelS3) s3 = multipart_client (rgw.plain_bucket);
  g_autoptr (GBytes) small = test_random_bytes (3000, 6);
  g_autoptr (GBytes) big = test_random_bytes (6 * MIB, 6);
  g_autofree char *small_sha = sha256_of (small);
  PanelS3PutOptions wrong = { .sha256 = "00000000000000000000000000000000"
                                        "00000000000000000000000000000000" };
  PanelS3PutOptions right = { .sha256 = small_sha };
  g_autoptr (GError) error = NULL;
  g_auto (PanelS3Object) info = { 0 };
  gboolean exists = TRUE;

  g_assert_false (panel_s3_put (s3, "declared/small.age", small, &wrong, NULL, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_BAD_DIGEST);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_false (panel_s3_put (s3, "declared/big.age", big, &wrong, NULL, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_BAD_DIGEST);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  CHECK (panel_s3_exists (s3, "declared/small.age", &exists, &error));
  g_assert_false (exists);
  CHECK (panel_s3_exists (s3, "declared/big.age", &exists, &error));
  g_assert_false (exists);

  CHECK (panel_s3_put (s3, "declared/small.age", small, &right, NULL, &error));
  CHECK (panel_s3_head (s3, "declared/small.age", NULL, &info, &error));
  g_assert_cmpstr (info.sha256, ==, small_sha);
}

static void
test_wrong_secret (void)
{
  g_autofree char *wrong_secret =
    write_credentials ("wrong-secret", rgw.access_key, "not-the-secret-key-at-all", 0600);
  g_autofree char *wrong_key =
    write_credentials ("wrong-key", "NOSUCHACCESSKEY", rgw.secret_key, 0600);
  g_autoptr (GBytes) data = test_random_bytes (1000, 4);
  PanelS3Config c = config_for (rgw.plain_bucket);
  g_autoptr (GError) error = NULL;
  g_autoptr (PanelS3) s3 = NULL;
  g_autoptr (PanelS3) s3b = NULL;

  c.credentials_file = wrong_secret;
  s3 = panel_s3_new (&c, &error);
  g_assert_no_error (error);
  g_assert_false (panel_s3_put (s3, "wrong-secret", data, NULL, NULL, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_AUTH);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "HTTP 403 SignatureDoesNotMatch"));
  g_clear_error (&error);

  c.credentials_file = wrong_key;
  s3b = panel_s3_new (&c, &error);
  g_assert_no_error (error);
  g_assert_false (panel_s3_put (s3b, "wrong-key", data, NULL, NULL, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_AUTH);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "InvalidAccessKeyId"));
}

static PanelS3 *
multipart_client (const char *bucket)
{
  PanelS3Config c = config_for (bucket);
  g_autoptr (GError) error = NULL;
  PanelS3 *s3;

  c.part_size = 5 * MIB;
  c.multipart_threshold = 5 * MIB;
  s3 = panel_s3_new (&c, &error);
  g_assert_no_error (error);
  return s3;
}

static void
test_multipart (void)
{
  g_autoptr (PanelS3) s3 = multipart_client (rgw.plain_bucket);
  g_autoptr (GBytes) data = test_random_bytes (13 * MIB + 12345, 11);
  g_autofree char *sha = sha256_of (data);
  g_autofree char *sha_back = NULL;
  g_autoptr (GBytes) back = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (PanelS3Object) info = { 0 };

  CHECK (panel_s3_put (s3, "multipart/segment.age", data, NULL, NULL, &error));
  g_assert_no_error (error);
  CHECK (panel_s3_head (s3, "multipart/segment.age", NULL, &info, &error));
  g_assert_cmpuint (info.size, ==, g_bytes_get_size (data));
  /* A multipart ETag ends in "-PARTS": 5 + 5 + 3 MiB. */
  g_assert_true (g_str_has_suffix (info.etag, "-3"));
  g_assert_cmpstr (info.sha256, ==, sha);
  back = panel_s3_get (s3, "multipart/segment.age", NULL, 64 * MIB, &error);
  g_assert_no_error (error);
  sha_back = sha256_of (back);
  g_assert_cmpstr (sha_back, ==, sha);
  g_assert_true (g_bytes_equal (back, data));
}

/* The bucket's unfinished multipart uploads, listed by the curl CLI (not by
 * the client under test). */
static char *
list_pending_uploads (const char *bucket)
{
  g_autofree char *url = g_strdup_printf ("%s/%s?uploads=", rgw.endpoint, bucket);
  g_autofree char *user = g_strdup_printf ("%s:%s", rgw.access_key, rgw.secret_key);
  const char *argv[] = { "curl",
                         "-sS",
                         "-f",
                         "--aws-sigv4",
                         "aws:amz:us-east-1:s3",
                         "--user",
                         user,
                         "-H",
                         "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427a"
                         "e41e4649b934ca495991b7852b855",
                         url,
                         NULL };
  g_autoptr (GError) error = NULL;
  char *out = NULL;
  int status = 0;

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL, &status,
                &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out, "ListMultipartUploadsResult"));
  return out;
}

/* The object's recorded SHA-256 is replaced behind the client's back (a
 * server-side copy by the curl CLI): GET must refuse the bytes. */
static void
test_damaged_on_get (void)
{
  g_autoptr (PanelS3) s3 = client_for (rgw.plain_bucket);
  g_autoptr (GBytes) data = test_random_bytes (4000, 5);
  g_autoptr (GBytes) back = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *url = g_strdup_printf ("%s/%s/damaged.age", rgw.endpoint, rgw.plain_bucket);
  g_autofree char *user = g_strdup_printf ("%s:%s", rgw.access_key, rgw.secret_key);
  g_autofree char *source = g_strdup_printf ("x-amz-copy-source: %s/damaged.age", rgw.plain_bucket);
  const char *argv[] = { "curl",
                         "-sS",
                         "-f",
                         "-o",
                         "/dev/null",
                         "-X",
                         "PUT",
                         "--aws-sigv4",
                         "aws:amz:us-east-1:s3",
                         "--user",
                         user,
                         "-H",
                         source,
                         "-H",
                         "x-amz-metadata-directive: REPLACE",
                         "-H",
                         "x-amz-meta-sha256: 0000000000000000000000000000000000000000000000"
                         "000000000000000000",
                         "-H",
                         "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e464"
                         "9b934ca495991b7852b855",
                         url,
                         NULL };
  int status = 0;

  CHECK (panel_s3_put (s3, "damaged.age", data, NULL, NULL, &error));
  back = panel_s3_get (s3, "damaged.age", NULL, MIB, &error);
  g_assert_no_error (error);
  g_clear_pointer (&back, g_bytes_unref);

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status,
                &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  back = panel_s3_get (s3, "damaged.age", NULL, MIB, &error);
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_BAD_DIGEST);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "as recorded at upload"));
  g_assert_null (back);
}

/* A part refused by the server: the upload is aborted, no object appears. */
static void
test_multipart_failure_aborts (void)
{
  g_autoptr (PanelS3) s3 = multipart_client (rgw.plain_bucket);
  g_autoptr (GBytes) data = test_random_bytes (11 * MIB, 12);
  g_autoptr (GError) error = NULL;
  gboolean exists = TRUE;

  /* Request 1 with a body is part 1; part 2 gets a wrong MD5. */
  panel_s3_corrupt_md5_for_test (s3, 2);
  g_assert_false (panel_s3_put (s3, "multipart/refused.age", data, NULL, NULL, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_BAD_DIGEST);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  CHECK (panel_s3_exists (s3, "multipart/refused.age", &exists, &error));
  g_assert_false (exists);
  /* Nor do its stored parts: the upload was aborted, not left pending. */
  {
    g_autofree char *pending = list_pending_uploads (rgw.plain_bucket);

    g_test_message ("%s", pending);
    g_assert_null (strstr (pending, "multipart/refused.age"));
  }
}

static void
test_lock_compliance (void)
{
  g_autoptr (PanelS3) s3 = client_for (rgw.locked_bucket);
  g_autoptr (GBytes) data = test_random_bytes (2048, 21);
  gint64 until = g_get_real_time () / G_USEC_PER_SEC + 86400;
  PanelS3PutOptions opts = { .lock_mode = PANEL_S3_LOCK_COMPLIANCE, .retain_until = until };
  g_autofree char *version = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (PanelS3Object) info = { 0 };

  CHECK (panel_s3_put (s3, "locked/compliance.age", data, &opts, &version, &error));
  g_assert_no_error (error);
  g_assert_nonnull (version);
  CHECK (panel_s3_head (s3, "locked/compliance.age", version, &info, &error));
  g_assert_cmpint (info.lock_mode, ==, PANEL_S3_LOCK_COMPLIANCE);
  g_assert_cmpint (info.retain_until, ==, until);

  g_assert_false (panel_s3_delete (s3, "locked/compliance.age", version, FALSE, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_ACCESS_DENIED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "HTTP 403 AccessDenied"));
  g_clear_error (&error);
  /* Not even the governance bypass lifts COMPLIANCE. */
  g_assert_false (panel_s3_delete (s3, "locked/compliance.age", version, TRUE, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_ACCESS_DENIED);
  g_clear_error (&error);
  CHECK (panel_s3_head (s3, "locked/compliance.age", version, NULL, &error));
  g_assert_no_error (error);
}

static void
test_lock_governance (void)
{
  g_autoptr (PanelS3) s3 = client_for (rgw.locked_bucket);
  g_autoptr (GBytes) data = test_random_bytes (2048, 22);
  gint64 until = g_get_real_time () / G_USEC_PER_SEC + 3600;
  PanelS3PutOptions opts = { .lock_mode = PANEL_S3_LOCK_GOVERNANCE, .retain_until = until };
  g_autofree char *version = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (PanelS3Object) info = { 0 };
  gboolean exists = TRUE;

  CHECK (panel_s3_put (s3, "locked/governance.age", data, &opts, &version, &error));
  g_assert_no_error (error);
  CHECK (panel_s3_head (s3, "locked/governance.age", version, &info, &error));
  g_assert_cmpint (info.lock_mode, ==, PANEL_S3_LOCK_GOVERNANCE);
  g_assert_cmpint (info.retain_until, ==, until);
  g_assert_false (panel_s3_delete (s3, "locked/governance.age", version, FALSE, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_ACCESS_DENIED);
  g_clear_error (&error);
  /* The lawful end of retention: a privileged deletion goes through. */
  CHECK (panel_s3_delete (s3, "locked/governance.age", version, TRUE, &error));
  g_assert_no_error (error);
  CHECK (panel_s3_exists (s3, "locked/governance.age", &exists, &error));
  g_assert_false (exists);
}

/* The lock of a multipart upload is set after completion. */
static void
test_lock_multipart (void)
{
  g_autoptr (PanelS3) s3 = multipart_client (rgw.locked_bucket);
  g_autoptr (GBytes) data = test_random_bytes (6 * MIB, 23);
  gint64 until = g_get_real_time () / G_USEC_PER_SEC + 86400;
  PanelS3PutOptions opts = { .lock_mode = PANEL_S3_LOCK_COMPLIANCE,
                             .retain_until = until,
                             .legal_hold = TRUE };
  g_autofree char *version = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (PanelS3Object) info = { 0 };

  CHECK (panel_s3_put (s3, "locked/multipart.age", data, &opts, &version, &error));
  g_assert_no_error (error);
  g_assert_nonnull (version);
  CHECK (panel_s3_head (s3, "locked/multipart.age", version, &info, &error));
  g_assert_true (g_str_has_suffix (info.etag, "-2"));
  g_assert_cmpint (info.lock_mode, ==, PANEL_S3_LOCK_COMPLIANCE);
  g_assert_cmpint (info.retain_until, ==, until);
  g_assert_true (info.legal_hold);
  g_assert_false (panel_s3_delete (s3, "locked/multipart.age", version, TRUE, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_ACCESS_DENIED);
}

static void
test_legal_hold (void)
{
  g_autoptr (PanelS3) s3 = client_for (rgw.locked_bucket);
  g_autoptr (GBytes) data = test_random_bytes (2048, 24);
  PanelS3PutOptions opts = { .legal_hold = TRUE };
  g_autofree char *version = NULL;
  g_autoptr (GError) error = NULL;
  PanelS3Object info = { 0 };

  CHECK (panel_s3_put (s3, "locked/held.age", data, &opts, &version, &error));
  g_assert_no_error (error);
  CHECK (panel_s3_head (s3, "locked/held.age", version, &info, &error));
  g_assert_true (info.legal_hold);
  g_assert_cmpint (info.retain_until, ==, 0);
  panel_s3_object_clear (&info);
  g_assert_false (panel_s3_delete (s3, "locked/held.age", version, TRUE, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_ACCESS_DENIED);
  g_clear_error (&error);

  CHECK (panel_s3_set_legal_hold (s3, "locked/held.age", version, FALSE, &error));
  g_assert_no_error (error);
  CHECK (panel_s3_head (s3, "locked/held.age", version, &info, &error));
  g_assert_false (info.legal_hold);
  panel_s3_object_clear (&info);
  CHECK (panel_s3_delete (s3, "locked/held.age", version, FALSE, &error));
  g_assert_no_error (error);

  /* And set on an object stored without it. */
  g_clear_pointer (&version, g_free);
  CHECK (panel_s3_put (s3, "locked/held-later.age", data, NULL, &version, &error));
  CHECK (panel_s3_set_legal_hold (s3, "locked/held-later.age", version, TRUE, &error));
  g_assert_no_error (error);
  CHECK (panel_s3_head (s3, "locked/held-later.age", version, &info, &error));
  g_assert_true (info.legal_hold);
  panel_s3_object_clear (&info);
  g_assert_false (panel_s3_delete (s3, "locked/held-later.age", version, FALSE, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_ACCESS_DENIED);
}

/* Monotonic time at which the gateway's restart began. */
static gint64 restart_began; /* set once by the restart thread before it is joined */

static gpointer
restart_gateway_later (gpointer data)
{
  (void) data;
  g_usleep (700 * 1000);
  restart_began = g_get_monotonic_time ();
  harness_command ("start-rgw");
  return NULL;
}

/* Gateway down: retries with backoff, then an error naming the cause; and
 * when it comes back within the retry budget, the PUT goes through. */
static void
test_gateway_down (void)
{
  g_autoptr (PanelS3) s3 = client_for (rgw.plain_bucket);
  g_autoptr (GBytes) data = test_random_bytes (50000, 31);
  g_autoptr (GError) error = NULL;
  gint64 start, elapsed_ms, done;
  GThread *thread;

  harness_command ("stop-rgw");
  start = g_get_monotonic_time ();
  g_assert_false (panel_s3_put (s3, "down.age", data, NULL, NULL, &error));
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_UNAVAILABLE);
  g_test_message ("%s (after %" G_GINT64_FORMAT " ms)", error->message, elapsed_ms);
  g_assert_nonnull (strstr (error->message, "no answer after 3 attempts"));
  g_assert_nonnull (strstr (error->message, "connect"));
  /* Two backoffs of at least 50 and 100 ms (half of 100 and 200 ms). */
  g_assert_cmpint (elapsed_ms, >=, 150);
  g_clear_error (&error);

  {
    PanelS3Config c = config_for (rgw.plain_bucket);
    g_autoptr (PanelS3) patient = NULL;
    g_autoptr (GBytes) back = NULL;

    c.max_attempts = 40;
    c.retry_delay_ms = 100;
    c.retry_max_delay_ms = 500;
    patient = panel_s3_new (&c, &error);
    g_assert_no_error (error);
    thread = g_thread_new ("restart", restart_gateway_later, NULL);
    CHECK (panel_s3_put (patient, "down.age", data, NULL, NULL, &error));
    g_assert_no_error (error);
    done = g_get_monotonic_time ();
    g_thread_join (thread);
    /* It went through only once the gateway was back. */
    g_assert_cmpint (restart_began, >, 0);
    g_assert_cmpint (done, >, restart_began);
    g_test_message ("stored %" G_GINT64_FORMAT " ms after the restart began",
                    (done - restart_began) / 1000);
    back = panel_s3_get (patient, "down.age", NULL, MIB, &error);
    g_assert_no_error (error);
    g_assert_true (g_bytes_equal (back, data));
  }
}

/* ---- a fault-injecting proxy ------------------------------------------------ */

/* In front of the gateway on loopback: the next `fail` connections get a
 * real HTTP 503 SlowDown answer (as an overloaded S3 service sends), the
 * others are piped to the gateway unchanged. The client signs for the
 * proxy's Host header, which the gateway checks as it receives it. */
typedef struct {
  GSocketListener *listener;
  GCancellable *stop;
  GThread *acceptor;
  guint16 port;
  gint fail;   /* atomic */
  gint failed; /* atomic: 503s sent */
} Proxy;

typedef struct {
  GInputStream *in;
  GSocketConnection *out;
} Pump;

static gpointer
pump (gpointer data)
{
  Pump *p = data;
  char buf[65536];
  gssize n;

  while ((n = g_input_stream_read (p->in, buf, sizeof buf, NULL, NULL)) > 0)
    if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (p->out)), buf, n,
                                    NULL, NULL, NULL))
      break;
  g_socket_shutdown (g_socket_connection_get_socket (p->out), FALSE, TRUE, NULL);
  return NULL;
}

static void
proxy_serve (Proxy *proxy, GSocketConnection *client)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (client));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (client));
  g_autoptr (GString) head = g_string_new (NULL);
  char buf[4096];
  gssize n;

  while (strstr (head->str, "\r\n\r\n") == NULL && head->len < 65536)
    {
      n = g_input_stream_read (in, buf, sizeof buf, NULL, NULL);
      if (n <= 0)
        return;
      g_string_append_len (head, buf, n);
    }
  if (g_atomic_int_get (&proxy->fail) > 0)
    {
      static const char body[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown"
        "</Code><Message>Please reduce your request rate.</Message></Error>";
      g_autofree char *answer =
        g_strdup_printf ("HTTP/1.1 503 Service Unavailable\r\n"
                         "Content-Type: application/xml\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         strlen (body), body);

      g_atomic_int_add (&proxy->fail, -1);
      g_atomic_int_inc (&proxy->failed);
      g_output_stream_write_all (out, answer, strlen (answer), NULL, NULL, NULL);
      return;
    }
  {
    g_autoptr (GSocketClient) sc = g_socket_client_new ();
    g_autoptr (GSocketConnection) upstream =
      g_socket_client_connect_to_host (sc, "127.0.0.1", (guint16) atoi (rgw.port), NULL, NULL);
    Pump back;
    GThread *t;

    if (upstream == NULL)
      return;
    if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (upstream)),
                                    head->str, head->len, NULL, NULL, NULL))
      return;
    back.in = g_io_stream_get_input_stream (G_IO_STREAM (upstream));
    back.out = client;
    t = g_thread_new ("proxy-back", pump, &back);
    {
      Pump forth = { .in = in, .out = upstream };

      pump (&forth);
    }
    g_thread_join (t);
  }
}

typedef struct {
  Proxy *proxy;
  GSocketConnection *client;
} Served;

static gpointer
proxy_connection_thread (gpointer data)
{
  Served *s = data;

  proxy_serve (s->proxy, s->client);
  g_io_stream_close (G_IO_STREAM (s->client), NULL, NULL);
  g_object_unref (s->client);
  g_free (s);
  return NULL;
}

/* Blocking accepts in a thread of their own: the test thread is busy in
 * the client, so no main loop could serve a GSocketService. */
static gpointer
proxy_accept_thread (gpointer data)
{
  Proxy *proxy = data;
  GSocketConnection *client;

  while ((client = g_socket_listener_accept (proxy->listener, NULL, proxy->stop, NULL)) != NULL)
    {
      Served *s = g_new0 (Served, 1);

      s->proxy = proxy;
      s->client = client;
      g_thread_unref (g_thread_new ("proxy-connection", proxy_connection_thread, s));
    }
  return NULL;
}

static void
proxy_start (Proxy *proxy)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) want = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) got = NULL;

  proxy->listener = g_socket_listener_new ();
  proxy->stop = g_cancellable_new ();
  g_socket_listener_add_address (proxy->listener, want, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, &got, &error);
  g_assert_no_error (error);
  proxy->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (got));
  proxy->acceptor = g_thread_new ("proxy-accept", proxy_accept_thread, proxy);
}

/* Connections still open end when the client is freed. */
static void
proxy_stop (Proxy *proxy)
{
  g_cancellable_cancel (proxy->stop);
  g_thread_join (proxy->acceptor);
  g_socket_listener_close (proxy->listener);
  g_clear_object (&proxy->listener);
  g_clear_object (&proxy->stop);
}

/* 503 answers are retried; the upload goes through once they stop, and a
 * service that keeps answering 503 gives an error with its S3 code. */
static void
test_server_errors (void)
{
  Proxy proxy = { 0 };
  g_autofree char *endpoint = NULL;
  PanelS3Config c = config_for (rgw.plain_bucket);
  g_autoptr (GBytes) data = test_random_bytes (70000, 33);
  g_autoptr (GBytes) back = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (PanelS3) s3 = NULL;
  g_autoptr (PanelS3) direct = client_for (rgw.plain_bucket);
  gboolean exists = TRUE;

  proxy_start (&proxy);
  endpoint = g_strdup_printf ("http://127.0.0.1:%u", proxy.port);
  c.endpoint = endpoint;
  c.max_attempts = 4;
  s3 = panel_s3_new (&c, &error);
  g_assert_no_error (error);

  g_atomic_int_set (&proxy.fail, 2);
  CHECK (panel_s3_put (s3, "slow-down.age", data, NULL, NULL, &error));
  g_assert_cmpint (g_atomic_int_get (&proxy.failed), ==, 2);
  back = panel_s3_get (direct, "slow-down.age", NULL, MIB, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, data));

  /* A new client: the first one's kept-alive connection is now a plain
   * pipe to the gateway. */
  g_clear_pointer (&s3, panel_s3_free);
  s3 = panel_s3_new (&c, &error);
  g_assert_no_error (error);
  g_atomic_int_set (&proxy.fail, 100);
  g_atomic_int_set (&proxy.failed, 0);
  g_assert_false (panel_s3_put (s3, "never.age", data, NULL, NULL, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_UNAVAILABLE);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "still failing after 4 attempts: HTTP 503 SlowDown: "
                                            "Please reduce your request rate."));
  g_assert_cmpint (g_atomic_int_get (&proxy.failed), ==, 4);
  g_clear_error (&error);
  CHECK (panel_s3_exists (direct, "never.age", &exists, &error));
  g_assert_false (exists);
  proxy_stop (&proxy);
}

/* A gateway that accepts connections but never answers: each attempt times
 * out, is retried, and the error says so. */
static void
test_gateway_frozen (void)
{
  PanelS3Config c = config_for (rgw.plain_bucket);
  g_autoptr (GBytes) data = test_random_bytes (1000, 32);
  g_autoptr (GError) error = NULL;
  g_autoptr (PanelS3) s3 = NULL;
  gint64 start, elapsed_ms;

  c.timeout_s = 1;
  c.max_attempts = 2;
  s3 = panel_s3_new (&c, &error);
  g_assert_no_error (error);
  harness_command ("pause-rgw");
  start = g_get_monotonic_time ();
  g_assert_false (panel_s3_put (s3, "frozen.age", data, NULL, NULL, &error));
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  harness_command ("resume-rgw");
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_UNAVAILABLE);
  g_test_message ("%s (after %" G_GINT64_FORMAT " ms)", error->message, elapsed_ms);
  g_assert_nonnull (strstr (error->message, "no answer after 2 attempts"));
  g_assert_nonnull (strstr (error->message, "timed out"));
  /* Two timeouts of 1 s; not minutes. */
  g_assert_cmpint (elapsed_ms, >=, 2000);
  g_assert_cmpint (elapsed_ms, <, 20000);
}

static void
test_credentials_mode (void)
{
  g_autofree char *loose = write_credentials ("loose", rgw.access_key, rgw.secret_key, 0644);
  g_autofree char *group = write_credentials ("group", rgw.access_key, rgw.secret_key, 0640);
  g_autofree char *link = g_build_filename (tmp_dir, "link", NULL);
  g_autofree char *missing = g_build_filename (tmp_dir, "missing", NULL);
  g_autofree char *empty = write_credentials ("empty", "", "", 0600);
  PanelS3Config c = config_for (rgw.plain_bucket);
  g_autoptr (GError) error = NULL;
  PanelS3 *s3;

  c.credentials_file = loose;
  s3 = panel_s3_new (&c, &error);
  g_assert_null (s3);
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CREDENTIALS);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "mode 0644"));
  g_assert_nonnull (strstr (error->message, "chmod 600"));
  g_clear_error (&error);

  c.credentials_file = group;
  g_assert_null (panel_s3_new (&c, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CREDENTIALS);
  g_clear_error (&error);

  /* A symbolic link could point anywhere. */
  g_assert_cmpint (symlink (creds_path, link), ==, 0);
  c.credentials_file = link;
  g_assert_null (panel_s3_new (&c, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CREDENTIALS);
  g_clear_error (&error);

  c.credentials_file = missing;
  g_assert_null (panel_s3_new (&c, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CREDENTIALS);
  g_clear_error (&error);

  c.credentials_file = empty;
  g_assert_null (panel_s3_new (&c, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CREDENTIALS);
  g_assert_nonnull (strstr (error->message, "aws_secret_access_key"));
}

static void
test_bad_config (void)
{
  static const struct {
    const char *endpoint;
    const char *bucket;
    guint64 part_size;
    const char *ca_file;
    const char *expect;
  } cases[] = {
    { "ftp://127.0.0.1", "b-ok", 0, NULL, "expected http(s)://HOST[:PORT]" },
    { "http://127.0.0.1/some/path", "b-ok", 0, NULL, "without path" },
    { "not a url", "b-ok", 0, NULL, "S3 endpoint" },
    { "http://127.0.0.1", "Bad_Bucket", 0, NULL, "S3 bucket 'Bad_Bucket'" },
    { "http://127.0.0.1", "b-ok", 1 * MIB, NULL, "below S3's minimum of 5 MiB" },
    { "http://127.0.0.1", "b-ok", 0, "/etc/ssl/certs/ca-certificates.crt", "plain-http" },
    { "http://127.0.0.1:7480", "b-ok", 0, NULL, "needs a host name" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      PanelS3Config c = config_for (cases[i].bucket);
      g_autoptr (GError) error = NULL;

      c.endpoint = cases[i].endpoint;
      c.part_size = cases[i].part_size;
      c.ca_file = cases[i].ca_file;
      if (strstr (cases[i].expect, "host name") != NULL)
        c.addressing = PANEL_S3_VIRTUAL_HOST;
      g_assert_null (panel_s3_new (&c, &error));
      g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_CONFIG);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, cases[i].expect));
    }
}

/* The annotated example config/panel.conf, switched to S3 as its comments
 * tell an operator to, drives a client that stores a locked object. */
static AnsimConfig *
example_s3_config (void)
{
  g_autofree char *example =
    g_build_filename (g_getenv ("ANSIM_SOURCE_ROOT"), "config", "panel.conf", NULL);
  g_autofree char *text = NULL;
  g_autoptr (GString) conf = g_string_new (NULL);
  g_auto (GStrv) lines = NULL;
  g_autoptr (GError) error = NULL;
  AnsimConfig *config;

  g_assert_nonnull (g_getenv ("ANSIM_SOURCE_ROOT"));
  g_file_get_contents (example, &text, NULL, &error);
  g_assert_no_error (error);
  lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      if (strcmp (*l, "store = filesystem") == 0)
        g_string_append (conf, "store = s3\n");
      else if (g_str_has_prefix (*l, "# s3_endpoint = "))
        g_string_append_printf (conf, "s3_endpoint = %s\n", rgw.endpoint);
      else if (g_str_has_prefix (*l, "# s3_bucket = "))
        g_string_append_printf (conf, "s3_bucket = %s\n", rgw.locked_bucket);
      else if (g_str_has_prefix (*l, "# s3_credentials_file = "))
        g_string_append (conf, "s3_credentials_file = credentials\n");
      else if (g_str_has_prefix (*l, "# s3_ca_file = "))
        continue; /* plain http here */
      else if (g_str_has_prefix (*l, "# s3_") && strstr (*l, " = ") != NULL)
        g_string_append_printf (conf, "%s\n", *l + 2);
      else
        g_string_append_printf (conf, "%s\n", *l);
    }
  g_assert_nonnull (strstr (conf->str, "\ns3_lock_mode = governance\n"));
  g_assert_nonnull (strstr (conf->str, "\ns3_retention_days = 30\n"));
  config = ansim_config_load_data (&ansim_panel_config_schema, conf->str, "panel.conf", &error);
  g_assert_no_error (error);
  ansim_config_set_data_dir (config, tmp_dir);
  return config;
}

static void
test_panel_conf (void)
{
  g_autoptr (AnsimConfig) config = example_s3_config ();
  g_autoptr (GError) error = NULL;
  g_autoptr (PanelS3) s3 = NULL;
  g_autoptr (GBytes) data = test_random_bytes (3000, 51);
  g_autofree char *version = NULL;
  g_auto (PanelS3Object) info = { 0 };
  PanelS3PutOptions opts;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  s3 = panel_s3_new_from_config (config, &error);
  g_assert_no_error (error);

  panel_s3_put_options_from_config (config, now, &opts);
  g_assert_cmpint (opts.retain_until, ==, now + 30 * 86400);
  CHECK (panel_s3_put (s3, "conf/segment.age", data, &opts, &version, &error));
  CHECK (panel_s3_head (s3, "conf/segment.age", version, &info, &error));
  g_assert_cmpint (info.lock_mode, ==, PANEL_S3_LOCK_GOVERNANCE);
  g_assert_cmpint (info.retain_until, ==, now + 30 * 86400);
  g_assert_false (panel_s3_delete (s3, "conf/segment.age", version, FALSE, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_ACCESS_DENIED);
  g_clear_error (&error);
  CHECK (panel_s3_delete (s3, "conf/segment.age", version, TRUE, &error));
}

/* The harness ends everything when the test using it is killed outright:
 * a helper run of this program starts one and kills itself with SIGKILL. */
static void
test_harness_after_crash (void)
{
  const char *argv[] = { self_path, harness_path_for_crash, NULL };
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) lines = NULL;
  const char *dir = NULL, *pids = NULL;
  int status = 0;

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, &status,
                &error);
  g_assert_no_error (error);
  g_assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
  lines = g_strsplit (out, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      if (g_str_has_prefix (*l, "dir="))
        dir = *l + 4;
      else if (g_str_has_prefix (*l, "pids="))
        pids = *l + 5;
    }
  g_assert_nonnull (dir);
  g_assert_nonnull (pids);
  assert_torn_down (pids, dir);
}

/* The panel's store interface on the S3 backend, as panel.conf's
 * `store = s3` makes it: idempotent re-sends, no overwrite, the lock, and
 * a gateway down reported as unavailable (ingest answers 503). */
static void
test_store_backend (void)
{
  g_autoptr (AnsimConfig) config = example_s3_config ();
  g_autoptr (GError) error = NULL;
  g_autoptr (PanelStore) store = panel_store_new_s3 (config, &error);
  g_autoptr (PanelS3) s3 = client_for (rgw.locked_bucket);
  g_autoptr (GBytes) data = test_random_bytes (70000, 61);
  g_autoptr (GBytes) other = test_random_bytes (70000, 62);
  g_autoptr (GBytes) back = NULL;
  g_auto (PanelS3Object) info = { 0 };
  const char *key = "store/incident-1/segment-0001.age";
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gboolean existed = TRUE, exists = FALSE;
  gint64 size = 0;

  g_assert_no_error (error);
  CHECK (panel_store_put (store, key, data, NULL, NULL, &existed, &error));
  g_assert_false (existed);
  CHECK (panel_store_put (store, key, data, NULL, NULL, &existed, &error));
  g_assert_true (existed);
  g_assert_false (panel_store_put (store, key, other, NULL, NULL, &existed, &error));
  g_assert_error (error, PANEL_STORE_ERROR, PANEL_STORE_ERROR_CONFLICT);
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  CHECK (panel_store_head (store, key, &exists, &size, &error));
  g_assert_true (exists);
  g_assert_cmpint (size, ==, 70000);
  back = panel_store_get (store, key, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, data));

  /* Locked as panel.conf says: governance, 30 days from receipt. */
  CHECK (panel_s3_head (s3, key, NULL, &info, &error));
  g_assert_cmpint (info.lock_mode, ==, PANEL_S3_LOCK_GOVERNANCE);
  g_assert_cmpint (info.retain_until, >=, now + 30 * 86400);
  g_assert_cmpint (info.retain_until, <=, now + 30 * 86400 + 120);
  g_assert_false (panel_s3_delete (s3, key, info.version_id, FALSE, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_ACCESS_DENIED);
  g_clear_error (&error);

  CHECK (panel_store_head (store, "store/incident-1/missing.age", &exists, NULL, &error));
  g_assert_false (exists);
  g_assert_null (panel_store_get (store, "store/incident-1/missing.age", &error));
  g_assert_error (error, PANEL_STORE_ERROR, PANEL_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);

  harness_command ("stop-rgw");
  g_assert_false (panel_store_put (store, "store/incident-1/segment-0002.age", data, NULL, NULL,
                                   &existed, &error));
  harness_command ("start-rgw");
  g_assert_error (error, PANEL_STORE_ERROR, PANEL_STORE_ERROR_UNAVAILABLE);
  g_test_message ("%s", error->message);
}

static gboolean
desk_all_confirmed (gpointer data)
{
  return test_desk_count (data, "confirmed_at_us IS NULL") == 0;
}

/* The whole upload path with the real daemons: a desk's sealed incidents go
 * through ansim-uploader to ansim-panel with `store = s3`; every segment is
 * in the bucket once, byte for byte as the panel's incident log says,
 * locked, and its deletion refused. */
static void
test_store_end_to_end (void)
{
  g_autofree char *desk_dir = g_build_filename (tmp_dir, "e2e-desk", NULL);
  g_autofree char *panel_dir = g_build_filename (tmp_dir, "e2e-panel", NULL);
  g_autofree char *extra = g_strdup_printf ("store = s3\ns3_endpoint = %s\ns3_bucket = %s\n"
                                            "s3_credentials_file = %s\ns3_max_attempts = 3\n",
                                            rgw.endpoint, rgw.locked_bucket, creds_path);
  g_autoptr (TestDesk) desk = test_desk_new (desk_dir);
  g_autoptr (TestPanel) panel = test_panel_new (panel_dir, extra);
  g_autoptr (PanelS3) s3 = client_for (rgw.locked_bucket);
  g_autoptr (GSubprocess) uploader = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) segs = NULL;
  g_autoptr (GPtrArray) keys = NULL;
  sqlite3 *pdb;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  guint n = 0, in_bucket = 0;

  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1"); /* the test desk's manifests name dev-1 */
  g_free (test_desk_record (desk, 3, 100000));
  g_free (test_desk_record (desk, 2, 70000));
  uploader = test_uploader_start (desk, panel->url, "retry_max = 2");
  if (!test_wait_until (desk_all_confirmed, desk, 60))
    {
      g_autofree char *up_path = g_build_filename (desk->dir, "uploader.log", NULL);
      g_autofree char *up_log = NULL, *panel_log = NULL;

      g_file_get_contents (up_path, &up_log, NULL, NULL);
      g_file_get_contents (panel->log_path, &panel_log, NULL, NULL);
      g_error ("%" G_GINT64_FORMAT " outbox items unconfirmed after 60 s\nuploader:\n%s\n"
               "panel:\n%s",
               test_desk_count (desk, "confirmed_at_us IS NULL"), up_log, panel_log);
    }

  segs = ansim_db_prepare (desk->db,
                           "SELECT i.uuid, s.idx, s.cipher_sha256 FROM segments s "
                           "JOIN incidents i ON i.id = s.incident_id ORDER BY i.id, s.idx",
                           &error);
  g_assert_no_error (error);
  pdb = test_panel_open_db (panel);
  while (sqlite3_step (segs) == SQLITE_ROW)
    {
      g_autoptr (sqlite3_stmt) p =
        ansim_db_prepare (pdb,
                          "SELECT s.store_key, s.cipher_sha256 FROM segments s JOIN incidents i "
                          "ON i.id = s.incident_id WHERE i.uuid = ?1 AND s.idx = ?2",
                          &error);
      g_auto (PanelS3Object) info = { 0 };
      g_autoptr (GBytes) bytes = NULL;
      g_autofree char *actual = NULL;
      const char *key, *sha = (const char *) sqlite3_column_text (segs, 2);

      g_assert_no_error (error);
      sqlite3_bind_text (p, 1, (const char *) sqlite3_column_text (segs, 0), -1, SQLITE_STATIC);
      sqlite3_bind_int64 (p, 2, sqlite3_column_int64 (segs, 1));
      g_assert_cmpint (sqlite3_step (p), ==, SQLITE_ROW);
      g_assert_cmpstr ((const char *) sqlite3_column_text (p, 1), ==, sha);
      key = (const char *) sqlite3_column_text (p, 0);
      g_assert_nonnull (key);
      bytes = panel_s3_get (s3, key, NULL, 16 * MIB, &error);
      g_assert_no_error (error);
      actual = sha256_of (bytes);
      g_assert_cmpstr (actual, ==, sha);
      CHECK (panel_s3_head (s3, key, NULL, &info, &error));
      g_assert_cmpstr (info.sha256, ==, sha);
      g_assert_cmpint (info.lock_mode, ==, PANEL_S3_LOCK_GOVERNANCE);
      g_assert_cmpint (info.retain_until, >=, now + 30 * 86400);
      g_assert_false (panel_s3_delete (s3, key, info.version_id, FALSE, &error));
      g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_ACCESS_DENIED);
      g_clear_error (&error);
      n++;
    }
  sqlite3_close (pdb);
  g_assert_cmpuint (n, ==, 5);

  /* Exactly once: as many segment objects under the device as segments. */
  keys = panel_s3_list (s3, "dev-1/", 10000, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < keys->len; i++)
    {
      const char *slash = strrchr (keys->pdata[i], '/');

      if (slash != NULL && g_str_has_prefix (slash + 1, "seg-"))
        in_bucket++;
    }
  g_assert_cmpuint (in_bucket, ==, n);

  /* The gateway down: the panel answers 503 (store-unavailable), the desk
   * keeps its queue and sends it once the gateway is back. */
  harness_command ("stop-rgw");
  g_free (test_desk_record (desk, 2, 50000));
  {
    g_autofree char *log = NULL;
    gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

    do
      {
        g_usleep (200 * 1000);
        g_clear_pointer (&log, g_free);
        g_file_get_contents (panel->log_path, &log, NULL, NULL);
      }
    while ((log == NULL || strstr (log, "store-unavailable") == NULL)
           && g_get_monotonic_time () < deadline);
    g_assert_nonnull (log);
    g_assert_nonnull (strstr (log, ": 503 {\"error\":\"store-unavailable\""));
  }
  g_assert_cmpint (test_desk_count (desk, "confirmed_at_us IS NULL"), >, 0);
  g_assert_cmpint (test_desk_count (desk, "deleted_at_us IS NOT NULL AND confirmed_at_us IS NULL"),
                   ==, 0);
  harness_command ("start-rgw");
  if (!test_wait_until (desk_all_confirmed, desk, 90))
    g_error ("%" G_GINT64_FORMAT " outbox items unconfirmed 90 s after the gateway returned",
             test_desk_count (desk, "confirmed_at_us IS NULL"));
  g_clear_pointer (&keys, g_ptr_array_unref);
  keys = panel_s3_list (s3, "dev-1/", 10000, &error);
  g_assert_no_error (error);
  in_bucket = 0;
  for (guint i = 0; i < keys->len; i++)
    {
      const char *slash = strrchr (keys->pdata[i], '/');

      if (slash != NULL && g_str_has_prefix (slash + 1, "seg-"))
        in_bucket++;
    }
  g_assert_cmpuint (in_bucket, ==, n + 2);
  test_process_stop (uploader, SIGTERM);
  test_panel_stop (panel, SIGTERM);
}

/* ---- retention on the S3 store -------------------------------------------- */

#define ADMIN 0
#define SECURITY 1

static void
console_post_ok (TestConsole *c, const char *path, const TestLogin *who, const char *body)
{
  g_autofree char *reply = NULL;
  guint status = test_console_post (c, path, who, TRUE, body, &reply);

  if (status != 200)
    g_error ("POST %s %s: %u %s", path, body, status, reply);
}

/* Every current object version under prefix, HEADed. */
static GPtrArray *
objects_under (PanelS3 *s3, const char *prefix)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) versions = panel_s3_list_versions (s3, prefix, 1000, &error);
  GPtrArray *objects = g_ptr_array_new_with_free_func (g_free);

  g_assert_no_error (error);
  for (guint i = 0; i < versions->len; i++)
    {
      PanelS3Version *v = versions->pdata[i];
      PanelS3Object *o = g_new0 (PanelS3Object, 1);

      g_assert_false (v->is_delete_marker);
      CHECK (panel_s3_head (s3, v->key, v->version_id, o, &error));
      g_ptr_array_add (objects, o);
    }
  return objects;
}

static void
objects_free (GPtrArray *objects)
{
  for (guint i = 0; i < objects->len; i++)
    panel_s3_object_clear (objects->pdata[i]);
  g_ptr_array_unref (objects);
}

/* SELECT what FROM incidents WHERE uuid = uuid */
static gint64
panel_value (TestPanel *panel, const char *what, const char *uuid)
{
  g_autofree char *sql = g_strdup_printf ("SELECT %s FROM incidents WHERE uuid = '%s'", what, uuid);

  return test_panel_count (panel, sql);
}

/* Retention on the Object-Lock bucket with the real daemons: each object's
 * date is its incident's expiry under the policy (drill 7 days, incident
 * 30, then 45 when an admin lengthens it), deletion before it refused; a
 * legal hold set and cleared on every object of the incident; the purge of
 * an expired drill removes every version although its GOVERNANCE date has
 * not passed, and a held incident survives it. */
static void
test_store_retention (void)
{
  g_autofree char *desk_dir = g_build_filename (tmp_dir, "ret-desk", NULL);
  g_autofree char *panel_dir = g_build_filename (tmp_dir, "ret-panel", NULL);
  g_autofree char *extra = g_strdup_printf ("store = s3\ns3_endpoint = %s\ns3_bucket = %s\n"
                                            "s3_credentials_file = %s\ns3_max_attempts = 3\n"
                                            "purge_interval_s = 0\n",
                                            rgw.endpoint, rgw.locked_bucket, creds_path);
  g_autoptr (TestDesk) desk = test_desk_new (desk_dir);
  g_autoptr (TestPanel) panel = test_panel_new (panel_dir, extra);
  g_autoptr (PanelS3) s3 = client_for (rgw.locked_bucket);
  g_autoptr (GSubprocess) uploader = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *drill = NULL, *real = NULL, *drill_prefix = NULL, *real_prefix = NULL;
  g_autofree char *hold_path = NULL, *resolve_drill = NULL, *resolve_real = NULL, *out = NULL;
  g_autofree char *age = NULL;
  g_autoptr (TestConsole) c = NULL;
  TestLogin logins[2] = { 0 }; /* ADMIN, SECURITY */
  const char *purge[] = { "purge", "--now", "--config", panel->conf, NULL };
  gint64 drill_id, real_id, drill_alerted, real_alerted;
  GPtrArray *objects;

  for (guint i = 0; i < 2; i++)
    {
      const char *name = i == 0 ? "admin" : "security";

      test_add_user (panel->conf, name, name, "s3-retention-pw-1");
    }
  test_add_user (panel->conf, "admin2", "admin", "s3-retention-pw-1");
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");
  c = test_console_new (panel->url, NULL, 30);
  test_console_login (c, "admin", "s3-retention-pw-1", &logins[ADMIN]);
  test_console_login (c, "security", "s3-retention-pw-1", &logins[SECURITY]);
  console_post_ok (c, "/api/settings/retention", &logins[ADMIN], "{\"drill\": 7}");

  /* Drills are armed on the panel (a desk cannot mark one,
   * docs/protocol.md): the first press at the desk is the drill. */
  {
    const char *arm[] = { "drill", "arm",      "--desk",    "desk-1", "--minutes",
                          "5",     "--config", panel->conf, NULL };
    g_autofree char *armed = test_ansimctl_ok (NULL, arm);
    (void) armed;
  }
  drill = test_desk_record (desk, 2, 20000);
  real = test_desk_record (desk, 2, 20000);
  uploader = test_uploader_start (desk, panel->url, "retry_max = 2");
  if (!test_wait_until (desk_all_confirmed, desk, 60))
    g_error ("%" G_GINT64_FORMAT " outbox items unconfirmed after 60 s",
             test_desk_count (desk, "confirmed_at_us IS NULL"));
  test_process_stop (uploader, SIGTERM);
  drill_id = panel_value (panel, "id", drill);
  real_id = panel_value (panel, "id", real);
  drill_alerted = panel_value (panel, "alerted_at_us", drill);
  real_alerted = panel_value (panel, "alerted_at_us", real);
  drill_prefix = g_strdup_printf ("dev-1/%s/", drill);
  real_prefix = g_strdup_printf ("dev-1/%s/", real);

  /* The dates follow the policy; deleting before them is refused. */
  objects = objects_under (s3, drill_prefix);
  g_assert_cmpuint (objects->len, >=, 4);
  for (guint i = 0; i < objects->len; i++)
    {
      PanelS3Object *o = objects->pdata[i];

      g_assert_cmpint (o->lock_mode, ==, PANEL_S3_LOCK_GOVERNANCE);
      g_assert_cmpint (o->retain_until, ==,
                       (drill_alerted + 7 * DAY_US + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
      g_assert_false (o->legal_hold);
    }
  {
    g_autoptr (GPtrArray) versions = panel_s3_list_versions (s3, drill_prefix, 1000, &error);
    PanelS3Version *v;

    g_assert_no_error (error);
    v = versions->pdata[0];
    g_assert_false (panel_s3_delete (s3, v->key, v->version_id, FALSE, &error));
    g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_ACCESS_DENIED);
    g_clear_error (&error);
  }
  objects_free (objects);
  objects = objects_under (s3, real_prefix);
  for (guint i = 0; i < objects->len; i++)
    g_assert_cmpint (((PanelS3Object *) objects->pdata[i])->retain_until, ==,
                     (real_alerted + 30 * DAY_US + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
  objects_free (objects);

  /* A legal hold reaches every object; releasing it clears them. */
  hold_path = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/legal-hold", real_id);
  console_post_ok (c, hold_path, &logins[ADMIN],
                   "{\"hold\": true, \"reason\": \"court order 2026-1\"}");
  objects = objects_under (s3, real_prefix);
  for (guint i = 0; i < objects->len; i++)
    g_assert_true (((PanelS3Object *) objects->pdata[i])->legal_hold);
  objects_free (objects);
  /* Releasing takes two administrators (four eyes). */
  {
    g_autofree char *asked = NULL;
    g_assert_cmpint (test_console_post (c, hold_path, &logins[ADMIN], TRUE,
                                        "{\"hold\": false, \"reason\": \"order lifted\"}", &asked),
                     ==, 202);
    g_autoptr (JsonObject) request = test_json_parse_object (asked);
    g_autofree char *decide = g_strdup_printf ("/api/approvals/%" G_GINT64_FORMAT,
                                               json_object_get_int_member (request, "approval"));
    TestLogin second = { 0 };
    test_console_login (c, "admin2", "s3-retention-pw-1", &second);
    console_post_ok (c, decide, &second, "{\"decision\": \"approve\"}");
    test_login_clear (&second);
  }
  objects = objects_under (s3, real_prefix);
  for (guint i = 0; i < objects->len; i++)
    g_assert_false (((PanelS3Object *) objects->pdata[i])->legal_hold);
  objects_free (objects);

  /* A longer period extends the dates (the purge pass does it). */
  console_post_ok (c, "/api/settings/retention", &logins[ADMIN], "{\"incident\": 45}");
  out = test_ansimctl_ok (NULL, purge);
  g_clear_pointer (&out, g_free);
  objects = objects_under (s3, real_prefix);
  for (guint i = 0; i < objects->len; i++)
    g_assert_cmpint (((PanelS3Object *) objects->pdata[i])->retain_until, ==,
                     (real_alerted + 45 * DAY_US + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
  objects_free (objects);

  /* Both resolved, the real one held again; 100 days pass in the
   * database, not in the bucket: the drill's GOVERNANCE dates are still
   * ahead, and the purge bypasses them because the policy says so. */
  resolve_drill = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/resolve", drill_id);
  resolve_real = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/resolve", real_id);
  console_post_ok (c, resolve_drill, &logins[SECURITY], "{\"category\": \"drill\"}");
  console_post_ok (c, resolve_real, &logins[SECURITY], "{\"category\": \"assault\"}");
  console_post_ok (c, hold_path, &logins[ADMIN],
                   "{\"hold\": true, \"reason\": \"court order 2026-2\"}");
  test_panel_stop (panel, SIGTERM);
  {
    g_autofree char *db_path = g_build_filename (panel->dir, "panel.db", NULL);
    g_autoptr (sqlite3) db = NULL;

    g_assert_cmpint (sqlite3_open (db_path, &db), ==, SQLITE_OK);
    age = g_strdup_printf ("UPDATE incidents SET alerted_at_us = alerted_at_us - %" G_GINT64_FORMAT,
                           100 * DAY_US);
    g_assert_cmpint (sqlite3_exec (db, age, NULL, NULL, NULL), ==, SQLITE_OK);
  }
  out = test_ansimctl_ok (NULL, purge);
  g_assert_nonnull (strstr (out, "1 incident purged"));
  {
    g_autoptr (GPtrArray) left = panel_s3_list_versions (s3, drill_prefix, 1000, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (left->len, ==, 0);
  }
  g_assert_cmpint (panel_value (panel, "count(*)", drill), ==, 0);
  g_assert_cmpint (test_panel_count (panel,
                                     "SELECT count(*) FROM audit_log WHERE action = "
                                     "'incident-purged' AND json_extract (detail, '$.store') "
                                     "= 's3' AND json_extract (detail, '$.objects_deleted') >= 4"),
                   ==, 1);
  objects = objects_under (s3, real_prefix);
  g_assert_cmpuint (objects->len, >=, 4);
  for (guint i = 0; i < objects->len; i++)
    g_assert_true (((PanelS3Object *) objects->pdata[i])->legal_hold);
  objects_free (objects);
  g_assert_cmpint (panel_value (panel, "count(*)", real), ==, 1);
  for (guint i = 0; i < 2; i++)
    test_login_clear (&logins[i]);
}

/* Runs last: the gateway of all the tests stops, with nothing left over. */
static void
test_harness_stop (void)
{
  g_autofree char *dir = g_strdup (rgw.dir);
  g_autofree char *pids = g_strdup (rgw.pids);

  harness_stop ();
  assert_torn_down (pids, dir);
}

/* Runs last: from here on every new version in the locked bucket is locked. */
static void
test_default_retention (void)
{
  g_autoptr (PanelS3) s3 = multipart_client (rgw.locked_bucket);
  g_autoptr (GBytes) data = test_random_bytes (6 * MIB, 41);
  g_autofree char *version = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (PanelS3Object) info = { 0 };
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  CHECK (panel_s3_set_default_retention (s3, PANEL_S3_LOCK_GOVERNANCE, 30, &error));
  g_assert_no_error (error);
  CHECK (panel_s3_put (s3, "default/multipart.age", data, NULL, &version, &error));
  g_assert_no_error (error);
  CHECK (panel_s3_head (s3, "default/multipart.age", version, &info, &error));
  g_assert_cmpint (info.lock_mode, ==, PANEL_S3_LOCK_GOVERNANCE);
  g_assert_cmpint (info.retain_until, >=, now + 30 * 86400 - 60);
  g_assert_cmpint (info.retain_until, <=, now + 31 * 86400 + 60);
  g_assert_false (panel_s3_delete (s3, "default/multipart.age", version, FALSE, &error));
  g_assert_error (error, PANEL_S3_ERROR, PANEL_S3_ERROR_ACCESS_DENIED);
}

int
main (int argc, char **argv)
{
  static const char *const tools[] = { "ceph-mon",      "ceph-osd", "radosgw",
                                       "radosgw-admin", "ceph",     NULL };
  const char *harness = NULL;
  gboolean required = FALSE;
  int n = 1, ret;

  self_path = argv[0];
  for (int i = 1; i < argc; i++)
    {
      if (g_str_has_prefix (argv[i], "--crash-with-harness="))
        {
          /* The helper run of /s3/harness/cleanup-after-crash. */
          if (!harness_start (argv[i] + strlen ("--crash-with-harness=")))
            return 1;
          g_print ("dir=%s\npids=%s\n", rgw.dir, rgw.pids);
          fflush (stdout);
          raise (SIGKILL);
        }
      if (g_str_has_prefix (argv[i], "--harness="))
        harness = argv[i] + strlen ("--harness=");
      else if (strcmp (argv[i], "--require-ceph") == 0)
        required = TRUE;
      else
        argv[n++] = argv[i];
    }
  argc = n;
  argv[argc] = NULL;
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; tools[i] != NULL; i++)
    {
      g_autofree char *found = g_find_program_in_path (tools[i]);

      if (found == NULL)
        {
          g_autofree char *why = g_strdup_printf ("%s not installed (Debian packages ceph-mon "
                                                  "ceph-osd radosgw ceph-common)",
                                                  tools[i]);

          if (required)
            {
              g_printerr ("%s, but -Ds3_tests=enabled\n", why);
              return 1;
            }
          /* TAP "1..0 # SKIP": counted as skipped, never as passed. */
          g_print ("1..0 # SKIP %s\n", why);
          return 0;
        }
    }
  if (harness == NULL)
    g_error ("usage: test-s3 --harness=PATH/ceph-rgw [--require-ceph]");
  harness_path_for_crash = g_strdup_printf ("--crash-with-harness=%s", harness);

  if (!harness_start (harness))
    g_error ("the Ceph test gateway did not start (see its messages above)");
  /* Inside the harness's directory, so that it goes even if this test dies. */
  tmp_dir = g_build_filename (rgw.dir, "client", NULL);
  g_assert_cmpint (g_mkdir (tmp_dir, 0700), ==, 0);
  g_test_message ("gateway %s, buckets %s and %s", rgw.endpoint, rgw.locked_bucket,
                  rgw.plain_bucket);
  creds_path = write_credentials ("credentials", rgw.access_key, rgw.secret_key, 0600);

  g_test_add_func ("/s3/config/refused", test_bad_config);
  g_test_add_func ("/s3/config/panel-conf", test_panel_conf);
  g_test_add_func ("/s3/credentials/unsafe-file-refused", test_credentials_mode);
  g_test_add_func ("/s3/round-trip/path-style", test_round_trip_path_style);
  g_test_add_func ("/s3/round-trip/virtual-host", test_round_trip_virtual_host);
  g_test_add_func ("/s3/round-trip/https", test_https);
  g_test_add_func ("/s3/round-trip/list", test_list);
  g_test_add_func ("/s3/errors/bad-digest", test_bad_digest);
  g_test_add_func ("/s3/errors/wrong-credentials", test_wrong_secret);
  g_test_add_func ("/s3/errors/wrong-declared-sha256", test_wrong_declared_sha256);
  g_test_add_func ("/s3/errors/damaged-object-on-get", test_damaged_on_get);
  g_test_add_func ("/s3/multipart/round-trip", test_multipart);
  g_test_add_func ("/s3/multipart/failed-part-aborts", test_multipart_failure_aborts);
  g_test_add_func ("/s3/object-lock/compliance", test_lock_compliance);
  g_test_add_func ("/s3/object-lock/governance", test_lock_governance);
  g_test_add_func ("/s3/object-lock/multipart", test_lock_multipart);
  g_test_add_func ("/s3/object-lock/legal-hold", test_legal_hold);
  g_test_add_func ("/s3/object-lock/bucket-default", test_default_retention);
  g_test_add_func ("/s3/errors/gateway-down", test_gateway_down);
  g_test_add_func ("/s3/errors/gateway-frozen", test_gateway_frozen);
  g_test_add_func ("/s3/errors/server-errors-retried", test_server_errors);
  g_test_add_func ("/s3/store/backend", test_store_backend);
  g_test_add_func ("/s3/store/end-to-end", test_store_end_to_end);
  g_test_add_func ("/s3/store/retention", test_store_retention);
  g_test_add_func ("/s3/harness/cleanup-after-crash", test_harness_after_crash);
  g_test_add_func ("/s3/harness/stop", test_harness_stop);

  ret = g_test_run ();

  harness_stop (); /* if /s3/harness/stop did not run */
  g_free (tmp_dir);
  g_free (harness_path_for_crash);
  g_free (rgw.dir);
  g_free (creds_path);
  g_free (rgw.endpoint);
  g_free (rgw.tls_endpoint);
  g_free (rgw.tls_ca_file);
  g_free (rgw.pids);
  g_free (rgw.port);
  g_free (rgw.access_key);
  g_free (rgw.secret_key);
  g_free (rgw.locked_bucket);
  g_free (rgw.plain_bucket);
  return ret;
}
