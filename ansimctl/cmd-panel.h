/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansimctl's panel-host commands: console users and the audit log. */
#pragma once

int ansimctl_user (int argc, char **argv);
int ansimctl_audit (int argc, char **argv);
