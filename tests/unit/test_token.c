/* aoidc_token (the bearer cache, scopes) and aoidc_introspect (RFC 7662 answers). */
#include "unit.h"
#include "aoidc_introspect.h"
#include "aoidc_token.h"
#include "aoidc_util.h"

#include <string.h>

static aoidc_principal_t principal(const char *sub, apr_int64_t exp)
{
    static const aoidc_claim_t claims[] = {{"scope", "api:read api:write"}, {"email", "a@b"}};
    aoidc_principal_t p = {"main", sub, "api:read api:write", exp, 2, claims};
    return p;
}

static void test_cache_hit_miss_expiry(void **state)
{
    apr_pool_t *p = *state;
    aoidc_token_cache_t *c;
    assert_int_equal(aoidc_token_cache_create(p, 100, &c), APR_SUCCESS);
    aoidc_principal_t out;
    assert_false(aoidc_token_cache_get(c, p, "token-1", 7, 1000, &out));
    aoidc_principal_t in = principal("alice", 2000);
    aoidc_token_cache_put(c, "token-1", 7, &in);
    /* a prefix or extension of a cached token is another token */
    assert_false(aoidc_token_cache_get(c, p, "token-1", 6, 1000, &out));
    assert_false(aoidc_token_cache_get(c, p, "token-10", 8, 1000, &out));
    assert_true(aoidc_token_cache_get(c, p, "token-1", 7, 1000, &out));
    assert_string_equal(out.sub, "alice");
    assert_string_equal(out.provider, "main");
    assert_string_equal(out.scope, "api:read api:write");
    assert_int_equal(out.nclaims, 2);
    assert_string_equal(out.claims[1].value, "a@b");
    assert_int_equal(out.exp, 2000);
    assert_false(aoidc_token_cache_get(c, p, "token-2", 7, 1000, &out)); /* another token */
    assert_false(aoidc_token_cache_get(c, p, "token-1", 7, 2000, &out)); /* expired at exp */
    assert_false(aoidc_token_cache_get(c, p, "token-1", 7, 1000, &out)); /* and dropped */
}

static void test_cache_bounded(void **state)
{
    apr_pool_t *p = *state;
    aoidc_token_cache_t *c;
    assert_int_equal(aoidc_token_cache_create(p, 16, &c), APR_SUCCESS);
    aoidc_principal_t in = principal("u", 5000), out;
    int hits = 0;
    for (int i = 0; i < 1000; i++) {
        char t[16];
        apr_snprintf(t, sizeof(t), "t%d", i);
        aoidc_token_cache_put(c, t, strlen(t), &in);
    }
    for (int i = 0; i < 1000; i++) {
        char t[16];
        apr_snprintf(t, sizeof(t), "t%d", i);
        hits += aoidc_token_cache_get(c, p, t, strlen(t), 1000, &out);
    }
    assert_true(hits <= 16); /* never more entries than slots */
    assert_true(hits > 0);
}

static void test_scope_has(void **state)
{
    assert_true(aoidc_scope_has("api:read api:write", "api:write"));
    assert_true(aoidc_scope_has("api:read  api:write", "api:read"));
    assert_false(aoidc_scope_has("api:read api:write", "api"));
    assert_false(aoidc_scope_has("api:readx", "api:read"));
    assert_false(aoidc_scope_has("", "api:read"));
    assert_false(aoidc_scope_has(NULL, "api:read"));
}

static void test_introspect_parse(void **state)
{
    apr_pool_t *p = *state;
    aoidc_principal_t out;
    const char *why = NULL;
    static const struct {
        const char *body;
        aoidc_introspect_rc_t rc;
    } cases[] = {
        {"{\"active\":true,\"sub\":\"alice\",\"scope\":\"api:read\",\"exp\":2000,\"iss\":\"https://op\","
         "\"aud\":\"https://api\"}", AOIDC_INTROSPECT_ACTIVE},
        {"{\"active\":true,\"client_id\":\"svc\",\"aud\":[\"x\",\"https://api\"]}", AOIDC_INTROSPECT_ACTIVE},
        {"{\"active\":false}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://api\",\"exp\":999}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://api\",\"iss\":\"https://evil\"}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://other\"}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\"}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"aud\":\"https://api\"}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":\"true\",\"sub\":\"a\"}", AOIDC_INTROSPECT_ERROR},
        {"<html>", AOIDC_INTROSPECT_ERROR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aoidc_introspect_rc_t rc = aoidc_introspect_parse(p, cases[i].body, strlen(cases[i].body), "https://op",
                                                          "https://api", 1000, &out, &why);
        if (rc != cases[i].rc) {
            fail_msg("case %zu: %d != %d (%s)", i, rc, cases[i].rc, why ? why : "");
        }
    }
    const char *ok = "{\"active\":true,\"sub\":\"alice\",\"scope\":\"api:read\",\"exp\":2000,\"aud\":\"https://api\"}";
    assert_int_equal(aoidc_introspect_parse(p, ok, strlen(ok), "https://op", "https://api", 1000, &out, &why),
                     AOIDC_INTROSPECT_ACTIVE);
    assert_string_equal(out.sub, "alice");
    assert_string_equal(out.scope, "api:read");
    assert_int_equal(out.exp, 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {UNIT_TEST(test_cache_hit_miss_expiry), UNIT_TEST(test_cache_bounded),
                                       UNIT_TEST(test_scope_has), UNIT_TEST(test_introspect_parse)};
    return UNIT_RUN("token", tests);
}
