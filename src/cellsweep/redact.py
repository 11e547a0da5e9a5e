"""Strip credentials from URIs and free text before anything is logged or printed."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_QUERY_KEYS = {
    "password",
    "passwd",
    "pwd",
    "token",
    "access_token",
    "secret",
    "api_key",
    "apikey",
    "key",
    "sig",
    "signature",
    "auth",
}
# scheme://user:password@host  or  scheme://token@host
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/@\s]+)@")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"]+")


def redact_uri(uri: str | None) -> str | None:
    """``postgresql://u:pw@h/db?password=x`` -> ``postgresql://***@h/db?password=***``."""
    if not uri:
        return uri
    out = _USERINFO.sub(lambda m: f"{m['scheme']}***@", uri)
    try:
        parts = urlsplit(out)
    except ValueError:
        return out
    if parts.query:
        query = [
            (k, "***" if k.lower() in SECRET_QUERY_KEYS else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        out = urlunsplit(parts._replace(query=urlencode(query, safe="*")))
    return out


def redact_text(text: str) -> str:
    """Redact every URI inside free text (a command line, a config dump)."""
    return _URI.sub(lambda m: redact_uri(m.group(0)) or "", text)
