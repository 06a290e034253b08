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
#include <sys/prctl.h>

#define PASSWORD "bench-password-123"

typedef struct {
  GInputStream *in;
  GString *buffer;
  char chunk[4096];
  gint64 *arrived_us;  /* per event index, 0 = not yet */
} Console;

static int n_consoles = 50, n_events = 50;
static Console *consoles;
static guint n_arrived;  /* deliveries of the current event */
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

static void
die_with_parent (gpointer data)
{
  (void) data;
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static char *
login (SoupSession *http, const char *url, const char *user, char **out_csrf)
{
  g_autofree char *path = g_strconcat (url, "/api/login", NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", path);
  g_autofree char *json = g_strdup_printf ("{\"user\":\"%s\",\"password\":\"" PASSWORD "\"}", user);
  g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));
  g_autoptr (GBytes) reply = NULL;
  const char *cookie, *csrf;

  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  reply = soup_session_send_and_read (http, msg, NULL, NULL);
  if (soup_message_get_status (msg) != 200)
    g_error ("login of %s failed: HTTP %u", user, soup_message_get_status (msg));
  cookie = soup_message_headers_get_one (soup_message_get_response_headers (msg), "Set-Cookie");
  csrf = strstr (g_bytes_get_data (reply, NULL), "\"csrf_token\":\"");
  *out_csrf = g_strndup (csrf + strlen ("\"csrf_token\":\""), 64);
  return g_strndup (cookie, strcspn (cookie, ";"));
}

static int
compare (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

static double
percentile_ms (GArray *values, double p)
{
  g_array_sort (values, compare);
  guint i = MIN (values->len - 1, (guint) (p * values->len));
  return g_array_index (values, gint64, i) / 1000.0;
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
  g_autofree char *sec_cookie = NULL, *sec_csrf = NULL, *admin_cookie = NULL, *admin_csrf = NULL;
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

  dir = g_dir_make_tmp ("ansim-bench-console-XXXXXX", &error);
  g_assert_no_error (error);
  conf = g_build_filename (dir, "panel.conf", NULL);
  text = g_strdup_printf ("[panel]\ndata_dir = %s\nport = 0\n", dir);
  g_file_set_contents (conf, text, -1, NULL);
  for (guint i = 0; i < 2; i++)
    {
      const char *role = i == 0 ? "security" : "admin";
      g_autofree char *ctl = g_build_filename (build_root, "ansimctl", "ansimctl", NULL);
      g_autoptr (GSubprocess) p = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                                    G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, ctl,
                                                    "user", "add", role, "--role", role,
                                                    "--password-stdin", "--config", conf, NULL);
      g_assert_no_error (error);
      g_subprocess_communicate_utf8 (p, PASSWORD "\n", NULL, NULL, NULL, &error);
      g_assert_no_error (error);
      if (g_subprocess_get_exit_status (p) != 0)
        g_error ("ansimctl user add %s failed", role);
    }
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "ANSIM_PANEL_TEST_PUBLISH", "1", TRUE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
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
  sec_cookie = login (http, url, "security", &sec_csrf);
  admin_cookie = login (http, url, "admin", &admin_csrf);

  /* Baseline: plain request round trips on the same loopback and server. */
  for (int i = 0; i < 200; i++)
    {
      g_autofree char *path = g_strconcat (url, "/api/health", NULL);
      g_autoptr (SoupMessage) msg = soup_message_new ("GET", path);
      gint64 t0 = g_get_monotonic_time (), dt;
      g_autoptr (GBytes) reply = soup_session_send_and_read (http, msg, NULL, NULL);
      (void) reply;   /* kept for its cleanup */
      dt = g_get_monotonic_time () - t0;
      if (i >= 20)
        g_array_append_val (health, dt);
    }

  consoles = g_new0 (Console, n_consoles);
  for (int i = 0; i < n_consoles; i++)
    {
      g_autofree char *path = g_strconcat (url, "/api/events/stream", NULL);
      g_autoptr (SoupMessage) msg = soup_message_new ("GET", path);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Cookie", sec_cookie);
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
      g_autofree char *json = g_strdup_printf ("{\"event\":\"bench\",\"data\":{\"n\":%d}}", current);
      g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));
      gint64 t0, min_us = G_MAXINT64, max_us = 0;

      soup_message_headers_replace (soup_message_get_request_headers (msg), "Cookie", admin_cookie);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "X-CSRF-Token",
                                    admin_csrf);
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
    double base50 = percentile_ms (health, 0.5), base99 = percentile_ms (health, 0.99);
    double last99 = percentile_ms (last, 0.99);
    g_print ("console fan-out: %d open event streams, %d events, loopback, %s\n", n_consoles,
             n_events, url);
    g_print ("%-44s %9s %9s\n", "", "p50 ms", "p99 ms");
    g_print ("%-44s %9.2f %9.2f\n", "baseline: GET /api/health round trip", base50, base99);
    g_print ("%-44s %9.2f %9.2f\n", "publish request -> first console", percentile_ms (first, 0.5),
             percentile_ms (first, 0.99));
    g_print ("%-44s %9.2f %9.2f\n", "publish request -> every delivery", percentile_ms (all, 0.5),
             percentile_ms (all, 0.99));
    g_print ("%-44s %9.2f %9.2f\n", "publish request -> last of all consoles",
             percentile_ms (last, 0.5), last99);
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
  return 0;
}
