// Following the participant's notifications (/v1/events/stream) on a page: a count that
// grows with each one (LiveGeneration in load.js, or a useLoad dependency) and the line
// that says whether the page is live. The worklist and the monitoring alerts use it.

import { useEffect, useState } from 'preact/hooks';
import { followEvents } from './api.js';
import { html } from './ui.js';

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

/** ``{generation, last, state}``: ``generation`` grows with each notification of one of
 * ``kinds`` (every kind when it is not given). */
export function useLive(kinds = null) {
  const [live, setLive] = useState({ generation: 0, last: null, state: 'connecting' });
  useEffect(() => followEvents(
    (event) => {
      if (kinds && !kinds.includes(event.kind)) return;
      setLive((l) => ({ ...l, generation: l.generation + 1, last: event }));
    },
    { onState: (state) => setLive((l) => ({ ...l, state })) },
  ), []);
  return live;
}

/** Whether the page follows the stream, and the last notification that reloaded it. */
export function LiveStatus({ live }) {
  return html`<p class="muted live-status" aria-live="polite" data-state=${live.state}>
    ${live.state === 'live' ? 'Live: updates as they happen' : live.state === 'reconnecting' ? 'Reconnecting to live updates…' : 'Connecting to live updates…'}
    ${live.last && html`; last: ${KIND_TEXT[live.last.kind] ?? live.last.kind} (#${live.last.id})`}
  </p>`;
}
