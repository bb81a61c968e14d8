/* The per-process session cache: what the store answered for a session
 * record, kept for the threads of one Apache process so that a request with
 * a valid session needs no memcached round trip (README "The session
 * cache").
 *
 * It holds the record exactly as the store holds it (encrypted, keyed by the
 * store key, never by the cookie value), so nothing sits decrypted in it and
 * a hit costs what a store answer costs minus the round trip: one AEAD open.
 * Bounded by a number of entries; clock (second chance) eviction. The
 * entries are spread over AOIDC_SCACHE_STRIPES stripes, each with its own
 * mutex, hash chains and clock, chosen by SipHash under a per-process random
 * key: threads meet on one lock only when their keys share a stripe, and a
 * lookup holds it for a hash walk and one copy of the value.
 *
 * Whether an entry may be used is not the cache's business alone: a
 * revocation on another node is learnt from the revocation feed
 * (aoidc_revfeed.h), which one thread per process reads at most once per
 * bound. The cache keeps the time of the last successful read (the start
 * of it); entries are trusted only while that is younger than the bound
 * (aoidc_scache_fresh), so a process that cannot read the feed stops using
 * its entries once the bound has passed. A put carries the cache's
 * generation read before the store was asked; any drop or flush in between
 * refuses the put, so a value read before a revocation never enters after
 * the revocation was applied. */
#ifndef AOIDC_SCACHE_H
#define AOIDC_SCACHE_H

#include <apr_pools.h>
#include <apr_errno.h>
#include <stdint.h>

#define AOIDC_SCACHE_STRIPES 64
#define AOIDC_SCACHE_KEY_MAX 64            /* store keys are "aoidc:s:" + 43 */
/* a larger record (huge claims) is not cached, read from the store each
 * time: so the cache holds at most entries x 16 KiB of values */
#define AOIDC_SCACHE_VALUE_MAX (16 * 1024)
#define AOIDC_SCACHE_ENTRIES_MAX 1000000

typedef struct aoidc_scache aoidc_scache_t;

/* A cache of at most entries (1 .. AOIDC_SCACHE_ENTRIES_MAX) values. The
 * entries are malloc'd (never from a pool, so ASan sees their bounds) and
 * freed by a cleanup on p. */
apr_status_t aoidc_scache_create(apr_pool_t *p, int entries, aoidc_scache_t **out);

/* The value cached under key: 1 and *val (a copy from p, NUL-terminated,
 * *len excludes the NUL) and *cas (when not NULL), or 0. */
int aoidc_scache_get(aoidc_scache_t *c, apr_pool_t *p, const char *key, char **val, apr_size_t *len, uint64_t *cas);

/* The generation to hand to aoidc_scache_put: read it before asking the
 * store. */
apr_uint32_t aoidc_scache_gen(aoidc_scache_t *c);

/* Cache a value read from the store after aoidc_scache_gen() returned gen.
 * Refused (returns 0) when a drop or flush happened since, or when key or
 * value is too large; else 1 (a previous value of key is replaced; when the
 * stripe is full, the clock evicts one entry). */
int aoidc_scache_put(aoidc_scache_t *c, const char *key, const void *val, apr_size_t len, uint64_t cas,
                     apr_uint32_t gen);

/* Forget key (no-op when absent), or everything. Both advance the
 * generation. */
void aoidc_scache_drop(aoidc_scache_t *c, const char *key);
void aoidc_scache_flush(aoidc_scache_t *c);

/* --- the trust bound ------------------------------------------------------ */

/* Milliseconds since the cache was created: the clock of the calls below. */
apr_uint32_t aoidc_scache_now_ms(aoidc_scache_t *c);

/* Whether the entries may be used now: the last successful feed read
 * started less than bound_ms ago. */
int aoidc_scache_fresh(aoidc_scache_t *c, apr_uint32_t bound_ms);

/* Whether the caller is the one thread that reads the feed now (due once
 * three quarters of the bound have passed since the last successful read
 * started, so that steady traffic never sees the cache untrusted; a failed
 * read is tried again after a tenth of the bound). When it returns 1,
 * *started is the time to report to aoidc_scache_polled(), which must be
 * called. */
int aoidc_scache_poll_claim(aoidc_scache_t *c, apr_uint32_t bound_ms, apr_uint32_t *started);

/* The outcome of the read started at started: ok moves the trust bound on. */
void aoidc_scache_polled(aoidc_scache_t *c, apr_uint32_t started, int ok);

/* What the feed reader remembers between reads (aoidc_revfeed.c); only the
 * thread that claimed the poll touches it. */
typedef struct {
    int known;       /* a feed was read before */
    char gen[40];    /* its generation */
    uint64_t next;   /* the sequence number after the last entry applied */
    apr_uint32_t store_returns; /* the store's returns at the last read */
    int failing;     /* the last read failed (its failure was logged) */
} aoidc_scache_feed_t;
aoidc_scache_feed_t *aoidc_scache_feed(aoidc_scache_t *c);

/* --- numbers -------------------------------------------------------------- */

typedef struct {
    apr_uint32_t entries;   /* cached now */
    apr_uint64_t bytes;     /* held by the entries (values, keys, slots) */
    apr_uint32_t capacity;
    apr_uint32_t hits, misses, puts, refused, evictions, drops, flushes, polls, poll_failures;
} aoidc_scache_stats_t;

void aoidc_scache_stats(aoidc_scache_t *c, aoidc_scache_stats_t *out);

/* Counted by the caller (the cache cannot tell a miss that went to the
 * store from a lookup that was not made). */
void aoidc_scache_count_miss(aoidc_scache_t *c);

#endif
