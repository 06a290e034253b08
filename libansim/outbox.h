/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk's upload queue (docs/schema.md, "outbox"): the one module that
 * reads and writes the outbox table, on both sides of the wake socket. The
 * recorder queues rows and wakes the uploader; the uploader claims the next
 * due row, marks it failed (with a retry time) or confirmed, and expires
 * confirmed segment files after the keep period.
 *
 * Must keep true: lower classes go first, FIFO (by id) within a class; a
 * row is confirmed only after the panel stored it; a spool file is
 * deleted only after its row was confirmed at least keep_us ago. Never
 * logs: what the caller should say comes back in GError or out values. */
#pragma once

#include <gio/gio.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* outbox.class: stored as integers, so never renumber. */
typedef enum {
  ANSIM_OUTBOX_ALERT = 0,    /* an incident opened: tell the panel before any video */
  ANSIM_OUTBOX_EVENT = 1,    /* a row of events (press, acknowledged, ...) */
  ANSIM_OUTBOX_MANIFEST = 2, /* a signed manifest file (each intermediate one too;
                              * version 3: its new checkpoints, whole once closed) */
  ANSIM_OUTBOX_SEGMENT = 3,  /* a sealed segment file */
} AnsimOutboxClass;

/* "alert", "event", "manifest", "segment"; "item" for anything else. */
const char *ansim_outbox_class_name (AnsimOutboxClass klass);

/* ---- the writer (recorder) ---------------------------------------------- */

/* Each queues one row in the caller's transaction (or its own, outside
 * one) and returns its id in out_id (may be NULL). path: relative to the
 * spool directory, e.g. "<incident uuid>/manifest.json". */
gboolean ansim_outbox_queue_alert (sqlite3 *db, gint64 incident_id, gint64 *out_id, GError **error);
gboolean ansim_outbox_queue_event (sqlite3 *db, gint64 event_id, gint64 *out_id, GError **error);
gboolean ansim_outbox_queue_manifest (sqlite3 *db, gint64 incident_id, const char *path,
                                      gint64 *out_id, GError **error);
gboolean ansim_outbox_queue_segment (sqlite3 *db, gint64 incident_id, gint64 segment_idx,
                                     const char *path, gint64 *out_id, GError **error);

/* Sends one datagram "wake" to the uploader's wake socket (an AF_UNIX
 * SOCK_DGRAM socket, [uploader] wake_socket): it then sends at once
 * instead of at its next poll. Never blocks; FALSE with error when no
 * uploader listens (the item is queued anyway and goes at the next poll). */
gboolean ansim_outbox_wake_uploader (const char *socket_path, GError **error);

/* ---- the reader (uploader) ---------------------------------------------- */

/* One outbox row to send. */
typedef struct {
  gint64 id; /* 0: none */
  AnsimOutboxClass klass;
  gint64 incident_id; /* the row's, or its event's incident; 0 if none */
  gint64 segment_idx; /* -1 if none */
  gint64 event_id;    /* 0 if none */
  char *path;         /* relative to the spool directory, or NULL */
  gint64 attempts;
  char *uuid; /* the incident's uuid, or NULL */
} AnsimOutboxItem;

void ansim_outbox_item_clear (AnsimOutboxItem *item);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AnsimOutboxItem, ansim_outbox_item_clear)

/* Unconfirmed rows: how many, and when the oldest was queued (wall µs;
 * out_oldest_us untouched when there is none). Either out may be NULL. */
gboolean ansim_outbox_count_waiting (sqlite3 *db, gint64 *out_count, gint64 *out_oldest_us,
                                     GError **error);

/* The next row due at now (wall µs): lowest class first, then oldest. With
 * none due, out->id = 0 and *out_next_due_us is when the next one is due
 * (left as it was when nothing waits). A due time later than now +
 * retry_max_us means the wall clock went back: those rows are made due now,
 * *out_next_due_us = now and *out_clock_reset (may be NULL) set TRUE. */
gboolean ansim_outbox_claim (sqlite3 *db, gint64 now, gint64 retry_max_us, AnsimOutboxItem *out,
                             gint64 *out_next_due_us, gboolean *out_clock_reset, GError **error);

/* A failed try: one more attempt, not before next_attempt_us (wall µs; 0
 * = at once), and why. */
gboolean ansim_outbox_mark_failed (sqlite3 *db, gint64 id, gint64 next_attempt_us,
                                   const char *last_error, GError **error);

/* The panel stored row id. */
gboolean ansim_outbox_confirm (sqlite3 *db, gint64 id, GError **error);

/* The recorder queues a manifest upload after every segment, each row
 * committed after the file was written. One send of the file reads the
 * version of every row committed before the read, so those rows are
 * confirmed together: a backlog sends each incident's manifest once, not
 * once per segment. The newest unconfirmed manifest row of incident_id
 * (0 if none), read before the file is; then, after the send, confirm all
 * of them up to that id. */
gint64 ansim_outbox_last_manifest (sqlite3 *db, gint64 incident_id);
gboolean ansim_outbox_confirm_manifests (sqlite3 *db, gint64 incident_id, gint64 up_to_id,
                                         GError **error);

/* Deletes segment files (below spool_dir) whose rows were confirmed at or
 * before confirmed_before_us, at most 100 per call, and records the
 * deletion at now. Manifests stay: they are small and the recorder may
 * still rewrite them. A file that cannot be deleted is kept and a sentence
 * saying so appended to problems (may be NULL). FALSE only on a database
 * error. */
gboolean ansim_outbox_expire (sqlite3 *db, const char *spool_dir, gint64 confirmed_before_us,
                              gint64 now, GPtrArray *problems, GError **error);

G_END_DECLS
