#!/usr/bin/python3
"""Demo API behind ProxyPass: it trusts nothing but the bearer access token that
mod_auth_oidc put into Authorization, and checks it at the provider's userinfo endpoint
(a real API would validate a JWT or introspect). Answers JSON."""
import json
import os
import sys
import urllib.error
import urllib.request


def answer(status, obj):
    print(f"Status: {status}")
    print("Content-Type: application/json")
    print("Cache-Control: no-store")
    print()
    print(json.dumps(obj))


auth = os.environ.get("HTTP_AUTHORIZATION", "")
if not auth.startswith("Bearer "):
    answer(401, {"error": "no bearer token"})
    sys.exit(0)
req = urllib.request.Request(os.environ["DEMO_USERINFO_URL"], headers={"Authorization": auth})
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        user = json.load(r)
except urllib.error.HTTPError as e:
    answer(401, {"error": f"the provider refused the token ({e.code})"})
    sys.exit(0)
method = os.environ.get("REQUEST_METHOD", "GET")
path = os.environ.get("PATH_INFO", "")
try:
    length = min(int(os.environ.get("CONTENT_LENGTH") or 0), 4096)
except ValueError:
    length = 0
body = sys.stdin.read(length) if length else ""
if method == "POST":
    answer(201, {"created": path, "by": user.get("sub"), "received": body})
else:
    answer(200, {"api": path, "token_of": user.get("sub"), "email": user.get("email")})
