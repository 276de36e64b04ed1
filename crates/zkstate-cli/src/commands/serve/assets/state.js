// zkstate serve: script of the state page (/state?dir=...), the entry of its ES modules (no
// build step; each is an asset embedded in the zkstate binary with include_str!):
//
//   state-model.js    what the page shows (S), the state's dir, what the server allows
//   state-banners.js  the banners above the state
//   state-tree.js     the value as a lazy collapsible JSON tree, or raw
//   state-meta.js     version, size, mtime, applied counts, live instances, a faulty value
//   state-changes.js  the list of changes since the page opened
//   state-stream.js   the Server-Sent Events stream that keeps S current (no polling)
//   state-edit.js     editing: PUT with If-Match, conflicts, the server's JSON errors
//   state-history.js  the kept versions, their differences, rolling back to one
//   state-token.js    the write token, kept in session storage
//
// and app.js, the helpers shared with the index page. Imports go one way, from here down.

import { setText, getJSON } from './app.js';
import { showError } from './state-banners.js';
import { setupEditing, showEditButton } from './state-edit.js';
import { renderHistory, setupHistory } from './state-history.js';
import { renderListeners } from './state-meta.js';
import { dir, server } from './state-model.js';
import { connect, setStatus } from './state-stream.js';
import { setupTree } from './state-tree.js';

/** Whether the server takes writes, and its version, from /api/config. */
async function loadConfig() {
  try {
    const cfg = await getJSON('/api/config');
    server.writable = cfg.allow_write === true;
    setText('server-version', `zkstate ${cfg.version ?? ''}${server.writable ? '' : ' · read-only'}`);
  } catch (e) {
    server.writable = false;
    showError(`Could not load /api/config (editing disabled): ${e.message}`);
  }
  showEditButton();
  renderHistory();
}

function start() {
  setupTree();
  setupEditing();
  setupHistory();
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
}

start();
