/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's audit log: append-only, hash-chained rows in panel.db. Every
 * login, logout, user change, setting change, view, playback, export,
 * acknowledgement and resolution is written here. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* Action names in use (lowercase words and '-'; the table refuses others). */
#define PANEL_AUDIT_LOGIN "login"
#define PANEL_AUDIT_LOGIN_FAILED "login-failed"
#define PANEL_AUDIT_LOGOUT "logout"
#define PANEL_AUDIT_SESSION_RENEWED "session-renewed"
#define PANEL_AUDIT_USER_ADDED "user-added"
#define PANEL_AUDIT_USER_CHANGED "user-changed"
#define PANEL_AUDIT_SETTING_CHANGED "setting-changed"
#define PANEL_AUDIT_AUDIT_EXPORTED "audit-exported"
#define PANEL_AUDIT_INCIDENT_VIEWED "incident-viewed"
#define PANEL_AUDIT_PLAYBACK "playback"
#define PANEL_AUDIT_EXPORT "export"
#define PANEL_AUDIT_ACKNOWLEDGED "acknowledged"
#define PANEL_AUDIT_RESOLVED "resolved"
#define PANEL_AUDIT_INCIDENT_ANNOTATED "incident-annotated"
#define PANEL_AUDIT_LEGAL_HOLD_SET "legal-hold-set"
#define PANEL_AUDIT_LEGAL_HOLD_RELEASED "legal-hold-released"
/* Four eyes: the first administrator's request, and its other ends. */
#define PANEL_AUDIT_LEGAL_HOLD_RELEASE_REQUESTED "legal-hold-release-requested"
#define PANEL_AUDIT_LEGAL_HOLD_RELEASE_REJECTED "legal-hold-release-rejected"
#define PANEL_AUDIT_LEGAL_HOLD_RELEASE_WITHDRAWN "legal-hold-release-withdrawn"
/* Four eyes on shortening the period of a category with held incidents. */
#define PANEL_AUDIT_RETENTION_SHORTEN_REQUESTED "retention-shorten-requested"
#define PANEL_AUDIT_RETENTION_SHORTEN_APPROVED "retention-shorten-approved"
#define PANEL_AUDIT_RETENTION_SHORTEN_REJECTED "retention-shorten-rejected"
#define PANEL_AUDIT_RETENTION_SHORTEN_WITHDRAWN "retention-shorten-withdrawn"
#define PANEL_AUDIT_INCIDENT_PURGED "incident-purged"
#define PANEL_AUDIT_DRILL_ARMED "drill-armed"
#define PANEL_AUDIT_DRILL_ARRIVAL "drill-arrival"
#define PANEL_AUDIT_DRILL_ENDED "drill-ended"
#define PANEL_AUDIT_DRILL_UNTAGGED "drill-untagged"
#define PANEL_AUDIT_DRILL_SCHEDULE_SET "drill-schedule-set"
#define PANEL_AUDIT_DRILL_SCHEDULE_REMOVED "drill-schedule-removed"
#define PANEL_AUDIT_REPORT_EXPORTED "report-exported"
/* Staff protection and device identity. */
#define PANEL_AUDIT_LOGIN_THROTTLED "login-throttled" /* refused tries, counted per window */
#define PANEL_AUDIT_ENROLLMENT_CODE_CREATED "enrollment-code-created"
#define PANEL_AUDIT_DEVICE_ENROLLED "device-enrolled"
#define PANEL_AUDIT_ENROLLMENT_REFUSED "enrollment-refused"
#define PANEL_AUDIT_ENROLLMENT_THROTTLED "enrollment-throttled" /* counted per window */
#define PANEL_AUDIT_DEVICE_REVOKED "device-revoked"
#define PANEL_AUDIT_DEVICE_WRONG_DESK "device-wrong-desk" /* a request for another desk */
#define PANEL_AUDIT_REGISTER_EXPORTED "register-exported"

/* The hash every chain starts from. */
#define PANEL_AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* Append one entry stamped with the panel's clock. actor: the user name
 * (or "ansimctl:UNIXUSER"), role and client (remote address) may be NULL;
 * target names what was acted on ("incident 12", "user kim"); detail_json
 * is a JSON object or NULL. Inside a write transaction (ansim_db_begin) it
 * becomes part of it; otherwise it runs in its own. */
gboolean panel_audit_append (sqlite3 *db, const char *actor, const char *role, const char *client,
                             const char *action, const char *target, const char *detail_json,
                             GError **error);

/* The hash of an entry: SHA-256 (hex) of its canonical content chained to
 * prev_hash (the format is in docs/schema.md). */
char *panel_audit_entry_hash (const char *prev_hash, gint64 id, gint64 at_us, const char *actor,
                              const char *role, const char *client, const char *action,
                              const char *target, const char *detail);

/* Recompute the whole chain. Returns FALSE only when the log cannot be
 * read. *out_problem is NULL when intact, else one line naming the first
 * broken link ("entry 17: ..."); *out_n_entries is the number checked. */
gboolean panel_audit_verify (sqlite3 *db, gint64 *out_n_entries, char **out_problem,
                             GError **error);

/* What the audit page filters by; zero members match everything. */
typedef struct {
  const char *actor;  /* exactly this user (or "ansimctl:..." / "device ...") */
  const char *action; /* exactly this action */
  gint64 incident_id; /* entries whose target is "incident N" (or "incident N ...") */
  gint64 from_us;     /* at_us >= from_us */
  gint64 to_us;       /* at_us < to_us */
} PanelAuditFilter;

/* Entries with id < before_id (0: from the newest) that pass filter (may
 * be NULL), newest first, at most limit, as a JSON array of objects. */
JsonNode *panel_audit_list (sqlite3 *db, gint64 before_id, guint limit,
                            const PanelAuditFilter *filter, GError **error);
/* Entries with after_id < id <= until_id, oldest first, at most
 * max_entries, appended to out as JSON lines: how an export is streamed in
 * bounded pieces. *out_last_id: the last id appended (after_id if none). */
gboolean panel_audit_export_batch (sqlite3 *db, gint64 after_id, gint64 until_id, guint max_entries,
                                   GString *out, gint64 *out_last_id, GError **error);
/* The newest id (0 for an empty log). */
gboolean panel_audit_last_id (sqlite3 *db, gint64 *out_id, GError **error);
/* Every entry, oldest first, one JSON object per line (small logs, tests). */
char *panel_audit_export_jsonl (sqlite3 *db, GError **error);

G_END_DECLS
