"""Sign in with Slack, as the fake Slack answers it: the authorize page (which signs in the test's chosen person
at once and redirects back with a code), `openid.connect.token` (client authentication, a code used once, the
same redirect_uri), `openid.connect.userInfo` (a user token from that exchange only) and the keys that verify
the id_token (RS256, a key id)."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "fake-openid-client-secret-0123456789"
ISSUER = "https://slack.com"
KEY_ID = "fake-openid-key-1"
CODE_SECONDS = 600


class OpenIdRefusal(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class Grant:
    user: str
    team: str
    name: str
    nonce: str
    redirect_uri: str
    issued: float


class FakeOpenId:
    def __init__(self, user_scopes: set[str]) -> None:
        self.user_scopes = user_scopes  # what the app's manifest lets it ask a person for
        self.lock = threading.Lock()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.person: tuple[str, str, str] | None = None  # (user, team, name) whom the authorize page signs in
        self.redirect_urls: set[str] = set()
        self.codes: dict[str, Grant] = {}
        self.user_tokens: dict[str, Grant] = {}
        self.authorized: list[dict[str, str]] = []  # every authorize request's query
        self.redirects: list[str] = []  # every redirect back to the app, in order
        self.tamper_state = False  # send the state back altered, as an attacker's link would

    def sign_in_as(self, user: str, team: str, name: str = "") -> None:
        with self.lock:
            self.person = (user, team, name or user.lower())

    def authorize(self, query: str) -> tuple[int, dict[str, str], Any]:
        args = {name: values[0] for name, values in parse_qs(query).items()}
        with self.lock:
            self.authorized.append(args)
            person = self.person
        if args.get("client_id") != CLIENT_ID:
            return 400, {}, b"invalid_client_id"
        scopes = set(args.get("scope", "").split())
        if args.get("response_type") != "code" or "openid" not in scopes:
            return 400, {}, b"invalid_request"
        if not scopes <= self.user_scopes:
            return (
                400,
                {},
                b"invalid_scope: the app's configuration does not have " + str(scopes - self.user_scopes).encode(),
            )
        if args.get("redirect_uri") not in self.redirect_urls:
            return 400, {}, b"bad_redirect_uri"
        if person is None:
            return 400, {}, b"no person chosen to sign in"
        code = secrets.token_urlsafe(24)
        grant = Grant(person[0], person[1], person[2], args.get("nonce", ""), args["redirect_uri"], time.time())
        with self.lock:
            self.codes[code] = grant
        state = args.get("state")
        if state is not None and self.tamper_state:
            state = state[:-1] + ("A" if state[-1] != "A" else "B")
        back = {"code": code, **({"state": state} if state is not None else {})}
        location = f"{args['redirect_uri']}?{urlencode(back)}"
        with self.lock:
            self.redirects.append(location)
        return 302, {"Location": location}, b""

    def keys(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": KEY_ID, "alg": "RS256", "use": "sig"}]}

    def token(self, args: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        client_id, client_secret = args.get("client_id"), args.get("client_secret")
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[len("Basic ") :]).decode().partition(":")
        if client_id != CLIENT_ID:
            raise OpenIdRefusal("invalid_client_id")
        if client_secret != CLIENT_SECRET:
            raise OpenIdRefusal("bad_client_secret")
        with self.lock:
            grant = self.codes.pop(str(args.get("code")), None)
        if grant is None or time.time() - grant.issued > CODE_SECONDS:
            raise OpenIdRefusal("invalid_code")
        if args.get("redirect_uri") != grant.redirect_uri:
            raise OpenIdRefusal("bad_redirect_uri")
        access = "xoxp-" + secrets.token_hex(16)
        with self.lock:
            self.user_tokens[access] = grant
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": grant.user,
            "aud": CLIENT_ID,
            "exp": now + 3600,
            "iat": now,
            "auth_time": now,
            "nonce": grant.nonce,
            "https://slack.com/user_id": grant.user,
            "https://slack.com/team_id": grant.team,
            "name": grant.name,
            "email": f"{grant.user.lower()}@example.com",
        }
        id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KEY_ID})
        return {"access_token": access, "token_type": "Bearer", "id_token": id_token}

    def user_info(self, token: str | None) -> dict[str, Any]:
        with self.lock:
            grant = self.user_tokens.get(token or "")
        if grant is None:
            raise OpenIdRefusal("invalid_auth")
        return {
            "sub": grant.user,
            "https://slack.com/user_id": grant.user,
            "https://slack.com/team_id": grant.team,
            "name": grant.name,
            "email": f"{grant.user.lower()}@example.com",
            "email_verified": True,
        }
