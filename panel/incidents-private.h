/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What incidents.c, devices.c, escalation.c and disclosures.c share:
 * PanelIncidents itself and the few helpers they use. Private to those
 * files. */
#pragma once

#include "incidents.h"
#include "playback.h"

G_BEGIN_DECLS

struct _PanelIncidents {
  sqlite3 *db;
  PanelStore *store;
  PanelConsole *console;
  GPtrArray *identities; /* of AnsimAgeIdentity; NULL: no playback */
  PanelPlayback *playback;
  gint64 offline_after_us;
  guint check_id;
  GHashTable *offline;       /* device ids whose offline alert was raised */
  PanelRetention *retention; /* legal holds; NULL until set */
  PanelWebhooks *webhooks;   /* NULL until set */
  PanelChannel *channel;     /* to the desks; NULL until set */
  gint64 escalate_after_us;
  guint escalate_id;
  GArray *escalation_hooks; /* of EscalationHook */
  char *export_dir;         /* exports' private folder (disclosures.c) */
  gint64 desk_clock_tolerance_us;
};

typedef struct {
  PanelEscalatedFunc func;
  gpointer user_data;
} EscalationHook;

#define VIEW_ROLES (PANEL_ROLE_SECURITY | PANEL_ROLE_TRAINER | PANEL_ROLE_ADMIN)
#define ACT_ROLES (PANEL_ROLE_SECURITY | PANEL_ROLE_ADMIN)
#define CONSOLE PANEL_CALLER_CONSOLE

/* The current row as an object named by its columns (booleans and
 * embedded JSON columns as such). */
void panel_incidents_add_row (JsonBuilder *b, sqlite3_stmt *stmt);
/* Every row stmt gives as an array named name; FALSE on a database error
 * (the array is then incomplete). */
gboolean panel_incidents_add_rows (JsonBuilder *b, const char *name, sqlite3_stmt *stmt);
/* One incident as JSON (NULL: no such incident or a database error). */
JsonNode *panel_incidents_node (PanelIncidents *self, gint64 id);
/* Tells every console event with incident id (index >= 0: as "index"). */
void panel_incidents_publish (PanelIncidents *self, const char *event, gint64 id, gint64 index);
/* Appends the first column (an id) of every row stmt gives to ids (of
 * gint64); FALSE on a database error (ids then has the rows read). */
gboolean panel_incidents_append_ids (sqlite3_stmt *stmt, GArray *ids);
/* A panel event (device_id NULL) in the site's log; inside the caller's
 * transaction when there is one. */
gboolean panel_incidents_log_event (PanelIncidents *self, const char *kind, gint64 incident_id,
                                    const char *actor, const char *desk_id,
                                    const char *detail_json);

/* devices.c: the offline check, the device routes (after the incident
 * routes) and the heartbeat's news. */
void panel_devices_start (PanelIncidents *self, PanelHttp *http, AnsimConfig *config);
void panel_devices_on_heartbeat (PanelIncidents *self);

/* escalation.c: starts the escalation check. */
void panel_escalation_start (PanelIncidents *self, AnsimConfig *config);

G_END_DECLS
