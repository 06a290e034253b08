/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The libgpiod backend of hw/ against a real kernel GPIO chip: runs inside
 * the QEMU guest of run-in-qemu and drives gpio-sim through sysfs/configfs. */
#include "sim-text.h"
#include "hw.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Lines of the simulated chip, as run-in-qemu names them. */
#define LINE_BUTTON 0
#define LINE_REC_LED 1
#define LINE_ACK_LED 2
#define LINE_BUZZER 3
#define LINE_BODYCAM 4

#define MS 1000
/* How far a timestamp may lie after the write(2) that made the edge: the
 * kernel stamps the edge in its interrupt handler during that write. */
#define EDGE_SLACK_US (10 * MS)
/* How long after its deadline an event may arrive under QEMU/TCG. */
#define LATE_US (250 * MS)

/* --- the simulated chip --------------------------------------------------- */

static const char *
sim_configfs (void)
{
  return g_getenv ("ANSIM_SIM_CONFIGFS");
}

static const char *
sim_label (void)
{
  return g_getenv ("ANSIM_SIM_LABEL");
}


/* /sys/devices/platform/gpio-sim.N/gpiochipM; the chip's name can change
 * when it is removed and added again, so this is looked up after each. */
static char *sim_sysfs_dir;

static void
sim_refresh (void)
{
  g_autofree char *dev_path = g_build_filename (sim_configfs (), "dev_name", NULL);
  g_autofree char *chip_path = g_build_filename (sim_configfs (), "bank0", "chip_name", NULL);
  g_autofree char *dev = sim_read_text (dev_path);
  g_autofree char *chip = sim_read_text (chip_path);

  g_free (sim_sysfs_dir);
  sim_sysfs_dir = g_build_filename ("/sys/devices/platform", dev, chip, NULL);
}

static gboolean
sim_is_live (void)
{
  g_autofree char *path = g_build_filename (sim_configfs (), "live", NULL);
  g_autofree char *text = sim_read_text (path);
  return g_str_equal (text, "1");
}

/* Adds (TRUE) or removes (FALSE) the whole chip, as unplugging would. */
static void
sim_set_live (gboolean live)
{
  g_autofree char *path = g_build_filename (sim_configfs (), "live", NULL);
  sim_write_text (path, live ? "1" : "0");
  if (live)
    sim_refresh ();
}

/* The wire: pull-up drives an input line high, pull-down low. The time
 * before and after the write bracket the kernel's edge timestamp. */
static void
sim_pull (guint line, gboolean up, gint64 *out_before, gint64 *out_after)
{
  char path[256];
  g_snprintf (path, sizeof path, "%s/sim_gpio%u/pull", sim_sysfs_dir, line);
  gint64 before = g_get_monotonic_time ();
  sim_write_text (path, up ? "pull-up" : "pull-down");
  gint64 after = g_get_monotonic_time ();
  if (out_before != NULL)
    *out_before = before;
  if (out_after != NULL)
    *out_after = after;
}

/* The level on the wire; for an output line, what the consumer drives. */
static int
sim_value (guint line)
{
  char path[256];
  g_snprintf (path, sizeof path, "%s/sim_gpio%u/value", sim_sysfs_dir, line);
  g_autofree char *text = sim_read_text (path);
  g_assert_true (g_str_equal (text, "0") || g_str_equal (text, "1"));
  return text[0] - '0';
}

static char *
sim_pull_state (guint line)
{
  char path[256];
  g_snprintf (path, sizeof path, "%s/sim_gpio%u/pull", sim_sysfs_dir, line);
  return sim_read_text (path);
}

/* --- the main loop ------------------------------------------------------------ */

typedef gboolean (*CondFunc) (gpointer data);

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
tick (gpointer data)
{
  (void) data;
  return G_SOURCE_CONTINUE;
}

/* Runs the thread-default main context until cond() holds or timeout_ms
 * have passed; returns cond(). With tick_ms 0 nothing but the deadline wakes
 * the loop, so whatever cond() waits for must wake it by itself, as in an
 * idle daemon; otherwise a timer wakes it every tick_ms, as a busy one. */
static gboolean
wait_for (CondFunc cond, gpointer data, guint timeout_ms, guint tick_ms)
{
  gboolean timed_out = FALSE;
  guint timeout_id = g_timeout_add (timeout_ms, set_flag, &timed_out);
  guint tick_id = tick_ms > 0 ? g_timeout_add (tick_ms, tick, NULL) : 0;

  while (!cond (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timeout_id);
  if (tick_id != 0)
    g_source_remove (tick_id);
  return cond (data);
}

static gboolean
never (gpointer data)
{
  (void) data;
  return FALSE;
}

/* Runs the main loop for ms, delivering whatever comes. */
static void
spin_for (guint ms)
{
  wait_for (never, NULL, ms, 0);
}

/* --- fixture ---------------------------------------------------------------------- */

typedef struct {
  HwEventKind kind;
  gint64 edge_us;
  gint64 reported_us;
} Seen;

typedef struct {
  GArray *seen; /* of Seen, in delivery order */
  HwInput *input;
  guint wanted; /* for has_events() */
} Fixture;

static void
record (const HwEvent *event, gpointer user_data)
{
  Fixture *f = user_data;
  Seen s = { event->kind, event->edge_us, event->reported_us };

  g_assert_cmpstr (event->trigger, ==, "desk-button");
  g_test_message ("event %s edge %" G_GINT64_FORMAT " reported %" G_GINT64_FORMAT
                  " (+%" G_GINT64_FORMAT " us)",
                  hw_event_kind_to_string (event->kind), event->edge_us, event->reported_us,
                  event->reported_us - event->edge_us);
  g_array_append_val (f->seen, s);
}

static gboolean
has_events (gpointer data)
{
  Fixture *f = data;
  return f->seen->len >= f->wanted;
}

/* Waits until n events in all have been delivered. */
static void
wait_events (Fixture *f, guint n, guint timeout_ms)
{
  f->wanted = n;
  wait_for (has_events, f, timeout_ms, 0);
}

static char *
kinds (Fixture *f)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < f->seen->len; i++)
    g_string_append_printf (s, "%s%s", i ? " " : "",
                            hw_event_kind_to_string (g_array_index (f->seen, Seen, i).kind));
  return g_string_free (s, FALSE);
}

#define assert_kinds(f, expected)                                                                  \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *got_ = kinds (f);                                                             \
    g_assert_cmpstr (got_, ==, (expected));                                                        \
  }                                                                                                \
  G_STMT_END

static Seen *
nth (Fixture *f, guint i)
{
  g_assert_cmpuint (i, <, f->seen->len);
  return &g_array_index (f->seen, Seen, i);
}

/* The event's edge lies in [before, after + slack] and it was decided a
 * debounce window after that edge, but not much later. */
static void
assert_timing (const Seen *s, gint64 before, gint64 after, guint debounce_ms)
{
  g_assert_cmpint (s->edge_us, >=, before);
  g_assert_cmpint (s->edge_us, <=, after + EDGE_SLACK_US);
  g_assert_cmpint (s->reported_us - s->edge_us, >=, (gint64) debounce_ms * MS);
}

static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  f->seen = g_array_new (FALSE, FALSE, sizeof (Seen));

  if (!sim_is_live ())
    sim_set_live (TRUE);
  sim_refresh ();
  for (guint line = 0; line < 8; line++)
    sim_pull (line, FALSE, NULL, NULL);
  /* Nothing left over from an earlier test. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  g_clear_pointer (&f->input, hw_input_free);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (!sim_is_live ())
    sim_set_live (TRUE);
  g_array_unref (f->seen);
}

static HwInput *
button_new (Fixture *f, guint debounce_ms, guint long_press_ms, gboolean active_low, HwBias bias)
{
  g_autoptr (GError) error = NULL;
  HwInputConfig config = {
    .trigger = "desk-button",
    .kind = HW_INPUT_GPIO,
    .debounce_ms = debounce_ms,
    .long_press_ms = long_press_ms,
    .chip = sim_label (),
    .line = LINE_BUTTON,
    .active_low = active_low,
    .bias = bias,
  };
  HwInput *input = hw_input_new (&config, record, f, &error);
  g_assert_no_error (error);
  g_assert_nonnull (input);
  g_assert_true (hw_input_is_connected (input));
  g_assert_cmpint (hw_input_get_kind (input), ==, HW_INPUT_GPIO);
  g_assert_cmpstr (hw_input_get_trigger (input), ==, "desk-button");
  return input;
}

/* Levels written 2 ms apart, ending on the final one; returns the longest
 * time any one level was held on the wire, which must stay below the window
 * for the test to mean anything. */
static gint64
chatter (guint line, const gboolean *levels, guint n, gint64 *out_last_before,
         gint64 *out_last_after)
{
  gint64 longest = 0;
  gint64 prev = 0;
  for (guint i = 0; i < n; i++)
    {
      gint64 before, after;
      sim_pull (line, levels[i], &before, &after);
      if (i > 0)
        longest = MAX (longest, after - prev);
      prev = before;
      *out_last_before = before;
      *out_last_after = after;
      if (i + 1 < n)
        g_usleep (2 * MS);
    }
  return longest;
}

/* --- inputs --------------------------------------------------------------------------- */

/* A clean press and release, read late: the edge times are the kernel's,
 * not the time the daemon got round to reading the line. */
static void
test_press_release (Fixture *f, gconstpointer data)
{
  (void) data;
  gint64 before, after;

  f->input = button_new (f, 20, 0, FALSE, HW_BIAS_AS_IS);
  spin_for (100);
  assert_kinds (f, "");

  sim_pull (LINE_BUTTON, TRUE, &before, &after);
  g_usleep (60 * MS); /* busy elsewhere: the edge waits in the kernel */
  wait_events (f, 1, 2000);
  assert_kinds (f, "press");
  assert_timing (nth (f, 0), before, after, 20);
  g_assert_cmpint (nth (f, 0)->reported_us, <=, after + 60 * MS + LATE_US);

  sim_pull (LINE_BUTTON, FALSE, &before, &after);
  wait_events (f, 2, 2000);
  assert_kinds (f, "press release");
  assert_timing (nth (f, 1), before, after, 20);
  g_assert_cmpint (nth (f, 1)->reported_us, <=, after + 20 * MS + LATE_US);

  spin_for (200);
  assert_kinds (f, "press release");
}

/* Contacts bouncing on press and on release give one press, one release. */
static void
test_chatter (Fixture *f, gconstpointer data)
{
  (void) data;
  static const gboolean press[] = { TRUE, FALSE, TRUE, FALSE, TRUE, FALSE, TRUE };
  static const gboolean release[] = { FALSE, TRUE, FALSE, TRUE, FALSE, TRUE, FALSE };
  gint64 before, after;

  f->input = button_new (f, 50, 0, FALSE, HW_BIAS_AS_IS);
  spin_for (100);

  g_assert_cmpint (chatter (LINE_BUTTON, press, G_N_ELEMENTS (press), &before, &after), <, 50 * MS);
  wait_events (f, 1, 2000);
  spin_for (200);
  assert_kinds (f, "press");
  assert_timing (nth (f, 0), before, after, 50); /* the last edge began it */

  g_assert_cmpint (chatter (LINE_BUTTON, release, G_N_ELEMENTS (release), &before, &after), <,
                   50 * MS);
  wait_events (f, 2, 2000);
  spin_for (200);
  assert_kinds (f, "press release");
  assert_timing (nth (f, 1), before, after, 50);
}

/* A glitch shorter than the window is no press; a short dropout during a
 * press is no release. */
static void
test_glitch (Fixture *f, gconstpointer data)
{
  (void) data;
  gint64 up_before, up_after, down_before, down_after;

  f->input = button_new (f, 50, 0, FALSE, HW_BIAS_AS_IS);
  spin_for (100);

  sim_pull (LINE_BUTTON, TRUE, &up_before, &up_after);
  g_usleep (3 * MS);
  sim_pull (LINE_BUTTON, FALSE, &down_before, &down_after);
  g_assert_cmpint (down_after - up_before, <, 50 * MS);
  spin_for (300);
  assert_kinds (f, "");

  sim_pull (LINE_BUTTON, TRUE, NULL, NULL);
  wait_events (f, 1, 2000);
  assert_kinds (f, "press");
  sim_pull (LINE_BUTTON, FALSE, &down_before, &down_after);
  g_usleep (3 * MS);
  sim_pull (LINE_BUTTON, TRUE, &up_before, &up_after);
  g_assert_cmpint (up_after - down_before, <, 50 * MS);
  spin_for (300);
  assert_kinds (f, "press");

  sim_pull (LINE_BUTTON, FALSE, NULL, NULL);
  wait_events (f, 2, 2000);
  assert_kinds (f, "press release");
}

/* Held past the threshold: press, long press, release. */
static void
test_long_press (Fixture *f, gconstpointer data)
{
  (void) data;
  gint64 before, after;

  f->input = button_new (f, 20, 300, FALSE, HW_BIAS_AS_IS);
  spin_for (100);

  sim_pull (LINE_BUTTON, TRUE, &before, &after);
  wait_events (f, 1, 2000);
  assert_kinds (f, "press");
  wait_events (f, 2, 2000);
  assert_kinds (f, "press long-press");
  Seen *press = nth (f, 0), *longp = nth (f, 1);
  assert_timing (press, before, after, 20);
  g_assert_cmpint (longp->edge_us, ==, press->edge_us);
  g_assert_cmpint (longp->reported_us - longp->edge_us, >=, 300 * MS);
  g_assert_cmpint (longp->reported_us, <=, after + 300 * MS + LATE_US);

  spin_for (400); /* at most once per press */
  assert_kinds (f, "press long-press");

  sim_pull (LINE_BUTTON, FALSE, &before, &after);
  wait_events (f, 3, 2000);
  assert_kinds (f, "press long-press release");
  assert_timing (nth (f, 2), before, after, 20);
}

/* Released before the threshold: no long press. */
static void
test_short_press (Fixture *f, gconstpointer data)
{
  (void) data;
  gint64 before, after;

  f->input = button_new (f, 20, 300, FALSE, HW_BIAS_AS_IS);
  spin_for (100);

  sim_pull (LINE_BUTTON, TRUE, &before, &after);
  wait_events (f, 1, 2000);
  g_usleep (20 * MS);
  sim_pull (LINE_BUTTON, FALSE, NULL, NULL);
  gint64 held = g_get_monotonic_time () - before;
  g_assert_cmpint (held, <, 300 * MS - 50 * MS);
  wait_events (f, 2, 2000);
  spin_for (500);
  assert_kinds (f, "press release");
}

/* A button to ground with the line pulled up: the request's bias pulls the
 * wire high (inactive), the button pulls it low (active). */
static void
test_active_low (Fixture *f, gconstpointer data)
{
  (void) data;
  gint64 before, after;

  g_assert_cmpint (sim_value (LINE_BUTTON), ==, 0);
  f->input = button_new (f, 20, 0, TRUE, HW_BIAS_PULL_UP);
  g_assert_cmpint (sim_value (LINE_BUTTON), ==, 1); /* the bias was applied */
  g_autofree char *pull = sim_pull_state (LINE_BUTTON);
  g_assert_cmpstr (pull, ==, "pull-up");
  spin_for (150);
  assert_kinds (f, "");

  sim_pull (LINE_BUTTON, FALSE, &before, &after);
  wait_events (f, 1, 2000);
  assert_kinds (f, "press");
  assert_timing (nth (f, 0), before, after, 20);

  sim_pull (LINE_BUTTON, TRUE, &before, &after);
  wait_events (f, 2, 2000);
  spin_for (100);
  assert_kinds (f, "press release");
  assert_timing (nth (f, 1), before, after, 20);
}

/* A button already held when the input is opened is a press. */
static void
test_held_at_start (Fixture *f, gconstpointer data)
{
  (void) data;

  sim_pull (LINE_BUTTON, TRUE, NULL, NULL);
  gint64 opened = g_get_monotonic_time ();
  f->input = button_new (f, 20, 0, FALSE, HW_BIAS_AS_IS);
  wait_events (f, 1, 2000);
  assert_kinds (f, "press");
  g_assert_cmpint (nth (f, 0)->edge_us, >=, opened);

  sim_pull (LINE_BUTTON, FALSE, NULL, NULL);
  wait_events (f, 2, 2000);
  assert_kinds (f, "press release");
}

/* --- errors ---------------------------------------------------------------------------- */

static void
assert_no_device (const GError *error, const char *chip)
{
  g_assert_error (error, HW_ERROR, HW_ERROR_NO_DEVICE);
  g_test_message ("error: %s", error->message);
  g_assert_nonnull (strstr (error->message, chip));
}

static void
test_chip_missing (Fixture *f, gconstpointer data)
{
  (void) data;
  HwInputConfig in = {
    .trigger = "desk-button",
    .kind = HW_INPUT_GPIO,
    .debounce_ms = 20,
    .chip = "ansim-no-such-chip",
    .line = LINE_BUTTON,
  };
  HwOutputConfig out = {
    .name = "recording",
    .kind = HW_OUTPUT_GPIO,
    .chip = "ansim-no-such-chip",
    .line = LINE_REC_LED,
  };
  g_autoptr (GError) error = NULL;

  g_assert_null (hw_input_new (&in, record, f, &error));
  assert_no_device (error, "ansim-no-such-chip");
  g_clear_error (&error);
  g_assert_null (hw_output_new (&out, &error));
  assert_no_device (error, "ansim-no-such-chip");
  g_clear_error (&error);

  /* The configured chip itself, while it is unplugged. */
  sim_set_live (FALSE);
  in.chip = out.chip = sim_label ();
  g_assert_null (hw_input_new (&in, record, f, &error));
  assert_no_device (error, sim_label ());
  g_clear_error (&error);
  g_assert_null (hw_output_new (&out, &error));
  assert_no_device (error, sim_label ());
}

static void
test_line_missing (Fixture *f, gconstpointer data)
{
  (void) data;
  HwInputConfig in = {
    .trigger = "desk-button",
    .kind = HW_INPUT_GPIO,
    .debounce_ms = 20,
    .chip = sim_label (),
    .line = 8,
  };
  HwOutputConfig out = {
    .name = "recording", .kind = HW_OUTPUT_GPIO, .chip = sim_label (), .line = 8
  };
  g_autoptr (GError) error = NULL;

  g_assert_null (hw_input_new (&in, record, f, &error));
  g_assert_error (error, HW_ERROR, HW_ERROR_NO_DEVICE);
  g_test_message ("error: %s", error->message);
  g_clear_error (&error);
  g_assert_null (hw_output_new (&out, &error));
  g_assert_error (error, HW_ERROR, HW_ERROR_NO_DEVICE);
  g_test_message ("error: %s", error->message);
}

/* A line someone else holds is HW_ERROR_BUSY. */
static void
test_line_busy (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;
  HwInputConfig in = {
    .trigger = "desk-button",
    .kind = HW_INPUT_GPIO,
    .debounce_ms = 20,
    .chip = sim_label (),
    .line = LINE_BUTTON,
  };
  HwOutputConfig out = {
    .name = "recording", .kind = HW_OUTPUT_GPIO, .chip = sim_label (), .line = LINE_BUTTON
  };

  f->input = button_new (f, 20, 0, FALSE, HW_BIAS_AS_IS);
  g_assert_null (hw_input_new (&in, record, f, &error));
  g_assert_error (error, HW_ERROR, HW_ERROR_BUSY);
  g_clear_error (&error);
  g_assert_null (hw_output_new (&out, &error));
  g_assert_error (error, HW_ERROR, HW_ERROR_BUSY);
}

/* --- unplug and replug -------------------------------------------------------------------------- */

static gboolean
is_connected (gpointer data)
{
  return hw_input_is_connected (data);
}

static gboolean
is_disconnected (gpointer data)
{
  return !hw_input_is_connected (data);
}

/* The hw layer reports a lost device with one g_warning naming the trigger
 * (g_test makes an unexpected warning fatal). */
static void
expect_lost_warning (void)
{
  g_test_expect_message ("ansim-hw", G_LOG_LEVEL_WARNING, "*desk-button*");
}

/* Removing the chip under an idle main loop: the input must notice by
 * itself (nothing else wakes the loop here) and say so with a warning. */
static void
test_unplug_noticed (Fixture *f, gconstpointer data)
{
  (void) data;

  f->input = button_new (f, 20, 0, FALSE, HW_BIAS_AS_IS);
  spin_for (100);

  expect_lost_warning ();
  sim_set_live (FALSE);
  gint64 removed = g_get_monotonic_time ();
  gboolean noticed = wait_for (is_disconnected, f->input, 3000, 0);
  g_test_message ("noticed after %" G_GINT64_FORMAT " ms",
                  (g_get_monotonic_time () - removed) / MS);
  if (!noticed)
    g_test_message ("still connected 3 s after the chip was removed, with nothing else waking "
                    "the main loop (Linux 6.1 does not wake a poll() on a line-event fd when its "
                    "chip goes away; POLLHUP shows only on the next poll())");
  g_assert_true (noticed);
  g_test_assert_expected_messages ();
}

/* Removed while the loop is busy, then added again: the input is re-opened
 * and delivers presses again, and the process never stopped. */
static void
test_unplug_replug (Fixture *f, gconstpointer data)
{
  (void) data;
  gint64 before, after;

  f->input = button_new (f, 20, 0, FALSE, HW_BIAS_AS_IS);
  spin_for (100);

  sim_pull (LINE_BUTTON, TRUE, NULL, NULL);
  wait_events (f, 1, 2000);
  sim_pull (LINE_BUTTON, FALSE, NULL, NULL);
  wait_events (f, 2, 2000);
  assert_kinds (f, "press release");

  expect_lost_warning ();
  sim_set_live (FALSE);
  g_assert_true (wait_for (is_disconnected, f->input, 3000, 100));
  spin_for (2500); /* a few failed re-open attempts, no more warnings */
  g_test_assert_expected_messages ();
  g_assert_false (hw_input_is_connected (f->input));

  sim_set_live (TRUE);
  g_test_message ("chip back as %s", sim_sysfs_dir);
  g_assert_true (wait_for (is_connected, f->input, 5000, 0));
  spin_for (100);
  assert_kinds (f, "press release");

  sim_pull (LINE_BUTTON, TRUE, &before, &after);
  wait_events (f, 3, 2000);
  assert_kinds (f, "press release press");
  assert_timing (nth (f, 2), before, after, 20);
  sim_pull (LINE_BUTTON, FALSE, NULL, NULL);
  wait_events (f, 4, 2000);
  assert_kinds (f, "press release press release");
}

/* --- outputs --------------------------------------------------------------------------------------- */

static HwOutput *
light_new (const char *name, guint line, gboolean active_low)
{
  g_autoptr (GError) error = NULL;
  /* By chip name (gpiochipN) here; the inputs use the label. */
  g_autofree char *chip = g_path_get_basename (sim_sysfs_dir);
  HwOutputConfig config = {
    .name = name,
    .kind = HW_OUTPUT_GPIO,
    .chip = chip,
    .line = line,
    .active_low = active_low,
  };
  HwOutput *output = hw_output_new (&config, &error);
  g_assert_no_error (error);
  g_assert_nonnull (output);
  g_assert_cmpstr (hw_output_get_name (output), ==, name);
  return output;
}

static void
test_output (Fixture *f, gconstpointer data)
{
  (void) f;
  (void) data;
  g_autoptr (GError) error = NULL;
  g_autoptr (HwOutput) rec = light_new ("recording", LINE_REC_LED, FALSE);

  g_assert_cmpint (sim_value (LINE_REC_LED), ==, 0);
  g_assert_false (hw_output_get (rec));
  g_assert_true (hw_output_set (rec, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sim_value (LINE_REC_LED), ==, 1);
  g_assert_true (hw_output_get (rec));
  g_assert_true (hw_output_set (rec, FALSE, &error));
  g_assert_cmpint (sim_value (LINE_REC_LED), ==, 0);
  g_assert_false (hw_output_get (rec));
  g_assert_true (hw_output_set (rec, TRUE, &error));
  g_assert_cmpint (sim_value (LINE_REC_LED), ==, 1);
  /* The other lines are left alone. */
  g_assert_cmpint (sim_value (LINE_ACK_LED), ==, 0);
  g_assert_cmpint (sim_value (LINE_BUZZER), ==, 0);
}

static void
test_output_active_low (Fixture *f, gconstpointer data)
{
  (void) f;
  (void) data;
  g_autoptr (GError) error = NULL;
  g_autoptr (HwOutput) ack = light_new ("acknowledged", LINE_ACK_LED, TRUE);

  g_assert_cmpint (sim_value (LINE_ACK_LED), ==, 1); /* off */
  g_assert_true (hw_output_set (ack, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sim_value (LINE_ACK_LED), ==, 0);
  g_assert_true (hw_output_get (ack));
  g_assert_true (hw_output_set (ack, FALSE, &error));
  g_assert_cmpint (sim_value (LINE_ACK_LED), ==, 1);
  g_assert_false (hw_output_get (ack));
}

static gboolean
buzzer_is_off (gpointer data)
{
  (void) data;
  return sim_value (LINE_BUZZER) == 0;
}

static void
test_output_pulse (Fixture *f, gconstpointer data)
{
  (void) f;
  (void) data;
  g_autoptr (GError) error = NULL;
  g_autoptr (HwOutput) buzzer = light_new ("buzzer", LINE_BUZZER, FALSE);

  gint64 start = g_get_monotonic_time ();
  g_assert_true (hw_output_pulse (buzzer, 150, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sim_value (LINE_BUZZER), ==, 1);
  g_assert_true (wait_for (buzzer_is_off, NULL, 2000, 10));
  gint64 took = g_get_monotonic_time () - start;
  g_assert_cmpint (took, >=, 150 * MS);
  g_assert_cmpint (took, <=, 150 * MS + LATE_US);
  g_assert_false (hw_output_get (buzzer));

  /* A set() during a pulse cancels its end. */
  g_assert_true (hw_output_pulse (buzzer, 100, &error));
  g_assert_true (hw_output_set (buzzer, TRUE, &error));
  spin_for (300);
  g_assert_cmpint (sim_value (LINE_BUZZER), ==, 1);
  g_assert_true (hw_output_get (buzzer));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  if (sim_configfs () == NULL || sim_label () == NULL)
    {
      g_printerr ("test-gpio-sim runs inside the gpio-sim guest: "
                  "tests/gpio-sim/run-in-qemu SCRATCH_DIR test-gpio-sim\n");
      g_print ("1..0 # SKIP not inside the gpio-sim guest (ANSIM_SIM_CONFIGFS is not set)\n");
      return 0;
    }
  sim_refresh ();

#define ADD(path, fn) g_test_add ("/gpio-sim/" path, Fixture, NULL, setup, fn, teardown)
  ADD ("input/press-release", test_press_release);
  ADD ("input/chatter", test_chatter);
  ADD ("input/glitch", test_glitch);
  ADD ("input/long-press", test_long_press);
  ADD ("input/short-press", test_short_press);
  ADD ("input/active-low-pull-up", test_active_low);
  ADD ("input/held-at-start", test_held_at_start);
  ADD ("error/chip-missing", test_chip_missing);
  ADD ("error/line-missing", test_line_missing);
  ADD ("error/line-busy", test_line_busy);
  ADD ("output/on-off", test_output);
  ADD ("output/active-low", test_output_active_low);
  ADD ("output/pulse", test_output_pulse);
  ADD ("hotplug/unplug-noticed-when-idle", test_unplug_noticed);
  ADD ("hotplug/unplug-replug", test_unplug_replug);
#undef ADD

  int ret = g_test_run ();
  g_clear_pointer (&sim_sysfs_dir, g_free);
  return ret;
}
