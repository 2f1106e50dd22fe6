// Paying a leaf ahead of its root (issue 20): the debtor offers to pay a leaf early at a
// discount and the holder accepts, seeing what it will receive; the debtor repays chosen
// leaves of a root now. Amounts shown are the API's, which computes them as the contract.

import { useState } from 'preact/hooks';
import { get, write } from '../api.js';
import { useLoad } from '../load.js';
import { html, useLedger, Money, DateTime, Field, FormError, Progress, Section, Empty, useAction, ReceivableLink } from '../ui.js';
import { parsePercent, percent } from '../money.js';
import { isPast } from '../dates.js';

const EARLY_PAYABLE = new Set(['ACTIVE', 'FINANCED']);

function defaultExpiry(dueDate) {
  const due = new Date(dueDate).getTime();
  const week = Date.now() + 7 * 86_400_000;
  const until = new Date(Math.min(week, due - 86_400_000));
  return until.toISOString().slice(0, 10);
}

function OfferForm({ r, onDone }) {
  const action = useAction();
  const submit = (event) => {
    event.preventDefault();
    const form = event.target.elements;
    action.run(async (progress) => {
      const [y, m, d] = form.expires_at.value.split('-').map(Number);
      const body = {
        leaf_id: r.id,
        annual_rate_bps: parsePercent(form.annual_rate.value),
        day_count_basis: Number(form.day_count_basis.value),
        expires_at: new Date(y, m - 1, d, 23, 59, 59).toISOString(),
      };
      onDone(await write('/v1/clearing/early-payments', body, progress));
    });
  };
  return html`<form onSubmit=${submit} aria-labelledby="early-offer-title">
    <h3 id="early-offer-title">Offer early payment</h3>
    <${Field} id="early-rate" label="Annual discount rate (%)" hint="The holder receives the face less this rate over the days left to the due date."
      error=${action.fieldError('annual_rate_bps')}><input name="annual_rate" inputmode="decimal" value="6" /><//>
    <${Field} id="early-basis" label="Day count" error=${action.fieldError('day_count_basis')}>
      <select name="day_count_basis"><option value="365">ACT/365</option><option value="360">ACT/360</option></select><//>
    <${Field} id="early-expiry" label="Open until (end of day, before the due date)" error=${action.fieldError('expires_at')}>
      <input name="expires_at" type="date" value=${defaultExpiry(r.due_date)} /><//>
    <button type="submit" disabled=${Boolean(action.busy)}>Offer early payment</button>
    <${Progress} text=${action.busy} /><${FormError} error=${action.shownFields(['annual_rate_bps', 'day_count_basis', 'expires_at'])} />
  </form>`;
}

function OfferRow({ o, mine, holds, onDone }) {
  const action = useAction();
  const act = (verb) => action.run(async (progress) => onDone(await write(`/v1/clearing/early-payments/${o.offer_id}/${verb}`, undefined, progress)));
  const open = o.status === 'OPEN';
  return html`<li id=${`early-offer-${o.offer_id}`} data-status=${o.status}>
    <span>Offer ${o.offer_id}: ${percent(o.annual_rate_bps)} a year (ACT/${o.day_count_basis}), ${open ? html`open until <${DateTime} value=${o.expiry} />` : o.status.toLowerCase()}.
      ${o.paid != null && html` ${open ? 'Accepting now pays' : 'Paid'} <strong class="early-paid"><${Money} amount=${o.paid} currency=${o.currency} /></strong>${' '}
        (face <${Money} amount=${o.face} currency=${o.currency} /> less <${Money} amount=${o.discount} currency=${o.currency} /> for ${o.days_early} days).`}</span>
    ${open && holds && html`<button type="button" onClick=${() => act('accept')} disabled=${Boolean(action.busy)}>Accept early payment</button>`}
    ${open && mine && html`<button type="button" class="secondary" onClick=${() => act('withdraw')} disabled=${Boolean(action.busy)}>Withdraw</button>`}
    <${Progress} text=${action.busy} /><${FormError} error=${action.error} />
  </li>`;
}

/** Early payment offers on leaf `r`: the debtor offers and withdraws, the holder accepts. */
export function EarlyPayments({ r, onDone }) {
  const { me } = useLedger();
  const mine = r.debtor.toLowerCase() === me.address.toLowerCase();
  const holds = r.holder.toLowerCase() === me.address.toLowerCase();
  const offers = useLoad(() => get(`/v1/clearing/early-payments?leaf_id=${r.id}`), [r.id, r.updated_block]);
  const leaf = r.children.length === 0;
  const canOffer = mine && leaf && EARLY_PAYABLE.has(r.status) && !r.frozen && !isPast(r.due_date);
  const list = offers.data ?? [];
  if (!leaf || (!canOffer && list.length === 0)) return null;
  const done = (outcome) => { offers.reload(); onDone(outcome); };
  return html`<${Section} id="early-payments" title="Early payment" count=${list.length}>
    <${FormError} error=${offers.error} />
    ${list.length === 0 ? html`<${Empty}>No early payment offered on this receivable.<//>`
      : html`<ul class="tasks">${list.map((o) => html`<${OfferRow} key=${o.offer_id} o=${o} mine=${mine} holds=${holds} onDone=${done} />`)}</ul>`}
    ${canOffer && html`<${OfferForm} r=${r} onDone=${done} />`}
  <//>`;
}

/** The debtor of root `r` pays chosen leaves now, ahead of the root. */
export function RepayLeaves({ r, onDone }) {
  const { me } = useLedger();
  const mine = r.debtor.toLowerCase() === me.address.toLowerCase() && r.parent_id === 0;
  const clearing = useLoad(() => (mine ? get(`/v1/clearing/${r.id}`) : Promise.resolve(null)), [r.id, r.updated_block]);
  const [chosen, setChosen] = useState(new Set());
  const action = useAction();
  const c = clearing.data;
  if (!mine || !c || c.repaid !== '0' || c.unsettled_leaves.length === 0 || r.status === 'PENDING') return null;
  const toggle = (id) => setChosen((s) => { const n = new Set(s); n.has(id) ? n.delete(id) : n.add(id); return n; });
  const submit = (event) => {
    event.preventDefault();
    action.run(async (progress) => {
      const outcome = await write(`/v1/clearing/${r.id}/repay-leaves`, { leaf_ids: [...chosen].sort((a, b) => a - b) }, progress);
      setChosen(new Set());
      clearing.reload();
      onDone(outcome);
    });
  };
  return html`<${Section} id="repay-leaves" title="Repay chosen parts now">
    <p>Outstanding <${Money} amount=${c.amount_due} currency=${c.currency} />${c.interest_due !== '0' && html` including late interest <${Money} amount=${c.interest_due} currency=${c.currency} />`}.</p>
    <form onSubmit=${submit}>
      <fieldset><legend>Parts to pay to their holders now</legend>
        ${c.unsettled_leaves.map((id) => html`<label class="check"><input type="checkbox" name="leaf" value=${id}
          checked=${chosen.has(id)} disabled=${c.frozen_leaves.includes(id)} onChange=${() => toggle(id)} /> <${ReceivableLink} id=${id} /></label> `)}
      </fieldset>
      <button type="submit" disabled=${Boolean(action.busy) || chosen.size === 0}>Repay chosen leaves</button>
      <${Progress} text=${action.busy} /><${FormError} error=${action.error} />
    </form>
  <//>`;
}
