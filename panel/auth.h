/* SPDX-License-Identifier: GPL-3.0-or-later */
/* People and access in the panel: roles, scrypt password hashes, users,
 * sessions and login throttling. Used by the console and by `ansimctl user`. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

#define PANEL_AUTH_ERROR (panel_auth_error_quark ())
GQuark panel_auth_error_quark (void);

typedef enum {
  PANEL_AUTH_ERROR_INVALID,   /* a bad name, role or password (policy) */
  PANEL_AUTH_ERROR_EXISTS,    /* the user exists already */
  PANEL_AUTH_ERROR_NOT_FOUND, /* no such user */
  PANEL_AUTH_ERROR_CRYPTO,    /* OpenSSL failed */
} PanelAuthErrorCode;

/* Roles are bits so that a route can allow several. */
typedef enum {
  PANEL_ROLE_SECURITY = 1 << 0, /* security staff: alerts, incidents, export */
  PANEL_ROLE_TRAINER = 1 << 1,  /* runs drills */
  PANEL_ROLE_ADMIN = 1 << 2,    /* users, devices, settings */
  PANEL_ROLE_AUDITOR = 1 << 3,  /* reads the audit log, nothing else */
} PanelRole;
#define PANEL_ROLES_ANY                                                                            \
  (PANEL_ROLE_SECURITY | PANEL_ROLE_TRAINER | PANEL_ROLE_ADMIN | PANEL_ROLE_AUDITOR)

const char *panel_role_to_string (PanelRole role);
/* FALSE for anything but the four role names. */
gboolean panel_role_from_string (const char *name, PanelRole *out_role);

/* ---- passwords -------------------------------------------------------- */

/* scrypt cost: N = 2^log2_n, block size r, parallelism p. The hash string
 * carries them, so raising the default later keeps old hashes valid. */
typedef struct {
  guint log2_n;
  guint r;
  guint p;
} PanelScryptParams;

/* N = 2^17, r = 8, p = 1 (the OWASP minimum for scrypt): 128 MiB and about
 * 0.4 s per hash on the reference machine. */
extern const PanelScryptParams panel_scrypt_default;

/* The cost new hashes get: panel_scrypt_default, unless the environment
 * variable ANSIM_TEST_SCRYPT_LOG2_N (10 to 20) sets N for a test run
 * (the test suites set it so that making users stays fast; never set it on
 * a real panel). */
const PanelScryptParams *panel_scrypt_current (void);

/* "$scrypt$ln=17,r=8,p=1$SALT$HASH" (salt 16 bytes, hash 32 bytes, both
 * unpadded base64). params NULL: panel_scrypt_current (). */
char *panel_password_hash (const char *password, const PanelScryptParams *params, GError **error);
/* TRUE when stored (a well-formed hash) was made at a lower cost than
 * panel_scrypt_current (): login then stores a new hash of the password it
 * just checked. */
gboolean panel_password_needs_rehash (const char *stored);
/* Recompute with the stored salt and parameters and compare in constant
 * time. Returns FALSE with error only when stored is malformed or OpenSSL
 * fails; a wrong password is *out_match = FALSE. Thread-safe. */
gboolean panel_password_verify (const char *stored, const char *password, gboolean *out_match,
                                GError **error);
/* At least 10 characters, at most 256 bytes of UTF-8. */
gboolean panel_password_check_policy (const char *password, GError **error);
/* 20 random characters from an alphabet without look-alikes. */
char *panel_password_generate (void);

/* ---- users ------------------------------------------------------------ */

/* 1 to 64 of a-z 0-9 . _ - */
gboolean panel_user_name_is_valid (const char *name);

/* Each change runs in one write transaction together with its audit entry
 * (actor: who made it, e.g. "admin" or "ansimctl:root", and actor_role:
 * that person's role, NULL for the command line; client: where from, NULL
 * for the command line). Changing a password or disabling a user ends
 * the user's sessions. */
gboolean panel_user_add (sqlite3 *db, const char *name, PanelRole role, const char *password,
                         const char *actor, const char *actor_role, const char *client,
                         GError **error);
gboolean panel_user_set_password (sqlite3 *db, const char *name, const char *password,
                                  const char *actor, const char *actor_role, const char *client,
                                  GError **error);
gboolean panel_user_set_disabled (sqlite3 *db, const char *name, gboolean disabled,
                                  const char *actor, const char *actor_role, const char *client,
                                  GError **error);
gboolean panel_user_set_role (sqlite3 *db, const char *name, PanelRole role, const char *actor,
                              const char *actor_role, const char *client, GError **error);
/* Clears the user's login back-off on every client at once (the running
 * panel reads it at the user's next attempt); audited as a user change. */
gboolean panel_user_unlock (sqlite3 *db, const char *name, const char *actor,
                            const char *actor_role, const char *client, GError **error);
gboolean panel_user_count (sqlite3 *db, gint64 *out_count, GError **error);
/* Replaces the user's hash old_hash by new_hash (same password, higher
 * cost) unless it changed meanwhile; sessions stay. In the caller's
 * transaction if one is open. */
gboolean panel_user_rehash (sqlite3 *db, const char *name, const char *old_hash,
                            const char *new_hash, GError **error);

/* What login needs to know about a user, read before the (slow, threaded)
 * password check. NULL with no error when there is no such user. */
typedef struct {
  char *name;
  PanelRole role;
  char *password_hash;
  gboolean disabled;
  gint64 login_unlocked_at_us; /* 0: never unlocked with ansimctl */
} PanelUser;
PanelUser *panel_user_lookup (sqlite3 *db, const char *name, GError **error);
void panel_user_free (PanelUser *user);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelUser, panel_user_free)

/* A hash of a random password, verified instead when the user does not
 * exist, so that the answer takes as long either way. */
const char *panel_password_dummy_hash (void);

/* ---- sessions --------------------------------------------------------- */

typedef struct {
  char *user;
  PanelRole role;
  char *token_sha256; /* hex; the database key */
  char *csrf_token;   /* must come back in the X-CSRF-Token header */
  gint64 created_at_us;
  gint64 expires_at_us;
} PanelSession;
void panel_session_free (PanelSession *session);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelSession, panel_session_free)

/* A new session for user, valid from now_us for lifetime_us. *out_token is
 * the cookie value (random, 256 bits, base64url); only its SHA-256 is
 * stored. */
PanelSession *panel_session_create (sqlite3 *db, const char *user, PanelRole role,
                                    const char *client, gint64 now_us, gint64 lifetime_us,
                                    char **out_token, GError **error);
/* The live session of a cookie token: NULL with no error when unknown,
 * ended, expired at now_us, or its user is disabled. The role is the
 * user's current one. */
PanelSession *panel_session_lookup (sqlite3 *db, const char *token, gint64 now_us, GError **error);
gboolean panel_session_end (sqlite3 *db, const char *token_sha256, gint64 now_us, GError **error);

/* ---- login throttling -------------------------------------------------- */

/* Failed logins, in memory (a restart forgets them), so that guessing is
 * slow but strangers cannot lock staff out:
 * - per (account, client) pair: after free_failures failures the pair
 *   waits 1 s, then 2, 4, ... up to max_delay_us after each further
 *   failure; other clients of the same account are not touched, and a
 *   pair's failures are forgotten max_delay_us after its last one;
 * - per client, failures under names that are no user: past
 *   unknown_per_client of them within max_delay_us, that client's further
 *   attempts under unknown names are not checked (the console answers
 *   them as wrong without spending a password check); attempts for real
 *   users from that client still are. */
typedef struct _PanelThrottle PanelThrottle;
PanelThrottle *panel_throttle_new (guint free_failures, guint unknown_per_client,
                                   gint64 max_delay_us);
void panel_throttle_free (PanelThrottle *throttle);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelThrottle, panel_throttle_free)
/* 0 when an attempt for account (a user's name, or NULL for a name that
 * is no user) from client may be checked now, else the microseconds until
 * it may. unlocked_at_us: when `ansimctl user unlock` last cleared the
 * account (0: never); failures before it no longer count. */
gint64 panel_throttle_check (PanelThrottle *throttle, const char *account, const char *client,
                             gint64 unlocked_at_us, gint64 now_us);
/* account NULL: a name that is no user (counted per client). */
void panel_throttle_failure (PanelThrottle *throttle, const char *account, const char *client,
                             gint64 now_us);
/* A successful login clears the pair's failures (not other clients'). */
void panel_throttle_success (PanelThrottle *throttle, const char *account, const char *client);
/* Pairs and clients remembered now (bounded; for tests). */
guint panel_throttle_size (PanelThrottle *throttle);

G_END_DECLS
