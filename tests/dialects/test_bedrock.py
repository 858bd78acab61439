"""The Amazon Bedrock dialect on a real server on loopback, driven by boto3's ``bedrock-runtime`` client with only
``endpoint_url`` changed: CountTokens with a Converse input and with an InvokeModel body count what the Anthropic
route counts for the same conversation, Bedrock's model ids and inference profiles name the catalog's Claude
entries, errors come back as botocore reads AWS's (``x-amzn-ErrorType``), and with auth on a request signed
(SigV4) with a tokcount key as the secret access key is accepted and any other refused."""

from __future__ import annotations

import base64
import datetime
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.auth
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from PIL import Image

from support.serverkit import running_server
from tokcount.settings import Settings

KEY = "bedrock-test-key"
MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
PATH = "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/count-tokens"


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png(800, 600)
SCHEMA = {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
          "required": ["city"]}
#: one conversation in Converse's shape and in Anthropic's: system, an image, a tool call and its result, a thought
CONVERSE: dict[str, Any] = {
    "system": [{"text": "You are a weather bot."}, {"cachePoint": {"type": "default"}}, {"text": "Be brief."}],
    "messages": [
        {"role": "user", "content": [{"text": "What is this, and the weather in Paris?"},
                                     {"image": {"format": "png", "source": {"bytes": PNG}}}]},
        {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "The user wants the weather.", "signature": "c2ln"}}},
            {"text": "Let me check."},
            {"toolUse": {"toolUseId": "tool_1", "name": "get_weather", "input": {"city": "Paris"}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "tool_1", "content": [
            {"json": {"temp_c": 21, "sky": "clear"}}, {"text": "Source: met office"}]}}]},
    ],
    "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather of a city",
                                           "inputSchema": {"json": SCHEMA}}}],
                   "toolChoice": {"any": {}}},
    "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2048}},
}
ANTHROPIC: dict[str, Any] = {
    "system": [{"type": "text", "text": "You are a weather bot."}, {"type": "text", "text": "Be brief."}],
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "What is this, and the weather in Paris?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": base64.b64encode(PNG).decode()}}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "The user wants the weather.", "signature": "c2ln"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "tool_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tool_1", "content": [
            {"type": "text", "text": json.dumps({"temp_c": 21, "sky": "clear"})},
            {"type": "text", "text": "Source: met office"}]}]},
    ],
    "tools": [{"name": "get_weather", "description": "Weather of a city", "input_schema": SCHEMA}],
    "tool_choice": {"type": "any"},
    "thinking": {"type": "enabled", "budget_tokens": 2048},
}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running_server(Settings(default_model="qwen3.5", api_keys=(KEY,))) as base:
        yield base


@pytest.fixture(scope="module")
def anthropic_count(url: str) -> int:
    """The Anthropic route's count of the conversation (model claude-sonnet-4-5)."""
    r = httpx.post(url + "/v1/messages/count_tokens", json={"model": "claude-sonnet-4-5", **ANTHROPIC},
                   headers={"x-api-key": KEY}, timeout=60)
    assert r.status_code == 200, r.text
    return int(r.json()["input_tokens"])


def client(url: str, secret: str = KEY) -> Any:
    """boto3's bedrock-runtime client as a Bedrock user has it, only endpoint_url changed; the secret access key
    is a tokcount key (the access key id names nothing)."""
    return boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=url,
                        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}))


def test_boto3_converse_counts_as_the_anthropic_route(url: str, anthropic_count: int) -> None:
    got = client(url).count_tokens(modelId=MODEL, input={"converse": CONVERSE})
    assert got["inputTokens"] == anthropic_count > 1000  # 800x600 image: ~640 tokens
    headers = got["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-tokcount-exact"] == "false" and headers["x-tokcount-method"].startswith("anthropic-")


def test_boto3_invoke_model_body_counts_as_the_anthropic_route(url: str, anthropic_count: int) -> None:
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 512, **ANTHROPIC})
    got = client(url).count_tokens(modelId=MODEL, input={"invokeModel": {"body": body}})  # boto3 base64s it
    assert got["inputTokens"] == anthropic_count
    plain = httpx.post(url + PATH, json={"input": {"invokeModel": {"body": body}}},  # the JSON text itself
                       headers={"authorization": f"Bearer {KEY}"}, timeout=60)
    assert plain.status_code == 200 and plain.json() == {"inputTokens": anthropic_count}


@pytest.mark.parametrize("model", ["us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                                   "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"])
def test_inference_profiles_and_catalog_names_count_as_the_model(url: str, model: str, anthropic_count: int) -> None:
    assert client(url).count_tokens(modelId=model, input={"converse": CONVERSE})["inputTokens"] == anthropic_count


def _error(call: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    err = caught.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]


def test_errors_are_aws_errors(url: str) -> None:
    c = client(url)
    status, code, message = _error(lambda: c.count_tokens(modelId="anthropic.titan-text-v1", input={
        "converse": {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}}))
    assert (status, code) == (404, "ResourceNotFoundException") and "anthropic.titan-text-v1" in message
    bad_turn = {"role": "user", "content": [{"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}]}
    status, code, message = _error(lambda: c.count_tokens(modelId=MODEL, input={"converse": {"messages": [bad_turn]}}))
    assert (status, code) == (400, "ValidationException")
    assert "input.converse.messages[0].content[0]" in message and "assistant" in message
    video = {"role": "user", "content": [{"video": {"format": "mp4", "source": {"bytes": b"\0"}}}]}
    status, code, message = _error(lambda: c.count_tokens(modelId=MODEL, input={"converse": {"messages": [video]}}))
    assert (status, code) == (400, "ValidationException") and "video" in message
    broken = base64.b64encode(b'{"messages": [{"role": "user", "content": 5}]}').decode()
    r = httpx.post(url + PATH, json={"input": {"invokeModel": {"body": broken}}},
                   headers={"authorization": f"Bearer {KEY}"}, timeout=60)
    assert r.status_code == 400 and r.headers["x-amzn-errortype"] == "ValidationException"
    assert r.json()["message"].startswith("input.invokeModel.body: messages[0].content")


@pytest.mark.parametrize("body", [{}, {"input": {}}, {"input": {"converse": {}, "invokeModel": {"body": "{}"}}},
                                  {"input": {"invokeModel": {"body": "not json"}}}, [1]])
def test_bad_bodies_are_validation_exceptions(url: str, body: Any) -> None:
    r = httpx.post(url + PATH, json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=60)
    assert r.status_code == 400 and r.headers["x-amzn-errortype"] == "ValidationException"
    assert set(r.json()) == {"message"}


def test_the_invoke_model_body_is_held_to_the_depth_limit(url: str) -> None:
    """The body inside the body is JSON too: nested past ``max_json_depth`` (64) counting from where it sits, it is
    refused as the same schema written inline is on the Anthropic route (it was counted: 200, 2,394 tokens)."""
    nested = json.loads('{"a":' * 70 + "{}" + "}" * 70)
    inner = {"messages": [{"role": "user", "content": "hi"}],
             "tools": [{"name": "t", "input_schema": {"type": "object", "properties": nested}}]}
    r = httpx.post(url + PATH, json={"input": {"invokeModel": {"body": json.dumps(inner)}}},
                   headers={"authorization": f"Bearer {KEY}"}, timeout=60)
    assert r.status_code == 400 and r.headers["x-amzn-errortype"] == "ValidationException"
    assert "nested deeper than 64" in r.json()["message"]
    inline = httpx.post(url + "/v1/messages/count_tokens", json={"model": "claude-sonnet-4-5", **inner},
                        headers={"x-api-key": KEY}, timeout=60)
    assert inline.status_code == 422
    shallow = json.loads('{"a":' * 50 + "{}" + "}" * 50)  # its innermost object at depth 58: within 64
    inner["tools"][0]["input_schema"]["properties"] = shallow
    ok = httpx.post(url + PATH, json={"input": {"invokeModel": {"body": json.dumps(inner)}}},
                    headers={"authorization": f"Bearer {KEY}"}, timeout=60)
    assert ok.status_code == 200, ok.text


def test_unknown_paths_under_model_answer_in_bedrocks_shape(url: str) -> None:
    r = httpx.post(url + "/model/x/invoke", json={}, headers={"authorization": f"Bearer {KEY}"}, timeout=30)
    assert r.status_code == 404 and r.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert set(r.json()) == {"message"}


# ------------------------------------------------------------------ auth: SigV4 with a tokcount key as the secret
def test_a_signature_made_with_another_secret_is_refused(url: str) -> None:
    status, code, message = _error(lambda: client(url, secret="not-a-key").count_tokens(
        modelId=MODEL, input={"converse": CONVERSE}))
    assert (status, code) == (403, "UnrecognizedClientException") and "signature" in message


def test_an_old_signature_is_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    past = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: past)
    status, code, message = _error(lambda: client(url).count_tokens(modelId=MODEL, input={"converse": CONVERSE}))
    assert (status, code) == (403, "UnrecognizedClientException") and "expired" in message


def _signed(url: str, body: bytes, secret: str = KEY) -> dict[str, str]:
    req = AWSRequest(method="POST", url=url + PATH, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("AKIDEXAMPLE", secret), "bedrock", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def test_the_signature_covers_the_body(url: str) -> None:
    body = json.dumps({"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}}})
    headers = _signed(url, body.encode())
    ok = httpx.post(url + PATH, content=body, headers=headers, timeout=60)
    assert ok.status_code == 200, ok.text
    changed = httpx.post(url + PATH, content=body.replace("Hi", "Ho"), headers=headers, timeout=60)
    assert changed.status_code == 403 and changed.headers["x-amzn-errortype"] == "UnrecognizedClientException"


def test_bearer_and_missing_keys(url: str) -> None:
    """A Bedrock API key (``Authorization: Bearer``, what boto3 sends from ``AWS_BEARER_TOKEN_BEDROCK`` over
    HTTPS) is a tokcount key; no key at all is AWS's 403."""
    body = {"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}}}
    ok = httpx.post(url + PATH, json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=60)
    assert ok.status_code == 200 and ok.json()["inputTokens"] > 0
    missing = httpx.post(url + PATH, json=body, timeout=60)
    assert missing.status_code == 403 and missing.headers["x-amzn-errortype"] == "UnrecognizedClientException"
    assert "www-authenticate" not in missing.headers


def test_with_auth_off_any_credentials_do() -> None:
    with running_server(Settings(default_model="qwen3.5")) as base:
        got = client(base, secret="dummy").count_tokens(modelId="qwen3.5", input={"converse": {
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}]}})
    assert got["inputTokens"] > 0


# ------------------------------------------------------------------ fit
@pytest.mark.parametrize("shape", ["converse", "invokeModel"])
def test_fit_trims_bedrock_bodies(url: str, shape: str) -> None:
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "text": f"turn {i} " + "words " * 40} for i in range(9)]
    if shape == "converse":
        body: dict[str, Any] = {"input": {"converse": {"messages": [
            {"role": t["role"], "content": [{"text": t["text"]}]} for t in turns]}}}
    else:
        inner = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                 "messages": [{"role": t["role"], "content": t["text"]} for t in turns]}
        body = {"input": {"invokeModel": {"body": base64.b64encode(json.dumps(inner).encode()).decode()}}}
    r = httpx.post(url + f"/v1/fit?dialect=bedrock&model={MODEL}&budget=150", json=body,
                   headers={"authorization": f"Bearer {KEY}"}, timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["tokens_after"] <= 150 < out["next_tokens"] and out["dropped"]
    again = httpx.post(url + PATH, json=out["request"], headers={"authorization": f"Bearer {KEY}"}, timeout=60)
    assert again.json()["inputTokens"] == out["tokens_after"]
    if shape == "invokeModel":  # written back as it came: base64 of the Messages body
        kept = json.loads(base64.b64decode(out["request"]["input"]["invokeModel"]["body"]))
        assert kept["anthropic_version"] == "bedrock-2023-05-31" and len(kept["messages"]) < len(turns)
