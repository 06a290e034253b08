/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansimctl commands for evidence: keygen (site age identity), verify (an
 * incident, offline) and decrypt (checked, playable media). */
#include "cmd-evidence.h"
#include "cmd-notes.h"
#include "ansimctl.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "age.h"
#include "clock-report.h"
#include "durable.h"
#include "evidence.h"

/* Exit statuses shared by verify and decrypt. */
enum {
  EXIT_OK = 0,       /* everything holds */
  EXIT_FINDINGS = 1, /* at least one finding, or the command could not do its work */
  EXIT_USAGE = 2,    /* bad options, or an input named on the command line is unusable */
};

/* ---- keygen ------------------------------------------------------------------------ */

int
ansimctl_keygen (int argc, char **argv)
{
  g_autofree char *out = NULL;
  GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
      "Write the identity to FILE (mode 0600, never replacing a file) and print its recipient",
      "FILE" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- make an age identity");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (
    context, "Makes an X25519 age identity in age-keygen's format, e.g. the site key that\n"
             "decrypts the desks' segments. With --out, the recipient (\"age1…\") is printed\n"
             "on stdout for the desks' configuration; without it, the identity goes to\n"
             "stdout and \"Public key: age1…\" to stderr, as age-keygen does.\n"
             "Keep the identity offline and backed up: without it no footage can be read.");
  if (!ansimctl_parse (context, &argc, &argv, 0, G_MAXINT, "keygen"))
    return EXIT_USAGE;
  if (argc > 1)
    {
      g_printerr ("ansimctl keygen: unexpected argument '%s'\n", argv[1]);
      return EXIT_USAGE;
    }

  g_autoptr (GError) error = NULL;
  g_autofree char *recipient = NULL;
  char *identity = ansim_age_keygen (&recipient, &error);
  if (identity == NULL)
    {
      g_printerr ("ansimctl keygen: %s\n", error->message);
      return EXIT_FINDINGS;
    }
  if (out == NULL)
    {
      g_print ("%s", identity);
      g_printerr ("Public key: %s\n", recipient);
      ansim_age_secret_free (identity);
      return EXIT_OK;
    }
  gboolean written = ansim_file_write_durable (out, identity, strlen (identity), 0600,
                                               ANSIM_WRITE_NO_REPLACE, &error);
  ansim_age_secret_free (identity);
  if (!written)
    {
      g_printerr ("ansimctl keygen: %s\n", error->message);
      return EXIT_FINDINGS;
    }
  g_print ("%s\n", recipient);
  return EXIT_OK;
}

/* ---- verify and decrypt ------------------------------------------------------------------ */

typedef struct {
  char **keys;
  char *trusted_dir;
  char **identity_files;
  char *previous;
  char *checkpoints;
  GPtrArray *loaded_keys; /* AnsimDeviceKey */
  GPtrArray *identities;  /* AnsimAgeIdentity */
  char *identities_origin;
} CheckOptions;

static void
check_options_clear (CheckOptions *o)
{
  g_strfreev (o->keys);
  g_free (o->trusted_dir);
  g_strfreev (o->identity_files);
  g_free (o->previous);
  g_free (o->checkpoints);
  g_clear_pointer (&o->loaded_keys, g_ptr_array_unref);
  g_clear_pointer (&o->identities, g_ptr_array_unref);
  g_free (o->identities_origin);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CheckOptions, check_options_clear)

static void
add_check_options (GOptionContext *context, CheckOptions *o, gboolean with_previous)
{
  GOptionEntry entries[] = {
    { "key", 'k', 0, G_OPTION_ARG_FILENAME_ARRAY, &o->keys,
      "Trust this device public key (PEM); may be repeated", "FILE" },
    { "trusted-keys", 't', 0, G_OPTION_ARG_FILENAME, &o->trusted_dir,
      "Trust every device public key (*.pem) in DIR", "DIR" },
    { "identity", 'i', 0, G_OPTION_ARG_FILENAME_ARRAY, &o->identity_files,
      "An age identity file (AGE-SECRET-KEY-1…, mode 0600) that decrypts the segments; may be repeated",
      "FILE" },
    { NULL }
  };
  GOptionEntry previous_entry[] = {
    { "previous", 'p', 0, G_OPTION_ARG_FILENAME, &o->previous,
      "The same device's previous incident (folder or manifest.json): check the chain to it",
      "PATH" },
    { "checkpoints", 'c', 0, G_OPTION_ARG_FILENAME, &o->checkpoints,
      "The incident's signed checkpoints as the panel kept them: check the manifest against them "
      "(default: the incident's own checkpoints/ folder)",
      "DIR" },
    { NULL }
  };
  g_option_context_add_main_entries (context, entries, NULL);
  if (with_previous)
    g_option_context_add_main_entries (context, previous_entry, NULL);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Loads what the options name; FALSE (message printed) on a usage error. */
static gboolean
load_check_inputs (CheckOptions *o, const char *command)
{
  g_autoptr (GError) error = NULL;

  o->loaded_keys = g_ptr_array_new_with_free_func ((GDestroyNotify) ansim_device_key_free);
  for (guint i = 0; o->keys != NULL && o->keys[i] != NULL; i++)
    {
      AnsimDeviceKey *key = ansim_device_key_load_public (o->keys[i], &error);
      if (key == NULL)
        {
          g_printerr ("ansimctl %s: --key: %s\n", command, error->message);
          return FALSE;
        }
      g_ptr_array_add (o->loaded_keys, key);
    }
  if (o->trusted_dir != NULL)
    {
      g_autoptr (GDir) dir = g_dir_open (o->trusted_dir, 0, &error);
      g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
      const char *name;
      guint found = 0;

      if (dir == NULL)
        {
          g_printerr ("ansimctl %s: --trusted-keys: %s\n", command, error->message);
          return FALSE;
        }
      while ((name = g_dir_read_name (dir)) != NULL)
        if (g_str_has_suffix (name, ".pem"))
          g_ptr_array_add (names, g_build_filename (o->trusted_dir, name, NULL));
      g_ptr_array_sort (names, compare_names);
      for (guint i = 0; i < names->len; i++)
        {
          g_autoptr (GError) local = NULL;
          AnsimDeviceKey *key = ansim_device_key_load_public (names->pdata[i], &local);
          if (key == NULL)
            {
              g_printerr ("ansimctl %s: ignoring %s\n", command, local->message);
              continue;
            }
          g_ptr_array_add (o->loaded_keys, key);
          found++;
        }
      if (found == 0)
        {
          g_printerr ("ansimctl %s: --trusted-keys: no device public key (*.pem) in %s\n", command,
                      o->trusted_dir);
          return FALSE;
        }
    }

  o->identities = g_ptr_array_new_with_free_func ((GDestroyNotify) ansim_age_identity_free);
  for (guint i = 0; o->identity_files != NULL && o->identity_files[i] != NULL; i++)
    {
      GStatBuf st;
      /* The site's secret: as ssh does with its keys, refuse one others
       * may read rather than use it and leave it exposed. */
      if (g_stat (o->identity_files[i], &st) == 0 && S_ISREG (st.st_mode)
          && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        {
          g_printerr ("ansimctl %s: --identity: identity file %s has mode %04o: group or others "
                      "may read it, so it is refused (chmod 600 %s)\n",
                      command, o->identity_files[i], (unsigned) (st.st_mode & 07777),
                      o->identity_files[i]);
          return FALSE;
        }
      g_autoptr (GPtrArray) ids = ansim_age_identities_load (o->identity_files[i], &error);
      if (ids == NULL)
        {
          g_printerr ("ansimctl %s: --identity: %s\n", command, error->message);
          return FALSE;
        }
      /* Move them over; the array frees the rest. */
      for (guint j = 0; j < ids->len; j++)
        g_ptr_array_add (o->identities, g_steal_pointer (&ids->pdata[j]));
    }
  if (o->identity_files != NULL)
    o->identities_origin = g_strjoinv (", ", o->identity_files);
  return TRUE;
}

static void
fill_verify_options (CheckOptions *o, AnsimVerifyOptions *opt)
{
  opt->trusted_keys = (AnsimDeviceKey *const *) o->loaded_keys->pdata;
  opt->n_trusted_keys = o->loaded_keys->len;
  opt->trusted_keys_origin = o->trusted_dir;
  opt->identities = (AnsimAgeIdentity *const *) o->identities->pdata;
  opt->n_identities = o->identities->len;
  opt->identities_origin = o->identities_origin;
  opt->previous = o->previous;
  opt->checkpoints = o->checkpoints;
}

/* verify --clock-tolerance in microseconds; -1: the desk clock is not
 * reported (decrypt). */
static gint64 report_clock_tolerance_us = -1;

static int
print_report (AnsimVerifyReport *r)
{
  for (guint i = 0; i < r->lines->len; i++)
    g_print ("%s\n", ((AnsimFinding *) r->lines->pdata[i])->text);
  /* Only for a signed manifest that holds: otherwise its times mean
   * nothing. Before the summary, which stays the last line. */
  if (report_clock_tolerance_us >= 0 && r->n_findings == 0 && r->manifest != NULL)
    ansimctl_print_desk_clock (r->manifest, report_clock_tolerance_us);
  g_print ("%s\n", r->summary);
  return r->n_findings == 0 ? EXIT_OK : EXIT_FINDINGS;
}

/* ---- evidence packages (panel export) ---- */

static void
collect_files (const char *root, const char *rel, GHashTable *out)
{
  g_autofree char *path = rel[0] ? g_build_filename (root, rel, NULL) : g_strdup (root);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child_rel = rel[0] ? g_build_filename (rel, name, NULL) : g_strdup (name);
      g_autofree char *child = g_build_filename (root, child_rel, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        collect_files (root, child_rel, out);
      else
        g_hash_table_add (out, g_steal_pointer (&child_rel));
    }
}

/* NULL for a missing file and for a link (a package holds only files). */
static char *
file_sha256 (const char *path)
{
  g_autofree char *data = NULL;
  if (g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    return NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, NULL))
    return NULL;
  return ansim_hash_sha256_hex_dup (data, len);
}

/* A package from the panel's export: unpacked with tar into a private
 * folder, SHA256SUMS checked, the incident folder checked by
 * ansim_incident_verify(), decrypted media (if any) checked against the
 * signed manifest's sha256_plain. */
static int
verify_package (const char *package, AnsimVerifyOptions *opt)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("ansimctl-verify-XXXXXX", &error);
  if (tmp == NULL)
    {
      g_printerr ("ansimctl verify: %s\n", error->message);
      return EXIT_FINDINGS;
    }
  /* GNU tar refuses members with '..' or absolute names by default. */
  const char *argv[] = {
    "tar", "-x", "-f", package, "-C", tmp, "--no-same-owner", "--no-same-permissions", NULL
  };
  int status = 0;
  g_autofree char *tar_err = NULL;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, &tar_err, &status, &error)
      || !g_spawn_check_wait_status (status, NULL))
    {
      g_printerr ("ansimctl verify: %s is not a readable tar package: %s\n", package,
                  error != NULL ? error->message : g_strstrip (tar_err));
      ansim_remove_tree (tmp, NULL);
      return EXIT_USAGE;
    }
  g_autoptr (GDir) dir = g_dir_open (tmp, 0, NULL);
  const char *top_name = dir != NULL ? g_dir_read_name (dir) : NULL;
  g_autofree char *top = top_name != NULL ? g_build_filename (tmp, top_name, NULL) : NULL;
  if (top == NULL || g_dir_read_name (dir) != NULL || !g_file_test (top, G_FILE_TEST_IS_DIR))
    {
      g_printerr ("ansimctl verify: %s does not hold one package folder\n", package);
      ansim_remove_tree (tmp, NULL);
      return EXIT_USAGE;
    }

  guint findings = 0, checked = 0;
  g_autoptr (GHashTable) files = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  collect_files (top, "", files);
  g_autofree char *sums_path = g_build_filename (top, "SHA256SUMS", NULL);
  g_autofree char *sums = NULL;
  if (!g_file_get_contents (sums_path, &sums, NULL, NULL))
    {
      g_print ("missing file: SHA256SUMS\n");
      findings++;
    }
  else
    {
      g_hash_table_remove (files, "SHA256SUMS");
      g_auto (GStrv) lines = g_strsplit (sums, "\n", -1);
      for (guint i = 0; lines[i] != NULL; i++)
        {
          if (lines[i][0] == '\0')
            continue;
          const char *name = strlen (lines[i]) > 66 ? lines[i] + 66 : NULL;
          if (name == NULL || lines[i][64] != ' ' || lines[i][65] != ' '
              || strstr (name, "..") != NULL || name[0] == '/')
            {
              g_print ("malformed checksums: SHA256SUMS line %u\n", i + 1);
              findings++;
              continue;
            }
          g_autofree char *path = g_build_filename (top, name, NULL);
          g_autofree char *sha = file_sha256 (path);
          if (sha == NULL)
            g_print ("missing file: %s (listed in SHA256SUMS)\n", name), findings++;
          else if (strncmp (sha, lines[i], 64) != 0)
            g_print ("checksum mismatch: %s\n", name), findings++;
          else
            checked++;
          g_hash_table_remove (files, name);
        }
      GHashTableIter iter;
      gpointer name;
      g_hash_table_iter_init (&iter, files);
      while (g_hash_table_iter_next (&iter, &name, NULL))
        g_print ("extra file: %s (not in SHA256SUMS)\n", (char *) name), findings++;
      g_print ("info: %u files match SHA256SUMS\n", checked);
    }

  g_autofree char *folder = g_build_filename (top, "incident", NULL);
  g_autoptr (AnsimVerifyReport) r = ansim_incident_verify (folder, opt, &error);
  if (r == NULL)
    {
      g_print ("missing folder: incident/ (%s)\n", error->message);
      findings++;
    }
  else
    {
      for (guint i = 0; i < r->lines->len; i++)
        g_print ("%s\n", ((AnsimFinding *) r->lines->pdata[i])->text);
      findings += r->n_findings;
      g_autofree char *media = g_build_filename (top, "media", NULL);
      g_autoptr (GDir) mdir = g_dir_open (media, 0, NULL);
      const char *name;
      guint n_media = 0;
      while (mdir != NULL && (name = g_dir_read_name (mdir)) != NULL)
        {
          guint64 index = 0;
          const AnsimManifestEntry *e = NULL;
          if (r->manifest != NULL && sscanf (name, "seg-%6" G_GUINT64_FORMAT ".mkv", &index) == 1)
            for (guint j = 0; j < ansim_manifest_get_n_entries (r->manifest); j++)
              if (ansim_manifest_get_entry (r->manifest, j)->index == index)
                e = ansim_manifest_get_entry (r->manifest, j);
          g_autofree char *path = g_build_filename (media, name, NULL);
          g_autofree char *sha = file_sha256 (path);
          if (e == NULL || sha == NULL || strcmp (sha, e->sha256_plain) != 0)
            g_print ("media mismatch: media/%s is not a segment's media as the signed manifest "
                     "lists it\n",
                     name),
              findings++;
          else
            n_media++;
        }
      if (mdir != NULL)
        g_print ("info: %u decrypted media files match the signed manifest\n", n_media);
    }
  if (findings == 0)
    g_print ("OK: the package is intact (%s)\n", r != NULL ? r->summary : "");
  else
    g_print ("FAILED: %u finding%s in the package\n", findings, findings == 1 ? "" : "s");
  ansim_remove_tree (tmp, NULL);
  return findings == 0 ? EXIT_OK : EXIT_FINDINGS;
}

int
ansimctl_verify (int argc, char **argv)
{
  g_auto (CheckOptions) o = { 0 };
  g_autoptr (GOptionContext) context =
    g_option_context_new ("PATH - check an incident folder or an evidence package offline");
  g_autofree char *receipt = NULL, *panel_key = NULL;
  GOptionEntry receipt_entries[] = {
    { "receipt", 0, 0, G_OPTION_ARG_FILENAME, &receipt,
      "Also check against the panel's chain receipts in FILE (a file of notes, a desk's "
      "desk.db or data directory): an incident newer than this one is reported as \"newer "
      "incident withheld\"",
      "FILE" },
    { "panel-key", 0, 0, G_OPTION_ARG_FILENAME, &panel_key,
      "The panel's public key (PEM) for --receipt (default: the package's own)", "FILE" },
    { NULL }
  };
  g_option_context_add_main_entries (context, receipt_entries, NULL);
  add_check_options (context, &o, TRUE);
  double clock_tolerance_s = ANSIMCTL_CLOCK_TOLERANCE_S;
  GOptionEntry clock_entries[] = {
    { "clock-tolerance", 0, 0, G_OPTION_ARG_DOUBLE, &clock_tolerance_s,
      "Warn when the desk's clock was off the panel's by more than SECONDS (default 2)",
      "SECONDS" },
    { NULL }
  };
  g_option_context_add_main_entries (context, clock_entries, NULL);
  g_option_context_set_description (
    context, "Checks the signature of manifest.json, the hash chain of its entries, their\n"
             "order and timeline, and every segment file (presence, size, SHA-256); with\n"
             "--identity also each segment's decrypted media. Prints one line per finding,\n"
             "then a summary line.\n"
             "\n"
             "Without --key or --trusted-keys, the device.pub.pem beside the manifest is\n"
             "used and an info line says so: that shows the incident is unaltered since it\n"
             "was signed, not which device signed it.\n"
             "\n"
             "PATH may also be an evidence package exported by the panel (a .tar): its\n"
             "SHA256SUMS, its incident/ folder as above (against the package's own\n"
             "device.pub.pem unless --key is given) and any decrypted media/ against the\n"
             "signed manifest are checked.\n"
             "\n"
             "Exit status: 0 everything holds, 1 findings, 2 usage error.\n"
             "The format and the equivalent openssl/age/sha256sum commands are described in\n"
             "docs/evidence-format.md.");
  if (!ansimctl_parse (context, &argc, &argv, 0, G_MAXINT, "verify"))
    return EXIT_USAGE;
  if (argc != 2)
    {
      g_printerr (argc < 2 ? "ansimctl verify: name the incident folder (PATH)\n"
                           : "ansimctl verify: name exactly one incident folder\n");
      return EXIT_USAGE;
    }
  if (!load_check_inputs (&o, "verify"))
    return EXIT_USAGE;
  if (!(clock_tolerance_s >= 0 && clock_tolerance_s <= 1e9))
    {
      g_printerr ("ansimctl verify: --clock-tolerance: %g is not a number of seconds from 0 to "
                  "1000000000\n",
                  clock_tolerance_s);
      return EXIT_USAGE;
    }

  AnsimVerifyOptions opt = { 0 };
  g_autoptr (GError) error = NULL;
  fill_verify_options (&o, &opt);
  report_clock_tolerance_us = (gint64) (clock_tolerance_s * G_USEC_PER_SEC);
  int status;
  if (g_file_test (argv[1], G_FILE_TEST_IS_REGULAR))
    status = verify_package (argv[1], &opt);
  else
    {
      g_autoptr (AnsimVerifyReport) r = ansim_incident_verify (argv[1], &opt, &error);
      if (r == NULL)
        {
          g_printerr ("ansimctl verify: %s\n", error->message);
          return EXIT_USAGE;
        }
      status = print_report (r);
    }
  /* The panel's word on what came after (docs/receipts.md). */
  if (receipt != NULL && status != EXIT_USAGE)
    {
      /* Not inside MAX (): it would run twice. */
      int receipt_status = ansimctl_check_receipt (receipt, panel_key, argv[1]);
      status = MAX (status, receipt_status);
    }
  return status;
}

int
ansimctl_decrypt (int argc, char **argv)
{
  g_auto (CheckOptions) o = { 0 };
  g_autofree char *out = NULL;
  GOptionEntry entries[] = { { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
                               "Write the media files into DIR (created with mode 0700 if missing)",
                               "DIR" },
                             { NULL } };
  g_autoptr (GOptionContext) context =
    g_option_context_new ("INCIDENT - write an incident's media, checked");
  g_option_context_add_main_entries (context, entries, NULL);
  add_check_options (context, &o, FALSE);
  g_option_context_set_description (
    context, "Decrypts each segment of the incident folder to DIR/seg-NNNNNN.mkv (mode 0600)\n"
             "after the same checks as 'ansimctl verify --identity'. A segment is written\n"
             "only when the manifest's signature verifies and both its hashes match;\n"
             "existing files are never replaced.\n"
             "\n"
             "Exit status: 0 every segment written, 1 findings (some or all not written),\n"
             "2 usage error.");
  if (!ansimctl_parse (context, &argc, &argv, 0, G_MAXINT, "decrypt"))
    return EXIT_USAGE;
  if (argc != 2 || out == NULL || o.identity_files == NULL)
    {
      g_printerr ("ansimctl decrypt: usage: ansimctl decrypt INCIDENT --identity FILE --out DIR\n");
      return EXIT_USAGE;
    }
  if (!g_file_test (argv[1], G_FILE_TEST_IS_DIR))
    {
      g_printerr ("ansimctl decrypt: %s is not a folder\n", argv[1]);
      return EXIT_USAGE;
    }
  if (!load_check_inputs (&o, "decrypt"))
    return EXIT_USAGE;

  /* Refuse before writing anything, rather than half-way. */
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimManifest) m = ansim_manifest_load (argv[1], &error);
  if (m != NULL)
    {
      guint existing = 0;
      for (guint i = 0; i < ansim_manifest_get_n_entries (m); i++)
        {
          const AnsimManifestEntry *e = ansim_manifest_get_entry (m, i);
          if (e->kind != ANSIM_ENTRY_SEGMENT)
            continue;
          g_autofree char *plain = g_strndup (e->file, strlen (e->file) - strlen (".age"));
          g_autofree char *path = g_build_filename (out, plain, NULL);
          if (g_file_test (path, G_FILE_TEST_EXISTS))
            {
              g_printerr ("ansimctl decrypt: %s exists already; not overwriting it\n", path);
              existing++;
            }
        }
      if (existing > 0)
        {
          g_printerr ("ansimctl decrypt: nothing written: choose an empty --out folder\n");
          return EXIT_FINDINGS;
        }
    }
  g_clear_error (&error);

  AnsimVerifyOptions opt = { 0 };
  fill_verify_options (&o, &opt);
  opt.decrypt_to = out;
  g_autoptr (AnsimVerifyReport) r = ansim_incident_verify (argv[1], &opt, &error);
  if (r == NULL)
    {
      g_printerr ("ansimctl decrypt: %s\n", error->message);
      return EXIT_USAGE;
    }
  int status = print_report (r);
  if (r->n_written < r->n_segments || r->n_segments == 0)
    g_printerr ("ansimctl decrypt: wrote %u of %u segments to %s\n", r->n_written, r->n_segments,
                out);
  return status;
}

/* ---- status -------------------------------------------------------------------------- */

char *
ansimctl_device_fingerprint_line (const char *key_path)
{
  g_autofree char *pub_path = NULL;
  g_autoptr (AnsimDeviceKey) key = NULL;
  g_autoptr (GError) error = NULL;
  GStatBuf st;

  if (key_path == NULL || *key_path == '\0')
    return g_strdup ("device key: not configured");
  if (g_stat (key_path, &st) < 0)
    {
      if (errno == ENOENT)
        return g_strdup_printf ("device key: %s does not exist yet (the recorder creates it "
                                "at its first start)",
                                key_path);
      return g_strdup_printf ("device key: %s: %s", key_path, g_strerror (errno));
    }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    return g_strdup_printf ("device key: %s has mode %04o: the recorder refuses it "
                            "(chmod 600 %s)",
                            key_path, (unsigned) (st.st_mode & 07777), key_path);
  /* The public file first: people running status may not read the key. */
  pub_path = ansim_device_key_public_path (key_path);
  key = ansim_device_key_load_public (pub_path, NULL);
  if (key == NULL)
    key = ansim_device_key_load (key_path, &error);
  if (key == NULL)
    return g_strdup_printf ("device key: %s", error->message);
  return g_strdup_printf ("device key: %s (%s)", ansim_device_key_get_fingerprint (key), key_path);
}
