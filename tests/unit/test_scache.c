/* aoidc_scache (the per-process session cache) and aoidc_revfeed (the
 * revocation feed that bounds it): entries, the generation that refuses a
 * put racing a drop, the clock bound, the trust bound, the feed's format
 * and every case in which a reader must drop everything; and 64 threads on
 * one cache (correctness, and the lookup rate printed against one thread:
 * the stripes' contention). Feed texts are parsed from exact-size malloc'd
 * buffers without a NUL, so ASan sees a read past the end. */
#include "unit.h"
#include "aoidc_crypto.h"
#include "aoidc_directory.h"
#include "aoidc_revfeed.h"
#include "aoidc_scache.h"
#include "aoidc_util.h"
#include "mem_store.h"

#include <apr_thread_proc.h>
#include <apr_time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H1 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"
#define H2 "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBI"
#define K1 "aoidc:s:" H1
#define K2 "aoidc:s:" H2

static aoidc_scache_t *cache(apr_pool_t *p, int n)
{
    aoidc_scache_t *c = NULL;
    assert_int_equal(aoidc_scache_create(p, n, &c), APR_SUCCESS);
    return c;
}

static int has(aoidc_scache_t *c, apr_pool_t *p, const char *key)
{
    char *v;
    apr_size_t len;
    return aoidc_scache_get(c, p, key, &v, &len, NULL);
}

static void put(aoidc_scache_t *c, const char *key, const char *val)
{
    assert_int_equal(aoidc_scache_put(c, key, val, strlen(val), 7, aoidc_scache_gen(c)), 1);
}

/* a put into a full cache may be refused when the key's stripe is empty */
static int try_put(aoidc_scache_t *c, const char *key, const char *val)
{
    return aoidc_scache_put(c, key, val, strlen(val), 7, aoidc_scache_gen(c));
}

static void test_put_get_drop(void **state)
{
    apr_pool_t *p = *state;
    aoidc_scache_t *c = cache(p, 100);
    char *v;
    apr_size_t len;
    uint64_t cas = 0;
    assert_int_equal(aoidc_scache_get(c, p, K1, &v, &len, &cas), 0);
    put(c, K1, "record one");
    put(c, K2, "record two");
    assert_int_equal(aoidc_scache_get(c, p, K1, &v, &len, &cas), 1);
    assert_int_equal(len, 10);
    assert_string_equal(v, "record one");
    assert_int_equal(cas, 7);
    put(c, K1, "replaced");
    assert_int_equal(aoidc_scache_get(c, p, K1, &v, &len, NULL), 1);
    assert_string_equal(v, "replaced");
    aoidc_scache_drop(c, K1);
    assert_false(has(c, p, K1));
    assert_true(has(c, p, K2));
    aoidc_scache_drop(c, K1); /* absent: fine */
    aoidc_scache_flush(c);
    assert_false(has(c, p, K2));
    aoidc_scache_stats_t st;
    aoidc_scache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    /* too large: not cached */
    char big[AOIDC_SCACHE_KEY_MAX + 1];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(aoidc_scache_put(c, big, "v", 1, 0, aoidc_scache_gen(c)), 0);
    char *huge = calloc(1, AOIDC_SCACHE_VALUE_MAX + 1);
    assert_int_equal(aoidc_scache_put(c, K1, huge, AOIDC_SCACHE_VALUE_MAX + 1, 0, aoidc_scache_gen(c)), 0);
    assert_int_equal(aoidc_scache_put(c, K1, huge, AOIDC_SCACHE_VALUE_MAX, 0, aoidc_scache_gen(c)), 1);
    free(huge);
    assert_int_equal(aoidc_scache_create(p, 0, &c), APR_EINVAL);
}

/* a value read before a drop (a revocation applied) never enters after it */
static void test_put_refused_after_drop(void **state)
{
    apr_pool_t *p = *state;
    aoidc_scache_t *c = cache(p, 100);
    apr_uint32_t gen = aoidc_scache_gen(c);
    aoidc_scache_drop(c, K2); /* another key: still refused (the cache cannot know) */
    assert_int_equal(aoidc_scache_put(c, K1, "stale", 5, 0, gen), 0);
    assert_false(has(c, p, K1));
    gen = aoidc_scache_gen(c);
    aoidc_scache_flush(c);
    assert_int_equal(aoidc_scache_put(c, K1, "stale", 5, 0, gen), 0);
    aoidc_scache_stats_t st;
    aoidc_scache_stats(c, &st);
    assert_int_equal(st.refused, 2);
}

static void test_bounded_by_entries(void **state)
{
    apr_pool_t *p = *state;
    aoidc_scache_t *c = cache(p, 128);
    char key[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "aoidc:s:%043d", i);
        /* the one just put is there */
        int stored = try_put(c, key, "some record bytes");
        assert_int_equal(stored, has(c, p, key));
    }
    aoidc_scache_stats_t st;
    aoidc_scache_stats(c, &st);
    assert_true(st.entries <= st.capacity);
    assert_int_equal(st.capacity, 128);
    assert_true(st.entries >= 120); /* full, give or take a stripe that was empty */
    assert_true(st.evictions + st.refused >= 5000 - st.capacity);
    int found = 0;
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "aoidc:s:%043d", i);
        found += has(c, p, key);
    }
    assert_int_equal(found, (int)st.entries);
}

/* as many sessions as entries all fit, although the keys fall unevenly on
 * the stripes (with a stripe's share as its bound, about a third missed) */
static void test_entries_fit_as_configured(void **state)
{
    apr_pool_t *p = *state;
    aoidc_scache_t *c = cache(p, 10000);
    char key[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "aoidc:s:%043d", i);
        put(c, key, "record");
    }
    int found = 0;
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "aoidc:s:%043d", i);
        found += has(c, p, key);
    }
    aoidc_scache_stats_t st;
    aoidc_scache_stats(c, &st);
    assert_int_equal(st.evictions, 0);
    assert_int_equal(found, 10000);
    assert_int_equal(st.entries, 10000);
    snprintf(key, sizeof(key), "aoidc:s:%043d", 10000);
    put(c, key, "one more"); /* full: one goes */
    aoidc_scache_stats(c, &st);
    assert_int_equal(st.entries, 10000);
    assert_int_equal(st.evictions, 1);
}

/* the clock keeps an entry that is being used over one that is not */
static void test_clock_second_chance(void **state)
{
    apr_pool_t *p = *state;
    aoidc_scache_t *c = cache(p, AOIDC_SCACHE_STRIPES * 4); /* 4 per stripe */
    char key[64];
    int kept = 0;
    snprintf(key, sizeof(key), "aoidc:s:%043d", 0);
    put(c, key, "hot");
    for (int i = 1; i < 2000; i++) {
        char other[64];
        snprintf(other, sizeof(other), "aoidc:s:%043d", i);
        try_put(c, other, "cold");
        kept = has(c, p, key); /* used between every two puts */
        if (!kept) {
            break;
        }
    }
    assert_true(kept);
}

static void test_trust_bound(void **state)
{
    apr_pool_t *p = *state;
    aoidc_scache_t *c = cache(p, 16);
    apr_uint32_t started = 0, again = 0;
    assert_false(aoidc_scache_fresh(c, 10000));
    assert_int_equal(aoidc_scache_poll_claim(c, 10000, &started), 1);
    assert_int_equal(aoidc_scache_poll_claim(c, 10000, &again), 0); /* one reader at a time */
    aoidc_scache_polled(c, started, 0);                              /* failed: still not trusted */
    assert_false(aoidc_scache_fresh(c, 10000));
    assert_int_equal(aoidc_scache_poll_claim(c, 10000, &again), 0); /* tried again a little later */
    apr_sleep(apr_time_from_msec(1010));
    assert_int_equal(aoidc_scache_poll_claim(c, 10000, &started), 1);
    aoidc_scache_polled(c, started, 1);
    assert_true(aoidc_scache_fresh(c, 10000));
    assert_int_equal(aoidc_scache_poll_claim(c, 10000, &again), 0); /* not due */
    /* a short bound runs out */
    apr_sleep(apr_time_from_msec(30));
    assert_false(aoidc_scache_fresh(c, 20));
    assert_int_equal(aoidc_scache_poll_claim(c, 20, &started), 1);
    aoidc_scache_polled(c, started, 1);
    assert_true(aoidc_scache_fresh(c, 20));
}

/* --- the feed ------------------------------------------------------------- */

static apr_status_t parse_exact(apr_pool_t *p, const char *text, aoidc_revfeed_t *f)
{
    apr_size_t n = strlen(text);
    char *buf = unit_exact_copy(text, n);
    apr_status_t rv = aoidc_revfeed_parse(p, buf, n, f);
    free(buf);
    return rv;
}

static void test_feed_format(void **state)
{
    apr_pool_t *p = *state;
    aoidc_revfeed_t f;
    assert_int_equal(parse_exact(p, "aoidc-rf1 ab12 9\n4 100 " H1 "\n8 101 *\n", &f), APR_SUCCESS);
    assert_string_equal(f.gen, "ab12");
    assert_int_equal(f.next, 9);
    assert_int_equal(f.n, 2);
    assert_string_equal(f.ev[0].id, H1);
    assert_int_equal(f.ev[1].seq, 8);
    assert_string_equal(f.ev[1].id, "*");
    apr_size_t len;
    char *text = aoidc_revfeed_format(p, &f, &len);
    assert_int_equal(len, strlen(text));
    assert_string_equal(text, "aoidc-rf1 ab12 9\n4 100 " H1 "\n8 101 *\n");
    assert_int_equal(parse_exact(p, "aoidc-rf1 ab12 1\n", &f), APR_SUCCESS);
    assert_int_equal(f.n, 0);
    static const char *const bad[] = {
        "",
        "aoidc-rf1",
        "aoidc-rf2 ab 1\n",
        "aoidc-rf1 AB 1\n",                          /* uppercase generation */
        "aoidc-rf1 ab 1",                            /* no newline */
        "aoidc-rf1 ab x\n",
        "aoidc-rf1 ab 99999999999999999999\n",       /* 20 digits */
        "aoidc-rf1 0123456789abcdef0123456789abcdef0 1\n", /* 33 hex */
        "aoidc-rf1 ab 9\n4 100 " H1 "\n4 101 *\n",   /* seq not increasing */
        "aoidc-rf1 ab 9\n9 100 *\n",                 /* seq >= next */
        "aoidc-rf1 ab 9\n4 100 short\n",
        "aoidc-rf1 ab 9\n4 100 " H1 "x\n",
        "aoidc-rf1 ab 9\n4 100 *",                   /* no final newline */
        "aoidc-rf1 ab 9\n4 100 *\n\n",
        "aoidc-rf1 ab 9\n4  100 *\n",
        "aoidc-rf1 ab 9\n4 100 <script>\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_exact(p, bad[i], &f) != APR_EINVAL) {
            fail_msg("accepted: %s", bad[i]);
        }
    }
    /* more lines than a feed keeps */
    char *many = apr_psprintf(p, "aoidc-rf1 ab %d\n", AOIDC_REVFEED_MAX + 10);
    for (int i = 0; i <= AOIDC_REVFEED_MAX; i++) {
        many = apr_psprintf(p, "%s%d 1 *\n", many, i);
    }
    assert_int_equal(parse_exact(p, many, &f), APR_EINVAL);
}

typedef struct {
    apr_pool_t *p;
    aoidc_store_t *st;
    aoidc_scache_t *c;
} feedfix_t;

static feedfix_t fix(apr_pool_t *p)
{
    feedfix_t f = {p, mem_store_create(p, 1700000000), cache(p, 100)};
    return f;
}

static const char *feed_text(feedfix_t *f)
{
    apr_size_t len;
    long ttl;
    const char *v = mem_store_peek(f->st, AOIDC_REVFEED_KEY, &len, &ttl);
    return v ? apr_pstrmemdup(f->p, v, len) : NULL;
}

static void publish(feedfix_t *f, const char *id)
{
    const char *ids[] = {id};
    assert_int_equal(aoidc_revfeed_publish(f->st, f->p, ids, 1, 1700000000), APR_SUCCESS);
}

static void poll_ok(feedfix_t *f)
{
    assert_int_equal(aoidc_revfeed_poll(f->st, f->p, f->c), APR_SUCCESS);
}

static void test_feed_drops_what_it_lists(void **state)
{
    feedfix_t f = fix(*state);
    put(f.c, K1, "one");
    poll_ok(&f); /* no feed yet: an empty one is made, nothing to drop */
    assert_true(has(f.c, f.p, K1));
    assert_non_null(feed_text(&f));
    /* a feed this process has not seen: it cannot know what came before */
    f.st->del(f.st, AOIDC_REVFEED_KEY);
    publish(&f, H1);
    poll_ok(&f);
    assert_false(has(f.c, f.p, K1));
    put(f.c, K1, "one");
    put(f.c, K2, "two");
    poll_ok(&f); /* nothing new */
    assert_true(has(f.c, f.p, K1) && has(f.c, f.p, K2));
    publish(&f, H2);
    poll_ok(&f);
    assert_true(has(f.c, f.p, K1));
    assert_false(has(f.c, f.p, K2));
    /* a revocation by user or provider: everything */
    put(f.c, K2, "two");
    publish(&f, AOIDC_REVFEED_ALL);
    poll_ok(&f);
    assert_false(has(f.c, f.p, K1) || has(f.c, f.p, K2));
    assert_non_null(strstr(feed_text(&f), " *\n"));
}

static void test_feed_reader_that_missed_events_drops_all(void **state)
{
    feedfix_t f = fix(*state);
    publish(&f, H2);
    poll_ok(&f);
    put(f.c, K1, "one");
    /* more events than the feed keeps before this reader looks again */
    for (int i = 0; i < AOIDC_REVFEED_MAX + 5; i++) {
        publish(&f, H2);
    }
    aoidc_revfeed_t parsed;
    const char *text = feed_text(&f);
    assert_int_equal(aoidc_revfeed_parse(f.p, text, strlen(text), &parsed), APR_SUCCESS);
    assert_int_equal(parsed.n, AOIDC_REVFEED_MAX);
    poll_ok(&f);
    assert_false(has(f.c, f.p, K1));
    /* old events are pruned by age as well */
    const char *ids[] = {H2};
    assert_int_equal(aoidc_revfeed_publish(f.st, f.p, ids, 1, 1700000000 + AOIDC_REVFEED_AGE + 1), APR_SUCCESS);
    text = feed_text(&f);
    assert_int_equal(aoidc_revfeed_parse(f.p, text, strlen(text), &parsed), APR_SUCCESS);
    assert_int_equal(parsed.n, 1);
}

static void test_feed_lost_or_foreign_drops_all(void **state)
{
    feedfix_t f = fix(*state);
    publish(&f, H2);
    poll_ok(&f);
    put(f.c, K1, "one");
    /* the feed's copies were lost (servers restarted empty) */
    f.st->del(f.st, AOIDC_REVFEED_KEY);
    poll_ok(&f);
    assert_false(has(f.c, f.p, K1));
    /* a value that is not a feed: every poll drops everything; the next
     * writer starts a new generation */
    put(f.c, K1, "one");
    f.st->set(f.st, AOIDC_REVFEED_KEY, "garbage", 7, 60);
    poll_ok(&f);
    assert_false(has(f.c, f.p, K1));
    publish(&f, H2);
    assert_int_equal(strncmp(feed_text(&f), "aoidc-rf1 ", 10), 0);
    /* a copy that went back (same generation, lower next): a stale replica */
    poll_ok(&f);
    put(f.c, K1, "one");
    const char *now = feed_text(&f);
    aoidc_revfeed_t parsed;
    assert_int_equal(aoidc_revfeed_parse(f.p, now, strlen(now), &parsed), APR_SUCCESS);
    parsed.next--;
    parsed.n = 0;
    apr_size_t len;
    char *older = aoidc_revfeed_format(f.p, &parsed, &len);
    f.st->set(f.st, AOIDC_REVFEED_KEY, older, len, 60);
    poll_ok(&f);
    assert_false(has(f.c, f.p, K1));
}

/* a server of the store came back or restarted empty: reads must reach the
 * store (read repair), so the cache starts over */
static void test_store_return_drops_all(void **state)
{
    feedfix_t f = fix(*state);
    poll_ok(&f);
    put(f.c, K1, "one");
    poll_ok(&f);
    assert_true(has(f.c, f.p, K1));
    f.st->returns++;
    poll_ok(&f);
    assert_false(has(f.c, f.p, K1));
    put(f.c, K1, "one");
    poll_ok(&f);
    assert_true(has(f.c, f.p, K1));
}

static void test_feed_store_down(void **state)
{
    feedfix_t f = fix(*state);
    publish(&f, H2);
    poll_ok(&f);
    put(f.c, K1, "one");
    mem_store_set_down(f.st, 1);
    assert_int_equal(aoidc_revfeed_poll(f.st, f.p, f.c), APR_EGENERAL);
    const char *ids[] = {H1};
    assert_int_equal(aoidc_revfeed_publish(f.st, f.p, ids, 1, 1700000000), APR_EGENERAL);
    mem_store_set_down(f.st, 0);
    assert_true(has(f.c, f.p, K1)); /* the cache itself is untouched; its bound runs out */
    const char *bad[] = {"not a handle"};
    assert_int_equal(aoidc_revfeed_publish(f.st, f.p, bad, 1, 1700000000), APR_EINVAL);
}

/* a batch larger than the feed keeps becomes "drop everything" */
static void test_feed_mass_revocation(void **state)
{
    feedfix_t f = fix(*state);
    publish(&f, H2);
    poll_ok(&f);
    put(f.c, K1, "one");
    int n = AOIDC_REVFEED_MAX;
    const char **ids = apr_palloc(f.p, sizeof(*ids) * (apr_size_t)n);
    for (int i = 0; i < n; i++) {
        ids[i] = H2;
    }
    assert_int_equal(aoidc_revfeed_publish(f.st, f.p, ids, n, 1700000000), APR_SUCCESS);
    assert_true(strlen(feed_text(&f)) < 200);
    poll_ok(&f);
    assert_false(has(f.c, f.p, K1));
}

/* the writers race: every event lands or the generation changes */
static int races;
static void steal_cas(mem_store_t *ms, const char *key, void *baton)
{
    (void)baton;
    if (races-- > 0 && strcmp(key, AOIDC_REVFEED_KEY) == 0) {
        aoidc_store_t *st = mem_store_base(ms);
        mem_store_set_hook(st, NULL, NULL);
        static const char *const other[] = {H2};
        apr_pool_t *p;
        apr_pool_create(&p, NULL);
        assert_int_equal(aoidc_revfeed_publish(st, p, other, 1, 1700000000), APR_SUCCESS);
        apr_pool_destroy(p);
        mem_store_set_hook(st, steal_cas, NULL);
    }
}

static void test_feed_concurrent_writers(void **state)
{
    feedfix_t f = fix(*state);
    publish(&f, H2);
    poll_ok(&f);
    put(f.c, K1, "one");
    races = 3; /* lose three races, then win */
    mem_store_set_hook(f.st, steal_cas, NULL);
    publish(&f, H1);
    mem_store_set_hook(f.st, NULL, NULL);
    aoidc_revfeed_t parsed;
    const char *text = feed_text(&f);
    assert_int_equal(aoidc_revfeed_parse(f.p, text, strlen(text), &parsed), APR_SUCCESS);
    assert_int_equal(parsed.n, 5); /* H2, three stolen H2, H1 */
    assert_string_equal(parsed.ev[4].id, H1);
    poll_ok(&f);
    assert_false(has(f.c, f.p, K1));
}

/* revocation through the directory reaches the feed */
static void test_directory_revoke_publishes(void **state)
{
    feedfix_t f = fix(*state);
    aoidc_keys_t keys;
    aoidc_keys_derive((const unsigned char *)"0123456789abcdef0123456789abcdef", 32, &keys);
    publish(&f, H2);
    poll_ok(&f);
    put(f.c, K1, "one");
    apr_array_header_t *hs = apr_array_make(f.p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(hs, const char *) = H1;
    int count = -1;
    assert_int_equal(aoidc_dir_revoke_handles(f.st, &keys, f.p, hs, &count), APR_SUCCESS);
    assert_int_equal(count, 0); /* no such record in this store; the caches still drop it */
    assert_non_null(strstr(feed_text(&f), H1));
    poll_ok(&f);
    assert_false(has(f.c, f.p, K1));
    /* by user: an epoch, so everything */
    put(f.c, K1, "one");
    assert_int_equal(aoidc_dir_revoke_epoch_set(f.st, f.p, "main", "alice", 1700000000), APR_SUCCESS);
    poll_ok(&f);
    assert_false(has(f.c, f.p, K1));
}

/* --- 64 threads ----------------------------------------------------------- */

#define THREADS 64
#define KEYS 4096

typedef struct {
    aoidc_scache_t *c;
    int id, ops, writes;
    long hits;
    volatile int *stop;
} worker_t;

static void *APR_THREAD_FUNC worker(apr_thread_t *t, void *d)
{
    worker_t *w = d;
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    char key[64];
    unsigned x = (unsigned)w->id * 2654435761u + 1;
    for (int i = 0; i < w->ops && !*w->stop; i++) {
        x = x * 1103515245u + 12345u;
        int k = (int)((x >> 8) % KEYS);
        snprintf(key, sizeof(key), "aoidc:s:%043d", k);
        char *v;
        apr_size_t len;
        if (w->writes && (x & 63) == 0) {
            aoidc_scache_drop(w->c, key);
        }
        else if (aoidc_scache_get(w->c, p, key, &v, &len, NULL)) {
            /* a value is always whole: the key's own record */
            char want[64];
            snprintf(want, sizeof(want), "record-%d", k);
            if (len != strlen(want) || memcmp(v, want, len) != 0) {
                fail_msg("thread %d read '%.*s' for key %d", w->id, (int)len, v, k);
            }
            w->hits++;
        }
        else if (w->writes) {
            char val[64];
            snprintf(val, sizeof(val), "record-%d", k);
            aoidc_scache_put(w->c, key, val, strlen(val), 0, aoidc_scache_gen(w->c));
        }
        if ((i & 255) == 0) {
            apr_pool_clear(p);
        }
    }
    apr_pool_destroy(p);
    /* a plain return, not apr_thread_exit: pthread_exit's unwinding trips
     * ASan's stack-use-after-scope check at thread teardown */
    (void)t;
    return NULL;
}

/* lookups per second with n threads, each doing ops lookups (no writes) */
static double lookup_rate(apr_pool_t *p, aoidc_scache_t *c, int n, int ops)
{
    apr_thread_t *th[THREADS];
    worker_t w[THREADS];
    volatile int stop = 0;
    apr_time_t t0 = apr_time_now();
    for (int i = 0; i < n; i++) {
        w[i] = (worker_t){c, i, ops, 0, 0, &stop};
        assert_int_equal(apr_thread_create(&th[i], NULL, worker, &w[i], p), APR_SUCCESS);
    }
    long hits = 0;
    for (int i = 0; i < n; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, th[i]);
        hits += w[i].hits;
    }
    double secs = (double)(apr_time_now() - t0) / APR_USEC_PER_SEC;
    assert_true(hits > (long)n * ops / 2); /* the keys were all cached */
    return (double)n * ops / (secs > 0 ? secs : 1e-9);
}

static void test_threads(void **state)
{
    apr_pool_t *p = *state;
    aoidc_scache_t *c = cache(p, KEYS);
    /* mixed: gets, puts and drops racing */
    apr_thread_t *th[THREADS];
    worker_t w[THREADS];
    volatile int stop = 0;
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker_t){c, i, 20000, 1, 0, &stop};
        assert_int_equal(apr_thread_create(&th[i], NULL, worker, &w[i], p), APR_SUCCESS);
    }
    for (int i = 0; i < 50; i++) {
        apr_sleep(1000);
        if (i % 10 == 0) {
            aoidc_scache_flush(c);
        }
    }
    for (int i = 0; i < THREADS; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, th[i]);
    }
    aoidc_scache_stats_t st;
    aoidc_scache_stats(c, &st);
    assert_true(st.entries <= st.capacity);
    /* contention: fill every key, then compare lookups/s of 1 and 64 threads */
    char key[64], val[64];
    for (int k = 0; k < KEYS; k++) {
        snprintf(key, sizeof(key), "aoidc:s:%043d", k);
        snprintf(val, sizeof(val), "record-%d", k);
        aoidc_scache_put(c, key, val, strlen(val), 0, aoidc_scache_gen(c));
    }
    double one = lookup_rate(p, c, 1, 200000);
    double many = lookup_rate(p, c, THREADS, 20000);
    printf("# session cache lookups/s: 1 thread %.0f, %d threads %.0f (ratio %.2f; the machine's cores bound it)\n",
           one, THREADS, many, many / one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UNIT_TEST(test_put_get_drop),
        UNIT_TEST(test_put_refused_after_drop),
        UNIT_TEST(test_bounded_by_entries),
        UNIT_TEST(test_entries_fit_as_configured),
        UNIT_TEST(test_clock_second_chance),
        UNIT_TEST(test_trust_bound),
        UNIT_TEST(test_feed_format),
        UNIT_TEST(test_feed_drops_what_it_lists),
        UNIT_TEST(test_feed_reader_that_missed_events_drops_all),
        UNIT_TEST(test_feed_lost_or_foreign_drops_all),
        UNIT_TEST(test_store_return_drops_all),
        UNIT_TEST(test_feed_store_down),
        UNIT_TEST(test_feed_mass_revocation),
        UNIT_TEST(test_feed_concurrent_writers),
        UNIT_TEST(test_directory_revoke_publishes),
        UNIT_TEST(test_threads),
    };
    return UNIT_RUN("scache", tests);
}
