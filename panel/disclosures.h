/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Export for disclosure (recipient, purpose and legal basis required) and
 * the disclosure register (개인영상정보 제공 관리대장) with its CSV. */
#pragma once

#include "config.h"
#include "http.h"
#include "incidents.h"

G_BEGIN_DECLS

/* Empties the export work folder (data_dir/export-work: what a killed
 * panel left) and registers POST /api/incidents/ID/export,
 * GET /api/disclosures and GET /api/disclosures/export with the
 * incidents' state as user data. */
gboolean panel_disclosures_start (PanelIncidents *self, PanelHttp *http, AnsimConfig *config,
                                  GError **error);

G_END_DECLS
