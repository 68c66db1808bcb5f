// The dashboard page (ops-spec §5.6). It renders from one server-sent-event stream,
// /api/events: the public-stats payload without a token, or, with the admin token from the
// token box (sent as ?admin_token=, since EventSource cannot set headers), the admin snapshot
// {stats, public, workers, replication, pulse}. When the stream cannot be opened it falls back
// to polling /api/public-stats every 30 s and tries the stream again.
//
// Every server string reaches the DOM through textContent, never innerHTML.
'use strict';

(function () {
  const THEME_KEY = 'pilot_dash_theme';
  const TOKEN_KEY = 'pilot_dash_token';
  const PULSE_POINTS = 120;
  const POLL_MS = 30000;

  const $ = (id) => document.getElementById(id);

  // ---- storage (a browser with storage disabled still gets a working page) ----
  function load(key) {
    try { return window.localStorage.getItem(key) || ''; } catch (e) { return ''; }
  }
  function save(key, value) {
    try {
      if (value) window.localStorage.setItem(key, value); else window.localStorage.removeItem(key);
    } catch (e) { /* storage unavailable: the setting lasts for this page only */ }
  }

  // ---- theme ----
  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    $('theme-toggle').textContent = theme === 'dark' ? 'Light' : 'Dark';
    drawPulse();
  }
  function initialTheme() {
    const stored = load(THEME_KEY);
    if (stored === 'dark' || stored === 'light') return stored;
    return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  }

  // ---- formatting ----
  function formatCount(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '–';
    if (n < 1000) return String(Math.floor(n));
    const units = [[1e9, 'B'], [1e6, 'M'], [1e3, 'K']];
    for (const [scale, suffix] of units) {
      if (n >= scale) return (Math.floor(n / (scale / 10)) / 10).toFixed(1) + suffix;
    }
    return String(n);
  }
  function formatRate(r) {
    if (typeof r !== 'number' || !isFinite(r)) return '–';
    return r < 10 ? r.toFixed(2) : r < 100 ? r.toFixed(1) : formatCount(Math.round(r));
  }
  function formatDuration(s) {
    if (typeof s !== 'number' || s < 0) return '–';
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + Math.floor(s % 60) + 's';
    return Math.floor(s) + 's';
  }
  function setText(id, text) { const el = $(id); if (el.textContent !== text) el.textContent = text; }
  function cell(row, text) { const td = document.createElement('td'); td.textContent = text; row.appendChild(td); }

  // ---- the live strip ----
  let rates = [];  // requests per second, oldest first
  let peak = 0;
  let lastSecond = 0;  // of the newest bar in the public view

  function ratesFromPulse(pulse) {
    const s = (pulse && Array.isArray(pulse.samples)) ? pulse.samples : [];
    const out = [];
    for (let i = 1; i < s.length; i++) {
      const dt = (s[i].ts - s[i - 1].ts) / 1000;
      const dn = s[i].total - s[i - 1].total;
      out.push(dt > 0 && dn > 0 ? dn / dt : 0);
    }
    return out.slice(-PULSE_POINTS);
  }

  function drawPulse() {
    const canvas = $('pulse');
    if (!canvas || !canvas.getContext) return;
    const ctx = canvas.getContext('2d');
    const style = getComputedStyle(document.documentElement);
    const w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = style.getPropertyValue('--border').trim() || '#ccc';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(0, h - 0.5);
    ctx.lineTo(w, h - 0.5);
    ctx.stroke();
    if (rates.length === 0) return;
    const max = Math.max(1, ...rates);
    const barW = w / PULSE_POINTS;
    ctx.fillStyle = style.getPropertyValue('--accent').trim() || '#a855f7';
    const offset = PULSE_POINTS - rates.length;
    rates.forEach((r, i) => {
      const bh = Math.max(r > 0 ? 2 : 0, (r / max) * (h - 8));
      ctx.fillRect((offset + i) * barW + 1, h - bh, Math.max(1, barW - 2), bh);
    });
  }

  // ---- rendering ----
  function renderComponents(components) {
    const list = $('components');
    const names = [['registry', 'Registry'], ['beacon', 'Beacon Relay'], ['dashboard', 'Dashboard API']];
    list.replaceChildren();
    for (const [key, label] of names) {
      const state = components && typeof components[key] === 'string' ? components[key] : 'unknown';
      const li = document.createElement('li');
      const dot = document.createElement('span');
      dot.className = 'dot ' + (state === 'up' || state === 'down' ? state : 'unknown');
      const text = document.createElement('span');
      text.textContent = label + ': ' + state;
      li.append(dot, text);
      li.dataset.component = key;
      list.appendChild(li);
    }
  }

  function renderBuild(build) {
    if (!build) return;
    setText('build-version', String(build.version || 'unknown'));
    $('build-commit-wrap').hidden = !build.git_commit;
    if (build.git_commit) setText('build-commit', String(build.git_commit));
    $('build-time-wrap').hidden = !build.build_time;
    if (build.build_time) setText('build-time', String(build.build_time));
    $('build-sha-wrap').hidden = !build.binary_sha256;
    if (build.binary_sha256) {
      setText('build-sha', String(build.binary_sha256).slice(0, 12));
      $('build-sha').title = String(build.binary_sha256);
    }
  }

  function renderPublic(p, fromStream) {
    setText('online-nodes', formatCount(p.active_nodes));
    setText('total-nodes-label', 'Nodes ever registered');
    setText('total-nodes', formatCount(p.total_nodes));
    setText('total-requests', formatCount(p.total_requests));
    setText('uptime', formatDuration(p.uptime_seconds));
    const r = typeof p.requests_per_sec === 'number' ? p.requests_per_sec : 0;
    setText('rate', formatRate(r));
    if (fromStream) {
      // One bar a second, whatever the push rate: a second push within the same second
      // replaces that second's figure.
      const second = Math.floor(Date.now() / 1000);
      if (second === lastSecond && rates.length > 0) rates[rates.length - 1] = r;
      else rates.push(r);
      lastSecond = second;
      if (rates.length > PULSE_POINTS) rates = rates.slice(-PULSE_POINTS);
    }
    renderComponents(p.components);
    renderBuild(p.build_info);
  }

  // Lag is often well under a second: milliseconds then, else the usual duration.
  function formatLag(seconds) {
    const s = Number(seconds);
    if (!Number.isFinite(s) || s < 0) return '–';
    return s < 1 ? Math.round(s * 1000) + ' ms' : formatDuration(s);
  }

  // The /api/admin/replication-status body (worker-admin/replication.h).
  function renderReplication(rep) {
    setText('replication-role', String(rep.role || 'unknown'));
    setText('replication-epoch', String(rep.epoch === undefined ? '–' : rep.epoch));
    $('replication-leader-wrap').hidden = !rep.leader;
    setText('replication-leader', String(rep.leader || ''));
    const sync = rep.sync || {};
    setText('replication-sync', String(sync.state || 'off') + (sync.held > 0 ? ' (' + sync.held + ' held)' : ''));
    $('replication-unavailable').hidden = rep.replicator !== 'unavailable';

    const f = rep.follower;
    $('replication-follower').hidden = !f;
    if (f) {
      setText('follower-state', String(f.state || 'unknown'));
      setText('follower-lag', formatCount(f.lag_records) + ' records, ' + formatLag(f.lag_seconds));
      setText('follower-reconnects', formatCount(f.reconnects));
      $('follower-error-wrap').hidden = !f.last_error;
      setText('follower-error', String(f.last_error || ''));
    }

    const standbys = Array.isArray(rep.standbys) ? rep.standbys : [];
    const isLeader = rep.role === 'leader';
    $('standbys').hidden = standbys.length === 0;
    $('standbys-empty').hidden = !isLeader || standbys.length > 0;
    const sbody = $('standbys').tBodies[0];
    sbody.replaceChildren();
    for (const s of standbys) {
      const tr = document.createElement('tr');
      cell(tr, String(s.id));
      cell(tr, String(s.addr || '–'));
      cell(tr, String(s.state));
      cell(tr, formatCount(s.lag_records) + (s.lag_exact === false ? '+' : ''));
      cell(tr, formatLag(s.lag_seconds) + (s.lag_exact === false ? '+' : ''));
      sbody.appendChild(tr);
    }
  }

  function renderAdmin(snap) {
    const stats = snap.stats || {};
    const pub = snap.public || {};
    renderPublic(pub, false);
    setText('online-nodes', formatCount(stats.active_nodes));
    setText('total-nodes-label', 'Registered nodes (ever: ' + formatCount(pub.total_nodes) + ')');
    setText('total-nodes', formatCount(stats.total_nodes));
    rates = ratesFromPulse(snap.pulse);

    const banner = typeof stats.maintenance_banner === 'string' ? stats.maintenance_banner : '';
    $('maintenance-banner').hidden = banner === '';
    setText('maintenance-banner', banner);

    const wbody = $('workers').tBodies[0];
    wbody.replaceChildren();
    for (const w of Array.isArray(snap.workers) ? snap.workers : []) {
      const tr = document.createElement('tr');
      cell(tr, String(w.name));
      cell(tr, String(w.state));
      cell(tr, w.pid > 0 ? String(w.pid) : '–');
      cell(tr, w.pid > 0 ? formatDuration(w.uptime_seconds) : '–');
      cell(tr, String(w.restarts));
      wbody.appendChild(tr);
    }
    renderReplication(snap.replication || {});

    const nets = Array.isArray(stats.networks) ? stats.networks : [];
    const nbody = $('networks').tBodies[0];
    nbody.replaceChildren();
    for (const n of nets) {
      const tr = document.createElement('tr');
      cell(tr, String(n.id));
      cell(tr, String(n.name));
      cell(tr, String(n.members));
      cell(tr, String(n.online));
      nbody.appendChild(tr);
    }
    $('networks-empty').hidden = nets.length > 0;

    const pending = snap.pending || {};
    const waiting = Array.isArray(pending.pending) ? pending.pending : [];
    setText('pending-count', formatCount(pending.count || 0));
    const pbody = $('pending').tBodies[0];
    pbody.replaceChildren();
    for (const p of waiting) {
      const tr = document.createElement('tr');
      cell(tr, String(p.id));
      cell(tr, String(p.public_key));
      cell(tr, String(p.listen_addr));
      cell(tr, String(p.observed_addr));
      cell(tr, new Date(Number(p.requested_at) * 1000).toISOString());
      pbody.appendChild(tr);
    }
    $('pending-empty').hidden = waiting.length > 0;
  }

  function render(payload, admin) {
    if (admin) renderAdmin(payload); else renderPublic(payload, true);
    peak = Math.max(peak, ...rates, 0);
    setText('rate-peak', formatRate(peak));
    drawPulse();
  }

  function setAdminView(on) {
    for (const el of document.querySelectorAll('.admin-only')) el.hidden = !on;
    $('public-note').hidden = on;
    $('token-clear').hidden = !on;
    if (!on) $('maintenance-banner').hidden = true;
  }

  function setLive(state, text) {
    const el = $('live');
    el.dataset.state = state;
    el.textContent = text;
  }

  // ---- data sources ----
  let source = null;
  let pollTimer = null;
  let retryTimer = null;

  function stopAll() {
    if (source) { source.close(); source = null; }
    clearInterval(pollTimer); pollTimer = null;
    clearTimeout(retryTimer); retryTimer = null;
  }

  function poll() {
    fetch('/api/public-stats', { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error('HTTP ' + r.status))))
      .then((p) => { setAdminView(false); render(p, false); setLive('down', 'polling'); })
      .catch(() => setLive('down', 'offline'));
  }

  // Why a stream with a token could not open: 401 means the token is wrong (shown, and the
  // page goes on in the public view); anything else is the stream cap or an outage.
  function diagnose(token) {
    return fetch('/api/stats', { headers: { 'X-Admin-Token': token }, cache: 'no-store' })
      .then((r) => r.status).catch(() => 0);
  }

  function connect() {
    stopAll();
    const token = load(TOKEN_KEY);
    const admin = token !== '';
    setAdminView(admin);
    const url = '/api/events' + (admin ? '?admin_token=' + encodeURIComponent(token) : '');
    const es = new EventSource(url);
    source = es;
    es.onopen = () => setLive('live', 'live');
    es.onmessage = (ev) => {
      let payload;
      try { payload = JSON.parse(ev.data); } catch (e) { return; }
      $('token-error').hidden = true;
      setLive('live', 'live');
      render(payload, admin);
    };
    es.onerror = () => {
      if (es.readyState !== EventSource.CLOSED) { setLive('connecting', 'reconnecting…'); return; }
      // The server refused the stream (wrong token, too many streams): no automatic retry.
      source = null;
      const fallBack = () => {
        poll();
        pollTimer = setInterval(poll, POLL_MS);
        retryTimer = setTimeout(connect, POLL_MS);
      };
      if (!admin) { fallBack(); return; }
      diagnose(token).then((status) => {
        if (status === 401) {
          const box = $('token-error');
          box.textContent = 'The admin token was refused; showing the public view.';
          box.hidden = false;
          save(TOKEN_KEY, '');
          $('token-input').value = '';
          connect();
          return;
        }
        fallBack();
      });
    };
  }

  // ---- controls ----
  function init() {
    applyTheme(initialTheme());
    $('theme-toggle').addEventListener('click', () => {
      const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
      save(THEME_KEY, next);
      applyTheme(next);
    });
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const value = $('token-input').value.trim();
      save(TOKEN_KEY, value);
      $('token-input').value = '';
      $('token-error').hidden = true;
      rates = [];
      peak = 0;
      connect();
    });
    $('token-clear').addEventListener('click', () => {
      save(TOKEN_KEY, '');
      rates = [];
      peak = 0;
      connect();
    });
    renderComponents(null);
    connect();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
