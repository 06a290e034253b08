/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the parser and matcher of address lists
 * (address-mask.h) on GLib's GInetAddressMask. */
#include "address-mask.h"

#include <string.h>

GPtrArray *
ansim_address_masks_parse (const char *text, GError **error)
{
  g_autoptr (GPtrArray) masks = g_ptr_array_new_with_free_func (g_object_unref);
  g_auto (GStrv) entries = g_strsplit_set (text != NULL ? text : "", ",; \t", -1);

  for (char **e = entries; *e != NULL; e++)
    {
      g_autoptr (GInetAddress) addr = NULL;
      g_auto (GStrv) parts = NULL;
      guint64 length = 0;
      GInetAddressMask *mask = NULL;

      if (**e == '\0')
        continue;
      /* Checked here rather than by GLib, which warns on a length past the
       * address's bits instead of failing. */
      parts = g_strsplit (*e, "/", 2);
      addr = g_inet_address_new_from_string (parts[0]);
      if (addr != NULL)
        {
          guint bits = g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV4 ? 32 : 128;
          length = bits;
          if (parts[1] == NULL || g_ascii_string_to_unsigned (parts[1], 10, 0, bits, &length, NULL))
            mask = g_inet_address_mask_new (addr, (guint) length, NULL);
        }
      if (mask == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "'%.64s' is not an address or a network (ADDRESS/PREFIX with no host "
                       "bits set)",
                       *e);
          return NULL;
        }
      g_ptr_array_add (masks, mask);
    }
  return g_steal_pointer (&masks);
}

gboolean
ansim_address_masks_contain (GPtrArray *masks, const char *address)
{
  g_autoptr (GInetAddress) addr = NULL;

  if (masks == NULL || address == NULL)
    return FALSE;
  /* "::ffff:a.b.c.d" is how a dual-stack socket shows an IPv4 peer. */
  if (g_ascii_strncasecmp (address, "::ffff:", 7) == 0 && strchr (address + 7, '.') != NULL)
    address += 7;
  addr = g_inet_address_new_from_string (address);
  if (addr == NULL)
    return FALSE;
  for (guint i = 0; i < masks->len; i++)
    if (g_inet_address_mask_matches (masks->pdata[i], addr))
      return TRUE;
  return FALSE;
}
