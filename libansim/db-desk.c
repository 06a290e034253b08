/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the migrations of the desk database, shared by
 * ansim-recorder and ansim-uploader. Every table and column: docs/schema.md. */

#include "db.h"
#include "segments.h"

/* Rules (docs/schema.md): append only; never edit a migration that was
 * released; no BEGIN/COMMIT or PRAGMA foreign_keys inside a script; every
 * *_us column is microseconds, *_mono_us on CLOCK_MONOTONIC, the others UTC
 * wall clock since the epoch. */

/* A lowercase hex SHA-256, or NULL. */
#define HEX64(col)                                                                                 \
  "CHECK (" col " IS NULL OR (length (" col ") = 64 AND " col " NOT GLOB '*[^0-9a-f]*'))"

/* Version 1: the tables. */
static const char desk_v1[] =
  "CREATE TABLE desks (\n"
  "  id   TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),\n"
  "  name TEXT NOT NULL\n"
  ");\n"
  "CREATE TABLE triggers (\n"
  "  desk_id TEXT NOT NULL REFERENCES desks (id) ON DELETE CASCADE,\n"
  "  name    TEXT NOT NULL CHECK (name <> ''),\n"
  "  kind    TEXT NOT NULL CHECK (kind IN ('button', 'bodycam')),\n"
  "  input   TEXT NOT NULL CHECK (input IN ('gpio', 'evdev', 'simulated')),\n"
  "  PRIMARY KEY (desk_id, name)\n"
  ");\n"
  "CREATE TABLE incidents (\n"
  "  id                 INTEGER PRIMARY KEY,\n"
  "  uuid               TEXT NOT NULL UNIQUE CHECK (length (uuid) = 36),\n"
  "  desk_id            TEXT NOT NULL REFERENCES desks (id),\n"
  "  trigger            TEXT NOT NULL,\n"
  "  trigger_kind       TEXT NOT NULL CHECK (trigger_kind IN ('button', 'bodycam')),\n"
  "  opened_wall_us     INTEGER NOT NULL,\n"
  "  opened_mono_us     INTEGER NOT NULL,\n"
  "  closed_wall_us     INTEGER,\n"
  "  closed_mono_us     INTEGER,\n"
  "  close_reason       TEXT CHECK (close_reason IN ('post-event', 'long-press',\n"
  "                       'max-length', 'interrupted', 'shutdown')),\n"
  "  is_drill           INTEGER NOT NULL DEFAULT 0 CHECK (is_drill IN (0, 1)),\n"
  "  manifest_hash      TEXT " HEX64 (
    "manifest_hash") ",\n"
                     "  prev_manifest_hash TEXT " HEX64 (
                       "prev_manifest_hash") ",\n"
                                             "  CHECK ((closed_wall_us IS NULL) = (closed_mono_us IS NULL)),\n"
                                             "  CHECK ((closed_wall_us IS NULL) = (close_reason IS NULL))\n"
                                             ");\n" ANSIM_SEGMENTS_TABLE (
                                               "  spool_path      TEXT,\n"
                                               "  sealed_at_us    INTEGER NOT NULL,\n",
                                               "", " AND spool_path IS NOT NULL",
                                               " AND spool_path IS NULL") "CREATE TABLE events (\n"
                                                                          "  id          INTEGER PRIMARY KEY AUTOINCREMENT,\n"
                                                                          "  at_wall_us  INTEGER NOT NULL,\n"
                                                                          "  at_mono_us  INTEGER NOT NULL,\n"
                                                                          "  kind        TEXT NOT NULL CHECK (kind <> '' AND kind NOT GLOB '*[^a-z0-9-]*'),\n"
                                                                          "  desk_id     TEXT,\n"
                                                                          "  trigger     TEXT,\n"
                                                                          "  incident_id INTEGER REFERENCES incidents (id),\n"
                                                                          "  detail      TEXT CHECK (detail IS NULL OR json_valid (detail))\n"
                                                                          ");\n"
                                                                          "CREATE TABLE outbox (\n"
                                                                          "  id                 INTEGER PRIMARY KEY AUTOINCREMENT,\n"
                                                                          "  class              INTEGER NOT NULL CHECK (class IN (0, 1, 2, 3)),\n"
                                                                          "  incident_id        INTEGER REFERENCES incidents (id),\n"
                                                                          "  segment_idx        INTEGER,\n"
                                                                          "  event_id           INTEGER REFERENCES events (id),\n"
                                                                          "  path               TEXT,\n"
                                                                          "  created_at_us      INTEGER NOT NULL,\n"
                                                                          "  attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),\n"
                                                                          "  next_attempt_at_us INTEGER NOT NULL DEFAULT 0,\n"
                                                                          "  last_error         TEXT,\n"
                                                                          "  confirmed_at_us    INTEGER,\n"
                                                                          "  deleted_at_us      INTEGER,\n"
                                                                          "  FOREIGN KEY (incident_id, segment_idx) REFERENCES segments (incident_id, idx),\n"
                                                                          /* the desk never deletes what the panel has not confirmed */
                                                                          "  CHECK (deleted_at_us IS NULL OR (confirmed_at_us IS NOT NULL AND path IS NOT NULL)),\n"
                                                                          "  CHECK (CASE class\n"
                                                                          "    WHEN 0 THEN incident_id IS NOT NULL AND segment_idx IS NULL AND event_id IS NULL\n"
                                                                          "    WHEN 1 THEN event_id IS NOT NULL AND segment_idx IS NULL\n"
                                                                          "    WHEN 2 THEN incident_id IS NOT NULL AND segment_idx IS NULL AND event_id IS NULL\n"
                                                                          "      AND path IS NOT NULL\n"
                                                                          "    WHEN 3 THEN incident_id IS NOT NULL AND segment_idx IS NOT NULL AND event_id IS NULL\n"
                                                                          "      AND path IS NOT NULL\n"
                                                                          "  END)\n"
                                                                          ");\n";

/* Version 2: indexes for the daemons' queries, and the event log made
 * append-only. */
static const char desk_v2[] =
  /* the uploader's "next item to send": ORDER BY class, id over pending rows */
  "CREATE INDEX outbox_next ON outbox (class, id) WHERE confirmed_at_us IS NULL;\n"
  /* confirmed files whose local copy may go once the keep period is over */
  "CREATE INDEX outbox_to_delete ON outbox (confirmed_at_us)\n"
  "  WHERE deleted_at_us IS NULL AND path IS NOT NULL;\n"
  "CREATE INDEX outbox_incident ON outbox (incident_id, segment_idx);\n"
  "CREATE UNIQUE INDEX outbox_one_per_segment ON outbox (incident_id, segment_idx)\n"
  "  WHERE class = 3;\n"
  "CREATE INDEX outbox_event ON outbox (event_id) WHERE event_id IS NOT NULL;\n"
  /* incidents left open by a crash, closed as 'interrupted' at start */
  "CREATE INDEX incidents_open ON incidents (desk_id) WHERE closed_wall_us IS NULL;\n"
  "CREATE INDEX incidents_desk ON incidents (desk_id, opened_wall_us);\n"
  "CREATE INDEX events_incident ON events (incident_id) WHERE incident_id IS NOT NULL;\n"
  "CREATE TRIGGER events_no_update BEFORE UPDATE ON events\n"
  "BEGIN SELECT RAISE (ABORT, 'events are append-only'); END;\n"
  "CREATE TRIGGER events_no_delete BEFORE DELETE ON events\n"
  "BEGIN SELECT RAISE (ABORT, 'events are append-only'); END;\n";

/* Version 3: where the uploader's channel to the panel has got to, per
 * panel, so no message is missed or acted on twice across restarts. */
static const char desk_v3[] = "CREATE TABLE channel_state (\n"
                              "  panel_url     TEXT NOT NULL PRIMARY KEY CHECK (panel_url <> ''),\n"
                              "  after_seq     INTEGER NOT NULL CHECK (after_seq >= 0),\n"
                              "  updated_at_us INTEGER NOT NULL\n"
                              ");\n";

/* Signed notes from the panel (docs/receipts.md): audit checkpoints (one
 * per audit log length, subject the entry count) and chain-head receipts
 * (one per final manifest, subject "DEVICE SOURCE HEAD"). Kept as
 * received; they are evidence against the panel, so never rewritten. */
static const char desk_panel_notes[] =
  "CREATE TABLE panel_notes (\n"
  "  id             INTEGER PRIMARY KEY,\n"
  "  kind           TEXT NOT NULL CHECK (kind IN ('audit-checkpoint', 'chain-receipt')),\n"
  "  subject        TEXT NOT NULL CHECK (subject <> ''),\n"
  "  note           TEXT NOT NULL CHECK (length (note) BETWEEN 1 AND 4096),\n"
  "  received_at_us INTEGER NOT NULL,\n"
  "  UNIQUE (kind, subject)\n"
  ");\n"
  "CREATE TRIGGER panel_notes_no_update BEFORE UPDATE ON panel_notes\n"
  "BEGIN SELECT RAISE (ABORT, 'panel notes are kept as received'); END;\n";

/* The desk's offset to the panel's clock as the uploader last measured
 * it (libansim/desk-clock.h): one row. */
static const char desk_clock[] = "CREATE TABLE desk_clock (\n"
                                 "  id               INTEGER PRIMARY KEY CHECK (id = 1),\n"
                                 "  panel_url        TEXT NOT NULL,\n"
                                 "  offset_us        INTEGER NOT NULL,\n"
                                 "  bound_us         INTEGER NOT NULL CHECK (bound_us >= 0),\n"
                                 "  measured_wall_us INTEGER NOT NULL\n"
                                 ");\n";

static const char *const desk_migrations[] = {
  desk_v1, desk_v2, desk_v3, desk_panel_notes, desk_clock,
};

const AnsimDbSchema ansim_desk_db_schema = {
  .name = "desk",
  .migrations = desk_migrations,
  .n_migrations = G_N_ELEMENTS (desk_migrations),
  .application_id = 0x414e5344, /* "ANSD" */
};
