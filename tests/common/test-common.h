/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The helpers every test suite (and the benchmarks) share: built programs,
 * temp folders, processes started with an environment and a log file,
 * waiting for a condition or a log line, running ansimctl. Each helper
 * fails the test (g_error/g_assert) rather than returning an error, and
 * none of them weakens what a test asserts: they only move the steps. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* ---- files ------------------------------------------------------------------ */

/* Full path of a built program, e.g. "panel/ansim-panel". */
char *test_build_path (const char *rel);
/* A new folder in $TMPDIR from template ("ansim-x-XXXXXX"); keep it short
 * where UNIX socket paths go inside. */
char *test_make_tmp_dir (const char *template);
void test_rm_rf (const char *dir);
/* The file's text, or "" when it cannot be read. */
char *test_read_file (const char *path);
/* The file's bytes; fails the test when it cannot be read. */
GBytes *test_read_bytes (const char *path);
/* Writes data (len -1: a string) to path; fails the test when it cannot. */
void test_write_file (const char *path, const void *data, gssize len);

/* len pseudo-random bytes (xorshift32), the same for the same seed. */
GBytes *test_random_bytes (gsize len, guint32 seed);

/* ---- waiting ---------------------------------------------------------------- */

/* Polls cond every 20 ms until it is TRUE or timeout_s passed. */
gboolean test_wait_until (gboolean (*cond) (gpointer), gpointer data, double timeout_s);
/* How often needle stands in the file at path (0 when there is no file). */
guint test_count_in_file (const char *path, const char *needle);
/* Waits until needle stands count times in the log at path; fails the test
 * with the log after timeout_ms. who names the process in the message. */
void test_wait_log (const char *path, const char *who, const char *needle, guint count,
                    guint timeout_ms);

/* For main(): TRUE when every program (NULL-terminated list) is on PATH;
 * otherwise g_test_skip (why) and FALSE: the test program returns 77. */
gboolean test_have_programs (const char *why, ...) G_GNUC_NULL_TERMINATED;

/* ---- processes -------------------------------------------------------------- */

/* A TCP port nobody listens on right now. */
guint test_free_port (void);
/* Child setup: the child gets SIGKILL when the test process dies, so no
 * daemon outlives a failed run. */
void test_die_with_parent (gpointer data);
/* g_subprocess_newv with flags, the child killed when the test process
 * dies (a failed assertion must not leave daemons running). */
GSubprocess *test_spawnv (GSubprocessFlags flags, const char *const *argv);
/* The same with the arguments listed, NULL-terminated. */
GSubprocess *test_spawn (GSubprocessFlags flags, const char *first, ...) G_GNUC_NULL_TERMINATED;
/* Starts argv with stdout and stderr appended to log_path (a restarted
 * daemon keeps the earlier run's words). env: NULL-terminated NAME, VALUE
 * pairs (VALUE NULL: unset), or NULL. The child dies with the test. */
GSubprocess *test_spawn_logged (const char *log_path, const char *const *argv,
                                const char *const *env);
/* Sends sig and waits for the process to end; after SIGTERM it must have
 * exited with status 0 (under the sanitizers: no report). */
void test_process_stop (GSubprocess *proc, int sig);
/* test_process_stop (*proc, SIGTERM), then clears *proc. */
void test_process_end (GSubprocess **proc);
/* SIGKILL and wait, for a child that must go now; clears *proc (may hold
 * NULL). */
void test_process_kill (GSubprocess **proc);
/* How a waited-for child ended: its exit status if it exited, else minus
 * the signal that killed it (an abort or a sanitizer's SIGABRT is never
 * mistaken for an exit status, nor read with g_subprocess_get_exit_status,
 * which is only defined for a child that exited). */
int test_exit_code (GSubprocess *proc);

/* Runs the built ansimctl with args (NULL-terminated); stdin_text (or
 * nothing) is its input. Returns its exit status; out_text (may be NULL):
 * stdout and stderr. */
int test_ansimctl (char **out_text, const char *stdin_text, const char *const *args);
/* The same, failing the test unless it exits 0; returns its output. */
char *test_ansimctl_ok (const char *stdin_text, const char *const *args);
/* `ansimctl user add USER --role ROLE --password-stdin --config CONF`;
 * fails the test when it fails. */
void test_add_user (const char *conf, const char *user, const char *role, const char *password);

/* Runs argv (looked up in PATH) under timeout(1), 60 s, so that a hung
 * program fails the test instead of hanging it. Returns its exit status
 * (-1 if killed); its stdout and stderr in out, err (may be NULL). The
 * command and its stderr go to the test log. */
int test_runv (char **out, char **err, const char *const *argv);
/* The same, the arguments listed (NULL-terminated). */
int test_run (char **out, char **err, const char *first, ...) G_GNUC_NULL_TERMINATED;

/* ---- measuring (benchmarks) -------------------------------------------------- */

/* Sorts us (gint64 microseconds) and returns the value at quantile q
 * (0..1, the element at q * n, the last at most) in milliseconds. */
double test_percentile_ms (GArray *us, double q);
/* The same with the nearest rank, element round (q * (n - 1)): what the
 * press -> alert benchmarks have always printed, so their figures compare
 * across runs. */
double test_percentile_nearest_ms (GArray *us, double q);

G_END_DECLS
