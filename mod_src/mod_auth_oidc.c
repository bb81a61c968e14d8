/* mod_auth_oidc: OpenID Connect login and sessions for Apache httpd 2.4.
 * This file only wires the hooks; the whole request order is on this page:
 *   post_config    publish this node's configuration snapshot (aoidc_node.h)
 *   quick_handler  redirect URI (callback), logout URI, back-channel logout
 *   header_parser  scrub client headers that look like ours
 *   check_authn    AuthType oidc: session cookie -> store -> r->user
 *                  AuthType oidc-bearer: access token (mod_auth_oidc_bearer.c)
 *   authz          Require oidc-claim (mod_auth_oidc_authz.c), oidc-scope
 *   error pages    our authz denials of a known user become 403     */
#include "mod_auth_oidc.h"

#include "ap_mpm.h"
#include "http_main.h"

static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (aoidc_http_global_init() != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AOIDC_LOGNO(001) "auth_oidc: libcurl initialisation failed");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_add_version_component(pconf, "mod_auth_oidc/" AOIDC_VERSION);
    /* second pass only (the first returned above): tell the store who we are */
    aoidc_node_publish_parent(ptemp, s);
    return OK;
}

/* Per process: one session cache per store that a server with
 * AuthOIDCSessionCacheTTL > 0 uses, as large as the largest
 * AuthOIDCSessionCacheEntries among them and read as often as the shortest
 * TTL asks (servers that share a store share its sessions; each applies its
 * own TTL to its requests). */
typedef struct {
    int entries, ttl, started;
    aoidc_scache_t *cache;
} cache_plan_t;

static void session_caches(apr_pool_t *p, server_rec *s)
{
    apr_hash_t *plans = apr_hash_make(p);
    for (server_rec *sv = s; sv; sv = sv->next) {
        aoidc_srv_cfg_t *sc = aoidc_srv_cfg(sv);
        if (sc->store && sc->session_cache_ttl > 0) {
            cache_plan_t *pl = apr_hash_get(plans, &sc->store, sizeof(sc->store));
            if (!pl) {
                pl = apr_pcalloc(p, sizeof(*pl));
                pl->ttl = sc->session_cache_ttl;
                apr_hash_set(plans, apr_pmemdup(p, &sc->store, sizeof(sc->store)), sizeof(sc->store), pl);
            }
            pl->entries = sc->session_cache_entries > pl->entries ? sc->session_cache_entries : pl->entries;
            pl->ttl = sc->session_cache_ttl < pl->ttl ? sc->session_cache_ttl : pl->ttl;
        }
    }
    for (server_rec *sv = s; sv; sv = sv->next) {
        aoidc_srv_cfg_t *sc = aoidc_srv_cfg(sv);
        cache_plan_t *pl = sc->store && sc->session_cache_ttl > 0
                               ? apr_hash_get(plans, &sc->store, sizeof(sc->store))
                               : NULL;
        if (pl && !pl->started) {
            pl->started = 1; /* once, even when it failed (logged) */
            pl->cache = aoidc_session_cache_start(p, sv, sc->store, pl->entries, pl->ttl);
        }
        sc->scache = pl ? pl->cache : NULL;
    }
}

/* Per process: provider runtime and one store per distinct server list. */
static void child_init(apr_pool_t *p, server_rec *s)
{
    apr_hash_t *stores = apr_hash_make(p);
    apr_hash_t *seen = apr_hash_make(p);
    int threads = 0;
    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS || threads < 1) {
        threads = 1;
    }
    aoidc_bearer_child_init(p, aoidc_srv_cfg(s)->bearer_cache_size);
    for (server_rec *sv = s; sv; sv = sv->next) {
        aoidc_srv_cfg_t *sc = aoidc_srv_cfg(sv);
        for (int i = 0; sc->providers && i < sc->providers->nelts; i++) {
            aoidc_provider_t *pr = APR_ARRAY_IDX(sc->providers, i, aoidc_provider_t *);
            if (!apr_hash_get(seen, &pr, sizeof(pr))) {
                apr_hash_set(seen, apr_pmemdup(p, &pr, sizeof(pr)), sizeof(pr), pr);
                aoidc_provider_runtime_init(pr, p);
            }
        }
        if (sc->store_servers) {
            aoidc_store_t *st = apr_hash_get(stores, sc->store_servers, APR_HASH_KEY_STRING);
            if (!st) {
                const char *err = NULL;
                int timeout = sc->store_timeout_ms > 0 ? sc->store_timeout_ms : 500;
                if (aoidc_store_memcached_create(p, sc->store_servers, threads, timeout, &st, &err) !=
                    APR_SUCCESS) {
                    ap_log_error(APLOG_MARK, APLOG_ERR, 0, sv, AOIDC_LOGNO(002)
                                 "auth_oidc: cannot create the memcached store: %s", err);
                    st = NULL;
                }
                else {
                    st->on_event = aoidc_store_log_event;
                    st->on_event_baton = sv;
                    st->resync = 1; /* a server process: may copy back a server found empty */
                    apr_hash_set(stores, sc->store_servers, APR_HASH_KEY_STRING, st);
                }
            }
            sc->store = st;
        }
    }
    session_caches(p, s);
    aoidc_node_child_init(p, s);
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_check_config(aoidc_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_quick_handler(aoidc_quick_handler, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_header_parser(aoidc_scrub_headers, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_check_authn(aoidc_check_authn, NULL, NULL, APR_HOOK_MIDDLE, AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authn(aoidc_check_bearer, NULL, NULL, APR_HOOK_MIDDLE, AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_insert_error_filter(aoidc_fix_authz_status, NULL, NULL, APR_HOOK_MIDDLE);
    aoidc_register_authz(p);
    aoidc_register_bearer_authz(p);
    aoidc_register_error_filter();
    aoidc_register_health(p);
    aoidc_metrics_register_hooks(p);
}

AP_DECLARE_MODULE(auth_oidc) = {
    STANDARD20_MODULE_STUFF,
    aoidc_create_dir_cfg,
    aoidc_merge_dir_cfg,
    aoidc_create_srv_cfg,
    aoidc_merge_srv_cfg,
    aoidc_cmds,
    register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_ALWAYS_MERGE
#endif
};
