// A financier: open requests to offer on (each with the debtor's risk score and the
// headroom of its own line to the debtor), its offers, its portfolio and overdue exposure.

import { useState } from 'preact/hooks';
import { call, get, getAll, write, ApiError } from '../api.js';
import { useLoad } from '../load.js';
import { html, useLedger, decimalsOf, Money, DateTime, Address, Status, Section, Empty, ReceivableLink, Field, FormError, Progress, useAction } from '../ui.js';
import { parseAmount, parsePercent, sumMinor, percent } from '../money.js';
import { isPast } from '../dates.js';
import { ScoreBadge, RiskScore, LineHeadroom } from './risk.js';
import { WaitingForYou } from './claims.js';
import { FinancierAfterFunding } from './recourse.js';

/**
 * The financing's ``risk`` block as the financier reads it: the debtor's score and its own
 * line's headroom; the score's inputs on demand.
 */
function DebtorRisk({ financing }) {
  const [open, setOpen] = useState(false);
  const risk = financing.risk;
  const debtor = risk?.debtor;
  const over = risk?.line && BigInt(risk.line.headroom) < BigInt(financing.face_amount);
  return html`<div class="risk-note" id=${`risk-${financing.id}`}>
    <p><span class="muted">Debtor's score</span> <${ScoreBadge} score=${risk?.debtor_score} />
      <span class="sep">·</span> <span class="muted">Your line to the debtor</span>${' '}
      <${LineHeadroom} line=${risk?.line} currency=${financing.currency}
        none=${`no open line to this debtor in ${financing.currency}: an accept would be refused`} />
      ${over && html` <span class="bad">the face amount is over the headroom: an accept would be refused</span>`}</p>
    ${debtor && html`<button type="button" class="link" aria-expanded=${open ? 'true' : 'false'} aria-controls=${`risk-${financing.id}-inputs`}
      onClick=${() => setOpen(!open)}>${open ? 'Hide' : 'Show'} the score's inputs</button>`}
    <div id=${`risk-${financing.id}-inputs`}>
      ${open && html`<${RiskScore} core=${debtor} />`}</div>
  </div>`;
}

function defaultExpiry() {
  const d = new Date(Date.now() + 14 * 86_400_000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** The offer's terms from the form, in the API's shape; a field's problem as an ApiError. */
function readTerms(form, decimals) {
  const value = (name) => form.elements[name].value;
  const fail = (field, message) => { throw new ApiError(0, { error: 'InvalidInput', message, args: { field } }); };
  const terms = { day_count_basis: 365, recourse: form.elements.recourse.checked };
  try { terms.advance_rate_bps = parsePercent(value('advance_rate_bps')); } catch (e) { fail('advance_rate_bps', e.message); }
  try { terms.discount_rate_bps = parsePercent(value('discount_rate_bps')); } catch (e) { fail('discount_rate_bps', e.message); }
  try { terms.fee = value('fee').trim() === '' || /^0+(\.0*)?$/.test(value('fee').trim()) ? '0' : parseAmount(value('fee'), decimals); } catch (e) { fail('fee', e.message); }
  const [y, m, d] = value('expires_at').split('-').map(Number);
  if (!y || !m || !d) fail('expires_at', 'choose the last day the offer can be accepted');
  // Open until the end of that day where the financier is.
  terms.expires_at = new Date(y, m - 1, d, 23, 59, 59).toISOString();
  const grace = value('grace_period_days').trim();
  if (!/^[0-9]+$/.test(grace)) fail('grace_period_days', 'a whole number of days');
  terms.grace_period_days = Number(grace);
  return terms;
}

function OfferForm({ financing, onDone }) {
  const ledger = useLedger();
  const action = useAction();
  const [quote, setQuote] = useState(null);
  const prefix = `offer-${financing.id}`;
  const decimals = decimalsOf(ledger, financing.currency);
  const submit = (kind) => (event) => {
    event.preventDefault();
    const form = event.target.closest('form');
    action.run(async (progress) => {
      const terms = readTerms(form, decimals);
      if (kind === 'quote') {
        progress('Pricing the terms…');
        setQuote((await call('POST', `/v1/financings/${financing.id}/quote`, { body: terms })).body);
        return;
      }
      await write(`/v1/financings/${financing.id}/offers`, terms, progress);
      onDone();
    });
  };
  const id = (name) => `${prefix}-${name}`;
  const err = (name) => action.fieldError(name);
  const names = ['advance_rate_bps', 'discount_rate_bps', 'fee', 'expires_at', 'grace_period_days'];
  return html`<form class="inline-form" onSubmit=${submit('offer')} aria-label=${`Offer on financing ${financing.id}`}>
    <div class="fields">
      <${Field} id=${id('advance')} label="Advance (% of face)" error=${err('advance_rate_bps')}><input name="advance_rate_bps" value="90" inputmode="decimal" /><//>
      <${Field} id=${id('discount')} label="Discount rate (% a year)" error=${err('discount_rate_bps')}><input name="discount_rate_bps" value="6" inputmode="decimal" /><//>
      <${Field} id=${id('fee')} label=${`Fee (${financing.currency})`} error=${err('fee')}><input name="fee" value="0" inputmode="decimal" /><//>
      <${Field} id=${id('expires')} label="Open until (end of day)" error=${err('expires_at')}><input name="expires_at" type="date" value=${defaultExpiry()} /><//>
      <${Field} id=${id('grace')} label="Grace period (days)" error=${err('grace_period_days')}><input name="grace_period_days" value="30" inputmode="numeric" /><//>
      <div class="field checkbox"><input id=${id('recourse')} name="recourse" type="checkbox" /><label for=${id('recourse')}>With recourse</label></div>
    </div>
    <div class="buttons">
      <button type="button" class="secondary" onClick=${submit('quote')} disabled=${Boolean(action.busy)}>Quote</button>
      <button type="submit" disabled=${Boolean(action.busy)}>Make offer</button>
    </div>
    <${Progress} text=${action.busy} />
    <${FormError} error=${action.shownFields(names)} />
    ${quote && html`<p class="quote" role="status">At ${quote.days_to_maturity} days to maturity: advance <${Money} amount=${quote.advance} currency=${quote.currency} />,
      discount <${Money} amount=${quote.discount} currency=${quote.currency} />, fee <${Money} amount=${quote.fee} currency=${quote.currency} />,
      proceeds to the supplier <strong><${Money} amount=${quote.proceeds} currency=${quote.currency} /></strong> (escrowed from your balance when you offer).
      ${quote.risk && html`Debtor's score <${ScoreBadge} score=${quote.risk.debtor_score} />; your line:${' '}
        <${LineHeadroom} line=${quote.risk.line} currency=${quote.currency} none="none open to this debtor" />.`}</p>`}
  </form>`;
}

export function FinancierWorklist() {
  const { me } = useLedger();
  const mine = me.address.toLowerCase();
  const data = useLoad(async () => {
    const [financings, balances] = await Promise.all([getAll('/v1/financings'), get(`/v1/balances/${me.address}`)]);
    return { financings, balances };
  });
  const financings = data.data?.financings ?? [];
  const myOpenOffer = (f) => f.offers.some((o) => o.financier.toLowerCase() === mine && o.status === 'OPEN');
  const open = financings.filter((f) => ['REQUESTED', 'OFFERED'].includes(f.status)
    && (!f.financier || /^0x0{40}$/i.test(f.financier) || f.financier.toLowerCase() === mine) && !myOpenOffer(f));
  const offered = financings.filter((f) => ['REQUESTED', 'OFFERED'].includes(f.status) && myOpenOffer(f));
  const portfolio = financings.filter((f) => ['FUNDED', 'DEFAULTED'].includes(f.status) && f.financier?.toLowerCase() === mine)
    .sort((a, b) => a.due_date.localeCompare(b.due_date));
  const exposure = {};
  const overdue = {};
  for (const f of portfolio.filter((x) => x.status === 'FUNDED')) {
    (exposure[f.currency] ??= []).push(f.face_amount);
    if (isPast(f.due_date)) (overdue[f.currency] ??= []).push(f.face_amount);
  }
  const totals = (byCurrency) => (Object.keys(byCurrency).length === 0 ? 'none'
    : Object.entries(byCurrency).map(([c, a]) => html`<span><${Money} amount=${sumMinor(a)} currency=${c} /> </span>`));
  return html`
    ${data.loading && html`<${Progress} text="Loading financings…" />`}
    <${FormError} error=${data.error} />
    <${WaitingForYou} />
    <${Section} id="financier-open" title="Open requests" count=${open.length}>
      ${open.length === 0 ? html`<${Empty}>No request awaits an offer from you.<//>` : html`<ul class="tasks stacked">
        ${open.map((f) => html`<li>
          <p>Financing ${f.id}: <${Address} value=${f.supplier} /> asks to finance <${ReceivableLink} id=${f.receivable_id} />,${' '}
            <strong><${Money} amount=${f.face_amount} currency=${f.currency} /></strong> due <${DateTime} value=${f.due_date} />${' '}
            (asked of <${Address} value=${f.financier} none="any financier" />; ${f.offer_count === 1 ? '1 offer' : `${f.offer_count} offers`} so far).</p>
          <${DebtorRisk} financing=${f} />
          <details><summary>Make an offer on financing ${f.id}</summary><${OfferForm} financing=${f} onDone=${data.reload} /></details>
        </li>`)}</ul>`}
    <//>
    <${Section} id="financier-offers" title="Your open offers" count=${offered.length}>
      ${offered.length === 0 ? html`<${Empty}>None.<//>` : html`<ul class="plain">
        ${offered.map((f) => f.offers.filter((o) => o.financier.toLowerCase() === mine && o.status === 'OPEN').map((o) => html`<li>
          Financing ${f.id} of <${ReceivableLink} id=${f.receivable_id} />: proceeds <${Money} amount=${o.proceeds} currency=${f.currency} />${' '}
          at ${percent(o.advance_rate_bps)} advance, ${percent(o.discount_rate_bps)} a year; open until <${DateTime} value=${o.expires_at} />.</li>`))}</ul>`}
    <//>
    <${Section} id="financier-portfolio" title="Portfolio" count=${portfolio.length}>
      <dl class="figures">
        <div><dt>Exposure (funded, face)</dt><dd>${totals(exposure)}</dd></div>
        <div class=${Object.keys(overdue).length ? 'alert' : ''}><dt>Overdue exposure</dt><dd id="overdue-exposure">${totals(overdue)}</dd></div>
        <div><dt>Balance</dt><dd>${(data.data?.balances.balances ?? []).map((b) => html`<span><${Money} amount=${b.balance} currency=${b.currency} /> </span>`)}</dd></div>
      </dl>
      ${portfolio.length === 0 ? html`<${Empty}>You have funded nothing yet.<//>` : html`<table>
        <caption class="sr-only">Financings you funded, soonest due first</caption>
        <thead><tr><th scope="col">Financing</th><th scope="col">Receivable</th><th scope="col">Supplier</th><th scope="col" class="num">Face</th><th scope="col">Due</th><th scope="col">Status</th></tr></thead>
        <tbody>${portfolio.map((f) => html`<tr class=${f.status === 'FUNDED' && isPast(f.due_date) ? 'overdue' : ''}>
          <td>${f.id}</td><td><${ReceivableLink} id=${f.receivable_id} /></td><td><${Address} value=${f.supplier} /></td>
          <td class="num"><${Money} amount=${f.face_amount} currency=${f.currency} /></td><td><${DateTime} value=${f.due_date} /></td>
          <td><${Status} value=${f.status === 'FUNDED' && isPast(f.due_date) ? 'OVERDUE' : f.status} /></td></tr>`)}</tbody></table>`}
    <//>
    <${FinancierAfterFunding} financings=${financings} onDone=${data.reload} />`;
}
