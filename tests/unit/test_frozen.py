"""Frozen flag files: freeze, thaw and frozen_at (omd.frozen)."""

from __future__ import annotations

from omd import frozen
from omd.model.events import ZERO_TIME
from omd.objects import ObjectPath
from omd.paths import Paths


def test_node_freeze_is_idempotent_and_thaw_removes(tmp_path):
    """Freezing twice keeps the first frozen_at (file mtime, RFC 3339 ns); thawing gives ZERO_TIME."""
    paths = Paths.resolve(tmp_path)
    assert frozen.node_frozen_at(paths) == ZERO_TIME
    at = frozen.freeze_node(paths)
    assert at.endswith("Z") and len(at.split(".")[1]) == 10
    assert frozen.freeze_node(paths) == at == frozen.node_frozen_at(paths)
    assert frozen.node_flag(paths) == tmp_path / "var/lib/omd/node/frozen"
    assert frozen.unfreeze_node(paths) is True
    assert frozen.unfreeze_node(paths) is False
    assert frozen.node_frozen_at(paths) == ZERO_TIME


def test_instance_flags_layout_and_listing(tmp_path):
    """Instance flags live under var/lib/omd/namespaces/<ns>/<kind>/<name> and are listed by path."""
    paths = Paths.resolve(tmp_path)
    at = frozen.freeze_instance(paths, "svc1")
    frozen.freeze_instance(paths, ObjectPath.parse("ns1/vol/v1"))
    assert frozen.instance_flag(paths, "svc1") == tmp_path / "var/lib/omd/namespaces/root/svc/svc1/frozen"
    assert frozen.instance_frozen_at(paths, "svc1") == at
    listed = {str(p): a for p, a in frozen.iter_instance_flags(paths).items()}
    assert set(listed) == {"svc1", "ns1/vol/v1"} and listed["svc1"] == at
    assert frozen.unfreeze_instance(paths, "svc1")
    assert frozen.instance_frozen_at(paths, "svc1") == ZERO_TIME
    assert frozen.path_of_instance_flag(paths, tmp_path / "var/lib/omd/namespaces/x/y") is None
