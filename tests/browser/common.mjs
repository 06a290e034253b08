// SPDX-License-Identifier: GPL-3.0-or-later
// Shared by the browser tests (console, drills, desk): playwright-core and
// Debian's chromium, the users and the panel they log in to, and logging
// in through the console's own form the way a person does. Keeps true:
// a page is only handed back once the console says it is ready (and, from
// loggedIn, once the role's navigation shows), so no test races the page.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { openSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  console.error('playwright-core is missing: run `npm ci` in tests/browser (scripts/setup test does it)');
  process.exit(1);
}

export const BUILD = process.env.ANSIM_BUILD_ROOT;
assert.ok(BUILD, 'ANSIM_BUILD_ROOT must name the build directory');
export const SHOTS = join(BUILD, 'tests', 'browser-screenshots');
export const ROLES = ['security', 'trainer', 'admin', 'auditor'];

// `ansimctl user add ROLE --role ROLE` for each role, with password.
export function addUsers(conf, roles, password) {
  for (const role of roles) {
    const r = spawnSync(join(BUILD, 'ansimctl/ansimctl'),
      ['user', 'add', role, '--role', role, '--password-stdin', '--config', conf],
      { input: password + '\n', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  }
}

// ansim-panel with conf (env: more variables); resolves to the process and
// the URL of its "listening on" line.
export async function startPanel(conf, env = {}) {
  const panel = spawn(join(BUILD, 'panel/ansim-panel'), ['--config', conf], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: panel.stderr });
    lines.on('line', (line) => {
      const m = line.match(/listening on (http:\/\/\S+?)\/?$/);
      if (m) resolve(m[1]);
    });
    panel.on('exit', (code) => reject(new Error('ansim-panel exited with ' + code)));
  });
  return { panel, url };
}

export async function stopPanel(panel) {
  panel.kill('SIGTERM');
  await new Promise((resolve) => panel.once('exit', resolve));
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    // Root in a container: chromium's sandbox needs user namespaces.
    // The alert's sound must be allowed to play without a click first.
    args: ['--autoplay-policy=no-user-gesture-required',
      ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [])],
  });
}

// A new context's page on the console, ready. onlyPanel: any request that
// leaves the panel (external fonts or scripts) fails the test.
export async function openConsole(browser, url, { viewport = { width: 1280, height: 800 },
  onlyPanel = true } = {}) {
  const context = await browser.newContext({ viewport, locale: 'ko-KR' });
  const page = await context.newPage();
  if (onlyPanel) {
    page.on('request', (req) => {
      if (!req.url().startsWith(url) && !req.url().startsWith('data:'))
        throw new Error('request outside the panel: ' + req.url());
    });
  }
  await page.goto(url + '/console/');
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

// Fills and sends the console's login form.
export async function logIn(page, user, password) {
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
}

// openConsole, then logged in as user: the role's navigation shows.
export async function loggedIn(browser, url, user, password, options) {
  const page = await openConsole(browser, url, options);
  await logIn(page, user, password);
  await page.waitForSelector('#nav:not([hidden])');
  return page;
}

// From the alert banner to the incident's page, once a segment has been
// received, and its playback started.
export async function playFromBanner(page) {
  await page.click('#banner-open');
  await page.waitForSelector('#page-incident:not([hidden])');
  await page.waitForSelector('#incident-timeline li[data-what="segment-received"]');
  await page.click('#play-start');
}

export async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, name + '.png'), fullPage: true });
}

// A desk (tests/upload/desk-sim.c) in deskDir enrolled on the panel of
// conf at url, its alerts sealed to siteKey: a real ansim-uploader and an
// outbox filled as the recorder fills it. It takes commands (send) and
// says what happened in lines (wait for one starting with prefix), among
// them when its event log learns the acknowledgement (what lights "help
// is coming").
export function startDesk(deskDir, conf, url, siteKey) {
  const proc = spawn(join(BUILD, 'tests/upload/desk-sim'), [deskDir, conf, url, siteKey],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  const waiters = [];
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const i = waiters.findIndex((w) => line.startsWith(w.prefix));
    if (i >= 0) waiters.splice(i, 1)[0].resolve(line.split(' '));
    else lines.push(line);
  });
  return {
    proc,
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

// A daemon of the build with its output in DIR/NAME.log (shown if a test
// fails), added to daemons so the test's end stops it.
export function startDaemon(dir, daemons, name, exe, args, env = {}) {
  const log = join(dir, name + '.log');
  const fd = openSync(log, 'a');
  const proc = spawn(join(BUILD, exe), args, { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  proc.log = log;
  proc.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  daemons.push(proc);
  return proc;
}

// One request on a recorder's control socket (recorder/control.c: a line
// in, a JSON line out).
export function controlSocketRequest(socketPath, request) {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(request + '\n'));
    socket.on('data', (chunk) => {
      reply += chunk;
      const nl = reply.indexOf('\n');
      if (nl >= 0) {
        socket.destroy();
        resolve(JSON.parse(reply.slice(0, nl)));
      }
    });
    socket.on('error', reject);
    socket.setTimeout(5000, () => { socket.destroy(); reject(new Error('control socket: no reply')); });
  });
}

// check() until it gives a true value (returned), every `every` ms; an
// error naming what after ms.
export async function until(what, check, ms, every = 20) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}
