/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target: the panel's ingest request handling (routing, ids,
 * authentication, JSON bodies, manifests, segments) on a real SQLite file
 * and filesystem store in a temp dir, with one enrolled device.
 * Input: line 1 method, line 2 path, line 3 "sign" (sign the request with
 * the corpus's device key, and a manifest body too) or the Signature-Input,
 * then lines Signature, Content-Digest, Ansim-Manifest-Signature; the rest
 * is the body. The device has an incident with a channel message, so a
 * channel request finds something to read. FUZZ_WRITE_CORPUS=DIR writes
 * the seed corpora instead. */
#include "ingest.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channel-db.h"
#include "db.h"
#include "evidence.h"
#include "httpsig.h"

#define FUZZ_MAX_INPUT (64 * 1024)
#define FUZZ_INCIDENT "11111111-2222-4333-8444-555555555555"
#define FUZZ_CODE "FUZZ-CODE-AAAA-BBBB"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
static int fuzz_write_corpus (const char *out);

static const char fuzz_key_pem[] =
  "-----BEGIN PRIVATE KEY-----\n"
  "MC4CAQAwBQYDK2VwBCIEIJEowXCvViCj3QcMS962SX0nkW/fRpQ2X+3XViFz8WYH\n"
  "-----END PRIVATE KEY-----\n";

static char *dir;
static AnsimDeviceKey *key;
static sqlite3 *db;
static PanelStore *store;
static PanelIngest *ingest;

static void
cleanup (void)
{
  panel_ingest_free (ingest);
  panel_store_free (store);
  sqlite3_close (db);
  ansim_device_key_free (key);
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
  if (system (cmd) != 0)
    g_printerr ("cannot remove %s\n", dir);
  g_free (dir);
}

static void
init (void)
{
  g_autoptr (GError) error = NULL;
  dir = g_dir_make_tmp ("ansim-fuzz-ingest-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *key_path = g_build_filename (dir, "device.pem", NULL);
  g_assert_true (
    g_file_set_contents_full (key_path, fuzz_key_pem, -1, G_FILE_SET_CONTENTS_NONE, 0600, &error));
  key = ansim_device_key_load (key_path, &error);
  g_assert_no_error (error);
  g_autofree char *db_path = g_build_filename (dir, "panel.db", NULL);
  db = ansim_db_open (&ansim_panel_db_schema, db_path, &error);
  g_assert_no_error (error);
  /* no fsync per statement: the fuzzer wants speed, not durability */
  g_assert_true (ansim_db_exec (db, "PRAGMA synchronous = OFF", &error));
  guint8 raw[32];
  ansim_device_key_get_public_raw (key, raw);
  sqlite3_stmt *stmt = ansim_db_prepare (
    db,
    "INSERT INTO devices (id, public_key, fingerprint, enrolled_at_us) VALUES ('dev-1', ?1, ?2, 1)",
    &error);
  sqlite3_bind_blob (stmt, 1, raw, 32, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, ansim_device_key_get_fingerprint (key), -1, SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
  sqlite3_finalize (stmt);
  g_autofree char *code_hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, FUZZ_CODE, -1);
  g_autofree char *sql =
    g_strdup_printf ("INSERT INTO enrollment_codes (code_sha256, device_id, "
                     "created_at_us, expires_at_us) VALUES ('%s', 'dev-2', 1, 9000000000000000)",
                     code_hash);
  g_assert_true (ansim_db_exec (db, sql, &error));
  g_assert_true (ansim_db_exec (
    db,
    "INSERT INTO desks (id, name) VALUES ('desk-0', 'Desk 0');"
    "INSERT INTO incidents (id, device_id, uuid, desk_id, trigger, trigger_kind, opened_wall_us, "
    "opened_mono_us, alerted_at_us) VALUES (1000, 'dev-1', "
    "'00000000-0000-4000-8000-000000000000', 'desk-0', 'desk-button', 'button', 1, 1, 1)",
    &error));
  g_assert_true (panel_channel_db_post (db, 1000, PANEL_CHANNEL_ACKNOWLEDGED, NULL, NULL, &error));
  g_autofree char *store_dir = g_build_filename (dir, "store", NULL);
  store = panel_store_new_filesystem (store_dir, &error);
  g_assert_no_error (error);
  PanelIngestOptions options = { .max_body_size = 1024 * 1024,
                                 .clock_skew_s = 300,
                                 .site_name = "fuzz" };
  ingest = panel_ingest_new (db, store, &options);
  atexit (cleanup);
}

static char *
next_line (char **p)
{
  if (*p == NULL)
    return NULL;
  char *line = *p;
  char *nl = memchr (line, '\n', strlen (line));
  if (nl == NULL)
    *p = NULL;
  else
    {
      *nl = '\0';
      *p = nl + 1;
    }
  return line;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size > FUZZ_MAX_INPUT)
    return 0;
  if (ingest == NULL && g_getenv ("FUZZ_WRITE_CORPUS") != NULL)
    exit (fuzz_write_corpus (g_getenv ("FUZZ_WRITE_CORPUS")));
  if (ingest == NULL)
    init ();
  /* Headers are text up to the body; the body may hold any byte. */
  g_autofree char *copy = g_malloc (size + 1);
  memcpy (copy, data, size);
  copy[size] = '\0';
  char *p = copy;
  const char *method = next_line (&p);
  const char *path = next_line (&p);
  const char *mode = next_line (&p);
  g_autofree char *sig_input = NULL, *sig = NULL, *digest = NULL, *manifest_sig = NULL;
  const char *raw_input = NULL, *raw_sig = NULL, *raw_digest = NULL, *raw_msig = NULL;
  gboolean sign = g_strcmp0 (mode, "sign") == 0;
  if (!sign)
    {
      raw_input = mode;
      raw_sig = next_line (&p);
      raw_digest = next_line (&p);
      raw_msig = next_line (&p);
    }
  gsize body_len = p != NULL ? size - (p - copy) : 0;
  g_autoptr (GBytes) body = g_bytes_new (p != NULL ? p : "", body_len);
  if (sign && method != NULL && path != NULL)
    {
      digest = ansim_httpsig_content_digest (p, body_len);
      if (!ansim_httpsig_sign (key, method, path, digest, g_get_real_time () / G_USEC_PER_SEC, NULL,
                               &sig_input, &sig, NULL))
        return 0;
      if (g_str_has_suffix (path, "/manifest"))
        {
          g_autoptr (GBytes) s = ansim_device_key_sign (key, p != NULL ? p : "", body_len, NULL);
          manifest_sig = ansim_sf_binary_encode (g_bytes_get_data (s, NULL), 64);
        }
    }
  PanelRequest req = {
    .method = method,
    .path = path,
    .signature_input = sign ? sig_input : raw_input,
    .signature = sign ? sig : raw_sig,
    .content_digest = sign ? digest : raw_digest,
    .manifest_signature = sign ? manifest_sig : raw_msig,
    .body = body,
  };
  guint status = 0;
  g_autofree char *json = NULL;
  g_autoptr (PanelIngestWait) wait = NULL;
  panel_ingest_handle_full (ingest, &req, &status, &json, &wait);
  g_assert_true (wait == NULL || (status == 200 && wait->wait_ms > 0));
  g_debug ("%s %s: %u %s", method, path, status, json);
  g_assert_cmpuint (status, >=, 200);
  g_assert_cmpuint (status, <, 600);
  g_autoptr (JsonNode) node = json_from_string (json, NULL);
  g_assert_nonnull (node);
  return 0;
}

/* ---- seeds ------------------------------------------------------------------ */

static void
write_seed (const char *dir_path, const char *name, const char *head, const void *body, gsize len)
{
  g_autofree char *path = g_build_filename (dir_path, name, NULL);
  g_autoptr (GByteArray) a = g_byte_array_new ();
  g_byte_array_append (a, (const guint8 *) head, strlen (head));
  g_byte_array_append (a, body, len);
  g_assert_true (g_file_set_contents (path, (const char *) a->data, a->len, NULL));
}

static int
fuzz_write_corpus (const char *out)
{
  g_autoptr (GError) error = NULL;
  init ();
  g_autofree char *ing = g_build_filename (out, "ingest", NULL);
  g_autofree char *hs = g_build_filename (out, "httpsig", NULL);
  g_mkdir_with_parents (ing, 0755);
  g_mkdir_with_parents (hs, 0755);
  const char *alert =
    "{\"desk_id\":\"desk-1\",\"desk_name\":\"Desk 1\",\"trigger\":\"desk-button\","
    "\"trigger_kind\":\"button\",\"opened_wall_us\":1700000000000000,"
    "\"opened_mono_us\":5000000,\"drill\":false}";
  write_seed (ing, "1-alert", "PUT\n/api/v1/alerts/" FUZZ_INCIDENT "\nsign\n", alert,
              strlen (alert));
  const char *event = "{\"kind\":\"incident-opened\",\"at_wall_us\":1,\"at_mono_us\":2,"
                      "\"desk_id\":\"desk-1\",\"incident\":\"" FUZZ_INCIDENT "\","
                      "\"detail\":{\"pre_event_s\":2}}";
  write_seed (ing, "2-event", "PUT\n/api/v1/events/7\nsign\n", event, strlen (event));

  g_autoptr (AnsimAgeIdentity) id = ansim_age_identity_generate (&error);
  g_autoptr (AnsimAgeRecipient) r = ansim_age_identity_to_recipient (id);
  AnsimManifestInfo info = { .device_id = "dev-1",
                             .desk_id = "desk-1",
                             .trigger_name = "desk-button",
                             .trigger_kind = ANSIM_TRIGGER_BUTTON,
                             .incident_id = FUZZ_INCIDENT,
                             .opened_wall_us = 1700000000000000,
                             .opened_mono_us = 5000000 };
  g_autoptr (AnsimManifest) m = ansim_manifest_new (&info, key, &error);
  g_autofree char *mdir = g_build_filename (dir, "incident", NULL);
  for (int i = 0; i < 2; i++)
    g_assert_true (ansim_manifest_seal_segment (m, mdir, &r, 1, "0123456789", 10,
                                                1700000000000000 + i * 2000000,
                                                5000000 + i * 2000000, 2000000, &error));
  g_assert_true (
    ansim_manifest_add_gap (m, 1700000004000000, 9000000, 1000000, "camera unplugged", &error));
  g_assert_true (ansim_manifest_close (m, "post-event", 1700000005000000, 10000000, &error));
  g_autoptr (GBytes) mb = ansim_manifest_to_bytes (m);
  write_seed (ing, "3-manifest", "PUT\n/api/v1/incidents/" FUZZ_INCIDENT "/manifest\nsign\n",
              g_bytes_get_data (mb, NULL), g_bytes_get_size (mb));
  g_autofree char *seg_path = g_build_filename (mdir, "seg-000000.mkv.age", NULL);
  g_autofree char *seg = NULL;
  gsize seg_len = 0;
  g_assert_true (g_file_get_contents (seg_path, &seg, &seg_len, &error));
  write_seed (ing, "4-segment", "PUT\n/api/v1/incidents/" FUZZ_INCIDENT "/segments/0\nsign\n", seg,
              seg_len);
  const char *hb = "{\"wall_us\":1700000000000000,\"disk_free_bytes\":1000,\"queue_length\":3,"
                   "\"oldest_item_age_s\":4,\"version\":\"0.1.0\"}";
  write_seed (ing, "5-heartbeat", "POST\n/api/v1/heartbeat\nsign\n", hb, strlen (hb));
  g_autofree char *pem = ansim_device_key_get_public_pem (key);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, FUZZ_CODE);
  json_builder_set_member_name (b, "public_key");
  json_builder_add_string_value (b, pem);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *enroll = json_to_string (root, FALSE);
  write_seed (ing, "6-enroll", "POST\n/api/v1/enroll\nsign\n", enroll, strlen (enroll));

  g_autofree char *digest = ansim_httpsig_content_digest (hb, strlen (hb));
  g_autofree char *si = NULL, *s = NULL;
  g_assert_true (ansim_httpsig_sign (key, "POST", "/api/v1/heartbeat", digest, 1700000000, NULL,
                                     &si, &s, &error));
  g_autofree char *raw = g_strdup_printf ("POST\n/api/v1/heartbeat\n%s\n%s\n%s\n\n", si, s, digest);
  write_seed (ing, "7-raw-stale", raw, hb, strlen (hb));
  write_seed (ing, "8-unsigned", "PUT\n/api/v1/alerts/..%2f\n\n\n\n\n", "x", 1);
  /* A signed, empty manifest once tripped json-glib's NULL check (CI). */
  write_seed (ing, "9-empty-manifest", "PUT\n/api/v1/incidents/" FUZZ_INCIDENT "/manifest\nsign\n",
              "", 0);

  const char *channel = "{\"after\":0,\"wait_ms\":1000}";
  write_seed (ing, "10-channel", "POST\n/api/v1/channel\nsign\n", channel, strlen (channel));
  const char *channel_wait = "{\"after\":1,\"wait_ms\":25000}";
  write_seed (ing, "11-channel-wait", "POST\n/api/v1/channel\nsign\n", channel_wait,
              strlen (channel_wait));

  g_autofree char *hs_ok = g_strdup_printf ("%s\n%s\n%s\n", si, s, digest);
  write_seed (hs, "1-valid", hs_ok, hb, strlen (hb));
  write_seed (hs, "2-params-reordered",
              "ansim=(\"@method\" \"@path\" \"content-digest\");alg=\"ed25519\";keyid=\"x\";"
              "nonce=\"AAAAAAAAAAAAAAAAAAAAAA\";created=1\nansim=:AAAA:\nsha-256=:AAAA:\n",
              "", 0);
  write_seed (hs, "3-garbage",
              "sig1=(\"@method\");created=99999999999999999999\n"
              "sig1=:////:\nsha-512=:x:\n",
              "body", 4);
  return 0;
}
