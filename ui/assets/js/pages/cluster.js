// Cluster admin (masters, quorum, join tokens, snapshots) and volumes /
// reservations. Each section is a function of the loaded data, so the HA
// and stateful issues replace one section when their endpoints land. Until
// then the sections say what exists and which command comes next; they never
// invent data.
import { h, api, kv, table, time, empty, badge, agentLink, fmtMem } from '../lib.js';

const sections = {
  masters: ({ state }) => h('section', null,
    h('h2', null, 'Masters'),
    table([
      ['Id', (m) => h('span', { class: 'mono' }, m.id)],
      ['Address', (m) => h('span', { class: 'mono' }, `${m.ip}:${m.port}`)],
      ['Hostname', (m) => m.hostname],
      ['Role', () => badge('leader', 'ok')],
      ['Version', (m) => m.version],
      ['Elected', () => time(state.elected_time)],
    ], [state.leader_info].filter(Boolean)),
    h('p', { class: 'muted' }, 'Single master; HA arrives with ', h('code', null, 'nodectl up --role=master --join <leader>'), '.')),
  quorum: () => h('section', null,
    h('h2', null, 'Quorum'),
    empty('One embedded etcd member: the quorum is this master. Member health and removal appear here once multi-master (HA) lands.',
      'nodectl up --role=master --join <leader>')),
  tokens: () => h('section', null,
    h('h2', null, 'Join tokens'),
    empty('Join tokens (create with a TTL and use count, copy the join command, revoke) arrive with HA. Agents join with --master today.',
      `nodectl token create --role agent   # on a master; then run the join command it prints`)),
  snapshots: () => h('section', null,
    h('h2', null, 'Snapshots'),
    empty('etcd snapshots (take, list) arrive with HA cluster administration.', 'nodectl up --role=master --join <leader>')),
};

// mastersCard is the overview's masters summary. Until HA lands there is
// one master, the leader; the HA work replaces this with the member list.
export function mastersCard(leader) {
  return h('div', { class: 'card', id: 'masters' }, h('h3', null, 'Masters'),
    h('div', { class: 'big' }, leader.leader ? '1' : '0'),
    h('div', { class: 'muted' }, 'single master; HA arrives with ', h('code', null, 'nodectl up --role=master --join'), ' ', h('a', { href: '#/cluster' }, 'details')));
}

export const cluster = {
  title: 'Cluster',
  refresh: 5000,
  async load() { return { state: await api('/state') }; },
  render(d) {
    const s = d.state;
    return h('div', null,
      h('h1', null, 'Cluster admin'),
      h('div', { class: 'card' }, kv([
        ['Cluster', s.cluster], ['Leader', h('span', { class: 'mono' }, s.leader)], ['Version', s.version],
        ['Started', time(s.start_time)], ['Log dir', s.log_dir || '(stderr only)'],
        ['Master log', s.log_dir || s.external_log_file ? h('a', { href: '/files/download?path=/master/log' }, 'download /master/log') : 'start with --log-dir to keep one'],
      ])),
      sections.masters(d), sections.quorum(d), sections.tokens(d), sections.snapshots(d));
  },
};

export const volumes = {
  title: 'Volumes',
  refresh: 5000,
  async load() { return api('/slaves'); },
  render({ slaves = [] }) {
    const rows = [];
    for (const a of slaves) {
      for (const [role, r] of Object.entries(a.reserved_resources || {})) rows.push({ agent: a, role, r });
    }
    return h('div', null,
      h('h1', null, 'Volumes and reservations'),
      h('h2', null, 'Reservations'),
      rows.length ? table([
        ['Agent', (x) => h('a', { href: agentLink(x.agent.id) }, x.agent.hostname)],
        ['Role', (x) => x.role],
        ['CPUs', (x) => String(x.r.cpus ?? 0), 'num'],
        ['Mem', (x) => fmtMem(x.r.mem), 'num'],
        ['Disk', (x) => fmtMem(x.r.disk), 'num'],
      ], rows) : empty('No reserved resources on any agent. Stateful apps (persistent volumes, reservations) are not in this build yet.',
        'curl -X POST ' + location.origin + '/master/reserve   (once the stateful issue lands)'),
      h('h2', null, 'Persistent volumes'),
      empty('No persistent volumes. They appear here with the apps that use them once stateful apps land.',
        'an app with container.volumes[].persistent (see docs/apps.md)'));
  },
};
