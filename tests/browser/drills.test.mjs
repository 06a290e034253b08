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
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeSite, ROLES, SHOTS, addUsers, startPanel, stopPanel, launchBrowser, loggedIn as loggedInAs,
  shot, startDesk } from './common.mjs';

const PASSWORD = 'drill-browser-password-1';

let dir, panel, url, browser, conf;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  ({ dir, conf } = makeSite('ansim-drill-browser-', '시험 구청'));
  addUsers(conf, ROLES, PASSWORD);
  ({ panel, url } = await startPanel(conf));
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (panel) await stopPanel(panel);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function loggedIn(user) {
  return loggedInAs(browser, url, user, PASSWORD, { viewport: { width: 1280, height: 900 } });
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
  const desk = startDesk(join(dir, 'desk'), conf, url, join(dir, 'site.key'));
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
