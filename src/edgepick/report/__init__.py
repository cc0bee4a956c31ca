"""Output: terminal table, Markdown and JSON views of a Run."""
