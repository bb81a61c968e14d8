/* aoidc_session: record codec, store keys, expiry arithmetic. */
#include "unit.h"
#include "aoidc_session.h"
#include "aoidc_util.h"

#include <string.h>

static aoidc_keys_t keys;

static int keys_setup(void **state)
{
    aoidc_keys_derive((const unsigned char *)"0123456789abcdef0123456789abcdef", 32, &keys);
    return unit_setup(state);
}

static aoidc_session_t sample(void)
{
    static const aoidc_claim_t claims[] = {
        {"email", "alice@example.com"}, {"groups", "staff"}, {"groups", "admins"}, {"name", ""}};
    aoidc_session_t s = {0};
    s.created = 1700000000;
    s.last_seen = 1700000100;
    s.expires = 1700028800;
    s.access_token_exp = -1;
    s.provider = "main";
    s.sub = "alice";
    s.user = "alice";
    s.sid = NULL;
    s.id_token = "eyJ.header.sig";
    s.access_token = "at";
    s.node = "node-a";
    s.claims = claims;
    s.nclaims = 4;
    return s;
}

static void test_roundtrip(void **state)
{
    apr_pool_t *p = *state;
    aoidc_session_t s = sample(), back;
    const char *key = aoidc_session_store_key(p, &keys, "x");
    unsigned char *val;
    apr_size_t len;
    assert_int_equal(aoidc_session_encode(p, &keys, key, &s, &val, &len), APR_SUCCESS);
    /* nothing readable at rest */
    assert_null(memmem(val, len, "alice", 5));
    assert_null(memmem(val, len, "eyJ", 3));
    assert_int_equal(aoidc_session_decode(p, &keys, key, val, len, &back), APR_SUCCESS);
    assert_int_equal(back.created, s.created);
    assert_int_equal(back.last_seen, s.last_seen);
    assert_int_equal(back.expires, s.expires);
    assert_int_equal(back.access_token_exp, -1);
    assert_string_equal(back.provider, "main");
    assert_string_equal(back.sub, "alice");
    assert_string_equal(back.sid, "");
    assert_string_equal(back.refresh_token, "");
    assert_string_equal(back.id_token, "eyJ.header.sig");
    assert_int_equal(back.nclaims, 4);
    assert_string_equal(back.claims[2].name, "groups");
    assert_string_equal(back.claims[2].value, "admins");
    assert_string_equal(back.claims[3].value, "");
}

static void test_bound_to_key(void **state)
{
    apr_pool_t *p = *state;
    aoidc_session_t s = sample(), back;
    const char *key = aoidc_session_store_key(p, &keys, "x");
    const char *key2 = aoidc_session_store_key(p, &keys, "y");
    unsigned char *val;
    apr_size_t len;
    aoidc_session_encode(p, &keys, key, &s, &val, &len);
    /* a record copied under another session's key does not open */
    assert_int_equal(aoidc_session_decode(p, &keys, key2, val, len, &back), APR_EGENERAL);
    val[len - 1] ^= 1;
    assert_int_equal(aoidc_session_decode(p, &keys, key, val, len, &back), APR_EGENERAL);
    assert_int_equal(aoidc_session_decode(p, &keys, key, val, 5, &back), APR_EINVAL);
}

/* A record written before a key rotation (key A) reads on a node that runs
 * "B A", and is refused cleanly (APR_EGENERAL, as any wrong key) once A is
 * gone. */
static void test_rotation(void **state)
{
    apr_pool_t *p = *state;
    aoidc_keys_t b, b_with_a;
    aoidc_keys_derive((const unsigned char *)"the new key of the cluster: 32 bytes+", 37, &b);
    aoidc_keys_derive((const unsigned char *)"the new key of the cluster: 32 bytes+", 37, &b_with_a);
    assert_int_equal(aoidc_keys_set_previous(&b_with_a, &keys), APR_SUCCESS);
    aoidc_session_t s = sample(), back;
    const char *key = aoidc_session_store_key(p, &keys, "x");
    unsigned char *val, *val2;
    apr_size_t len, len2;
    assert_int_equal(aoidc_session_encode(p, &keys, key, &s, &val, &len), APR_SUCCESS);
    assert_int_equal(aoidc_session_decode(p, &b_with_a, key, val, len, &back), APR_SUCCESS);
    assert_string_equal(back.sub, "alice");
    /* written again (a touch) it moves to the new key */
    assert_int_equal(aoidc_session_encode(p, &b_with_a, key, &back, &val2, &len2), APR_SUCCESS);
    assert_int_equal(val2[0], b.id);
    assert_int_equal(aoidc_session_decode(p, &b, key, val2, len2, &back), APR_SUCCESS);
    if (b.id != keys.id) {
        assert_int_equal(aoidc_session_decode(p, &b, key, val, len, &back), APR_EGENERAL);
        assert_int_equal(aoidc_session_decode(p, &keys, key, val2, len2, &back), APR_EGENERAL);
    }
}

static void test_store_key(void **state)
{
    apr_pool_t *p = *state;
    const char *id = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const char *k = aoidc_session_store_key(p, &keys, id);
    assert_int_equal(strncmp(k, AOIDC_SESSION_KEY_PREFIX, strlen(AOIDC_SESSION_KEY_PREFIX)), 0);
    assert_null(strstr(k, id)); /* the key is not the cookie */
    assert_true(strlen(k) < 250); /* memcached's key limit */
    assert_string_equal(k, aoidc_session_store_key(p, &keys, id));
    assert_true(aoidc_session_id_ok(id));
    assert_false(aoidc_session_id_ok("AAAA"));
    assert_false(aoidc_session_id_ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "));
    assert_false(aoidc_session_id_ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_false(aoidc_session_id_ok(NULL));
}

static void test_remaining(void **state)
{
    aoidc_session_t s = sample();
    /* inactivity decides */
    assert_int_equal(aoidc_session_remaining(&s, 600, 1700000200), 500);
    assert_true(aoidc_session_remaining(&s, 600, 1700000700) <= 0);
    /* absolute lifetime decides */
    s.last_seen = 1700028700;
    assert_int_equal(aoidc_session_remaining(&s, 600, 1700028750), 50);
    assert_true(aoidc_session_remaining(&s, 600, 1700028800) <= 0);
}

static void test_field_too_long(void **state)
{
    apr_pool_t *p = *state;
    aoidc_session_t s = sample();
    char *big = apr_palloc(p, 70000);
    memset(big, 'x', 69999);
    big[69999] = '\0';
    s.id_token = big;
    unsigned char *val;
    apr_size_t len;
    assert_int_equal(aoidc_session_encode(p, &keys, "k", &s, &val, &len), APR_ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, keys_setup, unit_teardown),
        cmocka_unit_test_setup_teardown(test_bound_to_key, keys_setup, unit_teardown),
        cmocka_unit_test_setup_teardown(test_store_key, keys_setup, unit_teardown),
        cmocka_unit_test_setup_teardown(test_rotation, keys_setup, unit_teardown),
        UNIT_TEST(test_remaining),
        cmocka_unit_test_setup_teardown(test_field_too_long, keys_setup, unit_teardown),
    };
    return UNIT_RUN("session", tests);
}
