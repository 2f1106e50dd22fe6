// What the bench hands the peer: the ABIs compiled in this checkout, the addresses of the
// generated history, the range to index and the RPC endpoint. bench/peer_bench.py writes
// it (nothing compiled is committed) and names it in PONDER_LEDGER.
import { readFileSync } from "node:fs";
import type { Abi } from "viem";

export type Ledger = {
  rpcUrl: string;
  /** How many times the RPC URL is listed: Ponder rate-limits each entry on its own. */
  rpcCopies: number;
  databaseUrl: string;
  startBlock: number;
  endBlock: number;
  /** Contract type -> address, for every contract the indexer follows by address. */
  contracts: Record<string, string>;
  /** Contract type -> ABI (events are enough). */
  abis: Record<string, Abi>;
  /** The registry that lists the settlement tokens (followed from their listing). */
  tokenLister: string;
  tokenKind: string;
  /** ledger_app.domain.vocabulary.RECEIVABLE_STATUS, index = the contract's enum. */
  receivableStatus: string[];
};

const path = process.env.PONDER_LEDGER;
if (!path) throw new Error("PONDER_LEDGER names the JSON bench/peer_bench.py writes");

export const ledger: Ledger = JSON.parse(readFileSync(path, "utf8"));

/** Every (contract type, event name) pair the peer indexes: all events of each ABI. */
export const followedEvents = (): [string, string][] =>
  Object.entries(ledger.abis).flatMap(([kind, abi]) =>
    abi
      .filter((item) => item.type === "event")
      .map((item) => [kind, (item as { name: string }).name] as [string, string]),
  );
