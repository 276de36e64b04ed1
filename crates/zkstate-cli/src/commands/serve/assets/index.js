// zkstate serve: script of the index page (table of every state, refreshed every 5 s). An ES
// module, static asset embedded in the zkstate binary (include_str!).

import { el, $, setText, fmtAbs, fmtBytes, fmtClock, relTime, getJSON, statePage } from './app.js';

const REFRESH_MS = 5000;
let states = null; // last answer's states
let timer = null;
let inFlight = false;

function showError(msg) {
  const e = $('error');
  e.textContent = msg;
  e.hidden = !msg;
}

function render() {
  const tbody = $('states-body');
  const filter = $('filter').value.trim().toLowerCase();
  const rows = [];
  const list = (states || []).slice().sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
  for (const s of list) {
    if (filter && !String(s.dir).toLowerCase().includes(filter)) continue;
    if (s.unreadable) {
      // A node this server may not list (its ZooKeeper ACL): its path and why, nothing else.
      rows.push(el('tr', { class: 'state unreadable', 'data-dir': s.dir, title: s.error ?? 'unreadable' },
        el('td', { class: 'dir' }, String(s.dir), ' ', el('span', { class: 'badge' }, 'unreadable')),
        el('td', { class: 'reason', colspan: '5' }, String(s.error ?? 'permission denied'))));
      continue;
    }
    const known = s.applied !== null && s.applied !== undefined;
    const incomplete = known && s.applied < s.listeners;
    const tr = el('tr', { class: `state${incomplete ? ' rolling' : ''}`, 'data-dir': s.dir },
      el('td', { class: 'dir' }, el('a', { href: statePage(s.dir) }, String(s.dir))),
      el('td', { class: 'num' }, String(s.version ?? '—')),
      el('td', { class: 'num', title: s.size != null ? `${s.size} bytes` : null }, fmtBytes(s.size)),
      el('td', { class: 'when' }, relTime(s.mtime_ms), el('span', { class: 'abs' }, fmtAbs(s.mtime_ms))),
      el('td', { class: 'num' }, String(s.listeners ?? '—')),
      el('td', {
        class: 'num applied',
        title: known ? `${s.applied} of ${s.listeners} live instances applied version ${s.version}` : 'unknown',
      }, known ? `${s.applied}/${s.listeners}` : '—'));
    rows.push(tr);
  }
  if (rows.length === 0) {
    const msg = states === null ? 'not loaded' : states.length === 0 ? 'no states under this root' : 'no state matches the filter';
    rows.push(el('tr', { class: 'placeholder' }, el('td', { colspan: '6' }, msg)));
  }
  tbody.replaceChildren(...rows);
}

async function refresh() {
  if (inFlight) return;
  inFlight = true;
  clearTimeout(timer);
  $('refresh').disabled = true;
  try {
    const data = await getJSON('/api/states');
    if (!data || !Array.isArray(data.states)) throw new Error('/api/states: unexpected answer (no "states" array)');
    states = data.states;
    if (data.root !== undefined) setText('root', data.root);
    showError('');
    setText('updated', `updated at ${fmtClock(Date.now())}`);
    render();
  } catch (e) {
    showError(`Could not load the states: ${e.message}` + (states ? ' (showing the last answer)' : ''));
    if (states === null) render();
  } finally {
    inFlight = false;
    $('refresh').disabled = false;
    timer = setTimeout(refresh, REFRESH_MS);
  }
}

async function loadConfig() {
  try {
    const cfg = await getJSON('/api/config');
    setText('server-version', `zkstate ${cfg.version ?? ''}${cfg.allow_write ? ' · writes enabled' : ' · read-only'}`);
    if (cfg.root !== undefined) setText('root', cfg.root);
  } catch (e) {
    setText('server-version', `config unavailable: ${e.message}`);
  }
}

$('refresh').addEventListener('click', refresh);
$('filter').addEventListener('input', render);
loadConfig();
refresh();
