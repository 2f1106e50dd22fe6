// The worklist: what each of the participant's roles has to look at and act on. It follows
// the participant's notifications (/v1/events/stream) and loads itself again when one
// arrives (LiveGeneration): a receivable to confirm, an offer, a payment appear without a
// reload, and a form being filled in keeps what it holds.

import { LiveGeneration } from '../load.js';
import { useLive, LiveStatus } from '../live.js';
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

export function Worklist() {
  const { me } = useLedger();
  const live = useLive();
  const views = [...new Set(me.roles.map((r) => BY_ROLE[r]).filter(Boolean))];
  return html`<h1 tabindex="-1">Worklist</h1>
    <p class="lead">As ${me.roles.map(roleName).join(' and ')}.</p>
    <${LiveStatus} live=${live} />
    ${views.length === 0 && html`<p>Nothing to show for these roles here; the API has it all (<a href="/docs">/docs</a>).</p>`}
    <${LiveGeneration.Provider} value=${live.generation}>
      ${views.map((View) => html`<${View} />`)}
    <//>`;
}
