/* The revocation feed: how every Apache process learns, within its session
 * cache's bound, that a session record it may have cached was deleted or
 * rewritten on another node or by oidc-console (README "The session
 * cache").
 *
 * One store key, AOIDC_REVFEED_KEY, replicated like every other key, holds
 * the recent events as text:
 *
 *   aoidc-rf1 <generation> <next>\n
 *   <seq> <unix time> <id>\n          (0 .. AOIDC_REVFEED_MAX lines)
 *
 * generation: 1-32 lowercase hex digits, random, chosen when the feed is
 * (re)created; next: the sequence number the next event gets; seq: strictly
 * increasing, below next; id: a session handle (43 base64url characters)
 * or "*", "drop everything" (a revocation by user or provider, whose
 * sessions a cache cannot list).
 *
 * Writers (aoidc_revfeed_publish) append with get + CAS, dropping events
 * older than AOIDC_REVFEED_AGE seconds and beyond AOIDC_REVFEED_MAX; when
 * they keep losing the race they replace the feed by a new generation, and
 * a batch too large for the feed becomes one "*". Readers (one thread per
 * process, aoidc_revfeed_poll) apply the events they have not seen; they
 * flush their whole cache whenever they cannot tell what they missed: a
 * generation they do not know (their first read included), events pruned
 * before they read them, a feed that went back (a stale copy) or vanished,
 * or one that does not parse. Cost: one get per process per bound; a
 * revocation or logout adds one get + one CAS. */
#ifndef AOIDC_REVFEED_H
#define AOIDC_REVFEED_H

#include "aoidc_scache.h"
#include "aoidc_store.h"

#include <apr_pools.h>
#include <stdint.h>

#define AOIDC_REVFEED_KEY "aoidc:rf"
#define AOIDC_REVFEED_MAX 512         /* events kept */
#define AOIDC_REVFEED_AGE 120         /* seconds an event is kept (bounds are at most 60 s) */
#define AOIDC_REVFEED_TTL 86400       /* the key's lifetime after the last event */
#define AOIDC_REVFEED_ALL "*"
#define AOIDC_REVFEED_GEN_MAX 32

typedef struct {
    uint64_t seq;
    apr_int64_t t;
    const char *id; /* a handle or AOIDC_REVFEED_ALL */
} aoidc_revfeed_event_t;

typedef struct {
    const char *gen;
    uint64_t next;
    int n;
    aoidc_revfeed_event_t *ev; /* n events, seq ascending */
} aoidc_revfeed_t;

/* Parse a feed value (len bytes, need not be NUL-terminated). Strings come
 * from p. APR_EINVAL when anything is out of the format above. */
apr_status_t aoidc_revfeed_parse(apr_pool_t *p, const char *val, apr_size_t len, aoidc_revfeed_t *out);

/* The text of a feed (from p); *len its length. */
char *aoidc_revfeed_format(apr_pool_t *p, const aoidc_revfeed_t *f, apr_size_t *len);

/* Append ids[0..n) (handles, or AOIDC_REVFEED_ALL) as of now. Call after
 * the records were deleted or rewritten. APR_SUCCESS, APR_EGENERAL when the
 * store failed, APR_EINVAL for a malformed id. */
apr_status_t aoidc_revfeed_publish(aoidc_store_t *st, apr_pool_t *p, const char *const *ids, int n, apr_int64_t now);

/* Read the feed and apply to c what this process has not seen (the caller
 * holds the poll claim: aoidc_scache_poll_claim). APR_SUCCESS when the feed
 * was read (or is absent), APR_EGENERAL when the store failed; then the
 * cache is not told anything and its bound runs out. */
apr_status_t aoidc_revfeed_poll(aoidc_store_t *st, apr_pool_t *p, aoidc_scache_t *c);

#endif
