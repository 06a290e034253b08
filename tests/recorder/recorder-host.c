/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Test and benchmark helper: runs the recorder like ansim-recorder does,
 * but with a device key given on the command line, until SIGTERM/SIGINT.
 *   recorder-host CONFIG DEVICE_KEY_PATH
 * With RECORDER_HOST_STATS=SOURCE it prints that source's pre-event buffer
 * every second: "prebuffer SECONDS BYTES". */
#include <glib-unix.h>

#include "recorder.h"

static gboolean
on_signal (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gboolean
print_stats (gpointer user_data)
{
  Recorder *recorder = user_data;
  double seconds;
  gsize bytes;

  recorder_get_prebuffer_stats (recorder, g_getenv ("RECORDER_HOST_STATS"), &seconds, &bytes);
  g_print ("prebuffer %.2f %" G_GSIZE_FORMAT "\n", seconds, bytes);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;

  if (argc != 3)
    {
      g_printerr ("usage: %s CONFIG DEVICE_KEY\n", argv[0]);
      return 2;
    }
  g_autoptr (AnsimConfig) config =
    ansim_config_load (&ansim_recorder_config_schema, argv[1], &error);
  AnsimDeviceKey *key = config != NULL ? ansim_device_key_load_or_create (argv[2], &error) : NULL;
  if (key == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  g_autoptr (Recorder) recorder = recorder_new_with_device_key (config, key, &error);
  if (recorder == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, on_signal, loop);
  g_unix_signal_add (SIGINT, on_signal, loop);
  guint stats = 0;
  if (g_getenv ("RECORDER_HOST_STATS") != NULL)
    stats = g_timeout_add_seconds (1, print_stats, recorder);
  g_print ("recorder-host: ready\n");
  g_main_loop_run (loop);
  if (stats != 0)
    g_source_remove (stats);
  /* As ansim-recorder: an incident that cannot finish is left to the exit. */
  if (!recorder_shutdown (recorder))
    {
      g_print ("recorder-host: stopped\n");
      (void) g_steal_pointer (&recorder);
      return 0;
    }
  g_clear_pointer (&recorder, recorder_free);
  g_print ("recorder-host: stopped\n");
  return 0;
}
