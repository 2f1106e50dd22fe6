// The console's shell: sign-in with an API key, the header, and the hash router
// (#/ the role's worklist, #/receivables/ID a receivable and its lineage, #/search,
// #/credit-lines the lines, #/warnings the early-warning worklist, #/monitoring the
// compliance alerts and cases, #/monitoring/cases/ID a case).

import { render } from 'preact';
import { useState, useEffect, useRef } from 'preact/hooks';
import { call, get, getAll, session, ApiError } from './api.js';
import { html, Ledger, roleName, FormError, Field, Progress } from './ui.js';
import { timeZone } from './dates.js';
import { Worklist } from './views/worklist.js';
import { ReceivablePage } from './views/receivable.js';
import { SearchPage } from './views/search.js';
import { CreditLinesPage } from './views/lines.js';
import { WarningsPage } from './views/warnings.js';
import { MonitoringPage, CasePage } from './views/monitoring.js';

function SignIn({ onSignedIn, notice }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const input = useRef(null);
  useEffect(() => input.current?.focus(), []);
  const submit = async (event) => {
    event.preventDefault();
    const key = new FormData(event.target).get('api-key').trim();
    setError(null);
    if (!key) {
      setError(new ApiError(0, { error: 'MissingApiKey', message: 'paste the API key you were given at onboarding' }));
      return;
    }
    setBusy(true);
    try {
      const me = (await call('GET', '/v1/participants/me', { key })).body;
      session.signIn(key);
      onSignedIn(me);
    } catch (exc) {
      setError(exc);
    } finally {
      setBusy(false);
    }
  };
  return html`<main id="main" class="signin">
    <p class="product">Supply-chain finance ledger · console</p>
    <h1>Sign in</h1>
    <p>Use your participant's API key. It stays in this browser tab only and is forgotten when you sign out or close the tab.</p>
    ${notice && html`<p class="notice" role="status">${notice}</p>`}
    <form onSubmit=${submit} class="card" novalidate>
      <${Field} id="api-key" label="API key" hint="It starts with lk_." error=${error?.message}>
        <input ref=${input} type="password" autocomplete="off" spellcheck=${false} required />
      <//>
      <button type="submit" disabled=${busy}>Sign in</button>
      <${Progress} text=${busy ? 'Checking the key…' : null} />
    </form>
  </main>`;
}

function useHashRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const onChange = () => setHash(location.hash);
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return hash.replace(/^#/, '') || '/';
}

function Header({ me, onSignOut }) {
  const readers = me.roles.some((r) => r === 'AUDITOR' || r === 'REGULATOR');
  return html`<header class="top">
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
    <div class="brand"><a href="#/">Ledger console</a></div>
    <nav aria-label="Main">
      <ul>
        <li><a href="#/">Worklist</a></li>
        <li><a href="#/credit-lines">Credit lines</a></li>
        <li><a href="#/warnings">Early warning</a></li>
        ${readers && html`<li><a href="#/search">Search</a></li>`}
        ${readers && html`<li><a href="#/monitoring">Monitoring</a></li>`}
      </ul>
    </nav>
    <div class="who">
      <span>Signed in as <code title=${me.address}>${me.address.slice(0, 8)}…${me.address.slice(-4)}</code>${' '}
        · ${me.roles.map(roleName).join(', ')}</span>
      <button type="button" class="secondary" onClick=${onSignOut}>Sign out</button>
    </div>
  </header>`;
}

function Shell({ me, onSignOut }) {
  const route = useHashRoute();
  const [ledger, setLedger] = useState({ me, currencies: [], participants: new Map() });
  const [loadError, setLoadError] = useState(null);
  useEffect(() => {
    (async () => {
      try {
        const [currencies, participants] = await Promise.all([get('/v1/currencies'), getAll('/v1/participants')]);
        setLedger({ me, currencies, participants: new Map(participants.map((p) => [p.address.toLowerCase(), p.roles])) });
      } catch (exc) {
        setLoadError(exc);
      }
    })();
  }, [me]);
  useEffect(() => {
    // A new page: move focus to its heading for screen readers and keyboard users.
    document.querySelector('main h1')?.focus();
  }, [route]);
  let page;
  const receivable = /^\/receivables\/([0-9]+)$/.exec(route);
  if (receivable) page = html`<${ReceivablePage} id=${Number(receivable[1])} key=${receivable[1]} />`;
  else if (route === '/credit-lines') page = html`<${CreditLinesPage} />`;
  else if (route === '/warnings') page = html`<${WarningsPage} />`;
  else if (route === '/monitoring') page = html`<${MonitoringPage} />`;
  else if (/^\/monitoring\/cases\/[0-9]+$/.test(route)) {
    const caseId = route.split('/').pop();
    page = html`<${CasePage} id=${Number(caseId)} key=${caseId} />`;
  }
  else if (route.startsWith('/search')) page = html`<${SearchPage} query=${decodeURIComponent(route.split('?q=')[1] ?? '')} />`;
  else page = html`<${Worklist} />`;
  return html`<${Ledger.Provider} value=${ledger}>
    <${Header} me=${me} onSignOut=${onSignOut} />
    <main id="main" tabindex="-1">
      <${FormError} error=${loadError} />
      ${page}
    </main>
    <footer><p>Times are shown in your time zone (${timeZone()}). Amounts are exact: integer minor units from the ledger.</p></footer>
  <//>`;
}

function App() {
  const [me, setMe] = useState(null);
  const [checking, setChecking] = useState(Boolean(session.key()));
  const [notice, setNotice] = useState(null);
  useEffect(() => {
    if (!session.key()) return;
    // A reload keeps the tab's session: check the stored key is still good.
    get('/v1/participants/me')
      .then(setMe)
      .catch((exc) => {
        session.signOut();
        setNotice(exc.status === 401 ? 'Your key is no longer valid: sign in again.' : exc.message);
      })
      .finally(() => setChecking(false));
  }, []);
  const signOut = () => {
    session.signOut();
    setMe(null);
    setNotice('You are signed out; the key is forgotten.');
    location.hash = '#/';
  };
  if (checking) return html`<main id="main"><${Progress} text="Checking your session…" /></main>`;
  if (!me) return html`<${SignIn} notice=${notice} onSignedIn=${(who) => { setNotice(null); setMe(who); }} />`;
  return html`<${Shell} me=${me} onSignOut=${signOut} />`;
}

render(html`<${App} />`, document.getElementById('app'));
