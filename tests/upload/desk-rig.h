/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A whole desk with its real daemons for the desk tests (test-desk,
 * test-desk-alarm, test-desk-channel): a test folder with the desk's data
 * (enrollable TestDesk) and a panel, ansim-recorder with a test camera and
 * simulated outputs, ansim-uploader, and, for the link tests, the panel in
 * a network namespace whose cable can be pulled. What the clerk sees is
 * read from the recorder's control socket (`outputs`), the same code path
 * as a GPIO line. Every daemon dies with the test; the namespace is
 * removed however the test ends (test-netns.h). */
#pragma once

#include "test-netns.h"
#include "upload-helpers.h"

G_BEGIN_DECLS

/* config/demo-identity.txt's recipient */
#define TEST_DEMO_RECIPIENT "age1zgfel6e3l4l0pcvjusy2hxdedxx7kgqk7sxmlznvmvyaxtl9lcsqenup9c"

typedef struct {
  char *dir; /* the test's folder: desk/ and panel/ */
  TestDesk *desk;
  TestPanel *panel; /* made, not started */
  GSubprocess *recorder;
  GSubprocess *uploader;
  char *recorder_conf; /* desk/recorder.conf */
  char *control;       /* the recorder's control socket */
  TestNetns *netns;    /* set by test_desk_rig_panel_behind_link */
} TestDeskRig;

/* template: the folder's name, "ansim-NAME-XXXXXX". */
void test_desk_rig_init (TestDeskRig *rig, const char *template);
/* Stops the daemons (SIGTERM: each must exit cleanly), removes the
 * namespace and the folder. */
void test_desk_rig_clear (TestDeskRig *rig);

/* Writes the recorder's configuration: device dev-1 at desk-1 (민원실 1번
 * 창구) sealing for the demo recipient in 1 s segments, plus
 * recorder_lines ([recorder] settings: pre/post-event time, policies); the
 * simulated desk-button, the simulated recording and acknowledged outputs;
 * more_groups (more outputs, NULL for none); the desk camera [source
 * desk-camera] with source_lines (NULL: the test picture at 160x120,
 * 10 fps, 100 kbit/s, a keyframe a second). */
void test_desk_rig_write_recorder_conf (TestDeskRig *rig, const char *recorder_lines,
                                        const char *more_groups, const char *source_lines);

/* Starts ansim-recorder (its log: desk/recorder.log), env: NULL-terminated
 * NAME, VALUE pairs or NULL; waits until its control socket answers, then
 * settle_ms for the pre-event ring to fill. */
void test_desk_rig_start_recorder (TestDeskRig *rig, const char *const *env, guint settle_ms);
/* ansim-uploader against the panel; extra: more [uploader] lines. */
void test_desk_rig_start_uploader (TestDeskRig *rig, const char *extra);

/* A request on the recorder's control socket; fails the test unless it
 * is answered. */
char *test_desk_rig_control (TestDeskRig *rig, const char *request);
/* A short press of desk-button; the recorder must answer ok. */
void test_desk_rig_press (TestDeskRig *rig);
/* Whether the output called name is on now (it must exist). */
gboolean test_desk_rig_output_on (TestDeskRig *rig, const char *name);
/* Polls the output every 5 ms: the monotonic time it was first seen in
 * state on, or 0 if it was not before deadline_us. */
gint64 test_desk_rig_wait_output (TestDeskRig *rig, const char *name, gboolean on,
                                  gint64 deadline_us);
/* The uuid of the desk's newest incident, NULL if none. */
char *test_desk_rig_newest_incident (TestDeskRig *rig);

/* Puts the panel (made again, not started) in a network namespace of its
 * own behind a veth pair; FALSE after g_test_skip when this machine
 * cannot make one. */
gboolean test_desk_rig_panel_behind_link (TestDeskRig *rig);
/* The cable between desk and panel in (up) or out. */
void test_desk_rig_set_link (TestDeskRig *rig, gboolean up);

G_END_DECLS
