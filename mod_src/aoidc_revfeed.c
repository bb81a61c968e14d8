/* The revocation feed (aoidc_revfeed.h). */
#include "aoidc_revfeed.h"
#include "aoidc_session.h"
#include "aoidc_util.h"

#include <apr_atomic.h>
#include <apr_strings.h>
#include <string.h>

#define RETRIES 16
#define HEADER "aoidc-rf1 "

/* a decimal number of 1-19 digits at *s (< end), followed by stop; moves *s
 * past stop */
static int parse_num(const char **s, const char *end, char stop, uint64_t *out)
{
    const char *q = *s;
    uint64_t v = 0;
    int digits = 0;
    while (q < end && *q >= '0' && *q <= '9') {
        if (++digits > 19) {
            return 0;
        }
        v = v * 10 + (uint64_t)(*q - '0');
        q++;
    }
    if (digits == 0 || q >= end || *q != stop) {
        return 0;
    }
    *out = v;
    *s = q + 1;
    return 1;
}

/* n base64url characters at s (not NUL-terminated) */
static int b64url_run(const char *s, apr_size_t n)
{
    for (apr_size_t i = 0; i < n; i++) {
        if (!aoidc_b64url_char((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

apr_status_t aoidc_revfeed_parse(apr_pool_t *p, const char *val, apr_size_t len, aoidc_revfeed_t *out)
{
    const char *s = val, *end = val + len;
    memset(out, 0, sizeof(*out));
    if (len < sizeof(HEADER) - 1 || memcmp(s, HEADER, sizeof(HEADER) - 1) != 0) {
        return APR_EINVAL;
    }
    s += sizeof(HEADER) - 1;
    const char *g = s;
    while (s < end && ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) {
        s++;
    }
    if (s == g || s - g > AOIDC_REVFEED_GEN_MAX || s >= end || *s != ' ') {
        return APR_EINVAL;
    }
    out->gen = apr_pstrmemdup(p, g, (apr_size_t)(s - g));
    s++;
    if (!parse_num(&s, end, '\n', &out->next)) {
        return APR_EINVAL;
    }
    out->ev = apr_pcalloc(p, sizeof(*out->ev) * AOIDC_REVFEED_MAX);
    while (s < end) {
        if (out->n >= AOIDC_REVFEED_MAX) {
            return APR_EINVAL;
        }
        aoidc_revfeed_event_t *e = &out->ev[out->n];
        uint64_t t;
        if (!parse_num(&s, end, ' ', &e->seq) || !parse_num(&s, end, ' ', &t) || t > (uint64_t)APR_INT64_MAX) {
            return APR_EINVAL;
        }
        e->t = (apr_int64_t)t;
        if ((out->n > 0 && e->seq <= out->ev[out->n - 1].seq) || e->seq >= out->next) {
            return APR_EINVAL;
        }
        const char *nl = memchr(s, '\n', (apr_size_t)(end - s));
        if (!nl) {
            return APR_EINVAL;
        }
        apr_size_t idlen = (apr_size_t)(nl - s);
        if (idlen == 1 && *s == '*') {
            e->id = AOIDC_REVFEED_ALL;
        }
        else if (idlen == AOIDC_SESSION_ID_LEN && b64url_run(s, idlen)) {
            e->id = apr_pstrmemdup(p, s, idlen);
        }
        else {
            return APR_EINVAL;
        }
        out->n++;
        s = nl + 1;
    }
    return APR_SUCCESS;
}

char *aoidc_revfeed_format(apr_pool_t *p, const aoidc_revfeed_t *f, apr_size_t *len)
{
    /* header + per event two numbers of <= 20 digits, an id of <= 43, 3
     * separators: bounded, so one buffer */
    apr_size_t cap = sizeof(HEADER) + AOIDC_REVFEED_GEN_MAX + 22 + (apr_size_t)f->n * (20 + 1 + 20 + 1 + 43 + 1) + 1;
    char *buf = apr_palloc(p, cap);
    int w = apr_snprintf(buf, cap, HEADER "%s %" APR_UINT64_T_FMT "\n", f->gen, f->next);
    apr_size_t at = (apr_size_t)w;
    for (int i = 0; i < f->n && at < cap; i++) {
        const aoidc_revfeed_event_t *e = &f->ev[i];
        w = apr_snprintf(buf + at, cap - at, "%" APR_UINT64_T_FMT " %" APR_INT64_T_FMT " %s\n", e->seq, e->t, e->id);
        at += (apr_size_t)w;
    }
    *len = at;
    return buf;
}

static const char *new_gen(apr_pool_t *p)
{
    unsigned char r[16];
    static const char hex[] = "0123456789abcdef";
    char *g = apr_palloc(p, 2 * sizeof(r) + 1);
    if (aoidc_random(r, sizeof(r)) != APR_SUCCESS) {
        return NULL;
    }
    for (apr_size_t i = 0; i < sizeof(r); i++) {
        g[2 * i] = hex[r[i] >> 4];
        g[2 * i + 1] = hex[r[i] & 15];
    }
    g[2 * sizeof(r)] = '\0';
    return g;
}

static int id_ok(const char *id)
{
    return id && (strcmp(id, AOIDC_REVFEED_ALL) == 0 ||
                  (strlen(id) == AOIDC_SESSION_ID_LEN && aoidc_b64url_is(id, AOIDC_SESSION_ID_LEN)));
}

/* f (from p) with the events still worth keeping and room for n more,
 * then ids appended */
static void append(apr_pool_t *p, aoidc_revfeed_t *f, const char *const *ids, int n, apr_int64_t now)
{
    aoidc_revfeed_event_t *ev = apr_pcalloc(p, sizeof(*ev) * AOIDC_REVFEED_MAX);
    int keep = 0, first = 0;
    while (first < f->n && f->ev[first].t < now - AOIDC_REVFEED_AGE) {
        first++;
    }
    if (f->n - first > AOIDC_REVFEED_MAX - n) {
        first = f->n - (AOIDC_REVFEED_MAX - n);
    }
    for (int i = first; i < f->n; i++) {
        ev[keep++] = f->ev[i];
    }
    for (int i = 0; i < n; i++) {
        ev[keep].seq = f->next++;
        ev[keep].t = now;
        ev[keep++].id = ids[i];
    }
    f->ev = ev;
    f->n = keep;
}

typedef struct {
    const char *const *ids;
    int n;
    apr_int64_t now;
} publish_t;

/* the feed with the ids appended: to what the key holds when it is a feed,
 * else to a new generation */
static apr_status_t feed_with(void *baton, apr_pool_t *p, const char *old, apr_size_t oldlen, const void **val,
                              apr_size_t *len)
{
    publish_t *pb = baton;
    aoidc_revfeed_t f;
    if (!old || aoidc_revfeed_parse(p, old, oldlen, &f) != APR_SUCCESS) {
        /* none yet, or one we cannot read: a new generation, which makes
         * every reader drop its whole cache */
        memset(&f, 0, sizeof(f));
        f.gen = new_gen(p);
        f.next = 1;
        if (!f.gen) {
            return APR_EGENERAL;
        }
    }
    append(p, &f, pb->ids, pb->n, pb->now);
    *val = aoidc_revfeed_format(p, &f, len);
    return APR_SUCCESS;
}

apr_status_t aoidc_revfeed_publish(aoidc_store_t *st, apr_pool_t *p, const char *const *ids, int n, apr_int64_t now)
{
    static const char *const all[] = {AOIDC_REVFEED_ALL};
    if (n <= 0) {
        return APR_SUCCESS;
    }
    for (int i = 0; i < n; i++) {
        if (!id_ok(ids[i])) {
            return APR_EINVAL;
        }
    }
    if (n > AOIDC_REVFEED_MAX / 2) {
        ids = all; /* a mass revocation: every cache starts over */
        n = 1;
    }
    publish_t pb = {ids, n, now};
    apr_status_t rv = aoidc_store_update(st, p, AOIDC_REVFEED_KEY, AOIDC_REVFEED_TTL, RETRIES, feed_with, &pb);
    if (rv != APR_EAGAIN) {
        return rv;
    }
    /* too many lost races: a new generation written over whatever is there
     * (every reader drops its whole cache, so what this overwrites is
     * covered too) */
    const void *text;
    apr_size_t len;
    if (feed_with(&pb, p, NULL, 0, &text, &len) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    return st->set(st, AOIDC_REVFEED_KEY, text, len, AOIDC_REVFEED_TTL) == AOIDC_STORE_OK ? APR_SUCCESS
                                                                                         : APR_EGENERAL;
}

apr_status_t aoidc_revfeed_poll(aoidc_store_t *st, apr_pool_t *p, aoidc_scache_t *c)
{
    aoidc_scache_feed_t *seen = aoidc_scache_feed(c);
    /* Servers that came back or restarted empty: the cache must let reads
     * through to the store, whose reads repair the copies they lost (and
     * which knows of sessions lost with a server). Asking every server once
     * is how this process learns of a restart without other traffic. */
    if (st->probe) {
        int servers, replicas;
        st->probe(st, p, &servers, &replicas);
    }
    apr_uint32_t returns = apr_atomic_read32(&st->returns);
    if (returns != seen->store_returns) {
        aoidc_scache_flush(c);
        seen->store_returns = returns;
    }
    char *val;
    apr_size_t len;
    aoidc_store_rc_t rc = st->get(st, p, AOIDC_REVFEED_KEY, &val, &len, NULL);
    if (rc != AOIDC_STORE_OK && rc != AOIDC_STORE_MISSING) {
        return APR_EGENERAL;
    }
    aoidc_revfeed_t f;
    if (rc == AOIDC_STORE_MISSING || aoidc_revfeed_parse(p, val, len, &f) != APR_SUCCESS) {
        /* absent: no revocation for a day, or its copies were lost (the
         * servers restarted); not readable: not ours. Either way nothing
         * says what was missed. An empty feed is created, so that its loss
         * (a restart of the one server that holds it) is seen next time. */
        if (seen->known || rc != AOIDC_STORE_MISSING) {
            aoidc_scache_flush(c);
        }
        seen->known = 0;
        if (rc == AOIDC_STORE_MISSING) {
            aoidc_revfeed_t empty = {new_gen(p), 1, 0, NULL};
            apr_size_t elen;
            char *text = empty.gen ? aoidc_revfeed_format(p, &empty, &elen) : NULL;
            if (text && st->add(st, AOIDC_REVFEED_KEY, text, elen, AOIDC_REVFEED_TTL) == AOIDC_STORE_OK) {
                seen->known = 1;
                apr_cpystrn(seen->gen, empty.gen, sizeof(seen->gen));
                seen->next = 1;
            }
        }
        return APR_SUCCESS;
    }
    int whole = !seen->known || strcmp(seen->gen, f.gen) != 0 || f.next < seen->next ||
                (f.n > 0 && f.ev[0].seq > seen->next);
    for (int i = 0; i < f.n && !whole; i++) {
        const aoidc_revfeed_event_t *e = &f.ev[i];
        if (e->seq < seen->next) {
            continue;
        }
        if (strcmp(e->id, AOIDC_REVFEED_ALL) == 0) {
            whole = 1;
            break;
        }
        aoidc_scache_drop(c, apr_pstrcat(p, AOIDC_SESSION_KEY_PREFIX, e->id, NULL));
    }
    if (whole) {
        aoidc_scache_flush(c);
    }
    seen->known = 1;
    apr_cpystrn(seen->gen, f.gen, sizeof(seen->gen));
    seen->next = f.next;
    return APR_SUCCESS;
}
