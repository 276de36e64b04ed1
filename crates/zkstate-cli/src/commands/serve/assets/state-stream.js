// zkstate serve, state page: follows the state through its Server-Sent Events stream (no
// polling): a snapshot on every (re)connection, then changes, instances and faults, each applied
// to S and rendered (a new version also reloads the history). A lost stream reconnects and
// resyncs from the next snapshot.

import { $, fmtClock, getJSON, apiState, diff } from './app.js';
import { showBanner, showStreamError, clearStreamError } from './state-banners.js';
import { addBatch } from './state-changes.js';
import { updateEditStale } from './state-edit.js';
import { reloadHistory } from './state-history.js';
import { renderMeta, renderListeners, renderFault } from './state-meta.js';
import { S, dir } from './state-model.js';
import { markChanged, clearChanged, renderValue } from './state-tree.js';

let es = null;
let dropped = false; // the stream went down after it had been open
let lagged = null; // events missed, announced by a "lagged" event
let retryTimer = null;
let retryDelay = 1000;

/** The status in the header: live, reconnecting…, no state. */
export function setStatus(kind, text) {
  const s = $('status');
  s.className = `status ${kind}`;
  s.textContent = text;
}

function parseData(ev) {
  try {
    return JSON.parse(ev.data);
  } catch (e) {
    showStreamError(`bad "${ev.type}" event from the server: ${e.message}`);
    return undefined;
  }
}

function applySnapshot(d) {
  if (!d || typeof d !== 'object' || !('version' in d)) {
    showStreamError('bad snapshot from the server (no version)');
    return;
  }
  const prev = S.loaded ? { value: S.value, version: S.version, mzxid: S.mzxid } : null;
  const resync = S.loaded && (dropped || lagged !== null);
  S.value = d.value;
  S.version = d.version;
  S.mzxid = d.mzxid ?? null;
  S.czxid = d.czxid ?? null;
  S.size = d.size ?? null;
  S.sizeVersion = d.version;
  S.mtime = d.mtime_ms ?? null;
  S.mtimeApprox = false;
  S.listeners = Array.isArray(d.listeners) ? d.listeners : [];
  S.rollout = d.rollout && typeof d.rollout === 'object' ? d.rollout : null;
  S.loaded = true;
  if (typeof d.fault === 'string' && d.fault) {
    S.fault = d.fault;
    S.faultVersion = d.version;
  } else if (S.fault && S.faultVersion !== d.version) {
    S.fault = null;
  }
  clearChanged();
  if (prev && (prev.version !== d.version || prev.mzxid !== S.mzxid)) {
    const changes = diff(prev.value, d.value);
    markChanged(changes);
    addBatch({ version: d.version, mzxid: S.mzxid, origin: 'resync', changes, note: `differences from version ${prev.version}` });
  }
  renderAll();
  reloadHistory();
  if (resync) {
    const when = fmtClock(Date.now());
    showBanner('resynced', dropped
      ? `reconnected and resynced at version ${d.version} at ${when}`
      : `missed ${lagged} event${lagged === 1 ? '' : 's'}; resynced at version ${d.version} at ${when}`);
  }
  dropped = false;
  lagged = null;
  clearStreamError();
}

function applyChange(d) {
  if (!S.loaded || !d || typeof d !== 'object') return;
  if (d.mzxid != null && S.mzxid != null ? d.mzxid <= S.mzxid : d.version <= S.version) return; // already shown
  if (!('value' in d)) {
    showStreamError(`change to version ${d.version} came without its value; waiting for the next snapshot`);
    return;
  }
  S.value = d.value;
  S.version = d.version;
  S.mzxid = d.mzxid ?? null;
  if (d.size != null) {
    S.size = d.size;
    S.sizeVersion = d.version;
  }
  if (d.mtime_ms != null) {
    S.mtime = d.mtime_ms;
    S.mtimeApprox = false;
  } else {
    S.mtime = Date.now();
    S.mtimeApprox = true;
  }
  S.rollout = null;
  S.fault = null;
  const changes = Array.isArray(d.changes) ? d.changes : [];
  markChanged(changes);
  addBatch({ version: d.version, mzxid: d.mzxid, origin: d.origin, changes });
  renderAll();
  // Each new version has its history entry (committed with it): read it.
  reloadHistory();
}

function renderAll() {
  renderMeta();
  renderValue();
  renderListeners();
  renderFault();
  updateEditStale();
}

async function explainClosed() {
  // The browser gave up (HTTP error or not an event stream): ask the plain endpoint why.
  try {
    await getJSON(apiState(dir));
    showStreamError('the event stream was refused; retrying');
  } catch (e) {
    showStreamError(e.status === 404 ? `no state at ${dir} (${e.message}); retrying` : `cannot follow the state: ${e.message}`);
  }
}

/** Opens the event stream (again, after a failure, with backoff up to 30 s). */
export function connect() {
  clearTimeout(retryTimer);
  if (es) es.close();
  es = new EventSource(`${apiState(dir)}/events`);
  es.onopen = () => {
    setStatus('live', 'live');
    retryDelay = 1000;
  };
  es.onerror = () => {
    if (S.loaded) {
      dropped = true;
      showBanner('resynced', '');
    }
    setStatus('down', 'reconnecting…');
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      explainClosed();
      retryTimer = setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    }
  };
  es.addEventListener('snapshot', (ev) => {
    const d = parseData(ev);
    if (d !== undefined) applySnapshot(d);
  });
  es.addEventListener('change', (ev) => {
    const d = parseData(ev);
    if (d !== undefined) applyChange(d);
  });
  es.addEventListener('listeners', (ev) => {
    const d = parseData(ev);
    if (!Array.isArray(d)) return;
    S.listeners = d;
    S.rollout = null;
    renderListeners();
    renderMeta();
  });
  es.addEventListener('fault', (ev) => {
    const d = parseData(ev);
    if (d === undefined) return;
    S.fault = (d && d.message) || 'the stored value does not decode';
    S.faultVersion = S.version;
    renderFault();
  });
  es.addEventListener('lagged', (ev) => {
    const d = parseData(ev);
    lagged = (d && d.missed) ?? 0;
  });
}
