// zkstate serve, state page: the history panel, the state's kept versions newest first (who
// wrote each, when, what it changed, its message), read again on each new version. A click on
// a version shows how it differs from the one before it; with --allow-write each version whose
// value is kept has "Roll back to this version", a compare-and-set on the version shown.

import { el, $, setText, fmtAbs, request, replyError, getJSON, apiState, diff, changeList } from './app.js';
import { showBanner } from './state-banners.js';
import { S, dir, server } from './state-model.js';
import { sendWithToken } from './state-token.js';

const LIMIT = 50;
const H = {
  items: [], // the last answer's items, newest first
  loading: false,
  again: false, // a new version came while loading: load once more after
  busy: false, // a rollback is being sent
  open: null, // the version whose differences are shown
};
// The values of kept versions never change: fetched once each (a few, for the diffs).
const values = new Map();

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Reads the history again; calls made while a read is in flight coalesce into one more. */
export async function reloadHistory() {
  if (!dir) return;
  if (H.loading) {
    H.again = true;
    return;
  }
  H.loading = true;
  try {
    const d = await getJSON(`${apiState(dir)}/history?limit=${LIMIT}`);
    H.items = Array.isArray(d.items) ? d.items : [];
    showBanner('history-error', '');
  } catch (e) {
    showBanner('history-error', `Cannot read the history: ${e.message}`);
  } finally {
    H.loading = false;
  }
  renderHistory();
  if (H.again) {
    H.again = false;
    reloadHistory();
  }
}

/** `host pid N program version tool identity`, or `another tool`. */
function author(e) {
  if (e.outside) return el('span', { class: 'muted' }, 'another tool');
  const a = e.author && typeof e.author === 'object' ? e.author : {};
  const parts = [a.host, a.pid != null ? `pid ${a.pid}` : null, a.program, a.program_version]
    .filter((p) => p !== undefined && p !== null && p !== '')
    .map(String);
  const span = el('span', { class: 'author', title: a.id ? `instance ${a.id}` : '' }, parts.join(' ') || 'unknown');
  if (a.tool) span.append(' ', el('span', { class: `badge tool tool-${String(a.tool).replace(/[^a-z]/g, '_')}` }, String(a.tool)));
  if (a.identity) span.append(' ', el('span', { class: 'muted' }, String(a.identity)));
  return span;
}

/** `+1 ~2 -0 /limits/cpu, /globs/2`, or nothing known. */
function summary(e) {
  const c = e.changes;
  if (!c || typeof c !== 'object') return el('span', { class: 'muted' }, '—');
  const paths = Array.isArray(c.paths) ? c.paths.map(String) : [];
  const total = (c.added ?? 0) + (c.modified ?? 0) + (c.removed ?? 0);
  return el('span', { class: 'summary' },
    el('span', { class: 'n-added' }, `+${c.added ?? 0}`), ' ',
    el('span', { class: 'n-modified' }, `~${c.modified ?? 0}`), ' ',
    el('span', { class: 'n-removed' }, `−${c.removed ?? 0}`),
    paths.length ? el('span', { class: 'paths mono' }, ` ${paths.join(', ')}${total > paths.length ? ', …' : ''}`) : null);
}

/** The message, after the badges: outside, rollback of N, value no longer kept. */
function notes(e) {
  const td = el('td', { class: 'notes' });
  if (e.version === S.version) td.append(el('span', { class: 'badge current' }, 'shown'), ' ');
  if (e.outside) td.append(el('span', { class: 'badge outside', title: 'written by another tool, recorded by the next zkstate write' }, 'outside'), ' ');
  if (e.rollback_of != null) td.append(el('span', { class: 'badge rollback-of' }, `rollback of ${e.rollback_of}`), ' ');
  if (!e.reproducible) td.append(el('span', { class: 'badge lost', title: 'its value can no longer be reproduced' }, 'value not kept'), ' ');
  if (e.message) td.append(el('span', { class: 'message' }, String(e.message)));
  return td;
}

function rollbackButton(e) {
  if (!server.writable || !e.reproducible || e.version === S.version) return null;
  const b = el('button', { type: 'button', class: 'rollback', title: `write the value of version ${e.version} again, as a new version` },
    'Roll back to this version');
  b.disabled = H.busy;
  b.addEventListener('click', (ev) => {
    ev.stopPropagation();
    rollback(e.version);
  });
  return b;
}

function entryRow(e) {
  const tr = el('tr', { class: `history-entry${e.version === H.open ? ' open' : ''}`, 'data-version': String(e.version), title: 'show what this version changed' },
    el('td', { class: 'num version' }, String(e.version)),
    el('td', { class: 'time', title: String(e.time ?? '') }, fmtAbs(e.time_ms)),
    el('td', {}, author(e)),
    el('td', {}, summary(e)),
    notes(e),
    el('td', { class: 'actions' }, rollbackButton(e)));
  tr.addEventListener('click', () => toggleDiff(e.version));
  return tr;
}

function gapRow(g) {
  const versions = g.from === g.to ? `version ${g.from}` : `versions ${g.from}–${g.to}`;
  return el('tr', { class: 'history-gap' },
    el('td', { colspan: '6' }, `${versions}: written by another tool and overwritten unseen`));
}

/** The table: one row per version or gap, and the differences of the open version. */
export function renderHistory() {
  const rows = [];
  for (const item of H.items) {
    if (!item || typeof item !== 'object') continue;
    if (item.gap) rows.push(gapRow(item));
    else if (typeof item.version === 'number') {
      rows.push(entryRow(item));
      if (item.version === H.open) rows.push(el('tr', { class: 'history-diff' }, el('td', { id: 'history-diff', colspan: '6' }, 'loading…')));
    }
  }
  if (rows.length === 0) rows.push(el('tr', { class: 'placeholder' }, el('td', { colspan: '6' }, 'no history yet')));
  $('history-body').replaceChildren(...rows);
  const n = H.items.filter((i) => i && !i.gap).length;
  setText('history-count', `(${plural(n, 'version')}${n >= LIMIT ? `, the newest ${LIMIT}` : ''})`);
  $('rollback-message').hidden = !server.writable;
  if (H.open !== null) showDiff(H.open);
}

async function valueOf(version) {
  if (!values.has(version)) {
    if (values.size > 20) values.clear();
    values.set(version, await getJSON(`${apiState(dir)}/versions/${version}`));
  }
  return values.get(version);
}

function toggleDiff(version) {
  H.open = H.open === version ? null : version;
  renderHistory();
}

/** Shows how `version` differs from the version listed before it (older). */
async function showDiff(version) {
  const at = H.items.findIndex((i) => i && !i.gap && i.version === version);
  const entry = H.items[at];
  const older = H.items[at + 1];
  const cell = () => $('history-diff');
  if (!entry || !entry.reproducible) {
    setText(cell(), 'The value of this version is no longer kept: only its summary is known.');
    return;
  }
  if (!older || older.gap || !older.reproducible) {
    setText(cell(), 'The version before this one is not listed or not kept: only the summary is known.');
    return;
  }
  try {
    const [before, after] = await Promise.all([valueOf(older.version), valueOf(version)]);
    if (H.open !== version || !cell()) return; // closed or replaced meanwhile
    cell().replaceChildren(el('div', { class: 'muted small' }, `from version ${older.version} to version ${version}`),
      changeList(diff(before, after), 300));
  } catch (e) {
    if (cell()) setText(cell(), `Cannot show the differences: ${e.message}`);
  }
}

/** What a refused rollback says. */
function refusal(r, version) {
  const msg = replyError(r);
  if (r.status === 409) return `Not rolled back: the state changed since the page showed version ${S.version}: ${msg}`;
  if (r.status === 404) return `Not rolled back: version ${version} is not kept: ${msg}`;
  return `Not rolled back: HTTP ${r.status}: ${msg}`;
}

/** Writes the value of `version` again, only if ZooKeeper still holds the version shown. */
async function rollback(version) {
  if (H.busy || !S.loaded) return;
  showBanner('history-error', '');
  showBanner('save-result', '');
  H.busy = true;
  renderHistory();
  const message = $('rollback-message').value.trim();
  const body = JSON.stringify({ to: version, if_version: S.version, message: message || undefined });
  try {
    const r = await sendWithToken((token) => request(`${apiState(dir)}/rollback`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body,
    }));
    if (r === null) {
      showBanner('history-error', 'Not rolled back: no token given.');
    } else if (r.ok) {
      $('rollback-message').value = '';
      const made = r.body && typeof r.body === 'object' ? r.body.version : null;
      showBanner('save-result', `rolled back to version ${version}${made != null ? ` as version ${made}` : ''}`);
    } else {
      showBanner('history-error', refusal(r, version));
    }
  } catch (e) {
    showBanner('history-error', `Not rolled back: ${e.message}`);
  } finally {
    H.busy = false;
    renderHistory();
    reloadHistory();
  }
}

/** Wires the reload button. */
export function setupHistory() {
  $('history-reload').addEventListener('click', () => reloadHistory());
}
