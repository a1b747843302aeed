"""The suite runs from a fresh clone with nothing beside it: no test or benchmark reads outside the repository."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from .paths import ROOT

#: how a path escapes the clone: a parent of the repository root, or the workspace's shared/
_ESCAPES = re.compile(r"""parents\[\d+\]\.parent|\.\./shared|/\s*["']shared["']""")


def _project_files() -> list[str]:
    """Tracked files and new ones not ignored: what a commit of the working tree would hold."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if (ROOT / line).is_file()]


def _collected(root: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return sorted(line for line in done.stdout.splitlines() if "::" in line)


def test_no_test_or_benchmark_names_a_path_outside_the_repository() -> None:
    offenders = []
    for name in _project_files():
        if name.startswith(("tests/", "benchmarks/", "docs/")) and name.endswith((".py", ".md")):
            text = (ROOT / name).read_text(encoding="utf-8", errors="replace")
            offenders += [f"{name}: {m.group(0)}" for m in _ESCAPES.finditer(text)]
    assert offenders == []


def test_a_copy_with_nothing_beside_it_collects_every_test(tmp_path: Path) -> None:
    """Parametrised tests over a missing data folder would quietly collect nothing: the copy
    must collect exactly the tests this checkout does."""
    clone = tmp_path / "alone" / "litecursor"
    for name in _project_files():
        dest = clone / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest)
    here = _collected(ROOT)
    there = _collected(clone)
    assert len(here) > 900
    assert there == here
