"""The Salesforce gateway: REST and Tooling queries, anonymous Apex, sObject create and delete, FM_Config custom
metadata through the Metadata API, and named credentials through Connect REST; logging in is `login.py`.

What the gateway guarantees, whatever simple-salesforce does by default:
- every HTTP call has a timeout (a session with a default timeout, and the Metadata API's zeep transport);
- an expired session is renewed and the call retried once, never in a loop (simple-salesforce recurses
  on a persistent 401 in create/update/delete, upstream issue #804);
- the Metadata API client is rebuilt with the new session after a renewal (sf.mdapi keeps the old one);
- the HTTP client honours REQUESTS_CA_BUNDLE (corporate proxies, self-signed test orgs);
- every failure is one `SalesforceError` whose message is a sentence for responders: `SalesforceRefused` when
  the org answered no (nothing changed), `SalesforceNoAnswer` when no answer came (a timeout, a dropped
  connection, a 5xx), in which case a change may or may not have been applied;
- custom metadata values keep their types both ways: a checkbox is a `bool`, a number a `float`, text a `str`,
  an empty field `None`, and each is sent back with the matching `xsi:type`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote, urlparse

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError as LibraryError
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceMalformedRequest
from simple_salesforce.metadata import SfdcMetadataApi
from zeep import xsd
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault as ZeepFault
from zeep.exceptions import TransportError as ZeepTransportError
from zeep.transports import Transport

from bot.adapters.salesforce.errors import SalesforceNoAnswer, SalesforceRefused, SessionExpired
from bot.adapters.salesforce.login import Credentials, Session, TimeoutSession, log_in

Result = TypeVar("Result")
Value = bool | float | str | None  # a custom metadata value as the org types it
LIMIT_EXCEEDED = "The org's API request limit is exceeded (REQUEST_LIMIT_EXCEEDED)."  # REST and SOAP say it alike


@dataclass(frozen=True)
class QueryResult:
    records: list[dict[str, Any]]
    total_size: int


class SalesforceGateway:
    def __init__(self, credentials: Credentials, timeout: float) -> None:
        self.credentials = credentials
        self.timeout = timeout
        self.http = TimeoutSession(timeout)
        self._lock = threading.Lock()
        self._session: Session | None = None
        self._client: Salesforce | None = None
        self._metadata: SfdcMetadataApi | None = None

    # ----- sessions

    def _connect(self, renew: bool) -> Salesforce:
        with self._lock:
            if self._client is None or renew:
                self._session = log_in(self.credentials, self.http, renewing=self._session is not None)
                parsed = urlparse(self._session.instance_url)
                self._client = Salesforce(
                    instance=parsed.netloc,
                    session_id=self._session.access_token,
                    session=self.http,
                    version=self.credentials.api_version,
                )
                self._metadata = None
            return self._client

    def _call(self, what: str, action: Callable[[Salesforce], Result]) -> Result:
        """Runs `action`; an expired session is renewed once and the action retried once, never more."""
        client = self._connect(renew=False)
        try:
            return self._translated(what, lambda: action(client))
        except SessionExpired:
            renewed = self._connect(renew=True)
        return self._translated(what, lambda: action(renewed))

    def _translated(self, what: str, call: Callable[[], Result]) -> Result:
        try:
            return call()
        except SalesforceExpiredSession:
            raise SessionExpired("The Salesforce session expired.") from None
        except SalesforceMalformedRequest as error:
            raise SalesforceRefused(f"Salesforce refused the {what}: {_error_text(error.content)}.") from None
        except LibraryError as error:
            code = _error_code(error.content)
            if code == "REQUEST_LIMIT_EXCEEDED":
                raise SalesforceRefused(LIMIT_EXCEEDED) from None
            if error.status >= 500:
                raise SalesforceNoAnswer(f"Salesforce answered HTTP {error.status} to the {what}.") from None
            raise SalesforceRefused(f"Salesforce refused the {what}: {_error_text(error.content)}.") from None
        except requests.Timeout:
            raise SalesforceNoAnswer(f"Salesforce did not answer the {what} within {self.timeout:g} seconds.") from None
        except requests.RequestException as error:
            raise SalesforceNoAnswer(f"Could not reach Salesforce for the {what} ({type(error).__name__}).") from None
        except ZeepFault as fault:
            if "INVALID_SESSION_ID" in f"{fault.code} {fault.message}":
                raise SessionExpired("The Salesforce session expired.") from None
            if "REQUEST_LIMIT_EXCEEDED" in f"{fault.code} {fault.message}":
                raise SalesforceRefused(LIMIT_EXCEEDED) from None
            raise SalesforceRefused(f"The Metadata API refused the {what}: {_clause(fault.message)}.") from None
        except ZeepTransportError as error:
            if error.status_code >= 500:
                raise SalesforceNoAnswer(f"Salesforce answered HTTP {error.status_code} to the {what}.") from None
            raise SalesforceRefused(f"The Metadata API refused the {what}: HTTP {error.status_code}.") from None
        except ZeepError as error:
            raise SalesforceRefused(f"The Metadata API refused the {what}: {_clause(str(error))}.") from None

    @property
    def user_id(self) -> str:
        """The Id of the user the bot runs as (from the login, or the OAuth userinfo endpoint)."""
        self._connect(renew=False)
        session = self._session
        assert session is not None
        if session.user_id is None:
            info: Any = self._call("user lookup", lambda sf: sf.oauth2("userinfo", None, method="GET"))
            self._session = session = Session(session.access_token, session.instance_url, str(info["user_id"]))
        return str(session.user_id)

    # ----- operations

    def query(self, soql: str, *, tooling: bool = False, limit: int | None = None) -> QueryResult:
        """The records (pages followed through nextRecordsUrl, up to `limit` when given) and the total size."""

        def run(sf: Salesforce) -> QueryResult:
            def execute(path: str) -> dict[str, Any]:
                answer = sf.toolingexecute(path) if tooling else sf.restful(path)
                return dict(answer or {})

            first = execute(f"query/?q={quote(soql)}")
            records = list(first["records"])
            next_url = first.get("nextRecordsUrl")
            while next_url and (limit is None or len(records) < limit):
                page = execute(next_url.split("/tooling/" if tooling else f"/v{sf.sf_version}/", 1)[1])
                records += page["records"]
                next_url = page.get("nextRecordsUrl")
            kept = records if limit is None else records[:limit]
            return QueryResult([_flatten(r) for r in kept], int(first["totalSize"]))

        return self._call("query", run)

    def execute_anonymous(self, apex: str) -> None:
        """Runs anonymous Apex; it answers 200 even when the Apex failed, so compiled and success are checked."""
        result = self._call("Apex", lambda sf: sf.toolingexecute(f"executeAnonymous/?anonymousBody={quote(apex)}"))
        if not result.get("compiled"):
            where = f" (line {result.get('line')}, column {result.get('column')})" if result.get("line") else ""
            raise SalesforceRefused(f"The Apex did not compile{where}: {_clause(result.get('compileProblem'))}.")
        if not result.get("success"):
            raise SalesforceRefused(f"The Apex failed: {_clause(result.get('exceptionMessage'))}.")

    def create(self, sobject: str, fields: dict[str, Any]) -> str:
        """Creates a record (or publishes a platform event: OPERATION_ENQUEUED there is not a failure)."""
        result = self._call(f"{sobject} create", lambda sf: getattr(sf, sobject).create(fields))
        if not result.get("success"):
            raise SalesforceRefused(f"Salesforce did not create the {sobject}: {result.get('errors')}.")
        return str(result.get("id", ""))

    def delete(self, sobject: str, record_id: str) -> None:
        self._call(f"{sobject} delete", lambda sf: getattr(sf, sobject).delete(record_id))

    def read_custom_metadata(self, full_name: str) -> dict[str, Value]:
        """The field values of one custom metadata record, e.g. `FM_Config.Default`, as the org types them."""
        record = self._call(f"read of {full_name}", lambda sf: self._read_record(sf, full_name))
        return {value.field: _metadata_value(value.value) for value in record.values}

    def update_custom_metadata(self, full_name: str, changes: dict[str, Value]) -> None:
        """Sets fields of a custom metadata record, each value sent with the xsi:type of its Python type.

        The record is read again inside the call (updateMetadata replaces the whole record): the other fields
        are sent back as they are, with their own types. A refusal (SaveResult success=false) is a
        SalesforceRefused.
        """

        def update(sf: Salesforce) -> None:
            record = self._read_record(sf, full_name)
            values = {value.field: value for value in record.values}
            missing = [name for name in changes if name not in values]
            if missing:
                raise SalesforceRefused(f"{full_name} has no field {', '.join(missing)}.")
            for name, value in values.items():  # every value is sent back, each with its own type
                value.value = _typed(changes[name] if name in changes else _metadata_value(value.value))
            api = self._metadata_api(sf)
            results = api._service.updateMetadata([record], _soapheaders=[api._session_header])
            refused = [
                f"{error.statusCode}: {_clause(error.message)}"
                for result in results
                if not result.success
                for error in result.errors or []
            ]
            if refused:
                raise SalesforceRefused(f"Salesforce refused the update of {full_name}: {'; '.join(refused)}.")

        self._call(f"update of {full_name}", update)

    def _read_record(self, sf: Salesforce, full_name: str) -> Any:
        record = self._metadata_api(sf).CustomMetadata.read([full_name])
        if record is None or not getattr(record, "fullName", None):
            raise SalesforceRefused(f"The Metadata API has no record {full_name}.")
        return record

    def named_credential(self, developer_name: str) -> dict[str, Any]:
        """One named credential as the Connect REST API describes it (`calloutStatus` from API 59.0)."""
        path = f"named-credentials/named-credential-setup/{quote(developer_name, safe='')}"
        answer = self._call(f"read of the named credential {developer_name}", lambda sf: sf.restful(path))
        return dict(answer or {})

    def named_credentials(self) -> list[dict[str, Any]]:
        """The org's named credentials (developer name, label, callout URL, callout status)."""
        answer = self._call(
            "list of named credentials", lambda sf: sf.restful("named-credentials/named-credential-setup")
        )
        return list((answer or {}).get("namedCredentials") or [])

    def _metadata_api(self, sf: Salesforce) -> SfdcMetadataApi:
        """sf.mdapi, with a transport that has timeouts and our session; rebuilt after every renewal."""
        if self._metadata is None:
            api = sf.mdapi
            api._client.transport = MetadataTransport(  # type: ignore[no-untyped-call]
                session=self.http, timeout=self.timeout, operation_timeout=self.timeout
            )
            self._metadata = api
        return self._metadata


class MetadataTransport(Transport):
    """zeep's transport, except that an error answer that is not XML (a proxy's or the edge's 503 page) is an HTTP
    error: zeep would parse the page leniently and report an "Unknown fault", which reads as the org refusing,
    when no answer came from the org at all."""

    def post_xml(self, address: str, envelope: Any, headers: dict[str, str]) -> requests.Response:
        response: requests.Response = super().post_xml(address, envelope, headers)  # type: ignore[no-untyped-call]
        if response.status_code != 200 and "xml" not in response.headers.get("Content-Type", ""):
            raise ZeepTransportError(  # type: ignore[no-untyped-call]
                f"HTTP {response.status_code}", status_code=response.status_code
            )
        return response


def _clause(text: Any) -> str:
    """Text to end a sentence with: one line, no trailing period of its own."""
    return " ".join(str(text).split()).rstrip(".")


def _metadata_value(value: Any) -> Value:
    """A value as zeep decoded it, normalised: numbers are floats (a custom metadata number is xsd:double)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | Decimal):
        return float(value)
    return str(value)


def _typed(value: Value) -> Any:
    """A value with the xsi:type the org expects for it: xsd:boolean, xsd:double, xsd:string, or xsi:nil."""
    if value is None:
        return None
    if isinstance(value, bool):
        return xsd.AnyObject(xsd.Boolean(), value)  # type: ignore[no-untyped-call]
    if isinstance(value, float):
        return xsd.AnyObject(xsd.Double(), value)  # type: ignore[no-untyped-call]
    return xsd.AnyObject(xsd.String(), value)  # type: ignore[no-untyped-call]


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"PermissionSet": {"Name": "X"}}` → `{"PermissionSet.Name": "X"}`, without `attributes`."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _error_code(content: Any) -> str:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", ""))
    return ""


def _error_text(content: Any) -> str:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{content[0].get('errorCode', 'ERROR')}: {_clause(content[0].get('message', ''))}"
    return _clause(content)[:300]
