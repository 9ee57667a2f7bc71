// Small helpers shared by the pages: DOM building, API calls with readable
// errors, formatting, dialogs and a line diff.
import { headers, signedOut } from './session.js';

// h builds an element: h('a', {href: '#/x', class: 'y'}, 'text', child...).
// Attributes starting with "on" are event listeners; null/false children
// are skipped; arrays are flattened.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'value') el.value = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// ApiError carries the HTTP status and the API's message (and details).
export class ApiError extends Error {
  constructor(method, url, status, body) {
    let msg = typeof body === 'object' && body && body.message ? body.message : (typeof body === 'string' && body.trim() ? body.trim().slice(0, 300) : 'no message');
    super(`${method} ${url}: ${status ? 'HTTP ' + status : 'network error'} — ${msg}`);
    this.status = status;
    this.body = body;
    this.apiMessage = msg;
  }
}

// apiURL is where the page calls the API: through the master that served
// it (ui/proxy.go), which forwards leader-only calls when it is a standby.
export const apiURL = (path) => '/ui/api' + path;

// api fetches JSON from the master; errors become ApiError with the API's
// message ({"message": ...}). A 401 means the session ended: the page goes
// back to the login form.
export async function api(url, opts = {}) {
  const method = opts.method || 'GET';
  const init = { method, headers: headers(method), credentials: 'same-origin' };
  if (opts.body !== undefined) {
    init.body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    init.headers['Content-Type'] = 'application/json';
  }
  let r;
  try {
    r = await fetch(apiURL(url), init);
  } catch (e) {
    throw new ApiError(method, url, 0, 'cannot reach the master (' + e.message + ')');
  }
  const text = await r.text();
  let body = text;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (r.status === 401) signedOut(body?.message || 'the master asked to sign in again');
  if (!r.ok) throw new ApiError(method, url, r.status, body);
  return body;
}

// appPath is the URL path of an app id ("/a/b" → "/v2/apps/a/b").
export const appURL = (id) => '/v2/apps' + id.split('/').map(encodeURIComponent).join('/');
export const appLink = (id) => '#/apps' + id;
export const taskLink = (id) => '#/tasks/' + encodeURIComponent(id);
export const agentLink = (id) => '#/agents/' + encodeURIComponent(id);
export const frameworkLink = (id) => '#/frameworks/' + encodeURIComponent(id);

export function fmtMem(mb) {
  if (mb == null || isNaN(mb)) return '–';
  if (mb >= 1024 * 1024) return (mb / 1024 / 1024).toFixed(1) + ' TB';
  if (mb >= 1024) return (mb / 1024).toFixed(1) + ' GB';
  return Math.round(mb) + ' MB';
}

export function fmtBytes(b) {
  if (b < 1024) return b + ' B';
  if (b < 1024 * 1024) return (b / 1024).toFixed(1) + ' KB';
  if (b < 1024 * 1024 * 1024) return (b / 1024 / 1024).toFixed(1) + ' MB';
  return (b / 1024 / 1024 / 1024).toFixed(1) + ' GB';
}

export const fmtNum = (n, d = 2) => (n == null || isNaN(n) ? '–' : (+n.toFixed(d)).toString());

// ago formats a time (Date, ISO string or epoch seconds) relative to now.
export function ago(t) {
  if (t == null || t === '') return '–';
  const ms = typeof t === 'number' ? t * 1000 : Date.parse(t);
  if (!ms) return '–';
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < -60) return 'in ' + ago(Date.now() / 1000 + s).replace(/ ago$/, ''); // the future (token expiry)
  if (s < 0) return 'just now';
  if (s < 60) return s + 's ago';
  if (s < 3600) return Math.floor(s / 60) + 'm ago';
  if (s < 86400) return Math.floor(s / 3600) + 'h ago';
  return Math.floor(s / 86400) + 'd ago';
}

export function isoTime(t) {
  if (t == null) return '';
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  return isNaN(d) ? '' : d.toISOString();
}

// time is a <time> with a relative label and the exact time as a tooltip.
export const time = (t) => h('time', { datetime: isoTime(t), title: isoTime(t) }, ago(t));

// bar is a usage bar with a "used of total" label.
export function usage(label, used, total, fmt = (v) => fmtNum(v)) {
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  return h('div', { class: 'usage' },
    h('div', null, h('b', null, label), ' ', h('span', { class: 'muted' }, `${fmt(used)} of ${fmt(total)} (${pct.toFixed(0)}%)`)),
    h('div', { class: 'bar' + (pct > 90 ? ' warn' : '') }, h('span', { style: `width:${pct}%` })));
}

export function miniBar(n, of) {
  const pct = of > 0 ? Math.min(100, (n / of) * 100) : (n > 0 ? 100 : 0);
  return h('div', { class: 'bar ok', style: 'width:5rem;display:inline-block;vertical-align:middle;margin:0 0 0 .4rem' }, h('span', { style: `width:${pct}%` }));
}

const stateClass = {
  TASK_RUNNING: 'ok', TASK_FINISHED: '', TASK_STAGING: 'info', TASK_STARTING: 'info', TASK_KILLING: 'warn',
  TASK_KILLED: '', TASK_FAILED: 'bad', TASK_LOST: 'bad', TASK_ERROR: 'bad', TASK_UNREACHABLE: 'warn', TASK_DROPPED: 'bad', TASK_GONE: 'bad', TASK_RESERVED: 'info',
};
export const stateBadge = (s) => h('span', { class: 'badge ' + (stateClass[s] ?? '') }, (s || '?').replace(/^TASK_/, '').toLowerCase());
export const badge = (text, cls = '') => h('span', { class: 'badge ' + cls }, text);

// empty is an empty state that tells the next command to run.
export function empty(text, command) {
  return h('div', { class: 'empty' }, h('p', { style: 'margin:0' }, text), command && h('p', { style: 'margin:.5rem 0 0' }, 'Next: ', h('code', null, command)));
}

export const errorBox = (e) => h('div', { class: 'error', role: 'alert' }, e instanceof ApiError ? e.message : String(e && e.message || e));

// table builds a scrollable table: cols are [header, cell(row), class?].
export function table(cols, rows, opts = {}) {
  return h('div', { class: 'scroll' }, h('table', { class: opts.class },
    h('thead', null, h('tr', null, cols.map(([name, , cls]) => h('th', { class: cls }, name)))),
    h('tbody', null, rows.map((r) => h('tr', opts.rowAttrs ? opts.rowAttrs(r) : null, cols.map(([, f, cls]) => h('td', { class: cls }, f(r))))))));
}

export const kv = (pairs) => h('dl', { class: 'kv' }, pairs.filter(Boolean).flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v ?? '–')]));

// ask shows a modal dialog; resolves with the form's values, or null when
// cancelled. fields: [{name, label, type, value}].
export function ask({ title, text, fields = [], ok = 'OK', danger = false }) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) => h('input', { type: f.type || 'text', name: f.name, value: f.value ?? '', min: f.min, 'data-key': 'dlg-' + f.name }));
    const dlg = h('dialog', { class: 'confirm' },
      h('form', { method: 'dialog' },
        h('h2', { style: 'margin-top:0' }, title),
        text && h('p', null, text),
        fields.map((f, i) => h('div', { class: 'field' }, h('label', null, f.label), inputs[i])),
        h('div', { class: 'actions' },
          h('button', { value: 'cancel', type: 'submit', formnovalidate: true }, 'Cancel'),
          h('button', { value: 'ok', type: 'submit', class: danger ? 'danger' : 'primary', id: 'dialog-ok' }, ok))));
    dlg.addEventListener('close', () => {
      const values = {};
      inputs.forEach((i) => { values[i.name] = i.value; });
      dlg.remove();
      resolve(dlg.returnValue === 'ok' ? values : null);
    });
    document.body.append(dlg);
    dlg.showModal();
    (inputs[0] || dlg.querySelector('#dialog-ok')).focus();
  });
}

// stableJSON pretty-prints with sorted keys (for diffs).
export function stableJSON(v) {
  const sort = (x) => Array.isArray(x) ? x.map(sort) : (x && typeof x === 'object' ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sort(x[k])])) : x);
  return JSON.stringify(sort(v), null, 2);
}

// diffLines is an LCS line diff: [{op: ' '|'+'|'-', line}].
export function diffLines(a, b) {
  const x = a.split('\n'), y = b.split('\n');
  const n = x.length, m = y.length;
  const dp = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) dp[i][j] = x[i] === y[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push({ op: ' ', line: x[i] }); i++; j++; }
    else if (dp[i + 1][j] >= dp[i][j + 1]) out.push({ op: '-', line: x[i++] });
    else out.push({ op: '+', line: y[j++] });
  }
  while (i < n) out.push({ op: '-', line: x[i++] });
  while (j < m) out.push({ op: '+', line: y[j++] });
  return out;
}

// queryString builds "?a=1&b=2" from an object (skipping empty values).
export function qs(o) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v != null && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? '?' + s : '';
}
