"""What counts as text a model can read: checked once, at every edge where text comes in.

Python strings may hold unpaired UTF-16 surrogates (``"\\ud800"`` from JSON escapes, or bytes
that ``surrogateescape`` smuggled in from a command line); no tokenizer can encode them. Every
reader, the CLI and the server refuse them with a message that says where they are, instead of
letting them reach the model.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be given to a tokenizer, or None when it can.

    Example:
        >>> text_problem("hello \\ud800")
        'holds an unpaired surrogate (U+D800) at character 7, which is not valid Unicode text'
    """
    found = _SURROGATE.search(text)
    if found:
        return (f"holds an unpaired surrogate (U+{ord(found.group()):04X}) at character {found.start() + 1}, "
                "which is not valid Unicode text")
    return None
