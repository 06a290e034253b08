// SPDX-License-Identifier: GPL-3.0-or-later
// The ansim console in the browser: login, navigation, audit log, live
// events. Every visible string comes from strings-LANG.json.
'use strict';

const LANGS = ['ko', 'en'];
// Pages of the interface; which of them (and which actions) the session's
// role may use comes from the panel (session.pages, session.actions), which
// derives them from its route table.
const PAGES = ['alerts', 'incidents', 'devices', 'audit', 'drills', 'reports', 'disclosures',
  'settings'];
const mayOpen = (page) => state.session.pages.includes(page);
const mayDo = (action) => state.session.actions.includes(action);
const TONE_EVERY_MS = 3000;        // an unacknowledged alert repeats its tone this often
const STREAM_LOST_MS = 5000;       // an event stream down this long: the console says so
const SESSION_WARN_MS = 10 * 60 * 1000;

const state = { lang: 'ko', strings: {}, session: null, auditBefore: null, stream: null,
  incidents: new Map(), categories: [], bannerId: null, incidentId: null, audio: null, beeps: 0,
  deviceAlerts: new Map(), deviceBannerId: null, toneTimer: null, lost: null, lostTimer: null,
  streamDownSince: null, sessionTimer: null, loggingOut: false,
  play: { id: null, players: [] } };
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
  fillAuditActions();
  if (state.session) { showWho(); updateAlarm(); }
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
    return { status: 0, data: { error: 'network' } };
  }
  let data = null;
  if (reply.status !== 204) {
    try { data = await reply.json(); } catch (e) { data = null; }
  }
  return { status: reply.status, data, headers: reply.headers };
}

function errorText(result) {
  const code = result.data && result.data.error ? result.data.error : 'internal';
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
  $('#alert-banner').hidden = true;
  $('#device-banner').hidden = true;
  $('#escalation-banner').hidden = true;
  $('#session-warning').hidden = true;
  clearInterval(state.sessionTimer);
  state.incidents.clear();
  state.deviceAlerts.clear();
  closeStream();
  updateAlarm();
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
    a.hidden = !mayOpen(a.dataset.page);
  showWho();
  hideAlarmLost();
  openStream();
  route();
  watchSession();
  // Every open alert is shown at login, whatever page opens.
  if (mayOpen('alerts')) loadAlerts(true);
  if ('Notification' in window && window.isSecureContext && Notification.permission === 'default')
    Notification.requestPermission().catch(() => {});
}

function defaultPage() {
  return PAGES.find(mayOpen);
}

function route() {
  if (!state.session) return;
  let page = location.hash.replace(/^#\//, '');
  let detail = null;
  const m = page.match(/^incidents\/(\d+)$/);
  if (m && mayOpen('incidents')) { detail = m[1]; page = 'incidents'; }
  if (!PAGES.includes(page)) page = defaultPage();
  const shown = detail ? 'incident' : page;
  for (const el of document.querySelectorAll('.page')) el.hidden = el.id !== 'page-' + shown;
  for (const a of document.querySelectorAll('#nav a'))
    a.classList.toggle('current', a.dataset.page === page);
  $('#page-error').hidden = true;
  if (state.incidentId !== detail) closePlayers();
  // Each opening of an incident page is one view in the audit log; its
  // automatic refreshes repeat the same token and are not counted again.
  if (detail && detail !== state.incidentId) {
    state.viewId = crypto.randomUUID();
    state.viewPurpose = null;
  }
  state.incidentId = detail;
  if (page === 'audit') loadAudit(true);
  else if (page === 'settings') loadRetention();
  else if (detail) loadIncident(detail);
  else if (page === 'incidents') loadIncidents();
  else if (page === 'devices') loadDevices();
  else if (page === 'alerts') loadAlerts();
  else if (page === 'drills') loadDrills();
  else if (page === 'reports') loadReport();
  else if (page === 'disclosures') loadDisclosures();
}

// ---- login ----

async function onLogin(event) {
  event.preventDefault();
  // The sound is set up now, inside the person's click: browsers allow it
  // then, and creating it later would delay the first alert's banner.
  try { state.audio = state.audio || new AudioContext(); } catch (e) { /* no sound here */ }
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
  state.loggingOut = true;
  closeStream();
  await api('POST', '/api/logout');
  state.loggingOut = false;
  location.hash = '';
  showLogin();
}

// ---- a console that cannot receive alerts says so ----

// The session's end, ahead: a warning 10 minutes before, with renewal;
// at the end, the full-screen warning (the stream's session-ended may
// come up to a keep-alive later).
function watchSession() {
  clearInterval(state.sessionTimer);
  const check = () => {
    if (!state.session) return;
    const left = state.session.expires_at_us / 1000 - Date.now();
    if (left <= 0) { showAlarmLost('session'); return; }
    const warn = left <= SESSION_WARN_MS;
    if (warn) $('#session-warning-text').textContent = t('session.warning', { m: Math.ceil(left / 60000) });
    $('#session-warning').hidden = !warn;
  };
  check();
  state.sessionTimer = setInterval(check, 1000);
}

async function renewSession() {
  const result = await api('POST', '/api/session');
  if (result.status === 401) { showAlarmLost('session'); return; }
  if (result.status !== 200) { showError(result); return; }
  state.session = result.data;
  $('#session-warning').hidden = true;
}

// why: 'session' (ended: log in again) or 'stream' (cannot reconnect; it
// goes away by itself when the stream is back).
function showAlarmLost(why) {
  if (state.loggingOut) return;
  if (why === 'session') {
    closeStream();
    clearInterval(state.sessionTimer);
    $('#session-warning').hidden = true;
  }
  state.lost = why;
  $('#alarm-lost-reason').textContent = t('alarm-lost.' + why);
  $('#alarm-lost-login').hidden = why !== 'session';
  $('#alarm-lost').hidden = false;
  document.body.dataset.alarmLost = why;
  updateAlarm();
}

function hideAlarmLost() {
  state.lost = null;
  $('#alarm-lost').hidden = true;
  delete document.body.dataset.alarmLost;
  updateAlarm();
}

// ---- audit ----

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  row.appendChild(td);
}

// The desk's times by the panel's clock, from the offset its manifest
// recorded; a warning when it was off or never measured.
function showDeskClock(inc, clock) {
  const p = $('#incident-desk-clock');
  p.dataset.flag = clock?.flag ?? 'unknown';
  p.className = clock?.flag === 'off' || clock?.flag === 'never-measured' ? 'status' : '';
  if (!clock || clock.flag === 'unknown') { p.textContent = t('clock.unknown'); return; }
  if (clock.flag === 'never-measured') { p.textContent = t('clock.never-measured'); return; }
  if (clock.flag === 'ok') {
    p.textContent = t('clock.ok', { tolerance: (clock.tolerance_us / 1e6).toFixed(1) });
    return;
  }
  const open = clock.at_open ?? clock.at_close;
  const close = clock.at_close ?? clock.at_open;
  p.textContent = t('clock.off', {
    offset: (Math.abs(open.offset_us) / 1e6).toFixed(3),
    direction: t(open.offset_us >= 0 ? 'clock.behind' : 'clock.ahead'),
    bound: (open.bound_us / 1e6).toFixed(3),
    opened: formatTime(inc.opened_wall_us + open.offset_us),
    closed: inc.closed_wall_us ? t('clock.closed', { closed: formatTime(inc.closed_wall_us + close.offset_us) }) : '',
  });
}

function formatTime(us) {
  return new Date(us / 1000).toLocaleString(state.lang === 'ko' ? 'ko-KR' : 'en-GB');
}

// The action names the catalog knows, as the filter's choices (kept in
// the current language; the chosen one stays chosen).
function fillAuditActions() {
  const select = $('#audit-filters select[name="action"]');
  const chosen = select.value;
  for (const option of [...select.options]) if (option.value) option.remove();
  const actions = Object.keys(state.strings).filter((k) => k.startsWith('action.'))
    .map((k) => k.slice('action.'.length))
    .sort((a, b) => t('action.' + a).localeCompare(t('action.' + b), state.lang));
  for (const action of actions) {
    const option = document.createElement('option');
    option.value = action;
    option.textContent = t('action.' + action);
    select.appendChild(option);
  }
  select.value = chosen;
}

function auditQuery() {
  const form = $('#audit-filters');
  const params = new URLSearchParams();
  const user = form.user.value.trim();
  if (user) params.set('user', user);
  if (form.action.value) params.set('action', form.action.value);
  if (form.incident.value) params.set('incident', form.incident.value);
  // datetime-local is the browser's local time; the panel counts µs.
  if (form.from.value) params.set('from_us', String(new Date(form.from.value).getTime() * 1000));
  if (form.to.value) params.set('to_us', String(new Date(form.to.value).getTime() * 1000));
  if (state.auditBefore) params.set('before', state.auditBefore);
  const text = params.toString();
  return text ? '?' + text : '';
}

// An entry's detail as labelled lines ("Reason: wrong password"), not JSON.
function detailCell(row, detail) {
  const td = document.createElement('td');
  if (detail !== null && typeof detail === 'object' && !Array.isArray(detail)) {
    const list = document.createElement('ul');
    list.className = 'audit-detail';
    for (const [key, value] of Object.entries(detail)) {
      const item = document.createElement('li');
      const label = document.createElement('span');
      label.className = 'label';
      label.textContent = (state.strings['detail.' + key] ?? key) + ': ';
      item.appendChild(label);
      let text;
      if (value === null) text = '—';
      else if (typeof value === 'boolean') text = t(value ? 'audit.yes' : 'audit.no');
      else if (typeof value === 'number' && key.endsWith('_us') && value > 1e15) text = formatTime(value);
      else if (typeof value === 'object') text = JSON.stringify(value);
      else text = state.strings['detail.value.' + value] ?? String(value);
      item.appendChild(document.createTextNode(text));
      list.appendChild(item);
    }
    td.appendChild(list);
  } else if (detail !== null && detail !== undefined) {
    td.textContent = String(detail);
  }
  row.appendChild(td);
}

async function loadAudit(fresh) {
  const body = $('#audit-table tbody');
  if (fresh) {
    state.auditBefore = null;
    body.textContent = '';
    $('#audit-verify-result').textContent = '';
    fillAuditActions();
  }
  const result = await api('GET', '/api/audit' + auditQuery());
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
    detailCell(row, e.detail);
    body.appendChild(row);
  }
  $('#audit-none').hidden = body.children.length > 0;
  state.auditBefore = result.data.next_before;
  $('#audit-more').hidden = state.auditBefore === null;
  // A count of pages shown, so that a test can wait for the next one.
  body.dataset.shown = String(Number(body.dataset.shown || 0) + 1);
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

// The stream did not come back: a refused stream (401) or an ended
// session shows as such; otherwise the console cannot receive alerts
// until it reconnects (EventSource retries by itself, or we reopen it).
async function streamStillDown() {
  state.lostTimer = null;
  if (!state.session || state.stream === null) return;
  const result = await api('GET', '/api/session');
  if (result.status === 401) { showAlarmLost('session'); return; }
  if (state.stream.readyState === EventSource.OPEN) return;
  showAlarmLost('stream');
  if (state.stream.readyState === EventSource.CLOSED) openStream();
  clearTimeout(state.lostTimer);
  state.lostTimer = setTimeout(streamStillDown, STREAM_LOST_MS);
}

function openStream() {
  closeStream();
  if (!mayDo('stream')) { setStreamState('stream.none'); return; }
  const source = new EventSource('/api/events/stream');
  state.stream = source;
  source.onopen = () => {
    setStreamState('stream.open');
    state.streamDownSince = null;
    clearTimeout(state.lostTimer);
    state.lostTimer = null;
    if (state.lost === 'stream') hideAlarmLost();
  };
  // Each failed reconnection (every 2 s) is another error: the check stays
  // set from the first, or the console would never say it.
  source.onerror = () => {
    setStreamState('stream.closed');
    if (state.streamDownSince === null) state.streamDownSince = Date.now();
    if (source.readyState === EventSource.CLOSED) {
      clearTimeout(state.lostTimer);
      state.lostTimer = setTimeout(streamStillDown, 0);
    } else if (state.lostTimer === null) {
      state.lostTimer = setTimeout(streamStillDown, STREAM_LOST_MS);
    }
  };
  source.addEventListener('session-ended', () => { source.close(); showAlarmLost('session'); });
  source.addEventListener('escalated', (event) => {
    const inc = JSON.parse(event.data);
    showEscalation(inc);
    beep();
    log(event);
  });
  const log = (event) => {
    const li = document.createElement('li');
    li.dataset.event = event.type;
    const d = JSON.parse(event.data);
    const about = d && d.desk_name ? [d.desk_name, d.id ? '#' + d.id : d.device,
      d.status ? t('status.' + d.status) : null].filter(Boolean).join(' · ') : event.data;
    li.textContent = formatTime(Date.now() * 1000) + ' · ' + t('event.' + event.type) + ' · ' + about;
    $('#events-list').prepend(li);
    while ($('#events-list').children.length > 50) $('#events-list').lastChild.remove();
  };
  source.addEventListener('test', log);
  source.addEventListener('incident', (event) => {
    const inc = JSON.parse(event.data);
    window.ansimAlertShownAt = Date.now();
    // When the frame with the banner was drawn (bench/alarm-banner.mjs).
    requestAnimationFrame(() => setTimeout(() => { window.ansimBannerDrawnAt = Date.now(); }, 0));
    const known = groupOf(inc.alert_id ?? inc.id).length > 0;
    upsertIncident(inc);
    showBanner(inc);
    // A second camera of the same press joins its alert: no second alarm.
    if (!known) { beep(); notify(inc); }
    log(event);
    // "Alert displayed" for the response-time reports: security's
    // consoles say so as soon as the banner is drawn.
    if (mayDo('act'))
      requestAnimationFrame(() => api('POST', '/api/incidents/' + inc.id + '/shown'));
    refreshDrills();
  });
  for (const name of ['acknowledged', 'resolved', 'incident-updated', 'segment']) {
    source.addEventListener(name, (event) => {
      const inc = JSON.parse(event.data);
      upsertIncident(inc);
      if (state.bannerId === (inc.alert_id ?? inc.id)) {
        if (groupOf(state.bannerId).length === 0) $('#alert-banner').hidden = true;
        else showBanner(inc);
      }
      if (inc.status !== 'open' && Number($('#escalation-banner').dataset.alert) === (inc.alert_id ?? inc.id))
        $('#escalation-banner').hidden = true;
      if (name === 'segment') segmentArrived(inc.id, inc.index);
      if (name !== 'segment') {
        if (state.incidentId === String(inc.id)) loadIncident(state.incidentId);
        log(event);
        refreshDrills();
      }
    });
  }
  for (const name of ['device-offline', 'device-online', 'path-down']) {
    source.addEventListener(name, (event) => {
      const d = JSON.parse(event.data);
      log(event);
      if (name !== 'device-online' && d.device_alert) {
        const alert = { id: d.device_alert, kind: name, device: d.device, desk_id: d.desk_id,
          desk_name: d.desk_name, raised_at_us: d.down_at_us || Date.now() * 1000,
          cleared_at_us: d.restored_at_us || null, acknowledged_by: null };
        state.deviceAlerts.set(alert.id, alert);
        showDeviceBanner(alert);
        beep();
        renderAlerts();
      }
      if (name === 'device-online') {
        for (const a of state.deviceAlerts.values())
          if (a.device === d.device && !a.cleared_at_us) a.cleared_at_us = Date.now() * 1000;
        pruneDeviceAlerts();
      }
      if (!$('#page-devices').hidden) loadDevices();
    });
  }
  source.addEventListener('device-alert-acknowledged', (event) => {
    const a = JSON.parse(event.data);
    log(event);
    state.deviceAlerts.set(a.id, a);
    pruneDeviceAlerts();
  });
}

function pruneDeviceAlerts() {
  for (const [id, a] of state.deviceAlerts)
    if (a.cleared_at_us && a.acknowledged_by) state.deviceAlerts.delete(id);
  if (state.deviceBannerId !== null) {
    const a = state.deviceAlerts.get(state.deviceBannerId);
    if (!a) $('#device-banner').hidden = true;
    else showDeviceBanner(a);
  }
  renderAlerts();
}

function deviceAlertText(a) {
  return t(a.kind === 'path-down' ? 'device-alert.path-down' : 'device-alert.offline', { device: a.device })
    + (a.cleared_at_us ? ' · ' + t('device-alert.cleared') : '');
}

function showDeviceBanner(a) {
  state.deviceBannerId = a.id;
  const banner = $('#device-banner');
  banner.dataset.deviceAlert = a.id;
  $('#device-banner-desk').textContent = a.desk_name || a.desk_id || '';
  $('#device-banner-text').textContent = deviceAlertText(a);
  $('#device-banner-ack').hidden = !!a.acknowledged_by || !mayDo('acknowledge-device-alerts');
  banner.hidden = false;
}

async function acknowledgeDevice(id) {
  const result = await api('POST', '/api/devices/alerts/' + id + '/acknowledge');
  if (result.status !== 200 && result.status !== 409) { showError(result); return; }
  if (result.status === 200) {
    state.deviceAlerts.set(result.data.id, result.data);
    pruneDeviceAlerts();
  }
}

function showEscalation(inc) {
  const banner = $('#escalation-banner');
  banner.dataset.alert = inc.alert_id ?? inc.id;
  $('#escalation-desk').textContent = inc.desk_name || inc.desk_id || '';
  const secs = Math.round((Date.now() * 1000 - inc.alerted_at_us) / 1e6);
  $('#escalation-text').textContent = (inc.trigger_kind ? t('trigger.' + inc.trigger_kind) + ' · ' : '')
    + t('escalation.text', { s: secs });
  banner.hidden = false;
  if (state.incidents.has(inc.id)) upsertIncident(inc);
}

// ---- loudness: the tone repeats while anything is unacknowledged ----

function openAlertCount() {
  const groups = new Set();
  for (const inc of state.incidents.values())
    if (inc.status === 'open') groups.add(inc.alert_id ?? inc.id);
  let devices = 0;
  for (const a of state.deviceAlerts.values()) if (!a.acknowledged_by) devices++;
  return groups.size + devices;
}

// The title, and the repeating tone: on while an alert is unacknowledged
// or the console cannot receive alerts; off when someone took it.
function updateAlarm() {
  const n = state.session ? openAlertCount() : 0;
  document.title = n > 0 ? t('title.alerts', { n }) : t('app.title');
  document.body.dataset.openAlerts = String(n);
  const loud = n > 0 || state.lost !== null;
  if (loud && state.toneTimer === null) {
    state.toneTimer = setInterval(() => { beep(); if (navigator.vibrate) try { navigator.vibrate([300, 100, 300]); } catch (e) { /* not allowed here */ } }, TONE_EVERY_MS);
    if (state.lost !== null) beep();
  } else if (!loud && state.toneTimer !== null) {
    clearInterval(state.toneTimer);
    state.toneTimer = null;
  }
}

// A system notification where the browser allows it (a secure context and
// the person's permission): seen even when the tab is in the background.
function notify(inc) {
  try {
    if (navigator.vibrate) navigator.vibrate([300, 100, 300]);
  } catch (e) { /* not allowed here */ }
  if (!('Notification' in window) || !window.isSecureContext || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(t('notify.alert', { desk: inc.desk_name || inc.desk_id }),
      { body: inc.trigger_kind ? t('trigger.' + inc.trigger_kind) : '', tag: 'ansim-' + (inc.alert_id ?? inc.id),
        requireInteraction: true });
    n.onclick = () => { window.focus(); location.hash = '#/alerts'; };
  } catch (e) {
    console.warn('no notification:', e);
  }
}

function groupOf(alertId) {
  return [...state.incidents.values()].filter((i) => (i.alert_id ?? i.id) === alertId);
}

function cameras(alertId) {
  return groupOf(alertId).map((i) => i.source || i.trigger).filter(Boolean);
}

// ---- alerts: banner, sound, the unresolved list ----

// Three short tones from Web Audio: no file to fetch. Browsers allow sound
// after the user interacted with the page (the login counts).
function beep() {
  try {
    state.audio = state.audio || new AudioContext();
    const ctx = state.audio;
    if (ctx.state === 'suspended') ctx.resume();
    for (let i = 0; i < 3; i++) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'square';
      osc.frequency.value = 880;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(ctx.destination);
      const at = ctx.currentTime + i * 0.3;
      osc.start(at);
      osc.stop(at + 0.18);
    }
    state.beeps++;
    document.body.dataset.beeps = String(state.beeps);
  } catch (e) {
    console.warn('no sound:', e);
  }
}

function showBanner(inc) {
  const banner = $('#alert-banner');
  const alertId = inc.alert_id ?? inc.id;
  const group = groupOf(alertId);
  // The alert's state is its group's: open while any incident is open.
  if (group.some((i) => i.status === 'open')) inc = group.find((i) => i.status === 'open');
  state.bannerId = alertId;
  banner.dataset.incident = inc.id ?? '';
  banner.dataset.alert = alertId ?? '';
  const cams = cameras(alertId);
  $('#banner-cameras').textContent = cams.length ? t('banner.cameras', { list: cams.join(', ') }) : '';
  banner.dataset.cameras = cams.join(',');
  $('#banner-desk').textContent = inc.desk_name || inc.desk_id || '';
  $('#banner-trigger').textContent = inc.trigger_kind ? t('trigger.' + inc.trigger_kind) + ' · ' + inc.trigger
    : inc.trigger || '';
  setBadge($('#banner-status'), inc.status);
  banner.classList.toggle('acknowledged', inc.status !== 'open');
  banner.classList.toggle('drill', !!inc.is_drill);
  banner.dataset.drill = inc.is_drill ? 'true' : 'false';
  $('#banner-drill').hidden = !inc.is_drill;
  $('#banner-ack').hidden = inc.id == null || inc.status !== 'open' || !mayDo('act');
  $('#banner-open').hidden = inc.id == null;
  if (inc.id != null) $('#banner-open').href = '#/incidents/' + inc.id;
  banner.hidden = false;
}

function setBadge(el, status) {
  el.textContent = t('status.' + status);
  el.className = 'badge ' + status;
  el.dataset.status = status;
}

function upsertIncident(inc) {
  if (inc.status === 'resolved') state.incidents.delete(inc.id);
  else state.incidents.set(inc.id, inc);
  renderAlerts();
}

// One entry per alert (the incidents of one press: one per camera), and
// one per 장치 이상, styled apart.
function renderAlerts() {
  const list = $('#alerts-list');
  list.textContent = '';
  const firsts = new Map();
  for (const inc of [...state.incidents.values()].sort((a, b) => a.id - b.id)) {
    const key = inc.alert_id ?? inc.id;
    const have = firsts.get(key);
    if (!have || (have.status !== 'open' && inc.status === 'open')) firsts.set(key, inc);
  }
  const items = [...firsts.values()].sort((a, b) => b.alerted_at_us - a.alerted_at_us);
  for (const a of [...state.deviceAlerts.values()].sort((x, y) => y.id - x.id)) {
    const li = document.createElement('li');
    li.className = 'device' + (a.acknowledged_by ? ' acknowledged' : ' open');
    li.dataset.deviceAlert = a.id;
    const what = document.createElement('span');
    what.className = 'what';
    what.textContent = t('device-alert.title') + ' · ' + (a.desk_name || a.desk_id || '') + ' · ' + deviceAlertText(a);
    li.appendChild(what);
    const when = document.createElement('span');
    when.textContent = formatTime(a.raised_at_us);
    li.appendChild(when);
    if (a.acknowledged_by) {
      const who = document.createElement('span');
      who.textContent = t('incident.acknowledged-by', { who: a.acknowledged_by });
      li.appendChild(who);
    } else if (mayDo('acknowledge-device-alerts')) {
      li.appendChild(button(t('incident.acknowledge'), () => acknowledgeDevice(a.id), 'ack'));
    }
    list.appendChild(li);
  }
  for (const inc of items) {
    const li = document.createElement('li');
    li.dataset.incident = inc.id;
    li.dataset.alert = inc.alert_id ?? inc.id;
    const cams = cameras(inc.alert_id ?? inc.id);
    li.dataset.cameras = cams.join(',');
    li.className = inc.status + (inc.is_drill ? ' drill' : '');
    const what = document.createElement('span');
    what.className = 'what';
    what.textContent = (inc.desk_name || inc.desk_id) + ' · ' + t('trigger.' + inc.trigger_kind)
      + (cams.length ? ' · ' + t('banner.cameras', { list: cams.join(', ') }) : '');
    li.appendChild(what);
    const when = document.createElement('span');
    when.textContent = formatTime(inc.alerted_at_us);
    li.appendChild(when);
    if (inc.is_drill) li.appendChild(drillBadge());
    const badge = document.createElement('span');
    setBadge(badge, inc.status);
    li.appendChild(badge);
    if (inc.acknowledged_by) {
      const who = document.createElement('span');
      who.textContent = t('incident.acknowledged-by', { who: inc.acknowledged_by });
      li.appendChild(who);
    }
    if (inc.status === 'open' && mayDo('act')) {
      const ack = document.createElement('button');
      ack.type = 'button';
      ack.className = 'ack';
      ack.textContent = t('incident.acknowledge');
      ack.addEventListener('click', () => acknowledge(inc.id));
      li.appendChild(ack);
    }
    const open = document.createElement('a');
    open.className = 'button secondary';
    open.href = '#/incidents/' + inc.id;
    open.textContent = t('banner.open');
    li.appendChild(open);
    list.appendChild(li);
  }
  $('#alerts-empty').hidden = items.length + state.deviceAlerts.size > 0;
  updateAlarm();
}

// atLogin: the newest open alert and 장치 이상 also get their banners.
async function loadAlerts(atLogin) {
  const [result, devices] = await Promise.all([api('GET', '/api/incidents?status=unresolved&limit=500'),
    mayDo('device-alerts') ? api('GET', '/api/devices/alerts') : { status: 0 }]);
  if (result.status === 401) { showAlarmLost('session'); return; }
  if (result.status !== 200) { showError(result); return; }
  state.incidents.clear();
  for (const inc of result.data.incidents) state.incidents.set(inc.id, inc);
  if (devices.status === 200) {
    state.deviceAlerts.clear();
    for (const a of devices.data.alerts) state.deviceAlerts.set(a.id, a);
  }
  setCategories(result.data.categories);
  renderAlerts();
  if (atLogin === true) {
    const open = [...state.incidents.values()].filter((i) => i.status === 'open')
      .sort((a, b) => b.alerted_at_us - a.alerted_at_us);
    if (open.length) { showBanner(open[0]); beep(); }
    const dev = [...state.deviceAlerts.values()].filter((a) => !a.acknowledged_by);
    if (dev.length) showDeviceBanner(dev[0]);
  }
}

async function acknowledge(id) {
  const result = await api('POST', '/api/incidents/' + id + '/acknowledge');
  if (result.status !== 200 && result.status !== 409) { showError(result); return; }
  if (result.status === 200) {
    // The whole alert was acknowledged: its other incidents come as events
    // too, but the tone stops now.
    const inc = result.data.incident;
    for (const other of groupOf(inc.alert_id ?? inc.id))
      if (other.status === 'open') other.status = 'acknowledged';
    upsertIncident(inc);
    if (state.bannerId === (inc.alert_id ?? inc.id)) showBanner(inc);
    if (state.incidentId === String(id)) loadIncident(state.incidentId);
  }
}

// ---- incidents ----

function setCategories(list) {
  if (!list || state.categories.length) return;
  state.categories = list;
  for (const select of document.querySelectorAll('select.categories')) {
    for (const c of list) {
      const o = document.createElement('option');
      o.value = c;
      o.dataset.i18n = 'category.' + c;
      o.textContent = t('category.' + c);
      select.appendChild(o);
    }
  }
}

function dayToUs(value, endOfDay) {
  if (!value) return null;
  const d = new Date(value + 'T00:00:00');
  if (endOfDay) d.setDate(d.getDate() + 1);
  return d.getTime() * 1000;
}

async function loadIncidents() {
  const form = $('#incident-filters');
  const q = new URLSearchParams();
  for (const name of ['status', 'desk', 'category', 'drill'])
    if (form.elements[name].value) q.set(name, form.elements[name].value.trim());
  const since = dayToUs(form.elements.from.value, false);
  const until = dayToUs(form.elements.to.value, true);
  if (since) q.set('since_us', since);
  if (until) q.set('until_us', until);
  const result = await api('GET', '/api/incidents' + (q.toString() ? '?' + q : ''));
  if (result.status === 401) { showLogin(); return; }
  if (result.status !== 200) { showError(result); return; }
  setCategories(result.data.categories);
  const body = $('#incidents-table tbody');
  body.textContent = '';
  for (const inc of result.data.incidents) {
    const row = document.createElement('tr');
    row.dataset.incident = inc.id;
    cell(row, inc.id);
    cell(row, formatTime(inc.alerted_at_us));
    cell(row, inc.desk_name);
    cell(row, t('trigger.' + inc.trigger_kind));
    if (inc.is_drill) row.lastChild.appendChild(drillBadge());
    row.dataset.drill = inc.is_drill ? 'true' : 'false';
    cell(row, t('status.' + inc.status) + (inc.legal_hold ? ' · ' + t('hold.badge') : ''));
    cell(row, inc.category ? t('category.' + inc.category) : '');
    cell(row, inc.segments_received + ' / ' + inc.segments_listed);
    row.addEventListener('click', () => { location.hash = '#/incidents/' + inc.id; });
    body.appendChild(row);
  }
  $('#incidents-empty').hidden = result.data.incidents.length > 0;
}

function timelineText(e) {
  const d = e.detail || {};
  let text = t('timeline.' + e.what, { n: e.segment ?? '', s: e.detail && e.detail.after_s != null ? e.detail.after_s : '' });
  if (e.what === 'clock-step' && d['step-us'] != null)
    text = t('timeline.clock-step', { s: (Number(d['step-us']) / 1e6).toFixed(1) });
  if (e.what === 'pressed' && d.clock === 'device-corrected')
    text += ' (' + t('clock.desk-time', { time: formatTime(d.device_wall_us) }) + ')';
  if (e.actor) text += ' · ' + e.actor;
  if (d.category) text += ' · ' + t('category.' + d.category);
  if (d.note) text += ' · “' + d.note + '”';
  if (d.reason) text += ' · “' + d.reason + '”';
  if (e.what === 'drill-tagged' && d.drill) text += ' · #' + d.drill + (d.armed_by ? ' (' + d.armed_by + ')' : '');
  return text;
}

// The panel audits the first load of each page open (view token), with
// the purpose when the site asks for one.
async function loadIncident(id) {
  const params = new URLSearchParams({ view: state.viewId });
  if (state.viewPurpose) params.set('purpose', state.viewPurpose);
  const result = await api('GET', '/api/incidents/' + id + '?' + params);
  if (result.status === 401) { showLogin(); return; }
  if (result.status === 400 && result.data?.error === 'purpose-required') {
    $('#purpose-form').hidden = false;
    $('#page-incident').dataset.purposeNeeded = '1';
    $('#purpose-form input[name="purpose"]').focus();
    return;
  }
  if (result.status !== 200) { showError(result); return; }
  $('#purpose-form').hidden = true;
  delete $('#page-incident').dataset.purposeNeeded;
  if (state.incidentId !== id) return;
  const { incident: inc, integrity, timeline, categories } = result.data;
  setCategories(categories);
  const page = $('#page-incident');
  page.dataset.incident = inc.id;
  page.dataset.status = inc.status;
  $('#incident-title').textContent = t('incident.title', { id: inc.id, desk: inc.desk_name });
  $('#incident-summary').textContent = [t('trigger.' + inc.trigger_kind) + ' · ' + inc.trigger,
    formatTime(inc.alerted_at_us), t('status.' + inc.status),
    inc.category ? t('category.' + inc.category) : null].filter(Boolean).join(' · ');
  if (inc.is_drill) $('#incident-summary').prepend(drillBadge(), ' ');
  page.dataset.drill = inc.is_drill ? 'true' : 'false';
  $('#incident-integrity').textContent = t('integrity.' + integrity.signature + '.' + integrity.checksums,
    { n: inc.segments_received, total: inc.segments_listed }) + (integrity.complete ? ' ' + t('integrity.complete') : '');
  $('#incident-integrity').className = integrity.signature === 'verified' ? 'ok' : 'status';
  showDeskClock(inc, result.data.desk_clock);
  const list = $('#incident-timeline');
  list.textContent = '';
  for (const e of timeline) {
    const li = document.createElement('li');
    li.dataset.what = e.what;
    const when = document.createElement('span');
    when.className = 'when';
    when.textContent = formatTime(e.at_us);
    li.appendChild(when);
    li.appendChild(document.createTextNode(timelineText(e)));
    list.appendChild(li);
  }
  const canAct = mayDo('act');
  // Without the site identity the panel cannot decrypt: no player, and
  // the export cannot include video.
  const playback = result.data.playback !== false;
  $('#player').hidden = !canAct || !playback;
  $('#play-off').hidden = !canAct || playback;
  $('#export-media').disabled = !playback;
  if (!playback) $('#export-media').checked = false;
  if ($('#export-box').dataset.incident !== String(inc.id)) {
    $('#export-box').dataset.incident = String(inc.id);
    $('#export-status').textContent = '';
  }
  $('#export-box').hidden = !canAct || !inc.manifest_at_us;
  if (canAct && playback) {
    if (state.play.id !== inc.id) {
      openPlayers(inc, result.data.cameras);
      loadCameraSegments();
    }
    state.play.marks = timeline.filter((e) => ['pressed', 'alert-received', 'acknowledged', 'note',
      'resolved', 'escalated'].includes(e.what));
    const main = mainPlayer();
    const fresh = main.want == null;
    main.setSegments(result.data.segments, !!inc.closed_wall_us);
    // Still recording: follow it as it comes in (muted until a click).
    if (fresh && !inc.closed_wall_us) main.autoLive = true;
    if (main.autoLive && main.want == null) main.live();
    drawTimeline();
  } else closePlayers();
  $('#incident-ack').hidden = !canAct || inc.status !== 'open';
  $('#incident-not-drill').hidden = !inc.is_drill || !mayDo('not-a-drill');
  $('#resolve-form').hidden = !canAct || inc.status === 'resolved';
  $('#note-form').hidden = !canAct;
  showHold(inc);
}

// ---- legal hold (admins place and release it, everyone sees it) ----

function showHold(inc) {
  const status = $('#hold-status');
  const page = $('#page-incident');
  page.dataset.legalHold = inc.legal_hold ? 'true' : 'false';
  if (inc.purge_started_at_us) status.textContent = t('hold.purging');
  else if (inc.legal_hold)
    status.textContent = t('hold.on', { at: formatTime(inc.legal_hold_at_us),
      by: inc.legal_hold_by, reason: inc.legal_hold_reason });
  else status.textContent = t('hold.none');
  $('#hold-form').hidden = !mayDo('legal-hold') || !!inc.purge_started_at_us;
  $('#hold-submit').textContent = t(inc.legal_hold ? 'hold.release' : 'hold.place');
  $('#hold-form').dataset.hold = inc.legal_hold ? 'false' : 'true';
  showHoldRequest(inc);
}

// Four eyes: a release is a request another admin approves or rejects;
// the asker may withdraw it. Admins and auditors see a pending one.
async function showHoldRequest(inc) {
  const box = $('#hold-request');
  box.hidden = true;
  if (!inc.legal_hold || !(mayDo('legal-hold') || mayOpen('audit'))) return;
  const result = await api('GET', '/api/approvals');
  if (result.status !== 200 || String(state.incidentId) !== String(inc.id)) return;
  const pending = result.data.approvals.find((a) => a.incident_id === inc.id
    && a.action === 'legal-hold-release' && a.status === 'pending');
  if (!pending) return;
  const own = pending.requested_by === result.data.user;
  box.dataset.approval = pending.id;
  $('#hold-request-status').textContent = t(own ? 'hold.requested-own' : 'hold.requested', {
    by: pending.requested_by, at: formatTime(pending.requested_at_us), reason: pending.reason });
  $('#hold-approve').hidden = own || !mayDo('legal-hold');
  $('#hold-reject').hidden = own || !mayDo('legal-hold');
  $('#hold-withdraw').hidden = !own;
  $('#hold-form').hidden = true;
  box.hidden = false;
}

async function onHoldDecision(decision) {
  const id = $('#hold-request').dataset.approval;
  const result = await api('POST', '/api/approvals/' + id, { decision });
  if (result.status !== 200) { showError(result); return; }
  loadIncident(state.incidentId);
}

async function onHold(event) {
  event.preventDefault();
  const form = event.target;
  const body = { hold: form.dataset.hold === 'true', reason: form.elements.reason.value.trim() };
  const result = await api('POST', '/api/incidents/' + state.incidentId + '/legal-hold', body);
  if (result.status !== 200 && result.status !== 202) { showError(result); return; }
  form.reset();
  loadIncident(state.incidentId);
}

// ---- settings: retention periods ----

async function loadRetention() {
  const result = await api('GET', '/api/settings/retention');
  if (result.status === 401) { showLogin(); return; }
  if (result.status !== 200) { showError(result); return; }
  const admin = mayDo('change-retention');
  const incident = result.data.policy.find((p) => p.category === 'incident');
  const body = $('#retention-table tbody');
  body.textContent = '';
  for (const p of result.data.policy) {
    const row = document.createElement('tr');
    row.dataset.category = p.category;
    cell(row, p.category === 'drill' || p.category === 'incident'
      ? t('retention.' + p.category) : t('category.' + p.category));
    const td = document.createElement('td');
    const input = document.createElement('input');
    input.type = 'number';
    input.min = result.data.min_days;
    input.max = result.data.max_days;
    input.step = 1;
    input.name = p.category;
    input.value = p.changed_at_us ? p.days : '';
    input.placeholder = p.effective_days;
    input.disabled = !admin;
    input.dataset.saved = input.value;
    td.appendChild(input);
    row.appendChild(td);
    cell(row, p.default_days ?? t('settings.as-incident', { n: incident.effective_days }));
    cell(row, p.changed_at_us ? formatTime(p.changed_at_us) + ' · ' + (p.changed_by ?? '') : '');
    body.appendChild(row);
  }
  $('#retention-save').hidden = !admin;
  if (admin) loadWebhooks();
  loadRetentionRequests(admin);
}

// Four eyes: shortening the period of held incidents waits for another
// admin; pending requests are listed here with their decisions.
async function loadRetentionRequests(admin) {
  const box = $('#retention-requests');
  const list = $('#retention-requests-list');
  const result = await api('GET', '/api/approvals');
  const pending = result.status === 200 ? result.data.approvals.filter((a) =>
    a.action === 'retention-shorten' && a.status === 'pending') : [];
  list.textContent = '';
  box.hidden = pending.length === 0;
  for (const a of pending) {
    const li = document.createElement('li');
    li.dataset.approval = a.id;
    const own = a.requested_by === result.data.user;
    const text = document.createElement('span');
    const change = Object.entries(a.request).map(([c, days]) =>
      (c === 'drill' || c === 'incident' ? t('retention.' + c) : t('category.' + c)) + ' → '
      + (days === null ? t('retention.default') : t('retention.days', { days }))).join(', ');
    text.textContent = t('retention.requested', { by: a.requested_by,
      at: formatTime(a.requested_at_us), change });
    li.appendChild(text);
    const decisions = !admin ? [] : own ? ['withdraw'] : ['approve', 'reject'];
    for (const decision of decisions) {
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.decision = decision;
      button.textContent = t('retention.' + decision);
      button.addEventListener('click', async () => {
        const r = await api('POST', '/api/approvals/' + a.id, { decision });
        if (r.status !== 200) { showError(r); return; }
        loadRetention();
      });
      li.appendChild(button);
    }
    list.appendChild(li);
  }
}

// ---- settings: webhooks (admins) ----

async function loadWebhooks() {
  const result = await api('GET', '/api/webhooks');
  $('#webhooks').hidden = result.status !== 200;
  if (result.status !== 200) return;
  const hooks = $('#webhooks-table tbody');
  hooks.textContent = '';
  for (const w of result.data.webhooks) {
    const row = document.createElement('tr');
    row.dataset.webhook = w.name;
    cell(row, w.name);
    cell(row, w.url);
    cell(row, w.events.join(', '));
    cell(row, w.pending);
    cell(row, w.given_up);
    cell(row, w.last_delivered_at_us ? formatTime(w.last_delivered_at_us) : '');
    hooks.appendChild(row);
  }
  const list = $('#webhook-deliveries tbody');
  list.textContent = '';
  for (const d of result.data.deliveries.slice(0, 50)) {
    const row = document.createElement('tr');
    row.dataset.delivery = d.delivery_id;
    cell(row, formatTime(d.created_at_us));
    cell(row, d.webhook);
    cell(row, d.event);
    cell(row, d.desk ?? '');
    cell(row, d.attempts);
    cell(row, d.delivered_at_us
      ? t('webhooks.delivered', { time: formatTime(d.delivered_at_us), status: d.last_status })
      : d.gave_up_at_us
        ? t('webhooks.gave-up', { time: formatTime(d.gave_up_at_us), error: d.last_error ?? '' })
        : d.last_error
          ? t('webhooks.retrying', { time: formatTime(d.next_attempt_at_us), error: d.last_error })
          : t('webhooks.waiting'));
    list.appendChild(row);
  }
}

async function onRetentionSave(event) {
  event.preventDefault();
  const change = {};
  for (const input of document.querySelectorAll('#retention-table input')) {
    if (input.value === input.dataset.saved) continue;
    change[input.name] = input.value === '' ? null : Number(input.value);
  }
  const note = $('#retention-result');
  if (Object.keys(change).length === 0) { note.textContent = t('settings.saved'); return; }
  const result = await api('POST', '/api/settings/retention', change);
  if (result.status === 202) {
    note.textContent = t('retention.waiting', { categories: result.data.categories });
    loadRetention();
    return;
  }
  if (result.status !== 200) {
    note.textContent = (result.data && result.data.message) ? result.data.message : errorText(result);
    return;
  }
  note.textContent = t('settings.saved');
  loadRetention();
}

async function onResolve(event) {
  event.preventDefault();
  const form = event.target;
  const body = { category: form.elements.category.value };
  if (form.elements.note.value.trim()) body.note = form.elements.note.value.trim();
  const result = await api('POST', '/api/incidents/' + state.incidentId + '/resolve', body);
  if (result.status !== 200) { showError(result); return; }
  form.reset();
  upsertIncident(result.data.incident);
  if (state.bannerId === result.data.incident.id) $('#alert-banner').hidden = true;
  loadIncident(state.incidentId);
}

async function onNote(event) {
  event.preventDefault();
  const form = event.target;
  const body = {};
  if (form.elements.note.value.trim()) body.note = form.elements.note.value.trim();
  if (form.elements.category.value) body.category = form.elements.category.value;
  const result = await api('POST', '/api/incidents/' + state.incidentId + '/notes', body);
  if (result.status !== 200) { showError(result); return; }
  form.reset();
  loadIncident(state.incidentId);
}

// ---- export for disclosure: the package is fetched, then saved; a refusal
// is said on the page (never a JSON file saved as the package) ----

function onExportPreset() {
  const preset = $('#export-preset').value;
  if (!preset) return;
  const form = $('#export-form');
  form.elements.purpose.value = t('export.basis.' + preset);
  form.elements.legal_basis.value = t('export.basis.' + preset + '.law');
}

async function onExport(event) {
  event.preventDefault();
  const form = event.target;
  const status = $('#export-status');
  const body = { media: $('#export-media').checked, recipient: form.elements.recipient.value,
    purpose: form.elements.purpose.value, legal_basis: form.elements.legal_basis.value };
  $('#export-submit').disabled = true;
  status.dataset.state = 'working';
  status.textContent = t('export.preparing');
  let reply = null;
  try {
    reply = await fetch('/api/incidents/' + state.incidentId + '/export', { method: 'POST',
      credentials: 'same-origin', body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': state.session.csrf_token } });
    if (reply.ok) {
      const blob = await reply.blob();
      const name = (reply.headers.get('Content-Disposition') || '').match(/filename="([^"]+)"/);
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = name ? name[1] : 'ansim-incident.tar';
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60000);
      status.dataset.state = 'done';
      status.textContent = t('export.done', { name: a.download, size: blob.size }) +
        (reply.headers.get('X-Ansim-Video') === 'failed' ? ' ' + t('export.no-video') : '');
      form.reset();
      return;
    }
    let data = null;
    try { data = await reply.json(); } catch (e) { data = null; }
    if (reply.status === 401) { showLogin(); return; }
    status.dataset.state = 'failed';
    status.textContent = t('export.failed', { why: errorText({ data }) }) +
      (data && data.message ? ' (' + data.message + ')' : '');
  } catch (e) {
    status.dataset.state = 'failed';
    status.textContent = t('export.failed', { why: t('err.network') });
  } finally {
    $('#export-submit').disabled = false;
  }
}

// ---- the disclosure register (개인영상정보 제공 관리대장) ----

async function loadDisclosures() {
  const result = await api('GET', '/api/disclosures');
  if (result.status === 401) { showLogin(); return; }
  if (result.status !== 200) { showError(result); return; }
  const body = $('#disclosures-table tbody');
  body.replaceChildren();
  for (const d of result.data.disclosures) {
    const tr = document.createElement('tr');
    const footage = d.footage_from_us ? formatTime(d.footage_from_us) + ' – ' +
      formatTime(d.footage_until_us) : '—';
    const cells = [formatTime(d.at_us), null, footage, d.desk_id, d.exported_by, d.recipient,
      d.purpose, d.legal_basis, t(d.media ? 'disclosures.media.yes' : 'disclosures.media.no'),
      d.package_sha256.slice(0, 16) + '…'];
    for (const [i, text] of cells.entries()) {
      const td = document.createElement('td');
      if (i === 1 && !mayOpen('incidents')) {
        td.textContent = '#' + d.incident_id;
      } else if (i === 1) {
        const a = document.createElement('a');
        a.href = '#/incidents/' + d.incident_id;
        a.textContent = '#' + d.incident_id;
        td.appendChild(a);
      } else {
        td.textContent = text;
      }
      if (i === 9) td.title = d.package_sha256;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  $('#disclosures-empty').hidden = result.data.disclosures.length > 0;
}

// ---- playback: Media Source Extensions fed with the panel's fragmented MP4 ----
// Each segment comes remuxed (never re-encoded) as fragmented MP4 starting
// at 0, with its place on the desk's clock (X-Ansim-Wall-Start-Us, the
// signed manifest's, where each segment starts exactly where the previous
// one ended). Appended at that place (media time = wall time - base), the
// segments play as one stream, the cameras of one press share one clock,
// and a segment that never came (a gap) is a hole that is skipped and said
// so. docs/console.md, Playback.
const AHEAD = 3;              // segments loaded ahead of the one playing
const KEEP_BEHIND_S = 30;     // seconds kept buffered behind the play position
const HOLE_BRIDGED_S = 0.3;   // holes shorter than this are crossed without a word
const LIVE_EXTRA_S = 0.5;     // following: this much more than a segment behind the newest frame
const HOLD_MAX_MS = 1500;     // the longest the clock waits for a lagging camera
const BASE_MARGIN_MS = 600000; // media time 0 lies this long before the press (pre-event footage)

class Player {
  constructor(incidentId, video, primary, baseMs) {
    this.id = incidentId;
    this.base = baseMs;
    this.video = video;
    this.primary = primary;
    this.segs = new Map();     // idx -> {idx, kind, start_wall_us, duration_us, received, state, mediaStart, frames}
    this.ms = null;
    this.sb = null;
    this.busy = false;
    this.want = null;          // index around which segments are loaded
    this.seekTo = null;        // {idx, intoS} once that segment is in
    this.following = false;
    this.closed = false;
    this.gaps = 0;
    this.error = null;
    video.dataset.gapsSkipped = '0';
  }

  close() {
    this.closed = true;
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
  }

  setSegments(list, closed) {
    this.incidentClosed = closed;
    for (const s of list) {
      const g = this.segs.get(s.idx) || { idx: s.idx, state: 'none' };
      Object.assign(g, { kind: s.kind, start_wall_us: s.start_wall_us, duration_us: s.duration_us,
        gap_reason: s.gap_reason, received: !!s.received_at_us || g.received });
      this.segs.set(s.idx, g);
    }
    this.pump();
  }

  arrived(idx) {
    const g = this.segs.get(idx) || { idx, kind: 'media', state: 'none' };
    g.received = true;
    this.segs.set(idx, g);
    if (this.autoLive && this.want == null) return this.live();
    if (this.following) this.want = Math.max(this.want ?? idx, idx - 1);
    this.pump();
  }

  playable() { return [...this.segs.values()].filter((g) => g.kind === 'media' && g.received).sort((a, b) => a.idx - b.idx); }

  // A segment's start on the desk's clock (µs), estimated from a
  // neighbour when only its index is known yet.
  wallStart(g) {
    if (g.start_wall_us != null) return g.start_wall_us;
    let best = null;
    for (const k of this.segs.values())
      if (k.start_wall_us != null && (!best || Math.abs(k.idx - g.idx) < Math.abs(best.idx - g.idx))) best = k;
    return best ? best.start_wall_us + (g.idx - best.idx) * (best.duration_us || 2e6) : null;
  }

  duration(g) { return (g.duration_us || 2e6) / 1e6; }

  // The wall time (ms, desk clock) of media time t, and back.
  wallAt(t) { return this.base + t * 1000; }
  mediaAt(ms) { return (ms - this.base) / 1000; }

  // The segment covering wall time ms (or the next one after it).
  segmentAtWall(ms) {
    const list = [...this.segs.values()].sort((a, b) => a.idx - b.idx);
    for (const g of list) {
      const s = this.wallStart(g);
      if (s != null && ms < s / 1000 + this.duration(g) * 1000) return g;
    }
    return list[list.length - 1];
  }

  // Whether media time t is buffered (a frame to show there).
  covers(t) {
    const b = this.video.buffered;
    for (let i = 0; i < b.length; i++) if (t >= b.start(i) && t < b.end(i)) return true;
    return false;
  }

  newestEnd() {
    const b = this.video.buffered;
    return b.length ? b.end(b.length - 1) : null;
  }

  // Plays from wall time ms (the desk's clock).
  seekWall(ms, andPlay = true) {
    let g = this.segmentAtWall(ms);
    if (!g) return;
    const start = this.wallStart(g) / 1000;
    let into = Math.max(0, (ms - start) / 1000);
    if (g.kind !== 'media' || !g.received) {
      const next = this.playable().find((k) => k.idx > g.idx);
      if (!next) return;
      g = next;
      into = 0;
    }
    this.want = g.idx;
    if (g.state === 'appended') this.video.currentTime = g.mediaStart + into;
    else this.seekTo = { idx: g.idx, into };
    if (andPlay) this.video.play().catch(() => {});
    this.pump();
  }

  fromStart() {
    this.following = false;
    this.autoLive = false;
    // What was buffered near live would be a far-off island: dropped.
    if (this.sb && !this.sb.updating) {
      this.sb.remove(0, Infinity);
      for (const g of this.segs.values()) if (g.state === 'appended') g.state = 'none';
    }
    const first = this.playable()[0];
    if (first) this.seekWall(this.wallStart(first) / 1000);
  }

  live() {
    const last = this.playable().pop();
    if (!last) return;
    this.following = true;
    this.video.playbackRate = 1;
    this.want = last.idx;
    if (last.state === 'appended') this.toLiveEdge();
    else this.seekTo = { idx: last.idx, live: true };
    this.video.play().catch(() => {});
    this.pump();
  }

  toLiveEdge() {
    const end = liveEnd();
    const last = this.playable().pop();
    if (end == null || !last) return;
    this.video.currentTime = Math.max(last.mediaStart ?? 0, end - this.duration(last) - LIVE_EXTRA_S);
    if (this.primary) syncCameras(true);
  }

  // The segment at the play position (by the desk's clock), or the one
  // asked for while nothing plays yet.
  currentIdx() {
    if (!this.sb || this.seekTo) return this.want;
    const g = this.segmentAtWall(this.wallAt(this.video.currentTime));
    return g ? g.idx : this.want;
  }

  async source(codecs) {
    if (this.sb) return;
    this.ms = new MediaSource();
    this.video.src = URL.createObjectURL(this.ms);
    await new Promise((r) => this.ms.addEventListener('sourceopen', r, { once: true }));
    this.sb = this.ms.addSourceBuffer('video/mp4; codecs="' + codecs + '"');
    this.sb.mode = 'segments';
  }

  append(data) {
    return new Promise((resolve, reject) => {
      const done = () => { this.sb.removeEventListener('error', fail); resolve(); };
      const fail = () => { this.sb.removeEventListener('updateend', done); reject(new Error('append')); };
      this.sb.addEventListener('updateend', done, { once: true });
      this.sb.addEventListener('error', fail, { once: true });
      this.sb.appendBuffer(data);
    });
  }

  removeBefore(t) {
    const b = this.sb.buffered;
    if (!b.length || b.start(0) >= t - 0.5) return Promise.resolve();
    return new Promise((resolve) => {
      this.sb.addEventListener('updateend', resolve, { once: true });
      this.sb.remove(0, t);
    }).then(() => {
      for (const g of this.segs.values())
        if (g.mediaStart != null && g.mediaStart + this.duration(g) <= t) g.state = 'none';
    });
  }

  // Loads the next segment that should be buffered, one at a time, in order.
  async pump() {
    if (this.busy || this.closed) return;
    const list = this.playable();
    if (!list.length) return;
    if (this.want == null) return;
    const from = this.currentIdx() ?? this.want;
    const next = list.find((g) => g.idx >= from && g.idx <= from + AHEAD && g.state === 'none');
    if (!next) return;
    this.busy = true;
    try {
      await this.load(next);
    } catch (e) {
      // Asked again a little later (a busy panel); after five tries the
      // segment counts as missing and its hole is skipped visibly.
      next.tries = (next.tries || 0) + 1;
      next.state = next.tries >= 5 ? 'failed' : 'retry';
      if (next.state === 'failed') this.error = e.message;
      else setTimeout(() => { if (next.state === 'retry') { next.state = 'none'; this.pump(); } }, 1500);
      console.warn('segment', next.idx, e);
    }
    this.busy = false;
    if (!this.closed) this.pump();
  }

  async load(g) {
    g.state = 'loading';
    const r = await fetch('/api/incidents/' + this.id + '/segments/' + g.idx + '/media');
    if (r.status !== 200) {
      let code = String(r.status);
      try { code = (await r.json()).error; } catch { /* not JSON */ }
      throw new Error(code);
    }
    const h = (name) => Number(r.headers.get(name));
    g.start_wall_us = h('X-Ansim-Wall-Start-Us');
    g.mediaStart = this.mediaAt(g.start_wall_us / 1000);
    g.duration_us = h('X-Ansim-Duration-Us') || g.duration_us;
    g.frames = h('X-Ansim-Video-Frames');
    const data = await r.arrayBuffer();
    if (this.closed) return;
    await this.source(r.headers.get('X-Ansim-Codecs'));
    const t = this.video.currentTime;
    if (t - KEEP_BEHIND_S > 0) await this.removeBefore(t - KEEP_BEHIND_S);
    this.sb.timestampOffset = g.mediaStart;
    await this.append(data);
    g.state = 'appended';
    g.appendedAt = Date.now();   // bench/playback.mjs: sealed -> playable
    if (this.seekTo && this.seekTo.idx === g.idx) {
      const s = this.seekTo;
      this.seekTo = null;
      if (s.live) this.toLiveEdge();
      else this.video.currentTime = g.mediaStart + s.into;
      this.video.play().catch(() => {});
    } else if (this.following && this.primary) {
      // Re-anchored at each new segment: far behind the newest frame
      // (a stall, a throttled tab), jump; never drift.
      const end = liveEnd();
      if (end - this.video.currentTime > this.duration(g) + LIVE_EXTRA_S + 1.5) this.toLiveEdge();
    }
  }

  // Called every 200 ms: crosses holes (gaps in the manifest) visibly.
  tick() {
    const v = this.video;
    if (this.closed || !this.sb || v.paused || this.busy || this.seekTo) return;
    const now = v.currentTime;
    const b = v.buffered;
    let next = null;
    for (let i = 0; i < b.length; i++) {
      if (now >= b.start(i) && now < b.end(i) - 0.05) return;
      if (b.start(i) > now && next == null) next = b.start(i);
    }
    if (next == null) return;
    // A hole whose segments are still on their way is waited for; only
    // gaps in the manifest and segments that could not be had are skipped.
    const from = this.wallAt(now) + 1;
    const to = this.wallAt(next);
    const coming = [...this.segs.values()].some((g) => {
      const s = this.wallStart(g);
      return s != null && s / 1000 < to && s / 1000 + this.duration(g) * 1000 > from &&
        g.kind === 'media' && g.received && g.state !== 'appended' && g.state !== 'failed';
    });
    if (coming) return this.pump();
    if (next - now > HOLE_BRIDGED_S) {
      this.gaps++;
      v.dataset.gapsSkipped = String(this.gaps);
      this.gapNote = t('play.gap-skipped', { from: clock(this.wallAt(now)), to: clock(this.wallAt(next)) });
    }
    v.currentTime = next + 0.01;
  }
}

// The newest instant every camera of the press has (one clock): following
// stays behind it so that no camera waits for its next segment.
function liveEnd() {
  const ends = players().map((p) => p.newestEnd()).filter((e) => e != null);
  return ends.length ? Math.min(...ends) : null;
}

function clock(ms) {
  return ms == null ? '' : new Date(ms).toLocaleTimeString(state.lang === 'ko' ? 'ko-KR' : 'en-GB');
}

function players() { return state.play.players || []; }
function mainPlayer() { return players()[0] || null; }

function closePlayers() {
  for (const p of players()) p.close();
  state.play = { id: null, players: [] };
  window.ansimPlayers = [];
  $('#player-cameras').textContent = '';
}

// The player(s) of an incident: its own camera first, then the other
// cameras of the same press, all on the first one's clock.
function openPlayers(inc, cameras) {
  closePlayers();
  state.play.id = inc.id;
  // One base for every camera of the press: their media times are one clock.
  const opened = Math.min(...[inc, ...(cameras || [])].map((c) => c.opened_wall_us).filter((w) => w));
  const base = opened / 1000 - BASE_MARGIN_MS;
  const main = new Player(inc.id, $('#incident-video'), true, base);
  state.play.players = [main];
  for (const cam of cameras || []) {
    if (cam.id === inc.id) continue;
    const video = document.createElement('video');
    video.muted = true;
    video.playsInline = true;
    video.dataset.incident = cam.id;
    const fig = document.createElement('figure');
    const cap = document.createElement('figcaption');
    cap.textContent = t('play.camera', { source: cam.source || ('#' + cam.id) });
    fig.append(video, cap);
    $('#player-cameras').appendChild(fig);
    state.play.players.push(new Player(cam.id, video, false, base));
  }
  $('#incident-video').dataset.incident = inc.id;
  $('#main-camera').textContent = t('play.camera', { source: inc.source || ('#' + inc.id) });
  window.ansimPlayers = state.play.players;
}

// The other cameras' segment lists (their own incidents).
async function loadCameraSegments() {
  for (const p of players().slice(1)) {
    const result = await api('GET', '/api/incidents/' + p.id);
    if (result.status === 200) p.setSegments(result.data.segments, !!result.data.incident.closed_wall_us);
  }
}

function segmentArrived(incidentId, index) {
  for (const p of players()) if (p.id === incidentId) p.arrived(index);
  drawTimeline();
}

// Every 200 ms: holes, the other cameras held to the main clock, the
// status line, the timeline's cursor.
function playTick() {
  const main = mainPlayer();
  if (!main || $('#page-incident').hidden) return;
  for (const p of players()) p.tick();
  const v = main.video;
  const wall = main.sb ? main.wallAt(v.currentTime) : null;
  syncCameras(false);
  // One clock: while another camera waits for its next segment the main
  // one waits too (at most HOLD_MAX_MS, so a camera that stopped cannot
  // stop the others).
  const lagging = wall != null && !v.paused && players().slice(1).some((p) => {
    const g = p.segmentAtWall(wall);
    return g && g.kind === 'media' && g.state !== 'failed' && p.wallStart(g) != null &&
      wall >= p.wallStart(g) / 1000 && !p.covers(v.currentTime + 0.3);
  });
  if (lagging && !state.play.holdSince) state.play.holdSince = Date.now();
  if (lagging) state.play.heldMs = (state.play.heldMs || 0) + 200;   // for tests: time held
  if (!lagging) state.play.holdSince = null;
  const hold = lagging && Date.now() - state.play.holdSince < HOLD_MAX_MS;
  if (hold && v.playbackRate !== 0) { state.play.rate = v.playbackRate; v.playbackRate = 0; }
  else if (!hold && v.playbackRate === 0) v.playbackRate = state.play.rate || 1;
  // Following: held at a segment and a little behind the newest frame
  // every camera has; fallen behind (a wait, a busy machine) it catches up
  // at 1.25× (1.5× beyond 1.5 s), or jumps when more than 4 s behind. No drift.
  if (main.following && main.sb && !hold && !v.paused && (state.play.userRate || 1) === 1) {
    const last = main.playable().pop();
    const behind = liveEnd() - v.currentTime - (last ? main.duration(last) : 1) - LIVE_EXTRA_S;
    // (A jump shows a keyframe's wait on every camera: only when far behind.)
    if (behind > 4) main.toLiveEdge();
    v.playbackRate = behind > 1.5 ? 1.5 : behind > 0.3 ? 1.25 : 1;
  }
  if (main.following && main.sb && v.playbackRate > 1 && liveEnd() - v.currentTime < 0.5)
    setRate(1);
  v.dataset.wallMs = wall == null ? '' : String(Math.round(wall));
  v.dataset.following = main.following ? 'true' : 'false';
  if (wall != null && main.following) v.dataset.lagMs = String(Math.round(Date.now() - wall));
  showPlayStatus(wall);
  drawCursor(wall);
  if (!v.paused) main.pump();
}

// The other cameras held to the main one's clock (jumped: at once, not
// by their rate): the same media time is the same instant on the desk.
function syncCameras(jumped) {
  const main = mainPlayer();
  if (!main) return;
  const v = main.video;
  const wall = main.sb ? main.wallAt(v.currentTime) : null;
  for (const p of players().slice(1)) {
    if (wall == null) break;
    const g = p.segmentAtWall(wall);
    if (!g) continue;
    if (g.state === 'appended') {
      // Small drifts are taken up by the rate (a seek would show a
      // keyframe's wait), large ones by a seek.
      const ahead = p.video.currentTime - v.currentTime;
      if (Math.abs(ahead) > (jumped ? 0.05 : 0.6)) p.video.currentTime = v.currentTime;
      p.video.playbackRate = v.playbackRate * (Math.abs(ahead) < 0.04 ? 1 : ahead > 0 ? 0.8 : 1.25);
      if (v.paused !== p.video.paused) { if (v.paused) p.video.pause(); else p.video.play().catch(() => {}); }
    } else if (p.want !== g.idx && !p.seekTo) {
      p.seekWall(wall, !v.paused);
    }
    p.want = g.idx;
    p.pump();
  }
}

function showPlayStatus(wall) {
  const main = mainPlayer();
  const status = $('#play-status');
  if (!main) return;
  const n = main.playable().length;
  let text;
  if (main.error) text = t('play.error');
  else if (wall == null) text = t('play.ready', { n });
  else if (main.following) text = t('play.following', { at: clock(wall), s: ((Date.now() - wall) / 1000).toFixed(1) });
  else text = t(main.video.paused ? 'play.paused' : 'play.playing', { at: clock(wall) });
  if (main.gapNote) text += ' ' + main.gapNote;
  if (status.textContent !== text) status.textContent = text;
}

function setRate(rate) {
  const main = mainPlayer();
  if (!main) return;
  main.video.playbackRate = rate;
  state.play.userRate = rate;
  for (const b of document.querySelectorAll('#player [data-rate]'))
    b.classList.toggle('current', Number(b.dataset.rate) === rate);
}

function stepFrame(dir) {
  const main = mainPlayer();
  if (!main || !main.sb) return;
  main.following = false;
  main.video.pause();
  const g = main.segs.get(main.currentIdx());
  const fps = g && g.frames ? g.frames / main.duration(g) : 30;
  main.video.currentTime = Math.max(0, main.video.currentTime + dir / fps);
}

// The timeline under the player, on the desk's clock: segments (received,
// on their way, gaps), the presses, acknowledgement and notes; a click seeks.
function timelineSpan() {
  const main = mainPlayer();
  if (!main) return null;
  const list = [...main.segs.values()];
  let from = null;
  let to = null;
  for (const g of list) {
    const s = main.wallStart(g);
    if (s == null) continue;
    from = from == null ? s : Math.min(from, s);
    to = to == null ? s + (g.duration_us || 2e6) : Math.max(to, s + (g.duration_us || 2e6));
  }
  return from == null ? null : { from: from / 1000, to: to / 1000 };
}

function drawTimeline() {
  const bar = $('#play-timeline');
  const main = mainPlayer();
  const span = timelineSpan();
  bar.textContent = '';
  if (!main || !span) return;
  const pct = (ms) => (100 * (ms - span.from) / Math.max(1, span.to - span.from)).toFixed(3) + '%';
  for (const g of [...main.segs.values()].sort((a, b) => a.idx - b.idx)) {
    const s = main.wallStart(g);
    if (s == null) continue;
    const el = document.createElement('div');
    el.className = 'tl-seg';
    el.dataset.idx = g.idx;
    el.dataset.state = g.kind !== 'media' ? 'gap' : g.received ? 'received' : 'pending';
    el.style.left = pct(s / 1000);
    el.style.width = pct(span.from + (g.duration_us || 2e6) / 1000);
    el.title = clock(s / 1000) + (g.kind !== 'media' ? ' · ' + t('play.gap') + (g.gap_reason ? ' (' + g.gap_reason + ')' : '') : '');
    bar.appendChild(el);
  }
  for (const e of state.play.marks || []) {
    const at = e.at_us / 1000;
    if (at < span.from - 1000 || at > span.to + 60000) continue;
    const el = document.createElement('div');
    el.className = 'tl-mark';
    el.dataset.what = e.what;
    el.style.left = pct(Math.min(Math.max(at, span.from), span.to));
    el.title = clock(at) + ' · ' + timelineText(e);
    bar.appendChild(el);
  }
  const cursor = document.createElement('div');
  cursor.className = 'tl-cursor';
  cursor.id = 'play-cursor';
  bar.appendChild(cursor);
  state.play.span = span;
}

function drawCursor(wall) {
  const cursor = $('#play-cursor');
  const span = state.play.span;
  if (!cursor || !span) return;
  cursor.hidden = wall == null;
  if (wall != null) cursor.style.left = (100 * (wall - span.from) / Math.max(1, span.to - span.from)).toFixed(3) + '%';
}

function onTimelineClick(event) {
  const span = state.play.span;
  const main = mainPlayer();
  if (!span || !main) return;
  const box = $('#play-timeline').getBoundingClientRect();
  const ms = span.from + (event.clientX - box.left) / box.width * (span.to - span.from);
  main.following = false;
  main.seekWall(ms);
}

// ---- devices ----

function formatBytes(n) {
  if (n == null) return '';
  return (n / 1e9).toFixed(1) + ' GB';
}

// Cameras and microphones as the desk's last heartbeat reported them.
function sourcesCell(d) {
  const td = document.createElement('td');
  td.className = 'sources';
  if (!d.heartbeat) return td;
  if (!Array.isArray(d.sources)) {
    const span = document.createElement('span');
    span.className = 'badge offline';
    span.dataset.state = 'recorder-unreachable';
    span.textContent = t('source.unreachable');
    if (d.recorder_error) span.title = d.recorder_error;
    td.appendChild(span);
    return td;
  }
  for (const s of d.sources) {
    const div = document.createElement('div');
    div.dataset.source = s.name;
    div.dataset.state = s.state;
    div.dataset.mode = s.mode;
    const badge = document.createElement('span');
    badge.className = 'badge ' + (s.state === 'live' ? 'online' : s.state === 'lost' ? 'offline' : '');
    badge.textContent = t('source.' + s.state);
    div.append(s.name + ' (' + t('source.kind.' + s.kind) + ') ', badge,
      ' ' + t('source.mode.' + s.mode) + ' · ' + t('source.since', { t: formatTime(s.since_us) }));
    if (s.gaps > 0) div.append(' · ' + t('source.gaps', { n: s.gaps }));
    if (s.last_error) {
      const err = document.createElement('small');
      err.className = 'source-error';
      err.textContent = ' ' + t('source.error', { e: s.last_error });
      div.appendChild(err);
    }
    td.appendChild(div);
  }
  return td;
}

async function loadDevices() {
  const result = await api('GET', '/api/devices');
  if (result.status === 401) { showLogin(); return; }
  if (result.status !== 200) { showError(result); return; }
  $('#devices-note').textContent = t('devices.note', { s: result.data.offline_after_s });
  const body = $('#devices-table tbody');
  body.textContent = '';
  for (const d of result.data.devices) {
    const row = document.createElement('tr');
    row.dataset.device = d.id;
    cell(row, d.desk_name);
    cell(row, d.id);
    const stateCell = document.createElement('td');
    const badge = document.createElement('span');
    const status = d.revoked_at_us ? 'revoked' : d.online ? 'online' : 'offline';
    badge.className = 'badge ' + status;
    badge.dataset.status = status;
    badge.textContent = t('device.' + status);
    stateCell.appendChild(badge);
    row.appendChild(stateCell);
    cell(row, d.last_seen_at_us ? formatTime(d.last_seen_at_us) : t('devices.never'));
    row.appendChild(sourcesCell(d));
    cell(row, formatBytes(d.disk_free_bytes));
    cell(row, d.queue_length ?? '');
    cell(row, d.clock_offset_us == null ? '' : (d.clock_offset_us / 1e6).toFixed(1) + ' s');
    cell(row, d.last_upload_at_us ? formatTime(d.last_upload_at_us) : '');
    body.appendChild(row);
  }
}

// ---- drills ----

function drillBadge() {
  const b = document.createElement('span');
  b.className = 'badge drill';
  b.textContent = t('banner.drill');
  return b;
}

function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

function fromLocalInput(value) {
  return new Date(value).getTime() * 1000;
}

function badge(status, key) {
  const b = document.createElement('span');
  b.className = 'badge ' + status;
  b.dataset.status = status;
  b.textContent = t(key);
  return b;
}

function button(text, onClick, cls) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  if (cls) b.className = cls;
  b.addEventListener('click', onClick);
  return b;
}

function refreshDrills() {
  if (state.session && !$('#page-drills').hidden) loadDrills();
  if (state.session && !$('#page-reports').hidden) loadReport();
}

async function loadDrills() {
  const result = await api('GET', '/api/drills');
  if (result.status === 401) { showLogin(); return; }
  if (result.status !== 200) { showError(result); return; }
  const canRun = mayDo('run-drills');
  const form = $('#arm-form');
  form.hidden = !canRun;
  $('#schedule-form').hidden = !canRun;
  const choices = $('#arm-desks');
  const checked = new Set([...choices.querySelectorAll('input:checked')].map((i) => i.value));
  for (const el of [...choices.querySelectorAll('label')]) el.remove();
  const deskSelect = $('#schedule-form').elements.desk;
  for (const o of [...deskSelect.options].slice(1)) o.remove();
  for (const d of result.data.desks) {
    const label = document.createElement('label');
    label.className = 'inline';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.name = 'desk';
    box.value = d.id;
    box.checked = checked.has(d.id);
    label.append(box, ' ' + d.name + (d.name !== d.id ? ' (' + d.id + ')' : ''));
    choices.appendChild(label);
    const o = document.createElement('option');
    o.value = d.id;
    o.textContent = d.name;
    deskSelect.appendChild(o);
  }
  if (!form.elements.start.value) {
    const now = Date.now();
    form.elements.start.value = toLocalInput(now);
    form.elements.end.value = toLocalInput(now + 3600 * 1000);
  }
  const body = $('#drills-table tbody');
  body.textContent = '';
  for (const drill of result.data.drills) {
    drill.desks.forEach((d, i) => {
      const row = document.createElement('tr');
      row.dataset.drill = drill.id;
      row.dataset.desk = d.desk_id;
      cell(row, i === 0 ? '#' + drill.id + (drill.note ? ' · ' + drill.note : '') : '');
      cell(row, i === 0 ? formatTime(drill.window_start_us) + ' – ' + formatTime(drill.window_end_us) : '');
      const st = document.createElement('td');
      if (i === 0) st.appendChild(badge(drill.state, 'drill.state.' + drill.state));
      row.appendChild(st);
      cell(row, d.desk_name);
      const press = document.createElement('td');
      if (d.incident_id) {
        const a = document.createElement('a');
        a.href = '#/incidents/' + d.incident_id;
        a.textContent = '#' + d.incident_id + ' · ' + formatTime(d.pressed_at_us);
        press.appendChild(a);
      } else {
        press.textContent = t('drills.waiting');
      }
      row.appendChild(press);
      cell(row, d.acknowledged_by ? t('incident.acknowledged-by', { who: d.acknowledged_by }) : '');
      const arrival = document.createElement('td');
      arrival.className = 'arrival';
      if (d.arrived_at_us) arrival.textContent = formatTime(d.arrived_at_us) + ' · ' + d.arrived_by;
      else if (canRun && d.incident_id && drill.state !== 'ended')
        arrival.appendChild(button(t('drills.arrived'), () => drillAction(drill.id, 'arrival', { desk: d.desk_id }), 'arrive'));
      row.appendChild(arrival);
      const actions = document.createElement('td');
      if (i === 0 && canRun && drill.state !== 'ended')
        actions.appendChild(button(t('drills.end'), () => drillAction(drill.id, 'end'), 'secondary end'));
      if (i === 0) {
        const rep = document.createElement('a');
        rep.className = 'button secondary';
        rep.href = '#/reports';
        rep.textContent = t('drills.report');
        actions.appendChild(rep);
      }
      row.appendChild(actions);
      body.appendChild(row);
    });
  }
  $('#drills-empty').hidden = result.data.drills.length > 0;
  loadSchedule();
}

async function onArm(event) {
  event.preventDefault();
  const form = event.target;
  const desks = [...form.querySelectorAll('input[name=desk]:checked')].map((i) => i.value);
  const body = { desks, start_us: fromLocalInput(form.elements.start.value),
    end_us: fromLocalInput(form.elements.end.value) };
  if (form.elements.note.value.trim()) body.note = form.elements.note.value.trim();
  const result = await api('POST', '/api/drills', body);
  const error = $('#arm-error');
  if (result.status !== 201) {
    error.textContent = errorText(result) + (result.data && result.data.message ? ' — ' + result.data.message : '');
    error.hidden = false;
    return;
  }
  error.hidden = true;
  form.elements.note.value = '';
  for (const box of form.querySelectorAll('input[name=desk]')) box.checked = false;
  loadDrills();
}

async function drillAction(id, what, body) {
  const result = await api('POST', '/api/drills/' + id + '/' + what, body);
  if (result.status !== 200) { showError(result); return; }
  loadDrills();
}

async function loadSchedule() {
  const result = await api('GET', '/api/drills/schedule');
  if (result.status !== 200) { showError(result); return; }
  const canRun = mayDo('run-drills');
  const body = $('#schedule-table tbody');
  body.textContent = '';
  for (const s of result.data.schedules) {
    const row = document.createElement('tr');
    row.dataset.schedule = s.id;
    row.dataset.status = s.status;
    cell(row, s.desk_id ? s.desk_name : t('schedule.site') + ' · ' + result.data.site);
    cell(row, t('schedule.every', { n: s.every_days }));
    cell(row, s.last_drill_at_us ? formatTime(s.last_drill_at_us) : t('schedule.never'));
    cell(row, formatTime(s.due_at_us));
    const st = document.createElement('td');
    st.appendChild(badge(s.status, 'schedule.status.' + s.status));
    row.appendChild(st);
    const act = document.createElement('td');
    if (canRun)
      act.appendChild(button(t('schedule.remove'), async () => {
        const r = await api('POST', '/api/drills/schedule/' + s.id + '/remove');
        if (r.status !== 200) showError(r); else loadSchedule();
      }, 'secondary'));
    row.appendChild(act);
    body.appendChild(row);
  }
}

async function onSchedule(event) {
  event.preventDefault();
  const form = event.target;
  const result = await api('POST', '/api/drills/schedule',
    { desk: form.elements.desk.value || null, every_days: Number(form.elements.every.value) });
  if (result.status !== 200) { showError(result); return; }
  loadSchedule();
}

// ---- reports: tables and charts (inline SVG, drawn here) ----

const SERIES = {
  drill: ['press_to_shown_us', 'press_to_ack_us', 'press_to_arrival_us'],
  real: ['press_to_shown_us', 'press_to_ack_us'],
};

function seconds(us) {
  return us == null ? '' : (us / 1e6).toFixed(1) + ' s';
}

function reportQuery() {
  const form = $('#report-filters');
  const q = new URLSearchParams({ kind: form.elements.kind.value });
  const since = dayToUs(form.elements.from.value, false);
  const until = dayToUs(form.elements.to.value, true);
  if (since) q.set('since_us', since);
  if (until) q.set('until_us', until);
  return q.toString();
}

async function loadReport() {
  const query = reportQuery();
  $('#report-csv').href = '/api/reports/export?' + query;
  const result = await api('GET', '/api/reports?' + query);
  if (result.status === 401) { showLogin(); return; }
  if (result.status !== 200) { showError(result); return; }
  const data = result.data;
  state.report = data;
  $('#report-note').textContent = t('reports.note.' + data.kind, { site: data.site });
  drawChart($('#chart-site'), data.trends.site, SERIES[data.kind], 'site');
  drawChart($('#chart-month'), data.trends.month, SERIES[data.kind], 'month');
  drawChart($('#chart-desk'), data.trends.desk, SERIES[data.kind], 'desk');
  const body = $('#report-table tbody');
  body.textContent = '';
  for (const r of data.rows) {
    const row = document.createElement('tr');
    row.dataset.incident = r.incident_id ?? '';
    cell(row, r.drill_id ? '#' + r.drill_id : '');
    cell(row, r.desk_name);
    const press = document.createElement('td');
    if (r.incident_id) {
      const a = document.createElement('a');
      a.href = '#/incidents/' + r.incident_id;
      a.textContent = formatTime(r.pressed_at_us);
      press.appendChild(a);
    } else {
      press.textContent = t('drills.no-press');
    }
    row.appendChild(press);
    cell(row, seconds(r.press_to_alert_us));
    cell(row, seconds(r.press_to_shown_us) + (r.shown_by ? ' · ' + r.shown_by : ''));
    cell(row, seconds(r.press_to_ack_us) + (r.acknowledged_by ? ' · ' + r.acknowledged_by : ''));
    cell(row, seconds(r.press_to_arrival_us) + (r.arrived_by ? ' · ' + r.arrived_by : ''));
    cell(row, seconds(r.press_to_resolved_us) + (r.resolved_by ? ' · ' + r.resolved_by : ''));
    body.appendChild(row);
  }
}

// A grouped bar chart of the median figures per group. Each bar carries
// its value (data-value, µs) so what is drawn can be checked against the
// API: height = value / scale * plot height.
function drawChart(box, groups, series, what) {
  const NS = 'http://www.w3.org/2000/svg';
  const el = (name, attrs, text) => {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  box.textContent = '';
  if (!groups.length) {
    const p = document.createElement('p');
    p.className = 'status';
    p.textContent = t('reports.no-data');
    box.appendChild(p);
    return;
  }
  const left = 56, top = 16, bottom = 48, plotH = 200;
  const barW = 22, gap = 26;
  const groupW = series.length * barW + gap;
  const width = Math.max(left + series.length * 170 + 16, left + groups.length * groupW + 16);
  const height = top + plotH + bottom + 24;
  let max = 0;
  for (const g of groups)
    for (const s of series) max = Math.max(max, g['median_' + s] ?? 0);
  // A round scale: 1, 2 or 5 times a power of ten seconds.
  const maxS = Math.max(max / 1e6, 1);
  const pow = Math.pow(10, Math.floor(Math.log10(maxS)));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((v) => v * 5 >= maxS) ?? 10 * pow;
  const scale = step * 5 * 1e6;  // µs at the top of the plot
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img',
    'data-chart': what, 'data-scale-us': scale, 'data-plot-height': plotH,
    'aria-label': t('reports.by-' + what) });
  for (let i = 0; i <= 5; i++) {
    const y = top + plotH - (plotH * i) / 5;
    svg.appendChild(el('line', { x1: left, x2: width - 8, y1: y, y2: y, class: i ? 'grid' : 'axis' }));
    svg.appendChild(el('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' }, (step * i).toString() + ' s'));
  }
  groups.forEach((g, gi) => {
    const x0 = left + 8 + gi * groupW;
    series.forEach((s, si) => {
      const v = g['median_' + s];
      if (v == null) return;
      const h = Math.max(0, (Math.max(v, 0) / scale) * plotH);
      const bar = el('rect', { x: x0 + si * barW, y: top + plotH - h, width: barW - 4, height: h,
        class: 'bar s' + si, 'data-group': g.key, 'data-series': s, 'data-value': v });
      bar.appendChild(el('title', {}, g.label + ' · ' + t('reports.series.' + s) + ': ' + seconds(v)));
      svg.appendChild(bar);
      svg.appendChild(el('text', { x: x0 + si * barW + (barW - 4) / 2, y: top + plotH - h - 3,
        'text-anchor': 'middle', class: 'value' }, (v / 1e6).toFixed(1)));
    });
    svg.appendChild(el('text', { x: x0 + (series.length * barW) / 2, y: top + plotH + 16,
      'text-anchor': 'middle' }, g.label + ' (' + g.pressed + ')'));
  });
  // legend
  series.forEach((s, si) => {
    const x = left + si * 170;
    svg.appendChild(el('rect', { x, y: height - 18, width: 12, height: 12, class: 's' + si }));
    svg.appendChild(el('text', { x: x + 16, y: height - 8 }, t('reports.series.' + s)));
  });
  box.appendChild(svg);
}

function closeStream() {
  if (state.stream) state.stream.close();
  state.stream = null;
  clearTimeout(state.lostTimer);
  state.lostTimer = null;
  state.streamDownSince = null;
}

// ---- start ----

async function start() {
  const saved = localStorage.getItem('ansim.lang');
  await loadLanguage(LANGS.includes(saved) ? saved : 'ko');
  $('#login-form').addEventListener('submit', onLogin);
  $('#logout').addEventListener('click', onLogout);
  $('#lang-switch').addEventListener('click', () => loadLanguage(state.lang === 'ko' ? 'en' : 'ko'));
  $('#audit-more').addEventListener('click', () => loadAudit(false));
  $('#purpose-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.viewPurpose = $('#purpose-form input[name="purpose"]').value.trim();
    if (state.viewPurpose && state.incidentId) loadIncident(state.incidentId);
  });
  $('#audit-filters').addEventListener('submit', (ev) => { ev.preventDefault(); loadAudit(true); });
  $('#audit-filters').addEventListener('reset', () => setTimeout(() => loadAudit(true), 0));
  $('#audit-verify').addEventListener('click', onVerify);
  $('#banner-ack').addEventListener('click', () => acknowledge(Number($('#alert-banner').dataset.incident)));
  $('#banner-close').addEventListener('click', () => { $('#alert-banner').hidden = true; });
  $('#device-banner-ack').addEventListener('click', () => acknowledgeDevice(state.deviceBannerId));
  $('#device-banner-close').addEventListener('click', () => { $('#device-banner').hidden = true; });
  $('#escalation-close').addEventListener('click', () => { $('#escalation-banner').hidden = true; });
  $('#session-renew').addEventListener('click', renewSession);
  $('#alarm-lost-login').addEventListener('click', () => { hideAlarmLost(); showLogin(); });
  $('#incident-ack').addEventListener('click', () => acknowledge(Number(state.incidentId)));
  $('#resolve-form').addEventListener('submit', onResolve);
  $('#incident-not-drill').addEventListener('click', async () => {
    if (!confirm(t('incident.not-a-drill-confirm'))) return;
    const result = await api('POST', '/api/incidents/' + state.incidentId + '/not-a-drill');
    if (result.status !== 200) { showError(result); return; }
    upsertIncident(result.data.incident);
    loadIncident(state.incidentId);
  });
  $('#export-form').addEventListener('submit', onExport);
  $('#export-preset').addEventListener('change', onExportPreset);
  $('#play-start').addEventListener('click', () => {
    $('#incident-video').muted = false;   // a person's click: sound where it was recorded
    mainPlayer()?.fromStart();
  });
  $('#play-live').addEventListener('click', () => { $('#incident-video').muted = false; mainPlayer()?.live(); });
  for (const b of document.querySelectorAll('#player [data-rate]'))
    b.addEventListener('click', () => setRate(Number(b.dataset.rate)));
  $('#play-step-back').addEventListener('click', () => stepFrame(-1));
  $('#play-step').addEventListener('click', () => stepFrame(1));
  $('#play-timeline').addEventListener('click', onTimelineClick);
  setInterval(playTick, 200);
  $('#note-form').addEventListener('submit', onNote);
  $('#hold-form').addEventListener('submit', onHold);
  $('#hold-approve').addEventListener('click', () => onHoldDecision('approve'));
  $('#hold-reject').addEventListener('click', () => onHoldDecision('reject'));
  $('#hold-withdraw').addEventListener('click', () => onHoldDecision('withdraw'));
  $('#retention-form').addEventListener('submit', onRetentionSave);
  $('#incident-filters').addEventListener('submit', (e) => { e.preventDefault(); loadIncidents(); });
  $('#arm-form').addEventListener('submit', onArm);
  $('#schedule-form').addEventListener('submit', onSchedule);
  $('#report-filters').addEventListener('submit', (e) => { e.preventDefault(); loadReport(); });
  $('#report-filters').elements.kind.addEventListener('change', loadReport);
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
