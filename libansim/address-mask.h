/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Lists of addresses and networks ("127.0.0.1, 10.0.0.0/8, ::1"), as the
 * panel's trusted_proxies setting gives them: parsed once (the config
 * check and the panel use this one parser) and matched against a peer.
 * Keeps true: an entry that is not an address or a CIDR network is an
 * error naming it, never silently dropped. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Entries separated by commas, semicolons or spaces; each an IPv4 or IPv6
 * address or a network ADDRESS/PREFIX with no host bits set. An empty text
 * is an empty list. Returns an array of GInetAddressMask (free with
 * g_ptr_array_unref), or NULL with error naming the first bad entry. */
GPtrArray *ansim_address_masks_parse (const char *text, GError **error);

/* TRUE when address (text, e.g. "127.0.0.1" or "::ffff:10.0.0.1") is in
 * one of masks. An IPv4-mapped IPv6 address matches its IPv4 form. */
gboolean ansim_address_masks_contain (GPtrArray *masks, const char *address);

G_END_DECLS
