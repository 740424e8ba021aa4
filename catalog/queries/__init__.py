"""Read-side catalog queries: plain async functions that take an `AsyncSession`.

Nothing here opens an engine or commits on its own; writes (the audit log)
are flushed and the caller commits. Paged answers use opaque keyset cursors
(`catalog.queries.cursors`).
"""

from catalog.queries.cursors import InvalidCursor

__all__ = ["InvalidCursor"]
