/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Shared by the recorder tests (and the desk tests that run a recorder):
 * the recorder-host process and its test camera, presses through the
 * control socket, the desk database, a site identity for sealing. Like
 * test-common.h, each helper fails the test instead of returning errors. */
#pragma once

#include <gio/gio.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* Makes an age identity, writes its secret to identity_path (0600) and
 * returns its recipient ("age1..."). */
char *test_age_identity_write (const char *identity_path);

/* The recorder configuration every recorder test starts from: [recorder]
 * (spool_dir: NULL for the default; recorder_extra: more lines or NULL),
 * desk-1, the simulated desk-button (long press 600 ms) and recording
 * light, 2 s segments. The caller appends its [source] groups. */
GString *test_recorder_config (const char *data_dir, const char *spool_dir, const char *recipient,
                               int pre_event_s, int post_event_s, const char *recorder_extra);

/* tests/recorder/recorder-host with config_path and key_path, its output
 * appended to log_path (a restarted recorder's words follow the killed
 * one's), with G_MESSAGES_DEBUG=ansim-recorder; env: more NAME, VALUE
 * pairs (VALUE NULL: unset), or NULL. It dies with the test. */
GSubprocess *test_recorder_host_start (const char *config_path, const char *key_path,
                                       const char *log_path, const char *const *env);
/* tests/recorder/rtsp-server serving rtsp://127.0.0.1:port/cam, given half
 * a second to listen. It dies with the test. */
GSubprocess *test_rtsp_camera_start (guint16 port);

/* Presses trigger (how: "short", "long", ...) through the recorder's
 * control socket in data_dir; the recorder must answer ok. */
void test_recorder_press (const char *data_dir, const char *trigger, const char *how);

/* The desk database in data_dir. */
sqlite3 *test_desk_db_open (const char *data_dir);
/* The first column of the first row of sql. */
gint64 test_db_int (sqlite3 *db, const char *sql);
/* Waits until n incidents of the desk in data_dir are closed; fails the
 * test after timeout_ms, showing the recorder's log at log_path. */
void test_recorder_wait_closed (const char *data_dir, const char *log_path, gint64 n,
                                guint timeout_ms);

/* Fixture teardown: a failed test keeps dir and shows the log at log_path
 * (who names it); a passed one removes dir. */
void test_keep_or_remove (const char *dir, const char *log_path, const char *who);

G_END_DECLS
