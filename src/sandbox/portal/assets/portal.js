// obevents portal: copy buttons, relative times and live updates. Served from the sandbox
// itself (the Content-Security-Policy allows no inline or foreign script).
(function () {
  'use strict';

  function select(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try { document.execCommand('copy'); } catch (e) { /* the text stays selected */ }
  }

  function copied(button) {
    var old = button.textContent;
    button.textContent = 'Copied';
    setTimeout(function () { button.textContent = old; }, 1500);
  }

  document.addEventListener('click', function (ev) {
    var button = ev.target.closest ? ev.target.closest('button.copy') : null;
    if (!button) { return; }
    var el = document.getElementById(button.getAttribute('data-copy'));
    if (!el) { return; }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(el.textContent).then(
        function () { copied(button); },
        function () { select(el); copied(button); });
    } else {
      select(el);
      copied(button);
    }
  });

  function relative(iso) {
    var ms = Date.now() - Date.parse(iso);
    if (isNaN(ms)) { return ''; }
    var future = ms < 0;
    var s = Math.floor(Math.abs(ms) / 1000);
    if (s < 1) { return 'just now'; }
    var amount = s < 60 ? s + ' s' : s < 3600 ? Math.floor(s / 60) + ' min'
      : s < 86400 ? Math.floor(s / 3600) + ' h' : Math.floor(s / 86400) + ' d';
    return future ? 'in ' + amount : amount + ' ago';
  }

  function refreshTimes() {
    var spans = document.querySelectorAll('.rel[data-at]');
    for (var i = 0; i < spans.length; i++) {
      spans[i].textContent = relative(spans[i].getAttribute('data-at'));
    }
  }
  setInterval(refreshTimes, 5000);

  var status = document.getElementById('live-status');
  if (!status || !document.getElementById('live') || !window.EventSource) { return; }
  var busy = false;
  var again = false;

  function swap() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.pathname + location.search, { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, 'text/html').getElementById('live');
        var current = document.getElementById('live');
        if (!fresh || !current) { return; }
        var open = [];
        var details = current.querySelectorAll('details[open]');
        for (var i = 0; i < details.length; i++) { open.push(details[i].id); }
        current.replaceWith(document.adoptNode(fresh));
        open.forEach(function (id) {
          var d = id && document.getElementById(id);
          if (d) { d.open = true; }
        });
        status.textContent = 'live · updated ' + new Date().toISOString().slice(11, 19) + 'Z';
        document.body.setAttribute('data-live-updates',
          String(Number(document.body.getAttribute('data-live-updates') || '0') + 1));
      })
      .catch(function () { status.textContent = 'live · update failed, reload the page'; })
      .then(function () {
        busy = false;
        if (again) { again = false; swap(); }
      });
  }

  var source = new EventSource(status.getAttribute('data-live'));
  source.addEventListener('hello', function () {
    status.textContent = 'live';
    status.classList.add('on');
    document.body.setAttribute('data-live', 'on');
  });
  source.addEventListener('change', swap);
  source.onerror = function () {
    status.textContent = 'live updates reconnecting…';
    status.classList.remove('on');
  };
})();
