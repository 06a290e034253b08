/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of the SQLite layer: open and pragmas, migrations from every earlier
 * version, refusals, append-only events, foreign keys, concurrent processes. */

#include "db.h"
#include "test-common.h"
#include "test-sql.h"

#include <glib/gstdio.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>

/* ---- fixture: one temp dir and database path per test ---- */

typedef struct {
  char *dir;
  char *path;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  (void) data;
  fx->dir = test_make_tmp_dir ("ansim-test-db-XXXXXX");
  fx->path = g_build_filename (fx->dir, "test.db", NULL);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  (void) data;
  test_rm_rf (fx->dir);
  g_free (fx->dir);
  g_free (fx->path);
}

/* ---- helpers ---- */

static const AnsimDbSchema *const all_schemas[] = {
  &ansim_desk_db_schema,
  &ansim_panel_db_schema,
};

static sqlite3 *
open_ok (const AnsimDbSchema *schema, const char *path)
{
  g_autoptr (GError) error = NULL;
  sqlite3 *db = ansim_db_open (schema, path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (db);
  return db;
}

static gint64
query_int (sqlite3 *db, const char *sql)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (db, sql, &error);

  g_assert_no_error (error);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  return sqlite3_column_int64 (stmt, 0);
}

static char *
query_text (sqlite3 *db, const char *sql)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (db, sql, &error);

  g_assert_no_error (error);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  return g_strdup ((const char *) sqlite3_column_text (stmt, 0));
}

/* Every row of a query, one line each, columns joined by '|'. */
static char *
query_lines (sqlite3 *db, const char *sql)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (db, sql, &error);
  g_autoptr (GString) out = g_string_new (NULL);
  int rc;

  g_assert_no_error (error);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      for (int i = 0; i < sqlite3_column_count (stmt); i++)
        {
          const char *v = (const char *) sqlite3_column_text (stmt, i);
          g_string_append_printf (out, "%s%s", i ? "|" : "", v ? v : "NULL");
        }
      g_string_append_c (out, '\n');
    }
  g_assert_cmpint (rc, ==, SQLITE_DONE);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
assert_sql_fails (sqlite3 *db, const char *sql, const char *message_part)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (ansim_db_exec (db, sql, &error));
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_SQL);
  if (strstr (error->message, message_part) == NULL)
    g_error ("expected \"%s\" in: %s", message_part, error->message);
}

/* ---- representative rows, by the version at which they become valid ----
 * seeds[v] runs when a database has just reached version v. A migration that
 * adds a table must add rows for it here: the migration test requires every
 * table to hold rows before it migrates. */

#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define UUID_1 "0b9f5f8e-0c4e-4b7a-9d52-1f2e3d4c5b6a"
#define UUID_2 "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"

static const char *const desk_seeds[] = {
  [1] = "INSERT INTO desks (id, name) VALUES ('desk-1', '민원실 1번 창구'), ('desk-2', 'Desk 2');\n"
        "INSERT INTO triggers (desk_id, name, kind, input) VALUES\n"
        "  ('desk-1', 'desk-button', 'button', 'gpio'),\n"
        "  ('desk-1', 'bodycam', 'bodycam', 'evdev'),\n"
        "  ('desk-2', 'sim', 'button', 'simulated');\n"
        "INSERT INTO incidents (id, uuid, desk_id, trigger, trigger_kind, opened_wall_us,\n"
        "  opened_mono_us, closed_wall_us, closed_mono_us, close_reason, is_drill,\n"
        "  manifest_hash, prev_manifest_hash) VALUES\n"
        "  (1, '" UUID_1 "', 'desk-1', 'desk-button', 'button', 1700000000000000, 5000000,\n"
        "   1700000130000000, 135000000, 'post-event', 0, '" SHA_ABC "', NULL),\n"
        "  (2, '" UUID_2 "', 'desk-1', 'bodycam', 'bodycam', 1700000200000000, 205000000,\n"
        "   NULL, NULL, NULL, 1, NULL, '" SHA_ABC "');\n"
        "INSERT INTO segments (incident_id, idx, kind, start_wall_us, start_mono_us, duration_us,\n"
        "  gap_reason, plain_size, cipher_size, plain_sha256, cipher_sha256, prev_entry_hash,\n"
        "  entry_hash, spool_path, sealed_at_us) VALUES\n"
        "  (1, 0, 'media', 1699999970000000, -25000000, 2000000, NULL, 0, 250,\n"
        "   '" SHA_EMPTY "', '" SHA_ABC "', NULL, '" SHA_ABC "',\n"
        "   'incidents/" UUID_1 "/000000.mkv.age', 1700000001000000),\n"
        "  (1, 1, 'gap', 1699999972000000, -23000000, 3000000, 'camera unplugged', NULL, NULL,\n"
        "   NULL, NULL, '" SHA_ABC "', '" SHA_EMPTY "', NULL, 1700000004000000);\n"
        "INSERT INTO events (id, at_wall_us, at_mono_us, kind, desk_id, trigger, incident_id,\n"
        "  detail) VALUES\n"
        "  (1, 1699999999990000, 4990000, 'press', 'desk-1', 'desk-button', NULL, NULL),\n"
        "  (2, 1700000000000000, 5000000, 'incident-opened', 'desk-1', 'desk-button', 1,\n"
        "   '{\"pre_event_s\": 30}');\n"
        "INSERT INTO outbox (class, incident_id, segment_idx, event_id, path, created_at_us,\n"
        "  attempts, next_attempt_at_us, last_error, confirmed_at_us, deleted_at_us) VALUES\n"
        "  (0, 1, NULL, NULL, NULL, 1700000000001000, 0, 0, NULL, 1700000000050000, NULL),\n"
        "  (1, 1, NULL, 2, NULL, 1700000000001000, 1, 0, NULL, NULL, NULL),\n"
        "  (2, 1, NULL, NULL, 'incidents/" UUID_1 "/manifest-0001.json', 1700000001000000,\n"
        "   3, 1700000009000000, 'panel unreachable: connection refused', NULL, NULL),\n"
        "  (3, 1, 0, NULL, 'incidents/" UUID_1 "/000000.mkv.age', 1700000001000000,\n"
        "   1, 0, NULL, 1700000002000000, 1700086402000000);\n",
  [3] = "INSERT INTO channel_state (panel_url, after_seq, updated_at_us) VALUES\n"
        "  ('https://panel.example', 42, 1700000003000000);\n",
  [4] = "INSERT INTO panel_notes (kind, subject, note, received_at_us) VALUES\n"
        "  ('audit-checkpoint', 'entries 3', 'ansim audit checkpoint v1\\nentries 3\\n', "
        "1700000004000000);\n",
  [5] = "INSERT INTO desk_clock (id, panel_url, offset_us, bound_us, measured_wall_us) VALUES\n"
        "  (1, 'https://panel.example', -600001234, 2500, 1700000004000000);\n",
};

static const char *const panel_seeds[] = {
  [1] =
    "INSERT INTO desks (id, name) VALUES ('desk-1', '민원실 1번 창구'), ('desk-2', 'Desk 2');\n"
    "INSERT INTO devices (id, desk_id, public_key, fingerprint, enrolled_at_us, revoked_at_us,\n"
    "  revoke_reason) VALUES\n"
    "  ('dev-1', 'desk-1', X'" SHA_ABC "', 'SHA256:ungWv48Bz', 1690000000000000, NULL, NULL),\n"
    "  ('dev-0', 'desk-2', X'" SHA_EMPTY "', 'SHA256:47DEQpj8H', 1680000000000000,\n"
    "   1690000000000000, 'board replaced');\n"
    "INSERT INTO incidents (id, device_id, uuid, desk_id, trigger, trigger_kind,\n"
    "  opened_wall_us, opened_mono_us, alerted_at_us, closed_wall_us, closed_mono_us,\n"
    "  close_reason, status, acknowledged_by, acknowledged_at_us, resolved_by,\n"
    "  resolved_at_us, resolution, is_drill, manifest_hash, manifest_store_key,\n"
    "  manifest_at_us, prev_manifest_hash) VALUES\n"
    "  (1, 'dev-1', '" UUID_1 "', 'desk-1', 'desk-button', 'button', 1700000000000000,\n"
    "   5000000, 1700000000040000, 1700000130000000, 135000000, 'post-event', 'resolved',\n"
    "   'guard-kim', 1700000010000000, 'guard-kim', 1700000300000000, 'police called', 0,\n"
    "   '" SHA_ABC "', 'dev-1/" UUID_1 "/manifest.json', 1700000131000000, NULL),\n"
    "  (2, 'dev-1', '" UUID_2 "', 'desk-1', 'bodycam', 'bodycam', 1700000200000000,\n"
    "   205000000, 1700000200030000, NULL, NULL, NULL, 'acknowledged', 'trainer-lee',\n"
    "   1700000205000000, NULL, NULL, NULL, 1, NULL, NULL, NULL, '" SHA_ABC "');\n"
    "INSERT INTO segments (incident_id, idx, kind, start_wall_us, start_mono_us, duration_us,\n"
    "  gap_reason, plain_size, cipher_size, plain_sha256, cipher_sha256, prev_entry_hash,\n"
    "  entry_hash, store_key, received_at_us) VALUES\n"
    "  (1, 0, 'media', 1699999970000000, -25000000, 2000000, NULL, 0, 250,\n"
    "   '" SHA_EMPTY "', '" SHA_ABC "', NULL, '" SHA_ABC "',\n"
    "   'dev-1/" UUID_1 "/000000.mkv.age', 1700000001200000),\n"
    "  (1, 1, 'gap', 1699999972000000, -23000000, 3000000, 'camera unplugged', NULL, NULL,\n"
    "   NULL, NULL, '" SHA_ABC "', '" SHA_EMPTY "', NULL, NULL),\n"
    "  (1, 2, 'media', 1699999975000000, -20000000, 2000000, NULL, 10, 260,\n"
    "   '" SHA_ABC "', '" SHA_EMPTY "', '" SHA_EMPTY "', '" SHA_ABC "', NULL, NULL);\n"
    "INSERT INTO events (id, at_wall_us, at_mono_us, received_at_us, device_id,\n"
    "  device_event_id, kind, desk_id, trigger, incident_id, actor, detail) VALUES\n"
    "  (1, 1700000000000000, 5000000, 1700000000040000, 'dev-1', 2, 'incident-opened',\n"
    "   'desk-1', 'desk-button', 1, NULL, '{\"pre_event_s\": 30}'),\n"
    "  (2, 1700000010000000, 88000000, NULL, NULL, NULL, 'acknowledged', 'desk-1', NULL, 1,\n"
    "   'guard-kim', NULL);\n",
  [3] = "INSERT INTO enrollment_codes (code_sha256, device_id, desk_id, created_at_us,\n"
        "  expires_at_us, used_at_us) VALUES\n"
        "  ('" SHA_ABC
        "', 'dev-1', 'desk-1', 1690000000000000, 1690086400000000, 1690000100000000),\n"
        "  ('" SHA_EMPTY "', 'dev-2', NULL, 1700000000000000, 1700086400000000, NULL);\n"
        "INSERT INTO request_nonces (device_id, nonce, seen_at_us) VALUES\n"
        "  ('dev-1', 'AAAAAAAAAAAAAAAAAAAAAA', 1700000000000000);\n"
        "UPDATE devices SET last_seen_at_us = 1700000000000000,\n"
        "  heartbeat = '{\"queue_length\": 3}' WHERE id = 'dev-1';\n",
  [4] =
    "INSERT INTO users (name, role, password_hash, created_at_us, password_changed_at_us,\n"
    "  disabled_at_us) VALUES\n"
    "  ('guard-kim', 'security', '$scrypt$ln=15,r=8,p=1$c2FsdA==$aGFzaA==', 1700000000000000,\n"
    "   1700000000000000, NULL),\n"
    "  ('old-admin', 'admin', '$scrypt$ln=15,r=8,p=1$c2FsdA==$aGFzaA==', 1690000000000000,\n"
    "   1690000000000000, 1695000000000000);\n"
    "INSERT INTO sessions (token_sha256, user_name, csrf_token, client, created_at_us,\n"
    "  expires_at_us, ended_at_us) VALUES\n"
    "  ('" SHA_ABC "', 'guard-kim', '" SHA_EMPTY "', '127.0.0.1', 1700000000000000,\n"
    "   1700043200000000, NULL);\n"
    "INSERT INTO audit_log (id, at_us, actor, role, client, action, target, detail, prev_hash,\n"
    "  hash) VALUES\n"
    "  (1, 1700000000000000, 'guard-kim', 'security', '127.0.0.1', 'login', NULL, NULL,\n"
    "   '0000000000000000000000000000000000000000000000000000000000000000', '" SHA_ABC "');\n",
  [5] =
    "INSERT INTO retention_policy (category, days, changed_by, changed_at_us) VALUES\n"
    "  ('drill', 14, 'old-admin', 1700000000000000), ('assault', 365, NULL, 1700000000000000);\n"
    "UPDATE incidents SET legal_hold_at_us = 1700000500000000, legal_hold_by = 'guard-kim',\n"
    "  legal_hold_reason = 'police case 2023-123' WHERE id = 1;\n"
    "UPDATE incidents SET locked_until_us = 1702592200000000, purge_started_at_us = NULL\n"
    "  WHERE id = 2;\n",
  [6] =
    "INSERT INTO drills (id, armed_by, armed_at_us, window_start_us, window_end_us, note,\n"
    "  ended_by, ended_at_us) VALUES\n"
    "  (1, 'trainer-lee', 1700000100000000, 1700000150000000, 1700003750000000, 'Q4 drill',\n"
    "   'trainer-lee', 1700000900000000),\n"
    "  (2, 'trainer-lee', 1700100000000000, 1700100000000000, 1700103600000000, NULL, NULL,\n"
    "   NULL);\n"
    "INSERT INTO drill_desks (drill_id, desk_id, incident_id, arrived_by, arrived_at_us) VALUES\n"
    "  (1, 'desk-1', 2, 'trainer-lee', 1700000260000000),\n"
    "  (1, 'desk-2', NULL, NULL, NULL),\n"
    "  (2, 'desk-2', NULL, NULL, NULL);\n"
    "INSERT INTO drill_schedules (id, desk_id, every_days, created_by, created_at_us) VALUES\n"
    "  (1, NULL, 91, 'trainer-lee', 1690000000000000),\n"
    "  (2, 'desk-1', 30, 'trainer-lee', 1690000000000000);\n"
    "INSERT INTO events (at_wall_us, at_mono_us, kind, desk_id, incident_id, actor) VALUES\n"
    "  (1700000200500000, 90000000, 'alert-shown', 'desk-1', 2, 'guard-kim');\n",
  [7] = "INSERT INTO webhook_deliveries (webhook, event, delivery_id, body, created_at_us,\n"
        "  attempts, next_attempt_at_us, last_attempt_at_us, last_status, last_error,\n"
        "  delivered_at_us, gave_up_at_us) VALUES\n"
        "  ('sms', 'alert', '0b5c8f0e-6f4e-4d1c-9a51-1f7d1c6f2a01', '{\"event\":\"alert\"}',\n"
        "   1700000200000000, 1, 1700000200000000, 1700000200010000, 200, NULL,\n"
        "   1700000200010000, NULL),\n"
        "  ('sms', 'acknowledged', '0b5c8f0e-6f4e-4d1c-9a51-1f7d1c6f2a02', '{}',\n"
        "   1700000300000000, 3, 1700000304000000, 1700000302000000, 503, 'HTTP 503',\n"
        "   NULL, NULL),\n"
        "  ('old', 'resolved', '0b5c8f0e-6f4e-4d1c-9a51-1f7d1c6f2a03', '{}',\n"
        "   1700000400000000, 9, 1700000500000000, 1700000490000000, NULL,\n"
        "   'the webhook is no longer configured', NULL, 1700000500000000);\n",
  /* Migration 8: the channel. */
  [8] = "INSERT INTO channel_messages (seq, device_id, kind, incident_id, reason, at_us) VALUES\n"
        "  (1, 'dev-1', 'acknowledged', 1, NULL, 1700000100000000),\n"
        "  (2, 'dev-1', 'police-bell', 1, 'escalated', 1700000110000000);\n",
  /* Migration 9: the alarm loop. */
  [9] =
    "UPDATE incidents SET source = 'cam-front', escalated_at_us = 1700000060000000 WHERE id = 1;\n"
    "INSERT INTO device_alerts (device_id, desk_id, kind, raised_at_us, cleared_at_us,\n"
    "  acknowledged_by, acknowledged_at_us) VALUES\n"
    "  ('dev-1', 'desk-1', 'device-offline', 1700000400000000, 1700000460000000,\n"
    "   'guard-kim', 1700000410000000),\n"
    "  ('dev-1', 'desk-1', 'path-down', 1700000500000000, NULL, NULL, NULL);\n",
  /* Playback waiting for its audit entry. */
  [10] =
    "INSERT INTO playback_pending (session_sha256, incident_id, user, role, client, first_us,\n"
    "  last_us, segments, requests, bytes) VALUES\n"
    "  ('" SHA_ABC "', 1, 'guard-kim', 'security', '127.0.0.1', 1700000600000000,\n"
    "   1700000610000000, ',0,1,', 2, 123456);\n",
  /* Staff protection (issue 14): a user unlocked with ansimctl. */
  [11] = "UPDATE users SET login_unlocked_at_us = 1700000600000000 WHERE name = 'guard-kim';\n",
  /* Four eyes: a release asked for and approved by another admin. */
  [12] =
    "INSERT INTO approvals (action, incident_id, request, reason, requested_by, requested_at_us,\n"
    "  decision, decided_by, decided_at_us) VALUES\n"
    "  ('legal-hold-release', 1, NULL, 'case closed', 'admin-lee', 1700000700000000,\n"
    "   'approved', 'admin-park', 1700000710000000);\n",
  /* The disclosure register. */
  [13] =
    "INSERT INTO disclosures (at_us, incident_id, incident_uuid, desk_id, exported_by, recipient,\n"
    "  purpose, legal_basis, media, package_sha256, size, verification, footage_from_us,\n"
    "  footage_until_us) VALUES\n"
    "  (1700000600000000, 1, '" UUID_1 "', 'desk-1', 'guard-kim', '서울중부경찰서',\n"
    "   '수사기관 요청', '개인정보 보호법 제18조②7', 1, '" SHA_ABC "', 123456,\n"
    "   'OK: incident (desk desk-1): 3 segments', 1700000000000000, 1700000006000000);\n",
};

static const char *
seed_for (const AnsimDbSchema *schema, guint version)
{
  if (schema == &ansim_desk_db_schema && version < G_N_ELEMENTS (desk_seeds))
    return desk_seeds[version];
  if (schema == &ansim_panel_db_schema && version < G_N_ELEMENTS (panel_seeds))
    return panel_seeds[version];
  return NULL;
}

/* ---- fresh open ---- */

static void
test_fresh (Fixture *fx, gconstpointer data)
{
  const AnsimDbSchema *schema = data;
  g_autoptr (sqlite3) db = open_ok (schema, fx->path);
  g_autofree char *mode = query_text (db, "PRAGMA journal_mode");

  g_assert_cmpuint (schema->n_migrations, >=, 2);
  g_assert_cmpuint (ansim_db_get_version (db), ==, schema->n_migrations);
  g_assert_cmpstr (mode, ==, "wal");
  g_assert_cmpint (query_int (db, "PRAGMA foreign_keys"), ==, 1);
  g_assert_cmpint (query_int (db, "PRAGMA synchronous"), ==, 2);
  g_assert_cmpint (query_int (db, "PRAGMA application_id"), ==, (gint32) schema->application_id);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM sqlite_master WHERE name = 'events'"), ==,
                   1);
  g_clear_pointer (&db, sqlite3_close);

  /* Reopening an up-to-date database changes nothing. */
  db = open_ok (schema, fx->path);
  g_assert_cmpuint (ansim_db_get_version (db), ==, schema->n_migrations);
}

/* ---- migration from each earlier version ---- */

typedef struct {
  const AnsimDbSchema *schema;
  guint from;
} MigrationCase;

typedef struct {
  char *table;
  char *row_expr; /* quote(c1) || '|' || ... over the columns as they were */
  char *rows;
} TableSnapshot;

static void
table_snapshot_free (TableSnapshot *snap)
{
  g_free (snap->table);
  g_free (snap->row_expr);
  g_free (snap->rows);
  g_free (snap);
}

static char *
table_rows (sqlite3 *db, const TableSnapshot *snap)
{
  g_autofree char *sql =
    g_strdup_printf ("SELECT %s FROM \"%s\" ORDER BY 1", snap->row_expr, snap->table);
  return query_lines (db, sql);
}

static GPtrArray *
snapshot_tables (sqlite3 *db)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) tables = ansim_db_prepare (
    db,
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
    "ORDER BY name",
    &error);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) table_snapshot_free);

  g_assert_no_error (error);
  while (sqlite3_step (tables) == SQLITE_ROW)
    {
      TableSnapshot *snap = g_new0 (TableSnapshot, 1);
      g_autofree char *cols_sql = NULL;
      g_autoptr (sqlite3_stmt) cols = NULL;
      g_autoptr (GString) expr = g_string_new (NULL);

      snap->table = g_strdup ((const char *) sqlite3_column_text (tables, 0));
      cols_sql =
        g_strdup_printf ("SELECT name FROM pragma_table_info ('%s') ORDER BY cid", snap->table);
      cols = ansim_db_prepare (db, cols_sql, &error);
      g_assert_no_error (error);
      while (sqlite3_step (cols) == SQLITE_ROW)
        g_string_append_printf (expr, "%squote (\"%s\")", expr->len ? " || '|' || " : "",
                                (const char *) sqlite3_column_text (cols, 0));
      snap->row_expr = g_string_free (g_steal_pointer (&expr), FALSE);
      snap->rows = table_rows (db, snap);
      g_ptr_array_add (out, snap);
    }
  return out;
}

static char *
schema_sql (sqlite3 *db)
{
  return query_lines (db, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name");
}

static void
test_migrate_from (Fixture *fx, gconstpointer data)
{
  const MigrationCase *mc = data;
  const AnsimDbSchema *schema = mc->schema;
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = NULL;
  g_autoptr (GPtrArray) before = NULL;
  g_autofree char *fresh_path = g_build_filename (fx->dir, "fresh.db", NULL);
  g_autofree char *fresh_schema = NULL, *migrated_schema = NULL;

  /* Walk up one version at a time, adding the rows each version allows, as a
   * database in the field would have collected them. */
  for (guint v = 0; v <= mc->from; v++)
    {
      const char *seed = seed_for (schema, v);

      db = ansim_db_open_at (schema, fx->path, v, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (ansim_db_get_version (db), ==, v);
      if (seed != NULL)
        test_sql_exec (db, seed);
      g_clear_pointer (&db, sqlite3_close);
    }

  db = ansim_db_open_at (schema, fx->path, mc->from, &error);
  g_assert_no_error (error);
  before = snapshot_tables (db);
  for (guint i = 0; i < before->len; i++)
    {
      TableSnapshot *snap = before->pdata[i];
      if (*snap->rows == '\0')
        g_error ("table %s has no rows at version %u: add rows for it to the %s seeds", snap->table,
                 mc->from, schema->name);
    }
  g_clear_pointer (&db, sqlite3_close);

  db = open_ok (schema, fx->path);
  g_assert_cmpuint (ansim_db_get_version (db), ==, schema->n_migrations);
  g_assert_cmpint (query_int (db, "PRAGMA foreign_keys"), ==, 1);
  for (guint i = 0; i < before->len; i++)
    {
      TableSnapshot *snap = before->pdata[i];
      g_autofree char *after = table_rows (db, snap);

      g_assert_cmpstr (after, ==, snap->rows);
    }
  {
    g_autofree char *check = query_text (db, "PRAGMA integrity_check");
    g_assert_cmpstr (check, ==, "ok");
  }
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM pragma_foreign_key_check"), ==, 0);
  migrated_schema = schema_sql (db);
  g_clear_pointer (&db, sqlite3_close);

  /* Migrated and fresh databases end with the same schema. */
  db = open_ok (schema, fresh_path);
  fresh_schema = schema_sql (db);
  g_assert_cmpstr (migrated_schema, ==, fresh_schema);
}

/* ---- refusals ---- */

static void
test_too_new (Fixture *fx, gconstpointer data)
{
  const AnsimDbSchema *schema = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = open_ok (schema, fx->path);
  g_autofree char *bump = g_strdup_printf ("PRAGMA user_version = %u", schema->n_migrations + 5);
  g_autofree char *expected = NULL;
  g_autofree char *wal = g_strconcat (fx->path, "-wal", NULL);
  g_autoptr (GBytes) before = NULL, after = NULL;
  sqlite3 *refused;

  test_sql_exec (db, bump);
  g_clear_pointer (&db, sqlite3_close);
  g_assert_false (g_file_test (wal, G_FILE_TEST_EXISTS));
  before = test_read_bytes (fx->path);

  refused = ansim_db_open (schema, fx->path, &error);
  g_assert_null (refused);
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_TOO_NEW);
  expected = g_strdup_printf ("%s: database schema version %u is newer than this ansim "
                              "(knows up to %u); upgrade ansim or restore a matching backup",
                              fx->path, schema->n_migrations + 5, schema->n_migrations);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);

  /* open_at refuses it the same way. */
  refused = ansim_db_open_at (schema, fx->path, 1, &error);
  g_assert_null (refused);
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_TOO_NEW);

  after = test_read_bytes (fx->path);
  g_assert_true (g_bytes_equal (before, after));
  g_assert_false (g_file_test (wal, G_FILE_TEST_EXISTS));
}

/* A newer database still in rollback-journal mode must not be switched to
 * WAL (which would rewrite its header). */
static void
test_too_new_rollback_mode (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) raw = NULL;
  g_autoptr (GBytes) before = NULL, after = NULL;

  (void) data;
  g_assert_cmpint (sqlite3_open (fx->path, &raw), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (raw,
                                 "PRAGMA application_id = 1095652164;"
                                 "PRAGMA user_version = 99; CREATE TABLE later (x);",
                                 NULL, NULL, NULL),
                   ==, SQLITE_OK);
  g_clear_pointer (&raw, sqlite3_close);
  before = test_read_bytes (fx->path);

  g_assert_null (ansim_db_open (&ansim_desk_db_schema, fx->path, &error));
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_TOO_NEW);
  g_assert_nonnull (strstr (error->message, "version 99 is newer"));

  after = test_read_bytes (fx->path);
  g_assert_true (g_bytes_equal (before, after));
}

static void
test_not_sqlite (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GBytes) after = NULL;
  g_autofree char *expected = NULL;

  (void) data;
  for (int i = 0; i < 200; i++)
    g_string_append (text, "[desk]\nid = desk-1\n");
  g_file_set_contents (fx->path, text->str, text->len, &error);
  g_assert_no_error (error);

  g_assert_null (ansim_db_open (&ansim_desk_db_schema, fx->path, &error));
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_OPEN);
  expected = g_strdup_printf ("%s: not an SQLite database", fx->path);
  g_assert_true (g_str_has_prefix (error->message, expected));

  after = test_read_bytes (fx->path);
  g_assert_cmpmem (g_bytes_get_data (after, NULL), g_bytes_get_size (after), text->str, text->len);
}

static void
test_cannot_open (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (fx->dir, "missing-dir", "desk.db", NULL);

  (void) data;
  g_assert_null (ansim_db_open (&ansim_desk_db_schema, path, &error));
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_OPEN);
  g_assert_true (g_str_has_prefix (error->message, path));
}

/* The panel's file given to a desk daemon, and a foreign SQLite file. */
static void
test_wrong_kind (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = open_ok (&ansim_panel_db_schema, fx->path);
  g_autofree char *other = g_build_filename (fx->dir, "other.db", NULL);
  g_autoptr (GBytes) before = NULL, after = NULL;

  (void) data;
  g_clear_pointer (&db, sqlite3_close);
  g_assert_null (ansim_db_open (&ansim_desk_db_schema, fx->path, &error));
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_OPEN);
  g_assert_nonnull (strstr (error->message, "not an ansim desk database"));
  g_clear_error (&error);

  g_assert_cmpint (sqlite3_open (other, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "CREATE TABLE photos (x)", NULL, NULL, NULL), ==, SQLITE_OK);
  g_clear_pointer (&db, sqlite3_close);
  before = test_read_bytes (other);
  g_assert_null (ansim_db_open (&ansim_desk_db_schema, other, &error));
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_OPEN);
  g_assert_nonnull (strstr (error->message, "has tables but no schema version"));
  after = test_read_bytes (other);
  g_assert_true (g_bytes_equal (before, after));
}

/* ---- failing migrations ---- */

static const char *const broken_migrations[] = {
  "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);",
  "CREATE TABLE b (y INTEGER);\n"
  "INSERT INTO b VALUES (1);\n"
  "ALTER TABLE a ADD COLUMN z TEXT;\n"
  "INSERT INTO no_such_table VALUES (1);\n",
};

static const AnsimDbSchema broken_schema = {
  .name = "test",
  .migrations = broken_migrations,
  .n_migrations = G_N_ELEMENTS (broken_migrations),
};

static void
test_migration_rollback (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = NULL;
  g_autofree char *expected = NULL;

  (void) data;
  for (int attempt = 0; attempt < 2; attempt++)
    {
      g_assert_null (ansim_db_open (&broken_schema, fx->path, &error));
      g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_MIGRATION);
      expected = g_strdup_printf ("%s: test schema migration 2 (version 1 to 2) failed: "
                                  "no such table: no_such_table (in \"INSERT INTO no_such_table "
                                  "VALUES (1);\"); the database stays at version 1",
                                  fx->path);
      g_assert_cmpstr (error->message, ==, expected);
      g_clear_pointer (&expected, g_free);
      g_clear_error (&error);
    }

  db = ansim_db_open_at (&broken_schema, fx->path, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ansim_db_get_version (db), ==, 1);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM sqlite_master WHERE name = 'b'"), ==, 0);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM pragma_table_info ('a')"), ==, 1);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM a"), ==, 1);
}

static const char *const fk_breaking_migrations[] = {
  "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n"
  "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id));\n",
  "INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1), (42);",
};

static const AnsimDbSchema fk_breaking_schema = {
  .name = "test",
  .migrations = fk_breaking_migrations,
  .n_migrations = G_N_ELEMENTS (fk_breaking_migrations),
};

/* Migrations run with enforcement off (to allow table rebuilds) but must
 * not leave dangling references. */
static void
test_migration_foreign_keys (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = NULL;

  (void) data;
  g_assert_null (ansim_db_open (&fk_breaking_schema, fx->path, &error));
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_MIGRATION);
  g_assert_nonnull (strstr (error->message, "migration 2"));
  g_assert_nonnull (strstr (error->message, "1 foreign key violation"));
  g_clear_error (&error);

  db = ansim_db_open_at (&fk_breaking_schema, fx->path, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ansim_db_get_version (db), ==, 1);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM child"), ==, 0);
}

/* ---- events ---- */

static void
test_log_event (Fixture *fx, gconstpointer data)
{
  const AnsimDbSchema *schema = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = open_ok (schema, fx->path);
  g_autofree char *row = NULL;
  gint64 id1 = 0, id2 = 0, before, after;

  before = g_get_real_time ();
  g_assert_true (ansim_db_log_event (db, "press", "desk-1", "desk-button", 0, 123456,
                                     "{\"long\": false}", &id1, &error));
  g_assert_no_error (error);
  g_assert_true (ansim_db_log_event (db, "error", NULL, NULL, 0, 123457, NULL, &id2, &error));
  g_assert_no_error (error);
  after = g_get_real_time ();
  g_assert_cmpint (id1, >, 0);
  g_assert_cmpint (id2, >, id1);

  row = query_lines (db, "SELECT kind, desk_id, trigger, incident_id, at_mono_us, detail "
                         "FROM events ORDER BY id");
  g_assert_cmpstr (row, ==,
                   "press|desk-1|desk-button|NULL|123456|{\"long\": false}\n"
                   "error|NULL|NULL|NULL|123457|NULL\n");
  g_assert_cmpint (query_int (db, "SELECT min (at_wall_us) FROM events"), >=, before);
  g_assert_cmpint (query_int (db, "SELECT max (at_wall_us) FROM events"), <=, after);

  /* Bad detail JSON and a malformed kind are refused, with the kind named. */
  g_assert_false (ansim_db_log_event (db, "press", "desk-1", NULL, 0, 1, "{oops", NULL, &error));
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_SQL);
  g_assert_nonnull (strstr (error->message, fx->path));
  g_assert_nonnull (strstr (error->message, "logging event \"press\""));
  g_assert_nonnull (strstr (error->message, "CHECK constraint failed"));
  g_clear_error (&error);
  g_assert_false (ansim_db_log_event (db, "Press Now", NULL, NULL, 0, 1, NULL, NULL, &error));
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_SQL);
  g_clear_error (&error);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM events"), ==, 2);
}

static void
test_events_append_only (Fixture *fx, gconstpointer data)
{
  const AnsimDbSchema *schema = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = open_ok (schema, fx->path);
  g_autofree char *before = NULL, *after = NULL;
  gint64 id = 0;

  g_assert_true (
    ansim_db_log_event (db, "press", "desk-1", "desk-button", 0, 1, NULL, &id, &error));
  g_assert_true (
    ansim_db_log_event (db, "release", "desk-1", "desk-button", 0, 2, NULL, NULL, &error));
  g_assert_no_error (error);
  before = query_lines (db, "SELECT * FROM events ORDER BY id");

  assert_sql_fails (db, "UPDATE events SET kind = 'nothing-happened'", "events are append-only");
  assert_sql_fails (db, "UPDATE events SET detail = '{}' WHERE id = 1", "events are append-only");
  assert_sql_fails (db, "DELETE FROM events WHERE id = 1", "events are append-only");
  assert_sql_fails (db, "DELETE FROM events", "events are append-only");
  /* REPLACE would delete the old row without an UPDATE or DELETE statement. */
  assert_sql_fails (db,
                    "INSERT OR REPLACE INTO events (id, at_wall_us, at_mono_us, kind) "
                    "VALUES (1, 0, 0, 'forged')",
                    "events are append-only");
  assert_sql_fails (db,
                    "REPLACE INTO events (id, at_wall_us, at_mono_us, kind) "
                    "VALUES (2, 0, 0, 'forged')",
                    "events are append-only");

  after = query_lines (db, "SELECT * FROM events ORDER BY id");
  g_assert_cmpstr (after, ==, before);
}

/* ---- foreign keys and checks ---- */

static void
test_desk_constraints (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = open_ok (&ansim_desk_db_schema, fx->path);

  (void) data;
  test_sql_exec (db, desk_seeds[1]);

  assert_sql_fails (db,
                    "INSERT INTO incidents (uuid, desk_id, trigger, trigger_kind, "
                    "opened_wall_us, opened_mono_us) VALUES ('" UUID_1 "x'"
                    ", 'no-such-desk', 'b', 'button', 1, 1)",
                    "constraint failed");
  assert_sql_fails (db,
                    "INSERT INTO incidents (uuid, desk_id, trigger, trigger_kind, "
                    "opened_wall_us, opened_mono_us) VALUES "
                    "('00000000-0000-0000-0000-000000000000', 'no-such-desk', 'b', "
                    "'button', 1, 1)",
                    "FOREIGN KEY constraint failed");
  assert_sql_fails (db, "INSERT INTO triggers VALUES ('no-such-desk', 'x', 'button', 'gpio')",
                    "FOREIGN KEY constraint failed");
  assert_sql_fails (db,
                    "INSERT INTO outbox (class, incident_id, segment_idx, path, "
                    "created_at_us) VALUES (3, 1, 7, 'x', 1)",
                    "FOREIGN KEY constraint failed");
  assert_sql_fails (db, "DELETE FROM incidents WHERE id = 1", "FOREIGN KEY constraint failed");
  g_assert_false (ansim_db_log_event (db, "press", "desk-1", NULL, 999, 1, NULL, NULL, &error));
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_SQL);
  g_assert_nonnull (strstr (error->message, "FOREIGN KEY constraint failed"));
  g_clear_error (&error);

  /* Enumerations and invariants. */
  assert_sql_fails (db, "INSERT INTO triggers VALUES ('desk-2', 'x', 'pager', 'gpio')",
                    "CHECK constraint failed");
  assert_sql_fails (db, "INSERT INTO triggers VALUES ('desk-2', 'x', 'button', 'usb')",
                    "CHECK constraint failed");
  assert_sql_fails (db, "UPDATE incidents SET close_reason = 'bored' WHERE id = 1",
                    "CHECK constraint failed");
  assert_sql_fails (db, "UPDATE incidents SET closed_wall_us = 5 WHERE id = 2",
                    "CHECK constraint failed");
  assert_sql_fails (db, "UPDATE incidents SET manifest_hash = 'ABC' WHERE id = 1",
                    "CHECK constraint failed");
  assert_sql_fails (db, "UPDATE segments SET plain_sha256 = NULL WHERE idx = 0",
                    "CHECK constraint failed");
  assert_sql_fails (db,
                    "INSERT INTO outbox (class, incident_id, created_at_us) "
                    "VALUES (4, 1, 1)",
                    "CHECK constraint failed");
  assert_sql_fails (db,
                    "INSERT INTO outbox (class, incident_id, created_at_us) "
                    "VALUES (2, 1, 1)",
                    "CHECK constraint failed");
  /* Nothing is deleted on the desk before the panel confirmed it. */
  assert_sql_fails (db, "UPDATE outbox SET deleted_at_us = 1 WHERE confirmed_at_us IS NULL",
                    "CHECK constraint failed");
  assert_sql_fails (db,
                    "INSERT INTO outbox (class, incident_id, segment_idx, path, "
                    "created_at_us) VALUES (3, 1, 0, 'again', 1)",
                    "UNIQUE constraint failed");
}

static void
test_panel_constraints (Fixture *fx, gconstpointer data)
{
  g_autoptr (sqlite3) db = open_ok (&ansim_panel_db_schema, fx->path);

  (void) data;
  test_sql_exec (db, panel_seeds[1]);

  assert_sql_fails (db,
                    "INSERT INTO incidents (device_id, uuid, desk_id, trigger, "
                    "trigger_kind, opened_wall_us, opened_mono_us, alerted_at_us) VALUES "
                    "('no-such-device', '" UUID_2 "', 'desk-1', 'b', 'button', 1, 1, 1)",
                    "FOREIGN KEY constraint failed");
  assert_sql_fails (db,
                    "INSERT INTO incidents (device_id, uuid, desk_id, trigger, "
                    "trigger_kind, opened_wall_us, opened_mono_us, alerted_at_us) VALUES "
                    "('dev-1', '" UUID_2 "', 'desk-1', 'b', 'button', 1, 1, 1)",
                    "UNIQUE constraint failed");
  assert_sql_fails (db,
                    "INSERT INTO segments (incident_id, idx, kind, start_wall_us, "
                    "start_mono_us, duration_us, gap_reason, entry_hash) VALUES "
                    "(99, 0, 'gap', 1, 1, 1, 'x', '" SHA_ABC "')",
                    "FOREIGN KEY constraint failed");
  assert_sql_fails (db,
                    "INSERT INTO devices (id, public_key, fingerprint, enrolled_at_us) "
                    "VALUES ('dev-9', X'00', 'fp9', 1)",
                    "CHECK constraint failed");
  assert_sql_fails (db, "UPDATE incidents SET status = 'acknowledged' WHERE id = 1",
                    "CHECK constraint failed");
  assert_sql_fails (db, "UPDATE incidents SET status = 'open' WHERE id = 2",
                    "CHECK constraint failed");
  assert_sql_fails (db, "UPDATE incidents SET status = 'closed' WHERE id = 2",
                    "CHECK constraint failed");
  assert_sql_fails (db,
                    "INSERT INTO events (at_wall_us, at_mono_us, kind, device_id, "
                    "device_event_id, received_at_us) VALUES (1, 1, 'press', 'dev-1', 2, 1)",
                    "UNIQUE constraint failed");
  /* An idempotent re-send from a device is ignored, not an error. */
  test_sql_exec (db,
                 "INSERT INTO events (at_wall_us, at_mono_us, kind, device_id, device_event_id, "
                 "received_at_us) VALUES (1, 1, 'press', 'dev-1', 2, 1) ON CONFLICT DO NOTHING");
  test_sql_exec (db, "UPDATE incidents SET status = 'resolved', resolved_by = 'trainer-lee', "
                     "resolved_at_us = 1700000400000000 WHERE id = 2");
  /* Retention (migration 5): a hold needs who and why; a held incident is
   * never marked for purge, nor a marked one held; only a marked
   * incident's events can be deleted. */
  assert_sql_fails (db, "INSERT INTO retention_policy VALUES ('drill', 0, NULL, 1)",
                    "CHECK constraint failed");
  assert_sql_fails (db, "INSERT INTO retention_policy VALUES ('car-crash', 5, NULL, 1)",
                    "CHECK constraint failed");
  assert_sql_fails (db,
                    "UPDATE incidents SET legal_hold_at_us = 1, legal_hold_by = 'kim' "
                    "WHERE id = 1",
                    "CHECK constraint failed");
  test_sql_exec (db, "UPDATE incidents SET legal_hold_at_us = 1, legal_hold_by = 'kim', "
                     "legal_hold_reason = 'case' WHERE id = 1");
  assert_sql_fails (db, "UPDATE incidents SET purge_started_at_us = 2 WHERE id = 1",
                    "CHECK constraint failed");
  assert_sql_fails (db, "DELETE FROM events WHERE incident_id = 1", "append-only");
  test_sql_exec (db, "UPDATE incidents SET legal_hold_at_us = NULL, legal_hold_by = NULL, "
                     "legal_hold_reason = NULL, purge_started_at_us = 2 WHERE id = 1");
  assert_sql_fails (db,
                    "UPDATE incidents SET legal_hold_at_us = 3, legal_hold_by = 'kim', "
                    "legal_hold_reason = 'case' WHERE id = 1",
                    "CHECK constraint failed");
  test_sql_exec (
    db, "INSERT INTO events (at_wall_us, at_mono_us, kind) VALUES (5, 5, 'device-offline')");
  assert_sql_fails (db, "DELETE FROM events WHERE incident_id IS NULL", "append-only");
  test_sql_exec (db, "DELETE FROM events WHERE incident_id = 1");
}

static void
test_helpers_errors (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = open_ok (&ansim_desk_db_schema, fx->path);
  g_autoptr (sqlite3_stmt) stmt = NULL;
  g_autofree char *expected = NULL;

  (void) data;
  g_assert_false (ansim_db_exec (db, "SELECT 1;\n  SELEC oops FROM nowhere;\nSELECT 2", &error));
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_SQL);
  expected = g_strdup_printf ("%s: near \"SELEC\": syntax error (in \"SELEC oops FROM "
                              "nowhere;\")",
                              fx->path);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);

  stmt = ansim_db_prepare (db, "SELECT x FROM nowhere", &error);
  g_assert_null (stmt);
  g_assert_error (error, ANSIM_DB_ERROR, ANSIM_DB_ERROR_SQL);
  g_assert_nonnull (strstr (error->message, "no such table: nowhere"));
  g_clear_error (&error);

  /* A write transaction: rollback leaves nothing behind; commit keeps it. */
  g_assert_true (ansim_db_begin (db, &error));
  test_sql_exec (db, "INSERT INTO desks VALUES ('desk-x', 'X')");
  ansim_db_rollback (db);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM desks"), ==, 0);
  g_assert_true (ansim_db_begin (db, &error));
  test_sql_exec (db, "INSERT INTO desks VALUES ('desk-x', 'X')");
  g_assert_true (ansim_db_commit (db, &error));
  g_assert_no_error (error);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM desks"), ==, 1);
  ansim_db_rollback (db); /* outside a transaction: harmless */
}

/* ---- several processes at once ---- */

#define N_WRITERS 4
#define N_UNITS 2000

static char *self_exe;

static GPid
spawn_self (const char *const *args)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  GPid pid = 0;

  g_ptr_array_add (argv, self_exe);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  /* stdout is the parent's TAP stream: children report on stderr only. */
  g_spawn_async (NULL, (char **) argv->pdata, NULL,
                 G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &pid, &error);
  g_assert_no_error (error);
  return pid;
}

static gboolean
wait_child (GPid pid, GError **error)
{
  int status = 0;

  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  return g_spawn_check_wait_status (status, error);
}

static void
wait_ok (GPid pid, const char *what)
{
  g_autoptr (GError) error = NULL;

  if (!wait_child (pid, &error))
    g_error ("%s: %s", what, error->message);
}

/* Children start together at a shared CLOCK_MONOTONIC instant, to collide. */
static void
sleep_until (const char *mono_us)
{
  gint64 start = g_ascii_strtoll (mono_us, NULL, 10);
  gint64 now = g_get_monotonic_time ();

  if (start > now)
    g_usleep (start - now);
}

static G_GNUC_NORETURN void
child_fail (const char *who, GError *error)
{
  g_printerr ("%s: %s\n", who, error->message);
  exit (1);
}

static G_GNUC_NORETURN G_GNUC_PRINTF (2, 3) void child_die (const char *who, const char *format,
                                                            ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("%s: %s\n", who, message);
  exit (1);
}

static G_GNUC_NORETURN void
child_fail_sql (const char *who, sqlite3 *db, const char *what)
{
  g_autoptr (GError) error = NULL;

  ansim_db_set_error (db, &error, what);
  child_fail (who, error);
}

/* --writer PATH N START: insert N units (an event and its outbox row) in
 * transactions of varying size, some in autocommit mode, some reading
 * before they write; any error (SQLITE_BUSY included) ends it with 1. */
static int
writer_main (char **argv)
{
  static const int batches[] = { 0, 1, 1, 3, 0, 1, 10, 1, 0, 25, 1, 2 }; /* 0 = autocommit */
  const char *path = argv[2];
  int writer = atoi (argv[3]);
  g_autofree char *who = g_strdup_printf ("writer %d", writer);
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = NULL;
  g_autoptr (sqlite3_stmt) incident = NULL, outbox = NULL, pending = NULL;
  g_autofree char *uuid = g_uuid_string_random ();
  gint64 incident_id = 0, t0, longest_wait = 0;
  int n_commits = 0, unit = 0;

  sleep_until (argv[4]);
  t0 = g_get_monotonic_time ();
  db = ansim_db_open (&ansim_desk_db_schema, path, &error);
  if (db == NULL)
    child_fail (who, error);

  /* Its own incident, opened the way the recorder would. */
  incident = ansim_db_prepare (db,
                               "INSERT INTO incidents (uuid, desk_id, trigger, trigger_kind, "
                               "opened_wall_us, opened_mono_us) VALUES (?, 'desk-1', "
                               "'desk-button', 'button', ?, ?) RETURNING id",
                               &error);
  outbox = ansim_db_prepare (db,
                             "INSERT INTO outbox (class, incident_id, event_id, created_at_us) "
                             "VALUES (1, ?, ?, ?)",
                             &error);
  pending = ansim_db_prepare (db,
                              "SELECT count(*) FROM outbox WHERE confirmed_at_us IS NULL "
                              "AND incident_id = ?",
                              &error);
  if (incident == NULL || outbox == NULL || pending == NULL)
    child_fail (who, error);
  if (!ansim_db_begin (db, &error))
    child_fail (who, error);
  sqlite3_bind_text (incident, 1, uuid, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (incident, 2, g_get_real_time ());
  sqlite3_bind_int64 (incident, 3, g_get_monotonic_time ());
  if (sqlite3_step (incident) != SQLITE_ROW)
    child_fail_sql (who, db, "opening incident");
  incident_id = sqlite3_column_int64 (incident, 0);
  sqlite3_reset (incident);
  if (!ansim_db_commit (db, &error))
    child_fail (who, error);

  for (guint b = 0; unit < N_UNITS; b++)
    {
      int batch = batches[b % G_N_ELEMENTS (batches)];
      int n = MAX (batch, 1);

      if (batch > 0)
        {
          gint64 before = g_get_monotonic_time ();

          if (!ansim_db_begin (db, &error))
            child_fail (who, error);
          longest_wait = MAX (longest_wait, g_get_monotonic_time () - before);
          /* Read, then write, in the same transaction. */
          sqlite3_bind_int64 (pending, 1, incident_id);
          if (sqlite3_step (pending) != SQLITE_ROW)
            child_fail_sql (who, db, "counting pending rows");
          if (sqlite3_column_int64 (pending, 0) != unit)
            child_die (who, "%s: %d pending rows expected, found %d", path, unit,
                       (int) sqlite3_column_int64 (pending, 0));
          sqlite3_reset (pending);
        }
      for (int i = 0; i < n && unit < N_UNITS; i++, unit++)
        {
          g_autofree char *detail = g_strdup_printf ("{\"writer\": %d, \"seq\": %d}", writer, unit);
          gint64 event_id = 0;

          gint64 before = g_get_monotonic_time ();

          if (!ansim_db_log_event (db, "test-write", "desk-1", "desk-button", incident_id,
                                   g_get_monotonic_time (), detail, &event_id, &error))
            child_fail (who, error);
          sqlite3_bind_int64 (outbox, 1, incident_id);
          sqlite3_bind_int64 (outbox, 2, event_id);
          sqlite3_bind_int64 (outbox, 3, g_get_real_time ());
          if (sqlite3_step (outbox) != SQLITE_DONE)
            child_fail_sql (who, db, "queueing event");
          sqlite3_reset (outbox);
          if (batch == 0) /* autocommit: each statement waited for the lock */
            longest_wait = MAX (longest_wait, g_get_monotonic_time () - before);
          if (batch == 0)
            n_commits += 2;
        }
      if (batch > 0)
        {
          if (!ansim_db_commit (db, &error))
            child_fail (who, error);
          n_commits++;
        }
    }
  g_printerr ("# writer %d: %d units in %d commits, %.2f s, longest write lock wait "
              "%.1f ms\n",
              writer, N_UNITS, n_commits, (g_get_monotonic_time () - t0) / 1e6, longest_wait / 1e3);
  return 0;
}

/* --reader PATH TOTAL START: read snapshots until TOTAL events are there;
 * counts must never go down, and a snapshot never shows an outbox row
 * without its event. */
static int
reader_main (char **argv)
{
  const char *path = argv[2];
  gint64 total = g_ascii_strtoll (argv[3], NULL, 10);
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = NULL;
  g_autoptr (sqlite3_stmt) counts = NULL, next = NULL;
  gint64 last_events = 0, deadline;
  int n_reads = 0;

  sleep_until (argv[4]);
  deadline = g_get_monotonic_time () + 50 * G_USEC_PER_SEC; /* < meson's 60 s */
  db = ansim_db_open (&ansim_desk_db_schema, path, &error);
  if (db == NULL)
    child_fail ("reader", error);
  counts = ansim_db_prepare (db,
                             "SELECT (SELECT count(*) FROM events WHERE kind = 'test-write'), "
                             "(SELECT count(*) FROM outbox WHERE class = 1)",
                             &error);
  next = ansim_db_prepare (db,
                           "SELECT id FROM outbox WHERE confirmed_at_us IS NULL "
                           "AND next_attempt_at_us <= ? ORDER BY class, id LIMIT 1",
                           &error);
  if (counts == NULL || next == NULL)
    child_fail ("reader", error);

  while (last_events < total)
    {
      gint64 n_events, n_outbox;
      int rc;

      if (g_get_monotonic_time () > deadline)
        child_die ("reader", "%s: timed out at %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " events",
                   path, last_events, total);
      if (sqlite3_step (counts) != SQLITE_ROW)
        child_fail_sql ("reader", db, "counting");
      n_events = sqlite3_column_int64 (counts, 0);
      n_outbox = sqlite3_column_int64 (counts, 1);
      sqlite3_reset (counts);
      if (n_events < last_events || n_outbox > n_events)
        child_die ("reader",
                   "inconsistent snapshot: %" G_GINT64_FORMAT " events (before %" G_GINT64_FORMAT
                   "), %" G_GINT64_FORMAT " outbox rows",
                   n_events, last_events, n_outbox);
      last_events = n_events;

      sqlite3_bind_int64 (next, 1, g_get_real_time ());
      rc = sqlite3_step (next);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        child_fail_sql ("reader", db, "finding the next item");
      sqlite3_reset (next);
      n_reads++;
      g_usleep (5000);
    }
  g_printerr ("# reader: %d snapshots\n", n_reads);
  return 0;
}

static void
test_concurrent_writers (Fixture *fx, gconstpointer data)
{
  g_autoptr (sqlite3) db = open_ok (&ansim_desk_db_schema, fx->path);
  g_autofree char *start = NULL, *total = NULL, *lines = NULL, *check = NULL;
  GPid writers[N_WRITERS], reader;
  double elapsed;

  (void) data;
  test_sql_exec (db, "INSERT INTO desks VALUES ('desk-1', 'Desk 1');"
                     "INSERT INTO triggers VALUES ('desk-1', 'desk-button', 'button', 'gpio');");
  g_clear_pointer (&db, sqlite3_close);

  g_test_timer_start ();
  start = g_strdup_printf ("%" G_GINT64_FORMAT, g_get_monotonic_time () + 300000);
  total = g_strdup_printf ("%d", N_WRITERS * N_UNITS);
  {
    const char *args[] = { "--reader", fx->path, total, start, NULL };
    reader = spawn_self (args);
  }
  for (int w = 0; w < N_WRITERS; w++)
    {
      g_autofree char *id = g_strdup_printf ("%d", w);
      const char *args[] = { "--writer", fx->path, id, start, NULL };
      writers[w] = spawn_self (args);
    }
  for (int w = 0; w < N_WRITERS; w++)
    {
      g_autoptr (GError) error = NULL;

      if (!wait_child (writers[w], &error))
        {
          /* The reader would wait for rows that never come. */
          g_test_message ("writer %d: %s (its message is on stderr)", w, error->message);
          g_test_fail ();
        }
    }
  if (g_test_failed ())
    {
      kill (reader, SIGKILL);
      wait_child (reader, NULL);
      return;
    }
  wait_ok (reader, "reader");
  elapsed = g_test_timer_elapsed ();
  g_test_message ("%d writer processes x %d units and one reader: %.2f s", N_WRITERS, N_UNITS,
                  elapsed);

  /* Every row is there exactly once. */
  db = open_ok (&ansim_desk_db_schema, fx->path);
  lines = query_lines (db,
                       "SELECT json_extract (detail, '$.writer') AS w, count(*), "
                       "count(DISTINCT json_extract (detail, '$.seq')), "
                       "min (json_extract (detail, '$.seq')), max (json_extract (detail, '$.seq')),"
                       " count(DISTINCT incident_id) "
                       "FROM events WHERE kind = 'test-write' GROUP BY w ORDER BY w");
  {
    g_autoptr (GString) expected = g_string_new (NULL);
    for (int w = 0; w < N_WRITERS; w++)
      g_string_append_printf (expected, "%d|%d|%d|0|%d|1\n", w, N_UNITS, N_UNITS, N_UNITS - 1);
    g_assert_cmpstr (lines, ==, expected->str);
  }
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM outbox"), ==, N_WRITERS * N_UNITS);
  g_assert_cmpint (query_int (db, "SELECT count(DISTINCT event_id) FROM outbox"), ==,
                   N_WRITERS * N_UNITS);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM outbox o JOIN events e "
                                  "ON e.id = o.event_id AND e.incident_id = o.incident_id"),
                   ==, N_WRITERS * N_UNITS);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM incidents"), ==, N_WRITERS);
  check = query_text (db, "PRAGMA integrity_check");
  g_assert_cmpstr (check, ==, "ok");
}

/* --opener PATH START: open (and so create and migrate) and log one event. */
static int
opener_main (char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = NULL;

  sleep_until (argv[3]);
  db = ansim_db_open (&ansim_desk_db_schema, argv[2], &error);
  if (db == NULL
      || !ansim_db_log_event (db, "started", NULL, NULL, 0, g_get_monotonic_time (), NULL, NULL,
                              &error))
    child_fail ("opener", error);
  return 0;
}

/* Recorder and uploader started at the same moment on a fresh data dir.
 * Several rounds, since a collision needs the right timing. */
static void
test_concurrent_first_open (Fixture *fx, gconstpointer data)
{
  (void) data;
  for (int round = 0; round < 3; round++)
    {
      g_autofree char *path = g_strdup_printf ("%s/fresh-%d.db", fx->dir, round);
      g_autofree char *start =
        g_strdup_printf ("%" G_GINT64_FORMAT, g_get_monotonic_time () + 200000);
      g_autoptr (sqlite3) db = NULL;
      GPid openers[6];

      for (guint i = 0; i < G_N_ELEMENTS (openers); i++)
        {
          const char *args[] = { "--opener", path, start, NULL };
          openers[i] = spawn_self (args);
        }
      for (guint i = 0; i < G_N_ELEMENTS (openers); i++)
        wait_ok (openers[i], "opener");

      db = open_ok (&ansim_desk_db_schema, path);
      g_assert_cmpuint (ansim_db_get_version (db), ==, ansim_desk_db_schema.n_migrations);
      g_assert_cmpint (query_int (db, "SELECT count(*) FROM events WHERE kind = 'started'"), ==,
                       G_N_ELEMENTS (openers));
    }
}

/* ---- main ---- */

static void
add_per_schema (const char *name, void (*func) (Fixture *, gconstpointer))
{
  for (guint i = 0; i < G_N_ELEMENTS (all_schemas); i++)
    {
      g_autofree char *path = g_strdup_printf ("/db/%s/%s", all_schemas[i]->name, name);
      g_test_add (path, Fixture, all_schemas[i], fixture_setup, func, fixture_teardown);
    }
}

int
main (int argc, char **argv)
{
  g_autoptr (GPtrArray) cases = g_ptr_array_new_with_free_func (g_free);

  /* Hidden modes for the processes the concurrency tests start. */
  if (argc == 5 && g_str_equal (argv[1], "--writer"))
    return writer_main (argv);
  if (argc == 5 && g_str_equal (argv[1], "--reader"))
    return reader_main (argv);
  if (argc == 4 && g_str_equal (argv[1], "--opener"))
    return opener_main (argv);

  g_test_init (&argc, &argv, NULL);
  self_exe = g_file_read_link ("/proc/self/exe", NULL);
  g_assert_nonnull (self_exe);

  add_per_schema ("fresh", test_fresh);
  add_per_schema ("too-new", test_too_new);
  add_per_schema ("log-event", test_log_event);
  add_per_schema ("events-append-only", test_events_append_only);
  /* One test per earlier version: new migrations are covered automatically. */
  for (guint i = 0; i < G_N_ELEMENTS (all_schemas); i++)
    {
      for (guint v = 0; v < all_schemas[i]->n_migrations; v++)
        {
          MigrationCase *mc = g_new0 (MigrationCase, 1);
          g_autofree char *path = NULL;

          mc->schema = all_schemas[i];
          mc->from = v;
          g_ptr_array_add (cases, mc);
          path = g_strdup_printf ("/db/%s/migrate/from-%u", mc->schema->name, v);
          g_test_add (path, Fixture, mc, fixture_setup, test_migrate_from, fixture_teardown);
        }
    }
  g_test_add ("/db/open/too-new-rollback-mode", Fixture, NULL, fixture_setup,
              test_too_new_rollback_mode, fixture_teardown);
  g_test_add ("/db/open/not-sqlite", Fixture, NULL, fixture_setup, test_not_sqlite,
              fixture_teardown);
  g_test_add ("/db/open/cannot-open", Fixture, NULL, fixture_setup, test_cannot_open,
              fixture_teardown);
  g_test_add ("/db/open/wrong-kind", Fixture, NULL, fixture_setup, test_wrong_kind,
              fixture_teardown);
  g_test_add ("/db/migration/rollback", Fixture, NULL, fixture_setup, test_migration_rollback,
              fixture_teardown);
  g_test_add ("/db/migration/foreign-keys", Fixture, NULL, fixture_setup,
              test_migration_foreign_keys, fixture_teardown);
  g_test_add ("/db/desk/constraints", Fixture, NULL, fixture_setup, test_desk_constraints,
              fixture_teardown);
  g_test_add ("/db/panel/constraints", Fixture, NULL, fixture_setup, test_panel_constraints,
              fixture_teardown);
  g_test_add ("/db/helpers/errors", Fixture, NULL, fixture_setup, test_helpers_errors,
              fixture_teardown);
  g_test_add ("/db/concurrent/first-open", Fixture, NULL, fixture_setup, test_concurrent_first_open,
              fixture_teardown);
  g_test_add ("/db/concurrent/writers", Fixture, NULL, fixture_setup, test_concurrent_writers,
              fixture_teardown);

  {
    int ret = g_test_run ();
    g_free (self_exe);
    return ret;
  }
}
