/* The one place where outcomes become HTTP statuses and headers. Pages are
 * Apache's own plain error documents (ErrorDocument works); the reason goes
 * to the error log, never into the page. */
#include "mod_auth_oidc.h"
#include "aoidc_bearer.h"

APLOG_USE_MODULE(auth_oidc);

/* One policy for every page of ours: nothing loads, nothing frames it, a
 * form (the logout confirmation) posts only to us. */
#define OWN_PAGE_CSP "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

void aoidc_own_page_headers(apr_table_t *t)
{
    apr_table_setn(t, "Content-Security-Policy", OWN_PAGE_CSP);
    apr_table_setn(t, "X-Content-Type-Options", "nosniff");
    apr_table_setn(t, "Referrer-Policy", "no-referrer");
    apr_table_setn(t, "Cache-Control", "no-store");
}

int aoidc_respond(request_rec *r, aoidc_result_t res)
{
    if (res == AOIDC_R_OK) {
        return OK; /* the application answers: its headers are its own */
    }
    aoidc_own_page_headers(r->err_headers_out);
    switch (res) {
    case AOIDC_R_OK:
        return OK;
    case AOIDC_R_BAD_REQUEST:
        apr_table_setn(r->subprocess_env, "AUTH_OIDC_ERROR", "invalid_request");
        return HTTP_BAD_REQUEST;
    case AOIDC_R_UNAUTHORIZED:
        apr_table_setn(r->subprocess_env, "AUTH_OIDC_ERROR", "unauthorized");
        return HTTP_UNAUTHORIZED;
    case AOIDC_R_FORBIDDEN:
        apr_table_setn(r->subprocess_env, "AUTH_OIDC_ERROR", "forbidden");
        return HTTP_FORBIDDEN;
    case AOIDC_R_STORE_DOWN:
        apr_table_setn(r->subprocess_env, "AUTH_OIDC_ERROR", "session_store_unavailable");
        apr_table_setn(r->err_headers_out, "Retry-After", "5");
        return HTTP_SERVICE_UNAVAILABLE;
    case AOIDC_R_PROVIDER_DOWN:
        apr_table_setn(r->subprocess_env, "AUTH_OIDC_ERROR", "provider_unavailable");
        return HTTP_BAD_GATEWAY;
    case AOIDC_R_INTERNAL:
        break;
    }
    apr_table_setn(r->subprocess_env, "AUTH_OIDC_ERROR", "internal");
    return HTTP_INTERNAL_SERVER_ERROR;
}

int aoidc_redirect(request_rec *r, const char *location)
{
    apr_table_setn(r->err_headers_out, "Location", location);
    aoidc_own_page_headers(r->err_headers_out);
    return HTTP_MOVED_TEMPORARILY;
}

/* ---- bearer answers (RFC 6750) and the error filter ---- */

/* The realm: AuthName, else the server's name (aoidc_bearer_challenge
 * makes it quotable). */
static const char *realm(request_rec *r)
{
    const char *name = ap_auth_name(r);
    return name ? name : r->server->server_hostname;
}

/* An RFC 6750 answer: status, WWW-Authenticate, small JSON body. */
int aoidc_bearer_error(request_rec *r, int status, const char *error, const char *scope)
{
    apr_table_setn(r->err_headers_out, "WWW-Authenticate", aoidc_bearer_challenge(r->pool, realm(r), error, scope));
    aoidc_own_page_headers(r->err_headers_out);
    apr_table_setn(r->subprocess_env, "AUTH_OIDC_ERROR", error ? error : "unauthorized");
    aoidc_req_ctx_t *ctx = aoidc_req_ctx(r);
    if (ctx) {
        ctx->json_error = error ? error : "unauthorized";
    }
    else {
        ctx = apr_pcalloc(r->pool, sizeof(*ctx));
        ctx->json_error = error ? error : "unauthorized";
        ap_set_module_config(r->request_config, &auth_oidc_module, ctx);
    }
    ap_custom_response(r, status, apr_psprintf(r->pool, "{\"error\":\"%s\"}\n", ctx->json_error));
    return status;
}

/* Error pages are text/html by Apache's decision, taken after the
 * insert_error_filter hook; this filter, added there, gives a bearer
 * answer its JSON type on the way out. */
static apr_status_t json_error_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ap_set_content_type(f->r, "application/json");
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

void aoidc_register_error_filter(void)
{
    ap_register_output_filter("AOIDC_JSON_ERROR", json_error_filter, NULL, AP_FTYPE_CONTENT_SET);
}

/* insert_error_filter: an authorization failure of ours on an
 * authenticated request is a 403, whatever Apache's 401 default (RFC 6750
 * insufficient_scope for tokens, a plain Forbidden page for sessions). */
void aoidc_fix_authz_status(request_rec *r)
{
    aoidc_req_ctx_t *ctx = aoidc_req_ctx(r);
    if (!ctx) {
        return;
    }
    if (r->status == HTTP_UNAUTHORIZED && r->user && ctx->authz_denied) {
        /* the error page was chosen by the 401 status: its text is ours now */
        r->status = HTTP_FORBIDDEN;
        r->status_line = "403 Forbidden";
        apr_table_unset(r->err_headers_out, "WWW-Authenticate");
        aoidc_own_page_headers(r->err_headers_out);
        if (ctx->bearer) {
            aoidc_bearer_error(r, HTTP_UNAUTHORIZED, "insufficient_scope", ctx->missing_scope);
        }
        else {
            ap_custom_response(r, HTTP_UNAUTHORIZED,
                               "<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head><body>\n"
                               "<h1>Forbidden</h1>\n<p>You are logged in, but not allowed to see this page.</p>\n"
                               "</body></html>\n");
        }
    }
    if (ctx->json_error) {
        ap_add_output_filter("AOIDC_JSON_ERROR", NULL, r, r->connection);
    }
}
