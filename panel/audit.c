/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the audit log: appending hash-chained entries, checking
 * the chain, and reading it back for the console. Format: docs/schema.md. */
#include "audit.h"

#include <string.h>

#include "db.h"
#include "util.h"

/* The canonical content of an entry, what its hash covers:
 *   prev_hash "\n" "ansim-audit-1" then for each of id, at_us, actor, role,
 *   client, action, target, detail: "\n" and either "~" (NULL) or
 *   LENGTH ":" BYTES (LENGTH in decimal bytes).
 * Length prefixes make the split between fields unambiguous. */
static void
canonical_field (GString *out, const char *value)
{
  g_string_append_c (out, '\n');
  if (value == NULL)
    g_string_append_c (out, '~');
  else
    g_string_append_printf (out, "%zu:%s", strlen (value), value);
}

char *
panel_audit_entry_hash (const char *prev_hash, gint64 id, gint64 at_us, const char *actor,
                        const char *role, const char *client, const char *action,
                        const char *target, const char *detail)
{
  g_autoptr (GString) text = g_string_new (prev_hash);
  char number[32];

  g_string_append (text, "\nansim-audit-1");
  g_snprintf (number, sizeof number, "%" G_GINT64_FORMAT, id);
  canonical_field (text, number);
  g_snprintf (number, sizeof number, "%" G_GINT64_FORMAT, at_us);
  canonical_field (text, number);
  canonical_field (text, actor);
  canonical_field (text, role);
  canonical_field (text, client);
  canonical_field (text, action);
  canonical_field (text, target);
  canonical_field (text, detail);
  return ansim_hash_sha256_hex_dup (text->str, text->len);
}

gboolean
panel_audit_append (sqlite3 *db, const char *actor, const char *role, const char *client,
                    const char *action, const char *target, const char *detail_json, GError **error)
{
  gboolean own_transaction = sqlite3_get_autocommit (db) != 0;
  g_autoptr (sqlite3_stmt) last = NULL;
  g_autoptr (sqlite3_stmt) insert = NULL;
  g_autofree char *prev_hash = NULL;
  g_autofree char *hash = NULL;
  gint64 id = 1, at_us = g_get_real_time ();

  g_return_val_if_fail (action != NULL, FALSE);

  /* The previous row must be read under the write lock, or two processes
   * (the panel and ansimctl) could chain to the same predecessor. */
  if (own_transaction && !ansim_db_begin (db, error))
    return FALSE;
  last = ansim_db_prepare (db, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1", error);
  if (last == NULL)
    goto fail;
  switch (sqlite3_step (last))
    {
    case SQLITE_ROW:
      id = sqlite3_column_int64 (last, 0) + 1;
      prev_hash = g_strdup ((const char *) sqlite3_column_text (last, 1));
      break;
    case SQLITE_DONE: prev_hash = g_strdup (PANEL_AUDIT_GENESIS); break;
    default: ansim_db_set_error (db, error, "reading the audit log"); goto fail;
    }
  /* Ids deleted behind the triggers' back stay burnt in sqlite_sequence;
   * never reuse one, so the gap stays visible to panel_audit_verify. */
  {
    g_autoptr (sqlite3_stmt) seq =
      ansim_db_prepare (db, "SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'", error);
    if (seq == NULL)
      goto fail;
    if (sqlite3_step (seq) == SQLITE_ROW && sqlite3_column_int64 (seq, 0) >= id)
      id = sqlite3_column_int64 (seq, 0) + 1;
  }
  hash =
    panel_audit_entry_hash (prev_hash, id, at_us, actor, role, client, action, target, detail_json);
  insert = ansim_db_prepare (
    db,
    "INSERT INTO audit_log (id, at_us, actor, role, client, action, target, detail, prev_hash,"
    " hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    error);
  if (insert == NULL)
    goto fail;
  sqlite3_bind_int64 (insert, 1, id);
  sqlite3_bind_int64 (insert, 2, at_us);
  sqlite3_bind_text (insert, 3, actor, -1, SQLITE_STATIC);
  sqlite3_bind_text (insert, 4, role, -1, SQLITE_STATIC);
  sqlite3_bind_text (insert, 5, client, -1, SQLITE_STATIC);
  sqlite3_bind_text (insert, 6, action, -1, SQLITE_STATIC);
  sqlite3_bind_text (insert, 7, target, -1, SQLITE_STATIC);
  sqlite3_bind_text (insert, 8, detail_json, -1, SQLITE_STATIC);
  sqlite3_bind_text (insert, 9, prev_hash, -1, SQLITE_STATIC);
  sqlite3_bind_text (insert, 10, hash, -1, SQLITE_STATIC);
  if (sqlite3_step (insert) != SQLITE_DONE)
    {
      ansim_db_set_error (db, error, "writing the audit log");
      goto fail;
    }
  if (own_transaction)
    return ansim_db_commit (db, error);
  return TRUE;

fail:
  if (own_transaction)
    ansim_db_rollback (db);
  return FALSE;
}

static const char *
column_text (sqlite3_stmt *stmt, int i)
{
  return (const char *) sqlite3_column_text (stmt, i);
}

gboolean
panel_audit_verify (sqlite3 *db, gint64 *out_n_entries, char **out_problem, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = NULL;
  g_autofree char *expected_prev = g_strdup (PANEL_AUDIT_GENESIS);
  gint64 expected_id = 1, n = 0, max_seq = 0;
  char *problem = NULL;
  int rc;

  *out_n_entries = 0;
  *out_problem = NULL;
  /* One read transaction: a consistent snapshot while the panel appends. */
  if (!ansim_db_exec (db, "BEGIN", error))
    return FALSE;
  stmt = ansim_db_prepare (
    db,
    "SELECT id, at_us, actor, role, client, action, target, detail, prev_hash, hash"
    " FROM audit_log ORDER BY id",
    error);
  if (stmt == NULL)
    {
      ansim_db_rollback (db);
      return FALSE;
    }
  while (problem == NULL && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (stmt, 0);
      const char *prev = column_text (stmt, 8), *stored = column_text (stmt, 9);
      g_autofree char *computed = panel_audit_entry_hash (
        prev, id, sqlite3_column_int64 (stmt, 1), column_text (stmt, 2), column_text (stmt, 3),
        column_text (stmt, 4), column_text (stmt, 5), column_text (stmt, 6), column_text (stmt, 7));

      if (id != expected_id)
        problem = id > expected_id
                    ? g_strdup_printf ("entry %" G_GINT64_FORMAT
                                       ": missing (the log jumps from entry %" G_GINT64_FORMAT
                                       " to %" G_GINT64_FORMAT ")",
                                       expected_id, expected_id - 1, id)
                    : g_strdup_printf ("entry %" G_GINT64_FORMAT ": out of order", id);
      else if (g_strcmp0 (prev, expected_prev) != 0)
        problem = g_strdup_printf ("entry %" G_GINT64_FORMAT ": its previous-hash does not match "
                                   "entry %" G_GINT64_FORMAT " (an entry was removed, inserted "
                                   "or rewritten before it)",
                                   id, id - 1);
      else if (g_strcmp0 (computed, stored) != 0)
        problem = g_strdup_printf ("entry %" G_GINT64_FORMAT ": its content does not match its "
                                   "hash (the entry was altered)",
                                   id);
      else
        {
          n++;
          expected_id = id + 1;
          g_free (expected_prev);
          expected_prev = g_strdup (stored);
        }
    }
  if (problem == NULL && rc != SQLITE_DONE)
    {
      ansim_db_set_error (db, error, "reading the audit log");
      ansim_db_rollback (db);
      return FALSE;
    }
  /* Entries cut off at the end leave no broken link, but AUTOINCREMENT
   * remembers the highest id ever used. */
  if (problem == NULL)
    {
      g_autoptr (sqlite3_stmt) seq =
        ansim_db_prepare (db, "SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'", NULL);
      if (seq != NULL && sqlite3_step (seq) == SQLITE_ROW)
        max_seq = sqlite3_column_int64 (seq, 0);
      if (max_seq > expected_id - 1)
        problem = g_strdup_printf ("entry %" G_GINT64_FORMAT
                                   ": missing (the log ends at entry %" G_GINT64_FORMAT
                                   " but entries up to %" G_GINT64_FORMAT " were written)",
                                   expected_id, expected_id - 1, max_seq);
    }
  ansim_db_rollback (db);
  *out_n_entries = n;
  *out_problem = problem;
  return TRUE;
}

static JsonNode *
row_to_json (sqlite3_stmt *stmt)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  static const char *const names[] = { "id",     "at_us",  "actor",  "role",      "client",
                                       "action", "target", "detail", "prev_hash", "hash" };

  json_builder_begin_object (b);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      json_builder_set_member_name (b, names[i]);
      if (i < 2)
        json_builder_add_int_value (b, sqlite3_column_int64 (stmt, i));
      else if (sqlite3_column_type (stmt, i) == SQLITE_NULL)
        json_builder_add_null_value (b);
      else if (i == 7)
        {
          /* detail is stored as JSON text (checked by the table). */
          g_autoptr (JsonParser) parser = json_parser_new ();
          if (json_parser_load_from_data (parser, column_text (stmt, i), -1, NULL))
            json_builder_add_value (b, json_node_copy (json_parser_get_root (parser)));
          else
            json_builder_add_string_value (b, column_text (stmt, i));
        }
      else
        json_builder_add_string_value (b, column_text (stmt, i));
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

#define SELECT_ENTRIES                                                                             \
  "SELECT id, at_us, actor, role, client, action, target, detail, prev_hash, hash FROM audit_log"

JsonNode *
panel_audit_list (sqlite3 *db, gint64 before_id, guint limit, const PanelAuditFilter *filter,
                  GError **error)
{
  static const PanelAuditFilter all = { 0 };
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    db,
    SELECT_ENTRIES
    " WHERE (?1 = 0 OR id < ?1) AND (?3 IS NULL OR actor = ?3)"
    " AND (?4 IS NULL OR action = ?4)"
    " AND (?5 IS NULL OR target = ?5 OR substr (target, 1, length (?5) + 1) = ?5 || ' ')"
    " AND (?6 = 0 OR at_us >= ?6) AND (?7 = 0 OR at_us < ?7)"
    " ORDER BY id DESC LIMIT ?2",
    error);
  g_autoptr (JsonArray) array = json_array_new ();
  g_autofree char *target = NULL;
  JsonNode *node;
  int rc;

  if (filter == NULL)
    filter = &all;
  if (stmt == NULL)
    return NULL;
  if (filter->incident_id > 0)
    target = g_strdup_printf ("incident %" G_GINT64_FORMAT, filter->incident_id);
  sqlite3_bind_int64 (stmt, 1, before_id);
  sqlite3_bind_int64 (stmt, 2, limit);
  sqlite3_bind_text (stmt, 3, filter->actor, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, filter->action, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 5, target, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 6, filter->from_us);
  sqlite3_bind_int64 (stmt, 7, filter->to_us);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    json_array_add_element (array, row_to_json (stmt));
  if (rc != SQLITE_DONE)
    {
      ansim_db_set_error (db, error, "reading the audit log");
      return NULL;
    }
  node = json_node_new (JSON_NODE_ARRAY);
  json_node_set_array (node, array);
  return node;
}

gboolean
panel_audit_export_batch (sqlite3 *db, gint64 after_id, gint64 until_id, guint max_entries,
                          GString *out, gint64 *out_last_id, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (db, SELECT_ENTRIES " WHERE id > ?1 AND id <= ?2 ORDER BY id LIMIT ?3", error);
  int rc;

  *out_last_id = after_id;
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, after_id);
  sqlite3_bind_int64 (stmt, 2, until_id);
  sqlite3_bind_int64 (stmt, 3, max_entries);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      g_autoptr (JsonNode) node = row_to_json (stmt);
      g_autofree char *line = json_to_string (node, FALSE);
      g_string_append (out, line);
      g_string_append_c (out, '\n');
      *out_last_id = sqlite3_column_int64 (stmt, 0);
    }
  if (rc != SQLITE_DONE)
    return ansim_db_set_error (db, error, "reading the audit log");
  return TRUE;
}

gboolean
panel_audit_last_id (sqlite3 *db, gint64 *out_id, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (db, "SELECT coalesce (max (id), 0) FROM audit_log", error);

  if (stmt == NULL)
    return FALSE;
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return ansim_db_set_error (db, error, "reading the audit log");
  *out_id = sqlite3_column_int64 (stmt, 0);
  return TRUE;
}

char *
panel_audit_export_jsonl (sqlite3 *db, GError **error)
{
  g_autoptr (GString) out = g_string_new (NULL);
  gint64 last = 0, until = 0, next = 0;

  if (!panel_audit_last_id (db, &until, error))
    return NULL;
  do
    {
      last = next;
      if (!panel_audit_export_batch (db, last, until, 1000, out, &next, error))
        return NULL;
    }
  while (next != last);
  return g_string_free (g_steal_pointer (&out), FALSE);
}
