/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Offline verification of an incident folder (what `ansimctl verify` and
 * the panel's export run): every problem becomes a finding. */
#pragma once

#include <glib.h>

#include "age.h"
#include "device-key.h"
#include "manifest.h"

G_BEGIN_DECLS

/* ---- verification --------------------------------------------------------- */

/* What ansim_incident_verify() found. Each kind starts its line of text. */
typedef enum {
  ANSIM_FINDING_INFO,                  /* "info": not a problem */
  ANSIM_FINDING_MISSING_MANIFEST,      /* "missing manifest" */
  ANSIM_FINDING_MALFORMED_MANIFEST,    /* "malformed manifest" */
  ANSIM_FINDING_MISSING_SIGNATURE,     /* "missing signature" */
  ANSIM_FINDING_BAD_SIGNATURE,         /* "bad signature" */
  ANSIM_FINDING_UNKNOWN_KEY,           /* "unknown key" */
  ANSIM_FINDING_BROKEN_CHAIN,          /* "broken chain" */
  ANSIM_FINDING_DUPLICATED_SEGMENT,    /* "duplicated segment" */
  ANSIM_FINDING_REORDERED_SEGMENTS,    /* "reordered segments" */
  ANSIM_FINDING_MISSING_ENTRY,         /* "missing entry": an index skipped */
  ANSIM_FINDING_MISNAMED_SEGMENT,      /* "misnamed segment" */
  ANSIM_FINDING_UNDECLARED_GAP,        /* "undeclared gap" */
  ANSIM_FINDING_OVERLAP,               /* "overlapping entries" */
  ANSIM_FINDING_MISSING_SEGMENT,       /* "missing segment" */
  ANSIM_FINDING_EXTRA_SEGMENT,         /* "extra segment" */
  ANSIM_FINDING_EXTRA_FILE,            /* "extra file" */
  ANSIM_FINDING_UNREADABLE_SEGMENT,    /* "unreadable segment" */
  ANSIM_FINDING_TRUNCATED_SEGMENT,     /* "truncated segment" */
  ANSIM_FINDING_ALTERED_SEGMENT,       /* "altered segment" */
  ANSIM_FINDING_NO_MATCHING_RECIPIENT, /* "no matching recipient" */
  ANSIM_FINDING_CANNOT_DECRYPT,        /* "cannot decrypt" */
  ANSIM_FINDING_PLAINTEXT_MISMATCH,    /* "plaintext hash mismatch" */
  ANSIM_FINDING_NOT_WRITTEN,           /* "not written": decrypt_to refused a segment */
  ANSIM_FINDING_BAD_CLOSE_TIME,        /* "bad close time": closed before what it closes */
  ANSIM_FINDING_CHECKPOINT_MISMATCH,   /* "checkpoint mismatch": a checkpoint the manifest
                                        * contradicts, or a dropped or replayed one */
} AnsimFindingKind;

typedef struct {
  AnsimFindingKind kind;
  gint64 position; /* the entry's position in the manifest, or -1 */
  char *text;      /* one line, no newline, starting with the kind's words */
} AnsimFinding;

typedef struct {
  /* Keys trusted to sign (public parts used). None: the incident's own
   * device.pub.pem, which shows integrity but not origin (an info line
   * says so). */
  AnsimDeviceKey *const *trusted_keys;
  guint n_trusted_keys;
  const char *trusted_keys_origin; /* names them in messages, e.g. a folder */
  /* With identities, each segment is also decrypted and its plaintext
   * checked against sha256_plain and plain_size. */
  AnsimAgeIdentity *const *identities;
  guint n_identities;
  const char *identities_origin; /* names the identity file in messages */
  /* A previous incident's folder or manifest file: checks that this
   * incident chains to it. */
  const char *previous;
  /* With identities: writes each segment whose signature, chain position
   * and hashes all hold as decrypt_to/seg-NNNNNN.mkv (mode 0600, never
   * replacing a file); plaintext that fails a check is never kept. */
  const char *decrypt_to;
  /* A folder of signed checkpoints (checkpoint-NNNNNN and .sig, as the
   * panel keeps them): each must agree with the manifest. NULL: the
   * incident's own checkpoints/ folder, if any. */
  const char *checkpoints;
} AnsimVerifyOptions;

typedef struct {
  GPtrArray *lines;        /* AnsimFinding, in the order found, info lines included */
  guint n_findings;        /* lines that are not info */
  AnsimManifest *manifest; /* NULL when missing or malformed */
  gboolean signature_ok;
  guint n_segments, n_gaps;
  guint n_plaintext_checked;
  guint n_written;            /* files written to decrypt_to */
  guint n_checkpoints;        /* checkpoints checked */
  guint64 checkpoint_entries; /* entries the last of them commits to */
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

G_END_DECLS
