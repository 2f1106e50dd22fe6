// One receivable: what it is, what the caller can do with it, and its lineage from the
// root with every step's on-chain proof; "Verify" checks each step against the node.

import { useState } from 'preact/hooks';
import { get, call, write, ApiError } from '../api.js';
import { useLoad } from '../load.js';
import { html, Ledger, useLedger, decimalsOf, explainer, Money, DateTime, Address, Status, Section, Field, FormError, Progress, useAction, ReceivableLink } from '../ui.js';
import { parseAmount, formatMoney, percent } from '../money.js';
import { LineageGraph } from './lineage.js';
import { EarlyPayments, RepayLeaves } from './early.js';

function Summary({ r }) {
  return html`<dl class="summary">
    <div><dt>Amount</dt><dd><${Money} amount=${r.amount} currency=${r.currency} /></dd></div>
    <div><dt>Status</dt><dd><${Status} value=${r.status} />${r.frozen ? html` <${Status} value="FROZEN" />` : ''}</dd></div>
    <div><dt>Due</dt><dd><${DateTime} value=${r.due_date} /></dd></div>
    <div><dt>Issued</dt><dd><${DateTime} value=${r.issue_date} /></dd></div>
    <div><dt>Debtor</dt><dd><${Address} value=${r.debtor} /></dd></div>
    <div><dt>Creditor</dt><dd><${Address} value=${r.creditor} /></dd></div>
    <div><dt>Holder</dt><dd><${Address} value=${r.holder} /></dd></div>
    <div><dt>Root</dt><dd>${r.parent_id ? html`<${ReceivableLink} id=${r.root_id} /> (part of <${ReceivableLink} id=${r.parent_id} />)` : 'this is the root'}</dd></div>
    ${r.children.length > 0 && html`<div><dt>Parts</dt><dd>${r.children.map((c) => html`<${ReceivableLink} id=${c} /> `)}</dd></div>`}
    ${r.late_interest_bps > 0 && html`<div><dt>Late interest</dt><dd>${percent(r.late_interest_bps)} a year, per whole day paid late</dd></div>`}
    <div><dt>Invoice key</dt><dd><code class="hash">${r.invoice_key}</code></dd></div>
  </dl>`;
}

/** Amounts typed one per line (or separated by ";") -> minor-unit strings. */
function readParts(text, decimals) {
  const parts = text.split(/[\n;]+/).map((p) => p.trim()).filter(Boolean);
  if (parts.length < 2) throw new ApiError(0, { error: 'InvalidInput', message: 'give at least two parts', args: { field: 'amounts' } });
  return parts.map((p, i) => {
    try {
      return parseAmount(p, decimals);
    } catch (exc) {
      throw new ApiError(0, { error: 'InvalidInput', message: `part ${i + 1}: ${exc.message}`, args: { field: 'amounts' } });
    }
  });
}

function SplitForm({ r, onDone }) {
  const ledger = useLedger();
  const action = useAction({}, explainer(ledger, r.currency));
  const submit = (event) => {
    event.preventDefault();
    const text = event.target.elements.amounts.value;
    action.run(async (progress) => {
      const amounts = readParts(text, decimalsOf(ledger, r.currency));
      const outcome = await write(`/v1/receivables/${r.id}/split`, { amounts }, progress);
      onDone(outcome);
    });
  };
  return html`<form onSubmit=${submit} aria-labelledby="split-title">
    <h3 id="split-title">Split</h3>
    <${Field} id="split-amounts" label="Parts (one amount per line)" error=${action.fieldError('amounts')}
      hint=${`They must add up to ${formatMoney(r.amount, r.currency, decimalsOf(ledger, r.currency))}.`}>
      <textarea name="amounts" rows="3"></textarea><//>
    <button type="submit" disabled=${Boolean(action.busy)}>Split</button>
    <${Progress} text=${action.busy} /><${FormError} error=${action.shownFields(['amounts'])} />
  </form>`;
}

function TransferForm({ r, onDone }) {
  const action = useAction();
  const submit = (event) => {
    event.preventDefault();
    const to = event.target.elements.to.value.trim();
    action.run(async (progress) => onDone(await write(`/v1/receivables/${r.id}/transfer`, { to }, progress)));
  };
  return html`<form onSubmit=${submit} aria-labelledby="transfer-title">
    <h3 id="transfer-title">Transfer</h3>
    <${Field} id="transfer-to" label="New holder (address)" hint="An active supplier or financier." error=${action.fieldError('to')}>
      <input name="to" autocomplete="off" spellcheck=${false} /><//>
    <button type="submit" disabled=${Boolean(action.busy)}>Transfer</button>
    <${Progress} text=${action.busy} /><${FormError} error=${action.shownFields(['to'])} />
  </form>`;
}

function FinancingForm({ r, onDone }) {
  const ledger = useLedger();
  const action = useAction();
  const financiers = [...ledger.participants].filter(([, roles]) => roles.includes('FINANCIER')).map(([a]) => a);
  const submit = (event) => {
    event.preventDefault();
    const financier = event.target.elements.financier.value;
    action.run(async (progress) => {
      const body = { receivable_id: r.id, ...(financier ? { financier } : {}) };
      onDone(await write('/v1/financings', body, progress));
    });
  };
  return html`<form onSubmit=${submit} aria-labelledby="finance-title">
    <h3 id="finance-title">Request financing</h3>
    <${Field} id="finance-financier" label="Ask" error=${action.fieldError('financier')}>
      <select name="financier"><option value="">any financier</option>
        ${financiers.map((a) => html`<option value=${a}>${a.slice(0, 8)}…${a.slice(-4)} (financier)</option>`)}</select><//>
    <button type="submit" disabled=${Boolean(action.busy)}>Request financing</button>
    <${Progress} text=${action.busy} /><${FormError} error=${action.shownFields(['financier', 'receivable_id'])} />
  </form>`;
}

function StatusActions({ r, onDone }) {
  const { me } = useLedger();
  const action = useAction();
  const mine = me.address.toLowerCase();
  const buttons = [];
  if (r.status === 'PENDING' && r.creditor.toLowerCase() === mine) buttons.push(['Confirm', 'confirm'], ['Reject', 'reject']);
  if (r.status === 'PENDING' && r.debtor.toLowerCase() === mine) buttons.push(['Cancel', 'cancel']);
  if (buttons.length === 0) return null;
  return html`<div class="row-action">
    ${buttons.map(([label, verb], i) => html`<button type="button" class=${i ? 'secondary' : ''} disabled=${Boolean(action.busy)}
      onClick=${() => action.run(async (progress) => onDone(await write(`/v1/receivables/${r.id}/${verb}`, undefined, progress)))}>${label}</button>`)}
    <${Progress} text=${action.busy} /><${FormError} error=${action.error} />
  </div>`;
}

function Actions({ r, onDone }) {
  const { me } = useLedger();
  const holds = r.holder.toLowerCase() === me.address.toLowerCase() && r.status === 'ACTIVE' && !r.frozen;
  const canMove = me.roles.includes('SUPPLIER') || me.roles.includes('FINANCIER');
  const status = html`<${StatusActions} r=${r} onDone=${onDone} />`;
  if (!(holds && canMove)) return status;
  return html`${status}<div class="actions">
    <${SplitForm} r=${r} onDone=${onDone} />
    <${TransferForm} r=${r} onDone=${onDone} />
    ${me.roles.includes('SUPPLIER') && html`<${FinancingForm} r=${r} onDone=${onDone} />`}
  </div>`;
}

const KIND_NAMES = {
  registration: 'registered', confirmation: 'confirmed', status_change: 'status', split: 'split', transfer: 'transferred',
  financing_request: 'financing requested', financing_offer: 'offer', offer_closed: 'offer closed', financing_acceptance: 'financed',
  financing_default: 'defaulted', token_transfer: 'payment', repayment: 'repaid', redemption: 'redeemed (settled)',
  early_payment_offer: 'early payment offered', early_payment_withdrawal: 'early payment withdrawn',
  early_payment: 'paid early (settled)', partial_repayment: 'repaid ahead of the root (settled)', late_interest: 'late interest charged',
};

function StepDetail({ step }) {
  if (step.kind === 'status_change' || step.kind === 'confirmation') return html`${step.details.from} → ${step.details.to}`;
  return html`${Object.entries(step.actors ?? {}).map(([role, a]) => html`<span class="pair"><span class="muted">${role}</span> <${Address} value=${a} /></span> `)}
    ${(step.amounts ?? []).map((a) => html`<span class="pair"><span class="muted">${a.role}</span> <${Money} amount=${a.amount} currency=${a.currency} /></span> `)}
    ${step.details?.purpose ? html`<span class="muted">(${step.details.purpose})</span>` : ''}`;
}

function Steps({ trace, verification, readers }) {
  const bySeq = new Map((verification?.steps ?? []).map((s) => [s.seq, s]));
  return html`<table class="steps">
    <caption class="sr-only">Every step of the lineage, oldest first, with its on-chain proof</caption>
    <thead><tr><th scope="col">#</th><th scope="col">Receivable</th><th scope="col">Step</th><th scope="col">Details</th><th scope="col">When</th><th scope="col">Proof</th><th scope="col">Verified</th></tr></thead>
    <tbody>${trace.steps.map((s) => {
      const v = bySeq.get(s.seq);
      return html`<tr id=${`step-${s.seq}`} data-seq=${s.seq} class=${v ? `verdict-${v.status}` : ''}>
        <td>${s.seq}</td><td><${ReceivableLink} id=${s.receivable_id} /></td>
        <td>${KIND_NAMES[s.kind] ?? s.kind}</td><td><${StepDetail} step=${s} /></td>
        <td><${DateTime} value=${s.block_timestamp} /></td>
        <td><details class="proof"><summary>block ${s.block_number}, log ${s.log_index}</summary>
          <dl>
            <div><dt>Transaction</dt><dd>${readers ? html`<a href=${`#/search?q=${s.tx_hash}`}><code class="hash">${s.tx_hash}</code></a>` : html`<code class="hash">${s.tx_hash}</code>`}</dd></div>
            <div><dt>Block hash</dt><dd><code class="hash">${s.block_hash}</code></dd></div>
            <div><dt>Contract</dt><dd>${s.contract_kind} <code class="hash">${s.contract}</code></dd></div>
            <div><dt>Event</dt><dd>${s.event} (log index ${s.log_index})</dd></div>
            ${s.raw && html`<div><dt>Raw log</dt><dd><details><summary>topics and data</summary><code class="hash">${JSON.stringify(s.raw)}</code></details></dd></div>`}
          </dl></details></td>
        <td class="verdict">${v ? (v.status === 'verified' ? html`<span class="ok">✓ verified</span>`
          : html`<span class="bad">✗ ${v.status}</span> ${v.reasons.join('; ')}`) : html`<span class="muted">not yet</span>`}</td>
      </tr>`;
    })}</tbody>
  </table>`;
}

/** The ledger's contracts a trace names (address -> kind), so addresses read as what they are. */
function contractsOf(trace) {
  const found = new Map([[trace.registry.toLowerCase(), 'ReceivableRegistry']]);
  for (const s of trace.steps) if (s.contract_kind !== 'SettlementToken') found.set(s.contract.toLowerCase(), s.contract_kind);
  return found;
}

function Lineage({ id, trace, onVerified }) {
  const ledger = useLedger();
  const { me } = ledger;
  const action = useAction();
  const [verification, setVerification] = useState(null);
  const readers = me.roles.includes('AUDITOR') || me.roles.includes('REGULATOR');
  const verify = () => action.run(async (progress) => {
    progress(`Fetching ${trace.steps.length} steps' receipts and blocks from the node…`);
    const result = (await call('POST', `/v1/receivables/${id}/trace/verify`)).body;
    setVerification(result);
    onVerified?.(result);
  });
  const verdicts = verification ? new Map(verification.receivables.map((r) => [r.id, r.status])) : null;
  const bad = verification ? [...verification.steps, ...verification.receivables].filter((s) => s.status !== 'verified').length : 0;
  return html`<${Ledger.Provider} value=${{ ...ledger, contracts: contractsOf(trace) }}><${Section} id="lineage" title=${`Lineage from root #${trace.root_id}`}>
    <p class="muted">As indexed at block ${trace.as_of_block}${trace.scope ? '; participants outside your own path are masked' : ''}.
      Select a receivable to open it.</p>
    <${LineageGraph} trace=${trace} current=${id} verdicts=${verdicts} />
    <div class="verify-bar">
      <button type="button" onClick=${verify} disabled=${Boolean(action.busy)}>Verify against the node</button>
      <${Progress} text=${action.busy} />
      ${verification && html`<p id="verify-summary" role="status" class=${verification.verified ? 'ok' : 'bad'}>${verification.verified
        ? `All ${verification.steps.length} steps and ${verification.receivables.length} receivables verified against the node at block ${verification.checked_at_block}.`
        : `${bad} of ${verification.steps.length + verification.receivables.length} checks failed: see the rows marked ✗.`}</p>`}
      <${FormError} error=${action.error} />
    </div>
    <h3>Steps and their proofs</h3>
    <${Steps} trace=${trace} verification=${verification} readers=${readers} />
  <//><//>`;
}

export function ReceivablePage({ id }) {
  const data = useLoad(async () => {
    const [receivable, trace] = await Promise.all([get(`/v1/receivables/${id}`), get(`/v1/receivables/${id}/trace`)]);
    return { receivable, trace };
  }, [id]);
  const [done, setDone] = useState(null);
  const r = data.data?.receivable;
  const onDone = (outcome) => {
    setDone(outcome?.message ? `Done: ${outcome.message} (block ${outcome.transaction?.block_number}).` : 'Done.');
    data.reload();
  };
  return html`<h1 tabindex="-1">Receivable #${id}</h1>
    ${data.loading && !r && html`<${Progress} text="Loading the receivable and its trace…" />`}
    <${FormError} error=${data.error} />
    ${done && html`<p class="notice" role="status">${done}</p>`}
    ${r && html`<${Section} id="receivable-summary" title="Summary"><${Summary} r=${r} /><${Actions} r=${r} onDone=${onDone} /><//>`}
    ${r && html`<${EarlyPayments} r=${r} onDone=${onDone} key=${`early-${r.id}`} />`}
    ${r && html`<${RepayLeaves} r=${r} onDone=${onDone} key=${`repay-${r.id}`} />`}
    ${data.data?.trace && html`<${Lineage} id=${id} trace=${data.data.trace} key=${data.data.trace.as_of_block} />`}`;
}
