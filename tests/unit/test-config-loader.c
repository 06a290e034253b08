/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of the configuration loader on its own: a schema defined here,
 * with its own value coding, registered by the test. This program names
 * none of the programs' schemas, so config-schemas.c is not linked in: the
 * loader, detection and the hints work from what is registered alone. */
#include <glib/gstdio.h>
#include <string.h>

#include "config-loader.h"
#include "durable.h"

/* A coding: "one", "two" or "three". */
static gint64
decode_word (const char *value, const char **out_problem)
{
  static const char *const words[] = { "one", "two", "three" };

  for (guint i = 0; i < G_N_ELEMENTS (words); i++)
    if (strcmp (value, words[i]) == 0)
      return i + 1;
  *out_problem = "not a number word";
  return -1;
}

static const AnsimConfigCoding number_word = {
  .type_name = "number word",
  .decode = decode_word,
  .expected = "one, two or three",
  .allowed_markdown = "`one`, `two`, `three`",
};

static const AnsimConfigKey toy_keys[] = { { .key = "count",
                                             .type = ANSIM_CONFIG_CODED,
                                             .coding = &number_word,
                                             .required = TRUE,
                                             .help = "how many" },
                                           { NULL } };
static const AnsimConfigGroup toy_groups[] = {
  { .name = "toy", .required = TRUE, .keys = toy_keys, .help = "the toy" }, { NULL }
};
static const AnsimConfigSchema toy_schema = {
  .program = "toy-daemon",
  .main_group = "toy",
  .groups = toy_groups,
  .embedded_defaults = "[toy]\ncount = two\n",
};

static const AnsimConfigGroup game_groups[] = { { .name = "game",
                                                  .required = TRUE,
                                                  .keys = (const AnsimConfigKey[]){ { NULL } },
                                                  .help = "the game" },
                                                { NULL } };
static const AnsimConfigSchema game_schema = {
  .program = "game-daemon",
  .main_group = "game",
  .groups = game_groups,
  .embedded_defaults = "[game]\n",
};

static void
test_coding (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) ok = ansim_config_load (&toy_schema, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpint (ansim_config_get_int (ok, "toy", "count"), ==, 2);

  g_autoptr (AnsimConfig) bad =
    ansim_config_load_data (&toy_schema, "[toy]\ncount = four\n", "toy.conf", &error);
  g_assert_null (bad);
  g_assert_error (error, ANSIM_CONFIG_ERROR, ANSIM_CONFIG_ERROR_RANGE);
  g_assert_cmpstr (error->message, ==,
                   "toy.conf:2: [toy] count = 'four': not a number word; expected one, two or "
                   "three");

  g_autofree char *md = ansim_config_schema_to_markdown (&toy_schema);
  g_assert_nonnull (strstr (md, "| `count` | number word | — | `one`, `two`, `three` | yes |"));
}

/* Detection and the "belongs in" hint know exactly the registered schemas. */
static void
test_registered_only (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ansim-test-config-loader-XXXXXX", &error);
  g_autofree char *none = g_build_filename (dir, "none.conf", NULL);
  g_autofree char *game = g_build_filename (dir, "game.conf", NULL);

  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (none, "[recorder]\n", -1, NULL));
  g_assert_true (g_file_set_contents (game, "[game]\n", -1, NULL));

  ansim_config_register_schema (&toy_schema);
  ansim_config_register_schema (&game_schema);
  ansim_config_register_schema (&toy_schema); /* twice: harmless */

  g_assert_null (ansim_config_schema_detect (none, &error));
  g_assert_error (error, ANSIM_CONFIG_ERROR, ANSIM_CONFIG_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "none of [toy] or [game]"));
  g_clear_error (&error);
  g_assert_true (ansim_config_schema_detect (game, &error) == &game_schema);
  g_assert_no_error (error);

  g_autoptr (AnsimConfig) c =
    ansim_config_load_data (&toy_schema, "[toy]\ncount = one\n[game]\n", "toy.conf", &error);
  g_assert_null (c);
  g_assert_error (error, ANSIM_CONFIG_ERROR, ANSIM_CONFIG_ERROR_UNKNOWN_GROUP);
  g_assert_nonnull (
    strstr (error->message, "unknown group (it belongs in game.conf, the file of game-daemon)"));
  g_assert_true (ansim_remove_tree (dir, NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config-loader/coding", test_coding);
  g_test_add_func ("/config-loader/registered-only", test_registered_only);
  return g_test_run ();
}
