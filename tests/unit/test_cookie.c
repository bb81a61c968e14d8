/* aoidc_cookie: the Cookie header walker and the strip of our cookies.
 * Inputs and outputs are plain malloc'd buffers of the exact size (the input
 * without a NUL), so that ASan sees any read or write past them; pool memory
 * would hide an overflow inside a pool block. */
#include "unit.h"
#include "aoidc_cookie.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION "aoidc_session"
#define PREFIX "aoidc_state_"

/* ------------------------------------------------------------ helpers */

typedef struct {
    char names[8][32];
    char values[8][32];
    int n;
} pairs_t;

static int collect_pair(void *c, const char *name, apr_size_t nlen, const char *val, apr_size_t vlen)
{
    pairs_t *p = c;
    if (p->n < 8 && nlen < 32 && vlen < 32) {
        memcpy(p->names[p->n], name, nlen);
        p->names[p->n][nlen] = '\0';
        memcpy(p->values[p->n], val, vlen);
        p->values[p->n][vlen] = '\0';
    }
    return ++p->n < 8;
}

typedef struct {
    char *out;
    int removed;
    apr_size_t olen;
} strip_t;

/* strip h with the input in a malloc'd buffer of exactly strlen(h) bytes and
 * the output in one of exactly strlen(h) + 1; the caller frees r.out */
static strip_t strip_exact(const char *h, const char *session, const char *prefix)
{
    apr_size_t n = strlen(h);
    char *in = malloc(n ? n : 1);
    memcpy(in, h, n);
    strip_t r = {malloc(n + 1), 0, 0};
    r.removed = aoidc_cookie_strip_ours(in, n, session, prefix, r.out, n + 1, &r.olen);
    free(in);
    if (r.removed >= 0) {
        assert_int_equal(r.olen, strlen(r.out));
        assert_true(r.olen <= n);
    }
    return r;
}

static void expect_strip(const char *h, int removed, const char *want)
{
    strip_t r = strip_exact(h, SESSION, PREFIX);
    if (r.removed != removed || strcmp(r.out, want) != 0) {
        fail_msg("strip(\"%s\") = %d \"%s\", want %d \"%s\"", h, r.removed, r.out, removed, want);
    }
    free(r.out);
}

/* The invariants of the strip (also checked by tests/fuzz/fuzz_cookie.c):
 * the output is no longer than the input, has none of our cookies, and has
 * every other pair of the input, same name and value, in order. */
typedef struct {
    const char *name, *val;
    apr_size_t nlen, vlen;
} pair_t;

typedef struct {
    pair_t *v;
    int n, cap;
    const char *session, *prefix;
    int skip_ours;
} plist_t;

static int push_pair(void *c, const char *name, apr_size_t nlen, const char *val, apr_size_t vlen)
{
    plist_t *l = c;
    if (l->skip_ours && aoidc_cookie_is_ours(name, nlen, l->session, l->prefix)) {
        return 1;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, sizeof(pair_t) * (apr_size_t)l->cap);
    }
    l->v[l->n++] = (pair_t){name, val, nlen, vlen};
    return 1;
}

static void check_invariants(const char *h, const char *session, const char *prefix)
{
    strip_t r = strip_exact(h, session, prefix);
    assert_true(r.removed >= 0);
    plist_t want = {NULL, 0, 0, session, prefix, 1}, got = {NULL, 0, 0, session, prefix, 0};
    aoidc_cookie_walk(h, push_pair, &want);
    aoidc_cookie_walk(r.out, push_pair, &got);
    if (got.n != want.n) {
        fail_msg("strip(\"%s\") -> \"%s\": %d pairs, want %d", h, r.out, got.n, want.n);
    }
    for (int i = 0; i < got.n; i++) {
        assert_false(aoidc_cookie_is_ours(got.v[i].name, got.v[i].nlen, session, prefix));
        if (got.v[i].nlen != want.v[i].nlen || memcmp(got.v[i].name, want.v[i].name, got.v[i].nlen) != 0 ||
            got.v[i].vlen != want.v[i].vlen || memcmp(got.v[i].val, want.v[i].val, got.v[i].vlen) != 0) {
            fail_msg("strip(\"%s\") -> \"%s\": pair %d differs", h, r.out, i);
        }
    }
    free(want.v);
    free(got.v);
    free(r.out);
}

/* ------------------------------------------------------------ walk */

static void test_walk(void **state)
{
    pairs_t p = {0};
    aoidc_cookie_walk(" a=1;b = \"two\" ;;novalue; c=; =x;d=4=5", collect_pair, &p);
    assert_int_equal(p.n, 5);
    assert_string_equal(p.names[0], "a");
    assert_string_equal(p.values[0], "1");
    assert_string_equal(p.names[1], "b");
    assert_string_equal(p.values[1], "two");
    assert_string_equal(p.names[2], "c");
    assert_string_equal(p.values[2], "");
    assert_string_equal(p.names[3], "");
    assert_string_equal(p.values[3], "x");
    assert_string_equal(p.names[4], "d");
    assert_string_equal(p.values[4], "4=5");
    pairs_t q = {0};
    aoidc_cookie_walk("", collect_pair, &q);
    aoidc_cookie_walk(";;;", collect_pair, &q);
    aoidc_cookie_walk(" \t; \t", collect_pair, &q);
    aoidc_cookie_walk(NULL, collect_pair, &q);
    assert_int_equal(q.n, 0);
    /* tabs are blanks on both sides of name and value */
    pairs_t t = {0};
    aoidc_cookie_walk("\tn\t=\t\"v\"\t", collect_pair, &t);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.names[0], "n");
    assert_string_equal(t.values[0], "v");
    /* the walk stops when the callback says so */
    pairs_t r = {0};
    aoidc_cookie_walk("a=1;a=1;a=1;a=1;a=1;a=1;a=1;a=1;a=1;a=1", collect_pair, &r);
    assert_int_equal(r.n, 8);
}

static void test_is_ours(void **state)
{
    assert_true(aoidc_cookie_is_ours(SESSION, strlen(SESSION), SESSION, PREFIX));
    assert_true(aoidc_cookie_is_ours(PREFIX "x", strlen(PREFIX) + 1, SESSION, PREFIX));
    assert_false(aoidc_cookie_is_ours(PREFIX, strlen(PREFIX), SESSION, PREFIX));
    assert_false(aoidc_cookie_is_ours(SESSION "x", strlen(SESSION) + 1, SESSION, PREFIX));
    assert_false(aoidc_cookie_is_ours("aoidc_sessio", 12, SESSION, PREFIX));
    assert_false(aoidc_cookie_is_ours("AOIDC_SESSION", 13, SESSION, PREFIX));
    assert_false(aoidc_cookie_is_ours("", 0, SESSION, PREFIX));
    assert_false(aoidc_cookie_is_ours("", 0, NULL, NULL));
    assert_false(aoidc_cookie_is_ours("x", 1, NULL, ""));
}

/* ------------------------------------------------------------ find */

static void test_header_get_values_names(void **state)
{
    apr_pool_t *p = *state;
    const char *h =
        "a=1; " SESSION "=\"first\"; " PREFIX "x=s1;" SESSION "=second; " PREFIX "=no; " PREFIX "yy=s2";
    int count = -1;
    assert_string_equal(aoidc_cookie_header_get(p, h, SESSION, &count), "first");
    assert_int_equal(count, 2);
    assert_null(aoidc_cookie_header_get(p, h, "b", &count));
    assert_int_equal(count, 0);
    assert_null(aoidc_cookie_header_get(p, NULL, "a", &count));
    assert_string_equal(aoidc_cookie_header_get(p, h, "a", NULL), "1");
    apr_array_header_t *v = aoidc_cookie_header_values(p, h, SESSION, 5);
    assert_int_equal(v->nelts, 2);
    assert_string_equal(APR_ARRAY_IDX(v, 0, const char *), "first");
    assert_string_equal(APR_ARRAY_IDX(v, 1, const char *), "second");
    assert_int_equal(aoidc_cookie_header_values(p, h, SESSION, 1)->nelts, 1);
    assert_int_equal(aoidc_cookie_header_values(p, h, SESSION, 0)->nelts, 0);
    apr_array_header_t *n = aoidc_cookie_header_names(p, h, PREFIX, 64);
    assert_int_equal(n->nelts, 2);
    assert_string_equal(APR_ARRAY_IDX(n, 0, const char *), PREFIX "x");
    assert_string_equal(APR_ARRAY_IDX(n, 1, const char *), PREFIX "yy");
    assert_int_equal(aoidc_cookie_header_names(p, h, PREFIX, 1)->nelts, 1);
}

static void test_header_too_long_is_not_searched(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t n = AOIDC_COOKIE_HEADER_MAX + 1;
    char *h = malloc(n + 1);
    memset(h, ' ', n);
    memcpy(h, SESSION "=x", sizeof(SESSION) + 1);
    h[n] = '\0';
    assert_null(aoidc_cookie_header_get(p, h, SESSION, NULL));
    assert_int_equal(aoidc_cookie_header_values(p, h, SESSION, 4)->nelts, 0);
    h[n - 1] = '\0'; /* exactly the limit: searched */
    assert_string_equal(aoidc_cookie_header_get(p, h, SESSION, NULL), "x");
    free(h);
}

/* ------------------------------------------------------------ strip */

static void test_strip_semicolon_only_separators(void **state)
{
    /* the header that overflowed the old rewrite: bare ';' between cookies */
    expect_strip("=;=;=;=", 0, "=;=;=;=");
    expect_strip("=;" SESSION "=x;=;=", 1, "=; =;=");
    expect_strip("a=1;" SESSION "=x", 1, "a=1");
    expect_strip(SESSION "=x;a=1;b=2", 1, "a=1;b=2");
    expect_strip("a=1;b=2;" PREFIX "s=v;c=3", 1, "a=1;b=2; c=3");
    char *big = malloc(20001);
    for (int i = 0; i < 10000; i++) {
        memcpy(big + 2 * i, "=;", 2);
    }
    big[20000] = '\0';
    strip_t r = strip_exact(big, SESSION, PREFIX);
    assert_int_equal(r.removed, 0);
    assert_int_equal(r.olen, 19999); /* the trailing ';' is dropped, nothing is added */
    free(r.out);
    check_invariants(big, SESSION, PREFIX);
    free(big);
}

static void test_strip_empty_names_and_values(void **state)
{
    expect_strip("=;a=;=b;" SESSION "=;" PREFIX "x=", 2, "=;a=;=b");
    expect_strip(SESSION "=", 1, "");
    expect_strip("=" SESSION, 0, "=" SESSION);
    expect_strip(SESSION, 0, SESSION); /* no '=': not a cookie we read, kept */
    expect_strip(" = ; = ", 0, "=; =");
    expect_strip("", 0, "");
    expect_strip(";;;", 0, "");
    expect_strip(SESSION "=\"\"", 1, "");
    check_invariants("=;a=;=b;" SESSION "=;" PREFIX "x=;;=;", SESSION, PREFIX);
}

static void test_strip_thousands_of_tiny_cookies(void **state)
{
    /* 5000 one-character cookies with ours every 100 */
    char *h = malloc(5000 * 20 + 1), *o = h;
    int ours = 0;
    for (int i = 0; i < 5000; i++) {
        if (i % 100 == 50) {
            o += sprintf(o, "%s;", i % 200 == 50 ? SESSION "=s" : PREFIX "q=t");
            ours++;
        }
        o += sprintf(o, "%c=;", 'a' + i % 26);
    }
    *o = '\0';
    strip_t r = strip_exact(h, SESSION, PREFIX);
    assert_int_equal(r.removed, ours);
    assert_null(strstr(r.out, SESSION));
    assert_null(strstr(r.out, PREFIX));
    free(r.out);
    check_invariants(h, SESSION, PREFIX);
    free(h);
}

static void test_strip_ours_among_junk(void **state)
{
    expect_strip("junk;" SESSION "=1;;x; " PREFIX "AB=2 ;" PREFIX "=3;" SESSION "2=4;AOIDC_SESSION=5", 2,
                 "junk; x; " PREFIX "=3;" SESSION "2=4;AOIDC_SESSION=5");
    /* the value of a kept cookie may look like ours */
    expect_strip("a=" SESSION "=x;b=\"" PREFIX "y=z\"", 0, "a=" SESSION "=x;b=\"" PREFIX "y=z\"");
    /* quoted, with blanks, several times */
    expect_strip(SESSION "=\"v\"; a=1; " SESSION " = w ;b=2;" SESSION "=x", 3, "a=1; b=2");
    /* another session name configured: the default one is the application's */
    strip_t r = strip_exact(SESSION "=1; __Host-" SESSION "=2", "__Host-" SESSION, PREFIX);
    assert_int_equal(r.removed, 1);
    assert_string_equal(r.out, SESSION "=1");
    free(r.out);
    check_invariants("junk;" SESSION "=1;;x; " PREFIX "AB=2 ;" PREFIX "=3;" SESSION "2=4", SESSION, PREFIX);
}

static void test_strip_max_length(void **state)
{
    /* 16384 bytes (the glue's limit): one cookie of ours filling it, then
     * junk filling it with ours last */
    apr_size_t n = 16384;
    char *h = malloc(n + 1);
    memcpy(h, SESSION "=", sizeof(SESSION));
    memset(h + sizeof(SESSION), 'v', n - sizeof(SESSION));
    h[n] = '\0';
    strip_t r = strip_exact(h, SESSION, PREFIX);
    assert_int_equal(r.removed, 1);
    assert_int_equal(r.olen, 0);
    free(r.out);
    for (apr_size_t i = 0; i + 1 < n; i += 2) {
        memcpy(h + i, "=;", 2);
    }
    memcpy(h + n - sizeof(SESSION) - 1, ";" SESSION "=", sizeof(SESSION) + 1);
    r = strip_exact(h, SESSION, PREFIX);
    assert_int_equal(r.removed, 1);
    assert_true(r.olen < n);
    free(r.out);
    check_invariants(h, SESSION, PREFIX);
    free(h);
}

static void test_strip_whitespace_variants(void **state)
{
    expect_strip(" \t " SESSION " \t = \"v\" \t; a = 1 \t", 1, "a = 1");
    expect_strip("a=1\t;\t" SESSION "=x\t;\tb=2", 1, "a=1; b=2");
    expect_strip("a=1 ;" SESSION "=x;b=2", 1, "a=1; b=2");
    expect_strip("a=1;" SESSION "=x;b=2", 1, "a=1; b=2");
    /* nothing removed: the caller keeps the original header */
    expect_strip("a=1\t;\tb=2", 0, "a=1; b=2");
    check_invariants(" \t " SESSION " \t = \"v\" \t; a = 1 \t;\t;b\t=\t\"2\"", SESSION, PREFIX);
}

static void test_strip_refuses_a_short_buffer(void **state)
{
    char out[8] = "unset";
    apr_size_t olen = 99;
    assert_int_equal(aoidc_cookie_strip_ours("a=1;b=2", 7, SESSION, PREFIX, out, 7, &olen), -1);
    assert_string_equal(out, "unset");
    assert_int_equal(olen, 99);
    assert_int_equal(aoidc_cookie_strip_ours("a=1;b=2", 7, SESSION, PREFIX, out, 8, NULL), 0);
    assert_int_equal(aoidc_cookie_strip_ours(NULL, 0, SESSION, PREFIX, out, 8, NULL), -1);
}

/* Every header of up to 6 characters over an alphabet that makes names,
 * values, separators, blanks, quotes and our names ("s" and the prefix "p"). */
static void test_strip_exhaustive_small(void **state)
{
    static const char alpha[] = "s=; p\"";
    char h[7];
    for (int len = 0; len <= 6; len++) {
        int total = 1;
        for (int i = 0; i < len; i++) {
            total *= 6;
        }
        for (int k = 0; k < total; k++) {
            int x = k;
            for (int i = 0; i < len; i++, x /= 6) {
                h[i] = alpha[x % 6];
            }
            h[len] = '\0';
            check_invariants(h, "s", "p");
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UNIT_TEST(test_walk),
        UNIT_TEST(test_is_ours),
        UNIT_TEST(test_header_get_values_names),
        UNIT_TEST(test_header_too_long_is_not_searched),
        UNIT_TEST(test_strip_semicolon_only_separators),
        UNIT_TEST(test_strip_empty_names_and_values),
        UNIT_TEST(test_strip_thousands_of_tiny_cookies),
        UNIT_TEST(test_strip_ours_among_junk),
        UNIT_TEST(test_strip_max_length),
        UNIT_TEST(test_strip_whitespace_variants),
        UNIT_TEST(test_strip_refuses_a_short_buffer),
        UNIT_TEST(test_strip_exhaustive_small),
    };
    return UNIT_RUN("cookie", tests);
}
