/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The recorder tests' shared helpers of test-recorder-host.h. Keeps true:
 * the recorder's output is appended, never truncated, so a restarted
 * recorder's log follows the killed one's. */
#include "test-recorder-host.h"

#include <string.h>

#include "db.h"
#include "evidence.h"
#include "control-client.h"
#include "test-common.h"

char *
test_age_identity_write (const char *identity_path)
{
  g_autoptr (GError) error = NULL;
  char *recipient = NULL;
  char *secret = ansim_age_keygen (&recipient, &error);
  g_assert_no_error (error);
  g_file_set_contents_full (identity_path, secret, -1, G_FILE_SET_CONTENTS_NONE, 0600, &error);
  g_assert_no_error (error);
  ansim_age_secret_free (secret);
  return recipient;
}

GString *
test_recorder_config (const char *data_dir, const char *spool_dir, const char *recipient,
                      int pre_event_s, int post_event_s, const char *recorder_extra)
{
  GString *c = g_string_new (NULL);
  g_string_append_printf (c, "[recorder]\ndevice_id = test-board\ndata_dir = %s\n", data_dir);
  if (spool_dir != NULL)
    g_string_append_printf (c, "spool_dir = %s\n", spool_dir);
  g_string_append_printf (c,
                          "recipients = %s\n"
                          "pre_event_seconds = %d\npost_event_seconds = %d\nsegment_seconds = 2\n"
                          "notice_sound = none\n%s\n"
                          "[desk]\nid = desk-1\nname = test desk\n\n"
                          "[trigger desk-button]\ninput = simulated\nlong_press_ms = 600\n\n"
                          "[output recording]\nkind = simulated\n\n",
                          recipient, pre_event_s, post_event_s,
                          recorder_extra != NULL ? recorder_extra : "");
  return c;
}

GSubprocess *
test_recorder_host_start (const char *config_path, const char *key_path, const char *log_path,
                          const char *const *env)
{
  g_autofree char *exe = test_build_path ("tests/recorder/recorder-host");
  const char *argv[] = { exe, config_path, key_path, NULL };
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  g_ptr_array_add (all, (gpointer) "G_MESSAGES_DEBUG");
  g_ptr_array_add (all, (gpointer) "ansim-recorder");
  for (guint i = 0; env != NULL && env[i] != NULL; i += 2)
    {
      g_ptr_array_add (all, (gpointer) env[i]);
      g_ptr_array_add (all, (gpointer) env[i + 1]);
    }
  g_ptr_array_add (all, NULL);
  return test_spawn_logged (log_path, argv, (const char *const *) all->pdata);
}

GSubprocess *
test_rtsp_camera_start (guint16 port)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *exe = test_build_path ("tests/recorder/rtsp-server");
  g_autofree char *port_text = g_strdup_printf ("%u", port);
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_child_setup (l, test_die_with_parent, NULL, NULL);
  GSubprocess *camera = g_subprocess_launcher_spawn (l, &error, exe, port_text, NULL);
  g_assert_no_error (error);
  g_usleep (500000);
  return camera;
}

void
test_recorder_press (const char *data_dir, const char *trigger, const char *how)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *sock = g_build_filename (data_dir, "control.sock", NULL);
  g_autofree char *req = g_strdup_printf ("press %s %s", trigger, how);
  g_autofree char *reply = ansim_control_request (sock, req, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (reply, "\"ok\":true"));
}

sqlite3 *
test_desk_db_open (const char *data_dir)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (data_dir, "desk.db", NULL);
  sqlite3 *db = ansim_db_open (&ansim_desk_db_schema, path, &error);
  g_assert_no_error (error);
  return db;
}

gint64
test_db_int (sqlite3 *db, const char *sql)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (db, sql, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  return sqlite3_column_int64 (st, 0);
}

void
test_recorder_wait_closed (const char *data_dir, const char *log_path, gint64 n, guint timeout_ms)
{
  g_autoptr (sqlite3) db = test_desk_db_open (data_dir);
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (test_db_int (db, "SELECT count(*) FROM incidents WHERE closed_wall_us IS NOT NULL") < n)
    {
      if (g_get_monotonic_time () > end)
        {
          g_autofree char *log = test_read_file (log_path);
          g_error ("%" G_GINT64_FORMAT " closed incident(s) not there after %u ms:\n%s", n,
                   timeout_ms, log);
        }
      g_usleep (50000);
    }
}

void
test_keep_or_remove (const char *dir, const char *log_path, const char *who)
{
  if (g_test_failed ())
    {
      g_autofree char *log = NULL;
      if (g_file_get_contents (log_path, &log, NULL, NULL))
        g_test_message ("%s output:\n%s", who, log);
      g_test_message ("kept %s", dir);
    }
  else
    test_rm_rf (dir);
}
