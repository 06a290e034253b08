/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The shared test helpers of test-common.h: files, waiting, processes.
 * Keeps true: a daemon started here dies with the test process, and a
 * SIGTERM stop must end in exit status 0. */
#include "test-common.h"

#include <fcntl.h>
#include <stdarg.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/wait.h>
#include <string.h>
#include <sys/prctl.h>

char *
test_build_path (const char *rel)
{
  return g_build_filename (g_getenv ("ANSIM_BUILD_ROOT"), rel, NULL);
}

char *
test_make_tmp_dir (const char *template)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp (template, &error);
  g_assert_no_error (error);
  return dir;
}

void
test_rm_rf (const char *dir)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
  g_assert_cmpint (system (cmd), ==, 0);
}

char *
test_read_file (const char *path)
{
  char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

GBytes *
test_read_bytes (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize len = 0;

  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
}

void
test_write_file (const char *path, const void *data, gssize len)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, data, len, &error);
  g_assert_no_error (error);
}

GBytes *
test_random_bytes (gsize len, guint32 seed)
{
  guint8 *data = g_malloc (len ? len : 1);
  guint32 x = seed * 2654435761u + 1;

  for (gsize i = 0; i < len; i++)
    {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      data[i] = x & 0xff;
    }
  return g_bytes_new_take (data, len);
}

gboolean
test_wait_until (gboolean (*cond) (gpointer), gpointer data, double timeout_s)
{
  gint64 end = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);
  while (!cond (data))
    {
      if (g_get_monotonic_time () > end)
        return FALSE;
      g_usleep (20000);
    }
  return TRUE;
}

guint
test_count_in_file (const char *path, const char *needle)
{
  g_autofree char *text = test_read_file (path);
  guint n = 0;
  for (const char *p = text; (p = strstr (p, needle)) != NULL; p++)
    n++;
  return n;
}

void
test_wait_log (const char *path, const char *who, const char *needle, guint count, guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (test_count_in_file (path, needle) < count)
    {
      if (g_get_monotonic_time () > end)
        {
          g_autofree char *log = test_read_file (path);
          g_error ("'%s' (x%u) not in the %s's output after %u ms:\n%s", needle, count, who,
                   timeout_ms, log);
        }
      g_usleep (20000);
    }
}

gboolean
test_have_programs (const char *why, ...)
{
  va_list args;
  gboolean all = TRUE;
  va_start (args, why);
  for (const char *name; (name = va_arg (args, const char *)) != NULL;)
    {
      g_autofree char *found = g_find_program_in_path (name);
      all = all && found != NULL;
    }
  va_end (args);
  if (!all)
    g_test_skip (why);
  return all;
}

guint
test_free_port (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) s =
    g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_assert_true (g_socket_bind (s, addr, FALSE, &error));
  g_autoptr (GSocketAddress) bound = g_socket_get_local_address (s, &error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

void
test_die_with_parent (gpointer data)
{
  (void) data;
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

GSubprocess *
test_spawnv (GSubprocessFlags flags, const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (flags);
  g_subprocess_launcher_set_child_setup (l, test_die_with_parent, NULL, NULL);
  GSubprocess *p = g_subprocess_launcher_spawnv (l, argv, &error);
  g_assert_no_error (error);
  return p;
}

GSubprocess *
test_spawn (GSubprocessFlags flags, const char *first, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  va_list args;
  va_start (args, first);
  for (const char *a = first; a != NULL; a = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer) a);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  return test_spawnv (flags, (const char *const *) argv->pdata);
}

GSubprocess *
test_spawn_logged (const char *log_path, const char *const *argv, const char *const *env)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_child_setup (l, test_die_with_parent, NULL, NULL);
  for (guint i = 0; env != NULL && env[i] != NULL; i += 2)
    {
      if (env[i + 1] != NULL)
        g_subprocess_launcher_setenv (l, env[i], env[i + 1], TRUE);
      else
        g_subprocess_launcher_unsetenv (l, env[i]);
    }
  int fd = g_open (log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_subprocess_launcher_take_stdout_fd (l, fd);
  GSubprocess *proc = g_subprocess_launcher_spawnv (l, argv, &error);
  g_assert_no_error (error);
  return proc;
}

void
test_process_stop (GSubprocess *proc, int sig)
{
  if (proc == NULL)
    return;
  g_subprocess_send_signal (proc, sig);
  g_subprocess_wait (proc, NULL, NULL);
  /* a SIGTERM must end in a clean stop (and, under the sanitizers, with
   * no leak or error report, which would change the exit status) */
  if (sig == SIGTERM
      && !(g_subprocess_get_if_exited (proc) && g_subprocess_get_exit_status (proc) == 0))
    g_error ("%s did not stop cleanly on SIGTERM (see its log)",
             g_subprocess_get_identifier (proc));
}

void
test_process_end (GSubprocess **proc)
{
  test_process_stop (*proc, SIGTERM);
  g_clear_object (proc);
}

void
test_process_kill (GSubprocess **proc)
{
  if (*proc == NULL)
    return;
  g_subprocess_force_exit (*proc);
  g_subprocess_wait (*proc, NULL, NULL);
  g_clear_object (proc);
}

int
test_exit_code (GSubprocess *proc)
{
  if (g_subprocess_get_if_exited (proc))
    return g_subprocess_get_exit_status (proc);
  g_assert_true (g_subprocess_get_if_signaled (proc));
  return -g_subprocess_get_term_sig (proc);
}

int
test_ansimctl (char **out_text, const char *stdin_text, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;

  g_ptr_array_add (argv, test_build_path ("ansimctl/ansimctl"));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);
  g_autoptr (GSubprocess) p =
    g_subprocess_newv ((const char *const *) argv->pdata,
                       (stdin_text != NULL ? G_SUBPROCESS_FLAGS_STDIN_PIPE : 0)
                         | G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                       &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (p, stdin_text, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  if (out_text != NULL)
    *out_text = g_steal_pointer (&out);
  return test_exit_code (p);
}

char *
test_ansimctl_ok (const char *stdin_text, const char *const *args)
{
  char *out = NULL;
  if (test_ansimctl (&out, stdin_text, args) != 0)
    g_error ("ansimctl %s: %s", args[0], out);
  return out;
}

int
test_runv (char **out, char **err, const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *so = NULL, *se = NULL;
  g_autofree char *line = g_strjoinv (" ", (char **) argv);
  g_autoptr (GPtrArray) timed = g_ptr_array_new ();
  int status = 0;

  g_ptr_array_add (timed, "timeout");
  g_ptr_array_add (timed, "-k");
  g_ptr_array_add (timed, "5");
  g_ptr_array_add (timed, "60");
  for (const char *const *a = argv; *a != NULL; a++)
    g_ptr_array_add (timed, (gpointer) *a);
  g_ptr_array_add (timed, NULL);
  g_test_message ("$ %s", line);
  g_spawn_sync (NULL, (char **) timed->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &so, &se,
                &status, &error);
  g_assert_no_error (error);
  if (se != NULL && *se != '\0')
    g_test_message ("stderr: %s", se);
  if (out != NULL)
    *out = g_steal_pointer (&so);
  if (err != NULL)
    *err = g_steal_pointer (&se);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

int
test_run (char **out, char **err, const char *first, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  va_list args;

  va_start (args, first);
  for (const char *a = first; a != NULL; a = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer) a);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  return test_runv (out, err, (const char *const *) argv->pdata);
}

void
test_add_user (const char *conf, const char *user, const char *role, const char *password)
{
  const char *args[] = { "user",     "add", user, "--role", role, "--password-stdin",
                         "--config", conf,  NULL };
  g_autofree char *input = g_strconcat (password, "\n", NULL);
  g_autofree char *out = NULL;
  if (test_ansimctl (&out, input, args) != 0)
    g_error ("ansimctl user add %s: %s", user, out);
}

static int
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

double
test_percentile_ms (GArray *us, double q)
{
  g_array_sort (us, compare_gint64);
  guint i = MIN (us->len - 1, (guint) (q * us->len));
  return g_array_index (us, gint64, i) / 1000.0;
}

double
test_percentile_nearest_ms (GArray *us, double q)
{
  g_array_sort (us, compare_gint64);
  guint i = (guint) (q * (us->len - 1) + 0.5);
  return g_array_index (us, gint64, i) / 1000.0;
}
