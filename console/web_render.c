/* HTML pages of the web console. Every value that came from a session, a
 * snapshot or the request goes through ocon_html_text / ocon_html_escape.
 * No script at all: the pages are plain forms, so the CSP can forbid scripts. */
#include "web.h"

#include "aoidc_util.h"

#include <apr_strings.h>
#include <stddef.h>
#include <string.h>

const char ocon_css[] =
    "body{font-family:system-ui,sans-serif;margin:0;color:#222}"
    "header{background:#234;color:#fff;padding:.5em 1em;display:flex;gap:1.5em;align-items:center}"
    "header a{color:#fff}header form{margin-left:auto}main{padding:1em}"
    "table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;"
    "font-size:90%;vertical-align:top}th{background:#eee}"
    "tr.differs td{background:#fee}td.differs{background:#fcc;font-weight:bold}.flag{color:#b00;font-weight:bold}"
    ".msg{background:#efe;border:1px solid #9c9;padding:.5em}.err{background:#fee;border:1px solid #c99;"
    "padding:.5em}code{font-size:85%}form.inline{display:inline}"
    "fieldset{border:1px solid #ccc;margin-bottom:1em}label{margin-right:1em}";

int ocon_handle_ok(const char *s)
{
    return s && aoidc_session_id_ok(s); /* a handle is 43 base64url characters, like an id */
}

const char *ocon_html_escape(apr_pool_t *p, const char *s)
{
    if (!s) {
        return "";
    }
    apr_size_t n = 0;
    for (const char *c = s; *c; c++) {
        n += (*c == '&' || *c == '<' || *c == '>' || *c == '"' || *c == '\'') ? 6 : 1;
    }
    char *out = apr_palloc(p, n + 1), *o = out;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '&':
            memcpy(o, "&amp;", 5);
            o += 5;
            break;
        case '<':
            memcpy(o, "&lt;", 4);
            o += 4;
            break;
        case '>':
            memcpy(o, "&gt;", 4);
            o += 4;
            break;
        case '"':
            memcpy(o, "&quot;", 6);
            o += 6;
            break;
        case '\'':
            memcpy(o, "&#39;", 5);
            o += 5;
            break;
        default:
            if ((*c < 0x20 && *c != '\t' && *c != '\n') || *c == 0x7f) {
                break;
            }
            *o++ = (char)*c;
        }
    }
    *o = '\0';
    return out;
}

ocon_html_t *ocon_html_new(apr_pool_t *p)
{
    ocon_html_t *h = apr_palloc(p, sizeof(*h));
    h->p = p;
    h->parts = apr_array_make(p, 64, sizeof(const char *));
    return h;
}

void ocon_html_raw(ocon_html_t *h, const char *s)
{
    APR_ARRAY_PUSH(h->parts, const char *) = s ? s : "";
}

void ocon_html_text(ocon_html_t *h, const char *s)
{
    APR_ARRAY_PUSH(h->parts, const char *) = ocon_html_escape(h->p, s);
}

const char *ocon_html_done(ocon_html_t *h, apr_size_t *len)
{
    const char *s = apr_array_pstrcat(h->p, h->parts, 0);
    *len = strlen(s);
    return s;
}

#define RAW(x) ocon_html_raw(h, (x))
#define TXT(x) ocon_html_text(h, (x))

static const char *dash(const char *s)
{
    return s && *s ? s : "-";
}

static void head(ocon_html_t *h, const ocon_page_ctx_t *pc, const char *title)
{
    RAW("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    TXT(title);
    RAW(" - oidc-console</title><link rel=\"stylesheet\" href=\"/static/console.css\"></head><body><header>"
        "<strong>oidc-console</strong>");
    if (pc && pc->admin) {
        RAW("<a href=\"/sessions\">Sessions</a><a href=\"/providers\">Providers</a><a href=\"/nodes\">Nodes</a>"
            "<form method=\"post\" action=\"/logout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"");
        TXT(pc->csrf);
        RAW("\"><span>");
        TXT(pc->admin);
        RAW("</span> <button type=\"submit\" id=\"logout\">Log out</button></form>");
    }
    RAW("</header><main><h1>");
    TXT(title);
    RAW("</h1>");
    if (pc && pc->message) {
        RAW("<p class=\"msg\" id=\"message\">");
        TXT(pc->message);
        RAW("</p>");
    }
    if (pc && pc->error) {
        RAW("<p class=\"err\" id=\"error\">");
        TXT(pc->error);
        RAW("</p>");
    }
}

static const char *foot(ocon_html_t *h, apr_size_t *len)
{
    RAW("</main></body></html>\n");
    return ocon_html_done(h, len);
}

const char *ocon_render_error(apr_pool_t *p, int status, const char *msg, apr_size_t *len)
{
    ocon_html_t *h = ocon_html_new(p);
    head(h, NULL, apr_psprintf(p, "Error %d", status));
    RAW("<p>");
    TXT(msg);
    RAW("</p><p><a href=\"/sessions\">Back</a></p>");
    return foot(h, len);
}

const char *ocon_render_login(apr_pool_t *p, const char *error, apr_size_t *len)
{
    ocon_html_t *h = ocon_html_new(p);
    ocon_page_ctx_t pc = {NULL, NULL, NULL, error};
    head(h, &pc, "Log in");
    RAW("<form id=\"login\" method=\"post\" action=\"/login\">"
        "<p><label>User <input name=\"user\" id=\"user\" autocomplete=\"username\" maxlength=\"64\" required>"
        "</label></p><p><label>Password <input type=\"password\" name=\"password\" id=\"password\" "
        "autocomplete=\"current-password\" maxlength=\"256\" required></label></p>"
        "<p><button type=\"submit\" id=\"login-submit\">Log in</button></p></form>");
    return foot(h, len);
}

static const char *q(apr_pool_t *p, const char *name, const char *v)
{
    return v ? apr_pstrcat(p, "&", name, "=", aoidc_url_encode(p, v), NULL) : "";
}

static void hidden(ocon_html_t *h, const char *name, const char *value)
{
    RAW("<input type=\"hidden\" name=\"");
    TXT(name);
    RAW("\" value=\"");
    TXT(value);
    RAW("\">");
}

static void session_rows(ocon_html_t *h, const ocon_page_ctx_t *pc, const ocon_page_t *pg, int user_button)
{
    apr_pool_t *p = h->p;
    RAW("<table id=\"sessions\"><thead><tr><th>Handle</th><th>User</th><th>Sub</th><th>Email</th><th>Name</th>"
        "<th>Provider</th><th>Node</th><th>Client</th><th>Created</th><th>Expires</th><th>Actions</th></tr>"
        "</thead><tbody>");
    for (int i = 0; i < pg->sessions->nelts; i++) {
        const ocon_session_t *o = &APR_ARRAY_IDX(pg->sessions, i, ocon_session_t);
        const char *user_url = apr_pstrcat(p, "/user?provider=", aoidc_url_encode(p, dash(o->s.provider)),
                                           "&sub=", aoidc_url_encode(p, dash(o->s.sub)), NULL);
        RAW("<tr data-handle=\"");
        TXT(o->handle);
        RAW("\"><td><a href=\"/sessions/");
        TXT(o->handle);
        RAW("\"><code>");
        TXT(apr_pstrndup(p, o->handle, 12));
        RAW("&hellip;</code></a></td><td class=\"user\">");
        TXT(dash(o->s.user));
        RAW("</td><td><a href=\"");
        TXT(user_url);
        RAW("\">");
        TXT(dash(o->s.sub));
        RAW("</a></td><td>");
        TXT(dash(o->email));
        RAW("</td><td>");
        TXT(dash(o->name));
        RAW("</td><td>");
        TXT(dash(o->s.provider));
        RAW("</td><td>");
        TXT(dash(o->s.node));
        RAW("</td><td>");
        TXT(dash(o->s.client_ip));
        RAW("</td><td>");
        TXT(ocon_time_iso(p, o->s.created));
        RAW("</td><td>");
        TXT(ocon_time_iso(p, o->s.expires));
        RAW("</td><td><form method=\"post\" class=\"inline revoke\" action=\"/sessions/");
        TXT(o->handle);
        RAW("/revoke\">");
        hidden(h, "csrf", pc->csrf);
        RAW("<button type=\"submit\" class=\"revoke\">Revoke</button></form>");
        if (user_button) {
            RAW(" <form method=\"post\" class=\"inline revoke-user\" action=\"/users/revoke\">");
            hidden(h, "csrf", pc->csrf);
            hidden(h, "provider", dash(o->s.provider));
            hidden(h, "sub", dash(o->s.sub));
            RAW("<button type=\"submit\" class=\"revoke-user\">Revoke all of user</button></form>");
        }
        RAW("</td></tr>");
    }
    RAW("</tbody></table>");
}

const char *ocon_render_sessions(apr_pool_t *p, const ocon_page_ctx_t *pc, const ocon_filter_t *f,
                                 const ocon_page_t *pg, apr_size_t *len)
{
    ocon_html_t *h = ocon_html_new(p);
    static const struct {
        const char *label, *name;
        apr_size_t off;
    } fields[] = {
        {"Search", "q", offsetof(ocon_filter_t, q)},       {"Sub", "user", offsetof(ocon_filter_t, sub)},
        {"Email", "email", offsetof(ocon_filter_t, email)}, {"Name", "name", offsetof(ocon_filter_t, name)},
        {"Provider", "provider", offsetof(ocon_filter_t, provider)}, {"SID", "sid", offsetof(ocon_filter_t, sid)},
    };
    head(h, pc, "Sessions");
    RAW("<form method=\"get\" action=\"/sessions\" id=\"filter\"><fieldset><legend>Filter</legend>");
    const char *qs = "";
    for (apr_size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *v = *(const char *const *)((const char *)f + fields[i].off);
        qs = apr_pstrcat(p, qs, q(p, fields[i].name, v), NULL);
        RAW("<label>");
        TXT(fields[i].label);
        RAW(" <input name=\"");
        RAW(fields[i].name);
        RAW("\" value=\"");
        TXT(v ? v : "");
        RAW("\" maxlength=\"256\"></label>");
    }
    RAW("<button type=\"submit\">Apply</button> <a href=\"/sessions\">Clear</a></fieldset></form>");
    RAW(apr_psprintf(p, "<p id=\"summary\">Page %d: %d session(s) shown, %d in the directory.</p>", pg->page,
                     pg->sessions->nelts, pg->total));
    session_rows(h, pc, pg, 1);
    RAW("<p class=\"pages\">");
    if (pg->page > 1) {
        RAW("<a rel=\"prev\" href=\"/sessions?page=");
        TXT(apr_psprintf(p, "%d%s", pg->page - 1, qs));
        RAW("\">Previous</a> ");
    }
    if (pg->more) {
        RAW("<a rel=\"next\" href=\"/sessions?page=");
        TXT(apr_psprintf(p, "%d%s", pg->page + 1, qs));
        RAW("\">Next</a>");
    }
    RAW("</p>");
    return foot(h, len);
}

const char *ocon_render_user(apr_pool_t *p, const ocon_page_ctx_t *pc, const char *provider, const char *sub,
                             const ocon_page_t *pg, apr_size_t *len)
{
    ocon_html_t *h = ocon_html_new(p);
    head(h, pc, apr_pstrcat(p, "User ", sub, " at ", provider, NULL));
    RAW(apr_psprintf(p, "<p id=\"summary\">%d live session(s).</p>", pg->sessions->nelts));
    RAW("<form method=\"post\" action=\"/users/revoke\" id=\"revoke-user\">");
    hidden(h, "csrf", pc->csrf);
    hidden(h, "provider", provider);
    hidden(h, "sub", sub);
    RAW("<button type=\"submit\">Revoke all sessions of this user</button></form>");
    session_rows(h, pc, pg, 0);
    return foot(h, len);
}

const char *ocon_render_session(apr_pool_t *p, const ocon_page_ctx_t *pc, const ocon_session_t *o, apr_size_t *len)
{
    ocon_html_t *h = ocon_html_new(p);
    const aoidc_session_t *s = &o->s;
    head(h, pc, "Session");
    RAW("<table id=\"session\"><tbody>");
    const char *rows[][2] = {
        {"Handle", o->handle},
        {"Provider", dash(s->provider)},
        {"Sub", dash(s->sub)},
        {"User", dash(s->user)},
        {"Email", dash(o->email)},
        {"Name", dash(o->name)},
        {"Provider session (sid)", dash(s->sid)},
        {"Node", dash(s->node)},
        {"Client IP", dash(s->client_ip)},
        {"User agent", dash(ocon_ua_summary(p, s->user_agent))},
        {"Created", ocon_time_iso(p, s->created)},
        {"Last seen", ocon_time_iso(p, s->last_seen)},
        {"Expires", ocon_time_iso(p, s->expires)},
        {"Refresh token", s->refresh_token && *s->refresh_token ? "yes" : "no"},
    };
    for (apr_size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        RAW("<tr><th>");
        TXT(rows[i][0]);
        RAW("</th><td>");
        TXT(rows[i][1]);
        RAW("</td></tr>");
    }
    for (int i = 0; i < s->nclaims; i++) {
        RAW("<tr><th>claim ");
        TXT(s->claims[i].name);
        RAW("</th><td>");
        TXT(s->claims[i].value);
        RAW("</td></tr>");
    }
    RAW("</tbody></table><form method=\"post\" action=\"/sessions/");
    TXT(o->handle);
    RAW("/revoke\">");
    hidden(h, "csrf", pc->csrf);
    RAW("<button type=\"submit\" class=\"revoke\">Revoke</button></form>");
    return foot(h, len);
}

static const char *jstr(json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* One table: rows = the union of paths, a column per node, differing rows flagged. */
static void flat_table(ocon_html_t *h, const char *id, json_t *columns /* {node: flat} */, json_t *differing)
{
    json_t *paths = json_object(), *flat, *v;
    const char *node, *path;
    size_t i;
    json_object_foreach(columns, node, flat)
    {
        json_object_foreach(flat, path, v)
        {
            json_object_set(paths, path, json_true());
        }
    }
    RAW("<table id=\"");
    TXT(id);
    RAW("\"><thead><tr><th>Setting</th>");
    json_object_foreach(columns, node, flat)
    {
        RAW("<th>");
        TXT(node);
        RAW("</th>");
    }
    RAW("</tr></thead><tbody>");
    /* differing rows first */
    for (int pass = 0; pass < 2; pass++) {
        json_object_foreach(paths, path, v)
        {
            int differs = 0;
            json_t *d;
            json_array_foreach(differing, i, d)
            {
                if (!strcmp(json_string_value(d), path)) {
                    differs = 1;
                }
            }
            if (differs != (pass == 0)) {
                continue;
            }
            RAW(differs ? "<tr class=\"differs\"><th><span class=\"flag\" title=\"differs between nodes\">&ne;</span> "
                        : "<tr><th>");
            TXT(path);
            RAW("</th>");
            json_object_foreach(columns, node, flat)
            {
                json_t *cell = json_object_get(flat, path);
                RAW(differs ? "<td class=\"differs\">" : "<td>");
                TXT(cell ? json_string_value(cell) : "(absent)");
                RAW("</td>");
            }
            RAW("</tr>");
        }
    }
    RAW("</tbody></table>");
    json_decref(paths);
}

const char *ocon_render_providers(apr_pool_t *p, const ocon_page_ctx_t *pc, json_t *providers, apr_size_t *len)
{
    ocon_html_t *h = ocon_html_new(p);
    json_t *pv;
    size_t i;
    head(h, pc, "Providers");
    if (json_array_size(json_object_get(providers, "providers")) == 0) {
        RAW("<p>No provider is known: no node has published a snapshot, and the console config names none.</p>");
    }
    json_array_foreach(json_object_get(providers, "providers"), i, pv)
    {
        const char *name = jstr(json_object_get(pv, "name"));
        json_t *diff = json_object_get(pv, "differing"), *miss = json_object_get(pv, "missing_on"), *m;
        size_t k;
        RAW("<section class=\"provider\"><h2>");
        TXT(name);
        RAW("</h2><p>");
        TXT(apr_psprintf(p, "%" APR_INT64_T_FMT " live session(s), configured on %" APR_SIZE_T_FMT " node(s).",
                         (apr_int64_t)json_integer_value(json_object_get(pv, "sessions")),
                         (apr_size_t)json_object_size(json_object_get(pv, "nodes"))));
        if (json_array_size(diff) || json_array_size(miss)) {
            RAW(" <span class=\"flag differs-flag\">Configuration differs between nodes.</span>");
        }
        RAW(" <a href=\"/sessions?provider=");
        TXT(aoidc_url_encode(p, name));
        RAW("\">Sessions</a></p>");
        json_array_foreach(miss, k, m)
        {
            RAW("<p class=\"flag\">Not configured on node ");
            TXT(jstr(m));
            RAW("</p>");
        }
        json_t *cols = json_object(), *cfg;
        const char *node;
        json_object_foreach(json_object_get(pv, "nodes"), node, cfg)
        {
            json_object_set_new(cols, node, ocon_flatten(cfg));
        }
        flat_table(h, apr_pstrcat(p, "provider-", name, NULL), cols, diff);
        json_decref(cols);
        RAW("</section>");
    }
    return foot(h, len);
}

const char *ocon_render_nodes(apr_pool_t *p, const ocon_page_ctx_t *pc, json_t *nodes, apr_size_t *len)
{
    ocon_html_t *h = ocon_html_new(p);
    json_t *arr = json_object_get(nodes, "nodes"), *n, *diff = json_object_get(nodes, "differing");
    size_t i;
    head(h, pc, "Nodes");
    RAW(apr_psprintf(p, "<p id=\"summary\">%" APR_SIZE_T_FMT " node(s), %" APR_SIZE_T_FMT " differing setting(s).</p>",
                     (apr_size_t)json_array_size(arr), (apr_size_t)json_array_size(diff)));
    RAW("<ul id=\"node-list\">");
    json_array_foreach(arr, i, n)
    {
        RAW("<li>");
        TXT(jstr(json_object_get(n, "node")));
        RAW(json_is_true(json_object_get(n, "readable")) ? "" : " <span class=\"flag\">no readable snapshot</span>");
        RAW("</li>");
    }
    RAW("</ul>");
    json_t *cols = json_object();
    json_array_foreach(arr, i, n)
    {
        json_object_set(cols, jstr(json_object_get(n, "node")), json_object_get(n, "flat"));
    }
    flat_table(h, "nodes", cols, diff);
    json_decref(cols);
    return foot(h, len);
}
