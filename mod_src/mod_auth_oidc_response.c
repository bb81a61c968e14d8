/* The one place where outcomes become HTTP statuses and headers. Pages are
 * Apache's own plain error documents (ErrorDocument works); the reason goes
 * to the error log, never into the page. */
#include "mod_auth_oidc.h"

APLOG_USE_MODULE(auth_oidc);

int aoidc_respond(request_rec *r, aoidc_result_t res)
{
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
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
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    return HTTP_MOVED_TEMPORARILY;
}
