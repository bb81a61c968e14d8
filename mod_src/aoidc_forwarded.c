/* Forwarded / X-Forwarded-* parsing (see aoidc_forwarded.h). */
#include "aoidc_forwarded.h"

#include <apr_strings.h>
#include <string.h>
#include <strings.h>

int aoidc_forwarded_host_ok(const char *host)
{
    if (!host) {
        return 0;
    }
    apr_size_t n = strlen(host);
    if (n == 0 || n > AOIDC_HOST_MAX) {
        return 0;
    }
    const char *c = host, *port = NULL;
    if (*c == '[') {
        const char *end = strchr(c, ']');
        if (!end || end == c + 1) {
            return 0;
        }
        for (const char *x = c + 1; x < end; x++) {
            if (!((*x >= '0' && *x <= '9') || (*x >= 'a' && *x <= 'f') || (*x >= 'A' && *x <= 'F') ||
                  *x == ':' || *x == '.')) {
                return 0;
            }
        }
        c = end + 1;
        if (*c == ':') {
            port = c + 1;
        }
        else if (*c) {
            return 0;
        }
    }
    else {
        const char *x = c;
        for (; *x && *x != ':'; x++) {
            if (!((*x >= '0' && *x <= '9') || (*x >= 'a' && *x <= 'z') || (*x >= 'A' && *x <= 'Z') ||
                  *x == '-' || *x == '.')) {
                return 0;
            }
        }
        if (x == c || *c == '.' || *c == '-') {
            return 0;
        }
        if (*x == ':') {
            port = x + 1;
        }
    }
    if (port) {
        apr_size_t pl = strlen(port);
        long v = 0;
        if (pl == 0 || pl > 5) {
            return 0;
        }
        for (const char *x = port; *x; x++) {
            if (*x < '0' || *x > '9') {
                return 0;
            }
            v = v * 10 + (*x - '0');
        }
        if (v < 1 || v > 65535) {
            return 0;
        }
    }
    return 1;
}

static const char *proto_ok(const char *v)
{
    if (!v) {
        return NULL;
    }
    return strcasecmp(v, "https") == 0 ? "https" : strcasecmp(v, "http") == 0 ? "http" : NULL;
}

static int ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The last comma-separated value of a header, trimmed; NULL if empty. */
static const char *last_value(apr_pool_t *p, const char *h)
{
    const char *start = strrchr(h, ',');
    start = start ? start + 1 : h;
    while (ows(*start)) {
        start++;
    }
    apr_size_t n = strlen(start);
    while (n && ows(start[n - 1])) {
        n--;
    }
    return n ? apr_pstrmemdup(p, start, n) : NULL;
}

/* RFC 7239: forwarded-element *( "," forwarded-element ), each
 * pair *( ";" pair ), pair = token "=" ( token / quoted-string ). Fills
 * proto and host from the LAST element; any syntax error in that element
 * discards it whole. */
static void parse_forwarded(apr_pool_t *p, const char *h, const char **proto, const char **host)
{
    apr_size_t n = strlen(h);
    /* the start of the last element: after the last comma outside quotes */
    apr_size_t start = 0;
    int q = 0;
    for (apr_size_t i = 0; i < n; i++) {
        if (q && h[i] == '\\' && i + 1 < n) {
            i++;
        }
        else if (h[i] == '"') {
            q = !q;
        }
        else if (!q && h[i] == ',') {
            start = i + 1;
        }
    }
    if (q) {
        return; /* unterminated quote */
    }
    const char *got_proto = NULL, *got_host = NULL;
    apr_size_t i = start;
    while (i < n) {
        while (i < n && (ows(h[i]) || h[i] == ';')) {
            i++;
        }
        if (i >= n) {
            break;
        }
        apr_size_t ns = i;
        while (i < n && h[i] != '=' && h[i] != ';' && !ows(h[i]) && h[i] != '"') {
            i++;
        }
        if (i >= n || h[i] != '=' || i == ns) {
            return;
        }
        const char *name = apr_pstrmemdup(p, h + ns, i - ns);
        i++; /* '=' */
        char *val = apr_palloc(p, n - i + 1), *o = val;
        if (i < n && h[i] == '"') {
            i++;
            while (i < n && h[i] != '"') {
                if (h[i] == '\\' && i + 1 < n) {
                    i++;
                }
                *o++ = h[i++];
            }
            if (i >= n) {
                return;
            }
            i++; /* closing quote */
        }
        else {
            while (i < n && h[i] != ';' && !ows(h[i])) {
                if (h[i] == '"' || h[i] == '\\') {
                    return;
                }
                *o++ = h[i++];
            }
        }
        *o = '\0';
        while (i < n && ows(h[i])) {
            i++;
        }
        if (i < n && h[i] != ';') {
            return;
        }
        if (strcasecmp(name, "proto") == 0) {
            got_proto = val;
        }
        else if (strcasecmp(name, "host") == 0) {
            got_host = val;
        }
    }
    *proto = got_proto;
    *host = got_host;
}

void aoidc_forwarded_parse(apr_pool_t *p, const char *forwarded, const char *xf_proto, const char *xf_host,
                           aoidc_fwd_t *out)
{
    out->proto = NULL;
    out->host = NULL;
    const char *fp = NULL, *fh = NULL;
    if (forwarded && strlen(forwarded) <= AOIDC_FORWARDED_MAX) {
        parse_forwarded(p, forwarded, &fp, &fh);
    }
    const char *xp = xf_proto && strlen(xf_proto) <= AOIDC_FORWARDED_MAX ? last_value(p, xf_proto) : NULL;
    const char *xh = xf_host && strlen(xf_host) <= AOIDC_FORWARDED_MAX ? last_value(p, xf_host) : NULL;
    out->proto = proto_ok(fp ? fp : xp);
    const char *h = fh ? fh : xh;
    out->host = aoidc_forwarded_host_ok(h) ? h : NULL;
}
