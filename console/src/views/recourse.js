// After funding: the supplier pays a defaulted financing's recourse claim (in one or
// several payments) and sees what remains; the financier writes off part or all of a
// defaulted receivable and offers a funded one for sale; the named buyer buys it.

import { write, ApiError } from '../api.js';
import { html, useLedger, decimalsOf, Money, DateTime, Address, Section, Empty, ReceivableLink, Field, FormError, Progress, useAction, explainer } from '../ui.js';
import { formatUnits, parseAmount } from '../money.js';

const fail = (field, message) => { throw new ApiError(0, { error: 'InvalidInput', message, args: { field } }); };

/** An amount field's value in minor units; a problem as an error on ``field``. */
function minorOf(form, name, decimals) {
  try { return parseAmount(form.elements[name].value, decimals); } catch (e) { return fail(name, e.message); }
}

/** One defaulted financing's recourse claim: paid, outstanding, and the payment form. */
function RecourseItem({ financing: f, onDone }) {
  const ledger = useLedger();
  const action = useAction({ ERC20InsufficientBalance: 'amount' }, explainer(ledger, f.currency));
  const decimals = decimalsOf(ledger, f.currency);
  const id = `recourse-${f.id}`;
  const pay = (event) => {
    event.preventDefault();
    const form = event.target;
    action.run(async (progress) => {
      const amount = minorOf(form, 'amount', decimals);
      await write(`/v1/financings/${f.id}/recourse-payments`, { amount }, progress);
      onDone();
    });
  };
  return html`<li id=${id}>
    <p>Financing ${f.id} of <${ReceivableLink} id=${f.receivable_id} />: <${Address} value=${f.financier} /> claims
      <${Money} amount=${f.recourse_claim} currency=${f.currency} />; you have paid <${Money} amount=${f.recourse_paid} currency=${f.currency} />,
      <strong id=${`${id}-outstanding`}>outstanding <${Money} amount=${f.recourse_outstanding} currency=${f.currency} /></strong>.
      When it is paid in full the receivable is yours again, to collect from the debtor.</p>
    <form class="inline-form" onSubmit=${pay} aria-label=${`Pay the recourse claim of financing ${f.id}`}>
      <div class="fields">
        <${Field} id=${`${id}-amount`} label=${`Pay (${f.currency})`} error=${action.fieldError('amount')}>
          <input name="amount" inputmode="decimal" value=${formatUnits(f.recourse_outstanding, decimals, 'en-US').replaceAll(',', '')} /><//>
      </div>
      <div class="buttons"><button type="submit" disabled=${Boolean(action.busy)}>Pay recourse</button></div>
      <${Progress} text=${action.busy} /><${FormError} error=${action.shownFields(['amount'])} />
    </form>
  </li>`;
}

/** Recourse paid towards a claim the debtor's payment into clearing settled first: the
 * supplier takes it back. */
function WithdrawItem({ financing: f, onDone }) {
  const action = useAction();
  const id = `recourse-back-${f.id}`;
  return html`<li id=${id}>
    <span>Financing ${f.id} of <${ReceivableLink} id=${f.receivable_id} />: the debtor paid, so the financier is paid by
      clearing; take back the <${Money} amount=${f.recourse_paid} currency=${f.currency} /> you paid towards its claim.</span>
    <div class="row-action">
      <button type="button" aria-describedby=${id} disabled=${Boolean(action.busy)}
        onClick=${() => action.run(async (progress) => { await write(`/v1/financings/${f.id}/recourse-withdrawal`, undefined, progress); onDone(); })}>Take back</button>
      <${Progress} text=${action.busy} /><${FormError} error=${action.error} />
    </div>
  </li>`;
}

/** The supplier's defaulted financings with recourse still owed, and payments to take back. */
export function RecourseClaims({ financings, onDone }) {
  const { me } = useLedger();
  const mine = me.address.toLowerCase();
  const own = financings.filter((f) => f.supplier.toLowerCase() === mine);
  const owed = own.filter((f) => f.status === 'DEFAULTED' && BigInt(f.recourse_outstanding ?? '0') > 0n);
  const back = own.filter((f) => f.status === 'REPAID' && f.bought_back_block === null
    && BigInt(f.recourse_paid ?? '0') > 0n);
  return html`<${Section} id="supplier-recourse" title="Recourse claims against you" count=${owed.length}>
    ${owed.length === 0 ? html`<${Empty}>No recourse claim is outstanding.<//>` : html`<ul class="tasks stacked">
      ${owed.map((f) => html`<${RecourseItem} financing=${f} onDone=${onDone} key=${f.id} />`)}</ul>`}
    ${back.length > 0 && html`<ul class="tasks">
      ${back.map((f) => html`<${WithdrawItem} financing=${f} onDone=${onDone} key=${f.id} />`)}</ul>`}
  <//>`;
}

function WriteOffForm({ financing: f, onDone }) {
  const ledger = useLedger();
  const action = useAction();
  const decimals = decimalsOf(ledger, f.currency);
  const id = `write-off-${f.id}`;
  const submit = (event) => {
    event.preventDefault();
    const form = event.target;
    action.run(async (progress) => {
      const text = form.elements.amount.value.trim();
      const body = { receivable_id: f.receivable_id };
      if (text !== '') body.amount = minorOf(form, 'amount', decimals);
      await write('/v1/credit-lines/write-offs', body, progress);
      onDone();
    });
  };
  return html`<form class="inline-form" onSubmit=${submit} aria-label=${`Write off financing ${f.id}`}>
    <div class="fields">
      <${Field} id=${`${id}-amount`} label=${`Write off (${f.currency})`} hint="leave empty for all that is still drawn"
        error=${action.fieldError('amount')}><input name="amount" inputmode="decimal" /><//>
    </div>
    <div class="buttons"><button type="submit" disabled=${Boolean(action.busy)}>Write off</button></div>
    <${Progress} text=${action.busy} /><${FormError} error=${action.shownFields(['amount'])} />
  </form>`;
}

function SaleForm({ financing: f, onDone }) {
  const ledger = useLedger();
  const action = useAction();
  const decimals = decimalsOf(ledger, f.currency);
  const id = `sale-${f.id}`;
  const submit = (event) => {
    event.preventDefault();
    const form = event.target;
    action.run(async (progress) => {
      const buyer = form.elements.buyer.value.trim();
      if (!/^0x[0-9a-fA-F]{40}$/.test(buyer)) fail('buyer', 'the buyer financier\'s address (0x and 40 hex digits)');
      const price = minorOf(form, 'price', decimals);
      const [y, m, d] = form.elements.expiry.value.split('-').map(Number);
      if (!y || !m || !d) fail('expiry', 'choose the last day the buyer can buy');
      const expiry = new Date(y, m - 1, d, 23, 59, 59).toISOString();
      await write(`/v1/financings/${f.id}/sales`, { buyer, price, expiry }, progress);
      onDone();
    });
  };
  const names = ['buyer', 'price', 'expiry'];
  return html`<form class="inline-form" onSubmit=${submit} aria-label=${`Offer financing ${f.id} for sale`}>
    <div class="fields">
      <${Field} id=${`${id}-buyer`} label="Buyer (financier address)" error=${action.fieldError('buyer')}><input name="buyer" /><//>
      <${Field} id=${`${id}-price`} label=${`Price (${f.currency})`} error=${action.fieldError('price')}><input name="price" inputmode="decimal" /><//>
      <${Field} id=${`${id}-expiry`} label="Open until (end of day)" error=${action.fieldError('expiry')}><input name="expiry" type="date" /><//>
    </div>
    <div class="buttons"><button type="submit" disabled=${Boolean(action.busy)}>Offer for sale</button></div>
    <${Progress} text=${action.busy} /><${FormError} error=${action.shownFields(names)} />
  </form>`;
}

function BuyButton({ financing: f, sale: s, onDone }) {
  const ledger = useLedger();
  const action = useAction({}, explainer(ledger, f.currency));
  return html`<div class="row-action">
    <button type="button" disabled=${Boolean(action.busy)} aria-describedby=${`buy-${s.sale_id}`}
      onClick=${() => action.run(async (progress) => { await write(`/v1/financings/sales/${s.sale_id}/buy`, undefined, progress); onDone(); })}>Buy</button>
    <${Progress} text=${action.busy} /><${FormError} error=${action.error} />
  </div>`;
}

/** The financier's after-funding actions: write off its defaulted financings, offer its
 * funded ones for sale, buy what is offered to it. */
export function FinancierAfterFunding({ financings, onDone }) {
  const { me } = useLedger();
  const mine = me.address.toLowerCase();
  const held = financings.filter((f) => f.financier?.toLowerCase() === mine);
  const defaulted = held.filter((f) => f.status === 'DEFAULTED');
  const sellable = held.filter((f) => f.status === 'FUNDED' && !f.sales?.some((s) => s.status === 'OPEN'));
  // Only a FUNDED financing can be bought: a sale left open past a default is not shown.
  const offeredToMe = financings.filter((f) => f.status === 'FUNDED').flatMap((f) => (f.sales ?? [])
    .filter((s) => s.status === 'OPEN' && s.buyer.toLowerCase() === mine).map((s) => ({ financing: f, sale: s })));
  return html`
    <${Section} id="financier-defaulted" title="Defaulted: write off" count=${defaulted.length}>
      ${defaulted.length === 0 ? html`<${Empty}>None of your financings is in default.<//>` : html`<ul class="tasks stacked">
        ${defaulted.map((f) => html`<li id=${`defaulted-${f.id}`}>
          <p>Financing ${f.id} of <${ReceivableLink} id=${f.receivable_id} />, face <${Money} amount=${f.face_amount} currency=${f.currency} />:
            written off <${Money} amount=${f.written_off} currency=${f.currency} />${f.recourse_claim !== '0' && html`; recourse paid
            <${Money} amount=${f.recourse_paid} currency=${f.currency} /> of <${Money} amount=${f.recourse_claim} currency=${f.currency} />`}.</p>
          <${WriteOffForm} financing=${f} onDone=${onDone} />
        </li>`)}</ul>`}
    <//>
    <${Section} id="financier-sell" title="Sell a funded financing" count=${sellable.length}>
      ${sellable.length === 0 ? html`<${Empty}>Nothing to sell.<//>` : html`<ul class="tasks stacked">
        ${sellable.map((f) => html`<li id=${`sell-${f.id}`}>
          <p>Financing ${f.id} of <${ReceivableLink} id=${f.receivable_id} />, face <${Money} amount=${f.face_amount} currency=${f.currency} />,
            due <${DateTime} value=${f.due_date} />.</p>
          <details><summary>Offer financing ${f.id} for sale</summary><${SaleForm} financing=${f} onDone=${onDone} /></details>
        </li>`)}</ul>`}
    <//>
    <${Section} id="financier-buy" title="Offered to you" count=${offeredToMe.length}>
      ${offeredToMe.length === 0 ? html`<${Empty}>No financing is offered to you.<//>` : html`<ul class="tasks">
        ${offeredToMe.map(({ financing: f, sale: s }) => html`<li id=${`buy-${s.sale_id}`}>
          <span>Sale ${s.sale_id}: <${Address} value=${s.seller} /> sells financing ${f.id} of <${ReceivableLink} id=${f.receivable_id} />
            (face <${Money} amount=${f.face_amount} currency=${f.currency} />) for <strong><${Money} amount=${s.price} currency=${f.currency} /></strong>,
            until <${DateTime} value=${s.expires_at} />.</span>
          <${BuyButton} financing=${f} sale=${s} onDone=${onDone} />
        </li>`)}</ul>`}
    <//>`;
}
