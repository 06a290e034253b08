/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The real daemons and ansimctl as separate processes: start on embedded
 * defaults, simulated press to event row (latency measured), clean stop on
 * SIGTERM, bad configurations refused with one line. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sqlite3.h>

#include "test-common.h"

typedef struct {
  char *dir;
  GSubprocess *daemon;
  GString *output; /* the daemon's stdout+stderr, read as it comes */
  GInputStream *output_stream;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  /* Short: UNIX socket paths are limited to 107 bytes. */
  f->dir = g_dir_make_tmp ("ansim-XXXXXX", &error);
  g_assert_no_error (error);
  f->output = g_string_new (NULL);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  test_process_kill (&f->daemon);
  g_clear_object (&f->output_stream);
  test_rm_rf (f->dir);
  g_free (f->dir);
  g_string_free (f->output, TRUE);
}

static void
on_output (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *f = user_data;
  g_autoptr (GBytes) bytes =
    g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, NULL);
  if (bytes == NULL || g_bytes_get_size (bytes) == 0)
    return;
  g_string_append_len (f->output, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_input_stream_read_bytes_async (G_INPUT_STREAM (source), 4096, G_PRIORITY_DEFAULT, NULL,
                                   on_output, f);
}

static void
start_daemon (Fixture *f, const char *program, const char *const *extra)
{
  g_autofree char *exe = test_build_path (program);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, exe);
  g_ptr_array_add (argv, "--data-dir");
  g_ptr_array_add (argv, f->dir);
  for (; extra != NULL && *extra != NULL; extra++)
    g_ptr_array_add (argv, (char *) *extra);
  g_ptr_array_add (argv, NULL);
  f->daemon = test_spawnv (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                           (const char *const *) argv->pdata);
  f->output_stream = g_object_ref (g_subprocess_get_stdout_pipe (f->daemon));
  g_input_stream_read_bytes_async (f->output_stream, 4096, G_PRIORITY_DEFAULT, NULL, on_output, f);
}

static gboolean
wait_for_output (Fixture *f, const char *needle, guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + timeout_ms * 1000;
  while (strstr (f->output->str, needle) == NULL)
    {
      if (g_get_monotonic_time () > end)
        return FALSE;
      g_main_context_iteration (NULL, FALSE);
      g_usleep (2000);
    }
  return TRUE;
}

/* SIGTERM, then the exit status and the last words. */
static void
stop_daemon (Fixture *f)
{
  g_subprocess_send_signal (f->daemon, SIGTERM);
  GError *error = NULL;
  g_subprocess_wait (f->daemon, NULL, &error);
  g_assert_no_error (error);
  /* drain what is left of the output */
  wait_for_output (f, "stopped cleanly", 2000);
  if (!g_subprocess_get_if_exited (f->daemon) || test_exit_code (f->daemon) != 0)
    g_error ("daemon did not stop cleanly; its output:\n%s", f->output->str);
  g_assert_nonnull (strstr (f->output->str, "stopped cleanly"));
  g_clear_object (&f->daemon);
}

static char *
run_ctl (int *out_status, const char *first, ...)
{
  g_autofree char *exe = test_build_path ("ansimctl/ansimctl");
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, exe);
  va_list args;
  va_start (args, first);
  for (const char *a = first; a != NULL; a = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) a);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  GError *error = NULL;
  g_autoptr (GSubprocess) p =
    test_spawnv (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                 (const char *const *) argv->pdata);
  char *out = NULL;
  g_subprocess_communicate_utf8 (p, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  *out_status = test_exit_code (p);
  return out;
}

static void
test_daemon_lifecycle (Fixture *f, gconstpointer data)
{
  const char *program = data;
  const char *const panel_args[] = { "--config", NULL, NULL };
  g_autofree char *conf = NULL;
  if (g_str_has_suffix (program, "ansim-panel"))
    {
      /* port 0: any free port, so parallel tests never collide */
      conf = g_build_filename (f->dir, "panel.conf", NULL);
      g_assert_true (g_file_set_contents (conf, "[panel]\nport = 0\n", -1, NULL));
      ((const char **) panel_args)[1] = conf;
    }
  start_daemon (f, program, conf != NULL ? panel_args : NULL);
  if (!wait_for_output (f, "running with", 10000))
    g_error ("%s did not start; its output:\n%s", program, f->output->str);
  stop_daemon (f);
}

static gint64
count_events (const char *db_path, const char *kind, const char *trigger)
{
  sqlite3 *db = NULL;
  if (sqlite3_open_v2 (db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    {
      sqlite3_close (db);
      return -1;
    }
  sqlite3_busy_timeout (db, 5000);
  sqlite3_stmt *stmt = NULL;
  gint64 n = -1;
  if (sqlite3_prepare_v2 (db, "SELECT count(*) FROM events WHERE kind = ?1 AND trigger = ?2", -1,
                          &stmt, NULL)
      == SQLITE_OK)
    {
      sqlite3_bind_text (stmt, 1, kind, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 2, trigger, -1, SQLITE_STATIC);
      if (sqlite3_step (stmt) == SQLITE_ROW)
        n = sqlite3_column_int64 (stmt, 0);
    }
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return n;
}

static gint64
press_edge_mono_us (const char *db_path, const char *trigger)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint (sqlite3_open_v2 (db_path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 5000);
  g_assert_cmpint (sqlite3_prepare_v2 (db,
                                       "SELECT at_mono_us FROM events WHERE kind = 'press' "
                                       "AND trigger = ?1 ORDER BY id LIMIT 1",
                                       -1, &stmt, NULL),
                   ==, SQLITE_OK);
  sqlite3_bind_text (stmt, 1, trigger, -1, SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  gint64 edge = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return edge;
}

static gint64
wait_for_events (const char *db_path, const char *kind, const char *trigger, gint64 want,
                 guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + timeout_ms * 1000;
  gint64 n;
  while ((n = count_events (db_path, kind, trigger)) < want && g_get_monotonic_time () < end)
    g_usleep (500);
  return n;
}

static void
test_press_to_event_row (Fixture *f, gconstpointer data)
{
  (void) data;
  start_daemon (f, "recorder/ansim-recorder", NULL);
  if (!wait_for_output (f, "running with", 10000))
    g_error ("recorder did not start:\n%s", f->output->str);
  g_autofree char *db = g_build_filename (f->dir, "desk.db", NULL);

  /* Press as a person would, through ansimctl, and time until the row is there. */
  int status;
  gint64 before = g_get_monotonic_time ();
  g_autofree char *out = run_ctl (&status, "press", "--data-dir", f->dir, NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "pressed desk-button"));
  gint64 n = wait_for_events (db, "press", "desk-button", 1, 5000);
  gint64 seen = g_get_monotonic_time ();
  g_assert_cmpint (n, ==, 1);
  /* The row carries the edge's monotonic time, the same clock as ours: from
   * the edge to the committed row is the recorder's own latency; ansimctl's
   * start (slow under sanitizers) is reported apart. */
  gint64 edge = press_edge_mono_us (db, "desk-button");
  g_assert_cmpint (edge, >=, before);
  g_test_message ("press -> event row: %.1f ms from the edge (debounce window 30 ms), "
                  "%.1f ms from running ansimctl",
                  (seen - edge) / 1000.0, (seen - before) / 1000.0);
  /* Speed goals are the benchmarks' (bench/recorder: press to incident
   * row); here only a stall fails, as sanitizers and a loaded CI slow
   * every commit. */
  g_assert_cmpint (seen - edge, <, 5000 * 1000);
  g_assert_cmpint (seen - before, <, 10000 * 1000);
  g_assert_cmpint (wait_for_events (db, "release", "desk-button", 1, 5000), ==, 1);
  g_assert_cmpint (count_events (db, "long-press", "desk-button"), ==, 0);

  /* A long press on the other trigger. */
  g_free (out);
  out = run_ctl (&status, "press", "--long", "--trigger", "bodycam", "--data-dir", f->dir, NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_cmpint (wait_for_events (db, "long-press", "bodycam", 1, 6000), ==, 1);
  g_assert_cmpint (wait_for_events (db, "release", "bodycam", 1, 5000), ==, 1);

  /* An unknown trigger is refused, naming the ones that exist, and recorded nowhere. */
  g_free (out);
  out = run_ctl (&status, "press", "--trigger", "desk-buton", "--data-dir", f->dir, NULL);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (out, "unknown trigger 'desk-buton'"));
  g_assert_nonnull (strstr (out, "desk-button"));
  g_assert_cmpint (count_events (db, "press", "desk-buton"), ==, 0);

  /* The outputs can be read back. The press may have opened an incident
   * (recording light on) if the test cameras were ready; nobody
   * acknowledged it, and the buzzer's notice pulse is over. */
  g_free (out);
  out = run_ctl (&status, "status", "--json", "--data-dir", f->dir, NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "\"recording\":"));
  g_assert_nonnull (strstr (out, "\"acknowledged\":false"));
  g_assert_nonnull (strstr (out, "\"buzzer\":false"));

  g_free (out);
  out = run_ctl (&status, "status", "--data-dir", f->dir, NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "long-press"));

  stop_daemon (f);
  /* no control socket left behind */
  g_autofree char *sock = g_build_filename (f->dir, "control.sock", NULL);
  g_assert_false (g_file_test (sock, G_FILE_TEST_EXISTS));
}

static void
test_two_recorders (Fixture *f, gconstpointer data)
{
  (void) data;
  start_daemon (f, "recorder/ansim-recorder", NULL);
  g_assert_true (wait_for_output (f, "running with", 10000));
  g_autofree char *exe = test_build_path ("recorder/ansim-recorder");
  GError *error = NULL;
  g_autoptr (GSubprocess) second =
    test_spawn (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, exe, "--data-dir",
                f->dir, NULL);
  g_autofree char *out = NULL;
  g_subprocess_communicate_utf8 (second, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (test_exit_code (second), ==, 1);
  g_assert_nonnull (strstr (out, "in use by another running recorder"));
  /* the first one is unharmed */
  int status;
  g_autofree char *press = run_ctl (&status, "press", "--data-dir", f->dir, NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (press);
  stop_daemon (f);
}

static void
test_bad_config_refused (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autofree char *conf = g_build_filename (f->dir, "recorder.conf", NULL);
  g_assert_true (g_file_set_contents (conf,
                                      "[recorder]\ndevice_id = d1\n[desk]\nid = desk-1\nname = x\n"
                                      "[trigger desk-button]\ninput = simulated\ndebounce = 30\n",
                                      -1, NULL));
  g_autofree char *exe = test_build_path ("recorder/ansim-recorder");
  GError *error = NULL;
  g_autoptr (GSubprocess) p =
    test_spawn (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, exe, "--config",
                conf, "--data-dir", f->dir, NULL);
  g_autofree char *out = NULL;
  g_subprocess_communicate_utf8 (p, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (test_exit_code (p), ==, 1);
  g_assert_nonnull (strstr (out, "[trigger desk-button] debounce"));
  g_assert_nonnull (strstr (out, "debounce_ms"));
  /* exactly one line, and nothing created */
  g_assert_cmpint (strchr (out, '\n') - out, ==, (gssize) strlen (out) - 1);
  g_autofree char *db = g_build_filename (f->dir, "desk.db", NULL);
  g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));

  /* ansimctl check-config says the same */
  int status;
  g_autofree char *check = run_ctl (&status, "check-config", conf, NULL);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (check, "[trigger desk-button] debounce"));
}

static void
test_examples_accepted (void)
{
  const char *names[] = { "recorder.conf", "uploader.conf", "panel.conf" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path =
        g_build_filename (g_getenv ("ANSIM_SOURCE_ROOT"), "config", names[i], NULL);
      int status;
      g_autofree char *out = run_ctl (&status, "check-config", path, NULL);
      if (status != 0)
        g_error ("%s refused: %s", names[i], out);
      g_assert_nonnull (strstr (out, ": ok"));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/daemons/lifecycle/recorder", Fixture, "recorder/ansim-recorder", setup,
              test_daemon_lifecycle, teardown);
  g_test_add ("/daemons/lifecycle/uploader", Fixture, "uploader/ansim-uploader", setup,
              test_daemon_lifecycle, teardown);
  g_test_add ("/daemons/lifecycle/panel", Fixture, "panel/ansim-panel", setup,
              test_daemon_lifecycle, teardown);
  g_test_add ("/daemons/press-to-event-row", Fixture, NULL, setup, test_press_to_event_row,
              teardown);
  g_test_add ("/daemons/second-recorder-refused", Fixture, NULL, setup, test_two_recorders,
              teardown);
  g_test_add ("/daemons/bad-config-refused", Fixture, NULL, setup, test_bad_config_refused,
              teardown);
  g_test_add_func ("/daemons/examples-accepted", test_examples_accepted);
  return g_test_run ();
}
