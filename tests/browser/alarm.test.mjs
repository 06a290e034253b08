// SPDX-License-Identifier: GPL-3.0-or-later
// The alarm loop in the console, every part real: ansim-recorder with two
// cameras (a desk camera and a bodycam, both started by the bodycam's
// trigger), ansim-uploader and ansim-panel on loopback, Debian's chromium.
// One press is one alert listing both cameras; its tone repeats (counted
// by the page's data-beeps hook) until someone acknowledges; the title
// counts open alerts; an unacknowledged alert escalates after
// escalate_after_s on every role's console; an ended session shows the
// full-screen warning with its tone, and so does a lost live connection;
// an offline desk is a 장치 이상, not a 비상 경보.
// Run by meson (suite 'browser') as: node --test --test-reporter=tap FILE
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startDaemon, controlSocketRequest, until } from './common.mjs';

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  console.error('playwright-core is missing: run `npm ci` in tests/browser (scripts/setup test does it)');
  process.exit(1);
}

const BUILD = process.env.ANSIM_BUILD_ROOT;
assert.ok(BUILD, 'ANSIM_BUILD_ROOT must name the build directory');
const SHOTS = join(BUILD, 'tests', 'browser-screenshots');
const ANSIMCTL = join(BUILD, 'ansimctl/ansimctl');
const PASSWORD = 'browser-test-password-1';
const DESK_NAME = '민원실 2번 창구';

const ESCALATE_S = 2;
let uploader;
let dir, deskDir, panelConf, recorderConf, control, url, browser;
const daemons = [];

function run(args, input) {
  const r = spawnSync(ANSIMCTL, args, { input, encoding: 'utf8' });
  assert.equal(r.status, 0, `ansimctl ${args[0]}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

const daemon = (name, exe, args, env) => startDaemon(dir, daemons, name, exe, args, env);
const controlRequest = (request) => controlSocketRequest(control, request);

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'ansim-browser-alarm-'));
  deskDir = join(dir, 'desk');
  mkdirSync(deskDir, { mode: 0o700 });
  panelConf = join(dir, 'panel.conf');
  recorderConf = join(deskDir, 'recorder.conf');
  control = join(deskDir, 'control.sock');
  // The site's identity (age-keygen, mode 0600): the panel decrypts with
  // it, the recorder encrypts to its recipient.
  const siteKey = join(dir, 'site.key');
  const keygen = spawnSync('age-keygen', ['-o', siteKey], { encoding: 'utf8' });
  assert.equal(keygen.status, 0, keygen.stderr);
  const recipient = spawnSync('age-keygen', ['-y', siteKey], { encoding: 'utf8' }).stdout.trim();
  assert.match(recipient, /^age1/);
  writeFileSync(panelConf, `[panel]\ndata_dir = ${join(dir, 'panel')}\nport = 0\n` +
    `site_name = 브라우저 시험\nsite_identity = ${siteKey}\nescalate_after_s = ${ESCALATE_S}\n` +
    `device_offline_after_s = 8\n`);
  // Long enough a post-event period that the incident is still recording
  // while it is played back.
  writeFileSync(recorderConf, `[recorder]\ndevice_id = dev-1\ndata_dir = ${deskDir}\n` +
    `recipients = ${recipient}\npre_event_seconds = 2\npost_event_seconds = 8\n` +
    `segment_seconds = 2\nnotice_sound = none\n\n` +
    `[desk]\nid = desk-1\nname = ${DESK_NAME}\n\n` +
    `[trigger desk-button]\ninput = simulated\n\n` +
    `[trigger bodycam]\ninput = simulated\nkind = bodycam\n\n` +
    `[output recording]\nkind = simulated\n\n[output acknowledged]\nkind = simulated\n\n` +
    `[source desk-camera]\nkind = fixed\nvideo = test\nwidth = 320\nheight = 240\n` +
    `framerate = 15\nbitrate_kbps = 300\nkeyframe_ms = 1000\n\n` +
    `[source bodycam]\nkind = wearable\nvideo = test\naudio = test\ntriggers = bodycam\nwidth = 320\n` +
    `height = 240\nframerate = 15\nbitrate_kbps = 300\nkeyframe_ms = 1000\n`);
  for (const role of ['security', 'admin', 'trainer', 'auditor'])
    run(['user', 'add', role, '--role', role, '--password-stdin', '--config', panelConf], PASSWORD + '\n');

  const panel = daemon('panel', 'panel/ansim-panel', ['--config', panelConf]);
  url = await until('the panel listens', () => {
    const m = readFileSync(panel.log, 'utf8').match(/listening on (http:\/\/\S+?)\/?$/m);
    if (panel.exitCode !== null) throw new Error('ansim-panel exited: ' + readFileSync(panel.log, 'utf8'));
    return m && m[1];
  }, 20000);

  const asan = process.env.ASAN_OPTIONS;
  const recorder = daemon('recorder', 'recorder/ansim-recorder', ['--config', recorderConf],
    asan ? { ASAN_OPTIONS: asan + ':fast_unwind_on_malloc=0' } : {});
  await until('the recorder answers on its control socket', async () => {
    if (recorder.exitCode !== null) throw new Error('ansim-recorder exited: ' + readFileSync(recorder.log, 'utf8'));
    try { return (await controlRequest('outputs')).ok; } catch { return false; }
  }, 30000, 100);

  // Enrolled as docs/protocol.md says, then the uploader on the same data.
  const code = run(['enroll-code', '--config', panelConf, '--device', 'dev-1', '--desk', 'desk-1']).trim();
  assert.match(run(['enroll', '--data-dir', deskDir, '--panel', url, '--code', code, '--device', 'dev-1']),
    /enrolled as device/);
  writeFileSync(join(deskDir, 'uploader.conf'), `[uploader]\ndata_dir = ${deskDir}\npanel_url = ${url}\n` +
    `poll_interval = 1\nretry_min = 1\nretry_max = 2\nheartbeat_interval = 5\n`);
  uploader = daemon('uploader', 'uploader/ansim-uploader', ['--config', join(deskDir, 'uploader.conf')]);

  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--autoplay-policy=no-user-gesture-required',
      ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [])],
  });
  // The pre-event ring fills.
  await new Promise((r) => setTimeout(r, 2500));
});

after(async () => {
  if (browser) await browser.close();
  // Uploader and recorder first: the panel must outlive their last requests.
  // Each must stop cleanly (exit 0) and, under the sanitizers, quietly.
  const problems = [];
  for (const proc of [...daemons].reverse()) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const { code, signal } = await proc.exited;
    const log = readFileSync(proc.log, 'utf8');
    if (code !== 0 || /runtime error:|AddressSanitizer|LeakSanitizer/.test(log)) {
      problems.push(`${proc.spawnfile} ended with ${code ?? signal}`);
      console.log(`# ${proc.spawnfile} ended with ${code ?? signal}:\n` +
        log.split('\n').slice(-30).map((l) => '# ' + l).join('\n'));
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(problems, [], 'every daemon stops cleanly');
});

async function loggedIn(user) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'ko-KR' });
  const page = await context.newPage();
  await page.goto(url + '/console/');
  await page.waitForSelector('body[data-ready="true"]');
  await page.fill('#login-user', user);
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-submit');
  await page.waitForSelector('#nav:not([hidden])');
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, name + '.png'), fullPage: true });
}

async function latestIncident(page) {
  return page.evaluate(async () => (await (await fetch('/api/incidents?limit=1')).json()).incidents[0]);
}


const beeps = (page) => page.evaluate(() => Number(document.body.dataset.beeps || 0));
const api = (page, path) => page.evaluate(async (p) => (await fetch(p)).json(), path);

function press(trigger) {
  run(['press', '--config', recorderConf, '--trigger', trigger]);
}

async function openIncidents(page) {
  return (await api(page, '/api/incidents?status=unresolved')).incidents;
}

async function withLogs(fn) {
  try {
    await fn();
  } catch (e) {
    for (const proc of daemons)
      console.log(`# ${proc.spawnfile} log:\n` +
        readFileSync(proc.log, 'utf8').split('\n').slice(-25).map((l) => '# ' + l).join('\n'));
    throw e;
  }
}

test('one bodycam press on a desk with two cameras: one alert listing both, loud until acknowledged, ack acts on both', () => withLogs(async () => {
  const page = await loggedIn('security');
  const trainer = await loggedIn('trainer');
  await page.waitForFunction(() => document.querySelector('#stream-state').dataset.i18n === 'stream.open');
  const before0 = await beeps(page);
  press('bodycam');
  await page.waitForSelector('#alert-banner:not([hidden])', { timeout: 10000 });
  // Both incidents at the panel, one alert.
  const incidents = await until('two incidents of the press', async () => {
    const list = await openIncidents(page);
    return list.length === 2 && list.every((i) => i.source) && list;
  }, 10000, 100);
  assert.equal(incidents[0].alert_id, incidents[1].alert_id, 'one alert');
  assert.deepEqual(incidents.map((i) => i.source).sort(), ['bodycam', 'desk-camera']);
  assert.notEqual(incidents[0].uuid, incidents[1].uuid, 'separate evidence');
  await page.waitForFunction(() => (document.querySelector('#alert-banner').dataset.cameras || '').split(',').length === 2);
  assert.match(await page.textContent('#banner-cameras'), /bodycam/);
  assert.match(await page.textContent('#banner-cameras'), /desk-camera/);
  await page.goto(url + '/console/#/alerts');
  await page.waitForSelector('#alerts-list li[data-alert]');
  assert.equal(await page.locator('#alerts-list li[data-alert]').count(), 1, 'one entry in the alert list');
  assert.equal(await page.title(), '(1) 비상 경보');
  assert.equal(await trainer.title(), '(1) 비상 경보');

  // The tone repeats while nobody acknowledges (every 3 s).
  const start = await beeps(page);
  await new Promise((r) => setTimeout(r, 7000));
  const played = (await beeps(page)) - start;
  console.log(`# tone played ${played} times in 7 s while unacknowledged (${start - before0} before)`);
  assert.ok(played >= 2, `the tone repeated only ${played} times`);
  assert.ok((await beeps(trainer)) >= 3, 'the trainer console is loud too');
  await shot(page, 'alarm-two-cameras');

  // Acknowledge once: both incidents, and the tone stops.
  await page.click('#alerts-list li[data-alert] button.ack');
  await until('both acknowledged', async () => (await openIncidents(page)).every((i) => i.status === 'acknowledged'), 5000, 100);
  await page.waitForFunction(() => document.title === '안심 관제');
  await trainer.waitForFunction(() => document.title === '안심 관제');
  const stopped = await beeps(page);
  await new Promise((r) => setTimeout(r, 4000));
  assert.equal(await beeps(page), stopped, 'no tone after the acknowledgement');
  const timeline = await api(page, '/api/incidents/' + incidents[1].id);
  assert.ok(timeline.timeline.some((e) => e.what === 'acknowledged'), 'the second incident has its own acknowledged entry');

  // Resolve acts on the alert too.
  const resolved = await page.evaluate(async (id) => (await fetch('/api/incidents/' + id + '/resolve', {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': state.session.csrf_token },
    body: JSON.stringify({ category: 'false-alarm' }) })).status, incidents[0].id);
  assert.equal(resolved, 200);
  assert.equal((await openIncidents(page)).length, 0, 'resolving one resolved the alert');
  await page.context().close();
  await trainer.context().close();
}));

test('an alert nobody acknowledges escalates on every console: admin, trainer, auditor', () => withLogs(async () => {
  const pages = {};
  for (const role of ['admin', 'trainer', 'auditor']) pages[role] = await loggedIn(role);
  await pages.auditor.waitForFunction(() => document.querySelector('#stream-state').dataset.i18n === 'stream.open');
  const pressed = Date.now();
  press('desk-button');
  for (const [role, page] of Object.entries(pages)) {
    await page.waitForSelector('#escalation-banner:not([hidden])', { timeout: (ESCALATE_S + 8) * 1000 });
    assert.match(await page.textContent('#escalation-desk'), new RegExp(DESK_NAME), role);
  }
  const after = Date.now() - pressed;
  console.log(`# press -> escalation banner on admin, trainer and auditor consoles: ${after} ms (escalate_after_s = ${ESCALATE_S})`);
  assert.ok(after >= ESCALATE_S * 1000, 'not before escalate_after_s');
  const open = await openIncidents(pages.admin);
  assert.equal(open.length, 1);
  assert.ok(open[0].escalated_at_us > 0);
  const detail = await api(pages.admin, '/api/incidents/' + open[0].id);
  assert.ok(detail.timeline.some((e) => e.what === 'escalated'), 'escalated on the timeline');
  await shot(pages.auditor, 'alarm-escalated-auditor');
  // An auditor's stream carries the escalation and nothing else.
  assert.equal(await pages.auditor.locator('#events-list li[data-event="escalated"]').count(), 1);
  assert.equal(await pages.auditor.locator('#events-list li[data-event="incident"]').count(), 0);
  assert.equal(await pages.trainer.locator('#events-list li[data-event="incident"]').count(), 1);
  // Taken: the admin acknowledges; the escalation banner goes.
  await pages.admin.goto(url + '/console/#/alerts');
  await pages.admin.click('#alerts-list li[data-alert] button.ack');
  await pages.admin.waitForSelector('#escalation-banner', { state: 'hidden' });
  for (const page of Object.values(pages)) await page.context().close();
}));

test('a session that ends shows the full-screen warning with its tone', () => withLogs(async () => {
  const page = await loggedIn('security');
  await page.waitForFunction(() => document.querySelector('#stream-state').dataset.i18n === 'stream.open');
  assert.ok(await page.isHidden('#alarm-lost'));
  // Ended from elsewhere (as an admin disabling the account, or a logout
  // in another tab): the stream says session-ended.
  await page.evaluate(() => fetch('/api/logout', { method: 'POST', headers: { 'X-CSRF-Token': state.session.csrf_token } }));
  await page.waitForSelector('#alarm-lost:not([hidden])', { timeout: 5000 });
  assert.equal(await page.textContent('#alarm-lost h1'), '경보를 받을 수 없습니다 — 다시 로그인하세요');
  const start = await beeps(page);
  await new Promise((r) => setTimeout(r, 6500));
  assert.ok((await beeps(page)) - start >= 2, 'the warning repeats its tone');
  await shot(page, 'alarm-session-ended');
  await page.click('#alarm-lost-login');
  await page.waitForSelector('#login:not([hidden])');
  const quiet = await beeps(page);
  await new Promise((r) => setTimeout(r, 3500));
  assert.equal(await beeps(page), quiet, 'quiet once the person went to log in');
  await page.context().close();
}));

test('a session about to expire warns, and renewing keeps it', () => withLogs(async () => {
  const page = await loggedIn('security');
  // The session's lifetime here is the default 12 h; move the console's
  // idea of it 5 minutes from now to see the warning, then renew for real.
  await page.evaluate(() => { state.session.expires_at_us = (Date.now() + 5 * 60 * 1000) * 1000; });
  await page.waitForSelector('#session-warning:not([hidden])', { timeout: 3000 });
  await page.click('#session-renew');
  await page.waitForSelector('#session-warning', { state: 'hidden' });
  assert.ok(await page.evaluate(() => state.session.expires_at_us) > (Date.now() + 11 * 3600 * 1000) * 1000);
  await page.context().close();
}));

test('a desk that goes offline is a 장치 이상 alert, not a 비상 경보, with its own acknowledgement', () => withLogs(async () => {
  const page = await loggedIn('security');
  await page.goto(url + '/console/#/alerts');
  await page.waitForFunction(() => document.querySelector('#stream-state').dataset.i18n === 'stream.open');
  uploader.kill('SIGTERM');
  await page.waitForSelector('#device-banner:not([hidden])', { timeout: 20000 });
  assert.ok(await page.isHidden('#alert-banner'), 'not the red 비상 경보 banner');
  assert.equal(await page.textContent('#device-banner .banner-title'), '장치 이상');
  await page.waitForSelector('#alerts-list li.device');
  assert.match(await page.textContent('#alerts-list li.device'), /장치 이상/);
  assert.equal(await page.title(), '(1) 비상 경보');
  await shot(page, 'alarm-device-offline');
  await page.click('#device-banner-ack');
  await page.waitForSelector('#alerts-list li.device.acknowledged');
  await page.waitForFunction(() => document.title === '안심 관제');
  const listed = await api(page, '/api/devices/alerts');
  assert.equal(listed.alerts.length, 1);
  assert.equal(listed.alerts[0].acknowledged_by, 'security');
  assert.equal(listed.alerts[0].kind, 'device-offline');
  await page.context().close();
}));

test('a console whose live connection is gone says so loudly within seconds', () => withLogs(async () => {
  const page = await loggedIn('security');
  await page.waitForFunction(() => document.querySelector('#stream-state').dataset.i18n === 'stream.open');
  // The panel stops (last: every other test is done with it).
  const panel = daemons.find((p) => p.spawnfile.endsWith('ansim-panel'));
  const stopped = Date.now();
  panel.kill('SIGTERM');
  await panel.exited;
  await page.waitForSelector('#alarm-lost:not([hidden])', { timeout: 12000 });
  console.log(`# panel stopped -> the console's full-screen warning: ${Date.now() - stopped} ms`);
  assert.equal(await page.getAttribute('body', 'data-alarm-lost'), 'stream');
  assert.equal(await page.textContent('#alarm-lost h1'), '경보를 받을 수 없습니다 — 다시 로그인하세요');
  assert.match(await page.textContent('#alarm-lost-reason'), /실시간 연결이 끊겼습니다/);
  const start = await beeps(page);
  await new Promise((r) => setTimeout(r, 6500));
  assert.ok((await beeps(page)) - start >= 2, 'the warning repeats its tone');
  await shot(page, 'alarm-stream-lost');
  await page.context().close();
}));
