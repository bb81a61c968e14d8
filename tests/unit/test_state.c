/* aoidc_state: the login state cookie codec. */
#include "unit.h"
#include "aoidc_state.h"
#include "aoidc_util.h"

#include <stdlib.h>
#include <string.h>

static aoidc_keys_t keys, other;

static int keys_setup(void **state)
{
    aoidc_keys_derive((const unsigned char *)"0123456789abcdef0123456789abcdef", 32, &keys);
    aoidc_keys_derive((const unsigned char *)"fedcba9876543210fedcba9876543210", 32, &other);
    return unit_setup(state);
}

static void test_roundtrip(void **state)
{
    apr_pool_t *p = *state;
    aoidc_login_state_t *st, *back;
    const char *v;
    assert_int_equal(aoidc_state_new(p, "main", "/app?x=1", 1700000000, &st), APR_SUCCESS);
    assert_true(aoidc_state_param_ok(st->state));
    assert_int_equal(strlen(st->verifier), 64); /* RFC 7636: 43..128 */
    assert_int_equal(aoidc_state_encode(p, &keys, st, &v), APR_SUCCESS);
    const char *name = aoidc_state_cookie_name(p, st->state);
    assert_int_equal(strncmp(name, AOIDC_STATE_COOKIE_PREFIX, strlen(AOIDC_STATE_COOKIE_PREFIX)), 0);
    assert_int_equal(aoidc_state_decode(p, &keys, name, v, &back), APR_SUCCESS);
    assert_string_equal(back->state, st->state);
    assert_string_equal(back->nonce, st->nonce);
    assert_string_equal(back->verifier, st->verifier);
    assert_string_equal(back->return_to, "/app?x=1");
    assert_string_equal(back->provider, "main");
    assert_int_equal(back->created, 1700000000);
    /* two attempts never share anything */
    aoidc_login_state_t *st2;
    aoidc_state_new(p, "main", "/", 1700000000, &st2);
    assert_string_not_equal(st->state, st2->state);
    assert_string_not_equal(st->nonce, st2->nonce);
}

static void test_rejects(void **state)
{
    apr_pool_t *p = *state;
    aoidc_login_state_t *st, *back;
    const char *v;
    aoidc_state_new(p, "main", "/", 1700000000, &st);
    aoidc_state_encode(p, &keys, st, &v);
    const char *name = aoidc_state_cookie_name(p, st->state);
    /* another key, another cookie name (moved cookie), tampered, truncated, garbage, oversized */
    assert_int_equal(aoidc_state_decode(p, &other, name, v, &back), APR_EGENERAL);
    assert_int_equal(aoidc_state_decode(p, &keys, "aoidc_state_AAAAAAAAAAAAAAAA", v, &back), APR_EGENERAL);
    char *t = apr_pstrdup(p, v);
    t[10] = t[10] == 'A' ? 'B' : 'A';
    assert_int_not_equal(aoidc_state_decode(p, &keys, name, t, &back), APR_SUCCESS);
    assert_int_not_equal(aoidc_state_decode(p, &keys, name, apr_pstrndup(p, v, strlen(v) / 2), &back), APR_SUCCESS);
    assert_int_equal(aoidc_state_decode(p, &keys, name, "not base64!", &back), APR_EINVAL);
    assert_int_equal(aoidc_state_decode(p, &keys, name, "", &back), APR_EINVAL);
    char *big = apr_palloc(p, AOIDC_STATE_COOKIE_MAX + 2);
    memset(big, 'A', AOIDC_STATE_COOKIE_MAX + 1);
    big[AOIDC_STATE_COOKIE_MAX + 1] = '\0';
    assert_int_equal(aoidc_state_decode(p, &keys, name, big, &back), APR_ENOSPC);
}

static void test_state_param_shape(void **state)
{
    assert_false(aoidc_state_param_ok(""));
    assert_false(aoidc_state_param_ok("short"));
    assert_false(aoidc_state_param_ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA<"));
    assert_false(aoidc_state_param_ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_true(aoidc_state_param_ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-"));
}

static void test_pkce_rfc7636_vector(void **state)
{
    /* RFC 7636 appendix B */
    assert_string_equal(aoidc_pkce_challenge(*state, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

/* parse a marker from an exact-size malloc'd copy (no NUL after it): ASan
 * sees any read past the end */
static int parse_exact(apr_pool_t *p, const char *text, apr_size_t len, const char **h, const char **to)
{
    char *buf = malloc(len ? len : 1);
    memcpy(buf, text, len);
    int rc = aoidc_state_marker_parse(p, buf, len, h, to);
    free(buf);
    return rc;
}

#define HANDLE "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static void test_marker(void **state)
{
    apr_pool_t *p = *state;
    const char *h = NULL, *to = NULL;
    const char *key = aoidc_state_used_key(p, "abc");
    assert_int_equal(strncmp(key, "aoidc:l:", 8), 0);
    assert_int_equal(strlen(key), 8 + 43);
    assert_string_not_equal(key, aoidc_state_used_key(p, "abd"));
    /* the lifetime ends with the attempt's */
    aoidc_login_state_t st = {.created = 1000};
    assert_int_equal(aoidc_state_ttl_left(&st, 1000), AOIDC_STATE_TTL);
    assert_int_equal(aoidc_state_ttl_left(&st, 1000 + AOIDC_STATE_TTL - 5), 5);
    assert_int_equal(aoidc_state_ttl_left(&st, 1000 + AOIDC_STATE_TTL + 50), 1);
    assert_int_equal(aoidc_state_ttl_left(&st, 0), AOIDC_STATE_TTL);

    const char *done = aoidc_state_marker_done(p, HANDLE, "/app?x=1");
    assert_string_equal(done, "S " HANDLE " /app?x=1");
    assert_int_equal(parse_exact(p, done, strlen(done), &h, &to), 1);
    assert_string_equal(h, HANDLE);
    assert_string_equal(to, "/app?x=1");
    assert_int_equal(parse_exact(p, "P", 1, &h, &to), 0);
    /* nothing but a local path is ever written or believed */
    static const char *bad_targets[] = {"//evil", "/\\evil", "https://evil/", "/a\tb", "/a b", "", "evil"};
    for (size_t i = 0; i < sizeof(bad_targets) / sizeof(bad_targets[0]); i++) {
        assert_null(aoidc_state_marker_done(p, HANDLE, bad_targets[i]));
        const char *m = apr_pstrcat(p, "S " HANDLE " ", bad_targets[i], NULL);
        assert_int_equal(parse_exact(p, m, strlen(m), &h, &to), -1);
    }
    assert_null(aoidc_state_marker_done(p, "short", "/"));
    assert_null(aoidc_state_marker_done(p, HANDLE "A", "/"));
    assert_null(aoidc_state_marker_done(p, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!", "/"));
    char *longpath = apr_palloc(p, AOIDC_STATE_RETURN_MAX + 2);
    memset(longpath, 'a', AOIDC_STATE_RETURN_MAX + 1);
    longpath[0] = '/';
    longpath[AOIDC_STATE_RETURN_MAX + 1] = '\0';
    assert_null(aoidc_state_marker_done(p, HANDLE, longpath));
    longpath[AOIDC_STATE_RETURN_MAX] = '\0';
    assert_non_null(aoidc_state_marker_done(p, HANDLE, longpath));
    /* malformed markers, each cut at every length */
    static const char *bad[] = {"", "S", "S ", "X " HANDLE " /", "S " HANDLE "/", "S " HANDLE " ", "PP",
                                "S !AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA /", "p"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_exact(p, bad[i], strlen(bad[i]), &h, &to), -1);
    }
    for (apr_size_t n = 0; n < 2 + 43 + 2; n++) { /* shorter than "S <handle> /" */
        assert_int_equal(parse_exact(p, done, n, &h, &to), -1);
    }
    /* an embedded NUL */
    char nul[] = "S " HANDLE " /a\0b";
    assert_int_equal(parse_exact(p, nul, sizeof(nul) - 1, &h, &to), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, keys_setup, unit_teardown),
        cmocka_unit_test_setup_teardown(test_rejects, keys_setup, unit_teardown),
        UNIT_TEST(test_state_param_shape),
        UNIT_TEST(test_pkce_rfc7636_vector),
        UNIT_TEST(test_marker),
    };
    return UNIT_RUN("state", tests);
}
