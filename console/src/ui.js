// Shared pieces of every page: money, dates, addresses, labelled fields with the API's
// error next to them, and the progress of a running operation.

import { h, createContext } from 'preact';
import { useContext, useState, useRef, useEffect } from 'preact/hooks';
import htm from 'htm';
import { ApiError } from './api.js';
import { formatMoney } from './money.js';
import { formatDateTime, toDate } from './dates.js';

export const html = htm.bind(h);

/** What every page knows: the signed-in participant, listed currencies, participants. */
export const Ledger = createContext(null);
export const useLedger = () => useContext(Ledger);

/** Decimals of a listed currency (2 until the list is loaded or for an unknown code). */
export function decimalsOf(ledger, currency) {
  return ledger.currencies.find((c) => c.currency === currency)?.decimals ?? 2;
}

export function Money({ amount, currency }) {
  const ledger = useLedger();
  if (amount === null || amount === undefined) return html`<span>—</span>`;
  return html`<span class="money">${formatMoney(amount, currency, decimalsOf(ledger, currency))}</span>`;
}

export function DateTime({ value }) {
  if (value === null || value === undefined) return html`<span>—</span>`;
  return html`<time datetime=${toDate(value).toISOString()}>${formatDateTime(value)}</time>`;
}

const ROLE_NAMES = {
  CORE_ENTERPRISE: 'core enterprise',
  SUPPLIER: 'supplier',
  FINANCIER: 'financier',
  SETTLEMENT_BANK: 'settlement bank',
  FX_PROVIDER: 'FX provider',
  AUDITOR: 'auditor',
  REGULATOR: 'regulator',
  OPERATOR: 'operator',
};
export const roleName = (role) => ROLE_NAMES[role] ?? role;

/** "0x70997970…79C8 (supplier)", "you", with the full address on hover and for readers. */
export function Address({ value, none = 'any' }) {
  const ledger = useLedger();
  if (!value || /^0x0{40}$/i.test(value)) return html`<span class="muted">${none}</span>`;
  if (value === 'masked') return html`<span class="muted">(masked)</span>`;
  const lower = value.toLowerCase();
  const short = `${value.slice(0, 8)}…${value.slice(-4)}`;
  if (lower === ledger.me.address.toLowerCase()) {
    return html`<span class="address you" title=${value}>you</span>`;
  }
  const roles = ledger.participants.get(lower);
  const contract = ledger.contracts?.get(lower);
  const label = roles ? ` (${roles.map(roleName).join(', ')})` : contract ? ` (${contract})` : '';
  return html`<span class="address" title=${value}><code>${short}</code>${label}</span>`;
}

export function Status({ value }) {
  return html`<span class=${`status status-${String(value).toLowerCase()}`}>${value}</span>`;
}

/** A labelled input; ``error`` (the API's message about this field) is shown under it. */
export function Field({ id, label, hint, error, children, ...input }) {
  const described = [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(' ');
  const control = children ?? html`<input id=${id} name=${id} ...${input} />`;
  return html`<div class=${error ? 'field invalid' : 'field'}>
    <label for=${id}>${label}</label>
    ${h(control.type, {
      ...control.props,
      ref: control.ref,
      id,
      name: control.props.name ?? id,
      'aria-invalid': error ? 'true' : undefined,
      'aria-describedby': described || undefined,
    })}
    ${hint && html`<small id=${`${id}-hint`} class="hint">${hint}</small>`}
    ${error && html`<p id=${`${id}-error`} class="field-error" role="alert" data-field-error=${id}>${error}</p>`}
  </div>`;
}

/** An error not about one field (or about one the form does not show), by the form. */
export function FormError({ error }) {
  if (!error) return null;
  return html`<div class="form-error" role="alert">
    <strong>${error.error ?? 'Error'}</strong>: ${error.message}
  </div>`;
}

/** A running operation: an indeterminate progress bar and what it is waiting for. */
export function Progress({ text }) {
  if (!text) return null;
  return html`<div class="progress" role="status" aria-live="polite">
    <progress aria-label="Working"></progress> <span>${text}</span>
  </div>`;
}

/**
 * State of a form that calls the API: ``run(fn)`` shows progress while ``fn(progress)``
 * runs and keeps the error; ``fieldError(name)`` is the API's message about one field
 * (``aliases`` maps error names without a field to one, e.g. a balance error to "amount").
 */
/**
 * A plainer message for errors whose arguments are amounts (minor units) of ``currency``;
 * null for any other error (its own message is shown).
 */
export function explainer(ledger, currency) {
  const money = (minor) => formatMoney(String(minor), currency, decimalsOf(ledger, currency));
  return (error) => {
    const { args } = error;
    if (error.error === 'ReceivableInvalidSplit' && args.sum !== undefined) {
      return `the parts add up to ${money(args.sum)}; the receivable is ${money(args.amount)}`;
    }
    if (error.error === 'ERC20InsufficientBalance' && args.needed !== undefined) {
      return `not enough ${currency}: the balance is ${money(args.balance)}, this needs ${money(args.needed)}`;
    }
    return null;
  };
}

export function useAction(aliases = {}, explain = () => null) {
  const [busy, setBusy] = useState(null);
  const [error, setError] = useState(null);
  const mounted = useRef(true);
  useEffect(() => () => { mounted.current = false; }, []);
  const run = async (fn) => {
    setError(null);
    setBusy('Working…');
    try {
      return await fn((text) => mounted.current && setBusy(text));
    } catch (exc) {
      const wrapped = exc instanceof ApiError ? exc : new ApiError(0, { error: 'Error', message: exc.message });
      if (mounted.current) setError(wrapped);
      return undefined;
    } finally {
      if (mounted.current) setBusy(null);
    }
  };
  const fields = error ? error.fieldMessages() : {};
  const plainer = error ? explain(error) : null;
  if (plainer) {
    error.message = plainer;
    if (error.args.field) fields[error.args.field] = plainer;
  }
  if (error && aliases[error.error] && !fields[aliases[error.error]]) fields[aliases[error.error]] = error.message;
  const fieldError = (name) => fields[name];
  // The form-level note is for what no shown field carries.
  const shownFields = (names) => (error && !names.some((n) => fields[n]) ? error : null);
  return { busy, error, run, fieldError, shownFields, setError };
}

/** A page section with a heading (h2) and a count. */
export function Section({ title, count, id, children }) {
  return html`<section class="card" aria-labelledby=${`${id}-title`} id=${id}>
    <h2 id=${`${id}-title`}>${title}${count !== undefined ? html` <span class="count">${count}</span>` : ''}</h2>
    ${children}
  </section>`;
}

export function Empty({ children }) {
  return html`<p class="empty">${children}</p>`;
}

/** A link to a receivable's page. */
export const ReceivableLink = ({ id }) => html`<a href=${`#/receivables/${id}`}>#${id}</a>`;
