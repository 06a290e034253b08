/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Test helper: runs the recorder like ansim-recorder does, but with a device
 * key given on the command line, until SIGTERM/SIGINT.
 *   recorder-host CONFIG DEVICE_KEY_PATH */
#include <glib-unix.h>

#include "recorder.h"

static gboolean
on_signal (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
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
  g_autoptr (AnsimConfig) config = ansim_config_load (&ansim_recorder_config_schema, argv[1],
                                                      &error);
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
  g_print ("recorder-host: ready\n");
  g_main_loop_run (loop);
  g_clear_pointer (&recorder, recorder_free);
  g_print ("recorder-host: stopped\n");
  return 0;
}
