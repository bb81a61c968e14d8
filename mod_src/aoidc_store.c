/* Store helpers shared by every backend. */
#include "aoidc_store.h"

const char *aoidc_store_rc_str(aoidc_store_rc_t rc)
{
    switch (rc) {
    case AOIDC_STORE_OK:
        return "ok";
    case AOIDC_STORE_MISSING:
        return "missing";
    case AOIDC_STORE_EXISTS:
        return "exists";
    case AOIDC_STORE_DOWN:
        return "down";
    case AOIDC_STORE_ERROR:
        break;
    }
    return "error";
}
