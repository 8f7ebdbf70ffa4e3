"""Parsed YAML kept between runs: always the document `yaml.load` gives, never stale, and
never in the way (a broken or unwritable cache only means parsing again)."""

from __future__ import annotations

import datetime

import pytest
import yaml

from envoy_events_kit import spec_path
from envoy_events_kit.documents import load_yaml

LOADER = yaml.SafeLoader


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ENVOY_EVENTS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "yaml"


def test_the_spec_read_back_equals_the_spec_parsed(cache):
    raw = spec_path().read_bytes()
    first = load_yaml(raw, LOADER)
    assert first == yaml.load(raw, Loader=LOADER)
    [kept] = cache.iterdir()
    assert load_yaml(raw, LOADER) == first
    assert list(cache.iterdir()) == [kept]  # read back, not written again


def test_edited_bytes_are_parsed_afresh():
    assert load_yaml(b"a: 1\n", LOADER) == {"a": 1}
    assert load_yaml(b"a: 2\n", LOADER) == {"a": 2}


def test_a_corrupt_cache_file_is_parsed_over(cache):
    load_yaml(b"a: 1\n", LOADER)
    [kept] = cache.iterdir()
    kept.write_bytes(b"\x00not marshal")
    assert load_yaml(b"a: 1\n", LOADER) == {"a": 1}


def test_an_unwritable_cache_is_ignored(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("ENVOY_EVENTS_CACHE_DIR", str(blocker))
    assert load_yaml(b"a: [1, 2]\n", LOADER) == {"a": [1, 2]}


def test_what_marshal_cannot_hold_is_loaded_but_not_kept(cache):
    assert load_yaml(b"at: 2026-01-01T00:00:00Z\n", LOADER) == {
        "at": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)}
    assert not cache.exists() or not list(cache.iterdir())


def test_yaml_errors_reach_the_caller():
    with pytest.raises(yaml.YAMLError):
        load_yaml(b"a: [1, 2\n", LOADER)
