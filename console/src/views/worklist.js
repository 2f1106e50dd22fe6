// The worklist: what each of the participant's roles has to look at and act on. It follows
// the participant's notifications (/v1/events/stream) and loads itself again when one
// arrives (LiveGeneration): a receivable to confirm, an offer, a payment appear without a
// reload, and a form being filled in keeps what it holds.

import { useEffect, useState } from 'preact/hooks';
import { followEvents } from '../api.js';
import { LiveGeneration } from '../load.js';
import { html, useLedger, roleName } from '../ui.js';
import { CoreWorklist } from './core.js';
import { SupplierWorklist } from './supplier.js';
import { FinancierWorklist } from './financier.js';
import { BankWorklist } from './bank.js';
import { ReaderWorklist } from './reader.js';

const BY_ROLE = {
  CORE_ENTERPRISE: CoreWorklist,
  SUPPLIER: SupplierWorklist,
  FINANCIER: FinancierWorklist,
  SETTLEMENT_BANK: BankWorklist,
  AUDITOR: ReaderWorklist,
  REGULATOR: ReaderWorklist,
};

const KIND_TEXT = {
  'receivable.to_confirm': 'a receivable to confirm',
  'financing.offer_received': 'an offer received',
  'financing.accepted': 'a financing accepted',
  'payment.due_soon': 'a payment due soon',
  'receivable.overdue': 'a receivable overdue',
  'payment.received': 'a payment received',
  'credit_line.threshold': 'a credit line past a threshold',
  'alert.raised': 'an alert raised',
};

/** ``{generation, last, state}``: ``generation`` grows with each notification. */
function useLive() {
  const [live, setLive] = useState({ generation: 0, last: null, state: 'connecting' });
  useEffect(() => followEvents(
    (event) => setLive((l) => ({ ...l, generation: l.generation + 1, last: event })),
    { onState: (state) => setLive((l) => ({ ...l, state })) },
  ), []);
  return live;
}

export function Worklist() {
  const { me } = useLedger();
  const live = useLive();
  const views = [...new Set(me.roles.map((r) => BY_ROLE[r]).filter(Boolean))];
  return html`<h1 tabindex="-1">Worklist</h1>
    <p class="lead">As ${me.roles.map(roleName).join(' and ')}.</p>
    <p class="muted live-status" aria-live="polite" data-state=${live.state}>
      ${live.state === 'live' ? 'Live: updates as they happen' : live.state === 'reconnecting' ? 'Reconnecting to live updates…' : 'Connecting to live updates…'}
      ${live.last && html`; last: ${KIND_TEXT[live.last.kind] ?? live.last.kind} (#${live.last.id})`}
    </p>
    ${views.length === 0 && html`<p>Nothing to show for these roles here; the API has it all (<a href="/docs">/docs</a>).</p>`}
    <${LiveGeneration.Provider} value=${live.generation}>
      ${views.map((View) => html`<${View} />`)}
    <//>`;
}
