/* The memcached store on libmemcached(-awesome) 1.1: the only file that
 * includes libmemcached.
 *
 * Replicas are ours, not libmemcached's. Each server has its own
 * memcached_pool_st (a connection is fetched for one operation and always
 * released), and every key lives on replicas + 1 distinct servers chosen by
 * aoidc_store_order() (rendezvous hashing), primary first. Why not
 * MEMCACHED_BEHAVIOR_NUMBER_OF_REPLICAS: it needs the binary protocol (a get
 * is two segments there, GETKQ + NOOP, and the benchmark's protected request
 * cost ~15% more CPU), and it replicates only get/set/delete, while the login
 * markers need add and the session directory needs CAS on every copy.
 *
 * The rules (README "Running a cluster"):
 *  - get: the first live copy in order that has the key answers. A valid
 *    session on a healthy primary is one round trip. A copy on a server that
 *    this process saw fail or come back in the last AOIDC_STORE_MISSED_MS
 *    (until its resync has run) is asked last (it may hold an older value; a
 *    CAS on it would write that over the newer copies and drop directory
 *    entries). When an earlier copy
 *    answered "missing" (a server restarted empty) and a later one has it,
 *    the value is written back there (read repair, with add, so a newer
 *    value is never overwritten), keeping its expiry: every item's flags
 *    hold its absolute expiry time.
 *  - set: every live copy. add: every live copy, in order; "exists" from
 *    any copy is "exists" (a single-use marker that one server lost is still
 *    used). del: every live copy.
 *  - cas: the CAS value handed out by get names the server that answered
 *    (its index in the top byte); the compare-and-swap runs there (the copy
 *    that won the read wins) and, when it succeeded, the new value is set
 *    on the other live copies. A CAS on a server that died meanwhile is
 *    "exists", so the caller reads again (from a replica) and retries.
 *    For AOIDC_STORE_SUSPECT_MS after a server started empty (its epoch
 *    item, below), came back, or a pooled connection to it broke, a read
 *    also adds what it read to that server's copy, so that a rolling
 *    restart under load loses nothing that is in use; the hot path is one
 *    round trip otherwise.
 *  - resync: a server found started empty (or back after this process saw
 *    it fail) gets back, from the other servers, every item it shares with
 *    them (and a newer value of what it holds an older one of), copied by
 *    one process of the cluster in a thread of its own (see "resync"
 *    below); so an item that nobody reads (a directory list, an idle
 *    session, a revocation epoch) keeps its copies through a rolling
 *    restart too, and a server that was frozen gets back what it missed. Operators wait for its log line (AOIDC940) before the
 *    next restart.
 *  - a server that failed with a connection-class error is skipped by
 *    every request of this process for AOIDC_STORE_RETRY_MS; then one
 *    request tries it again. So a known-dead server costs no timeout per
 *    request, and a server that returns is used again within that time.
 *  - no live copy at all: AOIDC_STORE_DOWN. When every server is known
 *    dead, aoidc_store_usable() says so without a round trip. */
#include "aoidc_store.h"

#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_network_io.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <libmemcached/memcached.h>
#include <libmemcachedutil-1.0/pool.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* How long a failed server is skipped before one request tries it again. */
#define AOIDC_STORE_RETRY_MS 1000
/* How long after a server came back (or a connection to it broke) reads also
 * check its copy of what they read and write back what it lost. */
#define AOIDC_STORE_SUSPECT_MS 30000
/* How long after a server's return the copying back to it starts (every
 * process uses it again within AOIDC_STORE_RETRY_MS), and how long one
 * copying back keeps the others off (RESYNC_KEY, below). */
#define RESYNC_DELAY_MS (2 * AOIDC_STORE_RETRY_MS)
#define RESYNC_HOLD_S 10
/* How long after a server failed or came back this process reads its copies
 * last (missed): until shortly after its resync, which replaces what it holds
 * older values of. Short, so that when another server fails next, the copies
 * of the one that came back before are read first again. */
#define AOIDC_STORE_MISSED_MS (RESYNC_DELAY_MS + 3000)

typedef struct {
    memcached_pool_st *pool;
    /* ms since ctx->t0 until which the server is skipped (0: live);
     * compared wrap-safe */
    volatile apr_uint32_t dead_until;
    /* ms since ctx->t0 until which the server may have lost items: it came
     * back, or a connection to it broke (a restart) */
    volatile apr_uint32_t suspect_until;
    /* ms since ctx->t0 until which the server may hold older values: this
     * process saw it fail (and skipped it), so writes may have gone to the
     * other copies only; ends after its resync (AOIDC_STORE_MISSED_MS) */
    volatile apr_uint32_t missed_until;
    /* ms since ctx->t0 of the last look at the server's epoch (0: never) */
    volatile apr_uint32_t epoch_checked;
    /* 1 while this process copies back to the server what it lost */
    volatile apr_uint32_t resyncing;
} mc_server_t;

typedef struct {
    aoidc_store_t *store; /* for on_event */
    aoidc_store_servers_t sv;
    mc_server_t srv[AOIDC_STORE_SERVERS_MAX];
    struct timespec fetch_timeout;
    int timeout_ms;
    apr_time_t t0;
    volatile apr_uint32_t stopping; /* the pools are going away: resyncs stop */
    volatile apr_uint32_t threads;  /* resync threads running */
} mc_ctx_t;

#define CAS_SERVER_SHIFT 56
#define CAS_VALUE_MASK ((UINT64_C(1) << CAS_SERVER_SHIFT) - 1)

static aoidc_store_rc_t map_rc(memcached_return_t rc)
{
    switch (rc) {
    case MEMCACHED_SUCCESS:
    case MEMCACHED_STORED:
    case MEMCACHED_DELETED:
        return AOIDC_STORE_OK;
    case MEMCACHED_NOTFOUND:
    case MEMCACHED_END:
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
           rc == MEMCACHED_UNKNOWN_READ_FAILURE || rc == MEMCACHED_TIMEOUT ||
           rc == MEMCACHED_SERVER_TEMPORARILY_DISABLED;
}

/* --- per-process server health ------------------------------------------ */

static apr_uint32_t now_ms(const mc_ctx_t *c)
{
    return (apr_uint32_t)((apr_time_now() - c->t0) / 1000);
}

/* Whether to skip server i. When its time is up, exactly one caller gets to
 * try it again (and marks the outcome); the others keep skipping it for one
 * more period, so a frozen server costs one timeout per period and process,
 * not one per request. */
static int is_dead(mc_ctx_t *c, int i)
{
    apr_uint32_t until = apr_atomic_read32(&c->srv[i].dead_until);
    if (until == 0) {
        return 0;
    }
    apr_uint32_t now = now_ms(c);
    if ((apr_int32_t)(until - now) > 0) {
        return 1;
    }
    apr_uint32_t next = now + AOIDC_STORE_RETRY_MS;
    return apr_atomic_cas32(&c->srv[i].dead_until, next ? next : 1, until) != until;
}

static int is_suspect(mc_ctx_t *c, int i)
{
    apr_uint32_t until = apr_atomic_read32(&c->srv[i].suspect_until);
    return until != 0 && (apr_int32_t)(until - now_ms(c)) > 0;
}

/* this process saw server i fail or come back: it may have lost items
 * (suspect) and hold older values than the other copies (missed) */
static void set_suspect(mc_ctx_t *c, int i)
{
    apr_uint32_t now = now_ms(c), until = now + AOIDC_STORE_SUSPECT_MS, m_until = now + AOIDC_STORE_MISSED_MS;
    apr_atomic_set32(&c->srv[i].suspect_until, until ? until : 1);
    apr_atomic_set32(&c->srv[i].missed_until, m_until ? m_until : 1);
}

static int missed(mc_ctx_t *c, int i)
{
    apr_uint32_t until = apr_atomic_read32(&c->srv[i].missed_until);
    return until != 0 && (apr_int32_t)(until - now_ms(c)) > 0;
}

/* After an operation on server i: rc is its outcome, broke says whether a
 * first attempt failed on a connection-class error (a restart behind a
 * pooled socket). */
static void event(mc_ctx_t *c, aoidc_store_event_t ev, int i, const char *detail)
{
    if (c->store && (ev == AOIDC_STORE_EV_UP || ev == AOIDC_STORE_EV_EMPTY)) {
        apr_atomic_inc32(&c->store->returns);
    }
    if (c->store && c->store->on_event) {
        c->store->on_event(c->store->on_event_baton, ev, c->sv.name[i], detail);
    }
}

static void start_resync(mc_ctx_t *c, int i, apr_int64_t due_ms);

static void mark(mc_ctx_t *c, int i, memcached_return_t rc, int broke)
{
    if (is_connection_error(rc)) {
        apr_uint32_t until = now_ms(c) + AOIDC_STORE_RETRY_MS;
        if (apr_atomic_xchg32(&c->srv[i].dead_until, until ? until : 1) == 0) {
            event(c, c->sv.replicas ? AOIDC_STORE_EV_DEGRADED : AOIDC_STORE_EV_DOWN, i, memcached_strerror(NULL, rc));
        }
        set_suspect(c, i);
    }
    else {
        if (apr_atomic_read32(&c->srv[i].dead_until) != 0 && apr_atomic_xchg32(&c->srv[i].dead_until, 0) != 0) {
            event(c, AOIDC_STORE_EV_UP, i, "");
            set_suspect(c, i);
            /* what this process wrote meanwhile went to the other copies only */
            start_resync(c, i, apr_time_now() / 1000 + RESYNC_DELAY_MS);
        }
        if (broke) {
            /* a restart behind a pooled socket: items may be gone, but the
             * retry went through, so no write was lost (not missed) */
            apr_uint32_t until = now_ms(c) + AOIDC_STORE_SUSPECT_MS;
            apr_atomic_set32(&c->srv[i].suspect_until, until ? until : 1);
            if (c->store) {
                apr_atomic_inc32(&c->store->returns); /* a restart: session caches drop their entries */
            }
        }
    }
}

static memcached_st *fetch(mc_ctx_t *c, int i)
{
    memcached_return_t rc;
    struct timespec ts = c->fetch_timeout;
    return memcached_pool_fetch(c->srv[i].pool, &ts, &rc);
}

/* expiry time for the flags, so that read repair keeps an item's lifetime */
static uint32_t expiry_flags(long ttl)
{
    apr_int64_t e = apr_time_sec(apr_time_now()) + ttl;
    return e > 0 && e < (apr_int64_t)UINT32_MAX ? (uint32_t)e : 0;
}

/* --- one server ------------------------------------------------------------ */

/* --- restarts, seen by every process ----------------------------------------
 * Each server holds one item of its own, EPOCH_KEY, never replicated: the
 * time (unix ms) at which it was first found missing there, i.e. when that
 * server started empty. A process reads it along with a get on that server
 * (same request, no extra round trip) at most once per
 * AOIDC_STORE_EPOCH_CHECK_MS, and once on first use of a replica; a server
 * whose epoch is younger than AOIDC_STORE_SUSPECT_MS is suspect, so reads
 * repair their copies there, in every process of every node and in
 * oidc-console alike, whether or not that process saw the restart. */
#define EPOCH_KEY "aoidc:epoch"
#define AOIDC_STORE_EPOCH_CHECK_MS 1000

static int epoch_due(mc_ctx_t *c, int i)
{
    if (c->sv.replicas == 0) {
        return 0; /* nothing to repair from: one copy of everything */
    }
    apr_uint32_t last = apr_atomic_read32(&c->srv[i].epoch_checked);
    apr_uint32_t now = now_ms(c);
    if (last != 0 && (apr_int32_t)(now - last) < AOIDC_STORE_EPOCH_CHECK_MS) {
        return 0;
    }
    return apr_atomic_cas32(&c->srv[i].epoch_checked, now ? now : 1, last) == last;
}

/* server i started empty at created (unix ms) */
static void epoch_seen(mc_ctx_t *c, int i, apr_int64_t created)
{
    apr_int64_t age = apr_time_now() / 1000 - created;
    if (age < 0) {
        age = 0;
    }
    if (age < AOIDC_STORE_SUSPECT_MS) {
        apr_uint32_t until = now_ms(c) + (apr_uint32_t)(AOIDC_STORE_SUSPECT_MS - age);
        apr_uint32_t cur = apr_atomic_read32(&c->srv[i].suspect_until);
        if (cur == 0 || (apr_int32_t)(until - cur) > 0) {
            if (cur == 0 || (apr_int32_t)(cur - now_ms(c)) <= 0) {
                apr_atomic_inc32(&c->store->returns); /* news to this process */
            }
            apr_atomic_set32(&c->srv[i].suspect_until, until ? until : 1);
        }
    }
}

/* The epoch of server i was not there: it started empty. A server process
 * records when (the one whose add wins takes on its resync, below); a tool
 * (oidc-console) only takes note, so that the resync stays with a process
 * that lives long enough to finish it. */
static apr_int64_t epoch_missing(mc_ctx_t *c, int i, memcached_st *m, apr_pool_t *p)
{
    apr_int64_t epoch = apr_time_now() / 1000;
    if (c->store->resync) {
        const char *v = apr_psprintf(p, "%" APR_INT64_T_FMT, epoch);
        if (memcached_add(m, EPOCH_KEY, sizeof(EPOCH_KEY) - 1, v, strlen(v), 0, 0) == MEMCACHED_SUCCESS) {
            event(c, AOIDC_STORE_EV_EMPTY, i, "");
            start_resync(c, i, epoch + RESYNC_DELAY_MS);
        }
    }
    return epoch;
}

/* Is res the epoch item (read along with a get)? Then *epoch = its value. */
static int epoch_result(memcached_result_st *res, apr_int64_t *epoch)
{
    if (memcached_result_key_length(res) != sizeof(EPOCH_KEY) - 1 ||
        memcmp(memcached_result_key_value(res), EPOCH_KEY, sizeof(EPOCH_KEY) - 1) != 0) {
        return 0;
    }
    char num[24];
    size_t n = memcached_result_length(res);
    size_t cn = n < sizeof(num) - 1 ? n : sizeof(num) - 1;
    memcpy(num, memcached_result_value(res), cn);
    num[cn] = '\0';
    *epoch = apr_atoi64(num);
    return 1;
}

/* Server i answered a read that asked for its epoch: found, or it started
 * empty since anyone looked (recorded from now on). */
static void epoch_answered(mc_ctx_t *c, int i, memcached_st *m, apr_pool_t *p, int found, apr_int64_t epoch)
{
    epoch_seen(c, i, found ? epoch : epoch_missing(c, i, m, p));
}

/* get on server i (and its epoch when due); MEMCACHED_NOTFOUND when absent */
static memcached_return_t srv_get(mc_ctx_t *c, int i, apr_pool_t *p, const char *key, char **val, apr_size_t *len,
                                  uint64_t *cas, uint32_t *flags)
{
    memcached_st *m = fetch(c, i);
    memcached_return_t rc = MEMCACHED_FAILURE;
    if (!m) {
        return MEMCACHED_TIMEOUT; /* pool exhausted: treat as a slow server, not a dead one */
    }
    int with_epoch = epoch_due(c, i);
    const char *keys[2] = {key, EPOCH_KEY};
    size_t klen[2] = {strlen(key), sizeof(EPOCH_KEY) - 1};
    int broke = 0, found = 0, epoch_found = 0;
    apr_int64_t epoch = 0;
    /* one retry on a connection-class error: libmemcached reports the first
     * failure after a server restart before reconnecting */
    for (int attempt = 0; attempt < 2; attempt++) {
        broke = attempt > 0;
        found = epoch_found = 0;
        rc = memcached_mget(m, keys, klen, with_epoch ? 2 : 1);
        if (rc == MEMCACHED_SUCCESS) {
            memcached_result_st *res;
            while ((res = memcached_fetch_result(m, NULL, &rc)) != NULL) {
                size_t n = memcached_result_length(res);
                if (with_epoch && epoch_result(res, &epoch)) {
                    epoch_found = 1;
                }
                else if (!found) {
                    char *buf = apr_palloc(p, n + 1);
                    memcpy(buf, memcached_result_value(res), n);
                    buf[n] = '\0';
                    *val = buf;
                    *len = n;
                    *cas = memcached_result_cas(res);
                    *flags = memcached_result_flags(res);
                    found = 1;
                }
                memcached_result_free(res);
            }
            if (rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND || rc == MEMCACHED_SUCCESS) {
                rc = found ? MEMCACHED_SUCCESS : MEMCACHED_NOTFOUND;
                break;
            }
        }
        if (!is_connection_error(rc) || rc == MEMCACHED_TIMEOUT) {
            break; /* a second wait on a silent server would double the delay */
        }
    }
    if (with_epoch && (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND)) {
        epoch_answered(c, i, m, p, epoch_found, epoch);
    }
    memcached_pool_release(c->srv[i].pool, m);
    mark(c, i, rc, broke);
    return rc;
}

typedef enum { OP_SET, OP_ADD, OP_CAS, OP_DEL } store_op_t;

static memcached_return_t srv_store(mc_ctx_t *c, int i, store_op_t op, const char *key, const void *val,
                                    apr_size_t len, long ttl, uint64_t cas)
{
    memcached_st *m = fetch(c, i);
    memcached_return_t rc = MEMCACHED_FAILURE;
    if (!m) {
        return MEMCACHED_TIMEOUT;
    }
    size_t klen = strlen(key);
    uint32_t flags = op == OP_DEL ? 0 : expiry_flags(ttl);
    int broke = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        broke = attempt > 0;
        switch (op) {
        case OP_SET:
            rc = memcached_set(m, key, klen, val, len, (time_t)ttl, flags);
            break;
        case OP_ADD:
            rc = memcached_add(m, key, klen, val, len, (time_t)ttl, flags);
            break;
        case OP_CAS:
            rc = memcached_cas(m, key, klen, val, len, (time_t)ttl, flags, cas);
            break;
        case OP_DEL:
            rc = memcached_delete(m, key, klen, 0);
            break;
        }
        if (!is_connection_error(rc) || rc == MEMCACHED_TIMEOUT) {
            break; /* a second wait on a silent server would double the delay */
        }
    }
    memcached_pool_release(c->srv[i].pool, m);
    mark(c, i, rc, broke);
    return rc;
}

/* --- the vtable: every copy ------------------------------------------------ */

static aoidc_store_rc_t mc_get(aoidc_store_t *s, apr_pool_t *p, const char *key, char **val, apr_size_t *len,
                               uint64_t *cas)
{
    mc_ctx_t *c = s->ctx;
    int order[AOIDC_STORE_SERVERS_MAX], missing[AOIDC_STORE_SERVERS_MAX];
    int nmissing = 0, copies = c->sv.replicas + 1;
    aoidc_store_rc_t out = AOIDC_STORE_DOWN;
    apr_atomic_inc32(&s->stats.gets);
    aoidc_store_order(&c->sv, key, order);
    /* a process's first use of a server as a replica: learn its epoch (once) */
    for (int k = 1; k < copies; k++) {
        if (apr_atomic_read32(&c->srv[order[k]].epoch_checked) == 0 && !is_dead(c, order[k])) {
            char *hv;
            apr_size_t hl;
            uint64_t hc;
            uint32_t hf;
            srv_get(c, order[k], p, "aoidc:health", &hv, &hl, &hc, &hf);
        }
    }
    /* a copy on a server that this process saw fail lately is read last: it
     * may hold an older value (writes went to the other copies while it was
     * skipped), and a CAS on it would write that older value over the newer
     * copies (a directory list would lose entries) */
    int nsus = 0, sus[AOIDC_STORE_SERVERS_MAX], n = 0;
    for (int k = 0; k < copies; k++) {
        if (missed(c, order[k])) {
            sus[nsus++] = order[k];
        }
        else {
            order[n++] = order[k];
        }
    }
    /* of those, the one that came back first (resynced first) goes first */
    for (int a = 1; a < nsus; a++) {
        for (int b = a; b > 0; b--) {
            apr_uint32_t ua = apr_atomic_read32(&c->srv[sus[b]].missed_until);
            apr_uint32_t ub = apr_atomic_read32(&c->srv[sus[b - 1]].missed_until);
            if ((apr_int32_t)(ua - ub) >= 0) {
                break;
            }
            int t = sus[b];
            sus[b] = sus[b - 1];
            sus[b - 1] = t;
        }
    }
    for (int k = 0; k < nsus; k++) {
        order[n++] = sus[k];
    }
    for (int k = 0; k < copies; k++) {
        int i = order[k];
        if (is_dead(c, i)) {
            continue;
        }
        uint64_t v = 0;
        uint32_t flags = 0;
        memcached_return_t rc = srv_get(c, i, p, key, val, len, &v, &flags);
        if (rc == MEMCACHED_SUCCESS) {
            if (cas) {
                *cas = ((uint64_t)(i + 1) << CAS_SERVER_SHIFT) | (v & CAS_VALUE_MASK);
            }
            /* read repair: the copies found missing, and those on servers
             * that may have lost items lately (add: a no-op where present) */
            for (int j = k + 1; j < copies; j++) {
                if (is_suspect(c, order[j]) && !is_dead(c, order[j])) {
                    missing[nmissing++] = order[j];
                }
            }
            apr_int64_t left = (apr_int64_t)flags - apr_time_sec(apr_time_now());
            for (int j = 0; j < nmissing && flags && left > 0; j++) {
                if (map_rc(srv_store(c, missing[j], OP_ADD, key, *val, *len, (long)left, 0)) == AOIDC_STORE_OK) {
                    apr_atomic_inc32(&s->stats.repairs);
                }
            }
            return AOIDC_STORE_OK;
        }
        if (rc == MEMCACHED_NOTFOUND) {
            missing[nmissing++] = i;
            out = AOIDC_STORE_MISSING;
            continue;
        }
        if (map_rc(rc) == AOIDC_STORE_ERROR && out == AOIDC_STORE_DOWN) {
            out = AOIDC_STORE_ERROR;
        }
    }
    return out;
}

/* --- multi-get (listings) ---------------------------------------------------
 * The copies are asked in rounds: round k groups the keys still unanswered
 * by their k-th copy's server and asks each server once (memcached_mget, in
 * chunks of MGET_CHUNK keys), skipping servers known dead, reading the
 * server's epoch along when due (as srv_get does). A key found on its
 * primary (or on a later copy when the earlier ones are known dead) is done;
 * one missing on a live copy goes on to its next copy, so a listing whose
 * keys are mostly absent (empty bucket pages) also costs a round trip per
 * server and round, not one per key. Whatever needs the per-key rules goes
 * through mc_get unchanged: a key found on a later copy after an earlier one
 * said missing (read repair), one whose copies may need repair (a suspect
 * server), one whose server failed, one that no live server answered. So
 * with healthy servers a listing page of n sessions costs one round trip
 * per server instead of n. */
#define MGET_CHUNK 256

/* one memcached_mget of items idx[0..n) on server i (and its epoch when
 * due); found items get rc OK; MEMCACHED_SUCCESS when the server answered */
static memcached_return_t srv_mget(mc_ctx_t *c, int i, apr_pool_t *p, aoidc_store_item_t *items, const int *idx,
                                   int n)
{
    memcached_st *m = fetch(c, i);
    memcached_return_t rc = MEMCACHED_FAILURE;
    if (!m) {
        return MEMCACHED_TIMEOUT;
    }
    int with_epoch = epoch_due(c, i), epoch_found = 0;
    apr_int64_t epoch = 0;
    const char **keys = apr_palloc(p, sizeof(*keys) * (apr_size_t)(n + 1));
    size_t *klen = apr_palloc(p, sizeof(*klen) * (apr_size_t)(n + 1));
    apr_hash_t *where = apr_hash_make(p); /* key -> first j, chained by next[] */
    int *next = apr_palloc(p, sizeof(*next) * (apr_size_t)n);
    int nk = 0;
    for (int j = 0; j < n; j++) {
        const char *key = items[idx[j]].key;
        int *head = apr_hash_get(where, key, APR_HASH_KEY_STRING);
        next[j] = -1;
        if (head) {
            next[j] = *head; /* a repeated key: asked once, answered to each */
            *head = j;
            continue;
        }
        head = apr_palloc(p, sizeof(*head));
        *head = j;
        apr_hash_set(where, key, APR_HASH_KEY_STRING, head);
        keys[nk] = key;
        klen[nk++] = strlen(key);
    }
    if (with_epoch) {
        keys[nk] = EPOCH_KEY;
        klen[nk++] = sizeof(EPOCH_KEY) - 1;
    }
    int broke = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        broke = attempt > 0;
        rc = memcached_mget(m, keys, klen, (size_t)nk);
        apr_atomic_inc32(&c->store->stats.mgets);
        if (rc == MEMCACHED_SUCCESS) {
            memcached_result_st *res;
            while ((res = memcached_fetch_result(m, NULL, &rc)) != NULL) {
                const char *k = memcached_result_key_value(res);
                size_t kl = memcached_result_key_length(res);
                size_t vn = memcached_result_length(res);
                if (with_epoch && epoch_result(res, &epoch)) {
                    epoch_found = 1;
                    memcached_result_free(res);
                    continue;
                }
                int *head = kl <= AOIDC_STORE_KEY_MAX ? apr_hash_get(where, k, (apr_ssize_t)kl) : NULL;
                for (int j = head ? *head : -1; j >= 0; j = next[j]) {
                    aoidc_store_item_t *it = &items[idx[j]];
                    if (it->rc == AOIDC_STORE_OK) {
                        continue;
                    }
                    it->val = apr_palloc(p, vn + 1);
                    memcpy(it->val, memcached_result_value(res), vn);
                    it->val[vn] = '\0';
                    it->len = vn;
                    it->rc = AOIDC_STORE_OK;
                }
                memcached_result_free(res);
            }
            if (rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND || rc == MEMCACHED_SUCCESS) {
                rc = MEMCACHED_SUCCESS;
                break;
            }
        }
        if (!is_connection_error(rc) || rc == MEMCACHED_TIMEOUT) {
            break;
        }
    }
    if (with_epoch && rc == MEMCACHED_SUCCESS) {
        epoch_answered(c, i, m, p, epoch_found, epoch);
    }
    memcached_pool_release(c->srv[i].pool, m);
    mark(c, i, rc, broke);
    return rc;
}

enum { MG_PENDING = 0, MG_DONE, MG_ONE_BY_ONE };

/* is_dead without claiming a retry: no read repair goes there now */
static int known_dead(mc_ctx_t *c, int i)
{
    apr_uint32_t until = apr_atomic_read32(&c->srv[i].dead_until);
    return until != 0 && (apr_int32_t)(until - now_ms(c)) > 0;
}

static void mc_mget(aoidc_store_t *s, apr_pool_t *p, aoidc_store_item_t *items, int n)
{
    mc_ctx_t *c = s->ctx;
    int copies = c->sv.replicas + 1;
    int *order = apr_palloc(p, sizeof(*order) * (apr_size_t)n * AOIDC_STORE_SERVERS_MAX);
    char *state = apr_pcalloc(p, (apr_size_t)n), *answered = apr_pcalloc(p, (apr_size_t)n);
    int *idx = apr_palloc(p, sizeof(*idx) * (apr_size_t)(n < MGET_CHUNK ? n : MGET_CHUNK));
    /* a process's first use of a server as a replica: learn its epoch (once),
     * as mc_get does */
    for (int i = 0; i < c->sv.n && copies > 1; i++) {
        if (apr_atomic_read32(&c->srv[i].epoch_checked) == 0 && !is_dead(c, i)) {
            char *hv;
            apr_size_t hl;
            uint64_t hc;
            uint32_t hf;
            srv_get(c, i, p, "aoidc:health", &hv, &hl, &hc, &hf);
        }
    }
    for (int j = 0; j < n; j++) {
        int *o = order + j * AOIDC_STORE_SERVERS_MAX;
        items[j].rc = AOIDC_STORE_MISSING;
        items[j].val = NULL;
        items[j].len = 0;
        aoidc_store_order(&c->sv, items[j].key, o);
        for (int k = 0; k < copies && copies > 1; k++) {
            if (is_suspect(c, o[k]) && !known_dead(c, o[k])) {
                state[j] = MG_ONE_BY_ONE; /* reads repair its copies there */
            }
        }
    }
    for (int k = 0; k < copies; k++) {
        for (int i = 0; i < c->sv.n; i++) {
            int m = 0, asked = 0, dead = 0;
            for (int j = 0; j <= n; j++) {
                if (j < n && state[j] == MG_PENDING && order[j * AOIDC_STORE_SERVERS_MAX + k] == i) {
                    if (!asked) {
                        asked = 1;
                        dead = is_dead(c, i); /* once per server and round */
                    }
                    if (!dead) {
                        idx[m++] = j;
                    }
                }
                if (m > 0 && (m == MGET_CHUNK || j == n)) {
                    memcached_return_t rc = srv_mget(c, i, p, items, idx, m);
                    for (int x = 0; x < m; x++) {
                        int y = idx[x];
                        if (rc != MEMCACHED_SUCCESS) {
                            state[y] = MG_ONE_BY_ONE; /* failed or cut short: the per-key rules */
                        }
                        else if (items[y].rc == AOIDC_STORE_OK) {
                            /* found on a later copy after an earlier one said
                             * missing: mc_get writes it back there */
                            state[y] = answered[y] ? MG_ONE_BY_ONE : MG_DONE;
                        }
                        else {
                            answered[y] = 1;
                        }
                    }
                    m = 0;
                }
            }
        }
    }
    for (int j = 0; j < n; j++) {
        if (state[j] == MG_DONE || (state[j] == MG_PENDING && answered[j])) {
            apr_atomic_inc32(&s->stats.gets);
            if (state[j] == MG_PENDING) {
                items[j].rc = AOIDC_STORE_MISSING; /* every live copy said so */
            }
            continue;
        }
        items[j].val = NULL;
        items[j].len = 0;
        items[j].rc = mc_get(s, p, items[j].key, &items[j].val, &items[j].len, NULL);
    }
}

/* set or add on every live copy (see the rules at the top) */
static aoidc_store_rc_t all_copies(aoidc_store_t *s, store_op_t op, const char *key, const void *val,
                                   apr_size_t len, long ttl, int skip)
{
    mc_ctx_t *c = s->ctx;
    int order[AOIDC_STORE_SERVERS_MAX];
    int ok = 0, missing = 0, error = 0, copies = c->sv.replicas + 1;
    if (op != OP_DEL && (len > AOIDC_STORE_VALUE_MAX || ttl <= 0)) {
        return AOIDC_STORE_ERROR;
    }
    aoidc_store_order(&c->sv, key, order);
    for (int k = 0; k < copies; k++) {
        int i = order[k];
        if (i == skip || is_dead(c, i)) {
            continue;
        }
        aoidc_store_rc_t rc = map_rc(srv_store(c, i, op, key, val, len, ttl, 0));
        if (rc == AOIDC_STORE_OK) {
            ok++;
        }
        else if (rc == AOIDC_STORE_EXISTS && op == OP_ADD) {
            return AOIDC_STORE_EXISTS;
        }
        else if (rc == AOIDC_STORE_MISSING) {
            missing++;
        }
        else if (rc == AOIDC_STORE_ERROR) {
            error++;
        }
    }
    return ok ? AOIDC_STORE_OK : missing ? AOIDC_STORE_MISSING : error ? AOIDC_STORE_ERROR : AOIDC_STORE_DOWN;
}

static aoidc_store_rc_t mc_set(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl)
{
    apr_atomic_inc32(&s->stats.sets);
    return all_copies(s, OP_SET, key, val, len, ttl, -1);
}

static aoidc_store_rc_t mc_add(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl)
{
    apr_atomic_inc32(&s->stats.adds);
    return all_copies(s, OP_ADD, key, val, len, ttl, -1);
}

static aoidc_store_rc_t mc_cas(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl,
                               uint64_t cas)
{
    mc_ctx_t *c = s->ctx;
    int i = (int)(cas >> CAS_SERVER_SHIFT) - 1;
    apr_atomic_inc32(&s->stats.cas);
    if (len > AOIDC_STORE_VALUE_MAX || ttl <= 0 || i < 0 || i >= c->sv.n) {
        return AOIDC_STORE_ERROR;
    }
    if (is_dead(c, i)) {
        return AOIDC_STORE_EXISTS; /* read again: another copy answers now */
    }
    memcached_return_t rc = srv_store(c, i, OP_CAS, key, val, len, ttl, cas & CAS_VALUE_MASK);
    aoidc_store_rc_t out = map_rc(rc);
    if (out == AOIDC_STORE_DOWN) {
        return AOIDC_STORE_EXISTS;
    }
    if (out == AOIDC_STORE_OK) {
        all_copies(s, OP_SET, key, val, len, ttl, i);
    }
    return out;
}

static aoidc_store_rc_t mc_del(aoidc_store_t *s, const char *key)
{
    apr_atomic_inc32(&s->stats.deletes);
    return all_copies(s, OP_DEL, key, NULL, 0, 0, -1);
}

/* the health view: some server not known dead, or one that answers a probe
 * now that its time is up (is_dead() lets one caller per period through) */
static int mc_usable(aoidc_store_t *s, apr_pool_t *p)
{
    mc_ctx_t *c = s->ctx;
    for (int i = 0; i < c->sv.n; i++) {
        if (apr_atomic_read32(&c->srv[i].dead_until) == 0) {
            return 1;
        }
    }
    for (int i = 0; i < c->sv.n; i++) {
        if (!is_dead(c, i)) {
            char *val;
            apr_size_t len;
            uint64_t cas;
            uint32_t flags;
            memcached_return_t rc = srv_get(c, i, p, "aoidc:health", &val, &len, &cas, &flags);
            if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND) {
                return 1;
            }
        }
    }
    return 0;
}

/* no live server is suspect, i.e. no read is repairing copies (a server
 * known dead cannot be repaired: it does not count) */
static int mc_settled(aoidc_store_t *s)
{
    mc_ctx_t *c = s->ctx;
    if (c->sv.replicas == 0) {
        return 1; /* one copy of everything: nothing to repair from */
    }
    for (int i = 0; i < c->sv.n; i++) {
        if (is_suspect(c, i) && !known_dead(c, i)) {
            return 0;
        }
    }
    return 1;
}

static int mc_probe(aoidc_store_t *s, apr_pool_t *p, int *servers, int *replicas)
{
    mc_ctx_t *c = s->ctx;
    int up = 0;
    for (int i = 0; i < c->sv.n; i++) {
        char *val;
        apr_size_t len;
        uint64_t cas;
        uint32_t flags;
        if (!is_dead(c, i)) {
            memcached_return_t rc = srv_get(c, i, p, "aoidc:health", &val, &len, &cas, &flags);
            up += rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND;
        }
    }
    *servers = c->sv.n;
    *replicas = c->sv.replicas;
    return up;
}

/* --- resync: copying back to a server that started empty --------------------
 * Read repair and the suspect window copy back what is read; an item nobody
 * reads between two restarts of a rolling restart (a directory list, a
 * session not in use, a revocation epoch) would keep one copy and be lost
 * with the next server. So when a server comes back (its epoch found missing:
 * it started empty; or answering again after this process saw it fail, and
 * skipped it), the server process that noticed starts a thread that waits
 * RESYNC_DELAY_MS (every process uses the server again within
 * AOIDC_STORE_RETRY_MS, so what was written meanwhile to the other copies
 * only is on them by then) and adds RESYNC_KEY there; the one whose add wins
 * (one per return and RESYNC_HOLD_S, cluster-wide) walks what the other
 * servers hold, in that thread (oidc-console never does: see
 * epoch_missing). It lists
 * each other live server's keys (memcached's "lru_crawler metadump all", one
 * streamed answer, over a plain connection: libmemcached has no such call),
 * and for every key that has a copy both there and on the returned server
 * reads them on both in batches (one mget per RESYNC_BATCH keys and server)
 * and writes to the returned server, with the remaining lifetime, what it
 * lacks (add) or holds an older value of (resync_batch). Bounded: one pass
 * over what the other servers hold, two round trips per batch and one write
 * per item copied; stops with the process. */
#define RESYNC_BATCH 256
/* on each server, unreplicated: a copying back to it is under way */
#define RESYNC_KEY "aoidc:resync"
#define RESYNC_LINE_MAX 2048

typedef struct {
    mc_ctx_t *c;
    int x;              /* the server to copy back to */
    apr_int64_t due_ms; /* unix ms */
} resync_job_t;

typedef struct {
    const char *key, *val;
    size_t len;
    uint32_t flags; /* absolute expiry (expiry_flags) */
    uint64_t cas;
} got_t;

/* mget keys[0..n) on server i into got[0..*ngot); MEMCACHED_SUCCESS when
 * the server answered */
static memcached_return_t resync_read(mc_ctx_t *c, apr_pool_t *p, int i, const char **keys, size_t *klen, size_t n,
                                      got_t *got, size_t *ngot)
{
    memcached_st *m = fetch(c, i);
    if (!m) {
        return MEMCACHED_TIMEOUT;
    }
    memcached_return_t rc = MEMCACHED_FAILURE;
    /* one retry on a connection-class error, as srv_get: a pooled
     * connection to a server that restarted since fails once */
    for (int attempt = 0; attempt < 2; attempt++) {
        *ngot = 0;
        rc = memcached_mget(m, keys, klen, n);
        if (rc == MEMCACHED_SUCCESS) {
            memcached_result_st *res;
            while ((res = memcached_fetch_result(m, NULL, &rc)) != NULL) {
                if (*ngot < n) {
                    got_t *g = &got[(*ngot)++];
                    g->key = apr_pstrmemdup(p, memcached_result_key_value(res), memcached_result_key_length(res));
                    g->val = apr_pmemdup(p, memcached_result_value(res), memcached_result_length(res));
                    g->len = memcached_result_length(res);
                    g->flags = memcached_result_flags(res);
                    g->cas = memcached_result_cas(res);
                }
                memcached_result_free(res);
            }
            if (rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND || rc == MEMCACHED_SUCCESS) {
                rc = MEMCACHED_SUCCESS;
                break;
            }
        }
        if (!is_connection_error(rc) || rc == MEMCACHED_TIMEOUT) {
            break;
        }
    }
    memcached_pool_release(c->srv[i].pool, m);
    return rc;
}

/* Read keys[0..n) on server j and on server x; copy to x what it lacks
 * (add), and what it holds an older value of: one whose expiry is earlier
 * than j's by a second or more, i.e. written earlier (a list's or session's
 * lifetime starts anew with each write), as a server that was skipped for a
 * while holds it; the CAS from x's read keeps a write to x since then. -1
 * when j failed. */
static int resync_batch(mc_ctx_t *c, apr_pool_t *p, int j, int x, const char **keys, size_t *klen, size_t n,
                        long *copied)
{
    got_t *got = apr_palloc(p, sizeof(*got) * n), *have = apr_palloc(p, sizeof(*have) * n);
    size_t ngot = 0, nhave = 0;
    if (resync_read(c, p, j, keys, klen, n, got, &ngot) != MEMCACHED_SUCCESS) {
        return -1;
    }
    if (ngot == 0 || resync_read(c, p, x, keys, klen, n, have, &nhave) != MEMCACHED_SUCCESS) {
        return 0; /* x failed: it is marked, reads repair later */
    }
    apr_hash_t *on_x = apr_hash_make(p);
    for (size_t h = 0; h < nhave; h++) {
        apr_hash_set(on_x, have[h].key, APR_HASH_KEY_STRING, &have[h]);
    }
    apr_int64_t now = apr_time_sec(apr_time_now());
    for (size_t g = 0; g < ngot && !apr_atomic_read32(&c->stopping); g++) {
        apr_int64_t left = (apr_int64_t)got[g].flags - now;
        if (got[g].flags == 0 || left <= 0 || known_dead(c, x)) {
            continue; /* no expiry of ours (not an item of this module), or expired */
        }
        const got_t *old = apr_hash_get(on_x, got[g].key, APR_HASH_KEY_STRING);
        memcached_return_t rc;
        if (!old) {
            rc = srv_store(c, x, OP_ADD, got[g].key, got[g].val, got[g].len, (long)left, 0);
        }
        else if (old->flags + 1 <= got[g].flags && old->flags != 0 &&
                 (old->len != got[g].len || memcmp(old->val, got[g].val, old->len) != 0)) {
            rc = srv_store(c, x, OP_CAS, got[g].key, got[g].val, got[g].len, (long)left, old->cas);
        }
        else {
            continue;
        }
        if (rc == MEMCACHED_SUCCESS) {
            (*copied)++;
            apr_atomic_inc32(&c->store->stats.repairs);
        }
    }
    return 0;
}

/* whether key has copies on both j and x */
static int resync_wanted(mc_ctx_t *c, const char *key, int j, int x)
{
    int order[AOIDC_STORE_SERVERS_MAX], on_j = 0, on_x = 0;
    if (strcmp(key, EPOCH_KEY) == 0 || strcmp(key, RESYNC_KEY) == 0) {
        return 0; /* each server's own */
    }
    aoidc_store_order(&c->sv, key, order);
    for (int k = 0; k <= c->sv.replicas; k++) {
        on_j |= order[k] == j;
        on_x |= order[k] == x;
    }
    return on_j && on_x;
}

/* Walk server j's keys, copying those that x shares to x. 0 when done, -1
 * when j could not be listed (or read), 1 when it was busy (another walk). */
static int resync_from(mc_ctx_t *c, apr_pool_t *p, int j, int x, long *copied)
{
    apr_sockaddr_t *sa;
    apr_socket_t *sock;
    if (apr_sockaddr_info_get(&sa, c->sv.host[j], APR_UNSPEC, (apr_port_t)c->sv.port[j], 0, p) != APR_SUCCESS ||
        apr_socket_create(&sock, sa->family, SOCK_STREAM, APR_PROTO_TCP, p) != APR_SUCCESS) {
        return -1;
    }
    apr_socket_timeout_set(sock, (apr_interval_time_t)c->timeout_ms * 1000);
    static const char cmd[] = "lru_crawler metadump all\r\n";
    apr_size_t sent = sizeof(cmd) - 1;
    if (apr_socket_connect(sock, sa) != APR_SUCCESS || apr_socket_send(sock, cmd, &sent) != APR_SUCCESS ||
        sent != sizeof(cmd) - 1) {
        apr_socket_close(sock);
        return -1;
    }
    apr_pool_t *bp;
    if (apr_pool_create(&bp, p) != APR_SUCCESS) {
        apr_socket_close(sock);
        return -1;
    }
    const char **keys = apr_palloc(p, sizeof(*keys) * RESYNC_BATCH);
    size_t *klen = apr_palloc(p, sizeof(*klen) * RESYNC_BATCH);
    size_t nkeys = 0;
    char buf[RESYNC_LINE_MAX];
    apr_pool_t *lp; /* one line's */
    if (apr_pool_create(&lp, p) != APR_SUCCESS) {
        apr_socket_close(sock);
        return -1;
    }
    apr_size_t have = 0;
    int out = -1, skipping = 0;
    while (!apr_atomic_read32(&c->stopping)) {
        apr_size_t got = sizeof(buf) - have;
        apr_status_t rv = apr_socket_recv(sock, buf + have, &got);
        have += got;
        char *nl;
        int done = 0;
        while (!done && (nl = memchr(buf, '\n', have)) != NULL) {
            apr_size_t n = (apr_size_t)(nl - buf);
            if (skipping) {
                skipping = 0; /* the rest of an overlong line */
            }
            else {
                apr_size_t ln = n > 0 && buf[n - 1] == '\r' ? n - 1 : n;
                const char *key;
                long long exp;
                apr_pool_clear(lp);
                if (ln == 3 && memcmp(buf, "END", 3) == 0) {
                    out = 0;
                    done = 1;
                }
                else if (ln >= 4 && memcmp(buf, "BUSY", 4) == 0) {
                    out = 1;
                    done = 1;
                }
                else if (ln >= 5 && (memcmp(buf, "ERROR", 5) == 0 || memcmp(buf, "CLIENT_ERROR", 5) == 0)) {
                    done = 1;
                }
                else if (aoidc_store_metadump_line(lp, buf, ln, &key, &exp) &&
                         resync_wanted(c, key, j, x)) {
                    keys[nkeys] = apr_pstrdup(bp, key);
                    klen[nkeys] = strlen(key);
                    if (++nkeys == RESYNC_BATCH) {
                        if (resync_batch(c, bp, j, x, keys, klen, nkeys, copied) != 0) {
                            done = 1;
                        }
                        nkeys = 0;
                        apr_pool_clear(bp);
                    }
                }
            }
            memmove(buf, nl + 1, have - n - 1);
            have -= n + 1;
        }
        if (done) {
            break;
        }
        if (have == sizeof(buf)) {
            have = 0; /* a line longer than any of ours: skip to its end */
            skipping = 1;
        }
        if (rv != APR_SUCCESS) {
            break; /* closed, timed out: the walk is incomplete */
        }
    }
    apr_socket_close(sock);
    if (out == 0 && nkeys > 0 && resync_batch(c, bp, j, x, keys, klen, nkeys, copied) != 0) {
        out = -1;
    }
    apr_pool_destroy(bp);
    return out;
}

static void *resync_main(void *arg)
{
    resync_job_t *job = arg;
    mc_ctx_t *c = job->c;
    int x = job->x, failed = 0, walked = 0;
    long copied = 0;
    apr_pool_t *p = NULL;
    apr_time_t t0 = apr_time_now();
    while (!apr_atomic_read32(&c->stopping) && apr_time_now() / 1000 < job->due_ms) {
        apr_sleep(apr_time_from_msec(50));
    }
    /* one copying back per server and RESYNC_HOLD_S, cluster-wide: every
     * process that saw the server return asks, the one whose add wins walks */
    if (!apr_atomic_read32(&c->stopping) && !known_dead(c, x) &&
        srv_store(c, x, OP_ADD, RESYNC_KEY, "1", 1, RESYNC_HOLD_S, 0) == MEMCACHED_SUCCESS &&
        apr_pool_create_unmanaged_ex(&p, NULL, NULL) == APR_SUCCESS) {
        for (int j = 0; j < c->sv.n && !apr_atomic_read32(&c->stopping); j++) {
            if (j == x || known_dead(c, j)) {
                failed += j != x;
                continue;
            }
            int rc = 1;
            /* another walk of the same server (a crawler is busy): wait for it */
            for (int tries = 0; rc == 1 && tries < 50 && !apr_atomic_read32(&c->stopping); tries++) {
                rc = resync_from(c, p, j, x, &copied);
                if (rc == 1) {
                    apr_sleep(apr_time_from_msec(100));
                }
            }
            walked += rc == 0;
            failed += rc != 0;
            apr_pool_clear(p);
        }
        if (!apr_atomic_read32(&c->stopping)) {
            event(c, AOIDC_STORE_EV_RESYNCED, x,
                  apr_psprintf(p, "%ld items copied back from %d server(s) in %.1f s%s", copied, walked,
                               (double)(apr_time_now() - t0) / APR_USEC_PER_SEC,
                               failed ? "; some servers could not be read: reads still repair" : ""));
        }
        apr_pool_destroy(p);
    }
    apr_atomic_set32(&c->srv[x].resyncing, 0);
    apr_atomic_dec32(&c->threads);
    free(job);
    return NULL;
}

static void start_resync(mc_ctx_t *c, int i, apr_int64_t due_ms)
{
    if (!c->store || !c->store->resync || c->sv.replicas == 0 || apr_atomic_read32(&c->stopping) ||
        apr_atomic_cas32(&c->srv[i].resyncing, 1, 0) != 0) {
        return; /* nothing to copy from, going away, or already at it */
    }
    resync_job_t *job = malloc(sizeof(*job));
    pthread_attr_t attr;
    pthread_t t;
    if (job) {
        job->c = c;
        job->x = i;
        job->due_ms = due_ms;
        apr_atomic_inc32(&c->threads);
        if (pthread_attr_init(&attr) == 0) {
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            int rc = pthread_create(&t, &attr, resync_main, job);
            pthread_attr_destroy(&attr);
            if (rc == 0) {
                return;
            }
        }
        apr_atomic_dec32(&c->threads);
        free(job);
    }
    apr_atomic_set32(&c->srv[i].resyncing, 0);
}

/* --- set-up ------------------------------------------------------------------ */

const char *aoidc_store_memcached_check(apr_pool_t *p, const char *servers)
{
    aoidc_store_servers_t sv;
    return aoidc_store_servers_parse(p, servers, &sv);
}

static apr_status_t mc_cleanup(void *data)
{
    mc_ctx_t *c = data;
    /* a resync thread stops at its next item; each of its waits is bounded
     * by the store timeout */
    apr_atomic_set32(&c->stopping, 1);
    for (int waited = 0; apr_atomic_read32(&c->threads) != 0 && waited < 4 * c->timeout_ms + 1000; waited += 10) {
        apr_sleep(apr_time_from_msec(10));
    }
    if (apr_atomic_read32(&c->threads) != 0) {
        return APR_SUCCESS; /* one is still in a call: leave it the pools (the process is ending) */
    }
    for (int i = 0; i < c->sv.n; i++) {
        if (c->srv[i].pool) {
            memcached_st *m = memcached_pool_destroy(c->srv[i].pool);
            if (m) {
                memcached_free(m);
            }
            c->srv[i].pool = NULL;
        }
    }
    return APR_SUCCESS;
}

/* one server's connection template */
static memcached_st *server_template(const aoidc_store_servers_t *sv, int i, int timeout_ms)
{
    memcached_st *m = memcached_create(NULL);
    if (!m) {
        return NULL;
    }
    /* The text protocol: a get is one "gets key" segment, where libmemcached's
     * binary get sends GETKQ and NOOP as two; the benchmark's protected
     * request costs ~15% less Apache and memcached CPU this way. CAS, add and
     * TTLs work alike; replicas are ours (see the top of this file). */
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 0);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, (uint64_t)timeout_ms);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, (uint64_t)timeout_ms);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_SND_TIMEOUT, (uint64_t)timeout_ms * 1000);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, (uint64_t)timeout_ms * 1000);
    /* our own dead-server view (mark/is_dead) decides when to try again; a
     * connection that failed may reconnect at once */
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 0);
    if (memcached_server_add(m, sv->host[i], (in_port_t)sv->port[i]) != MEMCACHED_SUCCESS) {
        memcached_free(m);
        return NULL;
    }
    return m;
}

apr_status_t aoidc_store_memcached_create(apr_pool_t *p, const char *servers, int max_conns, int timeout_ms,
                                          aoidc_store_t **out, const char **err)
{
    mc_ctx_t *c = apr_pcalloc(p, sizeof(*c));
    if ((*err = aoidc_store_servers_parse(p, servers, &c->sv)) != NULL) {
        return APR_EINVAL;
    }
    /* a pre-cleanup: resync threads stop before anything of p goes */
    apr_pool_pre_cleanup_register(p, c, mc_cleanup);
    for (int i = 0; i < c->sv.n; i++) {
        memcached_st *m = server_template(&c->sv, i, timeout_ms);
        if (!m) {
            *err = apr_psprintf(p, "bad memcached server '%s'", c->sv.name[i]);
            return APR_EINVAL;
        }
        c->srv[i].pool = memcached_pool_create(m, 1, max_conns > 0 ? max_conns : 1);
        if (!c->srv[i].pool) {
            memcached_free(m);
            *err = "memcached_pool_create failed";
            return APR_ENOMEM;
        }
    }
    c->fetch_timeout.tv_sec = timeout_ms / 1000;
    c->fetch_timeout.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 500;
    c->t0 = apr_time_now();
    aoidc_store_t *s = apr_pcalloc(p, sizeof(*s));
    s->name = "memcached";
    s->get = mc_get;
    s->set = mc_set;
    s->add = mc_add;
    s->cas = mc_cas;
    s->del = mc_del;
    s->usable = mc_usable;
    s->probe = mc_probe;
    s->settled = mc_settled;
    s->mget = mc_mget;
    s->ctx = c;
    c->store = s;
    *out = s;
    return APR_SUCCESS;
}
