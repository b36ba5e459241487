"""Queries per table group (reports, notices): small functions that take a session and return
rows or plain values. They never create a session, flush on their own account or commit — the
caller's unit of work does (one per message or job). Handlers and services ask here instead of
writing ``select()`` themselves, so a query and its index live in one place."""
