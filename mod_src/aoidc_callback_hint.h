/* Why a callback came without its state cookie: the likely causes for the
 * admin (log line) and the fixed page text for the user. Core file: APR only. */
#ifndef AOIDC_CALLBACK_HINT_H
#define AOIDC_CALLBACK_HINT_H

#include <apr_pools.h>

typedef struct {
    int cookie_header;         /* the request had a Cookie header at all */
    int other_states;          /* state cookies of other login attempts it had */
    const char *scheme;        /* the callback's scheme as this server sees it */
    int cookie_secure;         /* AuthOIDCCookieSecure */
    const char *host;          /* the callback's host (client text; NULL: none) */
    const char *redirect_host; /* AuthOIDCRedirectURI's host when it is absolute, else NULL */
} aoidc_missing_state_t;

/* The likely causes, "; "-separated, most specific first; never NULL or
 * empty. in->host is copied as given: the caller escapes it for the log. */
const char *aoidc_missing_state_causes(apr_pool_t *p, const aoidc_missing_state_t *in);

/* The page a browser gets (fixed text, no request data in it). */
extern const char aoidc_missing_state_page[];

#endif
