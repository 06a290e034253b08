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
import { readFileSync, mkdirSync } from 'node:fs';
import { SHOTS, ansimctl as run, launchBrowser, loggedIn as loggedInAs, shot, startRealDesk,
  stopRealDesk, until } from './common.mjs';

const PASSWORD = 'browser-test-password-1';
const DESK_NAME = '민원실 2번 창구';

const ESCALATE_S = 2;
let desk, uploader, recorderConf, url, browser, daemons;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // Long enough a post-event period that the incident is still recording
  // while it is played back.
  desk = await startRealDesk({
    name: 'alarm', roles: ['security', 'admin', 'trainer', 'auditor'], password: PASSWORD,
    panelExtra: `escalate_after_s = ${ESCALATE_S}\ndevice_offline_after_s = 8\n`,
    uploaderExtra: 'heartbeat_interval = 5\n',
    recorderConf: (deskDir, recipient) => `[recorder]\ndevice_id = dev-1\ndata_dir = ${deskDir}\n` +
      `recipients = ${recipient}\npre_event_seconds = 2\npost_event_seconds = 8\n` +
      `segment_seconds = 2\nnotice_sound = none\n\n` +
      `[desk]\nid = desk-1\nname = ${DESK_NAME}\n\n` +
      `[trigger desk-button]\ninput = simulated\n\n` +
      `[trigger bodycam]\ninput = simulated\nkind = bodycam\n\n` +
      `[output recording]\nkind = simulated\n\n[output acknowledged]\nkind = simulated\n\n` +
      `[source desk-camera]\nkind = fixed\nvideo = test\nwidth = 320\nheight = 240\n` +
      `framerate = 15\nbitrate_kbps = 300\nkeyframe_ms = 1000\n\n` +
      `[source bodycam]\nkind = wearable\nvideo = test\naudio = test\ntriggers = bodycam\nwidth = 320\n` +
      `height = 240\nframerate = 15\nbitrate_kbps = 300\nkeyframe_ms = 1000\n`,
  });
  ({ uploader, recorderConf, url, daemons } = desk);
  browser = await launchBrowser();
  // The pre-event ring fills.
  await new Promise((r) => setTimeout(r, 2500));
});

after(async () => {
  if (browser) await browser.close();
  if (desk) await stopRealDesk(desk);
});

// No guard on requests leaving the panel here (console.test.mjs has it).
function loggedIn(user) {
  return loggedInAs(browser, url, user, PASSWORD, { onlyPanel: false });
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
