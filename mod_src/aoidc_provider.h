/* An OpenID Provider: its configuration, its discovery document and keys
 * (fetched lazily, held parsed per process), and the calls a login makes. */
#ifndef AOIDC_PROVIDER_H
#define AOIDC_PROVIDER_H

#include "aoidc_http.h"
#include "aoidc_jose.h"

#include <apr_pools.h>
#include <apr_errno.h>
#include <apr_tables.h>
#include <apr_thread_mutex.h>
#include <apr_thread_rwlock.h>

#define AOIDC_DISCOVERY_MAX_LEN (64 * 1024)

typedef enum { AOIDC_AUTH_CLIENT_SECRET_BASIC = 0, AOIDC_AUTH_CLIENT_SECRET_POST } aoidc_client_auth_t;

typedef struct {
    const char *issuer;
    const char *authorization_endpoint;
    const char *token_endpoint;
    const char *userinfo_endpoint;     /* may be NULL */
    const char *end_session_endpoint;  /* may be NULL */
    const char *jwks_uri;
    const char *introspection_endpoint; /* may be NULL */
    int iss_parameter_supported;       /* RFC 9207: callbacks must carry iss */
} aoidc_provider_meta_t;

typedef struct {
    const char *id_token;
    const char *access_token;
    const char *refresh_token; /* may be NULL */
    apr_int64_t expires_in;    /* 0 when not given */
} aoidc_tokens_t;

typedef struct aoidc_provider aoidc_provider_t;

/* AuthOIDCUserInfo: never, always (a provider without the endpoint fails the
 * login), or when the provider's metadata has a userinfo_endpoint. */
enum { AOIDC_USERINFO_OFF = 0, AOIDC_USERINFO_ON = 1, AOIDC_USERINFO_AUTO = 2 };

/* Called after a discovery or JWKS fetch (successful or not), outside the
 * provider's locks, in the thread that fetched; p is that caller's pool.
 * The module publishes its node snapshot from here. */
typedef void (*aoidc_provider_refresh_cb)(aoidc_provider_t *pr, apr_pool_t *p, void *baton);

/* The GET a fetch uses (aoidc_http_get's contract); a field so that unit
 * tests can count and script fetches without a network. */
typedef apr_status_t (*aoidc_provider_get_fn)(apr_pool_t *p, const aoidc_http_opts_t *o, const char *url,
                                              const char *bearer, aoidc_http_resp_t *resp, const char **err);

/* After a failed fetch the provider is left alone for a while: 2 s after the
 * first failure, doubling with each failure in a row, at most 60 s. */
#define AOIDC_PROVIDER_BACKOFF_MIN 2
#define AOIDC_PROVIDER_BACKOFF_MAX 60
/* Unknown kids: each one causes at most one JWKS refetch per
 * jwks_refresh_interval (the last AOIDC_KID_MISS_SLOTS are remembered), and
 * all of them together at most AOIDC_JWKS_REFETCH_BUDGET refetches per
 * interval (at least 1 s), so a flood of random kids cannot hammer the
 * provider. */
#define AOIDC_KID_MISS_SLOTS 16
#define AOIDC_KID_MAX_LEN 128
#define AOIDC_JWKS_REFETCH_BUDGET 4

typedef struct {
    char kid[AOIDC_KID_MAX_LEN + 1]; /* "" for a token without kid */
    apr_time_t tried;                /* 0: slot free */
} aoidc_kid_miss_t;

struct aoidc_provider {
    /* configuration: set while the config is read, read-only afterwards */
    const char *name;
    const char *issuer;
    const char *client_id;
    const char *client_secret;
    const char *secret_file;
    const char *scope;
    aoidc_client_auth_t auth_method;
    const char **extra_audiences;  /* NULL-terminated or NULL */
    const char **id_token_algs;    /* NULL-terminated */
    int userinfo;                  /* AOIDC_USERINFO_*: call userinfo at login */
    int jwks_refresh_interval;     /* seconds between refetches on unknown kid */
    int metadata_ttl;              /* seconds discovery is kept */
    const char *defined_in;        /* file:line, for messages */
    const char *display_name;      /* AuthOIDCProviderDisplayName; NULL: the name */
    const char *redirect_uri;      /* AuthOIDCRedirectURI inside the section; NULL: the server's */
    const char *redirect_path;     /* its path */
    apr_array_header_t *locations; /* sections that use it ("<Location /x> at file:line"), for the node snapshot */

    /* runtime: per process, under the locks */
    apr_pool_t *rt_pool;           /* own allocator with a mutex: see runtime_init */
    apr_thread_rwlock_t *lock;     /* guards everything below */
    apr_thread_mutex_t *fetch_mutex; /* held by the one thread that fetches; only ever try-locked */
    aoidc_provider_get_fn http_get; /* NULL: aoidc_http_get */
    apr_pool_t *meta_pool, *jwks_pool;
    aoidc_provider_meta_t *meta;
    aoidc_jwks_t *jwks;
    apr_time_t meta_fetched, jwks_fetched;
    /* last attempt of each fetch: its time and result ("" when it worked) */
    apr_time_t meta_tried, jwks_tried;
    char meta_error[160], jwks_error[160];
    /* negative caching: no fetch before *_retry_at; failures in a row */
    apr_time_t meta_retry_at, jwks_retry_at;
    int meta_failures, jwks_failures;
    /* unknown-kid refetch throttle */
    aoidc_kid_miss_t kid_miss[AOIDC_KID_MISS_SLOTS];
    apr_time_t refetch_window;     /* start of the current budget window */
    int refetch_count;             /* refetches for unknown kids in that window */
    int refreshed;                 /* a fetch happened; notify once the mutex is free */
    aoidc_provider_refresh_cb on_refresh; /* set before the runtime is used */
    void *on_refresh_baton;
};

/* A copy (from p) of what the provider knows at run time, for the node
 * snapshot: never a secret. kids/ktys: const char *, same order. */
typedef struct {
    int have_meta;
    aoidc_provider_meta_t meta;
    apr_time_t meta_fetched, meta_tried, jwks_fetched, jwks_tried;
    const char *meta_error, *jwks_error; /* "" when the last attempt worked or none was made */
    apr_array_header_t *kids, *ktys;
} aoidc_provider_status_t;

void aoidc_provider_status(aoidc_provider_t *pr, apr_pool_t *p, aoidc_provider_status_t *out);

/* Parse a discovery document. The issuer member must equal expected_issuer
 * exactly; authorization, token and jwks endpoints are required; when the
 * issuer is https every endpoint must be https. */
apr_status_t aoidc_provider_parse_discovery(apr_pool_t *p, const char *json, apr_size_t len,
                                            const char *expected_issuer, aoidc_provider_meta_t **out,
                                            const char **err);

/* Create the runtime locks and pools (once per process, from child_init or
 * post_config; pool lives as long as the process). */
apr_status_t aoidc_provider_runtime_init(aoidc_provider_t *pr, apr_pool_t *p);

/* The first provider in providers (aoidc_provider_t *, may be NULL) whose
 * issuer equals iss exactly and, when accepted (const char * names) is not
 * NULL, whose name is in accepted; NULL when none. The issuer only chooses
 * whose keys to try: nothing in the token is believed yet. */
aoidc_provider_t *aoidc_provider_for_issuer(const apr_array_header_t *providers, const char *iss,
                                            const apr_array_header_t *accepted);

/* A copy (from p) of the discovery metadata, fetching it when absent or
 * older than metadata_ttl. Never waits for another thread's fetch: while
 * one thread of the process fetches, or while the provider is backed off
 * after a failure, the others get the last good metadata if there is any
 * (however old), else APR_EAGAIN at once. Other errors: this thread's fetch
 * failed and nothing was ever fetched. *err says why. */
apr_status_t aoidc_provider_get_meta(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                     aoidc_provider_meta_t *out, const char **err);

/* Verify a JWT's signature with the provider's keys, fetching them when
 * absent, and again on an unknown kid (key rotation without restart): each
 * kid at most once per jwks_refresh_interval, all kids together at most
 * AOIDC_JWKS_REFETCH_BUDGET times per interval. Like get_meta, never waits
 * for another thread's fetch and respects the backoff after a failure.
 * *unavailable (may be NULL) is set to 1 when the result is
 * AOIDC_JOSE_UNKNOWN_KID because no keys could be had right now (provider
 * down, backing off, or another thread fetching and no keys loaded): the
 * caller should answer 502/503, not 401. */
aoidc_jose_result_t aoidc_provider_verify_ex(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                             const aoidc_jwt_t *jwt, const char **err, int *unavailable);

/* aoidc_provider_verify_ex without the unavailable flag. */
aoidc_jose_result_t aoidc_provider_verify(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                          const aoidc_jwt_t *jwt, const char **err);

/* Exchange an authorization code (with PKCE verifier) at the token endpoint.
 * Returns APR_EACCES when the provider refused the code (HTTP 4xx), another
 * error when it could not be reached or answered garbage. */
/* A grant (form: grant_type=... without client credentials) POSTed to the
 * token endpoint with the provider's client authentication (basic or post);
 * a 200 answer is parsed with parse into out. APR_EACCES: the endpoint
 * refused (HTTP 4xx); other errors: no usable answer (transport, 5xx,
 * malformed body). *err says why (never a token). */
typedef apr_status_t (*aoidc_token_parse_fn)(apr_pool_t *p, const char *body, apr_size_t len, aoidc_tokens_t *out,
                                             const char **err);
apr_status_t aoidc_provider_token_request(const aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                          const aoidc_provider_meta_t *meta, const char *form,
                                          aoidc_token_parse_fn parse, aoidc_tokens_t *out, const char **err);

apr_status_t aoidc_provider_exchange_code(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                          const aoidc_provider_meta_t *meta, const char *code,
                                          const char *verifier, const char *redirect_uri, aoidc_tokens_t *out,
                                          const char **err);

/* Parse a token endpoint response body (len bytes, at most
 * AOIDC_TOKEN_BODY_MAX): access_token and token_type Bearer are required,
 * and for the code exchange (parse_token_response) an id_token; the
 * refresh grant's answer (parse_refresh_response) may lack one.
 * refresh_token and expires_in (1 s .. 10 years) are optional; a string
 * with a NUL inside counts as absent. Strings from p. APR_EGENERAL when the
 * answer is an OAuth error (*err names its code), APR_EINVAL when it is
 * malformed. */
#define AOIDC_TOKEN_BODY_MAX 65536
apr_status_t aoidc_provider_parse_token_response(apr_pool_t *p, const char *body, apr_size_t len,
                                                 aoidc_tokens_t *out, const char **err);
apr_status_t aoidc_provider_parse_refresh_response(apr_pool_t *p, const char *body, apr_size_t len,
                                                   aoidc_tokens_t *out, const char **err);

/* Call userinfo with the access token; *claims is a new reference the
 * caller must json_decref. */
apr_status_t aoidc_provider_userinfo(apr_pool_t *p, const aoidc_http_opts_t *o, const aoidc_provider_meta_t *meta,
                                     const char *access_token, json_t **claims, const char **err);

#endif
