/* Outbound HTTP to the provider (libcurl): TLS verification always on,
 * timeouts always set, response size bounded. */
#ifndef AOIDC_HTTP_H
#define AOIDC_HTTP_H

#include <apr_pools.h>
#include <apr_errno.h>

#define AOIDC_HTTP_MAX_RESPONSE (256 * 1024)

typedef struct {
    const char *ca_file;  /* NULL: the system store */
    int timeout_ms;       /* whole transfer */
    int connect_timeout_ms;
} aoidc_http_opts_t;

typedef struct {
    long status;          /* HTTP status, 0 when no response */
    char *body;           /* NUL-terminated, from p */
    apr_size_t len;
    const char *content_type;
} aoidc_http_resp_t;

/* Once per process, before threads (post_config). */
apr_status_t aoidc_http_global_init(void);

/* GET url; bearer (may be NULL) is sent as Authorization: Bearer. Returns
 * APR_SUCCESS when a response arrived (any status), otherwise an error with
 * *err describing it (no secrets). */
apr_status_t aoidc_http_get(apr_pool_t *p, const aoidc_http_opts_t *o, const char *url, const char *bearer,
                            aoidc_http_resp_t *resp, const char **err);

/* POST an application/x-www-form-urlencoded body; basic_user/basic_pass
 * (may be NULL) are sent with HTTP Basic (client_secret_basic: both are
 * form-urlencoded first, as RFC 6749 2.3.1 says). */
apr_status_t aoidc_http_post_form(apr_pool_t *p, const aoidc_http_opts_t *o, const char *url, const char *form,
                                  const char *basic_user, const char *basic_pass, aoidc_http_resp_t *resp,
                                  const char **err);

#endif
