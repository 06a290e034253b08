/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The console API's client for the tests and benchmarks: requests over real
 * HTTP (libsoup) to a running ansim-panel, with a login's session cookie
 * and CSRF token, JSON answers parsed. Every helper fails the test on an
 * answer other than the one it was told to expect, showing the body. */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* A logged-in user: the session cookie ("ansim_session=...") and the
 * CSRF token the login answered with. */
typedef struct {
  char *cookie;
  char *csrf;
} TestLogin;

void test_login_clear (TestLogin *login);

/* A panel's console as a client sees it: its base URL (no trailing slash)
 * and the HTTP session the requests go through. */
typedef struct {
  char *url;
  SoupSession *http;
} TestConsole;

/* http: the session to use (referenced), or NULL for a new one with
 * timeout_s. */
TestConsole *test_console_new (const char *url, SoupSession *http, guint timeout_s);
void test_console_free (TestConsole *console);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestConsole, test_console_free)

/* Which CSRF token a request carries: none, the login's, a wrong one. */
typedef enum { TEST_CSRF_NONE, TEST_CSRF_RIGHT, TEST_CSRF_WRONG } TestCsrf;

/* One request. login may be NULL (no cookie); body (body_len 0: a string)
 * goes with content_type. Returns the answer's body ("" when empty);
 * out_msg (may be NULL) keeps the message for its headers. */
char *test_console_request (TestConsole *console, const char *method, const char *path,
                            const TestLogin *login, TestCsrf csrf, const char *content_type,
                            const char *body, gsize body_len, guint *out_status,
                            SoupMessage **out_msg);

/* Parses JSON text, failing the test when it is not JSON. */
JsonNode *test_json_parse (const char *text);
/* The same, and it must be an object. */
JsonObject *test_json_parse_object (const char *text);

/* GET path as login expecting 200; the answer parsed. */
JsonNode *test_console_get_ok (TestConsole *console, const char *path, const TestLogin *login);
/* POST a JSON body (with the login's CSRF token when csrf); the answer's
 * status, its body in *out_body (may be NULL). */
guint test_console_post (TestConsole *console, const char *path, const TestLogin *login,
                         gboolean csrf, const char *body, char **out_body);
/* POST with the CSRF token expecting status want; the answer parsed. */
JsonNode *test_console_post_ok (TestConsole *console, const char *path, const TestLogin *login,
                                const char *body, guint want);
/* POST expecting a refusal: status want, and says (unless NULL) in its body. */
void test_console_refused (TestConsole *console, const char *path, const TestLogin *login,
                           const char *body, guint want, const char *says);

/* POST /api/login; returns the HTTP status and, on 200, fills login (what
 * it held is freed). out_body, out_msg: may be NULL. */
guint test_console_try_login (TestConsole *console, const char *user, const char *password,
                              TestLogin *login, char **out_body, SoupMessage **out_msg);
/* The same, expecting 200. */
void test_console_login (TestConsole *console, const char *user, const char *password,
                         TestLogin *login);

/* Audit entries with action (and target, unless NULL) among the latest
 * 500 of GET /api/audit as auditor; the newest of them in *out_last (may
 * be NULL; NULL when none; unref it). */
guint test_console_count_audit (TestConsole *console, const TestLogin *auditor, const char *action,
                                const char *target, JsonObject **out_last);

G_END_DECLS
