/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of the drill tag ingest puts on a press (panel/drill-db.c) against
 * a real panel database: the `drill-tagged` event names who armed the
 * drill as valid JSON, whatever characters that login name holds. */
#include <string.h>

#include "db.h"
#include "test-common.h"
#include "drill-db.h"
#include "durable.h"

typedef struct {
  char *dir;
  sqlite3 *db;
} Fixture;

static void
fixture_setup (Fixture *fx, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;

  fx->dir = test_make_tmp_dir ("ansim-test-drill-db-XXXXXX");
  path = g_build_filename (fx->dir, "panel.db", NULL);
  fx->db = ansim_db_open (&ansim_panel_db_schema, path, &error);
  g_assert_no_error (error);
  g_assert_true (
    ansim_db_exec (fx->db,
                   "INSERT INTO desks (id, name) VALUES ('desk-1', 'Front desk');"
                   "INSERT INTO devices (id, desk_id, public_key, fingerprint, enrolled_at_us) "
                   "  VALUES ('board-1', 'desk-1', zeroblob (32), 'fp', 1);",
                   &error));
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *fx, G_GNUC_UNUSED gconstpointer data)
{
  g_clear_pointer (&fx->db, sqlite3_close);
  g_assert_true (ansim_remove_tree (fx->dir, NULL));
  g_free (fx->dir);
}

/* One incident per press: its row id. */
static gint64
add_incident (Fixture *fx, guint n, gint64 wall_us)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *sql = g_strdup_printf (
    "INSERT INTO incidents (device_id, uuid, desk_id, trigger, trigger_kind, opened_wall_us, "
    "opened_mono_us, alerted_at_us) VALUES ('board-1', "
    "'00000000-0000-4000-8000-%012u', 'desk-1', 'desk-button', 'button', %" G_GINT64_FORMAT
    ", 1, %" G_GINT64_FORMAT ")",
    n, wall_us, wall_us);

  g_assert_true (ansim_db_exec (fx->db, sql, &error));
  g_assert_no_error (error);
  return sqlite3_last_insert_rowid (fx->db);
}

/* armed_by as the drill-tagged event's detail records it, read back by
 * SQLite's JSON functions. */
static char *
tagged_armed_by (Fixture *fx, gint64 incident)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (fx->db,
                      "SELECT json_valid (detail), json_extract (detail, '$.armed_by'), "
                      "json_extract (detail, '$.drill') FROM events "
                      "WHERE kind = 'drill-tagged' AND incident_id = ?1",
                      &error);

  g_assert_no_error (error);
  sqlite3_bind_int64 (stmt, 1, incident);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_assert_cmpint (sqlite3_column_int (stmt, 0), ==, 1);
  g_assert_cmpint (sqlite3_column_int64 (stmt, 2), >, 0);
  return g_strdup ((const char *) sqlite3_column_text (stmt, 1));
}

/* A login name with a quote, a backslash and control characters: the
 * press is still tagged, and its event reads back the exact name. */
static void
test_claim_escapes_armed_by (Fixture *fx, G_GNUC_UNUSED gconstpointer data)
{
  static const char *const names[] = {
    "o\"brien",
    "back\\slash",
    "tab\there\nnewline\x01",
    "\",\"drill\":0,\"x\":\"",
  };
  gint64 now = g_get_real_time ();

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr (GError) error = NULL;
      const char *desks[] = { "desk-1" };
      gint64 drill = 0, claimed = 0;
      gint64 pressed = now + G_TIME_SPAN_MINUTE * (i + 1);
      gint64 incident = add_incident (fx, i, pressed);

      g_assert_true (panel_drill_arm (fx->db, desks, 1, now, now + G_TIME_SPAN_HOUR, NULL, names[i],
                                      "admin", "127.0.0.1", &drill, &error));
      g_assert_no_error (error);
      g_assert_true (ansim_db_begin (fx->db, &error));
      g_assert_true (panel_drill_claim (fx->db, "desk-1", pressed, incident, &claimed, &error));
      g_assert_no_error (error);
      g_assert_true (ansim_db_commit (fx->db, &error));
      g_assert_cmpint (claimed, ==, drill);
      g_autofree char *armed_by = tagged_armed_by (fx, incident);
      g_assert_cmpstr (armed_by, ==, names[i]);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/drill-db/claim/escapes-armed-by", Fixture, NULL, fixture_setup,
              test_claim_escapes_armed_by, fixture_teardown);
  return g_test_run ();
}
