// zkstate serve: script of the state page (/state?dir=...): follows the state through its
// Server-Sent Events stream (no polling), renders the value as a lazy collapsible JSON tree,
// the live instances and the changes, and edits the value (PUT with If-Match).
// Static asset embedded in the zkstate binary (include_str!); vanilla ES2020, needs app.js.
'use strict';

(() => {
  const { el, $, setText, fmtAbs, fmtClock, fmtBytes, fmtZxid, relTime, request, getJSON, apiState } = zk;

  const MAX_BATCHES = 200;
  const DEFAULT_DEPTH = 3; // containers at depth >= this start collapsed (root is depth 0)
  const CHUNK = 200; // children rendered per "show more"
  const LONG_STRING = 2000; // strings longer than this are cut until clicked
  const TOKEN_KEY = 'zkstate-token';

  const dir = new URLSearchParams(location.search).get('dir');

  // What the page shows. value/version/mzxid always come from the same snapshot or change.
  const S = {
    loaded: false,
    value: undefined,
    version: null,
    mzxid: null,
    czxid: null,
    size: null,
    sizeVersion: null, // version the size was reported for
    mtime: null,
    mtimeApprox: false, // true: time the change was received (the event had no mtime_ms)
    listeners: [],
    rollout: null, // the server's {version, applied, total}, until listeners/changes arrive
    fault: null,
    faultVersion: null,
  };

  // ---------------------------------------------------------------- banners

  function showBanner(id, text) {
    const e = $(id);
    e.textContent = text || '';
    e.hidden = !text;
  }
  const showError = (msg) => showBanner('error', msg);
  // Errors about the stream are cleared by the next snapshot; other errors stay.
  let streamError = false;
  const showStreamError = (msg) => {
    streamError = true;
    showError(msg);
  };

  // ---------------------------------------------------------------- JSON tree

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
    switch (zk.kind(v)) {
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
    const line = el('div', { class: 'line', title: zk.fmtPath(path) });
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

  $('value').addEventListener('click', (ev) => {
    const t = ev.target.closest('button.toggle');
    if (!t) return;
    const node = t.closest('.node');
    const k = pkey(node._path);
    tree.overrides.set(k, t.getAttribute('aria-expanded') !== 'true');
    tree.changed.clear();
    node.replaceWith(renderNode(node._v, node._key, node._path, node._depth));
  });

  let rawShown = false;

  function renderValue() {
    if (!S.loaded) return;
    $('value').replaceChildren(renderNode(S.value, undefined, [], 0));
    if (rawShown) $('raw').textContent = JSON.stringify(S.value, null, 2);
  }

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

  /** Marks the changed paths and their ancestors for the next render. */
  function markChanged(changes) {
    tree.changed.clear();
    for (const c of changes.slice(0, 500)) {
      const p = Array.isArray(c.path) ? c.path : [];
      for (let i = 0; i <= p.length; i++) tree.changed.add(pkey(p.slice(0, i)));
    }
  }

  // ---------------------------------------------------------------- meta, instances

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

  function renderMeta() {
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

  function renderListeners() {
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

  // ---------------------------------------------------------------- changes

  function addBatch({ version, mzxid, origin, changes, note }) {
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
      zk.changeList(changes));
    list.prepend(li);
    while (list.children.length > MAX_BATCHES) list.lastElementChild.remove();
  }

  // ---------------------------------------------------------------- fault

  function renderFault() {
    showBanner('fault', S.fault
      ? `The stored value is faulty: ${S.fault} — showing the last good value (version ${S.faultVersion}).`
      : '');
  }

  // ---------------------------------------------------------------- event stream

  let es = null;
  let dropped = false; // the stream went down after it had been open
  let lagged = null; // events missed, announced by a "lagged" event
  let retryTimer = null;
  let retryDelay = 1000;

  function setStatus(kind, text) {
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
    tree.changed.clear();
    if (prev && (prev.version !== d.version || prev.mzxid !== S.mzxid)) {
      const changes = zk.diff(prev.value, d.value);
      markChanged(changes);
      addBatch({ version: d.version, mzxid: S.mzxid, origin: 'resync', changes, note: `differences from version ${prev.version}` });
    }
    renderAll();
    if (resync) {
      const when = fmtClock(Date.now());
      showBanner('resynced', dropped
        ? `reconnected and resynced at version ${d.version} at ${when}`
        : `missed ${lagged} event${lagged === 1 ? '' : 's'}; resynced at version ${d.version} at ${when}`);
    }
    dropped = false;
    lagged = null;
    if (streamError) showError('');
    streamError = false;
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

  function connect() {
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

  // ---------------------------------------------------------------- editing

  const E = { active: false, base: null, initialText: '', busy: false, conflict: null };
  const editor = $('editor');

  function showEditError(msg) {
    showBanner('edit-error', msg);
  }

  function updateEditStale() {
    if (!E.active) return;
    showBanner('edit-stale', S.version !== E.base
      ? `Version ${S.version} was written since you started editing version ${E.base}; saving will report a conflict.`
      : '');
  }

  /** True if the value holds integers JavaScript cannot represent exactly (they were rounded). */
  function hasUnsafeInts(v) {
    if (typeof v === 'number') return Number.isInteger(v) && !Number.isSafeInteger(v);
    if (v && typeof v === 'object') {
      for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k) && hasUnsafeInts(v[k])) return true;
    }
    return false;
  }

  function startEdit(value, base) {
    E.active = true;
    E.base = base;
    E.conflict = null;
    E.initialText = JSON.stringify(value, null, 2);
    editor.value = E.initialText;
    $('edit-panel').hidden = false;
    $('view').hidden = true;
    $('view-tools').hidden = true;
    $('edit').hidden = true;
    $('conflict').hidden = true;
    showEditError('');
    showBanner('save-result', '');
    showBanner('edit-warning', hasUnsafeInts(value)
      ? 'This value holds integers beyond 2^53 that the browser cannot represent exactly; saving from here would round them.'
      : '');
    setText('edit-base', `editing version ${base}`);
    updateEditStale();
    editor.focus();
    editor.setSelectionRange(0, 0);
    editor.scrollTop = 0;
  }

  function stopEdit() {
    E.active = false;
    E.conflict = null;
    $('edit-panel').hidden = true;
    $('view').hidden = false;
    $('view-tools').hidden = false;
    $('edit').hidden = !writable;
    $('conflict').hidden = true;
    showEditError('');
    showBanner('edit-stale', '');
    showBanner('edit-warning', '');
  }

  function selectAt(line, column) {
    const lines = editor.value.split('\n');
    let off = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) off += lines[i].length + 1;
    off += Math.max(0, column - 1);
    off = Math.min(off, editor.value.length);
    editor.focus();
    editor.setSelectionRange(off, Math.min(off + 1, editor.value.length));
  }

  function lineCol(text, off) {
    const before = text.slice(0, off);
    const line = before.split('\n').length;
    return { line, column: off - before.lastIndexOf('\n') };
  }

  /** Offset of the first JSON syntax error in text (a small validator, used only when the
   *  browser's message gives no position), or -1. */
  function locateJSONError(text) {
    let i = 0;
    const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
    const fail = () => { throw i; };
    const lit = (w) => { if (text.startsWith(w, i)) i += w.length; else fail(); };
    const str = () => {
      i++;
      for (;;) {
        if (i >= text.length) fail();
        const c = text[i];
        if (c === '"') { i++; return; }
        if (c < ' ') fail();
        if (c === '\\') {
          i++;
          if (text[i] === 'u') { if (!/^[0-9a-fA-F]{4}$/.test(text.substr(i + 1, 4))) fail(); i += 5; }
          else if ('"\\/bfnrt'.includes(text[i]) && i < text.length) i++;
          else fail();
        } else i++;
      }
    };
    const num = () => {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      if (!m || !m[0] || m[0] === '-') fail();
      i += m[0].length;
    };
    const val = () => {
      ws();
      const c = text[i];
      if (c === '{') {
        i++; ws();
        if (text[i] === '}') { i++; return; }
        for (;;) {
          ws(); if (text[i] !== '"') fail(); str(); ws();
          if (text[i] !== ':') fail(); i++; val(); ws();
          if (text[i] === ',') { i++; continue; }
          if (text[i] === '}') { i++; return; }
          fail();
        }
      } else if (c === '[') {
        i++; ws();
        if (text[i] === ']') { i++; return; }
        for (;;) {
          val(); ws();
          if (text[i] === ',') { i++; continue; }
          if (text[i] === ']') { i++; return; }
          fail();
        }
      } else if (c === '"') str();
      else if (c === 't') lit('true');
      else if (c === 'f') lit('false');
      else if (c === 'n') lit('null');
      else if (c === '-' || (c >= '0' && c <= '9')) num();
      else fail();
    };
    try {
      val(); ws();
      return i < text.length ? i : -1;
    } catch (off) {
      return typeof off === 'number' ? off : -1;
    }
  }

  /** {line, column} of a JSON.parse error, from the browser's message or our own scan. */
  function parseErrorPos(e, text) {
    const msg = String(e && e.message);
    let m = /line (\d+) column (\d+)/i.exec(msg);
    if (m) return { line: Number(m[1]), column: Number(m[2]) };
    m = /position (\d+)/i.exec(msg);
    if (m) return lineCol(text, Number(m[1]));
    const off = locateJSONError(text);
    return off >= 0 ? lineCol(text, off) : null;
  }

  function askToken(message) {
    const dlg = $('token-dialog');
    const input = $('token');
    setText('token-message', message || 'Writing needs the token given to zkstate serve.');
    input.value = '';
    dlg.returnValue = '';
    return new Promise((resolve) => {
      dlg.addEventListener('close', () => {
        const t = input.value.trim();
        input.value = '';
        if (dlg.returnValue === 'ok' && t) {
          try {
            sessionStorage.setItem(TOKEN_KEY, t);
          } catch (e) { /* storage disabled: ask again next time */ }
          resolve(t);
        } else resolve(null);
      }, { once: true });
      dlg.showModal();
      input.focus();
    });
  }

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch (e) {
      return null;
    }
  }

  function forgetToken() {
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* ignore */ }
  }

  async function save() {
    if (!E.active || E.busy) return;
    showEditError('');
    $('conflict').hidden = true;
    const text = editor.value;
    let mine;
    try {
      mine = JSON.parse(text);
    } catch (e) {
      const pos = parseErrorPos(e, text);
      showEditError(`Not saved: invalid JSON${pos ? ` at line ${pos.line}, column ${pos.column}` : ''}: ${e.message}`);
      if (pos) selectAt(pos.line, pos.column);
      return;
    }
    E.busy = true;
    $('save').disabled = true;
    $('edit-busy').hidden = false;
    try {
      let token = storedToken() || await askToken();
      for (;;) {
        if (!token) {
          showEditError('Not saved: no token given.');
          return;
        }
        let r;
        try {
          r = await request(apiState(dir), {
            method: 'PUT',
            headers: { 'If-Match': String(E.base), Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
            body: text,
          });
        } catch (e) {
          showEditError(`Not saved: ${e.message}`);
          return;
        }
        const b = r.body && typeof r.body === 'object' ? r.body : {};
        const msg = b.error || r.text.trim().slice(0, 500) || `HTTP ${r.status}`;
        if (r.ok) {
          stopEdit();
          showBanner('save-result', b.version != null ? `saved as version ${b.version}` : 'saved');
          return;
        }
        if (r.status === 403 || r.status === 401) {
          forgetToken();
          token = await askToken(`The server refused the token: ${msg}`);
          continue;
        }
        if (r.status === 409) {
          showConflict(b, mine, msg);
        } else if (r.status === 400) {
          const hasPos = b.line != null && b.column != null;
          showEditError(`Not saved: ${msg}`);
          if (hasPos) selectAt(Number(b.line), Number(b.column));
        } else if (r.status === 404) {
          showEditError(`Not saved: the state does not exist (any more): ${msg}`);
        } else {
          showEditError(`Not saved: HTTP ${r.status}: ${msg}`);
        }
        return;
      }
    } finally {
      E.busy = false;
      $('save').disabled = false;
      $('edit-busy').hidden = true;
    }
  }

  function showConflict(b, mine, msg) {
    E.conflict = { version: b.version ?? null, value: b.value, hasValue: 'value' in b };
    setText('conflict-message', msg);
    setText('conflict-version', E.conflict.version ?? '?');
    const d = $('conflict-diff');
    if (E.conflict.hasValue) {
      d.replaceChildren(zk.changeList(zk.diff(b.value, mine), 300));
      $('conflict-value').textContent = JSON.stringify(b.value, null, 2);
    } else {
      d.replaceChildren(el('p', { class: 'muted' }, 'the server did not send the current value'));
      $('conflict-value').textContent = '';
    }
    $('conflict-retry').disabled = E.conflict.version === null;
    $('conflict').hidden = false;
    $('conflict').scrollIntoView({ block: 'nearest' });
  }

  $('conflict-reload').addEventListener('click', () => {
    const c = E.conflict;
    if (c && c.hasValue && c.version !== null) startEdit(c.value, c.version);
    else if (S.loaded) startEdit(S.value, S.version);
    showBanner('save-result', '');
  });
  $('conflict-retry').addEventListener('click', () => {
    if (!E.conflict || E.conflict.version === null) return;
    E.base = E.conflict.version;
    setText('edit-base', `editing over version ${E.base}`);
    updateEditStale();
    save();
  });
  $('edit').addEventListener('click', () => {
    if (S.loaded) startEdit(S.value, S.version);
  });
  $('save').addEventListener('click', save);
  $('cancel').addEventListener('click', stopEdit);
  editor.addEventListener('keydown', (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && (ev.key === 's' || ev.key === 'Enter')) {
      ev.preventDefault();
      save();
    }
  });
  window.addEventListener('beforeunload', (ev) => {
    if (E.active && editor.value !== E.initialText) {
      ev.preventDefault();
      ev.returnValue = '';
    }
  });

  // ---------------------------------------------------------------- start

  let writable = false;

  async function loadConfig() {
    try {
      const cfg = await getJSON('/api/config');
      writable = cfg.allow_write === true;
      setText('server-version', `zkstate ${cfg.version ?? ''}${writable ? '' : ' · read-only'}`);
    } catch (e) {
      writable = false;
      showError(`Could not load /api/config (editing disabled): ${e.message}`);
    }
    $('edit').hidden = !writable || E.active;
  }

  if (!dir) {
    setText('dir', '(no state given)');
    setStatus('down', 'no state');
    showError('No state given: open this page as /state?dir=/path/of/the/state (or pick one on the index).');
    return;
  }
  setText('dir', dir);
  document.title = `${dir} · zkstate`;
  renderListeners();
  loadConfig();
  connect();
})();
