/* aoidc_backend: the prefix test that scrubs client headers, and the names
 * and values of the claims the backend gets. Buffers are malloc'd to their
 * exact sizes so that ASan sees any overrun. */
#include "unit.h"
#include "aoidc_backend.h"

#include <stdlib.h>
#include <string.h>

static void test_name_has_prefix(void **state)
{
    static const struct {
        const char *name;
        int match;
    } cases[] = {
        {"OIDC_CLAIM_email", 1}, {"oidc-claim-email", 1}, {"OIDC-Claim_x", 1},
        {"oIdC_cLaIm_", 1},      {"OIDC_CLAIM", 0},       {"OIDC_CLAIMS", 0},
        {"OIDC.CLAIM_x", 0},     {"XOIDC_CLAIM_x", 0},    {"", 0},
        {"OIDC CLAIM_x", 0},     {"OIDC__CLAIM_x", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (aoidc_backend_name_has_prefix(cases[i].name, "OIDC_CLAIM_") != cases[i].match) {
            fail_msg("has_prefix(\"%s\") != %d", cases[i].name, cases[i].match);
        }
    }
    /* the prefix itself may be written with '-' */
    assert_true(aoidc_backend_name_has_prefix("x_user_mail", "X-USER-"));
    assert_false(aoidc_backend_name_has_prefix(NULL, "X-"));
    assert_true(aoidc_backend_name_has_prefix("anything", ""));
}

static void test_header_name(void **state)
{
    const char *prefix = "OIDC_CLAIM_", *claim = "urn:x.y_z-w";
    apr_size_t need = strlen(prefix) + strlen(claim) + 1;
    char *out = malloc(need);
    assert_int_equal(aoidc_backend_header_name(prefix, claim, out, need - 1), -1);
    assert_int_equal(aoidc_backend_header_name(prefix, claim, out, need), (long)need - 1);
    assert_string_equal(out, "OIDC-CLAIM-urn-x-y-z-w");
    free(out);
}

static void test_join(void **state)
{
    const char *vals[] = {"staff", "a\r\nSet-Cookie: x", "", "\x7f\t"};
    apr_size_t need = aoidc_backend_join_size(vals, 4);
    assert_int_equal(need, strlen("staff,a\r\nSet-Cookie: x,,\x7f\t") + 1);
    char *out = malloc(need);
    assert_int_equal(aoidc_backend_join(vals, 4, 1, out, need - 1), -1);
    assert_int_equal(aoidc_backend_join(vals, 4, 1, out, need), (long)need - 1);
    assert_string_equal(out, "staff,a  Set-Cookie: x,,  ");
    assert_int_equal(aoidc_backend_join(vals, 4, 0, out, need), (long)need - 1);
    assert_string_equal(out, "staff,a\r\nSet-Cookie: x,,\x7f\t");
    free(out);
    char one[1];
    assert_int_equal(aoidc_backend_join(vals, 0, 1, one, 1), 0);
    assert_string_equal(one, "");
}

static void test_vars(void **state)
{
    apr_pool_t *p = *state;
    const aoidc_claim_t claims[] = {
        {"sub", "alice"}, {"groups", "staff"}, {"groups", "admins"}, {"name", "A\nB"}, {"x.y", "1"},
        {"auth_time", "1800000000"}, /* kept for AuthOIDCMaxAuthAge, never passed on */
    };
    apr_array_header_t *v = aoidc_backend_vars(p, "OIDC_CLAIM_", claims, 6);
    assert_int_equal(v->nelts, 4);
    const aoidc_backend_var_t *a = (const aoidc_backend_var_t *)v->elts;
    assert_string_equal(a[0].env, "OIDC_CLAIM_sub");
    assert_string_equal(a[0].header, "OIDC-CLAIM-sub");
    assert_string_equal(a[0].value, "alice");
    assert_ptr_equal(a[0].value, a[0].header_value);
    assert_string_equal(a[1].env, "OIDC_CLAIM_groups");
    assert_string_equal(a[1].value, "staff,admins");
    assert_string_equal(a[2].value, "A\nB");
    assert_string_equal(a[2].header_value, "A B");
    assert_string_equal(a[3].env, "OIDC_CLAIM_x.y");
    assert_string_equal(a[3].header, "OIDC-CLAIM-x-y");
    assert_int_equal(aoidc_backend_vars(p, "P_", claims, 0)->nelts, 0);
}

/* the most a session can hold: 64 values of 1024 bytes under one name */
static void test_vars_at_the_limits(void **state)
{
    apr_pool_t *p = *state;
    aoidc_claim_t claims[AOIDC_CLAIMS_MAX];
    char *big = malloc(AOIDC_CLAIM_VALUE_MAX + 1);
    memset(big, '\n', AOIDC_CLAIM_VALUE_MAX);
    big[AOIDC_CLAIM_VALUE_MAX] = '\0';
    for (int i = 0; i < AOIDC_CLAIMS_MAX; i++) {
        claims[i] = (aoidc_claim_t){"groups", big};
    }
    apr_array_header_t *v = aoidc_backend_vars(p, "OIDC_CLAIM_", claims, AOIDC_CLAIMS_MAX);
    assert_int_equal(v->nelts, 1);
    const aoidc_backend_var_t *a = (const aoidc_backend_var_t *)v->elts;
    assert_int_equal(strlen(a[0].value), AOIDC_CLAIMS_MAX * (AOIDC_CLAIM_VALUE_MAX + 1) - 1);
    assert_int_equal(strspn(a[0].header_value, " ,"), strlen(a[0].value));
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UNIT_TEST(test_name_has_prefix),
        UNIT_TEST(test_header_name),
        UNIT_TEST(test_join),
        UNIT_TEST(test_vars),
        UNIT_TEST(test_vars_at_the_limits),
    };
    return UNIT_RUN("backend", tests);
}
