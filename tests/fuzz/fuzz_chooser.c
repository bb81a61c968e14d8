/* libFuzzer target for the AuthOIDCLoginURI query and the chooser page
 * (aoidc_chooser.h). The first byte picks the parser; the rest is the input,
 * in an exact-size malloc'd buffer so that ASan sees any read past it.
 * Whatever is accepted is checked against the header's promises (a return
 * target is a local path, the page carries no unescaped markup). */
#include "aoidc_chooser.h"
#include "aoidc_callback_hint.h"
#include "aoidc_claims.h"
#include "aoidc_forwarded.h"
#include "aoidc_reauth.h"
#include "aoidc_state.h"
#include "aoidc_util.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                             \
    do {                                                                                                     \
        if (!(c)) {                                                                                          \
            __builtin_trap();                                                                                \
        }                                                                                                    \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        apr_initialize();
        init = 1;
    }
    if (size < 1) {
        return 0;
    }
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    size_t n = size - 1;
    size_t clen = strnlen((const char *)data + 1, n);
    char *s = malloc(clen + 1);
    memcpy(s, data + 1, clen);
    s[clen] = '\0';

    switch (data[0] % 6) {
    case 0: {
        aoidc_login_req_t lr;
        aoidc_login_req_rc_t rc = aoidc_login_request_parse(p, s, &lr);
        if (rc == AOIDC_LR_OK) {
            CHECK(strlen(s) <= AOIDC_LOGIN_QUERY_MAX);
            CHECK(lr.provider && aoidc_claim_name_ok(lr.provider) &&
                  strlen(lr.provider) <= AOIDC_PROVIDER_NAME_MAX);
            CHECK(lr.return_to && aoidc_is_local_path(lr.return_to) &&
                  strlen(lr.return_to) <= AOIDC_STATE_RETURN_MAX);
            CHECK(lr.return_to[1] != '/' && lr.return_to[1] != '\\');
            CHECK(!lr.login_hint || (*lr.login_hint && strlen(lr.login_hint) <= AOIDC_LOGIN_HINT_MAX));
            CHECK(!lr.prompt || !strchr(lr.prompt, '<'));
            CHECK(lr.max_age >= -1 && lr.max_age <= AOIDC_STATE_MAX_AGE_MAX);
        }
        aoidc_login_req_str(rc);
        break;
    }
    case 1: {
        /* escaped text never holds markup characters */
        const char *e = aoidc_html_escape(p, s);
        CHECK(!strpbrk(e, "<>\"'"));
        aoidc_display_name_ok(s);
        break;
    }
    case 2: {
        /* "href\ndisplay": the page's only markup is ours */
        const char *nl = strchr(s, '\n');
        aoidc_chooser_entry_t e = {nl ? apr_pstrmemdup(p, s, (apr_size_t)(nl - s)) : s, nl ? nl + 1 : ""};
        const char *page = aoidc_chooser_page(p, "[" AOIDC_CHOOSER_SLOT "]", &e, 1);
        const char *inner = page + strlen("[<ul>\n<li><a href=\"");
        CHECK(strncmp(page, "[<ul>\n<li><a href=\"", 19) == 0);
        const char *q = strchr(inner, '"');
        CHECK(q && strncmp(q, "\">", 2) == 0);
        const char *end = strstr(q + 2, "</a></li>\n</ul>\n]");
        CHECK(end && end[strlen("</a></li>\n</ul>\n]")] == '\0');
        for (const char *c = q + 2; c < end; c++) {
            CHECK(*c != '<' && *c != '>');
        }
        break;
    }
    case 4: {
        /* "forwarded\nx-forwarded-proto\nx-forwarded-host": what counts is valid */
        const char *a = s, *b = NULL, *c = NULL;
        char *nl = strchr(s, '\n');
        if (nl) {
            *nl = '\0';
            b = nl + 1;
            char *nl2 = strchr(b, '\n');
            if (nl2) {
                *nl2 = '\0';
                c = nl2 + 1;
            }
        }
        aoidc_fwd_t f;
        aoidc_forwarded_parse(p, a, b, c, &f);
        CHECK(!f.proto || strcmp(f.proto, "https") == 0 || strcmp(f.proto, "http") == 0);
        CHECK(!f.host || (aoidc_forwarded_host_ok(f.host) && !strpbrk(f.host, "/@?#\\ \"")));
        break;
    }
    case 5: {
        aoidc_missing_state_t in = {.cookie_header = (int)(n & 1),
                                    .other_states = (int)(n % 3),
                                    .scheme = (n & 2) ? "http" : "https",
                                    .cookie_secure = 1,
                                    .host = s,
                                    .redirect_host = (n & 4) ? "app.example.test" : NULL};
        const char *c = aoidc_missing_state_causes(p, &in);
        CHECK(c && *c);
        break;
    }
    case 3: {
        /* auth_time as a session keeps it (a claim value) */
        apr_int64_t t = aoidc_reauth_auth_time(s);
        CHECK(t >= 0);
        if (t > 0) {
            CHECK(strlen(s) <= 19 && strspn(s, "0123456789") == strlen(s));
        }
        break;
    }
    }
    free(s);
    apr_pool_destroy(p);
    return 0;
}
