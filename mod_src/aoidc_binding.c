/* Client binding (aoidc_binding.h). */
#include "aoidc_binding.h"

#include <arpa/inet.h>
#include <string.h>

int aoidc_binding_same_net(const char *a, const char *b)
{
    unsigned char x[16], y[16];
    a = a ? a : "";
    b = b ? b : "";
    if (strlen(a) > 64 || strlen(b) > 64) {
        return 0;
    }
    if (inet_pton(AF_INET, a, x) == 1 && inet_pton(AF_INET, b, y) == 1) {
        return memcmp(x, y, 3) == 0;
    }
    if (inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1) {
        return memcmp(x, y, 8) == 0;
    }
    return strcmp(a, b) == 0;
}

aoidc_bind_verdict_t aoidc_binding_check(aoidc_bind_mode_t mode, const char *stored_ua, const char *stored_ip,
                                         const char *ua, const char *ip)
{
    if (mode == AOIDC_BIND_NONE) {
        return AOIDC_BIND_OK;
    }
    stored_ua = stored_ua ? stored_ua : "";
    ua = ua ? ua : "";
    apr_size_t n = strlen(ua);
    if (n > AOIDC_BINDING_UA_MAX) {
        n = AOIDC_BINDING_UA_MAX;
    }
    if (strlen(stored_ua) != n || memcmp(stored_ua, ua, n) != 0) {
        return AOIDC_BIND_UA_CHANGED;
    }
    if (mode == AOIDC_BIND_UA_IP && !aoidc_binding_same_net(stored_ip, ip)) {
        return AOIDC_BIND_IP_CHANGED;
    }
    return AOIDC_BIND_OK;
}
