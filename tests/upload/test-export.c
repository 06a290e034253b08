/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Export for disclosure against a real panel and uploader: an incident of
 * real H.264 + Opus 1 s segments (GStreamer, as the recorder muxes them)
 * with one declared gap is exported with its recipient, purpose and legal
 * basis. The package's MP4 is checked with the peers a police officer
 * would use (ffprobe, ffmpeg): frames = the segments' frames, duration =
 * the incident's, the gap a gap; `ansimctl verify` passes; report.html
 * carries the facts; the register lists the export (JSON, CSV). Missing
 * fields are refused and change nothing. kill -9 while a package is being
 * sent leaves no plaintext on any disk, and a restart empties the work
 * folder. About 10 s. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "test-console.h"
#include "upload-helpers.h"

#define PASSWORD "export-test-password-1"
#define N_SEGMENTS 5
#define GAP_AT 2 /* this segment is left out: a declared gap of 1 s */
#define FPS 15
#define RECIPIENT "서울중부경찰서 형사과 (test recipient 7f3a)"
#define PURPOSE "수사기관 요청: 폭행 사건 수사"
#define LEGAL_BASIS "개인정보 보호법 제18조②7, 형사소송법 제199조②"

static const char *const roles[] = { "security", "trainer", "admin", "auditor" };
enum { SECURITY, TRAINER, ADMIN, AUDITOR };

static char *dir, *media_dir, *panel_tmp;
static TestPanel *panel;
static TestDesk *desk;
static GSubprocess *uploader;
static TestConsole *console;
static TestLogin logins[4];
static gint64 incident_id;
static guint64 frames_recorded; /* of the segments kept */
static double media_s;          /* the whole incident, gap included */

static char *
run_ok (const char *cwd, const char *command)
{
  g_autofree char *full = g_strdup_printf ("cd '%s' && %s", cwd, command);
  g_autofree char *out = NULL, *err = NULL;
  int rc = test_run (&out, &err, "sh", "-c", full, NULL);
  if (rc != 0)
    g_error ("%s: exit %d\n%s%s", command, rc, out, err);
  return g_steal_pointer (&out);
}

static gboolean
all_sent (gpointer data)
{
  (void) data;
  return test_desk_count (desk, "confirmed_at_us IS NULL") == 0;
}

static void
set_up (void)
{
  g_autoptr (GError) error = NULL;
  dir = g_dir_make_tmp ("ansim-exporttest-XXXXXX", &error);
  g_assert_no_error (error);
  media_dir = g_build_filename (dir, "recorded", NULL);
  g_assert_cmpint (g_mkdir (media_dir, 0700), ==, 0);
  /* 5 s of 15 fps video with a clock and Opus sound in Matroska, cut at
   * its 1 s keyframes by ffmpeg without re-encoding: timestamps continue
   * from segment to segment as in the recorder's. (gst-launch's
   * splitmuxsink with an audio stream hung now and then under load.) */
  g_autofree char *made = run_ok (
    media_dir,
    "gst-launch-1.0 -q matroskamux name=m ! filesink location=all.mkv "
    "videotestsrc num-buffers=75 pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! "
    "timeoverlay ! x264enc key-int-max=15 tune=zerolatency speed-preset=ultrafast ! h264parse ! m. "
    "audiotestsrc num-buffers=75 samplesperbuffer=3200 ! audio/x-raw,rate=48000,channels=1 ! "
    "audioconvert ! opusenc ! m. && "
    "ffmpeg -v error -nostdin -i all.mkv -map 0 -c copy -f segment -segment_time 1 "
    "-reset_timestamps 0 seg%02d.mkv && rm all.mkv");
  (void) made;

  g_autofree char *desk_dir = g_build_filename (dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (dir, "panel", NULL);
  desk = test_desk_new (desk_dir);
  g_autofree char *extra = g_strdup_printf ("site_identity = %s", desk->site_key_path);
  panel = test_panel_new (panel_dir, extra);
  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    test_add_user (panel->conf, roles[i], roles[i], PASSWORD);
  /* The panel's TMPDIR: nothing of an export may land there. */
  panel_tmp = g_build_filename (dir, "panel-tmp", NULL);
  g_assert_cmpint (g_mkdir (panel_tmp, 0700), ==, 0);
  g_setenv ("TMPDIR", panel_tmp, TRUE);
  test_panel_start (panel);
  test_panel_enroll (panel, desk, "dev-1");
  uploader = test_uploader_start (desk, panel->url, "heartbeat_interval = 5");
  console = test_console_new (panel->url, NULL, 30);
  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    test_console_login (console, roles[i], PASSWORD, &logins[i]);

  /* The incident: a press, segments 0, 1, a gap, 3, 4. */
  TestIncident *inc = test_desk_press (desk, panel, 0, &incident_id);
  for (guint i = 0; i < N_SEGMENTS; i++)
    {
      g_autofree char *name = g_strdup_printf ("seg%02u.mkv", i);
      g_autofree char *path = g_build_filename (media_dir, name, NULL);
      media_s += 1.0;
      if (i == GAP_AT)
        {
          test_incident_add_gap (inc, G_USEC_PER_SEC, "camera-lost");
          continue;
        }
      g_autofree char *data = NULL;
      gsize size = 0;
      g_assert_true (g_file_get_contents (path, &data, &size, NULL));
      test_incident_add_segment_timed (inc, data, size, G_USEC_PER_SEC);
      g_autofree char *cmd = g_strdup_printf (
        "ffprobe -v error -count_frames -select_streams v -show_entries stream=nb_read_frames "
        "-of csv=p=0 %s",
        name);
      g_autofree char *n = run_ok (media_dir, cmd);
      frames_recorded += g_ascii_strtoull (n, NULL, 10);
    }
  test_incident_close (inc);
  g_assert_true (test_wait_until (all_sent, NULL, 15));
  g_autofree char *path = g_strdup_printf ("/api/incidents/%ld", (long) incident_id);
  g_autofree char *ack = g_strconcat (path, "/acknowledge", NULL);
  g_autofree char *notes = g_strconcat (path, "/notes", NULL);
  g_autofree char *resolve = g_strconcat (path, "/resolve", NULL);
  json_node_unref (test_console_post_ok (console, ack, &logins[SECURITY], "{}", 200));
  json_node_unref (test_console_post_ok (
    console, notes, &logins[SECURITY], "{\"note\": \"손님이 창구 유리를 내리침 <b>x</b>\"}", 200));
  json_node_unref (test_console_post_ok (console, resolve, &logins[SECURITY],
                                         "{\"category\": \"property-damage\"}", 200));
  /* viewed once: the chain of custody names it */
  json_node_unref (test_console_get_ok (console, path, &logins[ADMIN]));
}

static void
tear_down (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (logins); i++)
    test_login_clear (&logins[i]);
  g_clear_pointer (&console, test_console_free);
  test_process_end (&uploader);
  g_clear_pointer (&panel, test_panel_free);
  g_clear_pointer (&desk, test_desk_free);
  test_rm_rf (dir);
  g_free (dir);
  g_free (media_dir);
  g_free (panel_tmp);
}

static char *
export_body (const char *recipient, const char *purpose, const char *legal_basis, gboolean media)
{
  g_autoptr (GString) s = g_string_new ("{");
  g_string_append_printf (s, "\"media\": %s", media ? "true" : "false");
  if (recipient != NULL)
    g_string_append_printf (s, ", \"recipient\": \"%s\"", recipient);
  if (purpose != NULL)
    g_string_append_printf (s, ", \"purpose\": \"%s\"", purpose);
  if (legal_basis != NULL)
    g_string_append_printf (s, ", \"legal_basis\": \"%s\"", legal_basis);
  g_string_append (s, "}");
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static char *
export_path (void)
{
  return g_strdup_printf ("/api/incidents/%ld/export", (long) incident_id);
}

static guint
count_register (void)
{
  g_autoptr (JsonNode) node = test_console_get_ok (console, "/api/disclosures", &logins[AUDITOR]);
  return json_array_get_length (
    json_object_get_array_member (json_node_get_object (node), "disclosures"));
}

/* ---- refusals --------------------------------------------------------- */

static void
test_required_fields (void)
{
  g_autofree char *path = export_path ();
  g_autofree char *target = g_strdup_printf ("incident %ld", (long) incident_id);
  guint audited = test_console_count_audit (console, &logins[AUDITOR], "export", target, NULL);
  guint listed = count_register ();
  struct {
    const char *recipient, *purpose, *legal_basis, *names;
  } cases[] = {
    { NULL, PURPOSE, LEGAL_BASIS, "recipient is required" },
    { RECIPIENT, NULL, LEGAL_BASIS, "purpose is required" },
    { RECIPIENT, PURPOSE, NULL, "legal_basis is required" },
    { "   ", PURPOSE, LEGAL_BASIS, "recipient is required" },
    { RECIPIENT, "", LEGAL_BASIS, "purpose is required" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *body =
        export_body (cases[i].recipient, cases[i].purpose, cases[i].legal_basis, TRUE);
      g_autofree char *answer = NULL;
      guint status = test_console_post (console, path, &logins[SECURITY], TRUE, body, &answer);
      g_assert_cmpuint (status, ==, 400);
      JsonObject *o = test_json_parse_object (answer);
      g_assert_cmpstr (json_object_get_string_member (o, "error"), ==, "bad-request");
      g_assert_nonnull (strstr (json_object_get_string_member (o, "message"), cases[i].names));
      json_object_unref (o);
    }
  /* Not a boolean, an unknown member, no CSRF token, a role that may not. */
  test_console_refused (console, path, &logins[SECURITY],
                        "{\"media\": 1, \"recipient\": \"a\", \"purpose\": \"b\", "
                        "\"legal_basis\": \"c\"}",
                        400, "media is true or false");
  test_console_refused (console, path, &logins[SECURITY],
                        "{\"recipient\": \"a\", \"purpose\": \"b\", \"legal_basis\": \"c\", "
                        "\"to\": \"x\"}",
                        400, "unknown member");
  g_autofree char *ok_body = export_body (RECIPIENT, PURPOSE, LEGAL_BASIS, FALSE);
  g_assert_cmpuint (test_console_post (console, path, &logins[SECURITY], FALSE, ok_body, NULL), ==,
                    403);
  g_assert_cmpuint (test_console_post (console, path, &logins[AUDITOR], TRUE, ok_body, NULL), ==,
                    403);
  g_assert_cmpuint (test_console_post (console, path, &logins[TRAINER], TRUE, ok_body, NULL), ==,
                    403);
  /* The old GET is gone: an export always says for whom. */
  guint status = 0;
  g_autofree char *got = test_console_request (console, "GET", path, &logins[SECURITY],
                                               TEST_CSRF_NONE, NULL, NULL, 0, &status, NULL);
  (void) got;
  g_assert_cmpuint (status, ==, 405);
  /* Nothing changed. */
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR], "export", target, NULL),
                    ==, audited);
  g_assert_cmpuint (count_register (), ==, listed);
  /* The register is for admins and auditors. */
  g_autofree char *no = test_console_request (console, "GET", "/api/disclosures", &logins[SECURITY],
                                              TEST_CSRF_NONE, NULL, NULL, 0, &status, NULL);
  (void) no;
  g_assert_cmpuint (status, ==, 403);
}

/* ---- the package ------------------------------------------------------ */

static GBytes *
download (const char *body, SoupMessage **out_msg)
{
  g_autofree char *path = export_path ();
  g_autofree char *url = g_strconcat (panel->url, path, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  soup_message_headers_replace (h, "Cookie", logins[SECURITY].cookie);
  soup_message_headers_replace (h, "X-CSRF-Token", logins[SECURITY].csrf);
  g_autoptr (GBytes) b = g_bytes_new (body, strlen (body));
  soup_message_set_request_body_from_bytes (msg, "application/json", b);
  g_autoptr (GError) error = NULL;
  GBytes *tar = soup_session_send_and_read (console->http, msg, NULL, &error);
  g_assert_no_error (error);
  *out_msg = g_steal_pointer (&msg);
  return tar;
}

static double
probe_double (const char *cwd, const char *command)
{
  g_autofree char *out = run_ok (cwd, command);
  return g_ascii_strtod (out, NULL);
}

static void
test_package (void)
{
  g_autofree char *body = export_body (RECIPIENT, PURPOSE, LEGAL_BASIS, TRUE);
  g_autoptr (SoupMessage) msg = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (GBytes) tar = download (body, &msg);
  g_test_message ("export answered in %.2f s (%zu bytes)", (g_get_monotonic_time () - t0) / 1e6,
                  g_bytes_get_size (tar));
  if (soup_message_get_status (msg) != 200)
    g_error ("export: %u %.*s", soup_message_get_status (msg), (int) g_bytes_get_size (tar),
             (const char *) g_bytes_get_data (tar, NULL));
  g_assert_cmpstr (
    soup_message_headers_get_one (soup_message_get_response_headers (msg), "X-Ansim-Video"), ==,
    "included");
  g_autofree char *work = g_build_filename (dir, "received", NULL);
  g_assert_cmpint (g_mkdir (work, 0700), ==, 0);
  g_autofree char *package = g_build_filename (work, "package.tar", NULL);
  test_write_file (package, g_bytes_get_data (tar, NULL), g_bytes_get_size (tar));
  g_autofree char *top = g_strdup_printf ("%s/ansim-incident-%ld", work, (long) incident_id);
  g_free (run_ok (work, "tar -xf package.tar && cd ansim-incident-* && "
                        "sha256sum --quiet --strict -c SHA256SUMS"));

  /* One MP4, its frames those of the kept segments, its length the whole
   * incident's, decodable to the end by ffmpeg. */
  g_autofree char *mp4 = g_strdup_printf ("video/incident-%ld-camera.mp4", (long) incident_id);
  g_autofree char *mp4_path = g_build_filename (top, mp4, NULL);
  g_assert_true (g_file_test (mp4_path, G_FILE_TEST_IS_REGULAR));
  g_autofree char *frames = run_ok (
    top, "ffprobe -v error -count_frames -select_streams v -show_entries stream=nb_read_frames "
         "-of csv=p=0 video/*.mp4");
  g_assert_cmpuint (g_ascii_strtoull (frames, NULL, 10), ==, frames_recorded);
  g_assert_cmpuint (frames_recorded, ==, (N_SEGMENTS - 1) * FPS);
  double duration =
    probe_double (top, "ffprobe -v error -show_entries format=duration -of csv=p=0 video/*.mp4");
  g_test_message ("MP4: %s frames, %.3f s (incident %.1f s)", g_strstrip (frames), duration,
                  media_s);
  g_assert_cmpfloat (ABS (duration - media_s), <, 0.15);
  g_autofree char *codecs = run_ok (
    top, "ffprobe -v error -show_entries stream=codec_name -of csv=p=0 video/*.mp4 | sort | tr "
         "'\\n' ' '");
  g_assert_cmpstr (codecs, ==, "h264 opus ");
  g_autofree char *decoded = run_ok (top, "ffmpeg -v error -nostdin -i video/*.mp4 -f null - 2>&1");
  g_assert_cmpstr (decoded, ==, "");
  /* The gap: no frame for 1 s where segment 2 would be; the frames on
   * either side are 1/FPS apart everywhere else. */
  g_autofree char *pts = run_ok (top, "ffprobe -v error -select_streams v -show_entries "
                                      "packet=pts_time -of csv=p=0 video/*.mp4 | sort -g");
  g_auto (GStrv) lines = g_strsplit (g_strstrip (pts), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, frames_recorded);
  guint jumps = 0;
  for (guint i = 1; lines[i] != NULL; i++)
    {
      double a = g_ascii_strtod (lines[i - 1], NULL), b = g_ascii_strtod (lines[i], NULL);
      if (b - a > 0.5)
        {
          jumps++;
          g_assert_cmpfloat (ABS (a - (GAP_AT - 1.0 / FPS)), <, 0.1);
          g_assert_cmpfloat (ABS (b - (GAP_AT + 1.0)), <, 0.1);
        }
      else
        g_assert_cmpfloat (ABS (b - a - 1.0 / FPS), <, 0.01);
    }
  g_assert_cmpuint (jumps, ==, 1);

  /* The package verifies offline. */
  g_autofree char *ctl = test_build_path ("ansimctl/ansimctl");
  g_autofree char *out = NULL;
  int rc = test_run (&out, NULL, ctl, "verify", package, NULL);
  g_test_message ("ansimctl verify:\n%s", out);
  g_assert_cmpint (rc, ==, 0);
  g_assert_nonnull (strstr (out, "OK: the package is intact"));

  /* The report: who asked, for whom, why; the incident's facts; every
   * file's SHA-256; the chain of custody. Notes are escaped. */
  g_autofree char *report_path = g_build_filename (top, "report.html", NULL);
  g_autofree char *html = test_read_file (report_path);
  g_autofree char *mp4_data = NULL;
  gsize mp4_size = 0;
  g_assert_true (g_file_get_contents (mp4_path, &mp4_data, &mp4_size, NULL));
  g_autofree char *sha_mp4 =
    g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) mp4_data, mp4_size);
  const char *must[] = { "서울중부경찰서 형사과",
                         PURPOSE,
                         LEGAL_BASIS,
                         "민원실 1번 창구",
                         "desk-1",
                         "desk-button",
                         "기물 파손 · Property damage",
                         "출동 확인 · Acknowledged",
                         "손님이 창구 유리를 내리침 &lt;b&gt;x&lt;/b&gt;",
                         "security",
                         "incident-viewed",
                         "admin",
                         "camera-lost",
                         sha_mp4,
                         "OK:",
                         NULL };
  for (guint i = 0; must[i] != NULL; i++)
    if (strstr (html, must[i]) == NULL)
      g_error ("report.html lacks %s:\n%s", must[i], html);
  g_assert_null (strstr (html, "<b>x</b>"));
  /* No server path in the package or the audit entry. */
  g_assert_null (
    memmem (g_bytes_get_data (tar, NULL), g_bytes_get_size (tar), panel->dir, strlen (panel->dir)));
  g_assert_null (
    memmem (g_bytes_get_data (tar, NULL), g_bytes_get_size (tar), panel_tmp, strlen (panel_tmp)));
  g_autofree char *target = g_strdup_printf ("incident %ld", (long) incident_id);
  JsonObject *last = NULL;
  g_assert_cmpuint (test_console_count_audit (console, &logins[AUDITOR], "export", target, &last),
                    ==, 1);
  JsonObject *detail = json_object_get_object_member (last, "detail");
  g_autofree char *tar_sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, tar);
  g_assert_cmpstr (json_object_get_string_member (detail, "package_sha256"), ==, tar_sha);
  g_assert_cmpstr (json_object_get_string_member (detail, "purpose"), ==, PURPOSE);
  g_assert_null (strchr (json_object_get_string_member (detail, "verification"), '/'));
  json_object_unref (last);

  /* The register lists it with its purpose; its CSV too (audited). */
  g_autoptr (JsonNode) reg = test_console_get_ok (console, "/api/disclosures", &logins[AUDITOR]);
  JsonArray *rows = json_object_get_array_member (json_node_get_object (reg), "disclosures");
  g_assert_cmpuint (json_array_get_length (rows), ==, 1);
  JsonObject *row = json_array_get_object_element (rows, 0);
  g_assert_cmpint (json_object_get_int_member (row, "incident_id"), ==, incident_id);
  g_assert_cmpstr (json_object_get_string_member (row, "recipient"), ==, RECIPIENT);
  g_assert_cmpstr (json_object_get_string_member (row, "purpose"), ==, PURPOSE);
  g_assert_cmpstr (json_object_get_string_member (row, "legal_basis"), ==, LEGAL_BASIS);
  g_assert_cmpstr (json_object_get_string_member (row, "exported_by"), ==, "security");
  g_assert_true (json_object_get_boolean_member (row, "media"));
  g_assert_cmpstr (json_object_get_string_member (row, "package_sha256"), ==, tar_sha);
  /* the footage's span, by the signed manifest: the whole incident */
  gint64 from_us = json_object_get_int_member (row, "footage_from_us");
  gint64 until_us = json_object_get_int_member (row, "footage_until_us");
  g_assert_cmpint (until_us - from_us, ==, (gint64) (media_s * G_USEC_PER_SEC));
  guint status = 0;
  g_autofree char *csv = test_console_request (console, "GET", "/api/disclosures/export",
                                               &logins[ADMIN], TEST_CSRF_NONE, NULL, NULL, 0,
                                               &status, NULL);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (strstr (csv, "exported_at,incident,"));
  g_assert_nonnull (strstr (csv, PURPOSE));
  g_assert_nonnull (strstr (csv, tar_sha));
  g_assert_cmpuint (
    test_console_count_audit (console, &logins[AUDITOR], "register-exported", NULL, NULL), ==, 1);
}

/* ---- kill -9 ---------------------------------------------------------- */

/* Files under path holding plaintext: Matroska, MP4 or the report. */
static void
find_plaintext (const char *path, GPtrArray *found)
{
  static const char *const magic[] = { "\x1a\x45\xdf\xa3", "ftypisom", "<!DOCTYPE html",
                                       "test recipient 7f3a" };
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
      const char *name;
      while (d != NULL && (name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          find_plaintext (child, found);
        }
      return;
    }
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR) || g_str_has_suffix (path, ".db")
      || g_str_has_suffix (path, ".db-wal") || strstr (path, "panel.log") != NULL)
    return; /* the database holds the register (recipient) by design */
  g_autofree char *data = NULL;
  gsize n = 0;
  if (!g_file_get_contents (path, &data, &n, NULL))
    return;
  for (guint i = 0; i < G_N_ELEMENTS (magic); i++)
    if (memmem (data, n, magic[i], strlen (magic[i])) != NULL)
      g_ptr_array_add (found, g_strdup_printf ("%s (%s)", path, magic[i]));
}

static void
test_kill_during_export (void)
{
  g_autofree char *path = export_path ();
  g_autofree char *url = g_strconcat (panel->url, path, NULL);
  g_autofree char *body = export_body (RECIPIENT, PURPOSE, LEGAL_BASIS, TRUE);
  g_autoptr (SoupSession) once = soup_session_new ();
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  soup_message_headers_replace (h, "Cookie", logins[SECURITY].cookie);
  soup_message_headers_replace (h, "X-CSRF-Token", logins[SECURITY].csrf);
  g_autoptr (GBytes) b = g_bytes_new (body, strlen (body));
  soup_message_set_request_body_from_bytes (msg, "application/json", b);
  g_autoptr (GError) error = NULL;
  g_autoptr (GInputStream) in = soup_session_send (once, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  char first[512];
  g_assert_cmpint (g_input_stream_read (in, first, sizeof first, NULL, &error), ==, 512);
  /* The package exists in full now (its SHA-256 was audited) and is
   * half sent: the panel dies. */
  test_panel_stop (panel, SIGKILL);
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  find_plaintext (panel->dir, found);
  find_plaintext (panel_tmp, found);
  for (guint i = 0; i < found->len; i++)
    g_test_message ("plaintext left: %s", (char *) found->pdata[i]);
  g_assert_cmpuint (found->len, ==, 0);
  g_input_stream_close (in, NULL, NULL);

  /* What an export killed earlier (while copying the originals) leaves,
   * and what an older panel left: gone at the next start. */
  g_autofree char *work = g_build_filename (panel->dir, "export-work", NULL);
  g_autofree char *left = g_build_filename (work, "export-Ab12Cd", "incident", NULL);
  g_assert_cmpint (g_mkdir_with_parents (left, 0700), ==, 0);
  g_autofree char *left_file = g_build_filename (left, "seg-000000.mkv.age", NULL);
  test_write_file (left_file, "age-encryption.org/v1\n", -1);
  /* An older panel's folder in TMPDIR (decrypted media), hours old. */
  g_autofree char *legacy = g_build_filename (panel_tmp, "ansim-export-Qw34Er", NULL);
  g_autofree char *legacy_media = g_build_filename (legacy, "ansim-incident-1", "media", NULL);
  g_assert_cmpint (g_mkdir_with_parents (legacy_media, 0700), ==, 0);
  g_autofree char *legacy_file = g_build_filename (legacy_media, "seg-000000.mkv", NULL);
  test_write_file (legacy_file, "\x1a\x45\xdf\xa3 old plaintext", -1);
  g_autofree char *touch = g_strdup_printf ("touch -d '-2 hours' '%s'", legacy);
  g_free (run_ok (panel_tmp, touch));
  test_panel_start (panel);
  g_assert_false (g_file_test (legacy, G_FILE_TEST_EXISTS));
  g_autoptr (GDir) d = g_dir_open (work, 0, NULL);
  g_assert_nonnull (d);
  g_assert_null (g_dir_read_name (d));
  /* and exports work again */
  g_autoptr (SoupMessage) again = NULL;
  g_autoptr (GBytes) tar = download (body, &again);
  g_assert_cmpuint (soup_message_get_status (again), ==, 200);
  g_assert_cmpuint (g_bytes_get_size (tar), >, 0);
  g_assert_cmpuint (count_register (), ==, 3);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* Peers, not optional: scripts/packages installs them for the tests. */
  for (const char *const *p = (const char *const[]){ "ffprobe", "ffmpeg", "gst-launch-1.0", NULL };
       *p != NULL; p++)
    {
      g_autofree char *found = g_find_program_in_path (*p);
      if (found == NULL)
        g_error ("%s is not installed (scripts/packages: test ffmpeg, gstreamer1.0-tools)", *p);
    }
  set_up ();
  g_test_add_func ("/export/required-fields", test_required_fields);
  g_test_add_func ("/export/package", test_package);
  g_test_add_func ("/export/kill-during-export", test_kill_during_export);
  int rc = g_test_run ();
  tear_down ();
  return rc;
}
