/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's ingest API under attack, over loopback against a real
 * ansim-panel: every forged, replayed, stale, altered, oversized or
 * path-tricked request is refused with its status and error code, and
 * nothing is stored by it. */
#include <curl/curl.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

#include "checkpoint.h"
#include "db.h"
#include "httpsig.h"
#include "upload-helpers.h"

typedef struct {
  char *dir;
  TestDesk *desk;
  TestPanel *panel;
  char *uuid;               /* a recorded incident */
  AnsimDeviceKey *stranger; /* a key the panel never enrolled */
} Fixture;

/* What a request may change from an honest one. */
typedef struct {
  const AnsimDeviceKey *key; /* signs (default: the desk's) */
  const char *keyid;         /* claims (default: the signer's fingerprint) */
  gint64 created;            /* default: now */
  const char *nonce;         /* default: fresh */
  const char *signed_path;   /* default: the path sent */
  const char *digest;        /* default: the body's */
  gboolean unsigned_;
  const char *manifest_signature;
} Tamper;

typedef struct {
  guint status;
  char *error; /* the JSON "error" code, or NULL */
  char *raw;
  char *sent_input, *sent_signature, *sent_digest;
} Answer;

static void
answer_clear (Answer *a)
{
  g_free (a->error);
  g_free (a->raw);
  g_free (a->sent_input);
  g_free (a->sent_signature);
  g_free (a->sent_digest);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Answer, answer_clear)

static size_t
collect (char *ptr, size_t size, size_t nmemb, void *data)
{
  g_string_append_len (data, ptr, size * nmemb);
  return size * nmemb;
}

/* Sends method path body; the headers from tamper or replayed from
 * `again` (a previous answer's exact headers). */
static void
send_raw (Fixture *f, const char *method, const char *path, GBytes *body, const Tamper *t,
          const Answer *again, Answer *out)
{
  static const Tamper honest = { 0 };
  t = t != NULL ? t : &honest;
  gsize len = 0;
  const char *data = g_bytes_get_data (body, &len);
  g_autofree char *digest = t->digest != NULL ? g_strdup (t->digest)
                                              : ansim_httpsig_content_digest (data, len);
  const AnsimDeviceKey *key = t->key != NULL ? t->key : f->desk->key;
  g_autofree char *nonce = t->nonce != NULL ? g_strdup (t->nonce) : ansim_httpsig_new_nonce ();
  g_autofree char *params = g_strdup_printf (
    "(\"@method\" \"@path\" \"content-digest\");created=%" G_GINT64_FORMAT ";nonce=\"%s\";"
    "keyid=\"%s\";alg=\"ed25519\"",
    t->created != 0 ? t->created : g_get_real_time () / G_USEC_PER_SEC, nonce,
    t->keyid != NULL ? t->keyid : ansim_device_key_get_fingerprint (key));
  g_autofree char *base =
    ansim_httpsig_base (method, t->signed_path ? t->signed_path : path, digest, params);
  g_autoptr (GBytes) sig = ansim_device_key_sign (key, base, strlen (base), NULL);
  g_autofree char *sig_item = ansim_sf_binary_encode (g_bytes_get_data (sig, NULL), 64);
  out->sent_input = again ? g_strdup (again->sent_input) : g_strdup_printf ("ansim=%s", params);
  out->sent_signature = again ? g_strdup (again->sent_signature)
                              : g_strdup_printf ("ansim=%s", sig_item);
  out->sent_digest = again ? g_strdup (again->sent_digest) : g_strdup (digest);

  struct curl_slist *headers = NULL;
  g_autofree char *h1 = g_strdup_printf ("Content-Digest: %s", out->sent_digest);
  g_autofree char *h2 = g_strdup_printf ("Signature-Input: %s", out->sent_input);
  g_autofree char *h3 = g_strdup_printf ("Signature: %s", out->sent_signature);
  g_autofree char *h4 = t->manifest_signature
                          ? g_strdup_printf ("Ansim-Manifest-Signature: %s", t->manifest_signature)
                          : NULL;
  if (!t->unsigned_)
    {
      headers = curl_slist_append (headers, h1);
      headers = curl_slist_append (headers, h2);
      headers = curl_slist_append (headers, h3);
    }
  if (h4 != NULL)
    headers = curl_slist_append (headers, h4);
  g_autoptr (GString) got = g_string_new (NULL);
  g_autofree char *url = g_strconcat (f->panel->url, path, NULL);
  CURL *c = curl_easy_init ();
  curl_easy_setopt (c, CURLOPT_URL, url);
  curl_easy_setopt (c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt (c, CURLOPT_POSTFIELDS, data != NULL ? data : "");
  curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
  curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, got);
  CURLcode rc = curl_easy_perform (c);
  long status = 0;
  curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup (c);
  curl_slist_free_all (headers);
  g_assert_cmpint (rc, ==, CURLE_OK);
  out->status = status;
  out->raw = g_strdup (got->str);
  /* libsoup itself refuses a request line it cannot parse, with no body */
  if (status == 400 && got->len == 0)
    {
      out->error = g_strdup ("(http-layer)");
      return;
    }
  g_autoptr (JsonNode) node = json_from_string (got->str, NULL);
  if (node == NULL)
    g_error ("%s %s: %ld, not JSON: %s", method, path, status, got->str);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  const char *code =
    json_object_get_string_member_with_default (json_node_get_object (node), "error", NULL);
  out->error = g_strdup (code);
}

/* Evidence the panel holds: stored objects and rows. */
static char *
snapshot (Fixture *f)
{
  g_autofree char *store = g_build_filename (f->panel->dir, "store", NULL);
  g_autofree char *cmd =
    g_strdup_printf ("find '%s' -type f 2>/dev/null | sort | xargs -r sha256sum", store);
  g_autofree char *files = NULL;
  const char *sh[] = { "sh", "-c", cmd, NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) sh, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &files,
                               NULL, NULL, NULL));
  return g_strdup_printf (
    "%s|%" G_GINT64_FORMAT "|%" G_GINT64_FORMAT "|%" G_GINT64_FORMAT "|%" G_GINT64_FORMAT
    "|%" G_GINT64_FORMAT,
    files, test_panel_count (f->panel, "SELECT count(*) FROM incident_checkpoints"),
    test_panel_count (f->panel, "SELECT count(*) FROM incidents"),
    test_panel_count (f->panel, "SELECT count(*) FROM segments"),
    test_panel_count (f->panel, "SELECT count(*) FROM segments WHERE store_key IS NOT NULL"),
    test_panel_count (f->panel, "SELECT count(*) FROM events WHERE device_id IS NOT NULL"));
}

#define ASSERT_REFUSED(f, method, path, body, tamper, again, want_status, want_code)               \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *before_ = snapshot (f);                                                       \
    g_auto (Answer) a_ = { 0 };                                                                    \
    send_raw (f, method, path, body, tamper, again, &a_);                                          \
    if (a_.status != (want_status) || g_strcmp0 (a_.error, want_code) != 0)                        \
      g_error ("%s %s: expected %u %s, got %u %s", method, path, (guint) (want_status), want_code, \
               a_.status, a_.raw);                                                                 \
    g_autofree char *after_ = snapshot (f);                                                        \
    g_assert_cmpstr (before_, ==, after_);                                                         \
  }                                                                                                \
  G_STMT_END

static GBytes *
read_spool (Fixture *f, const char *rel)
{
  g_autofree char *path = g_build_filename (f->desk->spool, rel, NULL);
  char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, NULL))
    g_error ("cannot read %s", path);
  return g_bytes_new_take (data, len);
}

static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;
  f->dir = g_dir_make_tmp ("ansim-sec-XXXXXX", &error);
  g_autofree char *desk_dir = g_build_filename (f->dir, "desk", NULL);
  g_autofree char *panel_dir = g_build_filename (f->dir, "panel", NULL);
  g_autofree char *stranger = g_build_filename (f->dir, "stranger.pem", NULL);
  f->desk = test_desk_new (desk_dir);
  f->panel = test_panel_new (panel_dir, "max_body_size = 1\nclock_skew = 60");
  f->stranger = ansim_device_key_load_or_create (stranger, &error);
  g_assert_no_error (error);
  test_panel_start (f->panel);
  test_panel_enroll (f->panel, f->desk, "dev-1");
  f->desk->source = "desk-camera"; /* format version 3: checkpoints */
  f->uuid = test_desk_record (f->desk, 2, 20000);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  g_clear_pointer (&f->panel, test_panel_free);
  g_clear_pointer (&f->desk, test_desk_free);
  ansim_device_key_free (f->stranger);
  test_rm_rf (f->dir);
  g_free (f->uuid);
  g_free (f->dir);
}

static GBytes *
alert_body (void)
{
  const char *json = "{\"desk_id\":\"desk-1\",\"desk_name\":\"Desk 1\",\"trigger\":\"desk-button\","
                     "\"trigger_kind\":\"button\",\"opened_wall_us\":1,\"opened_mono_us\":1}";
  return g_bytes_new_static (json, strlen (json));
}

static void
test_signatures (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autofree char *path = g_strdup_printf ("/api/v1/alerts/%s", f->uuid);
  g_autoptr (GBytes) body = alert_body ();
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  Tamper unsigned_ = { .unsigned_ = TRUE };
  ASSERT_REFUSED (f, "PUT", path, body, &unsigned_, NULL, 401, "unsigned");
  Tamper stranger = { .key = f->stranger };
  ASSERT_REFUSED (f, "PUT", path, body, &stranger, NULL, 401, "unknown-device");
  Tamper forged = { .key = f->stranger, .keyid = ansim_device_key_get_fingerprint (f->desk->key) };
  ASSERT_REFUSED (f, "PUT", path, body, &forged, NULL, 401, "bad-signature");
  Tamper other_path = { .signed_path = "/api/v1/heartbeat" };
  ASSERT_REFUSED (f, "PUT", path, body, &other_path, NULL, 401, "bad-signature");
  Tamper old = { .created = now - 3600 };
  ASSERT_REFUSED (f, "PUT", path, body, &old, NULL, 401, "stale");
  Tamper future = { .created = now + 3600 };
  ASSERT_REFUSED (f, "PUT", path, body, &future, NULL, 401, "stale");
  g_autofree char *other_digest = ansim_httpsig_content_digest ("x", 1);
  Tamper digest = { .digest = other_digest };
  ASSERT_REFUSED (f, "PUT", path, body, &digest, NULL, 400, "digest-mismatch");
  Tamper bad_header = { .digest = "sha-256=:nope:" };
  ASSERT_REFUSED (f, "PUT", path, body, &bad_header, NULL, 400, "unsigned");

  /* the honest request, then the same bytes again */
  g_auto (Answer) first = { 0 };
  send_raw (f, "PUT", path, body, NULL, NULL, &first);
  g_assert_cmpuint (first.status, ==, 201);
  ASSERT_REFUSED (f, "PUT", path, body, NULL, &first, 409, "replayed");
  /* a fresh signature of the same alert: idempotent, not an error */
  g_auto (Answer) again = { 0 };
  send_raw (f, "PUT", path, body, NULL, NULL, &again);
  g_assert_cmpuint (again.status, ==, 200);
  g_assert_nonnull (strstr (again.raw, "\"already-stored\""));
  g_assert_nonnull (strstr (again.raw, "\"status\":\"open\""));
}

/* A desk whose clock is 10 minutes slow: its request is refused as stale
 * with the panel's time in the refusal; signed again with that time it
 * is taken; the same bytes again are a replay, and the stale request
 * sent again is still stale. Nothing is stored by a refusal. */
static void
test_clock_offset (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autofree char *path = g_strdup_printf ("/api/v1/alerts/%s", f->uuid);
  g_autoptr (GBytes) body = alert_body ();
  gint64 before_us = g_get_real_time ();
  Tamper slow = { .created = before_us / G_USEC_PER_SEC - 600 };
  g_auto (Answer) refused = { 0 };
  g_autofree char *snap = snapshot (f);
  send_raw (f, "PUT", path, body, &slow, NULL, &refused);
  gint64 after_us = g_get_real_time ();
  g_assert_cmpuint (refused.status, ==, 401);
  g_assert_cmpstr (refused.error, ==, "stale");
  g_autofree char *snap_after = snapshot (f);
  g_assert_cmpstr (snap, ==, snap_after);
  g_autoptr (JsonNode) node = json_from_string (refused.raw, NULL);
  JsonObject *o = json_node_get_object (node);
  gint64 panel_us = json_object_get_int_member_with_default (o, "panel_time_us", 0);
  g_assert_cmpint (panel_us, >=, before_us);
  g_assert_cmpint (panel_us, <=, after_us);
  gint64 max_skew_s = json_object_get_int_member_with_default (o, "max_skew_s", 0);
  g_assert_cmpint (max_skew_s, >, 0); /* the panel's clock_skew */
  g_assert_cmpint (max_skew_s, <, 600);

  Tamper corrected = { .created = panel_us / G_USEC_PER_SEC };
  g_auto (Answer) taken = { 0 };
  send_raw (f, "PUT", path, body, &corrected, NULL, &taken);
  g_assert_cmpuint (taken.status, ==, 201);
  ASSERT_REFUSED (f, "PUT", path, body, NULL, &taken, 409, "replayed");
  ASSERT_REFUSED (f, "PUT", path, body, NULL, &refused, 401, "stale");
}

static void
test_evidence (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autofree char *manifest_rel = g_build_filename (f->uuid, ANSIM_MANIFEST_NAME, NULL);
  g_autofree char *sig_rel = g_strconcat (manifest_rel, ".sig", NULL);
  g_autoptr (GBytes) manifest = read_spool (f, manifest_rel);
  g_autoptr (GBytes) sig = read_spool (f, sig_rel);
  g_autofree char *sig_item = ansim_sf_binary_encode (g_bytes_get_data (sig, NULL), 64);
  g_autofree char *mpath = g_strdup_printf ("/api/v1/incidents/%s/manifest", f->uuid);
  g_autofree char *seg0 = g_strdup_printf ("/api/v1/incidents/%s/segments/0", f->uuid);
  g_autofree char *seg0_rel = g_build_filename (f->uuid, "seg-000000.mkv.age", NULL);
  g_autofree char *seg1_rel = g_build_filename (f->uuid, "seg-000001.mkv.age", NULL);
  g_autoptr (GBytes) seg0_body = read_spool (f, seg0_rel);

  /* a segment before any manifest lists it */
  ASSERT_REFUSED (f, "PUT", seg0, seg0_body, NULL, NULL, 409, "manifest-needed");
  /* the manifest without or with a wrong signature */
  ASSERT_REFUSED (f, "PUT", mpath, manifest, NULL, NULL, 400, "bad-request");
  g_autoptr (GBytes) other_sig = ansim_device_key_sign (f->desk->key, "x", 1, NULL);
  g_autofree char *other_item = ansim_sf_binary_encode (g_bytes_get_data (other_sig, NULL), 64);
  Tamper wrong_sig = { .manifest_signature = other_item };
  ASSERT_REFUSED (f, "PUT", mpath, manifest, &wrong_sig, NULL, 422, "bad-manifest-signature");

  /* a chain broken inside the manifest, signed by the device itself */
  g_autoptr (JsonNode) node = json_from_string (g_bytes_get_data (manifest, NULL), NULL);
  JsonObject *entry1 = json_array_get_object_element (
    json_object_get_array_member (json_node_get_object (node), "entries"), 1);
  json_object_set_string_member (
    entry1, "prev", "0000000000000000000000000000000000000000000000000000000000000001");
  g_autofree char *broken_text = json_to_string (node, FALSE);
  g_autoptr (GBytes) broken = g_bytes_new (broken_text, strlen (broken_text));
  g_autoptr (GBytes) broken_sig =
    ansim_device_key_sign (f->desk->key, broken_text, strlen (broken_text), NULL);
  g_autofree char *broken_item = ansim_sf_binary_encode (g_bytes_get_data (broken_sig, NULL), 64);
  Tamper broken_t = { .manifest_signature = broken_item };
  ASSERT_REFUSED (f, "PUT", mpath, broken, &broken_t, NULL, 422, "broken-chain");

  /* a manifest of another incident sent under this one's path */
  g_autofree char *other_path =
    g_strdup_printf ("/api/v1/incidents/%s/manifest", "00000000-0000-4000-8000-000000000000");
  Tamper good = { .manifest_signature = sig_item };
  ASSERT_REFUSED (f, "PUT", other_path, manifest, &good, NULL, 422, "bad-manifest");

  /* the real one is stored */
  g_auto (Answer) ok = { 0 };
  send_raw (f, "PUT", mpath, manifest, &good, NULL, &ok);
  g_assert_cmpuint (ok.status, ==, 201);

  /* the same history closed differently: a closed manifest is final */
  g_autoptr (JsonNode) reclosed_node = json_from_string (g_bytes_get_data (manifest, NULL), NULL);
  json_object_set_string_member (json_node_get_object (reclosed_node), "close_reason", "shutdown");
  g_autofree char *reclosed_text = json_to_string (reclosed_node, FALSE);
  g_autoptr (GBytes) reclosed = g_bytes_new (reclosed_text, strlen (reclosed_text));
  g_autoptr (GBytes) reclosed_sig =
    ansim_device_key_sign (f->desk->key, reclosed_text, strlen (reclosed_text), NULL);
  g_autofree char *reclosed_item =
    ansim_sf_binary_encode (g_bytes_get_data (reclosed_sig, NULL), 64);
  Tamper reclosed_t = { .manifest_signature = reclosed_item };
  ASSERT_REFUSED (f, "PUT", mpath, reclosed, &reclosed_t, NULL, 409, "chain-break");

  /* a second manifest for the incident whose entries differ from the
   * stored ones: validly chained and signed, but not the same history */
  g_autoptr (GError) error = NULL;
  AnsimManifestInfo info = { .device_id = "dev-1",
                             .desk_id = "desk-1",
                             .trigger_name = "desk-button",
                             .trigger_kind = ANSIM_TRIGGER_BUTTON,
                             .incident_id = f->uuid,
                             .opened_wall_us = g_get_real_time (),
                             .opened_mono_us = 1 };
  g_autoptr (AnsimManifest) fake = ansim_manifest_new (&info, f->desk->key, &error);
  g_assert_no_error (error);
  g_autofree char *fake_dir = g_build_filename (f->dir, "fake", NULL);
  for (int i = 0; i < 3; i++)
    g_assert_true (ansim_manifest_seal_segment (fake, fake_dir, &f->desk->recipient, 1, "abc", 3,
                                                g_get_real_time (), 1 + i * 2000000, 2000000,
                                                &error));
  g_assert_true (ansim_manifest_write (fake, fake_dir, f->desk->key, &error));
  g_autofree char *fm = g_build_filename (fake_dir, ANSIM_MANIFEST_NAME, NULL);
  g_autofree char *fs = g_build_filename (fake_dir, ANSIM_MANIFEST_SIG_NAME, NULL);
  g_autofree char *fm_text = NULL, *fs_raw = NULL;
  gsize fm_len = 0, fs_len = 0;
  g_assert_true (g_file_get_contents (fm, &fm_text, &fm_len, NULL));
  g_assert_true (g_file_get_contents (fs, &fs_raw, &fs_len, NULL));
  g_autoptr (GBytes) fake_body = g_bytes_new (fm_text, fm_len);
  g_autofree char *fs_item = ansim_sf_binary_encode (fs_raw, fs_len);
  Tamper fake_t = { .manifest_signature = fs_item };
  ASSERT_REFUSED (f, "PUT", mpath, fake_body, &fake_t, NULL, 409, "chain-break");

  /* a segment whose bytes are not what the manifest lists */
  gsize len = 0;
  const guint8 *d = g_bytes_get_data (seg0_body, &len);
  g_autofree guint8 *altered = g_memdup2 (d, len);
  altered[len / 2] ^= 1;
  g_autoptr (GBytes) altered_body = g_bytes_new (altered, len);
  ASSERT_REFUSED (f, "PUT", seg0, altered_body, NULL, NULL, 422, "hash-mismatch");
  g_autoptr (GBytes) short_body = g_bytes_new (d, len - 1);
  ASSERT_REFUSED (f, "PUT", seg0, short_body, NULL, NULL, 422, "hash-mismatch");
  /* segment 1 sent as segment 0 */
  g_autoptr (GBytes) seg1_body = read_spool (f, seg1_rel);
  ASSERT_REFUSED (f, "PUT", seg0, seg1_body, NULL, NULL, 422, "hash-mismatch");
  /* a segment the manifest does not have */
  g_autofree char *seg9 = g_strdup_printf ("/api/v1/incidents/%s/segments/9", f->uuid);
  ASSERT_REFUSED (f, "PUT", seg9, seg0_body, NULL, NULL, 409, "manifest-needed");

  /* the real segment: stored once, then "already stored" */
  g_auto (Answer) s1 = { 0 };
  send_raw (f, "PUT", seg0, seg0_body, NULL, NULL, &s1);
  g_assert_cmpuint (s1.status, ==, 201);
  g_auto (Answer) s2 = { 0 };
  send_raw (f, "PUT", seg0, seg0_body, NULL, NULL, &s2);
  g_assert_cmpuint (s2.status, ==, 200);
  g_assert_nonnull (strstr (s2.raw, "already-stored"));
}

/* The body of checkpoint text (signed by key) with manifest entries
 * [from, to). */
static GBytes *
checkpoint_body (GBytes *text, const AnsimDeviceKey *key, const AnsimManifest *m, guint from,
                 guint to)
{
  g_autoptr (GBytes) sig =
    ansim_device_key_sign (key, g_bytes_get_data (text, NULL), g_bytes_get_size (text), NULL);
  return ansim_checkpoint_upload_body (text, sig, m, from, to);
}

/* Version 3 per-segment uploads: a checkpoint is stored only when the
 * device signed it, it is the next of its chain and the entries sent lead
 * to its chain head; a final manifest that contradicts a kept checkpoint
 * is refused, naming the entry. Each refusal changes nothing. */
static void
test_checkpoints (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;
  g_autofree char *inc_dir = g_build_filename (f->desk->spool, f->uuid, NULL);
  g_autoptr (AnsimManifest) m = ansim_manifest_load (inc_dir, &error);
  g_assert_no_error (error);
  GBytes *text[3] = { NULL };
  AnsimCheckpoint c[3];
  for (int i = 0; i < 3; i++)
    {
      g_autofree char *name = ansim_checkpoint_file_name (i);
      g_autofree char *rel = g_build_filename (f->uuid, "checkpoints", name, NULL);
      text[i] = read_spool (f, rel);
      g_assert_true (ansim_checkpoint_parse (g_bytes_get_data (text[i], NULL),
                                             g_bytes_get_size (text[i]), &c[i], &error));
    }
  g_assert_cmpuint (c[0].entries, ==, 1);
  g_assert_cmpuint (c[1].entries, ==, 2);
  char *cp[3];
  for (int i = 0; i < 3; i++)
    cp[i] = g_strdup_printf ("/api/v1/incidents/%s/checkpoints/%d", f->uuid, i);
  g_autoptr (GBytes) good0 = checkpoint_body (text[0], f->desk->key, m, 0, 1);
  g_autoptr (GBytes) good1 = checkpoint_body (text[1], f->desk->key, m, 1, 2);
  g_autoptr (GBytes) good2 = checkpoint_body (text[2], f->desk->key, m, 2, 2);

  /* before the incident is known */
  ASSERT_REFUSED (f, "PUT", cp[0], good0, NULL, NULL, 409, "manifest-needed");
  g_autofree char *alert = g_strdup_printf ("/api/v1/alerts/%s", f->uuid);
  g_autoptr (GBytes) alert_b = alert_body ();
  g_auto (Answer) al = { 0 };
  send_raw (f, "PUT", alert, alert_b, NULL, NULL, &al);
  g_assert_cmpuint (al.status, ==, 201);

  /* not JSON; signed by another key; out of order; without its entry */
  g_autoptr (GBytes) junk = g_bytes_new_static ("{\"checkpoint\":", 14);
  ASSERT_REFUSED (f, "PUT", cp[0], junk, NULL, NULL, 400, "bad-checkpoint");
  g_autoptr (GBytes) foreign = checkpoint_body (text[0], f->stranger, m, 0, 1);
  ASSERT_REFUSED (f, "PUT", cp[0], foreign, NULL, NULL, 400, "bad-checkpoint-signature");
  ASSERT_REFUSED (f, "PUT", cp[1], good1, NULL, NULL, 409, "checkpoint-gap");
  ASSERT_REFUSED (f, "PUT", cp[0], good2, NULL, NULL, 400, "bad-checkpoint");
  g_autoptr (GBytes) bare = checkpoint_body (text[0], f->desk->key, m, 0, 0);
  ASSERT_REFUSED (f, "PUT", cp[0], bare, NULL, NULL, 409, "entries-missing");
  /* signed by the device, but its head is not where the entries lead */
  AnsimCheckpoint lie = c[0];
  g_strlcpy (lie.head, "00000000000000000000000000000000000000000000000000000000000000ff",
             sizeof lie.head);
  g_autoptr (GBytes) lie_text = ansim_checkpoint_to_bytes (&lie);
  g_autoptr (GBytes) lie_body = checkpoint_body (lie_text, f->desk->key, m, 0, 1);
  ASSERT_REFUSED (f, "PUT", cp[0], lie_body, NULL, NULL, 409, "checkpoint-mismatch");

  g_auto (Answer) a0 = { 0 };
  send_raw (f, "PUT", cp[0], good0, NULL, NULL, &a0);
  g_assert_cmpuint (a0.status, ==, 201);
  g_assert_nonnull (strstr (a0.raw, "\"next_sequence\":1"));
  g_auto (Answer) a0b = { 0 };
  send_raw (f, "PUT", cp[0], good0, NULL, NULL, &a0b);
  g_assert_cmpuint (a0b.status, ==, 200);
  g_assert_nonnull (strstr (a0b.raw, "already-stored"));
  /* a replayed or rewritten checkpoint 0 under a later number */
  AnsimCheckpoint unlinked = c[1];
  g_strlcpy (unlinked.previous, c[0].head, sizeof unlinked.previous);
  g_autoptr (GBytes) unlinked_text = ansim_checkpoint_to_bytes (&unlinked);
  g_autoptr (GBytes) unlinked_body = checkpoint_body (unlinked_text, f->desk->key, m, 1, 2);
  ASSERT_REFUSED (f, "PUT", cp[1], unlinked_body, NULL, NULL, 409, "chain-break");
  AnsimCheckpoint other0 = c[0];
  other0.wall_us++;
  g_autoptr (GBytes) other0_text = ansim_checkpoint_to_bytes (&other0);
  g_autoptr (GBytes) other0_body = checkpoint_body (other0_text, f->desk->key, m, 0, 1);
  ASSERT_REFUSED (f, "PUT", cp[0], other0_body, NULL, NULL, 409, "checkpoint-conflict");

  g_auto (Answer) a1 = { 0 };
  send_raw (f, "PUT", cp[1], good1, NULL, NULL, &a1);
  g_assert_cmpuint (a1.status, ==, 201);
  g_auto (Answer) a2 = { 0 };
  send_raw (f, "PUT", cp[2], good2, NULL, NULL, &a2);
  g_assert_cmpuint (a2.status, ==, 201);
  g_assert_cmpint (test_panel_count (f->panel, "SELECT count(*) FROM incident_checkpoints"), ==, 3);
  g_assert_cmpint (test_panel_count (f->panel, "SELECT count(*) FROM segments"), ==, 2);

  /* the segments the checkpoints listed are taken */
  g_autofree char *seg1 = g_strdup_printf ("/api/v1/incidents/%s/segments/1", f->uuid);
  g_autofree char *seg1_rel = g_build_filename (f->uuid, "seg-000001.mkv.age", NULL);
  g_autoptr (GBytes) seg1_body = read_spool (f, seg1_rel);
  g_auto (Answer) s1 = { 0 };
  send_raw (f, "PUT", seg1, seg1_body, NULL, NULL, &s1);
  g_assert_cmpuint (s1.status, ==, 201);

  /* a final manifest whose last entry is not the one checkpoint 1 signed */
  g_autofree char *mpath = g_strdup_printf ("/api/v1/incidents/%s/manifest", f->uuid);
  g_autofree char *manifest_rel = g_build_filename (f->uuid, ANSIM_MANIFEST_NAME, NULL);
  g_autoptr (GBytes) manifest = read_spool (f, manifest_rel);
  g_autoptr (JsonNode) node = json_from_string (g_bytes_get_data (manifest, NULL), NULL);
  JsonObject *entry1 = json_array_get_object_element (
    json_object_get_array_member (json_node_get_object (node), "entries"), 1);
  json_object_set_int_member (entry1, "duration_us",
                              json_object_get_int_member (entry1, "duration_us") + 1);
  g_autofree char *changed_text = json_to_string (node, TRUE);
  g_autoptr (GBytes) changed = g_bytes_new (changed_text, strlen (changed_text));
  g_autoptr (GBytes) changed_sig =
    ansim_device_key_sign (f->desk->key, changed_text, strlen (changed_text), NULL);
  g_autofree char *changed_item = ansim_sf_binary_encode (g_bytes_get_data (changed_sig, NULL), 64);
  Tamper changed_t = { .manifest_signature = changed_item };
  g_autofree char *before = snapshot (f);
  g_auto (Answer) mm = { 0 };
  send_raw (f, "PUT", mpath, changed, &changed_t, NULL, &mm);
  g_assert_cmpuint (mm.status, ==, 409);
  g_assert_cmpstr (mm.error, ==, "checkpoint-mismatch");
  g_assert_nonnull (strstr (mm.raw, "entry 1 "));
  g_autofree char *after = snapshot (f);
  g_assert_cmpstr (before, ==, after);

  /* the real one, once */
  g_autofree char *sig_rel = g_strconcat (manifest_rel, ".sig", NULL);
  g_autoptr (GBytes) sig = read_spool (f, sig_rel);
  g_autofree char *sig_item = ansim_sf_binary_encode (g_bytes_get_data (sig, NULL), 64);
  Tamper good = { .manifest_signature = sig_item };
  g_auto (Answer) ok = { 0 };
  send_raw (f, "PUT", mpath, manifest, &good, NULL, &ok);
  g_assert_cmpuint (ok.status, ==, 201);
  for (int i = 0; i < 3; i++)
    {
      g_bytes_unref (text[i]);
      g_free (cp[i]);
    }
}

static void
test_limits_and_paths (Fixture *f, gconstpointer data)
{
  (void) data;
  /* over max_body_size (1 MiB): refused before the body is read */
  g_autofree char *big = g_malloc0 (1024 * 1024 + 1);
  g_autoptr (GBytes) big_body = g_bytes_new_take (g_steal_pointer (&big), 1024 * 1024 + 1);
  g_autofree char *seg0 = g_strdup_printf ("/api/v1/incidents/%s/segments/0", f->uuid);
  ASSERT_REFUSED (f, "PUT", seg0, big_body, NULL, NULL, 413, "too-large");

  /* An integer beyond 64 bits is refused, not stored wrapped (2^64 + 5
   * would read as 5, 10^20 as -1). */
  const char *wide[] = { "18446744073709551621", "99999999999999999999", "-99999999999999999999" };
  for (guint i = 0; i < G_N_ELEMENTS (wide); i++)
    {
      g_autofree char *json = g_strdup_printf (
        "{\"desk_id\":\"desk-1\",\"desk_name\":\"Desk 1\",\"trigger\":\"desk-button\","
        "\"trigger_kind\":\"button\",\"opened_wall_us\":%s,\"opened_mono_us\":1}",
        wide[i]);
      g_autoptr (GBytes) wide_body = g_bytes_new (json, strlen (json));
      g_autofree char *alert = g_strdup_printf ("/api/v1/alerts/%s", f->uuid);
      ASSERT_REFUSED (f, "PUT", alert, wide_body, NULL, NULL, 400, "bad-request");
      g_autofree char *hb = g_strdup_printf ("{\"wall_us\":%s,\"queue_length\":1}", wide[i]);
      g_autoptr (GBytes) hb_body = g_bytes_new (hb, strlen (hb));
      ASSERT_REFUSED (f, "POST", "/api/v1/heartbeat", hb_body, NULL, NULL, 400, "bad-request");
    }

  g_autoptr (GBytes) body = alert_body ();
  ASSERT_REFUSED (f, "PUT", "/api/v1/alerts/..%2f..%2fetc%2fpasswd", body, NULL, NULL, 400,
                  "(http-layer)");
  const char *const bad_ids[] = {
    "/api/v1/alerts/x/../y",
    "/api/v1/alerts/00000000-0000-4000-8000-00000000000A", /* uppercase */
    "/api/v1/alerts/00000000-0000-4000-8000-000000000000x",
    "/api/v1/incidents/00000000-0000-4000-8000-000000000000/segments/-1",
    "/api/v1/incidents/00000000-0000-4000-8000-000000000000/segments/01",
    "/api/v1/incidents/00000000-0000-4000-8000-000000000000/segments/1e3",
    "/api/v1/incidents/00000000-0000-4000-8000-000000000000/segments/99999999999999",
    "/api/v1/events/0",
    "/api/v1/events/-1",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad_ids); i++)
    ASSERT_REFUSED (f, "PUT", bad_ids[i], body, NULL, NULL, 400, "bad-id");
  const char *const unknown[] = {
    "/api/v1/alerts/00000000-0000-4000-8000-000000000000/x",
    "/api/v1/incidents/00000000-0000-4000-8000-000000000000/segments/0/x",
    "/api/v1/alerts",
    "/api/v1/",
    /* the server resolves dot segments (encoded or not) before routing */
    "/api/v1/alerts/%2e%2e",
    "/api/v1/alerts/a%2fb",
    "/api/v1/events/..",
  };
  for (guint i = 0; i < G_N_ELEMENTS (unknown); i++)
    ASSERT_REFUSED (f, "PUT", unknown[i], body, NULL, NULL, 404, "not-found");
  g_autofree char *alert = g_strdup_printf ("/api/v1/alerts/%s", f->uuid);
  ASSERT_REFUSED (f, "POST", alert, body, NULL, NULL, 405, "method-not-allowed");
  /* malformed JSON and unknown members */
  g_autoptr (GBytes) junk = g_bytes_new_static ("{\"desk_id\":", 11);
  ASSERT_REFUSED (f, "PUT", alert, junk, NULL, NULL, 400, "bad-request");
  const char *extra = "{\"desk_id\":\"desk-1\",\"trigger\":\"t\",\"trigger_kind\":\"button\","
                      "\"opened_wall_us\":1,\"opened_mono_us\":1,\"admin\":true}";
  g_autoptr (GBytes) extra_body = g_bytes_new_static (extra, strlen (extra));
  ASSERT_REFUSED (f, "PUT", alert, extra_body, NULL, NULL, 400, "bad-request");
}

static void
test_revoked (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autofree char *ctl = test_build_path ("ansimctl/ansimctl");
  g_autofree char *cmd =
    g_strdup_printf ("%s revoke --config %s --device dev-1 --reason stolen", ctl, f->panel->conf);
  int status = 0;
  /* Children's output is captured: on our stdout it would break TAP. */
  g_autofree char *revoked = NULL;
  g_assert_true (g_spawn_command_line_sync (cmd, &revoked, NULL, &status, NULL));
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (revoked, "revoked"));
  g_autofree char *path = g_strdup_printf ("/api/v1/alerts/%s", f->uuid);
  g_autoptr (GBytes) body = alert_body ();
  ASSERT_REFUSED (f, "PUT", path, body, NULL, NULL, 403, "revoked");
  g_autoptr (GBytes) hb = g_bytes_new_static ("{\"wall_us\":1}", 13);
  ASSERT_REFUSED (f, "POST", "/api/v1/heartbeat", hb, NULL, NULL, 403, "revoked");
  /* the same key cannot come back with a new code under its old id */
  g_autofree char *mk =
    g_strdup_printf ("%s enroll-code --config %s --device dev-1", ctl, f->panel->conf);
  g_autofree char *code = NULL;
  g_assert_true (g_spawn_command_line_sync (mk, &code, NULL, &status, NULL));
  g_autofree char *enroll = g_strdup_printf ("%s enroll --data-dir %s --panel %s --code %s", ctl,
                                             f->desk->dir, f->panel->url, g_strstrip (code));
  g_autofree char *out = NULL;
  g_autofree char *out_stdout = NULL;
  g_assert_true (g_spawn_command_line_sync (enroll, &out_stdout, &out, &status, NULL));
  g_assert_cmpint (status, !=, 0);
  g_assert_nonnull (strstr (out, "already-enrolled"));
  /* a failed enrollment does not use the code up; a successful one does */
  g_autofree char *mk2 =
    g_strdup_printf ("%s enroll-code --config %s --device dev-2", ctl, f->panel->conf);
  g_autofree char *code2 = NULL;
  g_assert_true (g_spawn_command_line_sync (mk2, &code2, NULL, &status, NULL));
  g_autofree char *enroll2 = g_strdup_printf ("%s enroll --data-dir %s --key %s/stranger.pem "
                                              "--panel %s --code %s",
                                              ctl, f->desk->dir, f->dir, f->panel->url,
                                              g_strstrip (code2));
  g_autofree char *enrolled = NULL;
  g_assert_true (g_spawn_command_line_sync (enroll2, &enrolled, NULL, &status, NULL));
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (enrolled, "enrolled as device dev-2"));
  g_autofree char *again = NULL;
  g_autofree char *again_stdout = NULL;
  g_assert_true (g_spawn_command_line_sync (enroll2, &again_stdout, &again, &status, NULL));
  g_assert_cmpint (status, !=, 0);
  g_assert_nonnull (strstr (again, "bad-code"));
  g_assert_cmpint (test_panel_count (f->panel, "SELECT count(*) FROM devices"), ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  curl_global_init (CURL_GLOBAL_DEFAULT);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, setup, fn, teardown)
  ADD ("/ingest-security/signatures", test_signatures);
  ADD ("/ingest-security/evidence", test_evidence);
  ADD ("/ingest-security/clock-offset", test_clock_offset);
  ADD ("/ingest-security/checkpoints", test_checkpoints);
  ADD ("/ingest-security/limits-and-paths", test_limits_and_paths);
  ADD ("/ingest-security/revoked", test_revoked);
  int r = g_test_run ();
  curl_global_cleanup ();
  return r;
}
