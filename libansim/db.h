/* SPDX-License-Identifier: GPL-3.0-or-later */
/* SQLite databases: the desk database shared by recorder and uploader, and
 * the panel's incident log. WAL, foreign keys, busy timeout, numbered
 * migrations tracked by PRAGMA user_version. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3, sqlite3_close)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

#define ANSIM_DB_ERROR (ansim_db_error_quark ())
GQuark ansim_db_error_quark (void);

typedef enum {
  ANSIM_DB_ERROR_OPEN,
  ANSIM_DB_ERROR_TOO_NEW, /* written by a newer ansim than this binary */
  ANSIM_DB_ERROR_MIGRATION,
  ANSIM_DB_ERROR_SQL,
  ANSIM_DB_ERROR_NOT_FOUND,
} AnsimDbErrorCode;

typedef struct {
  const char *name;              /* "desk" or "panel", for messages */
  const char *const *migrations; /* SQL scripts; migration i brings user_version i -> i+1 */
  guint n_migrations;
  guint32 application_id; /* PRAGMA application_id stamped by migration 1; a file
                               * carrying another id is refused. 0 = none (tests) */
} AnsimDbSchema;

extern const AnsimDbSchema ansim_desk_db_schema;
extern const AnsimDbSchema ansim_panel_db_schema;

/* How long a connection waits for another process's write lock before a
 * statement fails with SQLITE_BUSY. */
#define ANSIM_DB_BUSY_TIMEOUT_MS 5000

/* Open (creating if needed), set WAL, foreign keys and busy timeout, and
 * migrate to the newest version, each migration in its own transaction.
 * A database newer than the schema, a file that is not SQLite, and an SQLite
 * file of another kind are refused and left untouched. One connection per
 * thread; close with sqlite3_close (g_autoptr). See docs/schema.md. */
sqlite3 *ansim_db_open (const AnsimDbSchema *schema, const char *path, GError **error);
/* As ansim_db_open, but migrate only up to target_version (for tests). A
 * database already past target_version (but not newer than the schema) is
 * opened as it is: migrations never go backwards. */
sqlite3 *ansim_db_open_at (const AnsimDbSchema *schema, const char *path, guint target_version,
                           GError **error);
guint ansim_db_get_version (sqlite3 *db);

/* Run SQL with no result; error names the statement's failure. */
gboolean ansim_db_exec (sqlite3 *db, const char *sql, GError **error);
sqlite3_stmt *ansim_db_prepare (sqlite3 *db, const char *sql, GError **error);
/* Set error from the connection's last error, prefixed by what. Returns FALSE. */
gboolean ansim_db_set_error (sqlite3 *db, GError **error, const char *what);

/* BEGIN IMMEDIATE ... COMMIT / ROLLBACK. Use these for every transaction
 * that may write: a plain (deferred) BEGIN that reads and then writes can
 * fail with SQLITE_BUSY at once, without waiting, when another process wrote
 * in between. A single statement outside a transaction needs neither.
 * When commit fails, the transaction is rolled back. */
gboolean ansim_db_begin (sqlite3 *db, GError **error);
gboolean ansim_db_commit (sqlite3 *db, GError **error);
void ansim_db_rollback (sqlite3 *db);

/* The desk's append-only event log. kind: "press", "release", "long-press",
 * "incident-opened", "incident-closed", "segment-sealed", "uploaded",
 * "acknowledged", "error", ... detail_json may be NULL. mono_us is
 * CLOCK_MONOTONIC; the wall clock is taken now. incident_id 0 = none. */
gboolean ansim_db_log_event (sqlite3 *db, const char *kind, const char *desk_id,
                             const char *trigger, gint64 incident_id, gint64 mono_us,
                             const char *detail_json, gint64 *out_event_id, GError **error);

G_END_DECLS
