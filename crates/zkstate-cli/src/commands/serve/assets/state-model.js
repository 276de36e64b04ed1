// zkstate serve, state page: what the page shows, shared by its modules. The stream module
// (state-stream.js) is the only one that changes S; the others read it.

/** The state this page follows: /state?dir=/apps/monitor. */
export const dir = new URLSearchParams(location.search).get('dir');

/** What the page shows. value/version/mzxid always come from the same snapshot or change. */
export const S = {
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

/** What the server allows, from /api/config (state.js sets it at start). */
export const server = {
  writable: false,
};
