// zkstate serve, state page: the list of changes since the page opened, one entry per batch.

import { el, $, fmtAbs, fmtClock, fmtZxid, changeList } from './app.js';

const MAX_BATCHES = 200;

/** Lists one batch of changes at the top (newest first), keeping the last MAX_BATCHES. */
export function addBatch({ version, mzxid, origin, changes, note }) {
  const list = $('changes');
  const empty = list.querySelector('li.empty');
  if (empty) empty.remove();
  const now = Date.now();
  const o = String(origin ?? 'unknown');
  const n = changes.length;
  const li = el('li', { class: `batch origin-${o.replace(/[^A-Za-z0-9_-]/g, '_')}`, 'data-version': String(version) },
    el('div', { class: 'batch-head' },
      el('span', { class: 'bv' }, `version ${version}`),
      el('span', { class: 'time', title: fmtAbs(now) }, fmtClock(now)),
      el('span', { class: 'origin' }, o),
      el('span', { class: 'muted', title: mzxid != null ? `mzxid ${fmtZxid(mzxid)}` : '' },
        `${n}${changes.truncated ? '+' : ''} change${n === 1 ? '' : 's'}`),
      note ? el('span', { class: 'muted note' }, note) : null),
    changeList(changes));
  list.prepend(li);
  while (list.children.length > MAX_BATCHES) list.lastElementChild.remove();
}
