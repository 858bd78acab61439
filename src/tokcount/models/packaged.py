"""Files of Hub repos that installed PyPI packages ship, as ``"org/repo/file": "package:path"``.

The resolver tries these after local directories and the download cache and before the Hub, so the models they
cover work offline right after ``pip install``. A zipped path holds the one file it names.
"""

PACKAGED: dict[str, str] = {}
