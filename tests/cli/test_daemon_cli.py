"""`omd` and `om daemon` as real subprocesses at the edges: bad files, crash-looping subsystems."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import REPO


def _omd(root, *args, timeout=30):
    return subprocess.run([sys.executable, "-m", "omd", "--root", str(root), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, env={**os.environ, "OMD_ROOT": ""})


def _write_config(root, text: str) -> None:
    conf = root / "etc" / "omd" / "omd.toml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(text)


def test_check_config_refuses_a_missing_tls_cert_naming_the_key(root):
    """`omd --check-config` exits 2 naming `gateway.tls_cert` when the certificate does not exist."""
    key = root / "key.pem"
    key.write_text("not used: the certificate is checked first\n")
    _write_config(root, f'[gateway]\ntcp_listen = "127.0.0.1:1215"\n'
                        f'tls_cert = "{root}/missing.pem"\ntls_key = "{key}"\n')
    result = _omd(root, "--check-config")
    assert result.returncode == 2, result
    assert f"gateway.tls_cert: {root}/missing.pem: no such file" in result.stderr
    assert "Traceback" not in result.stderr
