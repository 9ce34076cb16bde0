"""What an outside service (a pager, a tracker) answered, in the two ways that decide what the bot does next:
refused (trying again changes nothing: said once, in the service's own words) or unavailable (rate limited,
failing, unreachable, not processed yet: the job is tried again later)."""


class ServiceRefused(Exception):
    """The service answered and refused (a bad key, an invalid request). The message is its own words."""


class ServiceUnavailable(Exception):
    """The service did not take it now: try again later."""
