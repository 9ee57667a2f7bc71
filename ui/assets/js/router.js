// Hash router with live re-rendering.
//
// A page is {title, load(params, query) → Promise<data>, render(data,
// params, query) → Node, refresh: ms (0: render once)}. Routes are
// patterns like "/apps/*id" (rest of the path) or "/tasks/:id". Each
// navigation records timings (route → rendered) in window.nodectlTimings
// and as performance measures, and sets body[data-route] when rendered.
//
// Re-renders keep the focused input (by data-key) and reuse elements
// marked data-keep (long-lived widgets such as the log tail).
//
// Every page needs a signed-in principal: without a session (whoami 401)
// or when an API call answers 401, the login form replaces the page
// (body[data-route="/login"]); the hash is kept, so signing in continues
// to the page that was asked for.
import { h, errorBox } from './lib.js';
import * as live from './live.js';
import * as session from './session.js';
import { showLogin, renderWho } from './login.js';

const routes = [];
let current = null; // {page, params, query, seq, timer}
let seq = 0;
const streamDelay = 10000; // ms before /v2/events is opened
window.nodectlTimings = [];

export function route(pattern, page) {
  const names = [];
  const re = new RegExp('^' + pattern.replace(/\/\*(\w+)$/, (_, n) => { names.push(n); return '(/.*)'; })
    .replace(/:(\w+)/g, (_, n) => { names.push(n); return '([^/]+)'; }) + '/?$');
  routes.push({ re, names, page, pattern });
}

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, q = ''] = raw.split('?');
  return { path, query: Object.fromEntries(new URLSearchParams(q)) };
}

// navigate changes the hash (so the back button works).
export function navigate(hash) { location.hash = hash; }

// setQuery replaces query parameters of the current route.
export function setQuery(changes, replace = false) {
  const { path, query } = parseHash();
  const q = new URLSearchParams({ ...query, ...changes });
  for (const [k, v] of Object.entries(changes)) if (v == null || v === '') q.delete(k);
  const s = q.toString();
  const hash = '#' + path + (s ? '?' + s : '');
  if (replace) { history.replaceState(null, '', hash); onRoute(); } else location.hash = hash;
}

function match(path) {
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) {
      const params = {};
      r.names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
      return { page: r.page, params, pattern: r.pattern };
    }
  }
  return null;
}

async function onRoute() {
  const { path, query } = parseHash();
  const m = match(path);
  if (current?.timer) clearTimeout(current.timer);
  if (!session.user) { signIn(); return; }
  const main = document.getElementById('main');
  for (const a of document.querySelectorAll('#nav a')) {
    const target = a.getAttribute('href').slice(1);
    a.classList.toggle('active', target === '/' ? path === '/' : path.startsWith(target));
  }
  if (!m) {
    main.replaceChildren(h('h1', null, 'Not found'), h('p', null, 'No page at ', h('code', null, path), '. ', h('a', { href: '#/' }, 'Go to the overview.')));
    document.body.dataset.route = path;
    return;
  }
  current = { ...m, query, path, seq: ++seq, first: true };
  performance.mark('route-start-' + current.seq);
  await refresh(current);
}

// refresh loads and renders the current page, then schedules the next.
async function refresh(c) {
  if (c !== current) return;
  if (c.timer) { clearTimeout(c.timer); c.timer = null; }
  const t0 = performance.now();
  let data, err;
  try {
    data = await c.page.load(c.params, c.query);
  } catch (e) { err = e; }
  if (c !== current) return; // navigated away meanwhile
  const t1 = performance.now();
  const main = document.getElementById('main');
  const banner = document.getElementById('banner');
  if (err && !c.first) {
    banner.textContent = 'Live update failed: ' + (err.message || err) + ' (showing the last data; retrying)';
    banner.hidden = false;
  } else {
    banner.hidden = true;
    let node;
    try {
      node = err ? h('div', null, h('h1', null, c.page.title || ''), errorBox(err)) : c.page.render(data, c.params, c.query);
    } catch (e) {
      node = errorBox(e);
      console.warn('render', e);
    }
    swap(main, node);
    document.title = (typeof c.page.title === 'function' ? c.page.title(c.params) : c.page.title || '') + ' · nodectl';
  }
  const t2 = performance.now();
  if (c.first) {
    c.first = false;
    performance.mark('route-rendered-' + c.seq);
    performance.measure('route ' + c.path, 'route-start-' + c.seq, 'route-rendered-' + c.seq);
    window.nodectlTimings.push({ route: c.path, pattern: c.pattern, loadMs: t1 - t0, renderMs: t2 - t1, totalMs: t2 - t0 });
    document.body.dataset.route = c.path;
    document.body.dataset.seq = c.seq;
  }
  if (c.page.refresh) c.timer = setTimeout(() => refresh(c), c.page.refresh);
}

// swap replaces main's content, keeping focus and data-keep widgets.
function swap(main, node) {
  const active = document.activeElement;
  const key = active && main.contains(active) ? active.dataset.key : null;
  const sel = key && 'selectionStart' in active ? [active.selectionStart, active.selectionEnd] : null;
  const kept = new Map();
  for (const el of main.querySelectorAll('[data-keep]')) kept.set(el.dataset.keep, el);
  for (const ph of node.querySelectorAll ? node.querySelectorAll('[data-keep]') : []) {
    const old = kept.get(ph.dataset.keep);
    if (old) { ph.replaceWith(old); kept.delete(ph.dataset.keep); }
  }
  for (const el of kept.values()) el._destroy?.();
  // Moving an element resets its scroll position: note and restore it.
  const scrolls = [];
  for (const el of node.querySelectorAll ? node.querySelectorAll('[data-keep], [data-keep] *') : []) if (el.scrollTop) scrolls.push([el, el.scrollTop]);
  main.replaceChildren(node);
  for (const [el, top] of scrolls) el.scrollTop = top;
  if (key) {
    const el = main.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (el) {
      el.focus();
      if (sel) try { el.setSelectionRange(sel[0], sel[1]); } catch { /* not a text input */ }
    }
  }
}

// rerender re-runs the current page soon (debounced), e.g. after an event.
let pending = null;
export function rerender(delay = 250) {
  if (pending) return;
  pending = setTimeout(() => { pending = null; if (current && current.page.refresh) refresh(current); }, delay);
}

// signIn stops the current page and shows the login form; message says
// why (a session that ended).
function signIn(message) {
  if (current?.timer) clearTimeout(current.timer);
  current = null;
  live.disconnect();
  showLogin(message, () => {
    if (streamDue) live.connect();
    onRoute();
  });
  document.title = 'Sign in · nodectl';
  document.body.dataset.route = '/login';
  document.body.dataset.seq = ++seq;
}

let streamDue = false;

export async function start() {
  window.addEventListener('hashchange', onRoute);
  live.onEvent((ev) => { if (live.refreshing.has(ev.type)) rerender(); });
  document.addEventListener('nodectl-session', () => renderWho(async () => { await session.logout(); signIn(); }));
  session.onUnauthorized((reason) => signIn('Your session ended (' + reason + '). Sign in again.'));
  // The stream is opened after the first pages have loaded: a long-lived
  // request would hold headless Chromium's virtual time (--dump-dom,
  // --virtual-time-budget) forever. Pages poll meanwhile.
  setTimeout(() => { streamDue = true; if (session.user) live.connect(); }, streamDelay);
  try {
    await session.check();
  } catch (e) {
    document.getElementById('main').replaceChildren(h('h1', null, 'nodectl'), errorBox(e));
    return;
  }
  onRoute();
}
