// Cluster admin: masters and quorum health, join tokens, snapshots.
//
// The page detects what the master offers instead of assuming a version:
// /state's "masters" (the quorum, api.Quorum) exists once multi-master
// (HA) is in; without it the sections are the single-master empty states.
// Token administration, member removal and snapshots need manage_cluster
// (superusers, unless an ACL grants it): without it the page does not ask
// for the tokens, and their buttons are disabled with that reason. A 403
// all the same (an ACL the page cannot see) is shown as a note naming the
// CLI command to run on a master, not as an error; a 404 on
// /master/tokens means a build without them.
import { h, api, apiURL, ApiError, kv, table, time, empty, badge, errorBox, ask, fmtBytes } from '../lib.js';
import { rerender } from '../router.js';
import { can, allowed, headers, signedOut } from '../session.js';

// notice is an action's outcome, shown in its section until the next
// action: {section, kind: 'ok'|'error'|'refused', text, command?, copy?}.
let notice = null;

// refused reports whether e is the API refusing the principal.
const refused = (e) => e instanceof ApiError && e.status === 403;

// optional fetches url; a 404 (endpoint not in this build) gives
// {missing}, a 403 {refused}.
async function optional(url) {
  try {
    return { data: await api(url) };
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return { missing: true };
    if (refused(e)) return { refused: e };
    return { error: e };
  }
}

function refusedBox(what, e, command) {
  return h('div', { class: 'empty refused', role: 'note' },
    h('p', { style: 'margin:0' }, `${what} needs manage_cluster`, e ? ` (the master said: ${e.apiMessage})` : '', '.'),
    h('p', { style: 'margin:.5rem 0 0' }, 'Sign in as a superuser, or run on a master: ', h('code', null, command)));
}

async function act(section, f, refusedText, command) {
  notice = null;
  try {
    const r = await f();
    if (r) notice = { section, kind: 'ok', ...(typeof r === 'string' ? { text: r } : r) };
  } catch (e) {
    notice = refused(e) ? { section, kind: 'refused', error: e, text: refusedText, command } : { section, kind: 'error', error: e };
  }
  rerender(0);
}

function noticeBox(section) {
  if (!notice || notice.section !== section) return null;
  if (notice.kind === 'error') return errorBox(notice.error);
  if (notice.kind === 'refused') return refusedBox(notice.text, notice.error, notice.command);
  return h('div', { class: 'card ok-note', role: 'status' }, notice.text, notice.copy && copyButton(notice.copy));
}

function copyButton(text) {
  return h('span', null, ' ', h('code', { class: 'join-command' }, text), ' ',
    h('button', { onclick: async (ev) => {
      try { await navigator.clipboard.writeText(text); ev.target.textContent = 'Copied'; } catch { ev.target.textContent = 'Select and copy'; }
    } }, 'Copy'));
}

const sections = {
  masters({ state }) {
    const q = state.masters;
    if (!q) {
      return h('section', null,
        h('h2', null, 'Masters'),
        table([
          ['Id', (m) => h('span', { class: 'mono' }, m.id)],
          ['Address', (m) => h('span', { class: 'mono' }, `${m.ip}:${m.port}`)],
          ['Hostname', (m) => m.hostname],
          ['Role', () => badge('leader', 'ok')],
          ['Version', (m) => m.version],
          ['Elected', () => time(state.elected_time)],
        ], [state.leader_info].filter(Boolean)),
        h('p', { class: 'muted' }, 'Single master; HA arrives with ', h('code', null, 'nodectl up --role=master --join <leader>'), '.'));
    }
    const members = q.members || [];
    const remove = async (m) => {
      if (!await ask({ title: `Remove master ${m.name || m.id}?`, text: `Member ${m.id} leaves the quorum (${q.voters} voters, quorum ${q.quorum}). Its master stops and must be wiped to join again.`, ok: 'Remove', danger: true })) return;
      await act('masters', async () => { await api('/master/members/' + encodeURIComponent(m.id), { method: 'DELETE' }); return `Removed member ${m.id}.`; },
        'Removing a master', `nodectl master remove ${m.id}`);
    };
    return h('section', null,
      h('h2', null, 'Masters'),
      table([
        ['Member', (m) => h('span', { class: 'mono' }, m.id)],
        ['Name', (m) => m.name || h('span', { class: 'muted' }, '(not started)')],
        ['Master API', (m) => m.master ? h('span', { class: 'mono' }, m.master) : '–'],
        ['Role', (m) => [m.master && m.master === q.leader ? badge('leader', 'ok') : null, ' ', m.learner ? badge('learner', 'info') : badge('voter'), ' ', m.leader ? badge('raft leader') : null]],
        ['Health', (m) => !m.started ? badge('not started', 'warn') : m.healthy ? badge('healthy', 'ok') : badge('unreachable', 'bad')],
        ['Peer URLs', (m) => h('span', { class: 'mono' }, (m.peer_urls || []).join(' ')), 'hide-sm'],
        ['', (m) => h('button', allowed(can('manage_cluster'), { class: 'danger member-remove', 'data-member': m.id, onclick: () => remove(m) }), 'Remove')],
      ], members, { rowAttrs: (m) => ({ 'data-member-row': m.id }) }),
      noticeBox('masters'),
      h('p', { class: 'muted' }, 'Add a master: ', h('code', null, `nodectl token create --role master`), ' then ', h('code', null, `nodectl up --role=master --join https://${location.host} --token <token>`)));
  },
  quorum({ state }) {
    const q = state.masters;
    if (!q) {
      return h('section', null,
        h('h2', null, 'Quorum'),
        empty('One embedded etcd member: the quorum is this master. Member health and removal appear here once multi-master (HA) lands.',
          'nodectl up --role=master --join <leader>'));
    }
    // etcd's NOSPACE alarm: the database is full and every write fails.
    const full = (q.alarms || []).includes('NOSPACE');
    const dbSize = Math.max(0, ...(q.members || []).map((m) => m.db_size || 0));
    return h('section', null,
      h('h2', null, 'Quorum ', q.healthy ? badge('healthy', 'ok') : badge('no quorum', 'bad'), full ? [' ', badge('database full', 'bad')] : null),
      h('div', { class: 'card', id: 'quorum' }, kv([
        ['Voters', `${q.healthy_voters} of ${q.voters} healthy (quorum ${q.quorum})`],
        ['Learners', String(q.learners)],
        ['Leading master', q.leader ? h('span', { class: 'mono' }, q.leader) : 'none'],
        ['Raft leader', q.etcd_leader ? h('span', { class: 'mono' }, q.etcd_leader) : 'none'],
        ['Raft term', String(q.raft_term)],
        ['Leader changes', String(q.leader_changes)],
        ...(q.db_quota ? [['Database', `${fmtBytes(dbSize)} of ${fmtBytes(q.db_quota)} quota`]] : []),
        ...((q.alarms || []).length ? [['etcd alarms', h('span', { class: 'mono', id: 'etcd-alarms' }, q.alarms.join(', '))]] : []),
      ])),
      full && empty('The etcd database is full (NOSPACE): every write fails. On a master, as root, run:',
        'nodectl etcd recover --work-dir /var/lib/nodectl   (docs/ha.md, "A full etcd database")'),
      !q.healthy && empty('Writes are refused until a majority of voters is back. If they are lost for good, reset from a survivor.',
        'nodectl up --role=master --cluster-reset   (docs/ha.md, "Snapshots and disaster recovery")'));
  },
  tokens({ state, tokens }) {
    const title = h('h2', null, 'Join tokens');
    if (!state.masters || !tokens || tokens.missing) {
      return h('section', null, title,
        empty('Join tokens (create with a TTL and use count, copy the join command, revoke) are not served by this master.',
          `nodectl token create --role agent   # on a master; then run the join command it prints`));
    }
    if (tokens.denied || tokens.refused) {
      return h('section', null, title,
        h('div', { class: 'toolbar' }, h('button', allowed(can('manage_cluster') || 'needs manage_cluster', { id: 'token-create', class: 'primary' }), 'Create token')),
        noticeBox('tokens'), refusedBox('Listing join tokens', tokens.refused, 'nodectl token list'));
    }
    if (tokens.error) return h('section', null, title, errorBox(tokens.error));
    const list = tokens.data.tokens || [];
    const create = async () => {
      const v = await ask({ title: 'Create a join token', ok: 'Create', fields: [
        { name: 'role', label: 'Role (agent or master)', value: 'agent' },
        { name: 'ttl', label: 'Valid for (Go duration; 0: never expires)', value: '24h' },
        { name: 'uses', label: 'Uses (0: unlimited)', type: 'number', value: 1, min: 0 }] });
      if (!v) return;
      await act('tokens', async () => {
        const r = await api('/master/tokens', { method: 'POST', body: { role: v.role, ttl: v.ttl, uses: Number(v.uses) } });
        return { text: `Token ${r.info.id} created. Join with:`, copy: r.join_command };
      }, 'Creating a join token', `nodectl token create --role ${v.role} --ttl ${v.ttl} --uses ${v.uses}`);
    };
    const revoke = async (tk) => {
      if (!await ask({ title: `Revoke token ${tk.id}?`, text: 'Nodes can no longer join with it; nodes that joined keep their certificates.', ok: 'Revoke', danger: true })) return;
      await act('tokens', async () => { await api('/master/tokens/' + encodeURIComponent(tk.id), { method: 'DELETE' }); return `Revoked token ${tk.id}.`; },
        'Revoking a join token', `nodectl token revoke ${tk.id}`);
    };
    const stateOf = (tk) => tk.revoked ? 'revoked' : tk.expires && Date.parse(tk.expires) <= Date.now() ? 'expired' : tk.uses > 0 && tk.used >= tk.uses ? 'used up' : 'valid';
    return h('section', null, title,
      h('div', { class: 'toolbar' }, h('button', { id: 'token-create', class: 'primary', onclick: create }, 'Create token')),
      noticeBox('tokens'),
      list.length ? table([
        ['Id', (tk) => h('span', { class: 'mono' }, tk.id)],
        ['Role', (tk) => tk.role],
        ['State', (tk) => { const s = stateOf(tk); return badge(s, s === 'valid' ? 'ok' : ''); }],
        ['Uses', (tk) => `${tk.used} of ${tk.uses || '∞'}`, 'num'],
        ['Expires', (tk) => tk.expires ? time(tk.expires) : 'never'],
        ['Description', (tk) => tk.description || '', 'hide-sm'],
        ['', (tk) => stateOf(tk) === 'valid' && h('button', { class: 'danger token-revoke', 'data-token': tk.id, onclick: () => revoke(tk) }, 'Revoke')],
      ], list) : empty('No join tokens.', 'nodectl token create --role agent --ttl 24h --uses 1   (or Create token above)'));
  },
  snapshots({ state }) {
    const title = h('h2', null, 'Snapshots');
    if (!state.masters) {
      return h('section', null, title,
        empty('etcd snapshots (take, list) arrive with HA cluster administration.', 'nodectl up --role=master --join <leader>'));
    }
    // GET /master/snapshot streams a fresh snapshot; fetched as a blob so
    // a refusal is shown as a message, not a page of JSON.
    const take = () => act('snapshots', async () => {
      const r = await fetch(apiURL('/master/snapshot'), { headers: headers('GET') });
      if (!r.ok) {
        if (r.status === 401) signedOut('GET /master/snapshot answered 401');
        let body = null;
        try { body = await r.json(); } catch { /* not JSON */ }
        throw new ApiError('GET', '/master/snapshot', r.status, body);
      }
      const blob = await r.blob();
      const a = h('a', { href: URL.createObjectURL(blob), download: `nodectl-snapshot-${new Date().toISOString().replace(/[:.]/g, '-')}.db` });
      document.body.append(a);
      a.click();
      a.remove();
      return `Snapshot taken (${blob.size} bytes); check it with nodectl snapshot verify FILE.`;
    }, 'Taking a snapshot', 'nodectl snapshot save FILE');
    return h('section', null, title,
      h('div', { class: 'toolbar' }, h('button', allowed(can('manage_cluster'), { id: 'snapshot-take', onclick: take }), 'Take snapshot (download)')),
      noticeBox('snapshots'),
      empty('Masters keep scheduled snapshots in <work-dir>/snapshots (every --snapshot-interval, newest --snapshot-retention kept); the API has no list of them yet.',
        'ls <work-dir>/snapshots   (on a master; nodectl snapshot verify FILE checks one)'));
  },
};

// mastersCard is the overview's masters summary: the quorum from the HA
// metrics (master/etcd_*) when the master has them, else the single
// master.
export function mastersCard(leader, metrics = {}) {
  const voters = metrics['master/etcd_members'];
  if (voters === undefined) {
    return h('div', { class: 'card', id: 'masters' }, h('h3', null, 'Masters'),
      h('div', { class: 'big' }, leader.leader ? '1' : '0'),
      h('div', { class: 'muted' }, 'single master; HA arrives with ', h('code', null, 'nodectl up --role=master --join'), ' ', h('a', { href: '#/cluster' }, 'details')));
  }
  const healthy = metrics['master/etcd_healthy_members'] ?? 0, learners = metrics['master/etcd_learners'] ?? 0;
  return h('div', { class: 'card', id: 'masters' }, h('h3', null, 'Masters ', metrics['master/etcd_quorum_healthy'] ? badge('quorum', 'ok') : badge('no quorum', 'bad'),
    metrics['master/etcd_alarm_nospace'] ? [' ', badge('etcd full', 'bad')] : null),
    h('div', { class: 'big' }, `${healthy}/${voters}`),
    h('div', { class: 'muted' }, `healthy voters${learners ? ` · ${learners} joining` : ''} · leader `, h('span', { class: 'mono' }, leader.leader || 'none'), ' ', h('a', { href: '#/cluster' }, 'details')));
}

export const cluster = {
  title: 'Cluster',
  refresh: 5000,
  async load() {
    const state = await api('/state');
    // Tokens are asked for only when the master has HA (and with it the
    // PKI): an older master would answer 404 on every refresh.
    const tokens = !state.masters ? null : can('manage_cluster') ? { denied: true } : await optional('/master/tokens');
    return { state, tokens };
  },
  render(d) {
    const s = d.state;
    return h('div', null,
      h('h1', null, 'Cluster admin'),
      h('div', { class: 'card' }, kv([
        ['Cluster', s.cluster], ['Leader', h('span', { class: 'mono' }, s.leader)], ['Version', s.version],
        ['Started', time(s.start_time)], ['Log dir', s.log_dir || '(stderr only)'],
        ['Master log', !(s.log_dir || s.external_log_file) ? 'start with --log-dir to keep one'
          : can('access_mesos_logs') ? h('span', { class: 'muted', title: can('access_mesos_logs') }, 'not readable: ', can('access_mesos_logs'))
            : h('a', { href: apiURL('/files/download?path=/master/log') }, 'download /master/log')],
      ])),
      sections.masters(d), sections.quorum(d), sections.tokens(d), sections.snapshots(d));
  },
};
