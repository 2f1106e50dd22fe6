// Regulators and auditors: compliance alerts (#/monitoring) and a case (#/monitoring/cases/ID):
// open a case from open alerts, annotate it, close it as dismissed or reported, export its SAR.
// The alerts list follows the event stream (live.js): on an ``alert.raised`` notification it
// loads the alerts and cases again in place, keeping the filters and the alerts selected.

import { useState } from 'preact/hooks';
import { call, get, session } from '../api.js';
import { useLoad } from '../load.js';
import { useLive, LiveStatus } from '../live.js';
import { html, Address, DateTime, Section, Empty, FormError, Progress, Field, useAction } from '../ui.js';

const RULES = ['', 'circular_flow', 'fast_finance', 'structuring', 'concentration', 'velocity', 'related_parties', 'near_due_financing', 'sanctions'];
const STATUSES = ['', 'OPEN', 'IN_CASE', 'DISMISSED', 'REPORTED'];
const LIVE_KINDS = ['alert.raised'];

const seconds = (value) => (value === null || value === undefined ? null : new Date(value * 1000).toISOString());

function Proofs({ proofs }) {
  if (!proofs.length) return html`<span class="muted">off chain</span>`;
  return html`<ul class="proofs">${proofs.map((p) => html`<li>
    ${p.event} · block ${p.block_number} · <code title=${p.tx_hash}>${p.tx_hash.slice(0, 10)}…</code>:${p.log_index}
    ${p.receivable_id !== null && p.receivable_id !== undefined ? html` · <a href=${`#/receivables/${p.receivable_id}`}>#${p.receivable_id}</a>` : ''}
  </li>`)}</ul>`;
}

function AlertRows({ alerts, selected, onToggle }) {
  return html`<table>
    <thead><tr><th scope="col"><span class="visually-hidden">Select</span></th><th scope="col">Alert</th><th scope="col">Rule</th><th scope="col">Severity</th><th scope="col">Status</th><th scope="col">Subjects</th><th scope="col">On chain</th><th scope="col">When</th></tr></thead>
    <tbody>${alerts.map((a) => html`<tr data-alert=${a.id}>
      <td>${onToggle && a.status === 'OPEN' ? html`<input type="checkbox" aria-label=${`Select alert ${a.id}`} checked=${selected.has(a.id)} onChange=${() => onToggle(a.id)} />` : ''}</td>
      <td>#${a.id}</td><td>${a.rule}</td><td class=${`severity-${a.severity}`}>${a.severity}</td><td>${a.status}</td>
      <td>${a.subjects.map((s) => html`<${Address} value=${s} /> `)}</td>
      <td><${Proofs} proofs=${a.proofs} /></td>
      <td><${DateTime} value=${seconds(a.chain_time) ?? a.raised_at} /></td></tr>`)}</tbody></table>`;
}

export function MonitoringPage() {
  const [rule, setRule] = useState('');
  const [status, setStatus] = useState('OPEN');
  const [selected, setSelected] = useState(new Set());
  const [round, setRound] = useState(0);
  const live = useLive(LIVE_KINDS);
  const query = [rule && `rule=${rule}`, status && `status=${status}`, 'limit=200'].filter(Boolean).join('&');
  const alerts = useLoad(() => get(`/v1/monitoring/alerts?${query}`), [query, round, live.generation]);
  const cases = useLoad(() => get('/v1/monitoring/cases'), [round, live.generation]);
  const action = useAction();
  const toggle = (id) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id); else next.add(id);
    setSelected(next);
  };
  const open = (event) => {
    event.preventDefault();
    action.run(async () => {
      const answer = await call('POST', '/v1/monitoring/cases', { body: { alert_ids: [...selected] } });
      setSelected(new Set());
      setRound(round + 1);
      location.hash = `#/monitoring/cases/${answer.body.id}`;
    });
  };
  const items = alerts.data?.alerts ?? [];
  return html`<h1 tabindex="-1">Monitoring</h1>
    <${LiveStatus} live=${live} />
    <${Section} id="monitoring-alerts" title="Alerts" count=${alerts.data?.total}>
      <div class="inline">
        <div class="field inline-field"><label for="alerts-rule">Rule</label>
          <select id="alerts-rule" value=${rule} onChange=${(e) => setRule(e.target.value)}>
            ${RULES.map((r) => html`<option value=${r}>${r || 'any'}</option>`)}</select></div>
        <div class="field inline-field"><label for="alerts-status">Status</label>
          <select id="alerts-status" value=${status} onChange=${(e) => setStatus(e.target.value)}>
            ${STATUSES.map((s) => html`<option value=${s}>${s || 'any'}</option>`)}</select></div>
      </div>
      ${alerts.loading && html`<${Progress} text="Loading…" />`}
      <${FormError} error=${alerts.error} />
      ${items.length === 0 && !alerts.loading ? html`<${Empty}>No alerts.<//>` : html`<${AlertRows} alerts=${items} selected=${selected} onToggle=${toggle} />`}
      <form onSubmit=${open} id="open-case">
        <button type="submit" disabled=${selected.size === 0 || action.busy}>Open a case from ${selected.size} selected</button>
        <${Progress} text=${action.busy} /><${FormError} error=${action.error} />
      </form>
    <//>
    <${Section} id="monitoring-cases" title="Cases" count=${cases.data?.length}>
      <${FormError} error=${cases.error} />
      ${(cases.data ?? []).length === 0 ? html`<${Empty}>No cases.<//>` : html`<table>
        <thead><tr><th scope="col">Case</th><th scope="col">Title</th><th scope="col">Status</th><th scope="col">Alerts</th><th scope="col">Opened</th></tr></thead>
        <tbody>${cases.data.map((c) => html`<tr data-case=${c.id}><td><a href=${`#/monitoring/cases/${c.id}`}>Case ${c.id}</a></td>
          <td>${c.title}</td><td>${c.status}</td><td>${c.alert_ids.map((i) => `#${i}`).join(' ')}</td>
          <td><${DateTime} value=${c.opened_at} /> by <${Address} value=${c.opened_by} /></td></tr>`)}</tbody></table>`}
    <//>`;
}

async function download(path, name) {
  const response = await fetch(path, { headers: { 'X-API-Key': session.key() } });
  if (!response.ok) throw new Error(`${response.status}: ${(await response.text()).slice(0, 200)}`);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function CasePage({ id }) {
  const [round, setRound] = useState(0);
  const found = useLoad(() => get(`/v1/monitoring/cases/${id}`), [id, round]);
  const note = useAction();
  const close = useAction();
  const report = useAction();
  const c = found.data;
  const annotate = (event) => {
    event.preventDefault();
    const form = event.target;
    const text = new FormData(form).get('text').trim();
    note.run(async () => {
      await call('POST', `/v1/monitoring/cases/${id}/notes`, { body: { text } });
      form.reset();
      setRound(round + 1);
    });
  };
  const finish = (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    close.run(async () => {
      await call('POST', `/v1/monitoring/cases/${id}/close`, { body: { outcome: data.get('outcome'), reason: data.get('reason').trim() } });
      setRound(round + 1);
    });
  };
  return html`<h1 tabindex="-1">Case ${id}</h1>
    ${found.loading && html`<${Progress} text="Loading…" />`}
    <${FormError} error=${found.error} />
    ${c && html`
      <p class="case-status">Status: <strong data-case-status>${c.status}</strong>${c.reason ? html` · ${c.reason}` : ''} · <a href="#/monitoring">All alerts and cases</a></p>
      <${Section} id="case-alerts" title="Alerts" count=${c.alerts.length}><${AlertRows} alerts=${c.alerts} selected=${new Set()} /><//>
      <${Section} id="case-history" title="History">
        <ol class="history">${c.history.map((h) => html`<li data-action=${h.action}><strong>${h.action}</strong> · <${DateTime} value=${h.at} /> · <${Address} value=${h.actor} />${h.text ? html`: ${h.text}` : ''}</li>`)}</ol>
      <//>
      ${c.status === 'OPEN' && html`
        <${Section} id="case-note" title="Add a note">
          <form onSubmit=${annotate}>
            <${Field} id="case-note-text" label="Note" error=${note.fieldError('text')}><textarea name="text" required maxlength="10000"></textarea><//>
            <button type="submit" disabled=${note.busy}>Add the note</button>
            <${Progress} text=${note.busy} /><${FormError} error=${note.shownFields(['text'])} />
          </form>
        <//>
        <${Section} id="case-close" title="Close the case">
          <form onSubmit=${finish}>
            <div class="field"><label for="case-outcome">Outcome</label>
              <select id="case-outcome" name="outcome"><option value="dismissed">Dismissed</option><option value="reported">Reported</option></select></div>
            <${Field} id="case-reason" label="Reason" error=${close.fieldError('reason')}><textarea name="reason" required maxlength="10000"></textarea><//>
            <button type="submit" disabled=${close.busy}>Close the case</button>
            <${Progress} text=${close.busy} /><${FormError} error=${close.shownFields(['reason'])} />
          </form>
        <//>`}
      <${Section} id="case-report" title="Suspicious-activity report">
        <p>The SAR of this case (goAML-like), for the financial intelligence unit.</p>
        <button type="button" id="sar-json" onClick=${() => report.run(() => download(`/v1/monitoring/cases/${id}/report?format=json`, `case-${id}-sar.json`))}>Download JSON</button>${' '}
        <button type="button" id="sar-xml" class="secondary" onClick=${() => report.run(() => download(`/v1/monitoring/cases/${id}/report?format=xml`, `case-${id}-sar.xml`))}>Download XML</button>
        <${Progress} text=${report.busy} /><${FormError} error=${report.error} />
      <//>`}`;
}
