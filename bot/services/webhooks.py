"""What every signed webhook (PagerDuty, GitHub, Jira) shares: the body's HMAC-SHA256 with the service's secret,
compared in constant time. No secret set: nothing is taken."""

from __future__ import annotations

import hashlib
import hmac


def signed(body: bytes, secret: str | None, given: str, scheme: str) -> bool:
    """Whether `given` carries `<scheme>=<hex digest>` of `body` (one of several, comma-separated: PagerDuty signs
    with each of a subscription's secrets while one is rotated)."""
    if not secret:
        return False
    expected = f"{scheme}=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, part.strip()) for part in given.split(",") if part.strip())
