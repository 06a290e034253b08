/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The evidence format's error domain, shared by the device key, the
 * manifest, sealing and verification. Codes are only ever added at the end. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ANSIM_EVIDENCE_ERROR (ansim_evidence_error_quark ())
GQuark ansim_evidence_error_quark (void);

typedef enum {
  ANSIM_EVIDENCE_ERROR_MALFORMED, /* a manifest (or value given to the builder) breaks the format */
  ANSIM_EVIDENCE_ERROR_TOO_LARGE, /* over a size or count cap */
  ANSIM_EVIDENCE_ERROR_KEY,       /* a key file is not a usable Ed25519 key */
  ANSIM_EVIDENCE_ERROR_KEY_PERMISSIONS, /* a private key file is open to group or others */
  ANSIM_EVIDENCE_ERROR_SIGNATURE,       /* a signature does not verify */
  ANSIM_EVIDENCE_ERROR_STATE,           /* the manifest is closed, or changed under a sealer */
  ANSIM_EVIDENCE_ERROR_EXISTS,          /* refusing to replace an existing file */
  ANSIM_EVIDENCE_ERROR_FAILED,          /* OpenSSL failed */
  ANSIM_EVIDENCE_ERROR_BROKEN_CHAIN,    /* an entry does not link to the one before */
} AnsimEvidenceErrorCode;

G_END_DECLS
