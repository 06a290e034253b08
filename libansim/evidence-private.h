/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Internals shared by the files of the evidence format (evidence.c,
 * device-key.c, manifest.c, manifest-parse.c, seal.c, verify.c): the
 * manifest's fields, the format's caps and value spellings. Not for
 * callers outside libansim. */
#pragma once

#include <glib.h>

#include "evidence.h"
#include "util.h"

G_BEGIN_DECLS

/* Integers in a manifest stay below 2^53 so that every JSON tool (jq,
 * JavaScript, Python) reads them exactly. */
#define ANSIM_MANIFEST_MAX_INT G_GINT64_CONSTANT (9007199254740991)
/* The latest time a manifest can hold: 9999-12-31T23:59:59.999999Z. */
#define ANSIM_WALL_MAX_US G_GINT64_CONSTANT (253402300799999999)
/* The chain start of a device's first incident. */
#define ANSIM_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
/* Reads and writes of segment files go in pieces this large. */
#define ANSIM_EVIDENCE_IO_CHUNK (64 * 1024)

/* Built by manifest.c, filled by manifest-parse.c, read by seal.c (which
 * also sets written_sha256) and verify.c. */
struct _AnsimManifest {
  guint format_version; /* 1, 2 or 3 (ANSIM_MANIFEST_VERSION) */
  char *device_id;
  char *device_fingerprint;
  char *desk_id;
  char *trigger_name;
  AnsimTriggerKind trigger_kind;
  char *source; /* version 2; NULL in version 1 */
  gboolean drill;
  char *incident_id;
  gint64 opened_wall_us, opened_mono_us;
  gboolean closed;
  gint64 closed_wall_us, closed_mono_us;
  char *close_reason;
  char *previous_manifest_sha256; /* NULL for a device's first incident */
  char chain_start[ANSIM_SHA256_HEX_LEN + 1];
  GArray *entries;                               /* AnsimManifestEntry */
  GArray *events;                                /* AnsimManifestEvent */
  char written_sha256[ANSIM_SHA256_HEX_LEN + 1]; /* "" before the first write */
  /* Version 3: the next checkpoint's sequence and the SHA-256 of the last
   * one written; found in the folder at the first write (after a crash). */
  gboolean checkpoints_resumed;
  guint64 checkpoint_next;
  char checkpoint_last[ANSIM_SHA256_HEX_LEN + 1];
  /* manifest-clock.c: the optional desk clock members, by AnsimManifestClockWhen */
  gboolean has_desk_clock[2];
  AnsimDeskClock desk_clock[2];
};

/* An empty manifest (no entries, "open", the zero chain start). */
AnsimManifest *ansim_manifest_alloc (void);
/* Sets ANSIM_EVIDENCE_ERROR_MALFORMED with the formatted message; FALSE. */
gboolean ansim_manifest_invalid (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);
/* "video" or "audio": the streams a one-stream gap may name. */
gboolean ansim_manifest_is_stream_name (const char *stream);
/* Open, and room for one more entry (STATE or TOO_LARGE otherwise). */
gboolean ansim_manifest_check_entry_room (const AnsimManifest *manifest, const char *what,
                                          GError **error);
/* The builder's checks for the next segment entry (open, room, times,
 * sizes, hashes), for the sealer to run before it publishes anything. */
gboolean ansim_manifest_check_segment (const AnsimManifest *manifest, gint64 start_wall_us,
                                       gint64 start_mono_us, gint64 duration_us, gint64 cipher_size,
                                       gint64 plain_size, const char *sha256_plain,
                                       const char *sha256_cipher, GError **error);
/* The link rule of the chain: what the prev of the entry at position must
 * be (the chain start, or the hash of the entry before it). */
void ansim_manifest_expected_prev (const AnsimManifest *manifest, guint position,
                                   char out_hex[ANSIM_SHA256_HEX_LEN + 1]);

/* "2025-01-02T03:04:05.123456Z" <-> µs since the epoch (1970..9999). */
char *ansim_evidence_format_wall (gint64 wall_us);
gboolean ansim_evidence_parse_wall (const char *text, gint64 *out_wall_us);
/* "seg-000012.mkv.age": the index (12) and the plaintext name ("seg-000012.mkv"). */
gboolean ansim_evidence_parse_segment_name (const char *name, guint64 *out_index,
                                            char **out_plain_name);
/* Reads a small file whole; refuses more than max bytes
 * (ANSIM_EVIDENCE_ERROR_TOO_LARGE). */
GBytes *ansim_evidence_read_small_file (const char *path, gsize max, GError **error);

/* manifest-clock.c: the desk clock members into an open object, and out
 * of a parsed root (after the root's member names were checked). */
typedef struct _JsonBuilder JsonBuilder;
typedef struct _JsonObject JsonObject;
void ansim_manifest_desk_clock_to_json (JsonBuilder *builder, const AnsimManifest *manifest);
gboolean ansim_manifest_desk_clock_parse (JsonObject *root, AnsimManifest *manifest,
                                          GError **error);

G_END_DECLS
