/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The recorder control socket's client (see control-client.h for why it is
 * here and recorder/control.h for the requests). */
#include "control-client.h"

#include <gio/gunixsocketaddress.h>
#include <string.h>

char *
ansim_control_request (const char *socket_path, const char *request, GError **error)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_socket_client_set_timeout (client, 5);
  g_autoptr (GSocketAddress) address = g_unix_socket_address_new (socket_path);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GSocketConnection) connection =
    g_socket_client_connect (client, G_SOCKET_CONNECTABLE (address), NULL, &local_error);
  if (connection == NULL)
    {
      g_set_error (
        error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
        "cannot reach the recorder's control socket '%s': %s (is ansim-recorder running?)",
        socket_path, local_error->message);
      return NULL;
    }
  g_autofree char *line = g_strconcat (request, "\n", NULL);
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  if (!g_output_stream_write_all (out, line, strlen (line), NULL, NULL, error))
    return NULL;
  g_autoptr (GDataInputStream) in =
    g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (connection)));
  g_autofree char *reply = g_data_input_stream_read_line_utf8 (in, NULL, NULL, &local_error);
  if (reply == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "no reply on control socket '%s'%s%s",
                   socket_path, local_error != NULL ? ": " : "",
                   local_error != NULL ? local_error->message : "");
      return NULL;
    }
  return g_steal_pointer (&reply);
}
