/* aoidc_util: base64url, local return paths, query parameters. */
#include "unit.h"
#include "aoidc_util.h"

#include <string.h>

static void test_b64url_roundtrip(void **state)
{
    apr_pool_t *p = *state;
    const unsigned char in[] = {0xfb, 0xff, 0xbf, 0x00, 0x41};
    for (apr_size_t n = 0; n <= sizeof(in); n++) {
        char *enc = aoidc_b64url_encode(p, in, n);
        assert_null(strchr(enc, '='));
        assert_null(strchr(enc, '+'));
        assert_null(strchr(enc, '/'));
        unsigned char *dec;
        apr_size_t dlen;
        assert_int_equal(aoidc_b64url_decode(p, enc, strlen(enc), 100, &dec, &dlen), APR_SUCCESS);
        assert_int_equal(dlen, n);
        assert_memory_equal(dec, in, n);
    }
}

static void test_b64url_rejects(void **state)
{
    apr_pool_t *p = *state;
    unsigned char *dec;
    apr_size_t dlen;
    static const char *bad[] = {"a+b/", "ab cd", "abcde", "ab\ncd", "ab%2F", "a.b", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(aoidc_b64url_decode(p, bad[i], strlen(bad[i]), 100, &dec, &dlen), APR_EINVAL);
    }
    assert_int_equal(aoidc_b64url_decode(p, "AAAA", 4, 3, &dec, &dlen), APR_ENOSPC);
    assert_int_equal(aoidc_b64url_decode(p, "-_8", 3, 10, &dec, &dlen), APR_SUCCESS);
    assert_int_equal(dlen, 2);
    assert_int_equal(dec[0], 0xfb);
    assert_int_equal(dec[1], 0xff);
}

static void test_local_path(void **state)
{
    static const struct {
        const char *path;
        int ok;
    } cases[] = {
        {"/", 1},
        {"/app/page?x=1&y=%2F", 1},
        {"/a/b#frag", 1},
        {"//evil.example", 0},
        {"/\\evil.example", 0},
        {"/%2F/evil.example", 0},
        {"/%2fevil.example", 0},
        {"/%5Cevil.example", 0},
        {"/%5cevil", 0},
        {"/\t/evil.example", 0},
        {"/a\\b", 0},
        {"/a b", 0},
        {"/a\r\nLocation: x", 0},
        {"https://evil.example/", 0},
        {"evil.example", 0},
        {"", 0},
        {"javascript:alert(1)", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (aoidc_is_local_path(cases[i].path) != cases[i].ok) {
            fail_msg("aoidc_is_local_path(\"%s\") != %d", cases[i].path, cases[i].ok);
        }
    }
    assert_int_equal(aoidc_is_local_path(NULL), 0);
}

static void test_query_param(void **state)
{
    apr_pool_t *p = *state;
    const char *v;
    assert_int_equal(aoidc_query_param(p, "code=abc&state=x%2By+z", "state", &v), 1);
    assert_string_equal(v, "x+y z");
    assert_int_equal(aoidc_query_param(p, "code=abc&state=x", "code", &v), 1);
    assert_string_equal(v, "abc");
    assert_int_equal(aoidc_query_param(p, "code=abc&code=def", "code", &v), -1);
    assert_int_equal(aoidc_query_param(p, "codex=abc", "code", &v), 0);
    assert_int_equal(aoidc_query_param(p, "code=%zz", "code", &v), -1);
    assert_int_equal(aoidc_query_param(p, "code=%00", "code", &v), -1);
    assert_int_equal(aoidc_query_param(p, "code=%4", "code", &v), -1);
    assert_int_equal(aoidc_query_param(p, NULL, "code", &v), 0);
    assert_int_equal(aoidc_query_param(p, "code", "code", &v), 1);
    assert_string_equal(v, "");
}

static void test_url_encode_and_ct(void **state)
{
    apr_pool_t *p = *state;
    assert_string_equal(aoidc_url_encode(p, "a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
    assert_int_equal(aoidc_ct_equal("abc", 3, "abc", 3), 1);
    assert_int_equal(aoidc_ct_equal("abc", 3, "abd", 3), 0);
    assert_int_equal(aoidc_ct_equal("abc", 3, "ab", 2), 0);
    char *t1 = aoidc_random_token(p, 32), *t2 = aoidc_random_token(p, 32);
    assert_int_equal(strlen(t1), 43);
    assert_string_not_equal(t1, t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UNIT_TEST(test_b64url_roundtrip), UNIT_TEST(test_b64url_rejects), UNIT_TEST(test_local_path),
        UNIT_TEST(test_query_param), UNIT_TEST(test_url_encode_and_ct),
    };
    return UNIT_RUN("util", tests);
}
