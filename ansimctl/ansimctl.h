/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansimctl's commands; each parses its own options and returns an exit status. */
#pragma once

#include <glib.h>

typedef struct {
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
} AnsimctlCommand;

extern const AnsimctlCommand ansimctl_commands[];

int ansimctl_check_config (int argc, char **argv);
int ansimctl_config_reference (int argc, char **argv);
int ansimctl_press (int argc, char **argv);
int ansimctl_status (int argc, char **argv);
int ansimctl_enroll_code (int argc, char **argv);
int ansimctl_revoke (int argc, char **argv);
int ansimctl_enroll (int argc, char **argv);
