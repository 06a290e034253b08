/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The device's Ed25519 identity: the key that signs its manifests and its
 * requests to the panel (httpsig.h), or only the public part that checks
 * them. docs/evidence-format.md describes the files. */
#pragma once

#include <glib.h>

#include "evidence-error.h"

G_BEGIN_DECLS

#define ANSIM_SIGNATURE_SIZE 64  /* raw Ed25519 */
#define ANSIM_FINGERPRINT_LEN 39 /* "ab12:cd34:…" 8 groups of 4 hex digits */

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
/* A public key from its raw 32 bytes (as the panel stores enrolled keys);
 * origin names it in errors. */
AnsimDeviceKey *ansim_device_key_new_public_from_raw (const guint8 raw[32], const char *origin,
                                                      GError **error);
void ansim_device_key_free (AnsimDeviceKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnsimDeviceKey, ansim_device_key_free)

/* A fingerprint as ansim writes it (ANSIM_FINGERPRINT_LEN characters). */
gboolean ansim_device_key_is_fingerprint (const char *s);
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

G_END_DECLS
