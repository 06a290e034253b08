/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk_clock row of the desk database (docs/schema.md): one row, the
 * uploader's latest measurement of the desk's offset to the panel's
 * clock. Readers get it whole or "never measured", never a half. */
#include "desk-clock.h"

#include <sqlite3.h>

#include "db.h"

gboolean
ansim_desk_clock_load (sqlite3 *db, AnsimDeskClock *out, GError **error)
{
  *out = (AnsimDeskClock){ 0 };
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db, "SELECT offset_us, bound_us, measured_wall_us FROM desk_clock WHERE id = 1", error);
  if (stmt == NULL)
    return FALSE;
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      out->measured = TRUE;
      out->offset_us = sqlite3_column_int64 (stmt, 0);
      out->bound_us = sqlite3_column_int64 (stmt, 1);
      out->measured_wall_us = sqlite3_column_int64 (stmt, 2);
      return TRUE;
    }
  if (rc != SQLITE_DONE)
    return ansim_db_set_error (db, error, "reading the desk clock's offset");
  return TRUE;
}

gboolean
ansim_desk_clock_store (sqlite3 *db, const char *panel_url, const AnsimDeskClock *clock,
                        GError **error)
{
  g_return_val_if_fail (clock->measured, FALSE);
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db,
    "INSERT INTO desk_clock (id, panel_url, offset_us, bound_us, measured_wall_us) "
    "VALUES (1, ?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET panel_url = ?1, "
    "offset_us = ?2, bound_us = ?3, measured_wall_us = ?4",
    error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, panel_url, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, clock->offset_us);
  sqlite3_bind_int64 (stmt, 3, clock->bound_us);
  sqlite3_bind_int64 (stmt, 4, clock->measured_wall_us);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "storing the desk clock's offset");
  return TRUE;
}

char *
ansim_desk_clock_describe (const AnsimDeskClock *clock)
{
  if (!clock->measured)
    return g_strdup ("never measured against the panel's clock");
  double off = clock->offset_us / (double) G_USEC_PER_SEC;
  double bound = clock->bound_us / (double) G_USEC_PER_SEC;
  /* offset = panel - desk: a positive offset means the desk is behind. */
  return g_strdup_printf ("%.3f s %s the panel's (± %.3f s)", ABS (off),
                          off >= 0 ? "behind" : "ahead of", bound);
}
