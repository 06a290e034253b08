/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains signed notes (C2SP signed-note) and the two texts
 * the panel signs in them: audit checkpoints and chain-head receipts.
 * What must stay true: ansim_note_open returns a text only when a
 * signature by the expected name and key verifies over its exact bytes. */
#include "note.h"

#include <string.h>

#include "evidence-error.h"
#include "util.h"

#define SIGNATURE_PREFIX "\xe2\x80\x94 " /* U+2014 EM DASH, space */
#define MAX_SIGNATURES 16

static GQuark
error_quark (void)
{
  return ANSIM_EVIDENCE_ERROR;
}

guint32
ansim_note_key_id (const char *name, const AnsimDeviceKey *key)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  guint8 raw[32], digest[ANSIM_SHA256_LEN];
  static const guint8 tail[] = { '\n', 0x01 };

  ansim_device_key_get_public_raw (key, raw);
  g_byte_array_append (in, (const guint8 *) name, strlen (name));
  g_byte_array_append (in, tail, sizeof tail);
  g_byte_array_append (in, raw, sizeof raw);
  ansim_hash_sha256 (in->data, in->len, digest);
  return (guint32) digest[0] << 24 | (guint32) digest[1] << 16 | (guint32) digest[2] << 8
         | digest[3];
}

char *
ansim_note_verifier_key (const char *name, const AnsimDeviceKey *key)
{
  guint8 blob[33];
  blob[0] = 0x01;
  ansim_device_key_get_public_raw (key, blob + 1);
  g_autofree char *b64 = g_base64_encode (blob, sizeof blob);
  return g_strdup_printf ("%s+%08x+%s", name, ansim_note_key_id (name, key), b64);
}

/* A name: non-empty, no space, no '+', no control character. */
static gboolean
is_note_name (const char *name)
{
  if (name == NULL || *name == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if ((guchar) *p <= ' ' || *p == '+' || *p == 0x7f)
      return FALSE;
  return g_utf8_validate (name, -1, NULL);
}

/* The text rules: non-empty UTF-8, lines ending in '\n', none empty, no
 * control character but '\n', no line that looks like a signature. */
static gboolean
check_text (const char *text, gsize len, GError **error)
{
  if (len == 0 || text[len - 1] != '\n')
    {
      g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                   "the note's text is empty or does not end with a newline");
      return FALSE;
    }
  if (!g_utf8_validate_len (text, len, NULL))
    {
      g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                   "the note's text is not UTF-8");
      return FALSE;
    }
  for (gsize i = 0; i < len; i++)
    {
      guchar c = text[i];
      if ((c < ' ' && c != '\n') || c == 0x7f)
        {
          g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                       "the note's text has a control character at byte %zu", i);
          return FALSE;
        }
      if (c == '\n' && (i == 0 || text[i - 1] == '\n'))
        {
          g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                       "the note's text has an empty line");
          return FALSE;
        }
      if ((i == 0 || text[i - 1] == '\n') && len - i >= strlen (SIGNATURE_PREFIX)
          && memcmp (text + i, SIGNATURE_PREFIX, strlen (SIGNATURE_PREFIX)) == 0)
        {
          g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                       "the note's text has a line that starts like a signature");
          return FALSE;
        }
    }
  return TRUE;
}

char *
ansim_note_sign (const char *text, const char *name, const AnsimDeviceKey *key, GError **error)
{
  gsize len = strlen (text);
  guint8 blob[4 + ANSIM_SIGNATURE_SIZE];

  g_return_val_if_fail (is_note_name (name), NULL);
  if (!check_text (text, len, error))
    return NULL;
  g_autoptr (GBytes) sig = ansim_device_key_sign (key, text, len, error);
  if (sig == NULL)
    return NULL;
  guint32 id = ansim_note_key_id (name, key);
  blob[0] = id >> 24;
  blob[1] = id >> 16;
  blob[2] = id >> 8;
  blob[3] = id;
  memcpy (blob + 4, g_bytes_get_data (sig, NULL), ANSIM_SIGNATURE_SIZE);
  g_autofree char *b64 = g_base64_encode (blob, sizeof blob);
  return g_strdup_printf ("%s\n" SIGNATURE_PREFIX "%s %s\n", text, name, b64);
}

/* Strict base64 (what g_base64_encode writes) of exactly want bytes. */
static GBytes *
decode_exact (const char *b64, gsize want)
{
  gsize n = strlen (b64), out_len = 0;
  if (n != (want + 2) / 3 * 4)
    return NULL;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isalnum (b64[i]) && b64[i] != '+' && b64[i] != '/' && b64[i] != '=')
      return NULL;
  g_autofree guchar *raw = g_base64_decode (b64, &out_len);
  if (raw == NULL || out_len != want)
    return NULL;
  g_autofree char *again = g_base64_encode (raw, out_len);
  if (strcmp (again, b64) != 0)
    return NULL;
  return g_bytes_new_take (g_steal_pointer (&raw), out_len);
}

char *
ansim_note_open (const char *note, gsize len, const char *name, const AnsimDeviceKey *key,
                 GError **error)
{
  g_return_val_if_fail (note != NULL && is_note_name (name) && key != NULL, NULL);
  if (len > ANSIM_NOTE_MAX_SIZE)
    {
      g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_TOO_LARGE,
                   "the note is %zu bytes; at most %d are accepted", len, ANSIM_NOTE_MAX_SIZE);
      return NULL;
    }
  if (memchr (note, '\0', len) != NULL)
    {
      g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                   "the note has a NUL byte");
      return NULL;
    }
  /* The text ends at the last blank line ("\n\n"). */
  g_autofree char *copy = g_strndup (note, len);
  char *split = g_strrstr (copy, "\n\n");
  if (split == NULL || len == 0 || copy[len - 1] != '\n')
    {
      g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                   "not a signed note: no blank line before the signatures, or no final newline");
      return NULL;
    }
  gsize text_len = split - copy + 1;
  if (!check_text (copy, text_len, error))
    return NULL;

  guint32 want_id = ansim_note_key_id (name, key);
  gboolean by_key = FALSE;
  g_auto (GStrv) lines = g_strsplit (split + 2, "\n", -1);
  guint n_lines = g_strv_length (lines);
  /* The split leaves one empty string after the final newline. */
  if (n_lines < 2 || n_lines - 1 > MAX_SIGNATURES)
    {
      g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                   "the note has %u signature lines; 1 to %d are accepted", n_lines - 1,
                   MAX_SIGNATURES);
      return NULL;
    }
  for (guint i = 0; i + 1 < n_lines; i++)
    {
      const char *line = lines[i];
      if (!g_str_has_prefix (line, SIGNATURE_PREFIX))
        {
          g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                       "signature line %u does not start with \"— \"", i + 1);
          return NULL;
        }
      line += strlen (SIGNATURE_PREFIX);
      const char *space = strchr (line, ' ');
      if (space == NULL)
        {
          g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                       "signature line %u is not \"— NAME SIGNATURE\"", i + 1);
          return NULL;
        }
      g_autofree char *line_name = g_strndup (line, space - line);
      if (!is_note_name (line_name) || strchr (space + 1, ' ') != NULL)
        {
          g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                       "signature line %u is not \"— NAME SIGNATURE\"", i + 1);
          return NULL;
        }
      if (strcmp (line_name, name) != 0)
        continue; /* another signer's: not ours to check */
      g_autoptr (GBytes) blob = decode_exact (space + 1, 4 + ANSIM_SIGNATURE_SIZE);
      if (blob == NULL)
        {
          g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                       "signature line %u: the signature is not base64 of a 4-byte key id and "
                       "a 64-byte Ed25519 signature",
                       i + 1);
          return NULL;
        }
      const guint8 *b = g_bytes_get_data (blob, NULL);
      guint32 id = (guint32) b[0] << 24 | (guint32) b[1] << 16 | (guint32) b[2] << 8 | b[3];
      if (id != want_id)
        continue;
      by_key = TRUE;
      if (!ansim_device_key_verify (key, copy, text_len, b + 4, ANSIM_SIGNATURE_SIZE, NULL))
        {
          g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_SIGNATURE,
                       "the note's signature by %s (key %08x) does not verify: the note was "
                       "altered or forged",
                       name, want_id);
          return NULL;
        }
    }
  if (!by_key)
    {
      g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_SIGNATURE,
                   "the note has no signature by %s with key %08x (signed by another key?)", name,
                   want_id);
      return NULL;
    }
  return g_strndup (copy, text_len);
}

GPtrArray *
ansim_note_split (const char *text, gsize len)
{
  GPtrArray *notes = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) cur = g_string_new (NULL);
  gboolean in_signatures = FALSE;
  const char *p = text, *end = text + len;

  while (p < end)
    {
      const char *nl = memchr (p, '\n', end - p);
      const char *line_end = nl != NULL ? nl + 1 : end;
      gboolean blank = *p == '\n';
      /* text need not end with a NUL: compare within the line only. */
      gboolean sig_line = (gsize) (line_end - p) > strlen (SIGNATURE_PREFIX)
                          && memcmp (p, SIGNATURE_PREFIX, strlen (SIGNATURE_PREFIX)) == 0;
      if (in_signatures && !sig_line)
        {
          g_ptr_array_add (notes, g_strdup (cur->str));
          g_string_truncate (cur, 0);
          in_signatures = FALSE;
        }
      if (cur->len == 0 && blank)
        {
          p = line_end; /* between notes */
          continue;
        }
      if (sig_line && cur->len > 0 && g_str_has_suffix (cur->str, "\n\n"))
        in_signatures = TRUE;
      g_string_append_len (cur, p, line_end - p);
      p = line_end;
    }
  if (cur->len > 0)
    g_ptr_array_add (notes, g_strdup (cur->str));
  return notes;
}

/* ---- the two kinds -------------------------------------------------------- */

char *
ansim_note_format_time (gint64 time_us)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  g_autofree char *s = t != NULL ? g_date_time_format (t, "%Y-%m-%dT%H:%M:%S") : NULL;
  return g_strdup_printf ("%s.%06" G_GINT64_FORMAT "Z", s != NULL ? s : "?",
                          time_us % G_USEC_PER_SEC);
}

/* "YYYY-MM-DDTHH:MM:SS.UUUUUUZ" exactly, as ansim_note_format_time writes. */
static gboolean
parse_time (const char *s, gint64 *out)
{
  if (strlen (s) != 27 || s[19] != '.' || s[26] != 'Z')
    return FALSE;
  for (int i = 20; i < 26; i++)
    if (!g_ascii_isdigit (s[i]))
      return FALSE;
  g_autofree char *whole = g_strndup (s, 19);
  g_autofree char *iso = g_strconcat (whole, "Z", NULL);
  g_autoptr (GDateTime) t = g_date_time_new_from_iso8601 (iso, NULL);
  if (t == NULL)
    return FALSE;
  *out = g_date_time_to_unix (t) * G_USEC_PER_SEC + g_ascii_strtoll (s + 20, NULL, 10);
  g_autofree char *again = ansim_note_format_time (*out);
  return strcmp (again, s) == 0;
}

static gboolean
parse_count (const char *s, gint64 *out)
{
  guint64 v = 0;
  if (*s == '\0' || strlen (s) > 18 || (s[0] == '0' && s[1] != '\0'))
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  v = g_ascii_strtoull (s, NULL, 10);
  *out = (gint64) v;
  return TRUE;
}

static gboolean
is_hex64 (const char *s)
{
  if (strlen (s) != 64)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isdigit (*p) && !(*p >= 'a' && *p <= 'f'))
      return FALSE;
  return TRUE;
}

/* Splits text into header and exactly the named "KEY VALUE" lines, in
 * order; values[i] point into a copy owned by *out_lines. */
static gboolean
parse_lines (const char *text, const char *header, const char *const *keys, guint n_keys,
             const char **values, GStrv *out_lines, GError **error)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = g_strv_length (lines);
  if (n != n_keys + 2 || *lines[n - 1] != '\0' || strcmp (lines[0], header) != 0)
    {
      g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                   "not a \"%s\" text of %u lines", header, n_keys + 1);
      return FALSE;
    }
  for (guint i = 0; i < n_keys; i++)
    {
      const char *line = lines[i + 1];
      gsize k = strlen (keys[i]);
      if (strncmp (line, keys[i], k) != 0 || line[k] != ' ')
        {
          g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                       "%s: line %u must be \"%s VALUE\"", header, i + 2, keys[i]);
          return FALSE;
        }
      values[i] = line + k + 1;
    }
  *out_lines = g_steal_pointer (&lines);
  return TRUE;
}

char *
ansim_audit_checkpoint_text (const AnsimAuditCheckpoint *c)
{
  g_autofree char *time = ansim_note_format_time (c->time_us);
  return g_strdup_printf (ANSIM_AUDIT_CHECKPOINT_HEADER "\nentries %" G_GINT64_FORMAT
                                                        "\nhead %s\ntime %s\n",
                          c->entries, c->head, time);
}

gboolean
ansim_audit_checkpoint_parse (const char *text, AnsimAuditCheckpoint *out, GError **error)
{
  static const char *const keys[] = { "entries", "head", "time" };
  const char *v[G_N_ELEMENTS (keys)];
  g_auto (GStrv) lines = NULL;
  AnsimAuditCheckpoint c = { 0 };

  if (!parse_lines (text, ANSIM_AUDIT_CHECKPOINT_HEADER, keys, G_N_ELEMENTS (keys), v, &lines,
                    error))
    return FALSE;
  if (!parse_count (v[0], &c.entries) || !is_hex64 (v[1]) || !parse_time (v[2], &c.time_us))
    {
      g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                   "audit checkpoint: entries must be a decimal count, head 64 lowercase hex "
                   "digits, time YYYY-MM-DDTHH:MM:SS.UUUUUUZ");
      return FALSE;
    }
  memcpy (c.head, v[1], 65);
  *out = c;
  return TRUE;
}

void
ansim_chain_receipt_clear (AnsimChainReceipt *r)
{
  g_clear_pointer (&r->device, g_free);
  g_clear_pointer (&r->source, g_free);
}

char *
ansim_chain_receipt_text (const AnsimChainReceipt *r)
{
  g_autofree char *time = ansim_note_format_time (r->time_us);
  return g_strdup_printf (ANSIM_CHAIN_RECEIPT_HEADER "\ndevice %s\nsource %s\nhead %s\n"
                                                     "incidents %" G_GINT64_FORMAT "\ntime %s\n",
                          r->device, r->source, r->head, r->incidents, time);
}

gboolean
ansim_chain_receipt_parse (const char *text, AnsimChainReceipt *out, GError **error)
{
  static const char *const keys[] = { "device", "source", "head", "incidents", "time" };
  const char *v[G_N_ELEMENTS (keys)];
  g_auto (GStrv) lines = NULL;
  gint64 incidents = 0, time_us = 0;

  if (!parse_lines (text, ANSIM_CHAIN_RECEIPT_HEADER, keys, G_N_ELEMENTS (keys), v, &lines, error))
    return FALSE;
  if (!ansim_is_name (v[0]) || !ansim_is_name (v[1]) || !is_hex64 (v[2])
      || !parse_count (v[3], &incidents) || incidents < 1 || !parse_time (v[4], &time_us))
    {
      g_set_error (error, error_quark (), ANSIM_EVIDENCE_ERROR_MALFORMED,
                   "chain receipt: device and source must be names, head 64 lowercase hex "
                   "digits, incidents a count of at least 1, time YYYY-MM-DDTHH:MM:SS.UUUUUUZ");
      return FALSE;
    }
  out->device = g_strdup (v[0]);
  out->source = g_strdup (v[1]);
  memcpy (out->head, v[2], 65);
  out->incidents = incidents;
  out->time_us = time_us;
  return TRUE;
}
