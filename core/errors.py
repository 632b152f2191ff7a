"""Text for people: what a reason shown to a user may say."""

import re

# An absolute path (POSIX, or a Windows drive), or a file: URL, inside a message.
_PATH = re.compile(r"""(?:file://)?(?<![\w.:/])(?:/(?:[^\s'"/:,;()]+/)+[^\s'"/:,;()]*|[A-Za-z]:\\[^\s'"]+)""")


def user_safe(reason: str) -> str:
    """`reason` with every server path cut to its last part ("…/blip-finetuned"): a message from a
    library (an OSError, a decoder, a model loader) names where the site keeps its files, which
    nobody outside needs to know; the last part still tells an operator which file or model."""

    def last_part(match) -> str:
        parts = [p for p in re.split(r"[/\\]", match.group(0)) if p]
        return "…/" + parts[-1] if parts else "…"

    return _PATH.sub(last_part, reason or "")
