/* Checks of the whole configuration that no single directive handler can
 * make, run from check_config (so `apachectl -t` fails on them):
 *  - an AuthType oidc / oidc-bearer section on a server without any
 *    <AuthOIDCProvider> (without this check the location only fails at run
 *    time), named by the file and line of its AuthType and of its section;
 *  - an http: issuer on a host other than the loopback: a warning, since
 *    codes, tokens and the provider's keys then travel in clear.
 * The per-location provider names are checked in mod_auth_oidc_config.c
 * (provider_ref), against the providers of the location's own server. */
#include "mod_auth_oidc.h"

#include <apr_hash.h>
#include <util_cfgtree.h>

APLOG_USE_MODULE(auth_oidc);

/* The server a <VirtualHost> section made: httpd records the section's file
 * and line in the server record. The main server for anything else. */
static server_rec *server_of_section(server_rec *s, const ap_directive_t *vh)
{
    for (server_rec *sv = s->next; sv; sv = sv->next) {
        if (sv->defn_name && vh->filename && strcmp(sv->defn_name, vh->filename) == 0 &&
            sv->defn_line_number == (unsigned)vh->line_num) {
            return sv;
        }
    }
    return s;
}

static int has_providers(server_rec *sv)
{
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(sv);
    return sc && sc->providers && sc->providers->nelts > 0;
}

/* "<Location /app>" at file:line, the section holding an AuthType. */
/* "<Location /x>": the section d is in, as the node snapshot shows it (no
 * file name: it differs between nodes while the setting does not). */
static const char *section_label(apr_pool_t *p, const ap_directive_t *d)
{
    const ap_directive_t *sec = d->parent;
    if (!sec) {
        return "the server configuration";
    }
    const char *args = sec->args ? sec->args : "";
    apr_size_t n = strlen(args);
    if (n && args[n - 1] == '>') {
        n--;
    }
    return apr_psprintf(p, "%s %.*s>", sec->directive, (int)n, args);
}

/* The section with its file and line, for error messages. */
static const char *section_name(apr_pool_t *p, const ap_directive_t *d)
{
    const char *label = section_label(p, d);
    return d->parent ? apr_psprintf(p, "%s at %s:%d", label, d->parent->filename, d->parent->line_num) : label;
}

/* The names a directive of the same section as d lists (NULL: none). */
static apr_array_header_t *section_names(apr_pool_t *p, const ap_directive_t *d, const char *directive)
{
    for (const ap_directive_t *x = d->parent ? d->parent->first_child : ap_conftree; x; x = x->next) {
        if (strcasecmp(x->directive, directive) == 0 && x->args) {
            apr_array_header_t *a = apr_array_make(p, 2, sizeof(const char *));
            const char *args = x->args;
            const char *w;
            while (*(w = ap_getword_conf(p, &args))) {
                APR_ARRAY_PUSH(a, const char *) = w;
            }
            return a;
        }
    }
    return NULL;
}

static void note_use(apr_pool_t *pconf, aoidc_provider_t *pr, const char *where)
{
    if (!pr->locations) {
        pr->locations = apr_array_make(pconf, 4, sizeof(const char *));
    }
    for (int i = 0; i < pr->locations->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(pr->locations, i, const char *), where) == 0) {
            return;
        }
    }
    APR_ARRAY_PUSH(pr->locations, const char *) = apr_pstrdup(pconf, where);
}

/* Which providers an AuthType section uses, for the node snapshot (the
 * console shows it): its AuthOIDCUseProvider (AuthOIDCBearerProviders for
 * oidc-bearer) names in that section, else the default (the server's first;
 * every provider for tokens). Names set in an enclosing section or a
 * .htaccess file are not seen. */
static void record_use(apr_pool_t *pconf, apr_pool_t *p, server_rec *cur, const ap_directive_t *d, int bearer)
{
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(cur);
    const char *where = section_label(p, d);
    apr_array_header_t *names =
        section_names(p, d, bearer ? "AuthOIDCBearerProviders" : "AuthOIDCUseProvider");
    for (int i = 0; sc->providers && i < sc->providers->nelts; i++) {
        aoidc_provider_t *pr = APR_ARRAY_IDX(sc->providers, i, aoidc_provider_t *);
        int used = names ? 0 : bearer || i == 0;
        for (int j = 0; names && j < names->nelts && !used; j++) {
            used = strcmp(APR_ARRAY_IDX(names, j, const char *), pr->name) == 0;
        }
        if (used) {
            note_use(pconf, pr, where);
        }
    }
}

static int walk(apr_pool_t *pconf, apr_pool_t *p, server_rec *s, server_rec *cur, const ap_directive_t *d)
{
    int rc = OK;
    for (; d; d = d->next) {
        if (strcasecmp(d->directive, "<VirtualHost") == 0) {
            if (walk(pconf, p, s, server_of_section(s, d), d->first_child) != OK) {
                rc = HTTP_INTERNAL_SERVER_ERROR;
            }
            continue;
        }
        if (strcasecmp(d->directive, "AuthType") == 0 && d->args) {
            const char *args = d->args;
            const char *type = ap_getword_conf(p, &args);
            int bearer = strcasecmp(type, AOIDC_BEARER_AUTH_TYPE) == 0;
            if ((bearer || strcasecmp(type, AOIDC_AUTH_TYPE) == 0) && has_providers(cur)) {
                record_use(pconf, p, cur, d, bearer);
            }
            if ((strcasecmp(type, AOIDC_AUTH_TYPE) == 0 || strcasecmp(type, AOIDC_BEARER_AUTH_TYPE) == 0) &&
                !has_providers(cur)) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, cur,
                             AOIDC_LOGNO(830) "auth_oidc: AuthType %s at %s:%d (in %s) on a server without "
                                              "any <AuthOIDCProvider>",
                             type, d->filename, d->line_num, section_name(p, d));
                rc = HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        if (strcasecmp(d->directive, "AuthOIDCUseProvider") == 0 && d->args) {
            const char *args = d->args;
            int n = 0;
            while (*ap_getword_conf(p, &args)) {
                n++;
            }
            if (n > 1 && !aoidc_srv_cfg(cur)->login_uri) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, cur, AOIDC_LOGNO(836) "auth_oidc: %s at %s:%d names %d "
                             "providers: the chooser needs AuthOIDCLoginURI on its server",
                             "AuthOIDCUseProvider", d->filename, d->line_num, n);
                rc = HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        if (d->first_child && walk(pconf, p, s, cur, d->first_child) != OK) {
            rc = HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return rc;
}

/* localhost, *.localhost (RFC 6761), 127.0.0.0/8, ::1 */
static int loopback_host(const char *h)
{
    apr_size_t n = h ? strlen(h) : 0;
    if (!n) {
        return 0;
    }
    if (strcasecmp(h, "localhost") == 0 || (n > 10 && strcasecmp(h + n - 10, ".localhost") == 0) ||
        strcmp(h, "::1") == 0 || strcmp(h, "[::1]") == 0) {
        return 1;
    }
    if (strncmp(h, "127.", 4) != 0) {
        return 0;
    }
    for (const char *c = h + 4; *c; c++) {
        if (!apr_isdigit(*c) && *c != '.') {
            return 0;
        }
    }
    return 1;
}

static void warn_http_issuers(apr_pool_t *p, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(p);
    for (server_rec *sv = s; sv; sv = sv->next) {
        aoidc_srv_cfg_t *sc = aoidc_srv_cfg(sv);
        for (int i = 0; sc && sc->providers && i < sc->providers->nelts; i++) {
            aoidc_provider_t *pr = APR_ARRAY_IDX(sc->providers, i, aoidc_provider_t *);
            if (apr_hash_get(seen, &pr, sizeof(pr))) {
                continue;
            }
            apr_hash_set(seen, apr_pmemdup(p, &pr, sizeof(pr)), sizeof(pr), pr);
            apr_uri_t u;
            if (!pr->issuer || strncasecmp(pr->issuer, "http:", 5) != 0 ||
                apr_uri_parse(p, pr->issuer, &u) != APR_SUCCESS || loopback_host(u.hostname)) {
                continue;
            }
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sv,
                         AOIDC_LOGNO(831) "auth_oidc: <AuthOIDCProvider %s> at %s: AuthOIDCIssuer %s is "
                                          "plain http on a host that "
                                          "is not the loopback; codes, tokens and the provider's keys travel "
                                          "unprotected (use https)",
                         pr->name, pr->defined_in ? pr->defined_in : "?", pr->issuer);
        }
    }
}

static int same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* AuthOIDCLoginURI must not shadow another of our URIs. */
static int check_login_uri(server_rec *s)
{
    int rc = OK;
    for (server_rec *sv = s; sv; sv = sv->next) {
        aoidc_srv_cfg_t *sc = aoidc_srv_cfg(sv);
        if (sc && sc->login_uri &&
            (same(sc->login_uri, sc->redirect_path) || same(sc->login_uri, sc->logout_uri) ||
             same(sc->login_uri, sc->backchannel_uri))) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sv,
                         AOIDC_LOGNO(837) "auth_oidc: AuthOIDCLoginURI %s must differ from "
                                          "AuthOIDCRedirectURI, AuthOIDCLogoutURI "
                                          "and AuthOIDCBackChannelLogoutURI",
                         sc->login_uri);
            rc = HTTP_INTERNAL_SERVER_ERROR;
        }
        /* a provider's own redirect URI is answered before the others */
        for (int i = 0; sc && sc->providers && i < sc->providers->nelts; i++) {
            aoidc_provider_t *pr = APR_ARRAY_IDX(sc->providers, i, aoidc_provider_t *);
            if (pr->redirect_path && (same(pr->redirect_path, sc->logout_uri) ||
                                      same(pr->redirect_path, sc->backchannel_uri) ||
                                      same(pr->redirect_path, sc->login_uri))) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sv, AOIDC_LOGNO(843)
                             "auth_oidc: AuthOIDCRedirectURI %s of <AuthOIDCProvider %s> at %s must differ from "
                             "AuthOIDCLogoutURI, AuthOIDCBackChannelLogoutURI and AuthOIDCLoginURI",
                             pr->redirect_uri, pr->name, pr->defined_in ? pr->defined_in : "?");
                rc = HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }
    return rc;
}

int aoidc_confcheck(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    warn_http_issuers(ptemp, s);
    int rc = walk(pconf, ptemp, s, s, ap_conftree);
    return check_login_uri(s) != OK ? HTTP_INTERNAL_SERVER_ERROR : rc;
}
