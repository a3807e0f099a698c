"""Tool implementations. Each operation is an async function ``(session, tool) -> data``."""
