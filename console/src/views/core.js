// A core enterprise: what it owes by due date, what awaits its action, and batch upload.

import { useState } from 'preact/hooks';
import { getAll, write } from '../api.js';
import { useLoad } from '../load.js';
import { html, useLedger, Money, DateTime, Address, Status, Section, Empty, ReceivableLink, FormError, Progress, useAction } from '../ui.js';
import { isPast } from '../dates.js';
import { sumMinor } from '../money.js';
import { BatchUpload } from './batch.js';

const OPEN = new Set(['PENDING', 'ACTIVE', 'SPLIT', 'FINANCING', 'FINANCED', 'OVERDUE']);

function RowAction({ label, path, onDone, describedBy }) {
  const action = useAction();
  const click = () => action.run(async (progress) => {
    await write(path, undefined, progress);
    onDone();
  });
  return html`<span class="row-action">
    <button type="button" onClick=${click} disabled=${Boolean(action.busy)} aria-describedby=${describedBy}>${label}</button>
    <${Progress} text=${action.busy} /><${FormError} error=${action.error} />
  </span>`;
}

export function CoreWorklist() {
  const { me } = useLedger();
  const mine = me.address.toLowerCase();
  const payables = useLoad(async () => {
    const all = await getAll('/v1/receivables');
    return all
      .filter((r) => r.debtor.toLowerCase() === mine && r.parent_id === 0)
      .sort((a, b) => a.due_date.localeCompare(b.due_date) || a.id - b.id);
  });
  const rows = payables.data ?? [];
  const open = rows.filter((r) => OPEN.has(r.status));
  const pending = open.filter((r) => r.status === 'PENDING');
  const due = open.filter((r) => r.status !== 'PENDING' && isPast(r.due_date));
  const totals = {};
  for (const r of open.filter((x) => x.status !== 'PENDING')) (totals[r.currency] ??= []).push(r.amount);
  return html`
    <${Section} id="core-action" title="Awaiting your action" count=${pending.length + due.length}>
      ${payables.loading && html`<${Progress} text="Loading your payables…" />`}
      <${FormError} error=${payables.error} />
      ${pending.length + due.length === 0 && !payables.loading && html`<${Empty}>Nothing awaits you.<//>`}
      <ul class="tasks">
        ${pending.map((r) => html`<li id=${`task-${r.id}`}>
          <span><${ReceivableLink} id=${r.id} />: <${Money} amount=${r.amount} currency=${r.currency} /> to <${Address} value=${r.creditor} />${' '}
          awaits its creditor's confirmation; you may withdraw it.</span>
          <${RowAction} label="Cancel" path=${`/v1/receivables/${r.id}/cancel`} onDone=${payables.reload} describedBy=${`task-${r.id}`} />
        </li>`)}
        ${due.map((r) => html`<li id=${`task-${r.id}`}>
          <span><${ReceivableLink} id=${r.id} />: <${Money} amount=${r.amount} currency=${r.currency} /> was due <${DateTime} value=${r.due_date} />: repay it into clearing.</span>
          <${RowAction} label="Repay" path=${`/v1/clearing/${r.id}/repay`} onDone=${payables.reload} describedBy=${`task-${r.id}`} />
        </li>`)}
      </ul>
    <//>
    <${Section} id="core-payables" title="Payables by due date" count=${rows.length}>
      <p class="totals">Outstanding: ${Object.entries(totals).map(([c, a]) => html`<span><${Money} amount=${sumMinor(a)} currency=${c} /></span> `)}
        ${Object.keys(totals).length === 0 && '—'}</p>
      ${rows.length === 0 && !payables.loading ? html`<${Empty}>You owe nothing on the ledger.<//>` : html`
      <table>
        <caption class="sr-only">Receivables you owe, soonest due first</caption>
        <thead><tr><th scope="col">Receivable</th><th scope="col">Due</th><th scope="col" class="num">Amount</th><th scope="col">Creditor</th><th scope="col">Status</th></tr></thead>
        <tbody>${rows.map((r) => html`<tr class=${OPEN.has(r.status) && isPast(r.due_date) ? 'overdue' : ''}>
          <td><${ReceivableLink} id=${r.id} /></td><td><${DateTime} value=${r.due_date} /></td>
          <td class="num"><${Money} amount=${r.amount} currency=${r.currency} /></td>
          <td><${Address} value=${r.creditor} /></td><td><${Status} value=${r.status} /></td></tr>`)}</tbody>
      </table>`}
    <//>
    <${BatchUpload} onDone=${payables.reload} />`;
}
