// Credit lines (授信): a financier's lines with their utilisation, headroom and expiry;
// granting one, amending or closing it, and the suppliers' sub-limits of a programme.
// Other roles see the lines the API shows them, read only.

import { useState } from 'preact/hooks';
import { get, write, ApiError } from '../api.js';
import { useLoad } from '../load.js';
import { parseAmount, formatMoney } from '../money.js';
import { html, useLedger, decimalsOf, Money, DateTime, Address, Status, Section, Empty, Field, FormError, Progress, useAction } from '../ui.js';
import { UtilisationBar, itemsOf, lineExplainer } from './risk.js';

/** ``YYYY-MM-DD`` ``days`` from today, in the browser's zone. */
function dayFromNow(days) {
  const d = new Date(Date.now() + days * 86_400_000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

const fail = (field, message) => { throw new ApiError(0, { error: 'InvalidInput', message, args: { field } }); };

/** Minor units of the amount typed in ``field`` (its problem named at the field). */
function amountOf(form, field, decimals) {
  try {
    return parseAmount(form.elements[field].value, decimals);
  } catch (exc) {
    return fail(field, exc.message);
  }
}

/** The end of the chosen day where the user is, as an ISO time (the line is usable through it). */
function expiryOf(form, field = 'expiry') {
  const [y, m, d] = form.elements[field].value.split('-').map(Number);
  if (!y || !m || !d) fail(field, 'choose the last day the line can be drawn');
  return new Date(y, m - 1, d, 23, 59, 59).toISOString();
}

/** A write of the credit-line routes by ``method``, followed until the index shows it. */
const send = (method, path, body, progress) => write(path, body, progress, method);

function GrantForm({ onDone }) {
  const ledger = useLedger();
  const [currency, setCurrency] = useState(null);
  const chosen = currency ?? ledger.currencies[0]?.currency;
  const action = useAction({ CreditLineExists: 'obligor', CreditLineCurrencyNotListed: 'currency' }, lineExplainer(ledger, chosen));
  const cores = [...ledger.participants].filter(([, roles]) => roles.includes('CORE_ENTERPRISE')).map(([a]) => a);
  const submit = (event) => {
    event.preventDefault();
    const form = event.target;
    action.run(async (progress) => {
      const body = {
        obligor: form.elements.obligor.value,
        currency: form.elements.currency.value,
        limit: amountOf(form, 'limit', decimalsOf(ledger, form.elements.currency.value)),
        expiry: expiryOf(form),
      };
      if (!body.obligor) fail('obligor', 'choose the core enterprise the line is to');
      await write('/v1/credit-lines', body, progress);
      form.reset();
      onDone('Line granted.');
    });
  };
  const names = ['obligor', 'currency', 'limit', 'expiry'];
  return html`<form class="inline-form" id="grant-line" onSubmit=${submit} aria-labelledby="grant-title" novalidate>
    <h3 id="grant-title">Grant a line</h3>
    <div class="fields">
      <${Field} id="grant-obligor" label="Obligor (core enterprise)" error=${action.fieldError('obligor')}>
        <select name="obligor"><option value="">choose…</option>
          ${cores.map((a) => html`<option value=${a}>${a.slice(0, 8)}…${a.slice(-4)}</option>`)}</select><//>
      <${Field} id="grant-currency" label="Currency" error=${action.fieldError('currency')}>
        <select name="currency" onChange=${(e) => setCurrency(e.target.value)}>
          ${ledger.currencies.map((c) => html`<option value=${c.currency}>${c.currency}</option>`)}</select><//>
      <${Field} id="grant-limit" label="Limit" hint="In the currency's units, e.g. 5000000.00" error=${action.fieldError('limit')}>
        <input name="limit" inputmode="decimal" autocomplete="off" /><//>
      <${Field} id="grant-expiry" label="Expires (end of day)" error=${action.fieldError('expiry')}>
        <input name="expiry" type="date" value=${dayFromNow(365)} /><//>
    </div>
    <div class="buttons"><button type="submit" disabled=${Boolean(action.busy)}>Grant line</button></div>
    <${Progress} text=${action.busy} /><${FormError} error=${action.shownFields(names)} />
  </form>`;
}

function AmendForm({ line, onDone }) {
  const ledger = useLedger();
  const action = useAction({ CreditLineBelowUtilisation: 'limit', CreditLineExpired: 'expiry' }, lineExplainer(ledger, line.currency));
  const id = (name) => `line-${line.line_id}-${name}`;
  const decimals = decimalsOf(ledger, line.currency);
  const submit = (event) => {
    event.preventDefault();
    const form = event.target;
    action.run(async (progress) => {
      const body = {};
      if (form.elements.limit.value.trim()) body.limit = amountOf(form, 'limit', decimals);
      if (form.elements.expiry.value) body.expiry = expiryOf(form);
      if (!body.limit && !body.expiry) fail('limit', 'give a new limit, a new expiry, or both');
      await send('PATCH', `/v1/credit-lines/${line.line_id}`, body, progress);
      onDone(`Line ${line.line_id} amended.`);
    });
  };
  const close = () => action.run(async (progress) => {
    await send('POST', `/v1/credit-lines/${line.line_id}/close`, undefined, progress);
    onDone(`Line ${line.line_id} closed.`);
  });
  return html`<form class="inline-form" onSubmit=${submit} aria-label=${`Amend line ${line.line_id}`} novalidate>
    <h4>Amend or close</h4>
    <div class="fields">
      <${Field} id=${id('limit')} label="New limit" hint=${`Now ${formatMoney(line.limit, line.currency, decimals)}; not below what is drawn.`}
        error=${action.fieldError('limit')}><input name="limit" inputmode="decimal" autocomplete="off" /><//>
      <${Field} id=${id('expiry')} label="New expiry (end of day)" error=${action.fieldError('expiry')}><input name="expiry" type="date" /><//>
    </div>
    <div class="buttons">
      <button type="submit" disabled=${Boolean(action.busy)}>Amend</button>
      <button type="button" class="secondary" disabled=${Boolean(action.busy)} onClick=${close}>Close line</button>
    </div>
    <${Progress} text=${action.busy} /><${FormError} error=${action.shownFields(['limit', 'expiry'])} />
  </form>`;
}

function SupplierLimitForm({ line, onDone }) {
  const ledger = useLedger();
  const action = useAction({
    CreditLineSubLimitAboveLimit: 'limit', CreditLineSubLimitBelowUtilisation: 'limit',
  }, lineExplainer(ledger, line.currency));
  const id = (name) => `line-${line.line_id}-sub-${name}`;
  const suppliers = [...ledger.participants].filter(([, roles]) => roles.includes('SUPPLIER')).map(([a]) => a);
  const submit = (event) => {
    event.preventDefault();
    const form = event.target;
    action.run(async (progress) => {
      const supplier = form.elements.supplier.value;
      if (!supplier) fail('supplier', 'choose the supplier');
      const limit = amountOf(form, 'limit', decimalsOf(ledger, line.currency));
      await send('PUT', `/v1/credit-lines/${line.line_id}/suppliers/${supplier}`, { limit }, progress);
      form.elements.limit.value = '';
      onDone(`Sub-limit set on line ${line.line_id}.`);
    });
  };
  const remove = (supplier) => action.run(async (progress) => {
    await send('DELETE', `/v1/credit-lines/${line.line_id}/suppliers/${supplier}`, undefined, progress);
    onDone(`Supplier taken off line ${line.line_id}.`);
  });
  const listed = (line.suppliers ?? []).filter((s) => s.limit !== '0');
  return html`<form class="inline-form" onSubmit=${submit} aria-label=${`Supplier sub-limit on line ${line.line_id}`} novalidate>
    <h4>Suppliers of the programme</h4>
    ${listed.length === 0 ? html`<p class="muted">No supplier named: any supplier may draw on this line.</p>` : html`<table class="sub-limits">
      <thead><tr><th scope="col">Supplier</th><th scope="col" class="num">Sub-limit</th><th scope="col" class="num">Utilised</th><th scope="col" class="num">Headroom</th><th scope="col"></th></tr></thead>
      <tbody>${listed.map((s) => html`<tr data-supplier=${s.supplier}><td><${Address} value=${s.supplier} /></td>
        <td class="num"><${Money} amount=${s.limit} currency=${line.currency} /></td><td class="num"><${Money} amount=${s.utilised} currency=${line.currency} /></td>
        <td class="num"><${Money} amount=${s.headroom} currency=${line.currency} /></td>
        <td><button type="button" class="secondary" disabled=${Boolean(action.busy)} onClick=${() => remove(s.supplier)}>Remove</button></td></tr>`)}</tbody></table>`}
    <div class="fields">
      <${Field} id=${id('supplier')} label="Supplier" error=${action.fieldError('supplier')}>
        <select name="supplier"><option value="">choose…</option>
          ${suppliers.map((a) => html`<option value=${a}>${a.slice(0, 8)}…${a.slice(-4)}</option>`)}</select><//>
      <${Field} id=${id('limit')} label="Sub-limit" hint="Not above the line's limit." error=${action.fieldError('limit')}>
        <input name="limit" inputmode="decimal" autocomplete="off" /><//>
    </div>
    <div class="buttons"><button type="submit" disabled=${Boolean(action.busy)}>Set sub-limit</button></div>
    <${Progress} text=${action.busy} /><${FormError} error=${action.shownFields(['supplier', 'limit'])} />
  </form>`;
}

/** One line's row of figures. */
function LineRow({ line, mine }) {
  return html`<tr id=${`line-${line.line_id}`} data-line=${line.line_id} class=${line.expired || line.frozen ? 'overdue' : ''}>
    <td>${line.line_id}</td>
    <td>${mine ? html`<${Address} value=${line.obligor} />` : html`<${Address} value=${line.financier} /> → <${Address} value=${line.obligor} />`}</td>
    <td class="num"><${Money} amount=${line.limit} currency=${line.currency} /></td>
    <td class="num"><${Money} amount=${line.utilised} currency=${line.currency} /></td>
    <td><${UtilisationBar} bps=${line.utilisation_bps} band=${line.band} label=${`Line ${line.line_id} utilisation`} /></td>
    <td class="num headroom"><${Money} amount=${line.headroom} currency=${line.currency} /></td>
    <td><${DateTime} value=${line.expiry} /></td>
    <td><${Status} value=${line.status} />${line.frozen ? html` <${Status} value="FROZEN" />` : ''}${line.expired ? html` <${Status} value="EXPIRED" />` : ''}</td>
  </tr>`;
}

function LinesTable({ lines, mine, onDone }) {
  return html`<table class="lines">
    <caption class="sr-only">Credit lines with their utilisation, headroom and expiry</caption>
    <thead><tr><th scope="col">Line</th><th scope="col">${mine ? 'Obligor' : 'Financier → obligor'}</th><th scope="col" class="num">Limit</th>
      <th scope="col" class="num">Utilised</th><th scope="col">Utilisation</th><th scope="col" class="num">Headroom</th><th scope="col">Expires</th><th scope="col">Status</th></tr></thead>
    <tbody>${lines.map((line) => html`<${LineRow} line=${line} mine=${mine} />
      ${mine && line.status === 'OPEN' && html`<tr class="line-manage"><td colspan="8">
        <details id=${`manage-line-${line.line_id}`}><summary>Manage line ${line.line_id}</summary>
          <div class="two-columns">
            <${AmendForm} line=${line} onDone=${onDone} />
            <${SupplierLimitForm} line=${line} onDone=${onDone} />
          </div>
        </details></td></tr>`}`)}</tbody>
  </table>`;
}

export function CreditLinesPage() {
  const { me } = useLedger();
  const financier = me.roles.includes('FINANCIER');
  const [done, setDone] = useState(null);
  const data = useLoad(async () => itemsOf(await get(financier ? `/v1/credit-lines?financier=${me.address}` : '/v1/credit-lines')));
  const lines = (data.data ?? []).slice().sort((a, b) => Number(a.line_id) - Number(b.line_id));
  const open = lines.filter((l) => l.status === 'OPEN');
  const closed = lines.filter((l) => l.status !== 'OPEN');
  const onDone = (text) => { setDone(text); data.reload(); };
  return html`<h1 tabindex="-1">Credit lines</h1>
    <p class="lead">${financier ? 'Your limits on each obligor: an accept draws on the line, clearing frees it; the contract refuses what would go over.'
      : 'The lines the ledger shows you.'}</p>
    ${done && html`<p class="notice" role="status">${done}</p>`}
    ${data.loading && html`<${Progress} text="Loading credit lines…" />`}
    <${FormError} error=${data.error} />
    <${Section} id="lines-open" title="Open lines" count=${open.length}>
      ${open.length === 0 ? html`<${Empty}>No open line.<//>` : html`<${LinesTable} lines=${open} mine=${financier} onDone=${onDone} />`}
      ${financier && html`<${GrantForm} onDone=${onDone} />`}
    <//>
    ${closed.length > 0 && html`<${Section} id="lines-closed" title="Closed lines" count=${closed.length}>
      <${LinesTable} lines=${closed} mine=${financier} onDone=${onDone} /><//>`}`;
}
