/* AuthOIDCBackChannelLogoutURI: the provider ends sessions
 * (OpenID Connect Back-Channel Logout 1.0). */
#include "mod_auth_oidc.h"
#include "aoidc_directory.h"
#include "aoidc_request.h"
#include "aoidc_util.h"

#include <apr_time.h>

APLOG_USE_MODULE(auth_oidc);

#define BCL_BODY_MAX AOIDC_BCL_BODY_MAX
#define BCL_EVENT "http://schemas.openid.net/event/backchannel-logout"
#define BCL_MAX_AGE 600   /* seconds a logout token's iat may lie in the past */
#define BCL_CLAIM_MAX 1024

/* 200 with an empty body, or 400 with {"error":"invalid_request"}: the
 * answer the OP reads. Never cached. Never a 500 for what a client sent. */
static int bcl_answer(request_rec *r, int ok)
{
    aoidc_own_page_headers(r->headers_out);
    apr_table_setn(r->headers_out, "Pragma", "no-cache");
    if (ok) {
        r->status = HTTP_OK;
        ap_set_content_length(r, 0);
        return OK;
    }
    static const char body[] = "{\"error\":\"invalid_request\"}";
    r->status = HTTP_BAD_REQUEST;
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, sizeof(body) - 1);
    ap_rwrite(body, (int)(sizeof(body) - 1), r);
    return OK;
}

/* The request body, at most BCL_BODY_MAX bytes (*len of them, not
 * NUL-terminated for the parser): 1 read, 0 too large or broken. */
static int bcl_read_body(request_rec *r, const char **out, apr_size_t *len)
{
    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK) {
        return 0;
    }
    char *buf = apr_palloc(r->pool, BCL_BODY_MAX + 2);
    apr_size_t total = 0;
    if (ap_should_client_block(r)) {
        if (r->remaining > BCL_BODY_MAX) {
            return 0;
        }
        long n;
        while ((n = ap_get_client_block(r, buf + total, BCL_BODY_MAX + 1 - total)) > 0) {
            total += (apr_size_t)n;
            if (total > BCL_BODY_MAX) {
                return 0;
            }
        }
        if (n < 0) {
            return 0;
        }
    }
    *out = buf;
    *len = total;
    return 1;
}

/* A claim that must be a non-empty string of sane length when present:
 * 1 present (value in *v), 0 absent, -1 present but not acceptable. */
static int bcl_string_claim(json_t *claims, const char *name, const char **v)
{
    json_t *j = json_object_get(claims, name);
    *v = NULL;
    if (!j || json_is_null(j)) {
        return 0; /* some OPs write "sid": null for an absent sid */
    }
    if (!json_is_string(j) || json_string_length(j) == 0 || json_string_length(j) > BCL_CLAIM_MAX ||
        strlen(json_string_value(j)) != json_string_length(j)) {
        return -1;
    }
    *v = json_string_value(j);
    return 1;
}

typedef struct {
    aoidc_provider_t *pr;
    const char *sub, *sid, *jti;
    apr_int64_t exp;
} bcl_token_t;

/* Validate a logout token; NULL when valid, else the reason (for the log). */
static const char *bcl_validate(request_rec *r, aoidc_srv_cfg_t *sc, const char *token, bcl_token_t *out,
                                int *unavailable)
{
    aoidc_jwt_t *jwt;
    const char *err = NULL;
    aoidc_jose_result_t jr = aoidc_jwt_parse(r->pool, token, &jwt, &err);
    if (jr != AOIDC_JOSE_OK) {
        return apr_pstrcat(r->pool, "malformed: ", aoidc_jose_result_str(jr), NULL);
    }
    json_t *c = jwt->claims;
    const char *iss;
    if (bcl_string_claim(c, "iss", &iss) != 1) {
        return "no iss";
    }
    /* the issuer only chooses whose keys to try: nothing is believed yet */
    out->pr = aoidc_provider_for_issuer(sc->providers, iss, NULL);
    if (!out->pr) {
        return "iss is not a configured provider";
    }
    aoidc_http_opts_t ho = aoidc_http_opts(sc);
    jr = aoidc_provider_verify_ex(out->pr, r->pool, &ho, jwt, &err, unavailable);
    if (jr != AOIDC_JOSE_OK) {
        return apr_pstrcat(r->pool, "signature: ", aoidc_jose_result_str(jr), NULL);
    }
    if (jwt->typ && strcasecmp(jwt->typ, "logout+jwt") != 0 && strcasecmp(jwt->typ, "application/logout+jwt") != 0 &&
        strcasecmp(jwt->typ, "JWT") != 0) {
        return "typ is not logout+jwt";
    }
    if (!aoidc_aud_contains(json_object_get(c, "aud"), out->pr->client_id)) {
        return "aud does not name this client";
    }
    apr_int64_t now = apr_time_sec(apr_time_now()), skew = sc->clock_skew;
    json_t *iat = json_object_get(c, "iat");
    if (!json_is_number(iat) || json_number_value(iat) - (double)skew > (double)now ||
        json_number_value(iat) < (double)(now - BCL_MAX_AGE - skew)) {
        return "iat missing, in the future or too old";
    }
    /* required (Back-Channel Logout 1.0 section 2.4): a token without one
     * would be valid for ever wherever its jti has been forgotten */
    json_t *exp = json_object_get(c, "exp");
    if (!exp || !json_is_number(exp)) {
        return "exp missing";
    }
    if (json_number_value(exp) + (double)skew <= (double)now) {
        return "expired";
    }
    out->exp = (apr_int64_t)json_number_value(exp);
    json_t *events = json_object_get(c, "events");
    if (!json_is_object(events) || !json_is_object(json_object_get(events, BCL_EVENT))) {
        return "events lacks the back-channel logout event";
    }
    if (json_object_get(c, "nonce")) {
        return "a nonce is present (an ID token?)";
    }
    int nsub = bcl_string_claim(c, "sub", &out->sub), nsid = bcl_string_claim(c, "sid", &out->sid);
    if (nsub < 0 || nsid < 0 || (nsub == 0 && nsid == 0)) {
        return "neither a usable sid nor sub";
    }
    if (bcl_string_claim(c, "jti", &out->jti) != 1) {
        return "no jti";
    }
    return NULL;
}

int aoidc_handle_backchannel(request_rec *r, aoidc_srv_cfg_t *sc)
{
    const char *body = NULL, *token = NULL, *why;
    apr_size_t blen = 0;
    const char *ctype = apr_table_get(r->headers_in, "Content-Type");
    if (r->method_number != M_POST) {
        ap_discard_request_body(r);
        why = "not a POST";
    }
    else if (!aoidc_form_content_type_ok(ctype)) {
        ap_discard_request_body(r);
        why = "not a form";
    }
    else if (!bcl_read_body(r, &body, &blen)) {
        why = "body too large or unreadable";
    }
    else if (!aoidc_backchannel_token(r->pool, body, blen, &token)) {
        why = "no single logout_token";
    }
    else {
        why = NULL;
    }
    bcl_token_t t = {0};
    int unavailable = 0;
    if (!why) {
        why = bcl_validate(r, sc, token, &t, &unavailable);
    }
    if (why && unavailable) {
        /* the provider's keys cannot be had now: let it retry later */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(669) "back-channel logout deferred: %s", why);
        return aoidc_respond(r, AOIDC_R_PROVIDER_DOWN);
    }
    if (why) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(450) "back-channel logout refused: %s", why);
        return bcl_answer(r, 0);
    }
    if (!sc->store) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(451) "back-channel logout: no session store");
        return bcl_answer(r, 0);
    }
    /* a jti is accepted once: remembered for as long as the token could pass */
    apr_int64_t now = apr_time_sec(apr_time_now());
    apr_int64_t ttl = BCL_MAX_AGE + 2 * (apr_int64_t)sc->clock_skew;
    if (t.exp && t.exp - now + sc->clock_skew > ttl) {
        ttl = t.exp - now + sc->clock_skew;
    }
    ttl = ttl > 86400 ? 86400 : ttl;
    const char *jkey = aoidc_dir_jti_key(r->pool, t.pr->issuer, t.jti);
    aoidc_store_rc_t rc = sc->store->add(sc->store, jkey, "1", 1, (long)ttl);
    if (rc == AOIDC_STORE_EXISTS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(452)
                      "back-channel logout refused: jti already used (replay)");
        return bcl_answer(r, 0);
    }
    if (rc != AOIDC_STORE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(453) "back-channel logout: session store %s",
                      aoidc_store_rc_str(rc));
        return bcl_answer(r, 0);
    }
    int count = 0;
    apr_status_t rv = t.sid ? aoidc_dir_revoke_sid(sc->store, sc->keys, r->pool, t.pr->name, t.sid, t.sub, now, &count)
                            : aoidc_dir_revoke_user(sc->store, sc->keys, r->pool, t.pr->name, t.sub, now, &count);
    if (rv != APR_SUCCESS) {
        /* let the OP's retry through: forget the jti */
        sc->store->del(sc->store, jkey);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, AOIDC_LOGNO(454)
                      "back-channel logout from %s: sessions could not be ended (store)", t.pr->name);
        return bcl_answer(r, 0);
    }
    aoidc_metric_add(AOIDC_M_BACKCHANNEL_LOGOUT, (uint64_t)count);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(455)
                  "back-channel logout from %s (%s '%.128s'): %d session(s) ended", t.pr->name,
                  t.sid ? "sid of" : "all sessions of", t.sub ? ap_escape_logitem(r->pool, t.sub) : "-", count);
    return bcl_answer(r, 1);
}
