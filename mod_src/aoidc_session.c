/* Session record codec. Layout of the plaintext (integers big-endian):
 *   u8 version(1) | i64 created | i64 last_seen | i64 expires | i64 at_exp
 *   | 11 strings: u16 len, bytes, NUL
 *   | u16 nclaims | nclaims x (name string, value string)            */
#include "aoidc_session.h"
#include "aoidc_util.h"

#include <apr_strings.h>
#include <string.h>

#define RECORD_VERSION 1
#define NSTR 11

int aoidc_session_id_ok(const char *id)
{
    return aoidc_b64url_is(id, AOIDC_SESSION_ID_LEN);
}

/* Deliberately not keyed with the crypto key: the id is 256 random bits, so a
 * plain domain-separated hash already hides it, and a node whose key differs
 * (a rotation, a misconfigured node) then finds the record and can say that
 * it does not decrypt, instead of silently treating every user as unknown. */
const char *aoidc_session_store_key(apr_pool_t *p, const aoidc_keys_t *keys, const char *id)
{
    unsigned char digest[32];
    const char *in = apr_pstrcat(p, "aoidc session store key v1:", id, NULL);
    (void)keys;
    aoidc_sha256(in, strlen(in), digest);
    return apr_pstrcat(p, AOIDC_SESSION_KEY_PREFIX, aoidc_b64url_encode(p, digest, sizeof(digest)), NULL);
}

typedef struct {
    unsigned char *buf;
    apr_size_t len, cap;
    int overflow;
} wbuf_t;

static void put(wbuf_t *w, const void *d, apr_size_t n)
{
    if (w->len + n > w->cap) {
        w->overflow = 1;
        return;
    }
    memcpy(w->buf + w->len, d, n);
    w->len += n;
}

static void put_i64(wbuf_t *w, apr_int64_t v)
{
    unsigned char b[8];
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
    put(w, b, 8);
}

static void put_u16(wbuf_t *w, apr_size_t v)
{
    unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)(v & 0xff)};
    if (v > 0xffff) {
        w->overflow = 1;
        return;
    }
    put(w, b, 2);
}

static void put_str(wbuf_t *w, const char *s)
{
    apr_size_t n = s ? strlen(s) : 0;
    put_u16(w, n);
    put(w, s ? s : "", n);
    put(w, "", 1);
}

static apr_size_t slen(const char *s)
{
    return s ? strlen(s) : 0;
}

apr_status_t aoidc_session_encode(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key,
                                  const aoidc_session_t *s, unsigned char **out, apr_size_t *outlen)
{
    const char *strs[NSTR] = {s->provider, s->sub,          s->user, s->sid,       s->id_token,  s->access_token,
                              s->refresh_token, s->node, s->client_ip, s->user_agent, NULL};
    apr_size_t cap = 1 + 4 * 8 + 2;
    for (int i = 0; i < NSTR; i++) {
        cap += 3 + slen(strs[i]);
    }
    for (int i = 0; i < s->nclaims; i++) {
        cap += 6 + slen(s->claims[i].name) + slen(s->claims[i].value);
    }
    wbuf_t w = {apr_palloc(p, cap), 0, cap, 0};
    unsigned char v = RECORD_VERSION;
    put(&w, &v, 1);
    put_i64(&w, s->created);
    put_i64(&w, s->last_seen);
    put_i64(&w, s->expires);
    put_i64(&w, s->access_token_exp);
    for (int i = 0; i < NSTR; i++) {
        put_str(&w, strs[i]);
    }
    put_u16(&w, (apr_size_t)s->nclaims);
    for (int i = 0; i < s->nclaims; i++) {
        put_str(&w, s->claims[i].name);
        put_str(&w, s->claims[i].value);
    }
    if (w.overflow) {
        return APR_ENOSPC;
    }
    return aoidc_keys_seal(p, keys, AOIDC_KEY_SESSION, store_key, strlen(store_key), w.buf, w.len, out, outlen);
}

typedef struct {
    const unsigned char *p;
    apr_size_t left;
    int bad;
} rbuf_t;

static apr_int64_t get_i64(rbuf_t *r)
{
    uint64_t u = 0;
    if (r->left < 8) {
        r->bad = 1;
        return 0;
    }
    for (int i = 0; i < 8; i++) {
        u = (u << 8) | r->p[i];
    }
    r->p += 8;
    r->left -= 8;
    return (apr_int64_t)u;
}

static apr_size_t get_u16(rbuf_t *r)
{
    if (r->left < 2) {
        r->bad = 1;
        return 0;
    }
    apr_size_t v = ((apr_size_t)r->p[0] << 8) | r->p[1];
    r->p += 2;
    r->left -= 2;
    return v;
}

static const char *get_str(rbuf_t *r)
{
    apr_size_t n = get_u16(r);
    if (r->bad || r->left < n + 1 || r->p[n] != '\0' || memchr(r->p, '\0', n) != NULL) {
        r->bad = 1;
        return "";
    }
    const char *s = (const char *)r->p;
    r->p += n + 1;
    r->left -= n + 1;
    return s;
}

apr_status_t aoidc_session_decode(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key,
                                  const unsigned char *in, apr_size_t inlen, aoidc_session_t *s)
{
    unsigned char *pt;
    apr_size_t ptlen;
    apr_status_t rv = aoidc_keys_open(p, keys, AOIDC_KEY_SESSION, store_key, strlen(store_key), in, inlen, &pt,
                                      &ptlen, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rbuf_t r = {pt, ptlen, 0};
    if (r.left < 1 || pt[0] != RECORD_VERSION) {
        return APR_EINVAL;
    }
    r.p++;
    r.left--;
    memset(s, 0, sizeof(*s));
    s->created = get_i64(&r);
    s->last_seen = get_i64(&r);
    s->expires = get_i64(&r);
    s->access_token_exp = get_i64(&r);
    const char **strs[NSTR - 1] = {&s->provider, &s->sub,  &s->user,      &s->sid,       &s->id_token,
                                   &s->access_token, &s->refresh_token, &s->node, &s->client_ip, &s->user_agent};
    for (int i = 0; i < NSTR - 1; i++) {
        *strs[i] = get_str(&r);
    }
    (void)get_str(&r); /* reserved */
    apr_size_t n = get_u16(&r);
    if (r.bad || n > AOIDC_CLAIMS_MAX * 4) {
        return APR_EINVAL;
    }
    aoidc_claim_t *claims = apr_palloc(p, (n ? n : 1) * sizeof(*claims));
    for (apr_size_t i = 0; i < n; i++) {
        claims[i].name = get_str(&r);
        claims[i].value = get_str(&r);
    }
    if (r.bad || r.left != 0) {
        return APR_EINVAL;
    }
    s->claims = claims;
    s->nclaims = (int)n;
    return APR_SUCCESS;
}

apr_int64_t aoidc_session_remaining(const aoidc_session_t *s, apr_int64_t inactivity, apr_int64_t now)
{
    apr_int64_t end = s->last_seen + inactivity;
    if (s->expires < end) {
        end = s->expires;
    }
    return end - now;
}
