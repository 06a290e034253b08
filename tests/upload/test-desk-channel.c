/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk end of the panel's push channel with real processes over
 * loopback: ansim-panel, ansim-recorder (test camera, simulated outputs)
 * and ansim-uploader. What is checked is what the clerk sees, the "help is
 * coming" output read through the recorder's control socket: it follows
 * the console's Acknowledge within a bound; after a panel restart, an
 * uploader restart and a cut link (the panel in a network namespace) the
 * channel comes back and brings the acknowledgement made meanwhile. A
 * police-bell request reaches the recorder's control socket exactly once,
 * also when the recorder was not there at first. */
#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control-client.h"
#include "db.h"
#include "outbox.h"
#include "desk-rig.h"
#include "test-console.h"

#define PASSWORD "desk-channel-password-1"
/* The uploader settings that leave the acknowledgement to the channel:
 * no heartbeat poll for it while the test runs. */
#define NO_FALLBACK_POLL                                                                           \
  "supervision_s = 0\nheartbeat_interval = 3600\nacknowledgement_poll_ms = 60000\n"
/* Acknowledge -> light: 4-25 ms measured; under AddressSanitizer every
 * process runs several times slower and 10-190 ms were seen, so the bound
 * there is looser (the log line still says the channel brought it). */
#if defined(__SANITIZE_ADDRESS__)
#define LIGHT_BOUND_US 1000000
#else
#define LIGHT_BOUND_US 250000
#endif

typedef struct {
  TestDeskRig rig;
  TestConsole *console;
  TestLogin login;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  test_desk_rig_init (&f->rig, "ansim-deskch-XXXXXX");
  /* Long post-event time: the incident records (and the light may be on)
   * through the restarts and the cut. */
  test_desk_rig_write_recorder_conf (
    &f->rig, "pre_event_seconds = 1\npost_event_seconds = 120\nnotice_sound = none", NULL, NULL);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  g_clear_pointer (&f->console, test_console_free);
  test_login_clear (&f->login);
  test_desk_rig_clear (&f->rig);
}

/* ---- the desk ------------------------------------------------------------ */

static void
start_recorder (Fixture *f)
{
  test_desk_rig_start_recorder (&f->rig, NULL, 1500); /* the pre-event ring fills */
}

/* What the clerk sees. */
static gboolean
output_on (Fixture *f, const char *name)
{
  return test_desk_rig_output_on (&f->rig, name);
}

static void
press (Fixture *f)
{
  test_desk_rig_press (&f->rig);
}

static char *
newest_incident (Fixture *f)
{
  return test_desk_rig_newest_incident (&f->rig);
}

typedef struct {
  Fixture *f;
  const char *uuid;
} Alert;

static gboolean
alerted (gpointer data)
{
  Alert *a = data;
  g_autofree char *sql =
    g_strdup_printf ("SELECT count(*) FROM incidents WHERE uuid = '%s'", a->uuid);
  return test_panel_count (a->f->rig.panel, sql) > 0;
}

/* Presses, waits until the panel has the alert; returns the incident's
 * uuid, *out_id its panel row id. */
static char *
press_and_alert (Fixture *f, gint64 *out_id)
{
  g_autofree char *before = newest_incident (f);
  press (f);
  char *uuid = NULL;
  for (int i = 0; i < 500 && (uuid == NULL || g_strcmp0 (uuid, before) == 0); i++)
    {
      g_free (uuid);
      uuid = newest_incident (f);
      g_usleep (10000);
    }
  g_assert_nonnull (uuid);
  g_assert_cmpstr (uuid, !=, before);
  Alert a = { f, uuid };
  g_assert_true (test_wait_until (alerted, &a, 10));
  g_autofree char *sql = g_strdup_printf ("SELECT id FROM incidents WHERE uuid = '%s'", uuid);
  *out_id = test_panel_count (f->rig.panel, sql);
  return uuid;
}

/* Polls the light every 2 ms; returns when it went on (monotonic), or 0
 * if it did not within timeout_s. */
static gint64
wait_light (Fixture *f, double timeout_s)
{
  gint64 end = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);
  while (g_get_monotonic_time () < end)
    {
      if (output_on (f, "acknowledged"))
        return g_get_monotonic_time ();
      g_usleep (2000);
    }
  return 0;
}

/* The uploader's log says the channel brought uuid's acknowledgement (the
 * upload answers could bring it too, a second later: the fallback). */
static void
assert_came_by_channel (Fixture *f, const char *uuid)
{
  g_autofree char *path = g_build_filename (f->rig.desk->dir, "uploader.log", NULL);
  g_autofree char *line = g_strdup_printf ("incident %s acknowledged at the panel (channel", uuid);
  g_autofree char *log = NULL;
  /* The uploader logs it just after it told the recorder. */
  for (int i = 0; i < 100; i++)
    {
      g_clear_pointer (&log, g_free);
      g_assert_true (g_file_get_contents (path, &log, NULL, NULL));
      if (strstr (log, line) != NULL)
        return;
      g_usleep (20000);
    }
  g_error ("the channel did not bring the acknowledgement of %s; uploader log:\n%s", uuid, log);
}

/* The desk stored the panel's newest seq for it (so nothing is asked for
 * twice after a restart). */
static gboolean
seq_stored (gpointer data)
{
  Fixture *f = data;
  gint64 panel_seq = test_panel_count (f->rig.panel, "SELECT coalesce (max (seq), 0) FROM "
                                                     "channel_messages WHERE device_id = 'dev-1'");
  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (f->rig.desk->db,
                                                 "SELECT after_seq FROM "
                                                 "channel_state",
                                                 NULL);
  return s != NULL && sqlite3_step (s) == SQLITE_ROW && panel_seq > 0
         && sqlite3_column_int64 (s, 0) == panel_seq;
}

/* ---- the console ---------------------------------------------------------- */

static void
console_login (Fixture *f, const char *role)
{
  test_add_user (f->rig.panel->conf, role, role, PASSWORD);
  f->console = test_console_new (f->rig.panel->url, NULL, 10);
  test_console_login (f->console, role, PASSWORD, &f->login);
}

/* A console POST as the logged-in user; returns the status. */
static guint
console_post (Fixture *f, const char *path, const char *json)
{
  return test_console_post (f->console, path, &f->login, TRUE, json, NULL);
}

static void
acknowledge (Fixture *f, gint64 id)
{
  g_autofree char *path = g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/acknowledge", id);
  guint status = console_post (f, path, NULL);
  g_assert_cmpuint (status, ==, 200);
}

static void
start_all (Fixture *f, const char *uploader_extra)
{
  test_panel_start (f->rig.panel);
  test_panel_enroll (f->rig.panel, f->rig.desk, "dev-1");
  console_login (f, "security");
  start_recorder (f);
  f->rig.uploader = test_uploader_start (f->rig.desk, f->rig.panel->url, uploader_extra);
}

/* ---- tests ------------------------------------------------------------------- */

/* Acknowledge in the console: the desk's light is on within 250 ms (1 s
 * under ASan; the goal is 100 ms at p99, bench-desk-light measures it),
 * brought by the channel and recorded in the desk's event log with its
 * seq. */
static void
test_acknowledge (Fixture *f, gconstpointer data)
{
  (void) data;
  start_all (f, NO_FALLBACK_POLL);
  gint64 id = 0;
  g_autofree char *uuid = press_and_alert (f, &id);
  g_usleep (300000); /* the channel's held request is in place */
  g_assert_false (output_on (f, "acknowledged"));
  g_assert_true (output_on (f, "recording"));

  gint64 clicked = g_get_monotonic_time ();
  acknowledge (f, id);
  gint64 lit = wait_light (f, 5);
  g_assert_cmpint (lit, >, 0);
  g_test_message ("console acknowledge -> help-is-coming light: %.1f ms", (lit - clicked) / 1000.0);
  g_assert_cmpint (lit - clicked, <, LIGHT_BOUND_US);
  assert_came_by_channel (f, uuid);
  g_assert_true (test_wait_until (seq_stored, f, 5));
  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (
    f->rig.desk->db,
    "SELECT json_extract (detail, '$.via') FROM events WHERE kind = 'acknowledged'", NULL);
  g_assert_cmpint (sqlite3_step (s), ==, SQLITE_ROW);
  g_assert_cmpstr ((const char *) sqlite3_column_text (s, 0), ==, "channel");
  g_assert_cmpint (sqlite3_step (s), ==, SQLITE_DONE);
  /* a second acknowledge is refused by the panel; the light stays */
  g_assert_true (output_on (f, "acknowledged"));
}

/* The panel killed and started again, acknowledged at once: the channel
 * reconnects and the light comes. Then the uploader killed, an
 * acknowledgement made while it is down: the restarted uploader asks
 * from its stored seq and gets it. */
static void
test_restarts (Fixture *f, gconstpointer data)
{
  (void) data;
  start_all (f, NO_FALLBACK_POLL);
  gint64 id = 0;
  g_autofree char *uuid = press_and_alert (f, &id);
  g_usleep (300000);

  test_panel_stop (f->rig.panel, SIGKILL);
  g_usleep (1500000);
  test_panel_start (f->rig.panel);
  gint64 clicked = g_get_monotonic_time ();
  acknowledge (f, id);
  gint64 lit = wait_light (f, 10);
  g_assert_cmpint (lit, >, 0);
  g_test_message ("panel restarted, acknowledged at once -> light: %.2f s", (lit - clicked) / 1e6);
  assert_came_by_channel (f, uuid);
  g_assert_true (test_wait_until (seq_stored, f, 5));

  /* The uploader away: a new incident on the same desk (a long press
   * ends the first one), acknowledged while nobody asks. */
  g_autoptr (GError) error = NULL;
  g_autofree char *reply = ansim_control_request (f->rig.control, "press desk-button long", &error);
  (void) reply;
  g_assert_no_error (error);
  while (output_on (f, "acknowledged"))
    g_usleep (20000);
  g_usleep (600000); /* the long press's button is let go */
  gint64 id2 = 0;
  g_autofree char *uuid2 = press_and_alert (f, &id2);
  test_process_stop (f->rig.uploader, SIGKILL);
  g_clear_object (&f->rig.uploader);
  acknowledge (f, id2);
  g_usleep (500000);
  g_assert_false (output_on (f, "acknowledged"));
  f->rig.uploader = test_uploader_start (f->rig.desk, f->rig.panel->url, NO_FALLBACK_POLL);
  clicked = g_get_monotonic_time ();
  lit = wait_light (f, 10);
  g_assert_cmpint (lit, >, 0);
  g_test_message ("uploader restarted -> light: %.2f s", (lit - clicked) / 1e6);
  assert_came_by_channel (f, uuid2);
  g_assert_true (test_wait_until (seq_stored, f, 5));
}

/* The link to the panel (in its own network namespace) cut after the
 * alert; the console acknowledges during the cut (from inside the
 * namespace): the light stays off while the link is down and comes on
 * once it is back, brought by the channel. The worker's backoff is made
 * long so the upload answers cannot bring it first. */
static void
test_link_cut (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!test_desk_rig_panel_behind_link (&f->rig))
    return;
  start_all (f, NO_FALLBACK_POLL "retry_min = 30\nretry_max = 60\nrequest_timeout = 3\n"
                                 "channel_wait_ms = 2000\n");
  gint64 id = 0;
  g_autofree char *uuid = press_and_alert (f, &id);
  g_usleep (500000);

  test_desk_rig_set_link (&f->rig, FALSE);
  /* The console is on the panel's side of the cut. */
  g_autofree char *ack = g_strdup_printf (
    "ip netns exec %s curl -sf -o /dev/null -X POST -H Cookie:%s -H X-CSRF-Token:%s "
    "http://%s:%u/api/incidents/%" G_GINT64_FORMAT "/acknowledge",
    f->rig.netns->name, f->login.cookie, f->login.csrf, f->rig.netns->inner_ip, f->rig.panel->port,
    id);
  g_assert_true (test_run_command (ack));
  g_assert_cmpint (test_panel_count (f->rig.panel, "SELECT count(*) FROM incidents WHERE status = "
                                                   "'acknowledged'"),
                   ==, 1);
  g_assert_cmpint (wait_light (f, 4), ==, 0);

  test_desk_rig_set_link (&f->rig, TRUE);
  gint64 up_at = g_get_monotonic_time ();
  gint64 lit = wait_light (f, 25);
  g_assert_cmpint (lit, >, 0);
  g_test_message ("link back -> light: %.2f s", (lit - up_at) / 1e6);
  assert_came_by_channel (f, uuid);
}

/* ---- police bell: what arrives on the control socket ------------------------ */

/* Stands where the recorder's control socket is and keeps every request
 * line (the recorder's own handling of "police-bell" is another part's;
 * this checks what the uploader sends, and when). */
typedef struct {
  int fd;
  GThread *thread;
  GAsyncQueue *lines;
} SocketWitness;

static gpointer
witness_thread (gpointer data)
{
  SocketWitness *w = data;
  for (;;)
    {
      int c = accept (w->fd, NULL, NULL);
      if (c < 0)
        return NULL;
      char buf[600];
      gsize len = 0;
      ssize_t r;
      while (len < sizeof buf - 1 && (r = read (c, buf + len, sizeof buf - 1 - len)) > 0)
        {
          len += r;
          if (memchr (buf, '\n', len) != NULL)
            break;
        }
      buf[len] = '\0';
      g_async_queue_push (w->lines, g_strndup (buf, strcspn (buf, "\n")));
      static const char ok[] = "{\"ok\":true}\n";
      if (write (c, ok, sizeof ok - 1) < 0)
        g_test_message ("witness: write: %s", g_strerror (errno));
      close (c);
    }
}

static SocketWitness *
witness_start (const char *path)
{
  SocketWitness *w = g_new0 (SocketWitness, 1);
  w->lines = g_async_queue_new_full (g_free);
  w->fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (w->fd, >=, 0);
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  g_strlcpy (a.sun_path, path, sizeof a.sun_path);
  g_unlink (path);
  g_assert_cmpint (bind (w->fd, (struct sockaddr *) &a, sizeof a), ==, 0);
  g_assert_cmpint (listen (w->fd, 8), ==, 0);
  w->thread = g_thread_new ("witness", witness_thread, w);
  return w;
}

static void
witness_stop (SocketWitness *w)
{
  shutdown (w->fd, SHUT_RDWR);
  close (w->fd);
  g_thread_join (w->thread);
  g_async_queue_unref (w->lines);
  g_free (w);
}

/* The next line starting with prefix within timeout_s (others skipped),
 * or NULL. */
static char *
witness_next (SocketWitness *w, const char *prefix, double timeout_s)
{
  gint64 end = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);
  for (;;)
    {
      gint64 left = end - g_get_monotonic_time ();
      if (left <= 0)
        return NULL;
      char *line = g_async_queue_timeout_pop (w->lines, left);
      if (line == NULL)
        return NULL;
      if (g_str_has_prefix (line, prefix))
        return line;
      g_free (line);
    }
}

/* The panel asks for the police bell while the recorder is not there: the
 * uploader keeps the request and delivers "police-bell UUID REASON" once
 * the control socket answers, exactly once (also across an uploader
 * restart); an acknowledgement after it arrives as "acknowledged UUID". */
static void
test_police_bell (Fixture *f, gconstpointer data)
{
  (void) data;
  g_setenv ("ANSIM_PANEL_TEST_PUBLISH", "1", TRUE);
  test_panel_start (f->rig.panel);
  g_unsetenv ("ANSIM_PANEL_TEST_PUBLISH");
  test_panel_enroll (f->rig.panel, f->rig.desk, "dev-1");
  console_login (f, "admin");
  f->rig.uploader = test_uploader_start (f->rig.desk, f->rig.panel->url, NO_FALLBACK_POLL);
  TestIncident *incident = test_incident_open (f->rig.desk);
  g_autofree char *wake = g_build_filename (f->rig.desk->dir, "uploader.sock", NULL);
  ansim_outbox_wake_uploader (wake, NULL);
  Alert a = { f, test_incident_get_uuid (incident) };
  g_assert_true (test_wait_until (alerted, &a, 10));
  g_autofree char *sql = g_strdup_printf ("SELECT id FROM incidents WHERE uuid = '%s'", a.uuid);
  gint64 id = test_panel_count (f->rig.panel, sql);

  g_autofree char *body = g_strdup_printf ("{\"incident\":%" G_GINT64_FORMAT "}", id);
  g_assert_cmpuint (console_post (f, "/api/test/police-bell", body), ==, 204);
  g_usleep (2000000); /* asked, nobody on the control socket */
  SocketWitness *w = witness_start (f->rig.control);
  g_autofree char *expected = g_strdup_printf ("police-bell %s test", a.uuid);
  g_autofree char *line = witness_next (w, "police-bell", 5);
  g_assert_cmpstr (line, ==, expected);
  g_assert_true (test_wait_until (seq_stored, f, 5));

  g_autofree char *ack_path =
    g_strdup_printf ("/api/incidents/%" G_GINT64_FORMAT "/acknowledge", id);
  g_assert_cmpuint (console_post (f, ack_path, NULL), ==, 200);
  g_autofree char *ack = witness_next (w, "acknowledged", 5);
  g_autofree char *expected_ack = g_strdup_printf ("acknowledged %s", a.uuid);
  g_assert_cmpstr (ack, ==, expected_ack);
  g_assert_true (test_wait_until (seq_stored, f, 5));

  /* Restarted, it asks from its stored seq: nothing comes again. */
  test_process_stop (f->rig.uploader, SIGTERM);
  g_clear_object (&f->rig.uploader);
  f->rig.uploader = test_uploader_start (f->rig.desk, f->rig.panel->url, NO_FALLBACK_POLL);
  g_autofree char *again = witness_next (w, "police-bell", 3);
  g_assert_null (again);
  witness_stop (w);
  test_incident_close (incident);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, setup, fn, teardown)
  ADD ("/desk-channel/acknowledge", test_acknowledge);
  ADD ("/desk-channel/restarts", test_restarts);
  ADD ("/desk-channel/link-cut", test_link_cut);
  ADD ("/desk-channel/police-bell", test_police_bell);
  return g_test_run ();
}
