/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Retention over real HTTP on loopback: a real ansim-panel with the
 * filesystem store, a desk whose outbox is filled as the recorder fills it
 * and a real ansim-uploader. The settings API (roles, bad input, one audit
 * entry per change with old and new value), legal holds, and the purge
 * (`ansimctl purge --dry-run|--now` and the panel's periodic pass): expired
 * incidents leave the store and the database with one audit entry each,
 * held and unexpired ones stay, a purge interrupted half-way or killed
 * between the store and the database is finished by the next one. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "db.h"
#include "test-console.h"
#include "upload-helpers.h"

#define PASSWORD "retention-password-1"
#define DAY_US ((gint64) 86400 * G_USEC_PER_SEC)

static const char *const roles[] = { "security", "trainer", "admin", "auditor" };
enum { SECURITY, TRAINER, ADMIN, AUDITOR };

/* The incidents the tests work on, by what happens to them. */
enum {
  OLD_DRILL,   /* a drill 40 days old: purged (drill period 7 days) */
  HELD,        /* 40 days old, on legal hold: kept, then released and purged */
  OLD_FALSE,   /* 40 days old, false alarm (the incident period, 30): purged */
  NEW_DRILL,   /* a drill of today: kept */
  UNRESOLVED,  /* 40 days old, never resolved: kept */
  INTERRUPTED, /* 40 days old, its purge interrupted half-way: finished */
  N_INCIDENTS
};

static char *dir;
static TestPanel *panel;
static TestDesk *desk;
static GSubprocess *uploader;
static TestConsole *console;
static TestLogin logins[4];
static TestLogin second_admin; /* "admin2": the four eyes' other pair */
static char *uuids[N_INCIDENTS];
static gint64 ids[N_INCIDENTS];
static guint n_files[N_INCIDENTS];

/* ---- the panel's files -------------------------------------------------- */

static sqlite3 *
open_panel_db_rw (void)
{
  g_autofree char *path = g_build_filename (panel->dir, "panel.db", NULL);
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 5000);
  return db;
}

static void
panel_exec (const char *sql)
{
  sqlite3 *db = open_panel_db_rw ();
  char *message = NULL;
  if (sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
    g_error ("%s: %s", sql, message);
  sqlite3_close (db);
}

static char *
incident_dir (int which)
{
  return g_build_filename (panel->dir, "store", "dev-1", uuids[which], NULL);
}

/* Files in the incident's store directory; -1 when it is gone. */
static int
count_files (int which)
{
  g_autofree char *path = incident_dir (which);
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  int n = 0;
  if (d == NULL)
    return -1;
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static gint64
rows_of (int which)
{
  g_autofree char *sql = g_strdup_printf (
    "SELECT (SELECT count(*) FROM incidents WHERE id = %1$" G_GINT64_FORMAT ") + "
    "(SELECT count(*) FROM segments WHERE incident_id = %1$" G_GINT64_FORMAT ") + "
    "(SELECT count(*) FROM events WHERE incident_id = %1$" G_GINT64_FORMAT ") + "
    "(SELECT count(*) FROM drill_desks WHERE incident_id = %1$" G_GINT64_FORMAT ")",
    ids[which]);
  return test_panel_count (panel, sql);
}

/* Runs ansimctl ARGS --config CONF; kill_after (or NULL) goes to
 * ANSIM_TEST_PURGE_KILL_AFTER. Returns the exit status, or -SIGNAL. */
static int
ansimctl_with (char **out_text, const char *kill_after, const char *const *args)
{
  g_autofree char *ctl = test_build_path ("ansimctl/ansimctl");
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                               | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_ptr_array_add (argv, ctl);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, (gpointer) "--config");
  g_ptr_array_add (argv, panel->conf);
  g_ptr_array_add (argv, NULL);
  if (kill_after != NULL)
    g_subprocess_launcher_setenv (launcher, "ANSIM_TEST_PURGE_KILL_AFTER", kill_after, TRUE);
  g_autoptr (GSubprocess) p =
    g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (p, PASSWORD "\n", NULL, out_text, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("ansimctl %s: %s", args[0], *out_text);
  if (g_subprocess_get_if_signaled (p))
    return -g_subprocess_get_term_sig (p);
  return test_exit_code (p);
}

static int
ansimctl (char **out_text, const char *const *args)
{
  return ansimctl_with (out_text, NULL, args);
}

/* ---- set-up ------------------------------------------------------------- */

static gboolean
all_confirmed (gpointer data)
{
  (void) data;
  return test_desk_count (desk, "confirmed_at_us IS NULL") == 0;
}

static void
set_up (void)
{
  g_autoptr (GError) error = NULL;
  dir = g_dir_make_tmp ("ansim-retention-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);
  desk = test_desk_new (desk_dir);
  panel = test_panel_new (panel_dir, "purge_interval_s = 0");
  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    {
      const char *args[] = { "user", "add", roles[i], "--role", roles[i], "--password-stdin", NULL };
      g_autofree char *out = NULL;
      if (ansimctl (&out, args) != 0)
        g_error ("ansimctl user add: %s", out);
    }
  {
    const char *args[] = { "user", "add", "admin2", "--role", "admin", "--password-stdin", NULL };
    g_autofree char *out = NULL;
    if (ansimctl (&out, args) != 0)
      g_error ("ansimctl user add: %s", out);
  }
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");

  for (int i = 0; i < N_INCIDENTS; i++)
    uuids[i] = test_desk_record (desk, 2, 3000);
  uploader = test_uploader_start (desk, panel->url, NULL);
  g_assert_true (test_wait_until (all_confirmed, NULL, 60));
  /* Two of them the panel took for drills (an armed drill's presses; only
   * the panel tags drills, docs/protocol.md). */
  for (int i = 0; i < N_INCIDENTS; i++)
    if (i == OLD_DRILL || i == NEW_DRILL)
      {
        g_autofree char *sql =
          g_strdup_printf ("UPDATE incidents SET is_drill = 1 WHERE uuid = '%s'", uuids[i]);
        panel_exec (sql);
      }
  for (int i = 0; i < N_INCIDENTS; i++)
    {
      g_autofree char *sql =
        g_strdup_printf ("SELECT id FROM incidents WHERE uuid = '%s'", uuids[i]);
      ids[i] = test_panel_count (panel, sql);
      g_assert_cmpint (ids[i], >, 0);
      n_files[i] = count_files (i);
      /* Two segments, and at least one manifest with its signature. */
      g_assert_cmpint (n_files[i], >=, 4);
    }
  g_assert_cmpint (test_panel_count (panel, "SELECT count(*) FROM incidents WHERE is_drill"), ==,
                   2);
  console = test_console_new (panel->url, NULL, 10);
  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    test_console_login (console, roles[i], PASSWORD, &logins[i]);
  test_console_login (console, "admin2", PASSWORD, &second_admin);
}

static void
tear_down (void)
{
  g_clear_pointer (&console, test_console_free);
  if (uploader != NULL)
    test_process_stop (uploader, SIGTERM);
  g_clear_object (&uploader);
  g_clear_pointer (&panel, test_panel_free);
  g_clear_pointer (&desk, test_desk_free);
  for (guint i = 0; i < G_N_ELEMENTS (logins); i++)
    test_login_clear (&logins[i]);
  for (int i = 0; i < N_INCIDENTS; i++)
    g_free (uuids[i]);
  test_rm_rf (dir);
  g_free (dir);
}

/* ---- tests -------------------------------------------------------------- */

static gint64
effective_days (JsonNode *policy, const char *category)
{
  JsonArray *a = json_object_get_array_member (json_node_get_object (policy), "policy");
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonObject *o = json_array_get_object_element (a, i);
      if (g_str_equal (json_object_get_string_member (o, "category"), category))
        return json_object_get_int_member (o, "effective_days");
    }
  g_error ("no category %s in the policy", category);
}

static void
test_settings (void)
{
  static const struct {
    const char *body;
    const char *names; /* the answer must name this */
  } bad[] = {
    { "{\"drill\": -1}", "drill" },
    { "{\"drill\": 0}", "drill" },
    { "{\"incident\": 36500}", "incident" },
    { "{\"assault\": \"30\"}", "assault" },
    { "{\"drill\": 1.5}", "drill" },
    { "{\"drill\": true}", "drill" },
    { "{\"drill\": 7, \"threat\": -3}", "threat" },
    { "{\"car-crash\": 5}", "car-crash" },
    { "{}", "category" },
    { "[30]", "object" },
  };
  guint status = 0;
  g_autofree char *body = NULL;
  g_autoptr (JsonNode) before =
    test_console_get_ok (console, "/api/settings/retention", &logins[ADMIN]);
  g_autofree char *before_text = json_to_string (before, FALSE);
  guint changes =
    test_console_count_audit (console, &logins[AUDITOR], "setting-changed", NULL, NULL);

  /* The embedded defaults. */
  g_assert_cmpint (effective_days (before, "drill"), ==, 30);
  g_assert_cmpint (effective_days (before, "incident"), ==, 30);
  g_assert_cmpint (effective_days (before, "assault"), ==, 30);

  /* Who may read, who may change. */
  g_free (test_console_request (console, "GET", "/api/settings/retention", NULL, TEST_CSRF_NONE,
                                "application/json", NULL, 0, &status, NULL));
  g_assert_cmpuint (status, ==, 401);
  g_free (test_console_request (console, "GET", "/api/settings/retention", &logins[SECURITY],
                                TEST_CSRF_NONE, "application/json", NULL, 0, &status, NULL));
  g_assert_cmpuint (status, ==, 403);
  g_free (test_console_request (console, "GET", "/api/settings/retention", &logins[TRAINER],
                                TEST_CSRF_NONE, "application/json", NULL, 0, &status, NULL));
  g_assert_cmpuint (status, ==, 403);
  g_autoptr (JsonNode) seen =
    test_console_get_ok (console, "/api/settings/retention", &logins[AUDITOR]);
  (void) seen;
  g_assert_cmpint (test_console_post (console, "/api/settings/retention", &logins[AUDITOR], TRUE,
                                      "{\"drill\": 7}", NULL),
                   ==, 403);
  g_assert_cmpint (test_console_post (console, "/api/settings/retention", &logins[SECURITY], TRUE,
                                      "{\"drill\": 7}", NULL),
                   ==, 403);
  g_free (test_console_request (console, "POST", "/api/settings/retention", &logins[ADMIN],
                                TEST_CSRF_NONE, "application/json", "{\"drill\": 7}", 0, &status,
                                NULL));
  g_assert_cmpuint (status, ==, 403); /* no CSRF token */

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *reply = NULL;
      g_assert_cmpint (test_console_post (console, "/api/settings/retention", &logins[ADMIN], TRUE,
                                          bad[i].body, &reply),
                       ==, 400);
      if (strstr (reply, bad[i].names) == NULL)
        g_error ("%s: the answer %s does not name %s", bad[i].body, reply, bad[i].names);
    }
  /* Nothing changed, nothing audited. */
  g_autoptr (JsonNode) after_bad =
    test_console_get_ok (console, "/api/settings/retention", &logins[ADMIN]);
  g_autofree char *after_bad_text = json_to_string (after_bad, FALSE);
  g_assert_cmpstr (after_bad_text, ==, before_text);
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "setting-changed", NULL, NULL), ==,
    changes);

  /* A change: one audit entry per category, with old and new value. */
  g_assert_cmpint (test_console_post (console, "/api/settings/retention", &logins[ADMIN], TRUE,
                                      "{\"drill\": 7, \"assault\": 400}", &body),
                   ==, 200);
  g_autoptr (JsonNode) changed = test_json_parse (body);
  g_assert_cmpint (effective_days (changed, "drill"), ==, 7);
  g_assert_cmpint (effective_days (changed, "assault"), ==, 400);
  g_assert_cmpint (effective_days (changed, "threat"), ==, 30);
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "setting-changed", NULL, NULL), ==,
    changes + 2);
  g_autoptr (JsonObject) entry = NULL;
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR], "setting-changed",
                                              "retention drill", &entry),
                    ==, 1);
  JsonObject *detail = json_object_get_object_member (entry, "detail");
  g_assert_cmpstr (json_object_get_string_member (entry, "actor"), ==, "admin");
  g_assert_cmpstr (json_object_get_string_member (detail, "setting"), ==, "retention.drill");
  g_assert_cmpint (json_object_get_int_member (detail, "old_days"), ==, 30);
  g_assert_cmpint (json_object_get_int_member (detail, "new_days"), ==, 7);
  g_assert_true (json_object_get_boolean_member (detail, "old_is_default"));

  /* The same again changes nothing and writes nothing; null goes back to
   * the default. */
  g_assert_cmpint (test_console_post (console, "/api/settings/retention", &logins[ADMIN], TRUE,
                                      "{\"drill\": 7}", NULL),
                   ==, 200);
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "setting-changed", NULL, NULL), ==,
    changes + 2);
  g_clear_pointer (&body, g_free);
  g_assert_cmpint (test_console_post (console, "/api/settings/retention", &logins[ADMIN], TRUE,
                                      "{\"assault\": null}", &body),
                   ==, 200);
  g_autoptr (JsonNode) reset = test_json_parse (body);
  g_assert_cmpint (effective_days (reset, "assault"), ==, 30);
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR], "setting-changed",
                                              "retention assault", NULL),
                    ==, 2);
}

static void
test_legal_hold (void)
{
  g_autofree char *path =
    g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/legal-hold", ids[HELD]);
  g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, ids[HELD]);
  g_autofree char *show = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT, ids[HELD]);
  const char *good = "{\"hold\": true, \"reason\": \"종로경찰서 수사 협조 요청 2026-77\"}";
  g_autofree char *reply = NULL;

  /* Admins only; a reason is mandatory. */
  g_assert_cmpint (test_console_post (console, path, &logins[SECURITY], TRUE, good, NULL), ==, 403);
  g_assert_cmpint (test_console_post (console, path, &logins[AUDITOR], TRUE, good, NULL), ==, 403);
  g_assert_cmpint (
    test_console_post (console, path, &logins[ADMIN], TRUE, "{\"hold\": true}", &reply), ==, 400);
  g_assert_nonnull (strstr (reply, "reason"));
  g_assert_cmpint (test_console_post (console, path, &logins[ADMIN], TRUE,
                                      "{\"hold\": true, \"reason\": \"  \"}", NULL),
                   ==, 400);
  g_assert_cmpint (
    test_console_post (console, path, &logins[ADMIN], TRUE, "{\"reason\": \"x\"}", NULL), ==, 400);
  g_assert_cmpint (test_console_post (console, path, &logins[ADMIN], TRUE,
                                      "{\"hold\": true, \"reason\": \"x\", \"y\": 1}", NULL),
                   ==, 400);
  g_assert_cmpint (test_console_post (console, "/api/incidents/999999/legal-hold", &logins[ADMIN],
                                      TRUE, good, NULL),
                   ==, 404);
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "legal-hold-set", NULL, NULL), ==, 0);
  g_assert_cmpint (test_console_post (console, path, &logins[ADMIN], TRUE,
                                      "{\"hold\": false, \"reason\": \"x\"}", NULL),
                   ==, 409);

  g_assert_cmpint (test_console_post (console, path, &logins[ADMIN], TRUE, good, NULL), ==, 200);
  g_assert_cmpint (test_console_post (console, path, &logins[ADMIN], TRUE, good, NULL), ==, 409);
  g_autoptr (JsonObject) entry = NULL;
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "legal-hold-set", target, &entry), ==, 1);
  g_assert_cmpstr (
    json_object_get_string_member (json_object_get_object_member (entry, "detail"), "reason"), ==,
    "종로경찰서 수사 협조 요청 2026-77");

  /* Shown on the incident, to security staff too. */
  g_autoptr (JsonNode) detail = test_console_get_ok (console, show, &logins[SECURITY]);
  JsonObject *incident = json_object_get_object_member (json_node_get_object (detail), "incident");
  g_assert_true (json_object_get_boolean_member (incident, "legal_hold"));
  g_assert_cmpstr (json_object_get_string_member (incident, "legal_hold_by"), ==, "admin");
  g_autoptr (JsonNode) list = test_console_get_ok (console, "/api/incidents", &logins[SECURITY]);
  JsonArray *all = json_object_get_array_member (json_node_get_object (list), "incidents");
  guint held = 0;
  for (guint i = 0; i < json_array_get_length (all); i++)
    held += json_object_get_boolean_member (json_array_get_object_element (all, i), "legal_hold");
  g_assert_cmpuint (held, ==, 1);
}

static void
resolve (int which, const char *category)
{
  g_autofree char *path =
    g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/resolve", ids[which]);
  g_autofree char *body = g_strdup_printf ("{\"category\": \"%s\"}", category);
  g_assert_cmpint (test_console_post (console, path, &logins[SECURITY], TRUE, body, NULL), ==, 200);
}

static void
test_purge (void)
{
  g_autofree char *out = NULL;
  const char *dry[] = { "purge", "--dry-run", NULL };
  const char *now[] = { "purge", "--now", NULL };

  resolve (OLD_DRILL, "drill");
  resolve (HELD, "threat");
  resolve (OLD_FALSE, "false-alarm");
  resolve (NEW_DRILL, "drill");
  resolve (INTERRUPTED, "other");
  /* Forty days pass for all but the new drill. */
  g_autofree char *age =
    g_strdup_printf ("UPDATE incidents SET alerted_at_us = alerted_at_us - %" G_GINT64_FORMAT
                     " WHERE id <> %" G_GINT64_FORMAT,
                     40 * DAY_US, ids[NEW_DRILL]);
  panel_exec (age);
  /* The old drill was a trainer's armed drill: its desk row points at it. */
  g_autofree char *armed = g_strdup_printf (
    "INSERT INTO drills (id, armed_by, armed_at_us, window_start_us, window_end_us, ended_by, "
    "ended_at_us) VALUES (900, 'trainer', 1, 1, 2, 'trainer', 2);"
    "INSERT INTO drill_desks (drill_id, desk_id, incident_id) "
    "SELECT 900, desk_id, id FROM incidents WHERE id = %" G_GINT64_FORMAT,
    ids[OLD_DRILL]);
  panel_exec (armed);
  /* A purge that died after deleting one object of its incident. */
  g_autofree char *mark = g_strdup_printf (
    "UPDATE incidents SET purge_started_at_us = %" G_GINT64_FORMAT " WHERE id = %" G_GINT64_FORMAT,
    g_get_real_time (), ids[INTERRUPTED]);
  panel_exec (mark);
  {
    g_autofree char *d = incident_dir (INTERRUPTED);
    g_autofree char *seg = g_build_filename (d, "seg-000000.mkv.age", NULL);
    g_assert_cmpint (g_unlink (seg), ==, 0);
  }
  /* It can no longer be held: it may have lost objects already. */
  g_autofree char *hold_path =
    g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/legal-hold", ids[INTERRUPTED]);
  g_assert_cmpint (test_console_post (console, hold_path, &logins[ADMIN], TRUE,
                                      "{\"hold\": true, \"reason\": \"late\"}", NULL),
                   ==, 409);
  guint purged_before =
    test_console_count_audit (console, &logins[AUDITOR], "incident-purged", NULL, NULL);

  /* The dry run says what it would do and does nothing. */
  g_assert_cmpint (ansimctl (&out, dry), ==, 0);
  g_assert_nonnull (strstr (out, "3 incidents would be purged"));
  g_assert_nonnull (strstr (out, "on legal hold"));
  g_assert_nonnull (strstr (out, "not resolved yet"));
  g_assert_nonnull (strstr (out, "interrupted earlier"));
  for (int i = 0; i < N_INCIDENTS; i++)
    {
      g_assert_cmpint (rows_of (i), >, 0);
      g_assert_cmpint (count_files (i), ==, n_files[i] - (i == INTERRUPTED));
    }
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "incident-purged", NULL, NULL), ==,
    purged_before);

  /* A purge killed (as by a power cut) right after it destroyed the
   * objects of its first incident, before that incident's rows went: all
   * three stay marked, none can be held any more, nothing is audited yet. */
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ansimctl_with (&out, "1", now), ==, -SIGKILL);
  g_assert_cmpint (count_files (OLD_DRILL), ==, -1);
  g_assert_cmpint (rows_of (OLD_DRILL), >, 2);
  g_assert_cmpint (count_files (OLD_FALSE), ==, n_files[OLD_FALSE]);
  g_assert_cmpint (test_panel_count (panel, "SELECT count(*) FROM incidents WHERE "
                                            "purge_started_at_us IS NOT NULL"),
                   ==, 3);
  g_autofree char *hold_false =
    g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/legal-hold", ids[OLD_FALSE]);
  g_assert_cmpint (test_console_post (console, hold_false, &logins[ADMIN], TRUE,
                                      "{\"hold\": true, \"reason\": \"late\"}", NULL),
                   ==, 409);
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "incident-purged", NULL, NULL), ==,
    purged_before);

  /* The next run finishes all of it. */
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ansimctl (&out, now), ==, 0);
  g_assert_nonnull (strstr (out, "3 incidents purged"));
  for (int i = 0; i < N_INCIDENTS; i++)
    {
      gboolean gone = i == OLD_DRILL || i == OLD_FALSE || i == INTERRUPTED;
      g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, ids[i]);
      g_autoptr (JsonObject) entry = NULL;
      if (!gone)
        {
          /* Untouched: every row and every object. */
          g_assert_cmpint (count_files (i), ==, n_files[i]);
          g_assert_cmpint (rows_of (i), >, 2);
          g_assert_cmpuint (
            test_console_count_audit (console, &logins[AUDITOR], "incident-purged", target, NULL),
            ==, 0);
          continue;
        }
      g_assert_cmpint (count_files (i), ==, -1);
      g_assert_cmpint (rows_of (i), ==, 0);
      g_assert_cmpuint (
        test_console_count_audit (console, &logins[AUDITOR], "incident-purged", target, &entry), ==,
        1);
      JsonObject *d = json_object_get_object_member (entry, "detail");
      g_assert_cmpstr (json_object_get_string_member (d, "uuid"), ==, uuids[i]);
      g_assert_cmpstr (json_object_get_string_member (d, "desk"), ==, "desk-1");
      g_assert_cmpstr (json_object_get_string_member (d, "store"), ==, "filesystem");
      /* What was left: the killed run had destroyed the drill's objects. */
      g_assert_cmpint (json_object_get_int_member (d, "objects_deleted"), ==,
                       i == OLD_DRILL ? 0 : (int) n_files[i] - (i == INTERRUPTED));
      g_assert_cmpint (json_object_get_int_member (d, "segment_rows_deleted"), ==, 2);
      g_assert_cmpstr (json_object_get_string_member (d, "retention_category"), ==,
                       i == OLD_DRILL   ? "drill"
                       : i == OLD_FALSE ? "false-alarm"
                                        : "other");
      g_assert_cmpint (json_object_get_int_member (d, "retention_days"), ==,
                       i == OLD_DRILL ? 7 : 30);
      g_assert_true (json_object_get_boolean_member (d, "resumed"));
      g_assert_nonnull (
        strstr (json_object_get_string_member (d, "reason"), "retention period of"));
      g_assert_true (
        g_str_has_prefix (json_object_get_string_member (entry, "actor"), "ansimctl:"));
    }
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "incident-purged", NULL, NULL), ==,
    purged_before + 3);

  /* A second run finds nothing; the chain holds. */
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ansimctl (&out, now), ==, 0);
  g_assert_nonnull (strstr (out, "0 incidents purged"));
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "incident-purged", NULL, NULL), ==,
    purged_before + 3);
  g_clear_pointer (&out, g_free);
  const char *verify[] = { "audit", "verify", NULL };
  g_assert_cmpint (ansimctl (&out, verify), ==, 0);
}

/* Four eyes on the period of a held incident (HELD, resolved "threat"):
 * shortening it is a request another administrator decides; lengthening
 * it, or shortening a category without held incidents, is not. */
static void
test_shorten_held (void)
{
  g_autoptr (JsonNode) before =
    test_console_get_ok (console, "/api/settings/retention", &logins[ADMIN]);
  gint64 threat_days = effective_days (before, "threat");
  g_autoptr (JsonObject) entry = NULL;
  g_autofree char *asked = NULL;

  /* "incident" is what "threat" follows: shortening it shortens HELD's. */
  g_assert_cmpint (test_console_post (console, "/api/settings/retention", &logins[ADMIN], TRUE,
                                      "{\"incident\": 5}", &asked),
                   ==, 202);
  g_autoptr (JsonObject) request = test_json_parse_object (asked);
  g_assert_cmpstr (json_object_get_string_member (request, "categories"), ==, "threat");
  g_autofree char *decide = g_strdup_printf ("/api/approvals/%" G_GINT64_FORMAT,
                                             json_object_get_int_member (request, "approval"));
  g_autoptr (JsonNode) unchanged =
    test_console_get_ok (console, "/api/settings/retention", &logins[ADMIN]);
  g_assert_cmpint (effective_days (unchanged, "threat"), ==, threat_days);
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR],
                                              "retention-shorten-requested", "retention", &entry),
                    ==, 1);
  g_assert_cmpstr (json_object_get_string_member (entry, "actor"), ==, "admin");
  g_clear_pointer (&entry, json_object_unref);
  test_console_refused (console, decide, &logins[ADMIN], "{\"decision\": \"approve\"}", 403,
                        "second administrator");
  /* Rejected: nothing changes. */
  test_console_post_ok (console, decide, &second_admin, "{\"decision\": \"reject\"}", 200);
  g_clear_pointer (&unchanged, json_node_unref);
  unchanged = test_console_get_ok (console, "/api/settings/retention", &logins[ADMIN]);
  g_assert_cmpint (effective_days (unchanged, "threat"), ==, threat_days);
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR],
                                              "retention-shorten-rejected", "retention", NULL),
                    ==, 1);

  /* Asked again and approved: applied as the approver's change. */
  g_clear_pointer (&asked, g_free);
  g_assert_cmpint (test_console_post (console, "/api/settings/retention", &logins[ADMIN], TRUE,
                                      "{\"threat\": 20}", &asked),
                   ==, 202);
  g_clear_pointer (&request, json_object_unref);
  request = test_json_parse_object (asked);
  g_free (decide);
  decide = g_strdup_printf ("/api/approvals/%" G_GINT64_FORMAT,
                            json_object_get_int_member (request, "approval"));
  g_autoptr (JsonNode) after =
    test_console_post_ok (console, decide, &second_admin, "{\"decision\": \"approve\"}", 200);
  g_assert_cmpint (effective_days (after, "threat"), ==, 20);
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR], "setting-changed",
                                              "retention threat", &entry),
                    >=, 1);
  g_assert_cmpstr (json_object_get_string_member (entry, "actor"), ==, "admin2");
  g_clear_pointer (&entry, json_object_unref);
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR],
                                              "retention-shorten-approved", "retention", NULL),
                    ==, 1);

  /* Back to the default: longer, so no second pair of eyes. */
  g_autoptr (JsonNode) restored = test_console_post_ok (console, "/api/settings/retention",
                                                        &logins[ADMIN], "{\"threat\": null}", 200);
  g_assert_cmpint (effective_days (restored, "threat"), ==, threat_days);
}

static gboolean
held_gone (gpointer data)
{
  (void) data;
  return rows_of (HELD) == 0;
}

static void
test_release_then_periodic (void)
{
  g_autofree char *path =
    g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/legal-hold", ids[HELD]);
  g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, ids[HELD]);
  g_autofree char *conf = NULL;
  g_autoptr (JsonObject) entry = NULL;

  g_assert_cmpint (
    test_console_post (console, path, &logins[ADMIN], TRUE, "{\"hold\": false}", NULL), ==, 400);

  /* Four eyes: the first administrator only asks; the hold stays. */
  g_autofree char *asked = NULL;
  g_assert_cmpint (test_console_post (console, path, &logins[ADMIN], TRUE,
                                      "{\"hold\": false, \"reason\": \"수사 종결 통보\"}", &asked),
                   ==, 202);
  g_autoptr (JsonObject) request = test_json_parse_object (asked);
  g_assert_true (json_object_get_boolean_member (request, "legal_hold"));
  gint64 approval = json_object_get_int_member (request, "approval");
  g_autofree char *decide = g_strdup_printf ("/api/approvals/%" G_GINT64_FORMAT, approval);
  g_assert_cmpint (test_panel_count (panel, "SELECT count(*) FROM incidents WHERE "
                                            "legal_hold_at_us IS NOT NULL AND id IN "
                                            "(SELECT incident_id FROM approvals)"),
                   ==, 1);
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR],
                                              "legal-hold-release-requested", target, &entry),
                    ==, 1);
  g_assert_cmpstr (json_object_get_string_member (entry, "actor"), ==, "admin");
  g_clear_pointer (&entry, json_object_unref);
  /* A second request while one waits, and the asker approving it: refused. */
  test_console_refused (console, path, &logins[ADMIN], "{\"hold\": false, \"reason\": \"again\"}",
                        409, "already waits");
  test_console_refused (console, decide, &logins[ADMIN], "{\"decision\": \"approve\"}", 403,
                        "second administrator");
  test_console_refused (console, decide, &logins[SECURITY], "{\"decision\": \"approve\"}", 403,
                        NULL);
  test_console_refused (console, decide, &second_admin, "{\"decision\": \"withdraw\"}", 403,
                        "only admin");
  test_console_refused (console, decide, &second_admin, "{\"decision\": \"yes\"}", 400,
                        "approve, reject or withdraw");
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "legal-hold-released", target, NULL), ==,
    0);
  g_assert_cmpint (test_panel_count (panel, "SELECT count(*) FROM incidents WHERE "
                                            "legal_hold_at_us IS NOT NULL AND id IN "
                                            "(SELECT incident_id FROM approvals)"),
                   ==, 1);
  /* Even a direct write cannot let the asker decide (the table's CHECK). */
  {
    sqlite3 *db = open_panel_db_rw ();
    g_autofree char *sql = g_strdup_printf (
      "UPDATE approvals SET decision = 'approved', decided_by = 'admin', decided_at_us = 1 "
      "WHERE id = %" G_GINT64_FORMAT,
      approval);
    g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_CONSTRAINT);
    sqlite3_close (db);
  }
  /* The second administrator approves: released, audited with both names. */
  g_autoptr (JsonNode) listed = test_console_get_ok (console, "/api/approvals", &second_admin);
  JsonArray *approvals = json_object_get_array_member (json_node_get_object (listed), "approvals");
  g_assert_cmpuint (json_array_get_length (approvals), >=, 1);
  JsonObject *first = json_array_get_object_element (approvals, 0);
  g_assert_cmpint (json_object_get_int_member (first, "id"), ==, approval);
  g_assert_cmpstr (json_object_get_string_member (first, "status"), ==, "pending");
  g_assert_cmpstr (json_object_get_string_member (first, "requested_by"), ==, "admin");
  g_autoptr (JsonNode) released =
    test_console_post_ok (console, decide, &second_admin, "{\"decision\": \"approve\"}", 200);
  g_assert_false (json_object_get_boolean_member (json_node_get_object (released), "legal_hold"));
  test_console_refused (console, decide, &second_admin, "{\"decision\": \"approve\"}", 409,
                        "already approved");
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "legal-hold-released", target, &entry), ==,
    1);
  g_assert_cmpstr (json_object_get_string_member (entry, "actor"), ==, "admin2");
  JsonObject *detail = json_object_get_object_member (entry, "detail");
  g_assert_cmpstr (json_object_get_string_member (detail, "requested_by"), ==, "admin");
  g_assert_cmpstr (json_object_get_string_member (detail, "reason"), ==, "수사 종결 통보");
  g_assert_cmpint (json_object_get_int_member (detail, "approval"), ==, approval);
  g_clear_pointer (&entry, json_object_unref);
  g_assert_cmpint (count_files (HELD), ==, n_files[HELD]);

  /* The panel's own pass, every second. */
  test_panel_stop (panel, SIGTERM);
  g_assert_true (g_file_get_contents (panel->conf, &conf, NULL, NULL));
  g_autoptr (GString) text = g_string_new (conf);
  g_assert_cmpuint (g_string_replace (text, "purge_interval_s = 0", "purge_interval_s = 1", 1), ==,
                    1);
  g_assert_true (g_file_set_contents (panel->conf, text->str, -1, NULL));
  test_panel_start (panel);
  g_assert_true (test_wait_until (held_gone, NULL, 20));
  g_assert_cmpint (count_files (HELD), ==, -1);
  test_console_login (console, roles[AUDITOR], PASSWORD, &logins[AUDITOR]);
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "incident-purged", target, &entry), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (entry, "actor"), ==, "ansim-panel");
  /* The new drill and the unresolved incident are still there. */
  g_assert_cmpint (count_files (NEW_DRILL), ==, n_files[NEW_DRILL]);
  g_assert_cmpint (count_files (UNRESOLVED), ==, n_files[UNRESOLVED]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  set_up ();
  g_test_add_func ("/retention/settings", test_settings);
  g_test_add_func ("/retention/legal-hold", test_legal_hold);
  g_test_add_func ("/retention/purge", test_purge);
  g_test_add_func ("/retention/shorten-held", test_shorten_held);
  g_test_add_func ("/retention/release-then-periodic-purge", test_release_then_periodic);
  int rc = g_test_run ();
  tear_down ();
  return rc;
}
