/* The per-process bearer token cache. */
#include "aoidc_token.h"

#include <apr_strings.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_MAX (32 * 1024)

typedef struct {
    apr_int64_t exp;
    int nclaims;
    apr_size_t toklen;
    char *blob; /* malloc'd: token, then provider\0 sub\0 scope\0 and nclaims x name\0 value\0 */
    apr_size_t len;
} slot_t;

struct aoidc_token_cache {
    apr_thread_mutex_t *mutex;
    slot_t *slots;
    unsigned mask;
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
    *out = c;
    return apr_thread_mutex_create(&c->mutex, APR_THREAD_MUTEX_DEFAULT, p);
}

/* FNV-1a: spreads tokens over the slots; exactness comes from the compare */
static unsigned slot_of(const aoidc_token_cache_t *c, const char *t, apr_size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (apr_size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)t[i]) * 1099511628211ULL;
    }
    return (unsigned)(h ^ (h >> 32)) & c->mask;
}

int aoidc_token_cache_get(aoidc_token_cache_t *c, apr_pool_t *p, const char *token, apr_size_t toklen,
                          apr_int64_t now, aoidc_principal_t *out)
{
    slot_t *s = &c->slots[slot_of(c, token, toklen)];
    char *copy = NULL;
    int n = 0;
    apr_int64_t exp = 0;
    apr_thread_mutex_lock(c->mutex);
    if (s->blob && s->toklen == toklen && memcmp(s->blob, token, toklen) == 0) {
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
    apr_thread_mutex_unlock(c->mutex);
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
    slot_t *s = &c->slots[slot_of(c, token, toklen)];
    apr_thread_mutex_lock(c->mutex);
    char *old = s->blob;
    s->toklen = toklen;
    s->exp = pr->exp;
    s->nclaims = pr->nclaims;
    s->blob = blob;
    s->len = len;
    apr_thread_mutex_unlock(c->mutex);
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
