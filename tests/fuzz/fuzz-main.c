/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Plain replay driver for fuzz targets built without libFuzzer: runs
 * LLVMFuzzerTestOneInput() on each file given, or each file in a folder. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
replay_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &data, &len, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  g_print ("%s (%" G_GSIZE_FORMAT " bytes)... ", path, len);
  /* A crash or a sanitizer report ends the process: that is the failure. */
  LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
  g_print ("ok\n");
  return 0;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
main (int argc, char **argv)
{
  guint n_files = 0;

  if (argc < 2)
    {
      g_printerr ("usage: %s FILE|DIR...\n", argv[0]);
      return 2;
    }
  for (int i = 1; i < argc; i++)
    {
      g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
      g_autoptr (GDir) dir = NULL;
      const char *name;

      if (!g_file_test (argv[i], G_FILE_TEST_IS_DIR))
        {
          if (replay_file (argv[i]) != 0)
            return 1;
          n_files++;
          continue;
        }
      dir = g_dir_open (argv[i], 0, NULL);
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        g_ptr_array_add (names, g_build_filename (argv[i], name, NULL));
      g_ptr_array_sort (names, compare_names);
      for (guint j = 0; j < names->len; j++)
        {
          if (!g_file_test (names->pdata[j], G_FILE_TEST_IS_REGULAR))
            continue;
          if (replay_file (names->pdata[j]) != 0)
            return 1;
          n_files++;
        }
    }
  g_print ("%u inputs replayed\n", n_files);
  /* An empty corpus replays nothing: count it as a failure. */
  return n_files > 0 ? 0 : 1;
}
