/* Counters for Prometheus: one array of lock-free 64-bit atomic counters,
 * placed in memory shared by every process of the server (the glue,
 * mod_auth_oidc_metrics.c, maps it in post_config; children inherit it).
 * Incrementing is one relaxed atomic add, nothing else; before the counters
 * are placed (unit tests, oidc-console) it does nothing. No httpd headers. */
#ifndef AOIDC_METRICS_H
#define AOIDC_METRICS_H

#include <apr_pools.h>
#include <apr_time.h>
#include <stdint.h>

#include "aoidc_store.h"

typedef enum {
    AOIDC_M_LOGIN_STARTED = 0,
    AOIDC_M_LOGIN_COMPLETED,
    AOIDC_M_LOGIN_FAILED_CLIENT,    /* 400: bad, replayed or expired callback */
    AOIDC_M_LOGIN_FAILED_REJECTED,  /* 401: provider refused, token or userinfo rejected */
    AOIDC_M_LOGIN_FAILED_FORBIDDEN, /* 403: e.g. the user was revoked meanwhile */
    AOIDC_M_LOGIN_FAILED_PROVIDER,  /* 502: provider unreachable or answering garbage */
    AOIDC_M_LOGIN_FAILED_STORE,     /* 503: session store down */
    AOIDC_M_LOGIN_FAILED_INTERNAL,  /* 500 and anything else */
    AOIDC_M_SESSION_VALID,
    AOIDC_M_SESSION_MALFORMED,
    AOIDC_M_SESSION_UNKNOWN, /* not in the store: expired there, logged out, revoked */
    AOIDC_M_SESSION_UNDECRYPTABLE,
    AOIDC_M_SESSION_EXPIRED,
    AOIDC_M_SESSION_OTHER_PROVIDER,
    AOIDC_M_SESSION_REVOKED, /* revocation epoch at touch: also a revocation applied */
    AOIDC_M_SESSION_STORE_DOWN,
    AOIDC_M_SESSION_NO_USER, /* no claim for REMOTE_USER */
    AOIDC_M_BEARER_ACCEPTED,
    AOIDC_M_BEARER_INVALID,     /* 401 invalid_token */
    AOIDC_M_BEARER_MALFORMED,   /* 400 */
    AOIDC_M_BEARER_FORBIDDEN,   /* 403 */
    AOIDC_M_BEARER_UNAVAILABLE, /* 503: provider or store */
    AOIDC_M_BEARER_INTERNAL,
    AOIDC_M_BEARER_CACHE_HIT,
    AOIDC_M_SESSION_CACHE_HIT,  /* a session answered from the per-process cache */
    AOIDC_M_SESSION_CACHE_MISS, /* the cache was asked and the store answered */
    AOIDC_M_BACKCHANNEL_LOGOUT, /* sessions ended by a back-channel logout */
    AOIDC_M_REFRESH_OK,         /* access token refreshed (and stored) */
    AOIDC_M_REFRESH_REFUSED,    /* the provider refused: the session ended (or kept, per config) */
    AOIDC_M_REFRESH_FAILED,     /* provider unreachable, garbage, or the new tokens not stored */
    AOIDC_M_FETCH_DISCOVERY,
    AOIDC_M_FETCH_DISCOVERY_FAILED,
    AOIDC_M_FETCH_JWKS,
    AOIDC_M_FETCH_JWKS_FAILED,
    /* store operations by kind, then failures by kind and class */
    AOIDC_M_STORE_GET,
    AOIDC_M_STORE_SET,
    AOIDC_M_STORE_ADD,
    AOIDC_M_STORE_CAS,
    AOIDC_M_STORE_DEL,
    AOIDC_M_STORE_GET_DOWN,
    AOIDC_M_STORE_SET_DOWN,
    AOIDC_M_STORE_ADD_DOWN,
    AOIDC_M_STORE_CAS_DOWN,
    AOIDC_M_STORE_DEL_DOWN,
    AOIDC_M_STORE_GET_ERROR,
    AOIDC_M_STORE_SET_ERROR,
    AOIDC_M_STORE_ADD_ERROR,
    AOIDC_M_STORE_CAS_ERROR,
    AOIDC_M_STORE_DEL_ERROR,
    /* store latency histogram: one (non-cumulative) count per bucket of
     * aoidc_metrics_buckets_us, the last one +Inf; the sum in microseconds */
    AOIDC_M_STORE_LAT_B0,
    AOIDC_M_STORE_LAT_LAST = AOIDC_M_STORE_LAT_B0 + 11,
    AOIDC_M_STORE_LAT_SUM_US,
    AOIDC_M__COUNT
} aoidc_metric_t;

/* Upper bounds of the latency buckets in microseconds (11 finite + +Inf). */
extern const apr_int64_t aoidc_metrics_buckets_us[11];

/* Bytes of shared memory the counters need. */
apr_size_t aoidc_metrics_size(void);

/* Use mem (size bytes, 8-byte aligned, zeroed or holding counters of an
 * earlier generation) for the counters of this process and its future
 * children. Counters are kept when mem already holds counters of this very
 * layout (a graceful restart with the same module), else reset. Returns 1
 * when kept, 0 when reset, -1 when size is too small (nothing is counted).
 * Call in the parent only (post_config), before any child exists. */
int aoidc_metrics_use(void *mem, apr_size_t size, apr_time_t now);

/* Stop counting (the memory is going away). */
void aoidc_metrics_forget(void);

void aoidc_metric_inc(aoidc_metric_t id);
void aoidc_metric_add(aoidc_metric_t id, uint64_t n);

/* Current value (0 when not counting). */
uint64_t aoidc_metric_get(aoidc_metric_t id);

/* One store operation that took us microseconds. */
void aoidc_metrics_observe_store_us(apr_interval_time_t us);

/* Count the answer of a login callback by its HTTP status (302 completed,
 * 400/401/403/502/503 failed by class, anything else internal). Returns
 * status, so the caller wraps its return in it. */
int aoidc_metric_login_outcome(int status);

/* Count the answer to a bearer token: 0 (OK) accepted, else refused by
 * status. Returns status. */
int aoidc_metric_bearer_outcome(int status);

/* Count one fetch (AOIDC_M_FETCH_DISCOVERY or AOIDC_M_FETCH_JWKS) and its
 * failure when rv is not APR_SUCCESS. */
void aoidc_metric_fetch(aoidc_metric_t fetch, apr_status_t rv);

/* The counters in the Prometheus text exposition format 0.0.4, from p.
 * When not counting, only a comment saying so. */
char *aoidc_metrics_render(apr_pool_t *p);

/* A store that forwards every operation to inner and counts it (kind,
 * down/error, latency). Any function the store vtable may gain later is
 * forwarded uncounted. Allocated from p; inner stays owned by its creator. */
aoidc_store_t *aoidc_metrics_store_wrap(apr_pool_t *p, aoidc_store_t *inner);

#endif
