/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of libansim's age code: keys, identity files, round trips of
 * many sizes and split patterns, and the exact failure kind for tampering. */
#include "age.h"
#include "bech32.h"
#include "test-common.h"

#include <glib/gstdio.h>
#include <string.h>

/* From c2sp.org/age ("The X25519 recipient type"). */
#define SPEC_IDENTITY "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
#define SPEC_RECIPIENT "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"

#define CHUNK ANSIM_AGE_CHUNK_SIZE
#define CT_CHUNK (ANSIM_AGE_CHUNK_SIZE + ANSIM_AGE_TAG_SIZE)

/* ---- helpers ---------------------------------------------------------------- */

static AnsimAgeIdentity *
new_identity (void)
{
  g_autoptr (GError) error = NULL;
  AnsimAgeIdentity *id = ansim_age_identity_generate (&error);

  g_assert_no_error (error);
  g_assert_nonnull (id);
  return id;
}

static GBytes *
encrypt_to (GPtrArray *identities, GBytes *plaintext)
{
  g_autoptr (GPtrArray) recipients =
    g_ptr_array_new_with_free_func ((GDestroyNotify) ansim_age_recipient_free);
  g_autoptr (GError) error = NULL;
  GBytes *ct;

  for (guint i = 0; i < identities->len; i++)
    g_ptr_array_add (recipients, ansim_age_identity_to_recipient (identities->pdata[i]));
  ct = ansim_age_encrypt_bytes ((AnsimAgeRecipient **) recipients->pdata, recipients->len,
                                plaintext, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ct);
  return ct;
}

static gboolean
capture_write (const guint8 *data, gsize len, gpointer user_data, G_GNUC_UNUSED GError **error)
{
  g_assert_cmpuint (len, >, 0);
  g_byte_array_append (user_data, data, len);
  return TRUE;
}

/* Decrypts data fed in pieces of `piece` bytes (0: all at once). Returns
 * the error (NULL on success); *out gets everything released. */
static GError *
decrypt_pieces (GPtrArray *identities, const guint8 *data, gsize len, gsize piece, GByteArray **out)
{
  g_autoptr (AnsimAgeDecryptor) dec = NULL;
  GByteArray *plain = g_byte_array_new ();
  GError *error = NULL;
  gsize off = 0;

  dec = ansim_age_decryptor_new ((AnsimAgeIdentity **) identities->pdata, identities->len,
                                 capture_write, plain);
  if (piece == 0)
    piece = len ? len : 1;
  while (off < len)
    {
      gsize n = MIN (piece, len - off);
      if (!ansim_age_decryptor_update (dec, data + off, n, &error))
        break;
      off += n;
    }
  if (error == NULL)
    ansim_age_decryptor_finish (dec, &error);
  *out = plain;
  return error;
}

static GError *
decrypt_all (GPtrArray *identities, GBytes *ct, GByteArray **out)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (ct, &len);

  return decrypt_pieces (identities, data, len, 0, out);
}

static GPtrArray *
identity_list (AnsimAgeIdentity *first, ...)
{
  GPtrArray *list = g_ptr_array_new ();
  va_list args;

  va_start (args, first);
  for (AnsimAgeIdentity *id = first; id != NULL; id = va_arg (args, AnsimAgeIdentity *))
    g_ptr_array_add (list, id);
  va_end (args);
  return list;
}

/* Offset of the payload nonce: just past the "--- MAC\n" line. */
static gsize
header_length (GBytes *ct)
{
  gsize len;
  const char *data = g_bytes_get_data (ct, &len);
  const char *mac = g_strstr_len (data, len, "\n--- ");

  g_assert_nonnull (mac);
  return (mac - data) + 1 + 4 + 43 + 1;
}

static GBytes *
modified (GBytes *ct, gsize offset, guint8 xor_mask)
{
  gsize len;
  guint8 *copy = g_bytes_unref_to_data (g_bytes_ref (ct), &len);

  g_assert_cmpuint (offset, <, len);
  copy[offset] ^= xor_mask;
  return g_bytes_new_take (copy, len);
}

/* Puts another base64 character at offset, so the text stays well-formed. */
static GBytes *
replaced (GBytes *ct, gsize offset)
{
  gsize len;
  guint8 *copy = g_bytes_unref_to_data (g_bytes_ref (ct), &len);

  g_assert_cmpuint (offset, <, len);
  copy[offset] = copy[offset] == 'A' ? 'B' : 'A';
  return g_bytes_new_take (copy, len);
}

static void
assert_age_error (GError *error, AnsimAgeErrorCode code)
{
  g_assert_nonnull (error);
  if (!g_error_matches (error, ANSIM_AGE_ERROR, code))
    g_error ("expected age error %d, got %s %d: %s", code, g_quark_to_string (error->domain),
             error->code, error->message);
}

/* ---- keys ------------------------------------------------------------------- */

static void
test_spec_key (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimAgeIdentity) id = ansim_age_identity_parse (SPEC_IDENTITY, &error);
  g_autoptr (AnsimAgeRecipient) r = NULL;
  g_autofree char *r_text = NULL;
  char *id_text;

  g_assert_no_error (error);
  r = ansim_age_identity_to_recipient (id);
  r_text = ansim_age_recipient_to_string (r);
  g_assert_cmpstr (r_text, ==, SPEC_RECIPIENT);
  id_text = ansim_age_identity_to_string (id);
  g_assert_cmpstr (id_text, ==, SPEC_IDENTITY);
  ansim_age_secret_free (id_text);
}

static void
test_recipient_roundtrip (void)
{
  for (guint i = 0; i < 20; i++)
    {
      g_autoptr (AnsimAgeIdentity) id = new_identity ();
      g_autoptr (AnsimAgeRecipient) r = ansim_age_identity_to_recipient (id);
      g_autofree char *text = ansim_age_recipient_to_string (r);
      g_autoptr (AnsimAgeRecipient) again = NULL;
      g_autofree char *again_text = NULL;
      g_autoptr (AnsimAgeIdentity) id2 = NULL;
      g_autoptr (GError) error = NULL;
      char *secret;

      g_assert_true (g_str_has_prefix (text, "age1"));
      g_assert_cmpuint (strlen (text), ==, 62);
      again = ansim_age_recipient_parse (text, &error);
      g_assert_no_error (error);
      again_text = ansim_age_recipient_to_string (again);
      g_assert_cmpstr (text, ==, again_text);

      secret = ansim_age_identity_to_string (id);
      g_assert_true (g_str_has_prefix (secret, "AGE-SECRET-KEY-1"));
      g_assert_cmpuint (strlen (secret), ==, 74);
      id2 = ansim_age_identity_parse (secret, &error);
      g_assert_no_error (error);
      ansim_age_secret_free (secret);
    }
}

static void
test_key_parse_errors (void)
{
  g_autofree char *short_key = NULL, *long_key = NULL, *wrong_hrp = NULL, *short_secret = NULL;
  g_autofree char *lower_secret = g_ascii_strdown (SPEC_IDENTITY, -1);
  g_autofree char *upper_recipient = g_ascii_strup (SPEC_RECIPIENT, -1);
  g_autofree char *bad_checksum = g_strdup (SPEC_RECIPIENT);
  g_autofree char *bad_secret_checksum = g_strdup (SPEC_IDENTITY);
  g_autofree char *mixed = g_strdup (SPEC_RECIPIENT);
  guint8 bytes[33] = { 1, 2, 3 };
  const char *bad_recipients[] = {
    "",
    "age1",
    "age",
    "age1qqqqqq",
    SPEC_IDENTITY,
    "age1pq1x34nzsvr0rxjsgdn8zgyhfe8j7ceq5r9rdelkjuh3y235jzxshfg87pzf5",
    "age1tag1qt8lw0ual6avlwmwatk888yqnmdamm7xfd0wak53ut6elz5c4swx2yqdj4e",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN",
    SPEC_RECIPIENT " ",
    " " SPEC_RECIPIENT,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
  };
  const char *bad_identities[] = {
    "",
    "AGE-SECRET-KEY-1",
    SPEC_RECIPIENT,
    "AGE-SECRET-KEY-PQ-1HZLGZUPT4ETPKDEV8HSGFDCYZ4E522W0A7PU2LHT8EH9W6YLNC3SW78XKG",
    "AGE-PLUGIN-YUBIKEY-1QQQQQQ",
    SPEC_IDENTITY "\n",
    NULL,
    NULL,
    NULL,
    NULL,
  };
  guint n;

  bad_checksum[strlen (bad_checksum) - 1] = bad_checksum[strlen (bad_checksum) - 1] == 'j' ? 'k'
                                                                                           : 'j';
  bad_secret_checksum[20] = bad_secret_checksum[20] == 'Q' ? 'P' : 'Q';
  mixed[10] = g_ascii_toupper (mixed[10]);
  short_key = ansim_bech32_encode ("age", bytes, 31);
  long_key = ansim_bech32_encode ("age", bytes, 33);
  wrong_hrp = ansim_bech32_encode ("agf", bytes, 32);
  short_secret = ansim_bech32_encode ("AGE-SECRET-KEY-", bytes, 31);

  n = 10;
  bad_recipients[n++] = bad_checksum;
  bad_recipients[n++] = mixed;
  bad_recipients[n++] = short_key;
  bad_recipients[n++] = long_key;
  bad_recipients[n++] = wrong_hrp;
  bad_recipients[n++] = upper_recipient; /* age wants recipients lowercase */
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (AnsimAgeRecipient) r = ansim_age_recipient_parse (bad_recipients[i], &error);

      g_assert_null (r);
      assert_age_error (error, ANSIM_AGE_ERROR_INVALID_KEY);
    }

  n = 6;
  bad_identities[n++] = lower_secret; /* age wants identities uppercase */
  bad_identities[n++] = bad_secret_checksum;
  bad_identities[n++] = short_secret;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (AnsimAgeIdentity) id = ansim_age_identity_parse (bad_identities[i], &error);

      g_assert_null (id);
      assert_age_error (error, ANSIM_AGE_ERROR_INVALID_KEY);
      /* A secret is never echoed back in a message. */
      if (strlen (bad_identities[i]) > 20)
        g_assert_null (strstr (error->message, bad_identities[i] + 16));
    }
}

static void
test_identity_file (void)
{
  g_autoptr (AnsimAgeIdentity) a = new_identity ();
  g_autoptr (AnsimAgeIdentity) b = new_identity ();
  g_autofree char *a_text = ansim_age_identity_to_string (a);
  g_autofree char *b_text = ansim_age_identity_to_string (b);
  g_autofree char *file = g_strdup_printf ("# created: 2025-01-01T00:00:00Z\n"
                                           "# public key: age1whatever\n"
                                           "%s\n"
                                           "\n"
                                           "   # indented comments are not comments in age\n",
                                           a_text);
  g_autofree char *good = g_strdup_printf ("# two keys\r\n%s\r\n\r\n#\n%s", a_text, b_text);
  g_autoptr (GPtrArray) ids = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *dir = NULL;

  ids = ansim_age_identities_parse (good, strlen (good), "good.txt", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 2);
  g_clear_pointer (&ids, g_ptr_array_unref);

  ids = ansim_age_identities_parse (file, strlen (file), "keys.txt", &error);
  g_assert_null (ids);
  assert_age_error (error, ANSIM_AGE_ERROR_INVALID_KEY);
  g_assert_nonnull (strstr (error->message, "keys.txt: line 5"));
  g_clear_error (&error);

  ids = ansim_age_identities_parse ("# only\n\n# comments\n", 19, "c.txt", &error);
  g_assert_null (ids);
  assert_age_error (error, ANSIM_AGE_ERROR_INVALID_KEY);
  g_assert_nonnull (strstr (error->message, "no identities"));
  g_clear_error (&error);

  ids = ansim_age_identities_parse ("", 0, NULL, &error);
  g_assert_null (ids);
  assert_age_error (error, ANSIM_AGE_ERROR_INVALID_KEY);
  g_clear_error (&error);

  /* From disk, as age-keygen would write it. */
  dir = g_dir_make_tmp ("test-age-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (dir, "key.txt", NULL);
  g_assert_true (g_file_set_contents (path, good, -1, &error));
  ids = ansim_age_identities_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 2);
  g_assert_cmpint (g_remove (path), ==, 0);
  g_clear_pointer (&ids, g_ptr_array_unref);
  ids = ansim_age_identities_load (path, &error);
  g_assert_null (ids);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_keygen (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *recipient = NULL;
  char *text = ansim_age_keygen (&recipient, &error);
  g_auto (GStrv) lines = NULL;
  g_autoptr (GPtrArray) ids = NULL;
  g_autoptr (AnsimAgeRecipient) r = NULL;
  g_autofree char *r_text = NULL;
  g_autoptr (GRegex) created = g_regex_new (
    "^# created: \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(Z|[+-]\\d\\d:\\d\\d)$", 0, 0, NULL);

  g_assert_no_error (error);
  lines = g_strsplit (text, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 4);
  g_assert_true (g_regex_match (created, lines[0], 0, NULL));
  g_assert_cmpstr (lines[1] + strlen ("# public key: "), ==, recipient);
  g_assert_true (g_str_has_prefix (lines[1], "# public key: age1"));
  g_assert_true (g_str_has_prefix (lines[2], "AGE-SECRET-KEY-1"));
  g_assert_cmpstr (lines[3], ==, "");

  ids = ansim_age_identities_parse (text, strlen (text), "keygen", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 1);
  r = ansim_age_identity_to_recipient (ids->pdata[0]);
  r_text = ansim_age_recipient_to_string (r);
  g_assert_cmpstr (r_text, ==, recipient);
  for (guint i = 0; lines[i]; i++)
    memset (lines[i], 0, strlen (lines[i]));
  ansim_age_secret_free (text);
}

/* ---- round trips -------------------------------------------------------------- */

static void
check_roundtrip (gsize size, gsize enc_piece, gsize dec_piece)
{
  g_autoptr (AnsimAgeIdentity) id = new_identity ();
  g_autoptr (GPtrArray) ids = identity_list (id, NULL);
  g_autoptr (AnsimAgeRecipient) r = ansim_age_identity_to_recipient (id);
  g_autoptr (GBytes) plain = test_random_bytes (size, size + enc_piece);
  g_autoptr (GByteArray) ct = g_byte_array_new ();
  g_autoptr (GByteArray) out = NULL;
  g_autoptr (AnsimAgeEncryptor) enc = NULL;
  g_autoptr (GError) error = NULL;
  const guint8 *p = g_bytes_get_data (plain, NULL);
  gsize chunks = size == 0 ? 1 : (size + CHUNK - 1) / CHUNK, header_len;
  AnsimAgeRecipient *rs[] = { r };

  enc = ansim_age_encryptor_new (rs, 1, capture_write, ct, &error);
  g_assert_no_error (error);
  header_len = ct->len;
  for (gsize off = 0; off < size;)
    {
      gsize n = enc_piece ? MIN (enc_piece, size - off) : size;
      g_assert_true (ansim_age_encryptor_update (enc, p + off, n, &error));
      g_assert_no_error (error);
      off += n;
    }
  g_assert_true (ansim_age_encryptor_update (enc, p, 0, &error));
  g_assert_true (ansim_age_encryptor_finish (enc, &error));
  g_assert_no_error (error);

  /* Header and nonce, then each chunk plus its 16-byte tag. */
  g_assert_cmpuint (ct->len, ==, header_len + size + chunks * ANSIM_AGE_TAG_SIZE);

  error = decrypt_pieces (ids, ct->data, ct->len, dec_piece, &out);
  g_assert_no_error (error);
  g_assert_cmpmem (out->data, out->len, p, size);
}

typedef struct {
  gsize size, enc_piece, dec_piece;
} RoundTrip;

static void
test_roundtrip (gconstpointer data)
{
  const RoundTrip *rt = data;

  check_roundtrip (rt->size, rt->enc_piece, rt->dec_piece);
}

static void
test_header_format (void)
{
  g_autoptr (AnsimAgeIdentity) a = new_identity ();
  g_autoptr (AnsimAgeIdentity) b = new_identity ();
  g_autoptr (GPtrArray) ids = identity_list (a, b, NULL);
  g_autoptr (GBytes) plain = test_random_bytes (10, 1);
  g_autoptr (GBytes) ct1 = encrypt_to (ids, plain);
  g_autoptr (GBytes) ct2 = encrypt_to (ids, plain);
  g_autoptr (GRegex) re = g_regex_new ("^age-encryption\\.org/v1\n"
                                       "(-> X25519 [A-Za-z0-9+/]{43}\n[A-Za-z0-9+/]{43}\n){2}"
                                       "--- [A-Za-z0-9+/]{43}\n",
                                       0, 0, NULL);
  g_autofree char *header = g_strndup (g_bytes_get_data (ct1, NULL), header_length (ct1));

  g_assert_true (g_regex_match (re, header, 0, NULL));
  g_assert_cmpuint (g_bytes_get_size (ct1), ==, header_length (ct1) + 16 + 10 + 16);
  /* Fresh file key, nonce and ephemeral shares every time. */
  g_assert_false (g_bytes_equal (ct1, ct2));
  g_assert_cmpint (memcmp (g_bytes_get_data (ct1, NULL), g_bytes_get_data (ct2, NULL), 60), !=, 0);
}

static void
test_multi_recipient (void)
{
  g_autoptr (AnsimAgeIdentity) site = new_identity ();
  g_autoptr (AnsimAgeIdentity) escrow = new_identity ();
  g_autoptr (AnsimAgeIdentity) other = new_identity ();
  g_autoptr (GPtrArray) both = identity_list (site, escrow, NULL);
  g_autoptr (GPtrArray) only_site = identity_list (site, NULL);
  g_autoptr (GPtrArray) only_escrow = identity_list (escrow, NULL);
  g_autoptr (GPtrArray) other_first = identity_list (other, escrow, NULL);
  g_autoptr (GPtrArray) only_other = identity_list (other, NULL);
  g_autoptr (GBytes) plain = test_random_bytes (200000, 7);
  g_autoptr (GBytes) ct = encrypt_to (both, plain);
  GPtrArray *good[] = { both, only_site, only_escrow, other_first };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (GByteArray) out = NULL;
      g_autoptr (GError) error = decrypt_all (good[i], ct, &out);

      g_assert_no_error (error);
      g_assert_cmpmem (out->data, out->len, g_bytes_get_data (plain, NULL), 200000);
    }
  {
    g_autoptr (GByteArray) out = NULL;
    g_autoptr (GError) error = decrypt_all (only_other, ct, &out);

    assert_age_error (error, ANSIM_AGE_ERROR_NO_MATCH);
    g_assert_cmpuint (out->len, ==, 0);
  }
}

static void
test_wrong_identity (void)
{
  g_autoptr (AnsimAgeIdentity) right = new_identity ();
  g_autoptr (AnsimAgeIdentity) wrong = new_identity ();
  g_autoptr (GPtrArray) rights = identity_list (right, NULL);
  g_autoptr (GPtrArray) wrongs = identity_list (wrong, NULL);
  g_autoptr (GBytes) plain = test_random_bytes (70000, 3);
  g_autoptr (GBytes) ct = encrypt_to (rights, plain);
  gsize sizes[] = { 0, 1 };

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr (GByteArray) out = NULL;
      g_autoptr (GError) error =
        decrypt_pieces (wrongs, g_bytes_get_data (ct, NULL), g_bytes_get_size (ct), sizes[i], &out);

      assert_age_error (error, ANSIM_AGE_ERROR_NO_MATCH);
      g_assert_nonnull (strstr (error->message, "no matching recipient"));
      g_assert_cmpuint (out->len, ==, 0);
    }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) none =
      ansim_age_decrypt_bytes ((AnsimAgeIdentity **) wrongs->pdata, 1, ct, &error);

    g_assert_null (none);
    assert_age_error (error, ANSIM_AGE_ERROR_NO_MATCH);
  }
}

/* ---- tampering ---------------------------------------------------------------- */

typedef struct {
  AnsimAgeIdentity *id;
  GPtrArray *ids;
  GBytes *plain;
  GBytes *ct;       /* three chunks: 64 KiB, 64 KiB, 100 bytes */
  gsize header_len; /* up to the payload nonce */
} Tamper;

static void
tamper_setup (Tamper *t, G_GNUC_UNUSED gconstpointer data)
{
  t->id = new_identity ();
  t->ids = identity_list (t->id, NULL);
  t->plain = test_random_bytes (2 * CHUNK + 100, 11);
  t->ct = encrypt_to (t->ids, t->plain);
  t->header_len = header_length (t->ct);
}

static void
tamper_teardown (Tamper *t, G_GNUC_UNUSED gconstpointer data)
{
  g_bytes_unref (t->ct);
  g_bytes_unref (t->plain);
  g_ptr_array_unref (t->ids);
  ansim_age_identity_free (t->id);
}

static GError *
tamper_decrypt (Tamper *t, GBytes *ct, GByteArray **out)
{
  return decrypt_all (t->ids, ct, out);
}

static gsize
chunk_offset (Tamper *t, guint chunk)
{
  return t->header_len + 16 + (gsize) chunk * CT_CHUNK;
}

static void
test_tamper_header_bytes (Tamper *t, G_GNUC_UNUSED gconstpointer data)
{
  /* Every bit flip anywhere in the header is caught before any output. */
  for (gsize off = 0; off < t->header_len; off++)
    {
      g_autoptr (GBytes) bad = modified (t->ct, off, 0x01);
      g_autoptr (GByteArray) out = NULL;
      g_autoptr (GError) error = tamper_decrypt (t, bad, &out);

      g_assert_nonnull (error);
      g_assert_true (error->domain == ANSIM_AGE_ERROR);
      g_assert_true (error->code == ANSIM_AGE_ERROR_MALFORMED_HEADER
                     || error->code == ANSIM_AGE_ERROR_NO_MATCH
                     || error->code == ANSIM_AGE_ERROR_HEADER_MAC);
      g_assert_cmpuint (out->len, ==, 0);
    }
}

static void
test_tamper_header_kinds (Tamper *t, G_GNUC_UNUSED gconstpointer data)
{
  const char *ct = g_bytes_get_data (t->ct, NULL);
  gsize mac_line = t->header_len - 48;
  gsize share_pos = strlen ("age-encryption.org/v1\n-> X25519 ") + 5;
  gsize body_pos = strlen ("age-encryption.org/v1\n-> X25519 ") + 44 + 5;
  struct {
    gsize offset;
    AnsimAgeErrorCode code;
  } cases[] = {
    { share_pos, ANSIM_AGE_ERROR_NO_MATCH },          /* another ephemeral share */
    { body_pos, ANSIM_AGE_ERROR_NO_MATCH },           /* wrapped file key altered */
    { mac_line + 4 + 3, ANSIM_AGE_ERROR_HEADER_MAC }, /* MAC altered */
  };

  g_assert_cmpmem (ct + mac_line, 4, "--- ", 4);
  {
    g_autoptr (GBytes) bad = modified (t->ct, 0, 0x20); /* 'a' -> 'A' */
    g_autoptr (GByteArray) out = NULL;
    g_autoptr (GError) error = tamper_decrypt (t, bad, &out);

    assert_age_error (error, ANSIM_AGE_ERROR_MALFORMED_HEADER);
  }
  {
    g_autoptr (GBytes) bad = modified (t->ct, 20, 0x01); /* v1 -> v0 */
    g_autoptr (GByteArray) out = NULL;
    g_autoptr (GError) error = tamper_decrypt (t, bad, &out);

    assert_age_error (error, ANSIM_AGE_ERROR_MALFORMED_HEADER);
    g_assert_nonnull (strstr (error->message, "unsupported format version"));
  }
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GBytes) bad = replaced (t->ct, cases[i].offset);
      g_autoptr (GByteArray) out = NULL;
      g_autoptr (GError) error = tamper_decrypt (t, bad, &out);

      assert_age_error (error, cases[i].code);
      g_assert_cmpuint (out->len, ==, 0);
    }

  /* An extra, well-formed stanza is ignored by identities but not by the MAC. */
  {
    g_autoptr (GByteArray) grease = g_byte_array_new ();
    g_autoptr (GBytes) bad = NULL;
    g_autoptr (GByteArray) out = NULL;
    g_autoptr (GError) error = NULL;
    gsize stanza_end = mac_line;

    g_byte_array_append (grease, (const guint8 *) ct, stanza_end);
    g_byte_array_append (grease, (const guint8 *) "-> grease x\nAAAA\n", 17);
    g_byte_array_append (grease, (const guint8 *) ct + stanza_end,
                         g_bytes_get_size (t->ct) - stanza_end);
    bad = g_byte_array_free_to_bytes (g_steal_pointer (&grease));
    error = tamper_decrypt (t, bad, &out);
    assert_age_error (error, ANSIM_AGE_ERROR_HEADER_MAC);
    g_assert_nonnull (strstr (error->message, "header MAC mismatch"));
  }
}

static void
test_tamper_payload (Tamper *t, G_GNUC_UNUSED gconstpointer data)
{
  struct {
    gsize offset;
    guint64 chunk;
    gsize released;
  } cases[] = {
    { 0, 0, 0 },                 /* nonce: another payload key */
    { 16 + 5, 0, 0 },            /* first chunk's ciphertext */
    { 16 + CT_CHUNK - 1, 0, 0 }, /* first chunk's tag */
    { 16 + CT_CHUNK + 1000, 1, CHUNK },
    { 16 + 2 * CT_CHUNK + 3, 2, 2 * CHUNK },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GBytes) bad = modified (t->ct, t->header_len + cases[i].offset, 0x80);
      g_autoptr (GByteArray) out = NULL;
      g_autoptr (GError) error = tamper_decrypt (t, bad, &out);
      g_autofree char *expect = g_strdup_printf (
        "payload authentication failed at chunk %" G_GUINT64_FORMAT " ", cases[i].chunk);

      assert_age_error (error, ANSIM_AGE_ERROR_PAYLOAD);
      g_assert_nonnull (strstr (error->message, expect));
      /* Only the authenticated chunks before the bad one were released. */
      g_assert_cmpuint (out->len, ==, cases[i].released);
      g_assert_cmpmem (out->data, out->len, g_bytes_get_data (t->plain, NULL), cases[i].released);
    }
}

static void
test_tamper_reorder (Tamper *t, G_GNUC_UNUSED gconstpointer data)
{
  gsize len;
  guint8 *copy = g_bytes_unref_to_data (g_bytes_ref (t->ct), &len);
  g_autofree guint8 *tmp = g_malloc (CT_CHUNK);
  g_autoptr (GBytes) bad = NULL;
  g_autoptr (GByteArray) out = NULL;
  g_autoptr (GError) error = NULL;
  gsize c0 = chunk_offset (t, 0), c1 = chunk_offset (t, 1);

  memcpy (tmp, copy + c0, CT_CHUNK);
  memcpy (copy + c0, copy + c1, CT_CHUNK);
  memcpy (copy + c1, tmp, CT_CHUNK);
  bad = g_bytes_new_take (copy, len);
  error = tamper_decrypt (t, bad, &out);
  assert_age_error (error, ANSIM_AGE_ERROR_PAYLOAD);
  g_assert_cmpuint (out->len, ==, 0);
}

static void
test_tamper_truncate (Tamper *t, G_GNUC_UNUSED gconstpointer data)
{
  gsize total = g_bytes_get_size (t->ct);
  struct {
    gsize keep;
    AnsimAgeErrorCode code;
    gsize released;
  } cases[] = {
    { 0, ANSIM_AGE_ERROR_MALFORMED_HEADER, 0 },
    { 10, ANSIM_AGE_ERROR_MALFORMED_HEADER, 0 },
    { t->header_len - 1, ANSIM_AGE_ERROR_MALFORMED_HEADER, 0 },
    { t->header_len, ANSIM_AGE_ERROR_MALFORMED_HEADER, 0 },     /* no nonce */
    { t->header_len + 8, ANSIM_AGE_ERROR_MALFORMED_HEADER, 0 }, /* half a nonce */
    { t->header_len + 16, ANSIM_AGE_ERROR_TRUNCATED, 0 },       /* no chunk */
    { chunk_offset (t, 0) + 10, ANSIM_AGE_ERROR_TRUNCATED, 0 }, /* less than a tag */
    { chunk_offset (t, 0) + 1000, ANSIM_AGE_ERROR_PAYLOAD, 0 }, /* cut inside chunk 0 */
    { chunk_offset (t, 1), ANSIM_AGE_ERROR_TRUNCATED, CHUNK },  /* at a chunk boundary */
    { chunk_offset (t, 2), ANSIM_AGE_ERROR_TRUNCATED, 2 * CHUNK },
    { total - 1, ANSIM_AGE_ERROR_PAYLOAD, 2 * CHUNK },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GBytes) cut = g_bytes_new_from_bytes (t->ct, 0, cases[i].keep);
      g_autoptr (GByteArray) out = NULL;
      g_autoptr (GError) error = tamper_decrypt (t, cut, &out);

      assert_age_error (error, cases[i].code);
      if (cases[i].code == ANSIM_AGE_ERROR_TRUNCATED)
        g_assert_nonnull (strstr (error->message, "truncated"));
      g_assert_cmpuint (out->len, ==, cases[i].released);
    }
}

static void
test_tamper_trailing (Tamper *t, G_GNUC_UNUSED gconstpointer data)
{
  gsize extra[] = { 1, 16, CT_CHUNK, CT_CHUNK + 1 };

  for (guint i = 0; i < G_N_ELEMENTS (extra); i++)
    {
      g_autoptr (GByteArray) longer = g_byte_array_new ();
      g_autoptr (GBytes) bad = NULL;
      g_autoptr (GByteArray) out = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree guint8 *junk = g_malloc0 (extra[i]);

      g_byte_array_append (longer, g_bytes_get_data (t->ct, NULL), g_bytes_get_size (t->ct));
      g_byte_array_append (longer, junk, extra[i]);
      bad = g_byte_array_free_to_bytes (g_steal_pointer (&longer));
      error = tamper_decrypt (t, bad, &out);
      /* The short last chunk no longer authenticates with junk glued on. */
      g_assert_nonnull (error);
      g_assert_true (g_error_matches (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_PAYLOAD));
    }

  /* A file that ends in a full final chunk, then more bytes. */
  {
    g_autoptr (GBytes) plain = test_random_bytes (CHUNK, 5);
    g_autoptr (GBytes) ct = encrypt_to (t->ids, plain);
    g_autoptr (GByteArray) longer = g_byte_array_new ();
    g_autoptr (GBytes) bad = NULL;
    g_autoptr (GByteArray) out = NULL;
    g_autoptr (GError) error = NULL;

    g_byte_array_append (longer, g_bytes_get_data (ct, NULL), g_bytes_get_size (ct));
    g_byte_array_append (longer, (const guint8 *) "x", 1);
    bad = g_byte_array_free_to_bytes (g_steal_pointer (&longer));
    for (gsize piece = 0; piece <= 1; piece++)
      {
        g_clear_error (&error);
        g_clear_pointer (&out, g_byte_array_unref);
        error = decrypt_pieces (t->ids, g_bytes_get_data (bad, NULL), g_bytes_get_size (bad),
                                piece ? 4093 : 0, &out);
        assert_age_error (error, ANSIM_AGE_ERROR_TRAILING_DATA);
        g_assert_nonnull (strstr (error->message, "trailing data"));
        /* That final chunk is authentic, and was released. */
        g_assert_cmpuint (out->len, ==, CHUNK);
      }
  }
}

/* ---- hand-made headers -------------------------------------------------------- */

static GError *
decrypt_text (const char *text, AnsimAgeIdentity *id)
{
  g_autoptr (GPtrArray) ids = identity_list (id, NULL);
  g_autoptr (GByteArray) out = NULL;
  GError *error = decrypt_pieces (ids, (const guint8 *) text, strlen (text), 1, &out);

  g_assert_cmpuint (out->len, ==, 0);
  return error;
}

#define SHARE "TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc"
#define BODY "hjabGXwSLQ9c3S6Lw2i+S2Tu2fiwQHHslbBN6B41FLE"
#define MAC "WyJp9F/9FOZh7gJdheq2WIJcwHgYc8NIVh3ddwhrcNg"
#define NONCE "0123456789abcdef"

static void
test_malformed_headers (void)
{
  g_autoptr (AnsimAgeIdentity) id = new_identity ();
  const char *bad[] = {
    "",
    "age-encryption.org/v1",
    "age-encryption.org/v2\n-> X25519 " SHARE "\n" BODY "\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\r\n-> X25519 " SHARE "\n" BODY "\n--- " MAC "\n" NONCE,
    "-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBT\n",
    "age-encryption.org/v1\n--- " MAC "\n" NONCE,                                 /* no stanza */
    "age-encryption.org/v1\n-> X25519 " SHARE "\n--- " MAC "\n" NONCE,            /* no body */
    "age-encryption.org/v1\n-> X25519 " SHARE "\n" BODY "\n---" MAC "\n" NONCE,   /* no space */
    "age-encryption.org/v1\n-> X25519 " SHARE "\n" BODY "\n---  " MAC "\n" NONCE, /* two spaces */
    "age-encryption.org/v1\n-> X25519 " SHARE "\n" BODY "\n--- " MAC "AA\n" NONCE,
    "age-encryption.org/v1\n-> X25519 " SHARE "\n" BODY "\n--- " MAC "=\n" NONCE,
    "age-encryption.org/v1\n-> X25519 " SHARE "\n" BODY "\n--- " MAC " \n" NONCE,
    "age-encryption.org/v1\n->\n\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> \n\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> a  b\n\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> a\tb\n\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n->X25519 " SHARE "\n" BODY "\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> X25519 " SHARE " extra\n" BODY "\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> X25519\n" BODY "\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> X25519 " SHARE "A\n" BODY "\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> X25519 " SHARE "=\n" BODY "\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCd\n" BODY
    "\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> X25519 " SHARE "\n" BODY "AAAA\n--- " MAC
    "\n" NONCE, /* body 35 bytes */
    "age-encryption.org/v1\n-> X25519 " SHARE
    "\nhjabGXwSLQ9c3S6Lw2i+S2Tu2fiwQHHslbBN6B41FLF\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> X25519 " SHARE "\n" BODY "\r\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> X25519 " SHARE "\n" BODY "\n\n--- " MAC "\n" NONCE, /* empty line */
    "age-encryption.org/v1\n-> other\n"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> other\n"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> other\nAAA\nAAA\n--- " MAC "\n" NONCE,
    "age-encryption.org/v1\n-> other\nAA==\n--- " MAC "\n" NONCE,
    /* A low-order share (here the identity point) gives an all-zero secret. */
    "age-encryption.org/v1\n-> X25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n" BODY
    "\n--- " MAC "\n" NONCE,
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = decrypt_text (bad[i], id);

      if (!g_error_matches (error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_MALFORMED_HEADER))
        g_error ("case %u: expected a malformed header, got %s", i,
                 error ? error->message : "success");
      g_assert_true (g_str_has_prefix (error->message, "malformed header: "));
    }

  /* Well-formed headers the identity just does not match. */
  {
    const char *no_match[] = {
      "age-encryption.org/v1\n-> X25519 " SHARE "\n" BODY "\n--- " MAC "\n" NONCE,
      "age-encryption.org/v1\n-> x25519 " SHARE "\n" BODY "\n--- " MAC "\n" NONCE,
      "age-encryption.org/v1\n-> other a b c\n\n-> X25519 " SHARE "\n" BODY "\n--- " MAC "\n" NONCE,
      "age-encryption.org/v1\n-> other\n"
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\n--- " MAC "\n" NONCE,
    };

    for (guint i = 0; i < G_N_ELEMENTS (no_match); i++)
      {
        g_autoptr (GError) error = decrypt_text (no_match[i], id);
        assert_age_error (error, ANSIM_AGE_ERROR_NO_MATCH);
      }
  }
  {
    g_autoptr (GError) error = decrypt_text (bad[G_N_ELEMENTS (bad) - 1], id);
    g_assert_nonnull (strstr (error->message, "low-order"));
  }

  /* Bounded memory: a header is at most 1 MiB. */
  {
    g_autoptr (GString) text = g_string_new ("age-encryption.org/v1\n-> ");
    g_autoptr (GError) error = NULL;
    g_autoptr (GPtrArray) ids = identity_list (id, NULL);
    g_autoptr (GByteArray) out = NULL;

    for (guint i = 0; i < 1100 * 1024; i++)
      g_string_append_c (text, 'a');
    error = decrypt_pieces (ids, (const guint8 *) text->str, text->len, 4096, &out);
    assert_age_error (error, ANSIM_AGE_ERROR_MALFORMED_HEADER);
    g_assert_nonnull (strstr (error->message, "header longer than 1024 KiB"));
  }

  /* Bounded work: at most 1024 stanzas, each costing an X25519 per identity. */
  for (guint n = 1024; n <= 1025; n++)
    {
      g_autoptr (GString) text = g_string_new ("age-encryption.org/v1\n");
      g_autoptr (GError) error = NULL;

      for (guint i = 0; i < n; i++)
        g_string_append (text, "-> grease\n\n");
      g_string_append (text, "--- " MAC "\n" NONCE);
      error = decrypt_text (text->str, id);
      if (n == 1024)
        assert_age_error (error, ANSIM_AGE_ERROR_NO_MATCH);
      else
        {
          assert_age_error (error, ANSIM_AGE_ERROR_MALFORMED_HEADER);
          g_assert_nonnull (strstr (error->message, "more than 1024 recipient stanzas"));
        }
    }
}

static void
test_low_order_recipient (void)
{
  static const guint8 zero[32];
  g_autofree char *text = ansim_bech32_encode ("age", zero, 32);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimAgeRecipient) r = ansim_age_recipient_parse (text, &error);
  g_autoptr (GByteArray) sink = g_byte_array_new ();
  g_autoptr (AnsimAgeEncryptor) enc = NULL;
  AnsimAgeRecipient *rs[] = { r };

  g_assert_no_error (error);
  enc = ansim_age_encryptor_new (rs, 1, capture_write, sink, &error);
  g_assert_null (enc);
  assert_age_error (error, ANSIM_AGE_ERROR_INVALID_KEY);
  g_assert_cmpuint (sink->len, ==, 0);
  g_clear_error (&error);

  enc = ansim_age_encryptor_new (NULL, 0, capture_write, sink, &error);
  g_assert_null (enc);
  assert_age_error (error, ANSIM_AGE_ERROR_INVALID_KEY);
}

/* ---- streams and errors -------------------------------------------------------- */

static gboolean
failing_write (G_GNUC_UNUSED const guint8 *data, G_GNUC_UNUSED gsize len, gpointer user_data,
               GError **error)
{
  guint *budget = user_data;

  if (*budget == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "disk full");
      return FALSE;
    }
  (*budget)--;
  return TRUE;
}

static void
test_write_errors (void)
{
  g_autoptr (AnsimAgeIdentity) id = new_identity ();
  g_autoptr (AnsimAgeRecipient) r = ansim_age_identity_to_recipient (id);
  g_autoptr (GBytes) plain = test_random_bytes (3 * CHUNK, 9);
  AnsimAgeRecipient *rs[] = { r };
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimAgeEncryptor) enc = NULL;
  guint budget = 0;

  enc = ansim_age_encryptor_new (rs, 1, failing_write, &budget, &error);
  g_assert_null (enc);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_clear_error (&error);

  budget = 2; /* header, then one chunk */
  enc = ansim_age_encryptor_new (rs, 1, failing_write, &budget, &error);
  g_assert_no_error (error);
  g_assert_false (
    ansim_age_encryptor_update (enc, g_bytes_get_data (plain, NULL), 3 * CHUNK, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_clear_error (&error);
  /* Failures stick. */
  budget = 100;
  g_assert_false (ansim_age_encryptor_update (enc, "x", 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_clear_error (&error);
  g_assert_false (ansim_age_encryptor_finish (enc, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
}

static void
test_sticky_decrypt_error (void)
{
  g_autoptr (AnsimAgeIdentity) id = new_identity ();
  g_autoptr (AnsimAgeDecryptor) dec = NULL;
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GError) error = NULL;
  AnsimAgeIdentity *ids[] = { id };

  dec = ansim_age_decryptor_new (ids, 1, capture_write, out);
  g_assert_false (ansim_age_decryptor_update (dec, "not age\n", 8, &error));
  assert_age_error (error, ANSIM_AGE_ERROR_MALFORMED_HEADER);
  g_clear_error (&error);
  g_assert_false (ansim_age_decryptor_update (dec, "x", 1, &error));
  assert_age_error (error, ANSIM_AGE_ERROR_MALFORMED_HEADER);
  g_clear_error (&error);
  g_assert_false (ansim_age_decryptor_finish (dec, &error));
  assert_age_error (error, ANSIM_AGE_ERROR_MALFORMED_HEADER);
}

static void
test_streams (void)
{
  g_autoptr (AnsimAgeIdentity) a = new_identity ();
  g_autoptr (AnsimAgeIdentity) b = new_identity ();
  g_autoptr (AnsimAgeRecipient) ra = ansim_age_identity_to_recipient (a);
  g_autoptr (AnsimAgeRecipient) rb = ansim_age_identity_to_recipient (b);
  g_autoptr (GBytes) plain = test_random_bytes (5 * CHUNK + 17, 4);
  g_autoptr (GOutputStream) ct_out = g_memory_output_stream_new_resizable ();
  g_autoptr (AnsimAgeEncryptor) enc = NULL;
  g_autoptr (GBytes) ct = NULL;
  g_autoptr (GInputStream) ct_in = NULL;
  g_autoptr (GOutputStream) pt_out = g_memory_output_stream_new_resizable ();
  g_autoptr (GBytes) pt = NULL;
  g_autoptr (GError) error = NULL;
  AnsimAgeRecipient *rs[] = { ra, rb };
  AnsimAgeIdentity *ids[] = { b };

  enc = ansim_age_encryptor_new_for_stream (rs, 2, ct_out, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (ansim_age_encryptor_update (enc, g_bytes_get_data (plain, NULL),
                                             g_bytes_get_size (plain), &error));
  g_assert_true (ansim_age_encryptor_finish (enc, &error));
  g_assert_true (g_output_stream_close (ct_out, NULL, &error));
  ct = g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (ct_out));

  ct_in = g_memory_input_stream_new_from_bytes (ct);
  g_assert_true (ansim_age_decrypt_stream (ids, 1, ct_in, pt_out, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_output_stream_close (pt_out, NULL, &error));
  pt = g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (pt_out));
  g_assert_true (g_bytes_equal (pt, plain));
}

static void
test_decrypt_bytes_no_partial (void)
{
  g_autoptr (AnsimAgeIdentity) id = new_identity ();
  g_autoptr (GPtrArray) ids = identity_list (id, NULL);
  g_autoptr (GBytes) plain = test_random_bytes (3 * CHUNK, 2);
  g_autoptr (GBytes) ct = encrypt_to (ids, plain);
  g_autoptr (GBytes) bad = modified (ct, g_bytes_get_size (ct) - 20, 0x04);
  g_autoptr (GBytes) good = NULL;
  g_autoptr (GBytes) none = NULL;
  g_autoptr (GError) error = NULL;

  good = ansim_age_decrypt_bytes ((AnsimAgeIdentity **) ids->pdata, 1, ct, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (good, plain));
  none = ansim_age_decrypt_bytes ((AnsimAgeIdentity **) ids->pdata, 1, bad, &error);
  g_assert_null (none);
  assert_age_error (error, ANSIM_AGE_ERROR_PAYLOAD);
}

int
main (int argc, char **argv)
{
  static const gsize sizes[] = {
    0,
    1,
    2,
    15,
    16,
    17,
    1000,
    CHUNK - 1,
    CHUNK,
    CHUNK + 1,
    2 * CHUNK - 1,
    2 * CHUNK,
    2 * CHUNK + 1,
    3 * CHUNK + 12345,
    1024 * 1024,
    1024 * 1024 + 3,
  };
  static const gsize pieces[][2] = {
    { 0, 0 },
    { 1, 1 },
    { 7, 4093 },
    { CHUNK, CT_CHUNK },
    { CHUNK + 1, CT_CHUNK + 1 },
    { 3 * CHUNK, 3 * CT_CHUNK + 5 },
  };
  g_autoptr (GPtrArray) cases = g_ptr_array_new_with_free_func (g_free);

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/age/keys/spec-example", test_spec_key);
  g_test_add_func ("/age/keys/roundtrip", test_recipient_roundtrip);
  g_test_add_func ("/age/keys/parse-errors", test_key_parse_errors);
  g_test_add_func ("/age/keys/identity-file", test_identity_file);
  g_test_add_func ("/age/keys/keygen", test_keygen);
  g_test_add_func ("/age/keys/low-order-recipient", test_low_order_recipient);

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    for (guint j = 0; j < G_N_ELEMENTS (pieces); j++)
      {
        RoundTrip *rt;
        g_autofree char *path = NULL;

        /* Byte-at-a-time feeding only for the small sizes. */
        if (pieces[j][0] == 1 && sizes[i] > 3 * CHUNK)
          continue;
        rt = g_new0 (RoundTrip, 1);
        rt->size = sizes[i];
        rt->enc_piece = pieces[j][0];
        rt->dec_piece = pieces[j][1];
        g_ptr_array_add (cases, rt);
        path = g_strdup_printf ("/age/roundtrip/%" G_GSIZE_FORMAT "/pieces-%" G_GSIZE_FORMAT
                                "-%" G_GSIZE_FORMAT,
                                rt->size, rt->enc_piece, rt->dec_piece);
        g_test_add_data_func (path, rt, test_roundtrip);
      }

  g_test_add_func ("/age/header-format", test_header_format);
  g_test_add_func ("/age/multi-recipient", test_multi_recipient);
  g_test_add_func ("/age/wrong-identity", test_wrong_identity);
  g_test_add ("/age/tamper/header-every-byte", Tamper, NULL, tamper_setup, test_tamper_header_bytes,
              tamper_teardown);
  g_test_add ("/age/tamper/header-kinds", Tamper, NULL, tamper_setup, test_tamper_header_kinds,
              tamper_teardown);
  g_test_add ("/age/tamper/payload", Tamper, NULL, tamper_setup, test_tamper_payload,
              tamper_teardown);
  g_test_add ("/age/tamper/reorder", Tamper, NULL, tamper_setup, test_tamper_reorder,
              tamper_teardown);
  g_test_add ("/age/tamper/truncate", Tamper, NULL, tamper_setup, test_tamper_truncate,
              tamper_teardown);
  g_test_add ("/age/tamper/trailing", Tamper, NULL, tamper_setup, test_tamper_trailing,
              tamper_teardown);
  g_test_add_func ("/age/malformed-headers", test_malformed_headers);
  g_test_add_func ("/age/errors/write", test_write_errors);
  g_test_add_func ("/age/errors/sticky", test_sticky_decrypt_error);
  g_test_add_func ("/age/streams", test_streams);
  g_test_add_func ("/age/decrypt-bytes-no-partial", test_decrypt_bytes_no_partial);

  return g_test_run ();
}
