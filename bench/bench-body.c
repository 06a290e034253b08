/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel under large bodies (issue 14): its peak VmRSS and the press ->
 * console alert latency (p50/p99) of a real desk (ansim-uploader) while 4
 * clients keep sending 256 MiB bodies without Expect (to an unknown path,
 * a console route, a static file and a device route over its cap), side
 * by side with the same figures for the idle panel in the same run.
 * Usage: bench-body [--presses=N] */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "outbox.h"
#include "test-console.h"
#include "upload-helpers.h"

#define PASSWORD "bench-body-password-1"
#define BIG_BODY (G_GUINT64_CONSTANT (256) * 1024 * 1024)

static SoupSession *http;
static GInputStream *in;
static GString *buffer;
static TestPanel *panel;
static gint stop_attacks; /* atomic */

typedef struct {
  const char *target;
  guint64 sent;   /* body bytes */
  guint answered; /* requests answered */
} Attacker;

static void
wait_event (const char *name)
{
  g_autofree char *head = g_strdup_printf ("event: %s\n", name);
  for (;;)
    {
      char *found = strstr (buffer->str, head);
      char *stop = found != NULL ? strstr (found, "\n\n") : NULL;
      if (stop != NULL)
        {
          g_string_erase (buffer, 0, stop + 2 - buffer->str);
          return;
        }
      char chunk[4096];
      g_autoptr (GError) error = NULL;
      gssize n = g_input_stream_read (in, chunk, sizeof chunk, NULL, &error);
      if (n <= 0)
        g_error ("the event stream ended: %s", error != NULL ? error->message : "EOF");
      g_string_append_len (buffer, chunk, n);
    }
}

static gint64
panel_rss_kib (void)
{
  g_autofree char *path =
    g_strdup_printf ("/proc/%s/status", g_subprocess_get_identifier (panel->proc));
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  const char *line = strstr (text, "VmRSS:");
  return line != NULL ? g_ascii_strtoll (line + 6, NULL, 10) : 0;
}

/* Samples the panel's VmRSS every 10 ms into *peak until *stop. */
typedef struct {
  gint stop;
  gint64 peak;
} Sampler;

static gpointer
sample (gpointer data)
{
  Sampler *s = data;
  while (!g_atomic_int_get (&s->stop))
    {
      s->peak = MAX (s->peak, panel_rss_kib ());
      g_usleep (10 * 1000);
    }
  return NULL;
}

/* One attacker: over and over, a 256 MiB request without Expect, the body
 * sent regardless of the answer until the panel closes or it all went. */
static gpointer
attack (gpointer data)
{
  Attacker *a = data;
  g_autofree char *block = g_malloc0 (1024 * 1024);
  while (!g_atomic_int_get (&stop_attacks))
    {
      g_autoptr (GSocketClient) client = g_socket_client_new ();
      g_autoptr (GSocketConnection) conn =
        g_socket_client_connect_to_host (client, "127.0.0.1", panel->port, NULL, NULL);
      if (conn == NULL)
        continue;
      int fd = g_socket_get_fd (g_socket_connection_get_socket (conn));
      fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK);
      g_autofree char *head =
        g_strdup_printf ("%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         "Content-Length: %" G_GUINT64_FORMAT "\r\n\r\n",
                         a->target, BIG_BODY);
      if (send (fd, head, strlen (head), MSG_NOSIGNAL) < 0)
        continue;
      /* The body without waiting for the answer (a panel that reads
       * bodies first would never give one), looking for it meanwhile. */
      gboolean answered = FALSE;
      char answer[256];
      for (guint64 sent = 0; sent < BIG_BODY && !g_atomic_int_get (&stop_attacks);)
        {
          answered = answered || recv (fd, answer, sizeof answer, MSG_DONTWAIT) > 0;
          gssize n = send (fd, block, 1024 * 1024, MSG_NOSIGNAL);
          if (n <= 0)
            break;
          sent += n;
          a->sent += n;
        }
      struct timeval tv = { 2, 0 };
      setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      answered = answered || recv (fd, answer, sizeof answer, 0) > 0;
      a->answered += answered;
    }
  return NULL;
}

typedef struct {
  double p50, p99;
  gint64 peak_kib;
} Figures;

/* presses presses of desk; each waits for its alert on the stream. */
static Figures
measure (TestDesk *desk, int presses)
{
  g_autofree char *sock = g_build_filename (desk->dir, "uploader.sock", NULL);
  g_autoptr (GArray) press_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  Sampler sampler = { 0, panel_rss_kib () };
  GThread *t = g_thread_new ("rss", sample, &sampler);
  for (int i = 0; i < presses; i++)
    {
      TestIncident *incident = test_incident_open (desk);
      gint64 start = g_get_monotonic_time ();
      ansim_outbox_wake_uploader (sock, NULL);
      wait_event ("incident");
      gint64 took = g_get_monotonic_time () - start;
      g_array_append_val (press_us, took);
      test_incident_close (incident);
      g_usleep (50000); /* let the uploader send the closing manifest */
    }
  g_atomic_int_set (&sampler.stop, 1);
  g_thread_join (t);
  return (Figures){ test_percentile_nearest_ms (press_us, 0.5),
                    test_percentile_nearest_ms (press_us, 0.99), sampler.peak };
}

int
main (int argc, char **argv)
{
  int presses = 30;
  GOptionEntry entries[] = {
    { "presses", 0, 0, G_OPTION_ARG_INT, &presses, "presses to time per phase (30)", "N" }, { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- the panel under large bodies");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error) || presses < 2)
    {
      g_printerr ("bench-body: %s\n", error != NULL ? error->message : "--presses >= 2");
      return 2;
    }
  g_autofree char *dir = g_dir_make_tmp ("ansim-bench-body-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);
  TestDesk *desk = test_desk_new (desk_dir);
  panel = test_panel_new (panel_dir, NULL);
  test_add_user (panel->conf, "security", "security", PASSWORD);
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");
  GSubprocess *uploader = test_uploader_start (desk, panel->url, NULL);

  http = soup_session_new ();
  g_autoptr (TestConsole) console = test_console_new (panel->url, http, 0);
  TestLogin login = { 0 };
  test_console_login (console, "security", PASSWORD, &login);
  g_autofree char *stream_url = g_strconcat (panel->url, "/api/events/stream", NULL);
  g_autoptr (SoupMessage) stream = soup_message_new ("GET", stream_url);
  soup_message_headers_replace (soup_message_get_request_headers (stream), "Cookie", login.cookie);
  in = soup_session_send (http, stream, NULL, &error);
  g_assert_no_error (error);
  buffer = g_string_new (NULL);

  Figures idle = measure (desk, presses);

  Attacker attackers[] = {
    { "POST /no/such/path" },
    { "POST /api/login" },
    { "PUT /console/index.html" },
    { "PUT /api/v1/incidents/0b6e1c8a-3c1f-4a53-9d55-5d6b2a8c9e10/segments/0" },
  };
  GThread *threads[G_N_ELEMENTS (attackers)];
  for (guint i = 0; i < G_N_ELEMENTS (attackers); i++)
    threads[i] = g_thread_new ("attack", attack, &attackers[i]);
  g_usleep (500 * 1000);
  gint64 t0 = g_get_monotonic_time ();
  Figures loaded = measure (desk, presses);
  double seconds = (g_get_monotonic_time () - t0) / 1e6;
  g_atomic_int_set (&stop_attacks, 1);
  guint64 sent = 0;
  guint answered = 0;
  for (guint i = 0; i < G_N_ELEMENTS (attackers); i++)
    {
      g_thread_join (threads[i]);
      sent += attackers[i].sent;
      answered += attackers[i].answered;
    }

  g_print ("%d presses per phase, one desk, real ansim-uploader and ansim-panel on loopback\n",
           presses);
  g_print ("%-44s %12s %9s %9s\n", "", "peak RSS MiB", "p50 ms", "p99 ms");
  g_print ("%-44s %12.1f %9.2f %9.2f\n", "idle panel", idle.peak_kib / 1024.0, idle.p50, idle.p99);
  g_print ("%-44s %12.1f %9.2f %9.2f\n", "4 clients sending 256 MiB bodies",
           loaded.peak_kib / 1024.0, loaded.p50, loaded.p99);
  g_print ("the 4 clients: %u requests answered, %.0f MiB of bodies sent (%.0f MiB/s)\n", answered,
           sent / (1024.0 * 1024), sent / (1024.0 * 1024) / seconds);

  g_object_unref (in);
  test_process_stop (uploader, SIGTERM);
  g_object_unref (uploader);
  test_panel_free (panel);
  test_desk_free (desk);
  test_rm_rf (dir);
  test_login_clear (&login);
  return 0;
}
