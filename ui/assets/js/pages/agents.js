// Agents (list and detail) and frameworks (list and detail).
import { h, api, apiURL, table, kv, empty, time, badge, stateBadge, usage, fmtMem, fmtNum, agentLink, taskLink, frameworkLink, miniBar } from '../lib.js';
import { agentCharts } from '../charts.js';

// agentState is an agent's liveness plus its drain state (DRAIN_AGENT:
// draining, drained; DEACTIVATE_AGENT: deactivated), from /slaves.
const agentState = (a) => h('span', null,
  a.active ? badge('active', 'ok') : badge('inactive', 'bad'),
  a.drain_info ? [' ', badge(a.drain_info.state.toLowerCase(), a.drain_info.state === 'DRAINED' ? 'bad' : 'warn')]
    : a.deactivated ? [' ', badge('deactivated', 'warn')] : null);

const taskCount = (s) => (s.TASK_STAGING || 0) + (s.TASK_STARTING || 0) + (s.TASK_RUNNING || 0) + (s.TASK_KILLING || 0);

export const agentsList = {
  title: 'Agents',
  refresh: 3000,
  async load() {
    const [slaves, summary] = await Promise.all([api('/slaves'), api('/state-summary')]);
    const counts = Object.fromEntries((summary.slaves || []).map((s) => [s.id, s]));
    return { slaves: slaves.slaves || [], counts };
  },
  render({ slaves, counts }) {
    return h('div', null,
      h('h1', null, 'Agents'),
      slaves.length === 0 ? empty('No agents registered.', `nodectl token create --role agent   # on a master; then run the join command it prints`) : table([
        ['Hostname', (a) => h('a', { href: agentLink(a.id), class: 'agent-link' }, a.hostname)],
        ['State', agentState],
        ['Tasks', (a) => String(taskCount(counts[a.id] || {})), 'num'],
        ['CPUs', (a) => h('span', null, `${fmtNum(a.used_resources?.cpus)}/${fmtNum(a.resources?.cpus)}`, miniBar(a.used_resources?.cpus, a.resources?.cpus)), 'num'],
        ['Mem', (a) => `${fmtMem(a.used_resources?.mem)}/${fmtMem(a.resources?.mem)}`, 'num hide-sm'],
        ['Disk', (a) => `${fmtMem(a.used_resources?.disk)}/${fmtMem(a.resources?.disk)}`, 'num hide-sm'],
        ['Version', (a) => a.version, 'hide-sm'],
        ['Last seen', (a) => time(a.last_ping || a.reregistered_time || a.registered_time)],
        ['Id', (a) => h('span', { class: 'mono' }, a.id), 'hide-sm'],
      ], slaves));
  },
};

export const agentDetail = {
  title: (p) => p.id,
  refresh: 3000,
  async load({ id }) {
    const [slaves, tasks] = await Promise.all([api('/slaves'), api('/tasks?limit=100000')]);
    const a = (slaves.slaves || []).find((s) => s.id === id);
    return { id, a, tasks: (tasks.tasks || []).filter((t) => t.slave_id === id) };
  },
  render({ id, a, tasks }) {
    if (!a) return h('div', null, h('h1', null, id), empty('The master knows no agent with this id (it may have been removed).', `nodectl token create --role agent   # on a master; then run the join command it prints`));
    const live = tasks.filter((t) => ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING'].includes(t.state));
    const attrs = Object.entries(a.attributes || {});
    return h('div', null,
      h('div', { class: 'crumbs' }, h('a', { href: '#/agents' }, 'Agents'), ' / ', a.hostname),
      h('h1', null, a.hostname, ' ', agentState(a)),
      h('div', { class: 'grid' },
        h('div', { class: 'card' }, kv([
          ['Id', h('span', { class: 'mono' }, a.id)], ['Address', h('span', { class: 'mono' }, a.pid)],
          ['Version', a.version], ['Registered', time(a.registered_time)],
          ['Re-registered', a.reregistered_time ? time(a.reregistered_time) : '–'],
          ['Last seen', time(a.last_ping)],
        ])),
        h('div', { class: 'card' },
          usage('CPUs', a.used_resources?.cpus || 0, a.resources?.cpus || 0),
          usage('Memory', a.used_resources?.mem || 0, a.resources?.mem || 0, fmtMem),
          usage('Disk', a.used_resources?.disk || 0, a.resources?.disk || 0, fmtMem),
          h('div', { class: 'muted' }, 'ports ', a.resources?.ports || '–'),
          Object.keys(a.reserved_resources_full || {}).length > 0 && h('div', null, h('a', { href: '#/volumes?agent=' + encodeURIComponent(a.id), id: 'agent-volumes' }, 'reservations and volumes on this agent'))),
        h('div', { class: 'card' }, h('h3', null, 'Attributes'),
          attrs.length ? kv(attrs.map(([k, v]) => [k, String(v)])) : h('p', { class: 'muted', style: 'margin:0' }, 'none (set with ', h('code', null, '--attributes rack:a;zone:1'), ')'))),
      a.active && [h('h2', null, 'Resource use'), agentCharts(a.id)], // charts.js
      h('h2', null, `Running tasks (${live.length})`),
      live.length ? table([
        ['Task', (t) => h('a', { href: taskLink(t.id) }, t.id)],
        ['State', (t) => stateBadge(t.state)],
        ['Framework', (t) => h('a', { href: frameworkLink(t.framework_id) }, t.framework_id.slice(-12)), 'hide-sm'],
        ['CPUs', (t) => String(t.resources?.cpus ?? ''), 'num'],
        ['Mem', (t) => String(t.resources?.mem ?? ''), 'num'],
      ], live) : empty('No tasks run on this agent.', `nodectl execute --master ${location.host} --name hello -- echo hello`),
      h('p', null, h('a', { href: apiURL(`/agents/${encodeURIComponent(a.id)}/files/download?path=/slave/log`) }, 'agent log (/slave/log)'), h('span', { class: 'muted' }, ' — needs --log-dir on the agent')));
  },
};

export const frameworksList = {
  title: 'Frameworks',
  refresh: 3000,
  async load() { return api('/frameworks'); },
  render({ frameworks = [], completed_frameworks = [] }) {
    const all = [...frameworks, ...completed_frameworks];
    return h('div', null,
      h('h1', null, 'Frameworks'),
      all.length === 0 ? empty('No frameworks registered. The built-in Marathon framework registers once the master leads.', `nodectl health --addr ${location.host}`) : table([
        ['Name', (f) => h('a', { href: frameworkLink(f.id) }, f.name)],
        ['State', (f) => f.active ? badge('active', 'ok') : f.connected === false ? badge('disconnected', 'warn') : badge('completed')],
        ['Role', (f) => f.role || (f.roles || []).join(', ')],
        ['Tasks', (f) => String((f.tasks || []).length), 'num'],
        ['CPUs', (f) => fmtNum(f.used_resources?.cpus), 'num hide-sm'],
        ['Mem', (f) => fmtMem(f.used_resources?.mem), 'num hide-sm'],
        ['Registered', (f) => time(f.registered_time), 'hide-sm'],
        ['Id', (f) => h('span', { class: 'mono' }, f.id), 'hide-sm'],
      ], all));
  },
};

export const frameworkDetail = {
  title: (p) => p.id,
  refresh: 3000,
  async load({ id }) {
    const { frameworks = [], completed_frameworks = [] } = await api('/frameworks');
    return { id, f: [...frameworks, ...completed_frameworks].find((f) => f.id === id) };
  },
  render({ id, f }) {
    if (!f) return h('div', null, h('h1', null, id), empty('No framework with this id.', 'see Frameworks'));
    const tasks = [...(f.tasks || []), ...(f.completed_tasks || [])];
    return h('div', null,
      h('div', { class: 'crumbs' }, h('a', { href: '#/frameworks' }, 'Frameworks'), ' / ', f.name),
      h('h1', null, f.name, ' ', f.active ? badge('active', 'ok') : badge('inactive')),
      h('div', { class: 'card' }, kv([
        ['Id', h('span', { class: 'mono' }, f.id)], ['User', f.user], ['Principal', f.principal || '–'], ['Role', f.role || (f.roles || []).join(', ')],
        ['Checkpoint', String(!!f.checkpoint)], ['Failover timeout', `${f.failover_timeout || 0}s`], ['Host', f.hostname],
        ['Registered', time(f.registered_time)], ['Web UI', f.webui_url ? h('a', { href: f.webui_url }, f.webui_url) : '–'],
        ['Used', `cpus ${fmtNum(f.used_resources?.cpus)} · mem ${fmtMem(f.used_resources?.mem)}`],
      ])),
      h('h2', null, `Tasks (${tasks.length})`),
      tasks.length ? table([
        ['Task', (t) => h('a', { href: taskLink(t.id) }, t.id)],
        ['State', (t) => stateBadge(t.state)],
        ['Agent', (t) => h('a', { href: agentLink(t.slave_id) }, t.slave_id.slice(-6)), 'hide-sm'],
      ], tasks.slice(0, 500)) : empty('This framework has no tasks.', `nodectl app run --master ${location.host} -f app.json`));
  },
};
