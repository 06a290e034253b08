/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Alert -> webhook received, end to end on loopback: a desk whose outbox is
 * filled as the recorder fills it, a real ansim-uploader woken as the
 * recorder wakes it, a real ansim-panel with one [webhook], and a receiver
 * (libsoup server in a thread of this program) that checks each signature.
 * N presses (default 50): press (desk commit) -> webhook received, and the
 * panel's part alone, from its stamp of the alert (alerted_at_us in the
 * body, taken just before the alert's commit and its fsync) -> received. Baseline in the same run: a bare POST of a body of the same
 * size from a libsoup client to the same receiver, request -> received, so
 * the ratio shows what the outbox, the signature and the scheduling add.
 * Usage: bench-webhook [--presses=N] */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "outbox.h"
#include "upload-helpers.h"

#define SECRET "bench-webhook-secret-0123456789abcdef"

static GMutex lock;
static GCond arrived;
static guint n_received;
static gint64 received_wall_us, received_mono_us;
static char *received_body;
static guint bad;
static guint port;
static GMainLoop *receiver_loop;

static void
on_hook (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
         gpointer user_data)
{
  (void) server;
  (void) path;
  (void) query;
  (void) user_data;
  gint64 wall = g_get_real_time (), mono = g_get_monotonic_time ();
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  g_autoptr (GBytes) bytes = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  g_autofree char *body = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  const char *ts = soup_message_headers_get_one (h, "X-Ansim-Timestamp");
  const char *sig = soup_message_headers_get_one (h, "X-Ansim-Signature");
  gboolean ok = TRUE;
  if (ts != NULL) /* the baseline's POSTs are unsigned */
    {
      g_autofree char *input = g_strconcat (ts, ".", body, NULL);
      g_autofree char *mac = g_compute_hmac_for_string (G_CHECKSUM_SHA256, (const guchar *) SECRET,
                                                        strlen (SECRET), input, -1);
      ok = sig != NULL && g_str_has_prefix (sig, "sha256=") && strcmp (sig + 7, mac) == 0;
    }
  g_mutex_lock (&lock);
  if (!ok)
    bad++;
  n_received++;
  received_wall_us = wall;
  received_mono_us = mono;
  g_free (received_body);
  received_body = g_steal_pointer (&body);
  g_cond_signal (&arrived);
  g_mutex_unlock (&lock);
  soup_server_message_set_status (msg, ok ? 200 : 401, NULL);
}

static gpointer
receiver_thread (gpointer data)
{
  GMainContext *context = data;
  g_main_context_push_thread_default (context);
  g_autoptr (SoupServer) server = soup_server_new (NULL, NULL);
  soup_server_add_handler (server, "/hook", on_hook, NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, port);
  if (!soup_server_listen (server, addr, 0, &error))
    g_error ("receiver: %s", error->message);
  g_main_loop_run (receiver_loop);
  soup_server_disconnect (server);
  g_main_context_pop_thread_default (context);
  return NULL;
}

/* Waits for delivery number n; its arrival times and body. */
static void
wait_received (guint n, gint64 *out_wall, gint64 *out_mono, char **out_body)
{
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  g_mutex_lock (&lock);
  while (n_received < n)
    if (!g_cond_wait_until (&arrived, &lock, end))
      g_error ("webhook %u did not arrive within 10 s", n);
  if (bad > 0)
    g_error ("%u webhook(s) with a bad signature", bad);
  *out_wall = received_wall_us;
  *out_mono = received_mono_us;
  if (out_body != NULL)
    *out_body = g_strdup (received_body);
  g_mutex_unlock (&lock);
}

int
main (int argc, char **argv)
{
  int presses = 50;
  GOptionEntry entries[] = {
    { "presses", 0, 0, G_OPTION_ARG_INT, &presses, "presses to time (50)", "N" }, { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- alert -> webhook received");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error) || presses < 2)
    {
      g_printerr ("bench-webhook: %s\n", error != NULL ? error->message : "--presses >= 2");
      return 2;
    }
  g_autofree char *dir = g_dir_make_tmp ("ansim-bench-webhook-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);

  port = test_free_port ();
  g_autoptr (GMainContext) receiver_context = g_main_context_new ();
  receiver_loop = g_main_loop_new (receiver_context, FALSE);
  GThread *thread = g_thread_new ("receiver", receiver_thread, receiver_context);
  g_autofree char *hook_url = g_strdup_printf ("http://127.0.0.1:%u/hook", port);

  TestDesk *desk = test_desk_new (desk_dir);
  g_autofree char *extra = g_strdup_printf ("\n[webhook bench]\nurl = %s\nsecret = " SECRET "\n"
                                            "events = alert\n",
                                            hook_url);
  TestPanel *panel = test_panel_new (panel_dir, extra);
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");
  GSubprocess *uploader = test_uploader_start (desk, panel->url, NULL);
  g_autofree char *sock = g_build_filename (desk->dir, "uploader.sock", NULL);
  for (int i = 0; i < 500 && !g_file_test (sock, G_FILE_TEST_EXISTS); i++)
    g_usleep (10000);

  g_autoptr (SoupSession) http = soup_session_new ();
  g_autoptr (GArray) press_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) commit_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) base_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  guint n = 0;
  for (int i = 0; i < presses; i++)
    {
      TestIncident *incident = test_incident_open (desk);
      gint64 start = g_get_monotonic_time ();
      ansim_outbox_wake_uploader (sock, NULL);
      gint64 wall = 0, mono = 0;
      g_autofree char *body = NULL;
      wait_received (++n, &wall, &mono, &body);
      gint64 took = mono - start;
      g_array_append_val (press_us, took);
      g_autoptr (JsonNode) node = json_from_string (body, NULL);
      g_assert_nonnull (node);
      JsonObject *inc = json_array_get_object_element (
        json_object_get_array_member (json_node_get_object (node), "incidents"), 0);
      gint64 alerted = json_object_get_int_member (inc, "alerted_at_us");
      took = wall - alerted;
      g_array_append_val (commit_us, took);
      test_incident_close (incident);

      /* Baseline: the same bytes POSTed straight to the receiver. */
      g_autoptr (SoupMessage) post = soup_message_new ("POST", hook_url);
      g_autoptr (GBytes) bytes = g_bytes_new (body, strlen (body));
      soup_message_set_request_body_from_bytes (post, "application/json", bytes);
      start = g_get_monotonic_time ();
      g_autoptr (GBytes) reply = soup_session_send_and_read (http, post, NULL, &error);
      (void) reply; /* kept for its cleanup */
      g_assert_no_error (error);
      wait_received (++n, &wall, &mono, NULL);
      took = mono - start;
      g_array_append_val (base_us, took);
      g_usleep (50000); /* let the uploader send the closing manifest */
    }
  double press50 = test_percentile_nearest_ms (press_us, 0.5),
         press99 = test_percentile_nearest_ms (press_us, 0.99);
  double commit50 = test_percentile_nearest_ms (commit_us, 0.5),
         commit99 = test_percentile_nearest_ms (commit_us, 0.99);
  double base50 = test_percentile_nearest_ms (base_us, 0.5),
         base99 = test_percentile_nearest_ms (base_us, 0.99);
  g_print ("alert -> webhook received, %d presses on loopback\n", presses);
  g_print ("| measure | p50 ms | p99 ms |\n| --- | --- | --- |\n");
  g_print ("| press (desk commit) -> webhook received | %.1f | %.1f |\n", press50, press99);
  g_print ("| panel's alert stamp (alerted_at_us, before its commit) -> webhook received "
           "| %.1f | %.1f |\n",
           commit50, commit99);
  g_print ("| baseline: bare POST of the same body -> received | %.1f | %.1f |\n", base50, base99);
  g_print ("ratio panel stamp -> received / bare POST: p50 %.1f, p99 %.1f (goal: press -> "
           "received p99 <= 100 ms: %s)\n",
           commit50 / MAX (base50, 0.001), commit99 / MAX (base99, 0.001),
           press99 <= 100 ? "met" : "NOT met");

  test_process_stop (uploader, SIGTERM);
  g_object_unref (uploader);
  test_panel_free (panel);
  test_desk_free (desk);
  g_main_loop_quit (receiver_loop);
  g_thread_join (thread);
  g_main_loop_unref (receiver_loop);
  test_rm_rf (dir);
  return 0;
}
