// SPDX-License-Identifier: GPL-3.0-or-later
// Watching a live incident, every part real: ansim-recorder (test camera,
// 1 s segments), ansim-uploader, ansim-panel and Debian's chromium.
// 1. Sealed -> playable: for every segment of a press followed live in the
//    console, from the segment's end on the desk's clock (when the recorder
//    closes and seals it) to the moment the player has appended it
//    (Player.load: appendedAt), p50/p99.
// 2. Panel CPU per viewer: 10 viewers follow the same live incident (each
//    fetches every new segment once, as the console does); the panel's CPU
//    (utime+stime from /proc) over the window minus the same window with no
//    viewer, per viewer; next to the same bytes (the panel's answers,
//    saved) served as plain files by node's http server to 10 viewers with
//    the same pattern. Ratio panel / plain file.
// Usage: node bench/playback.mjs BUILDDIR [--seconds=N]
import { createRequire } from 'node:module';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = createRequire(join(SRC, 'tests/browser/package.json'))('playwright-core');
const BUILD = resolve(process.argv[2] || process.env.ANSIM_BUILD_ROOT || join(SRC, 'build'));
const SECONDS = Number((process.argv.find((a) => a.startsWith('--seconds=')) || '--seconds=30').split('=')[1]);
const VIEWERS = 10;
const ANSIMCTL = join(BUILD, 'ansimctl/ansimctl');
const PASSWORD = 'bench-password-play-1';
const TICKS = 100;   // sysconf(_SC_CLK_TCK) on Linux

const dir = mkdtempSync(join(tmpdir(), 'ansim-bench-play-'));
const deskDir = join(dir, 'desk');
mkdirSync(deskDir, { mode: 0o700 });
const daemons = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function run(args, input) {
  const r = spawnSync(ANSIMCTL, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ansimctl ${args[0]}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

function daemon(name, exe, args) {
  const log = join(dir, name + '.log');
  const proc = spawn(exe.startsWith('/') ? exe : join(BUILD, exe), args,
    { stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')] });
  proc.log = log;
  daemons.push(proc);
  return proc;
}

async function until(what, check, ms, every = 20) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(every);
  }
}

function pct(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS;
}

// A viewer following incident id from segment `from`: each segment once,
// as soon as it is there (a 404 is asked again 250 ms later).
async function follow(base, id, from, headers, until_, got) {
  for (let idx = from; Date.now() < until_;) {
    const r = await fetch(`${base}/${id}/segments/${idx}/media`, { headers });
    const body = Buffer.from(await r.arrayBuffer());
    if (r.status === 200) { got?.(idx, body); idx++; } else await sleep(250);
  }
}

let browser;
try {
  const siteKey = join(dir, 'site.key');
  spawnSync('age-keygen', ['-o', siteKey]);
  const recipient = spawnSync('age-keygen', ['-y', siteKey], { encoding: 'utf8' }).stdout.trim();
  const panelConf = join(dir, 'panel.conf');
  const recorderConf = join(deskDir, 'recorder.conf');
  writeFileSync(panelConf, `[panel]\ndata_dir = ${join(dir, 'panel')}\nport = 0\nescalate_after_s = 3600\n` +
    `site_identity = ${siteKey}\n`);
  writeFileSync(recorderConf, `[recorder]\ndevice_id = dev-1\ndata_dir = ${deskDir}\n` +
    `recipients = ${recipient}\npre_event_seconds = 1\npost_event_seconds = ${3 * SECONDS + 30}\n` +
    `segment_seconds = 1\nnotice_sound = none\n\n[desk]\nid = desk-1\nname = 벤치 창구\n\n` +
    `[trigger desk-button]\ninput = simulated\n\n[output recording]\nkind = simulated\n\n` +
    `[source desk-camera]\nkind = fixed\nvideo = test\nwidth = 640\nheight = 360\n` +
    `framerate = 15\nbitrate_kbps = 800\nkeyframe_ms = 1000\n`);
  run(['user', 'add', 'security', '--role', 'security', '--password-stdin', '--config', panelConf], PASSWORD + '\n');
  const panel = daemon('panel', 'panel/ansim-panel', ['--config', panelConf]);
  const url = await until('the panel listens', () => {
    const m = readFileSync(panel.log, 'utf8').match(/listening on (http:\/\/\S+?)\/?$/m);
    return m && m[1];
  }, 20000);
  daemon('recorder', 'recorder/ansim-recorder', ['--config', recorderConf]);
  await until('the recorder', () => spawnSync(ANSIMCTL, ['status', '--config', recorderConf]).status === 0, 30000, 200);
  const code = run(['enroll-code', '--config', panelConf, '--device', 'dev-1', '--desk', 'desk-1']).trim();
  run(['enroll', '--data-dir', deskDir, '--panel', url, '--code', code, '--device', 'dev-1']);
  writeFileSync(join(deskDir, 'uploader.conf'), `[uploader]\ndata_dir = ${deskDir}\npanel_url = ${url}\n` +
    `poll_interval = 1\nretry_min = 1\nretry_max = 2\n`);
  daemon('uploader', 'uploader/ansim-uploader', ['--config', join(deskDir, 'uploader.conf')]);
  await sleep(2000);

  // 1. One console follows the press live.
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--autoplay-policy=no-user-gesture-required',
      ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [])] });
  const page = await (await browser.newContext({ locale: 'ko-KR' })).newPage();
  await page.goto(url + '/console/');
  await page.waitForSelector('body[data-ready="true"]');
  await page.fill('#login-user', 'security');
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-submit');
  await page.waitForSelector('#nav:not([hidden])');
  run(['press', '--config', recorderConf]);
  const inc = await until('the incident', () => page.evaluate(async () =>
    (await (await fetch('/api/incidents?limit=1')).json()).incidents[0]), 10000, 200);
  await page.goto(url + '/console/#/incidents/' + inc.id);
  await page.waitForFunction(() => document.querySelector('#incident-video').dataset.following === 'true');
  await sleep(SECONDS * 1000);
  const latency = await page.evaluate(() => [...window.ansimPlayers[0].segs.values()]
    .filter((g) => g.appendedAt).sort((a, b) => a.idx - b.idx)
    .map((g) => g.appendedAt - (g.start_wall_us + g.duration_us) / 1000));
  // The first segments were there before the page opened: only those
  // appended as they came.
  const live = latency.slice(3);
  console.log(`sealed -> playable (appended in the browser), ${live.length} segments of 1 s, 640x360: ` +
    `p50 ${pct(live, 50).toFixed(0)} ms, p99 ${pct(live, 99).toFixed(0)} ms`);
  await browser.close();
  browser = null;

  // 2. CPU: the panel with no viewer, then with ten.
  const login = await fetch(url + '/api/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: 'security', password: PASSWORD }) });
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const now = await (await fetch(`${url}/api/incidents/${inc.id}`, { headers: { cookie } })).json();
  const from = now.incident.segments_received;
  let c0 = cpuSeconds(panel.pid);
  await sleep(SECONDS * 1000);
  const idle = cpuSeconds(panel.pid) - c0;
  const saved = new Map();
  const first = from + SECONDS + 2;
  c0 = cpuSeconds(panel.pid);
  const end = Date.now() + SECONDS * 1000;
  await Promise.all([...Array(VIEWERS).keys()].map((v) => follow(url + '/api/incidents', inc.id, first,
    { cookie }, end, v === 0 ? (idx, body) => saved.set(idx, body) : null)));
  const busy = cpuSeconds(panel.pid) - c0;
  const perViewer = Math.max(0, busy - idle) / VIEWERS / SECONDS * 100;

  // The same bytes as plain files, at the same pace (each as it "arrives").
  const files = join(dir, 'plain');
  mkdirSync(files);
  const plain = daemon('plain', process.execPath, ['-e', `
    const http = require('http'), fs = require('fs'), path = require('path');
    const t0 = Date.now(), pace = ${JSON.stringify([...saved.keys()])}, first = ${first};
    http.createServer((q, r) => {
      const m = q.url.match(/segments\\/(\\d+)\\/media$/);
      const idx = m ? Number(m[1]) : -1;
      if (idx < first || Date.now() - t0 < (idx - first) * 1000 || !fs.existsSync(path.join(${JSON.stringify(files)}, idx + '.mp4'))) {
        r.writeHead(404); r.end(); return;
      }
      r.writeHead(200, { 'Content-Type': 'video/mp4' });
      fs.createReadStream(path.join(${JSON.stringify(files)}, idx + '.mp4')).pipe(r);
    }).listen(0, '127.0.0.1', function () { console.log('port ' + this.address().port); });`]);
  for (const [idx, body] of saved) writeFileSync(join(files, idx + '.mp4'), body);
  const port = await until('the plain server', () => (readFileSync(plain.log, 'utf8').match(/port (\d+)/) || [])[1], 5000);
  c0 = cpuSeconds(plain.pid);
  const pidle = 0;   // node's idle server costs nothing measurable
  const pend = Date.now() + SECONDS * 1000;
  await Promise.all([...Array(VIEWERS).keys()].map(() => follow(`http://127.0.0.1:${port}/x`, 1, first, {}, pend)));
  const pbusy = cpuSeconds(plain.pid) - c0 - pidle;
  const plainPerViewer = pbusy / VIEWERS / SECONDS * 100;
  console.log(`panel CPU per viewer, ${VIEWERS} viewers following one live incident for ${SECONDS} s: ` +
    `${perViewer.toFixed(2)} % of a core (panel ${(busy / SECONDS * 100).toFixed(1)} %, ` +
    `${(idle / SECONDS * 100).toFixed(1)} % of it without viewers); ` +
    `the same ${saved.size} segments as plain files (node http): ${plainPerViewer.toFixed(2)} % per viewer; ` +
    `ratio ${(perViewer / Math.max(plainPerViewer, 0.001)).toFixed(2)}`);
} finally {
  if (browser) await browser.close();
  for (const proc of [...daemons].reverse()) {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r)));
  }
  rmSync(dir, { recursive: true, force: true });
}
