// Small behaviours shared by console pages: submit-on-change selects, copy buttons, confirmations.
(function () {
  'use strict';
  var d = document;

  d.querySelectorAll('select[data-autosubmit]').forEach(function (select) {
    select.addEventListener('change', function () { select.form.requestSubmit(); });
  });

  d.querySelectorAll('[data-copy]').forEach(function (button) {
    button.addEventListener('click', function () {
      var source = d.getElementById(button.dataset.copy);
      var text = source.value !== undefined ? source.value : source.textContent;
      var done = function () {
        var label = button.textContent;
        button.textContent = button.dataset.copied || 'Copied';
        setTimeout(function () { button.textContent = label; }, 1600);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { select(source); });
      } else {
        select(source);
        done();
      }
    });
  });

  // Plain HTTP (a LAN demo) has no clipboard API: select the text so Ctrl+C copies it.
  function select(source) {
    if (source.select) { source.focus(); source.select(); d.execCommand && d.execCommand('copy'); return; }
    var range = d.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  d.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (e) {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  });
}());
