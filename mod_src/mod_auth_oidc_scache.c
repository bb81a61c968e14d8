/* The session cache in the module (aoidc_scache.h, aoidc_revfeed.h): the
 * per-process thread that reads the revocation feed and keeps the cache
 * trusted, the lookup before the store's get and the put after it, and what
 * a node does when it deletes or rewrites a session record itself (logout,
 * refresh). */
#include "mod_auth_oidc.h"
#include "aoidc_directory.h"
#include "aoidc_revfeed.h"

#include <apr_atomic.h>
#include <apr_thread_proc.h>

APLOG_USE_MODULE(auth_oidc);

static apr_uint32_t bound_ms(const aoidc_srv_cfg_t *sc)
{
    return (apr_uint32_t)sc->session_cache_ttl * 1000;
}

/* --- the feed reader: one thread per cache and process ----------------------
 * It reads the revocation feed (and asks every store server once, see
 * aoidc_revfeed_poll) when three quarters of the bound have passed, so no
 * request ever waits for it, and the cache stays trusted without traffic. */
typedef struct {
    aoidc_scache_t *cache;
    aoidc_store_t *store;
    apr_uint32_t bound_ms; /* the shortest AuthOIDCSessionCacheTTL of the servers using it */
    server_rec *s;
    apr_thread_t *thread;
    volatile apr_uint32_t stop;
} reader_t;

static void read_feed_once(reader_t *rd, apr_pool_t *p)
{
    apr_uint32_t started;
    if (!aoidc_scache_poll_claim(rd->cache, rd->bound_ms, &started)) {
        return;
    }
    apr_status_t rv = aoidc_revfeed_poll(rd->store, p, rd->cache);
    /* logged when it starts failing, not at every try; a notice: the
     * store's own failure is what the error log reports as an error */
    aoidc_scache_feed_t *feed = aoidc_scache_feed(rd->cache);
    if (rv != APR_SUCCESS && !feed->failing) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, rv, rd->s, AOIDC_LOGNO(961)
                     "session cache: the revocation feed cannot be read; cached sessions are not used past "
                     "AuthOIDCSessionCacheTTL (%u ms)", rd->bound_ms);
    }
    else if (rv == APR_SUCCESS && feed->failing) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, rd->s, AOIDC_LOGNO(963)
                     "session cache: the revocation feed is read again");
    }
    feed->failing = rv != APR_SUCCESS;
    aoidc_scache_polled(rd->cache, started, rv == APR_SUCCESS);
}

static void *APR_THREAD_FUNC reader_main(apr_thread_t *t, void *data)
{
    reader_t *rd = data;
    apr_pool_t *p;
    apr_interval_time_t nap = apr_time_from_msec(rd->bound_ms / 10 ? rd->bound_ms / 10 : 1);
    if (nap > apr_time_from_msec(100)) {
        nap = apr_time_from_msec(100);
    }
    apr_pool_create(&p, NULL);
    while (!apr_atomic_read32(&rd->stop)) {
        read_feed_once(rd, p);
        apr_pool_clear(p);
        apr_sleep(nap);
    }
    apr_pool_destroy(p);
    /* a plain return, not apr_thread_exit: pthread_exit's unwinding trips
     * ASan's stack-use-after-scope check at thread teardown */
    (void)t;
    return NULL;
}

static apr_status_t reader_stop(void *data)
{
    reader_t *rd = data;
    apr_status_t rv;
    apr_atomic_set32(&rd->stop, 1);
    apr_thread_join(&rv, rd->thread);
    return APR_SUCCESS;
}

aoidc_scache_t *aoidc_session_cache_start(apr_pool_t *p, server_rec *s, aoidc_store_t *store, int entries,
                                          int ttl_seconds)
{
    reader_t *rd = apr_pcalloc(p, sizeof(*rd));
    apr_status_t rv = aoidc_scache_create(p, entries, &rd->cache);
    if (rv == APR_SUCCESS) {
        rd->store = store;
        rd->bound_ms = (apr_uint32_t)ttl_seconds * 1000;
        rd->s = s;
        rv = apr_thread_create(&rd->thread, NULL, reader_main, rd, p);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, AOIDC_LOGNO(960)
                     "auth_oidc: cannot start the session cache (%d entries): every request reads the store",
                     entries);
        return NULL;
    }
    /* a pre-cleanup: it runs before p's subpools go (the thread's own pool
     * is one) and before any cleanup of p (the cache's, the store's) */
    apr_pool_pre_cleanup_register(p, rd, reader_stop);
    return rd->cache;
}

int aoidc_session_cache_lookup(request_rec *r, aoidc_srv_cfg_t *sc, const char *key, char **val, apr_size_t *len,
                               uint64_t *cas, apr_uint32_t *gen)
{
    if (!sc->scache || sc->session_cache_ttl <= 0) {
        return 0;
    }
    *gen = aoidc_scache_gen(sc->scache);
    /* while a memcached server is down or repairing its copies (it came
     * back, or restarted empty), every request reads the store: its reads
     * are what write the lost copies back (README "Running a cluster") */
    if (aoidc_store_settled(sc->store) && aoidc_scache_fresh(sc->scache, bound_ms(sc)) &&
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
