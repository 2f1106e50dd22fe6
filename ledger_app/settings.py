"""Every setting of the service, read from the environment (prefix ``LEDGER_``).

Relative paths are relative to the working directory; ``make run`` runs from
the checkout, so the embedded defaults put all state under ``var/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from limits import parse
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger_app import PROJECT_ROOT


class Settings(BaseSettings):
    """Configuration of node, deployment, database and HTTP server.

    The defaults are the embedded set-up: a local anvil node started and
    stopped by ``ledger-app run``, SQLite under ``var/``. For a Besu QBFT
    network set ``LEDGER_RPC_URL``, ``LEDGER_CHAIN_ID``,
    ``LEDGER_MANAGED_NODE=false`` and the operator keystore; for PostgreSQL set
    ``LEDGER_DATABASE_URL=postgresql+psycopg://user@host/db``.
    """

    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    # --- chain ---------------------------------------------------------------
    rpc_url: str = "http://127.0.0.1:8545"
    rpc_urls: str = Field(
        default="",
        description=(
            "Several nodes of one network, comma-separated, in order of preference: the "
            "service uses one and fails over to the next (README 'Several nodes: "
            "failover'). Empty: LEDGER_RPC_URL alone. When set, LEDGER_RPC_URL is its first."
        ),
    )
    rpc_max_lag: int = Field(
        default=8,
        ge=0,
        description="Blocks a node's head may be behind the best node's and still be used.",
    )
    rpc_check_interval: float = Field(
        default=2.0, gt=0, description="Seconds between health checks of the nodes (several)."
    )
    chain_id: int = Field(default=31337, gt=0)
    managed_node: bool = Field(
        default=True,
        description="Start and stop a local anvil at rpc_url (which must then be loopback).",
    )
    rpc_timeout: float = Field(default=30.0, gt=0, description="Seconds per JSON-RPC request.")
    receipt_timeout: float = Field(
        default=120.0, gt=0, description="Seconds to wait for a sent transaction to be mined."
    )
    priority_fee_wei: int = Field(
        default=0,
        ge=0,
        description="Tip per gas. 0 suits anvil and a QBFT network with free gas.",
    )

    # --- managed anvil node ----------------------------------------------------
    anvil_binary: Path | None = Field(
        default=None,
        description="Default: node_modules' @foundry-rs/anvil-<os>-<arch>, then `anvil` on PATH.",
    )
    # Mining: anvil's automine answers each transaction with a block at once,
    # but it can leave a transaction in the pool for ever when several arrive
    # out of nonce order (foundry-rs/foundry#10122); pure interval mining
    # cannot stall but makes every transaction wait up to a block time. So the
    # node runs both (anvil's --mixed-mining): automine for speed, and an
    # interval tick as the watchdog that mines whatever automine left behind.
    # Our own client never has two transactions of one sender in flight, so
    # only an outside client can trigger the stall, and 10 s to recover is
    # enough; each tick costs an empty block of about 2 kB in the state file
    # (8,640 a day, ~17 MB), which a 1 s tick would make ten times worse.
    # 0 turns the tick off (pure automine); anvil_automine=false with a block
    # time gives pure interval mining.
    anvil_automine: bool = True
    anvil_block_time: float = Field(default=10.0, ge=0, description="Seconds; 0 = no interval.")
    # anvil would write its --state file only on a clean exit: a SIGKILLed node would
    # lose every block since its start. The managed node's state is saved by the service
    # while it runs and at a stop (mining paused, anvil_dumpState, written atomically:
    # chain/node.py); what a crash still loses, the last seconds, the service sends again
    # from its transaction journal.
    anvil_state_interval: float = Field(
        default=2.0,
        ge=0,
        description=(
            "Seconds between saves of the managed anvil's state while it runs (when its "
            "head moved); 0 = only on exit. See README 'Durability'."
        ),
    )

    # --- operator key (chains other than a local anvil) --------------------------
    operator_keystore: Path | None = Field(
        default=None, description="Encrypted JSON keystore (geth/Web3 Secret Storage format)."
    )
    operator_passphrase: SecretStr | None = Field(
        default=None, description="LEDGER_OPERATOR_PASSPHRASE; never logged."
    )
    operator_passphrase_file: Path | None = Field(
        default=None, description="File holding the passphrase (a mounted secret)."
    )

    # --- participants' custodial keys ---------------------------------------------
    keystore_passphrase: SecretStr | None = Field(
        default=None,
        description=(
            "LEDGER_KEYSTORE_PASSPHRASE: encrypts the custodial keystores; never logged. "
            "On a local anvil, when neither it nor the file is set, one is generated "
            "into state_dir/keystore-passphrase on first start."
        ),
    )
    keystore_passphrase_file: Path | None = Field(
        default=None, description="File holding the keystore passphrase (a mounted secret)."
    )
    # --- documents at rest (ledger_app/signing/document_key.py) ----------------------
    document_key: SecretStr | None = Field(
        default=None,
        description=(
            "LEDGER_DOCUMENT_KEY: the 32-byte AES-256-GCM key documents are stored under, "
            "as 64 hex digits or base64; never logged, never in the database. On a local "
            "anvil, when neither it nor the file is set, one is generated into "
            "state_dir/document-key on first start."
        ),
    )
    document_key_file: Path | None = Field(
        default=None, description="File holding the document key (a mounted secret)."
    )
    document_previous_key: SecretStr | None = Field(
        default=None,
        description=(
            "LEDGER_DOCUMENT_PREVIOUS_KEY: during a key rotation, the key being replaced; "
            "documents still stored under it stay readable (README: Documents)."
        ),
    )
    document_previous_key_file: Path | None = Field(
        default=None, description="File holding the previous document key (a mounted secret)."
    )
    keystore_scrypt_n: int = Field(
        default=2**15,
        ge=2**10,
        description="scrypt cost of a custodial keystore (2**18 is geth's; slower to unlock).",
    )
    onboarding_funding_wei: int = Field(
        default=10**19,
        ge=0,
        description=(
            "Ether the operator sends each new custodial account at onboarding, for gas. "
            "10 ether on the dev chain; 0 on a QBFT network with free gas."
        ),
    )

    # --- API -------------------------------------------------------------------------
    embedded_indexer: bool = Field(
        default=True,
        description="Run the indexer inside the API process (one process; false for replicas).",
    )
    replica: bool = Field(
        default=False,
        description=(
            "Set by `ledger-app api`: one of several API replicas sending side by side "
            "(PostgreSQL only; no embedded indexer, no managed node, no keeper thread)."
        ),
    )
    journal_check_interval: float = Field(
        default=1.0,
        gt=0,
        description=(
            "Seconds between checks that the node still has every journaled transaction "
            "(a node restarted from an older state is sent them again)."
        ),
    )
    keeper_interval: float = Field(
        default=60.0,
        ge=0,
        description=(
            "Seconds between the overdue keeper's passes inside `ledger-app run` (marks "
            "leaves past due, flags roots past the overdue trigger); 0 = off (then run "
            "`ledger-app keeper`, or nothing marks them)."
        ),
    )
    keeper_account: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description=(
            "The account the keeper sends as: the operator's (the default) or an active "
            "participant whose key the service holds; the contracts take the marks from "
            "either, only when they are true."
        ),
    )
    shutdown_timeout: float = Field(
        default=15.0,
        gt=0,
        description="Seconds SIGINT/SIGTERM gives the service to stop before it exits anyway.",
    )
    write_index_wait: float = Field(
        default=5.0,
        ge=0,
        description="Seconds a write waits for the index to reach its block before answering 202.",
    )
    document_max_bytes: int = Field(default=10 * 2**20, gt=0)
    document_quota_bytes: int = Field(
        default=256 * 2**20,
        gt=0,
        description=(
            "Bytes of documents one participant may keep (the sizes of its distinct "
            "documents); an upload over it is 413 DocumentQuotaExceeded."
        ),
    )
    request_max_bytes: int = Field(
        default=2**20,
        gt=0,
        description="Bytes of any other request body; a longer one is 413 before it is read.",
    )
    invoice_key_salt: str = Field(
        default="",
        description=(
            "Consortium salt of invoice refs (the invoice number and type, hashed off chain); "
            "default: derived from the chain id and the "
            "receivable registry's address."
        ),
    )
    batch_max_rows: int = Field(default=1_000, gt=0, description="Rows in one batch request.")
    reporting_entity: str = Field(
        default="Supply-chain finance ledger consortium",
        max_length=200,
        description="Who files suspicious-activity reports exported from monitoring cases "
        "(goAML's reporting entity).",
    )
    reporting_entity_id: str = Field(
        default="",
        max_length=64,
        description="The reporting entity's id at the financial intelligence unit (goAML "
        "rentity_id); empty until the FIU has given one.",
    )
    key_recovery_delay: float = Field(
        default=72 * 3600.0,
        ge=0,
        description=(
            "Seconds between the operator's request to recover a participant's API key and "
            "the earliest moment it can complete it; meanwhile the participant's live keys "
            "see the request and may cancel it."
        ),
    )

    # --- quotas (per API process; several replicas each count on their own) ----------
    # Rates in the `limits` notation ("600/minute", "10/second"), counted over a moving
    # window. The defaults leave a normal client (and the test suite) alone and stop a flood.
    rate_limit_per_key: str = Field(
        default="6000/minute",
        description="Requests of one API key; past it 429 RateLimited with Retry-After.",
    )
    rate_limit_per_address: str = Field(
        default="1200/minute",
        description="Requests without an API key from one client address.",
    )
    auth_failure_limit: str = Field(
        default="300/minute",
        description=(
            "Failed authentications (unknown, wrong or revoked key) from one client "
            "address; past it every request with a key from there is 429, unchecked."
        ),
    )
    access_log_summary_interval: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Seconds between the access log's summary rows of refused requests without a "
            "valid key (one row per address, with the count, instead of one per request)."
        ),
    )
    access_log_flush_interval: float = Field(
        default=0.2,
        gt=0,
        le=5,
        description=(
            "Seconds between the access log's writes: rows are kept in memory and written "
            "together, off the request path (each first appended to a local file, so a "
            "crash loses none)."
        ),
    )
    access_log_anchor_interval: float = Field(
        default=300.0,
        ge=0,
        description=(
            "Seconds between anchors of the access log's hash chain on the ledger (sent "
            "when the log grew), and one more at a clean shutdown; 0 = off. Rows since the "
            "last anchor could be altered, chain and all, without the verifier noticing."
        ),
    )
    webhook_delivery_interval: float = Field(
        default=0.25,
        ge=0,
        description=(
            "Seconds between the webhook delivery thread's looks at the outbox (it is also "
            "woken by every indexed batch); 0 = no delivery from this process."
        ),
    )
    webhook_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds a webhook receiver has to answer."
    )
    webhook_backoff_base: float = Field(
        default=2.0,
        gt=0,
        description="Seconds before the first retry of a failed delivery; doubled each time.",
    )
    webhook_backoff_max: float = Field(
        default=600.0, gt=0, description="The longest wait between two delivery attempts."
    )
    webhook_max_failures: int = Field(
        default=10,
        gt=0,
        description="Consecutive failed attempts after which a subscription is disabled.",
    )
    webhook_allow_http_loopback: bool = Field(
        default=False,
        description=(
            "Accept http:// webhook URLs on loopback (127.0.0.0/8, ::1, localhost), for local "
            "tests and demos. Off (production): https only, and no private, loopback, "
            "link-local or multicast target, checked at subscription and at each delivery."
        ),
    )
    webhook_secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "The key webhook signing secrets are derived from (HMAC over the subscription "
            "and a nonce; no secret is stored). Default: derived from the keystore passphrase."
        ),
    )
    webhook_due_soon_interval: float = Field(
        default=60.0,
        ge=0,
        description=(
            "Seconds between passes announcing receivables due within 7 days (the chain's "
            "clock); 0 = off."
        ),
    )
    event_streams_per_key: int = Field(
        default=4, gt=0, description="Event streams (/v1/events/stream) one API key may hold open."
    )
    event_stream_max_seconds: float = Field(
        default=600.0,
        gt=0,
        description=(
            "Seconds after which the service ends an event stream; the client reconnects "
            "with Last-Event-ID (an EventSource does so by itself)."
        ),
    )
    event_stream_heartbeat: float = Field(
        default=15.0, gt=0, description="Seconds between an idle event stream's heartbeats."
    )
    writes_in_flight_per_participant: int = Field(
        default=16,
        gt=0,
        description="Writes one participant may have under way; past it 429 at once.",
    )
    writes_in_flight: int = Field(
        default=64,
        gt=0,
        description="Writes of all participants under way; keep it under worker_threads.",
    )
    authentications_at_once: int = Field(
        default=4,
        gt=0,
        description=(
            "API keys checked at once (each in a worker thread); waiting requests take "
            "turns by key, so one tenant's burst does not queue another tenant's requests."
        ),
    )
    worker_threads: int = Field(
        default=100,
        gt=0,
        description="Threads serving requests (AnyIO's pool); writes get writes_in_flight.",
    )

    # --- compiler target ---------------------------------------------------------------
    evm_version: str = Field(
        default="cancun",
        pattern=r"^[a-z]+$",
        description=(
            "EVM version the contracts are compiled for (solc's evmVersion); must equal "
            "ape-config.yaml's solidity.evm_version and the build's, and be a milestone the "
            "chain has reached (Besu: the genesis file's *Block/*Time settings)."
        ),
    )

    # --- indexer (ledger-app run's embedded one, index and backfill) -----------------
    # Defaults suit anvil and a QBFT network, where a block is final once mined:
    # no confirmations needed; the reorg window still covers anvil's own reorgs
    # (evm_revert, anvil_reorg) and a misbehaving node.
    indexer_confirmations: int = Field(
        default=0, ge=0, description="Index only up to head - N (0: final at once, QBFT/anvil)."
    )
    block_tag: Literal["latest", "finalized"] = Field(
        default="latest",
        description=(
            "latest: index up to head - indexer_confirmations; a node found lower than the "
            "index is followed down (anvil restarted from an older state). finalized: index "
            "up to the node's 'finalized' block, or head - indexer_confirmations on a node "
            "without that tag (Besu QBFT: final at once); what is indexed is final, so a "
            "node lower than the index is lagging and is waited for, never followed down."
        ),
    )
    monitoring_run_interval: float = Field(
        default=1.0,
        ge=0,
        le=3600,
        description=(
            "Least seconds between two runs of the compliance rules once the index has "
            "caught up (0: after every indexed step). A run reads the rules' whole look-back, "
            "on the indexer's thread: one per written block held the next write's indexing "
            "behind it. Alerts come at most this much (plus a poll interval) later."
        ),
    )
    indexer_poll_interval: float = Field(
        default=0.2, gt=0, description="Seconds between looks at the head once caught up."
    )
    indexer_reorg_window: int = Field(
        default=64,
        ge=1,
        description="Recent blocks whose changes can be undone; a deeper reorg stops the indexer.",
    )
    indexer_initial_range: int = Field(
        default=16,
        ge=1,
        description=(
            "Blocks per eth_getLogs to begin with; doubles while answers stay under half "
            "the batch cap. Small, so the first answer from a dense chain stays small."
        ),
    )
    indexer_max_range: int = Field(
        default=50_000,
        ge=1,
        description="Most blocks per eth_getLogs (the range halves on a refusal, doubles after).",
    )
    indexer_read_ahead: bool = Field(
        default=True,
        description=(
            "Far behind the head, a helper process reads the next block range while a "
            "batch is written (about 130 MB more while a backfill lasts)."
        ),
    )
    indexer_read_ahead_min_events: int = Field(
        default=50_000,
        ge=0,
        description=(
            "The read-ahead helper is started when the blocks left look like holding this "
            "many events (at the density indexed so far); a smaller backfill reads itself."
        ),
    )

    # --- storage ---------------------------------------------------------------
    state_dir: Path = Path("var")
    # Both follow state_dir unless set: a service moved to another state directory must
    # not keep reading the old directory's database and deployment record.
    database_url: str = Field(
        default="", description="SQLAlchemy URL; default sqlite:///<state_dir>/ledger.db."
    )
    deployment_file: Path = Field(
        default=Path(), description="Deployment record; default <state_dir>/deployment.json."
    )
    documents_dir: Path = Field(
        default=Path(),
        description=(
            "Where uploaded documents are stored, encrypted, by commitment; default "
            "<state_dir>/documents. API replicas share one (a volume they all mount)."
        ),
    )
    artifacts_file: Path = Field(
        default=PROJECT_ROOT / ".build" / "__local__.json",
        description="ethpm manifest written by `ape compile`.",
    )
    deploy_plan: str = Field(
        default="ledger_app.chain.deploy:PLAN",
        description="module:attribute of the deployment plan (tests swap in stubs).",
    )

    # --- HTTP server -------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description=(
            "Port (on LEDGER_HOST) where a process without the HTTP API (`ledger-app index`, "
            "`keeper`) serves its Prometheus /metrics; unset: none. The API serves /metrics "
            "on its own port."
        ),
    )
    log_level: str = "info"
    http_header_timeout: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Seconds a connection has to send a request's head (line and headers), from "
            "its opening or the end of the previous answer; then it is closed."
        ),
    )
    http_keep_alive_timeout: float = Field(
        default=5.0, gt=0, description="Seconds an idle keep-alive connection stays open."
    )
    http_max_connections: int = Field(
        default=1000,
        gt=0,
        description="Open connections (and requests) at once; past it requests are 503.",
    )

    @field_validator("rate_limit_per_key", "rate_limit_per_address", "auth_failure_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate such as '600/minute' or '10/second'"
            ) from None
        return value

    @model_validator(mode="after")
    def _threads_left_for_reads(self) -> Settings:
        if self.writes_in_flight >= self.worker_threads:
            raise ValueError(
                f"writes_in_flight {self.writes_in_flight} must be under worker_threads "
                f"{self.worker_threads}: writes would leave no thread for reads"
            )
        return self

    @model_validator(mode="after")
    def _paths_under_state_dir(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.state_dir / 'ledger.db'}"
        if self.deployment_file == Path():
            self.deployment_file = self.state_dir / "deployment.json"
        if self.documents_dir == Path():
            self.documents_dir = self.state_dir / "documents"
        return self

    @model_validator(mode="after")
    def _indexer_ranges(self) -> Settings:
        if self.indexer_initial_range > self.indexer_max_range:
            raise ValueError(
                f"indexer_initial_range {self.indexer_initial_range} exceeds "
                f"indexer_max_range {self.indexer_max_range}"
            )
        return self

    @model_validator(mode="after")
    def _one_or_several_nodes(self) -> Settings:
        endpoints = [u.strip() for u in self.rpc_urls.split(",") if u.strip()]
        if not endpoints:
            return self
        if self.managed_node and len(endpoints) > 1:
            raise ValueError(
                "LEDGER_RPC_URLS names several nodes but managed_node starts one local anvil; "
                "set LEDGER_MANAGED_NODE=false to use existing nodes"
            )
        self.rpc_url = endpoints[0]
        return self

    @property
    def rpc_endpoints(self) -> list[str]:
        """The node URLs in order of preference (``rpc_urls``, else ``rpc_url``)."""
        return [u.strip() for u in self.rpc_urls.split(",") if u.strip()] or [self.rpc_url]

    @model_validator(mode="after")
    def _managed_node_is_local(self) -> Settings:
        if self.managed_node and self.rpc_host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError(
                f"managed_node starts anvil on this machine, but rpc_url {self.rpc_url} is not "
                "a loopback address; set LEDGER_MANAGED_NODE=false to use an existing node"
            )
        return self

    @property
    def rpc_host(self) -> str:
        """Host part of ``rpc_url``."""
        return urlsplit(self.rpc_url).hostname or ""

    @property
    def rpc_port(self) -> int:
        """Port part of ``rpc_url`` (80/443 when the URL names none)."""
        parts = urlsplit(self.rpc_url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def anvil_state_file(self) -> Path:
        """Where the managed anvil loads its state from and dumps it to."""
        return self.state_dir / "anvil-state.json"

    @property
    def generated_document_key_file(self) -> Path:
        """Where the dev chain's generated document key is kept (mode 0600)."""
        return self.state_dir / "document-key"

    @property
    def generated_passphrase_file(self) -> Path:
        """Where the dev chain's generated keystore passphrase is kept (mode 0600)."""
        return self.state_dir / "keystore-passphrase"

    @property
    def anvil_log_file(self) -> Path:
        """Output of the managed anvil, rewritten at each start."""
        return self.state_dir / "anvil.log"
