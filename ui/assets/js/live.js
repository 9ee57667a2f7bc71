// Live updates: one EventSource on the Marathon event stream (/v2/events).
// Keeps the most recent events for the overview and tells listeners, so
// pages re-render when something they show changed. Pages also poll, so a
// dropped stream only makes updates slower.

import { apiURL } from './lib.js';

const types = [
  'status_update_event', 'deployment_info', 'deployment_success', 'deployment_failed', 'deployment_step_success',
  'api_post_event', 'app_terminated_event', 'health_status_changed_event', 'event_stream_attached',
];
// refreshing are the event types after which the page re-renders.
export const refreshing = new Set(types.filter((t) => t !== 'event_stream_attached'));

const listeners = [];
export const recent = []; // newest first, at most keep
const keep = 100;
let source = null;
export let connected = false;

export function onEvent(f) { listeners.push(f); }

export function connect() {
  if (source) return;
  source = new EventSource(apiURL('/v2/events'));
  const dot = document.getElementById('live');
  source.onopen = () => { connected = true; dot?.classList.add('on'); dot?.setAttribute('title', 'live: connected to /v2/events'); };
  source.onerror = () => { connected = false; dot?.classList.remove('on'); dot?.setAttribute('title', 'live: reconnecting to /v2/events (pages still poll)'); };
  for (const t of types) {
    source.addEventListener(t, (e) => {
      let data = {};
      try { data = JSON.parse(e.data); } catch { /* keep empty */ }
      const ev = { type: t, data, at: data.timestamp || new Date().toISOString() };
      recent.unshift(ev);
      if (recent.length > keep) recent.length = keep;
      for (const f of listeners) f(ev);
    });
  }
}

// disconnect closes the stream (on sign-out; connect opens it again).
export function disconnect() {
  if (!source) return;
  source.close();
  source = null;
  connected = false;
  const dot = document.getElementById('live');
  dot?.classList.remove('on');
  dot?.setAttribute('title', 'live: not connected (signed out)');
}

// describe is a one-line summary of an event.
export function describe(ev) {
  const d = ev.data || {};
  switch (ev.type) {
    case 'status_update_event': return `${d.appId || ''} task ${d.taskId || ''} → ${d.taskStatus || ''}${d.message ? ' (' + d.message + ')' : ''}`;
    case 'deployment_info': return `deployment ${d.plan?.id?.slice(0, 8) || ''} started for ${(d.plan?.affectedApps || []).join(', ')}`;
    case 'deployment_success': return `deployment ${d.id?.slice(0, 8) || ''} finished`;
    case 'deployment_failed': return `deployment ${d.id?.slice(0, 8) || ''} failed`;
    case 'deployment_step_success': return `deployment ${d.plan?.id?.slice(0, 8) || ''} step done`;
    case 'api_post_event': return `${d.appDefinition?.id || ''} changed through ${d.uri || 'the API'}`;
    case 'app_terminated_event': return `${d.appId || ''} deleted`;
    case 'health_status_changed_event': return `${d.appId || ''} task ${d.taskId || d.instanceId || ''} ${d.alive ? 'healthy' : 'unhealthy'}`;
    case 'event_stream_attached': return `UI attached to the event stream`;
    default: return ev.type;
  }
}
