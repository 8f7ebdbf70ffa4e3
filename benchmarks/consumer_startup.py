"""What installing the kit costs every pytest run of a consumer project: pytest's start in a
fresh virtualenv with only the kit's wheel (base install: the plugin, no contract suite),
with the kit's plugin loaded and with it disabled (`-p no:envoy_events`), side by side in one
run (target: within 0.3 s).

    .venv/bin/python benchmarks/consumer_startup.py [rounds]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str | Path, cwd: Path) -> None:
    subprocess.run([str(a) for a in args], cwd=cwd, check=True, capture_output=True)


def timed(python: Path, cwd: Path, *extra: str) -> float:
    began = time.perf_counter()
    run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, cwd=cwd)
    return time.perf_counter() - began


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    with tempfile.TemporaryDirectory(prefix="envoy-events-consumer-") as tmp:
        home = Path(tmp)
        run(sys.executable, "-m", "build", "--wheel", "--outdir", home / "dist", ROOT, cwd=home)
        run(sys.executable, "-m", "venv", home / "venv", cwd=home)
        python = home / "venv" / "bin" / "python"
        (wheel,) = (home / "dist").glob("*.whl")
        run(python, "-m", "pip", "install", "--quiet", wheel, cwd=home)
        project = home / "project"
        project.mkdir()
        (project / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
        timed(python, project)  # warm the page cache and bytecode
        with_plugin, without = [], []
        for _ in range(rounds):  # interleaved, so both see the same machine
            with_plugin.append(timed(python, project))
            without.append(timed(python, project, "-p", "no:envoy_events"))
    a, b = statistics.median(with_plugin), statistics.median(without)
    print(f"consumer pytest start ({rounds} rounds each, interleaved, load average "
          f"{os.getloadavg()[0]:.2f}):")
    print(f"  with the kit's plugin: median {a:.3f} s; plugin disabled: median {b:.3f} s; "
          f"difference {a - b:+.3f} s (target within 0.3 s)")


if __name__ == "__main__":
    main()
