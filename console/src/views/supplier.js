// A supplier: receivables to confirm, what it holds, the offers it received.

import { getAll, write } from '../api.js';
import { useLoad } from '../load.js';
import { percent } from '../money.js';
import { html, useLedger, Money, DateTime, Address, Status, Section, Empty, ReceivableLink, FormError, Progress, useAction } from '../ui.js';

function Buttons({ actions, describedBy, onDone }) {
  const action = useAction();
  return html`<div class="row-action">
    ${actions.map(([label, path, kind]) => html`<button type="button" class=${kind ?? ''} aria-describedby=${describedBy}
      disabled=${Boolean(action.busy)}
      onClick=${() => action.run(async (progress) => { await write(path, undefined, progress); onDone(); })}>${label}</button>`)}
    <${Progress} text=${action.busy} /><${FormError} error=${action.error} />
  </div>`;
}

function Terms({ offer }) {
  return html`${percent(offer.advance_rate_bps)} advance, ${percent(offer.discount_rate_bps)} a year
    (ACT/${offer.day_count_basis})${offer.recourse ? ', with recourse' : ''}`;
}

export function SupplierWorklist() {
  const { me } = useLedger();
  const mine = me.address.toLowerCase();
  const data = useLoad(async () => {
    const [receivables, financings] = await Promise.all([getAll('/v1/receivables'), getAll('/v1/financings')]);
    return { receivables, financings };
  });
  const receivables = data.data?.receivables ?? [];
  const financings = data.data?.financings ?? [];
  const toConfirm = receivables.filter((r) => r.status === 'PENDING' && r.creditor.toLowerCase() === mine);
  const held = receivables
    .filter((r) => r.holder.toLowerCase() === mine && ['ACTIVE', 'FINANCING', 'OVERDUE'].includes(r.status))
    .sort((a, b) => a.due_date.localeCompare(b.due_date) || a.id - b.id);
  const offers = financings
    .filter((f) => f.supplier.toLowerCase() === mine)
    .flatMap((f) => f.offers.filter((o) => o.status === 'OPEN').map((o) => ({ financing: f, offer: o })));
  const requests = financings.filter((f) => f.supplier.toLowerCase() === mine && ['REQUESTED', 'OFFERED'].includes(f.status));
  return html`
    ${data.loading && html`<${Progress} text="Loading your receivables and financings…" />`}
    <${FormError} error=${data.error} />
    <${Section} id="supplier-confirm" title="To confirm" count=${toConfirm.length}>
      ${toConfirm.length === 0 ? html`<${Empty}>No receivable awaits your confirmation.<//>` : html`<ul class="tasks">
        ${toConfirm.map((r) => html`<li id=${`confirm-${r.id}`}>
          <span><${ReceivableLink} id=${r.id} />: <${Address} value=${r.debtor} /> owes you <${Money} amount=${r.amount} currency=${r.currency} />,
            due <${DateTime} value=${r.due_date} />.</span>
          <${Buttons} describedBy=${`confirm-${r.id}`} onDone=${data.reload}
            actions=${[['Confirm', `/v1/receivables/${r.id}/confirm`], ['Reject', `/v1/receivables/${r.id}/reject`, 'secondary']]} />
        </li>`)}</ul>`}
    <//>
    <${Section} id="supplier-offers" title="Offers received" count=${offers.length}>
      ${offers.length === 0 ? html`<${Empty}>No open offer.<//>` : html`<ul class="tasks">
        ${offers.map(({ financing: f, offer: o }) => html`<li id=${`offer-${f.id}-${o.index}`}>
          <span>Financing ${f.id} of <${ReceivableLink} id=${f.receivable_id} /> (<${Money} amount=${f.face_amount} currency=${f.currency} />):${' '}
            <${Address} value=${o.financier} /> offers <strong><${Money} amount=${o.proceeds} currency=${f.currency} /></strong> now
            (<${Terms} offer=${o} />, fee <${Money} amount=${o.fee} currency=${f.currency} />), until <${DateTime} value=${o.expires_at} />.</span>
          <${Buttons} describedBy=${`offer-${f.id}-${o.index}`} onDone=${data.reload}
            actions=${[['Accept', `/v1/financings/${f.id}/offers/${o.index}/accept`], ['Reject', `/v1/financings/${f.id}/offers/${o.index}/reject`, 'secondary']]} />
        </li>`)}</ul>`}
    <//>
    <${Section} id="supplier-held" title="You hold" count=${held.length}>
      ${held.length === 0 ? html`<${Empty}>You hold no active receivable.<//>` : html`<table>
        <caption class="sr-only">Receivables you hold; open one to split, transfer or finance it</caption>
        <thead><tr><th scope="col">Receivable</th><th scope="col">Debtor</th><th scope="col" class="num">Amount</th><th scope="col">Due</th><th scope="col">Status</th><th scope="col">Act</th></tr></thead>
        <tbody>${held.map((r) => html`<tr>
          <td><${ReceivableLink} id=${r.id} /></td><td><${Address} value=${r.debtor} /></td>
          <td class="num"><${Money} amount=${r.amount} currency=${r.currency} /></td>
          <td><${DateTime} value=${r.due_date} /></td><td><${Status} value=${r.status} /></td>
          <td>${r.status === 'ACTIVE' ? html`<a href=${`#/receivables/${r.id}`} aria-label=${`Split, transfer or finance receivable ${r.id}`}>Split, transfer, finance</a>` : '—'}</td>
        </tr>`)}</tbody></table>`}
    <//>
    <${Section} id="supplier-requests" title="Your open financing requests" count=${requests.length}>
      ${requests.length === 0 ? html`<${Empty}>No open request.<//>` : html`<ul class="plain">
        ${requests.map((f) => html`<li>Financing ${f.id} of <${ReceivableLink} id=${f.receivable_id} />: <${Status} value=${f.status} />,
          asked of <${Address} value=${f.financier} none="any financier" />, ${f.offer_count === 1 ? '1 offer' : `${f.offer_count} offers`}.</li>`)}</ul>`}
    <//>`;
}
