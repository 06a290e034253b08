/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Live-event fan-out of the console: N open event streams (consoles) on a
 * real ansim-panel over loopback, E events published one after another
 * through the test path; for each event the time from the publish request
 * to its arrival on the first and on the last console. Baseline measured in
 * the same run: a GET /api/health round trip on the same loopback. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "test-common.h"
#include "test-console.h"

#define PASSWORD "bench-password-123"

typedef struct {
  GInputStream *in;
  GString *buffer;
  char chunk[4096];
  gint64 *arrived_us; /* per event index, 0 = not yet */
} Console;

static int n_consoles = 50, n_events = 50;
static Console *consoles;
static guint n_arrived; /* deliveries of the current event */
static int current = -1;

static void read_more (Console *c);

static void
on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Console *c = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);
  const char *at;

  if (n <= 0)
    g_error ("an event stream ended");
  g_string_append_len (c->buffer, c->chunk, n);
  /* Events look like "event: bench\ndata: {"n":K}\n\n". */
  while ((at = strstr (c->buffer->str, "\n\n")) != NULL)
    {
      const char *data = g_strstr_len (c->buffer->str, at - c->buffer->str, "data: {\"n\":");
      if (data != NULL)
        {
          int k = atoi (data + strlen ("data: {\"n\":"));
          if (k >= 0 && k < n_events && c->arrived_us[k] == 0)
            {
              c->arrived_us[k] = g_get_monotonic_time ();
              if (k == current)
                n_arrived++;
            }
        }
      g_string_erase (c->buffer, 0, at + 2 - c->buffer->str);
    }
  read_more (c);
}

static void
read_more (Console *c)
{
  g_input_stream_read_async (c->in, c->chunk, sizeof c->chunk, G_PRIORITY_DEFAULT, NULL, on_read,
                             c);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *build_root = NULL;
  GOptionEntry entries[] = {
    { "consoles", 0, 0, G_OPTION_ARG_INT, &n_consoles, "Open event streams (50)", "N" },
    { "events", 0, 0, G_OPTION_ARG_INT, &n_events, "Events published (50)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- console fan-out benchmark");
  g_autofree char *dir = NULL, *conf = NULL, *url = NULL, *text = NULL;
  TestLogin security = { 0 }, admin = { 0 };
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) panel = NULL;
  g_autoptr (GDataInputStream) log = NULL;
  g_autoptr (SoupSession) http = NULL;
  g_autoptr (GArray) first = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) last = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) all = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) health = g_array_new (FALSE, FALSE, sizeof (gint64));
  GMainContext *main_context = g_main_context_default ();

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    g_error ("%s", error->message);
  {
    g_autofree char *self = g_canonicalize_filename (argv[0], NULL);
    g_autofree char *bench_dir = g_path_get_dirname (self);
    build_root = g_path_get_dirname (bench_dir);
  }
  /* where test_build_path finds ansimctl (meson sets it for the tests) */
  g_setenv ("ANSIM_BUILD_ROOT", build_root, FALSE);

  dir = g_dir_make_tmp ("ansim-bench-console-XXXXXX", &error);
  g_assert_no_error (error);
  conf = g_build_filename (dir, "panel.conf", NULL);
  text = g_strdup_printf ("[panel]\ndata_dir = %s\nport = 0\n", dir);
  g_file_set_contents (conf, text, -1, NULL);
  test_add_user (conf, "security", "security", PASSWORD);
  test_add_user (conf, "admin", "admin", PASSWORD);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "ANSIM_PANEL_TEST_PUBLISH", "1", TRUE);
  g_subprocess_launcher_set_child_setup (launcher, test_die_with_parent, NULL, NULL);
  {
    g_autofree char *program = g_build_filename (build_root, "panel", "ansim-panel", NULL);
    panel = g_subprocess_launcher_spawn (launcher, &error, program, "--config", conf, NULL);
    g_assert_no_error (error);
  }
  log = g_data_input_stream_new (g_subprocess_get_stderr_pipe (panel));
  while (url == NULL)
    {
      g_autofree char *line = g_data_input_stream_read_line_utf8 (log, NULL, NULL, &error);
      const char *at;
      if (line == NULL)
        g_error ("ansim-panel did not start");
      if ((at = strstr (line, "listening on ")) != NULL)
        url = g_strndup (at + strlen ("listening on "), strlen (at + strlen ("listening on ")) - 1);
    }

  http = soup_session_new_with_options ("max-conns", n_consoles + 20, "max-conns-per-host",
                                        n_consoles + 20, "timeout", 30, NULL);
  {
    g_autoptr (TestConsole) console = test_console_new (url, http, 0);
    test_console_login (console, "security", PASSWORD, &security);
    test_console_login (console, "admin", PASSWORD, &admin);
  }

  /* Baseline: plain request round trips on the same loopback and server. */
  for (int i = 0; i < 200; i++)
    {
      g_autofree char *path = g_strconcat (url, "/api/health", NULL);
      g_autoptr (SoupMessage) msg = soup_message_new ("GET", path);
      gint64 t0 = g_get_monotonic_time (), dt;
      g_autoptr (GBytes) reply = soup_session_send_and_read (http, msg, NULL, NULL);
      (void) reply; /* kept for its cleanup */
      dt = g_get_monotonic_time () - t0;
      if (i >= 20)
        g_array_append_val (health, dt);
    }

  consoles = g_new0 (Console, n_consoles);
  for (int i = 0; i < n_consoles; i++)
    {
      g_autofree char *path = g_strconcat (url, "/api/events/stream", NULL);
      g_autoptr (SoupMessage) msg = soup_message_new ("GET", path);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Cookie",
                                    security.cookie);
      consoles[i].in = soup_session_send (http, msg, NULL, &error);
      g_assert_no_error (error);
      if (soup_message_get_status (msg) != 200)
        g_error ("stream %d: HTTP %u", i, soup_message_get_status (msg));
      consoles[i].buffer = g_string_new (NULL);
      consoles[i].arrived_us = g_new0 (gint64, n_events);
      read_more (&consoles[i]);
    }

  for (current = 0; current < n_events; current++)
    {
      g_autofree char *path = g_strconcat (url, "/api/test/publish", NULL);
      g_autoptr (SoupMessage) msg = soup_message_new ("POST", path);
      g_autofree char *json =
        g_strdup_printf ("{\"event\":\"bench\",\"data\":{\"n\":%d}}", current);
      g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));
      gint64 t0, min_us = G_MAXINT64, max_us = 0;

      soup_message_headers_replace (soup_message_get_request_headers (msg), "Cookie", admin.cookie);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "X-CSRF-Token",
                                    admin.csrf);
      soup_message_set_request_body_from_bytes (msg, "application/json", body);
      n_arrived = 0;
      t0 = g_get_monotonic_time ();
      soup_session_send_async (http, msg, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
      while (n_arrived < (guint) n_consoles)
        g_main_context_iteration (main_context, TRUE);
      for (int i = 0; i < n_consoles; i++)
        {
          gint64 dt = consoles[i].arrived_us[current] - t0;
          min_us = MIN (min_us, dt);
          max_us = MAX (max_us, dt);
          g_array_append_val (all, dt);
        }
      g_array_append_val (first, min_us);
      g_array_append_val (last, max_us);
      /* Let the publish request finish before the next one. */
      for (int i = 0; i < 20; i++)
        g_main_context_iteration (main_context, FALSE);
    }

  {
    double base50 = test_percentile_ms (health, 0.5), base99 = test_percentile_ms (health, 0.99);
    double last99 = test_percentile_ms (last, 0.99);
    g_print ("console fan-out: %d open event streams, %d events, loopback, %s\n", n_consoles,
             n_events, url);
    g_print ("%-44s %9s %9s\n", "", "p50 ms", "p99 ms");
    g_print ("%-44s %9.2f %9.2f\n", "baseline: GET /api/health round trip", base50, base99);
    g_print ("%-44s %9.2f %9.2f\n", "publish request -> first console",
             test_percentile_ms (first, 0.5), test_percentile_ms (first, 0.99));
    g_print ("%-44s %9.2f %9.2f\n", "publish request -> every delivery",
             test_percentile_ms (all, 0.5), test_percentile_ms (all, 0.99));
    g_print ("%-44s %9.2f %9.2f\n", "publish request -> last of all consoles",
             test_percentile_ms (last, 0.5), last99);
    g_print ("ratio (last of all consoles p99 / baseline p99): %.1f\n", last99 / base99);
  }

  g_subprocess_send_signal (panel, SIGTERM);
  g_subprocess_wait (panel, NULL, NULL);
  for (int i = 0; i < n_consoles; i++)
    {
      g_free (consoles[i].arrived_us);
      g_string_free (consoles[i].buffer, TRUE);
    }
  {
    g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
    const char *name;
    while (d != NULL && (name = g_dir_read_name (d)) != NULL)
      {
        g_autofree char *file = g_build_filename (dir, name, NULL);
        g_unlink (file);
      }
    g_rmdir (dir);
  }
  test_login_clear (&security);
  test_login_clear (&admin);
  return 0;
}
