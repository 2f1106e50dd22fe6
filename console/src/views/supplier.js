// A supplier: receivables to confirm, what it holds, the offers it received (each with
// the debtor's score and, when the supplier may see it, the headroom of the offering
// financier's line to the debtor, where an accept's line refusal is shown).

import { get, getAll, write } from '../api.js';
import { useLoad } from '../load.js';
import { percent } from '../money.js';
import { html, useLedger, Money, DateTime, Address, Status, Section, Empty, ReceivableLink, FormError, Progress, useAction } from '../ui.js';
import { ScoreBadge, LineHeadroom, LINE_ERRORS, lineExplainer, itemsOf } from './risk.js';
import { WaitingForYou } from './claims.js';
import { RecourseClaims } from './recourse.js';

function Buttons({ actions, describedBy, onDone }) {
  const action = useAction();
  return html`<div class="row-action">
    ${actions.map(([label, path, kind]) => html`<button type="button" class=${kind ?? ''} aria-describedby=${describedBy}
      disabled=${Boolean(action.busy)}
      onClick=${() => action.run(async (progress) => { await write(path, undefined, progress); onDone(); })}>${label}</button>`)}
    <${Progress} text=${action.busy} /><${FormError} error=${action.error} />
  </div>`;
}

function Terms({ offer }) {
  return html`${percent(offer.advance_rate_bps)} advance, ${percent(offer.discount_rate_bps)} a year
    (ACT/${offer.day_count_basis})${offer.recourse ? ', with recourse' : ''}`;
}

/** Every line error of an accept is about the offering financier's line: shown there. */
const LINE_ALIASES = Object.fromEntries([...LINE_ERRORS].map((name) => [name, 'line']));

/** The open line of ``financier`` to ``debtor`` in ``currency`` as the supplier sees it (its own
 * sub-limit only), or null when there is none or it is not shown to the supplier. */
async function visibleLine(financier, debtor, currency) {
  try {
    const found = itemsOf(await get(`/v1/credit-lines?financier=${financier}&obligor=${debtor}&currency=${currency}&status=OPEN`));
    return found[0] ?? null;
  } catch (exc) {
    if (exc.status === 403 || exc.status === 404) return null;
    throw exc;
  }
}

/** A line as the supplier may draw on it: the line's headroom, and its own sub-limit's. */
function OfferLine({ line, currency, me }) {
  if (!line) return html`<span class="muted">not shown to you</span>`;
  const mine = (line.suppliers ?? []).find((s) => s.supplier.toLowerCase() === me);
  return html`<${LineHeadroom} line=${line} currency=${currency} />${mine && html`<span class="sub-headroom">; your sub-limit's headroom <strong><${Money} amount=${mine.headroom} currency=${currency} /></strong></span>`}`;
}

function OfferItem({ financing: f, offer: o, risk, onDone }) {
  const ledger = useLedger();
  const me = ledger.me.address.toLowerCase();
  const action = useAction(LINE_ALIASES, lineExplainer(ledger, f.currency));
  const id = `offer-${f.id}-${o.index}`;
  const lineError = action.fieldError('line');
  const act = (verb) => action.run(async (progress) => {
    await write(`/v1/financings/${f.id}/offers/${o.index}/${verb}`, undefined, progress);
    onDone();
  });
  const line = risk.lines.get(o.financier.toLowerCase());
  return html`<li id=${id}>
    <span>Financing ${f.id} of <${ReceivableLink} id=${f.receivable_id} /> (<${Money} amount=${f.face_amount} currency=${f.currency} />):${' '}
      <${Address} value=${o.financier} /> offers <strong><${Money} amount=${o.proceeds} currency=${f.currency} /></strong> now
      (<${Terms} offer=${o} />, fee <${Money} amount=${o.fee} currency=${f.currency} />), until <${DateTime} value=${o.expires_at} />.</span>
    <div class="offer-risk">
      <p><span class="muted">Debtor's score</span> <${ScoreBadge} score=${risk.score} /></p>
      <div class=${lineError ? 'field invalid line-field' : 'field line-field'}>
        <span class="label" id=${`${id}-line-label`}>The financier's line to the debtor</span>
        <span id=${`${id}-line`} aria-labelledby=${`${id}-line-label`} aria-describedby=${lineError ? `${id}-line-error` : undefined}>
          <${OfferLine} line=${line} currency=${f.currency} me=${me} /></span>
        ${lineError && html`<p id=${`${id}-line-error`} class="field-error" role="alert" data-field-error=${`${id}-line`}>
          <strong>${action.error.error}</strong>: ${lineError}</p>`}
      </div>
    </div>
    <div class="row-action">
      <button type="button" aria-describedby=${id} disabled=${Boolean(action.busy)} onClick=${() => act('accept')}>Accept</button>
      <button type="button" class="secondary" aria-describedby=${id} disabled=${Boolean(action.busy)} onClick=${() => act('reject')}>Reject</button>
      <${Progress} text=${action.busy} /><${FormError} error=${action.shownFields(['line'])} />
    </div>
  </li>`;
}

/**
 * For each of the supplier's open requests: the debtor's score (the financing's ``risk``
 * block, else the score route when the supplier may read it) and the lines, by financier,
 * of the financiers asked or offering.
 */
async function requestRisks(financings, receivables) {
  const debtors = new Map(receivables.map((r) => [r.id, r.debtor]));
  const scores = new Map();
  const out = new Map();
  for (const f of financings) {
    const debtor = debtors.get(f.receivable_id) ?? (await get(`/v1/receivables/${f.receivable_id}`)).debtor;
    let score = f.risk?.debtor_score ?? null;
    if (!score) {
      if (!scores.has(debtor)) scores.set(debtor, await get(`/v1/risk/scores/${debtor}`).catch(() => null));
      score = scores.get(debtor);
    }
    const financiers = new Set(f.offers.filter((o) => o.status === 'OPEN').map((o) => o.financier.toLowerCase()));
    if (f.financier && !/^0x0{40}$/i.test(f.financier)) financiers.add(f.financier.toLowerCase());
    const lines = new Map();
    for (const financier of financiers) lines.set(financier, await visibleLine(financier, debtor, f.currency));
    out.set(f.id, { debtor, score, lines });
  }
  return out;
}

export function SupplierWorklist() {
  const { me } = useLedger();
  const mine = me.address.toLowerCase();
  const data = useLoad(async () => {
    const [receivables, financings] = await Promise.all([getAll('/v1/receivables'), getAll('/v1/financings')]);
    const open = financings.filter((f) => f.supplier.toLowerCase() === mine && ['REQUESTED', 'OFFERED'].includes(f.status));
    return { receivables, financings, risks: await requestRisks(open, receivables) };
  });
  const receivables = data.data?.receivables ?? [];
  const financings = data.data?.financings ?? [];
  const risks = data.data?.risks ?? new Map();
  const toConfirm = receivables.filter((r) => r.status === 'PENDING' && r.creditor.toLowerCase() === mine);
  const held = receivables
    .filter((r) => r.holder.toLowerCase() === mine && ['ACTIVE', 'FINANCING', 'OVERDUE'].includes(r.status))
    .sort((a, b) => a.due_date.localeCompare(b.due_date) || a.id - b.id);
  const offers = financings
    .filter((f) => f.supplier.toLowerCase() === mine)
    .flatMap((f) => f.offers.filter((o) => o.status === 'OPEN').map((o) => ({ financing: f, offer: o })));
  const requests = financings.filter((f) => f.supplier.toLowerCase() === mine && ['REQUESTED', 'OFFERED'].includes(f.status));
  return html`
    ${data.loading && html`<${Progress} text="Loading your receivables and financings…" />`}
    <${FormError} error=${data.error} />
    <${WaitingForYou} />
    <${Section} id="supplier-confirm" title="To confirm" count=${toConfirm.length}>
      ${toConfirm.length === 0 ? html`<${Empty}>No receivable awaits your confirmation.<//>` : html`<ul class="tasks">
        ${toConfirm.map((r) => html`<li id=${`confirm-${r.id}`}>
          <span><${ReceivableLink} id=${r.id} />: <${Address} value=${r.debtor} /> owes you <${Money} amount=${r.amount} currency=${r.currency} />,
            due <${DateTime} value=${r.due_date} />.</span>
          <${Buttons} describedBy=${`confirm-${r.id}`} onDone=${data.reload}
            actions=${[['Confirm', `/v1/receivables/${r.id}/confirm`], ['Reject', `/v1/receivables/${r.id}/reject`, 'secondary']]} />
        </li>`)}</ul>`}
    <//>
    <${Section} id="supplier-offers" title="Offers received" count=${offers.length}>
      ${offers.length === 0 ? html`<${Empty}>No open offer.<//>` : html`<ul class="tasks">
        ${offers.map(({ financing: f, offer: o }) => html`<${OfferItem} financing=${f} offer=${o} onDone=${data.reload}
          risk=${risks.get(f.id) ?? { score: f.risk?.debtor_score, lines: new Map() }} key=${`${f.id}-${o.index}`} />`)}</ul>`}
    <//>
    <${RecourseClaims} financings=${financings} onDone=${data.reload} />
    <${Section} id="supplier-held" title="You hold" count=${held.length}>
      ${held.length === 0 ? html`<${Empty}>You hold no active receivable.<//>` : html`<table>
        <caption class="sr-only">Receivables you hold; open one to split, transfer or finance it</caption>
        <thead><tr><th scope="col">Receivable</th><th scope="col">Debtor</th><th scope="col" class="num">Amount</th><th scope="col">Due</th><th scope="col">Status</th><th scope="col">Act</th></tr></thead>
        <tbody>${held.map((r) => html`<tr>
          <td><${ReceivableLink} id=${r.id} /></td><td><${Address} value=${r.debtor} /></td>
          <td class="num"><${Money} amount=${r.amount} currency=${r.currency} /></td>
          <td><${DateTime} value=${r.due_date} /></td><td><${Status} value=${r.status} /></td>
          <td>${r.status === 'ACTIVE' ? html`<a href=${`#/receivables/${r.id}`} aria-label=${`Split, transfer or finance receivable ${r.id}`}>Split, transfer, finance</a>` : '—'}</td>
        </tr>`)}</tbody></table>`}
    <//>
    <${Section} id="supplier-requests" title="Your open financing requests" count=${requests.length}>
      ${requests.length === 0 ? html`<${Empty}>No open request.<//>` : html`<ul class="plain">
        ${requests.map((f) => {
          const risk = risks.get(f.id);
          const asked = f.financier && !/^0x0{40}$/i.test(f.financier) ? risk?.lines.get(f.financier.toLowerCase()) : undefined;
          return html`<li id=${`request-${f.id}`}>Financing ${f.id} of <${ReceivableLink} id=${f.receivable_id} />: <${Status} value=${f.status} />,
          asked of <${Address} value=${f.financier} none="any financier" />, ${f.offer_count === 1 ? '1 offer' : `${f.offer_count} offers`}.
          <span class="muted">Debtor's score</span> <${ScoreBadge} score=${risk?.score ?? f.risk?.debtor_score} />${asked !== undefined && html`;
          <span class="muted">the financier's line</span> <${OfferLine} line=${asked} currency=${f.currency} me=${mine} />`}</li>`;
        })}</ul>`}
    <//>`;
}
