"""The Legal Entity Identifier (ISO 17442) as the participant registry keeps it: 20 ASCII
characters left-aligned in a bytes32, zero-padded. One home for both directions, used
by the API (onboarding, answers, ISO 20022 messages) and by the monitoring's profiles."""

from __future__ import annotations


def lei_bytes(lei: str) -> bytes:
    """An LEI (20 ASCII characters) as the registry's bytes32: left-aligned, zero-padded."""
    return lei.encode("ascii").ljust(32, b"\0")


def lei_text(stored: str | None) -> str | None:
    """The registry's bytes32 (as the index keeps it, 0x-hex) back to an LEI when it is
    one, else the 0x-hex as stored (a hashed identifier)."""
    if not stored:
        return None
    raw = bytes.fromhex(stored[2:]) if stored.startswith("0x") else stored.encode()
    text = raw.rstrip(b"\0")
    if text.isascii() and text.isalnum() and len(text) == 20:
        return text.decode()
    return stored
