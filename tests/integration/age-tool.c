/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Test helper: a tiny age-like command line over libansim's age code, so
 * scripts and the interop test can drive it next to the real `age`. */
#include "age.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *
code_name (const GError *error)
{
  static const char *const names[] = {
    [ANSIM_AGE_ERROR_INVALID_KEY] = "INVALID_KEY",
    [ANSIM_AGE_ERROR_MALFORMED_HEADER] = "MALFORMED_HEADER",
    [ANSIM_AGE_ERROR_NO_MATCH] = "NO_MATCH",
    [ANSIM_AGE_ERROR_HEADER_MAC] = "HEADER_MAC",
    [ANSIM_AGE_ERROR_PAYLOAD] = "PAYLOAD",
    [ANSIM_AGE_ERROR_TRUNCATED] = "TRUNCATED",
    [ANSIM_AGE_ERROR_TRAILING_DATA] = "TRAILING_DATA",
    [ANSIM_AGE_ERROR_FAILED] = "FAILED",
  };

  if (error->domain == ANSIM_AGE_ERROR && error->code >= 0
      && (gsize) error->code < G_N_ELEMENTS (names))
    return names[error->code];
  return "OTHER";
}

static int
fail (GError *error)
{
  g_printerr ("age-tool: %s [%s]\n", error->message, code_name (error));
  g_error_free (error);
  return 1;
}

static GInputStream *
open_input (const char *path, GError **error)
{
  g_autoptr (GFile) file = NULL;

  if (path == NULL || strcmp (path, "-") == 0)
    return g_unix_input_stream_new (0, FALSE);
  file = g_file_new_for_commandline_arg (path);
  return G_INPUT_STREAM (g_file_read (file, NULL, error));
}

/* Output goes to PATH.partial and is renamed only on success, so a failed
 * decryption leaves no file behind. */
static GOutputStream *
open_output (const char *path, char **out_partial, GError **error)
{
  g_autoptr (GFile) file = NULL;

  *out_partial = NULL;
  if (path == NULL || strcmp (path, "-") == 0)
    return g_unix_output_stream_new (1, FALSE);
  *out_partial = g_strconcat (path, ".partial", NULL);
  file = g_file_new_for_path (*out_partial);
  return G_OUTPUT_STREAM (g_file_replace (file, NULL, FALSE, G_FILE_CREATE_PRIVATE, NULL, error));
}

static gboolean
close_output (GOutputStream *out, const char *partial, const char *path, gboolean ok,
              GError **error)
{
  if (!ok)
    {
      g_output_stream_close (out, NULL, NULL);
      if (partial != NULL)
        g_unlink (partial);
      return FALSE;
    }
  if (!g_output_stream_close (out, NULL, error))
    return FALSE;
  if (partial != NULL && g_rename (partial, path) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "rename %s: %s", path, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

static int
cmd_keygen (int argc, char **argv)
{
  g_autofree char *output = NULL;
  g_autofree char *recipient = NULL;
  GOptionEntry entries[] = { { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
                               "Write the identity to FILE (mode 0600)", "FILE" },
                             { NULL } };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- make an age identity");
  GError *error = NULL;
  char *text;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return fail (error);
  text = ansim_age_keygen (&recipient, &error);
  if (text == NULL)
    return fail (error);
  if (output != NULL)
    {
      int fd = g_open (output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      gsize len = strlen (text);

      if (fd < 0 || write (fd, text, len) != (gssize) len || close (fd) != 0)
        {
          g_printerr ("age-tool: %s: %s\n", output, g_strerror (errno));
          ansim_age_secret_free (text);
          return 1;
        }
      g_printerr ("Public key: %s\n", recipient);
    }
  else
    fputs (text, stdout);
  ansim_age_secret_free (text);
  return 0;
}

static int
cmd_encrypt (int argc, char **argv)
{
  g_auto (GStrv) recipient_texts = NULL;
  g_autofree char *output = NULL;
  GOptionEntry entries[] = { { "recipient", 'r', 0, G_OPTION_ARG_STRING_ARRAY, &recipient_texts,
                               "Encrypt to RECIPIENT (repeatable)", "RECIPIENT" },
                             { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "Write to FILE",
                               "FILE" },
                             { NULL } };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("[INPUT] - encrypt to age recipients");
  g_autoptr (GPtrArray) recipients =
    g_ptr_array_new_with_free_func ((GDestroyNotify) ansim_age_recipient_free);
  g_autoptr (GInputStream) in = NULL;
  g_autoptr (GOutputStream) out = NULL;
  g_autoptr (AnsimAgeEncryptor) enc = NULL;
  g_autofree char *partial = NULL;
  g_autofree guint8 *buf = NULL;
  GError *error = NULL;
  gboolean ok = TRUE;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return fail (error);
  if (recipient_texts == NULL || argc > 2)
    {
      g_printerr ("age-tool encrypt: need -r RECIPIENT and at most one INPUT\n");
      return 2;
    }
  for (guint i = 0; recipient_texts[i] != NULL; i++)
    {
      AnsimAgeRecipient *r = ansim_age_recipient_parse (recipient_texts[i], &error);
      if (r == NULL)
        return fail (error);
      g_ptr_array_add (recipients, r);
    }
  in = open_input (argc > 1 ? argv[1] : NULL, &error);
  if (in == NULL)
    return fail (error);
  out = open_output (output, &partial, &error);
  if (out == NULL)
    return fail (error);

  enc = ansim_age_encryptor_new_for_stream ((AnsimAgeRecipient **) recipients->pdata,
                                            recipients->len, out, NULL, &error);
  ok = enc != NULL;
  buf = g_malloc (ANSIM_AGE_CHUNK_SIZE);
  while (ok)
    {
      gssize n = g_input_stream_read (in, buf, ANSIM_AGE_CHUNK_SIZE, NULL, &error);
      if (n <= 0)
        {
          ok = n == 0;
          break;
        }
      ok = ansim_age_encryptor_update (enc, buf, n, &error);
    }
  ok = ok && ansim_age_encryptor_finish (enc, &error);
  if (!close_output (out, partial, output, ok, ok ? &error : NULL))
    return fail (error);
  return 0;
}

static int
cmd_decrypt (int argc, char **argv)
{
  g_auto (GStrv) identity_files = NULL;
  g_autofree char *output = NULL;
  GOptionEntry entries[] = { { "identity", 'i', 0, G_OPTION_ARG_FILENAME_ARRAY, &identity_files,
                               "Identity file (repeatable)", "FILE" },
                             { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "Write to FILE",
                               "FILE" },
                             { NULL } };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("[INPUT] - decrypt with age identities");
  g_autoptr (GPtrArray) identities =
    g_ptr_array_new_with_free_func ((GDestroyNotify) ansim_age_identity_free);
  g_autoptr (GInputStream) in = NULL;
  g_autoptr (GOutputStream) out = NULL;
  g_autofree char *partial = NULL;
  GError *error = NULL;
  gboolean ok;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return fail (error);
  if (identity_files == NULL || argc > 2)
    {
      g_printerr ("age-tool decrypt: need -i FILE and at most one INPUT\n");
      return 2;
    }
  for (guint i = 0; identity_files[i] != NULL; i++)
    {
      g_autoptr (GPtrArray) ids = ansim_age_identities_load (identity_files[i], &error);
      if (ids == NULL)
        return fail (error);
      for (guint j = 0; j < ids->len; j++)
        g_ptr_array_add (identities, g_ptr_array_steal_index (ids, j--));
    }
  in = open_input (argc > 1 ? argv[1] : NULL, &error);
  if (in == NULL)
    return fail (error);
  out = open_output (output, &partial, &error);
  if (out == NULL)
    return fail (error);
  ok = ansim_age_decrypt_stream ((AnsimAgeIdentity **) identities->pdata, identities->len, in, out,
                                 NULL, &error);
  if (!close_output (out, partial, output, ok, ok ? &error : NULL))
    return fail (error);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "keygen") == 0)
    return cmd_keygen (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "encrypt") == 0)
    return cmd_encrypt (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "decrypt") == 0)
    return cmd_decrypt (argc - 1, argv + 1);
  g_printerr ("usage: age-tool keygen [-o FILE]\n"
              "       age-tool encrypt -r RECIPIENT... [-o OUT] [IN]\n"
              "       age-tool decrypt -i IDENTITY_FILE... [-o OUT] [IN]\n");
  return 2;
}
