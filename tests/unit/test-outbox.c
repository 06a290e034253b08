/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of the outbox module on a real desk database: what the recorder
 * queues, the uploader claims in class order (alerts first, FIFO within a
 * class), marks, confirms (a manifest's older rows with it) and expires
 * (segment files deleted only after confirmation and the keep period). */

#include "db.h"
#include "test-common.h"
#include "outbox.h"

#include <glib/gstdio.h>

typedef struct {
  char *dir;
  sqlite3 *db;
  gint64 incident;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  (void) data;
  fx->dir = test_make_tmp_dir ("ansim-test-outbox-XXXXXX");
  g_autofree char *path = g_build_filename (fx->dir, "desk.db", NULL);
  fx->db = ansim_db_open (&ansim_desk_db_schema, path, &error);
  g_assert_no_error (error);
  g_assert_true (ansim_db_exec (
    fx->db,
    "INSERT INTO desks (id, name) VALUES ('d1', 'Desk 1');"
    "INSERT INTO incidents (uuid, desk_id, trigger, trigger_kind, opened_wall_us, "
    "opened_mono_us) VALUES ('00000000-0000-4000-8000-000000000001', 'd1', 'b', 'button', 1, 1);"
    "INSERT INTO segments (incident_id, idx, kind, start_wall_us, start_mono_us, duration_us, "
    "gap_reason, entry_hash, sealed_at_us) VALUES (1, 0, 'gap', 1, 1, 0, 'test', "
    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 1);",
    &error));
  g_assert_no_error (error);
  fx->incident = 1;
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  (void) data;
  g_clear_pointer (&fx->db, sqlite3_close);
  g_autoptr (GDir) dir = g_dir_open (fx->dir, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *file = g_build_filename (fx->dir, name, NULL);
      g_unlink (file);
    }
  g_rmdir (fx->dir);
  g_free (fx->dir);
}

static gint64
claim_id (Fixture *fx, gint64 now, AnsimOutboxClass expect_class)
{
  g_autoptr (GError) error = NULL;
  g_auto (AnsimOutboxItem) item = { 0 };
  gint64 next_due = G_MAXINT64;
  g_assert_true (ansim_outbox_claim (fx->db, now, G_USEC_PER_SEC, &item, &next_due, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (item.id, !=, 0);
  g_assert_cmpint (item.klass, ==, expect_class);
  g_assert_cmpint (item.incident_id, ==, fx->incident);
  g_assert_cmpstr (item.uuid, ==, "00000000-0000-4000-8000-000000000001");
  return item.id;
}

/* Queued segment, manifest, event, alert, manifest: claimed alert, event,
 * manifest, segment; the two manifest rows confirmed by one send. */
static void
test_order_and_confirm (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 seg = 0, m1 = 0, ev = 0, alert = 0, m2 = 0, event_row = 0;

  (void) data;
  g_assert_true (
    ansim_outbox_queue_segment (fx->db, fx->incident, 0, "u/seg-000000.mkv.age", &seg, &error));
  g_assert_true (
    ansim_outbox_queue_manifest (fx->db, fx->incident, "u/manifest.json", &m1, &error));
  g_assert_true (
    ansim_db_log_event (fx->db, "press", "d1", "b", fx->incident, 1, NULL, &event_row, &error));
  g_assert_true (ansim_outbox_queue_event (fx->db, event_row, &ev, &error));
  g_assert_true (ansim_outbox_queue_alert (fx->db, fx->incident, &alert, &error));
  g_assert_true (
    ansim_outbox_queue_manifest (fx->db, fx->incident, "u/manifest.json", &m2, &error));
  g_assert_no_error (error);

  gint64 count = 0, oldest = 0;
  g_assert_true (ansim_outbox_count_waiting (fx->db, &count, &oldest, &error));
  g_assert_cmpint (count, ==, 5);
  g_assert_cmpint (oldest, >, 0);

  gint64 now = g_get_real_time ();
  g_assert_cmpint (claim_id (fx, now, ANSIM_OUTBOX_ALERT), ==, alert);
  g_assert_true (ansim_outbox_confirm (fx->db, alert, &error));
  g_assert_cmpint (claim_id (fx, now, ANSIM_OUTBOX_EVENT), ==, ev);
  /* A failed event waits for its retry time; the others go on. */
  g_assert_true (ansim_outbox_mark_failed (fx->db, ev, now + 500, "refused", &error));
  g_assert_cmpint (claim_id (fx, now, ANSIM_OUTBOX_MANIFEST), ==, m1);
  g_assert_cmpint (ansim_outbox_last_manifest (fx->db, fx->incident), ==, m2);
  g_assert_true (ansim_outbox_confirm (fx->db, m1, &error));
  g_assert_true (ansim_outbox_confirm_manifests (fx->db, fx->incident, m2, &error));
  g_assert_cmpint (ansim_outbox_last_manifest (fx->db, fx->incident), ==, 0);
  g_assert_cmpint (claim_id (fx, now, ANSIM_OUTBOX_SEGMENT), ==, seg);
  g_assert_true (ansim_outbox_confirm (fx->db, seg, &error));
  g_assert_no_error (error);

  /* Only the event waits, due at now + 500. */
  g_auto (AnsimOutboxItem) none = { 0 };
  gint64 next_due = G_MAXINT64;
  gboolean reset = TRUE;
  g_assert_true (
    ansim_outbox_claim (fx->db, now, G_USEC_PER_SEC, &none, &next_due, &reset, &error));
  g_assert_cmpint (none.id, ==, 0);
  g_assert_cmpint (next_due, ==, now + 500);
  g_assert_false (reset);
  g_assert_true (ansim_outbox_count_waiting (fx->db, &count, NULL, &error));
  g_assert_cmpint (count, ==, 1);
  g_assert_cmpint (claim_id (fx, now + 500, ANSIM_OUTBOX_EVENT), ==, ev);
}

/* A retry time beyond any backoff (the clock went back) is made due now. */
static void
test_clock_went_back (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 alert = 0;

  (void) data;
  g_assert_true (ansim_outbox_queue_alert (fx->db, fx->incident, &alert, &error));
  gint64 now = g_get_real_time ();
  gint64 an_hour = G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC;
  g_assert_true (ansim_outbox_mark_failed (fx->db, alert, now + an_hour, "x", &error));
  g_auto (AnsimOutboxItem) none = { 0 };
  gint64 next_due = G_MAXINT64;
  gboolean reset = FALSE;
  g_assert_true (
    ansim_outbox_claim (fx->db, now, G_USEC_PER_SEC, &none, &next_due, &reset, &error));
  g_assert_no_error (error);
  g_assert_cmpint (none.id, ==, 0);
  g_assert_true (reset);
  g_assert_cmpint (next_due, ==, now);
  g_assert_cmpint (claim_id (fx, now, ANSIM_OUTBOX_ALERT), ==, alert);
}

/* A segment file goes only once confirmed, and only after the keep
 * period; a manifest file stays. */
static void
test_expire (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 seg = 0, man = 0;

  (void) data;
  g_autofree char *seg_file = g_build_filename (fx->dir, "seg", NULL);
  g_autofree char *man_file = g_build_filename (fx->dir, "man", NULL);
  g_assert_true (g_file_set_contents (seg_file, "x", 1, &error));
  g_assert_true (g_file_set_contents (man_file, "x", 1, &error));
  g_assert_true (ansim_outbox_queue_segment (fx->db, fx->incident, 0, "seg", &seg, &error));
  g_assert_true (ansim_outbox_queue_manifest (fx->db, fx->incident, "man", &man, &error));
  g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
  gint64 now = g_get_real_time ();

  /* Not confirmed: kept. */
  g_assert_true (
    ansim_outbox_expire (fx->db, fx->dir, now + G_USEC_PER_SEC, now, problems, &error));
  g_assert_true (g_file_test (seg_file, G_FILE_TEST_EXISTS));
  g_assert_true (ansim_outbox_confirm (fx->db, seg, &error));
  g_assert_true (ansim_outbox_confirm (fx->db, man, &error));
  /* Confirmed, but within the keep period: kept. */
  g_assert_true (
    ansim_outbox_expire (fx->db, fx->dir, now - G_USEC_PER_SEC, now, problems, &error));
  g_assert_true (g_file_test (seg_file, G_FILE_TEST_EXISTS));
  /* Past it: the segment goes, the manifest stays. */
  g_assert_true (ansim_outbox_expire (fx->db, fx->dir, g_get_real_time () + G_USEC_PER_SEC, now,
                                      problems, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (problems->len, ==, 0);
  g_assert_false (g_file_test (seg_file, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (man_file, G_FILE_TEST_EXISTS));
  g_autoptr (sqlite3_stmt) st =
    ansim_db_prepare (fx->db, "SELECT deleted_at_us FROM outbox WHERE id = ?1", &error);
  sqlite3_bind_int64 (st, 1, seg);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  g_assert_cmpint (sqlite3_column_int64 (st, 0), ==, now);
}

static void
test_class_names (void)
{
  g_assert_cmpstr (ansim_outbox_class_name (ANSIM_OUTBOX_ALERT), ==, "alert");
  g_assert_cmpstr (ansim_outbox_class_name (ANSIM_OUTBOX_EVENT), ==, "event");
  g_assert_cmpstr (ansim_outbox_class_name (ANSIM_OUTBOX_MANIFEST), ==, "manifest");
  g_assert_cmpstr (ansim_outbox_class_name (ANSIM_OUTBOX_SEGMENT), ==, "segment");
  g_assert_cmpstr (ansim_outbox_class_name ((AnsimOutboxClass) 9), ==, "item");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/outbox/order-and-confirm", Fixture, NULL, fixture_setup, test_order_and_confirm,
              fixture_teardown);
  g_test_add ("/outbox/clock-went-back", Fixture, NULL, fixture_setup, test_clock_went_back,
              fixture_teardown);
  g_test_add ("/outbox/expire", Fixture, NULL, fixture_setup, test_expire, fixture_teardown);
  g_test_add_func ("/outbox/class-names", test_class_names);
  return g_test_run ();
}
