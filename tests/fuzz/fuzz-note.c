/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target: signed notes as a desk or an exported file hands them
 * to ansimctl: splitting a file of notes, opening each with the panel key,
 * parsing the text as a checkpoint and as a receipt. What it keeps true:
 * nothing crashes, and an opened text is the note's own beginning. */
#include "note.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_INPUT (16 * 1024)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The key the corpus was signed with (corpus/note/): its notes open, so
 * the parsers run on them. */
static const char fuzz_key_pem[] = "-----BEGIN PUBLIC KEY-----\n"
                                   "MCowBQYDK2VwAyEA8V+fCYZJ91V4Qr2P5Sg7L/kWWvJqJAZ7iD369+1vA60=\n"
                                   "-----END PUBLIC KEY-----\n";

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static AnsimDeviceKey *key;
  if (size > FUZZ_MAX_INPUT)
    return 0;
  if (key == NULL)
    key = ansim_device_key_new_public_from_pem (fuzz_key_pem, strlen (fuzz_key_pem), "fuzz", NULL);
  g_autoptr (GPtrArray) notes = ansim_note_split ((const char *) data, size);
  for (guint i = 0; i < notes->len; i++)
    {
      const char *note = notes->pdata[i];
      g_autofree char *text =
        ansim_note_open (note, strlen (note), ANSIM_NOTE_PANEL_NAME, key, NULL);
      if (text == NULL)
        continue;
      if (!g_str_has_prefix (note, text))
        abort ();
      AnsimAuditCheckpoint c;
      g_auto (AnsimChainReceipt) r = { 0 };
      ansim_audit_checkpoint_parse (text, &c, NULL);
      ansim_chain_receipt_parse (text, &r, NULL);
    }
  return 0;
}
