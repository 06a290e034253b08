/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The desk's control socket (the server): simulated presses from `ansimctl
 * press`, the state of the outputs and the recorder's status for `ansimctl
 * status`, the uploader's heartbeat and the tests. It drives hw/ only
 * through hw.h; the client is ansim_control_request (libansim). Keeps
 * true: requests name simulated inputs only; one request line (at most
 * MAX_REQUEST bytes) per connection, one JSON reply line. */
#include "control.h"

#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_REQUEST 512
#define MAX_HOLD_MS 600000
#define LONG_PRESS_MARGIN_MS 300

struct _RecorderControl {
  char *path;
  GSocketService *service;
  GPtrArray *inputs;  /* HwInput*, not owned */
  GPtrArray *outputs; /* HwOutput*, not owned */
  GHashTable *holds;  /* HwInput* -> timeout id of its pending release */
  RecorderControlStatusFunc status_func;
  gpointer status_data;
  RecorderControlCommandFunc command_func;
  gpointer command_data;
};

typedef struct {
  RecorderControl *control;
  GSocketConnection *connection;
  char buffer[MAX_REQUEST + 1];
  gsize length;
  char *reply;
} Client;

typedef struct {
  RecorderControl *control;
  HwInput *input;
} Hold;

static void
client_free (Client *client)
{
  g_object_unref (client->connection);
  g_free (client->reply);
  g_free (client);
}

static HwInput *
find_input (RecorderControl *self, const char *trigger)
{
  for (guint i = 0; i < self->inputs->len; i++)
    {
      HwInput *input = g_ptr_array_index (self->inputs, i);
      if (g_strcmp0 (hw_input_get_trigger (input), trigger) == 0)
        return input;
    }
  return NULL;
}

static char *error_reply (const char *format, ...) G_GNUC_PRINTF (1, 2);

static char *
error_reply (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ok");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static char *
simulated_names (RecorderControl *self)
{
  g_autoptr (GString) names = g_string_new (NULL);
  for (guint i = 0; i < self->inputs->len; i++)
    {
      HwInput *input = g_ptr_array_index (self->inputs, i);
      if (hw_input_get_kind (input) != HW_INPUT_SIMULATED)
        continue;
      if (names->len > 0)
        g_string_append (names, ", ");
      g_string_append (names, hw_input_get_trigger (input));
    }
  return g_string_free (g_steal_pointer (&names), names->len == 0);
}

static gboolean
release_cb (gpointer user_data)
{
  Hold *hold = user_data;
  hw_input_inject (hold->input, FALSE);
  g_hash_table_remove (hold->control->holds, hold->input);
  return G_SOURCE_REMOVE;
}

static void
cancel_hold (RecorderControl *self, HwInput *input)
{
  gpointer id;
  if (g_hash_table_steal_extended (self->holds, input, NULL, &id))
    g_source_remove (GPOINTER_TO_UINT (id));
}

static char *
state_reply (RecorderControl *self, gboolean with_inputs)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ok");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_set_member_name (b, "outputs");
  json_builder_begin_object (b);
  for (guint i = 0; i < self->outputs->len; i++)
    {
      HwOutput *output = g_ptr_array_index (self->outputs, i);
      json_builder_set_member_name (b, hw_output_get_name (output));
      json_builder_add_boolean_value (b, hw_output_get (output));
    }
  json_builder_end_object (b);
  if (with_inputs)
    {
      static const char *const kinds[] = { "gpio", "evdev", "simulated" };
      json_builder_set_member_name (b, "triggers");
      json_builder_begin_array (b);
      for (guint i = 0; i < self->inputs->len; i++)
        {
          HwInput *input = g_ptr_array_index (self->inputs, i);
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "name");
          json_builder_add_string_value (b, hw_input_get_trigger (input));
          json_builder_set_member_name (b, "input");
          json_builder_add_string_value (b, kinds[hw_input_get_kind (input)]);
          json_builder_set_member_name (b, "connected");
          json_builder_add_boolean_value (b, hw_input_is_connected (input));
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      if (self->status_func != NULL)
        self->status_func (b, self->status_data);
    }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static char *
handle_request (RecorderControl *self, const char *line)
{
  g_auto (GStrv) words = g_strsplit_set (line, " \t", -1);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  for (char **w = words; *w != NULL; w++)
    if (**w != '\0')
      g_ptr_array_add (argv, *w);
  guint argc = argv->len;
  const char *verb = argc > 0 ? g_ptr_array_index (argv, 0) : "";

  if (g_str_equal (verb, "outputs") && argc == 1)
    return state_reply (self, FALSE);
  if (g_str_equal (verb, "status") && argc == 1)
    return state_reply (self, TRUE);
  if (self->command_func != NULL && argc > 0)
    {
      g_autoptr (GError) error = NULL;
      gboolean handled = FALSE;
      g_ptr_array_add (argv, NULL);
      gboolean ok = self->command_func (argc, (const char *const *) argv->pdata, &handled,
                                        self->command_data, &error);
      g_ptr_array_remove_index (argv, argc);
      if (handled && !ok)
        return error_reply ("%s", error->message);
      if (handled)
        return g_strdup ("{\"ok\":true}");
    }

  gboolean is_press = g_str_equal (verb, "press");
  if (!(is_press && (argc == 2 || argc == 3))
      && !((g_str_equal (verb, "down") || g_str_equal (verb, "up")) && argc == 2))
    return error_reply ("bad request '%.64s'; expected 'press TRIGGER [HOLD_MS|long]', "
                        "'down TRIGGER', 'up TRIGGER', 'outputs', 'status', 'delivered UUID', "
                        "'acknowledged UUID', 'police-bell UUID REASON' or 'path-ok'",
                        line);

  const char *trigger = g_ptr_array_index (argv, 1);
  HwInput *input = find_input (self, trigger);
  if (input == NULL || hw_input_get_kind (input) != HW_INPUT_SIMULATED)
    {
      g_autofree char *names = simulated_names (self);
      return error_reply ("%s trigger '%.64s'; simulated triggers here: %s",
                          input == NULL ? "unknown" : "not a simulated", trigger,
                          names != NULL ? names : "(none)");
    }

  guint64 hold_ms = 0;
  if (is_press)
    {
      const char *hold = argc == 3 ? g_ptr_array_index (argv, 2) : NULL;
      if (hold == NULL)
        hold_ms = 0; /* filled below: just past the debounce window */
      else if (g_str_equal (hold, "long"))
        hold_ms = (guint64) -1;
      else if (!g_ascii_string_to_unsigned (hold, 10, 1, MAX_HOLD_MS, &hold_ms, NULL))
        return error_reply ("bad hold time '%.32s'; expected milliseconds from 1 to %d or 'long'",
                            hold, MAX_HOLD_MS);
    }

  cancel_hold (self, input);
  if (g_str_equal (verb, "up"))
    {
      hw_input_inject (input, FALSE);
    }
  else
    {
      hw_input_inject (input, TRUE);
      if (is_press)
        {
          guint debounce_ms = 0, long_ms = 0;
          hw_input_get_timing (input, &debounce_ms, &long_ms);
          if (hold_ms == 0)
            hold_ms = debounce_ms + 100;
          else if (hold_ms == (guint64) -1)
            hold_ms = long_ms + LONG_PRESS_MARGIN_MS;
          Hold *h = g_new0 (Hold, 1);
          h->control = self;
          h->input = input;
          guint id = g_timeout_add_full (G_PRIORITY_DEFAULT, hold_ms, release_cb, h, g_free);
          g_hash_table_insert (self->holds, input, GUINT_TO_POINTER (id));
        }
    }

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ok");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_set_member_name (b, "trigger");
  json_builder_add_string_value (b, trigger);
  if (is_press)
    {
      json_builder_set_member_name (b, "hold_ms");
      json_builder_add_int_value (b, (gint64) hold_ms);
    }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static void
reply_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Client *client = user_data;
  g_autoptr (GError) error = NULL;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    g_debug ("control client went away before the reply: %s", error->message);
  client_free (client);
}

static void read_more (Client *client);

static void
request_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Client *client = user_data;
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (n < 0)
    {
      g_debug ("control client read failed: %s", error->message);
      client_free (client);
      return;
    }
  client->length += n;
  client->buffer[client->length] = '\0';
  char *newline = strchr (client->buffer, '\n');
  if (newline == NULL && n > 0 && client->length < MAX_REQUEST)
    {
      read_more (client);
      return;
    }
  if (newline != NULL)
    *newline = '\0';
  else if (client->length >= MAX_REQUEST)
    client->reply = error_reply ("request longer than %d bytes", MAX_REQUEST);
  if (client->reply == NULL)
    client->reply = handle_request (client->control, g_strstrip (client->buffer));

  g_autofree char *line = g_strconcat (client->reply, "\n", NULL);
  g_free (client->reply);
  client->reply = g_steal_pointer (&line);
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (client->connection));
  g_output_stream_write_all_async (out, client->reply, strlen (client->reply), G_PRIORITY_DEFAULT,
                                   NULL, reply_written, client);
}

static void
read_more (Client *client)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (client->connection));
  g_input_stream_read_async (in, client->buffer + client->length, MAX_REQUEST - client->length,
                             G_PRIORITY_DEFAULT, NULL, request_read, client);
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *connection, GObject *source_object,
             gpointer user_data)
{
  (void) service;
  (void) source_object;
  Client *client = g_new0 (Client, 1);
  client->control = user_data;
  client->connection = g_object_ref (connection);
  read_more (client);
  return TRUE;
}

/* A socket file left by a daemon that died is removed; one a live daemon
 * answers on is not ours to take. */
static gboolean
claim_path (const char *path, GError **error)
{
  struct stat st;
  if (lstat (path, &st) < 0)
    return TRUE;
  if (!S_ISSOCK (st.st_mode))
    {
      g_set_error (error, HW_ERROR, HW_ERROR_INVALID,
                   "control socket '%s' exists and is not a socket", path);
      return FALSE;
    }
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketAddress) address = g_unix_socket_address_new (path);
  g_autoptr (GSocketConnection) connection =
    g_socket_client_connect (client, G_SOCKET_CONNECTABLE (address), NULL, NULL);
  if (connection != NULL)
    {
      g_set_error (error, HW_ERROR, HW_ERROR_BUSY,
                   "control socket '%s' is in use by another running recorder", path);
      return FALSE;
    }
  if (unlink (path) < 0 && errno != ENOENT)
    {
      g_set_error (error, HW_ERROR, HW_ERROR_FAILED, "cannot remove stale control socket '%s': %s",
                   path, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

RecorderControl *
recorder_control_new (const char *socket_path, GError **error)
{
  g_return_val_if_fail (socket_path != NULL, NULL);

  if (strlen (socket_path) >= sizeof (((struct sockaddr_un *) NULL)->sun_path))
    {
      g_set_error (error, HW_ERROR, HW_ERROR_INVALID,
                   "control socket path '%s' is %zu bytes, longer than the system allows (%zu): "
                   "choose a shorter control_socket",
                   socket_path, strlen (socket_path),
                   sizeof (((struct sockaddr_un *) NULL)->sun_path) - 1);
      return NULL;
    }
  if (!claim_path (socket_path, error))
    return NULL;
  g_autoptr (RecorderControl) self = g_new0 (RecorderControl, 1);
  self->path = g_strdup (socket_path);
  self->inputs = g_ptr_array_new ();
  self->outputs = g_ptr_array_new ();
  self->holds = g_hash_table_new (NULL, NULL);
  self->service = g_socket_service_new ();

  g_autoptr (GSocketAddress) address = g_unix_socket_address_new (socket_path);
  g_autoptr (GError) local_error = NULL;
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL,
                                      &local_error))
    {
      g_set_error (error, HW_ERROR, HW_ERROR_FAILED, "cannot listen on control socket '%s': %s",
                   socket_path, local_error->message);
      g_clear_object (&self->service);
      return NULL;
    }
  /* The desk's operators (group) may press; nobody else. */
  if (chmod (socket_path, 0660) < 0)
    g_warning ("cannot restrict control socket '%s': %s, leaving it as created", socket_path,
               g_strerror (errno));
  g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);
  g_socket_service_start (self->service);
  return g_steal_pointer (&self);
}

void
recorder_control_free (RecorderControl *self)
{
  if (self == NULL)
    return;
  if (self->service != NULL)
    {
      g_socket_service_stop (self->service);
      g_socket_listener_close (G_SOCKET_LISTENER (self->service));
      g_signal_handlers_disconnect_by_data (self->service, self);
      g_object_unref (self->service);
      unlink (self->path);
    }
  GHashTableIter iter;
  gpointer id;
  g_hash_table_iter_init (&iter, self->holds);
  while (g_hash_table_iter_next (&iter, NULL, &id))
    g_source_remove (GPOINTER_TO_UINT (id));
  g_hash_table_unref (self->holds);
  g_ptr_array_unref (self->inputs);
  g_ptr_array_unref (self->outputs);
  g_free (self->path);
  g_free (self);
}

void
recorder_control_add_input (RecorderControl *self, HwInput *input)
{
  g_ptr_array_add (self->inputs, input);
}

void
recorder_control_add_output (RecorderControl *self, HwOutput *output)
{
  g_ptr_array_add (self->outputs, output);
}

void
recorder_control_set_status_func (RecorderControl *self, RecorderControlStatusFunc func,
                                  gpointer user_data)
{
  self->status_func = func;
  self->status_data = user_data;
}

void
recorder_control_set_command_func (RecorderControl *self, RecorderControlCommandFunc func,
                                   gpointer user_data)
{
  self->command_func = func;
  self->command_data = user_data;
}
