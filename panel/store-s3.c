/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the S3 backend of the evidence store: one object per
 * key in the site's bucket, through panel/s3.h, locked for the retention
 * panel.conf sets. */
#include "store.h"
#include "s3.h"

#include <string.h>

/* Evidence objects are segments and manifests; a cap keeps a wrong key from
 * pulling gigabytes into memory. */
#define MAX_GET ((gsize) 4096 * 1024 * 1024)

typedef struct {
  PanelStore parent;
  PanelS3 *s3;
  gint64 retention_s; /* from receipt; 0: none per object */
  PanelS3LockMode lock_mode;
} StoreS3;

/* S3 errors as the store names them: ingest answers 503 to _UNAVAILABLE. */
static void
propagate (GError **error, GError *s3_error)
{
  PanelStoreErrorCode code = PANEL_STORE_ERROR_FAILED;

  if (g_error_matches (s3_error, PANEL_S3_ERROR, PANEL_S3_ERROR_UNAVAILABLE))
    code = PANEL_STORE_ERROR_UNAVAILABLE;
  else if (g_error_matches (s3_error, PANEL_S3_ERROR, PANEL_S3_ERROR_NOT_FOUND))
    code = PANEL_STORE_ERROR_NOT_FOUND;
  g_set_error_literal (error, PANEL_STORE_ERROR, code, s3_error->message);
  g_error_free (s3_error);
}

static gboolean
s3_put (PanelStore *store, const char *key, GBytes *data, const char *sha256_hex,
        const PanelStorePutOptions *options, gboolean *out_existed, GError **error)
{
  StoreS3 *self = (StoreS3 *) store;
  g_auto (PanelS3Object) found = { 0 };
  PanelS3PutOptions put = { .lock_mode = self->lock_mode };
  GError *local = NULL;

  /* s3_retention_days = 0: a bucket without Object Lock, no lock headers.
   * Otherwise the date the panel's retention policy gives, or receipt +
   * s3_retention_days when the caller has none. */
  if (self->retention_s > 0)
    {
      put.retain_until = g_get_real_time () / G_USEC_PER_SEC + self->retention_s;
      if (options->retain_until_us > 0)
        put.retain_until = (options->retain_until_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
      put.legal_hold = options->legal_hold;
    }
  put.sha256 = sha256_hex;

  /* A re-send after a crash finds its object: the same bytes are success,
   * other bytes are never written over. */
  if (panel_s3_head (self->s3, key, NULL, &found, &local))
    {
      if (found.sha256 == NULL || g_ascii_strcasecmp (found.sha256, sha256_hex) != 0)
        {
          g_set_error (error, PANEL_STORE_ERROR, PANEL_STORE_ERROR_CONFLICT,
                       "S3 object %s already holds other bytes (SHA-256 %s)", key,
                       found.sha256 ? found.sha256 : "unknown");
          return FALSE;
        }
      /* The first attempt may have died between completing and locking. */
      if (put.retain_until > found.retain_until
          && !panel_s3_set_retention (self->s3, key, found.version_id, put.lock_mode,
                                      put.retain_until, FALSE, &local))
        {
          propagate (error, local);
          return FALSE;
        }
      if (put.legal_hold && !found.legal_hold
          && !panel_s3_set_legal_hold (self->s3, key, found.version_id, TRUE, &local))
        {
          propagate (error, local);
          return FALSE;
        }
      *out_existed = TRUE;
      return TRUE;
    }
  if (!g_error_matches (local, PANEL_S3_ERROR, PANEL_S3_ERROR_NOT_FOUND))
    {
      propagate (error, local);
      return FALSE;
    }
  g_clear_error (&local);
  if (!panel_s3_put (self->s3, key, data, &put, NULL, &local))
    {
      propagate (error, local);
      return FALSE;
    }
  *out_existed = FALSE;
  return TRUE;
}

static gboolean
s3_head (PanelStore *store, const char *key, gboolean *out_exists, gint64 *out_size, GError **error)
{
  StoreS3 *self = (StoreS3 *) store;
  g_auto (PanelS3Object) found = { 0 };
  GError *local = NULL;

  if (panel_s3_head (self->s3, key, NULL, &found, &local))
    {
      *out_exists = TRUE;
      if (out_size != NULL)
        *out_size = (gint64) found.size;
      return TRUE;
    }
  if (g_error_matches (local, PANEL_S3_ERROR, PANEL_S3_ERROR_NOT_FOUND))
    {
      g_error_free (local);
      *out_exists = FALSE;
      return TRUE;
    }
  propagate (error, local);
  return FALSE;
}

static GBytes *
s3_get (PanelStore *store, const char *key, GError **error)
{
  StoreS3 *self = (StoreS3 *) store;
  GError *local = NULL;
  GBytes *bytes = panel_s3_get (self->s3, key, NULL, MAX_GET, &local);

  if (bytes == NULL)
    propagate (error, local);
  return bytes;
}

/* On an Object Lock bucket this adds a delete marker: locked versions stay. */
static gboolean
s3_remove (PanelStore *store, const char *key, GError **error)
{
  StoreS3 *self = (StoreS3 *) store;
  GError *local = NULL;

  if (!panel_s3_delete (self->s3, key, NULL, FALSE, &local))
    {
      propagate (error, local);
      return FALSE;
    }
  return TRUE;
}

/* Versions under a prefix: an incident has tens of segments, a cap keeps a
 * wrong prefix from walking the whole bucket. */
#define MAX_VERSIONS 100000

/* Destroys every version and delete marker under prefix. A version under a
 * legal hold has it cleared first (the caller released the incident); a
 * GOVERNANCE date still in the future is bypassed, because the panel's
 * policy says the period is over (that is what GOVERNANCE is for); a
 * COMPLIANCE date in the future is refused by the server, and the purge
 * stops with that error. */
static gboolean
s3_purge_prefix (PanelStore *store, const char *prefix, guint *out_n, guint64 *out_bytes,
                 GError **error)
{
  StoreS3 *self = (StoreS3 *) store;
  GError *local = NULL;
  g_autoptr (GPtrArray) versions = panel_s3_list_versions (self->s3, prefix, MAX_VERSIONS, &local);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  if (versions == NULL)
    {
      propagate (error, local);
      return FALSE;
    }
  /* Look before deleting anything: a COMPLIANCE date in the future stops
   * the whole incident, untouched. */
  g_autofree PanelS3Object *infos = g_new0 (PanelS3Object, versions->len);
  gboolean ok = TRUE;

  for (guint i = 0; ok && i < versions->len; i++)
    {
      PanelS3Version *v = versions->pdata[i];

      if (v->is_delete_marker)
        continue;
      if (!panel_s3_head (self->s3, v->key, v->version_id, &infos[i], &local))
        {
          if (g_error_matches (local, PANEL_S3_ERROR, PANEL_S3_ERROR_NOT_FOUND))
            {
              g_clear_error (&local);
              continue;
            }
          propagate (error, local);
          ok = FALSE;
        }
      else if (infos[i].lock_mode == PANEL_S3_LOCK_COMPLIANCE && infos[i].retain_until > now)
        {
          g_set_error (error, PANEL_STORE_ERROR, PANEL_STORE_ERROR_LOCKED,
                       "S3 object %s is locked in COMPLIANCE mode until %" G_GINT64_FORMAT
                       " (Unix time); nothing of the incident was deleted",
                       v->key, infos[i].retain_until);
          ok = FALSE;
        }
    }
  for (guint i = 0; ok && i < versions->len; i++)
    {
      PanelS3Version *v = versions->pdata[i];
      PanelS3Object *info = &infos[i];
      gboolean bypass = info->lock_mode == PANEL_S3_LOCK_GOVERNANCE && info->retain_until > now;

      if (info->legal_hold
          && !panel_s3_set_legal_hold (self->s3, v->key, v->version_id, FALSE, &local))
        {
          propagate (error, local);
          ok = FALSE;
          break;
        }
      if (!panel_s3_delete (self->s3, v->key, v->version_id, bypass, &local))
        {
          if (g_error_matches (local, PANEL_S3_ERROR, PANEL_S3_ERROR_NOT_FOUND))
            {
              g_clear_error (&local);
              continue;
            }
          propagate (error, local);
          ok = FALSE;
          break;
        }
      if (!v->is_delete_marker)
        {
          (*out_n)++;
          *out_bytes += v->size;
        }
    }
  for (guint i = 0; i < versions->len; i++)
    panel_s3_object_clear (&infos[i]);
  return ok;
}

/* Extends (never shortens) the retention date and sets or clears the legal
 * hold of every current version under prefix. */
static gboolean
s3_protect_prefix (PanelStore *store, const char *prefix, gint64 retain_until_us, int legal_hold,
                   GError **error)
{
  StoreS3 *self = (StoreS3 *) store;
  GError *local = NULL;
  g_autoptr (GPtrArray) versions = NULL;
  gint64 until = (retain_until_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;

  if (self->retention_s == 0)
    return TRUE; /* a bucket without Object Lock */
  versions = panel_s3_list_versions (self->s3, prefix, MAX_VERSIONS, &local);
  if (versions == NULL)
    {
      propagate (error, local);
      return FALSE;
    }
  for (guint i = 0; i < versions->len; i++)
    {
      PanelS3Version *v = versions->pdata[i];
      g_auto (PanelS3Object) info = { 0 };

      if (v->is_delete_marker)
        continue;
      if (!panel_s3_head (self->s3, v->key, v->version_id, &info, &local))
        {
          propagate (error, local);
          return FALSE;
        }
      if (retain_until_us > 0 && until > info.retain_until
          && !panel_s3_set_retention (
            self->s3, v->key, v->version_id,
            info.lock_mode == PANEL_S3_LOCK_COMPLIANCE ? PANEL_S3_LOCK_COMPLIANCE : self->lock_mode,
            until, FALSE, &local))
        {
          propagate (error, local);
          return FALSE;
        }
      if (legal_hold >= 0 && (legal_hold != 0) != info.legal_hold
          && !panel_s3_set_legal_hold (self->s3, v->key, v->version_id, legal_hold != 0, &local))
        {
          propagate (error, local);
          return FALSE;
        }
    }
  return TRUE;
}

static void
s3_free (PanelStore *store)
{
  StoreS3 *self = (StoreS3 *) store;

  panel_s3_free (self->s3);
  g_free (self);
}

static const PanelStoreBackend s3_backend = {
  .name = "s3",
  .put = s3_put,
  .head = s3_head,
  .get = s3_get,
  .remove = s3_remove,
  .purge_prefix = s3_purge_prefix,
  .protect_prefix = s3_protect_prefix,
  .free = s3_free,
};

PanelStore *
panel_store_new_s3 (AnsimConfig *config, GError **error)
{
  PanelS3 *s3 = panel_s3_new_from_config (config, error);
  PanelS3PutOptions lock;
  StoreS3 *self;

  if (s3 == NULL)
    return NULL;
  self = g_new0 (StoreS3, 1);
  self->parent.backend = &s3_backend;
  self->s3 = s3;
  panel_s3_put_options_from_config (config, 0, &lock);
  self->retention_s = lock.retain_until;
  self->lock_mode = lock.lock_mode;
  return &self->parent;
}
