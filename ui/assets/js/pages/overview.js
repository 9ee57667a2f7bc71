// Overview: health, leader, masters, agents, resources, tasks by state,
// apps and recent events.
import { h, api, usage, fmtMem, fmtNum, empty, time, agentLink, appLink, badge, stateBadge } from '../lib.js';
import * as live from '../live.js';
import { appStatus, statusBadge } from './apps.js';
import { mastersCard } from './cluster.js';
import { clusterCharts } from '../charts.js';

const liveStates = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE'];
const doneStates = ['TASK_FINISHED', 'TASK_KILLED', 'TASK_FAILED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE'];

export const overview = {
  title: 'Overview',
  refresh: 3000,
  async load() {
    const [summary, metrics, leader, apps] = await Promise.all([
      api('/state-summary'), api('/metrics/snapshot'), api('/v2/leader'),
      api('/v2/apps?embed=apps.counts&embed=apps.deployments'),
    ]);
    return { summary, metrics, leader, apps: apps.apps || [] };
  },
  render({ summary, metrics, leader, apps }) {
    const m = (k) => metrics['master/' + k] ?? 0;
    const agents = summary.slaves || [];
    const active = agents.filter((a) => a.active).length;
    const healthy = m('elected') === 1 && active > 0;
    const counts = {};
    for (const a of agents) for (const s of [...liveStates, ...doneStates]) counts[s] = (counts[s] || 0) + (a[s] || 0);
    const byStatus = {};
    for (const a of apps) { const s = appStatus(a); byStatus[s] = (byStatus[s] || 0) + 1; }
    return h('div', null,
      h('h1', null, 'Cluster ', h('span', { class: 'muted' }, summary.cluster || '')),
      h('div', { class: 'grid' },
        h('div', { class: 'card', id: 'health' }, h('h3', null, 'Health'),
          h('div', { class: 'big' }, healthy ? badge('healthy', 'ok') : badge(active ? 'no leader' : 'no active agents', 'bad')),
          h('div', { class: 'muted' }, `up ${fmtNum(m('uptime_secs') / 60, 1)} min`)),
        h('div', { class: 'card' }, h('h3', null, 'Leader'),
          h('div', { class: 'mono' }, leader.leader || '–'),
          h('div', { class: 'muted' }, summary.hostname || '')),
        mastersCard(leader, metrics),
        h('div', { class: 'card' }, h('h3', null, 'Agents'),
          h('div', { class: 'big' }, h('a', { href: '#/agents' }, `${active} active`)),
          h('div', { class: 'muted' }, `${agents.length - active} inactive · ${m('slaves_unreachable')} unreachable`))),
      h('h2', null, 'Resources'),
      h('div', { class: 'grid' },
        h('div', { class: 'card' }, usage('CPUs', m('cpus_used'), m('cpus_total'))),
        h('div', { class: 'card' }, usage('Memory', m('mem_used'), m('mem_total'), fmtMem)),
        h('div', { class: 'card' }, usage('Disk', m('disk_used'), m('disk_total'), fmtMem))),
      h('h2', null, 'Utilisation, last hour'), clusterCharts(), // charts.js
      h('h2', null, 'Tasks by state'),
      h('div', { class: 'card' }, h('div', { class: 'chips', id: 'task-states' },
        liveStates.map((s) => h('a', { href: '#/tasks?state=' + s }, stateBadge(s), ' ', h('b', null, String(counts[s] || 0)))),
        h('span', { class: 'muted' }, ' · finished since start: '),
        doneStates.map((s) => h('a', { href: '#/tasks?state=' + s }, stateBadge(s), ' ', String(m('tasks_' + s.slice(5).toLowerCase()))))),
      ),
      h('div', { class: 'grid', style: 'margin-top:.75rem' },
        h('div', { class: 'card' }, h('h3', null, 'Apps'),
          apps.length ? [
            h('div', { class: 'chips' }, Object.entries(byStatus).map(([s, n]) => h('span', null, statusBadge(s), ' ', String(n)))),
            h('ul', { style: 'margin:.4rem 0 0;padding-left:1.1rem' }, apps.slice(0, 8).map((a) => h('li', null, h('a', { href: appLink(a.id) }, a.id), ' ', h('span', { class: 'muted' }, `${a.tasksRunning}/${a.instances}`)))),
            apps.length > 8 && h('a', { href: '#/apps' }, `all ${apps.length} apps`),
          ] : empty('No apps yet.', `nodectl app run --master ${location.host} -f app.json   (or the Create button on Apps)`)),
        h('div', { class: 'card' }, h('h3', null, 'Agents'),
          agents.length ? h('ul', { style: 'margin:0;padding-left:1.1rem' }, agents.slice(0, 8).map((a) => h('li', null,
            h('a', { href: agentLink(a.id) }, a.hostname), ' ', a.active ? badge('active', 'ok') : badge('inactive', 'bad'),
            h('span', { class: 'muted' }, ` ${a.TASK_RUNNING || 0} running`))))
            : empty('No agents registered.', `nodectl token create --role agent   # on a master; then run the join command it prints`))),
      h('h2', null, 'Recent events'),
      h('div', { class: 'card' }, live.recent.length
        ? h('ul', { class: 'events', id: 'events' }, live.recent.slice(0, 30).map((ev) => h('li', null, time(ev.at), ' ', badge(ev.type.replace(/_event$/, '')), ' ', live.describe(ev))))
        : h('p', { class: 'muted', style: 'margin:0' }, live.connected ? 'No events since this page was opened.' : 'Connecting to /v2/events…')),
    );
  },
};
