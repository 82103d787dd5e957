"""The station password: the page drives current into people, so off the loopback interface every
request but the sign-in page and the static assets needs it (a session cookie set by the sign-in, or
HTTP basic), compared in constant time. On 127.0.0.1 with no password, the page is open."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets

COOKIE = "rig_station"
OPEN_PATHS = ("/login", "/static/")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


class StationAuth:
    def __init__(self, password: str | None) -> None:
        self.password = password
        self._secret = secrets.token_bytes(32)  # a new one per server start: old cookies stop working

    @property
    def required(self) -> bool:
        return self.password is not None

    def password_ok(self, given: str) -> bool:
        if self.password is None:
            return True
        return hmac.compare_digest(given.encode("utf-8"), self.password.encode("utf-8"))

    def session_token(self) -> str:
        return hmac.new(self._secret, b"station session", hashlib.sha256).hexdigest()

    def allowed(self, path: str, cookies: dict[str, str], authorization: str | None) -> bool:
        if self.password is None or path == "/login" or path.startswith("/static/"):
            return True
        token = cookies.get(COOKIE)
        if token is not None and hmac.compare_digest(token.encode(), self.session_token().encode()):
            return True
        return self._basic_ok(authorization)

    def _basic_ok(self, authorization: str | None) -> bool:
        if not authorization or not authorization.lower().startswith("basic "):
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        _user, _, given = decoded.partition(":")
        return self.password_ok(given)
