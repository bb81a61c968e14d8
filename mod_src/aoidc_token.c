/* The per-process bearer token cache. */
#include "aoidc_token.h"
#include "aoidc_util.h"

#include <apr_strings.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_MAX (32 * 1024)
/* Locks: slot i is guarded by lock i % LOCKS, so threads meet on a lock only
 * when their tokens' slots share it (1 in LOCKS) instead of on one mutex
 * for the whole process. */
#define LOCKS 64

typedef struct {
    apr_int64_t exp;
    int nclaims;
    apr_size_t toklen;
    char *blob; /* malloc'd: token, then provider\0 sub\0 scope\0 and nclaims x name\0 value\0 */
    apr_size_t len;
} slot_t;

struct aoidc_token_cache {
    apr_thread_mutex_t *lock[LOCKS];
    slot_t *slots;
    unsigned mask;
    unsigned char key[AOIDC_SIPHASH_KEY_LEN]; /* per cache, i.e. per process: random */
};

static apr_status_t cache_cleanup(void *d)
{
    aoidc_token_cache_t *c = d;
    for (unsigned i = 0; i <= c->mask; i++) {
        free(c->slots[i].blob);
    }
    free(c->slots);
    return APR_SUCCESS;
}

apr_status_t aoidc_token_cache_create(apr_pool_t *p, int nslots, aoidc_token_cache_t **out)
{
    unsigned n = 16;
    while ((int)n < nslots && n < (1u << 24)) {
        n <<= 1;
    }
    aoidc_token_cache_t *c = apr_pcalloc(p, sizeof(*c));
    c->slots = calloc(n, sizeof(slot_t));
    if (!c->slots) {
        return APR_ENOMEM;
    }
    c->mask = n - 1;
    apr_pool_cleanup_register(p, c, cache_cleanup, apr_pool_cleanup_null);
    apr_status_t rv = aoidc_random(c->key, sizeof(c->key));
    if (rv != APR_SUCCESS) {
        return rv;
    }
    for (int i = 0; i < LOCKS; i++) {
        rv = apr_thread_mutex_create(&c->lock[i], APR_THREAD_MUTEX_DEFAULT, p);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    *out = c;
    return APR_SUCCESS;
}

/* SipHash-2-4 (Aumasson and Bernstein), the keyed hash hash tables use
 * against collision flooding: without the per-process key nobody can aim
 * tokens at one slot to evict a victim's entry over and over. Plain C: one
 * pass over the token, no allocation, no library call on the hot path. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                               \
    do {                                                                                                       \
        v0 += v1;                                                                                              \
        v1 = ROTL(v1, 13);                                                                                     \
        v1 ^= v0;                                                                                              \
        v0 = ROTL(v0, 32);                                                                                     \
        v2 += v3;                                                                                              \
        v3 = ROTL(v3, 16);                                                                                     \
        v3 ^= v2;                                                                                              \
        v0 += v3;                                                                                              \
        v3 = ROTL(v3, 21);                                                                                     \
        v3 ^= v0;                                                                                              \
        v2 += v1;                                                                                              \
        v1 = ROTL(v1, 17);                                                                                     \
        v1 ^= v2;                                                                                              \
        v2 = ROTL(v2, 32);                                                                                     \
    } while (0)

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

uint64_t aoidc_siphash24(const unsigned char key[AOIDC_SIPHASH_KEY_LEN], const void *data, apr_size_t len)
{
    const unsigned char *in = data;
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    const unsigned char *end = in + (len - len % 8);
    for (; in != end; in += 8) {
        uint64_t m = le64(in);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    switch (len & 7) {
    case 7: b |= (uint64_t)in[6] << 48; /* fall through */
    case 6: b |= (uint64_t)in[5] << 40; /* fall through */
    case 5: b |= (uint64_t)in[4] << 32; /* fall through */
    case 4: b |= (uint64_t)in[3] << 24; /* fall through */
    case 3: b |= (uint64_t)in[2] << 16; /* fall through */
    case 2: b |= (uint64_t)in[1] << 8;  /* fall through */
    case 1: b |= (uint64_t)in[0]; break;
    case 0: break;
    }
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}
#undef SIPROUND
#undef ROTL

static unsigned slot_of(const aoidc_token_cache_t *c, const char *t, apr_size_t len)
{
    uint64_t h = aoidc_siphash24(c->key, t, len);
    return (unsigned)(h ^ (h >> 32)) & c->mask;
}

int aoidc_token_cache_get(aoidc_token_cache_t *c, apr_pool_t *p, const char *token, apr_size_t toklen,
                          apr_int64_t now, aoidc_principal_t *out)
{
    unsigned at = slot_of(c, token, toklen);
    slot_t *s = &c->slots[at];
    apr_thread_mutex_t *lock = c->lock[at % LOCKS];
    char *copy = NULL;
    int n = 0;
    apr_int64_t exp = 0;
    apr_thread_mutex_lock(lock);
    if (s->blob && aoidc_ct_equal(s->blob, s->toklen, token, toklen)) {
        if (s->exp > now) {
            copy = apr_pmemdup(p, s->blob + toklen, s->len - toklen);
            n = s->nclaims;
            exp = s->exp;
        }
        else {
            free(s->blob);
            s->blob = NULL;
        }
    }
    apr_thread_mutex_unlock(lock);
    if (!copy) {
        return 0;
    }
    const char *q = copy;
    out->provider = q;
    q += strlen(q) + 1;
    out->sub = q;
    q += strlen(q) + 1;
    out->scope = q;
    q += strlen(q) + 1;
    aoidc_claim_t *claims = apr_palloc(p, sizeof(*claims) * (apr_size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        claims[i].name = q;
        q += strlen(q) + 1;
        claims[i].value = q;
        q += strlen(q) + 1;
    }
    out->claims = claims;
    out->nclaims = n;
    out->exp = exp;
    return 1;
}

void aoidc_token_cache_put(aoidc_token_cache_t *c, const char *token, apr_size_t toklen, const aoidc_principal_t *pr)
{
    apr_size_t len = toklen + strlen(pr->provider) + strlen(pr->sub) + strlen(pr->scope) + 3;
    for (int i = 0; i < pr->nclaims; i++) {
        len += strlen(pr->claims[i].name) + strlen(pr->claims[i].value) + 2;
    }
    if (len > ENTRY_MAX) {
        return;
    }
    char *blob = malloc(len), *q = blob;
    if (!blob) {
        return;
    }
    memcpy(q, token, toklen);
    q += toklen;
#define PUT(str)                                                                                               \
    do {                                                                                                       \
        apr_size_t l_ = strlen(str) + 1;                                                                       \
        memcpy(q, (str), l_);                                                                                  \
        q += l_;                                                                                               \
    } while (0)
    PUT(pr->provider);
    PUT(pr->sub);
    PUT(pr->scope);
    for (int i = 0; i < pr->nclaims; i++) {
        PUT(pr->claims[i].name);
        PUT(pr->claims[i].value);
    }
#undef PUT
    unsigned at = slot_of(c, token, toklen);
    slot_t *s = &c->slots[at];
    apr_thread_mutex_lock(c->lock[at % LOCKS]);
    char *old = s->blob;
    s->toklen = toklen;
    s->exp = pr->exp;
    s->nclaims = pr->nclaims;
    s->blob = blob;
    s->len = len;
    apr_thread_mutex_unlock(c->lock[at % LOCKS]);
    free(old);
}

const char *aoidc_scope_of_claims(apr_pool_t *p, const aoidc_claim_t *claims, int n)
{
    const char *s = aoidc_claims_get(p, claims, n, "scope", " ");
    if (!s) {
        s = aoidc_claims_get(p, claims, n, "scp", " ");
    }
    return s ? s : "";
}

int aoidc_scope_has(const char *scope, const char *need)
{
    apr_size_t nl = strlen(need);
    if (nl == 0) {
        return 1;
    }
    for (const char *s = scope; s && *s;) {
        while (*s == ' ') {
            s++;
        }
        const char *e = strchr(s, ' ');
        apr_size_t l = e ? (apr_size_t)(e - s) : strlen(s);
        if (l == nl && memcmp(s, need, nl) == 0) {
            return 1;
        }
        s = e;
    }
    return 0;
}
