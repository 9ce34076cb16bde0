"""Presenters: they turn what the use cases return into Block Kit (`bot/render`) and Slack calls (posts, updates,
modals, direct messages, canvases). Nothing here decides anything about an incident."""
