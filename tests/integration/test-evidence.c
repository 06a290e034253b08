/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The tamper matrix on real incidents: H.264 segments from GStreamer sealed
 * by the evidence library, every kind of damage `ansimctl verify` must name,
 * and the standard tools (age, openssl, sha256sum, ffprobe, ffmpeg) as peers. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "evidence.h"
#include "test-common.h"

#define N_MEDIA 4
#define SEGMENT_US "1000000"

static GHashTable *tools; /* name -> path */
static char *tmp_root;    /* temp dir of everything below */
static char *site_key, *site_recipient, *other_key;
static char *device_key, *device_pub, *other_device_key, *other_device_pub;
static char *media[N_MEDIA];
static char *inc1, *inc2; /* inc2 chains to inc1 and has a gap */

static const char *
tool (const char *name)
{
  const char *path = g_hash_table_lookup (tools, name);
  g_assert_nonnull (path);
  return path;
}

static char *
path_in (const char *dir, const char *name)
{
  return g_build_filename (dir, name, NULL);
}

static char *
sha256_of_file (const char *path)
{
  g_autoptr (GBytes) b = test_read_bytes (path);
  return g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, b);
}

/* A fresh copy of an incident to damage. */
static char *
copy_incident (const char *src)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *parent = g_dir_make_tmp ("tamper-XXXXXX", &error);
  char *dst = path_in (parent, "incident");

  g_assert_no_error (error);
  g_assert_cmpint (test_run (NULL, NULL, "cp", "-a", src, dst, NULL), ==, 0);
  return dst;
}

static void
remove_copy (char *dir)
{
  g_autofree char *parent = g_path_get_dirname (dir);

  g_assert_cmpint (test_run (NULL, NULL, "rm", "-rf", parent, NULL), ==, 0);
  g_free (dir);
}

/* `ansimctl verify DIR --key device.pub [extra...]`: asserts the exit status
 * and that stdout has a line starting with each expected text. */
static char *
verify (const char *dir, int expected_status, const char *const *extra,
        const char *const *expected_lines)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  char *out = NULL;
  g_autofree char *err = NULL;

  g_ptr_array_add (argv, (gpointer) tool ("ansimctl"));
  g_ptr_array_add (argv, "verify");
  g_ptr_array_add (argv, (gpointer) dir);
  for (; extra != NULL && *extra != NULL; extra++)
    g_ptr_array_add (argv, (gpointer) *extra);
  g_ptr_array_add (argv, NULL);
  int status = test_runv (&out, &err, (const char *const *) argv->pdata);
  g_test_message ("verify %s: exit %d\n%s%s", dir, status, out, err);
  g_assert_cmpint (status, ==, expected_status);
  for (; expected_lines != NULL && *expected_lines != NULL; expected_lines++)
    {
      g_autofree char *needle = g_strconcat ("\n", *expected_lines, NULL);
      g_autofree char *hay = g_strconcat ("\n", out, NULL);
      if (strstr (hay, needle) == NULL)
        g_error ("verify %s: no line starting with \"%s\" in:\n%s", dir, *expected_lines, out);
    }
  /* One line per finding and the summary: nothing on stderr. */
  g_assert_cmpstr (err, ==, "");
  return out;
}

/* The same, when only the status and the lines matter. */
static void
expect (const char *dir, int expected_status, const char *const *extra,
        const char *const *expected_lines)
{
  g_free (verify (dir, expected_status, extra, expected_lines));
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
verify_trusted (const char *dir, const char *const *expected_lines)
{
  g_autofree char *out = verify (dir, 1, ARGS ("--key", device_pub), expected_lines);
  g_autofree char *hay = g_strconcat ("\n", out, NULL);
  g_assert_nonnull (strstr (hay, "\nFAILED: "));
}

/* ---- editing and re-signing a manifest, as a forger holding the device key would ---- */

static JsonNode *
load_manifest_json (const char *dir)
{
  g_autofree char *path = path_in (dir, ANSIM_MANIFEST_NAME);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

static JsonArray *
entries_of (JsonNode *root)
{
  return json_object_get_array_member (json_node_get_object (root), "entries");
}

static char *
generate (JsonNode *root, gsize *len)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();

  json_generator_set_pretty (gen, TRUE);
  json_generator_set_root (gen, root);
  char *text = json_generator_to_data (gen, len);
  char *with_nl = g_strconcat (text, "\n", NULL);
  g_free (text);
  *len += 1;
  return with_nl;
}

/* Makes every entry's prev the hash of the entry before it again. */
static void
rechain (JsonNode *root)
{
  JsonArray *entries = entries_of (root);

  for (guint p = 1; p < json_array_get_length (entries); p++)
    {
      gsize len = 0;
      g_autofree char *text = generate (root, &len);
      g_autoptr (GError) error = NULL;
      g_autoptr (AnsimManifest) m = ansim_manifest_parse (text, len, &error);
      char hex[ANSIM_SHA256_HEX_LEN + 1];

      g_assert_no_error (error);
      ansim_manifest_entry_hash (ansim_manifest_get_entry (m, p - 1), hex);
      json_object_set_string_member (json_array_get_object_element (entries, p), "prev", hex);
    }
}

static void
save_manifest_json (const char *dir, JsonNode *root, const char *signing_key)
{
  g_autofree char *path = path_in (dir, ANSIM_MANIFEST_NAME);
  gsize len = 0;
  g_autofree char *text = generate (root, &len);

  test_write_file (path, text, len);
  if (signing_key != NULL)
    g_assert_cmpint (test_run (NULL, NULL, tool ("make-incident"), "resign", "--device-key",
                               signing_key, dir, NULL),
                     ==, 0);
}

static void
swap_files (const char *dir, const char *a, const char *b)
{
  g_autofree char *pa = path_in (dir, a), *pb = path_in (dir, b), *tmp = path_in (dir, "swap");

  g_assert_cmpint (g_rename (pa, tmp), ==, 0);
  g_assert_cmpint (g_rename (pb, pa), ==, 0);
  g_assert_cmpint (g_rename (tmp, pb), ==, 0);
}

/* ---- a valid incident ------------------------------------------------------ */

static void
test_valid (void)
{
  expect (inc1, 0, ARGS ("--key", device_pub),
          ARGS ("OK: incident ", "info: the manifest records no previous incident"));
  g_autofree char *out2 =
    verify (inc2, 0, ARGS ("--key", device_pub, "--previous", inc1, "--identity", site_key),
            ARGS ("info: chained to the previous incident's manifest",
                  "info: gap 2: 1.500 s without media from"));
  g_assert_nonnull (strstr (out2, "4 segments (4.0 s of media), 1 gap, signed by device key"));
  g_assert_nonnull (strstr (out2, "plaintext of all 4 segments checked"));
  /* Without a trusted key: the key beside the manifest, and it says so. */
  expect (inc1, 0, NULL, ARGS ("info: no trusted key given"));
  /* The last line is the summary, every other line info. */
  g_auto (GStrv) lines = g_strsplit (g_strchomp (out2), "\n", -1);
  for (guint i = 0; lines[i + 1] != NULL; i++)
    g_assert_true (g_str_has_prefix (lines[i], "info: "));
}

static void
test_valid_open (void)
{
  g_autofree char *dir = path_in (tmp_root, "open");
  g_autofree char *out = NULL;

  g_assert_cmpint (test_run (NULL, NULL, tool ("make-incident"), "seal", "--dir", dir,
                             "--device-key", device_key, "--recipient", site_recipient,
                             "--segment-us", SEGMENT_US, "--open", media[0], media[1], NULL),
                   ==, 0);
  out = verify (dir, 0, ARGS ("--key", device_pub, "--identity", site_key),
                ARGS ("info: the incident is still open"));
  g_assert_nonnull (strstr (out, "; the incident is still open"));
}

static void
test_openssl_verifies_signature (void)
{
  g_autofree char *manifest = path_in (inc1, ANSIM_MANIFEST_NAME);
  g_autofree char *sig = path_in (inc1, ANSIM_MANIFEST_SIG_NAME);
  g_autofree char *pub = path_in (inc1, ANSIM_DEVICE_PUB_NAME);
  g_autofree char *out = NULL, *err = NULL;

  /* The command line docs/evidence-format.md gives. */
  g_assert_cmpint (test_run (&out, &err, tool ("openssl"), "pkeyutl", "-verify", "-pubin", "-inkey",
                             pub, "-rawin", "-in", manifest, "-sigfile", sig, NULL),
                   ==, 0);
  g_assert_nonnull (strstr (out, "Signature Verified Successfully"));

  /* One digit of one duration changed, nothing else. */
  char *tampered = copy_incident (inc1);
  g_autofree char *t_manifest = path_in (tampered, ANSIM_MANIFEST_NAME);
  g_autoptr (GBytes) b = test_read_bytes (t_manifest);
  g_autofree char *text = g_strndup (g_bytes_get_data (b, NULL), g_bytes_get_size (b));
  char *at = strstr (text, "\"duration_us\" : 1000000");
  g_assert_nonnull (at);
  at[strlen ("\"duration_us\" : ")] = '2';
  test_write_file (t_manifest, text, strlen (text));
  g_autofree char *t_sig = path_in (tampered, ANSIM_MANIFEST_SIG_NAME);
  g_autofree char *t_pub = path_in (tampered, ANSIM_DEVICE_PUB_NAME);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (test_run (&out, &err, tool ("openssl"), "pkeyutl", "-verify", "-pubin", "-inkey",
                             t_pub, "-rawin", "-in", t_manifest, "-sigfile", t_sig, NULL),
                   !=, 0);
  g_assert_nonnull (strstr (out, "Signature Verification Failure"));
  verify_trusted (tampered, ARGS ("bad signature: manifest.json.sig does not verify over "
                                  "manifest.json with device key"));
  remove_copy (tampered);
}

/* sha256sum and age alone give the manifest's hashes and the original media. */
static void
test_standard_tools_match_manifest (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *mpath = path_in (inc1, ANSIM_MANIFEST_NAME);
  g_autoptr (GBytes) mbytes = test_read_bytes (mpath);
  g_autoptr (AnsimManifest) m =
    ansim_manifest_parse (g_bytes_get_data (mbytes, NULL), g_bytes_get_size (mbytes), &error);
  g_autofree char *plain_dir = path_in (tmp_root, "age-plain");

  g_assert_no_error (error);
  g_assert_cmpuint (ansim_manifest_get_n_entries (m), ==, N_MEDIA);
  g_mkdir (plain_dir, 0700);
  for (guint i = 0; i < N_MEDIA; i++)
    {
      const AnsimManifestEntry *e = ansim_manifest_get_entry (m, i);
      g_autofree char *seg = path_in (inc1, e->file);
      g_autofree char *plain = g_strdup_printf ("%s/%u.mkv", plain_dir, i);
      g_autofree char *out = NULL;

      g_assert_cmpint (test_run (&out, NULL, "sha256sum", seg, NULL), ==, 0);
      g_assert_true (g_str_has_prefix (out, e->sha256_cipher));
      g_assert_cmpint (
        test_run (NULL, NULL, tool ("age"), "-d", "-i", site_key, "-o", plain, seg, NULL), ==, 0);
      g_autofree char *plain_hash = sha256_of_file (plain);
      g_autofree char *media_hash = sha256_of_file (media[i]);
      g_assert_cmpstr (plain_hash, ==, e->sha256_plain);
      g_assert_cmpstr (plain_hash, ==, media_hash);
    }
}

/* ansimctl decrypt gives the original, playable media. */
static void
test_decrypt_playable (void)
{
  g_autofree char *out_dir = path_in (tmp_root, "decrypted");
  g_autofree char *out = NULL, *err = NULL;

  g_assert_cmpint (test_run (&out, &err, tool ("ansimctl"), "decrypt", inc2, "--identity", site_key,
                             "--key", device_pub, "--out", out_dir, NULL),
                   ==, 0);
  g_assert_nonnull (strstr (out, "; 4 files written to"));
  for (guint i = 0; i < N_MEDIA; i++)
    {
      /* inc2 has a gap entry at index 2: its segments are 0, 1, 3, 4. */
      guint index = i < 2 ? i : i + 1;
      g_autofree char *name = g_strdup_printf ("seg-%06u.mkv", index);
      g_autofree char *file = path_in (out_dir, name);
      g_autofree char *probe_out = NULL, *probe_err = NULL, *ff_err = NULL;
      struct stat st;

      g_assert_cmpint (g_stat (file, &st), ==, 0);
      g_assert_cmpint (st.st_mode & 0777, ==, 0600);
      g_autofree char *h1 = sha256_of_file (file), *h2 = sha256_of_file (media[i]);
      g_assert_cmpstr (h1, ==, h2);
      g_assert_cmpint (test_run (&probe_out, &probe_err, tool ("ffprobe"), "-v", "error",
                                 "-show_entries", "stream=codec_name", "-of", "csv=p=0", file,
                                 NULL),
                       ==, 0);
      g_assert_cmpstr (probe_err, ==, "");
      g_assert_cmpstr (g_strstrip (probe_out), ==, "h264");
      /* Every frame decodes. */
      g_assert_cmpint (test_run (NULL, &ff_err, tool ("ffmpeg"), "-nostdin", "-v", "error", "-i",
                                 file, "-f", "null", "-", NULL),
                       ==, 0);
      g_assert_cmpstr (ff_err, ==, "");
    }
  /* Never replaces a file. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (test_run (&out, &err, tool ("ansimctl"), "decrypt", inc2, "--identity", site_key,
                             "--out", out_dir, NULL),
                   ==, 1);
  g_assert_nonnull (strstr (err, "exists already; not overwriting it"));
}

/* ---- segments ----------------------------------------------------------- */

static void
test_missing_segment (void)
{
  char *dir = copy_incident (inc1);
  g_autofree char *seg = path_in (dir, "seg-000002.mkv.age");

  g_assert_cmpint (g_unlink (seg), ==, 0);
  verify_trusted (dir, ARGS ("missing segment: segment 2 (seg-000002.mkv.age) is in the manifest, "
                             "but its file is missing"));
  remove_copy (dir);
}

static void
test_reordered_files (void)
{
  char *dir = copy_incident (inc1);

  swap_files (dir, "seg-000001.mkv.age", "seg-000002.mkv.age");
  verify_trusted (dir, ARGS ("reordered segments: seg-000001.mkv.age holds the data of segment 2 "
                             "(seg-000002.mkv.age)",
                             "reordered segments: seg-000002.mkv.age holds the data of segment 1 "
                             "(seg-000001.mkv.age)"));
  remove_copy (dir);
}

/* Entries swapped in the manifest, files renamed to match, re-signed and
 * re-chained: the indices still tell. */
static void
test_reordered_entries (void)
{
  char *dir = copy_incident (inc1);
  g_autoptr (JsonNode) root_node = load_manifest_json (dir);
  JsonArray *entries = entries_of (root_node);
  g_autoptr (JsonNode) e1 = json_node_copy (json_array_get_element (entries, 1));
  g_autoptr (JsonNode) e2 = json_node_copy (json_array_get_element (entries, 2));

  json_array_remove_element (entries, 2);
  json_array_remove_element (entries, 1);
  /* json-glib has no insert: rebuild the tail. */
  g_autoptr (JsonNode) e3 = json_node_copy (json_array_get_element (entries, 1));
  json_array_remove_element (entries, 1);
  json_array_add_element (entries, g_steal_pointer (&e2));
  json_array_add_element (entries, g_steal_pointer (&e1));
  json_array_add_element (entries, g_steal_pointer (&e3));
  rechain (root_node);
  save_manifest_json (dir, root_node, device_key);
  verify_trusted (dir, ARGS ("reordered segments: the manifest lists segment 1 at position 2 "
                             "(seg-000001.mkv.age) after entry 2: entries are out of order"));
  remove_copy (dir);
}

static void
test_truncated_segment (void)
{
  char *dir = copy_incident (inc1);
  g_autofree char *seg = path_in (dir, "seg-000003.mkv.age");
  g_autoptr (GBytes) b = test_read_bytes (seg);
  gsize len = g_bytes_get_size (b);
  g_autofree char *expected =
    g_strdup_printf ("truncated segment: segment 3 (seg-000003.mkv.age) is %" G_GSIZE_FORMAT
                     " bytes, the manifest records %" G_GSIZE_FORMAT,
                     len - 1000, len);

  test_write_file (seg, g_bytes_get_data (b, NULL), len - 1000);
  verify_trusted (dir, ARGS (expected));
  /* With the identity too, still "truncated", and no plaintext claimed. */
  expect (dir, 1, ARGS ("--key", device_pub, "--identity", site_key), ARGS (expected));
  remove_copy (dir);
}

static void
test_altered_segment (void)
{
  char *dir = copy_incident (inc1);
  g_autofree char *seg = path_in (dir, "seg-000001.mkv.age");
  g_autoptr (GBytes) b = test_read_bytes (seg);
  gsize len = g_bytes_get_size (b);
  g_autofree guint8 *data = g_memdup2 (g_bytes_get_data (b, NULL), len);

  data[len / 2] ^= 0x01; /* one bit, in the middle of the media */
  test_write_file (seg, data, len);
  verify_trusted (dir,
                  ARGS ("altered segment: segment 1 (seg-000001.mkv.age): the file's SHA-256 is "));
  /* age itself refuses it too. */
  g_autofree char *err = NULL;
  g_autofree char *plain = path_in (dir, "plain.mkv");
  g_assert_cmpint (
    test_run (NULL, &err, tool ("age"), "-d", "-i", site_key, "-o", plain, seg, NULL), !=, 0);
  remove_copy (dir);
}

static void
test_duplicated_file (void)
{
  char *dir = copy_incident (inc1);
  g_autofree char *src = path_in (dir, "seg-000001.mkv.age");
  g_autofree char *dst = path_in (dir, "seg-000002.mkv.age");
  g_autoptr (GBytes) b = test_read_bytes (src);

  test_write_file (dst, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
  verify_trusted (dir, ARGS ("duplicated segment: seg-000002.mkv.age is a copy of segment 1 "
                             "(seg-000001.mkv.age) (its SHA-256 is that segment's), not the data "
                             "of segment 2 (seg-000002.mkv.age)"));
  remove_copy (dir);
}

static void
test_duplicated_entry (void)
{
  char *dir = copy_incident (inc1);
  g_autoptr (JsonNode) root_node = load_manifest_json (dir);
  JsonArray *entries = entries_of (root_node);

  json_array_add_element (entries, json_node_copy (json_array_get_element (entries, 1)));
  rechain (root_node);
  save_manifest_json (dir, root_node, device_key);
  verify_trusted (dir, ARGS ("duplicated segment: entry 1 appears twice in the manifest, at "
                             "positions 1 and 4"));
  remove_copy (dir);
}

static void
test_extra_segment (void)
{
  char *dir = copy_incident (inc1);
  g_autofree char *extra = path_in (dir, "seg-000004.mkv.age");

  /* A well-formed age file of real media, to the site's own recipient. */
  g_assert_cmpint (
    test_run (NULL, NULL, tool ("age"), "-r", site_recipient, "-o", extra, media[0], NULL), ==, 0);
  verify_trusted (dir, ARGS ("extra segment: seg-000004.mkv.age is not in the manifest"));
  remove_copy (dir);
}

/* ---- signature and key ------------------------------------------------- */

static void
test_missing_signature (void)
{
  char *dir = copy_incident (inc1);
  g_autofree char *sig = path_in (dir, ANSIM_MANIFEST_SIG_NAME);

  g_assert_cmpint (g_unlink (sig), ==, 0);
  verify_trusted (dir, ARGS ("missing signature: manifest.json.sig not found"));
  remove_copy (dir);
}

static void
test_bad_signature (void)
{
  char *dir = copy_incident (inc1);
  g_autofree char *sig = path_in (dir, ANSIM_MANIFEST_SIG_NAME);
  g_autoptr (GBytes) b = test_read_bytes (sig);
  g_autofree guint8 *data = g_memdup2 (g_bytes_get_data (b, NULL), g_bytes_get_size (b));

  data[10] ^= 0x80;
  test_write_file (sig, data, g_bytes_get_size (b));
  verify_trusted (dir, ARGS ("bad signature: manifest.json.sig does not verify"));
  test_write_file (sig, data, 63);
  verify_trusted (
    dir, ARGS ("bad signature: manifest.json.sig is 63 bytes; an Ed25519 signature is 64"));
  remove_copy (dir);
}

/* An edit of the manifest without the device key: the desk changed. */
static void
test_edited_manifest (void)
{
  char *dir = copy_incident (inc1);
  g_autoptr (JsonNode) root_node = load_manifest_json (dir);

  json_object_set_string_member (json_node_get_object (root_node), "desk_id", "desk-02");
  save_manifest_json (dir, root_node, NULL);
  verify_trusted (dir,
                  ARGS ("bad signature: manifest.json.sig does not verify over manifest.json"));
  remove_copy (dir);
}

/* Signed by another device, which also put its own public key beside: the
 * signature holds, but not with the key that is trusted. */
static void
test_unknown_key (void)
{
  char *dir = copy_incident (inc1);
  g_autoptr (JsonNode) root_node = load_manifest_json (dir);
  g_autofree char *pub = path_in (dir, ANSIM_DEVICE_PUB_NAME);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimDeviceKey) other = ansim_device_key_load_public (other_device_pub, &error);
  g_autoptr (AnsimDeviceKey) ours = ansim_device_key_load_public (device_pub, NULL);
  g_autoptr (GBytes) other_pem = test_read_bytes (other_device_pub);

  g_assert_no_error (error);
  json_object_set_string_member (json_node_get_object (root_node), "device_fingerprint",
                                 ansim_device_key_get_fingerprint (other));
  save_manifest_json (dir, root_node, other_device_key);
  test_write_file (pub, g_bytes_get_data (other_pem, NULL), g_bytes_get_size (other_pem));

  g_autofree char *expected = g_strdup_printf (
    "unknown key: the manifest names device key %s, but the trusted key %s is %s",
    ansim_device_key_get_fingerprint (other), device_pub, ansim_device_key_get_fingerprint (ours));
  verify_trusted (dir, ARGS (expected));
  /* The original, checked with the other device's key, is just as unknown. */
  expect (inc1, 1, ARGS ("--key", other_device_pub), ARGS ("unknown key: "));
  remove_copy (dir);
}

/* ---- the chain --------------------------------------------------------- */

/* A forger with the device key edits a hash: the signature holds, the
 * chain does not. */
static void
test_broken_chain (void)
{
  char *dir = copy_incident (inc1);
  g_autoptr (JsonNode) root_node = load_manifest_json (dir);
  JsonObject *e1 = json_array_get_object_element (entries_of (root_node), 1);

  json_object_set_string_member (
    e1, "sha256_plain", "0000000000000000000000000000000000000000000000000000000000000001");
  save_manifest_json (dir, root_node, device_key);
  verify_trusted (dir, ARGS ("broken chain: segment 2 (seg-000002.mkv.age): prev is "));
  remove_copy (dir);
}

/* An entry removed from the manifest (and its file): both tell. */
static void
test_removed_entry (void)
{
  char *dir = copy_incident (inc1);
  g_autoptr (JsonNode) root_node = load_manifest_json (dir);
  g_autofree char *seg = path_in (dir, "seg-000002.mkv.age");

  json_array_remove_element (entries_of (root_node), 2);
  save_manifest_json (dir, root_node, device_key);
  g_assert_cmpint (g_unlink (seg), ==, 0);
  verify_trusted (dir,
                  ARGS ("missing entry: the manifest has no entry 2 (it goes from entry 1 "
                        "to entry 3)",
                        "broken chain: segment 3 at position 2 (seg-000003.mkv.age): prev is "));
  remove_copy (dir);
}

static void
test_chain_to_previous (void)
{
  /* inc1 as it was when inc2 was made: fine (see test_valid). An altered
   * inc1, re-signed, is no longer what inc2 chains to. */
  char *prev = copy_incident (inc1);
  g_autoptr (JsonNode) root_node = load_manifest_json (prev);

  json_object_set_string_member (json_node_get_object (root_node), "close_reason", "shutdown");
  save_manifest_json (prev, root_node, device_key);
  g_autofree char *prev_manifest = path_in (prev, ANSIM_MANIFEST_NAME);
  g_autofree char *prev_hash = sha256_of_file (prev_manifest);
  g_autofree char *expected = g_strdup_printf (
    "broken chain: the previous incident's manifest %s has SHA-256 %s, but this incident chains to ",
    prev_manifest, prev_hash);
  expect (inc2, 1, ARGS ("--key", device_pub, "--previous", prev), ARGS (expected));
  /* inc1 is a device's first incident: nothing can precede it. */
  expect (inc1, 1, ARGS ("--key", device_pub, "--previous", inc2),
          ARGS ("broken chain: the manifest records no previous incident"));
  /* inc2's first entry re-pointed at another previous manifest, re-signed:
   * the entry no longer follows from previous_manifest_sha256. */
  char *dir = copy_incident (inc2);
  g_autoptr (JsonNode) r2 = load_manifest_json (dir);
  json_object_set_string_member (json_node_get_object (r2), "previous_manifest_sha256", prev_hash);
  save_manifest_json (dir, r2, device_key);
  verify_trusted (dir, ARGS ("broken chain: segment 0 (seg-000000.mkv.age): prev is "));
  remove_copy (dir);
  remove_copy (prev);
}

/* The chain checked with jq and sha256sum only, as docs/evidence-format.md
 * shows. */
static void
test_chain_with_jq (void)
{
  g_autofree char *out = NULL, *out2 = NULL;

  g_assert_cmpint (test_run (&out, NULL, tool ("evidence-check-chain"), inc2, inc1, NULL), ==, 0);
  g_assert_true (g_str_has_prefix (out, "chain intact: 5 entries, chain head "));

  char *dir = copy_incident (inc1);
  g_autoptr (JsonNode) root_node = load_manifest_json (dir);
  JsonObject *e2 = json_array_get_object_element (entries_of (root_node), 2);
  json_object_set_int_member (e2, "duration_us", 1000001);
  save_manifest_json (dir, root_node, device_key);
  g_assert_cmpint (test_run (&out2, NULL, tool ("evidence-check-chain"), dir, NULL), ==, 1);
  g_assert_true (g_str_has_prefix (out2, "broken chain: entries[3].prev is "));
  g_clear_pointer (&out2, g_free);
  g_assert_cmpint (test_run (&out2, NULL, tool ("evidence-check-chain"), inc2, dir, NULL), ==, 1);
  g_assert_true (g_str_has_prefix (out2, "broken chain: "));
  g_assert_nonnull (strstr (out2, "/manifest.json has SHA-256 "));
  remove_copy (dir);
}

/* ---- plaintext --------------------------------------------------------- */

/* Other media, validly age-encrypted to the site, put in place of segment
 * 0 by a forger who also fixes its ciphertext hash, size and the chain and
 * re-signs: only decrypting shows it. */
static void
test_plaintext_replaced (void)
{
  char *dir = copy_incident (inc1);
  g_autofree char *seg = path_in (dir, "seg-000000.mkv.age");
  g_autoptr (JsonNode) root_node = load_manifest_json (dir);
  JsonObject *e0 = json_array_get_object_element (entries_of (root_node), 0);

  g_assert_cmpint (g_unlink (seg), ==, 0);
  g_assert_cmpint (
    test_run (NULL, NULL, tool ("age"), "-r", site_recipient, "-o", seg, media[1], NULL), ==, 0);
  /* Unsigned swap first: the ciphertext tells (larger than recorded). */
  verify_trusted (dir, ARGS ("altered segment: segment 0 (seg-000000.mkv.age) is "));

  g_autofree char *cipher_hash = sha256_of_file (seg);
  g_autoptr (GBytes) cipher = test_read_bytes (seg);
  json_object_set_string_member (e0, "sha256_cipher", cipher_hash);
  json_object_set_int_member (e0, "cipher_size", g_bytes_get_size (cipher));
  rechain (root_node);
  save_manifest_json (dir, root_node, device_key);
  expect (dir, 0, ARGS ("--key", device_pub), NULL);
  g_autofree char *media_hash = sha256_of_file (media[1]);
  g_autofree char *expected = g_strdup_printf (
    "plaintext hash mismatch: segment 0 (seg-000000.mkv.age): the decrypted media has SHA-256 %s",
    media_hash);
  expect (dir, 1, ARGS ("--key", device_pub, "--identity", site_key), ARGS (expected));
  /* And decrypt writes every segment but that one. */
  g_autofree char *out_dir = path_in (dir, "../media");
  g_autofree char *dout = NULL, *derr = NULL;
  g_assert_cmpint (test_run (&dout, &derr, tool ("ansimctl"), "decrypt", dir, "--identity",
                             site_key, "--out", out_dir, NULL),
                   ==, 1);
  g_assert_nonnull (strstr (derr, "wrote 3 of 4 segments"));
  g_autofree char *not_written = path_in (out_dir, "seg-000000.mkv");
  g_assert_false (g_file_test (not_written, G_FILE_TEST_EXISTS));
  remove_copy (dir);
}

/* ---- keys ---------------------------------------------------------------- */

static void
test_wrong_identity (void)
{
  g_autofree char *expected = g_strdup_printf (
    "no matching recipient: segment 0 (seg-000000.mkv.age): no identity in %s can decrypt it",
    other_key);
  expect (inc1, 1, ARGS ("--key", device_pub, "--identity", other_key), ARGS (expected));
  g_autofree char *out_dir = path_in (tmp_root, "wrong-identity");
  g_autofree char *dout = NULL, *derr = NULL;
  g_assert_cmpint (test_run (&dout, &derr, tool ("ansimctl"), "decrypt", inc1, "--identity",
                             other_key, "--out", out_dir, NULL),
                   ==, 1);
  g_assert_nonnull (strstr (dout, expected));
  g_assert_nonnull (strstr (derr, "wrote 0 of 4 segments"));
  /* Nothing at all written, not even a partial file. */
  g_autoptr (GDir) d = g_dir_open (out_dir, 0, NULL);
  g_assert_nonnull (d);
  g_assert_null (g_dir_read_name (d));
}

static void
test_identity_permissions (void)
{
  g_autofree char *loose = path_in (tmp_root, "loose.key");
  g_autoptr (GBytes) b = test_read_bytes (site_key);
  g_autofree char *out = NULL, *err = NULL;

  test_write_file (loose, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
  g_assert_cmpint (g_chmod (loose, 0644), ==, 0);
  g_assert_cmpint (
    test_run (&out, &err, tool ("ansimctl"), "verify", inc1, "--identity", loose, NULL), ==, 2);
  g_autofree char *expected = g_strdup_printf (
    "ansimctl verify: --identity: identity file %s has mode 0644: group or others may read it, "
    "so it is refused (chmod 600 %s)\n",
    loose, loose);
  g_assert_cmpstr (err, ==, expected);
  g_assert_cmpstr (out, ==, "");
}

/* ansimctl keygen's identity with Debian's age, both ways. */
static void
test_keygen_with_age (void)
{
  g_autofree char *key = path_in (tmp_root, "keygen.key");
  g_autofree char *recipient = NULL, *derived = NULL, *err = NULL;
  g_autofree char *ct = path_in (tmp_root, "keygen.age"), *pt = path_in (tmp_root, "keygen.mkv");
  g_autofree char *pt2 = path_in (tmp_root, "keygen2.mkv");
  struct stat st;

  g_assert_cmpint (test_run (&recipient, NULL, tool ("ansimctl"), "keygen", "--out", key, NULL), ==,
                   0);
  g_strstrip (recipient);
  g_assert_cmpint (g_stat (key, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (test_run (&derived, NULL, tool ("age-keygen"), "-y", key, NULL), ==, 0);
  g_assert_cmpstr (g_strstrip (derived), ==, recipient);
  /* age encrypts to our recipient; our code and age decrypt with our file. */
  g_assert_cmpint (test_run (NULL, NULL, tool ("age"), "-r", recipient, "-o", ct, media[1], NULL),
                   ==, 0);
  g_assert_cmpint (
    test_run (NULL, NULL, tool ("age-tool"), "decrypt", "-i", key, "-o", pt, ct, NULL), ==, 0);
  g_assert_cmpint (test_run (NULL, NULL, tool ("age"), "-d", "-i", key, "-o", pt2, ct, NULL), ==,
                   0);
  g_autofree char *h0 = sha256_of_file (media[1]), *h1 = sha256_of_file (pt);
  g_autofree char *h2 = sha256_of_file (pt2);
  g_assert_cmpstr (h1, ==, h0);
  g_assert_cmpstr (h2, ==, h0);
  /* Never replaces a key. */
  g_autoptr (GBytes) before = test_read_bytes (key);
  g_assert_cmpint (test_run (NULL, &err, tool ("ansimctl"), "keygen", "--out", key, NULL), ==, 1);
  g_assert_nonnull (strstr (err, key));
  g_autoptr (GBytes) after = test_read_bytes (key);
  g_assert_true (g_bytes_equal (before, after));
}

/* ---- the recorder's device key ------------------------------------------- */

static int
run_recorder (const char *data_dir, gboolean stop, char **out)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) p =
    test_spawn (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                tool ("ansim-recorder"), "--data-dir", data_dir, NULL);
  g_autofree char *sock = path_in (data_dir, "control.sock");

  g_assert_no_error (error);
  if (stop)
    {
      /* Ready once its control socket exists; 20 s for a loaded machine. */
      for (int i = 0; i < 400 && !g_file_test (sock, G_FILE_TEST_EXISTS); i++)
        g_usleep (50000);
      g_assert_true (g_file_test (sock, G_FILE_TEST_EXISTS));
      g_subprocess_send_signal (p, SIGTERM);
    }
  g_subprocess_communicate_utf8 (p, NULL, NULL, out, NULL, &error);
  g_assert_no_error (error);
  return test_exit_code (p);
}

static void
test_recorder_device_key (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("rec-XXXXXX", &error);
  g_autofree char *key = path_in (dir, "device.pem"), *pub = path_in (dir, "device.pub.pem");
  g_autofree char *out = NULL, *out2 = NULL, *status = NULL;
  struct stat st;

  g_assert_no_error (error);
  g_assert_cmpint (run_recorder (dir, TRUE, &out), ==, 0);
  g_assert_cmpint (g_stat (key, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_autoptr (AnsimDeviceKey) k = ansim_device_key_load_public (pub, &error);
  g_assert_no_error (error);
  const char *fp = ansim_device_key_get_fingerprint (k);
  g_autofree char *logged = g_strdup_printf ("device key %s, fingerprint %s", key, fp);
  g_assert_nonnull (strstr (out, logged));
  g_assert_cmpint (test_run (&status, NULL, tool ("ansimctl"), "status", "--data-dir", dir, NULL),
                   ==, 1);
  g_autofree char *shown = g_strdup_printf ("\ndevice key: %s (%s)\n", fp, key);
  g_assert_nonnull (strstr (status, shown));

  /* The same key at the next start. */
  g_autoptr (GBytes) before = test_read_bytes (key);
  g_assert_cmpint (run_recorder (dir, TRUE, &out2), ==, 0);
  g_assert_nonnull (strstr (out2, logged));
  g_autoptr (GBytes) after = test_read_bytes (key);
  g_assert_true (g_bytes_equal (before, after));

  /* Readable by others: refused with one line, nothing started. */
  g_autofree char *out3 = NULL;
  g_assert_cmpint (g_chmod (key, 0644), ==, 0);
  g_assert_cmpint (run_recorder (dir, FALSE, &out3), !=, 0);
  g_autofree char *line = g_strdup_printf (
    "device key %s has mode 0644: group or others may read or write it, so it is refused "
    "(chmod 600 %s)\n",
    key, key);
  g_assert_true (g_str_has_suffix (out3, line));
  g_auto (GStrv) lines = g_strsplit (out3, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 2);
  g_autoptr (GBytes) unchanged = test_read_bytes (key);
  g_assert_true (g_bytes_equal (before, unchanged));
  g_clear_pointer (&status, g_free);
  test_run (&status, NULL, tool ("ansimctl"), "status", "--data-dir", dir, NULL);
  g_assert_nonnull (strstr (status, "has mode 0644: the recorder refuses it (chmod 600 "));

  g_assert_cmpint (test_run (NULL, NULL, "rm", "-rf", dir, NULL), ==, 0);
}

/* ---- setup ---------------------------------------------------------------- */

static void
make_fixtures (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *media_dir = NULL;

  tmp_root = g_dir_make_tmp ("test-evidence-XXXXXX", &error);
  g_assert_no_error (error);
  media_dir = path_in (tmp_root, "media");
  g_mkdir (media_dir, 0700);

  /* Four 1 s H.264 segments, each starting at a keyframe, one picture
   * each so that no two are alike (elements from -base, -good and -ugly
   * only, as scripts/packages lists). (Cutting one stream with splitmuxsink
   * under gst-launch-1.0 hangs at EOS about one run in three on GStreamer
   * 1.22; separate pipelines do not.) */
  static const char *const patterns[N_MEDIA] = { "ball", "smpte", "pinwheel", "circular" };
  for (guint i = 0; i < N_MEDIA; i++)
    {
      g_autofree char *pattern = g_strdup_printf ("pattern=%s", patterns[i]);
      g_autofree char *location = NULL;
      g_autofree char *err = NULL;

      media[i] = g_strdup_printf ("%s/m%02u.mkv", media_dir, i);
      location = g_strdup_printf ("location=%s", media[i]);
      if (test_run (NULL, &err, tool ("gst-launch-1.0"), "-q", "videotestsrc", "num-buffers=30",
                    pattern, "!", "video/x-raw,width=160,height=120,framerate=30/1", "!", "x264enc",
                    "key-int-max=30", "speed-preset=ultrafast", "!", "matroskamux", "!", "filesink",
                    location, NULL)
          != 0)
        g_error ("gst-launch-1.0 failed: %s", err);
      g_assert_true (g_file_test (media[i], G_FILE_TEST_IS_REGULAR));
    }

  site_key = path_in (tmp_root, "site.key");
  other_key = path_in (tmp_root, "other.key");
  g_assert_cmpint (
    test_run (&site_recipient, NULL, tool ("ansimctl"), "keygen", "--out", site_key, NULL), ==, 0);
  g_strstrip (site_recipient);
  g_assert_cmpint (test_run (NULL, NULL, tool ("age-keygen"), "-o", other_key, NULL), ==, 0);

  device_key = path_in (tmp_root, "device/device.pem");
  device_pub = path_in (tmp_root, "device/device.pub.pem");
  other_device_key = path_in (tmp_root, "other-device/device.pem");
  other_device_pub = path_in (tmp_root, "other-device/device.pub.pem");
  inc1 = path_in (tmp_root, "incident-1");
  inc2 = path_in (tmp_root, "incident-2");
  g_assert_cmpint (test_run (NULL, NULL, tool ("make-incident"), "seal", "--dir", inc1,
                             "--device-key", device_key, "--recipient", site_recipient,
                             "--segment-us", SEGMENT_US, media[0], media[1], media[2], media[3],
                             NULL),
                   ==, 0);
  g_assert_cmpint (test_run (NULL, NULL, tool ("make-incident"), "seal", "--dir", inc2,
                             "--device-key", device_key, "--recipient", site_recipient,
                             "--previous", inc1, "--segment-us", SEGMENT_US, "--gap-after", "2",
                             "--gap-us", "1500000", "--gap-reason", "camera-lost", media[0],
                             media[1], media[2], media[3], NULL),
                   ==, 0);
  /* Another board's key, for forgeries. */
  ansim_device_key_free (ansim_device_key_load_or_create (other_device_key, &error));
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  int n = 1, ret;

  tools = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      if (g_str_has_prefix (a, "--skip-missing="))
        {
          g_print ("1..0 # SKIP not installed: %s\n", a + strlen ("--skip-missing="));
          return 77;
        }
      if (g_str_has_prefix (a, "--tool=") && strchr (a + 7, '=') != NULL)
        {
          const char *eq = strchr (a + 7, '=');
          g_hash_table_insert (tools, g_strndup (a + 7, eq - (a + 7)), g_strdup (eq + 1));
        }
      else
        argv[n++] = argv[i];
    }
  argc = n;
  argv[argc] = NULL;
  g_test_init (&argc, &argv, NULL);

  make_fixtures ();

  g_test_add_func ("/evidence/valid/verifies-clean", test_valid);
  g_test_add_func ("/evidence/valid/open-incident", test_valid_open);
  g_test_add_func ("/evidence/valid/openssl-verifies-signature", test_openssl_verifies_signature);
  g_test_add_func ("/evidence/valid/sha256sum-and-age-match-manifest",
                   test_standard_tools_match_manifest);
  g_test_add_func ("/evidence/valid/decrypt-playable", test_decrypt_playable);
  g_test_add_func ("/evidence/tamper/missing-segment", test_missing_segment);
  g_test_add_func ("/evidence/tamper/reordered-files", test_reordered_files);
  g_test_add_func ("/evidence/tamper/reordered-entries", test_reordered_entries);
  g_test_add_func ("/evidence/tamper/truncated-segment", test_truncated_segment);
  g_test_add_func ("/evidence/tamper/altered-segment", test_altered_segment);
  g_test_add_func ("/evidence/tamper/duplicated-file", test_duplicated_file);
  g_test_add_func ("/evidence/tamper/duplicated-entry", test_duplicated_entry);
  g_test_add_func ("/evidence/tamper/extra-segment", test_extra_segment);
  g_test_add_func ("/evidence/tamper/missing-signature", test_missing_signature);
  g_test_add_func ("/evidence/tamper/bad-signature", test_bad_signature);
  g_test_add_func ("/evidence/tamper/edited-manifest", test_edited_manifest);
  g_test_add_func ("/evidence/tamper/unknown-key", test_unknown_key);
  g_test_add_func ("/evidence/tamper/broken-chain", test_broken_chain);
  g_test_add_func ("/evidence/tamper/removed-entry", test_removed_entry);
  g_test_add_func ("/evidence/tamper/chain-to-previous", test_chain_to_previous);
  g_test_add_func ("/evidence/tamper/chain-with-jq", test_chain_with_jq);
  g_test_add_func ("/evidence/tamper/plaintext-replaced", test_plaintext_replaced);
  g_test_add_func ("/evidence/keys/wrong-identity", test_wrong_identity);
  g_test_add_func ("/evidence/keys/identity-permissions", test_identity_permissions);
  g_test_add_func ("/evidence/keys/keygen-with-age", test_keygen_with_age);
  g_test_add_func ("/evidence/keys/recorder-device-key", test_recorder_device_key);
  ret = g_test_run ();

  if (ret == 0)
    test_run (NULL, NULL, "rm", "-rf", tmp_root, NULL);
  return ret;
}
