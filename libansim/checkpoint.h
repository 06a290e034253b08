/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Signed checkpoints of an incident (evidence format version 3): after each
 * sealed segment, a small signed text commits to the incident's header and
 * its chain head (the newest entry's hash), so the live view can later be
 * proved to match the final manifest, and an interrupted incident be
 * proved up to its last checkpoint. Each checkpoint names the one before
 * it, so a dropped or replayed checkpoint shows. docs/evidence-format.md,
 * "Checkpoints", is the normative description of the bytes. */
#pragma once

#include <glib.h>

#include "device-key.h"
#include "manifest.h"

G_BEGIN_DECLS

#define ANSIM_CHECKPOINT_DIR "checkpoints" /* inside an incident folder */
#define ANSIM_CHECKPOINT_MAX_SIZE 1024

typedef struct {
  char incident_id[37];
  char header_sha256[ANSIM_SHA256_HEX_LEN + 1];
  guint64 sequence;                        /* 0, 1, 2, ... per incident */
  char previous[ANSIM_SHA256_HEX_LEN + 1]; /* SHA-256 of the checkpoint before; zeros for 0 */
  guint64 entries;                         /* entries the manifest had */
  char head[ANSIM_SHA256_HEX_LEN + 1];     /* hash of entry entries-1, or the chain start */
  gint64 wall_us;
  gint64 mono_us;
} AnsimCheckpoint;

/* The header's canonical text ("ansim-header-v1", then name=value lines of
 * the members that are fixed at the open) and its SHA-256. */
char *ansim_manifest_header_canonical (const AnsimManifest *manifest);
void ansim_manifest_header_hash (const AnsimManifest *manifest,
                                 char out_hex[ANSIM_SHA256_HEX_LEN + 1]);
/* The chain head after the first n entries: the hash of entry n-1, or the
 * chain start when n is 0. FALSE when the manifest has fewer entries. */
gboolean ansim_manifest_head_after (const AnsimManifest *manifest, guint64 n,
                                    char out_hex[ANSIM_SHA256_HEX_LEN + 1]);

/* The checkpoint of the manifest as it stands. previous: the SHA-256 of the
 * text of the checkpoint before (NULL for sequence 0). */
void ansim_checkpoint_of_manifest (const AnsimManifest *manifest, guint64 sequence,
                                   const char *previous, gint64 wall_us, gint64 mono_us,
                                   AnsimCheckpoint *out);
/* Its exact bytes (what is signed). */
GBytes *ansim_checkpoint_to_bytes (const AnsimCheckpoint *checkpoint);
/* Strict: exactly the bytes ansim_checkpoint_to_bytes() would write, or
 * ANSIM_EVIDENCE_ERROR_MALFORMED naming what is wrong. */
gboolean ansim_checkpoint_parse (const void *data, gsize len, AnsimCheckpoint *out, GError **error);
/* "checkpoint-000012" */
char *ansim_checkpoint_file_name (guint64 sequence);

/* Writes DIR/checkpoints/checkpoint-NNNNNN and its .sig (the raw Ed25519
 * signature), each durably, never replacing one; out_sha256 (optional) gets
 * the SHA-256 of the text, what the next checkpoint names. */
gboolean ansim_checkpoint_write (const AnsimCheckpoint *checkpoint, const char *incident_dir,
                                 const AnsimDeviceKey *key,
                                 char out_sha256[ANSIM_SHA256_HEX_LEN + 1], GError **error);

/* What a desk sends the panel for one checkpoint (docs/protocol.md,
 * "Checkpoints"): {"checkpoint": its text, "signature": base64 of its
 * signature, "entries": the manifest's entries [from, to)}, as JSON. */
GBytes *ansim_checkpoint_upload_body (GBytes *text, GBytes *signature,
                                      const AnsimManifest *manifest, guint from, guint to);

G_END_DECLS
