/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's evidence store: where verified blobs (segments, manifests)
 * go. An interface with a filesystem backend here; an S3 backend plugs in
 * by filling a PanelStoreBackend. */
#pragma once

#include <gio/gio.h>
#include "config.h"

G_BEGIN_DECLS

#define PANEL_STORE_ERROR (panel_store_error_quark ())
GQuark panel_store_error_quark (void);

typedef enum {
  PANEL_STORE_ERROR_INVALID_KEY, /* a key outside the allowed form */
  PANEL_STORE_ERROR_NOT_FOUND,
  PANEL_STORE_ERROR_CONFLICT,    /* the key holds different bytes: evidence is never replaced */
  PANEL_STORE_ERROR_FULL,        /* no space (ingest answers 507) */
  PANEL_STORE_ERROR_UNAVAILABLE, /* backend down or unreachable (ingest answers 503) */
  PANEL_STORE_ERROR_LOCKED,      /* an object cannot be deleted before its COMPLIANCE date */
  PANEL_STORE_ERROR_FAILED,
} PanelStoreErrorCode;

/* What an object carries beyond its bytes. */
typedef struct {
  gint64 retain_until_us; /* write-once until then (Object Lock); 0 = none */
  gboolean legal_hold;
} PanelStorePutOptions;

typedef struct _PanelStore PanelStore;

/* A backend fills this; its functions are called from several threads at
 * once (the panel's store workers and the console), so a backend must be
 * thread-safe (the filesystem one writes to unique temp names; the S3
 * client takes a libcurl handle per request). */
typedef struct {
  const char *name;
  /* Store data under key, atomically: afterwards either the whole object
   * is there or nothing is. If key already holds exactly these bytes, it
   * succeeds with *out_existed = TRUE; other bytes: _CONFLICT. */
  gboolean (*put) (PanelStore *store, const char *key, GBytes *data, const char *sha256_hex,
                   const PanelStorePutOptions *options, gboolean *out_existed, GError **error);
  /* FALSE with error only when the answer is unknown; out_exists FALSE for
   * no such object. */
  gboolean (*head) (PanelStore *store, const char *key, gboolean *out_exists, gint64 *out_size,
                    GError **error);
  GBytes *(*get) (PanelStore *store, const char *key, GError **error);
  /* Deleting a missing key succeeds. */
  gboolean (*remove) (PanelStore *store, const char *key, GError **error);
  /* The purge: destroys every object under prefix (a key ending in '/'),
   * every version of it, lifting a legal hold and a GOVERNANCE lock on the
   * way: the caller decided that the retention period is over. Nothing
   * there succeeds. Counts what it destroyed. When an object cannot be
   * deleted before a date (COMPLIANCE), fails with _LOCKED having deleted
   * nothing. */
  gboolean (*purge_prefix) (PanelStore *store, const char *prefix, guint *out_n_objects,
                            guint64 *out_bytes, GError **error);
  /* Object Lock on every object under prefix: retention extended to
   * retain_until_us (never shortened; 0 leaves it), legal hold set (1),
   * cleared (0) or left as it is (-1). NULL: a backend without locks
   * (the panel alone enforces retention there). */
  gboolean (*protect_prefix) (PanelStore *store, const char *prefix, gint64 retain_until_us,
                              int legal_hold, GError **error);
  void (*free) (PanelStore *store);
} PanelStoreBackend;

/* Backends embed this first. */
struct _PanelStore {
  const PanelStoreBackend *backend;
};

/* Keys are relative paths of 1..8 components, each 1..128 characters of
 * [A-Za-z0-9._-] not starting with '.', joined by '/'. */
gboolean panel_store_key_is_valid (const char *key);

/* sha256_hex: the data's SHA-256 if the caller has it (NULL: computed). */
gboolean panel_store_put (PanelStore *store, const char *key, GBytes *data, const char *sha256_hex,
                          const PanelStorePutOptions *options, gboolean *out_existed,
                          GError **error);
gboolean panel_store_head (PanelStore *store, const char *key, gboolean *out_exists,
                           gint64 *out_size, GError **error);
GBytes *panel_store_get (PanelStore *store, const char *key, GError **error);
gboolean panel_store_delete (PanelStore *store, const char *key, GError **error);
/* See PanelStoreBackend. prefix: "DEVICE/UUID/". */
gboolean panel_store_purge_prefix (PanelStore *store, const char *prefix, guint *out_n_objects,
                                   guint64 *out_bytes, GError **error);
/* TRUE when the backend keeps locks on its objects (Object Lock). */
gboolean panel_store_has_locks (PanelStore *store);
/* Does nothing (TRUE) on a backend without locks. */
gboolean panel_store_protect_prefix (PanelStore *store, const char *prefix, gint64 retain_until_us,
                                     int legal_hold, GError **error);
void panel_store_free (PanelStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelStore, panel_store_free)

/* Objects are files under root (created 0750 if missing): write to a
 * hidden temp file, fsync, link into place, fsync the directory. */
PanelStore *panel_store_new_filesystem (const char *root, GError **error);

/* Objects in an S3 bucket (panel/store-s3.c): the s3_* keys of [panel],
 * Object Lock for s3_retention_days in s3_lock_mode. Calls block for the
 * S3 client's retries (s3_max_attempts × s3_timeout at worst). */
PanelStore *panel_store_new_s3 (AnsimConfig *config, GError **error);

G_END_DECLS
