"""corpus-etl: the service around the Beam stages (config, CLI, pipeline assembly, IO, manifest, reader, report)."""

__version__ = "0.1.0"
