/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A desk with its real daemons for the desk tests (desk-rig.h). */
#include "desk-rig.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "control-client.h"
#include "db.h"

void
test_desk_rig_init (TestDeskRig *rig, const char *template)
{
  memset (rig, 0, sizeof *rig);
  rig->dir = test_make_tmp_dir (template);
  g_autofree char *desk_dir = g_build_filename (rig->dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (rig->dir, "panel", NULL);
  rig->desk = test_desk_new (desk_dir);
  rig->panel = test_panel_new (panel_dir, NULL);
  rig->control = g_build_filename (desk_dir, "control.sock", NULL);
  rig->recorder_conf = g_build_filename (desk_dir, "recorder.conf", NULL);
}

void
test_desk_rig_clear (TestDeskRig *rig)
{
  test_process_stop (rig->uploader, SIGTERM);
  test_process_stop (rig->recorder, SIGTERM);
  g_clear_object (&rig->uploader);
  g_clear_object (&rig->recorder);
  g_clear_pointer (&rig->panel, test_panel_free);
  g_clear_pointer (&rig->desk, test_desk_free);
  g_clear_pointer (&rig->netns, test_netns_free);
  test_rm_rf (rig->dir);
  g_clear_pointer (&rig->dir, g_free);
  g_clear_pointer (&rig->recorder_conf, g_free);
  g_clear_pointer (&rig->control, g_free);
}

void
test_desk_rig_write_recorder_conf (TestDeskRig *rig, const char *recorder_lines,
                                   const char *more_groups, const char *source_lines)
{
  g_autofree char *conf = g_strdup_printf (
    "[recorder]\ndevice_id = dev-1\ndata_dir = %s\nrecipients = " TEST_DEMO_RECIPIENT "\n"
    "segment_seconds = 1\n%s\n\n"
    "[desk]\nid = desk-1\nname = 민원실 1번 창구\n\n"
    "[trigger desk-button]\ninput = simulated\n\n"
    "[output recording]\nkind = simulated\n\n"
    "[output acknowledged]\nkind = simulated\n\n%s\n"
    "[source desk-camera]\nkind = fixed\n%s\n",
    rig->desk->dir, recorder_lines != NULL ? recorder_lines : "",
    more_groups != NULL ? more_groups : "",
    source_lines != NULL ? source_lines
                         : "video = test\nwidth = 160\nheight = 120\nframerate = 10\n"
                           "bitrate_kbps = 100\nkeyframe_ms = 1000");
  test_write_file (rig->recorder_conf, conf, -1);
}

static gboolean
recorder_answers (gpointer data)
{
  TestDeskRig *rig = data;
  g_autofree char *reply = ansim_control_request (rig->control, "outputs", NULL);
  return reply != NULL;
}

void
test_desk_rig_start_recorder (TestDeskRig *rig, const char *const *env, guint settle_ms)
{
  g_autofree char *exe = test_build_path ("recorder/ansim-recorder");
  g_autofree char *log = g_build_filename (rig->desk->dir, "recorder.log", NULL);
  g_autoptr (GPtrArray) all_env = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; env != NULL && env[i] != NULL; i += 2)
    {
      g_ptr_array_add (all_env, g_strdup (env[i]));
      g_ptr_array_add (all_env, g_strdup (env[i + 1]));
    }
  /* Under ASan: GLib's load-time allocation (suppressed in tests/lsan.supp)
   * is only recognised with full stacks; the fast unwinder loses them in
   * GStreamer's process now and then. */
  const char *asan = g_getenv ("ASAN_OPTIONS");
  if (asan != NULL)
    {
      g_ptr_array_add (all_env, g_strdup ("ASAN_OPTIONS"));
      g_ptr_array_add (all_env, g_strconcat (asan, ":fast_unwind_on_malloc=0", NULL));
    }
  g_ptr_array_add (all_env, NULL);
  const char *argv[] = { exe, "--config", rig->recorder_conf, NULL };
  rig->recorder = test_spawn_logged (log, argv, (const char *const *) all_env->pdata);
  if (!test_wait_until (recorder_answers, rig, 20))
    {
      g_autofree char *text = test_read_file (log);
      g_error ("the recorder did not answer on its control socket in 20 s:\n%s", text);
    }
  g_usleep (settle_ms * 1000);
}

void
test_desk_rig_start_uploader (TestDeskRig *rig, const char *extra)
{
  rig->uploader = test_uploader_start (rig->desk, rig->panel->url, extra);
}

char *
test_desk_rig_control (TestDeskRig *rig, const char *request)
{
  g_autoptr (GError) error = NULL;
  char *reply = ansim_control_request (rig->control, request, &error);
  g_assert_no_error (error);
  return reply;
}

void
test_desk_rig_press (TestDeskRig *rig)
{
  g_autofree char *reply = test_desk_rig_control (rig, "press desk-button");
  g_assert_nonnull (strstr (reply, "\"ok\":true"));
}

/* The answer is {"ok":true,"outputs":{"recording":false,...}}. */
gboolean
test_desk_rig_output_on (TestDeskRig *rig, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *reply = test_desk_rig_control (rig, "outputs");
  g_autoptr (JsonNode) node = json_from_string (reply, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  JsonObject *outputs = json_object_get_object_member (json_node_get_object (node), "outputs");
  g_assert_nonnull (outputs);
  g_assert_true (json_object_has_member (outputs, name));
  return json_object_get_boolean_member (outputs, name);
}

gint64
test_desk_rig_wait_output (TestDeskRig *rig, const char *name, gboolean on, gint64 deadline_us)
{
  while (g_get_monotonic_time () < deadline_us)
    {
      if (test_desk_rig_output_on (rig, name) == on)
        return g_get_monotonic_time ();
      g_usleep (5000);
    }
  return 0;
}

char *
test_desk_rig_newest_incident (TestDeskRig *rig)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) st =
    ansim_db_prepare (rig->desk->db, "SELECT uuid FROM incidents ORDER BY id DESC LIMIT 1", &error);
  g_assert_no_error (error);
  if (sqlite3_step (st) != SQLITE_ROW)
    return NULL;
  return g_strdup ((const char *) sqlite3_column_text (st, 0));
}

gboolean
test_desk_rig_panel_behind_link (TestDeskRig *rig)
{
  g_autofree char *why = NULL;
  rig->netns = test_netns_new (&why);
  if (rig->netns == NULL)
    {
      g_test_skip (why);
      return FALSE;
    }
  g_clear_pointer (&rig->panel, test_panel_free);
  g_autofree char *panel_dir = g_build_filename (rig->dir, "panel", NULL);
  rig->panel = test_panel_new_in_netns (panel_dir, NULL, rig->netns->name, rig->netns->inner_ip);
  return TRUE;
}

void
test_desk_rig_set_link (TestDeskRig *rig, gboolean up)
{
  g_assert_nonnull (rig->netns);
  test_netns_set_link (rig->netns, up);
}
