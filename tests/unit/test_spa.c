/* Single-page app helpers of the core: the CSRF token derived from the
 * session (aoidc_csrf.c) and the session info JSON (aoidc_sessinfo.c).
 * Presented tokens are malloc'd to their exact sizes so that ASan sees any
 * read past them. */
#include "unit.h"
#include "aoidc_backend.h"
#include "aoidc_binding.h"
#include "aoidc_csrf.h"
#include "aoidc_refresh.h"
#include "aoidc_sessinfo.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static aoidc_keys_t keys_of(char fill)
{
    unsigned char secret[32];
    memset(secret, fill, sizeof(secret));
    aoidc_keys_t k;
    assert_int_equal(aoidc_keys_derive(secret, sizeof(secret), &k), APR_SUCCESS);
    return k;
}

static int ok_exact(apr_pool_t *p, const aoidc_keys_t *k, const char *key, const char *tok)
{
    size_t n = strlen(tok);
    char *m = malloc(n ? n : 1);
    memcpy(m, tok, n);
    int ok = aoidc_csrf_token_ok(p, k, key, m, n);
    free(m);
    return ok;
}

static void test_csrf_token(void **state)
{
    apr_pool_t *p = *state;
    aoidc_keys_t a = keys_of('a'), b = keys_of('b');
    const char *t1 = aoidc_csrf_token(p, &a, "aoidc:s:one");
    const char *t2 = aoidc_csrf_token(p, &a, "aoidc:s:two");
    assert_non_null(t1);
    assert_int_equal(strlen(t1), AOIDC_CSRF_TOKEN_LEN);
    assert_string_equal(t1, aoidc_csrf_token(p, &a, "aoidc:s:one"));     /* stable */
    assert_string_not_equal(t1, t2);                                     /* per session */
    assert_string_not_equal(t1, aoidc_csrf_token(p, &b, "aoidc:s:one")); /* per key */
    assert_true(ok_exact(p, &a, "aoidc:s:one", t1));
    assert_false(ok_exact(p, &a, "aoidc:s:two", t1)); /* another session's token */
    assert_false(ok_exact(p, &b, "aoidc:s:one", t1));
    /* wrong lengths, one character off, empty, absent */
    char *bad = apr_pstrdup(p, t1);
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    assert_false(ok_exact(p, &a, "aoidc:s:one", bad));
    assert_false(ok_exact(p, &a, "aoidc:s:one", apr_pstrndup(p, t1, 42)));
    assert_false(ok_exact(p, &a, "aoidc:s:one", apr_pstrcat(p, t1, "x", NULL)));
    assert_false(ok_exact(p, &a, "aoidc:s:one", ""));
    assert_false(aoidc_csrf_token_ok(p, &a, "aoidc:s:one", NULL, 0));
    /* a store key longer than ours has no token */
    char longkey[200];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    assert_null(aoidc_csrf_token(p, &a, longkey));
    assert_false(aoidc_csrf_token_ok(p, &a, longkey, t1, strlen(t1)));
}

static void test_csrf_rotation(void **state)
{
    apr_pool_t *p = *state;
    aoidc_keys_t a = keys_of('a'), b = keys_of('b');
    const char *old = aoidc_csrf_token(p, &a, "aoidc:s:one");
    assert_int_equal(aoidc_keys_set_previous(&b, &a), APR_SUCCESS);
    /* during a rotation: tokens under the old key still pass, new ones are issued */
    assert_true(ok_exact(p, &b, "aoidc:s:one", old));
    const char *cur = aoidc_csrf_token(p, &b, "aoidc:s:one");
    assert_string_not_equal(cur, old);
    assert_true(ok_exact(p, &b, "aoidc:s:one", cur));
}

static void test_csrf_check(void **state)
{
    apr_pool_t *p = *state;
    aoidc_keys_t a = keys_of('a');
    const char *key = "aoidc:s:one", *us = "https://app.example";
    const char *tok = aoidc_csrf_token(p, &a, key);
    static const struct {
        const char *sfs, *origin;
        int with_token;
        aoidc_csrf_verdict_t want;
    } cases[] = {
        {NULL, NULL, 1, AOIDC_CSRF_OK},
        {"same-origin", "https://app.example", 1, AOIDC_CSRF_OK},
        {"same-origin", "HTTPS://APP.EXAMPLE", 1, AOIDC_CSRF_OK},
        {"same-site", NULL, 1, AOIDC_CSRF_OK},
        {"none", NULL, 1, AOIDC_CSRF_OK},
        {NULL, NULL, 0, AOIDC_CSRF_MISSING},
        {"cross-site", NULL, 1, AOIDC_CSRF_CROSS_SITE},
        {"Cross-Site", "https://app.example", 1, AOIDC_CSRF_CROSS_SITE},
        {NULL, "https://evil.example", 1, AOIDC_CSRF_CROSS_SITE},
        {NULL, "null", 1, AOIDC_CSRF_CROSS_SITE},
        {NULL, "https://app.example.evil", 1, AOIDC_CSRF_CROSS_SITE},
        {NULL, "https://app.example:443", 1, AOIDC_CSRF_CROSS_SITE},
        {NULL, "", 1, AOIDC_CSRF_CROSS_SITE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aoidc_csrf_verdict_t v =
            aoidc_csrf_check(p, &a, key, cases[i].sfs, cases[i].origin, us, cases[i].with_token ? tok : NULL);
        if (v != cases[i].want) {
            fail_msg("case %zu: %s, want %s", i, aoidc_csrf_verdict_str(v),
                     aoidc_csrf_verdict_str(cases[i].want));
        }
    }
    assert_int_equal(aoidc_csrf_check(p, &a, key, NULL, NULL, us, "x"), AOIDC_CSRF_MISMATCH);
    assert_int_equal(aoidc_csrf_check(p, &a, "aoidc:s:two", NULL, NULL, us, tok), AOIDC_CSRF_MISMATCH);
    /* no origin of ours known: any Origin is foreign */
    assert_int_equal(aoidc_csrf_check(p, &a, key, NULL, "https://app.example", NULL, tok),
                     AOIDC_CSRF_CROSS_SITE);
}

static void test_csrf_methods(void **state)
{
    static const char *const safe[] = {"GET", "HEAD", "OPTIONS", "TRACE"};
    static const char *const unsafe[] = {"POST", "PUT", "PATCH", "DELETE", "get", "PROPFIND", "", "GETX"};
    for (size_t i = 0; i < 4; i++) {
        assert_false(aoidc_csrf_method_unsafe(safe[i]));
    }
    for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
        assert_true(aoidc_csrf_method_unsafe(unsafe[i]));
    }
    assert_true(aoidc_csrf_method_unsafe(NULL));
}

static void test_token_header_value(void **state)
{
    assert_true(aoidc_backend_token_ok("eyJhbGciOi.J9x-_~+/="));
    assert_false(aoidc_backend_token_ok(NULL));
    assert_false(aoidc_backend_token_ok(""));
    assert_false(aoidc_backend_token_ok("a b"));
    assert_false(aoidc_backend_token_ok("a\r\nSet-Cookie: x"));
    assert_false(aoidc_backend_token_ok("a\x7f"));
    assert_false(aoidc_backend_token_ok("\xc3\xa9"));
    char *big = malloc(AOIDC_ACCESS_TOKEN_MAX + 2);
    memset(big, 'a', AOIDC_ACCESS_TOKEN_MAX + 1);
    big[AOIDC_ACCESS_TOKEN_MAX + 1] = '\0';
    assert_false(aoidc_backend_token_ok(big));
    big[AOIDC_ACCESS_TOKEN_MAX] = '\0';
    assert_true(aoidc_backend_token_ok(big));
    free(big);
}

static void test_refresh_due(void **state)
{
    aoidc_session_t s = {0};
    s.refresh_token = "rt";
    s.access_token_exp = 1000;
    assert_false(aoidc_refresh_due(&s, 0, 999)); /* off */
    assert_false(aoidc_refresh_due(&s, -1, 999));
    assert_false(aoidc_refresh_due(&s, 60, 939)); /* 61 s left */
    assert_true(aoidc_refresh_due(&s, 60, 940));  /* 60 s left */
    assert_true(aoidc_refresh_due(&s, 60, 5000)); /* expired */
    s.access_token_exp = 0;                       /* expiry unknown */
    assert_false(aoidc_refresh_due(&s, 60, 5000));
    s.access_token_exp = 1000;
    s.refresh_token = "";
    assert_false(aoidc_refresh_due(&s, 60, 5000));
    s.refresh_token = NULL;
    assert_false(aoidc_refresh_due(&s, 60, 5000));
}

static void test_refresh_lock_key(void **state)
{
    apr_pool_t *p = *state;
    assert_string_equal(aoidc_refresh_lock_key(p, "aoidc:s:abc123"), "aoidc:rl:abc123");
    assert_null(aoidc_refresh_lock_key(p, "aoidc:s:"));
    assert_null(aoidc_refresh_lock_key(p, "other:abc"));
    assert_null(aoidc_refresh_lock_key(p, NULL));
}

static void test_refresh_parse(void **state)
{
    apr_pool_t *p = *state;
    aoidc_tokens_t t;
    const char *err = NULL;
    static const char ok[] = "{\"access_token\":\"at2\",\"token_type\":\"bearer\",\"expires_in\":300,"
                             "\"refresh_token\":\"rt2\"}";
    assert_int_equal(aoidc_provider_parse_refresh_response(p, ok, sizeof(ok) - 1, &t, &err), APR_SUCCESS);
    assert_string_equal(t.access_token, "at2");
    assert_string_equal(t.refresh_token, "rt2");
    assert_null(t.id_token);
    assert_int_equal(t.expires_in, 300);
    /* no rotation, no expiry: fine */
    static const char min[] = "{\"access_token\":\"at2\",\"token_type\":\"Bearer\"}";
    assert_int_equal(aoidc_provider_parse_refresh_response(p, min, sizeof(min) - 1, &t, &err), APR_SUCCESS);
    assert_null(t.refresh_token);
    assert_int_equal(t.expires_in, 0);
    static const struct {
        const char *body;
        apr_status_t want;
    } bad[] = {
        {"{\"error\":\"invalid_grant\"}", APR_EGENERAL},
        {"{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"error\":\"x\"}", APR_EGENERAL},
        {"{\"token_type\":\"Bearer\"}", APR_EINVAL},
        {"{\"access_token\":\"a\"}", APR_EINVAL},
        {"{\"access_token\":\"a\",\"token_type\":\"DPoP\"}", APR_EINVAL},
        {"{\"access_token\":\"a\",\"access_token\":\"b\",\"token_type\":\"Bearer\"}", APR_EINVAL},
        {"{\"access_token\":\"a\\u0000b\",\"token_type\":\"Bearer\"}", APR_EINVAL},
        {"{\"access_token\":7,\"token_type\":\"Bearer\"}", APR_EINVAL},
        {"[]", APR_EINVAL},
        {"", APR_EINVAL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = strlen(bad[i].body);
        char *b = malloc(n ? n : 1);
        memcpy(b, bad[i].body, n);
        apr_status_t rv = aoidc_provider_parse_refresh_response(p, b, n, &t, &err);
        free(b);
        if (rv != bad[i].want) {
            fail_msg("case %zu (%s): %d", i, bad[i].body, rv);
        }
    }
    /* a negative or absurd expires_in is no expiry */
    static const char neg[] = "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"expires_in\":-5}";
    assert_int_equal(aoidc_provider_parse_refresh_response(p, neg, sizeof(neg) - 1, &t, &err), APR_SUCCESS);
    assert_int_equal(t.expires_in, 0);
    assert_int_equal(aoidc_provider_parse_refresh_response(p, ok, AOIDC_TOKEN_BODY_MAX + 1, &t, &err), APR_EINVAL);
}

static void test_refresh_apply(void **state)
{
    aoidc_session_t s = {0};
    s.access_token = "at1";
    s.refresh_token = "rt1";
    s.id_token = "it1";
    aoidc_tokens_t t = {.access_token = "at2", .expires_in = 300, .id_token = "it2"};
    aoidc_refresh_apply(&s, &t, 1000);
    assert_string_equal(s.access_token, "at2");
    assert_int_equal(s.access_token_exp, 1300);
    assert_string_equal(s.refresh_token, "rt1"); /* not rotated: kept */
    assert_string_equal(s.id_token, "it1");      /* the one checked at login */
    t.refresh_token = "rt2";
    t.expires_in = 0;
    aoidc_refresh_apply(&s, &t, 2000);
    assert_string_equal(s.refresh_token, "rt2");
    assert_int_equal(s.access_token_exp, 0);
}

static void test_binding(void **state)
{
    assert_int_equal(aoidc_binding_check(AOIDC_BIND_NONE, "a", "1.2.3.4", "b", "9.9.9.9"), AOIDC_BIND_OK);
    assert_int_equal(aoidc_binding_check(AOIDC_BIND_UA, "a", "1.2.3.4", "a", "9.9.9.9"), AOIDC_BIND_OK);
    assert_int_equal(aoidc_binding_check(AOIDC_BIND_UA, "a", NULL, "b", NULL), AOIDC_BIND_UA_CHANGED);
    assert_int_equal(aoidc_binding_check(AOIDC_BIND_UA, "a", NULL, "ab", NULL), AOIDC_BIND_UA_CHANGED);
    assert_int_equal(aoidc_binding_check(AOIDC_BIND_UA, "", NULL, NULL, NULL), AOIDC_BIND_OK);
    assert_int_equal(aoidc_binding_check(AOIDC_BIND_UA, NULL, NULL, "x", NULL), AOIDC_BIND_UA_CHANGED);
    assert_int_equal(aoidc_binding_check(AOIDC_BIND_UA_IP, "a", "10.1.2.3", "a", "10.1.2.200"),
                     AOIDC_BIND_OK);
    assert_int_equal(aoidc_binding_check(AOIDC_BIND_UA_IP, "a", "10.1.2.3", "a", "10.1.3.3"),
                     AOIDC_BIND_IP_CHANGED);
    /* a long User-Agent is compared on the bytes login kept */
    char *ua = malloc(AOIDC_BINDING_UA_MAX + 51);
    memset(ua, 'u', AOIDC_BINDING_UA_MAX + 50);
    ua[AOIDC_BINDING_UA_MAX + 50] = '\0';
    char *kept = malloc(AOIDC_BINDING_UA_MAX + 1);
    memcpy(kept, ua, AOIDC_BINDING_UA_MAX);
    kept[AOIDC_BINDING_UA_MAX] = '\0';
    assert_int_equal(aoidc_binding_check(AOIDC_BIND_UA, kept, NULL, ua, NULL), AOIDC_BIND_OK);
    kept[5] = 'x';
    assert_int_equal(aoidc_binding_check(AOIDC_BIND_UA, kept, NULL, ua, NULL), AOIDC_BIND_UA_CHANGED);
    free(ua);
    free(kept);
    /* networks */
    assert_true(aoidc_binding_same_net("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"));
    assert_false(aoidc_binding_same_net("2001:db8:1:2::1", "2001:db8:1:3::1"));
    assert_false(aoidc_binding_same_net("10.1.2.3", "2001:db8::1"));
    assert_false(aoidc_binding_same_net("10.1.2.3", "::ffff:10.1.2.3")); /* another family */
    assert_true(aoidc_binding_same_net("unix", "unix"));
    assert_false(aoidc_binding_same_net("garbage", "garbage2"));
    assert_true(aoidc_binding_same_net(NULL, ""));
}

static void test_refresh_merge_userinfo(void **state)
{
    apr_pool_t *p = *state;
    static const aoidc_claim_t old[] = {
        {"email", "a@x"}, {"groups", "staff"}, {"groups", "admins"}, {"name", "Al"}, {"roles", "r1"},
    };
    json_error_t e;
    json_t *ui = json_loads("{\"sub\":\"alice\",\"groups\":[\"auditors\",\"staff\"],\"roles\":[],"
                            "\"name\":\"Alice\",\"sid\":\"s\"}",
                            0, &e);
    int dropped = -1;
    apr_array_header_t *m = aoidc_refresh_merge_userinfo(p, old, 5, ui, &dropped);
    json_decref(ui);
    const aoidc_claim_t *c = (const aoidc_claim_t *)m->elts;
    assert_int_equal(dropped, 0);
    assert_string_equal(aoidc_claims_get(p, c, m->nelts, "email", ","), "a@x");             /* kept */
    assert_string_equal(aoidc_claims_get(p, c, m->nelts, "groups", ","), "auditors,staff"); /* replaced */
    assert_null(aoidc_claims_get(p, c, m->nelts, "roles", ","));                            /* emptied */
    assert_string_equal(aoidc_claims_get(p, c, m->nelts, "name", ","), "Alice");
    assert_string_equal(aoidc_claims_get(p, c, m->nelts, "sub", ","), "alice");
    assert_null(aoidc_claims_get(p, c, m->nelts, "sid", ",")); /* protocol */
    /* values of one name stay adjacent */
    for (int i = 0; i < m->nelts; i++) {
        for (int j = i + 2; j < m->nelts; j++) {
            if (strcmp(c[i].name, c[j].name) == 0) {
                for (int k = i + 1; k < j; k++) {
                    assert_string_equal(c[k].name, c[i].name);
                }
            }
        }
    }
    /* the cap */
    aoidc_claim_t many[AOIDC_CLAIMS_MAX];
    for (int i = 0; i < AOIDC_CLAIMS_MAX; i++) {
        many[i] = (aoidc_claim_t){"g", "v"};
    }
    ui = json_loads("{\"extra\":\"x\",\"more\":[\"1\",\"2\"]}", 0, &e);
    m = aoidc_refresh_merge_userinfo(p, many, AOIDC_CLAIMS_MAX, ui, &dropped);
    json_decref(ui);
    assert_int_equal(m->nelts, AOIDC_CLAIMS_MAX);
    assert_int_equal(dropped, 3);
}

static void test_sessinfo_json(void **state)
{
    apr_pool_t *p = *state;
    static const aoidc_claim_t claims[] = {
        {"name", "Al \"</script>\" \xc3\xa9"},
        {"groups", "staff"},
        {"groups", "admins"},
        {"email", "a@x"},
    };
    aoidc_session_t s = {0};
    s.sub = "alice";
    s.provider = "main";
    s.created = 1000;
    s.last_seen = 1500;
    s.expires = 5000;
    s.access_token = "SECRET-AT";
    s.refresh_token = "SECRET-RT";
    s.id_token = "SECRET-IT";
    s.claims = claims;
    s.nclaims = 4;
    apr_array_header_t *names = apr_array_make(p, 4, sizeof(const char *));
    APR_ARRAY_PUSH(names, const char *) = "name";
    APR_ARRAY_PUSH(names, const char *) = "groups";
    APR_ARRAY_PUSH(names, const char *) = "missing";
    char *out = aoidc_sessinfo_json(p, &s, 3600, names, "tok");
    assert_non_null(out);
    assert_null(strstr(out, "SECRET"));
    assert_null(strstr(out, "\xc3")); /* ASCII only: non-ASCII is \u-escaped */
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "sub")), "alice");
    assert_string_equal(json_string_value(json_object_get(j, "provider")), "main");
    assert_int_equal(json_integer_value(json_object_get(j, "created")), 1000);
    assert_int_equal(json_integer_value(json_object_get(j, "expires")), 5000);
    assert_int_equal(json_integer_value(json_object_get(j, "idle_expires")), 5000); /* capped */
    assert_true(json_is_null(json_object_get(j, "access_token_expires")));
    assert_string_equal(json_string_value(json_object_get(j, "csrf_token")), "tok");
    json_t *c = json_object_get(j, "claims");
    assert_int_equal(json_object_size(c), 2);
    assert_string_equal(json_string_value(json_object_get(c, "name")), "Al \"</script>\" \xc3\xa9");
    json_t *g = json_object_get(c, "groups");
    assert_int_equal(json_array_size(g), 2);
    assert_string_equal(json_string_value(json_array_get(g, 1)), "admins");
    json_decref(j);
    /* idle end before the absolute end; a known token expiry */
    s.access_token_exp = 1800;
    j = json_loads(aoidc_sessinfo_json(p, &s, 60, NULL, NULL), 0, &e);
    assert_int_equal(json_integer_value(json_object_get(j, "idle_expires")), 1560);
    assert_int_equal(json_integer_value(json_object_get(j, "access_token_expires")), 1800);
    assert_true(json_is_null(json_object_get(j, "csrf_token")));
    assert_int_equal(json_object_size(json_object_get(j, "claims")), 0);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UNIT_TEST(test_csrf_token),    UNIT_TEST(test_csrf_rotation),          UNIT_TEST(test_csrf_check),
        UNIT_TEST(test_csrf_methods),  UNIT_TEST(test_token_header_value),     UNIT_TEST(test_binding),
        UNIT_TEST(test_refresh_due),   UNIT_TEST(test_refresh_lock_key),       UNIT_TEST(test_refresh_parse),
        UNIT_TEST(test_refresh_apply), UNIT_TEST(test_refresh_merge_userinfo), UNIT_TEST(test_sessinfo_json),
    };
    return UNIT_RUN("spa", tests);
}
