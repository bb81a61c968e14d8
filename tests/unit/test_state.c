/* aoidc_state: the login state cookie codec. */
#include "unit.h"
#include "aoidc_state.h"
#include "aoidc_util.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, keys_setup, unit_teardown),
        cmocka_unit_test_setup_teardown(test_rejects, keys_setup, unit_teardown),
        UNIT_TEST(test_state_param_shape),
        UNIT_TEST(test_pkce_rfc7636_vector),
    };
    return UNIT_RUN("state", tests);
}
