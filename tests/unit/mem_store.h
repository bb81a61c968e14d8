/* An in-memory store vtable with CAS and TTLs, for unit tests (directory,
 * oidc-console). Single-threaded. Time comes from mem_store_now (settable),
 * so expiry can be tested without sleeping. */
#ifndef AOIDC_MEM_STORE_H
#define AOIDC_MEM_STORE_H

#include "aoidc_store.h"

typedef struct mem_store mem_store_t;

/* A hook run just before a cas/add lands (once per call while set): lets a
 * test slip another writer in between a get and its cas. */
typedef void (*mem_store_hook_t)(mem_store_t *ms, const char *key, void *baton);

/* A store allocated from p (its items live in a subpool of p). now is the
 * store's clock in seconds; TTLs count from it. */
aoidc_store_t *mem_store_create(apr_pool_t *p, apr_int64_t now);
mem_store_t *mem_store_of(aoidc_store_t *st);
void mem_store_set_now(aoidc_store_t *st, apr_int64_t now);
void mem_store_set_hook(aoidc_store_t *st, mem_store_hook_t hook, void *baton);
/* Simulate an outage: every call answers AOIDC_STORE_DOWN while down. */
void mem_store_set_down(aoidc_store_t *st, int down);
/* Failure injection: every set/add/cas/delete of a key that starts with
 * prefix answers AOIDC_STORE_ERROR (NULL: none). Reads still work. */
void mem_store_fail_writes(aoidc_store_t *st, const char *prefix);
/* Live keys with the prefix. */
int mem_store_count(aoidc_store_t *st, const char *prefix);
/* The raw value of a live key (NULL when absent) and its remaining TTL. */
const char *mem_store_peek(aoidc_store_t *st, const char *key, apr_size_t *len, long *ttl);
aoidc_store_t *mem_store_base(mem_store_t *ms);

#endif
