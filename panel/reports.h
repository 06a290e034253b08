/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Response-time reports: per drill, trends per desk, site and month, the
 * same figures for real incidents; JSON and an audited CSV export. */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sqlite3.h>

#include "console.h"

G_BEGIN_DECLS

typedef struct _PanelReports PanelReports;

/* Registers /api/reports and /api/reports/export on http. db and console
 * are borrowed; site_name labels the site's trend row. */
PanelReports *panel_reports_new (PanelHttp *http, sqlite3 *db, PanelConsole *console,
                                 const char *site_name);
void panel_reports_free (PanelReports *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelReports, panel_reports_free)

/* The report rows of one drill (one object per armed desk) into b, an
 * open array; FALSE on a database error. */
gboolean panel_reports_add_drill (sqlite3 *db, JsonBuilder *b, gint64 drill_id);

G_END_DECLS
