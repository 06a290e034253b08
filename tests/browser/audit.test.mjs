// SPDX-License-Identifier: GPL-3.0-or-later
// The audit page in Debian's chromium against a real ansim-panel: filters
// by user, action, incident and time narrow the list the way an auditor
// asks "what did this person do with whose data"; each entry's detail
// reads as labelled words, not JSON; every action shows in Korean.
// Run by meson (suite 'browser') as: node --test --test-reporter=tap FILE
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeSite, BUILD, ROLES, SHOTS, addUsers, startPanel, stopPanel, launchBrowser, loggedIn,
  shot, startDesk } from './common.mjs';

const PASSWORD = 'browser-test-password-1';
let dir, panel, url, browser, conf;
const incidents = [];

async function loginAs(user, password) {
  const reply = await fetch(url + '/api/login', { method: 'POST',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user, password }) });
  return { status: reply.status, cookie: (reply.headers.get('set-cookie') || '').split(';')[0] };
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  ({ dir, conf } = makeSite('ansim-browser-audit-', '감사 시험'));
  addUsers(conf, ROLES, PASSWORD);
  ({ panel, url } = await startPanel(conf));
  browser = await launchBrowser();

  // Two presses, each opened twice by security: incident-viewed entries
  // whose targets are "incident N".
  const desk = startDesk(join(dir, 'desk'), conf, url, join(dir, 'site.key'));
  try {
    await desk.wait('ready', 20000);
    const security = await loginAs('security', PASSWORD);
    assert.equal(security.status, 200);
    for (let i = 0; i < 2; i++) {
      desk.send('press');
      await desk.wait('pressed');
      let list;
      for (const end = Date.now() + 10000; Date.now() < end;) {
        list = await (await fetch(url + '/api/incidents', { headers: { Cookie: security.cookie } })).json();
        if (list.incidents.length > i) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const id = Math.max(...list.incidents.map((x) => x.id));
      incidents.push(id);
      for (let v = 0; v < 2; v++) {
        const view = await fetch(url + '/api/incidents/' + id, { headers: { Cookie: security.cookie } });
        assert.equal(view.status, 200);
      }
    }
  } finally {
    await desk.stop();
  }
  // Failed logins with their reasons.
  assert.equal((await loginAs('trainer', 'wrong-password')).status, 401);
  assert.equal((await loginAs('nobody-here', 'wrong-password')).status, 401);
});

after(async () => {
  if (browser) await browser.close();
  if (panel) await stopPanel(panel);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function rows(page) {
  return page.locator('#audit-table tbody tr').evaluateAll((trs) => trs.map((tr) => ({
    action: tr.dataset.action,
    cells: [...tr.querySelectorAll('td')].map((td) => td.textContent),
  })));
}

// Clicks button and waits until the next page of entries is shown.
async function showAfter(page, button) {
  const before = await page.getAttribute('#audit-table tbody', 'data-shown');
  await page.click(button);
  await page.waitForFunction((n) =>
    document.querySelector('#audit-table tbody').dataset.shown !== n, before);
}

function applyFilters(page) {
  return showAfter(page, '#audit-filters button[type="submit"]');
}

test('the audit page: filters by user, action, incident and time; readable details', async () => {
  const page = await loggedIn(browser, url, 'auditor', PASSWORD);
  await page.waitForSelector('#page-audit:not([hidden])');
  await page.waitForSelector('#audit-table tbody tr');

  // Every action is shown in words, and every detail as labelled lines.
  const all = await rows(page);
  assert.ok(all.length >= 10, `${all.length} rows`);
  for (const row of all) {
    assert.notEqual(row.cells[5], row.action, `action ${row.action} shown raw`);
    assert.ok(!row.cells[5].startsWith('action.'), `action ${row.action} untranslated`);
    assert.ok(!row.cells[7].includes('{'), `detail of ${row.action} shown as JSON: ${row.cells[7]}`);
  }
  const failed = all.find((r) => r.action === 'login-failed' && r.cells[6] === 'trainer');
  assert.ok(failed);
  assert.equal(failed.cells[5], '로그인 실패');
  assert.equal(failed.cells[7], '사유: 비밀번호 틀림');

  // By user.
  await page.fill('#audit-filters input[name="user"]', 'security');
  await applyFilters(page);
  let shown = await rows(page);
  assert.ok(shown.length >= 5, `${shown.length} rows of security`);
  assert.ok(shown.every((r) => r.cells[2] === 'security'));

  // And by action, chosen by its Korean name.
  await page.selectOption('#audit-filters select[name="action"]', { label: '사건 열람' });
  await applyFilters(page);
  shown = await rows(page);
  assert.equal(shown.length, 4);
  assert.ok(shown.every((r) => r.action === 'incident-viewed' && r.cells[5] === '사건 열람'));

  // And by incident: the two views of the first press only.
  await page.fill('#audit-filters input[name="incident"]', String(incidents[0]));
  await applyFilters(page);
  shown = await rows(page);
  assert.equal(shown.length, 2);
  assert.ok(shown.every((r) => r.cells[6] === `incident ${incidents[0]}`));
  await shot(page, 'audit-filtered');

  // A time window that ends before anything happened: nothing, said so.
  await page.fill('#audit-filters input[name="incident"]', '');
  await page.fill('#audit-filters input[name="to"]', '2020-01-01T00:00');
  await applyFilters(page);
  assert.equal((await rows(page)).length, 0);
  assert.equal(await page.isVisible('#audit-none'), true);
  // From a minute ago: the entries are back.
  await page.fill('#audit-filters input[name="to"]', '');
  const minuteAgo = new Date(Date.now() - 60000);
  const local = new Date(minuteAgo.getTime() - minuteAgo.getTimezoneOffset() * 60000)
    .toISOString().slice(0, 16);
  await page.fill('#audit-filters input[name="from"]', local);
  await applyFilters(page);
  assert.equal((await rows(page)).length, 4);

  // Clearing shows the whole log again.
  await showAfter(page, '#audit-filters button[type="reset"]');
  assert.ok((await rows(page)).length >= all.length);
  await page.context().close();
});

// incident-viewed entries of incident id, as the auditor's API lists them.
async function views(id) {
  const auditor = await loginAs('auditor', PASSWORD);
  const reply = await fetch(url + '/api/audit?action=incident-viewed&incident=' + id,
    { headers: { Cookie: auditor.cookie } });
  assert.equal(reply.status, 200);
  return (await reply.json()).entries;
}

test('one view entry per page open, not per refresh', async () => {
  const id = incidents[1];
  const before = (await views(id)).length;
  const page = await loggedIn(browser, url, 'security', PASSWORD);
  await page.goto(url + `/console/#/incidents/${id}`);
  await page.waitForSelector(`#page-incident[data-incident="${id}"]`);
  assert.equal((await views(id)).length, before + 1);
  // Acknowledging reloads the page's data (and so does its live event).
  await page.click('#incident-ack');
  await page.waitForSelector('#page-incident[data-status="acknowledged"]');
  await page.waitForTimeout(300);
  assert.equal((await views(id)).length, before + 1);
  // Leaving and opening it again is another view.
  await page.goto(url + '/console/#/incidents');
  await page.goto(url + `/console/#/incidents/${id}`);
  await page.waitForSelector(`#page-incident[data-incident="${id}"]`);
  await page.waitForTimeout(300);
  assert.equal((await views(id)).length, before + 2);
  await page.context().close();
});

test('with access_purpose the console asks why, and the audit log keeps the answer', async () => {
  await stopPanel(panel);
  panel = null;
  const port = new URL(url).port;
  writeFileSync(conf, `[panel]\ndata_dir = ${dir}\nport = ${port}\nsite_name = 감사 시험\n` +
    `site_identity = ${join(dir, 'site.key')}\naccess_purpose = true\n`);
  ({ panel, url } = await startPanel(conf));
  const id = incidents[0];
  const before = (await views(id)).length;
  const page = await loggedIn(browser, url, 'security', PASSWORD);
  await page.goto(url + `/console/#/incidents/${id}`);
  await page.waitForSelector('#purpose-form:not([hidden])');
  assert.equal(await page.textContent('#purpose-form h2'), '열람 목적');
  assert.equal(await page.isVisible('#incident-title'), false);
  assert.equal((await views(id)).length, before);
  await shot(page, 'incident-purpose');
  await page.fill('#purpose-form input[name="purpose"]', '민원인 폭언 경위 확인');
  await page.click('#purpose-form button[type="submit"]');
  await page.waitForSelector(`#page-incident[data-incident="${id}"]:not([data-purpose-needed])`);
  assert.equal(await page.isVisible('#incident-title'), true);
  assert.equal(await page.isVisible('#purpose-form'), false);
  const entries = await views(id);
  assert.equal(entries.length, before + 1);
  assert.equal(entries[0].detail.purpose, '민원인 폭언 경위 확인');
  // The audit page shows it in words.
  const auditor = await loggedIn(browser, url, 'auditor', PASSWORD);
  await auditor.waitForSelector('#audit-table tbody tr');
  const row = auditor.locator('#audit-table tbody tr[data-action="incident-viewed"]').first();
  assert.equal(await row.locator('td').nth(7).textContent(), '열람 목적: 민원인 폭언 경위 확인');
  await page.context().close();
  await auditor.context().close();
});
