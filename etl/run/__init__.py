"""Run: assemble one run's Beam pipeline from the config, execute it on a runner, reconcile, validate, commit.

`run_pipeline(inputs, output, config)` (etl/run/driver.py) is the entry point for code and the CLI alike; the
rest of the package is what it assembles: the passes, their per-unit work, the stage chain and the progress.
"""

from __future__ import annotations


def __getattr__(name: str):
    # Lazily, so that importing a submodule (a pool worker's etl.run.unit_work) does not import the driver.
    if name in ("run_pipeline", "RunResult"):
        from etl.run import driver

        return getattr(driver, name)
    raise AttributeError(f"module 'etl.run' has no attribute {name!r}")
