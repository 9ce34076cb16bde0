"""Pure domain: incidents, severities, playbooks, approvals, timeline, post-mortem. No I/O here."""
