"""``tokcount serve --help`` lists every setting with its default and its environment variable, and each variable
it names really sets that setting."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from tokcount.cli import build_parser
from tokcount.settings import Settings

LINE = re.compile(r"^  (\w+) = (.*?)  \[(TOKCOUNT_\w+|TOML only)")


def _help(capsys: pytest.CaptureFixture[str]) -> dict[str, tuple[object, str]]:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    out = capsys.readouterr().out
    return {m[1]: (json.loads(m[2]), m[3]) for m in map(LINE.match, out.splitlines()) if m}


def test_every_setting_is_listed_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    listed = _help(capsys)
    fields = [f.name for f in dataclasses.fields(Settings) if f.name != "sources"]
    assert sorted(listed) == sorted(fields)
    for name, (default, _) in listed.items():
        real = getattr(Settings(), name)
        assert default == (list(real) if isinstance(real, tuple) else real), name


def _other(value: object, name: str) -> str:
    if isinstance(value, bool):
        return "false" if value else "true"
    if isinstance(value, int | float):
        return str(value + 1)
    if isinstance(value, tuple):
        return "org/a,org/b"
    return "json" if name == "access_log" else "some-model"


def test_each_named_variable_sets_its_setting(capsys: pytest.CaptureFixture[str]) -> None:
    for name, (_, env) in _help(capsys).items():
        if env == "TOML only":
            continue
        value = _other(getattr(Settings(), name), name)
        assert getattr(Settings.load(env={env: value}), name) != getattr(Settings(), name), (name, env)
