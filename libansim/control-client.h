/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The client side of the recorder's control socket (recorder/control.c is
 * the server). It lives in libansim, not in recorder/ or hw/, because the
 * uploader (heartbeat status), ansimctl (press, status) and the tests call
 * it and none of them should link the recorder or the GPIO code for one
 * request on a socket. Keeps true: one request line per connection, one
 * JSON reply line back; it never logs. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Sends request (one line, without newline: "status", "press front", ...)
 * to the recorder's control socket and returns its JSON reply (caller
 * frees). G_IO_ERROR_NOT_CONNECTED when no recorder listens there,
 * G_IO_ERROR_FAILED when it gave no reply. Waits at most 5 s to connect. */
char *ansim_control_request (const char *socket_path, const char *request, GError **error);

G_END_DECLS
