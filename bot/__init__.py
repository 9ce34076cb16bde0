"""FlowMason incident bot: the incident-response runbook as guided, audited Slack chat-ops."""
