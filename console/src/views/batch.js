// A core enterprise registers a batch of receivables from a CSV file, with a result per row.

import { useState } from 'preact/hooks';
import { write } from '../api.js';
import { html, useLedger, decimalsOf, Section, FormError, Progress, useAction, Money, ReceivableLink } from '../ui.js';
import { parseAmount } from '../money.js';

export const COLUMNS = ['creditor', 'amount', 'currency', 'due_date', 'seller_tax_id', 'invoice_number'];

/** Rows of CSV text (RFC 4180: quoted fields may hold commas, quotes and line breaks). */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows.filter((r) => r.some((f) => f.trim() !== ''));
}

/** The registrations of a CSV's rows and the problems found before sending anything. */
export function readBatch(text, ledger) {
  const [header, ...lines] = parseCsv(text);
  const names = (header ?? []).map((h) => h.trim().toLowerCase());
  const missing = COLUMNS.filter((c) => !names.includes(c));
  if (missing.length) throw new Error(`the first line must name the columns; missing: ${missing.join(', ')}`);
  if (lines.length === 0) throw new Error('the file has no rows under its header');
  return lines.map((cells, index) => {
    const value = (name) => (cells[names.indexOf(name)] ?? '').trim();
    const problems = [];
    const currency = value('currency').toUpperCase();
    if (!ledger.currencies.some((c) => c.currency === currency)) problems.push(`currency: ${currency || '(empty)'} is not listed`);
    let amount = null;
    try {
      amount = parseAmount(value('amount'), decimalsOf(ledger, currency));
    } catch (exc) {
      problems.push(`amount: ${exc.message}`);
    }
    const item = {
      creditor: value('creditor'),
      amount,
      currency,
      due_date: value('due_date'),
      invoice: { seller_tax_id: value('seller_tax_id'), number: value('invoice_number') },
    };
    if (names.includes('invoice_type') && value('invoice_type')) item.invoice.type = value('invoice_type');
    if (names.includes('late_interest_bps') && value('late_interest_bps')) {
      const bps = Number(value('late_interest_bps'));
      if (!Number.isInteger(bps) || bps < 0 || bps > 10_000) problems.push('late_interest_bps: a whole number of basis points, 0 to 10000');
      else item.late_interest_bps = bps;
    }
    return { line: index + 2, item, problems };
  });
}

function Results({ rows }) {
  return html`<table class="batch-results">
    <caption>Result per row</caption>
    <thead><tr><th scope="col">Line</th><th scope="col">Invoice</th><th scope="col" class="num">Amount</th><th scope="col">Result</th></tr></thead>
    <tbody>${rows.map((r) => html`<tr class=${r.problems.length ? 'refused' : r.receivable ? 'ok' : ''} data-line=${r.line}>
      <th scope="row">${r.line}</th><td>${r.item.invoice.number}</td>
      <td class="num">${r.item.amount ? html`<${Money} amount=${r.item.amount} currency=${r.item.currency} />` : '—'}</td>
      <td>${r.receivable ? html`registered as <${ReceivableLink} id=${r.receivable.id} /> (${r.receivable.status})`
        : r.problems.length ? html`<ul class="problems">${r.problems.map((p) => html`<li>${p}</li>`)}</ul>`
        : 'not sent: another row was refused'}</td>
    </tr>`)}</tbody>
  </table>`;
}

export function BatchUpload({ onDone }) {
  const ledger = useLedger();
  const action = useAction();
  const [rows, setRows] = useState(null);
  const [summary, setSummary] = useState(null);
  const submit = (event) => {
    event.preventDefault();
    const file = event.target.elements['batch-file'].files[0];
    setRows(null);
    setSummary(null);
    action.run(async (progress) => {
      if (!file) throw new Error('choose a CSV file first');
      progress(`Reading ${file.name}…`);
      const read = readBatch(await file.text(), ledger);
      if (read.some((r) => r.problems.length)) {
        setRows(read);
        setSummary(`${read.filter((r) => r.problems.length).length} of ${read.length} rows have problems; nothing was sent.`);
        return;
      }
      try {
        const outcome = await write('/v1/receivables/batch', { items: read.map((r) => r.item) },
          (text) => progress(`${read.length} rows: ${text}`));
        const registered = outcome.result?.receivables ?? [];
        setRows(read.map((r, i) => ({ ...r, receivable: registered[i] })));
        setSummary(`All ${read.length} rows registered.`);
        onDone();
      } catch (exc) {
        const fields = exc.fieldMessages ? exc.fieldMessages() : {};
        const perRow = read.map((r, i) => ({
          ...r,
          problems: Object.entries(fields)
            .filter(([name]) => name === `items.${i}` || name.startsWith(`items.${i}.`))
            .map(([name, message]) => `${name.split('.').slice(2).join('.') || 'row'}: ${message}`),
        }));
        if (perRow.some((r) => r.problems.length)) {
          setRows(perRow);
          setSummary(`${perRow.filter((r) => r.problems.length).length} of ${read.length} rows refused; nothing was sent.`);
          return;
        }
        throw exc;
      }
    });
  };
  return html`<${Section} id="core-batch" title="Register a batch (CSV)">
    <p>One receivable a line, under a header naming the columns <code>${COLUMNS.join(',')}</code> (optional <code>invoice_type</code>, and <code>late_interest_bps</code>: annual late interest in basis points).
      Amounts in the currency's units (<code>1000.00</code>), due dates as <code>YYYY-MM-DD</code>. All rows are registered or none.</p>
    <form onSubmit=${submit}>
      <div class="field">
        <label for="batch-file">CSV file</label>
        <input id="batch-file" name="batch-file" type="file" accept=".csv,text/csv" />
      </div>
      <button type="submit" disabled=${Boolean(action.busy)}>Check and register</button>
      <${Progress} text=${action.busy} />
      <${FormError} error=${action.error} />
    </form>
    ${summary && html`<p class="batch-summary" role="status">${summary}</p>`}
    ${rows && html`<${Results} rows=${rows} />`}
  <//>`;
}
