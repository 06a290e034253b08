/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansimctl's panel-host commands: console users, the audit log and
 * the retention purge. */
#pragma once

int ansimctl_user (int argc, char **argv);
int ansimctl_audit (int argc, char **argv);
int ansimctl_purge (int argc, char **argv);
