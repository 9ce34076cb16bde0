"""Adapters to the outside world: Redis, Slack's Web API, Salesforce, status pages, the scheduler, files."""
