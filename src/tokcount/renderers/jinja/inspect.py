"""What a chat template does with its input, read from its Jinja syntax tree once per template."""

from __future__ import annotations

from functools import lru_cache

import jinja2.nodes as nodes
from jinja2 import meta

from .jinja_env import parse_template


def _is_content_access(node: nodes.Node, tainted: set[str]) -> bool:
    """Whether an expression *is* a message's content: ``m.content``, ``m['content']``, ``m.get('content')``, a
    variable named ``content`` (macro parameters), or a variable assigned from one of those. Method calls on the
    content (``content.split(...)``) are not: they mean the template expects a string."""
    if isinstance(node, nodes.Name):
        return node.name == "content" or node.name in tainted
    if isinstance(node, nodes.Getattr):
        return node.attr == "content"
    if isinstance(node, nodes.Getitem):
        return isinstance(node.arg, nodes.Const) and node.arg.value == "content"
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) and node.node.attr == "get":
        return bool(node.args) and isinstance(node.args[0], nodes.Const) and node.args[0].value == "content"
    if isinstance(node, nodes.Filter) and node.node is not None:  # content | list, content | selectattr(...)
        return _is_content_access(node.node, tainted)
    return False


@lru_cache(maxsize=256)
def iterates_content(source: str) -> bool:
    """True when the template loops over a message's content (directly or inside a macro), so a list of parts
    must be passed as a list; otherwise vLLM's convention joins the text parts with newlines."""
    tree = parse_template(source)
    tainted: set[str] = set()
    for _ in range(3):  # a few rounds propagate aliases of aliases (set c = msg.content; set d = c)
        for assign in tree.find_all(nodes.Assign):
            if isinstance(assign.target, nodes.Name) and _is_content_access(assign.node, tainted):
                tainted.add(assign.target.name)
    return any(_is_content_access(loop.iter, tainted) for loop in tree.find_all(nodes.For))


@lru_cache(maxsize=256)
def free_variables(source: str) -> frozenset[str]:
    """The names the template reads from its context (what a caller may pass): ``tools_ts_str`` in a template
    means Kimi's tokenizer computes that variable before rendering (:mod:`.typescript_tools`)."""
    return frozenset(meta.find_undeclared_variables(parse_template(source)))
