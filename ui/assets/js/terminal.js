// The task page's terminal: an exec session in the running task (the same
// WebSocket as `nodectl exec -it`; protocol in docs/exec.md), shown with
// xterm.js (vendored from npm in /ui/vendor/xterm, `make vendor-ui`).
// The process runs inside the task's container as the task's user; closing
// the page or the session kills it.
import { h } from './lib.js';

// Channel bytes (cluster/api/exec.go).
const STDIN = 0, STDOUT = 1, STDERR = 2, EXIT = 3, RESIZE = 4;

let xterm = null;
function loadXterm() {
  if (!document.getElementById('xterm-css')) {
    document.head.append(h('link', { rel: 'stylesheet', href: '/ui/vendor/xterm/xterm.css', id: 'xterm-css' }));
  }
  xterm ??= Promise.all([import('/ui/vendor/xterm/xterm.mjs'), import('/ui/vendor/xterm/addon-fit.mjs')]);
  return xterm;
}

// argv is what the command box runs: one word as is, else through /bin/sh -c.
const argv = (s) => (/\s/.test(s.trim()) ? ['/bin/sh', '-c', s.trim()] : [s.trim()]);

export function terminalView(t) {
  const input = h('input', { type: 'text', value: '/bin/sh', id: 'term-command', 'data-key': 'term-command', class: 'mono', size: 40, title: 'one program, or a shell command line (run with /bin/sh -c)' });
  const status = h('span', { class: 'muted', id: 'term-status' }, 'not connected');
  const button = h('button', { id: 'term-connect', type: 'submit' }, 'Connect');
  const screen = h('div', { class: 'term', id: 'term' });
  const form = h('form', { class: 'toolbar' }, h('label', { for: 'term-command' }, 'Command'), input, button, status);
  const box = h('div', { 'data-keep': 'term:' + t.framework_id + ':' + t.id }, form, screen);
  let ws = null, term = null, fit = null, observer = null;
  const enc = new TextEncoder();
  const send = (ch, bytes) => {
    if (ws?.readyState !== WebSocket.OPEN) return;
    const msg = new Uint8Array(bytes.length + 1);
    msg[0] = ch; msg.set(bytes, 1);
    ws.send(msg);
  };
  box._destroy = () => { ws?.close(); observer?.disconnect(); term?.dispose(); };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (ws) { ws.close(); return; }
    const cmd = input.value.trim();
    if (!cmd) return;
    status.textContent = 'connecting…';
    try {
      const [{ Terminal }, { FitAddon }] = await loadXterm();
      if (!term) {
        term = new Terminal({ cursorBlink: true, fontSize: 13, convertEol: false, theme: { background: '#0f1520' } });
        fit = new FitAddon();
        term.loadAddon(fit);
        term.open(screen);
        term.onData((d) => send(STDIN, enc.encode(d)));
        term.onResize(({ rows, cols }) => send(RESIZE, enc.encode(JSON.stringify({ rows, cols }))));
        observer = new ResizeObserver(() => { try { fit.fit(); } catch { /* hidden */ } });
        observer.observe(screen);
      }
      fit.fit();
      term.reset();
      const q = new URLSearchParams({ tty: '1', stdin: '1', rows: term.rows, cols: term.cols, framework_id: t.framework_id });
      for (const a of argv(cmd)) q.append('command', a);
      const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/tasks/' + encodeURIComponent(t.id) + '/exec?' + q;
      const sock = new WebSocket(url);
      sock.binaryType = 'arraybuffer';
      ws = sock;
      let exited = false;
      sock.onopen = () => { status.textContent = 'connected: ' + cmd; button.textContent = 'Disconnect'; box.dataset.state = 'open'; term.focus(); };
      sock.onmessage = (ev) => {
        const b = new Uint8Array(ev.data);
        if (b[0] === STDOUT || b[0] === STDERR) term.write(b.subarray(1));
        else if (b[0] === EXIT) {
          exited = true;
          const st = JSON.parse(new TextDecoder().decode(b.subarray(1)));
          status.textContent = st.error ? 'could not run: ' + st.error : `exited with code ${st.code}`;
          term.write(`\r\n[${st.error ? st.error : 'exited with code ' + st.code}]\r\n`);
        }
      };
      sock.onclose = () => {
        if (ws === sock) ws = null;
        if (!exited) status.textContent = 'disconnected (the session was refused or ended; see the master log)';
        button.textContent = 'Connect';
        box.dataset.state = 'closed';
      };
    } catch (err) {
      status.textContent = 'cannot open the terminal: ' + (err.message || err);
    }
  });
  return box;
}
