/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains offline verification of an incident folder:
 * signature, key, chain, order, timeline, files and (with identities)
 * plaintext, each problem a finding. One job, so it may grow. What it must
 * keep true: it never stops at the first problem, never changes the folder
 * it checks, and keeps decrypted media only when every check held. */
#include "verify.h"
#include "checkpoint.h"
#include "durable.h"
#include "evidence-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define SIG_FILE_MAX 1024

static const char *const finding_words[] = {
  [ANSIM_FINDING_INFO] = "info",
  [ANSIM_FINDING_MISSING_MANIFEST] = "missing manifest",
  [ANSIM_FINDING_MALFORMED_MANIFEST] = "malformed manifest",
  [ANSIM_FINDING_MISSING_SIGNATURE] = "missing signature",
  [ANSIM_FINDING_BAD_SIGNATURE] = "bad signature",
  [ANSIM_FINDING_UNKNOWN_KEY] = "unknown key",
  [ANSIM_FINDING_BROKEN_CHAIN] = "broken chain",
  [ANSIM_FINDING_DUPLICATED_SEGMENT] = "duplicated segment",
  [ANSIM_FINDING_REORDERED_SEGMENTS] = "reordered segments",
  [ANSIM_FINDING_MISSING_ENTRY] = "missing entry",
  [ANSIM_FINDING_MISNAMED_SEGMENT] = "misnamed segment",
  [ANSIM_FINDING_UNDECLARED_GAP] = "undeclared gap",
  [ANSIM_FINDING_OVERLAP] = "overlapping entries",
  [ANSIM_FINDING_MISSING_SEGMENT] = "missing segment",
  [ANSIM_FINDING_EXTRA_SEGMENT] = "extra segment",
  [ANSIM_FINDING_EXTRA_FILE] = "extra file",
  [ANSIM_FINDING_UNREADABLE_SEGMENT] = "unreadable segment",
  [ANSIM_FINDING_TRUNCATED_SEGMENT] = "truncated segment",
  [ANSIM_FINDING_ALTERED_SEGMENT] = "altered segment",
  [ANSIM_FINDING_NO_MATCHING_RECIPIENT] = "no matching recipient",
  [ANSIM_FINDING_CANNOT_DECRYPT] = "cannot decrypt",
  [ANSIM_FINDING_PLAINTEXT_MISMATCH] = "plaintext hash mismatch",
  [ANSIM_FINDING_NOT_WRITTEN] = "not written",
  [ANSIM_FINDING_BAD_CLOSE_TIME] = "bad close time",
  [ANSIM_FINDING_CHECKPOINT_MISMATCH] = "checkpoint mismatch",
};

static void
finding_free (gpointer p)
{
  AnsimFinding *f = p;

  g_free (f->text);
  g_free (f);
}

void
ansim_verify_report_free (AnsimVerifyReport *r)
{
  if (r == NULL)
    return;
  g_ptr_array_unref (r->lines);
  ansim_manifest_free (r->manifest);
  g_free (r->summary);
  g_free (r);
}

static void report (AnsimVerifyReport *r, AnsimFindingKind kind, gint64 position, const char *fmt,
                    ...) G_GNUC_PRINTF (4, 5);

static void
report (AnsimVerifyReport *r, AnsimFindingKind kind, gint64 position, const char *fmt, ...)
{
  AnsimFinding *f = g_new0 (AnsimFinding, 1);
  va_list args;

  va_start (args, fmt);
  g_autofree char *detail = g_strdup_vprintf (fmt, args);
  va_end (args);
  f->kind = kind;
  f->position = position;
  f->text = g_strdup_printf ("%s: %s", finding_words[kind], detail);
  g_ptr_array_add (r->lines, f);
  if (kind != ANSIM_FINDING_INFO)
    r->n_findings++;
}

/* "segment 3 (seg-000003.mkv.age)" or "gap 3"; the position is added when
 * it differs from the index, so duplicates and reorders can be told apart. */
static char *
entry_label (const AnsimManifestEntry *e, guint position)
{
  g_autofree char *where = e->index != position ? g_strdup_printf (" at position %u", position)
                                                : g_strdup ("");

  if (e->kind == ANSIM_ENTRY_SEGMENT)
    return g_strdup_printf ("segment %" G_GUINT64_FORMAT "%s (%s)", e->index, where, e->file);
  return g_strdup_printf ("gap %" G_GUINT64_FORMAT "%s", e->index, where);
}

typedef struct {
  const char *dir;
  const AnsimVerifyOptions *opt;
  AnsimVerifyReport *r;
  AnsimManifest *m;
  const AnsimDeviceKey *key; /* the key the signature was checked with */
  AnsimDeviceKey **own_key;  /* device.pub.pem when no key is trusted */
} Verify;

static const AnsimDeviceKey *
choose_key (Verify *v)
{
  const AnsimVerifyOptions *opt = v->opt;
  const char *fp = v->m->device_fingerprint;

  if (opt->n_trusted_keys > 0)
    {
      for (guint i = 0; i < opt->n_trusted_keys; i++)
        if (g_str_equal (ansim_device_key_get_fingerprint (opt->trusted_keys[i]), fp))
          return opt->trusted_keys[i];
      if (opt->n_trusted_keys == 1)
        report (v->r, ANSIM_FINDING_UNKNOWN_KEY, -1,
                "the manifest names device key %s, but the trusted key %s is %s", fp,
                ansim_device_key_get_path (opt->trusted_keys[0]) != NULL
                  ? ansim_device_key_get_path (opt->trusted_keys[0])
                  : "given",
                ansim_device_key_get_fingerprint (opt->trusted_keys[0]));
      else
        report (v->r, ANSIM_FINDING_UNKNOWN_KEY, -1,
                "the manifest names device key %s, which is not among the %u trusted keys%s%s", fp,
                opt->n_trusted_keys, opt->trusted_keys_origin ? " in " : "",
                opt->trusted_keys_origin ? opt->trusted_keys_origin : "");
      return NULL;
    }

  g_autofree char *pub_path = g_build_filename (v->dir, ANSIM_DEVICE_PUB_NAME, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimDeviceKey) key = NULL;
  if (!g_file_test (pub_path, G_FILE_TEST_EXISTS))
    {
      report (v->r, ANSIM_FINDING_UNKNOWN_KEY, -1,
              "no trusted key given and no %s beside the manifest: the signature cannot be "
              "checked",
              ANSIM_DEVICE_PUB_NAME);
      return NULL;
    }
  key = ansim_device_key_load_public (pub_path, &error);
  if (key == NULL)
    {
      report (v->r, ANSIM_FINDING_UNKNOWN_KEY, -1, "%s", error->message);
      return NULL;
    }
  if (!g_str_equal (ansim_device_key_get_fingerprint (key), fp))
    {
      report (v->r, ANSIM_FINDING_UNKNOWN_KEY, -1,
              "the manifest names device key %s, but %s beside it is %s", fp, ANSIM_DEVICE_PUB_NAME,
              ansim_device_key_get_fingerprint (key));
      return NULL;
    }
  report (v->r, ANSIM_FINDING_INFO, -1,
          "no trusted key given: checking the signature with %s found beside the manifest "
          "(fingerprint %s); this shows the incident is unchanged since it was signed, not "
          "which device signed it: compare the fingerprint with the device's",
          ANSIM_DEVICE_PUB_NAME, ansim_device_key_get_fingerprint (key));
  *v->own_key = g_steal_pointer (&key);
  return *v->own_key;
}

static void
check_signature (Verify *v, GBytes *manifest_bytes)
{
  g_autofree char *sig_path = g_build_filename (v->dir, ANSIM_MANIFEST_SIG_NAME, NULL);
  g_autoptr (GBytes) sig = NULL;
  g_autoptr (GError) error = NULL;
  const AnsimDeviceKey *key;
  gsize len = 0;
  const void *data = g_bytes_get_data (manifest_bytes, &len);

  if (!g_file_test (sig_path, G_FILE_TEST_EXISTS))
    {
      report (v->r, ANSIM_FINDING_MISSING_SIGNATURE, -1, "%s not found: nothing shows who wrote %s",
              ANSIM_MANIFEST_SIG_NAME, ANSIM_MANIFEST_NAME);
      return;
    }
  key = choose_key (v);
  if (key == NULL)
    return;
  sig = ansim_evidence_read_small_file (sig_path, SIG_FILE_MAX, &error);
  if (sig == NULL)
    {
      report (v->r, ANSIM_FINDING_BAD_SIGNATURE, -1, "%s", error->message);
      return;
    }
  if (!ansim_device_key_verify (key, data, len, g_bytes_get_data (sig, NULL),
                                g_bytes_get_size (sig), &error))
    {
      if (g_bytes_get_size (sig) != ANSIM_SIGNATURE_SIZE)
        report (v->r, ANSIM_FINDING_BAD_SIGNATURE, -1,
                "%s is %" G_GSIZE_FORMAT " bytes; an Ed25519 signature is %d",
                ANSIM_MANIFEST_SIG_NAME, g_bytes_get_size (sig), ANSIM_SIGNATURE_SIZE);
      else
        report (v->r, ANSIM_FINDING_BAD_SIGNATURE, -1,
                "%s does not verify over %s with device key %s: the manifest was changed after "
                "it was signed, or signed with another key",
                ANSIM_MANIFEST_SIG_NAME, ANSIM_MANIFEST_NAME,
                ansim_device_key_get_fingerprint (key));
      return;
    }
  v->r->signature_ok = TRUE;
  v->key = key;
}

static gboolean
check_previous (Verify *v, GError **error)
{
  const char *given = v->opt->previous;
  const char *recorded = v->m->previous_manifest_sha256;

  if (given == NULL)
    {
      if (recorded == NULL)
        report (v->r, ANSIM_FINDING_INFO, -1,
                "the manifest records no previous incident: the first of its device "
                "(the chain starts at 64 zeros)");
      else
        report (v->r, ANSIM_FINDING_INFO, -1,
                "chained to a previous incident whose manifest has SHA-256 %s (not checked: "
                "no previous incident given)",
                recorded);
      return TRUE;
    }
  g_autofree char *path = g_file_test (given, G_FILE_TEST_IS_DIR)
                            ? g_build_filename (given, ANSIM_MANIFEST_NAME, NULL)
                            : g_strdup (given);
  g_autoptr (GBytes) bytes = ansim_evidence_read_small_file (path, ANSIM_MANIFEST_MAX_SIZE, error);
  g_autoptr (AnsimManifest) pm = NULL;
  g_autoptr (GError) parse_error = NULL;
  char hex[ANSIM_SHA256_HEX_LEN + 1];

  if (bytes == NULL)
    return FALSE;
  ansim_hash_sha256_hex (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), hex);
  if (recorded == NULL)
    {
      report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1,
              "the manifest records no previous incident, but %s was given as its predecessor",
              path);
      return TRUE;
    }
  if (!g_str_equal (hex, recorded))
    {
      report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1,
              "the previous incident's manifest %s has SHA-256 %s, but this incident chains to %s",
              path, hex, recorded);
      return TRUE;
    }
  /* The bytes are the ones chained to; they must also be a predecessor
   * this incident can have: the same device and source, closed, earlier. */
  pm =
    ansim_manifest_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &parse_error);
  if (pm == NULL)
    {
      report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1, "the previous incident's manifest %s: %s", path,
              parse_error->message);
      return TRUE;
    }
  if (!g_str_equal (pm->device_fingerprint, v->m->device_fingerprint)
      || !g_str_equal (pm->device_id, v->m->device_id))
    report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1,
            "the previous incident %s is of device %s (key %s), this one of device %s (key %s): "
            "incidents chain within one device",
            pm->incident_id, pm->device_id, pm->device_fingerprint, v->m->device_id,
            v->m->device_fingerprint);
  else if (v->m->source != NULL && pm->source != NULL && !g_str_equal (pm->source, v->m->source))
    report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1,
            "the previous incident %s was recorded by source %s, this one by source %s: each "
            "source's incidents form their own chain",
            pm->incident_id, pm->source, v->m->source);
  else if (v->m->source == NULL && pm->source != NULL)
    report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1,
            "the previous incident %s names source %s, but this one (format version 1) names "
            "none: a version 1 incident cannot follow a version 2 one",
            pm->incident_id, pm->source);
  else if (!pm->closed)
    report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1,
            "the previous incident %s is still open in %s: an incident chains to its "
            "predecessor's final manifest",
            pm->incident_id, path);
  else if (g_str_equal (pm->incident_id, v->m->incident_id))
    report (v->r, ANSIM_FINDING_BROKEN_CHAIN, -1, "%s is this incident's own manifest", path);
  else
    {
      g_autofree char *of = pm->source != NULL ? g_strdup_printf (" (source %s)", pm->source)
                                               : g_strdup ("");
      report (v->r, ANSIM_FINDING_INFO, -1, "chained to the previous incident's manifest %s%s",
              path, of);
    }
  return TRUE;
}

/* Order, duplicates, names, chain links and timeline. */
static void
check_structure (Verify *v)
{
  AnsimManifest *m = v->m;
  g_autoptr (GHashTable) index_at = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_autoptr (GHashTable) file_at = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree gint64 *indices = g_new0 (gint64, MAX (m->entries->len, 1));
  gint64 max_index = -1;
  gboolean in_order_before = FALSE;
  gint64 timeline_before = -1; /* the last entry on the timeline */

  for (guint p = 0; p < m->entries->len; p++)
    {
      const AnsimManifestEntry *e = &g_array_index (m->entries, AnsimManifestEntry, p);
      g_autofree char *label = entry_label (e, p);
      char expected[ANSIM_SHA256_HEX_LEN + 1];
      gboolean in_order = FALSE;
      gpointer at;

      indices[p] = (gint64) e->index;
      if (g_hash_table_lookup_extended (index_at, &indices[p], NULL, &at))
        report (v->r, ANSIM_FINDING_DUPLICATED_SEGMENT, p,
                "entry %" G_GUINT64_FORMAT " appears twice in the manifest, at positions %u and %u",
                e->index, GPOINTER_TO_UINT (at), p);
      else
        {
          g_autofree char *before_text = g_strdup_printf ("entry %" G_GINT64_FORMAT, max_index);
          g_hash_table_insert (index_at, &indices[p], GUINT_TO_POINTER (p));
          if (indices[p] < max_index)
            report (v->r, ANSIM_FINDING_REORDERED_SEGMENTS, p,
                    "the manifest lists %s after entry %" G_GINT64_FORMAT
                    ": entries are out of order",
                    label, max_index);
          else if (indices[p] > max_index + 1)
            report (v->r, ANSIM_FINDING_MISSING_ENTRY, p,
                    "the manifest has no entry %" G_GINT64_FORMAT
                    "%s (it goes from %s to entry %" G_GUINT64_FORMAT ")",
                    max_index + 1, indices[p] > max_index + 2 ? " and following" : "",
                    max_index < 0 ? "the start" : before_text, e->index);
          else
            in_order = TRUE;
          max_index = MAX (max_index, indices[p]);
        }

      if (e->kind == ANSIM_ENTRY_SEGMENT)
        {
          guint64 named = 0;
          ansim_evidence_parse_segment_name (e->file, &named, NULL);
          if (named != e->index)
            report (v->r, ANSIM_FINDING_MISNAMED_SEGMENT, p,
                    "%s: the file of segment %" G_GUINT64_FORMAT
                    " must be named seg-%06" G_GUINT64_FORMAT ".*",
                    label, e->index, e->index);
          if (g_hash_table_lookup_extended (file_at, e->file, NULL, &at)
              && (gint64) g_array_index (m->entries, AnsimManifestEntry, GPOINTER_TO_UINT (at)).index
                   != indices[p])
            report (v->r, ANSIM_FINDING_DUPLICATED_SEGMENT, p,
                    "entries at positions %u and %u both claim %s", GPOINTER_TO_UINT (at), p,
                    e->file);
          else
            g_hash_table_insert (file_at, e->file, GUINT_TO_POINTER (p));
        }
      else
        {
          g_autofree char *wall = ansim_evidence_format_wall (e->start_wall_us);
          report (v->r, ANSIM_FINDING_INFO, p, "%s: %.3f s without %s from %s: %s", label,
                  e->duration_us / 1e6, e->stream != NULL ? e->stream : "media", wall, e->reason);
        }

      /* The chain, entry by entry as they stand in the file. */
      ansim_manifest_expected_prev (m, p, expected);
      if (!g_str_equal (e->prev, expected))
        {
          if (p == 0)
            report (v->r, ANSIM_FINDING_BROKEN_CHAIN, p,
                    "%s: prev is %s, but the chain starts at %s (%s)", label, e->prev, expected,
                    m->previous_manifest_sha256 ? "previous_manifest_sha256"
                                                : "64 zeros: no previous incident");
          else
            {
              g_autofree char *before =
                entry_label (&g_array_index (m->entries, AnsimManifestEntry, p - 1), p - 1);
              report (v->r, ANSIM_FINDING_BROKEN_CHAIN, p,
                      "%s: prev is %s, but the entry before it, %s, hashes to %s", label, e->prev,
                      before, expected);
            }
        }

      /* Back to back in time, unless a gap entry says otherwise; only
       * between entries whose order is itself right. A one-stream gap
       * overlaps the segments that kept the other streams: it is outside
       * this timeline, and the entry after it follows the one before. */
      gboolean one_stream = e->kind == ANSIM_ENTRY_GAP && e->stream != NULL;
      if (one_stream)
        {
          in_order_before = in_order_before && in_order;
          v->r->n_gaps++;
          continue;
        }
      if (p > 0 && timeline_before >= 0 && in_order && in_order_before)
        {
          const AnsimManifestEntry *b =
            &g_array_index (m->entries, AnsimManifestEntry, (guint) timeline_before);
          gint64 delta = e->start_mono_us - (b->start_mono_us + b->duration_us);
          g_autofree char *before = entry_label (b, (guint) timeline_before);
          if (delta > ANSIM_MANIFEST_TIME_TOLERANCE_US)
            report (v->r, ANSIM_FINDING_UNDECLARED_GAP, p,
                    "%.3f s between the end of %s and the start of %s are not accounted for",
                    delta / 1e6, before, label);
          else if (delta < -ANSIM_MANIFEST_TIME_TOLERANCE_US)
            report (v->r, ANSIM_FINDING_OVERLAP, p, "%s starts %.3f s before %s ends", label,
                    -delta / 1e6, before);
        }
      in_order_before = in_order;
      timeline_before = p;
      if (e->kind == ANSIM_ENTRY_SEGMENT)
        v->r->n_segments++;
      else
        v->r->n_gaps++;
    }
}

/* Version 3: the close comes at or after the open, the end of every
 * entry and every event. Versions 1 and 2 were written by recorders that
 * closed an interrupted incident at its last entry's end (which may lie
 * before the open, in the pre-event buffer, and before later events):
 * for them the same facts are only info (docs/evidence-format.md). */
static void
check_close_time (Verify *v)
{
  AnsimManifest *m = v->m;
  gboolean strict = m->format_version >= 3;
  AnsimFindingKind kind = strict ? ANSIM_FINDING_BAD_CLOSE_TIME : ANSIM_FINDING_INFO;
  g_autofree char *tolerated =
    strict ? g_strdup ("")
           : g_strdup_printf (" (tolerated in format version %u)", m->format_version);

  if (!m->closed)
    return;
  if (m->closed_mono_us < m->opened_mono_us)
    report (v->r, kind, -1, "closed_mono_us %" G_GINT64_FORMAT " is %.6f s before opened_mono_us%s",
            m->closed_mono_us, (m->opened_mono_us - m->closed_mono_us) / 1e6, tolerated);
  for (guint p = 0; p < m->entries->len; p++)
    {
      const AnsimManifestEntry *e = &g_array_index (m->entries, AnsimManifestEntry, p);
      gint64 end = e->start_mono_us + e->duration_us;
      if (end > m->closed_mono_us)
        {
          g_autofree char *label = entry_label (e, p);
          report (v->r, kind, p, "%s ends %.6f s after closed_mono_us%s", label,
                  (end - m->closed_mono_us) / 1e6, tolerated);
        }
    }
  for (guint p = 0; p < m->events->len; p++)
    {
      const AnsimManifestEvent *ev = &g_array_index (m->events, AnsimManifestEvent, p);
      if (ev->mono_us > m->closed_mono_us)
        report (v->r, kind, -1, "events[%u] (%s) is %.6f s after closed_mono_us%s", p, ev->kind,
                (ev->mono_us - m->closed_mono_us) / 1e6, tolerated);
    }
}

static gboolean is_temp_name (const char *name);

/* The key checkpoints are checked with: the manifest's. */
static const AnsimDeviceKey *
checkpoint_key (Verify *v)
{
  if (v->key != NULL)
    return v->key;
  if (*v->own_key != NULL)
    return *v->own_key;
  for (guint i = 0; i < v->opt->n_trusted_keys; i++)
    if (g_str_equal (ansim_device_key_get_fingerprint (v->opt->trusted_keys[i]),
                     v->m->device_fingerprint))
      return v->opt->trusted_keys[i];
  return NULL;
}

static gint
compare_sequences (gconstpointer a, gconstpointer b)
{
  guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;

  return x < y ? -1 : x > y;
}

static gboolean
is_checkpoint_name (const char *name, guint64 *out_sequence)
{
  const char *digits = name + strlen ("checkpoint-");

  if (!g_str_has_prefix (name, "checkpoint-") || strlen (digits) != 6)
    return FALSE;
  for (const char *p = digits; *p; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  *out_sequence = g_ascii_strtoull (digits, NULL, 10);
  return TRUE;
}

/* One checkpoint against the manifest and the checkpoint before it. */
static void
check_one_checkpoint (Verify *v, const char *dir, guint64 named, const AnsimDeviceKey *key,
                      AnsimCheckpoint *before, char before_sha[ANSIM_SHA256_HEX_LEN + 1],
                      gboolean *have_before)
{
  AnsimManifest *m = v->m;
  g_autofree char *name = ansim_checkpoint_file_name (named);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *sig_path = g_strconcat (path, ".sig", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) text =
    ansim_evidence_read_small_file (path, ANSIM_CHECKPOINT_MAX_SIZE, &error);
  g_autoptr (GBytes) sig = NULL;
  AnsimCheckpoint c;
  char header[ANSIM_SHA256_HEX_LEN + 1], head[ANSIM_SHA256_HEX_LEN + 1];
  char sha[ANSIM_SHA256_HEX_LEN + 1];
  /* What came before, saved before it is marked as this one. */
  gboolean had_before = *have_before;
  guint64 before_sequence = before->sequence;
  char expected_previous[ANSIM_SHA256_HEX_LEN + 1];
  g_strlcpy (expected_previous, before_sha, sizeof expected_previous);

  /* A checkpoint that cannot be read or trusted is reported once; the
   * next one is not blamed for following it. */
  before->sequence = named;
  *have_before = TRUE;
  before_sha[0] = '\0';
  if (text == NULL)
    {
      report (v->r, ANSIM_FINDING_CHECKPOINT_MISMATCH, -1, "checkpoint %" G_GUINT64_FORMAT ": %s",
              named, error->message);
      return;
    }
  sig = ansim_evidence_read_small_file (sig_path, SIG_FILE_MAX, &error);
  if (sig == NULL
      || !ansim_device_key_verify (key, g_bytes_get_data (text, NULL), g_bytes_get_size (text),
                                   g_bytes_get_data (sig, NULL), g_bytes_get_size (sig), NULL))
    {
      report (v->r, ANSIM_FINDING_CHECKPOINT_MISMATCH, -1,
              "checkpoint %" G_GUINT64_FORMAT ": %s.sig %s device key %s", named, name,
              sig == NULL ? "is missing or unreadable: nothing shows who wrote it, checked with"
                          : "does not verify with",
              ansim_device_key_get_fingerprint (key));
      return;
    }
  if (!ansim_checkpoint_parse (g_bytes_get_data (text, NULL), g_bytes_get_size (text), &c, &error))
    {
      report (v->r, ANSIM_FINDING_CHECKPOINT_MISMATCH, -1, "checkpoint %" G_GUINT64_FORMAT ": %s",
              named, error->message);
      return;
    }
  ansim_hash_sha256_hex (g_bytes_get_data (text, NULL), g_bytes_get_size (text), sha);
  v->r->n_checkpoints++;
  if (c.sequence != named)
    report (v->r, ANSIM_FINDING_CHECKPOINT_MISMATCH, -1,
            "%s says sequence %" G_GUINT64_FORMAT ": a checkpoint replayed or renamed", name,
            c.sequence);
  if (!g_str_equal (c.incident_id, m->incident_id))
    report (v->r, ANSIM_FINDING_CHECKPOINT_MISMATCH, -1,
            "checkpoint %" G_GUINT64_FORMAT " is of incident %s, not %s: replayed from another "
            "incident",
            named, c.incident_id, m->incident_id);
  ansim_manifest_header_hash (m, header);
  if (!g_str_equal (c.header_sha256, header))
    report (v->r, ANSIM_FINDING_CHECKPOINT_MISMATCH, -1,
            "checkpoint %" G_GUINT64_FORMAT " commits to header %s, the manifest's header hashes "
            "to %s: the incident's fixed members were changed",
            named, c.header_sha256, header);
  /* The checkpoint before: the one this one names, with fewer or as many
   * entries and no later time. */
  if (named == 0 && !had_before)
    ;
  else if (!had_before || before_sequence + 1 != named)
    report (v->r, ANSIM_FINDING_CHECKPOINT_MISMATCH, -1,
            "checkpoint %" G_GUINT64_FORMAT " is missing (checkpoint %" G_GUINT64_FORMAT
            " follows %s): a dropped checkpoint",
            named == 0 ? 0 : named - 1, named, had_before ? "an earlier one" : "none");
  else if (expected_previous[0] != '\0' && !g_str_equal (c.previous, expected_previous))
    report (v->r, ANSIM_FINDING_CHECKPOINT_MISMATCH, -1,
            "checkpoint %" G_GUINT64_FORMAT " names previous %s, but checkpoint %" G_GUINT64_FORMAT
            " hashes to %s",
            named, c.previous, before_sequence, expected_previous);
  /* Not mono_us: the board's monotonic clock restarts when it boots, and
   * an interrupted incident's last checkpoint is written after a reboot. */
  else if (c.entries < before->entries)
    report (v->r, ANSIM_FINDING_CHECKPOINT_MISMATCH, -1,
            "checkpoint %" G_GUINT64_FORMAT " goes back (%" G_GUINT64_FORMAT
            " entries after %" G_GUINT64_FORMAT "): a replayed old checkpoint",
            named, c.entries, before->entries);
  if (!ansim_manifest_head_after (m, c.entries, head))
    report (v->r, ANSIM_FINDING_CHECKPOINT_MISMATCH, (gint64) m->entries->len,
            "checkpoint %" G_GUINT64_FORMAT " commits to %" G_GUINT64_FORMAT
            " entries, the manifest has %u: entry %u and after are missing from it",
            named, c.entries, m->entries->len, m->entries->len);
  else if (!g_str_equal (head, c.head))
    {
      if (c.entries == 0)
        report (v->r, ANSIM_FINDING_CHECKPOINT_MISMATCH, -1,
                "checkpoint %" G_GUINT64_FORMAT " commits to chain start %s, the manifest's is %s",
                named, c.head, head);
      else
        {
          guint p = (guint) c.entries - 1;
          g_autofree char *label =
            entry_label (&g_array_index (m->entries, AnsimManifestEntry, p), p);
          report (v->r, ANSIM_FINDING_CHECKPOINT_MISMATCH, p,
                  "checkpoint %" G_GUINT64_FORMAT ": %s hashes to %s in the manifest, the "
                  "checkpoint says %s: the entries up to it differ from what was signed live",
                  named, label, head, c.head);
        }
    }
  *before = c;
  g_strlcpy (before_sha, sha, ANSIM_SHA256_HEX_LEN + 1);
  *have_before = TRUE;
  v->r->checkpoint_entries = c.entries;
}

/* Every signed checkpoint against the manifest (format version 3). */
static void
check_checkpoints (Verify *v)
{
  g_autofree char *own = g_build_filename (v->dir, ANSIM_CHECKPOINT_DIR, NULL);
  const char *dir = v->opt->checkpoints != NULL ? v->opt->checkpoints : own;
  g_autoptr (GDir) d = NULL;
  g_autoptr (GArray) sequences = g_array_new (FALSE, FALSE, sizeof (guint64));
  const char *name;

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      if (v->opt->checkpoints != NULL)
        report (v->r, ANSIM_FINDING_CHECKPOINT_MISMATCH, -1, "%s is not a folder of checkpoints",
                dir);
      else if (v->m->format_version >= 3)
        report (v->r, ANSIM_FINDING_INFO, -1,
                "no checkpoints given: the manifest is not compared with what was signed live "
                "(the panel keeps them: --checkpoints DIR)");
      return;
    }
  const AnsimDeviceKey *key = checkpoint_key (v);
  if (key == NULL)
    {
      /* Already an unknown key: nothing to check them with. */
      report (v->r, ANSIM_FINDING_INFO, -1,
              "the checkpoints in %s are not checked: no trusted key for device %s", dir,
              v->m->device_fingerprint);
      return;
    }
  d = g_dir_open (dir, 0, NULL);
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      guint64 seq;
      g_autofree char *text_name =
        g_str_has_suffix (name, ".sig") ? g_strndup (name, strlen (name) - 4) : g_strdup (name);
      if (is_temp_name (name))
        report (v->r, ANSIM_FINDING_INFO, -1,
                "%s/%s is a temporary file left by an interrupted write; ignored", dir, name);
      else if (!is_checkpoint_name (text_name, &seq))
        report (v->r, ANSIM_FINDING_EXTRA_FILE, -1, "%s/%s is not a checkpoint", dir, name);
      else if (!g_str_has_suffix (name, ".sig"))
        g_array_append_val (sequences, seq);
    }
  g_array_sort (sequences, compare_sequences);
  AnsimCheckpoint before = { 0 };
  char before_sha[ANSIM_SHA256_HEX_LEN + 1] = "";
  gboolean have_before = FALSE;
  guint findings_before = v->r->n_findings;
  for (guint i = 0; i < sequences->len; i++)
    check_one_checkpoint (v, dir, g_array_index (sequences, guint64, i), key, &before, before_sha,
                          &have_before);
  /* A manifest whose signature does not hold (a copy taken between its
   * write and its signature, say) is still shown sound up to the last
   * checkpoint that agrees with it. */
  if (v->r->n_checkpoints > 0 && v->r->n_findings == findings_before && !v->r->signature_ok)
    report (
      v->r, ANSIM_FINDING_INFO, -1,
      "the manifest's signature does not hold, but its first %" G_GUINT64_FORMAT
      " entries are the ones the device signed live (checkpoints agree up to entry %" G_GINT64_FORMAT
      ")",
      v->r->checkpoint_entries, (gint64) v->r->checkpoint_entries - 1);
  if (v->r->n_checkpoints > 0)
    report (v->r, ANSIM_FINDING_INFO, -1,
            "%u signed checkpoint%s checked; the last commits to the first %" G_GUINT64_FORMAT
            " of %u entries",
            v->r->n_checkpoints, v->r->n_checkpoints == 1 ? "" : "s", v->r->checkpoint_entries,
            v->m->entries->len);
}

static gboolean
is_known_file (Verify *v, const char *name)
{
  if (g_str_equal (name, ANSIM_MANIFEST_NAME) || g_str_equal (name, ANSIM_MANIFEST_SIG_NAME)
      || g_str_equal (name, ANSIM_DEVICE_PUB_NAME))
    return TRUE;
  /* Version 3: the desk's checkpoints beside the manifest. */
  if (v->m != NULL && v->m->format_version >= 3 && g_str_equal (name, ANSIM_CHECKPOINT_DIR))
    return TRUE;
  for (guint p = 0; v->m != NULL && p < v->m->entries->len; p++)
    {
      const AnsimManifestEntry *e = &g_array_index (v->m->entries, AnsimManifestEntry, p);
      if (e->kind == ANSIM_ENTRY_SEGMENT && g_str_equal (e->file, name))
        return TRUE;
    }
  return FALSE;
}

/* ".NAME.tmp-XXXXXX": a hidden temporary file of an atomic write, the six
 * characters those of g_mkstemp (A-Z, a-z, 0-9). */
static gboolean
is_temp_name (const char *name)
{
  gsize len = strlen (name);
  const char *tail = len > 12 ? name + len - 11 : NULL;

  if (name[0] != '.' || tail == NULL || !g_str_has_prefix (tail, ".tmp-"))
    return FALSE;
  for (const char *p = tail + 5; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p))
      return FALSE;
  return TRUE;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static gboolean
check_extra_files (Verify *v, GError **error)
{
  g_autoptr (GDir) d = g_dir_open (v->dir, 0, error);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (d == NULL)
    return FALSE;
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_strings);
  for (guint i = 0; i < names->len; i++)
    {
      name = names->pdata[i];
      if (is_known_file (v, name))
        continue;
      if (is_temp_name (name))
        report (v->r, ANSIM_FINDING_INFO, -1,
                "%s is a temporary file left by an interrupted write; ignored", name);
      else if (ansim_evidence_parse_segment_name (name, NULL, NULL))
        report (v->r, ANSIM_FINDING_EXTRA_SEGMENT, -1, "%s is not in the manifest", name);
      else
        report (v->r, ANSIM_FINDING_EXTRA_FILE, -1, "%s is not part of the incident", name);
    }
  return TRUE;
}

/* Plaintext side of one segment: hashed, and written to a temp file when
 * decrypting out. */
typedef struct {
  EVP_MD_CTX *sha;
  gint64 size;
  int fd;
  const char *tmp_path;
} PlainSink;

static gboolean
plain_sink_write (const guint8 *data, gsize len, gpointer user_data, GError **error)
{
  PlainSink *sink = user_data;

  EVP_DigestUpdate (sink->sha, data, len);
  sink->size += len;
  if (sink->fd >= 0 && !ansim_write_all (sink->fd, data, len))
    return ansim_set_error_from_errno (error, errno, "cannot write", sink->tmp_path);
  return TRUE;
}

/* SHA-256 of a file in the incident folder; FALSE when it cannot be read. */
static gboolean
hash_incident_file (Verify *v, const char *name, char out_hex[ANSIM_SHA256_HEX_LEN + 1])
{
  g_autofree char *path = g_build_filename (v->dir, name, NULL);
  g_autoptr (EVP_MD_CTX) sha = ansim_hash_sha256_begin ();
  g_autofree guint8 *buf = g_malloc (ANSIM_EVIDENCE_IO_CHUNK);
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return FALSE;
  for (;;)
    {
      ssize_t n = read (fd, buf, ANSIM_EVIDENCE_IO_CHUNK);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          close (fd);
          return FALSE;
        }
      if (n == 0)
        break;
      EVP_DigestUpdate (sha, buf, n);
    }
  close (fd);
  ansim_hash_sha256_end_hex (sha, out_hex);
  return TRUE;
}

static void
check_segment_file (Verify *v, guint p, GHashTable *position_of_cipher)
{
  const AnsimManifestEntry *e = &g_array_index (v->m->entries, AnsimManifestEntry, p);
  const AnsimVerifyOptions *opt = v->opt;
  g_autofree char *label = entry_label (e, p);
  g_autofree char *path = g_build_filename (v->dir, e->file, NULL);
  g_autofree char *plain_name = NULL;
  g_autofree char *out_path = NULL;
  g_autofree char *tmp_path = NULL;
  g_autofree guint8 *buf = NULL;
  g_autoptr (EVP_MD_CTX) cipher_sha = NULL;
  g_autoptr (EVP_MD_CTX) plain_sha = NULL;
  g_autoptr (AnsimAgeDecryptor) dec = NULL;
  g_autoptr (GError) dec_error = NULL;
  g_autoptr (GError) error = NULL;
  char cipher_hex[ANSIM_SHA256_HEX_LEN + 1], plain_hex[ANSIM_SHA256_HEX_LEN + 1];
  gint64 size = 0;
  PlainSink sink = { NULL, 0, -1, NULL };
  gboolean read_failed = FALSE;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    {
      if (errno == ENOENT)
        report (v->r, ANSIM_FINDING_MISSING_SEGMENT, p,
                "%s is in the manifest, but its file is missing", label);
      else
        report (v->r, ANSIM_FINDING_UNREADABLE_SEGMENT, p, "%s: %s", label, g_strerror (errno));
      return;
    }
  cipher_sha = ansim_hash_sha256_begin ();
  if (opt->n_identities > 0)
    {
      plain_sha = ansim_hash_sha256_begin ();
      sink.sha = plain_sha;
      /* Plaintext goes to disk only under a verified signature. */
      if (opt->decrypt_to != NULL && v->r->signature_ok)
        {
          ansim_evidence_parse_segment_name (e->file, NULL, &plain_name);
          out_path = g_build_filename (opt->decrypt_to, plain_name, NULL);
          sink.fd = ansim_file_open_temp (out_path, 0600, &tmp_path, &error);
          if (sink.fd < 0)
            {
              report (v->r, ANSIM_FINDING_NOT_WRITTEN, p, "%s: %s", label, error->message);
              g_clear_error (&error);
            }
          sink.tmp_path = tmp_path;
        }
      dec = ansim_age_decryptor_new (opt->identities, opt->n_identities, plain_sink_write, &sink);
    }

  buf = g_malloc (ANSIM_EVIDENCE_IO_CHUNK);
  for (;;)
    {
      ssize_t n = read (fd, buf, ANSIM_EVIDENCE_IO_CHUNK);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          report (v->r, ANSIM_FINDING_UNREADABLE_SEGMENT, p, "%s: %s", label, g_strerror (errno));
          read_failed = TRUE;
          break;
        }
      if (n == 0)
        break;
      EVP_DigestUpdate (cipher_sha, buf, n);
      size += n;
      /* After the decryptor's first failure, keep hashing the file only. */
      if (dec != NULL && dec_error == NULL)
        ansim_age_decryptor_update (dec, buf, n, &dec_error);
    }
  close (fd);
  if (dec != NULL && dec_error == NULL && !read_failed)
    ansim_age_decryptor_finish (dec, &dec_error);
  gboolean written = FALSE;
  if (sink.fd >= 0 && close (sink.fd) < 0 && dec_error == NULL)
    g_set_error (&dec_error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot write %s: %s",
                 tmp_path, g_strerror (errno));
  if (read_failed)
    goto out;

  ansim_hash_sha256_end_hex (cipher_sha, cipher_hex);
  if (!g_str_equal (cipher_hex, e->sha256_cipher) || size != e->cipher_size)
    {
      gpointer other;
      if (g_hash_table_lookup_extended (position_of_cipher, cipher_hex, NULL, &other)
          && GPOINTER_TO_UINT (other) != p)
        {
          const AnsimManifestEntry *o =
            &g_array_index (v->m->entries, AnsimManifestEntry, GPOINTER_TO_UINT (other));
          g_autofree char *other_label = entry_label (o, GPOINTER_TO_UINT (other));
          char other_hex[ANSIM_SHA256_HEX_LEN + 1];
          /* That segment's own file still holding its data makes this a
           * copy; otherwise the two were swapped or moved. */
          if (hash_incident_file (v, o->file, other_hex)
              && g_str_equal (other_hex, o->sha256_cipher))
            report (v->r, ANSIM_FINDING_DUPLICATED_SEGMENT, p,
                    "%s is a copy of %s (its SHA-256 is that segment's), not the data of %s",
                    e->file, other_label, label);
          else
            report (v->r, ANSIM_FINDING_REORDERED_SEGMENTS, p,
                    "%s holds the data of %s (its SHA-256 is that segment's)", e->file,
                    other_label);
        }
      else if (size < e->cipher_size)
        report (v->r, ANSIM_FINDING_TRUNCATED_SEGMENT, p,
                "%s is %" G_GINT64_FORMAT " bytes, the manifest records %" G_GINT64_FORMAT, label,
                size, e->cipher_size);
      else if (size > e->cipher_size)
        report (v->r, ANSIM_FINDING_ALTERED_SEGMENT, p,
                "%s is %" G_GINT64_FORMAT " bytes, the manifest records %" G_GINT64_FORMAT, label,
                size, e->cipher_size);
      else
        report (v->r, ANSIM_FINDING_ALTERED_SEGMENT, p,
                "%s: the file's SHA-256 is %s, the manifest records %s", label, cipher_hex,
                e->sha256_cipher);
      goto out;
    }
  if (dec == NULL)
    goto out;
  if (dec_error != NULL)
    {
      if (g_error_matches (dec_error, ANSIM_AGE_ERROR, ANSIM_AGE_ERROR_NO_MATCH))
        report (v->r, ANSIM_FINDING_NO_MATCHING_RECIPIENT, p, "%s: no identity%s%s can decrypt it",
                label, opt->identities_origin ? " in " : " given",
                opt->identities_origin ? opt->identities_origin : "");
      else
        report (v->r, ANSIM_FINDING_CANNOT_DECRYPT, p, "%s: %s", label, dec_error->message);
      goto out;
    }
  ansim_hash_sha256_end_hex (plain_sha, plain_hex);
  if (!g_str_equal (plain_hex, e->sha256_plain) || sink.size != e->plain_size)
    {
      report (v->r, ANSIM_FINDING_PLAINTEXT_MISMATCH, p,
              "%s: the decrypted media has SHA-256 %s (%" G_GINT64_FORMAT " bytes), the manifest "
              "records %s (%" G_GINT64_FORMAT " bytes)",
              label, plain_hex, sink.size, e->sha256_plain, e->plain_size);
      goto out;
    }
  v->r->n_plaintext_checked++;
  if (tmp_path != NULL && sink.fd >= 0)
    {
      if (ansim_rename_noreplace (tmp_path, out_path, &error))
        {
          written = TRUE;
          v->r->n_written++;
        }
      else
        report (v->r, ANSIM_FINDING_NOT_WRITTEN, p, "%s: %s", label, error->message);
    }

out:
  if (tmp_path != NULL && sink.fd >= 0 && !written)
    unlink (tmp_path);
}

static char *
summarize (Verify *v)
{
  AnsimVerifyReport *r = v->r;
  AnsimManifest *m = v->m;
  gint64 media_us = 0;
  GString *s;

  if (m == NULL)
    return g_strdup_printf ("FAILED: %u finding%s in %s", r->n_findings,
                            r->n_findings == 1 ? "" : "s", v->dir);
  for (guint p = 0; p < m->entries->len; p++)
    {
      const AnsimManifestEntry *e = &g_array_index (m->entries, AnsimManifestEntry, p);
      if (e->kind == ANSIM_ENTRY_SEGMENT)
        media_us += e->duration_us;
    }
  if (r->n_findings > 0)
    return g_strdup_printf ("FAILED: %u finding%s in incident %s (desk %s, %u segment%s, %u gap%s)",
                            r->n_findings, r->n_findings == 1 ? "" : "s", m->incident_id,
                            m->desk_id, r->n_segments, r->n_segments == 1 ? "" : "s", r->n_gaps,
                            r->n_gaps == 1 ? "" : "s");
  s = g_string_new (NULL);
  g_string_append_printf (s,
                          "OK: incident %s (desk %s%s): %u segment%s (%.1f s of media), "
                          "%u gap%s, signed by device key %s, chain intact",
                          m->incident_id, m->desk_id, m->drill ? ", drill" : "", r->n_segments,
                          r->n_segments == 1 ? "" : "s", media_us / 1e6, r->n_gaps,
                          r->n_gaps == 1 ? "" : "s", ansim_device_key_get_fingerprint (v->key));
  if (r->n_checkpoints > 0)
    g_string_append_printf (s, ", %u signed checkpoint%s agree", r->n_checkpoints,
                            r->n_checkpoints == 1 ? "" : "s");
  if (v->opt->n_identities > 0)
    g_string_append_printf (s, ", plaintext of all %u segments checked", r->n_plaintext_checked);
  else
    g_string_append (s, "; plaintext not checked (no identity)");
  if (v->opt->decrypt_to != NULL)
    g_string_append_printf (s, "; %u file%s written to %s", r->n_written,
                            r->n_written == 1 ? "" : "s", v->opt->decrypt_to);
  if (!m->closed)
    g_string_append (s, "; the incident is still open");
  return g_string_free (s, FALSE);
}

AnsimVerifyReport *
ansim_incident_verify (const char *dir, const AnsimVerifyOptions *options, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  static const AnsimVerifyOptions no_options = { 0 };
  const AnsimVerifyOptions *opt = options != NULL ? options : &no_options;
  g_autoptr (AnsimVerifyReport) r = g_new0 (AnsimVerifyReport, 1);
  g_autofree char *manifest_path = g_build_filename (dir, ANSIM_MANIFEST_NAME, NULL);
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (AnsimDeviceKey) own_key = NULL;
  Verify v = { dir, opt, r, NULL, NULL, &own_key };

  r->lines = g_ptr_array_new_with_free_func (finding_free);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR, "%s is not a folder", dir);
      return NULL;
    }
  if (opt->decrypt_to != NULL && g_mkdir_with_parents (opt->decrypt_to, 0700) < 0)
    {
      ansim_set_error_from_errno (error, errno, "cannot create folder", opt->decrypt_to);
      return NULL;
    }

  bytes = ansim_evidence_read_small_file (manifest_path, ANSIM_MANIFEST_MAX_SIZE, &local);
  if (bytes == NULL)
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        report (r, ANSIM_FINDING_MISSING_MANIFEST, -1, "%s not found in %s", ANSIM_MANIFEST_NAME,
                dir);
      else
        report (r, ANSIM_FINDING_MALFORMED_MANIFEST, -1, "%s", local->message);
      g_clear_error (&local);
    }
  else
    {
      r->manifest =
        ansim_manifest_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &local);
      if (r->manifest == NULL)
        {
          report (r, ANSIM_FINDING_MALFORMED_MANIFEST, -1, "%s: %s", ANSIM_MANIFEST_NAME,
                  local->message);
          g_clear_error (&local);
        }
    }
  v.m = r->manifest;
  if (v.m != NULL)
    {
      g_autoptr (GHashTable) position_of_cipher = g_hash_table_new (g_str_hash, g_str_equal);

      check_signature (&v, bytes);
      if (!check_previous (&v, error))
        return NULL;
      if (!v.m->closed)
        report (r, ANSIM_FINDING_INFO, -1,
                "the incident is still open (close_reason \"open\"): this manifest covers the "
                "segments sealed so far");
      check_structure (&v);
      check_close_time (&v);
      check_checkpoints (&v);
      if (opt->decrypt_to != NULL && opt->n_identities > 0 && !r->signature_ok)
        report (r, ANSIM_FINDING_NOT_WRITTEN, -1,
                "no media written to %s: the manifest's signature was not verified",
                opt->decrypt_to);
      for (guint p = 0; p < v.m->entries->len; p++)
        {
          AnsimManifestEntry *e = &g_array_index (v.m->entries, AnsimManifestEntry, p);
          if (e->kind == ANSIM_ENTRY_SEGMENT
              && !g_hash_table_contains (position_of_cipher, e->sha256_cipher))
            g_hash_table_insert (position_of_cipher, e->sha256_cipher, GUINT_TO_POINTER (p));
        }
      for (guint p = 0; p < v.m->entries->len; p++)
        if (g_array_index (v.m->entries, AnsimManifestEntry, p).kind == ANSIM_ENTRY_SEGMENT)
          check_segment_file (&v, p, position_of_cipher);
    }
  /* Without a manifest nothing says which files belong. */
  if (v.m != NULL && !check_extra_files (&v, error))
    return NULL;
  r->summary = summarize (&v);
  return g_steal_pointer (&r);
}
