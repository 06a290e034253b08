/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The manifest's optional "desk_clock_at_open" and "desk_clock_at_close"
 * members (docs/evidence-format.md, "Desk clock"): the desk's measured
 * offset to the panel's clock when the incident opened and closed. Kept
 * apart from the rest of the format: absent in older manifests, null for
 * "never measured", which must never read as "measured as zero". */
#include <json-glib/json-glib.h>

#include "evidence-private.h"

static const char *const member_names[] = { "desk_clock_at_open", "desk_clock_at_close" };

gboolean
ansim_manifest_set_desk_clock (AnsimManifest *m, AnsimManifestClockWhen when,
                               const AnsimDeskClock *clock, GError **error)
{
  g_return_val_if_fail (
    when == ANSIM_MANIFEST_CLOCK_AT_OPEN || when == ANSIM_MANIFEST_CLOCK_AT_CLOSE, FALSE);
  if (m->closed)
    {
      g_set_error (error, ANSIM_EVIDENCE_ERROR, ANSIM_EVIDENCE_ERROR_STATE,
                   "%s: the incident is already closed", member_names[when]);
      return FALSE;
    }
  if (clock->measured
      && (clock->bound_us < 0 || ABS (clock->offset_us) > ANSIM_MANIFEST_MAX_INT
          || clock->bound_us > ANSIM_MANIFEST_MAX_INT || clock->measured_wall_us < 0
          || clock->measured_wall_us > ANSIM_WALL_MAX_US))
    return ansim_manifest_invalid (error, "%s: value out of range", member_names[when]);
  m->has_desk_clock[when] = TRUE;
  m->desk_clock[when] = clock->measured ? *clock : (AnsimDeskClock){ 0 };
  return TRUE;
}

const AnsimDeskClock *
ansim_manifest_get_desk_clock (const AnsimManifest *m, AnsimManifestClockWhen when)
{
  g_return_val_if_fail (
    when == ANSIM_MANIFEST_CLOCK_AT_OPEN || when == ANSIM_MANIFEST_CLOCK_AT_CLOSE, NULL);
  return m->has_desk_clock[when] ? &m->desk_clock[when] : NULL;
}

void
ansim_manifest_desk_clock_to_json (JsonBuilder *b, const AnsimManifest *m)
{
  /* Version 1 (no source) has a closed member list. */
  if (m->source == NULL)
    return;
  for (guint w = 0; w < G_N_ELEMENTS (member_names); w++)
    {
      if (!m->has_desk_clock[w])
        continue;
      const AnsimDeskClock *c = &m->desk_clock[w];
      json_builder_set_member_name (b, member_names[w]);
      if (!c->measured)
        {
          json_builder_add_null_value (b);
          continue;
        }
      g_autofree char *wall = ansim_evidence_format_wall (c->measured_wall_us);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "offset_us");
      json_builder_add_int_value (b, c->offset_us);
      json_builder_set_member_name (b, "bound_us");
      json_builder_add_int_value (b, c->bound_us);
      json_builder_set_member_name (b, "measured_wall");
      json_builder_add_string_value (b, wall);
      json_builder_end_object (b);
    }
}

static gboolean
get_clock_int (JsonObject *o, const char *outer, const char *name, gint64 min, gint64 *out,
               GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL)
    return ansim_manifest_invalid (error, "%s.%s: missing", outer, name);
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return ansim_manifest_invalid (error, "%s.%s: expected an integer", outer, name);
  *out = json_node_get_int (n);
  if (*out < min || *out > ANSIM_MANIFEST_MAX_INT)
    return ansim_manifest_invalid (error, "%s.%s: %" G_GINT64_FORMAT " is out of range", outer,
                                   name, *out);
  return TRUE;
}

gboolean
ansim_manifest_desk_clock_parse (JsonObject *root, AnsimManifest *m, GError **error)
{
  for (guint w = 0; w < G_N_ELEMENTS (member_names); w++)
    {
      const char *name = member_names[w];
      JsonNode *node = json_object_get_member (root, name);
      if (node == NULL)
        continue;
      AnsimDeskClock *c = &m->desk_clock[w];
      *c = (AnsimDeskClock){ 0 };
      m->has_desk_clock[w] = TRUE;
      if (JSON_NODE_HOLDS_NULL (node))
        continue;
      if (!JSON_NODE_HOLDS_OBJECT (node))
        return ansim_manifest_invalid (error, "%s: expected an object or null", name);
      JsonObject *o = json_node_get_object (node);
      g_autoptr (GList) members = json_object_get_members (o);
      for (GList *l = members; l != NULL; l = l->next)
        if (!g_str_equal (l->data, "offset_us") && !g_str_equal (l->data, "bound_us")
            && !g_str_equal (l->data, "measured_wall"))
          return ansim_manifest_invalid (error, "%s.%s: unknown member", name,
                                         (const char *) l->data);
      if (!get_clock_int (o, name, "offset_us", -ANSIM_MANIFEST_MAX_INT, &c->offset_us, error)
          || !get_clock_int (o, name, "bound_us", 0, &c->bound_us, error))
        return FALSE;
      JsonNode *wall = json_object_get_member (o, "measured_wall");
      if (wall == NULL || !JSON_NODE_HOLDS_VALUE (wall)
          || json_node_get_value_type (wall) != G_TYPE_STRING
          || !ansim_evidence_parse_wall (json_node_get_string (wall), &c->measured_wall_us))
        return ansim_manifest_invalid (
          error, "%s.measured_wall: expected a UTC time like 2025-01-02T03:04:05.123456Z", name);
      c->measured = TRUE;
    }
  return TRUE;
}
