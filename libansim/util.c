/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the small shared helpers of util.h: SHA-256 in hex, the
 * public value checks and the OpenSSL error. Each check is the one
 * definition of its value: the manifest parser, ingest and the tools use
 * it, so what one side writes the other accepts. */
#include "util.h"

#include <string.h>

#include <openssl/err.h>

void
ansim_hex_encode (const guint8 *in, gsize n, char *out)
{
  static const char digits[] = "0123456789abcdef";

  for (gsize i = 0; i < n; i++)
    {
      out[2 * i] = digits[in[i] >> 4];
      out[2 * i + 1] = digits[in[i] & 15];
    }
  out[2 * n] = '\0';
}

EVP_MD_CTX *
ansim_hash_sha256_begin (void)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();

  if (ctx == NULL || !EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL))
    g_error ("OpenSSL cannot compute SHA-256");
  return ctx;
}

void
ansim_hash_sha256_end (EVP_MD_CTX *ctx, guint8 out[ANSIM_SHA256_LEN])
{
  unsigned int len = 0;

  if (!EVP_DigestFinal_ex (ctx, out, &len) || len != ANSIM_SHA256_LEN)
    g_error ("OpenSSL cannot compute SHA-256");
}

void
ansim_hash_sha256_end_hex (EVP_MD_CTX *ctx, char out_hex[ANSIM_SHA256_HEX_LEN + 1])
{
  guint8 md[ANSIM_SHA256_LEN];

  ansim_hash_sha256_end (ctx, md);
  ansim_hex_encode (md, sizeof md, out_hex);
}

void
ansim_hash_sha256 (const void *data, gsize len, guint8 out[ANSIM_SHA256_LEN])
{
  unsigned int n = 0;

  if (!EVP_Digest (data != NULL ? data : "", len, out, &n, EVP_sha256 (), NULL)
      || n != ANSIM_SHA256_LEN)
    g_error ("OpenSSL cannot compute SHA-256");
}

void
ansim_hash_sha256_hex (const void *data, gsize len, char out_hex[ANSIM_SHA256_HEX_LEN + 1])
{
  guint8 md[ANSIM_SHA256_LEN];

  ansim_hash_sha256 (data, len, md);
  ansim_hex_encode (md, sizeof md, out_hex);
}

char *
ansim_hash_sha256_hex_dup (const void *data, gsize len)
{
  char *hex = g_malloc (ANSIM_SHA256_HEX_LEN + 1);

  ansim_hash_sha256_hex (data, len, hex);
  return hex;
}

char *
ansim_hash_sha256_hex_bytes (GBytes *bytes)
{
  gsize len = 0;
  const void *data = bytes != NULL ? g_bytes_get_data (bytes, &len) : NULL;

  return ansim_hash_sha256_hex_dup (data, len);
}

/* ---- value checks ---------------------------------------------------------- */

gboolean
ansim_is_uuid (const char *s)
{
  if (s == NULL || strlen (s) != 36)
    return FALSE;
  for (int i = 0; i < 36; i++)
    {
      gboolean dash = i == 8 || i == 13 || i == 18 || i == 23;

      if (dash ? s[i] != '-' : !(g_ascii_isdigit (s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
        return FALSE;
    }
  return TRUE;
}

gboolean
ansim_is_sha256_hex (const char *s)
{
  if (s == NULL || strlen (s) != ANSIM_SHA256_HEX_LEN)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isdigit (*p) && !(*p >= 'a' && *p <= 'f'))
      return FALSE;
  return TRUE;
}

gboolean
ansim_is_name (const char *s)
{
  gsize n = 0;

  if (s == NULL)
    return FALSE;
  for (; s[n]; n++)
    if (n >= ANSIM_NAME_MAX
        || (!g_ascii_isalnum (s[n]) && s[n] != '-' && s[n] != '_' && s[n] != '.'))
      return FALSE;
  return n >= 1;
}

gboolean
ansim_is_token (const char *s)
{
  gsize len = s != NULL ? strlen (s) : 0;

  if (len == 0 || len > ANSIM_TOKEN_MAX || s[0] == '-')
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '-')
      return FALSE;
  return TRUE;
}

gboolean
ansim_is_text (const char *s)
{
  gsize len = s != NULL ? strlen (s) : 0;

  if (len == 0 || len > ANSIM_TEXT_MAX || !g_utf8_validate (s, len, NULL))
    return FALSE;
  for (const char *p = s; *p; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

/* ---- OpenSSL errors ------------------------------------------------------- */

gboolean
ansim_set_openssl_error (GError **error, GQuark domain, int code, const char *what)
{
  unsigned long e = ERR_get_error ();
  char buf[256] = "unknown error";

  if (e != 0)
    ERR_error_string_n (e, buf, sizeof buf);
  ERR_clear_error ();
  g_set_error (error, domain, code, "%s: %s", what, buf);
  return FALSE;
}

/* ---- retries ---------------------------------------------------------------- */

gint64
ansim_backoff (gint64 initial, gint64 max, gint64 attempt)
{
  gint64 delay = initial;

  for (gint64 i = 1; i < attempt && delay < max; i++)
    delay *= 2;
  delay = MIN (delay, max);
  gint64 half = delay / 2;
  gint64 jitter = (gint64) (g_random_double () * (double) (delay - half + 1));
  return half + MIN (jitter, delay - half);
}

gboolean
ansim_json_integers_fit (const char *text, gsize len, GError **error)
{
  gboolean in_string = FALSE;
  for (gsize i = 0; i < len; i++)
    {
      char c = text[i];
      if (in_string)
        {
          if (c == '\\')
            i++;
          else if (c == '"')
            in_string = FALSE;
          continue;
        }
      if (c == '"')
        {
          in_string = TRUE;
          continue;
        }
      if (c != '-' && !g_ascii_isdigit (c))
        continue;
      /* A number: -? digits (. digits)? ([eE] [+-]? digits)? */
      gsize start = i;
      gboolean integer = TRUE;
      if (text[i] == '-')
        i++;
      while (i < len && g_ascii_isdigit (text[i]))
        i++;
      while (i < len && (g_ascii_isdigit (text[i]) || strchr (".eE+-", text[i]) != NULL))
        integer = FALSE, i++;
      g_autofree char *literal = g_strndup (text + start, i - start);
      i--; /* the loop's i++ */
      if (!integer || g_str_equal (literal, "-"))
        continue;
      if (!g_ascii_string_to_signed (literal, 10, G_MININT64, G_MAXINT64, NULL, NULL))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "the integer %.40s%s does not fit in 64 bits", literal,
                       strlen (literal) > 40 ? "…" : "");
          return FALSE;
        }
    }
  return TRUE;
}
