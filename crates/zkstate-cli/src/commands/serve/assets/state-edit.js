// zkstate serve, state page: editing the value (with --allow-write): a PUT with If-Match on the
// version being edited and the history message typed beside Save; a conflict shows the current
// value and the difference, a bad JSON the server's message with the place selected.

import { el, $, setText, request, replyError, apiState, diff, changeList } from './app.js';
import { showBanner } from './state-banners.js';
import { S, dir, server } from './state-model.js';
import { sendWithToken } from './state-token.js';

const E = { active: false, base: null, initialText: '', busy: false, conflict: null };
const editor = $('editor');

function showEditError(msg) {
  showBanner('edit-error', msg);
}

/** Warns, while editing, that the version shown is newer than the one being edited. */
export function updateEditStale() {
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
  showEditButton();
  $('conflict').hidden = true;
  showEditError('');
  showBanner('edit-stale', '');
  showBanner('edit-warning', '');
}

/** The Edit button: shown when the server takes writes and no edit is open. */
export function showEditButton() {
  $('edit').hidden = !server.writable || E.active;
}

/** Selects, in the editor, the character at a 1-based line and column as the server counts them
 *  (serde_json: the column in UTF-8 bytes; the editor's offsets are UTF-16 units). */
function selectAt(line, column) {
  const lines = editor.value.split('\n');
  const at = Math.min(Math.max(line, 1), lines.length) - 1;
  let off = 0;
  for (let i = 0; i < at; i++) off += lines[i].length + 1;
  const bytes = new TextEncoder().encode(lines[at]).slice(0, Math.max(0, column - 1));
  off += new TextDecoder().decode(bytes).length;
  off = Math.min(off, editor.value.length);
  editor.focus();
  editor.setSelectionRange(off, Math.min(off + 1, editor.value.length));
}

/** The PUT of the edited text over E.base, with the history message when one is given. */
function put(text, token) {
  const message = $('save-message').value.trim();
  const query = message ? `?message=${encodeURIComponent(message)}` : '';
  return request(`${apiState(dir)}${query}`, {
    method: 'PUT',
    headers: { 'If-Match': String(E.base), Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: text,
  });
}

/** How a refused save is shown: a conflict, the place of a JSON error, or the server's words. */
function showRefusal(r, text) {
  const b = r.body && typeof r.body === 'object' ? r.body : {};
  const msg = replyError(r);
  if (r.status === 409) {
    showConflict(b, text, msg);
  } else if (r.status === 400) {
    showEditError(`Not saved: ${msg}`);
    if (b.line != null && b.column != null) selectAt(Number(b.line), Number(b.column));
  } else if (r.status === 404) {
    showEditError(`Not saved: the state does not exist (any more): ${msg}`);
  } else {
    showEditError(`Not saved: HTTP ${r.status}: ${msg}`);
  }
}

async function save() {
  if (!E.active || E.busy) return;
  showEditError('');
  $('conflict').hidden = true;
  // Sent as it is: the server checks the JSON, and a bad one comes back as a 400 that names
  // the line and column (shown, and selected in the editor).
  const text = editor.value;
  E.busy = true;
  $('save').disabled = true;
  $('edit-busy').hidden = false;
  try {
    const r = await sendWithToken((token) => put(text, token));
    if (r === null) {
      showEditError('Not saved: no token given.');
    } else if (r.ok) {
      const version = r.body && typeof r.body === 'object' ? r.body.version : null;
      stopEdit();
      $('save-message').value = '';
      showBanner('save-result', version != null ? `saved as version ${version}` : 'saved');
    } else {
      showRefusal(r, text);
    }
  } catch (e) {
    showEditError(`Not saved: ${e.message}`);
  } finally {
    E.busy = false;
    $('save').disabled = false;
    $('edit-busy').hidden = true;
  }
}

/** Shows a 409: the server's current value and version, and how the text differs from it. */
function showConflict(b, text, msg) {
  // The server parsed the text before it found the conflict, so it parses here too; if not,
  // the difference is shown against nothing.
  let mine;
  try {
    mine = JSON.parse(text);
  } catch (e) { /* mine stays undefined */ }
  E.conflict = { version: b.version ?? null, value: b.value, hasValue: 'value' in b };
  setText('conflict-message', msg);
  setText('conflict-version', E.conflict.version ?? '?');
  const d = $('conflict-diff');
  if (E.conflict.hasValue) {
    d.replaceChildren(changeList(diff(b.value, mine), 300));
    $('conflict-value').textContent = JSON.stringify(b.value, null, 2);
  } else {
    d.replaceChildren(el('p', { class: 'muted' }, 'the server did not send the current value'));
    $('conflict-value').textContent = '';
  }
  $('conflict-retry').disabled = E.conflict.version === null;
  $('conflict').hidden = false;
  $('conflict').scrollIntoView({ block: 'nearest' });
}

/** Wires the edit, save, cancel and conflict buttons, Ctrl+S, and the warning on leaving with
 *  unsaved text. */
export function setupEditing() {
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
}
