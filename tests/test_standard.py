"""The descriptor and Table Schemas checked against the standard's profiles by frictionless (opimpact.standard)."""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opimpact import standard
from opimpact.standard import DESCRIPTOR, NOT_CHECKED, StandardProblem, standard_problems

REPO = Path(__file__).resolve().parent.parent


def shipped() -> tuple[dict, dict[str, dict]]:
    descriptor = json.loads((REPO / "datapackage.json").read_text(encoding="utf-8"))
    schemas = {entry["name"]: json.loads((REPO / entry["schema"]).read_text(encoding="utf-8"))
               for entry in descriptor["resources"]}
    return descriptor, schemas


def index_of(descriptor: dict, name: str) -> int:
    return next(i for i, entry in enumerate(descriptor["resources"]) if entry["name"] == name)


def field_index(schema: dict, name: str) -> int:
    return next(i for i, field in enumerate(schema["fields"]) if field["name"] == name)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to resolve a name, connect or send is recorded and fails.

    Making a socket is allowed: urllib3 (under frictionless) binds one to ::1 on import to learn whether
    IPv6 works, which sends nothing.
    """
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("the standard check tried to use the network")

    class NoTraffic(socket.socket):
        connect = connect_ex = sendto = sendmsg = refuse

    monkeypatch.setattr(socket, "socket", NoTraffic)
    for name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex", "socketpair"):
        monkeypatch.setattr(socket, name, refuse)
    return attempts


def test_the_network_guard_works(no_network):
    with pytest.raises(AssertionError):
        socket.create_connection(("example.org", 80))
    with pytest.raises(AssertionError), socket.socket() as sock:
        sock.connect(("127.0.0.1", 9))
    assert len(no_network) == 2


def test_shipped_package_meets_the_standard(no_network, capfd):
    descriptor, schemas = shipped()
    before = copy.deepcopy((descriptor, schemas))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert standard_problems(descriptor, schemas) == []
    assert (descriptor, schemas) == before  # the caller's dicts are left alone
    assert capfd.readouterr() == ("", "")
    assert no_network == []


def _untabular(descriptor, schemas):
    del descriptor["resources"][index_of(descriptor, "assets")]["profile"]


def _unknown_type(descriptor, schemas):
    schemas["assets"]["fields"][field_index(schemas["assets"], "kind")]["type"] = "text"


def _composite_fk_on_single_reference(descriptor, schemas):
    schemas["events"]["foreignKeys"] = [
        {"fields": ["source_id", "event_id"], "reference": {"resource": "sources", "fields": ["source_id"]}}]


def _no_fields(descriptor, schemas):
    del schemas["quotes"]["fields"]


@pytest.mark.parametrize("damage, where, location, kind, words", [
    (_untabular, DESCRIPTOR, "/resources/{assets}", "package-error",
     'profile "tabular-data-package" requires all the resources to be "tabular-data-resource"'),
    (_unknown_type, "assets", "/fields/{kind}", "field-error", 'field type "text" is not supported'),
    (_composite_fk_on_single_reference, "events", "/foreignKeys/0", "schema-error",
     "foreign key fields \"['source_id', 'event_id']\" does not match the reference fields \"['source_id']\""),
    (_no_fields, "quotes", None, "schema-error", "'fields' is a required property"),
], ids=["resource-not-tabular", "unknown-field-type", "fk-fields-2-vs-1", "no-fields"])
def test_each_departure_is_reported_in_the_standards_words_at_its_place(damage, where, location, kind, words, no_network):
    descriptor, schemas = shipped()
    damage(descriptor, schemas)
    if location:
        location = location.format(assets=index_of(descriptor, "assets"),
                                   kind=field_index(schemas["assets"], "kind"))
    problems = standard_problems(descriptor, schemas)
    assert [(p.where, p.location, p.kind) for p in problems] == [(where, location, kind)], problems
    assert words in problems[0].message
    assert no_network == []


def test_every_resource_at_fault_is_named():
    descriptor, schemas = shipped()
    for name in ("assets", "quotes"):
        del descriptor["resources"][index_of(descriptor, name)]["profile"]
    problems = standard_problems(descriptor, schemas)
    assert [p.location for p in problems] == [f"/resources/{index_of(descriptor, name)}" for name in ("assets", "quotes")]


def test_a_resources_own_profile_error_is_placed_inside_it():
    descriptor, schemas = shipped()
    descriptor["resources"][index_of(descriptor, "quotes")]["name"] = "Quotes!"
    descriptor["licenses"] = "CC-BY-4.0"
    problems = standard_problems(descriptor, schemas)
    assert {(p.location, p.kind) for p in problems} == {
        ("/licenses", "package-error"), (f"/resources/{index_of(descriptor, 'Quotes!')}/name", "resource-error")}
    assert all("at property" in p.message for p in problems)


def test_an_inline_schema_is_checked_once_under_its_resource_name():
    descriptor, schemas = shipped()
    for entry in descriptor["resources"]:
        entry["schema"] = schemas[entry["name"]]
    schemas["assets"]["fields"][0]["type"] = "txt"
    problems = standard_problems(descriptor, schemas)
    assert [(p.where, p.location) for p in problems] == [("assets", "/fields/0")]
    # Without the schemas at hand, the inline one is checked within the descriptor.
    problems = standard_problems(descriptor, {})
    assert [(p.where, p.location) for p in problems] == [(DESCRIPTOR, f"/resources/{index_of(descriptor, 'assets')}")]


@pytest.mark.parametrize("change", [
    lambda d: d.update(profile="https://example.org/profile.json"),
    lambda d: d.update(profiles=["https://example.org/profile.json"]),
    lambda d: d.update(profile="fiscal-data-package"),
    lambda d: d["resources"][0].update(profile="http://example.org/resource-profile.json"),
], ids=["package-profile-url", "package-profiles-url", "fiscal", "resource-profile-url"])
def test_a_custom_profile_is_never_fetched_and_said_unchecked(change, no_network):
    descriptor, schemas = shipped()
    change(descriptor)
    problems = standard_problems(descriptor, schemas)
    unchecked = [p for p in problems if p.kind == NOT_CHECKED]
    assert len(unchecked) == 1 and "custom profile" in unchecked[0].message, problems
    assert unchecked[0].location.endswith(("/profile", "/profiles"))
    assert no_network == []


def test_remote_paths_and_schemas_are_not_fetched(no_network):
    descriptor, schemas = shipped()
    descriptor["$schema"] = "https://example.org/custom-datapackage.json"
    descriptor["resources"][0]["path"] = "https://example.org/events.csv"
    descriptor["resources"][1]["schema"] = "https://example.org/assets.schema.json"
    descriptor["resources"][2]["dialect"] = "https://example.org/dialect.json"
    assert standard_problems(descriptor, schemas) == []
    assert no_network == []


def test_a_local_profile_is_never_read(tmp_path, monkeypatch):
    trap = {"type": "object", "required": ["read-by-frictionless"]}
    (tmp_path / "profile.json").write_text(json.dumps(trap), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # where frictionless would look for it
    descriptor, schemas = shipped()
    descriptor["resources"][0]["profile"] = "profile.json"
    problems = standard_problems(descriptor, schemas)
    assert not any("read-by-frictionless" in p.message for p in problems)
    assert any(p.kind == NOT_CHECKED and p.location == "/resources/0/profile" for p in problems)


def _deep(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"fields": [value]}
    return value


@pytest.mark.parametrize("descriptor, schemas", [
    ("datapackage.json", {"events": "schemas/events.schema.json"}),  # strings would be read as paths
    (None, None),
    ([], {"events": []}),
    ({"resources": "events", "name": 10**5000}, {}),  # an integer too long to render in a message
    ({"resources": [None, 1, [], {"name": ["x"], "path": {"a": 1}}], "profile": 5}, {}),
    ({"name": "x", "resources": [{"name": "r", "path": "r.csv", "schema": _deep(3000)}]}, {"r": _deep(3000)}),
    ({"resources": [{"name": f"r{i}", "path": "r.csv"} for i in range(10_000)]}, {}),
    ({}, {"a": {"fields": [{"name": "a", "type": "t" * 100_000}]}, "b": {"fields": [{}] * 5000}}),
    ({}, {"c": {"fields": [{"name": "c"}], "primaryKey": {"x": 1}, "foreignKeys": [{"fields": 1, "reference": 2}]}}),
], ids=["strings", "none", "lists", "huge-int", "wrong-types", "deep", "many-resources", "long-and-many", "odd-keys"])
def test_hostile_input_gives_problems_never_an_exception(descriptor, schemas, no_network, capfd):
    problems = standard_problems(descriptor, schemas)
    assert problems and all(isinstance(p, StandardProblem) for p in problems)
    assert all(len(p.message) <= standard.MAX_MESSAGE_CHARS for p in problems)
    assert all(p.location is None or len(p.location) <= standard.MAX_LOCATION_CHARS for p in problems)
    assert capfd.readouterr() == ("", "")
    assert no_network == []


def test_a_check_that_cannot_run_is_said_so():
    schema = {"fields": [{"name": "n", "type": "integer", "example": 10**5000}]}
    problems = standard_problems({}, {"n": schema})
    unchecked = [p for p in problems if p.where == "n"]
    assert len(unchecked) == 1 and unchecked[0].kind == NOT_CHECKED, problems
    assert "could not run" in unchecked[0].message


def test_without_frictionless_nothing_is_claimed_checked(monkeypatch):
    monkeypatch.setitem(sys.modules, "frictionless", None)  # as if it were not installed
    problems = standard_problems(*shipped())
    assert [(p.where, p.kind) for p in problems] == [(DESCRIPTOR, NOT_CHECKED)]
    assert "frictionless cannot be imported" in problems[0].message


def test_many_problems_are_counted_not_listed():
    schema = {"fields": [{"name": f"f{i}", "type": "string"} for i in range(300)],
              "primaryKey": [f"missing{i}" for i in range(300)]}
    problems = standard_problems({}, {"s": schema})
    listed = [p for p in problems if p.where == "s"]
    assert len(listed) == standard.MAX_PROBLEMS + 1
    assert listed[-1].message == f"and {300 - standard.MAX_PROBLEMS} more problems"


def test_frictionless_is_imported_only_when_called():
    code = "import sys, opimpact.standard; assert 'frictionless' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                     max_leaves=20)
_keys = st.sampled_from(["name", "path", "profile", "profiles", "resources", "schema", "fields", "type",
                         "primaryKey", "foreignKeys", "reference", "resource", "format", "constraints", "$schema"])
_descriptorish = st.recursive(_json, lambda inner: st.dictionaries(_keys, inner, max_size=5) | st.lists(inner, max_size=3),
                              max_leaves=25)


@settings(max_examples=60, deadline=None)
@given(descriptor=st.dictionaries(_keys, _descriptorish, max_size=5),
       schemas=st.dictionaries(st.text(max_size=5), st.dictionaries(_keys, _descriptorish, max_size=4), max_size=2))
def test_any_json_gives_well_formed_problems(descriptor, schemas):
    before = copy.deepcopy((descriptor, schemas))
    problems = standard_problems(descriptor, schemas)
    assert all(isinstance(p, StandardProblem) and isinstance(p.message, str) and isinstance(p.kind, str)
               for p in problems)
    assert {p.where for p in problems} <= {DESCRIPTOR, *schemas}
    assert (descriptor, schemas) == before


def test_frictionless_deprecation_notes_do_not_leak(capfd):
    descriptor, schemas = shipped()
    descriptor["resources"][0]["compression"] = "no"  # frictionless warns that this framework value is deprecated
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        standard_problems(descriptor, schemas)
    assert caught == []
    assert capfd.readouterr() == ("", "")
