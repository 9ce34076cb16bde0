"""The runbook as data: severity matrix, first five minutes, playbooks, kill switches, post-mortem template."""
