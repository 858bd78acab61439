"""The example requests of the provider API pages in ../shared/seeds, as written there (StepFun, the Anthropic-style
seeds, Bifrost, Moonshot, Vertex AI, Bedrock): sent as they are by the seed tests and validated by the schema tests."""

from __future__ import annotations

import json

PNG_1X1 = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAA"
           "AABJRU5ErkJggg==")

# ---------------------------------------------------------------- 000 StepFun POST /v1/token/count
STEP_SYSTEM_TEXT = ("You are an AI assistant provided by StepFun. You excel at conversations in Chinese, English, and "
                    "other languages. While keeping user data safe, you should answer quickly and accurately, and "
                    "reject any content related to pornography, drugs, gambling, violence, or terrorism.")

STEP_SYSTEM_VISION = ("You are an AI assistant provided by StepFun. You excel at Chinese, English, and many other "
                      "languages, and you can describe user-provided images precisely. Keep user data safe, answer "
                      "quickly and accurately, and refuse content related to pornography, drugs, gambling, "
                      "violence, or terrorism.")

STEPFUN_EXAMPLES = {
    "text chat": {
        "model": "step-3.7-flash",
        "messages": [
            {"role": "system", "content": STEP_SYSTEM_TEXT},
            {"role": "user", "content": "Hi, please introduce StepFun's AI!"},
        ],
    },
    "mixed media": {
        "model": "step-3.7-flash",
        "messages": [
            {"role": "system", "content": STEP_SYSTEM_VISION},
            {"role": "user", "content": [
                {"type": "text", "text": "Describe this picture in elegant language."},
                {"type": "image_url", "image_url": {"url": PNG_1X1}},  # page: an https .webp URL
            ]},
        ],
    },
    "base64 image": {
        "model": "step-3.7-flash",
        "messages": [
            {"role": "system", "content": STEP_SYSTEM_VISION},
            {"role": "user", "content": [
                {"type": "text", "text": "Describe this image in elegant language."},
                {"type": "image_url", "image_url": {"url": PNG_1X1}},
            ]},
        ],
    },
}

# ---------------------------------------------------------------- 001 Anthropic-style, minimax/minimax-m2.5
SEED_001_AS_WRITTEN = """{
"model": "minimax/minimax-m2.5",
"messages": [
{
"role": "user",
"content": "What is the weather in Singapore today?"
}
],
"system": "You are a helpful assistant that can use tools when needed."
"tools": [
{
"name": "get_weather",
"description": "Get the current weather information for a given city.",
"input_schema": {
"type": "object",
"properties": {
"city": {
"type": "string",
"description": "The name of the city, e.g. Singapore."
},
"unit": {
"type": "string",
"enum": ["celsius", "fahrenheit"]
}
},
"required": ["city"]
}
}
],
"tool_choice": {
"type": "auto"
}
}"""

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "The name of the city, e.g. Singapore."},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city"],
}

# ---------------------------------------------------------------- 002 Anthropic-style, model "default"
SEED_002 = {
    "model": "default",
    "messages": [{"role": "user", "content": "Count tokens for this input."}],
    "system": [{"text": "You are a tokenizer."}],
    "tools": [{
        "name": "get_weather",
        "description": "Get current weather for a city.",
        "inputSchema": {
            "properties": {"city": {"description": "City name.", "type": "string"}},
            "required": ["city"],
            "type": "object",
        },
    }],
    "thinking": {"enabled": False},
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": False, "validation_mode": "lazy"},
}

# ---------------------------------------------------------------- 003 Bifrost POST /v1/count_tokens
SEED_003 = {
    "model": "<string>",
    "input": [{"role": "user", "content": "<string>"}],
    "fallbacks": ["<string>"],
    "tools": [{"type": "function", "function": {"name": "<string>", "arguments": {}}}],
    "stream": True,
    "stream_format": "<string>",
    "background": True,
    "conversation": "<string>",
    "include": ["<string>"],
    "instructions": "<string>",
    "max_output_tokens": 123,
    "max_tool_calls": 123,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": "<string>",
    "prompt_cache_key": "<string>",
    "reasoning": {"effort": "<string>"},
    "safety_identifier": "<string>",
    "service_tier": "<string>",
    "stream_options": {"include_usage": True},
    "store": True,
    "temperature": 123,
    "text": {"max_tokens": 123},
    "top_logprobs": 123,
    "top_p": 123,
    "tool_choice": "auto",
    "truncation": "<string>",
}

# ---------------------------------------------------------------- 004 Moonshot POST /v1/tokenizers/estimate-token-count
KIMI_SYSTEM = ("You are Kimi, an AI assistant provided by Moonshot AI. You excel in Chinese and English conversations. "
               "You provide users with safe, helpful, and accurate answers. You refuse to answer any questions "
               "involving terrorism, racism, pornography, or violence. Moonshot AI is a proper noun and should not "
               "be translated into other languages.")

# ---------------------------------------------------------------- Vertex AI and Amazon Bedrock (issue 23)
# No seed page: the bodies below have the shapes of the providers' API references (Vertex AI countTokens; the Bedrock
# user guide's CountTokens examples, model anthropic.claude-3-5-haiku-20241022-v1:0).
VERTEX_EXAMPLES = {
    "text": {"contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}]},
    "system and turns": {
        "systemInstruction": {"parts": [{"text": "You are a physics teacher."}]},
        "contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]},
                     {"role": "model", "parts": [{"text": "Rayleigh scattering."}]},
                     {"role": "user", "parts": [{"text": "Explain it to a child."}]}]},
}

BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"

BEDROCK_TURNS = [("user", "What is the capital of France?"), ("assistant", "The capital of France is Paris."),
                 ("user", "What is its population?")]

BEDROCK_SYSTEM = "You're an expert in geography."

BEDROCK_EXAMPLES = {
    "converse": {"input": {"converse": {
        "messages": [{"role": role, "content": [{"text": text}]} for role, text in BEDROCK_TURNS],
        "system": [{"text": BEDROCK_SYSTEM}]}}},
    "invokeModel": {"input": {"invokeModel": {"body": json.dumps({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 500, "system": BEDROCK_SYSTEM,
        "messages": [{"role": role, "content": text} for role, text in BEDROCK_TURNS]})}}},
}
