/* aoidc_request: client input of our own URIs (callback query, return and
 * post-logout targets, back-channel form body, the logout same-origin rule).
 * Inputs are exact-size malloc'd copies so that ASan sees any read past them. */
#include "unit.h"
#include "aoidc_request.h"
#include "aoidc_state.h"

#include <stdlib.h>
#include <string.h>

#define STATE "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456" /* 43 characters */

/* a NUL-terminated malloc'd copy (the callers get C strings from httpd) */
static char *dup_c(const char *s)
{
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    memcpy(c, s, n + 1);
    return c;
}

static aoidc_cb_parse_t cb_parse(apr_pool_t *p, const char *q, aoidc_callback_t *cb)
{
    char *c = q ? dup_c(q) : NULL;
    aoidc_cb_parse_t rc = aoidc_callback_parse(p, c, cb);
    free(c);
    return rc;
}

static void test_callback_parse(void **state)
{
    apr_pool_t *p = *state;
    aoidc_callback_t cb;
    assert_int_equal(cb_parse(p, "code=c%2B1&state=" STATE "&iss=http%3A%2F%2Fop", &cb), AOIDC_CB_OK);
    assert_string_equal(cb.state, STATE);
    assert_string_equal(cb.code, "c+1");
    assert_string_equal(cb.iss, "http://op");
    assert_null(cb.error);
    assert_null(cb.error_description);
    assert_int_equal(cb_parse(p, "state=" STATE "&error=access_denied&error_description=no+way", &cb), AOIDC_CB_OK);
    assert_string_equal(cb.error, "access_denied");
    assert_string_equal(cb.error_description, "no way");
    assert_null(cb.code);
    assert_null(cb.iss);
    /* no or bad state */
    assert_int_equal(cb_parse(p, NULL, &cb), AOIDC_CB_NO_STATE);
    assert_int_equal(cb_parse(p, "", &cb), AOIDC_CB_NO_STATE);
    assert_int_equal(cb_parse(p, "code=x", &cb), AOIDC_CB_NO_STATE);
    assert_int_equal(cb_parse(p, "state=short&code=x", &cb), AOIDC_CB_NO_STATE);
    assert_int_equal(cb_parse(p, "state=" STATE "A&code=x", &cb), AOIDC_CB_NO_STATE);
    assert_int_equal(cb_parse(p, "state=" STATE "%00&code=x", &cb), AOIDC_CB_MALFORMED);
    assert_int_equal(cb_parse(p, "state=abcdefghijklmnopqrstuvwxyzABCDEFGHIJ012345%21", &cb), AOIDC_CB_NO_STATE);
    /* every protocol parameter at most once */
    static const char *dups[] = {"state=" STATE "&state=" STATE, "state=" STATE "&code=a&code=b",
                                 "state=" STATE "&error=a&error=a", "state=" STATE "&iss=a&iss=a",
                                 "state=" STATE "&error_description=a&error_description=b",
                                 "state=" STATE "&code=%zz", "state=" STATE "&code=%2"};
    for (size_t i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
        assert_int_equal(cb_parse(p, dups[i], &cb), AOIDC_CB_MALFORMED);
    }
    /* unknown parameters are ignored, prefixes are not names */
    assert_int_equal(cb_parse(p, "x=1&codes=2&state=" STATE "&&=&session_state=z", &cb), AOIDC_CB_OK);
    assert_null(cb.code);
    /* the length limit is checked first */
    char *q = malloc(AOIDC_CALLBACK_QUERY_MAX + 2);
    memset(q, 'a', AOIDC_CALLBACK_QUERY_MAX + 1);
    q[AOIDC_CALLBACK_QUERY_MAX + 1] = '\0';
    assert_int_equal(aoidc_callback_parse(p, q, &cb), AOIDC_CB_TOO_LONG);
    q[AOIDC_CALLBACK_QUERY_MAX] = '\0';
    assert_int_equal(aoidc_callback_parse(p, q, &cb), AOIDC_CB_NO_STATE);
    free(q);
    /* provider text kept for the log is bounded */
    char *big = malloc(1024);
    strcpy(big, "state=" STATE "&error=");
    size_t n = strlen(big);
    memset(big + n, 'e', 600);
    big[n + 600] = '\0';
    assert_int_equal(cb_parse(p, big, &cb), AOIDC_CB_OK);
    assert_int_equal(strlen(cb.error), AOIDC_ERROR_TEXT_MAX);
    free(big);
    assert_string_equal(aoidc_cb_parse_str(AOIDC_CB_TOO_LONG), "query too long");
}

static void test_code_usable(void **state)
{
    (void)state;
    assert_false(aoidc_callback_code_usable(NULL));
    assert_false(aoidc_callback_code_usable(""));
    assert_true(aoidc_callback_code_usable("x"));
    char *c = malloc(AOIDC_CODE_MAX + 2);
    memset(c, 'c', AOIDC_CODE_MAX);
    c[AOIDC_CODE_MAX] = '\0';
    assert_true(aoidc_callback_code_usable(c));
    c[AOIDC_CODE_MAX] = 'c';
    c[AOIDC_CODE_MAX + 1] = '\0';
    assert_false(aoidc_callback_code_usable(c));
    free(c);
}

static void test_return_target(void **state)
{
    (void)state;
    static const struct {
        const char *uri, *want;
    } cases[] = {
        {"/app/page?x=1#f", "/app/page?x=1#f"},
        {"/", "/"},
        {"/a%2Fb", "/a%2Fb"},
        /* open redirects: every one falls back to "/" */
        {"//evil.example/", "/"},
        {"/\\evil.example", "/"},
        {"\\\\evil.example", "/"},
        {"/\\/evil.example", "/"},
        {"/%2F/evil.example", "/"},
        {"/%2f/evil.example", "/"},
        {"/%5C/evil.example", "/"},
        {"/%5cevil.example", "/"},
        {"/\t/evil.example", "/"},
        {"/\r\n/evil.example", "/"},
        {"/a\\b", "/"},
        {"/ /evil", "/"},
        {"https://evil.example/", "/"},
        {"http:/evil.example", "/"},
        {"evil.example", "/"},
        {"javascript:alert(1)", "/"},
        {"", "/"},
        {"/\x7f", "/"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *u = dup_c(cases[i].uri);
        const char *got = aoidc_return_target(u);
        if (strcmp(got, cases[i].want) != 0) {
            free(u);
            fail_msg("aoidc_return_target(case %zu) = \"%s\"", i, got);
        }
        free(u);
    }
    assert_string_equal(aoidc_return_target(NULL), "/");
    char *big = malloc(AOIDC_STATE_RETURN_MAX + 2);
    memset(big, 'a', AOIDC_STATE_RETURN_MAX + 1);
    big[0] = '/';
    big[AOIDC_STATE_RETURN_MAX + 1] = '\0';
    assert_string_equal(aoidc_return_target(big), "/");
    big[AOIDC_STATE_RETURN_MAX] = '\0';
    assert_ptr_equal(aoidc_return_target(big), big);
    free(big);
}

static int logout_target(apr_pool_t *p, const char *q, const apr_array_header_t *allowed, const char **t)
{
    char *c = q ? dup_c(q) : NULL;
    int rc = aoidc_logout_target(p, c, allowed, t);
    free(c);
    return rc;
}

static void test_logout_target(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *allowed = apr_array_make(p, 2, sizeof(const char *));
    APR_ARRAY_PUSH(allowed, const char *) = "https://app.example/bye";
    APR_ARRAY_PUSH(allowed, const char *) = "/local";
    const char *t;
    assert_int_equal(logout_target(p, NULL, allowed, &t), 1);
    assert_string_equal(t, "https://app.example/bye");
    assert_int_equal(logout_target(p, "x=1", allowed, &t), 1);
    assert_string_equal(t, "https://app.example/bye");
    assert_int_equal(logout_target(p, "return=%2Flocal", allowed, &t), 1);
    assert_string_equal(t, "/local");
    assert_int_equal(logout_target(p, "return=https%3A%2F%2Fapp.example%2Fbye", allowed, &t), 1);
    assert_string_equal(t, "https://app.example/bye");
    /* anything but an exact entry is refused: no open redirect */
    static const char *bad[] = {
        "return=https%3A%2F%2Fevil.example%2F", "return=%2F%2Fevil.example%2F", "return=%2F%5Cevil.example",
        "return=%5C%5Cevil.example", "return=%2F%09%2Fevil.example", "return=%2Flocal%09",
        "return=https%3A%2F%2Fapp.example%2Fbye.evil.example", "return=https%3A%2F%2Fapp.example%2Fbye%3Fx%3D1",
        "return=HTTPS%3A%2F%2Fapp.example%2Fbye", "return=%2FLOCAL", "return=javascript%3Aalert(1)",
        "return=", "return", "return=%2Flocal&return=%2Flocal", "return=%zz", "return=%2Flocal%00",
        "return=/local&return=https://evil.example/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = "unset";
        if (logout_target(p, bad[i], allowed, &t) != 0 || t != NULL) {
            fail_msg("logout target \"%s\" accepted", bad[i]);
        }
    }
    /* no list: "/" by default, nothing explicit allowed */
    assert_int_equal(logout_target(p, NULL, NULL, &t), 1);
    assert_string_equal(t, "/");
    assert_int_equal(logout_target(p, "return=%2F", NULL, &t), 0);
    apr_array_header_t *empty = apr_array_make(p, 1, sizeof(const char *));
    assert_int_equal(logout_target(p, "", empty, &t), 1);
    assert_string_equal(t, "/");
}

static int bcl_token(apr_pool_t *p, const char *body, size_t len, const char **t)
{
    char *c = unit_exact_copy(body, len); /* no NUL after the body */
    int rc = aoidc_backchannel_token(p, c, len, t);
    free(c);
    return rc;
}

static void test_backchannel_body(void **state)
{
    apr_pool_t *p = *state;
    const char *t;
    assert_int_equal(bcl_token(p, "logout_token=a.b.c", 18, &t), 1);
    assert_string_equal(t, "a.b.c");
    assert_int_equal(bcl_token(p, "x=1&logout_token=a%2Eb.c&y", 26, &t), 1);
    assert_string_equal(t, "a.b.c");
    /* the length given, not a NUL, ends the body */
    assert_int_equal(bcl_token(p, "logout_token=abcdef", 15, &t), 1);
    assert_string_equal(t, "ab");
    static const char *bad[] = {"", "logout_token=", "logout_token", "logout_tokens=x", "logout_token=%zz",
                                "logout_token=%00", "logout_token=a&logout_token=a", "token=a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = "unset";
        if (bcl_token(p, bad[i], strlen(bad[i]), &t) != 0 || t != NULL) {
            fail_msg("back-channel body \"%s\" accepted", bad[i]);
        }
    }
    /* an embedded NUL */
    assert_int_equal(bcl_token(p, "logout_token=a\0b", 16, &t), 0);
    assert_int_equal(aoidc_backchannel_token(p, NULL, 0, &t), 0);
    /* the size limit */
    char *big = malloc(AOIDC_BCL_BODY_MAX + 1);
    memcpy(big, "logout_token=", 13);
    memset(big + 13, 'a', AOIDC_BCL_BODY_MAX + 1 - 13);
    assert_int_equal(bcl_token(p, big, AOIDC_BCL_BODY_MAX + 1, &t), 0);
    assert_int_equal(bcl_token(p, big, AOIDC_BCL_BODY_MAX, &t), 1);
    assert_int_equal(strlen(t), AOIDC_BCL_BODY_MAX - 13);
    free(big);
    /* content types */
    assert_true(aoidc_form_content_type_ok("application/x-www-form-urlencoded"));
    assert_true(aoidc_form_content_type_ok("Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
    assert_true(aoidc_form_content_type_ok("application/x-www-form-urlencoded ;charset=utf-8"));
    assert_false(aoidc_form_content_type_ok(NULL));
    assert_false(aoidc_form_content_type_ok(""));
    assert_false(aoidc_form_content_type_ok("application/json"));
    assert_false(aoidc_form_content_type_ok("application/x-www-form-urlencodedx"));
    assert_false(aoidc_form_content_type_ok("application/x-www-form"));
    assert_false(aoidc_form_content_type_ok("multipart/form-data"));
}

#define OURS "http://app.example:8080"

static void test_same_origin(void **state)
{
    (void)state;
    assert_true(aoidc_origin_is(OURS, "http://app.example:8080"));
    assert_true(aoidc_origin_is(OURS, "HTTP://APP.example:8080"));
    assert_false(aoidc_origin_is(OURS, "null"));
    assert_false(aoidc_origin_is(OURS, "http://app.example:8080/"));
    assert_false(aoidc_origin_is(OURS, "http://app.example:8080.evil.example"));
    assert_false(aoidc_origin_is(OURS, "https://app.example:8080"));
    assert_false(aoidc_origin_is(OURS, "http://app.example"));
    assert_false(aoidc_origin_is(OURS, NULL));
    assert_false(aoidc_origin_is(NULL, "x"));
    assert_false(aoidc_origin_is("", ""));
    assert_true(aoidc_referer_is(OURS, "http://app.example:8080/page?x"));
    assert_true(aoidc_referer_is(OURS, "http://app.example:8080"));
    assert_true(aoidc_referer_is(OURS, "http://app.example:8080?q"));
    assert_false(aoidc_referer_is(OURS, "http://app.example:80801/"));
    assert_false(aoidc_referer_is(OURS, "http://app.example:8080.evil.example/"));
    assert_false(aoidc_referer_is(OURS, "http://app.example:8080@evil.example/"));
    assert_false(aoidc_referer_is(OURS, "https://evil.example/http://app.example:8080/"));
    assert_false(aoidc_referer_is(OURS, "http://app.example"));
    assert_false(aoidc_referer_is(OURS, NULL));
}

static void test_logout_xsite(void **state)
{
    (void)state;
    /* GET */
    assert_int_equal(aoidc_logout_xsite(0, NULL, NULL, NULL, OURS), AOIDC_XS_ALLOW);
    assert_int_equal(aoidc_logout_xsite(0, NULL, NULL, "https://evil.example/", OURS), AOIDC_XS_ALLOW);
    assert_int_equal(aoidc_logout_xsite(0, "same-origin", NULL, NULL, OURS), AOIDC_XS_ALLOW);
    assert_int_equal(aoidc_logout_xsite(0, "none", NULL, NULL, OURS), AOIDC_XS_ALLOW);
    assert_int_equal(aoidc_logout_xsite(0, "cross-site", NULL, NULL, OURS), AOIDC_XS_CONFIRM);
    assert_int_equal(aoidc_logout_xsite(0, "Cross-Site", NULL, "https://evil.example/", OURS), AOIDC_XS_CONFIRM);
    assert_int_equal(aoidc_logout_xsite(0, "same-site", NULL, NULL, OURS), AOIDC_XS_CONFIRM);
    assert_int_equal(aoidc_logout_xsite(0, "cross-site", "null", NULL, OURS), AOIDC_XS_CONFIRM);
    assert_int_equal(aoidc_logout_xsite(0, "cross-site", NULL, OURS "/x", OURS), AOIDC_XS_ALLOW);
    assert_int_equal(aoidc_logout_xsite(0, "cross-site", OURS, NULL, OURS), AOIDC_XS_ALLOW);
    /* POST */
    assert_int_equal(aoidc_logout_xsite(1, "same-origin", OURS, NULL, OURS), AOIDC_XS_ALLOW);
    assert_int_equal(aoidc_logout_xsite(1, NULL, OURS, NULL, OURS), AOIDC_XS_ALLOW);
    assert_int_equal(aoidc_logout_xsite(1, NULL, NULL, NULL, OURS), AOIDC_XS_ALLOW);
    assert_int_equal(aoidc_logout_xsite(1, NULL, NULL, OURS "/", OURS), AOIDC_XS_ALLOW);
    assert_int_equal(aoidc_logout_xsite(1, "cross-site", OURS, NULL, OURS), AOIDC_XS_REFUSE);
    assert_int_equal(aoidc_logout_xsite(1, "same-site", NULL, NULL, OURS), AOIDC_XS_REFUSE);
    assert_int_equal(aoidc_logout_xsite(1, "none", NULL, NULL, OURS), AOIDC_XS_REFUSE);
    assert_int_equal(aoidc_logout_xsite(1, NULL, "https://evil.example", OURS "/", OURS), AOIDC_XS_REFUSE);
    assert_int_equal(aoidc_logout_xsite(1, NULL, "null", NULL, OURS), AOIDC_XS_REFUSE);
    assert_int_equal(aoidc_logout_xsite(1, "same-origin", "https://evil.example", NULL, OURS), AOIDC_XS_REFUSE);
    assert_int_equal(aoidc_logout_xsite(1, NULL, NULL, "https://evil.example/", OURS), AOIDC_XS_REFUSE);
}

static int nav(const char *mode, const char *xrw, const char *accept, int is_get)
{
    char *m = mode ? dup_c(mode) : NULL, *x = xrw ? dup_c(xrw) : NULL, *a = accept ? dup_c(accept) : NULL;
    int rc = aoidc_request_is_navigation(m, x, a, is_get);
    free(m);
    free(x);
    free(a);
    return rc;
}

static void test_is_navigation(void **state)
{
    (void)state;
    assert_true(nav("navigate", NULL, NULL, 1));
    assert_true(nav("Navigate", "XMLHttpRequest", "application/json", 0)); /* Sec-Fetch-Mode decides */
    assert_false(nav("cors", NULL, "text/html", 1));
    assert_false(nav("no-cors", NULL, NULL, 1));
    assert_false(nav("", NULL, NULL, 1));
    assert_false(nav(NULL, "XMLHttpRequest", "text/html", 1));
    assert_false(nav(NULL, "xmlhttprequest", NULL, 1));
    assert_false(nav(NULL, NULL, "application/json", 1));
    assert_true(nav(NULL, NULL, "TEXT/HTML,application/xhtml+xml", 1));
    assert_true(nav(NULL, NULL, "application/json, */*;q=0.1", 1));
    assert_true(nav(NULL, NULL, NULL, 1));
    assert_true(nav(NULL, "fetch", "", 1) == 0); /* an empty Accept names no page */
    assert_false(nav(NULL, NULL, NULL, 0));     /* a POST is never sent away */
    assert_false(nav(NULL, NULL, "text/html", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UNIT_TEST(test_callback_parse), UNIT_TEST(test_code_usable),      UNIT_TEST(test_return_target),
        UNIT_TEST(test_logout_target),  UNIT_TEST(test_backchannel_body), UNIT_TEST(test_same_origin),
        UNIT_TEST(test_logout_xsite),  UNIT_TEST(test_is_navigation),
    };
    return UNIT_RUN("request", tests);
}
