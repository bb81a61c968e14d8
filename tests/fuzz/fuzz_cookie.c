/* libFuzzer target for the Cookie header (aoidc_cookie.c): the walker and the
 * strip of our cookies. Checks, beyond memory safety (the input and output
 * are malloc'd to their exact sizes so that ASan sees any overrun):
 *  - the output is never longer than the input and is NUL-terminated there;
 *  - none of our cookies is left in it (as the walker reads it);
 *  - every other pair of the input is in it, same name and value, in order;
 *  - a header without our cookies reports nothing removed.
 * The first byte picks the session cookie name (the default, the __Host-
 * default, or one character, which makes collisions likely). */
#include "aoidc_cookie.h"

#include <apr_general.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const char *name, *val;
    size_t nlen, vlen;
} pair_t;

typedef struct {
    pair_t *v;
    int n, cap;
    const char *session, *prefix;
    int skip_ours, ours;
} plist_t;

static int push_pair(void *c, const char *name, apr_size_t nlen, const char *val, apr_size_t vlen)
{
    plist_t *l = c;
    if (aoidc_cookie_is_ours(name, nlen, l->session, l->prefix)) {
        l->ours++;
        if (l->skip_ours) {
            return 1;
        }
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, sizeof(pair_t) * (size_t)l->cap);
    }
    l->v[l->n++] = (pair_t){name, val, nlen, vlen};
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const sessions[] = {"aoidc_session", "__Host-aoidc_session", "s", "p"};
    static const char *const prefix = "aoidc_state_";
    static int init;
    if (!init) {
        apr_initialize();
        init = 1;
    }
    if (size < 1) {
        return 0;
    }
    const char *session = sessions[data[0] % 4];
    const char *pfx = data[0] & 4 ? "p" : prefix;
    /* a header value holds no NUL: the header is what comes before one */
    const char *h0 = (const char *)data + 1;
    size_t n = strnlen(h0, size - 1);

    char *in = malloc(n ? n : 1); /* exactly n bytes, no NUL */
    memcpy(in, h0, n);
    char *z = malloc(n + 1); /* the same as a C string for the walker */
    memcpy(z, h0, n);
    z[n] = '\0';
    char *out = malloc(n + 1);
    apr_size_t olen = (apr_size_t)-1;
    int removed = aoidc_cookie_strip_ours(in, n, session, pfx, out, n + 1, &olen);
    if (removed < 0 || olen > n || out[olen] != '\0' || strlen(out) != olen) {
        __builtin_trap();
    }

    plist_t want = {NULL, 0, 0, session, pfx, 1, 0}, got = {NULL, 0, 0, session, pfx, 0, 0};
    aoidc_cookie_walk(z, push_pair, &want);
    aoidc_cookie_walk(out, push_pair, &got);
    if (got.ours != 0 || got.n != want.n || removed != want.ours) {
        __builtin_trap();
    }
    for (int i = 0; i < got.n; i++) {
        if (got.v[i].nlen != want.v[i].nlen || memcmp(got.v[i].name, want.v[i].name, got.v[i].nlen) != 0 ||
            got.v[i].vlen != want.v[i].vlen || memcmp(got.v[i].val, want.v[i].val, got.v[i].vlen) != 0) {
            __builtin_trap();
        }
    }
    /* the finders agree with the walk */
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    int count = -1;
    const char *first = aoidc_cookie_header_get(p, z, session, &count);
    apr_array_header_t *vals = aoidc_cookie_header_values(p, z, session, 1 << 30);
    apr_array_header_t *names = aoidc_cookie_header_names(p, z, pfx, 1 << 30);
    int nsess = 0, nstate = 0;
    plist_t all = {NULL, 0, 0, NULL, NULL, 0, 0};
    aoidc_cookie_walk(z, push_pair, &all);
    for (int i = 0; i < all.n; i++) {
        size_t sl = strlen(session), pl = strlen(pfx);
        if (all.v[i].nlen == sl && memcmp(all.v[i].name, session, sl) == 0) {
            if (nsess < vals->nelts &&
                (strlen(APR_ARRAY_IDX(vals, nsess, const char *)) != all.v[i].vlen ||
                 memcmp(APR_ARRAY_IDX(vals, nsess, const char *), all.v[i].val, all.v[i].vlen))) {
                __builtin_trap();
            }
            nsess++;
        }
        if (all.v[i].nlen > pl && memcmp(all.v[i].name, pfx, pl) == 0) {
            nstate++;
        }
    }
    if (n <= AOIDC_COOKIE_HEADER_MAX && (count != nsess || vals->nelts != nsess || names->nelts != nstate ||
                                         (nsess > 0) != (first != NULL))) {
        __builtin_trap();
    }
    if (n > AOIDC_COOKIE_HEADER_MAX && (first || vals->nelts || names->nelts)) {
        __builtin_trap();
    }
    free(all.v);
    apr_pool_destroy(p);
    /* a too small buffer is refused, not overrun */
    if (n > 0 && aoidc_cookie_strip_ours(in, n, session, pfx, out, n, NULL) != -1) {
        __builtin_trap();
    }
    free(want.v);
    free(got.v);
    free(out);
    free(z);
    free(in);
    return 0;
}
