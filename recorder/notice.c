/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The notice of filming (개인정보 보호법 제25조의2): the recording light,
 * a buzzer beep and the configured sound. It must keep true: the sound is
 * recorded as given (notice-sound) only once it has played, as failed
 * otherwise (no sound output, a pipeline that cannot start or errs); the
 * sink is never autoaudiosink. */
#include "notice.h"

#include <gst/gst.h>
#include <string.h>

struct _RecorderNotice {
  char *sound;
  char *output;        /* auto, pulse, alsa */
  GstElement *playing; /* the notice sound playing, or NULL */
  GPtrArray *uuids;    /* incidents waiting for the notice sound's outcome */
  RecorderAlarmEventFunc event_func;
  gpointer user_data;
};

void
recorder_notice_given_clear (RecorderNoticeGiven *n)
{
  g_clear_pointer (&n->by, g_free);
  g_clear_pointer (&n->sound, g_free);
}

/* The notice sound's outcome, as an event of every incident it was for. */
static void
notice_sound_done (RecorderNotice *self, const char *result, const char *why)
{
  g_autofree char *short_why = why != NULL ? recorder_detail_text (why) : NULL;
  const char *detail[] = { "sound", result, short_why != NULL ? "error" : NULL, short_why, NULL };
  for (guint i = 0; i < self->uuids->len; i++)
    self->event_func (self->uuids->pdata[i], 0, NULL, "notice-sound", g_get_monotonic_time (),
                      detail, self->user_data);
  g_ptr_array_set_size (self->uuids, 0);
}

static gboolean
on_notice_bus (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  (void) bus;
  RecorderNotice *self = user_data;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    {
      g_autoptr (GError) error = NULL;
      gst_message_parse_error (msg, &error, NULL);
      g_warning ("notice sound: %s; recorded as failed, the recording light is the notice",
                 error->message);
      notice_sound_done (self, "failed", error->message);
    }
  else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS)
    {
      g_message ("notice sound played");
      notice_sound_done (self, "given", NULL);
    }
  else
    return G_SOURCE_CONTINUE;
  gst_element_set_state (self->playing, GST_STATE_NULL);
  g_clear_pointer (&self->playing, gst_object_unref);
  return G_SOURCE_REMOVE;
}

/* A PulseAudio (or PipeWire's pulse) server socket to talk to. */
static gboolean
have_pulse_server (void)
{
  const char *server = g_getenv ("PULSE_SERVER");
  if (server != NULL && *server != '\0')
    {
      /* "unix:/path" or a path: it must exist; anything else (tcp:) is trusted. */
      const char *path = g_str_has_prefix (server, "unix:") ? server + 5 : server;
      return path[0] != '/' || g_file_test (path, G_FILE_TEST_EXISTS);
    }
  const char *runtime = g_getenv ("XDG_RUNTIME_DIR");
  g_autofree char *native = runtime != NULL && *runtime != '\0'
                              ? g_build_filename (runtime, "pulse", "native", NULL)
                              : NULL;
  return native != NULL && g_file_test (native, G_FILE_TEST_EXISTS);
}

/* An ALSA playback device, as /proc/asound/pcm lists them. */
static gboolean
have_alsa_playback (void)
{
  g_autofree char *pcm = NULL;
  return g_file_get_contents ("/proc/asound/pcm", &pcm, NULL, NULL)
         && strstr (pcm, "playback") != NULL;
}

/* The sink for the notice: notice_output = pulse or alsa as asked; auto
 * the first there is of a pulse server and an ALSA playback device. Never
 * autoaudiosink: with neither it ends in openalsink, which fails noisily
 * (and leaks under ASan). NULL with why: no sound output. */
static const char *
pick_notice_sink (RecorderNotice *self, const char **out_why)
{
  if (g_str_equal (self->output, "pulse"))
    return "pulsesink";
  if (g_str_equal (self->output, "alsa"))
    return "alsasink";
  if (have_pulse_server ())
    return "pulsesink";
  if (have_alsa_playback ())
    return "alsasink";
  *out_why = "no sound output";
  return NULL;
}

/* Starts the notice sound; its outcome comes as a notice-sound event.
 * Returns what the notice-given event says of it: "off", "playing" or
 * "failed (why)". */
static char *
start_notice_sound (RecorderNotice *self)
{
  if (g_str_equal (self->sound, "none"))
    return g_strdup ("off");
  if (self->playing != NULL)
    return g_strdup ("playing");
  const char *why = NULL;
  const char *sink = pick_notice_sink (self, &why);
  if (sink == NULL)
    {
      g_warning ("notice sound: %s; recorded as failed, the recording light is the notice", why);
      return g_strdup_printf ("failed (%s)", why);
    }
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = NULL;
  if (g_str_equal (self->sound, "beep"))
    desc = g_strdup_printf ("audiotestsrc wave=sine freq=880 num-buffers=20 ! audioconvert ! "
                            "audioresample ! %s",
                            sink);
  else
    {
      g_autofree char *uri = g_filename_to_uri (self->sound, NULL, NULL);
      desc = g_strdup_printf ("playbin uri=\"%s\" audio-sink=%s", uri != NULL ? uri : "", sink);
    }
  self->playing = gst_parse_launch (desc, &error);
  if (self->playing == NULL)
    {
      g_warning ("notice sound: %s; recorded as failed, the recording light is the notice",
                 error->message);
      g_autofree char *why_short = recorder_detail_text (error->message);
      return g_strdup_printf ("failed (%s)", why_short);
    }
  g_autoptr (GstBus) bus = gst_element_get_bus (self->playing);
  gst_bus_add_watch (bus, on_notice_bus, self);
  /* A sink that cannot open posts an error on the bus: that records it. */
  gst_element_set_state (self->playing, GST_STATE_PLAYING);
  return g_strdup ("playing");
}

/* The notice of filming (개인정보 보호법 제25조의2): the recording light
 * (already on), a buzzer beep and the configured sound. What was given is
 * recorded as given; the sound only once it has played (notice-sound). */
void
recorder_notice_give (RecorderNotice *self, HwOutput *light, HwOutput *buzzer,
                      RecorderNoticeGiven *out)
{
  g_autoptr (GString) by = g_string_new (NULL);

  out->at = g_get_monotonic_time ();
  if (light != NULL && hw_output_get (light))
    g_string_append (by, "light");
  if (buzzer != NULL && hw_output_pulse (buzzer, 300, NULL))
    g_string_append (by, by->len > 0 ? ",buzzer" : "buzzer");
  out->by = by->len > 0 ? g_string_free (g_steal_pointer (&by), FALSE) : g_strdup ("none");
  out->sound = start_notice_sound (self);
}

RecorderNotice *
recorder_notice_new (const char *sound, const char *output, RecorderAlarmEventFunc event_func,
                     gpointer user_data)
{
  RecorderNotice *self = g_new0 (RecorderNotice, 1);
  self->sound = g_strdup (sound);
  self->output = g_strdup (output);
  self->uuids = g_ptr_array_new_with_free_func (g_free);
  self->event_func = event_func;
  self->user_data = user_data;
  return self;
}

void
recorder_notice_await_sound (RecorderNotice *self, const char *uuid)
{
  g_ptr_array_add (self->uuids, g_strdup (uuid));
}

void
recorder_notice_stop (RecorderNotice *self)
{
  if (self->playing != NULL)
    {
      gst_element_set_state (self->playing, GST_STATE_NULL);
      g_clear_pointer (&self->playing, gst_object_unref);
    }
}

void
recorder_notice_free (RecorderNotice *self)
{
  if (self == NULL)
    return;
  recorder_notice_stop (self);
  g_free (self->sound);
  g_free (self->output);
  g_ptr_array_unref (self->uuids);
  g_free (self);
}
