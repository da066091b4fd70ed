"""Signed webhooks (a CFP extension of API steps), the twin of packages/worker/src/runtime/webhook.ts.

A step whose config has `webhook` is called by a third party that signs each request with a shared secret
instead of sending credentials. The runtime lets such requests through without credentials; here, before
middleware and handler, the HMAC over the exact raw body (or `<timestamp>.<raw body>` with `timestampHeader`)
must verify, compared in constant time. A verified request is then claimed at the runtime by the digest of its
signature (`webhook.claim`): the same signed request again within the replay window is refused (409).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from typing import Any, Mapping, Optional

DEFAULT_REPLAY_WINDOW_S = 86_400
KEYS = ["secret", "header", "algorithm", "encoding", "prefix", "timestampHeader", "toleranceSeconds", "replayWindowSeconds"]
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HEX = re.compile(r"^[0-9a-fA-F]*$")
_TS = re.compile(r"^\d{1,12}$")


def _header(headers: Mapping[str, Any], name: str) -> Optional[str]:
    v = headers.get(name.lower())
    if isinstance(v, (list, tuple)):
        v = v[0] if v else None
    return v if isinstance(v, str) else None


def verify(cfg: Mapping[str, Any], headers: Mapping[str, Any], raw: bytes, env: Optional[Mapping[str, str]] = None, now: Optional[int] = None) -> dict:
    """`{"ok": True, "replay"?: {"digest", "windowSeconds"}}` or `{"ok": False, "status", "code", "message"}`."""
    env = os.environ if env is None else env
    now = int(time.time()) if now is None else now
    secret = env.get(cfg["secret"])
    if not secret:
        # The step's owner must fix this; nothing about the secret is revealed to the caller.
        msg = f"the webhook secret variable {cfg['secret']} is not set in the worker's environment"
        return {"ok": False, "status": 500, "code": "webhook_misconfigured", "message": msg}

    def refuse(message: str) -> dict:
        return {"ok": False, "status": 401, "code": "invalid_signature", "message": message}

    name = cfg["header"]
    given = _header(headers, name)
    if not given:
        return refuse(f"the {name} header with the request's signature is missing")
    prefix = cfg.get("prefix") or ""
    if not given.startswith(prefix):
        return refuse(f'the {name} header must start with "{prefix}"')
    signed = raw
    ts_header = cfg.get("timestampHeader")
    if ts_header:
        ts = _header(headers, ts_header)
        if not ts or not _TS.match(ts):
            return refuse(f"the {ts_header} header must be a Unix timestamp in seconds")
        age = abs(now - int(ts))
        tolerance = cfg.get("toleranceSeconds") or 300
        if age > tolerance:
            return refuse(f"the request was signed {age} s away from now; at most {tolerance} s is accepted")
        signed = f"{ts}.".encode() + raw
    expected = hmac.new(secret.encode(), signed, cfg.get("algorithm") or "sha256").digest()
    text = given[len(prefix) :].strip()
    if (cfg.get("encoding") or "hex") == "hex":
        actual = bytes.fromhex(text) if _HEX.match(text) and len(text) % 2 == 0 else b""
    else:
        try:
            actual = base64.b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            actual = b""
    if not hmac.compare_digest(actual, expected):
        return refuse("the signature does not match the request body")
    window = cfg.get("replayWindowSeconds")
    if window is None:
        window = 2 * (cfg.get("toleranceSeconds") or 300) if ts_header else DEFAULT_REPLAY_WINDOW_S
    if window == 0:
        return {"ok": True}
    digest = hashlib.sha256(name.encode() + b"\0" + expected).hexdigest()
    return {"ok": True, "replay": {"digest": digest, "windowSeconds": window}}


def problems(w: Any) -> list[tuple[str, str]]:
    """(key, reason) for each problem of a `webhook` declaration; the rules of packages/sdk/src/config.ts."""
    from .config import describe

    if not isinstance(w, dict):
        return [("webhook", f"must be {{secret, header, ...}}, got {describe(w)}")]
    out = [(f"webhook.{k}", f"unknown key '{k}' in a webhook declaration; allowed keys: {', '.join(KEYS)}") for k in w if k not in KEYS]
    secret = w.get("secret")
    if not isinstance(secret, str) or not ENV_NAME.match(secret):
        out.append(("webhook.secret", f"must name the environment variable holding the secret (like STRIPE_WEBHOOK_SECRET), got {describe(secret)}"))
    if not isinstance(w.get("header"), str) or not HEADER_NAME.match(w["header"]):
        out.append(("webhook.header", f"must be an HTTP header name, got {describe(w.get('header'))}"))
    if "algorithm" in w and w["algorithm"] not in ("sha256", "sha1", "sha512"):
        out.append(("webhook.algorithm", f"must be sha256, sha1 or sha512, got {describe(w['algorithm'])}"))
    if "encoding" in w and w["encoding"] not in ("hex", "base64"):
        out.append(("webhook.encoding", f"must be hex or base64, got {describe(w['encoding'])}"))
    if "prefix" in w and not isinstance(w["prefix"], str):
        out.append(("webhook.prefix", f"must be a string, got {describe(w['prefix'])}"))
    if "timestampHeader" in w and (not isinstance(w["timestampHeader"], str) or not HEADER_NAME.match(w["timestampHeader"])):
        out.append(("webhook.timestampHeader", f"must be an HTTP header name, got {describe(w['timestampHeader'])}"))
    tol = w.get("toleranceSeconds")
    if "toleranceSeconds" in w and (isinstance(tol, bool) or not isinstance(tol, int) or tol < 1):
        out.append(("webhook.toleranceSeconds", f"must be a whole number of seconds >= 1, got {describe(tol)}"))
    win = w.get("replayWindowSeconds")
    if "replayWindowSeconds" in w and (isinstance(win, bool) or not isinstance(win, int) or not 0 <= win <= 604_800):
        out.append(("webhook.replayWindowSeconds", f"must be a whole number of seconds from 0 (off) to 604800 (7 days), got {describe(win)}"))
    return out


def manifest(w: dict) -> dict:
    """The manifest's `webhook`: how requests are signed, without the secret's variable name (it stays here)."""
    return {k: w[k] for k in KEYS if k != "secret" and k in w}
