// SPDX-License-Identifier: GPL-3.0-or-later
// The ansim console in the browser: login, navigation, audit log, live
// events. Every visible string comes from strings-LANG.json.
'use strict';

const LANGS = ['ko', 'en'];
const PAGES = {
  alerts: ['security', 'trainer', 'admin'],
  incidents: ['security', 'trainer', 'admin'],
  devices: ['security', 'admin'],
  audit: ['auditor', 'admin'],
};
const STREAM_ROLES = ['security', 'trainer', 'admin'];

const state = { lang: 'ko', strings: {}, session: null, auditBefore: null, stream: null };
const $ = (sel) => document.querySelector(sel);

function t(key, vars) {
  let text = state.strings[key] ?? key;
  for (const [k, v] of Object.entries(vars || {}))
    text = text.replace('{' + k + '}', String(v));
  return text;
}

async function loadLanguage(lang) {
  if (!LANGS.includes(lang)) lang = 'ko';
  const reply = await fetch('strings-' + lang + '.json');
  state.strings = await reply.json();
  state.lang = lang;
  document.documentElement.lang = lang;
  localStorage.setItem('ansim.lang', lang);
  for (const el of document.querySelectorAll('[data-i18n]'))
    el.textContent = t(el.dataset.i18n);
  $('#lang-switch').textContent = t('lang.switch');
  document.title = t('app.title');
  if (state.session) showWho();
}

// An API call. Non-GET requests carry the session's CSRF token.
async function api(method, path, body) {
  const headers = {};
  if (method !== 'GET' && state.session) headers['X-CSRF-Token'] = state.session.csrf_token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let reply;
  try {
    reply = await fetch(path, { method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    return { status: 0, data: { code: 'network' } };
  }
  let data = null;
  if (reply.status !== 204) {
    try { data = await reply.json(); } catch (e) { data = null; }
  }
  return { status: reply.status, data, headers: reply.headers };
}

function errorText(result) {
  const code = result.data && result.data.code ? result.data.code : 'internal';
  if (code === 'throttled')
    return t('err.throttled', { s: result.data.retry_after_s });
  return t('err.' + code);
}

function showWho() {
  const who = $('#who');
  who.textContent = state.session.user + ' · ' + t('role.' + state.session.role);
  who.hidden = false;
}

function showLogin() {
  state.session = null;
  closeStream();
  for (const el of document.querySelectorAll('.page')) el.hidden = true;
  $('#nav').hidden = true;
  $('#who').hidden = true;
  $('#logout').hidden = true;
  $('#login').hidden = false;
  $('#login-user').focus();
}

function showShell() {
  $('#login').hidden = true;
  $('#login-error').hidden = true;
  $('#nav').hidden = false;
  $('#logout').hidden = false;
  for (const a of document.querySelectorAll('#nav a'))
    a.hidden = !PAGES[a.dataset.page].includes(state.session.role);
  showWho();
  openStream();
  route();
}

function defaultPage() {
  return Object.keys(PAGES).find((p) => PAGES[p].includes(state.session.role));
}

function route() {
  if (!state.session) return;
  let page = location.hash.replace(/^#\//, '');
  if (!(page in PAGES)) page = defaultPage();
  for (const el of document.querySelectorAll('.page')) el.hidden = el.id !== 'page-' + page;
  for (const a of document.querySelectorAll('#nav a'))
    a.classList.toggle('current', a.dataset.page === page);
  $('#page-error').hidden = true;
  if (page === 'audit') loadAudit(true);
}

// ---- login ----

async function onLogin(event) {
  event.preventDefault();
  const button = $('#login-submit');
  button.disabled = true;
  const result = await api('POST', '/api/login',
    { user: $('#login-user').value.trim(), password: $('#login-password').value });
  button.disabled = false;
  $('#login-password').value = '';
  if (result.status === 200) {
    state.session = result.data;
    showShell();
    return;
  }
  const error = $('#login-error');
  error.textContent = errorText(result);
  error.hidden = false;
}

async function onLogout() {
  await api('POST', '/api/logout');
  location.hash = '';
  showLogin();
}

// ---- audit ----

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  row.appendChild(td);
}

function formatTime(us) {
  return new Date(us / 1000).toLocaleString(state.lang === 'ko' ? 'ko-KR' : 'en-GB');
}

async function loadAudit(fresh) {
  const body = $('#audit-table tbody');
  if (fresh) {
    state.auditBefore = null;
    body.textContent = '';
    $('#audit-verify-result').textContent = '';
  }
  const query = state.auditBefore ? '?before=' + state.auditBefore : '';
  const result = await api('GET', '/api/audit' + query);
  if (result.status === 401) { showLogin(); return; }
  const forbidden = result.status === 403;
  $('#audit-forbidden').hidden = !forbidden;
  $('#audit-body').hidden = forbidden;
  if (result.status !== 200) {
    if (!forbidden) showError(result);
    return;
  }
  for (const e of result.data.entries) {
    const row = document.createElement('tr');
    row.dataset.action = e.action;
    cell(row, e.id);
    cell(row, formatTime(e.at_us));
    cell(row, e.actor);
    cell(row, e.role ? t('role.' + e.role) : '');
    cell(row, e.client);
    cell(row, t('action.' + e.action));
    cell(row, e.target);
    cell(row, e.detail ? JSON.stringify(e.detail) : '');
    body.appendChild(row);
  }
  state.auditBefore = result.data.next_before;
  $('#audit-more').hidden = state.auditBefore === null;
}

async function onVerify() {
  const result = await api('GET', '/api/audit/verify');
  if (result.status !== 200) { showError(result); return; }
  const out = $('#audit-verify-result');
  out.textContent = result.data.intact ? t('audit.intact', { n: result.data.entries_checked })
    : t('audit.broken', { problem: result.data.problem });
  out.className = result.data.intact ? 'ok' : 'error';
}

function showError(result) {
  const el = $('#page-error');
  el.textContent = errorText(result);
  el.hidden = false;
}

// ---- live events ----

function setStreamState(key) {
  const el = $('#stream-state');
  el.dataset.i18n = key;
  el.textContent = t(key);
}

function openStream() {
  closeStream();
  if (!STREAM_ROLES.includes(state.session.role)) { setStreamState('stream.none'); return; }
  const source = new EventSource('/api/events/stream');
  state.stream = source;
  source.onopen = () => setStreamState('stream.open');
  source.onerror = () => setStreamState('stream.closed');
  source.addEventListener('session-ended', () => { source.close(); showLogin(); });
  const show = (event) => {
    const li = document.createElement('li');
    li.dataset.event = event.type;
    li.textContent = event.type + ': ' + event.data;
    $('#alerts-list').prepend(li);
    $('#alerts-empty').hidden = true;
  };
  for (const name of ['incident', 'acknowledged', 'resolved', 'test']) source.addEventListener(name, show);
}

function closeStream() {
  if (state.stream) state.stream.close();
  state.stream = null;
}

// ---- start ----

async function start() {
  const saved = localStorage.getItem('ansim.lang');
  await loadLanguage(LANGS.includes(saved) ? saved : 'ko');
  $('#login-form').addEventListener('submit', onLogin);
  $('#logout').addEventListener('click', onLogout);
  $('#lang-switch').addEventListener('click', () => loadLanguage(state.lang === 'ko' ? 'en' : 'ko'));
  $('#audit-more').addEventListener('click', () => loadAudit(false));
  $('#audit-verify').addEventListener('click', onVerify);
  window.addEventListener('hashchange', route);
  const result = await api('GET', '/api/session');
  if (result.status === 200) {
    state.session = result.data;
    showShell();
  } else {
    showLogin();
  }
  document.body.dataset.ready = 'true';
}

start();
