/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Shared by the recorder's storage tests (crash safety, chains, full
 * disk): a recorder-host process on test sources in a temp dir, presses
 * through its control socket, the desk database, and `ansimctl verify`. */
#pragma once

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>

#include "db.h"
#include "evidence.h"
#include "control-client.h"

#define FPS 25

typedef struct {
  char *dir;              /* short: UNIX socket paths are limited */
  char *data_dir;
  char *spool_dir;
  char *config_path;
  char *key_path;
  char *pub_path;
  char *identity_path;
  char *recipient;
  char *log_path;
  GSubprocess *host;
} Fixture;

typedef struct {
  const char *recorder_extra;   /* extra [recorder] lines */
  gboolean two_sources;         /* a fixed camera and a wearable with sound */
  gboolean bodycam_trigger;     /* a second trigger, "bodycam" */
  int pre_event_s;
  int post_event_s;
  int bitrate_kbps;             /* of source cam; 0: 300 */
  const char *crash_at;         /* ANSIM_TEST_CRASH_AT for the first run */
  const char *expect;           /* what the restart must have done */
} Setup;

static inline char *
build_path (const char *rel)
{
  return g_build_filename (g_getenv ("ANSIM_BUILD_ROOT"), rel, NULL);
}

static inline void
write_config (Fixture *f, const Setup *s)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) c = g_string_new (NULL);

  g_string_append_printf (c,
    "[recorder]\ndevice_id = test-board\ndata_dir = %s\nspool_dir = %s\nrecipients = %s\n"
    "pre_event_seconds = %d\npost_event_seconds = %d\nsegment_seconds = 2\n"
    "notice_sound = none\n%s\n"
    "[desk]\nid = desk-1\nname = test desk\n\n"
    "[trigger desk-button]\ninput = simulated\nlong_press_ms = 600\n\n"
    "[output recording]\nkind = simulated\n\n"
    "[source cam]\nkind = fixed\nwidth = 320\nheight = 240\nframerate = %d\n"
    "bitrate_kbps = %d\nkeyframe_ms = 1000\n",
    f->data_dir, f->spool_dir, f->recipient, s->pre_event_s, s->post_event_s,
    s->recorder_extra != NULL ? s->recorder_extra : "", FPS,
    s->bitrate_kbps > 0 ? s->bitrate_kbps : 300);
  if (s->bodycam_trigger)
    g_string_append (c, "\n[trigger bodycam]\ninput = simulated\nkind = bodycam\n");
  if (s->two_sources)
    g_string_append_printf (c, "\n[source body]\nkind = wearable\naudio = test\nwidth = 240\n"
                            "height = 160\nframerate = %d\nbitrate_kbps = 200\n", FPS);
  g_file_set_contents (f->config_path, c->str, -1, &error);
  g_assert_no_error (error);
}

static inline void
fixture_setup (Fixture *f, const Setup *s)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("ansim-rs-XXXXXX", &error);
  g_assert_no_error (error);
  f->data_dir = g_build_filename (f->dir, "data", NULL);
  f->spool_dir = g_build_filename (f->dir, "spool", NULL);
  f->config_path = g_build_filename (f->dir, "recorder.conf", NULL);
  f->key_path = g_build_filename (f->dir, "device.pem", NULL);
  f->pub_path = g_build_filename (f->dir, "device.pub.pem", NULL);
  f->identity_path = g_build_filename (f->dir, "identity.txt", NULL);
  f->log_path = g_build_filename (f->dir, "recorder.log", NULL);
  char *secret = ansim_age_keygen (&f->recipient, &error);
  g_assert_no_error (error);
  g_file_set_contents_full (f->identity_path, secret, -1, G_FILE_SET_CONTENTS_NONE, 0600,
                            &error);
  g_assert_no_error (error);
  ansim_age_secret_free (secret);
  write_config (f, s);
}

static inline void
fixture_teardown (Fixture *f)
{
  if (f->host != NULL)
    {
      g_subprocess_force_exit (f->host);
      g_subprocess_wait (f->host, NULL, NULL);
      g_object_unref (f->host);
    }
  if (g_test_failed ())
    {
      g_autofree char *log = NULL;
      if (g_file_get_contents (f->log_path, &log, NULL, NULL))
        g_test_message ("recorder output:\n%s", log);
      g_test_message ("kept %s", f->dir);
    }
  else
    {
      g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", f->dir);
      g_assert_cmpint (system (cmd), ==, 0);
    }
  g_free (f->dir);
  g_free (f->data_dir);
  g_free (f->spool_dir);
  g_free (f->config_path);
  g_free (f->key_path);
  g_free (f->pub_path);
  g_free (f->identity_path);
  g_free (f->recipient);
  g_free (f->log_path);
}

static inline char *
read_log (Fixture *f)
{
  char *log = NULL;
  if (!g_file_get_contents (f->log_path, &log, NULL, NULL))
    return g_strdup ("");
  return log;
}

static inline guint
count_in_log (Fixture *f, const char *needle)
{
  g_autofree char *log = read_log (f);
  guint n = 0;
  for (const char *p = log; (p = strstr (p, needle)) != NULL; p++)
    n++;
  return n;
}

static inline void
wait_log (Fixture *f, const char *needle, guint count, guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (count_in_log (f, needle) < count)
    {
      if (g_get_monotonic_time () > end)
        {
          g_autofree char *log = read_log (f);
          g_error ("'%s' (x%u) not in the recorder's output after %u ms:\n%s", needle, count,
                   timeout_ms, log);
        }
      g_usleep (20000);
    }
}

static inline void
die_with_parent (gpointer data)
{
  (void) data;
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* env: NULL-terminated NAME, VALUE pairs, or NULL. */
static inline void
start_host_env (Fixture *f, const char *const *env)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *exe = build_path ("tests/recorder/recorder-host");
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_MERGE);

  g_subprocess_launcher_set_child_setup (l, die_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (l, "G_MESSAGES_DEBUG", "ansim-recorder", TRUE);
  g_subprocess_launcher_unsetenv (l, "ANSIM_TEST_CRASH_AT");
  for (guint i = 0; env != NULL && env[i] != NULL; i += 2)
    g_subprocess_launcher_setenv (l, env[i], env[i + 1], TRUE);
  /* Appending: a restarted recorder's words follow the killed one's. */
  int fd = g_open (f->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_subprocess_launcher_take_stdout_fd (l, fd);
  f->host = g_subprocess_launcher_spawn (l, &error, exe, f->config_path, f->key_path, NULL);
  g_assert_no_error (error);
}

static inline void
stop_host (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_subprocess_send_signal (f->host, SIGTERM);
  g_subprocess_wait (f->host, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (f->host));
  g_assert_cmpint (g_subprocess_get_exit_status (f->host), ==, 0);
  g_clear_object (&f->host);
}

static inline void
press_trigger (Fixture *f, const char *trigger, const char *how)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *sock = g_build_filename (f->data_dir, "control.sock", NULL);
  g_autofree char *req = g_strdup_printf ("press %s %s", trigger, how);
  g_autofree char *reply = ansim_control_request (sock, req, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (reply, "\"ok\":true"));
}

static inline void
press (Fixture *f, const char *how)
{
  press_trigger (f, "desk-button", how);
}

static inline sqlite3 *
open_db (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->data_dir, "desk.db", NULL);
  sqlite3 *db = ansim_db_open (&ansim_desk_db_schema, path, &error);
  g_assert_no_error (error);
  return db;
}

static inline gint64
query_int (sqlite3 *db, const char *sql)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (db, sql, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  return sqlite3_column_int64 (st, 0);
}

static inline void
wait_closed (Fixture *f, gint64 n, guint timeout_ms)
{
  g_autoptr (sqlite3) db = open_db (f);
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (query_int (db, "SELECT count(*) FROM incidents WHERE closed_wall_us IS NOT NULL") < n)
    {
      if (g_get_monotonic_time () > end)
        {
          g_autofree char *log = read_log (f);
          g_error ("%" G_GINT64_FORMAT " closed incident(s) not there after %u ms:\n%s", n,
                   timeout_ms, log);
        }
      g_usleep (50000);
    }
}

/* The incidents' uuids, oldest first, with the source that recorded each. */
static inline GPtrArray *
incident_uuids (Fixture *f, GPtrArray **out_sources)
{
  g_autoptr (sqlite3) db = open_db (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (db,
    "SELECT i.uuid, json_extract (e.detail, '$.source') FROM incidents i JOIN events e "
    "ON e.incident_id = i.id AND e.kind = 'incident-opened' ORDER BY i.id", &error);
  g_assert_no_error (error);
  GPtrArray *uuids = g_ptr_array_new_with_free_func (g_free);
  if (out_sources != NULL)
    *out_sources = g_ptr_array_new_with_free_func (g_free);
  while (sqlite3_step (st) == SQLITE_ROW)
    {
      g_ptr_array_add (uuids, g_strdup ((const char *) sqlite3_column_text (st, 0)));
      if (out_sources != NULL)
        g_ptr_array_add (*out_sources, g_strdup ((const char *) sqlite3_column_text (st, 1)));
    }
  return uuids;
}

/* Runs the real `ansimctl verify` on an incident folder (with the device's
 * key and the site identity, so every segment's plaintext is checked;
 * previous: NULL or the incident it must chain to). Returns its exit
 * status; out_text: stdout and stderr. */
static inline int
ansimctl_verify (Fixture *f, const char *incident_dir, const char *previous, char **out_text)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *exe = build_path ("ansimctl/ansimctl");
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, exe);
  g_ptr_array_add (argv, "verify");
  g_ptr_array_add (argv, "--key");
  g_ptr_array_add (argv, f->pub_path);
  g_ptr_array_add (argv, "--identity");
  g_ptr_array_add (argv, f->identity_path);
  if (previous != NULL)
    {
      g_ptr_array_add (argv, "--previous");
      g_ptr_array_add (argv, (gpointer) previous);
    }
  g_ptr_array_add (argv, (gpointer) incident_dir);
  g_ptr_array_add (argv, NULL);
  char *out = NULL, *err = NULL;
  int status;
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                &status, &error);
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (status));
  if (out_text != NULL)
    *out_text = g_strconcat (out, err, NULL);
  g_free (out);
  g_free (err);
  return WEXITSTATUS (status);
}

static inline void
assert_verifies (Fixture *f, const char *uuid, const char *previous)
{
  g_autofree char *dir = g_build_filename (f->spool_dir, uuid, NULL);
  g_autofree char *text = NULL;
  int rc = ansimctl_verify (f, dir, previous, &text);
  if (rc != 0)
    g_error ("ansimctl verify %s%s%s: exit %d\n%s", dir, previous ? " --previous " : "",
             previous ? previous : "", rc, text);
  g_assert_nonnull (strstr (text, "OK: "));
}
