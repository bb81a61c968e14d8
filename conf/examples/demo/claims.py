#!/usr/bin/python3
"""Demo page: who is logged in and which claims mod_auth_oidc passed on."""
import html
import os

user = os.environ.get("REMOTE_USER", "")
rows = sorted((k[len("OIDC_CLAIM_"):], v) for k, v in os.environ.items() if k.startswith("OIDC_CLAIM_"))
body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
print("Content-Type: text/html; charset=utf-8")
print("Cache-Control: no-store")
print()
print(f"""<!doctype html><html><head><meta charset="utf-8"><title>mod_auth_oidc demo</title>
<style>body{{font-family:sans-serif;margin:2em}}th{{text-align:left;padding-right:1em}}</style></head>
<body><h1>Hello, {html.escape(user)}</h1>
<p>This page is protected by <code>AuthType oidc</code>. REMOTE_USER is <code>{html.escape(user)}</code>;
the claims below came from the ID token as <code>OIDC_CLAIM_*</code> variables.</p>
<table>{body}</table>
<p><a href="/oidc/logout">Log out</a> &middot; <a href="/admin/">Admins only</a></p>
</body></html>""")
