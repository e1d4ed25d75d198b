"""TEST CODE ONLY: several hosts on one machine for the multi-host test (issue 10, tests/test_multihost.py).

`netns` builds hosts from network namespaces behind one switch; `job_service` is Beam's local job service with
the small wrapper that spreads SDK harnesses over several worker pools; `probe` is the client (port checks, S3)
that runs inside a host. Nothing here is part of corpus-etl or imported by it.
"""
