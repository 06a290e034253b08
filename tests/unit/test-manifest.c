/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of the evidence format: device keys and their permissions, the
 * manifest round trip, the hash chain, incremental sealing, strict parsing. */
#include "durable.h"
#include "test-common.h"
#include "evidence.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"
#define WALL0 G_GINT64_CONSTANT (1700000000123456) /* 2023-11-14T22:13:20.123456Z */

typedef struct {
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  f->dir = test_make_tmp_dir ("test-manifest-XXXXXX");
}

static void
fixture_teardown (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  ansim_remove_tree (f->dir, NULL);
  g_free (f->dir);
}

static char *
path_in (Fixture *f, const char *name)
{
  return g_build_filename (f->dir, name, NULL);
}

static guint
file_mode (const char *path)
{
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return st.st_mode & 07777;
}

static AnsimDeviceKey *
new_key (Fixture *f, const char *name)
{
  g_autofree char *path = path_in (f, name);
  g_autoptr (GError) error = NULL;
  AnsimDeviceKey *key = ansim_device_key_load_or_create (path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (key);
  return key;
}

static AnsimManifest *
new_manifest (const AnsimDeviceKey *key, const char *previous)
{
  g_autoptr (GError) error = NULL;
  AnsimManifestInfo info = {
    .device_id = "board-7f3a",
    .desk_id = "민원실-창구-3",
    .trigger_name = "desk-button",
    .trigger_kind = ANSIM_TRIGGER_BUTTON,
    .opened_wall_us = WALL0 + 10 * G_USEC_PER_SEC,
    .opened_mono_us = 15 * G_USEC_PER_SEC,
    .previous_manifest_sha256 = previous,
  };
  AnsimManifest *m = ansim_manifest_new (&info, key, &error);

  g_assert_no_error (error);
  g_assert_nonnull (m);
  return m;
}

/* ---- device key ----------------------------------------------------------------- */

static void
test_key_create (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autofree char *path = path_in (f, "device.pem");
  g_autofree char *pub_path = path_in (f, "device.pub.pem");
  g_autofree char *pem = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (AnsimDeviceKey) again = NULL, again2 = NULL, pub = NULL;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr (GString) expected = g_string_new (NULL);
  guint8 raw[32];

  g_assert_cmpuint (file_mode (path), ==, 0600);
  g_assert_cmpuint (file_mode (pub_path), ==, 0644);
  g_assert_true (g_file_get_contents (path, &pem, NULL, NULL));
  g_assert_true (g_str_has_prefix (pem, "-----BEGIN PRIVATE KEY-----\n")); /* PKCS#8 */
  g_assert_true (ansim_device_key_has_private (key));

  /* Fingerprint: first 16 bytes of SHA-256 of the raw public key, grouped. */
  ansim_device_key_get_public_raw (key, raw);
  g_checksum_update (sum, raw, 32);
  const char *digest = g_checksum_get_string (sum);
  for (int i = 0; i < 8; i++)
    g_string_append_printf (expected, "%s%.4s", i ? ":" : "", digest + 4 * i);
  g_assert_cmpstr (ansim_device_key_get_fingerprint (key), ==, expected->str);
  g_assert_cmpuint (strlen (ansim_device_key_get_fingerprint (key)), ==, ANSIM_FINGERPRINT_LEN);

  /* Stable: the same key whichever way it is loaded. */
  again = ansim_device_key_load (path, &error);
  g_assert_no_error (error);
  again2 = ansim_device_key_load_or_create (path, &error);
  g_assert_no_error (error);
  pub = ansim_device_key_load_public (pub_path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ansim_device_key_get_fingerprint (again), ==,
                   ansim_device_key_get_fingerprint (key));
  g_assert_cmpstr (ansim_device_key_get_fingerprint (again2), ==,
                   ansim_device_key_get_fingerprint (key));
  g_assert_cmpstr (ansim_device_key_get_fingerprint (pub), ==,
                   ansim_device_key_get_fingerprint (key));
  g_assert_false (ansim_device_key_has_private (pub));

  /* A removed public file comes back. */
  g_assert_cmpint (g_unlink (pub_path), ==, 0);
  g_clear_pointer (&again, ansim_device_key_free);
  again = ansim_device_key_load (path, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_test (pub_path, G_FILE_TEST_EXISTS));

  g_autofree char *other = ansim_device_key_public_path ("/x/key");
  g_assert_cmpstr (other, ==, "/x/key.pub.pem");
}

static void
test_key_sign (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (AnsimDeviceKey) other = new_key (f, "other.pem");
  g_autofree char *pub_path = path_in (f, "device.pub.pem");
  g_autoptr (AnsimDeviceKey) pub = ansim_device_key_load_public (pub_path, NULL);
  g_autoptr (GError) error = NULL;
  static const char msg[] = "the exact bytes";
  g_autoptr (GBytes) sig = ansim_device_key_sign (key, msg, sizeof msg, &error);
  guint8 bad[ANSIM_SIGNATURE_SIZE];

  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (sig), ==, ANSIM_SIGNATURE_SIZE);
  g_assert_true (ansim_device_key_verify (pub, msg, sizeof msg, g_bytes_get_data (sig, NULL),
                                          ANSIM_SIGNATURE_SIZE, &error));
  g_assert_no_error (error);

  /* Another message, another key, a changed signature: all refused. */
  g_assert_false (ansim_device_key_verify (pub, msg, sizeof msg - 1, g_bytes_get_data (sig, NULL),
                                           ANSIM_SIGNATURE_SIZE, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_SIGNATURE);
  g_clear_error (&error);
  g_assert_false (ansim_device_key_verify (other, msg, sizeof msg, g_bytes_get_data (sig, NULL),
                                           ANSIM_SIGNATURE_SIZE, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_SIGNATURE);
  g_clear_error (&error);
  memcpy (bad, g_bytes_get_data (sig, NULL), sizeof bad);
  bad[10] ^= 1;
  g_assert_false (ansim_device_key_verify (pub, msg, sizeof msg, bad, sizeof bad, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_SIGNATURE);
  g_clear_error (&error);
  g_assert_false (ansim_device_key_verify (pub, msg, sizeof msg, bad, 63, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_SIGNATURE);
  g_clear_error (&error);

  /* A public key cannot sign. */
  g_assert_null (ansim_device_key_sign (pub, msg, sizeof msg, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY);
}

static void
test_key_permissions (Fixture *f, gconstpointer data)
{
  guint mode = GPOINTER_TO_UINT (data);
  g_autofree char *path = path_in (f, "device.pem");
  g_autofree char *mode_text = g_strdup_printf ("mode %04o", mode);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autofree char *fingerprint = g_strdup (ansim_device_key_get_fingerprint (key));
  g_autoptr (AnsimDeviceKey) loaded = NULL;

  g_assert_cmpint (g_chmod (path, mode), ==, 0);
  loaded = ansim_device_key_load (path, &error);
  g_assert_null (loaded);
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY_PERMISSIONS);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, mode_text));
  g_assert_nonnull (strstr (error->message, "chmod 600"));
  g_clear_error (&error);

  /* Nor is it silently replaced by a new key. */
  loaded = ansim_device_key_load_or_create (path, &error);
  g_assert_null (loaded);
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY_PERMISSIONS);
  g_clear_error (&error);

  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  loaded = ansim_device_key_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ansim_device_key_get_fingerprint (loaded), ==, fingerprint);
}

static void
test_key_umask (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autofree char *path = path_in (f, "sub/dir/device.pem");
  mode_t old = umask (0);
  g_autoptr (AnsimDeviceKey) key = new_key (f, "sub/dir/device.pem");

  umask (old);
  g_assert_nonnull (key);
  g_assert_cmpuint (file_mode (path), ==, 0600);
}

static void
test_key_invalid (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autofree char *path = path_in (f, "device.pem");
  g_autofree char *missing = path_in (f, "missing.pem");
  g_autoptr (GError) error = NULL;

  g_assert_null (ansim_device_key_load (missing, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (path, "not a key\n", -1, NULL));
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  g_assert_null (ansim_device_key_load_or_create (path, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY);
  g_clear_error (&error);

  /* An X25519 key is a key, but not a signing key. */
  g_assert_null (ansim_device_key_new_public_from_pem (
    "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEA1KmLD9Sp96CiXubB8hfS8cd3sMfiLKNirAW67Rz2Pj4=\n"
    "-----END PUBLIC KEY-----\n",
    113, "x25519.pem", &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY);
  g_assert_nonnull (strstr (error->message, "not an Ed25519 key"));
}

/* ---- manifest --------------------------------------------------------------------- */

/* A closed manifest with events, two segments and a gap (no files). */
static AnsimManifest *
sample_manifest (const AnsimDeviceKey *key, const char *previous)
{
  g_autoptr (GError) error = NULL;
  AnsimManifest *m = new_manifest (key, previous);

  const char *notice[] = { "by", "light,buzzer", "sound", "failed (no sound output)", NULL };
  g_assert_true (ansim_manifest_add_event_with_detail (m, "notice-given",
                                                       WALL0 + 10 * G_USEC_PER_SEC + 1000,
                                                       15 * G_USEC_PER_SEC + 1000, notice, &error));
  g_assert_true (ansim_manifest_add_event (m, "press", WALL0 + 10 * G_USEC_PER_SEC,
                                           15 * G_USEC_PER_SEC, &error));
  g_assert_true (ansim_manifest_add_segment (m, WALL0, 5 * G_USEC_PER_SEC, 2 * G_USEC_PER_SEC, 1234,
                                             1000, HEX_A, HEX_B, &error));
  g_assert_true (ansim_manifest_add_gap (m, WALL0 + 2 * G_USEC_PER_SEC, 7 * G_USEC_PER_SEC, 1500000,
                                         "카메라 연결 끊김 (camera lost)", &error));
  g_assert_true (ansim_manifest_add_segment (m, WALL0 + 3500000, 8500000, 2 * G_USEC_PER_SEC, 99,
                                             50, HEX_C, HEX_A, &error));
  g_assert_true (ansim_manifest_close (m, "post-event", WALL0 + 20 * G_USEC_PER_SEC,
                                       25 * G_USEC_PER_SEC, &error));
  g_assert_no_error (error);
  return m;
}

static void
assert_entries_equal (const AnsimManifestEntry *a, const AnsimManifestEntry *b)
{
  g_assert_cmpuint (a->index, ==, b->index);
  g_assert_cmpint (a->kind, ==, b->kind);
  g_assert_cmpint (a->start_wall_us, ==, b->start_wall_us);
  g_assert_cmpint (a->start_mono_us, ==, b->start_mono_us);
  g_assert_cmpint (a->duration_us, ==, b->duration_us);
  g_assert_cmpstr (a->file, ==, b->file);
  g_assert_cmpint (a->cipher_size, ==, b->cipher_size);
  g_assert_cmpint (a->plain_size, ==, b->plain_size);
  g_assert_cmpstr (a->sha256_plain, ==, b->sha256_plain);
  g_assert_cmpstr (a->sha256_cipher, ==, b->sha256_cipher);
  g_assert_cmpstr (a->reason, ==, b->reason);
  g_assert_cmpstr (a->prev, ==, b->prev);
}

/* The builder refuses a detail a reader would refuse, and changes nothing. */
static void
test_event_detail_refused (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (AnsimManifest) m = new_manifest (key, NULL);
  const char *bad_name[] = { "Sound", "x", NULL };
  const char *no_value[] = { "sound", NULL };
  const char *twice[] = { "sound", "a", "sound", "b", NULL };
  const char *control[] = { "sound", "a\nb", NULL };
  const char *const *cases[] = { bad_name, no_value, twice, control };
  const char *expected[] = { "not a name", "detail.sound: expected", "given twice",
                             "detail.sound: expected" };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (
        ansim_manifest_add_event_with_detail (m, "press", WALL0, 1, cases[i], &error));
      g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
      g_assert_nonnull (strstr (error->message, expected[i]));
    }
  g_assert_cmpuint (ansim_manifest_get_n_events (m), ==, 0);
}

static void
test_round_trip (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (AnsimManifest) m = sample_manifest (key, HEX_C);
  g_autoptr (GBytes) bytes = ansim_manifest_to_bytes (m);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimManifest) back = NULL;
  g_autoptr (AnsimManifest) loaded = NULL;
  g_autoptr (GBytes) again = NULL;
  g_autofree char *manifest_path = path_in (f, "incident/manifest.json");
  g_autofree char *sig_path = path_in (f, "incident/manifest.json.sig");
  g_autofree char *incident = path_in (f, "incident");
  g_autofree char *written = NULL, *sig = NULL;
  gsize written_len = 0, sig_len = 0;
  char hex[ANSIM_SHA256_HEX_LEN + 1];

  g_test_message ("%.*s", (int) g_bytes_get_size (bytes),
                  (const char *) g_bytes_get_data (bytes, NULL));
  back = ansim_manifest_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);
  g_assert_no_error (error);

  g_assert_cmpstr (ansim_manifest_get_incident_id (back), ==, ansim_manifest_get_incident_id (m));
  g_assert_true (g_uuid_string_is_valid (ansim_manifest_get_incident_id (back)));
  g_assert_cmpstr (ansim_manifest_get_device_id (back), ==, "board-7f3a");
  g_assert_cmpstr (ansim_manifest_get_device_fingerprint (back), ==,
                   ansim_device_key_get_fingerprint (key));
  g_assert_cmpstr (ansim_manifest_get_desk_id (back), ==, "민원실-창구-3");
  g_assert_cmpstr (ansim_manifest_get_trigger_name (back), ==, "desk-button");
  g_assert_cmpint (ansim_manifest_get_trigger_kind (back), ==, ANSIM_TRIGGER_BUTTON);
  g_assert_false (ansim_manifest_get_drill (back));
  g_assert_cmpint (ansim_manifest_get_opened_wall_us (back), ==, WALL0 + 10 * G_USEC_PER_SEC);
  g_assert_cmpint (ansim_manifest_get_opened_mono_us (back), ==, 15 * G_USEC_PER_SEC);
  g_assert_true (ansim_manifest_is_closed (back));
  g_assert_cmpint (ansim_manifest_get_closed_wall_us (back), ==, WALL0 + 20 * G_USEC_PER_SEC);
  g_assert_cmpint (ansim_manifest_get_closed_mono_us (back), ==, 25 * G_USEC_PER_SEC);
  g_assert_cmpstr (ansim_manifest_get_close_reason (back), ==, "post-event");
  g_assert_cmpstr (ansim_manifest_get_previous_manifest_sha256 (back), ==, HEX_C);
  g_assert_cmpuint (ansim_manifest_get_n_events (back), ==, 2);
  g_assert_cmpstr (ansim_manifest_get_event (back, 0)->kind, ==, "notice-given");
  /* The detail, in the order written; none on the press. */
  g_assert_cmpstr (ansim_manifest_event_get_detail (ansim_manifest_get_event (back, 0), "by"), ==,
                   "light,buzzer");
  g_assert_cmpstr (ansim_manifest_event_get_detail (ansim_manifest_get_event (back, 0), "sound"),
                   ==, "failed (no sound output)");
  g_assert_cmpstr (ansim_manifest_get_event (back, 0)->detail[0], ==, "by");
  g_assert_null (ansim_manifest_get_event (back, 1)->detail);
  g_assert_cmpint (ansim_manifest_get_event (back, 1)->mono_us, ==, 15 * G_USEC_PER_SEC);
  g_assert_cmpuint (ansim_manifest_get_n_entries (back), ==, 3);
  for (guint i = 0; i < 3; i++)
    assert_entries_equal (ansim_manifest_get_entry (back, i), ansim_manifest_get_entry (m, i));
  g_assert_cmpstr (ansim_manifest_get_entry (back, 2)->file, ==, "seg-000002.mkv.age");

  /* Serializing what was parsed gives the same bytes. */
  again = ansim_manifest_to_bytes (back);
  g_assert_true (g_bytes_equal (again, bytes));

  /* write() stores exactly those bytes, and signs exactly them. */
  g_assert_true (ansim_manifest_write (m, incident, key, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (manifest_path, &written, &written_len, NULL));
  g_assert_true (g_file_get_contents (sig_path, &sig, &sig_len, NULL));
  g_assert_cmpmem (written, written_len, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_assert_cmpuint (sig_len, ==, ANSIM_SIGNATURE_SIZE);
  g_assert_true (ansim_device_key_verify (key, written, written_len, sig, sig_len, &error));
  g_autofree char *sum =
    g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) written, written_len);
  g_assert_cmpstr (ansim_manifest_get_written_sha256 (m), ==, sum);
  g_autofree char *pub_path = path_in (f, "incident/device.pub.pem");
  g_assert_true (g_file_test (pub_path, G_FILE_TEST_EXISTS));
  loaded = ansim_manifest_load (incident, &error);
  g_assert_no_error (error);
  ansim_manifest_entry_hash (ansim_manifest_get_entry (loaded, 2), hex);
  g_assert_cmpuint (strlen (hex), ==, 64);
}

static void
test_chain (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (AnsimManifest) first = sample_manifest (key, NULL);
  g_autoptr (AnsimManifest) second = sample_manifest (key, HEX_B);
  char hex[ANSIM_SHA256_HEX_LEN + 1];

  /* First entry: 64 zeros for a device's first incident, else the
   * previous manifest's hash. */
  g_assert_cmpstr (ansim_manifest_get_chain_start (first), ==, ZEROS);
  g_assert_cmpstr (ansim_manifest_get_entry (first, 0)->prev, ==, ZEROS);
  g_assert_cmpstr (ansim_manifest_get_entry (second, 0)->prev, ==, HEX_B);
  for (guint i = 1; i < ansim_manifest_get_n_entries (first); i++)
    {
      ansim_manifest_entry_hash (ansim_manifest_get_entry (first, i - 1), hex);
      g_assert_cmpstr (ansim_manifest_get_entry (first, i)->prev, ==, hex);
    }

  /* Known answers, computed with printf | sha256sum as in
   * docs/evidence-format.md. */
  AnsimManifestEntry seg = {
    .index = 1,
    .kind = ANSIM_ENTRY_SEGMENT,
    .start_wall_us = WALL0,
    .start_mono_us = 5000000,
    .duration_us = 2000000,
    .file = (char *) "seg-000001.mkv.age",
    .cipher_size = 1234,
    .plain_size = 1000,
    .sha256_plain = HEX_A,
    .sha256_cipher = HEX_B,
    .prev = HEX_C,
  };
  AnsimManifestEntry gap = {
    .index = 2,
    .kind = ANSIM_ENTRY_GAP,
    .start_wall_us = WALL0 + 2 * G_USEC_PER_SEC,
    .start_mono_us = 7000000,
    .duration_us = 1500000,
    .reason = (char *) "카메라 연결 끊김 (camera lost)",
    .prev = HEX_C,
  };
  g_autofree char *text = ansim_manifest_entry_canonical (&seg);
  g_assert_cmpstr (text, ==,
                   "ansim-entry-v1\nindex=1\nkind=segment\nstart_wall=2023-11-14T22:13:20.123456Z\n"
                   "start_mono_us=5000000\nduration_us=2000000\nfile=seg-000001.mkv.age\n"
                   "cipher_size=1234\nplain_size=1000\nsha256_plain=" HEX_A "\nsha256_cipher=" HEX_B
                   "\nprev=" HEX_C "\n");
  ansim_manifest_entry_hash (&seg, hex);
  g_assert_cmpstr (hex, ==, "7cd7fd4e3585d62a101c67fcc0b5f8bd162b8306d80a9ccec33d2bd4a10efbfe");
  ansim_manifest_entry_hash (&gap, hex);
  g_assert_cmpstr (hex, ==, "7f65173d3a08eda3cb0904428c73bfcc4d05e9b4e27da36892f122f7d9c10cb1");

  /* Any change to an entry changes its hash. */
  seg.cipher_size++;
  ansim_manifest_entry_hash (&seg, hex);
  g_assert_cmpstr (hex, !=, "7cd7fd4e3585d62a101c67fcc0b5f8bd162b8306d80a9ccec33d2bd4a10efbfe");
}

/* Parses bytes, which must parse (the parser leaves the chain to
 * ansim_manifest_check_chain), and checks its chain. */
static gboolean
chain_of (const char *text, GError **error)
{
  g_autoptr (GError) parse_error = NULL;
  g_autoptr (AnsimManifest) m = ansim_manifest_parse (text, strlen (text), &parse_error);

  g_assert_no_error (parse_error);
  return ansim_manifest_check_chain (m, error);
}

/* The one chain check: a built manifest holds; a changed link or index
 * is named by its entry. */
static void
test_check_chain (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (AnsimManifest) m = sample_manifest (key, HEX_C);
  g_autoptr (GBytes) bytes = ansim_manifest_to_bytes (m);
  g_autofree char *text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_autoptr (GError) error = NULL;
  char prev1[ANSIM_SHA256_HEX_LEN + 1];

  g_assert_true (ansim_manifest_check_chain (m, &error));
  g_assert_no_error (error);
  g_assert_true (chain_of (text, &error));
  g_assert_no_error (error);

  /* Entry 2 linked to something else than entry 1. */
  ansim_manifest_entry_hash (ansim_manifest_get_entry (m, 1), prev1);
  g_assert_nonnull (strstr (text, prev1));
  g_autofree char *relinked = g_strdup (text);
  memcpy (strstr (relinked, prev1), HEX_A, ANSIM_SHA256_HEX_LEN);
  g_assert_false (chain_of (relinked, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_BROKEN_CHAIN);
  g_assert_cmpstr (error->message, ==, "entry 2 does not chain to the entry before");
  g_clear_error (&error);

  /* The first entry not linked to the chain start. */
  g_autofree char *unstarted = g_strdup (text);
  char *first_prev = strstr (unstarted, "\"prev\" : \"" HEX_C);
  g_assert_nonnull (first_prev);
  memcpy (first_prev + strlen ("\"prev\" : \""), HEX_B, ANSIM_SHA256_HEX_LEN);
  g_assert_false (chain_of (unstarted, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_BROKEN_CHAIN);
  g_assert_cmpstr (error->message, ==, "entry 0 does not chain to the entry before");
  g_clear_error (&error);

  /* Entry 1 claiming another index. */
  g_autofree char *renumbered = g_strdup (text);
  char *index1 = strstr (renumbered, "\"index\" : 1,");
  g_assert_nonnull (index1);
  index1[strlen ("\"index\" : ")] = '5';
  g_assert_false (chain_of (renumbered, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_BROKEN_CHAIN);
  g_assert_cmpstr (error->message, ==, "entry 1 has index 5");
}

static void
test_builder_errors (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (AnsimDeviceKey) other = new_key (f, "other.pem");
  g_autoptr (AnsimManifest) m = new_manifest (key, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *incident = path_in (f, "incident");
  AnsimManifestInfo info = {
    .device_id = "d", .desk_id = "desk\n1", .trigger_name = "t", .opened_wall_us = WALL0
  };

  g_assert_null (ansim_manifest_new (&info, key, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
  g_assert_nonnull (strstr (error->message, "desk_id"));
  g_clear_error (&error);

  g_assert_false (ansim_manifest_add_segment (m, WALL0, 0, 1, 1, 1, "ABC", HEX_A, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
  g_clear_error (&error);
  g_assert_false (ansim_manifest_add_segment (m, WALL0, 0, -1, 1, 1, HEX_A, HEX_A, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
  g_clear_error (&error);
  g_assert_false (ansim_manifest_add_gap (m, WALL0, 0, 1, "", &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
  g_clear_error (&error);
  g_assert_false (ansim_manifest_add_event (m, "Press!", WALL0, 0, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
  g_clear_error (&error);
  g_assert_false (ansim_manifest_close (m, "open", WALL0, 0, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
  g_clear_error (&error);
  g_assert_cmpuint (ansim_manifest_get_n_entries (m), ==, 0);

  /* Signing with a key other than the one the manifest names. */
  g_assert_false (ansim_manifest_write (m, incident, other, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_KEY);
  g_clear_error (&error);

  g_assert_true (ansim_manifest_close (m, "long-press", WALL0, 0, &error));
  g_assert_false (ansim_manifest_add_gap (m, WALL0, 0, 1, "late", &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_STATE);
  g_clear_error (&error);
  g_assert_false (ansim_manifest_close (m, "max-length", WALL0, 0, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_STATE);
}

static AnsimVerifyReport *
verify_dir (const char *dir, AnsimDeviceKey *key, AnsimAgeIdentity *id, const char *previous)
{
  g_autoptr (GError) error = NULL;
  AnsimVerifyOptions opt = {
    .trusted_keys = &key,
    .n_trusted_keys = 1,
    .identities = &id,
    .n_identities = id != NULL ? 1 : 0,
    .previous = previous,
  };
  AnsimVerifyReport *r = ansim_incident_verify (dir, &opt, &error);

  g_assert_no_error (error);
  for (guint i = 0; i < r->lines->len; i++)
    g_test_message ("%s", ((AnsimFinding *) r->lines->pdata[i])->text);
  g_test_message ("%s", r->summary);
  return r;
}

static void
assert_clean (const char *dir, AnsimDeviceKey *key, AnsimAgeIdentity *id, const char *previous)
{
  g_autoptr (AnsimVerifyReport) r = verify_dir (dir, key, id, previous);

  g_assert_cmpuint (r->n_findings, ==, 0);
  g_assert_true (r->signature_ok);
  g_assert_true (g_str_has_prefix (r->summary, "OK: "));
}

static gboolean
has_finding (AnsimVerifyReport *r, AnsimFindingKind kind, const char *text)
{
  for (guint i = 0; i < r->lines->len; i++)
    {
      AnsimFinding *finding = r->lines->pdata[i];
      if (finding->kind == kind && (text == NULL || strstr (finding->text, text) != NULL))
        return TRUE;
    }
  return FALSE;
}

static AnsimManifest *
new_manifest_of (const AnsimDeviceKey *key, const char *source, const char *previous,
                 gint64 opened_s)
{
  g_autoptr (GError) error = NULL;
  AnsimManifestInfo info = {
    .device_id = "board-7f3a",
    .desk_id = "desk-3",
    .trigger_name = "desk-button",
    .trigger_kind = ANSIM_TRIGGER_BUTTON,
    .source = source,
    .opened_wall_us = WALL0 + opened_s * G_USEC_PER_SEC,
    .opened_mono_us = opened_s * G_USEC_PER_SEC,
    .previous_manifest_sha256 = previous,
  };
  AnsimManifest *m = ansim_manifest_new (&info, key, &error);
  g_assert_no_error (error);
  return m;
}

/* One chain per device and source: a predecessor whose bytes match but
 * that is another source's, still open, or another device's is a broken
 * chain; version 2 round-trips its source. */
static void
test_chain_per_source (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (AnsimDeviceKey) other_key = new_key (f, "other.pem");
  g_autoptr (GError) error = NULL;
  g_autofree char *cam = path_in (f, "cam");
  g_autofree char *open_cam = path_in (f, "open-cam");
  g_autofree char *other = path_in (f, "other-device");
  g_autofree char *next = path_in (f, "next");

  g_autoptr (AnsimManifest) a = new_manifest_of (key, "cam", NULL, 10);
  g_assert_true (ansim_manifest_close (a, "post-event", WALL0 + 20 * G_USEC_PER_SEC,
                                       20 * G_USEC_PER_SEC, &error));
  g_assert_true (ansim_manifest_write (a, cam, key, &error));
  g_assert_no_error (error);
  g_autoptr (AnsimManifest) parsed = ansim_manifest_load (cam, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ansim_manifest_get_source (parsed), ==, "cam");
  g_autoptr (GBytes) text = ansim_manifest_to_bytes (a);
  g_assert_nonnull (g_strstr_len (g_bytes_get_data (text, NULL), g_bytes_get_size (text),
                                  "\"format_version\" : 3"));

  /* The same source: accepted. */
  g_autoptr (AnsimManifest) b =
    new_manifest_of (key, "cam", ansim_manifest_get_written_sha256 (a), 30);
  g_assert_true (ansim_manifest_write (b, next, key, &error));
  g_assert_no_error (error);
  assert_clean (next, key, NULL, cam);

  /* Another source chained to cam's manifest (the old per-device rule). */
  g_autofree char *body = path_in (f, "body");
  g_autoptr (AnsimManifest) c =
    new_manifest_of (key, "body", ansim_manifest_get_written_sha256 (a), 30);
  g_assert_true (ansim_manifest_write (c, body, key, &error));
  {
    g_autoptr (AnsimVerifyReport) r = verify_dir (body, key, NULL, cam);
    g_assert_true (has_finding (r, ANSIM_FINDING_BROKEN_CHAIN, "each source's incidents"));
  }

  /* A predecessor still open. */
  g_autoptr (AnsimManifest) o = new_manifest_of (key, "cam", NULL, 10);
  g_assert_true (ansim_manifest_write (o, open_cam, key, &error));
  g_autofree char *after_open = path_in (f, "after-open");
  g_autoptr (AnsimManifest) d =
    new_manifest_of (key, "cam", ansim_manifest_get_written_sha256 (o), 30);
  g_assert_true (ansim_manifest_write (d, after_open, key, &error));
  {
    g_autoptr (AnsimVerifyReport) r = verify_dir (after_open, key, NULL, open_cam);
    g_assert_true (has_finding (r, ANSIM_FINDING_BROKEN_CHAIN, "still open"));
  }

  /* Another device's incident. */
  g_autoptr (AnsimManifest) x = new_manifest_of (other_key, "cam", NULL, 10);
  g_assert_true (ansim_manifest_close (x, "post-event", WALL0 + 20 * G_USEC_PER_SEC,
                                       20 * G_USEC_PER_SEC, &error));
  g_assert_true (ansim_manifest_write (x, other, other_key, &error));
  g_autofree char *after_other = path_in (f, "after-other");
  g_autoptr (AnsimManifest) e =
    new_manifest_of (key, "cam", ansim_manifest_get_written_sha256 (x), 30);
  g_assert_true (ansim_manifest_write (e, after_other, key, &error));
  g_assert_no_error (error);
  {
    g_autoptr (AnsimVerifyReport) r = verify_dir (after_other, key, NULL, other);
    g_assert_true (has_finding (r, ANSIM_FINDING_BROKEN_CHAIN, "chain within one device"));
  }
}

static GBytes *
media (gsize len, guint8 seed)
{
  guint8 *data = g_malloc (len);

  for (gsize i = 0; i < len; i++)
    data[i] = (guint8) (seed + i * 31 + (i >> 9));
  return g_bytes_new_take (data, len);
}

/* Sealing segment by segment: after every step the manifest on disk is
 * complete, signed and verifies, plaintext included. */
static void
test_incremental (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (AnsimAgeIdentity) id = ansim_age_identity_generate (NULL);
  g_autoptr (AnsimAgeRecipient) rcpt = ansim_age_identity_to_recipient (id);
  g_autoptr (AnsimManifest) m = new_manifest (key, NULL);
  g_autoptr (AnsimManifest) next = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = path_in (f, "incident-1");
  g_autofree char *dir2 = path_in (f, "incident-2");
  g_autofree char *out = path_in (f, "out");
  gint64 mono = 5 * G_USEC_PER_SEC, wall = WALL0;
  const gsize sizes[] = { 0, 1, 65536, 200000 };

  g_assert_true (ansim_manifest_add_event (m, "press", WALL0 + 10 * G_USEC_PER_SEC,
                                           15 * G_USEC_PER_SEC, &error));
  g_assert_true (ansim_manifest_write (m, dir, key, &error));
  g_assert_no_error (error);
  assert_clean (dir, key, id, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr (GBytes) plain = media (sizes[i], i);
      if (i == 2)
        {
          g_assert_true (ansim_manifest_add_gap (m, wall, mono, 700000, "camera-lost", &error));
          wall += 700000;
          mono += 700000;
        }
      g_assert_true (ansim_manifest_seal_segment (m, dir, &rcpt, 1, g_bytes_get_data (plain, NULL),
                                                  g_bytes_get_size (plain), wall, mono,
                                                  2 * G_USEC_PER_SEC, &error));
      g_assert_no_error (error);
      wall += 2 * G_USEC_PER_SEC;
      mono += 2 * G_USEC_PER_SEC;
      g_assert_true (ansim_manifest_write (m, dir, key, &error));
      g_assert_no_error (error);
      assert_clean (dir, key, id, NULL);
    }
  g_assert_true (ansim_manifest_close (m, "post-event", wall, mono, &error));
  g_assert_true (ansim_manifest_write (m, dir, key, &error));
  g_assert_no_error (error);
  assert_clean (dir, key, id, NULL);

  /* A sealed segment decrypts to its media. */
  {
    g_autoptr (AnsimVerifyReport) r = NULL;
    AnsimVerifyOptions opt = { .identities = &id, .n_identities = 1, .decrypt_to = out };
    g_autofree char *seg = g_build_filename (out, "seg-000004.mkv", NULL);
    g_autoptr (GBytes) expected = media (200000, 3);
    g_autofree char *got = NULL;
    gsize got_len = 0;

    r = ansim_incident_verify (dir, &opt, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (r->n_findings, ==, 0);
    g_assert_cmpuint (r->n_written, ==, 4);
    g_assert_true (g_file_get_contents (seg, &got, &got_len, NULL));
    g_assert_cmpmem (got, got_len, g_bytes_get_data (expected, NULL), 200000);
    g_assert_cmpuint (file_mode (seg), ==, 0600);
  }

  /* The next incident chains to this one's final manifest. */
  next = new_manifest (key, ansim_manifest_get_written_sha256 (m));
  g_assert_true (ansim_manifest_write (next, dir2, key, &error));
  g_assert_no_error (error);
  assert_clean (dir2, key, NULL, dir);
  {
    g_autoptr (AnsimVerifyReport) r = verify_dir (dir, key, NULL, dir2);
    g_assert_true (has_finding (r, ANSIM_FINDING_BROKEN_CHAIN, "no previous incident"));
  }
}

static void
test_sealer (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (AnsimAgeIdentity) id = ansim_age_identity_generate (NULL);
  g_autoptr (AnsimAgeRecipient) rcpt = ansim_age_identity_to_recipient (id);
  g_autoptr (AnsimManifest) m = new_manifest (key, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = path_in (f, "incident");
  g_autofree char *seg0 = path_in (f, "incident/seg-000000.mkv.age");
  g_autoptr (GDir) d = NULL;

  /* Abandoned: nothing stays behind. */
  {
    g_autoptr (AnsimSegmentSealer) s = ansim_segment_sealer_new (m, dir, &rcpt, 1, &error);
    g_assert_no_error (error);
    g_assert_true (ansim_segment_sealer_write (s, "abc", 3, &error));
  }
  d = g_dir_open (dir, 0, NULL);
  g_assert_null (g_dir_read_name (d));
  g_assert_cmpuint (ansim_manifest_get_n_entries (m), ==, 0);

  /* An existing file is never replaced. */
  g_assert_true (g_file_set_contents (seg0, "precious", -1, NULL));
  g_assert_false (ansim_manifest_seal_segment (m, dir, &rcpt, 1, "abc", 3, WALL0, 0, 1, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_cmpuint (ansim_manifest_get_n_entries (m), ==, 0);
  g_autofree char *kept = NULL;
  g_assert_true (g_file_get_contents (seg0, &kept, NULL, NULL));
  g_assert_cmpstr (kept, ==, "precious");
  g_dir_rewind (d);
  guint n = 0;
  while (g_dir_read_name (d) != NULL)
    n++;
  g_assert_cmpuint (n, ==, 1);

  /* An entry added meanwhile makes finish() refuse. */
  g_assert_cmpint (g_unlink (seg0), ==, 0);
  {
    g_autoptr (AnsimSegmentSealer) s = ansim_segment_sealer_new (m, dir, &rcpt, 1, &error);
    g_assert_true (ansim_manifest_add_gap (m, WALL0, 0, 1, "camera-lost", &error));
    g_assert_false (ansim_segment_sealer_finish (s, WALL0, 1, 1, &error));
    g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_STATE);
  }
}

/* ---- strict parser ------------------------------------------------------------------ */

typedef struct {
  const char *name;
  const char *from; /* replaced once in the sample manifest; NULL: whole input is `to` */
  const char *to;
  const char *expect; /* in the message */
  int code;
} Mutation;

static char *
replace_once (const char *text, const char *from, const char *to)
{
  const char *at = strstr (text, from);

  g_assert_nonnull (at);
  return g_strdup_printf ("%.*s%s%s", (int) (at - text), text, to, at + strlen (from));
}

static void
test_parse_rejects (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  static const Mutation mutations[] = {
    { "empty", NULL, "", "not a JSON object", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "array", NULL, "[]", "not a JSON object", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "truncated", NULL, "{\"format\" : \"ansim-incident-manifest\"", "not JSON",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "comment", "{", "{ /* hi */", "not JSON", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "nul", "board-7f3a", "board\\u0000", "NUL character", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "control", "board-7f3a", "board\\n7f3a", "device_id", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "format", "ansim-incident-manifest", "other", "format:", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "version", "\"format_version\" : 1", "\"format_version\" : 4", "format_version: version 4",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "v2-without-source", "\"format_version\" : 1", "\"format_version\" : 2", "source: missing",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "v1-with-source", "\"drill\" :", "\"source\" : \"cam\", \"drill\" :",
      "source: unknown member", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "missing", "\"device_id\" : \"board-7f3a\",", "", "device_id: missing",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "unknown", "\"drill\" :", "\"extra\" : 1, \"drill\" :", "extra: unknown member",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "duplicate", "\"drill\" :", "\"desk_id\" : \"evil\", \"drill\" :",
      "desk_id: member appears twice", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "uuid", "\"incident_id\" : \"", "\"incident_id\" : \"X", "incident_id",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "fingerprint", "\"device_fingerprint\" : \"", "\"device_fingerprint\" : \"g",
      "device_fingerprint", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "trigger", "\"button\"", "\"remote\"", "trigger_kind", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "drill", "\"drill\" : false", "\"drill\" : \"no\"", "drill", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "wall-month", "\"opened_wall\" : \"2023-11", "\"opened_wall\" : \"2023-13", "opened_wall",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "wall-form", "22:13:30.123456Z", "22:13:30Z", "opened_wall", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "wall-zone", "22:13:30.123456Z", "22:13:30.123456+09:00", "opened_wall",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "negative", "\"opened_mono_us\" : 15000000", "\"opened_mono_us\" : -1", "opened_mono_us",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "fraction", "\"opened_mono_us\" : 15000000", "\"opened_mono_us\" : 1.5", "opened_mono_us",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "minus-zero", "\"opened_mono_us\" : 15000000", "\"opened_mono_us\" : -0",
      "opened_mono_us: a number with '-'", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "leading-zero", "\"opened_mono_us\" : 15000000", "\"opened_mono_us\" : 015000000",
      "opened_mono_us: a number with a leading zero", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "exponent", "\"opened_mono_us\" : 15000000", "\"opened_mono_us\" : 15e6", "opened_mono_us",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "huge", "\"opened_mono_us\" : 15000000", "\"opened_mono_us\" : 9007199254740992",
      "opened_mono_us", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "open-closed", "\"close_reason\" : \"post-event\"", "\"close_reason\" : \"open\"",
      "closed_wall", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "close-reason", "\"close_reason\" : \"post-event\"", "\"close_reason\" : \"\"",
      "close_reason", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "previous", "\"previous_manifest_sha256\" : \"c", "\"previous_manifest_sha256\" : \"C",
      "previous_manifest_sha256", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "event-kind", "\"notice-given\"", "\"Notice\"", "events[0].kind",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "detail-name", "\"by\" :", "\"By\" :", "events[0].detail.By: not a name",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "detail-value", "\"light,buzzer\"", "7", "events[0].detail.by: expected a string",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "detail-empty", "\"by\" : \"light,buzzer\",", "\"by\" : \"\",",
      "events[0].detail.by: expected 1 to", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "detail-type",
      "\"detail\" : {\n        \"by\" : \"light,buzzer\",\n        \"sound\" : \"failed (no sound output)\"\n      }",
      "\"detail\" : [ \"light\" ]", "events[0].detail: expected an object",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "detail-nested", "\"light,buzzer\"", "{ \"a\" : \"b\" }",
      "events[0].detail.by: expected a string", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "entry-kind", "\"kind\" : \"gap\"", "\"kind\" : \"video\"", "entries[1].kind",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "entry-hash", "\"sha256_cipher\" : \"b", "\"sha256_cipher\" : \"B",
      "entries[0].sha256_cipher", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "entry-file", "seg-000000.mkv.age", "../../etc/passwd", "entries[0].file",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "entry-size", "\"cipher_size\" : 1234", "\"cipher_size\" : \"1234\"",
      "entries[0].cipher_size", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "entry-missing", "\"plain_size\" : 1000,", "", "entries[0].plain_size: missing",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "gap-file", "\"reason\" :", "\"file\" : \"seg-000001.mkv.age\", \"reason\" :",
      "entries[1].file: unknown member", ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "entry-type", "\"entries\" : [", "\"entries\" : [ 7,", "entries[0]: expected an object",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "prev", "\"prev\" : \"", "\"prev\" : \"0", "entries[0].prev",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
    { "nested", "\"events\" : [", "\"events\" : [[[[[[[[[[]]]]]]]]], \"x\" : [", "nested deeper",
      ANSIM_EVIDENCE_ERROR_MALFORMED },
  };
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (AnsimManifest) m = sample_manifest (key, HEX_C);
  g_autoptr (GBytes) bytes = ansim_manifest_to_bytes (m);
  g_autofree char *sample = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));

  for (guint i = 0; i < G_N_ELEMENTS (mutations); i++)
    {
      const Mutation *mu = &mutations[i];
      g_autofree char *text = mu->from != NULL ? replace_once (sample, mu->from, mu->to)
                                               : g_strdup (mu->to);
      g_autoptr (GError) error = NULL;
      g_autoptr (AnsimManifest) parsed = ansim_manifest_parse (text, strlen (text), &error);

      g_test_message ("%s: %s", mu->name, error ? error->message : "(accepted)");
      g_assert_null (parsed);
      g_assert_error (error, ANSIM_EVIDENCE_ERROR, mu->code);
      g_assert_nonnull (strstr (error->message, mu->expect));
    }

  /* A member of the wrong type that holds others. */
  {
    g_autoptr (GError) error = NULL;
    const char *from = strstr (sample, "\"events\" : [");
    const char *to = strstr (sample, "\"entries\" : [");
    g_autofree char *text =
      g_strdup_printf ("%.*s\"events\" : {},\n  %s", (int) (from - sample), sample, to);
    g_assert_null (ansim_manifest_parse (text, strlen (text), &error));
    g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
    g_assert_nonnull (strstr (error->message, "events: expected an array"));
  }

  /* Bytes that are not text. */
  {
    g_autoptr (GError) error = NULL;
    g_autofree char *text = g_strdup (sample);
    text[20] = '\0';
    g_assert_null (ansim_manifest_parse (text, strlen (sample), &error));
    g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
    g_assert_nonnull (strstr (error->message, "UTF-8"));
    g_clear_error (&error);
    text[20] = (char) 0xff;
    g_assert_null (ansim_manifest_parse (text, strlen (sample), &error));
    g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
  }

  /* Nothing at all, as an empty request body arrives (NULL data). */
  {
    g_autoptr (GError) error = NULL;
    g_assert_null (ansim_manifest_parse (NULL, 0, &error));
    g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
    g_assert_nonnull (strstr (error->message, "empty"));
  }

  /* Caps: size, then entry count. */
  {
    g_autoptr (GError) error = NULL;
    gsize big = ANSIM_MANIFEST_MAX_SIZE + 1;
    g_autofree char *text = g_malloc (big);
    memset (text, ' ', big);
    g_assert_null (ansim_manifest_parse (text, big, &error));
    g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE);
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GString) many = g_string_new (NULL);
    const char *at = strstr (sample, "\"entries\" : [");
    g_string_append_len (many, sample, at - sample);
    g_string_append (many, "\"entries\" : [");
    for (guint i = 0; i <= ANSIM_MANIFEST_MAX_ENTRIES; i++)
      g_string_append (many, i ? ",{}" : "{}");
    g_string_append (many, "]}");
    g_assert_null (ansim_manifest_parse (many->str, many->len, &error));
    g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_TOO_LARGE);
    g_assert_nonnull (strstr (error->message, "entries"));
  }
  /* And the sample itself parses, so the cases above each broke one thing. */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (AnsimManifest) ok = ansim_manifest_parse (sample, strlen (sample), &error);
    g_assert_no_error (error);
    g_assert_nonnull (ok);
  }
}

/* A one-stream gap: the picture lost for 3 s while the sound went on in
 * the segments around it. It overlaps them, round-trips with its stream,
 * is in the entry's canonical text, and does not hide a real hole. */
static void
test_stream_gap (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (AnsimAgeIdentity) id = ansim_age_identity_generate (NULL);
  g_autoptr (AnsimAgeRecipient) rcpt = ansim_age_identity_to_recipient (id);
  g_autoptr (AnsimManifest) m = new_manifest (key, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = path_in (f, "incident");
  gint64 mono = 5 * G_USEC_PER_SEC, wall = WALL0;

  for (guint i = 0; i < 4; i++)
    {
      g_autoptr (GBytes) plain = media (1000, i);
      g_assert_true (ansim_manifest_seal_segment (m, dir, &rcpt, 1, g_bytes_get_data (plain, NULL),
                                                  g_bytes_get_size (plain), wall, mono,
                                                  2 * G_USEC_PER_SEC, &error));
      g_assert_no_error (error);
      wall += 2 * G_USEC_PER_SEC;
      mono += 2 * G_USEC_PER_SEC;
      if (i == 2)
        g_assert_true (ansim_manifest_add_stream_gap (
          m, wall - 5 * G_USEC_PER_SEC, mono - 5 * G_USEC_PER_SEC, 3 * G_USEC_PER_SEC, "video",
          "source body: video lost: gone", &error));
    }
  g_assert_false (ansim_manifest_add_stream_gap (m, wall, mono, 1, "subtitles", "x", &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
  g_clear_error (&error);
  g_assert_true (ansim_manifest_close (m, "post-event", wall, mono, &error));
  g_assert_true (ansim_manifest_write (m, dir, key, &error));
  g_assert_no_error (error);
  assert_clean (dir, key, id, NULL);

  const AnsimManifestEntry *gap = ansim_manifest_get_entry (m, 3);
  g_autofree char *canonical = ansim_manifest_entry_canonical (gap);
  g_assert_nonnull (
    strstr (canonical, "reason=source body: video lost: gone\nstream=video\nprev="));
  g_autoptr (AnsimManifest) back = ansim_manifest_load (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ansim_manifest_get_entry (back, 3)->stream, ==, "video");
  g_assert_null (ansim_manifest_get_entry (back, 4)->stream);

  /* Parsing refuses a stream that is not one, and a stream on a segment. */
  g_autoptr (GBytes) bytes = ansim_manifest_to_bytes (m);
  g_autofree char *text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  const char *bad[][2] = {
    { "\"stream\" : \"video\"", "\"stream\" : \"smell\"" },
    { "\"stream\" : \"video\"", "\"stream\" : null" },
    { "\"file\" : \"seg-000000.mkv.age\",",
      "\"file\" : \"seg-000000.mkv.age\", \"stream\" : \"video\"," },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_nonnull (strstr (text, bad[i][0]));
      g_autofree char *edited = replace_once (text, bad[i][0], bad[i][1]);
      g_autoptr (AnsimManifest) p = ansim_manifest_parse (edited, strlen (edited), &error);
      g_assert_null (p);
      g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
      g_test_message ("refused: %s", error->message);
      g_clear_error (&error);
    }

  /* Outside the timeline, but not a cover for a hole: a segment 1 s late
   * after a one-stream gap is still an undeclared gap. */
  g_autoptr (AnsimManifest) m2 = new_manifest (key, NULL);
  g_autofree char *dir2 = path_in (f, "incident-2");
  mono = 5 * G_USEC_PER_SEC;
  wall = WALL0;
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr (GBytes) plain = media (1000, i);
      g_assert_true (ansim_manifest_seal_segment (
        m2, dir2, &rcpt, 1, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain), wall, mono,
        2 * G_USEC_PER_SEC, &error));
      if (i == 0)
        g_assert_true (ansim_manifest_add_stream_gap (m2, wall, mono, 3 * G_USEC_PER_SEC, "audio",
                                                      "microphone lost", &error));
      wall += 3 * G_USEC_PER_SEC;
      mono += 3 * G_USEC_PER_SEC;
    }
  g_assert_true (ansim_manifest_write (m2, dir2, key, &error));
  g_assert_no_error (error);
  g_autoptr (AnsimVerifyReport) r = verify_dir (dir2, key, id, NULL);
  g_assert_true (has_finding (r, ANSIM_FINDING_UNDECLARED_GAP, NULL));
  g_assert_false (has_finding (r, ANSIM_FINDING_OVERLAP, NULL));
}

/* Version 3: a close is never before what it closes. */
static void
test_close_floor (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimManifest) m = new_manifest_of (key, "cam", NULL, 10);
  const char *zero = "0000000000000000000000000000000000000000000000000000000000000000";

  g_assert_cmpuint (ansim_manifest_get_format_version (m), ==, 3);
  /* Pre-event buffer only: the segment ends 1 s before the open. */
  g_assert_true (ansim_manifest_add_segment (m, WALL0 + 8 * G_USEC_PER_SEC, 8 * G_USEC_PER_SEC,
                                             G_USEC_PER_SEC, 100, 90, zero, zero, &error));
  g_assert_true (ansim_manifest_add_event (m, "notice-given", WALL0 + 11 * G_USEC_PER_SEC,
                                           11 * G_USEC_PER_SEC, &error));
  g_assert_no_error (error);
  /* An interrupted close guessed at the last entry's end: raised to the
   * last event. */
  g_assert_true (ansim_manifest_close (m, "interrupted", WALL0 + 9 * G_USEC_PER_SEC,
                                       9 * G_USEC_PER_SEC, &error));
  g_assert_cmpint (ansim_manifest_get_closed_mono_us (m), ==, 11 * G_USEC_PER_SEC);
  g_assert_cmpint (ansim_manifest_get_closed_wall_us (m), ==, WALL0 + 11 * G_USEC_PER_SEC);
  g_autofree char *dir = path_in (f, "inc");
  g_assert_true (ansim_manifest_write (m, dir, key, &error));
  g_assert_no_error (error);
  g_autoptr (AnsimVerifyReport) r = ansim_incident_verify (dir, NULL, &error);
  g_assert_no_error (error);
  /* (Its segment file was never sealed: the one finding.) */
  g_assert_cmpuint (r->n_findings, ==, 1);
  for (guint i = 0; i < r->lines->len; i++)
    g_assert_cmpint (((AnsimFinding *) r->lines->pdata[i])->kind, !=, ANSIM_FINDING_BAD_CLOSE_TIME);
  g_assert_cmpuint (r->n_checkpoints, ==, 1);
}

/* A checkpoint has one spelling: the writer's bytes parse back to the
 * same checkpoint, and any other spelling is refused. */
static void
test_checkpoint_form (Fixture *f, G_GNUC_UNUSED gconstpointer data)
{
  g_autoptr (AnsimDeviceKey) key = new_key (f, "device.pem");
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimManifest) m = new_manifest_of (key, "cam", NULL, 10);
  AnsimCheckpoint c, back;

  ansim_checkpoint_of_manifest (m, 0, NULL, WALL0, 12345, &c);
  g_autoptr (GBytes) bytes = ansim_checkpoint_to_bytes (&c);
  g_autofree char *text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_assert_true (g_str_has_prefix (text, "ansim-checkpoint-v1\nincident_id="));
  g_assert_nonnull (strstr (text, "\nsequence=0\nprevious=0000"));
  g_assert_nonnull (strstr (text, "\nentries=0\n"));
  g_assert_true (g_str_has_suffix (text, "\nmono_us=12345\n"));
  g_assert_true (ansim_checkpoint_parse (text, strlen (text), &back, &error));
  g_assert_no_error (error);
  g_autoptr (GBytes) again = ansim_checkpoint_to_bytes (&back);
  g_assert_true (g_bytes_equal (again, bytes));
  g_assert_cmpuint (back.mono_us, ==, 12345);
  g_assert_cmpstr (back.incident_id, ==, ansim_manifest_get_incident_id (m));

  static const struct {
    const char *from, *to;
  } bad[] = {
    { "ansim-checkpoint-v1", "ansim-checkpoint-v2" },
    { "\nsequence=0", "\nsequence=00" },
    { "\nentries=0", "\nentries=-0" },
    { "\nmono_us=12345", "\nmono_us= 12345" },
    { "\nmono_us=12345\n", "\nmono_us=12345\r\n" },
    { "\nmono_us=12345\n", "\nmono_us=12345\n\n" },
    { "\nmono_us=12345\n", "\nmono_us=12345" },
    { "\nentries=0\n", "\n" },
    { "previous=0", "previous=1" },
    { ".123456Z", "Z" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      const char *at = strstr (text, bad[i].from);
      g_assert_nonnull (at);
      g_autofree char *t =
        g_strdup_printf ("%.*s%s%s", (int) (at - text), text, bad[i].to, at + strlen (bad[i].from));
      g_assert_false (ansim_checkpoint_parse (t, strlen (t), &back, &error));
      g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
      g_clear_error (&error);
    }
  g_autofree char *upper = g_ascii_strup (text, -1);
  g_assert_false (ansim_checkpoint_parse (upper, strlen (upper), &back, NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, data)                                                                      \
  g_test_add ("/evidence/" path, Fixture, data, fixture_setup, func, fixture_teardown)
  ADD ("device-key/create", test_key_create, NULL);
  ADD ("device-key/sign", test_key_sign, NULL);
  ADD ("device-key/refused-0640", test_key_permissions, GUINT_TO_POINTER (0640));
  ADD ("device-key/refused-0604", test_key_permissions, GUINT_TO_POINTER (0604));
  ADD ("device-key/refused-0620", test_key_permissions, GUINT_TO_POINTER (0620));
  ADD ("device-key/umask", test_key_umask, NULL);
  ADD ("device-key/invalid", test_key_invalid, NULL);
  ADD ("manifest/round-trip", test_round_trip, NULL);
  ADD ("manifest/event-detail-refused", test_event_detail_refused, NULL);
  ADD ("manifest/chain", test_chain, NULL);
  ADD ("manifest/check-chain", test_check_chain, NULL);
  ADD ("manifest/chain-per-source", test_chain_per_source, NULL);
  ADD ("manifest/builder-errors", test_builder_errors, NULL);
  ADD ("manifest/incremental", test_incremental, NULL);
  ADD ("manifest/sealer", test_sealer, NULL);
  ADD ("manifest/parse-rejects", test_parse_rejects, NULL);
  ADD ("manifest/stream-gap", test_stream_gap, NULL);
  ADD ("manifest/close-floor", test_close_floor, NULL);
  ADD ("manifest/checkpoint-form", test_checkpoint_form, NULL);
#undef ADD
  return g_test_run ();
}
