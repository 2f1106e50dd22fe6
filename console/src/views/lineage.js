// A receivable's lineage drawn as a tree in SVG: root on top, the parts of each split below
// it; each node its holder, amount and status; financing and settlement marked on the edge
// into the part they concern. Nodes link to their receivable's page.

import { html, useLedger, decimalsOf, roleName } from '../ui.js';
import { layoutTree } from '../tree.js';
import { formatMoney } from '../money.js';

const W = 208;
const H = 88;
const GAP_X = 28;
const GAP_Y = 64;
const PAD = 16;

function holderText(address, ledger) {
  if (address === 'masked') return '(masked)';
  if (address.toLowerCase() === ledger.me.address.toLowerCase()) return 'you';
  const roles = ledger.participants.get(address.toLowerCase());
  return `${address.slice(0, 8)}…${address.slice(-4)}${roles ? ` ${roleName(roles[0])}` : ''}`;
}

/** Per receivable id: {financedBy, settled} from the trace's steps. */
export function marks(steps) {
  const found = new Map();
  const of = (id) => (found.has(id) ? found.get(id) : found.set(id, {}).get(id));
  for (const s of steps) {
    if (s.kind === 'financing_acceptance') of(s.receivable_id).financedBy = s.actors?.financier ?? 'masked';
    if (s.kind === 'financing_default') of(s.receivable_id).defaulted = true;
    if (s.kind === 'redemption') of(s.receivable_id).settled = true;
    if (s.kind === 'repayment') of(s.receivable_id).repaid = true;
  }
  return found;
}

export function LineageGraph({ trace, current, verdicts }) {
  const ledger = useLedger();
  const { positions, width, height } = layoutTree(trace.receivables, trace.root_id);
  const byId = new Map(trace.receivables.map((r) => [r.id, r]));
  const stepMarks = marks(trace.steps);
  const x = (id) => PAD + positions.get(id).column * (W + GAP_X);
  const y = (id) => PAD + positions.get(id).depth * (H + GAP_Y);
  const svgWidth = PAD * 2 + Math.max(width, 1) * (W + GAP_X) - GAP_X;
  const svgHeight = PAD * 2 + height * (H + GAP_Y) - GAP_Y;
  const nodes = [...positions.keys()].map((id) => byId.get(id));
  // Short on the drawing; who financed is in the edge's title and on the node (its holder).
  const edgeLabel = (m) => [m?.financedBy && 'financed', m?.defaulted && 'defaulted',
    m?.settled && 'settled', m?.repaid && 'repaid'].filter(Boolean);
  const edgeTitle = (m) => [m?.financedBy && `financed by ${holderText(m.financedBy, ledger)}`, m?.defaulted && 'defaulted',
    m?.settled && 'settled (redeemed to its holder)', m?.repaid && 'repaid into clearing'].filter(Boolean).join('; ');
  return html`<div class="graph-scroll" tabindex="0" role="region" aria-label="Lineage graph (scrolls)">
    <svg class="lineage" width=${svgWidth} height=${svgHeight + 20} viewBox=${`0 0 ${svgWidth} ${svgHeight + 20}`}
      role="group" aria-label=${`Lineage of receivable ${trace.root_id}: ${nodes.length} receivables`}>
      ${nodes.filter((n) => n.parent_id && positions.has(n.parent_id)).map((n) => {
        const x1 = x(n.parent_id) + W / 2; const y1 = y(n.parent_id) + H;
        const x2 = x(n.id) + W / 2; const y2 = y(n.id);
        const mid = y1 + GAP_Y / 2;
        const labels = edgeLabel(stepMarks.get(n.id));
        return html`<g class=${`edge${labels.length ? ' marked' : ''}`} data-edge=${`${n.parent_id}-${n.id}`}>
          <title>${`#${n.parent_id} split into #${n.id}${labels.length ? `; ${edgeTitle(stepMarks.get(n.id))}` : ''}`}</title>
          <path d=${`M${x1},${y1} V${mid} H${x2} V${y2}`} />
          <text x=${x2 + 6} y=${y2 - 8} class="edge-label">${['split', ...labels].join(' · ')}</text>
        </g>`;
      })}
      ${nodes.map((n) => {
        const verdict = verdicts?.get(n.id);
        const cls = ['node', n.id === current ? 'current' : '', `status-${n.status.toLowerCase()}`, verdict ? `verdict-${verdict}` : ''].join(' ');
        const labels = n.parent_id ? [] : edgeLabel(stepMarks.get(n.id));
        const money = formatMoney(n.amount, n.currency, decimalsOf(ledger, n.currency));
        return html`<a href=${`#/receivables/${n.id}`} class=${cls} data-node=${n.id}
            aria-label=${`Receivable ${n.id}, held by ${holderText(n.holder, ledger)}, ${money}, ${n.status}${verdict ? `, ${verdict}` : ''}`}>
          <rect x=${x(n.id)} y=${y(n.id)} width=${W} height=${H} rx="8" />
          <text x=${x(n.id) + 12} y=${y(n.id) + 22} class="node-title">#${n.id} <tspan class="node-status">${n.status}</tspan>${verdict === 'verified' ? ' ✓' : verdict ? ' ✗' : ''}</text>
          <text x=${x(n.id) + 12} y=${y(n.id) + 44} class="node-money">${money}</text>
          <text x=${x(n.id) + 12} y=${y(n.id) + 64} class="node-holder">holder ${holderText(n.holder, ledger)}</text>
          ${labels.length > 0 && html`<text x=${x(n.id) + 12} y=${y(n.id) + 80} class="node-mark">${labels.join(' · ')}</text>`}
        </a>`;
      })}
    </svg>
  </div>`;
}
