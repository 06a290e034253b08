/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the JSON object builder of json-event.h. What it must
 * keep true: whatever bytes a caller passes, the text it returns is valid
 * JSON (RFC 8259) and a JSON parser reads back the caller's string (after
 * invalid UTF-8 is replaced by U+FFFD). */
#include "json-event.h"

struct _AnsimJsonBuilder {
  GString *text;  /* "{" and the members so far */
  gboolean first; /* no member added since the last end */
};

void
ansim_json_append_string (GString *out, const char *s)
{
  g_autofree char *valid = NULL;

  if (s == NULL)
    {
      g_string_append (out, "null");
      return;
    }
  if (!g_utf8_validate (s, -1, NULL))
    s = valid = g_utf8_make_valid (s, -1);
  g_string_append_c (out, '"');
  for (const char *p = s; *p; p++)
    {
      guchar c = (guchar) *p;

      switch (c)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        default:
          if (c < 0x20)
            g_string_append_printf (out, "\\u%04x", c);
          else
            g_string_append_c (out, (char) c);
        }
    }
  g_string_append_c (out, '"');
}

AnsimJsonBuilder *
ansim_json_builder_new (void)
{
  AnsimJsonBuilder *b = g_new0 (AnsimJsonBuilder, 1);

  b->text = g_string_new ("{");
  b->first = TRUE;
  return b;
}

static void
add_key (AnsimJsonBuilder *b, const char *key)
{
  if (!b->first)
    g_string_append_c (b->text, ',');
  b->first = FALSE;
  ansim_json_append_string (b->text, key);
  g_string_append_c (b->text, ':');
}

void
ansim_json_builder_add_string (AnsimJsonBuilder *b, const char *key, const char *value)
{
  add_key (b, key);
  ansim_json_append_string (b->text, value);
}

void
ansim_json_builder_add_int (AnsimJsonBuilder *b, const char *key, gint64 value)
{
  add_key (b, key);
  g_string_append_printf (b->text, "%" G_GINT64_FORMAT, value);
}

void
ansim_json_builder_add_uint (AnsimJsonBuilder *b, const char *key, guint64 value)
{
  add_key (b, key);
  g_string_append_printf (b->text, "%" G_GUINT64_FORMAT, value);
}

void
ansim_json_builder_add_bool (AnsimJsonBuilder *b, const char *key, gboolean value)
{
  add_key (b, key);
  g_string_append (b->text, value ? "true" : "false");
}

char *
ansim_json_builder_end (AnsimJsonBuilder *b)
{
  char *text;

  g_string_append_c (b->text, '}');
  text = g_strdup (b->text->str);
  g_string_assign (b->text, "{");
  b->first = TRUE;
  return text;
}

void
ansim_json_builder_free (AnsimJsonBuilder *b)
{
  if (b == NULL)
    return;
  g_string_free (b->text, TRUE);
  g_free (b);
}
