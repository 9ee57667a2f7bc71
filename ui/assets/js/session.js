// The signed-in principal: the web UI's session (POST /auth/login sets an
// HttpOnly cookie; GET /auth/whoami says who it is and what it may do).
//
// The /auth/* calls go to the master that served the page directly (every
// master serves them), not through /ui/api. can() and canApp() answer
// whether an action is allowed and, when it is not, the reason shown on
// the disabled control; the API decides in the end.

// user is the whoami answer: {principal, kind, superuser, apps?,
// permissions: [...], csrf_token, expires?}; null when signed out.
export let user = null;
let perms = new Set();

// unauthorized is called when an API call answers 401 (the session ended
// or expired): the router shows the login form.
let unauthorized = () => {};
export function onUnauthorized(f) { unauthorized = f; }
export function signedOut(reason) {
  if (!user) return;
  set(null);
  unauthorized(reason);
}

function set(w) {
  user = w;
  perms = new Set(w?.permissions || []);
  document.dispatchEvent(new CustomEvent('nodectl-session', { detail: w }));
}

// headers are the ones every API call carries: X-CSRF-Token on a write
// (the master also accepts the same-origin Origin header browsers send;
// the token covers a forward to the leader, which sees another origin),
// and X-Requested-With, which asks the master not to answer 401 with a
// Basic challenge (the browser would pop up its own password dialog).
export function headers(method) {
  const out = { 'X-Requested-With': 'nodectl-ui' };
  if (method !== 'GET' && method !== 'HEAD' && user?.csrf_token) out['X-CSRF-Token'] = user.csrf_token;
  return out;
}

async function call(method, path, body) {
  const init = { method, headers: headers(method), credentials: 'same-origin' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text.trim().slice(0, 300) }; }
  return { status: r.status, data, retryAfter: r.headers.get('Retry-After') };
}

// check asks /auth/whoami: true when a session (or another credential the
// browser sends) is good.
export async function check() {
  const r = await call('GET', '/auth/whoami');
  if (r.status === 200) { set(r.data); return true; }
  if (r.status === 401) { set(null); return false; }
  throw new Error(`GET /auth/whoami: HTTP ${r.status} — ${r.data?.message || 'no message'}`);
}

// login signs in; resolves with null on success, else the message to show.
export async function login(principal, secret) {
  let r;
  try {
    r = await call('POST', '/auth/login', { principal, secret });
  } catch (e) {
    return 'Cannot reach the master (' + e.message + ').';
  }
  if (r.status === 200) { set(r.data); return null; }
  if (r.status === 401) return 'Wrong principal or secret.';
  if (r.status === 429) {
    const s = Number(r.retryAfter);
    return 'Too many failed attempts from this address: try again ' + (s > 0 ? `in ${s} s` : 'later') + '.';
  }
  return `Login failed: HTTP ${r.status} — ${r.data?.message || 'no message'}`;
}

// logout ends the session on the master (every master forgets it).
export async function logout() {
  try { await call('POST', '/auth/logout'); } catch { /* signed out here anyway */ }
  set(null);
}

// underPrefix: app id lies in group prefix ("/a" or "/a/*"), like the
// master's check (cluster/auth).
function underPrefix(id, prefix) {
  const p = prefix.replace(/\*$/, '').replace(/\/$/, '');
  return p === '' || id === p || id.startsWith(p + '/');
}

// scoped is the app prefixes of an app-scoped principal, else null.
export const scoped = () => (user && !user.superuser && Array.isArray(user.apps) ? user.apps : null);

// can: '' when the principal has perm (on some object), else the reason.
export function can(perm) {
  if (user?.superuser || perms.has(perm)) return '';
  return 'needs ' + perm + (user ? ` (${user.principal} lacks it)` : '');
}

// canApp: '' when the principal may do perm on app id, else the reason.
export function canApp(perm, id) {
  const r = can(perm);
  if (r) return r;
  const pre = scoped();
  if (pre && id && !pre.some((p) => underPrefix(id, p))) {
    return `needs ${perm} on ${id}: ${user.principal} may act only under ${pre.join(', ') || '(no app prefix)'}`;
  }
  return '';
}

// allowed returns the attributes of a control for an action: disabled
// with the reason as its tooltip when reason is not ''.
export const allowed = (reason, attrs = {}) => (reason ? { ...attrs, disabled: true, title: reason, 'data-denied': reason } : attrs);
