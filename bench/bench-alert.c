/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Press -> alert on an open console, end to end on loopback: a desk whose
 * outbox is filled as the recorder fills it, a real ansim-uploader woken
 * as the recorder wakes it, a real ansim-panel, and a console's event
 * stream. N presses (default 50): the time from the committed alert to the
 * `incident` event on the stream. Baseline in the same run: the panel's own
 * publish -> the same stream (POST /api/test/publish), i.e. the SSE hop
 * alone, so the ratio shows what the uploader and ingest add.
 * Usage: bench-alert [--presses=N] */
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "outbox.h"
#include "test-console.h"
#include "upload-helpers.h"

#define PASSWORD "bench-alert-password-1"

static SoupSession *http;
static GInputStream *in;
static GString *buffer;
static TestLogin login;

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

int
main (int argc, char **argv)
{
  int presses = 50;
  GOptionEntry entries[] = {
    { "presses", 0, 0, G_OPTION_ARG_INT, &presses, "presses to time (50)", "N" }, { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- press -> console alert");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error) || presses < 2)
    {
      g_printerr ("bench-alert: %s\n", error != NULL ? error->message : "--presses >= 2");
      return 2;
    }
  g_autofree char *dir = g_dir_make_tmp ("ansim-bench-alert-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);
  TestDesk *desk = test_desk_new (desk_dir);
  TestPanel *panel = test_panel_new (panel_dir, NULL);
  test_add_user (panel->conf, "security", "admin", PASSWORD);
  g_setenv ("ANSIM_PANEL_TEST_PUBLISH", "1", TRUE);
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");
  GSubprocess *uploader = test_uploader_start (desk, panel->url, NULL);

  http = soup_session_new ();
  g_autoptr (TestConsole) console = test_console_new (panel->url, http, 0);
  test_console_login (console, "security", PASSWORD, &login);
  const char *cookie = login.cookie, *csrf = login.csrf;

  g_autofree char *stream_url = g_strconcat (panel->url, "/api/events/stream", NULL);
  g_autoptr (SoupMessage) stream = soup_message_new ("GET", stream_url);
  soup_message_headers_replace (soup_message_get_request_headers (stream), "Cookie", cookie);
  in = soup_session_send (http, stream, NULL, &error);
  g_assert_no_error (error);
  buffer = g_string_new (NULL);

  g_autofree char *sock = g_build_filename (desk->dir, "uploader.sock", NULL);
  g_autofree char *publish_url = g_strconcat (panel->url, "/api/test/publish", NULL);
  g_autoptr (GArray) press_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) base_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (int i = 0; i < presses; i++)
    {
      TestIncident *incident = test_incident_open (desk);
      gint64 start = g_get_monotonic_time ();
      ansim_outbox_wake_uploader (sock, NULL);
      wait_event ("incident");
      gint64 took = g_get_monotonic_time () - start;
      g_array_append_val (press_us, took);
      test_incident_close (incident);

      g_autoptr (SoupMessage) pub = soup_message_new ("POST", publish_url);
      SoupMessageHeaders *h = soup_message_get_request_headers (pub);
      soup_message_headers_replace (h, "Cookie", cookie);
      soup_message_headers_replace (h, "X-CSRF-Token", csrf);
      g_autoptr (GBytes) pb = g_bytes_new_static ("{\"event\":\"bench\",\"data\":{}}", 27);
      soup_message_set_request_body_from_bytes (pub, "application/json", pb);
      start = g_get_monotonic_time ();
      g_autoptr (GBytes) pr = soup_session_send_and_read (http, pub, NULL, &error);
      (void) pr; /* kept for its cleanup */
      g_assert_no_error (error);
      wait_event ("bench");
      took = g_get_monotonic_time () - start;
      g_array_append_val (base_us, took);
      g_usleep (50000); /* let the uploader send the closing manifest */
    }
  double b50 = test_percentile_nearest_ms (base_us, 0.5),
         b99 = test_percentile_nearest_ms (base_us, 0.99);
  double p50 = test_percentile_nearest_ms (press_us, 0.5),
         p99 = test_percentile_nearest_ms (press_us, 0.99);
  g_print ("%d presses, one desk, real ansim-uploader and ansim-panel on loopback\n", presses);
  g_print ("%-52s %9s %9s\n", "", "p50 ms", "p99 ms");
  g_print ("%-52s %9.2f %9.2f\n", "baseline: panel publish -> console stream", b50, b99);
  g_print ("%-52s %9.2f %9.2f\n", "press (alert committed, uploader woken) -> console", p50, p99);
  g_print ("ratio (press p99 / baseline p99): %.1f; goal press p99 < 500 ms: %s\n", p99 / b99,
           p99 < 500 ? "met" : "NOT met");

  g_object_unref (in);
  test_process_stop (uploader, SIGTERM);
  g_object_unref (uploader);
  test_panel_free (panel);
  test_desk_free (desk);
  test_rm_rf (dir);
  test_login_clear (&login);
  return 0;
}
