/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The outbox table, both sides: the recorder's queueing and wake-up, the
 * uploader's claim, mark, confirm and expire. All SQL on the outbox lives
 * here (see outbox.h for what must stay true). */
#include "outbox.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <gio/gunixsocketaddress.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "db.h"

const char *
ansim_outbox_class_name (AnsimOutboxClass klass)
{
  switch (klass)
    {
    case ANSIM_OUTBOX_ALERT: return "alert";
    case ANSIM_OUTBOX_EVENT: return "event";
    case ANSIM_OUTBOX_MANIFEST: return "manifest";
    case ANSIM_OUTBOX_SEGMENT: return "segment";
    }
  return "item";
}

static gboolean
queue (sqlite3 *db, AnsimOutboxClass klass, gint64 incident_id, gint64 segment_idx, gint64 event_id,
       const char *path, gint64 *out_id, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db,
    "INSERT INTO outbox (class, incident_id, segment_idx, event_id, path, created_at_us) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int (stmt, 1, (int) klass);
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
  return queue (db, ANSIM_OUTBOX_ALERT, incident_id, -1, 0, NULL, out_id, error);
}

gboolean
ansim_outbox_queue_event (sqlite3 *db, gint64 event_id, gint64 *out_id, GError **error)
{
  return queue (db, ANSIM_OUTBOX_EVENT, 0, -1, event_id, NULL, out_id, error);
}

gboolean
ansim_outbox_queue_manifest (sqlite3 *db, gint64 incident_id, const char *path, gint64 *out_id,
                             GError **error)
{
  return queue (db, ANSIM_OUTBOX_MANIFEST, incident_id, -1, 0, path, out_id, error);
}

gboolean
ansim_outbox_queue_segment (sqlite3 *db, gint64 incident_id, gint64 segment_idx, const char *path,
                            gint64 *out_id, GError **error)
{
  return queue (db, ANSIM_OUTBOX_SEGMENT, incident_id, segment_idx, 0, path, out_id, error);
}

gboolean
ansim_outbox_wake_uploader (const char *socket_path, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen (socket_path) >= sizeof addr.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "wake socket path too long: %s",
                   socket_path);
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

/* ---- the reader --------------------------------------------------------- */

void
ansim_outbox_item_clear (AnsimOutboxItem *item)
{
  g_clear_pointer (&item->path, g_free);
  g_clear_pointer (&item->uuid, g_free);
}

gboolean
ansim_outbox_count_waiting (sqlite3 *db, gint64 *out_count, gint64 *out_oldest_us, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db, "SELECT count (*), min (created_at_us) FROM outbox WHERE confirmed_at_us IS NULL", error);
  if (stmt == NULL)
    return FALSE;
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return ansim_db_set_error (db, error, "counting the outbox");
  if (out_count != NULL)
    *out_count = sqlite3_column_int64 (stmt, 0);
  if (out_oldest_us != NULL && sqlite3_column_type (stmt, 1) != SQLITE_NULL)
    *out_oldest_us = sqlite3_column_int64 (stmt, 1);
  return TRUE;
}

gboolean
ansim_outbox_claim (sqlite3 *db, gint64 now, gint64 retry_max_us, AnsimOutboxItem *out,
                    gint64 *out_next_due_us, gboolean *out_clock_reset, GError **error)
{
  if (out_clock_reset != NULL)
    *out_clock_reset = FALSE;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db,
    "SELECT o.id, o.class, coalesce (o.incident_id, e.incident_id, 0), "
    "coalesce (o.segment_idx, -1), coalesce (o.event_id, 0), o.path, o.attempts, i.uuid "
    "FROM outbox o LEFT JOIN events e ON e.id = o.event_id "
    "LEFT JOIN incidents i ON i.id = coalesce (o.incident_id, e.incident_id) "
    "WHERE o.confirmed_at_us IS NULL AND o.next_attempt_at_us <= ?1 "
    "ORDER BY o.class, o.id LIMIT 1",
    error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, now);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      out->id = sqlite3_column_int64 (stmt, 0);
      out->klass = (AnsimOutboxClass) sqlite3_column_int (stmt, 1);
      out->incident_id = sqlite3_column_int64 (stmt, 2);
      out->segment_idx = sqlite3_column_int64 (stmt, 3);
      out->event_id = sqlite3_column_int64 (stmt, 4);
      out->path = g_strdup ((const char *) sqlite3_column_text (stmt, 5));
      out->attempts = sqlite3_column_int64 (stmt, 6);
      out->uuid = g_strdup ((const char *) sqlite3_column_text (stmt, 7));
      return TRUE;
    }
  if (rc != SQLITE_DONE)
    return ansim_db_set_error (db, error, "reading the outbox");
  /* Nothing due now: when is the next one? */
  g_autoptr (sqlite3_stmt) due = ansim_db_prepare (
    db, "SELECT min (next_attempt_at_us) FROM outbox WHERE confirmed_at_us IS NULL", error);
  if (due == NULL)
    return FALSE;
  if (sqlite3_step (due) == SQLITE_ROW && sqlite3_column_type (due, 0) != SQLITE_NULL)
    *out_next_due_us = sqlite3_column_int64 (due, 0);
  /* Later than any backoff can be: the wall clock went back. Retry now
   * rather than wait for the clock to catch up. */
  if (*out_next_due_us != G_MAXINT64 && *out_next_due_us > now + retry_max_us)
    {
      g_autoptr (sqlite3_stmt) reset =
        ansim_db_prepare (db,
                          "UPDATE outbox SET next_attempt_at_us = 0 WHERE confirmed_at_us IS NULL "
                          "AND next_attempt_at_us > ?1",
                          error);
      if (reset == NULL)
        return FALSE;
      sqlite3_bind_int64 (reset, 1, now + retry_max_us);
      if (sqlite3_step (reset) != SQLITE_DONE)
        return ansim_db_set_error (db, error, "resetting retry times");
      if (out_clock_reset != NULL)
        *out_clock_reset = TRUE;
      *out_next_due_us = now;
    }
  out->id = 0;
  return TRUE;
}

gboolean
ansim_outbox_mark_failed (sqlite3 *db, gint64 id, gint64 next_attempt_us, const char *last_error,
                          GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db,
    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at_us = ?2, last_error = ?3 "
    "WHERE id = ?1",
    error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  sqlite3_bind_int64 (stmt, 2, next_attempt_us);
  sqlite3_bind_text (stmt, 3, last_error, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "updating an outbox item");
  return TRUE;
}

gboolean
ansim_outbox_confirm (sqlite3 *db, gint64 id, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db, "UPDATE outbox SET confirmed_at_us = ?2, last_error = NULL WHERE id = ?1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  sqlite3_bind_int64 (stmt, 2, g_get_real_time ());
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "confirming an outbox item");
  return TRUE;
}

gint64
ansim_outbox_last_manifest (sqlite3 *db, gint64 incident_id)
{
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (db,
                      "SELECT max (id) FROM outbox WHERE class = ?2 AND incident_id = ?1 "
                      "AND confirmed_at_us IS NULL",
                      NULL);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_int64 (stmt, 1, incident_id);
  sqlite3_bind_int (stmt, 2, ANSIM_OUTBOX_MANIFEST);
  return sqlite3_step (stmt) == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
}

gboolean
ansim_outbox_confirm_manifests (sqlite3 *db, gint64 incident_id, gint64 up_to_id, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (db,
                      "UPDATE outbox SET confirmed_at_us = ?3, last_error = NULL WHERE class = ?4 "
                      "AND incident_id = ?1 AND id <= ?2 AND confirmed_at_us IS NULL",
                      error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, incident_id);
  sqlite3_bind_int64 (stmt, 2, up_to_id);
  sqlite3_bind_int64 (stmt, 3, g_get_real_time ());
  sqlite3_bind_int (stmt, 4, ANSIM_OUTBOX_MANIFEST);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return ansim_db_set_error (db, error, "confirming older manifest rows");
  return TRUE;
}

gboolean
ansim_outbox_expire (sqlite3 *db, const char *spool_dir, gint64 confirmed_before_us, gint64 now,
                     GPtrArray *problems, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db,
    "SELECT id, path FROM outbox WHERE class = ?2 AND confirmed_at_us IS NOT NULL "
    "AND deleted_at_us IS NULL AND path IS NOT NULL AND confirmed_at_us <= ?1 LIMIT 100",
    error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, confirmed_before_us);
  sqlite3_bind_int (stmt, 2, ANSIM_OUTBOX_SEGMENT);
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (stmt, 0);
      g_autofree char *file =
        g_build_filename (spool_dir, (const char *) sqlite3_column_text (stmt, 1), NULL);
      if (g_unlink (file) < 0 && errno != ENOENT)
        {
          if (problems != NULL)
            g_ptr_array_add (problems, g_strdup_printf ("cannot delete %s: %s; keeping it", file,
                                                        g_strerror (errno)));
          continue;
        }
      g_array_append_val (ids, id);
    }
  g_clear_pointer (&stmt, sqlite3_finalize);
  for (guint i = 0; i < ids->len; i++)
    {
      g_autoptr (sqlite3_stmt) upd = ansim_db_prepare (
        db, "UPDATE outbox SET deleted_at_us = ?2 WHERE id = ?1 AND confirmed_at_us IS NOT NULL",
        error);
      if (upd == NULL)
        return FALSE;
      sqlite3_bind_int64 (upd, 1, g_array_index (ids, gint64, i));
      sqlite3_bind_int64 (upd, 2, now);
      if (sqlite3_step (upd) != SQLITE_DONE && problems != NULL)
        g_ptr_array_add (problems,
                         g_strdup_printf ("cannot record a deletion: %s", sqlite3_errmsg (db)));
    }
  return TRUE;
}
