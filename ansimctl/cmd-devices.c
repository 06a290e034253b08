/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ansimctl commands for device identity: enroll-code and revoke on the
 * panel's server, enroll on the desk board. */
#include "ansimctl.h"

#include "client.h"
#include "config.h"
#include "db.h"
#ifdef ANSIM_WITH_PANEL
#include "ingest.h"

int
ansimctl_enroll_code (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autofree char *device = NULL, *desk = NULL;
  int hours = 24;
  GOptionEntry entries[] = {
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "Device id the code admits (required)", "ID" },
    { "desk", 0, 0, G_OPTION_ARG_STRING, &desk, "Desk the device serves", "ID" },
    { "valid-hours", 0, 0, G_OPTION_ARG_INT, &hours, "How long the code is valid (default 24)",
      "H" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- create a one-time enrollment code");
  g_option_context_set_description (
    context, "Run on the panel's server. Give the code to whoever installs the desk board;\n"
             "it is used with `ansimctl enroll --code CODE` there, once.");
  ansimctl_add_config_options (context, &o, "panel", FALSE);
  g_option_context_add_main_entries (context, entries, NULL);
  if (!ansimctl_parse (context, &argc, &argv, 0, 0, "enroll-code"))
    return 2;
  if (device == NULL || hours < 1 || hours > 24 * 30)
    {
      g_printerr ("ansimctl enroll-code: --device ID is required and --valid-hours is 1 to 720\n");
      return 2;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = ansimctl_open_panel_db (&o, NULL, &error);
  g_autofree char *who = g_strdup_printf ("ansimctl:%s", g_get_user_name ());
  g_autofree char *code =
    db != NULL ? panel_enrollment_code_new (db, device, desk, (gint64) hours * 3600, who, &error)
               : NULL;
  if (code == NULL)
    {
      g_printerr ("ansimctl enroll-code: %s\n", error->message);
      return 1;
    }
  g_print ("%s\n", code);
  return 0;
}

int
ansimctl_revoke (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autofree char *device = NULL, *reason = NULL;
  GOptionEntry entries[] = {
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "Device id to revoke (required)", "ID" },
    { "reason", 0, 0, G_OPTION_ARG_STRING, &reason, "Why (required), e.g. 'board stolen'", "TEXT" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- revoke an enrolled device");
  g_option_context_set_description (
    context, "The panel refuses every later request of the device; what it sent before is kept.");
  ansimctl_add_config_options (context, &o, "panel", FALSE);
  g_option_context_add_main_entries (context, entries, NULL);
  if (!ansimctl_parse (context, &argc, &argv, 0, 0, "revoke"))
    return 2;
  if (device == NULL || reason == NULL || *reason == '\0')
    {
      g_printerr ("ansimctl revoke: --device ID and --reason TEXT are required\n");
      return 2;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (sqlite3) db = ansimctl_open_panel_db (&o, NULL, &error);
  g_autofree char *who = g_strdup_printf ("ansimctl:%s", g_get_user_name ());
  if (db == NULL || !panel_device_revoke (db, device, reason, who, &error))
    {
      g_printerr ("ansimctl revoke: %s\n", error->message);
      return 1;
    }
  g_print ("device %s revoked\n", device);
  return 0;
}
#endif /* ANSIM_WITH_PANEL */

int
ansimctl_enroll (int argc, char **argv)
{
  g_auto (AnsimctlConfigOptions) o = { 0 };
  g_autofree char *panel = NULL, *code = NULL;
  g_autofree char *key_path = NULL, *device = NULL, *ca_file = NULL;
  GOptionEntry entries[] = {
    { "panel", 0, 0, G_OPTION_ARG_STRING, &panel, "The panel's URL (default: panel_url)", "URL" },
    { "code", 0, 0, G_OPTION_ARG_STRING, &code, "The enrollment code (required)", "CODE" },
    { "key", 0, 0, G_OPTION_ARG_FILENAME, &key_path,
      "The device's private key (default: device_key; created if missing)", "PATH" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "The device id, checked against the code's",
      "ID" },
    { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file, "CA of the panel's certificate", "FILE" },
    { NULL }
  };
  g_autoptr (GOptionContext) context =
    g_option_context_new ("- enroll this desk board with the site's panel");
  g_option_context_set_description (
    context, "Sends the device's Ed25519 public key with a one-time code from\n"
             "`ansimctl enroll-code`; the request is signed with that key.");
  ansimctl_add_config_options (context, &o, "uploader", FALSE);
  g_option_context_add_main_entries (context, entries, NULL);
  if (!ansimctl_parse (context, &argc, &argv, 0, 0, "enroll"))
    return 2;
  if (code == NULL)
    {
      g_printerr ("ansimctl enroll: --code CODE is required\n");
      return 2;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) config = ansimctl_load_config (&ansim_uploader_config_schema, &o, &error);
  if (config == NULL)
    {
      g_printerr ("ansimctl enroll: %s\n", error->message);
      return 1;
    }
  if (key_path == NULL)
    key_path = ansim_config_get_path (config, "uploader", "device_key");
  if (panel == NULL)
    panel = g_strdup (ansim_config_get_string (config, "uploader", "panel_url"));
  if (ca_file == NULL && ansim_config_has_key (config, "uploader", "ca_file"))
    ca_file = ansim_config_get_path (config, "uploader", "ca_file");

  g_autoptr (AnsimDeviceKey) key = ansim_device_key_load_or_create (key_path, &error);
  if (key == NULL)
    {
      g_printerr ("ansimctl enroll: %s\n", error->message);
      return 1;
    }
  g_autoptr (UploaderClient) client = uploader_client_new (panel, ca_file, key, &error);
  if (client == NULL)
    {
      g_printerr ("ansimctl enroll: %s: %s\n", panel, error->message);
      return 1;
    }
  uploader_client_set_timeout (client, 30);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autofree char *pem = ansim_device_key_get_public_pem (key);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, code);
  json_builder_set_member_name (b, "public_key");
  json_builder_add_string_value (b, pem);
  if (device != NULL)
    {
      json_builder_set_member_name (b, "device_id");
      json_builder_add_string_value (b, device);
    }
  json_builder_end_object (b);
  g_autoptr (GBytes) body = uploader_client_json_body (b);
  guint status = 0;
  g_autoptr (JsonObject) answer = NULL;
  if (!uploader_client_send (client, "POST", "/api/v1/enroll", body, NULL, &status, &answer,
                             &error))
    {
      g_printerr ("ansimctl enroll: %s\n", error->message);
      return 1;
    }
  if (status != 201 || answer == NULL)
    {
      g_autofree char *why = uploader_client_describe (status, answer);
      g_printerr ("ansimctl enroll: the panel refused: %s\n", why);
      return 1;
    }
  g_print ("enrolled as device %s with key %s at %s\n",
           json_object_get_string_member_with_default (answer, "device_id", "?"),
           ansim_device_key_get_fingerprint (key),
           json_object_get_string_member_with_default (answer, "site", "?"));
  return 0;
}
