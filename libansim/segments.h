/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The segments table, the one the desk and the panel share (docs/schema.md,
 * "segments"): its common shape, written once for both databases'
 * migrations, and the one function that turns a manifest entry into a row.
 *
 * Must keep true: ANSIM_SEGMENTS_TABLE expands to exactly the text the
 * released migrations were written with (a database created before keeps
 * migrating and matching); a row says no more than its signed manifest
 * entry, and prev_entry_hash is NULL only for a device's very first entry. */
#pragma once

#include <sqlite3.h>

#include "evidence.h"

G_BEGIN_DECLS

/* A lowercase hex SHA-256, or NULL. */
#define ANSIM_SEGMENTS_HEX64(col)                                                                  \
  "CHECK (" col " IS NULL OR (length (" col ") = 64 AND " col " NOT GLOB '*[^0-9a-f]*'))"

/* CREATE TABLE segments: the shared columns, then own_columns (each line
 * "  name TYPE,\n"), the shared checks, own_checks (each "  CHECK (...),\n"),
 * and the per-kind check with what a media row (media_extra) and a gap row
 * (gap_extra) must also satisfy (" AND ..." or ""). */
#define ANSIM_SEGMENTS_TABLE(own_columns, own_checks, media_extra, gap_extra)                                                                                  \
  "CREATE TABLE segments (\n"                                                                                                                                  \
  "  incident_id     INTEGER NOT NULL REFERENCES incidents (id),\n"                                                                                            \
  "  idx             INTEGER NOT NULL CHECK (idx >= 0),\n"                                                                                                     \
  "  kind            TEXT NOT NULL CHECK (kind IN ('media', 'gap')),\n"                                                                                        \
  "  start_wall_us   INTEGER NOT NULL,\n"                                                                                                                      \
  "  start_mono_us   INTEGER NOT NULL,\n"                                                                                                                      \
  "  duration_us     INTEGER NOT NULL CHECK (duration_us >= 0),\n"                                                                                             \
  "  gap_reason      TEXT,\n"                                                                                                                                  \
  "  plain_size      INTEGER CHECK (plain_size >= 0),\n"                                                                                                       \
  "  cipher_size     INTEGER CHECK (cipher_size >= 0),\n"                                                                                                      \
  "  plain_sha256    TEXT " ANSIM_SEGMENTS_HEX64 (                                                                                                             \
    "plain_sha256") ",\n"                                                                                                                                      \
                    "  cipher_sha256   TEXT " ANSIM_SEGMENTS_HEX64 (                                                                                           \
                      "cipher_sha256") ",\n"                                                                                                                   \
                                       "  prev_entry_hash TEXT " ANSIM_SEGMENTS_HEX64 (                                                                        \
                                         "prev_entry_hash") ",\n"                                                                                              \
                                                            "  entry_hash      TEXT NOT NULL " ANSIM_SEGMENTS_HEX64 (                                          \
                                                              "entry_hash") ",\n" own_columns                                                                  \
                                                                            "  PRIMARY KEY (incident_id, idx),\n"                                              \
                                                                            "  CHECK (prev_entry_hash IS NOT NULL OR idx = 0),\n" own_checks                   \
                                                                            "  CHECK (CASE kind\n"                                                             \
                                                                            "    WHEN 'media' THEN gap_reason IS NULL AND plain_size IS NOT NULL\n"            \
                                                                            "      AND cipher_size IS NOT NULL AND plain_sha256 IS NOT NULL\n"                 \
                                                                            "      AND cipher_sha256 IS NOT NULL" media_extra                                  \
                                                                            "\n"                                                                               \
                                                                            "    ELSE gap_reason IS NOT NULL AND plain_size IS NULL AND cipher_size IS NULL\n" \
                                                                            "      AND plain_sha256 IS NULL AND cipher_sha256 IS NULL" gap_extra               \
                                                                            "\n"                                                                               \
                                                                            "  END)\n"                                                                         \
                                                                            ");\n"

/* The shared columns in binding order, and their placeholders ?1..?13, for
 * "INSERT INTO segments (" ANSIM_SEGMENTS_COLUMNS ", own...) VALUES ("
 * ANSIM_SEGMENTS_VALUES ", ?14...)". */
#define ANSIM_SEGMENTS_COLUMNS                                                                     \
  "incident_id, idx, kind, start_wall_us, start_mono_us, duration_us, gap_reason, "                \
  "plain_size, cipher_size, plain_sha256, cipher_sha256, prev_entry_hash, entry_hash"
#define ANSIM_SEGMENTS_VALUES "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13"

/* Binds ?1..?13 of stmt (reset and cleared first) to entry e of incident
 * incident_id: kind "media" or "gap", sizes and hashes for media, the
 * reason for a gap, and the entry's own hash. The caller binds its own
 * columns from ?14 on and steps. */
void ansim_segments_bind_entry (sqlite3_stmt *stmt, gint64 incident_id,
                                const AnsimManifestEntry *e);

G_END_DECLS
