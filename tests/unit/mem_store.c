/* In-memory store for unit tests (see mem_store.h). */
#include "mem_store.h"

#include <apr_hash.h>
#include <apr_strings.h>
#include <string.h>

typedef struct {
    char *val;
    apr_size_t len;
    uint64_t cas;
    apr_int64_t expires;
} item_t;

struct mem_store {
    aoidc_store_t base;
    apr_pool_t *pool;
    apr_hash_t *items;
    apr_int64_t now;
    uint64_t next_cas;
    int down;
    mem_store_hook_t hook;
    void *baton;
    const char *fail_prefix; /* mem_store_fail_writes */
};

static item_t *live(mem_store_t *ms, const char *key)
{
    item_t *it = apr_hash_get(ms->items, key, APR_HASH_KEY_STRING);
    if (it && it->expires <= ms->now) {
        apr_hash_set(ms->items, key, APR_HASH_KEY_STRING, NULL);
        return NULL;
    }
    return it;
}

static void run_hook(mem_store_t *ms, const char *key)
{
    if (ms->hook) {
        mem_store_hook_t h = ms->hook;
        ms->hook = NULL; /* the hook may write to the store itself */
        h(ms, key, ms->baton);
    }
}

static void put(mem_store_t *ms, const char *key, const void *val, apr_size_t len, long ttl)
{
    item_t *it = apr_pcalloc(ms->pool, sizeof(*it));
    it->val = apr_palloc(ms->pool, len + 1);
    memcpy(it->val, val, len);
    it->val[len] = '\0';
    it->len = len;
    it->cas = ++ms->next_cas;
    it->expires = ms->now + ttl;
    apr_hash_set(ms->items, apr_pstrdup(ms->pool, key), APR_HASH_KEY_STRING, it);
}

static aoidc_store_rc_t m_get(aoidc_store_t *s, apr_pool_t *p, const char *key, char **val, apr_size_t *len,
                              uint64_t *cas)
{
    mem_store_t *ms = (mem_store_t *)s;
    s->stats.gets++;
    if (ms->down) {
        return AOIDC_STORE_DOWN;
    }
    item_t *it = live(ms, key);
    if (!it) {
        return AOIDC_STORE_MISSING;
    }
    *val = apr_pmemdup(p, it->val, it->len + 1);
    *len = it->len;
    if (cas) {
        *cas = it->cas;
    }
    return AOIDC_STORE_OK;
}

static aoidc_store_rc_t check(mem_store_t *ms, const char *key, apr_size_t len, long ttl)
{
    if (ms->down) {
        return AOIDC_STORE_DOWN;
    }
    if (ms->fail_prefix && strncmp(key, ms->fail_prefix, strlen(ms->fail_prefix)) == 0) {
        return AOIDC_STORE_ERROR;
    }
    return len > AOIDC_STORE_VALUE_MAX || ttl <= 0 ? AOIDC_STORE_ERROR : AOIDC_STORE_OK;
}

static aoidc_store_rc_t m_set(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl)
{
    mem_store_t *ms = (mem_store_t *)s;
    aoidc_store_rc_t rc = check(ms, key, len, ttl);
    s->stats.sets++;
    if (rc == AOIDC_STORE_OK) {
        put(ms, key, val, len, ttl);
    }
    return rc;
}

static aoidc_store_rc_t m_add(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl)
{
    mem_store_t *ms = (mem_store_t *)s;
    aoidc_store_rc_t rc = check(ms, key, len, ttl);
    s->stats.adds++;
    if (rc != AOIDC_STORE_OK) {
        return rc;
    }
    run_hook(ms, key);
    if (live(ms, key)) {
        return AOIDC_STORE_EXISTS;
    }
    put(ms, key, val, len, ttl);
    return AOIDC_STORE_OK;
}

static aoidc_store_rc_t m_cas(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl,
                              uint64_t cas)
{
    mem_store_t *ms = (mem_store_t *)s;
    aoidc_store_rc_t rc = check(ms, key, len, ttl);
    s->stats.cas++;
    if (rc != AOIDC_STORE_OK) {
        return rc;
    }
    run_hook(ms, key);
    item_t *it = live(ms, key);
    if (!it) {
        return AOIDC_STORE_MISSING;
    }
    if (it->cas != cas) {
        return AOIDC_STORE_EXISTS;
    }
    put(ms, key, val, len, ttl);
    return AOIDC_STORE_OK;
}

static aoidc_store_rc_t m_del(aoidc_store_t *s, const char *key)
{
    mem_store_t *ms = (mem_store_t *)s;
    s->stats.deletes++;
    if (ms->down) {
        return AOIDC_STORE_DOWN;
    }
    if (ms->fail_prefix && strncmp(key, ms->fail_prefix, strlen(ms->fail_prefix)) == 0) {
        return AOIDC_STORE_ERROR;
    }
    if (!live(ms, key)) {
        return AOIDC_STORE_MISSING;
    }
    apr_hash_set(ms->items, key, APR_HASH_KEY_STRING, NULL);
    return AOIDC_STORE_OK;
}

aoidc_store_t *mem_store_create(apr_pool_t *p, apr_int64_t now)
{
    mem_store_t *ms = apr_pcalloc(p, sizeof(*ms));
    apr_pool_create(&ms->pool, p);
    ms->items = apr_hash_make(ms->pool);
    ms->now = now;
    ms->base.name = "mem";
    ms->base.get = m_get;
    ms->base.set = m_set;
    ms->base.add = m_add;
    ms->base.cas = m_cas;
    ms->base.del = m_del;
    ms->base.ctx = ms;
    return &ms->base;
}

mem_store_t *mem_store_of(aoidc_store_t *st)
{
    return (mem_store_t *)st;
}

aoidc_store_t *mem_store_base(mem_store_t *ms)
{
    return &ms->base;
}

void mem_store_set_now(aoidc_store_t *st, apr_int64_t now)
{
    ((mem_store_t *)st)->now = now;
}

void mem_store_set_hook(aoidc_store_t *st, mem_store_hook_t hook, void *baton)
{
    ((mem_store_t *)st)->hook = hook;
    ((mem_store_t *)st)->baton = baton;
}

void mem_store_fail_writes(aoidc_store_t *st, const char *prefix)
{
    mem_store_t *ms = (mem_store_t *)st;
    ms->fail_prefix = prefix ? apr_pstrdup(ms->pool, prefix) : NULL;
}

void mem_store_set_down(aoidc_store_t *st, int down)
{
    ((mem_store_t *)st)->down = down;
}

int mem_store_count(aoidc_store_t *st, const char *prefix)
{
    mem_store_t *ms = (mem_store_t *)st;
    int n = 0;
    apr_size_t pl = strlen(prefix);
    for (apr_hash_index_t *hi = apr_hash_first(NULL, ms->items); hi; hi = apr_hash_next(hi)) {
        const void *k;
        void *v;
        apr_hash_this(hi, &k, NULL, &v);
        if (strncmp(k, prefix, pl) == 0 && ((item_t *)v)->expires > ms->now) {
            n++;
        }
    }
    return n;
}

const char *mem_store_peek(aoidc_store_t *st, const char *key, apr_size_t *len, long *ttl)
{
    mem_store_t *ms = (mem_store_t *)st;
    item_t *it = live(ms, key);
    if (!it) {
        return NULL;
    }
    if (len) {
        *len = it->len;
    }
    if (ttl) {
        *ttl = (long)(it->expires - ms->now);
    }
    return it->val;
}
