/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains export for disclosure and its register
 * (개인영상정보 제공 관리대장, docs/console.md "Export"): the export route,
 * which requires a recipient, a purpose and a legal basis, and the
 * register's list and CSV for admins and auditors.
 * What must stay true: no package leaves the panel without its register
 * row and its audit entry, written in one transaction before the first
 * byte; the register is append-only (the table refuses changes). */
#include "disclosures.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "export.h"
#include "incidents-private.h"
#include "json-event.h"
#include "reports.h"

#define REGISTER_ROLES (PANEL_ROLE_ADMIN | PANEL_ROLE_AUDITOR)
#define MAX_FIELD_CHARS 300

/* An export whose package is being prepared in a worker thread; msg is
 * paused meanwhile. */
typedef struct {
  PanelIncidents *self;
  SoupServerMessage *msg;
  PanelExport *export;
  gint64 id;
  gboolean with_media;
  char *recipient, *purpose, *legal_basis;
} ExportJob;

static void
export_job_free (ExportJob *job)
{
  g_clear_pointer (&job->export, panel_export_free);
  g_object_unref (job->msg);
  g_free (job->recipient);
  g_free (job->purpose);
  g_free (job->legal_basis);
  g_free (job);
}

/* The register row and the audit entry, in one transaction. */
static gboolean
record_disclosure (ExportJob *job, PanelSession *session, PanelExport *export, GError **error)
{
  PanelIncidents *self = job->self;
  if (!ansim_db_begin (self->db, error))
    return FALSE;
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (
    self->db,
    "INSERT INTO disclosures (at_us, incident_id, incident_uuid, desk_id, exported_by, "
    "recipient, purpose, legal_basis, media, package_sha256, size, verification, "
    "footage_from_us, footage_until_us) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, nullif (?13, 0), nullif (?14, 0))",
    error);
  if (st == NULL)
    {
      ansim_db_rollback (self->db);
      return FALSE;
    }
  sqlite3_bind_int64 (st, 1, g_get_real_time ());
  sqlite3_bind_int64 (st, 2, job->id);
  sqlite3_bind_text (st, 3, panel_export_get_uuid (export), -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 4, panel_export_get_desk (export), -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 5, session->user, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 6, job->recipient, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 7, job->purpose, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 8, job->legal_basis, -1, SQLITE_STATIC);
  sqlite3_bind_int (st, 9, job->with_media);
  sqlite3_bind_text (st, 10, panel_export_get_sha256 (export), -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 11, panel_export_get_size (export));
  sqlite3_bind_text (st, 12, panel_export_get_summary (export), -1, SQLITE_STATIC);
  gint64 from_us = 0, until_us = 0;
  panel_export_get_footage (export, &from_us, &until_us);
  sqlite3_bind_int64 (st, 13, from_us);
  sqlite3_bind_int64 (st, 14, until_us);
  if (sqlite3_step (st) != SQLITE_DONE)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the register: %s",
                   sqlite3_errmsg (self->db));
      ansim_db_rollback (self->db);
      return FALSE;
    }
  gint64 row = sqlite3_last_insert_rowid (self->db);
  g_autoptr (AnsimJsonBuilder) d = ansim_json_builder_new ();
  ansim_json_builder_add_bool (d, "media", job->with_media);
  ansim_json_builder_add_string (d, "package_sha256", panel_export_get_sha256 (export));
  ansim_json_builder_add_int (d, "size", panel_export_get_size (export));
  ansim_json_builder_add_string (d, "verification", panel_export_get_summary (export));
  ansim_json_builder_add_int (d, "disclosure", row);
  ansim_json_builder_add_string (d, "recipient", job->recipient);
  ansim_json_builder_add_string (d, "purpose", job->purpose);
  ansim_json_builder_add_string (d, "legal_basis", job->legal_basis);
  g_autofree char *detail = ansim_json_builder_end (d);
  g_autofree char *target = g_strdup_printf ("incident %" G_GINT64_FORMAT, job->id);
  if (!panel_console_audit (self->console, job->msg, session, PANEL_AUDIT_EXPORT, target, detail,
                            error))
    {
      ansim_db_rollback (self->db);
      return FALSE;
    }
  return ansim_db_commit (self->db, error);
}

static void
export_prepared (GObject *source, GAsyncResult *result, gpointer data)
{
  ExportJob *job = data;
  PanelIncidents *self = job->self;
  SoupServerMessage *msg = job->msg;
  g_autoptr (GError) error = NULL;
  (void) source;
  if (!panel_export_prepare_finish (result, &error))
    {
      g_warning ("export of incident %" G_GINT64_FORMAT ": %s", job->id, error->message);
      panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                "the package cannot be made (the panel's log says why)");
    }
  else
    {
      /* The session is looked up again: it may have ended meanwhile. */
      g_autoptr (PanelSession) session =
        panel_console_authorize (self->console, msg, PANEL_ROLE_SECURITY | PANEL_ROLE_ADMIN);
      if (session != NULL)
        {
          if (record_disclosure (job, session, job->export, &error))
            /* Streamed from memory and open files as the client reads it. */
            panel_export_send (g_steal_pointer (&job->export), msg);
          else
            {
              g_warning ("export of incident %" G_GINT64_FORMAT ": %s", job->id, error->message);
              panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                        "the panel cannot write its audit log");
            }
        }
    }
  soup_server_message_unpause (msg);
  export_job_free (job);
}

/* A required member: text, not only spaces, at most MAX_FIELD_CHARS. */
static char *
required_text (SoupServerMessage *msg, JsonObject *o, const char *name, const char *example)
{
  JsonNode *node = json_object_get_member (o, name);
  const char *text = node != NULL && JSON_NODE_HOLDS_VALUE (node)
                         && json_node_get_value_type (node) == G_TYPE_STRING
                       ? json_node_get_string (node)
                       : NULL;
  g_autofree char *stripped = text != NULL ? g_strstrip (g_strdup (text)) : NULL;
  if (stripped == NULL || stripped[0] == '\0' || g_utf8_strlen (stripped, -1) > MAX_FIELD_CHARS
      || !g_utf8_validate (stripped, -1, NULL))
    {
      panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                              "%s is required: text of 1 to %d characters (e.g. %s)", name,
                              MAX_FIELD_CHARS, example);
      return NULL;
    }
  return g_steal_pointer (&stripped);
}

static void
export_incident (PanelIncidents *self, SoupServerMessage *msg, PanelSession *session, gint64 id)
{
  static const char *const members[] = { "media", "recipient", "purpose", "legal_basis", NULL };
  g_autoptr (JsonObject) body = panel_console_read_json_object (msg);
  if (body == NULL || !panel_http_only_members (msg, body, members))
    return;
  JsonNode *media = json_object_get_member (body, "media");
  if (media != NULL
      && (!JSON_NODE_HOLDS_VALUE (media) || json_node_get_value_type (media) != G_TYPE_BOOLEAN))
    return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                     "media is true or false");
  g_autofree char *recipient = required_text (msg, body, "recipient", "서울○○경찰서 수사과");
  if (recipient == NULL)
    return;
  g_autofree char *purpose = required_text (msg, body, "purpose", "수사기관 요청");
  if (purpose == NULL)
    return;
  g_autofree char *legal_basis =
    required_text (msg, body, "legal_basis", "개인정보 보호법 제18조②7, 형사소송법 제199조②");
  if (legal_basis == NULL)
    return;
  gboolean with_media = media != NULL && json_node_get_boolean (media);
  if (with_media && self->identities == NULL)
    return panel_console_send_error (
      msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "no-playback",
      "this panel has no site_identity: it cannot decrypt video, export without it");
  g_autoptr (GError) error = NULL;
  PanelExportRequest request = {
    .recipient = recipient,
    .purpose = purpose,
    .legal_basis = legal_basis,
    .exported_by = session->user,
    .with_media = with_media,
  };
  PanelExport *export = panel_export_new (self->db, self->store, self->export_dir, id,
                                          self->identities, &request, &error);
  if (export == NULL)
    {
      if (g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return panel_console_send_error (msg, SOUP_STATUS_NOT_FOUND, "not-found",
                                         "no such incident");
      if (g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_AGAIN))
        return panel_console_send_error (msg, SOUP_STATUS_CONFLICT, "conflict", error->message);
      g_warning ("export of incident %" G_GINT64_FORMAT ": %s", id, error->message);
      return panel_console_send_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                       "the package cannot be made (the panel's log says why)");
    }
  ExportJob *job = g_new0 (ExportJob, 1);
  job->self = self;
  job->msg = g_object_ref (msg);
  job->export = export;
  job->id = id;
  job->with_media = with_media;
  job->recipient = g_steal_pointer (&recipient);
  job->purpose = g_steal_pointer (&purpose);
  job->legal_basis = g_steal_pointer (&legal_basis);
  soup_server_message_pause (msg);
  panel_export_prepare_async (export, export_prepared, job);
}

/* ---- the register ------------------------------------------------------- */

static const char register_select[] =
  "SELECT id, at_us, incident_id, incident_uuid, desk_id, exported_by, recipient, purpose, "
  "legal_basis, media, package_sha256, size, verification, footage_from_us, footage_until_us "
  "FROM disclosures ";

static void
list_register (PanelIncidents *self, SoupServerMessage *msg, GHashTable *query)
{
  static const char *const booleans[] = { "media", NULL };
  const char *limit_text = query != NULL ? g_hash_table_lookup (query, "limit") : NULL;
  gint64 limit = 200;
  if (limit_text != NULL && !g_ascii_string_to_signed (limit_text, 10, 1, 1000, &limit, NULL))
    return panel_console_send_error (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                     "limit is a number from 1 to 1000");
  g_autofree char *sql = g_strconcat (register_select, "ORDER BY id DESC LIMIT ?1", NULL);
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (self->db, sql, NULL);
  if (st == NULL)
    return panel_console_send_db_error (msg, self->db, "reading the register");
  sqlite3_bind_int64 (st, 1, limit);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "disclosures");
  json_builder_begin_array (b);
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    panel_http_add_row (b, st, booleans, NULL);
  json_builder_end_array (b);
  json_builder_end_object (b);
  if (rc != SQLITE_DONE)
    return panel_console_send_db_error (msg, self->db, "reading the register");
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

static char *
utc_time (gint64 us)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  return dt != NULL ? g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ") : g_strdup ("");
}

static void
export_register (PanelIncidents *self, SoupServerMessage *msg, PanelSession *session)
{
  g_autofree char *sql = g_strconcat (register_select, "ORDER BY id", NULL);
  g_autoptr (sqlite3_stmt) st = ansim_db_prepare (self->db, sql, NULL);
  if (st == NULL)
    return panel_console_send_db_error (msg, self->db, "reading the register");
  static const char *const header[] = {
    "id",           "exported_at",  "incident",       "incident_uuid",
    "desk",         "exported_by",  "recipient",      "purpose",
    "legal_basis",  "media",        "package_sha256", "size",
    "verification", "footage_from", "footage_until",  NULL
  };
  g_autoptr (GString) csv = g_string_new ("\xEF\xBB\xBF"); /* BOM: spreadsheets read UTF-8 */
  for (guint i = 0; header[i] != NULL; i++)
    panel_reports_csv_field (csv, header[i], header[i + 1] == NULL);
  int rc;
  guint rows = 0;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      for (int c = 0; c < 15; c++)
        {
          g_autofree char *text = NULL;
          gboolean is_time = c == 1 || c >= 13;
          if (is_time)
            text = sqlite3_column_type (st, c) != SQLITE_NULL
                     ? utc_time (sqlite3_column_int64 (st, c))
                     : NULL;
          else if (c == 9)
            text = g_strdup (sqlite3_column_int (st, c) ? "yes" : "no");
          else
            text = g_strdup ((const char *) sqlite3_column_text (st, c));
          panel_reports_csv_field (csv, text, c == 14);
        }
      rows++;
    }
  if (rc != SQLITE_DONE)
    return panel_console_send_db_error (msg, self->db, "reading the register");
  g_autoptr (AnsimJsonBuilder) d = ansim_json_builder_new ();
  ansim_json_builder_add_uint (d, "rows", rows);
  g_autofree char *detail = ansim_json_builder_end (d);
  if (!panel_console_audit_or_fail (self->console, msg, session, PANEL_AUDIT_REGISTER_EXPORTED,
                                    "disclosure register", detail))
    return;
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (h, "Content-Disposition",
                                "attachment; filename=\"ansim-disclosure-register.csv\"");
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/csv; charset=utf-8", SOUP_MEMORY_COPY, csv->str,
                                    csv->len);
}

/* ---- routes ------------------------------------------------------------- */

static void
handle_export (PanelHttpRequest *req)
{
  export_incident (req->user_data, req->msg, req->session, req->ids[0]);
}

static void
handle_register (PanelHttpRequest *req)
{
  list_register (req->user_data, req->msg, req->query);
}

static void
handle_register_csv (PanelHttpRequest *req)
{
  export_register (req->user_data, req->msg, req->session);
}

static const PanelRoute routes[] = {
  { PANEL_HTTP_POST, "/api/incidents/{incident-id}/export", CONSOLE, ACT_ROLES, 0, handle_export },
  { PANEL_HTTP_GET, "/api/disclosures", CONSOLE, REGISTER_ROLES, 0, handle_register },
  { PANEL_HTTP_GET, "/api/disclosures/export", CONSOLE, REGISTER_ROLES, 0, handle_register_csv },
};

gboolean
panel_disclosures_start (PanelIncidents *self, PanelHttp *http, AnsimConfig *config, GError **error)
{
  g_autofree char *data_dir = ansim_config_get_path (config, "panel", "data_dir");
  self->export_dir = g_build_filename (data_dir, "export-work", NULL);
  if (!panel_export_clean_work_dir (self->export_dir, error))
    return FALSE;
  panel_http_add_routes (http, routes, G_N_ELEMENTS (routes), self);
  return TRUE;
}
