/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Console acknowledge -> the desk knows, on loopback, two ways side by
 * side for the same acknowledgements: the push channel (a held POST
 * /api/v1/channel, signed as the desk signs it, answered by a real
 * ansim-panel) and, as the baseline, today's path: a real ansim-uploader
 * polling with heartbeats every acknowledgement_poll_ms (500 ms) writes the
 * `acknowledged` event into desk.db, which a 200 ms poll (the recorder's
 * cadence for its "help is coming" light) then sees. N presses (default
 * 50): each is alerted by the uploader, then acknowledged in the console
 * 30-530 ms later (a random phase of the uploader's poll).
 * Usage: bench-channel [--presses=N] */
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "db.h"
#include "outbox.h"
#include "upload-helpers.h"

#define PASSWORD "bench-channel-password-1"

static SoupSession *http;
static TestDesk *desk;
static TestPanel *panel;
static gint64 watched_incident; /* desk row id the recorder-like poll looks for */
static gint64 seen_at_us;       /* when that poll saw its acknowledgement */

typedef struct {
  gboolean done;
  gint64 done_us;
  char *raw;
} Call;

static void
call_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Call *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes =
    soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  c->done_us = g_get_monotonic_time ();
  c->done = TRUE;
  c->raw = bytes != NULL ? g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes))
                         : g_strdup (error->message);
}

static void
spin_until (gboolean *flag, double timeout_s)
{
  gint64 end = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);
  while (!*flag && g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (200);
  if (!*flag)
    g_error ("nothing within %.0f s", timeout_s);
}

/* The recorder's 200 ms look at the desk's event log. */
static gboolean
recorder_poll (gpointer data)
{
  (void) data;
  if (watched_incident == 0 || seen_at_us != 0)
    return G_SOURCE_CONTINUE;
  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (
    desk->db, "SELECT count(*) FROM events WHERE kind = 'acknowledged' AND incident_id = ?1", NULL);
  sqlite3_bind_int64 (s, 1, watched_incident);
  if (sqlite3_step (s) == SQLITE_ROW && sqlite3_column_int (s, 0) > 0)
    seen_at_us = g_get_monotonic_time ();
  return G_SOURCE_CONTINUE;
}

static gint64
json_int (const char *json, const char *name)
{
  g_autofree char *key = g_strdup_printf ("\"%s\":", name);
  const char *p = strstr (json, key);
  g_assert_nonnull (p);
  return g_ascii_strtoll (p + strlen (key), NULL, 10);
}

int
main (int argc, char **argv)
{
  int presses = 50;
  GOptionEntry entries[] = {
    { "presses", 0, 0, G_OPTION_ARG_INT, &presses, "acknowledgements to time (50)", "N" }, { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- acknowledge -> desk");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error) || presses < 2)
    {
      g_printerr ("bench-channel: %s\n", error != NULL ? error->message : "--presses >= 2");
      return 2;
    }
  g_autofree char *dir = g_dir_make_tmp ("ansim-bench-channel-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);
  desk = test_desk_new (desk_dir);
  panel = test_panel_new (panel_dir, NULL);
  g_autofree char *ctl = test_build_path ("ansimctl/ansimctl");
  const char *add[] = {
    ctl,        "user",      "add", "security", "--role", "security", "--password-stdin",
    "--config", panel->conf, NULL
  };
  g_autoptr (GSubprocess) p = g_subprocess_newv (
    add, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (p, PASSWORD "\n", NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");
  GSubprocess *uploader = test_uploader_start (desk, panel->url, NULL);

  http = soup_session_new_with_options ("timeout", 60, "max-conns-per-host", 8, NULL);
  g_autofree char *login_url = g_strconcat (panel->url, "/api/login", NULL);
  g_autoptr (SoupMessage) login = soup_message_new ("POST", login_url);
  static const char login_body[] = "{\"user\":\"security\",\"password\":\"" PASSWORD "\"}";
  g_autoptr (GBytes) body = g_bytes_new_static (login_body, strlen (login_body));
  soup_message_set_request_body_from_bytes (login, "application/json", body);
  g_autoptr (GBytes) reply = soup_session_send_and_read (http, login, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (login), ==, 200);
  const char *set =
    soup_message_headers_get_one (soup_message_get_response_headers (login), "Set-Cookie");
  g_autofree char *cookie = g_strndup (set, strcspn (set, ";"));
  g_autofree char *text = g_strndup (g_bytes_get_data (reply, NULL), g_bytes_get_size (reply));
  const char *t = strstr (text, "\"csrf_token\":\"");
  g_assert_nonnull (t);
  t += strlen ("\"csrf_token\":\"");
  g_autofree char *csrf = g_strndup (t, strcspn (t, "\""));

  g_autofree char *sock = g_build_filename (desk->dir, "uploader.sock", NULL);
  g_autofree char *channel_url = g_strconcat (panel->url, "/api/v1/channel", NULL);
  g_autoptr (GArray) channel_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) poll_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  guint poll_id = g_timeout_add (200, recorder_poll, NULL);
  gint64 seq = 0;
  for (int i = 0; i < presses; i++)
    {
      TestIncident *incident = test_incident_open (desk);
      ansim_outbox_wake_uploader (sock, NULL);
      g_autofree char *sql = g_strdup_printf ("SELECT coalesce (max (id), 0) FROM incidents "
                                              "WHERE uuid = '%s'",
                                              test_incident_get_uuid (incident));
      gint64 id = 0;
      for (int tries = 0; (id = test_panel_count (panel, sql)) == 0; tries++)
        {
          if (tries > 1000)
            g_error ("the alert did not reach the panel");
          g_usleep (5000);
        }
      /* The desk's long poll, held by the panel. */
      g_autofree char *cbody =
        g_strdup_printf ("{\"after\":%" G_GINT64_FORMAT ",\"wait_ms\":20000}", seq);
      g_autofree char *digest = NULL, *input = NULL, *signature = NULL;
      test_desk_sign (desk, "POST", "/api/v1/channel", cbody, strlen (cbody), &digest, &input,
                      &signature);
      g_autoptr (SoupMessage) cm = soup_message_new ("POST", channel_url);
      SoupMessageHeaders *ch = soup_message_get_request_headers (cm);
      soup_message_headers_replace (ch, "Content-Digest", digest);
      soup_message_headers_replace (ch, "Signature-Input", input);
      soup_message_headers_replace (ch, "Signature", signature);
      g_autoptr (GBytes) cb = g_bytes_new (cbody, strlen (cbody));
      soup_message_set_request_body_from_bytes (cm, "application/json", cb);
      Call channel = { 0 };
      soup_session_send_and_read_async (http, cm, G_PRIORITY_DEFAULT, NULL, call_done, &channel);
      /* A person takes a while: the acknowledgement falls at a random
       * point of the uploader's 500 ms poll (and the channel is held). */
      gint64 settle = g_get_monotonic_time () + 30000 + g_random_int_range (0, 500000);
      while (g_get_monotonic_time () < settle)
        if (!g_main_context_iteration (NULL, FALSE))
          g_usleep (200);
      if (channel.done)
        g_error ("the channel request was not held: %s", channel.raw);

      watched_incident = test_incident_get_id (incident);
      seen_at_us = 0;
      g_autofree char *ack_url =
        g_strdup_printf ("%s/api/incidents/%" G_GINT64_FORMAT "/acknowledge", panel->url, id);
      g_autoptr (SoupMessage) am = soup_message_new ("POST", ack_url);
      SoupMessageHeaders *ah = soup_message_get_request_headers (am);
      soup_message_headers_replace (ah, "Cookie", cookie);
      soup_message_headers_replace (ah, "X-CSRF-Token", csrf);
      Call ack = { 0 };
      gint64 clicked = g_get_monotonic_time ();
      soup_session_send_and_read_async (http, am, G_PRIORITY_DEFAULT, NULL, call_done, &ack);
      spin_until (&channel.done, 10);
      spin_until (&ack.done, 10);
      if (soup_message_get_status (cm) != 200 || strstr (channel.raw, "acknowledged") == NULL)
        g_error ("channel: %u %s", soup_message_get_status (cm), channel.raw);
      seq = json_int (channel.raw, "seq");
      gint64 took = channel.done_us - clicked;
      g_array_append_val (channel_us, took);
      while (seen_at_us == 0)
        {
          if (!g_main_context_iteration (NULL, FALSE))
            g_usleep (200);
          if (g_get_monotonic_time () - clicked > 10 * G_USEC_PER_SEC)
            g_error ("the uploader did not learn the acknowledgement");
        }
      took = seen_at_us - clicked;
      g_array_append_val (poll_us, took);
      watched_incident = 0;
      test_incident_close (incident);
      g_free (channel.raw);
      g_free (ack.raw);
      g_usleep (50000); /* let the uploader send the closing manifest */
    }
  g_source_remove (poll_id);
  double b50 = test_percentile_nearest_ms (poll_us, 0.5),
         b99 = test_percentile_nearest_ms (poll_us, 0.99);
  double c50 = test_percentile_nearest_ms (channel_us, 0.5),
         c99 = test_percentile_nearest_ms (channel_us, 0.99);
  g_print ("%d acknowledgements, one desk, real ansim-uploader and ansim-panel on loopback\n",
           presses);
  g_print ("%-60s %9s %9s\n", "", "p50 ms", "p99 ms");
  g_print ("%-60s %9.2f %9.2f\n", "baseline: heartbeat poll (500 ms) + desk.db poll (200 ms)", b50,
           b99);
  g_print ("%-60s %9.2f %9.2f\n", "channel: acknowledge -> held request answered at the desk", c50,
           c99);
  g_print ("ratio (baseline p99 / channel p99): %.0f; goal channel p99 <= 100 ms: %s\n", b99 / c99,
           c99 <= 100 ? "met" : "NOT met");

  test_process_stop (uploader, SIGTERM);
  g_object_unref (uploader);
  test_panel_free (panel);
  test_desk_free (desk);
  test_rm_rf (dir);
  return 0;
}
