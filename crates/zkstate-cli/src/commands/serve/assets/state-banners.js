// zkstate serve, state page: the banners above the state (errors, resyncs, faults, saves).

import { $ } from './app.js';

/** Shows `text` in the banner `id`; an empty text hides it. */
export function showBanner(id, text) {
  const e = $(id);
  e.textContent = text || '';
  e.hidden = !text;
}

export const showError = (msg) => showBanner('error', msg);

// Errors about the stream are cleared by the next snapshot; other errors stay.
let streamError = false;

export function showStreamError(msg) {
  streamError = true;
  showError(msg);
}

/** Clears the error banner if it is about the stream (a snapshot came). */
export function clearStreamError() {
  if (streamError) showError('');
  streamError = false;
}
