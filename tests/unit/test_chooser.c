/* aoidc_chooser: the AuthOIDCLoginURI query and the chooser page. Inputs
 * are exact-size malloc'd copies so that ASan sees any read past them. */
#include "unit.h"
#include "aoidc_chooser.h"
#include "aoidc_state.h"
#include "aoidc_util.h"

#include <stdlib.h>
#include <string.h>

static char *dup_c(const char *s)
{
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    memcpy(c, s, n + 1);
    return c;
}

static aoidc_login_req_rc_t parse(apr_pool_t *p, const char *q, aoidc_login_req_t *lr)
{
    char *c = q ? dup_c(q) : NULL;
    aoidc_login_req_rc_t rc = aoidc_login_request_parse(p, c, lr);
    free(c);
    return rc;
}

static void test_login_request(void **state)
{
    apr_pool_t *p = *state;
    aoidc_login_req_t lr;
    assert_int_equal(parse(p, "provider=two&return=%2Fapp%2F%3Fx%3D1", &lr), AOIDC_LR_OK);
    assert_string_equal(lr.provider, "two");
    assert_string_equal(lr.return_to, "/app/?x=1");
    assert_null(lr.login_hint);
    assert_null(lr.prompt);
    assert_int_equal(parse(p, "provider=main", &lr), AOIDC_LR_OK);
    assert_string_equal(lr.return_to, "/");
    assert_int_equal(parse(p, "provider=main&login_hint=a%40b.example&prompt=login+consent", &lr),
                     AOIDC_LR_OK);
    assert_string_equal(lr.login_hint, "a@b.example");
    assert_string_equal(lr.prompt, "login consent");
    assert_int_equal(parse(p, "provider=main&prompt=none", &lr), AOIDC_LR_OK);
    assert_int_equal(lr.max_age, -1);
    assert_int_equal(parse(p, "provider=main&max_age=300", &lr), AOIDC_LR_OK);
    assert_int_equal(lr.max_age, 300);
    assert_int_equal(parse(p, "provider=main&max_age=0", &lr), AOIDC_LR_OK);
    assert_int_equal(lr.max_age, 0);
    assert_int_equal(parse(p, "provider=main&max_age=", &lr), AOIDC_LR_BAD_MAX_AGE);
    assert_int_equal(parse(p, "provider=main&max_age=-1", &lr), AOIDC_LR_BAD_MAX_AGE);
    assert_int_equal(parse(p, "provider=main&max_age=2592001", &lr), AOIDC_LR_BAD_MAX_AGE);
    assert_int_equal(parse(p, "provider=main&max_age=123456789", &lr), AOIDC_LR_BAD_MAX_AGE);
    assert_int_equal(parse(p, "provider=main&max_age=1&max_age=2", &lr), AOIDC_LR_MALFORMED);

    assert_int_equal(parse(p, NULL, &lr), AOIDC_LR_NO_PROVIDER);
    assert_int_equal(parse(p, "return=/", &lr), AOIDC_LR_NO_PROVIDER);
    assert_int_equal(parse(p, "provider=", &lr), AOIDC_LR_NO_PROVIDER);
    assert_int_equal(parse(p, "provider=a%3Cb", &lr), AOIDC_LR_NO_PROVIDER);
    assert_int_equal(parse(p, "provider=a&provider=b", &lr), AOIDC_LR_MALFORMED);
    assert_int_equal(parse(p, "provider=a&return=%zz", &lr), AOIDC_LR_MALFORMED);
    assert_int_equal(parse(p, "provider=a&return=/x&return=/y", &lr), AOIDC_LR_MALFORMED);
    /* open redirects */
    const char *evil[] = {"https%3A%2F%2Fevil.example%2F",
                          "%2F%2Fevil.example",
                          "%2F%5Cevil.example",
                          "javascript%3Aalert(1)",
                          "%2Fa%0d%0aX%3A1",
                          "",
                          "x"};
    for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
        const char *q = apr_pstrcat(p, "provider=a&return=", evil[i], NULL);
        assert_int_equal(parse(p, q, &lr), AOIDC_LR_BAD_RETURN);
        assert_null(lr.return_to);
    }
    assert_int_equal(parse(p, "provider=a&login_hint=", &lr), AOIDC_LR_BAD_HINT);
    assert_int_equal(parse(p, "provider=a&login_hint=a%0ab", &lr), AOIDC_LR_BAD_HINT);
    assert_int_equal(parse(p, "provider=a&prompt=none+login", &lr), AOIDC_LR_BAD_PROMPT);
    assert_int_equal(parse(p, "provider=a&prompt=login+", &lr), AOIDC_LR_BAD_PROMPT);
    assert_int_equal(parse(p, "provider=a&prompt=create", &lr), AOIDC_LR_BAD_PROMPT);
    assert_int_equal(parse(p, "provider=a&prompt=", &lr), AOIDC_LR_BAD_PROMPT);

    /* bounds: exactly at the limits passes, one more does not */
    char *hint = apr_pcalloc(p, AOIDC_LOGIN_HINT_MAX + 2);
    memset(hint, 'h', AOIDC_LOGIN_HINT_MAX);
    assert_int_equal(parse(p, apr_pstrcat(p, "provider=a&login_hint=", hint, NULL), &lr), AOIDC_LR_OK);
    hint[AOIDC_LOGIN_HINT_MAX] = 'h';
    assert_int_equal(parse(p, apr_pstrcat(p, "provider=a&login_hint=", hint, NULL), &lr), AOIDC_LR_BAD_HINT);
    char *big = apr_pcalloc(p, AOIDC_LOGIN_QUERY_MAX + 2);
    memset(big, 'x', AOIDC_LOGIN_QUERY_MAX + 1);
    assert_int_equal(parse(p, big, &lr), AOIDC_LR_TOO_LONG);
    for (int rc = AOIDC_LR_OK; rc <= AOIDC_LR_BAD_MAX_AGE; rc++) {
        assert_non_null(aoidc_login_req_str((aoidc_login_req_rc_t)rc));
    }
}

static void test_escape_and_display(void **state)
{
    apr_pool_t *p = *state;
    assert_string_equal(aoidc_html_escape(p, "<a href=\"x\">&'</a>"),
                        "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;");
    assert_string_equal(aoidc_html_escape(p, NULL), "");
    char *c = dup_c("");
    assert_string_equal(aoidc_html_escape(p, c), "");
    free(c);
    assert_true(aoidc_display_name_ok("Company login (SSO)"));
    assert_false(aoidc_display_name_ok(""));
    assert_false(aoidc_display_name_ok("a\nb"));
    char big[AOIDC_DISPLAY_NAME_MAX + 2];
    memset(big, 'd', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(aoidc_display_name_ok(big));
    big[AOIDC_DISPLAY_NAME_MAX] = '\0';
    assert_true(aoidc_display_name_ok(big));
}

static void test_page(void **state)
{
    apr_pool_t *p = *state;
    aoidc_chooser_entry_t e[2] = {{"/oidc/login?provider=main&return=%2F", "Staff <b>"},
                                  {"/oidc/login?provider=two&return=%2F", "Partners \"&\""}};
    const char *page = aoidc_chooser_page(p, NULL, e, 2);
    assert_non_null(strstr(page, "<a href=\"/oidc/login?provider=main&amp;return=%2F\">Staff &lt;b&gt;</a>"));
    assert_non_null(strstr(page, "Partners &#34;&amp;&#34;"));
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, AOIDC_CHOOSER_SLOT));
    const char *t = aoidc_chooser_page(p, "<p>before</p>" AOIDC_CHOOSER_SLOT "<p>after</p>", e, 1);
    assert_string_equal(t,
                        "<p>before</p><ul>\n<li><a href=\"/oidc/login?provider=main&amp;return=%2F\">Staff "
                        "&lt;b&gt;</a></li>\n</ul>\n<p>after</p>");
    t = aoidc_chooser_page(p, "no slot", e, 0);
    assert_string_equal(t, "no slot<ul>\n</ul>\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UNIT_TEST(test_login_request),
        UNIT_TEST(test_escape_and_display),
        UNIT_TEST(test_page),
    };
    return UNIT_RUN("chooser", tests);
}
