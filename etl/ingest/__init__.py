"""Ingest: find the inputs (local or fsspec URLs), open them, and cut them into work units of documents.

Every runner reads through this package, in the driver (planning) and in its workers (reading a unit's parts);
it knows nothing of a run, its output or its runner. Bad records become rejects here, never crashes.
"""
