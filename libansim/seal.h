/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Writing evidence to disk: manifests written and signed, segments sealed
 * (encrypted with age while produced) in the crash-safe order, temp files
 * adopted after a crash, and the crash points the tests use. */
#pragma once

#include <glib.h>

#include "age.h"
#include "device-key.h"
#include "manifest.h"

G_BEGIN_DECLS

/* Writes DIR/manifest.json and DIR/manifest.json.sig (raw Ed25519 signature
 * over the exact bytes), each atomically (temp file, fsync, rename), the
 * manifest first, then fsyncs DIR; writes DIR/device.pub.pem if missing.
 * Creates DIR (0700) if needed. Call after every change: each version on
 * disk is complete and signed. key must hold the private key whose
 * fingerprint the manifest records. */
gboolean ansim_manifest_write (AnsimManifest *manifest, const char *dir, const AnsimDeviceKey *key,
                               GError **error);

/* ---- sealing segments ----------------------------------------------------- */

/* Seals one segment while it is produced: the plaintext goes through
 * SHA-256 and age encryption straight into a hidden temp file in dir
 * (".seg-NNNNNN.mkv.age.tmp-XXXXXX"), so it never touches the disk
 * unencrypted. The manifest is borrowed and must outlive the sealer; no
 * other entry may be added to it meanwhile.
 *
 * The crash-safe order (docs/evidence-format.md, "Sealing order"):
 * finish_pending() fsyncs the temp file and adds the segment entry; then
 * write the manifest; then publish() renames the temp file to
 * ansim_manifest_next_segment_name() (never replacing a file) and fsyncs
 * dir. So a file under its final name is always listed by a durable
 * manifest; after a crash in between, ansim_incident_adopt_temp_segment()
 * completes the rename. finish() is finish_pending() then publish() at
 * once, for tools that write the manifest afterwards.
 * Freeing a sealer before finish_pending() removes its temp file (it was
 * never listed); after it, the temp file is kept. */
typedef struct _AnsimSegmentSealer AnsimSegmentSealer;

AnsimSegmentSealer *ansim_segment_sealer_new (AnsimManifest *manifest, const char *dir,
                                              AnsimAgeRecipient *const *recipients,
                                              guint n_recipients, GError **error);
gboolean ansim_segment_sealer_write (AnsimSegmentSealer *sealer, const void *data, gsize len,
                                     GError **error);
gboolean ansim_segment_sealer_finish_pending (AnsimSegmentSealer *sealer, gint64 start_wall_us,
                                              gint64 start_mono_us, gint64 duration_us,
                                              GError **error);
gboolean ansim_segment_sealer_publish (AnsimSegmentSealer *sealer, GError **error);
gboolean ansim_segment_sealer_finish (AnsimSegmentSealer *sealer, gint64 start_wall_us,
                                      gint64 start_mono_us, gint64 duration_us, GError **error);
void ansim_segment_sealer_free (AnsimSegmentSealer *sealer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnsimSegmentSealer, ansim_segment_sealer_free)

/* The same for a segment held in memory (finish() order: for tools and
 * tests that write the manifest afterwards). */
gboolean ansim_manifest_seal_segment (AnsimManifest *manifest, const char *dir,
                                      AnsimAgeRecipient *const *recipients, guint n_recipients,
                                      const void *plaintext, gsize len, gint64 start_wall_us,
                                      gint64 start_mono_us, gint64 duration_us, GError **error);
/* A segment held in memory, in the crash-safe order: temp file fsynced,
 * entry added, manifest written and signed (key), then the rename. What
 * the recorder uses. */
gboolean ansim_manifest_seal_segment_durable (AnsimManifest *manifest, const char *dir,
                                              const AnsimDeviceKey *key,
                                              AnsimAgeRecipient *const *recipients,
                                              guint n_recipients, const void *plaintext, gsize len,
                                              gint64 start_wall_us, gint64 start_mono_us,
                                              gint64 duration_us, GError **error);
/* After a crash: dir/tmp_name (".NAME.tmp-XXXXXX") holds the complete
 * ciphertext of segment NAME that manifest lists: checks its size and
 * SHA-256 against the entry, renames it to NAME (never replacing a file)
 * and fsyncs dir. Fails (changing nothing) when the manifest does not list
 * NAME or the bytes differ. */
gboolean ansim_incident_adopt_temp_segment (const char *dir, const char *tmp_name,
                                            const AnsimManifest *manifest, GError **error);

/* ---- testing ---------------------------------------------------------------- */

/* A deterministic crash for tests: when ANSIM_TEST_CRASH_AT is "POINT" or
 * "POINT:N" and this is the Nth time (default 1) POINT is reached in this
 * process, the process kills itself with SIGKILL, like kill -9 or a power
 * cut. Points: segment-partial (half a segment's ciphertext written),
 * segment-encrypted (temp file fsynced, not yet listed), manifest-written
 * (manifest.json replaced, signature not yet), manifest-signed (both
 * written, segment not yet renamed), segment-renamed (segment in place,
 * database rows not yet written). No effect without the variable. */
void ansim_evidence_crash_point (const char *point);

G_END_DECLS
