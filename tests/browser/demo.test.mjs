// SPDX-License-Identifier: GPL-3.0-or-later
// The README's demo exactly as a new user runs it: ./run-demo (its own
// configuration: embedded defaults and the public demo identity, port 8080),
// the printed admin login, `ansimctl press --data-dir DATA/desk`, and the
// console plays the incident (frames presented, the picture changing).
// Ctrl-C stops it cleanly. Port 8080 must be free (the demo's own port).
// Run by meson (suite 'browser') as: node --test --test-reporter=tap FILE
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILD, launchBrowser, loggedIn, shot, until } from './common.mjs';

const SOURCE = process.env.ANSIM_SOURCE_ROOT;
const URL = 'http://127.0.0.1:8080';
let dir, demo, out = '', browser;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ansim-demo-'));
  demo = spawn(join(SOURCE, 'run-demo'), ['--data', join(dir, 'data')],
    { env: { ...process.env, ANSIM_BUILD_ROOT: BUILD }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  demo.stdout.on('data', (d) => { out += d; });
  demo.stderr.on('data', (d) => { out += d; });
  demo.exited = new Promise((resolve) => demo.once('exit', (code, signal) => resolve({ code, signal })));
  await until('the demo is running', () => {
    if (demo.exitCode !== null) throw new Error('run-demo ended:\n' + out);
    return /ansim demo is running/.test(out) && /password: \S+/.test(out);
  }, 60000, 100);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (demo && demo.exitCode === null) {
    process.kill(-demo.pid, 'SIGINT');   // Ctrl-C reaches the whole group
    const { code } = await demo.exited;
    if (code !== 0) console.log(out.split('\n').slice(-30).map((l) => '# ' + l).join('\n'));
    assert.equal(code, 0, 'run-demo stops cleanly on Ctrl-C');
    assert.match(out, /Everything stopped cleanly/);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('./run-demo: a press, and the console plays the incident', async () => {
  assert.doesNotMatch(out, /playback is off|no site_identity/);
  const password = out.match(/user: admin\s+password: (\S+)/)[1];
  const page = await loggedIn(browser, URL, 'admin', password, { onlyPanel: false });
  const press = spawnSync(join(BUILD, 'ansimctl/ansimctl'), ['press', '--data-dir', join(dir, 'data', 'desk')],
    { encoding: 'utf8' });
  assert.equal(press.status, 0, press.stdout + press.stderr);
  await page.waitForSelector('#alert-banner:not([hidden])', { timeout: 10000 });
  await page.click('#banner-open');
  await page.waitForSelector('#page-incident:not([hidden])');
  assert.equal(await page.isVisible('#player'), true, 'the player is shown');
  assert.equal(await page.isVisible('#play-off'), false);
  // It follows the recording incident by itself; the picture moves.
  const samples = await until('frames of the demo camera', () => page.evaluate(() => {
    const v = document.querySelector('#incident-video');
    if (v.readyState < 2 || v.currentTime === 0) return null;
    const c = document.createElement('canvas');
    c.width = 160;
    c.height = 90;
    const ctx = c.getContext('2d');
    ctx.drawImage(v, 0, 0, 160, 90);
    const px = ctx.getImageData(0, 0, 160, 90).data;
    let h = 0;
    for (let i = 0; i < px.length; i += 4) h = (h * 31 + px[i]) | 0;
    window.demoHashes = [...(window.demoHashes || []), { t: v.currentTime, h }];
    return window.demoHashes.length >= 6 ? window.demoHashes : null;
  }), 40000, 500);
  const moved = samples.at(-1).t - samples[0].t;
  console.log(`# the demo's incident played ${moved.toFixed(1)} s in ${samples.length} samples; ` +
    `${new Set(samples.map((s) => s.h)).size} different pictures`);
  assert.ok(moved > 1.5, `the video advanced only ${moved} s`);
  assert.ok(new Set(samples.map((s) => s.h)).size >= 4, 'the picture changes');
  await shot(page, 'demo-playback');
});
