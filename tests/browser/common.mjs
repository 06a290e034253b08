// SPDX-License-Identifier: GPL-3.0-or-later
// Shared by the browser tests (console, drills, desk, alarm): playwright-core
// and Debian's chromium, the users and the panel they log in to, a whole
// real desk (startRealDesk), and logging in through the console's own form
// the way a person does. Keeps true:
// a page is only handed back once the console says it is ready (and, from
// loggedIn, once the role's navigation shows), so no test races the page.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  console.error('playwright-core is missing: run `npm ci` in tests/browser (scripts/setup test does it)');
  process.exit(1);
}

export const BUILD = process.env.ANSIM_BUILD_ROOT;
assert.ok(BUILD, 'ANSIM_BUILD_ROOT must name the build directory');
export const SHOTS = join(BUILD, 'tests', 'browser-screenshots');
export const ROLES = ['security', 'trainer', 'admin', 'auditor'];

// `ansimctl user add ROLE --role ROLE` for each role, with password.
export function addUsers(conf, roles, password) {
  for (const role of roles) {
    const r = spawnSync(join(BUILD, 'ansimctl/ansimctl'),
      ['user', 'add', role, '--role', role, '--password-stdin', '--config', conf],
      { input: password + '\n', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  }
}

// ansim-panel with conf (env: more variables); resolves to the process and
// the URL of its "listening on" line.
export async function startPanel(conf, env = {}) {
  const panel = spawn(join(BUILD, 'panel/ansim-panel'), ['--config', conf], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: panel.stderr });
    lines.on('line', (line) => {
      const m = line.match(/listening on (http:\/\/\S+?)\/?$/);
      if (m) resolve(m[1]);
    });
    panel.on('exit', (code) => reject(new Error('ansim-panel exited with ' + code)));
  });
  return { panel, url };
}

export async function stopPanel(panel) {
  panel.kill('SIGTERM');
  await new Promise((resolve) => panel.once('exit', resolve));
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    // Root in a container: chromium's sandbox needs user namespaces.
    // The alert's sound must be allowed to play without a click first.
    args: ['--autoplay-policy=no-user-gesture-required',
      ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [])],
  });
}

// A new context's page on the console, ready. onlyPanel: any request that
// leaves the panel (external fonts or scripts) fails the test.
export async function openConsole(browser, url, { viewport = { width: 1280, height: 800 },
  onlyPanel = true } = {}) {
  const context = await browser.newContext({ viewport, locale: 'ko-KR' });
  const page = await context.newPage();
  if (onlyPanel) {
    page.on('request', (req) => {
      if (!req.url().startsWith(url) && !req.url().startsWith('data:'))
        throw new Error('request outside the panel: ' + req.url());
    });
  }
  await page.goto(url + '/console/');
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

// Fills and sends the console's login form.
export async function logIn(page, user, password) {
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
}

// openConsole, then logged in as user: the role's navigation shows.
export async function loggedIn(browser, url, user, password, options) {
  const page = await openConsole(browser, url, options);
  await logIn(page, user, password);
  await page.waitForSelector('#nav:not([hidden])');
  return page;
}

// From the alert banner to the incident's page, once a segment has been
// received, and its playback started.
export async function playFromBanner(page) {
  await page.click('#banner-open');
  await page.waitForSelector('#page-incident:not([hidden])');
  await page.waitForSelector('#incident-timeline li[data-what="segment-received"]');
  await page.click('#play-start');
}

export async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, name + '.png'), fullPage: true });
}

// A desk (tests/upload/desk-sim.c) in deskDir enrolled on the panel of
// conf at url, its alerts sealed to siteKey: a real ansim-uploader and an
// outbox filled as the recorder fills it. It takes commands (send) and
// says what happened in lines (wait for one starting with prefix), among
// them when its event log learns the acknowledgement (what lights "help
// is coming").
export function startDesk(deskDir, conf, url, siteKey) {
  const proc = spawn(join(BUILD, 'tests/upload/desk-sim'), [deskDir, conf, url, siteKey],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  const waiters = [];
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const i = waiters.findIndex((w) => line.startsWith(w.prefix));
    if (i >= 0) waiters.splice(i, 1)[0].resolve(line.split(' '));
    else lines.push(line);
  });
  return {
    proc,
    send: (command) => proc.stdin.write(command + '\n'),
    wait: (prefix, ms = 10000) => {
      const i = lines.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return Promise.resolve(lines.splice(i, 1)[0].split(' '));
      return new Promise((resolve, reject) => {
        waiters.push({ prefix, resolve });
        setTimeout(() => reject(new Error('desk-sim: no "' + prefix + '" within ' + ms + ' ms')), ms);
      });
    },
    stop: async () => {
      proc.stdin.end();
      await new Promise((resolve) => proc.once('exit', resolve));
    },
  };
}

// A daemon of the build with its output in DIR/NAME.log (shown if a test
// fails), added to daemons so the test's end stops it.
export function startDaemon(dir, daemons, name, exe, args, env = {}) {
  const log = join(dir, name + '.log');
  const fd = openSync(log, 'a');
  const proc = spawn(join(BUILD, exe), args, { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  proc.log = log;
  proc.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  daemons.push(proc);
  return proc;
}

// One request on a recorder's control socket (recorder/control.c: a line
// in, a JSON line out).
export function controlSocketRequest(socketPath, request) {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(request + '\n'));
    socket.on('data', (chunk) => {
      reply += chunk;
      const nl = reply.indexOf('\n');
      if (nl >= 0) {
        socket.destroy();
        resolve(JSON.parse(reply.slice(0, nl)));
      }
    });
    socket.on('error', reject);
    socket.setTimeout(5000, () => { socket.destroy(); reject(new Error('control socket: no reply')); });
  });
}

// check() until it gives a true value (returned), every `every` ms; an
// error naming what after ms.
export async function until(what, check, ms, every = 20) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}

// A site's panel configuration in a new folder: the site identity made by
// Debian's age-keygen (mode 0600), [panel] with port 0, site_name and
// site_identity, then extra (more [panel] lines and groups); the panel's
// data in the folder, or in its subfolder dataSub. Returns { dir, conf,
// siteKey, recipient }.
export function makeSite(prefix, siteName, extra = '', dataSub = null) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const conf = join(dir, 'panel.conf');
  const siteKey = join(dir, 'site.key');
  const keygen = spawnSync('age-keygen', ['-o', siteKey], { encoding: 'utf8' });
  assert.equal(keygen.status, 0, keygen.stderr);
  const recipient = spawnSync('age-keygen', ['-y', siteKey], { encoding: 'utf8' }).stdout.trim();
  assert.match(recipient, /^age1/);
  writeFileSync(conf, `[panel]\ndata_dir = ${dataSub ? join(dir, dataSub) : dir}\nport = 0\nsite_name = ${siteName}\n` +
    `site_identity = ${siteKey}\n${extra}`);
  return { dir, conf, siteKey, recipient };
}

// `ansimctl ARGS` (input on its stdin), which must succeed; its output.
export function ansimctl(args, input) {
  const r = spawnSync(join(BUILD, 'ansimctl/ansimctl'), args, { input, encoding: 'utf8' });
  assert.equal(r.status, 0, `ansimctl ${args[0]}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

// A whole desk with every part real, for the tests that press a button:
// ansim-panel (port 0, the site identity made with age-keygen), users of
// roles with password, ansim-recorder from recorderConf(deskDir,
// recipient), enrolled as dev-1 at desk-1 as docs/protocol.md says, and
// ansim-uploader. panelExtra, uploaderExtra: more lines for their groups.
// Resolves to { dir, deskDir, panelConf, recorderConf, control, url,
// daemons, daemon(name, exe, args, env), controlRequest(request) }; give it
// to stopRealDesk at the end.
export async function startRealDesk({ name, recorderConf, roles, password, panelExtra = '',
  uploaderExtra = '' }) {
  const desk = { daemons: [] };
  const site = makeSite(`ansim-browser-${name}-`, '브라우저 시험', panelExtra, 'panel');
  desk.dir = site.dir;
  desk.panelConf = site.conf;
  const recipient = site.recipient;
  desk.deskDir = join(desk.dir, 'desk');
  mkdirSync(desk.deskDir, { mode: 0o700 });
  desk.recorderConf = join(desk.deskDir, 'recorder.conf');
  desk.control = join(desk.deskDir, 'control.sock');
  desk.daemon = (n, exe, args, env) => startDaemon(desk.dir, desk.daemons, n, exe, args, env);
  desk.controlRequest = (request) => controlSocketRequest(desk.control, request);
  writeFileSync(desk.recorderConf, recorderConf(desk.deskDir, recipient));
  for (const role of roles)
    ansimctl(['user', 'add', role, '--role', role, '--password-stdin', '--config', desk.panelConf],
      password + '\n');

  // Under ASan the panel (GStreamer for playback and the export's MP4) and
  // the recorder need full stacks for lsan.supp to name library-lifetime
  // blocks.
  const asan = process.env.ASAN_OPTIONS;
  const slowUnwind = asan ? { ASAN_OPTIONS: asan + ':fast_unwind_on_malloc=0' } : {};
  const panel = desk.daemon('panel', 'panel/ansim-panel', ['--config', desk.panelConf], slowUnwind);
  desk.url = await until('the panel listens', () => {
    const m = readFileSync(panel.log, 'utf8').match(/listening on (http:\/\/\S+?)\/?$/m);
    if (panel.exitCode !== null) throw new Error('ansim-panel exited: ' + readFileSync(panel.log, 'utf8'));
    return m && m[1];
  }, 20000);

  const recorder = desk.daemon('recorder', 'recorder/ansim-recorder', ['--config', desk.recorderConf],
    slowUnwind);
  await until('the recorder answers on its control socket', async () => {
    if (recorder.exitCode !== null) throw new Error('ansim-recorder exited: ' + readFileSync(recorder.log, 'utf8'));
    try { return (await desk.controlRequest('outputs')).ok; } catch { return false; }
  }, 30000, 100);

  const code = ansimctl(['enroll-code', '--config', desk.panelConf, '--device', 'dev-1', '--desk', 'desk-1']).trim();
  assert.match(ansimctl(['enroll', '--data-dir', desk.deskDir, '--panel', desk.url, '--code', code,
    '--device', 'dev-1']), /enrolled as device/);
  const uploaderConf = join(desk.deskDir, 'uploader.conf');
  writeFileSync(uploaderConf, `[uploader]\ndata_dir = ${desk.deskDir}\npanel_url = ${desk.url}\n` +
    `poll_interval = 1\nretry_min = 1\nretry_max = 2\n${uploaderExtra}`);
  desk.uploader = desk.daemon('uploader', 'uploader/ansim-uploader', ['--config', uploaderConf]);
  return desk;
}

// Stops the desk's daemons, the uploader and recorder first (the panel
// must outlive their last requests); each must stop cleanly (exit 0) and,
// under the sanitizers, quietly. Removes the folder.
export async function stopRealDesk(desk) {
  const problems = [];
  for (const proc of [...desk.daemons].reverse()) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const { code, signal } = await proc.exited;
    const log = readFileSync(proc.log, 'utf8');
    if (code !== 0 || /runtime error:|AddressSanitizer|LeakSanitizer/.test(log)) {
      problems.push(`${proc.spawnfile} ended with ${code ?? signal}`);
      console.log(`# ${proc.spawnfile} ended with ${code ?? signal}:\n` +
        log.split('\n').slice(-30).map((l) => '# ' + l).join('\n'));
    }
  }
  rmSync(desk.dir, { recursive: true, force: true });
  assert.deepEqual(problems, [], 'every daemon stops cleanly');
}
