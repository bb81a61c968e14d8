/* libFuzzer target for the untrusted-input codecs other than JOSE: the first
 * byte picks the parser (state cookie, session record, base64url, query
 * parameters, return paths and memcached key-listing lines, discovery, token
 * response, claims, Cookie header, introspection response, revocation feed). */
#include "aoidc_claims.h"
#include "aoidc_cookie.h"
#include "aoidc_introspect.h"
#include "aoidc_provider.h"
#include "aoidc_revfeed.h"
#include "aoidc_session.h"
#include "aoidc_state.h"
#include "aoidc_store.h"
#include "aoidc_util.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* checks every pair the cookie walker reports lies inside the header */
typedef struct {
    const char *h;
    apr_size_t len;
    int pairs;
} walk_ctx_t;

static int on_pair(void *c, const char *name, apr_size_t nlen, const char *val, apr_size_t vlen)
{
    walk_ctx_t *w = c;
    if (name < w->h || name + nlen > w->h + w->len || val < w->h || val + vlen > w->h + w->len) {
        __builtin_trap();
    }
    return ++w->pairs < 1000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    static aoidc_keys_t keys, previous;
    if (!init) {
        apr_initialize();
        aoidc_keys_derive((const unsigned char *)"0123456789abcdef0123456789abcdef", 32, &keys);
        /* a key rotation under way: both keys' paths of aoidc_keys_open */
        aoidc_keys_derive((const unsigned char *)"the previous key of this fuzz target", 36, &previous);
        aoidc_keys_set_previous(&keys, &previous);
        init = 1;
    }
    if (size < 1) {
        return 0;
    }
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    char *s = apr_pstrmemdup(p, (const char *)data + 1, size - 1);
    apr_size_t n = size - 1;
    const char *err = NULL;
    switch (data[0] % 10) {
    case 0: {
        aoidc_login_state_t *st;
        aoidc_state_decode(p, &keys, "aoidc_state_AAAAAAAAAAAAAAAA", s, &st);
        aoidc_state_param_ok(s);
        break;
    }
    case 1: {
        aoidc_session_t sess;
        aoidc_session_decode(p, &keys, "k", (const unsigned char *)data + 1, n, &sess);
        aoidc_session_id_ok(s);
        break;
    }
    case 2: {
        unsigned char *out;
        apr_size_t olen;
        aoidc_b64url_decode(p, s, strlen(s), 65536, &out, &olen);
        break;
    }
    case 3: {
        const char *v;
        aoidc_query_param(p, s, "state", &v);
        aoidc_query_param(p, s, "code", &v);
        aoidc_is_local_path(s);
        /* a line of memcached's key listing (the resync of a returned server),
         * on the input's own bytes: nothing past them may be read */
        const char *key;
        long long exp;
        if (aoidc_store_metadump_line(p, (const char *)data + 1, n, &key, &exp) &&
            (!*key || strlen(key) > AOIDC_STORE_KEY_MAX)) {
            __builtin_trap();
        }
        break;
    }
    case 4: {
        aoidc_provider_meta_t *m;
        aoidc_provider_parse_discovery(p, s, n, "https://op.example", &m, &err);
        break;
    }
    case 5: {
        aoidc_tokens_t t;
        aoidc_provider_parse_token_response(p, s, n, &t, &err);
        break;
    }
    case 6: {
        json_error_t je;
        json_t *o = json_loadb(s, n, 0, &je);
        if (o) {
            int dropped;
            apr_array_header_t *a = aoidc_claims_flatten(p, o, &dropped);
            json_decref(o);
            /* every name is a path a Require line can name; values bounded */
            for (int i = 0; i < a->nelts; i++) {
                const aoidc_claim_t *c = &APR_ARRAY_IDX(a, i, aoidc_claim_t);
                if (!aoidc_claim_path_ok(c->name) || strlen(c->value) > AOIDC_CLAIM_VALUE_MAX) {
                    __builtin_trap();
                }
                const char *plain = aoidc_claim_path_plain(p, c->name);
                if (strlen(plain) > strlen(c->name) || strchr(plain, '\\')) {
                    __builtin_trap();
                }
            }
            if (a->nelts > AOIDC_CLAIMS_MAX) {
                __builtin_trap();
            }
        }
        aoidc_claim_req_t *req = aoidc_claim_req_parse(p, s, &err);
        if (req && (!aoidc_claim_path_ok(req->name) || strchr(req->name, ':'))) {
            __builtin_trap();
        }
        if (aoidc_claim_path_ok(s)) {
            aoidc_claim_path_plain(p, s);
        }
        break;
    }
    case 7: {
        walk_ctx_t w = {s, strlen(s), 0};
        aoidc_cookie_walk(s, on_pair, &w);
        break;
    }
    case 8: {
        /* parse, check, and the cached record's round trip */
        aoidc_introspection_t t, back;
        const char *why;
        apr_int64_t until;
        unsigned char *enc;
        apr_size_t enclen;
        if (aoidc_introspect_parse(p, s, n, "https://op.example", 1000, &t, &why) != AOIDC_INTROSPECT_ERROR) {
            aoidc_introspect_rc_t rc = aoidc_introspect_check(&t, "https://api.example", 1000, &why);
            if (aoidc_introspect_encode(p, &keys, "k", "main", &t, 1000, 1300, &enc, &enclen) == APR_SUCCESS) {
                if (aoidc_introspect_decode(p, &keys, "k", "main", enc, enclen, &back, &until) != APR_SUCCESS ||
                    aoidc_introspect_check(&back, "https://api.example", 1000, &why) != rc) {
                    __builtin_trap(); /* a cached answer must judge as the fresh one */
                }
            }
        }
        break;
    }
    case 9: {
        /* a feed read from the store: what parses formats back to itself */
        aoidc_revfeed_t f, again;
        if (aoidc_revfeed_parse(p, (const char *)data + 1, n, &f) == APR_SUCCESS) {
            apr_size_t flen;
            char *text = aoidc_revfeed_format(p, &f, &flen);
            if (f.n > AOIDC_REVFEED_MAX || aoidc_revfeed_parse(p, text, flen, &again) != APR_SUCCESS ||
                again.n != f.n || again.next != f.next || strcmp(again.gen, f.gen) != 0) {
                __builtin_trap();
            }
        }
        break;
    }
    }
    apr_pool_destroy(p);
    return 0;
}
