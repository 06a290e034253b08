/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The recorder end to end with real pipelines: a recorder process on test
 * sources, presses through its control socket, then the spool checked with
 * the real `age`, `ffprobe` and `ffmpeg` and with ansim_incident_verify():
 * pre-event coverage, frame and audio continuity across the pre-event/live
 * seam and every segment, no plaintext on disk, incident ends, kill -9. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "control-client.h"
#include "db.h"
#include "evidence.h"
#include "test-common.h"
#include "test-recorder-host.h"

#define FPS 25
#define FRAME_MS (1000 / FPS)
#define PRE_EVENT_S 5
#define POST_EVENT_S 3

typedef struct {
  char *dir; /* short: UNIX socket paths are limited */
  char *data_dir;
  char *tmp_dir; /* the recorder's TMPDIR, scanned for plaintext */
  char *config_path;
  char *key_path;
  char *identity_path;
  char *recipient;
  char *log_path;
  GSubprocess *host;
  GSubprocess *camera; /* rtsp-server */
  guint16 port;
} Fixture;

/* Extra [recorder] lines and the [source] groups of a test. */
typedef struct {
  const char *recorder_extra;
  gboolean two_sources; /* a fixed camera and a wearable with sound */
  int post_event_s;     /* 0: POST_EVENT_S */
  int pre_event_s;      /* 0: PRE_EVENT_S */
  gboolean rtsp;        /* the camera is tests/recorder/rtsp-server */
} Setup;

static const Setup default_setup = { "", TRUE, 0, 0 };

static void
write_config (Fixture *f, const Setup *s)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) c = test_recorder_config (
    f->data_dir, NULL, f->recipient, s->pre_event_s > 0 ? s->pre_event_s : PRE_EVENT_S,
    s->post_event_s > 0 ? s->post_event_s : POST_EVENT_S, s->recorder_extra);

  g_string_append_printf (c,
                          "[output acknowledged]\nkind = simulated\n\n"
                          "[source cam]\nkind = fixed\nwidth = 320\nheight = 240\nframerate = %d\n"
                          "bitrate_kbps = 300\nkeyframe_ms = 1000\n",
                          FPS);
  if (s->rtsp)
    g_string_append_printf (c, "video = rtsp\nurl = rtsp://127.0.0.1:%u/cam\n", f->port);
  if (s->two_sources)
    g_string_append_printf (c,
                            "\n[source body]\nkind = wearable\naudio = test\nwidth = 240\n"
                            "height = 160\nframerate = %d\nbitrate_kbps = 200\n",
                            FPS);
  g_file_set_contents (f->config_path, c->str, -1, &error);
  g_assert_no_error (error);
}

static void
setup (Fixture *f, gconstpointer data)
{
  const Setup *s = data != NULL ? data : &default_setup;
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("ansim-rec-XXXXXX", &error);
  g_assert_no_error (error);
  f->data_dir = g_build_filename (f->dir, "data", NULL);
  f->tmp_dir = g_build_filename (f->dir, "tmp", NULL);
  g_mkdir (f->tmp_dir, 0700);
  f->config_path = g_build_filename (f->dir, "recorder.conf", NULL);
  f->key_path = g_build_filename (f->dir, "device.pem", NULL);
  f->identity_path = g_build_filename (f->dir, "identity.txt", NULL);
  f->log_path = g_build_filename (f->dir, "recorder.log", NULL);
  if (s->rtsp)
    f->port = test_free_port (); /* for the camera */
  f->recipient = test_age_identity_write (f->identity_path);
  write_config (f, s);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  test_process_kill (&f->camera);
  test_process_kill (&f->host);
  test_keep_or_remove (f->dir, f->log_path, "recorder");
  g_free (f->dir);
  g_free (f->data_dir);
  g_free (f->tmp_dir);
  g_free (f->config_path);
  g_free (f->key_path);
  g_free (f->identity_path);
  g_free (f->recipient);
  g_free (f->log_path);
}

static void
start_host (Fixture *f)
{
  const char *env[] = { "TMPDIR", f->tmp_dir, NULL };
  f->host = test_recorder_host_start (f->config_path, f->key_path, f->log_path, env);
}

/* How far a frame may be from its slot: 0 for test sources; a network
 * camera's timestamps jitter, more so while rtspsrc re-locks its clock
 * after a reconnect (36-39 ms steps seen); a missing or repeated frame is
 * still 40 ms off. */
static gint64 frame_jitter_ms = 0;

typedef struct {
  gint64 id;
  char *uuid;
  char *source;
  gint64 opened_mono_us, closed_mono_us;
  char *reason;
} Incident;

static void
incident_clear (gpointer p)
{
  Incident *i = p;
  g_free (i->uuid);
  g_free (i->source);
  g_free (i->reason);
}

static GArray *
list_incidents (Fixture *f)
{
  g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3_stmt) st =
    ansim_db_prepare (db,
                      "SELECT i.id, i.uuid, json_extract (e.detail, '$.source'), i.opened_mono_us, "
                      "i.closed_mono_us, i.close_reason FROM incidents i JOIN events e "
                      "ON e.incident_id = i.id AND e.kind = 'incident-opened' ORDER BY i.id",
                      &error);
  g_assert_no_error (error);
  GArray *a = g_array_new (FALSE, TRUE, sizeof (Incident));
  g_array_set_clear_func (a, incident_clear);
  while (sqlite3_step (st) == SQLITE_ROW)
    {
      Incident i = {
        .id = sqlite3_column_int64 (st, 0),
        .uuid = g_strdup ((const char *) sqlite3_column_text (st, 1)),
        .source = g_strdup ((const char *) sqlite3_column_text (st, 2)),
        .opened_mono_us = sqlite3_column_int64 (st, 3),
        .closed_mono_us = sqlite3_column_int64 (st, 4),
        .reason = g_strdup ((const char *) sqlite3_column_text (st, 5)),
      };
      g_array_append_val (a, i);
    }
  return a;
}

static const Incident *
find_incident (GArray *a, const char *source)
{
  for (guint i = 0; i < a->len; i++)
    if (g_strcmp0 (g_array_index (a, Incident, i).source, source) == 0)
      return &g_array_index (a, Incident, i);
  g_error ("no incident of source %s", source);
}

static char *
run (const char *const *argv, gboolean want_ok, char **out_stderr)
{
  g_autoptr (GError) error = NULL;
  char *out = NULL, *err = NULL;
  int status;
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
                &error);
  g_assert_no_error (error);
  if (want_ok && !g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed: %s", argv[0], err);
  if (out_stderr != NULL)
    *out_stderr = err;
  else
    g_free (err);
  return out;
}

/* Decrypts one segment with the real `age` into the test dir. */
static char *
age_decrypt (Fixture *f, const char *incident_dir, const char *file)
{
  g_autofree char *in = g_build_filename (incident_dir, file, NULL);
  g_autofree char *base = g_path_get_basename (incident_dir);
  g_autofree char *name = g_strdup_printf ("%s-%s.mkv", base, file);
  char *out = g_build_filename (f->dir, name, NULL);
  const char *argv[] = { "age", "-d", "-i", f->identity_path, "-o", out, in, NULL };
  g_free (run (argv, TRUE, NULL));
  return out;
}

/* Packet timestamps (ms) of one stream type ("v" or "a") of a file. */
static GArray *
packet_times (const char *file, const char *stream)
{
  const char *argv[] = {
    "ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts", "-of",
    "csv=p=0", file, NULL
  };
  g_autofree char *out = run (argv, TRUE, NULL);
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  GArray *a = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (char **l = lines; *l != NULL; l++)
    if (**l != '\0')
      {
        gint64 v = g_ascii_strtoll (*l, NULL, 10);
        g_array_append_val (a, v);
      }
  return a;
}

static void
assert_decodes_cleanly (const char *file)
{
  /* -enc_time_base -1: keep the file's 1 ms time base, so the null
   * muxer does not round a network camera's jittered frame times onto a
   * 1/25 s grid and call two of them one slot. */
  const char *argv[] = { "ffmpeg",         "-nostdin", "-v", "error", "-i", file,
                         "-enc_time_base", "-1",       "-f", "null",  "-",  NULL };
  g_autofree char *err = NULL;
  g_free (run (argv, TRUE, &err));
  if (*g_strstrip (err) != '\0')
    g_error ("ffmpeg reports errors decoding %s: %s", file, err);
}

/* Checks one recorded incident: signature, chain and plaintext hashes with
 * the verifier; every segment through age, ffmpeg and ffprobe; frames
 * 40 ms apart with no gap or repeat across all segments (and Opus packets
 * 20 ms apart when with_audio); each segment's first frame where the
 * manifest says it starts. Returns the manifest; out_frames: total. */
static AnsimManifest *
check_incident (Fixture *f, const Incident *inc, gboolean with_audio, guint *out_frames)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_build_filename (f->data_dir, "spool", inc->uuid, NULL);
  g_autoptr (GPtrArray) ids = ansim_age_identities_load (f->identity_path, &error);
  g_assert_no_error (error);
  AnsimVerifyOptions opts = {
    .identities = (AnsimAgeIdentity *const *) ids->pdata,
    .n_identities = ids->len,
  };
  g_autoptr (AnsimVerifyReport) report = ansim_incident_verify (dir, &opts, &error);
  g_assert_no_error (error);
  if (report->n_findings != 0)
    for (guint i = 0; i < report->lines->len; i++)
      g_test_message ("%s", ((AnsimFinding *) report->lines->pdata[i])->text);
  g_assert_cmpuint (report->n_findings, ==, 0);
  g_assert_true (report->signature_ok);
  g_assert_cmpuint (report->n_segments, >=, 1);
  g_assert_cmpuint (report->n_plaintext_checked, ==, report->n_segments);

  AnsimManifest *m = ansim_manifest_load (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ansim_manifest_get_incident_id (m), ==, inc->uuid);
  guint n = ansim_manifest_get_n_entries (m);
  const AnsimManifestEntry *first = ansim_manifest_get_entry (m, 0);
  gint64 expect_next_v = -1, expect_next_a = -1;
  guint frames = 0;

  for (guint i = 0; i < n; i++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (m, i);
      if (e->kind == ANSIM_ENTRY_GAP)
        {
          /* Continuity starts again after a declared gap. */
          g_assert_nonnull (e->reason);
          expect_next_v = expect_next_a = -1;
          continue;
        }
      g_autofree char *plain = age_decrypt (f, dir, e->file);
      assert_decodes_cleanly (plain);
      g_autoptr (GArray) v = packet_times (plain, "v");
      g_assert_cmpuint (v->len, >, 0);
      /* The segment's first frame is where the manifest's timeline puts it. */
      gint64 want_ms = (e->start_mono_us - first->start_mono_us) / 1000;
      g_assert_cmpint (ABS (g_array_index (v, gint64, 0) - want_ms), <=, 2);
      for (guint k = 0; k < v->len; k++)
        {
          gint64 t = g_array_index (v, gint64, k);
          if (expect_next_v >= 0 && ABS (t - expect_next_v) > frame_jitter_ms)
            g_error ("%s: frame %u at %" G_GINT64_FORMAT " ms, expected %" G_GINT64_FORMAT
                     " ms (a frame missing or repeated)",
                     e->file, k, t, expect_next_v);
          expect_next_v = t + FRAME_MS;
        }
      frames += v->len;
      if (with_audio)
        {
          g_autoptr (GArray) a = packet_times (plain, "a");
          /* Only a last segment of a frame or two may end before any sound. */
          if (i + 1 < n || e->duration_us > 100000)
            g_assert_cmpuint (a->len, >, 0);
          for (guint k = 0; k < a->len; k++)
            {
              gint64 t = g_array_index (a, gint64, k);
              /* Matroska readers show a segment's first Opus packet shifted
               * by the codec delay (6.5 ms) when it starts near 0: its
               * place is checked through the packets around it. */
              if (k == 0)
                {
                  if (expect_next_a >= 0)
                    expect_next_a += 20;
                  continue;
                }
              /* Opus frames are 20 ms; Matroska rounds to 1 ms. */
              if (expect_next_a >= 0 && ABS (t - expect_next_a) > 1)
                g_error ("%s: audio packet %u at %" G_GINT64_FORMAT
                         " ms, expected %" G_GINT64_FORMAT " ms",
                         e->file, k, t, expect_next_a);
              expect_next_a = t + 20;
            }
        }
      g_unlink (plain);
    }
  *out_frames = frames;
  return m;
}

/* No media container, encoder or codec header anywhere on disk. */
static void
assert_no_plaintext (Fixture *f)
{
  static const char *const signatures[] = { "matroska", "x264 - core", "OpusHead", "ftypisom",
                                            NULL };
  const char *argv[] = { "find", f->data_dir, f->tmp_dir, "-type", "f", NULL };
  g_autofree char *list = run (argv, TRUE, NULL);
  g_auto (GStrv) files = g_strsplit (list, "\n", -1);
  guint scanned = 0;

  for (char **p = files; *p != NULL; p++)
    {
      if (**p == '\0')
        continue;
      g_autofree char *data = NULL;
      gsize len;
      g_assert_true (g_file_get_contents (*p, &data, &len, NULL));
      for (guint s = 0; signatures[s] != NULL; s++)
        if (memmem (data, len, signatures[s], strlen (signatures[s])) != NULL)
          g_error ("plaintext media on disk: '%s' in %s", signatures[s], *p);
      scanned++;
    }
  g_assert_cmpuint (scanned, >, 3);
}

static void
start_and_fill (Fixture *f, guint n_sources)
{
  start_host (f);
  test_wait_log (f->log_path, "recorder", "recorder-host: ready", 1, 20000);
  test_wait_log (f->log_path, "recorder", "H.264 encoder", n_sources, 1000);
  /* The ring fills for pre-event time plus a GOP. */
  g_usleep ((PRE_EVENT_S + 2) * G_USEC_PER_SEC);
}

/* One press, both sources: pre-event coverage, continuity (video and
 * audio), every segment decrypted by age and decoded cleanly, the database
 * rows, no plaintext anywhere, the post-event end. */
static void
test_incident (Fixture *f, gconstpointer data)
{
  (void) data;
  start_and_fill (f, 2);
  test_recorder_press (f->data_dir, "desk-button", "100");
  test_recorder_wait_closed (f->data_dir, f->log_path, 2, 20000);
  test_process_end (&f->host);

  g_autoptr (GArray) incidents = list_incidents (f);
  g_assert_cmpuint (incidents->len, ==, 2);
  for (guint s = 0; s < 2; s++)
    {
      const Incident *inc = find_incident (incidents, s == 0 ? "cam" : "body");
      guint frames;
      g_autoptr (AnsimManifest) m = check_incident (f, inc, s == 1, &frames);
      const AnsimManifestEntry *first = ansim_manifest_get_entry (m, 0);
      const AnsimManifestEntry *last =
        ansim_manifest_get_entry (m, ansim_manifest_get_n_entries (m) - 1);

      g_assert_cmpstr (inc->reason, ==, "post-event");
      /* Pre-event: the first frame at or before trigger - pre_event... */
      g_assert_cmpint (first->start_mono_us, <=,
                       inc->opened_mono_us - PRE_EVENT_S * G_USEC_PER_SEC);
      /* ...and not far before (at most one GOP and a bit more). */
      g_assert_cmpint (first->start_mono_us, >=,
                       inc->opened_mono_us - (PRE_EVENT_S + 2) * G_USEC_PER_SEC);
      /* Counted independently: the frames recorded cover the time from
       * trigger - pre_event to the end of the incident. */
      gint64 end_us = last->start_mono_us + last->duration_us;
      g_assert_cmpint ((gint64) frames * FRAME_MS * 1000, >=,
                       end_us - (inc->opened_mono_us - PRE_EVENT_S * G_USEC_PER_SEC));
      g_assert_cmpint (ABS ((gint64) frames * FRAME_MS * 1000 - (end_us - first->start_mono_us)),
                       <=, 2 * FRAME_MS * 1000);
      /* Post-event: ends post_event after the press, recorded to the end. */
      gint64 length = inc->closed_mono_us - inc->opened_mono_us;
      g_assert_cmpint (length, >=, POST_EVENT_S * G_USEC_PER_SEC);
      g_assert_cmpint (length, <, (POST_EVENT_S + 2) * G_USEC_PER_SEC);
      g_assert_cmpint (end_us, >=, inc->closed_mono_us - 500000);
      /* Events: the press and the notice of filming. */
      g_assert_cmpuint (ansim_manifest_get_n_events (m), >=, 2);
      g_assert_cmpstr (ansim_manifest_get_event (m, 1)->kind, ==, "notice-given");
      g_assert_cmpint (ansim_manifest_get_event (m, 1)->mono_us - inc->opened_mono_us, <, 1000000);

      /* One segment row and one outbox row per entry; the alert first. */
      g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
      g_autofree char *q1 = g_strdup_printf (
        "SELECT count(*) FROM segments WHERE incident_id = %" G_GINT64_FORMAT " AND kind = 'media'",
        inc->id);
      g_autofree char *q2 = g_strdup_printf (
        "SELECT count(*) FROM outbox WHERE incident_id = %" G_GINT64_FORMAT " AND class = 3",
        inc->id);
      g_autofree char *q3 = g_strdup_printf (
        "SELECT count(*) FROM outbox WHERE incident_id = %" G_GINT64_FORMAT " AND class = 0",
        inc->id);
      g_assert_cmpint (test_db_int (db, q1), ==, ansim_manifest_get_n_entries (m));
      g_assert_cmpint (test_db_int (db, q2), ==, ansim_manifest_get_n_entries (m));
      g_assert_cmpint (test_db_int (db, q3), ==, 1);
    }
  assert_no_plaintext (f);

  /* The incident row and its alert follow the debounced press (the edge
   * plus the 30 ms debounce) at once. The 50 ms goal is measured by
   * bench/recorder; here only a stall is a failure, as sanitizers and a
   * loaded CI slow everything. */
  g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
  gint64 latency = test_db_int (
    db, "SELECT max (e.at_wall_us - (i.opened_wall_us + 30000)) FROM incidents i JOIN events e "
        "ON e.incident_id = i.id AND e.kind = 'incident-opened'");
  g_test_message ("debounced press -> incident row: %.1f ms", latency / 1000.0);
  g_assert_cmpint (latency, <, 5000000);
}

/* SIGTERM while recording: the incident is closed as "shutdown" with its
 * last segment sealed, and everything verifies and plays. */
static void
test_shutdown (Fixture *f, gconstpointer data)
{
  (void) data;
  start_and_fill (f, 1);
  test_recorder_press (f->data_dir, "desk-button", "100");
  g_usleep (1500000);
  test_process_end (&f->host);

  g_autoptr (GArray) incidents = list_incidents (f);
  g_assert_cmpuint (incidents->len, ==, 1);
  const Incident *inc = &g_array_index (incidents, Incident, 0);
  guint frames;
  g_autoptr (AnsimManifest) m = check_incident (f, inc, FALSE, &frames);
  g_assert_cmpstr (inc->reason, ==, "shutdown");
  g_assert_cmpstr (ansim_manifest_get_close_reason (m), ==, "shutdown");
  const AnsimManifestEntry *last =
    ansim_manifest_get_entry (m, ansim_manifest_get_n_entries (m) - 1);
  /* Recorded up to the stop, not just to the last full segment. */
  g_assert_cmpint (last->start_mono_us + last->duration_us, >=, inc->closed_mono_us - 300000);
}

/* A network camera that goes away mid-incident and comes back: the
 * recorder keeps running, the manifest gets a gap entry naming the
 * failure, and recording resumes by itself; everything verifies. */
static void
test_rtsp_outage (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autofree char *exe = test_build_path ("tests/recorder/rtsp-server");
  if (!g_file_test (exe, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("no tests/recorder/rtsp-server (libgstrtspserver-1.0-dev missing)");
      return;
    }
  frame_jitter_ms = 15;
  f->camera = test_rtsp_camera_start (f->port);
  start_and_fill (f, 1);
  test_recorder_press (f->data_dir, "desk-button", "100");
  g_usleep (3 * G_USEC_PER_SEC);
  test_process_kill (&f->camera);
  test_wait_log (f->log_path, "recorder", "source cam: capture failed", 1, 10000);
  g_usleep (2 * G_USEC_PER_SEC);
  f->camera = test_rtsp_camera_start (f->port);
  test_wait_log (f->log_path, "recorder", "source cam: recovered", 1, 30000);
  g_usleep (3 * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "long");
  test_recorder_wait_closed (f->data_dir, f->log_path, 1, 20000);
  test_process_end (&f->host);

  g_autoptr (GArray) incidents = list_incidents (f);
  g_assert_cmpuint (incidents->len, ==, 1);
  const Incident *inc = &g_array_index (incidents, Incident, 0);
  guint frames;
  g_autoptr (AnsimManifest) m = check_incident (f, inc, FALSE, &frames);
  g_assert_cmpstr (inc->reason, ==, "long-press");
  guint gaps = 0, after = 0;
  for (guint i = 0; i < ansim_manifest_get_n_entries (m); i++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (m, i);
      if (e->kind == ANSIM_ENTRY_GAP)
        {
          gaps++;
          g_test_message ("gap of %.1f s: %s", e->duration_us / 1e6, e->reason);
          g_assert_nonnull (strstr (e->reason, "source cam"));
          g_assert_cmpint (e->duration_us, >, 1000000);
        }
      else if (gaps > 0)
        after++;
    }
  g_assert_cmpuint (gaps, ==, 1);
  g_assert_cmpuint (after, >=, 1);
  g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
  g_assert_cmpint (test_db_int (db, "SELECT count(*) FROM segments WHERE kind = 'gap'"), ==, 1);
}

/* 120 s before the trigger, from the keyframe at or before it. */
static void
test_pre_event_120 (Fixture *f, gconstpointer data)
{
  (void) data;
  start_host (f);
  test_wait_log (f->log_path, "recorder", "recorder-host: ready", 1, 20000);
  g_usleep (123 * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "100");
  test_recorder_wait_closed (f->data_dir, f->log_path, 1, 30000);
  test_process_end (&f->host);

  g_autoptr (GArray) incidents = list_incidents (f);
  const Incident *inc = &g_array_index (incidents, Incident, 0);
  guint frames;
  g_autoptr (AnsimManifest) m = check_incident (f, inc, FALSE, &frames);
  const AnsimManifestEntry *first = ansim_manifest_get_entry (m, 0);
  g_assert_cmpint (first->start_mono_us, <=, inc->opened_mono_us - 120 * G_USEC_PER_SEC);
  g_assert_cmpint (first->start_mono_us, >=, inc->opened_mono_us - 122 * G_USEC_PER_SEC);
  g_assert_cmpuint (frames, >=, (120 + POST_EVENT_S) * FPS);
}

/* A second press extends the incident: it ends post_event after it. */
static void
test_extension (Fixture *f, gconstpointer data)
{
  (void) data;
  start_and_fill (f, 1);
  test_recorder_press (f->data_dir, "desk-button", "100");
  g_usleep (2 * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "100");
  test_recorder_wait_closed (f->data_dir, f->log_path, 1, 20000);
  test_process_end (&f->host);

  g_autoptr (GArray) incidents = list_incidents (f);
  g_assert_cmpuint (incidents->len, ==, 1);
  const Incident *inc = &g_array_index (incidents, Incident, 0);
  guint frames;
  g_autoptr (AnsimManifest) m = check_incident (f, inc, FALSE, &frames);
  g_assert_cmpstr (inc->reason, ==, "post-event");
  /* press, notice-given, press; and, as no uploader runs here to deliver
   * the alert, alert-not-delivered once (3 s after the first press). */
  g_autoptr (GString) kinds = g_string_new (NULL);
  const AnsimManifestEvent *second = NULL;
  guint not_delivered = 0;
  for (guint i = 0; i < ansim_manifest_get_n_events (m); i++)
    {
      const AnsimManifestEvent *ev = ansim_manifest_get_event (m, i);
      if (g_str_equal (ev->kind, "alert-not-delivered"))
        {
          not_delivered++;
          continue;
        }
      g_string_append_printf (kinds, "%s%s", kinds->len > 0 ? " " : "", ev->kind);
      if (g_str_equal (ev->kind, "press"))
        second = ev;
    }
  g_assert_cmpstr (kinds->str, ==, "press notice-given press");
  g_assert_cmpuint (not_delivered, ==, 1);
  g_assert_cmpuint (ansim_manifest_get_n_events (m), ==, 4);
  g_assert_cmpint (second->mono_us - inc->opened_mono_us, >=, 1900000);
  g_assert_cmpint (inc->closed_mono_us - second->mono_us, >=, POST_EVENT_S * G_USEC_PER_SEC);
  g_assert_cmpint (inc->closed_mono_us - second->mono_us, <, (POST_EVENT_S + 2) * G_USEC_PER_SEC);
}

/* A long press ends a running incident at once; holding the press that
 * opened it does not. */
static void
test_long_press (Fixture *f, gconstpointer data)
{
  (void) data;
  start_and_fill (f, 1);
  test_recorder_press (f->data_dir, "desk-button", "long"); /* opens; held long: must not end it */
  g_usleep (1500000);
  test_recorder_press (f->data_dir, "desk-button", "long"); /* ends it */
  test_recorder_wait_closed (f->data_dir, f->log_path, 1, 20000);
  test_process_end (&f->host);

  g_autoptr (GArray) incidents = list_incidents (f);
  g_assert_cmpuint (incidents->len, ==, 1);
  const Incident *inc = &g_array_index (incidents, Incident, 0);
  guint frames;
  g_autoptr (AnsimManifest) m = check_incident (f, inc, FALSE, &frames);
  g_assert_cmpstr (inc->reason, ==, "long-press");
  g_assert_cmpstr (ansim_manifest_get_close_reason (m), ==, "long-press");
  /* Second press at ~1.5 s + hold 0.6 s: well before the post-event end. */
  g_assert_cmpint (inc->closed_mono_us - inc->opened_mono_us, <, POST_EVENT_S * G_USEC_PER_SEC);
  g_assert_cmpint (inc->closed_mono_us - inc->opened_mono_us, >, 1500000);
}

static char *
control (Fixture *f, const char *request)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *sock = g_build_filename (f->data_dir, "control.sock", NULL);
  char *reply = ansim_control_request (sock, request, &error);
  g_assert_no_error (error);
  return reply;
}

static gboolean
light_on (Fixture *f)
{
  g_autofree char *reply = control (f, "outputs");
  return strstr (reply, "\"acknowledged\":true") != NULL;
}

/* "acknowledged UUID" on the control socket (what the uploader's channel
 * sends when the console acknowledges): the "help is coming" light on at
 * once for the incident that records, with no event-log row needed; a
 * malformed UUID refused with the reason and another incident's UUID
 * changing nothing; off when the incident ends. */
static void
test_acknowledged_command (Fixture *f, gconstpointer data)
{
  (void) data;
  start_and_fill (f, 1);
  test_recorder_press (f->data_dir, "desk-button", "");
  g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (test_db_int (db, "SELECT count(*) FROM incidents") == 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, end);
      g_usleep (20000);
    }
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (db, "SELECT uuid FROM incidents", NULL);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  g_autofree char *uuid = g_strdup ((const char *) sqlite3_column_text (st, 0));
  g_clear_pointer (&st, sqlite3_finalize);
  g_assert_false (light_on (f));

  /* An empty request (what a probe of the socket sends) is refused, not
   * handed to the recorder's commands. */
  g_autofree char *empty = control (f, "");
  g_assert_nonnull (strstr (empty, "\"ok\":false"));
  g_autofree char *bad = control (f, "acknowledged 12345");
  g_assert_nonnull (strstr (bad, "\"ok\":false"));
  g_assert_nonnull (strstr (bad, "UUID"));
  g_autofree char *extra = control (f, "acknowledged a b");
  g_assert_nonnull (strstr (extra, "\"ok\":false"));
  g_autofree char *other_uuid = g_uuid_string_random ();
  g_autofree char *other_req = g_strdup_printf ("acknowledged %s", other_uuid);
  g_autofree char *other = control (f, other_req);
  g_assert_nonnull (strstr (other, "\"ok\":true"));
  g_assert_false (light_on (f));

  g_autofree char *req = g_strdup_printf ("acknowledged %s", uuid);
  gint64 asked = g_get_monotonic_time ();
  g_autofree char *reply = control (f, req);
  g_assert_nonnull (strstr (reply, "\"ok\":true"));
  g_assert_true (light_on (f));
  g_test_message ("acknowledged UUID -> light on: %.1f ms",
                  (g_get_monotonic_time () - asked) / 1e3);
  /* The 200 ms look at the event log (no row there) leaves it on. */
  g_usleep (500000);
  g_assert_true (light_on (f));
  g_assert_cmpint (test_db_int (db, "SELECT count(*) FROM events WHERE kind = 'acknowledged'"), ==,
                   0);

  test_recorder_press (f->data_dir, "desk-button", "long"); /* ends it */
  end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (light_on (f))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, end);
      g_usleep (20000);
    }
  test_recorder_wait_closed (f->data_dir, f->log_path, 1, 20000);
  test_process_end (&f->host);
}

static const Setup max_length_setup = { "max_incident_seconds = 10\n", FALSE, 0, 0 };
static const Setup long_incident = { "", FALSE, 60, 0 };

/* Presses every second keep it going; the maximum length ends it. */
static void
test_max_length (Fixture *f, gconstpointer data)
{
  (void) data;
  start_and_fill (f, 1);
  /* the last press at ~8 s: its post-event end (11 s) is after the maximum */
  for (guint i = 0; i < 9; i++)
    {
      test_recorder_press (f->data_dir, "desk-button", "100");
      g_usleep (G_USEC_PER_SEC);
    }
  test_recorder_wait_closed (f->data_dir, f->log_path, 1, 20000);
  test_process_end (&f->host);

  g_autoptr (GArray) incidents = list_incidents (f);
  g_assert_cmpuint (incidents->len, ==, 1);
  const Incident *inc = &g_array_index (incidents, Incident, 0);
  guint frames;
  g_autoptr (AnsimManifest) m = check_incident (f, inc, FALSE, &frames);
  (void) m; /* kept for its cleanup */
  g_assert_cmpstr (inc->reason, ==, "max-length");
  gint64 length = inc->closed_mono_us - inc->opened_mono_us;
  g_assert_cmpint (length, >=, 10 * G_USEC_PER_SEC - 200000);
  g_assert_cmpint (length, <, 11 * G_USEC_PER_SEC);
}

/* kill -9 in the middle: on restart the incident is closed as interrupted,
 * what was sealed verifies and plays, and the next incident chains to it. */
static void
test_kill9 (Fixture *f, gconstpointer data)
{
  (void) data;
  start_and_fill (f, 1);
  test_recorder_press (f->data_dir, "desk-button", "100");
  test_wait_log (f->log_path, "recorder", "sealed seg-000003", 1, 20000);
  g_subprocess_send_signal (f->host, SIGKILL);
  g_subprocess_wait (f->host, NULL, NULL);
  g_clear_object (&f->host);
  {
    g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
    g_assert_cmpint (
      test_db_int (db, "SELECT count(*) FROM incidents WHERE closed_wall_us IS NULL"), ==, 1);
  }

  start_host (f);
  test_wait_log (f->log_path, "recorder", "recorder-host: ready", 2, 20000);
  test_wait_log (f->log_path, "recorder", "closed as interrupted", 1, 1000);
  g_autoptr (GArray) incidents = list_incidents (f);
  g_assert_cmpuint (incidents->len, ==, 1);
  const Incident *inc = &g_array_index (incidents, Incident, 0);
  g_assert_cmpstr (inc->reason, ==, "interrupted");
  guint frames;
  g_autoptr (AnsimManifest) m = check_incident (f, inc, FALSE, &frames);
  g_assert_cmpstr (ansim_manifest_get_close_reason (m), ==, "interrupted");
  g_assert_cmpuint (ansim_manifest_get_n_entries (m), >=, 4);
  /* The queued uploads are all still there. */
  {
    g_autoptr (sqlite3) db = test_desk_db_open (f->data_dir);
    g_assert_cmpint (test_db_int (db, "SELECT count(*) FROM outbox WHERE class = 3"), ==,
                     ansim_manifest_get_n_entries (m));
  }

  /* The next incident records and chains to the interrupted one. */
  g_usleep ((PRE_EVENT_S + 2) * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "100");
  g_usleep (G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "long");
  test_recorder_wait_closed (f->data_dir, f->log_path, 2, 20000);
  test_process_end (&f->host);
  g_autoptr (GArray) after = list_incidents (f);
  g_assert_cmpuint (after->len, ==, 2);
  const Incident *next = &g_array_index (after, Incident, 1);
  g_autoptr (AnsimManifest) m2 = check_incident (f, next, FALSE, &frames);
  g_autoptr (GError) error = NULL;
  g_autofree char *prev_dir = g_build_filename (f->data_dir, "spool", inc->uuid, NULL);
  g_autofree char *next_dir = g_build_filename (f->data_dir, "spool", next->uuid, NULL);
  AnsimVerifyOptions opts = { .previous = prev_dir };
  g_autoptr (AnsimVerifyReport) report = ansim_incident_verify (next_dir, &opts, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < report->lines->len; i++)
    g_test_message ("%s", ((AnsimFinding *) report->lines->pdata[i])->text);
  g_assert_cmpuint (report->n_findings, ==, 0);
  g_assert_nonnull (ansim_manifest_get_previous_manifest_sha256 (m2));
}

/* The muxer finishes every segment but posts no end of stream (seen with
 * splitmuxsink under load; forced here by the segmenter's test hook, the
 * bus message dropped as if it never came): each incident still closes,
 * with all it recorded, and verifies; the log says why it waited. */
static void
test_muxer_eos_lost (Fixture *f, gconstpointer data)
{
  (void) data;
  const char *env[] = { "TMPDIR", f->tmp_dir, "ANSIM_TEST_SEGMENTER_EOS", "lost", NULL };
  f->host = test_recorder_host_start (f->config_path, f->key_path, f->log_path, env);
  test_wait_log (f->log_path, "recorder", "recorder-host: ready", 1, 20000);
  g_usleep ((PRE_EVENT_S + 2) * G_USEC_PER_SEC);
  test_recorder_press (f->data_dir, "desk-button", "100");
  /* post-event, then the 5 s the segmenter waits for the muxer */
  test_recorder_wait_closed (f->data_dir, f->log_path, 2, 20000);
  g_assert_cmpuint (test_count_in_file (f->log_path, "sent no end of stream"), ==, 2);
  test_process_end (&f->host);

  g_autoptr (GArray) incidents = list_incidents (f);
  g_assert_cmpuint (incidents->len, ==, 2);
  for (guint s = 0; s < 2; s++)
    {
      const Incident *inc = find_incident (incidents, s == 0 ? "cam" : "body");
      guint frames;
      g_autoptr (AnsimManifest) m = check_incident (f, inc, s == 1, &frames);
      const AnsimManifestEntry *last =
        ansim_manifest_get_entry (m, ansim_manifest_get_n_entries (m) - 1);
      g_assert_cmpstr (inc->reason, ==, "post-event");
      /* closed at the incident's end, not when the wait gave up */
      gint64 length = inc->closed_mono_us - inc->opened_mono_us;
      g_assert_cmpint (length, <, (POST_EVENT_S + 2) * G_USEC_PER_SEC);
      g_assert_cmpint (last->start_mono_us + last->duration_us, >=, inc->closed_mono_us - 500000);
    }
}

static const Setup one_source = { "", FALSE, 0, 0 };
static const Setup pre_event_120 = { "", FALSE, 0, 120, FALSE };
static const Setup rtsp_camera = { "", FALSE, 60, 0, TRUE };

int
main (int argc, char **argv)
{
  gboolean long_tests = argc > 1 && g_str_equal (argv[argc - 1], "--long");
  if (long_tests)
    argc--;
  g_test_init (&argc, &argv, NULL);
  if (!test_have_programs ("needs age, ffprobe and ffmpeg", "age", "ffprobe", "ffmpeg", NULL))
    return 77;
#define ADD(path, fn, setup_data) g_test_add (path, Fixture, setup_data, setup, fn, teardown)
  /* The long ones run as their own meson test, beside the others. */
  if (long_tests)
    {
      ADD ("/recorder/long/pre-event-120", test_pre_event_120, &pre_event_120);
      return g_test_run ();
    }
  ADD ("/recorder/incident/pre-event-continuity-sealing", test_incident, &default_setup);
  ADD ("/recorder/incident/extension", test_extension, &one_source);
  ADD ("/recorder/incident/long-press", test_long_press, &one_source);
  ADD ("/recorder/incident/acknowledged-command", test_acknowledged_command, &one_source);
  ADD ("/recorder/incident/shutdown", test_shutdown, &one_source);
  ADD ("/recorder/incident/muxer-eos-lost", test_muxer_eos_lost, &default_setup);
  ADD ("/recorder/incident/max-length", test_max_length, &max_length_setup);
  ADD ("/recorder/crash/kill9-restart", test_kill9, &long_incident);
  ADD ("/recorder/failure/rtsp-outage", test_rtsp_outage, &rtsp_camera);
  return g_test_run ();
}
