/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The uploader's estimate of the panel's clock, learnt from the panel's
 * answers, so that requests are signed with the panel's time whatever the
 * desk's wall clock says. Thread-safe: the worker's and the channel's
 * clients share one. */
#pragma once

#include "desk-clock.h"

G_BEGIN_DECLS

typedef struct _UploaderPanelClock UploaderPanelClock;

UploaderPanelClock *uploader_panel_clock_new (void);
void uploader_panel_clock_free (UploaderPanelClock *clock);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UploaderPanelClock, uploader_panel_clock_free)

/* The panel's time now (µs since the epoch) as best known: the desk's
 * wall clock until an answer was heard. */
gint64 uploader_panel_clock_now (UploaderPanelClock *clock);

/* One answer: the request left at sent_mono, the answer came at
 * recv_mono (g_get_monotonic_time ()), and the panel's clock read
 * somewhere in [panel_lo_us, panel_hi_us] in between (a Date header
 * gives a 1 s wide interval). from: what it came from, for the log.
 * TRUE if the estimate was taken over. */
gboolean uploader_panel_clock_learn (UploaderPanelClock *clock, gint64 sent_mono, gint64 recv_mono,
                                     gint64 panel_lo_us, gint64 panel_hi_us, const char *from);

/* The offset to the desk's wall clock now. Returns TRUE (and out) when
 * it should be stored: first learnt, changed, or not stored for a minute. */
gboolean uploader_panel_clock_take_news (UploaderPanelClock *clock, AnsimDeskClock *out);
/* The same, always (out->measured FALSE before any answer). */
void uploader_panel_clock_get (UploaderPanelClock *clock, AnsimDeskClock *out);

G_END_DECLS
