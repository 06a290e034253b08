/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Response-time reports: per drill, trends per desk, site and month, the
 * same figures for real incidents; JSON and an audited CSV export. */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sqlite3.h>

#include "console.h"

G_BEGIN_DECLS

/* What the drill and report routes read: db and console borrowed,
 * site_name owned. PanelDrills and PanelReports are both this. */
struct _PanelDrillSite {
  sqlite3 *db;
  PanelConsole *console;
  char *site_name;
};
typedef struct _PanelDrillSite PanelDrillSite;
typedef struct _PanelDrillSite PanelReports;

/* Registers routes on http with a new site state as their user data. */
PanelDrillSite *panel_drill_site_new (PanelHttp *http, const PanelRoute *routes, gsize n_routes,
                                      sqlite3 *db, PanelConsole *console, const char *site_name);
void panel_drill_site_free (PanelDrillSite *self);

/* Registers /api/reports and /api/reports/export on http. db and console
 * are borrowed; site_name labels the site's trend row. */
PanelReports *panel_reports_new (PanelHttp *http, sqlite3 *db, PanelConsole *console,
                                 const char *site_name);
void panel_reports_free (PanelReports *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelReports, panel_reports_free)

/* The report rows of one drill (one object per armed desk) into b, an
 * open array; FALSE on a database error. */
gboolean panel_reports_add_drill (sqlite3 *db, JsonBuilder *b, gint64 drill_id);

/* One CSV field and its separator ("," or CRLF when last): quoted when
 * needed, and a leading = + - @ neutralised against spreadsheet formulas. */
void panel_reports_csv_field (GString *out, const char *text, gboolean last);

G_END_DECLS
