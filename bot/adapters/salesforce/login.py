"""Logging in to Salesforce: JWT bearer (recommended), username and password (OAuth with a connected app, or
SOAP), or an access token given as is; and the credentials, from the settings, with their secrets kept out of
every repr."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import jwt
import requests

from bot.adapters.http import json_object
from bot.adapters.salesforce.errors import SalesforceError, SessionExpired

if TYPE_CHECKING:
    from bot.config import Settings

JWT_LIFETIME_SECONDS = 180


@dataclass(frozen=True)
class Credentials:
    """How to log in; its secrets stay out of its repr (and so out of tracebacks and logs)."""

    mode: str  # jwt, password or token
    domain: str
    api_version: str
    username: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    instance_url: str | None = None
    access_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Session:
    access_token: str = field(repr=False)
    instance_url: str
    user_id: str | None


def login_url(domain: str) -> str:
    """`login`, `test`, a My Domain (`acme.my`, `acme--uat.sandbox.my`) or a full https URL."""
    if "://" in domain:
        return domain.rstrip("/")
    return f"https://{domain.removesuffix('.salesforce.com')}.salesforce.com"


def jwt_audience(domain: str) -> str:
    if "://" in domain:
        return login_url(domain)
    sandbox = domain == "test" or ".sandbox." in f".{domain}."
    return "https://test.salesforce.com" if sandbox else "https://login.salesforce.com"


CONNECTIONS = 32  # kept open to the org (requests keeps 10 by default)


class TimeoutSession(requests.Session):
    """A requests session whose every call has a timeout unless the caller gives one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout
        # the probes, the declare's reads and the clicks' queries run at once: keep their connections open
        self.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=CONNECTIONS))

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)


def log_in(credentials: Credentials, http: requests.Session, renewing: bool) -> Session:
    """A new session; for a given access token (which cannot be renewed), that token, once."""
    try:
        if credentials.mode == "jwt":
            return _token_request(
                credentials,
                http,
                {
                    "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                    "assertion": _assertion(credentials),
                },
            )
        if credentials.mode == "password" and credentials.consumer_key and credentials.consumer_secret:
            return _token_request(
                credentials,
                http,
                {
                    "grant_type": "password",
                    "client_id": credentials.consumer_key,
                    "client_secret": credentials.consumer_secret,
                    "username": credentials.username,
                    "password": (credentials.password or "") + (credentials.security_token or ""),
                },
            )
        if credentials.mode == "password":
            return _soap_login(credentials, http)
    except requests.RequestException as error:
        raise SalesforceError(f"Could not reach Salesforce to log in ({type(error).__name__}).") from None
    if renewing:
        raise SessionExpired(
            "The Salesforce access token has expired and cannot be renewed: set a new SALESFORCE_ACCESS_TOKEN, "
            "or use JWT or password login."
        )
    assert credentials.instance_url and credentials.access_token
    return Session(credentials.access_token, credentials.instance_url.rstrip("/"), None)


def _assertion(credentials: Credentials) -> str:
    claims = {
        "iss": credentials.consumer_key,
        "sub": credentials.username,
        "aud": jwt_audience(credentials.domain),
        "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
    }
    return jwt.encode(claims, credentials.private_key or "", algorithm="RS256")


def _token_request(credentials: Credentials, http: requests.Session, form: dict[str, Any]) -> Session:
    response = http.post(f"{login_url(credentials.domain)}/services/oauth2/token", data=form)
    body = json_object(response)
    if response.status_code != 200:
        reason = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
        raise SessionExpired(f"Salesforce refused the login: {reason}.")
    user_id = str(body.get("id", "")).rstrip("/").rsplit("/", 1)[-1] or None
    return Session(str(body["access_token"]), str(body["instance_url"]).rstrip("/"), user_id)


def _soap_login(credentials: Credentials, http: requests.Session) -> Session:
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com"><env:Body><urn:login>'
        f"<urn:username>{_xml(credentials.username or '')}</urn:username>"
        f"<urn:password>{_xml((credentials.password or '') + (credentials.security_token or ''))}</urn:password>"
        "</urn:login></env:Body></env:Envelope>"
    )
    response = http.post(
        f"{login_url(credentials.domain)}/services/Soap/u/{credentials.api_version}",
        data=envelope.encode(),
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login"},
    )
    root = ET.fromstring(response.content)  # noqa: S314
    fault = root.find(".//faultstring")
    if response.status_code != 200 or fault is not None:
        reason = fault.text if fault is not None else f"HTTP {response.status_code}"
        raise SessionExpired(f"Salesforce refused the login: {reason}.")
    namespace = "{urn:partner.soap.sforce.com}"
    session_id = root.findtext(f".//{namespace}sessionId")
    server_url = root.findtext(f".//{namespace}serverUrl")
    user_id = root.findtext(f".//{namespace}userId")
    if not session_id or not server_url:
        raise SalesforceError("Salesforce's login answer had no session.")
    parsed = urlparse(server_url)
    return Session(session_id, f"{parsed.scheme}://{parsed.netloc}", user_id)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def credentials_from(settings: Settings) -> Credentials | None:
    """Credentials from Settings, or None when Salesforce is not configured."""
    mode = settings.salesforce_login
    if mode is None:
        return None

    def secret(value: Any) -> str | None:
        return value.get_secret_value() if value is not None else None

    key_file = settings.salesforce_private_key_file
    return Credentials(
        mode=mode,
        domain=settings.salesforce_domain,
        api_version=settings.salesforce_api_version,
        username=settings.salesforce_username,
        consumer_key=settings.salesforce_consumer_key,
        consumer_secret=secret(settings.salesforce_consumer_secret),
        private_key=key_file.read_text() if key_file else None,
        password=secret(settings.salesforce_password),
        security_token=secret(settings.salesforce_security_token),
        instance_url=settings.salesforce_instance_url,
        access_token=secret(settings.salesforce_access_token),
    )
