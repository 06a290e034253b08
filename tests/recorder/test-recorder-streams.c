/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The recorder's streams end to end with real pipelines, checked in the
 * decrypted segments (`age`, `ffprobe`, `ffmpeg`) and with the verifier:
 * - a bodycam whose picture comes from a network camera (rtsp-server on
 *   loopback) and whose sound from its own microphone: the camera killed
 *   mid-incident costs the picture only; the sound goes on without a hole,
 *   the manifest has a video gap with its reason, the picture comes back;
 * - a bodycam whose microphone (a PulseAudio server of the test's own)
 *   goes away mid-incident: a gap of the sound only, no frame missing;
 * - a network camera carrying both tracks going away: a gap of both;
 * - a 60 s incident: no frame missing or repeated, sound without a hole,
 *   across the pre-event/live seam and every segment. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "db.h"
#include "evidence.h"
#include "test-common.h"
#include "test-recorder-host.h"

#define FPS 25
#define FRAME_MS (1000 / FPS)
#define OPUS_MS 20

typedef struct {
  char *dir;
  char *data_dir;
  char *config_path;
  char *key_path;
  char *identity_path;
  char *recipient;
  char *log_path;
  GSubprocess *host;
  GSubprocess *camera;
  GSubprocess *pulse; /* the microphone's sound server */
  char *pulse_socket;
  guint16 port;
} Fixture;

/* source: the [source NAME] group's lines after its name. */
static void
write_config (Fixture *f, int pre_event_s, int post_event_s, const char *source)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) c =
    test_recorder_config (f->data_dir, NULL, f->recipient, pre_event_s, post_event_s, NULL);
  g_string_append_printf (
    c,
    "[source body]\nkind = wearable\nwidth = 320\nheight = 240\nframerate = %d\n"
    "bitrate_kbps = 300\nkeyframe_ms = 1000\n%s",
    FPS, source);
  g_file_set_contents (f->config_path, c->str, -1, &error);
  g_assert_no_error (error);
}

static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("ansim-rs-XXXXXX", &error);
  g_assert_no_error (error);
  f->data_dir = g_build_filename (f->dir, "data", NULL);
  f->config_path = g_build_filename (f->dir, "recorder.conf", NULL);
  f->key_path = g_build_filename (f->dir, "device.pem", NULL);
  f->identity_path = g_build_filename (f->dir, "identity.txt", NULL);
  f->log_path = g_build_filename (f->dir, "recorder.log", NULL);
  f->port = test_free_port ();
  f->recipient = test_age_identity_write (f->identity_path);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  test_process_kill (&f->camera);
  test_process_kill (&f->host);
  test_process_kill (&f->pulse);
  test_keep_or_remove (f->dir, f->log_path, "recorder");
  g_free (f->dir);
  g_free (f->data_dir);
  g_free (f->config_path);
  g_free (f->key_path);
  g_free (f->identity_path);
  g_free (f->recipient);
  g_free (f->log_path);
  g_free (f->pulse_socket);
}

static void
start_host (Fixture *f)
{
  g_autofree char *server = f->pulse_socket != NULL ? g_strdup_printf ("unix:%s", f->pulse_socket)
                                                    : NULL;
  const char *env[] = { "PULSE_SERVER", server, NULL };
  f->host = test_recorder_host_start (f->config_path, f->key_path, f->log_path,
                                      server != NULL ? env : NULL);
  test_wait_log (f->log_path, "recorder", "recorder-host: ready", 1, 30000);
}

/* A microphone that can be unplugged: a PulseAudio server of the test's
 * own with a null sink, its monitor being the recorder's default source. */
static void
start_pulse (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *home = g_build_filename (f->dir, "pulse", NULL);
  g_autofree char *load = g_strdup_printf ("module-native-protocol-unix socket=%s "
                                           "auth-anonymous=1",
                                           f->pulse_socket);
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (
    G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_mkdir_with_parents (home, 0700);
  g_subprocess_launcher_set_child_setup (l, test_die_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (l, "HOME", home, TRUE);
  g_subprocess_launcher_setenv (l, "XDG_RUNTIME_DIR", home, TRUE);
  f->pulse = g_subprocess_launcher_spawn (l, &error, "pulseaudio", "-n", "--daemonize=no",
                                          "--exit-idle-time=-1", "--use-pid-file=no", "-L",
                                          "module-null-sink sink_name=mic", "-L", load, NULL);
  g_assert_no_error (error);
  for (guint i = 0; i < 100 && !g_file_test (f->pulse_socket, G_FILE_TEST_EXISTS); i++)
    g_usleep (50000);
  g_assert_true (g_file_test (f->pulse_socket, G_FILE_TEST_EXISTS));
}

static void
kill_pulse (Fixture *f)
{
  g_subprocess_send_signal (f->pulse, SIGKILL);
  g_subprocess_wait (f->pulse, NULL, NULL);
  g_clear_object (&f->pulse);
  g_unlink (f->pulse_socket);
}

/* The one incident, once closed: its spool folder, opening time, reason. */
static char *
wait_incident (Fixture *f, guint timeout_ms, gint64 *out_opened_mono_us, char **out_reason)
{
  g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (test_db_int (db, "SELECT count(*) FROM incidents WHERE closed_wall_us IS NOT NULL") < 1)
    {
      if (g_get_monotonic_time () > end)
        g_error ("no closed incident after %u ms", timeout_ms);
      g_usleep (100000);
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) st =
    ansim_db_prepare (db, "SELECT uuid, opened_mono_us, close_reason FROM incidents", &error);
  g_assert_no_error (error);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  *out_opened_mono_us = sqlite3_column_int64 (st, 1);
  *out_reason = g_strdup ((const char *) sqlite3_column_text (st, 2));
  char *dir = g_build_filename (f->data_dir, "spool", sqlite3_column_text (st, 0), NULL);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_DONE);
  return dir;
}

static char *
run (const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  char *out = NULL;
  g_autofree char *err = NULL;
  int status;
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
                &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed: %s", argv[0], err);
  if (g_str_equal (argv[0], "ffmpeg") && *g_strstrip (err) != '\0')
    g_error ("ffmpeg reports errors decoding %s: %s", argv[5], err);
  return out;
}

typedef struct {
  gint64 pts_ms;
  gint64 duration_ms;
  guint segment;  /* manifest index of its file */
  gboolean first; /* the first of its stream in its file */
} Packet;

/* Appends the packets of one stream ("v", "a") of a file. */
static void
add_packets (GArray *out, const char *file, const char *stream, guint segment)
{
  const char *argv[] = { "ffprobe",
                         "-v",
                         "error",
                         "-select_streams",
                         stream,
                         "-show_entries",
                         "packet=pts,duration",
                         "-of",
                         "csv=p=0",
                         file,
                         NULL };
  g_autofree char *text = run (argv);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  gboolean first = TRUE;
  for (char **l = lines; *l != NULL; l++)
    {
      if (**l == '\0')
        continue;
      char *end;
      Packet p = { .segment = segment, .first = first };
      p.pts_ms = g_ascii_strtoll (*l, &end, 10);
      p.duration_ms = *end == ',' ? g_ascii_strtoll (end + 1, NULL, 10) : 0;
      g_array_append_val (out, p);
      first = FALSE;
    }
}

typedef struct {
  AnsimManifest *manifest;
  GArray *video; /* Packet, every segment in order */
  GArray *audio;
} Recording;

static void
recording_clear (Recording *r)
{
  g_clear_pointer (&r->manifest, ansim_manifest_free);
  g_clear_pointer (&r->video, g_array_unref);
  g_clear_pointer (&r->audio, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Recording, recording_clear)

/* Verifies the incident (no finding) and reads every segment: decrypted by
 * the real age, decoded by ffmpeg without an error, packets by ffprobe.
 * Times are ms from the first segment's start, the file's own timeline. */
static void
read_recording (Fixture *f, const char *dir, Recording *r)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) ids = ansim_age_identities_load (f->identity_path, &error);
  g_assert_no_error (error);
  AnsimVerifyOptions opts = {
    .identities = (AnsimAgeIdentity *const *) ids->pdata,
    .n_identities = ids->len,
  };
  g_autoptr (AnsimVerifyReport) report = ansim_incident_verify (dir, &opts, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < report->lines->len; i++)
    g_test_message ("verify: %s", ((AnsimFinding *) report->lines->pdata[i])->text);
  g_assert_cmpuint (report->n_findings, ==, 0);
  g_assert_true (report->signature_ok);

  /* The chain again with jq and sha256sum only, one-stream gaps included. */
  g_autofree char *chain =
    g_build_filename (g_getenv ("ANSIM_SOURCE_ROOT"), "scripts", "evidence-check-chain", NULL);
  const char *check[] = { "sh", chain, dir, NULL };
  g_autofree char *chain_out = run (check);
  g_assert_true (g_str_has_prefix (chain_out, "chain intact"));

  r->manifest = ansim_manifest_load (dir, &error);
  g_assert_no_error (error);
  r->video = g_array_new (FALSE, FALSE, sizeof (Packet));
  r->audio = g_array_new (FALSE, FALSE, sizeof (Packet));
  for (guint i = 0; i < ansim_manifest_get_n_entries (r->manifest); i++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (r->manifest, i);
      if (e->kind != ANSIM_ENTRY_SEGMENT)
        continue;
      g_autofree char *in = g_build_filename (dir, e->file, NULL);
      g_autofree char *plain = g_build_filename (f->dir, "segment.mkv", NULL);
      const char *age[] = { "age", "-d", "-i", f->identity_path, "-o", plain, in, NULL };
      g_free (run (age));
      const char *ffmpeg[] = { "ffmpeg",         "-nostdin", "-v", "error", "-i", plain,
                               "-enc_time_base", "-1",       "-f", "null",  "-",  NULL };
      g_free (run (ffmpeg));
      add_packets (r->video, plain, "v", i);
      add_packets (r->audio, plain, "a", i);
      g_unlink (plain);
    }
}

/* Mono µs of a time in the files' timeline. */
static gint64
file_ms_to_mono (const Recording *r, gint64 ms)
{
  return ansim_manifest_get_entry (r->manifest, 0)->start_mono_us + ms * 1000;
}

/* Sound without a hole from first to last packet: every Opus packet
 * OPUS_MS after the one before (Matroska rounds to 1 ms). A file's first
 * packet shows shifted by the codec delay when its file starts near 0, so
 * its place is checked through the next one. Returns the span in ms. */
static gint64
assert_audio_continuous (const Recording *r)
{
  GArray *a = r->audio;
  gint64 expect = -1, total = 0;
  g_assert_cmpuint (a->len, >, 10);
  for (guint k = 0; k < a->len; k++)
    {
      const Packet *p = &g_array_index (a, Packet, k);
      total += p->duration_ms;
      if (p->first)
        {
          if (expect >= 0)
            expect += OPUS_MS;
          continue;
        }
      if (expect >= 0 && ABS (p->pts_ms - expect) > 1)
        g_error ("sound: packet %u (segment %u) at %" G_GINT64_FORMAT
                 " ms, expected %" G_GINT64_FORMAT " ms: a hole or an overlap",
                 k, p->segment, p->pts_ms, expect);
      expect = p->pts_ms + OPUS_MS;
    }
  const Packet *first = &g_array_index (a, Packet, 1);
  const Packet *last = &g_array_index (a, Packet, a->len - 1);
  gint64 span = last->pts_ms + OPUS_MS - (first->pts_ms - OPUS_MS);
  /* The durations add up to the span: nothing missing, nothing twice. */
  g_test_message ("sound: %u packets, %" G_GINT64_FORMAT
                  " ms of durations over a span of %" G_GINT64_FORMAT " ms",
                  a->len, total, span);
  g_assert_cmpint (ABS (total - span), <=, OPUS_MS + 2);
  return span;
}

static gboolean
have_camera (void)
{
  g_autofree char *exe = test_build_path ("tests/recorder/rtsp-server");
  return g_file_test (exe, G_FILE_TEST_IS_EXECUTABLE);
}

/* A bodycam: the picture from a network camera, the sound from its own
 * microphone. The camera is killed mid-incident and comes back. */
static void
test_picture_lost (Fixture *f, gconstpointer data)
{
  (void) data;
  g_assert_true (have_camera ());
  g_autofree char *source = g_strdup_printf ("video = rtsp\nurl = rtsp://127.0.0.1:%u/cam\n"
                                             "audio = test\n",
                                             f->port);
  write_config (f, 3, 120, source);
  f->camera = test_rtsp_camera_start (f->port);
  start_host (f);
  test_wait_log (f->log_path, "recorder", "H.264 encoder", 1, 1000);
  g_usleep (5 * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "100");
  g_usleep (3 * G_USEC_PER_SEC);
  gint64 killed = g_get_monotonic_time ();
  test_process_kill (&f->camera);
  test_wait_log (f->log_path, "recorder", "source body: picture failed", 1, 10000);
  g_usleep (3 * G_USEC_PER_SEC);
  gint64 restarted = g_get_monotonic_time ();
  f->camera = test_rtsp_camera_start (f->port);
  test_wait_log (f->log_path, "recorder", "source body: recovered (the picture)", 1, 40000);
  g_usleep (4 * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "long");
  gint64 opened;
  g_autofree char *reason = NULL;
  g_autofree char *dir = wait_incident (f, 30000, &opened, &reason);
  test_process_end (&f->host);
  g_assert_cmpstr (reason, ==, "long-press");
  g_autofree char *log = NULL;
  g_file_get_contents (f->log_path, &log, NULL, NULL);
  g_assert_null (strstr (log, "sound failed"));

  g_auto (Recording) r = { 0 };
  read_recording (f, dir, &r);
  /* One gap, of the picture only, with why and for how long. */
  const AnsimManifestEntry *gap = NULL;
  for (guint i = 0; i < ansim_manifest_get_n_entries (r.manifest); i++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (r.manifest, i);
      if (e->kind != ANSIM_ENTRY_GAP)
        continue;
      g_test_message ("gap of %.2f s of %s: %s", e->duration_us / 1e6, e->stream, e->reason);
      g_assert_null (gap);
      gap = e;
    }
  g_assert_nonnull (gap);
  g_assert_cmpstr (gap->stream, ==, "video");
  g_assert_nonnull (strstr (gap->reason, "source body: video lost: "));
  /* It starts around the kill (the camera's last frame; a loaded machine
   * may lag behind by seconds) and lasts at least while the camera was
   * away. */
  g_assert_cmpint (gap->start_mono_us, >, killed - 3000000);
  g_assert_cmpint (gap->start_mono_us, <, killed + 500000);
  g_assert_cmpint (gap->duration_us, >=, restarted - killed - 500000);
  g_assert_cmpint (gap->duration_us, <, 40 * G_USEC_PER_SEC);

  /* The sound has no hole from the pre-event buffer to the end, through
   * the gap of the picture. */
  gint64 span = assert_audio_continuous (&r);
  gint64 first_a = file_ms_to_mono (&r, g_array_index (r.audio, Packet, 0).pts_ms);
  g_assert_cmpint (first_a, <, gap->start_mono_us - 2 * G_USEC_PER_SEC);
  g_assert_cmpint (first_a + span * 1000, >,
                   gap->start_mono_us + gap->duration_us + 2 * G_USEC_PER_SEC);

  /* The picture: none inside the gap, frames before and after it. */
  guint before = 0, after = 0;
  for (guint k = 0; k < r.video->len; k++)
    {
      gint64 t = file_ms_to_mono (&r, g_array_index (r.video, Packet, k).pts_ms);
      if (t < gap->start_mono_us - 1000)
        before++;
      else if (t >= gap->start_mono_us + gap->duration_us - 1000)
        after++;
      else
        g_error ("a frame at %" G_GINT64_FORMAT " µs, inside the video gap", t);
    }
  g_test_message ("%u frames before the gap, %u after", before, after);
  g_assert_cmpuint (before, >=, 4 * FPS);
  g_assert_cmpuint (after, >=, 2 * FPS);

  /* The gap is a row too, with its reason. */
  g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
  g_assert_cmpint (test_db_int (db, "SELECT count(*) FROM segments WHERE kind = 'gap' AND "
                                    "gap_reason LIKE 'source body: video lost: %'"),
                   ==, 1);
}

/* A bodycam's microphone goes away mid-incident and comes back: a gap of
 * the sound only; the picture goes on without a missing frame. */
static void
test_sound_lost (Fixture *f, gconstpointer data)
{
  (void) data;
  f->pulse_socket = g_build_filename (f->dir, "pulse.sock", NULL);
  write_config (f, 3, 120, "audio = pulse\n");
  start_pulse (f);
  start_host (f);
  test_wait_log (f->log_path, "recorder", "H.264 encoder", 1, 1000);
  g_usleep (5 * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "100");
  g_usleep (3 * G_USEC_PER_SEC);
  gint64 killed = g_get_monotonic_time ();
  kill_pulse (f);
  test_wait_log (f->log_path, "recorder", "source body: sound failed", 1, 10000);
  g_usleep (3 * G_USEC_PER_SEC);
  gint64 restarted = g_get_monotonic_time ();
  start_pulse (f);
  test_wait_log (f->log_path, "recorder", "source body: recovered (the sound)", 1, 40000);
  g_usleep (4 * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "long");
  gint64 opened;
  g_autofree char *reason = NULL;
  g_autofree char *dir = wait_incident (f, 30000, &opened, &reason);
  test_process_end (&f->host);
  g_assert_cmpstr (reason, ==, "long-press");
  g_autofree char *log = NULL;
  g_file_get_contents (f->log_path, &log, NULL, NULL);
  g_assert_null (strstr (log, "picture failed"));

  g_auto (Recording) r = { 0 };
  read_recording (f, dir, &r);
  const AnsimManifestEntry *gap = NULL;
  for (guint i = 0; i < ansim_manifest_get_n_entries (r.manifest); i++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (r.manifest, i);
      if (e->kind != ANSIM_ENTRY_GAP)
        continue;
      g_test_message ("gap of %.2f s of %s: %s", e->duration_us / 1e6, e->stream, e->reason);
      g_assert_null (gap);
      gap = e;
    }
  g_assert_nonnull (gap);
  g_assert_cmpstr (gap->stream, ==, "audio");
  g_assert_nonnull (strstr (gap->reason, "source body: audio lost: "));
  g_assert_cmpint (gap->start_mono_us, >, killed - 3000000);
  g_assert_cmpint (gap->start_mono_us, <, killed + 500000);
  g_assert_cmpint (gap->duration_us, >=, restarted - killed - 500000);

  /* Every frame, through the gap of the sound. */
  for (guint k = 1; k < r.video->len; k++)
    {
      const Packet *a = &g_array_index (r.video, Packet, k - 1);
      const Packet *b = &g_array_index (r.video, Packet, k);
      if (b->pts_ms - a->pts_ms != FRAME_MS)
        g_error ("frame %u (segment %u) %" G_GINT64_FORMAT " ms after the one before", k,
                 b->segment, b->pts_ms - a->pts_ms);
    }
  /* No sound inside the gap; sound before and after it. */
  guint before = 0, after = 0;
  for (guint k = 0; k < r.audio->len; k++)
    {
      gint64 t = file_ms_to_mono (&r, g_array_index (r.audio, Packet, k).pts_ms);
      if (t < gap->start_mono_us)
        before++;
      else if (t >= gap->start_mono_us + gap->duration_us - 1000)
        after++;
      else
        g_error ("sound at %" G_GINT64_FORMAT " µs, inside the audio gap", t);
    }
  g_test_message ("%u sound packets before the gap, %u after", before, after);
  g_assert_cmpuint (before, >=, 4000 / OPUS_MS);
  g_assert_cmpuint (after, >=, 2000 / OPUS_MS);
}

/* A network camera carrying picture and sound goes away as a whole: a gap
 * of everything, then both come back. */
static void
test_camera_lost (Fixture *f, gconstpointer data)
{
  (void) data;
  g_assert_true (have_camera ());
  g_autofree char *source = g_strdup_printf ("video = rtsp\nurl = rtsp://127.0.0.1:%u/av\n"
                                             "audio = rtsp\n",
                                             f->port);
  write_config (f, 3, 120, source);
  f->camera = test_rtsp_camera_start (f->port);
  start_host (f);
  test_wait_log (f->log_path, "recorder", "H.264 encoder", 1, 1000);
  g_usleep (5 * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "100");
  g_usleep (3 * G_USEC_PER_SEC);
  test_process_kill (&f->camera);
  test_wait_log (f->log_path, "recorder", "source body: capture failed", 1, 10000);
  g_usleep (3 * G_USEC_PER_SEC);
  f->camera = test_rtsp_camera_start (f->port);
  test_wait_log (f->log_path, "recorder", "source body: recovered (the capture)", 1, 40000);
  g_usleep (4 * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "long");
  gint64 opened;
  g_autofree char *reason = NULL;
  g_autofree char *dir = wait_incident (f, 30000, &opened, &reason);
  test_process_end (&f->host);

  g_auto (Recording) r = { 0 };
  read_recording (f, dir, &r);
  const AnsimManifestEntry *gap = NULL;
  for (guint i = 0; i < ansim_manifest_get_n_entries (r.manifest); i++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (r.manifest, i);
      if (e->kind != ANSIM_ENTRY_GAP)
        continue;
      g_test_message ("gap of %.2f s of %s: %s", e->duration_us / 1e6,
                      e->stream != NULL ? e->stream : "everything", e->reason);
      g_assert_null (gap);
      gap = e;
    }
  g_assert_nonnull (gap);
  g_assert_null (gap->stream);
  g_assert_nonnull (strstr (gap->reason, "source body: "));
  g_assert_cmpint (gap->duration_us, >, 2 * G_USEC_PER_SEC);
  /* Neither picture nor sound inside it; both after it. */
  GArray *streams[] = { r.video, r.audio };
  for (guint s = 0; s < 2; s++)
    {
      guint after = 0;
      for (guint k = 0; k < streams[s]->len; k++)
        {
          gint64 t = file_ms_to_mono (&r, g_array_index (streams[s], Packet, k).pts_ms);
          if (t >= gap->start_mono_us + gap->duration_us - 1000)
            after++;
          else if (t > gap->start_mono_us + 100000)
            g_error ("%s at %" G_GINT64_FORMAT " µs, inside the gap", s ? "sound" : "a frame", t);
        }
      g_test_message ("%s: %u packets after the gap", s ? "sound" : "picture", after);
      g_assert_cmpuint (after, >=, s ? 2000 / OPUS_MS : 2 * FPS);
    }
}

/* 60 s after the press, with 5 s before it: every frame 40 ms after the
 * one before, the sound without a hole, across the pre-event/live seam
 * and every segment; counted against the manifest's timeline. */
static void
test_continuity_60 (Fixture *f, gconstpointer data)
{
  (void) data;
  write_config (f, 5, 60, "audio = test\n");
  start_host (f);
  test_wait_log (f->log_path, "recorder", "H.264 encoder", 1, 1000);
  g_usleep (7 * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "100");
  gint64 opened;
  g_autofree char *reason = NULL;
  g_autofree char *dir = wait_incident (f, 90000, &opened, &reason);
  test_process_end (&f->host);
  g_assert_cmpstr (reason, ==, "post-event");

  g_auto (Recording) r = { 0 };
  read_recording (f, dir, &r);
  guint n = ansim_manifest_get_n_entries (r.manifest);
  const AnsimManifestEntry *first = ansim_manifest_get_entry (r.manifest, 0);
  const AnsimManifestEntry *last = ansim_manifest_get_entry (r.manifest, n - 1);
  gint64 end_us = last->start_mono_us + last->duration_us;
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (ansim_manifest_get_entry (r.manifest, i)->kind, ==, ANSIM_ENTRY_SEGMENT);
  g_assert_cmpuint (n, >=, 30);
  /* From before trigger - pre_event to the end of the incident. */
  g_assert_cmpint (first->start_mono_us, <=, opened - 5 * G_USEC_PER_SEC);
  g_assert_cmpint (end_us, >=, opened + 60 * G_USEC_PER_SEC - 500000);

  /* Frames: each 40 ms after the one before, through every segment. */
  for (guint k = 1; k < r.video->len; k++)
    {
      const Packet *a = &g_array_index (r.video, Packet, k - 1);
      const Packet *b = &g_array_index (r.video, Packet, k);
      if (b->pts_ms - a->pts_ms != FRAME_MS)
        g_error ("frame %u (segment %u) at %" G_GINT64_FORMAT " ms, %" G_GINT64_FORMAT
                 " ms after the one before: a frame %s",
                 k, b->segment, b->pts_ms, b->pts_ms - a->pts_ms,
                 b->pts_ms - a->pts_ms > FRAME_MS ? "missing" : "repeated");
    }
  /* Counted independently: as many frames as the timeline is long. */
  gint64 frames_span = (gint64) r.video->len * FRAME_MS * 1000;
  g_test_message ("%u frames (%.2f s) for %.2f s of timeline in %u segments, trigger at %.2f s",
                  r.video->len, frames_span / 1e6, (end_us - first->start_mono_us) / 1e6, n,
                  (opened - first->start_mono_us) / 1e6);
  g_assert_cmpint (ABS (frames_span - (end_us - first->start_mono_us)), <=, 2 * FRAME_MS * 1000);
  /* Each segment's first frame is where the manifest puts it. */
  for (guint k = 0; k < r.video->len; k++)
    {
      const Packet *p = &g_array_index (r.video, Packet, k);
      if (!p->first)
        continue;
      const AnsimManifestEntry *e = ansim_manifest_get_entry (r.manifest, p->segment);
      g_assert_cmpint (ABS (file_ms_to_mono (&r, p->pts_ms) - e->start_mono_us), <=, 2000);
    }

  /* Sound: no hole, and it covers the timeline to within a packet or two
   * at each end (it starts with the first keyframe, and the encoders'
   * latencies differ at the end). */
  gint64 span = assert_audio_continuous (&r);
  g_assert_cmpint (ABS (span * 1000 - (end_us - first->start_mono_us)), <=, 200000);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/recorder-streams/failure/picture-lost", Fixture, NULL, setup, test_picture_lost,
              teardown);
  g_test_add ("/recorder-streams/failure/sound-lost", Fixture, NULL, setup, test_sound_lost,
              teardown);
  g_test_add ("/recorder-streams/failure/camera-lost", Fixture, NULL, setup, test_camera_lost,
              teardown);
  g_test_add ("/recorder-streams/continuity/60s", Fixture, NULL, setup, test_continuity_60,
              teardown);
  return g_test_run ();
}
