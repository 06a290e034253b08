/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Runs every C2SP CCTV age conformance vector in tests/data/age-vectors:
 * the expected result and kind of failure, and the released plaintext. */
#include "age.h"
#include "test-sink.h"

#include <string.h>

typedef struct {
  char *name;
  char *expect; /* success, no match, HMAC failure, header failure, payload failure, armor failure */
  char *payload;     /* hex SHA-256 of all released plaintext, or NULL */
  GPtrArray *x25519; /* "AGE-SECRET-KEY-1…" */
  guint n_hybrid;    /* "AGE-SECRET-KEY-PQ-1…" */
  guint n_passphrases;
  gboolean armored;
  gboolean compressed;
  char *unknown_key;
  GBytes *file; /* the age file, decompressed */
} Vector;

static struct {
  guint passed, failed, total;
  guint na_armor, na_scrypt, na_hybrid, na_unknown;
} counts;

static char *vectors_dir;

static void
vector_free (Vector *v)
{
  g_free (v->name);
  g_free (v->expect);
  g_free (v->payload);
  g_clear_pointer (&v->x25519, g_ptr_array_unref);
  g_free (v->unknown_key);
  g_clear_pointer (&v->file, g_bytes_unref);
  g_free (v);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Vector, vector_free)

static GBytes *
zlib_inflate (GBytes *in, GError **error)
{
  g_autoptr (GZlibDecompressor) z = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB);
  g_autoptr (GInputStream) mem = g_memory_input_stream_new_from_bytes (in);
  g_autoptr (GInputStream) conv = g_converter_input_stream_new (mem, G_CONVERTER (z));
  g_autoptr (GOutputStream) out = g_memory_output_stream_new_resizable ();

  if (g_output_stream_splice (
        out, conv, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE | G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL,
        error)
      < 0)
    return NULL;
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (out));
}

/* The kit's format: "key: value" lines, an empty line, the age file. */
static Vector *
vector_load (const char *name, GError **error)
{
  g_autofree char *path = g_build_filename (vectors_dir, name, NULL);
  g_autoptr (Vector) v = g_new0 (Vector, 1);
  g_autofree char *data = NULL;
  gsize len = 0;
  const char *p, *end;

  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  v->name = g_strdup (name);
  v->x25519 = g_ptr_array_new_with_free_func (g_free);
  p = data;
  end = data + len;
  for (;;)
    {
      const char *nl = memchr (p, '\n', end - p);
      g_autofree char *line = NULL;
      char *colon;

      if (nl == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: no end of header", name);
          return NULL;
        }
      if (nl == p)
        {
          p = nl + 1;
          break;
        }
      line = g_strndup (p, nl - p);
      p = nl + 1;
      colon = strstr (line, ": ");
      if (colon == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: bad line %s", name, line);
          return NULL;
        }
      *colon = '\0';
      colon += 2;
      if (strcmp (line, "expect") == 0)
        v->expect = g_strdup (colon);
      else if (strcmp (line, "payload") == 0)
        v->payload = g_strdup (colon);
      else if (strcmp (line, "identity") == 0)
        {
          if (g_str_has_prefix (colon, "AGE-SECRET-KEY-PQ-"))
            v->n_hybrid++;
          else
            g_ptr_array_add (v->x25519, g_strdup (colon));
        }
      else if (strcmp (line, "passphrase") == 0)
        v->n_passphrases++;
      else if (strcmp (line, "armored") == 0)
        v->armored = strcmp (colon, "yes") == 0;
      else if (strcmp (line, "compressed") == 0)
        {
          if (strcmp (colon, "zlib") != 0)
            v->unknown_key = g_strdup_printf ("compressed: %s", colon);
          v->compressed = TRUE;
        }
      else if (strcmp (line, "file key") != 0 && strcmp (line, "comment") != 0)
        v->unknown_key = g_strdup (line);
    }

  v->file = g_bytes_new (p, end - p);
  if (v->compressed && v->unknown_key == NULL)
    {
      GBytes *plain = zlib_inflate (v->file, error);

      if (plain == NULL)
        return NULL;
      g_bytes_unref (v->file);
      v->file = plain;
    }
  return g_steal_pointer (&v);
}

/* Why a vector does not apply to an X25519-only, binary-only decryptor;
 * NULL when it applies. */
static const char *
not_applicable (Vector *v)
{
  if (v->unknown_key != NULL)
    {
      counts.na_unknown++;
      return "not applicable: unknown vector key";
    }
  if (v->armored)
    {
      counts.na_armor++;
      return "not applicable: armor";
    }
  if (v->n_passphrases > 0)
    {
      counts.na_scrypt++;
      return "not applicable: scrypt";
    }
  if (v->x25519->len == 0 && v->n_hybrid > 0)
    {
      counts.na_hybrid++;
      return "not applicable: ML-KEM hybrid (mlkem768x25519)";
    }
  return NULL;
}

static const char *
result_kind (const GError *error)
{
  if (error == NULL)
    return "success";
  if (error->domain != ANSIM_AGE_ERROR)
    return "other failure";
  switch ((AnsimAgeErrorCode) error->code)
    {
    case ANSIM_AGE_ERROR_MALFORMED_HEADER: return "header failure";
    case ANSIM_AGE_ERROR_NO_MATCH: return "no match";
    case ANSIM_AGE_ERROR_HEADER_MAC: return "HMAC failure";
    case ANSIM_AGE_ERROR_PAYLOAD:
    case ANSIM_AGE_ERROR_TRUNCATED:
    case ANSIM_AGE_ERROR_TRAILING_DATA: return "payload failure";
    case ANSIM_AGE_ERROR_INVALID_KEY:
    case ANSIM_AGE_ERROR_FAILED: break;
    }
  return "other failure";
}

/* Decrypts the vector's file fed in pieces (0: at once); returns NULL when
 * the result is as expected, else what went wrong. */
static char *
run_vector (Vector *v, GPtrArray *ids, gsize piece)
{
  g_autoptr (AnsimAgeDecryptor) dec = NULL;
  g_autoptr (GError) error = NULL;
  TestSink sink = { g_checksum_new (G_CHECKSUM_SHA256), 0 };
  gsize len, off = 0;
  const guint8 *data = g_bytes_get_data (v->file, &len);
  const char *kind;
  char *problem = NULL;

  dec =
    ansim_age_decryptor_new ((AnsimAgeIdentity **) ids->pdata, ids->len, test_sink_write, &sink);
  if (piece == 0)
    piece = MAX (len, 1);
  while (off < len && error == NULL)
    {
      gsize n = MIN (piece, len - off);

      ansim_age_decryptor_update (dec, data + off, n, &error);
      off += n;
    }
  if (error == NULL)
    ansim_age_decryptor_finish (dec, &error);

  kind = result_kind (error);
  g_test_message ("%s (pieces of %" G_GSIZE_FORMAT "): %s%s%s", v->name, piece, kind,
                  error ? ": " : "", error ? error->message : "");
  if (strcmp (kind, v->expect) != 0)
    problem = g_strdup_printf ("expected %s, got %s%s%s", v->expect, kind, error ? ": " : "",
                               error ? error->message : "");
  else if (strcmp (kind, "success") == 0 || strcmp (kind, "payload failure") == 0)
    {
      /* Everything released must be exactly the expected (partial) payload. */
      if (v->payload == NULL)
        problem = g_strdup ("vector has no payload hash");
      else if (strcmp (g_checksum_get_string (sink.sha256), v->payload) != 0)
        problem = g_strdup_printf ("released plaintext (%" G_GSIZE_FORMAT " bytes) has SHA-256 %s, "
                                   "expected %s",
                                   sink.released, g_checksum_get_string (sink.sha256), v->payload);
    }
  else if (sink.released != 0)
    problem =
      g_strdup_printf ("released %" G_GSIZE_FORMAT " bytes before a %s", sink.released, kind);
  g_checksum_free (sink.sha256);
  return problem;
}

static void
test_vector (gconstpointer data)
{
  const char *name = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (Vector) v = vector_load (name, &error);
  g_autoptr (GPtrArray) ids =
    g_ptr_array_new_with_free_func ((GDestroyNotify) ansim_age_identity_free);
  static const gsize pieces[] = { 0, 1, 4093, 65552 };
  const char *na;

  counts.total++;
  if (v == NULL)
    {
      counts.failed++;
      g_test_fail_printf ("cannot load vector: %s", error->message);
      return;
    }
  na = not_applicable (v);
  if (na != NULL)
    {
      g_test_skip (na);
      return;
    }
  if (v->n_hybrid > 0)
    g_test_message ("%s: using only its X25519 identities", name);

  for (guint i = 0; i < v->x25519->len; i++)
    {
      AnsimAgeIdentity *id = ansim_age_identity_parse (v->x25519->pdata[i], &error);

      if (id == NULL)
        {
          counts.failed++;
          g_test_fail_printf ("identity does not parse: %s", error->message);
          return;
        }
      g_ptr_array_add (ids, id);
    }
  /* No identity at all ("empty"): the header must fail before one is
   * needed, so any identity will do. */
  if (ids->len == 0)
    g_ptr_array_add (ids, ansim_age_identity_generate (NULL));
  if (v->expect == NULL)
    {
      counts.failed++;
      g_test_fail_printf ("vector has no expect line");
      return;
    }

  /* The result must not depend on how the input is split. */
  for (guint i = 0; i < G_N_ELEMENTS (pieces); i++)
    {
      g_autofree char *problem = NULL;

      if (pieces[i] == 1 && g_bytes_get_size (v->file) > 300000)
        continue;
      problem = run_vector (v, ids, pieces[i]);
      if (problem != NULL)
        {
          counts.failed++;
          g_test_fail_printf ("%s (pieces of %" G_GSIZE_FORMAT "): %s", name, pieces[i], problem);
          return;
        }
    }
  counts.passed++;
}

static void
test_vector_count (gconstpointer data)
{
  /* A missing or emptied directory must fail, not pass vacuously. */
  g_assert_cmpuint (GPOINTER_TO_UINT (data), >=, 140);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
main (int argc, char **argv)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = NULL;
  const char *name;
  guint na;
  int ret;

  g_test_init (&argc, &argv, NULL);

  vectors_dir = g_test_build_filename (G_TEST_DIST, "data", "age-vectors", NULL);
  dir = g_dir_open (vectors_dir, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (strcmp (name, "LICENSE") != 0 && strcmp (name, "README.md") != 0)
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);

  g_test_add_data_func ("/age-vectors/count", GUINT_TO_POINTER (names->len), test_vector_count);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_strconcat ("/age-vectors/", names->pdata[i], NULL);
      g_test_add_data_func (path, names->pdata[i], test_vector);
    }

  ret = g_test_run ();

  na = counts.na_armor + counts.na_scrypt + counts.na_hybrid + counts.na_unknown;
  g_print ("# age vectors: %u run, %u passed, %u failed, %u not applicable "
           "(%u armor, %u scrypt, %u ML-KEM hybrid, %u unknown keys)\n",
           counts.total, counts.passed, counts.failed, na, counts.na_armor, counts.na_scrypt,
           counts.na_hybrid, counts.na_unknown);
  g_free (vectors_dir);
  return ret;
}
