/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Bech32 encoding and decoding for age recipients (age1…) and identities
 * (AGE-SECRET-KEY-1…), written to keep secret bytes out of the heap. */
#include "bech32.h"

#include <string.h>

/* age keys are 32 bytes (~60 characters); post-quantum recipients are about
 * 2000. Anything longer is not a key we could use. */
#define BECH32_MAX_LEN 4096

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static const guint32 generator[5] = {
  0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3,
};

static guint32
polymod_step (guint32 chk, guint8 value)
{
  guint32 top = chk >> 25;

  chk = ((chk & 0x1ffffff) << 5) ^ value;
  /* Masks instead of branches: identities run through here. */
  for (guint i = 0; i < 5; i++)
    chk ^= (0u - ((top >> i) & 1)) & generator[i];
  return chk;
}

static guint32
polymod_hrp (const char *hrp, gsize hrp_len)
{
  guint32 chk = 1;

  for (gsize i = 0; i < hrp_len; i++)
    chk = polymod_step (chk, g_ascii_tolower (hrp[i]) >> 5);
  chk = polymod_step (chk, 0);
  for (gsize i = 0; i < hrp_len; i++)
    chk = polymod_step (chk, g_ascii_tolower (hrp[i]) & 31);
  return chk;
}

static int
charset_value (char c)
{
  const char *p;

  if (c == '\0')
    return -1;
  p = strchr (charset, g_ascii_tolower (c));
  return p ? (int) (p - charset) : -1;
}

char *
ansim_bech32_encode (const char *hrp, const guint8 *data, gsize len)
{
  gsize hrp_len, n5, total, o = 0;
  gboolean upper = FALSE, lower = FALSE;
  guint32 chk, acc = 0;
  guint bits = 0;
  char *out;

  g_return_val_if_fail (hrp != NULL && *hrp != '\0', NULL);
  g_return_val_if_fail (data != NULL || len == 0, NULL);

  hrp_len = strlen (hrp);
  for (gsize i = 0; i < hrp_len; i++)
    {
      g_return_val_if_fail (hrp[i] >= 33 && hrp[i] <= 126, NULL);
      upper |= g_ascii_isupper (hrp[i]);
      lower |= g_ascii_islower (hrp[i]);
    }
  g_return_val_if_fail (!(upper && lower), NULL);

  n5 = (len * 8 + 4) / 5;
  total = hrp_len + 1 + n5 + 6;
  out = g_malloc (total + 1);

  for (gsize i = 0; i < hrp_len; i++)
    out[o++] = g_ascii_tolower (hrp[i]);
  out[o++] = '1';

  chk = polymod_hrp (hrp, hrp_len);
  for (gsize i = 0; i < len; i++)
    {
      acc = ((acc << 8) | data[i]) & 0xfff;
      bits += 8;
      while (bits >= 5)
        {
          guint8 v = (acc >> (bits - 5)) & 31;
          bits -= 5;
          chk = polymod_step (chk, v);
          out[o++] = charset[v];
        }
    }
  if (bits > 0)
    {
      guint8 v = (acc << (5 - bits)) & 31;
      chk = polymod_step (chk, v);
      out[o++] = charset[v];
    }
  acc = 0;
  for (guint i = 0; i < 6; i++)
    chk = polymod_step (chk, 0);
  chk ^= 1;
  for (guint i = 0; i < 6; i++)
    out[o++] = charset[(chk >> (5 * (5 - i))) & 31];
  out[o] = '\0';
  g_assert (o == total);

  if (upper)
    for (gsize i = 0; i < total; i++)
      out[i] = g_ascii_toupper (out[i]);
  return out;
}

gboolean
ansim_bech32_decode (const char *s, char *hrp, gsize hrp_size, guint8 *data, gsize data_size,
                     gsize *out_len, const char **out_reason)
{
  gboolean upper = FALSE, lower = FALSE;
  gsize len, pos, n5, o = 0;
  guint32 chk, acc = 0;
  guint bits = 0;
  const char *sep;

  g_return_val_if_fail (s != NULL && hrp != NULL && data != NULL, FALSE);

  len = strnlen (s, BECH32_MAX_LEN + 1);
  if (len > BECH32_MAX_LEN)
    {
      *out_reason = "too long";
      return FALSE;
    }
  for (gsize i = 0; i < len; i++)
    {
      if (s[i] < 33 || s[i] > 126)
        {
          *out_reason = "invalid character";
          return FALSE;
        }
      upper |= g_ascii_isupper (s[i]);
      lower |= g_ascii_islower (s[i]);
    }
  if (upper && lower)
    {
      *out_reason = "mixed upper and lower case";
      return FALSE;
    }

  sep = strrchr (s, '1');
  pos = sep ? (gsize) (sep - s) : 0;
  if (sep == NULL || pos < 1 || pos + 7 > len)
    {
      *out_reason = "separator '1' missing or misplaced";
      return FALSE;
    }
  if (pos + 1 > hrp_size)
    {
      *out_reason = "unexpected type prefix";
      return FALSE;
    }
  memcpy (hrp, s, pos);
  hrp[pos] = '\0';

  chk = polymod_hrp (s, pos);
  n5 = len - pos - 1;
  for (gsize i = 0; i < n5; i++)
    {
      int v = charset_value (s[pos + 1 + i]);

      if (v < 0)
        {
          *out_reason = "invalid character";
          goto fail;
        }
      chk = polymod_step (chk, v);
      if (i >= n5 - 6)
        continue; /* checksum characters carry no data */
      acc = ((acc << 5) | (guint32) v) & 0xfff;
      bits += 5;
      if (bits >= 8)
        {
          bits -= 8;
          if (o == data_size)
            {
              *out_reason = "unexpected length";
              goto fail;
            }
          data[o++] = (acc >> bits) & 0xff;
        }
    }
  if (chk != 1)
    {
      *out_reason = "invalid checksum";
      goto fail;
    }
  if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
    {
      *out_reason = "invalid padding";
      goto fail;
    }
  acc = 0;
  *out_len = o;
  return TRUE;

fail:
  acc = 0;
  memset (data, 0, data_size);
  return FALSE;
}
