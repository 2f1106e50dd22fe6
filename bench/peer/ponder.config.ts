// Ponder indexing the bench's generated history (bench/peer_bench.py starts it): every
// contract the indexer follows, the settlement token from its listing on, into the
// PostgreSQL database the bench created for this round.
import { createConfig, factory } from "ponder";
import type { AbiEvent } from "viem";
import { ledger } from "./ledger";

const listed = ledger.abis[ledger.tokenLister]!.find(
  (item) => item.type === "event" && item.name === "SettlementTokenListed",
) as AbiEvent;

const byAddress = Object.fromEntries(
  Object.entries(ledger.contracts).map(([kind, address]) => [
    kind,
    {
      chain: "anvil",
      abi: ledger.abis[kind]!,
      address: address as `0x${string}`,
      startBlock: ledger.startBlock,
      endBlock: ledger.endBlock,
    },
  ]),
);

export default createConfig({
  database: { kind: "postgres", connectionString: ledger.databaseUrl },
  chains: {
    anvil: {
      id: 31337,
      // Ponder paces each listed URL on its own (20 requests/s at first, 5% more after
      // each run of successes, src/rpc/index.ts); maxRequestsPerSecond is deprecated and
      // read nowhere in 0.16. Listing the one URL N times is the configuration's way to
      // open the rate up: N buckets, N x 20 requests/s from the start (rpcCopies = 1 is
      // Ponder as configured by default).
      rpc: Array.from({ length: ledger.rpcCopies }, () => ledger.rpcUrl),
      pollingInterval: 100,
      // anvil answers any range: no probing for the provider's limit.
      ethGetLogsBlockRange: 1_000_000_000,
    },
  },
  contracts: {
    ...byAddress,
    [ledger.tokenKind]: {
      chain: "anvil",
      abi: ledger.abis[ledger.tokenKind]!,
      address: factory({
        address: ledger.contracts[ledger.tokenLister] as `0x${string}`,
        event: listed,
        parameter: "token",
      }),
      startBlock: ledger.startBlock,
      endBlock: ledger.endBlock,
    },
  },
});
