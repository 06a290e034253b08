// SPDX-License-Identifier: GPL-3.0-or-later
// Browser tests of the ansim console: a real ansim-panel on loopback, users
// made with `ansimctl user add`, Debian's chromium driven by playwright-core.
// Run by meson (suite 'browser') as: node --test --test-reporter=tap FILE
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILD, ROLES, SHOTS, addUsers, startPanel, stopPanel, launchBrowser, openConsole, logIn,
  loggedIn as loggedInAs, playFromBanner, shot, startDesk } from './common.mjs';

const PASSWORD = 'browser-test-password-1';
const KO = {
  badCredentials: '사용자 이름 또는 비밀번호가 틀렸습니다.',
  forbidden: '이 화면을 볼 권한이 없습니다.',
  nav: { alerts: '경보', incidents: '사건', devices: '장치', audit: '감사 기록', drills: '모의훈련',
    reports: '보고서', settings: '설정' },
  role: { security: '보안 요원', trainer: '훈련 담당', admin: '관리자', auditor: '감사 담당' },
};
const NAV_FOR = {
  security: ['alerts', 'incidents', 'devices'],
  trainer: ['alerts', 'incidents', 'drills', 'reports'],
  admin: ['alerts', 'incidents', 'devices', 'audit', 'drills', 'reports', 'disclosures', 'settings'],
  auditor: ['audit', 'drills', 'reports', 'disclosures', 'settings'],
};

let dir, panel, url, browser, conf;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'ansim-browser-'));
  conf = join(dir, 'panel.conf');
  // The site's identity, made by Debian's age-keygen (mode 0600).
  const keygen = spawnSync('age-keygen', ['-o', join(dir, 'site.key')], { encoding: 'utf8' });
  assert.equal(keygen.status, 0, keygen.stderr);
  writeFileSync(conf, `[panel]\ndata_dir = ${dir}\nport = 0\nsite_name = 브라우저 시험\n` +
    `site_identity = ${join(dir, 'site.key')}\nplayback_idle_s = 1\n\n` +
    // A webhook nobody answers (port 9, discard): its failures are listed.
    `[webhook sms-gateway]\nurl = http://user:pw@127.0.0.1:9/hook?token=x\n` +
    `secret = browser-test-secret-0123456789\nevents = alert; resolved\n`);
  addUsers(conf, ROLES, PASSWORD);
  // Under ASan the panel (GStreamer for the export's MP4) needs the full
  // stack for lsan.supp to name library-lifetime blocks.
  const asan = process.env.ASAN_OPTIONS;
  ({ panel, url } = await startPanel(conf, { ANSIM_PANEL_TEST_PUBLISH: '1',
    ...(asan ? { ASAN_OPTIONS: asan + ':fast_unwind_on_malloc=0' } : {}) }));
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (panel) await stopPanel(panel);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function newPage(viewport) {
  return openConsole(browser, url, { viewport });
}

function login(page, user, password = PASSWORD) {
  return logIn(page, user, password);
}

function loggedIn(user, viewport) {
  return loggedInAs(browser, url, user, PASSWORD, { viewport });
}

test('a wrong password is refused with the Korean message', async () => {
  const page = await newPage();
  assert.equal(await page.getAttribute('html', 'lang'), 'ko');
  await login(page, 'security', 'not-the-password');
  const error = page.locator('#login-error');
  await error.waitFor({ state: 'visible' });
  assert.equal(await error.textContent(), KO.badCredentials);
  assert.equal(await page.isVisible('#nav'), false);
  await shot(page, 'login-wrong-password');
  await page.context().close();
});

for (const role of ROLES) {
  test(`log in as ${role}: the shell shows the pages of the role`, async () => {
    const page = await loggedIn(role);
    assert.equal(await page.textContent('#who'), `${role} · ${KO.role[role]}`);
    for (const [name, label] of Object.entries(KO.nav)) {
      const link = page.locator(`#nav a[data-page="${name}"]`);
      assert.equal(await link.textContent(), label);
      assert.equal(await link.isVisible(), NAV_FOR[role].includes(name), `${role} ${name}`);
    }
    await shot(page, `shell-${role}-desktop`);
    await page.context().close();
  });
}

test('readable at tablet width', async () => {
  const page = await loggedIn('admin', { width: 768, height: 1024 });
  await page.goto(url + '/console/#/audit');
  await page.waitForSelector('#audit-table tbody tr');
  // Nothing wider than the screen but the table's own scroller.
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 768, `page is ${width}px wide`);
  await shot(page, 'audit-admin-tablet');
  await page.context().close();
});

test('an auditor sees the audit log and its integrity', async () => {
  const page = await loggedIn('auditor');
  await page.waitForSelector('#page-audit:not([hidden])');
  await page.waitForSelector('#audit-table tbody tr');
  const actions = await page.locator('#audit-table tbody tr').evaluateAll(
    (rows) => rows.map((r) => r.dataset.action));
  assert.ok(actions.includes('login'), actions.join(','));
  assert.ok(actions.includes('login-failed'), actions.join(','));
  assert.ok(actions.includes('user-added'), actions.join(','));
  // The newest entry is this very login, shown in Korean.
  const first = page.locator('#audit-table tbody tr').first();
  assert.equal(await first.locator('td').nth(2).textContent(), 'auditor');
  assert.equal(await first.locator('td').nth(5).textContent(), '로그인');
  await page.click('#audit-verify');
  await page.waitForSelector('#audit-verify-result.ok');
  assert.match(await page.textContent('#audit-verify-result'), /^기록이 온전합니다 \(\d+건 확인\)\.$/);
  await shot(page, 'audit-auditor');
  await page.context().close();
});

test('a security user gets 403 from /api/audit and the page says so', async () => {
  const page = await loggedIn('security');
  const [reply] = await Promise.all([
    page.waitForResponse((r) => r.url().startsWith(url + '/api/audit')),
    page.goto(url + '/console/#/audit'),
  ]);
  assert.equal(reply.status(), 403);
  assert.equal((await reply.json()).error, 'forbidden');
  const message = page.locator('#audit-forbidden');
  await message.waitFor({ state: 'visible' });
  assert.equal(await message.textContent(), KO.forbidden);
  assert.equal(await page.isVisible('#audit-table'), false);
  await shot(page, 'audit-forbidden-security');
  await page.context().close();
});

test('the language switch turns the console to English and is remembered', async () => {
  const page = await newPage();
  await page.click('#lang-switch');
  await page.waitForFunction(() => document.documentElement.lang === 'en');
  assert.equal(await page.textContent('#login-submit'), 'Log in');
  await login(page, 'trainer', 'wrong-password-1');
  await page.locator('#login-error').waitFor({ state: 'visible' });
  assert.equal(await page.textContent('#login-error'), 'Wrong user name or password.');
  await login(page, 'trainer');
  await page.waitForSelector('#nav:not([hidden])');
  assert.equal(await page.textContent('#nav a[data-page="alerts"]'), 'Alerts');
  assert.equal(await page.textContent('#who'), 'trainer · Trainer');
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await page.textContent('#nav a[data-page="incidents"]'), 'Incidents');
  await shot(page, 'shell-trainer-english');
  // And back.
  await page.click('#lang-switch');
  await page.waitForFunction(() => document.documentElement.lang === 'ko');
  assert.equal(await page.textContent('#nav a[data-page="alerts"]'), KO.nav.alerts);
  await page.context().close();
});

test('CSRF: a POST without the token is refused and changes nothing', async () => {
  const page = await loggedIn('admin');
  const withoutToken = await page.evaluate(async () => {
    const r = await fetch('/api/logout', { method: 'POST' });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(withoutToken.status, 403);
  assert.equal(withoutToken.body.error, 'csrf');
  const create = await page.evaluate(async () => {
    const r = await fetch('/api/users', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'mallory', role: 'admin', password: 'mallory-password-1' }) });
    return r.status;
  });
  assert.equal(create, 403);
  // The session still works, and no user was added.
  const users = await page.evaluate(async () => (await (await fetch('/api/users')).json()).users.map((u) => u.name));
  assert.deepEqual(users.sort(), [...ROLES].sort());
  // The console's own logout (with the token) works.
  await page.click('#logout');
  await page.waitForSelector('#login:not([hidden])');
  const after = await page.evaluate(async () => (await fetch('/api/session')).status);
  assert.equal(after, 401);
  await page.context().close();
});

test('retention settings: an admin changes a period, a bad one is refused, an auditor only reads', async () => {
  const page = await loggedIn('admin');
  await page.goto(url + '/console/#/settings');
  await page.waitForSelector('#retention-table tbody tr[data-category="drill"]');
  assert.equal(await page.locator('#retention-table tbody tr').count(), 9);
  assert.equal(await page.textContent('#page-settings h1'), '보존 기간');
  // A bad period: the panel's answer names the field; nothing is saved.
  await page.fill('#retention-table input[name="drill"]', '-5');
  await page.click('#retention-save');
  await page.waitForFunction(() => document.querySelector('#retention-result').textContent !== '');
  assert.match(await page.textContent('#retention-result'), /drill/);
  let policy = await page.evaluate(async () => (await (await fetch('/api/settings/retention')).json()).policy);
  assert.equal(policy.find((p) => p.category === 'drill').effective_days, 30);
  // A good one is saved and shown.
  await page.fill('#retention-table input[name="drill"]', '14');
  await page.click('#retention-save');
  await page.waitForFunction(() => document.querySelector('#retention-result').textContent === '저장했습니다. 모든 변경은 감사 기록에 남습니다.');
  await page.waitForFunction(() => document.querySelector('#retention-table input[name="drill"]').dataset.saved === '14');
  policy = await page.evaluate(async () => (await (await fetch('/api/settings/retention')).json()).policy);
  assert.equal(policy.find((p) => p.category === 'drill').effective_days, 14);
  assert.equal(policy.find((p) => p.category === 'drill').changed_by, 'admin');
  // The webhooks section: the configured one, its address without credentials or query.
  await page.waitForSelector('#webhooks-table tbody tr[data-webhook="sms-gateway"]');
  assert.equal(await page.textContent('#webhooks h2'), '웹훅');
  const hookRow = await page.locator('#webhooks-table tbody tr[data-webhook="sms-gateway"] td').allTextContents();
  assert.deepEqual(hookRow.slice(0, 3), ['sms-gateway', 'http://127.0.0.1:9/hook', 'alert, resolved']);
  assert.equal((await page.textContent('#page-settings')).includes('browser-test-secret'), false);
  await shot(page, 'settings-retention-admin');
  await page.context().close();

  const auditor = await loggedIn('auditor');
  await auditor.goto(url + '/console/#/settings');
  await auditor.waitForSelector('#retention-table tbody tr[data-category="drill"]');
  assert.equal(await auditor.inputValue('#retention-table input[name="drill"]'), '14');
  assert.equal(await auditor.isDisabled('#retention-table input[name="drill"]'), true);
  assert.equal(await auditor.isVisible('#retention-save'), false);
  assert.equal(await auditor.isVisible('#webhooks'), false);
  await shot(auditor, 'settings-retention-auditor');
  await auditor.context().close();
});

test('a published event reaches the open console', async () => {
  const page = await loggedIn('security');
  await page.waitForFunction(() => document.querySelector('#stream-state').dataset.i18n === 'stream.open');
  // An admin in another browser context publishes through the test path.
  const admin = await browser.newContext();
  const api = admin.request;
  const reply = await api.post(url + '/api/login', { data: { user: 'admin', password: PASSWORD } });
  assert.equal(reply.status(), 200);
  const { csrf_token: token } = await reply.json();
  const started = Date.now();
  const published = await api.post(url + '/api/test/publish', {
    headers: { 'X-CSRF-Token': token },
    data: { event: 'test', data: { desk: '민원실 1번 창구', trigger: 'desk-button' } },
  });
  assert.equal(published.status(), 204);
  const item = page.locator('#events-list li[data-event="test"]');
  await item.waitFor({ state: 'visible', timeout: 5000 });
  const ms = Date.now() - started;
  console.log(`# published -> shown in the browser: ${ms} ms`);
  assert.ok(ms < 1000, `took ${ms} ms`);
  assert.match(await item.textContent(), /민원실 1번 창구/);
  await shot(page, 'alerts-event');
  await admin.close();
  await page.context().close();
});

test('a press on a desk: banner and sound on every console, acknowledge lights the desk, resolve, timeline, devices', async () => {
  const desk = startDesk(join(dir, 'desk'), conf, url, join(dir, 'site.key'));
  try {
    await desk.wait('ready', 20000);
    const page = await loggedIn('security');
    const other = await loggedIn('admin');
    for (const p of [page, other])
      await p.waitForFunction(() => document.querySelector('#stream-state').dataset.i18n === 'stream.open');

    desk.send('press');
    const [, uuid, pressedUs] = await desk.wait('pressed');
    for (const p of [page, other])
      await p.waitForSelector('#alert-banner:not([hidden])', { timeout: 5000 });
    const shownAt = await page.evaluate(() => window.ansimAlertShownAt);
    const ms = shownAt - Number(pressedUs) / 1000;
    console.log(`# press (outbox committed) -> banner shown in the browser: ${ms.toFixed(0)} ms`);
    assert.ok(ms < 1000, `took ${ms} ms`);
    assert.equal(await page.textContent('#banner-desk'), '민원실 1번 창구');
    assert.match(await page.textContent('#banner-trigger'), /비상벨/);
    assert.equal(await page.getAttribute('#banner-status', 'data-status'), 'open');
    assert.equal(await page.getAttribute('body', 'data-beeps'), '1');
    assert.equal(await page.isVisible('#alerts-list li.open'), true);
    await shot(page, 'alert-banner');

    const clicked = Date.now();
    await page.click('#banner-ack');
    const [, ackUuid, learnedUs] = await desk.wait('acknowledged', 10000);
    assert.equal(ackUuid, uuid);
    const ackMs = Number(learnedUs) / 1000 - clicked;
    console.log(`# acknowledge clicked -> the desk's event log has it ("help is coming"): ${ackMs.toFixed(0)} ms`);
    assert.ok(ackMs < 1500, `took ${ackMs} ms`);
    // The other console sees it too.
    await other.waitForSelector('#banner-status[data-status="acknowledged"]', { timeout: 5000 });
    await page.waitForSelector('#banner-status[data-status="acknowledged"]');
    await shot(other, 'alert-acknowledged-other-console');

    // The incident while it is still recording: its first segment plays,
    // and the next one follows as soon as it has arrived.
    await desk.wait('segment');
    await playFromBanner(page);
    // (The player's own segment index and how far into it it is.)
    await page.waitForFunction(() => {
      const p = window.ansimPlayers[0];
      const g = p && p.segs.get(p.currentIdx());
      return g && g.idx === 0 && g.mediaStart != null && p.video.currentTime - g.mediaStart > 0.5;
    }, null, { timeout: 10000 });
    await shot(page, 'playback-live');
    desk.send('segment');
    await desk.wait('segment');
    await page.waitForFunction(() => {
      const p = window.ansimPlayers[0];
      const g = p && p.segs.get(p.currentIdx());
      return g && g.idx === 1 && g.mediaStart != null && p.video.currentTime - g.mediaStart > 0.3;
    }, null, { timeout: 15000 });
    console.log('# playback followed the upload from segment 0 to segment 1');
    desk.send('close');
    await desk.wait('closed');
    await page.waitForSelector('#incident-timeline li[data-what="acknowledged"]');
    for (const what of ['pressed', 'alert-received', 'segment-received'])
      assert.ok(await page.locator(`#incident-timeline li[data-what="${what}"]`).count() >= 1, what);
    assert.match(await page.textContent('#incident-integrity'), /서명이 확인되었습니다/);

    await page.selectOption('#resolve-form select[name="category"]', 'threat');
    await page.fill('#resolve-form textarea[name="note"]', '민원인 진정 후 귀가');
    await page.click('#resolve-form button[type="submit"]');
    await page.waitForSelector('#page-incident[data-status="resolved"]');
    await page.waitForSelector('#incident-timeline li[data-what="resolved"]');
    assert.match(await page.textContent('#incident-timeline li[data-what="resolved"]'), /위협 · “민원인 진정 후 귀가”/);
    await page.fill('#note-form textarea[name="note"]', 'CCTV 영상 확인함');
    await page.click('#note-form button[type="submit"]');
    await page.waitForSelector('#incident-timeline li[data-what="note"]');
    assert.equal(await page.isVisible('#resolve-form'), false);
    await shot(page, 'incident-detail');

    // Export for disclosure with the video (once the closing manifest is in);
    // ansimctl verifies the download offline.
    await page.waitForFunction(async () => {
      const r = await fetch('/api/incidents?limit=1');
      return (await r.json()).incidents[0].closed_wall_us !== null;
    }, null, { timeout: 15000, polling: 200 });
    // A refused export says why on the page (no file is saved).
    await page.fill('#export-form input[name="recipient"]', '   ');
    await page.selectOption('#export-preset', 'police');
    assert.equal(await page.inputValue('#export-form input[name="legal_basis"]'),
      '개인정보 보호법 제18조제2항제7호, 형사소송법 제199조제2항');
    await page.check('#export-media');
    await page.click('#export-submit');
    await page.waitForSelector('#export-status[data-state="failed"]');
    assert.match(await page.textContent('#export-status'), /내보내기 실패.*recipient is required/);
    await page.fill('#export-form input[name="recipient"]', '서울중부경찰서 형사과');
    await page.fill('#export-form input[name="purpose"]', '수사기관 요청: 협박 사건 수사');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-submit')]);
    const saved = join(dir, 'exported.tar');
    await download.saveAs(saved);
    assert.match(download.suggestedFilename(), /^ansim-incident-\d+\.tar$/);
    await page.waitForSelector('#export-status[data-state="done"]');
    const verify = spawnSync(join(BUILD, 'ansimctl/ansimctl'), ['verify', saved], { encoding: 'utf8' });
    console.log(verify.stdout.trim().split('\n').map((l) => '# ' + l).join('\n'));
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /OK: the package is intact/);
    const listing = spawnSync('tar', ['-tf', saved], { encoding: 'utf8' });
    assert.match(listing.stdout, /\/video\/incident-\d+-[a-z0-9-]+\.mp4\n/, listing.stdout);
    // report.html as the recipient sees it: printed by the browser to one
    // A4 page, with the disclosure's facts on it.
    const unpacked = join(dir, 'unpacked');
    mkdirSync(unpacked);
    assert.equal(spawnSync('tar', ['-xf', saved, '-C', unpacked]).status, 0);
    const reportPage = await page.context().newPage();
    await reportPage.goto('file://' + join(unpacked, download.suggestedFilename().replace(/\.tar$/, ''),
      'report.html'));
    const reportText = await reportPage.textContent('body');
    for (const text of ['서울중부경찰서 형사과', '수사기관 요청: 협박 사건 수사', '형사소송법 제199조제2항',
      '위협', 'CCTV 영상 확인함', 'security', 'incident-viewed', 'SHA256SUMS'])
      assert.ok(reportText.includes(text), text + ' in report.html');
    const pdf = (await reportPage.pdf({ format: 'A4' })).toString('latin1');
    const pages = (pdf.match(/\/Type\s*\/Page[^s]/g) || []).length;
    console.log(`# report.html printed to ${pages} A4 page(s)`);
    assert.equal(pages, 1);
    await shot(reportPage, 'export-report');
    await reportPage.close();

    await page.goto(url + '/console/#/incidents');
    await page.selectOption('#incident-filters select[name="status"]', 'resolved');
    await page.click('#incident-filters button[type="submit"]');
    await page.waitForSelector('#incidents-table tbody tr[data-incident]');
    assert.match(await page.textContent('#incidents-table tbody tr'), /위협/);
    await page.selectOption('#incident-filters select[name="status"]', 'open');
    await page.click('#incident-filters button[type="submit"]');
    await page.waitForSelector('#incidents-empty:not([hidden])');
    await shot(page, 'incidents-list');

    await page.goto(url + '/console/#/devices');
    await page.waitForSelector('#devices-table tr[data-device="dev-1"] .badge[data-status="online"]');
    // Camera state from the heartbeat: desk-sim runs no recorder, so it says so.
    assert.equal(await page.getAttribute('#devices-table tr[data-device="dev-1"] td.sources [data-state]',
      'data-state'), 'recorder-unreachable');
    assert.match(await page.textContent('#devices-table tr[data-device="dev-1"] td.sources'), /녹화기 응답 없음/);
    await shot(page, 'devices');

    // The auditor finds the acknowledgement and the resolution.
    const auditor = await loggedIn('auditor');
    await auditor.waitForSelector('#audit-table tbody tr');
    const actions = await auditor.locator('#audit-table tbody tr').evaluateAll(
      (rows) => rows.map((r) => r.dataset.action));
    for (const a of ['acknowledged', 'resolved', 'incident-viewed', 'incident-annotated', 'playback', 'export'])
      assert.ok(actions.includes(a), a + ' in ' + actions.join(','));
    // ... and the export in the disclosure register, with its purpose.
    await auditor.click('#nav a[data-page="disclosures"]');
    await auditor.waitForSelector('#disclosures-table tbody tr');
    const row = await auditor.textContent('#disclosures-table tbody tr');
    for (const text of ['서울중부경찰서 형사과', '수사기관 요청: 협박 사건 수사', '형사소송법 제199조제2항', 'MP4 포함'])
      assert.ok(row.includes(text), text + ' in ' + row);
    assert.equal(await auditor.getAttribute('#disclosures-csv', 'href'), '/api/disclosures/export');
    await shot(auditor, 'disclosures');
    await auditor.context().close();
    await other.context().close();
    await page.context().close();
  } finally {
    await desk.stop();
  }
});
