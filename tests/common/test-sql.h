/* SPDX-License-Identifier: GPL-3.0-or-later */
/* SQL the tests run themselves (seeding, tampering); see test-sql.c. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* Runs sql (one or more statements), failing the test on an error. */
void test_sql_exec (sqlite3 *db, const char *sql);

G_END_DECLS
