/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The response-time reports (API in docs/console.md): the figures
 * press -> alert -> shown -> acknowledged -> arrival -> resolved per drill,
 * per desk, per site and per month, for drills and (separately) real
 * incidents, as JSON and as an audited CSV export. Read-only: the rows
 * come from drills, drill_desks, incidents and their events as they stand
 * (drills.c and drill-db.c write them). */
#include "reports.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "json-event.h"

#define READ_ROLES (PANEL_ROLE_TRAINER | PANEL_ROLE_ADMIN | PANEL_ROLE_AUDITOR)
#define MAX_REPORT_ROWS 10000

/* The steps of a response, in order; each is a time or missing. */
enum { PRESSED, ALERTED, SHOWN, ACKNOWLEDGED, ARRIVED, RESOLVED, N_STEPS };
static const char *const step_at[] = { "pressed_at_us",      "alerted_at_us", "shown_at_us",
                                       "acknowledged_at_us", "arrived_at_us", "resolved_at_us" };
static const char *const step_by[] = { NULL,         NULL,         "shown_by", "acknowledged_by",
                                       "arrived_by", "resolved_by" };
/* Figures: each step's time since the press. */
static const char *const figure[] = { NULL,
                                      "press_to_alert_us",
                                      "press_to_shown_us",
                                      "press_to_ack_us",
                                      "press_to_arrival_us",
                                      "press_to_resolved_us" };

typedef struct {
  gint64 drill_id; /* 0: a real incident */
  char *desk_id, *desk_name;
  gint64 incident_id; /* 0: no press during the drill */
  gint64 window_start_us;
  gint64 at[N_STEPS];
  gboolean has[N_STEPS];
  char *by[N_STEPS];
  char *month; /* YYYY-MM of the press (panel's local time) */
} ReportRow;

static void
report_row_free (gpointer data)
{
  ReportRow *r = data;
  g_free (r->desk_id);
  g_free (r->desk_name);
  g_free (r->month);
  for (guint i = 0; i < N_STEPS; i++)
    g_free (r->by[i]);
  g_free (r);
}

/* Rows of drills (one per armed desk; drill_id > 0: that drill only) or
 * of real incidents, in [since_us, until_us) of the drill's window start
 * or the incident's alert; NULL on a database error. */
static GPtrArray *
report_rows (sqlite3 *db, gboolean drills, gint64 since_us, gint64 until_us, gint64 drill_id)
{
  /* The first console that showed the alert: the earliest alert-shown. */
  static const char shown[] =
    "(SELECT e.at_wall_us FROM events e WHERE e.incident_id = i.id AND e.kind = 'alert-shown' "
    " ORDER BY e.at_wall_us, e.id LIMIT 1), "
    "(SELECT e.actor FROM events e WHERE e.incident_id = i.id AND e.kind = 'alert-shown' "
    " ORDER BY e.at_wall_us, e.id LIMIT 1), ";
  g_autofree char *sql =
    drills
      ? g_strconcat ("SELECT d.id, dd.desk_id, coalesce (k.name, dd.desk_id), i.id, "
                     "d.window_start_us, i.opened_wall_us, i.alerted_at_us, ",
                     shown,
                     "i.acknowledged_at_us, i.acknowledged_by, dd.arrived_at_us, dd.arrived_by, "
                     "i.resolved_at_us, i.resolved_by "
                     "FROM drill_desks dd JOIN drills d ON d.id = dd.drill_id "
                     "LEFT JOIN incidents i ON i.id = dd.incident_id "
                     "LEFT JOIN desks k ON k.id = dd.desk_id "
                     "WHERE (?1 IS NULL OR d.window_start_us >= ?1) "
                     "AND (?2 IS NULL OR d.window_start_us < ?2) AND (?3 = 0 OR d.id = ?3) "
                     "ORDER BY d.id, dd.desk_id LIMIT ?4",
                     NULL)
      : g_strconcat ("SELECT 0, i.desk_id, coalesce (k.name, i.desk_id), i.id, "
                     "i.alerted_at_us, i.opened_wall_us, i.alerted_at_us, ",
                     shown,
                     "i.acknowledged_at_us, i.acknowledged_by, NULL, NULL, "
                     "i.resolved_at_us, i.resolved_by "
                     "FROM incidents i LEFT JOIN desks k ON k.id = i.desk_id "
                     "WHERE i.is_drill = 0 AND (?1 IS NULL OR i.alerted_at_us >= ?1) "
                     "AND (?2 IS NULL OR i.alerted_at_us < ?2) AND ?3 = ?3 "
                     "ORDER BY i.id LIMIT ?4",
                     NULL);
  g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (db, sql, NULL);
  if (stmt == NULL)
    return NULL;
  if (since_us >= 0)
    sqlite3_bind_int64 (stmt, 1, since_us);
  if (until_us >= 0)
    sqlite3_bind_int64 (stmt, 2, until_us);
  sqlite3_bind_int64 (stmt, 3, drill_id);
  sqlite3_bind_int64 (stmt, 4, MAX_REPORT_ROWS + 1); /* one more: to tell it was cut */
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func (report_row_free);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      ReportRow *r = g_new0 (ReportRow, 1);
      r->drill_id = sqlite3_column_int64 (stmt, 0);
      r->desk_id = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
      r->desk_name = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
      r->incident_id = sqlite3_column_int64 (stmt, 3);
      r->window_start_us = sqlite3_column_int64 (stmt, 4);
      /* columns: 5 pressed, 6 alerted, 7/8 shown at/by, 9/10 ack, 11/12 arrived, 13/14 resolved */
      static const int at_col[] = { 5, 6, 7, 9, 11, 13 };
      for (guint s = 0; s < N_STEPS; s++)
        {
          r->has[s] = sqlite3_column_type (stmt, at_col[s]) != SQLITE_NULL;
          r->at[s] = sqlite3_column_int64 (stmt, at_col[s]);
          if (step_by[s] != NULL && sqlite3_column_type (stmt, at_col[s] + 1) != SQLITE_NULL)
            r->by[s] = g_strdup ((const char *) sqlite3_column_text (stmt, at_col[s] + 1));
        }
      if (r->has[PRESSED])
        {
          g_autoptr (GDateTime) dt =
            g_date_time_new_from_unix_local (r->at[PRESSED] / G_USEC_PER_SEC);
          r->month = dt != NULL ? g_date_time_format (dt, "%Y-%m") : NULL;
        }
      g_ptr_array_add (rows, r);
    }
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&rows);
}

static gboolean
row_figure (ReportRow *r, guint step, gint64 *out)
{
  if (!r->has[PRESSED] || !r->has[step])
    return FALSE;
  *out = r->at[step] - r->at[PRESSED];
  return TRUE;
}

/* A row id, or null for 0 (none). */
static void
add_id (JsonBuilder *b, const char *name, gint64 id)
{
  json_builder_set_member_name (b, name);
  if (id > 0)
    json_builder_add_int_value (b, id);
  else
    json_builder_add_null_value (b);
}

static void
add_report_row (JsonBuilder *b, ReportRow *r)
{
  json_builder_begin_object (b);
  add_id (b, "drill_id", r->drill_id);
  json_builder_set_member_name (b, "desk_id");
  json_builder_add_string_value (b, r->desk_id);
  json_builder_set_member_name (b, "desk_name");
  json_builder_add_string_value (b, r->desk_name);
  add_id (b, "incident_id", r->incident_id);
  json_builder_set_member_name (b, "month");
  json_builder_add_string_value (b, r->month);
  for (guint s = 0; s < N_STEPS; s++)
    {
      json_builder_set_member_name (b, step_at[s]);
      if (r->has[s])
        json_builder_add_int_value (b, r->at[s]);
      else
        json_builder_add_null_value (b);
      if (step_by[s] != NULL)
        {
          json_builder_set_member_name (b, step_by[s]);
          json_builder_add_string_value (b, r->by[s]);
        }
    }
  for (guint s = ALERTED; s < N_STEPS; s++)
    {
      gint64 v;
      json_builder_set_member_name (b, figure[s]);
      if (row_figure (r, s, &v))
        json_builder_add_int_value (b, v);
      else
        json_builder_add_null_value (b);
    }
  json_builder_end_object (b);
}

static int
cmp_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

static int
cmp_key (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* Groups rows by key (desk, site or month): count, and the median of each
 * figure (the mean of the two middle values for an even count, rounded
 * down). */
static void
add_trend (JsonBuilder *b, GPtrArray *rows, const char *by, const char *site_name)
{
  g_autoptr (GPtrArray) keys = g_ptr_array_new ();
  for (guint i = 0; i < rows->len; i++)
    {
      ReportRow *r = rows->pdata[i];
      const char *key = g_str_equal (by, "desk")   ? r->desk_id
                        : g_str_equal (by, "site") ? site_name
                                                   : r->month;
      if (key != NULL && !g_ptr_array_find_with_equal_func (keys, key, g_str_equal, NULL))
        g_ptr_array_add (keys, (gpointer) key);
    }
  g_ptr_array_sort (keys, cmp_key);
  json_builder_set_member_name (b, by);
  json_builder_begin_array (b);
  for (guint k = 0; k < keys->len; k++)
    {
      const char *label = keys->pdata[k];
      guint armed = 0, pressed = 0;
      GArray *values[N_STEPS];
      for (guint s = 0; s < N_STEPS; s++)
        values[s] = g_array_new (FALSE, FALSE, sizeof (gint64));
      for (guint i = 0; i < rows->len; i++)
        {
          ReportRow *r = rows->pdata[i];
          const char *key = g_str_equal (by, "desk")   ? r->desk_id
                            : g_str_equal (by, "site") ? site_name
                                                       : r->month;
          if (g_strcmp0 (key, keys->pdata[k]) != 0)
            continue;
          if (g_str_equal (by, "desk"))
            label = r->desk_name;
          armed++;
          pressed += r->has[PRESSED];
          for (guint s = ALERTED; s < N_STEPS; s++)
            {
              gint64 v;
              if (row_figure (r, s, &v))
                g_array_append_val (values[s], v);
            }
        }
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "key");
      json_builder_add_string_value (b, keys->pdata[k]);
      json_builder_set_member_name (b, "label");
      json_builder_add_string_value (b, label);
      json_builder_set_member_name (b, "rows");
      json_builder_add_int_value (b, armed);
      json_builder_set_member_name (b, "pressed");
      json_builder_add_int_value (b, pressed);
      for (guint s = ALERTED; s < N_STEPS; s++)
        {
          g_autofree char *name = g_strdup_printf ("median_%s", figure[s]);
          json_builder_set_member_name (b, name);
          GArray *v = values[s];
          if (v->len == 0)
            {
              json_builder_add_null_value (b);
              continue;
            }
          g_array_sort (v, cmp_gint64);
          gint64 *x = (gint64 *) v->data;
          json_builder_add_int_value (b, v->len % 2 ? x[v->len / 2]
                                                    : (x[v->len / 2 - 1] + x[v->len / 2]) / 2);
        }
      for (guint s = 0; s < N_STEPS; s++)
        g_array_unref (values[s]);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

/* kind, since_us, until_us from the query; answers 400 itself. */
static gboolean
report_query (SoupServerMessage *msg, GHashTable *query, gboolean *out_drills, gint64 *since_us,
              gint64 *until_us)
{
  static const char *const known[] = { "kind", "since_us", "until_us", NULL };
  *since_us = *until_us = -1;
  *out_drills = TRUE;
  if (query == NULL)
    return TRUE;
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, query);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (!g_strv_contains (known, key))
      {
        panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                                "unknown parameter \"%.64s\" (kind, since_us, until_us)",
                                (char *) key);
        return FALSE;
      }
  const char *kind = g_hash_table_lookup (query, "kind");
  const char *since = g_hash_table_lookup (query, "since_us");
  const char *until = g_hash_table_lookup (query, "until_us");
  if (kind != NULL && !g_str_equal (kind, "drill") && !g_str_equal (kind, "real"))
    {
      panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request", "kind is drill or real");
      return FALSE;
    }
  if ((since != NULL && !g_ascii_string_to_signed (since, 10, 0, G_MAXINT64, since_us, NULL))
      || (until != NULL && !g_ascii_string_to_signed (until, 10, 0, G_MAXINT64, until_us, NULL)))
    {
      panel_http_send_errorf (msg, SOUP_STATUS_BAD_REQUEST, "bad-request",
                              "since_us and until_us are times in microseconds since 1970");
      return FALSE;
    }
  *out_drills = kind == NULL || g_str_equal (kind, "drill");
  return TRUE;
}

/* What a report request asked for, and whether its rows were cut. */
typedef struct {
  gboolean drills;
  gint64 since, until;
  gboolean truncated;
} ReportRequest;

/* The rows the query asks for, at most MAX_REPORT_ROWS; NULL after
 * answering a bad query or a database error. */
static GPtrArray *
requested_rows (PanelReports *self, SoupServerMessage *msg, GHashTable *query, ReportRequest *r)
{
  if (!report_query (msg, query, &r->drills, &r->since, &r->until))
    return NULL;
  g_autoptr (GPtrArray) rows = report_rows (self->db, r->drills, r->since, r->until, 0);
  if (rows == NULL)
    {
      panel_console_send_db_error (msg, self->db, "reading the report");
      return NULL;
    }
  r->truncated = rows->len > MAX_REPORT_ROWS;
  if (r->truncated)
    g_ptr_array_set_size (rows, MAX_REPORT_ROWS);
  return g_steal_pointer (&rows);
}

static void
send_report (PanelReports *self, SoupServerMessage *msg, GHashTable *query)
{
  ReportRequest asked;
  g_autoptr (GPtrArray) rows = requested_rows (self, msg, query, &asked);
  if (rows == NULL)
    return;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, asked.drills ? "drill" : "real");
  json_builder_set_member_name (b, "site");
  json_builder_add_string_value (b, self->site_name);
  json_builder_set_member_name (b, "truncated");
  json_builder_add_boolean_value (b, asked.truncated);
  json_builder_set_member_name (b, "rows");
  json_builder_begin_array (b);
  for (guint i = 0; i < rows->len; i++)
    add_report_row (b, rows->pdata[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "trends");
  json_builder_begin_object (b);
  add_trend (b, rows, "desk", self->site_name);
  add_trend (b, rows, "site", self->site_name);
  add_trend (b, rows, "month", self->site_name);
  json_builder_end_object (b);
  json_builder_end_object (b);
  panel_console_send_json (msg, SOUP_STATUS_OK, b);
}

/* One CSV field (RFC 4180); a leading = + - @ is neutralised so that a
 * spreadsheet does not run a desk name as a formula. */
void
panel_reports_csv_field (GString *out, const char *text, gboolean last)
{
  if (text == NULL)
    text = "";
  gboolean quote = strpbrk (text, ",\"\r\n") != NULL || strchr ("=+-@", text[0]) != NULL;
  if (quote)
    {
      g_string_append_c (out, '"');
      if (*text != '\0' && strchr ("=+-@", text[0]) != NULL)
        g_string_append_c (out, '\'');
      for (const char *c = text; *c; c++)
        {
          if (*c == '"')
            g_string_append_c (out, '"');
          g_string_append_c (out, *c);
        }
      g_string_append_c (out, '"');
    }
  else
    g_string_append (out, text);
  g_string_append (out, last ? "\r\n" : ",");
}

static char *
iso_time (gboolean has, gint64 us)
{
  if (!has)
    return NULL;
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  if (dt == NULL)
    return NULL;
  g_autofree char *base = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%06" G_GINT64_FORMAT "Z", base, us % G_USEC_PER_SEC);
}

static void
export_report (PanelReports *self, SoupServerMessage *msg, PanelSession *session, GHashTable *query)
{
  ReportRequest asked;
  g_autoptr (GPtrArray) rows = requested_rows (self, msg, query, &asked);
  if (rows == NULL)
    return;
  g_autoptr (GString) csv = g_string_new (NULL);
  static const char *const header[] = { "kind",
                                        "drill",
                                        "desk_id",
                                        "desk_name",
                                        "incident",
                                        "pressed_at",
                                        "alert_received_at",
                                        "shown_at",
                                        "shown_by",
                                        "acknowledged_at",
                                        "acknowledged_by",
                                        "arrived_at",
                                        "arrived_by",
                                        "resolved_at",
                                        "resolved_by",
                                        "press_to_alert_s",
                                        "press_to_shown_s",
                                        "press_to_ack_s",
                                        "press_to_arrival_s",
                                        "press_to_resolved_s",
                                        NULL };
  for (guint i = 0; header[i] != NULL; i++)
    panel_reports_csv_field (csv, header[i], header[i + 1] == NULL);
  for (guint i = 0; i < rows->len; i++)
    {
      ReportRow *r = rows->pdata[i];
      g_autofree char *drill = r->drill_id > 0 ? g_strdup_printf ("%" G_GINT64_FORMAT, r->drill_id)
                                               : NULL;
      g_autofree char *incident =
        r->incident_id > 0 ? g_strdup_printf ("%" G_GINT64_FORMAT, r->incident_id) : NULL;
      panel_reports_csv_field (csv, asked.drills ? "drill" : "real", FALSE);
      panel_reports_csv_field (csv, drill, FALSE);
      panel_reports_csv_field (csv, r->desk_id, FALSE);
      panel_reports_csv_field (csv, r->desk_name, FALSE);
      panel_reports_csv_field (csv, incident, FALSE);
      for (guint s = 0; s < N_STEPS; s++)
        {
          g_autofree char *at = iso_time (r->has[s], r->at[s]);
          panel_reports_csv_field (csv, at, FALSE);
          if (step_by[s] != NULL)
            panel_reports_csv_field (csv, r->by[s], FALSE);
        }
      for (guint s = ALERTED; s < N_STEPS; s++)
        {
          gint64 v;
          g_autofree char *text = row_figure (r, s, &v)
                                    ? g_strdup_printf ("%s%" G_GINT64_FORMAT ".%06" G_GINT64_FORMAT,
                                                       v < 0 ? "-" : "", ABS (v) / G_USEC_PER_SEC,
                                                       ABS (v) % G_USEC_PER_SEC)
                                    : NULL;
          /* numbers are never quoted: bypass the formula guard for "-" */
          if (text != NULL)
            g_string_append (csv, text);
          g_string_append (csv, s + 1 == N_STEPS ? "\r\n" : ",");
        }
    }
  g_autoptr (AnsimJsonBuilder) json = ansim_json_builder_new ();
  ansim_json_builder_add_string (json, "kind", asked.drills ? "drill" : "real");
  ansim_json_builder_add_uint (json, "rows", rows->len);
  ansim_json_builder_add_int (json, "since_us", asked.since);
  ansim_json_builder_add_int (json, "until_us", asked.until);
  g_autofree char *detail = ansim_json_builder_end (json);
  /* No export that the audit log does not show. */
  if (!panel_console_audit_or_fail (self->console, msg, session, PANEL_AUDIT_REPORT_EXPORTED,
                                    asked.drills ? "drill report" : "incident report", detail))
    return;
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  g_autofree char *disposition = g_strdup_printf ("attachment; filename=\"ansim-%s-report.csv\"",
                                                  asked.drills ? "drill" : "incident");
  soup_message_headers_replace (h, "Content-Disposition", disposition);
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/csv; charset=utf-8", SOUP_MEMORY_COPY, csv->str,
                                    csv->len);
}

gboolean
panel_reports_add_drill (sqlite3 *db, JsonBuilder *b, gint64 drill_id)
{
  g_autoptr (GPtrArray) rows = report_rows (db, TRUE, -1, -1, drill_id);
  if (rows == NULL)
    return FALSE;
  for (guint i = 0; i < rows->len; i++)
    add_report_row (b, rows->pdata[i]);
  return TRUE;
}

/* ---- routes ------------------------------------------------------------------ */

static void
handle_report (PanelHttpRequest *req)
{
  send_report (req->user_data, req->msg, req->query);
}

static void
handle_export (PanelHttpRequest *req)
{
  export_report (req->user_data, req->msg, req->session, req->query);
}

static const PanelRoute routes[] = {
  { PANEL_HTTP_GET, "/api/reports", PANEL_CALLER_CONSOLE, READ_ROLES, 0, handle_report },
  { PANEL_HTTP_GET, "/api/reports/export", PANEL_CALLER_CONSOLE, READ_ROLES, 0, handle_export },
};

PanelDrillSite *
panel_drill_site_new (PanelHttp *http, const PanelRoute *site_routes, gsize n_routes, sqlite3 *db,
                      PanelConsole *console, const char *site_name)
{
  PanelDrillSite *self = g_new0 (PanelDrillSite, 1);
  self->db = db;
  self->console = console;
  self->site_name = g_strdup (site_name);
  panel_http_add_routes (http, site_routes, n_routes, self);
  return self;
}

void
panel_drill_site_free (PanelDrillSite *self)
{
  if (self == NULL)
    return;
  g_free (self->site_name);
  g_free (self);
}

PanelReports *
panel_reports_new (PanelHttp *http, sqlite3 *db, PanelConsole *console, const char *site_name)
{
  return panel_drill_site_new (http, routes, G_N_ELEMENTS (routes), db, console, site_name);
}

void
panel_reports_free (PanelReports *self)
{
  panel_drill_site_free (self);
}
