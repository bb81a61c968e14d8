#!/usr/bin/python3
"""Test backend: answers with the CGI environment as JSON.

Keys: REMOTE_USER, AUTH_TYPE, request basics, every HTTP_*, OIDC_*, AUTH_OIDC_* and
REDIRECT_* variable, and "body" (the request body, at most 64 KiB, as text).
"""
import json
import os
import sys

KEEP = ("REMOTE_USER", "AUTH_TYPE", "REQUEST_METHOD", "REQUEST_URI", "QUERY_STRING",
        "SCRIPT_NAME", "PATH_INFO", "CONTENT_TYPE", "CONTENT_LENGTH", "HTTPS")
PREFIXES = ("HTTP_", "OIDC_", "AUTH_OIDC_", "REDIRECT_")

env = {k: v for k, v in os.environ.items() if k in KEEP or k.startswith(PREFIXES)}
try:
    length = min(int(os.environ.get("CONTENT_LENGTH") or 0), 65536)
except ValueError:
    length = 0
body = sys.stdin.buffer.read(length) if length > 0 else b""
env["body"] = body.decode("utf-8", "replace")

out = json.dumps(env, sort_keys=True, ensure_ascii=False).encode("utf-8")
sys.stdout.buffer.write(b"Content-Type: application/json; charset=utf-8\r\n")
sys.stdout.buffer.write(b"Cache-Control: no-store\r\n\r\n")
sys.stdout.buffer.write(out)
