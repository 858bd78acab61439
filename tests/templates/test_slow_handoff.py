"""A render that turns slow on a counting thread hands its job to the slow pool (limits.SlowRender) instead of
holding the thread, and the slow pool's identical render adopts the one in flight: the template runs once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tokcount.errors import RenderLimit, RenderTimeout
from tokcount.renderers.jinja import limits, render_pool
from tokcount.renderers.jinja.render import render

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared

SLOW = "{% for i in range(300) %}{% for j in range(20000) %}{% endfor %}{% endfor %}{{ messages[0].content }}"
COUNTING = limits.Limits(timeout_s=20.0, isolated=True, processes=2, hand_off=True)
SLOW_POOL = limits.Limits(timeout_s=20.0, isolated=True, processes=2)
MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterator[None]:
    render_pool.shutdown()
    yield
    render_pool.shutdown()


def _render(source: str, bounds: limits.Limits) -> str:
    with limits.active(bounds):
        return render(source, MESSAGES, None, add_generation_prompt=True, continue_final=False, variables={})


def test_slow_render_is_handed_off_and_adopted() -> None:
    started = time.monotonic()
    with pytest.raises(limits.SlowRender):
        _render(SLOW, COUNTING)
    handed_off = time.monotonic() - started
    pool = render_pool._POOL
    assert pool is not None and len(pool._abandoned) == 1
    (pending,) = pool._abandoned.values()
    # the counting thread was freed soon after the render turned slow, which is judged by the render's CPU time:
    # read from its process, so a loaded machine (which stretches the wall time of every render) changes nothing
    assert pending.child.cpu_s() - pending.cpu0 < render_pool.SLOW_S + 0.5
    assert handed_off < render_pool.SLOW_S + 20  # and never held it until the render's end (20 s budget)
    try:
        assert _render(SLOW, SLOW_POOL) == "Hello"
    except (RenderTimeout, RenderLimit) as exc:  # the loop cap may stop it first; either way it was adopted
        assert "looped" in str(exc) or "budget" in str(exc)
    assert not pool._abandoned


def test_fast_renders_are_not_handed_off() -> None:
    assert _render("{{ messages[0].content }}", COUNTING) == "Hello"
