// zkstate serve, state page: the value as a lazy collapsible JSON tree (containers deeper than
// DEFAULT_DEPTH start collapsed, CHUNK children at a time, long strings cut), or as raw JSON.

import { el, $, kind, fmtPath } from './app.js';
import { S } from './state-model.js';

const DEFAULT_DEPTH = 3; // containers at depth >= this start collapsed (root is depth 0)
const CHUNK = 200; // children rendered per "show more"
const LONG_STRING = 2000; // strings longer than this are cut until clicked

const tree = {
  depth: DEFAULT_DEPTH,
  overrides: new Map(), // path key -> expanded (user's clicks)
  shown: new Map(), // path key -> number of children shown
  changed: new Set(), // path keys touched by the last change (and their ancestors)
};
const pkey = (path) => JSON.stringify(path);

function isContainer(v) {
  return v !== null && typeof v === 'object';
}

function scalar(v) {
  switch (kind(v)) {
    case 'string': {
      const s = JSON.stringify(v);
      if (s.length <= LONG_STRING) return el('span', { class: 'j-str' }, s);
      const span = el('span', { class: 'j-str cut', title: 'click to show all' },
        s.slice(0, LONG_STRING), el('span', { class: 'muted' }, `… (${s.length} chars)`));
      span.addEventListener('click', () => span.replaceWith(el('span', { class: 'j-str' }, s)), { once: true });
      return span;
    }
    case 'number': return el('span', { class: 'j-num' }, String(v));
    case 'boolean': return el('span', { class: 'j-bool' }, String(v));
    case 'null': return el('span', { class: 'j-null' }, 'null');
    default: return el('span', { class: 'j-other' }, String(v));
  }
}

function keyLabel(key) {
  if (key === undefined) return null;
  return typeof key === 'number'
    ? el('span', { class: 'j-idx' }, `${key}: `)
    : el('span', { class: 'j-key' }, JSON.stringify(key), el('span', { class: 'j-colon' }, ': '));
}

function expanded(path, depth) {
  const k = pkey(path);
  return tree.overrides.has(k) ? tree.overrides.get(k) : depth < tree.depth;
}

function renderNode(value, key, path, depth) {
  const k = pkey(path);
  const node = el('div', { class: 'node' });
  node._v = value;
  node._key = key;
  node._path = path;
  node._depth = depth;
  const line = el('div', { class: 'line', title: fmtPath(path) });
  if (tree.changed.has(k)) line.classList.add('changed');
  node.append(line);

  if (!isContainer(value)) {
    line.append(el('span', { class: 'toggle-space' }), keyLabel(key) || '', scalar(value));
    return node;
  }
  const arr = Array.isArray(value);
  const n = arr ? value.length : Object.keys(value).length;
  const [open, close] = arr ? ['[', ']'] : ['{', '}'];
  if (n === 0) {
    line.append(el('span', { class: 'toggle-space' }), keyLabel(key) || '', el('span', { class: 'j-punct' }, open + close));
    return node;
  }
  const isOpen = expanded(path, depth);
  const count = arr ? `${n} item${n === 1 ? '' : 's'}` : `${n} key${n === 1 ? '' : 's'}`;
  line.append(
    el('button', { class: 'toggle', type: 'button', 'aria-expanded': String(isOpen), title: isOpen ? 'collapse' : 'expand' }, isOpen ? '▾' : '▸'),
    keyLabel(key) || '',
    el('span', { class: 'j-punct' }, isOpen ? open : `${open}…${close}`),
    el('span', { class: 'j-count' }, ` ${count}`));
  if (isOpen) {
    const children = el('div', { class: 'children' });
    node.append(children);
    renderChildren(children, value, path, depth, 0, Math.max(CHUNK, tree.shown.get(k) || 0));
    node.append(el('div', { class: 'line close' }, el('span', { class: 'toggle-space' }), el('span', { class: 'j-punct' }, close)));
  }
  return node;
}

function renderChildren(children, value, path, depth, start, count) {
  const arr = Array.isArray(value);
  const keys = arr ? null : Object.keys(value);
  const n = arr ? value.length : keys.length;
  const end = Math.min(n, start + count);
  const frag = document.createDocumentFragment();
  for (let i = start; i < end; i++) {
    const key = arr ? i : keys[i];
    frag.append(renderNode(value[key], key, path.concat([key]), depth + 1));
  }
  if (end < n) {
    const more = el('button', { class: 'more', type: 'button' },
      `show ${Math.min(CHUNK, n - end)} more (${end} of ${n} shown)`);
    more.addEventListener('click', () => {
      tree.shown.set(pkey(path), end + CHUNK);
      more.remove();
      renderChildren(children, value, path, depth, end, CHUNK);
    });
    frag.append(more);
  }
  children.append(frag);
}

let rawShown = false;

/** Renders S.value (nothing before the first snapshot). */
export function renderValue() {
  if (!S.loaded) return;
  $('value').replaceChildren(renderNode(S.value, undefined, [], 0));
  if (rawShown) $('raw').textContent = JSON.stringify(S.value, null, 2);
}

/** Marks the changed paths and their ancestors for the next render. */
export function markChanged(changes) {
  tree.changed.clear();
  for (const c of changes.slice(0, 500)) {
    const p = Array.isArray(c.path) ? c.path : [];
    for (let i = 0; i <= p.length; i++) tree.changed.add(pkey(p.slice(0, i)));
  }
}

/** Forgets the marks of the last change (a snapshot with nothing new). */
export function clearChanged() {
  tree.changed.clear();
}

/** Wires the tree's toggles and the view buttons. */
export function setupTree() {
  $('value').addEventListener('click', (ev) => {
    const t = ev.target.closest('button.toggle');
    if (!t) return;
    const node = t.closest('.node');
    const k = pkey(node._path);
    tree.overrides.set(k, t.getAttribute('aria-expanded') !== 'true');
    tree.changed.clear();
    node.replaceWith(renderNode(node._v, node._key, node._path, node._depth));
  });
  $('raw-toggle').addEventListener('click', () => {
    rawShown = !rawShown;
    $('raw-toggle').setAttribute('aria-pressed', String(rawShown));
    $('raw-toggle').classList.toggle('on', rawShown);
    $('value').hidden = rawShown;
    $('raw').hidden = !rawShown;
    $('collapse-all').disabled = rawShown;
    $('expand-default').disabled = rawShown;
    $('raw').textContent = rawShown && S.loaded ? JSON.stringify(S.value, null, 2) : '';
  });
  $('collapse-all').addEventListener('click', () => {
    tree.depth = 1;
    tree.overrides.clear();
    tree.changed.clear();
    renderValue();
  });
  $('expand-default').addEventListener('click', () => {
    tree.depth = DEFAULT_DEPTH;
    tree.overrides.clear();
    tree.changed.clear();
    renderValue();
  });
}
