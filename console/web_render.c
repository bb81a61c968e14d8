/* HTML pages of the web console. Every value that came from a session, a
 * snapshot or the request goes through ocon_html_text / ocon_html_escape.
 * No script at all: the pages are plain forms, so the CSP can forbid scripts. */
#include "web.h"

#include "aoidc_util.h"

#include <apr_strings.h>
#include <apr_time.h>
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
    "fieldset{border:1px solid #ccc;margin-bottom:1em}label{margin-right:1em}"
    "small{color:#555}th a{color:inherit}th.sorted{background:#dde}"
    ".cards{display:flex;flex-wrap:wrap;gap:1em}.card{border:1px solid #ccc;border-radius:6px;padding:0 1em 1em;"
    "flex:1 1 40em;box-shadow:0 1px 3px #0002}.card dl{display:grid;grid-template-columns:max-content 1fr;"
    "gap:.2em 1em}.card dt{font-weight:bold}.card dd{margin:0;word-break:break-all}"
    "td.problem{background:#fee}td.ok,p.ok{color:#060}tr.learned td.differs{background:#fff4e0;font-weight:normal}"
    "tr.group th{background:#f6f6f6;font-weight:normal;font-style:italic}";

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

static apr_int64_t now_sec(void)
{
    return (apr_int64_t)apr_time_sec(apr_time_now());
}

static void hidden(ocon_html_t *h, const char *name, const char *value)
{
    RAW("<input type=\"hidden\" name=\"");
    TXT(name);
    RAW("\" value=\"");
    TXT(value);
    RAW("\">");
}

/* A time as a reader wants it: how long ago, the exact time as a tooltip
 * and in the text (so that it can be copied). */
static void when(ocon_html_t *h, apr_int64_t t, apr_int64_t now)
{
    if (t <= 0) {
        RAW("-");
        return;
    }
    RAW("<time datetime=\"");
    TXT(ocon_time_iso(h->p, t));
    RAW("\">");
    TXT(ocon_time_iso(h->p, t));
    RAW("</time> <small class=\"age\">");
    TXT(ocon_age_text(h->p, t, now));
    RAW("</small>");
}

static const char *revoke_user_url(apr_pool_t *p, const char *provider, const char *sub)
{
    return apr_pstrcat(p, "/users/revoke?provider=", aoidc_url_encode(p, dash(provider)), "&sub=",
                       aoidc_url_encode(p, dash(sub)), NULL);
}

/* The sessions table; sort_qs NULL: headers are not sort links (user page). */
static void session_rows(ocon_html_t *h, const ocon_page_ctx_t *pc, const ocon_page_t *pg, int user_button,
                         const char *sort_qs)
{
    apr_pool_t *p = h->p;
    apr_int64_t now = now_sec();
    static const struct {
        const char *label;
        ocon_sort_t sort;
    } times[] = {{"Created", OCON_SORT_CREATED}, {"Last seen", OCON_SORT_LAST_SEEN}, {"Expires", OCON_SORT_EXPIRES}};
    RAW("<table id=\"sessions\"><thead><tr><th>Session</th><th>User</th><th>Email, name</th><th>Provider</th>"
        "<th>Node</th><th>Client</th>");
    for (apr_size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        int cur = pg->sort == times[i].sort;
        RAW(cur ? "<th class=\"sorted\" aria-sort=\"descending\">" : "<th>");
        if (sort_qs && !cur) {
            RAW("<a href=\"/sessions?sort=");
            TXT(apr_pstrcat(p, ocon_sort_name(times[i].sort), sort_qs, NULL));
            RAW("\" title=\"newest first\">");
            TXT(times[i].label);
            RAW("</a>");
        }
        else {
            TXT(times[i].label);
            RAW(cur ? " &#9660;" : "");
        }
        RAW("</th>");
    }
    RAW("<th>Actions</th></tr></thead><tbody>");
    for (int i = 0; i < pg->sessions->nelts; i++) {
        const ocon_session_t *o = &APR_ARRAY_IDX(pg->sessions, i, ocon_session_t);
        const char *user_url = apr_pstrcat(p, "/user?provider=", aoidc_url_encode(p, dash(o->s.provider)),
                                           "&sub=", aoidc_url_encode(p, dash(o->s.sub)), NULL);
        const char *ua = ocon_ua_summary(p, o->s.user_agent);
        RAW("<tr data-handle=\"");
        TXT(o->handle);
        RAW("\"><td><a href=\"/sessions/");
        TXT(o->handle);
        RAW("\"><code>");
        TXT(apr_pstrndup(p, o->handle, 8));
        RAW("&hellip;</code></a></td><td class=\"user\"><a href=\"");
        TXT(user_url);
        RAW("\" title=\"");
        TXT(apr_pstrcat(p, "sub ", dash(o->s.sub), NULL));
        RAW("\">");
        TXT(dash(o->s.user));
        RAW("</a></td><td class=\"email\">");
        TXT(dash(o->email));
        if (o->name && *o->name) {
            RAW("<br><small class=\"name\">");
            TXT(o->name);
            RAW("</small>");
        }
        RAW("</td><td class=\"provider\">");
        TXT(dash(o->s.provider));
        RAW("</td><td class=\"node\">");
        TXT(dash(o->s.node));
        RAW("</td><td class=\"client\">");
        TXT(dash(o->s.client_ip));
        if (*ua) {
            RAW("<br><small class=\"ua\">");
            TXT(ua);
            RAW("</small>");
        }
        RAW("</td><td class=\"created\">");
        when(h, o->s.created, now);
        RAW("</td><td class=\"last-seen\">");
        when(h, o->s.last_seen, now);
        RAW("</td><td class=\"expires\">");
        when(h, o->s.expires, now);
        RAW("</td><td><form method=\"post\" class=\"inline revoke\" action=\"/sessions/");
        TXT(o->handle);
        RAW("/revoke\">");
        hidden(h, "csrf", pc->csrf);
        RAW("<button type=\"submit\" class=\"revoke\">Revoke</button></form>");
        if (user_button) {
            RAW(" <a class=\"revoke-user\" href=\"");
            TXT(revoke_user_url(p, o->s.provider, o->s.sub));
            RAW("\">Revoke all of user&hellip;</a>");
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
        {"Search", "q", offsetof(ocon_filter_t, prefix)},  {"Sub", "user", offsetof(ocon_filter_t, sub)},
        {"Email", "email", offsetof(ocon_filter_t, email)}, {"Name", "name", offsetof(ocon_filter_t, name)},
        {"Provider", "provider", offsetof(ocon_filter_t, provider)}, {"SID", "sid", offsetof(ocon_filter_t, sid)},
    };
    head(h, pc, "Sessions");
    RAW("<form method=\"get\" action=\"/sessions\" id=\"filter\"><fieldset><legend>Filter</legend>");
    const char *qs = "";
    for (apr_size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *v = *(const char *const *)((const char *)f + fields[i].off);
        if (i == 0 && f->q) { /* a scan: the search box holds the substring */
            v = f->q;
        }
        qs = apr_pstrcat(p, qs, q(p, fields[i].name, v), NULL);
        RAW("<label>");
        TXT(fields[i].label);
        RAW(" <input name=\"");
        RAW(fields[i].name);
        RAW("\" value=\"");
        TXT(v ? v : "");
        RAW("\" maxlength=\"256\"></label>");
    }
    RAW("<label><input type=\"checkbox\" name=\"scan\" value=\"1\"");
    RAW(f->q ? " checked" : "");
    RAW("> substring (scans every session: slow)</label>");
    if (pg->sort != OCON_SORT_EXPIRES) {
        hidden(h, "sort", ocon_sort_name(pg->sort));
    }
    RAW("<button type=\"submit\">Apply</button> <a href=\"/sessions\">Clear</a></fieldset></form>");
    if (f->q) {
        qs = apr_pstrcat(p, qs, "&scan=1", NULL);
    }
    int pages = pg->per_page > 0 ? (pg->total + pg->per_page - 1) / pg->per_page : 1;
    RAW(apr_psprintf(p, "<p id=\"summary\">Page %d of %d: %d session(s) shown, %d in the directory.</p>", pg->page,
                     pages < 1 ? 1 : pages, pg->sessions->nelts, pg->total));
    if (f->prefix || f->q) {
        RAW("<p id=\"search-how\">");
        TXT(f->q ? "Substring search: every session was read."
                 : pg->via_index ? "Prefix search of user, sub, email and the words of the name (search index)."
                                 : "Prefix search: the search index is not built yet, every session was read.");
        RAW("</p>");
    }
    if (pg->partial) {
        RAW(apr_psprintf(p, "<p class=\"flag\" id=\"partial\">More sessions match than were searched (at most %d "
                            "in %d s, or %d from the index): refine the search.</p>",
                         OCON_SCAN_HITS_MAX, OCON_SCAN_SECONDS, OCON_INDEX_HITS_MAX));
    }
    if (pg->capped) {
        RAW(apr_psprintf(p, "<p class=\"flag\" id=\"capped\">Sorted among the %d sessions that expire last only: "
                            "narrow the filter to sort them all.</p>",
                         OCON_SORT_MAX));
    }
    ocon_filter_t others = *f;
    others.provider = NULL;
    if (f->provider && ocon_filter_empty(&others)) {
        RAW("<p><a class=\"revoke-provider\" href=\"/providers/revoke?provider=");
        TXT(aoidc_url_encode(p, f->provider));
        RAW("\">Revoke every session of this provider&hellip;</a></p>");
    }
    session_rows(h, pc, pg, 1, qs);
    const char *sq = pg->sort != OCON_SORT_EXPIRES ? apr_pstrcat(p, "&sort=", ocon_sort_name(pg->sort), NULL) : "";
    RAW("<p class=\"pages\">");
    if (pg->page > 1) {
        RAW("<a rel=\"prev\" href=\"/sessions?page=");
        TXT(apr_psprintf(p, "%d%s%s", pg->page - 1, qs, sq));
        RAW("\">Previous</a> ");
    }
    if (pg->more) {
        RAW("<a rel=\"next\" href=\"/sessions?page=");
        TXT(apr_psprintf(p, "%d%s%s", pg->page + 1, qs, sq));
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
    RAW("<p><a id=\"revoke-user\" href=\"");
    TXT(revoke_user_url(p, provider, sub));
    RAW("\">Revoke all sessions of this user&hellip;</a></p>");
    session_rows(h, pc, pg, 0, NULL);
    return foot(h, len);
}

const char *ocon_render_confirm(apr_pool_t *p, const ocon_page_ctx_t *pc, const ocon_confirm_t *cf,
                                apr_size_t *len)
{
    ocon_html_t *h = ocon_html_new(p);
    head(h, pc, cf->title);
    RAW("<p id=\"confirm-what\">");
    TXT(cf->what);
    RAW("</p><p id=\"confirm-count\" class=\"flag\">");
    TXT(apr_psprintf(p, "This will end %d session(s).", cf->count));
    RAW("</p>");
    if (cf->note) {
        RAW("<p>");
        TXT(cf->note);
        RAW("</p>");
    }
    RAW("<form method=\"post\" id=\"confirm\" action=\"");
    TXT(cf->action);
    RAW("\">");
    hidden(h, "csrf", pc->csrf);
    for (int i = 0; cf->fields[i]; i += 2) {
        hidden(h, cf->fields[i], cf->fields[i + 1]);
    }
    hidden(h, "confirm", "yes");
    RAW("<button type=\"submit\" id=\"confirm-revoke\">");
    TXT(apr_psprintf(p, "Revoke %d session(s)", cf->count));
    RAW("</button> <a href=\"");
    TXT(cf->back);
    RAW("\" id=\"cancel\">Cancel</a></form>");
    return foot(h, len);
}

const char *ocon_render_session(apr_pool_t *p, const ocon_page_ctx_t *pc, const ocon_session_t *o, apr_size_t *len)
{
    ocon_html_t *h = ocon_html_new(p);
    const aoidc_session_t *s = &o->s;
    apr_int64_t now = now_sec();
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
        {"Refresh token", s->refresh_token && *s->refresh_token ? "yes" : "no"},
    };
    for (apr_size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        RAW("<tr><th>");
        TXT(rows[i][0]);
        RAW("</th><td>");
        TXT(rows[i][1]);
        RAW("</td></tr>");
    }
    const struct {
        const char *label;
        apr_int64_t t;
    } times[] = {{"Created", s->created}, {"Last seen", s->last_seen}, {"Expires", s->expires}};
    for (apr_size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        RAW("<tr><th>");
        TXT(times[i].label);
        RAW("</th><td>");
        when(h, times[i].t, now);
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

static apr_int64_t jint(json_t *v)
{
    return json_is_integer(v) ? (apr_int64_t)json_integer_value(v) : 0;
}

static int in_array(json_t *arr, const char *s)
{
    json_t *d;
    size_t i;
    json_array_foreach(arr, i, d)
    {
        if (json_is_string(d) && !strcmp(json_string_value(d), s)) {
            return 1;
        }
    }
    return 0;
}

/* What a node learned from a provider (discovery, JWKS) rather than was
 * configured with: it differs until every node has fetched. */
static int learned(const char *path)
{
    return !strncmp(path, "endpoints", 9) || !strncmp(path, "keys", 4) || strstr(path, ".endpoints") ||
           strstr(path, ".keys");
}

/* Settings by node: a column per node, a row per path; the differing rows
 * (highlighted; configured ones first, then what the nodes learned from the
 * providers), and the others only when all. */
static void settings_table(ocon_html_t *h, const char *id, json_t *columns /* {node: flat} */, json_t *differing,
                           int all)
{
    json_t *paths = json_object(), *flat, *v;
    const char *node, *path;
    json_object_foreach(columns, node, flat)
    {
        json_object_foreach(flat, path, v)
        {
            json_object_set(paths, path, json_true());
        }
    }
    RAW("<table class=\"settings\" id=\"");
    TXT(id);
    RAW("\"><thead><tr><th>Setting</th>");
    json_object_foreach(columns, node, flat)
    {
        RAW("<th>");
        TXT(node);
        RAW("</th>");
    }
    RAW("</tr></thead><tbody>");
    for (int pass = 0; pass < (all ? 3 : 2); pass++) {
        int header = 0;
        json_object_foreach(paths, path, v)
        {
            int differs = in_array(differing, path), kind = !differs ? 2 : learned(path) ? 1 : 0;
            if (kind != pass) {
                continue;
            }
            if (pass == 1 && !header++) {
                RAW(apr_psprintf(h->p, "<tr class=\"group\"><th colspan=\"%d\">Learned from the providers "
                                       "(discovery, JWKS): differs until every node has fetched</th></tr>",
                                 (int)json_object_size(columns) + 1));
            }
            RAW(pass == 0   ? "<tr class=\"differs\"><th><span class=\"flag\" title=\"differs between nodes\">&ne;</span> "
                : pass == 1 ? "<tr class=\"differs learned\"><th><span title=\"differs between nodes\">&ne;</span> "
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

/* The first node's value of a provider setting (they agree unless listed as differing). */
static const char *first_of(json_t *pnodes, const char *member, const char *sub)
{
    const char *node;
    json_t *cfg;
    json_object_foreach(pnodes, node, cfg)
    {
        json_t *v = json_object_get(cfg, member);
        if (sub) {
            v = json_object_get(v, sub);
        }
        if (json_is_string(v)) {
            return json_string_value(v);
        }
    }
    return NULL;
}

#define STALE_AFTER (24 * 3600) /* a fetch older than this is flagged */

/* One fetch status (discovery or JWKS) of one node: a cell. */
static void fetch_cell(ocon_html_t *h, json_t *st, apr_int64_t now, int *problems)
{
    apr_int64_t fetched = jint(json_object_get(st, "fetched")), tried = jint(json_object_get(st, "tried"));
    const char *err = jstr(json_object_get(st, "error"));
    if (err && *err) {
        (*problems)++;
        RAW("<td class=\"problem\"><span class=\"flag\">failed</span> ");
        TXT(err);
        RAW("<br><small>last try ");
        TXT(ocon_age_text(h->p, tried, now));
        RAW(", last success ");
        TXT(ocon_age_text(h->p, fetched, now));
        RAW("</small></td>");
    }
    else if (fetched <= 0) {
        RAW("<td>not fetched yet</td>");
    }
    else if (now - fetched > STALE_AFTER) {
        (*problems)++;
        RAW("<td class=\"problem\"><span class=\"flag\">stale</span> fetched ");
        when(h, fetched, now);
        RAW("</td>");
    }
    else {
        RAW("<td class=\"ok\">ok, fetched ");
        when(h, fetched, now);
        RAW("</td>");
    }
}

static void location_list(ocon_html_t *h, json_t *locs)
{
    json_t *l;
    size_t k;
    if (json_array_size(locs) == 0) {
        RAW("<span class=\"none\">no location</span>");
    }
    json_array_foreach(locs, k, l)
    {
        RAW(k ? ", <code>" : "<code>");
        TXT(dash(jstr(l)));
        RAW("</code>");
    }
}

void ocon_render_locations(ocon_html_t *h, json_t *by_node, int same)
{
    json_t *locs, *first = NULL;
    const char *node;
    if (json_object_size(by_node) == 0) {
        return;
    }
    if (same) {
        RAW("<p class=\"locations\">Used by ");
        json_object_foreach(by_node, node, locs)
        {
            first = first ? first : locs;
        }
        location_list(h, first);
        RAW(" on ");
        int i = 0;
        json_object_foreach(by_node, node, locs)
        {
            RAW(i++ ? ", " : "");
            TXT(node);
        }
        RAW("</p>");
        return;
    }
    RAW("<p class=\"flag locations-differ\">The nodes use it in different locations:</p>"
        "<table class=\"locations\"><thead><tr><th>Node</th><th>Locations</th></tr></thead><tbody>");
    json_object_foreach(by_node, node, locs)
    {
        RAW("<tr><th>");
        TXT(node);
        RAW("</th><td>");
        location_list(h, locs);
        RAW("</td></tr>");
    }
    RAW("</tbody></table>");
}

static void provider_card(ocon_html_t *h, json_t *pv, apr_int64_t now)
{
    apr_pool_t *p = h->p;
    const char *name = jstr(json_object_get(pv, "name"));
    json_t *pnodes = json_object_get(pv, "nodes"), *diff = json_object_get(pv, "differing"),
           *miss = json_object_get(pv, "missing_on"), *m, *cfg;
    const char *node;
    size_t k;
    int problems = 0;
    RAW("<section class=\"card provider\" id=\"");
    TXT(apr_pstrcat(p, "provider-", name, NULL));
    RAW("\"><h2>");
    const char *display = jstr(json_object_get(pv, "display_name"));
    TXT(display ? display : name);
    if (display && strcmp(display, name) != 0) {
        RAW(" <small class=\"provider-name\"><code>");
        TXT(name);
        RAW("</code></small>");
    }
    RAW("</h2><p class=\"count\">");
    TXT(apr_psprintf(p, "%" APR_INT64_T_FMT " live session(s), configured on %" APR_SIZE_T_FMT " node(s).",
                     jint(json_object_get(pv, "sessions")), (apr_size_t)json_object_size(pnodes)));
    RAW(" <a href=\"/sessions?provider=");
    TXT(aoidc_url_encode(p, name));
    RAW("\">Sessions</a> &middot; <a class=\"revoke-provider\" href=\"/providers/revoke?provider=");
    TXT(aoidc_url_encode(p, name));
    RAW("\">Revoke all&hellip;</a></p><dl>");
    const char *facts[][3] = {
        {"Issuer", "issuer", NULL},          {"Client ID", "client_id", NULL},
        {"Scopes", "scope", NULL},           {"Userinfo at login", "userinfo_mode", NULL},
        {"Authorization endpoint", "endpoints", "authorization"},
        {"Token endpoint", "endpoints", "token"}, {"Userinfo endpoint", "endpoints", "userinfo"},
        {"End session endpoint", "endpoints", "end_session"}, {"JWKS", "endpoints", "jwks"},
        {"Introspection endpoint", "endpoints", "introspection"},
    };
    for (apr_size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++) {
        const char *v = first_of(pnodes, facts[i][1], facts[i][2]);
        if (!v && facts[i][2]) {
            continue; /* an endpoint the provider does not have */
        }
        RAW("<dt>");
        TXT(facts[i][0]);
        RAW("</dt><dd>");
        TXT(dash(v));
        RAW("</dd>");
    }
    RAW("</dl>");
    ocon_render_locations(h, json_object_get(pv, "locations"), json_is_true(json_object_get(pv, "locations_same")));
    json_array_foreach(miss, k, m)
    {
        problems++;
        RAW("<p class=\"flag\">Not configured on node ");
        TXT(jstr(m));
        RAW("</p>");
    }
    RAW("<table class=\"status\"><thead><tr><th>Node</th><th>Discovery</th><th>JWKS</th><th>Keys</th></tr></thead>"
        "<tbody>");
    json_object_foreach(pnodes, node, cfg)
    {
        json_t *keys = json_object_get(cfg, "keys"), *kv;
        RAW("<tr><th>");
        TXT(node);
        RAW("</th>");
        fetch_cell(h, json_object_get(cfg, "discovery"), now, &problems);
        fetch_cell(h, json_object_get(cfg, "jwks"), now, &problems);
        RAW("<td class=\"keys\">");
        if (json_array_size(keys) == 0) {
            RAW("none");
        }
        json_array_foreach(keys, k, kv)
        {
            RAW(k ? ", <code>" : "<code>");
            TXT(dash(jstr(json_object_get(kv, "kid"))));
            RAW("</code> ");
            TXT(dash(jstr(json_object_get(kv, "kty"))));
        }
        json_t *algs = json_object_get(cfg, "id_token_algs"), *a;
        if (json_array_size(algs)) {
            RAW("<br><small>ID token algorithms: ");
            json_array_foreach(algs, k, a)
            {
                RAW(k ? ", " : "");
                TXT(jstr(a));
            }
            RAW("</small>");
        }
        RAW("</td></tr>");
    }
    RAW("</tbody></table>");
    if (json_array_size(diff)) {
        problems++;
        RAW("<p class=\"flag differs-flag\">Configuration differs between nodes:</p>");
        json_t *cols = json_object();
        json_object_foreach(pnodes, node, cfg)
        {
            json_object_set_new(cols, node, ocon_flatten(cfg));
        }
        settings_table(h, apr_pstrcat(p, "differs-", name, NULL), cols, diff, 0);
        json_decref(cols);
    }
    RAW(problems ? apr_psprintf(p, "<p class=\"problems flag\">%d problem(s) above.</p>", problems)
                 : "<p class=\"problems ok\">No problem.</p>");
    RAW("</section>");
}

const char *ocon_render_providers(apr_pool_t *p, const ocon_page_ctx_t *pc, json_t *providers, apr_size_t *len)
{
    ocon_html_t *h = ocon_html_new(p);
    json_t *pv;
    size_t i;
    apr_int64_t now = now_sec();
    head(h, pc, "Providers");
    if (json_array_size(json_object_get(providers, "providers")) == 0) {
        RAW("<p>No provider is known: no node has published a snapshot, and the console config names none.</p>");
    }
    RAW("<div class=\"cards\">");
    json_array_foreach(json_object_get(providers, "providers"), i, pv)
    {
        provider_card(h, pv, now);
    }
    RAW("</div>");
    return foot(h, len);
}

const char *ocon_render_nodes(apr_pool_t *p, const ocon_page_ctx_t *pc, json_t *nodes, int all, apr_size_t *len)
{
    ocon_html_t *h = ocon_html_new(p);
    json_t *arr = json_object_get(nodes, "nodes"), *n, *diff = json_object_get(nodes, "differing");
    size_t i;
    apr_int64_t now = now_sec();
    head(h, pc, "Nodes");
    RAW(apr_psprintf(p, "<p id=\"summary\">%" APR_SIZE_T_FMT " node(s), %" APR_SIZE_T_FMT " differing setting(s).</p>",
                     (apr_size_t)json_array_size(arr), (apr_size_t)json_array_size(diff)));
    int metrics = 0;
    json_array_foreach(arr, i, n)
    {
        metrics |= json_is_string(json_object_get(n, "metrics_url"));
    }
    RAW("<table id=\"node-list\"><thead><tr><th>Node</th><th>Version</th><th>Last snapshot</th>");
    RAW(metrics ? "<th>Metrics</th></tr></thead><tbody>" : "</tr></thead><tbody>");
    json_array_foreach(arr, i, n)
    {
        json_t *snap = json_object_get(n, "snapshot");
        RAW("<tr><th>");
        TXT(jstr(json_object_get(n, "node")));
        RAW("</th><td>");
        TXT(dash(jstr(json_object_get(snap, "version"))));
        RAW("</td><td>");
        if (json_is_true(json_object_get(n, "readable"))) {
            when(h, jint(json_object_get(snap, "published")), now);
        }
        else {
            RAW("<span class=\"flag\">no readable snapshot</span>");
        }
        if (metrics) {
            const char *murl = jstr(json_object_get(n, "metrics_url"));
            RAW("</td><td class=\"metrics\">");
            if (murl) {
                RAW("<a href=\"");
                TXT(murl);
                RAW("\">");
                TXT(murl);
                RAW("</a>");
            }
        }
        RAW("</td></tr>");
    }
    RAW("</tbody></table>");
    if (all) {
        RAW("<p><a id=\"toggle\" href=\"/nodes\">Show only the differing settings</a></p>");
    }
    else {
        RAW(json_array_size(diff) ? "<p>Only the settings that differ between nodes are shown. "
                                  : "<p id=\"same\">Every node has the same settings. ");
        RAW("<a id=\"toggle\" href=\"/nodes?all=1\">Show all settings</a></p>");
    }
    json_t *cols = json_object();
    json_array_foreach(arr, i, n)
    {
        json_object_set(cols, jstr(json_object_get(n, "node")), json_object_get(n, "flat"));
    }
    if (all || json_array_size(diff)) {
        settings_table(h, "nodes", cols, diff, all);
    }
    json_decref(cols);
    return foot(h, len);
}
