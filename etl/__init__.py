"""corpus-etl: the service around the Beam stages (config, CLI, pipeline assembly, IO, manifest, reader, report)."""

import logging

__version__ = "0.1.0"


def _not_beam_import_noise(record: logging.LogRecord) -> bool:
    """Beam's GCP modules log "apitools not found ..." through the root logger when imported without the GCP
    extras, which this service never uses; the line would reach every command (`--help` too) before any
    logging is configured, so it is dropped here, where every import of ours starts, not in etl/logs/."""
    return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_not_beam_import_noise)
