/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Shared by the recorder's storage tests (crash safety, chains, full
 * disk): a recorder-host process on test sources in a temp dir, presses
 * through its control socket, the desk database, and `ansimctl verify`. */
#pragma once

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/statvfs.h>

#include "db.h"
#include "evidence.h"
#include "control-client.h"
#include "test-common.h"
#include "test-recorder-host.h"

#define FPS 25

typedef struct {
  char *dir; /* short: UNIX socket paths are limited */
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
  const char *recorder_extra; /* extra [recorder] lines */
  gboolean two_sources;       /* a fixed camera and a wearable with sound */
  gboolean bodycam_trigger;   /* a second trigger, "bodycam" */
  int pre_event_s;
  int post_event_s;
  int bitrate_kbps;     /* of source cam; 0: 300 */
  const char *crash_at; /* ANSIM_TEST_CRASH_AT for the first run */
  const char *expect;   /* what the restart must have done */
} Setup;

static inline void
write_config (Fixture *f, const Setup *s)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) c = test_recorder_config (f->data_dir, f->spool_dir, f->recipient,
                                                s->pre_event_s, s->post_event_s, s->recorder_extra);

  g_string_append_printf (c,
                          "[source cam]\nkind = fixed\nwidth = 320\nheight = 240\nframerate = %d\n"
                          "bitrate_kbps = %d\nkeyframe_ms = 1000\n",
                          FPS, s->bitrate_kbps > 0 ? s->bitrate_kbps : 300);
  if (s->bodycam_trigger)
    g_string_append (c, "\n[trigger bodycam]\ninput = simulated\nkind = bodycam\n");
  if (s->two_sources)
    g_string_append_printf (c,
                            "\n[source body]\nkind = wearable\naudio = test\nwidth = 240\n"
                            "height = 160\nframerate = %d\nbitrate_kbps = 200\n",
                            FPS);
  g_file_set_contents (f->config_path, c->str, -1, &error);
  g_assert_no_error (error);
}

/* The GTest fixture set-up and tear-down (data: the test's Setup). */
static inline void
fixture_setup (Fixture *f, gconstpointer data)
{
  const Setup *s = data;
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
  f->recipient = test_age_identity_write (f->identity_path);
  write_config (f, s);
}

static inline void
fixture_teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  test_process_kill (&f->host);
  test_keep_or_remove (f->dir, f->log_path, "recorder");
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

/* env: NULL-terminated NAME, VALUE pairs, or NULL; ANSIM_TEST_CRASH_AT
 * only when env sets it. */
static inline void
start_host_env (Fixture *f, const char *const *env)
{
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  g_ptr_array_add (all, (gpointer) "ANSIM_TEST_CRASH_AT");
  g_ptr_array_add (all, NULL);
  for (guint i = 0; env != NULL && env[i] != NULL; i += 2)
    {
      g_ptr_array_add (all, (gpointer) env[i]);
      g_ptr_array_add (all, (gpointer) env[i + 1]);
    }
  g_ptr_array_add (all, NULL);
  f->host = test_recorder_host_start (f->config_path, f->key_path, f->log_path,
                                      (const char *const *) all->pdata);
}

/* The incidents' uuids, oldest first, with the source that recorded each. */
static inline GPtrArray *
incident_uuids (Fixture *f, GPtrArray **out_sources)
{
  g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (
    db,
    "SELECT i.uuid, json_extract (e.detail, '$.source') FROM incidents i JOIN events e "
    "ON e.incident_id = i.id AND e.kind = 'incident-opened' ORDER BY i.id",
    &error);
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
  g_autofree char *exe = test_build_path ("ansimctl/ansimctl");
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
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                &error);
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
