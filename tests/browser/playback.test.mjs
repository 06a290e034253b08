// SPDX-License-Identifier: GPL-3.0-or-later
// Watching an incident as security staff would (issue 13), every part real:
// ansim-recorder with two test cameras (desk camera and bodycam, the test
// source's burned-in running time), ansim-uploader, ansim-panel and
// Debian's chromium. One press records 1 s segments for about a minute;
// meanwhile one console follows it live (lag to live from the manifest's
// wall times against the browser's clock, both cameras on one clock) and
// a second plays it from the start across every segment boundary to the
// end, in real time. Then the playback audit: one entry per (user,
// incident, session) with the ranges watched, Range variants included.
// Run by meson (suite 'browser') as: node --test --test-reporter=tap FILE
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILD, SHOTS, launchBrowser, loggedIn as loggedInAs, shot, startDaemon,
  controlSocketRequest, until } from './common.mjs';

const ANSIMCTL = join(BUILD, 'ansimctl/ansimctl');
const PASSWORD = 'browser-test-password-1';
const FPS = 15;
const POST_EVENT_S = 62;      // the live follow lasts at least 60 s
const IDLE_S = 10;            // [panel] playback_idle_s (a player with 1 s segments may fetch nothing for 5 s)

let dir, deskDir, panelConf, recorderConf, control, url, browser;
const daemons = [];

function run(args, input) {
  const r = spawnSync(ANSIMCTL, args, { input, encoding: 'utf8' });
  assert.equal(r.status, 0, `ansimctl ${args[0]}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

const daemon = (name, exe, args, env) => startDaemon(dir, daemons, name, exe, args, env);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'ansim-browser-play-'));
  deskDir = join(dir, 'desk');
  mkdirSync(deskDir, { mode: 0o700 });
  panelConf = join(dir, 'panel.conf');
  recorderConf = join(deskDir, 'recorder.conf');
  control = join(deskDir, 'control.sock');
  const siteKey = join(dir, 'site.key');
  const keygen = spawnSync('age-keygen', ['-o', siteKey], { encoding: 'utf8' });
  assert.equal(keygen.status, 0, keygen.stderr);
  const recipient = spawnSync('age-keygen', ['-y', siteKey], { encoding: 'utf8' }).stdout.trim();
  writeFileSync(panelConf, `[panel]\ndata_dir = ${join(dir, 'panel')}\nport = 0\n` +
    `site_name = 재생 시험\nsite_identity = ${siteKey}\nplayback_idle_s = ${IDLE_S}\n`);
  const camera = `video = test\nwidth = 320\nheight = 240\nframerate = ${FPS}\nbitrate_kbps = 300\n` +
    `keyframe_ms = 1000\n`;
  writeFileSync(recorderConf, `[recorder]\ndevice_id = dev-1\ndata_dir = ${deskDir}\n` +
    `recipients = ${recipient}\npre_event_seconds = 2\npost_event_seconds = ${POST_EVENT_S}\n` +
    `segment_seconds = 1\nnotice_sound = none\n\n` +
    `[desk]\nid = desk-1\nname = 재생 창구\n\n` +
    `[trigger desk-button]\ninput = simulated\n\n[trigger bodycam]\ninput = simulated\nkind = bodycam\n\n` +
    `[output recording]\nkind = simulated\n\n[output acknowledged]\nkind = simulated\n\n` +
    `[source desk-camera]\nkind = fixed\n${camera}\n` +
    `[source bodycam]\nkind = wearable\naudio = test\ntriggers = bodycam\n${camera}`);
  for (const role of ['security', 'admin', 'auditor'])
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
    try { return (await controlSocketRequest(control, 'outputs')).ok; } catch { return false; }
  }, 30000, 100);
  const code = run(['enroll-code', '--config', panelConf, '--device', 'dev-1', '--desk', 'desk-1']).trim();
  run(['enroll', '--data-dir', deskDir, '--panel', url, '--code', code, '--device', 'dev-1']);
  writeFileSync(join(deskDir, 'uploader.conf'), `[uploader]\ndata_dir = ${deskDir}\npanel_url = ${url}\n` +
    `poll_interval = 1\nretry_min = 1\nretry_max = 2\n`);
  daemon('uploader', 'uploader/ansim-uploader', ['--config', join(deskDir, 'uploader.conf')]);
  browser = await launchBrowser();
  await sleep(2500);   // the pre-event ring fills
});

after(async () => {
  if (browser) await browser.close();
  const problems = [];
  for (const proc of [...daemons].reverse()) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const { code, signal } = await proc.exited;
    const log = readFileSync(proc.log, 'utf8');
    for (const line of log.split('\n').filter((l) => /WARNING|CRITICAL/.test(l)).slice(0, 10))
      console.log(`# ${proc.spawnfile}: ${line}`);
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
  const page = await loggedInAs(browser, url, user, PASSWORD, { onlyPanel: false });
  page.on('console', (m) => { if (m.type() !== 'log') console.log(`# ${user}'s page: ${m.text()}`); });
  page.on('pageerror', (e) => console.log(`# ${user}'s page: ${e.message}`));
  return page;
}

// What the player holds, for a failure's message.
const playerState = (page) => page.evaluate(() => (window.ansimPlayers || []).map((p) => ({
  id: p.id, want: p.want, following: p.following, error: p.error, t: p.video.currentTime,
  paused: p.video.paused, ready: p.video.readyState, src: !!p.sb,
  buffered: p.sb ? [...Array(p.video.buffered.length).keys()].map((i) => [p.video.buffered.start(i), p.video.buffered.end(i)]) : [],
  segs: [...p.segs.values()].map((g) => g.idx + ':' + g.state + (g.received ? '' : '?')).join(' '),
}))).then((s) => JSON.stringify(s));

// In the page: every frame presented on video (requestVideoFrameCallback)
// with a hash of the picture (the burned-in running time changes it).
function recordFrames(page, selector) {
  return page.evaluate((sel) => {
    const v = document.querySelector(sel);
    const canvas = document.createElement('canvas');
    canvas.width = 160;
    canvas.height = 120;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    window.frames_ = [];
    window.seeks_ = [];
    v.addEventListener('seeking', () => window.seeks_.push([Date.now(), v.currentTime.toFixed(2)]));
    const onFrame = (now, meta) => {
      ctx.drawImage(v, 0, 0, 160, 120);
      const px = ctx.getImageData(0, 0, 160, 40).data;   // the overlay's band
      let h = 0;
      for (let i = 0; i < px.length; i += 4) h = (h * 31 + px[i] + px[i + 1]) | 0;
      window.frames_.push({ at: Date.now(), presented: meta.presentedFrames, media: meta.mediaTime, hash: h });
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  }, selector);
}

test('watching: near-live follow of a recording press (both cameras, one clock), playback from the start across every boundary, audit', async () => {
  const pressed = Date.now();
  run(['press', '--config', recorderConf, '--trigger', 'bodycam']);
  const live = await loggedIn('security');
  const incidents = await until('both cameras\' incidents with a segment', async () => {
    const list = await live.evaluate(async () => (await (await fetch('/api/incidents?limit=5')).json()).incidents);
    return list.length >= 2 && list.every((i) => i.segments_received >= 1) && list;
  }, 20000, 200);
  const main = incidents.find((i) => i.source === 'desk-camera');
  const body = incidents.find((i) => i.source === 'bodycam');
  assert.ok(main && body, JSON.stringify(incidents));
  assert.equal(main.alert_id, body.alert_id);

  // 1. Following live: the page opens on the recording incident and follows.
  await live.goto(url + '/console/#/incidents/' + main.id);
  await live.waitForFunction(() => document.querySelector('#incident-video').dataset.following === 'true' &&
    document.querySelector('#incident-video').currentTime > 0, null, { timeout: 20000 })
    .catch(async (e) => { throw new Error(e.message + ' ' + await playerState(live)); });
  await live.waitForSelector('#player-cameras video');
  const lags = [];
  const skews = [];
  let player2 = null;
  const followStart = Date.now();
  while (Date.now() - followStart < 60000) {
    await sleep(1000);
    const s = await live.evaluate(() => {
      const [a, b] = window.ansimPlayers;
      return { lag: Date.now() - a.wallAt(a.video.currentTime), paused: a.video.paused,
        skew: b && b.sb ? Math.abs(a.wallAt(a.video.currentTime) - b.wallAt(b.video.currentTime)) : null,
        b: b && b.video.readyState };
    });
    lags.push(s.lag);
    if (s.skew != null) skews.push(s.skew);
    // 2. Meanwhile, once ten segments are in, the second console plays it
    // from the start.
    if (!player2 && Date.now() - pressed > 12000) {
      player2 = await loggedIn('admin');
      await player2.goto(url + '/console/#/incidents/' + main.id);
      await player2.waitForSelector('#play-timeline .tl-seg');
      await recordFrames(player2, '#incident-video');
      player2.startedAt = await player2.evaluate(() => Date.now());
      await player2.click('#play-start');
    }
  }
  await shot(live, 'playback-following-two-cameras');
  const fmt = (a) => a.map((x) => (x / 1000).toFixed(1)).join(' ');
  console.log(`# lag to live each second for 60 s: ${fmt(lags)}`);
  console.log(`# desk camera vs bodycam, presented wall times apart each second (ms): ${skews.map((x) => x.toFixed(0)).join(' ')}`);
  assert.ok(Math.max(...lags) < 6000, `lag to live reached ${Math.max(...lags)} ms`);
  const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
  assert.ok(mean(lags.slice(-10)) < mean(lags.slice(0, 10)) + 1000,
    `the lag grows: first ten ${fmt(lags.slice(0, 10))}, last ten ${fmt(lags.slice(-10))}`);
  assert.ok(skews.length >= 50, `the bodycam played beside it only ${skews.length} of 60 s`);
  assert.ok(Math.max(...skews) < 500, `the cameras drifted apart by ${Math.max(...skews)} ms`);

  // 3. The second console reaches the end of the closed incident.
  const closed = await until('the incident closed and every segment in', async () => {
    const i = await player2.evaluate(async (id) => (await (await fetch('/api/incidents/' + id)).json()), main.id);
    return i.incident.closed_wall_us && i.incident.segments_received === i.incident.segments_listed && i;
  }, 30000, 500);
  const segs = closed.segments.filter((g) => g.kind === 'media');
  assert.ok(segs.length >= 10, `${segs.length} segments`);
  const endWall = Math.max(...segs.map((g) => g.start_wall_us + g.duration_us)) / 1000;
  const startWall = Math.min(...segs.map((g) => g.start_wall_us)) / 1000;
  const endAt = await until('the second console reaches the end', async () => player2.evaluate((end) => {
    const p = window.ansimPlayers[0];
    return p.wallAt(p.video.currentTime) >= end - 150 && Date.now();
  }, endWall), 60000, 50);
  const base = await player2.evaluate(() => window.ansimPlayers[0].base);
  // From the first frame of the start on screen (the click's fetch and
  // set-up before it are not playback); earlier frames are the page's own
  // following of the live incident before the click.
  const startS = (startWall - base) / 1000;
  const all = await player2.evaluate(() => window.frames_);
  const first = all.find((f) => f.at >= player2.startedAt && f.media < startS + 1);
  assert.ok(first, 'the start was shown');
  const frames = all.filter((f) => f.at >= first.at);
  console.log('# seeks of the second console: ' + JSON.stringify(await player2.evaluate(() => window.seeks_)) +
    '; gaps skipped ' + await player2.evaluate(() => window.ansimPlayers[0].gaps));
  const playedS = (endAt - first.at) / 1000;
  const recordedS = (endWall - startWall) / 1000;
  console.log(`# from the start: ${segs.length} segments, ${recordedS.toFixed(2)} s recorded, played in ` +
    `${playedS.toFixed(2)} s; ${frames.length} frames presented; held for the other camera ` +
    `${await player2.evaluate(() => state.play.heldMs || 0)} ms`);
  // Frames all along: no stall longer than a few frames anywhere (a
  // boundary that froze would show here), at about the recorded rate.
  // (The last two seconds are left out of the stall count: the incident's
  // final segments are uploaded as it closes, and a player that has caught
  // up with the upload waits for them there; that is the live edge, not a
  // boundary. The real-time check above covers the whole run.)
  const lastS = (endWall - base) / 1000 - 2;
  const steady = frames.filter((f) => f.media < lastS);
  let worst = 0;
  for (let i = 1; i < steady.length; i++) worst = Math.max(worst, steady[i].at - steady[i - 1].at);
  const rate = (steady.at(-1).presented - steady[0].presented) / ((steady.at(-1).at - steady[0].at) / 1000);
  console.log(`# presented ${rate.toFixed(1)} frames/s (recorded ${FPS}); longest time without a new frame ${worst} ms`);
  const stalls = [];
  for (let i = 1; i < steady.length; i++)
    if (steady[i].at - steady[i - 1].at > 200) stalls.push(`${steady[i].at - steady[i - 1].at} ms at ${steady[i].media.toFixed(2)}`);
  console.log(`# stalls over 200 ms: ${stalls.join(', ') || 'none'}`);
  assert.ok(Math.abs(playedS - recordedS) / recordedS < 0.05, `played ${playedS} s for ${recordedS} s`);
  assert.ok(rate > FPS * 0.85 && rate < FPS * 1.15, `presented ${rate} frames/s`);
  assert.ok(worst < 500, `no new frame for ${worst} ms`);
  // Every boundary crossed with the picture changing (the running time).
  for (const g of segs.slice(1)) {
    const at = (g.start_wall_us / 1000 - base) / 1000;
    const around = frames.filter((f) => f.media > at - 0.5 && f.media < at + 0.5);
    // (A boundary that froze shows no frame here; a busy machine's short
    // wait is bounded by the longest-gap check above.)
    assert.ok(around.length >= FPS * 0.55, `segment ${g.idx}: ${around.length} frames within 0.5 s of its start`);
    const distinct = new Set(around.map((f) => f.hash)).size;
    assert.ok(distinct >= around.length * 0.8, `segment ${g.idx}: the picture stood still (${distinct} of ${around.length})`);
  }
  await shot(player2, 'playback-from-start-end');

  // 4. Range, as a media element or anyone else might send it, from a
  // session of its own: strict, and whatever is served is recorded.
  const raw = await loggedIn('security');
  const ranges = await raw.evaluate(async (id) => {
    const out = {};
    for (const r of ['bytes= 0-', 'bytes=1-', 'bytes=0-9,20-29', 'bytes=-100', 'bytes=99999999-', 'bytes=5-2']) {
      const res = await fetch('/api/incidents/' + id + '/segments/0/media', { headers: { Range: r } });
      out[r] = [res.status, (await res.arrayBuffer()).byteLength, res.headers.get('Content-Range')];
    }
    return out;
  }, main.id);
  console.log('# Range answers: ' + JSON.stringify(ranges));
  assert.equal(ranges['bytes=0-9,20-29'][0], 200);
  const whole = ranges['bytes=0-9,20-29'][1];
  // Chromium sends 'bytes= 0-' as 'bytes=0-' (the panel's own answer to the
  // spaced form, the whole with 200, is checked over HTTP in console-live):
  // all of it either way.
  assert.equal(ranges['bytes= 0-'][1], whole);
  assert.deepEqual(ranges['bytes=1-'], [206, whole - 1, `bytes 1-${whole - 1}/${whole}`]);
  assert.deepEqual(ranges['bytes=-100'], [206, 100, `bytes ${whole - 100}-${whole - 1}/${whole}`]);
  assert.equal(ranges['bytes=99999999-'][0], 416);
  assert.equal(ranges['bytes=5-2'][0], 200);

  // 5. The audit: once the viewings are idle, one entry each, with ranges.
  await live.close();
  await player2.close();
  await raw.close();
  const auditor = await loggedIn('auditor');
  const entries = await until('the playback entries', async () => {
    const a = await auditor.evaluate(async () => (await (await fetch('/api/audit?limit=500')).json()));
    const list = a.entries.filter((e) => e.action === 'playback');
    return list.length >= 5 && list; // two viewings of each of two consoles, and the Range one
  }, (IDLE_S + 10) * 1000, 500);
  for (const e of entries) console.log(`# audit: ${e.actor} ${e.target} ${typeof e.detail === 'string' ? e.detail.slice(0, 160) : JSON.stringify(e.detail).slice(0, 160)}`);
  const detail = (e) => (typeof e.detail === 'string' ? JSON.parse(e.detail) : e.detail);
  const key = (e) => e.actor + ' ' + e.target + ' ' + detail(e).session;
  assert.equal(new Set(entries.map(key)).size, entries.length, 'one entry per (user, incident, session)');
  // The Range session: five answers with bytes (not the 416), all of segment 0.
  const byRange = entries.filter((e) => e.actor === 'security' && e.target === 'incident ' + main.id &&
    detail(e).segments.length === 1 && detail(e).segments[0] === 0);
  assert.equal(byRange.length, 1, 'the Range requests are one viewing\'s entry');
  assert.equal(detail(byRange[0]).requests, 5);
  assert.equal(detail(byRange[0]).ranges.length, 1);
  const followed = entries.filter((e) => e.actor === 'security' && e.target === 'incident ' + main.id &&
    detail(e).segments.length > 30);
  assert.equal(followed.length, 1, 'the live follow is one entry');
  assert.ok(entries.some((e) => e.actor === 'security' && e.target === 'incident ' + body.id), 'the bodycam viewing');
  const adm = entries.find((e) => e.actor === 'admin');
  const [[from, to]] = detail(adm).ranges;
  assert.ok(Math.abs(from / 1000 - startWall) < 10 && Math.abs(to / 1000 - endWall) < 10,
    `admin watched ${JSON.stringify(detail(adm).ranges)}`);
});
