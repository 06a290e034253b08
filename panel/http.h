/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The panel's HTTP plumbing: one route table for the device API
 * (/api/v1/) and the console API, and the answer helpers every route uses.
 * What must stay true: a request reaches a handler only after its route,
 * method, caller (role, CSRF) and body size were checked against the table
 * (docs/console.md lists the same roles; test-routes walks the table);
 * every refusal is {"error": CODE, "message": TEXT}. */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sqlite3.h>

#include "auth.h"
#include "httpsig.h"

G_BEGIN_DECLS

typedef struct _PanelHttp PanelHttp;
typedef struct _PanelConsole PanelConsole;

/* Methods a route answers (a mask). */
typedef enum {
  PANEL_HTTP_GET = 1 << 0,
  PANEL_HTTP_HEAD = 1 << 1,
  PANEL_HTTP_POST = 1 << 2,
  PANEL_HTTP_PUT = 1 << 3,
} PanelHttpMethod;

/* Who may call a route. */
typedef enum {
  PANEL_CALLER_ANYONE,  /* login, health, the interface's files */
  PANEL_CALLER_DEVICE,  /* a desk device: ingest.c checks the request signature */
  PANEL_CALLER_CONSOLE, /* a console session whose role is in roles; CSRF unless GET/HEAD */
  PANEL_CALLER_TEST,    /* as CONSOLE, registered only with ANSIM_PANEL_TEST_PUBLISH=1 */
} PanelCaller;

/* Bodies of console requests and JSON device requests. */
#define PANEL_HTTP_JSON_MAX_BODY (64 * 1024)

typedef struct _PanelHttpRequest PanelHttpRequest;
typedef void (*PanelHttpHandler) (PanelHttpRequest *request);

/* One route. pattern is a path whose segments are literal or a parameter
 * in braces: "{NAME-id}" is a positive decimal id (else 400 "a NAME id is a
 * positive decimal number"), "{NAME-index}" a non-negative one, any other
 * "{name}" one non-empty segment given to the handler as text. A literal
 * segment wins over a parameter at the same place. Routes may share a
 * pattern with different methods (and roles). */
typedef struct {
  guint methods; /* PanelHttpMethod mask */
  const char *pattern;
  PanelCaller caller;
  guint roles;    /* PanelRole mask, for CONSOLE and TEST */
  gsize max_body; /* bytes; 0: PANEL_HTTP_JSON_MAX_BODY */
  PanelHttpHandler handler;
  /* The body is written to a staging file as it arrives (segments), not
   * kept in memory; the handler gets it mapped as PanelHttpRequest.body. */
  gboolean spool;
} PanelRoute;

#define PANEL_HTTP_MAX_PARAMS 4

/* What a handler gets; valid during the handler only. */
struct _PanelHttpRequest {
  SoupServerMessage *msg;
  const char *method;
  const char *path;
  GHashTable *query; /* may be NULL */
  const PanelRoute *route;
  PanelSession *session; /* CONSOLE and TEST routes: the caller (borrowed); else NULL */
  /* The pattern's parameters in order: ids[i] for "-id"/"-index" ones
   * (else 0), params[i] the segment's text. */
  gint64 ids[PANEL_HTTP_MAX_PARAMS];
  const char *params[PANEL_HTTP_MAX_PARAMS];
  guint n_params;
  gpointer user_data; /* as given to panel_http_add_routes */
  /* spool routes: the body, mapped from its staging file (already
   * unlinked); else NULL (read it from msg). Valid during the handler;
   * take a reference to keep it. */
  GBytes *body;
};

/* Takes over the server's request dispatch (a default handler and a
 * got-headers check on every message) and sets the security headers on
 * every answer. Console routes are authorized by panel_http_set_console's
 * console; until then they answer 503. */
PanelHttp *panel_http_new (SoupServer *server);
void panel_http_free (PanelHttp *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PanelHttp, panel_http_free)
void panel_http_set_console (PanelHttp *self, PanelConsole *console);

/* Checks a DEVICE route's signed request from its headers, before any of
 * its body is read: FALSE after answering (unknown device 401, revoked
 * 403). path is the request's path as received. */
typedef gboolean (*PanelHttpDeviceCheck) (gpointer user_data, SoupServerMessage *msg,
                                          const char *method, const char *path,
                                          const AnsimHttpsig *sig);
void panel_http_set_device_check (PanelHttp *self, PanelHttpDeviceCheck check, gpointer user_data);

/* Bodies kept in memory (all requests together) stay within
 * bodies_in_memory bytes: a request that would go over is refused (503
 * with Retry-After) before its body, or as soon as its chunks would.
 * spool routes write their bodies under staging_dir (created 0700;
 * leftovers removed) instead. Refused requests with a body are answered
 * at once and their connection closed after at most linger_ms (and 1 MiB)
 * of discarding what the client still sends. */
gboolean panel_http_set_limits (PanelHttp *self, gsize bodies_in_memory, const char *staging_dir,
                                guint linger_ms, GError **error);
/* Bytes of request bodies held in memory now (tests, health). */
gsize panel_http_get_bodies_in_memory (PanelHttp *self);

/* Calls closed (once, on the main loop) as soon as the client of a held
 * response (an event stream, a long-poll) closes its connection or sends
 * anything more, which such a client never does. Returns a source id to
 * g_source_remove when the response ends first; 0 if msg has no socket. */
guint panel_http_watch_client (SoupServerMessage *msg, GSourceFunc closed, gpointer user_data);

/* HSTS on every answer (the panel serves HTTPS itself). */
void panel_http_set_hsts (PanelHttp *self, gboolean hsts);

/* TRUE when the client reached the panel over HTTPS: the panel's own TLS,
 * or a trusted proxy's "X-Forwarded-Proto: https". */
gboolean panel_http_is_https (PanelHttp *self, SoupServerMessage *msg);
/* Registers n routes (copied; the pattern strings must stay valid);
 * user_data goes to their handlers. TEST routes are skipped unless
 * ANSIM_PANEL_TEST_PUBLISH=1. */
void panel_http_add_routes (PanelHttp *self, const PanelRoute *routes, gsize n, gpointer user_data);

/* The registered routes (for the route-table test and the role table). */
const PanelRoute *panel_http_get_routes (PanelHttp *self, guint *n);
/* The roles (PanelRole mask) of the CONSOLE route with this method and
 * pattern, 0 if none. */
guint panel_http_route_roles (PanelHttp *self, PanelHttpMethod method, const char *pattern);
/* "GET, POST" for a mask (free it). */
char *panel_http_methods_to_string (guint methods);

/* ---- answers ---------------------------------------------------------- */

/* Answers msg with bytes as content_type: 200, 206 with Content-Range, or
 * 416 with a Content-Range giving the size, as its Range asks; HEAD gets
 * the headers only. libsoup's own range handling (which answers 200s of
 * GET with a Range header, expands overlapping ranges and logs CRITICALs
 * on odd ones) never runs on these answers. */
void panel_http_send_bytes (SoupServerMessage *msg, const char *content_type, GBytes *bytes);

/* {"error": code, "message": message} with this status. */
void panel_http_send_error (SoupServerMessage *msg, guint status, const char *code,
                            const char *message);
void panel_http_send_errorf (SoupServerMessage *msg, guint status, const char *code,
                             const char *format, ...) G_GNUC_PRINTF (4, 5);
void panel_http_send_json (SoupServerMessage *msg, guint status, JsonBuilder *b);
void panel_http_send_json_node (SoupServerMessage *msg, guint status, JsonNode *node);
/* 500 "the panel cannot use its database", logging what failed and
 * SQLite's message. */
void panel_http_send_db_error (SoupServerMessage *msg, sqlite3 *db, const char *what);

/* A positive decimal id of at most 18 digits. */
gboolean panel_http_parse_id (const char *text, gint64 *out);
/* FALSE after answering 400 "unknown member" if o has a member not in
 * allowed (NULL-terminated). */
gboolean panel_http_only_members (SoupServerMessage *msg, JsonObject *o,
                                  const char *const *allowed);
/* The statement's current row as an object named by its columns.
 * Integer columns named in booleans (NULL-terminated, may be NULL) become
 * true/false; text columns named in embedded hold JSON and are embedded as
 * JSON (as text if they do not parse). */
void panel_http_add_row (JsonBuilder *b, sqlite3_stmt *stmt, const char *const *booleans,
                         const char *const *embedded);
/* The same members into the object b is building (for rows with more). */
void panel_http_add_columns (JsonBuilder *b, sqlite3_stmt *stmt, const char *const *booleans,
                             const char *const *embedded);

/* ---- who is asking ----------------------------------------------------- */

/* [panel] trusted_proxies, parsed by ansim_address_masks_parse (taken). */
void panel_http_set_trusted_proxies (PanelHttp *self, GPtrArray *masks);
/* TRUE when the connection comes from a trusted proxy: only then may its
 * X-Forwarded-For (and X-Forwarded-Proto) headers be believed. */
gboolean panel_http_peer_is_trusted_proxy (PanelHttp *self, SoupServerMessage *msg);
/* The client's address (free it): the peer's; behind a trusted proxy, the
 * nearest X-Forwarded-For hop that is not a trusted proxy itself. What
 * throttling and the audit log call "client". */
char *panel_http_client_address (PanelHttp *self, SoupServerMessage *msg);

G_END_DECLS
