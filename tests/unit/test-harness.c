/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The test harness's own checks: how a child's end is read. A child killed
 * by a signal (an abort, a sanitizer report with abort_on_error) must never
 * read as an exit status, least of all as the "expected failure" 1. */
#include <signal.h>

#include "test-common.h"

static GSubprocess *
run_sh (const char *script)
{
  g_autoptr (GError) error = NULL;
  GSubprocess *p = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, "sh", "-c", script, NULL);
  g_assert_no_error (error);
  g_subprocess_wait (p, NULL, &error);
  g_assert_no_error (error);
  return p;
}

static void
test_exited (void)
{
  g_autoptr (GSubprocess) ok = run_sh ("exit 0");
  g_assert_cmpint (test_exit_code (ok), ==, 0);
  g_autoptr (GSubprocess) refused = run_sh ("exit 1");
  g_assert_cmpint (test_exit_code (refused), ==, 1);
}

static void
test_signalled (void)
{
  g_autoptr (GSubprocess) killed = run_sh ("kill -KILL $$");
  g_assert_cmpint (test_exit_code (killed), ==, -SIGKILL);
  g_autoptr (GSubprocess) aborted = run_sh ("kill -ABRT $$");
  g_assert_cmpint (test_exit_code (aborted), ==, -SIGABRT);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/harness/exit-code/exited", test_exited);
  g_test_add_func ("/harness/exit-code/signalled", test_signalled);
  return g_test_run ();
}
