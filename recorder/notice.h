/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The notice of filming (개인정보 보호법 제25조의2), internal to recorder/:
 * the recording light, a buzzer beep and the configured sound. What was
 * given is recorded as given; the sound only once it has played (a
 * notice-sound event "given"), as failed otherwise. The sink is chosen by
 * notice_output (auto, pulse, alsa), never autoaudiosink. */
#pragma once

#include "alarm.h"
#include "hw.h"

G_BEGIN_DECLS

/* How a notice was given, for its notice-given event. */
typedef struct {
  gint64 at;   /* when; -1: not given yet */
  char *by;    /* "light,buzzer", or "none" */
  char *sound; /* "off", "playing", "failed (...)" */
} RecorderNoticeGiven;

void recorder_notice_given_clear (RecorderNoticeGiven *n);

typedef struct _RecorderNotice RecorderNotice;

/* sound: "none", "beep" or a file; output: auto, pulse or alsa. The
 * notice-sound events go to event_func. */
RecorderNotice *recorder_notice_new (const char *sound, const char *output,
                                     RecorderAlarmEventFunc event_func, gpointer user_data);
/* Gives the notice (the light, if any, already on) and says how in *out. */
void recorder_notice_give (RecorderNotice *self, HwOutput *light, HwOutput *buzzer,
                           RecorderNoticeGiven *out);
/* The incident uuid gets the outcome of the sound now playing. */
void recorder_notice_await_sound (RecorderNotice *self, const char *uuid);
/* Stops the sound playing, if any. */
void recorder_notice_stop (RecorderNotice *self);
void recorder_notice_free (RecorderNotice *self);

G_END_DECLS
