/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansim-recorder: turns the desk's triggers into incidents. Owns the hw
 * inputs and outputs, the control socket and the desk database connection. */
#pragma once

#include <glib.h>
#include "config.h"
#include "evidence.h"

G_BEGIN_DECLS

typedef struct _Recorder Recorder;

/* Opens the database (migrating it), records the desk and its triggers,
 * opens every input and output and the control socket. Any missing device
 * is an error naming it. Runs on the thread-default main context. Loads
 * the device key ([recorder] device_key), creating it on first start. */
Recorder *recorder_new (AnsimConfig *config, GError **error);
/* The same with the device's signing key (taken; NULL: incidents are
 * logged but not recorded). Also starts every [source] (capture, encoding,
 * pre-event buffer) and, before anything else, closes incidents a crash
 * left open as "interrupted". */
Recorder *recorder_new_with_device_key (AnsimConfig *config, AnsimDeviceKey *device_key,
                                        GError **error);
/* What a source's pre-event buffer holds now: seconds from its first
 * keyframe to its newest frame, and bytes of encoded media. */
void recorder_get_prebuffer_stats (Recorder *self, const char *source, double *out_seconds,
                                   gsize *out_bytes);
/* Closes open incidents as "shutdown", waiting up to 10 s for their last
 * segments. Incidents that cannot finish by then (e.g. waiting for disk
 * space) are left running, with what they use, to the process's exit,
 * which must follow; the next start closes them as "interrupted". */
void recorder_free (Recorder *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Recorder, recorder_free)

G_END_DECLS
