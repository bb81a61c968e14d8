/* AuthOIDCLoginURI input and the chooser page (see aoidc_chooser.h). */
#include "aoidc_chooser.h"
#include "aoidc_claims.h"
#include "aoidc_state.h"
#include "aoidc_util.h"

#include <apr_strings.h>
#include <string.h>

const char *aoidc_login_req_str(aoidc_login_req_rc_t rc)
{
    switch (rc) {
    case AOIDC_LR_OK:
        return "ok";
    case AOIDC_LR_TOO_LONG:
        return "query too long";
    case AOIDC_LR_MALFORMED:
        return "a repeated or malformed parameter";
    case AOIDC_LR_NO_PROVIDER:
        return "no valid provider name";
    case AOIDC_LR_BAD_RETURN:
        return "return is not a local path";
    case AOIDC_LR_BAD_HINT:
        return "login_hint empty, too long or with control characters";
    case AOIDC_LR_BAD_PROMPT:
        return "prompt is not made of login, consent, select_account or none";
    case AOIDC_LR_BAD_MAX_AGE:
        break;
    }
    return "max_age is not a number of seconds";
}

static int no_controls(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

int aoidc_display_name_ok(const char *s)
{
    return s && *s && strlen(s) <= AOIDC_DISPLAY_NAME_MAX && no_controls(s);
}

/* space-separated words of {login, consent, select_account, none}; none
 * alone (OpenID Connect Core 3.1.2.1) */
static int prompt_ok(const char *s)
{
    static const char *words[] = {"login", "consent", "select_account", "none", NULL};
    int n = 0, none = 0;
    if (!*s || strlen(s) > 64) {
        return 0;
    }
    for (const char *w = s; *w;) {
        const char *e = strchr(w, ' ');
        apr_size_t len = e ? (apr_size_t)(e - w) : strlen(w);
        int ok = 0;
        for (int i = 0; words[i] && !ok; i++) {
            ok = strlen(words[i]) == len && strncmp(words[i], w, len) == 0;
            none |= ok && i == 3;
        }
        if (!ok) {
            return 0;
        }
        n++;
        w += len;
        if (*w == ' ') {
            w++;
            if (!*w) {
                return 0;
            }
        }
    }
    return !none || n == 1;
}

aoidc_login_req_rc_t aoidc_login_request_parse(apr_pool_t *p, const char *query, aoidc_login_req_t *out)
{
    memset(out, 0, sizeof(*out));
    if (query && strlen(query) > AOIDC_LOGIN_QUERY_MAX) {
        return AOIDC_LR_TOO_LONG;
    }
    out->max_age = -1;
    const char *prov, *ret, *hint, *prompt, *mage;
    int np = aoidc_query_param(p, query, "provider", &prov), nr = aoidc_query_param(p, query, "return", &ret),
        nh = aoidc_query_param(p, query, "login_hint", &hint),
        nq = aoidc_query_param(p, query, "prompt", &prompt),
        nm = aoidc_query_param(p, query, "max_age", &mage);
    if (np < 0 || nr < 0 || nh < 0 || nq < 0 || nm < 0) {
        return AOIDC_LR_MALFORMED;
    }
    if (np == 0 || strlen(prov) > AOIDC_PROVIDER_NAME_MAX || !aoidc_claim_name_ok(prov)) {
        return AOIDC_LR_NO_PROVIDER;
    }
    if (nr && (strlen(ret) > AOIDC_STATE_RETURN_MAX || !aoidc_is_local_path(ret))) {
        return AOIDC_LR_BAD_RETURN;
    }
    if (nh && (!*hint || strlen(hint) > AOIDC_LOGIN_HINT_MAX || !no_controls(hint))) {
        return AOIDC_LR_BAD_HINT;
    }
    if (nq && !prompt_ok(prompt)) {
        return AOIDC_LR_BAD_PROMPT;
    }
    long age = 0;
    if (nm) {
        apr_size_t len = strlen(mage);
        if (len == 0 || len > 8) {
            return AOIDC_LR_BAD_MAX_AGE;
        }
        for (const char *c = mage; *c; c++) {
            if (*c < '0' || *c > '9') {
                return AOIDC_LR_BAD_MAX_AGE;
            }
            age = age * 10 + (*c - '0');
        }
        if (age > AOIDC_STATE_MAX_AGE_MAX) {
            return AOIDC_LR_BAD_MAX_AGE;
        }
    }
    out->provider = prov;
    out->return_to = nr ? ret : "/";
    out->login_hint = nh ? hint : NULL;
    out->prompt = nq ? prompt : NULL;
    out->max_age = nm ? (int)age : -1;
    return AOIDC_LR_OK;
}

char *aoidc_html_escape(apr_pool_t *p, const char *s)
{
    if (!s) {
        return apr_pstrdup(p, "");
    }
    apr_size_t n = 0;
    for (const char *c = s; *c; c++) {
        n += *c == '&' ? 5 : (*c == '<' || *c == '>') ? 4 : (*c == '"' || *c == '\'') ? 5 : 1;
    }
    char *out = apr_palloc(p, n + 1), *o = out;
    for (const char *c = s; *c; c++) {
        const char *rep = *c == '&'    ? "&amp;"
                          : *c == '<'  ? "&lt;"
                          : *c == '>'  ? "&gt;"
                          : *c == '"'  ? "&#34;"
                          : *c == '\'' ? "&#39;"
                                       : NULL;
        if (rep) {
            apr_size_t k = strlen(rep);
            memcpy(o, rep, k);
            o += k;
        }
        else {
            *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

static const char default_page[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>Log in</title>\n"
    "<style>body{font-family:sans-serif;max-width:28em;margin:3em auto;padding:0 1em}"
    "ul{list-style:none;padding:0}li{margin:.6em 0}"
    "a{display:block;padding:.8em 1em;border:1px solid "
    "#555;border-radius:.3em;text-decoration:none;color:#000}"
    "a:focus,a:hover{outline:3px solid #06c;background:#eef}</style>\n"
    "</head><body>\n<main>\n<h1>Log in</h1>\n<p>Choose how to log in:</p>\n" AOIDC_CHOOSER_SLOT
    "</main>\n</body></html>\n";

const char *aoidc_chooser_page(apr_pool_t *p, const char *tmpl, const aoidc_chooser_entry_t *e, int n)
{
    const char *page = tmpl ? tmpl : default_page;
    const char *slot = strstr(page, AOIDC_CHOOSER_SLOT);
    const char *list = "<ul>\n";
    for (int i = 0; i < n; i++) {
        list = apr_pstrcat(p, list, "<li><a href=\"", aoidc_html_escape(p, e[i].href), "\">",
                           aoidc_html_escape(p, e[i].display), "</a></li>\n", NULL);
    }
    list = apr_pstrcat(p, list, "</ul>\n", NULL);
    if (!slot) {
        return apr_pstrcat(p, page, list, NULL);
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, page, (apr_size_t)(slot - page)), list,
                       slot + sizeof(AOIDC_CHOOSER_SLOT) - 1, NULL);
}
