/* The session cache on the request path (aoidc_scache.h, aoidc_revfeed.h):
 * a lookup before the store's get, the put after it, the feed read that
 * keeps the cache trusted, and what a node does when it deletes or rewrites
 * a session record itself (logout, refresh). */
#include "mod_auth_oidc.h"
#include "aoidc_directory.h"
#include "aoidc_revfeed.h"

APLOG_USE_MODULE(auth_oidc);

static apr_uint32_t bound_ms(const aoidc_srv_cfg_t *sc)
{
    return (apr_uint32_t)sc->session_cache_ttl * 1000;
}

/* The feed is read by one request per process and bound (see
 * aoidc_scache_poll_claim): that request pays one round trip. */
static void read_feed(request_rec *r, aoidc_srv_cfg_t *sc)
{
    apr_uint32_t started;
    if (!aoidc_scache_poll_claim(sc->scache, bound_ms(sc), &started)) {
        return;
    }
    apr_status_t rv = aoidc_revfeed_poll(sc->store, r->pool, sc->scache);
    aoidc_scache_polled(sc->scache, started, rv == APR_SUCCESS);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, AOIDC_LOGNO(961)
                      "session cache: the revocation feed cannot be read; cached sessions are not used past "
                      "AuthOIDCSessionCacheTTL %d s", sc->session_cache_ttl);
    }
}

int aoidc_session_cache_lookup(request_rec *r, aoidc_srv_cfg_t *sc, const char *key, char **val, apr_size_t *len,
                               uint64_t *cas, apr_uint32_t *gen)
{
    if (!sc->scache || sc->session_cache_ttl <= 0) {
        return 0;
    }
    read_feed(r, sc);
    *gen = aoidc_scache_gen(sc->scache);
    if (aoidc_scache_fresh(sc->scache, bound_ms(sc)) &&
        aoidc_scache_get(sc->scache, r->pool, key, val, len, cas)) {
        aoidc_metric_inc(AOIDC_M_SESSION_CACHE_HIT);
        return 1;
    }
    aoidc_scache_count_miss(sc->scache);
    aoidc_metric_inc(AOIDC_M_SESSION_CACHE_MISS);
    return 0;
}

void aoidc_session_cache_keep(aoidc_srv_cfg_t *sc, const char *key, const char *val, apr_size_t len, uint64_t cas,
                              apr_uint32_t gen)
{
    if (sc->scache && sc->session_cache_ttl > 0) {
        aoidc_scache_put(sc->scache, key, val, len, cas, gen);
    }
}

void aoidc_session_cache_drop(aoidc_srv_cfg_t *sc, const char *key)
{
    if (sc->scache) {
        aoidc_scache_drop(sc->scache, key);
    }
}

void aoidc_session_changed(request_rec *r, aoidc_srv_cfg_t *sc, const char *key)
{
    aoidc_session_cache_drop(sc, key);
    const char *handle = aoidc_dir_handle(key);
    if (!handle) {
        return;
    }
    /* every node's caches, whether or not this one has a cache: the
     * others may */
    apr_status_t rv = aoidc_revfeed_publish(sc->store, r->pool, &handle, 1, apr_time_sec(r->request_time));
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, AOIDC_LOGNO(962)
                      "session cache: the revocation feed cannot be written; other nodes may use their cached copy "
                      "of this session until they cannot read the feed either");
    }
}
