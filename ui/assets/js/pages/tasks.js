// Tasks: the list (filter by text and state), and a task's detail with its
// state history, sandbox file browser and a live tail of stdout/stderr,
// read through the master's files proxy (/agents/{id}/files/...).
import { h, api, apiURL, table, kv, empty, time, stateBadge, taskLink, agentLink, frameworkLink, appLink, fmtBytes, errorBox, qs, isoTime } from '../lib.js';
import { setQuery } from '../router.js';
import { can } from '../session.js';
import { terminalView } from '../terminal.js';
import { taskCharts } from '../charts.js';

const shown = 200; // rows rendered before "show all"

export const tasksList = {
  title: 'Tasks',
  refresh: 3000,
  async load() { return api('/tasks?limit=100000&order=desc'); },
  render({ tasks = [] }, params, query) {
    const f = (query.q || '').toLowerCase();
    const st = query.state || '';
    const rows = tasks.filter((t) => (!st || t.state === st) && (!f || t.id.toLowerCase().includes(f) || (t.name || '').toLowerCase().includes(f) || (t.slave_id || '').toLowerCase().includes(f)));
    const states = [...new Set(tasks.map((t) => t.state))].sort();
    const all = query.all === '1';
    return h('div', null,
      h('h1', null, 'Tasks'),
      h('div', { class: 'toolbar' },
        h('input', { type: 'search', placeholder: 'Filter by id, name or agent', value: query.q || '', 'data-key': 'tasks-filter', oninput: (e) => setQuery({ q: e.target.value }, true) }),
        h('select', { 'data-key': 'tasks-state', onchange: (e) => setQuery({ state: e.target.value }, true) },
          ['', ...new Set([...states, st].filter(Boolean))].map((s) => h('option', { value: s, selected: s === st }, s || 'any state'))),
        h('span', { class: 'muted', id: 'tasks-count' }, `${rows.length} of ${tasks.length} tasks`)),
      tasks.length === 0 ? empty('No tasks yet.', `nodectl execute --master ${location.host} --name hello -- echo hello`)
        : rows.length === 0 ? empty('No task matches the filter.', 'clear the filter')
          : [table([
            ['Task', (t) => h('a', { href: taskLink(t.id) }, t.id)],
            ['State', (t) => stateBadge(t.state)],
            ['Name', (t) => t.name, 'hide-sm'],
            ['Agent', (t) => t.slave_id ? h('a', { href: agentLink(t.slave_id) }, t.slave_id.slice(-6)) : '–', 'hide-sm'],
            ['CPUs', (t) => String(t.resources?.cpus ?? ''), 'num hide-sm'],
            ['Mem', (t) => String(t.resources?.mem ?? ''), 'num hide-sm'],
            ['Updated', (t) => time(t.statuses?.length ? t.statuses[t.statuses.length - 1].timestamp : null)],
          ], all ? rows : rows.slice(0, shown)),
          !all && rows.length > shown && h('p', null, h('a', { href: '#/tasks' + qs({ ...query, all: '1' }) }, `Show all ${rows.length} (showing ${shown})`))]);
  },
};

// sandboxPath is the Mesos virtual path of a command task's sandbox (its
// executor id is the task id).
const sandboxPath = (t) => `/frameworks/${t.framework_id}/executors/${t.executor_id || t.id}/runs/latest`;
const filesURL = (agent, op, params) => `/agents/${encodeURIComponent(agent)}/files/${op}` + qs(params);
// sandboxFile resolves a ?file= deep link: a virtual path as the files API
// has it, or a name relative to the task's sandbox (?file=stderr,
// ?file=logs/app.log), so a link needs only the task id.
const sandboxFile = (root, f) => !f ? '' : f.startsWith('/') ? f : root + '/' + f.replace(/^\.?\/+/, '');

export const taskDetail = {
  title: (p) => p.id,
  refresh: 3000,
  async load({ id }, query) {
    const { tasks = [] } = await api('/tasks' + qs({ task_id: id, limit: 100000 }));
    const t = tasks[0];
    if (!t) return { id, missing: true };
    let listing = null, listErr = null;
    const root = sandboxPath(t);
    const dir = query.dir || root;
    if (!query.file && !query.terminal && t.slave_id && !can('access_sandboxes')) {
      try { listing = await api(filesURL(t.slave_id, 'browse', { path: dir })); } catch (e) { listErr = e; }
    }
    return { t, root, dir, listing, listErr };
  },
  render(d, params, query) {
    if (d.missing) return h('div', null, h('h1', null, d.id), empty('The master knows no task with this id (it may have been forgotten).', `nodectl task list --master ${location.host}`));
    const { t, root, dir, listing, listErr } = d;
    const file = sandboxFile(root, query.file);
    const statuses = t.statuses || [];
    return h('div', null,
      h('div', { class: 'crumbs' }, h('a', { href: '#/tasks' }, 'Tasks'), ' / ', t.id),
      h('h1', null, t.id, ' ', stateBadge(t.state)),
      h('div', { class: 'grid' },
        h('div', { class: 'card' }, kv([
          ['Name', t.name], ['Framework', h('a', { href: frameworkLink(t.framework_id) }, t.framework_id)],
          ['Agent', t.slave_id ? h('a', { href: agentLink(t.slave_id) }, t.slave_id) : '–'],
          ['Resources', `cpus ${t.resources?.cpus ?? 0} · mem ${t.resources?.mem ?? 0} MB · disk ${t.resources?.disk ?? 0} MB${t.resources?.ports ? ' · ports ' + t.resources.ports : ''}`],
          ['Addresses', h('span', { class: 'mono', id: 'task-ips' }, taskIPs(t).join(', ') || 'the agent\'s (host network)')],
          ...portMappings(t).length ? [['Port mappings', h('span', { class: 'mono', id: 'task-port-mappings' }, portMappings(t).map((m) => `${m.host_port} → ${m.container_port}/${m.protocol || 'tcp'}`).join(', '))]] : [],
          ['Sandbox', h('span', { class: 'mono' }, root)],
        ])),
        h('div', { class: 'card' }, h('h3', null, 'State history'),
          h('ol', { style: 'margin:0;padding-left:1.2rem', id: 'state-history' }, statuses.map((s, i) => h('li', null, stateBadge(s.state), ' ',
            h('time', { title: isoTime(s.timestamp) }, isoTime(s.timestamp).replace('T', ' ').replace('Z', '')),
            i > 0 ? h('span', { class: 'muted' }, ` +${((s.timestamp - statuses[i - 1].timestamp) * 1000).toFixed(0)} ms`) : null,
            s.message ? h('span', { class: 'muted' }, ' ' + s.message) : null))))),
      t.slave_id && [h('h2', null, 'Resources'), taskCharts(t)], // charts.js
      h('nav', { class: 'tabs' },
        ['stdout', 'stderr'].map((f) => h('a', { href: taskLink(t.id) + qs({ file: f }), class: file === root + '/' + f ? 'active' : null, id: 'tab-' + f }, f)),
        h('a', { href: taskLink(t.id), class: !file && !query.terminal ? 'active' : null, id: 'tab-files' }, 'Sandbox'),
        t.state === 'TASK_RUNNING' && h('a', { href: taskLink(t.id) + qs({ terminal: '1' }), class: query.terminal ? 'active' : null, id: 'tab-terminal' }, 'Terminal')),
      query.terminal ? (can('launch_nested_container_sessions') ? h('div', { class: 'empty', id: 'terminal-denied' }, 'No terminal: a session in the task ', can('launch_nested_container_sessions'), '.')
        : t.state !== 'TASK_RUNNING' ? empty('The task is not running: there is nothing to open a terminal in.', 'pick a running task')
          : terminalView(t))
      : can('access_sandboxes') ? h('div', { class: 'empty', id: 'sandbox-denied' }, 'The sandbox is not shown: reading it ', can('access_sandboxes'), '.')
        : file ? tailView(t, file) : browser(t, root, dir, listing, listErr));
  },
};

function browser(t, root, dir, listing, listErr) {
  if (!t.slave_id) return empty('The task has no agent yet.', 'wait for it to be launched');
  const rel = dir.slice(root.length).split('/').filter(Boolean);
  const crumbs = [h('a', { href: taskLink(t.id) }, 'sandbox')];
  rel.forEach((seg, i) => crumbs.push(' / ', h('a', { href: taskLink(t.id) + qs({ dir: root + '/' + rel.slice(0, i + 1).join('/') }) }, seg)));
  return h('div', null,
    h('div', { class: 'crumbs' }, crumbs),
    listErr ? errorBox(listErr) : !listing?.length ? empty('The sandbox is empty.', 'the task writes its files here') : table([
      ['Name', (f) => {
        const name = f.path.split('/').pop();
        return f.mode[0] === 'd' ? h('a', { href: taskLink(t.id) + qs({ dir: f.path }) }, name + '/') : h('a', { href: taskLink(t.id) + qs({ file: f.path }) }, name);
      }],
      ['Mode', (f) => h('span', { class: 'mono' }, f.mode), 'hide-sm'],
      ['Owner', (f) => `${f.uid}:${f.gid}`, 'hide-sm'],
      ['Size', (f) => fmtBytes(f.size), 'num'],
      ['Modified', (f) => time(f.mtime)],
      ['', (f) => f.mode[0] === 'd' ? '' : h('a', { href: apiURL(filesURL(t.slave_id, 'download', { path: f.path })), download: f.path.split('/').pop() }, 'download')],
    ], listing));
}

// tailView follows a file as it grows: it reads the last 64 KiB, then polls
// /files/read from the end offset. The element survives re-renders
// (data-keep), so the tail is not restarted by the page refresh.
function tailView(t, file) {
  const key = 'tail:' + t.slave_id + ':' + file;
  const pre = h('pre', { class: 'tail', id: 'tail' }, '');
  const status = h('span', { class: 'muted', id: 'tail-status' }, 'opening…');
  const box = h('div', { 'data-keep': key },
    h('div', { class: 'toolbar' }, h('span', { class: 'mono' }, file), status, h('span', { class: 'grow' }),
      h('a', { href: apiURL(filesURL(t.slave_id, 'download', { path: file })) }, 'download')),
    pre);
  let stopped = false, offset = -1, timer = null, seen = false;
  let follow = true; // stick to the end until the user scrolls up
  pre.addEventListener('scroll', () => { follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8; });
  box._destroy = () => { stopped = true; clearTimeout(timer); };
  const url = (o, l) => filesURL(t.slave_id, 'read', { path: file, offset: o, length: l });
  const tick = async () => {
    if (box.isConnected) seen = true;
    else if (seen) stopped = true; // left the page without a destroy
    if (stopped) return;
    try {
      if (offset < 0) {
        const { offset: size } = await api(url(-1));
        offset = Math.max(0, size - 65536);
      }
      for (let i = 0; i < 16; i++) { // bounded catch-up per tick
        const chunk = await api(url(offset, 65536));
        if (!chunk.data) break;
        pre.append(chunk.data);
        offset += new TextEncoder().encode(chunk.data).length;
        if (pre.textContent.length > 1 << 20) pre.textContent = pre.textContent.slice(-(1 << 19));
        if (follow) pre.scrollTop = pre.scrollHeight;
        if (chunk.data.length < 65536) break;
      }
      status.textContent = `following · ${fmtBytes(offset)}`;
    } catch (e) {
      status.textContent = 'cannot read: ' + (e.apiMessage || e.message);
    }
    if (!stopped) timer = setTimeout(tick, 1000);
  };
  tick();
  return box;
}

// taskIPs are a task's own addresses: its newest status's network_infos.
const taskIPs = (t) => {
  for (const s of [...(t.statuses || [])].reverse()) {
    const ips = (s.container_status?.network_infos || []).flatMap((n) => (n.ip_addresses || []).map((a) => a.ip_address)).filter(Boolean);
    if (ips.length) return ips;
  }
  return [];
};

// portMappings are the host→container port mappings of a task's network.
const portMappings = (t) => (t.container?.network_infos || []).flatMap((n) => n.port_mappings || []);
