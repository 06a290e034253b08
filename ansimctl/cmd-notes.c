/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansimctl's commands for the panel's signed notes (docs/receipts.md):
 * panel-key, notes (what a desk keeps), audit checkpoint, the checkpoint
 * part of audit verify and the receipt part of verify. What must stay
 * true: a note counts only when its signature verifies with the panel key
 * used (named in the output); one that does not is refused by name and
 * the command fails. */
#include "cmd-notes.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "ansimctl.h"
#include "config.h"
#include "db.h"
#include "evidence.h"
#include "note.h"
#ifdef ANSIM_WITH_PANEL
#include "audit.h"
#include "notes.h"
#endif
#include "util.h"

/* ---- reading notes --------------------------------------------------------- */

typedef struct {
  char *text;   /* the note as given */
  char *origin; /* where it came from, for messages */
} GivenNote;

static void
given_note_free (gpointer p)
{
  GivenNote *n = p;
  g_free (n->text);
  g_free (n->origin);
  g_free (n);
}

static void
add_given (GPtrArray *out, const char *text, const char *origin)
{
  GivenNote *n = g_new0 (GivenNote, 1);
  n->text = g_strdup (text);
  n->origin = g_strdup (origin);
  g_ptr_array_add (out, n);
}

/* The notes of kind ('audit-checkpoint', 'chain-receipt' or NULL: both) in
 * a desk database, oldest first. */
static gboolean
read_desk_db (const char *path, const char *kind, GPtrArray *out, GError **error)
{
  g_autoptr (sqlite3) db = NULL;
  if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s cannot be opened: %s", path,
                   db != NULL ? sqlite3_errmsg (db) : "out of memory");
      return FALSE;
    }
  sqlite3_busy_timeout (db, 5000);
  g_autoptr (sqlite3_stmt) s = NULL;
  if (sqlite3_prepare_v2 (
        db, "SELECT note FROM panel_notes WHERE ?1 IS NULL OR kind = ?1 ORDER BY id", -1, &s, NULL)
      != SQLITE_OK)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                   "%s holds no notes from the panel (%s): is it a desk database?", path,
                   sqlite3_errmsg (db));
      return FALSE;
    }
  sqlite3_bind_text (s, 1, kind, -1, SQLITE_STATIC);
  while (sqlite3_step (s) == SQLITE_ROW)
    add_given (out, (const char *) sqlite3_column_text (s, 0), path);
  return TRUE;
}

/* PATH: a desk data directory (its desk.db), a desk database, or a file of
 * notes one after the other. */
static gboolean
read_notes (const char *path, const char *kind, GPtrArray *out, GError **error)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_autofree char *db = g_build_filename (path, "desk.db", NULL);
      if (!g_file_test (db, G_FILE_TEST_IS_REGULAR))
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                       "%s is a folder without desk.db: give a desk's data directory, its "
                       "database or a file of notes",
                       path);
          return FALSE;
        }
      return read_desk_db (db, kind, out, error);
    }
  g_autoptr (GMappedFile) file = g_mapped_file_new (path, FALSE, error);
  if (file == NULL)
    return FALSE;
  gsize len = g_mapped_file_get_length (file);
  const char *data = g_mapped_file_get_contents (file);
  if (len >= 16 && memcmp (data, "SQLite format 3", 16) == 0)
    return read_desk_db (path, kind, out, error);
  if (len > ANSIM_NOTE_SET_MAX_SIZE)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s is over %d MiB: not a file of notes", path,
                   ANSIM_NOTE_SET_MAX_SIZE / (1024 * 1024));
      return FALSE;
    }
  /* A file may mix both kinds: the other kind's notes are skipped. */
  const char *other = kind == NULL                             ? NULL
                      : strcmp (kind, "audit-checkpoint") == 0 ? ANSIM_CHAIN_RECEIPT_HEADER "\n"
                                                               : ANSIM_AUDIT_CHECKPOINT_HEADER "\n";
  g_autoptr (GPtrArray) notes = ansim_note_split (data, len);
  for (guint i = 0; i < notes->len; i++)
    if (other == NULL || !g_str_has_prefix (notes->pdata[i], other))
      add_given (out, notes->pdata[i], path);
  return TRUE;
}

#ifdef ANSIM_WITH_PANEL
/* The key to check notes with: --panel-key, else the one beside the
 * panel's database (panel host only); out_origin says which. */
static AnsimDeviceKey *
load_panel_key (const char *panel_key, const char *database, char **out_origin, GError **error)
{
  if (panel_key != NULL)
    {
      *out_origin = g_strdup (panel_key);
      return ansim_device_key_load_public (panel_key, error);
    }
  if (database == NULL)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                   "give the panel's public key with --panel-key FILE");
      return NULL;
    }
  g_autofree char *priv = panel_signing_key_path (database);
  *out_origin = ansim_device_key_public_path (priv);
  return panel_signing_key_open_public (database, error);
}

/* ---- panel-key ------------------------------------------------------------ */

static gboolean
print_panel_key (AnsimctlConfigOptions *o, GError **error)
{
  g_autoptr (AnsimConfig) config = ansimctl_load_config (&ansim_panel_config_schema, o, error);
  if (config == NULL)
    return FALSE;
  g_autofree char *database = ansim_config_get_path (config, "panel", "database");
  g_autofree char *dir = g_path_get_dirname (database);
  if (g_mkdir_with_parents (dir, 0750) < 0)
    {
      int saved = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot create directory '%s': %s", dir, g_strerror (saved));
      return FALSE;
    }
  /* Created here when the panel never ran, as the panel would. */
  g_autoptr (AnsimDeviceKey) key = panel_signing_key_open (database, error);
  if (key == NULL)
    return FALSE;
  g_autofree char *pem = ansim_device_key_get_public_pem (key);
  g_autofree char *vkey = ansim_note_verifier_key (ANSIM_NOTE_PANEL_NAME, key);
  g_autofree char *priv = panel_signing_key_path (database);
  g_autofree char *pub = ansim_device_key_public_path (priv);
  g_print ("%s", pem);
  g_print ("fingerprint: %s\n", ansim_device_key_get_fingerprint (key));
  g_print ("verifier key: %s\n", vkey);
  g_print ("file: %s\n", pub);
  return TRUE;
}

int
ansimctl_panel_key (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autoptr (GOptionContext) context =
    g_option_context_new ("- print the panel's signing key (public part)");
  g_autoptr (GError) error = NULL;
  g_option_context_set_description (
    context, "Prints the public key the panel signs audit checkpoints and chain receipts with\n"
             "(PEM), its fingerprint and its verifier key (C2SP signed-note form). Keep a copy\n"
             "where the panel's administrators cannot change it: docs/receipts.md.");
  ansimctl_add_config_options (context, &o, "panel", FALSE);
  if (!ansimctl_parse (context, &argc, &argv, 0, 0, "panel-key"))
    return 2;
  if (!print_panel_key (&o, &error))
    {
      g_printerr ("ansimctl panel-key: %s\n", error->message);
      return 1;
    }
  return 0;
}

#endif /* ANSIM_WITH_PANEL */

/* ---- notes (desk side) ---------------------------------------------------- */

int
ansimctl_notes (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autofree char *kind = NULL;
  GOptionEntry entries[] = { { "kind", 0, 0, G_OPTION_ARG_STRING, &kind,
                               "Only checkpoint (audit checkpoints) or receipt (chain receipts)",
                               "KIND" },
                             { NULL } };
  g_autoptr (GOptionContext) context =
    g_option_context_new ("- print the signed notes this desk keeps from the panel");
  g_autoptr (GError) error = NULL;
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (
    context, "Prints the audit checkpoints and chain receipts the panel gave this desk, oldest\n"
             "first, as a file of notes for 'ansimctl audit verify --checkpoints' and\n"
             "'ansimctl verify --receipt' (docs/receipts.md).");
  ansimctl_add_config_options (context, &o, "recorder", FALSE);
  if (!ansimctl_parse (context, &argc, &argv, 0, 0, "notes"))
    return 2;
  const char *db_kind = NULL;
  if (kind != NULL && strcmp (kind, "checkpoint") == 0)
    db_kind = "audit-checkpoint";
  else if (kind != NULL && strcmp (kind, "receipt") == 0)
    db_kind = "chain-receipt";
  else if (kind != NULL)
    {
      g_printerr ("ansimctl notes: --kind is checkpoint or receipt, not \"%s\"\n", kind);
      return 2;
    }
  g_autoptr (AnsimConfig) config = ansimctl_load_config (&ansim_recorder_config_schema, &o, &error);
  g_autofree char *database =
    config != NULL ? ansim_config_get_path (config, "recorder", "database") : NULL;
  g_autoptr (GPtrArray) notes = g_ptr_array_new_with_free_func (given_note_free);
  if (config == NULL || !read_desk_db (database, db_kind, notes, &error))
    {
      g_printerr ("ansimctl notes: %s\n", error->message);
      return 1;
    }
  for (guint i = 0; i < notes->len; i++)
    g_print ("%s%s", i > 0 ? "\n" : "", ((GivenNote *) notes->pdata[i])->text);
  return 0;
}

#ifdef ANSIM_WITH_PANEL
/* ---- audit checkpoint, audit verify --checkpoints ------------------------------ */

int
ansimctl_audit_checkpoint (sqlite3 *db, const char *database)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimDeviceKey) key = panel_signing_key_open (database, &error);
  g_autofree char *note = key != NULL ? panel_notes_audit_checkpoint (db, key, &error) : NULL;
  if (note == NULL)
    {
      g_printerr ("ansimctl audit checkpoint: %s\n",
                  error != NULL ? error->message : "the audit log is empty: nothing to sign yet");
      return 1;
    }
  fputs (note, stdout);
  return 0;
}

typedef struct {
  AnsimAuditCheckpoint c;
  const char *origin;
} Checkpoint;

static gint
by_entries (gconstpointer a, gconstpointer b)
{
  const Checkpoint *x = a, *y = b;
  return x->c.entries < y->c.entries ? -1 : x->c.entries > y->c.entries;
}

int
ansimctl_audit_verify_checkpoints (sqlite3 *db, const char *database, char **sources,
                                   const char *panel_key)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *key_origin = NULL;
  g_autoptr (AnsimDeviceKey) key = load_panel_key (panel_key, database, &key_origin, &error);
  if (key == NULL)
    {
      g_printerr ("ansimctl audit verify: the panel's key: %s\n", error->message);
      return 2;
    }
  g_autoptr (GPtrArray) given = g_ptr_array_new_with_free_func (given_note_free);
  for (guint i = 0; sources[i] != NULL; i++)
    if (!read_notes (sources[i], "audit-checkpoint", given, &error))
      {
        g_printerr ("ansimctl audit verify: %s\n", error->message);
        return 2;
      }

  /* Every note must verify; a refused one is a finding, never skipped. */
  guint refused = 0;
  g_autoptr (GArray) cps = g_array_new (FALSE, TRUE, sizeof (Checkpoint));
  for (guint i = 0; i < given->len; i++)
    {
      GivenNote *n = given->pdata[i];
      g_autoptr (GError) e = NULL;
      g_autofree char *text =
        ansim_note_open (n->text, strlen (n->text), ANSIM_NOTE_PANEL_NAME, key, &e);
      Checkpoint cp = { .origin = n->origin };
      if (text == NULL || !ansim_audit_checkpoint_parse (text, &cp.c, &e))
        {
          g_print ("checkpoint REFUSED (%s, note %u): %s\n", n->origin, i + 1, e->message);
          refused++;
          continue;
        }
      g_array_append_val (cps, cp);
    }
  g_print ("info: %u checkpoint%s checked against the panel key %s (%s)\n", cps->len,
           cps->len == 1 ? "" : "s", key_origin, ansim_device_key_get_fingerprint (key));
  if (cps->len == 0 && refused == 0)
    {
      g_print ("no checkpoints found in what was given: nothing to compare\n");
      return 1;
    }
  g_array_sort (cps, by_entries);

  /* The log's hashes by id, in one read. */
  g_autoptr (GHashTable) hashes =
    g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  {
    g_autoptr (sqlite3_stmt) s = ansim_db_prepare (db, "SELECT id, hash FROM audit_log", &error);
    if (s == NULL)
      {
        g_printerr ("ansimctl audit verify: %s\n", error->message);
        return 1;
      }
    while (sqlite3_step (s) == SQLITE_ROW)
      {
        gint64 *id = g_new (gint64, 1);
        *id = sqlite3_column_int64 (s, 0);
        g_hash_table_insert (hashes, id, g_strdup ((const char *) sqlite3_column_text (s, 1)));
      }
  }
  const Checkpoint *first_bad = NULL, *last_good = NULL;
  guint matched = 0;
  for (guint i = 0; i < cps->len; i++)
    {
      const Checkpoint *cp = &g_array_index (cps, Checkpoint, i);
      const char *have = g_hash_table_lookup (hashes, &cp->c.entries);
      if (g_strcmp0 (have, cp->c.head) == 0)
        {
          matched++;
          if (first_bad == NULL)
            last_good = cp;
        }
      else if (first_bad == NULL)
        first_bad = cp;
    }
  if (first_bad == NULL)
    {
      const Checkpoint *newest = &g_array_index (cps, Checkpoint, cps->len - 1);
      g_autofree char *t = ansim_note_format_time (newest->c.time_us);
      g_print (
        "audit log matches %u checkpoint%s held by desks (the newest: entry %" G_GINT64_FORMAT
        ", signed %s)\n",
        matched, matched == 1 ? "" : "s", newest->c.entries, t);
      return refused > 0 ? 1 : 0;
    }
  gint64 first = last_good != NULL ? last_good->c.entries + 1 : 1;
  const char *have = g_hash_table_lookup (hashes, &first_bad->c.entries);
  g_autofree char *bad_time = ansim_note_format_time (first_bad->c.time_us);
  g_autofree char *where = NULL;
  if (first == first_bad->c.entries)
    where = g_strdup_printf ("entry %" G_GINT64_FORMAT, first);
  else
    where = g_strdup_printf ("entry %" G_GINT64_FORMAT
                             " (at or after it, by entry %" G_GINT64_FORMAT
                             "; no checkpoint in between)",
                             first, first_bad->c.entries);
  g_print ("audit log DIVERGES from the checkpoints desks hold: the first diverging entry is %s\n",
           where);
  if (last_good != NULL)
    {
      g_autofree char *t = ansim_note_format_time (last_good->c.time_us);
      g_print ("  entries 1 to %" G_GINT64_FORMAT " match the checkpoint signed %s (%s)\n",
               last_good->c.entries, t, last_good->origin);
    }
  g_print ("  the checkpoint signed %s (%s) says entry %" G_GINT64_FORMAT " had hash %s; %s\n",
           bad_time, first_bad->origin, first_bad->c.entries, first_bad->c.head,
           have != NULL ? "the log's entry has another hash: entries were removed, inserted or "
                          "rewritten and the chain recomputed"
                        : "the log has no such entry: entries were removed");
  return 1;
}

#endif /* ANSIM_WITH_PANEL */

/* ---- verify --receipt ------------------------------------------------------ */

/* What an incident folder or an exported package holds: its manifest's
 * bytes, and the package's panel key (NULL for a folder). */
static gboolean
read_incident (const char *path, GBytes **out_manifest, char **out_key_pem, GError **error)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_autofree char *m = g_build_filename (path, "manifest.json", NULL);
      g_autoptr (GMappedFile) f = g_mapped_file_new (m, FALSE, error);
      if (f == NULL)
        return FALSE;
      *out_manifest = g_mapped_file_get_bytes (f);
      *out_key_pem = NULL;
      return TRUE;
    }
  /* A package: one top folder; read the two members without unpacking. */
  const char *manifest_argv[] = { "tar", "-xOf", path, "--wildcards", "*/incident/manifest.json",
                                  NULL };
  const char *key_argv[] = { "tar", "-xOf", path, "--wildcards", "*/panel-signing.pub.pem", NULL };
  g_autofree char *manifest = NULL, *key = NULL, *err = NULL;
  gsize manifest_len = 0;
  int status = 0;
  if (!g_spawn_sync (NULL, (char **) manifest_argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                     &manifest, &err, &status, error))
    return FALSE;
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                   "%s is neither an incident folder nor a package with incident/manifest.json",
                   path);
      return FALSE;
    }
  manifest_len = strlen (manifest);
  g_clear_pointer (&err, g_free);
  if (g_spawn_sync (NULL, (char **) key_argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &key, &err,
                    &status, NULL)
      && g_spawn_check_wait_status (status, NULL))
    *out_key_pem = g_steal_pointer (&key);
  else
    *out_key_pem = NULL;
  *out_manifest = g_bytes_new_take (g_steal_pointer (&manifest), manifest_len);
  return TRUE;
}

int
ansimctl_check_receipt (const char *receipt_file, const char *panel_key, const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) manifest_bytes = NULL;
  g_autofree char *package_key_pem = NULL;

  if (!read_incident (path, &manifest_bytes, &package_key_pem, &error))
    {
      g_printerr ("ansimctl verify: %s\n", error->message);
      return 2;
    }
  gsize len = 0;
  const char *data = g_bytes_get_data (manifest_bytes, &len);
  g_autoptr (AnsimManifest) m = ansim_manifest_parse (data, len, &error);
  if (m == NULL)
    {
      g_print ("receipt not checked: the manifest cannot be read (%s)\n", error->message);
      return 1;
    }
  char hash[ANSIM_SHA256_HEX_LEN + 1];
  ansim_hash_sha256_hex (data, len, hash);
  const char *device = ansim_manifest_get_device_id (m), *source = ansim_manifest_get_source (m);

  g_autoptr (AnsimDeviceKey) key = NULL;
  g_autofree char *key_origin = NULL;
  if (panel_key != NULL)
    {
      key = ansim_device_key_load_public (panel_key, &error);
      key_origin = g_strdup (panel_key);
    }
  else if (package_key_pem != NULL)
    {
      key = ansim_device_key_new_public_from_pem (package_key_pem, strlen (package_key_pem),
                                                  "the package's panel-signing.pub.pem", &error);
      key_origin = g_strdup ("the package's own panel-signing.pub.pem");
    }
  else
    g_set_error (&error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                 "give the panel's public key with --panel-key FILE");
  if (key == NULL)
    {
      g_printerr ("ansimctl verify: the panel's key: %s\n", error->message);
      return 2;
    }

  g_autoptr (GPtrArray) given = g_ptr_array_new_with_free_func (given_note_free);
  if (!read_notes (receipt_file, "chain-receipt", given, &error))
    {
      g_printerr ("ansimctl verify: --receipt: %s\n", error->message);
      return 2;
    }
  /* The newest verifying receipt of this device and source. */
  g_auto (AnsimChainReceipt) best = { 0 };
  guint refused = 0, others = 0;
  for (guint i = 0; i < given->len; i++)
    {
      GivenNote *n = given->pdata[i];
      g_autoptr (GError) e = NULL;
      g_autofree char *text =
        ansim_note_open (n->text, strlen (n->text), ANSIM_NOTE_PANEL_NAME, key, &e);
      g_auto (AnsimChainReceipt) r = { 0 };
      if (text == NULL || !ansim_chain_receipt_parse (text, &r, &e))
        {
          g_print ("receipt REFUSED (%s, note %u): %s\n", n->origin, i + 1, e->message);
          refused++;
          continue;
        }
      if (g_strcmp0 (r.device, device) != 0 || g_strcmp0 (r.source, source) != 0)
        {
          others++;
          continue;
        }
      if (best.device == NULL || r.time_us > best.time_us)
        {
          ansim_chain_receipt_clear (&best);
          best = r;
          r = (AnsimChainReceipt){ 0 };
        }
    }
  g_print ("info: receipts checked against the panel key %s (%s)\n", key_origin,
           ansim_device_key_get_fingerprint (key));
  if (best.device == NULL)
    {
      g_print ("receipt not usable: %s holds no valid receipt of device %s source %s (%u of "
               "other sources, %u refused)\n",
               receipt_file, device, source != NULL ? source : "(none: format version 1)", others,
               refused);
      return 1;
    }
  g_autofree char *t = ansim_note_format_time (best.time_us);
  const char *prev = ansim_manifest_get_previous_manifest_sha256 (m);
  if (strcmp (best.head, hash) == 0)
    g_print ("receipt: this is the newest incident of device %s source %s the panel held at %s "
             "(%" G_GINT64_FORMAT " incidents)\n",
             device, source, t, best.incidents);
  else if (g_strcmp0 (prev, best.head) == 0
           || (ansim_manifest_is_closed (m)
               && best.time_us < ansim_manifest_get_closed_wall_us (m)))
    g_print ("receipt: the receipt of %s is older than this incident; it shows nothing "
             "withheld\n",
             t);
  else
    {
      g_print ("newer incident withheld: the panel's receipt of %s names the final manifest %s "
               "as the newest of device %s source %s (%" G_GINT64_FORMAT " incidents held); this "
               "incident's manifest is %s\n",
               t, best.head, device, source, best.incidents, hash);
      return 1;
    }
  return refused > 0 ? 1 : 0;
}
