// zkstate serve, state page: the state's metadata, its live instances, and the banner of a
// faulty stored value.

import { el, $, setText, fmtAbs, fmtBytes, fmtZxid, relTime } from './app.js';
import { showBanner } from './state-banners.js';
import { S } from './state-model.js';

function appliedCounts() {
  if (S.rollout && S.rollout.version === S.version) {
    return { applied: S.rollout.applied, total: S.rollout.total, unknown: 0 };
  }
  let applied = 0;
  let unknown = 0;
  for (const l of S.listeners) {
    if (l.applied_version === undefined || l.applied_version === null) unknown++;
    else if (l.applied_version >= S.version) applied++;
  }
  return { applied, total: S.listeners.length, unknown };
}

/** The version, mzxid, size, modification time and how many instances applied the version. */
export function renderMeta() {
  setText('version', S.loaded ? String(S.version) : '…');
  const mz = $('mzxid');
  mz.textContent = fmtZxid(S.mzxid);
  mz.title = S.czxid !== null && S.czxid !== undefined ? `czxid ${fmtZxid(S.czxid)}` : '';
  const size = $('size');
  size.textContent = fmtBytes(S.size) + (S.sizeVersion !== null && S.sizeVersion !== S.version ? ` (as of version ${S.sizeVersion})` : '');
  size.title = S.size !== null && S.size !== undefined ? `${S.size} bytes` : '';
  const mt = $('mtime');
  mt.replaceChildren(S.mtimeApprox ? '≈ ' : '', relTime(S.mtime), el('span', { class: 'abs' }, fmtAbs(S.mtime)));
  mt.title = S.mtimeApprox ? 'time the change reached this page (the server sent no modification time)' : '';
  const r = appliedCounts();
  const ro = $('rollout');
  ro.classList.toggle('incomplete', r.applied < r.total);
  ro.textContent = r.total === 0 ? 'no live instance'
    : r.unknown === r.total ? `unknown (${r.total} instance${r.total === 1 ? '' : 's'})`
      : `${r.applied}/${r.total}` + (r.unknown ? ` (${r.unknown} unknown)` : '');
}

/** The table of live instances and what each applied. */
export function renderListeners() {
  const rows = [];
  const list = S.listeners.slice().sort((a, b) =>
    String(a.hostname).localeCompare(String(b.hostname)) || (a.pid || 0) - (b.pid || 0) || String(a.id).localeCompare(String(b.id)));
  for (const l of list) {
    const known = l.applied_version !== undefined && l.applied_version !== null;
    const behind = known && l.applied_version < S.version;
    const id = String(l.id ?? '');
    const tr = el('tr', { class: `listener${behind ? ' behind' : ''}${known ? '' : ' unknown'}`, 'data-id': id },
      el('td', { class: 'mono', title: id }, id.slice(0, 8)),
      el('td', {}, String(l.hostname ?? '—')),
      el('td', { class: 'num' }, String(l.pid ?? '—')),
      el('td', {}, relTime(l.started_at_ms)),
      el('td', {
        class: 'num applied',
        title: known ? (l.applied_mzxid != null ? `mzxid ${fmtZxid(l.applied_mzxid)}` : '') + (behind ? ` · behind version ${S.version}` : '')
          : 'this instance does not report what it applied',
      }, known ? String(l.applied_version) + (behind ? ' (behind)' : '') : '—'),
      el('td', {}, relTime(l.reported_at_ms)));
    rows.push(tr);
  }
  if (rows.length === 0) {
    rows.push(el('tr', { class: 'placeholder' }, el('td', { colspan: '6' }, S.loaded ? 'no live instance' : 'loading…')));
  }
  $('listeners-body').replaceChildren(...rows);
  setText('listener-count', S.loaded ? `(${S.listeners.length})` : '');
}

/** The banner of a stored value that does not decode (the last good one is shown). */
export function renderFault() {
  showBanner('fault', S.fault
    ? `The stored value is faulty: ${S.fault} — showing the last good value (version ${S.faultVersion}).`
    : '');
}
