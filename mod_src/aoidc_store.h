/* The session store: a small vtable, like httpd's socache providers.
 * Keys are produced by the core (hashed, never client input) and are at most
 * AOIDC_STORE_KEY_MAX bytes; values at most AOIDC_STORE_VALUE_MAX. */
#ifndef AOIDC_STORE_H
#define AOIDC_STORE_H

#include <apr_pools.h>
#include <apr_errno.h>
#include <stdint.h>

#define AOIDC_STORE_KEY_MAX 200
#define AOIDC_STORE_VALUE_MAX (64 * 1024)

typedef enum {
    AOIDC_STORE_OK = 0,
    AOIDC_STORE_MISSING, /* get/delete/cas: no such key */
    AOIDC_STORE_EXISTS,  /* add: key present; cas: value changed since read */
    AOIDC_STORE_DOWN,    /* no server reachable, timeout */
    AOIDC_STORE_ERROR    /* anything else (too large, protocol error) */
} aoidc_store_rc_t;

const char *aoidc_store_rc_str(aoidc_store_rc_t rc);

typedef struct aoidc_store aoidc_store_t;

/* The per-process health view: 0 when every server of the store is known to
 * be down (a recent operation failed on each), 1 otherwise. Costs no round
 * trip, except that once per retry period one caller probes a server whose
 * time is up, so that the view recovers without other traffic. For answers
 * that must not start what the store cannot finish (a login). */
int aoidc_store_usable(aoidc_store_t *s, apr_pool_t *p);

/* The write of a get + CAS update: add when the key was missing, else CAS
 * against what was read (set on a backend without CAS values; memcached
 * always has them). APR_SUCCESS, APR_EAGAIN when another writer won or the
 * key changed existence (read again), APR_EGENERAL on store failure. */
apr_status_t aoidc_store_write_back(aoidc_store_t *st, const char *key, const void *val, apr_size_t len, long ttl,
                                    int existed, uint64_t cas);

/* A get + CAS update's change: given what the key holds (old NULL when it
 * is missing), APR_SUCCESS with *val, *len the value to write (from p);
 * APR_EEXIST when nothing needs writing; any other status stops the
 * update with it. */
typedef apr_status_t (*aoidc_store_update_fn)(void *baton, apr_pool_t *p, const char *old, apr_size_t oldlen,
                                              const void **val, apr_size_t *len);

/* Read key, let fn make the new value, write it back (aoidc_store_write_back)
 * and read again after a lost race, up to retries times with
 * aoidc_store_backoff between. APR_SUCCESS when written, APR_EEXIST when fn
 * found nothing to write, APR_EGENERAL on store failure, APR_EAGAIN after
 * retries lost races, or fn's own error. */
apr_status_t aoidc_store_update(aoidc_store_t *st, apr_pool_t *p, const char *key, long ttl, int retries,
                                aoidc_store_update_fn fn, void *baton);

/* Sleep before try attempt + 1 of a lost get + CAS race: attempt ms plus up
 * to a random millisecond, so that racing writers drift apart. */
void aoidc_store_backoff(int attempt);

/* 1 unless reads are repairing the copies of a server (see settled in the
 * vtable); no round trip. */
int aoidc_store_settled(aoidc_store_t *s);

/* Per-store counters (approximate, for the benchmark and metrics). */
typedef struct {
    volatile apr_uint32_t gets, sets, cas, adds, deletes;
    volatile apr_uint32_t repairs; /* copies written back by a read (replicas) */
    volatile apr_uint32_t mgets;   /* multi-get round trips (one per server asked) */
} aoidc_store_stats_t;

/* One key of a multi-get (aoidc_store_mget). */
typedef struct {
    const char *key;      /* in */
    aoidc_store_rc_t rc;  /* out: as get would answer for this key */
    char *val;            /* out when OK: from p, NUL-terminated */
    apr_size_t len;       /* out when OK, excludes the NUL */
} aoidc_store_item_t;

/* Read items[0..n) (keys may repeat): the store's mget when it has one, else
 * one get per key. Every item's rc is set as get would set it (no CAS). */
void aoidc_store_mget(aoidc_store_t *s, apr_pool_t *p, aoidc_store_item_t *items, int n);

/* What a store reports about one of its servers, for the error log. */
typedef enum {
    AOIDC_STORE_EV_DOWN,     /* this process stopped using the server (detail: why); no replicas */
    AOIDC_STORE_EV_DEGRADED, /* the same with replicas: the other copies serve */
    AOIDC_STORE_EV_UP,    /* it answers again */
    AOIDC_STORE_EV_EMPTY, /* it started empty (restart): copies are being repaired */
    AOIDC_STORE_EV_RESYNCED /* this process copied back to it what it lost (detail: how many) */
} aoidc_store_event_t;

/* Called from any thread, once per change of state in this process. */
typedef void (*aoidc_store_event_fn)(void *baton, aoidc_store_event_t ev, const char *server, const char *detail);

struct aoidc_store {
    const char *name;
    /* get: *val allocated from p (NUL-terminated, *len excludes it); *cas set
     * when non-NULL (0 if the backend has none). */
    aoidc_store_rc_t (*get)(aoidc_store_t *s, apr_pool_t *p, const char *key, char **val, apr_size_t *len,
                            uint64_t *cas);
    /* ttl in seconds, > 0 */
    aoidc_store_rc_t (*set)(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl);
    aoidc_store_rc_t (*add)(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl);
    aoidc_store_rc_t (*cas)(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl,
                            uint64_t cas);
    aoidc_store_rc_t (*del)(aoidc_store_t *s, const char *key);
    /* optional: 0 when the store is known to be down (see aoidc_store_usable) */
    int (*usable)(aoidc_store_t *s, apr_pool_t *p);
    /* optional: ask every server (one round trip each; none for a server
     * known to be down); returns how many answered, sets *servers and
     * *replicas. For the health handler. */
    int (*probe)(aoidc_store_t *s, apr_pool_t *p, int *servers, int *replicas);
    /* optional: 0 while some live server may have lost items (it came
     * back, restarted empty or broke a connection within the last 30 s):
     * reads are repairing copies, and a cache in front of the store must
     * let them through (aoidc_store_settled) */
    int (*settled)(aoidc_store_t *s);
    /* optional: read n keys at once (fewer round trips than n gets); sets
     * every item's rc (and val/len when OK) as get would. Callers use
     * aoidc_store_mget(), which falls back to get per key without it. */
    void (*mget)(aoidc_store_t *s, apr_pool_t *p, aoidc_store_item_t *items, int n);
    aoidc_store_stats_t stats;
    /* servers this process saw come back, or learnt started empty: their
     * copies may be missing until reads repair them (the session cache
     * drops its entries when this moves, so that reads reach the store) */
    volatile apr_uint32_t returns;
    /* optional, set by the caller after creation */
    aoidc_store_event_fn on_event;
    void *on_event_baton;
    /* optional, set by the caller after creation: this is a long-lived
     * server process, which may take on the copying back of a server found
     * started empty (a background thread; see aoidc_store_memcached.c).
     * Leave 0 in short-lived tools (oidc-console). */
    int resync;
    void *ctx;
};

/* One line of memcached's "lru_crawler metadump" answer ("key=<url-encoded>
 * exp=<unix time or -1> la=... "; n bytes, without the CRLF, not
 * NUL-terminated): *key decoded (from p) and *exp. Returns 1 for an item
 * line with a key of at most AOIDC_STORE_KEY_MAX bytes, 0 for anything else
 * (END, BUSY, a malformed line). */
int aoidc_store_metadump_line(apr_pool_t *p, const char *line, apr_size_t n, const char **key, long long *exp);

/* --- server lists and replica placement (no libmemcached here) ---------- */

#define AOIDC_STORE_SERVERS_MAX 16

/* A parsed server list: "host[:port] ... [replicas=N]". */
typedef struct {
    int n;                                    /* servers */
    int replicas;                             /* copies - 1; 0 .. n-1 */
    const char *name[AOIDC_STORE_SERVERS_MAX]; /* "host:port", what placement hashes */
    const char *host[AOIDC_STORE_SERVERS_MAX];
    unsigned port[AOIDC_STORE_SERVERS_MAX];
} aoidc_store_servers_t;

/* Parse a list of "host[:port]" servers (blank or comma separated) with an
 * optional "replicas=N" (default 1 with two or more servers, 0 with one).
 * Returns NULL when fine, or a message from p. */
const char *aoidc_store_servers_parse(apr_pool_t *p, const char *list, aoidc_store_servers_t *out);

/* The copies = replicas + 1 distinct servers that hold key, primary first,
 * into order[]: rendezvous (highest random weight) hashing of "host:port"
 * and the key. Independent of the order in which servers are listed; adding
 * or removing one server moves only the keys that it gains or held. */
void aoidc_store_order(const aoidc_store_servers_t *sv, const char *key, int *order);

/* Validate a server list (as above) without connecting. Returns NULL when
 * fine, or a message from p. */
const char *aoidc_store_memcached_check(apr_pool_t *p, const char *servers);

/* Create a memcached store: one libmemcached pool per server (text protocol,
 * CAS, short timeouts), each key on replicas + 1 servers (see
 * aoidc_store_memcached.c for the rules). Call per process (child_init),
 * never before fork. The pools and connections are released by a cleanup on p. */
apr_status_t aoidc_store_memcached_create(apr_pool_t *p, const char *servers, int max_conns, int timeout_ms,
                                          aoidc_store_t **out, const char **err);

#endif
