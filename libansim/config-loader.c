/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the strict loader of ansim's INI files: a line scanner
 * for what GKeyFile hides (line numbers, duplicates), schema checks, getters.
 * One job, the loader, so it is long.
 * What it must keep true: it knows no program's schema (they come as
 * arguments or register themselves), and every refusal is one line naming
 * file, line, group, key, what is wrong and what is expected. */

#include "config-loader.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* A configuration file is a few kilobytes; refuse what cannot be one rather
 * than read it whole. */
#define CONFIG_MAX_BYTES (1024 * 1024)
/* Longest text from the file quoted in an error, in characters. */
#define CONFIG_MAX_SHOWN 60
#define CONFIG_MAX_NAME ANSIM_NAME_MAX
#define EMBEDDED_ORIGIN "(embedded defaults)"
#define UTF8_BOM "\xef\xbb\xbf"

G_DEFINE_QUARK (ansim - config - error - quark, ansim_config_error)

typedef struct {
  char *key;
  char *raw;   /* text after '=' as written, escapes not decoded */
  char *value; /* decoded, trailing blanks removed; NULL until decoded */
  guint line;
} ConfigEntry;

typedef struct {
  char *name; /* full group name, e.g. "trigger desk-button" */
  guint line;
  const AnsimConfigGroup *schema; /* NULL until the name is checked */
  GPtrArray *entries;             /* ConfigEntry*, file order */
} ConfigGroup;

struct _AnsimConfig {
  const AnsimConfigSchema *schema;
  char *origin;            /* the path as given, or EMBEDDED_ORIGIN */
  char *data_dir;          /* ansim_config_set_data_dir() override, absolute, or NULL */
  GPtrArray *groups;       /* ConfigGroup*, file order */
  GHashTable *group_index; /* name -> ConfigGroup* (borrowed from groups) */
};

/* ---- registered schemas ------------------------------------------------ */

#define MAX_SCHEMAS 8

static const AnsimConfigSchema *registered[MAX_SCHEMAS];
static guint n_registered;

void
ansim_config_register_schema (const AnsimConfigSchema *schema)
{
  g_return_if_fail (schema != NULL && schema->main_group != NULL);
  for (guint i = 0; i < n_registered; i++)
    if (registered[i] == schema)
      return;
  g_return_if_fail (n_registered < MAX_SCHEMAS);
  registered[n_registered++] = schema;
}

/* "none of [recorder], [uploader] or [panel]" */
static char *
registered_main_groups (void)
{
  g_autoptr (GString) s = g_string_new ("none of ");

  for (guint i = 0; i < n_registered; i++)
    g_string_append_printf (s, "%s[%s]",
                            i == 0                  ? ""
                            : i + 1 == n_registered ? " or "
                                                    : ", ",
                            registered[i]->main_group);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

/* What detection scans a file with: only its group headers matter. */
static const AnsimConfigGroup no_groups[] = { { NULL } };
static const AnsimConfigSchema no_schema = { .program = "", .main_group = "", .groups = no_groups };

static void
config_entry_free (ConfigEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->key);
  g_free (entry->raw);
  g_free (entry->value);
  g_free (entry);
}

static void
config_group_free (ConfigGroup *group)
{
  if (group == NULL)
    return;
  g_free (group->name);
  g_ptr_array_unref (group->entries);
  g_free (group);
}

static AnsimConfig *
config_new (const AnsimConfigSchema *schema, const char *origin)
{
  AnsimConfig *self = g_new0 (AnsimConfig, 1);

  self->schema = schema;
  self->origin = g_strdup (origin);
  self->groups = g_ptr_array_new_with_free_func ((GDestroyNotify) config_group_free);
  self->group_index = g_hash_table_new (g_str_hash, g_str_equal);
  return self;
}

void
ansim_config_free (AnsimConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->origin);
  g_free (config->data_dir);
  g_hash_table_unref (config->group_index);
  g_ptr_array_unref (config->groups);
  g_free (config);
}

/* ---- error messages ---------------------------------------------------- */

/* Text from the file as quoted in an error: bounded, and control characters
 * escaped so that the message stays one line. */
static char *
shown (const char *text)
{
  GString *s = g_string_new (NULL);
  guint n = 0;

  if (!g_utf8_validate (text, -1, NULL))
    {
      for (const guchar *p = (const guchar *) text; *p && n < CONFIG_MAX_SHOWN; p++, n++)
        {
          if (*p < 0x20 || *p >= 0x7f)
            g_string_append_printf (s, "\\x%02x", *p);
          else
            g_string_append_c (s, (char) *p);
        }
      return g_string_free (s, FALSE);
    }
  for (const char *p = text; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (n++ == CONFIG_MAX_SHOWN)
        {
          g_string_append (s, "…");
          break;
        }
      if (c < 0x20 || c == 0x7f)
        g_string_append_printf (s, "\\x%02x", (guint) c);
      else
        g_string_append_len (s, p, g_utf8_next_char (p) - p);
    }
  return g_string_free (s, FALSE);
}

/* The one error format: ORIGIN[:LINE]: [GROUP] KEY = 'VALUE': PROBLEM; expected EXPECTED
 * Each part is left out when NULL (or 0 for the line). */
static void
set_error_at (const char *origin, GError **error, AnsimConfigErrorCode code, guint line,
              const char *group, const char *key, const char *value, const char *problem,
              const char *expected)
{
  g_autoptr (GString) msg = g_string_new (origin);

  if (line > 0)
    g_string_append_printf (msg, ":%u", line);
  g_string_append (msg, ": ");
  if (group != NULL)
    {
      g_autofree char *g = shown (group);

      g_string_append_printf (msg, "[%s]", g);
      if (key != NULL)
        {
          g_autofree char *k = shown (key);

          g_string_append_printf (msg, " %s", k);
        }
      if (value != NULL)
        {
          g_autofree char *v = shown (value);

          g_string_append_printf (msg, " = '%s'", v);
        }
      g_string_append (msg, ": ");
    }
  g_string_append (msg, problem);
  if (expected != NULL)
    g_string_append_printf (msg, "; expected %s", expected);
  /* Whatever went in (a path, a GLib message), the message is one line. */
  g_strdelimit (msg->str, "\r\n", ' ');
  g_set_error_literal (error, ANSIM_CONFIG_ERROR, code, msg->str);
}

/* ---- small helpers ----------------------------------------------------- */

static guint
edit_distance (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  g_autofree guint *row = NULL;

  if (la > CONFIG_MAX_NAME * 2 || lb > CONFIG_MAX_NAME * 2)
    return G_MAXUINT;
  row = g_new (guint, lb + 1);
  for (gsize j = 0; j <= lb; j++)
    row[j] = j;
  for (gsize i = 1; i <= la; i++)
    {
      guint diag = row[0];

      row[0] = i;
      for (gsize j = 1; j <= lb; j++)
        {
          guint up = row[j];
          guint cost = g_ascii_tolower (a[i - 1]) == g_ascii_tolower (b[j - 1]) ? 0 : 1;

          row[j] = MIN (MIN (row[j] + 1, row[j - 1] + 1), diag + cost);
          diag = up;
        }
    }
  return row[lb];
}

/* Keeps *best the closest plausible candidate for a mistyped word: a few
 * letters off, or a truncation ("debounce" for "debounce_ms"). */
static void
consider (const char *typed, const char *candidate, const char **best, guint *best_score)
{
  guint d = edit_distance (typed, candidate);
  gsize lt = strlen (typed), lc = strlen (candidate);
  gboolean prefix = MIN (lt, lc) >= 3 && g_ascii_strncasecmp (typed, candidate, MIN (lt, lc)) == 0;

  if (d > MAX (2, lc / 3) && !prefix)
    return;
  if (d < *best_score)
    {
      *best = candidate;
      *best_score = d;
    }
}

static char *
with_suggestion (const char *expected, const char *suggestion)
{
  if (suggestion == NULL)
    return g_strdup (expected);
  return g_strdup_printf ("%s (did you mean '%s'?)", expected, suggestion);
}

static gboolean
has_control (const char *s)
{
  for (; *s; s++)
    if ((guchar) *s < 0x20 || *s == 0x7f)
      return TRUE;
  return FALSE;
}

static gboolean
is_data_dir_key (const AnsimConfigSchema *schema, const AnsimConfigGroup *group,
                 const AnsimConfigKey *key)
{
  return !group->named && g_strcmp0 (group->name, schema->main_group) == 0
         && strcmp (key->key, "data_dir") == 0;
}

static const AnsimConfigKey *
group_find_key (const AnsimConfigGroup *group, const char *key)
{
  for (const AnsimConfigKey *k = group->keys; k->key != NULL; k++)
    if (strcmp (k->key, key) == 0)
      return k;
  return NULL;
}

/* The schema group a group name belongs to; *out_instance gets the NAME of
 * a named group ("" when the name is missing). */
static const AnsimConfigGroup *
schema_find_group (const AnsimConfigSchema *schema, const char *name, const char **out_instance)
{
  *out_instance = NULL;
  for (const AnsimConfigGroup *g = schema->groups; g->name != NULL; g++)
    {
      gsize len = strlen (g->name);

      if (!g->named)
        {
          if (strcmp (name, g->name) == 0)
            return g;
        }
      else if (strncmp (name, g->name, len) == 0 && (name[len] == ' ' || name[len] == '\0'))
        {
          *out_instance = name[len] == ' ' ? name + len + 1 : name + len;
          return g;
        }
    }
  return NULL;
}

static ConfigEntry *
config_group_find (ConfigGroup *group, const char *key)
{
  for (guint i = 0; i < group->entries->len; i++)
    {
      ConfigEntry *e = g_ptr_array_index (group->entries, i);

      if (strcmp (e->key, key) == 0)
        return e;
    }
  return NULL;
}

/* "an integer from 0 to 1023": what a valid value of k looks like. */
static char *
type_expectation (const AnsimConfigSchema *schema, const AnsimConfigGroup *group,
                  const AnsimConfigKey *k)
{
  switch (k->type)
    {
    case ANSIM_CONFIG_STRING: return g_strdup ("non-empty text on one line");
    case ANSIM_CONFIG_INT:
      return g_strdup_printf ("an integer from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, k->min,
                              k->max);
    case ANSIM_CONFIG_BOOL: return g_strdup ("true or false");
    case ANSIM_CONFIG_CHOICE:
      {
        g_autofree char *list = g_strjoinv (", ", (char **) k->choices);

        return g_strdup_printf ("one of: %s", list);
      }
    case ANSIM_CONFIG_PATH:
      if (is_data_dir_key (schema, group, k))
        return g_strdup ("a directory path (absolute, or relative to the working directory)");
      return g_strdup ("a path (absolute, or relative to data_dir)");
    case ANSIM_CONFIG_NAME:
      return g_strdup_printf ("a name of 1 to %d letters, digits, '-', '_' or '.'",
                              CONFIG_MAX_NAME);
    case ANSIM_CONFIG_URL: return g_strdup ("an http:// or https:// URL");
    case ANSIM_CONFIG_CODED: return g_strdup (k->coding->expected);
    }
  g_return_val_if_reached (NULL);
}

/* Checks a decoded value against its key. On failure returns FALSE with
 * the error code, what is wrong and a suggestion (or NULL). */
static gboolean check_value_type (const AnsimConfigKey *k, const char *value,
                                  AnsimConfigErrorCode *out_code, char **out_problem,
                                  const char **out_suggestion);

/* "line = 17  # header pin 11" is a common habit from other INI dialects;
 * say so rather than only "not an integer". */
static gboolean
has_inline_comment (const char *value)
{
  return strstr (value, " #") != NULL || strstr (value, "\t#") != NULL;
}

static gboolean
check_value (const AnsimConfigKey *k, const char *value, AnsimConfigErrorCode *out_code,
             char **out_problem, const char **out_suggestion)
{
  if (k->type == ANSIM_CONFIG_PATH && has_inline_comment (value))
    {
      *out_suggestion = NULL;
      *out_code = ANSIM_CONFIG_ERROR_TYPE;
      *out_problem = g_strdup ("a # comment must be on its own line");
      return FALSE;
    }
  if (check_value_type (k, value, out_code, out_problem, out_suggestion))
    return TRUE;
  if (k->type != ANSIM_CONFIG_STRING && has_inline_comment (value))
    {
      char *p = g_strdup_printf ("%s (a # comment must be on its own line)", *out_problem);

      g_free (*out_problem);
      *out_problem = p;
    }
  return FALSE;
}

static gboolean
check_value_type (const AnsimConfigKey *k, const char *value, AnsimConfigErrorCode *out_code,
                  char **out_problem, const char **out_suggestion)
{
  *out_suggestion = NULL;
  *out_code = ANSIM_CONFIG_ERROR_TYPE;
  if (value[0] == '\0')
    {
      *out_problem = g_strdup ("empty value");
      return FALSE;
    }
  if (has_control (value))
    {
      *out_problem = g_strdup ("contains a control character");
      return FALSE;
    }
  switch (k->type)
    {
    case ANSIM_CONFIG_STRING: return TRUE;
    case ANSIM_CONFIG_INT:
      {
        gint64 v;
        g_autoptr (GError) local = NULL;

        if (!g_ascii_string_to_signed (value, 10, G_MININT64, G_MAXINT64, &v, &local))
          {
            if (g_error_matches (local, G_NUMBER_PARSER_ERROR, G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS))
              {
                *out_code = ANSIM_CONFIG_ERROR_RANGE;
                *out_problem = g_strdup ("out of range");
              }
            else
              {
                *out_problem = g_strdup ("not an integer");
              }
            return FALSE;
          }
        if (v < k->min || v > k->max)
          {
            *out_code = ANSIM_CONFIG_ERROR_RANGE;
            *out_problem = g_strdup ("out of range");
            return FALSE;
          }
        return TRUE;
      }
    case ANSIM_CONFIG_BOOL:
      if (strcmp (value, "true") == 0 || strcmp (value, "false") == 0)
        return TRUE;
      *out_problem = g_strdup ("not a boolean");
      return FALSE;
    case ANSIM_CONFIG_CHOICE:
      {
        guint best_score = G_MAXUINT;

        for (const char *const *c = k->choices; *c != NULL; c++)
          {
            if (strcmp (value, *c) == 0)
              return TRUE;
            consider (value, *c, out_suggestion, &best_score);
          }
        *out_code = ANSIM_CONFIG_ERROR_RANGE;
        *out_problem = g_strdup ("not one of the choices");
        return FALSE;
      }
    case ANSIM_CONFIG_PATH:
      /* No shell here: "~/x" would silently become DATA_DIR/~/x. */
      if (value[0] == '~')
        {
          *out_problem = g_strdup ("'~' is not expanded in this file");
          return FALSE;
        }
      return TRUE;
    case ANSIM_CONFIG_NAME:
      if (ansim_is_name (value))
        return TRUE;
      *out_problem = g_strdup ("not a valid name");
      return FALSE;
    case ANSIM_CONFIG_URL:
      {
        g_autoptr (GUri) uri = g_uri_parse (value, G_URI_FLAGS_NONE, NULL);
        const char *scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;
        const char *host = uri != NULL ? g_uri_get_host (uri) : NULL;

        if (uri == NULL)
          {
            *out_problem = g_strdup ("not a URL");
            return FALSE;
          }
        if (g_ascii_strcasecmp (scheme, "http") != 0 && g_ascii_strcasecmp (scheme, "https") != 0)
          {
            *out_code = ANSIM_CONFIG_ERROR_RANGE;
            *out_problem = g_strdup_printf ("scheme '%s' is not supported", scheme);
            return FALSE;
          }
        if (host == NULL || host[0] == '\0')
          {
            *out_problem = g_strdup ("the URL has no host");
            return FALSE;
          }
        return TRUE;
      }
    case ANSIM_CONFIG_CODED:
      {
        const char *problem = NULL;

        if (k->coding->decode (value, &problem) >= 0)
          return TRUE;
        *out_code = ANSIM_CONFIG_ERROR_RANGE;
        *out_problem = g_strdup (problem);
        return FALSE;
      }
    }
  g_return_val_if_reached (FALSE);
}

/* ---- scanning ---------------------------------------------------------- */

/* One pass over the text for what GKeyFile does not tell: the line of each
 * group and key, and groups or keys given twice (GKeyFile merges those
 * silently, so a second [trigger x] would quietly change the first). It
 * follows GKeyFile's own line syntax. */
static gboolean
scan (AnsimConfig *self, const char *data, gsize len, GError **error)
{
  const char *end = data + len;
  ConfigGroup *group = NULL;
  guint line_no = 0;

  for (const char *p = data; p < end;)
    {
      const char *nl = memchr (p, '\n', end - p);
      const char *stop = nl != NULL ? nl : end;
      g_autofree char *text = g_strndup (p, stop - p);
      char *line = text;
      gsize n;

      p = nl != NULL ? nl + 1 : end;
      line_no++;
      n = strlen (line);
      if (n > 0 && line[n - 1] == '\r')
        line[--n] = '\0';
      while (g_ascii_isspace (*line))
        line++;
      if (*line == '\0' || *line == '#')
        continue;

      for (const char *c = line; *c; c++)
        {
          if (((guchar) *c < 0x20 && *c != '\t') || *c == 0x7f)
            {
              set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_PARSE, line_no, NULL, NULL,
                            NULL, "contains a control character", "plain text lines");
              return FALSE;
            }
        }

      if (*line == '[')
        {
          const char *close = strchr (line, ']');
          const char *rest = close != NULL ? close + 1 : NULL;
          g_autofree char *name = NULL;
          ConfigGroup *seen;

          while (rest != NULL && (*rest == ' ' || *rest == '\t'))
            rest++;
          if (close == NULL || *rest != '\0' || close == line + 1
              || memchr (line + 1, '[', close - line - 1) != NULL)
            {
              g_autofree char *problem = NULL;
              g_autofree char *s = shown (line);

              problem = g_strdup_printf ("'%s' is not a valid group header", s);
              set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_PARSE, line_no, NULL, NULL,
                            NULL, problem, "[NAME] alone on its line");
              return FALSE;
            }
          name = g_strndup (line + 1, close - line - 1);
          seen = g_hash_table_lookup (self->group_index, name);
          if (seen != NULL)
            {
              g_autofree char *problem =
                g_strdup_printf ("duplicate group, first at line %u", seen->line);

              set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_DUPLICATE, line_no, name, NULL,
                            NULL, problem,
                            "each group only once (trigger and output names must be unique)");
              return FALSE;
            }
          group = g_new0 (ConfigGroup, 1);
          group->name = g_steal_pointer (&name);
          group->line = line_no;
          group->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) config_entry_free);
          g_ptr_array_add (self->groups, group);
          g_hash_table_insert (self->group_index, group->name, group);
          continue;
        }

      if (*line == ';')
        {
          set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_PARSE, line_no, NULL, NULL, NULL,
                        "comments start with '#' in this file, not ';'", "'# comment'");
          return FALSE;
        }

      {
        const char *eq = strchr (line, '=');
        g_autofree char *key = NULL;
        const char *raw;
        ConfigEntry *entry, *seen;

        if (eq == NULL)
          {
            g_autofree char *s = shown (line);
            g_autofree char *problem = g_strdup_printf (
              "'%s' is not a [group] header, a key = value line or a # comment", s);

            set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_PARSE, line_no, NULL, NULL, NULL,
                          problem, "an INI file of [group] lines and key = value lines");
            return FALSE;
          }
        key = g_strchomp (g_strndup (line, eq - line));
        raw = eq + 1;
        while (g_ascii_isspace (*raw))
          raw++;
        if (key[0] == '\0')
          {
            set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_PARSE, line_no,
                          group != NULL ? group->name : NULL, NULL, NULL,
                          "a line starts with '=' and names no key", "key = value");
            return FALSE;
          }
        if (group == NULL)
          {
            g_autofree char *s = shown (line);
            g_autofree char *problem = g_strdup_printf ("'%s' comes before any [group] line", s);

            set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_PARSE, line_no, NULL, NULL, NULL,
                          problem, "a [group] line first");
            return FALSE;
          }
        seen = config_group_find (group, key);
        if (seen != NULL)
          {
            g_autofree char *problem =
              g_strdup_printf ("duplicate key, first at line %u", seen->line);

            set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_DUPLICATE, line_no, group->name,
                          key, raw, problem, "each key only once per group");
            return FALSE;
          }
        entry = g_new0 (ConfigEntry, 1);
        entry->key = g_steal_pointer (&key);
        entry->raw = g_strdup (raw);
        entry->line = line_no;
        g_ptr_array_add (group->entries, entry);
      }
    }
  return TRUE;
}

/* ---- validation -------------------------------------------------------- */

static char *
group_list (const AnsimConfigSchema *schema)
{
  g_autoptr (GString) s = g_string_new ("one of: ");

  for (const AnsimConfigGroup *g = schema->groups; g->name != NULL; g++)
    g_string_append_printf (s, "%s[%s%s]", g == schema->groups ? "" : ", ", g->name,
                            g->named ? " NAME" : "");
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static gboolean
check_group_name (AnsimConfig *self, ConfigGroup *group, GError **error)
{
  const AnsimConfigSchema *schema = self->schema;
  const char *instance;
  const AnsimConfigGroup *g = schema_find_group (schema, group->name, &instance);

  if (g == NULL)
    {
      g_autofree char *list = group_list (schema);
      g_autofree char *problem = NULL;
      g_autofree char *expected = NULL;
      const char *space = strchr (group->name, ' ');
      g_autoptr (GPtrArray) candidates = g_ptr_array_new_with_free_func (g_free);
      const char *best = NULL;
      guint best_score = G_MAXUINT;

      for (const AnsimConfigGroup *c = schema->groups; c->name != NULL; c++)
        {
          if (c->named)
            g_ptr_array_add (
              candidates, g_strdup_printf ("%s %s", c->name, space != NULL ? space + 1 : "NAME"));
          else
            g_ptr_array_add (candidates, g_strdup (c->name));
          consider (group->name, g_ptr_array_index (candidates, candidates->len - 1), &best,
                    &best_score);
        }
      problem = g_strdup ("unknown group");
      /* A whole file given to the wrong program deserves saying so. */
      for (guint i = 0; i < n_registered; i++)
        {
          const AnsimConfigSchema *other = registered[i];

          if (other != schema && strcmp (group->name, other->main_group) == 0)
            {
              g_free (problem);
              problem = g_strdup_printf ("unknown group (it belongs in %s.conf, the file of %s)",
                                         other->main_group, other->program);
            }
        }
      if (best != NULL)
        expected = g_strdup_printf ("%s (did you mean [%s]?)", list, best);
      else
        expected = g_strdup (list);
      set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_UNKNOWN_GROUP, group->line, group->name,
                    NULL, NULL, problem, expected);
      return FALSE;
    }

  if (g->named)
    {
      g_autofree char *expected = NULL;

      if (instance[0] == '\0')
        {
          expected =
            g_strdup_printf ("[%s NAME], NAME being 1 to %d letters, digits, '-', '_' or '.'",
                             g->name, CONFIG_MAX_NAME);
          set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_MISSING, group->line, group->name,
                        NULL, NULL, "the group needs a name", expected);
          return FALSE;
        }
      if (g->instances != NULL && !g_strv_contains (g->instances, instance))
        {
          g_autofree char *list = g_strjoinv (", ", (char **) g->instances);
          g_autofree char *problem = NULL;
          const char *best = NULL;
          guint best_score = G_MAXUINT;

          for (const char *const *c = g->instances; *c != NULL; c++)
            consider (instance, *c, &best, &best_score);
          problem = g_strdup_printf ("'%s' is not a known %s name", instance, g->name);
          expected = g_strdup_printf ("[%s NAME] with NAME one of: %s", g->name, list);
          if (best != NULL)
            {
              g_autofree char *e = g_steal_pointer (&expected);

              expected = g_strdup_printf ("%s (did you mean [%s %s]?)", e, g->name, best);
            }
          set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_UNKNOWN_GROUP, group->line,
                        group->name, NULL, NULL, problem, expected);
          return FALSE;
        }
      if (g->instances == NULL && !ansim_is_name (instance))
        {
          g_autofree char *s = shown (instance);
          g_autofree char *problem = g_strdup_printf ("'%s' is not a valid %s name", s, g->name);

          expected =
            g_strdup_printf ("[%s NAME], NAME being 1 to %d letters, digits, '-', '_' or '.'",
                             g->name, CONFIG_MAX_NAME);
          set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_TYPE, group->line, group->name,
                        NULL, NULL, problem, expected);
          return FALSE;
        }
    }
  group->schema = g;
  return TRUE;
}

static gboolean
check_key_names (AnsimConfig *self, ConfigGroup *group, GError **error)
{
  for (guint i = 0; i < group->entries->len; i++)
    {
      ConfigEntry *e = g_ptr_array_index (group->entries, i);
      g_autoptr (GString) list = NULL;
      g_autofree char *expected = NULL;
      const char *best = NULL;
      guint best_score = G_MAXUINT;

      if (group_find_key (group->schema, e->key) != NULL)
        continue;
      list = g_string_new ("one of: ");
      for (const AnsimConfigKey *k = group->schema->keys; k->key != NULL; k++)
        {
          g_string_append_printf (list, "%s%s", k == group->schema->keys ? "" : ", ", k->key);
          consider (e->key, k->key, &best, &best_score);
        }
      expected = with_suggestion (list->str, best);
      set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_UNKNOWN_KEY, e->line, group->name,
                    e->key, e->raw, "unknown key", expected);
      return FALSE;
    }
  return TRUE;
}

/* Decodes every value with GKeyFile itself, so escapes mean what GKeyFile
 * says they mean. */
static gboolean
decode_values (AnsimConfig *self, const char *data, gsize len, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;

  if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, &local))
    {
      g_autofree char *problem = g_strdup_printf ("not a valid INI file (%s)", local->message);

      set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_PARSE, 0, NULL, NULL, NULL, problem,
                    "an INI file of [group] lines and key = value lines");
      return FALSE;
    }
  for (guint i = 0; i < self->groups->len; i++)
    {
      ConfigGroup *group = g_ptr_array_index (self->groups, i);

      for (guint j = 0; j < group->entries->len; j++)
        {
          ConfigEntry *e = g_ptr_array_index (group->entries, j);
          char *value = g_key_file_get_string (kf, group->name, e->key, &local);

          /* On a bad escape GKeyFile sets the error and still returns text. */
          if (local != NULL || value == NULL)
            {
              g_free (value);
              set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_TYPE, e->line, group->name,
                            e->key, e->raw, "invalid backslash escape",
                            "a backslash only in \\s, \\n, \\t, \\r or \\\\ (a backslash)");
              return FALSE;
            }
          e->value = g_strchomp (value);
        }
    }
  return TRUE;
}

/* "input = gpio" from "input=gpio", for messages and docs. */
static char *
condition_text (const AnsimConfigKey *k)
{
  g_auto (GStrv) parts = g_strsplit (k->applies_if, "=", 2);

  return g_strdup_printf ("%s = %s", parts[0], parts[1] != NULL ? parts[1] : "");
}

/* Whether k belongs in this group: its applies_if condition holds for the
 * value given, or else the default. */
static gboolean
key_applies (ConfigGroup *group, const AnsimConfigKey *k, char **out_condition_key,
             const char **out_actual)
{
  const char *eq;
  g_autofree char *cond_key = NULL;
  const AnsimConfigKey *ck;
  ConfigEntry *ce;
  const char *actual;

  *out_condition_key = NULL;
  *out_actual = NULL;
  if (k->applies_if == NULL)
    return TRUE;
  eq = strchr (k->applies_if, '=');
  g_return_val_if_fail (eq != NULL, TRUE);
  cond_key = g_strndup (k->applies_if, eq - k->applies_if);
  ck = group_find_key (group->schema, cond_key);
  g_return_val_if_fail (ck != NULL, TRUE);
  ce = config_group_find (group, cond_key);
  actual = ce != NULL ? ce->value : ck->default_value;
  *out_actual = actual;
  *out_condition_key = g_steal_pointer (&cond_key);
  return g_strcmp0 (actual, eq + 1) == 0;
}

static gboolean
check_group_values (AnsimConfig *self, ConfigGroup *group, GError **error)
{
  const AnsimConfigGroup *g = group->schema;

  for (guint i = 0; i < group->entries->len; i++)
    {
      ConfigEntry *e = g_ptr_array_index (group->entries, i);
      const AnsimConfigKey *k = group_find_key (g, e->key);
      AnsimConfigErrorCode code;
      g_autofree char *problem = NULL;
      g_autofree char *type = NULL;
      g_autofree char *expected = NULL;
      const char *suggestion;

      if (check_value (k, e->value, &code, &problem, &suggestion))
        continue;
      type = type_expectation (self->schema, g, k);
      expected = with_suggestion (type, suggestion);
      set_error_at (self->origin, error, code, e->line, group->name, e->key, e->value, problem,
                    expected);
      return FALSE;
    }

  for (const AnsimConfigKey *k = g->keys; k->key != NULL; k++)
    {
      ConfigEntry *e = config_group_find (group, k->key);
      g_autofree char *cond_key = NULL;
      const char *actual;
      gboolean applies = key_applies (group, k, &cond_key, &actual);

      if (e != NULL && !applies)
        {
          g_autofree char *cond = condition_text (k);
          g_autofree char *problem = g_strdup_printf ("applies only with %s, not with %s = %s",
                                                      cond, cond_key,
                                                      actual != NULL ? actual : "(none)");
          g_autofree char *expected =
            g_strdup_printf ("no %s key in this group, or %s", k->key, cond);

          set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_CONFLICT, e->line, group->name,
                        e->key, e->value, problem, expected);
          return FALSE;
        }
      if (e == NULL && applies && k->required)
        {
          g_autofree char *type = type_expectation (self->schema, g, k);
          g_autofree char *cond = k->applies_if != NULL ? condition_text (k) : NULL;
          g_autofree char *problem = cond != NULL
                                       ? g_strdup_printf ("missing (required with %s)", cond)
                                       : g_strdup ("missing");
          g_autofree char *expected = g_strdup_printf ("%s: %s", type, k->help);

          set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_MISSING, 0, group->name, k->key,
                        NULL, problem, expected);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
check_required_groups (AnsimConfig *self, GError **error)
{
  for (const AnsimConfigGroup *g = self->schema->groups; g->name != NULL; g++)
    {
      gboolean found = FALSE;
      g_autofree char *label = NULL;
      g_autofree char *expected = NULL;

      if (!g->required)
        continue;
      for (guint i = 0; i < self->groups->len && !found; i++)
        {
          ConfigGroup *group = g_ptr_array_index (self->groups, i);

          found = group->schema == g;
        }
      if (found)
        continue;
      label = g->named ? g_strdup_printf ("%s NAME", g->name) : g_strdup (g->name);
      expected =
        g_strdup_printf ("%s [%s] group: %s", g->named ? "at least one" : "a", label, g->help);
      set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_MISSING, 0, label, NULL, NULL,
                    "missing", expected);
      return FALSE;
    }
  return TRUE;
}

static gboolean
validate (AnsimConfig *self, const char *data, gsize len, GError **error)
{
  if (!scan (self, data, len, error))
    return FALSE;
  if (self->groups->len == 0)
    {
      g_autofree char *expected = g_strdup_printf ("a configuration for %s, starting with [%s]",
                                                   self->schema->program, self->schema->main_group);

      set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_MISSING, 0, NULL, NULL, NULL,
                    "the file is empty (no [group] lines)", expected);
      return FALSE;
    }
  for (guint i = 0; i < self->groups->len; i++)
    {
      ConfigGroup *group = g_ptr_array_index (self->groups, i);

      if (!check_group_name (self, group, error) || !check_key_names (self, group, error))
        return FALSE;
    }
  if (!decode_values (self, data, len, error))
    return FALSE;
  for (guint i = 0; i < self->groups->len; i++)
    if (!check_group_values (self, g_ptr_array_index (self->groups, i), error))
      return FALSE;
  if (!check_required_groups (self, error))
    return FALSE;
  if (self->schema->check != NULL && !self->schema->check (self, error))
    return FALSE;
  return TRUE;
}

/* Whole-text checks GKeyFile would report without a line, or not at all. */
static gboolean
check_text (const char *origin, const char *data, gsize len, GError **error)
{
  const char *nul = memchr (data, '\0', len);
  const char *bad;

  if (nul != NULL || !g_utf8_validate_len (data, len, &bad))
    {
      const char *at = nul != NULL ? nul : bad;
      guint line = 1;

      for (const char *p = data; p < at; p++)
        line += *p == '\n';
      if (nul != NULL)
        set_error_at (origin, error, ANSIM_CONFIG_ERROR_PARSE, line, NULL, NULL, NULL,
                      "contains a NUL byte, so this is not a text file", "a UTF-8 text (INI) file");
      else
        set_error_at (origin, error, ANSIM_CONFIG_ERROR_PARSE, line, NULL, NULL, NULL,
                      "not valid UTF-8", "a UTF-8 text file (save it as UTF-8, not EUC-KR/CP949)");
      return FALSE;
    }
  return TRUE;
}

/* Windows editors (Notepad) start UTF-8 files with a byte order mark. */
static void
skip_bom (const char **data, gsize *len)
{
  if (*len >= 3 && memcmp (*data, UTF8_BOM, 3) == 0)
    {
      *data += 3;
      *len -= 3;
    }
}

static AnsimConfig *
load_data_len (const AnsimConfigSchema *schema, const char *data, gsize len, const char *origin,
               GError **error)
{
  g_autoptr (AnsimConfig) self = NULL;

  self = config_new (schema, origin != NULL ? origin : EMBEDDED_ORIGIN);
  if (len > CONFIG_MAX_BYTES)
    {
      set_error_at (self->origin, error, ANSIM_CONFIG_ERROR_PARSE, 0, NULL, NULL, NULL,
                    "too large for a configuration file", "at most 1 MiB");
      return NULL;
    }
  if (!check_text (self->origin, data, len, error))
    return NULL;
  skip_bom (&data, &len);
  if (!validate (self, data, len, error))
    return NULL;
  return g_steal_pointer (&self);
}

AnsimConfig *
ansim_config_load_data (const AnsimConfigSchema *schema, const char *data, const char *origin,
                        GError **error)
{
  g_return_val_if_fail (schema != NULL, NULL);
  g_return_val_if_fail (data != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return load_data_len (schema, data, strlen (data), origin, error);
}

/* Reads at most CONFIG_MAX_BYTES + 1 bytes, so a huge or endless file
 * (/dev/zero) is refused without reading it all. */
static char *
read_capped (const char *path, gsize *out_len, GError **error)
{
  g_autoptr (GString) buf = g_string_new (NULL);
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  char chunk[8192];

  if (fd < 0)
    {
      int saved = errno;
      g_autofree char *msg = g_strdup_printf ("%s: cannot open: %s", path, g_strerror (saved));

      g_strdelimit (msg, "\r\n", ' ');
      g_set_error_literal (error, G_FILE_ERROR, g_file_error_from_errno (saved), msg);
      return NULL;
    }
  for (;;)
    {
      ssize_t n = read (fd, chunk, sizeof chunk);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_autofree char *msg = g_strdup_printf ("%s: cannot read: %s", path, g_strerror (saved));

          close (fd);
          g_strdelimit (msg, "\r\n", ' ');
          g_set_error_literal (error, G_FILE_ERROR, g_file_error_from_errno (saved), msg);
          return NULL;
        }
      if (n == 0)
        break;
      g_string_append_len (buf, chunk, n);
      if (buf->len > CONFIG_MAX_BYTES)
        {
          close (fd);
          set_error_at (path, error, ANSIM_CONFIG_ERROR_PARSE, 0, NULL, NULL, NULL,
                        "too large for a configuration file", "at most 1 MiB");
          return NULL;
        }
    }
  close (fd);
  *out_len = buf->len;
  return g_string_free (g_steal_pointer (&buf), FALSE);
}

AnsimConfig *
ansim_config_load (const AnsimConfigSchema *schema, const char *path, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;

  g_return_val_if_fail (schema != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (path == NULL)
    return ansim_config_load_data (schema, schema->embedded_defaults, EMBEDDED_ORIGIN, error);
  data = read_capped (path, &len, error);
  if (data == NULL)
    return NULL;
  return load_data_len (schema, data, len, path, error);
}

const AnsimConfigSchema *
ansim_config_schema_detect (const char *path, GError **error)
{
  g_autofree char *data = NULL;
  const char *text;
  g_autoptr (GPtrArray) found = g_ptr_array_new ();
  g_autoptr (AnsimConfig) probe = NULL;
  gsize len = 0;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  data = read_capped (path, &len, error);
  if (data == NULL || !check_text (path, data, len, error))
    return NULL;
  /* Only the group headers matter here; the full check comes with load. */
  probe = config_new (&no_schema, path);
  text = data;
  skip_bom (&text, &len);
  if (!scan (probe, text, len, error))
    return NULL;
  for (guint i = 0; i < n_registered; i++)
    if (g_hash_table_contains (probe->group_index, registered[i]->main_group))
      g_ptr_array_add (found, (gpointer) registered[i]);

  if (found->len != 1)
    {
      g_autoptr (GString) names = g_string_new (NULL);
      g_autofree char *problem = NULL;

      for (guint i = 0; i < found->len; i++)
        {
          const AnsimConfigSchema *s = g_ptr_array_index (found, i);

          g_string_append_printf (names, "%s[%s]", i == 0 ? "" : " and ", s->main_group);
        }
      problem = found->len == 0 ? registered_main_groups ()
                                : g_strdup_printf ("has %s", names->str);
      set_error_at (
        path, error, found->len == 0 ? ANSIM_CONFIG_ERROR_MISSING : ANSIM_CONFIG_ERROR_CONFLICT, 0,
        NULL, NULL, NULL, problem, "exactly one of them, telling which program the file is for");
      return NULL;
    }
  return g_ptr_array_index (found, 0);
}

const char *
ansim_config_get_origin (AnsimConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);
  return config->origin;
}

void
ansim_config_set_data_dir (AnsimConfig *config, const char *data_dir)
{
  g_return_if_fail (config != NULL);
  g_clear_pointer (&config->data_dir, g_free);
  if (data_dir != NULL)
    config->data_dir = g_canonicalize_filename (data_dir, NULL);
}

/* ---- getters ----------------------------------------------------------- */

/* The schema key of group/key; NULL (a programming error) if none. */
static const AnsimConfigKey *
lookup (AnsimConfig *self, const char *group, const char *key, const AnsimConfigGroup **out_group,
        const char **out_value)
{
  const char *instance;
  const AnsimConfigGroup *g = schema_find_group (self->schema, group, &instance);
  const AnsimConfigKey *k = g != NULL ? group_find_key (g, key) : NULL;
  ConfigGroup *cg;
  ConfigEntry *e;

  *out_value = NULL;
  if (out_group != NULL)
    *out_group = g;
  if (k == NULL)
    {
      g_critical ("%s has no key [%s] %s", self->schema->program, group, key);
      return NULL;
    }
  if (is_data_dir_key (self->schema, g, k) && self->data_dir != NULL)
    {
      *out_value = self->data_dir;
      return k;
    }
  cg = g_hash_table_lookup (self->group_index, group);
  e = cg != NULL ? config_group_find (cg, key) : NULL;
  *out_value = e != NULL ? e->value : k->default_value;
  return k;
}

const char *
ansim_config_get_string (AnsimConfig *config, const char *group, const char *key)
{
  const char *value;

  g_return_val_if_fail (config != NULL && group != NULL && key != NULL, NULL);
  lookup (config, group, key, NULL, &value);
  return value;
}

/* The schema key of group/key when it has a value, NULL when it has none
 * (or does not exist); a getter of another type is a programming error.
 * Coded keys are read as integers. */
static const AnsimConfigKey *
lookup_typed (AnsimConfig *self, const char *group, const char *key, AnsimConfigType type,
              const char **out_value)
{
  const AnsimConfigKey *k = lookup (self, group, key, NULL, out_value);

  if (k == NULL || *out_value == NULL)
    return NULL;
  g_return_val_if_fail (
    k->type == type || (type == ANSIM_CONFIG_INT && k->type == ANSIM_CONFIG_CODED), NULL);
  return k;
}

gint64
ansim_config_get_int (AnsimConfig *config, const char *group, const char *key)
{
  const char *value;
  const AnsimConfigKey *k;

  g_return_val_if_fail (config != NULL && group != NULL && key != NULL, 0);
  k = lookup_typed (config, group, key, ANSIM_CONFIG_INT, &value);
  if (k == NULL)
    return 0;
  if (k->type == ANSIM_CONFIG_CODED)
    return k->coding->decode (value, &(const char *){ NULL });
  return g_ascii_strtoll (value, NULL, 10);
}

gboolean
ansim_config_get_bool (AnsimConfig *config, const char *group, const char *key)
{
  const char *value;

  g_return_val_if_fail (config != NULL && group != NULL && key != NULL, FALSE);
  return lookup_typed (config, group, key, ANSIM_CONFIG_BOOL, &value) != NULL
         && strcmp (value, "true") == 0;
}

guint
ansim_config_get_choice (AnsimConfig *config, const char *group, const char *key)
{
  const char *value;
  const AnsimConfigKey *k;

  g_return_val_if_fail (config != NULL && group != NULL && key != NULL, 0);
  k = lookup_typed (config, group, key, ANSIM_CONFIG_CHOICE, &value);
  if (k == NULL)
    return 0;
  for (guint i = 0; k->choices[i] != NULL; i++)
    if (strcmp (k->choices[i], value) == 0)
      return i;
  g_return_val_if_reached (0);
}

/* The directory relative paths resolve against: the override, else
 * [main_group] data_dir (relative to the working directory), else the
 * working directory. */
static char *
base_dir (AnsimConfig *self)
{
  const char *value = NULL;
  const char *instance;
  const AnsimConfigGroup *g;

  if (self->data_dir != NULL)
    return g_strdup (self->data_dir);
  g = schema_find_group (self->schema, self->schema->main_group, &instance);
  if (g != NULL && group_find_key (g, "data_dir") != NULL)
    lookup (self, self->schema->main_group, "data_dir", NULL, &value);
  if (value == NULL)
    return g_get_current_dir ();
  return g_canonicalize_filename (value, NULL);
}

char *
ansim_config_get_path (AnsimConfig *config, const char *group, const char *key)
{
  const char *value;
  const AnsimConfigKey *k;
  const AnsimConfigGroup *g;
  g_autofree char *base = NULL;

  g_return_val_if_fail (config != NULL && group != NULL && key != NULL, NULL);
  k = lookup (config, group, key, &g, &value);
  if (k == NULL || value == NULL)
    return NULL;
  g_return_val_if_fail (k->type == ANSIM_CONFIG_PATH, NULL);
  if (is_data_dir_key (config->schema, g, k))
    return base_dir (config);
  base = base_dir (config);
  return g_canonicalize_filename (value, base);
}

gboolean
ansim_config_has_key (AnsimConfig *config, const char *group, const char *key)
{
  const char *instance;
  const AnsimConfigGroup *g;
  ConfigGroup *cg;

  g_return_val_if_fail (config != NULL && group != NULL && key != NULL, FALSE);
  g = schema_find_group (config->schema, group, &instance);
  if (g == NULL || group_find_key (g, key) == NULL)
    {
      g_critical ("%s has no key [%s] %s", config->schema->program, group, key);
      return FALSE;
    }
  cg = g_hash_table_lookup (config->group_index, group);
  return cg != NULL && config_group_find (cg, key) != NULL;
}

GStrv
ansim_config_list_named (AnsimConfig *config, const char *prefix)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  g_return_val_if_fail (config != NULL && prefix != NULL, NULL);
  for (guint i = 0; i < config->groups->len; i++)
    {
      ConfigGroup *cg = g_ptr_array_index (config->groups, i);

      if (cg->schema != NULL && cg->schema->named && strcmp (cg->schema->name, prefix) == 0)
        g_strv_builder_add (builder, cg->name);
    }
  return g_strv_builder_end (builder);
}

const char *
ansim_config_group_instance (const char *group)
{
  const char *space;

  g_return_val_if_fail (group != NULL, NULL);
  space = strchr (group, ' ');
  return space != NULL ? space + 1 : NULL;
}

void
ansim_config_set_error (AnsimConfig *config, GError **error, AnsimConfigErrorCode code,
                        const char *group, const char *key, const char *problem,
                        const char *expected)
{
  ConfigGroup *cg;
  ConfigEntry *e;
  guint line;

  g_return_if_fail (config != NULL && problem != NULL);
  cg = group != NULL ? g_hash_table_lookup (config->group_index, group) : NULL;
  e = cg != NULL && key != NULL ? config_group_find (cg, key) : NULL;
  line = e != NULL ? e->line : (cg != NULL && key == NULL ? cg->line : 0);
  set_error_at (config->origin, error, code, line, group, key,
                e != NULL ? (e->value != NULL ? e->value : e->raw) : NULL, problem, expected);
}

/* ---- documentation ----------------------------------------------------- */

/* Text in a markdown table cell: '|' would end the cell. */
static void
append_cell (GString *out, const char *text)
{
  for (const char *p = text; *p; p++)
    {
      if (*p == '|')
        g_string_append (out, "\\|");
      else
        g_string_append_c (out, *p);
    }
}

static void
append_sentence (GString *out, const char *text)
{
  if (text[0] == '\0')
    return;
  g_string_append_c (out, g_ascii_toupper (text[0]));
  append_cell (out, text + 1);
  if (!g_str_has_suffix (text, "."))
    g_string_append_c (out, '.');
}

static const char *
type_name (const AnsimConfigKey *k)
{
  switch (k->type)
    {
    case ANSIM_CONFIG_STRING: return "string";
    case ANSIM_CONFIG_INT: return "integer";
    case ANSIM_CONFIG_BOOL: return "boolean";
    case ANSIM_CONFIG_CHOICE: return "choice";
    case ANSIM_CONFIG_PATH: return "path";
    case ANSIM_CONFIG_NAME: return "name";
    case ANSIM_CONFIG_URL: return "URL";
    case ANSIM_CONFIG_CODED: return k->coding->type_name;
    }
  g_return_val_if_reached ("?");
}

static void
append_allowed (GString *out, const AnsimConfigSchema *schema, const AnsimConfigGroup *g,
                const AnsimConfigKey *k)
{
  switch (k->type)
    {
    case ANSIM_CONFIG_STRING: g_string_append (out, "text"); break;
    case ANSIM_CONFIG_INT:
      g_string_append_printf (out, "%" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, k->min, k->max);
      break;
    case ANSIM_CONFIG_BOOL: g_string_append (out, "`true`, `false`"); break;
    case ANSIM_CONFIG_CHOICE:
      for (const char *const *c = k->choices; *c != NULL; c++)
        g_string_append_printf (out, "%s`%s`", c == k->choices ? "" : ", ", *c);
      break;
    case ANSIM_CONFIG_PATH:
      g_string_append (out, is_data_dir_key (schema, g, k)
                              ? "absolute, or relative to the working directory"
                              : "absolute, or relative to `data_dir`");
      break;
    case ANSIM_CONFIG_NAME:
      g_string_append_printf (out, "1 to %d of `A-Z a-z 0-9 - _ .`", CONFIG_MAX_NAME);
      break;
    case ANSIM_CONFIG_URL: g_string_append (out, "`http://…` or `https://…`"); break;
    case ANSIM_CONFIG_CODED: g_string_append (out, k->coding->allowed_markdown); break;
    }
}

char *
ansim_config_schema_to_markdown (const AnsimConfigSchema *schema)
{
  g_autoptr (GString) out = g_string_new (NULL);

  g_return_val_if_fail (schema != NULL, NULL);

  g_string_append_printf (out, "## %s.conf (%s)\n\n", schema->main_group, schema->program);
  g_string_append_printf (out, "Recognised by its `[%s]` group.\n", schema->main_group);
  for (const AnsimConfigGroup *g = schema->groups; g->name != NULL; g++)
    {
      g_string_append_printf (out, "\n### [%s%s]\n\n", g->name, g->named ? " NAME" : "");
      if (g->named)
        g_string_append (out, g->required ? "At least one required. " : "Optional, any number. ");
      else
        g_string_append (out, g->required ? "Required. " : "Optional. ");
      append_sentence (out, g->help);
      if (g->named && g->instances != NULL)
        {
          g_string_append (out, " NAME is one of ");
          for (const char *const *c = g->instances; *c != NULL; c++)
            g_string_append_printf (out, "%s`%s`", c == g->instances ? "" : ", ", *c);
          g_string_append (out, ".");
        }
      else if (g->named)
        {
          g_string_append_printf (out, " NAME: 1 to %d of `A-Z a-z 0-9 - _ .`, unique in the file.",
                                  CONFIG_MAX_NAME);
        }
      g_string_append (out, "\n\n| Key | Type | Default | Allowed values | Required | Meaning |\n"
                            "| --- | --- | --- | --- | --- | --- |\n");
      for (const AnsimConfigKey *k = g->keys; k->key != NULL; k++)
        {
          g_string_append_printf (out, "| `%s` | %s | ", k->key, type_name (k));
          if (k->default_value != NULL)
            {
              g_string_append_c (out, '`');
              append_cell (out, k->default_value);
              g_string_append_c (out, '`');
            }
          else
            {
              g_string_append (out, "—");
            }
          g_string_append (out, " | ");
          append_allowed (out, schema, g, k);
          g_string_append (out, " | ");
          if (k->applies_if != NULL)
            {
              g_autofree char *cond = condition_text (k);

              g_string_append_printf (out, k->required ? "yes, with `%s`" : "no; only with `%s`",
                                      cond);
            }
          else
            g_string_append (out, k->required ? "yes" : "no");
          g_string_append (out, " | ");
          append_sentence (out, k->help);
          g_string_append (out, " |\n");
        }
    }
  g_string_append_printf (out,
                          "\nWithout `--config`, %s runs on these built-in defaults:\n\n"
                          "```ini\n%s```\n",
                          schema->program, schema->embedded_defaults);
  return g_string_free (g_steal_pointer (&out), FALSE);
}
