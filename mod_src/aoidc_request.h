/* Client input of our own URIs, parsed without httpd so that the unit tests
 * and tests/fuzz/fuzz_login.c reach it: the callback's query string, the
 * return target of a login, the post-logout target, the back-channel logout
 * form body, and the same-origin rule of the logout URI. The glue
 * (mod_auth_oidc_login.c, _logout.c, _backchannel.c) only feeds it headers
 * and maps its answers to HTTP. Core file: APR only. */
#ifndef AOIDC_REQUEST_H
#define AOIDC_REQUEST_H

#include <apr_pools.h>
#include <apr_tables.h>

#define AOIDC_CALLBACK_QUERY_MAX 8192 /* longest callback query accepted */
#define AOIDC_CODE_MAX 2048           /* longest authorization code accepted */
#define AOIDC_ERROR_TEXT_MAX 256      /* error / error_description kept for the log */
#define AOIDC_BCL_BODY_MAX 16384      /* longest back-channel logout body */

/* --- the callback (authorization response) ------------------------------ */

typedef enum {
    AOIDC_CB_OK = 0,
    AOIDC_CB_TOO_LONG,  /* query longer than AOIDC_CALLBACK_QUERY_MAX */
    AOIDC_CB_MALFORMED, /* a protocol parameter repeated or badly escaped */
    AOIDC_CB_NO_STATE   /* state missing or not of the shape we issue */
} aoidc_cb_parse_t;

typedef struct {
    const char *state;             /* set when AOIDC_CB_OK */
    const char *code;              /* NULL when absent */
    const char *error;             /* NULL when absent; at most AOIDC_ERROR_TEXT_MAX bytes */
    const char *error_description; /* NULL when absent; cut like error */
    const char *iss;               /* NULL when absent */
} aoidc_callback_t;

/* Parse the query string of a callback (NULL: none). Each of state, code,
 * error, error_description and iss may appear at most once. Strings are
 * decoded copies from p. */
aoidc_cb_parse_t aoidc_callback_parse(apr_pool_t *p, const char *query, aoidc_callback_t *out);
const char *aoidc_cb_parse_str(aoidc_cb_parse_t rc);

/* Is code a code worth sending to the token endpoint (1: non-empty, at most
 * AOIDC_CODE_MAX bytes)? */
int aoidc_callback_code_usable(const char *code);

/* --- targets ------------------------------------------------------------- */

/* Where a login started by a request for uri (its raw request target) returns:
 * uri itself when it is a local path (aoidc_is_local_path) of at most
 * AOIDC_STATE_RETURN_MAX bytes, else "/". Never NULL; points into uri or is
 * a literal. */
const char *aoidc_return_target(const char *uri);

/* The target after logout from the logout request's query: its single
 * `return` parameter when it equals an entry of allowed exactly; without
 * one, the first allowed entry, or "/" when allowed is empty or NULL.
 * Returns 1 with *target set, 0 when `return` is repeated, badly escaped or
 * not allowed (*target NULL). */
int aoidc_logout_target(apr_pool_t *p, const char *query, const apr_array_header_t *allowed, const char **target);

/* --- back-channel logout body --------------------------------------------- */

/* Is ctype application/x-www-form-urlencoded (parameters allowed)? */
int aoidc_form_content_type_ok(const char *ctype);

/* The single non-empty logout_token of a form body of len bytes (not
 * NUL-terminated, at most AOIDC_BCL_BODY_MAX, no NUL inside). 1 with *token
 * (decoded, from p), 0 otherwise. */
int aoidc_backchannel_token(apr_pool_t *p, const char *body, apr_size_t len, const char **token);

/* --- same origin (logout) ------------------------------------------------- */

typedef enum {
    AOIDC_XS_ALLOW = 0, /* act */
    AOIDC_XS_CONFIRM,   /* cross-site GET: answer a page whose form POSTs */
    AOIDC_XS_REFUSE     /* cross-site POST: 403 */
} aoidc_xsite_t;

/* 1 when an Origin header value names our_origin ("scheme://host[:port]",
 * case-insensitive; "null" never does). */
int aoidc_origin_is(const char *our_origin, const char *origin);

/* 1 when a Referer header value is a URL of our_origin. */
int aoidc_referer_is(const char *our_origin, const char *referer);

/* The rule of the logout URI (any header may be NULL):
 *   GET:  Sec-Fetch-Site cross-site or same-site, and neither Origin nor
 *         Referer of our origin -> CONFIRM; otherwise (including browsers
 *         that send no Sec-Fetch-Site) ALLOW.
 *   POST: REFUSE when Sec-Fetch-Site is present and not same-origin, when
 *         Origin is present and not ours, or (neither present) when Referer
 *         is present and not ours; otherwise ALLOW. */
aoidc_xsite_t aoidc_logout_xsite(int is_post, const char *sec_fetch_site, const char *origin, const char *referer,
                                 const char *our_origin);

/* Is a request without a session a browser's navigation (sent to the
 * provider) rather than a script's call (answered 401)? Headers may be NULL.
 * Sec-Fetch-Mode decides when present ("navigate"); else an XMLHttpRequest
 * marker or an Accept without text/html nor * / * says no; else a GET (or
 * HEAD) is one. Returns 1 or 0. */
int aoidc_request_is_navigation(const char *sec_fetch_mode, const char *x_requested_with, const char *accept,
                                int is_get);

#endif
