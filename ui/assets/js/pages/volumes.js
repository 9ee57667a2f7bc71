// Volumes and reservations: every agent's dynamically reserved resources
// and persistent volumes (/slaves reserved_resources_full), joined with the
// Marathon app instances that hold them (labels marathon_framework_id and
// marathon_task_id; the task JSON's localVolumes). Usage is not shown:
// only the agent's own /state measures it (`nodectl volume ls`), and the
// agent port is not the page's origin. (The volume as seen in the task's
// sandbox through the files proxy would be the empty mount point: the bind
// mount lives in the container's mount namespace.)
import { h, api, table, empty, badge, agentLink, appLink, taskLink, fmtMem } from '../lib.js';

// labelsOf is a resource's reservation labels as an object (both the
// post-refinement stack and the pre-refinement reservation are read).
export function labelsOf(r) {
  const res = r.reservations?.length ? r.reservations[r.reservations.length - 1] : r.reservation;
  const out = {};
  for (const l of res?.labels?.labels || []) out[l.key] = l.value;
  return out;
}

const scalar = (r) => r.scalar?.value ?? 0;

// collect flattens /slaves into reservation rows (one per agent, role and
// labels) and volume rows.
export function collect(slaves) {
  const reservations = [], volumes = [];
  for (const a of slaves) {
    for (const [role, list] of Object.entries(a.reserved_resources_full || {})) {
      const byKey = new Map();
      for (const r of list || []) {
        const labels = labelsOf(r);
        const key = JSON.stringify(labels);
        let row = byKey.get(key);
        if (!row) {
          row = { agent: a, role, labels, instance: labels.marathon_task_id || '', framework: labels.marathon_framework_id || '', cpus: 0, mem: 0, disk: 0, volumes: 0 };
          byKey.set(key, row);
          reservations.push(row);
        }
        if (r.disk?.persistence) {
          row.volumes++;
          volumes.push({ agent: a, role, labels, instance: row.instance, framework: row.framework, id: r.disk.persistence.id,
            containerPath: r.disk.volume?.container_path || '', mode: r.disk.volume?.mode || 'RW', size: scalar(r) });
        } else if (r.name === 'cpus' || r.name === 'mem' || r.name === 'disk') row[r.name] += scalar(r);
      }
    }
  }
  return { reservations, volumes };
}

// appOfInstance maps a Marathon instance id ("<app with / as _>.<uuid>")
// to its app, from the apps list.
function appOfInstance(apps, instance) {
  const prefix = instance.slice(0, instance.lastIndexOf('.'));
  return apps.find((a) => a.id.replace(/^\//, '').replaceAll('/', '_') === prefix)?.id || '';
}

export const volumes = {
  title: 'Volumes',
  refresh: 5000,
  async load() {
    const [{ slaves = [] }, { apps = [] }] = await Promise.all([api('/slaves'), api('/v2/apps?embed=apps.tasks')]);
    const d = collect(slaves);
    // persistence id → {app, task} of the running task that mounts it.
    const mounts = new Map();
    for (const a of apps) {
      for (const t of a.tasks || []) {
        for (const lv of t.localVolumes || []) if (t.state === 'TASK_RUNNING') mounts.set(lv.persistenceId, { app: a.id, task: t });
      }
    }
    for (const r of d.reservations) r.app = r.instance ? appOfInstance(apps, r.instance) : '';
    for (const v of d.volumes) {
      const m = mounts.get(v.id);
      v.app = m?.app || (v.instance ? appOfInstance(apps, v.instance) : '');
      v.task = m?.task || null;
    }
    return d;
  },
  render(d, params, query) {
    const only = (x) => !query.agent || x.agent.id === query.agent;
    const reservations = d.reservations.filter(only), volumes = d.volumes.filter(only);
    const agentCell = (x) => h('a', { href: agentLink(x.agent.id) }, x.agent.hostname);
    const appCell = (x) => x.app ? h('a', { href: appLink(x.app), class: 'app-link' }, x.app) : (x.instance ? h('span', { class: 'muted' }, '(app gone)') : '–');
    const instanceCell = (x) => x.instance ? h('span', { class: 'mono', title: 'marathon_task_id' }, x.instance) : h('span', { class: 'muted' }, 'operator');
    return h('div', null,
      h('h1', null, 'Volumes and reservations'),
      query.agent && h('p', null, 'On agent ', h('a', { href: agentLink(query.agent), class: 'mono' }, query.agent), ' · ', h('a', { href: '#/volumes' }, 'all agents')),
      h('h2', null, 'Persistent volumes'),
      volumes.length > 0 && table([
        ['Agent', agentCell],
        ['Role', (v) => v.role, 'hide-sm'],
        ['Persistence id', (v) => h('span', { class: 'mono volume-id' }, v.id)],
        ['Container path', (v) => h('span', { class: 'mono' }, v.containerPath), 'hide-sm'],
        ['Size', (v) => fmtMem(v.size), 'num'],
        ['App', appCell],
        ['Instance', (v) => h('span', null, instanceCell(v), ' ', v.task ? h('a', { href: taskLink(v.task.id) }, badge('running', 'ok')) : v.instance && badge('waiting', 'info')), 'hide-sm'],
      ], volumes, { rowAttrs: (v) => ({ 'data-volume': v.id }) }),
      volumes.length > 0 && h('p', { class: 'muted' }, 'Usage per volume: ', h('code', null, `nodectl volume ls --master ${location.host}`), ' (the agents measure it).'),
      !volumes.length && empty('No persistent volumes. An app with a persistent volume gets one per instance, on the agent the instance is reserved on.',
        `nodectl app run --master ${location.host} -f app.json   (container.volumes: [{"containerPath":"data","mode":"RW","persistent":{"size":64}}], see docs/stateful.md)`),
      h('h2', null, 'Reservations'),
      reservations.length ? table([
        ['Agent', agentCell],
        ['Role', (x) => x.role],
        ['App', appCell],
        ['Instance', instanceCell, 'hide-sm'],
        ['CPUs', (x) => String(+x.cpus.toFixed(3)), 'num'],
        ['Mem', (x) => fmtMem(x.mem), 'num'],
        ['Disk', (x) => fmtMem(x.disk), 'num'],
        ['Volumes', (x) => String(x.volumes), 'num'],
      ], reservations) : empty('No dynamically reserved resources on any agent. Resident apps reserve theirs; operators reserve with the master\'s endpoint.',
        `curl -X POST ${location.origin}/master/reserve -d slaveId=<agent id> -d 'resources=[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"ads","reservation":{}}]'`));
  },
};
