// zkstate serve, state page: the write token, asked for once and kept in this tab's session
// storage (never in local storage, never in the URL).

import { $, setText, replyError } from './app.js';

const TOKEN_KEY = 'zkstate-token';

/** Asks for the token in a dialog; resolves to it (kept for this tab), or null when cancelled. */
export function askToken(message) {
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

/** The token given earlier in this tab, if any. */
export function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch (e) {
    return null;
  }
}

/** Forgets the token (the server refused it). */
export function forgetToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch (e) { /* ignore */ }
}

/** Sends a write with the token: asked for when none is kept, and again while the server
 *  refuses it (401, 403). send(token) resolves to a reply of request(); resolves to the first
 *  reply not refused for the token, or null when no token was given. */
export async function sendWithToken(send) {
  let token = storedToken() || await askToken();
  for (;;) {
    if (!token) return null;
    const r = await send(token);
    if (r.status !== 401 && r.status !== 403) return r;
    forgetToken();
    token = await askToken(`The server refused the token: ${replyError(r)}`);
  }
}
