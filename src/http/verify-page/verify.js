// The page's behaviour: language choice, file choice or drop, POST /v1/verify, result.
// Loaded as a module from the same origin (the CSP allows no inline script).

import { LANGS, TEXT } from './i18n.js';
import { renderError, renderReport } from './render.js';

const STORAGE_KEY = 'hocba.verify.lang';
const PROBLEM_PREFIX = 'urn:hocba:problem:';

const $ = (id) => document.getElementById(id);

/** ?lang= wins (and is remembered), then the remembered choice, then Vietnamese. */
function initialLanguage() {
  const fromUrl = new URLSearchParams(location.search).get('lang');
  if (LANGS.includes(fromUrl)) {
    remember(fromUrl);
    return fromUrl;
  }
  let stored = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    // storage disabled (private mode, policy): the default still works
  }
  return LANGS.includes(stored) ? stored : 'vi';
}

function remember(lang) {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // not remembered; the switch still works for this visit
  }
}

/** `status` is what the live region says ("checking" + file name, "done", or nothing), kept so a language switch can say it again. */
const state = { lang: 'vi', last: null, busy: false, status: null };

function sayStatus(status) {
  state.status = status;
  const t = TEXT[state.lang];
  $('status').textContent = !status ? '' : status.kind === 'checking' ? t.checking(status.name) : t.done;
}

function applyLanguage() {
  const t = TEXT[state.lang];
  document.documentElement.lang = state.lang;
  document.title = t.title;
  for (const node of document.querySelectorAll('[data-i18n]')) {
    const v = t[node.dataset.i18n];
    if (typeof v === 'string') node.textContent = v;
  }
  const sw = $('lang-switch');
  sw.lang = t.switchLang;
  sw.setAttribute('aria-label', t.switchLabel);
  sayStatus(state.status);
  if (state.last) show(state.last, false);
}

function nodes() {
  return {
    verdict: $('verdict'),
    title: $('verdict-title'),
    lead: $('verdict-lead'),
    file: $('verdict-file'),
    messages: $('verdict-messages'),
    signaturesTitle: $('signatures-title'),
    signatures: $('signatures'),
    stamps: $('doc-timestamps'),
  };
}

function show(result, focus) {
  if (result.report) renderReport(result.report, result.file, state.lang, nodes());
  else renderError(result.error, result.file, state.lang, nodes());
  $('result').hidden = false;
  if (focus) $('verdict').focus();
}

async function readProblem(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON (a proxy's HTML error page): the status alone decides the words
  }
  const type = typeof body?.type === 'string' ? body.type : '';
  let slug = type.startsWith(PROBLEM_PREFIX) ? type.slice(PROBLEM_PREFIX.length) : '';
  if (!slug && res.status === 413) slug = 'body-too-large';
  if (!slug && res.status === 429) slug = 'too-many-requests';
  return { slug, status: res.status, detail: typeof body?.detail === 'string' ? body.detail : null };
}

async function check(file) {
  if (!file || state.busy) return;
  const meta = { name: file.name, size: file.size };
  state.busy = true;
  $('upload').setAttribute('aria-busy', 'true');
  $('result').hidden = true;
  sayStatus({ kind: 'checking', name: file.name });
  let result;
  try {
    if (file.size === 0) {
      result = { error: { slug: 'empty', status: 0, detail: null }, file: meta };
    } else {
      const res = await fetch('/v1/verify', {
        method: 'POST',
        headers: { 'content-type': 'application/pdf', accept: 'application/json, application/problem+json' },
        body: file,
      });
      result = res.ok ? { report: await res.json(), file: meta } : { error: await readProblem(res), file: meta };
    }
  } catch {
    result = { error: { slug: 'network', status: 0, detail: null }, file: meta };
  } finally {
    state.busy = false;
    $('upload').removeAttribute('aria-busy');
    // The same file can be chosen again (a change event needs a new value).
    $('file').value = '';
  }
  state.last = result;
  sayStatus({ kind: 'done' });
  show(result, true);
}

function wireDropZone() {
  const drop = $('drop');
  const stop = (e) => {
    e.preventDefault();
    e.stopPropagation();
  };
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (e) => {
      stop(e);
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
      drop.classList.add('dragging');
    });
  }
  for (const type of ['dragleave', 'dragend']) drop.addEventListener(type, () => drop.classList.remove('dragging'));
  drop.addEventListener('drop', (e) => {
    stop(e);
    drop.classList.remove('dragging');
    check(e.dataTransfer?.files?.[0]);
  });
  // A file dropped beside the box must not make the browser navigate away to show the PDF.
  for (const type of ['dragover', 'drop']) window.addEventListener(type, (e) => e.preventDefault());
}

function start() {
  state.lang = initialLanguage();
  applyLanguage();
  $('file').addEventListener('change', (e) => check(e.target.files?.[0]));
  $('upload').addEventListener('submit', (e) => e.preventDefault());
  wireDropZone();
  $('lang-switch').addEventListener('click', () => {
    state.lang = state.lang === 'vi' ? 'en' : 'vi';
    remember(state.lang);
    const url = new URL(location.href);
    url.searchParams.set('lang', state.lang);
    history.replaceState(null, '', url);
    applyLanguage();
  });
  $('again').addEventListener('click', () => {
    state.last = null;
    $('result').hidden = true;
    sayStatus(null);
    $('file').focus();
  });
  document.body.dataset.ready = 'true';
}

start();
