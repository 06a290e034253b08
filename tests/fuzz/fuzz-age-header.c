/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target: arbitrary bytes through the age header parser, header
 * MAC check and STREAM decryptor, with the fixed identity of the corpus. */
#include "age.h"
#include "test-sink.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The C2SP CCTV test kit's identity: its vectors, in the corpus, open with
 * it, so the fuzzer reaches the MAC and payload code. */
#define FUZZ_IDENTITY "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"

/* Three chunks and a header: enough for every path, and quick. */
#define FUZZ_MAX_INPUT (200 * 1024)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Decrypts data fed byte by byte for the first `bytewise` bytes, then in
 * one piece. Returns the error (NULL on success). */
static GError *
decrypt (AnsimAgeIdentity *id, const uint8_t *data, size_t size, size_t bytewise, TestSink *sink)
{
  g_autoptr (AnsimAgeDecryptor) dec = ansim_age_decryptor_new (&id, 1, test_sink_write, sink);
  GError *error = NULL;
  size_t off = 0;

  while (off < size && off < bytewise && error == NULL)
    {
      ansim_age_decryptor_update (dec, data + off, 1, &error);
      off++;
    }
  if (off < size && error == NULL)
    ansim_age_decryptor_update (dec, data + off, size - off, &error);
  if (error == NULL)
    ansim_age_decryptor_finish (dec, &error);
  return error;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static AnsimAgeIdentity *id;
  TestSink whole = { NULL, 0 }, split = { NULL, 0 };
  GError *e1, *e2;

  if (size > FUZZ_MAX_INPUT)
    return 0;
  if (id == NULL)
    {
      id = ansim_age_identity_parse (FUZZ_IDENTITY, NULL);
      g_assert (id != NULL);
    }

  whole.sha256 = g_checksum_new (G_CHECKSUM_SHA256);
  split.sha256 = g_checksum_new (G_CHECKSUM_SHA256);
  e1 = decrypt (id, data, size, 0, &whole);
  e2 = decrypt (id, data, size, 4096, &split);

  /* How the input is split must not change the outcome or the output. */
  if ((e1 == NULL) != (e2 == NULL)
      || (e1 != NULL && (e1->domain != e2->domain || e1->code != e2->code))
      || whole.released != split.released
      || strcmp (g_checksum_get_string (whole.sha256), g_checksum_get_string (split.sha256)) != 0)
    {
      g_printerr ("split feeding differs: %s / %s\n", e1 ? e1->message : "ok",
                  e2 ? e2->message : "ok");
      abort ();
    }
  /* Every failure is one of ours, with a message. */
  if (e1 != NULL && (e1->domain != ANSIM_AGE_ERROR || e1->message == NULL || *e1->message == '\0'))
    abort ();

  g_clear_error (&e1);
  g_clear_error (&e2);
  g_checksum_free (whole.sha256);
  g_checksum_free (split.sha256);
  return 0;
}
