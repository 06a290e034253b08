/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Test hooks of the S3 client: they make the client lie, so that the real
 * server's refusal can be checked. Never used by the panel itself. */
#pragma once

#include "s3.h"

G_BEGIN_DECLS

/* The nth request with a body from now on (1: the next one) is sent with a
 * wrong Content-MD5; 0: none. */
void panel_s3_corrupt_md5_for_test (PanelS3 *self, guint nth);

G_END_DECLS
