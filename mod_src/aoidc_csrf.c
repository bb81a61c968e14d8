/* CSRF tokens derived from the session (aoidc_csrf.h). */
#include "aoidc_csrf.h"
#include "aoidc_request.h"
#include "aoidc_util.h"

#include <string.h>
#include <strings.h>

#define CSRF_LABEL "aoidc csrf v1:"
#define STORE_KEY_MAX 128

/* The 32 raw bytes of the token under one index key; 0 when the store key
 * is too long to be one of ours. */
static int derive(const unsigned char key[AOIDC_KEY_LEN], const char *store_key, unsigned char out[32])
{
    char buf[sizeof(CSRF_LABEL) + STORE_KEY_MAX];
    apr_size_t klen = strlen(store_key);
    if (klen > STORE_KEY_MAX) {
        return 0;
    }
    memcpy(buf, CSRF_LABEL, sizeof(CSRF_LABEL) - 1);
    memcpy(buf + sizeof(CSRF_LABEL) - 1, store_key, klen);
    aoidc_hmac_sha256(key, buf, sizeof(CSRF_LABEL) - 1 + klen, out);
    return 1;
}

const char *aoidc_csrf_token(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key)
{
    unsigned char mac[32];
    if (!keys || !store_key || !derive(keys->index, store_key, mac)) {
        return NULL;
    }
    return aoidc_b64url_encode(p, mac, sizeof(mac));
}

int aoidc_csrf_token_ok(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key, const char *presented,
                        apr_size_t len)
{
    if (!keys || !store_key || !presented || len != AOIDC_CSRF_TOKEN_LEN) {
        return 0;
    }
    const char *cur = aoidc_csrf_token(p, keys, store_key);
    int ok = cur && aoidc_ct_equal(cur, strlen(cur), presented, len);
    const char *prev = keys->previous ? aoidc_csrf_token(p, keys->previous, store_key) : NULL;
    ok |= prev && aoidc_ct_equal(prev, strlen(prev), presented, len);
    return ok;
}

aoidc_csrf_verdict_t aoidc_csrf_check(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key,
                                      const char *sec_fetch_site, const char *origin, const char *our_origin,
                                      const char *token)
{
    if (sec_fetch_site && strcasecmp(sec_fetch_site, "cross-site") == 0) {
        return AOIDC_CSRF_CROSS_SITE;
    }
    if (origin && !aoidc_origin_is(our_origin, origin)) {
        return AOIDC_CSRF_CROSS_SITE;
    }
    if (!token) {
        return AOIDC_CSRF_MISSING;
    }
    return aoidc_csrf_token_ok(p, keys, store_key, token, strlen(token)) ? AOIDC_CSRF_OK
                                                                         : AOIDC_CSRF_MISMATCH;
}

const char *aoidc_csrf_verdict_str(aoidc_csrf_verdict_t v)
{
    switch (v) {
    case AOIDC_CSRF_OK:
        return "ok";
    case AOIDC_CSRF_CROSS_SITE:
        return "cross-site request";
    case AOIDC_CSRF_MISSING:
        return "no X-CSRF-Token header";
    case AOIDC_CSRF_MISMATCH:
        return "X-CSRF-Token is not this session's";
    }
    return "?";
}

int aoidc_csrf_method_unsafe(const char *method)
{
    static const char *const safe[] = {"GET", "HEAD", "OPTIONS", "TRACE"};
    if (!method) {
        return 1;
    }
    for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++) {
        if (strcmp(method, safe[i]) == 0) {
            return 0;
        }
    }
    return 1;
}
