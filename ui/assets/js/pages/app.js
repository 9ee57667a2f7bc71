// App detail: instances, deployments with live progress, versions with a
// diff, and the actions scale / restart / rollback / delete.
import { h, api, ApiError, appURL, table, kv, empty, time, stateBadge, badge, taskLink, agentLink, errorBox, ask, stableJSON, diffLines, miniBar, fmtMem } from '../lib.js';
import { navigate, setQuery, rerender } from '../router.js';
import { appStatus, statusBadge } from './apps.js';
import { canApp, allowed } from '../session.js';
import { appCharts } from '../charts.js';

// killReason: killing or wiping a task is DELETE /v2/apps/{id}/tasks/{t}:
// delete_apps on the route, update_apps on the app.
const killReason = (id) => canApp('update_apps', id) || canApp('delete_apps', id);

let actionError = null; // {id, error}: shown until the next action

async function act(id, what, f) {
  actionError = null;
  try { await f(false); } catch (e) {
    if (e instanceof ApiError && e.status === 409 && e.body?.deployments) {
      const again = await ask({ title: 'App is locked', text: e.apiMessage + ' Force it (cancels the running deployment)?', ok: 'Force', danger: true });
      if (again) {
        try { await f(true); } catch (e2) { actionError = { id, error: e2 }; }
      }
    } else actionError = { id, error: e };
  }
  rerender(0);
}

const actions = {
  async scale(app) {
    const v = await ask({ title: 'Scale ' + app.id, fields: [{ name: 'instances', label: 'Instances', type: 'number', value: app.instances, min: 0 }], ok: 'Scale' });
    if (!v) return;
    await act(app.id, 'scale', (force) => api(appURL(app.id) + (force ? '?force=true' : ''), { method: 'PUT', body: { instances: Number(v.instances) } }));
  },
  async restart(app) {
    if (!await ask({ title: 'Restart ' + app.id + '?', text: `All ${app.tasksRunning} instances are replaced, following the upgrade strategy.`, ok: 'Restart' })) return;
    await act(app.id, 'restart', (force) => api(appURL(app.id) + '/restart' + (force ? '?force=true' : ''), { method: 'POST' }));
  },
  async rollback(app, version) {
    if (!await ask({ title: 'Roll back ' + app.id + '?', text: `The app definition of version ${version} becomes the current one (a new version).`, ok: 'Roll back' })) return;
    await act(app.id, 'rollback', async (force) => {
      const def = await api(appURL(app.id) + '/versions/' + encodeURIComponent(version));
      for (const k of ['version', 'versionInfo', 'tasks', 'deployments', 'tasksRunning', 'tasksHealthy', 'tasksStaged', 'tasksUnhealthy', 'lastTaskFailure']) delete def[k];
      return api(appURL(app.id) + (force ? '?force=true' : ''), { method: 'PUT', body: def });
    });
  },
  async remove(app) {
    if (!await ask({ title: 'Delete ' + app.id + '?', text: `Its ${app.tasksRunning} tasks are killed and the app is removed. This cannot be undone.`, ok: 'Delete', danger: true })) return;
    try {
      await api(appURL(app.id) + '?force=true', { method: 'DELETE' });
      navigate('#/apps');
    } catch (e) { actionError = { id: app.id, error: e }; rerender(0); }
  },
  async wipe(app, task) {
    const vols = (task.localVolumes || []).map((v) => v.containerPath).join(', ') || 'its volumes';
    if (!await ask({ title: 'Wipe instance?', text: `${task.id}: the task is killed and its persistent volume (${vols}) and reservation on ${task.host} are destroyed, data included. A fresh instance with an empty volume is reserved, on any agent. This cannot be undone.`, ok: 'Wipe', danger: true })) return;
    await act(app.id, 'wipe', () => api(appURL(app.id) + '/tasks/' + encodeURIComponent(task.id) + '?wipe=true', { method: 'DELETE' }));
  },
  async killTask(app, task) {
    if (!await ask({ title: 'Kill task?', text: task.id + ' is killed; Marathon starts a replacement.', ok: 'Kill', danger: true })) return;
    await act(app.id, 'kill', () => api(appURL(app.id) + '/tasks/' + encodeURIComponent(task.id), { method: 'DELETE' }));
  },
};

export const appDetail = {
  title: (p) => p.id,
  refresh: 2000,
  async load({ id }, query) {
    const [app, deployments, versions] = await Promise.all([
      api(appURL(id) + '?embed=app.tasks&embed=app.counts&embed=app.deployments&embed=app.lastTaskFailure').then((r) => r.app),
      api('/v2/deployments'),
      api(appURL(id) + '/versions').then((r) => r.versions || []),
    ]);
    let diff = null;
    if (query.tab === 'versions' && query.a && query.b) {
      const [a, b] = await Promise.all([query.a, query.b].map((v) => api(appURL(id) + '/versions/' + encodeURIComponent(v))));
      diff = { a, b };
    }
    // Resident apps: suspended instances (reserved, waiting for their
    // agent) are listed only by /v2/apps/{id}/tasks.
    if (isResident(app)) {
      const { tasks = [] } = await api(appURL(id) + '/tasks');
      const have = new Set((app.tasks || []).map((t) => t.id));
      app.tasks = [...(app.tasks || []), ...tasks.filter((t) => !have.has(t.id) && t.state === 'TASK_RESERVED')];
    }
    return { app, deployments: deployments.filter((d) => (d.affectedApps || []).includes(id)), versions, diff };
  },
  render({ app, deployments, versions, diff }, params, query) {
    const tab = query.tab || 'instances';
    const tasks = app.tasks || [];
    const status = appStatus(app);
    const tabs = ['instances', 'configuration', 'versions', 'deployments'];
    const resident = isResident(app);
    const reserved = tasks.filter((t) => t.state === 'TASK_RESERVED').length;
    return h('div', null,
      h('div', { class: 'crumbs' }, h('a', { href: '#/apps' }, 'Apps'), ' / ', app.id),
      h('h1', null, app.id, ' ', statusBadge(status)),
      h('div', { class: 'toolbar' },
        h('button', allowed(canApp('update_apps', app.id), { id: 'act-scale', onclick: () => actions.scale(app) }), 'Scale'),
        h('button', allowed(canApp('update_apps', app.id), { id: 'act-restart', onclick: () => actions.restart(app) }), 'Restart'),
        h('button', allowed(canApp('delete_apps', app.id), { id: 'act-delete', class: 'danger', onclick: () => actions.remove(app) }), 'Delete')),
      actionError && actionError.id === app.id && errorBox(actionError.error),
      h('div', { class: 'grid' },
        h('div', { class: 'card' }, h('h3', null, 'Instances', resident && [' ', badge('resident', 'info')]),
          h('div', { class: 'big', id: 'app-running' }, `${app.tasksRunning}/${app.instances} running`, miniBar(app.tasksRunning, app.instances)),
          h('div', { class: 'muted' }, `${app.tasksHealthy} healthy · ${app.tasksStaged} staged · ${app.tasksUnhealthy} unhealthy`, reserved ? ` · ${reserved} reserved, waiting` : '')),
        h('div', { class: 'card' }, h('h3', null, 'Resources per instance'),
          kv([['CPUs', String(app.cpus)], ['Memory', fmtMem(app.mem)], ['Disk', fmtMem(app.disk)]])),
        h('div', { class: 'card' }, h('h3', null, 'Version'),
          kv([['Current', time(app.version)], ['Config change', time(app.versionInfo?.lastConfigChangeAt)], ['Scaling', time(app.versionInfo?.lastScalingAt)]]))),
      deployments.map((d) => deploymentCard(d, app)),
      app.lastTaskFailure && h('div', { class: 'error' }, `Last task failure (${app.lastTaskFailure.state}, ${app.lastTaskFailure.timestamp}): ${app.lastTaskFailure.message || 'no message'} — task `,
        h('a', { href: taskLink(app.lastTaskFailure.taskId) }, app.lastTaskFailure.taskId)),
      tasks.some((t) => t.state === 'TASK_RUNNING') && [h('h2', null, 'Resources'), appCharts(app.id, tasks)], // charts.js
      h('nav', { class: 'tabs' }, tabs.map((t) => h('a', { href: '#/apps' + app.id + '?tab=' + t, class: t === tab ? 'active' : null }, t + (t === 'deployments' ? ` (${deployments.length})` : t === 'versions' ? ` (${versions.length})` : t === 'instances' ? ` (${tasks.length})` : '')))),
      tab === 'instances' && (tasks.length ? table([
        ['Task', (t) => t.state === 'TASK_RESERVED' ? h('span', { class: 'mono', title: 'instance id (reserved; no task runs)' }, t.id) : h('a', { href: taskLink(t.id), class: 'task-link' }, t.id)],
        ['State', (t) => stateBadge(t.state)],
        ['Health', (t) => t.healthCheckResults?.length ? (t.healthCheckResults.every((r) => r.alive) ? badge('healthy', 'ok') : badge('unhealthy', 'bad')) : '–', 'hide-sm'],
        ['Host', (t) => h('a', { href: agentLink(t.slaveId) }, t.host), 'hide-sm'],
        ['Addresses', (t) => h('span', { class: 'mono task-ips' }, (t.ipAddresses || []).map((a) => a.ipAddress).join(', ') || '–'), 'hide-sm'],
        ['Endpoints', (t) => endpoints(app, t), 'hide-sm'],
        ['Started', (t) => t.state === 'TASK_RESERVED' ? h('span', { class: 'muted reserved-wait' }, 'waiting for ', t.host || 'its agent') : time(t.startedAt || t.stagedAt)],
        ['Version', (t) => time(t.version), 'hide-sm'],
        resident && ['Volumes', (t) => (t.localVolumes || []).map((v) => h('div', null, h('a', { class: 'mono', title: v.persistenceId, href: '#/volumes?agent=' + encodeURIComponent(t.slaveId) }, v.containerPath))), 'hide-sm'],
        ['', (t) => h('span', { class: 'row-actions' },
          t.state !== 'TASK_RESERVED' && h('button', allowed(killReason(app.id), { class: 'danger', onclick: () => actions.killTask(app, t) }), 'Kill'),
          resident && h('button', allowed(killReason(app.id), { class: 'danger wipe', 'data-task': t.id, onclick: () => actions.wipe(app, t) }), 'Wipe'))],
      ].filter(Boolean), tasks) : empty(app.instances ? 'No instances yet: waiting for offers.' : 'Suspended (0 instances).', app.instances ? 'check Agents for free resources' : `nodectl app scale --master ${location.host} ${app.id} 1   (or Scale above)`)),
      tab === 'configuration' && h('pre', { class: 'json', id: 'app-config' }, stableJSON(cleanDef(app))),
      tab === 'versions' && versionsTab(app, versions, diff, query),
      tab === 'deployments' && (deployments.length ? deployments.map((d) => h('pre', { class: 'json' }, stableJSON(d))) : empty('No deployment is running for this app.', 'Scale or Restart starts one')));
  },
};

// endpoints are a task's host:port links, one per host port; in bridge
// mode each says which container port it maps to (docs/networking.md).
const endpoints = (app, t) => {
  const pms = app.container?.portMappings || app.container?.docker?.portMappings || [];
  const bridged = (app.networks || []).some((n) => n.mode === 'container/bridge');
  return h('span', { class: 'endpoints' }, (t.ports || []).map((p, i) => {
    const pm = bridged ? pms[i] : null;
    return h('div', null, h('a', { class: 'endpoint mono', href: `http://${t.host}:${p}/`, target: '_blank', rel: 'noopener' }, `${t.host}:${p}`),
      pm ? h('span', { class: 'muted port-mapping' }, ` → ${pm.containerPort}/${pm.protocol || 'tcp'}${pm.name ? ' (' + pm.name + ')' : ''}`) : null);
  }));
};

// isResident: the app has persistent volumes (docs/stateful.md).
export const isResident = (app) => (app.container?.volumes || []).some((v) => v.persistent);

function cleanDef(app) {
  const o = { ...app };
  for (const k of ['tasks', 'deployments', 'tasksRunning', 'tasksHealthy', 'tasksStaged', 'tasksUnhealthy', 'lastTaskFailure', 'readinessCheckResults']) delete o[k];
  return o;
}

function deploymentCard(d, app) {
  const step = d.currentStep || 0, total = d.totalSteps || (d.steps || []).length || 1;
  const acts = (d.currentActions || []).map((a) => `${a.action} ${a.app}`).join(', ');
  // Progress: instances of the deployment's version that run.
  const done = (app.tasks || []).filter((t) => t.version === app.version && t.state === 'TASK_RUNNING').length;
  const pct = app.instances > 0 ? Math.min(100, (done / app.instances) * 100) : 100;
  const cancel = async (force) => {
    const what = force ? 'Stop' : 'Roll back';
    if (!await ask({ title: `${what} deployment ${d.id.slice(0, 8)}?`, text: force ? 'The deployment stops where it is; the app keeps its new definition.' : 'A new deployment restores the app as it was before.', ok: what, danger: true })) return;
    await act(app.id, 'cancel', () => api('/v2/deployments/' + encodeURIComponent(d.id) + (force ? '?force=true' : ''), { method: 'DELETE' }));
  };
  return h('div', { class: 'card deployment', style: 'margin-top:.75rem', 'data-deployment': d.id },
    h('h3', null, 'Deployment ', h('span', { class: 'mono' }, d.id.slice(0, 8)), ` · step ${step}/${total}`),
    h('div', null, acts || 'in progress', ' · started ', time(d.version)),
    h('div', { class: 'bar' }, h('span', { style: `width:${pct}%` })),
    h('div', { class: 'toolbar', style: 'margin:.25rem 0 0' },
      h('span', { class: 'muted grow' }, `${done} of ${app.instances} instances of this version running`),
      h('button', allowed(canApp('update_apps', app.id), { onclick: () => cancel(false) }), 'Roll back'),
      h('button', allowed(canApp('update_apps', app.id), { class: 'danger', onclick: () => cancel(true) }), 'Stop')));
}

function versionsTab(app, versions, diff, query) {
  const sorted = [...versions].sort().reverse();
  const a = query.a || sorted[1] || sorted[0], b = query.b || sorted[0];
  const sel = (name, v) => h('select', { name, 'data-key': 'ver-' + name, id: 'ver-' + name }, sorted.map((x) => h('option', { value: x, selected: x === v }, x)));
  const sa = sel('a', a), sb = sel('b', b);
  let diffView = null;
  if (diff) {
    const lines = diffLines(stableJSON(strip(diff.a)), stableJSON(strip(diff.b)));
    const changed = lines.filter((l) => l.op !== ' ').length;
    diffView = h('div', null,
      h('p', { class: 'muted' }, changed ? `${changed} changed lines from ${query.a} to ${query.b}` : 'The two versions are identical.'),
      h('div', { class: 'diff', id: 'version-diff' }, lines.map((l) => h('div', { class: l.op === '+' ? 'add' : l.op === '-' ? 'del' : null }, l.op + ' ' + l.line))));
  }
  return h('div', null,
    h('div', { class: 'toolbar' }, 'Compare ', sa, ' with ', sb,
      h('button', { id: 'ver-diff', onclick: () => setQuery({ tab: 'versions', a: sa.value, b: sb.value }) }, 'Diff')),
    diffView,
    table([
      ['Version', (v) => h('span', { class: 'mono' }, v)],
      ['', (v) => v === app.version ? badge('current', 'ok') : h('button', allowed(canApp('update_apps', app.id), { onclick: () => actions.rollback(app, v) }), 'Roll back to this')],
    ], sorted));
}

function strip(def) {
  const o = { ...def };
  delete o.version; delete o.versionInfo;
  return o;
}

export const appNotFound = (id) => h('div', null, h('h1', null, id), empty('This app does not exist.', 'go back to Apps'));
