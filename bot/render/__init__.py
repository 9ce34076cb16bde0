"""Builds what people see: Block Kit messages, modals, the Home tab, and Markdown for the post-mortem."""
