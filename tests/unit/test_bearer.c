/* aoidc_bearer: the token of a request and the RFC 6750 challenge. Inputs
 * are plain malloc'd copies of exactly their length, so ASan sees any read
 * past their end (pool memory would hide it). */
#include "unit.h"
#include "aoidc_bearer.h"

#include <stdlib.h>
#include <string.h>

static char *heap(const char *s)
{
    if (!s) {
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *h = malloc(n);
    assert_non_null(h);
    memcpy(h, s, n);
    return h;
}

static void test_scheme(void **state)
{
    (void)state;
    static const struct {
        const char *h;
        int ok;
    } rows[] = {
        {"Bearer abc", 1}, {"bearer abc", 1},  {"BEARER  abc", 1}, {"Bearer ", 1},
        {"Bearer", 0},     {"Bearerabc", 0},   {"Bearer\tabc", 0}, {"Basic dXNlcjpwdw==", 0},
        {"", 0},           {" Bearer abc", 0}, {"Bear", 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *h = heap(rows[i].h);
        if (aoidc_bearer_scheme(h) != rows[i].ok) {
            fail_msg("scheme row %zu (%s)", i, rows[i].h);
        }
        free(h);
    }
    assert_false(aoidc_bearer_scheme(NULL));
}

static void test_b64token(void **state)
{
    (void)state;
    static const struct {
        const char *t;
        int ok;
    } rows[] = {
        {"abc", 1},        {"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", 1},
        {"A-._~+/z09", 1}, {"abc=", 1},
        {"abc==", 1},      {"a", 1},
        {"", 0},           {"=", 0},
        {"==abc", 0},      {"ab=c", 0}, /* '=' only at the end */
        {"abc= ", 0},      {"a b", 0},
        {"abc ", 0},       {" abc", 0},
        {"a\"b", 0},       {"a,b", 0},
        {"<script>", 0},   {"a\tb", 0},
        {"a\r\nb", 0},     {"\xc3\xa9t\xc3\xa9", 0},
        {"a%2Fb", 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *t = heap(rows[i].t);
        if (aoidc_bearer_b64token_ok(t) != rows[i].ok) {
            fail_msg("b64token row %zu (%s)", i, rows[i].t);
        }
        free(t);
    }
    /* the length limit, exactly at and one past it, with and without padding */
    char *big = malloc(AOIDC_BEARER_TOKEN_MAX + 2);
    assert_non_null(big);
    memset(big, 'A', AOIDC_BEARER_TOKEN_MAX);
    big[AOIDC_BEARER_TOKEN_MAX] = '\0';
    assert_true(aoidc_bearer_b64token_ok(big));
    big[AOIDC_BEARER_TOKEN_MAX - 1] = '=';
    assert_true(aoidc_bearer_b64token_ok(big));
    big[AOIDC_BEARER_TOKEN_MAX - 1] = 'A';
    big[AOIDC_BEARER_TOKEN_MAX] = 'A';
    big[AOIDC_BEARER_TOKEN_MAX + 1] = '\0';
    assert_false(aoidc_bearer_b64token_ok(big));
    big[AOIDC_BEARER_TOKEN_MAX] = '=';
    assert_false(aoidc_bearer_b64token_ok(big));
    free(big);
}

static void test_find(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *auth;
        const char *query;
        int query_allowed;
        aoidc_bearer_rc_t rc;
        const char *token;
    } rows[] = {
        {NULL, NULL, 0, AOIDC_BEARER_NONE, NULL},
        {NULL, "a=1&b=2", 1, AOIDC_BEARER_NONE, NULL},
        {"Bearer tok1", NULL, 0, AOIDC_BEARER_OK, "tok1"},
        {"bearer    tok1", "x=1", 0, AOIDC_BEARER_OK, "tok1"},
        {"Bearer tok1", "access_token=tok2", 1, AOIDC_BEARER_BAD, NULL}, /* both ways at once */
        {"Bearer tok1", "access_token", 1, AOIDC_BEARER_BAD, NULL},
        {"Bearer ", NULL, 0, AOIDC_BEARER_BAD, NULL},
        {"Bearer a b", NULL, 0, AOIDC_BEARER_BAD, NULL},
        {"Bearer <script>", NULL, 0, AOIDC_BEARER_BAD, NULL},
        {"Basic dXNlcjpwdw==", NULL, 0, AOIDC_BEARER_NONE, NULL}, /* another scheme: not ours */
        {"Basic dXNlcjpwdw==", "access_token=tok2", 1, AOIDC_BEARER_OK, "tok2"},
        {NULL, "access_token=tok2", 1, AOIDC_BEARER_OK, "tok2"},
        {NULL, "a=1&access_token=tok%2B2&b", 1, AOIDC_BEARER_OK, "tok+2"},
        {NULL, "access_token=tok2", 0, AOIDC_BEARER_BAD, NULL}, /* query not allowed */
        {NULL, "access_token=t1&access_token=t2", 1, AOIDC_BEARER_BAD, NULL},
        {NULL, "access_token=", 1, AOIDC_BEARER_BAD, NULL},
        {NULL, "access_token", 1, AOIDC_BEARER_BAD, NULL},
        {NULL, "access_token=a%20b", 1, AOIDC_BEARER_BAD, NULL},
        {NULL, "access_token=a%00b", 1, AOIDC_BEARER_BAD, NULL},
        {NULL, "access_token=%zz", 1, AOIDC_BEARER_BAD, NULL},
        {NULL, "access_tokenx=tok", 1, AOIDC_BEARER_NONE, NULL},
        {NULL, "xaccess_token=tok", 1, AOIDC_BEARER_NONE, NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *a = heap(rows[i].auth), *q = heap(rows[i].query);
        const char *tok = "unset";
        aoidc_bearer_rc_t rc = aoidc_bearer_find(p, a, q, rows[i].query_allowed, &tok);
        if (rc != rows[i].rc) {
            fail_msg("find row %zu: rc %d, want %d", i, rc, rows[i].rc);
        }
        if (rows[i].token ? !tok || strcmp(tok, rows[i].token) != 0 : tok != NULL) {
            fail_msg("find row %zu: token %s, want %s", i, tok ? tok : "(null)",
                     rows[i].token ? rows[i].token : "(null)");
        }
        free(a);
        free(q);
    }
}

static void test_is_jwt(void **state)
{
    (void)state;
    static const struct {
        const char *t;
        int jwt;
    } rows[] = {
        {"a.b.c", 1}, {"..", 1},  {"a.b.", 1},    {"a.b", 0}, {"abc", 0},
        {"", 0},      {"...", 0}, {"a.b.c.d", 0}, {".", 0},   {"a.b.c.d.e", 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *t = heap(rows[i].t);
        if (aoidc_bearer_is_jwt(t) != rows[i].jwt) {
            fail_msg("is_jwt row %zu (%s)", i, rows[i].t);
        }
        free(t);
    }
}

static void test_challenge(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *realm, *error, *scope, *want;
    } rows[] = {
        {"test api", NULL, NULL, "Bearer realm=\"test api\""},
        {NULL, NULL, NULL, "Bearer realm=\"api\""},
        {"api", "invalid_token", NULL, "Bearer realm=\"api\", error=\"invalid_token\""},
        {"api", "insufficient_scope", "a:read a:write",
         "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"a:read a:write\""},
        {"api", NULL, "s", "Bearer realm=\"api\", scope=\"s\""},
        {"a\"b\\c", NULL, NULL, "Bearer realm=\"a_b_c\""},
        {"line\r\nSet-Cookie: x=1", "e\"", "s\x7f",
         "Bearer realm=\"line__Set-Cookie: x=1\", error=\"e_\", scope=\"s_\""},
        {"", NULL, NULL, "Bearer realm=\"\""},
        {"caf\xc3\xa9", NULL, NULL, "Bearer realm=\"caf\xc3\xa9\""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *r = heap(rows[i].realm), *e = heap(rows[i].error), *s = heap(rows[i].scope);
        const char *got = aoidc_bearer_challenge(p, r, e, s);
        if (strcmp(got, rows[i].want) != 0) {
            fail_msg("challenge row %zu: %s", i, got);
        }
        free(r);
        free(e);
        free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {UNIT_TEST(test_scheme), UNIT_TEST(test_b64token), UNIT_TEST(test_find),
                                       UNIT_TEST(test_is_jwt), UNIT_TEST(test_challenge)};
    return UNIT_RUN("bearer", tests);
}
