// Search for auditors and regulators: a participant's events and balances, or one
// transaction's events. (A receivable id goes straight to its page.)

import { get } from '../api.js';
import { useLoad } from '../load.js';
import { html, Money, DateTime, Address, Section, Empty, ReceivableLink, FormError, Progress } from '../ui.js';
import { SearchBox } from './reader.js';

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const TX_HASH = /^0x[0-9a-fA-F]{64}$/;

/** A long value (a hash, bytes) shortened, whole on hover. */
function Value({ value }) {
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^0x[0-9a-fA-F]{24,}$/.test(text)) return html`<code title=${text}>${text.slice(0, 10)}…${text.slice(-6)}</code>`;
  return html`<code>${text}</code>`;
}

function Args({ args }) {
  return html`<span class="args">${Object.entries(args).map(([k, v]) => html`<span class="pair"><span class="muted">${k}</span>${' '}${
    typeof v === 'string' && ADDRESS.test(v) ? html`<${Address} value=${v} />`
      : /^(id|receivableId|parentId|rootId)$/.test(k) ? html`<${ReceivableLink} id=${v} />`
      : html`<${Value} value=${v} />`}</span> `)}</span>`;
}

function Events({ events }) {
  if (events.length === 0) return html`<${Empty}>No event.<//>`;
  return html`<table class="events">
    <thead><tr><th scope="col">Block</th><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Arguments</th><th scope="col">Transaction</th></tr></thead>
    <tbody>${events.map((e) => html`<tr><td>${e.block_number}</td><td><${DateTime} value=${e.block_timestamp} /></td>
      <td>${e.contract_kind}.<strong>${e.event}</strong></td><td><${Args} args=${e.args} /></td>
      <td><a href=${`#/search?q=${e.tx_hash}`}><code>${e.tx_hash.slice(0, 10)}…</code></a> · log ${e.log_index}</td></tr>`)}</tbody>
  </table>`;
}

export function SearchPage({ query }) {
  const result = useLoad(async () => {
    if (ADDRESS.test(query)) {
      const [events, balances] = await Promise.all([
        get(`/v1/audit/participants/${query}/events?limit=1000`),
        get(`/v1/balances/${query}`),
      ]);
      return { kind: 'participant', events: events.items, balances: balances.balances };
    }
    if (TX_HASH.test(query)) return { kind: 'transaction', events: (await get(`/v1/audit/transactions/${query}`)).events };
    return { kind: query ? 'unknown' : 'none' };
  }, [query]);
  const data = result.data;
  return html`<h1 tabindex="-1">Search</h1>
    <${SearchBox} initial=${query} />
    ${result.loading && html`<${Progress} text="Searching…" />`}
    <${FormError} error=${result.error} />
    ${data?.kind === 'unknown' && html`<p role="status">“${query}” is neither a receivable id, an address (0x and 40 hex digits) nor a transaction hash (0x and 64).</p>`}
    ${data?.kind === 'participant' && html`<${Section} id="search-participant" title="Participant">
      <p><${Address} value=${query} /> · <code>${query}</code></p>
      <p>Balances: ${data.balances.map((b) => html`<span><${Money} amount=${b.balance} currency=${b.currency} /> </span>`)}</p>
      <h3>Events naming it</h3><${Events} events=${data.events} />
    <//>`}
    ${data?.kind === 'transaction' && html`<${Section} id="search-transaction" title="Transaction">
      <p><code class="hash">${query}</code></p><${Events} events=${data.events} />
    <//>`}`;
}
