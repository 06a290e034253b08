/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the SQLite machinery shared by the desk and the panel
 * databases: opening with the right pragmas, numbered migrations, helpers and
 * the append-only event log. The concurrency model is in docs/schema.md. */

#include "db.h"

#include <string.h>

G_DEFINE_QUARK (ansim - db - error - quark, ansim_db_error)

/* Start of the lock wait the current thread is in; see busy_wait(). A thread
 * waits for at most one lock at a time, so one slot per thread is enough. */
static _Thread_local gint64 busy_since_us;

/* Busy handler: wait up to ANSIM_DB_BUSY_TIMEOUT_MS for another connection's
 * lock. SQLite's own busy timeout backs off to one try every 100 ms; a writer
 * that commits every millisecond or so holds the lock almost all the time, so
 * a waiter polling that slowly can lose every try for 5 s and fail with
 * SQLITE_BUSY. Short sleeps with jitter keep the waiter in the race. */
static int
busy_wait (void *user_data, int n_calls)
{
  gint64 now = g_get_monotonic_time ();

  (void) user_data;
  if (n_calls == 0)
    busy_since_us = now;
  if (now - busy_since_us >= (gint64) ANSIM_DB_BUSY_TIMEOUT_MS * 1000)
    return 0;
  g_usleep (MIN (100 * (n_calls + 1), 1000) + g_random_int_range (0, 500));
  return 1;
}

static const char *
db_path (sqlite3 *db)
{
  const char *path = sqlite3_db_filename (db, "main");

  return path != NULL && *path != '\0' ? path : ":memory:";
}

/* The start of a statement for messages: first line, at most 60 bytes. */
static char *
sql_excerpt (const char *sql)
{
  gsize len;

  while (g_ascii_isspace (*sql))
    sql++;
  len = strcspn (sql, "\n");
  if (len > 60)
    return g_strdup_printf ("%.60s...", sql);
  return g_strndup (sql, len);
}

gboolean
ansim_db_set_error (sqlite3 *db, GError **error, const char *what)
{
  g_return_val_if_fail (db != NULL, FALSE);

  g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_SQL, "%s: %s: %s", db_path (db), what,
               sqlite3_errmsg (db));
  return FALSE;
}

/* Run every statement of a script in turn. Returns NULL on success, else a
 * description of what failed (without the file name), to be freed. */
static char *
run_script (sqlite3 *db, const char *sql)
{
  const char *rest = sql;

  while (*rest != '\0')
    {
      g_autoptr (sqlite3_stmt) stmt = NULL;
      const char *tail = NULL;
      int rc;

      rc = sqlite3_prepare_v2 (db, rest, -1, &stmt, &tail);
      if (rc == SQLITE_OK && stmt != NULL)
        {
          while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
            ;
          if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
        }
      if (rc != SQLITE_OK)
        {
          g_autofree char *excerpt = sql_excerpt (rest);
          return g_strdup_printf ("%s (in \"%s\")", sqlite3_errmsg (db), excerpt);
        }
      if (tail == NULL || tail == rest)
        break;
      rest = tail;
    }
  return NULL;
}

gboolean
ansim_db_exec (sqlite3 *db, const char *sql, GError **error)
{
  g_autofree char *failure = NULL;

  g_return_val_if_fail (db != NULL, FALSE);
  g_return_val_if_fail (sql != NULL, FALSE);

  failure = run_script (db, sql);
  if (failure != NULL)
    {
      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_SQL, "%s: %s", db_path (db), failure);
      return FALSE;
    }
  return TRUE;
}

sqlite3_stmt *
ansim_db_prepare (sqlite3 *db, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = NULL;

  g_return_val_if_fail (db != NULL, NULL);
  g_return_val_if_fail (sql != NULL, NULL);

  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK || stmt == NULL)
    {
      g_autofree char *excerpt = sql_excerpt (sql);
      g_autofree char *what = g_strdup_printf ("preparing \"%s\"", excerpt);

      sqlite3_finalize (stmt);
      if (stmt == NULL && sqlite3_errcode (db) == SQLITE_OK)
        {
          g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_SQL, "%s: %s: no statement",
                       db_path (db), what);
          return NULL;
        }
      ansim_db_set_error (db, error, what);
      return NULL;
    }
  return stmt;
}

gboolean
ansim_db_begin (sqlite3 *db, GError **error)
{
  g_return_val_if_fail (db != NULL, FALSE);

  /* IMMEDIATE takes the write lock now, through the busy handler. A deferred
   * BEGIN would take it at the first write, and if another connection
   * committed since our first read, SQLite must fail that upgrade with
   * SQLITE_BUSY at once: waiting could not help, our snapshot is stale. */
  if (sqlite3_exec (db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return ansim_db_set_error (db, error, "starting a write transaction");
  return TRUE;
}

gboolean
ansim_db_commit (sqlite3 *db, GError **error)
{
  g_return_val_if_fail (db != NULL, FALSE);

  if (sqlite3_exec (db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    {
      ansim_db_set_error (db, error, "committing");
      /* Contract: when commit fails, nothing of the transaction is kept. */
      ansim_db_rollback (db);
      return FALSE;
    }
  return TRUE;
}

void
ansim_db_rollback (sqlite3 *db)
{
  g_return_if_fail (db != NULL);

  /* SQLite may already have rolled back by itself (I/O error, full disk). */
  if (sqlite3_get_autocommit (db))
    return;
  if (sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
    g_debug ("%s: rollback failed: %s", db_path (db), sqlite3_errmsg (db));
}

/* Read a one-row integer pragma or query. On failure returns the SQLite
 * result code with the message in the connection. */
static int
query_int (sqlite3 *db, const char *sql, gint64 *out_value)
{
  g_autoptr (sqlite3_stmt) stmt = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    return rc;
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      *out_value = sqlite3_column_int64 (stmt, 0);
      return SQLITE_OK;
    }
  return rc == SQLITE_DONE ? SQLITE_NOTFOUND : rc;
}

guint
ansim_db_get_version (sqlite3 *db)
{
  gint64 version = 0;

  g_return_val_if_fail (db != NULL, 0);

  if (query_int (db, "PRAGMA user_version", &version) != SQLITE_OK)
    return 0;
  return (guint) version;
}

/* Check that the file is an SQLite database of this schema, not newer than
 * this binary, and return its version. Only reads, in one statement so that
 * all three values come from one snapshot (another process may be migrating
 * the file at this very moment). */
static gboolean
check_identity (sqlite3 *db, const AnsimDbSchema *schema, const char *path, guint *out_version,
                GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = NULL;
  gint64 version = 0, app_id = 0, n_objects = 0;
  int rc;

  rc = sqlite3_prepare_v2 (db,
                           "SELECT (SELECT user_version FROM pragma_user_version),"
                           " (SELECT application_id FROM pragma_application_id),"
                           " (SELECT count(*) FROM sqlite_master)",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step (stmt);
  if ((rc & 0xff) == SQLITE_NOTADB)
    {
      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_OPEN,
                   "%s: not an SQLite database (or encrypted or damaged)", path);
      return FALSE;
    }
  if (rc != SQLITE_ROW)
    {
      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_OPEN, "%s: cannot read the database: %s",
                   path, sqlite3_errmsg (db));
      return FALSE;
    }
  version = sqlite3_column_int64 (stmt, 0);
  app_id = sqlite3_column_int64 (stmt, 1);
  n_objects = sqlite3_column_int64 (stmt, 2);
  app_id &= 0xffffffff;

  /* A file of another kind (the panel's database given to a desk daemon):
   * refuse it before its version number could mean anything. */
  if (schema->application_id != 0 && app_id != schema->application_id
      && !(app_id == 0 && version == 0))
    {
      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_OPEN,
                   "%s: not an ansim %s database (application_id 0x%08x, expected 0x%08x)", path,
                   schema->name, (guint32) app_id, schema->application_id);
      return FALSE;
    }
  if (version < 0)
    {
      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_OPEN,
                   "%s: not an ansim %s database (schema version %" G_GINT64_FORMAT ")", path,
                   schema->name, version);
      return FALSE;
    }
  if (version > schema->n_migrations)
    {
      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_TOO_NEW,
                   "%s: database schema version %" G_GINT64_FORMAT
                   " is newer than this ansim (knows up to %u); "
                   "upgrade ansim or restore a matching backup",
                   path, version, schema->n_migrations);
      return FALSE;
    }
  /* Never add our tables to somebody else's database. */
  if (version == 0 && n_objects > 0)
    {
      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_OPEN,
                   "%s: not an ansim %s database (it has tables but no schema version)", path,
                   schema->name);
      return FALSE;
    }
  *out_version = (guint) version;
  return TRUE;
}

/* Apply migrations until target, each in its own write transaction together
 * with its user_version bump. Re-reads the version under the write lock, so
 * two processes opening a fresh file at once migrate it exactly once. */
static gboolean
migrate (sqlite3 *db, const AnsimDbSchema *schema, const char *path, guint target, GError **error)
{
  for (;;)
    {
      g_autofree char *failure = NULL;
      g_autofree char *bump = NULL;
      g_autoptr (GError) local_error = NULL;
      gint64 n_violations = 0;
      guint version = 0;

      if (!ansim_db_begin (db, error))
        return FALSE;
      if (!check_identity (db, schema, path, &version, error))
        {
          ansim_db_rollback (db);
          return FALSE;
        }
      if (version >= target)
        {
          ansim_db_rollback (db); /* nothing was written */
          return TRUE;
        }

      if (version == 0 && schema->application_id != 0)
        {
          g_autofree char *stamp =
            g_strdup_printf ("PRAGMA application_id = %d;", (gint32) schema->application_id);
          failure = run_script (db, stamp);
        }
      if (failure == NULL)
        failure = run_script (db, schema->migrations[version]);
      /* A script with its own COMMIT would break the one-transaction rule. */
      if (failure == NULL && sqlite3_get_autocommit (db))
        failure = g_strdup ("the script ended the transaction itself");
      if (failure == NULL)
        {
          bump = g_strdup_printf ("PRAGMA user_version = %u;", version + 1);
          failure = run_script (db, bump);
        }
      /* Migrations run with foreign key enforcement off (so that tables can be
     * rebuilt); they must still leave every reference valid. */
      if (failure == NULL)
        {
          int rc = query_int (db, "SELECT count(*) FROM pragma_foreign_key_check", &n_violations);

          if (rc != SQLITE_OK)
            failure = g_strdup_printf ("checking foreign keys: %s", sqlite3_errmsg (db));
          else if (n_violations > 0)
            failure = g_strdup_printf ("it leaves %" G_GINT64_FORMAT " foreign key violation(s)",
                                       n_violations);
        }
      if (failure == NULL && !ansim_db_commit (db, &local_error))
        failure = g_strdup (local_error->message);

      if (failure != NULL)
        {
          ansim_db_rollback (db);
          g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_MIGRATION,
                       "%s: %s schema migration %u (version %u to %u) failed: %s; "
                       "the database stays at version %u",
                       path, schema->name, version + 1, version, version + 1, failure, version);
          return FALSE;
        }
      g_debug ("%s: migrated %s schema to version %u", path, schema->name, version + 1);
    }
}

/* Set a per-connection pragma and check the value it reports back. */
static gboolean
set_pragma (sqlite3 *db, const char *path, const char *set_sql, const char *get_sql,
            gint64 expected, GError **error)
{
  g_autofree char *failure = run_script (db, set_sql);
  gint64 value = -1;

  if (failure == NULL && query_int (db, get_sql, &value) != SQLITE_OK)
    failure = g_strdup (sqlite3_errmsg (db));
  if (failure == NULL && value != expected)
    failure = g_strdup_printf ("it reads back as %" G_GINT64_FORMAT, value);
  if (failure != NULL)
    {
      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_OPEN, "%s: %s: %s", path, set_sql,
                   failure);
      return FALSE;
    }
  return TRUE;
}

static gboolean
set_wal (sqlite3 *db, const char *path, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = NULL;
  const char *mode = NULL;
  int rc;

  /* A no-op read when the file is already in WAL mode. Switching needs an
   * exclusive lock, which SQLite tries once without calling the busy
   * handler: when several processes open a fresh file at once, wait here. */
  rc = sqlite3_prepare_v2 (db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      for (int n_calls = 0;; n_calls++)
        {
          rc = sqlite3_step (stmt);
          if ((rc & 0xff) != SQLITE_BUSY || !busy_wait (NULL, n_calls))
            break;
          sqlite3_reset (stmt);
        }
    }
  if (rc != SQLITE_ROW)
    {
      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_OPEN,
                   "%s: cannot switch to WAL journal mode: %s", path, sqlite3_errmsg (db));
      return FALSE;
    }
  mode = (const char *) sqlite3_column_text (stmt, 0);
  if (mode == NULL || g_ascii_strcasecmp (mode, "wal") != 0)
    {
      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_OPEN,
                   "%s: cannot switch to WAL journal mode (still \"%s\"); "
                   "is the file on a network or read-only file system?",
                   path, mode ? mode : "?");
      return FALSE;
    }
  return TRUE;
}

static sqlite3 *
db_open (const AnsimDbSchema *schema, const char *path, guint target, GError **error)
{
  g_autoptr (sqlite3) db = NULL;
  guint version = 0;
  int rc;

  rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc != SQLITE_OK)
    {
      int saved_errno = db != NULL ? sqlite3_system_errno (db) : 0;

      g_set_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_OPEN, "%s: cannot open database: %s%s%s%s",
                   path, db != NULL ? sqlite3_errmsg (db) : sqlite3_errstr (rc),
                   saved_errno ? " (" : "", saved_errno ? g_strerror (saved_errno) : "",
                   saved_errno ? ")" : "");
      return NULL;
    }
  sqlite3_extended_result_codes (db, 1);
  sqlite3_busy_handler (db, busy_wait, NULL);

  /* Read first, write nothing: a file we must refuse stays untouched. */
  if (!check_identity (db, schema, path, &version, error))
    return NULL;

  if (!set_wal (db, path, error))
    return NULL;
  /* FULL: every commit is on disk before COMMIT returns, so a sealed
   * segment's outbox row (desk) or a confirmed upload (panel) survives a
   * power cut. The cost is one WAL fsync per transaction. */
  if (!set_pragma (db, path, "PRAGMA synchronous = FULL", "PRAGMA synchronous", 2, error))
    return NULL;
  /* Make REPLACE conflict resolution fire DELETE triggers, so INSERT OR
   * REPLACE cannot overwrite a row of an append-only table. */
  if (!set_pragma (db, path, "PRAGMA recursive_triggers = ON", "PRAGMA recursive_triggers", 1,
                   error))
    return NULL;

  if (version < target)
    {
      if (!set_pragma (db, path, "PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys", 0, error))
        return NULL;
      if (!migrate (db, schema, path, target, error))
        return NULL;
    }
  if (!set_pragma (db, path, "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys", 1, error))
    return NULL;

  return g_steal_pointer (&db);
}

sqlite3 *
ansim_db_open (const AnsimDbSchema *schema, const char *path, GError **error)
{
  g_return_val_if_fail (schema != NULL, NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return db_open (schema, path, schema->n_migrations, error);
}

sqlite3 *
ansim_db_open_at (const AnsimDbSchema *schema, const char *path, guint target_version,
                  GError **error)
{
  g_return_val_if_fail (schema != NULL, NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (target_version <= schema->n_migrations, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return db_open (schema, path, target_version, error);
}

gboolean
ansim_db_log_event (sqlite3 *db, const char *kind, const char *desk_id, const char *trigger,
                    gint64 incident_id, gint64 mono_us, const char *detail_json,
                    gint64 *out_event_id, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = NULL;
  g_autofree char *what = NULL;
  gint64 event_id = 0;
  int rc;

  g_return_val_if_fail (db != NULL, FALSE);
  g_return_val_if_fail (kind != NULL, FALSE);
  g_return_val_if_fail (incident_id >= 0, FALSE);

  stmt = ansim_db_prepare (db,
                           "INSERT INTO events (at_wall_us, at_mono_us, kind, desk_id, trigger,"
                           " incident_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                           error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, g_get_real_time ());
  sqlite3_bind_int64 (stmt, 2, mono_us);
  sqlite3_bind_text (stmt, 3, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, desk_id, -1, SQLITE_STATIC); /* NULL binds NULL */
  sqlite3_bind_text (stmt, 5, trigger, -1, SQLITE_STATIC);
  if (incident_id > 0)
    sqlite3_bind_int64 (stmt, 6, incident_id);
  sqlite3_bind_text (stmt, 7, detail_json, -1, SQLITE_STATIC);

  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      event_id = sqlite3_column_int64 (stmt, 0);
      rc = sqlite3_step (stmt);
    }
  if (rc != SQLITE_DONE)
    {
      what = g_strdup_printf ("logging event \"%s\"", kind);
      return ansim_db_set_error (db, error, what);
    }
  if (out_event_id != NULL)
    *out_event_id = event_id;
  return TRUE;
}
