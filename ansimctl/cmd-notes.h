/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansimctl's commands for the panel's signed notes (docs/receipts.md). */
#pragma once

#include <sqlite3.h>

int ansimctl_panel_key (int argc, char **argv);
int ansimctl_notes (int argc, char **argv);
/* A fresh signed checkpoint of db's audit log on stdout; exit status. */
int ansimctl_audit_checkpoint (sqlite3 *db, const char *database);
/* Compares db's audit log with the checkpoints in sources (desk data dirs,
 * desk databases, files of notes), checked with panel_key (a PEM file) or
 * else the key beside database. Prints what it found; exit status. */
int ansimctl_audit_verify_checkpoints (sqlite3 *db, const char *database, char **sources,
                                       const char *panel_key);
/* The receipt part of 'ansimctl verify': path is an incident folder or a
 * package; exit status (1 for "newer incident withheld"). */
int ansimctl_check_receipt (const char *receipt_file, const char *panel_key, const char *path);
