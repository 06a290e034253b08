/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Signed checkpoints (evidence format version 3): their exact bytes, their
 * strict parser, the header text they commit to, and writing them. What it
 * must keep true: one checkpoint has exactly one spelling (the parser takes
 * only the bytes the writer would write), and a checkpoint on disk is never
 * replaced. */
#include "checkpoint.h"
#include "durable.h"
#include "evidence-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>

#define HEADER_MAGIC "ansim-header-v1"
#define CHECKPOINT_MAGIC "ansim-checkpoint-v1"

char *
ansim_manifest_header_canonical (const AnsimManifest *m)
{
  GString *s = g_string_new (HEADER_MAGIC "\n");
  g_autofree char *opened = ansim_evidence_format_wall (m->opened_wall_us);

  g_string_append_printf (s, "format_version=%u\n", m->format_version);
  g_string_append_printf (s, "incident_id=%s\n", m->incident_id);
  g_string_append_printf (s, "device_id=%s\n", m->device_id);
  g_string_append_printf (s, "device_fingerprint=%s\n", m->device_fingerprint);
  g_string_append_printf (s, "desk_id=%s\n", m->desk_id);
  g_string_append_printf (s, "trigger_name=%s\n", m->trigger_name);
  g_string_append_printf (s, "trigger_kind=%s\n",
                          m->trigger_kind == ANSIM_TRIGGER_BODYCAM ? "bodycam" : "button");
  if (m->source != NULL)
    g_string_append_printf (s, "source=%s\n", m->source);
  g_string_append_printf (s, "drill=%s\n", m->drill ? "true" : "false");
  g_string_append_printf (s, "opened_wall=%s\n", opened);
  g_string_append_printf (s, "opened_mono_us=%" G_GINT64_FORMAT "\n", m->opened_mono_us);
  if (m->previous_manifest_sha256 != NULL)
    g_string_append_printf (s, "previous_manifest_sha256=%s\n", m->previous_manifest_sha256);
  return g_string_free (s, FALSE);
}

void
ansim_manifest_header_hash (const AnsimManifest *m, char out_hex[ANSIM_SHA256_HEX_LEN + 1])
{
  g_autofree char *text = ansim_manifest_header_canonical (m);

  ansim_hash_sha256_hex (text, strlen (text), out_hex);
}

gboolean
ansim_manifest_head_after (const AnsimManifest *m, guint64 n,
                           char out_hex[ANSIM_SHA256_HEX_LEN + 1])
{
  if (n > m->entries->len)
    return FALSE;
  if (n == 0)
    g_strlcpy (out_hex, m->chain_start, ANSIM_SHA256_HEX_LEN + 1);
  else
    ansim_manifest_entry_hash (&g_array_index (m->entries, AnsimManifestEntry, n - 1), out_hex);
  return TRUE;
}

void
ansim_checkpoint_of_manifest (const AnsimManifest *m, guint64 sequence, const char *previous,
                              gint64 wall_us, gint64 mono_us, AnsimCheckpoint *out)
{
  memset (out, 0, sizeof *out);
  g_strlcpy (out->incident_id, m->incident_id, sizeof out->incident_id);
  ansim_manifest_header_hash (m, out->header_sha256);
  out->sequence = sequence;
  g_strlcpy (out->previous, previous != NULL ? previous : ANSIM_ZERO_HASH, sizeof out->previous);
  out->entries = m->entries->len;
  ansim_manifest_head_after (m, out->entries, out->head);
  out->wall_us = wall_us;
  out->mono_us = mono_us;
}

GBytes *
ansim_checkpoint_to_bytes (const AnsimCheckpoint *c)
{
  g_autofree char *wall = ansim_evidence_format_wall (c->wall_us);
  GString *s = g_string_new (CHECKPOINT_MAGIC "\n");

  g_string_append_printf (s, "incident_id=%s\n", c->incident_id);
  g_string_append_printf (s, "header_sha256=%s\n", c->header_sha256);
  g_string_append_printf (s, "sequence=%" G_GUINT64_FORMAT "\n", c->sequence);
  g_string_append_printf (s, "previous=%s\n", c->previous);
  g_string_append_printf (s, "entries=%" G_GUINT64_FORMAT "\n", c->entries);
  g_string_append_printf (s, "head=%s\n", c->head);
  g_string_append_printf (s, "wall=%s\n", wall);
  g_string_append_printf (s, "mono_us=%" G_GINT64_FORMAT "\n", c->mono_us);
  gsize len = s->len;
  char *text = g_string_free (s, FALSE);

  return g_bytes_new_take (text, len);
}

static gboolean
invalid (GError **error, const char *what)
{
  g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED, "not a checkpoint: %s",
               what);
  return FALSE;
}

/* Digits only, no leading zero, at most 2^53-1. */
static gboolean
parse_count (const char *s, guint64 *out)
{
  guint64 v = 0;

  if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
    return FALSE;
  for (const char *p = s; *p; p++)
    {
      if (!g_ascii_isdigit (*p) || v > (guint64) ANSIM_MANIFEST_MAX_INT / 10)
        return FALSE;
      v = v * 10 + (guint64) (*p - '0');
    }
  if (v > (guint64) ANSIM_MANIFEST_MAX_INT)
    return FALSE;
  *out = v;
  return TRUE;
}

gboolean
ansim_checkpoint_parse (const void *data, gsize len, AnsimCheckpoint *out, GError **error)
{
  g_return_val_if_fail (out != NULL, FALSE);
  if (len > ANSIM_CHECKPOINT_MAX_SIZE || memchr (data, '\0', len) != NULL)
    return invalid (error, "too large or holds a NUL byte");
  g_autofree char *text = g_strndup (data, len);
  if (len == 0 || text[len - 1] != '\n')
    return invalid (error, "does not end in a newline");
  text[len - 1] = '\0';
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  static const char *const order[] = { CHECKPOINT_MAGIC, "incident_id=", "header_sha256=",
                                       "sequence=",      "previous=",    "entries=",
                                       "head=",          "wall=",        "mono_us=" };
  if (g_strv_length (lines) != G_N_ELEMENTS (order))
    return invalid (error, "expected 9 lines");
  if (!g_str_equal (lines[0], CHECKPOINT_MAGIC))
    return invalid (error, "the first line is not " CHECKPOINT_MAGIC);
  for (guint i = 1; i < G_N_ELEMENTS (order); i++)
    if (!g_str_has_prefix (lines[i], order[i]))
      {
        g_autofree char *what = g_strdup_printf ("line %u is not %s…", i + 1, order[i]);
        return invalid (error, what);
      }
#define VALUE(i) (lines[i] + strlen (order[i]))
  AnsimCheckpoint c = { 0 };
  guint64 mono = 0;
  if (!ansim_is_uuid (VALUE (1)))
    return invalid (error, "incident_id: not a lowercase UUID");
  g_strlcpy (c.incident_id, VALUE (1), sizeof c.incident_id);
  if (!ansim_is_sha256_hex (VALUE (2)))
    return invalid (error, "header_sha256: not 64 lowercase hex digits");
  g_strlcpy (c.header_sha256, VALUE (2), sizeof c.header_sha256);
  if (!parse_count (VALUE (3), &c.sequence))
    return invalid (error, "sequence: not an integer from 0 to 2^53-1");
  if (!ansim_is_sha256_hex (VALUE (4)))
    return invalid (error, "previous: not 64 lowercase hex digits");
  g_strlcpy (c.previous, VALUE (4), sizeof c.previous);
  if (!parse_count (VALUE (5), &c.entries))
    return invalid (error, "entries: not an integer from 0 to 2^53-1");
  if (!ansim_is_sha256_hex (VALUE (6)))
    return invalid (error, "head: not 64 lowercase hex digits");
  g_strlcpy (c.head, VALUE (6), sizeof c.head);
  if (!ansim_evidence_parse_wall (VALUE (7), &c.wall_us))
    return invalid (error, "wall: not a time of the form 2026-11-23T10:43:49.979356Z");
  if (!parse_count (VALUE (8), &mono))
    return invalid (error, "mono_us: not an integer from 0 to 2^53-1");
  c.mono_us = (gint64) mono;
#undef VALUE
  if (c.sequence == 0 && !g_str_equal (c.previous, ANSIM_ZERO_HASH))
    return invalid (error, "previous: must be 64 zeros for sequence 0");
  /* One spelling only: what the writer would write, byte for byte. */
  g_autoptr (GBytes) again = ansim_checkpoint_to_bytes (&c);
  if (g_bytes_get_size (again) != len || memcmp (g_bytes_get_data (again, NULL), data, len) != 0)
    return invalid (error, "not in its one canonical form");
  *out = c;
  return TRUE;
}

char *
ansim_checkpoint_file_name (guint64 sequence)
{
  return g_strdup_printf ("checkpoint-%06" G_GUINT64_FORMAT, sequence);
}

gboolean
ansim_checkpoint_write (const AnsimCheckpoint *c, const char *incident_dir,
                        const AnsimDeviceKey *key, char out_sha256[ANSIM_SHA256_HEX_LEN + 1],
                        GError **error)
{
  g_autoptr (GBytes) bytes = ansim_checkpoint_to_bytes (c);
  gsize len = 0;
  const void *data = g_bytes_get_data (bytes, &len);
  g_autoptr (GBytes) sig = ansim_device_key_sign (key, data, len, error);
  g_autofree char *dir = g_build_filename (incident_dir, ANSIM_CHECKPOINT_DIR, NULL);
  g_autofree char *name = ansim_checkpoint_file_name (c->sequence);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *sig_path = g_strconcat (path, ".sig", NULL);

  if (sig == NULL)
    return FALSE;
  if (g_mkdir_with_parents (dir, 0700) < 0)
    return ansim_set_error_from_errno (error, errno, "cannot create folder", dir);
  /* Text before signature, as the manifest: a crash between leaves a
   * checkpoint without signature, which proves nothing and is replaced by
   * nothing (the next one has the next sequence). */
  if (!ansim_file_write_durable (path, data, len, 0644, ANSIM_WRITE_NO_REPLACE, error))
    return FALSE;
  ansim_evidence_crash_point ("checkpoint-text-written");
  if (!ansim_file_write_durable (sig_path, g_bytes_get_data (sig, NULL), g_bytes_get_size (sig),
                                 0644, ANSIM_WRITE_NO_REPLACE, error))
    return FALSE;
  if (out_sha256 != NULL)
    ansim_hash_sha256_hex (data, len, out_sha256);
  return TRUE;
}

GBytes *
ansim_checkpoint_upload_body (GBytes *text, GBytes *signature, const AnsimManifest *manifest,
                              guint from, guint to)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autofree char *text_str = g_strndup (g_bytes_get_data (text, NULL), g_bytes_get_size (text));
  g_autofree char *sig64 =
    g_base64_encode (g_bytes_get_data (signature, NULL), g_bytes_get_size (signature));
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "checkpoint");
  json_builder_add_string_value (b, text_str);
  json_builder_set_member_name (b, "signature");
  json_builder_add_string_value (b, sig64);
  json_builder_set_member_name (b, "entries");
  json_builder_add_value (b, ansim_manifest_entries_to_node (manifest, from, to));
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  char *json = json_to_string (root, FALSE);
  return g_bytes_new_take (json, strlen (json));
}
