/* mod_auth_oidc: shared declarations of the httpd glue. */
#ifndef MOD_AUTH_OIDC_H
#define MOD_AUTH_OIDC_H

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_auth.h"

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "aoidc_claims.h"
#include "aoidc_crypto.h"
#include "aoidc_http.h"
#include "aoidc_metrics.h"
#include "aoidc_provider.h"
#include "aoidc_session.h"
#include "aoidc_store.h"
#include "aoidc_scache.h"

#define AOIDC_VERSION "0.1.0"
#define AOIDC_UNSET (-1)
#define AOIDC_SESSION_CACHE_TTL_MAX 60 /* seconds; the revocation feed keeps events twice as long */
#define AOIDC_AUTH_TYPE "oidc"
/* Our own log tag: grep "AOIDC0" finds every line of this module. */
#define AOIDC_LOGNO(n) "AOIDC" #n ": "

extern module AP_MODULE_DECLARE_DATA auth_oidc_module;

typedef enum {
    AOIDC_UNAUTH_AUTH = 0, /* redirect to the provider (non-navigational requests get 401) */
    AOIDC_UNAUTH_401,
    AOIDC_UNAUTH_PASS      /* let through with an empty REMOTE_USER */
} aoidc_unauth_t;

enum { AOIDC_REFRESH_FAIL_LOGOUT = 0, AOIDC_REFRESH_FAIL_KEEP = 1 };
enum { AOIDC_TOKEN_NONE = 0, AOIDC_TOKEN_HEADER = 1, AOIDC_TOKEN_AUTHORIZATION = 2 };
enum { AOIDC_PASS_NONE = 0, AOIDC_PASS_HEADERS = 1, AOIDC_PASS_ENV = 2, AOIDC_PASS_BOTH = 3 };

typedef struct {
    /* providers declared here or inherited (aoidc_provider_t *) */
    apr_array_header_t *providers;
    aoidc_provider_t *cur_provider; /* only while a <AuthOIDCProvider> section is read */

    const char *crypto_key_file;
    aoidc_keys_t *keys;
    const char *store_servers;
    int store_timeout_ms;
    const char *redirect_uri;       /* a path, or an absolute URL */
    const char *redirect_path;      /* its path */
    const char *logout_uri;
    const char *backchannel_uri;    /* AuthOIDCBackChannelLogoutURI: a path */
    const char *login_uri;          /* AuthOIDCLoginURI: a path */
    const char *chooser_template;   /* AuthOIDCChooserTemplate: the file's text */
    const char *chooser_uri;        /* AuthOIDCChooserURI: a local path */
    apr_array_header_t *trusted_proxies; /* AuthOIDCTrustedProxies (apr_ipsubnet_t *); NULL: none */
    apr_array_header_t *post_logout; /* allowed targets (const char *) */
    const char *cookie_name;
    int cookie_secure;
    const char *cookie_samesite;
    int inactivity;
    int max_lifetime;
    int touch_interval;
    int clock_skew;
    const char *ca_file;
    int http_timeout;
    const char *node_name;          /* default: the host name (set in check_config) */
    int introspection_ttl;          /* seconds an active introspection answer is kept */
    int bearer_cache_size;          /* slots of the per-process token cache */
    int session_cache_ttl;          /* AuthOIDCSessionCacheTTL seconds; 0: strict (no cache) */
    int session_cache_entries;      /* AuthOIDCSessionCacheEntries */
    const char *defined_in;         /* file:line of the first AuthOIDC directive, for messages */

    /* single-page apps (mod_auth_oidc_spa.c) */
    const char *session_info_uri;   /* AuthOIDCSessionInfoURI: a path */
    apr_array_header_t *session_info_claims; /* names (const char *); NULL: the default */
    int session_info_activity;      /* an info request counts as activity */
    const char *csrf_cookie;        /* AuthOIDCCSRFCookie: readable cookie with the token */
    int refresh_before;             /* AuthOIDCRefreshBefore seconds; 0: no refresh */
    int refresh_failure;            /* AuthOIDCRefreshFailure: AOIDC_REFRESH_FAIL_* */
    int binding;                    /* AuthOIDCSessionBinding: aoidc_bind_mode_t */
    int binding_action;             /* AuthOIDCSessionBindingAction: 0 refuse, 1 log */

    /* per process, set in child_init */
    aoidc_store_t *store;
    aoidc_scache_t *scache;         /* one per store; NULL when session_cache_ttl is 0 */
} aoidc_srv_cfg_t;

typedef struct {
    const char *provider_name;      /* the first of provider_names */
    apr_array_header_t *provider_names; /* AuthOIDCUseProvider (const char *); NULL: the server's first */
    int unauth;
    const char *remote_user_claim;
    int pass_as;
    const char *claim_prefix;
    const char *bearer_audience;    /* aud an access token must contain */
    apr_array_header_t *bearer_providers; /* names (const char *); NULL: all of the server */
    int bearer_query;               /* accept ?access_token= */
    int accept_bearer;              /* AuthType oidc also takes bearer tokens */
    int max_auth_age;               /* AuthOIDCMaxAuthAge seconds; AOIDC_UNSET: none */
    /* single-page apps (mod_auth_oidc_spa.c) */
    int csrf;                       /* AuthOIDCCSRF: state changes need X-CSRF-Token */
    int pass_token;                 /* AuthOIDCPassAccessToken: AOIDC_TOKEN_* */
    int cors_preflight;             /* AuthOIDCPassCORSPreflight (default On) */
} aoidc_dir_cfg_t;

/* What a request learnt about its session, kept in r->request_config. */
typedef struct {
    aoidc_session_t session;    /* for a bearer token: its principal */
    const char *store_key;
    int have_session;
    int bearer;                 /* authenticated by a bearer token */
    const char *scope;          /* bearer: granted scopes, space-separated */
    int authz_denied;           /* one of our Require providers said no */
    const char *missing_scope;  /* Require oidc-scope that failed */
    const char *json_error;     /* bearer: RFC 6750 error code of the answer */
    int preflight;              /* a CORS preflight let through unauthenticated */
} aoidc_req_ctx_t;

/* Outcomes mapped to HTTP in one place (mod_auth_oidc_response.c). */
typedef enum {
    AOIDC_R_OK = 0,
    AOIDC_R_BAD_REQUEST,     /* client garbage: 400 */
    AOIDC_R_UNAUTHORIZED,    /* 401 */
    AOIDC_R_FORBIDDEN,       /* 403 */
    AOIDC_R_STORE_DOWN,      /* 503 */
    AOIDC_R_PROVIDER_DOWN,   /* 502 */
    AOIDC_R_INTERNAL         /* 500: our own fault, never the client's */
} aoidc_result_t;

/* config */
aoidc_srv_cfg_t *aoidc_srv_cfg(server_rec *s);
aoidc_dir_cfg_t *aoidc_dir_cfg(request_rec *r);
void *aoidc_create_srv_cfg(apr_pool_t *p, server_rec *s);
void *aoidc_merge_srv_cfg(apr_pool_t *p, void *base, void *add);
void *aoidc_create_dir_cfg(apr_pool_t *p, char *dir);
void *aoidc_merge_dir_cfg(apr_pool_t *p, void *base, void *add);
extern const command_rec aoidc_cmds[];
int aoidc_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s);
/* Whole-configuration checks (mod_auth_oidc_confcheck.c): OK or
 * HTTP_INTERNAL_SERVER_ERROR after logging each problem. */
int aoidc_confcheck(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
aoidc_provider_t *aoidc_find_provider(aoidc_srv_cfg_t *sc, const char *name);
/* The provider a location logs in with: AuthOIDCUseProvider, else the
 * server's first. Sessions of any other provider do not open the location.
 * NULL when the server has no such provider. */
aoidc_provider_t *aoidc_location_provider(aoidc_srv_cfg_t *sc, const aoidc_dir_cfg_t *dc);
/* 1 when a session of this provider opens the location: one of its
 * AuthOIDCUseProvider names, or without any the server's first provider. */
int aoidc_location_accepts(aoidc_srv_cfg_t *sc, const aoidc_dir_cfg_t *dc, const char *provider);
/* 1 when the location lists several providers (the chooser). */
int aoidc_location_chooses(const aoidc_dir_cfg_t *dc);
/* 1 when the location takes bearer tokens of the provider with this name
 * (AuthOIDCBearerProviders; default all). Says nothing about sessions. */
int aoidc_bearer_accepts(const aoidc_dir_cfg_t *dc, const char *provider);
/* effective values with defaults applied */
int aoidc_unauth_action(const aoidc_dir_cfg_t *dc);
const char *aoidc_remote_user_claim(const aoidc_dir_cfg_t *dc);
int aoidc_pass_as(const aoidc_dir_cfg_t *dc);
const char *aoidc_claim_prefix(const aoidc_dir_cfg_t *dc);
aoidc_http_opts_t aoidc_http_opts(const aoidc_srv_cfg_t *sc);

/* trusted proxies (mod_auth_oidc_forwarded.c): the scheme, host and
 * absolute URLs as the browser sees them; Forwarded / X-Forwarded-* count
 * only from AuthOIDCTrustedProxies */
const char *aoidc_cmd_trusted_proxies(cmd_parms *cmd, void *m, int argc, char *const argv[]);
const char *aoidc_request_scheme(request_rec *r);
const char *aoidc_request_host(request_rec *r);
const char *aoidc_absolute_url(request_rec *r, const char *path);

/* cookies */
const char *aoidc_cookie_get(request_rec *r, const char *name, int *count);
/* every value of a cookie name (at most max), from the original Cookie header */
apr_array_header_t *aoidc_cookie_values(request_rec *r, const char *name, int max);
void aoidc_cookie_set(request_rec *r, const aoidc_srv_cfg_t *sc, const char *name, const char *value, int max_age);
void aoidc_cookie_clear(request_rec *r, const aoidc_srv_cfg_t *sc, const char *name);
void aoidc_cookie_strip(request_rec *r, const char *session_name);
apr_array_header_t *aoidc_cookie_names_with_prefix(request_rec *r, const char *prefix);

/* authn */
int aoidc_check_authn(request_rec *r);
typedef enum { AOIDC_LOAD_OK = 0, AOIDC_LOAD_NONE, AOIDC_LOAD_DOWN } aoidc_load_t;
/* The live session of the request's session cookie(s), as check_authn
 * finds it (any provider): AOIDC_LOAD_OK fills ctx (store_key, session) and
 * *cas; NONE without a usable one; DOWN when the store cannot answer. */
aoidc_load_t aoidc_load_request_session(request_rec *r, aoidc_srv_cfg_t *sc, apr_int64_t now, aoidc_req_ctx_t *ctx,
                                        uint64_t *cas);
/* Write the session of ctx back with last_seen = now (CAS with cas). */
void aoidc_session_touch(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_req_ctx_t *ctx, uint64_t cas, apr_int64_t now);
aoidc_req_ctx_t *aoidc_req_ctx(request_rec *r);
/* A subrequest or internal redirect takes the verdict (user and claims) of
 * the request it came from only when that verdict would have been reached
 * here too: a session of this location's provider (never with bearer_only,
 * AuthType oidc-bearer), or a bearer token of a provider this location
 * accepts, checked against the same AuthOIDCBearerAudience, and the same
 * AuthOIDCRemoteUserClaim. Returns 1 when it did, so the caller answers OK;
 * otherwise the request authenticates on its own, and the first request's
 * context no longer answers for it (Require oidc-claim, oidc-scope). */
int aoidc_reuse_parent_verdict(request_rec *r, const aoidc_dir_cfg_t *dc, int bearer_only);

/* node snapshots (mod_auth_oidc.c) */
void aoidc_node_publish_parent(apr_pool_t *ptemp, server_rec *s);
void aoidc_node_child_init(apr_pool_t *p, server_rec *s);

/* login / callback / logout */
int aoidc_quick_handler(request_rec *r, int lookup);
int aoidc_start_login(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc);
/* What a login asks of the provider besides the defaults. */
typedef struct {
    const char *return_to;  /* local path to come back to */
    const char *login_hint; /* NULL: none */
    const char *prompt;     /* NULL: none */
    int max_age;            /* seconds; -1: none */
} aoidc_login_opts_t;
/* Redirect to pr's authorization endpoint with a new state cookie. */
int aoidc_login_redirect(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_provider_t *pr, const aoidc_login_opts_t *o);
/* mod_auth_oidc_chooser.c: the chooser page (DONE, or a redirect/error
 * status) and the AuthOIDCLoginURI handler */
int aoidc_chooser(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc);
int aoidc_handle_login_uri(request_rec *r, aoidc_srv_cfg_t *sc);
int aoidc_handle_logout(request_rec *r, aoidc_srv_cfg_t *sc);      /* mod_auth_oidc_logout.c */
int aoidc_handle_backchannel(request_rec *r, aoidc_srv_cfg_t *sc); /* mod_auth_oidc_backchannel.c */

/* authz */
void aoidc_register_authz(apr_pool_t *p);

/* backend */
int aoidc_scrub_headers(request_rec *r);
void aoidc_pass_claims(request_rec *r, const aoidc_dir_cfg_t *dc, const aoidc_session_t *s);

/* bearer */
void aoidc_bearer_child_init(apr_pool_t *p, int slots);
int aoidc_bearer_present(request_rec *r);
int aoidc_bearer_authn(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc);
void aoidc_register_bearer_authz(apr_pool_t *p);
int aoidc_bearer_query_allowed(const aoidc_dir_cfg_t *dc);
int aoidc_accept_bearer(const aoidc_dir_cfg_t *dc);
int aoidc_check_bearer(request_rec *r);
#define AOIDC_BEARER_AUTH_TYPE "oidc-bearer"
aoidc_provider_t *aoidc_bearer_provider_for_issuer(aoidc_srv_cfg_t *sc, const aoidc_dir_cfg_t *dc, const char *iss);

/* health (mod_auth_oidc_health.c): SetHandler auth-oidc-health */
void aoidc_register_health(apr_pool_t *p);
/* The session cache on the request path (mod_auth_oidc_scache.c). lookup:
 * 1 with the cached record of key
 * (as the store would answer) when the cache may be used; else 0 and *gen
 * for keep(). keep: cache what the store answered. drop: forget it in this
 * process. changed: a record this node deleted or rewrote (logout, refresh):
 * drop it here and publish it on the feed for every other process. */
/* Per process (child_init): a session cache of entries for store, kept
 * trusted by a thread that reads the revocation feed every three quarters of
 * ttl_seconds (the shortest AuthOIDCSessionCacheTTL of the servers sharing
 * it); stopped by a cleanup on p. NULL (logged) when it cannot start. */
aoidc_scache_t *aoidc_session_cache_start(apr_pool_t *p, server_rec *s, aoidc_store_t *store, int entries,
                                          int ttl_seconds);
int aoidc_session_cache_lookup(request_rec *r, aoidc_srv_cfg_t *sc, const char *key, char **val, apr_size_t *len,
                               uint64_t *cas, apr_uint32_t *gen);
void aoidc_session_cache_keep(aoidc_srv_cfg_t *sc, const char *key, const char *val, apr_size_t len, uint64_t cas,
                              apr_uint32_t gen);
void aoidc_session_cache_drop(aoidc_srv_cfg_t *sc, const char *key);
void aoidc_session_changed(request_rec *r, aoidc_srv_cfg_t *sc, const char *key);

/* the store's server events in the error log (baton: a server_rec) */
void aoidc_store_log_event(void *baton, aoidc_store_event_t ev, const char *server, const char *detail);

/* response */
/* The headers of every page the module itself answers (error pages,
 * redirects, the logout form, JSON answers): a CSP that allows no script
 * and no framing, nosniff, no referrer, no-store. Into t (headers_out for
 * a page we write, err_headers_out for an error status). */
void aoidc_own_page_headers(apr_table_t *t);
int aoidc_respond(request_rec *r, aoidc_result_t res);
int aoidc_redirect(request_rec *r, const char *location);
/* An RFC 6750 answer: status, WWW-Authenticate (realm, error, scope), a
 * small JSON body; returns status. error and scope may be NULL. */
int aoidc_bearer_error(request_rec *r, int status, const char *error, const char *scope);
void aoidc_fix_authz_status(request_rec *r);
void aoidc_register_error_filter(void);

/* metrics (mod_auth_oidc_metrics.c) */
void aoidc_metrics_register_hooks(apr_pool_t *p);

#endif
