/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Press -> alert stored by the panel, p50/p99, for two desks on one panel
 * in the same run: one whose clock is right and one whose uploader's
 * clock is an hour ahead (libfaketime). Presses alternate between them,
 * so load on the shared machine falls on both alike. Also the first alert
 * after each uploader starts: the wrong clock pays one refused round trip
 * (on the start's heartbeat or on the alert itself). Goal: the same
 * figures within one loopback round trip. */
#include <signal.h>
#include <stdio.h>

#include "db.h"
#include "outbox.h"
#include "upload-helpers.h"

#define LIBFAKETIME "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"

typedef struct {
  TestDesk *desk;
  TestPanel *panel;
  GSubprocess *uploader;
  char *sock;
  const char *uuid;
  gint64 alerted_at_us;
  GArray *latencies;
  gint64 first_us;
} Desk;

static gboolean
alert_recorded (gpointer data)
{
  Desk *d = data;
  sqlite3 *db = test_panel_open_db (d->panel);
  sqlite3_stmt *stmt = NULL;
  sqlite3_prepare_v2 (db, "SELECT alerted_at_us FROM incidents WHERE uuid = ?1", -1, &stmt, NULL);
  sqlite3_bind_text (stmt, 1, d->uuid, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    d->alerted_at_us = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return d->alerted_at_us != 0;
}

/* One press (the recorder's rows and wake-up) until the panel's stamp;
 * both read the true clock: only the uploader's is wrong. */
static gint64
press (Desk *d)
{
  gint64 t0 = g_get_real_time ();
  TestIncident *inc = test_incident_open (d->desk);
  ansim_outbox_wake_uploader (d->sock, NULL);
  d->uuid = test_incident_get_uuid (inc);
  d->alerted_at_us = 0;
  if (!test_wait_until (alert_recorded, d, 10))
    g_error ("an alert of %s never arrived", d->desk->device_id);
  gint64 latency = d->alerted_at_us - t0;
  test_incident_close (inc);
  return latency;
}

static void
start (Desk *d, const char *const *env)
{
  d->uploader = test_uploader_start_env (
    d->desk, d->panel->url,
    "poll_interval = 3600\nsupervision_s = 0\nheartbeat_interval = 86400\nretry_max = 1", env);
  g_usleep (100000); /* the wake socket */
  d->first_us = press (d);
}

int
main (int argc, char **argv)
{
  int presses = 100;
  g_autofree char *build_root = NULL;
  GOptionEntry entries[] = {
    { "presses", 0, 0, G_OPTION_ARG_INT, &presses, "Presses to time per desk (100)", "N" },
    { "build-root", 0, 0, G_OPTION_ARG_FILENAME, &build_root, "The build directory", "DIR" },
    { NULL }
  };
  g_autoptr (GOptionContext) oc = g_option_context_new ("- press to alert with a wrong clock");
  g_option_context_add_main_entries (oc, entries, NULL);
  if (!g_option_context_parse (oc, &argc, &argv, NULL) || presses < 1)
    {
      g_printerr ("usage: bench-desk-clock [--build-root DIR] [--presses N]\n");
      return 2;
    }
  if (build_root != NULL)
    g_setenv ("ANSIM_BUILD_ROOT", build_root, TRUE);
  if (!g_file_test (LIBFAKETIME, G_FILE_TEST_EXISTS))
    g_error ("%s missing: install the faketime package", LIBFAKETIME);
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ansim-bench-clock-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *right_dir = g_build_filename (dir, "right", NULL);
  g_autofree char *wrong_dir = g_build_filename (dir, "wrong", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);

  TestPanel *panel = test_panel_new (panel_dir, NULL);
  test_panel_start (panel);
  Desk right = { .desk = test_desk_new (right_dir), .panel = panel };
  Desk wrong = { .desk = test_desk_new_at (wrong_dir, "dev-2", "desk-2", "Desk 2"),
                 .panel = panel };
  test_panel_enroll (panel, right.desk, "dev-1");
  test_panel_enroll (panel, wrong.desk, "dev-2");
  Desk *both[] = { &right, &wrong };
  for (guint i = 0; i < 2; i++)
    {
      both[i]->sock = g_build_filename (both[i]->desk->dir, "uploader.sock", NULL);
      both[i]->latencies = g_array_new (FALSE, FALSE, sizeof (gint64));
    }
  const char *const faked[] = {
    "LD_PRELOAD", LIBFAKETIME, "FAKETIME", "+3600s", "FAKETIME_DONT_FAKE_MONOTONIC", "1", NULL
  };
  start (&right, NULL);
  start (&wrong, faked);

  for (int i = 0; i < presses; i++)
    for (guint k = 0; k < 2; k++)
      {
        Desk *d = both[(i + k) % 2];
        gint64 latency = press (d);
        g_array_append_val (d->latencies, latency);
      }

  /* A loopback round trip, for the goal's unit. */
  g_autoptr (GArray) rtt = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (int i = 0; i < presses; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      g_autoptr (GSocketClient) client = g_socket_client_new ();
      g_autoptr (GSocketConnection) conn =
        g_socket_client_connect_to_host (client, "127.0.0.1", panel->port, NULL, NULL);
      gint64 t = g_get_monotonic_time () - t0;
      if (conn != NULL)
        g_array_append_val (rtt, t);
    }

  printf ("press -> alert stored by the panel (loopback), %d presses per desk, same run\n",
          presses);
  printf ("%-40s %9s %9s %12s\n", "", "p50 ms", "p99 ms", "first ms");
  printf ("%-40s %9.2f %9.2f %12.2f\n", "desk clock right",
          test_percentile_ms (right.latencies, 0.5), test_percentile_ms (right.latencies, 0.99),
          right.first_us / 1e3);
  printf ("%-40s %9.2f %9.2f %12.2f\n", "desk clock 1 hour ahead (uploader)",
          test_percentile_ms (wrong.latencies, 0.5), test_percentile_ms (wrong.latencies, 0.99),
          wrong.first_us / 1e3);
  printf ("%-40s %9.2f %9.2f\n", "TCP connect round trip to the panel",
          test_percentile_ms (rtt, 0.5), test_percentile_ms (rtt, 0.99));

  for (guint i = 0; i < 2; i++)
    {
      test_process_stop (both[i]->uploader, SIGTERM);
      g_object_unref (both[i]->uploader);
      g_array_unref (both[i]->latencies);
      g_free (both[i]->sock);
      test_desk_free (both[i]->desk);
    }
  test_panel_stop (panel, SIGTERM);
  test_panel_free (panel);
  test_rm_rf (dir);
  return 0;
}
