// The console's own script, served by the service (no inline script: the CSP forbids it).
// It shows every <time datetime> in the operator's time zone and language, names the zone
// in the header, and reloads a job's page once its live status (swapped in by htmx) leaves
// the state the page was rendered in, so that the actions shown are the ones that apply.
(function () {
  'use strict';
  function formatTimes() {
    var format = new Intl.DateTimeFormat(document.documentElement.lang || 'en', { dateStyle: 'medium', timeStyle: 'medium' });
    var nodes = document.querySelectorAll('time[datetime]:not([data-local])');
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var when = new Date(node.getAttribute('datetime'));
      if (isNaN(when.getTime())) continue;
      node.title = node.getAttribute('datetime');
      node.textContent = format.format(when);
      node.setAttribute('data-local', '');
    }
  }
  function followState() {
    var main = document.querySelector('main[data-job-state]');
    var status = main && main.querySelector(':scope > .status[data-state]');
    if (status && status.getAttribute('data-state') !== main.getAttribute('data-job-state')) location.reload();
  }
  document.addEventListener('DOMContentLoaded', function () {
    var zone = document.querySelector('[data-zone]');
    if (zone) zone.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone;
    formatTimes();
    new MutationObserver(function () {
      formatTimes();
      followState();
    }).observe(document.body, { childList: true, subtree: true });
  });
})();
