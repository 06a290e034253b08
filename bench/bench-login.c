/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Console login latency at the scrypt cost of today (N = 2^17) next to the
 * old one (N = 2^15), in the same run: two real ansim-panels on loopback,
 * one hashing at each cost (the old one through ANSIM_TEST_SCRYPT_LOG2_N),
 * logins alternating between them so both see the same machine load. Also
 * the one login that upgrades an old hash (verify at 2^15, hash at 2^17).
 * Prints p50/p90 per cost and the ratio of the medians.
 * Usage: bench-login [--logins=N] */
#include <libsoup/soup.h>
#include <string.h>

#include "upload-helpers.h"

#define PASSWORD "bench-login-password-1"

static SoupSession *http;

/* One POST /api/login: its wall time in µs; the login must succeed. */
static gint64
login_us (TestPanel *panel, const char *user)
{
  g_autofree char *url = g_strconcat (panel->url, "/api/login", NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  g_autofree char *json = g_strdup_printf ("{\"user\":\"%s\",\"password\":\"%s\"}", user, PASSWORD);
  g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  g_autoptr (GBytes) reply = soup_session_send_and_read (http, msg, NULL, &error);
  (void) reply; /* kept for its cleanup */
  g_assert_no_error (error);
  if (soup_message_get_status (msg) != 200)
    g_error ("login of %s: %u", user, soup_message_get_status (msg));
  return g_get_monotonic_time () - start;
}

static TestPanel *
panel_at (const char *dir, const char *name, const char *log2_n)
{
  g_autofree char *panel_dir = g_build_filename (dir, name, NULL);
  TestPanel *panel = test_panel_new (panel_dir, NULL);
  const char *env[] = { "ANSIM_TEST_SCRYPT_LOG2_N", log2_n, NULL };

  g_setenv ("ANSIM_TEST_SCRYPT_LOG2_N", log2_n != NULL ? log2_n : "17", TRUE);
  test_add_user (panel->conf, "guard", "security", PASSWORD);
  if (log2_n == NULL)
    {
      /* And one made at the old cost, upgraded at its first login. */
      g_setenv ("ANSIM_TEST_SCRYPT_LOG2_N", "15", TRUE);
      test_add_user (panel->conf, "old-timer", "security", PASSWORD);
    }
  g_unsetenv ("ANSIM_TEST_SCRYPT_LOG2_N");
  test_panel_start_env (panel, env);
  return panel;
}

int
main (int argc, char **argv)
{
  gint logins = 15;
  GOptionEntry entries[] = {
    { "logins", 0, 0, G_OPTION_ARG_INT, &logins, "Logins per cost (default 15)", "N" }, { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- console login latency");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || logins < 1)
    {
      g_printerr ("bench-login: %s\n", error != NULL ? error->message : "--logins must be >= 1");
      return 2;
    }
  http = soup_session_new_with_options ("timeout", 60, NULL);
  g_autofree char *dir = test_make_tmp_dir ("ansim-bench-login-XXXXXX");
  TestPanel *now = panel_at (dir, "now", NULL); /* the real default, 2^17 */
  TestPanel *old = panel_at (dir, "old", "15");
  g_autoptr (GArray) now_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) old_us = g_array_new (FALSE, FALSE, sizeof (gint64));

  gint64 upgrade = login_us (now, "old-timer");
  /* One of each first, so neither pays for a cold start in the figures. */
  login_us (now, "guard");
  login_us (old, "guard");
  for (gint i = 0; i < logins; i++)
    {
      gint64 a = login_us (now, "guard");
      gint64 b = login_us (old, "guard");
      g_array_append_val (now_us, a);
      g_array_append_val (old_us, b);
    }
  double now_p50 = test_percentile_nearest_ms (now_us, 0.5);
  double now_p90 = test_percentile_nearest_ms (now_us, 0.9);
  double old_p50 = test_percentile_nearest_ms (old_us, 0.5);
  double old_p90 = test_percentile_nearest_ms (old_us, 0.9);
  g_print ("login (POST /api/login to 200), %d each, alternating, same run:\n", logins);
  g_print ("  scrypt N=2^17 (now):    p50 %7.1f ms  p90 %7.1f ms\n", now_p50, now_p90);
  g_print ("  scrypt N=2^15 (before): p50 %7.1f ms  p90 %7.1f ms\n", old_p50, old_p90);
  g_print ("  ratio of medians: %.2f (memory per check: 128 MiB against 32 MiB)\n",
           now_p50 / old_p50);
  g_print ("  first login of a 2^15 hash on the 2^17 panel (verify + new hash): %.1f ms\n",
           upgrade / 1000.0);

  test_panel_free (now);
  test_panel_free (old);
  test_rm_rf (dir);
  g_object_unref (http);
  return 0;
}
