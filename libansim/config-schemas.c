/* SPDX-License-Identifier: GPL-3.0-or-later */
/* This file contains the configuration schemas of ansim-recorder,
 * ansim-uploader and ansim-panel, their cross-key checks and built-ins, and
 * the evdev key names (a value coding of the loader). What it must keep
 * true: the schemas register themselves with the loader before main()
 * (config-loader.c names none), in this order; docs/config.md is generated
 * from them. */

#include "config.h"

#include "address-mask.h"
#include "age.h"
#include "util.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <linux/input-event-codes.h>
#include <string.h>

/* ---- evdev key names --------------------------------------------------- */

/* Names a USB panic button or bodycam dock is likely to send. Values come
 * from the kernel header itself, so they cannot be mistyped here; any other
 * key can still be given by its decimal code. */
#define K(name)                                                                                    \
  {                                                                                                \
#name, name                                                                                    \
  }
static const struct {
  const char *name;
  guint16 code;
} key_names[] = {
  K (KEY_A),
  K (KEY_B),
  K (KEY_C),
  K (KEY_D),
  K (KEY_E),
  K (KEY_F),
  K (KEY_G),
  K (KEY_H),
  K (KEY_I),
  K (KEY_J),
  K (KEY_K),
  K (KEY_L),
  K (KEY_M),
  K (KEY_N),
  K (KEY_O),
  K (KEY_P),
  K (KEY_Q),
  K (KEY_R),
  K (KEY_S),
  K (KEY_T),
  K (KEY_U),
  K (KEY_V),
  K (KEY_W),
  K (KEY_X),
  K (KEY_Y),
  K (KEY_Z),
  K (KEY_0),
  K (KEY_1),
  K (KEY_2),
  K (KEY_3),
  K (KEY_4),
  K (KEY_5),
  K (KEY_6),
  K (KEY_7),
  K (KEY_8),
  K (KEY_9),
  K (KEY_F1),
  K (KEY_F2),
  K (KEY_F3),
  K (KEY_F4),
  K (KEY_F5),
  K (KEY_F6),
  K (KEY_F7),
  K (KEY_F8),
  K (KEY_F9),
  K (KEY_F10),
  K (KEY_F11),
  K (KEY_F12),
  K (KEY_F13),
  K (KEY_F14),
  K (KEY_F15),
  K (KEY_F16),
  K (KEY_F17),
  K (KEY_F18),
  K (KEY_F19),
  K (KEY_F20),
  K (KEY_F21),
  K (KEY_F22),
  K (KEY_F23),
  K (KEY_F24),
  K (KEY_KP0),
  K (KEY_KP1),
  K (KEY_KP2),
  K (KEY_KP3),
  K (KEY_KP4),
  K (KEY_KP5),
  K (KEY_KP6),
  K (KEY_KP7),
  K (KEY_KP8),
  K (KEY_KP9),
  K (KEY_ESC),
  K (KEY_ENTER),
  K (KEY_KPENTER),
  K (KEY_SPACE),
  K (KEY_TAB),
  K (KEY_BACKSPACE),
  K (KEY_MINUS),
  K (KEY_EQUAL),
  K (KEY_DOT),
  K (KEY_COMMA),
  K (KEY_SLASH),
  K (KEY_SEMICOLON),
  K (KEY_LEFTCTRL),
  K (KEY_RIGHTCTRL),
  K (KEY_LEFTSHIFT),
  K (KEY_RIGHTSHIFT),
  K (KEY_LEFTALT),
  K (KEY_RIGHTALT),
  K (KEY_LEFTMETA),
  K (KEY_RIGHTMETA),
  K (KEY_CAPSLOCK),
  K (KEY_NUMLOCK),
  K (KEY_SCROLLLOCK),
  K (KEY_SYSRQ),
  K (KEY_PAUSE),
  K (KEY_HOME),
  K (KEY_END),
  K (KEY_PAGEUP),
  K (KEY_PAGEDOWN),
  K (KEY_INSERT),
  K (KEY_DELETE),
  K (KEY_UP),
  K (KEY_DOWN),
  K (KEY_LEFT),
  K (KEY_RIGHT),
  K (KEY_HANGEUL),
  K (KEY_HANJA),
  K (KEY_MUTE),
  K (KEY_VOLUMEUP),
  K (KEY_VOLUMEDOWN),
  K (KEY_MICMUTE),
  K (KEY_POWER),
  K (KEY_SLEEP),
  K (KEY_WAKEUP),
  K (KEY_MENU),
  K (KEY_HELP),
  K (KEY_OK),
  K (KEY_SELECT),
  K (KEY_STOP),
  K (KEY_PLAY),
  K (KEY_PAUSECD),
  K (KEY_PLAYPAUSE),
  K (KEY_PLAYCD),
  K (KEY_STOPCD),
  K (KEY_NEXTSONG),
  K (KEY_PREVIOUSSONG),
  K (KEY_RECORD),
  K (KEY_CAMERA),
  K (KEY_CAMERA_FOCUS),
  K (KEY_VIDEO),
  K (KEY_PHONE),
  K (KEY_CONNECT),
  K (KEY_SEND),
  K (KEY_REPLY),
  K (KEY_HOMEPAGE),
  K (KEY_RESTART),
  K (KEY_VOICECOMMAND),
  K (KEY_SOS),
  K (KEY_PROG1),
  K (KEY_PROG2),
  K (KEY_PROG3),
  K (KEY_PROG4),
  K (BTN_0),
  K (BTN_1),
  K (BTN_2),
  K (BTN_3),
  K (BTN_4),
  K (BTN_5),
  K (BTN_6),
  K (BTN_7),
  K (BTN_8),
  K (BTN_9),
  K (BTN_LEFT),
  K (BTN_RIGHT),
  K (BTN_MIDDLE),
  K (BTN_SIDE),
  K (BTN_EXTRA),
  K (BTN_FORWARD),
  K (BTN_BACK),
  K (BTN_TASK),
  K (BTN_TRIGGER),
  K (BTN_THUMB),
  K (BTN_THUMB2),
  K (BTN_TOP),
  K (BTN_TOP2),
  K (BTN_PINKIE),
  K (BTN_BASE),
  K (BTN_SOUTH),
  K (BTN_EAST),
  K (BTN_NORTH),
  K (BTN_WEST),
  K (BTN_A),
  K (BTN_B),
  K (BTN_X),
  K (BTN_Y),
  K (BTN_TL),
  K (BTN_TR),
  K (BTN_SELECT),
  K (BTN_START),
  K (BTN_MODE),
  K (BTN_TRIGGER_HAPPY1),
  K (BTN_TRIGGER_HAPPY2),
  K (BTN_TRIGGER_HAPPY3),
  K (BTN_TRIGGER_HAPPY4),
  K (BTN_TRIGGER_HAPPY5),
  K (BTN_TRIGGER_HAPPY6),
  K (BTN_TRIGGER_HAPPY7),
  K (BTN_TRIGGER_HAPPY8),
  K (BTN_TRIGGER_HAPPY9),
  K (BTN_TRIGGER_HAPPY10),
  K (BTN_TRIGGER_HAPPY11),
  K (BTN_TRIGGER_HAPPY12),
  K (BTN_TRIGGER_HAPPY13),
  K (BTN_TRIGGER_HAPPY14),
  K (BTN_TRIGGER_HAPPY15),
  K (BTN_TRIGGER_HAPPY16),
};
#undef K

gint
ansim_config_key_code (const char *name)
{
  gint64 code;

  g_return_val_if_fail (name != NULL, -1);
  for (gsize i = 0; i < G_N_ELEMENTS (key_names); i++)
    if (strcmp (key_names[i].name, name) == 0)
      return key_names[i].code;
  /* KEY_RESERVED (0) is never sent. */
  if (g_ascii_isdigit (name[0]) && g_ascii_string_to_signed (name, 10, 1, KEY_MAX, &code, NULL))
    return (gint) code;
  return -1;
}

static gint64
decode_key_code (const char *value, const char **out_problem)
{
  gint code = ansim_config_key_code (value);

  if (code < 0)
    *out_problem = g_ascii_isdigit (value[0]) ? "key code out of range" : "unknown key name";
  return code;
}

static const AnsimConfigCoding key_code = {
  .type_name = "key code",
  .decode = decode_key_code,
  .expected = "a key name from linux/input-event-codes.h (such as KEY_F13 or BTN_0) "
              "or a decimal key code from 1 to 767",
  .allowed_markdown = "`KEY_…`/`BTN_…` name, or decimal code 1 to 767",
};

/* ---- shared helpers for the checks ------------------------------------- */

/* One spelling per chip for conflict checks: "0", "gpiochip0" and
 * "/dev/gpiochip0" are the same chip. Labels cannot be resolved without the
 * hardware; the hw layer reports a busy line at start. */
static char *
normalize_chip (const char *chip)
{
  const char *p = chip;

  if (g_str_has_prefix (p, "/dev/"))
    p += strlen ("/dev/");
  if (g_ascii_isdigit (p[0]) && strspn (p, "0123456789") == strlen (p))
    return g_strdup_printf ("gpiochip%s", p);
  return g_strdup (p);
}

/* Adds a claim on a resource; FALSE with an error if a group holds it already. */
static gboolean
claim (AnsimConfig *config, GHashTable *claims, char *resource, const char *what, const char *group,
       const char *key, GError **error)
{
  const char *holder = g_hash_table_lookup (claims, resource);

  if (holder != NULL)
    {
      g_autofree char *problem = g_strdup_printf ("%s is already used by [%s]", what, holder);

      ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_CONFLICT, group, key, problem,
                              "each line or key used by one trigger or output only");
      g_free (resource);
      return FALSE;
    }
  g_hash_table_insert (claims, resource, (gpointer) group);
  return TRUE;
}

static gboolean
claim_gpio (AnsimConfig *config, GHashTable *claims, const char *group, GError **error)
{
  g_autofree char *chip = normalize_chip (ansim_config_get_string (config, group, "chip"));
  gint64 line = ansim_config_get_int (config, group, "line");
  g_autofree char *what = g_strdup_printf ("GPIO line %" G_GINT64_FORMAT " of %s", line, chip);

  return claim (config, claims, g_strdup_printf ("gpio\n%s\n%" G_GINT64_FORMAT, chip, line), what,
                group, "line", error);
}

/* ---- recorder ---------------------------------------------------------- */

static const char *const trigger_inputs[] = { "gpio", "evdev", "simulated", NULL };
static const char *const trigger_kinds[] = { "button", "bodycam", NULL };
static const char *const gpio_biases[] = { "as-is", "disable", "pull-up", "pull-down", NULL };
static const char *const output_kinds[] = { "gpio", "simulated", NULL };
static const char *const output_names[] = { "recording",   "acknowledged", "buzzer",
                                            "police-bell", "fault",        NULL };
static const char *const police_bell_policies[] = { "on-press", "fallback", "never", NULL };
static const char *const undelivered_signals[] = { "none", "light", "buzzer", "light+buzzer",
                                                   NULL };
static const char *const notice_outputs[] = { "auto", "pulse", "alsa", NULL };
static const char *const h264_encoders[] = { "auto", "v4l2h264enc", "x264enc", "openh264enc",
                                             NULL };
static const char *const source_kinds[] = { "fixed", "wearable", NULL };
static const char *const video_inputs[] = { "test", "v4l2", "rtsp", NULL };
static const char *const audio_inputs[] = { "none", "test", "alsa", "pulse", "rtsp", NULL };

static const AnsimConfigKey recorder_keys[] = {
  { .key = "device_id",
    .type = ANSIM_CONFIG_NAME,
    .required = TRUE,
    .help = "this board's device identifier, unique on the site; the panel knows the board "
            "and its signing key by it" },
  { .key = "data_dir",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "/var/lib/ansim",
    .help = "directory of the database, spool and control socket; the `--data-dir` flag "
            "overrides it" },
  { .key = "database",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "desk.db",
    .help = "SQLite database of incidents, segments, upload outbox and event log, shared "
            "with ansim-uploader" },
  { .key = "spool_dir",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "spool",
    .help = "directory of sealed, encrypted segments until the panel has stored them" },
  { .key = "control_socket",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "control.sock",
    .help = "UNIX socket of the recorder: `ansimctl press` and `ansimctl status` use it" },
  { .key = "uploader_socket",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "uploader.sock",
    .help = "ansim-uploader's wake_socket: the recorder pokes it right after queueing an alert "
            "so the alert leaves at once; no uploader listening is not an error (the alert "
            "goes at its next poll)" },
  { .key = "device_key",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "device.pem",
    .help = "this board's Ed25519 signing key (PKCS#8 PEM), created at the first start with "
            "mode 0600 and its public key beside it (device.pub.pem); a key file group or others "
            "may read is refused. Every manifest is signed with it; `ansimctl status` shows its "
            "fingerprint" },
  { .key = "recipients",
    .type = ANSIM_CONFIG_STRING,
    .help = "age recipients (public keys `age1…`, separated by `;`) every segment is encrypted "
            "to, e.g. the site's key and an escrow key; required when a [source] is configured" },
  { .key = "pre_event_seconds",
    .type = ANSIM_CONFIG_INT,
    .default_value = "30",
    .min = 0,
    .max = 600,
    .help = "seconds of audio and video kept in memory and recorded before each trigger "
            "(from the keyframe at or before that time)" },
  { .key = "post_event_seconds",
    .type = ANSIM_CONFIG_INT,
    .default_value = "120",
    .min = 1,
    .max = 3600,
    .help = "an incident ends this many seconds after its last press; each new press extends it" },
  { .key = "max_incident_seconds",
    .type = ANSIM_CONFIG_INT,
    .default_value = "3600",
    .min = 10,
    .max = 86400,
    .help = "an incident ends after this many seconds of live recording whatever the presses" },
  { .key = "segment_seconds",
    .type = ANSIM_CONFIG_INT,
    .default_value = "2",
    .min = 1,
    .max = 60,
    .help = "length of each sealed segment file; segments are cut at keyframes, so keep it a "
            "multiple of the sources' keyframe interval" },
  { .key = "notice_sound",
    .type = ANSIM_CONFIG_STRING,
    .default_value = "beep",
    .help = "notice of filming played when an incident opens (개인정보 보호법 제25조의2): "
            "`beep`, `none`, or a sound file (e.g. a spoken 녹화를 시작합니다) played through "
            "GStreamer" },
  { .key = "notice_output",
    .type = ANSIM_CONFIG_CHOICE,
    .default_value = "auto",
    .choices = notice_outputs,
    .help = "where the notice sound plays: auto uses a PulseAudio/PipeWire server if one is "
            "running, else an ALSA playback device if /proc/asound/pcm lists one, else there is "
            "no sound output and the notice-given event records `sound: failed (no sound "
            "output)`; pulse or alsa use that sink whatever is found. A sound is recorded as "
            "given only once it has played (a `notice-sound` event)" },
  { .key = "police_bell",
    .type = ANSIM_CONFIG_CHOICE,
    .default_value = "fallback",
    .choices = police_bell_policies,
    .help = "when the [output police-bell] relay (the site's police-linked emergency bell "
            "transmitter) fires: on-press (every press), fallback (only when the panel did not "
            "take the alert within alert_deadline_ms, or did not acknowledge it within "
            "ack_deadline_s), never. The panel may also ask for it (escalation), which every "
            "policy but never follows. Each firing is a `police-bell` event, each refusal a "
            "`police-bell-refused` event" },
  { .key = "alert_deadline_ms",
    .type = ANSIM_CONFIG_INT,
    .default_value = "3000",
    .min = 200,
    .max = 60000,
    .help = "milliseconds from the press edge within which the panel must answer the alert "
            "(2xx); without it the alert is `alert-not-delivered` (event log and manifest), "
            "and the fallback starts" },
  { .key = "ack_deadline_s",
    .type = ANSIM_CONFIG_INT,
    .default_value = "0",
    .min = 0,
    .max = 3600,
    .help = "with police_bell = fallback: seconds from the press within which someone at the "
            "panel must acknowledge the alert, else the relay fires (`alert-not-acknowledged`); "
            "0: not acknowledging is no reason to fire" },
  { .key = "undelivered_signal",
    .type = ANSIM_CONFIG_CHOICE,
    .default_value = "none",
    .choices = undelivered_signals,
    .help = "what the desk shows when an alert was not delivered: none (silent, the default: "
            "a loud sound can escalate the situation), light (the recording light blinks "
            "until the alert gets through or the incident ends), buzzer (three short beeps), "
            "light+buzzer" },
  { .key = "supervision_s",
    .type = ANSIM_CONFIG_INT,
    .default_value = "20",
    .min = 0,
    .max = 3600,
    .help = "the path to the panel is down when the uploader has reported no answer from the "
            "panel for this many seconds (a dead uploader too): the [output fault] line goes "
            "on, `ansimctl status` says PATH DOWN, `path-down` / `path-up` events are logged; "
            "it clears by itself. Keep the uploader's supervision_s the same. 0: no "
            "supervision" },
  { .key = "h264_encoder",
    .type = ANSIM_CONFIG_CHOICE,
    .default_value = "auto",
    .choices = h264_encoders,
    .help = "H.264 encoder: auto picks the first present of v4l2h264enc (Raspberry Pi "
            "hardware), x264enc, openh264enc, and logs which" },
  { .key = "min_free_mb",
    .type = ANSIM_CONFIG_INT,
    .default_value = "256",
    .min = 0,
    .max = 1048576,
    .help = "below this many MB free in spool_dir the disk counts as full: the recorder logs "
            "it, reports it in `ansimctl status` and the uploader's heartbeat, records "
            "`disk-low` in the incident, and holds new segments in memory until space returns "
            "(it never deletes evidence); 0: only when a write fails for lack of space" },
  { .key = "held_segments_mb",
    .type = ANSIM_CONFIG_INT,
    .default_value = "64",
    .min = 1,
    .max = 4096,
    .help = "memory for segments that cannot be written while the disk is full, per "
            "incident; they are written in order when space returns. Beyond it segments are "
            "not kept and the manifest gets a `disk-full` gap entry for their time" },
  { NULL }
};

static const AnsimConfigKey desk_keys[] = {
  { .key = "id",
    .type = ANSIM_CONFIG_NAME,
    .required = TRUE,
    .help = "the desk's identifier, unique on the site; shown in the panel and written in "
            "every manifest" },
  { .key = "name",
    .type = ANSIM_CONFIG_STRING,
    .required = TRUE,
    .help = "the desk's name as staff know it, in UTF-8, e.g. 민원실 1번 창구" },
  { NULL }
};

static const AnsimConfigKey trigger_keys[] = {
  { .key = "input",
    .type = ANSIM_CONFIG_CHOICE,
    .required = TRUE,
    .choices = trigger_inputs,
    .help = "where the signal comes from: a GPIO line, a Linux input device (USB panic "
            "button, bodycam dock), or the control socket (demo and tests)" },
  { .key = "kind",
    .type = ANSIM_CONFIG_CHOICE,
    .default_value = "button",
    .choices = trigger_kinds,
    .help = "the desk's panic button (비상벨), or a worn bodycam's trigger" },
  { .key = "debounce_ms",
    .type = ANSIM_CONFIG_INT,
    .default_value = "30",
    .min = 0,
    .max = 1000,
    .help = "milliseconds a change must hold to count; shorter contact bounce is ignored" },
  { .key = "long_press_ms",
    .type = ANSIM_CONFIG_INT,
    .default_value = "3000",
    .min = 200,
    .max = 60000,
    .help = "milliseconds of holding that make a long press" },
  { .key = "chip",
    .type = ANSIM_CONFIG_STRING,
    .required = TRUE,
    .applies_if = "input=gpio",
    .help = "GPIO chip: name (gpiochip0), path (/dev/gpiochip0), label (pinctrl-bcm2711) "
            "or number; `gpiodetect` lists them" },
  { .key = "line",
    .type = ANSIM_CONFIG_INT,
    .required = TRUE,
    .min = 0,
    .max = 1023,
    .applies_if = "input=gpio",
    .help = "line offset on the chip; on a Raspberry Pi header, the BCM GPIO number" },
  { .key = "active_low",
    .type = ANSIM_CONFIG_BOOL,
    .default_value = "false",
    .applies_if = "input=gpio",
    .help = "true if the line reads low while pressed (button to ground with a pull-up)" },
  { .key = "bias",
    .type = ANSIM_CONFIG_CHOICE,
    .default_value = "as-is",
    .choices = gpio_biases,
    .applies_if = "input=gpio",
    .help = "bias to request on the line: pull-up for a button wired to ground, as-is to "
            "leave it as the board sets it" },
  { .key = "device",
    .type = ANSIM_CONFIG_PATH,
    .required = TRUE,
    .applies_if = "input=evdev",
    .help = "input device; prefer the stable /dev/input/by-id/… link to /dev/input/eventN" },
  { .key = "key",
    .type = ANSIM_CONFIG_CODED,
    .coding = &key_code,
    .required = TRUE,
    .applies_if = "input=evdev",
    .help = "the key the device sends when pressed (`evtest DEVICE` shows it), e.g. KEY_F13, "
            "BTN_0 or 183" },
  { NULL }
};

static const AnsimConfigKey output_keys[] = {
  { .key = "kind",
    .type = ANSIM_CONFIG_CHOICE,
    .required = TRUE,
    .choices = output_kinds,
    .help = "a GPIO line, or simulated (state kept in memory for the demo and tests)" },
  { .key = "chip",
    .type = ANSIM_CONFIG_STRING,
    .required = TRUE,
    .applies_if = "kind=gpio",
    .help = "GPIO chip: name (gpiochip0), path (/dev/gpiochip0), label or number" },
  { .key = "line",
    .type = ANSIM_CONFIG_INT,
    .required = TRUE,
    .min = 0,
    .max = 1023,
    .applies_if = "kind=gpio",
    .help = "line offset on the chip; on a Raspberry Pi header, the BCM GPIO number" },
  { .key = "active_low",
    .type = ANSIM_CONFIG_BOOL,
    .default_value = "false",
    .applies_if = "kind=gpio",
    .help = "true if the line must be driven low to switch the light or buzzer on" },
  { .key = "pulse_ms",
    .type = ANSIM_CONFIG_INT,
    .default_value = "0",
    .min = 0,
    .max = 60000,
    .help = "[output police-bell] only: how long the relay closes when it fires; 0 holds it "
            "until the incident is acknowledged or ends (use a pulse for a transmitter that "
            "latches on a short contact)" },
  { NULL }
};

static const AnsimConfigKey source_keys[] = {
  { .key = "kind",
    .type = ANSIM_CONFIG_CHOICE,
    .required = TRUE,
    .choices = source_kinds,
    .help = "fixed: a mounted desk camera, video only (개인정보 보호법 제25조⑤ forbids sound "
            "on fixed cameras); wearable: a bodycam, video and audio" },
  { .key = "video",
    .type = ANSIM_CONFIG_CHOICE,
    .default_value = "test",
    .choices = video_inputs,
    .help = "test (GStreamer test picture with a running clock and frame counter), v4l2 (USB "
            "or CSI camera) or rtsp (network camera; its H.264 is passed through)" },
  { .key = "device",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "/dev/video0",
    .applies_if = "video=v4l2",
    .help = "V4L2 device; prefer the stable /dev/v4l/by-id/… link" },
  { .key = "url",
    .type = ANSIM_CONFIG_STRING,
    .required = TRUE,
    .applies_if = "video=rtsp",
    .help = "rtsp:// URL of the camera's stream" },
  { .key = "audio",
    .type = ANSIM_CONFIG_CHOICE,
    .default_value = "none",
    .choices = audio_inputs,
    .help = "sound recorded with the video, encoded as Opus: none, test (a test tone), alsa, "
            "pulse (PulseAudio or PipeWire), or rtsp (the stream's own audio track)" },
  { .key = "audio_device",
    .type = ANSIM_CONFIG_STRING,
    .default_value = "default",
    .applies_if = "audio=alsa",
    .help = "ALSA device, e.g. hw:1,0 or default; `arecord -L` lists them" },
  { .key = "agency_audio_override",
    .type = ANSIM_CONFIG_BOOL,
    .default_value = "false",
    .help = "true lets a fixed source record sound anyway, on the agency's own legal "
            "responsibility; logged as a warning at every start" },
  { .key = "triggers",
    .type = ANSIM_CONFIG_STRING,
    .help = "the [trigger] names (separated by `;`) that start this source's recording; "
            "default: every trigger" },
  { .key = "width",
    .type = ANSIM_CONFIG_INT,
    .default_value = "1280",
    .min = 16,
    .max = 7680,
    .help = "picture width in pixels (test and v4l2 sources)" },
  { .key = "height",
    .type = ANSIM_CONFIG_INT,
    .default_value = "720",
    .min = 16,
    .max = 4320,
    .help = "picture height in pixels (test and v4l2 sources)" },
  { .key = "framerate",
    .type = ANSIM_CONFIG_INT,
    .default_value = "30",
    .min = 1,
    .max = 120,
    .help = "frames per second (test and v4l2 sources)" },
  { .key = "bitrate_kbps",
    .type = ANSIM_CONFIG_INT,
    .default_value = "2000",
    .min = 64,
    .max = 50000,
    .help = "H.264 bit rate in kbit/s (test and v4l2 sources)" },
  { .key = "keyframe_ms",
    .type = ANSIM_CONFIG_INT,
    .default_value = "1000",
    .min = 100,
    .max = 10000,
    .help = "milliseconds between keyframes (test and v4l2 sources); the pre-event buffer "
            "and segments start at keyframes" },
  { NULL }
};

static const AnsimConfigGroup recorder_groups[] = {
  { .name = "recorder",
    .required = TRUE,
    .keys = recorder_keys,
    .help = "this desk board and where the recorder keeps its data" },
  { .name = "desk", .required = TRUE, .keys = desk_keys, .help = "the front desk the board serves" },
  { .name = "trigger",
    .named = TRUE,
    .required = TRUE,
    .keys = trigger_keys,
    .help = "an input that starts an incident; NAME (e.g. desk-button, bodycam) is how the "
            "panel and the event log call it" },
  { .name = "output",
    .named = TRUE,
    .keys = output_keys,
    .instances = output_names,
    .help = "a light, buzzer or relay the recorder drives: recording (recording light, also "
            "the notice that recording is on), acknowledged (\"help is coming\" light), "
            "buzzer, police-bell (relay into the site's police-linked emergency bell "
            "transmitter; see police_bell), fault (on while the path to the panel is down; "
            "see supervision_s); an output not configured is not driven" },
  { .name = "source",
    .named = TRUE,
    .keys = source_keys,
    .help = "a camera (and microphone) the recorder keeps a pre-event buffer of and records "
            "when one of its triggers fires; each source's recording is its own incident" },
  { NULL }
};

static gboolean
check_sources (AnsimConfig *config, char **triggers, GError **error)
{
  g_auto (GStrv) sources = ansim_config_list_named (config, "source");
  const char *recipients = ansim_config_get_string (config, "recorder", "recipients");

  if (sources[0] != NULL && (recipients == NULL || *recipients == '\0'))
    {
      ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_MISSING, "recorder", "recipients",
                              "missing, but sources are configured",
                              "the age recipient(s) segments are encrypted to, e.g. age1…");
      return FALSE;
    }
  if (recipients != NULL)
    {
      g_auto (GStrv) parts = g_strsplit (recipients, ";", -1);
      guint n = 0;

      for (char **r = parts; *r != NULL; r++)
        {
          g_autoptr (GError) local = NULL;
          g_autoptr (AnsimAgeRecipient) parsed = NULL;

          g_strstrip (*r);
          if (**r == '\0')
            continue;
          parsed = ansim_age_recipient_parse (*r, &local);
          if (parsed == NULL)
            {
              ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_TYPE, "recorder",
                                      "recipients", local->message,
                                      "age recipients age1… separated by ';'");
              return FALSE;
            }
          n++;
        }
      if (n == 0)
        {
          ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_TYPE, "recorder", "recipients",
                                  "no recipient given", "age recipients age1… separated by ';'");
          return FALSE;
        }
    }
  for (char **s = sources; *s != NULL; s++)
    {
      const char *kind = ansim_config_get_string (config, *s, "kind");
      const char *audio = ansim_config_get_string (config, *s, "audio");
      const char *video = ansim_config_get_string (config, *s, "video");
      const char *served = ansim_config_get_string (config, *s, "triggers");

      /* 개인정보 보호법 제25조⑤: no sound on fixed cameras unless the agency
     * takes that decision explicitly. */
      if (strcmp (kind, "fixed") == 0 && strcmp (audio, "none") != 0
          && !ansim_config_get_bool (config, *s, "agency_audio_override"))
        {
          ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_CONFLICT, *s, "audio",
                                  "sound recording on a fixed camera is forbidden "
                                  "(개인정보 보호법 제25조⑤)",
                                  "audio = none, kind = wearable, or agency_audio_override = true "
                                  "on the agency's own responsibility");
          return FALSE;
        }
      if (strcmp (audio, "rtsp") == 0 && strcmp (video, "rtsp") != 0)
        {
          ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_CONFLICT, *s, "audio",
                                  "the rtsp audio track needs video = rtsp",
                                  "audio = none, test, alsa or pulse");
          return FALSE;
        }
      if (served != NULL)
        {
          g_auto (GStrv) names = g_strsplit (served, ";", -1);

          for (char **n = names; *n != NULL; n++)
            {
              g_autofree char *group = NULL;

              g_strstrip (*n);
              group = g_strdup_printf ("trigger %s", *n);
              if (!g_strv_contains ((const char *const *) triggers, group))
                {
                  g_autofree char *problem = g_strdup_printf ("no [trigger %s] is configured", *n);

                  ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_CONFLICT, *s,
                                          "triggers", problem,
                                          "names of [trigger NAME] groups separated by ';'");
                  return FALSE;
                }
            }
        }
    }
  return TRUE;
}

static gboolean
recorder_check (AnsimConfig *config, GError **error)
{
  g_autoptr (GHashTable) claims = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto (GStrv) triggers = ansim_config_list_named (config, "trigger");
  g_auto (GStrv) outputs = ansim_config_list_named (config, "output");

  /* Two inputs on one line would fight over it at start; a typo giving two
   * triggers the same line would leave one dead. */
  for (char **t = triggers; *t != NULL; t++)
    {
      const char *input = ansim_config_get_string (config, *t, "input");

      if (strcmp (input, "gpio") == 0)
        {
          if (!claim_gpio (config, claims, *t, error))
            return FALSE;
        }
      else if (strcmp (input, "evdev") == 0)
        {
          g_autofree char *device = ansim_config_get_path (config, *t, "device");
          gint64 code = ansim_config_get_int (config, *t, "key");
          g_autofree char *what = g_strdup_printf ("key %" G_GINT64_FORMAT " of %s", code, device);

          if (!claim (config, claims,
                      g_strdup_printf ("evdev\n%s\n%" G_GINT64_FORMAT, device, code), what, *t,
                      "key", error))
            return FALSE;
        }
    }
  for (char **o = outputs; *o != NULL; o++)
    if (strcmp (ansim_config_get_string (config, *o, "kind"), "gpio") == 0
        && !claim_gpio (config, claims, *o, error))
      return FALSE;
  return check_sources (config, triggers, error);
}

const AnsimConfigSchema ansim_recorder_config_schema = {
  .program = "ansim-recorder",
  .main_group = "recorder",
  .groups = recorder_groups,
  .embedded_defaults =
    "# The demo desk: simulated button and bodycam, simulated lights, test\n"
    "# cameras. The recipient's identity is config/demo-identity.txt (public).\n"
    "[recorder]\n"
    "device_id = demo-desk\n"
    "recipients = age1zgfel6e3l4l0pcvjusy2hxdedxx7kgqk7sxmlznvmvyaxtl9lcsqenup9c\n"
    "post_event_seconds = 20\n"
    "\n"
    "[desk]\n"
    "id = desk-1\n"
    "name = 민원실 1번 창구\n"
    "\n"
    "[trigger desk-button]\n"
    "input = simulated\n"
    "kind = button\n"
    "\n"
    "[trigger bodycam]\n"
    "input = simulated\n"
    "kind = bodycam\n"
    "\n"
    "[output recording]\n"
    "kind = simulated\n"
    "\n"
    "[output acknowledged]\n"
    "kind = simulated\n"
    "\n"
    "[output buzzer]\n"
    "kind = simulated\n"
    "\n"
    "[source desk-camera]\n"
    "kind = fixed\n"
    "video = test\n"
    "width = 640\n"
    "height = 360\n"
    "framerate = 15\n"
    "bitrate_kbps = 600\n"
    "\n"
    "[source bodycam]\n"
    "kind = wearable\n"
    "video = test\n"
    "audio = test\n"
    "triggers = bodycam\n"
    "width = 480\n"
    "height = 270\n"
    "framerate = 15\n"
    "bitrate_kbps = 400\n",
  .check = recorder_check,
};

/* ---- uploader ---------------------------------------------------------- */

static const AnsimConfigKey uploader_keys[] = {
  { .key = "data_dir",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "/var/lib/ansim",
    .help = "the recorder's data_dir (shared database and spool); the `--data-dir` flag "
            "overrides it" },
  { .key = "database",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "desk.db",
    .help = "the database ansim-recorder writes; its outbox is what gets uploaded" },
  { .key = "panel_url",
    .type = ANSIM_CONFIG_URL,
    .default_value = "http://127.0.0.1:8080",
    .help = "base URL of the site's ansim-panel; use https:// anywhere but on one machine" },
  { .key = "ca_file",
    .type = ANSIM_CONFIG_PATH,
    .help = "PEM file of the CA that signed the panel's certificate, if the system's CA store "
            "does not have it; https:// only" },
  { .key = "device_key",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "device.pem",
    .help = "the board's Ed25519 private key (the recorder's `device_key`, same file); signs "
            "every request to the panel" },
  { .key = "spool_dir",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "spool",
    .help = "the recorder's spool_dir: outbox paths are relative to it" },
  { .key = "wake_socket",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "uploader.sock",
    .help = "UNIX datagram socket the recorder pokes when it queues an alert, so it goes at once" },
  { .key = "recorder_socket",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "control.sock",
    .help = "the recorder's control_socket: heartbeats report its triggers' and outputs' state" },
  { .key = "poll_interval",
    .type = ANSIM_CONFIG_INT,
    .default_value = "5",
    .min = 1,
    .max = 3600,
    .help = "seconds between looks at the outbox when nobody wakes the uploader" },
  { .key = "supervision_s",
    .type = ANSIM_CONFIG_INT,
    .default_value = "20",
    .min = 0,
    .max = 3600,
    .help = "the recorder's supervision_s (same value): the uploader tells the recorder every "
            "answer of the panel (`path-ok`, at most once a second) and sends heartbeats often "
            "enough for the recorder to see the path up; 0: no supervision" },
  { .key = "heartbeat_interval",
    .type = ANSIM_CONFIG_INT,
    .default_value = "0",
    .min = 0,
    .max = 86400,
    .help = "seconds between heartbeats to the panel (disk free, queue, clock, the recorder's "
            "state and path). 0: supervision_s / 4 (at least 1; 60 without supervision). It "
            "must be at most supervision_s / 2, so two heartbeats fit in the window. A panel "
            "that does not answer is tried again at this interval at most, whatever the "
            "retry backoff" },
  { .key = "acknowledgement_poll_ms",
    .type = ANSIM_CONFIG_INT,
    .default_value = "500",
    .min = 100,
    .max = 60000,
    .help = "while the panel reports an alert of this desk as still open (for at most 15 "
            "minutes after it was sent) and the channel is not working (channel = false, or "
            "no answer on it), heartbeats come this often (milliseconds) so the 'help is "
            "coming' light still follows the console's Acknowledge within a second" },
  { .key = "channel",
    .type = ANSIM_CONFIG_BOOL,
    .default_value = "true",
    .help = "keep the panel's push channel open (a long poll, docs/protocol.md): the console's "
            "Acknowledge reaches the recorder's 'help is coming' light within about 100 ms, and "
            "a police-bell request at once; false leaves only heartbeats and upload answers "
            "(acknowledgement_poll_ms)" },
  { .key = "channel_wait_ms",
    .type = ANSIM_CONFIG_INT,
    .default_value = "15000",
    .min = 1000,
    .max = 25000,
    .help = "how long the panel may hold one channel request when it has nothing to say "
            "(milliseconds); a request not answered 5 s after this counts as dead and is asked "
            "again" },
  { .key = "retry_min",
    .type = ANSIM_CONFIG_INT,
    .default_value = "1",
    .min = 1,
    .max = 3600,
    .help = "seconds before the first retry after a failure; doubles each time, with jitter" },
  { .key = "retry_max",
    .type = ANSIM_CONFIG_INT,
    .default_value = "300",
    .min = 1,
    .max = 86400,
    .help = "ceiling of the retry delay in seconds" },
  { .key = "request_timeout",
    .type = ANSIM_CONFIG_INT,
    .default_value = "120",
    .min = 1,
    .max = 3600,
    .help = "seconds one request may take before it is abandoned and retried" },
  { .key = "keep_after_upload",
    .type = ANSIM_CONFIG_INT,
    .default_value = "604800",
    .min = 0,
    .max = 31536000,
    .help = "seconds a segment stays on the desk after the panel confirmed it stored it" },
  { .key = "max_send_rate",
    .type = ANSIM_CONFIG_INT,
    .default_value = "0",
    .min = 0,
    .max = 10000000,
    .help = "upload bandwidth cap in KiB/s; 0 = no cap" },
  { NULL }
};

static const AnsimConfigGroup uploader_groups[] = {
  { .name = "uploader",
    .required = TRUE,
    .keys = uploader_keys,
    .help = "where the uploader finds the desk's outbox and how it reaches the panel" },
  { NULL }
};

static gboolean
uploader_check (AnsimConfig *config, GError **error)
{
  const char *url = ansim_config_get_string (config, "uploader", "panel_url");

  /* A CA file on a plain-http URL means the operator believes traffic is
   * protected when it is not. */
  if (ansim_config_get_int (config, "uploader", "retry_min")
      > ansim_config_get_int (config, "uploader", "retry_max"))
    {
      ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_CONFLICT, "uploader", "retry_min",
                              "larger than retry_max", "retry_min <= retry_max");
      return FALSE;
    }
  gint64 supervision = ansim_config_get_int (config, "uploader", "supervision_s");
  gint64 heartbeat = ansim_config_get_int (config, "uploader", "heartbeat_interval");
  if (supervision > 0 && heartbeat > 0 && heartbeat * 2 > supervision)
    {
      g_autofree char *problem = g_strdup_printf ("%" G_GINT64_FORMAT " s cannot keep a path "
                                                  "supervised for %" G_GINT64_FORMAT " s up",
                                                  heartbeat, supervision);
      g_autofree char *expected = g_strdup_printf ("at most supervision_s / 2 (%" G_GINT64_FORMAT
                                                   "), 0 for supervision_s / 4, or "
                                                   "supervision_s = 0",
                                                   supervision / 2);

      ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_CONFLICT, "uploader",
                              "heartbeat_interval", problem, expected);
      return FALSE;
    }
  if (ansim_config_has_key (config, "uploader", "ca_file")
      && g_ascii_strncasecmp (url, "https:", strlen ("https:")) != 0)
    {
      g_autofree char *problem =
        g_strdup_printf ("only meaningful with https, but panel_url is '%s'", url);

      ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_CONFLICT, "uploader", "ca_file",
                              problem, "an https:// panel_url, or no ca_file");
      return FALSE;
    }
  return TRUE;
}

const AnsimConfigSchema ansim_uploader_config_schema = {
  .program = "ansim-uploader",
  .main_group = "uploader",
  .groups = uploader_groups,
  .embedded_defaults = "# The demo: the panel on this machine.\n"
                       "[uploader]\n"
                       "panel_url = http://127.0.0.1:8080\n",
  .check = uploader_check,
};

/* ---- panel ------------------------------------------------------------- */

static const char *const panel_stores[] = { "filesystem", "s3", NULL };
static const char *const s3_addressings[] = { "path", "virtual-host", NULL };
static const char *const s3_lock_modes[] = { "governance", "compliance", NULL };

static const AnsimConfigKey panel_keys[] = {
  { .key = "data_dir",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "/var/lib/ansim-panel",
    .help = "directory of the panel's database and stored evidence; the `--data-dir` flag "
            "overrides it" },
  { .key = "database",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "panel.db",
    .help = "the site's incident log and audit log (SQLite)" },
  { .key = "listen_address",
    .type = ANSIM_CONFIG_STRING,
    .default_value = "127.0.0.1",
    .help = "IP address to listen on (IPv4 or IPv6), or * for every address" },
  { .key = "port",
    .type = ANSIM_CONFIG_INT,
    .default_value = "8080",
    .min = 0,
    .max = 65535,
    .help = "TCP port of the web console and the ingest API; 0 picks a free port (tests)" },
  { .key = "site_name",
    .type = ANSIM_CONFIG_STRING,
    .default_value = "ansim demo site",
    .help = "the site's name shown in the console, e.g. 종로구청" },
  { .key = "store",
    .type = ANSIM_CONFIG_CHOICE,
    .default_value = "filesystem",
    .choices = panel_stores,
    .help = "where evidence blobs go: `filesystem` (store_dir on this server) or `s3` "
            "(S3-compatible object storage such as a Ceph RADOS Gateway or MinIO, with Object "
            "Lock; the s3_* keys)" },
  { .key = "store_dir",
    .type = ANSIM_CONFIG_PATH,
    .default_value = "store",
    .help = "directory of stored evidence for the filesystem store" },
  { .key = "max_body_size",
    .type = ANSIM_CONFIG_INT,
    .default_value = "64",
    .min = 1,
    .max = 4096,
    .help = "largest request body the ingest API accepts, in MiB (413 above, answered from the "
            "headers before the body is read)" },
  { .key = "max_bodies_in_memory",
    .type = ANSIM_CONFIG_INT,
    .default_value = "128",
    .min = 1,
    .max = 65536,
    .help = "request bodies all requests together may hold in memory, in MiB; a request that "
            "would go over gets 503 with Retry-After before its body is read (segment uploads "
            "are staged on disk under data_dir/staging and do not count)" },
  { .key = "clock_skew",
    .type = ANSIM_CONFIG_INT,
    .default_value = "300",
    .min = 5,
    .max = 86400,
    .help = "seconds a signed request's time may differ from the panel's clock (older: refused)" },
  { .key = "desk_clock_tolerance_ms",
    .type = ANSIM_CONFIG_INT,
    .default_value = "2000",
    .min = 0,
    .max = 86400000,
    .help = "milliseconds a desk's clock may be off the panel's before the console's incident "
            "page flags the incident and reads its times by the panel's clock" },
  { .key = "tls_certificate",
    .type = ANSIM_CONFIG_PATH,
    .help =
      "PEM certificate (chain) for HTTPS; with tls_key the panel serves HTTPS only, "
      "marks session cookies Secure and sends HSTS. Unset: plain HTTP (loopback, or behind a reverse "
      "proxy that terminates HTTPS)" },
  { .key = "tls_key",
    .type = ANSIM_CONFIG_PATH,
    .help = "PEM private key of tls_certificate; readable only by the panel's user" },
  { .key = "allow_plain_http",
    .type = ANSIM_CONFIG_BOOL,
    .default_value = "false",
    .help = "serve plain HTTP on an address other than loopback: only behind a reverse proxy "
            "that terminates HTTPS (session cookies are then Secure when a proxy in "
            "trusted_proxies says `X-Forwarded-Proto: https`); without it such a listen_address "
            "needs tls_certificate and tls_key" },
  { .key = "session_lifetime_s",
    .type = ANSIM_CONFIG_INT,
    .default_value = "43200",
    .min = 5,
    .max = 604800,
    .help = "seconds a console login lasts (default: a 12-hour shift); then the person logs "
            "in again" },
  { .key = "login_failures_per_account",
    .type = ANSIM_CONFIG_INT,
    .default_value = "5",
    .min = 1,
    .max = 1000,
    .help = "failed logins for one user from one client after which that client waits before "
            "its next try for that user: 1 s, then twice as long after each further failure, "
            "at most login_lockout_s (HTTP 429 with Retry-After). Other clients of the user "
            "are not slowed; `ansimctl user unlock` clears it" },
  { .key = "login_failures_per_address",
    .type = ANSIM_CONFIG_INT,
    .default_value = "20",
    .min = 1,
    .max = 10000,
    .help = "failed logins under names that are no user, from one client within "
            "login_lockout_s, after which that client's further tries under such names are "
            "answered as wrong without a password check (tries for real users go on)" },
  { .key = "login_lockout_s",
    .type = ANSIM_CONFIG_INT,
    .default_value = "300",
    .min = 1,
    .max = 86400,
    .help = "the longest wait between login tries of one user from one client; failures "
            "are forgotten this long after the last one" },
  { .key = "login_audit_window_s",
    .type = ANSIM_CONFIG_INT,
    .default_value = "60",
    .min = 1,
    .max = 3600,
    .help = "login tries refused by throttling are written to the audit log as one "
            "login-throttled entry per user (or 'unknown user names') and client per this "
            "many seconds, with their count" },
  { .key = "trusted_proxies",
    .type = ANSIM_CONFIG_STRING,
    .default_value = "",
    .help = "addresses or networks (CIDR) of reverse proxies in front of the panel, "
            "separated by commas, e.g. 127.0.0.1, ::1; only for a connection from one of "
            "them are X-Forwarded-For (to tell clients apart for login throttling and the "
            "audit log) and X-Forwarded-Proto (Secure cookies behind a TLS proxy) believed. "
            "Empty: every client is the connection's address" },
  { .key = "access_purpose",
    .type = ANSIM_CONFIG_BOOL,
    .default_value = "false",
    .help = "ask for the purpose (열람 목적) when someone opens an incident; the answer "
            "is written into the incident-viewed audit entry" },
  { .key = "s3_endpoint",
    .type = ANSIM_CONFIG_URL,
    .required = TRUE,
    .applies_if = "store=s3",
    .help = "base URL of the S3 service, without bucket or path, e.g. "
            "https://s3.jongno.example or http://127.0.0.1:7480" },
  { .key = "s3_region",
    .type = ANSIM_CONFIG_STRING,
    .default_value = "us-east-1",
    .applies_if = "store=s3",
    .help = "region the requests are signed for (SigV4); Ceph and MinIO accept us-east-1" },
  { .key = "s3_bucket",
    .type = ANSIM_CONFIG_STRING,
    .required = TRUE,
    .applies_if = "store=s3",
    .help = "the site's bucket: 3 to 63 lower-case letters, digits, '-' or '.'; create it with "
            "Object Lock enabled" },
  { .key = "s3_addressing",
    .type = ANSIM_CONFIG_CHOICE,
    .default_value = "path",
    .choices = s3_addressings,
    .applies_if = "store=s3",
    .help = "path (ENDPOINT/BUCKET/KEY) or virtual-host (BUCKET.HOST/KEY, needs DNS for the "
            "bucket's name)" },
  { .key = "s3_credentials_file",
    .type = ANSIM_CONFIG_PATH,
    .required = TRUE,
    .applies_if = "store=s3",
    .help = "AWS-style credentials file ([default] aws_access_key_id, aws_secret_access_key), "
            "owned by the panel's user and readable by it only (mode 600), else refused" },
  { .key = "s3_ca_file",
    .type = ANSIM_CONFIG_PATH,
    .applies_if = "store=s3",
    .help = "PEM file of the CA that signed the S3 service's certificate, if the system's CA "
            "store does not have it; https:// only" },
  { .key = "s3_retention_days",
    .type = ANSIM_CONFIG_INT,
    .default_value = "30",
    .min = 0,
    .max = 36500,
    .applies_if = "store=s3",
    .help = "0: the bucket has no Object Lock, objects are stored without lock or legal hold; "
            "otherwise objects are locked until their incident's expiry under the retention "
            "policy (extended when it grows, legal hold while the incident is held), and this "
            "many days from receipt for an object the policy gives no date" },
  { .key = "s3_lock_mode",
    .type = ANSIM_CONFIG_CHOICE,
    .default_value = "governance",
    .choices = s3_lock_modes,
    .applies_if = "store=s3",
    .help = "governance (a privileged user can still delete, so footage can be destroyed when "
            "the law requires) or compliance (nobody can delete before the date)" },
  { .key = "s3_multipart_threshold_mib",
    .type = ANSIM_CONFIG_INT,
    .default_value = "64",
    .min = 5,
    .max = 5120,
    .applies_if = "store=s3",
    .help = "objects of this many MiB or more are sent in parts (multipart upload)" },
  { .key = "s3_part_size_mib",
    .type = ANSIM_CONFIG_INT,
    .default_value = "16",
    .min = 5,
    .max = 5120,
    .applies_if = "store=s3",
    .help = "size of each part of a multipart upload in MiB; not above the threshold" },
  { .key = "s3_max_attempts",
    .type = ANSIM_CONFIG_INT,
    .default_value = "5",
    .min = 1,
    .max = 20,
    .applies_if = "store=s3",
    .help = "tries per request on server errors (5xx) and network failures, with exponential "
            "backoff; after the last the upload is answered 503 and the desk retries later" },
  { .key = "s3_timeout",
    .type = ANSIM_CONFIG_INT,
    .default_value = "120",
    .min = 5,
    .max = 3600,
    .applies_if = "store=s3",
    .help = "seconds one request (one part) may take before it counts as failed" },
  { .key = "site_identity",
    .type = ANSIM_CONFIG_PATH,
    .help = "the site's age identity file (AGE-SECRET-KEY-1…), with which the panel decrypts "
            "segments for playback in the console; must be owned by the panel's user and "
            "readable by nobody else, or the panel refuses to start. Unset: no playback" },
  { .key = "purge_interval_s",
    .type = ANSIM_CONFIG_INT,
    .default_value = "3600",
    .min = 0,
    .max = 86400,
    .help = "seconds between two passes of the purge, which deletes incidents whose retention "
            "period (set by admins in the console) is over, and of the extension of Object "
            "Lock dates; 0: never on its own (`ansimctl purge --now` only)" },
  { .key = "device_offline_after_s",
    .type = ANSIM_CONFIG_INT,
    .default_value = "180",
    .min = 2,
    .max = 86400,
    .help = "a desk device with no heartbeat for this many seconds is shown offline and "
            "raises its own alert on the console (once, recorded as a device-offline event); "
            "keep it a few times the uploaders' heartbeat_interval" },
  { .key = "escalate_after_s",
    .type = ANSIM_CONFIG_INT,
    .default_value = "30",
    .min = 1,
    .max = 3600,
    .help = "an alert nobody acknowledged for this many seconds is escalated: an escalated "
            "event on its incidents' timelines, the banner on every logged-in console "
            "whatever the role, its escalated webhooks and, unless it is a drill, a request "
            "to its desk to fire the police bell" },
  { .key = "playback_idle_s",
    .type = ANSIM_CONFIG_INT,
    .default_value = "60",
    .min = 1,
    .max = 3600,
    .help = "a console's viewing of an incident with no video served for this many seconds "
            "is written to the audit log as one playback entry with the time ranges watched "
            "(also when the panel stops, or at its next start after a crash)" },
  { NULL }
};

const char *const ansim_webhook_events[] = { "alert",    "escalated",      "acknowledged",
                                             "resolved", "device-offline", "path-down",
                                             NULL };

static const AnsimConfigKey webhook_keys[] = {
  { .key = "url",
    .type = ANSIM_CONFIG_URL,
    .required = TRUE,
    .help = "where each event is POSTed as signed JSON (docs/webhooks.md), e.g. the agency's "
            "SMS or messenger gateway; use https:// beyond the panel's own machine" },
  { .key = "secret",
    .type = ANSIM_CONFIG_STRING,
    .help = "the shared HMAC-SHA256 key the receiver checks each X-Ansim-Signature with, 16 "
            "bytes or more; give this or secret_file, not both" },
  { .key = "secret_file",
    .type = ANSIM_CONFIG_PATH,
    .help = "a file holding the secret (its first line), readable by the panel's user only; "
            "keeps the key out of panel.conf" },
  { .key = "events",
    .type = ANSIM_CONFIG_STRING,
    .required = TRUE,
    .help = "the events sent, separated by `;`: alert, escalated, acknowledged, resolved, "
            "device-offline, path-down" },
  { .key = "timeout_ms",
    .type = ANSIM_CONFIG_INT,
    .default_value = "5000",
    .min = 100,
    .max = 60000,
    .help = "milliseconds one delivery attempt may take before it counts as failed" },
  { .key = "retry_initial_ms",
    .type = ANSIM_CONFIG_INT,
    .default_value = "1000",
    .min = 10,
    .max = 600000,
    .help = "wait before the first retry of a failed delivery; each further retry waits twice "
            "as long (with random jitter) up to retry_max_s" },
  { .key = "retry_max_s",
    .type = ANSIM_CONFIG_INT,
    .default_value = "300",
    .min = 1,
    .max = 86400,
    .help = "the longest wait between two attempts" },
  { .key = "give_up_after_h",
    .type = ANSIM_CONFIG_INT,
    .default_value = "168",
    .min = 1,
    .max = 720,
    .help = "hours after which an undelivered event is given up (recorded in the delivery "
            "list and the event log as webhook-gave-up), so later events are not held back" },
  { NULL }
};

static const AnsimConfigGroup panel_groups[] = {
  { .name = "panel",
    .required = TRUE,
    .keys = panel_keys,
    .help = "the site server: evidence store, web console and ingest API" },
  { .name = "webhook",
    .named = TRUE,
    .keys = webhook_keys,
    .help = "an outgoing webhook: chosen events POSTed as signed JSON, delivered at least once "
            "in order from an outbox in the panel's database (docs/webhooks.md)" },
  { NULL }
};

/* The first line of a webhook's secret_file: long enough, and the file
 * readable by nobody but the panel's user. */
static gboolean
secret_file_check (AnsimConfig *config, const char *group, GError **error)
{
  g_autofree char *path = ansim_config_get_path (config, group, "secret_file");
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  GStatBuf st;

  if (!g_file_get_contents (path, &text, NULL, &local))
    {
      ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_TYPE, group, "secret_file",
                              local->message, "a readable file holding the secret");
      return FALSE;
    }
  if (g_stat (path, &st) == 0 && (st.st_mode & 077) != 0)
    {
      g_autofree char *problem = g_strdup_printf ("%s is readable by others (mode %04o)", path,
                                                  (guint) (st.st_mode & 07777));

      ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_TYPE, group, "secret_file", problem,
                              "a file of mode 0600 or 0400 owned by the panel's user");
      return FALSE;
    }
  if (strcspn (text, "\r\n") < ANSIM_WEBHOOK_MIN_SECRET)
    {
      g_autofree char *problem =
        g_strdup_printf ("the secret in %s is too short (%zu bytes)", path, strcspn (text, "\r\n"));

      ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_RANGE, group, "secret_file",
                              problem,
                              "a random secret of 16 bytes or more on the first line, "
                              "e.g. from `openssl rand -hex 32`");
      return FALSE;
    }
  return TRUE;
}

/* Each [webhook NAME]: a secret (one way, long enough) and known events. */
static gboolean
webhooks_check (AnsimConfig *config, GError **error)
{
  g_auto (GStrv) hooks = ansim_config_list_named (config, "webhook");

  for (char **h = hooks; *h != NULL; h++)
    {
      const char *secret = ansim_config_get_string (config, *h, "secret");
      gboolean has_file = ansim_config_has_key (config, *h, "secret_file");
      g_auto (GStrv) events = g_strsplit (ansim_config_get_string (config, *h, "events"), ";", -1);
      guint n = 0;

      if ((secret != NULL) == has_file)
        {
          ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_CONFLICT, *h, "secret",
                                  has_file ? "given together with secret_file"
                                           : "missing (and no secret_file)",
                                  "either secret or secret_file");
          return FALSE;
        }
      if (secret != NULL && strlen (secret) < ANSIM_WEBHOOK_MIN_SECRET)
        {
          g_autofree char *problem = g_strdup_printf ("too short (%zu bytes)", strlen (secret));

          ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_RANGE, *h, "secret", problem,
                                  "a random secret of 16 bytes or more, e.g. from "
                                  "`openssl rand -hex 32`");
          return FALSE;
        }
      if (has_file && !secret_file_check (config, *h, error))
        return FALSE;
      for (char **e = events; *e != NULL; e++)
        {
          g_strstrip (*e);
          if (**e == '\0')
            continue;
          if (!g_strv_contains (ansim_webhook_events, *e))
            {
              g_autofree char *problem = g_strdup_printf ("unknown event '%s'", *e);

              ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_RANGE, *h, "events",
                                      problem,
                                      "alert, escalated, acknowledged, resolved, device-offline or "
                                      "path-down, separated by ';'");
              return FALSE;
            }
          n++;
        }
      if (n == 0)
        {
          ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_RANGE, *h, "events",
                                  "no event given",
                                  "alert, escalated, acknowledged, resolved, "
                                  "device-offline or path-down, separated by ';'");
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
store_check (AnsimConfig *config, GError **error)
{
  const char *bucket, *endpoint;
  gsize n;

  if (strcmp (ansim_config_get_string (config, "panel", "store"), "s3") != 0)
    return TRUE;
  bucket = ansim_config_get_string (config, "panel", "s3_bucket");
  n = strlen (bucket);
  if (n < 3 || n > 63 || !g_ascii_isalnum (bucket[0]) || !g_ascii_isalnum (bucket[n - 1])
      || strspn (bucket, "abcdefghijklmnopqrstuvwxyz0123456789-.") != n)
    {
      ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_TYPE, "panel", "s3_bucket",
                              "not a valid bucket name",
                              "3 to 63 lower-case letters, digits, '-' or '.', starting and "
                              "ending with a letter or digit");
      return FALSE;
    }
  endpoint = ansim_config_get_string (config, "panel", "s3_endpoint");
  {
    g_autoptr (GUri) uri = g_uri_parse (endpoint, G_URI_FLAGS_NONE, NULL);

    if (uri == NULL || (*g_uri_get_path (uri) != '\0' && strcmp (g_uri_get_path (uri), "/") != 0)
        || g_uri_get_query (uri) != NULL)
      {
        ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_TYPE, "panel", "s3_endpoint",
                                "has a path or query",
                                "the service's base URL, e.g. "
                                "https://s3.example.org or http://127.0.0.1:7480; the bucket goes "
                                "in s3_bucket");
        return FALSE;
      }
    if (strcmp (ansim_config_get_string (config, "panel", "s3_addressing"), "virtual-host") == 0
        && g_hostname_is_ip_address (g_uri_get_host (uri)))
      {
        ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_CONFLICT, "panel",
                                "s3_addressing",
                                "virtual-host needs a host name, but s3_endpoint "
                                "is an IP address",
                                "path, or an s3_endpoint with a host name");
        return FALSE;
      }
  }
  if (ansim_config_has_key (config, "panel", "s3_ca_file")
      && g_ascii_strncasecmp (endpoint, "https:", strlen ("https:")) != 0)
    {
      g_autofree char *problem = g_strdup_printf ("only meaningful with https, but s3_endpoint "
                                                  "is '%s'",
                                                  endpoint);

      ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_CONFLICT, "panel", "s3_ca_file",
                              problem, "an https:// s3_endpoint, or no s3_ca_file");
      return FALSE;
    }
  if (ansim_config_get_int (config, "panel", "s3_part_size_mib")
      > ansim_config_get_int (config, "panel", "s3_multipart_threshold_mib"))
    {
      ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_CONFLICT, "panel",
                              "s3_part_size_mib", "larger than s3_multipart_threshold_mib",
                              "a part size not above the multipart threshold");
      return FALSE;
    }
  return TRUE;
}

static gboolean
panel_check (AnsimConfig *config, GError **error)
{
  const char *address = ansim_config_get_string (config, "panel", "listen_address");
  g_autoptr (GInetAddress) inet = NULL;

  if (ansim_config_has_key (config, "panel", "tls_certificate")
      != ansim_config_has_key (config, "panel", "tls_key"))
    {
      gboolean has_cert = ansim_config_has_key (config, "panel", "tls_certificate");
      ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_MISSING, "panel",
                              has_cert ? "tls_key" : "tls_certificate",
                              has_cert ? "missing while tls_certificate is set"
                                       : "missing while tls_key is set",
                              "both tls_certificate and tls_key, or neither");
      return FALSE;
    }
  if (!webhooks_check (config, error))
    return FALSE;
  {
    g_autoptr (GError) local = NULL;
    g_autoptr (GPtrArray) proxies = ansim_address_masks_parse (
      ansim_config_get_string (config, "panel", "trusted_proxies"), &local);
    if (proxies == NULL)
      {
        ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_RANGE, "panel", "trusted_proxies",
                                local->message,
                                "addresses or networks such as 127.0.0.1, ::1, 10.0.0.0/8, "
                                "separated by commas");
        return FALSE;
      }
  }
  if (strcmp (address, "*") != 0)
    {
      inet = g_inet_address_new_from_string (address);
      if (inet == NULL)
        {
          ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_TYPE, "panel", "listen_address",
                                  "not an IP address",
                                  "an IPv4 or IPv6 address such as 127.0.0.1, 0.0.0.0 or ::1, or "
                                  "* for every address");
          return FALSE;
        }
    }
  /* Passwords and session cookies in clear on a network: only when the
   * operator says a TLS proxy is in front. */
  if ((inet == NULL || !g_inet_address_get_is_loopback (inet))
      && !ansim_config_has_key (config, "panel", "tls_certificate")
      && !ansim_config_get_bool (config, "panel", "allow_plain_http"))
    {
      ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_CONFLICT, "panel", "listen_address",
                              "plain HTTP on an address other than loopback",
                              "tls_certificate and tls_key, a loopback address such as "
                              "127.0.0.1, or allow_plain_http = true behind a reverse proxy that "
                              "terminates HTTPS");
      return FALSE;
    }
  return store_check (config, error);
}

const AnsimConfigSchema ansim_panel_config_schema = {
  .program = "ansim-panel",
  .main_group = "panel",
  .groups = panel_groups,
  .embedded_defaults = "# The demo: local only.\n"
                       "[panel]\n"
                       "listen_address = 127.0.0.1\n"
                       "port = 8080\n",
  .check = panel_check,
};

/* ---- all of them ------------------------------------------------------- */

const AnsimConfigSchema *const ansim_config_schemas[] = { &ansim_recorder_config_schema,
                                                          &ansim_uploader_config_schema,
                                                          &ansim_panel_config_schema, NULL };

/* Before main(): detection and the loader's hints know the schemas only
 * from this registration. Any program that names a schema links this file,
 * so the registration comes with it. */
__attribute__ ((constructor)) static void
register_schemas (void)
{
  for (guint i = 0; ansim_config_schemas[i] != NULL; i++)
    ansim_config_register_schema (ansim_config_schemas[i]);
}

char *
ansim_config_reference_markdown (void)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; ansim_config_schemas[i] != NULL; i++)
    {
      g_autofree char *md = ansim_config_schema_to_markdown (ansim_config_schemas[i]);

      if (i > 0)
        g_string_append_c (out, '\n');
      g_string_append (out, md);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}
