// Early warning: what of the participant's own business (all of it for auditors,
// regulators and the operator) is coming due, running close to its line, expiring, or
// restricted by the overdue trigger (GET /v1/risk/warnings).

import { useState } from 'preact/hooks';
import { get } from '../api.js';
import { useLoad } from '../load.js';
import { html, Money, DateTime, Address, Section, Empty, ReceivableLink, FormError, Progress } from '../ui.js';
import { UtilisationBar } from './risk.js';

const WINDOWS = [7, 14, 30, 60, 90];

const days = (n) => (Number(n) === 1 ? '1 day' : `${n} days`);

function DueSoon({ items }) {
  return html`<${Section} id="warn-due" title="Due soon" count=${items.length}>
    ${items.length === 0 ? html`<${Empty}>Nothing falls due in the window.<//>` : html`<table>
      <caption class="sr-only">Receivables falling due soon, soonest first</caption>
      <thead><tr><th scope="col">Receivable</th><th scope="col">Debtor</th><th scope="col" class="num">Amount</th><th scope="col">Due</th><th scope="col" class="num">Days left</th><th scope="col">As</th></tr></thead>
      <tbody>${items.map((d) => html`<tr class=${Number(d.days_left) <= 3 ? 'overdue' : ''}>
        <td><${ReceivableLink} id=${d.root_id ?? d.receivable_id} /></td><td><${Address} value=${d.debtor} /></td>
        <td class="num"><${Money} amount=${d.amount} currency=${d.currency} /></td><td><${DateTime} value=${d.due_date} /></td>
        <td class="num">${d.days_left}</td><td>${String(d.role ?? '').toLowerCase().replace(/_/g, ' ')}</td></tr>`)}</tbody></table>`}
  <//>`;
}

function LinesOver({ items }) {
  const sorted = items.slice().sort((a, b) => Number(b.utilisation_bps) - Number(a.utilisation_bps));
  return html`<${Section} id="warn-lines" title="Lines over 80 % used" count=${items.length}>
    ${items.length === 0 ? html`<${Empty}>No line is over 80 % used.<//>` : html`<table>
      <caption class="sr-only">Credit lines over 80, 90 and 100 per cent utilised, fullest first</caption>
      <thead><tr><th scope="col">Line</th><th scope="col">Financier</th><th scope="col">Obligor</th><th scope="col" class="num">Limit</th>
        <th scope="col" class="num">Utilised</th><th scope="col">Utilisation</th><th scope="col">Band</th></tr></thead>
      <tbody>${sorted.map((l) => html`<tr data-line=${l.line_id}><td>${l.line_id}</td><td><${Address} value=${l.financier} /></td><td><${Address} value=${l.obligor} /></td>
        <td class="num"><${Money} amount=${l.limit} currency=${l.currency} /></td><td class="num"><${Money} amount=${l.utilised} currency=${l.currency} /></td>
        <td><${UtilisationBar} bps=${l.utilisation_bps} band=${l.band} label=${`Line ${l.line_id} utilisation`} /></td>
        <td><span class=${`band-label band-${l.band}`}>≥ ${l.band} %</span></td></tr>`)}</tbody></table>`}
  <//>`;
}

function Expiring({ items }) {
  return html`<${Section} id="warn-expiring" title="Lines expiring" count=${items.length}>
    ${items.length === 0 ? html`<${Empty}>No line expires in the window.<//>` : html`<table>
      <caption class="sr-only">Credit lines expiring soon, soonest first</caption>
      <thead><tr><th scope="col">Line</th><th scope="col">Financier</th><th scope="col">Obligor</th><th scope="col" class="num">Limit</th><th scope="col">Utilisation</th><th scope="col">Expires</th><th scope="col" class="num">Days left</th></tr></thead>
      <tbody>${items.map((l) => html`<tr data-line=${l.line_id}><td>${l.line_id}</td><td><${Address} value=${l.financier} /></td><td><${Address} value=${l.obligor} /></td>
        <td class="num">${l.limit !== undefined ? html`<${Money} amount=${l.limit} currency=${l.currency} />` : '—'}</td>
        <td>${l.utilisation_bps !== undefined ? html`<${UtilisationBar} bps=${l.utilisation_bps} label=${`Line ${l.line_id} utilisation`} />` : '—'}</td>
        <td><${DateTime} value=${l.expiry} /></td><td class="num">${l.days_left}</td></tr>`)}</tbody></table>`}
  <//>`;
}

function Restricted({ items }) {
  return html`<${Section} id="warn-restricted" title="Restricted cores (past the overdue trigger)" count=${items.length}>
    ${items.length === 0 ? html`<${Empty}>No core is restricted.<//>` : html`<ul class="plain">
      ${items.map((c) => html`<li data-core=${c.core}><${Address} value=${c.core} />: ${c.overdue_roots} root${Number(c.overdue_roots) === 1 ? '' : 's'} overdue
        past the trigger, the oldest due <${DateTime} value=${c.oldest_due_date} />. It can register nothing new and nothing it owes can be newly financed.</li>`)}</ul>`}
  <//>`;
}

export function WarningsPage() {
  const [within, setWithin] = useState(30);
  const data = useLoad(() => get(`/v1/risk/warnings?within_days=${within}`), [within]);
  const w = data.data;
  return html`<h1 tabindex="-1">Early warning</h1>
    <p class="lead">${w ? html`As indexed at block ${w.as_of_block} (<${DateTime} value=${w.as_of} />, the chain's clock).` : ''}</p>
    <div class="field inline-field"><label for="warn-within">Window</label>
      <select id="warn-within" value=${within} onChange=${(e) => setWithin(Number(e.target.value))}>
        ${WINDOWS.map((n) => html`<option value=${n}>${days(n)}</option>`)}</select></div>
    ${data.loading && html`<${Progress} text="Loading warnings…" />`}
    <${FormError} error=${data.error} />
    ${w && html`<${Restricted} items=${w.restricted_cores ?? []} />
      <${LinesOver} items=${w.lines ?? []} />
      <${DueSoon} items=${w.due_soon ?? []} />
      <${Expiring} items=${w.expiring_lines ?? []} />`}`;
}
