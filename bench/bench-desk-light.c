/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Console acknowledge -> the desk's "help is coming" light, end to end on
 * loopback: a real ansim-panel, ansim-recorder (test camera, simulated
 * outputs read through its control socket) and ansim-uploader. Two ways
 * in the same run, in alternating blocks of 10 presses so both see the
 * same machine: the channel (uploader default) and, as the baseline, the
 * uploader with `channel = false` (heartbeats every acknowledgement_poll_ms
 * = 500 ms while the alert is open, upload answers, the recorder's 200 ms
 * look at desk.db). Each press is acknowledged 30-530 ms after its alert
 * reached the panel (a random phase of the polls); the time is from the
 * acknowledge request leaving the console to the output reading on.
 * Usage: bench-desk-light [--presses=N] [--verbose] [--keep]   (N per way, default 50) */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "control-client.h"
#include "db.h"
#include "upload-helpers.h"

#define PASSWORD "bench-desk-light-password-1"
#define DEMO_RECIPIENT "age1zgfel6e3l4l0pcvjusy2hxdedxx7kgqk7sxmlznvmvyaxtl9lcsqenup9c"
#define BLOCK 10

static TestDesk *desk;
static TestPanel *panel;
static char *control;
static SoupSession *http;
static char *cookie, *csrf;
static char last_uuid[40]; /* the incident last timed, for --verbose */

static gboolean
output_on (const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *reply = ansim_control_request (control, "outputs", &error);
  if (reply == NULL)
    g_error ("%s", error->message);
  g_autoptr (JsonNode) node = json_from_string (reply, NULL);
  JsonObject *outputs = json_object_get_object_member (json_node_get_object (node), "outputs");
  return json_object_get_boolean_member (outputs, name);
}

static void
control_ok (const char *request)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *reply = ansim_control_request (control, request, &error);
  if (reply == NULL || strstr (reply, "\"ok\":true") == NULL)
    g_error ("%s: %s", request, reply != NULL ? reply : error->message);
}

static char *
newest_incident (void)
{
  g_autoptr (sqlite3_stmt) s =
    ansim_db_prepare (desk->db, "SELECT uuid FROM incidents ORDER BY id DESC LIMIT 1", NULL);
  return s != NULL && sqlite3_step (s) == SQLITE_ROW
           ? g_strdup ((const char *) sqlite3_column_text (s, 0))
           : NULL;
}

typedef struct {
  gboolean done;
  guint status;
} Call;

static void
call_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Call *c = data;
  g_autoptr (GBytes) bytes =
    soup_session_send_and_read_finish (SOUP_SESSION (source), result, NULL);
  c->done = TRUE;
  (void) bytes;
}

static GSubprocess *
start_recorder (const char *conf)
{
  g_autofree char *exe = test_build_path ("recorder/ansim-recorder");
  g_autofree char *log = g_build_filename (desk->dir, "recorder.log", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_stdout_file_path (l, log);
  g_subprocess_launcher_set_stderr_file_path (l, log);
  GSubprocess *p = g_subprocess_launcher_spawn (l, &error, exe, "--config", conf, NULL);
  g_assert_no_error (error);
  for (int i = 0; i < 1000; i++)
    {
      g_autofree char *reply = ansim_control_request (control, "outputs", NULL);
      if (reply != NULL)
        return p;
      g_usleep (20000);
    }
  g_error ("the recorder did not start; see %s", log);
}

static void
login (void)
{
  g_autofree char *ctl = test_build_path ("ansimctl/ansimctl");
  const char *add[] = {
    ctl,        "user",      "add", "security", "--role", "security", "--password-stdin",
    "--config", panel->conf, NULL
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) p = g_subprocess_newv (
    add, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (p, PASSWORD "\n", NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *url = g_strconcat (panel->url, "/api/login", NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  static const char body_text[] = "{\"user\":\"security\",\"password\":\"" PASSWORD "\"}";
  g_autoptr (GBytes) body = g_bytes_new_static (body_text, strlen (body_text));
  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  g_autoptr (GBytes) reply = soup_session_send_and_read (http, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  const char *set =
    soup_message_headers_get_one (soup_message_get_response_headers (msg), "Set-Cookie");
  cookie = g_strndup (set, strcspn (set, ";"));
  g_autofree char *text = g_strndup (g_bytes_get_data (reply, NULL), g_bytes_get_size (reply));
  g_autoptr (JsonNode) node = json_from_string (text, &error);
  g_assert_no_error (error);
  csrf = g_strdup (json_object_get_string_member (json_node_get_object (node), "csrf_token"));
}

/* One press, acknowledged; returns acknowledge -> light in microseconds. */
static gint64
one_acknowledgement (void)
{
  g_autofree char *before = newest_incident ();
  gint64 pressed = g_get_monotonic_time ();
  control_ok ("press desk-button");
  g_autofree char *uuid = NULL;
  for (int i = 0; uuid == NULL || g_strcmp0 (uuid, before) == 0; i++)
    {
      if (i > 1000)
        g_error ("the press opened no incident");
      g_free (uuid);
      uuid = newest_incident ();
      g_usleep (5000);
    }
  g_autofree char *sql = g_strdup_printf ("SELECT coalesce (max (id), 0) FROM incidents "
                                          "WHERE uuid = '%s'",
                                          uuid);
  gint64 id = 0;
  for (int i = 0; (id = test_panel_count (panel, sql)) == 0; i++)
    {
      if (i > 2000)
        g_error ("the alert did not reach the panel");
      g_usleep (5000);
    }
  g_strlcpy (last_uuid, uuid, sizeof last_uuid);
  g_usleep (30000 + g_random_int_range (0, 500000));
  if (output_on ("acknowledged"))
    g_error ("the light is on before the acknowledgement");

  g_autofree char *url =
    g_strdup_printf ("%s/api/incidents/%" G_GINT64_FORMAT "/acknowledge", panel->url, id);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  soup_message_headers_replace (h, "Cookie", cookie);
  soup_message_headers_replace (h, "X-CSRF-Token", csrf);
  Call call = { 0 };
  gint64 clicked = g_get_monotonic_time ();
  soup_session_send_and_read_async (http, msg, G_PRIORITY_DEFAULT, NULL, call_done, &call);
  gint64 lit = 0;
  while (lit == 0 || !call.done)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      if (lit == 0 && output_on ("acknowledged"))
        lit = g_get_monotonic_time ();
      if (g_get_monotonic_time () - clicked > 10 * G_USEC_PER_SEC)
        g_error ("no light within 10 s of the acknowledgement");
      g_usleep (500);
    }
  if (soup_message_get_status (msg) != 200)
    g_error ("acknowledge: HTTP %u", soup_message_get_status (msg));

  /* A long press ends the incident (once the short press was let go, or
   * it would only lengthen that press); the light goes off; the button is
   * let go before the next press. */
  gint64 released = pressed + 400000 - g_get_monotonic_time ();
  if (released > 0)
    g_usleep (released);
  control_ok ("press desk-button long");
  for (int i = 0; output_on ("acknowledged"); i++)
    {
      if (i > 1000)
        g_error ("the long press did not end the incident");
      g_usleep (10000);
    }
  g_usleep (800000);
  return lit - clicked;
}

int
main (int argc, char **argv)
{
  int presses = 50;
  gboolean verbose = FALSE, keep = FALSE;
  GOptionEntry entries[] = {
    { "presses", 0, 0, G_OPTION_ARG_INT, &presses, "acknowledgements per way (50)", "N" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "print every acknowledgement", NULL },
    { "keep", 0, 0, G_OPTION_ARG_NONE, &keep, "keep the daemons' directory and logs", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- acknowledge -> desk light");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error) || presses < 2)
    {
      g_printerr ("bench-desk-light: %s\n", error != NULL ? error->message : "--presses >= 2");
      return 2;
    }
  g_autofree char *dir = g_dir_make_tmp ("ansim-bench-light-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);
  desk = test_desk_new (desk_dir);
  panel = test_panel_new (panel_dir, NULL);
  control = g_build_filename (desk_dir, "control.sock", NULL);
  g_autofree char *conf_path = g_build_filename (desk_dir, "recorder.conf", NULL);
  g_autofree char *conf = g_strdup_printf (
    "[recorder]\ndevice_id = dev-1\ndata_dir = %s\nrecipients = " DEMO_RECIPIENT "\n"
    "pre_event_seconds = 1\npost_event_seconds = 60\nsegment_seconds = 1\nnotice_sound = none\n\n"
    "[desk]\nid = desk-1\nname = bench\n\n"
    "[trigger desk-button]\ninput = simulated\nlong_press_ms = 300\n\n"
    "[output recording]\nkind = simulated\n\n[output acknowledged]\nkind = simulated\n\n"
    "[source desk-camera]\nkind = fixed\nvideo = test\nwidth = 160\nheight = 120\n"
    "framerate = 10\nbitrate_kbps = 100\nkeyframe_ms = 1000\n",
    desk_dir);
  g_assert_true (g_file_set_contents (conf_path, conf, -1, NULL));

  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");
  http = soup_session_new_with_options ("timeout", 30, NULL);
  login ();
  GSubprocess *recorder = start_recorder (conf_path);
  g_usleep (1500000);

  g_autoptr (GArray) channel_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) baseline_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  static const char *const configs[] = { NULL, "channel = false" };
  while ((int) channel_us->len < presses || (int) baseline_us->len < presses)
    for (guint way = 0; way < 2; way++)
      {
        GArray *into = way == 0 ? channel_us : baseline_us;
        GSubprocess *uploader = test_uploader_start (desk, panel->url, configs[way]);
        g_usleep (1000000); /* started, channel request in place */
        for (int i = 0; i < BLOCK && (int) into->len < presses; i++)
          {
            gint64 took = one_acknowledgement ();
            if (verbose)
              g_printerr ("%s %d: %.1f ms (%s)\n", way == 0 ? "channel" : "baseline",
                          (int) into->len, took / 1000.0, last_uuid);
            g_array_append_val (into, took);
          }
        test_process_stop (uploader, SIGTERM);
        g_object_unref (uploader);
      }
  gint64 by_channel = 0;
  {
    g_autoptr (sqlite3_stmt) s = ansim_db_prepare (desk->db,
                                                   "SELECT count(*) FROM events WHERE "
                                                   "kind = 'acknowledged' AND "
                                                   "json_extract (detail, '$.via') = 'channel'",
                                                   NULL);
    if (s != NULL && sqlite3_step (s) == SQLITE_ROW)
      by_channel = sqlite3_column_int64 (s, 0);
  }
  double b50 = test_percentile_nearest_ms (baseline_us, 0.5),
         b99 = test_percentile_nearest_ms (baseline_us, 0.99);
  double c50 = test_percentile_nearest_ms (channel_us, 0.5),
         c99 = test_percentile_nearest_ms (channel_us, 0.99);
  double cmax = g_array_index (channel_us, gint64, channel_us->len - 1) / 1000.0;
  double bmax = g_array_index (baseline_us, gint64, baseline_us->len - 1) / 1000.0;
  g_print ("%d acknowledgements each way, one desk: real ansim-panel, ansim-recorder and "
           "ansim-uploader on loopback\n",
           presses);
  g_print ("%-62s %8s %8s %8s\n", "console acknowledge -> desk light (control socket)", "p50 ms",
           "p99 ms", "max ms");
  g_print ("%-62s %8.1f %8.1f %8.1f\n",
           "baseline: channel = false (500 ms heartbeats, uploads, 200 ms db poll)", b50, b99,
           bmax);
  g_print ("%-62s %8.1f %8.1f %8.1f\n", "channel: held POST /api/v1/channel -> control socket", c50,
           c99, cmax);
  g_print ("acknowledgements the channel logged first: %" G_GINT64_FORMAT " of %d\n", by_channel,
           presses);
  g_print ("ratio (baseline p99 / channel p99): %.1f; goal channel p99 <= 100 ms: %s\n", b99 / c99,
           c99 <= 100 ? "met" : "NOT met");

  test_process_stop (recorder, SIGTERM);
  g_object_unref (recorder);
  g_object_unref (http);
  test_panel_free (panel);
  test_desk_free (desk);
  if (keep)
    g_print ("logs kept in %s\n", dir);
  else
    test_rm_rf (dir);
  g_free (control);
  g_free (cookie);
  g_free (csrf);
  return 0;
}
