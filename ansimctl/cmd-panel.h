/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansimctl's panel-host commands: console users, the audit log, the
 * retention purge, drills. */
#pragma once

int ansimctl_user (int argc, char **argv);
int ansimctl_audit (int argc, char **argv);
int ansimctl_purge (int argc, char **argv);
int ansimctl_drill (int argc, char **argv);
