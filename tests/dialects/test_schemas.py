"""The OpenAPI models (tokcount.schemas) agree with the hand-written parsers and the answers.

- every example of the seed API pages (the curl commands in ../shared/seeds, read with shlex as a shell would),
  every example body of tests/dialects/test_server_seeds.py and every route's docs example validates against the request
  model of its route;
- every field name a dialect's parser reads (found in its source: ``x.get("name")``, ``_get(x, "name")``,
  ``x["name"]``, ``"name" in x``) is a property of a model of that dialect's routes;
- the chat message model lists exactly the keys the parser accepts (the unknown-key rule);
- every 200 answer of a real server on loopback validates against the route's response model, and every error
  answer against the dialect's error model; the served /openapi.json names those models.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, TypeAdapter

from support import seed_examples as seeds
from support.serverkit import running_server
from support.shared import SHARED
from tokcount.dialects import dialects
from tokcount.dialects.openai_chat import MESSAGE_KEYS
from tokcount.schemas import for_path, routes
from tokcount.schemas._common import ChatMessage
from tokcount.settings import Settings

SEEDS = SHARED / "seeds"
if not SEEDS.is_dir():
    SEEDS = Path("/work/shared/seeds")
PNG = seeds.PNG_1X1


def seed_examples() -> list[tuple[str, str, Any]]:
    """(seed file, route path, body) for every curl command with a JSON body in the seed pages."""
    out = []
    for page in sorted(SEEDS.glob("*.txt")):
        text = page.read_text(encoding="utf-8")
        lines = [re.sub(r"^\s*[>$]\s?", "", line) for line in text.splitlines()]
        joined = "\n".join(lines)
        for m in re.finditer(r"curl\b(.*?)(?=```|\n\s*\n(?!\s*[{\[\]}\"]))", joined, re.S):
            try:
                argv = shlex.split(m.group(1).replace("\\\n", " "))
            except ValueError:
                continue
            url = next((a for a in argv if "://" in a and not a.startswith(("-", "{"))), None)
            data = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-d", "--data", "--data-raw")), None)
            if url is None or data is None:
                continue
            try:
                body = json.loads(data)
            except ValueError:
                continue
            path = "/" + url.split("://", 1)[1].split("/", 1)[1].split("?")[0]
            out.append((page.name, path, body))
    return out


def test_every_seed_page_with_a_curl_example_is_read() -> None:
    found = {(name[:3], path) for name, path, _ in seed_examples()}
    assert {("000", "/v1/token/count"), ("002", "/v1/messages/count_tokens"), ("003", "/v1/count_tokens"),
            ("004", "/v1/tokenizers/estimate-token-count")} <= found


@pytest.mark.parametrize(("page", "path", "body"), seed_examples(), ids=lambda v: v if isinstance(v, str) else "")
def test_seed_example_validates(page: str, path: str, body: Any) -> None:
    described = routes()[path]
    assert described.request is not None
    described.request.model_validate(body)


def server_seed_bodies() -> list[tuple[str, Any]]:
    fixed = seeds.SEED_001_AS_WRITTEN.replace('when needed."\n"tools"', 'when needed.",\n"tools"')
    out = [("/v1/token/count", b) for b in seeds.STEPFUN_EXAMPLES.values()]
    out += [("/v1/messages/count_tokens", json.loads(fixed)), ("/v1/messages/count_tokens", seeds.SEED_002),
            ("/v1/count_tokens", seeds.SEED_003)]
    vertex = "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:countTokens"
    out += [(vertex, b) for b in seeds.VERTEX_EXAMPLES.values()]
    out += [("/model/{model}/count-tokens", b) for b in seeds.BEDROCK_EXAMPLES.values()]
    return out


@pytest.mark.parametrize(("path", "body"), server_seed_bodies())
def test_server_seed_bodies_validate(path: str, body: Any) -> None:
    model = routes()[path].request
    assert model is not None
    model.model_validate(body)


def all_routes() -> list[tuple[str, Any]]:
    return [(d.name, r) for d in dialects().values() for r in d.routes if r.path is not None]


@pytest.mark.parametrize(("dialect", "route"), all_routes(), ids=lambda v: v if isinstance(v, str) else v.path)
def test_docs_example_validates(dialect: str, route: Any) -> None:
    model = for_path(route.path).request
    assert model is not None
    model.model_validate(route.example)


def test_every_route_is_described() -> None:
    assert all(for_path(r.path) is not None for _, r in all_routes())
    assert for_path("/v1/tokenize") is routes()["/tokenize"]
    assert for_path("/v1/models/{model}:countTokens") is routes()["/v1beta/models/{model}:countTokens"]
    assert for_path("/v2/nothing") is None


# ------------------------------------------------------------------ fields read by the parsers
def keys_read(source: str) -> set[str]:
    """Every string literal a parser uses as a body key."""
    keys: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "get" and node.args:
                arg = node.args[0]
            elif isinstance(f, ast.Name) and f.id == "_get" and len(node.args) > 1:
                arg = node.args[1]
            else:
                continue
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                keys.add(arg.value)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            if isinstance(node.slice.value, str):
                keys.add(node.slice.value)
        elif (isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn)
              and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)):
            keys.add(node.left.value)
    return keys


def properties(models: list[type[BaseModel]]) -> set[str]:
    names: set[str] = set()
    for m in models:
        schema = m.model_json_schema()
        for s in [schema, *schema.get("$defs", {}).values()]:
            names.update(s.get("properties", {}))
    return names


#: keys read from things that are not request bodies: the count's modalities, the job's own extras, module
#: lookups, an error body the library builds (``param``), and a key inside the free-form ``chat_template_kwargs``
NOT_BODY = {"image", "audio", "strs", "requested", "names", "tokcount.count", "models/", "param", "enable_thinking"}
#: the modules whose reads each dialect's routes share
SHARED = {"stepfun": ("_chatlike", "openai_chat"), "moonshot": ("_chatlike", "openai_chat"),
          "vllm": ("openai_chat",), "bifrost": ("openai_responses", "openai_chat"),
          "openai-responses": ("openai_chat",), "anthropic": (), "gemini": (), "vertex": ("gemini",),
          "bedrock": ("_converse", "anthropic")}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_every_field_the_parser_reads_is_in_the_schema(name: str) -> None:
    import importlib

    dialect = dialects()[name]
    module = importlib.import_module(dialect.error.__module__)
    read = keys_read(inspect.getsource(module)) - NOT_BODY
    described = properties([m for r in dialect.routes if r.path and (s := for_path(r.path)) for m in [s.request] if m])
    if name in ("gemini", "vertex"):  # read under camelCase (and the snake_case twin), described in camelCase
        read = {k for k in read if not k.islower() or "_" not in k}
    missing = read - described
    assert not missing, f"{name} parser reads {sorted(missing)} that its request schema does not describe"
    shared_read = set()
    for mod in SHARED[name]:
        shared_read |= keys_read(inspect.getsource(importlib.import_module(f"tokcount.dialects.{mod}")))
    # the shared readers' keys that this dialect's bodies can reach: every one must be described somewhere
    everything = properties([r.request for r in routes().values() if r.request is not None])
    assert not (shared_read - NOT_BODY - everything)


def test_message_model_is_the_parsers_key_list() -> None:
    assert set(ChatMessage.model_fields) == set(MESSAGE_KEYS)
    assert ChatMessage.model_config.get("extra") == "forbid"


# ------------------------------------------------------------------ answers over HTTP
@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(Settings(default_model="qwen3.5")) as url:
        yield url


OK_BODIES = [
    ("/v1/token/count", {"model": "qwen3.5", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PNG}}]}]}),
    ("/v1/tokenizers/estimate-token-count", {"model": "qwen3.5", "messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hel", "partial": True}]}),
    ("/v1/messages/count_tokens", {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}]}),
    ("/v1/messages/count_tokens", {"model": "qwen3.5", "messages": [{"role": "user", "content": "Hi"}]}),
    ("/v1/responses/input_tokens", {"model": "gpt-4o", "input": "Hi", "instructions": "Be brief."}),
    ("/v1/count_tokens", {"model": "qwen/qwen3.5", "input": [{"role": "user", "content": "Hi"}]}),
    ("/v1beta/models/gemini-2.5-flash:countTokens", {"contents": [{"parts": [{"text": "Hi"}]}]}),
    ("/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:countTokens",
     {"contents": [{"parts": [{"text": "Hi"}]}], "systemInstruction": {"parts": [{"text": "Be brief."}]}}),
    ("/v1/publishers/google/models/gemini-2.5-flash:countTokens", {"contents": [{"parts": [{"text": "Hi"}]}]}),
    ("/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens",
     {"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}}}),
    ("/model/qwen3.5/count-tokens", {"input": {"invokeModel": {"body": json.dumps(
        {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 10})}}}),
    ("/tokenize", {"model": "qwen3.5", "prompt": "Hello world", "return_token_strs": True}),
    ("/tokenize", {"model": "qwen3.5", "messages": [{"role": "user", "content": "Hi"}]}),
    ("/detokenize", {"model": "qwen3.5", "tokens": [9419, 1879]}),
]


def described(path: str) -> Any:
    if path.startswith("/v1beta/models/"):
        return routes()["/v1beta/models/{model}:countTokens"]
    if "/publishers/google/models/" in path:  # any Vertex route: one schema
        return routes()["/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:countTokens"]
    if path.startswith("/model/"):
        return routes()["/model/{model}/count-tokens"]
    return routes()[path]


@pytest.mark.parametrize(("path", "body"), OK_BODIES, ids=[p for p, _ in OK_BODIES])
def test_200_answers_validate(base: str, path: str, body: dict[str, Any]) -> None:
    described(path).request.model_validate(body)
    r = httpx.post(base + path, json=body, timeout=60)
    assert r.status_code == 200, r.text
    described(path).response.model_validate(r.json())


BAD_BODIES = [
    ("/v1/token/count", {"model": "qwen3.5", "messages": []}, 400),
    ("/v1/token/count", {"model": "no-such-model", "messages": [{"role": "user", "content": "Hi"}]}, 404),
    ("/v1/tokenizers/estimate-token-count", {"model": "qwen3.5", "messages": "Hi"}, 400),
    ("/v1/messages/count_tokens", {"model": "qwen3.5"}, 422),
    ("/v1/responses/input_tokens", {"input": 3}, 400),
    ("/v1/count_tokens", {"model": "nope/nope", "input": "Hi"}, 403),
    ("/v1beta/models/gemini-2.5-flash:countTokens", {}, 400),
    ("/v1/projects/p/locations/l/publishers/google/models/no-such-model:countTokens",
     {"contents": [{"parts": [{"text": "Hi"}]}]}, 404),
    ("/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens", {"input": {}}, 400),
    ("/model/anthropic.titan-text-v1/count-tokens",
     {"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}}}, 404),
    ("/tokenize", {"prompt": "a", "messages": []}, 400),
    ("/detokenize", {"tokens": [-1]}, 400),
]


@pytest.mark.parametrize(("path", "body", "status"), BAD_BODIES, ids=[p for p, _, _ in BAD_BODIES])
def test_error_answers_validate(base: str, path: str, body: dict[str, Any], status: int) -> None:
    r = httpx.post(base + path, json=body, timeout=60)
    assert r.status_code == status, r.text
    described(path).error.model_validate(r.json())


def test_models_answers_validate(base: str) -> None:
    listing = httpx.get(base + "/v1/models", timeout=60)
    assert listing.status_code == 200
    routes()["/v1/models"].response.model_validate(listing.json())
    one = httpx.get(base + "/v1/models/qwen3.5", timeout=60)
    assert one.status_code == 200
    routes()["/v1/models/{model_id}"].response.model_validate(one.json())


def test_openapi_names_the_models(base: str) -> None:
    doc = httpx.get(base + "/openapi.json", timeout=60).json()
    schemas = doc["components"]["schemas"]
    for path, ops in doc["paths"].items():
        r = for_path(path)
        if r is None:
            assert path in ("/healthz", "/readyz", "/metrics"), path  # plain answers (Prometheus text on /metrics)
            continue
        op = next(iter(ops.values()))
        if r.request is not None:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in schemas
            assert schemas[ref.rsplit("/", 1)[1]].get("properties")  # a real object schema, not {"type": "object"}
        assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        for status in r.errors:
            assert "$ref" in op["responses"][str(status)]["content"]["application/json"]["schema"]
    gemini = doc["paths"]["/v1beta/models/{model}:countTokens"]["post"]
    assert [p["name"] for p in gemini["parameters"] if p["in"] == "path"] == ["model"]
    bedrock = doc["paths"]["/model/{model}/count-tokens"]["post"]["responses"]
    assert "401" not in bedrock and "x-amzn-ErrorType" in bedrock["403"]["headers"]  # AWS: 403, type in a header
    # every $ref in the document resolves
    refs = set(re.findall(r'"\$ref": ?"#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert refs <= set(schemas)
    TypeAdapter(dict).validate_python(doc)
