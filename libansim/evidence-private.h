/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Internals of the evidence format shared by evidence.c and its tests:
 * OpenSSL cleanups, SHA-256 in hex, and the format's value checks. */
#pragma once

#include <glib.h>
#include <openssl/bio.h>
#include <openssl/evp.h>

#include "evidence.h"
#include "util.h"


/* Integers in a manifest stay below 2^53 so that every JSON tool (jq,
 * JavaScript, Python) reads them exactly. */
#define ANSIM_MANIFEST_MAX_INT G_GINT64_CONSTANT (9007199254740991)

/* "2025-01-02T03:04:05.123456Z" <-> µs since the epoch (1970..9999). */
char *ansim_evidence_format_wall (gint64 wall_us);
gboolean ansim_evidence_parse_wall (const char *text, gint64 *out_wall_us);
/* "seg-000012.mkv.age": the index (12) and the plaintext name ("seg-000012.mkv"). */
gboolean ansim_evidence_parse_segment_name (const char *name, guint64 *out_index,
                                            char **out_plain_name);
