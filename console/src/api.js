// The API client: the participant's key from this tab's session storage, JSON in and out,
// the API's errors ({error, args, message}) as ApiError, and writes followed until the
// index shows them.

const KEY = 'ledger-console.api-key';

/** The key of this browser tab's session (sessionStorage only: closing the tab forgets it). */
export const session = {
  key: () => sessionStorage.getItem(KEY),
  signIn: (key) => sessionStorage.setItem(KEY, key),
  signOut: () => sessionStorage.removeItem(KEY),
};

/** An error answer of the API, or a failure to reach it. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `the service answered HTTP ${status}`);
    this.status = status;
    this.error = body?.error || 'HttpError';
    this.args = body?.args || {};
  }

  /** field -> message for every field the error names (args.field, args.fields, args.rows). */
  fieldMessages() {
    const found = {};
    if (this.args.field) found[this.args.field] = this.message;
    for (const f of this.args.fields || []) found[f.field] = f.message.replace(/^Value error, /, '');
    for (const r of this.args.rows || []) found[`items.${r.row}.${r.field}`] = r.message;
    return found;
  }
}

/** One API call; resolves to {body, block, status} or throws ApiError. */
export async function call(method, path, { body, key } = {}) {
  const headers = { Accept: 'application/json' };
  const apiKey = key ?? session.key();
  if (apiKey) headers['X-API-Key'] = apiKey;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (exc) {
    throw new ApiError(0, { error: 'Unreachable', message: `the service cannot be reached (${exc.message})` });
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { message: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  const block = response.headers.get('X-Ledger-Block');
  return { body: parsed, status: response.status, block: block === null ? null : Number(block) };
}

export const get = async (path) => (await call('GET', path)).body;

/** Every item of a paginated list (``next_cursor``), up to ``max`` items. */
export async function getAll(path, max = 5000) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=500${cursor === null ? '' : `&cursor=${cursor}`}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null && items.length < max);
  return items;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A write (POST unless ``method`` says PATCH, PUT or DELETE), then, when the answer is "indexing" (mined, the index not there yet),
 * wait until reads reflect the transaction's block. ``onProgress`` hears each stage.
 * A participant keeping its own key gets its unsigned transaction back: the console
 * cannot sign for it, so that is an error here.
 */
export async function write(path, body, onProgress = () => {}, method = 'POST') {
  onProgress('Sending the transaction and waiting for its block…');
  const answer = await call(method, path, { body });
  const outcome = answer.body;
  if (outcome?.status === 'awaiting_signature') {
    throw new ApiError(202, {
      error: 'AwaitingSignature',
      message: `This participant signs its own transactions, which the console cannot do: sign the prepared transaction ${outcome.transaction?.id ?? ''} (GET /v1/transactions/${outcome.transaction?.id ?? '{id}'}) and send it to POST /v1/transactions/${outcome.transaction?.id ?? '{id}'}/submit.`,
    });
  }
  if (outcome?.status === 'indexing') {
    const target = outcome.transaction.block_number;
    for (let tries = 0; tries < 240; tries += 1) {
      onProgress(`Mined in block ${target}; waiting for the index to reach it…`);
      const seen = await call('GET', '/v1/participants/me');
      if (seen.block !== null && seen.block >= target) break;
      await sleep(500);
    }
  }
  return outcome;
}

/**
 * Follow the caller's notifications (GET /v1/events/stream, Server-Sent Events) and call
 * ``onEvent({id, kind, data})`` for each; returns a function that stops. EventSource cannot
 * send the X-API-Key header, so the stream is read with fetch(); after a drop it reconnects
 * with Last-Event-ID, missing nothing.
 */
export function followEvents(onEvent, { onState = () => {} } = {}) {
  let stopped = false;
  let lastId = null;
  let controller = null;
  const run = async () => {
    while (!stopped) {
      controller = new AbortController();
      const headers = { Accept: 'text/event-stream', 'X-API-Key': session.key() ?? '' };
      if (lastId !== null) headers['Last-Event-ID'] = lastId;
      try {
        const response = await fetch('/v1/events/stream', { headers, signal: controller.signal });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        onState('live');
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = {};
            for (const line of block.split('\n')) {
              const colon = line.indexOf(':');
              if (colon <= 0) continue;  // a comment (heartbeat) or nothing
              event[line.slice(0, colon)] = line.slice(colon + 1).trim();
            }
            if (event.id !== undefined) {
              lastId = event.id;
              onEvent({ id: Number(event.id), kind: event.event, data: JSON.parse(event.data) });
            }
          }
        }
      } catch (exc) {
        if (stopped) return;
      }
      onState('reconnecting');
      await sleep(2000);
    }
  };
  run();
  return () => { stopped = true; controller?.abort(); };
}
