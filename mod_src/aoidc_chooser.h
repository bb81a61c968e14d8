/* Several providers on one site: the client input of AuthOIDCLoginURI
 * (?provider=NAME&return=PATH&login_hint=...&prompt=...) and the chooser page
 * that lists a location's providers. Core file: APR only; the glue is
 * mod_auth_oidc_chooser.c, the fuzz target tests/fuzz/fuzz_chooser.c. */
#ifndef AOIDC_CHOOSER_H
#define AOIDC_CHOOSER_H

#include <apr_pools.h>

#define AOIDC_LOGIN_QUERY_MAX 4096 /* longest login URI query accepted */
#define AOIDC_LOGIN_HINT_MAX 256   /* longest login_hint passed on */
#define AOIDC_PROVIDER_NAME_MAX 64 /* longest provider name in a query */
#define AOIDC_DISPLAY_NAME_MAX 128 /* AuthOIDCProviderDisplayName */
#define AOIDC_CHOOSER_TEMPLATE_MAX 65536
#define AOIDC_CHOOSER_SLOT "{{providers}}" /* where a template gets the list */

typedef enum {
    AOIDC_LR_OK = 0,
    AOIDC_LR_TOO_LONG,    /* query longer than AOIDC_LOGIN_QUERY_MAX */
    AOIDC_LR_MALFORMED,   /* a parameter repeated or badly escaped */
    AOIDC_LR_NO_PROVIDER, /* provider missing or not a provider name */
    AOIDC_LR_BAD_RETURN,  /* return is not a local path (open redirect) */
    AOIDC_LR_BAD_HINT,    /* login_hint empty, too long or with control characters */
    AOIDC_LR_BAD_PROMPT,  /* prompt not made of login, consent, select_account, none */
    AOIDC_LR_BAD_MAX_AGE  /* max_age not a number of seconds up to AOIDC_STATE_MAX_AGE_MAX */
} aoidc_login_req_rc_t;

typedef struct {
    const char *provider;   /* set when AOIDC_LR_OK */
    const char *return_to;  /* a local path; "/" when absent */
    const char *login_hint; /* NULL when absent */
    const char *prompt;     /* NULL when absent */
    int max_age;            /* -1 when absent */
} aoidc_login_req_t;

/* Parse the query of a login URI request (NULL: none). Each parameter may
 * appear at most once; return must pass aoidc_is_local_path and be at most
 * AOIDC_STATE_RETURN_MAX bytes. Strings are decoded copies from p. */
aoidc_login_req_rc_t aoidc_login_request_parse(apr_pool_t *p, const char *query, aoidc_login_req_t *out);
const char *aoidc_login_req_str(aoidc_login_req_rc_t rc);

/* 1 when s (a display name) is 1 to AOIDC_DISPLAY_NAME_MAX bytes without
 * control characters. */
int aoidc_display_name_ok(const char *s);

/* s with & < > " ' as character references (for text and quoted
 * attributes). Never NULL (NULL in: ""). */
char *aoidc_html_escape(apr_pool_t *p, const char *s);

typedef struct {
    const char *href;    /* raw URL; escaped here */
    const char *display; /* raw text; escaped here */
} aoidc_chooser_entry_t;

/* The chooser page: tmpl (NULL: our own minimal page) with its first
 * AOIDC_CHOOSER_SLOT replaced by one list item (a link) per entry. Every
 * entry is escaped; tmpl is the admin's and is taken as is. */
const char *aoidc_chooser_page(apr_pool_t *p, const char *tmpl, const aoidc_chooser_entry_t *e, int n);

#endif
