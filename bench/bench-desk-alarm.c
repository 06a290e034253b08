/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk's side of the alarm loop, timed with the real processes: an
 * ansim-recorder (test camera, simulated outputs read over its control
 * socket's `outputs`, the code path of a GPIO line), an ansim-uploader and
 * an ansim-panel on loopback.
 *  1. press -> police-bell line, panel down (killed): goal <= deadline +
 *     50 ms; baseline in the same run: the recording light's rise for the
 *     same press.
 *  2. link cut -> fault shown: goal <= supervision_s + 2 s; the link is a
 *     veth pair to the panel's network namespace when run as root, else the
 *     panel is stopped (SIGSTOP: connections hang as on a cut link).
 * Usage: bench-desk-alarm [--presses=N] [--cuts=N] [--deadline-ms=MS]
 *                         [--supervision-s=S] */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "control-client.h"
#include "upload-helpers.h"

#define DEMO_RECIPIENT "age1zgfel6e3l4l0pcvjusy2hxdedxx7kgqk7sxmlznvmvyaxtl9lcsqenup9c"

static char *control_path;

static gboolean
output_on (const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *reply = ansim_control_request (control_path, "outputs", &error);
  if (reply == NULL)
    g_error ("recorder: %s", error->message);
  g_autoptr (JsonNode) node = json_from_string (reply, NULL);
  JsonObject *outputs = json_object_get_object_member (json_node_get_object (node), "outputs");
  return json_object_get_boolean_member (outputs, name);
}

/* Polls every 1 ms; the monotonic time the output was first seen in state. */
static gint64
wait_output (const char *name, gboolean on, gint64 until)
{
  while (g_get_monotonic_time () < until)
    {
      if (output_on (name) == on)
        return g_get_monotonic_time ();
      g_usleep (1000);
    }
  g_error ("output %s did not turn %s in time", name, on ? "on" : "off");
}

static int
compare (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
percentile (GArray *v, double p)
{
  g_array_sort (v, compare);
  return g_array_index (v, double, (guint) (p * (v->len - 1) + 0.5));
}

static gboolean
recorder_ready (gpointer data)
{
  (void) data;
  g_autofree char *reply = ansim_control_request (control_path, "outputs", NULL);
  return reply != NULL;
}

static gboolean
run_cmd (const char *command)
{
  g_auto (GStrv) argv = g_strsplit (command, " ", -1);
  int status = 0;
  return g_spawn_sync (NULL, argv, NULL,
                       G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL
                         | G_SPAWN_STDOUT_TO_DEV_NULL,
                       NULL, NULL, NULL, NULL, &status, NULL)
         && g_spawn_check_wait_status (status, NULL);
}

int
main (int argc, char **argv)
{
  gint presses = 10, cuts = 3, deadline_ms = 3000, supervision_s = 8;
  GOptionEntry entries[] = {
    { "presses", 0, 0, G_OPTION_ARG_INT, &presses, "presses with the panel down", "N" },
    { "cuts", 0, 0, G_OPTION_ARG_INT, &cuts, "link cuts", "N" },
    { "deadline-ms", 0, 0, G_OPTION_ARG_INT, &deadline_ms, "alert_deadline_ms", "MS" },
    { "supervision-s", 0, 0, G_OPTION_ARG_INT, &supervision_s, "supervision_s", "S" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    g_error ("%s", error->message);

  g_autofree char *dir = g_dir_make_tmp ("ansim-bench-alarm-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);
  g_autoptr (TestDesk) desk = test_desk_new (desk_dir);

  /* The panel behind a veth pair in its own namespace when we may. */
  g_autofree char *netns = NULL, *veth = NULL;
  TestPanel *panel = NULL;
  if (geteuid () == 0)
    {
      guint n = (getpid () + 11) % 16000;
      netns = g_strdup_printf ("ansim-bench-%u", getpid ());
      veth = g_strdup_printf ("ansbn%ua", n);
      g_autofree char *peer = g_strdup_printf ("ansbn%ub", n);
      g_autofree char *host_ip =
        g_strdup_printf ("10.%u.%u.%u", 240 + n / 4096, n / 16 % 256, (n % 16) * 16 + 1);
      g_autofree char *panel_ip =
        g_strdup_printf ("10.%u.%u.%u", 240 + n / 4096, n / 16 % 256, (n % 16) * 16 + 2);
      g_autofree char *in_ns = g_strdup_printf ("ip netns exec %s ", netns);
      char *steps[] = {
        g_strdup_printf ("ip netns add %s", netns),
        g_strdup_printf ("ip link add %s type veth peer name %s", veth, peer),
        g_strdup_printf ("ip link set %s netns %s", peer, netns),
        g_strdup_printf ("ip addr add %s/30 dev %s", host_ip, veth),
        g_strdup_printf ("ip link set %s up", veth),
        g_strdup_printf ("%sip addr add %s/30 dev %s", in_ns, panel_ip, peer),
        g_strdup_printf ("%sip link set %s up", in_ns, peer),
        g_strdup_printf ("%sip link set lo up", in_ns),
      };
      gboolean ok = TRUE;
      for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
        {
          ok = ok && run_cmd (steps[i]);
          g_free (steps[i]);
        }
      if (ok)
        panel = test_panel_new_in_netns (panel_dir, NULL, netns, panel_ip);
      else
        {
          g_autofree char *del = g_strdup_printf ("ip netns del %s", netns);
          run_cmd (del);
          g_clear_pointer (&netns, g_free);
          g_clear_pointer (&veth, g_free);
        }
    }
  if (panel == NULL)
    panel = test_panel_new (panel_dir, NULL);
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");

  control_path = g_build_filename (desk_dir, "control.sock", NULL);
  g_autofree char *conf_path = g_build_filename (desk_dir, "recorder.conf", NULL);
  g_autofree char *conf = g_strdup_printf (
    "[recorder]\ndevice_id = dev-1\ndata_dir = %s\nrecipients = " DEMO_RECIPIENT "\n"
    "pre_event_seconds = 1\npost_event_seconds = 1\nsegment_seconds = 1\nnotice_sound = none\n"
    "alert_deadline_ms = %d\nsupervision_s = %d\npolice_bell = fallback\n\n"
    "[desk]\nid = desk-1\nname = bench\n\n[trigger desk-button]\ninput = simulated\n\n"
    "[output recording]\nkind = simulated\n\n[output police-bell]\nkind = simulated\n"
    "pulse_ms = 200\n\n[output fault]\nkind = simulated\n\n"
    "[source desk-camera]\nkind = fixed\nvideo = test\nwidth = 160\nheight = 120\n"
    "framerate = 10\nbitrate_kbps = 100\nkeyframe_ms = 1000\n",
    desk_dir, deadline_ms, supervision_s);
  g_assert_true (g_file_set_contents (conf_path, conf, -1, NULL));
  g_autofree char *exe = test_build_path ("recorder/ansim-recorder");
  g_autofree char *log = g_build_filename (desk_dir, "recorder.log", NULL);
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_stdout_file_path (l, log);
  g_subprocess_launcher_set_stderr_file_path (l, log);
  GSubprocess *recorder = g_subprocess_launcher_spawn (l, &error, exe, "--config", conf_path, NULL);
  g_assert_no_error (error);
  g_assert_true (test_wait_until (recorder_ready, NULL, 20));
  g_autofree char *up_extra =
    g_strdup_printf ("supervision_s = %d\nrequest_timeout = 3", supervision_s);
  GSubprocess *uploader = test_uploader_start (desk, panel->url, up_extra);
  g_usleep (3 * G_USEC_PER_SEC);

  /* 1. press -> police-bell line with the panel down, next to the light. */
  test_panel_stop (panel, SIGKILL);
  g_autoptr (GArray) bell = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) light = g_array_new (FALSE, FALSE, sizeof (double));
  for (int i = 0; i < presses; i++)
    {
      gint64 at = g_get_monotonic_time ();
      g_autofree char *reply = ansim_control_request (control_path, "press desk-button", &error);
      (void) reply;
      g_assert_no_error (error);
      gint64 light_at = wait_output ("recording", TRUE, at + 5 * G_USEC_PER_SEC);
      gint64 bell_at =
        wait_output ("police-bell", TRUE, at + deadline_ms * 1000 + 5 * G_USEC_PER_SEC);
      double lms = (light_at - at) / 1000.0, bms = (bell_at - at) / 1000.0;
      g_array_append_val (light, lms);
      g_array_append_val (bell, bms);
      g_printerr ("press %d: light %.1f ms, police-bell %.1f ms\n", i + 1, lms, bms);
      /* the incident ends (post-event 1 s) and the light goes off */
      wait_output ("recording", FALSE, g_get_monotonic_time () + 20 * G_USEC_PER_SEC);
      wait_output ("police-bell", FALSE, g_get_monotonic_time () + 5 * G_USEC_PER_SEC);
    }
  test_panel_start (panel);
  wait_output ("fault", FALSE, g_get_monotonic_time () + 30 * G_USEC_PER_SEC);

  /* 2. link cut -> fault shown. */
  g_autoptr (GArray) fault = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) clear = g_array_new (FALSE, FALSE, sizeof (double));
  GPid pid = 0;
  if (netns == NULL)
    pid = atoi (g_subprocess_get_identifier (panel->proc));
  for (int i = 0; i < cuts; i++)
    {
      g_usleep (2 * G_USEC_PER_SEC);
      g_autofree char *down = veth != NULL ? g_strdup_printf ("ip link set %s down", veth) : NULL;
      g_autofree char *up = veth != NULL ? g_strdup_printf ("ip link set %s up", veth) : NULL;
      gint64 at = g_get_monotonic_time ();
      if (down != NULL)
        g_assert_true (run_cmd (down));
      else
        kill (pid, SIGSTOP);
      gint64 on = wait_output ("fault", TRUE, at + (supervision_s + 30) * G_USEC_PER_SEC);
      gint64 back = g_get_monotonic_time ();
      if (up != NULL)
        g_assert_true (run_cmd (up));
      else
        kill (pid, SIGCONT);
      gint64 off = wait_output ("fault", FALSE, back + 60 * G_USEC_PER_SEC);
      double s = (on - at) / 1e6, c = (off - back) / 1e6;
      g_array_append_val (fault, s);
      g_array_append_val (clear, c);
      g_printerr ("cut %d: fault shown %.2f s, cleared %.2f s after restore\n", i + 1, s, c);
    }

  double b50 = percentile (bell, 0.5), b99 = percentile (bell, 0.99);
  double l50 = percentile (light, 0.5), l99 = percentile (light, 0.99);
  double f50 = percentile (fault, 0.5), fmax = percentile (fault, 1.0);
  double c50 = percentile (clear, 0.5), cmax = percentile (clear, 1.0);
  g_print (
    "\n| desk alarm loop (%d presses, %d cuts) | p50 | p99/max | baseline p50 | baseline p99 | goal | met |\n"
    "| --- | --- | --- | --- | --- | --- | --- |\n",
    presses, cuts);
  g_print ("| press -> police-bell line, panel down (deadline %d ms) | %.1f ms | %.1f ms | "
           "recording light %.1f ms | %.1f ms | <= %d ms | %s |\n",
           deadline_ms, b50, b99, l50, l99, deadline_ms + 50,
           b99 <= deadline_ms + 50 ? "yes" : "NO");
  g_print ("| police-bell after the deadline (p50 - deadline; ratio bell/light p50 %.1f) | "
           "%.1f ms | %.1f ms | | | <= 50 ms | %s |\n",
           b50 / l50, b50 - deadline_ms, b99 - deadline_ms, b99 - deadline_ms <= 50 ? "yes" : "NO");
  g_print ("| link cut (%s) -> fault line (supervision_s %d) | %.2f s | %.2f s | "
           "supervision_s %d s | | <= %d s | %s |\n",
           netns != NULL ? "veth down" : "panel SIGSTOP", supervision_s, f50, fmax, supervision_s,
           supervision_s + 2, fmax <= supervision_s + 2 ? "yes" : "NO");
  g_print ("| link back -> fault line off | %.2f s | %.2f s | heartbeat %d s | | | |\n", c50, cmax,
           MAX (1, supervision_s / 4));

  test_process_stop (uploader, SIGTERM);
  test_process_stop (recorder, SIGTERM);
  g_object_unref (uploader);
  g_object_unref (recorder);
  test_panel_free (panel);
  if (veth != NULL)
    {
      g_autofree char *cmd = g_strdup_printf ("ip link del %s", veth);
      run_cmd (cmd);
    }
  if (netns != NULL)
    {
      g_autofree char *cmd = g_strdup_printf ("ip netns del %s", netns);
      run_cmd (cmd);
    }
  g_clear_pointer (&desk, test_desk_free);
  test_rm_rf (dir);
  return 0;
}
