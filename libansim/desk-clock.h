/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk's measured offset to the panel's clock: what the uploader
 * learnt from the panel's answers, kept in the desk database for the
 * recorder (manifests) and `ansimctl status`. It must never claim more
 * than was measured: "never measured" is a state of its own. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct sqlite3 sqlite3;

typedef struct {
  gboolean measured;       /* FALSE: never measured; the rest is 0 */
  gint64 offset_us;        /* panel clock minus desk wall clock */
  gint64 bound_us;         /* the true offset lies within offset_us ± bound_us */
  gint64 measured_wall_us; /* desk wall clock when it was last measured */
} AnsimDeskClock;

/* The latest offset stored (out->measured FALSE when there is none). */
gboolean ansim_desk_clock_load (sqlite3 *db, AnsimDeskClock *out, GError **error);
/* Stores clock (measured) as the latest, for panel_url. */
gboolean ansim_desk_clock_store (sqlite3 *db, const char *panel_url, const AnsimDeskClock *clock,
                                 GError **error);
/* "600.120 s behind the panel's (± 0.004 s)" and the like; "never measured". */
char *ansim_desk_clock_describe (const AnsimDeskClock *clock);

G_END_DECLS
