"""Participants: onboarding (on chain and off), standing, KYC, account freezes, API keys.

Onboarding a custodial participant makes its key (stored encrypted before it
is used), has the operator onboard the address on chain with its roles,
sends it ether for gas (``onboarding_funding_wei``; the dev chain charges a
base fee, so a new account cannot act without it) and issues its first API
key, returned once. A participant that keeps its own key names its address
instead; it is onboarded and funded the same way, and signs its own writes.

After onboarding, API keys are their owner's alone: only the participant issues, rotates
and revokes its keys. The operator's one way to a participant's key is a key recovery
(ledger_app/api/recovery.py): delayed, seen by the participant's keys, cancellable by
them, and audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eth_utils import keccak, to_checksum_address
from sqlalchemy import literal, select
from sqlalchemy.exc import IntegrityError

from ledger_app.api import auth, recovery
from ledger_app.api.identity import Caller
from ledger_app.api.permissions import Role
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.lookups import (
    holder_of_lei,
    holder_of_tax_id,
    participant_row,
    roles_of,
    standing,
    tax_ids_of,
)
from ledger_app.api.services.monitoring import record_and_screen
from ledger_app.api.services.writes import WriteOutcome, Writer
from ledger_app.chain.sender import ContractCall
from ledger_app.db.api_tables import participant_tax_ids
from ledger_app.db.schema import participants
from ledger_app.domain.lei import lei_text
from ledger_app.errors import Conflict, Forbidden, NotFound


def describe(row: Any, custodial: bool | None = None, tax_id: str | None = None) -> dict[str, Any]:
    """A participant as the API answers it (``tax_id``: the one recorded at onboarding)."""
    roles = sorted(roles_of(row))
    kyc = row.kyc_expiry
    return {
        "address": to_checksum_address(row.account),
        "lei": lei_text(row.lei),
        "tax_id": tax_id,
        "jurisdiction": row.jurisdiction,
        "kyc_expiry": datetime.fromtimestamp(kyc, UTC) if kyc else None,
        "roles": roles,
        "onboarded": row.onboarded,
        "suspended": row.suspended,
        "frozen": row.frozen,
        "standing": standing(row),
        "custodial": custodial,
        "updated_block": row.updated_block,
    }


class ParticipantService:
    """The participant operations of one request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.writer = Writer(runtime)

    # --- reads ------------------------------------------------------------------------

    def show(self, address: str) -> dict[str, Any]:
        """One onboarded participant; NotFound for an address never onboarded."""
        row = participant_row(self.runtime.engine, address)
        if row is None or not row.onboarded:
            raise NotFound(f"no participant {address}", error="ParticipantUnknown", address=address)
        tax_id = tax_ids_of(self.runtime.engine, {address}).get(address.lower())
        return describe(row, self.runtime.custody.holds(address), tax_id)

    def list(
        self, role: str | None, cursor: str | None, limit: int
    ) -> tuple[list[dict], str | None]:
        """Onboarded participants by address, optionally with ``role``; keyset pagination."""
        query = select(participants).where(participants.c.onboarded.is_(True))
        if role:
            # In the query, not after it: a page filtered afterwards came back short, and
            # without a cursor when the rows past it held more of the role.
            listed = literal(",") + participants.c.roles + literal(",")
            query = query.where(listed.like(f"%,{role},%"))
        if cursor:
            query = query.where(participants.c.account > cursor.lower())
        query = query.order_by(participants.c.account).limit(limit + 1)
        with self.runtime.engine.connect() as conn:
            rows = conn.execute(query).all()
        page = rows[:limit]
        next_cursor = page[-1].account if len(rows) > limit and page else None
        tax_ids = tax_ids_of(self.runtime.engine, {row.account for row in page})
        return [describe(row, tax_id=tax_ids.get(row.account)) for row in page], next_cursor

    # --- writes -----------------------------------------------------------------------

    def onboard(
        self,
        caller: Caller,
        *,
        lei: bytes,
        jurisdiction: str,
        kyc_expiry: int,
        roles: list[str],
        address: str | None,
        label: str | None,
        tax_id: str | None = None,
        legal_name: str | None = None,
        registered_address: str | None = None,
    ) -> tuple[str, WriteOutcome, auth.IssuedKey]:
        """Onboard a participant; returns its address, the onboarding outcome and its key.
        ``tax_id`` (normalised) is recorded with the key, once the chain has the participant;
        ``legal_name`` and ``registered_address`` are kept off chain and screened."""
        self.refuse_held_lei(lei)
        if tax_id is not None:
            self.refuse_held_tax_id(tax_id)
        if address is not None:
            existing = participant_row(self.runtime.engine, address)
            if existing is not None and existing.onboarded:
                raise Conflict(
                    f"{address} is already a participant",
                    error="RegistryParticipantExists",
                    account=address,
                )
        else:
            address = self.runtime.custody.create_key().address
        call = self.runtime.contracts.call(
            "participants",
            "onboard",
            address,
            lei,
            jurisdiction.encode(),
            kyc_expiry,
            [keccak(text=role) for role in roles],
        )
        outcome = self.writer.write(caller, "participants.onboard", call)
        funding = self.runtime.settings.onboarding_funding_wei
        if funding:
            self.writer.write(
                caller, "participants.fund", ContractCall(to=address, data=b"", value=funding)
            )
        with self.runtime.engine.begin() as conn:
            if tax_id is not None:
                _record_tax_id(conn, address, tax_id, caller.address)
            issued = auth.issue_key(conn, address, label)
        # Off chain: the legal name and registered address, and the sanctions screening
        # (an alert per match; monitoring, README "Monitoring").
        record_and_screen(self.runtime.engine, address, lei.rstrip(b"\0").decode("ascii"),
                          legal_name, registered_address, caller.address)  # fmt: skip
        return address, outcome, issued

    def refuse_held_lei(self, lei: bytes) -> None:
        """409 ``RegistryDuplicateLei`` for an LEI another participant was onboarded with
        (the registry refuses it too: one legal entity, one account, for ever)."""
        holder = holder_of_lei(self.runtime.engine, lei)
        if holder is not None:
            shown = lei_text("0x" + lei.hex())
            raise Conflict(
                f"LEI {shown} is already held by participant {to_checksum_address(holder)}",
                error="RegistryDuplicateLei",
                lei=shown,
                holder=to_checksum_address(holder),
            )

    def refuse_held_tax_id(self, tax_id: str) -> None:
        """409 ``TaxIdAlreadyRecorded`` for a tax id recorded for another participant."""
        holder = holder_of_tax_id(self.runtime.engine, tax_id)
        if holder is not None:
            raise Conflict(
                f"tax id {tax_id} is already recorded for participant "
                f"{to_checksum_address(holder)}",
                error="TaxIdAlreadyRecorded",
                tax_id=tax_id,
                holder=to_checksum_address(holder),
            )

    def record_tax_id(self, caller: Caller, address: str, tax_id: str) -> dict[str, Any]:
        """Record the tax id of a participant onboarded without one (before tax ids were
        recorded): once; a recorded tax id is never changed."""
        self.show(address)  # 404 for an address never onboarded
        recorded = tax_ids_of(self.runtime.engine, {address}).get(address.lower())
        if recorded is not None:
            raise Conflict(
                f"participant {address} already has tax id {recorded}; it is never changed",
                error="TaxIdAlreadyRecorded",
                tax_id=recorded,
                holder=to_checksum_address(address),
            )
        self.refuse_held_tax_id(tax_id)
        try:
            with self.runtime.engine.begin() as conn:
                _record_tax_id(conn, address, tax_id, caller.address)
        except IntegrityError as exc:  # recorded by a concurrent request since the checks
            raise Conflict(
                f"a tax id was recorded for {address}, or {tax_id} for another participant, "
                "at the same time; read the participant again",
                error="TaxIdAlreadyRecorded",
                tax_id=tax_id,
            ) from exc
        return self.show(address)

    def registry_write(
        self, caller: Caller, operation: str, function: str, *args: Any
    ) -> WriteOutcome:
        """A ParticipantRegistry write about an onboarded participant (``args[0]``)."""
        self.show(args[0])  # 404 for an unknown address, before anything is sent
        call = self.runtime.contracts.call("participants", function, *args)
        return self.writer.write(caller, operation, call)

    def me(self, caller: Caller) -> dict[str, Any]:
        """The caller's own record. The operator is not onboarded like the others (it
        deployed the ledger): its record is its on-chain roles, active by its role."""
        row = participant_row(self.runtime.engine, caller.address)
        if Role.OPERATOR in caller.roles and row is not None and not row.onboarded:
            return {**describe(row, self.runtime.custody.holds(caller.address)),
                    "standing": caller.standing}  # fmt: skip
        return self.show(caller.address)

    # --- API keys: their owner's alone --------------------------------------------------

    def check_key_owner(self, caller: Caller, participant: str) -> None:
        """Key lists are read by their owner and the operator; others get 404."""
        if not (caller.is_(participant) or Role.OPERATOR in caller.roles):
            raise NotFound(f"no participant {participant}", error="ParticipantUnknown",
                           address=participant)  # fmt: skip

    def issue_key(self, caller: Caller, participant: str, label: str | None) -> auth.IssuedKey:
        """A new key for the caller itself (an onboarded participant, or the operator)."""
        if not caller.is_(participant):
            raise _owner_only(participant)
        row = participant_row(self.runtime.engine, participant)
        if row is None or not (row.onboarded or Role.OPERATOR in roles_of(row)):
            raise NotFound(f"no participant {participant}", error="ParticipantUnknown",
                           address=participant)  # fmt: skip
        with self.runtime.engine.begin() as conn:
            return auth.issue_key(conn, participant, label)

    def owned_key(self, caller: Caller, key_id: str) -> auth.KeyRecord:
        """Key ``key_id`` if the caller owns it. The operator, who sees every key in the
        lists, is told it is not its own (403); anyone else is told nothing (404)."""
        record = auth.find_key(self.runtime.engine, key_id)
        if caller.is_(record.participant):
            return record
        if Role.OPERATOR in caller.roles:
            raise _owner_only(record.participant)
        raise NotFound(f"no API key {key_id}", error="ApiKeyUnknown", id=key_id)

    def refuse_last_operator_key(self, record: auth.KeyRecord) -> None:
        """The operator's last live key cannot be revoked (rotate it instead)."""
        row = participant_row(self.runtime.engine, record.participant)
        if "OPERATOR" not in roles_of(row):
            return
        live = [
            k for k in auth.list_keys(self.runtime.engine, record.participant) if not k.revoked_at
        ]
        if len(live) == 1 and live[0].id == record.id:
            raise Forbidden(
                "this is the operator's last live key: rotate it instead of revoking it",
                error="LastOperatorKey",
                id=record.id,
            )

    def keys(self, caller: Caller, participant: str) -> list[auth.KeyRecord]:
        """A participant's keys, revoked ones included, for its owner or the operator."""
        self.check_key_owner(caller, participant)
        return auth.list_keys(self.runtime.engine, participant)

    def rotate_key(self, caller: Caller, key_id: str) -> auth.IssuedKey:
        """A new key in place of the caller's own key ``key_id``, revoked at once."""
        self.owned_key(caller, key_id)
        return auth.rotate_key(self.runtime.engine, key_id)

    def revoke_key(self, caller: Caller, key_id: str) -> auth.KeyRecord:
        """Revoke the caller's own key ``key_id`` (never the operator's last live one)."""
        record = self.owned_key(caller, key_id)
        self.refuse_last_operator_key(record)
        return auth.revoke_key(self.runtime.engine, key_id)

    # --- key recovery: the operator's delayed, cancellable, audited way in ---------------

    def request_recovery(self, caller: Caller, participant: str, reason: str) -> recovery.Recovery:
        """Open a recovery of ``participant``'s key (operator only, by the permission table)."""
        row = participant_row(self.runtime.engine, participant)
        of_operator = Role.OPERATOR in roles_of(row)
        if not of_operator:
            self.show(participant)  # 404 for an address never onboarded
        return recovery.request(
            self.runtime.engine,
            participant,
            reason,
            _actor(caller),
            of_operator=of_operator,
            delay_seconds=self.runtime.settings.key_recovery_delay,
        )

    def recoveries(self, caller: Caller, participant: str) -> list[recovery.Recovery]:
        """The recoveries of ``participant``'s keys: for it, the operator and the readers."""
        if not (caller.is_(participant) or Role.OPERATOR in caller.roles or caller.reads_all):
            raise NotFound(f"no participant {participant}", error="ParticipantUnknown",
                           address=participant)  # fmt: skip
        return recovery.of_participant(self.runtime.engine, participant)

    def pending_recoveries(self, caller: Caller) -> list[recovery.Recovery]:
        """The recoveries of the caller's own keys still pending (what it may cancel)."""
        return recovery.of_participant(self.runtime.engine, caller.address, pending_only=True)

    def cancel_recovery(self, caller: Caller, recovery_id: str) -> recovery.Recovery:
        """Cancel a pending recovery: the participant (any live key of it) or the operator."""
        found = recovery.find(self.runtime.engine, recovery_id)
        if not (caller.is_(found.participant) or Role.OPERATOR in caller.roles):
            raise NotFound(f"no key recovery {recovery_id}", error="KeyRecoveryUnknown",
                           id=recovery_id)  # fmt: skip
        return recovery.cancel(self.runtime.engine, recovery_id, _actor(caller))

    def complete_recovery(
        self, caller: Caller, recovery_id: str
    ) -> tuple[recovery.Recovery, auth.IssuedKey]:
        """Complete a recovery whose delay is over (operator only, by the permission table)."""
        return recovery.complete(self.runtime.engine, recovery_id, _actor(caller))


def _actor(caller: Caller) -> recovery.Actor:
    return recovery.Actor(caller.address, caller.api_key_id)


def _owner_only(participant: str) -> Forbidden:
    return Forbidden(
        "only the participant itself issues, rotates or revokes its API keys; the operator's "
        f"way to a participant's key is a key recovery (POST /v1/participants/{participant}"
        "/recovery), which the participant sees and may cancel during a delay",
        error="ApiKeyOwnerOnly",
        participant=to_checksum_address(participant),
    )


def _record_tax_id(conn: Any, account: str, tax_id: str, operator: str) -> None:
    conn.execute(
        participant_tax_ids.insert().values(
            account=account.lower(), tax_id=tax_id, recorded_by=operator.lower(),
            recorded_at=datetime.now(UTC),
        )
    )  # fmt: skip
