/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Private networks for tests (test-netns.h): made with iproute2, removed
 * when the test ends, even by a failed assertion or a timeout. */
#include "test-netns.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_NETNS 8

/* Names of the namespaces this process made, for the signal handler: fixed
 * storage, no allocation there. */
static char made[MAX_NETNS][64];
static volatile sig_atomic_t n_made;
static gboolean handlers_installed;
static struct sigaction previous[NSIG];

gboolean
test_run_command (const char *command)
{
  g_auto (GStrv) argv = g_strsplit (command, " ", -1);
  g_autofree char *out = NULL;
  int status = 0;
  g_autoptr (GError) error = NULL;
  if (!g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                     &out, NULL, &status, &error)
      || !g_spawn_check_wait_status (status, &error))
    {
      g_test_message ("%s: %s", command, error->message);
      return FALSE;
    }
  return TRUE;
}

/* Async-signal-safe: fork and exec `ip netns del NAME` for each. */
static void
remove_all_made (void)
{
  for (sig_atomic_t i = 0; i < n_made; i++)
    {
      if (made[i][0] == '\0')
        continue;
      pid_t pid = fork ();
      if (pid == 0)
        {
          char *const argv[] = { "ip", "netns", "del", made[i], NULL };
          execvp ("ip", argv);
          _exit (127);
        }
      if (pid > 0)
        waitpid (pid, NULL, 0);
      made[i][0] = '\0';
    }
}

static void
on_fatal_signal (int sig)
{
  remove_all_made ();
  sigaction (sig, &previous[sig], NULL);
  raise (sig);
}

static void
install_handlers (void)
{
  static const int sigs[] = { SIGABRT, SIGTERM, SIGINT, SIGSEGV, SIGBUS, SIGTRAP };
  if (handlers_installed)
    return;
  handlers_installed = TRUE;
  struct sigaction sa = { 0 };
  sa.sa_handler = on_fatal_signal;
  sigemptyset (&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  for (guint i = 0; i < G_N_ELEMENTS (sigs); i++)
    sigaction (sigs[i], &sa, &previous[sigs[i]]);
  atexit (remove_all_made);
}

/* Namespaces "ansim-test-PID..." whose process is gone: a test killed
 * with SIGKILL left them. */
static void
sweep_stale (void)
{
  g_autofree char *out = NULL;
  const char *argv[] = { "ip", "netns", "list", NULL };
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &out, NULL, NULL, NULL))
    return;
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) words = g_strsplit (lines[i], " ", 2);
      guint64 pid = 0;
      if (words[0] == NULL || !g_str_has_prefix (words[0], "ansim-test-"))
        continue;
      const char *digits = words[0] + strlen ("ansim-test-");
      g_autofree char *pid_text = g_strndup (digits, strcspn (digits, "-"));
      if (!g_ascii_string_to_unsigned (pid_text, 10, 1, G_MAXINT, &pid, NULL))
        continue;
      if (kill ((pid_t) pid, 0) == 0 || errno != ESRCH)
        continue;
      g_autofree char *cmd = g_strdup_printf ("ip netns del %s", words[0]);
      g_test_message ("removing a namespace a killed test left: %s", words[0]);
      test_run_command (cmd);
    }
}

TestNetns *
test_netns_new (char **out_why)
{
  if (geteuid () != 0)
    {
      *out_why = g_strdup ("needs root (ip netns add, ip link add ... type veth)");
      return NULL;
    }
  if (!test_run_command ("ip netns list"))
    {
      *out_why = g_strdup ("ip netns is not available (iproute2 missing or no namespaces)");
      return NULL;
    }
  if (n_made >= MAX_NETNS)
    g_error ("more than %d test namespaces in one process", MAX_NETNS);
  sweep_stale ();
  install_handlers ();

  /* names and a private /30 of this run's own */
  static guint serial;
  guint n = (getpid () * 4 + serial++) % 16000;
  g_autoptr (TestNetns) self = g_new0 (TestNetns, 1);
  self->name = g_strdup_printf ("ansim-test-%u-%u", (guint) getpid (), serial);
  self->host_if = g_strdup_printf ("ansim%ua", n);
  self->host_ip = g_strdup_printf ("10.%u.%u.%u", 200 + n / 4096, n / 16 % 256, (n % 16) * 16 + 1);
  self->inner_ip = g_strdup_printf ("10.%u.%u.%u", 200 + n / 4096, n / 16 % 256, (n % 16) * 16 + 2);
  g_autofree char *peer = g_strdup_printf ("ansim%ub", n);
  g_autofree char *add = g_strdup_printf ("ip netns add %s", self->name);
  if (!test_run_command (add))
    {
      *out_why = g_strdup ("ip netns add failed: no network namespaces here");
      return NULL;
    }
  g_strlcpy (made[n_made], self->name, sizeof made[0]);
  n_made++;
  g_autofree char *in_ns = g_strdup_printf ("ip netns exec %s ", self->name);
  char *steps[] = {
    g_strdup_printf ("ip link add %s type veth peer name %s", self->host_if, peer),
    g_strdup_printf ("ip link set %s netns %s", peer, self->name),
    g_strdup_printf ("ip addr add %s/30 dev %s", self->host_ip, self->host_if),
    g_strdup_printf ("ip link set %s up", self->host_if),
    g_strdup_printf ("%sip addr add %s/30 dev %s", in_ns, self->inner_ip, peer),
    g_strdup_printf ("%sip link set %s up", in_ns, peer),
    g_strdup_printf ("%sip link set lo up", in_ns),
  };
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    {
      if (!test_run_command (steps[i]))
        g_error ("cannot set up the namespace: %s failed", steps[i]);
      g_free (steps[i]);
    }
  return g_steal_pointer (&self);
}

void
test_netns_set_link (TestNetns *self, gboolean up)
{
  g_autofree char *cmd = g_strdup_printf ("ip link set %s %s", self->host_if, up ? "up" : "down");
  g_assert_true (test_run_command (cmd));
}

void
test_netns_free (TestNetns *self)
{
  if (self == NULL)
    return;
  /* The namespace takes its veth end with it, and the pair goes as one. */
  g_autofree char *cmd = g_strdup_printf ("ip netns del %s", self->name);
  test_run_command (cmd);
  for (sig_atomic_t i = 0; i < n_made; i++)
    if (g_str_equal (made[i], self->name))
      made[i][0] = '\0';
  g_free (self->name);
  g_free (self->host_if);
  g_free (self->host_ip);
  g_free (self->inner_ip);
  g_free (self);
}
