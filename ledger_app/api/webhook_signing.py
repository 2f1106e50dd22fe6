"""Webhook signatures: the key secrets are derived from, a subscription's secret, and the
``Ledger-Signature`` header (README "Notifications" shows a receiver's check).

No secret is stored: a subscription's is HMAC(webhook key, "<id>.<nonce>"), the nonce in
the database, the key held by the operator (LEDGER_WEBHOOK_SECRET_KEY, or derived from the
keystore passphrase).
"""

from __future__ import annotations

import hashlib
import hmac

from ledger_app.settings import Settings

#: The header carrying ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>``.
SIGNATURE_HEADER = "Ledger-Signature"
#: The header carrying the notification's id (the outbox id): a receiver's dedup key.
EVENT_ID_HEADER = "Ledger-Event-Id"


def webhook_key(settings: Settings, passphrase: str) -> bytes:
    """The key every subscription's secret is derived from: LEDGER_WEBHOOK_SECRET_KEY, or
    else one derived from the keystore passphrase (operator-held, never in the database)."""
    if settings.webhook_secret_key is not None:
        return settings.webhook_secret_key.get_secret_value().encode()
    return hmac.new(passphrase.encode(), b"ledger webhook secrets v1", hashlib.sha256).digest()


def secret_of(key: bytes, subscription_id: str, nonce: str) -> str:
    """A subscription's signing secret (``whsec_...``)."""
    mac = hmac.new(key, f"{subscription_id}.{nonce}".encode(), hashlib.sha256).hexdigest()
    return "whsec_" + mac


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The Ledger-Signature header value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"
