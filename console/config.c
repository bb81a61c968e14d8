/* The console's config file: "key = value" lines, '#' comments.
 *
 *   store_servers     = 127.0.0.1:11211 10.0.0.2:11211   (as AuthOIDCSessionStore, same order)
 *   store_timeout_ms  = 500
 *   crypto_key_file   = /etc/apache2/auth_oidc/crypto.key       (as AuthOIDCCryptoKeyFile)
 *   previous_crypto_key_file = /etc/apache2/auth_oidc/crypto.key.old  (its optional second argument)
 *   admin_htpasswd    = /etc/oidc-console/htpasswd       (htpasswd -B: bcrypt only)
 *   listen            = 127.0.0.1:8089
 *   allow_remote      = no
 *   tls_cert / tls_key = PEM files (both or neither)
 *   audit_log         = /var/log/oidc-console/audit.log
 *   providers         = main other    (only when nodes publish no snapshot)
 *   session_window    = 28800          (AuthOIDCSessionMaxLifetime)
 *   per_page          = 50
 *   login_idle = 900, login_max = 28800, login_fail_max = 5, login_fail_window = 300
 *   trusted_proxies   = 127.0.0.1 ::1   (reverse proxies whose X-Forwarded-For counts)
 *   metrics_url       = https://{node}/auth-oidc-metrics   (shown on the Nodes page)
 */
#include "console.h"
#include "web.h"

#include "aoidc_store.h"

#include <apr_file_io.h>
#include <apr_strings.h>
#include <ctype.h>
#include <stddef.h>
#include <strings.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef enum { K_STR, K_INT, K_BOOL } ktype_t;

typedef struct {
    const char *name;
    ktype_t type;
    apr_size_t off;
    long min, max;
} key_t_;

#define OFF(f) offsetof(ocon_config_t, f)
static const key_t_ KEYS[] = {
    {"store_servers", K_STR, OFF(store_servers), 0, 0},
    {"store_timeout_ms", K_INT, OFF(store_timeout_ms), 10, 60000},
    {"crypto_key_file", K_STR, OFF(crypto_key_file), 0, 0},
    {"previous_crypto_key_file", K_STR, OFF(previous_crypto_key_file), 0, 0},
    {"admin_htpasswd", K_STR, OFF(admin_htpasswd), 0, 0},
    {"listen", K_STR, OFF(listen), 0, 0},
    {"allow_remote", K_BOOL, OFF(allow_remote), 0, 1},
    {"tls_cert", K_STR, OFF(tls_cert), 0, 0},
    {"tls_key", K_STR, OFF(tls_key), 0, 0},
    {"audit_log", K_STR, OFF(audit_log), 0, 0},
    {"providers", K_STR, OFF(providers), 0, 0},
    {"session_window", K_INT, OFF(session_window), 60, 30 * 86400},
    {"per_page", K_INT, OFF(per_page), 1, OCON_PER_PAGE_MAX},
    {"login_idle", K_INT, OFF(login_idle), 30, 86400},
    {"login_max", K_INT, OFF(login_max), 60, 7 * 86400},
    {"login_fail_max", K_INT, OFF(login_fail_max), 1, 1000},
    {"login_fail_window", K_INT, OFF(login_fail_window), 1, 86400},
    {"trusted_proxies", K_STR, OFF(trusted_proxies), 0, 0},
    {"metrics_url", K_STR, OFF(metrics_url), 0, 0},
};
#define NKEYS (sizeof(KEYS) / sizeof(KEYS[0]))

static void defaults(ocon_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->store_timeout_ms = 500;
    c->listen = OCON_DEFAULT_LISTEN;
    c->session_window = 28800;
    c->per_page = 50;
    c->login_idle = 900;
    c->login_max = 28800;
    c->login_fail_max = 5;
    c->login_fail_window = 300;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
        *--e = '\0';
    }
    return s;
}

static int parse_long(const char *v, long min, long max, long *out)
{
    char *end;
    if (!*v || !(isdigit((unsigned char)*v))) {
        return 0;
    }
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < min || n > max) {
        return 0;
    }
    *out = n;
    return 1;
}

apr_status_t ocon_config_parse(apr_pool_t *p, const char *text, apr_size_t len, const char *path,
                               ocon_config_t *cfg, const char **err)
{
    int seen[NKEYS] = {0};
    defaults(cfg);
    cfg->path = path;
    if (len > OCON_CONFIG_MAX) {
        *err = apr_psprintf(p, "%s: larger than %d bytes", path, OCON_CONFIG_MAX);
        return APR_EINVAL;
    }
    if (memchr(text, '\0', len)) {
        *err = apr_psprintf(p, "%s: contains a NUL byte", path);
        return APR_EINVAL;
    }
    char *buf = apr_pstrmemdup(p, text, len), *last = NULL;
    int lineno = 0;
    /* strtok would merge empty lines and lose the numbering */
    for (char *line = buf; line; line = last) {
        char *nl = strchr(line, '\n');
        last = nl ? nl + 1 : NULL;
        if (nl) {
            *nl = '\0';
        }
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#') {
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            *err = apr_psprintf(p, "%s:%d: expected 'key = value'", path, lineno);
            return APR_EINVAL;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        apr_size_t vl = strlen(v);
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
            v[vl - 1] = '\0';
            v++;
        }
        apr_size_t i;
        for (i = 0; i < NKEYS; i++) {
            if (strcmp(KEYS[i].name, k) == 0) {
                break;
            }
        }
        if (i == NKEYS) {
            *err = apr_psprintf(p, "%s:%d: unknown key '%s'", path, lineno, k);
            return APR_EINVAL;
        }
        if (seen[i]++) {
            *err = apr_psprintf(p, "%s:%d: '%s' given twice", path, lineno, k);
            return APR_EINVAL;
        }
        for (const char *c = v; *c; c++) {
            if ((unsigned char)*c < 0x20 && *c != '\t') {
                *err = apr_psprintf(p, "%s:%d: control character in value of '%s'", path, lineno, k);
                return APR_EINVAL;
            }
        }
        char *field = (char *)cfg + KEYS[i].off;
        long n;
        switch (KEYS[i].type) {
        case K_STR:
            if (!*v) {
                *err = apr_psprintf(p, "%s:%d: empty value for '%s'", path, lineno, k);
                return APR_EINVAL;
            }
            *(const char **)field = v;
            break;
        case K_INT:
            if (!parse_long(v, KEYS[i].min, KEYS[i].max, &n)) {
                *err = apr_psprintf(p, "%s:%d: '%s' must be a number from %" APR_INT64_T_FMT " to %" APR_INT64_T_FMT,
                                    path, lineno, k, (apr_int64_t)KEYS[i].min, (apr_int64_t)KEYS[i].max);
                return APR_EINVAL;
            }
            *(int *)field = (int)n;
            break;
        case K_BOOL:
            if (!strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcasecmp(v, "true") || !strcmp(v, "1")) {
                *(int *)field = 1;
            }
            else if (!strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcasecmp(v, "false") ||
                     !strcmp(v, "0")) {
                *(int *)field = 0;
            }
            else {
                *err = apr_psprintf(p, "%s:%d: '%s' must be yes or no", path, lineno, k);
                return APR_EINVAL;
            }
            break;
        }
    }
    if (!cfg->store_servers) {
        *err = apr_psprintf(p, "%s: store_servers is required", path);
        return APR_EINVAL;
    }
    const char *merr = aoidc_store_memcached_check(p, cfg->store_servers);
    if (merr) {
        *err = apr_psprintf(p, "%s: store_servers: %s", path, merr);
        return APR_EINVAL;
    }
    if (!cfg->crypto_key_file) {
        *err = apr_psprintf(p, "%s: crypto_key_file is required", path);
        return APR_EINVAL;
    }
    if (!cfg->tls_cert != !cfg->tls_key) {
        *err = apr_psprintf(p, "%s: tls_cert and tls_key go together", path);
        return APR_EINVAL;
    }
    const char *host;
    int port;
    const char *lerr = ocon_split_listen(p, cfg->listen, &host, &port);
    if (lerr) {
        *err = apr_psprintf(p, "%s: listen: %s", path, lerr);
        return APR_EINVAL;
    }
    if (cfg->login_idle > cfg->login_max) {
        *err = apr_psprintf(p, "%s: login_idle must not exceed login_max", path);
        return APR_EINVAL;
    }
    const char *perr = ocon_proxies_parse(p, cfg->trusted_proxies, &cfg->proxies);
    if (perr) {
        *err = apr_psprintf(p, "%s: trusted_proxies: %s", path, perr);
        return APR_EINVAL;
    }
    const char *uerr = cfg->metrics_url ? ocon_metrics_url_check(cfg->metrics_url) : NULL;
    if (uerr) {
        *err = apr_psprintf(p, "%s: metrics_url: %s", path, uerr);
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

apr_status_t ocon_config_load(apr_pool_t *p, const char *path, ocon_config_t *cfg, const char **err)
{
    apr_file_t *f;
    apr_status_t rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, p);
    char ebuf[128];
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "%s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return rv;
    }
    char *buf = apr_palloc(p, OCON_CONFIG_MAX + 1);
    apr_size_t n = OCON_CONFIG_MAX + 1;
    rv = apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        *err = apr_psprintf(p, "%s: %s", path, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return rv;
    }
    return ocon_config_parse(p, buf, n, path, cfg, err);
}

const char *ocon_split_listen(apr_pool_t *p, const char *listen, const char **host, int *port)
{
    const char *colon;
    long n;
    if (!listen || !*listen) {
        return "empty address";
    }
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':') {
            return "expected [address]:port";
        }
        *host = apr_pstrmemdup(p, listen + 1, (apr_size_t)(rb - listen - 1));
        colon = rb + 1;
    }
    else {
        colon = strrchr(listen, ':');
        if (!colon || colon == listen || strchr(listen, ':') != colon) {
            return "expected address:port";
        }
        *host = apr_pstrmemdup(p, listen, (apr_size_t)(colon - listen));
    }
    if (!parse_long(colon + 1, 1, 65535, &n)) {
        return "port must be 1..65535";
    }
    *port = (int)n;
    return NULL;
}

int ocon_host_is_loopback(const char *host)
{
    return !strcmp(host, "::1") || !strcmp(host, "localhost") || !strncmp(host, "127.", 4);
}

#define OCON_PEM_MAX (1024 * 1024)

/* One PEM file of a TLS setting: its text, or NULL and *err. */
static const char *read_pem_setting(apr_pool_t *p, const char *cfgpath, const char *setting, const char *file,
                                    const char *marker, const char **err)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char ebuf[128];
    apr_status_t rv = apr_file_open(&f, file, APR_FOPEN_READ, 0, p);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "%s: %s: %s: %s", cfgpath, setting, file, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return NULL;
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
    if (rv != APR_SUCCESS || fi.filetype != APR_REG) {
        apr_file_close(f);
        *err = apr_psprintf(p, "%s: %s: %s: not a regular file", cfgpath, setting, file);
        return NULL;
    }
    if (fi.size == 0 || fi.size > OCON_PEM_MAX) {
        apr_file_close(f);
        *err = apr_psprintf(p, "%s: %s: %s: %s", cfgpath, setting, file, fi.size ? "larger than 1 MB" : "empty");
        return NULL;
    }
    apr_size_t n = (apr_size_t)fi.size;
    char *buf = apr_palloc(p, n + 1);
    rv = apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "%s: %s: %s: %s", cfgpath, setting, file, apr_strerror(rv, ebuf, sizeof(ebuf)));
        return NULL;
    }
    buf[n] = '\0';
    if (strlen(buf) != n || !strstr(buf, "-----BEGIN ") || !strstr(buf, marker)) {
        *err = apr_psprintf(p, "%s: %s: %s: not a PEM file with a %s", cfgpath, setting, file,
                            strcmp(setting, "tls_cert") ? "private key" : "certificate");
        return NULL;
    }
    return buf;
}

const char *ocon_config_check_tls(apr_pool_t *p, const ocon_config_t *cfg, const char **cert, const char **key)
{
    const char *err = NULL, *c, *k;
    if (!cfg->tls_cert && !cfg->tls_key) {
        return NULL;
    }
    if (!cfg->tls_cert != !cfg->tls_key) {
        return apr_psprintf(p, "%s: tls_cert and tls_key go together", cfg->path);
    }
    if (!(c = read_pem_setting(p, cfg->path, "tls_cert", cfg->tls_cert, "CERTIFICATE-----", &err)) ||
        !(k = read_pem_setting(p, cfg->path, "tls_key", cfg->tls_key, "PRIVATE KEY-----", &err))) {
        return err;
    }
    if (cert) {
        *cert = c;
    }
    if (key) {
        *key = k;
    }
    return NULL;
}

const char *ocon_config_check_serve(apr_pool_t *p, const ocon_config_t *cfg)
{
    const char *host;
    int port;
    if (!cfg->admin_htpasswd) {
        return apr_psprintf(p, "%s: admin_htpasswd is required for serve", cfg->path);
    }
    if (ocon_split_listen(p, cfg->listen, &host, &port)) {
        return apr_psprintf(p, "%s: bad listen address", cfg->path);
    }
    if (!ocon_host_is_loopback(host) && !cfg->allow_remote) {
        return apr_psprintf(p,
                            "%s: listen %s is not a loopback address; set allow_remote = yes (and "
                            "better tls_cert/tls_key) to allow it",
                            cfg->path, cfg->listen);
    }
    return NULL;
}
