/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Device request signatures: the strict subset of HTTP Message Signatures
 * (RFC 9421) and Content-Digest (RFC 9530) that desks and panel speak.
 * docs/protocol.md is the normative description. */
#pragma once

#include "device-key.h"

G_BEGIN_DECLS

#define ANSIM_HTTPSIG_ERROR (ansim_httpsig_error_quark ())
GQuark ansim_httpsig_error_quark (void);

typedef enum {
  ANSIM_HTTPSIG_ERROR_MISSING,       /* no Signature-Input / Signature / Content-Digest */
  ANSIM_HTTPSIG_ERROR_MALFORMED,     /* present but not in the accepted form */
  ANSIM_HTTPSIG_ERROR_DIGEST,        /* Content-Digest does not match the body */
  ANSIM_HTTPSIG_ERROR_BAD_SIGNATURE, /* does not verify with the key */
} AnsimHttpsigErrorCode;

#define ANSIM_HTTPSIG_LABEL "ansim"
#define ANSIM_HTTPSIG_MAX_HEADER 1024 /* bytes of any one signature header */
#define ANSIM_HTTPSIG_NONCE_MIN 16
#define ANSIM_HTTPSIG_NONCE_MAX 64

/* A parsed Signature-Input + Signature pair. */
typedef struct {
  char *keyid;    /* the device key's fingerprint */
  char *nonce;    /* 16..64 of [A-Za-z0-9_-] */
  gint64 created; /* Unix seconds, signer's clock */
  char *params;   /* the member's value as received: the @signature-params line */
  guint8 signature[ANSIM_SIGNATURE_SIZE];
} AnsimHttpsig;

void ansim_httpsig_free (AnsimHttpsig *sig);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnsimHttpsig, ansim_httpsig_free)

/* "sha-256=:BASE64:" of body, or of an already computed SHA-256. */
char *ansim_httpsig_content_digest (const void *body, gsize len);
char *ansim_httpsig_content_digest_for (const guint8 sha[32]);
/* Checks value is exactly one sha-256 member equal to the body's digest;
 * _MISSING (NULL value), _MALFORMED or _DIGEST otherwise. */
gboolean ansim_httpsig_check_content_digest (const char *value, const void *body, gsize len,
                                             GError **error);
/* The same against the body's SHA-256. */
gboolean ansim_httpsig_check_content_digest_for (const char *value, const guint8 sha[32],
                                                 GError **error);

/* A fresh random nonce (22 characters, base64url of 16 bytes). */
char *ansim_httpsig_new_nonce (void);

/* The signature base of RFC 9421 §2.5 over "@method", "@path" and
 * "content-digest"; params is the @signature-params value. */
char *ansim_httpsig_base (const char *method, const char *path, const char *content_digest,
                          const char *params);

/* Signs a request; out values are the Signature-Input and Signature
 * header values. created: Unix seconds; nonce NULL = a fresh one. */
gboolean ansim_httpsig_sign (const AnsimDeviceKey *key, const char *method, const char *path,
                             const char *content_digest, gint64 created, const char *nonce,
                             char **out_signature_input, char **out_signature, GError **error);

/* Strict parser: exactly one member labelled "ansim" in each header,
 * covering exactly ("@method" "@path" "content-digest"), with the
 * parameters created, nonce, keyid and alg="ed25519" once each and
 * nothing else. NULL headers give _MISSING. */
AnsimHttpsig *ansim_httpsig_parse (const char *signature_input, const char *signature,
                                   GError **error);

/* Verifies a parsed signature with key (public part) over the request. */
gboolean ansim_httpsig_verify (const AnsimHttpsig *sig, const AnsimDeviceKey *key,
                               const char *method, const char *path, const char *content_digest,
                               GError **error);

/* Structured-field byte sequence ":BASE64:" helpers (also used for the
 * manifest signature header). decode returns NULL unless value is exactly
 * one such item decoding to expected_len bytes (0 = any length). */
char *ansim_sf_binary_encode (const void *data, gsize len);
GBytes *ansim_sf_binary_decode (const char *value, gsize expected_len);

G_END_DECLS
