/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the migrations of the panel's database, the site's
 * incident log. Every table and column: docs/schema.md. */

#include "db.h"
#include "segments.h"

/* Same rules as the desk database (docs/schema.md). Times that come from a
 * device keep the device's clock (*_wall_us, *_mono_us); times the panel
 * stamps itself end in _at_us and come from the panel's clock. */

#define HEX64(col)                                                                                 \
  "CHECK (" col " IS NULL OR (length (" col ") = 64 AND " col " NOT GLOB '*[^0-9a-f]*'))"

/* Version 1: the tables. */
static const char panel_v1[] =
  "CREATE TABLE desks (\n"
  "  id   TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),\n"
  "  name TEXT NOT NULL\n"
  ");\n"
  "CREATE TABLE devices (\n"
  "  id             TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),\n"
  "  desk_id        TEXT REFERENCES desks (id),\n"
  "  public_key     BLOB NOT NULL UNIQUE\n"
  "                   CHECK (typeof (public_key) = 'blob' AND length (public_key) = 32),\n"
  "  fingerprint    TEXT NOT NULL UNIQUE CHECK (fingerprint <> ''),\n"
  "  enrolled_at_us INTEGER NOT NULL,\n"
  "  revoked_at_us  INTEGER,\n"
  "  revoke_reason  TEXT,\n"
  "  CHECK ((revoked_at_us IS NULL) = (revoke_reason IS NULL))\n"
  ");\n"
  "CREATE TABLE incidents (\n"
  "  id                 INTEGER PRIMARY KEY,\n"
  "  device_id          TEXT NOT NULL REFERENCES devices (id),\n"
  "  uuid               TEXT NOT NULL CHECK (length (uuid) = 36),\n"
  "  desk_id            TEXT NOT NULL REFERENCES desks (id),\n"
  "  trigger            TEXT NOT NULL,\n"
  "  trigger_kind       TEXT NOT NULL CHECK (trigger_kind IN ('button', 'bodycam')),\n"
  "  opened_wall_us     INTEGER NOT NULL,\n"
  "  opened_mono_us     INTEGER NOT NULL,\n"
  "  alerted_at_us      INTEGER NOT NULL,\n"
  "  closed_wall_us     INTEGER,\n"
  "  closed_mono_us     INTEGER,\n"
  "  close_reason       TEXT CHECK (close_reason IN ('post-event', 'long-press',\n"
  "                       'max-length', 'interrupted', 'shutdown')),\n"
  "  status             TEXT NOT NULL DEFAULT 'open'\n"
  "                       CHECK (status IN ('open', 'acknowledged', 'resolved')),\n"
  "  acknowledged_by    TEXT,\n"
  "  acknowledged_at_us INTEGER,\n"
  "  resolved_by        TEXT,\n"
  "  resolved_at_us     INTEGER,\n"
  "  resolution         TEXT,\n"
  "  is_drill           INTEGER NOT NULL DEFAULT 0 CHECK (is_drill IN (0, 1)),\n"
  "  manifest_hash      TEXT " HEX64 (
    "manifest_hash") ",\n"
                     "  manifest_store_key TEXT,\n"
                     "  manifest_at_us     INTEGER,\n"
                     "  prev_manifest_hash TEXT " HEX64 (
                       "prev_manifest_hash") ",\n"
                                             "  UNIQUE (device_id, uuid),\n"
                                             "  CHECK ((closed_wall_us IS NULL) = (closed_mono_us IS NULL)),\n"
                                             "  CHECK ((closed_wall_us IS NULL) = (close_reason IS NULL)),\n"
                                             "  CHECK ((acknowledged_by IS NULL) = (acknowledged_at_us IS NULL)),\n"
                                             "  CHECK ((resolved_by IS NULL) = (resolved_at_us IS NULL)),\n"
                                             "  CHECK ((status = 'resolved') = (resolved_at_us IS NOT NULL)),\n"
                                             "  CHECK (status <> 'acknowledged' OR acknowledged_at_us IS NOT NULL),\n"
                                             "  CHECK (status <> 'open' OR acknowledged_at_us IS NULL),\n"
                                             "  CHECK ((manifest_hash IS NULL) = (manifest_store_key IS NULL)),\n"
                                             "  CHECK ((manifest_hash IS NULL) = (manifest_at_us IS NULL))\n"
                                             ");\n" ANSIM_SEGMENTS_TABLE (
                                               "  store_key       TEXT,\n"
                                               "  received_at_us  INTEGER,\n",
                                               "  CHECK ((store_key IS NULL) = (received_at_us IS NULL)),\n",
                                               "",
                                               " AND store_key IS NULL") "CREATE TABLE events (\n"
                                                                         "  id              INTEGER PRIMARY KEY AUTOINCREMENT,\n"
                                                                         "  at_wall_us      INTEGER NOT NULL,\n"
                                                                         "  at_mono_us      INTEGER NOT NULL,\n"
                                                                         "  received_at_us  INTEGER,\n"
                                                                         "  device_id       TEXT REFERENCES devices (id),\n"
                                                                         "  device_event_id INTEGER,\n"
                                                                         "  kind            TEXT NOT NULL CHECK (kind <> '' AND kind NOT GLOB '*[^a-z0-9-]*'),\n"
                                                                         "  desk_id         TEXT,\n"
                                                                         "  trigger         TEXT,\n"
                                                                         "  incident_id     INTEGER REFERENCES incidents (id),\n"
                                                                         "  actor           TEXT,\n"
                                                                         "  detail          TEXT CHECK (detail IS NULL OR json_valid (detail)),\n"
                                                                         "  UNIQUE (device_id, device_event_id),\n"
                                                                         "  CHECK ((device_id IS NULL) = (received_at_us IS NULL)),\n"
                                                                         "  CHECK ((device_id IS NULL) = (device_event_id IS NULL))\n"
                                                                         ");\n";

/* Version 2: indexes for the console's and ingest's queries, and the event
 * log made append-only. */
static const char panel_v2[] =
  "CREATE INDEX devices_desk ON devices (desk_id);\n"
  "CREATE INDEX incidents_unresolved ON incidents (status, alerted_at_us)\n"
  "  WHERE status <> 'resolved';\n"
  "CREATE INDEX incidents_desk ON incidents (desk_id, opened_wall_us);\n"
  "CREATE INDEX incidents_alerted ON incidents (alerted_at_us);\n"
  "CREATE INDEX events_incident ON events (incident_id) WHERE incident_id IS NOT NULL;\n"
  "CREATE TRIGGER events_no_update BEFORE UPDATE ON events\n"
  "BEGIN SELECT RAISE (ABORT, 'events are append-only'); END;\n"
  "CREATE TRIGGER events_no_delete BEFORE DELETE ON events\n"
  "BEGIN SELECT RAISE (ABORT, 'events are append-only'); END;\n";

/* Version 3: enrollment codes, the nonce cache against replayed device
 * requests, and the devices' last heartbeat. */
static const char panel_v3[] =
  "CREATE TABLE enrollment_codes (\n"
  "  code_sha256   TEXT NOT NULL PRIMARY KEY " HEX64 (
    "code_sha256") ",\n"
                   "  device_id     TEXT NOT NULL CHECK (device_id <> ''),\n"
                   "  desk_id       TEXT,\n"
                   "  created_at_us INTEGER NOT NULL,\n"
                   "  expires_at_us INTEGER NOT NULL,\n"
                   "  used_at_us    INTEGER,\n"
                   "  CHECK (expires_at_us > created_at_us)\n"
                   ");\n"
                   "CREATE TABLE request_nonces (\n"
                   "  device_id  TEXT NOT NULL REFERENCES devices (id),\n"
                   "  nonce      TEXT NOT NULL CHECK (length (nonce) BETWEEN 16 AND 64),\n"
                   "  seen_at_us INTEGER NOT NULL,\n"
                   "  PRIMARY KEY (device_id, nonce)\n"
                   ") WITHOUT ROWID;\n"
                   "CREATE INDEX request_nonces_seen ON request_nonces (seen_at_us);\n"
                   "ALTER TABLE devices ADD COLUMN last_seen_at_us INTEGER;\n"
                   "ALTER TABLE devices ADD COLUMN heartbeat TEXT\n"
                   "  CHECK (heartbeat IS NULL OR json_valid (heartbeat));\n";

/* Version 4: people and the audit log. Sessions keep only the SHA-256 of
 * their cookie token, so a copy of the database cannot be used to log in. */
static const char panel_v4[] =
  "CREATE TABLE users (\n"
  "  name                   TEXT NOT NULL PRIMARY KEY\n"
  "                           CHECK (length (name) BETWEEN 1 AND 64\n"
  "                                  AND name NOT GLOB '*[^a-z0-9._-]*'),\n"
  "  role                   TEXT NOT NULL\n"
  "                           CHECK (role IN ('security', 'trainer', 'admin', 'auditor')),\n"
  "  password_hash          TEXT NOT NULL CHECK (password_hash GLOB '$scrypt$*'),\n"
  "  created_at_us          INTEGER NOT NULL,\n"
  "  password_changed_at_us INTEGER NOT NULL,\n"
  "  disabled_at_us         INTEGER\n"
  ");\n"
  "CREATE TABLE sessions (\n"
  "  token_sha256  TEXT NOT NULL PRIMARY KEY " HEX64 (
    "token_sha256") ",\n"
                    "  user_name     TEXT NOT NULL REFERENCES users (name),\n"
                    "  csrf_token    TEXT NOT NULL CHECK (length (csrf_token) >= 32),\n"
                    "  client        TEXT,\n"
                    "  created_at_us INTEGER NOT NULL,\n"
                    "  expires_at_us INTEGER NOT NULL CHECK (expires_at_us > created_at_us),\n"
                    "  ended_at_us   INTEGER\n"
                    ");\n"
                    "CREATE INDEX sessions_user ON sessions (user_name);\n"
                    "CREATE TABLE audit_log (\n"
                    "  id        INTEGER PRIMARY KEY AUTOINCREMENT,\n"
                    "  at_us     INTEGER NOT NULL,\n"
                    "  actor     TEXT,\n"
                    "  role      TEXT,\n"
                    "  client    TEXT,\n"
                    "  action    TEXT NOT NULL CHECK (action <> '' AND action NOT GLOB '*[^a-z0-9-]*'),\n"
                    "  target    TEXT,\n"
                    "  detail    TEXT CHECK (detail IS NULL OR json_valid (detail)),\n"
                    "  prev_hash TEXT NOT NULL " HEX64 (
                      "prev_hash") ",\n"
                                   "  hash      TEXT NOT NULL UNIQUE " HEX64 (
                                     "hash") "\n"
                                             ");\n"
                                             "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log\n"
                                             "BEGIN SELECT RAISE (ABORT, 'the audit log is append-only'); END;\n"
                                             "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log\n"
                                             "BEGIN SELECT RAISE (ABORT, 'the audit log is append-only'); END;\n";

/* Version 5: retention. The policy's per-category periods (rows override
 * the embedded defaults), legal holds, the lock date the store's objects
 * carry, and the purge's crash-safe mark: once purge_started_at_us is set
 * no hold can be placed (the purge may have deleted objects already), and
 * a held incident cannot be marked. Only a marked incident's events may be
 * deleted, by the purge. */
static const char panel_v5[] =
  "CREATE TABLE retention_policy (\n"
  "  category      TEXT NOT NULL PRIMARY KEY\n"
  "                  CHECK (category IN ('drill', 'incident', 'verbal-abuse', 'threat',\n"
  "                         'assault', 'property-damage', 'medical', 'false-alarm', 'other')),\n"
  "  days          INTEGER NOT NULL CHECK (days BETWEEN 1 AND 3650),\n"
  "  changed_by    TEXT,\n"
  "  changed_at_us INTEGER NOT NULL\n"
  ");\n"
  "ALTER TABLE incidents ADD COLUMN legal_hold_at_us INTEGER;\n"
  "ALTER TABLE incidents ADD COLUMN legal_hold_by TEXT\n"
  "  CHECK ((legal_hold_by IS NULL) = (legal_hold_at_us IS NULL));\n"
  "ALTER TABLE incidents ADD COLUMN legal_hold_reason TEXT\n"
  "  CHECK ((legal_hold_reason IS NULL) = (legal_hold_at_us IS NULL)\n"
  "         AND (legal_hold_reason IS NULL OR length (legal_hold_reason) > 0));\n"
  "ALTER TABLE incidents ADD COLUMN locked_until_us INTEGER;\n"
  "ALTER TABLE incidents ADD COLUMN purge_started_at_us INTEGER\n"
  "  CHECK (purge_started_at_us IS NULL OR legal_hold_at_us IS NULL);\n"
  "CREATE INDEX incidents_purging ON incidents (purge_started_at_us)\n"
  "  WHERE purge_started_at_us IS NOT NULL;\n"
  "DROP TRIGGER events_no_delete;\n"
  "CREATE TRIGGER events_no_delete BEFORE DELETE ON events\n"
  "  WHEN OLD.incident_id IS NULL\n"
  "    OR (SELECT purge_started_at_us FROM incidents WHERE id = OLD.incident_id) IS NULL\n"
  "BEGIN SELECT RAISE (ABORT, 'events are append-only'); END;\n";

/* Version 6: drills (모의훈련). A trainer arms a drill for desks and a time
 * window; ingest ties the first press of each armed desk inside the window
 * to it (drill_desks.incident_id) and marks that incident is_drill. The
 * schedule says how often each desk (or the whole site) should be drilled. */
static const char panel_v6[] =
  "CREATE TABLE drills (\n"
  "  id              INTEGER PRIMARY KEY,\n"
  "  armed_by        TEXT NOT NULL,\n"
  "  armed_at_us     INTEGER NOT NULL,\n"
  "  window_start_us INTEGER NOT NULL,\n"
  "  window_end_us   INTEGER NOT NULL,\n"
  "  note            TEXT,\n"
  "  ended_by        TEXT,\n"
  "  ended_at_us     INTEGER,\n"
  "  CHECK (window_end_us > window_start_us),\n"
  "  CHECK ((ended_by IS NULL) = (ended_at_us IS NULL))\n"
  ");\n"
  "CREATE TABLE drill_desks (\n"
  "  drill_id      INTEGER NOT NULL REFERENCES drills (id),\n"
  "  desk_id       TEXT NOT NULL REFERENCES desks (id),\n"
  "  incident_id   INTEGER UNIQUE REFERENCES incidents (id),\n"
  "  arrived_by    TEXT,\n"
  "  arrived_at_us INTEGER,\n"
  "  PRIMARY KEY (drill_id, desk_id),\n"
  "  CHECK ((arrived_by IS NULL) = (arrived_at_us IS NULL)),\n"
  "  CHECK (arrived_at_us IS NULL OR incident_id IS NOT NULL)\n"
  ");\n"
  "CREATE INDEX drill_desks_waiting ON drill_desks (desk_id) WHERE incident_id IS NULL;\n"
  "CREATE TABLE drill_schedules (\n"
  "  id            INTEGER PRIMARY KEY,\n"
  "  desk_id       TEXT REFERENCES desks (id),\n"
  "  every_days    INTEGER NOT NULL CHECK (every_days BETWEEN 1 AND 3660),\n"
  "  created_by    TEXT NOT NULL,\n"
  "  created_at_us INTEGER NOT NULL,\n"
  "  UNIQUE (desk_id)\n"
  ");\n"
  "CREATE INDEX events_alert_shown ON events (incident_id) WHERE kind = 'alert-shown';\n";

/* Version 7: the webhook outbox. One row per (webhook, event), written in
 * the transaction of the change that caused it; delivered in id order per
 * webhook. A row ends delivered (time and HTTP status) or given up (time
 * and last error), never both; pending rows carry their next attempt. No
 * reference to incidents: the purge may delete an incident whose
 * notification stays in this list. */
static const char panel_v7[] =
  "CREATE TABLE webhook_deliveries (\n"
  "  id                 INTEGER PRIMARY KEY,\n"
  "  webhook            TEXT NOT NULL CHECK (webhook <> ''),\n"
  "  event              TEXT NOT NULL CHECK (event <> '' AND event NOT GLOB '*[^a-z-]*'),\n"
  "  delivery_id        TEXT NOT NULL UNIQUE CHECK (length (delivery_id) = 36),\n"
  "  body               TEXT NOT NULL CHECK (json_valid (body)),\n"
  "  created_at_us      INTEGER NOT NULL,\n"
  "  attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),\n"
  "  next_attempt_at_us INTEGER NOT NULL,\n"
  "  last_attempt_at_us INTEGER,\n"
  "  last_status        INTEGER,\n"
  "  last_error         TEXT,\n"
  "  delivered_at_us    INTEGER,\n"
  "  gave_up_at_us      INTEGER,\n"
  "  CHECK (delivered_at_us IS NULL OR gave_up_at_us IS NULL),\n"
  "  CHECK (delivered_at_us IS NULL OR last_status BETWEEN 200 AND 299)\n"
  ");\n"
  "CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook, id)\n"
  "  WHERE delivered_at_us IS NULL AND gave_up_at_us IS NULL;\n"
  "CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at_us);\n";
/* Version 8: the push channel to the desks (docs/protocol.md, "Channel"). A message
 * is written in the same transaction as the change that causes it; seq
 * never goes back (AUTOINCREMENT), so a desk's "after" stays meaningful
 * when old messages expire. */
static const char panel_v8[] =
  "CREATE TABLE channel_messages (\n"
  "  seq         INTEGER PRIMARY KEY AUTOINCREMENT,\n"
  "  device_id   TEXT NOT NULL REFERENCES devices (id),\n"
  "  kind        TEXT NOT NULL CHECK (kind IN ('acknowledged', 'resolved', 'police-bell')),\n"
  "  incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,\n"
  "  reason      TEXT CHECK ((reason IS NULL) = (kind <> 'police-bell')),\n"
  "  at_us       INTEGER NOT NULL\n"
  ");\n"
  "CREATE INDEX channel_messages_device ON channel_messages (device_id, seq);\n"
  "CREATE INDEX channel_messages_at ON channel_messages (at_us);\n";

/* Version 9: the alarm loop. One press on a desk with several sources
 * opens one incident per source; alert_id ties them to the first one
 * (itself for a lone incident; a plain number, not a reference, since
 * retention may purge one incident of an alert before another), and acknowledge and resolve act on the
 * whole alert while each incident stays its own evidence. source is the
 * camera the incident recorded. escalated_at_us is set once an alert went
 * unacknowledged for escalate_after_s. device_alerts are the 장치 이상
 * alerts (an offline desk), acknowledged apart from incidents; one stays
 * listed until it is both acknowledged and cleared. */
static const char panel_v9[] =
  "ALTER TABLE incidents ADD COLUMN alert_id INTEGER;\n"
  "ALTER TABLE incidents ADD COLUMN source TEXT;\n"
  "ALTER TABLE incidents ADD COLUMN escalated_at_us INTEGER;\n"
  "UPDATE incidents SET alert_id = id;\n"
  "CREATE INDEX incidents_alert ON incidents (alert_id);\n"
  "CREATE INDEX incidents_press ON incidents (device_id, trigger, opened_mono_us);\n"
  "CREATE TABLE device_alerts (\n"
  "  id                 INTEGER PRIMARY KEY,\n"
  "  device_id          TEXT NOT NULL REFERENCES devices (id),\n"
  "  desk_id            TEXT,\n"
  "  kind               TEXT NOT NULL CHECK (kind IN ('device-offline', 'path-down')),\n"
  "  raised_at_us       INTEGER NOT NULL,\n"
  "  cleared_at_us      INTEGER,\n"
  "  acknowledged_by    TEXT,\n"
  "  acknowledged_at_us INTEGER,\n"
  "  CHECK ((acknowledged_by IS NULL) = (acknowledged_at_us IS NULL))\n"
  ");\n"
  "CREATE INDEX device_alerts_listed ON device_alerts (device_id)\n"
  "  WHERE cleared_at_us IS NULL OR acknowledged_at_us IS NULL;\n";

/* Playback served but not yet in the audit log (panel/playback.c): one row
 * per (session, incident), written before a byte is served and turned
 * into one audit entry when the viewing ends. */
static const char panel_v_playback[] = "CREATE TABLE playback_pending (\n"
                                       "  session_sha256 TEXT NOT NULL,\n"
                                       "  incident_id    INTEGER NOT NULL,\n"
                                       "  user           TEXT NOT NULL,\n"
                                       "  role           TEXT NOT NULL,\n"
                                       "  client         TEXT,\n"
                                       "  first_us       INTEGER NOT NULL,\n"
                                       "  last_us        INTEGER NOT NULL,\n"
                                       "  segments       TEXT NOT NULL,\n"
                                       "  requests       INTEGER NOT NULL,\n"
                                       "  bytes          INTEGER NOT NULL,\n"
                                       "  PRIMARY KEY (session_sha256, incident_id)\n"
                                       ");\n";

/* Staff protection: login_unlocked_at_us is when `ansimctl user unlock`
 * last cleared the user's login back-off (the panel forgets every failure
 * of that user before it); the two indexes serve the audit page's
 * filters by action and actor. */
static const char panel_staff[] = "ALTER TABLE users ADD COLUMN login_unlocked_at_us INTEGER;\n"
                                  "CREATE INDEX audit_log_action ON audit_log (action, id);\n"
                                  "CREATE INDEX audit_log_actor ON audit_log (actor, id);\n";


/* Four eyes: releasing a legal hold, or shortening the retention period
 * of a category that holds held incidents, waits for a second
 * administrator. One row per request; the CHECKs keep the requester from
 * deciding it (but withdrawing it) even for someone writing SQL. */
static const char panel_approvals[] =
  "CREATE TABLE approvals (\n"
  "  id              INTEGER PRIMARY KEY,\n"
  "  action          TEXT NOT NULL CHECK (action IN ('legal-hold-release', 'retention-shorten')),\n"
  "  incident_id     INTEGER REFERENCES incidents (id) ON DELETE CASCADE,\n"
  "  request         TEXT CHECK (request IS NULL OR json_valid (request)),\n"
  "  reason          TEXT NOT NULL CHECK (reason <> ''),\n"
  "  requested_by    TEXT NOT NULL CHECK (requested_by <> ''),\n"
  "  requested_at_us INTEGER NOT NULL,\n"
  "  decision        TEXT CHECK (decision IN ('approved', 'rejected', 'withdrawn')),\n"
  "  decided_by      TEXT,\n"
  "  decided_at_us   INTEGER,\n"
  "  CHECK ((action = 'legal-hold-release') = (incident_id IS NOT NULL)),\n"
  "  CHECK ((action = 'retention-shorten') = (request IS NOT NULL)),\n"
  "  CHECK ((decision IS NULL) = (decided_by IS NULL)\n"
  "         AND (decision IS NULL) = (decided_at_us IS NULL)),\n"
  "  CHECK (decision IS NULL OR (decision = 'withdrawn') = (decided_by = requested_by))\n"
  ");\n"
  "CREATE UNIQUE INDEX approvals_one_open ON approvals (action, incident_id)\n"
  "  WHERE decision IS NULL;\n";

/* The disclosure register (개인영상정보 제공 관리대장): one row per exported
 * package, with who received it, why and on what legal basis. incident_id
 * is a plain number, not a reference: the register outlives the footage
 * (retention purges the incident, never its disclosures). Append-only. */
static const char panel_disclosures[] =
  "CREATE TABLE disclosures (\n"
  "  id             INTEGER PRIMARY KEY,\n"
  "  at_us          INTEGER NOT NULL,\n"
  "  incident_id    INTEGER NOT NULL,\n"
  "  incident_uuid  TEXT NOT NULL,\n"
  "  desk_id        TEXT NOT NULL,\n"
  "  exported_by    TEXT NOT NULL,\n"
  "  recipient      TEXT NOT NULL CHECK (trim (recipient) <> ''),\n"
  "  purpose        TEXT NOT NULL CHECK (trim (purpose) <> ''),\n"
  "  legal_basis    TEXT NOT NULL CHECK (trim (legal_basis) <> ''),\n"
  "  media          INTEGER NOT NULL CHECK (media IN (0, 1)),\n"
  "  footage_from_us  INTEGER,\n"
  "  footage_until_us INTEGER,\n"
  "  package_sha256 TEXT NOT NULL CHECK (length (package_sha256) = 64\n"
  "                   AND package_sha256 NOT GLOB '*[^0-9a-f]*'),\n"
  "  size           INTEGER NOT NULL,\n"
  "  verification   TEXT NOT NULL\n"
  ");\n"
  "CREATE INDEX disclosures_incident ON disclosures (incident_id);\n"
  "CREATE TRIGGER disclosures_no_update BEFORE UPDATE ON disclosures\n"
  "BEGIN SELECT RAISE (ABORT, 'the disclosure register is append-only'); END;\n"
  "CREATE TRIGGER disclosures_no_delete BEFORE DELETE ON disclosures\n"
  "BEGIN SELECT RAISE (ABORT, 'the disclosure register is append-only'); END;\n";

/* The desk's offset to the panel's clock as the incident's latest
 * manifest recorded it (docs/evidence-format.md, "Desk clock"): JSON
 * {"at_open", "at_close"}, each null (never measured) or {offset_us,
 * bound_us, measured_wall_us}; NULL: the manifest did not say. */
static const char panel_desk_clock[] = "ALTER TABLE incidents ADD COLUMN desk_clock TEXT\n"
                                       "  CHECK (desk_clock IS NULL OR json_valid (desk_clock));\n";

/* Evidence format version 3: the signed checkpoints a desk sends per
 * sealed segment instead of the whole manifest (docs/protocol.md,
 * "Checkpoints"). Each row is the exact signed text and its signature, and
 * what the panel checked in it; sequence runs 0, 1, 2, ... without a gap
 * per incident, and each row's previous is the sha256 of the row before. */
static const char panel_checkpoints[] =
  "CREATE TABLE incident_checkpoints (\n"
  "  incident_id    INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,\n"
  "  sequence       INTEGER NOT NULL CHECK (sequence >= 0),\n"
  "  text           BLOB NOT NULL,\n"
  "  signature      BLOB NOT NULL CHECK (length (signature) = 64),\n"
  "  sha256         TEXT NOT NULL CHECK (length (sha256) = 64),\n"
  "  header_sha256  TEXT NOT NULL CHECK (length (header_sha256) = 64),\n"
  "  entries        INTEGER NOT NULL CHECK (entries >= 0),\n"
  "  head           TEXT NOT NULL CHECK (length (head) = 64),\n"
  "  received_at_us INTEGER NOT NULL,\n"
  "  PRIMARY KEY (incident_id, sequence)\n"
  ");\n";

static const char *const panel_migrations[] = {
  panel_v1,    panel_v2,        panel_v3,          panel_v4,         panel_v5,
  panel_v6,    panel_v7,        panel_v8,          panel_v9,         panel_v_playback,
  panel_staff, panel_approvals, panel_disclosures, panel_desk_clock, panel_checkpoints,
};

const AnsimDbSchema ansim_panel_db_schema = {
  .name = "panel",
  .migrations = panel_migrations,
  .n_migrations = G_N_ELEMENTS (panel_migrations),
  .application_id = 0x414e5350, /* "ANSP" */
};
