/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Memory of the panel while it exports an evidence package: a real
 * ansim-panel holding two incidents uploaded by a real ansim-uploader, a
 * small one (baseline, default 10 segments) and a large one (default 300),
 * each exported with the media (POST /api/incidents/ID/export,
 * "media": true; the segments are random bytes, so no MP4 is made: this
 * measures the package's streaming) and read to the end. For each: the package size, the time, and
 * the panel's peak RSS during that export (VmHWM, reset before it through
 * /proc/PID/clear_refs) next to its RSS before. A package streamed chunk by
 * chunk keeps the peak flat while the package grows. Also the longest
 * GET /api/health answer meanwhile (is the main loop held up?), and that a
 * download abandoned midway leaves no temporary folder behind.
 * Usage: bench-export [--small=N] [--large=N] [--segment-kib=K] */
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "test-console.h"
#include "upload-helpers.h"

#define PASSWORD "bench-export-password-1"

static gint64
proc_kib (GPid pid, const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    g_error ("cannot read %s", path);
  g_autofree char *key = g_strconcat ("\n", field, ":", NULL);
  const char *at = strstr (text, key);
  if (at == NULL)
    g_error ("%s has no %s", path, field);
  return g_ascii_strtoll (at + strlen (key), NULL, 10);
}

static void
reset_peak (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/clear_refs", (int) pid);
  /* "5" resets the peak RSS to the current RSS (Linux >= 4.0) */
  FILE *f = fopen (path, "w");
  if (f == NULL || fputs ("5", f) < 0 || fclose (f) != 0)
    g_error ("cannot reset the peak RSS through %s", path);
}

/* GET /api/health every 20 ms from another thread while an export runs:
 * the longest answer shows whether the export holds up the panel's main
 * loop (and with it live alerts). */
typedef struct {
  char *url;
  gint stop;
  gint64 longest_us;
} Prober;

static gpointer
probe_thread (gpointer data)
{
  Prober *p = data;
  g_autoptr (SoupSession) session = soup_session_new ();
  while (!g_atomic_int_get (&p->stop))
    {
      g_autoptr (SoupMessage) msg = soup_message_new ("GET", p->url);
      gint64 start = g_get_monotonic_time ();
      g_autoptr (GBytes) body = soup_session_send_and_read (session, msg, NULL, NULL);
      gint64 took = g_get_monotonic_time () - start;
      if (body == NULL || soup_message_get_status (msg) != 200)
        g_error ("GET /api/health failed during the export");
      p->longest_us = MAX (p->longest_us, took);
      g_usleep (20000);
    }
  return NULL;
}

typedef struct {
  guint segments;
  goffset bytes;
  double seconds;
  gint64 rss_before_kib, peak_kib;
  gint64 health_us; /* longest GET /api/health meanwhile */
} Run;

/* POST /api/incidents/ID/export with the media and the disclosure's
 * required members, as the security user. */
static SoupMessage *
export_message (const char *url, const TestLogin *login)
{
  static const char body[] = "{\"media\": true, \"recipient\": \"bench\", \"purpose\": "
                             "\"benchmark\", \"legal_basis\": \"none (test)\"}";
  SoupMessage *msg = soup_message_new ("POST", url);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  soup_message_headers_replace (h, "Cookie", login->cookie);
  soup_message_headers_replace (h, "X-CSRF-Token", login->csrf);
  g_autoptr (GBytes) b = g_bytes_new_static (body, strlen (body));
  soup_message_set_request_body_from_bytes (msg, "application/json", b);
  return msg;
}

static void export(SoupSession *http, TestPanel *panel, GPid pid, const TestLogin *login,
                   const char *uuid, Run *run)
{
  g_autofree char *sql = g_strdup_printf ("SELECT id FROM incidents WHERE uuid = '%s'", uuid);
  gint64 id = test_panel_count (panel, sql);
  g_autofree char *url =
    g_strdup_printf ("%s/api/incidents/%" G_GINT64_FORMAT "/export", panel->url, id);
  /* settle, then measure from here */
  g_usleep (300000);
  run->rss_before_kib = proc_kib (pid, "VmRSS");
  reset_peak (pid);
  Prober prober = { .url = g_strconcat (panel->url, "/api/health", NULL) };
  GThread *probe = g_thread_new ("probe", probe_thread, &prober);
  gint64 start = g_get_monotonic_time ();
  g_autoptr (SoupMessage) msg = export_message (url, login);
  g_autoptr (GError) error = NULL;
  g_autoptr (GInputStream) in = soup_session_send (http, msg, NULL, &error);
  g_assert_no_error (error);
  if (soup_message_get_status (msg) != 200)
    g_error ("export answered %u", soup_message_get_status (msg));
  static guint8 buffer[256 * 1024];
  gssize n;
  run->bytes = 0;
  while ((n = g_input_stream_read (in, buffer, sizeof buffer, NULL, &error)) > 0)
    run->bytes += n;
  g_assert_no_error (error);
  g_assert_cmpint (
    run->bytes, ==,
    soup_message_headers_get_content_length (soup_message_get_response_headers (msg)));
  run->seconds = (g_get_monotonic_time () - start) / 1e6;
  run->peak_kib = proc_kib (pid, "VmHWM");
  g_atomic_int_set (&prober.stop, 1);
  g_thread_join (probe);
  g_free (prober.url);
  run->health_us = prober.longest_us;
}

static gboolean
all_sent (gpointer data)
{
  return test_desk_count (data, "confirmed_at_us IS NULL") == 0;
}

static gboolean
dir_empty (gpointer path)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  return d != NULL && g_dir_read_name (d) == NULL;
}

int
main (int argc, char **argv)
{
  int small = 10, large = 300, segment_kib = 256;
  GOptionEntry entries[] = {
    { "small", 0, 0, G_OPTION_ARG_INT, &small, "segments of the small incident (10)", "N" },
    { "large", 0, 0, G_OPTION_ARG_INT, &large, "segments of the large incident (300)", "N" },
    { "segment-kib", 0, 0, G_OPTION_ARG_INT, &segment_kib, "segment size in KiB (256)", "K" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- panel memory while exporting");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error) || small < 1 || large < small
      || segment_kib < 1)
    {
      g_printerr ("bench-export: %s\n", error != NULL
                                          ? error->message
                                          : "need 1 <= --small <= --large, --segment-kib >= 1");
      return 2;
    }
  g_autofree char *dir = g_dir_make_tmp ("ansim-bench-export-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);
  TestDesk *desk = test_desk_new (desk_dir);
  /* the desk encrypts to the identity in its site.key: the panel's */
  g_autofree char *extra = g_strdup_printf ("site_identity = %s", desk->site_key_path);
  TestPanel *panel = test_panel_new (panel_dir, extra);
  /* the panel's temporary folder, to see that exports leave nothing */
  g_autofree char *panel_tmp = g_build_filename (dir, "panel-tmp", NULL);
  g_assert_cmpint (g_mkdir (panel_tmp, 0700), ==, 0);
  g_setenv ("TMPDIR", panel_tmp, TRUE);
  test_add_user (panel->conf, "security", "security", PASSWORD);
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");

  g_autofree char *small_uuid = test_desk_record (desk, small, (gsize) segment_kib * 1024);
  g_autofree char *large_uuid = test_desk_record (desk, large, (gsize) segment_kib * 1024);
  GSubprocess *uploader =
    test_uploader_start (desk, panel->url, "supervision_s = 0\nheartbeat_interval = 3600");
  if (!test_wait_until (all_sent, desk, 600))
    g_error ("the uploads did not finish within 10 minutes");
  test_process_stop (uploader, SIGTERM);
  g_object_unref (uploader);

  g_autoptr (SoupSession) http = soup_session_new ();
  g_autoptr (TestConsole) console = test_console_new (panel->url, http, 0);
  TestLogin login = { 0 };
  test_console_login (console, "security", PASSWORD, &login);
  GPid pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (panel->proc), NULL, 10);

  Run s = { .segments = small }, l = { .segments = large };
  /* once unmeasured, so both measured runs find the panel warmed up */
  Run warm = { 0 };
  export(http, panel, pid, &login, small_uuid, &warm);
  export(http, panel, pid, &login, small_uuid, &s);
  export(http, panel, pid, &login, large_uuid, &l);

  g_print ("evidence package export with decrypted media (%d KiB segments), real ansim-panel\n",
           segment_kib);
  g_print ("%-28s %10s %8s %12s %12s %12s %10s\n", "", "package", "time", "RSS before", "peak RSS",
           "peak-before", "health");
  Run *runs[] = { &s, &l };
  const char *names[] = { "baseline: small incident", "large incident" };
  for (guint i = 0; i < 2; i++)
    g_print ("%-18s %4u seg %8.1f MB %7.2f s %9.1f MB %9.1f MB %9.1f MB %7.0f ms\n", names[i],
             runs[i]->segments, runs[i]->bytes / 1e6, runs[i]->seconds,
             runs[i]->rss_before_kib / 1024.0, runs[i]->peak_kib / 1024.0,
             (runs[i]->peak_kib - runs[i]->rss_before_kib) / 1024.0, runs[i]->health_us / 1000.0);
  g_print ("(health: the longest GET /api/health answer during the export, i.e. how long the\n"
           " panel's main loop, which also sends live alerts, was held up)\n");
  g_print ("ratio large/small: package %.1fx, peak RSS %.2fx\n", (double) l.bytes / s.bytes,
           (double) l.peak_kib / s.peak_kib);


  /* A client that goes away after the first MiB of the large package. */
  {
    g_autoptr (SoupSession) once = soup_session_new ();
    g_autofree char *sql =
      g_strdup_printf ("SELECT id FROM incidents WHERE uuid = '%s'", large_uuid);
    g_autofree char *url = g_strdup_printf ("%s/api/incidents/%" G_GINT64_FORMAT "/export",
                                            panel->url, test_panel_count (panel, sql));
    g_autoptr (SoupMessage) msg = export_message (url, &login);
    g_autoptr (GInputStream) in = soup_session_send (once, msg, NULL, &error);
    g_assert_no_error (error);
    g_autofree guint8 *buffer = g_malloc (1024 * 1024);
    gsize got = 0;
    g_assert_true (g_input_stream_read_all (in, buffer, 1024 * 1024, &got, NULL, &error));
    g_input_stream_close (in, NULL, NULL);
    soup_session_abort (once);
    gboolean removed = test_wait_until (dir_empty, panel_tmp, 5);
    g_print ("a download abandoned after %.1f MB: the package's temporary folder %s\n", got / 1e6,
             removed ? "was removed" : "was NOT removed within 5 s");
    if (!removed)
      return 1;
  }

  test_panel_free (panel);
  test_desk_free (desk);
  test_rm_rf (dir);
  test_login_clear (&login);
  return 0;
}
