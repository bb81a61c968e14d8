/* Several providers for one location (AuthOIDCUseProvider a b ...):
 *  - the chooser: a navigation without a session gets a small page listing
 *    the location's providers (our own, an AuthOIDCChooserTemplate file, or
 *    a redirect to the app's AuthOIDCChooserURI), each a link to
 *  - AuthOIDCLoginURI?provider=NAME&return=PATH[&login_hint=..][&prompt=..],
 *    which starts a login with that provider and comes back to the local
 *    path; apps link to it for "Log in with X" buttons.
 * The query is parsed in the core (aoidc_chooser.c, under fuzz_chooser). */
#include "mod_auth_oidc.h"
#include "aoidc_chooser.h"
#include "aoidc_request.h"
#include "aoidc_util.h"

APLOG_USE_MODULE(auth_oidc);

/* No script, nothing external, no framing; a little inline style only. */
#define CHOOSER_CSP                                                                                          \
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'self'; "   \
    "frame-ancestors 'none'"

static const char *login_link(request_rec *r, aoidc_srv_cfg_t *sc, const char *provider,
                              const char *return_to)
{
    return apr_pstrcat(r->pool, sc->login_uri, "?provider=", aoidc_url_encode(r->pool, provider),
                       "&return=", aoidc_url_encode(r->pool, return_to), NULL);
}

int aoidc_chooser(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc)
{
    if (!sc->login_uri) {
        /* only from .htaccess: check_config refuses it in the server config */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(832) "%s",
                      "AuthOIDCUseProvider with several providers needs AuthOIDCLoginURI for this server");
        return aoidc_respond(r, AOIDC_R_INTERNAL);
    }
    const char *return_to = aoidc_return_target(r->unparsed_uri);
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    if (sc->chooser_uri) {
        const char *names = apr_array_pstrcat(r->pool, dc->provider_names, ' ');
        return aoidc_redirect(r, apr_pstrcat(r->pool, sc->chooser_uri,
                                             "?providers=", aoidc_url_encode(r->pool, names),
                                             "&return=", aoidc_url_encode(r->pool, return_to), NULL));
    }
    int n = dc->provider_names->nelts;
    aoidc_chooser_entry_t *e = apr_pcalloc(r->pool, sizeof(*e) * (apr_size_t)n);
    for (int i = 0; i < n; i++) {
        const char *name = APR_ARRAY_IDX(dc->provider_names, i, const char *);
        aoidc_provider_t *pr = aoidc_find_provider(sc, name);
        e[i].href = login_link(r, sc, name, return_to);
        if (dc->max_auth_age >= 0) {
            /* AuthOIDCMaxAuthAge: the login must bring a recent enough one */
            e[i].href = apr_psprintf(r->pool, "%s&max_age=%d", e[i].href, dc->max_auth_age);
        }
        e[i].display = pr && pr->display_name ? pr->display_name : name;
    }
    const char *page = aoidc_chooser_page(r->pool, sc->chooser_template, e, n);
    aoidc_own_page_headers(r->headers_out);
    /* the shared policy, plus the page's own inline style */
    apr_table_setn(r->headers_out, "Content-Security-Policy", CHOOSER_CSP);
    apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_set_content_length(r, (apr_off_t)strlen(page));
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(833) "provider chooser (%d providers)", n);
    if (!r->header_only) {
        ap_rputs(page, r);
    }
    return DONE;
}

int aoidc_handle_login_uri(request_rec *r, aoidc_srv_cfg_t *sc)
{
    if (r->method_number != M_GET) {
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    aoidc_login_req_t lr;
    aoidc_login_req_rc_t rc = aoidc_login_request_parse(r->pool, r->args, &lr);
    if (rc != AOIDC_LR_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(834) "login URI request refused: %s",
                      aoidc_login_req_str(rc));
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    aoidc_provider_t *pr = aoidc_find_provider(sc, lr.provider);
    if (!pr) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      AOIDC_LOGNO(835) "login URI: no provider '%s' on this server",
                      ap_escape_logitem(r->pool, lr.provider));
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    if (!sc->store) {
        return aoidc_respond(r, AOIDC_R_STORE_DOWN);
    }
    aoidc_login_opts_t o = {
        .return_to = lr.return_to, .login_hint = lr.login_hint, .prompt = lr.prompt, .max_age = lr.max_age};
    return aoidc_login_redirect(r, sc, pr, &o);
}
