// Risk figures shown on several pages: a line's utilisation as a bar, an obligor's score
// with its grade and inputs, the caller's line headroom beside a financing, and the
// credit-line refusals of an accept put at the line they are about.

import { get } from '../api.js';
import { useLoad } from '../load.js';
import { percent, formatMoney } from '../money.js';
import { html, useLedger, decimalsOf, Money, FormError, Progress } from '../ui.js';

/**
 * Utilisation (basis points, an integer) as a bar, coloured by the 80/90/100 % warning
 * band the API names (``band``: ledger_app/domain/risk.py decides it, nothing here).
 */
export function UtilisationBar({ bps, band, label }) {
  const shown = band ?? 0;
  // The fill's width is the utilisation capped at 100 %, written from the integer bps.
  const width = percent(Math.min(Number(bps), 10000));
  return html`<span class=${`utilisation band-${shown}`}>
    <span class="bar" role="meter" aria-valuemin="0" aria-valuemax="10000" aria-valuenow=${Number(bps)}
      aria-valuetext=${`${percent(bps)} used`} aria-label=${label ?? 'Utilisation'}>
      <span class="fill" style=${`width: ${width}`}></span>
    </span>
    <span class="bar-figure">${percent(bps)}</span>
  </span>`;
}

/** A list answer of the API: a plain array or a page with ``items``. */
export const itemsOf = (body) => (Array.isArray(body) ? body : body?.items ?? []);

const INPUT_NAMES = {
  on_time_rate_bps: 'On-time repayment rate',
  worst_days_past_due: 'Worst days past due',
  average_days_past_due: 'Average days past due',
  open_past_due_roots: 'Roots past due now',
  concentration_bps: 'Largest supplier\'s share',
  volume_trend_pct: 'Volume, last 90 days vs the 90 before',
  age_days: 'Days on the ledger',
  repaid_roots: 'Roots repaid',
  volume_recent: 'Roots registered, last 90 days',
  volume_prior: 'Roots registered, the 90 days before',
};

/** "On-time repayment rate" for ``on_time_rate_bps`` (the API's own name when unknown). */
const inputName = (name) => INPUT_NAMES[name] ?? name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

/** An input's value: basis points and percentages as such, anything else as the API gives it. */
function inputValue(name, value) {
  if (value === null || value === undefined) return '—';
  if (/_bps$/.test(name) && /^-?[0-9]+$/.test(String(value))) {
    const n = Number(value);
    return n < 0 ? `−${percent(-n)}` : percent(n);
  }
  if (/_pct$/.test(name)) return `${value} %`;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** "72 / 100 · grade B". */
export function ScoreBadge({ score }) {
  if (!score) return html`<span class="muted">no score</span>`;
  return html`<span class=${`score grade-${String(score.grade).toLowerCase()}`}>
    <strong>${score.score}</strong> / 100 · grade <strong>${score.grade}</strong></span>`;
}

/** An obligor's score (``GET /v1/risk/scores/{core}``) with each input and its points. */
export function RiskScore({ core }) {
  const data = useLoad(() => get(`/v1/risk/scores/${core}`), [core]);
  if (data.loading) return html`<${Progress} text="Loading the score…" />`;
  if (data.error) return html`<${FormError} error=${data.error} />`;
  const s = data.data;
  const inputs = Object.entries(s.inputs ?? {});
  return html`<div class="risk-score" data-core=${core}>
    <p>Score <${ScoreBadge} score=${s} /> <span class="muted">(rule ${s.rule_version}, at block ${s.as_of_block})</span></p>
    <table class="score-inputs">
      <caption class="sr-only">What the score is made of: each input, its value and the points it gave</caption>
      <thead><tr><th scope="col">Input</th><th scope="col" class="num">Value</th><th scope="col" class="num">Points</th></tr></thead>
      <tbody>${inputs.map(([name, input]) => {
        const value = input !== null && typeof input === 'object' && 'value' in input ? input.value : input;
        const points = input !== null && typeof input === 'object' ? input.points : undefined;
        return html`<tr data-input=${name}><th scope="row">${inputName(name)}</th>
          <td class="num">${inputValue(name, value)}</td><td class="num">${points ?? '—'}</td></tr>`;
      })}</tbody>
    </table>
  </div>`;
}

/** A line's headroom with its utilisation bar, or a note that there is none. */
export function LineHeadroom({ line, currency, none = 'no open line' }) {
  if (!line) return html`<span class="muted">${none}</span>`;
  return html`<span class="line-headroom" data-line=${line.line_id}>
    headroom <strong><${Money} amount=${line.headroom} currency=${currency} /></strong>${' '}
    on line ${line.line_id} <${UtilisationBar} bps=${line.utilisation_bps} band=${line.band} label=${`Line ${line.line_id} utilisation`} />
  </span>`;
}

/** The errors of an accept that are about the financier's line to the debtor. */
export const LINE_ERRORS = new Set([
  'CreditLineExceeded', 'CreditLineSubLimitExceeded', 'CreditLineMissing', 'CreditLineExpired',
  'CreditLineFrozenError', 'CreditLineClosedError', 'CreditLineSupplierNotEligible', 'RiskObligorRestricted',
]);

/**
 * A plainer message for a credit-line refusal whose arguments are amounts of
 * ``currency`` (limit, utilised, requested); null for any other error.
 */
export function lineExplainer(ledger, currency) {
  const money = (minor) => formatMoney(String(minor), currency, decimalsOf(ledger, currency));
  return (error) => {
    const { args } = error;
    const line = args.lineId ?? args.line_id;
    if (error.error === 'CreditLineExceeded' && args.requested !== undefined) {
      return `over the line${line ? ` ${line}` : ''}: limit ${money(args.limit)}, utilised ${money(args.utilised)}, `
        + `requested ${money(args.requested)}`;
    }
    if (error.error === 'CreditLineSubLimitExceeded' && args.requested !== undefined) {
      return `over your sub-limit on line ${line}: limit ${money(args.limit)}, utilised ${money(args.utilised)}, `
        + `requested ${money(args.requested)}`;
    }
    if (error.error === 'CreditLineBelowUtilisation' && args.utilised !== undefined) {
      return `the line has ${money(args.utilised)} drawn: the limit cannot go below it (asked ${money(args.limit)})`;
    }
    if (error.error === 'CreditLineSubLimitAboveLimit') {
      // The contract's revert names them subLimit and limit; the API's pre-check
      // sub_limit and line_limit (its ``field`` is the sub-limit's, "limit").
      const sub = args.subLimit ?? args.sub_limit;
      const limit = args.line_limit ?? args.limit;
      if (sub !== undefined && limit !== undefined) {
        return `a sub-limit of ${money(sub)} is above the line's limit of ${money(limit)}`;
      }
    }
    return null;
  };
}
