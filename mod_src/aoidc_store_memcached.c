/* The memcached store on libmemcached(-awesome) 1.1: the only file that
 * includes libmemcached. One memcached_pool_st per process; a connection is
 * fetched for one operation and always released. */
#include "aoidc_store.h"

#include <apr_atomic.h>
#include <apr_strings.h>
#include <libmemcached/memcached.h>
#include <libmemcachedutil-1.0/pool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    memcached_pool_st *pool;
    struct timespec fetch_timeout;
} mc_ctx_t;

static aoidc_store_rc_t map_rc(memcached_return_t rc)
{
    switch (rc) {
    case MEMCACHED_SUCCESS:
    case MEMCACHED_STORED:
    case MEMCACHED_DELETED:
        return AOIDC_STORE_OK;
    case MEMCACHED_NOTFOUND:
        return AOIDC_STORE_MISSING;
    case MEMCACHED_DATA_EXISTS:
    case MEMCACHED_NOTSTORED:
        return AOIDC_STORE_EXISTS;
    case MEMCACHED_CONNECTION_FAILURE:
    case MEMCACHED_CONNECTION_BIND_FAILURE:
    case MEMCACHED_HOST_LOOKUP_FAILURE:
    case MEMCACHED_TIMEOUT:
    case MEMCACHED_SERVER_MARKED_DEAD:
    case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
    case MEMCACHED_NO_SERVERS:
    case MEMCACHED_ERRNO:
    case MEMCACHED_UNKNOWN_READ_FAILURE:
    case MEMCACHED_WRITE_FAILURE:
    case MEMCACHED_READ_FAILURE:
    case MEMCACHED_ERROR:
    case MEMCACHED_IN_PROGRESS:
    case MEMCACHED_SOME_ERRORS:
        return AOIDC_STORE_DOWN;
    default:
        return AOIDC_STORE_ERROR;
    }
}

/* MEMCACHED_SOME_ERRORS is what memcached_mget() says when the one server of
 * its one key failed, e.g. on the stale socket of a restarted memcached. */
static int is_connection_error(memcached_return_t rc)
{
    return rc == MEMCACHED_CONNECTION_FAILURE || rc == MEMCACHED_SERVER_MARKED_DEAD || rc == MEMCACHED_SOME_ERRORS ||
           rc == MEMCACHED_WRITE_FAILURE || rc == MEMCACHED_READ_FAILURE || rc == MEMCACHED_ERRNO ||
           rc == MEMCACHED_UNKNOWN_READ_FAILURE || rc == MEMCACHED_TIMEOUT;
}

static memcached_st *fetch(mc_ctx_t *c)
{
    memcached_return_t rc;
    struct timespec ts = c->fetch_timeout;
    return memcached_pool_fetch(c->pool, &ts, &rc);
}

static aoidc_store_rc_t mc_get(aoidc_store_t *s, apr_pool_t *p, const char *key, char **val, apr_size_t *len,
                               uint64_t *cas)
{
    mc_ctx_t *c = s->ctx;
    memcached_st *m = fetch(c);
    memcached_return_t rc = MEMCACHED_FAILURE;
    aoidc_store_rc_t out;
    apr_atomic_inc32(&s->stats.gets);
    if (!m) {
        return AOIDC_STORE_DOWN;
    }
    const char *keys[1] = {key};
    size_t klen[1] = {strlen(key)};
    /* one retry on a connection-class error: libmemcached reports the first
     * failure after a server restart before reconnecting */
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = memcached_mget(m, keys, klen, 1);
        if (rc == MEMCACHED_SUCCESS) {
            memcached_result_st *res = memcached_fetch_result(m, NULL, &rc);
            if (res) {
                size_t n = memcached_result_length(res);
                char *buf = apr_palloc(p, n + 1);
                memcpy(buf, memcached_result_value(res), n);
                buf[n] = '\0';
                *val = buf;
                *len = n;
                if (cas) {
                    *cas = memcached_result_cas(res);
                }
                memcached_result_free(res);
                /* drain the end-of-results marker */
                memcached_return_t rc2;
                while ((res = memcached_fetch_result(m, NULL, &rc2)) != NULL) {
                    memcached_result_free(res);
                }
                memcached_pool_release(c->pool, m);
                return AOIDC_STORE_OK;
            }
            if (rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND) {
                memcached_pool_release(c->pool, m);
                return AOIDC_STORE_MISSING;
            }
        }
        if (!is_connection_error(rc)) {
            break;
        }
    }
    out = map_rc(rc);
    memcached_pool_release(c->pool, m);
    return out == AOIDC_STORE_OK ? AOIDC_STORE_ERROR : out;
}

typedef enum { OP_SET, OP_ADD, OP_CAS } store_op_t;

static aoidc_store_rc_t mc_store(aoidc_store_t *s, store_op_t op, const char *key, const void *val,
                                 apr_size_t len, long ttl, uint64_t cas)
{
    mc_ctx_t *c = s->ctx;
    memcached_st *m;
    memcached_return_t rc = MEMCACHED_FAILURE;
    if (len > AOIDC_STORE_VALUE_MAX || ttl <= 0) {
        return AOIDC_STORE_ERROR;
    }
    if ((m = fetch(c)) == NULL) {
        return AOIDC_STORE_DOWN;
    }
    size_t klen = strlen(key);
    for (int attempt = 0; attempt < 2; attempt++) {
        switch (op) {
        case OP_SET:
            rc = memcached_set(m, key, klen, val, len, (time_t)ttl, 0);
            break;
        case OP_ADD:
            rc = memcached_add(m, key, klen, val, len, (time_t)ttl, 0);
            break;
        case OP_CAS:
            rc = memcached_cas(m, key, klen, val, len, (time_t)ttl, 0, cas);
            break;
        }
        if (!is_connection_error(rc)) {
            break;
        }
    }
    memcached_pool_release(c->pool, m);
    return map_rc(rc);
}

static aoidc_store_rc_t mc_set(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl)
{
    apr_atomic_inc32(&s->stats.sets);
    return mc_store(s, OP_SET, key, val, len, ttl, 0);
}

static aoidc_store_rc_t mc_add(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl)
{
    apr_atomic_inc32(&s->stats.adds);
    return mc_store(s, OP_ADD, key, val, len, ttl, 0);
}

static aoidc_store_rc_t mc_cas(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl,
                               uint64_t cas)
{
    apr_atomic_inc32(&s->stats.cas);
    return mc_store(s, OP_CAS, key, val, len, ttl, cas);
}

static aoidc_store_rc_t mc_del(aoidc_store_t *s, const char *key)
{
    mc_ctx_t *c = s->ctx;
    memcached_st *m = fetch(c);
    memcached_return_t rc = MEMCACHED_FAILURE;
    apr_atomic_inc32(&s->stats.deletes);
    if (!m) {
        return AOIDC_STORE_DOWN;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = memcached_delete(m, key, strlen(key), 0);
        if (!is_connection_error(rc)) {
            break;
        }
    }
    memcached_pool_release(c->pool, m);
    return map_rc(rc);
}

/* Parse "host[:port]" into host and port. Returns 0 on success. */
static int parse_server(apr_pool_t *p, const char *spec, char **host, unsigned *port)
{
    const char *colon = strrchr(spec, ':');
    *port = 11211;
    if (colon && strchr(spec, ']') == NULL && strchr(spec, ':') != colon) {
        return -1; /* bare IPv6 without brackets */
    }
    if (colon && (!strchr(spec, ']') || colon > strchr(spec, ']'))) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (*end != '\0' || v < 1 || v > 65535 || colon[1] == '\0') {
            return -1;
        }
        *port = (unsigned)v;
        *host = apr_pstrmemdup(p, spec, (apr_size_t)(colon - spec));
    }
    else {
        *host = apr_pstrdup(p, spec);
    }
    int v6 = **host == '[';
    if (v6) {
        apr_size_t n = strlen(*host);
        if (n < 3 || (*host)[n - 1] != ']') {
            return -1;
        }
        *host = apr_pstrmemdup(p, *host + 1, n - 2);
    }
    /* a host name or an address, nothing else ("127.0.0.1;11211" is a typo,
     * not a host to resolve at the first request) */
    for (const char *c = *host; *c; c++) {
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
                 (v6 ? *c == ':' : *c == '-');
        if (!ok) {
            return -1;
        }
    }
    return **host ? 0 : -1;
}

const char *aoidc_store_memcached_check(apr_pool_t *p, const char *servers)
{
    char *last, *list = apr_pstrdup(p, servers);
    int n = 0;
    for (char *tok = apr_strtok(list, " \t,", &last); tok; tok = apr_strtok(NULL, " \t,", &last)) {
        char *host;
        unsigned port;
        if (parse_server(p, tok, &host, &port) != 0) {
            return apr_psprintf(p, "'%s' is not host[:port]", tok);
        }
        n++;
    }
    return n ? NULL : "no memcached server given";
}

static apr_status_t mc_cleanup(void *data)
{
    mc_ctx_t *c = data;
    if (c->pool) {
        memcached_st *m = memcached_pool_destroy(c->pool);
        if (m) {
            memcached_free(m);
        }
        c->pool = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t aoidc_store_memcached_create(apr_pool_t *p, const char *servers, int max_conns, int timeout_ms,
                                          aoidc_store_t **out, const char **err)
{
    memcached_st *m = memcached_create(NULL);
    char *last, *list = apr_pstrdup(p, servers);
    if (!m) {
        *err = "memcached_create failed";
        return APR_ENOMEM;
    }
    /* The text protocol: a get is one "gets key" segment, where libmemcached's
     * binary get sends GETKQ and NOOP as two; the benchmark's protected
     * request costs ~15% less Apache and memcached CPU this way. CAS, add and
     * TTLs work alike. (Replicas, a later step, need the binary protocol and
     * will have to weigh this again.) */
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 0);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, (uint64_t)timeout_ms);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, (uint64_t)timeout_ms);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_SND_TIMEOUT, (uint64_t)timeout_ms * 1000);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, (uint64_t)timeout_ms * 1000);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 1);
    for (char *tok = apr_strtok(list, " \t,", &last); tok; tok = apr_strtok(NULL, " \t,", &last)) {
        char *host;
        unsigned port;
        if (parse_server(p, tok, &host, &port) != 0 ||
            memcached_server_add(m, host, (in_port_t)port) != MEMCACHED_SUCCESS) {
            *err = apr_psprintf(p, "bad memcached server '%s'", tok);
            memcached_free(m);
            return APR_EINVAL;
        }
    }
    mc_ctx_t *c = apr_pcalloc(p, sizeof(*c));
    c->pool = memcached_pool_create(m, 1, max_conns > 0 ? max_conns : 1);
    if (!c->pool) {
        memcached_free(m);
        *err = "memcached_pool_create failed";
        return APR_ENOMEM;
    }
    c->fetch_timeout.tv_sec = timeout_ms / 1000;
    c->fetch_timeout.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    apr_pool_cleanup_register(p, c, mc_cleanup, apr_pool_cleanup_null);
    aoidc_store_t *s = apr_pcalloc(p, sizeof(*s));
    s->name = "memcached";
    s->get = mc_get;
    s->set = mc_set;
    s->add = mc_add;
    s->cas = mc_cas;
    s->del = mc_del;
    s->ctx = c;
    *out = s;
    return APR_SUCCESS;
}
