// The worklist: what each of the participant's roles has to look at and act on.

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
  const views = [...new Set(me.roles.map((r) => BY_ROLE[r]).filter(Boolean))];
  return html`<h1 tabindex="-1">Worklist</h1>
    <p class="lead">As ${me.roles.map(roleName).join(' and ')}.</p>
    ${views.length === 0 && html`<p>Nothing to show for these roles here; the API has it all (<a href="/docs">/docs</a>).</p>`}
    ${views.map((View) => html`<${View} />`)}`;
}
