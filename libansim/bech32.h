/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Bech32 (BIP 173) as age uses it: no length limit on the data part, one
 * case per string, checksum over the lowercase form. Private to age.c. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Encodes data under hrp. An uppercase hrp gives an all-uppercase string
 * (age identities), a lowercase one a lowercase string (recipients). The
 * result is allocated at its exact size, never grown, so a secret payload
 * leaves no stray copies; the caller wipes and frees it. */
char *ansim_bech32_encode (const char *hrp, const guint8 *data, gsize len);

/* Decodes s into data (at most data_size bytes) and writes its
 * human-readable part, as written (case kept), into hrp (hrp_size bytes with
 * the NUL). Allocates nothing, so a secret key never lands in heap scratch
 * space. On failure returns FALSE and a static, secret-free reason. */
gboolean ansim_bech32_decode (const char *s, char *hrp, gsize hrp_size, guint8 *data,
                              gsize data_size, gsize *out_len, const char **out_reason);

G_END_DECLS
