/* aoidc_claims: flattening and Require oidc-claim parsing/matching. */
#include "unit.h"
#include "aoidc_claims.h"

#include <string.h>

static void test_flatten(void **state)
{
    apr_pool_t *p = *state;
    json_error_t e;
    json_t *o = json_loads("{\"sub\":\"u1\",\"iss\":\"x\",\"aud\":[\"a\"],\"exp\":1,\"nonce\":\"n\","
                           "\"email\":\"a@b\",\"groups\":[\"staff\",\"admins\",null],\"age\":42,"
                           "\"ok\":true,\"addr\":{\"c\":\"DE\"},\"bad name\":\"x\",\"n\":null}", 0, &e);
    assert_non_null(o);
    int dropped = 0;
    apr_array_header_t *a = aoidc_claims_flatten(p, o, &dropped);
    json_decref(o);
    const aoidc_claim_t *c = (const aoidc_claim_t *)a->elts;
    assert_string_equal(aoidc_claims_get(p, c, a->nelts, "sub", ","), "u1");
    assert_null(aoidc_claims_get(p, c, a->nelts, "iss", ","));
    assert_null(aoidc_claims_get(p, c, a->nelts, "aud", ","));
    assert_null(aoidc_claims_get(p, c, a->nelts, "nonce", ","));
    assert_string_equal(aoidc_claims_get(p, c, a->nelts, "groups", ","), "staff,admins");
    assert_string_equal(aoidc_claims_get(p, c, a->nelts, "age", ","), "42");
    assert_string_equal(aoidc_claims_get(p, c, a->nelts, "ok", ","), "true");
    assert_string_equal(aoidc_claims_get(p, c, a->nelts, "addr", ","), "{\"c\":\"DE\"}");
    assert_null(aoidc_claims_get(p, c, a->nelts, "bad name", ","));
    assert_int_equal(dropped, 3); /* "bad name", null in groups, n:null */
}

static void test_require(void **state)
{
    apr_pool_t *p = *state;
    const char *err = NULL;
    static const aoidc_claim_t claims[] = {{"groups", "staff"}, {"groups", "admins"}, {"email", "a@b:c"}};
    aoidc_claim_req_t *r = aoidc_claim_req_parse(p, "groups:admins", &err);
    assert_non_null(r);
    assert_true(aoidc_claims_match(claims, 3, r));
    r = aoidc_claim_req_parse(p, "groups:admin", &err);
    assert_false(aoidc_claims_match(claims, 3, r)); /* exact, not prefix */
    r = aoidc_claim_req_parse(p, "email:a@b:c", &err);
    assert_true(aoidc_claims_match(claims, 3, r)); /* first colon splits */
    r = aoidc_claim_req_parse(p, "group:staff", &err);
    assert_false(aoidc_claims_match(claims, 3, r));
    assert_null(aoidc_claim_req_parse(p, "groups", &err));
    assert_non_null(strstr(err, "NAME:VALUE"));
    assert_null(aoidc_claim_req_parse(p, ":admins", &err));
    assert_null(aoidc_claim_req_parse(p, "gr oups:x", &err));
    r = aoidc_claim_req_parse(p, "name:", &err);
    assert_non_null(r);
    assert_string_equal(r->value, "");
}

static void test_limits(void **state)
{
    apr_pool_t *p = *state;
    json_t *o = json_object();
    json_t *arr = json_array();
    for (int i = 0; i < 200; i++) {
        json_array_append_new(arr, json_integer(i));
    }
    json_object_set_new(o, "many", arr);
    char big[AOIDC_CLAIM_VALUE_MAX + 10];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_object_set_new(o, "big", json_string(big));
    int dropped = 0;
    apr_array_header_t *a = aoidc_claims_flatten(p, o, &dropped);
    json_decref(o);
    assert_true(a->nelts <= AOIDC_CLAIMS_MAX);
    assert_true(dropped > 0);
    assert_null(aoidc_claims_get(p, (const aoidc_claim_t *)a->elts, a->nelts, "big", ","));
}

int main(void)
{
    const struct CMUnitTest tests[] = {UNIT_TEST(test_flatten), UNIT_TEST(test_require), UNIT_TEST(test_limits)};
    return UNIT_RUN("claims", tests);
}
