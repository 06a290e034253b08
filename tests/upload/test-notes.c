/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's signed notes end to end (docs/receipts.md): a real
 * ansim-panel and ansim-uploader over loopback. Audit checkpoints reach
 * the desk in heartbeat answers and stay there; an insider's rewrite of a
 * copy of the panel database (playback and export entries deleted, the
 * chain recomputed) passes the chain check but not the desk-held
 * checkpoints, which name the first diverging entry; a forged checkpoint
 * is refused. Chain receipts reach the desk with final manifests; after
 * the newest incident is deleted on the panel, the desk's receipt shows
 * it withheld, in an incident folder and in an export (which carries the
 * panel's current receipt). */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "note.h"
#include "test-console.h"
#include "upload-helpers.h"

#define PASSWORD "notes-password-1"

static char *dir;
static TestPanel *panel;
static TestDesk *desk;
static GSubprocess *uploader;

static char *
panel_pub (void)
{
  return g_build_filename (panel->dir, "panel-signing.pub.pem", NULL);
}

static gint64
desk_notes (const char *where)
{
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM panel_notes WHERE %s", where);
  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (desk->db, sql, NULL);
  g_assert_nonnull (s);
  g_assert_cmpint (sqlite3_step (s), ==, SQLITE_ROW);
  return sqlite3_column_int64 (s, 0);
}

typedef struct {
  const char *where;
  gint64 want;
} NotesWait;

static gboolean
notes_reached (gpointer data)
{
  NotesWait *w = data;
  return desk_notes (w->where) >= w->want;
}

static void
wait_notes (const char *where, gint64 want)
{
  NotesWait w = { where, want };
  if (!test_wait_until (notes_reached, &w, 15))
    g_error ("the desk holds %" G_GINT64_FORMAT " notes where %s, not %" G_GINT64_FORMAT,
             desk_notes (where), where, want);
}

static guint
occurrences (const char *text, const char *needle)
{
  guint n = 0;
  for (const char *p = strstr (text, needle); p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}

/* ansimctl args…; its exit status, stdout+stderr in *out. */
static int
ctl (char **out, const char *const *args)
{
  return test_ansimctl (out, NULL, args);
}

static void
set_up (void)
{
  g_autoptr (GError) error = NULL;
  dir = g_dir_make_tmp ("ansim-notes-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);
  desk = test_desk_new (desk_dir);
  desk->source = "cam";
  panel = test_panel_new (panel_dir, NULL);
  test_add_user (panel->conf, "guard", "security", PASSWORD);
  test_add_user (panel->conf, "inspector", "auditor", PASSWORD);
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");
  uploader = test_uploader_start (desk, panel->url, "heartbeat_interval = 1");
}

static void
tear_down (void)
{
  test_process_stop (uploader, SIGTERM);
  g_clear_object (&uploader);
  g_clear_pointer (&panel, test_panel_free);
  g_clear_pointer (&desk, test_desk_free);
  test_rm_rf (dir);
  g_free (dir);
}

/* An insider with a copy of panel.db: deletes rows of these actions,
 * renumbers the rest and recomputes the whole chain, as
 * panel_audit_append would have written it. */
static void
rewrite_audit (const char *db_path)
{
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (db_path, &db), ==, SQLITE_OK);
  g_assert_true (ansim_db_exec (db,
                                "DROP TRIGGER IF EXISTS audit_log_no_update; "
                                "DROP TRIGGER IF EXISTS audit_log_no_delete; "
                                "CREATE TEMP TABLE kept AS SELECT * FROM audit_log "
                                "WHERE action NOT IN ('playback', 'export') ORDER BY id; "
                                "DELETE FROM audit_log;",
                                NULL));
  g_autoptr (sqlite3_stmt) rows = ansim_db_prepare (
    db, "SELECT at_us, actor, role, client, action, target, detail FROM kept ORDER BY id", NULL);
  g_autoptr (sqlite3_stmt) ins = ansim_db_prepare (
    db,
    "INSERT INTO audit_log (id, at_us, actor, role, client, action, target, detail, prev_hash, "
    "hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    NULL);
  g_autofree char *prev = g_strdup (PANEL_AUDIT_GENESIS);
  gint64 id = 0;
  while (sqlite3_step (rows) == SQLITE_ROW)
    {
      const char *v[6];
      for (int i = 0; i < 6; i++)
        v[i] = (const char *) sqlite3_column_text (rows, i + 1);
      id++;
      g_autofree char *hash = panel_audit_entry_hash (prev, id, sqlite3_column_int64 (rows, 0),
                                                      v[0], v[1], v[2], v[3], v[4], v[5]);
      sqlite3_reset (ins);
      sqlite3_bind_int64 (ins, 1, id);
      sqlite3_bind_int64 (ins, 2, sqlite3_column_int64 (rows, 0));
      for (int i = 0; i < 6; i++)
        sqlite3_bind_text (ins, 3 + i, v[i], -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (ins, 9, prev, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (ins, 10, hash, -1, SQLITE_TRANSIENT);
      g_assert_cmpint (sqlite3_step (ins), ==, SQLITE_DONE);
      g_free (prev);
      prev = g_steal_pointer (&hash);
    }
  g_autofree char *seq = g_strdup_printf (
    "UPDATE sqlite_sequence SET seq = %" G_GINT64_FORMAT " WHERE name = 'audit_log'", id);
  g_assert_true (ansim_db_exec (db, seq, NULL));
  g_clear_pointer (&rows, sqlite3_finalize);
  g_clear_pointer (&ins, sqlite3_finalize);
  sqlite3_close (db);
}

static void
test_audit_rewrite (void)
{
  static const char *const actions[] = { "incident-viewed", "playback", "incident-viewed", "export",
                                         "incident-viewed" };
  g_autofree char *db_path = g_build_filename (panel->dir, "panel.db", NULL);
  gint64 first_deleted = 0, before = test_panel_count (panel, "SELECT count(*) FROM audit_log");
  sqlite3 *pdb = NULL;

  /* Entries as the console writes them; after each, the desk gets (and
   * keeps) a checkpoint of exactly that head. */
  g_assert_cmpint (sqlite3_open (db_path, &pdb), ==, SQLITE_OK);
  sqlite3_busy_timeout (pdb, 5000);
  for (guint i = 0; i < G_N_ELEMENTS (actions); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_true (panel_audit_append (pdb, "kim", "security", "127.0.0.1", actions[i],
                                         "incident 1", NULL, &error));
      g_assert_no_error (error);
      gint64 n = before + i + 1;
      if (first_deleted == 0 && strcmp (actions[i], "playback") == 0)
        first_deleted = n;
      g_autofree char *where = g_strdup_printf (
        "kind = 'audit-checkpoint' AND subject = 'entries %" G_GINT64_FORMAT "'", n);
      wait_notes (where, 1);
    }
  sqlite3_close (pdb);
  gint64 total = before + G_N_ELEMENTS (actions);

  /* The set a desk hands over, as a file of notes. */
  g_autofree char *notes = NULL;
  const char *list[] = { "notes", "--data-dir", desk->dir, "--kind", "checkpoint", NULL };
  g_assert_cmpint (ctl (&notes, list), ==, 0);
  g_autofree char *notes_path = g_build_filename (dir, "checkpoints.txt", NULL);
  test_write_file (notes_path, notes, -1);
  g_assert_cmpuint (test_count_in_file (notes_path, "ansim audit checkpoint v1"), >=,
                    G_N_ELEMENTS (actions));

  /* The copy, taken from a stopped panel, rewritten. */
  test_process_stop (uploader, SIGTERM);
  g_clear_object (&uploader);
  test_panel_stop (panel, SIGTERM);
  g_autofree char *copy_dir = g_build_filename (dir, "copy", NULL);
  g_autofree char *copy_db = g_build_filename (copy_dir, "panel.db", NULL);
  g_assert_cmpint (g_mkdir (copy_dir, 0700), ==, 0);
  g_autofree char *bytes = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (db_path, &bytes, &len, NULL));
  g_assert_true (g_file_set_contents (copy_db, bytes, len, NULL));
  rewrite_audit (copy_db);

  g_autofree char *pub = panel_pub ();
  g_autofree char *out = NULL;
  /* The chain alone is fooled: that is the finding of issue 14. */
  const char *plain[] = { "audit", "verify", "--data-dir", copy_dir, NULL };
  g_assert_cmpint (ctl (&out, plain), ==, 0);
  g_autofree char *intact =
    g_strdup_printf ("audit log intact: %" G_GINT64_FORMAT " entries", total - 2);
  g_assert_nonnull (strstr (out, intact));
  g_clear_pointer (&out, g_free);

  /* The desks' checkpoints are not: the desk's data directory and the
   * exported file both name the first deleted entry. */
  g_autofree char *named =
    g_strdup_printf ("the first diverging entry is entry %" G_GINT64_FORMAT "\n", first_deleted);
  const char *from_desk[] = { "audit",   "verify",      "--data-dir", copy_dir, "--checkpoints",
                              desk->dir, "--panel-key", pub,          NULL };
  g_assert_cmpint (ctl (&out, from_desk), ==, 1);
  g_test_message ("ansimctl audit verify --checkpoints (rewritten copy):\n%s", out);
  if (strstr (out, named) == NULL)
    g_error ("expected \"%s\" in:\n%s", named, out);
  g_assert_cmpuint (occurrences (out, "DIVERGES"), ==, 1); /* said once, checked once */
  g_clear_pointer (&out, g_free);
  const char *from_file[] = { "audit",    "verify",      "--data-dir", copy_dir, "--checkpoints",
                              notes_path, "--panel-key", pub,          NULL };
  g_assert_cmpint (ctl (&out, from_file), ==, 1);
  g_assert_nonnull (strstr (out, named));
  g_clear_pointer (&out, g_free);

  /* The untouched log matches every checkpoint. */
  const char *original[] = { "audit",   "verify",      "--data-dir", panel->dir, "--checkpoints",
                             desk->dir, "--panel-key", pub,          NULL };
  g_assert_cmpint (ctl (&out, original), ==, 0);
  g_assert_nonnull (strstr (out, "audit log matches"));
  g_clear_pointer (&out, g_free);

  /* A checkpoint altered to fit the rewrite is refused by name. */
  g_autofree char *forged_text = NULL;
  {
    g_autofree char *entry = g_strdup_printf ("entries %" G_GINT64_FORMAT "\n", first_deleted);
    char *at = strstr (notes, entry);
    g_assert_nonnull (at);
    g_autoptr (GString) forged = g_string_new_len (notes, at - notes);
    g_string_append_printf (forged, "entries %" G_GINT64_FORMAT "\n", first_deleted + 100);
    g_string_append (forged, at + strlen (entry));
    forged_text = g_string_free (g_steal_pointer (&forged), FALSE);
  }
  g_autofree char *forged_path = g_build_filename (dir, "forged.txt", NULL);
  test_write_file (forged_path, forged_text, -1);
  const char *forged[] = { "audit",     "verify",      "--data-dir", panel->dir, "--checkpoints",
                           forged_path, "--panel-key", pub,          NULL };
  g_assert_cmpint (ctl (&out, forged), ==, 1);
  g_assert_nonnull (strstr (out, "checkpoint REFUSED"));
  g_assert_nonnull (strstr (out, "does not verify"));
  g_clear_pointer (&out, g_free);

  test_panel_start (panel);
  uploader = test_uploader_start (desk, panel->url, "heartbeat_interval = 1");

  /* A checkpoint to keep offline, from the console and from ansimctl:
   * both name the log's head and verify with the panel's key. */
  g_autoptr (AnsimDeviceKey) key = ansim_device_key_load_public (pub, NULL);
  g_assert_nonnull (key);
  g_autoptr (TestConsole) console = test_console_new (panel->url, NULL, 30);
  TestLogin inspector = { 0 };
  test_console_login (console, "inspector", PASSWORD, &inspector);
  guint status = 0;
  g_autofree char *fetched = test_console_request (console, "GET", "/api/audit/checkpoint",
                                                   &inspector, TEST_CSRF_NONE, NULL, NULL, 0,
                                                   &status, NULL);
  test_login_clear (&inspector);
  g_assert_cmpuint (status, ==, 200);
  const char *cmd[] = { "audit", "checkpoint", "--data-dir", panel->dir, NULL };
  g_assert_cmpint (ctl (&out, cmd), ==, 0);
  const char *const given[] = { fetched, out };
  for (guint i = 0; i < G_N_ELEMENTS (given); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *text =
        ansim_note_open (given[i], strlen (given[i]), ANSIM_NOTE_PANEL_NAME, key, &error);
      g_assert_no_error (error);
      AnsimAuditCheckpoint c;
      g_assert_true (ansim_audit_checkpoint_parse (text, &c, &error));
      /* The console's fetch was audited meanwhile, so at least this. */
      g_assert_cmpint (c.entries, >=, total);
      g_autofree char *sql = g_strdup_printf (
        "SELECT count(*) FROM audit_log WHERE id = %" G_GINT64_FORMAT " AND hash = '%s'", c.entries,
        c.head);
      g_assert_cmpint (test_panel_count (panel, sql), ==, 1);
    }
  g_clear_pointer (&out, g_free);
}

static void
test_receipt_withheld (void)
{
  g_autofree char *pub = panel_pub ();
  g_autofree char *first = test_desk_record (desk, 1, 2000);
  wait_notes ("kind = 'chain-receipt'", 1);
  g_autofree char *second = test_desk_record (desk, 1, 2000);
  wait_notes ("kind = 'chain-receipt'", 2);

  g_autofree char *receipts = NULL;
  const char *list[] = { "notes", "--data-dir", desk->dir, "--kind", "receipt", NULL };
  g_assert_cmpint (ctl (&receipts, list), ==, 0);
  g_assert_nonnull (strstr (receipts, "incidents 2\n"));
  g_autofree char *receipts_path = g_build_filename (dir, "receipts.txt", NULL);
  test_write_file (receipts_path, receipts, -1);

  /* The insider deletes the newest incident: rows and objects. */
  g_autofree char *sql = g_strdup_printf ("SELECT id FROM incidents WHERE uuid = '%s'", second);
  gint64 second_id = test_panel_count (panel, sql);
  g_assert_cmpint (second_id, >, 0);
  {
    g_autofree char *db_path = g_build_filename (panel->dir, "panel.db", NULL);
    sqlite3 *db = NULL;
    g_assert_cmpint (sqlite3_open (db_path, &db), ==, SQLITE_OK);
    sqlite3_busy_timeout (db, 5000);
    g_autofree char *del = g_strdup_printf (
      "UPDATE incidents SET purge_started_at_us = 1 WHERE id = %1$" G_GINT64_FORMAT "; "
      "DELETE FROM segments WHERE incident_id = %1$" G_GINT64_FORMAT "; "
      "DELETE FROM events WHERE incident_id = %1$" G_GINT64_FORMAT "; "
      "DELETE FROM incidents WHERE id = %1$" G_GINT64_FORMAT,
      second_id);
    g_assert_cmpint (sqlite3_exec (db, del, NULL, NULL, NULL), ==, SQLITE_OK);
    sqlite3_close (db);
    g_autofree char *objects = g_build_filename (panel->dir, "store", "dev-1", second, NULL);
    test_rm_rf (objects);
  }

  /* The first incident, as the desk holds it: the receipt shows more. */
  g_autofree char *folder = g_build_filename (desk->spool, first, NULL);
  g_autofree char *out = NULL;
  const char *verify[] = { "verify", "--receipt", receipts_path, "--panel-key", pub, folder, NULL };
  g_assert_cmpint (ctl (&out, verify), ==, 1);
  g_test_message ("ansimctl verify --receipt (newest deleted):\n%s", out);
  if (occurrences (out, "newer incident withheld") != 1)
    g_error ("not one \"newer incident withheld\" in:\n%s", out);
  g_clear_pointer (&out, g_free);

  /* An export of it carries the panel's current receipt, which (the
   * newest deleted) names the first as the newest; the desk's receipt
   * shows what was withheld. */
  g_autoptr (TestConsole) console = test_console_new (panel->url, NULL, 30);
  TestLogin guard = { 0 };
  test_console_login (console, "guard", PASSWORD, &guard);
  g_autofree char *sql1 = g_strdup_printf ("SELECT id FROM incidents WHERE uuid = '%s'", first);
  g_autofree char *path =
    g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/export", test_panel_count (panel, sql1));
  g_autofree char *url = g_strconcat (panel->url, path, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  soup_message_headers_append (soup_message_get_request_headers (msg), "Cookie", guard.cookie);
  soup_message_headers_append (soup_message_get_request_headers (msg), "X-CSRF-Token", guard.csrf);
  static const char form[] =
    "{\"recipient\":\"서울중부경찰서\",\"purpose\":\"수사기관 요청\","
    "\"legal_basis\":\"개인정보 보호법 제18조제2항제7호\",\"media\":false}";
  g_autoptr (GBytes) form_bytes = g_bytes_new_static (form, sizeof form - 1);
  soup_message_set_request_body_from_bytes (msg, "application/json", form_bytes);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) tar = soup_session_send_and_read (console->http, msg, NULL, &error);
  g_assert_no_error (error);
  test_login_clear (&guard);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  g_autofree char *package = g_build_filename (dir, "export.tar", NULL);
  test_write_file (package, g_bytes_get_data (tar, NULL), g_bytes_get_size (tar));
  g_autofree char *own = NULL, *err = NULL;
  g_assert_cmpint (
    test_run (&own, &err, "tar", "-xOf", package, "--wildcards", "*/receipt.txt", NULL), ==, 0);
  g_assert_nonnull (strstr (own, "ansim chain receipt v1\ndevice dev-1\nsource cam\n"));
  g_assert_nonnull (strstr (own, "incidents 1\n"));
  g_autofree char *own_path = g_build_filename (dir, "own-receipt.txt", NULL);
  test_write_file (own_path, own, -1);
  const char *own_check[] = { "verify", "--receipt", own_path, package, NULL };
  g_assert_cmpint (ctl (&out, own_check), ==, 0);
  g_assert_nonnull (strstr (out, "this is the newest incident"));
  g_clear_pointer (&out, g_free);
  const char *desk_check[] = { "verify", "--receipt", receipts_path, "--panel-key",
                               pub,      package,     NULL };
  g_assert_cmpint (ctl (&out, desk_check), ==, 1);
  g_assert_nonnull (strstr (out, "newer incident withheld"));
  g_clear_pointer (&out, g_free);

  /* A receipt signed by another key is refused, whatever it says. */
  g_autofree char *other_dir = g_build_filename (dir, "other", NULL);
  g_assert_cmpint (g_mkdir (other_dir, 0700), ==, 0);
  const char *other_key[] = { "panel-key", "--data-dir", other_dir, NULL };
  g_assert_cmpint (ctl (&out, other_key), ==, 0);
  g_clear_pointer (&out, g_free);
  g_autofree char *other_pub = g_build_filename (other_dir, "panel-signing.pub.pem", NULL);
  const char *wrong[] = { "verify",  "--receipt", receipts_path, "--panel-key",
                          other_pub, folder,      NULL };
  g_assert_cmpint (ctl (&out, wrong), ==, 1);
  g_assert_nonnull (strstr (out, "receipt REFUSED"));
  g_assert_null (strstr (out, "newer incident withheld"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  set_up ();
  g_test_add_func ("/notes/audit-rewrite", test_audit_rewrite);
  g_test_add_func ("/notes/receipt-withheld", test_receipt_withheld);
  int status = g_test_run ();
  tear_down ();
  return status;
}
