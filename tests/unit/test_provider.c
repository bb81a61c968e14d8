/* aoidc_provider: discovery and token response parsing. */
#include "unit.h"
#include "aoidc_provider.h"

#include <string.h>

#define DISC(iss, extra)                                                                                       \
    "{\"issuer\":\"" iss "\",\"authorization_endpoint\":\"" iss "/auth\",\"token_endpoint\":\"" iss           \
    "/token\",\"jwks_uri\":\"" iss "/jwks\"" extra "}"

static void test_discovery_ok(void **state)
{
    apr_pool_t *p = *state;
    aoidc_provider_meta_t *m;
    const char *err = NULL;
    const char *d = DISC("https://op.example", ",\"end_session_endpoint\":\"https://op.example/end\","
                                               "\"code_challenge_methods_supported\":[\"plain\",\"S256\"]");
    assert_int_equal(aoidc_provider_parse_discovery(p, d, strlen(d), "https://op.example", &m, &err), APR_SUCCESS);
    assert_string_equal(m->token_endpoint, "https://op.example/token");
    assert_string_equal(m->end_session_endpoint, "https://op.example/end");
    assert_null(m->userinfo_endpoint);
    assert_false(m->iss_parameter_supported);
    d = DISC("https://op.example", ",\"authorization_response_iss_parameter_supported\":true");
    assert_int_equal(aoidc_provider_parse_discovery(p, d, strlen(d), "https://op.example", &m, &err), APR_SUCCESS);
    assert_true(m->iss_parameter_supported);
}

static void test_discovery_rejects(void **state)
{
    apr_pool_t *p = *state;
    aoidc_provider_meta_t *m;
    const char *err = NULL;
    static const struct {
        const char *doc, *issuer;
    } bad[] = {
        /* issuer must match exactly: trailing slash, other host, missing */
        {DISC("https://op.example", ""), "https://op.example/"},
        {DISC("https://evil.example", ""), "https://op.example"},
        {"{\"authorization_endpoint\":\"https://op.example/a\"}", "https://op.example"},
        /* https issuer with an http endpoint */
        {"{\"issuer\":\"https://op.example\",\"authorization_endpoint\":\"http://op.example/a\","
         "\"token_endpoint\":\"https://op.example/t\",\"jwks_uri\":\"https://op.example/j\"}",
         "https://op.example"},
        /* no PKCE S256 */
        {DISC("https://op.example", ",\"code_challenge_methods_supported\":[\"plain\"]"), "https://op.example"},
        /* not JSON, duplicates, wrong types */
        {"not json", "https://op.example"},
        {"[]", "https://op.example"},
        {"{\"issuer\":\"https://op.example\",\"issuer\":\"https://op.example\"}", "https://op.example"},
        {"{\"issuer\":1}", "https://op.example"},
        {DISC("https://op.example", ",\"userinfo_endpoint\":\"javascript:x\""), "https://op.example"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        if (aoidc_provider_parse_discovery(p, bad[i].doc, strlen(bad[i].doc), bad[i].issuer, &m, &err) ==
            APR_SUCCESS) {
            fail_msg("discovery case %zu accepted", i);
        }
        assert_non_null(err);
    }
}

static void test_token_response(void **state)
{
    apr_pool_t *p = *state;
    aoidc_tokens_t t;
    const char *err = NULL;
    const char *ok = "{\"id_token\":\"a.b.c\",\"access_token\":\"at\",\"token_type\":\"bearer\",\"expires_in\":300}";
    assert_int_equal(aoidc_provider_parse_token_response(p, ok, strlen(ok), &t, &err), APR_SUCCESS);
    assert_string_equal(t.id_token, "a.b.c");
    assert_int_equal(t.expires_in, 300);
    assert_null(t.refresh_token);
    const char *e = "{\"error\":\"invalid_grant\"}";
    assert_int_equal(aoidc_provider_parse_token_response(p, e, strlen(e), &t, &err), APR_EGENERAL);
    assert_non_null(strstr(err, "invalid_grant"));
    const char *noid = "{\"access_token\":\"at\",\"token_type\":\"Bearer\"}";
    assert_int_equal(aoidc_provider_parse_token_response(p, noid, strlen(noid), &t, &err), APR_EINVAL);
    const char *mac = "{\"id_token\":\"a.b.c\",\"access_token\":\"at\",\"token_type\":\"mac\"}";
    assert_int_equal(aoidc_provider_parse_token_response(p, mac, strlen(mac), &t, &err), APR_EINVAL);
    assert_int_equal(aoidc_provider_parse_token_response(p, "<html>", 6, &t, &err), APR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {UNIT_TEST(test_discovery_ok), UNIT_TEST(test_discovery_rejects),
                                       UNIT_TEST(test_token_response)};
    return UNIT_RUN("provider", tests);
}
