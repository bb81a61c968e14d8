/* The Cookie request header: one segment parser, used both to find cookies
 * and to strip ours, so that what we read and what we remove cannot differ. */
#include "aoidc_cookie.h"

#include <apr_strings.h>
#include <assert.h>
#include <string.h>

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The next non-empty ';'-separated segment in [*pos, end): *seg and *slen
 * describe it trimmed of blanks (slen >= 1); *pos moves to the ';' that ends
 * it (or to end). Returns 0 when no segment is left. */
static int next_segment(const char **pos, const char *end, const char **seg, apr_size_t *slen)
{
    const char *s = *pos;
    while (s < end && (blank(*s) || *s == ';')) {
        s++;
    }
    if (s >= end) {
        *pos = end;
        return 0;
    }
    const char *e = memchr(s, ';', (apr_size_t)(end - s));
    if (!e) {
        e = end;
    }
    apr_size_t n = (apr_size_t)(e - s);
    while (n > 0 && blank(s[n - 1])) {
        n--;
    }
    *seg = s;
    *slen = n;
    *pos = e;
    return 1;
}

/* Split a trimmed segment at its first '=': 0 when it has none. */
static int split_pair(const char *seg, apr_size_t slen, apr_size_t *nlen, const char **val, apr_size_t *vlen)
{
    const char *eq = memchr(seg, '=', slen);
    if (!eq) {
        return 0;
    }
    apr_size_t n = (apr_size_t)(eq - seg);
    while (n > 0 && blank(seg[n - 1])) {
        n--;
    }
    const char *v = eq + 1;
    apr_size_t vl = slen - (apr_size_t)(v - seg);
    while (vl > 0 && (blank(*v) || *v == '"')) {
        v++;
        vl--;
    }
    while (vl > 0 && (blank(v[vl - 1]) || v[vl - 1] == '"')) {
        vl--;
    }
    *nlen = n;
    *val = v;
    *vlen = vl;
    return 1;
}

void aoidc_cookie_walk(const char *h, aoidc_cookie_fn fn, void *ctx)
{
    if (!h) {
        return;
    }
    const char *pos = h, *end = h + strlen(h), *seg, *val;
    apr_size_t slen, nlen, vlen;
    while (next_segment(&pos, end, &seg, &slen)) {
        if (split_pair(seg, slen, &nlen, &val, &vlen) && !fn(ctx, seg, nlen, val, vlen)) {
            return;
        }
    }
}

static int searchable(const char *h)
{
    return h && strnlen(h, AOIDC_COOKIE_HEADER_MAX + 1) <= AOIDC_COOKIE_HEADER_MAX;
}

typedef struct {
    apr_pool_t *p;
    const char *name, *prefix;
    apr_size_t nlen;
    int max, count;
    const char *value;
    apr_array_header_t *out;
} find_ctx_t;

static int find_one(void *c, const char *name, apr_size_t nlen, const char *val, apr_size_t vlen)
{
    find_ctx_t *f = c;
    if (nlen == f->nlen && memcmp(name, f->name, nlen) == 0 && f->count++ == 0) {
        f->value = apr_pstrmemdup(f->p, val, vlen);
    }
    return 1;
}

const char *aoidc_cookie_header_get(apr_pool_t *p, const char *h, const char *name, int *count)
{
    find_ctx_t f = {.p = p, .name = name, .nlen = strlen(name)};
    if (searchable(h)) {
        aoidc_cookie_walk(h, find_one, &f);
    }
    if (count) {
        *count = f.count;
    }
    return f.value;
}

static int find_all(void *c, const char *name, apr_size_t nlen, const char *val, apr_size_t vlen)
{
    find_ctx_t *f = c;
    if (nlen == f->nlen && memcmp(name, f->name, nlen) == 0) {
        APR_ARRAY_PUSH(f->out, const char *) = apr_pstrmemdup(f->p, val, vlen);
    }
    return f->out->nelts < f->max;
}

apr_array_header_t *aoidc_cookie_header_values(apr_pool_t *p, const char *h, const char *name, int max)
{
    find_ctx_t f = {.p = p, .name = name, .nlen = strlen(name), .max = max};
    f.out = apr_array_make(p, 2, sizeof(const char *));
    if (searchable(h) && max > 0) {
        aoidc_cookie_walk(h, find_all, &f);
    }
    return f.out;
}

static int find_prefix(void *c, const char *name, apr_size_t nlen, const char *val, apr_size_t vlen)
{
    find_ctx_t *f = c;
    if (nlen > f->nlen && memcmp(name, f->prefix, f->nlen) == 0) {
        APR_ARRAY_PUSH(f->out, const char *) = apr_pstrmemdup(f->p, name, nlen);
    }
    return f->out->nelts < f->max;
}

apr_array_header_t *aoidc_cookie_header_names(apr_pool_t *p, const char *h, const char *prefix, int max)
{
    find_ctx_t f = {.p = p, .prefix = prefix, .nlen = strlen(prefix), .max = max};
    f.out = apr_array_make(p, 4, sizeof(const char *));
    if (searchable(h) && max > 0) {
        aoidc_cookie_walk(h, find_prefix, &f);
    }
    return f.out;
}

int aoidc_cookie_is_ours(const char *name, apr_size_t nlen, const char *session_name,
                         const char *state_prefix)
{
    if (session_name && nlen == strlen(session_name) && memcmp(name, session_name, nlen) == 0) {
        return 1;
    }
    apr_size_t plen = state_prefix ? strlen(state_prefix) : 0;
    return plen > 0 && nlen > plen && memcmp(name, state_prefix, plen) == 0;
}

int aoidc_cookie_strip_ours(const char *h, apr_size_t hlen, const char *session_name,
                            const char *state_prefix, char *out, apr_size_t outsize, apr_size_t *outlen)
{
    if (!h || !out || outsize < hlen + 1) {
        return -1;
    }
    /* Why out never needs more than hlen + 1 bytes: let E be the input offset
     * just past the last kept segment. Invariant: o <= E after each kept
     * segment. The first one, found at input offset S >= 0, is written at 0:
     * o = slen <= S + slen = E. A later one starts at S = E_prev + gap, where
     * gap >= 1 (at least the ';' that ended the previous segment) and the
     * separator we write is min(gap, 2) bytes: o = o_prev + sep + slen <=
     * E_prev + gap + slen = E. E <= hlen, so the NUL fits too. Removing a
     * cookie only widens the next gap. */
    const char *pos = h, *end = h + hlen, *seg, *prev_end = NULL, *val;
    apr_size_t o = 0, slen, nlen, vlen;
    int removed = 0;
    while (next_segment(&pos, end, &seg, &slen)) {
        if (split_pair(seg, slen, &nlen, &val, &vlen) &&
            aoidc_cookie_is_ours(seg, nlen, session_name, state_prefix)) {
            removed++;
            continue;
        }
        apr_size_t sep = 0;
        if (prev_end) {
            sep = (apr_size_t)(seg - prev_end) >= 2 ? 2 : 1;
        }
        assert(o + sep + slen <= (apr_size_t)(seg + slen - h));
        if (o + sep + slen >= outsize) { /* unreachable by the invariant above */
            out[0] = '\0';
            return -1;
        }
        memcpy(out + o, "; ", sep);
        o += sep;
        memcpy(out + o, seg, slen);
        o += slen;
        prev_end = seg + slen;
    }
    out[o] = '\0';
    if (outlen) {
        *outlen = o;
    }
    return removed;
}
