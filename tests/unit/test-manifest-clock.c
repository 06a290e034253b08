/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The manifest's desk clock members (docs/evidence-format.md, "Desk
 * clock"): written and read back exactly, "never measured" kept apart
 * from an offset of 0, absent in older manifests, and anything else in
 * them refused with the member named. */
#include <string.h>

#include "manifest.h"
#include "test-common.h"

#define WALL0 G_GINT64_CONSTANT (1765000000000000)

static AnsimManifest *
new_manifest (AnsimDeviceKey **out_key)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ansim-manifest-clock-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "device.pem", NULL);
  *out_key = ansim_device_key_load_or_create (path, &error);
  g_assert_no_error (error);
  test_rm_rf (dir);
  AnsimManifestInfo info = {
    .device_id = "board-1",
    .desk_id = "desk-1",
    .trigger_name = "desk-button",
    .trigger_kind = ANSIM_TRIGGER_BUTTON,
    .source = "cam",
    .opened_wall_us = WALL0,
    .opened_mono_us = 5 * G_USEC_PER_SEC,
  };
  AnsimManifest *m = ansim_manifest_new (&info, *out_key, &error);
  g_assert_no_error (error);
  return m;
}

static AnsimManifest *
reparse (AnsimManifest *m, char **out_text)
{
  g_autoptr (GBytes) bytes = ansim_manifest_to_bytes (m);
  g_autoptr (GError) error = NULL;
  AnsimManifest *back =
    ansim_manifest_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);
  g_assert_no_error (error);
  if (out_text != NULL)
    *out_text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  return back;
}

static void
test_round_trip (void)
{
  g_autoptr (AnsimDeviceKey) key = NULL;
  g_autoptr (AnsimManifest) m = new_manifest (&key);
  g_autoptr (GError) error = NULL;

  /* none set: no member, the getter says nothing */
  g_autofree char *plain = NULL;
  g_autoptr (AnsimManifest) none = reparse (m, &plain);
  g_assert_null (strstr (plain, "desk_clock"));
  g_assert_null (ansim_manifest_get_desk_clock (none, ANSIM_MANIFEST_CLOCK_AT_OPEN));

  AnsimDeskClock never = { 0 };
  g_assert_true (ansim_manifest_set_desk_clock (m, ANSIM_MANIFEST_CLOCK_AT_OPEN, &never, &error));
  AnsimDeskClock slow = { .measured = TRUE,
                          .offset_us = 94608000123456,
                          .bound_us = 750,
                          .measured_wall_us = WALL0 - 3 * G_USEC_PER_SEC };
  g_assert_true (
    ansim_manifest_close (m, "post-event", WALL0 + G_USEC_PER_SEC, 6 * G_USEC_PER_SEC, &error));
  g_assert_no_error (error);
  /* closed: too late to say */
  g_assert_false (ansim_manifest_set_desk_clock (m, ANSIM_MANIFEST_CLOCK_AT_CLOSE, &slow, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_STATE);
  g_clear_error (&error);

  g_autoptr (AnsimDeviceKey) key2 = NULL;
  g_autoptr (AnsimManifest) m2 = new_manifest (&key2);
  g_assert_true (ansim_manifest_set_desk_clock (m2, ANSIM_MANIFEST_CLOCK_AT_OPEN, &never, &error));
  g_assert_true (ansim_manifest_set_desk_clock (m2, ANSIM_MANIFEST_CLOCK_AT_CLOSE, &slow, &error));
  g_autofree char *text = NULL;
  g_autoptr (AnsimManifest) back = reparse (m2, &text);
  g_test_message ("%s", text);
  g_assert_nonnull (strstr (text, "\"desk_clock_at_open\" : null"));
  g_assert_nonnull (strstr (text, "\"desk_clock_at_close\" : {"));
  g_assert_nonnull (strstr (text, "\"offset_us\" : 94608000123456"));
  g_assert_nonnull (strstr (text, "\"measured_wall\" : \"2025-12-06T05:46:37.000000Z\""));
  const AnsimDeskClock *o = ansim_manifest_get_desk_clock (back, ANSIM_MANIFEST_CLOCK_AT_OPEN);
  const AnsimDeskClock *c = ansim_manifest_get_desk_clock (back, ANSIM_MANIFEST_CLOCK_AT_CLOSE);
  g_assert_nonnull (o);
  g_assert_false (o->measured);
  g_assert_nonnull (c);
  g_assert_true (c->measured);
  g_assert_cmpint (c->offset_us, ==, slow.offset_us);
  g_assert_cmpint (c->bound_us, ==, slow.bound_us);
  g_assert_cmpint (c->measured_wall_us, ==, slow.measured_wall_us);

  AnsimDeskClock bad = { .measured = TRUE, .bound_us = -1 };
  g_assert_false (ansim_manifest_set_desk_clock (m2, ANSIM_MANIFEST_CLOCK_AT_OPEN, &bad, &error));
  g_assert_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
}

/* A measured member of a manifest replaced by value; parsing must refuse
 * it naming what is wrong. */
static void
test_parse_rejects (void)
{
  static const struct {
    const char *value;
    const char *says;
  } cases[] = {
    { "0", "desk_clock_at_open: expected an object or null" },
    { "{\"offset_us\":1,\"bound_us\":2}", "desk_clock_at_open.measured_wall" },
    { "{\"offset_us\":1,\"bound_us\":-2,\"measured_wall\":\"2025-12-06T05:46:37.000000Z\"}",
      "bound_us: a number with '-'" },
    { "{\"offset_us\":\"1\",\"bound_us\":2,\"measured_wall\":\"2025-12-06T05:46:37.000000Z\"}",
      "desk_clock_at_open.offset_us: expected an integer" },
    { "{\"offset_us\":1,\"bound_us\":2,\"measured_wall\":\"yesterday\"}",
      "desk_clock_at_open.measured_wall: expected a UTC time" },
    { "{\"offset_us\":1,\"bound_us\":2,\"measured_wall\":\"2025-12-06T05:46:37.000000Z\","
      "\"source\":\"ntp\"}",
      "desk_clock_at_open.source: unknown member" },
  };
  g_autoptr (AnsimDeviceKey) key = NULL;
  g_autoptr (AnsimManifest) m = new_manifest (&key);
  g_autoptr (GError) error = NULL;
  AnsimDeskClock never = { 0 };
  g_assert_true (ansim_manifest_set_desk_clock (m, ANSIM_MANIFEST_CLOCK_AT_OPEN, &never, &error));
  g_autoptr (GBytes) bytes = ansim_manifest_to_bytes (m);
  g_autofree char *text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  const char *at = strstr (text, "\"desk_clock_at_open\" : null");
  g_assert_nonnull (at);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *head = g_strndup (text, at - text);
      g_autofree char *bad = g_strdup_printf ("%s\"desk_clock_at_open\":%s%s", head, cases[i].value,
                                              at + strlen ("\"desk_clock_at_open\" : null"));
      g_autoptr (GError) local = NULL;
      g_autoptr (AnsimManifest) parsed = ansim_manifest_parse (bad, strlen (bad), &local);
      g_assert_null (parsed);
      g_assert_error (local, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_MALFORMED);
      if (strstr (local->message, cases[i].says) == NULL)
        g_error ("case %u: expected \"%s\" in: %s", i, cases[i].says, local->message);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/manifest-clock/round-trip", test_round_trip);
  g_test_add_func ("/manifest-clock/parse-rejects", test_parse_rejects);
  return g_test_run ();
}
