/* libFuzzer target for the client input of our own URIs (aoidc_request.h)
 * and the single-use markers read back from the store (aoidc_state.h). The
 * first byte picks the parser; the rest is the input, handed over in an
 * exact-size malloc'd buffer so that ASan sees any read past it. Whatever is
 * accepted is checked against the promises of the headers (a return target
 * is a local path, a logout target is an allowed entry, ...). */
#include "aoidc_request.h"
#include "aoidc_state.h"
#include "aoidc_util.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                                      \
    do {                                                                                                              \
        if (!(c)) {                                                                                                   \
            __builtin_trap();                                                                                         \
        }                                                                                                             \
    } while (0)

/* Split s at the first '\n' into two C strings (b NULL without one). */
static void split(apr_pool_t *p, const char *s, const char **a, const char **b)
{
    const char *nl = strchr(s, '\n');
    *a = nl ? apr_pstrmemdup(p, s, (apr_size_t)(nl - s)) : s;
    *b = nl ? nl + 1 : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        apr_initialize();
        init = 1;
    }
    if (size < 1) {
        return 0;
    }
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    size_t n = size - 1;
    /* raw bytes, exactly n of them */
    char *raw = malloc(n ? n : 1);
    memcpy(raw, data + 1, n);
    /* the same as a C string (cut at a NUL), malloc'd to its exact size */
    size_t clen = strnlen(raw, n);
    char *s = malloc(clen + 1);
    memcpy(s, raw, clen);
    s[clen] = '\0';

    switch (data[0] % 8) {
    case 0: {
        aoidc_callback_t cb;
        aoidc_cb_parse_t rc = aoidc_callback_parse(p, s, &cb);
        if (rc == AOIDC_CB_OK) {
            CHECK(cb.state && aoidc_state_param_ok(cb.state));
            CHECK(!cb.error || strlen(cb.error) <= AOIDC_ERROR_TEXT_MAX);
            CHECK(!cb.error_description || strlen(cb.error_description) <= AOIDC_ERROR_TEXT_MAX);
            CHECK(strlen(s) <= AOIDC_CALLBACK_QUERY_MAX);
            if (aoidc_callback_code_usable(cb.code)) {
                CHECK(*cb.code && strlen(cb.code) <= AOIDC_CODE_MAX);
            }
        }
        aoidc_cb_parse_str(rc);
        break;
    }
    case 1: {
        const char *t = aoidc_return_target(s);
        CHECK(t && aoidc_is_local_path(t) && strlen(t) <= AOIDC_STATE_RETURN_MAX);
        CHECK(t[1] != '/' && t[1] != '\\');
        break;
    }
    case 2: {
        /* first line: the query; the rest: allowed targets, one per line */
        const char *q, *rest;
        split(p, s, &q, &rest);
        apr_array_header_t *allowed = apr_array_make(p, 4, sizeof(const char *));
        while (rest && allowed->nelts < 8) {
            const char *one;
            split(p, rest, &one, &rest);
            APR_ARRAY_PUSH(allowed, const char *) = one;
        }
        const char *t;
        if (aoidc_logout_target(p, q, allowed, &t)) {
            int listed = allowed->nelts == 0 && strcmp(t, "/") == 0;
            for (int i = 0; i < allowed->nelts; i++) {
                listed |= strcmp(APR_ARRAY_IDX(allowed, i, const char *), t) == 0;
            }
            CHECK(listed);
        }
        else {
            CHECK(t == NULL);
        }
        break;
    }
    case 3: {
        const char *t;
        if (aoidc_backchannel_token(p, raw, n, &t)) {
            CHECK(*t && strlen(t) <= n);
        }
        aoidc_form_content_type_ok(s);
        break;
    }
    case 4: {
        /* "sec-fetch-site\norigin\nreferer", the first byte of data picks the method */
        const char *sfs, *rest, *origin, *referer;
        split(p, s, &sfs, &rest);
        origin = referer = NULL;
        if (rest) {
            split(p, rest, &origin, &referer);
        }
        const char *ours = "http://app.example:8080";
        aoidc_xsite_t v = aoidc_logout_xsite((data[0] / 7) & 1, *sfs ? sfs : NULL, origin, referer, ours);
        CHECK(v == AOIDC_XS_ALLOW || v == AOIDC_XS_CONFIRM || v == AOIDC_XS_REFUSE);
        if (origin && aoidc_origin_is(ours, origin)) {
            CHECK(strlen(origin) == strlen(ours));
        }
        if (referer) {
            aoidc_referer_is(ours, referer);
        }
        break;
    }
    case 5: {
        const char *h, *to;
        int rc = aoidc_state_marker_parse(p, raw, n, &h, &to);
        if (rc == 1) {
            CHECK(strlen(h) == 43 && aoidc_is_local_path(to) && strlen(to) <= AOIDC_STATE_RETURN_MAX);
            const char *again = aoidc_state_marker_done(p, h, to);
            CHECK(again && strlen(again) == n && memcmp(again, raw, n) == 0);
        }
        break;
    }
    case 6: {
        /* the marker writer never writes what the reader refuses */
        const char *h, *to;
        split(p, s, &h, &to);
        const char *m = aoidc_state_marker_done(p, h, to ? to : "/");
        if (m) {
            const char *h2, *to2;
            CHECK(aoidc_state_marker_parse(p, m, strlen(m), &h2, &to2) == 1);
            CHECK(strcmp(h2, h) == 0);
        }
        aoidc_state_used_key(p, s);
        break;
    }
    case 7: {
        /* "sec-fetch-mode\nx-requested-with\naccept" ("-" for absent) */
        const char *mode, *rest, *xrw = NULL, *accept = NULL;
        split(p, s, &mode, &rest);
        if (rest) {
            split(p, rest, &xrw, &accept);
        }
        mode = strcmp(mode, "-") == 0 ? NULL : mode;
        int get = aoidc_request_is_navigation(mode, xrw, accept, 1);
        CHECK(aoidc_request_is_navigation(mode, xrw, accept, 0) == (mode ? get : 0));
        break;
    }
    }
    free(s);
    free(raw);
    apr_pool_destroy(p);
    return 0;
}
