/* Sessions as JSON (for --json and the API) and as text. Tokens are never
 * printed: only whether the session holds them. */
#include "console.h"

#include <apr_strings.h>
#include <apr_time.h>
#include <stdlib.h>
#include <string.h>

const char *ocon_time_iso(apr_pool_t *p, apr_int64_t t)
{
    apr_time_exp_t tm;
    if (t <= 0 || apr_time_exp_gmt(&tm, apr_time_from_sec(t)) != APR_SUCCESS) {
        return "-";
    }
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                        tm.tm_hour, tm.tm_min, tm.tm_sec);
}

const char *ocon_age_text(apr_pool_t *p, apr_int64_t t, apr_int64_t now)
{
    static const struct {
        apr_int64_t secs;
        const char *unit;
    } units[] = {{86400, "d"}, {3600, "h"}, {60, "min"}, {1, "s"}};
    if (t <= 0) {
        return "never";
    }
    apr_int64_t d = now - t, a = d < 0 ? -d : d;
    if (a < 5) {
        return "just now";
    }
    for (apr_size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (a >= units[i].secs) {
            apr_int64_t n = a / units[i].secs;
            return d < 0 ? apr_psprintf(p, "in %" APR_INT64_T_FMT " %s", n, units[i].unit)
                         : apr_psprintf(p, "%" APR_INT64_T_FMT " %s ago", n, units[i].unit);
        }
    }
    return "just now";
}

const char *ocon_term_safe(apr_pool_t *p, const char *s)
{
    if (!s) {
        return "-";
    }
    apr_size_t n = strlen(s);
    char *out = apr_palloc(p, n * 6 + 1), *o = out; /* \uNNNN is the longest, for at most 3 bytes in */
    const unsigned char *u = (const unsigned char *)s;
    for (apr_size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        if (c < 0x20 || c == 0x7f) {
            o += snprintf(o, 5, "\\x%02x", c);
        }
        else if (c == '\\') {
            *o++ = '\\';
            *o++ = '\\';
        }
        else if (c == 0xc2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f) {
            o += snprintf(o, 7, "\\u%04x", u[i + 1]); /* C1 control */
            i++;
        }
        else if (c == 0xe2 && i + 2 < n && ((u[i + 1] == 0x80 && u[i + 2] >= 0xaa && u[i + 2] <= 0xae) ||
                                            (u[i + 1] == 0x81 && u[i + 2] >= 0xa6 && u[i + 2] <= 0xa9))) {
            /* U+202A..U+202E, U+2066..U+2069: text that reorders what follows it */
            o += snprintf(o, 7, "\\u%04x", 0x2000 | ((u[i + 1] & 0x3f) << 6) | (u[i + 2] & 0x3f));
            i += 2;
        }
        else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

/* json_string refuses invalid UTF-8: fall back to a lossy copy rather than
 * dropping the member silently. */
static json_t *jstr(const char *s)
{
    json_t *j;
    if (!s || !*s) {
        return json_null();
    }
    j = json_string(s);
    if (!j) {
        char *c = strdup(s);
        for (char *q = c; *q; q++) {
            if ((unsigned char)*q >= 0x80) {
                *q = '?';
            }
        }
        j = json_string(c);
        free(c);
    }
    return j ? j : json_null();
}

json_t *ocon_session_json(const ocon_session_t *o, int detail)
{
    const aoidc_session_t *s = &o->s;
    json_t *j = json_object();
    json_object_set_new(j, "handle", json_string(o->handle));
    json_object_set_new(j, "provider", jstr(s->provider));
    json_object_set_new(j, "sub", jstr(s->sub));
    json_object_set_new(j, "user", jstr(s->user));
    json_object_set_new(j, "email", jstr(o->email));
    json_object_set_new(j, "name", jstr(o->name));
    json_object_set_new(j, "sid", jstr(s->sid));
    json_object_set_new(j, "node", jstr(s->node));
    json_object_set_new(j, "client_ip", jstr(s->client_ip));
    json_object_set_new(j, "created", json_integer(s->created));
    json_object_set_new(j, "last_seen", json_integer(s->last_seen));
    json_object_set_new(j, "expires", json_integer(s->expires));
    if (detail) {
        json_object_set_new(j, "user_agent", jstr(s->user_agent));
        json_object_set_new(j, "access_token_expires", json_integer(s->access_token_exp));
        json_object_set_new(j, "has_access_token", json_boolean(s->access_token && *s->access_token));
        json_object_set_new(j, "has_refresh_token", json_boolean(s->refresh_token && *s->refresh_token));
        json_object_set_new(j, "has_id_token", json_boolean(s->id_token && *s->id_token));
        json_t *claims = json_object();
        for (int i = 0; i < s->nclaims; i++) {
            const char *n = s->claims[i].name;
            json_t *prev = json_object_get(claims, n), *v = jstr(s->claims[i].value);
            if (!n) {
                json_decref(v);
                continue;
            }
            if (!prev) {
                json_object_set_new(claims, n, v);
            }
            else if (json_is_array(prev)) {
                json_array_append_new(prev, v);
            }
            else {
                json_object_set_new(claims, n, json_pack("[O,o]", prev, v));
            }
        }
        json_object_set_new(j, "claims", claims);
    }
    (void)str_or_null;
    return j;
}

json_t *ocon_page_json(const ocon_page_t *pg)
{
    json_t *arr = json_array();
    for (int i = 0; i < pg->sessions->nelts; i++) {
        json_array_append_new(arr, ocon_session_json(&APR_ARRAY_IDX(pg->sessions, i, ocon_session_t), 0));
    }
    json_t *j = json_pack("{s:i, s:i, s:i, s:b, s:o}", "page", pg->page, "per_page", pg->per_page, "total",
                          pg->total, "more", pg->more, "sessions", arr);
    /* how it was answered: the search index, or a scan that may have stopped early */
    json_object_set_new(j, "search", json_string(pg->via_index ? "index" : "scan"));
    json_object_set_new(j, "partial", json_boolean(pg->partial));
    return j;
}

static const char *dash(const char *s)
{
    return s && *s ? s : "-";
}

void ocon_print_sessions_text(FILE *out, const ocon_page_t *pg)
{
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    fprintf(out, "%-43s  %-10s  %-16s  %-26s  %-10s  %s\n", "HANDLE", "PROVIDER", "SUB", "EMAIL", "NODE",
            "CREATED");
    for (int i = 0; i < pg->sessions->nelts; i++) {
        const ocon_session_t *o = &APR_ARRAY_IDX(pg->sessions, i, ocon_session_t);
        fprintf(out, "%-43s  %-10s  %-16s  %-26s  %-10s  %s\n", o->handle, dash(o->s.provider), dash(o->s.sub),
                dash(o->email), dash(o->s.node), ocon_time_iso(p, o->s.created));
    }
    fprintf(out, "-- page %d, %d shown, %d in the directory%s\n", pg->page, pg->sessions->nelts, pg->total,
            pg->more ? ", more with --page" : "");
    if (pg->partial) {
        fprintf(out, "-- partial: the search stopped after %d s or %d matches; refine it\n", OCON_SCAN_SECONDS,
                OCON_SCAN_HITS_MAX);
    }
    apr_pool_destroy(p);
}

void ocon_print_session_text(FILE *out, const ocon_session_t *o)
{
    apr_pool_t *p;
    const aoidc_session_t *s = &o->s;
    apr_pool_create(&p, NULL);
    fprintf(out, "handle:        %s\nprovider:      %s\nsub:           %s\nuser:          %s\n", o->handle,
            dash(s->provider), dash(s->sub), dash(s->user));
    fprintf(out, "email:         %s\nname:          %s\nsid:           %s\nnode:          %s\n", dash(o->email),
            dash(o->name), dash(s->sid), dash(s->node));
    fprintf(out, "client ip:     %s\nuser agent:    %s\n", dash(s->client_ip),
            dash(ocon_ua_summary(p, s->user_agent)));
    fprintf(out, "created:       %s\nlast seen:     %s\nexpires:       %s\n", ocon_time_iso(p, s->created),
            ocon_time_iso(p, s->last_seen), ocon_time_iso(p, s->expires));
    fprintf(out, "tokens:        id %s, access %s (until %s), refresh %s\n", s->id_token && *s->id_token ? "yes" : "no",
            s->access_token && *s->access_token ? "yes" : "no", ocon_time_iso(p, s->access_token_exp),
            s->refresh_token && *s->refresh_token ? "yes" : "no");
    for (int i = 0; i < s->nclaims; i++) {
        fprintf(out, "claim %-8s %s\n", dash(s->claims[i].name), dash(s->claims[i].value));
    }
    apr_pool_destroy(p);
}
