/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A desk for the browser tests: enrolls with a running panel, runs a real
 * ansim-uploader and, for each line on standard input, does what the
 * recorder would (evidence library + outbox):
 *   press    open an incident and wake the uploader; prints "pressed UUID
 *            WALL_US", then adds its first segment ("segment UUID 0")
 *   segment  add a segment to the open incident; prints "segment UUID N"
 *   close    close the open incident; prints "closed UUID"
 * When the desk's event log gets the panel's acknowledgement (what lights
 * the "help is coming" output) it prints "acknowledged UUID WALL_US".
 * Segments are 2 s of H.264 in Matroska from GStreamer, encrypted to the
 * site's identity in SITE_KEY (an age-keygen file; the panel's
 * site_identity), or else in DIR/site.key.
 * Usage: desk-sim DIR PANEL_CONF PANEL_URL [SITE_KEY] */
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "outbox.h"
#include "upload-helpers.h"

static TestDesk *desk;
static TestIncident *incident;
static guint n_segments;
static gint64 acknowledged_seen;
static GMainLoop *loop;

static void say (const char *format, ...) G_GNUC_PRINTF (1, 2);

static void
say (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  vprintf (format, args);
  va_end (args);
  putchar ('\n');
  fflush (stdout);
}

/* Two seconds of H.264 in Matroska, as the recorder writes a segment. */
static void
add_media_segment (void)
{
  g_autofree char *path = g_build_filename (desk->dir, "next-segment.mkv", NULL);
  g_autofree char *location = g_strconcat ("location=", path, NULL);
  g_autoptr (GError) error = NULL;
  int status = 0;
  const char *argv[] = { "gst-launch-1.0",
                         "-q",
                         "videotestsrc",
                         "num-buffers=60",
                         "pattern=ball",
                         "!",
                         "video/x-raw,width=320,height=240,framerate=30/1",
                         "!",
                         "x264enc",
                         "key-int-max=30",
                         "speed-preset=ultrafast",
                         "tune=zerolatency",
                         "!",
                         "h264parse",
                         "!",
                         "matroskamux",
                         "!",
                         "filesink",
                         location,
                         NULL };
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &status, &error)
      || !g_spawn_check_wait_status (status, &error))
    g_error ("gst-launch-1.0: %s", error->message);
  g_autofree char *data = NULL;
  gsize size = 0;
  if (!g_file_get_contents (path, &data, &size, &error))
    g_error ("%s", error->message);
  test_incident_add_segment_data (incident, data, size);
  g_unlink (path);
}

static void
wake (void)
{
  g_autofree char *sock = g_build_filename (desk->dir, "uploader.sock", NULL);
  g_autoptr (GError) error = NULL;
  if (!ansim_outbox_wake_uploader (sock, &error))
    g_warning ("wake: %s", error->message);
}

static void
command (const char *line)
{
  if (g_str_equal (line, "press"))
    {
      if (incident != NULL)
        test_incident_close (incident);
      incident = test_incident_open (desk);
      gint64 now = g_get_real_time ();
      wake ();
      say ("pressed %s %" G_GINT64_FORMAT, test_incident_get_uuid (incident), now);
      add_media_segment ();
      n_segments = 1;
      wake ();
      say ("segment %s 0", test_incident_get_uuid (incident));
    }
  else if (g_str_equal (line, "segment") && incident != NULL)
    {
      add_media_segment ();
      wake ();
      say ("segment %s %u", test_incident_get_uuid (incident), n_segments++);
    }
  else if (g_str_equal (line, "close") && incident != NULL)
    {
      g_autofree char *uuid = g_strdup (test_incident_get_uuid (incident));
      test_incident_close (g_steal_pointer (&incident));
      wake ();
      say ("closed %s", uuid);
    }
  else
    say ("error unknown command '%s'", line);
}

static gboolean
on_stdin (gint fd, GIOCondition condition, gpointer data)
{
  (void) condition;
  (void) data;
  static GString *pending;
  char buffer[256];
  ssize_t n = read (fd, buffer, sizeof buffer);
  if (n <= 0)
    {
      g_main_loop_quit (loop);
      return G_SOURCE_REMOVE;
    }
  if (pending == NULL)
    pending = g_string_new (NULL);
  g_string_append_len (pending, buffer, n);
  char *nl;
  while ((nl = strchr (pending->str, '\n')) != NULL)
    {
      g_autofree char *line = g_strndup (pending->str, nl - pending->str);
      g_string_erase (pending, 0, nl - pending->str + 1);
      command (g_strstrip (line));
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
check_acknowledged (gpointer data)
{
  (void) data;
  g_autoptr (sqlite3_stmt) stmt =
    ansim_db_prepare (desk->db,
                      "SELECT e.id, i.uuid FROM events e JOIN incidents i ON i.id = e.incident_id "
                      "WHERE e.kind = 'acknowledged' AND e.id > ?1 ORDER BY e.id",
                      NULL);
  if (stmt == NULL)
    return G_SOURCE_CONTINUE;
  sqlite3_bind_int64 (stmt, 1, acknowledged_seen);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      acknowledged_seen = sqlite3_column_int64 (stmt, 0);
      say ("acknowledged %s %" G_GINT64_FORMAT, sqlite3_column_text (stmt, 1), g_get_real_time ());
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_term (gpointer data)
{
  (void) data;
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  if (argc != 4 && argc != 5)
    {
      fprintf (stderr, "usage: desk-sim DIR PANEL_CONF PANEL_URL [SITE_KEY]\n");
      return 2;
    }
  desk = test_desk_new (argv[1]);
  if (argc == 5)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) ids = ansim_age_identities_load (argv[4], &error);
      if (ids == NULL)
        g_error ("%s", error->message);
      ansim_age_recipient_free (desk->recipient);
      desk->recipient = ansim_age_identity_to_recipient (ids->pdata[0]);
    }
  TestPanel panel = { .conf = argv[2], .url = argv[3] };
  test_panel_enroll (&panel, desk, "dev-1");
  GSubprocess *uploader = test_uploader_start (desk, argv[3], "heartbeat_interval = 5");
  say ("ready");
  loop = g_main_loop_new (NULL, FALSE);
  g_unix_fd_add (0, G_IO_IN | G_IO_HUP, on_stdin, NULL);
  g_timeout_add (20, check_acknowledged, NULL);
  g_unix_signal_add (SIGTERM, on_term, NULL);
  g_main_loop_run (loop);
  test_process_stop (uploader, SIGTERM);
  g_object_unref (uploader);
  if (incident != NULL)
    test_incident_close (incident);
  test_desk_free (desk);
  g_main_loop_unref (loop);
  return 0;
}
