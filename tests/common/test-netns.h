/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A private network for a test: a network namespace and a veth pair with a
 * /30 of the test's own, so a link can be cut (`test_netns_set_link`) while
 * both ends keep running. What must stay true: nothing outlives the test
 * process, however it ends — a failed assertion (SIGABRT), a meson timeout
 * (SIGTERM) or a crash removes the namespace (and with it the veth pair),
 * and leftovers of a process that died harder (SIGKILL) are removed by the
 * next test_netns_new. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char *name;     /* the namespace, "ansim-test-PID-N" */
  char *host_if;  /* the veth end on the host side */
  char *host_ip;  /* its address */
  char *inner_ip; /* the address inside the namespace */
} TestNetns;

/* NULL (and a skip message in out_why) when this machine cannot make one
 * (not root, no iproute2, no namespaces). */
TestNetns *test_netns_new (char **out_why);
/* The host end's link up or down (the cable in or out). */
void test_netns_set_link (TestNetns *self, gboolean up);
/* Runs an `ip` (or any) command line split on spaces; FALSE if it failed. */
gboolean test_run_command (const char *command);
void test_netns_free (TestNetns *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestNetns, test_netns_free)

G_END_DECLS
