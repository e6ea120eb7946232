// k3sync dashboard: live updates and relative times. Every page works
// without this script; with it, the live region follows the daemon.
//
// The page's <main id="live"> names a fragment URL, an event stream URL
// and the version it shows. The stream (Server-Sent Events) sends the
// current version at once and again whenever the data behind the page
// changes; a new version fetches the fragment and swaps it in. A stream
// the server refuses (too many tabs) is tried again later (data-retry).
(() => {
  'use strict';

  // Relative times, in the words the server uses (format.go).
  const span = (ms) => {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + 's';
    const m = Math.floor(s / 60);
    if (m < 60) return m + 'm';
    const h = Math.floor(m / 60);
    if (h < 24) return m % 60 ? h + 'h ' + (m % 60) + 'm' : h + 'h';
    const d = Math.floor(h / 24);
    return h % 24 ? d + 'd ' + (h % 24) + 'h' : d + 'd';
  };
  const refreshTimes = (root) => {
    const now = Date.now();
    root.querySelectorAll('time[data-ago]').forEach((el) => {
      const ms = now - Date.parse(el.dateTime);
      el.textContent = ms < 5000 ? 'just now' : span(ms) + ' ago';
    });
    root.querySelectorAll('time[data-span]').forEach((el) => {
      el.textContent = span(now - Date.parse(el.dateTime));
    });
  };
  setInterval(() => refreshTimes(document), 10000);

  // Filters apply as soon as a select changes.
  document.querySelectorAll('form[data-autosubmit] select').forEach((sel) => {
    sel.addEventListener('change', () => sel.form.requestSubmit());
  });

  const live = document.getElementById('live');
  if (!live || !live.dataset.events || !window.EventSource) return;
  const status = document.getElementById('live-status');
  const setStatus = (s) => { if (status) status.dataset.status = s; };
  // A refused stream (429: too many tabs) is tried again after the
  // server's retry delay, doubled on each further refusal up to 5
  // minutes, back to the start once a stream opens.
  const firstDelay = Math.min(300, Math.max(1, Number(live.dataset.retry) || 30)) * 1000;
  let delay = firstDelay;
  let timer = 0;
  let over = false; // signed out: no more streams
  const toLogin = () => {
    over = true;
    clearTimeout(timer);
    location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
  };

  let busy = false;
  let again = false;
  const refresh = async () => {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const resp = await fetch(live.dataset.fragment, {
        credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'text/html' },
      });
      if (resp.status === 401) { toLogin(); return; }
      if (!resp.ok) return;
      const html = await resp.text();
      // Keep what the reader opened.
      const open = Array.from(live.querySelectorAll('details[id][open]'), (d) => d.id);
      live.innerHTML = html;
      open.forEach((id) => { const d = document.getElementById(id); if (d) d.open = true; });
      live.dataset.version = resp.headers.get('X-Dashboard-Version') || '';
      refreshTimes(live);
    } catch (e) {
      setStatus('off');
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  };

  const connect = () => {
    timer = 0;
    const es = new EventSource(live.dataset.events);
    es.addEventListener('open', () => { delay = firstDelay; setStatus('on'); });
    es.addEventListener('version', (ev) => {
      setStatus('on');
      const v = JSON.parse(ev.data).version;
      if (v !== live.dataset.version) refresh();
    });
    es.addEventListener('logout', () => { es.close(); toLogin(); });
    es.addEventListener('error', () => {
      setStatus('off');
      // A closed stream does not come back by itself: the server refused
      // it (401: the refresh goes to the login form; 429: too many tabs).
      // Refresh once and try again later, one try pending at a time.
      if (es.readyState !== EventSource.CLOSED || over || timer) return;
      refresh();
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 300000);
    });
  };
  connect();
})();
