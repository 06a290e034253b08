/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk's side of the alarm loop with real processes: ansim-panel, an
 * enrolled desk running ansim-recorder (test camera) and ansim-uploader.
 * What the person at the desk and the relay wiring perceive is read from
 * the recorder's outputs (control socket `outputs`, the same code path as
 * a GPIO line): a delivered press leaves the police-bell relay off; with
 * the panel killed or the link cut the relay closes within the deadline;
 * on-press closes it on every press; the fault output goes on after
 * supervision_s without the panel and off when it is back. The manifest
 * records alert-delivered / alert-not-delivered / police-bell, and a
 * notice without a sound output records the sound as failed. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "control-client.h"
#include "evidence.h"
#include "desk-rig.h"

#define DEADLINE_MS 3000 /* the default: ASan-built daemons on a busy machine need it */
#define SUPERVISION_S 4

typedef struct {
  TestDeskRig rig;
  char *runtime_dir; /* an empty XDG_RUNTIME_DIR: no sound server */
} Fixture;

/* extra: more [recorder] lines (policy, notice); outputs always include
 * recording, acknowledged, buzzer, police-bell and fault (simulated). */
static void
write_recorder_conf (Fixture *f, const char *extra, const char *bell_extra)
{
  g_autofree char *recorder = g_strdup_printf (
    "pre_event_seconds = 1\npost_event_seconds = 6\nalert_deadline_ms = %d\nsupervision_s = %d\n%s",
    DEADLINE_MS, SUPERVISION_S, extra != NULL ? extra : "");
  g_autofree char *outputs = g_strdup_printf ("[output buzzer]\nkind = simulated\n\n"
                                              "[output police-bell]\nkind = simulated\n%s\n\n"
                                              "[output fault]\nkind = simulated\n",
                                              bell_extra != NULL ? bell_extra : "");
  test_desk_rig_write_recorder_conf (&f->rig, recorder, outputs, NULL);
}

static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  test_desk_rig_init (&f->rig, "ansim-alarm-XXXXXX");
  f->runtime_dir = g_build_filename (f->rig.dir, "run", NULL);
  g_assert_cmpint (g_mkdir_with_parents (f->runtime_dir, 0700), ==, 0);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  test_desk_rig_clear (&f->rig);
  g_free (f->runtime_dir);
}

static char *
control (Fixture *f, const char *request)
{
  return test_desk_rig_control (&f->rig, request);
}

static void
press (Fixture *f)
{
  test_desk_rig_press (&f->rig);
}

/* What the lines show. */
static gboolean
output_on (Fixture *f, const char *name)
{
  return test_desk_rig_output_on (&f->rig, name);
}

static gint64
wait_output (Fixture *f, const char *name, gboolean on, gint64 deadline_us)
{
  return test_desk_rig_wait_output (&f->rig, name, on, deadline_us);
}

/* pulse_server: the PULSE_SERVER the recorder sees, or NULL for none. */
static void
start_recorder_env (Fixture *f, const char *pulse_server)
{
  /* A machine without a sound server, whatever this one has. */
  const char *env[] = { "XDG_RUNTIME_DIR", f->runtime_dir, "PULSE_SERVER", pulse_server, NULL };
  test_desk_rig_start_recorder (&f->rig, env, 1500); /* the camera's first pictures */
}

static void
start_recorder (Fixture *f)
{
  start_recorder_env (f, NULL);
}

static void
start_uploader (Fixture *f)
{
  test_desk_rig_start_uploader (
    &f->rig, "supervision_s = " G_STRINGIFY (SUPERVISION_S) "\n"
                                                            "request_timeout = 2");
}

/* When the recorder last heard `path-ok` (wall clock), 0 never. */
static gint64
last_path_ok (Fixture *f)
{
  g_autofree char *reply = ansim_control_request (f->rig.control, "status", NULL);
  g_autoptr (JsonNode) node = reply != NULL ? json_from_string (reply, NULL) : NULL;
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return 0;
  JsonObject *path = json_object_get_object_member (json_node_get_object (node), "path");
  return path != NULL ? json_object_get_int_member_with_default (path, "last_ok_us", 0) : 0;
}

/* The recorder has heard `path-ok` from the uploader: the uploader runs
 * and the panel answered it. */
static gboolean
path_heard (gpointer data)
{
  return last_path_ok (data) > 0;
}

typedef struct {
  Fixture *f;
  gint64 after;
} PathAfter;

static gboolean
path_heard_after (gpointer data)
{
  PathAfter *p = data;
  return last_path_ok (p->f) > p->after;
}

static void
start_all (Fixture *f)
{
  test_panel_start (f->rig.panel);
  test_panel_enroll (f->rig.panel, f->rig.desk, "dev-1");
  start_recorder (f);
  start_uploader (f);
  /* A press before the uploader is up would time the uploader's start. */
  g_assert_true (test_wait_until (path_heard, f, 30));
}

static gint64
desk_events (Fixture *f, const char *kind)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (f->rig.desk->db,
                                                  "SELECT count(*) FROM events "
                                                  "WHERE kind = ?1",
                                                  &error);
  g_assert_no_error (error);
  sqlite3_bind_text (st, 1, kind, -1, SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  return sqlite3_column_int64 (st, 0);
}

static char *
newest_uuid (Fixture *f)
{
  return test_desk_rig_newest_incident (&f->rig);
}

/* The incident's manifest on the desk as last written. */
static AnsimManifest *
load_manifest (Fixture *f, const char *uuid)
{
  g_autofree char *dir = g_build_filename (f->rig.desk->spool, uuid, NULL);
  return ansim_manifest_load (dir, NULL);
}

/* The manifest's first event of kind, or NULL. */
static const AnsimManifestEvent *
find_event (AnsimManifest *m, const char *kind)
{
  for (guint i = 0; m != NULL && i < ansim_manifest_get_n_events (m); i++)
    if (g_str_equal (ansim_manifest_get_event (m, i)->kind, kind))
      return ansim_manifest_get_event (m, i);
  return NULL;
}

/* Waits (the manifest is rewritten with each segment) until the
 * incident's manifest holds an event of kind; returns the manifest. */
static AnsimManifest *
wait_manifest_event (Fixture *f, const char *uuid, const char *kind, double timeout_s)
{
  gint64 end = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);
  for (;;)
    {
      AnsimManifest *m = load_manifest (f, uuid);
      if (find_event (m, kind) != NULL)
        return m;
      ansim_manifest_free (m);
      if (g_get_monotonic_time () > end)
        g_error ("incident %s: no %s event in its manifest after %.0f s", uuid, kind, timeout_s);
      g_usleep (100000);
    }
}

/* Presses and returns the press time and the new incident's uuid. */
static gint64
press_new_incident (Fixture *f, char **out_uuid)
{
  g_autofree char *before = newest_uuid (f);
  gint64 at = g_get_monotonic_time ();
  press (f);
  gint64 end = at + 5 * G_USEC_PER_SEC;
  for (;;)
    {
      g_autofree char *now = newest_uuid (f);
      if (now != NULL && g_strcmp0 (now, before) != 0)
        {
          *out_uuid = g_steal_pointer (&now);
          return at;
        }
      g_assert_cmpint (g_get_monotonic_time (), <, end);
      g_usleep (10000);
    }
}

/* ---- delivered --------------------------------------------------------- */

static void
test_delivered (Fixture *f, gconstpointer data)
{
  (void) data;
  write_recorder_conf (f, "police_bell = fallback", NULL);
  start_all (f);
  g_autofree char *uuid = NULL;
  gint64 at = press_new_incident (f, &uuid);
  /* The relay stays open well past the deadline. */
  g_assert_cmpint (wait_output (f, "police-bell", TRUE, at + (DEADLINE_MS + 1500) * 1000), ==, 0);
  g_autoptr (AnsimManifest) m = wait_manifest_event (f, uuid, "alert-delivered", 10);
  const AnsimManifestEvent *ev = find_event (m, "alert-delivered");
  const char *after = ansim_manifest_event_get_detail (ev, "after-ms");
  g_assert_nonnull (after);
  g_test_message ("alert delivered %s ms after the press", after);
  g_assert_cmpint (g_ascii_strtoll (after, NULL, 10), <, DEADLINE_MS);
  g_assert_cmpstr (ansim_manifest_event_get_detail (ev, "late"), ==, "no");
  g_assert_null (find_event (m, "alert-not-delivered"));
  g_assert_null (find_event (m, "police-bell"));
  g_assert_cmpint (desk_events (f, "alert-delivered"), ==, 1);
  g_assert_cmpint (desk_events (f, "alert-not-delivered"), ==, 0);
  /* The path is up: the fault line stays off. */
  g_assert_false (output_on (f, "fault"));
}

/* ---- not delivered: the panel killed ---------------------------------- */

static void
assert_not_delivered (Fixture *f, const char *uuid, gint64 press_at, gint64 bell_at)
{
  g_assert_cmpint (bell_at, >, 0);
  double ms = (bell_at - press_at) / 1000.0;
  g_test_message ("press -> police-bell line on: %.0f ms (deadline %d ms)", ms, DEADLINE_MS);
  g_assert_cmpfloat (ms, >=, DEADLINE_MS - 50);
  g_assert_cmpfloat (ms, <=, DEADLINE_MS + 500);
  g_autoptr (AnsimManifest) m = wait_manifest_event (f, uuid, "police-bell", 10);
  g_assert_nonnull (find_event (m, "alert-not-delivered"));
  g_assert_null (find_event (m, "alert-delivered"));
  g_assert_cmpstr (ansim_manifest_event_get_detail (find_event (m, "police-bell"), "reason"), ==,
                   "not-delivered");
  g_assert_cmpint (desk_events (f, "alert-not-delivered"), >=, 1);
}

static void
test_panel_killed (Fixture *f, gconstpointer data)
{
  (void) data;
  write_recorder_conf (f, "police_bell = fallback", NULL);
  start_all (f);
  test_panel_stop (f->rig.panel, SIGKILL);
  g_autofree char *uuid = NULL;
  gint64 at = press_new_incident (f, &uuid);
  gint64 bell_at = wait_output (f, "police-bell", TRUE, at + 5 * G_USEC_PER_SEC);
  assert_not_delivered (f, uuid, at, bell_at);
  /* Held (pulse_ms 0) until the incident ends. */
  g_assert_true (output_on (f, "police-bell"));
  g_assert_cmpint (wait_output (f, "police-bell", FALSE, at + 15 * G_USEC_PER_SEC), >, 0);
}

/* A dead uploader ends the same way: the recorder owns the deadline. */
static void
test_uploader_dead (Fixture *f, gconstpointer data)
{
  (void) data;
  write_recorder_conf (f, "police_bell = fallback", "pulse_ms = 800");
  start_all (f);
  test_process_stop (f->rig.uploader, SIGKILL);
  g_clear_object (&f->rig.uploader);
  g_autofree char *uuid = NULL;
  gint64 at = press_new_incident (f, &uuid);
  gint64 bell_at = wait_output (f, "police-bell", TRUE, at + 5 * G_USEC_PER_SEC);
  assert_not_delivered (f, uuid, at, bell_at);
  /* A pulse: open again after pulse_ms. */
  gint64 off_at = wait_output (f, "police-bell", FALSE, bell_at + 3 * G_USEC_PER_SEC);
  g_assert_cmpint (off_at, >, 0);
  g_assert_cmpint (off_at - bell_at, >=, 700 * 1000);
}

/* undelivered_signal = light+buzzer: the recording light blinks and the
 * buzzer beeps once the alert is not delivered; silent (light steady)
 * before the deadline. */
static void
test_undelivered_signal (Fixture *f, gconstpointer data)
{
  (void) data;
  write_recorder_conf (f,
                       "police_bell = never\nundelivered_signal = light+buzzer\n"
                       "notice_sound = none",
                       NULL);
  start_all (f);
  test_panel_stop (f->rig.panel, SIGKILL);
  g_autofree char *uuid = NULL;
  gint64 at = press_new_incident (f, &uuid);
  /* Steady until the deadline (the notice's 300 ms beep aside). */
  g_usleep (500000);
  g_assert_cmpint (wait_output (f, "recording", FALSE, at + (DEADLINE_MS - 100) * 1000), ==, 0);
  g_assert_false (output_on (f, "buzzer"));
  /* Then: light off and on again, and the buzzer on, within a second. */
  gint64 end = at + (DEADLINE_MS + 1500) * 1000;
  guint light_changes = 0, buzzer_on = 0;
  gboolean light = TRUE;
  while (g_get_monotonic_time () < end)
    {
      gboolean now = output_on (f, "recording");
      light_changes += now != light;
      light = now;
      buzzer_on += output_on (f, "buzzer");
      g_usleep (5000);
    }
  g_test_message ("after the deadline: %u light changes, buzzer on in %u samples", light_changes,
                  buzzer_on);
  g_assert_cmpuint (light_changes, >=, 3);
  g_assert_cmpuint (buzzer_on, >, 0);
  g_assert_false (output_on (f, "police-bell"));
}

/* ---- on-press ---------------------------------------------------------------- */

static void
test_on_press (Fixture *f, gconstpointer data)
{
  (void) data;
  write_recorder_conf (f, "police_bell = on-press", "pulse_ms = 300");
  start_all (f);
  for (int i = 0; i < 3; i++)
    {
      g_assert_false (output_on (f, "police-bell"));
      gint64 at = g_get_monotonic_time ();
      press (f);
      gint64 on_at = wait_output (f, "police-bell", TRUE, at + 2 * G_USEC_PER_SEC);
      g_assert_cmpint (on_at, >, 0);
      g_test_message ("press %d -> police-bell line on: %.0f ms", i + 1, (on_at - at) / 1000.0);
      g_assert_cmpint (wait_output (f, "police-bell", FALSE, on_at + 2 * G_USEC_PER_SEC), >, 0);
    }
  g_autofree char *uuid = newest_uuid (f);
  g_autoptr (AnsimManifest) m = wait_manifest_event (f, uuid, "alert-delivered", 10);
  g_assert_cmpstr (ansim_manifest_event_get_detail (find_event (m, "police-bell"), "reason"), ==,
                   "on-press");
  g_assert_cmpint (desk_events (f, "police-bell"), ==, 3);
}

/* ---- escalation and policy never ------------------------------------------- */

static void
test_escalation (Fixture *f, gconstpointer data)
{
  (void) data;
  const char *policy = data;
  g_autofree char *line = g_strdup_printf ("police_bell = %s", policy);
  write_recorder_conf (f, line, NULL);
  start_all (f);
  g_autofree char *uuid = NULL;
  press_new_incident (f, &uuid);
  g_autoptr (AnsimManifest) m0 = wait_manifest_event (f, uuid, "alert-delivered", 10);
  (void) m0;
  g_assert_false (output_on (f, "police-bell"));
  /* What the uploader sends when the panel escalates. */
  g_autofree char *request = g_strdup_printf ("police-bell %s escalated", uuid);
  g_autofree char *reply = control (f, request);
  g_assert_nonnull (strstr (reply, "\"ok\":true"));
  gboolean never = g_str_equal (policy, "never");
  g_assert_cmpint (output_on (f, "police-bell"), ==, !never);
  const char *kind = never ? "police-bell-refused" : "police-bell";
  g_autoptr (AnsimManifest) m = wait_manifest_event (f, uuid, kind, 10);
  g_assert_cmpstr (ansim_manifest_event_get_detail (find_event (m, kind), "reason"), ==,
                   "escalated");
  if (never)
    g_assert_null (find_event (m, "police-bell"));
  /* Bad lines change nothing and say what is wrong. */
  g_autofree char *bad = g_strdup_printf ("police-bell %s Escalated!", uuid);
  g_autofree char *bad_reply = control (f, bad);
  g_assert_nonnull (strstr (bad_reply, "bad reason"));
  g_autofree char *bad2 = control (f, "delivered not-a-uuid");
  g_assert_nonnull (strstr (bad2, "\"ok\":false"));
}

/* ---- the acknowledgement pushed on the control socket --------------------- */

static void
test_acknowledged_push (Fixture *f, gconstpointer data)
{
  (void) data;
  write_recorder_conf (f, "police_bell = fallback\nack_deadline_s = 3", NULL);
  start_all (f);
  g_autofree char *uuid = NULL;
  press_new_incident (f, &uuid);
  g_assert_false (output_on (f, "acknowledged"));
  g_autofree char *request = g_strdup_printf ("acknowledged %s", uuid);
  gint64 at = g_get_monotonic_time ();
  g_autofree char *reply = control (f, request);
  g_assert_nonnull (strstr (reply, "\"ok\":true"));
  /* At once: the answer comes after the light is set. */
  g_assert_true (output_on (f, "acknowledged"));
  g_test_message ("acknowledged line -> help-is-coming light on: %.1f ms",
                  (g_get_monotonic_time () - at) / 1000.0);
  /* Acknowledged in time: the ack deadline does not fire the relay. */
  g_usleep (3500000);
  g_assert_false (output_on (f, "police-bell"));
  g_assert_cmpint (desk_events (f, "alert-not-acknowledged"), ==, 0);
}

/* Not acknowledged within ack_deadline_s: the fallback fires. */
static void
test_not_acknowledged (Fixture *f, gconstpointer data)
{
  (void) data;
  /* After the alert deadline (3 s), so the alert is delivered first. */
  write_recorder_conf (f, "police_bell = fallback\nack_deadline_s = 4", NULL);
  start_all (f);
  g_autofree char *uuid = NULL;
  gint64 at = press_new_incident (f, &uuid);
  gint64 on_at = wait_output (f, "police-bell", TRUE, at + 7 * G_USEC_PER_SEC);
  g_assert_cmpint (on_at, >, 0);
  g_assert_cmpint (on_at - at, >=, 3950 * 1000);
  g_autoptr (AnsimManifest) m0 = wait_manifest_event (f, uuid, "alert-delivered", 10);
  (void) m0;
  g_autoptr (AnsimManifest) m = wait_manifest_event (f, uuid, "alert-not-acknowledged", 10);
  g_assert_null (find_event (m, "alert-not-delivered"));
  g_assert_cmpstr (ansim_manifest_event_get_detail (find_event (m, "police-bell"), "reason"), ==,
                   "not-acknowledged");
  /* Acknowledged late: the held relay opens. */
  g_autofree char *request = g_strdup_printf ("acknowledged %s", uuid);
  g_autofree char *reply = control (f, request);
  (void) reply;
  g_assert_false (output_on (f, "police-bell"));
}

/* ---- path supervision -------------------------------------------------------- */

static gboolean
status_says_path_down (Fixture *f)
{
  g_autofree char *ctl = test_build_path ("ansimctl/ansimctl");
  g_autofree char *out = NULL;
  const char *argv[] = { ctl, "status", "--config", f->rig.recorder_conf, NULL };
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               &out, NULL, NULL, &error));
  g_assert_no_error (error);
  return strstr (out, "PATH DOWN since ") != NULL;
}

static void
check_fault_cycle (Fixture *f, void (*cut) (Fixture *), void (*restore) (Fixture *))
{
  /* Up while the panel answers. */
  g_usleep (2 * G_USEC_PER_SEC);
  g_assert_false (output_on (f, "fault"));
  g_assert_false (status_says_path_down (f));
  /* A slow start (the uploader after the recorder) may have had its own. */
  gint64 downs = desk_events (f, "path-down");
  gint64 ups = desk_events (f, "path-up");
  gint64 cut_at = g_get_monotonic_time ();
  cut (f);
  gint64 on_at = wait_output (f, "fault", TRUE, cut_at + (SUPERVISION_S + 10) * G_USEC_PER_SEC);
  g_assert_cmpint (on_at, >, 0);
  double s = (on_at - cut_at) / 1e6;
  g_test_message ("link lost -> fault line on: %.1f s (supervision_s %d)", s, SUPERVISION_S);
  g_assert_cmpfloat (s, <=, SUPERVISION_S + 2);
  g_assert_true (status_says_path_down (f));
  g_assert_cmpint (desk_events (f, "path-down"), ==, downs + 1);
  gint64 restore_at = g_get_monotonic_time ();
  restore (f);
  gint64 off_at = wait_output (f, "fault", FALSE, restore_at + 15 * G_USEC_PER_SEC);
  g_assert_cmpint (off_at, >, 0);
  g_test_message ("link back -> fault line off: %.1f s", (off_at - restore_at) / 1e6);
  g_assert_false (status_says_path_down (f));
  g_assert_cmpint (desk_events (f, "path-up"), ==, ups + 1);
}

static void
kill_panel (Fixture *f)
{
  test_panel_stop (f->rig.panel, SIGKILL);
}

static void
restart_panel (Fixture *f)
{
  test_panel_start (f->rig.panel);
}

static void
test_supervision_panel (Fixture *f, gconstpointer data)
{
  (void) data;
  write_recorder_conf (f, NULL, NULL);
  start_all (f);
  check_fault_cycle (f, kill_panel, restart_panel);
}

/* A dead uploader is a path down too. */
static void
test_supervision_uploader (Fixture *f, gconstpointer data)
{
  (void) data;
  write_recorder_conf (f, NULL, NULL);
  start_all (f);
  g_usleep (2 * G_USEC_PER_SEC);
  g_assert_false (output_on (f, "fault"));
  test_process_stop (f->rig.uploader, SIGKILL);
  g_clear_object (&f->rig.uploader);
  gint64 at = g_get_monotonic_time ();
  g_assert_cmpint (wait_output (f, "fault", TRUE, at + (SUPERVISION_S + 3) * G_USEC_PER_SEC), >, 0);
  start_uploader (f);
  g_assert_cmpint (wait_output (f, "fault", FALSE, g_get_monotonic_time () + 10 * G_USEC_PER_SEC),
                   >, 0);
}

/* ---- the link cut in a network namespace ---------------------------------- */

static void
link_down (Fixture *f)
{
  test_desk_rig_set_link (&f->rig, FALSE);
}

static void
link_up (Fixture *f)
{
  test_desk_rig_set_link (&f->rig, TRUE);
}

static gboolean
panel_behind_link (Fixture *f)
{
  return test_desk_rig_panel_behind_link (&f->rig);
}

static void
test_link_cut (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!panel_behind_link (f))
    return;
  write_recorder_conf (f, "police_bell = fallback", NULL);
  start_all (f);
  /* Delivered while the link is up. */
  g_autofree char *first = NULL;
  gint64 at = press_new_incident (f, &first);
  g_assert_cmpint (wait_output (f, "police-bell", TRUE, at + (DEADLINE_MS + 1000) * 1000), ==, 0);
  g_autoptr (AnsimManifest) m = wait_manifest_event (f, first, "alert-delivered", 10);
  (void) m;
  /* Cut: the next press's alert cannot get through. Wait for the first
   * incident to end, so the press opens a new one. */
  g_usleep (7 * G_USEC_PER_SEC);
  link_down (f);
  g_autofree char *uuid = NULL;
  at = press_new_incident (f, &uuid);
  gint64 bell_at = wait_output (f, "police-bell", TRUE, at + 5 * G_USEC_PER_SEC);
  assert_not_delivered (f, uuid, at, bell_at);
  PathAfter back = { f, g_get_real_time () };
  link_up (f);
  /* The fault cycle over the same link, once the panel answered again
   * (a path-down of the first cut may still come before that). */
  g_assert_true (test_wait_until (path_heard_after, &back, 20));
  g_assert_false (output_on (f, "fault"));
  gint64 downs = desk_events (f, "path-down");
  gint64 ups = desk_events (f, "path-up");
  g_usleep (2 * G_USEC_PER_SEC);
  gint64 cut_at = g_get_monotonic_time ();
  link_down (f);
  gint64 on_at = wait_output (f, "fault", TRUE, cut_at + (SUPERVISION_S + 10) * G_USEC_PER_SEC);
  g_assert_cmpint (on_at, >, 0);
  g_test_message ("link cut -> fault line on: %.1f s (supervision_s %d)", (on_at - cut_at) / 1e6,
                  SUPERVISION_S);
  g_assert_cmpfloat ((on_at - cut_at) / 1e6, <=, SUPERVISION_S + 2);
  g_assert_true (status_says_path_down (f));
  g_assert_cmpint (desk_events (f, "path-down"), ==, downs + 1);
  gint64 up_at = g_get_monotonic_time ();
  link_up (f);
  gint64 off_at = wait_output (f, "fault", FALSE, up_at + 15 * G_USEC_PER_SEC);
  g_assert_cmpint (off_at, >, 0);
  g_test_message ("link back -> fault line off: %.1f s", (off_at - up_at) / 1e6);
  g_assert_cmpint (desk_events (f, "path-up"), ==, ups + 1);
}

/* ---- the notice on a board without a sound output ------------------------- */

static void
test_notice_no_sound (Fixture *f, gconstpointer data)
{
  (void) data;
  write_recorder_conf (f, "notice_sound = beep", NULL);
  g_autofree char *pcm = NULL;
  if (g_file_get_contents ("/proc/asound/pcm", &pcm, NULL, NULL) && strstr (pcm, "playback"))
    {
      /* This machine has a sound card: point the notice at a sink that
       * cannot open instead (the pulse server below does not exist). */
      write_recorder_conf (f, "notice_sound = beep\nnotice_output = pulse", NULL);
    }
  test_panel_start (f->rig.panel);
  test_panel_enroll (f->rig.panel, f->rig.desk, "dev-1");
  start_recorder_env (f, NULL);
  g_autofree char *uuid = NULL;
  press_new_incident (f, &uuid);
  g_autoptr (AnsimManifest) m = wait_manifest_event (f, uuid, "notice-given", 10);
  const AnsimManifestEvent *ev = find_event (m, "notice-given");
  g_test_message ("notice-given: by %s, sound %s", ansim_manifest_event_get_detail (ev, "by"),
                  ansim_manifest_event_get_detail (ev, "sound"));
  g_assert_cmpstr (ansim_manifest_event_get_detail (ev, "by"), ==, "light,buzzer");
  if (pcm == NULL || strstr (pcm, "playback") == NULL)
    g_assert_cmpstr (ansim_manifest_event_get_detail (ev, "sound"), ==, "failed (no sound output)");
  else
    g_assert_true (g_str_has_prefix (ansim_manifest_event_get_detail (ev, "sound"), "playing")
                   || g_str_has_prefix (ansim_manifest_event_get_detail (ev, "sound"), "failed"));
  /* Never recorded as played. */
  g_usleep (1500000);
  g_autoptr (AnsimManifest) m2 = wait_manifest_event (f, uuid, "notice-given", 10);
  const AnsimManifestEvent *sound = find_event (m2, "notice-sound");
  if (sound != NULL)
    g_assert_cmpstr (ansim_manifest_event_get_detail (sound, "sound"), ==, "failed");
  g_assert_true (output_on (f, "recording"));
}

/* notice_output = pulse with a server that is not there: the sink cannot
 * open; the sound is recorded as failed once GStreamer says so. */
static void
test_notice_sink_fails (Fixture *f, gconstpointer data)
{
  (void) data;
  write_recorder_conf (f, "notice_sound = beep\nnotice_output = pulse", NULL);
  test_panel_start (f->rig.panel);
  test_panel_enroll (f->rig.panel, f->rig.desk, "dev-1");
  g_autofree char *nowhere = g_build_filename (f->runtime_dir, "no-such-server", NULL);
  g_autofree char *server = g_strdup_printf ("unix:%s", nowhere);
  start_recorder_env (f, server);
  g_autofree char *uuid = NULL;
  press_new_incident (f, &uuid);
  g_autoptr (AnsimManifest) m = wait_manifest_event (f, uuid, "notice-sound", 10);
  const AnsimManifestEvent *given = find_event (m, "notice-given");
  g_assert_cmpstr (ansim_manifest_event_get_detail (given, "by"), ==, "light,buzzer");
  g_assert_cmpstr (ansim_manifest_event_get_detail (given, "sound"), ==, "playing");
  const AnsimManifestEvent *sound = find_event (m, "notice-sound");
  g_test_message ("notice-sound: %s (%s)", ansim_manifest_event_get_detail (sound, "sound"),
                  ansim_manifest_event_get_detail (sound, "error"));
  g_assert_cmpstr (ansim_manifest_event_get_detail (sound, "sound"), ==, "failed");
  g_assert_nonnull (ansim_manifest_event_get_detail (sound, "error"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn, data) g_test_add (path, Fixture, data, setup, fn, teardown)
  ADD ("/alarm/delivered", test_delivered, NULL);
  ADD ("/alarm/panel-killed", test_panel_killed, NULL);
  ADD ("/alarm/uploader-dead", test_uploader_dead, NULL);
  ADD ("/alarm/link-cut", test_link_cut, NULL);
  ADD ("/alarm/on-press", test_on_press, NULL);
  ADD ("/alarm/undelivered-signal", test_undelivered_signal, NULL);
  ADD ("/alarm/escalation/fallback", test_escalation, "fallback");
  ADD ("/alarm/escalation/never", test_escalation, "never");
  ADD ("/alarm/acknowledged-push", test_acknowledged_push, NULL);
  ADD ("/alarm/not-acknowledged", test_not_acknowledged, NULL);
  ADD ("/alarm/supervision/panel", test_supervision_panel, NULL);
  ADD ("/alarm/supervision/uploader", test_supervision_uploader, NULL);
  ADD ("/alarm/notice/no-sound-output", test_notice_no_sound, NULL);
  ADD ("/alarm/notice/sink-fails", test_notice_sink_fails, NULL);
  return g_test_run ();
}
