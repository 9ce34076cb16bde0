"""The one error type a use case raises for the person: something they asked cannot be done, and why."""


class UserError(Exception):
    """The message is one sentence for the person who acted."""


class StepFailed(Exception):
    """A step's work failed (Salesforce refused, timed out…); the message is one sentence shown on the step."""
