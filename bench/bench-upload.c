/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Upload benchmarks on loopback with the real daemons: press → alert
 * recorded by the panel (p50/p99 over N presses), and segment ingest
 * throughput, each next to a plain HTTP baseline measured in the same run
 * (a bare libsoup PUT server; libcurl for the round trip, the `curl` CLI
 * for the bulk upload). See README "Benchmarks". */
#include <curl/curl.h>
#include <fcntl.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "outbox.h"
#include "upload-helpers.h"

/* ---- the baseline server: PUT writes the body to a file, nothing else --- */

typedef struct {
  char *dir;
  guint port;
  GMainContext *context;
  GMainLoop *loop;
} Plain;

static void
plain_put (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
           gpointer user_data)
{
  (void) server, (void) query;
  Plain *p = user_data;
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *file = g_build_filename (p->dir, base, NULL);
  int fd = open (file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0)
    {
      if (write (fd, body->data, body->length) != (ssize_t) body->length)
        g_printerr ("short write\n");
      close (fd);
    }
  soup_server_message_set_status (msg, fd >= 0 ? 201 : 500, NULL);
}

static gpointer
plain_thread (gpointer data)
{
  Plain *p = data;
  g_main_context_push_thread_default (p->context);
  SoupServer *server = soup_server_new (NULL, NULL);
  soup_server_add_handler (server, NULL, plain_put, p, NULL);
  g_assert_true (soup_server_listen_local (server, p->port, SOUP_SERVER_LISTEN_IPV4_ONLY, NULL));
  g_main_loop_run (p->loop);
  g_object_unref (server);
  g_main_context_pop_thread_default (p->context);
  return NULL;
}

static size_t
discard (char *ptr, size_t size, size_t nmemb, void *data)
{
  (void) ptr, (void) data;
  return size * nmemb;
}

typedef struct {
  TestDesk *desk;
  TestPanel *panel;
  const char *uuid;
  gint64 alerted_at_us;
} Ctx;

static gboolean
alert_recorded (gpointer data)
{
  Ctx *c = data;
  sqlite3 *db = test_panel_open_db (c->panel);
  sqlite3_stmt *stmt = NULL;
  sqlite3_prepare_v2 (db, "SELECT alerted_at_us FROM incidents WHERE uuid = ?1", -1, &stmt, NULL);
  sqlite3_bind_text (stmt, 1, c->uuid, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    c->alerted_at_us = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return c->alerted_at_us != 0;
}

static gboolean
outbox_empty (gpointer data)
{
  Ctx *c = data;
  return test_desk_count (c->desk, "confirmed_at_us IS NULL") == 0;
}

int
main (int argc, char **argv)
{
  int presses = 100, minutes = 60, kbps = 2000;
  g_autofree char *build_root = NULL;
  g_autofree char *panel_extra = NULL;
  g_autofree char *store_label = NULL;
  GOptionEntry entries[] = {
    { "presses", 0, 0, G_OPTION_ARG_INT, &presses, "Presses to time (100)", "N" },
    { "backlog-minutes", 0, 0, G_OPTION_ARG_INT, &minutes, "Minutes of footage in the backlog (60)",
      "N" },
    { "kbps", 0, 0, G_OPTION_ARG_INT, &kbps, "Bit rate of the footage, kbit/s (2000: 720p)", "N" },
    { "build-root", 0, 0, G_OPTION_ARG_FILENAME, &build_root, "The build directory", "DIR" },
    { "panel-extra", 0, 0, G_OPTION_ARG_STRING, &panel_extra,
      "More [panel] lines, e.g. an S3 store (bench/run-s3)", "LINES" },
    { "store-label", 0, 0, G_OPTION_ARG_STRING, &store_label,
      "How the table names the store (filesystem store, fsync per object)", "TEXT" },
    { NULL }
  };
  g_autoptr (GOptionContext) oc = g_option_context_new ("- upload benchmarks");
  g_option_context_add_main_entries (oc, entries, NULL);
  if (!g_option_context_parse (oc, &argc, &argv, NULL) || build_root == NULL)
    {
      g_printerr ("usage: bench-upload --build-root DIR [--presses N] [--backlog-minutes N] "
                  "[--panel-extra LINES]\n");
      return 2;
    }
  g_setenv ("ANSIM_BUILD_ROOT", build_root, TRUE);
  curl_global_init (CURL_GLOBAL_DEFAULT);
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ansim-bench-XXXXXX", &error);
  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);
  g_autofree char *plain_dir = g_build_filename (dir, "plain", NULL);
  g_mkdir_with_parents (plain_dir, 0700);

  TestDesk *desk = test_desk_new (desk_dir);
  /* "\n" in LINES from a shell argument becomes a line break. */
  g_autofree char *extra = panel_extra != NULL ? g_strcompress (panel_extra) : NULL;
  TestPanel *panel = test_panel_new (panel_dir, extra);
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");
  GSubprocess *uploader = test_uploader_start (
    desk, panel->url,
    "poll_interval = 3600\nsupervision_s = 0\nheartbeat_interval = 86400\nretry_max = 1");
  g_usleep (300000);
  g_autofree char *sock = g_build_filename (desk_dir, "uploader.sock", NULL);
  Ctx c = { .desk = desk, .panel = panel };

  Plain plain = { .dir = plain_dir, .port = test_free_port (), .context = g_main_context_new () };
  plain.loop = g_main_loop_new (plain.context, FALSE);
  GThread *plain_t = g_thread_new ("plain", plain_thread, &plain);
  g_usleep (200000);

  /* press → alert: the recorder's part (rows + queue + wake, as the outbox
   * contract says) until the panel has stamped alerted_at_us. */
  g_autoptr (GArray) ours = g_array_new (FALSE, FALSE, sizeof (gint64));
  /* where the time goes: the desk's commit (rows, fsync), then the rest
   * (wake-up, uploader, HTTP, the panel up to its stamp) */
  g_autoptr (GArray) commit = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) rest = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (int i = 0; i < presses; i++)
    {
      gint64 t0 = g_get_real_time ();
      TestIncident *inc = test_incident_open (desk);
      gint64 committed = g_get_real_time () - t0;
      g_array_append_val (commit, committed);
      ansim_outbox_wake_uploader (sock, NULL);
      c.uuid = test_incident_get_uuid (inc);
      c.alerted_at_us = 0;
      if (!test_wait_until (alert_recorded, &c, 10))
        g_error ("alert %d never arrived", i);
      gint64 latency = c.alerted_at_us - t0;
      g_array_append_val (ours, latency);
      gint64 after = latency - committed;
      g_array_append_val (rest, after);
      test_incident_close (inc);
      ansim_outbox_wake_uploader (sock, NULL);
      test_wait_until (outbox_empty, &c, 10);
    }
  /* baseline: one PUT of an alert-sized body to the plain server, libcurl,
   * a reused connection as the uploader has */
  g_autoptr (GArray) base = g_array_new (FALSE, FALSE, sizeof (gint64));
  CURL *curl = curl_easy_init ();
  g_autofree char *purl = g_strdup_printf ("http://127.0.0.1:%u/alert", plain.port);
  const char *alert = "{\"desk_id\":\"desk-1\",\"desk_name\":\"x\",\"trigger\":\"desk-button\","
                      "\"trigger_kind\":\"button\",\"opened_wall_us\":1,\"opened_mono_us\":1}";
  for (int i = 0; i < presses; i++)
    {
      curl_easy_setopt (curl, CURLOPT_URL, purl);
      curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, "PUT");
      curl_easy_setopt (curl, CURLOPT_POSTFIELDS, alert);
      curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, discard);
      gint64 t0 = g_get_monotonic_time ();
      g_assert_cmpint (curl_easy_perform (curl), ==, CURLE_OK);
      gint64 d = g_get_monotonic_time () - t0;
      g_array_append_val (base, d);
    }
  curl_easy_cleanup (curl);
  /* --presses 0: throughput only */
  double p50 = presses > 0 ? test_percentile_ms (ours, 0.5) : 0;
  double p99 = presses > 0 ? test_percentile_ms (ours, 0.99) : 0;
  double b50 = presses > 0 ? test_percentile_ms (base, 0.5) : 0;
  double b99 = presses > 0 ? test_percentile_ms (base, 0.99) : 0;

  /* ingest throughput: a sealed backlog of 2 s segments, then one wake */
  int segments = minutes * 30;
  gsize segment_bytes = (gsize) kbps * 1000 / 8 * 2;
  g_free (test_desk_record (desk, segments, segment_bytes));
  gint64 bytes = 0;
  {
    sqlite3_stmt *stmt = NULL;
    sqlite3_prepare_v2 (desk->db, "SELECT sum (cipher_size) FROM segments", -1, &stmt, NULL);
    sqlite3_step (stmt);
    bytes = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
  }
  gint64 t0 = g_get_monotonic_time ();
  ansim_outbox_wake_uploader (sock, NULL);
  if (!test_wait_until (outbox_empty, &c, 600))
    g_error ("the backlog did not drain");
  double ours_s = (g_get_monotonic_time () - t0) / 1e6;
  /* baseline: the curl CLI PUTs the same files to the plain server, one
   * invocation (one connection) for all, listed in a config file */
  g_autoptr (GString) list = g_string_new (NULL);
  {
    sqlite3_stmt *stmt = NULL;
    sqlite3_prepare_v2 (desk->db, "SELECT spool_path, rowid FROM segments", -1, &stmt, NULL);
    while (sqlite3_step (stmt) == SQLITE_ROW)
      g_string_append_printf (list,
                              "url = \"http://127.0.0.1:%u/up/%lld\"\n"
                              "upload-file = \"%s/%s\"\noutput = \"/dev/null\"\n",
                              plain.port, (long long) sqlite3_column_int64 (stmt, 1), desk->spool,
                              sqlite3_column_text (stmt, 0));
    sqlite3_finalize (stmt);
  }
  g_autofree char *list_path = g_build_filename (dir, "curl.conf", NULL);
  g_assert_true (g_file_set_contents (list_path, list->str, list->len, &error));
  const char *curl_argv[] = { "curl", "-s", "-f", "-K", list_path, NULL };
  gint64 t1 = g_get_monotonic_time ();
  int status = 0;
  g_assert_true (g_spawn_sync (NULL, (char **) curl_argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               NULL, NULL, &status, &error));
  double curl_s = (g_get_monotonic_time () - t1) / 1e6;
  g_assert_cmpint (status, ==, 0);

  double ours_mbps = bytes / ours_s / 1e6, curl_mbps = bytes / curl_s / 1e6;
  g_autofree char *l50 = g_strdup_printf ("  p50 ms over %d presses", presses);
  g_autofree char *l99 = g_strdup_printf ("  p99 ms over %d presses", presses);
  g_autofree char *lin = g_strdup_printf ("drain %d min of %d kbit/s footage, %d x 2 s segments",
                                          minutes, kbps, segments);
  if (presses > 0)
    {
      printf ("%-58s %9s %9s %7s\n", "press -> alert recorded by the panel (loopback)", "ansim",
              "plain", "ratio");
      printf ("%-58s %9.2f %9.2f %7.2f\n", l50, p50, b50, p50 / b50);
      printf ("%-58s %9.2f %9.2f %7.2f   goal p99 < 100 ms: %s\n", l99, p99, b99, p99 / b99,
              p99 < 100 ? "met" : "NOT MET");
      printf ("%-58s %9.2f / %.2f\n", "  of which the desk's commit (rows + fsync), p50 / p99",
              test_percentile_ms (commit, 0.5), test_percentile_ms (commit, 0.99));
      printf ("%-58s %9.2f / %.2f\n", "  then wake, uploader, HTTP, panel, p50 / p99",
              test_percentile_ms (rest, 0.5), test_percentile_ms (rest, 0.99));
    }
  printf ("%-58s %9s %9s %7s\n", lin, "ansim", "curl PUT", "ratio");
  g_autofree char *lsec = g_strdup_printf (
    "  seconds (%s)", store_label != NULL ? store_label : "filesystem store, fsync per object");
  printf ("%-58s %9.1f %9.1f %7.2f\n", lsec, ours_s, curl_s, curl_s / ours_s);
  printf ("%-58s %9.1f %9.1f %7.2f\n", "  MB/s", ours_mbps, curl_mbps, ours_mbps / curl_mbps);

  test_process_stop (uploader, SIGTERM);
  g_object_unref (uploader);
  test_panel_free (panel);
  test_desk_free (desk);
  g_main_loop_quit (plain.loop);
  g_thread_join (plain_t);
  test_rm_rf (dir);
  return presses == 0 || p99 < 100 ? 0 : 1;
}
