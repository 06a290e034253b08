/* SPDX-License-Identifier: GPL-3.0-or-later */
/* SQL the tests run themselves on a real database (seeding, tampering),
 * outside the code under test. Fails the test on any error. */
#include "test-sql.h"

void
test_sql_exec (sqlite3 *db, const char *sql)
{
  char *message = NULL;

  if (sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
    g_error ("%s: %s", sql, message != NULL ? message : sqlite3_errmsg (db));
}
