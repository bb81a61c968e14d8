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

/* RFC 4648 section 10, and bytes that use '-' and '_' */
static void test_b64url_vectors(void **state)
{
    apr_pool_t *p = *state;
    static const char *const vec[][2] = {
        {"", ""},         {"f", "Zg"},         {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff\xbf", "-_-_"},
    };
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        assert_string_equal(aoidc_b64url_encode(p, (const unsigned char *)vec[i][0], strlen(vec[i][0])), vec[i][1]);
    }
    /* every length up to 300 round-trips through exact-size buffers */
    unsigned char buf[300];
    for (int i = 0; i < 300; i++) {
        buf[i] = (unsigned char)(i * 37 + 11);
    }
    for (apr_size_t n = 0; n <= sizeof(buf); n++) {
        char *enc = aoidc_b64url_encode(p, buf, n);
        assert_int_equal(strlen(enc), n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0));
        unsigned char *dec;
        apr_size_t dlen;
        assert_int_equal(aoidc_b64url_decode(p, enc, strlen(enc), 1000, &dec, &dlen), APR_SUCCESS);
        assert_int_equal(dlen, n);
        assert_memory_equal(dec, buf, n);
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

/* RFC 4648 section 3.5: the bits of the last character that no decoded byte
 * uses must be zero, so that each byte string has exactly one encoding (a
 * signature or key with altered trailing bits is not the same value). */
static void test_b64url_rejects_nonzero_padding_bits(void **state)
{
    apr_pool_t *p = *state;
    unsigned char *dec;
    apr_size_t dlen;
    static const struct {
        const char *in;
        apr_status_t rv;
        const char *out;
    } cases[] = {
        {"QQ", APR_SUCCESS, "A"},   {"QR", APR_EINVAL, NULL},   {"QX", APR_EINVAL, NULL},
        {"QQ==", APR_SUCCESS, "A"}, {"QR==", APR_EINVAL, NULL}, {"QUI", APR_SUCCESS, "AB"},
        {"QUJ", APR_EINVAL, NULL},  {"QUL", APR_EINVAL, NULL},  {"QUI=", APR_SUCCESS, "AB"},
        {"QUJ=", APR_EINVAL, NULL}, {"QUJD", APR_SUCCESS, "ABC"}, {"QUJDRA", APR_SUCCESS, "ABCD"},
        {"QUJDRB", APR_EINVAL, NULL}, {"QUJDRA_", APR_EINVAL, NULL}, {"-_8", APR_SUCCESS, "\xfb\xff"},
        {"-_9", APR_EINVAL, NULL},  {"-_-", APR_EINVAL, NULL},  {"__", APR_EINVAL, NULL},
        {"_w", APR_SUCCESS, "\xff"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        apr_status_t rv = aoidc_b64url_decode(p, cases[i].in, strlen(cases[i].in), 100, &dec, &dlen);
        if (rv != cases[i].rv) {
            fail_msg("aoidc_b64url_decode(\"%s\") = %d, want %d", cases[i].in, rv, cases[i].rv);
        }
        if (rv == APR_SUCCESS) {
            assert_int_equal(dlen, strlen(cases[i].out));
            assert_memory_equal(dec, cases[i].out, dlen);
        }
    }
}

static void test_b64url_alphabet(void **state)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int n = 0;
    for (int c = -1; c < 256; c++) {
        if (aoidc_b64url_char(c)) {
            assert_non_null(memchr(alphabet, c, 64));
            n++;
        }
    }
    assert_int_equal(n, 64);
    assert_true(aoidc_b64url_is("ab-_", 4));
    assert_true(aoidc_b64url_is("", 0));
    assert_false(aoidc_b64url_is("ab-_", 3));
    assert_false(aoidc_b64url_is("ab-_", 5));
    assert_false(aoidc_b64url_is("ab+/", 4));
    assert_false(aoidc_b64url_is("ab==", 4));
    assert_false(aoidc_b64url_is(NULL, 0));
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
    /* an encoded name is the same parameter: a duplicate is refused */
    assert_int_equal(aoidc_query_param(p, "code=a&c%6fde=b", "code", &v), -1);
    assert_int_equal(aoidc_query_param(p, "st%61te=x", "state", &v), 1);
    assert_string_equal(v, "x");
    assert_int_equal(aoidc_query_param(p, "x%zz=1&code=a", "code", &v), 1);
    assert_int_equal(aoidc_query_param(p, "codex=1&code=a", "code", &v), 1);
    assert_string_equal(v, "a");
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

/* aoidc_decimal: the epoch values and auth_time of the revocation code */
static void test_decimal(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        apr_int64_t v;
    } cases[] = {
        {"0", 0}, {"1700000000", 1700000000}, {"922337203685477580", APR_INT64_C(922337203685477580)}, {"9223372036854775807", -1}, {"", -1}, {"-1", -1},
        {" 1", -1}, {"1 ", -1}, {"+1", -1}, {"1e3", -1}, {"9223372036854775808", -1}, {"10000000000000000000", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].s);
        char *exact = unit_exact_copy(cases[i].s, n); /* no NUL after it */
        if (aoidc_decimal(exact, n) != cases[i].v) {
            fail_msg("'%s'", cases[i].s);
        }
        free(exact);
    }
    assert_int_equal(aoidc_decimal("123", 2), 12);
    assert_int_equal(aoidc_decimal(NULL, 3), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UNIT_TEST(test_b64url_roundtrip), UNIT_TEST(test_b64url_vectors), UNIT_TEST(test_b64url_rejects), UNIT_TEST(test_b64url_rejects_nonzero_padding_bits),
        UNIT_TEST(test_b64url_alphabet), UNIT_TEST(test_local_path),
        UNIT_TEST(test_query_param), UNIT_TEST(test_url_encode_and_ct), UNIT_TEST(test_decimal),
    };
    return UNIT_RUN("util", tests);
}
