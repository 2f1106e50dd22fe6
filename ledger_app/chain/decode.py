"""Raw logs (eth_getLogs JSON) to decoded events, with eth_abi directly.

The topic0 table is built once from the ABIs; each log then costs one
dictionary look-up and one eth_abi tuple decode of its data. web3's
``contract.events.X().process_log`` does the same work through several layers
of formatting and is about 25 times slower.

Values are normalised for storage: integers stay Python ints, addresses are
lower-case hex, byte strings are 0x-hex, except ``bytes2``/``bytes3`` (ISO
country and currency codes), which become their ASCII letters ("CN", "CNY").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_abi.codec import ABICodec
from eth_abi.decoding import ContextFramesBytesIO, TupleDecoder
from eth_abi.registry import registry
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic

from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.deploy import DeploymentRecord

ABI = list[dict[str, Any]]

# Short fixed byte strings of the ledger are ISO codes: bytes2 jurisdiction, bytes3 currency.
_ASCII_BYTE_TYPES = frozenset({"bytes2", "bytes3"})
_CODEC = ABICodec(registry)


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """One log, decoded: where it came from and its named arguments."""

    kind: str  # contract type, e.g. "ReceivableRegistry"
    name: str  # event name, e.g. "ReceivableSplit"
    address: str  # emitting contract, lower-case hex
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    args: dict[str, Any] = field(repr=False)

    def __reduce__(self) -> tuple[type[DecodedEvent], tuple[Any, ...]]:
        # Pickled as its fields (the indexer's read-ahead process sends thousands a batch):
        # a quarter of the default's cost for a frozen class with slots, either way.
        return (DecodedEvent, (self.kind, self.name, self.address, self.block_number,
                               self.block_hash, self.tx_hash, self.log_index, self.args))  # fmt: skip


@dataclass(frozen=True, slots=True)
class _EventDecoder:
    name: str
    indexed: tuple[tuple[str, dict[str, Any]], ...]  # (name, abi input) per topic 1..3
    data_names: tuple[str, ...]
    data_inputs: tuple[dict[str, Any], ...]
    data_decoder: TupleDecoder


class UnknownEventError(ValueError):
    """A log whose topic0 the emitting contract's ABI does not declare."""


class EventDecoder:
    """Decodes the logs of known contract kinds.

    ``abis`` maps a contract kind (its type name) to its ABI; ``contracts`` maps
    an address to its kind and may grow (``follow``) as settlement tokens are
    listed.
    """

    def __init__(self, abis: Mapping[str, ABI], contracts: Mapping[str, str] | None = None) -> None:
        self.abis = dict(abis)  # kept: a decoder in another process is built from them
        self._by_topic: dict[tuple[str, str], _EventDecoder] = {}
        for kind, abi in abis.items():
            for entry in abi:
                if entry.get("type") != "event" or entry.get("anonymous"):
                    continue
                topic = "0x" + event_abi_to_log_topic(entry).hex()
                self._by_topic[(kind, topic)] = _compile(entry)
        self.contracts: dict[str, str] = {a.lower(): k for a, k in (contracts or {}).items()}

    def follow(self, address: str, kind: str) -> None:
        """Decode logs from ``address`` as contract kind ``kind`` from now on."""
        self.contracts[address.lower()] = kind

    def topics_of(self, kind: str) -> dict[str, str]:
        """Event name by topic0 for one contract kind."""
        return {t: d.name for (k, t), d in self._by_topic.items() if k == kind}

    def decode(self, log: Mapping[str, Any]) -> DecodedEvent:
        """Decode one raw log; raise UnknownEventError for a foreign address or topic."""
        address = log["address"].lower()
        kind = self.contracts.get(address)
        topics = log["topics"]
        if kind is None or not topics:
            raise UnknownEventError(f"log from {address} is from no followed contract")
        decoder = self._by_topic.get((kind, topics[0]))
        if decoder is None:
            raise UnknownEventError(f"{kind} at {address} declares no event with topic {topics[0]}")
        args: dict[str, Any] = {}
        for (arg_name, arg_abi), topic in zip(decoder.indexed, topics[1:], strict=True):
            args[arg_name] = _decode_topic(arg_abi, topic)
        if decoder.data_names:
            data = bytes.fromhex(log["data"][2:])
            values = decoder.data_decoder(ContextFramesBytesIO(data))
            for arg_name, arg_abi, value in zip(
                decoder.data_names, decoder.data_inputs, values, strict=True
            ):
                args[arg_name] = _normalise(arg_abi, value)
        return DecodedEvent(
            kind=kind,
            name=decoder.name,
            address=address,
            block_number=int(log["blockNumber"], 16),
            block_hash=log["blockHash"],
            tx_hash=log["transactionHash"],
            log_index=int(log["logIndex"], 16),
            args=args,
        )

    def decode_all(self, logs: Iterable[Mapping[str, Any]]) -> list[DecodedEvent]:
        """Decode many logs, in the order given."""
        return [self.decode(log) for log in logs]

    def decode_known(self, logs: Iterable[Mapping[str, Any]]) -> list[DecodedEvent]:
        """Decode the logs of followed contracts, in the order given, and skip the others:
        a receipt's logs (as eth_getTransactionReceipt returns them, the shape of
        eth_getLogs) may come from a contract not followed yet, e.g. a token being deployed."""
        events = []
        for log in logs:
            try:
                events.append(self.decode(log))
            except UnknownEventError:
                continue
        return events


def _compile(event: dict[str, Any]) -> _EventDecoder:
    inputs = event.get("inputs", [])
    indexed = tuple((i["name"], i) for i in inputs if i.get("indexed"))
    data_inputs = tuple(i for i in inputs if not i.get("indexed"))
    types = [collapse_if_tuple(i) for i in data_inputs]
    decoder = TupleDecoder(decoders=[_CODEC._registry.get_decoder(t) for t in types])
    return _EventDecoder(
        name=event["name"],
        indexed=indexed,
        data_names=tuple(i["name"] for i in data_inputs),
        data_inputs=data_inputs,
        data_decoder=decoder,
    )


def _decode_topic(abi_input: dict[str, Any], topic: str) -> Any:
    abi_type = abi_input["type"]
    # Indexed dynamic values (string, bytes, arrays, structs) are only their hash.
    if abi_type in ("string", "bytes") or abi_type.endswith("]") or abi_type == "tuple":
        return topic
    if abi_type == "address":
        return "0x" + topic[-40:].lower()
    if abi_type.startswith("uint"):
        return int(topic, 16)
    (value,) = _CODEC.decode([abi_type], bytes.fromhex(topic[2:]))
    return _normalise(abi_input, value)


def _normalise(abi_input: dict[str, Any], value: Any) -> Any:
    abi_type: str = abi_input["type"]
    if abi_type.endswith("]"):
        element = {**abi_input, "type": abi_type[: abi_type.rindex("[")]}
        return [_normalise(element, v) for v in value]
    if abi_type == "tuple":
        return {
            c["name"]: _normalise(c, v) for c, v in zip(abi_input["components"], value, strict=True)
        }
    if abi_type == "address":
        return value.lower()
    if abi_type in _ASCII_BYTE_TYPES:
        return value.rstrip(b"\x00").decode("ascii", errors="replace")
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


#: The contract types whose events the indexer understands.
KINDS = (
    "ParticipantRegistry",
    "SettlementToken",
    "ReceivableRegistry",
    "FinancingDesk",
    "MaturityClearing",
    "FxSettlement",
    "HashTimeLock",
    "CreditLines",
    "RiskControl",
)


def build_decoder(artifacts: Artifacts) -> EventDecoder:
    """A decoder for every kind in KINDS present in the build manifest."""
    return EventDecoder({k: artifacts[k].abi for k in KINDS if k in artifacts})


def followed_contracts(record: DeploymentRecord) -> dict[str, str]:
    """Address -> contract type of every deployed contract the indexer understands."""
    return {c.address.lower(): c.contract for c in record.contracts.values() if c.contract in KINDS}
