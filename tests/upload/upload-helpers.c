/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the upload tests' desk (incidents sealed with the
 * evidence library, outbox rows queued per docs/schema.md) and the real
 * panel and uploader processes they run against. */
#include "upload-helpers.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "httpsig.h"
#include "outbox.h"
#include "test-sql.h"

TestDesk *
test_desk_new (const char *dir)
{
  return test_desk_new_at (dir, "dev-1", "desk-1", "민원실 1번 창구");
}

TestDesk *
test_desk_new_at (const char *dir, const char *device_id, const char *desk_id,
                  const char *desk_name)
{
  g_autoptr (GError) error = NULL;
  TestDesk *desk = g_new0 (TestDesk, 1);
  desk->dir = g_strdup (dir);
  desk->device_id = g_strdup (device_id);
  desk->desk_id = g_strdup (desk_id);
  desk->spool = g_build_filename (dir, "spool", NULL);
  desk->key_path = g_build_filename (dir, "device.pem", NULL);
  g_assert_cmpint (g_mkdir_with_parents (desk->spool, 0700), ==, 0);
  g_autofree char *db_path = g_build_filename (dir, "desk.db", NULL);
  desk->db = ansim_db_open (&ansim_desk_db_schema, db_path, &error);
  g_assert_no_error (error);
  desk->key = ansim_device_key_load_or_create (desk->key_path, &error);
  g_assert_no_error (error);
  g_autoptr (AnsimAgeIdentity) identity = ansim_age_identity_generate (&error);
  g_assert_no_error (error);
  desk->recipient = ansim_age_identity_to_recipient (identity);
  desk->site_key_path = g_build_filename (dir, "site.key", NULL);
  {
    g_autofree char *text = ansim_age_identity_to_string (identity);
    g_autofree char *line = g_strconcat (text, "\n", NULL);
    int fd = g_open (desk->site_key_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint (fd, >=, 0);
    g_assert_cmpint (write (fd, line, strlen (line)), ==, (gssize) strlen (line));
    close (fd);
  }
  g_autofree char *sql =
    g_strdup_printf ("INSERT INTO desks (id, name) VALUES ('%s', '%s') ON CONFLICT DO NOTHING;"
                     "INSERT INTO triggers (desk_id, name, kind, input) VALUES "
                     "('%s', 'desk-button', 'button', 'simulated') ON CONFLICT DO NOTHING;",
                     desk_id, desk_name, desk_id);
  test_sql_exec (desk->db, sql);
  return desk;
}

void
test_desk_free (TestDesk *desk)
{
  if (desk == NULL)
    return;
  sqlite3_close (desk->db);
  ansim_device_key_free (desk->key);
  ansim_age_recipient_free (desk->recipient);
  g_free (desk->dir);
  g_free (desk->spool);
  g_free (desk->key_path);
  g_free (desk->site_key_path);
  g_free (desk->prev_manifest_sha256);
  g_free (desk->device_id);
  g_free (desk->desk_id);
  g_free (desk);
}

struct _TestIncident {
  TestDesk *desk;
  AnsimManifest *manifest;
  gint64 id;
  char *uuid;
  char *dir; /* spool/<uuid> */
  gint64 next_wall_us, next_mono_us;
};

const char *
test_incident_get_uuid (TestIncident *incident)
{
  return incident->uuid;
}

gint64
test_incident_get_id (TestIncident *incident)
{
  return incident->id;
}

AnsimManifest *
test_incident_get_manifest (TestIncident *incident)
{
  return incident->manifest;
}

TestIncident *
test_incident_open (TestDesk *desk)
{
  g_autoptr (GError) error = NULL;
  TestIncident *inc = g_new0 (TestIncident, 1);
  inc->desk = desk;
  gint64 wall = g_get_real_time (), mono = g_get_monotonic_time ();
  AnsimManifestInfo info = {
    .device_id = desk->device_id,
    .desk_id = desk->desk_id,
    .trigger_name = "desk-button",
    .trigger_kind = ANSIM_TRIGGER_BUTTON,
    .opened_wall_us = wall,
    .opened_mono_us = mono,
    .previous_manifest_sha256 = desk->prev_manifest_sha256,
    .source = desk->source,
  };
  inc->manifest = ansim_manifest_new (&info, desk->key, &error);
  g_assert_no_error (error);
  inc->uuid = g_strdup (ansim_manifest_get_incident_id (inc->manifest));
  inc->dir = g_build_filename (desk->spool, inc->uuid, NULL);
  /* pre-event footage starts 2 s before the press */
  inc->next_wall_us = wall - 2 * G_USEC_PER_SEC;
  inc->next_mono_us = mono - 2 * G_USEC_PER_SEC;

  g_assert_true (ansim_db_begin (desk->db, &error));
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    desk->db,
    "INSERT INTO incidents (uuid, desk_id, trigger, trigger_kind, opened_wall_us, opened_mono_us, "
    "prev_manifest_hash) VALUES (?1, ?5, 'desk-button', 'button', ?2, ?3, ?4)",
    &error);
  g_assert_no_error (error);
  sqlite3_bind_text (stmt, 1, inc->uuid, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, wall);
  sqlite3_bind_int64 (stmt, 3, mono);
  if (desk->prev_manifest_sha256 != NULL)
    sqlite3_bind_text (stmt, 4, desk->prev_manifest_sha256, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 5, desk->desk_id, -1, SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
  inc->id = sqlite3_last_insert_rowid (desk->db);
  gint64 event_id = 0;
  g_assert_true (ansim_outbox_queue_alert (desk->db, inc->id, NULL, &error));
  g_assert_true (ansim_db_log_event (desk->db, "incident-opened", desk->desk_id, "desk-button",
                                     inc->id, mono, "{\"pre_event_s\": 2}", &event_id, &error));
  g_assert_true (ansim_outbox_queue_event (desk->db, event_id, NULL, &error));
  g_assert_true (ansim_db_commit (desk->db, &error));
  g_assert_no_error (error);
  return inc;
}

static void
queue_manifest (TestIncident *inc)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *rel = g_build_filename (inc->uuid, ANSIM_MANIFEST_NAME, NULL);
  g_assert_true (ansim_outbox_queue_manifest (inc->desk->db, inc->id, rel, NULL, &error));
  g_assert_no_error (error);
}

void
test_incident_add_segment (TestIncident *inc, gsize size)
{
  g_autofree guint8 *plain = g_malloc (size);
  for (gsize i = 0; i < size; i += 4)
    {
      guint32 r = g_random_int ();
      memcpy (plain + i, &r, MIN (4, size - i));
    }
  test_incident_add_segment_data (inc, plain, size);
}

void
test_incident_add_segment_data (TestIncident *inc, const void *plain, gsize size)
{
  test_incident_add_segment_timed (inc, plain, size, 2 * G_USEC_PER_SEC);
}

void
test_incident_add_gap (TestIncident *inc, gint64 duration, const char *reason)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (ansim_manifest_add_gap (inc->manifest, inc->next_wall_us, inc->next_mono_us,
                                         duration, reason, &error));
  g_assert_no_error (error);
  g_assert_true (ansim_manifest_write (inc->manifest, inc->dir, inc->desk->key, &error));
  g_assert_no_error (error);
  inc->next_wall_us += duration;
  inc->next_mono_us += duration;
}

void
test_incident_add_segment_timed (TestIncident *inc, const void *plain, gsize size, gint64 duration)
{
  g_autoptr (GError) error = NULL;
  TestDesk *desk = inc->desk;
  g_autofree char *name = ansim_manifest_next_segment_name (inc->manifest);
  g_assert_true (ansim_manifest_seal_segment (inc->manifest, inc->dir, &desk->recipient, 1, plain,
                                              size, inc->next_wall_us, inc->next_mono_us, duration,
                                              &error));
  g_assert_no_error (error);
  g_assert_true (ansim_manifest_write (inc->manifest, inc->dir, desk->key, &error));
  g_assert_no_error (error);
  guint n = ansim_manifest_get_n_entries (inc->manifest);
  const AnsimManifestEntry *e = ansim_manifest_get_entry (inc->manifest, n - 1);
  char hash[ANSIM_SHA256_HEX_LEN + 1];
  ansim_manifest_entry_hash (e, hash);
  g_autofree char *rel = g_build_filename (inc->uuid, name, NULL);

  g_assert_true (ansim_db_begin (desk->db, &error));
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    desk->db,
    "INSERT INTO segments (incident_id, idx, kind, start_wall_us, start_mono_us, duration_us, "
    "plain_size, cipher_size, plain_sha256, cipher_sha256, prev_entry_hash, entry_hash, "
    "spool_path, sealed_at_us) VALUES (?1, ?2, 'media', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
    "?12, ?13)",
    &error);
  g_assert_no_error (error);
  sqlite3_bind_int64 (stmt, 1, inc->id);
  sqlite3_bind_int64 (stmt, 2, e->index);
  sqlite3_bind_int64 (stmt, 3, e->start_wall_us);
  sqlite3_bind_int64 (stmt, 4, e->start_mono_us);
  sqlite3_bind_int64 (stmt, 5, e->duration_us);
  sqlite3_bind_int64 (stmt, 6, e->plain_size);
  sqlite3_bind_int64 (stmt, 7, e->cipher_size);
  sqlite3_bind_text (stmt, 8, e->sha256_plain, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 9, e->sha256_cipher, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 10, e->prev, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 11, hash, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 12, rel, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 13, g_get_real_time ());
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
  g_assert_true (ansim_outbox_queue_segment (desk->db, inc->id, e->index, rel, NULL, &error));
  queue_manifest (inc);
  g_assert_true (ansim_db_commit (desk->db, &error));
  g_assert_no_error (error);
  inc->next_wall_us += duration;
  inc->next_mono_us += duration;
}

void
test_incident_close (TestIncident *inc)
{
  g_autoptr (GError) error = NULL;
  TestDesk *desk = inc->desk;
  gint64 wall = g_get_real_time (), mono = g_get_monotonic_time ();
  g_assert_true (ansim_manifest_close (inc->manifest, "post-event", wall, mono, &error));
  g_assert_true (ansim_manifest_write (inc->manifest, inc->dir, desk->key, &error));
  g_assert_no_error (error);
  const char *hash = ansim_manifest_get_written_sha256 (inc->manifest);
  g_assert_true (ansim_db_begin (desk->db, &error));
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
    desk->db,
    "UPDATE incidents SET closed_wall_us = ?2, closed_mono_us = ?3, close_reason = 'post-event', "
    "manifest_hash = ?4 WHERE id = ?1",
    &error);
  sqlite3_bind_int64 (stmt, 1, inc->id);
  sqlite3_bind_int64 (stmt, 2, wall);
  sqlite3_bind_int64 (stmt, 3, mono);
  sqlite3_bind_text (stmt, 4, hash, -1, SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
  queue_manifest (inc);
  g_assert_true (ansim_db_commit (desk->db, &error));
  g_free (desk->prev_manifest_sha256);
  desk->prev_manifest_sha256 = g_strdup (hash);
  ansim_manifest_free (inc->manifest);
  g_free (inc->uuid);
  g_free (inc->dir);
  g_free (inc);
}

char *
test_desk_record (TestDesk *desk, guint n_segments, gsize size)
{
  TestIncident *inc = test_incident_open (desk);
  char *uuid = g_strdup (inc->uuid);
  for (guint i = 0; i < n_segments; i++)
    test_incident_add_segment (inc, size);
  test_incident_close (inc);
  return uuid;
}

static gint64
count (sqlite3 *db, const char *sql)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (db, sql, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  return sqlite3_column_int64 (stmt, 0);
}

gint64
test_desk_count (TestDesk *desk, const char *where)
{
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM outbox WHERE %s", where);
  return count (desk->db, sql);
}

/* ---- processes -------------------------------------------------------------- */

TestPanel *
test_panel_new (const char *dir, const char *extra)
{
  TestPanel *p = g_new0 (TestPanel, 1);
  p->dir = g_strdup (dir);
  p->port = test_free_port ();
  p->url = g_strdup_printf ("http://127.0.0.1:%u", p->port);
  p->host = g_strdup ("127.0.0.1");
  p->conf = g_build_filename (dir, "panel.conf", NULL);
  p->log_path = g_build_filename (dir, "panel.log", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_autofree char *text = g_strdup_printf ("[panel]\ndata_dir = %s\nport = %u\n%s\n", dir, p->port,
                                           extra != NULL ? extra : "");
  g_assert_true (g_file_set_contents (p->conf, text, -1, NULL));
  return p;
}

static void
sh_ok (const char *cmd)
{
  const char *argv[] = { "sh", "-c", cmd, NULL };
  int status = 0;
  g_autofree char *out = NULL; /* captured: on the test's stdout it would break TAP */
  g_autofree char *err = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               &err, &status, NULL));
  if (status != 0)
    g_error ("%s: %s%s", cmd, out, err);
}

TestPanel *
test_panel_new_https (const char *dir, const char *extra)
{
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_autofree char *cmd = g_strdup_printf (
    "cd '%s' && "
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key "
    "  -out ca.pem -days 2 -subj /CN=ansim-test-ca && "
    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key "
    "  -out server.csr -subj /CN=127.0.0.1 && "
    "printf 'subjectAltName=IP:127.0.0.1\n' > san.ext && "
    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem "
    "  -days 2 -extfile san.ext",
    dir);
  sh_ok (cmd);
  g_autofree char *tls =
    g_strdup_printf ("tls_certificate = %s/server.pem\ntls_key = %s/server.key\n%s", dir, dir,
                     extra != NULL ? extra : "");
  TestPanel *p = test_panel_new (dir, tls);
  g_free (p->url);
  p->url = g_strdup_printf ("https://127.0.0.1:%u", p->port);
  p->ca_file = g_build_filename (dir, "ca.pem", NULL);
  return p;
}

static gboolean
panel_answers (gpointer data)
{
  TestPanel *p = data;
  g_autoptr (GSocketClient) c = g_socket_client_new ();
  g_autoptr (GSocketConnection) conn =
    g_socket_client_connect_to_host (c, p->host, p->port, NULL, NULL);
  return conn != NULL;
}

void
test_panel_start (TestPanel *p)
{
  test_panel_start_env (p, NULL);
}

void
test_panel_start_env (TestPanel *p, const char *const *env)
{
  g_autofree char *exe = test_build_path ("panel/ansim-panel");
  const char *argv[] = { exe, "--config", p->conf, NULL };
  /* ip netns exec runs the panel in its own process (execvp after setns) */
  const char *in_netns[] = { "ip", "netns", "exec", p->netns, exe, "--config", p->conf, NULL };
  g_assert_null (p->proc);
  p->proc = test_spawn_logged (p->log_path, p->netns != NULL ? in_netns : argv, env);
  if (!test_wait_until (panel_answers, p, 10))
    {
      g_autofree char *log = NULL;
      g_file_get_contents (p->log_path, &log, NULL, NULL);
      g_error ("ansim-panel did not start; its log:\n%s", log);
    }
}

void
test_panel_stop (TestPanel *p, int sig)
{
  test_process_stop (p->proc, sig);
  g_clear_object (&p->proc);
}

void
test_panel_free (TestPanel *p)
{
  if (p == NULL)
    return;
  test_panel_stop (p, SIGTERM);
  g_free (p->dir);
  g_free (p->conf);
  g_free (p->url);
  g_free (p->log_path);
  g_free (p->ca_file);
  g_free (p->host);
  g_free (p->netns);
  g_free (p);
}

TestPanel *
test_panel_new_in_netns (const char *dir, const char *extra, const char *netns, const char *address)
{
  /* Plain HTTP on a test network's address, as behind a TLS proxy. */
  g_autofree char *more = g_strdup_printf ("listen_address = %s\nallow_plain_http = true\n%s",
                                           address, extra != NULL ? extra : "");
  TestPanel *p = test_panel_new (dir, more);
  p->netns = g_strdup (netns);
  g_free (p->host);
  p->host = g_strdup (address);
  g_free (p->url);
  p->url = g_strdup_printf ("http://%s:%u", address, p->port);
  return p;
}

sqlite3 *
test_panel_open_db (TestPanel *p)
{
  g_autofree char *path = g_build_filename (p->dir, "panel.db", NULL);
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 5000);
  return db;
}

gint64
test_panel_count (TestPanel *p, const char *sql)
{
  sqlite3 *db = test_panel_open_db (p);
  gint64 n = count (db, sql);
  sqlite3_close (db);
  return n;
}

void
test_panel_enroll (TestPanel *p, TestDesk *desk, const char *device_id)
{
  const char *make[] = { "enroll-code", "--config", p->conf,       "--device",
                         device_id,     "--desk",   desk->desk_id, NULL };
  g_autofree char *code = g_strstrip (test_ansimctl_ok (NULL, make));
  const char *enroll[] = {
    "enroll",   "--data-dir", desk->dir,  "--panel", p->url,
    "--code",   code,         "--device", device_id, p->ca_file != NULL ? "--ca-file" : NULL,
    p->ca_file, NULL
  };
  g_autofree char *out = test_ansimctl_ok (NULL, enroll);
  g_assert_nonnull (strstr (out, "enrolled as device"));
}

TestIncident *
test_desk_press (TestDesk *desk, TestPanel *panel, gsize segment_size, gint64 *out_panel_id)
{
  TestIncident *incident = test_incident_open (desk);
  if (segment_size > 0)
    test_incident_add_segment (incident, segment_size);
  g_autofree char *sock = g_build_filename (desk->dir, "uploader.sock", NULL);
  /* An uploader just started (slowly, under ASan) may not listen yet: the
   * wake is retried for 10 s, as a recorder would find it at its next try. */
  gint64 wake_end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  for (;;)
    {
      g_autoptr (GError) error = NULL;
      if (ansim_outbox_wake_uploader (sock, &error))
        break;
      if (g_get_monotonic_time () > wake_end)
        g_error ("the uploader at %s does not take a wake: %s", sock, error->message);
      g_usleep (20000);
    }
  g_autofree char *sql = g_strdup_printf ("SELECT coalesce ((SELECT id FROM incidents WHERE "
                                          "uuid = '%s'), 0)",
                                          test_incident_get_uuid (incident));
  gint64 end = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
  gint64 id;
  while ((id = test_panel_count (panel, sql)) == 0)
    {
      if (g_get_monotonic_time () > end)
        g_error ("the alert of %s did not arrive", test_incident_get_uuid (incident));
      g_usleep (5000);
    }
  if (out_panel_id != NULL)
    *out_panel_id = id;
  return incident;
}

GSubprocess *
test_uploader_start (TestDesk *desk, const char *url, const char *extra)
{
  return test_uploader_start_env (desk, url, extra, NULL);
}

GSubprocess *
test_uploader_start_env (TestDesk *desk, const char *url, const char *extra, const char *const *env)
{
  g_autofree char *conf = g_build_filename (desk->dir, "uploader.conf", NULL);
  /* quick retries unless extra says otherwise */
  static const char *const defaults[] = { "retry_min = 1", "retry_max = 2", "poll_interval = 1" };
  g_autoptr (GString) text = g_string_new (NULL);
  g_string_append_printf (text, "[uploader]\ndata_dir = %s\npanel_url = %s\n%s\n", desk->dir, url,
                          extra != NULL ? extra : "");
  for (guint i = 0; i < G_N_ELEMENTS (defaults); i++)
    {
      g_autofree char *key = g_strndup (defaults[i], strchr (defaults[i], ' ') - defaults[i] + 2);
      if (extra == NULL || strstr (extra, key) == NULL)
        g_string_append_printf (text, "%s\n", defaults[i]);
    }
  g_assert_true (g_file_set_contents (conf, text->str, -1, NULL));
  g_autofree char *exe = test_build_path ("uploader/ansim-uploader");
  g_autofree char *log = g_build_filename (desk->dir, "uploader.log", NULL);
  const char *argv[] = { exe, "--config", conf, NULL };
  return test_spawn_logged (log, argv, env);
}

void
test_desk_sign (TestDesk *desk, const char *method, const char *path, const void *body, gsize len,
                char **out_digest, char **out_input, char **out_signature)
{
  g_autoptr (GError) error = NULL;
  *out_digest = ansim_httpsig_content_digest (body, len);
  g_assert_true (ansim_httpsig_sign (desk->key, method, path, *out_digest,
                                     g_get_real_time () / G_USEC_PER_SEC, NULL, out_input,
                                     out_signature, &error));
  g_assert_no_error (error);
}
