// Resource history charts: inline SVG line charts of what the agents sample
// (docs/runtime.md "Resource history"). Each widget loads its own series
// every 10 s and survives page re-renders (data-keep), like the log tail.
//
//   taskCharts(task)          one task: /agents/{id}/monitor/history?task=
//   appCharts(appId, tasks)   an app: the sum of its tasks' series
//   agentCharts(agentId)      an agent: /agents/{id}/monitor/summary, used vs allocated
//   clusterCharts()           the cluster's last hour: /monitor/cluster
import { h, api, fmtBytes } from './lib.js';

const svgNS = 'http://www.w3.org/2000/svg';
const W = 320, H = 96, PAD = 4;
const maxAppTasks = 20; // an app's sum reads at most this many tasks' series

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of kids) if (c) el.append(c);
  return el;
}

// lineChart draws series [{label, points: [[t, v]...], cls}] with a shared
// scale from 0; limit (if any) is a dashed line (allocated or total).
export function lineChart(title, series, fmt, limit) {
  const pts = series.flatMap((x) => x.points);
  const n = series[0]?.points.length || 0;
  const box = h('div', { class: 'chart', 'data-chart': title, 'data-samples': String(n) });
  const last = series[0]?.points.at(-1)?.[1];
  box.append(h('div', { class: 'chart-head' }, h('b', null, title), ' ',
    h('span', { class: 'muted' }, last == null ? 'no samples yet' : fmt(last) + (limit ? ' of ' + fmt(limit) : ''))));
  if (n === 0) {
    box.append(h('div', { class: 'chart-empty muted' }, 'The agent samples every few seconds; the chart fills in.'));
    return box;
  }
  const t0 = Math.min(...pts.map((p) => p[0])), t1 = Math.max(...pts.map((p) => p[0]), t0 + 1);
  const vmax = Math.max(...pts.map((p) => p[1]), limit || 0) * 1.1 || 1;
  const x = (t) => PAD + (W - 2 * PAD) * (t - t0) / (t1 - t0);
  const y = (v) => H - PAD - (H - 2 * PAD) * v / vmax;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-label': title, preserveAspectRatio: 'none' });
  svg.append(s('line', { x1: PAD, x2: W - PAD, y1: y(0), y2: y(0), class: 'chart-axis' }));
  if (limit) svg.append(s('line', { x1: PAD, x2: W - PAD, y1: y(limit), y2: y(limit), class: 'chart-limit' }, s('title', {}, 'allocated ' + fmt(limit))));
  for (const ser of series) {
    if (!ser.points.length) continue;
    const d = ser.points.map((p, i) => `${i ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join('');
    svg.append(s('path', { d, class: 'chart-line ' + (ser.cls || ''), 'data-series': ser.label }, s('title', {}, ser.label)));
  }
  box.append(svg);
  const span = Math.round((t1 - t0) / 60);
  box.append(h('div', { class: 'chart-foot muted' }, `last ${span ? span + ' min' : (t1 - t0) + ' s'}`,
    series.length > 1 ? [' · ', series.map((x, i) => [i ? ', ' : '', h('span', { class: 'chart-key ' + (x.cls || '') }, '—'), ' ', x.label])] : ''));
  return box;
}

const cores = (v) => v.toFixed(v < 1 ? 2 : 1) + ' cores';
const mb = (v) => fmtBytes(v * 1024 * 1024);

// widget is a self-refreshing container kept across re-renders.
function widget(key, load, draw) {
  const box = h('div', { class: 'charts', 'data-keep': key, id: 'charts' }, h('span', { class: 'muted' }, 'loading resource history…'));
  let timer = null, stopped = false, seen = false;
  box._destroy = () => { stopped = true; clearTimeout(timer); };
  const tick = async () => {
    if (box.isConnected) seen = true; else if (seen) stopped = true;
    if (stopped) return;
    try {
      box.replaceChildren(...draw(await load()));
    } catch (e) {
      box.replaceChildren(h('div', { class: 'muted', id: 'charts-error' }, 'No resource history: ' + (e.apiMessage || e.message)));
    }
    timer = setTimeout(tick, 10000);
  };
  tick();
  return box;
}

const pts = (samples, f) => samples.map((x) => [x.t, f(x)]);

function taskSeriesCharts(samples, alloc) {
  return [
    lineChart('CPU', [{ label: 'used', points: pts(samples, (x) => x.cpus) }], cores, alloc.cpus),
    lineChart('Memory', [{ label: 'used', points: pts(samples, (x) => x.mem_bytes / 1048576) }], mb, alloc.mem_mb),
    lineChart('Disk', [{ label: 'sandbox', points: pts(samples, (x) => x.disk_bytes / 1048576) }], mb, alloc.disk_mb),
    samples.some((x) => x.net_rx_bps || x.net_tx_bps) && lineChart('Network', [
      { label: 'in', points: pts(samples, (x) => x.net_rx_bps || 0) },
      { label: 'out', points: pts(samples, (x) => x.net_tx_bps || 0), cls: 'alt' }], (v) => fmtBytes(v) + '/s'),
  ].filter(Boolean);
}

const historyURL = (agentId, taskId) => `/agents/${encodeURIComponent(agentId)}/monitor/history?task=${encodeURIComponent(taskId)}`;

export function taskCharts(t) {
  if (!t.slave_id) return null;
  return widget('charts:task:' + t.id, () => api(historyURL(t.slave_id, t.id)), (d) => taskSeriesCharts(d.samples || [], d.allocated || {}));
}

// appCharts sums the series of the app's running tasks by sample time
// (rounded to the interval, as agents sample independently).
export function appCharts(appId, tasks) {
  const ids = tasks.filter((t) => t.slaveId && t.state === 'TASK_RUNNING').slice(0, maxAppTasks);
  const key = 'charts:app:' + appId + ':' + ids.map((t) => t.id).join(',');
  return widget(key, async () => {
    const all = await Promise.all(ids.map((t) => api(historyURL(t.slaveId, t.id)).catch(() => null)));
    const by = new Map();
    const alloc = { cpus: 0, mem_mb: 0, disk_mb: 0 };
    for (const d of all.filter(Boolean)) {
      const iv = d.interval_seconds || 10;
      alloc.cpus += d.allocated.cpus; alloc.mem_mb += d.allocated.mem_mb; alloc.disk_mb += d.allocated.disk_mb;
      for (const x of d.samples) {
        const t = Math.round(x.t / iv) * iv;
        const acc = by.get(t) || { t, cpus: 0, mem_bytes: 0, disk_bytes: 0, net_rx_bps: 0, net_tx_bps: 0 };
        acc.cpus += x.cpus; acc.mem_bytes += x.mem_bytes; acc.disk_bytes += x.disk_bytes;
        acc.net_rx_bps += x.net_rx_bps || 0; acc.net_tx_bps += x.net_tx_bps || 0;
        by.set(t, acc);
      }
    }
    return { samples: [...by.values()].sort((a, b) => a.t - b.t), alloc, n: all.filter(Boolean).length };
  }, (d) => [h('div', { class: 'muted chart-note' }, `sum of ${d.n} running task${d.n === 1 ? '' : 's'}`), ...taskSeriesCharts(d.samples, d.alloc)]);
}

// usedVsAllocated draws a summary (agent or cluster): used and allocated
// against the total.
function usedVsAllocated(samples, total) {
  return [
    lineChart('CPU', [{ label: 'used', points: pts(samples, (x) => x.cpus) }, { label: 'allocated', points: pts(samples, (x) => x.alloc_cpus || 0), cls: 'alt' }], cores, total.cpus),
    lineChart('Memory', [{ label: 'used', points: pts(samples, (x) => x.mem_bytes / 1048576) }, { label: 'allocated', points: pts(samples, (x) => x.alloc_mem_mb || 0), cls: 'alt' }], mb, total.mem_mb),
    lineChart('Disk', [{ label: 'used', points: pts(samples, (x) => x.disk_bytes / 1048576) }, { label: 'allocated', points: pts(samples, (x) => x.alloc_disk_mb || 0), cls: 'alt' }], mb, total.disk_mb),
  ];
}

export function agentCharts(agentId) {
  return widget('charts:agent:' + agentId, () => api(`/agents/${encodeURIComponent(agentId)}/monitor/summary`), (d) => usedVsAllocated(d.samples || [], d.total || {}));
}

export function clusterCharts() {
  return widget('charts:cluster', () => api('/monitor/cluster'), (d) => {
    const samples = d.samples || [];
    const last = samples.at(-1) || {};
    return usedVsAllocated(samples, { cpus: last.total_cpus, mem_mb: last.total_mem_mb, disk_mb: last.total_disk_mb });
  });
}
