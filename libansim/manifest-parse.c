/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the strict manifest parser: JSON that a device signed,
 * read back into an AnsimManifest. One job, so it may grow: it is fuzzed
 * (tests/fuzz/fuzz-manifest.c). What it must keep true: anything that
 * breaks the format is refused with a message naming the member, before
 * json-glib sees text it would read leniently, and every cap holds. */
#include "manifest.h"
#include "evidence-private.h"

#include <string.h>

#include <json-glib/json-glib.h>

#define JSON_MAX_DEPTH 8 /* the format needs 3 */

/* Before json-glib sees the text: only JSON's own characters outside
 * strings (no comments or single quotes, which its scanner tolerates), and
 * bounded nesting (its parser recurses). */
static gboolean
prescan (const char *data, gsize len, GError **error)
{
  gboolean in_string = FALSE, escaped = FALSE;
  guint depth = 0;
  /* The last string closed, and the member name it became at a ':'. */
  gsize string_start = 0, string_end = 0, member_start = 0, member_len = 0;

  for (gsize i = 0; i < len; i++)
    {
      char c = data[i];
      if (in_string)
        {
          if (escaped)
            {
              /* json-glib would cut the string there, jq would not. */
              if (c == 'u' && len - i > 4 && memcmp (data + i + 1, "0000", 4) == 0)
                return ansim_manifest_invalid (
                  error, "NUL character (\\u0000) inside a string at byte %" G_GSIZE_FORMAT, i);
              escaped = FALSE;
            }
          else if (c == '\\')
            escaped = TRUE;
          else if (c == '"')
            {
              in_string = FALSE;
              string_end = i;
            }
          else if ((guchar) c < 0x20)
            return ansim_manifest_invalid (
              error, "control character inside a string at byte %" G_GSIZE_FORMAT, i);
          continue;
        }
      /* Every number of the format is an integer from 0 (but a desk
       * clock's offset_us, below): digits only, no sign, no leading zero,
       * so that no two spellings are one value (json-glib and jq both read
       * "-0" and "01" as numbers). */
      if (c == ':')
        {
          member_start = string_start;
          member_len = string_end - string_start;
        }
      /* The one signed number: a desk clock's offset (manifest-clock.c),
       * "-" then a nonzero digit. */
      if (c == '-' && member_len == strlen ("offset_us")
          && memcmp (data + member_start, "offset_us", member_len) == 0 && i + 1 < len
          && data[i + 1] >= '1' && data[i + 1] <= '9')
        continue;
      if (c == '-' || c == '+' || c == '.')
        return ansim_manifest_invalid (error,
                                       "%.*s: a number with '%c' at byte %" G_GSIZE_FORMAT
                                       " (expected an integer from 0 to 2^53-1: digits only)",
                                       (int) member_len, data + member_start, c, i);
      if (c == '0' && i + 1 < len && g_ascii_isdigit (data[i + 1])
          && (i == 0 || !g_ascii_isdigit (data[i - 1])))
        return ansim_manifest_invalid (error,
                                       "%.*s: a number with a leading zero at byte %" G_GSIZE_FORMAT
                                       " (expected an integer from 0 to 2^53-1)",
                                       (int) member_len, data + member_start, i);
      switch (c)
        {
        case '"':
          in_string = TRUE;
          string_start = i + 1;
          break;
        case '{':
        case '[':
          if (++depth > JSON_MAX_DEPTH)
            return ansim_manifest_invalid (
              error, "nested deeper than %d levels at byte %" G_GSIZE_FORMAT, JSON_MAX_DEPTH, i);
          break;
        case '}':
        case ']':
          if (depth > 0)
            depth--;
          break;
        case ' ':
        case '\t':
        case '\n':
        case '\r':
        case ':':
        case ',':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9':
        case 'e':
        case 'E':
        case 't':
        case 'r':
        case 'u':
        case 'f':
        case 'a':
        case 'l':
        case 's':
        case 'n': break;
        default:
          return ansim_manifest_invalid (
            error, "not JSON: unexpected character at byte %" G_GSIZE_FORMAT, i);
        }
    }
  return TRUE;
}

/* json-glib keeps the last of duplicated members silently; the same bytes
 * must not mean different things to different readers. */
typedef struct {
  GHashTable *names; /* JsonObject* -> GHashTable of member names */
  char *duplicate;
} DupCheck;

static void
on_object_member (G_GNUC_UNUSED JsonParser *parser, JsonObject *object, const char *name,
                  gpointer user_data)
{
  DupCheck *dc = user_data;
  GHashTable *names = g_hash_table_lookup (dc->names, object);

  if (names == NULL)
    {
      names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (dc->names, object, names);
    }
  if (!g_hash_table_add (names, g_strdup (name)) && dc->duplicate == NULL)
    dc->duplicate = g_strdup (name);
}

typedef struct {
  JsonObject *object;
  const char *prefix; /* "" or "entries[3]." */
} Obj;

static gboolean
only_members (Obj o, const char *const *allowed, GError **error)
{
  g_autoptr (GList) names = json_object_get_members (o.object);

  for (GList *l = names; l != NULL; l = l->next)
    if (!g_strv_contains (allowed, l->data))
      return ansim_manifest_invalid (error, "%s%s: unknown member", o.prefix,
                                     (const char *) l->data);
  return TRUE;
}

static JsonNode *
member (Obj o, const char *name, GError **error)
{
  JsonNode *node = json_object_get_member (o.object, name);

  if (node == NULL)
    ansim_manifest_invalid (error, "%s%s: missing", o.prefix, name);
  return node;
}

static gboolean
get_string (Obj o, const char *name, gboolean nullable, const char **out, GError **error)
{
  JsonNode *node = member (o, name, error);

  if (node == NULL)
    return FALSE;
  if (nullable && JSON_NODE_HOLDS_NULL (node))
    {
      *out = NULL;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return ansim_manifest_invalid (error, "%s%s: expected a string%s", o.prefix, name,
                                   nullable ? " or null" : "");
  *out = json_node_get_string (node);
  return TRUE;
}

static gboolean
get_int (Obj o, const char *name, gboolean nullable, gboolean *out_null, gint64 *out,
         GError **error)
{
  JsonNode *node = member (o, name, error);

  if (node == NULL)
    return FALSE;
  if (nullable && JSON_NODE_HOLDS_NULL (node))
    {
      *out_null = TRUE;
      *out = 0;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64
      || json_node_get_int (node) < 0 || json_node_get_int (node) > ANSIM_MANIFEST_MAX_INT)
    return ansim_manifest_invalid (error, "%s%s: expected an integer from 0 to 2^53-1%s", o.prefix,
                                   name, nullable ? " or null" : "");
  if (out_null != NULL)
    *out_null = FALSE;
  *out = json_node_get_int (node);
  return TRUE;
}

static gboolean
get_hex (Obj o, const char *name, gboolean nullable, char out[ANSIM_SHA256_HEX_LEN + 1],
         gboolean *out_null, GError **error)
{
  const char *s;

  if (!get_string (o, name, nullable, &s, error))
    return FALSE;
  if (s == NULL)
    {
      *out_null = TRUE;
      return TRUE;
    }
  if (!ansim_is_sha256_hex (s))
    return ansim_manifest_invalid (error, "%s%s: expected 64 lowercase hex digits (SHA-256)",
                                   o.prefix, name);
  g_strlcpy (out, s, ANSIM_SHA256_HEX_LEN + 1);
  if (out_null != NULL)
    *out_null = FALSE;
  return TRUE;
}

static gboolean
get_text (Obj o, const char *name, char **out, GError **error)
{
  const char *s;

  if (!get_string (o, name, FALSE, &s, error))
    return FALSE;
  if (!ansim_is_text (s))
    return ansim_manifest_invalid (
      error, "%s%s: expected 1 to %d bytes of text without control characters", o.prefix, name,
      ANSIM_TEXT_MAX);
  *out = g_strdup (s);
  return TRUE;
}

static gboolean
get_token (Obj o, const char *name, char **out, GError **error)
{
  const char *s;

  if (!get_string (o, name, FALSE, &s, error))
    return FALSE;
  if (!ansim_is_token (s))
    return ansim_manifest_invalid (
      error, "%s%s: \"%s\" is not a kind (lowercase letters, digits and '-')", o.prefix, name, s);
  *out = g_strdup (s);
  return TRUE;
}

static gboolean
get_wall (Obj o, const char *name, gboolean nullable, gboolean *out_null, gint64 *out,
          GError **error)
{
  const char *s;

  if (!get_string (o, name, nullable, &s, error))
    return FALSE;
  if (s == NULL)
    {
      *out_null = TRUE;
      return TRUE;
    }
  if (!ansim_evidence_parse_wall (s, out))
    return ansim_manifest_invalid (
      error, "%s%s: expected a UTC time like 2025-01-02T03:04:05.123456Z", o.prefix, name);
  if (out_null != NULL)
    *out_null = FALSE;
  return TRUE;
}

static JsonArray *
get_array (Obj o, const char *name, guint max, GError **error)
{
  JsonNode *node = member (o, name, error);

  if (node == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return ansim_manifest_invalid (error, "%s%s: expected an array", o.prefix, name), NULL;
  JsonArray *array = json_node_get_array (node);
  if (json_array_get_length (array) > max)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE,
                   "%s%s: %u elements, more than the %u allowed", o.prefix, name,
                   json_array_get_length (array), max);
      return NULL;
    }
  return array;
}

static gboolean
element_object (JsonArray *array, const char *name, guint i, char **out_prefix, Obj *out,
                GError **error)
{
  JsonNode *node = json_array_get_element (array, i);

  *out_prefix = g_strdup_printf ("%s[%u].", name, i);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return ansim_manifest_invalid (error, "%s[%u]: expected an object", name, i);
  out->object = json_node_get_object (node);
  out->prefix = *out_prefix;
  return TRUE;
}

static gboolean
parse_entry (Obj o, gpointer element, GError **error)
{
  AnsimManifestEntry *e = element;
  static const char *const segment_members[] = { "index",         "kind",        "start_wall",
                                                 "start_mono_us", "duration_us", "file",
                                                 "cipher_size",   "plain_size",  "sha256_plain",
                                                 "sha256_cipher", "prev",        NULL };
  static const char *const gap_members[] = { "index",         "kind",        "start_wall",
                                             "start_mono_us", "duration_us", "reason",
                                             "stream",        "prev",        NULL };
  const char *kind;
  gint64 index;

  if (!get_string (o, "kind", FALSE, &kind, error))
    return FALSE;
  if (g_str_equal (kind, "segment"))
    e->kind = ANSIM_ENTRY_SEGMENT;
  else if (g_str_equal (kind, "gap"))
    e->kind = ANSIM_ENTRY_GAP;
  else
    return ansim_manifest_invalid (error, "%skind: \"%s\" is neither \"segment\" nor \"gap\"",
                                   o.prefix, kind);
  if (!only_members (o, e->kind == ANSIM_ENTRY_SEGMENT ? segment_members : gap_members, error)
      || !get_int (o, "index", FALSE, NULL, &index, error)
      || !get_wall (o, "start_wall", FALSE, NULL, &e->start_wall_us, error)
      || !get_int (o, "start_mono_us", FALSE, NULL, &e->start_mono_us, error)
      || !get_int (o, "duration_us", FALSE, NULL, &e->duration_us, error))
    return FALSE;
  e->index = index;
  if (e->kind == ANSIM_ENTRY_SEGMENT)
    {
      const char *file;
      if (!get_string (o, "file", FALSE, &file, error))
        return FALSE;
      if (!ansim_evidence_parse_segment_name (file, NULL, NULL))
        return ansim_manifest_invalid (
          error, "%sfile: \"%s\" is not a segment file name (seg-NNNNNN.EXT.age)", o.prefix, file);
      e->file = g_strdup (file);
      if (!get_int (o, "cipher_size", FALSE, NULL, &e->cipher_size, error)
          || !get_int (o, "plain_size", FALSE, NULL, &e->plain_size, error)
          || !get_hex (o, "sha256_plain", FALSE, e->sha256_plain, NULL, error)
          || !get_hex (o, "sha256_cipher", FALSE, e->sha256_cipher, NULL, error))
        return FALSE;
    }
  else
    {
      const char *stream = NULL;
      /* Optional: only a one-stream gap has it. */
      if (!get_text (o, "reason", &e->reason, error)
          || (json_object_has_member (o.object, "stream")
              && !get_string (o, "stream", FALSE, &stream, error)))
        return FALSE;
      if (stream != NULL && !ansim_manifest_is_stream_name (stream))
        return ansim_manifest_invalid (error, "%sstream: \"%s\" is neither \"video\" nor \"audio\"",
                                       o.prefix, stream);
      e->stream = g_strdup (stream);
    }
  return get_hex (o, "prev", FALSE, e->prev, NULL, error);
}

static gboolean
parse_event (Obj o, gpointer element, GError **error)
{
  AnsimManifestEvent *ev = element;
  static const char *const members[] = { "kind", "wall", "mono_us", "detail", NULL };

  if (!(only_members (o, members, error) && get_token (o, "kind", &ev->kind, error)
        && get_wall (o, "wall", FALSE, NULL, &ev->wall_us, error)
        && get_int (o, "mono_us", FALSE, NULL, &ev->mono_us, error)))
    return FALSE;
  JsonNode *node = json_object_get_member (o.object, "detail");
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node) || json_object_get_size (json_node_get_object (node)) == 0)
    return ansim_manifest_invalid (error, "%sdetail: expected an object with at least one member",
                                   o.prefix);
  JsonObject *d = json_node_get_object (node);
  if (json_object_get_size (d) > ANSIM_MANIFEST_MAX_EVENT_DETAIL)
    return ansim_manifest_invalid (error, "%sdetail: more than %d members", o.prefix,
                                   ANSIM_MANIFEST_MAX_EVENT_DETAIL);
  g_autoptr (GPtrArray) pairs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GList) names = json_object_get_members (d);
  g_autofree char *prefix = g_strdup_printf ("%sdetail.", o.prefix);
  Obj dobj = { d, prefix };
  for (GList *l = names; l != NULL; l = l->next)
    {
      char *value = NULL;
      if (!ansim_is_token (l->data))
        return ansim_manifest_invalid (error,
                                       "%s%s: not a name (lowercase letters, digits and "
                                       "'-')",
                                       prefix, (const char *) l->data);
      if (!get_text (dobj, l->data, &value, error))
        return FALSE;
      g_ptr_array_add (pairs, g_strdup (l->data));
      g_ptr_array_add (pairs, value);
    }
  g_ptr_array_add (pairs, NULL);
  ev->detail = (char **) g_ptr_array_free (g_steal_pointer (&pairs), FALSE);
  return TRUE;
}

/* Each element of the array member name (at most max) parsed by parse into
 * a new element of into, a zero-filling GArray. Appended before parsing,
 * so a half-filled element is still in the array, which frees its strings. */
static gboolean
parse_elements (Obj o, const char *name, guint max, GArray *into,
                gboolean (*parse) (Obj, gpointer, GError **), GError **error)
{
  JsonArray *array = get_array (o, name, max, error);
  if (array == NULL)
    return FALSE;
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      g_autofree char *prefix = NULL;
      Obj eo;
      g_array_set_size (into, into->len + 1);
      gpointer element = into->data + (gsize) (into->len - 1) * g_array_get_element_size (into);
      if (!element_object (array, name, i, &prefix, &eo, error) || !parse (eo, element, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
parse_root (Obj o, AnsimManifest *m, GError **error)
{
  static const char *const members_v1[] = { "format",
                                            "format_version",
                                            "incident_id",
                                            "device_id",
                                            "device_fingerprint",
                                            "desk_id",
                                            "trigger_name",
                                            "trigger_kind",
                                            "drill",
                                            "opened_wall",
                                            "opened_mono_us",
                                            "closed_wall",
                                            "closed_mono_us",
                                            "close_reason",
                                            "previous_manifest_sha256",
                                            "events",
                                            "entries",
                                            NULL };
  static const char *const members_v2[] = { "format",
                                            "format_version",
                                            "incident_id",
                                            "device_id",
                                            "device_fingerprint",
                                            "desk_id",
                                            "trigger_name",
                                            "trigger_kind",
                                            "source",
                                            "drill",
                                            "opened_wall",
                                            "opened_mono_us",
                                            "closed_wall",
                                            "closed_mono_us",
                                            "close_reason",
                                            "previous_manifest_sha256",
                                            "desk_clock_at_open",
                                            "desk_clock_at_close",
                                            "events",
                                            "entries",
                                            NULL };
  const char *s;
  gint64 version;
  gboolean wall_null = FALSE, mono_null = FALSE, prev_null = FALSE;
  char prev[ANSIM_SHA256_HEX_LEN + 1];
  JsonNode *node;

  /* The format and its version first: a newer manifest gets a message
   * about its version, not about its new members. */
  if (!get_string (o, "format", FALSE, &s, error))
    return FALSE;
  if (!g_str_equal (s, ANSIM_MANIFEST_FORMAT))
    return ansim_manifest_invalid (error, "format: \"%s\" is not \"%s\"", s, ANSIM_MANIFEST_FORMAT);
  if (!get_int (o, "format_version", FALSE, NULL, &version, error))
    return FALSE;
  if (version < 1 || version > ANSIM_MANIFEST_VERSION)
    return ansim_manifest_invalid (error,
                                   "format_version: version %" G_GINT64_FORMAT " is not supported "
                                   "(this program reads versions 1 to %d)",
                                   version, ANSIM_MANIFEST_VERSION);
  m->format_version = (guint) version;
  if (!only_members (o, version == 1 ? members_v1 : members_v2, error))
    return FALSE;

  if (!get_string (o, "incident_id", FALSE, &s, error))
    return FALSE;
  if (!ansim_is_uuid (s))
    return ansim_manifest_invalid (error, "incident_id: \"%s\" is not a lowercase UUID", s);
  m->incident_id = g_strdup (s);
  if (!get_text (o, "device_id", &m->device_id, error))
    return FALSE;
  if (!get_string (o, "device_fingerprint", FALSE, &s, error))
    return FALSE;
  if (!ansim_device_key_is_fingerprint (s))
    return ansim_manifest_invalid (
      error, "device_fingerprint: expected 8 groups of 4 lowercase hex digits "
             "joined by ':'");
  m->device_fingerprint = g_strdup (s);
  if (!get_text (o, "desk_id", &m->desk_id, error)
      || !get_text (o, "trigger_name", &m->trigger_name, error)
      || !get_string (o, "trigger_kind", FALSE, &s, error))
    return FALSE;
  if (g_str_equal (s, "button"))
    m->trigger_kind = ANSIM_TRIGGER_BUTTON;
  else if (g_str_equal (s, "bodycam"))
    m->trigger_kind = ANSIM_TRIGGER_BODYCAM;
  else
    return ansim_manifest_invalid (error,
                                   "trigger_kind: \"%s\" is neither \"button\" nor \"bodycam\"", s);
  if (version >= 2 && !get_text (o, "source", &m->source, error))
    return FALSE;
  if ((node = member (o, "drill", error)) == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return ansim_manifest_invalid (error, "drill: expected true or false");
  m->drill = json_node_get_boolean (node);
  if (!get_wall (o, "opened_wall", FALSE, NULL, &m->opened_wall_us, error)
      || !get_int (o, "opened_mono_us", FALSE, NULL, &m->opened_mono_us, error)
      || !get_wall (o, "closed_wall", TRUE, &wall_null, &m->closed_wall_us, error)
      || !get_int (o, "closed_mono_us", TRUE, &mono_null, &m->closed_mono_us, error))
    return FALSE;
  g_clear_pointer (&m->close_reason, g_free);
  if (!get_token (o, "close_reason", &m->close_reason, error))
    return FALSE;
  m->closed = !g_str_equal (m->close_reason, "open");
  if (m->closed && (wall_null || mono_null))
    return ansim_manifest_invalid (error, "%s: null, but close_reason is \"%s\"",
                                   wall_null ? "closed_wall" : "closed_mono_us", m->close_reason);
  if (!m->closed && (!wall_null || !mono_null))
    return ansim_manifest_invalid (error, "%s: must be null while close_reason is \"open\"",
                                   !wall_null ? "closed_wall" : "closed_mono_us");
  if (!get_hex (o, "previous_manifest_sha256", TRUE, prev, &prev_null, error))
    return FALSE;
  if (!prev_null)
    {
      m->previous_manifest_sha256 = g_strdup (prev);
      g_strlcpy (m->chain_start, prev, sizeof m->chain_start);
    }

  if (version >= 2 && !ansim_manifest_desk_clock_parse (o.object, m, error))
    return FALSE;

  return parse_elements (o, "events", ANSIM_MANIFEST_MAX_EVENTS, m->events, parse_event, error)
         && parse_elements (o, "entries", ANSIM_MANIFEST_MAX_ENTRIES, m->entries, parse_entry,
                            error);
}

AnsimManifest *
ansim_manifest_parse (const void *data, gsize len, GError **error)
{
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  const char *end = NULL;

  if (len > ANSIM_MANIFEST_MAX_SIZE)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE,
                   "the manifest is %" G_GSIZE_FORMAT " bytes, more than the %d allowed", len,
                   ANSIM_MANIFEST_MAX_SIZE);
      return NULL;
    }
  /* GBytes hands out NULL for an empty body, which json-glib refuses loudly. */
  if (len == 0)
    return ansim_manifest_invalid (error, "not a JSON object (empty)"), NULL;
  /* Also refuses NUL bytes. */
  if (!g_utf8_validate_len (data, len, &end))
    return ansim_manifest_invalid (error, "not UTF-8 text (bad byte at %" G_GSIZE_FORMAT ")",
                                   (gsize) (end - (const char *) data)),
           NULL;
  if (!prescan (data, len, error))
    return NULL;

  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  DupCheck dc = { g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_hash_table_unref),
                  NULL };
  gulong handler = g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), &dc);
  gboolean parsed = json_parser_load_from_data (parser, data, len, &local);
  g_signal_handler_disconnect (parser, handler);
  g_hash_table_unref (dc.names);
  g_autofree char *duplicate = dc.duplicate;

  if (!parsed)
    return ansim_manifest_invalid (error, "not JSON: %s", local->message), NULL;
  if (duplicate != NULL)
    return ansim_manifest_invalid (error, "%s: member appears twice in one object", duplicate),
           NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return ansim_manifest_invalid (error, "not a JSON object"), NULL;

  g_autoptr (AnsimManifest) m = ansim_manifest_alloc ();
  Obj o = { json_node_get_object (root), "" };
  if (!parse_root (o, m, error))
    return NULL;
  return g_steal_pointer (&m);
}

AnsimManifest *
ansim_manifest_parse_entries (JsonNode *array, GError **error)
{
  g_return_val_if_fail (array != NULL, NULL);
  if (!JSON_NODE_HOLDS_ARRAY (array))
    return ansim_manifest_invalid (error, "entries: expected an array"), NULL;
  /* The same element parser as the whole manifest's, on a wrapper object. */
  g_autoptr (JsonObject) wrapper = json_object_new ();
  json_object_set_member (wrapper, "entries", json_node_copy (array));
  g_autoptr (AnsimManifest) m = ansim_manifest_alloc ();
  Obj o = { wrapper, "" };
  if (!parse_elements (o, "entries", ANSIM_MANIFEST_MAX_ENTRIES, m->entries, parse_entry, error))
    return NULL;
  return g_steal_pointer (&m);
}

AnsimManifest *
ansim_manifest_load (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, ANSIM_MANIFEST_NAME, NULL);
  g_autoptr (GBytes) bytes = ansim_evidence_read_small_file (path, ANSIM_MANIFEST_MAX_SIZE, error);
  g_autoptr (GError) local = NULL;
  AnsimManifest *m;

  if (bytes == NULL)
    return NULL;
  m = ansim_manifest_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &local);
  if (m == NULL)
    g_propagate_prefixed_error (error, g_steal_pointer (&local), "%s: ", path);
  return m;
}
