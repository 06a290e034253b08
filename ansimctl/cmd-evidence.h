/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansimctl's evidence commands (keygen, verify, decrypt) and the device key
 * line of `ansimctl status`. */
#pragma once

#include <glib.h>

int ansimctl_keygen (int argc, char **argv);
int ansimctl_verify (int argc, char **argv);
int ansimctl_decrypt (int argc, char **argv);

/* One line (no newline) about the device key at key_path for `ansimctl
 * status`: its fingerprint, or why there is none ("not created yet", "mode
 * 0644 refused …"). Reads the public key beside it when the private key is
 * not readable by the caller. Free with g_free(). */
char *ansimctl_device_fingerprint_line (const char *key_path);
