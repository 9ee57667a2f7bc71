// The login form and the header's "signed in as" with its logout button.
import { h } from './lib.js';
import * as session from './session.js';

// showLogin replaces the page with the login form; done runs once signed
// in. message (optional) says why the form is shown.
export function showLogin(message, done) {
  const principal = h('input', { type: 'text', id: 'login-principal', name: 'principal', autocomplete: 'username', required: true, 'data-key': 'login-principal', value: lastPrincipal });
  const secret = h('input', { type: 'password', id: 'login-secret', name: 'secret', autocomplete: 'current-password', required: true, 'data-key': 'login-secret' });
  const error = h('div', { class: 'error', id: 'login-error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary', id: 'login-submit' }, 'Sign in');
  const form = h('form', { id: 'login-form', class: 'card login' },
    h('h1', null, 'Sign in'),
    message && h('p', { class: 'muted', id: 'login-reason' }, message),
    h('div', { class: 'field' }, h('label', { for: 'login-principal' }, 'Principal'), principal),
    h('div', { class: 'field' }, h('label', { for: 'login-secret' }, 'Secret'), secret),
    error,
    h('div', { class: 'toolbar' }, button),
    h('p', { class: 'muted small' }, 'The first master creates the superuser ', h('code', null, 'admin'),
      ' and writes its secret to ', h('code', null, '<work-dir>/admin.secret'), '; an admin adds users with ',
      h('code', null, 'POST /auth/users'), '.'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    error.hidden = true;
    lastPrincipal = principal.value;
    const msg = await session.login(principal.value, secret.value);
    button.disabled = false;
    if (msg) {
      error.textContent = msg;
      error.hidden = false;
      secret.value = '';
      secret.focus();
      return;
    }
    done();
  });
  document.getElementById('main').replaceChildren(form);
  (principal.value ? secret : principal).focus();
}

let lastPrincipal = '';

// renderWho shows who is signed in, with a logout button, in the header
// (and the navigation only when signed in).
export function renderWho(logout) {
  const who = document.getElementById('who');
  const nav = document.getElementById('nav');
  const u = session.user;
  nav.hidden = !u;
  // Pages the principal may not read stay reachable (they show the 403)
  // but are marked, with the reason as the tooltip.
  for (const a of nav.querySelectorAll('a')) {
    const reason = u ? session.can(a.getAttribute('href') === '#/apps' ? 'view_apps' : 'get_endpoints') : '';
    a.classList.toggle('denied', !!reason);
    if (reason) a.title = reason; else a.removeAttribute('title');
  }
  if (!who) return;
  if (!u) { who.replaceChildren(); return; }
  const scope = session.scoped();
  who.replaceChildren(...[
    u.kind === 'anonymous'
      ? h('span', { class: 'who-name', title: describe(u) }, 'not signed in (the operator opened some endpoints to anyone)')
      : h('span', { class: 'who-name', title: describe(u) }, 'signed in as ', h('b', { id: 'who-principal' }, u.principal)),
    scope && h('span', { class: 'badge info', title: 'apps under these prefixes only' }, scope.join(' ') || 'no apps'),
    u.superuser && h('span', { class: 'badge', title: 'may do everything' }, 'superuser'),
    u.kind === 'session' && h('button', { id: 'logout', class: 'small', onclick: logout }, 'Log out'),
  ].filter(Boolean));
}

function describe(u) {
  const lines = [`${u.principal} (${u.kind})`];
  if (u.superuser) lines.push('superuser: every permission');
  else lines.push('permissions: ' + (u.permissions || []).join(', '));
  if (u.expires) lines.push('session expires ' + u.expires);
  return lines.join('\n');
}
