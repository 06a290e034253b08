/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of the shared helpers: SHA-256 hex against the FIPS 180-2
 * vectors, the value checks, the OpenSSL error, durable writes on a real
 * file system, JSON escaping read back by json-glib, the curl cleanups. */
#include "address-mask.h"
#include "curl-cleanups.h"
#include "test-common.h"
#include "durable.h"
#include "json-event.h"
#include "util.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"

/* ---- SHA-256 ---------------------------------------------------------------- */

static void
test_sha256_vectors (void)
{
  char hex[ANSIM_SHA256_HEX_LEN + 1];
  guint8 raw[ANSIM_SHA256_LEN];
  const char *long_msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

  ansim_hash_sha256_hex ("abc", 3, hex);
  g_assert_cmpstr (hex, ==, SHA_ABC);
  ansim_hash_sha256_hex (NULL, 0, hex);
  g_assert_cmpstr (hex, ==, SHA_EMPTY);
  ansim_hash_sha256_hex (long_msg, strlen (long_msg), hex);
  g_assert_cmpstr (hex, ==, SHA_448);

  ansim_hash_sha256 ("abc", 3, raw);
  g_assert_cmpint (raw[0], ==, 0xba);
  g_assert_cmpint (raw[31], ==, 0xad);

  g_autofree char *dup = ansim_hash_sha256_hex_dup ("abc", 3);
  g_assert_cmpstr (dup, ==, SHA_ABC);
  g_autoptr (GBytes) bytes = g_bytes_new_static ("abc", 3);
  g_autofree char *of_bytes = ansim_hash_sha256_hex_bytes (bytes);
  g_assert_cmpstr (of_bytes, ==, SHA_ABC);
  g_autofree char *of_null = ansim_hash_sha256_hex_bytes (NULL);
  g_assert_cmpstr (of_null, ==, SHA_EMPTY);
}

/* Fed in uneven pieces, the streaming hash is the one-shot hash. */
static void
test_sha256_streaming (void)
{
  g_autoptr (GByteArray) data = g_byte_array_new ();
  char whole[ANSIM_SHA256_HEX_LEN + 1];
  char streamed[ANSIM_SHA256_HEX_LEN + 1];

  for (guint i = 0; i < 100000; i++)
    {
      guint8 b = (guint8) (i * 31 + 7);
      g_byte_array_append (data, &b, 1);
    }
  ansim_hash_sha256_hex (data->data, data->len, whole);

  g_autoptr (EVP_MD_CTX) ctx = ansim_hash_sha256_begin ();
  for (gsize off = 0, step = 1; off < data->len; off += step, step = step * 3 + 1)
    EVP_DigestUpdate (ctx, data->data + off, MIN (step, data->len - off));
  ansim_hash_sha256_end_hex (ctx, streamed);
  g_assert_cmpstr (streamed, ==, whole);
}

static void
test_hex_encode (void)
{
  const guint8 in[] = { 0x00, 0x0f, 0xa5, 0xff };
  char out[2 * sizeof in + 1];

  ansim_hex_encode (in, sizeof in, out);
  g_assert_cmpstr (out, ==, "000fa5ff");
  ansim_hex_encode (in, 0, out);
  g_assert_cmpstr (out, ==, "");
}

/* ---- value checks ----------------------------------------------------------- */

static void
test_is_uuid (void)
{
  g_assert_true (ansim_is_uuid ("0f8fad5b-d9cb-469f-a165-70867728950e"));
  g_assert_true (ansim_is_uuid ("00000000-0000-0000-0000-000000000000"));
  g_assert_false (ansim_is_uuid (NULL));
  g_assert_false (ansim_is_uuid (""));
  g_assert_false (ansim_is_uuid ("0F8FAD5B-D9CB-469F-A165-70867728950E"));  /* upper case */
  g_assert_false (ansim_is_uuid ("0f8fad5bd9cb469fa16570867728950e"));      /* no dashes */
  g_assert_false (ansim_is_uuid ("0f8fad5b-d9cb-469f-a165-70867728950"));   /* short */
  g_assert_false (ansim_is_uuid ("0f8fad5b-d9cb-469f-a165-70867728950e0")); /* long */
  g_assert_false (ansim_is_uuid ("0f8fad5b-d9cb-469f-a165_70867728950e"));  /* wrong dash */
  g_assert_false (ansim_is_uuid ("0f8fad5b-d9cb-469f-a165-70867728950g"));  /* not hex */
  g_assert_false (ansim_is_uuid ("0f8fad5b-d9cb-469f-a165-7086772895-e"));  /* dash in place */
}

static void
test_is_sha256_hex (void)
{
  g_assert_true (ansim_is_sha256_hex (SHA_ABC));
  g_assert_false (ansim_is_sha256_hex (NULL));
  g_assert_false (ansim_is_sha256_hex (""));
  g_assert_false (ansim_is_sha256_hex (SHA_ABC "0"));
  g_autofree char *upper = g_ascii_strup (SHA_ABC, -1);
  g_assert_false (ansim_is_sha256_hex (upper));
  g_autofree char *short_one = g_strndup (SHA_ABC, 63);
  g_assert_false (ansim_is_sha256_hex (short_one));
  g_autofree char *bad = g_strdup (SHA_ABC);
  bad[10] = 'g';
  g_assert_false (ansim_is_sha256_hex (bad));
}

static void
test_is_name (void)
{
  g_autofree char *max = g_strnfill (ANSIM_NAME_MAX, 'a');
  g_autofree char *over = g_strnfill (ANSIM_NAME_MAX + 1, 'a');

  g_assert_true (ansim_is_name ("desk-1"));
  g_assert_true (ansim_is_name ("Front_Desk.2"));
  g_assert_true (ansim_is_name (max));
  g_assert_false (ansim_is_name (over));
  g_assert_false (ansim_is_name (NULL));
  g_assert_false (ansim_is_name (""));
  g_assert_false (ansim_is_name ("desk 1"));
  g_assert_false (ansim_is_name ("desk/1"));
  g_assert_false (ansim_is_name ("d\xc3\xa9sk"));
  g_assert_false (ansim_is_name ("desk\n"));
}

static void
test_is_token (void)
{
  g_autofree char *max = g_strnfill (ANSIM_TOKEN_MAX, 'x');
  g_autofree char *over = g_strnfill (ANSIM_TOKEN_MAX + 1, 'x');

  g_assert_true (ansim_is_token ("long-press"));
  g_assert_true (ansim_is_token ("2nd"));
  g_assert_true (ansim_is_token (max));
  g_assert_false (ansim_is_token (over));
  g_assert_false (ansim_is_token (NULL));
  g_assert_false (ansim_is_token (""));
  g_assert_false (ansim_is_token ("-press"));
  g_assert_false (ansim_is_token ("Press"));
  g_assert_false (ansim_is_token ("long_press"));
  g_assert_false (ansim_is_token ("long press"));
}

static void
test_is_text (void)
{
  g_autofree char *max = g_strnfill (ANSIM_TEXT_MAX, 't');
  g_autofree char *over = g_strnfill (ANSIM_TEXT_MAX + 1, 't');

  g_assert_true (ansim_is_text ("Desk button (front) \xe2\x80\x94 caf\xc3\xa9"));
  g_assert_true (ansim_is_text ("quote \" and backslash \\"));
  g_assert_true (ansim_is_text (max));
  g_assert_false (ansim_is_text (over));
  g_assert_false (ansim_is_text (NULL));
  g_assert_false (ansim_is_text (""));
  g_assert_false (ansim_is_text ("two\nlines"));
  g_assert_false (ansim_is_text ("tab\there"));
  g_assert_false (ansim_is_text ("del\x7f"));
  g_assert_false (ansim_is_text ("c1 \xc2\x85 control"));
  g_assert_false (ansim_is_text ("bad \xc3\x28 utf-8"));
}

/* ---- OpenSSL errors --------------------------------------------------------- */

static void
test_openssl_error (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BIO) bio = BIO_new_mem_buf ("-----BEGIN PRIVATE KEY-----\nnot base64\n", -1);
  g_autoptr (EVP_PKEY) pkey = PEM_read_bio_PrivateKey (bio, NULL, NULL, NULL);

  g_assert_null (pkey);
  g_assert_cmpuint (ERR_peek_error (), !=, 0);
  g_assert_false (
    ansim_set_openssl_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "reading the key"));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_true (g_str_has_prefix (error->message, "reading the key: "));
  g_assert_cmpstr (error->message, !=, "reading the key: unknown error");
  /* The queue is empty: the next error is not blamed on this one. */
  g_assert_cmpuint (ERR_peek_error (), ==, 0);

  g_clear_error (&error);
  g_assert_false (ansim_set_openssl_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED, "nothing"));
  g_assert_cmpstr (error->message, ==, "nothing: unknown error");
  /* error may be NULL. */
  g_assert_false (ansim_set_openssl_error (NULL, G_IO_ERROR, G_IO_ERROR_FAILED, "ignored"));
}

/* ---- retries ---------------------------------------------------------------- */

/* Doubling from initial up to max, then somewhere in the upper half. */
static void
test_backoff (void)
{
  for (guint round = 0; round < 200; round++)
    for (gint64 attempt = 1; attempt <= 12; attempt++)
      {
        gint64 delay = MIN ((gint64) 100 << MIN (attempt - 1, 20), 5000);
        gint64 wait = ansim_backoff (100, 5000, attempt);
        g_assert_cmpint (wait, >=, delay / 2);
        g_assert_cmpint (wait, <=, delay);
      }
  g_assert_cmpint (ansim_backoff (0, 0, 1), ==, 0);
  g_assert_cmpint (ansim_backoff (G_GINT64_CONSTANT (1) << 40, G_GINT64_CONSTANT (1) << 41, 3), >=,
                   G_GINT64_CONSTANT (1) << 40);
}

/* ---- durable files ---------------------------------------------------------- */

typedef struct {
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  f->dir = test_make_tmp_dir ("test-util-XXXXXX");
}

static void
fixture_teardown (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (ansim_remove_tree (f->dir, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (f->dir, G_FILE_TEST_EXISTS));
  g_free (f->dir);
}

static char *
read_text (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *text = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  g_assert_no_error (error);
  return text;
}

static guint
count_entries (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  g_assert_nonnull (d);
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static void
test_write_durable (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "key.pem", NULL);
  GStatBuf st;
  mode_t old_umask = umask (0);

  /* Exactly the mode asked for, whatever the umask. */
  g_assert_true (ansim_file_write_durable (path, "first", 5, 0640, ANSIM_WRITE_NO_REPLACE, &error));
  umask (old_umask);
  g_assert_no_error (error);
  g_autofree char *first = read_text (path);
  g_assert_cmpstr (first, ==, "first");
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 07777, ==, 0640);

  /* Not replacing: the old bytes stay, no temporary file is left. */
  g_assert_false (
    ansim_file_write_durable (path, "second", 6, 0600, ANSIM_WRITE_NO_REPLACE, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST);
  g_assert_cmpint (errno, ==, EEXIST);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "exists already"));
  g_clear_error (&error);
  g_autofree char *still = read_text (path);
  g_assert_cmpstr (still, ==, "first");
  g_assert_cmpuint (count_entries (f->dir), ==, 1);

  /* Replacing. */
  g_assert_true (ansim_file_write_durable (path, "third", 5, 0600, ANSIM_WRITE_REPLACE, &error));
  g_assert_no_error (error);
  g_autofree char *third = read_text (path);
  g_assert_cmpstr (third, ==, "third");
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 07777, ==, 0600);
  g_assert_cmpuint (count_entries (f->dir), ==, 1);

  /* Empty files are files. */
  g_autofree char *empty = g_build_filename (f->dir, "empty", NULL);
  g_assert_true (ansim_file_write_durable (empty, NULL, 0, 0644, ANSIM_WRITE_NO_REPLACE, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_stat (empty, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, 0);
}

static void
test_write_durable_missing_folder (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "no-such", "file", NULL);

  g_assert_false (ansim_file_write_durable (path, "x", 1, 0600, ANSIM_WRITE_REPLACE, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_cmpint (errno, ==, ENOENT);
  g_autofree char *folder = g_build_filename (f->dir, "no-such", NULL);
  g_assert_nonnull (strstr (error->message, folder));
  g_assert_cmpuint (count_entries (f->dir), ==, 0);
}

typedef struct {
  const char *path;
  guint id;
  gint *winners;
} Racer;

static gpointer
race (gpointer data)
{
  Racer *r = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *text = g_strdup_printf ("writer %u", r->id);

  if (ansim_file_write_durable (r->path, text, strlen (text), 0600, ANSIM_WRITE_NO_REPLACE, &error))
    g_atomic_int_inc (r->winners);
  else
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST);
  return NULL;
}

/* Of writers racing for one name without replacing, exactly one wins and
 * the file holds its bytes whole. */
static void
test_write_durable_race (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "manifest.json", NULL);
  gint winners = 0;
  Racer racers[8];
  GThread *threads[8];

  for (guint i = 0; i < G_N_ELEMENTS (racers); i++)
    {
      racers[i] = (Racer){ path, i, &winners };
      threads[i] = g_thread_new ("racer", race, &racers[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_cmpint (winners, ==, 1);
  g_autofree char *text = read_text (path);
  g_assert_true (g_str_has_prefix (text, "writer "));
  g_assert_cmpuint (strlen (text), ==, strlen ("writer 0"));
  g_assert_cmpuint (count_entries (f->dir), ==, 1);
}

static void
test_fsync_dir (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *missing = g_build_filename (f->dir, "missing", NULL);
  g_autofree char *file = g_build_filename (f->dir, "file", NULL);

  g_assert_true (ansim_fsync_dir (f->dir, &error));
  g_assert_no_error (error);
  g_assert_false (ansim_fsync_dir (missing, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (file, "x", 1, NULL));
  g_assert_false (ansim_fsync_dir (file, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR);
}

static void
test_rename_noreplace (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *a = g_build_filename (f->dir, "a", NULL);
  g_autofree char *b = g_build_filename (f->dir, "b", NULL);

  g_assert_true (g_file_set_contents (a, "a", 1, NULL));
  g_assert_true (ansim_rename_noreplace (a, b, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (a, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_set_contents (a, "a2", 2, NULL));
  g_assert_false (ansim_rename_noreplace (a, b, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST);
  g_autofree char *kept = read_text (b);
  g_assert_cmpstr (kept, ==, "a");
  g_assert_true (g_file_test (a, G_FILE_TEST_EXISTS));
}

/* A tree with a link out of it: the tree goes, what the link points to
 * stays. */
static void
test_remove_tree (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *tree = g_build_filename (f->dir, "tree", NULL);
  g_autofree char *deep = g_build_filename (tree, "a", "b", "c", NULL);
  g_autofree char *outside = g_build_filename (f->dir, "outside", NULL);
  g_autofree char *kept = g_build_filename (outside, "kept", NULL);
  g_autofree char *link = g_build_filename (tree, "a", "link", NULL);

  g_assert_cmpint (g_mkdir_with_parents (deep, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (outside, 0700), ==, 0);
  g_assert_true (g_file_set_contents (kept, "kept", -1, NULL));
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s/f%u", deep, i);
      g_assert_true (g_file_set_contents (name, "x", -1, NULL));
    }
  g_assert_cmpint (symlink (outside, link), ==, 0);

  g_assert_true (ansim_remove_tree (tree, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (tree, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (kept, G_FILE_TEST_IS_REGULAR));

  /* Missing is done; a single file is removed. */
  g_assert_true (ansim_remove_tree (tree, &error));
  g_assert_no_error (error);
  g_assert_true (ansim_remove_tree (kept, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (kept, G_FILE_TEST_EXISTS));
}

/* A path that cannot be looked at: the error names it. (Root, which these
 * tests may run as, ignores folder permissions, so no chmod here.) */
static void
test_remove_tree_failure (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *long_name = g_strnfill (300, 'n');
  g_autofree char *path = g_build_filename (f->dir, long_name, NULL);

  g_assert_false (ansim_remove_tree (path, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG);
  g_assert_cmpint (errno, ==, ENAMETOOLONG);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_true (g_file_test (f->dir, G_FILE_TEST_IS_DIR));
}

/* ---- JSON ------------------------------------------------------------------- */

/* Parses text with json-glib and returns member key as a string. */
static char *
read_back (const char *text, const char *key)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
  g_assert_no_error (error);
  JsonNode *root = json_parser_get_root (parser);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  return g_strdup (json_object_get_string_member (json_node_get_object (root), key));
}

static void
test_json_builder (void)
{
  g_autoptr (AnsimJsonBuilder) b = ansim_json_builder_new ();

  g_autofree char *empty = ansim_json_builder_end (b);
  g_assert_cmpstr (empty, ==, "{}");

  ansim_json_builder_add_int (b, "drill", G_GINT64_CONSTANT (-9007199254740991));
  ansim_json_builder_add_uint (b, "idx", G_MAXUINT64);
  ansim_json_builder_add_string (b, "armed_by", "ana");
  ansim_json_builder_add_string (b, "source", NULL);
  ansim_json_builder_add_bool (b, "drill_run", TRUE);
  ansim_json_builder_add_bool (b, "done", FALSE);
  g_autofree char *text = ansim_json_builder_end (b);
  g_assert_cmpstr (text, ==,
                   "{\"drill\":-9007199254740991,\"idx\":18446744073709551615,"
                   "\"armed_by\":\"ana\",\"source\":null,\"drill_run\":true,\"done\":false}");

  /* Reusable after end. */
  ansim_json_builder_add_int (b, "n", 1);
  g_autofree char *again = ansim_json_builder_end (b);
  g_assert_cmpstr (again, ==, "{\"n\":1}");
}

/* A name with a quote, a backslash and control characters (as an operator
 * may type into the console) gives valid JSON that reads back the same. */
static void
test_json_escaping_round_trip (void)
{
  static const char *const names[] = {
    "O\"Brien",
    "back\\slash",
    "new\nline\r\ttab",
    "bell\a esc\x1b unit\x1f del\x7f",
    "\"\\\"\\\\\"",
    "caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x9a\xa8",
    "\"},\"armed_by\":\"mallory",
    "",
  };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr (AnsimJsonBuilder) b = ansim_json_builder_new ();

      ansim_json_builder_add_int (b, "drill", 7);
      ansim_json_builder_add_string (b, "armed_by", names[i]);
      g_autofree char *text = ansim_json_builder_end (b);
      for (const char *p = text; *p; p++)
        g_assert_cmpint ((guchar) *p, >=, 0x20);
      g_autofree char *back = read_back (text, "armed_by");
      g_assert_cmpstr (back, ==, names[i]);
    }
}

static void
test_json_escape_forms (void)
{
  g_autoptr (GString) out = g_string_new (NULL);

  ansim_json_append_string (out, "a\"b\\c\nd\x01"
                                 "e");
  g_assert_cmpstr (out->str, ==, "\"a\\\"b\\\\c\\nd\\u0001e\"");
  g_string_truncate (out, 0);
  ansim_json_append_string (out, NULL);
  g_assert_cmpstr (out->str, ==, "null");

  /* Invalid UTF-8 becomes U+FFFD, still valid JSON. */
  g_autoptr (AnsimJsonBuilder) b = ansim_json_builder_new ();
  ansim_json_builder_add_string (b, "what", "bad \xc3\x28 byte");
  g_autofree char *text = ansim_json_builder_end (b);
  g_autofree char *back = read_back (text, "what");
  g_assert_cmpstr (back, ==, "bad \xef\xbf\xbd( byte");
}

/* ---- curl cleanups ---------------------------------------------------------- */

/* Under the sanitizers a cleanup that does not run is a leak. */
static void
test_curl_cleanups (void)
{
  g_autoptr (CURL) curl = curl_easy_init ();
  g_autoptr (AnsimCurlSlist) headers = curl_slist_append (NULL, "Accept: application/json");

  g_assert_nonnull (curl);
  g_assert_nonnull (headers);
  headers = curl_slist_append (headers, "X-Test: 1");
  g_assert_cmpint (curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers), ==, CURLE_OK);
}

/* Integer literals beyond 64 bits are named (json-glib would wrap them);
 * strings, fractions and exponents are not integers. */
static void
test_json_integers_fit (void)
{
  const char *fit[] = {
    "{\"a\":9223372036854775807,\"b\":-9223372036854775808}",
    "{\"a\":\"99999999999999999999\",\"b\\\"99999999999999999999\":1}",
    "[1.5e400, 99999999999999999999.0, -0, 0]",
    "",
  };
  const char *beyond[] = {
    "{\"a\":9223372036854775808}", "{\"a\":-9223372036854775809}",
    "{\"x\":\"\\\\\",\"a\":[1,99999999999999999999]}",
    "{\"a\":18446744073709551621}", /* 2^64 + 5: json-glib reads 5 */
  };
  for (guint i = 0; i < G_N_ELEMENTS (fit); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_true (ansim_json_integers_fit (fit[i], strlen (fit[i]), &error));
      g_assert_no_error (error);
    }
  for (guint i = 0; i < G_N_ELEMENTS (beyond); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (ansim_json_integers_fit (beyond[i], strlen (beyond[i]), &error));
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, "does not fit in 64 bits"));
    }
}

/* trusted_proxies: addresses and networks, matched with IPv4 in IPv6
 * form too; a bad entry is an error naming it. */
static void
test_address_masks (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) masks =
    ansim_address_masks_parse ("127.0.0.1, 10.0.0.0/8;::1  fd00::/8", &error);
  g_autoptr (GPtrArray) none = ansim_address_masks_parse ("", &error);
  static const char *const bad[] = { "banana", "10.0.0.1/8", "10.0.0.0/33", "1.2.3", "::1/129" };

  g_assert_no_error (error);
  g_assert_cmpuint (masks->len, ==, 4);
  g_assert_cmpuint (none->len, ==, 0);
  g_assert_true (ansim_address_masks_contain (masks, "127.0.0.1"));
  g_assert_true (ansim_address_masks_contain (masks, "::ffff:127.0.0.1"));
  g_assert_true (ansim_address_masks_contain (masks, "10.200.3.4"));
  g_assert_true (ansim_address_masks_contain (masks, "::1"));
  g_assert_true (ansim_address_masks_contain (masks, "fd12::7"));
  g_assert_false (ansim_address_masks_contain (masks, "127.0.0.2"));
  g_assert_false (ansim_address_masks_contain (masks, "11.0.0.1"));
  g_assert_false (ansim_address_masks_contain (masks, "not an address"));
  g_assert_false (ansim_address_masks_contain (masks, NULL));
  g_assert_false (ansim_address_masks_contain (none, "127.0.0.1"));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *text = g_strdup_printf ("127.0.0.1, %s", bad[i]);
      g_autoptr (GPtrArray) masks2 = ansim_address_masks_parse (text, &error);
      g_assert_null (masks2);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, bad[i]));
      g_clear_error (&error);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/util/sha256/vectors", test_sha256_vectors);
  g_test_add_func ("/util/sha256/streaming", test_sha256_streaming);
  g_test_add_func ("/util/hex", test_hex_encode);
  g_test_add_func ("/util/check/uuid", test_is_uuid);
  g_test_add_func ("/util/check/sha256-hex", test_is_sha256_hex);
  g_test_add_func ("/util/check/name", test_is_name);
  g_test_add_func ("/util/check/token", test_is_token);
  g_test_add_func ("/util/check/text", test_is_text);
  g_test_add_func ("/util/openssl-error", test_openssl_error);
  g_test_add_func ("/util/backoff", test_backoff);
  g_test_add ("/util/durable/write", Fixture, NULL, fixture_setup, test_write_durable,
              fixture_teardown);
  g_test_add ("/util/durable/missing-folder", Fixture, NULL, fixture_setup,
              test_write_durable_missing_folder, fixture_teardown);
  g_test_add ("/util/durable/race", Fixture, NULL, fixture_setup, test_write_durable_race,
              fixture_teardown);
  g_test_add ("/util/durable/fsync-dir", Fixture, NULL, fixture_setup, test_fsync_dir,
              fixture_teardown);
  g_test_add ("/util/durable/rename-noreplace", Fixture, NULL, fixture_setup, test_rename_noreplace,
              fixture_teardown);
  g_test_add ("/util/durable/remove-tree", Fixture, NULL, fixture_setup, test_remove_tree,
              fixture_teardown);
  g_test_add ("/util/durable/remove-tree-failure", Fixture, NULL, fixture_setup,
              test_remove_tree_failure, fixture_teardown);
  g_test_add_func ("/util/json/builder", test_json_builder);
  g_test_add_func ("/util/json/escaping-round-trip", test_json_escaping_round_trip);
  g_test_add_func ("/util/json/escape-forms", test_json_escape_forms);
  g_test_add_func ("/util/curl-cleanups", test_curl_cleanups);
  g_test_add_func ("/util/json/integers-fit", test_json_integers_fit);
  g_test_add_func ("/util/address-masks", test_address_masks);
  return g_test_run ();
}
