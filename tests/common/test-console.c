/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The console API's test client of test-console.h. Keeps true: every
 * answer reaches the caller as it came (status and body, "" when empty);
 * nothing here retries or hides an error status. */
#include "test-console.h"

#include <string.h>

void
test_login_clear (TestLogin *login)
{
  g_clear_pointer (&login->cookie, g_free);
  g_clear_pointer (&login->csrf, g_free);
}

TestConsole *
test_console_new (const char *url, SoupSession *http, guint timeout_s)
{
  TestConsole *console = g_new0 (TestConsole, 1);
  console->url = g_strdup (url);
  if (g_str_has_suffix (console->url, "/"))
    console->url[strlen (console->url) - 1] = '\0';
  console->http = http != NULL ? g_object_ref (http)
                               : soup_session_new_with_options ("timeout", timeout_s, NULL);
  return console;
}

void
test_console_free (TestConsole *console)
{
  if (console == NULL)
    return;
  g_free (console->url);
  g_clear_object (&console->http);
  g_free (console);
}

char *
test_console_request (TestConsole *console, const char *method, const char *path,
                      const TestLogin *login, TestCsrf csrf, const char *content_type,
                      const char *body, gsize body_len, guint *out_status, SoupMessage **out_msg)
{
  g_autofree char *url = g_strconcat (console->url, path, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new (method, url);
  g_autoptr (GError) error = NULL;

  g_assert_nonnull (msg);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  if (login != NULL)
    soup_message_headers_replace (h, "Cookie", login->cookie);
  if (login != NULL && csrf == TEST_CSRF_RIGHT)
    soup_message_headers_replace (h, "X-CSRF-Token", login->csrf);
  else if (csrf == TEST_CSRF_WRONG)
    soup_message_headers_replace (
      h, "X-CSRF-Token", "0000000000000000000000000000000000000000000000000000000000000000");
  if (body != NULL)
    {
      g_autoptr (GBytes) bytes = g_bytes_new (body, body_len == 0 ? strlen (body) : body_len);
      soup_message_set_request_body_from_bytes (msg, content_type, bytes);
    }
  g_autoptr (GBytes) reply = soup_session_send_and_read (console->http, msg, NULL, &error);
  g_assert_no_error (error);
  *out_status = soup_message_get_status (msg);
  if (out_msg != NULL)
    *out_msg = g_object_ref (msg);
  if (g_bytes_get_size (reply) == 0)
    return g_strdup ("");
  return g_strndup (g_bytes_get_data (reply, NULL), g_bytes_get_size (reply));
}

JsonNode *
test_json_parse (const char *text)
{
  g_autoptr (GError) error = NULL;
  JsonNode *node = json_from_string (text, &error);
  g_assert_no_error (error);
  g_assert_nonnull (node);
  return node;
}

JsonObject *
test_json_parse_object (const char *text)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

JsonNode *
test_console_get_ok (TestConsole *console, const char *path, const TestLogin *login)
{
  guint status = 0;
  g_autofree char *body = test_console_request (console, "GET", path, login, TEST_CSRF_NONE, NULL,
                                                NULL, 0, &status, NULL);
  if (status != 200)
    g_error ("GET %s: %u %s", path, status, body);
  return test_json_parse (body);
}

guint
test_console_post (TestConsole *console, const char *path, const TestLogin *login, gboolean csrf,
                   const char *body, char **out_body)
{
  guint status = 0;
  g_autofree char *reply = test_console_request (
    console, "POST", path, login, login != NULL && csrf ? TEST_CSRF_RIGHT : TEST_CSRF_NONE,
    "application/json", body, 0, &status, NULL);
  if (out_body != NULL)
    *out_body = g_steal_pointer (&reply);
  return status;
}

JsonNode *
test_console_post_ok (TestConsole *console, const char *path, const TestLogin *login,
                      const char *body, guint want)
{
  g_autofree char *reply = NULL;
  guint status = test_console_post (console, path, login, TRUE, body, &reply);
  if (status != want)
    g_error ("POST %s: %u %s (wanted %u)", path, status, reply, want);
  return test_json_parse (reply);
}

void
test_console_refused (TestConsole *console, const char *path, const TestLogin *login,
                      const char *body, guint want, const char *says)
{
  g_autofree char *reply = NULL;
  guint status = test_console_post (console, path, login, TRUE, body, &reply);
  if (status != want || (says != NULL && strstr (reply, says) == NULL))
    g_error ("POST %s %s: %u %s (wanted %u with \"%s\")", path, body, status, reply, want, says);
}

guint
test_console_try_login (TestConsole *console, const char *user, const char *password,
                        TestLogin *login, char **out_body, SoupMessage **out_msg)
{
  g_autofree char *json = g_strdup_printf ("{\"user\":\"%s\",\"password\":\"%s\"}", user, password);
  g_autoptr (SoupMessage) msg = NULL;
  guint status = 0;
  g_autofree char *body = test_console_request (console, "POST", "/api/login", NULL, TEST_CSRF_NONE,
                                                "application/json", json, 0, &status, &msg);

  if (status == SOUP_STATUS_OK && login != NULL)
    {
      const char *cookie =
        soup_message_headers_get_one (soup_message_get_response_headers (msg), "Set-Cookie");
      g_autoptr (JsonObject) o = test_json_parse_object (body);
      g_assert_nonnull (cookie);
      test_login_clear (login);
      login->cookie = g_strndup (cookie, strcspn (cookie, ";"));
      login->csrf = g_strdup (json_object_get_string_member (o, "csrf_token"));
    }
  if (out_body != NULL)
    *out_body = g_steal_pointer (&body);
  if (out_msg != NULL)
    *out_msg = g_steal_pointer (&msg);
  return status;
}

void
test_console_login (TestConsole *console, const char *user, const char *password, TestLogin *login)
{
  g_autofree char *body = NULL;
  guint status = test_console_try_login (console, user, password, login, &body, NULL);
  if (status != 200)
    g_error ("login as %s: %u %s", user, status, body);
}

guint
test_console_count_audit (TestConsole *console, const TestLogin *auditor, const char *action,
                          const char *target, JsonObject **out_last)
{
  g_autoptr (JsonNode) node = test_console_get_ok (console, "/api/audit?limit=500", auditor);
  JsonArray *entries = json_object_get_array_member (json_node_get_object (node), "entries");
  guint n = 0;
  if (out_last != NULL)
    *out_last = NULL;
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *e = json_array_get_object_element (entries, i);
      if (g_strcmp0 (json_object_get_string_member (e, "action"), action) != 0
          || (target != NULL
              && g_strcmp0 (json_object_get_string_member_with_default (e, "target", NULL),
                            target)))
        continue;
      if (n == 0 && out_last != NULL)
        *out_last = json_object_ref (e);
      n++;
    }
  return n;
}
