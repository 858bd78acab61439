"""Chat templates that would run away or allocate gigabytes: the runaway templates of the render-limit, isolation,
playground and fit tests."""

from __future__ import annotations

NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
HUGE_REPEAT = "{{ 'a' * 10**10 }}"
GIGABYTE = "{% for i in range(1000) %}{{ 'a' * 1000000 }}{% endfor %}"
RECURSIVE = ("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}")

#: hostile templates installed as models by name (tests/support/hostile_models.py)
HOSTILE = {"runaway": NESTED, "repeat": HUGE_REPEAT, "gigabyte": GIGABYTE, "recursive": RECURSIVE,
           "broken": "{% for m in messages %}{{ m.content }\n{% endfor %}",
           # ~50 ms of looping: past the event loop's 20 ms budget, so the server moves it to a thread, where it
           # succeeds
           "slow-ok": "{% for i in range(300) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"
                      "{{ messages[0].content }}"}
