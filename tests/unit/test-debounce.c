/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Debounce and long-press decisions on synthetic edge sequences: chatter,
 * glitches, thresholds, and a randomized check against the intended presses. */
#include "hw.h"

#define MS 1000

typedef struct {
  HwEventKind kind;
  gint64 edge_us;
  gint64 reported_us;
} Seen;

typedef struct {
  GArray *seen;
  HwDebouncer *debouncer;
} Fixture;

static void
record (const HwEvent *event, gpointer user_data)
{
  Fixture *f = user_data;
  g_assert_cmpstr (event->trigger, ==, "desk-button");
  Seen s = { event->kind, event->edge_us, event->reported_us };
  g_array_append_val (f->seen, s);
}

static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  f->seen = g_array_new (FALSE, FALSE, sizeof (Seen));
  f->debouncer = hw_debouncer_new ("desk-button", 20, 3000, record, f);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  hw_debouncer_free (f->debouncer);
  g_array_unref (f->seen);
}

/* Drive the debouncer as the main loop would: advance at every deadline
 * that falls before the next edge, then feed the edge. */
static void
run_until (HwDebouncer *d, gint64 until)
{
  for (;;)
    {
      gint64 next = hw_debouncer_next_deadline (d);
      if (next < 0 || next > until)
        break;
      hw_debouncer_advance (d, next);
    }
}

static void
edge (Fixture *f, gboolean active, gint64 at)
{
  run_until (f->debouncer, at);
  hw_debouncer_feed (f->debouncer, active, at);
}

static void
assert_events (Fixture *f, const char *expected)
{
  g_autoptr (GString) got = g_string_new (NULL);
  for (guint i = 0; i < f->seen->len; i++)
    {
      Seen *s = &g_array_index (f->seen, Seen, i);
      g_string_append_printf (got, "%s%s@%" G_GINT64_FORMAT, i ? " " : "",
                              hw_event_kind_to_string (s->kind), s->edge_us / MS);
    }
  g_assert_cmpstr (got->str, ==, expected);
}

static void
test_clean (Fixture *f, gconstpointer data)
{
  (void) data;
  edge (f, TRUE, 100 * MS);
  edge (f, FALSE, 400 * MS);
  run_until (f->debouncer, 10000 * MS);
  assert_events (f, "press@100 release@400");
  /* decided exactly one debounce window after the edge */
  g_assert_cmpint (g_array_index (f->seen, Seen, 0).reported_us, ==, 120 * MS);
  g_assert_cmpint (g_array_index (f->seen, Seen, 1).reported_us, ==, 420 * MS);
  g_assert_false (hw_debouncer_is_pressed (f->debouncer));
}

static void
test_chatter (Fixture *f, gconstpointer data)
{
  (void) data;
  /* contacts bounce for 6 ms on press and on release */
  gint64 press[] = { 100, 101, 102, 104, 105, 106 };
  for (guint i = 0; i < G_N_ELEMENTS (press); i++)
    edge (f, i % 2 == 0, press[i] * MS);
  g_assert_cmpint (f->seen->len, ==, 0);
  edge (f, TRUE, 107 * MS);
  gint64 release[] = { 500, 501, 503, 504, 506 };
  for (guint i = 0; i < G_N_ELEMENTS (release); i++)
    edge (f, i % 2 != 0, release[i] * MS);
  run_until (f->debouncer, 10000 * MS);
  assert_events (f, "press@107 release@506");
}

static void
test_glitch (Fixture *f, gconstpointer data)
{
  (void) data;
  edge (f, TRUE, 100 * MS);
  edge (f, FALSE, 119 * MS); /* 19 ms < 20 ms window */
  run_until (f->debouncer, 1000 * MS);
  assert_events (f, "");
  /* a glitch low while held does not release */
  edge (f, TRUE, 2000 * MS);
  edge (f, FALSE, 2100 * MS);
  edge (f, TRUE, 2110 * MS);
  run_until (f->debouncer, 2500 * MS);
  g_assert_true (hw_debouncer_is_pressed (f->debouncer));
  assert_events (f, "press@2000");
}

static void
test_long_press (Fixture *f, gconstpointer data)
{
  (void) data;
  edge (f, TRUE, 100 * MS);
  run_until (f->debouncer, 3099 * MS);
  assert_events (f, "press@100");
  run_until (f->debouncer, 3100 * MS);
  assert_events (f, "press@100 long-press@100");
  g_assert_cmpint (g_array_index (f->seen, Seen, 1).reported_us, ==, 3100 * MS);
  run_until (f->debouncer, 9000 * MS); /* fires once only */
  edge (f, FALSE, 9000 * MS);
  run_until (f->debouncer, 10000 * MS);
  assert_events (f, "press@100 long-press@100 release@9000");
}

static void
test_short_of_long (Fixture *f, gconstpointer data)
{
  (void) data;
  /* released 10 ms before the threshold, confirmed after it: no long press */
  edge (f, TRUE, 0);
  edge (f, FALSE, 2990 * MS);
  run_until (f->debouncer, 5000 * MS);
  assert_events (f, "press@0 release@2990");
}

static void
test_glitch_across_threshold (Fixture *f, gconstpointer data)
{
  (void) data;
  /* a short drop that spans the threshold: still held, so a long press */
  edge (f, TRUE, 0);
  edge (f, FALSE, 2995 * MS);
  edge (f, TRUE, 3005 * MS);
  run_until (f->debouncer, 5000 * MS);
  assert_events (f, "press@0 long-press@0");
  g_assert_cmpint (g_array_index (f->seen, Seen, 1).reported_us, ==, 3005 * MS);
}

static void
test_zero_window (void)
{
  g_autoptr (GArray) seen = g_array_new (FALSE, FALSE, sizeof (Seen));
  Fixture f = { seen, NULL };
  g_autoptr (HwDebouncer) d = hw_debouncer_new ("desk-button", 0, 1000, record, &f);
  hw_debouncer_feed (d, TRUE, 5 * MS);
  g_assert_cmpuint (seen->len, ==, 1);
  g_assert_cmpint (g_array_index (seen, Seen, 0).reported_us, ==, 5 * MS);
  hw_debouncer_feed (d, TRUE, 6 * MS); /* repeated level: nothing */
  hw_debouncer_feed (d, FALSE, 7 * MS);
  g_assert_cmpuint (seen->len, ==, 2);
  g_assert_cmpint (g_array_index (seen, Seen, 1).kind, ==, HW_EVENT_RELEASE);
}

static void
test_deadlines (Fixture *f, gconstpointer data)
{
  (void) data;
  g_assert_cmpint (hw_debouncer_next_deadline (f->debouncer), ==, -1);
  hw_debouncer_feed (f->debouncer, TRUE, 100 * MS);
  g_assert_cmpint (hw_debouncer_next_deadline (f->debouncer), ==, 120 * MS);
  hw_debouncer_advance (f->debouncer, 120 * MS);
  g_assert_cmpint (hw_debouncer_next_deadline (f->debouncer), ==, 3100 * MS);
  hw_debouncer_feed (f->debouncer, FALSE, 200 * MS);
  /* release pending: only the debounce deadline, never a past long deadline */
  g_assert_cmpint (hw_debouncer_next_deadline (f->debouncer), ==, 220 * MS);
  hw_debouncer_advance (f->debouncer, 220 * MS);
  g_assert_cmpint (hw_debouncer_next_deadline (f->debouncer), ==, -1);
}

/* Intended presses with random chatter (bursts shorter than the window at
 * each edge, and short glitches inside each state) must come out exactly as
 * the debounced signal says: a long press when the settled release comes at
 * least long_press_ms after the settled press. */
static gint64
chatter_to (Fixture *f, GRand *rand, guint window, gboolean level, gint64 t)
{
  int bounces = g_rand_int_range (rand, 0, 4) * 2;
  for (int b = 0; b < bounces; b++)
    {
      edge (f, (b % 2 == 0) == level, t);
      t += g_rand_int_range (rand, 1, window) * MS / 2 + 1;
    }
  edge (f, level, t);
  return t;
}

static gint64
hold_with_glitch (Fixture *f, GRand *rand, guint window, gboolean level, gint64 settled,
                  gint64 hold)
{
  gint64 glitch_at = settled + window * MS + g_rand_int_range (rand, 0, hold / MS / 2 + 1) * MS;
  if (glitch_at + window * MS < settled + hold)
    {
      edge (f, !level, glitch_at);
      edge (f, level, glitch_at + g_rand_int_range (rand, 1, window) * MS);
    }
  return settled + hold;
}

static void
test_random (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (g_test_rand_int ());
  for (int round = 0; round < 300; round++)
    {
      guint window = g_rand_int_range (rand, 5, 50);
      guint long_ms = g_rand_int_range (rand, 200, 2000);
      g_autoptr (GArray) seen = g_array_new (FALSE, FALSE, sizeof (Seen));
      Fixture f = { seen, NULL };
      f.debouncer = hw_debouncer_new ("desk-button", window, long_ms, record, &f);
      g_autoptr (GString) expected = g_string_new (NULL);
      gint64 t = 1000 * MS;
      int presses = g_rand_int_range (rand, 1, 6);
      for (int p = 0; p < presses; p++)
        {
          gint64 pressed = chatter_to (&f, rand, window, TRUE, t);
          gint64 hold = g_rand_int_range (rand, window + 1, long_ms * 2) * (gint64) MS;
          t = hold_with_glitch (&f, rand, window, TRUE, pressed, hold);
          gint64 released = chatter_to (&f, rand, window, FALSE, t);
          g_string_append_printf (expected, "press@%" G_GINT64_FORMAT " ", pressed / MS);
          if (released - pressed >= long_ms * (gint64) MS)
            g_string_append_printf (expected, "long-press@%" G_GINT64_FORMAT " ", pressed / MS);
          g_string_append_printf (expected, "release@%" G_GINT64_FORMAT " ", released / MS);
          gint64 idle = g_rand_int_range (rand, window + 1, 1000) * (gint64) MS;
          t = hold_with_glitch (&f, rand, window, FALSE, released, idle);
        }
      run_until (f.debouncer, t + 10000 * MS);
      g_string_truncate (expected, expected->len - 1);
      assert_events (&f, expected->str);
      hw_debouncer_free (f.debouncer);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/debounce/" path, Fixture, NULL, setup, fn, teardown)
  ADD ("clean", test_clean);
  ADD ("chatter", test_chatter);
  ADD ("glitch", test_glitch);
  ADD ("long-press", test_long_press);
  ADD ("short-of-long", test_short_of_long);
  ADD ("glitch-across-threshold", test_glitch_across_threshold);
  ADD ("deadlines", test_deadlines);
  g_test_add_func ("/debounce/zero-window", test_zero_window);
  g_test_add_func ("/debounce/random", test_random);
  return g_test_run ();
}
