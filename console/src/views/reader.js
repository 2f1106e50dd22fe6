// Auditors and regulators: a search box, receivables by status and overdue exposure.

import { useState } from 'preact/hooks';
import { get } from '../api.js';
import { useLoad } from '../load.js';
import { html, Money, DateTime, Address, Status, Section, Empty, ReceivableLink, FormError, Progress } from '../ui.js';

const STATUSES = ['', 'PENDING', 'ACTIVE', 'SPLIT', 'FINANCING', 'FINANCED', 'OVERDUE', 'DEFAULTED', 'SETTLED', 'REJECTED', 'CANCELLED'];

export function SearchBox({ initial = '' }) {
  const submit = (event) => {
    event.preventDefault();
    const q = new FormData(event.target).get('q').trim();
    location.hash = /^[0-9]+$/.test(q) ? `#/receivables/${q}` : `#/search?q=${encodeURIComponent(q)}`;
  };
  return html`<form role="search" class="search" onSubmit=${submit}>
    <label for="search-q">Receivable id, participant address or transaction hash</label>
    <div class="inline"><input id="search-q" name="q" value=${initial} autocomplete="off" spellcheck=${false} />
    <button type="submit">Search</button></div>
  </form>`;
}

export function ReaderWorklist() {
  const [status, setStatus] = useState('');
  const report = useLoad(() => get(`/v1/audit/receivables?limit=200${status ? `&status=${status}` : ''}`), [status]);
  const exposure = useLoad(() => get('/v1/audit/exposure'));
  const items = report.data?.items ?? [];
  return html`
    <${Section} id="reader-search" title="Search the ledger"><${SearchBox} /><//>
    <${Section} id="reader-exposure" title="Overdue and defaulted exposure" count=${exposure.data?.items.length}>
      <${FormError} error=${exposure.error} />
      ${(exposure.data?.items ?? []).length === 0 ? html`<${Empty}>No overdue or defaulted financing.<//>` : html`<table>
        <thead><tr><th scope="col">Financier</th><th scope="col" class="num">Overdue</th><th scope="col" class="num">Defaulted</th><th scope="col" class="num">Recourse claims</th><th scope="col">Receivables</th></tr></thead>
        <tbody>${exposure.data.items.map((e) => html`<tr><td><${Address} value=${e.financier} /></td>
          <td class="num"><${Money} amount=${String(e.overdue_amount)} currency=${e.currency} /> (${e.overdue_count})</td>
          <td class="num"><${Money} amount=${String(e.defaulted_amount)} currency=${e.currency} /> (${e.defaulted_count})</td>
          <td class="num"><${Money} amount=${String(e.recourse_claims)} currency=${e.currency} /></td>
          <td>${(e.receivables ?? []).map((r) => html`<${ReceivableLink} id=${typeof r === 'object' ? r.id : r} /> `)}</td></tr>`)}</tbody></table>`}
    <//>
    <${Section} id="reader-receivables" title="Receivables" count=${report.data?.count}>
      <div class="field inline-field"><label for="reader-status">Status</label>
        <select id="reader-status" value=${status} onChange=${(e) => setStatus(e.target.value)}>
          ${STATUSES.map((s) => html`<option value=${s}>${s || 'any'}</option>`)}</select></div>
      ${report.loading && html`<${Progress} text="Loading…" />`}
      <${FormError} error=${report.error} />
      <p class="totals">Face by currency: ${Object.entries(report.data?.totals ?? {}).map(([c, t]) => html`<span><${Money} amount=${t.amount} currency=${c} /> in ${t.count} </span>`)}</p>
      ${items.length === 0 && !report.loading ? html`<${Empty}>None.<//>` : html`<table>
        <thead><tr><th scope="col">Receivable</th><th scope="col">Root</th><th scope="col">Debtor</th><th scope="col">Holder</th><th scope="col" class="num">Amount</th><th scope="col">Due</th><th scope="col">Status</th></tr></thead>
        <tbody>${items.map((r) => html`<tr><td><${ReceivableLink} id=${r.id} /></td><td><${ReceivableLink} id=${r.root_id} /></td>
          <td><${Address} value=${r.debtor} /></td><td><${Address} value=${r.holder} /></td>
          <td class="num"><${Money} amount=${r.amount} currency=${r.currency} /></td><td><${DateTime} value=${r.due_date} /></td>
          <td><${Status} value=${r.status} /></td></tr>`)}</tbody></table>`}
    <//>`;
}
