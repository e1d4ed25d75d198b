"""The install steps work on any Linux x86_64 with Python 3.11, and beside a local CPU wheel of torch.

`make lock-check` (run by `make test`) asks PyPI for every pin; these tests pin down the offline half: no local
build in the lock, and the Makefile's two install paths (with and without LOCAL_WHEELS).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.M)


def _pins() -> dict[str, str]:
    return dict(PIN.findall((REPO / "requirements.lock").read_text()))


def test_lock_names_no_local_build():
    local = {name: version for name, version in _pins().items() if "+" in version}
    assert not local, f"requirements.lock pins local builds that PyPI does not serve: {local}"
    assert _pins()["torch"] == "2.13.0"


def _install_recipe(tmp_path: Path, wheels: Path) -> str:
    proc = subprocess.run(
        ["make", "-n", "-B", ".venv/.installed", f"LOCAL_WHEELS={wheels}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_install_takes_the_local_cpu_wheel_and_leaves_out_cuda_packages(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    recipe = _install_recipe(tmp_path, wheels)
    assert f"--find-links {wheels}" in recipe
    pattern = re.search(r"grep -vE '([^']+)' requirements.lock", recipe).group(1)
    left_out = {name for name in _pins() if re.match(pattern, f"{name}==")}
    assert left_out and all(re.match(r"nvidia-|cuda-|triton$", name) for name in left_out), left_out
    assert "torch" not in left_out


def test_install_elsewhere_syncs_the_whole_lock_from_pypi(tmp_path):
    recipe = _install_recipe(tmp_path, tmp_path / "no-such-folder")
    assert "--find-links" not in recipe
    assert re.search(r"uv pip sync .* requirements.lock$", recipe, re.M), recipe
