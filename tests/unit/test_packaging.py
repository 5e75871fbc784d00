"""Install and packaging: the README's two set-up commands, .ci/run, a build without a C
compiler, and the systemd unit."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Set up"):text.index("\n## ", text.index("## Set up") + 1)]
    return [line.strip() for line in section.splitlines() if line.startswith("    ") and line.strip()]


def test_readme_has_two_setup_commands_in_a_venv_and_ci_runs_the_second() -> None:
    """Exactly two commands; both make and use a venv (a PEP 668 system refuses a system-wide
    pip install); .ci/run runs the second word for word."""
    commands = _setup_commands()
    assert len(commands) == 2, commands
    run, test = commands
    for command in commands:
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install "), command
        assert "python3 -m pip" not in command
    assert run.endswith("&& .venv/bin/omd")
    assert "'.[test]'" in test and test.endswith(".venv/bin/python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines(), ".ci/run must run the README's test command as written"


def _source_copy(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def test_build_without_a_c_compiler_falls_back_to_python(tmp_path: Path) -> None:
    """With no compiler the wheel builds, without the C extensions and with a clear warning,
    and the installed package matches filters in Python and says why."""
    src = _source_copy(tmp_path / "src")
    env = {**os.environ, "CC": "/nonexistent-cc", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(tmp_path / "whl"),
                          str(src)], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "omd: WARNING: the C filter matcher extension omd._filter_native was not built" in out.stdout + out.stderr
    (wheel,) = (tmp_path / "whl").glob("omd-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(tmp_path / "site")
    assert "omd/filters/_python.py" in names and not [n for n in names if n.endswith(".so")]
    assert "omd-0.1.0.data/data/share/doc/omd/README.md" in names  # the unit's Documentation=
    # The test venv's editable install of omd has a finder ahead of sys.path: drop it, so
    # that the wheel's copy on PYTHONPATH is the one imported.
    probe = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()];"
             "import json, structlog; structlog.configure(processors=[structlog.processors.JSONRenderer()]);"
             "import omd.filters as f; assert f.compile(['WatchDog']).match(b'WatchDog\\0', b'{}'); print(json.dumps(f.IMPL))")
    env = {k: v for k, v in os.environ.items() if k not in ("OMD_PURE_PYTHON", "PYTHONPATH")}
    env["PYTHONPATH"] = str(tmp_path / "site")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[-1] == '"python"'
    assert '"level": "warning"' in lines[0] or "C matcher not built" in lines[0], lines


def _unit() -> str:
    return (ROOT / "systemd" / "omd.service").read_text()


def test_unit_runs_the_documented_install_and_names_installed_docs() -> None:
    """ExecStart is the omd of the README's systemd install (a venv at a prefix outside the
    homes, which ProtectHome=yes hides); every file:// Documentation= is installed there."""
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"python3 -m venv (/\S+) && \1/bin/pip install \.", readme)
    assert m, "the README documents the systemd install"
    prefix = m.group(1)
    unit = _unit()
    assert re.search(rf"^ExecStart={re.escape(prefix)}/bin/omd run$", unit, re.M), unit
    assert not prefix.startswith(("/root", "/home")) or "ProtectHome=yes" not in unit
    docs = re.search(r"^Documentation=(.*)$", unit, re.M).group(1).split()
    setup = (ROOT / "setup.py").read_text()
    for doc in docs:
        if doc.startswith("file://"):
            rel = Path(doc.removeprefix("file://")).relative_to(prefix)
            assert f'("{rel.parent}", [' in setup and f'"{rel.name}"' in setup, (doc, "not installed by setup.py")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the unit. Where the documented install is not on this
    machine, its ExecStart is pointed at this venv's omd (the only change)."""
    unit = _unit()
    exec_start = re.search(r"^ExecStart=(\S+)", unit, re.M).group(1)
    if not os.access(exec_start, os.X_OK):
        here = Path(sys.executable).parent / "omd"
        if not os.access(here, os.X_OK):
            pytest.skip(f"neither {exec_start} nor {here} is installed")
        unit = unit.replace(f"ExecStart={exec_start}", f"ExecStart={here}")
    (tmp_path / "omd.service").write_text(unit)
    out = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "omd.service")],
                         capture_output=True, text=True, timeout=60)
    problems = [line for line in (out.stdout + out.stderr).splitlines() if "omd.service" in line]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr


def test_children_run_the_installed_omd_not_the_current_directory(tmp_path: Path) -> None:
    """A daemon started from a directory holding another `omd` package (a checkout, say)
    runs the installed omd in its subsystems too."""
    from tests.helpers import cleanup_root, short_root, wait_for

    script = Path(sys.executable).parent / "omd"
    if not os.access(script, os.X_OK):
        pytest.skip(f"no installed omd script at {script}")
    shadow = tmp_path / "shadow"
    (shadow / "omd").mkdir(parents=True)
    (shadow / "omd" / "__init__.py").write_text("raise SystemExit('the current directory omd was imported')\n")
    root = short_root()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OMD_ROOT")}
    proc = subprocess.Popen([str(script), "--root", str(root), "run"], cwd=shadow, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def running() -> bool:
            out = subprocess.run([str(script), "--root", str(root), "status"], cwd=tmp_path, env=env,
                                 capture_output=True, text=True, timeout=30)
            return out.returncode == 0
        wait_for(running, timeout=60, interval=0.5, what="every subsystem running")
    finally:
        subprocess.run([str(script), "--root", str(root), "stop"], cwd=tmp_path, env=env,
                       capture_output=True, timeout=60)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        cleanup_root(root)
