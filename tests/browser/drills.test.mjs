// SPDX-License-Identifier: GPL-3.0-or-later
// Browser test of a drill as a trainer runs it: a real ansim-panel on
// loopback, a desk (tests/upload/desk-sim: a real ansim-uploader), Debian's
// chromium driven by playwright-core. The trainer arms the drill in the
// console, the desk presses, security's console shows the banner marked
// as a drill and acknowledges, the trainer records arrival and ends it,
// then opens the report page: its chart's bars must be the API's figures.
// Run by meson (suite 'browser') as: node --test --test-reporter=tap FILE
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

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
const PASSWORD = 'drill-browser-password-1';
const ROLES = ['security', 'trainer', 'admin', 'auditor'];

let dir, panel, url, browser, conf;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'ansim-drill-browser-'));
  conf = join(dir, 'panel.conf');
  const keygen = spawnSync('age-keygen', ['-o', join(dir, 'site.key')], { encoding: 'utf8' });
  assert.equal(keygen.status, 0, keygen.stderr);
  writeFileSync(conf, `[panel]\ndata_dir = ${dir}\nport = 0\nsite_name = 시험 구청\n` +
    `site_identity = ${join(dir, 'site.key')}\n`);
  for (const role of ROLES) {
    const r = spawnSync(join(BUILD, 'ansimctl/ansimctl'),
      ['user', 'add', role, '--role', role, '--password-stdin', '--config', conf],
      { input: PASSWORD + '\n', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  }
  panel = spawn(join(BUILD, 'panel/ansim-panel'), ['--config', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  url = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: panel.stderr });
    lines.on('line', (line) => {
      const m = line.match(/listening on (http:\/\/\S+?)\/?$/);
      if (m) resolve(m[1]);
    });
    panel.on('exit', (code) => reject(new Error('ansim-panel exited with ' + code)));
  });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--autoplay-policy=no-user-gesture-required',
      ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [])],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (panel) {
    panel.kill('SIGTERM');
    await new Promise((resolve) => panel.once('exit', resolve));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function loggedIn(user) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'ko-KR' });
  const page = await context.newPage();
  page.on('request', (req) => {
    if (!req.url().startsWith(url) && !req.url().startsWith('data:'))
      throw new Error('request outside the panel: ' + req.url());
  });
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

function startDesk() {
  const proc = spawn(join(BUILD, 'tests/upload/desk-sim'), [join(dir, 'desk'), conf, url, join(dir, 'site.key')],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  const waiters = [];
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const i = waiters.findIndex((w) => line.startsWith(w.prefix));
    if (i >= 0) waiters.splice(i, 1)[0].resolve(line.split(' '));
    else lines.push(line);
  });
  return {
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

// Every bar of a chart against the API's trend rows: its value, and its
// height as drawn (value / scale * plot height).
async function checkChart(page, what, groups, series) {
  const chart = await page.evaluate((name) => {
    const svg = document.querySelector(`svg[data-chart="${name}"]`);
    return {
      scale: Number(svg.dataset.scaleUs), plot: Number(svg.dataset.plotHeight),
      bars: [...svg.querySelectorAll('rect.bar')].map((r) => ({ group: r.dataset.group,
        series: r.dataset.series, value: Number(r.dataset.value), height: r.getBBox().height })),
      labels: [...svg.querySelectorAll('text.value')].map((t) => t.textContent),
    };
  }, what);
  const expected = [];
  for (const g of groups)
    for (const s of series)
      if (g['median_' + s] != null) expected.push({ group: g.key, series: s, value: g['median_' + s] });
  assert.ok(expected.length > 0, 'the API has figures to draw');
  assert.deepEqual(chart.bars.map(({ group, series: s, value }) => ({ group, series: s, value })), expected);
  assert.ok(chart.scale >= Math.max(...expected.map((e) => e.value)), 'every bar fits the scale');
  for (const bar of chart.bars) {
    const want = (bar.value / chart.scale) * chart.plot;
    assert.ok(Math.abs(bar.height - want) < 0.01, `${what} ${bar.series}: height ${bar.height}, want ${want}`);
  }
  assert.deepEqual(chart.labels, expected.map((e) => (e.value / 1e6).toFixed(1)));
  return chart;
}

test('a trainer runs a drill and reads its report with charts', async () => {
  const desk = startDesk();
  try {
    await desk.wait('ready', 20000);
    const trainer = await loggedIn('trainer');
    const security = await loggedIn('security');
    await security.waitForFunction(() => document.querySelector('#stream-state').dataset.i18n === 'stream.open');

    // The schedule: desk-1 monthly, never drilled yet: due in 30 days.
    await trainer.goto(url + '/console/#/drills');
    await trainer.waitForSelector('#arm-desks input[value="desk-1"]');
    await trainer.selectOption('#schedule-form select[name="desk"]', 'desk-1');
    await trainer.fill('#schedule-form input[name="every"]', '30');
    await trainer.click('#schedule-form button[type="submit"]');
    await trainer.waitForSelector('#schedule-table tr[data-status="ok"]');
    assert.match(await trainer.textContent('#schedule-table tbody tr'), /30일마다.*없음/);

    // Arm: the desk, the default window (now to an hour later), a note.
    await trainer.check('#arm-desks input[value="desk-1"]');
    await trainer.fill('#arm-form textarea[name="note"]', '4분기 폭언 대응 훈련');
    await trainer.click('#arm-submit');
    await trainer.waitForSelector('#drills-table tr[data-desk="desk-1"] .badge[data-status="armed"]');
    await shot(trainer, 'drill-armed');
    // A window ending before it starts is refused, with the reason.
    await trainer.fill('#arm-form input[name="end"]', '2020-01-01T00:00');
    await trainer.check('#arm-desks input[value="desk-1"]');
    await trainer.click('#arm-submit');
    await trainer.waitForSelector('#arm-error:not([hidden])');
    assert.match(await trainer.textContent('#arm-error'), /end_us\) must be after its start/);
    assert.equal(await trainer.locator('#drills-table tbody tr').count(), 1);

    // Security must not see drills in advance.
    const forbidden = await security.evaluate(async () => (await fetch('/api/drills')).status);
    assert.equal(forbidden, 403);
    assert.equal(await security.isVisible('#nav a[data-page="drills"]'), false);

    // The press: security's banner says DRILL.
    desk.send('press');
    const [, uuid] = await desk.wait('pressed');
    await security.waitForSelector('#alert-banner.drill:not([hidden])', { timeout: 5000 });
    assert.equal(await security.isVisible('#banner-drill'), true);
    assert.equal(await security.textContent('#banner-drill'), '모의훈련 DRILL');
    await shot(security, 'drill-banner');
    const incidentId = Number(await security.getAttribute('#alert-banner', 'data-incident'));
    // The console reported that it showed the banner.
    await security.waitForFunction(async (id) => {
      const r = await fetch('/api/incidents/' + id);
      return (await r.json()).timeline.some((e) => e.what === 'alert-shown');
    }, incidentId, { timeout: 5000, polling: 100 });

    await security.click('#banner-ack');
    const [, ackUuid] = await desk.wait('acknowledged', 10000);
    assert.equal(ackUuid, uuid);

    // The trainer's page follows: the press and who acknowledged.
    await trainer.waitForSelector('#drills-table tr[data-desk="desk-1"] button.arrive', { timeout: 5000 });
    assert.match(await trainer.textContent('#drills-table tr[data-desk="desk-1"]'), /security/);
    await trainer.click('#drills-table tr[data-desk="desk-1"] button.arrive');
    await trainer.waitForFunction(() =>
      !document.querySelector('#drills-table tr[data-desk="desk-1"] button.arrive') &&
      document.querySelector('#drills-table tr[data-desk="desk-1"] td.arrival').textContent.includes('trainer'));

    // Security resolves it in the console, as any incident.
    await security.click('#banner-open');
    await security.waitForSelector('#page-incident[data-drill="true"]:not([hidden])');
    // Were it a real emergency, security could say so from here.
    await security.waitForSelector('#incident-not-drill:not([hidden])');
    await security.selectOption('#resolve-form select[name="category"]', 'drill');
    await security.click('#resolve-form button[type="submit"]');
    await security.waitForSelector('#page-incident[data-status="resolved"]');
    await security.waitForSelector('#incident-timeline li[data-what="drill-arrival"]');
    await shot(security, 'drill-incident');
    await security.goto(url + '/console/#/incidents');
    await security.selectOption('#incident-filters select[name="drill"]', '1');
    await security.click('#incident-filters button[type="submit"]');
    await security.waitForSelector(`#incidents-table tr[data-incident="${incidentId}"][data-drill="true"] .badge.drill`);

    await trainer.click('#drills-table button.end');
    await trainer.waitForSelector('#drills-table .badge[data-status="ended"]');
    // The schedule counts the drill: the next is due 30 days after its press.
    await trainer.waitForFunction(() => !document.querySelector('#schedule-table tbody tr').textContent.includes('없음'));
    await shot(trainer, 'drill-ended');
    desk.send('close');
    await desk.wait('closed');

    // The report page: charts against the API.
    await trainer.goto(url + '/console/#/reports');
    await trainer.waitForSelector('svg[data-chart="month"] rect.bar');
    await trainer.waitForSelector('svg[data-chart="desk"] rect.bar');
    const api = await trainer.evaluate(async () => (await fetch('/api/reports?kind=drill')).json());
    assert.equal(api.rows.length, 1);
    const row = api.rows[0];
    assert.equal(row.incident_id, incidentId);
    assert.equal(row.acknowledged_by, 'security');
    assert.equal(row.shown_by, 'security');
    assert.equal(row.arrived_by, 'trainer');
    for (const f of ['press_to_alert_us', 'press_to_shown_us', 'press_to_ack_us', 'press_to_arrival_us', 'press_to_resolved_us'])
      assert.ok(Number.isInteger(row[f]) && row[f] > 0, f + ' = ' + row[f]);
    assert.ok(row.press_to_shown_us <= row.press_to_ack_us && row.press_to_ack_us <= row.press_to_arrival_us);
    const series = ['press_to_shown_us', 'press_to_ack_us', 'press_to_arrival_us'];
    await checkChart(trainer, 'site', api.trends.site, series);
    assert.equal(api.trends.site[0].key, '시험 구청');
    await checkChart(trainer, 'month', api.trends.month, series);
    const byDesk = await checkChart(trainer, 'desk', api.trends.desk, series);
    assert.equal(byDesk.bars.length, 3);
    // With one drill the medians are that drill's figures.
    assert.equal(api.trends.desk[0].median_press_to_ack_us, row.press_to_ack_us);
    const cells = await trainer.locator(`#report-table tr[data-incident="${incidentId}"] td`).allTextContents();
    assert.equal(cells[5], (row.press_to_ack_us / 1e6).toFixed(1) + ' s · security');
    console.log(`# drill report: press -> shown ${(row.press_to_shown_us / 1e6).toFixed(3)} s, ` +
      `-> acknowledged ${(row.press_to_ack_us / 1e6).toFixed(3)} s, -> arrival ${(row.press_to_arrival_us / 1e6).toFixed(3)} s`);
    await shot(trainer, 'drill-report');

    // The CSV download.
    const [download] = await Promise.all([trainer.waitForEvent('download'), trainer.click('#report-csv')]);
    assert.equal(download.suggestedFilename(), 'ansim-drill-report.csv');

    // Real incidents are reported apart (none here).
    await trainer.selectOption('#report-filters select[name="kind"]', 'real');
    await trainer.waitForSelector('#chart-month p.status');
    await trainer.waitForSelector('#chart-site p.status');
    assert.equal(await trainer.locator('#report-table tbody tr').count(), 0);

    // The auditor reads the drills and finds every drill action audited.
    const auditor = await loggedIn('auditor');
    await auditor.goto(url + '/console/#/drills');
    await auditor.waitForSelector('#drills-table tr[data-desk="desk-1"]');
    assert.equal(await auditor.isVisible('#arm-form'), false);
    assert.equal(await auditor.locator('#drills-table button').count(), 0);
    await auditor.goto(url + '/console/#/audit');
    await auditor.waitForSelector('#audit-table tbody tr');
    const actions = await auditor.locator('#audit-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.action));
    for (const a of ['drill-armed', 'drill-arrival', 'drill-ended', 'report-exported'])
      assert.equal(actions.filter((x) => x === a).length, 1, a + ' in ' + actions.join(','));
    await auditor.context().close();
    await security.context().close();
    await trainer.context().close();
  } finally {
    await desk.stop();
  }
});
