/* The web console's internal interfaces: authentication (web_auth.c) and
 * HTML rendering (web_render.c). web_server.c, the only user of
 * libmicrohttpd, wires them to HTTP. */
#ifndef OCON_WEB_H
#define OCON_WEB_H

#include "console.h"

#include <apr_pools.h>
#include <apr_tables.h>

#define OCON_COOKIE "oidc_console"
#define OCON_SID_BYTES 32
#define OCON_SESSIONS_MAX 256   /* concurrent console logins */
#define OCON_CLIENTS_MAX 1024   /* clients tracked for the login rate limit */
#define OCON_USER_MAX 64
#define OCON_PASSWORD_MAX 256
#define OCON_HTPASSWD_MAX (1024 * 1024)
#define OCON_DUMMY_COST 10 /* bcrypt cost of the dummy when the file has no bcrypt entry (htpasswd -B default) */

/* ---------------------------------------------------------------- auth */

typedef struct ocon_auth ocon_auth_t;

typedef enum {
    OCON_LOGIN_OK = 0,
    OCON_LOGIN_BAD,     /* unknown user, wrong password, not a bcrypt entry */
    OCON_LOGIN_LIMITED, /* too many failures from this client: 429 */
    OCON_LOGIN_ERROR    /* htpasswd unreadable, no room for a session */
} ocon_login_rc_t;

/* State lives in p (a long-lived pool); all functions are thread-safe. A
 * fresh random key per process keys the CSRF tokens unless
 * ocon_auth_persist is called. now_fn NULL: the wall clock (tests pass their own). */
ocon_auth_t *ocon_auth_create(apr_pool_t *p, const ocon_config_t *cfg, apr_int64_t (*now_fn)(void));

/* Keep console logins in ctx's store (admin_store.c) instead of memory, so
 * that they survive a restart, and key the CSRF tokens with a key derived
 * from the crypto key, so that open pages stay usable. The serve command
 * calls it; without it (unit tests) logins live in memory. */
void ocon_auth_persist(ocon_auth_t *a, ocon_ctx_t *ctx);

/* The password check; apr_password_validate unless a test installs another
 * (to count validations and see which hash they ran against). */
typedef apr_status_t (*ocon_validate_fn)(const char *password, const char *hash);
void ocon_auth_set_validator(ocon_auth_t *a, ocon_validate_fn fn);

/* Check user/password against the htpasswd file (re-read at each login so
 * that edits apply at once) and open a console session: *sid (from p) is the
 * cookie value. */
ocon_login_rc_t ocon_auth_login(ocon_auth_t *a, apr_pool_t *p, const char *client, const char *user,
                                const char *password, const char **sid);
/* The admin of a live console session (idle and absolute timeouts applied,
 * idle clock touched), copied into p; NULL when unknown or expired. */
const char *ocon_auth_check(ocon_auth_t *a, apr_pool_t *p, const char *sid);
void ocon_auth_logout(ocon_auth_t *a, const char *sid);
/* Synchronizer token bound to the console session: HMAC(key, sid). */
const char *ocon_csrf_token(ocon_auth_t *a, apr_pool_t *p, const char *sid);
int ocon_csrf_ok(ocon_auth_t *a, apr_pool_t *p, const char *sid, const char *token);

/* 1 when user:bcrypt-hash in the file validates password, 0 when not (or the
 * entry is not bcrypt), -1 when the file cannot be read (*err). */
int ocon_htpasswd_check(apr_pool_t *p, const char *path, const char *user, const char *password, const char **err);
/* 1 and *hash (in p) when user has a bcrypt entry; 0 when not, with *cost the
 * cost of the file's first bcrypt entry (OCON_DUMMY_COST when none); -1 when
 * the file cannot be read (*err). *cost is the entry's cost when found. */
int ocon_htpasswd_lookup(apr_pool_t *p, const char *path, const char *user, const char **hash, int *cost,
                         const char **err);

/* ---------------------------------------------------------------- input */

#define OCON_PARAMS_MAX 16   /* parameters in a query string or form body */
#define OCON_PROXIES_MAX 32  /* trusted_proxies addresses */
#define OCON_XFF_HOPS_MAX 16 /* X-Forwarded-For entries walked */

/* A parameter of a query string or urlencoded body (aoidc_query_param): 1
 * found (*out from p, checked with ocon_value_ok), 0 absent or empty, -1
 * malformed or repeated (the caller answers 400). */
int ocon_param(apr_pool_t *p, const char *src, const char *name, const char **out);
/* 1 when src (NULL or "" too) names only parameters from names (NULL-ended)
 * and has at most OCON_PARAMS_MAX of them. */
int ocon_only_params(const char *src, const char *const *names);
/* The raw request target split at the first '?': *path (from p, or raw) and
 * *query ("" when none). */
void ocon_split_target(apr_pool_t *p, const char *raw, const char **path, const char **query);
/* 1 when path starts with '/' and has no '%', empty segment or dot segment. */
int ocon_path_ok(const char *path);
/* Does path match a route? suffix NULL: path equals prefix; else path is
 * prefix + ARG + suffix with a non-empty ARG without '/' (*arg, from p). */
int ocon_route_match(apr_pool_t *p, const char *path, const char *prefix, const char *suffix, const char **arg);
/* A request body, decoded by its content type: at most one member is set. */
typedef struct {
    const char *form; /* application/x-www-form-urlencoded (from p) */
    json_t *json;     /* application/json: an object, a new reference the caller releases */
} ocon_body_t;
/* Decode body (len bytes, no NUL needed) by ctype (may be NULL). 0 when fine
 * (both members NULL for an empty body), else the HTTP status: 400 (a NUL
 * byte, JSON that is not an object or has duplicate members), 415. */
int ocon_body_parse(apr_pool_t *p, const char *ctype, const char *body, apr_size_t len, ocon_body_t *out);
/* A member of the body as ocon_param answers: a JSON string member, or a form
 * field. 1 found (*out from p), 0 absent, -1 not a string or malformed. */
int ocon_body_param(apr_pool_t *p, const ocon_body_t *b, const char *name, const char **out);
/* A decimal number min..max with nothing around it; 1 and *out, else 0. */
int ocon_param_int(const char *v, long min, long max, int *out);

/* ---------------------------------------------------------------- client */

typedef struct {
    int family;          /* AF_INET or AF_INET6 */
    unsigned char a[16]; /* network order; IPv4 in the first 4 bytes, the rest 0 */
} ocon_addr_t;

/* An IPv4 or IPv6 literal of len bytes (no NUL needed; blanks around and
 * [brackets] allowed, no port). IPv4-mapped IPv6 becomes IPv4. 1 ok, 0 not. */
int ocon_addr_parse(const char *s, apr_size_t len, ocon_addr_t *out);
const char *ocon_addr_text(apr_pool_t *p, const ocon_addr_t *a);
/* The trusted_proxies setting (addresses separated by blanks or commas) into
 * *out (ocon_addr_t, from p; empty for NULL). NULL, or a message. */
const char *ocon_proxies_parse(apr_pool_t *p, const char *list, apr_array_header_t **out);
/* The client to key the login limit and the audit log on: the peer address
 * (canonical text); when the peer is a trusted proxy and xff (every
 * X-Forwarded-For field, comma-joined) is set, the right-most entry that is
 * not a trusted proxy; if an entry is not an address, the hop to its right.
 * "-" when peer is not an address. From p. */
const char *ocon_client_addr(apr_pool_t *p, const char *peer, const char *xff, const apr_array_header_t *proxies);

/* ---------------------------------------------------------------- render */

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *parts; /* const char * */
} ocon_html_t;

ocon_html_t *ocon_html_new(apr_pool_t *p);
void ocon_html_raw(ocon_html_t *h, const char *s);
void ocon_html_text(ocon_html_t *h, const char *s); /* escaped */
const char *ocon_html_done(ocon_html_t *h, apr_size_t *len);
/* & < > " ' escaped, control characters (but tab/newline) dropped. */
const char *ocon_html_escape(apr_pool_t *p, const char *s);

typedef struct {
    const char *admin; /* NULL on the login page */
    const char *csrf;
    const char *message;
    const char *error;
} ocon_page_ctx_t;

const char *ocon_render_login(apr_pool_t *p, const char *error, apr_size_t *len);
const char *ocon_render_sessions(apr_pool_t *p, const ocon_page_ctx_t *pc, const ocon_filter_t *f,
                                 const ocon_page_t *pg, apr_size_t *len);
const char *ocon_render_user(apr_pool_t *p, const ocon_page_ctx_t *pc, const char *provider, const char *sub,
                             const ocon_page_t *pg, apr_size_t *len);
const char *ocon_render_session(apr_pool_t *p, const ocon_page_ctx_t *pc, const ocon_session_t *s,
                                apr_size_t *len);
const char *ocon_render_providers(apr_pool_t *p, const ocon_page_ctx_t *pc, json_t *providers, apr_size_t *len);
/* The locations that use a provider ({node: [location]}, see ocon_provider_usage):
 * one line naming the nodes when they agree (same), else a row per node. */
void ocon_render_locations(ocon_html_t *h, json_t *by_node, int same);
/* all: every setting; else only those that differ between nodes */
const char *ocon_render_nodes(apr_pool_t *p, const ocon_page_ctx_t *pc, json_t *nodes, int all, apr_size_t *len);
/* A confirmation page before a revocation of many sessions: what, how many,
 * a form posting fields (name, value pairs, NULL-ended) and confirm=yes to
 * action, and a way back. */
typedef struct {
    const char *title, *what, *note;
    int count;
    const char *action;
    const char *const *fields;
    const char *back;
} ocon_confirm_t;
const char *ocon_render_confirm(apr_pool_t *p, const ocon_page_ctx_t *pc, const ocon_confirm_t *cf,
                                apr_size_t *len);
const char *ocon_render_error(apr_pool_t *p, int status, const char *msg, apr_size_t *len);
extern const char ocon_css[];

/* Is s a well-formed session handle (AOIDC_HANDLE_LEN base64url chars)? */
int ocon_handle_ok(const char *s);

#endif
