/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A small S3 client for the panel's evidence store: SigV4 through libcurl,
 * Content-MD5 on every PUT, multipart for large objects, Object Lock. */
#pragma once

#include <glib.h>
#include "config.h"

G_BEGIN_DECLS

#define PANEL_S3_ERROR (panel_s3_error_quark ())
GQuark panel_s3_error_quark (void);

typedef enum {
  PANEL_S3_ERROR_FAILED,        /* any other S3 error answer (4xx) */
  PANEL_S3_ERROR_CONFIG,        /* bad configuration: endpoint, bucket, part size */
  PANEL_S3_ERROR_CREDENTIALS,   /* credentials file missing, unsafe or malformed */
  PANEL_S3_ERROR_NOT_FOUND,     /* 404: NoSuchKey, NoSuchBucket, NoSuchVersion */
  PANEL_S3_ERROR_ACCESS_DENIED, /* 403 AccessDenied, e.g. deleting a locked version */
  PANEL_S3_ERROR_AUTH,          /* 403 SignatureDoesNotMatch, InvalidAccessKeyId */
  PANEL_S3_ERROR_BAD_DIGEST,    /* 400 BadDigest / InvalidDigest: bytes altered in transit */
  PANEL_S3_ERROR_UNAVAILABLE,   /* 5xx or network failure, still so after every retry */
  PANEL_S3_ERROR_TOO_LARGE,     /* a GET answer larger than the caller's limit */
} PanelS3ErrorCode;

typedef enum {
  PANEL_S3_PATH_STYLE,   /* ENDPOINT/BUCKET/KEY */
  PANEL_S3_VIRTUAL_HOST, /* BUCKET.ENDPOINT-HOST/KEY */
} PanelS3Addressing;

typedef enum {
  PANEL_S3_LOCK_NONE,
  PANEL_S3_LOCK_GOVERNANCE, /* privileged users may shorten it: allows lawful destruction */
  PANEL_S3_LOCK_COMPLIANCE, /* nobody can delete the version before the date */
} PanelS3LockMode;

/* Settings of a client; strings are copied by panel_s3_new(). Zero numbers
 * take the defaults in brackets. */
typedef struct {
  const char *endpoint; /* "https://s3.example.org" or "http://127.0.0.1:7480" */
  const char *region;   /* SigV4 region ["us-east-1"] */
  const char *bucket;
  PanelS3Addressing addressing;
  /* AWS shared-credentials format: [default] aws_access_key_id,
   * aws_secret_access_key. Must be a regular file owned by this user and
   * not readable by group or others. */
  const char *credentials_file;
  const char *ca_file;         /* https only; NULL: the system's CAs */
  guint64 multipart_threshold; /* objects this size or larger go multipart [64 MiB] */
  guint64 part_size;           /* at least 5 MiB, S3's minimum [16 MiB] */
  guint max_attempts;          /* per request, on 5xx and network errors [5] */
  guint retry_delay_ms;        /* first backoff; doubles each retry, with jitter [200] */
  guint retry_max_delay_ms;    /* backoff ceiling [5000] */
  guint connect_timeout_s;     /* [5] */
  guint timeout_s;             /* a whole request (one part of a multipart upload) [120] */
} PanelS3Config;

/* How an object is stored. A zeroed struct: no lock, no legal hold. */
typedef struct {
  PanelS3LockMode lock_mode; /* with retain_until; NONE there means GOVERNANCE */
  gint64 retain_until;       /* Unix seconds (UTC); 0: none (bucket default applies) */
  gboolean legal_hold;
  const char *content_type; /* NULL: application/octet-stream */
  /* Hex SHA-256 of the data if the caller has it (NULL: computed). Not
   * trusted: the server checks it on a single PUT, the client on a
   * multipart one; a wrong one fails with PANEL_S3_ERROR_BAD_DIGEST. */
  const char *sha256;
} PanelS3PutOptions;

typedef struct {
  guint64 size;
  char *etag;       /* as the server gives it, quotes removed */
  char *version_id; /* NULL on an unversioned bucket */
  char *sha256;     /* hex SHA-256 recorded at upload (x-amz-meta-sha256), or NULL */
  PanelS3LockMode lock_mode;
  gint64 retain_until; /* 0: none */
  gboolean legal_hold;
} PanelS3Object;

void panel_s3_object_clear (PanelS3Object *object);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PanelS3Object, panel_s3_object_clear)

typedef struct _PanelS3 PanelS3;

/* Checks the settings and reads the credentials; no network traffic.
 * One client serves one thread at a time; use one per worker thread. */
PanelS3 *panel_s3_new (const PanelS3Config *config, GError **error);
void panel_s3_free (PanelS3 *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelS3, panel_s3_free)

/* Stores data under key (complete or not at all: a failed multipart upload
 * is aborted). The SHA-256 of the bytes is recorded with the object as
 * x-amz-meta-sha256: HEAD reports it and GET checks it. With options->retain_until the version is locked; on a
 * multipart upload the lock is applied right after completion, and if that
 * fails the new version is deleted again and an error returned.
 * out_version_id: the new version, NULL on an unversioned bucket. */
gboolean panel_s3_put (PanelS3 *self, const char *key, GBytes *data,
                       const PanelS3PutOptions *options, char **out_version_id, GError **error);

/* A client from the s3_* keys of panel.conf's [store] group (the caller
 * checked that backend = s3). */
PanelS3 *panel_s3_new_from_config (AnsimConfig *config, GError **error);
/* The Object Lock panel.conf asks for on an object received at `received`
 * (Unix seconds): s3_lock_mode until received + s3_retention_days. */
void panel_s3_put_options_from_config (AnsimConfig *config, gint64 received,
                                       PanelS3PutOptions *out_options);

/* HEAD: size, ETag, version and lock state. A missing object is an error
 * with PANEL_S3_ERROR_NOT_FOUND; panel_s3_exists() turns that into FALSE. */
gboolean panel_s3_head (PanelS3 *self, const char *key, const char *version_id,
                        PanelS3Object *out_object, GError **error);
gboolean panel_s3_exists (PanelS3 *self, const char *key, gboolean *out_exists, GError **error);

/* The object's bytes; an answer larger than max_size is refused, and bytes
 * whose SHA-256 differs from the one recorded at upload are an error
 * (PANEL_S3_ERROR_BAD_DIGEST). */
GBytes *panel_s3_get (PanelS3 *self, const char *key, const char *version_id, gsize max_size,
                      GError **error);

/* Deletes a version (version_id NULL: the current object; on a versioned
 * bucket that only adds a delete marker). A locked version is refused with
 * PANEL_S3_ERROR_ACCESS_DENIED; bypass_governance lifts a GOVERNANCE lock
 * for a user allowed to, never a COMPLIANCE one. */
gboolean panel_s3_delete (PanelS3 *self, const char *key, const char *version_id,
                          gboolean bypass_governance, GError **error);

/* The keys under prefix ("" for all), in the server's order (by name),
 * following continuation tokens; more than max_keys is an error
 * (PANEL_S3_ERROR_TOO_LARGE). Frees with g_ptr_array_unref. */
GPtrArray *panel_s3_list (PanelS3 *self, const char *prefix, guint max_keys, GError **error);

/* Every version and delete marker under prefix (ListObjectVersions),
 * following the markers; more than max_versions is an error
 * (PANEL_S3_ERROR_TOO_LARGE). An array of PanelS3Version; g_ptr_array_unref. */
typedef struct {
  char *key;
  char *version_id; /* "null" for a version written before versioning */
  gboolean is_delete_marker;
  guint64 size;
} PanelS3Version;
void panel_s3_version_free (PanelS3Version *version);
GPtrArray *panel_s3_list_versions (PanelS3 *self, const char *prefix, guint max_versions,
                                   GError **error);

/* Object Lock of one version (the bucket must have Object Lock enabled). */
gboolean panel_s3_set_retention (PanelS3 *self, const char *key, const char *version_id,
                                 PanelS3LockMode mode, gint64 retain_until,
                                 gboolean bypass_governance, GError **error);
gboolean panel_s3_set_legal_hold (PanelS3 *self, const char *key, const char *version_id,
                                  gboolean on, GError **error);
/* The bucket's default retention, applied by the server to every new
 * version, multipart uploads included. */
gboolean panel_s3_set_default_retention (PanelS3 *self, PanelS3LockMode mode, guint days,
                                         GError **error);

G_END_DECLS
