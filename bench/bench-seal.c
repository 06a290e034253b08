/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Seal throughput: SHA-256 of each plaintext segment plus its age
 * encryption (one age file per segment), as the recorder seals; see bench/run. */
#include "age.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

typedef struct {
  EVP_MD_CTX *sha; /* non-NULL: hash the ciphertext as it is written */
  guint8 *copy_to; /* non-NULL: copy the ciphertext there (a sealed segment in memory) */
  gsize written;
} Sink;

static gboolean
sink_write (const guint8 *data, gsize len, gpointer user_data, G_GNUC_UNUSED GError **error)
{
  Sink *sink = user_data;

  if (sink->sha != NULL)
    EVP_DigestUpdate (sink->sha, data, len);
  if (sink->copy_to != NULL)
    memcpy (sink->copy_to + sink->written, data, len);
  sink->written += len;
  return TRUE;
}

static long
peak_rss_kib (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

int
main (int argc, char **argv)
{
  gint size_mib = 64, segment_mib = 2, n_recipients = 2, piece_kib = 256;
  gdouble min_seconds = 2.0;
  gchar *sink_mode = NULL, *only = NULL;
  GOptionEntry entries[] = {
    { "size", 0, 0, G_OPTION_ARG_INT, &size_mib, "Plaintext per pass, MiB (64)", "MIB" },
    { "segment", 0, 0, G_OPTION_ARG_INT, &segment_mib, "Segment size, MiB (2)", "MIB" },
    { "piece", 0, 0, G_OPTION_ARG_INT, &piece_kib,
      "Hash and encrypt in slices of this many KiB (256; 0: hash the whole segment, then encrypt it)",
      "KIB" },
    { "recipients", 0, 0, G_OPTION_ARG_INT, &n_recipients, "Recipients per file (2: site + escrow)",
      "N" },
    { "min-seconds", 0, 0, G_OPTION_ARG_DOUBLE, &min_seconds,
      "Repeat passes for at least this long (2; 0: one pass)", "S" },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only, "Measure one part alone: hash or encrypt", "PART" },
    { "sink", 0, 0, G_OPTION_ARG_STRING, &sink_mode,
      "discard (default), hash (SHA-256 of the ciphertext too), memory (copy to a buffer)",
      "MODE" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- age seal throughput");
  g_autoptr (GPtrArray) recipients =
    g_ptr_array_new_with_free_func ((GDestroyNotify) ansim_age_recipient_free);
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *segment = NULL, *sealed = NULL;
  EVP_MD_CTX *md = EVP_MD_CTX_new ();
  EVP_MD_CTX *ct_md = NULL;
  EVP_MD *sha256 = EVP_MD_fetch (NULL, "SHA256", NULL);
  gsize segment_len, piece, total, done_bytes = 0;
  gint64 start, elapsed;
  guint passes = 0;
  gboolean only_hash, only_encrypt;
  guint32 x = 1;
  Sink sink = { 0 };

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (size_mib <= 0 || segment_mib <= 0 || n_recipients <= 0 || size_mib % segment_mib != 0)
    {
      g_printerr ("--size must be a positive multiple of --segment\n");
      return 2;
    }
  segment_len = (gsize) segment_mib << 20;
  only_hash = g_strcmp0 (only, "hash") == 0;
  only_encrypt = g_strcmp0 (only, "encrypt") == 0;
  piece = piece_kib > 0 ? (gsize) piece_kib << 10 : segment_len;
  total = (gsize) size_mib << 20;

  for (gint i = 0; i < n_recipients; i++)
    {
      g_autoptr (AnsimAgeIdentity) id = ansim_age_identity_generate (&error);
      g_assert_no_error (error);
      g_ptr_array_add (recipients, ansim_age_identity_to_recipient (id));
    }

  /* One segment buffer reused for every segment: memory must not grow with
   * the input, exactly as in the recorder. */
  segment = g_malloc (segment_len);
  for (gsize i = 0; i < segment_len; i++)
    {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      segment[i] = x & 0xff;
    }
  if (g_strcmp0 (sink_mode, "memory") == 0)
    sealed = sink.copy_to = g_malloc (segment_len + segment_len / 4096 + 4096);
  else if (g_strcmp0 (sink_mode, "hash") == 0)
    ct_md = sink.sha = EVP_MD_CTX_new ();
  else if (sink_mode != NULL && strcmp (sink_mode, "discard") != 0)
    {
      g_printerr ("unknown --sink %s\n", sink_mode);
      return 2;
    }

  start = g_get_monotonic_time ();
  do
    {
      for (gsize off = 0; off < total; off += segment_len)
        {
          g_autoptr (AnsimAgeEncryptor) enc = NULL;
          guint8 digest[32];
          unsigned int digest_len = 0;

          /* Each segment differs from the last, like real footage. */
          memcpy (segment, &off, sizeof off);
          sink.written = 0;
          if (ct_md != NULL)
            EVP_DigestInit_ex2 (ct_md, sha256, NULL);
          EVP_DigestInit_ex2 (md, sha256, NULL);
          if (!only_hash)
            enc = ansim_age_encryptor_new ((AnsimAgeRecipient **) recipients->pdata,
                                           recipients->len, sink_write, &sink, &error);
          if (enc == NULL && !only_hash)
            {
              g_printerr ("seal failed: %s\n", error->message);
              return 1;
            }
          /* Hash and encrypt each piece while it is still in cache, as the
           * recorder does with data as it arrives. */
          for (gsize p = 0; p < segment_len; p += piece)
            {
              gsize n = MIN (piece, segment_len - p);

              if (!only_encrypt)
                EVP_DigestUpdate (md, segment + p, n);
              if (!only_hash && !ansim_age_encryptor_update (enc, segment + p, n, &error))
                {
                  g_printerr ("seal failed: %s\n", error->message);
                  return 1;
                }
            }
          EVP_DigestFinal_ex (md, digest, &digest_len);
          if (!only_hash && !ansim_age_encryptor_finish (enc, &error))
            {
              g_printerr ("seal failed: %s\n", error->message);
              return 1;
            }
          if (ct_md != NULL)
            EVP_DigestFinal_ex (ct_md, digest, &digest_len);
          done_bytes += segment_len;
        }
      passes++;
      elapsed = g_get_monotonic_time () - start;
    }
  while (elapsed < min_seconds * G_USEC_PER_SEC);

  /* Decimal megabytes, as `openssl speed` reports (it prints 1000s of bytes). */
  printf ("bytes=%" G_GSIZE_FORMAT " passes=%u segments_per_pass=%" G_GSIZE_FORMAT
          " piece_kib=%" G_GSIZE_FORMAT
          " recipients=%d sink=%s seconds=%.3f mbps=%.1f peak_rss_kib=%ld\n",
          done_bytes, passes, total / segment_len, piece >> 10, n_recipients,
          sink_mode ? sink_mode : "discard", elapsed / 1e6, done_bytes / (elapsed / 1e6) / 1e6,
          peak_rss_kib ());

  EVP_MD_CTX_free (md);
  EVP_MD_CTX_free (ct_md);
  EVP_MD_free (sha256);
  g_free (sink_mode);
  g_free (only);
  return 0;
}
