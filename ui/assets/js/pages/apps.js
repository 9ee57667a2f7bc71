// Apps: the list with a health rollup and filter, and create-from-JSON
// with 422 validation errors shown against their fields.
import { h, api, ApiError, table, empty, badge, miniBar, fmtMem, appLink, time, errorBox, qs } from '../lib.js';
import { navigate, setQuery } from '../router.js';
import { can, canApp, allowed, scoped } from '../session.js';

// appStatus rolls an app up into one word, like Marathon's UI.
export function appStatus(a) {
  if (a.deployments && a.deployments.length) return 'deploying';
  if (a.instances === 0 && !a.tasksRunning) return 'suspended';
  if (a.tasksUnhealthy > 0) return 'unhealthy';
  if ((a.tasksRunning || 0) < a.instances) return 'waiting';
  if (a.healthChecks && a.healthChecks.length) return a.tasksHealthy >= a.instances ? 'healthy' : 'unhealthy';
  return 'running';
}
const statusClass = { running: 'ok', healthy: 'ok', deploying: 'info', waiting: 'warn', unhealthy: 'bad', suspended: '' };
export const statusBadge = (s) => badge(s, statusClass[s] ?? '');

export const appsList = {
  title: 'Apps',
  refresh: 2000,
  async load() {
    const [apps, queue] = await Promise.all([
      api('/v2/apps?embed=apps.counts&embed=apps.deployments&embed=apps.lastTaskFailure'),
      api('/v2/queue'),
    ]);
    return { apps: apps.apps || [], queue: queue.queue || [] };
  },
  render({ apps, queue }, params, query) {
    const queued = Object.fromEntries(queue.map((q) => [q.app?.id, q]));
    const f = (query.q || '').toLowerCase();
    const want = query.status || '';
    const rows = apps.map((a) => ({ ...a, status: appStatus(a) }))
      .filter((a) => (!f || a.id.toLowerCase().includes(f) || (a.cmd || '').toLowerCase().includes(f)) && (!want || a.status === want))
      .sort((x, y) => x.id.localeCompare(y.id));
    const counts = {};
    for (const a of apps) { const s = appStatus(a); counts[s] = (counts[s] || 0) + 1; }
    const t = (k) => apps.reduce((n, a) => n + (a[k] || 0), 0);
    return h('div', null,
      h('h1', null, 'Apps'),
      h('div', { class: 'toolbar' },
        h('input', { type: 'search', placeholder: 'Filter by id or command', value: query.q || '', 'data-key': 'apps-filter', id: 'apps-filter',
          oninput: (e) => setQuery({ q: e.target.value }, true) }),
        h('select', { 'data-key': 'apps-status', onchange: (e) => setQuery({ status: e.target.value }, true) },
          ['', 'running', 'healthy', 'deploying', 'waiting', 'unhealthy', 'suspended'].map((s) => h('option', { value: s, selected: s === want }, s || 'any status'))),
        h('span', { class: 'grow' }),
        can('create_apps') ? h('button', allowed(can('create_apps'), { class: 'primary', id: 'create-app' }), 'Create app')
          : h('a', { class: 'button primary', href: '#/apps/new', id: 'create-app' }, 'Create app')),
      h('div', { class: 'chips', id: 'apps-rollup' },
        h('span', null, `${apps.length} apps · ${t('tasksRunning')} running · ${t('tasksHealthy')} healthy · ${t('tasksStaged')} staged · ${t('tasksUnhealthy')} unhealthy`),
        Object.entries(counts).map(([s, n]) => h('a', { href: '#/apps' + qs({ status: s }) }, statusBadge(s), ' ', String(n)))),
      apps.length === 0 && scoped() ? empty(`No apps under ${scoped().join(', ') || '(no prefix)'} yet (you see only those).`, can('create_apps') ? 'ask an admin for create_apps' : `nodectl app run --master ${location.host} -f app.json   (or Create app above)`)
        : apps.length === 0 ? empty('No apps yet. Create one from JSON with the button above, or:', `nodectl app run --master ${location.host} -f app.json`)
        : rows.length === 0 ? empty('No app matches the filter.', 'clear the filter')
          : table([
            ['ID', (a) => h('a', { href: appLink(a.id), class: 'app-link' }, a.id)],
            ['Status', (a) => statusBadge(a.status)],
            ['Running', (a) => h('span', null, `${a.tasksRunning}/${a.instances}`, miniBar(a.tasksRunning, a.instances)), 'num'],
            ['Queue', (a) => queueNote(queued[a.id]), 'hide-sm'],
            ['Healthy', (a) => String(a.tasksHealthy), 'num hide-sm'],
            ['Staged', (a) => String(a.tasksStaged), 'num hide-sm'],
            ['Unhealthy', (a) => String(a.tasksUnhealthy), 'num hide-sm'],
            ['CPUs', (a) => String(a.cpus), 'num hide-sm'],
            ['Mem', (a) => fmtMem(a.mem), 'num hide-sm'],
            ['Version', (a) => time(a.version), 'hide-sm'],
          ], rows, { rowAttrs: (a) => ({ 'data-app': a.id }) }));
  },
};

// queueNote says how many launches wait and whether the backoff delays them.
function queueNote(q) {
  if (!q) return '';
  const d = q.delay || {};
  return h('span', { class: 'muted', title: 'waiting since ' + q.since }, `${q.count} to launch`, d.timeLeftSeconds > 0 ? ` · delayed ${d.timeLeftSeconds}s` : '');
}

const template = {
  id: '/my-app',
  cmd: 'while true; do echo hello from $MESOS_TASK_ID; sleep 5; done',
  instances: 1,
  cpus: 0.1,
  mem: 32,
};
const fields = [
  ['id', 'ID', 'text'], ['cmd', 'Command', 'text'], ['instances', 'Instances', 'number'],
  ['cpus', 'CPUs', 'number'], ['mem', 'Memory (MB)', 'number'], ['disk', 'Disk (MB)', 'number'],
];
// draft survives re-renders and navigation within the session. An
// app-scoped principal starts from an id under its first prefix.
let draft = null;
const fresh = () => {
  const pre = scoped()?.[0];
  return JSON.stringify(pre ? { ...template, id: pre.replace(/\/?\*?$/, '') + '/my-app' } : template, null, 2);
};
let lastErrors = null;

export const appsNew = {
  title: 'Create app',
  refresh: 0,
  async load() { return {}; },
  render() {
    const ta = h('textarea', { id: 'app-json', 'data-key': 'app-json', spellcheck: 'false', 'aria-label': 'App definition JSON' });
    if (draft == null) draft = fresh();
    ta.value = draft;
    const errs = h('div', { id: 'app-errors' });
    const fieldEls = {};
    const parsed = () => { try { return JSON.parse(ta.value); } catch { return null; } };
    const form = h('div', null, fields.map(([k, label, type]) => {
      const input = h('input', { type, name: k, id: 'field-' + k, step: type === 'number' ? 'any' : null });
      const err = h('div', { class: 'err' });
      input.addEventListener('input', () => {
        const o = parsed();
        if (!o) return;
        if (input.value === '') delete o[k];
        else o[k] = type === 'number' ? Number(input.value) : input.value;
        ta.value = draft = JSON.stringify(o, null, 2);
        gate();
      });
      fieldEls['/' + k] = { input, err, wrap: h('div', { class: 'field' }, h('label', { for: 'field-' + k }, label), input, err) };
      return fieldEls['/' + k].wrap;
    }));
    const button = h('button', { class: 'primary', id: 'app-submit', onclick: (e) => submit(e.target) }, 'Create');
    // The submit button is disabled, with the reason, when the principal
    // may not create this id (app-scoped users: outside their prefixes).
    const reasonEl = h('span', { class: 'muted', id: 'app-submit-reason' });
    const gate = () => {
      const o = parsed();
      const reason = canApp('create_apps', o && typeof o.id === 'string' ? '/' + o.id.replace(/^\/+/, '') : '');
      button.disabled = !!reason;
      reasonEl.textContent = reason;
      if (reason) { button.title = reason; button.dataset.denied = reason; } else { button.removeAttribute('title'); delete button.dataset.denied; }
    };
    const sync = () => {
      const o = parsed();
      for (const [k] of fields) {
        const fe = fieldEls['/' + k];
        if (document.activeElement !== fe.input) fe.input.value = o && o[k] != null ? o[k] : '';
      }
      gate();
    };
    ta.addEventListener('input', () => { draft = ta.value; sync(); });
    sync();
    const show = (e) => {
      for (const fe of Object.values(fieldEls)) { fe.err.textContent = ''; fe.wrap.classList.remove('invalid'); }
      errs.replaceChildren();
      if (!e) return;
      const details = e instanceof ApiError && Array.isArray(e.body?.details) ? e.body.details : [];
      const other = [];
      for (const d of details) {
        const top = '/' + (d.path || '').split('/')[1];
        const fe = fieldEls[d.path] || fieldEls[top];
        const msg = (d.errors || []).join('; ');
        if (fe) { fe.err.textContent = (d.path !== top ? d.path + ': ' : '') + msg; fe.wrap.classList.add('invalid'); }
        else other.push(h('li', { 'data-path': d.path }, h('code', null, d.path || '/'), ' ', msg, lineHint(ta.value, d.path)));
      }
      errs.append(errorBox(e instanceof ApiError ? `${e.status} ${e.apiMessage}` + (details.length ? '' : e.body?.details ? ': ' + e.body.details : '') : e));
      if (other.length) errs.append(h('ul', { class: 'errs' }, other));
    };
    if (lastErrors) show(lastErrors);
    const submit = async (btn) => {
      let body;
      try { body = JSON.parse(ta.value); } catch (e) { show(new Error('The JSON does not parse: ' + e.message)); return; }
      btn.disabled = true;
      try {
        const app = await api('/v2/apps', { method: 'POST', body });
        lastErrors = null;
        draft = null;
        navigate(appLink(app.id || body.id));
      } catch (e) {
        lastErrors = e;
        show(e);
      } finally { gate(); }
    };
    return h('div', null,
      h('h1', null, 'Create an app'),
      h('p', { class: 'muted' }, 'Edit the Marathon app definition (JSON). The fields on the left edit the same JSON; errors from the API are shown against the field they concern.'),
      h('div', { class: 'form-grid' }, form, h('div', null, ta)),
      errs,
      h('div', { class: 'toolbar' },
        button,
        reasonEl,
        h('a', { href: '#/apps' }, 'Cancel')));
  },
};

// lineHint points at the JSON line of a detail's path's last key.
function lineHint(text, path) {
  const key = (path || '').split('/').filter(Boolean).pop();
  if (!key || /^\d+$/.test(key)) return null;
  const i = text.split('\n').findIndex((l) => l.includes(`"${key}"`));
  return i >= 0 ? h('span', { class: 'muted' }, ` (line ${i + 1})`) : null;
}
