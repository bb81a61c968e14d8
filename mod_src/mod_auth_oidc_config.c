/* Configuration: server and directory records, every directive, every check.
 * Values are parsed and range-checked here; the request path only reads them.
 * Each field has an unset marker (AOIDC_UNSET or NULL) and a merge rule;
 * defaults live in the accessors below, in one place. */
#include "mod_auth_oidc.h"
#include "mod_auth_oidc_spa.h"

#include "aoidc_chooser.h"
#include "aoidc_node.h"
#include "aoidc_state.h"
#include "aoidc_util.h"

#include <apr_hash.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

APLOG_USE_MODULE(auth_oidc);

#define DEF_COOKIE_NAME "aoidc_session"
#define DEF_INACTIVITY 3600
#define DEF_MAX_LIFETIME 28800
#define DEF_TOUCH 60
#define DEF_SESSION_CACHE_TTL 1
#define DEF_SESSION_CACHE_ENTRIES 10000
#define DEF_SKEW 60
#define DEF_HTTP_TIMEOUT 5
#define DEF_STORE_TIMEOUT 500
#define DEF_SCOPE "openid email profile"
#define DEF_CLAIM_PREFIX "OIDC_CLAIM_"
#define MAX_DURATION (30 * 86400) /* memcached reads larger TTLs as timestamps */

static const char *default_algs[] = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "EdDSA", NULL};

aoidc_srv_cfg_t *aoidc_srv_cfg(server_rec *s)
{
    return ap_get_module_config(s->module_config, &auth_oidc_module);
}

aoidc_dir_cfg_t *aoidc_dir_cfg(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &auth_oidc_module);
}

void *aoidc_create_srv_cfg(apr_pool_t *p, server_rec *s)
{
    aoidc_srv_cfg_t *c = apr_pcalloc(p, sizeof(*c));
    c->providers = NULL;
    c->store_timeout_ms = AOIDC_UNSET;
    c->cookie_secure = AOIDC_UNSET;
    c->inactivity = AOIDC_UNSET;
    c->max_lifetime = AOIDC_UNSET;
    c->touch_interval = AOIDC_UNSET;
    c->clock_skew = AOIDC_UNSET;
    c->http_timeout = AOIDC_UNSET;
    c->introspection_ttl = AOIDC_UNSET;
    c->bearer_cache_size = AOIDC_UNSET;
    c->session_cache_ttl = AOIDC_UNSET;
    c->session_cache_entries = AOIDC_UNSET;
    c->session_info_activity = AOIDC_UNSET;
    c->refresh_before = AOIDC_UNSET;
    c->refresh_failure = AOIDC_UNSET;
    c->binding = AOIDC_UNSET;
    c->binding_action = AOIDC_UNSET;
    return c;
}

#define MERGE_PTR(f) c->f = add->f ? add->f : base->f
#define MERGE_INT(f) c->f = add->f != AOIDC_UNSET ? add->f : base->f

void *aoidc_merge_srv_cfg(apr_pool_t *p, void *basev, void *addv)
{
    aoidc_srv_cfg_t *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
    /* a virtual host sees the main server's providers plus its own */
    if (base->providers && add->providers) {
        c->providers = apr_array_append(p, add->providers, base->providers);
    }
    else {
        MERGE_PTR(providers);
    }
    MERGE_PTR(crypto_key_file);
    MERGE_PTR(keys);
    MERGE_PTR(store_servers);
    MERGE_INT(store_timeout_ms);
    MERGE_PTR(redirect_uri);
    MERGE_PTR(redirect_path);
    MERGE_PTR(logout_uri);
    MERGE_PTR(backchannel_uri);
    MERGE_PTR(login_uri);
    MERGE_PTR(chooser_template);
    MERGE_PTR(chooser_uri);
    MERGE_PTR(trusted_proxies);
    MERGE_PTR(post_logout);
    MERGE_PTR(cookie_name);
    MERGE_INT(cookie_secure);
    MERGE_PTR(cookie_samesite);
    MERGE_INT(inactivity);
    MERGE_INT(max_lifetime);
    MERGE_INT(touch_interval);
    MERGE_INT(clock_skew);
    MERGE_PTR(ca_file);
    MERGE_INT(http_timeout);
    MERGE_PTR(node_name);
    MERGE_INT(introspection_ttl);
    MERGE_INT(bearer_cache_size);
    MERGE_INT(session_cache_ttl);
    MERGE_INT(session_cache_entries);
    MERGE_PTR(defined_in);
    MERGE_PTR(session_info_uri);
    MERGE_PTR(session_info_claims);
    MERGE_INT(session_info_activity);
    MERGE_PTR(csrf_cookie);
    MERGE_INT(refresh_before);
    MERGE_INT(refresh_failure);
    MERGE_INT(binding);
    MERGE_INT(binding_action);
    c->cur_provider = NULL;
    c->store = NULL;
    return c;
}

void *aoidc_create_dir_cfg(apr_pool_t *p, char *dir)
{
    aoidc_dir_cfg_t *c = apr_pcalloc(p, sizeof(*c));
    c->unauth = AOIDC_UNSET;
    c->pass_as = AOIDC_UNSET;
    c->bearer_query = AOIDC_UNSET;
    c->accept_bearer = AOIDC_UNSET;
    c->csrf = AOIDC_UNSET;
    c->pass_token = AOIDC_UNSET;
    c->cors_preflight = AOIDC_UNSET;
    c->max_auth_age = AOIDC_UNSET;
    return c;
}

void *aoidc_merge_dir_cfg(apr_pool_t *p, void *basev, void *addv)
{
    aoidc_dir_cfg_t *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
    MERGE_PTR(provider_name);
    MERGE_PTR(provider_names);
    MERGE_INT(unauth);
    MERGE_PTR(remote_user_claim);
    MERGE_INT(pass_as);
    MERGE_PTR(claim_prefix);
    MERGE_PTR(bearer_audience);
    MERGE_PTR(bearer_providers);
    MERGE_INT(bearer_query);
    MERGE_INT(accept_bearer);
    MERGE_INT(csrf);
    MERGE_INT(pass_token);
    MERGE_INT(cors_preflight);
    MERGE_INT(max_auth_age);
    return c;
}

/* Effective values: the defaults, in one place. */
int aoidc_unauth_action(const aoidc_dir_cfg_t *dc)
{
    return dc->unauth == AOIDC_UNSET ? AOIDC_UNAUTH_AUTH : dc->unauth;
}

const char *aoidc_remote_user_claim(const aoidc_dir_cfg_t *dc)
{
    return dc->remote_user_claim ? dc->remote_user_claim : "sub";
}

int aoidc_pass_as(const aoidc_dir_cfg_t *dc)
{
    return dc->pass_as == AOIDC_UNSET ? AOIDC_PASS_BOTH : dc->pass_as;
}

int aoidc_bearer_query_allowed(const aoidc_dir_cfg_t *dc)
{
    return dc->bearer_query == 1;
}

int aoidc_accept_bearer(const aoidc_dir_cfg_t *dc)
{
    return dc->accept_bearer == 1;
}

/* The provider that issued a token, if this location accepts it. */
aoidc_provider_t *aoidc_bearer_provider_for_issuer(aoidc_srv_cfg_t *sc, const aoidc_dir_cfg_t *dc, const char *iss)
{
    return aoidc_provider_for_issuer(sc->providers, iss, dc->bearer_providers);
}

int aoidc_bearer_accepts(const aoidc_dir_cfg_t *dc, const char *provider)
{
    if (!dc->bearer_providers) {
        return 1;
    }
    for (int j = 0; provider && j < dc->bearer_providers->nelts; j++) {
        if (strcmp(APR_ARRAY_IDX(dc->bearer_providers, j, const char *), provider) == 0) {
            return 1;
        }
    }
    return 0;
}

const char *aoidc_claim_prefix(const aoidc_dir_cfg_t *dc)
{
    return dc->claim_prefix ? dc->claim_prefix : DEF_CLAIM_PREFIX;
}

aoidc_http_opts_t aoidc_http_opts(const aoidc_srv_cfg_t *sc)
{
    aoidc_http_opts_t o = {sc->ca_file, (sc->http_timeout > 0 ? sc->http_timeout : DEF_HTTP_TIMEOUT) * 1000, 0};
    o.connect_timeout_ms = o.timeout_ms < 3000 ? o.timeout_ms : 3000;
    return o;
}

/* AuthOIDCNodeName's default: the host name, found once per configuration
 * read (in check_config, single-threaded) and kept in pconf. */
static const char *default_node_name;

static void find_default_node_name(apr_pool_t *pconf)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0) {
        default_node_name = "unknown";
        return;
    }
    host[sizeof(host) - 1] = '\0';
    /* a node name is a store key part: keep the characters that are safe */
    for (char *c = host; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '_' && *c != '.') {
            *c = '_';
        }
    }
    default_node_name = apr_pstrndup(pconf, host, 128);
}

/* Fill in defaults on the merged server records (called from check_config
 * so that the request path never sees an unset value). */
static void apply_defaults(aoidc_srv_cfg_t *sc)
{
    if (sc->cookie_secure == AOIDC_UNSET) {
        sc->cookie_secure = 1;
    }
    if (!sc->cookie_name) {
        /* a browser takes a __Host- cookie only with Secure, Path=/ and no
         * Domain (all of which aoidc_cookie_set gives), so a sibling
         * subdomain cannot plant one for us */
        sc->cookie_name = sc->cookie_secure ? "__Host-" DEF_COOKIE_NAME : DEF_COOKIE_NAME;
    }
    if (!sc->cookie_samesite) {
        sc->cookie_samesite = "Lax";
    }
    if (sc->inactivity == AOIDC_UNSET) {
        sc->inactivity = DEF_INACTIVITY;
    }
    if (sc->max_lifetime == AOIDC_UNSET) {
        sc->max_lifetime = DEF_MAX_LIFETIME;
    }
    if (sc->touch_interval == AOIDC_UNSET) {
        sc->touch_interval = sc->inactivity / 2 < DEF_TOUCH ? sc->inactivity / 2 : DEF_TOUCH;
    }
    if (sc->clock_skew == AOIDC_UNSET) {
        sc->clock_skew = DEF_SKEW;
    }
    if (sc->http_timeout == AOIDC_UNSET) {
        sc->http_timeout = DEF_HTTP_TIMEOUT;
    }
    if (sc->store_timeout_ms == AOIDC_UNSET) {
        sc->store_timeout_ms = DEF_STORE_TIMEOUT;
    }
    if (sc->introspection_ttl == AOIDC_UNSET) {
        sc->introspection_ttl = 300;
    }
    if (sc->bearer_cache_size == AOIDC_UNSET) {
        sc->bearer_cache_size = 4096;
    }
    if (sc->session_cache_ttl == AOIDC_UNSET) {
        sc->session_cache_ttl = DEF_SESSION_CACHE_TTL;
    }
    if (sc->session_cache_entries == AOIDC_UNSET) {
        sc->session_cache_entries = DEF_SESSION_CACHE_ENTRIES;
    }
    if (!sc->node_name) {
        sc->node_name = default_node_name;
    }
}

aoidc_provider_t *aoidc_find_provider(aoidc_srv_cfg_t *sc, const char *name)
{
    for (int i = 0; sc->providers && i < sc->providers->nelts; i++) {
        aoidc_provider_t *pr = APR_ARRAY_IDX(sc->providers, i, aoidc_provider_t *);
        if (!name || strcmp(pr->name, name) == 0) {
            return pr;
        }
    }
    return NULL;
}

aoidc_provider_t *aoidc_location_provider(aoidc_srv_cfg_t *sc, const aoidc_dir_cfg_t *dc)
{
    return aoidc_find_provider(sc, dc->provider_name);
}

int aoidc_location_accepts(aoidc_srv_cfg_t *sc, const aoidc_dir_cfg_t *dc, const char *provider)
{
    if (!provider) {
        return 0;
    }
    if (!dc->provider_names) {
        aoidc_provider_t *first = aoidc_find_provider(sc, NULL);
        return first && strcmp(first->name, provider) == 0;
    }
    for (int i = 0; i < dc->provider_names->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(dc->provider_names, i, const char *), provider) == 0) {
            return aoidc_find_provider(sc, provider) != NULL;
        }
    }
    return 0;
}

int aoidc_location_chooses(const aoidc_dir_cfg_t *dc)
{
    return dc->provider_names && dc->provider_names->nelts > 1;
}

/* --- helpers for directive handlers ------------------------------------ */

static aoidc_srv_cfg_t *cmd_srv(cmd_parms *cmd)
{
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(cmd->server);
    if (!sc->defined_in && cmd->directive) {
        sc->defined_in = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename, cmd->directive->line_num);
    }
    return sc;
}

static const char *parse_seconds(cmd_parms *cmd, const char *arg, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || v < min || v > max) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a whole number from %d to %d", cmd->cmd->name, arg, min,
                            max);
    }
    *out = (int)v;
    return NULL;
}

static const char *parse_onoff(cmd_parms *cmd, const char *arg, int *out)
{
    if (strcasecmp(arg, "on") == 0) {
        *out = 1;
    }
    else if (strcasecmp(arg, "off") == 0) {
        *out = 0;
    }
    else {
        return apr_psprintf(cmd->pool, "%s: expected On or Off, not '%s'", cmd->cmd->name, arg);
    }
    return NULL;
}

/* One of a fixed set of words (case-insensitive); the error lists them. */
typedef struct {
    const char *word;
    int value;
} keyword_t;

static const char *parse_keyword(cmd_parms *cmd, const char *arg, const keyword_t *kw, int *out)
{
    const char *list = "";
    for (int i = 0; kw[i].word; i++) {
        if (strcasecmp(arg, kw[i].word) == 0) {
            *out = kw[i].value;
            return NULL;
        }
        list = apr_pstrcat(cmd->pool, list, i == 0 ? "" : kw[i + 1].word ? ", " : " or ", kw[i].word, NULL);
    }
    return apr_psprintf(cmd->pool, "%s: '%s' is not %s", cmd->cmd->name, arg, list);
}

static const char *need_server_context(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
}

/* file:line of the server directives that the cross-directive checks of
 * check_config blame, keyed by server and directive name, so that a message
 * points at the line to fix rather than at the first AuthOIDC line. Only
 * touched while the configuration is read, which is single-threaded; the
 * table lives in ptemp, which outlasts check_config. */
static apr_hash_t *directive_lines;

static apr_status_t reset_directive_lines(void *d)
{
    directive_lines = NULL;
    return APR_SUCCESS;
}

static void note_line(cmd_parms *cmd)
{
    if (!cmd->directive) {
        return;
    }
    if (!directive_lines) {
        directive_lines = apr_hash_make(cmd->temp_pool);
        apr_pool_cleanup_register(cmd->temp_pool, NULL, reset_directive_lines, apr_pool_cleanup_null);
    }
    const char *key = apr_psprintf(cmd->temp_pool, "%pp %s", (void *)cmd->server, cmd->cmd->name);
    apr_hash_set(directive_lines, key, APR_HASH_KEY_STRING,
                 apr_psprintf(cmd->temp_pool, "%s:%d", cmd->directive->filename, cmd->directive->line_num));
}

/* " at file:line" of directive `name` as seen by server sv (its own line, else
 * the main server's, which it inherits), or " (default)". */
static const char *where_set(apr_pool_t *p, server_rec *sv, server_rec *main_s, const char *name)
{
    for (server_rec *x = sv; directive_lines && x; x = (x == main_s ? NULL : main_s)) {
        const char *w = apr_hash_get(directive_lines, apr_psprintf(p, "%pp %s", (void *)x, name),
                                     APR_HASH_KEY_STRING);
        if (w) {
            return apr_pstrcat(p, " at ", w, NULL);
        }
    }
    return " (default)";
}

/* --- <AuthOIDCProvider name> ------------------------------------------- */

static aoidc_provider_t *current_provider(cmd_parms *cmd, const char **err)
{
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(cmd->server);
    if (!sc->cur_provider) {
        *err = apr_psprintf(cmd->pool, "%s is only allowed inside <AuthOIDCProvider>", cmd->cmd->name);
        return NULL;
    }
    return sc->cur_provider;
}

static const char *cmd_provider_section(cmd_parms *cmd, void *mconfig, const char *arg)
{
    const char *err = need_server_context(cmd);
    if (err) {
        return err;
    }
    aoidc_srv_cfg_t *sc = cmd_srv(cmd);
    const char *endp = ap_strrchr_c(arg, '>');
    if (!endp) {
        return "<AuthOIDCProvider> section lacks its closing '>'";
    }
    const char *name = apr_pstrmemdup(cmd->pool, arg, (apr_size_t)(endp - arg));
    name = ap_getword_conf(cmd->pool, &name);
    if (!*name || !aoidc_claim_name_ok(name)) {
        return "<AuthOIDCProvider> needs a name of letters, digits, '-', '_' or '.'";
    }
    if (sc->cur_provider) {
        return "<AuthOIDCProvider> sections cannot be nested";
    }
    if (sc->providers) {
        for (int i = 0; i < sc->providers->nelts; i++) {
            if (strcmp(APR_ARRAY_IDX(sc->providers, i, aoidc_provider_t *)->name, name) == 0) {
                return apr_psprintf(cmd->pool, "<AuthOIDCProvider %s> is defined twice", name);
            }
        }
    }
    aoidc_provider_t *pr = apr_pcalloc(cmd->pool, sizeof(*pr));
    pr->name = name;
    pr->scope = DEF_SCOPE;
    pr->id_token_algs = default_algs;
    pr->jwks_refresh_interval = 60;
    pr->metadata_ttl = 86400;
    pr->userinfo = AOIDC_USERINFO_AUTO;
    pr->defined_in = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename, cmd->directive->line_num);
    sc->cur_provider = pr;
    err = ap_walk_config(cmd->directive->first_child, cmd, cmd->context);
    sc->cur_provider = NULL;
    if (err) {
        return err;
    }
    if (!pr->issuer || !pr->client_id || !pr->client_secret) {
        return apr_psprintf(cmd->pool, "<AuthOIDCProvider %s> needs AuthOIDCIssuer, AuthOIDCClientID and "
                            "AuthOIDCClientSecretFile", name);
    }
    if (!sc->providers) {
        sc->providers = apr_array_make(cmd->pool, 2, sizeof(aoidc_provider_t *));
    }
    APR_ARRAY_PUSH(sc->providers, aoidc_provider_t *) = pr;
    return NULL;
}

static const char *cmd_issuer(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = NULL;
    aoidc_provider_t *pr = current_provider(cmd, &err);
    if (!pr) {
        return err;
    }
    apr_uri_t u;
    if (apr_uri_parse(cmd->pool, arg, &u) != APR_SUCCESS || !u.scheme || !u.hostname || !*u.hostname ||
        (strcmp(u.scheme, "https") != 0 && strcmp(u.scheme, "http") != 0) || u.query || u.fragment) {
        return apr_psprintf(cmd->pool, "AuthOIDCIssuer: '%s' is not an http(s) URL without query or fragment", arg);
    }
    pr->issuer = arg;
    return NULL;
}

static const char *cmd_client_id(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = NULL;
    aoidc_provider_t *pr = current_provider(cmd, &err);
    if (!pr) {
        return err;
    }
    if (!*arg || strlen(arg) > 255) {
        return "AuthOIDCClientID: must be 1 to 255 characters";
    }
    pr->client_id = arg;
    return NULL;
}

static const char *cmd_client_secret_file(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = NULL;
    aoidc_provider_t *pr = current_provider(cmd, &err);
    if (!pr) {
        return err;
    }
    const char *path = ap_server_root_relative(cmd->pool, arg);
    if (!path) {
        return apr_psprintf(cmd->pool, "AuthOIDCClientSecretFile: invalid path '%s'", arg);
    }
    if (aoidc_read_secret_file(cmd->pool, path, 1024, &pr->client_secret, &err) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "AuthOIDCClientSecretFile: %s", err);
    }
    pr->secret_file = path;
    return NULL;
}

/* AuthOIDCScope openid email  or  AuthOIDCScope "openid email": the words
 * of all arguments form the space-separated scope list. */
static const char *cmd_scope(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    const char *err = NULL;
    aoidc_provider_t *pr = current_provider(cmd, &err);
    if (!pr) {
        return err;
    }
    int has_openid = 0;
    apr_array_header_t *words = apr_array_make(cmd->pool, 4, sizeof(const char *));
    for (int i = 0; i < argc; i++) {
        APR_ARRAY_PUSH(words, const char *) = argv[i];
    }
    const char *arg = apr_array_pstrcat(cmd->pool, words, ' ');
    const char *s = arg;
    char *w;
    while (*(w = ap_getword_white(cmd->pool, &s))) {
        for (const char *c = w; *c; c++) {
            if (*c < 0x21 || *c == '"' || *c == '\\' || *c == 0x7f) {
                return apr_psprintf(cmd->pool, "AuthOIDCScope: '%s' is not a valid scope token", w);
            }
        }
        if (strcmp(w, "openid") == 0) {
            has_openid = 1;
        }
    }
    if (!has_openid) {
        return "AuthOIDCScope: the scope list must contain 'openid'";
    }
    pr->scope = arg;
    return NULL;
}

static const char *cmd_token_auth(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = NULL;
    aoidc_provider_t *pr = current_provider(cmd, &err);
    if (!pr) {
        return err;
    }
    if (strcmp(arg, "client_secret_basic") == 0) {
        pr->auth_method = AOIDC_AUTH_CLIENT_SECRET_BASIC;
    }
    else if (strcmp(arg, "client_secret_post") == 0) {
        pr->auth_method = AOIDC_AUTH_CLIENT_SECRET_POST;
    }
    else {
        return apr_psprintf(cmd->pool, "AuthOIDCTokenEndpointAuth: '%s' is not client_secret_basic or "
                            "client_secret_post", arg);
    }
    return NULL;
}

static const char **word_list(cmd_parms *cmd, int argc, char *const argv[])
{
    const char **list = apr_pcalloc(cmd->pool, sizeof(char *) * (apr_size_t)(argc + 1));
    for (int i = 0; i < argc; i++) {
        list[i] = argv[i];
    }
    return list;
}

static const char *cmd_extra_aud(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    const char *err = NULL;
    aoidc_provider_t *pr = current_provider(cmd, &err);
    if (!pr) {
        return err;
    }
    if (argc < 1) {
        return "AuthOIDCExtraAudiences: needs at least one audience";
    }
    pr->extra_audiences = word_list(cmd, argc, argv);
    return NULL;
}

static const char *cmd_algs(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    const char *err = NULL;
    aoidc_provider_t *pr = current_provider(cmd, &err);
    if (!pr) {
        return err;
    }
    if (argc < 1) {
        return "AuthOIDCIDTokenAlgorithms: needs at least one algorithm";
    }
    for (int i = 0; i < argc; i++) {
        int ok = 0;
        for (int j = 0; default_algs[j]; j++) {
            ok |= strcmp(argv[i], default_algs[j]) == 0;
        }
        if (!ok) {
            return apr_psprintf(cmd->pool, "AuthOIDCIDTokenAlgorithms: '%s' is not one of RS256 RS384 RS512 PS256 "
                                "PS384 PS512 ES256 EdDSA (none and HMAC are never accepted)", argv[i]);
        }
    }
    pr->id_token_algs = word_list(cmd, argc, argv);
    return NULL;
}

static const char *cmd_userinfo(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = NULL;
    aoidc_provider_t *pr = current_provider(cmd, &err);
    static const keyword_t kw[] = {
        {"Auto", AOIDC_USERINFO_AUTO}, {"On", AOIDC_USERINFO_ON}, {"Off", AOIDC_USERINFO_OFF}, {NULL, 0}};
    return pr ? parse_keyword(cmd, arg, kw, &pr->userinfo) : err;
}

static const char *cmd_display_name(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = NULL;
    aoidc_provider_t *pr = current_provider(cmd, &err);
    if (!pr) {
        return err;
    }
    if (!aoidc_display_name_ok(arg)) {
        return "AuthOIDCProviderDisplayName: 1 to 128 characters without control characters";
    }
    pr->display_name = arg;
    return NULL;
}

static const char *cmd_jwks_refresh(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = NULL;
    aoidc_provider_t *pr = current_provider(cmd, &err);
    return pr ? parse_seconds(cmd, arg, 0, 86400, &pr->jwks_refresh_interval) : err;
}

static const char *cmd_metadata_ttl(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = NULL;
    aoidc_provider_t *pr = current_provider(cmd, &err);
    return pr ? parse_seconds(cmd, arg, 60, 7 * 86400, &pr->metadata_ttl) : err;
}

/* --- server-wide directives -------------------------------------------- */

/* AuthOIDCCryptoKeyFile current [previous]: the previous key is only read
 * (key rotation, README "Rolling the crypto key"). */
static const char *cmd_crypto_key_file(cmd_parms *cmd, void *m, const char *arg, const char *arg2)
{
    const char *err = need_server_context(cmd);
    if (err) {
        return err;
    }
    aoidc_srv_cfg_t *sc = cmd_srv(cmd);
    const char *path = ap_server_root_relative(cmd->pool, arg);
    aoidc_keys_t *keys = apr_pcalloc(cmd->pool, sizeof(*keys));
    if (!path) {
        return apr_psprintf(cmd->pool, "AuthOIDCCryptoKeyFile: invalid path '%s'", arg);
    }
    if (aoidc_keys_load_file(cmd->pool, path, keys, &err) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "AuthOIDCCryptoKeyFile: %s", err);
    }
    if (arg2) {
        const char *prev_path = ap_server_root_relative(cmd->pool, arg2);
        aoidc_keys_t *prev = apr_pcalloc(cmd->pool, sizeof(*prev));
        if (!prev_path) {
            return apr_psprintf(cmd->pool, "AuthOIDCCryptoKeyFile: invalid path '%s'", arg2);
        }
        if (aoidc_keys_load_file(cmd->pool, prev_path, prev, &err) != APR_SUCCESS) {
            return apr_psprintf(cmd->pool, "AuthOIDCCryptoKeyFile: previous key: %s", err);
        }
        if (aoidc_keys_set_previous(keys, prev) != APR_SUCCESS) {
            return "AuthOIDCCryptoKeyFile: the previous key file holds the same key as the current one";
        }
    }
    sc->crypto_key_file = path;
    sc->keys = keys;
    return NULL;
}

static const char *cmd_session_store(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    const char *err = need_server_context(cmd);
    if (err) {
        return err;
    }
    aoidc_srv_cfg_t *sc = cmd_srv(cmd);
    if (argc < 2 || strcmp(argv[0], "memcached") != 0) {
        return "AuthOIDCSessionStore: expected 'memcached host[:port] ...'";
    }
    apr_array_header_t *a = apr_array_make(cmd->pool, argc, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        APR_ARRAY_PUSH(a, const char *) = argv[i];
    }
    const char *list = apr_array_pstrcat(cmd->pool, a, ' ');
    if ((err = aoidc_store_memcached_check(cmd->pool, list)) != NULL) {
        return apr_psprintf(cmd->pool, "AuthOIDCSessionStore: %s", err);
    }
    sc->store_servers = list;
    return NULL;
}

static const char *cmd_store_timeout(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    return err ? err : parse_seconds(cmd, arg, 10, 10000, &cmd_srv(cmd)->store_timeout_ms);
}

static const char *check_path(cmd_parms *cmd, const char *arg)
{
    if (arg[0] != '/' || !aoidc_is_local_path(arg) || strchr(arg, '?') || strchr(arg, '#')) {
        return apr_psprintf(cmd->pool, "%s: '%s' must be a local path such as /oidc/callback", cmd->cmd->name, arg);
    }
    return NULL;
}

static const char *cmd_redirect_uri(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    if (err) {
        return err;
    }
    aoidc_srv_cfg_t *sc = cmd_srv(cmd);
    /* inside <AuthOIDCProvider>: that provider's own redirect URI (mix-up
     * defence for providers that do not send iss, README) */
    aoidc_provider_t *pr = sc->cur_provider;
    const char *path = NULL;
    if (!pr) {
        note_line(cmd);
    }
    if (arg[0] == '/') {
        if ((err = check_path(cmd, arg)) != NULL) {
            return err;
        }
        path = arg;
    }
    else {
        apr_uri_t u;
        if (apr_uri_parse(cmd->pool, arg, &u) != APR_SUCCESS || !u.scheme || !u.hostname || !*u.hostname ||
            !u.path ||
            (strcmp(u.scheme, "https") != 0 && strcmp(u.scheme, "http") != 0) || u.query || u.fragment) {
            return apr_psprintf(cmd->pool, "AuthOIDCRedirectURI: '%s' is neither a local path nor an http(s) URL",
                                arg);
        }
        path = u.path;
    }
    if (pr) {
        pr->redirect_uri = arg;
        pr->redirect_path = path;
        return NULL;
    }
    sc->redirect_path = path;
    sc->redirect_uri = arg;
    return NULL;
}

/* AuthOIDCLogoutURI, AuthOIDCBackChannelLogoutURI: a local path, stored in
 * the server record field whose offset is the directive's cmd_data. */
static const char *cmd_local_uri(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    if (!err) {
        err = check_path(cmd, arg);
    }
    if (err) {
        return err;
    }
    note_line(cmd);
    *(const char **)((char *)cmd_srv(cmd) + (apr_size_t)cmd->info) = arg;
    return NULL;
}

/* The template is read once, at start-up (bounded; it must hold the slot). */
static const char *cmd_chooser_template(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    if (err) {
        return err;
    }
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_file_t *f;
    apr_finfo_t fi;
    if (!path || apr_file_open(&f, path, APR_FOPEN_READ, 0, cmd->pool) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "AuthOIDCChooserTemplate: cannot open '%s'", arg);
    }
    if (apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS || fi.size <= 0 ||
        fi.size > AOIDC_CHOOSER_TEMPLATE_MAX) {
        apr_file_close(f);
        return apr_psprintf(cmd->pool, "AuthOIDCChooserTemplate: '%s' must hold 1 to %d bytes", arg,
                            AOIDC_CHOOSER_TEMPLATE_MAX);
    }
    char *text = apr_palloc(cmd->pool, (apr_size_t)fi.size + 1);
    apr_size_t n = (apr_size_t)fi.size;
    apr_status_t rv = apr_file_read_full(f, text, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "AuthOIDCChooserTemplate: cannot read '%s'", arg);
    }
    text[n] = '\0';
    if (strlen(text) != n || !strstr(text, AOIDC_CHOOSER_SLOT)) {
        return apr_psprintf(cmd->pool, "AuthOIDCChooserTemplate: '%s' must contain " AOIDC_CHOOSER_SLOT
                            " (and no NUL byte)", arg);
    }
    cmd_srv(cmd)->chooser_template = text;
    return NULL;
}

static const char *cmd_post_logout(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    const char *err = need_server_context(cmd);
    if (err) {
        return err;
    }
    aoidc_srv_cfg_t *sc = cmd_srv(cmd);
    if (argc < 1) {
        return "AuthOIDCPostLogoutRedirect: needs at least one URL";
    }
    apr_array_header_t *a = apr_array_make(cmd->pool, argc, sizeof(const char *));
    for (int i = 0; i < argc; i++) {
        apr_uri_t u;
        if (argv[i][0] == '/') {
            if ((err = check_path(cmd, argv[i])) != NULL) {
                return err;
            }
        }
        else if (apr_uri_parse(cmd->pool, argv[i], &u) != APR_SUCCESS || !u.scheme || !u.hostname ||
                 !*u.hostname ||
                 (strcmp(u.scheme, "https") != 0 && strcmp(u.scheme, "http") != 0) || u.fragment) {
            return apr_psprintf(cmd->pool, "AuthOIDCPostLogoutRedirect: '%s' is not an http(s) URL or local path",
                                argv[i]);
        }
        APR_ARRAY_PUSH(a, const char *) = argv[i];
    }
    sc->post_logout = a;
    return NULL;
}

static const char *cmd_cookie_name(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    if (err) {
        return err;
    }
    if (!aoidc_claim_name_ok(arg) || strchr(arg, ':') || strchr(arg, '.') ||
        strncmp(arg, AOIDC_STATE_COOKIE_PREFIX, sizeof(AOIDC_STATE_COOKIE_PREFIX) - 1) == 0) {
        return apr_psprintf(cmd->pool, "AuthOIDCCookieName: '%s' must be letters, digits, '-' or '_' and not start "
                            "with " AOIDC_STATE_COOKIE_PREFIX, arg);
    }
    note_line(cmd);
    cmd_srv(cmd)->cookie_name = arg;
    return NULL;
}

static const char *cmd_cookie_secure(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    if (err) {
        return err;
    }
    note_line(cmd);
    return parse_onoff(cmd, arg, &cmd_srv(cmd)->cookie_secure);
}

static const char *cmd_cookie_samesite(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    if (err) {
        return err;
    }
    note_line(cmd);
    if (strcasecmp(arg, "Lax") == 0) {
        cmd_srv(cmd)->cookie_samesite = "Lax";
    }
    else if (strcasecmp(arg, "Strict") == 0) {
        /* the callback is a cross-site navigation: a Strict session cookie
         * is still fine, the state cookie stays Lax */
        cmd_srv(cmd)->cookie_samesite = "Strict";
    }
    else if (strcasecmp(arg, "None") == 0) {
        cmd_srv(cmd)->cookie_samesite = "None";
    }
    else {
        return apr_psprintf(cmd->pool, "AuthOIDCCookieSameSite: '%s' is not Lax, Strict or None", arg);
    }
    return NULL;
}

static const char *cmd_inactivity(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    if (err) {
        return err;
    }
    note_line(cmd);
    return parse_seconds(cmd, arg, 10, MAX_DURATION, &cmd_srv(cmd)->inactivity);
}

static const char *cmd_max_lifetime(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    return err ? err : parse_seconds(cmd, arg, 10, MAX_DURATION, &cmd_srv(cmd)->max_lifetime);
}

static const char *cmd_touch(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    if (err) {
        return err;
    }
    note_line(cmd);
    return parse_seconds(cmd, arg, 1, 86400, &cmd_srv(cmd)->touch_interval);
}

static const char *cmd_skew(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    return err ? err : parse_seconds(cmd, arg, 0, 600, &cmd_srv(cmd)->clock_skew);
}

static const char *cmd_ca_file(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    if (err) {
        return err;
    }
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_finfo_t fi;
    if (!path || apr_stat(&fi, path, APR_FINFO_TYPE, cmd->pool) != APR_SUCCESS || fi.filetype != APR_REG) {
        return apr_psprintf(cmd->pool, "AuthOIDCCAFile: '%s' is not a readable file", arg);
    }
    cmd_srv(cmd)->ca_file = path;
    return NULL;
}

static const char *cmd_http_timeout(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    return err ? err : parse_seconds(cmd, arg, 1, 60, &cmd_srv(cmd)->http_timeout);
}

static const char *cmd_node_name(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    if (err) {
        return err;
    }
    if (!aoidc_claim_name_ok(arg) || strchr(arg, ':') || strlen(arg) > 128) {
        return "AuthOIDCNodeName: 1 to 128 letters, digits, '-', '_', '.'";
    }
    cmd_srv(cmd)->node_name = arg;
    return NULL;
}

/* --- per-directory directives ------------------------------------------ */

/* Provider names used by locations. While the server configuration is read
 * (single-threaded; locations may come before the provider sections) they
 * are recorded here, in ptemp, and checked in check_config. A .htaccess file
 * is read later, per request, in that request's thread and pool: nothing of
 * it may reach this table (a data race, and memory that dies with the
 * request); the configuration is complete by then, so its names are checked
 * at once (see provider_ref). */
typedef struct {
    const char *name;
    const char *directive;
    const char *where; /* file:line */
    server_rec *server; /* whose providers the name must be among */
} provider_ref_t;

static apr_array_header_t *provider_refs;

static apr_status_t reset_provider_refs(void *d)
{
    provider_refs = NULL;
    return APR_SUCCESS;
}

/* httpd's own test (ap_check_cmd_context NOT_IN_HTACCESS): a .htaccess file
 * is parsed with cmd->pool == cmd->temp_pool == r->pool. */
static int in_htaccess(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, NOT_IN_HTACCESS) != NULL;
}

/* A provider name given to a per-directory directive. In .htaccess an
 * unknown name is an error of that file: httpd logs the file and the
 * message and answers the request with 500, as for any .htaccess error. */
static const char *provider_ref(cmd_parms *cmd, const char *name)
{
    if (!aoidc_claim_name_ok(name)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a provider name", cmd->cmd->name, name);
    }
    if (in_htaccess(cmd)) {
        /* cmd->server is the request's server: its merged record lists every
         * provider it can use, and is only read here */
        if (!aoidc_find_provider(aoidc_srv_cfg(cmd->server), name)) {
            return apr_psprintf(cmd->pool, "%s: '%s' names no <AuthOIDCProvider> of this server", cmd->cmd->name,
                                name);
        }
        return NULL;
    }
    if (!provider_refs) {
        provider_refs = apr_array_make(cmd->temp_pool, 4, sizeof(provider_ref_t));
        apr_pool_cleanup_register(cmd->temp_pool, NULL, reset_provider_refs, apr_pool_cleanup_null);
    }
    provider_ref_t *ref = apr_array_push(provider_refs);
    ref->name = name;
    ref->directive = cmd->cmd->name;
    ref->server = cmd->server;
    ref->where = cmd->directive
                     ? apr_psprintf(cmd->temp_pool, "%s:%d", cmd->directive->filename, cmd->directive->line_num)
                     : "?";
    return NULL;
}

/* AuthOIDCUseProvider name...: a session of any of them opens the location;
 * with several, a visitor without one chooses (mod_auth_oidc_chooser.c). */
static const char *cmd_use_provider(cmd_parms *cmd, void *mconfig, int argc, char *const argv[])
{
    aoidc_dir_cfg_t *dc = mconfig;
    if (argc < 1) {
        return "AuthOIDCUseProvider: needs at least one provider name";
    }
    apr_array_header_t *names = apr_array_make(cmd->pool, argc, sizeof(const char *));
    for (int i = 0; i < argc; i++) {
        const char *err = provider_ref(cmd, argv[i]);
        if (err) {
            return err;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(argv[i], argv[j]) == 0) {
                return apr_psprintf(cmd->pool, "AuthOIDCUseProvider: '%s' is named twice", argv[i]);
            }
        }
        APR_ARRAY_PUSH(names, const char *) = argv[i];
    }
    if (argc > 1 && in_htaccess(cmd) && !aoidc_srv_cfg(cmd->server)->login_uri) {
        return "AuthOIDCUseProvider: several providers need AuthOIDCLoginURI on this server";
    }
    dc->provider_name = argv[0];
    dc->provider_names = names;
    return NULL;
}

static const char *cmd_unauth(cmd_parms *cmd, void *mconfig, const char *arg)
{
    static const keyword_t kw[] = {
        {"auth", AOIDC_UNAUTH_AUTH}, {"401", AOIDC_UNAUTH_401}, {"pass", AOIDC_UNAUTH_PASS}, {NULL, 0}};
    return parse_keyword(cmd, arg, kw, &((aoidc_dir_cfg_t *)mconfig)->unauth);
}

static const char *cmd_remote_user_claim(cmd_parms *cmd, void *mconfig, const char *arg)
{
    if (!aoidc_claim_path_ok(arg)) {
        return apr_psprintf(cmd->pool, "AuthOIDCRemoteUserClaim: '%s' is not a claim name or dotted path", arg);
    }
    ((aoidc_dir_cfg_t *)mconfig)->remote_user_claim = arg;
    return NULL;
}

static const char *cmd_pass_as(cmd_parms *cmd, void *mconfig, const char *arg)
{
    static const keyword_t kw[] = {{"none", AOIDC_PASS_NONE},
                                   {"headers", AOIDC_PASS_HEADERS},
                                   {"environment", AOIDC_PASS_ENV},
                                   {"both", AOIDC_PASS_BOTH},
                                   {NULL, 0}};
    return parse_keyword(cmd, arg, kw, &((aoidc_dir_cfg_t *)mconfig)->pass_as);
}

static const char *cmd_claim_prefix(cmd_parms *cmd, void *mconfig, const char *arg)
{
    apr_size_t n = strlen(arg);
    if (n < 2 || n > 32) {
        return "AuthOIDCClaimPrefix: must be 2 to 32 characters (an empty prefix would let claims overwrite "
               "arbitrary headers)";
    }
    for (const char *c = arg; *c; c++) {
        if (!apr_isalnum(*c) && *c != '_' && *c != '-') {
            return "AuthOIDCClaimPrefix: letters, digits, '-' and '_' only";
        }
    }
    ((aoidc_dir_cfg_t *)mconfig)->claim_prefix = arg;
    return NULL;
}

static const char *cmd_bearer_audience(cmd_parms *cmd, void *mconfig, const char *arg)
{
    if (!*arg || strlen(arg) > 512 || strchr(arg, '"')) {
        return "AuthOIDCBearerAudience: must be 1 to 512 characters without quotes";
    }
    ((aoidc_dir_cfg_t *)mconfig)->bearer_audience = arg;
    return NULL;
}

static const char *cmd_bearer_providers(cmd_parms *cmd, void *mconfig, int argc, char *const argv[])
{
    aoidc_dir_cfg_t *dc = mconfig;
    if (argc < 1) {
        return "AuthOIDCBearerProviders: needs at least one provider name";
    }
    apr_array_header_t *names = apr_array_make(cmd->pool, argc, sizeof(const char *));
    for (int i = 0; i < argc; i++) {
        const char *err = provider_ref(cmd, argv[i]);
        if (err) {
            return err;
        }
        APR_ARRAY_PUSH(names, const char *) = argv[i];
    }
    dc->bearer_providers = names;
    return NULL;
}

static const char *cmd_bearer_query(cmd_parms *cmd, void *mconfig, const char *arg)
{
    return parse_onoff(cmd, arg, &((aoidc_dir_cfg_t *)mconfig)->bearer_query);
}

static const char *cmd_accept_bearer(cmd_parms *cmd, void *mconfig, const char *arg)
{
    return parse_onoff(cmd, arg, &((aoidc_dir_cfg_t *)mconfig)->accept_bearer);
}

static const char *cmd_max_auth_age(cmd_parms *cmd, void *mconfig, const char *arg)
{
    return parse_seconds(cmd, arg, 30, MAX_DURATION, &((aoidc_dir_cfg_t *)mconfig)->max_auth_age);
}

static const char *cmd_introspection_ttl(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    return err ? err : parse_seconds(cmd, arg, 1, 86400, &cmd_srv(cmd)->introspection_ttl);
}

static const char *cmd_bearer_cache_size(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    return err ? err : parse_seconds(cmd, arg, 16, 1048576, &cmd_srv(cmd)->bearer_cache_size);
}

static const char *cmd_session_cache_ttl(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    return err ? err : parse_seconds(cmd, arg, 0, AOIDC_SESSION_CACHE_TTL_MAX, &cmd_srv(cmd)->session_cache_ttl);
}

static const char *cmd_session_cache_entries(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = need_server_context(cmd);
    return err ? err : parse_seconds(cmd, arg, 16, AOIDC_SCACHE_ENTRIES_MAX, &cmd_srv(cmd)->session_cache_entries);
}

#define SRV RSRC_CONF
#define DIR (ACCESS_CONF | OR_AUTHCFG)

const command_rec aoidc_cmds[] = {
    AP_INIT_RAW_ARGS("<AuthOIDCProvider", cmd_provider_section, NULL, SRV,
                     "A named OpenID Provider: <AuthOIDCProvider name> ... </AuthOIDCProvider>"),
    AP_INIT_TAKE1("AuthOIDCIssuer", cmd_issuer, NULL, SRV, "Issuer URL (discovery is fetched from it)"),
    AP_INIT_TAKE1("AuthOIDCClientID", cmd_client_id, NULL, SRV, "OAuth 2.0 client id"),
    AP_INIT_TAKE1("AuthOIDCClientSecretFile", cmd_client_secret_file, NULL, SRV, "File holding the client secret"),
    AP_INIT_TAKE_ARGV("AuthOIDCScope", cmd_scope, NULL, SRV, "Scopes to request (must include openid)"),
    AP_INIT_TAKE1("AuthOIDCTokenEndpointAuth", cmd_token_auth, NULL, SRV,
                  "client_secret_basic (default) or client_secret_post"),
    AP_INIT_TAKE_ARGV("AuthOIDCExtraAudiences", cmd_extra_aud, NULL, SRV,
                      "Audiences trusted in ID tokens besides the client id"),
    AP_INIT_TAKE_ARGV("AuthOIDCIDTokenAlgorithms", cmd_algs, NULL, SRV, "Accepted ID token signature algorithms"),
    AP_INIT_TAKE1("AuthOIDCUserInfo", cmd_userinfo, NULL, SRV,
                  "Auto (default: when the provider has a userinfo endpoint), On or Off: call userinfo at login "
                  "and merge its claims"),
    AP_INIT_TAKE1("AuthOIDCJWKSRefreshInterval", cmd_jwks_refresh, NULL, SRV,
                  "Seconds between JWKS refetches on an unknown key id"),
    AP_INIT_TAKE1("AuthOIDCMetadataTTL", cmd_metadata_ttl, NULL, SRV, "Seconds discovery metadata is kept"),
    AP_INIT_TAKE12("AuthOIDCCryptoKeyFile", cmd_crypto_key_file, NULL, SRV,
                   "File with at least 32 bytes of secret from which cookie and session keys are derived, "
                   "and optionally the previous such file (still read, never written)"),
    AP_INIT_TAKE_ARGV("AuthOIDCSessionStore", cmd_session_store, NULL, SRV, "memcached host[:port] ... [replicas=N]"),
    AP_INIT_TAKE1("AuthOIDCStoreTimeout", cmd_store_timeout, NULL, SRV, "memcached timeout in milliseconds"),
    AP_INIT_TAKE1("AuthOIDCRedirectURI", cmd_redirect_uri, NULL, SRV, "Callback path or URL registered at the OP"),
    AP_INIT_TAKE1("AuthOIDCLogoutURI", cmd_local_uri, (void *)APR_OFFSETOF(aoidc_srv_cfg_t, logout_uri), SRV,
                  "Local path that logs the user out"),
    AP_INIT_TAKE1("AuthOIDCBackChannelLogoutURI", cmd_local_uri,
                  (void *)APR_OFFSETOF(aoidc_srv_cfg_t, backchannel_uri), SRV,
                  "Local path that receives OpenID Connect back-channel logout requests"),
    AP_INIT_TAKE_ARGV("AuthOIDCPostLogoutRedirect", cmd_post_logout, NULL, SRV,
                      "Allowed targets after logout; the first is the default"),
    AP_INIT_TAKE1("AuthOIDCCookieName", cmd_cookie_name, NULL, SRV, "Session cookie name"),
    AP_INIT_TAKE1("AuthOIDCCookieSecure", cmd_cookie_secure, NULL, SRV, "On (default) or Off for plain-http tests"),
    AP_INIT_TAKE1("AuthOIDCCookieSameSite", cmd_cookie_samesite, NULL, SRV, "Lax (default), Strict or None"),
    AP_INIT_TAKE1("AuthOIDCSessionInactivityTimeout", cmd_inactivity, NULL, SRV, "Seconds of inactivity"),
    AP_INIT_TAKE1("AuthOIDCSessionMaxLifetime", cmd_max_lifetime, NULL, SRV, "Absolute session lifetime"),
    AP_INIT_TAKE1("AuthOIDCSessionTouchInterval", cmd_touch, NULL, SRV,
                  "Seconds between write-backs of a session's last-seen time"),
    AP_INIT_TAKE1("AuthOIDCClockSkew", cmd_skew, NULL, SRV, "Seconds of clock skew tolerated in tokens"),
    AP_INIT_TAKE1("AuthOIDCCAFile", cmd_ca_file, NULL, SRV, "CA bundle for TLS to the provider"),
    AP_INIT_TAKE1("AuthOIDCHTTPTimeout", cmd_http_timeout, NULL, SRV, "Seconds for a call to the provider"),
    AP_INIT_TAKE1("AuthOIDCNodeName", cmd_node_name, NULL, SRV, "This node's name in the session directory"),
    AP_INIT_TAKE_ARGV("AuthOIDCUseProvider", cmd_use_provider, NULL, DIR,
                      "Providers whose sessions open this location; with several, a chooser page"),
    AP_INIT_TAKE1("AuthOIDCLoginURI", cmd_local_uri, (void *)APR_OFFSETOF(aoidc_srv_cfg_t, login_uri), SRV,
                  "Local path that starts a login: ?provider=NAME&return=PATH"),
    AP_INIT_TAKE1("AuthOIDCChooserTemplate", cmd_chooser_template, NULL, SRV,
                  "HTML file for the provider chooser; " AOIDC_CHOOSER_SLOT " marks where the list goes"),
    AP_INIT_TAKE1("AuthOIDCChooserURI", cmd_local_uri, (void *)APR_OFFSETOF(aoidc_srv_cfg_t, chooser_uri), SRV,
                  "Local path of the application's own chooser page (instead of ours)"),
    AP_INIT_TAKE1("AuthOIDCProviderDisplayName", cmd_display_name, NULL, SRV,
                  "Name of the provider shown on the chooser page"),
    AP_INIT_TAKE1("AuthOIDCUnauthAction", cmd_unauth, NULL, DIR, "auth (default), 401 or pass"),
    AP_INIT_TAKE1("AuthOIDCRemoteUserClaim", cmd_remote_user_claim, NULL, DIR, "Claim that becomes REMOTE_USER"),
    AP_INIT_TAKE1("AuthOIDCPassClaimsAs", cmd_pass_as, NULL, DIR, "none, headers, environment or both (default)"),
    AP_INIT_TAKE1("AuthOIDCClaimPrefix", cmd_claim_prefix, NULL, DIR, "Prefix of claim headers and variables"),
    AP_INIT_TAKE1("AuthOIDCBearerAudience", cmd_bearer_audience, NULL, DIR,
                  "Audience an access token must name for this location"),
    AP_INIT_TAKE_ARGV("AuthOIDCBearerProviders", cmd_bearer_providers, NULL, DIR,
                      "Providers whose access tokens this location accepts (default: all)"),
    AP_INIT_TAKE1("AuthOIDCBearerQueryParam", cmd_bearer_query, NULL, DIR,
                  "On: also accept ?access_token= (RFC 6750 2.3); Off by default"),
    AP_INIT_TAKE1("AuthOIDCAcceptBearer", cmd_accept_bearer, NULL, DIR,
                  "On: an AuthType oidc location also accepts bearer tokens"),
    AP_INIT_TAKE1("AuthOIDCSessionInfoURI", cmd_local_uri, (void *)APR_OFFSETOF(aoidc_srv_cfg_t, session_info_uri),
                  SRV, "Path answering a logged-in browser with its session as JSON"),
    AP_INIT_TAKE_ARGV("AuthOIDCSessionInfoClaims", aoidc_cmd_session_info_claims, NULL, SRV,
                      "Claims the session info answer shows"),
    AP_INIT_TAKE1("AuthOIDCSessionInfoActivity", aoidc_cmd_session_info_activity, NULL, SRV,
                  "On: a session info request counts as activity (default Off)"),
    AP_INIT_TAKE1("AuthOIDCCSRF", aoidc_cmd_csrf, NULL, DIR,
                  "On: state-changing requests with a session need X-CSRF-Token (default Off)"),
    AP_INIT_TAKE1("AuthOIDCPassAccessToken", aoidc_cmd_pass_token, NULL, DIR,
                  "none (default), header (OIDC-Access-Token) or authorization (Bearer)"),
    AP_INIT_TAKE1("AuthOIDCPassCORSPreflight", aoidc_cmd_cors_preflight, NULL, DIR,
                  "On (default): CORS preflights reach the application unauthenticated"),
    AP_INIT_TAKE1("AuthOIDCRefreshBefore", aoidc_cmd_refresh_before, NULL, SRV,
                  "Refresh the access token this many seconds before it expires (default: never)"),
    AP_INIT_TAKE1("AuthOIDCRefreshFailure", aoidc_cmd_refresh_failure, NULL, SRV,
                  "logout (default) or keep: what a refused refresh does to the session"),
    AP_INIT_TAKE1("AuthOIDCSessionBinding", aoidc_cmd_binding, NULL, SRV,
                  "none (default), user-agent or ua+ip: what a session is bound to"),
    AP_INIT_TAKE1("AuthOIDCSessionBindingAction", aoidc_cmd_binding_action, NULL, SRV,
                  "refuse (default) or log: a session used from another client"),
    AP_INIT_TAKE1("AuthOIDCCSRFCookie", aoidc_cmd_csrf_cookie, NULL, SRV,
                  "Name of a script-readable cookie carrying the CSRF token (default none)"),
    AP_INIT_TAKE_ARGV("AuthOIDCTrustedProxies", aoidc_cmd_trusted_proxies, NULL, SRV,
                      "Addresses (addr or addr/prefix) of reverse proxies whose Forwarded / X-Forwarded-Proto / "
                      "X-Forwarded-Host headers count"),
    AP_INIT_TAKE1("AuthOIDCMaxAuthAge", cmd_max_auth_age, NULL, DIR,
                  "Seconds since the user last authenticated at the provider beyond which a login is required "
                  "again (step-up)"),
    AP_INIT_TAKE1("AuthOIDCIntrospectionTTL", cmd_introspection_ttl, NULL, SRV,
                  "Seconds an active introspection answer is cached"),
    AP_INIT_TAKE1("AuthOIDCBearerCacheSize", cmd_bearer_cache_size, NULL, SRV,
                  "Entries of the per-process cache of validated tokens"),
    AP_INIT_TAKE1("AuthOIDCSessionCacheTTL", cmd_session_cache_ttl, NULL, SRV,
                  "Seconds within which a revocation reaches every process's session cache (0: no cache, every "
                  "request reads the store)"),
    AP_INIT_TAKE1("AuthOIDCSessionCacheEntries", cmd_session_cache_entries, NULL, SRV,
                  "Sessions kept in each Apache process's session cache"),
    {NULL},
};

/* Cross-directive checks; the only hook that `apachectl -t` runs. */
int aoidc_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    int rc = OK;
    for (int i = 0; provider_refs && i < provider_refs->nelts; i++) {
        const provider_ref_t *ref = &APR_ARRAY_IDX(provider_refs, i, provider_ref_t);
        /* the location's own server: a provider of another virtual host is
         * unknown there */
        if (!aoidc_find_provider(aoidc_srv_cfg(ref->server), ref->name)) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, ref->server, AOIDC_LOGNO(014)
                         "auth_oidc: %s %s at %s names no <AuthOIDCProvider> of its server", ref->directive,
                         ref->name, ref->where);
            rc = HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    if (aoidc_confcheck(pconf, ptemp, s) != OK) {
        rc = HTTP_INTERNAL_SERVER_ERROR;
    }
    find_default_node_name(pconf);
    for (server_rec *sv = s; sv; sv = sv->next) {
        aoidc_srv_cfg_t *sc = aoidc_srv_cfg(sv);
        apply_defaults(sc);
        if (!sc->providers || sc->providers->nelts == 0) {
            continue;
        }
        const char *where = sc->defined_in ? sc->defined_in : sv->defn_name ? sv->defn_name : "server";
        const char *missing = !sc->keys ? "AuthOIDCCryptoKeyFile"
                              : !sc->store_servers ? "AuthOIDCSessionStore"
                              : !sc->redirect_uri ? "AuthOIDCRedirectURI"
                              : NULL;
        if (missing) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sv, AOIDC_LOGNO(010)
                         "auth_oidc: %s is required where providers are configured (%s)", missing, where);
            rc = HTTP_INTERNAL_SERVER_ERROR;
            continue;
        }
        if (sc->touch_interval >= sc->inactivity) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sv, AOIDC_LOGNO(011)
                         "auth_oidc: AuthOIDCSessionTouchInterval %d%s must be below "
                         "AuthOIDCSessionInactivityTimeout %d%s", sc->touch_interval,
                         where_set(ptemp, sv, s, "AuthOIDCSessionTouchInterval"), sc->inactivity,
                         where_set(ptemp, sv, s, "AuthOIDCSessionInactivityTimeout"));
            rc = HTTP_INTERNAL_SERVER_ERROR;
        }
        if (sc->logout_uri && sc->redirect_path && strcmp(sc->logout_uri, sc->redirect_path) == 0) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sv, AOIDC_LOGNO(012)
                         "auth_oidc: AuthOIDCLogoutURI%s must differ from AuthOIDCRedirectURI%s",
                         where_set(ptemp, sv, s, "AuthOIDCLogoutURI"), where_set(ptemp, sv, s, "AuthOIDCRedirectURI"));
            rc = HTTP_INTERNAL_SERVER_ERROR;
        }
        if (sc->backchannel_uri &&
            ((sc->redirect_path && strcmp(sc->backchannel_uri, sc->redirect_path) == 0) ||
             (sc->logout_uri && strcmp(sc->backchannel_uri, sc->logout_uri) == 0))) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sv, AOIDC_LOGNO(015)
                         "auth_oidc: AuthOIDCBackChannelLogoutURI%s must differ from AuthOIDCRedirectURI%s and "
                         "AuthOIDCLogoutURI%s", where_set(ptemp, sv, s, "AuthOIDCBackChannelLogoutURI"),
                         where_set(ptemp, sv, s, "AuthOIDCRedirectURI"), where_set(ptemp, sv, s, "AuthOIDCLogoutURI"));
            rc = HTTP_INTERNAL_SERVER_ERROR;
        }
        if (sc->session_info_uri &&
            ((sc->redirect_path && strcmp(sc->session_info_uri, sc->redirect_path) == 0) ||
             (sc->logout_uri && strcmp(sc->session_info_uri, sc->logout_uri) == 0) ||
             (sc->backchannel_uri && strcmp(sc->session_info_uri, sc->backchannel_uri) == 0))) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sv, AOIDC_LOGNO(806)
                         "auth_oidc: AuthOIDCSessionInfoURI%s must differ from the redirect, logout and "
                         "back-channel logout URIs", where_set(ptemp, sv, s, "AuthOIDCSessionInfoURI"));
            rc = HTTP_INTERNAL_SERVER_ERROR;
        }
        if (!sc->cookie_secure && strcmp(sc->cookie_samesite, "None") == 0) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sv, AOIDC_LOGNO(013)
                         "auth_oidc: AuthOIDCCookieSameSite None%s needs AuthOIDCCookieSecure On (Off%s)",
                         where_set(ptemp, sv, s, "AuthOIDCCookieSameSite"),
                         where_set(ptemp, sv, s, "AuthOIDCCookieSecure"));
            rc = HTTP_INTERNAL_SERVER_ERROR;
        }
        if (!sc->cookie_secure &&
            (strncasecmp(sc->cookie_name, "__Host-", 7) == 0 || strncasecmp(sc->cookie_name, "__Secure-", 9) == 0)) {
            /* browsers drop such a cookie without Secure: every login would loop */
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sv, AOIDC_LOGNO(600)
                         "auth_oidc: AuthOIDCCookieName %s%s needs AuthOIDCCookieSecure On (Off%s)", sc->cookie_name,
                         where_set(ptemp, sv, s, "AuthOIDCCookieName"), where_set(ptemp, sv, s, "AuthOIDCCookieSecure"));
            rc = HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return rc;
}

/* --- node snapshots: this node's redacted configuration in the store ------ */

static void node_info(apr_pool_t *p, aoidc_srv_cfg_t *sc, aoidc_node_info_t *in)
{
    memset(in, 0, sizeof(*in));
    in->node = sc->node_name;
    in->version = AOIDC_VERSION;
    in->published = apr_time_sec(apr_time_now());
    in->pid = (int)getpid();
    in->key_id = sc->keys ? aoidc_node_key_id(p, sc->keys) : NULL;
    in->store = sc->store_servers;
    in->cookie_name = sc->cookie_name;
    in->cookie_samesite = sc->cookie_samesite;
    in->cookie_secure = sc->cookie_secure;
    in->inactivity = sc->inactivity;
    in->max_lifetime = sc->max_lifetime;
    in->touch_interval = sc->touch_interval;
    in->clock_skew = sc->clock_skew;
    in->redirect_uri = sc->redirect_uri;
    in->logout_uri = sc->logout_uri;
    in->backchannel_uri = sc->backchannel_uri;
    in->providers = sc->providers;
}

/* Servers that publish: those with providers, one per (store, node name);
 * virtual hosts that inherit the main server's settings are the same node. */
static int first_of_its_node(server_rec *s, server_rec *sv)
{
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(sv);
    if (!sc->providers || !sc->providers->nelts || !sc->store_servers || !sc->keys || !sc->node_name) {
        return 0;
    }
    for (server_rec *x = s; x != sv; x = x->next) {
        aoidc_srv_cfg_t *xc = aoidc_srv_cfg(x);
        if (xc->providers && xc->providers->nelts && xc->store_servers && xc->node_name &&
            strcmp(xc->store_servers, sc->store_servers) == 0 && strcmp(xc->node_name, sc->node_name) == 0) {
            return 0;
        }
    }
    return 1;
}

#define SNAPSHOT_REFRESH 3600 /* seconds: an unchanged snapshot is rewritten at most this often */

static void publish(apr_pool_t *p, server_rec *sv, aoidc_srv_cfg_t *sc, aoidc_store_t *st, const char *when,
                    int only_if_changed)
{
    aoidc_node_info_t in;
    int written = 1;
    node_info(p, sc, &in);
    apr_status_t rv = only_if_changed ? aoidc_node_publish_if_changed(st, p, &in, SNAPSHOT_REFRESH, &written)
                                      : aoidc_node_publish(st, p, &in);
    if (rv == APR_SUCCESS && !written) {
        return;
    }
    if (rv != APR_SUCCESS) {
        /* the console shows a stale or missing node; sessions do not care */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, rv, sv, AOIDC_LOGNO(020)
                     "auth_oidc: node %s could not publish its configuration snapshot (%s)", sc->node_name, when);
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, sv, AOIDC_LOGNO(021)
                     "auth_oidc: node %s published its configuration snapshot (%s)", sc->node_name, when);
    }
}

/* From post_config's second pass, in the parent: a store that lives only
 * in ptemp (closed before the children fork). */
void aoidc_node_publish_parent(apr_pool_t *ptemp, server_rec *s)
{
    for (server_rec *sv = s; sv; sv = sv->next) {
        if (!first_of_its_node(s, sv)) {
            continue;
        }
        aoidc_srv_cfg_t *sc = aoidc_srv_cfg(sv);
        aoidc_store_t *st = NULL;
        const char *err = NULL;
        if (aoidc_store_memcached_create(ptemp, sc->store_servers, 1, sc->store_timeout_ms, &st, &err) !=
            APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, sv, AOIDC_LOGNO(022)
                         "auth_oidc: no store for the configuration snapshot: %s", err ? err : "?");
            continue;
        }
        publish(ptemp, sv, sc, st, "start-up", 0);
    }
}

typedef struct {
    server_rec *sv;
    aoidc_srv_cfg_t *sc;
} refresh_baton_t;

/* A child fetched discovery or a JWKS: publish what it now knows. Runs in
 * the fetching request's thread, with its pool. */
static void on_provider_refresh(aoidc_provider_t *pr, apr_pool_t *p, void *baton)
{
    refresh_baton_t *b = baton;
    if (b->sc->store) {
        publish(p, b->sv, b->sc, b->sc->store, apr_pstrcat(p, "provider ", pr->name, " refreshed", NULL), 1);
    }
}

/* After the stores exist (child_init): hook each provider to the first
 * publishing server that uses it. */
void aoidc_node_child_init(apr_pool_t *p, server_rec *s)
{
    for (server_rec *sv = s; sv; sv = sv->next) {
        if (!first_of_its_node(s, sv)) {
            continue;
        }
        aoidc_srv_cfg_t *sc = aoidc_srv_cfg(sv);
        for (int i = 0; i < sc->providers->nelts; i++) {
            aoidc_provider_t *pr = APR_ARRAY_IDX(sc->providers, i, aoidc_provider_t *);
            if (!pr->on_refresh) {
                refresh_baton_t *b = apr_pcalloc(p, sizeof(*b));
                b->sv = sv;
                b->sc = sc;
                pr->on_refresh_baton = b;
                pr->on_refresh = on_provider_refresh;
            }
        }
    }
}
