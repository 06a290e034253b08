/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Shared by the upload tests and benchmarks: a desk whose outbox is filled
 * the way the recorder fills it (evidence library + outbox contract of
 * docs/schema.md), and real ansim-panel / ansim-uploader processes. */
#pragma once

#include <gio/gio.h>
#include <sqlite3.h>

#include "evidence.h"
#include "test-common.h"

G_BEGIN_DECLS

/* ---- a desk ---------------------------------------------------------------- */

typedef struct {
  char *dir;      /* the desk's data_dir */
  char *spool;    /* dir/spool */
  char *key_path; /* dir/device.pem */
  sqlite3 *db;    /* dir/desk.db */
  AnsimDeviceKey *key;
  AnsimAgeRecipient *recipient;
  char *site_key_path;        /* dir/site.key (0600): the identity of recipient */
  char *prev_manifest_sha256; /* the chain between this desk's incidents */
  char *device_id;            /* what its manifests say ("dev-1") */
  char *desk_id;              /* "desk-1" */
  const char *source;         /* the camera its manifests name: NULL writes format
                               * version 1 (an older desk), a name the newest */
} TestDesk;

/* Device dev-1 at desk desk-1 (민원실 1번 창구). */
TestDesk *test_desk_new (const char *dir);
/* Another device and desk, for tests with several desks. */
TestDesk *test_desk_new_at (const char *dir, const char *device_id, const char *desk_id,
                            const char *desk_name);
void test_desk_free (TestDesk *desk);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestDesk, test_desk_free)

/* Opens an incident as the recorder would: incident row, "incident-opened"
 * event, alert + event queued (the alert first). Returns the incident's
 * row id; out_uuid gets its uuid. */
typedef struct _TestIncident TestIncident;
TestIncident *test_incident_open (TestDesk *desk);
/* Seals one segment of size random bytes, writes the manifest, records the
 * segment and queues it together with a manifest upload. */
void test_incident_add_segment (TestIncident *incident, gsize size);
/* The same with the given plaintext (e.g. Matroska from GStreamer). */
void test_incident_add_segment_data (TestIncident *incident, const void *plain, gsize size);
/* The same for a segment of duration µs (the others are 2 s). */
void test_incident_add_segment_timed (TestIncident *incident, const void *plain, gsize size,
                                      gint64 duration);
/* A declared gap of duration µs in the manifest (no file), e.g. a camera
 * that stopped; the next segment starts after it. */
void test_incident_add_gap (TestIncident *incident, gint64 duration, const char *reason);
/* Closes the manifest, writes it and queues its final upload. Frees it. */
void test_incident_close (TestIncident *incident);
const char *test_incident_get_uuid (TestIncident *incident);
gint64 test_incident_get_id (TestIncident *incident);
AnsimManifest *test_incident_get_manifest (TestIncident *incident);

/* A closed incident with n segments of size bytes. Returns its uuid (free). */
char *test_desk_record (TestDesk *desk, guint n_segments, gsize size);

/* The headers of a device request signed with the desk's key, as the
 * uploader signs it (docs/protocol.md): Content-Digest, Signature-Input,
 * Signature. */
void test_desk_sign (TestDesk *desk, const char *method, const char *path, const void *body,
                     gsize len, char **out_digest, char **out_input, char **out_signature);

/* SELECT count(*) with a condition on the outbox, e.g. "confirmed_at_us IS NULL". */
gint64 test_desk_count (TestDesk *desk, const char *where);

/* ---- processes -------------------------------------------------------------- */

typedef struct {
  char *dir;  /* data_dir */
  char *conf; /* dir/panel.conf */
  char *url;  /* http://127.0.0.1:PORT */
  guint port;
  GSubprocess *proc;
  char *log_path;
  char *ca_file; /* set by test_panel_new_https */
  char *host;    /* the address it listens on: 127.0.0.1 unless in a netns */
  char *netns;   /* network namespace it runs in (ip netns exec), or NULL */
} TestPanel;

/* extra: more lines for [panel] (may be NULL). Not started. */
TestPanel *test_panel_new (const char *dir, const char *extra);
/* The same serving HTTPS with a certificate for 127.0.0.1 from a test CA
 * made with the openssl CLI (ca_file is that CA). */
TestPanel *test_panel_new_https (const char *dir, const char *extra);
/* The same running in network namespace netns (`ip netns exec`),
 * listening on address there. */
TestPanel *test_panel_new_in_netns (const char *dir, const char *extra, const char *netns,
                                    const char *address);
/* Starts it and waits until it answers (fails the test after 10 s). */
void test_panel_start (TestPanel *panel);
/* The same with env: NULL-terminated NAME, VALUE pairs (VALUE NULL: unset). */
void test_panel_start_env (TestPanel *panel, const char *const *env);
/* Sends sig and waits for the process to end. */
void test_panel_stop (TestPanel *panel, int sig);
void test_panel_free (TestPanel *panel);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestPanel, test_panel_free)
/* The panel's database, read-only. */
sqlite3 *test_panel_open_db (TestPanel *panel);
gint64 test_panel_count (TestPanel *panel, const char *sql);
/* Enrolls the desk's key as device_id (on the desk's desk_id) through
 * ansimctl enroll-code + enroll. */
void test_panel_enroll (TestPanel *panel, TestDesk *desk, const char *device_id);

/* A press on desk as the panel sees it: opens an incident (with one
 * segment of segment_size bytes unless 0), wakes desk's uploader and
 * waits (15 s at most) for the alert on panel. Its id there in
 * *out_panel_id (may be NULL). */
TestIncident *test_desk_press (TestDesk *desk, TestPanel *panel, gsize segment_size,
                               gint64 *out_panel_id);

/* ansim-uploader for desk against url; extra: more [uploader] lines. */
GSubprocess *test_uploader_start (TestDesk *desk, const char *url, const char *extra);
/* The same with env: NAME, VALUE pairs (NULL-terminated) added to its
 * environment (e.g. libfaketime's). */
GSubprocess *test_uploader_start_env (TestDesk *desk, const char *url, const char *extra,
                                      const char *const *env);

G_END_DECLS
