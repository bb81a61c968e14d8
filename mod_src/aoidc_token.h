/* Validated bearer tokens, cached per process.
 *
 * A token that passed signature and claim checks is kept until its exp, so
 * the same token is never verified twice while valid. The cache is
 * direct-mapped with a fixed number of slots (a new entry replaces whatever
 * shared its slot), so it is bounded by construction. The slot is chosen by
 * SipHash-2-4 under a random key of the cache (one per process), so nobody
 * can compute which tokens share a victim's slot to keep evicting it; an
 * entry holds the whole token and a hit needs the exact token, compared in
 * constant time (CRYPTO_memcmp), so a collision can only evict, never
 * impersonate. 64 mutexes guard it, each a share of the slots, so threads
 * of one process rarely wait on each other (tests/unit/test_token.c
 * measures 64 threads); a lookup copies the entry out. */
#ifndef AOIDC_TOKEN_H
#define AOIDC_TOKEN_H

#include "aoidc_claims.h"

#include <apr_pools.h>
#include <apr_errno.h>
#include <apr_thread_mutex.h>
#include <stdint.h>

/* What a request learns from a valid token. */
typedef struct {
    const char *provider;
    const char *sub;
    const char *scope;     /* space-separated, "" when none */
    apr_int64_t exp;       /* seconds since the epoch */
    int nclaims;
    const aoidc_claim_t *claims;
} aoidc_principal_t;

typedef struct aoidc_token_cache aoidc_token_cache_t;

/* A cache of nslots entries (rounded up to a power of two, at least 16),
 * released by a cleanup on p. */
apr_status_t aoidc_token_cache_create(apr_pool_t *p, int nslots, aoidc_token_cache_t **out);

/* Look up a token. On a hit with exp > now, copy the principal into p and
 * return 1; otherwise 0 (an expired entry is dropped). */
int aoidc_token_cache_get(aoidc_token_cache_t *c, apr_pool_t *p, const char *token, apr_size_t len,
                          apr_int64_t now, aoidc_principal_t *out);

/* Store a principal (deep copy) for a token. Entries larger than 32 KB are
 * not kept. */
void aoidc_token_cache_put(aoidc_token_cache_t *c, const char *token, apr_size_t len, const aoidc_principal_t *pr);

/* The granted scopes as one space-separated list, from p: the "scope"
 * claim, else the "scp" values (a string or an array: flattened, both are
 * pairs joined with a space); "" when none. */
const char *aoidc_scope_of_claims(apr_pool_t *p, const aoidc_claim_t *claims, int n);

/* SipHash-2-4 of len bytes under a 16-byte key (the reference algorithm;
 * exported for its test vectors). */
#define AOIDC_SIPHASH_KEY_LEN 16
uint64_t aoidc_siphash24(const unsigned char key[AOIDC_SIPHASH_KEY_LEN], const void *data, apr_size_t len);

/* Does the space-separated scope list contain every word of need? */
int aoidc_scope_has(const char *scope, const char *need);

#endif
