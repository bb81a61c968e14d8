// The demo single-page app: no inline script, no eval, only same-origin requests
// (the page's Content-Security-Policy allows nothing else).
'use strict';

const $ = (id) => document.getElementById(id);
let csrfToken = null;

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : 'unknown';
}

async function loadSession() {
  const r = await fetch('/oidc/session', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (r.status === 401) {
    // no session (any more): a navigation to a protected page logs in again
    window.location.assign('/spa/');
    return;
  }
  const s = await r.json();
  csrfToken = s.csrf_token;
  $('user').textContent = s.sub;
  $('name').textContent = (s.claims && s.claims.name) || '';
  $('expires').textContent = when(Math.min(s.expires, s.idle_expires));
  $('token-expires').textContent = when(s.access_token_expires);
  for (const b of ['post', 'post-forged', 'call-api']) $(b).disabled = false;
  document.body.dataset.ready = 'yes';
}

async function show(target, response) {
  const text = await response.text();
  $(target).textContent = `${response.status} ${text}`;
  $(target).dataset.status = String(response.status);
}

async function post(withToken) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (withToken) headers['X-CSRF-Token'] = csrfToken;
  const r = await fetch('/spa/api/notes', {
    method: 'POST', credentials: 'same-origin', headers, body: JSON.stringify({ text: 'hello from the SPA' }),
  });
  await show('post-result', r);
}

async function callApi() {
  const r = await fetch('/spa/api/orders', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  await show('api-result', r);
}

document.addEventListener('DOMContentLoaded', () => {
  $('post').addEventListener('click', () => post(true));
  $('post-forged').addEventListener('click', () => post(false));
  $('call-api').addEventListener('click', callApi);
  loadSession().catch((e) => { $('user').textContent = `error: ${e}`; });
});
