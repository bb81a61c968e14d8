/* AuthOIDCTrustedProxies: behind a reverse proxy, the scheme and host the
 * browser used come from Forwarded / X-Forwarded-Proto / X-Forwarded-Host,
 * but only when the TCP peer is one of the listed proxies; from anyone else
 * those headers are ignored. They shape the absolute URLs we build (the
 * redirect URI when it is a path, post-logout targets, our origin for the
 * logout's same-origin rule). Parsing is in the core (aoidc_forwarded.c). */
#include "mod_auth_oidc.h"
#include "aoidc_forwarded.h"

#include <apr_network_io.h>

APLOG_USE_MODULE(auth_oidc);

const char *aoidc_cmd_trusted_proxies(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    if (err) {
        return err;
    }
    if (argc < 1) {
        return "AuthOIDCTrustedProxies: needs at least one address or addr/prefix";
    }
    apr_array_header_t *a = apr_array_make(cmd->pool, argc, sizeof(apr_ipsubnet_t *));
    for (int i = 0; i < argc; i++) {
        char *addr = apr_pstrdup(cmd->pool, argv[i]);
        char *slash = strchr(addr, '/');
        if (slash) {
            *slash++ = '\0';
        }
        apr_ipsubnet_t *sub = NULL;
        if (!*addr || (slash && (!*slash || strspn(slash, "0123456789") != strlen(slash))) ||
            apr_ipsubnet_create(&sub, addr, slash, cmd->pool) != APR_SUCCESS) {
            return apr_psprintf(cmd->pool, "AuthOIDCTrustedProxies: '%s' is not an IP address or addr/prefix",
                                argv[i]);
        }
        APR_ARRAY_PUSH(a, apr_ipsubnet_t *) = sub;
    }
    aoidc_srv_cfg(cmd->server)->trusted_proxies = a;
    return NULL;
}

static int peer_trusted(request_rec *r, const aoidc_srv_cfg_t *sc)
{
    const apr_array_header_t *a = sc->trusted_proxies;
    for (int i = 0; a && i < a->nelts; i++) {
        if (apr_ipsubnet_test(APR_ARRAY_IDX(a, i, apr_ipsubnet_t *), r->connection->client_addr)) {
            return 1;
        }
    }
    return 0;
}

/* What a trusted proxy says (both NULL otherwise). Only the login,
 * callback and logout paths ask, so it is parsed when asked. */
static const aoidc_fwd_t *forwarded(request_rec *r)
{
    aoidc_fwd_t *got = apr_pcalloc(r->pool, sizeof(*got));
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(r->server);
    if (peer_trusted(r, sc)) {
        aoidc_forwarded_parse(r->pool, apr_table_get(r->headers_in, "Forwarded"),
                              apr_table_get(r->headers_in, "X-Forwarded-Proto"),
                              apr_table_get(r->headers_in, "X-Forwarded-Host"), got);
    }
    return got;
}

const char *aoidc_request_scheme(request_rec *r)
{
    const aoidc_fwd_t *f = forwarded(r);
    return f->proto ? f->proto : ap_http_scheme(r);
}

const char *aoidc_request_host(request_rec *r)
{
    const aoidc_fwd_t *f = forwarded(r);
    return f->host ? f->host : r->hostname;
}

const char *aoidc_absolute_url(request_rec *r, const char *path)
{
    const aoidc_fwd_t *f = forwarded(r);
    if (!f->proto && !f->host) {
        return ap_construct_url(r->pool, path, r);
    }
    const char *scheme = f->proto ? f->proto : ap_http_scheme(r);
    /* without a forwarded host, the name the browser used, on the default
     * port of the forwarded scheme (our own port is the proxy's business) */
    const char *host = f->host ? f->host : ap_get_server_name_for_url(r);
    return apr_pstrcat(r->pool, scheme, "://", host, path, NULL);
}
