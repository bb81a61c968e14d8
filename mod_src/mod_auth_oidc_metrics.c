/* Metrics for Prometheus: `SetHandler auth-oidc-metrics` answers the
 * counters of aoidc_metrics.c in the text exposition format 0.0.4.
 *   post_config  (second pass) map the counters: anonymous shared memory
 *                kept in the process pool, so that every generation of
 *                children after a graceful restart adds to the same counters
 *   child_init   (after the module's own) wrap each session store so that
 *                its operations, failures and latency are counted
 *   handler      GET/HEAD only; access control is the admin's (Require ip) */
#include "mod_auth_oidc.h"
#include "aoidc_metrics.h"

#include "http_main.h"

#include <apr_shm.h>

APLOG_USE_MODULE(auth_oidc);

#define METRICS_HANDLER "auth-oidc-metrics"
#define METRICS_SHM_KEY "auth_oidc_metrics_shm"

/* The segment outlives pconf: it belongs to the parent's process pool, which
 * a graceful (or plain) restart does not clear, and is found again there. */
static int metrics_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    apr_pool_t *pp = s->process->pool;
    apr_shm_t *shm = NULL;
    apr_pool_userdata_get((void **)&shm, METRICS_SHM_KEY, pp);
    if (shm && apr_shm_size_get(shm) < aoidc_metrics_size()) {
        shm = NULL; /* an older module with fewer counters: take a new segment */
    }
    if (!shm) {
        apr_status_t rv = apr_shm_create(&shm, aoidc_metrics_size(), NULL, pp);
        if (rv != APR_SUCCESS) {
            ap_log_error(
                APLOG_MARK, APLOG_WARNING, rv, s,
                AOIDC_LOGNO(890) "auth_oidc: no shared memory for metrics; the metrics handler will say so");
            aoidc_metrics_forget();
            return OK;
        }
        memset(apr_shm_baseaddr_get(shm), 0, apr_shm_size_get(shm));
        /* userdata_set copies the key; no cleanup of ours (this DSO may be
         * unloaded before the process pool goes) */
        apr_pool_userdata_set(shm, METRICS_SHM_KEY, apr_pool_cleanup_null, pp);
    }
    int kept = aoidc_metrics_use(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm), apr_time_now());
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, AOIDC_LOGNO(891) "auth_oidc: metrics counters %s",
                 kept == 1 ? "kept from the previous generation" : "started from zero");
    return OK;
}

/* Runs after the module's child_init (APR_HOOK_LAST), which created the
 * stores; a store shared by several virtual hosts is wrapped once. */
static void metrics_child_init(apr_pool_t *p, server_rec *s)
{
    apr_hash_t *wrapped = apr_hash_make(p);
    for (server_rec *sv = s; sv; sv = sv->next) {
        aoidc_srv_cfg_t *sc = aoidc_srv_cfg(sv);
        if (!sc->store) {
            continue;
        }
        aoidc_store_t *w = apr_hash_get(wrapped, &sc->store, sizeof(sc->store));
        if (!w) {
            w = aoidc_metrics_store_wrap(p, sc->store);
            apr_hash_set(wrapped, apr_pmemdup(p, &sc->store, sizeof(sc->store)), sizeof(sc->store), w);
            /* a config record shared by several servers is met again, already wrapped */
            apr_hash_set(wrapped, apr_pmemdup(p, &w, sizeof(w)), sizeof(w), w);
        }
        sc->store = w;
    }
}

static int metrics_handler(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, METRICS_HANDLER) != 0) {
        return DECLINED;
    }
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!r->header_only) {
        ap_rputs(aoidc_metrics_render(r->pool), r);
    }
    return OK;
}

void aoidc_metrics_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(metrics_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(metrics_child_init, NULL, NULL, APR_HOOK_LAST);
    ap_hook_handler(metrics_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
