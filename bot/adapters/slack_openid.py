"""Sign in with Slack (OpenID Connect): the authorize page's address, the code exchanged for tokens
(`openid.connect.token`, through SLACK_API_BASE_URL), the id_token verified against Slack's keys
(SLACK_OPENID_KEYS_URL: signature, issuer, audience, expiry and the sign-in's nonce), and the person read with
`openid.connect.userInfo`."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

import jwt
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.adapters.slack_api import TIMEOUT_SECONDS, retry_handlers
from bot.services.ports import Identity, SignInFailed

ISSUER = "https://slack.com"
SCOPES = "openid email profile"
USER_ID = "https://slack.com/user_id"
TEAM_ID = "https://slack.com/team_id"


class SlackOpenId:
    def __init__(self, api_base_url: str, client_id: str, client_secret: str, authorize_url: str, keys_url: str):
        self.client_id = client_id
        self._client_secret = client_secret
        self._authorize_url = authorize_url
        self._api_base_url = api_base_url
        self._keys = jwt.PyJWKClient(keys_url, timeout=TIMEOUT_SECONDS, lifespan=3600)

    def _client(self, token: str | None = None) -> WebClient:
        return WebClient(
            token=token, base_url=self._api_base_url, timeout=TIMEOUT_SECONDS, retry_handlers=retry_handlers()
        )

    def authorize_url(self, state: str, nonce: str, redirect_uri: str) -> str:
        query = {
            "response_type": "code",
            "scope": SCOPES,
            "client_id": self.client_id,
            "state": state,
            "nonce": nonce,
            "redirect_uri": redirect_uri,
        }
        return f"{self._authorize_url}?{urlencode(query)}"

    def identify(self, code: str, redirect_uri: str, nonce: str) -> Identity:
        """The person Slack signed in; SignInFailed (one sentence) when the code, the token or the person's
        answer is refused, or the id_token does not verify."""
        try:
            tokens = self._client().openid_connect_token(
                client_id=self.client_id, client_secret=self._client_secret, code=code, redirect_uri=redirect_uri
            )
            claims = self._verified(str(tokens["id_token"]), nonce)
            person = cast(dict[str, Any], self._client(str(tokens["access_token"])).openid_connect_userInfo().data)
        except SlackApiError as error:
            answer = error.response.data if isinstance(error.response.data, dict) else {}
            reason = answer.get("error") or f"HTTP {error.response.status_code}"
            raise SignInFailed(f"Slack refused the sign-in ({reason}).") from None
        except (KeyError, TypeError):
            raise SignInFailed("Slack's answer to the sign-in lacked its tokens.") from None
        if person.get("sub") != claims["sub"]:
            raise SignInFailed("Slack's userInfo names someone other than the id_token.")
        return Identity(
            user_id=str(claims.get(USER_ID) or claims["sub"]),
            team_id=str(claims.get(TEAM_ID) or ""),
            name=str(person.get("name") or claims["sub"]),
        )

    def _verified(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            key = self._keys.get_signing_key_from_jwt(id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientError as error:
            raise SignInFailed(f"Slack's signing keys could not be read ({error}).") from None
        except jwt.InvalidTokenError as error:
            raise SignInFailed(f"Slack's id_token did not verify ({error}).") from None
        if claims.get("nonce") != nonce:
            raise SignInFailed("Slack's id_token answers another sign-in (its nonce differs).")
        return claims
