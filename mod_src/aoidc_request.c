/* Client input of our own URIs (see aoidc_request.h). */
#include "aoidc_request.h"
#include "aoidc_state.h"
#include "aoidc_util.h"

#include <apr_strings.h>
#include <string.h>
#include <strings.h>

/* --- the callback -------------------------------------------------------- */

const char *aoidc_cb_parse_str(aoidc_cb_parse_t rc)
{
    switch (rc) {
    case AOIDC_CB_OK:
        return "ok";
    case AOIDC_CB_TOO_LONG:
        return "query too long";
    case AOIDC_CB_MALFORMED:
        return "a repeated or malformed parameter";
    case AOIDC_CB_NO_STATE:
        break;
    }
    return "no valid state";
}

static const char *cut(apr_pool_t *p, const char *s)
{
    return s && strlen(s) > AOIDC_ERROR_TEXT_MAX ? apr_pstrndup(p, s, AOIDC_ERROR_TEXT_MAX) : s;
}

aoidc_cb_parse_t aoidc_callback_parse(apr_pool_t *p, const char *query, aoidc_callback_t *out)
{
    memset(out, 0, sizeof(*out));
    if (query && strlen(query) > AOIDC_CALLBACK_QUERY_MAX) {
        return AOIDC_CB_TOO_LONG;
    }
    const char *state, *code, *error, *desc, *iss;
    int ns = aoidc_query_param(p, query, "state", &state), nc = aoidc_query_param(p, query, "code", &code),
        ne = aoidc_query_param(p, query, "error", &error),
        nd = aoidc_query_param(p, query, "error_description", &desc),
        ni = aoidc_query_param(p, query, "iss", &iss);
    if (ns < 0 || nc < 0 || ne < 0 || nd < 0 || ni < 0) {
        return AOIDC_CB_MALFORMED;
    }
    if (ns == 0 || !aoidc_state_param_ok(state)) {
        return AOIDC_CB_NO_STATE;
    }
    out->state = state;
    out->code = nc ? code : NULL;
    out->error = ne ? cut(p, error) : NULL;
    out->error_description = nd ? cut(p, desc) : NULL;
    out->iss = ni ? iss : NULL;
    return AOIDC_CB_OK;
}

int aoidc_callback_code_usable(const char *code)
{
    return code && *code && strlen(code) <= AOIDC_CODE_MAX;
}

/* --- targets ------------------------------------------------------------- */

const char *aoidc_return_target(const char *uri)
{
    if (!uri || strlen(uri) > AOIDC_STATE_RETURN_MAX || !aoidc_is_local_path(uri)) {
        return "/";
    }
    return uri;
}

int aoidc_logout_target(apr_pool_t *p, const char *query, const apr_array_header_t *allowed, const char **target)
{
    const char *t;
    int n = aoidc_query_param(p, query, "return", &t);
    *target = NULL;
    if (n < 0) {
        return 0;
    }
    if (n == 0) {
        *target = allowed && allowed->nelts ? APR_ARRAY_IDX(allowed, 0, const char *) : "/";
        return 1;
    }
    for (int i = 0; allowed && i < allowed->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(allowed, i, const char *), t) == 0) {
            *target = APR_ARRAY_IDX(allowed, i, const char *);
            return 1;
        }
    }
    return 0;
}

/* --- back-channel logout body --------------------------------------------- */

int aoidc_form_content_type_ok(const char *ctype)
{
    static const char form[] = "application/x-www-form-urlencoded";
    const apr_size_t n = sizeof(form) - 1;
    return ctype && strncasecmp(ctype, form, n) == 0 &&
           (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ' || ctype[n] == '\t');
}

int aoidc_backchannel_token(apr_pool_t *p, const char *body, apr_size_t len, const char **token)
{
    *token = NULL;
    if (!body || len > AOIDC_BCL_BODY_MAX || memchr(body, '\0', len)) {
        return 0;
    }
    const char *copy = apr_pstrmemdup(p, body, len);
    const char *t;
    if (aoidc_query_param(p, copy, "logout_token", &t) != 1 || !*t) {
        return 0;
    }
    *token = t;
    return 1;
}

/* --- same origin ---------------------------------------------------------- */

int aoidc_origin_is(const char *our_origin, const char *origin)
{
    return our_origin && origin && *our_origin && strcasecmp(our_origin, origin) == 0;
}

int aoidc_referer_is(const char *our_origin, const char *referer)
{
    if (!our_origin || !referer || !*our_origin) {
        return 0;
    }
    apr_size_t n = strlen(our_origin);
    return strncasecmp(our_origin, referer, n) == 0 &&
           (referer[n] == '\0' || referer[n] == '/' || referer[n] == '?' || referer[n] == '#');
}

aoidc_xsite_t aoidc_logout_xsite(int is_post, const char *sec_fetch_site, const char *origin, const char *referer,
                                 const char *our_origin)
{
    if (!is_post) {
        int foreign = sec_fetch_site &&
                      (strcasecmp(sec_fetch_site, "cross-site") == 0 || strcasecmp(sec_fetch_site, "same-site") == 0);
        if (foreign && !aoidc_origin_is(our_origin, origin) && !aoidc_referer_is(our_origin, referer)) {
            return AOIDC_XS_CONFIRM;
        }
        return AOIDC_XS_ALLOW;
    }
    if (sec_fetch_site && strcasecmp(sec_fetch_site, "same-origin") != 0) {
        return AOIDC_XS_REFUSE;
    }
    if (origin && !aoidc_origin_is(our_origin, origin)) {
        return AOIDC_XS_REFUSE;
    }
    if (!sec_fetch_site && !origin && referer && !aoidc_referer_is(our_origin, referer)) {
        return AOIDC_XS_REFUSE;
    }
    return AOIDC_XS_ALLOW;
}

int aoidc_request_is_navigation(const char *sec_fetch_mode, const char *x_requested_with, const char *accept,
                                int is_get)
{
    if (sec_fetch_mode) {
        return strcasecmp(sec_fetch_mode, "navigate") == 0;
    }
    if (x_requested_with && strcasecmp(x_requested_with, "XMLHttpRequest") == 0) {
        return 0;
    }
    if (accept && !strcasestr(accept, "text/html") && !strstr(accept, "*/*")) {
        return 0;
    }
    return is_get != 0;
}
