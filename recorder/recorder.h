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
/* Stops the recorder: triggers, outputs (off) and the control socket, and
 * closes open incidents as "shutdown", waiting (running the default main
 * context) up to 10 s for their last segments. TRUE when every incident
 * finished: then recorder_free() may follow. FALSE: some incident could
 * not finish (e.g. waiting for disk space) and its sealing thread still
 * uses the recorder, which must then not be freed: the process's exit must
 * follow, and the next start closes that incident as "interrupted". */
gboolean recorder_shutdown (Recorder *self);
/* Frees a recorder that recorder_shutdown() stopped with TRUE (or that
 * never recorded). Never waits. */
void recorder_free (Recorder *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Recorder, recorder_free)

G_END_DECLS
