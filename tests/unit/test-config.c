/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of the configuration loader: a table of bad files each refused with
 * a one-line message, the shipped examples and built-ins, getters, docs. */

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "config.h"
#include "durable.h"
#include "test-common.h"

/* ---- fixture: a private temporary directory ---------------------------- */

typedef struct {
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  (void) data;
  f->dir = test_make_tmp_dir ("ansim-test-config-XXXXXX");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  ansim_remove_tree (f->dir, NULL);
  g_free (f->dir);
}

static char *
write_file (Fixture *f, const char *name, const char *content, gssize len)
{
  char *path = g_build_filename (f->dir, name, NULL);

  test_write_file (path, content, len);
  return path;
}

static char *
source_path (const char *first, ...)
{
  const char *root = g_getenv ("ANSIM_SOURCE_ROOT");
  g_autofree char *base = root != NULL ? g_strdup (root)
                                       : g_test_build_filename (G_TEST_DIST, "..", NULL);
  g_autoptr (GPtrArray) parts = g_ptr_array_new ();
  va_list ap;

  g_ptr_array_add (parts, base);
  va_start (ap, first);
  for (const char *p = first; p != NULL; p = va_arg (ap, const char *))
    g_ptr_array_add (parts, (gpointer) p);
  va_end (ap);
  g_ptr_array_add (parts, NULL);
  return g_build_filenamev ((char **) parts->pdata);
}

/* ---- the table of bad files -------------------------------------------- */

/* 7 lines: the file's triggers and outputs start on line 8. */
#define HEAD "[recorder]\ndevice_id = d1\n\n[desk]\nid = desk-1\nname = 민원실 1번 창구\n\n"
#define SIM_TRIGGER "[trigger desk-button]\ninput = simulated\n"
#define TEST_RECIPIENT "age1j28cctq7cmxc7zmzvehyqq2dwzl670h8afvycwz80vstkf6wdgkqcajaaa"
#define GPIO_TRIGGER "[trigger desk-button]\ninput = gpio\nchip = gpiochip0\n"

typedef struct {
  const char *name;
  const AnsimConfigSchema *schema;
  const char *content;
  gssize len; /* 0: NUL-terminated */
  AnsimConfigErrorCode code;
  const char *expected; /* substring of the message, after the directory */
} BadCase;

static const BadCase bad_cases[] = {
  { "unknown-group", &ansim_recorder_config_schema,
    HEAD "[triger desk-button]\ninput = simulated\n", 0, ANSIM_CONFIG_ERROR_UNKNOWN_GROUP,
    "recorder.conf:8: [triger desk-button]: unknown group; expected one of: [recorder], [desk], "
    "[trigger NAME], [output NAME], [source NAME] (did you mean [trigger desk-button]?)" },
  { "fixed-source-audio", &ansim_recorder_config_schema,
    "[recorder]\ndevice_id = d1\nrecipients = " TEST_RECIPIENT "\n[desk]\nid = desk-1\n"
    "name = n\n" SIM_TRIGGER "[source cam]\nkind = fixed\naudio = test\n",
    0, ANSIM_CONFIG_ERROR_CONFLICT,
    "[source cam] audio = 'test': sound recording on a fixed camera is forbidden" },
  { "source-without-recipients", &ansim_recorder_config_schema,
    HEAD SIM_TRIGGER "[source cam]\nkind = wearable\n", 0, ANSIM_CONFIG_ERROR_MISSING,
    "recipients: missing, but sources are configured" },
  { "bad-recipient", &ansim_recorder_config_schema,
    "[recorder]\ndevice_id = d1\nrecipients = age1nope\n[desk]\nid = desk-1\nname = n\n" SIM_TRIGGER,
    0, ANSIM_CONFIG_ERROR_TYPE, "[recorder] recipients = 'age1nope': " },
  { "source-unknown-trigger", &ansim_recorder_config_schema,
    "[recorder]\ndevice_id = d1\nrecipients = " TEST_RECIPIENT "\n[desk]\nid = desk-1\n"
    "name = n\n" SIM_TRIGGER "[source cam]\nkind = fixed\ntriggers = desk-buton\n",
    0, ANSIM_CONFIG_ERROR_CONFLICT,
    "[source cam] triggers = 'desk-buton': no [trigger desk-buton]" },
  { "rtsp-without-url", &ansim_recorder_config_schema,
    "[recorder]\ndevice_id = d1\nrecipients = " TEST_RECIPIENT "\n[desk]\nid = desk-1\n"
    "name = n\n" SIM_TRIGGER "[source cam]\nkind = fixed\nvideo = rtsp\n",
    0, ANSIM_CONFIG_ERROR_MISSING, "[source cam] url: missing" },
  { "unknown-key", &ansim_recorder_config_schema, HEAD SIM_TRIGGER "debounce = 30\n", 0,
    ANSIM_CONFIG_ERROR_UNKNOWN_KEY,
    "recorder.conf:10: [trigger desk-button] debounce = '30': unknown key; expected one of: "
    "input, kind, debounce_ms, long_press_ms, chip, line, active_low, bias, device, key "
    "(did you mean 'debounce_ms'?)" },
  { "duplicate-plain-group", &ansim_recorder_config_schema, HEAD "[desk]\n", 0,
    ANSIM_CONFIG_ERROR_DUPLICATE, "recorder.conf:8: [desk]: duplicate group, first at line 4" },
  { "unknown-key-output", &ansim_recorder_config_schema,
    HEAD SIM_TRIGGER "[output recording]\nkind = simulated\nknd = gpio\n", 0,
    ANSIM_CONFIG_ERROR_UNKNOWN_KEY,
    "recorder.conf:12: [output recording] knd = 'gpio': unknown key; expected one of: kind, "
    "chip, line, active_low, pulse_ms (did you mean 'kind'?)" },
  { "unknown-key-localized", &ansim_recorder_config_schema,
    "[recorder]\ndevice_id = d1\n[desk]\nid = desk-1\nname = x\nname[ko] = 창구\n", 0,
    ANSIM_CONFIG_ERROR_UNKNOWN_KEY,
    "recorder.conf:6: [desk] name[ko] = '창구': unknown key; expected one of: id, name" },
  { "int-type", &ansim_recorder_config_schema, HEAD GPIO_TRIGGER "line = abc\n", 0,
    ANSIM_CONFIG_ERROR_TYPE,
    "recorder.conf:11: [trigger desk-button] line = 'abc': not an integer; "
    "expected an integer from 0 to 1023" },
  { "int-with-unit", &ansim_recorder_config_schema, HEAD SIM_TRIGGER "debounce_ms = 30ms\n", 0,
    ANSIM_CONFIG_ERROR_TYPE,
    "recorder.conf:10: [trigger desk-button] debounce_ms = '30ms': not an integer; "
    "expected an integer from 0 to 1000" },
  { "bool-type", &ansim_recorder_config_schema, HEAD GPIO_TRIGGER "line = 17\nactive_low = yes\n",
    0, ANSIM_CONFIG_ERROR_TYPE,
    "recorder.conf:12: [trigger desk-button] active_low = 'yes': not a boolean; "
    "expected true or false" },
  { "out-of-range", &ansim_recorder_config_schema, HEAD SIM_TRIGGER "debounce_ms = 5000\n", 0,
    ANSIM_CONFIG_ERROR_RANGE,
    "recorder.conf:10: [trigger desk-button] debounce_ms = '5000': out of range; "
    "expected an integer from 0 to 1000" },
  { "out-of-range-huge", &ansim_recorder_config_schema,
    HEAD GPIO_TRIGGER "line = 99999999999999999999999\n", 0, ANSIM_CONFIG_ERROR_RANGE,
    "recorder.conf:11: [trigger desk-button] line = '99999999999999999999999': out of range; "
    "expected an integer from 0 to 1023" },
  { "out-of-range-negative", &ansim_recorder_config_schema, HEAD GPIO_TRIGGER "line = -1\n", 0,
    ANSIM_CONFIG_ERROR_RANGE,
    "[trigger desk-button] line = '-1': out of range; expected an integer from 0 to 1023" },
  { "bad-choice", &ansim_recorder_config_schema, HEAD "[trigger desk-button]\ninput = gpoi\n", 0,
    ANSIM_CONFIG_ERROR_RANGE,
    "recorder.conf:9: [trigger desk-button] input = 'gpoi': not one of the choices; "
    "expected one of: gpio, evdev, simulated (did you mean 'gpio'?)" },
  { "bad-choice-bias", &ansim_recorder_config_schema,
    HEAD GPIO_TRIGGER "line = 17\nbias = pullup\n", 0, ANSIM_CONFIG_ERROR_RANGE,
    "recorder.conf:12: [trigger desk-button] bias = 'pullup': not one of the choices; "
    "expected one of: as-is, disable, pull-up, pull-down (did you mean 'pull-up'?)" },
  { "missing-key", &ansim_recorder_config_schema,
    "[recorder]\ndevice_id = d1\n[desk]\nname = 창구\n" SIM_TRIGGER, 0, ANSIM_CONFIG_ERROR_MISSING,
    "recorder.conf: [desk] id: missing; expected a name of 1 to 64 letters, digits, '-', '_' "
    "or '.': the desk's identifier" },
  { "missing-key-gpio-line", &ansim_recorder_config_schema, HEAD GPIO_TRIGGER, 0,
    ANSIM_CONFIG_ERROR_MISSING,
    "recorder.conf: [trigger desk-button] line: missing (required with input = gpio); "
    "expected an integer from 0 to 1023: line offset on the chip" },
  { "missing-key-input", &ansim_recorder_config_schema,
    HEAD "[trigger desk-button]\nkind = button\n", 0, ANSIM_CONFIG_ERROR_MISSING,
    "recorder.conf: [trigger desk-button] input: missing; expected one of: gpio, evdev, "
    "simulated: where the signal comes from" },
  { "missing-group", &ansim_recorder_config_schema, "[recorder]\ndevice_id = d1\n" SIM_TRIGGER, 0,
    ANSIM_CONFIG_ERROR_MISSING,
    "recorder.conf: [desk]: missing; expected a [desk] group: the front desk the board serves" },
  { "missing-main-group", &ansim_recorder_config_schema,
    "[desk]\nid = desk-1\nname = 창구\n" SIM_TRIGGER, 0, ANSIM_CONFIG_ERROR_MISSING,
    "recorder.conf: [recorder]: missing; expected a [recorder] group" },
  { "no-trigger", &ansim_recorder_config_schema, HEAD "[output recording]\nkind = simulated\n", 0,
    ANSIM_CONFIG_ERROR_MISSING,
    "recorder.conf: [trigger NAME]: missing; expected at least one [trigger NAME] group" },
  { "trigger-without-name", &ansim_recorder_config_schema, HEAD "[trigger]\ninput = simulated\n", 0,
    ANSIM_CONFIG_ERROR_MISSING,
    "recorder.conf:8: [trigger]: the group needs a name; expected [trigger NAME]" },
  { "trigger-bad-name", &ansim_recorder_config_schema,
    HEAD "[trigger desk button]\ninput = simulated\n", 0, ANSIM_CONFIG_ERROR_TYPE,
    "recorder.conf:8: [trigger desk button]: 'desk button' is not a valid trigger name; "
    "expected [trigger NAME], NAME being 1 to 64 letters" },
  { "stray-gpio-key-on-simulated", &ansim_recorder_config_schema,
    HEAD SIM_TRIGGER "chip = gpiochip0\n", 0, ANSIM_CONFIG_ERROR_CONFLICT,
    "recorder.conf:10: [trigger desk-button] chip = 'gpiochip0': applies only with "
    "input = gpio, not with input = simulated; expected no chip key in this group, or "
    "input = gpio" },
  { "stray-evdev-key-on-gpio", &ansim_recorder_config_schema,
    HEAD GPIO_TRIGGER "line = 17\ndevice = /dev/input/event3\n", 0, ANSIM_CONFIG_ERROR_CONFLICT,
    "recorder.conf:12: [trigger desk-button] device = '/dev/input/event3': applies only with "
    "input = evdev, not with input = gpio" },
  { "stray-gpio-key-on-simulated-output", &ansim_recorder_config_schema,
    HEAD SIM_TRIGGER "[output buzzer]\nkind = simulated\nline = 24\n", 0,
    ANSIM_CONFIG_ERROR_CONFLICT,
    "recorder.conf:12: [output buzzer] line = '24': applies only with kind = gpio, "
    "not with kind = simulated" },
  { "evdev-key-unknown", &ansim_recorder_config_schema,
    HEAD "[trigger desk-button]\ninput = evdev\ndevice = /dev/input/event0\nkey = KEY_PANIC\n", 0,
    ANSIM_CONFIG_ERROR_RANGE,
    "recorder.conf:11: [trigger desk-button] key = 'KEY_PANIC': unknown key name; expected a key "
    "name from linux/input-event-codes.h (such as KEY_F13 or BTN_0) or a decimal key code "
    "from 1 to 767" },
  { "evdev-key-code-range", &ansim_recorder_config_schema,
    HEAD "[trigger desk-button]\ninput = evdev\ndevice = /dev/input/event0\nkey = 768\n", 0,
    ANSIM_CONFIG_ERROR_RANGE,
    "recorder.conf:11: [trigger desk-button] key = '768': key code out of range" },
  { "evdev-missing-device", &ansim_recorder_config_schema,
    HEAD "[trigger desk-button]\ninput = evdev\nkey = KEY_F13\n", 0, ANSIM_CONFIG_ERROR_MISSING,
    "recorder.conf: [trigger desk-button] device: missing (required with input = evdev)" },
  { "output-name-not-allowed", &ansim_recorder_config_schema,
    HEAD SIM_TRIGGER "[output siren]\nkind = simulated\n", 0, ANSIM_CONFIG_ERROR_UNKNOWN_GROUP,
    "recorder.conf:10: [output siren]: 'siren' is not a known output name; expected "
    "[output NAME] with NAME one of: recording, acknowledged, buzzer, police-bell, fault" },
  { "output-name-typo", &ansim_recorder_config_schema,
    HEAD SIM_TRIGGER "[output recordng]\nkind = simulated\n", 0, ANSIM_CONFIG_ERROR_UNKNOWN_GROUP,
    "(did you mean [output recording]?)" },
  { "duplicate-trigger-group", &ansim_recorder_config_schema,
    HEAD SIM_TRIGGER "\n" GPIO_TRIGGER "line = 17\n", 0, ANSIM_CONFIG_ERROR_DUPLICATE,
    "recorder.conf:11: [trigger desk-button]: duplicate group, first at line 8; expected each "
    "group only once" },
  { "duplicate-key", &ansim_recorder_config_schema, HEAD GPIO_TRIGGER "line = 17\nline = 18\n", 0,
    ANSIM_CONFIG_ERROR_DUPLICATE,
    "recorder.conf:12: [trigger desk-button] line = '18': duplicate key, first at line 11; "
    "expected each key only once per group" },
  { "same-gpio-line-twice", &ansim_recorder_config_schema,
    HEAD GPIO_TRIGGER "line = 17\n[output recording]\nkind = gpio\nchip = gpiochip0\nline = 17\n",
    0, ANSIM_CONFIG_ERROR_CONFLICT,
    "recorder.conf:15: [output recording] line = '17': GPIO line 17 of gpiochip0 is already "
    "used by [trigger desk-button]; expected each line or key used by one trigger or output "
    "only" },
  { "same-gpio-line-other-spelling", &ansim_recorder_config_schema,
    HEAD GPIO_TRIGGER "line = 17\n[trigger bodycam]\ninput = gpio\nchip = /dev/gpiochip0\n"
                      "line = 17\nkind = bodycam\n",
    0, ANSIM_CONFIG_ERROR_CONFLICT,
    "recorder.conf:15: [trigger bodycam] line = '17': GPIO line 17 of gpiochip0 is already "
    "used by [trigger desk-button]" },
  { "same-evdev-key-twice", &ansim_recorder_config_schema,
    HEAD "[trigger a]\ninput = evdev\ndevice = /dev/input/event0\nkey = KEY_F13\n"
         "[trigger b]\ninput = evdev\ndevice = /dev/input/event0\nkey = 183\n",
    0, ANSIM_CONFIG_ERROR_CONFLICT,
    "recorder.conf:15: [trigger b] key = '183': key 183 of /dev/input/event0 is already used by "
    "[trigger a]" },
  { "not-ini", &ansim_recorder_config_schema, "hello world\n", 0, ANSIM_CONFIG_ERROR_PARSE,
    "recorder.conf:1: 'hello world' is not a [group] header, a key = value line or a # comment; "
    "expected an INI file" },
  { "not-ini-json", &ansim_recorder_config_schema, "{\n  \"recorder\": {}\n}\n", 0,
    ANSIM_CONFIG_ERROR_PARSE, "recorder.conf:1: '{' is not a [group] header" },
  { "not-text", &ansim_recorder_config_schema, "\177ELF\002\001\001\000\000\000", 10,
    ANSIM_CONFIG_ERROR_PARSE, "recorder.conf:1: contains a NUL byte, so this is not a text file" },
  { "not-utf8", &ansim_recorder_config_schema,
    "[recorder]\ndevice_id = d1\n[desk]\nid = d\nname = \xb9\xce\xbf\xf8\n", 0,
    ANSIM_CONFIG_ERROR_PARSE,
    "recorder.conf:5: not valid UTF-8; expected a UTF-8 text file (save it as UTF-8, not "
    "EUC-KR/CP949)" },
  { "empty-file", &ansim_recorder_config_schema, "", 0, ANSIM_CONFIG_ERROR_MISSING,
    "recorder.conf: the file is empty (no [group] lines); expected a configuration for "
    "ansim-recorder, starting with [recorder]" },
  { "only-comments", &ansim_uploader_config_schema, "# nothing here\n\n", 0,
    ANSIM_CONFIG_ERROR_MISSING, "uploader.conf: the file is empty (no [group] lines)" },
  { "key-before-group", &ansim_recorder_config_schema, "device_id = d1\n[recorder]\n", 0,
    ANSIM_CONFIG_ERROR_PARSE,
    "recorder.conf:1: 'device_id = d1' comes before any [group] line; expected a [group] line "
    "first" },
  { "semicolon-comment", &ansim_recorder_config_schema, HEAD "; the desk button\n" SIM_TRIGGER, 0,
    ANSIM_CONFIG_ERROR_PARSE, "recorder.conf:8: comments start with '#' in this file, not ';'" },
  { "bad-group-header", &ansim_recorder_config_schema,
    HEAD "[trigger desk-button\ninput = simulated\n", 0, ANSIM_CONFIG_ERROR_PARSE,
    "recorder.conf:8: '[trigger desk-button' is not a valid group header; expected [NAME] alone "
    "on its line" },
  { "bad-name", &ansim_recorder_config_schema, "[recorder]\ndevice_id = my desk\n", 0,
    ANSIM_CONFIG_ERROR_TYPE,
    "recorder.conf:2: [recorder] device_id = 'my desk': not a valid name; expected a name of "
    "1 to 64 letters, digits, '-', '_' or '.'" },
  { "empty-value", &ansim_recorder_config_schema,
    "[recorder]\ndevice_id = d1\n[desk]\nid = d\nname =\n", 0, ANSIM_CONFIG_ERROR_TYPE,
    "recorder.conf:5: [desk] name = '': empty value; expected non-empty text on one line" },
  { "escaped-newline", &ansim_recorder_config_schema,
    "[recorder]\ndevice_id = d1\n[desk]\nid = d\nname = a\\nb\n", 0, ANSIM_CONFIG_ERROR_TYPE,
    "recorder.conf:5: [desk] name = 'a\\x0ab': contains a control character" },
  { "bad-escape", &ansim_recorder_config_schema,
    "[recorder]\ndevice_id = d1\n[desk]\nid = d\nname = a\\qb\n" SIM_TRIGGER, 0,
    ANSIM_CONFIG_ERROR_TYPE,
    "recorder.conf:5: [desk] name = 'a\\qb': invalid backslash escape; "
    "expected a backslash only in \\s, \\n, \\t, \\r or \\\\" },
  { "inline-comment", &ansim_recorder_config_schema, HEAD GPIO_TRIGGER "line = 17  # pin 11\n", 0,
    ANSIM_CONFIG_ERROR_TYPE,
    "recorder.conf:11: [trigger desk-button] line = '17  # pin 11': not an integer (a # comment "
    "must be on its own line); expected an integer from 0 to 1023" },
  { "inline-comment-path", &ansim_recorder_config_schema,
    "[recorder]\ndevice_id = d1\nspool_dir = spool # sealed segments\n", 0, ANSIM_CONFIG_ERROR_TYPE,
    "recorder.conf:3: [recorder] spool_dir = 'spool # sealed segments': a # comment must be on "
    "its own line" },
  { "tilde-path", &ansim_recorder_config_schema, "[recorder]\ndevice_id = d1\ndata_dir = ~/ansim\n",
    0, ANSIM_CONFIG_ERROR_TYPE,
    "recorder.conf:3: [recorder] data_dir = '~/ansim': '~' is not expanded in this file" },
  { "wrong-program", &ansim_recorder_config_schema, "[panel]\nport = 8080\n", 0,
    ANSIM_CONFIG_ERROR_UNKNOWN_GROUP,
    "recorder.conf:1: [panel]: unknown group (it belongs in panel.conf, the file of "
    "ansim-panel)" },
  { "ca-file-with-http", &ansim_uploader_config_schema,
    "[uploader]\npanel_url = http://panel.example:8080\nca_file = ca.pem\n", 0,
    ANSIM_CONFIG_ERROR_CONFLICT,
    "uploader.conf:3: [uploader] ca_file = 'ca.pem': only meaningful with https, but panel_url "
    "is 'http://panel.example:8080'; expected an https:// panel_url, or no ca_file" },
  { "heartbeat-too-slow-for-supervision", &ansim_uploader_config_schema,
    "[uploader]\nsupervision_s = 20\nheartbeat_interval = 15\n", 0, ANSIM_CONFIG_ERROR_CONFLICT,
    "uploader.conf:3: [uploader] heartbeat_interval = '15': 15 s cannot keep a path supervised "
    "for 20 s up; expected at most supervision_s / 2 (10), 0 for supervision_s / 4, or "
    "supervision_s = 0" },
  { "heartbeat-default-supervision", &ansim_uploader_config_schema,
    "[uploader]\nheartbeat_interval = 60\n", 0, ANSIM_CONFIG_ERROR_CONFLICT,
    "heartbeat_interval = '60': 60 s cannot keep a path supervised for 20 s up" },
  { "police-bell-policy", &ansim_recorder_config_schema,
    "[recorder]\ndevice_id = d1\npolice_bell = always\n[desk]\nid = desk-1\nname = x\n", 0,
    ANSIM_CONFIG_ERROR_RANGE, "recorder.conf:3: [recorder] police_bell = 'always'" },
  { "ca-file-with-default-url", &ansim_uploader_config_schema,
    "[uploader]\nca_file = /etc/ansim/ca.pem\n", 0, ANSIM_CONFIG_ERROR_CONFLICT,
    "uploader.conf:2: [uploader] ca_file = '/etc/ansim/ca.pem': only meaningful with https" },
  { "url-scheme", &ansim_uploader_config_schema, "[uploader]\npanel_url = ftp://panel\n", 0,
    ANSIM_CONFIG_ERROR_RANGE,
    "uploader.conf:2: [uploader] panel_url = 'ftp://panel': scheme 'ftp' is not supported; "
    "expected an http:// or https:// URL" },
  { "url-not-url", &ansim_uploader_config_schema, "[uploader]\npanel_url = panel.example\n", 0,
    ANSIM_CONFIG_ERROR_TYPE, "uploader.conf:2: [uploader] panel_url = 'panel.example': not a URL" },
  { "panel-trusted-proxies", &ansim_panel_config_schema,
    "[panel]\ntrusted_proxies = 127.0.0.1, 10.0.0.1/8\n", 0, ANSIM_CONFIG_ERROR_RANGE,
    "panel.conf:2: [panel] trusted_proxies = '127.0.0.1, 10.0.0.1/8': '10.0.0.1/8' is not an "
    "address or a network (ADDRESS/PREFIX with no host bits set); expected addresses or networks "
    "such as 127.0.0.1, ::1, 10.0.0.0/8, separated by commas" },
  { "panel-listen-address", &ansim_panel_config_schema, "[panel]\nlisten_address = localhost\n", 0,
    ANSIM_CONFIG_ERROR_TYPE,
    "panel.conf:2: [panel] listen_address = 'localhost': not an IP address; expected an IPv4 or "
    "IPv6 address" },
  { "panel-plain-http-on-network", &ansim_panel_config_schema,
    "[panel]\nlisten_address = 0.0.0.0\n", 0, ANSIM_CONFIG_ERROR_CONFLICT,
    "panel.conf:2: [panel] listen_address = '0.0.0.0': plain HTTP on an address other than "
    "loopback; expected tls_certificate and tls_key, a loopback address such as 127.0.0.1, or "
    "allow_plain_http = true behind a reverse proxy that terminates HTTPS" },
  { "panel-plain-http-everywhere", &ansim_panel_config_schema, "[panel]\nlisten_address = *\n", 0,
    ANSIM_CONFIG_ERROR_CONFLICT, "listen_address = '*': plain HTTP on an address other than" },
  { "panel-trusted-proxy-not-address", &ansim_panel_config_schema,
    "[panel]\ntrusted_proxies = 127.0.0.1, proxy.example\n", 0, ANSIM_CONFIG_ERROR_RANGE,
    "panel.conf:2: [panel] trusted_proxies = '127.0.0.1, proxy.example': 'proxy.example' is "
    "not an address or a network" },
  { "panel-tls-key-missing", &ansim_panel_config_schema, "[panel]\ntls_certificate = cert.pem\n", 0,
    ANSIM_CONFIG_ERROR_MISSING,
    "panel.conf: [panel] tls_key: missing while tls_certificate is set; expected both "
    "tls_certificate and tls_key, or neither" },
  { "panel-session-too-short", &ansim_panel_config_schema, "[panel]\nsession_lifetime_s = 2\n", 0,
    ANSIM_CONFIG_ERROR_RANGE,
    "panel.conf:2: [panel] session_lifetime_s = '2': out of range; expected an integer from 5 "
    "to 604800" },
  { "panel-port-too-big", &ansim_panel_config_schema, "[panel]\nport = 65536\n", 0,
    ANSIM_CONFIG_ERROR_RANGE,
    "panel.conf:2: [panel] port = '65536': out of range; expected an integer from 0 to 65535" },
  { "panel-two-files-in-one", &ansim_panel_config_schema, "[panel]\n[uploader]\n", 0,
    ANSIM_CONFIG_ERROR_UNKNOWN_GROUP,
    "panel.conf:2: [uploader]: unknown group (it belongs in uploader.conf" },
#define S3_STORE                                                                                   \
  "[panel]\nstore = s3\ns3_endpoint = http://127.0.0.1:7480\n"                                     \
  "s3_bucket = evidence\ns3_credentials_file = s3-credentials\n"
  { "store-s3-key-with-filesystem", &ansim_panel_config_schema, "[panel]\ns3_bucket = evidence\n",
    0, ANSIM_CONFIG_ERROR_CONFLICT,
    "panel.conf:2: [panel] s3_bucket = 'evidence': applies only with store = s3, not with "
    "store = filesystem" },
  { "store-s3-missing-bucket", &ansim_panel_config_schema,
    "[panel]\nstore = s3\ns3_endpoint = http://127.0.0.1:7480\n"
    "s3_credentials_file = c\n",
    0, ANSIM_CONFIG_ERROR_MISSING,
    "panel.conf: [panel] s3_bucket: missing (required with store = s3)" },
  { "store-s3-bad-bucket", &ansim_panel_config_schema,
    "[panel]\nstore = s3\ns3_endpoint = http://127.0.0.1:7480\n"
    "s3_bucket = Evidence_1\ns3_credentials_file = c\n",
    0, ANSIM_CONFIG_ERROR_TYPE,
    "panel.conf:4: [panel] s3_bucket = 'Evidence_1': not a valid bucket name" },
  { "store-s3-endpoint-path", &ansim_panel_config_schema,
    "[panel]\nstore = s3\ns3_endpoint = http://127.0.0.1:7480/evidence\n"
    "s3_bucket = evidence\ns3_credentials_file = c\n",
    0, ANSIM_CONFIG_ERROR_TYPE,
    "panel.conf:3: [panel] s3_endpoint = 'http://127.0.0.1:7480/evidence': has a path or query" },
  { "store-s3-ca-file-on-http", &ansim_panel_config_schema, S3_STORE "s3_ca_file = ca.pem\n", 0,
    ANSIM_CONFIG_ERROR_CONFLICT,
    "panel.conf:6: [panel] s3_ca_file = 'ca.pem': only meaningful with https" },
  { "store-s3-virtual-host-on-ip", &ansim_panel_config_schema,
    S3_STORE "s3_addressing = virtual-host\n", 0, ANSIM_CONFIG_ERROR_CONFLICT,
    "panel.conf:6: [panel] s3_addressing = 'virtual-host': virtual-host needs a host name" },
  { "store-s3-part-above-threshold", &ansim_panel_config_schema,
    S3_STORE "s3_part_size_mib = 100\n", 0, ANSIM_CONFIG_ERROR_CONFLICT,
    "panel.conf:6: [panel] s3_part_size_mib = '100': larger than s3_multipart_threshold_mib" },
  { "store-s3-part-below-minimum", &ansim_panel_config_schema, S3_STORE "s3_part_size_mib = 1\n", 0,
    ANSIM_CONFIG_ERROR_RANGE,
    "panel.conf:6: [panel] s3_part_size_mib = '1': out of range; expected an integer from 5" },
  { "store-s3-lock-mode", &ansim_panel_config_schema, S3_STORE "s3_lock_mode = legal\n", 0,
    ANSIM_CONFIG_ERROR_RANGE,
    "panel.conf:6: [panel] s3_lock_mode = 'legal': not one of the choices" },
#undef S3_STORE
};

static void
test_bad (Fixture *f, gconstpointer data)
{
  const BadCase *c = data;
  g_autofree char *file = g_strdup_printf ("%s.conf", c->schema->main_group);
  g_autofree char *path = write_file (f, file, c->content, c->len > 0 ? c->len : -1);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) config = ansim_config_load (c->schema, path, &error);

  g_assert_null (config);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_error (error, ANSIM_CONFIG_ERROR, (gint) c->code);
  g_assert_true (g_str_has_prefix (error->message, path));
  g_assert_nonnull (strstr (error->message, c->expected));
  g_assert_null (strchr (error->message, '\n'));
  g_assert_null (strchr (error->message, '\r'));
}

/* The same content through load_data names the origin given. */
static void
test_bad_data_origin (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) config = ansim_config_load_data (
    &ansim_recorder_config_schema, HEAD SIM_TRIGGER "debounce_ms = x\n", "inline.conf", &error);

  g_assert_null (config);
  g_assert_error (error, ANSIM_CONFIG_ERROR, ANSIM_CONFIG_ERROR_TYPE);
  g_assert_true (
    g_str_has_prefix (error->message, "inline.conf:10: [trigger desk-button] debounce_ms = 'x'"));
}

static void
test_missing_file (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "nope.conf", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) config = ansim_config_load (&ansim_recorder_config_schema, path, &error);

  (void) data;
  g_assert_null (config);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_true (g_str_has_prefix (error->message, path));
  g_assert_nonnull (strstr (error->message, "cannot open"));

  /* A directory is not a file either. */
  g_clear_error (&error);
  config = ansim_config_load (&ansim_recorder_config_schema, f->dir, &error);
  g_assert_null (config);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_ISDIR);
}

static void
test_too_large (Fixture *f, gconstpointer data)
{
  gsize len = 2 * 1024 * 1024;
  g_autofree char *big = g_malloc (len);
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) config = NULL;

  (void) data;
  memset (big, '#', len);
  path = write_file (f, "recorder.conf", big, len);
  config = ansim_config_load (&ansim_recorder_config_schema, path, &error);
  g_assert_null (config);
  g_assert_error (error, ANSIM_CONFIG_ERROR, ANSIM_CONFIG_ERROR_PARSE);
  g_assert_nonnull (strstr (error->message, "too large"));
}

/* ---- accepted files ---------------------------------------------------- */

static void
test_embedded_defaults (void)
{
  for (guint i = 0; ansim_config_schemas[i] != NULL; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (AnsimConfig) config = ansim_config_load (ansim_config_schemas[i], NULL, &error);

      g_assert_no_error (error);
      g_assert_nonnull (config);
      g_assert_cmpstr (ansim_config_get_origin (config), ==, "(embedded defaults)");
    }
}

static void
test_recorder_defaults (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) c = ansim_config_load (&ansim_recorder_config_schema, NULL, &error);
  g_auto (GStrv) triggers = NULL;
  g_auto (GStrv) outputs = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *db = NULL;
  g_autofree char *spool = NULL;
  g_autofree char *sock = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (ansim_config_get_string (c, "recorder", "device_id"), ==, "demo-desk");
  g_assert_cmpstr (ansim_config_get_string (c, "desk", "id"), ==, "desk-1");
  g_assert_cmpstr (ansim_config_get_string (c, "desk", "name"), ==, "민원실 1번 창구");
  data_dir = ansim_config_get_path (c, "recorder", "data_dir");
  db = ansim_config_get_path (c, "recorder", "database");
  spool = ansim_config_get_path (c, "recorder", "spool_dir");
  sock = ansim_config_get_path (c, "recorder", "control_socket");
  g_assert_cmpstr (data_dir, ==, "/var/lib/ansim");
  g_assert_cmpstr (db, ==, "/var/lib/ansim/desk.db");
  g_assert_cmpstr (spool, ==, "/var/lib/ansim/spool");
  g_assert_cmpstr (sock, ==, "/var/lib/ansim/control.sock");

  triggers = ansim_config_list_named (c, "trigger");
  g_assert_cmpuint (g_strv_length (triggers), ==, 2);
  g_assert_cmpstr (triggers[0], ==, "trigger desk-button");
  g_assert_cmpstr (triggers[1], ==, "trigger bodycam");
  g_assert_cmpstr (ansim_config_group_instance (triggers[0]), ==, "desk-button");
  g_assert_cmpstr (ansim_config_get_string (c, triggers[0], "input"), ==, "simulated");
  g_assert_cmpuint (ansim_config_get_choice (c, triggers[0], "input"), ==, 2);
  g_assert_cmpuint (ansim_config_get_choice (c, triggers[0], "kind"), ==, 0);
  g_assert_cmpuint (ansim_config_get_choice (c, triggers[1], "kind"), ==, 1);
  g_assert_cmpint (ansim_config_get_int (c, triggers[0], "debounce_ms"), ==, 30);
  g_assert_cmpint (ansim_config_get_int (c, triggers[0], "long_press_ms"), ==, 3000);
  g_assert_false (ansim_config_has_key (c, triggers[0], "debounce_ms"));
  g_assert_true (ansim_config_has_key (c, triggers[0], "input"));
  g_assert_false (ansim_config_get_bool (c, triggers[0], "active_low"));
  g_assert_cmpstr (ansim_config_get_string (c, triggers[0], "bias"), ==, "as-is");
  g_assert_null (ansim_config_get_string (c, triggers[0], "chip"));

  outputs = ansim_config_list_named (c, "output");
  g_assert_cmpuint (g_strv_length (outputs), ==, 3);
  g_assert_cmpstr (outputs[0], ==, "output recording");
  g_assert_cmpstr (outputs[1], ==, "output acknowledged");
  g_assert_cmpstr (outputs[2], ==, "output buzzer");
  for (guint i = 0; i < 3; i++)
    g_assert_cmpstr (ansim_config_get_string (c, outputs[i], "kind"), ==, "simulated");
  g_assert_null (ansim_config_group_instance ("recorder"));
}

static void
test_uploader_panel_defaults (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) u =
    ansim_config_load_data (&ansim_uploader_config_schema, "[uploader]\n", "u.conf", &error);
  g_autoptr (AnsimConfig) p = NULL;
  g_autofree char *udb = NULL;
  g_autofree char *pdb = NULL;

  g_assert_no_error (error);
  udb = ansim_config_get_path (u, "uploader", "database");
  g_assert_cmpstr (udb, ==, "/var/lib/ansim/desk.db");
  g_assert_cmpstr (ansim_config_get_string (u, "uploader", "panel_url"), ==,
                   "http://127.0.0.1:8080");
  g_assert_false (ansim_config_has_key (u, "uploader", "ca_file"));
  g_assert_null (ansim_config_get_path (u, "uploader", "ca_file"));

  p = ansim_config_load_data (&ansim_panel_config_schema, "[panel]\n", "p.conf", &error);
  g_assert_no_error (error);
  pdb = ansim_config_get_path (p, "panel", "database");
  g_assert_cmpstr (pdb, ==, "/var/lib/ansim-panel/panel.db");
  g_assert_cmpstr (ansim_config_get_string (p, "panel", "listen_address"), ==, "127.0.0.1");
  g_assert_cmpint (ansim_config_get_int (p, "panel", "port"), ==, 8080);
  g_assert_cmpstr (ansim_config_get_string (p, "panel", "site_name"), ==, "ansim demo site");
}

static void
test_accepted_variants (void)
{
  static const struct {
    const AnsimConfigSchema *schema;
    const char *content;
  } ok[] = {
    { &ansim_uploader_config_schema,
      "[uploader]\npanel_url = https://panel.example\nca_file = ca.pem\n" },
    { &ansim_panel_config_schema, "[panel]\nlisten_address = *\nallow_plain_http = true\n" },
    { &ansim_panel_config_schema,
      "[panel]\nlisten_address = ::\nport = 65535\nallow_plain_http = true\n"
      "trusted_proxies = 127.0.0.1, ::1\n" },
    /* Loopback needs no TLS; any address with TLS. */
    { &ansim_panel_config_schema, "[panel]\nlisten_address = ::1\n" },
    { &ansim_panel_config_schema,
      "[panel]\nlisten_address = 0.0.0.0\ntls_certificate = c.pem\ntls_key = k.pem\n" },
    { &ansim_panel_config_schema, "[panel]\nsite_name = 종로구청 민원실\n" },
    /* Windows: byte order mark and CRLF line ends. */
    { &ansim_panel_config_schema, "\xef\xbb\xbf[panel]\r\nport = 8443\r\n" },
    /* Trailing blanks are not part of a value. */
    { &ansim_panel_config_schema, "[panel]\n  port =   8443  \t\n" },
    /* Two gpio lines on one chip, and one line number on two chips. */
    { &ansim_recorder_config_schema,
      HEAD GPIO_TRIGGER "line = 17\n[output recording]\nkind = gpio\nchip = gpiochip0\n"
                        "line = 22\n[output buzzer]\nkind = gpio\nchip = gpiochip1\nline = 17\n" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (ok); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (AnsimConfig) c =
        ansim_config_load_data (ok[i].schema, ok[i].content, "x.conf", &error);

      g_assert_no_error (error);
      g_assert_nonnull (c);
    }
}

static void
test_windows_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) c = ansim_config_load_data (
    &ansim_panel_config_schema, "\xef\xbb\xbf[panel]\r\nport = 8443\r\nsite_name = 구청 \r\n",
    "p.conf", &error);

  g_assert_no_error (error);
  g_assert_cmpint (ansim_config_get_int (c, "panel", "port"), ==, 8443);
  g_assert_cmpstr (ansim_config_get_string (c, "panel", "site_name"), ==, "구청");
}

static void
test_gpio_evdev_getters (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) c = ansim_config_load_data (
    &ansim_recorder_config_schema,
    HEAD GPIO_TRIGGER
    "line = 17\nactive_low = true\nbias = pull-up\ndebounce_ms = 0\n"
    "[trigger bodycam]\ninput = evdev\nkind = bodycam\ndevice = /dev/input/by-id/dock\n"
    "key = BTN_0\n[trigger spare]\ninput = evdev\ndevice = dev/kbd\nkey = 183\n",
    "r.conf", &error);
  g_autofree char *device = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (ansim_config_get_string (c, "trigger desk-button", "chip"), ==, "gpiochip0");
  g_assert_cmpint (ansim_config_get_int (c, "trigger desk-button", "line"), ==, 17);
  g_assert_true (ansim_config_get_bool (c, "trigger desk-button", "active_low"));
  g_assert_cmpuint (ansim_config_get_choice (c, "trigger desk-button", "bias"), ==, 2);
  g_assert_cmpint (ansim_config_get_int (c, "trigger desk-button", "debounce_ms"), ==, 0);
  g_assert_cmpint (ansim_config_get_int (c, "trigger bodycam", "key"), ==, 0x100);
  g_assert_cmpstr (ansim_config_get_string (c, "trigger bodycam", "key"), ==, "BTN_0");
  g_assert_cmpint (ansim_config_get_int (c, "trigger spare", "key"), ==, 183);
  device = ansim_config_get_path (c, "trigger bodycam", "device");
  g_assert_cmpstr (device, ==, "/dev/input/by-id/dock");
}

static void
test_paths (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) c = ansim_config_load_data (
    &ansim_recorder_config_schema,
    "[recorder]\ndevice_id = d\ndata_dir = /srv/ansim/\ndatabase = db/../desk.db\n"
    "spool_dir = /mnt/spool\n[desk]\nid = d\nname = n\n" SIM_TRIGGER,
    "r.conf", &error);
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *p = NULL;

  g_assert_no_error (error);
  p = ansim_config_get_path (c, "recorder", "data_dir");
  g_assert_cmpstr (p, ==, "/srv/ansim");
  g_clear_pointer (&p, g_free);
  p = ansim_config_get_path (c, "recorder", "database");
  g_assert_cmpstr (p, ==, "/srv/ansim/desk.db");
  g_clear_pointer (&p, g_free);
  p = ansim_config_get_path (c, "recorder", "spool_dir");
  g_assert_cmpstr (p, ==, "/mnt/spool");
  g_clear_pointer (&p, g_free);

  /* --data-dir wins over the file, also for data_dir itself. */
  ansim_config_set_data_dir (c, "/tmp/demo");
  p = ansim_config_get_path (c, "recorder", "database");
  g_assert_cmpstr (p, ==, "/tmp/demo/desk.db");
  g_clear_pointer (&p, g_free);
  p = ansim_config_get_path (c, "recorder", "data_dir");
  g_assert_cmpstr (p, ==, "/tmp/demo");
  g_clear_pointer (&p, g_free);
  g_assert_cmpstr (ansim_config_get_string (c, "recorder", "data_dir"), ==, "/tmp/demo");
  p = ansim_config_get_path (c, "recorder", "control_socket");
  g_assert_cmpstr (p, ==, "/tmp/demo/control.sock");
  g_clear_pointer (&p, g_free);

  /* A relative --data-dir is relative to the working directory. */
  ansim_config_set_data_dir (c, "demo-data");
  p = ansim_config_get_path (c, "recorder", "database");
  {
    g_autofree char *want = g_build_filename (cwd, "demo-data", "desk.db", NULL);

    g_assert_cmpstr (p, ==, want);
  }
  g_clear_pointer (&p, g_free);

  /* Back to the file's data_dir. */
  ansim_config_set_data_dir (c, NULL);
  p = ansim_config_get_path (c, "recorder", "database");
  g_assert_cmpstr (p, ==, "/srv/ansim/desk.db");
}

static void
test_relative_data_dir (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) c = ansim_config_load_data (
    &ansim_panel_config_schema, "[panel]\ndata_dir = var/panel\n", "p.conf", &error);
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *want = g_build_filename (cwd, "var", "panel", "panel.db", NULL);
  g_autofree char *p = NULL;

  g_assert_no_error (error);
  p = ansim_config_get_path (c, "panel", "database");
  g_assert_cmpstr (p, ==, want);
}

/* The annotated examples in config/ are what a deployment starts from. */
static void
test_examples (void)
{
  for (guint i = 0; ansim_config_schemas[i] != NULL; i++)
    {
      const AnsimConfigSchema *schema = ansim_config_schemas[i];
      g_autofree char *name = g_strdup_printf ("%s.conf", schema->main_group);
      g_autofree char *path = source_path ("config", name, NULL);
      g_autoptr (GError) error = NULL;
      g_autoptr (AnsimConfig) config = NULL;

      g_assert_true (ansim_config_schema_detect (path, &error) == schema);
      g_assert_no_error (error);
      config = ansim_config_load (schema, path, &error);
      g_assert_no_error (error);
      g_assert_nonnull (config);
      g_assert_cmpstr (ansim_config_get_origin (config), ==, path);
    }
}

/* The Raspberry Pi wiring the README and the example describe. */
static void
test_example_recorder_wiring (void)
{
  g_autofree char *path = source_path ("config", "recorder.conf", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) c = ansim_config_load (&ansim_recorder_config_schema, path, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (ansim_config_get_string (c, "trigger desk-button", "input"), ==, "gpio");
  g_assert_cmpstr (ansim_config_get_string (c, "trigger desk-button", "chip"), ==, "gpiochip0");
  g_assert_cmpint (ansim_config_get_int (c, "trigger desk-button", "line"), ==, 17);
  g_assert_true (ansim_config_get_bool (c, "trigger desk-button", "active_low"));
  g_assert_cmpstr (ansim_config_get_string (c, "trigger desk-button", "bias"), ==, "pull-up");
  g_assert_cmpint (ansim_config_get_int (c, "output recording", "line"), ==, 22);
  g_assert_cmpint (ansim_config_get_int (c, "output acknowledged", "line"), ==, 23);
  g_assert_cmpint (ansim_config_get_int (c, "output buzzer", "line"), ==, 24);
}

static void
test_detect (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *content;
    const AnsimConfigSchema *schema;
    const char *message;
  } cases[] = {
    { "[recorder]\n", &ansim_recorder_config_schema, NULL },
    { "# x\n[uploader]\nbogus = 1\n", &ansim_uploader_config_schema, NULL },
    { "[panel]\n", &ansim_panel_config_schema, NULL },
    { "\xef\xbb\xbf[panel]\r\n", &ansim_panel_config_schema, NULL },
    { "[desk]\nid = x\n", NULL,
      "none of [recorder], [uploader] or [panel]; expected exactly one of them" },
    { "", NULL, "none of [recorder], [uploader] or [panel]" },
    { "[recorder]\n[panel]\n", NULL, "has [recorder] and [panel]; expected exactly one" },
    { "garbage\n", NULL, ":1: 'garbage' is not a [group] header" },
  };

  (void) data;
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = write_file (f, "some.conf", cases[i].content, -1);
      g_autoptr (GError) error = NULL;
      const AnsimConfigSchema *schema = ansim_config_schema_detect (path, &error);

      g_assert_true (schema == cases[i].schema);
      if (cases[i].message == NULL)
        {
          g_assert_no_error (error);
        }
      else
        {
          g_assert_nonnull (error);
          g_test_message ("%s", error->message);
          g_assert_true (g_str_has_prefix (error->message, path));
          g_assert_nonnull (strstr (error->message, cases[i].message));
        }
    }
  {
    g_autofree char *missing = g_build_filename (f->dir, "missing.conf", NULL);
    g_autoptr (GError) error = NULL;

    g_assert_null (ansim_config_schema_detect (missing, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  }
}

static void
test_key_codes (void)
{
  g_assert_cmpint (ansim_config_key_code ("KEY_A"), ==, 30);
  g_assert_cmpint (ansim_config_key_code ("KEY_Z"), ==, 44);
  g_assert_cmpint (ansim_config_key_code ("KEY_0"), ==, 11);
  g_assert_cmpint (ansim_config_key_code ("KEY_ENTER"), ==, 28);
  g_assert_cmpint (ansim_config_key_code ("KEY_F13"), ==, 183);
  g_assert_cmpint (ansim_config_key_code ("KEY_F24"), ==, 194);
  g_assert_cmpint (ansim_config_key_code ("KEY_VOLUMEUP"), ==, 115);
  g_assert_cmpint (ansim_config_key_code ("KEY_CAMERA"), ==, 212);
  g_assert_cmpint (ansim_config_key_code ("KEY_RECORD"), ==, 167);
  g_assert_cmpint (ansim_config_key_code ("KEY_PROG1"), ==, 148);
  g_assert_cmpint (ansim_config_key_code ("BTN_0"), ==, 0x100);
  g_assert_cmpint (ansim_config_key_code ("BTN_LEFT"), ==, 0x110);
  g_assert_cmpint (ansim_config_key_code ("BTN_TRIGGER"), ==, 0x120);
  g_assert_cmpint (ansim_config_key_code ("BTN_THUMB"), ==, 0x121);
  g_assert_cmpint (ansim_config_key_code ("183"), ==, 183);
  g_assert_cmpint (ansim_config_key_code ("767"), ==, 767);
  g_assert_cmpint (ansim_config_key_code ("768"), ==, -1);
  g_assert_cmpint (ansim_config_key_code ("0"), ==, -1);
  g_assert_cmpint (ansim_config_key_code ("-5"), ==, -1);
  g_assert_cmpint (ansim_config_key_code ("+5"), ==, -1);
  g_assert_cmpint (ansim_config_key_code ("0x100"), ==, -1);
  g_assert_cmpint (ansim_config_key_code ("key_a"), ==, -1);
  g_assert_cmpint (ansim_config_key_code ("KEY_PANIC"), ==, -1);
  g_assert_cmpint (ansim_config_key_code (""), ==, -1);
}

/* Cross-key checks report where the key is, with its value. */
static gboolean
check_fails_on_name (AnsimConfig *config, GError **error)
{
  ansim_config_set_error (config, error, ANSIM_CONFIG_ERROR_CONFLICT, "desk", "name", "clashes",
                          "something else");
  return FALSE;
}

static void
test_set_error (void)
{
  AnsimConfigSchema schema = ansim_recorder_config_schema;
  g_autoptr (GError) error = NULL;
  g_autoptr (AnsimConfig) c = NULL;

  schema.check = check_fails_on_name;
  c = ansim_config_load_data (&schema, HEAD SIM_TRIGGER, "r.conf", &error);
  g_assert_null (c);
  g_assert_error (error, ANSIM_CONFIG_ERROR, ANSIM_CONFIG_ERROR_CONFLICT);
  g_assert_cmpstr (error->message, ==,
                   "r.conf:6: [desk] name = '민원실 1번 창구': clashes; expected something else");
}

static void
test_markdown (void)
{
  g_autofree char *md = ansim_config_schema_to_markdown (&ansim_recorder_config_schema);

  g_assert_nonnull (strstr (md, "## recorder.conf (ansim-recorder)"));
  g_assert_nonnull (strstr (md, "### [trigger NAME]"));
  g_assert_nonnull (strstr (md, "| `line` | integer | — | 0 to 1023 | yes, with `input = gpio` |"));
  g_assert_nonnull (strstr (md, "| `debounce_ms` | integer | `30` | 0 to 1000 | no |"));
  g_assert_nonnull (
    strstr (md, "NAME is one of `recording`, `acknowledged`, `buzzer`, `police-bell`, `fault`."));
  /* Every key of every schema is documented. */
  for (guint i = 0; ansim_config_schemas[i] != NULL; i++)
    {
      g_autofree char *all = ansim_config_schema_to_markdown (ansim_config_schemas[i]);

      for (const AnsimConfigGroup *g = ansim_config_schemas[i]->groups; g->name != NULL; g++)
        for (const AnsimConfigKey *k = g->keys; k->key != NULL; k++)
          {
            g_autofree char *row = g_strdup_printf ("| `%s` |", k->key);

            g_assert_nonnull (strstr (all, row));
            g_assert_nonnull (k->help);
          }
    }
}

#define DOCS_BEGIN "<!-- BEGIN GENERATED"
#define DOCS_END "<!-- END GENERATED -->"

/* docs/config.md holds, between its markers, exactly what the schemas
 * generate. On a difference the up-to-date page is written to the build
 * dir for copying. */
static void
test_docs_in_sync (void)
{
  g_autofree char *path = source_path ("docs", "config.md", NULL);
  g_autofree char *text = NULL;
  g_autofree char *generated = ansim_config_reference_markdown ();
  g_autoptr (GError) error = NULL;
  const char *begin, *body, *end;
  g_autofree char *current = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  begin = strstr (text, DOCS_BEGIN);
  g_assert_nonnull (begin);
  body = strchr (begin, '\n');
  g_assert_nonnull (body);
  body++;
  end = strstr (body, DOCS_END);
  g_assert_nonnull (end);
  current = g_strndup (body, end - body);
  if (strcmp (current, generated) != 0)
    {
      g_autofree char *head = g_strndup (text, body - text);
      g_autofree char *fixed = g_strconcat (head, generated, end, NULL);
      g_autofree char *out = g_test_build_filename (G_TEST_BUILT, "config.md", NULL);

      g_file_set_contents (out, fixed, -1, NULL);
      g_test_message ("docs/config.md is out of date; the current page is in %s "
                      "(cp it to docs/config.md)",
                      out);
    }
  g_assert_cmpstr (current, ==, generated);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("/config/bad/%s", bad_cases[i].name);

      g_test_add (name, Fixture, &bad_cases[i], fixture_setup, test_bad, fixture_teardown);
    }
  g_test_add_func ("/config/bad/data-origin", test_bad_data_origin);
  g_test_add ("/config/bad/missing-file", Fixture, NULL, fixture_setup, test_missing_file,
              fixture_teardown);
  g_test_add ("/config/bad/too-large", Fixture, NULL, fixture_setup, test_too_large,
              fixture_teardown);
  g_test_add_func ("/config/ok/embedded-defaults", test_embedded_defaults);
  g_test_add_func ("/config/ok/recorder-defaults", test_recorder_defaults);
  g_test_add_func ("/config/ok/uploader-panel-defaults", test_uploader_panel_defaults);
  g_test_add_func ("/config/ok/variants", test_accepted_variants);
  g_test_add_func ("/config/ok/windows-file", test_windows_file);
  g_test_add_func ("/config/ok/gpio-evdev-getters", test_gpio_evdev_getters);
  g_test_add_func ("/config/ok/examples", test_examples);
  g_test_add_func ("/config/ok/example-recorder-wiring", test_example_recorder_wiring);
  g_test_add_func ("/config/paths/data-dir", test_paths);
  g_test_add_func ("/config/paths/relative-data-dir", test_relative_data_dir);
  g_test_add ("/config/detect", Fixture, NULL, fixture_setup, test_detect, fixture_teardown);
  g_test_add_func ("/config/key-codes", test_key_codes);
  g_test_add_func ("/config/set-error", test_set_error);
  g_test_add_func ("/config/docs/markdown", test_markdown);
  g_test_add_func ("/config/docs/in-sync", test_docs_in_sync);
  return g_test_run ();
}
