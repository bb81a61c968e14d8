/* libcurl behind one file. An easy handle per call: provider calls happen
 * on logins and key refreshes, never on the request hot path. */
#include "aoidc_http.h"
#include "aoidc_util.h"

#include <apr_strings.h>
#include <curl/curl.h>
#include <string.h>

typedef struct {
    apr_pool_t *p;
    char *buf;
    apr_size_t len, cap;
    int too_big;
} sink_t;

apr_status_t aoidc_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? APR_SUCCESS : APR_EGENERAL;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    sink_t *s = userdata;
    size_t n = size * nmemb;
    if (s->len + n > AOIDC_HTTP_MAX_RESPONSE) {
        s->too_big = 1;
        return 0;
    }
    if (s->len + n + 1 > s->cap) {
        apr_size_t cap = s->cap ? s->cap * 2 : 4096;
        while (cap < s->len + n + 1) {
            cap *= 2;
        }
        char *nb = apr_palloc(s->p, cap);
        if (s->len) {
            memcpy(nb, s->buf, s->len);
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, ptr, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

static apr_status_t perform(apr_pool_t *p, const aoidc_http_opts_t *o, CURL *c, const char *url,
                            struct curl_slist *hdrs, aoidc_http_resp_t *resp, const char **err)
{
    sink_t s = {p, NULL, 0, 0, 0};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->ca_file) {
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    }
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(o->timeout_ms > 0 ? o->timeout_ms : 5000));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 2000));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mod_auth_oidc");
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    memset(resp, 0, sizeof(*resp));
    if (rc != CURLE_OK) {
        *err = s.too_big ? apr_psprintf(p, "response from %s larger than %d bytes", url, AOIDC_HTTP_MAX_RESPONSE)
                         : apr_psprintf(p, "request to %s failed: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        curl_easy_cleanup(c);
        return APR_EGENERAL;
    }
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    resp->content_type = ct ? apr_pstrdup(p, ct) : NULL;
    resp->body = s.buf ? s.buf : apr_pstrdup(p, "");
    resp->len = s.len;
    curl_easy_cleanup(c);
    return APR_SUCCESS;
}

apr_status_t aoidc_http_get(apr_pool_t *p, const aoidc_http_opts_t *o, const char *url, const char *bearer,
                            aoidc_http_resp_t *resp, const char **err)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    if (!c) {
        *err = "curl_easy_init failed";
        return APR_ENOMEM;
    }
    if (bearer) {
        hdrs = curl_slist_append(hdrs, apr_pstrcat(p, "Authorization: Bearer ", bearer, NULL));
    }
    return perform(p, o, c, url, hdrs, resp, err);
}

apr_status_t aoidc_http_post_form(apr_pool_t *p, const aoidc_http_opts_t *o, const char *url, const char *form,
                                  const char *basic_user, const char *basic_pass, aoidc_http_resp_t *resp,
                                  const char **err)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    if (!c) {
        *err = "curl_easy_init failed";
        return APR_ENOMEM;
    }
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
    hdrs = curl_slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded");
    if (basic_user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, aoidc_url_encode(p, basic_user));
        curl_easy_setopt(c, CURLOPT_PASSWORD, aoidc_url_encode(p, basic_pass ? basic_pass : ""));
    }
    return perform(p, o, c, url, hdrs, resp, err);
}
