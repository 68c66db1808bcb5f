#!/usr/bin/env node
// The dashboard in a real browser: headless Chromium (the Debian package, /usr/bin/chromium)
// driven by playwright-core. Started by tests/process/dashboard_test.cc against a real server;
// it can also be run by hand against a running one:
//
//   node tests/browser/dashboard.test.js --url http://127.0.0.1:3000/ --registry 127.0.0.1:9000 \
//     --expect-online 2 --token TOKEN --network lab-net --forbid <public key> … \
//     --screenshot build/dashboard.png
//
// Checks, in order (each with a deadline, none on speed):
//   1. the public view shows --expect-online nodes online;
//   2. a node this script registers (over the registry's JSON framing) shows up within 3 s;
//   3. nothing §5.4 forbids is in the public DOM or the public /api/events payloads: no
//      public keys, no listen addresses or IPs, no network names (--forbid adds strings);
//      the payloads carry exactly the §5.4 keys;
//   4. the theme toggle persists in localStorage (pilot_dash_theme) across a reload;
//   5. with --token: the token view shows the workers, the replication role, the network and
//      the maintenance banner (--banner) as text, not markup;
//   6. no console error and no uncaught page error all along.
// Exit 0 when every check passed, 1 otherwise; the last line is "N passed, N failed".
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');

function parseArgs(argv) {
  const out = { forbid: [], expectOnline: 0, chromium: '/usr/bin/chromium' };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    switch (a) {
      case '--url': out.url = v; i++; break;
      case '--registry': out.registry = v; i++; break;
      case '--expect-online': out.expectOnline = Number(v); i++; break;
      case '--token': out.token = v; i++; break;
      case '--network': out.network = v; i++; break;
      case '--forbid': out.forbid.push(v); i++; break;
      case '--banner': out.banner = v; i++; break;
      case '--screenshot': out.screenshot = v; i++; break;
      case '--chromium': out.chromium = v; i++; break;
      default: throw new Error('unknown argument ' + a);
    }
  }
  if (!out.url || !out.registry) throw new Error('--url and --registry are required');
  return out;
}

const PUBLIC_KEYS = ['server_time', 'uptime_seconds', 'active_nodes', 'total_nodes', 'total_requests',
  'requests_per_sec', 'components', 'build_info'].sort().join(',');

// ---- the registry's JSON framing: [u32 BE length][JSON] ----

function registryRequest(hostPort, body, timeoutMs = 5000) {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), host);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('registry timeout')); }, timeoutMs);
    sock.on('connect', () => {
      const json = Buffer.from(JSON.stringify(body));
      const len = Buffer.alloc(4);
      len.writeUInt32BE(json.length);
      sock.write(Buffer.concat([len, json]));
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        clearTimeout(timer);
        sock.destroy();
        try { resolve(JSON.parse(buf.subarray(4, 4 + buf.readUInt32BE(0)).toString())); } catch (e) { reject(e); }
      }
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

// A fresh Ed25519 identity registered the way a daemon does (signed "register:<addr>:<key>").
async function registerNode(hostPort) {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const pub = raw.toString('base64');
  const listenAddr = '198.51.100.23:4000';
  const signature = crypto.sign(null, Buffer.from('register:' + listenAddr + ':' + pub), privateKey).toString('base64');
  const reply = await registryRequest(hostPort, { type: 'register', public_key: pub, listen_addr: listenAddr, signature });
  if (reply.type !== 'register_ok') throw new Error('register failed: ' + JSON.stringify(reply));
  return { pub, listenAddr, id: reply.node_id };
}

// ---- a plain /api/events reader, to see the payloads as any client would ----

function collectEvents(baseUrl) {
  const events = [];
  const url = new URL('api/events', baseUrl);
  const req = http.get(url, (res) => {
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      buf += chunk;
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        if (block.startsWith('data: ')) events.push(block.slice(6));
      }
    });
  });
  req.on('error', () => {});
  return { events, close: () => req.destroy() };
}

// ---- checks ----

let passed = 0, failed = 0;
function check(name, ok, detail) {
  if (ok) { passed++; console.log('ok   ' + name); } else { failed++; console.log('FAIL ' + name + (detail ? ': ' + detail : '')); }
}

async function waitFor(fn, timeoutMs, stepMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return last;
}

async function main() {
  const args = parseArgs(process.argv);
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch (e) {
    console.log('SKIP playwright-core is not installed (npm ci --prefix tests/browser)');
    process.exit(2);
  }
  if (!fs.existsSync(args.chromium)) {
    console.log('SKIP ' + args.chromium + ' is missing');
    process.exit(2);
  }
  const launchArgs = [];
  if (process.getuid && process.getuid() === 0) launchArgs.push('--no-sandbox');
  const browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: launchArgs });
  const consoleErrors = [];
  const stream = collectEvents(args.url);
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
    page.on('pageerror', (err) => consoleErrors.push('page error: ' + err.message));

    const resp = await page.goto(args.url, { waitUntil: 'load' });
    check('page answers 200', resp && resp.status() === 200, resp && String(resp.status()));
    check('Content-Security-Policy default-src \'self\'',
      resp && resp.headers()['content-security-policy'] === "default-src 'self'", JSON.stringify(resp && resp.headers()));
    check('title', (await page.title()).includes('Pilot Protocol'), await page.title());

    const onlineText = () => page.textContent('#online-nodes');
    const shown = await waitFor(async () => (await onlineText()) === String(args.expectOnline), 10000);
    check('public view shows ' + args.expectOnline + ' online', shown, await onlineText());
    await waitFor(async () => (await page.getAttribute('#live', 'data-state')) === 'live', 5000);
    check('live stream connected', (await page.getAttribute('#live', 'data-state')) === 'live',
      await page.textContent('#live'));

    // 2. a new node appears without a reload
    const node = await registerNode(args.registry);
    const forbid = args.forbid.concat([node.pub, node.listenAddr, node.listenAddr.split(':')[0]]);
    const t0 = Date.now();
    const changed = await waitFor(async () => (await onlineText()) === String(args.expectOnline + 1), 3000);
    check('a new node shows within 3 s', changed, (await onlineText()) + ' after ' + (Date.now() - t0) + ' ms');

    // 3. redaction: DOM and stream payloads
    const html = await page.content();
    const text = await page.evaluate(() => document.body.innerText);
    for (const s of forbid) {
      if (!s) continue;
      check('public DOM has no ' + JSON.stringify(s.slice(0, 16)), !html.includes(s) && !text.includes(s));
    }
    check('public DOM has no 127.0.0.1', !text.includes('127.0.0.1'));
    await waitFor(async () => stream.events.length >= 2, 5000);
    check('the public stream delivered events', stream.events.length >= 2, String(stream.events.length));
    let keysOk = true, leak = '';
    for (const ev of stream.events) {
      const keys = Object.keys(JSON.parse(ev)).sort().join(',');
      if (keys !== PUBLIC_KEYS) keysOk = false;
      for (const s of forbid) if (s && ev.includes(s)) leak = s;
    }
    check('public stream payloads carry exactly the §5.4 keys', keysOk, stream.events[0]);
    check('public stream payloads leak nothing', leak === '', leak);
    if (args.screenshot) {
      fs.mkdirSync(path.dirname(args.screenshot), { recursive: true });
      await page.screenshot({ path: args.screenshot, fullPage: true });
    }

    // 4. theme
    const before = await page.getAttribute('html', 'data-theme');
    await page.click('#theme-toggle');
    const after = await page.getAttribute('html', 'data-theme');
    check('theme toggles', before !== after && (after === 'dark' || after === 'light'), before + ' -> ' + after);
    check('theme stored', (await page.evaluate(() => localStorage.getItem('pilot_dash_theme'))) === after);
    await page.reload({ waitUntil: 'load' });
    check('theme survives a reload', (await page.getAttribute('html', 'data-theme')) === after);

    // 5. the token view
    if (args.token) {
      await page.fill('#token-input', args.token);
      await page.click('#token-save');
      check('token stored', (await page.evaluate(() => localStorage.getItem('pilot_dash_token'))) === args.token);
      const workers = await waitFor(async () => (await page.$$('#workers tbody tr')).length >= 2, 5000);
      check('token view lists the workers', workers, String((await page.$$('#workers tbody tr')).length));
      const role = await waitFor(async () => (await page.textContent('#replication-role')) === 'leader', 5000);
      check('token view shows the replication role', role, await page.textContent('#replication-role'));
      const sync = await waitFor(async () => (await page.textContent('#replication-sync')) === 'off', 5000);
      check('token view shows the sync state', sync, await page.textContent('#replication-sync'));
      if (args.network) {
        const netShown = await waitFor(async () => (await page.textContent('#networks tbody')).includes(args.network), 5000);
        check('token view lists the network', netShown, await page.textContent('#networks tbody'));
      }
      if (args.banner) {
        const shownBanner = await waitFor(async () => (await page.textContent('#maintenance-banner')) === args.banner, 5000);
        check('token view shows the maintenance banner as text', shownBanner, await page.textContent('#maintenance-banner'));
        check('the banner\'s markup was not rendered', (await page.$$('#maintenance-banner *')).length === 0 &&
          (await page.$('#injected')) === null);
      }
      const adminHtml = await page.content();
      check('token view shows no public key', !forbid.some((s) => s && s.length > 40 && adminHtml.includes(s)));
      if (args.screenshot) await page.screenshot({ path: args.screenshot.replace(/\.png$/, '-admin.png'), fullPage: true });
      await page.click('#token-clear');
      await waitFor(async () => (await page.isHidden('#workers')), 3000);
      check('locking returns to the public view', await page.isHidden('#workers'));
    }

    check('no console errors', consoleErrors.length === 0, consoleErrors.join(' | '));
    await context.close();
  } finally {
    stream.close();
    await browser.close();
  }
  console.log(passed + ' passed, ' + failed + ' failed');
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  console.log('FAIL ' + (e && e.stack ? e.stack : e));
  console.log(passed + ' passed, ' + (failed + 1) + ' failed');
  process.exit(1);
});
