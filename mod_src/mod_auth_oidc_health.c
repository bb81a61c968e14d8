/* Health: SetHandler auth-oidc-health, a status page for load balancers,
 * and the error-log lines of the store's server events.
 *
 * The handler:
 *
 * 200 when the session store answers and every provider of the server has
 * usable discovery metadata; 503 with the reason otherwise. The body is a
 * small JSON object; the details of a failure go to the error log. Put it
 * behind "Require ip" (see the README): it tells who can reach it which
 * providers the server uses. */
#include "mod_auth_oidc.h"

APLOG_USE_MODULE(auth_oidc);

#define HEALTH_HANDLER "auth-oidc-health"

/* JSON string body: provider names are ours (configuration), but escape
 * them anyway. */
static const char *json_str(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s);
    char *out = apr_palloc(p, n * 6 + 1), *o = out;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            *o++ = '\\';
            *o++ = (char)*c;
        }
        else if (*c < 0x20 || *c >= 0x7f) {
            o += apr_snprintf(o, 7, "\\u%04x", *c);
        }
        else {
            *o++ = (char)*c;
        }
    }
    *o = '\0';
    return out;
}

static int health_handler(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, HEALTH_HANDLER) != 0) {
        return DECLINED;
    }
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(r->server);
    const char *reason = NULL;
    const char *store = "\"none\"";
    if (!sc->store_servers) {
        reason = "no session store configured";
    }
    else if (!sc->store || !sc->store->probe) {
        reason = "session store not initialised";
    }
    else {
        int servers = 0, replicas = 0;
        int up = sc->store->probe(sc->store, r->pool, &servers, &replicas);
        /* every key has a live copy while no more than replicas servers are down */
        const char *state = up == 0 ? "down" : servers - up > replicas ? "partial" : up < servers ? "degraded" : "ok";
        store = apr_psprintf(r->pool, "{\"state\":\"%s\",\"servers\":%d,\"up\":%d,\"replicas\":%d}", state, servers,
                             up, replicas);
        if (up == 0) {
            reason = "session store down";
        }
        else if (up < servers) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOIDC_LOGNO(751)
                          "health: %d of %d memcached servers answer (replicas=%d)", up, servers, replicas);
        }
    }
    const char *providers = "";
    aoidc_http_opts_t ho = aoidc_http_opts(sc);
    for (int i = 0; sc->providers && i < sc->providers->nelts; i++) {
        aoidc_provider_t *pr = APR_ARRAY_IDX(sc->providers, i, aoidc_provider_t *);
        aoidc_provider_meta_t meta;
        const char *err = NULL;
        int ok = aoidc_provider_get_meta(pr, r->pool, &ho, &meta, &err) == APR_SUCCESS;
        if (!ok) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(752) "health: provider %s: %s", pr->name,
                          ap_escape_logitem(r->pool, err ? err : "?"));
            if (!reason) {
                reason = apr_pstrcat(r->pool, "provider ", pr->name, " metadata unavailable", NULL);
            }
        }
        providers = apr_psprintf(r->pool, "%s%s\"%s\":\"%s\"", providers, i ? "," : "", json_str(r->pool, pr->name),
                                 ok ? "ok" : "unavailable");
    }
    if (reason) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(753) "health: 503: %s", reason);
    }
    const char *body = apr_psprintf(r->pool, "{\"status\":\"%s\",%s%s%s\"store\":%s,\"providers\":{%s}}\n",
                                    reason ? "unavailable" : "ok", reason ? "\"reason\":\"" : "",
                                    reason ? json_str(r->pool, reason) : "", reason ? "\"," : "", store, providers);
    r->status = reason ? HTTP_SERVICE_UNAVAILABLE : HTTP_OK;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (reason) {
        apr_table_setn(r->headers_out, "Retry-After", "5");
    }
    ap_set_content_length(r, (apr_off_t)strlen(body));
    if (!r->header_only) {
        ap_rputs(body, r);
    }
    return OK;
}

/* aoidc_store_event_fn: a memcached server went away, came back, or
 * started empty; once per change and process */
void aoidc_store_log_event(void *baton, aoidc_store_event_t ev, const char *server, const char *detail)
{
    server_rec *s = baton;
    switch (ev) {
    case AOIDC_STORE_EV_DEGRADED:
        /* requests still succeed and log nothing: this line is the news */
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AOIDC_LOGNO(754)
                     "memcached server %s unusable (%s): the copies on the other servers serve; "
                     "trying it again every second", server, detail);
        break;
    case AOIDC_STORE_EV_DOWN:
        /* the requests that need it fail and log that themselves */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AOIDC_LOGNO(757)
                     "memcached server %s unusable (%s); trying it again every second", server, detail);
        break;
    case AOIDC_STORE_EV_UP:
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AOIDC_LOGNO(755) "memcached server %s answers again", server);
        break;
    case AOIDC_STORE_EV_EMPTY:
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AOIDC_LOGNO(756)
                     "memcached server %s started empty: reads copy what they find back to it, and this "
                     "process copies back what the other servers hold for it", server);
        break;
    case AOIDC_STORE_EV_RESYNCED:
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AOIDC_LOGNO(940) "memcached server %s resynced: %s", server,
                     detail);
        break;
    }
}

void aoidc_register_health(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(health_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
