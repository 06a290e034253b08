/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The incident manifest: the signed, hash-chained list of an incident's
 * segments, gaps and events, its JSON form and strict parser.
 * docs/evidence-format.md is the normative description. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "desk-clock.h"
#include "device-key.h"
#include "evidence-error.h"
#include "util.h"

G_BEGIN_DECLS

#define ANSIM_MANIFEST_FORMAT "ansim-incident-manifest"
/* 2 adds "source"; 3 adds the rule that the close comes after everything
 * it closes (and the signed checkpoints); 1 and 2 are still read. */
#define ANSIM_MANIFEST_VERSION 3
#define ANSIM_MANIFEST_NAME "manifest.json"
#define ANSIM_MANIFEST_SIG_NAME "manifest.json.sig"
#define ANSIM_DEVICE_PUB_NAME "device.pub.pem" /* the device's public key, beside the manifest */
#define ANSIM_MANIFEST_MAX_SIZE (16 * 1024 * 1024)
#define ANSIM_MANIFEST_MAX_ENTRIES 100000 /* 55 h of 2 s segments */
#define ANSIM_MANIFEST_MAX_EVENTS 10000
/* Consecutive entries may differ from back-to-back timing by this much
 * before verify reports an undeclared gap or an overlap. */
#define ANSIM_MANIFEST_TIME_TOLERANCE_US 250000

/* ---- manifest ------------------------------------------------------------- */

typedef enum {
  ANSIM_TRIGGER_BUTTON,  /* "button": a desk's panic button */
  ANSIM_TRIGGER_BODYCAM, /* "bodycam": a worn camera's trigger */
} AnsimTriggerKind;

typedef enum {
  ANSIM_ENTRY_SEGMENT, /* "segment": a sealed media file */
  ANSIM_ENTRY_GAP,     /* "gap": time with no media, and why */
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
  char *file;         /* "seg-NNNNNN.mkv.age" */
  gint64 cipher_size; /* bytes of the file */
  gint64 plain_size;  /* bytes of the media */
  char sha256_plain[ANSIM_SHA256_HEX_LEN + 1];
  char sha256_cipher[ANSIM_SHA256_HEX_LEN + 1];
  /* gaps only */
  char *reason;
  char *stream; /* "video" or "audio": only that stream
                                                * is missing (the segments around hold
                                                * the others); NULL: no media at all */
  /* the entry hash of the previous entry (or of the previous manifest) */
  char prev[ANSIM_SHA256_HEX_LEN + 1];
} AnsimManifestEntry;

typedef struct {
  char *kind; /* e.g. "notice-given", "press", "long-press" */
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
  const char *device_id; /* the recording board's name */
  const char *desk_id;
  const char *trigger_name; /* e.g. "desk-button" */
  AnsimTriggerKind trigger_kind;
  /* The capture source that records it (e.g. "cam"): each source's
   * incidents form their own chain. NULL: a version 1 manifest, without
   * the member (one chain per device). */
  const char *source;
  gboolean drill;          /* a training run, not a real incident */
  const char *incident_id; /* lowercase UUID; NULL: a new random one */
  gint64 opened_wall_us;   /* g_get_real_time () at the trigger */
  gint64 opened_mono_us;   /* g_get_monotonic_time () at the trigger */
  /* SHA-256 (hex) of the exact bytes of this device's previous final
   * manifest; NULL for the device's first incident. */
  const char *previous_manifest_sha256;
  /* 0: the latest (ANSIM_MANIFEST_VERSION, or 1 without a source); 2 or
   * 1 only to write an older incident (test vectors, tests). */
  guint format_version;
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
                                     gint64 start_mono_us, gint64 duration_us, gint64 cipher_size,
                                     gint64 plain_size, const char *sha256_plain,
                                     const char *sha256_cipher, GError **error);
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
 * "shutdown"; lowercase letters, digits and '-'; never "open". A close is
 * never before what it closes: a time earlier than
 * ansim_manifest_get_close_floor() is raised to it. */
gboolean ansim_manifest_close (AnsimManifest *manifest, const char *reason, gint64 closed_wall_us,
                               gint64 closed_mono_us, GError **error);
char *ansim_manifest_next_segment_name (const AnsimManifest *manifest);
/* The earliest close the manifest allows (format version 3): the open,
 * the end of the latest entry, the latest event, whichever is last, with
 * the wall time that goes with it. After a crash it is the best known
 * close time. */
void ansim_manifest_get_close_floor (const AnsimManifest *manifest, gint64 *out_wall_us,
                                     gint64 *out_mono_us);

/* The exact bytes that write() stores and signs (UTF-8 JSON, ends in "\n"). */
GBytes *ansim_manifest_to_bytes (const AnsimManifest *manifest);

/* SHA-256 hex of the bytes last written (what the next incident chains
 * to once this one is closed); NULL before the first write. */
const char *ansim_manifest_get_written_sha256 (const AnsimManifest *manifest);

/* The desk's measured offset to the panel's clock when the incident
 * opened and when it closed (manifest-clock.c; docs/evidence-format.md,
 * "Desk clock"). clock->measured FALSE records "never measured". The
 * getter returns NULL when the manifest does not say (older manifests). */
typedef enum {
  ANSIM_MANIFEST_CLOCK_AT_OPEN,
  ANSIM_MANIFEST_CLOCK_AT_CLOSE,
} AnsimManifestClockWhen;
gboolean ansim_manifest_set_desk_clock (AnsimManifest *manifest, AnsimManifestClockWhen when,
                                        const AnsimDeskClock *clock, GError **error);
const AnsimDeskClock *ansim_manifest_get_desk_clock (const AnsimManifest *manifest,
                                                     AnsimManifestClockWhen when);
/* Strict parser: rejects anything that breaks the format (wrong or missing
 * member, unknown member, duplicated member, bad value, over a cap) with
 * ANSIM_EVIDENCE_ERROR_MALFORMED or _TOO_LARGE and a message naming the
 * member ("entries[3].sha256_cipher: …"). It does not check the chain,
 * the order of indices or the files: ansim_incident_verify() reports those. */
AnsimManifest *ansim_manifest_parse (const void *data, gsize len, GError **error);
/* Parses DIR/manifest.json without checking its signature, e.g. to close an
 * incident left open by a crash and write it again. */
AnsimManifest *ansim_manifest_load (const char *dir, GError **error);

guint ansim_manifest_get_format_version (const AnsimManifest *manifest); /* 1, 2 or 3 */
const char *ansim_manifest_get_incident_id (const AnsimManifest *manifest);
const char *ansim_manifest_get_device_id (const AnsimManifest *manifest);
const char *ansim_manifest_get_device_fingerprint (const AnsimManifest *manifest);
const char *ansim_manifest_get_desk_id (const AnsimManifest *manifest);
const char *ansim_manifest_get_trigger_name (const AnsimManifest *manifest);
const char *ansim_manifest_get_source (const AnsimManifest *manifest); /* NULL in version 1 */
AnsimTriggerKind ansim_manifest_get_trigger_kind (const AnsimManifest *manifest);
gboolean ansim_manifest_get_drill (const AnsimManifest *manifest);
gint64 ansim_manifest_get_opened_wall_us (const AnsimManifest *manifest);
gint64 ansim_manifest_get_opened_mono_us (const AnsimManifest *manifest);
gboolean ansim_manifest_is_closed (const AnsimManifest *manifest);
gint64 ansim_manifest_get_closed_wall_us (const AnsimManifest *manifest);
gint64 ansim_manifest_get_closed_mono_us (const AnsimManifest *manifest);
const char *ansim_manifest_get_close_reason (
  const AnsimManifest *manifest); /* "open" until closed */
const char *ansim_manifest_get_previous_manifest_sha256 (
  const AnsimManifest *manifest); /* or NULL */
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
/* The chain inside one manifest, as it stands: the entry at position p has
 * index p and its prev is the hash of the entry at p - 1 (the chain start
 * for the first). FALSE with ANSIM_EVIDENCE_ERROR_BROKEN_CHAIN naming the
 * first entry that breaks it. The one check of the chain: the panel runs it
 * on every manifest it receives; ansim_incident_verify() reports each
 * break as a finding from the same link rule. */
gboolean ansim_manifest_check_chain (const AnsimManifest *manifest, GError **error);

/* Entries [from, to) as a JSON array, each exactly as in the manifest
 * (what a version 3 desk sends with a checkpoint, docs/protocol.md). */
JsonNode *ansim_manifest_entries_to_node (const AnsimManifest *manifest, guint from, guint to);
/* The inverse, as strictly as ansim_manifest_parse() reads "entries": an
 * otherwise empty manifest holding them (read them with
 * ansim_manifest_get_entry()); their indexes and links are not checked. */
AnsimManifest *ansim_manifest_parse_entries (JsonNode *array, GError **error);

G_END_DECLS
