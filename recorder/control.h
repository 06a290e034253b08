/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The control socket of a desk, served by the recorder: `ansimctl press`
 * writes to it, the uploader and tests read the state from it. One request
 * line per connection, one JSON reply:
 *   press TRIGGER [HOLD_MS|long]   raw active now, inactive after HOLD_MS
 *   down TRIGGER / up TRIGGER       raw level changes
 *   outputs                         {"ok":true,"outputs":{"recording":false,...}}
 *   status                          the outputs, "triggers" and whatever the
 *                                   status function adds (the recorder: "sources")
 *   delivered UUID, acknowledged UUID, police-bell UUID REASON, path-ok
 *                                   the alarm loop (from the uploader): handed
 *                                   to the command function, {"ok":true}
 * Requests name simulated inputs only; anything else is refused. The
 * client is ansim_control_request (libansim/control-client.h). */
#pragma once

#include <json-glib/json-glib.h>

#include "hw.h"

G_BEGIN_DECLS

typedef struct _RecorderControl RecorderControl;

RecorderControl *recorder_control_new (const char *socket_path, GError **error);
void recorder_control_free (RecorderControl *self);
void recorder_control_add_input (RecorderControl *self, HwInput *input);    /* not owned */
void recorder_control_add_output (RecorderControl *self, HwOutput *output); /* not owned */
/* Adds members to the "status" reply (builder is inside its object). */
typedef void (*RecorderControlStatusFunc) (JsonBuilder *builder, gpointer user_data);
void recorder_control_set_status_func (RecorderControl *self, RecorderControlStatusFunc func,
                                       gpointer user_data);
/* Requests other than the above: FALSE when verb is not one the function
 * knows (*out_handled FALSE); else it handled it, with an error exactly
 * when it failed (the reply then says why). args[0] is the verb. */
typedef gboolean (*RecorderControlCommandFunc) (guint n_args, const char *const *args,
                                                gboolean *out_handled, gpointer user_data,
                                                GError **error);
void recorder_control_set_command_func (RecorderControl *self, RecorderControlCommandFunc func,
                                        gpointer user_data);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RecorderControl, recorder_control_free)

G_END_DECLS
