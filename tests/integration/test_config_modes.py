"""Files other users could change are refused, like sshd's StrictModes (omd.filemodes).

`omd --check-config` exits 2 naming the file and its mode, `omd run` refuses to start, and a
SIGHUP keeps the running configuration; secrets others can read are warned about.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pytest

from omd.paths import Paths
from tests.helpers import REPO, wait_for

NOBODY = 65534


def omd(root, *args, timeout=60):
    env = {k: v for k, v in os.environ.items() if k != "OMD_ROOT"}
    return subprocess.run([sys.executable, "-m", "omd", "--root", str(root), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=REPO)


def write_config(root, text="[node]\nname = \"n1\"\n", mode=0o644):
    paths = Paths.resolve(root)
    paths.etc.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(text)
    os.chmod(paths.config_file, mode)
    return paths


def test_safe_config_passes(root):
    write_config(root)
    done = omd(root, "--check-config")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_config_writable_by_others_refused(root, mode):
    paths = write_config(root, mode=mode)
    done = omd(root, "--check-config")
    assert done.returncode == 2
    assert f"{paths.config_file} (mode {mode:04o}, owner root) is writable by" in done.stderr
    assert "Traceback" not in done.stderr


def test_config_directory_writable_by_others_refused(root):
    paths = write_config(root)
    os.chmod(paths.etc, 0o777)
    done = omd(root, "--check-config")
    assert done.returncode == 2
    assert f"{paths.etc} (mode 0777, owner root) is writable by group and others" in done.stderr


def test_root_directory_writable_refused_but_sticky_accepted(root):
    write_config(root)
    os.chmod(root, 0o777)
    done = omd(root, "--check-config")
    assert done.returncode == 2 and f"{root} (mode 0777" in done.stderr
    os.chmod(root, 0o1777)  # like /tmp: nobody can replace etc/ but its owner
    done = omd(root, "--check-config")
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_config_owned_by_another_user_refused(root):
    paths = write_config(root)
    os.chown(paths.config_file, NOBODY, -1)
    done = omd(root, "--check-config")
    assert done.returncode == 2
    assert f"{paths.config_file} (mode 0644, owner" in done.stderr
    assert "owned by another user" in done.stderr


def test_job_executable_in_writable_directory_refused(root):
    bindir = root / "bin"
    bindir.mkdir()
    job = bindir / "job.sh"
    job.write_text("#!/bin/sh\nexit 0\n")
    job.chmod(0o755)
    write_config(root, f'[scheduler]\njobs = [{{name = "j", command = ["{job}"], interval = 60.0}}]\n')
    assert omd(root, "--check-config").returncode == 0
    job.chmod(0o777)
    done = omd(root, "--check-config")
    assert done.returncode == 2
    assert f"scheduler.jobs[0] (j): command {job}: refused: {job} (mode 0777" in done.stderr
    job.chmod(0o755)
    bindir.chmod(0o777)
    done = omd(root, "--check-config")
    assert done.returncode == 2 and f"{bindir} (mode 0777" in done.stderr


def test_job_through_symlink_checks_the_target(root):
    bad = root / "bad"
    bad.mkdir()
    bad.chmod(0o777)
    target = bad / "job"
    target.write_text("#!/bin/sh\nexit 0\n")
    target.chmod(0o755)
    good = root / "good"
    good.mkdir()
    (good / "job").symlink_to(target)
    write_config(root, f'[scheduler]\njobs = [{{name = "j", command = ["{good / "job"}"], interval = 60.0}}]\n')
    done = omd(root, "--check-config")
    assert done.returncode == 2 and f"{bad} (mode 0777" in done.stderr


def test_tokens_readable_by_others_warned(root):
    text = '[gateway]\ntokens = [{name = "ops", token = "s3cret-token", role = "operator"}]\n'
    paths = write_config(root, text, mode=0o644)
    done = omd(root, "--check-config")
    assert done.returncode == 0
    assert (f"warning: {paths.config_file} (mode 0644, owner root) holds [gateway] tokens and is "
            "readable by group or others: chmod 0600 it") in done.stderr
    os.chmod(paths.config_file, 0o600)
    done = omd(root, "--check-config")
    assert done.returncode == 0 and done.stderr == ""


def test_run_refuses_an_unsafe_config(root):
    paths = write_config(root, mode=0o666)
    done = omd(root, "run", timeout=60)
    assert done.returncode == 2
    assert f"{paths.config_file} (mode 0666" in done.stderr
    assert not paths.pid_file.exists() or not paths.pid_file.read_text().strip()


def test_cluster_secret_created_0600_and_a_readable_one_refused(daemon_factory, root):
    d = daemon_factory()
    secret = d.paths.secret_file
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    d.stop()
    secret.chmod(0o644)
    done = omd(root, "run", timeout=60)
    assert done.returncode == 2
    assert f"{secret} (mode 0644, owner root): a secret must be" in done.stderr


def test_sighup_keeps_the_running_config_when_the_file_became_unsafe(daemon_factory, root):
    marker = root / "ran"
    base = "[daemon]\nwatchdog_interval = 0.5\n"
    d = daemon_factory(base)
    job = (f'[scheduler]\njobs = [{{name = "evil", command = ["/bin/sh", "-c", "touch {marker}"], '
           'interval = 0.2}]\n')
    d.paths.config_file.write_text(base + job)
    d.paths.config_file.chmod(0o666)
    os.kill(d.proc.pid, signal.SIGHUP)
    wait_for(lambda: "config_reload_failed" in d.log(), timeout=20, what="reload refused")
    line = next(line for line in d.log().splitlines() if "config_reload_failed" in line)
    assert f"{d.paths.config_file} (mode 0666" in line and "running configuration" in line
    # The file made safe again is taken: the refusal was about the mode, nothing else.
    d.paths.config_file.chmod(0o644)
    os.kill(d.proc.pid, signal.SIGHUP)
    wait_for(marker.exists, timeout=30, what="the job of the reloaded config")
