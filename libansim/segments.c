/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A manifest entry as a segments row, the same on the desk and the panel
 * (see segments.h for what must stay true). */
#include "segments.h"

#include <string.h>

void
ansim_segments_bind_entry (sqlite3_stmt *stmt, gint64 incident_id, const AnsimManifestEntry *e)
{
  char entry_hash[ANSIM_SHA256_HEX_LEN + 1];
  ansim_manifest_entry_hash (e, entry_hash);
  gboolean media = e->kind == ANSIM_ENTRY_SEGMENT;
  /* All zeros: no entry before, a device's very first (docs/schema.md). */
  gboolean first_ever = strspn (e->prev, "0") == ANSIM_SHA256_HEX_LEN;

  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  sqlite3_bind_int64 (stmt, 1, incident_id);
  sqlite3_bind_int64 (stmt, 2, (gint64) e->index);
  sqlite3_bind_text (stmt, 3, media ? "media" : "gap", -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 4, e->start_wall_us);
  sqlite3_bind_int64 (stmt, 5, e->start_mono_us);
  sqlite3_bind_int64 (stmt, 6, e->duration_us);
  if (media)
    {
      sqlite3_bind_int64 (stmt, 8, e->plain_size);
      sqlite3_bind_int64 (stmt, 9, e->cipher_size);
      sqlite3_bind_text (stmt, 10, e->sha256_plain, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (stmt, 11, e->sha256_cipher, -1, SQLITE_TRANSIENT);
    }
  else
    sqlite3_bind_text (stmt, 7, e->reason, -1, SQLITE_TRANSIENT);
  if (!(e->index == 0 && first_ever))
    sqlite3_bind_text (stmt, 12, e->prev, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 13, entry_hash, -1, SQLITE_TRANSIENT);
}
