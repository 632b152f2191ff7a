"""The review queue's single-key shortcuts: which actions have one, their default keys, and the
rules a user's own keys must follow (WCAG 2.1.4 Character Key Shortcuts: they can be turned off
and remapped, and they act only while focus is in the review panel)."""

from dataclasses import dataclass

# action -> (default key, what it does); the digits 1-5 pick an alternative and are not remapped.
ACTIONS: dict[str, tuple[str, str]] = {
    "approve": ("a", "approve"),
    "edit": ("e", "edit (Enter saves, Esc cancels)"),
    "reject": ("r", "reject and re-caption (Enter sends)"),
    "next": ("j", "next"),
    "previous": ("k", "previous"),
}
DEFAULT_KEYS = {action: key for action, (key, _) in ACTIONS.items()}
RESERVED = set("12345")


@dataclass(frozen=True)
class Shortcuts:
    enabled: bool
    keys: dict[str, str]

    def rows(self) -> list[tuple[str, str, str]]:
        """(action, key, what it does) for the page's list of shortcuts."""
        return [(action, self.keys[action], words) for action, (_, words) in ACTIONS.items()]


def shortcut_keys_check(keys: dict[str, str]) -> dict[str, list[str]]:
    """Every fault of a set of keys, by action: one printable character each (letters are
    lowered), not a digit 1-5 (those pick alternatives), no key used twice."""
    errors: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for action in ACTIONS:
        key = keys.get(action, "")
        if len(key) != 1 or not key.isprintable() or key.isspace():
            errors.setdefault(action, []).append("One letter, digit or sign.")
        elif key in RESERVED:
            errors.setdefault(action, []).append("1 to 5 pick an alternative: choose another key.")
        elif key in seen:
            errors.setdefault(action, []).append(f"Already the key for {seen[key]}.")
        else:
            seen[key] = action
    unknown = set(keys) - set(ACTIONS)
    if unknown:
        errors.setdefault("__all__", []).append(f"Unknown shortcut actions: {', '.join(sorted(unknown))}.")
    return errors
