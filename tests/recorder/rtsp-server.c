/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Test helper: a network camera on loopback (gst-rtsp-server), H.264 test
 * picture at /cam, with Opus sound at /av, until killed.   rtsp-server PORT */
#include <gst/rtsp-server/rtsp-server.h>

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  if (argc != 2)
    {
      g_printerr ("usage: %s PORT\n", argv[0]);
      return 2;
    }
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr (GstRTSPServer) server = gst_rtsp_server_new ();
  gst_rtsp_server_set_address (server, "127.0.0.1");
  gst_rtsp_server_set_service (server, argv[1]);
  g_autoptr (GstRTSPMediaFactory) factory = gst_rtsp_media_factory_new ();
  gst_rtsp_media_factory_set_launch (
    factory, "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=25/1 "
             "! x264enc tune=zerolatency speed-preset=ultrafast bitrate=300 key-int-max=25 "
             "! rtph264pay name=pay0 pt=96 config-interval=-1 )");
  gst_rtsp_media_factory_set_shared (factory, TRUE);
  gst_rtsp_media_factory_set_protocols (factory, GST_RTSP_LOWER_TRANS_TCP);
  /* /av: the same picture with its own sound track (Opus), as a bodycam
   * with a microphone sends it. */
  g_autoptr (GstRTSPMediaFactory) av = gst_rtsp_media_factory_new ();
  gst_rtsp_media_factory_set_launch (
    av, "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=25/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast bitrate=300 key-int-max=25 "
        "! rtph264pay name=pay0 pt=96 config-interval=-1 "
        "audiotestsrc is-live=true wave=ticks ! audio/x-raw,channels=1,rate=48000 ! opusenc "
        "! rtpopuspay name=pay1 pt=97 )");
  gst_rtsp_media_factory_set_shared (av, TRUE);
  gst_rtsp_media_factory_set_protocols (av, GST_RTSP_LOWER_TRANS_TCP);
  g_autoptr (GstRTSPMountPoints) mounts = gst_rtsp_server_get_mount_points (server);
  gst_rtsp_mount_points_add_factory (mounts, "/cam", g_object_ref (factory));
  gst_rtsp_mount_points_add_factory (mounts, "/av", g_object_ref (av));
  if (gst_rtsp_server_attach (server, NULL) == 0)
    {
      g_printerr ("rtsp-server: cannot listen on port %s\n", argv[1]);
      return 1;
    }
  g_print ("rtsp-server: ready\n");
  g_main_loop_run (loop);
  return 0;
}
