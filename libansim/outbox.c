/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the recorder's side of the outbox contract: queueing
 * rows and waking the uploader. */
#include "outbox.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "db.h"

static gboolean
queue (sqlite3 *db, int klass, gint64 incident_id, gint64 segment_idx, gint64 event_id,
       const char *path, gint64 *out_id, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (db,
    "INSERT INTO outbox (class, incident_id, segment_idx, event_id, path, created_at_us) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int (stmt, 1, klass);
  if (incident_id > 0)
    sqlite3_bind_int64 (stmt, 2, incident_id);
  if (segment_idx >= 0)
    sqlite3_bind_int64 (stmt, 3, segment_idx);
  if (event_id > 0)
    sqlite3_bind_int64 (stmt, 4, event_id);
  if (path != NULL)
    sqlite3_bind_text (stmt, 5, path, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 6, g_get_real_time ());
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "queueing an upload");
  if (out_id != NULL)
    *out_id = sqlite3_last_insert_rowid (db);
  return TRUE;
}

gboolean
ansim_outbox_queue_alert (sqlite3 *db, gint64 incident_id, gint64 *out_id, GError **error)
{
  return queue (db, 0, incident_id, -1, 0, NULL, out_id, error);
}

gboolean
ansim_outbox_queue_event (sqlite3 *db, gint64 event_id, gint64 *out_id, GError **error)
{
  return queue (db, 1, 0, -1, event_id, NULL, out_id, error);
}

gboolean
ansim_outbox_queue_manifest (sqlite3 *db, gint64 incident_id, const char *path, gint64 *out_id,
                             GError **error)
{
  return queue (db, 2, incident_id, -1, 0, path, out_id, error);
}

gboolean
ansim_outbox_queue_segment (sqlite3 *db, gint64 incident_id, gint64 segment_idx,
                            const char *path, gint64 *out_id, GError **error)
{
  return queue (db, 3, incident_id, segment_idx, 0, path, out_id, error);
}

gboolean
ansim_outbox_wake_uploader (const char *socket_path, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen (socket_path) >= sizeof addr.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "wake socket path too long: %s", socket_path);
      return FALSE;
    }
  strcpy (addr.sun_path, socket_path);
  int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "socket: %s",
                   g_strerror (errno));
      return FALSE;
    }
  ssize_t n = sendto (fd, "wake", 4, 0, (struct sockaddr *) &addr, sizeof addr);
  int saved = errno;
  close (fd);
  /* EAGAIN: the uploader's queue of wake-ups is full, so it is awake. */
  if (n < 0 && saved != EAGAIN)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot wake the uploader at %s: %s", socket_path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}
