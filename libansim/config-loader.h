/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The configuration loader: INI files checked strictly against a schema
 * before any daemon acts on them (a typo must never silently disable a
 * trigger). Generic: it knows no program's schema; the programs' schemas
 * are in config.h (config-schemas.c) and register themselves. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ANSIM_CONFIG_ERROR (ansim_config_error_quark ())
GQuark ansim_config_error_quark (void);

typedef enum {
  ANSIM_CONFIG_ERROR_PARSE, /* not an INI file at all */
  ANSIM_CONFIG_ERROR_UNKNOWN_GROUP,
  ANSIM_CONFIG_ERROR_UNKNOWN_KEY,
  ANSIM_CONFIG_ERROR_TYPE,      /* wrong type */
  ANSIM_CONFIG_ERROR_RANGE,     /* out of range / not one of the choices */
  ANSIM_CONFIG_ERROR_MISSING,   /* required group or key missing */
  ANSIM_CONFIG_ERROR_CONFLICT,  /* keys that contradict each other */
  ANSIM_CONFIG_ERROR_DUPLICATE, /* a group or key given twice (GKeyFile would merge them) */
} AnsimConfigErrorCode;

typedef enum {
  ANSIM_CONFIG_STRING,
  ANSIM_CONFIG_INT,    /* integer in [min, max] */
  ANSIM_CONFIG_BOOL,   /* true/false */
  ANSIM_CONFIG_CHOICE, /* one of choices */
  ANSIM_CONFIG_PATH,   /* file system path; relative paths resolve against the data dir */
  ANSIM_CONFIG_NAME,   /* identifier: letters, digits, '-', '_', '.', 1..64 chars */
  ANSIM_CONFIG_URL,    /* http:// or https:// URL */
  ANSIM_CONFIG_CODED,  /* a name or number the key's coding (below) turns into an integer;
                          * get_int gives that integer */
} AnsimConfigType;

/* A value type a schema brings for itself (e.g. evdev key names): the
 * loader checks and describes ANSIM_CONFIG_CODED values only through it. */
typedef struct {
  const char *type_name; /* the docs' type column, e.g. "key code" */
  /* The integer value stands for (>= 0), or -1 with *out_problem saying
   * what is wrong (e.g. "unknown key name"; static text). */
  gint64 (*decode) (const char *value, const char **out_problem);
  const char *expected;         /* what a valid value looks like, in error messages */
  const char *allowed_markdown; /* the same for the docs' "allowed" column */
} AnsimConfigCoding;

typedef struct {
  const char *key;
  AnsimConfigType type;
  gboolean required;
  const char *default_value;  /* as it would be written in the file; NULL = none */
  gint64 min, max;            /* ANSIM_CONFIG_INT */
  const char *const *choices; /* ANSIM_CONFIG_CHOICE, NULL-terminated */
  const char *help;           /* one line, used in docs and "expected ..." */
  /* "KEY=VALUE" (e.g. "input=gpio"): the key belongs only in groups where
   * that other key (or its default) has that value; anywhere else it is an
   * error, and `required` holds only there. NULL: always applies. */
  const char *applies_if;
  const AnsimConfigCoding *coding; /* ANSIM_CONFIG_CODED */
} AnsimConfigKey;

typedef struct {
  /* Plain group "recorder", or a named-group prefix "trigger" matching
   * "[trigger NAME]" for any valid NAME. */
  const char *name;
  gboolean named;
  gboolean required;          /* at least one such group */
  const AnsimConfigKey *keys; /* terminated by { NULL } */
  const char *help;
  /* Named groups: the only NAMEs allowed, NULL-terminated; NULL: any NAME. */
  const char *const *instances;
} AnsimConfigGroup;

typedef struct _AnsimConfig AnsimConfig;

typedef struct {
  const char *program;            /* "ansim-recorder" */
  const char *main_group;         /* group whose presence identifies the file, e.g. "recorder" */
  const AnsimConfigGroup *groups; /* terminated by { NULL } */
  const char *embedded_defaults;  /* the file used when none is given (the demo) */
  /* Cross-key checks after per-key checks passed; sets error naming file, group, key. */
  gboolean (*check) (AnsimConfig *config, GError **error);
} AnsimConfigSchema;

/* Makes schema known to ansim_config_schema_detect() and to the "it
 * belongs in X.conf" hint of an unknown group: each program's schema
 * registers itself when the library is loaded (config-schemas.c), so this
 * loader names none. Registering twice is harmless; order is the order
 * messages list them in. Call before loading anything (not thread-safe). */
void ansim_config_register_schema (const AnsimConfigSchema *schema);
/* The registered schema whose main group the file has, or NULL with an
 * error. */
const AnsimConfigSchema *ansim_config_schema_detect (const char *path, GError **error);

/* Load and validate. path NULL means the schema's embedded defaults. On
 * error the message is one line:
 *   FILE: [GROUP] KEY = 'VALUE': WHAT IS WRONG; expected WHAT IS EXPECTED */
AnsimConfig *ansim_config_load (const AnsimConfigSchema *schema, const char *path, GError **error);
AnsimConfig *ansim_config_load_data (const AnsimConfigSchema *schema, const char *data,
                                     const char *origin, GError **error);
void ansim_config_free (AnsimConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnsimConfig, ansim_config_free)

const char *ansim_config_get_origin (AnsimConfig *config); /* file name or "(embedded defaults)" */
/* Set the data directory relative PATH values resolve against (default:
 * [main_group] data_dir if the schema has it). */
void ansim_config_set_data_dir (AnsimConfig *config, const char *data_dir);

/* Getters return the value or the schema default; a key with neither
 * (optional, no default) gives NULL, 0 or FALSE. get_int also gives the
 * code of an ANSIM_CONFIG_KEY_CODE key.
 * [main_group] data_dir gives the ansim_config_set_data_dir() override if
 * set. Asking for a key the schema does not have is a programming error. */
const char *ansim_config_get_string (AnsimConfig *config, const char *group, const char *key);
gint64 ansim_config_get_int (AnsimConfig *config, const char *group, const char *key);
gboolean ansim_config_get_bool (AnsimConfig *config, const char *group, const char *key);
/* Index into the key's choices. */
guint ansim_config_get_choice (AnsimConfig *config, const char *group, const char *key);
/* Absolute path; relative values resolved against the data dir. Caller frees. */
char *ansim_config_get_path (AnsimConfig *config, const char *group, const char *key);
gboolean ansim_config_has_key (AnsimConfig *config, const char *group, const char *key);

/* Named groups "[PREFIX NAME]", in file order; returns the full group names. */
GStrv ansim_config_list_named (AnsimConfig *config, const char *prefix);
/* "trigger desk-button" -> "desk-button" (pointer into group). */
const char *ansim_config_group_instance (const char *group);

/* For cross-key checks: a one-line error in the standard form. */
void ansim_config_set_error (AnsimConfig *config, GError **error, AnsimConfigErrorCode code,
                             const char *group, const char *key, const char *problem,
                             const char *expected);

/* Markdown reference of a schema, used to generate docs/config.md. */
char *ansim_config_schema_to_markdown (const AnsimConfigSchema *schema);
G_END_DECLS
