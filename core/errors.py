"""Text for people: what a reason shown to a user may say."""

import re

# An absolute path (POSIX, or a Windows drive), or a file: URL, inside a message.
_PATH = re.compile(r"""(?:file://)?(?<![\w.:/])(?:/(?:[^\s'"/:,;()]+/)+[^\s'"/:,;()]*|[A-Za-z]:\\[^\s'"]+)""")


def user_safe(reason: str) -> str:
    """`reason` with every server path replaced by "(a file on the server)": a message from a
    library (an OSError, a decoder) names where the site keeps its files, which nobody outside
    needs to know."""
    return _PATH.sub("(a file on the server)", reason or "")
