/* libFuzzer target for the single-page app helpers of the core:
 *  - aoidc_csrf_token_ok with any presented bytes (header or cookie value):
 *    never true but for the session's own token, which is always true;
 *  - aoidc_csrf_check with the input split at NUL into Sec-Fetch-Site,
 *    Origin and token: OK only with the session's token and no foreign site;
 *  - aoidc_backend_token_ok (the access token as a header value);
 *  - aoidc_provider_parse_refresh_response with the whole input as the provider's
 *    answer: a success always has an access token and no NUL inside;
 *  - aoidc_binding_check with client text: never OK for another User-Agent;
 *  - aoidc_refresh_merge_userinfo with the input as a userinfo answer: at
 *    most AOIDC_CLAIMS_MAX pairs, the values of one name adjacent;
 *  - aoidc_sessinfo_json with provider claim values (any bytes, split at
 *    NUL into name/value pairs): always valid, ASCII-only JSON.
 * The input is copied into a malloc'd buffer of its exact size. */
#include "aoidc_backend.h"
#include "aoidc_binding.h"
#include "aoidc_csrf.h"
#include "aoidc_refresh.h"
#include "aoidc_sessinfo.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    static aoidc_keys_t keys;
    if (!init) {
        apr_initialize();
        unsigned char secret[32];
        memset(secret, 7, sizeof(secret));
        aoidc_keys_derive(secret, sizeof(secret), &keys);
        init = 1;
    }
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    char *in = malloc(size ? size : 1);
    memcpy(in, data, size);
    const char *key = "aoidc:s:fuzz";
    const char *mine = aoidc_csrf_token(p, &keys, key);
    int ok = aoidc_csrf_token_ok(p, &keys, key, in, size);
    if (ok != (size == strlen(mine) && memcmp(in, mine, size) == 0)) {
        abort();
    }
    if (!aoidc_csrf_token_ok(p, &keys, key, mine, strlen(mine))) {
        abort();
    }
    aoidc_tokens_t tok;
    const char *err = NULL;
    if (aoidc_provider_parse_refresh_response(p, in, size, &tok, &err) == APR_SUCCESS) {
        if (!tok.access_token || !*tok.access_token || tok.expires_in < 0) {
            abort();
        }
    }
    else if (!err) {
        abort();
    }
    json_error_t jerr;
    json_t *ui = json_loadb(in, size, JSON_REJECT_DUPLICATES, &jerr);
    if (json_is_object(ui)) {
        static const aoidc_claim_t old[] = {{"groups", "a"}, {"groups", "b"}, {"email", "e"}, {"name", "n"}};
        apr_array_header_t *m = aoidc_refresh_merge_userinfo(p, old, 4, ui, NULL);
        const aoidc_claim_t *c = (const aoidc_claim_t *)m->elts;
        if (m->nelts > AOIDC_CLAIMS_MAX) {
            abort();
        }
        for (int i = 1; i < m->nelts; i++) {
            if (strcmp(c[i].name, c[i - 1].name) != 0) {
                for (int j = i + 1; j < m->nelts; j++) {
                    if (strcmp(c[j].name, c[i - 1].name) == 0) {
                        abort(); /* a name seen again after another one */
                    }
                }
            }
        }
    }
    json_decref(ui);
    /* claims: NUL-separated name, value, name, value ... */
    aoidc_claim_t claims[16];
    int n = 0;
    char *z = apr_pstrmemdup(p, in, size); /* NUL-terminated copy */
    apr_size_t off = 0;
    while (off < size && n < 16) {
        const char *name = z + off;
        off += strlen(name) + 1;
        const char *val = off < size ? z + off : "";
        off += strlen(val) + 1;
        claims[n++] = (aoidc_claim_t){name, val};
    }
    /* the check: Sec-Fetch-Site, Origin, token from the first three pieces */
    const char *piece[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3 && i < n * 2; i++) {
        piece[i] = i % 2 == 0 ? claims[i / 2].name : claims[i / 2].value;
    }
    aoidc_csrf_verdict_t v =
        aoidc_csrf_check(p, &keys, key, piece[0], piece[1], "https://app.example", piece[2]);
    if (v == AOIDC_CSRF_OK && (!piece[2] || strcmp(piece[2], mine) != 0)) {
        abort();
    }
    (void)aoidc_csrf_method_unsafe(z);
    /* a token from the provider as a header value: never one with a blank or a control */
    if (aoidc_backend_token_ok(z) && strpbrk(z, " \t\r\n\x7f")) {
        abort();
    }
    if (aoidc_binding_check(AOIDC_BIND_UA_IP, piece[0], piece[1], piece[2], piece[1]) == AOIDC_BIND_OK &&
        strncmp(piece[0] ? piece[0] : "", piece[2] ? piece[2] : "", AOIDC_BINDING_UA_MAX) != 0) {
        abort();
    }
    (void)aoidc_binding_same_net(piece[0], piece[1]);
    apr_array_header_t *names = apr_array_make(p, n + 1, sizeof(const char *));
    for (int i = 0; i < n; i++) {
        APR_ARRAY_PUSH(names, const char *) = claims[i].name;
    }
    aoidc_session_t s = {0};
    s.sub = n ? claims[0].value : "";
    s.provider = "main";
    s.claims = claims;
    s.nclaims = n;
    s.last_seen = size;
    s.expires = (apr_int64_t)size * 3;
    char *out = aoidc_sessinfo_json(p, &s, 60, names, mine);
    if (out) {
        for (const char *c = out; *c; c++) {
            if ((unsigned char)*c >= 0x80 || (unsigned char)*c < 0x20) {
                abort();
            }
        }
        json_error_t e;
        json_t *j = json_loads(out, 0, &e);
        if (!j) {
            abort();
        }
        json_decref(j);
    }
    free(in);
    apr_pool_destroy(p);
    return 0;
}
