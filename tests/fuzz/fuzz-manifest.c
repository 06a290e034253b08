/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target: arbitrary bytes through the strict manifest parser;
 * whatever it accepts must write back to bytes that parse to the same. */
#include "evidence.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Several times a real incident's manifest (about 500 bytes an entry). */
#define FUZZ_MAX_INPUT (256 * 1024)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_round_trip (AnsimManifest *m)
{
  g_autoptr (GBytes) bytes = ansim_manifest_to_bytes (m);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimManifest) again =
    ansim_manifest_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);

  /* What the parser accepted, the writer must write in a form it accepts,
   * and that form is a fixed point. */
  if (again == NULL)
    {
      g_printerr ("written manifest does not parse: %s\n", error->message);
      abort ();
    }
  g_autoptr (GBytes) bytes2 = ansim_manifest_to_bytes (again);
  if (!g_bytes_equal (bytes, bytes2))
    {
      g_printerr ("manifest changes when written twice\n");
      abort ();
    }
  /* The chain code on every entry, as verify runs it. */
  for (guint i = 0; i < ansim_manifest_get_n_entries (m); i++)
    {
      const AnsimManifestEntry *a = ansim_manifest_get_entry (m, i);
      const AnsimManifestEntry *b = ansim_manifest_get_entry (again, i);
      char ha[ANSIM_SHA256_HEX_LEN + 1], hb[ANSIM_SHA256_HEX_LEN + 1];

      ansim_manifest_entry_hash (a, ha);
      ansim_manifest_entry_hash (b, hb);
      if (strcmp (ha, hb) != 0)
        {
          g_printerr ("entry %u hashes differently after a round trip\n", i);
          abort ();
        }
    }
  (void) ansim_manifest_get_chain_start (m);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimManifest) m = NULL;

  if (size > FUZZ_MAX_INPUT)
    return 0;
  m = ansim_manifest_parse (data, size, &error);
  if (m == NULL)
    {
      /* Every refusal is one of ours, with a message naming something. */
      if (error == NULL || error->domain != ANSIM_EVIDENCE_ERROR || error->message == NULL
          || *error->message == '\0')
        abort ();
      return 0;
    }
  if (error != NULL)
    abort ();
  check_round_trip (m);
  return 0;
}
