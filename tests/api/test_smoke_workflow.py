"""Smoke: the cast is onboarded and a receivable goes PENDING -> ACTIVE."""

from __future__ import annotations

from apikit import Service


def test_register_and_confirm_receivable(service: Service) -> None:
    receivable = service.active()
    assert receivable["status"] == "ACTIVE"
