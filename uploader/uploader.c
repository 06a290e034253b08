/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The uploader's hold on the desk database; the sending itself comes with
 * the ingest API (see the upload path issue). */
#include "uploader.h"

#include "db.h"

struct _Uploader {
  sqlite3 *db;
  char *panel_url;
};

gint64
uploader_count_waiting (Uploader *self, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (self->db, "SELECT count(*) FROM outbox WHERE confirmed_at_us IS NULL", error);
  if (stmt == NULL)
    return -1;
  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      ansim_db_set_error (self->db, error, "counting the outbox");
      return -1;
    }
  return sqlite3_column_int64 (stmt, 0);
}

Uploader *
uploader_new (AnsimConfig *config, GError **error)
{
  g_autoptr (Uploader) self = g_new0 (Uploader, 1);
  g_autofree char *database = ansim_config_get_path (config, "uploader", "database");

  self->panel_url = g_strdup (ansim_config_get_string (config, "uploader", "panel_url"));
  self->db = ansim_db_open (&ansim_desk_db_schema, database, error);
  if (self->db == NULL)
    return NULL;
  gint64 waiting = uploader_count_waiting (self, error);
  if (waiting < 0)
    return NULL;
  g_message ("database %s open; %" G_GINT64_FORMAT " outbox item(s) waiting for %s",
             database, waiting, self->panel_url);
  return g_steal_pointer (&self);
}

void
uploader_free (Uploader *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->db, sqlite3_close);
  g_free (self->panel_url);
  g_free (self);
}
