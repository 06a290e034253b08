/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Interoperability of libansim's age code with Debian's `age` and
 * `age-keygen`: files, keys and identity files must work both ways. */
#include "age.h"
#include "test-common.h"

#include <glib/gstdio.h>
#include <string.h>

static const char *age_path;
static const char *age_keygen_path;
static const char *age_tool_path;
static char *tmp_dir;

/* Keys shared by all tests: made once by each side. */
static char *ours_key, *ours_recipient; /* ansim_age_keygen() */
static char *ours2_key, *ours2_recipient;
static char *theirs_key, *theirs_recipient; /* age-keygen */
static char *theirs2_key, *theirs2_recipient;

/* ---- helpers ---------------------------------------------------------------- */

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmp_dir, name, NULL);
}

static void
assert_file_equals (const char *path, GBytes *expected)
{
  g_autoptr (GBytes) got = test_read_bytes (path);

  g_assert_cmpuint (g_bytes_get_size (got), ==, g_bytes_get_size (expected));
  g_assert_true (g_bytes_equal (got, expected));
}

/* Encrypts in_path to out_path with our library, fed in 50000-byte reads. */
static void
our_encrypt (const char *in_path, const char *out_path, const char *const *recipients)
{
  g_autoptr (GPtrArray) rs =
    g_ptr_array_new_with_free_func ((GDestroyNotify) ansim_age_recipient_free);
  g_autoptr (GFile) in_file = g_file_new_for_path (in_path);
  g_autoptr (GFile) out_file = g_file_new_for_path (out_path);
  g_autoptr (GFileInputStream) in = NULL;
  g_autoptr (GFileOutputStream) out = NULL;
  g_autoptr (AnsimAgeEncryptor) enc = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *buf = g_malloc (50000);

  for (guint i = 0; recipients[i] != NULL; i++)
    {
      AnsimAgeRecipient *r = ansim_age_recipient_parse (recipients[i], &error);
      g_assert_no_error (error);
      g_ptr_array_add (rs, r);
    }
  in = g_file_read (in_file, NULL, &error);
  g_assert_no_error (error);
  out = g_file_replace (out_file, NULL, FALSE, G_FILE_CREATE_NONE, NULL, &error);
  g_assert_no_error (error);
  enc = ansim_age_encryptor_new_for_stream ((AnsimAgeRecipient **) rs->pdata, rs->len,
                                            G_OUTPUT_STREAM (out), NULL, &error);
  g_assert_no_error (error);
  for (;;)
    {
      gssize n = g_input_stream_read (G_INPUT_STREAM (in), buf, 50000, NULL, &error);
      g_assert_no_error (error);
      if (n == 0)
        break;
      g_assert_true (ansim_age_encryptor_update (enc, buf, n, &error));
    }
  g_assert_true (ansim_age_encryptor_finish (enc, &error));
  g_assert_no_error (error);
  g_assert_true (g_output_stream_close (G_OUTPUT_STREAM (out), NULL, &error));
}

/* Decrypts a file with our library and the identities in key_path.
 * Returns the error, NULL on success, and the plaintext in *out. */
static GError *
our_decrypt (const char *key_path, const char *in_path, GBytes **out)
{
  g_autoptr (GPtrArray) ids = NULL;
  g_autoptr (GFile) in_file = g_file_new_for_path (in_path);
  g_autoptr (GFileInputStream) in = NULL;
  g_autoptr (GOutputStream) mem = g_memory_output_stream_new_resizable ();
  GError *error = NULL;

  ids = ansim_age_identities_load (key_path, &error);
  g_assert_no_error (error);
  in = g_file_read (in_file, NULL, &error);
  g_assert_no_error (error);
  ansim_age_decrypt_stream ((AnsimAgeIdentity **) ids->pdata, ids->len, G_INPUT_STREAM (in), mem,
                            NULL, &error);
  g_output_stream_close (mem, NULL, NULL);
  *out = g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (mem));
  return error;
}

static void
age_decrypts (const char *key_path, const char *ct_path, GBytes *expected)
{
  g_autofree char *out_path = tmp_path ("age-out");

  g_unlink (out_path);
  g_assert_cmpint (
    test_run (NULL, NULL, age_path, "-d", "-i", key_path, "-o", out_path, ct_path, NULL), ==, 0);
  /* age opens -o lazily: an empty plaintext leaves no file. */
  if (g_bytes_get_size (expected) == 0 && !g_file_test (out_path, G_FILE_TEST_EXISTS))
    return;
  assert_file_equals (out_path, expected);
  g_unlink (out_path);
}

static void
ours_decrypts (const char *key_path, const char *ct_path, GBytes *expected)
{
  g_autoptr (GBytes) got = NULL;
  g_autoptr (GError) error = our_decrypt (key_path, ct_path, &got);

  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (got), ==, g_bytes_get_size (expected));
  g_assert_true (g_bytes_equal (got, expected));
}

/* ---- keys ------------------------------------------------------------------- */

static void
make_keys (void)
{
  g_autoptr (GError) error = NULL;
  struct {
    char **key, **recipient;
    const char *name;
  } ours[] = { { &ours_key, &ours_recipient, "ours.key" },
               { &ours2_key, &ours2_recipient, "ours2.key" } },
    theirs[] = { { &theirs_key, &theirs_recipient, "theirs.key" },
                 { &theirs2_key, &theirs2_recipient, "theirs2.key" } };

  for (guint i = 0; i < G_N_ELEMENTS (ours); i++)
    {
      char *text = ansim_age_keygen (ours[i].recipient, &error);

      g_assert_no_error (error);
      *ours[i].key = tmp_path (ours[i].name);
      g_file_set_contents_full (*ours[i].key, text, -1, G_FILE_SET_CONTENTS_NONE, 0600, &error);
      g_assert_no_error (error);
      ansim_age_secret_free (text);
    }
  for (guint i = 0; i < G_N_ELEMENTS (theirs); i++)
    {
      g_autofree char *out = NULL;

      *theirs[i].key = tmp_path (theirs[i].name);
      g_assert_cmpint (test_run (NULL, NULL, age_keygen_path, "-o", *theirs[i].key, NULL), ==, 0);
      g_assert_cmpint (test_run (&out, NULL, age_keygen_path, "-y", *theirs[i].key, NULL), ==, 0);
      *theirs[i].recipient = g_strdup (g_strstrip (out));
    }
}

static void
test_keygen_ours_accepted (void)
{
  g_autofree char *out = NULL;

  /* age-keygen -y reads our identity file and derives our recipient. */
  g_assert_cmpint (test_run (&out, NULL, age_keygen_path, "-y", ours_key, NULL), ==, 0);
  g_assert_cmpstr (g_strstrip (out), ==, ours_recipient);
}

static void
test_keygen_theirs_parsed (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) ids = ansim_age_identities_load (theirs_key, &error);
  g_autoptr (AnsimAgeRecipient) r = NULL;
  g_autofree char *text = NULL;
  g_autofree char *file = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 1);
  r = ansim_age_identity_to_recipient (ids->pdata[0]);
  text = ansim_age_recipient_to_string (r);
  g_assert_cmpstr (text, ==, theirs_recipient);

  /* age-keygen's "# public key:" line agrees too. */
  g_file_get_contents (theirs_key, &file, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (file, theirs_recipient));
}

static void
test_identity_file_several (void)
{
  g_autofree char *path = tmp_path ("several.key");
  g_autofree char *a = NULL, *b = NULL, *both = NULL;
  g_autofree char *pt_path = tmp_path ("several.txt"), *ct_path = tmp_path ("several.age");
  g_autoptr (GBytes) plain = test_random_bytes (1000, 77);
  g_autoptr (GPtrArray) ids = NULL;
  g_autoptr (GError) error = NULL;
  const char *to_ours2[] = { ours2_recipient, NULL };

  g_file_get_contents (theirs_key, &a, NULL, &error);
  g_assert_no_error (error);
  g_file_get_contents (ours2_key, &b, NULL, &error);
  g_assert_no_error (error);
  both = g_strconcat ("# site and escrow keys\n\n", a, "\n# the second one\n", b, NULL);
  g_file_set_contents_full (path, both, -1, G_FILE_SET_CONTENTS_NONE, 0600, &error);
  g_assert_no_error (error);

  ids = ansim_age_identities_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 2);

  test_write_file (pt_path, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));
  our_encrypt (pt_path, ct_path, to_ours2);
  age_decrypts (path, ct_path, plain);
  ours_decrypts (path, ct_path, plain);
}

/* ---- files ------------------------------------------------------------------ */

static void
test_ours_to_age (gconstpointer data)
{
  gsize size = GPOINTER_TO_SIZE (data);
  g_autoptr (GBytes) plain = test_random_bytes (size, size);
  g_autofree char *pt_path = tmp_path ("o2a.txt"), *ct_path = tmp_path ("o2a.age");
  const char *to[] = { theirs_recipient, NULL };
  g_autoptr (GBytes) ct = NULL;
  gsize chunks = size == 0 ? 1 : (size + 65535) / 65536;

  test_write_file (pt_path, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));
  our_encrypt (pt_path, ct_path, to);
  ct = test_read_bytes (ct_path);
  g_assert_cmpuint (g_bytes_get_size (ct), >, size + 16 * chunks + 16);
  age_decrypts (theirs_key, ct_path, plain);
  g_unlink (pt_path);
  g_unlink (ct_path);
}

static void
test_age_to_ours (gconstpointer data)
{
  gsize size = GPOINTER_TO_SIZE (data);
  g_autoptr (GBytes) plain = test_random_bytes (size, size + 1);
  g_autofree char *pt_path = tmp_path ("a2o.txt"), *ct_path = tmp_path ("a2o.age");

  test_write_file (pt_path, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));
  g_unlink (ct_path);
  g_assert_cmpint (
    test_run (NULL, NULL, age_path, "-e", "-r", ours_recipient, "-o", ct_path, pt_path, NULL), ==,
    0);
  ours_decrypts (ours_key, ct_path, plain);
  g_unlink (pt_path);
  g_unlink (ct_path);
}

static void
test_two_recipients_ours_to_age (void)
{
  g_autoptr (GBytes) plain = test_random_bytes (200000, 3);
  g_autofree char *pt_path = tmp_path ("two.txt"), *ct_path = tmp_path ("two-ours.age");
  const char *to[] = { theirs_recipient, theirs2_recipient, NULL };

  test_write_file (pt_path, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));
  our_encrypt (pt_path, ct_path, to);
  /* Each identity alone, with either tool. */
  age_decrypts (theirs_key, ct_path, plain);
  age_decrypts (theirs2_key, ct_path, plain);
  ours_decrypts (theirs_key, ct_path, plain);
  ours_decrypts (theirs2_key, ct_path, plain);
}

static void
test_two_recipients_age_to_ours (void)
{
  g_autoptr (GBytes) plain = test_random_bytes (200000, 4);
  g_autofree char *pt_path = tmp_path ("two.txt"), *ct_path = tmp_path ("two-age.age");

  test_write_file (pt_path, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));
  g_unlink (ct_path);
  g_assert_cmpint (test_run (NULL, NULL, age_path, "-e", "-r", ours_recipient, "-r",
                             ours2_recipient, "-o", ct_path, pt_path, NULL),
                   ==, 0);
  ours_decrypts (ours_key, ct_path, plain);
  ours_decrypts (ours2_key, ct_path, plain);
  age_decrypts (ours_key, ct_path, plain);
  age_decrypts (ours2_key, ct_path, plain);
}

static void
test_mixed_recipients (void)
{
  g_autoptr (GBytes) plain = test_random_bytes (65537, 5);
  g_autofree char *pt_path = tmp_path ("mixed.txt"), *ct_path = tmp_path ("mixed.age");
  g_autofree char *ct2_path = tmp_path ("mixed2.age");
  const char *to[] = { ours_recipient, theirs_recipient, NULL };

  test_write_file (pt_path, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));
  our_encrypt (pt_path, ct_path, to);
  g_unlink (ct2_path);
  g_assert_cmpint (test_run (NULL, NULL, age_path, "-e", "-r", ours_recipient, "-r",
                             theirs_recipient, "-o", ct2_path, pt_path, NULL),
                   ==, 0);
  for (guint i = 0; i < 2; i++)
    {
      const char *ct = i == 0 ? ct_path : ct2_path;

      age_decrypts (ours_key, ct, plain);
      age_decrypts (theirs_key, ct, plain);
      ours_decrypts (ours_key, ct, plain);
      ours_decrypts (theirs_key, ct, plain);
    }
}

static void
test_wrong_identity (void)
{
  g_autoptr (GBytes) plain = test_random_bytes (70000, 6);
  g_autofree char *pt_path = tmp_path ("wrong.txt"), *ct_path = tmp_path ("wrong.age");
  g_autofree char *ct2_path = tmp_path ("wrong2.age"), *out_path = tmp_path ("wrong.out");
  g_autoptr (GBytes) got = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *err_text = NULL;
  const char *to[] = { ours_recipient, NULL };

  test_write_file (pt_path, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));
  /* age's file, our wrong identity: "no matching recipient", nothing out. */
  g_unlink (ct_path);
  g_assert_cmpint (
    test_run (NULL, NULL, age_path, "-e", "-r", theirs_recipient, "-o", ct_path, pt_path, NULL), ==,
    0);
  error = our_decrypt (ours_key, ct_path, &got);
  g_assert_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_NO_MATCH);
  g_assert_nonnull (strstr (error->message, "no matching recipient"));
  g_assert_cmpuint (g_bytes_get_size (got), ==, 0);

  /* Our file, age with the wrong identity: refused, no output. */
  our_encrypt (pt_path, ct2_path, to);
  g_unlink (out_path);
  g_assert_cmpint (
    test_run (NULL, &err_text, age_path, "-d", "-i", theirs_key, "-o", out_path, ct2_path, NULL),
    !=, 0);
  g_assert_nonnull (strstr (err_text, "no identity matched"));
  g_assert_false (g_file_test (out_path, G_FILE_TEST_EXISTS));
}

static void
test_tampered (void)
{
  g_autoptr (GBytes) plain = test_random_bytes (3 * 65536 + 10, 8);
  g_autofree char *pt_path = tmp_path ("tamper.txt"), *ct_path = tmp_path ("tamper.age");
  g_autofree char *bad_path = tmp_path ("tamper-bad.age"), *out_path = tmp_path ("tamper.out");
  const char *to[] = { theirs_recipient, NULL };
  g_autoptr (GBytes) got = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) ct = NULL;
  guint8 *bad;
  gsize len;

  /* Our file altered in chunk 1: age refuses it. */
  test_write_file (pt_path, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));
  our_encrypt (pt_path, ct_path, to);
  ct = test_read_bytes (ct_path);
  bad = g_bytes_unref_to_data (g_bytes_ref (ct), &len);
  bad[len - 26 - 100] ^= 1; /* inside chunk 2 of 4 */
  g_file_set_contents (bad_path, (char *) bad, len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (
    test_run (NULL, NULL, age_path, "-d", "-i", theirs_key, "-o", out_path, bad_path, NULL), !=, 0);
  /* And so do we, naming the chunk. */
  error = our_decrypt (theirs_key, bad_path, &got);
  g_assert_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_PAYLOAD);
  g_assert_nonnull (strstr (error->message, "chunk 2 "));
  g_clear_error (&error);
  g_clear_pointer (&got, g_bytes_unref);

  /* age's file cut at a chunk boundary: truncated. */
  g_unlink (ct_path);
  g_assert_cmpint (
    test_run (NULL, NULL, age_path, "-e", "-r", theirs_recipient, "-o", ct_path, pt_path, NULL), ==,
    0);
  g_clear_pointer (&ct, g_bytes_unref);
  ct = test_read_bytes (ct_path);
  g_file_set_contents (bad_path, g_bytes_get_data (ct, NULL), g_bytes_get_size (ct) - (10 + 16),
                       &error);
  g_assert_no_error (error);
  error = our_decrypt (theirs_key, bad_path, &got);
  g_assert_error (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_TRUNCATED);
  g_free (bad);
}

/* The test helper CLI against the real tools. */
static void
test_age_tool (void)
{
  g_autofree char *key = tmp_path ("tool.key"), *pt_path = tmp_path ("tool.txt");
  g_autofree char *ct_path = tmp_path ("tool.age"), *ct2_path = tmp_path ("tool2.age");
  g_autofree char *out_path = tmp_path ("tool.out"), *bad_path = tmp_path ("tool-bad.age");
  g_autofree char *recipient = NULL, *err_text = NULL;
  g_autoptr (GBytes) plain = test_random_bytes (150000, 9);
  g_autoptr (GBytes) ct = NULL;
  g_autoptr (GError) error = NULL;
  guint8 *bad;
  gsize len;

  g_unlink (key);
  g_assert_cmpint (test_run (NULL, NULL, age_tool_path, "keygen", "-o", key, NULL), ==, 0);
  g_assert_cmpint (test_run (&recipient, NULL, age_keygen_path, "-y", key, NULL), ==, 0);
  g_strstrip (recipient);

  test_write_file (pt_path, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));
  g_unlink (ct_path);
  g_assert_cmpint (test_run (NULL, NULL, age_tool_path, "encrypt", "-r", recipient, "-r",
                             theirs_recipient, "-o", ct_path, pt_path, NULL),
                   ==, 0);
  age_decrypts (key, ct_path, plain);
  age_decrypts (theirs_key, ct_path, plain);

  g_unlink (ct2_path);
  g_assert_cmpint (
    test_run (NULL, NULL, age_path, "-e", "-r", recipient, "-o", ct2_path, pt_path, NULL), ==, 0);
  g_unlink (out_path);
  g_assert_cmpint (
    test_run (NULL, NULL, age_tool_path, "decrypt", "-i", key, "-o", out_path, ct2_path, NULL), ==,
    0);
  assert_file_equals (out_path, plain);

  /* A failed decryption leaves no output file. */
  ct = test_read_bytes (ct2_path);
  bad = g_bytes_unref_to_data (g_bytes_ref (ct), &len);
  bad[len - 5] ^= 1;
  g_file_set_contents (bad_path, (char *) bad, len, &error);
  g_assert_no_error (error);
  g_free (bad);
  g_unlink (out_path);
  g_assert_cmpint (
    test_run (NULL, &err_text, age_tool_path, "decrypt", "-i", key, "-o", out_path, bad_path, NULL),
    !=, 0);
  g_assert_nonnull (strstr (err_text, "[PAYLOAD]"));
  g_assert_false (g_file_test (out_path, G_FILE_TEST_EXISTS));
  g_clear_pointer (&err_text, g_free);
  g_assert_cmpint (test_run (NULL, &err_text, age_tool_path, "decrypt", "-i", theirs2_key, "-o",
                             out_path, ct2_path, NULL),
                   !=, 0);
  g_assert_nonnull (strstr (err_text, "[NO_MATCH]"));
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      g_unlink (child);
    }
  g_rmdir (path);
}

int
main (int argc, char **argv)
{
  static const gsize sizes[] = { 0, 1, 65535, 65536, 65537, 10 * 1024 * 1024 };
  g_autoptr (GError) error = NULL;
  g_autofree char *found_age = NULL, *found_keygen = NULL;
  int n = 1, ret;

  /* Our own options, before g_test_init() sees argv. */
  for (int i = 1; i < argc; i++)
    {
      if (g_str_has_prefix (argv[i], "--age="))
        age_path = argv[i] + 6;
      else if (g_str_has_prefix (argv[i], "--age-keygen="))
        age_keygen_path = argv[i] + 13;
      else if (g_str_has_prefix (argv[i], "--age-tool="))
        age_tool_path = argv[i] + 11;
      else if (strcmp (argv[i], "--skip-missing-age") == 0)
        {
          g_print ("age or age-keygen not installed: skipped\n");
          return 77;
        }
      else
        argv[n++] = argv[i];
    }
  argc = n;
  argv[argc] = NULL;
  if (age_path == NULL)
    age_path = found_age = g_find_program_in_path ("age");
  if (age_keygen_path == NULL)
    age_keygen_path = found_keygen = g_find_program_in_path ("age-keygen");
  if (age_path == NULL || age_keygen_path == NULL)
    {
      g_print ("age or age-keygen not installed: skipped\n");
      return 77;
    }

  g_test_init (&argc, &argv, NULL);

  tmp_dir = g_dir_make_tmp ("test-age-interop-XXXXXX", &error);
  g_assert_no_error (error);
  make_keys ();

  g_test_add_func ("/age-interop/keygen/ours-read-by-age-keygen", test_keygen_ours_accepted);
  g_test_add_func ("/age-interop/keygen/age-keygen-read-by-ours", test_keygen_theirs_parsed);
  g_test_add_func ("/age-interop/identity-file/several", test_identity_file_several);
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autofree char *a = g_strdup_printf ("/age-interop/ours-to-age/%" G_GSIZE_FORMAT, sizes[i]);
      g_autofree char *b = g_strdup_printf ("/age-interop/age-to-ours/%" G_GSIZE_FORMAT, sizes[i]);

      g_test_add_data_func (a, GSIZE_TO_POINTER (sizes[i]), test_ours_to_age);
      g_test_add_data_func (b, GSIZE_TO_POINTER (sizes[i]), test_age_to_ours);
    }
  g_test_add_func ("/age-interop/two-recipients/ours-to-age", test_two_recipients_ours_to_age);
  g_test_add_func ("/age-interop/two-recipients/age-to-ours", test_two_recipients_age_to_ours);
  g_test_add_func ("/age-interop/two-recipients/mixed-keys", test_mixed_recipients);
  g_test_add_func ("/age-interop/wrong-identity", test_wrong_identity);
  g_test_add_func ("/age-interop/tampered", test_tampered);
  if (age_tool_path != NULL)
    g_test_add_func ("/age-interop/age-tool", test_age_tool);

  ret = g_test_run ();

  remove_tree (tmp_dir);
  g_free (tmp_dir);
  g_free (ours_key);
  g_free (ours_recipient);
  g_free (ours2_key);
  g_free (ours2_recipient);
  g_free (theirs_key);
  g_free (theirs_recipient);
  g_free (theirs2_key);
  g_free (theirs2_recipient);
  return ret;
}
