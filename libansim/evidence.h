/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The evidence format, whole: the device's Ed25519 identity (device-key.h),
 * the signed, hash-chained incident manifest (manifest.h), sealing
 * (seal.h) and offline verification (verify.h). An umbrella for callers
 * that use several; docs/evidence-format.md is the normative description. */
#pragma once

#include <gio/gio.h>

#include "age.h"
#include "checkpoint.h"
#include "device-key.h"
#include "evidence-error.h"
#include "manifest.h"
#include "seal.h"
#include "util.h"
#include "verify.h"
