"""Salesforce: the gateway (queries, Apex, sObjects, custom metadata), logging in, and what a call can end in."""
