// The peer's handlers: every event of every followed contract becomes an events row, and
// the receivable registry's events build the receivables table as ours does
// (ledger_app/indexer/handlers.py, the ReceivableRegistry section).
import { ponder } from "ponder:registry";
import { events, receivables } from "ponder:schema";
import { hexToString } from "viem";
import { followedEvents, ledger } from "../ledger";

type Args = Record<string, unknown>;
// biome-ignore lint: the registry's types are built from the config, which is data here.
type Event = { args: Args; log: any; block: any; transaction: any; name: string };
type Context = any; // biome-ignore lint: as above
type Handler = (event: Event, context: Context) => Promise<void>;

const STATUS = ledger.receivableStatus;
const INHERITED = [
  "rootId", "debtor", "creditor", "currency", "issueDate", "dueDate",
  "invoiceKey", "documentHash", "lateInterestBps",
] as const;

const lower = (value: unknown) => (value as string).toLowerCase();
const json = (args: Args) =>
  JSON.stringify(args, (_key, value) => (typeof value === "bigint" ? value.toString() : value));
const ascii = (value: unknown) => hexToString(value as `0x${string}`).replace(/\0+$/, "");

const receivableHandlers: Record<string, Handler> = {
  ReceivableRegistered: async ({ args, block }, context) => {
    await context.db.insert(receivables).values({
      id: args.id, parentId: 0n, rootId: args.id,
      debtor: lower(args.debtor), creditor: lower(args.creditor), holder: lower(args.creditor),
      amount: args.amount, currency: ascii(args.currency),
      issueDate: block.timestamp, dueDate: args.dueDate,
      invoiceKey: args.invoiceKey, documentHash: args.documentHash,
      lateInterestBps: Number(args.lateInterestBps), status: "NONE", frozen: false,
      firstChildId: 0n, childCount: 0, outstanding: args.amount,
      createdBlock: block.number, updatedBlock: block.number,
    });
  },
  ReceivableStatusChanged: async ({ args, block }, context) => {
    await context.db
      .update(receivables, { id: args.id })
      .set({ status: STATUS[Number(args.to)], updatedBlock: block.number });
  },
  ReceivableSplit: async ({ args, block }, context) => {
    const amounts = args.amounts as bigint[];
    const first = args.firstChildId as bigint;
    const parent = await context.db.find(receivables, { id: args.parentId });
    await context.db
      .update(receivables, { id: args.parentId })
      .set({ firstChildId: first, childCount: amounts.length, updatedBlock: block.number });
    const inherited = Object.fromEntries(INHERITED.map((column) => [column, parent[column]]));
    await context.db.insert(receivables).values(
      amounts.map((amount, offset) => ({
        ...inherited, id: first + BigInt(offset), parentId: args.parentId,
        holder: lower(args.holder), amount, status: "ACTIVE", frozen: false,
        firstChildId: 0n, childCount: 0, outstanding: null,
        createdBlock: block.number, updatedBlock: block.number,
      })),
    );
  },
  ReceivableTransferred: async ({ args, block }, context) => {
    await context.db
      .update(receivables, { id: args.id })
      .set({ holder: lower(args.to), updatedBlock: block.number });
  },
  ReceivableFrozen: async ({ args, block }, context) => {
    await context.db
      .update(receivables, { id: args.id })
      .set({ frozen: true, updatedBlock: block.number });
  },
  ReceivableUnfrozen: async ({ args, block }, context) => {
    await context.db
      .update(receivables, { id: args.id })
      .set({ frozen: false, updatedBlock: block.number });
  },
  ReceivableSettled: async ({ args, block }, context) => {
    await context.db
      .update(receivables, { id: args.rootId })
      .set({ outstanding: args.outstanding, updatedBlock: block.number });
  },
};

for (const [kind, name] of followedEvents()) {
  const readModel = kind === "ReceivableRegistry" ? receivableHandlers[name] : undefined;
  // biome-ignore lint: event names are data here, not literal types.
  ponder.on(`${kind}:${name}` as any, async ({ event, context }: any) => {
    await context.db.insert(events).values({
      chainId: 31337n,
      txHash: event.transaction.hash,
      logIndex: event.log.logIndex,
      blockNumber: event.block.number,
      blockHash: event.block.hash,
      blockTimestamp: event.block.timestamp,
      contract: lower(event.log.address),
      contractKind: kind,
      eventName: name,
      args: json(event.args),
    });
    if (readModel) await readModel(event, context);
  });
}
