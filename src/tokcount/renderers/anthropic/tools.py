"""Claude's tool rendering, as the estimate counts it: the definitions as the hidden tool-use system prompt lists
them (``<functions><function>{json}</function>...``), an assistant turn's calls as one ``<function_calls>`` block of
``<invoke>`` / ``<parameter>`` elements, a result as a ``<function_results>`` block. The fitted constants for what is
not rendered here are in ``claude_rules.toml`` (``per_call``, ``per_result``, ``tool_prompt``)."""

from __future__ import annotations

import json

from ...request import Request, ToolCallPart, ToolResultPart


def _json(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)


def tool_definitions(req: Request) -> str:
    """The tool definitions as the hidden tool-use system prompt lists them."""
    defs = [{"description": t.description or "", "name": t.name, "parameters": t.parameters or {}} for t in req.tools]
    lines = [f"<function>{_json(d)}</function>" for d in defs]
    return "<functions>\n" + "\n".join(lines) + "\n</functions>"


def tool_calls_text(calls: list[ToolCallPart]) -> str:
    """An assistant turn's tool calls as one ``<function_calls>`` block (parallel calls share it)."""
    out = ["<function_calls>"]
    for c in calls:
        out.append(f'<invoke name="{c.name}">')
        args = c.arguments_object if isinstance(c.arguments_object, dict) else {"input": c.arguments_text}
        for key, value in args.items():
            shown = value if isinstance(value, str) else _json(value)
            out.append(f'<parameter name="{key}">{shown}</parameter>')
        out.append("</invoke>")
    out.append("</function_calls>")
    return "\n".join(out)


def tool_result_text(result: ToolResultPart) -> str:
    return f"<function_results>\n<result>\n{result.text}\n</result>\n</function_results>"
