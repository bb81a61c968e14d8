/* Which client a console request comes from: the TCP peer, or, when the peer
 * is one of the configured trusted_proxies, the right-most address in
 * X-Forwarded-For that is not a trusted proxy (each proxy appends the address
 * it received the request from, so everything left of that is whatever the
 * client chose to send). The failed-login limit and the audit log key on it.
 *
 * Addresses are compared and returned in one canonical form (inet_ntop, an
 * IPv4-mapped IPv6 address as IPv4), so that "::ffff:1.2.3.4", "1.2.3.4" and
 * "[1.2.3.4]"-style spellings cannot count as different clients. */
#include "web.h"

#include <apr_strings.h>
#include <arpa/inet.h>
#include <string.h>

#define ADDR_TEXT_MAX 64 /* longer than any IPv6 literal with brackets */

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

int ocon_addr_parse(const char *s, apr_size_t len, ocon_addr_t *out)
{
    char buf[ADDR_TEXT_MAX];
    while (len && is_space(*s)) {
        s++;
        len--;
    }
    while (len && is_space(s[len - 1])) {
        len--;
    }
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len)) {
        return 0;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->a) == 1) {
        out->family = AF_INET;
        return 1;
    }
    if (inet_pton(AF_INET6, buf, out->a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        out->family = AF_INET6;
        if (!memcmp(out->a, mapped, sizeof(mapped))) {
            memmove(out->a, out->a + 12, 4);
            memset(out->a + 4, 0, 12);
            out->family = AF_INET;
        }
        return 1;
    }
    return 0;
}

const char *ocon_addr_text(apr_pool_t *p, const ocon_addr_t *a)
{
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(a->family, a->a, buf, sizeof(buf))) {
        return "-";
    }
    return apr_pstrdup(p, buf);
}

const char *ocon_proxies_parse(apr_pool_t *p, const char *list, apr_array_header_t **out)
{
    *out = apr_array_make(p, 4, sizeof(ocon_addr_t));
    if (!list) {
        return NULL;
    }
    const char *s = list;
    while (*s) {
        while (is_space(*s) || *s == ',') {
            s++;
        }
        const char *e = s;
        while (*e && !is_space(*e) && *e != ',') {
            e++;
        }
        if (e == s) {
            break;
        }
        ocon_addr_t a;
        if (!ocon_addr_parse(s, (apr_size_t)(e - s), &a)) {
            return apr_psprintf(p, "'%.*s' is not an IP address", (int)(e - s > 64 ? 64 : e - s), s);
        }
        if ((*out)->nelts >= OCON_PROXIES_MAX) {
            return apr_psprintf(p, "more than %d addresses", OCON_PROXIES_MAX);
        }
        APR_ARRAY_PUSH(*out, ocon_addr_t) = a;
        s = e;
    }
    return NULL;
}

static int trusted(const apr_array_header_t *proxies, const ocon_addr_t *a)
{
    for (int i = 0; proxies && i < proxies->nelts; i++) {
        const ocon_addr_t *t = &APR_ARRAY_IDX(proxies, i, ocon_addr_t);
        if (t->family == a->family && !memcmp(t->a, a->a, sizeof(t->a))) {
            return 1;
        }
    }
    return 0;
}

const char *ocon_client_addr(apr_pool_t *p, const char *peer, const char *xff, const apr_array_header_t *proxies)
{
    ocon_addr_t a;
    if (!peer || !ocon_addr_parse(peer, strlen(peer), &a)) {
        return "-";
    }
    const char *client = ocon_addr_text(p, &a);
    if (!xff || !trusted(proxies, &a)) {
        return client; /* the header counts only when a trusted proxy set it */
    }
    /* Walk right to left; `client` is always the nearest hop known so far.
     * An entry that is not an address ends the walk at that hop. */
    const char *end = xff + strlen(xff);
    for (int hops = 0; hops < OCON_XFF_HOPS_MAX; hops++) {
        const char *start = end;
        while (start > xff && start[-1] != ',') {
            start--;
        }
        if (!ocon_addr_parse(start, (apr_size_t)(end - start), &a)) {
            return client;
        }
        client = ocon_addr_text(p, &a);
        if (!trusted(proxies, &a) || start == xff) {
            return client; /* the first untrusted one, or every hop was a proxy */
        }
        end = start - 1; /* before the comma */
    }
    return client;
}
