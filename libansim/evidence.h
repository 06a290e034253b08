/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The evidence format: the device's Ed25519 identity, the signed,
 * hash-chained incident manifest, segment sealing and offline verification. */
#pragma once

#include <gio/gio.h>

#include "age.h"

G_BEGIN_DECLS

/* docs/evidence-format.md is the normative description of everything here. */

#define ANSIM_EVIDENCE_ERROR (ansim_evidence_error_quark ())
GQuark ansim_evidence_error_quark (void);

typedef enum {
  ANSIM_EVIDENCE_ERROR_MALFORMED,       /* a manifest (or value given to the builder) breaks the format */
  ANSIM_EVIDENCE_ERROR_TOO_LARGE,       /* over a size or count cap */
  ANSIM_EVIDENCE_ERROR_KEY,             /* a key file is not a usable Ed25519 key */
  ANSIM_EVIDENCE_ERROR_KEY_PERMISSIONS, /* a private key file is open to group or others */
  ANSIM_EVIDENCE_ERROR_SIGNATURE,       /* a signature does not verify */
  ANSIM_EVIDENCE_ERROR_STATE,           /* the manifest is closed, or changed under a sealer */
  ANSIM_EVIDENCE_ERROR_EXISTS,          /* refusing to replace an existing file */
  ANSIM_EVIDENCE_ERROR_FAILED,          /* OpenSSL failed */
} AnsimEvidenceErrorCode;

#define ANSIM_MANIFEST_FORMAT "ansim-incident-manifest"
#define ANSIM_MANIFEST_VERSION 2                 /* 2 adds "source"; 1 is still read */
#define ANSIM_MANIFEST_NAME "manifest.json"
#define ANSIM_MANIFEST_SIG_NAME "manifest.json.sig"
#define ANSIM_DEVICE_PUB_NAME "device.pub.pem"   /* the device's public key, beside the manifest */
#define ANSIM_MANIFEST_MAX_SIZE (16 * 1024 * 1024)
#define ANSIM_MANIFEST_MAX_ENTRIES 100000        /* 55 h of 2 s segments */
#define ANSIM_MANIFEST_MAX_EVENTS 10000
#define ANSIM_SIGNATURE_SIZE 64                  /* raw Ed25519 */
#define ANSIM_SHA256_HEX_LEN 64
#define ANSIM_FINGERPRINT_LEN 39                 /* "ab12:cd34:…" 8 groups of 4 hex digits */
/* Consecutive entries may differ from back-to-back timing by this much
 * before verify reports an undeclared gap or an overlap. */
#define ANSIM_MANIFEST_TIME_TOLERANCE_US 250000

/* ---- device identity ------------------------------------------------------ */

/* An Ed25519 key: a device's private key (signs manifests), or only a public
 * key (verifies them). The free function wipes the private key; accepts NULL. */
typedef struct _AnsimDeviceKey AnsimDeviceKey;

/* The private key lives in PATH as PKCS#8 PEM with mode 0600, the public key
 * beside it as SubjectPublicKeyInfo PEM (ansim_device_key_public_path()).
 * load_or_create() creates both when PATH does not exist (atomically: a
 * half-written key is never seen, and of two racing creators one wins and
 * both use its key). Both refuse a private key file that group or others
 * may read or write (ANSIM_EVIDENCE_ERROR_KEY_PERMISSIONS, naming the file,
 * its mode and the chmod that fixes it). A missing public file is rewritten. */
AnsimDeviceKey *ansim_device_key_load_or_create (const char *path, GError **error);
AnsimDeviceKey *ansim_device_key_load (const char *path, GError **error);
/* A public key from SubjectPublicKeyInfo PEM (as written beside the private
 * key and into every incident). */
AnsimDeviceKey *ansim_device_key_load_public (const char *path, GError **error);
AnsimDeviceKey *ansim_device_key_new_public_from_pem (const char *pem, gsize len,
                                                      const char *origin, GError **error);
void ansim_device_key_free (AnsimDeviceKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnsimDeviceKey, ansim_device_key_free)

/* "device.pem" -> "device.pub.pem"; any other name gets ".pub.pem" added. */
char *ansim_device_key_public_path (const char *private_path);
gboolean ansim_device_key_has_private (const AnsimDeviceKey *key);
/* The file it was loaded from (NULL when made from memory). */
const char *ansim_device_key_get_path (const AnsimDeviceKey *key);
/* First 16 bytes of SHA-256 over the raw 32-byte public key, lowercase hex
 * in groups of 4 joined by ':' (ANSIM_FINGERPRINT_LEN characters). */
const char *ansim_device_key_get_fingerprint (const AnsimDeviceKey *key);
void ansim_device_key_get_public_raw (const AnsimDeviceKey *key, guint8 out_raw[32]);
char *ansim_device_key_get_public_pem (const AnsimDeviceKey *key);
/* A raw 64-byte Ed25519 signature (pure Ed25519, no pre-hash) over data. */
GBytes *ansim_device_key_sign (const AnsimDeviceKey *key, const void *data, gsize len,
                               GError **error);
/* FALSE with ANSIM_EVIDENCE_ERROR_SIGNATURE when it does not verify. */
gboolean ansim_device_key_verify (const AnsimDeviceKey *key, const void *data, gsize len,
                                  const void *signature, gsize signature_len, GError **error);

/* ---- manifest ------------------------------------------------------------- */

typedef enum {
  ANSIM_TRIGGER_BUTTON,   /* "button": a desk's panic button */
  ANSIM_TRIGGER_BODYCAM,  /* "bodycam": a worn camera's trigger */
} AnsimTriggerKind;

typedef enum {
  ANSIM_ENTRY_SEGMENT,    /* "segment": a sealed media file */
  ANSIM_ENTRY_GAP,        /* "gap": time with no media, and why */
} AnsimEntryKind;

/* One entry of the chain, as recorded. Times: wall = UTC µs since the Unix
 * epoch, mono = CLOCK_MONOTONIC µs of the recording device. */
typedef struct {
  guint64 index;
  AnsimEntryKind kind;
  gint64 start_wall_us;
  gint64 start_mono_us;
  gint64 duration_us;
  /* segments only */
  char *file;                                  /* "seg-NNNNNN.mkv.age" */
  gint64 cipher_size;                          /* bytes of the file */
  gint64 plain_size;                           /* bytes of the media */
  char sha256_plain[ANSIM_SHA256_HEX_LEN + 1];
  char sha256_cipher[ANSIM_SHA256_HEX_LEN + 1];
  /* gaps only */
  char *reason;
  char *stream;                                /* "video" or "audio": only that stream
                                                * is missing (the segments around hold
                                                * the others); NULL: no media at all */
  /* the entry hash of the previous entry (or of the previous manifest) */
  char prev[ANSIM_SHA256_HEX_LEN + 1];
} AnsimManifestEntry;

typedef struct {
  char *kind;                                  /* e.g. "notice-given", "press", "long-press" */
  gint64 wall_us;
  gint64 mono_us;
  /* What more the event says (manifest member "detail"), or NULL: names
   * (tokens) and values (text) alternating, NULL-terminated, at most
   * ANSIM_MANIFEST_MAX_EVENT_DETAIL pairs, in the order written. */
  char **detail;
} AnsimManifestEvent;

#define ANSIM_MANIFEST_MAX_EVENT_DETAIL 16

/* What is known when an incident opens. */
typedef struct {
  const char *device_id;          /* the recording board's name */
  const char *desk_id;
  const char *trigger_name;       /* e.g. "desk-button" */
  AnsimTriggerKind trigger_kind;
  /* The capture source that records it (e.g. "cam"): each source's
   * incidents form their own chain. NULL: a version 1 manifest, without
   * the member (one chain per device). */
  const char *source;
  gboolean drill;                 /* a training run, not a real incident */
  const char *incident_id;        /* lowercase UUID; NULL: a new random one */
  gint64 opened_wall_us;          /* g_get_real_time () at the trigger */
  gint64 opened_mono_us;          /* g_get_monotonic_time () at the trigger */
  /* SHA-256 (hex) of the exact bytes of this device's previous final
   * manifest; NULL for the device's first incident. */
  const char *previous_manifest_sha256;
} AnsimManifestInfo;

/* One incident's manifest: built incrementally by the recorder, or parsed.
 * Not thread-safe; ansim_manifest_free() accepts NULL. */
typedef struct _AnsimManifest AnsimManifest;

/* key gives the fingerprint recorded in the manifest (public part only). */
AnsimManifest *ansim_manifest_new (const AnsimManifestInfo *info, const AnsimDeviceKey *key,
                                   GError **error);
void ansim_manifest_free (AnsimManifest *manifest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnsimManifest, ansim_manifest_free)

/* Builder. Each appends the next entry (index = number of entries so far),
 * chained to the one before; all fail with ANSIM_EVIDENCE_ERROR_STATE once
 * the manifest is closed. sha256s are lowercase hex. A segment's file name
 * is ansim_manifest_next_segment_name() at the time it is added. */
gboolean ansim_manifest_add_segment (AnsimManifest *manifest, gint64 start_wall_us,
                                     gint64 start_mono_us, gint64 duration_us,
                                     gint64 cipher_size, gint64 plain_size,
                                     const char *sha256_plain, const char *sha256_cipher,
                                     GError **error);
gboolean ansim_manifest_add_gap (AnsimManifest *manifest, gint64 start_wall_us,
                                 gint64 start_mono_us, gint64 duration_us, const char *reason,
                                 GError **error);
/* A gap of one stream only ("video", "audio"), added when the stream is
 * back (or the incident ends): it overlaps the segments that kept the
 * other streams, so it stands outside the back-to-back timeline. */
gboolean ansim_manifest_add_stream_gap (AnsimManifest *manifest, gint64 start_wall_us,
                                        gint64 start_mono_us, gint64 duration_us,
                                        const char *stream, const char *reason, GError **error);
gboolean ansim_manifest_add_event (AnsimManifest *manifest, const char *kind, gint64 wall_us,
                                   gint64 mono_us, GError **error);
/* The same with a detail: name, value, name, value, ..., NULL (names are
 * tokens, values text; NULL or empty: none). */
gboolean ansim_manifest_add_event_with_detail (AnsimManifest *manifest, const char *kind,
                                               gint64 wall_us, gint64 mono_us,
                                               const char *const *detail, GError **error);
/* The value of one member of an event's detail, or NULL. */
const char *ansim_manifest_event_get_detail (const AnsimManifestEvent *event, const char *name);
/* reason: e.g. "post-event", "long-press", "max-length", "interrupted",
 * "shutdown"; lowercase letters, digits and '-'; never "open". */
gboolean ansim_manifest_close (AnsimManifest *manifest, const char *reason,
                               gint64 closed_wall_us, gint64 closed_mono_us, GError **error);
char *ansim_manifest_next_segment_name (const AnsimManifest *manifest);

/* The exact bytes that write() stores and signs (UTF-8 JSON, ends in "\n"). */
GBytes *ansim_manifest_to_bytes (const AnsimManifest *manifest);

/* Writes DIR/manifest.json and DIR/manifest.json.sig (raw Ed25519 signature
 * over the exact bytes), each atomically (temp file, fsync, rename), the
 * manifest first, then fsyncs DIR; writes DIR/device.pub.pem if missing.
 * Creates DIR (0700) if needed. Call after every change: each version on
 * disk is complete and signed. key must hold the private key whose
 * fingerprint the manifest records. */
gboolean ansim_manifest_write (AnsimManifest *manifest, const char *dir,
                               const AnsimDeviceKey *key, GError **error);
/* SHA-256 hex of the bytes last written (what the next incident chains
 * to once this one is closed); NULL before the first write. */
const char *ansim_manifest_get_written_sha256 (const AnsimManifest *manifest);

/* Strict parser: rejects anything that breaks the format (wrong or missing
 * member, unknown member, duplicated member, bad value, over a cap) with
 * ANSIM_EVIDENCE_ERROR_MALFORMED or _TOO_LARGE and a message naming the
 * member ("entries[3].sha256_cipher: …"). It does not check the chain,
 * the order of indices or the files: ansim_incident_verify() reports those. */
AnsimManifest *ansim_manifest_parse (const void *data, gsize len, GError **error);
/* Parses DIR/manifest.json without checking its signature, e.g. to close an
 * incident left open by a crash and write it again. */
AnsimManifest *ansim_manifest_load (const char *dir, GError **error);

const char *ansim_manifest_get_incident_id (const AnsimManifest *manifest);
const char *ansim_manifest_get_device_id (const AnsimManifest *manifest);
const char *ansim_manifest_get_device_fingerprint (const AnsimManifest *manifest);
const char *ansim_manifest_get_desk_id (const AnsimManifest *manifest);
const char *ansim_manifest_get_trigger_name (const AnsimManifest *manifest);
const char *ansim_manifest_get_source (const AnsimManifest *manifest);   /* NULL in version 1 */
AnsimTriggerKind ansim_manifest_get_trigger_kind (const AnsimManifest *manifest);
gboolean ansim_manifest_get_drill (const AnsimManifest *manifest);
gint64 ansim_manifest_get_opened_wall_us (const AnsimManifest *manifest);
gint64 ansim_manifest_get_opened_mono_us (const AnsimManifest *manifest);
gboolean ansim_manifest_is_closed (const AnsimManifest *manifest);
gint64 ansim_manifest_get_closed_wall_us (const AnsimManifest *manifest);
gint64 ansim_manifest_get_closed_mono_us (const AnsimManifest *manifest);
const char *ansim_manifest_get_close_reason (const AnsimManifest *manifest); /* "open" until closed */
const char *ansim_manifest_get_previous_manifest_sha256 (const AnsimManifest *manifest); /* or NULL */
guint ansim_manifest_get_n_entries (const AnsimManifest *manifest);
const AnsimManifestEntry *ansim_manifest_get_entry (const AnsimManifest *manifest, guint position);
guint ansim_manifest_get_n_events (const AnsimManifest *manifest);
const AnsimManifestEvent *ansim_manifest_get_event (const AnsimManifest *manifest, guint position);

/* The chain. An entry's hash is SHA-256 over its canonical text
 * (ansim_manifest_entry_canonical()); the first entry's prev is the previous
 * manifest's SHA-256, or 64 zeros for a device's first incident. */
char *ansim_manifest_entry_canonical (const AnsimManifestEntry *entry);
void ansim_manifest_entry_hash (const AnsimManifestEntry *entry,
                                char out_hex[ANSIM_SHA256_HEX_LEN + 1]);
/* What the first entry's prev must be. */
const char *ansim_manifest_get_chain_start (const AnsimManifest *manifest);

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
                                              guint n_recipients, const void *plaintext,
                                              gsize len, gint64 start_wall_us,
                                              gint64 start_mono_us, gint64 duration_us,
                                              GError **error);
/* After a crash: dir/tmp_name (".NAME.tmp-XXXXXX") holds the complete
 * ciphertext of segment NAME that manifest lists: checks its size and
 * SHA-256 against the entry, renames it to NAME (never replacing a file)
 * and fsyncs dir. Fails (changing nothing) when the manifest does not list
 * NAME or the bytes differ. */
gboolean ansim_incident_adopt_temp_segment (const char *dir, const char *tmp_name,
                                            const AnsimManifest *manifest, GError **error);

/* Writes path atomically: hidden temp file in the same directory with
 * mode, fsync, rename (or, when replace is FALSE, link, failing with
 * ANSIM_EVIDENCE_ERROR_EXISTS if path exists), fsync of the directory. */
gboolean ansim_evidence_write_file (const char *path, const void *data, gsize len, int mode,
                                    gboolean replace, GError **error);

/* ---- verification --------------------------------------------------------- */

/* What ansim_incident_verify() found. Each kind starts its line of text. */
typedef enum {
  ANSIM_FINDING_INFO,                    /* "info": not a problem */
  ANSIM_FINDING_MISSING_MANIFEST,        /* "missing manifest" */
  ANSIM_FINDING_MALFORMED_MANIFEST,      /* "malformed manifest" */
  ANSIM_FINDING_MISSING_SIGNATURE,       /* "missing signature" */
  ANSIM_FINDING_BAD_SIGNATURE,           /* "bad signature" */
  ANSIM_FINDING_UNKNOWN_KEY,             /* "unknown key" */
  ANSIM_FINDING_BROKEN_CHAIN,            /* "broken chain" */
  ANSIM_FINDING_DUPLICATED_SEGMENT,      /* "duplicated segment" */
  ANSIM_FINDING_REORDERED_SEGMENTS,      /* "reordered segments" */
  ANSIM_FINDING_MISSING_ENTRY,           /* "missing entry": an index skipped */
  ANSIM_FINDING_MISNAMED_SEGMENT,        /* "misnamed segment" */
  ANSIM_FINDING_UNDECLARED_GAP,          /* "undeclared gap" */
  ANSIM_FINDING_OVERLAP,                 /* "overlapping entries" */
  ANSIM_FINDING_MISSING_SEGMENT,         /* "missing segment" */
  ANSIM_FINDING_EXTRA_SEGMENT,           /* "extra segment" */
  ANSIM_FINDING_EXTRA_FILE,              /* "extra file" */
  ANSIM_FINDING_UNREADABLE_SEGMENT,      /* "unreadable segment" */
  ANSIM_FINDING_TRUNCATED_SEGMENT,       /* "truncated segment" */
  ANSIM_FINDING_ALTERED_SEGMENT,         /* "altered segment" */
  ANSIM_FINDING_NO_MATCHING_RECIPIENT,   /* "no matching recipient" */
  ANSIM_FINDING_CANNOT_DECRYPT,          /* "cannot decrypt" */
  ANSIM_FINDING_PLAINTEXT_MISMATCH,      /* "plaintext hash mismatch" */
  ANSIM_FINDING_NOT_WRITTEN,             /* "not written": decrypt_to refused a segment */
} AnsimFindingKind;

typedef struct {
  AnsimFindingKind kind;
  gint64 position;   /* the entry's position in the manifest, or -1 */
  char *text;        /* one line, no newline, starting with the kind's words */
} AnsimFinding;

typedef struct {
  /* Keys trusted to sign (public parts used). None: the incident's own
   * device.pub.pem, which shows integrity but not origin (an info line
   * says so). */
  AnsimDeviceKey *const *trusted_keys;
  guint n_trusted_keys;
  const char *trusted_keys_origin;      /* names them in messages, e.g. a folder */
  /* With identities, each segment is also decrypted and its plaintext
   * checked against sha256_plain and plain_size. */
  AnsimAgeIdentity *const *identities;
  guint n_identities;
  const char *identities_origin;        /* names the identity file in messages */
  /* A previous incident's folder or manifest file: checks that this
   * incident chains to it. */
  const char *previous;
  /* With identities: writes each segment whose signature, chain position
   * and hashes all hold as decrypt_to/seg-NNNNNN.mkv (mode 0600, never
   * replacing a file); plaintext that fails a check is never kept. */
  const char *decrypt_to;
} AnsimVerifyOptions;

typedef struct {
  GPtrArray *lines;           /* AnsimFinding, in the order found, info lines included */
  guint n_findings;           /* lines that are not info */
  AnsimManifest *manifest;    /* NULL when missing or malformed */
  gboolean signature_ok;
  guint n_segments, n_gaps;
  guint n_plaintext_checked;
  guint n_written;            /* files written to decrypt_to */
  char *summary;              /* "OK: …" or "FAILED: …", one line */
} AnsimVerifyReport;

/* Checks the incident folder dir offline: signature, chain, order,
 * timeline, files, optionally plaintext. Every problem is a finding, so
 * this fails (NULL, error set) only when dir is not a readable folder or
 * decrypt_to cannot be created. */
AnsimVerifyReport *ansim_incident_verify (const char *dir, const AnsimVerifyOptions *options,
                                          GError **error);
void ansim_verify_report_free (AnsimVerifyReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnsimVerifyReport, ansim_verify_report_free)

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
