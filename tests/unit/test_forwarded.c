/* aoidc_forwarded and aoidc_callback_hint: proxy headers and the causes of a
 * callback without its state cookie. Inputs are exact-size malloc'd copies. */
#include "unit.h"
#include "aoidc_callback_hint.h"
#include "aoidc_forwarded.h"

#include <stdlib.h>
#include <string.h>

static char *dup_c(const char *s)
{
    if (!s) {
        return NULL;
    }
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    memcpy(c, s, n + 1);
    return c;
}

static aoidc_fwd_t fwd(apr_pool_t *p, const char *f, const char *xp, const char *xh)
{
    char *a = dup_c(f), *b = dup_c(xp), *c = dup_c(xh);
    aoidc_fwd_t out;
    aoidc_forwarded_parse(p, a, b, c, &out);
    free(a);
    free(b);
    free(c);
    return out;
}

#define ASSERT_STR_OR_NULL(got, want)                                                                        \
    do {                                                                                                     \
        if (want) {                                                                                          \
            assert_non_null(got);                                                                            \
            assert_string_equal(got, want);                                                                  \
        }                                                                                                    \
        else {                                                                                               \
            assert_null(got);                                                                                \
        }                                                                                                    \
    } while (0)

static void test_parse(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *f, *xp, *xh, *proto, *host;
    } cases[] = {
        {NULL, NULL, NULL, NULL, NULL},
        {NULL, "https", "app.example.test", "https", "app.example.test"},
        {NULL, "HTTPS", "app.example.test:8443", "https", "app.example.test:8443"},
        {NULL, "http, https", "evil.example, app.example.test", "https",
         "app.example.test"}, /* the last hop */
        {NULL, "ftp", "app.example.test/x", NULL, NULL},
        {NULL, "https", "a b", "https", NULL},
        {NULL, "https", "evil.example:99999", "https", NULL},
        {NULL, "https", "[::1]:8443", "https", "[::1]:8443"},
        {NULL, "", ",", NULL, NULL},
        {"for=1.2.3.4;proto=https;host=app.example.test", NULL, NULL, "https", "app.example.test"},
        {"proto=http;host=evil.example, for=10.0.0.1;proto=https;host=\"app.example.test:8443\"", NULL, NULL,
         "https", "app.example.test:8443"},
        {"host=\"a,b\";proto=https", NULL, NULL, "https", NULL},
        {"for=\"[2001:db8::1]:80\";proto=https", "http", "x.example", "https", "x.example"},
        {"proto=https;host=\"unterminated", "http", "x.example", "http", "x.example"},
        {"proto=https;;host=ok.example", NULL, NULL, "https", "ok.example"},
        {"proto=https host=x.example", "http", NULL, "http", NULL}, /* bad element: ignored whole */
        {"=https", NULL, "h.example", NULL, "h.example"},
        {"proto=h\"ttps", NULL, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aoidc_fwd_t f = fwd(p, cases[i].f, cases[i].xp, cases[i].xh);
        ASSERT_STR_OR_NULL(f.proto, cases[i].proto);
        ASSERT_STR_OR_NULL(f.host, cases[i].host);
    }
    /* over the limit: ignored */
    char *big = apr_pcalloc(p, AOIDC_FORWARDED_MAX + 2);
    memset(big, 'a', AOIDC_FORWARDED_MAX + 1);
    aoidc_fwd_t f = fwd(p, NULL, "https", big);
    assert_null(f.host);
}

static void test_host_ok(void **state)
{
    (void)state;
    assert_true(aoidc_forwarded_host_ok("app.example.test"));
    assert_true(aoidc_forwarded_host_ok("127.0.0.1:8080"));
    assert_true(aoidc_forwarded_host_ok("[fe80::1]"));
    assert_false(aoidc_forwarded_host_ok(""));
    assert_false(aoidc_forwarded_host_ok(".x"));
    assert_false(aoidc_forwarded_host_ok("-x"));
    assert_false(aoidc_forwarded_host_ok("x:"));
    assert_false(aoidc_forwarded_host_ok("x:0"));
    assert_false(aoidc_forwarded_host_ok("x:65536"));
    assert_false(aoidc_forwarded_host_ok("x:80:80"));
    assert_false(aoidc_forwarded_host_ok("[]"));
    assert_false(aoidc_forwarded_host_ok("[::1]x"));
    assert_false(aoidc_forwarded_host_ok("[::1"));
    assert_false(aoidc_forwarded_host_ok("a@b"));
    assert_false(aoidc_forwarded_host_ok("a/b"));
    char big[AOIDC_HOST_MAX + 2];
    memset(big, 'h', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(aoidc_forwarded_host_ok(big));
    big[AOIDC_HOST_MAX] = '\0';
    assert_true(aoidc_forwarded_host_ok(big));
}

static void test_hints(void **state)
{
    apr_pool_t *p = *state;
    aoidc_missing_state_t in = {
        .cookie_header = 0, .scheme = "https", .cookie_secure = 1, .host = "app.test"};
    const char *c = aoidc_missing_state_causes(p, &in);
    assert_non_null(strstr(c, "sent no cookies"));
    in.cookie_header = 1;
    in.other_states = 2;
    c = aoidc_missing_state_causes(p, &in);
    assert_non_null(strstr(c, "2 other login attempt"));
    in.other_states = 0;
    in.scheme = "http";
    in.redirect_host = "www.app.test";
    c = aoidc_missing_state_causes(p, &in);
    assert_non_null(strstr(c, "host 'app.test' but AuthOIDCRedirectURI names 'www.app.test'"));
    assert_non_null(strstr(c, "arrived over http but the state cookie is Secure"));
    assert_non_null(strstr(c, "AuthOIDCTrustedProxies"));
    in.redirect_host = "APP.test";
    in.scheme = "https";
    c = aoidc_missing_state_causes(p, &in);
    assert_null(strstr(c, "AuthOIDCRedirectURI names"));
    assert_true(*c);
    assert_null(strstr(aoidc_missing_state_page, "<script"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {UNIT_TEST(test_parse), UNIT_TEST(test_host_ok), UNIT_TEST(test_hints)};
    return UNIT_RUN("forwarded", tests);
}
