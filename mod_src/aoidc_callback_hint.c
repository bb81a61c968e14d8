/* Causes of a callback without its state cookie (see aoidc_callback_hint.h). */
#include "aoidc_callback_hint.h"

#include <apr_strings.h>
#include <string.h>
#include <strings.h>

const char aoidc_missing_state_page[] =
    "<!DOCTYPE html>\n<html><head><title>400 Bad Request</title></head><body>\n"
    "<h1>The login could not be completed</h1>\n"
    "<p>This browser did not send back the cookie that was set when the login started. Common causes:</p>\n"
    "<ul>\n<li>cookies are blocked for this site (browser settings or an extension);</li>\n"
    "<li>the login was started at another address of this site (http instead of https, or another host "
    "name) than the one the provider returned to;</li>\n"
    "<li>the browser did not send SameSite=Lax cookies on the way back from the provider;</li>\n"
    "<li>the login took more than 10 minutes, or was already completed in another tab.</li>\n</ul>\n"
    "<p>Go back to the page you wanted and try again. If it keeps happening, tell the site's "
    "administrator (the server's error log has the details).</p>\n</body></html>\n";

const char *aoidc_missing_state_causes(apr_pool_t *p, const aoidc_missing_state_t *in)
{
    const char *out = "";
#define ADD(s) out = apr_pstrcat(p, out, *out ? "; " : "", s, NULL)
    if (in->redirect_host && in->host && strcasecmp(in->redirect_host, in->host) != 0) {
        ADD(apr_psprintf(
            p,
            "the callback arrived for host '%s' but AuthOIDCRedirectURI names '%s': a cookie set "
            "on one host name is not sent to the other (start logins on the redirect URI's host)",
            in->host, in->redirect_host));
    }
    if (in->cookie_secure && in->scheme && strcasecmp(in->scheme, "https") != 0) {
        ADD(apr_psprintf(p,
                         "the callback arrived over %s but the state cookie is Secure (https only): behind a "
                         "TLS-terminating proxy, set AuthOIDCTrustedProxies or ServerName https://...",
                         in->scheme));
    }
    if (!in->cookie_header) {
        ADD("the browser sent no cookies at all: cookies blocked for this site, or SameSite=Lax cookies not "
            "sent on the navigation back from the provider");
    }
    else if (in->other_states) {
        ADD(apr_psprintf(p,
                         "the browser has %d other login attempt(s) of its own: this one expired (10 min), "
                         "was completed in another tab, or was dropped after more attempts",
                         in->other_states));
    }
    else {
        ADD("the browser sent cookies but not this login's: it expired (10 min), was already completed, or "
            "was "
            "started on another host or scheme");
    }
#undef ADD
    return out;
}
