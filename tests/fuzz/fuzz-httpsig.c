/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target: the request-signature parser. Input: three lines,
 * Signature-Input, Signature, Content-Digest; the rest is the body. */
#include "httpsig.h"

#include <stdint.h>
#include <string.h>

#define FUZZ_MAX_INPUT (8 * 1024)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The fixed key of the corpus: its signatures verify, so verify() runs to
 * the end on them. */
static const char fuzz_key_pem[] = "-----BEGIN PUBLIC KEY-----\n"
                                   "MCowBQYDK2VwAyEA/c6qn7sAAfS6I3zP67qV9BWITqG70bSKylBK3kYIIFs=\n"
                                   "-----END PUBLIC KEY-----\n";

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static AnsimDeviceKey *key;
  if (size > FUZZ_MAX_INPUT)
    return 0;
  if (key == NULL)
    key = ansim_device_key_new_public_from_pem (fuzz_key_pem, strlen (fuzz_key_pem), "fuzz", NULL);
  g_autofree char *text = g_strndup ((const char *) data, size);
  char *lines[3] = { NULL, NULL, NULL };
  char *p = text;
  for (int i = 0; i < 3 && p != NULL; i++)
    {
      lines[i] = p;
      p = strchr (p, '\n');
      if (p != NULL)
        *p++ = '\0';
    }
  const char *body = p != NULL ? p : "";
  g_autoptr (GError) error = NULL;
  ansim_httpsig_check_content_digest (lines[2], body, strlen (body), NULL);
  g_autoptr (AnsimHttpsig) sig = ansim_httpsig_parse (lines[0], lines[1], &error);
  if (sig != NULL)
    {
      g_assert_nonnull (sig->keyid);
      g_assert_nonnull (sig->nonce);
      if (key != NULL)
        ansim_httpsig_verify (sig, key, "PUT", "/api/v1/heartbeat",
                              lines[2] != NULL ? lines[2] : "", NULL);
    }
  else
    g_assert_nonnull (error);
  g_autoptr (GBytes) b = ansim_sf_binary_decode (lines[1], 0);
  (void) b; /* kept for its cleanup */
  return 0;
}
