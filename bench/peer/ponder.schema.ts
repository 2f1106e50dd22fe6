// The peer's read model: the events table and the receivables table of ours
// (ledger_app/db/schema.py), column for column where the history's events determine them.
// Ponder names the columns in snake_case, so both sides are read with the same SQL.
import { onchainTable, primaryKey } from "ponder";

export const events = onchainTable(
  "events",
  (t) => ({
    chainId: t.bigint().notNull(),
    txHash: t.text().notNull(),
    logIndex: t.integer().notNull(),
    blockNumber: t.bigint().notNull(),
    blockHash: t.text().notNull(),
    blockTimestamp: t.bigint().notNull(),
    contract: t.text().notNull(),
    contractKind: t.text().notNull(),
    eventName: t.text().notNull(),
    args: t.text().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.chainId, table.txHash, table.logIndex] }) }),
);

export const receivables = onchainTable("receivables", (t) => ({
  id: t.bigint().primaryKey(),
  parentId: t.bigint().notNull(),
  rootId: t.bigint().notNull(),
  debtor: t.text().notNull(),
  creditor: t.text().notNull(),
  holder: t.text().notNull(),
  amount: t.bigint().notNull(),
  currency: t.text().notNull(),
  issueDate: t.bigint().notNull(),
  dueDate: t.bigint().notNull(),
  invoiceKey: t.text().notNull(),
  documentHash: t.text().notNull(),
  lateInterestBps: t.integer().notNull(),
  status: t.text().notNull(),
  frozen: t.boolean().notNull(),
  firstChildId: t.bigint().notNull(),
  childCount: t.integer().notNull(),
  outstanding: t.bigint(),
  createdBlock: t.bigint().notNull(),
  updatedBlock: t.bigint().notNull(),
}));
