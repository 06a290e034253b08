/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of signed notes: round trip, altered and forged notes refused,
 * strict parsing of checkpoints and receipts, and the standard-tools recipe
 * of docs/receipts.md (openssl pkeyutl -verify) on a real note. */
#include "note.h"
#include "test-common.h"
#include "util.h"

#include <string.h>

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define TIME0 G_GINT64_CONSTANT (1796608862123456) /* 2026-12-07T02:01:02.123456Z */

typedef struct {
  char *dir;
  AnsimDeviceKey *key, *other;
} Fixture;

static void
fixture_setup (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  f->dir = test_make_tmp_dir ("test-note-XXXXXX");
  g_autofree char *a = g_build_filename (f->dir, "panel-signing.pem", NULL);
  g_autofree char *b = g_build_filename (f->dir, "other.pem", NULL);
  f->key = ansim_device_key_load_or_create (a, &error);
  g_assert_no_error (error);
  f->other = ansim_device_key_load_or_create (b, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  ansim_device_key_free (f->key);
  ansim_device_key_free (f->other);
  test_rm_rf (f->dir);
  g_free (f->dir);
}

static char *
checkpoint_note (Fixture *f, gint64 entries)
{
  AnsimAuditCheckpoint c = { .entries = entries, .head = HEX_A, .time_us = TIME0 };
  g_autofree char *text = ansim_audit_checkpoint_text (&c);
  g_autoptr (GError) error = NULL;
  char *note = ansim_note_sign (text, ANSIM_NOTE_PANEL_NAME, f->key, &error);
  g_assert_no_error (error);
  return note;
}

static void
test_round_trip (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *note = checkpoint_note (f, 231);

  g_assert_true (g_str_has_prefix (note, "ansim audit checkpoint v1\nentries 231\nhead " HEX_A
                                         "\ntime 2026-12-07T02:01:02.123456Z\n\n\xe2\x80\x94 "
                                         "ansim-panel "));
  g_autofree char *text =
    ansim_note_open (note, strlen (note), ANSIM_NOTE_PANEL_NAME, f->key, &error);
  g_assert_no_error (error);
  AnsimAuditCheckpoint c = { 0 };
  g_assert_true (ansim_audit_checkpoint_parse (text, &c, &error));
  g_assert_no_error (error);
  g_assert_cmpint (c.entries, ==, 231);
  g_assert_cmpstr (c.head, ==, HEX_A);
  g_assert_cmpint (c.time_us, ==, TIME0);

  AnsimChainReceipt r = {
    .device = "desk-1-board", .source = "cam", .head = HEX_B, .incidents = 5, .time_us = TIME0
  };
  g_autofree char *rtext = ansim_chain_receipt_text (&r);
  g_autofree char *rnote = ansim_note_sign (rtext, ANSIM_NOTE_PANEL_NAME, f->key, &error);
  g_assert_no_error (error);
  g_autofree char *ropen =
    ansim_note_open (rnote, strlen (rnote), ANSIM_NOTE_PANEL_NAME, f->key, &error);
  g_assert_no_error (error);
  g_auto (AnsimChainReceipt) back = { 0 };
  g_assert_true (ansim_chain_receipt_parse (ropen, &back, &error));
  g_assert_cmpstr (back.device, ==, "desk-1-board");
  g_assert_cmpstr (back.source, ==, "cam");
  g_assert_cmpstr (back.head, ==, HEX_B);
  g_assert_cmpint (back.incidents, ==, 5);

  /* A checkpoint is not a receipt, and the reverse. */
  g_assert_false (ansim_chain_receipt_parse (text, &back, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
}

static void
test_altered_and_forged (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *note = checkpoint_note (f, 231);

  /* One digit changed: 231 -> 331. */
  g_autofree char *altered = g_strdup (note);
  char *digit = strstr (altered, "entries 231") + strlen ("entries ");
  *digit = '3';
  g_assert_null (
    ansim_note_open (altered, strlen (altered), ANSIM_NOTE_PANEL_NAME, f->key, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_SIGNATURE);
  g_assert_nonnull (strstr (error->message, "does not verify"));
  g_clear_error (&error);

  /* The same text signed by another key under the panel's name. */
  AnsimAuditCheckpoint c = { .entries = 231, .head = HEX_A, .time_us = TIME0 };
  g_autofree char *text = ansim_audit_checkpoint_text (&c);
  g_autofree char *forged = ansim_note_sign (text, ANSIM_NOTE_PANEL_NAME, f->other, &error);
  g_assert_no_error (error);
  g_assert_null (ansim_note_open (forged, strlen (forged), ANSIM_NOTE_PANEL_NAME, f->key, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_SIGNATURE);
  g_assert_nonnull (strstr (error->message, "no signature by ansim-panel"));
  g_clear_error (&error);

  /* A forged signature carrying the right key id. */
  g_autofree char *spliced = g_strdup (forged);
  const char *good_sig = strrchr (note, ' ') + 1;
  char *bad_sig = strrchr (spliced, ' ') + 1;
  memcpy (bad_sig, good_sig, 6); /* the key id is in the first 6 base64 characters */
  g_assert_null (
    ansim_note_open (spliced, strlen (spliced), ANSIM_NOTE_PANEL_NAME, f->key, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_SIGNATURE);
  g_clear_error (&error);

  /* Malformed ones, each refused by name. */
  static const char *const bad[] = {
    "no signature at all\n",
    "ansim audit checkpoint v1\n\nnot a signature line\n",
    "ansim audit checkpoint v1\n\n\xe2\x80\x94 ansim-panel !!!notbase64\n",
    "\n\n\xe2\x80\x94 ansim-panel AAAA\n",
    "text\x01 with control\n\n\xe2\x80\x94 ansim-panel AAAA\n",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_null (
        ansim_note_open (bad[i], strlen (bad[i]), ANSIM_NOTE_PANEL_NAME, f->key, &error));
      g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
      g_clear_error (&error);
    }
  /* Text the signer must refuse. */
  g_assert_null (ansim_note_sign ("a\n\nb\n", ANSIM_NOTE_PANEL_NAME, f->key, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
}

static void
test_parse_strict (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  AnsimAuditCheckpoint c;
  static const char *const bad[] = {
    "ansim audit checkpoint v1\nentries 01\nhead " HEX_A "\ntime 2026-12-07T02:01:02.123456Z\n",
    "ansim audit checkpoint v1\nentries 1\nhead " HEX_A "\ntime 2026-12-07T02:01:02Z\n",
    "ansim audit checkpoint v1\nentries -1\nhead " HEX_A "\ntime 2026-12-07T02:01:02.123456Z\n",
    "ansim audit checkpoint v1\nentries 1\nhead " HEX_A "\n",
    "ansim audit checkpoint v2\nentries 1\nhead " HEX_A "\ntime 2026-12-07T02:01:02.123456Z\n",
    "ansim audit checkpoint v1\nentries 1\nhead AAAA\ntime 2026-12-07T02:01:02.123456Z\n",
  };
  (void) f;
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (ansim_audit_checkpoint_parse (bad[i], &c, &error));
      g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
    }
}

static void
test_split (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autofree char *a = checkpoint_note (f, 1);
  g_autofree char *b = checkpoint_note (f, 2);
  g_autofree char *set = g_strconcat (a, "\n", b, "truncated text\n", NULL);
  g_autoptr (GPtrArray) notes = ansim_note_split (set, strlen (set));

  g_assert_cmpuint (notes->len, ==, 3);
  g_assert_cmpstr (notes->pdata[0], ==, a);
  g_assert_cmpstr (notes->pdata[1], ==, b);
  g_assert_cmpstr (notes->pdata[2], ==, "truncated text\n");
}

/* The recipe of docs/receipts.md, "Checking a note with standard tools",
 * word for word, and the same with one byte of the text changed. */
static void
test_openssl_recipe (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autofree char *note = checkpoint_note (f, 7);
  g_autofree char *note_path = g_build_filename (f->dir, "note.txt", NULL);
  test_write_file (note_path, note, -1);
  static const char recipe[] =
    "set -e; cd \"$1\"\n"
    "n=$(grep -n '^$' note.txt | tail -n 1 | cut -d: -f1)\n"
    "head -n $((n - 1)) note.txt > text.txt\n"
    "tail -n 1 note.txt | cut -d' ' -f3 | base64 -d | tail -c 64 > sig.bin\n"
    "openssl pkeyutl -verify -pubin -inkey panel-signing.pub.pem -rawin \\\n"
    "  -in text.txt -sigfile sig.bin\n";
  g_autofree char *out = NULL, *err = NULL;
  int rc = test_run (&out, &err, "sh", "-c", recipe, "sh", f->dir, NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_nonnull (strstr (out, "Signature Verified Successfully"));

  /* The recipe must be able to fail. */
  g_autofree char *altered = g_strdup (note);
  strstr (altered, "entries 7")[8] = '8';
  test_write_file (note_path, altered, -1);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  rc = test_run (&out, &err, "sh", "-c", recipe, "sh", f->dir, NULL);
  g_assert_cmpint (rc, !=, 0);
  g_assert_null (strstr (out, "Signature Verified Successfully"));

  /* The recipe is the document's. */
  g_autofree char *doc_path =
    g_build_filename (g_getenv ("ANSIM_SOURCE_ROOT"), "docs", "receipts.md", NULL);
  g_autofree char *doc = test_read_file (doc_path);
  g_assert_nonnull (strstr (doc, recipe + strlen ("set -e; cd \"$1\"\n")));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/note/round-trip", test_round_trip);
  ADD ("/note/altered-and-forged", test_altered_and_forged);
  ADD ("/note/parse-strict", test_parse_strict);
  ADD ("/note/split", test_split);
  ADD ("/note/openssl-recipe", test_openssl_recipe);
  return g_test_run ();
}
