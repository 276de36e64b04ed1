// zkstate serve: helpers shared by the index page and the state page's modules (DOM building,
// formatting, HTTP, JSON paths, structural diff). An ES module, static asset embedded in the
// zkstate binary (include_str!); no dependencies, nothing fetched but the page's own /api.

/** Builds an element. attrs: class, title, text, hidden, dataset entries (data-*), other attributes.
 *  Children: nodes or strings (strings become text nodes: never parsed as HTML). */
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k === 'hidden') e.hidden = true;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return e;
}

export const $ = (id) => document.getElementById(id);

export function setText(id, text) {
  const e = typeof id === 'string' ? $(id) : id;
  if (e) e.textContent = text;
}

function pad(n, w = 2) {
  return String(n).padStart(w, '0');
}

/** Local time as YYYY-MM-DD HH:MM:SS. */
export function fmtAbs(ms) {
  if (ms === undefined || ms === null || !isFinite(ms)) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtClock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "12 s ago", "5 min ago", "in 3 s" (clock skew). */
export function fmtRel(ms, now = Date.now()) {
  if (ms === undefined || ms === null || !isFinite(ms)) return '—';
  const diff = now - ms;
  const a = Math.abs(diff) / 1000;
  let s;
  if (a < 1) return 'just now';
  if (a < 60) s = `${Math.floor(a)} s`;
  else if (a < 3600) s = `${Math.floor(a / 60)} min`;
  else if (a < 86400) s = `${Math.floor(a / 3600)} h ${Math.floor((a % 3600) / 60)} min`;
  else s = `${Math.floor(a / 86400)} d ${Math.floor((a % 86400) / 3600)} h`;
  return diff >= 0 ? `${s} ago` : `in ${s}`;
}

/** A span whose relative text is refreshed every second by tickRelTimes(). */
export function relTime(ms) {
  const span = el('span', { class: 'reltime', title: fmtAbs(ms) }, fmtRel(ms));
  if (ms !== undefined && ms !== null) span.dataset.ts = String(ms);
  return span;
}

export function tickRelTimes(root = document) {
  const now = Date.now();
  for (const span of root.querySelectorAll('span.reltime[data-ts]')) {
    const t = fmtRel(Number(span.dataset.ts), now);
    if (span.textContent !== t) span.textContent = t;
  }
}
setInterval(() => tickRelTimes(), 1000);

export function fmtBytes(n) {
  if (n === undefined || n === null || !isFinite(n)) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** A zxid in decimal and in ZooKeeper's usual hex. */
export function fmtZxid(z) {
  if (z === undefined || z === null) return '—';
  const hex = Number.isSafeInteger(z) && z >= 0 ? ` (0x${z.toString(16)})` : '';
  return `${z}${hex}`;
}

/** ["globs", 2, "a b"] -> .globs[2]["a b"]; [] -> (root). */
export function fmtPath(path) {
  if (!path || path.length === 0) return '(root)';
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(p)) s += `.${p}`;
    else s += `[${JSON.stringify(String(p))}]`;
  }
  return s;
}

/** Compact JSON, cut to max characters. */
export function shortJSON(v, max = 160) {
  let s;
  try {
    s = JSON.stringify(v);
  } catch (e) {
    s = String(v);
  }
  if (s === undefined) s = 'undefined';
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}

export function kind(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v; // object, string, number, boolean
}

export function deepEqual(a, b) {
  if (a === b) return true;
  const ka = kind(a);
  if (ka !== kind(b)) return false;
  if (ka === 'array') {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (ka === 'object') {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    for (const k of keys) {
      if (!Object.prototype.hasOwnProperty.call(b, k) || !deepEqual(a[k], b[k])) return false;
    }
    return true;
  }
  return false;
}

/** Structural diff from a to b: objects by key, arrays by index. Returns changes in the
 *  server's format: {kind:'added',path,value} | {kind:'removed',path,value} |
 *  {kind:'modified',path,old,new}. Stops after `limit` entries (result.truncated = true). */
export function diff(a, b, limit = 5000) {
  const out = [];
  out.truncated = false;
  const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  const push = (c) => {
    if (out.length >= limit) {
      out.truncated = true;
      return false;
    }
    out.push(c);
    return true;
  };
  const walk = (x, y, path) => {
    if (out.truncated || x === y) return;
    const kx = kind(x);
    const ky = kind(y);
    if (kx === 'object' && ky === 'object') {
      for (const k of Object.keys(x)) {
        if (has(y, k)) walk(x[k], y[k], path.concat([k]));
        else if (!push({ kind: 'removed', path: path.concat([k]), value: x[k] })) return;
      }
      for (const k of Object.keys(y)) {
        if (!has(x, k) && !push({ kind: 'added', path: path.concat([k]), value: y[k] })) return;
      }
    } else if (kx === 'array' && ky === 'array') {
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) walk(x[i], y[i], path.concat([i]));
      for (let i = n; i < x.length; i++) {
        if (!push({ kind: 'removed', path: path.concat([i]), value: x[i] })) return;
      }
      for (let i = n; i < y.length; i++) {
        if (!push({ kind: 'added', path: path.concat([i]), value: y[i] })) return;
      }
    } else if (!deepEqual(x, y)) {
      push({ kind: 'modified', path, old: x, new: y });
    }
  };
  walk(a, b, []);
  return out;
}

/** One change as an <li class="added|removed|modified">. */
export function changeItem(c) {
  const k = ['added', 'removed', 'modified'].includes(c.kind) ? c.kind : 'other';
  const sign = { added: '+', removed: '−', modified: '~', other: '?' }[k];
  const li = el('li', { class: k },
    el('span', { class: 'sign', 'aria-hidden': 'true' }, sign),
    el('span', { class: 'path' }, fmtPath(c.path)),
    ' ');
  if (k === 'modified') {
    li.append(el('span', { class: 'old', title: shortJSON(c.old, 4000) }, shortJSON(c.old)),
      el('span', { class: 'arrow' }, ' → '),
      el('span', { class: 'new', title: shortJSON(c.new, 4000) }, shortJSON(c.new)));
  } else {
    li.append(el('span', { class: 'val', title: shortJSON(c.value, 4000) }, shortJSON(c.value)));
  }
  return li;
}

/** A <ul class="changelist"> of changes, at most `max` lines (then "… and N more"). */
export function changeList(changes, max = 100) {
  const ul = el('ul', { class: 'changelist' });
  const n = Math.min(changes.length, max);
  for (let i = 0; i < n; i++) ul.append(changeItem(changes[i]));
  const more = changes.length - n;
  if (more > 0 || changes.truncated) {
    ul.append(el('li', { class: 'more-changes' },
      `… and ${more}${changes.truncated ? '+' : ''} more change${more === 1 ? '' : 's'}`));
  }
  if (changes.length === 0) ul.append(el('li', { class: 'none' }, 'no differences'));
  return ul;
}

/** fetch() that never throws for HTTP statuses: resolves {status, ok, body, text};
 *  throws Error('network error: …') when the server cannot be reached. */
export async function request(url, opts) {
  let resp;
  try {
    resp = await fetch(url, Object.assign({ cache: 'no-store' }, opts));
  } catch (e) {
    throw new Error(`network error: ${e && e.message ? e.message : e}`);
  }
  let text = '';
  try {
    text = await resp.text();
  } catch (e) {
    throw new Error(`network error reading the response: ${e.message}`);
  }
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch (e) {
      body = null;
    }
  }
  return { status: resp.status, ok: resp.ok, body, text };
}

/** What a reply of request() says went wrong: the server's {"error"}, else its text. */
export function replyError(r) {
  const b = r.body && typeof r.body === 'object' ? r.body : {};
  return b.error || r.text.trim().slice(0, 500) || `HTTP ${r.status}`;
}

/** GET a JSON document; throws Error with a readable message on any failure. */
export async function getJSON(url) {
  const r = await request(url);
  if (!r.ok) {
    const msg = (r.body && r.body.error) || r.text.trim().slice(0, 300) || 'no body';
    const err = new Error(`${url}: HTTP ${r.status}: ${msg}`);
    err.status = r.status;
    throw err;
  }
  if (r.body === null) throw new Error(`${url}: the server did not answer JSON`);
  return r.body;
}

export function apiState(dir) {
  return `/api/states/${encodeURIComponent(dir)}`;
}

export function statePage(dir) {
  return `/state?dir=${encodeURIComponent(dir)}`;
}
