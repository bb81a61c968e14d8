/* A short, printable summary of a User-Agent, for the session listings (the
 * directory stores the header as sent; summarising it is presentation). */
#include "console.h"

#include <apr_lib.h>
#include <apr_strings.h>
#include <string.h>

/* "Name/12.3" in ua -> "label 12", or NULL. */
static const char *product(apr_pool_t *p, const char *ua, const char *token, const char *label)
{
    const char *at = strstr(ua, token);
    if (!at) {
        return NULL;
    }
    at += strlen(token);
    apr_size_t n = 0;
    while (n < 6 && apr_isdigit(at[n])) {
        n++;
    }
    return n ? apr_psprintf(p, "%s %.*s", label, (int)n, at) : label;
}

const char *ocon_ua_summary(apr_pool_t *p, const char *ua)
{
    static const char *const browsers[][2] = {
        {"Edg/", "Edge"},       {"OPR/", "Opera"},     {"Firefox/", "Firefox"},
        {"Chrome/", "Chrome"},  {"Version/", "Safari"}, {"curl/", "curl"},
        {"python-requests/", "python-requests"},       {"Wget/", "Wget"},
    };
    static const char *const systems[][2] = {
        {"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iOS"}, {"Windows", "Windows"},
        {"Mac OS X", "macOS"},  {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
    };
    if (!ua || !*ua) {
        return "";
    }
    const char *b = NULL, *os = NULL;
    for (apr_size_t i = 0; !b && i < sizeof(browsers) / sizeof(browsers[0]); i++) {
        b = product(p, ua, browsers[i][0], browsers[i][1]);
    }
    for (apr_size_t i = 0; !os && i < sizeof(systems) / sizeof(systems[0]); i++) {
        os = strstr(ua, systems[i][0]) ? systems[i][1] : NULL;
    }
    if (b) {
        return os ? apr_pstrcat(p, b, " on ", os, NULL) : b;
    }
    /* unknown: the first printable characters, nothing a terminal obeys */
    char *s = apr_pstrndup(p, ua, 48);
    for (char *c = s; *c; c++) {
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) {
            *c = '?';
        }
    }
    return s;
}
