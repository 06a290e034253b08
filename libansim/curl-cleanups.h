/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The autoptr cleanups for libcurl handles, declared once. Header only:
 * include it from code that links libcurl itself (panel, uploader);
 * libansim does not. */
#pragma once

#include <curl/curl.h>
#include <glib.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CURL, curl_easy_cleanup)
typedef struct curl_slist AnsimCurlSlist;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnsimCurlSlist, curl_slist_free_all)
