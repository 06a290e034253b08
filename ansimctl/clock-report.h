/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What `ansimctl verify` says about the desk's clock: the incident's times
 * by the desk's clock and by the panel's, and a warning when the desk's
 * offset exceeded the tolerance or was never measured (not a finding:
 * the evidence is intact either way). */
#pragma once

#include "manifest.h"

#define ANSIMCTL_CLOCK_TOLERANCE_S 2

/* Prints the lines; returns the number of warnings. */
guint ansimctl_print_desk_clock (const AnsimManifest *manifest, gint64 tolerance_us);
