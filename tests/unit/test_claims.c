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

/* Keycloak's shapes: realm_access.roles, resource_access.<client>.roles;
 * a claim whose own name has a dot is reached as a\.b */
static void test_nested(void **state)
{
    apr_pool_t *p = *state;
    json_error_t e;
    json_t *o =
        json_loads("{\"sub\":\"u1\",\"realm_access\":{\"roles\":[\"admin\",\"user\"]},"
                   "\"resource_access\":{\"my-app\":{\"roles\":[\"editor\"]},\"x.y\":{\"roles\":[\"r\"]}},"
                   "\"a.b\":\"top\",\"a\":{\"b\":\"nested\"},"
                   "\"d1\":{\"d2\":{\"d3\":{\"d4\":{\"d5\":\"deep\"},\"v\":\"3\"}}},"
                   "\"nested\":{\"iss\":\"kept\",\"bad name\":\"x\"}}",
                   0, &e);
    assert_non_null(o);
    int dropped = 0;
    apr_array_header_t *a = aoidc_claims_flatten(p, o, &dropped);
    json_decref(o);
    const aoidc_claim_t *c = (const aoidc_claim_t *)a->elts;
    int n = a->nelts;
    assert_string_equal(aoidc_claims_get(p, c, n, "realm_access.roles", ","), "admin,user");
    assert_string_equal(aoidc_claims_get(p, c, n, "realm_access", ","), "{\"roles\":[\"admin\",\"user\"]}");
    assert_string_equal(aoidc_claims_get(p, c, n, "resource_access.my-app.roles", ","), "editor");
    assert_null(aoidc_claims_get(p, c, n, "resource_access.my-app", ",")); /* nested objects: members only */
    assert_string_equal(aoidc_claims_get(p, c, n, "resource_access.x\\.y.roles", ","), "r");
    assert_null(aoidc_claims_get(p, c, n, "resource_access.x.y.roles", ","));
    assert_string_equal(aoidc_claims_get(p, c, n, "a\\.b", ","), "top");
    assert_string_equal(aoidc_claims_get(p, c, n, "a.b", ","), "nested");
    assert_string_equal(aoidc_claims_get(p, c, n, "d1.d2.d3.v", ","), "3");
    assert_null(aoidc_claims_get(p, c, n, "d1.d2.d3.d4.d5", ",")); /* deeper than AOIDC_CLAIM_DEPTH */
    assert_string_equal(aoidc_claims_get(p, c, n, "nested.iss", ","),
                        "kept");  /* only top-level iss is protocol */
    assert_int_equal(dropped, 2); /* d4 (too deep) and "bad name" */
    /* the values of one path stay adjacent (the backend relies on it) */
    for (int i = 0; i < n; i++) {
        for (int j = i + 2; j < n; j++) {
            if (strcmp(c[i].name, c[j].name) == 0) {
                assert_string_equal(c[j - 1].name, c[i].name);
            }
        }
        assert_true(aoidc_claim_path_ok(c[i].name));
    }
    const char *err = NULL;
    aoidc_claim_req_t *r = aoidc_claim_req_parse(p, "realm_access.roles:admin", &err);
    assert_non_null(r);
    assert_true(aoidc_claims_match(c, n, r));
    r = aoidc_claim_req_parse(p, "resource_access.my-app.roles:editor", &err);
    assert_true(aoidc_claims_match(c, n, r));
    r = aoidc_claim_req_parse(p, "a\\.b:top", &err);
    assert_non_null(r);
    assert_true(aoidc_claims_match(c, n, r));
    r = aoidc_claim_req_parse(p, "a.b:top", &err);
    assert_false(aoidc_claims_match(c, n, r));
}

static void test_paths(void **state)
{
    apr_pool_t *p = *state;
    assert_true(aoidc_claim_path_ok("a"));
    assert_true(aoidc_claim_path_ok("a.b.c"));
    assert_true(aoidc_claim_path_ok("a\\.b"));
    assert_true(aoidc_claim_path_ok("x.a\\.b\\.c.d"));
    assert_false(aoidc_claim_path_ok(""));
    assert_false(aoidc_claim_path_ok(".a"));
    assert_false(aoidc_claim_path_ok("a."));
    assert_false(aoidc_claim_path_ok("a..b"));
    assert_false(aoidc_claim_path_ok("a\\"));
    assert_false(aoidc_claim_path_ok("a\\b"));
    assert_false(aoidc_claim_path_ok("a b"));
    char big[AOIDC_CLAIM_PATH_MAX + 2];
    memset(big, 'p', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(aoidc_claim_path_ok(big));
    big[AOIDC_CLAIM_PATH_MAX] = '\0';
    assert_true(aoidc_claim_path_ok(big));
    assert_string_equal(aoidc_claim_path_plain(p, "a\\.b.c"), "a.b.c");
    const char *same = "a.b";
    assert_ptr_equal(aoidc_claim_path_plain(p, same), same);
    /* a top-level name whose escaped form would pass the path limit is dropped */
    json_t *o = json_object();
    char name[AOIDC_CLAIM_NAME_MAX + 1];
    memset(name, '.', AOIDC_CLAIM_NAME_MAX);
    name[0] = 'x';
    name[AOIDC_CLAIM_NAME_MAX] = '\0';
    json_object_set_new(o, name, json_string("v")); /* 64 bytes, 63 dots: 127 escaped */
    json_object_set_new(o, "k", json_object());
    json_object_set_new(json_object_get(o, "k"), name, json_string("w")); /* 2 + 127 > 128 */
    int dropped = 0;
    apr_array_header_t *a = aoidc_claims_flatten(p, o, &dropped);
    json_decref(o);
    assert_int_equal(dropped, 1);
    assert_int_equal(a->nelts, 2); /* the long top-level name and k's JSON */
}

int main(void)
{
    const struct CMUnitTest tests[] = {UNIT_TEST(test_flatten), UNIT_TEST(test_require),
                                       UNIT_TEST(test_limits), UNIT_TEST(test_nested), UNIT_TEST(test_paths)};
    return UNIT_RUN("claims", tests);
}
