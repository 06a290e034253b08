/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The programs' configuration: the schemas of ansim-recorder,
 * ansim-uploader and ansim-panel (config-schemas.c) over the generic loader
 * (config-loader.h), and the evdev key names the recorder's triggers take. */
#pragma once

#include <glib.h>

#include "config-loader.h"

G_BEGIN_DECLS

/* [webhook NAME] events (NULL-terminated) and the shortest secret, in bytes. */
extern const char *const ansim_webhook_events[];
#define ANSIM_WEBHOOK_MIN_SECRET 16

/* Schemas of the programs, all known to `ansimctl check-config`. */
extern const AnsimConfigSchema ansim_recorder_config_schema;
extern const AnsimConfigSchema ansim_uploader_config_schema;
extern const AnsimConfigSchema ansim_panel_config_schema;
/* The three above, NULL-terminated. */
extern const AnsimConfigSchema *const ansim_config_schemas[];

/* The generated part of docs/config.md: every schema in ansim_config_schemas. */
char *ansim_config_reference_markdown (void);

/* Linux input key code of a KEY_* / BTN_* name (linux/input-event-codes.h)
 * or of a decimal code 1..KEY_MAX, as the evdev `key` setting takes it;
 * -1 if unknown. */
gint ansim_config_key_code (const char *name);

G_END_DECLS
