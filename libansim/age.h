/* SPDX-License-Identifier: GPL-3.0-or-later */
/* age v1 file encryption (c2sp.org/age) with X25519 recipients, binary
 * format, streaming in constant memory; the `age` tool decrypts the output. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define ANSIM_AGE_ERROR (ansim_age_error_quark ())
GQuark ansim_age_error_quark (void);

/* The kind of failure; messages add the detail. Errors of the output
 * (write callback or GOutputStream) keep their own domain. */
typedef enum {
  ANSIM_AGE_ERROR_INVALID_KEY, /* recipient, identity or identity file does not parse, or unusable */
  ANSIM_AGE_ERROR_MALFORMED_HEADER, /* not an age v1 header, breaks the spec, or ends before the payload nonce */
  ANSIM_AGE_ERROR_NO_MATCH,   /* header fine, but no identity opens any recipient stanza */
  ANSIM_AGE_ERROR_HEADER_MAC, /* file key found, but the header MAC does not match: header altered */
  ANSIM_AGE_ERROR_PAYLOAD, /* a payload chunk fails authentication (altered, or cut inside a chunk) */
  ANSIM_AGE_ERROR_TRUNCATED,     /* the payload ends without an authenticated final chunk */
  ANSIM_AGE_ERROR_TRAILING_DATA, /* bytes follow the final chunk */
  ANSIM_AGE_ERROR_FAILED,        /* OpenSSL or the random generator failed */
} AnsimAgeErrorCode;

#define ANSIM_AGE_CHUNK_SIZE 65536 /* plaintext bytes per STREAM chunk */
#define ANSIM_AGE_TAG_SIZE 16

/* Keys. Opaque; the free functions wipe the key material and accept NULL. */
typedef struct _AnsimAgeRecipient AnsimAgeRecipient; /* X25519 public key, "age1…" */
typedef struct _AnsimAgeIdentity AnsimAgeIdentity;   /* X25519 secret key, "AGE-SECRET-KEY-1…" */

AnsimAgeRecipient *ansim_age_recipient_parse (const char *text, GError **error);
char *ansim_age_recipient_to_string (const AnsimAgeRecipient *recipient);
void ansim_age_recipient_free (AnsimAgeRecipient *recipient);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnsimAgeRecipient, ansim_age_recipient_free)

/* One identity string. Error messages never quote the secret. */
AnsimAgeIdentity *ansim_age_identity_parse (const char *text, GError **error);
AnsimAgeIdentity *ansim_age_identity_generate (GError **error);
/* The secret as "AGE-SECRET-KEY-1…": free it with ansim_age_secret_free(). */
char *ansim_age_identity_to_string (const AnsimAgeIdentity *identity);
AnsimAgeRecipient *ansim_age_identity_to_recipient (const AnsimAgeIdentity *identity);
void ansim_age_identity_free (AnsimAgeIdentity *identity);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnsimAgeIdentity, ansim_age_identity_free)

/* Identity files in age's text format (as age-keygen writes them): one
 * identity per line; empty lines and lines starting with '#' ignored; at
 * least one identity. Returns a GPtrArray of AnsimAgeIdentity that frees its
 * elements. origin names the file in messages ("line N"). Post-quantum and
 * plugin identities are refused with a clear message. File permissions are
 * not checked here. */
GPtrArray *ansim_age_identities_parse (const char *data, gsize len, const char *origin,
                                       GError **error);
GPtrArray *ansim_age_identities_load (const char *path, GError **error);

/* A new identity as the text of an identity file, exactly like age-keygen:
 *   # created: 2025-01-02T15:30:45+09:00
 *   # public key: age1…
 *   AGE-SECRET-KEY-1…
 * Free with ansim_age_secret_free(). out_recipient (optional) gets "age1…". */
char *ansim_age_keygen (char **out_recipient, GError **error);

/* Wipes and frees a string holding secret material; accepts NULL. */
void ansim_age_secret_free (char *secret);

/* Receives output bytes in order. Returns FALSE and sets error to stop. */
typedef gboolean (*AnsimAgeWriteFunc) (const guint8 *data, gsize len, gpointer user_data,
                                       GError **error);

/* Streaming encryption to one or more recipients (e.g. site key and
 * escrow key). new() generates the file key and writes the header and
 * payload nonce at once; update() may be called any number of times with
 * any sizes; finish() writes the final chunk. Memory stays one chunk buffer
 * whatever the input size. After an error every later call fails with the
 * same error. The recipients are not referenced after new() returns. */
typedef struct _AnsimAgeEncryptor AnsimAgeEncryptor;

AnsimAgeEncryptor *ansim_age_encryptor_new (AnsimAgeRecipient *const *recipients,
                                            guint n_recipients, AnsimAgeWriteFunc write_func,
                                            gpointer user_data, GError **error);
/* Writes with g_output_stream_write_all(); holds a reference to stream. */
AnsimAgeEncryptor *ansim_age_encryptor_new_for_stream (AnsimAgeRecipient *const *recipients,
                                                       guint n_recipients, GOutputStream *stream,
                                                       GCancellable *cancellable, GError **error);
gboolean ansim_age_encryptor_update (AnsimAgeEncryptor *encryptor, const void *data, gsize len,
                                     GError **error);
gboolean ansim_age_encryptor_finish (AnsimAgeEncryptor *encryptor, GError **error);
void ansim_age_encryptor_free (AnsimAgeEncryptor *encryptor);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnsimAgeEncryptor, ansim_age_encryptor_free)

/* Streaming decryption with one or more identities. Feed the file with
 * update() in pieces of any size, then call finish(), which reports a file
 * that ends early. Only authenticated plaintext is ever passed to
 * write_func: a chunk that fails is not released at all. Plaintext of chunks
 * before a failure has been released; callers that must not keep partial
 * output discard it on error. The identities are copied. */
typedef struct _AnsimAgeDecryptor AnsimAgeDecryptor;

AnsimAgeDecryptor *ansim_age_decryptor_new (AnsimAgeIdentity *const *identities, guint n_identities,
                                            AnsimAgeWriteFunc write_func, gpointer user_data);
AnsimAgeDecryptor *ansim_age_decryptor_new_for_stream (AnsimAgeIdentity *const *identities,
                                                       guint n_identities, GOutputStream *stream,
                                                       GCancellable *cancellable);
gboolean ansim_age_decryptor_update (AnsimAgeDecryptor *decryptor, const void *data, gsize len,
                                     GError **error);
gboolean ansim_age_decryptor_finish (AnsimAgeDecryptor *decryptor, GError **error);
void ansim_age_decryptor_free (AnsimAgeDecryptor *decryptor);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnsimAgeDecryptor, ansim_age_decryptor_free)

/* Whole-buffer helpers. decrypt returns NULL on any failure (no partial
 * plaintext). */
GBytes *ansim_age_encrypt_bytes (AnsimAgeRecipient *const *recipients, guint n_recipients,
                                 GBytes *plaintext, GError **error);
GBytes *ansim_age_decrypt_bytes (AnsimAgeIdentity *const *identities, guint n_identities,
                                 GBytes *ciphertext, GError **error);

/* Decrypts all of in into out (64 KiB reads). On failure out may hold the
 * authenticated chunks before the failure; the caller removes it. */
gboolean ansim_age_decrypt_stream (AnsimAgeIdentity *const *identities, guint n_identities,
                                   GInputStream *in, GOutputStream *out, GCancellable *cancellable,
                                   GError **error);

G_END_DECLS
