// "Waiting for you": what a ledger contract keeps for the signed-in participant because it
// could not receive it when it was paid (suspended, KYC expired or frozen then): an
// offer's refund, an HTLC payment. One Claim per contract and currency takes all of it.

import { get, write } from '../api.js';
import { useLoad } from '../load.js';
import { html, Money, Section, FormError, Progress, useAction } from '../ui.js';

const CONTRACT_NAMES = { financing: 'the financing desk', escrows: 'the escrow contract', clearing: 'maturity clearing' };

/** What one deferral was owed for, in words. */
function owedFor(d) {
  if (d.financing_id !== null && d.offer_index !== null) return `refund of offer ${d.offer_index} of financing ${d.financing_id}`;
  if (d.lock_id !== null) return `escrow ${d.lock_id}`;
  if (d.event === 'LeafRedeemed' && d.receivable_id !== null) return `redemption of receivable ${d.receivable_id}`;
  return 'a payment';
}

function ClaimItem({ entry, onDone }) {
  const action = useAction();
  const id = `claim-${entry.contract}-${entry.currency}`;
  const claim = () => action.run(async (progress) => {
    await write('/v1/claims', { contract: entry.contract, currency: entry.currency }, progress);
    onDone();
  });
  return html`<li id=${id}>
    <span><strong><${Money} amount=${entry.amount} currency=${entry.currency} /></strong> waits for you in ${CONTRACT_NAMES[entry.contract] ?? entry.contract}:
      ${entry.deferrals.map((d, i) => html`${i ? '; ' : ''}${owedFor(d)} (<${Money} amount=${d.amount} currency=${entry.currency} />)`)}.</span>
    <div class="row-action">
      <button type="button" aria-describedby=${id} disabled=${Boolean(action.busy)} onClick=${claim}>Claim</button>
      <${Progress} text=${action.busy} /><${FormError} error=${action.error} />
    </div>
  </li>`;
}

/** The panel, on the financier's and the supplier's pages; nothing when nothing waits. */
export function WaitingForYou() {
  const data = useLoad(() => get('/v1/claims'));
  const waiting = data.data ?? [];
  if (data.loading && !data.data) return null;
  if (data.error) return html`<${FormError} error=${data.error} />`;
  if (waiting.length === 0) return null;
  return html`<${Section} id="waiting-for-you" title="Waiting for you" count=${waiting.length}>
    <p class="muted">Paid to you while you could not receive it (suspended, KYC expired or frozen): claim it now that you can.</p>
    <ul class="tasks">${waiting.map((entry) => html`<${ClaimItem} entry=${entry} onDone=${data.reload} key=${`${entry.contract}-${entry.currency}`} />`)}</ul>
  <//>`;
}
