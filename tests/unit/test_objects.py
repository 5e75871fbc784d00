"""Object paths, config file locations and object config parsing (omd.objects)."""

from __future__ import annotations

import pytest

from omd.objects import (ObjectConfigError, ObjectPath, ObjectPathError, checksum, instance_config,
                         iter_config_files, parse_config, path_of_config_file)
from omd.paths import Paths


@pytest.mark.parametrize(
    ("text", "namespace", "kind", "name", "canonical"),
    [
        ("svc1", "root", "svc", "svc1", "svc1"),
        ("root/svc/svc1", "root", "svc", "svc1", "svc1"),
        ("vol/v1", "root", "vol", "v1", "vol/v1"),
        ("ns1/svc/foo", "ns1", "svc", "foo", "ns1/svc/foo"),
        ("ns1/vol/v1", "ns1", "vol", "v1", "ns1/vol/v1"),
        ("system/sec/hb", "system", "sec", "hb", "system/sec/hb"),
        ("web.prod-1", "root", "svc", "web.prod-1", "web.prod-1"),
    ],
)
def test_valid_paths_parse_and_normalize(text, namespace, kind, name, canonical):
    """Valid paths parse into namespace, kind, name and print in upstream's canonical form."""
    path = ObjectPath.parse(text)
    assert (path.namespace, path.kind, path.name) == (namespace, kind, name)
    assert str(path) == canonical
    assert ObjectPath.parse(str(path)) == path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "name ''"),
        ("Svc1", "name 'Svc1'"),
        ("-svc", "name '-svc'"),
        ("svc-", "name 'svc-'"),
        ("a..b", "name 'a..b'"),
        ("svc_1", "name 'svc_1'"),
        ("ns1/pod/x", "kind 'pod'"),
        ("NS/svc/x", "namespace 'NS'"),
        ("ns.1/svc/x", "namespace 'ns.1'"),
        ("a/b/c/d", "use name, kind/name or namespace/kind/name"),
        ("x" * 64, "at most 63 characters"),
    ],
)
def test_invalid_paths_are_refused_with_the_reason(text, message):
    """Invalid paths raise ObjectPathError naming the part at fault."""
    with pytest.raises(ObjectPathError) as info:
        ObjectPath.parse(text)
    assert message in str(info.value)


def test_labels_are_upstream_lobj():
    """labels() gives namespace and path, plus node for Lobj; root namespace is 'root'."""
    assert ObjectPath.parse("svc1").labels("n1") == {"namespace": "root", "path": "svc1", "node": "n1"}
    assert ObjectPath.parse("ns1/svc/foo").labels() == {"namespace": "ns1", "path": "ns1/svc/foo"}


def test_config_file_locations_round_trip(tmp_path):
    """Config files live at the documented places and map back to their object."""
    paths = Paths.resolve(tmp_path)
    expected = {
        "svc1": "etc/omd/svc1.conf",
        "vol/v1": "etc/omd/vol/v1.conf",
        "ns1/svc/foo": "etc/omd/namespaces/ns1/svc/foo.conf",
    }
    for text, rel in expected.items():
        path = ObjectPath.parse(text)
        file = path.config_file(paths)
        assert file == tmp_path / rel
        assert path_of_config_file(paths, file) == path
    assert path_of_config_file(paths, paths.etc / "omd.toml") is None
    assert path_of_config_file(paths, paths.etc / "svc" / "x.conf") is None
    assert path_of_config_file(paths, paths.etc / "namespaces" / "root" / "svc" / "x.conf") is None
    assert path_of_config_file(paths, paths.etc / "Bad_Name.conf") is None


def test_iter_config_files_finds_every_layout(tmp_path):
    """iter_config_files lists the objects of all three layouts and skips other files."""
    paths = Paths.resolve(tmp_path)
    for rel in ("svc1.conf", "vol/v1.conf", "namespaces/ns1/svc/foo.conf", "omd.toml", "notes.txt"):
        file = paths.etc / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("")
    assert sorted(str(p) for p, _ in iter_config_files(paths)) == ["ns1/svc/foo", "svc1", "vol/v1"]


def test_parse_config_defaults_and_resources():
    """A minimal config is a failover object on this node; resources keep their keys."""
    cfg = parse_config("[DEFAULT]\n[fs#1]\nmonitor = true\nrestart = 2\nrestart_delay = 1s\n[env]\nx = 1\n", "n1")
    assert cfg.nodes == ["n1"] and cfg.topology == "failover" and cfg.orchestrate == "no"
    assert cfg.priority == 50
    assert list(cfg.resources) == ["fs#1"]
    res = cfg.resources["fs#1"]
    assert res.is_monitored and not res.is_disabled and res.restart == 2 and res.restart_delay == 1_000_000_000


def test_parse_config_flex_and_nodes():
    """flex_min/max/target are read and checked; nodes split on spaces and commas."""
    cfg = parse_config("[DEFAULT]\nnodes = n1, n2 n3\ntopology = flex\nflex_min = 2\n", "n1")
    assert cfg.nodes == ["n1", "n2", "n3"]
    assert (cfg.flex_min, cfg.flex_max, cfg.flex_target) == (2, 3, 2)
    assert parse_config("[DEFAULT]\nnodes = *\n", "n9").nodes == ["n9"]


def test_default_section_does_not_leak_into_resources():
    """[DEFAULT] keys are not inherited by resource sections (unlike configparser's default)."""
    cfg = parse_config("[DEFAULT]\ndisable = true\n[app#1]\n", "n1")
    assert cfg.is_disabled and not cfg.resources["app#1"].is_disabled


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[DEFAULT]\ntopology = spread\n", "[DEFAULT] topology: 'spread'"),
        ("[DEFAULT]\ntopology = flex\nflex_min = two\n", "[DEFAULT] flex_min: 'two' is not an integer"),
        ("[DEFAULT]\ntopology = flex\nnodes = a b\nflex_min = 3\n", "flex_min: 3 is above flex_max 2"),
        ("[DEFAULT]\norchestrate = maybe\n", "[DEFAULT] orchestrate"),
        ("[fs#1]\nmonitor = perhaps\n", "[fs#1] monitor: 'perhaps' is not a boolean"),
        ("[fs#1]\nrestart_delay = soon\n", "[fs#1] restart_delay: invalid duration"),
        ("[fs#]\n", "[fs#]: invalid resource id"),
        ("[DEFAULT\nnodes = a\n", "invalid INI"),
        ("nodes = a\n", "invalid INI"),
        ("[DEFAULT]\nnodes = a/b\n", "[DEFAULT] nodes: 'a/b'"),
    ],
)
def test_parse_config_errors_name_section_and_key(text, message):
    """Bad configs raise ObjectConfigError naming the section and the key."""
    with pytest.raises(ObjectConfigError) as info:
        parse_config(text, "n1")
    assert message in str(info.value)


def test_instance_config_shape_for_actor_and_other_kinds():
    """svc instance configs carry upstream's actor fields (flex only for flex); cfg only the base."""
    text = "[DEFAULT]\ntopology = flex\nflex_max = 1\n[fs#1]\n"
    cfg = parse_config(text, "n1")
    ic = instance_config(ObjectPath.parse("svc1"), cfg, checksum(text.encode()), "2026-01-01T00:00:00Z")
    assert ic["csum"] == checksum(text.encode()) and len(ic["csum"]) == 32
    assert ic["scope"] == ["n1"] and ic["topology"] == "flex"
    assert ic["flex"] == {"min": 1, "max": 1, "target": 1}
    assert ic["resources"] == {"fs#1": {"is_disabled": False, "is_monitored": False, "is_standby": False,
                                        "restart": 0, "restart_delay": 500_000_000}}
    assert ic["updated_at"] == "2026-01-01T00:00:00Z"
    failover = instance_config(ObjectPath.parse("svc1"), parse_config("", "n1"), "x")
    assert "flex" not in failover
    base = instance_config(ObjectPath.parse("ns1/cfg/c"), parse_config("", "n1"), "x", "t")
    assert base == {"csum": "x", "priority": 50, "scope": ["n1"], "updated_at": "t"}


def test_a_config_file_that_names_no_object_is_logged_once(tmp_path):
    """`Bad_Name.conf` was skipped without a word: now a warning names it, once."""
    import structlog.testing

    from omd import objects

    paths = Paths.resolve(tmp_path)
    paths.etc.mkdir(parents=True)
    (paths.etc / "Bad_Name.conf").write_text("[DEFAULT]\n")
    (paths.etc / "good.conf").write_text("[DEFAULT]\n")
    objects._ignored_logged.discard(str(paths.etc / "Bad_Name.conf"))
    with structlog.testing.capture_logs() as logs:
        assert [str(p) for p, _ in iter_config_files(paths)] == ["good"]
        assert [str(p) for p, _ in iter_config_files(paths)] == ["good"]
    ignored = [e for e in logs if e["event"] == "object_config_ignored"]
    assert len(ignored) == 1 and ignored[0]["file"].endswith("Bad_Name.conf") and ignored[0]["log_level"] == "warning"
