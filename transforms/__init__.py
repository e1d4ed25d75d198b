"""Beam stages of corpus-etl: pure batch functions with thin PTransform wrappers.

Every stage takes a PCollection of Arrow record batches of documents (see ``transforms.schema``) and returns
``{"kept": ..., "rejects": ...}``; it knows nothing of the CLI, storage or reports.
"""
