/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Signed notes (C2SP signed-note): a text, a blank line, and signature
 * lines "— NAME BASE64(KEYID || SIGNATURE)" with Ed25519 signatures over the
 * text's exact bytes. The panel signs two kinds with one key: audit
 * checkpoints (the audit chain's head) and chain-head receipts (a device
 * and source's newest incident). Must keep true: a note is accepted only
 * when a signature by the expected name and key verifies over its text;
 * anything malformed is refused by name. docs/receipts.md is the format. */
#pragma once

#include <glib.h>

#include "device-key.h"

G_BEGIN_DECLS

/* The name the panel signs with. */
#define ANSIM_NOTE_PANEL_NAME "ansim-panel"
/* Caps: a note is a few hundred bytes; a set of them (a desk's checkpoints
 * exported to a file) is bounded by what a reader accepts. */
#define ANSIM_NOTE_MAX_SIZE 4096
#define ANSIM_NOTE_SET_MAX_SIZE (64 * 1024 * 1024)

/* The first line of each kind's text. */
#define ANSIM_AUDIT_CHECKPOINT_HEADER "ansim audit checkpoint v1"
#define ANSIM_CHAIN_RECEIPT_HEADER "ansim chain receipt v1"

/* C2SP key id: the first 4 bytes (big-endian) of SHA-256 (NAME "\n" 0x01
 * PUBLIC-KEY). */
guint32 ansim_note_key_id (const char *name, const AnsimDeviceKey *key);
/* The verifier key in the C2SP/Go form "NAME+KEYID-HEX+BASE64(0x01 || KEY)". */
char *ansim_note_verifier_key (const char *name, const AnsimDeviceKey *key);

/* text: lines ending in '\n', no blank line, no control characters
 * other than '\n'. Returns text "\n" "— " name " " base64 "\n". */
char *ansim_note_sign (const char *text, const char *name, const AnsimDeviceKey *key,
                       GError **error);
/* The text of a note whose signature by name and key verifies (free it);
 * ANSIM_EVIDENCE_ERROR_MALFORMED for a note that breaks the format,
 * ANSIM_EVIDENCE_ERROR_SIGNATURE when no line is by this key or its
 * signature does not verify. */
char *ansim_note_open (const char *note, gsize len, const char *name, const AnsimDeviceKey *key,
                       GError **error);
/* Splits concatenated notes (each ends after its last signature line; blank
 * lines between notes are skipped). Returns the notes as strings; a
 * trailing piece without signature becomes an element too, for
 * ansim_note_open to refuse by name. */
GPtrArray *ansim_note_split (const char *text, gsize len);

/* ---- the two kinds -------------------------------------------------------- */

/* The audit log's head as the panel saw it: entries 1..entries exist and
 * entry `entries` has hash head. */
typedef struct {
  gint64 entries;
  char head[65];
  gint64 time_us;
} AnsimAuditCheckpoint;

/* The newest final manifest of a device's source that the panel holds, and
 * how many incidents of that source it holds. */
typedef struct {
  char *device;
  char *source;
  char head[65];
  gint64 incidents;
  gint64 time_us;
} AnsimChainReceipt;
void ansim_chain_receipt_clear (AnsimChainReceipt *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AnsimChainReceipt, ansim_chain_receipt_clear)

char *ansim_audit_checkpoint_text (const AnsimAuditCheckpoint *c);
gboolean ansim_audit_checkpoint_parse (const char *text, AnsimAuditCheckpoint *out, GError **error);
/* device and source are names (ansim_is_name). */
char *ansim_chain_receipt_text (const AnsimChainReceipt *r);
gboolean ansim_chain_receipt_parse (const char *text, AnsimChainReceipt *out, GError **error);
/* "2026-12-07T02:01:02.123456Z" (free it). */
char *ansim_note_format_time (gint64 time_us);

G_END_DECLS
