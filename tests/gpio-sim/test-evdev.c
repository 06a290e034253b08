/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The evdev backend of hw/ against real kernel input devices made with
 * uinput, inside the QEMU guest: press, chatter, autorepeat, unplug, replug. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/uinput.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "hw.h"

typedef struct {
  int fd;           /* /dev/uinput handle; the device lives while it is open */
  char *event_path; /* /dev/input/eventN */
} VirtualButton;

static VirtualButton *
button_new (guint key)
{
  VirtualButton *b = g_new0 (VirtualButton, 1);
  b->fd = open ("/dev/uinput", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (b->fd < 0)
    g_error ("cannot open /dev/uinput: %s", g_strerror (errno));
  g_assert_cmpint (ioctl (b->fd, UI_SET_EVBIT, EV_KEY), ==, 0);
  g_assert_cmpint (ioctl (b->fd, UI_SET_KEYBIT, key), ==, 0);
  struct uinput_setup setup = { .id = { .bustype = BUS_USB, .vendor = 0x1234, .product = 0x5678 } };
  g_strlcpy (setup.name, "ansim test panic button", sizeof setup.name);
  g_assert_cmpint (ioctl (b->fd, UI_DEV_SETUP, &setup), ==, 0);
  g_assert_cmpint (ioctl (b->fd, UI_DEV_CREATE), ==, 0);

  char sysname[64] = { 0 };
  g_assert_cmpint (ioctl (b->fd, UI_GET_SYSNAME (sizeof sysname), sysname), >=, 0);
  g_autofree char *sysdir = g_strdup_printf ("/sys/devices/virtual/input/%s", sysname);
  /* the eventN node appears shortly after creation */
  for (int tries = 0; tries < 200 && b->event_path == NULL; tries++)
    {
      g_autoptr (GDir) dir = g_dir_open (sysdir, 0, NULL);
      const char *name;
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        if (g_str_has_prefix (name, "event"))
          {
            g_autofree char *path = g_strdup_printf ("/dev/input/%s", name);
            if (g_file_test (path, G_FILE_TEST_EXISTS))
              b->event_path = g_steal_pointer (&path);
          }
      if (b->event_path == NULL)
        g_usleep (10000);
    }
  g_assert_nonnull (b->event_path);
  return b;
}

static void
button_free (VirtualButton *b)
{
  ioctl (b->fd, UI_DEV_DESTROY);
  close (b->fd);
  g_free (b->event_path);
  g_free (b);
}

static void
button_emit (VirtualButton *b, guint key, int value)
{
  struct input_event ev[2] = {
    { .type = EV_KEY, .code = key, .value = value },
    { .type = EV_SYN, .code = SYN_REPORT, .value = 0 },
  };
  g_assert_cmpint (write (b->fd, ev, sizeof ev), ==, sizeof ev);
}

typedef struct {
  GString *seen;
} Log;

static void
record (const HwEvent *event, gpointer user_data)
{
  Log *log = user_data;
  g_assert_cmpstr (event->trigger, ==, "usb-button");
  g_assert_cmpint (event->edge_us, <=, event->reported_us);
  g_string_append_printf (log->seen, "%s%s", log->seen->len ? " " : "",
                          hw_event_kind_to_string (event->kind));
}

static void
spin (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;
  while (g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}

static gboolean
spin_until_connected (HwInput *input, gboolean want, guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;
  while (hw_input_is_connected (input) != want && g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (2000);
    }
  return hw_input_is_connected (input) == want;
}

static HwInputConfig
config_for (VirtualButton *b)
{
  return (HwInputConfig){
    .trigger = "usb-button",
    .kind = HW_INPUT_EVDEV,
    .debounce_ms = 20,
    .long_press_ms = 400,
    .device = b->event_path,
    .key_code = KEY_F13,
  };
}

static void
test_press_chatter_repeat (void)
{
  VirtualButton *b = button_new (KEY_F13);
  Log log = { g_string_new (NULL) };
  HwInputConfig c = config_for (b);
  GError *error = NULL;
  g_autoptr (HwInput) input = hw_input_new (&c, record, &log, &error);
  g_assert_no_error (error);
  spin (50);

  /* chatter on press, then held with autorepeat, chatter on release */
  button_emit (b, KEY_F13, 1);
  button_emit (b, KEY_F13, 0);
  button_emit (b, KEY_F13, 1);
  spin (100);
  button_emit (b, KEY_F13, 2);
  button_emit (b, KEY_F13, 2);
  spin (50);
  button_emit (b, KEY_F13, 0);
  button_emit (b, KEY_F13, 1);
  button_emit (b, KEY_F13, 0);
  spin (100);
  g_assert_cmpstr (log.seen->str, ==, "press release");

  /* a glitch shorter than the window: nothing */
  button_emit (b, KEY_F13, 1);
  g_usleep (2000);
  button_emit (b, KEY_F13, 0);
  spin (100);
  g_assert_cmpstr (log.seen->str, ==, "press release");

  /* long press */
  button_emit (b, KEY_F13, 1);
  spin (550);
  button_emit (b, KEY_F13, 0);
  spin (100);
  g_assert_cmpstr (log.seen->str, ==, "press release press long-press release");
  g_string_free (log.seen, TRUE);
  g_clear_pointer (&input, hw_input_free);
  button_free (b);
}

static void
test_missing_and_wrong_device (void)
{
  GError *error = NULL;
  Log log = { g_string_new (NULL) };
  HwInputConfig c = {
    .trigger = "usb-button",
    .kind = HW_INPUT_EVDEV,
    .debounce_ms = 20,
    .long_press_ms = 400,
    .device = "/dev/input/event99",
    .key_code = KEY_F13,
  };
  HwInput *input = hw_input_new (&c, record, &log, &error);
  g_assert_null (input);
  g_assert_error (error, HW_ERROR, HW_ERROR_NO_DEVICE);
  g_assert_nonnull (strstr (error->message, "/dev/input/event99"));
  g_clear_error (&error);

  /* a device that cannot send the configured key */
  VirtualButton *b = button_new (KEY_F14);
  c.device = b->event_path;
  input = hw_input_new (&c, record, &log, &error);
  g_assert_null (input);
  g_assert_error (error, HW_ERROR, HW_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "has no key with code 183"));
  g_clear_error (&error);
  button_free (b);
  g_string_free (log.seen, TRUE);
}

static void
test_unplug_replug (void)
{
  VirtualButton *b = button_new (KEY_F13);
  Log log = { g_string_new (NULL) };
  HwInputConfig c = config_for (b);
  g_autofree char *path = g_strdup (b->event_path);
  c.device = path;
  GError *error = NULL;
  g_autoptr (HwInput) input = hw_input_new (&c, record, &log, &error);
  g_assert_no_error (error);
  g_assert_true (hw_input_is_connected (input));

  g_test_expect_message ("ansim-hw", G_LOG_LEVEL_WARNING, "*usb-button*input lost*");
  button_free (b);
  g_assert_true (spin_until_connected (input, FALSE, 2000));
  g_test_assert_expected_messages ();

  b = button_new (KEY_F13);
  if (!g_str_equal (b->event_path, path))
    g_test_skip (
      "the kernel gave the new device another node; re-open follows the configured path");
  else
    {
      g_assert_true (spin_until_connected (input, TRUE, 4000));
      spin (50);
      button_emit (b, KEY_F13, 1);
      spin (80);
      button_emit (b, KEY_F13, 0);
      spin (80);
      g_assert_cmpstr (log.seen->str, ==, "press release");
    }
  g_clear_pointer (&input, hw_input_free);
  button_free (b);
  g_string_free (log.seen, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!g_file_test ("/dev/uinput", G_FILE_TEST_EXISTS))
    {
      g_printerr ("no /dev/uinput: run this inside the test guest (run-in-qemu)\n");
      return 1;
    }
  g_test_add_func ("/evdev/press-chatter-repeat", test_press_chatter_repeat);
  g_test_add_func ("/evdev/missing-and-wrong-device", test_missing_and_wrong_device);
  g_test_add_func ("/evdev/unplug-replug", test_unplug_replug);
  return g_test_run ();
}
