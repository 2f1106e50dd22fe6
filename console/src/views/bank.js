// A settlement bank: the currencies it issues, and minting and burning them.

import { get, write } from '../api.js';
import { useLoad } from '../load.js';
import { useState } from 'preact/hooks';
import { html, useLedger, decimalsOf, explainer, Money, Section, Field, FormError, Progress, useAction } from '../ui.js';
import { parseAmount, formatMoney } from '../money.js';
import { ApiError } from '../api.js';

function TokenForm({ kind, currencies, onDone }) {
  const ledger = useLedger();
  // A burn beyond the bank's balance is refused by the token: that is about the amount.
  const [chosen, setCurrency] = useState(null);
  const [done, setDone] = useState(null);
  const currency = chosen ?? currencies[0]?.currency;
  const action = useAction({ ERC20InsufficientBalance: 'amount' }, explainer(ledger, currency));
  const id = (name) => `${kind}-${name}`;
  const submit = (event) => {
    event.preventDefault();
    const form = event.target;
    action.run(async (progress) => {
      const currency = form.elements.currency.value;
      let amount;
      try {
        amount = parseAmount(form.elements.amount.value, decimalsOf(ledger, currency));
      } catch (exc) {
        throw new ApiError(0, { error: 'InvalidAmount', message: exc.message, args: { field: 'amount' } });
      }
      const body = kind === 'mint' ? { to: form.elements.to.value.trim(), amount } : { amount };
      setDone(null);
      const outcome = await write(`/v1/tokens/${currency}/${kind}`, body, progress);
      const shown = formatMoney(amount, currency, decimalsOf(ledger, currency));
      setDone(`${kind === 'mint' ? `Minted ${shown} to ${body.to}` : `Burned ${shown}`} (block ${outcome.transaction?.block_number}).`);
      form.reset();
      onDone();
    });
  };
  return html`<form onSubmit=${submit} aria-labelledby=${id('title')}>
    <h3 id=${id('title')}>${kind === 'mint' ? 'Mint (a deposit received)' : 'Burn (a deposit withdrawn)'}</h3>
    <${Field} id=${id('currency')} label="Currency"><select name="currency" onChange=${(e) => setCurrency(e.target.value)}>${currencies.map((c) => html`<option value=${c.currency}>${c.currency}</option>`)}</select><//>
    ${kind === 'mint' && html`<${Field} id=${id('to')} label="To (participant address)" error=${action.fieldError('to')}><input name="to" autocomplete="off" spellcheck=${false} /><//>`}
    <${Field} id=${id('amount')} label="Amount" hint="In the currency's units, e.g. 1000.00" error=${action.fieldError('amount')}><input name="amount" inputmode="decimal" /><//>
    <button type="submit" disabled=${Boolean(action.busy)}>${kind === 'mint' ? 'Mint' : 'Burn'}</button>
    <${Progress} text=${action.busy} />
    <${FormError} error=${action.shownFields(['to', 'amount'])} />
    ${done && !action.error && html`<p class="notice" role="status">${done}</p>`}
  </form>`;
}

export function BankWorklist() {
  const ledger = useLedger();
  const mine = ledger.me.address.toLowerCase();
  const data = useLoad(async () => ({
    currencies: await get('/v1/currencies'),
    balances: await get(`/v1/balances/${ledger.me.address}`),
  }));
  const issued = (data.data?.currencies ?? []).filter((c) => c.issuer.toLowerCase() === mine);
  const balance = (currency) => data.data?.balances.balances.find((b) => b.currency === currency)?.balance ?? '0';
  return html`<${Section} id="bank-tokens" title="Tokenized deposits you issue" count=${issued.length}>
    ${data.loading && html`<${Progress} text="Loading currencies…" />`}
    <${FormError} error=${data.error} />
    ${issued.length === 0 ? !data.loading && html`<p class="empty">You issue no listed currency.</p>` : html`<table>
      <thead><tr><th scope="col">Currency</th><th scope="col" class="num">In circulation</th><th scope="col" class="num">Your own balance</th><th scope="col">Token</th></tr></thead>
      <tbody>${issued.map((c) => html`<tr><td>${c.currency}</td><td class="num"><${Money} amount=${c.total_supply} currency=${c.currency} /></td>
        <td class="num"><${Money} amount=${balance(c.currency)} currency=${c.currency} /></td><td><code>${c.token}</code></td></tr>`)}</tbody></table>
      <div class="two-columns">
        <${TokenForm} kind="mint" currencies=${issued} onDone=${data.reload} />
        <${TokenForm} kind="burn" currencies=${issued} onDone=${data.reload} />
      </div>`}
  <//>`;
}
