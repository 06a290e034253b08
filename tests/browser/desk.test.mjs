// SPDX-License-Identifier: GPL-3.0-or-later
// The console against a whole desk, every part real: ansim-recorder (test
// camera, simulated button and lights), ansim-uploader and ansim-panel on
// loopback, the button pressed with `ansimctl press`, Debian's chromium
// driven by playwright-core. Measures press -> banner and acknowledge ->
// the desk's "help is coming" light (read from the recorder's control
// socket, as `ansimctl status` does).
// Run by meson (suite 'browser') as: node --test --test-reporter=tap FILE
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD, SHOTS, launchBrowser, loggedIn as loggedInAs, playFromBanner, shot, ansimctl as run,
  startRealDesk, stopRealDesk, until } from './common.mjs';

const ANSIMCTL = join(BUILD, 'ansimctl/ansimctl');
const PASSWORD = 'browser-test-password-1';
const DESK_NAME = '민원실 2번 창구';

let desk, dir, recorderConf, url, browser, controlRequest;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // Long enough a post-event period that the incident is still recording
  // while it is played back.
  desk = await startRealDesk({
    name: 'desk', roles: ['security', 'admin'], password: PASSWORD,
    recorderConf: (dataDir, recipient) => `[recorder]\ndevice_id = dev-1\ndata_dir = ${dataDir}\n` +
      `recipients = ${recipient}\npre_event_seconds = 2\npost_event_seconds = 25\n` +
      `segment_seconds = 2\nnotice_sound = none\n\n` +
      `[desk]\nid = desk-1\nname = ${DESK_NAME}\n\n` +
      `[trigger desk-button]\ninput = simulated\n\n` +
      `[output recording]\nkind = simulated\n\n[output acknowledged]\nkind = simulated\n\n` +
      `[source desk-camera]\nkind = fixed\nvideo = test\nwidth = 320\nheight = 240\n` +
      `framerate = 15\nbitrate_kbps = 300\nkeyframe_ms = 1000\n`,
  });
  ({ dir, recorderConf, url, controlRequest } = desk);
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

test('ansimctl press on a real desk: banner, acknowledge lights the desk, live playback, resolve, export verifies', async () => {
  try {
    const page = await loggedIn('security');
    await page.waitForFunction(() => document.querySelector('#stream-state').dataset.i18n === 'stream.open');
    assert.equal((await controlRequest('outputs')).outputs.acknowledged, false);

    // 1. The press, as a clerk's button would: the banner appears.
    const pressed = Date.now();
    const press = spawn(ANSIMCTL, ['press', '--config', recorderConf], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pressOut = new Promise((resolve) => {
      let out = '';
      press.stdout.on('data', (d) => { out += d; });
      press.on('exit', (code) => resolve({ code, out }));
    });
    await page.waitForSelector('#alert-banner:not([hidden])', { timeout: 10000 });
    const shownAt = await page.evaluate(() => window.ansimAlertShownAt);
    const { code: pressCode, out } = await pressOut;
    assert.equal(pressCode, 0, out);
    assert.match(out, /^pressed desk-button \(held \d+ ms\)/);
    const incident = await latestIncident(page);
    const fromCommand = shownAt - pressed;
    const fromDesk = shownAt - incident.opened_wall_us / 1000;
    console.log(`# ansimctl press started -> banner shown in the browser: ${fromCommand} ms ` +
      `(of which the simulated hold and debounce); the recorder's incident opened -> banner: ${fromDesk.toFixed(0)} ms`);
    assert.ok(fromDesk > 0 && fromDesk < 1000, `opened -> banner took ${fromDesk} ms`);
    assert.ok(fromCommand < 2000, `press -> banner took ${fromCommand} ms`);
    assert.equal(await page.textContent('#banner-desk'), DESK_NAME);
    assert.match(await page.textContent('#banner-trigger'), /비상벨/);
    assert.equal(await page.getAttribute('#banner-status', 'data-status'), 'open');
    assert.equal(incident.trigger, 'desk-button');
    assert.equal((await controlRequest('outputs')).outputs.recording, true);
    await shot(page, 'desk-alert-banner');

    // 2. Acknowledge: the desk's "help is coming" output goes on.
    assert.equal((await controlRequest('outputs')).outputs.acknowledged, false);
    const clicked = Date.now();
    await page.click('#banner-ack');
    const litAt = await until('the help-is-coming light',
      async () => (await controlRequest('outputs')).outputs.acknowledged && Date.now(), 10000, 10);
    const ackMs = litAt - clicked;
    console.log(`# acknowledge clicked -> the desk's help-is-coming light on: ${ackMs} ms`);
    assert.ok(ackMs < 1500, `took ${ackMs} ms`);
    const status = JSON.parse(run(['status', '--json', '--config', recorderConf]));
    assert.equal(status.outputs.acknowledged, true, JSON.stringify(status));
    assert.match(run(['status', '--config', recorderConf]), /output\s+acknowledged\s+ON/);
    await page.waitForSelector('#banner-status[data-status="acknowledged"]');
    await shot(page, 'desk-alert-acknowledged');

    // 3. The incident while it is still recording and uploading: it plays.
    await until('a segment at the panel', async () => (await latestIncident(page)).segments_received >= 1, 20000, 200);
    await playFromBanner(page);
    await page.waitForFunction(() => {
      const v = document.querySelector('#incident-video');
      return v.currentTime > 0.5;
    }, null, { timeout: 15000 });
    const playing = await latestIncident(page);
    assert.equal(playing.closed_wall_us, null, 'the incident had already ended: not played while uploading');
    assert.equal((await controlRequest('outputs')).outputs.recording, true);
    console.log(`# played while recording: ${playing.segments_received} segment(s) received so far`);
    await shot(page, 'desk-playback-live');

    // 4. Resolve with a category and a note.
    await page.selectOption('#resolve-form select[name="category"]', 'verbal-abuse');
    await page.fill('#resolve-form textarea[name="note"]', '민원인이 고성을 지름, 보안 요원 도착 후 진정');
    await page.click('#resolve-form button[type="submit"]');
    await page.waitForSelector('#page-incident[data-status="resolved"]');
    await page.waitForSelector('#incident-timeline li[data-what="resolved"]');
    assert.match(await page.textContent('#incident-timeline li[data-what="resolved"]'), /폭언 · “민원인이 고성을 지름/);
    // The desk's clock, measured by its uploader, was right: said so.
    await page.waitForSelector('#incident-desk-clock[data-flag="ok"]');
    assert.match(await page.textContent('#incident-desk-clock'), /관제 서버 시계와 2\.0초 이내였습니다/);
    assert.match(run(['status', '--config', recorderConf]), /clock: this board's clock is \d+\.\d{3} s (behind|ahead of) the panel's/);

    // 5. Once the desk closed the incident and everything arrived: export
    // for disclosure with the video; ansimctl verifies it offline, ffprobe reads
    // the media.
    const closed = await until('the closing manifest and every segment', async () => {
      const i = await latestIncident(page);
      return i.closed_wall_us !== null && i.segments_listed > 0 && i.segments_received === i.segments_listed && i;
    }, 60000, 500);
    assert.equal((await controlRequest('outputs')).outputs.acknowledged, false, 'the light goes off when it ends');
    await page.reload();
    await page.waitForSelector('#page-incident:not([hidden])');
    await page.fill('#export-form input[name="recipient"]', '정보주체 본인');
    await page.selectOption('#export-preset', 'subject');
    await page.check('#export-media');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-submit')]);
    const saved = join(dir, 'exported.tar');
    await download.saveAs(saved);
    assert.match(download.suggestedFilename(), /^ansim-incident-\d+\.tar$/);
    const verify = spawnSync(ANSIMCTL, ['verify', saved], { encoding: 'utf8' });
    console.log(verify.stdout.trim().split('\n').map((l) => '# ' + l).join('\n'));
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /OK: the package is intact/);
    const unpacked = join(dir, 'unpacked');
    mkdirSync(unpacked);
    assert.equal(spawnSync('tar', ['-xf', saved, '-C', unpacked]).status, 0);
    const top = readdirSync(unpacked)[0];
    // One MP4 of the whole incident, remuxed from the recorder's segments:
    // H.264 as recorded, its length the segments', decodable to the end.
    const videos = readdirSync(join(unpacked, top, 'video'));
    assert.equal(videos.length, 1, videos.join(','));
    const mp4 = join(unpacked, top, 'video', videos[0]);
    const probe = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'stream=codec_name',
      '-of', 'csv=p=0', mp4], { encoding: 'utf8' });
    assert.equal(probe.status, 0, probe.stderr);
    assert.equal(probe.stdout.trim(), 'h264');
    const decode = spawnSync('ffmpeg', ['-v', 'error', '-nostdin', '-i', mp4, '-f', 'null', '-'], { encoding: 'utf8' });
    assert.equal(decode.status, 0, decode.stderr);
    assert.equal(decode.stderr.trim(), '');
    const duration = Number(spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0',
      mp4], { encoding: 'utf8' }).stdout);
    console.log(`# ${videos[0]}: ${duration.toFixed(1)} s of video from ${closed.segments_listed} segments`);
    assert.ok(Math.abs(duration - 2 * closed.segments_listed) < 2.5,
      `MP4 of ${duration} s for ${closed.segments_listed} segments`);
    await shot(page, 'desk-incident-resolved');
    await page.context().close();
  } catch (e) {
    for (const proc of desk.daemons)
      console.log(`# ${proc.spawnfile} log:\n` +
        readFileSync(proc.log, 'utf8').split('\n').slice(-20).map((l) => '# ' + l).join('\n'));
    throw e;
  }
});
