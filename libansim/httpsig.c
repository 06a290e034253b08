/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the device request signatures: a strict subset of RFC
 * 9421 (HTTP Message Signatures, ed25519) with RFC 9530 Content-Digest. */
#include "httpsig.h"
#include "util.h"

#include <openssl/evp.h>
#include <string.h>

G_DEFINE_QUARK (ansim - httpsig - error - quark, ansim_httpsig_error)

#define COMPONENTS "(\"@method\" \"@path\" \"content-digest\")"

void
ansim_httpsig_free (AnsimHttpsig *sig)
{
  if (sig == NULL)
    return;
  g_free (sig->keyid);
  g_free (sig->nonce);
  g_free (sig->params);
  g_free (sig);
}

/* Strict base64 (RFC 4648 §4, padded): GLib's decoder skips bad bytes. */
static gboolean
is_base64 (const char *s, gsize len)
{
  if (len == 0 || len % 4 != 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      char c = s[i];
      if (c == '=')
        {
          if (i < len - 2 || (i == len - 2 && s[len - 1] != '='))
            return FALSE;
          continue;
        }
      if (!g_ascii_isalnum (c) && c != '+' && c != '/')
        return FALSE;
    }
  return TRUE;
}

char *
ansim_sf_binary_encode (const void *data, gsize len)
{
  g_autofree char *b64 = g_base64_encode (data, len);
  return g_strdup_printf (":%s:", b64);
}

GBytes *
ansim_sf_binary_decode (const char *value, gsize expected_len)
{
  if (value == NULL)
    return NULL;
  gsize n = strlen (value);
  if (n < 2 || n > ANSIM_HTTPSIG_MAX_HEADER || value[0] != ':' || value[n - 1] != ':'
      || !is_base64 (value + 1, n - 2))
    return NULL;
  g_autofree char *b64 = g_strndup (value + 1, n - 2);
  gsize out_len = 0;
  guchar *raw = g_base64_decode (b64, &out_len);
  if (expected_len != 0 && out_len != expected_len)
    {
      g_free (raw);
      return NULL;
    }
  return g_bytes_new_take (raw, out_len);
}

char *
ansim_httpsig_content_digest_for (const guint8 sha[32])
{
  g_autofree char *item = ansim_sf_binary_encode (sha, 32);
  return g_strdup_printf ("sha-256=%s", item);
}

char *
ansim_httpsig_content_digest (const void *body, gsize len)
{
  guint8 sha[32];
  ansim_hash_sha256 (body, len, sha);
  return ansim_httpsig_content_digest_for (sha);
}

gboolean
ansim_httpsig_check_content_digest_for (const char *value, const guint8 sha[32], GError **error)
{
  if (value == NULL)
    {
      g_set_error (error, ANSIM_HTTPSIG_ERROR, ANSIM_HTTPSIG_ERROR_MISSING,
                   "no Content-Digest header");
      return FALSE;
    }
  g_autoptr (GBytes) declared = g_str_has_prefix (value, "sha-256=")
                                  ? ansim_sf_binary_decode (value + strlen ("sha-256="), 32)
                                  : NULL;
  if (declared == NULL)
    {
      g_set_error (error, ANSIM_HTTPSIG_ERROR, ANSIM_HTTPSIG_ERROR_MALFORMED,
                   "Content-Digest is not one sha-256=:BASE64: member");
      return FALSE;
    }
  if (memcmp (g_bytes_get_data (declared, NULL), sha, 32) != 0)
    {
      g_set_error (error, ANSIM_HTTPSIG_ERROR, ANSIM_HTTPSIG_ERROR_DIGEST,
                   "the body's SHA-256 does not match its Content-Digest");
      return FALSE;
    }
  return TRUE;
}

gboolean
ansim_httpsig_check_content_digest (const char *value, const void *body, gsize len, GError **error)
{
  guint8 sha[32];
  ansim_hash_sha256 (body, len, sha);
  return ansim_httpsig_check_content_digest_for (value, sha, error);
}

char *
ansim_httpsig_new_nonce (void)
{
  guint8 raw[16];
  for (guint i = 0; i < sizeof raw; i += 4)
    {
      guint32 r = g_random_int ();
      memcpy (raw + i, &r, 4);
    }
  char *s = g_base64_encode (raw, sizeof raw);
  /* base64url without padding: only [A-Za-z0-9_-] */
  for (char *p = s; *p; p++)
    *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
  char *pad = strchr (s, '=');
  if (pad != NULL)
    *pad = '\0';
  return s;
}

char *
ansim_httpsig_base (const char *method, const char *path, const char *content_digest,
                    const char *params)
{
  return g_strdup_printf ("\"@method\": %s\n\"@path\": %s\n\"content-digest\": %s\n"
                          "\"@signature-params\": %s",
                          method, path, content_digest, params);
}

gboolean
ansim_httpsig_sign (const AnsimDeviceKey *key, const char *method, const char *path,
                    const char *content_digest, gint64 created, const char *nonce,
                    char **out_signature_input, char **out_signature, GError **error)
{
  g_autofree char *fresh = nonce == NULL ? ansim_httpsig_new_nonce () : NULL;
  g_autofree char *params = g_strdup_printf (
    COMPONENTS ";created=%" G_GINT64_FORMAT ";nonce=\"%s\";keyid=\"%s\";"
               "alg=\"ed25519\"",
    created, nonce != NULL ? nonce : fresh, ansim_device_key_get_fingerprint (key));
  g_autofree char *base = ansim_httpsig_base (method, path, content_digest, params);
  g_autoptr (GBytes) sig = ansim_device_key_sign (key, base, strlen (base), error);
  if (sig == NULL)
    return FALSE;
  g_autofree char *item =
    ansim_sf_binary_encode (g_bytes_get_data (sig, NULL), g_bytes_get_size (sig));
  *out_signature_input = g_strdup_printf (ANSIM_HTTPSIG_LABEL "=%s", params);
  *out_signature = g_strdup_printf (ANSIM_HTTPSIG_LABEL "=%s", item);
  return TRUE;
}

static gboolean
malformed (GError **error, const char *what)
{
  g_set_error (error, ANSIM_HTTPSIG_ERROR, ANSIM_HTTPSIG_ERROR_MALFORMED, "%s", what);
  return FALSE;
}

/* sf-string with no escapes: printable ASCII other than '"' and '\'. */
static char *
take_string (const char **p)
{
  const char *s = *p;
  if (*s != '"')
    return NULL;
  const char *end = s + 1;
  while (*end != '\0' && *end != '"')
    {
      if (*end == '\\' || *end < 0x20 || *end > 0x7e)
        return NULL;
      end++;
    }
  if (*end != '"')
    return NULL;
  *p = end + 1;
  return g_strndup (s + 1, end - s - 1);
}

static gboolean
valid_nonce (const char *n)
{
  gsize len = strlen (n);
  if (len < ANSIM_HTTPSIG_NONCE_MIN || len > ANSIM_HTTPSIG_NONCE_MAX)
    return FALSE;
  for (; *n; n++)
    if (!g_ascii_isalnum (*n) && *n != '-' && *n != '_')
      return FALSE;
  return TRUE;
}

AnsimHttpsig *
ansim_httpsig_parse (const char *signature_input, const char *signature, GError **error)
{
  if (signature_input == NULL || signature == NULL)
    {
      g_set_error (error, ANSIM_HTTPSIG_ERROR, ANSIM_HTTPSIG_ERROR_MISSING,
                   "the request is not signed (no %s header)",
                   signature_input == NULL ? "Signature-Input" : "Signature");
      return NULL;
    }
  if (strlen (signature_input) > ANSIM_HTTPSIG_MAX_HEADER
      || strlen (signature) > ANSIM_HTTPSIG_MAX_HEADER)
    return malformed (error, "a signature header is too long"), NULL;

  const char *label = ANSIM_HTTPSIG_LABEL "=";
  if (!g_str_has_prefix (signature_input, label) || !g_str_has_prefix (signature, label))
    return malformed (
             error, "signature headers must have exactly one member labelled " ANSIM_HTTPSIG_LABEL),
           NULL;

  g_autoptr (AnsimHttpsig) sig = g_new0 (AnsimHttpsig, 1);
  const char *p = signature_input + strlen (label);
  sig->params = g_strdup (p);
  if (!g_str_has_prefix (p, COMPONENTS))
    return malformed (error, "Signature-Input must cover exactly "
                             "(\"@method\" \"@path\" \"content-digest\")"),
           NULL;
  p += strlen (COMPONENTS);

  gboolean have_alg = FALSE, have_created = FALSE;
  while (*p != '\0')
    {
      if (*p != ';')
        return malformed (error, "Signature-Input: expected ';' before a parameter"), NULL;
      p++;
      const char *eq = strchr (p, '=');
      if (eq == NULL || eq == p || eq - p > 16)
        return malformed (error, "Signature-Input: a parameter has no value"), NULL;
      g_autofree char *name = g_strndup (p, eq - p);
      p = eq + 1;
      if (g_str_equal (name, "created"))
        {
          if (have_created)
            return malformed (error, "Signature-Input: created given twice"), NULL;
          gint64 v = 0;
          int digits = 0;
          while (g_ascii_isdigit (*p) && digits < 15)
            v = v * 10 + (*p++ - '0'), digits++;
          if (digits == 0 || g_ascii_isdigit (*p))
            return malformed (error, "Signature-Input: created is not a Unix time"), NULL;
          sig->created = v;
          have_created = TRUE;
          continue;
        }
      g_autofree char *value = take_string (&p);
      if (value == NULL)
        return malformed (error, "Signature-Input: a parameter value is not a plain string"), NULL;
      if (g_str_equal (name, "nonce") && sig->nonce == NULL)
        {
          if (!valid_nonce (value))
            return malformed (error, "Signature-Input: nonce must be 16 to 64 characters of "
                                     "A-Z a-z 0-9 - _"),
                   NULL;
          sig->nonce = g_steal_pointer (&value);
        }
      else if (g_str_equal (name, "keyid") && sig->keyid == NULL)
        {
          if (strlen (value) != ANSIM_FINGERPRINT_LEN)
            return malformed (error, "Signature-Input: keyid is not a device key fingerprint"),
                   NULL;
          sig->keyid = g_steal_pointer (&value);
        }
      else if (g_str_equal (name, "alg") && !have_alg)
        {
          if (!g_str_equal (value, "ed25519"))
            return malformed (error, "Signature-Input: alg must be ed25519"), NULL;
          have_alg = TRUE;
        }
      else
        return malformed (error, "Signature-Input: unknown or repeated parameter"), NULL;
    }
  if (!have_created || !have_alg || sig->nonce == NULL || sig->keyid == NULL)
    return malformed (error, "Signature-Input needs created, nonce, keyid and alg"), NULL;

  g_autoptr (GBytes) raw =
    ansim_sf_binary_decode (signature + strlen (label), ANSIM_SIGNATURE_SIZE);
  if (raw == NULL)
    return malformed (error, "Signature is not one 64-byte :BASE64: item"), NULL;
  memcpy (sig->signature, g_bytes_get_data (raw, NULL), ANSIM_SIGNATURE_SIZE);
  return g_steal_pointer (&sig);
}

gboolean
ansim_httpsig_verify (const AnsimHttpsig *sig, const AnsimDeviceKey *key, const char *method,
                      const char *path, const char *content_digest, GError **error)
{
  g_autofree char *base = ansim_httpsig_base (method, path, content_digest, sig->params);
  if (!ansim_device_key_verify (key, base, strlen (base), sig->signature, ANSIM_SIGNATURE_SIZE,
                                NULL))
    {
      g_set_error (error, ANSIM_HTTPSIG_ERROR, ANSIM_HTTPSIG_ERROR_BAD_SIGNATURE,
                   "the request signature does not verify with device key %s", sig->keyid);
      return FALSE;
    }
  return TRUE;
}
