/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansim-recorder: turns the desk's triggers into incidents. Owns the hw
 * inputs and outputs, the control socket and the desk database connection. */
#pragma once

#include <glib.h>
#include "config.h"

G_BEGIN_DECLS

typedef struct _Recorder Recorder;

/* Opens the database (migrating it), records the desk and its triggers,
 * opens every input and output and the control socket. Any missing device
 * is an error naming it. Runs on the thread-default main context. */
Recorder *recorder_new (AnsimConfig *config, GError **error);
void recorder_free (Recorder *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Recorder, recorder_free)

G_END_DECLS
