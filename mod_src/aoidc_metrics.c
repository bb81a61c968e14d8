/* Counters for Prometheus (see aoidc_metrics.h). The counters live in one
 * block shared by all processes of the server: a header that names the
 * layout, then AOIDC_M__COUNT lock-free atomic 64-bit counters, which every
 * process adds to with relaxed atomic adds (no lock, no per-process slot to
 * sum). */
#include "aoidc_metrics.h"

#include <apr_strings.h>
#include <apr_tables.h>
#include <stdatomic.h>
#include <string.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free to work across processes");

/* changes whenever the enum or the header changes: the counters of an older
 * module are then not read as ours after a graceful restart */
#define METRICS_MAGIC 0x616f6d31u /* "aom1" */
#define METRICS_LAYOUT ((uint32_t)AOIDC_M__COUNT)

typedef struct {
    uint32_t magic;
    uint32_t layout;
    int64_t created; /* unix seconds when the counters were reset */
    _Atomic unsigned long long v[AOIDC_M__COUNT];
} metrics_shm_t;

/* Set in post_config (the parent), inherited by the children. */
static metrics_shm_t *counters;

const apr_int64_t aoidc_metrics_buckets_us[11] = {250,   500,   1000,   2500,   5000,   10000,
                                                  25000, 50000, 100000, 250000, 1000000};
/* the same in seconds, as Prometheus shows them (apr_psprintf's %g drops the leading 0) */
static const char *const bucket_le[11] = {"0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
                                          "0.025",   "0.05",   "0.1",   "0.25",   "1"};

apr_size_t aoidc_metrics_size(void)
{
    return sizeof(metrics_shm_t);
}

int aoidc_metrics_use(void *mem, apr_size_t size, apr_time_t now)
{
    counters = NULL;
    if (!mem || size < sizeof(metrics_shm_t)) {
        return -1;
    }
    metrics_shm_t *m = mem;
    if (m->magic == METRICS_MAGIC && m->layout == METRICS_LAYOUT) {
        counters = m;
        return 1;
    }
    memset(m, 0, sizeof(*m));
    for (int i = 0; i < AOIDC_M__COUNT; i++) {
        atomic_init(&m->v[i], 0);
    }
    m->magic = METRICS_MAGIC;
    m->layout = METRICS_LAYOUT;
    m->created = apr_time_sec(now);
    counters = m;
    return 0;
}

void aoidc_metrics_forget(void)
{
    counters = NULL;
}

static void add(aoidc_metric_t id, unsigned long long n)
{
    if (counters && (unsigned)id < AOIDC_M__COUNT) {
        atomic_fetch_add_explicit(&counters->v[id], n, memory_order_relaxed);
    }
}

void aoidc_metric_inc(aoidc_metric_t id)
{
    add(id, 1);
}

void aoidc_metric_add(aoidc_metric_t id, uint64_t n)
{
    add(id, n);
}

uint64_t aoidc_metric_get(aoidc_metric_t id)
{
    if (!counters || (unsigned)id >= AOIDC_M__COUNT) {
        return 0;
    }
    return atomic_load_explicit(&counters->v[id], memory_order_relaxed);
}

void aoidc_metrics_observe_store_us(apr_interval_time_t us)
{
    int b = 0;
    if (us < 0) {
        us = 0; /* the clock stepped back */
    }
    while (b < 11 && us > aoidc_metrics_buckets_us[b]) {
        b++;
    }
    add(AOIDC_M_STORE_LAT_B0 + b, 1);
    add(AOIDC_M_STORE_LAT_SUM_US, (unsigned long long)us);
}

int aoidc_metric_login_outcome(int status)
{
    switch (status) {
    case 302:
        add(AOIDC_M_LOGIN_COMPLETED, 1);
        break;
    case 400:
        add(AOIDC_M_LOGIN_FAILED_CLIENT, 1);
        break;
    case 401:
        add(AOIDC_M_LOGIN_FAILED_REJECTED, 1);
        break;
    case 403:
        add(AOIDC_M_LOGIN_FAILED_FORBIDDEN, 1);
        break;
    case 502:
        add(AOIDC_M_LOGIN_FAILED_PROVIDER, 1);
        break;
    case 503:
        add(AOIDC_M_LOGIN_FAILED_STORE, 1);
        break;
    default:
        add(AOIDC_M_LOGIN_FAILED_INTERNAL, 1);
        break;
    }
    return status;
}

int aoidc_metric_bearer_outcome(int status)
{
    switch (status) {
    case 0:
        add(AOIDC_M_BEARER_ACCEPTED, 1);
        break;
    case 400:
        add(AOIDC_M_BEARER_MALFORMED, 1);
        break;
    case 401:
        add(AOIDC_M_BEARER_INVALID, 1);
        break;
    case 403:
        add(AOIDC_M_BEARER_FORBIDDEN, 1);
        break;
    case 502:
    case 503:
        add(AOIDC_M_BEARER_UNAVAILABLE, 1);
        break;
    default:
        add(AOIDC_M_BEARER_INTERNAL, 1);
        break;
    }
    return status;
}

void aoidc_metric_fetch(aoidc_metric_t fetch, apr_status_t rv)
{
    add(fetch, 1);
    if (rv != APR_SUCCESS) {
        add(fetch + 1, 1); /* AOIDC_M_FETCH_*_FAILED follows its fetch */
    }
}

/* ---- rendering ---- */

typedef struct {
    const char *name;
    const char *type;
    const char *help;
} family_t;

enum {
    F_LOGIN_STARTED,
    F_LOGIN_COMPLETED,
    F_LOGIN_FAILED,
    F_SESSION_VALID,
    F_SESSION_REFUSED,
    F_REVOCATIONS,
    F_REFRESHES,
    F_BEARER_ACCEPTED,
    F_BEARER_REFUSED,
    F_BEARER_CACHE,
    F_SESSION_CACHE,
    F_FETCHES,
    F_FETCH_FAILURES,
    F_STORE_OPS,
    F_STORE_ERRORS,
    F__COUNT
};

static const family_t families[F__COUNT] = {
    {"aoidc_logins_started_total", "counter", "Logins sent to a provider."},
    {"aoidc_logins_completed_total", "counter", "Login callbacks that created a session."},
    {"aoidc_logins_failed_total", "counter", "Login callbacks refused, by reason class."},
    {"aoidc_sessions_validated_total", "counter", "Requests admitted by a valid session."},
    {"aoidc_sessions_refused_total", "counter", "Session cookies that did not admit a request, by reason."},
    {"aoidc_revocations_applied_total", "counter", "Sessions ended by a revocation, by how it reached them."},
    {"aoidc_refreshes_total", "counter", "Server-side access token refreshes, by result."},
    {"aoidc_bearer_accepted_total", "counter", "Bearer tokens accepted."},
    {"aoidc_bearer_refused_total", "counter", "Bearer tokens refused, by reason."},
    {"aoidc_bearer_cache_hits_total", "counter", "Bearer tokens answered from the per-process cache."},
    {"aoidc_session_cache_total", "counter",
     "Session lookups of the per-process session cache, by result (miss: the store answered)."},
    {"aoidc_provider_fetches_total", "counter", "Fetches of provider discovery documents and key sets."},
    {"aoidc_provider_fetch_failures_total", "counter", "Provider fetches that failed."},
    {"aoidc_store_operations_total", "counter", "Session store operations."},
    {"aoidc_store_errors_total", "counter",
     "Session store operations that failed (down: unreachable or timeout)."},
};

typedef struct {
    int family;
    aoidc_metric_t id;
    const char *labels; /* NULL: none */
} row_t;

static const row_t rows[] = {
    {F_LOGIN_STARTED, AOIDC_M_LOGIN_STARTED, NULL},
    {F_LOGIN_COMPLETED, AOIDC_M_LOGIN_COMPLETED, NULL},
    {F_LOGIN_FAILED, AOIDC_M_LOGIN_FAILED_CLIENT, "reason=\"client\""},
    {F_LOGIN_FAILED, AOIDC_M_LOGIN_FAILED_REJECTED, "reason=\"rejected\""},
    {F_LOGIN_FAILED, AOIDC_M_LOGIN_FAILED_FORBIDDEN, "reason=\"forbidden\""},
    {F_LOGIN_FAILED, AOIDC_M_LOGIN_FAILED_PROVIDER, "reason=\"provider\""},
    {F_LOGIN_FAILED, AOIDC_M_LOGIN_FAILED_STORE, "reason=\"store\""},
    {F_LOGIN_FAILED, AOIDC_M_LOGIN_FAILED_INTERNAL, "reason=\"internal\""},
    {F_SESSION_VALID, AOIDC_M_SESSION_VALID, NULL},
    {F_SESSION_REFUSED, AOIDC_M_SESSION_MALFORMED, "reason=\"malformed\""},
    {F_SESSION_REFUSED, AOIDC_M_SESSION_UNKNOWN, "reason=\"unknown\""},
    {F_SESSION_REFUSED, AOIDC_M_SESSION_UNDECRYPTABLE, "reason=\"undecryptable\""},
    {F_SESSION_REFUSED, AOIDC_M_SESSION_EXPIRED, "reason=\"expired\""},
    {F_SESSION_REFUSED, AOIDC_M_SESSION_OTHER_PROVIDER, "reason=\"other_provider\""},
    {F_SESSION_REFUSED, AOIDC_M_SESSION_REVOKED, "reason=\"revoked\""},
    {F_SESSION_REFUSED, AOIDC_M_SESSION_STORE_DOWN, "reason=\"store_down\""},
    {F_SESSION_REFUSED, AOIDC_M_SESSION_NO_USER, "reason=\"no_user_claim\""},
    {F_REVOCATIONS, AOIDC_M_SESSION_REVOKED, "via=\"epoch\""},
    {F_REVOCATIONS, AOIDC_M_BACKCHANNEL_LOGOUT, "via=\"backchannel\""},
    {F_REFRESHES, AOIDC_M_REFRESH_OK, "result=\"ok\""},
    {F_REFRESHES, AOIDC_M_REFRESH_REFUSED, "result=\"refused\""},
    {F_REFRESHES, AOIDC_M_REFRESH_FAILED, "result=\"failed\""},
    {F_BEARER_ACCEPTED, AOIDC_M_BEARER_ACCEPTED, NULL},
    {F_BEARER_REFUSED, AOIDC_M_BEARER_INVALID, "reason=\"invalid\""},
    {F_BEARER_REFUSED, AOIDC_M_BEARER_MALFORMED, "reason=\"malformed\""},
    {F_BEARER_REFUSED, AOIDC_M_BEARER_FORBIDDEN, "reason=\"forbidden\""},
    {F_BEARER_REFUSED, AOIDC_M_BEARER_UNAVAILABLE, "reason=\"unavailable\""},
    {F_BEARER_REFUSED, AOIDC_M_BEARER_INTERNAL, "reason=\"internal\""},
    {F_BEARER_CACHE, AOIDC_M_BEARER_CACHE_HIT, NULL},
    {F_SESSION_CACHE, AOIDC_M_SESSION_CACHE_HIT, "result=\"hit\""},
    {F_SESSION_CACHE, AOIDC_M_SESSION_CACHE_MISS, "result=\"miss\""},
    {F_FETCHES, AOIDC_M_FETCH_DISCOVERY, "document=\"discovery\""},
    {F_FETCHES, AOIDC_M_FETCH_JWKS, "document=\"jwks\""},
    {F_FETCH_FAILURES, AOIDC_M_FETCH_DISCOVERY_FAILED, "document=\"discovery\""},
    {F_FETCH_FAILURES, AOIDC_M_FETCH_JWKS_FAILED, "document=\"jwks\""},
    {F_STORE_OPS, AOIDC_M_STORE_GET, "op=\"get\""},
    {F_STORE_OPS, AOIDC_M_STORE_SET, "op=\"set\""},
    {F_STORE_OPS, AOIDC_M_STORE_ADD, "op=\"add\""},
    {F_STORE_OPS, AOIDC_M_STORE_CAS, "op=\"cas\""},
    {F_STORE_OPS, AOIDC_M_STORE_DEL, "op=\"delete\""},
    {F_STORE_ERRORS, AOIDC_M_STORE_GET_DOWN, "op=\"get\",kind=\"down\""},
    {F_STORE_ERRORS, AOIDC_M_STORE_SET_DOWN, "op=\"set\",kind=\"down\""},
    {F_STORE_ERRORS, AOIDC_M_STORE_ADD_DOWN, "op=\"add\",kind=\"down\""},
    {F_STORE_ERRORS, AOIDC_M_STORE_CAS_DOWN, "op=\"cas\",kind=\"down\""},
    {F_STORE_ERRORS, AOIDC_M_STORE_DEL_DOWN, "op=\"delete\",kind=\"down\""},
    {F_STORE_ERRORS, AOIDC_M_STORE_GET_ERROR, "op=\"get\",kind=\"error\""},
    {F_STORE_ERRORS, AOIDC_M_STORE_SET_ERROR, "op=\"set\",kind=\"error\""},
    {F_STORE_ERRORS, AOIDC_M_STORE_ADD_ERROR, "op=\"add\",kind=\"error\""},
    {F_STORE_ERRORS, AOIDC_M_STORE_CAS_ERROR, "op=\"cas\",kind=\"error\""},
    {F_STORE_ERRORS, AOIDC_M_STORE_DEL_ERROR, "op=\"delete\",kind=\"error\""},
};

static void put(apr_array_header_t *out, const char *s)
{
    APR_ARRAY_PUSH(out, const char *) = s;
}

char *aoidc_metrics_render(apr_pool_t *p)
{
    if (!counters) {
        return apr_pstrdup(p, "# mod_auth_oidc: no counters (shared memory not available)\n");
    }
    apr_array_header_t *out = apr_array_make(p, 256, sizeof(const char *));
    for (int f = 0; f < F__COUNT; f++) {
        put(out, apr_psprintf(p, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help,
                              families[f].name, families[f].type));
        for (apr_size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
            if (rows[i].family != f) {
                continue;
            }
            put(out, apr_psprintf(p, "%s%s%s%s %" APR_UINT64_T_FMT "\n", families[f].name,
                                  rows[i].labels ? "{" : "", rows[i].labels ? rows[i].labels : "",
                                  rows[i].labels ? "}" : "", (apr_uint64_t)aoidc_metric_get(rows[i].id)));
        }
    }
    /* the histogram: cumulative buckets, le in seconds */
    const char *h = "aoidc_store_latency_seconds";
    put(out, apr_psprintf(p, "# HELP %s Time a session store operation took.\n# TYPE %s histogram\n", h, h));
    apr_uint64_t cum = 0;
    for (int b = 0; b <= 11; b++) {
        cum += aoidc_metric_get(AOIDC_M_STORE_LAT_B0 + b);
        const char *le = b < 11 ? bucket_le[b] : "+Inf";
        put(out, apr_psprintf(p, "%s_bucket{le=\"%s\"} %" APR_UINT64_T_FMT "\n", h, le, cum));
    }
    apr_uint64_t sum = aoidc_metric_get(AOIDC_M_STORE_LAT_SUM_US);
    put(out, apr_psprintf(p, "%s_sum %" APR_UINT64_T_FMT ".%06" APR_UINT64_T_FMT "\n", h, sum / 1000000,
                          sum % 1000000));
    put(out, apr_psprintf(p, "%s_count %" APR_UINT64_T_FMT "\n", h, cum));
    put(out,
        apr_psprintf(p,
                     "# HELP aoidc_metrics_reset_time_seconds When these counters last started from zero "
                     "(unix time); a graceful restart keeps them.\n"
                     "# TYPE aoidc_metrics_reset_time_seconds gauge\n"
                     "aoidc_metrics_reset_time_seconds %" APR_INT64_T_FMT "\n",
                     (apr_int64_t)counters->created));
    return apr_array_pstrcat(p, out, '\0');
}

/* ---- the counting store ---- */

typedef struct {
    aoidc_store_t pub; /* first: the store callers see */
    aoidc_store_t *inner;
} metered_t;

static void count_op(aoidc_metric_t op, aoidc_store_rc_t rc, apr_time_t start)
{
    add(op, 1);
    if (rc == AOIDC_STORE_DOWN) {
        add(op + (AOIDC_M_STORE_GET_DOWN - AOIDC_M_STORE_GET), 1);
    }
    else if (rc == AOIDC_STORE_ERROR) {
        add(op + (AOIDC_M_STORE_GET_ERROR - AOIDC_M_STORE_GET), 1);
    }
    aoidc_metrics_observe_store_us(apr_time_now() - start);
}

static aoidc_store_rc_t m_get(aoidc_store_t *s, apr_pool_t *p, const char *key, char **val, apr_size_t *len,
                              uint64_t *cas)
{
    aoidc_store_t *in = ((metered_t *)s)->inner;
    apr_time_t t = apr_time_now();
    aoidc_store_rc_t rc = in->get(in, p, key, val, len, cas);
    count_op(AOIDC_M_STORE_GET, rc, t);
    return rc;
}

static aoidc_store_rc_t m_set(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl)
{
    aoidc_store_t *in = ((metered_t *)s)->inner;
    apr_time_t t = apr_time_now();
    aoidc_store_rc_t rc = in->set(in, key, val, len, ttl);
    count_op(AOIDC_M_STORE_SET, rc, t);
    return rc;
}

static aoidc_store_rc_t m_add(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl)
{
    aoidc_store_t *in = ((metered_t *)s)->inner;
    apr_time_t t = apr_time_now();
    aoidc_store_rc_t rc = in->add(in, key, val, len, ttl);
    count_op(AOIDC_M_STORE_ADD, rc, t);
    return rc;
}

static aoidc_store_rc_t m_cas(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl,
                              uint64_t cas)
{
    aoidc_store_t *in = ((metered_t *)s)->inner;
    apr_time_t t = apr_time_now();
    aoidc_store_rc_t rc = in->cas(in, key, val, len, ttl, cas);
    count_op(AOIDC_M_STORE_CAS, rc, t);
    return rc;
}

static aoidc_store_rc_t m_del(aoidc_store_t *s, const char *key)
{
    aoidc_store_t *in = ((metered_t *)s)->inner;
    apr_time_t t = apr_time_now();
    aoidc_store_rc_t rc = in->del(in, key);
    count_op(AOIDC_M_STORE_DEL, rc, t);
    return rc;
}

/* a multi-get counts as one get per key (one latency observation) */
static void m_mget(aoidc_store_t *s, apr_pool_t *p, aoidc_store_item_t *items, int n)
{
    aoidc_store_t *in = ((metered_t *)s)->inner;
    apr_time_t t = apr_time_now();
    aoidc_store_mget(in, p, items, n);
    for (int i = 0; i < n; i++) {
        add(AOIDC_M_STORE_GET, 1);
        if (items[i].rc == AOIDC_STORE_DOWN) {
            add(AOIDC_M_STORE_GET_DOWN, 1);
        }
        else if (items[i].rc == AOIDC_STORE_ERROR) {
            add(AOIDC_M_STORE_GET_ERROR, 1);
        }
    }
    aoidc_metrics_observe_store_us(apr_time_now() - t);
}

aoidc_store_t *aoidc_metrics_store_wrap(apr_pool_t *p, aoidc_store_t *inner)
{
    metered_t *m = apr_pcalloc(p, sizeof(*m));
    /* a copy keeps name, ctx and any operation added later: those are
     * called with &m->pub and find the inner backend's ctx there */
    m->pub = *inner;
    m->inner = inner;
    m->pub.get = m_get;
    m->pub.set = m_set;
    m->pub.add = m_add;
    m->pub.cas = m_cas;
    m->pub.del = m_del;
    m->pub.mget = m_mget;
    return &m->pub;
}
