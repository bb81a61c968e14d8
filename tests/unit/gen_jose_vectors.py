#!/usr/bin/env python3
"""Regenerate the JOSE test vectors in tests/unit/data/jose/ and the fuzz seeds in
tests/fuzz/corpus/jose/.

Uses only the Python standard library and the `openssl` command line tool (3.x).
The keys under data/jose/keys/ are test-only material; they are created when
missing and reused otherwise, so re-running this script keeps the JWKS stable
(RSA PKCS#1 v1.5 and Ed25519 signatures are deterministic; PSS and ECDSA ones
change on every run, which is fine).

All tokens carry exp = 4102444800 (2100-01-01T00:00:00Z) and
iat = 1700000000; the unit tests validate with a fixed now = 1700000100.

Usage: tests/unit/gen_jose_vectors.py  (from anywhere)
"""
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "jose")
KEYS = os.path.join(DATA, "keys")
CORPUS = os.path.join(HERE, "..", "fuzz", "corpus", "jose")

CLAIMS = {
    "iss": "https://op.example.com",
    "sub": "alice",
    "aud": "client-1",
    "exp": 4102444800,
    "iat": 1700000000,
    "nonce": "n-0S6_WzA2Mj",
}


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_json(obj):
    return b64u(json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout


def ensure_keys():
    os.makedirs(KEYS, exist_ok=True)
    specs = {
        "rsa.pem": ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "ec.pem": ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "ed25519.pem": ["genpkey", "-algorithm", "ED25519"],
    }
    for name, cmd in specs.items():
        path = os.path.join(KEYS, name)
        if not os.path.exists(path):
            openssl(*(cmd + ["-out", path]))


def pub_der(key):
    return openssl("pkey", "-in", os.path.join(KEYS, key), "-pubout", "-outform", "DER")


def pub_pem(key):
    return openssl("pkey", "-in", os.path.join(KEYS, key), "-pubout")


def rsa_jwk(kid, **extra):
    text = openssl("rsa", "-in", os.path.join(KEYS, "rsa.pem"), "-noout", "-modulus").decode()
    n = bytes.fromhex(text.strip().split("=", 1)[1])
    text = openssl("rsa", "-in", os.path.join(KEYS, "rsa.pem"), "-noout", "-text").decode()
    e = int(re.search(r"publicExponent: (\d+)", text).group(1))
    jwk = {"kty": "RSA", "kid": kid, "use": "sig",
           "n": b64u(n), "e": b64u(e.to_bytes((e.bit_length() + 7) // 8, "big"))}
    jwk.update(extra)
    return jwk


def ec_jwk(kid):
    der = pub_der("ec.pem")
    point = der[-65:]
    assert point[0] == 4
    return {"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
            "x": b64u(point[1:33]), "y": b64u(point[33:])}


def ed_jwk(kid):
    der = pub_der("ed25519.pem")
    return {"kty": "OKP", "kid": kid, "use": "sig", "crv": "Ed25519", "x": b64u(der[-32:])}


def der_to_rs(der, size=32):
    """ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } -> R||S."""
    assert der[0] == 0x30
    pos = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[pos] == 0x02
        ln = der[pos + 1]
        val = der[pos + 2:pos + 2 + ln].lstrip(b"\x00")
        out += val.rjust(size, b"\x00")
        pos += 2 + ln
    return out


def sign(alg, signing_input):
    with tempfile.NamedTemporaryFile() as f:
        f.write(signing_input)
        f.flush()
        if alg[:2] in ("RS", "PS"):
            md = "-sha" + alg[2:]
            args = ["dgst", md, "-sign", os.path.join(KEYS, "rsa.pem")]
            if alg.startswith("PS"):
                args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1",
                         "-sigopt", "rsa_mgf1_md:sha" + alg[2:]]
            return openssl(*(args + [f.name]))
        if alg == "ES256":
            return der_to_rs(openssl("dgst", "-sha256", "-sign", os.path.join(KEYS, "ec.pem"), f.name))
        if alg == "EdDSA":
            return openssl("pkeyutl", "-sign", "-rawin", "-inkey", os.path.join(KEYS, "ed25519.pem"),
                           "-in", f.name)
    raise ValueError(alg)


def jwt(header, claims, alg_for_sig=None):
    si = (b64u_json(header) + "." + b64u_json(claims)).encode("ascii")
    return si.decode() + "." + b64u(sign(alg_for_sig or header["alg"], si))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def main():
    ensure_keys()
    jwks = {"keys": [
        rsa_jwk("rsa-1"),
        ec_jwk("ec-1"),
        ed_jwk("ed-1"),
        rsa_jwk("rsa-enc", use="enc"),        # must be skipped
        rsa_jwk("rsa-rs512-only", alg="RS512"),  # usable only for RS512
    ]}
    write(os.path.join(DATA, "jwks.json"), json.dumps(jwks, indent=1) + "\n")

    kids = {"RS": "rsa-1", "PS": "rsa-1", "ES": "ec-1", "Ed": "ed-1"}
    vectors = {}
    for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "EdDSA"):
        vectors[alg.lower()] = jwt({"alg": alg, "kid": kids[alg[:2]], "typ": "JWT"}, CLAIMS)
    # no kid: the verifier must try every key of the matching type
    vectors["rs256_nokid"] = jwt({"alg": "RS256"}, CLAIMS)
    vectors["es256_nokid"] = jwt({"alg": "ES256"}, CLAIMS)
    vectors["eddsa_nokid"] = jwt({"alg": "EdDSA"}, CLAIMS)
    # valid signature, kid not in the set
    vectors["rs256_unknown_kid"] = jwt({"alg": "RS256", "kid": "no-such-kid"}, CLAIMS)
    # ES256 token naming the RSA key, and RS256 token naming the EC key
    vectors["es256_kid_rsa"] = jwt({"alg": "ES256", "kid": "rsa-1"}, CLAIMS)
    vectors["rs256_kid_ec"] = jwt({"alg": "RS256", "kid": "ec-1"}, CLAIMS)
    # key restricted to RS512 by its "alg" member, and a use=enc key
    vectors["rs256_kid_rs512_only"] = jwt({"alg": "RS256", "kid": "rsa-rs512-only"}, CLAIMS)
    vectors["rs512_kid_rs512_only"] = jwt({"alg": "RS512", "kid": "rsa-rs512-only"}, CLAIMS)
    vectors["rs256_kid_enc"] = jwt({"alg": "RS256", "kid": "rsa-enc"}, CLAIMS)
    # the classic confusion attack: HMAC keyed with the RSA public key
    for name, key in (("hs256_confusion_pem", pub_pem("rsa.pem")),
                      ("hs256_confusion_der", pub_der("rsa.pem"))):
        si = b64u_json({"alg": "HS256", "kid": "rsa-1"}) + "." + b64u_json(CLAIMS)
        vectors[name] = si + "." + b64u(hmac.new(key, si.encode(), hashlib.sha256).digest())
    # unsecured JWT
    vectors["none"] = b64u_json({"alg": "none"}) + "." + b64u_json(CLAIMS) + "."

    for name, token in vectors.items():
        write(os.path.join(DATA, name + ".jwt"), token + "\n")

    # fuzz seeds: a few valid tokens, the JWKS, and JWKS\0JWT pairs (see fuzz_jose.c)
    jwks_text = json.dumps(jwks, separators=(",", ":"))
    seeds = {
        "rs256.jwt": vectors["rs256"], "ps256.jwt": vectors["ps256"],
        "es256.jwt": vectors["es256"], "eddsa.jwt": vectors["eddsa"],
        "none.jwt": vectors["none"], "hs256.jwt": vectors["hs256_confusion_pem"],
        "jwks.json": jwks_text,
        "pair_rs256": jwks_text + "\0" + vectors["rs256_nokid"],
        "pair_es256": jwks_text + "\0" + vectors["es256"],
        "pair_eddsa": jwks_text + "\0" + vectors["eddsa"],
        "garbage_dots": "a.b.c", "garbage_json": '{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]}',
        "garbage_hdr": "eyJhbGciOiJSUzI1NiJ9.e30.",
    }
    for name, data in seeds.items():
        write(os.path.join(CORPUS, name), data)

    # print the compact JWKS so fuzz_jose.c's built-in set can be refreshed
    sys.stdout.write(jwks_text + "\n")


if __name__ == "__main__":
    main()
