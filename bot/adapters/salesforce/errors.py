"""What a Salesforce call can end in: each a sentence for responders, and whether the org may have changed."""

from __future__ import annotations


class SalesforceError(Exception):
    """A Salesforce call failed; the message is one sentence for the responder."""


class SalesforceRefused(SalesforceError):
    """The org answered and refused: nothing was changed."""


class SalesforceNoAnswer(SalesforceError):
    """No answer came: a change sent may or may not have been applied (read the org back to know)."""


class SessionExpired(SalesforceRefused):
    pass
