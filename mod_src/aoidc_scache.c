/* The per-process session cache (aoidc_scache.h). */
#include "aoidc_scache.h"
#include "aoidc_token.h" /* aoidc_siphash24 */
#include "aoidc_util.h"

#include <apr_atomic.h>
#include <apr_thread_mutex.h>
#include <apr_time.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *val; /* malloc'd, len + 1 bytes (NUL-terminated) */
    apr_size_t len;
    uint64_t cas;
    uint64_t h;         /* hash of the key */
    int next;           /* next slot in the hash chain (or the free list), -1 at the end */
    unsigned char used; /* holds an entry */
    unsigned char ref;  /* used since the clock hand last passed */
    unsigned char klen;
    char key[AOIDC_SCACHE_KEY_MAX];
} slot_t;

typedef struct {
    apr_thread_mutex_t *mu;
    slot_t *slot; /* cap slots */
    int *head;    /* nbuckets chain heads, -1 when empty */
    int cap, nbuckets, hand, count;
    int free_head; /* unused slots, chained by next */
    apr_uint64_t bytes;
    char pad[64]; /* keep two stripes' hot fields off one cache line */
} stripe_t;

struct aoidc_scache {
    stripe_t stripe[AOIDC_SCACHE_STRIPES];
    unsigned char hkey[AOIDC_SIPHASH_KEY_LEN];
    apr_time_t t0;
    int capacity;                /* entries, over all stripes */
    volatile apr_uint32_t count; /* entries now, over all stripes */
    volatile apr_uint32_t gen;
    volatile apr_uint32_t fresh_start; /* start of the last good feed read + 1 (0: never) */
    volatile apr_uint32_t next_poll;   /* no poll before this (+1; 0: now) */
    volatile apr_uint32_t polling;
    apr_uint32_t retry_ms; /* after a failed read (set by the reader) */
    aoidc_scache_feed_t feed;
    volatile apr_uint32_t hits, misses, puts, refused, evictions, drops, flushes, polls, poll_failures;
};

static void reset_stripe(stripe_t *st);

static apr_status_t scache_cleanup(void *d)
{
    aoidc_scache_t *c = d;
    for (int s = 0; s < AOIDC_SCACHE_STRIPES; s++) {
        stripe_t *st = &c->stripe[s];
        for (int i = 0; st->slot && i < st->cap; i++) {
            free(st->slot[i].val);
        }
        free(st->slot);
        free(st->head);
        st->slot = NULL;
        st->head = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t aoidc_scache_create(apr_pool_t *p, int entries, aoidc_scache_t **out)
{
    if (entries < 1 || entries > AOIDC_SCACHE_ENTRIES_MAX) {
        return APR_EINVAL;
    }
    aoidc_scache_t *c = apr_pcalloc(p, sizeof(*c));
    apr_pool_cleanup_register(p, c, scache_cleanup, apr_pool_cleanup_null);
    c->capacity = entries;
    /* keys do not spread evenly over the stripes: each has room for half as
     * many again as its share, and the total is held to entries by count */
    int per = (entries + AOIDC_SCACHE_STRIPES - 1) / AOIDC_SCACHE_STRIPES;
    per += per / 2 + 1;
    for (int s = 0; s < AOIDC_SCACHE_STRIPES; s++) {
        stripe_t *st = &c->stripe[s];
        st->cap = per;
        st->nbuckets = 1;
        while (st->nbuckets < per) {
            st->nbuckets <<= 1;
        }
        st->slot = calloc((size_t)per, sizeof(slot_t));
        st->head = malloc(sizeof(int) * (size_t)st->nbuckets);
        if (!st->slot || !st->head) {
            return APR_ENOMEM;
        }
        reset_stripe(st);
        apr_status_t rv = apr_thread_mutex_create(&st->mu, APR_THREAD_MUTEX_DEFAULT, p);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    apr_status_t rv = aoidc_random(c->hkey, sizeof(c->hkey));
    if (rv != APR_SUCCESS) {
        return rv;
    }
    c->t0 = apr_time_now();
    *out = c;
    return APR_SUCCESS;
}

/* every slot unused and on the free list (values already freed) */
static void reset_stripe(stripe_t *st)
{
    memset(st->slot, 0, sizeof(slot_t) * (size_t)st->cap);
    for (int i = 0; i < st->cap; i++) {
        st->slot[i].next = i + 1 < st->cap ? i + 1 : -1;
    }
    for (int b = 0; b < st->nbuckets; b++) {
        st->head[b] = -1;
    }
    st->free_head = 0;
    st->count = 0;
    st->bytes = 0;
    st->hand = 0;
}

static uint64_t hash_of(const aoidc_scache_t *c, const char *key, apr_size_t klen)
{
    return aoidc_siphash24(c->hkey, key, klen);
}

static stripe_t *stripe_of(aoidc_scache_t *c, uint64_t h)
{
    return &c->stripe[h % AOIDC_SCACHE_STRIPES];
}

static int bucket_of(const stripe_t *st, uint64_t h)
{
    return (int)((h >> 8) & (uint64_t)(st->nbuckets - 1));
}

/* the slot holding key in st, or -1; *prev: the slot before it in its chain
 * (-1 when it is the head) */
static int find(const stripe_t *st, int b, const char *key, apr_size_t klen, int *prev)
{
    int pv = -1;
    for (int i = st->head[b]; i >= 0; i = st->slot[i].next) {
        const slot_t *sl = &st->slot[i];
        if (sl->klen == klen && memcmp(sl->key, key, klen) == 0) {
            if (prev) {
                *prev = pv;
            }
            return i;
        }
        pv = i;
    }
    return -1;
}

static apr_uint64_t slot_bytes(const slot_t *sl)
{
    return (apr_uint64_t)sl->len + 1;
}

/* take slot i out of its chain onto the free list, and free its value (st
 * locked) */
static void unlink_slot(aoidc_scache_t *c, stripe_t *st, int i)
{
    slot_t *sl = &st->slot[i];
    int b = bucket_of(st, sl->h);
    int prev = -1;
    if (find(st, b, sl->key, sl->klen, &prev) == i) {
        if (prev < 0) {
            st->head[b] = sl->next;
        }
        else {
            st->slot[prev].next = sl->next;
        }
    }
    st->bytes -= slot_bytes(sl);
    st->count--;
    apr_atomic_dec32(&c->count);
    free(sl->val);
    memset(sl, 0, sizeof(*sl));
    sl->next = st->free_head;
    st->free_head = i;
}

int aoidc_scache_get(aoidc_scache_t *c, apr_pool_t *p, const char *key, char **val, apr_size_t *len, uint64_t *cas)
{
    apr_size_t klen = strlen(key);
    if (klen >= AOIDC_SCACHE_KEY_MAX) {
        return 0;
    }
    uint64_t h = hash_of(c, key, klen);
    stripe_t *st = stripe_of(c, h);
    char *copy = NULL;
    apr_thread_mutex_lock(st->mu);
    int i = find(st, bucket_of(st, h), key, klen, NULL);
    if (i >= 0) {
        slot_t *sl = &st->slot[i];
        sl->ref = 1;
        copy = apr_palloc(p, sl->len + 1);
        memcpy(copy, sl->val, sl->len + 1);
        *len = sl->len;
        if (cas) {
            *cas = sl->cas;
        }
    }
    apr_thread_mutex_unlock(st->mu);
    if (!copy) {
        return 0;
    }
    *val = copy;
    apr_atomic_inc32(&c->hits);
    return 1;
}

apr_uint32_t aoidc_scache_gen(aoidc_scache_t *c)
{
    return apr_atomic_read32(&c->gen);
}

int aoidc_scache_put(aoidc_scache_t *c, const char *key, const void *val, apr_size_t len, uint64_t cas,
                     apr_uint32_t gen)
{
    apr_size_t klen = strlen(key);
    if (klen >= AOIDC_SCACHE_KEY_MAX || len > AOIDC_SCACHE_VALUE_MAX) {
        return 0;
    }
    unsigned char *copy = malloc(len + 1);
    if (!copy) {
        return 0;
    }
    memcpy(copy, val, len);
    copy[len] = '\0';
    uint64_t h = hash_of(c, key, klen);
    stripe_t *st = stripe_of(c, h);
    int b = bucket_of(st, h);
    apr_thread_mutex_lock(st->mu);
    /* under the stripe's lock: a drop of this key takes the same lock, and a
     * flush takes every stripe's, so none can slip between this check and
     * the insertion */
    if (apr_atomic_read32(&c->gen) != gen) {
        apr_thread_mutex_unlock(st->mu);
        free(copy);
        apr_atomic_inc32(&c->refused);
        return 0;
    }
    int i = find(st, b, key, klen, NULL);
    int found = i >= 0;
    if (!found) {
        /* room: in the stripe, and in the whole cache (reserved here) */
        int evict = st->count >= st->cap;
        if (!evict && apr_atomic_inc32(&c->count) >= (apr_uint32_t)c->capacity) {
            apr_atomic_dec32(&c->count);
            evict = 1;
        }
        if (evict && st->count == 0) {
            /* the others hold every entry: not cached this time */
            apr_thread_mutex_unlock(st->mu);
            free(copy);
            apr_atomic_inc32(&c->refused);
            return 0;
        }
        if (evict) {
            /* the clock: skip (and clear) recently used entries once */
            for (;;) {
                slot_t *sl = &st->slot[st->hand];
                if (sl->used && sl->ref) {
                    sl->ref = 0;
                }
                else if (sl->used) {
                    break;
                }
                st->hand = (st->hand + 1) % st->cap;
            }
            unlink_slot(c, st, st->hand);
            st->hand = (st->hand + 1) % st->cap;
            apr_atomic_inc32(&c->evictions);
            apr_atomic_inc32(&c->count); /* the evicted entry's place */
        }
        i = st->free_head;
        slot_t *sl = &st->slot[i];
        st->free_head = sl->next;
        sl->used = 1;
        sl->h = h;
        sl->klen = (unsigned char)klen;
        memcpy(sl->key, key, klen);
        sl->next = st->head[b];
        st->head[b] = i;
        st->count++;
    }
    else {
        st->bytes -= slot_bytes(&st->slot[i]);
        free(st->slot[i].val);
    }
    slot_t *sl = &st->slot[i];
    sl->val = copy;
    sl->len = len;
    sl->cas = cas;
    /* a new entry earns its second chance by being used (a put of a key
     * already there counts as a use) */
    sl->ref = found;
    st->bytes += slot_bytes(sl);
    apr_thread_mutex_unlock(st->mu);
    apr_atomic_inc32(&c->puts);
    return 1;
}

void aoidc_scache_drop(aoidc_scache_t *c, const char *key)
{
    apr_size_t klen = strlen(key);
    if (klen >= AOIDC_SCACHE_KEY_MAX) {
        return;
    }
    uint64_t h = hash_of(c, key, klen);
    stripe_t *st = stripe_of(c, h);
    apr_thread_mutex_lock(st->mu);
    apr_atomic_inc32(&c->gen);
    int i = find(st, bucket_of(st, h), key, klen, NULL);
    if (i >= 0) {
        unlink_slot(c, st, i);
    }
    apr_thread_mutex_unlock(st->mu);
    apr_atomic_inc32(&c->drops);
}

void aoidc_scache_flush(aoidc_scache_t *c)
{
    for (int s = 0; s < AOIDC_SCACHE_STRIPES; s++) {
        apr_thread_mutex_lock(c->stripe[s].mu);
    }
    apr_atomic_inc32(&c->gen);
    for (int s = 0; s < AOIDC_SCACHE_STRIPES; s++) {
        stripe_t *st = &c->stripe[s];
        for (int i = 0; i < st->cap; i++) {
            free(st->slot[i].val);
        }
        reset_stripe(st);
    }
    apr_atomic_set32(&c->count, 0);
    for (int s = AOIDC_SCACHE_STRIPES - 1; s >= 0; s--) {
        apr_thread_mutex_unlock(c->stripe[s].mu);
    }
    apr_atomic_inc32(&c->flushes);
}

/* --- the trust bound ------------------------------------------------------ */

apr_uint32_t aoidc_scache_now_ms(aoidc_scache_t *c)
{
    return (apr_uint32_t)((apr_time_now() - c->t0) / 1000);
}

/* times are stored + 1 so that 0 means "never"; compared wrap-safe */
static int before(apr_uint32_t a, apr_uint32_t b)
{
    return (apr_int32_t)(a - b) < 0;
}

int aoidc_scache_fresh(aoidc_scache_t *c, apr_uint32_t bound_ms)
{
    apr_uint32_t f = apr_atomic_read32(&c->fresh_start);
    if (f == 0) {
        return 0;
    }
    apr_uint32_t now = aoidc_scache_now_ms(c);
    return before(now, f - 1 + bound_ms);
}

int aoidc_scache_poll_claim(aoidc_scache_t *c, apr_uint32_t bound_ms, apr_uint32_t *started)
{
    apr_uint32_t now = aoidc_scache_now_ms(c);
    apr_uint32_t f = apr_atomic_read32(&c->fresh_start);
    apr_uint32_t np = apr_atomic_read32(&c->next_poll);
    if (f != 0 && before(now, f - 1 + bound_ms - bound_ms / 4)) {
        return 0; /* not due */
    }
    if (np != 0 && before(now, np - 1)) {
        return 0; /* a failed read is tried again a little later */
    }
    if (apr_atomic_cas32(&c->polling, 1, 0) != 0) {
        return 0; /* another thread reads it */
    }
    *started = now;
    c->retry_ms = bound_ms / 10 ? bound_ms / 10 : 1;
    return 1;
}

void aoidc_scache_polled(aoidc_scache_t *c, apr_uint32_t started, int ok)
{
    if (ok) {
        apr_uint32_t f = apr_atomic_read32(&c->fresh_start);
        if (f == 0 || before(f - 1, started)) {
            apr_atomic_set32(&c->fresh_start, started + 1);
        }
    }
    apr_atomic_set32(&c->next_poll, ok ? 0 : started + c->retry_ms + 1);
    apr_atomic_inc32(&c->polls);
    if (!ok) {
        apr_atomic_inc32(&c->poll_failures);
    }
    apr_atomic_set32(&c->polling, 0);
}

aoidc_scache_feed_t *aoidc_scache_feed(aoidc_scache_t *c)
{
    return &c->feed;
}

/* --- numbers -------------------------------------------------------------- */

void aoidc_scache_stats(aoidc_scache_t *c, aoidc_scache_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (int s = 0; s < AOIDC_SCACHE_STRIPES; s++) {
        stripe_t *st = &c->stripe[s];
        apr_thread_mutex_lock(st->mu);
        out->entries += (apr_uint32_t)st->count;
        out->bytes += st->bytes + (apr_uint64_t)st->cap * sizeof(slot_t) + (apr_uint64_t)st->nbuckets * sizeof(int);

        apr_thread_mutex_unlock(st->mu);
    }
    out->capacity = (apr_uint32_t)c->capacity;
    out->hits = apr_atomic_read32(&c->hits);
    out->misses = apr_atomic_read32(&c->misses);
    out->puts = apr_atomic_read32(&c->puts);
    out->refused = apr_atomic_read32(&c->refused);
    out->evictions = apr_atomic_read32(&c->evictions);
    out->drops = apr_atomic_read32(&c->drops);
    out->flushes = apr_atomic_read32(&c->flushes);
    out->polls = apr_atomic_read32(&c->polls);
    out->poll_failures = apr_atomic_read32(&c->poll_failures);
}

void aoidc_scache_count_miss(aoidc_scache_t *c)
{
    apr_atomic_inc32(&c->misses);
}
