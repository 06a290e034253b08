/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the incident manifest as a model: the builder the
 * recorder appends to, the hash chain, the getters and the serializer
 * (the exact bytes that are signed). The strict parser is in
 * manifest-parse.c. What it must keep true: every entry links to the one
 * before by its hash, nothing is added once closed, and every value the
 * builder accepts is one the parser accepts back. */
#include "manifest.h"
#include "evidence-private.h"

#include <string.h>

#include <json-glib/json-glib.h>

/* ---- manifest: model and builder ------------------------------------------- */

static void
entry_clear (gpointer p)
{
  AnsimManifestEntry *e = p;

  g_free (e->file);
  g_free (e->reason);
  g_free (e->stream);
}

static void
event_clear (gpointer p)
{
  g_free (((AnsimManifestEvent *) p)->kind);
  g_strfreev (((AnsimManifestEvent *) p)->detail);
}

AnsimManifest *
ansim_manifest_alloc (void)
{
  AnsimManifest *m = g_new0 (AnsimManifest, 1);

  m->entries = g_array_new (FALSE, TRUE, sizeof (AnsimManifestEntry));
  g_array_set_clear_func (m->entries, entry_clear);
  m->events = g_array_new (FALSE, TRUE, sizeof (AnsimManifestEvent));
  g_array_set_clear_func (m->events, event_clear);
  m->close_reason = g_strdup ("open");
  g_strlcpy (m->chain_start, ANSIM_ZERO_HASH, sizeof m->chain_start);
  return m;
}

void
ansim_manifest_free (AnsimManifest *m)
{
  if (m == NULL)
    return;
  g_free (m->device_id);
  g_free (m->device_fingerprint);
  g_free (m->desk_id);
  g_free (m->trigger_name);
  g_free (m->source);
  g_free (m->incident_id);
  g_free (m->close_reason);
  g_free (m->previous_manifest_sha256);
  g_array_unref (m->entries);
  g_array_unref (m->events);
  g_free (m);
}

gboolean
ansim_manifest_invalid (GError **error, const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, args);
  va_end (args);
  g_set_error_literal (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED, msg);
  return FALSE;
}

static gboolean
check_int (gint64 v, const char *name, GError **error)
{
  if (v < 0 || v > ANSIM_MANIFEST_MAX_INT)
    return ansim_manifest_invalid (
      error, "%s: %" G_GINT64_FORMAT " is not an integer from 0 to 2^53-1", name, v);
  return TRUE;
}

static gboolean
check_wall (gint64 v, const char *name, GError **error)
{
  if (v < 0 || v > ANSIM_WALL_MAX_US)
    return ansim_manifest_invalid (
      error, "%s: %" G_GINT64_FORMAT " µs is not a time from 1970 to 9999", name, v);
  return TRUE;
}

AnsimManifest *
ansim_manifest_new (const AnsimManifestInfo *info, const AnsimDeviceKey *key, GError **error)
{
  g_return_val_if_fail (info != NULL && key != NULL, NULL);

  if (!ansim_is_text (info->device_id))
    return ansim_manifest_invalid (error, "device_id: not a name (1 to %d bytes of UTF-8 text)",
                                   ANSIM_TEXT_MAX),
           NULL;
  if (!ansim_is_text (info->desk_id))
    return ansim_manifest_invalid (error, "desk_id: not a name (1 to %d bytes of UTF-8 text)",
                                   ANSIM_TEXT_MAX),
           NULL;
  if (!ansim_is_text (info->trigger_name))
    return ansim_manifest_invalid (error, "trigger_name: not a name (1 to %d bytes of UTF-8 text)",
                                   ANSIM_TEXT_MAX),
           NULL;
  if (info->trigger_kind != ANSIM_TRIGGER_BUTTON && info->trigger_kind != ANSIM_TRIGGER_BODYCAM)
    return ansim_manifest_invalid (error, "trigger_kind: unknown kind %d", info->trigger_kind),
           NULL;
  if (info->source != NULL && !ansim_is_text (info->source))
    return ansim_manifest_invalid (error, "source: not a name (1 to %d bytes of UTF-8 text)",
                                   ANSIM_TEXT_MAX),
           NULL;
  if (info->format_version > ANSIM_MANIFEST_VERSION
      || (info->format_version == 1 && info->source != NULL)
      || (info->format_version >= 2 && info->source == NULL))
    return ansim_manifest_invalid (error,
                                   "format_version: %u is not a version this program writes "
                                   "(1 without a source, 2 or %d with one)",
                                   info->format_version, ANSIM_MANIFEST_VERSION),
           NULL;
  if (info->incident_id != NULL && !ansim_is_uuid (info->incident_id))
    return ansim_manifest_invalid (error, "incident_id: \"%s\" is not a lowercase UUID",
                                   info->incident_id),
           NULL;
  if (!check_wall (info->opened_wall_us, "opened_wall", error)
      || !check_int (info->opened_mono_us, "opened_mono_us", error))
    return NULL;
  if (info->previous_manifest_sha256 != NULL
      && !ansim_is_sha256_hex (info->previous_manifest_sha256))
    return ansim_manifest_invalid (error, "previous_manifest_sha256: not 64 lowercase hex digits"),
           NULL;

  AnsimManifest *m = ansim_manifest_alloc ();
  m->format_version = info->format_version != 0 ? info->format_version
                      : info->source != NULL    ? ANSIM_MANIFEST_VERSION
                                                : 1;
  m->device_id = g_strdup (info->device_id);
  m->device_fingerprint = g_strdup (ansim_device_key_get_fingerprint (key));
  m->desk_id = g_strdup (info->desk_id);
  m->trigger_name = g_strdup (info->trigger_name);
  m->trigger_kind = info->trigger_kind;
  m->source = g_strdup (info->source);
  m->drill = info->drill;
  m->incident_id = info->incident_id ? g_strdup (info->incident_id) : g_uuid_string_random ();
  m->opened_wall_us = info->opened_wall_us;
  m->opened_mono_us = info->opened_mono_us;
  if (info->previous_manifest_sha256 != NULL)
    {
      m->previous_manifest_sha256 = g_strdup (info->previous_manifest_sha256);
      g_strlcpy (m->chain_start, info->previous_manifest_sha256, sizeof m->chain_start);
    }
  return m;
}

static const char *
entry_kind_name (AnsimEntryKind kind)
{
  return kind == ANSIM_ENTRY_SEGMENT ? "segment" : "gap";
}

static const char *
trigger_kind_name (AnsimTriggerKind kind)
{
  return kind == ANSIM_TRIGGER_BUTTON ? "button" : "bodycam";
}

char *
ansim_manifest_entry_canonical (const AnsimManifestEntry *e)
{
  g_autofree char *wall = ansim_evidence_format_wall (e->start_wall_us);
  GString *s = g_string_new ("ansim-entry-v1\n");

  g_string_append_printf (s,
                          "index=%" G_GUINT64_FORMAT "\nkind=%s\nstart_wall=%s\n"
                          "start_mono_us=%" G_GINT64_FORMAT "\nduration_us=%" G_GINT64_FORMAT "\n",
                          e->index, entry_kind_name (e->kind), wall, e->start_mono_us,
                          e->duration_us);
  if (e->kind == ANSIM_ENTRY_SEGMENT)
    g_string_append_printf (
      s,
      "file=%s\ncipher_size=%" G_GINT64_FORMAT "\nplain_size=%" G_GINT64_FORMAT
      "\nsha256_plain=%s\nsha256_cipher=%s\n",
      e->file, e->cipher_size, e->plain_size, e->sha256_plain, e->sha256_cipher);
  else
    g_string_append_printf (s, "reason=%s\n", e->reason);
  if (e->kind == ANSIM_ENTRY_GAP && e->stream != NULL)
    g_string_append_printf (s, "stream=%s\n", e->stream);
  g_string_append_printf (s, "prev=%s\n", e->prev);
  return g_string_free (s, FALSE);
}

void
ansim_manifest_entry_hash (const AnsimManifestEntry *entry, char out_hex[ANSIM_SHA256_HEX_LEN + 1])
{
  g_autofree char *text = ansim_manifest_entry_canonical (entry);

  ansim_hash_sha256_hex (text, strlen (text), out_hex);
}

const char *
ansim_manifest_get_chain_start (const AnsimManifest *m)
{
  return m->chain_start;
}

void
ansim_manifest_expected_prev (const AnsimManifest *m, guint position,
                              char out_hex[ANSIM_SHA256_HEX_LEN + 1])
{
  g_return_if_fail (position <= m->entries->len);
  if (position == 0)
    g_strlcpy (out_hex, m->chain_start, ANSIM_SHA256_HEX_LEN + 1);
  else
    ansim_manifest_entry_hash (&g_array_index (m->entries, AnsimManifestEntry, position - 1),
                               out_hex);
}

gboolean
ansim_manifest_check_chain (const AnsimManifest *m, GError **error)
{
  for (guint p = 0; p < m->entries->len; p++)
    {
      const AnsimManifestEntry *e = &g_array_index (m->entries, AnsimManifestEntry, p);
      char expected[ANSIM_SHA256_HEX_LEN + 1];

      if (e->index != p)
        {
          g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_BROKEN_CHAIN,
                       "entry %u has index %" G_GUINT64_FORMAT, p, e->index);
          return FALSE;
        }
      ansim_manifest_expected_prev (m, p, expected);
      if (strcmp (e->prev, expected) != 0)
        {
          g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_BROKEN_CHAIN,
                       "entry %u does not chain to the entry before", p);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
check_open_for (const AnsimManifest *m, const char *what, GError **error)
{
  if (m->closed)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_STATE,
                   "incident %s is closed (%s): cannot add %s", m->incident_id, m->close_reason,
                   what);
      return FALSE;
    }
  return TRUE;
}

/* Open, and room for one more entry. */
gboolean
ansim_manifest_check_entry_room (const AnsimManifest *m, const char *what, GError **error)
{
  if (!check_open_for (m, what, error))
    return FALSE;
  if (m->entries->len >= ANSIM_MANIFEST_MAX_ENTRIES)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE,
                   "incident %s has %d entries, the most a manifest holds", m->incident_id,
                   ANSIM_MANIFEST_MAX_ENTRIES);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_times (gint64 wall, gint64 mono, gint64 duration, GError **error)
{
  return check_wall (wall, "start_wall", error) && check_int (mono, "start_mono_us", error)
         && check_int (duration, "duration_us", error);
}

/* Appends e (taking its strings) with the next index and the chain link. */
static void
append_entry (AnsimManifest *m, AnsimManifestEntry *e)
{
  e->index = m->entries->len;
  ansim_manifest_expected_prev (m, m->entries->len, e->prev);
  g_array_append_vals (m->entries, e, 1);
}

gboolean
ansim_manifest_check_segment (const AnsimManifest *m, gint64 start_wall_us, gint64 start_mono_us,
                              gint64 duration_us, gint64 cipher_size, gint64 plain_size,
                              const char *sha256_plain, const char *sha256_cipher, GError **error)
{
  return ansim_manifest_check_entry_room (m, "a segment", error)
         && check_times (start_wall_us, start_mono_us, duration_us, error)
         && check_int (cipher_size, "cipher_size", error)
         && check_int (plain_size, "plain_size", error)
         && (ansim_is_sha256_hex (sha256_plain)
             || ansim_manifest_invalid (error, "sha256_plain: not 64 lowercase hex digits"))
         && (ansim_is_sha256_hex (sha256_cipher)
             || ansim_manifest_invalid (error, "sha256_cipher: not 64 lowercase hex digits"));
}

gboolean
ansim_manifest_add_segment (AnsimManifest *m, gint64 start_wall_us, gint64 start_mono_us,
                            gint64 duration_us, gint64 cipher_size, gint64 plain_size,
                            const char *sha256_plain, const char *sha256_cipher, GError **error)
{
  g_return_val_if_fail (m != NULL, FALSE);
  AnsimManifestEntry e = { 0 };

  if (!ansim_manifest_check_segment (m, start_wall_us, start_mono_us, duration_us, cipher_size,
                                     plain_size, sha256_plain, sha256_cipher, error))
    return FALSE;
  e.kind = ANSIM_ENTRY_SEGMENT;
  e.start_wall_us = start_wall_us;
  e.start_mono_us = start_mono_us;
  e.duration_us = duration_us;
  e.file = ansim_manifest_next_segment_name (m);
  e.cipher_size = cipher_size;
  e.plain_size = plain_size;
  g_strlcpy (e.sha256_plain, sha256_plain, sizeof e.sha256_plain);
  g_strlcpy (e.sha256_cipher, sha256_cipher, sizeof e.sha256_cipher);
  append_entry (m, &e);
  return TRUE;
}

gboolean
ansim_manifest_is_stream_name (const char *stream)
{
  return g_strcmp0 (stream, "video") == 0 || g_strcmp0 (stream, "audio") == 0;
}

gboolean
ansim_manifest_add_gap (AnsimManifest *m, gint64 start_wall_us, gint64 start_mono_us,
                        gint64 duration_us, const char *reason, GError **error)
{
  return ansim_manifest_add_stream_gap (m, start_wall_us, start_mono_us, duration_us, NULL, reason,
                                        error);
}

gboolean
ansim_manifest_add_stream_gap (AnsimManifest *m, gint64 start_wall_us, gint64 start_mono_us,
                               gint64 duration_us, const char *stream, const char *reason,
                               GError **error)
{
  g_return_val_if_fail (m != NULL, FALSE);
  AnsimManifestEntry e = { 0 };

  if (stream != NULL && !ansim_manifest_is_stream_name (stream))
    return ansim_manifest_invalid (error, "stream: \"%s\" is neither \"video\" nor \"audio\"",
                                   stream);

  if (!ansim_manifest_check_entry_room (m, "a gap", error)
      || !check_times (start_wall_us, start_mono_us, duration_us, error))
    return FALSE;
  if (!ansim_is_text (reason))
    return ansim_manifest_invalid (
      error, "reason: not 1 to %d bytes of UTF-8 text without control characters", ANSIM_TEXT_MAX);
  e.kind = ANSIM_ENTRY_GAP;
  e.start_wall_us = start_wall_us;
  e.start_mono_us = start_mono_us;
  e.duration_us = duration_us;
  e.reason = g_strdup (reason);
  e.stream = g_strdup (stream);
  append_entry (m, &e);
  return TRUE;
}

gboolean
ansim_manifest_add_event (AnsimManifest *m, const char *kind, gint64 wall_us, gint64 mono_us,
                          GError **error)
{
  return ansim_manifest_add_event_with_detail (m, kind, wall_us, mono_us, NULL, error);
}

/* A detail: pairs of a token name and a text value, names not repeated. */
static gboolean
check_detail (const char *const *detail, GError **error)
{
  guint n = 0;

  for (const char *const *d = detail; d != NULL && *d != NULL; d += 2, n++)
    {
      if (n >= ANSIM_MANIFEST_MAX_EVENT_DETAIL)
        return ansim_manifest_invalid (error, "detail: more than %d members",
                                       ANSIM_MANIFEST_MAX_EVENT_DETAIL);
      if (!ansim_is_token (d[0]))
        return ansim_manifest_invalid (error,
                                       "detail: \"%s\" is not a name (lowercase letters, "
                                       "digits and '-')",
                                       d[0]);
      if (d[1] == NULL || !ansim_is_text (d[1]))
        return ansim_manifest_invalid (error,
                                       "detail.%s: expected 1 to %d bytes of text without "
                                       "control characters",
                                       d[0], ANSIM_TEXT_MAX);
      for (const char *const *e = detail; e < d; e += 2)
        if (strcmp (*e, d[0]) == 0)
          return ansim_manifest_invalid (error, "detail.%s: given twice", d[0]);
    }
  return TRUE;
}

gboolean
ansim_manifest_add_event_with_detail (AnsimManifest *m, const char *kind, gint64 wall_us,
                                      gint64 mono_us, const char *const *detail, GError **error)
{
  g_return_val_if_fail (m != NULL, FALSE);
  AnsimManifestEvent ev = { 0 };

  if (!check_open_for (m, "an event", error))
    return FALSE;
  if (m->events->len >= ANSIM_MANIFEST_MAX_EVENTS)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE,
                   "incident %s has %d events, the most a manifest holds", m->incident_id,
                   ANSIM_MANIFEST_MAX_EVENTS);
      return FALSE;
    }
  if (!ansim_is_token (kind))
    return ansim_manifest_invalid (error,
                                   "kind: \"%s\" is not a kind (lowercase letters, digits and '-')",
                                   kind ? kind : "(null)");
  if (!check_wall (wall_us, "wall", error) || !check_int (mono_us, "mono_us", error)
      || !check_detail (detail, error))
    return FALSE;
  ev.kind = g_strdup (kind);
  ev.wall_us = wall_us;
  ev.mono_us = mono_us;
  if (detail != NULL && detail[0] != NULL)
    ev.detail = g_strdupv ((char **) detail);
  g_array_append_vals (m->events, &ev, 1);
  return TRUE;
}

const char *
ansim_manifest_event_get_detail (const AnsimManifestEvent *ev, const char *name)
{
  g_return_val_if_fail (ev != NULL && name != NULL, NULL);
  for (char **d = ev->detail; d != NULL && *d != NULL; d += 2)
    if (strcmp (d[0], name) == 0)
      return d[1];
  return NULL;
}

gboolean
ansim_manifest_close (AnsimManifest *m, const char *reason, gint64 closed_wall_us,
                      gint64 closed_mono_us, GError **error)
{
  g_return_val_if_fail (m != NULL, FALSE);

  if (!check_open_for (m, "a close reason", error))
    return FALSE;
  if (!ansim_is_token (reason) || g_str_equal (reason, "open"))
    return ansim_manifest_invalid (error,
                                   "close_reason: \"%s\" is not a close reason (lowercase letters, "
                                   "digits and '-', not \"open\")",
                                   reason ? reason : "(null)");
  if (!check_wall (closed_wall_us, "closed_wall", error)
      || !check_int (closed_mono_us, "closed_mono_us", error))
    return FALSE;
  /* Nothing closes before what it closes (after a crash the given time
   * is a guess; the floor is what the manifest shows happened). */
  gint64 floor_wall, floor_mono;
  ansim_manifest_get_close_floor (m, &floor_wall, &floor_mono);
  if (closed_mono_us < floor_mono)
    {
      closed_mono_us = floor_mono;
      closed_wall_us = MAX (closed_wall_us, floor_wall);
    }
  m->closed = TRUE;
  m->closed_wall_us = closed_wall_us;
  m->closed_mono_us = closed_mono_us;
  g_free (m->close_reason);
  m->close_reason = g_strdup (reason);
  return TRUE;
}

char *
ansim_manifest_next_segment_name (const AnsimManifest *m)
{
  return g_strdup_printf ("seg-%06u.mkv.age", m->entries->len);
}

void
ansim_manifest_get_close_floor (const AnsimManifest *m, gint64 *out_wall_us, gint64 *out_mono_us)
{
  gint64 wall = m->opened_wall_us, mono = m->opened_mono_us;

  for (guint p = 0; p < m->entries->len; p++)
    {
      const AnsimManifestEntry *e = &g_array_index (m->entries, AnsimManifestEntry, p);
      if (e->start_mono_us + e->duration_us > mono)
        {
          mono = e->start_mono_us + e->duration_us;
          wall = e->start_wall_us + e->duration_us;
        }
    }
  for (guint p = 0; p < m->events->len; p++)
    {
      const AnsimManifestEvent *ev = &g_array_index (m->events, AnsimManifestEvent, p);
      if (ev->mono_us > mono)
        {
          mono = ev->mono_us;
          wall = ev->wall_us;
        }
    }
  *out_wall_us = wall;
  *out_mono_us = mono;
}

/* ---- manifest: serialization -------------------------------------------------- */

static void
add_wall (JsonBuilder *b, const char *name, gint64 wall_us)
{
  g_autofree char *text = ansim_evidence_format_wall (wall_us);

  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, text);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, v);
}

static void
add_string (JsonBuilder *b, const char *name, const char *v)
{
  json_builder_set_member_name (b, name);
  if (v != NULL)
    json_builder_add_string_value (b, v);
  else
    json_builder_add_null_value (b);
}

/* One entry as a member of "entries", in the fixed member order. */
static void
add_entry (JsonBuilder *b, const AnsimManifestEntry *e)
{
  json_builder_begin_object (b);
  add_int (b, "index", (gint64) e->index);
  add_string (b, "kind", entry_kind_name (e->kind));
  add_wall (b, "start_wall", e->start_wall_us);
  add_int (b, "start_mono_us", e->start_mono_us);
  add_int (b, "duration_us", e->duration_us);
  if (e->kind == ANSIM_ENTRY_SEGMENT)
    {
      add_string (b, "file", e->file);
      add_int (b, "cipher_size", e->cipher_size);
      add_int (b, "plain_size", e->plain_size);
      add_string (b, "sha256_plain", e->sha256_plain);
      add_string (b, "sha256_cipher", e->sha256_cipher);
    }
  else
    {
      add_string (b, "reason", e->reason);
      if (e->stream != NULL)
        add_string (b, "stream", e->stream);
    }
  add_string (b, "prev", e->prev);
  json_builder_end_object (b);
}

JsonNode *
ansim_manifest_entries_to_node (const AnsimManifest *m, guint from, guint to)
{
  g_return_val_if_fail (m != NULL && from <= to && to <= m->entries->len, NULL);
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_array (b);
  for (guint i = from; i < to; i++)
    add_entry (b, &g_array_index (m->entries, AnsimManifestEntry, i));
  json_builder_end_array (b);
  return json_builder_get_root (b);
}

GBytes *
ansim_manifest_to_bytes (const AnsimManifest *m)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  gsize len = 0;

  /* Member order is fixed: people read these files. */
  json_builder_begin_object (b);
  add_string (b, "format", ANSIM_MANIFEST_FORMAT);
  add_int (b, "format_version", m->format_version);
  add_string (b, "incident_id", m->incident_id);
  add_string (b, "device_id", m->device_id);
  add_string (b, "device_fingerprint", m->device_fingerprint);
  add_string (b, "desk_id", m->desk_id);
  add_string (b, "trigger_name", m->trigger_name);
  add_string (b, "trigger_kind", trigger_kind_name (m->trigger_kind));
  if (m->source != NULL)
    add_string (b, "source", m->source);
  json_builder_set_member_name (b, "drill");
  json_builder_add_boolean_value (b, m->drill);
  add_wall (b, "opened_wall", m->opened_wall_us);
  add_int (b, "opened_mono_us", m->opened_mono_us);
  if (m->closed)
    {
      add_wall (b, "closed_wall", m->closed_wall_us);
      add_int (b, "closed_mono_us", m->closed_mono_us);
    }
  else
    {
      add_string (b, "closed_wall", NULL);
      add_string (b, "closed_mono_us", NULL);
    }
  add_string (b, "close_reason", m->close_reason);
  add_string (b, "previous_manifest_sha256", m->previous_manifest_sha256);
  ansim_manifest_desk_clock_to_json (b, m);

  json_builder_set_member_name (b, "events");
  json_builder_begin_array (b);
  for (guint i = 0; i < m->events->len; i++)
    {
      const AnsimManifestEvent *ev = &g_array_index (m->events, AnsimManifestEvent, i);
      json_builder_begin_object (b);
      add_string (b, "kind", ev->kind);
      add_wall (b, "wall", ev->wall_us);
      add_int (b, "mono_us", ev->mono_us);
      if (ev->detail != NULL)
        {
          json_builder_set_member_name (b, "detail");
          json_builder_begin_object (b);
          for (char **d = ev->detail; *d != NULL; d += 2)
            add_string (b, d[0], d[1]);
          json_builder_end_object (b);
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "entries");
  json_builder_begin_array (b);
  for (guint i = 0; i < m->entries->len; i++)
    add_entry (b, &g_array_index (m->entries, AnsimManifestEntry, i));
  json_builder_end_array (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_indent (gen, 2);
  char *text = json_generator_to_data (gen, &len);
  /* A final newline, as text files have. */
  text = g_realloc (text, len + 2);
  text[len] = '\n';
  text[len + 1] = '\0';
  return g_bytes_new_take (text, len + 1);
}

const char *
ansim_manifest_get_written_sha256 (const AnsimManifest *m)
{
  return m->written_sha256[0] != '\0' ? m->written_sha256 : NULL;
}

/* ---- manifest: getters ---------------------------------------------------------- */

const char *
ansim_manifest_get_incident_id (const AnsimManifest *m)
{
  return m->incident_id;
}
const char *
ansim_manifest_get_device_id (const AnsimManifest *m)
{
  return m->device_id;
}
const char *
ansim_manifest_get_device_fingerprint (const AnsimManifest *m)
{
  return m->device_fingerprint;
}
const char *
ansim_manifest_get_desk_id (const AnsimManifest *m)
{
  return m->desk_id;
}
const char *
ansim_manifest_get_trigger_name (const AnsimManifest *m)
{
  return m->trigger_name;
}
const char *
ansim_manifest_get_source (const AnsimManifest *m)
{
  return m->source;
}
AnsimTriggerKind
ansim_manifest_get_trigger_kind (const AnsimManifest *m)
{
  return m->trigger_kind;
}
gboolean
ansim_manifest_get_drill (const AnsimManifest *m)
{
  return m->drill;
}
gint64
ansim_manifest_get_opened_wall_us (const AnsimManifest *m)
{
  return m->opened_wall_us;
}
gint64
ansim_manifest_get_opened_mono_us (const AnsimManifest *m)
{
  return m->opened_mono_us;
}
gboolean
ansim_manifest_is_closed (const AnsimManifest *m)
{
  return m->closed;
}
gint64
ansim_manifest_get_closed_wall_us (const AnsimManifest *m)
{
  return m->closed_wall_us;
}
gint64
ansim_manifest_get_closed_mono_us (const AnsimManifest *m)
{
  return m->closed_mono_us;
}
const char *
ansim_manifest_get_close_reason (const AnsimManifest *m)
{
  return m->close_reason;
}
guint
ansim_manifest_get_format_version (const AnsimManifest *m)
{
  return m->format_version;
}
const char *
ansim_manifest_get_previous_manifest_sha256 (const AnsimManifest *m)
{
  return m->previous_manifest_sha256;
}
guint
ansim_manifest_get_n_entries (const AnsimManifest *m)
{
  return m->entries->len;
}
guint
ansim_manifest_get_n_events (const AnsimManifest *m)
{
  return m->events->len;
}

const AnsimManifestEntry *
ansim_manifest_get_entry (const AnsimManifest *m, guint position)
{
  g_return_val_if_fail (position < m->entries->len, NULL);
  return &g_array_index (m->entries, AnsimManifestEntry, position);
}

const AnsimManifestEvent *
ansim_manifest_get_event (const AnsimManifest *m, guint position)
{
  g_return_val_if_fail (position < m->events->len, NULL);
  return &g_array_index (m->events, AnsimManifestEvent, position);
}
