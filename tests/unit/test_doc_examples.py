"""Every configuration example in the docs and in conf/omd.toml works as written: each is
loaded by the real config loader (the token example of conf/omd.toml was refused by the
8-character minimum while it was there to be copied)."""

from __future__ import annotations

import re
import tomllib

import pytest
import zmq

from omd import config
from tests.helpers import REPO

CONF = REPO / "conf" / "omd.toml"


def _commented_examples() -> list[tuple[str, str]]:
    """(section, example line) for each `#   key = value` example of conf/omd.toml."""
    found, section = [], ""
    for line in CONF.read_text().splitlines():
        header = re.match(r"^\[([^\]]+)\]\s*$", line)
        if header:
            section = header.group(1)
        m = re.match(r"^#\s{3}([a-z_]+ = .*)$", line)
        if m:
            found.append((section, m.group(1)))
    return found


def _toml_blocks() -> list[tuple[str, str]]:
    """(file, text) of each ```toml block of the docs and the README."""
    blocks = []
    for path in sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]:
        for m in re.finditer(r"```toml\n(.*?)```", path.read_text(), re.S):
            blocks.append((path.name, m.group(1)))
    return blocks


def test_conf_omd_toml_loads_as_it_is():
    parsed = config.parse(CONF.read_text(), str(CONF))
    assert parsed == config.parse("", "<defaults>"), "conf/omd.toml must give the defaults"


@pytest.mark.parametrize("section,example", _commented_examples(), ids=lambda v: str(v)[:40])
def test_each_commented_example_of_conf_omd_toml_loads(section, example):
    config.parse(f"[{section}]\n{example}\n", f"conf/omd.toml example in [{section}]")


def test_there_are_commented_examples_to_check():
    assert {s for s, _ in _commented_examples()} >= {"gateway", "scheduler"}


@pytest.mark.parametrize("name,text", _toml_blocks(), ids=lambda v: str(v)[:30])
def test_each_toml_block_of_the_docs_loads(name, text, tmp_path):
    """Placeholders in angle brackets are the only part the reader must fill in: they are
    replaced by real values (a CURVE key made here), paths by files made here."""
    public, secret = zmq.curve_keypair()
    key_file = tmp_path / "bus.key_secret"
    key_file.write_text(f'metadata\ncurve\n    public-key = "{public.decode()}"\n    secret-key = "{secret.decode()}"\n')
    key_file.chmod(0o600)
    unknown = [p for p in re.findall(r"<[^>]*>", text) if "Z85" not in p]
    assert not unknown, f"{name}: placeholders this test cannot fill: {unknown}"
    # (a Z85 key may itself hold a '<': substitute after the check)
    text = re.sub(r"<[^>]*Z85[^>]*>", lambda _: zmq.curve_keypair()[0].decode(), text)
    text = text.replace("/etc/omd/bus.key_secret", str(key_file))
    config.parse(text, f"{name} toml block")


def test_the_contexts_example_of_docs_cli_md_is_valid_toml_with_what_ox_reads():
    block = re.search(r"# ~/.config/omd/contexts.toml\n((?:    .*\n)+)", (REPO / "docs" / "cli.md").read_text())
    assert block
    doc = tomllib.loads("\n".join(line[4:] for line in block.group(1).splitlines()))
    prod = doc["contexts"]["prod"]
    assert prod["server"].startswith("https://") and "token" in prod and "ca" in prod
