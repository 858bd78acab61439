"""A dialect declares its whole shape in its own module (and its schema in one more): adding one is those two files.

The toy dialect below is written into two fresh directories added to ``tokcount.dialects`` and ``tokcount.schemas``
(as a new module there would be), and every place that used to keep its own list of dialects must now see it:
the schema registry, the error shape of its paths, fit's message list, the passthrough's native body and the
playground's selector. This is the claim docs/architecture.md makes ("a dialect: 1-2 files"), kept true.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import tokcount.dialects
import tokcount.schemas
from tokcount import routing
from tokcount.dialects import dialects
from tokcount.errors import RouteNotFound
from tokcount.fit import conversation
from tokcount.passthrough.translate import Origin, forwards_as_sent
from tokcount.playground import routes as playground_routes

pytestmark = pytest.mark.no_shared

TOY = '''
"""A toy dialect: ``{"model", "turns": [...]}`` at ``/toy/count``."""
from tokcount.dialects._api import Dialect, Job, Native, Outcome, Route
from tokcount.dialects.openai_chat import parse_message
from tokcount.request import Request


def parse(body, settings):
    return Job(models=[body["model"]], request=Request(messages=[parse_message(m, "turns") for m in body["turns"]]))


def format(job: Job, result: Outcome):
    return {"toy_tokens": result.count.input_tokens}


def error(err):
    return err.status, {"toy_error": err.message}


DIALECT = Dialect("toy", error, conversation=(("turns",),), error_prefixes=("/toy/",),
                  native=Native("toyprovider", ("turns",)), routes=(Route("/toy/count", "toy", parse, format),))
'''

TOY_SCHEMA = '''
from pydantic import BaseModel

from tokcount.schemas import RouteSchema


class ToyBody(BaseModel):
    model: str
    turns: list[dict]


class ToyAnswer(BaseModel):
    toy_tokens: int


class ToyError(BaseModel):
    toy_error: str


ROUTES = {"/toy/count": RouteSchema(ToyBody, ToyAnswer, ToyError)}
'''


def _clear() -> None:
    for cached in (dialects, tokcount.schemas.routes, routing._route_dialects, routing._prefixes, routing._fallback,
                   playground_routes._page_bytes):
        cached.cache_clear()


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The toy dialect's two files, in directories the two packages search (removed, caches cleared, after)."""
    for package, text in ((tokcount.dialects, TOY), (tokcount.schemas, TOY_SCHEMA)):
        where = tmp_path / package.__name__.rsplit(".", 1)[1]
        where.mkdir()
        (where / "zz_toy.py").write_text(textwrap.dedent(text))
        monkeypatch.setattr(package, "__path__", [*package.__path__, str(where)])
    _clear()
    yield
    _clear()


@pytest.mark.usefixtures("toy")
def test_a_dialect_is_its_module_and_its_schema_module() -> None:
    assert dialects()["toy"].routes[0].path == "/toy/count"
    assert tokcount.schemas.for_path("/toy/count") is not None
    # what no route answers under its prefix is in its error shape
    status, body, _ = routing.dialect_for("/toy/nothing-here").failure(RouteNotFound("no route", param=None))
    assert (status, body) == (404, {"toy_error": "no route"})
    # fit trims its message list where it declares it, in its own shape
    found = conversation({"model": "m", "turns": [{"role": "user", "content": "a"}] * 3}, dialects()["toy"])
    assert found is not None and len(found.items) == 3
    assert found.rebuild(found.items[1:]) == {"model": "m", "turns": [{"role": "user", "content": "a"}] * 2}
    # a body of its shape goes to its provider as sent
    assert forwards_as_sent("toyprovider", Origin("toy", {"turns": []}))
    assert not forwards_as_sent("anthropic", Origin("toy", {"turns": []}))
    # and the playground offers it, from the server's list
    assert "toy" in playground_routes.dialect_options()
    assert b'<option value="toy">toy</option>' in playground_routes._page_bytes()


def test_the_playground_page_names_no_dialect_itself() -> None:
    """The page's script reads the selector the server fills; it keeps no list of names that could go stale."""
    from importlib import resources

    script = resources.files("tokcount.playground").joinpath("app.js").read_text("utf-8")
    assert "const DIALECTS = [" not in script
    options = playground_routes.dialect_options()
    assert options[0] == "text" and "vertex" not in options and "bedrock" not in options
    assert set(options[1:]) == {d.name for d in dialects().values() if d.playground}


def test_paths_no_route_claims_fall_to_the_one_declared_fallback() -> None:
    assert [d.name for d in dialects().values() if d.fallback_errors] == ["openai-responses"]
    assert routing.dialect_for("/nowhere").name == "openai-responses"
    assert routing.dialect_for("/v1/messages/batches").name == "anthropic"
    assert routing.dialect_for("/v1/models/gemini-2.5-flash:countTokens").name == "gemini"
    assert routing.dialect_for("/v1/models/gemini-2.5-flash").name == "openai-responses"
    assert routing.dialect_for("/v1beta/models").name == "gemini"
    assert routing.dialect_for("/v1beta1/projects/p").name == "vertex"
