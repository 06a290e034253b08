/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of the panel's access layer and audit log: scrypt hashes (with the
 * RFC 7914 vector), sessions and their expiry, login throttling, and the
 * audit chain catching each kind of tampering. */
#include <glib/gstdio.h>
#include <string.h>

#include "audit.h"
#include "test-common.h"
#include "auth.h"
#include "db.h"
#include "test-sql.h"

typedef struct {
  char *dir;
  char *path;
  sqlite3 *db;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  (void) data;
  fx->dir = test_make_tmp_dir ("ansim-test-auth-XXXXXX");
  fx->path = g_build_filename (fx->dir, "panel.db", NULL);
  fx->db = ansim_db_open (&ansim_panel_db_schema, fx->path, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  (void) data;
  g_clear_pointer (&fx->db, sqlite3_close);
  test_rm_rf (fx->dir);
  g_free (fx->dir);
  g_free (fx->path);
}

/* ---- scrypt ---- */

static const PanelScryptParams cheap = { .log2_n = 10, .r = 8, .p = 1 };

static void
test_scrypt_roundtrip (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *a = panel_password_hash ("correct horse battery", &cheap, &error);
  g_autofree char *b = panel_password_hash ("correct horse battery", &cheap, &error);
  gboolean match = FALSE;

  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (a, "$scrypt$ln=10,r=8,p=1$"));
  g_assert_cmpstr (a, !=, b); /* a fresh salt each time */
  g_assert_true (panel_password_verify (a, "correct horse battery", &match, &error));
  g_assert_no_error (error);
  g_assert_true (match);
  g_assert_true (panel_password_verify (a, "correct horse batterY", &match, &error));
  g_assert_false (match);
  g_assert_true (panel_password_verify (a, "", &match, &error));
  g_assert_false (match);
  /* Korean passwords are bytes like any other. */
  g_clear_pointer (&a, g_free);
  a = panel_password_hash ("안심하고 일하는 창구", &cheap, &error);
  g_assert_true (panel_password_verify (a, "안심하고 일하는 창구", &match, &error));
  g_assert_true (match);
}

/* RFC 7914 section 12: scrypt("password", "NaCl", N=1024, r=8, p=16); a
 * 32-byte output is the first half of the 64-byte one. */
static void
test_scrypt_vector (void)
{
  g_autoptr (GError) error = NULL;
  static const guint8 expected[32] = {
    0xfd, 0xba, 0xbe, 0x1c, 0x9d, 0x34, 0x72, 0x00, 0x78, 0x56, 0xe7, 0x19, 0x0d, 0x01, 0xe9, 0xfe,
    0x7c, 0x6a, 0xd7, 0xcb, 0xc8, 0x23, 0x78, 0x30, 0xe7, 0x73, 0x76, 0x63, 0x4b, 0x37, 0x31, 0x62,
  };
  g_autofree char *hash64 = g_base64_encode (expected, sizeof expected);
  g_autofree char *stored = g_strdup_printf ("$scrypt$ln=10,r=8,p=16$TmFDbA==$%s", hash64);
  gboolean match = FALSE;

  g_assert_true (panel_password_verify (stored, "password", &match, &error));
  g_assert_no_error (error);
  g_assert_true (match);
  g_assert_true (panel_password_verify (stored, "passwore", &match, &error));
  g_assert_false (match);
}

static void
test_scrypt_default_cost (void)
{
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  g_autofree char *hash =
    panel_password_hash ("a long enough password", &panel_scrypt_default, &error);
  gint64 took_us = g_get_monotonic_time () - start;
  gboolean match = FALSE;

  /* The OWASP minimum for scrypt; the test suites lower only the cost of
   * the users they make (ANSIM_TEST_SCRYPT_LOG2_N), never this one. */
  g_assert_cmpuint (panel_scrypt_default.log2_n, >=, 17);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (hash, "$scrypt$ln=17,r=8,p=1$"));
  g_test_message ("scrypt N=2^17 r=8 p=1 took %.0f ms", took_us / 1000.0);
  g_assert_true (panel_password_verify (hash, "a long enough password", &match, &error));
  g_assert_true (match);
  g_assert_false (panel_password_needs_rehash (hash));
}

/* A hash below today's cost is marked for a new hash at login; one at it
 * (or above) and a malformed one are not. */
static void
test_scrypt_needs_rehash (void)
{
  const PanelScryptParams *now = panel_scrypt_current ();
  PanelScryptParams older = *now, higher = *now;
  g_autoptr (GError) error = NULL;
  g_autofree char *current = NULL, *old = NULL, *high = NULL;

  older.log2_n = now->log2_n - 1;
  higher.r = now->r * 2;
  current = panel_password_hash ("a long enough password", NULL, &error);
  old = panel_password_hash ("a long enough password", &older, &error);
  high = panel_password_hash ("a long enough password", &higher, &error);
  g_assert_no_error (error);
  g_assert_false (panel_password_needs_rehash (current));
  g_assert_true (panel_password_needs_rehash (old));
  g_assert_false (panel_password_needs_rehash (high));
  g_assert_false (panel_password_needs_rehash ("$scrypt$ln=15,r=8$c2FsdHNhbHQ=$aGFzaA=="));
}

static void
test_scrypt_malformed (void)
{
  static const char *const bad[] = {
    "",
    "plain",
    "$2y$10$abcdefghijklmnopqrstuv",
    "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ=",
    "$scrypt$ln=15,r=8$c2FsdHNhbHQ=$aGFzaA==",
    "$scrypt$ln=40,r=8,p=1$c2FsdHNhbHQ=$aGFzaA==",
    "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ=$aGFzaA==", /* hash too short */
    "$scrypt$ln=15,r=8,p=1$!!!$aGFzaA==",
    "$scrypt$ln=15,r=8,p=1x$c2FsdHNhbHQ=$aGFzaA==",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      gboolean match = TRUE;
      g_assert_false (panel_password_verify (bad[i], "password", &match, &error));
      g_assert_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_INVALID);
      g_assert_false (match);
    }
}

static void
test_password_policy (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *generated = panel_password_generate ();
  g_autofree char *long_one = g_strnfill (300, 'x');

  g_assert_false (panel_password_check_policy ("short", &error));
  g_assert_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (panel_password_check_policy (long_one, &error));
  g_clear_error (&error);
  /* Ten Hangul syllables are ten characters (30 bytes). */
  g_assert_true (panel_password_check_policy ("가나다라마바사아자차", &error));
  g_assert_cmpuint (strlen (generated), ==, 20);
  g_assert_true (panel_password_check_policy (generated, &error));
  g_assert_no_error (error);
}

/* ---- users and sessions ---- */

static void
test_users (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PanelUser) user = NULL;
  gint64 n = -1;

  (void) data;
  g_assert_true (panel_user_add (fx->db, "guard.kim", PANEL_ROLE_SECURITY, "security-pass-1",
                                 "test", NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (panel_user_add (fx->db, "guard.kim", PANEL_ROLE_ADMIN, "another-pass-1", "test",
                                  NULL, NULL, &error));
  g_assert_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_false (panel_user_add (fx->db, "Guard Kim", PANEL_ROLE_ADMIN, "another-pass-1", "test",
                                  NULL, NULL, &error));
  g_assert_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (
    panel_user_set_password (fx->db, "nobody", "another-pass-1", "test", NULL, NULL, &error));
  g_assert_error (error, PANEL_AUTH_ERROR, PANEL_AUTH_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_true (panel_user_count (fx->db, &n, &error));
  g_assert_cmpint (n, ==, 1);

  user = panel_user_lookup (fx->db, "guard.kim", &error);
  g_assert_nonnull (user);
  g_assert_cmpint (user->role, ==, PANEL_ROLE_SECURITY);
  g_assert_false (user->disabled);
  g_assert_true (g_str_has_prefix (user->password_hash, "$scrypt$"));
  g_assert_null (panel_user_lookup (fx->db, "nobody", &error));
  g_assert_no_error (error);
  /* Refused changes wrote nothing, not even an audit entry. */
  {
    g_autoptr (sqlite3_stmt) stmt =
      ansim_db_prepare (fx->db, "SELECT group_concat (action, ',') FROM audit_log", &error);
    g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
    g_assert_cmpstr ((const char *) sqlite3_column_text (stmt, 0), ==, "user-added");
  }
}

static void
test_session_expiry (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *token = NULL;
  g_autoptr (PanelSession) created = NULL;
  gint64 now = g_get_real_time (), lifetime = 10 * G_USEC_PER_SEC;

  (void) data;
  g_assert_true (panel_user_add (fx->db, "kim", PANEL_ROLE_SECURITY, "security-pass-1", "test",
                                 NULL, NULL, &error));
  created = panel_session_create (fx->db, "kim", PANEL_ROLE_SECURITY, "127.0.0.1", now, lifetime,
                                  &token, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (token), ==, 43);
  g_assert_cmpuint (strlen (created->csrf_token), ==, 64);

  /* Only the token's hash is stored. */
  {
    g_autoptr (sqlite3_stmt) stmt = ansim_db_prepare (
      fx->db,
      "SELECT count(*) FROM sessions WHERE token_sha256 = ?1 OR instr (token_sha256, ?2) > 0",
      &error);
    g_autofree char *sha = g_compute_checksum_for_string (G_CHECKSUM_SHA256, token, -1);
    sqlite3_bind_text (stmt, 1, sha, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, token, -1, SQLITE_STATIC);
    g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
    g_assert_cmpint (sqlite3_column_int (stmt, 0), ==, 1);
  }
  for (gint64 at = now; at < now + lifetime; at += 2500000)
    {
      g_autoptr (PanelSession) s = panel_session_lookup (fx->db, token, at, &error);
      g_assert_nonnull (s);
      g_assert_cmpstr (s->user, ==, "kim");
      g_assert_cmpstr (s->csrf_token, ==, created->csrf_token);
    }
  g_assert_null (panel_session_lookup (fx->db, token, now + lifetime, &error));
  g_assert_null (panel_session_lookup (fx->db, token, now + lifetime + 1, &error));
  g_assert_no_error (error);
  /* A near miss of the token, and garbage, find nothing. */
  {
    g_autofree char *other = g_strdup (token);
    other[0] = other[0] == 'A' ? 'B' : 'A';
    g_assert_null (panel_session_lookup (fx->db, other, now, &error));
    g_assert_null (panel_session_lookup (fx->db, "' OR 1=1 --", now, &error));
    g_assert_no_error (error);
  }
}

static void
test_session_ends (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *t1 = NULL, *t2 = NULL, *t3 = NULL;
  gint64 now = g_get_real_time (), hour = (gint64) 3600 * G_USEC_PER_SEC;
  g_autoptr (PanelSession) s1 = NULL, s2 = NULL, s3 = NULL, again = NULL;

  (void) data;
  g_assert_true (panel_user_add (fx->db, "kim", PANEL_ROLE_SECURITY, "security-pass-1", "test",
                                 NULL, NULL, &error));
  s1 = panel_session_create (fx->db, "kim", PANEL_ROLE_SECURITY, NULL, now, hour, &t1, &error);
  s2 = panel_session_create (fx->db, "kim", PANEL_ROLE_SECURITY, NULL, now, hour, &t2, &error);
  g_assert_no_error (error);

  /* Logout ends one session only. */
  g_assert_true (panel_session_end (fx->db, s1->token_sha256, now, &error));
  g_assert_null (panel_session_lookup (fx->db, t1, now, &error));
  again = panel_session_lookup (fx->db, t2, now, &error);
  g_assert_nonnull (again);
  g_clear_pointer (&again, panel_session_free);

  /* A role change applies at once to a live session. */
  g_assert_true (
    panel_user_set_role (fx->db, "kim", PANEL_ROLE_AUDITOR, "test", NULL, NULL, &error));
  again = panel_session_lookup (fx->db, t2, now, &error);
  g_assert_cmpint (again->role, ==, PANEL_ROLE_AUDITOR);
  g_clear_pointer (&again, panel_session_free);

  /* A password change ends every session of the user. */
  g_assert_true (
    panel_user_set_password (fx->db, "kim", "a-new-password-2", "test", NULL, NULL, &error));
  g_assert_null (panel_session_lookup (fx->db, t2, now, &error));

  /* So does disabling; enabling again does not revive them. */
  s3 = panel_session_create (fx->db, "kim", PANEL_ROLE_AUDITOR, NULL, now, hour, &t3, &error);
  g_assert_true (panel_user_set_disabled (fx->db, "kim", TRUE, "test", NULL, NULL, &error));
  g_assert_null (panel_session_lookup (fx->db, t3, now, &error));
  g_assert_true (panel_user_set_disabled (fx->db, "kim", FALSE, "test", NULL, NULL, &error));
  g_assert_null (panel_session_lookup (fx->db, t3, now, &error));
  g_assert_no_error (error);
}

/* ---- throttling ---- */

static void
test_throttle (void)
{
  g_autoptr (PanelThrottle) t = panel_throttle_new (3, 5, 60 * G_USEC_PER_SEC);
  gint64 now = 1000 * G_USEC_PER_SEC, s = G_USEC_PER_SEC;

  g_assert_cmpint (panel_throttle_check (t, "kim", "10.0.0.1", 0, now), ==, 0);
  panel_throttle_failure (t, "kim", "10.0.0.1", now);
  panel_throttle_failure (t, "kim", "10.0.0.1", now + 10 * s);
  g_assert_cmpint (panel_throttle_check (t, "kim", "10.0.0.1", 0, now + 11 * s), ==, 0);
  panel_throttle_failure (t, "kim", "10.0.0.1", now + 20 * s);
  /* Three failures: 1 s after the last, then doubling per failure. */
  g_assert_cmpint (panel_throttle_check (t, "kim", "10.0.0.1", 0, now + 20 * s), ==, 1 * s);
  g_assert_cmpint (panel_throttle_check (t, "kim", "10.0.0.1", 0, now + 21 * s), ==, 0);
  panel_throttle_failure (t, "kim", "10.0.0.1", now + 21 * s);
  g_assert_cmpint (panel_throttle_check (t, "kim", "10.0.0.1", 0, now + 21 * s), ==, 2 * s);
  panel_throttle_failure (t, "kim", "10.0.0.1", now + 23 * s);
  g_assert_cmpint (panel_throttle_check (t, "kim", "10.0.0.1", 0, now + 23 * s), ==, 4 * s);
  for (guint i = 0; i < 10; i++)
    panel_throttle_failure (t, "kim", "10.0.0.1", now + 30 * s);
  /* At most the longest delay. */
  g_assert_cmpint (panel_throttle_check (t, "kim", "10.0.0.1", 0, now + 30 * s), ==, 60 * s);
  /* The same account from another client, and another account from the
   * same client, are not slowed at all. */
  g_assert_cmpint (panel_throttle_check (t, "kim", "10.0.0.2", 0, now + 30 * s), ==, 0);
  g_assert_cmpint (panel_throttle_check (t, "lee", "10.0.0.1", 0, now + 30 * s), ==, 0);
  /* Unlocked on the panel host after the last failure: forgotten. */
  g_assert_cmpint (panel_throttle_check (t, "kim", "10.0.0.1", now + 29 * s, now + 31 * s), >, 0);
  g_assert_cmpint (panel_throttle_check (t, "kim", "10.0.0.1", now + 31 * s, now + 31 * s), ==, 0);
  g_assert_cmpint (panel_throttle_check (t, "kim", "10.0.0.1", 0, now + 31 * s), ==, 0);

  /* Quiet for the longest delay: forgotten. */
  for (guint i = 0; i < 4; i++)
    panel_throttle_failure (t, "lee", "10.0.0.1", now + 100 * s);
  g_assert_cmpint (panel_throttle_check (t, "lee", "10.0.0.1", 0, now + 100 * s), ==, 2 * s);
  g_assert_cmpint (panel_throttle_check (t, "lee", "10.0.0.1", 0, now + 160 * s), ==, 0);

  /* Names that are no user, from one client: past 5, that client's
   * unknown names wait; real users and other clients do not. */
  for (guint i = 0; i < 5; i++)
    {
      g_assert_cmpint (panel_throttle_check (t, NULL, "10.0.0.7", 0, now + 200 * s), ==, 0);
      panel_throttle_failure (t, NULL, "10.0.0.7", now + 200 * s);
    }
  g_assert_cmpint (panel_throttle_check (t, NULL, "10.0.0.7", 0, now + 200 * s), ==, 60 * s);
  g_assert_cmpint (panel_throttle_check (t, NULL, "10.0.0.8", 0, now + 200 * s), ==, 0);
  g_assert_cmpint (panel_throttle_check (t, "kim", "10.0.0.7", 0, now + 200 * s), ==, 0);

  /* Success clears the pair only. */
  for (guint i = 0; i < 3; i++)
    {
      panel_throttle_failure (t, "park", "10.0.0.1", now + 300 * s);
      panel_throttle_failure (t, "park", "10.0.0.2", now + 300 * s);
    }
  panel_throttle_success (t, "park", "10.0.0.1");
  g_assert_cmpint (panel_throttle_check (t, "park", "10.0.0.1", 0, now + 300 * s), ==, 0);
  g_assert_cmpint (panel_throttle_check (t, "park", "10.0.0.2", 0, now + 300 * s), ==, 1 * s);
}

static void
test_throttle_bounded (void)
{
  g_autoptr (PanelThrottle) t = panel_throttle_new (3, 3, G_USEC_PER_SEC);

  /* 20000 one-off addresses over 20 s: old ones are pruned. */
  for (guint i = 0; i < 20000; i++)
    {
      g_autofree char *address = g_strdup_printf ("10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
      panel_throttle_failure (t, NULL, address, (gint64) i * 1000);
    }
  g_assert_cmpuint (panel_throttle_size (t), <=, 4096);
  /* The newest is still remembered. */
  panel_throttle_failure (t, NULL, "10.0.78.31", (gint64) 20000 * 1000);
  panel_throttle_failure (t, NULL, "10.0.78.31", (gint64) 20000 * 1000);
  g_assert_cmpint (panel_throttle_check (t, NULL, "10.0.78.31", 0, (gint64) 20000 * 1000), >, 0);
}

/* ---- audit chain ---- */

static void
append_five (sqlite3 *db)
{
  static const char *const actions[] = { "login", "login-failed", "user-added", "logout",
                                         "acknowledged" };
  for (guint i = 0; i < G_N_ELEMENTS (actions); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *target = g_strdup_printf ("incident %u", i + 1);
      g_assert_true (panel_audit_append (db, "kim", "security", "127.0.0.1", actions[i], target,
                                         i == 2 ? "{\"role\":\"auditor\",\"note\":\"한글\"}" : NULL,
                                         &error));
      g_assert_no_error (error);
    }
}

static char *
verify (sqlite3 *db, gint64 *out_n)
{
  g_autoptr (GError) error = NULL;
  char *problem = NULL;
  g_assert_true (panel_audit_verify (db, out_n, &problem, &error));
  g_assert_no_error (error);
  return problem;
}

static void
test_audit_intact (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *problem = NULL;
  g_autoptr (JsonNode) page = NULL;
  g_autofree char *lines = NULL;
  gint64 n = 0;

  (void) data;
  problem = verify (fx->db, &n);
  g_assert_null (problem);
  g_assert_cmpint (n, ==, 0);
  append_five (fx->db);
  problem = verify (fx->db, &n);
  g_assert_null (problem);
  g_assert_cmpint (n, ==, 5);

  /* The table itself refuses changes. */
  g_assert_false (ansim_db_exec (fx->db, "UPDATE audit_log SET actor = 'x' WHERE id = 2", &error));
  g_assert_nonnull (strstr (error->message, "append-only"));
  g_clear_error (&error);
  g_assert_false (ansim_db_exec (fx->db, "DELETE FROM audit_log WHERE id = 5", &error));
  g_assert_nonnull (strstr (error->message, "append-only"));
  g_clear_error (&error);
  g_assert_false (ansim_db_exec (
    fx->db, "INSERT OR REPLACE INTO audit_log SELECT * FROM audit_log WHERE id = 3", &error));
  g_clear_error (&error);

  /* Paging: newest first. */
  page = panel_audit_list (fx->db, 0, 2, NULL, &error);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (page)), ==, 2);
  g_assert_cmpint (json_object_get_int_member (
                     json_array_get_object_element (json_node_get_array (page), 0), "id"),
                   ==, 5);
  g_clear_pointer (&page, json_node_unref);
  page = panel_audit_list (fx->db, 2, 10, NULL, &error);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (page)), ==, 1);
  g_clear_pointer (&page, json_node_unref);

  /* Filters (the audit page): by action, by user, by incident, by time. */
  {
    PanelAuditFilter by_action = { .action = "logout" };
    PanelAuditFilter by_actor = { .actor = "kim", .incident_id = 3 };
    PanelAuditFilter by_incident = { .incident_id = 1 };
    PanelAuditFilter nobody = { .actor = "lee" };
    PanelAuditFilter future = { .from_us = g_get_real_time () + G_USEC_PER_SEC };
    PanelAuditFilter past = { .to_us = g_get_real_time () + G_USEC_PER_SEC };

    g_assert_true (panel_audit_append (fx->db, "kim", "security", NULL, "playback",
                                       "incident 12 segment 3", NULL, &error));
    page = panel_audit_list (fx->db, 0, 10, &by_action, &error);
    g_assert_cmpuint (json_array_get_length (json_node_get_array (page)), ==, 1);
    g_assert_cmpstr (json_object_get_string_member (
                       json_array_get_object_element (json_node_get_array (page), 0), "target"),
                     ==, "incident 4");
    g_clear_pointer (&page, json_node_unref);
    page = panel_audit_list (fx->db, 0, 10, &by_actor, &error);
    g_assert_cmpuint (json_array_get_length (json_node_get_array (page)), ==, 1);
    g_clear_pointer (&page, json_node_unref);
    /* "incident 1" is not "incident 12 ...". */
    page = panel_audit_list (fx->db, 0, 10, &by_incident, &error);
    g_assert_cmpuint (json_array_get_length (json_node_get_array (page)), ==, 1);
    g_clear_pointer (&page, json_node_unref);
    by_incident.incident_id = 12;
    page = panel_audit_list (fx->db, 0, 10, &by_incident, &error);
    g_assert_cmpuint (json_array_get_length (json_node_get_array (page)), ==, 1);
    g_clear_pointer (&page, json_node_unref);
    page = panel_audit_list (fx->db, 0, 10, &nobody, &error);
    g_assert_cmpuint (json_array_get_length (json_node_get_array (page)), ==, 0);
    g_clear_pointer (&page, json_node_unref);
    page = panel_audit_list (fx->db, 0, 10, &future, &error);
    g_assert_cmpuint (json_array_get_length (json_node_get_array (page)), ==, 0);
    g_clear_pointer (&page, json_node_unref);
    page = panel_audit_list (fx->db, 0, 10, &past, &error);
    g_assert_cmpuint (json_array_get_length (json_node_get_array (page)), ==, 6);
    g_assert_no_error (error);
  }

  lines = panel_audit_export_jsonl (fx->db, &error);
  g_assert_no_error (error);
  {
    g_auto (GStrv) split = g_strsplit (lines, "\n", -1);
    g_assert_cmpuint (g_strv_length (split), ==, 7); /* six lines and the empty tail */
    g_assert_nonnull (strstr (split[2], "\"detail\":{\"role\":\"auditor\",\"note\":\"한글\"}"));
  }
}

typedef struct {
  const char *name;
  const char *tamper_sql; /* run with the triggers dropped */
  const char *expected;   /* start of the problem */
} Tamper;

static const Tamper tampers[] = {
  { "altered", "UPDATE audit_log SET target = 'incident 9' WHERE id = 3",
    "entry 3: its content does not match its hash" },
  { "altered-time", "UPDATE audit_log SET at_us = at_us - 1 WHERE id = 2",
    "entry 2: its content does not match its hash" },
  { "removed", "DELETE FROM audit_log WHERE id = 3",
    "entry 3: missing (the log jumps from entry 2 to 4)" },
  { "truncated", "DELETE FROM audit_log WHERE id >= 4",
    "entry 4: missing (the log ends at entry 3 but entries up to 5 were written)" },
  /* A forger who also recomputes the altered entry's own hash (see
   * test_audit_tamper) is caught by the next link. */
  { "rehashed", "UPDATE audit_log SET actor = 'lee' WHERE id = 2",
    "entry 3: its previous-hash does not match entry 2" },
  { "renumbered", "DELETE FROM audit_log WHERE id = 5; UPDATE audit_log SET id = 5 WHERE id = 4",
    "entry 4: missing" },
};

static void
test_audit_tamper (Fixture *fx, gconstpointer data)
{
  const Tamper *tamper = data;
  g_autofree char *problem = NULL;
  gint64 n = 0;

  append_five (fx->db);
  test_sql_exec (fx->db, "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;");
  test_sql_exec (fx->db, tamper->tamper_sql);
  if (strcmp (tamper->name, "rehashed") == 0)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (sqlite3_stmt) row = ansim_db_prepare (
        fx->db,
        "SELECT prev_hash, id, at_us, actor, role, client, action, target, detail FROM audit_log"
        " WHERE id = 2",
        &error);
      g_autofree char *hash = NULL, *sql = NULL;
      g_assert_cmpint (sqlite3_step (row), ==, SQLITE_ROW);
#define T(i) ((const char *) sqlite3_column_text (row, i))
      hash = panel_audit_entry_hash (T (0), sqlite3_column_int64 (row, 1),
                                     sqlite3_column_int64 (row, 2), T (3), T (4), T (5), T (6),
                                     T (7), T (8));
#undef T
      sql = g_strdup_printf ("UPDATE audit_log SET hash = '%s' WHERE id = 2", hash);
      test_sql_exec (fx->db, sql);
    }
  problem = verify (fx->db, &n);
  g_test_message ("%s: %s", tamper->name, problem);
  g_assert_nonnull (problem);
  g_assert_true (g_str_has_prefix (problem, tamper->expected));
}

/* The chain continues across processes' appends and after a tampered log
 * is appended to: the break stays reported. */
static void
test_audit_after_tamper (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *problem = NULL;
  gint64 n = 0;

  (void) data;
  append_five (fx->db);
  test_sql_exec (fx->db, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = 5;");
  g_assert_true (panel_audit_append (fx->db, "lee", "auditor", NULL, "logout", NULL, NULL, &error));
  problem = verify (fx->db, &n);
  g_assert_cmpstr (problem, ==, "entry 5: missing (the log jumps from entry 4 to 6)");
  g_assert_cmpint (n, ==, 4);
}

/* Every audit action panel/audit.h names has its words in both of the
 * console's catalogs (the audit page shows them, never the raw name), and
 * the two catalogs have the same keys. */
static void
test_audit_actions_translated (void)
{
  const char *root = g_getenv ("ANSIM_SOURCE_ROOT");
  g_autofree char *header_path = NULL, *header = NULL;
  g_autoptr (GRegex) define = NULL;
  g_autoptr (GMatchInfo) match = NULL;
  g_autoptr (GError) error = NULL;
  JsonObject *catalogs[2];
  g_autoptr (JsonParser) parser_en = json_parser_new ();
  g_autoptr (JsonParser) parser_ko = json_parser_new ();
  JsonParser *parsers[2] = { parser_en, parser_ko };
  static const char *const langs[] = { "en", "ko" };
  guint n = 0;

  g_assert_nonnull (root);
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *name = g_strdup_printf ("strings-%s.json", langs[i]);
      g_autofree char *path = g_build_filename (root, "panel", "ui", name, NULL);
      g_assert_true (json_parser_load_from_file (parsers[i], path, &error));
      g_assert_no_error (error);
      catalogs[i] = json_node_get_object (json_parser_get_root (parsers[i]));
    }
  header_path = g_build_filename (root, "panel", "audit.h", NULL);
  g_assert_true (g_file_get_contents (header_path, &header, NULL, &error));
  define = g_regex_new ("#define PANEL_AUDIT_[A-Z_]+ \"([a-z-]+)\"", 0, 0, &error);
  g_assert_no_error (error);
  g_regex_match (define, header, 0, &match);
  for (; g_match_info_matches (match); g_match_info_next (match, NULL), n++)
    {
      g_autofree char *action = g_match_info_fetch (match, 1);
      g_autofree char *key = g_strconcat ("action.", action, NULL);
      for (guint i = 0; i < 2; i++)
        if (!json_object_has_member (catalogs[i], key))
          g_error ("audit action '%s' has no \"%s\" in strings-%s.json", action, key, langs[i]);
    }
  g_assert_cmpuint (n, >=, 30);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr (GList) keys = json_object_get_members (catalogs[i]);
      for (GList *k = keys; k != NULL; k = k->next)
        if (!json_object_has_member (catalogs[1 - i], k->data))
          g_error ("\"%s\" is in strings-%s.json but not in strings-%s.json",
                   (const char *) k->data, langs[i], langs[1 - i]);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/auth/scrypt/roundtrip", test_scrypt_roundtrip);
  g_test_add_func ("/auth/scrypt/rfc7914-vector", test_scrypt_vector);
  g_test_add_func ("/auth/scrypt/default-cost", test_scrypt_default_cost);
  g_test_add_func ("/auth/scrypt/needs-rehash", test_scrypt_needs_rehash);
  g_test_add_func ("/auth/scrypt/malformed", test_scrypt_malformed);
  g_test_add_func ("/auth/password/policy", test_password_policy);
  g_test_add ("/auth/users", Fixture, NULL, fixture_setup, test_users, fixture_teardown);
  g_test_add ("/auth/session/expiry", Fixture, NULL, fixture_setup, test_session_expiry,
              fixture_teardown);
  g_test_add ("/auth/session/ends", Fixture, NULL, fixture_setup, test_session_ends,
              fixture_teardown);
  g_test_add_func ("/auth/throttle/window", test_throttle);
  g_test_add_func ("/auth/throttle/bounded", test_throttle_bounded);
  g_test_add_func ("/audit/actions-translated", test_audit_actions_translated);
  g_test_add ("/audit/intact", Fixture, NULL, fixture_setup, test_audit_intact, fixture_teardown);
  for (guint i = 0; i < G_N_ELEMENTS (tampers); i++)
    {
      g_autofree char *path = g_strdup_printf ("/audit/tamper/%s", tampers[i].name);
      g_test_add (path, Fixture, &tampers[i], fixture_setup, test_audit_tamper, fixture_teardown);
    }
  g_test_add ("/audit/append-after-tamper", Fixture, NULL, fixture_setup, test_audit_after_tamper,
              fixture_teardown);
  return g_test_run ();
}
