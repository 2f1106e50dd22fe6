"""deploy/besu/: every file parses, and the files agree with each other and with the code.

Besu, Docker and the images cannot run on this machine, so what can be checked here is
checked: the QBFT genesis extraData is the RLP of validators.json (computed again with
the maintained `rlp` package) and names >= 4 validators whose addresses are the node
keys of the allowlisted enodes; every Besu node of the compose file is allowlisted at
its fixed address; every LEDGER_* variable the compose file and the Dockerfile set is a
setting of ledger_app/settings.py and every command a `ledger-app` command (a rename
breaks this test); ports agree between the service, nginx and Prometheus; every image
is pinned; every ledger_* series an alert uses is one the service exposes. The scripts
that need no Docker (render-network.py, generate-tls.sh, new-operator-keystore.py) are
run for real in a temporary copy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import rlp
import yaml
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak

from ledger_app import PROJECT_ROOT, metrics
from ledger_app.cli import _parser
from ledger_app.settings import Settings

BESU = PROJECT_ROOT / "deploy" / "besu"

#: Names the compose file uses that other branches of issue 22 add (the lead empties this
#: when merging them; test_awaited_names_are_still_missing then says it is time).
AWAITING_SETTINGS: dict[str, str] = {}
AWAITING_COMMANDS: dict[str, str] = {}

#: Series computed at the scrape by ledger_app/api/metrics.py (ChainView).
SCRAPE_TIME_SERIES = {"ledger_chain_head_block", "ledger_indexed_block", "ledger_indexer_running"}


def compose(root: Path = BESU) -> dict[str, Any]:
    return yaml.safe_load((root / "docker-compose.yml").read_text())


def besu_nodes(root: Path = BESU) -> dict[str, str]:
    """Compose service -> fixed address, for every service running a Besu config file."""
    services = compose(root)["services"]
    return {
        name: service["networks"]["ledger-net"]["ipv4_address"]
        for name, service in services.items()
        if any(str(arg).startswith("--config-file=") for arg in service.get("command", []))
    }


def node_config(name: str, root: Path = BESU) -> dict[str, Any]:
    return tomllib.loads((root / "config" / f"{name}.toml").read_text())


def enodes(root: Path = BESU) -> dict[str, str]:
    """Address (ip) -> public key hex, of config/static-nodes.json."""
    found = {}
    for url in json.loads((root / "config" / "static-nodes.json").read_text()):
        match = re.fullmatch(r"enode://([0-9a-f]{128})@([0-9.]+):(\d+)", url)
        assert match, url
        found[match.group(2)] = match.group(1)
    return found


def ledger_environment() -> dict[str, str]:
    """Every variable set for a ledger process: compose (anchors merged) and Dockerfile."""
    names: dict[str, str] = {}
    for service in compose()["services"].values():
        if service.get("image", "").startswith("ledger-app:"):
            names.update({k: str(v) for k, v in service.get("environment", {}).items()})
    dockerfile = (BESU / "Dockerfile").read_text()
    names.update(dict(re.findall(r"\b(LEDGER_[A-Z0-9_]+)=(\S+)", dockerfile)))
    return names


def assert_network_consistent(root: Path) -> None:
    """The genesis, validators.json, static nodes, allowlist and node configs of ``root``
    describe one network."""
    genesis = json.loads((root / "config" / "genesis.json").read_text())
    validators = json.loads((root / "config" / "validators.json").read_text())
    assert len(validators) >= 4, "QBFT tolerates f faults with 3f+1 validators: at least 4"
    assert len(set(validators)) == len(validators)
    expected = rlp.encode([bytes(32), [bytes.fromhex(v[2:]) for v in validators], [], b"", []])
    assert genesis["extraData"] == "0x" + expected.hex()
    decoded = rlp.decode(bytes.fromhex(genesis["extraData"][2:]))
    assert ["0x" + a.hex() for a in decoded[1]] == validators

    nodes = besu_nodes(root)
    keys_at = enodes(root)
    allowlist = tomllib.loads((root / "config" / "permissions_config.toml").read_text())
    assert sorted(allowlist["nodes-allowlist"]) == sorted(
        json.loads((root / "config" / "static-nodes.json").read_text())
    )
    assert set(keys_at) == set(nodes.values()), "every Besu service allowlisted, no other"
    validator_nodes = [n for n in nodes if n.startswith("validator")]
    assert len(validator_nodes) == len(validators)
    addresses = {
        "0x" + keccak(bytes.fromhex(keys_at[nodes[n]]))[12:].hex() for n in validator_nodes
    }
    assert addresses == set(validators), "validators.json holds the validator nodes' keys"
    for name, address in nodes.items():
        config = node_config(name, root)
        assert config["p2p-host"] == address
        assert name in config["host-allowlist"]
        assert config["permissions-nodes-config-file-enabled"] is True
        assert config["rpc-http-tls-enabled"] is True
        assert config["min-gas-price"] == 0
        assert config["metrics-enabled"] is True
        assert config["discovery-enabled"] is False


# --- the committed files --------------------------------------------------------------


def test_every_file_parses() -> None:
    parsed = 0
    for path in sorted(BESU.rglob("*")):
        if path.suffix in (".yml", ".yaml"):
            assert yaml.safe_load(path.read_text()) is not None, path
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text())
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".sh":
            subprocess.run(["bash", "-n", str(path)], check=True)
        elif path.suffix == ".py":
            compile(path.read_text(), str(path), "exec")
        else:
            continue
        parsed += 1
    assert parsed >= 17


def test_genesis_names_the_validators_of_the_allowlisted_nodes() -> None:
    assert_network_consistent(BESU)
    genesis = json.loads((BESU / "config" / "genesis.json").read_text())
    qbft = genesis["config"]["qbft"]
    assert {"blockperiodseconds", "epochlength", "requesttimeoutseconds"} <= set(qbft)
    assert genesis["config"]["zeroBaseFee"] is True
    assert str(genesis["config"]["chainId"]) == ledger_environment()["LEDGER_CHAIN_ID"]
    # The contracts are compiled for cancun: the chain must run it from block 0.
    evm = yaml.safe_load((PROJECT_ROOT / "ape-config.yaml").read_text())["solidity"]
    assert evm["evm_version"] == "cancun"
    assert genesis["config"]["shanghaiTime"] == genesis["config"]["cancunTime"] == 0


def test_compose_mounts_what_the_node_configs_name() -> None:
    services = compose()["services"]
    for name in besu_nodes():
        config = node_config(name)
        mounts = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        assert mounts["/config"] == "./config"
        assert mounts["/keys"] == f"./keys/{name}"
        assert mounts["/tls"] == f"./tls/nodes/{name}"
        for option in ("genesis-file", "static-nodes-file", "permissions-nodes-config-file"):
            assert (BESU / "config" / Path(config[option]).name).exists(), option
        assert config["node-private-key-file"] == "/keys/key"
        assert config["rpc-http-tls-keystore-file"].startswith("/tls/")


def test_compose_sets_only_settings_that_exist() -> None:
    fields = {f"LEDGER_{name.upper()}" for name in Settings.model_fields}
    used = {name for name in ledger_environment() if name.startswith("LEDGER_")}
    unknown = used - fields - set(AWAITING_SETTINGS)
    assert not unknown, f"not settings of ledger_app/settings.py: {sorted(unknown)}"
    assert len(used) >= 15
    # Values the settings would refuse are refused here too.
    values = {k: v for k, v in ledger_environment().items() if k in fields}
    env = {k: v for k, v in values.items() if k not in ("LEDGER_DATABASE_URL",)}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        settings = Settings()
    assert settings.managed_node is False
    assert settings.embedded_indexer is False


def test_compose_runs_ledger_app_commands_that_exist() -> None:
    known = _commands()
    for name, service in compose()["services"].items():
        if service.get("image", "").startswith("ledger-app:"):
            command = service["command"][0]
            assert command in known | set(AWAITING_COMMANDS), (name, command)


def test_awaited_names_are_still_missing() -> None:
    """When the branches adding them are merged, empty AWAITING_* above."""
    fields = {f"LEDGER_{name.upper()}" for name in Settings.model_fields}
    assert not set(AWAITING_SETTINGS) & fields, "now a setting: remove it from AWAITING"
    assert not set(AWAITING_COMMANDS) & _commands(), "now a command: remove it"


def _commands() -> set[str]:
    """The sub-commands of ``ledger-app``."""
    parser = _parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_ports_and_addresses_agree() -> None:
    env = ledger_environment()
    services = compose()["services"]
    nginx = (BESU / "nginx" / "nginx.conf").read_text()
    apis = sorted(n for n, s in services.items() if s.get("command") == ["api"])
    assert len(apis) == 3
    assert sorted(re.findall(r"server (api\d):(\d+)", nginx)) == [
        (a, env["LEDGER_PORT"]) for a in apis
    ]
    proxy_ip = services["proxy"]["networks"]["ledger-net"]["ipv4_address"]
    assert all(services[a]["environment"]["FORWARDED_ALLOW_IPS"] == proxy_ip for a in apis)
    for name, address in besu_nodes().items():
        assert f"https://{name}:8545" in env["LEDGER_RPC_URLS"] or name.startswith("validator")
        assert node_config(name)["rpc-http-port"] == 8545
        assert address.startswith("172.28.0.")
    assert env["LEDGER_RPC_URLS"].startswith("https://rpc1:8545")

    prometheus = yaml.safe_load((BESU / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: {t for c in job["static_configs"] for t in c["targets"]}
        for job in prometheus["scrape_configs"]
    }
    assert targets["ledger-api"] == {f"{a}:{env['LEDGER_PORT']}" for a in apis}
    indexers = [n for n, s in services.items() if s.get("command", [""])[0] == "index"]
    assert len(indexers) == 2, "a writer and a standby"
    for job, names in (("ledger-index", indexers), ("ledger-keeper", ["keeper"])):
        ports = {services[n]["environment"]["LEDGER_METRICS_PORT"] for n in names}
        assert targets[job] == {f"{n}:{p}" for n in names for p in ports}
    assert targets["besu"] == {f"{n}:{node_config(n)['metrics-port']}" for n in besu_nodes()}


def test_every_image_is_pinned() -> None:
    images = [s["image"] for s in compose()["services"].values() if "image" in s]
    dockerfile = (BESU / "Dockerfile").read_text()
    images += re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name, image
        assert re.search(r"\d+\.\d+", tag), f"{image}: pin a version"
        assert "latest" not in tag
    (besu,) = {i for i in images if i.startswith("hyperledger/besu:")}
    for script in ("generate-keys.sh", "generate-tls.sh"):
        assert besu in (BESU / "scripts" / script).read_text(), script
    ledger = {s["image"] for s in compose()["services"].values() if "build" in s}
    assert ledger == {f"ledger-app:{_version()}"}


def _version() -> str:
    from ledger_app import __version__

    return __version__


def test_alerts_use_series_the_service_exposes() -> None:
    exposed = (
        {
            m._name
            for m in (
                metrics.HTTP_REQUESTS,
                metrics.HTTP_DURATION,
                metrics.WRITE_DURATION,
                metrics.SENDER_QUEUE_DEPTH,
                metrics.CHAIN_REWOUND,
            )
        }
        | set(metrics.INDEXER_GAUGES)
        | SCRAPE_TIME_SERIES
    )
    rules = yaml.safe_load((BESU / "prometheus" / "alerts.yml").read_text())
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["alert"]
            assert rule["expr"]
            assert rule["labels"]["severity"]
            used |= set(re.findall(r"\bledger_[a-z_]+", rule["expr"]))
    bare = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in used}
    assert bare <= exposed, sorted(bare - exposed)
    assert len(bare) >= 7


def test_secrets_and_keys_are_never_committed() -> None:
    ignored = (BESU / ".gitignore").read_text().split()
    assert {"/keys/", "/tls/", "/secrets/"} <= set(ignored)
    for secret in compose()["secrets"].values():
        assert secret["file"].startswith(("./secrets/", "./tls/"))


# --- the scripts, run -------------------------------------------------------------------


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    root = tmp_path / "besu"
    shutil.copytree(BESU, root, ignore=shutil.ignore_patterns("keys", "tls", "secrets"))
    return root


def _make_keys(root: Path) -> list[str]:
    addresses = []
    for node in besu_nodes(root):
        key = keys.PrivateKey(os.urandom(32))
        folder = root / "keys" / node
        folder.mkdir(parents=True)
        (folder / "key.pub").write_text(key.public_key.to_hex())
        (folder / "address").write_text(key.public_key.to_checksum_address())
        if node.startswith("validator"):
            addresses.append(key.public_key.to_checksum_address().lower())
    return addresses


def test_render_network_writes_a_consistent_network(copy: Path) -> None:
    validators = _make_keys(copy)
    besu_output = rlp.encode([bytes(32), [bytes.fromhex(a[2:]) for a in validators], [], b"", []])
    (copy / "keys" / "extra-data.txt").write_text("0x" + besu_output.hex() + "\n")
    operator = Account.create().address

    subprocess.run([sys.executable, "scripts/render-network.py", "--operator", operator],
                   cwd=copy, check=True, capture_output=True)  # fmt: skip

    assert_network_consistent(copy)
    assert json.loads((copy / "config" / "validators.json").read_text()) == validators
    allowlist = tomllib.loads((copy / "config" / "permissions_config.toml").read_text())
    assert allowlist["accounts-allowlist"] == [operator]


def test_render_network_refuses_an_extra_data_besu_disagrees_with(copy: Path) -> None:
    _make_keys(copy)
    (copy / "keys" / "extra-data.txt").write_text("0xf87a00\n")
    before = (copy / "config" / "genesis.json").read_text()

    done = subprocess.run([sys.executable, "scripts/render-network.py"], cwd=copy,
                          capture_output=True, text=True)  # fmt: skip

    assert done.returncode != 0
    assert "besu rlp encode wrote 0xf87a00" in done.stderr
    assert (copy / "config" / "genesis.json").read_text() == before


def test_generate_tls_issues_certificates_the_nodes_and_proxy_can_use(copy: Path) -> None:
    env = {**os.environ, "BESU_UID": str(os.getuid())}
    subprocess.run(["bash", "scripts/generate-tls.sh", "ledger.test"], cwd=copy, env=env,
                   check=True, capture_output=True)  # fmt: skip

    tls = copy / "tls"
    for node, address in besu_nodes(copy).items():
        folder = tls / "nodes" / node
        certificate = subprocess.run(
            ["openssl", "pkcs12", "-in", str(folder / "keystore.p12"), "-nokeys", "-clcerts",
             "-passin", f"file:{folder / 'keystore.password'}"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        leaf = folder / "leaf.pem"
        leaf.write_text(certificate)
        san = subprocess.run(["openssl", "x509", "-in", str(leaf), "-noout", "-ext",
                              "subjectAltName"], check=True, capture_output=True, text=True)  # fmt: skip
        assert f"DNS:{node}" in san.stdout
        assert f"IP Address:{address}" in san.stdout
        subprocess.run(["openssl", "verify", "-CAfile", str(tls / "ca" / "ca.crt"), str(leaf)],
                       check=True, capture_output=True)  # fmt: skip
        assert oct((folder / "keystore.password").stat().st_mode & 0o777) == "0o600"
    subprocess.run(["openssl", "verify", "-CAfile", str(tls / "ca" / "ca.crt"),
                    str(tls / "proxy" / "server.crt")], check=True, capture_output=True)  # fmt: skip


def test_new_operator_keystore_opens_with_its_passphrase_and_is_never_replaced(
    tmp_path: Path,
) -> None:
    script = BESU / "scripts" / "new-operator-keystore.py"
    made = subprocess.run([sys.executable, str(script), str(tmp_path)], check=True,
                          capture_output=True, text=True)  # fmt: skip
    address = made.stdout.strip()

    keystore = json.loads((tmp_path / "operator-keystore.json").read_text())
    passphrase = (tmp_path / "operator.passphrase").read_text().strip()
    assert Account.from_key(Account.decrypt(keystore, passphrase)).address == address
    again = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                           text=True)  # fmt: skip
    assert again.returncode != 0
    assert "not replaced" in again.stderr
