/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Small flat JSON objects (event details, status lines) built with proper
 * escaping, instead of printf into a JSON template: a name with a quote,
 * a backslash or a control character still gives valid JSON that reads
 * back as the same text. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Appends s as a JSON string, quotes included: '"' and '\\' escaped,
 * control characters as \n, \t… or \u00XX, invalid UTF-8 replaced by
 * U+FFFD. NULL appends null. */
void ansim_json_append_string (GString *out, const char *s);

/* One JSON object, members in the order added. Keys are the caller's
 * constants but are escaped all the same. Not thread-safe. */
typedef struct _AnsimJsonBuilder AnsimJsonBuilder;

AnsimJsonBuilder *ansim_json_builder_new (void);
/* value NULL adds null. */
void ansim_json_builder_add_string (AnsimJsonBuilder *b, const char *key, const char *value);
void ansim_json_builder_add_int (AnsimJsonBuilder *b, const char *key, gint64 value);
void ansim_json_builder_add_uint (AnsimJsonBuilder *b, const char *key, guint64 value);
void ansim_json_builder_add_bool (AnsimJsonBuilder *b, const char *key, gboolean value);
/* The object's text ("{}" when nothing was added), newly allocated; the
 * builder is then empty again and may be reused or freed. */
char *ansim_json_builder_end (AnsimJsonBuilder *b);
void ansim_json_builder_free (AnsimJsonBuilder *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnsimJsonBuilder, ansim_json_builder_free)

G_END_DECLS
