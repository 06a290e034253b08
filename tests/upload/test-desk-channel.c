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
#include "upload-helpers.h"

/* config/demo-identity.txt's recipient */
#define DEMO_RECIPIENT "age1zgfel6e3l4l0pcvjusy2hxdedxx7kgqk7sxmlznvmvyaxtl9lcsqenup9c"
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
  char *dir;
  TestDesk *desk;
  TestPanel *panel;
  GSubprocess *recorder;
  GSubprocess *uploader;
  char *recorder_conf;
  char *control;
  char *cookie, *csrf;
  char *netns, *veth; /* made by the link test, removed in teardown */
} Fixture;

static gboolean
run_cmd (const char *command)
{
  g_auto (GStrv) argv = g_strsplit (command, " ", -1);
  int status = 0;
  g_autoptr (GError) error = NULL;
  if (!g_spawn_sync (NULL, argv, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL | G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &status, &error)
      || !g_spawn_check_wait_status (status, &error))
    {
      g_test_message ("%s: %s", command, error->message);
      return FALSE;
    }
  return TRUE;
}

static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;
  f->dir = g_dir_make_tmp ("ansim-deskch-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *desk_dir = g_build_filename (f->dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (f->dir, "panel", NULL);
  f->desk = test_desk_new (desk_dir);
  f->panel = test_panel_new (panel_dir, NULL);
  f->control = g_build_filename (desk_dir, "control.sock", NULL);
  f->recorder_conf = g_build_filename (desk_dir, "recorder.conf", NULL);
  /* Long post-event time: the incident records (and the light may be on)
   * through the restarts and the cut. */
  g_autofree char *conf = g_strdup_printf (
    "[recorder]\ndevice_id = dev-1\ndata_dir = %s\nrecipients = " DEMO_RECIPIENT "\n"
    "pre_event_seconds = 1\npost_event_seconds = 120\nsegment_seconds = 1\n"
    "notice_sound = none\n\n"
    "[desk]\nid = desk-1\nname = 민원실 1번 창구\n\n"
    "[trigger desk-button]\ninput = simulated\n\n"
    "[output recording]\nkind = simulated\n\n"
    "[output acknowledged]\nkind = simulated\n\n"
    "[source desk-camera]\nkind = fixed\nvideo = test\nwidth = 160\nheight = 120\n"
    "framerate = 10\nbitrate_kbps = 100\nkeyframe_ms = 1000\n",
    desk_dir);
  g_assert_true (g_file_set_contents (f->recorder_conf, conf, -1, NULL));
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  test_process_stop (f->uploader, SIGTERM);
  test_process_stop (f->recorder, SIGTERM);
  g_clear_object (&f->uploader);
  g_clear_object (&f->recorder);
  g_clear_pointer (&f->panel, test_panel_free);
  g_clear_pointer (&f->desk, test_desk_free);
  if (f->veth != NULL)
    {
      g_autofree char *cmd = g_strdup_printf ("ip link del %s", f->veth);
      run_cmd (cmd);
    }
  if (f->netns != NULL)
    {
      g_autofree char *cmd = g_strdup_printf ("ip netns del %s", f->netns);
      run_cmd (cmd);
    }
  test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->recorder_conf);
  g_free (f->control);
  g_free (f->cookie);
  g_free (f->csrf);
  g_free (f->netns);
  g_free (f->veth);
}

/* ---- the desk ------------------------------------------------------------ */

static gboolean
recorder_ready (gpointer data)
{
  Fixture *f = data;
  g_autofree char *reply = ansim_control_request (f->control, "outputs", NULL);
  return reply != NULL;
}

static void
start_recorder (Fixture *f)
{
  g_autofree char *exe = test_build_path ("recorder/ansim-recorder");
  g_autofree char *log = g_build_filename (f->desk->dir, "recorder.log", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_stdout_file_path (l, log);
  g_subprocess_launcher_set_stderr_file_path (l, log);
  /* As in test-desk.c: full stacks for LeakSanitizer's suppressions. */
  const char *asan = g_getenv ("ASAN_OPTIONS");
  if (asan != NULL)
    {
      g_autofree char *opts = g_strconcat (asan, ":fast_unwind_on_malloc=0", NULL);
      g_subprocess_launcher_setenv (l, "ASAN_OPTIONS", opts, TRUE);
    }
  f->recorder = g_subprocess_launcher_spawn (l, &error, exe, "--config", f->recorder_conf, NULL);
  g_assert_no_error (error);
  g_assert_true (test_wait_until (recorder_ready, f, 20));
  g_usleep (1500000); /* the pre-event ring fills */
}

/* The recorder's "outputs" answer: what the clerk sees. */
static gboolean
output_on (Fixture *f, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *reply = ansim_control_request (f->control, "outputs", &error);
  g_assert_no_error (error);
  g_autoptr (JsonNode) node = json_from_string (reply, &error);
  g_assert_no_error (error);
  JsonObject *outputs = json_object_get_object_member (json_node_get_object (node), "outputs");
  g_assert_nonnull (outputs);
  g_assert_true (json_object_has_member (outputs, name));
  return json_object_get_boolean_member (outputs, name);
}

static void
press (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *reply = ansim_control_request (f->control, "press desk-button", &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (reply, "\"ok\":true"));
}

/* The desk's newest incident's uuid. */
static char *
newest_incident (Fixture *f)
{
  g_autoptr (sqlite3_stmt) s =
    ansim_db_prepare (f->desk->db, "SELECT uuid FROM incidents ORDER BY id DESC LIMIT 1", NULL);
  g_assert_nonnull (s);
  if (sqlite3_step (s) != SQLITE_ROW)
    return NULL;
  return g_strdup ((const char *) sqlite3_column_text (s, 0));
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
  return test_panel_count (a->f->panel, sql) > 0;
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
  *out_id = test_panel_count (f->panel, sql);
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
  g_autofree char *path = g_build_filename (f->desk->dir, "uploader.log", NULL);
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
  gint64 panel_seq = test_panel_count (f->panel, "SELECT coalesce (max (seq), 0) FROM "
                                                 "channel_messages WHERE device_id = 'dev-1'");
  g_autoptr (sqlite3_stmt) s = ansim_db_prepare (f->desk->db,
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
  g_autofree char *ctl = test_build_path ("ansimctl/ansimctl");
  const char *argv[] = {
    ctl, "user", "add", role, "--role", role, "--password-stdin", "--config", f->panel->conf, NULL
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) p =
    g_subprocess_newv (argv,
                       G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                         | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                       &error);
  g_assert_no_error (error);
  g_autofree char *out = NULL;
  g_subprocess_communicate_utf8 (p, PASSWORD "\n", NULL, &out, NULL, &error);
  g_assert_no_error (error);
  if (g_subprocess_get_exit_status (p) != 0)
    g_error ("ansimctl user add: %s", out);

  g_autoptr (SoupSession) http = soup_session_new_with_options ("timeout", 10, NULL);
  g_autofree char *url = g_strconcat (f->panel->url, "/api/login", NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  g_autofree char *json = g_strdup_printf ("{\"user\":\"%s\",\"password\":\"" PASSWORD "\"}", role);
  g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));
  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  g_autoptr (GBytes) reply = soup_session_send_and_read (http, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  const char *cookie =
    soup_message_headers_get_one (soup_message_get_response_headers (msg), "Set-Cookie");
  g_assert_nonnull (cookie);
  g_free (f->cookie);
  f->cookie = g_strndup (cookie, strcspn (cookie, ";"));
  g_autofree char *text = g_strndup (g_bytes_get_data (reply, NULL), g_bytes_get_size (reply));
  g_autoptr (JsonNode) node = json_from_string (text, &error);
  g_assert_no_error (error);
  g_free (f->csrf);
  f->csrf = g_strdup (json_object_get_string_member (json_node_get_object (node), "csrf_token"));
  g_assert_nonnull (f->csrf);
}

/* A console POST as the logged-in user; returns the status. */
static guint
console_post (Fixture *f, const char *path, const char *json)
{
  g_autoptr (SoupSession) http = soup_session_new_with_options ("timeout", 10, NULL);
  g_autofree char *url = g_strconcat (f->panel->url, path, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  soup_message_headers_replace (h, "Cookie", f->cookie);
  soup_message_headers_replace (h, "X-CSRF-Token", f->csrf);
  if (json != NULL)
    {
      g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));
      soup_message_set_request_body_from_bytes (msg, "application/json", body);
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) reply = soup_session_send_and_read (http, msg, NULL, &error);
  (void) reply;
  g_assert_no_error (error);
  return soup_message_get_status (msg);
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
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  console_login (f, "security");
  start_recorder (f);
  f->uploader = test_uploader_start (f->desk, f->panel->url, uploader_extra);
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
    f->desk->db, "SELECT json_extract (detail, '$.via') FROM events WHERE kind = 'acknowledged'",
    NULL);
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

  test_panel_stop (f->panel, SIGKILL);
  g_usleep (1500000);
  test_panel_start (f->panel);
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
  g_autofree char *reply = ansim_control_request (f->control, "press desk-button long", &error);
  (void) reply;
  g_assert_no_error (error);
  while (output_on (f, "acknowledged"))
    g_usleep (20000);
  g_usleep (600000); /* the long press's button is let go */
  gint64 id2 = 0;
  g_autofree char *uuid2 = press_and_alert (f, &id2);
  test_process_stop (f->uploader, SIGKILL);
  g_clear_object (&f->uploader);
  acknowledge (f, id2);
  g_usleep (500000);
  g_assert_false (output_on (f, "acknowledged"));
  f->uploader = test_uploader_start (f->desk, f->panel->url, NO_FALLBACK_POLL);
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
  if (geteuid () != 0)
    {
      g_test_skip ("needs root (ip netns add, ip link add ... type veth)");
      return;
    }
  guint n = (getpid () + 7) % 16000;
  f->netns = g_strdup_printf ("ansim-chtest-%u", getpid ());
  f->veth = g_strdup_printf ("ansch%ua", n);
  g_autofree char *peer = g_strdup_printf ("ansch%ub", n);
  g_autofree char *host_ip =
    g_strdup_printf ("10.%u.%u.%u", 240 + n / 4096, n / 16 % 256, (n % 16) * 16 + 1);
  g_autofree char *panel_ip =
    g_strdup_printf ("10.%u.%u.%u", 240 + n / 4096, n / 16 % 256, (n % 16) * 16 + 2);
  g_autofree char *in_ns = g_strdup_printf ("ip netns exec %s ", f->netns);
  char *steps[] = {
    g_strdup_printf ("ip netns add %s", f->netns),
    g_strdup_printf ("ip link add %s type veth peer name %s", f->veth, peer),
    g_strdup_printf ("ip link set %s netns %s", peer, f->netns),
    g_strdup_printf ("ip addr add %s/30 dev %s", host_ip, f->veth),
    g_strdup_printf ("ip link set %s up", f->veth),
    g_strdup_printf ("%sip addr add %s/30 dev %s", in_ns, panel_ip, peer),
    g_strdup_printf ("%sip link set %s up", in_ns, peer),
    g_strdup_printf ("%sip link set lo up", in_ns),
  };
  gboolean can = run_cmd (steps[0]);
  for (guint i = 1; can && i < G_N_ELEMENTS (steps); i++)
    if (!run_cmd (steps[i]))
      g_error ("cannot set up the namespace: %s failed", steps[i]);
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    g_free (steps[i]);
  if (!can)
    {
      g_clear_pointer (&f->netns, g_free);
      g_clear_pointer (&f->veth, g_free);
      g_test_skip ("ip netns add failed: no network namespaces here");
      return;
    }
  g_clear_pointer (&f->panel, test_panel_free);
  g_autofree char *panel_dir = g_build_filename (f->dir, "panel", NULL);
  f->panel = test_panel_new_in_netns (panel_dir, NULL, f->netns, panel_ip);
  start_all (f, NO_FALLBACK_POLL "retry_min = 30\nretry_max = 60\nrequest_timeout = 3\n"
                                 "channel_wait_ms = 2000\n");
  gint64 id = 0;
  g_autofree char *uuid = press_and_alert (f, &id);
  g_usleep (500000);

  g_autofree char *down = g_strdup_printf ("ip link set %s down", f->veth);
  g_assert_true (run_cmd (down));
  /* The console is on the panel's side of the cut. */
  g_autofree char *ack = g_strdup_printf (
    "ip netns exec %s curl -sf -o /dev/null -X POST -H Cookie:%s -H X-CSRF-Token:%s "
    "http://%s:%u/api/incidents/%" G_GINT64_FORMAT "/acknowledge",
    f->netns, f->cookie, f->csrf, panel_ip, f->panel->port, id);
  g_assert_true (run_cmd (ack));
  g_assert_cmpint (test_panel_count (f->panel, "SELECT count(*) FROM incidents WHERE status = "
                                               "'acknowledged'"),
                   ==, 1);
  g_assert_cmpint (wait_light (f, 4), ==, 0);

  g_autofree char *up = g_strdup_printf ("ip link set %s up", f->veth);
  g_assert_true (run_cmd (up));
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
  test_panel_start (f->panel);
  g_unsetenv ("ANSIM_PANEL_TEST_PUBLISH");
  test_panel_enroll (f->panel, f->desk, "dev-1");
  console_login (f, "admin");
  f->uploader = test_uploader_start (f->desk, f->panel->url, NO_FALLBACK_POLL);
  TestIncident *incident = test_incident_open (f->desk);
  g_autofree char *wake = g_build_filename (f->desk->dir, "uploader.sock", NULL);
  ansim_outbox_wake_uploader (wake, NULL);
  Alert a = { f, test_incident_get_uuid (incident) };
  g_assert_true (test_wait_until (alerted, &a, 10));
  g_autofree char *sql = g_strdup_printf ("SELECT id FROM incidents WHERE uuid = '%s'", a.uuid);
  gint64 id = test_panel_count (f->panel, sql);

  g_autofree char *body = g_strdup_printf ("{\"incident\":%" G_GINT64_FORMAT "}", id);
  g_assert_cmpuint (console_post (f, "/api/test/police-bell", body), ==, 204);
  g_usleep (2000000); /* asked, nobody on the control socket */
  SocketWitness *w = witness_start (f->control);
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
  test_process_stop (f->uploader, SIGTERM);
  g_clear_object (&f->uploader);
  f->uploader = test_uploader_start (f->desk, f->panel->url, NO_FALLBACK_POLL);
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
