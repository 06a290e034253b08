// SPDX-License-Identifier: GPL-3.0-or-later
// Four eyes on a legal hold's release, in the console as two administrators
// see it: a real ansim-panel, a desk (desk-sim) that records one incident,
// Debian's chromium. The one who asks sees the request waiting and can only
// withdraw it; the other approves it and the hold is gone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeSite, BUILD, SHOTS, addUsers, startPanel, stopPanel, launchBrowser, loggedIn, shot,
  startDesk } from './common.mjs';

const PASSWORD = 'browser-hold-password-1';
let dir, panel, url, browser, conf;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  ({ dir, conf } = makeSite('ansim-hold-', '보존 조치 시험'));
  addUsers(conf, ['admin'], PASSWORD);
  const r = spawnSync(join(BUILD, 'ansimctl/ansimctl'),
    ['user', 'add', 'admin2', '--role', 'admin', '--password-stdin', '--config', conf],
    { input: PASSWORD + '\n', encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  ({ panel, url } = await startPanel(conf));
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (panel) await stopPanel(panel);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('releasing a legal hold takes a second administrator', async () => {
  const desk = startDesk(join(dir, 'desk'), conf, url, join(dir, 'site.key'));
  try {
    await desk.wait('ready', 20000);
    desk.send('press');
    await desk.wait('pressed');
    desk.send('close');
    await desk.wait('closed');
  } finally {
    await desk.stop();
  }
  const first = await loggedIn(browser, url, 'admin', PASSWORD);
  const id = await first.evaluate(async () => {
    const r = await fetch('/api/incidents?limit=1');
    return (await r.json()).incidents[0].id;
  });
  await first.goto(url + '/#/incidents/' + id);
  await first.waitForSelector('#hold-form:not([hidden])');
  await first.fill('#hold-form textarea[name="reason"]', '경찰 수사 협조 요청');
  await first.click('#hold-submit');
  await first.waitForSelector('#page-incident[data-legal-hold="true"]');

  // Shortening the period a held incident follows ("incident") waits for
  // the other administrator too, who sees it in the settings.
  await first.goto(url + '/#/settings');
  await first.fill('#retention-table input[name="incident"]', '5');
  await first.click('#retention-save');
  await first.waitForFunction(() => /다른 관리자가 승인해야/.test(
    document.querySelector('#retention-result').textContent));
  await first.waitForSelector('#retention-requests:not([hidden])');
  assert.equal(await first.locator('#retention-requests-list button[data-decision="approve"]').count(), 0);
  const policy = async (p) => p.evaluate(async () => (await (await fetch('/api/settings/retention'))
    .json()).policy.find((c) => c.category === 'incident').effective_days);
  assert.equal(await policy(first), 30);
  const other = await loggedIn(browser, url, 'admin2', PASSWORD);
  await other.goto(url + '/#/settings');
  await other.waitForSelector('#retention-requests-list li');
  assert.match(await other.textContent('#retention-requests-list li'), /admin님이 .*요청: 실제 사건.* → 5일/);
  await shot(other, 'retention-shorten-to-approve');
  await other.click('#retention-requests-list button[data-decision="approve"]');
  await other.waitForSelector('#retention-requests', { state: 'hidden' });
  assert.equal(await policy(other), 5);
  await other.context().close();
  await first.goto(url + '/#/incidents/' + id);

  // The first administrator asks for the release: the hold stays.
  await first.waitForSelector('#hold-form:not([hidden])');
  await first.fill('#hold-form textarea[name="reason"]', '수사 종결 통보');
  await first.click('#hold-submit');
  await first.waitForSelector('#hold-request:not([hidden])');
  assert.match(await first.textContent('#hold-request-status'),
    /보존 조치 해제를 요청했습니다: 수사 종결 통보\. 다른 관리자가 승인해야/);
  assert.equal(await first.isVisible('#hold-approve'), false);
  assert.equal(await first.isVisible('#hold-withdraw'), true);
  assert.equal(await first.getAttribute('#page-incident', 'data-legal-hold'), 'true');
  await shot(first, 'hold-release-requested');

  // The second one sees who asked and why, and approves.
  const second = await loggedIn(browser, url, 'admin2', PASSWORD);
  await second.goto(url + '/#/incidents/' + id);
  await second.waitForSelector('#hold-request:not([hidden])');
  assert.match(await second.textContent('#hold-request-status'), /admin님이 .* 해제를 요청했습니다/);
  assert.equal(await second.isVisible('#hold-withdraw'), false);
  await shot(second, 'hold-release-to-approve');
  await second.click('#hold-approve');
  await second.waitForSelector('#page-incident[data-legal-hold="false"]');
  assert.equal(await second.isVisible('#hold-request'), false);
  assert.match(await second.textContent('#hold-status'), /보존 조치 없음/);

  // Both halves are in the audit log, each with its administrator.
  const audit = await second.evaluate(async () => (await (await fetch('/api/audit')).json()).entries);
  const asked = audit.find((e) => e.action === 'legal-hold-release-requested');
  const released = audit.find((e) => e.action === 'legal-hold-released');
  assert.equal(asked.actor, 'admin');
  assert.equal(released.actor, 'admin2');
  assert.equal(released.detail.requested_by, 'admin');
  await first.context().close();
  await second.context().close();
});
