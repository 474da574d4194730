/* chatserver loader, served as /widget.js; see docs/widget.md */
(function () {
  'use strict';
  var w = window, d = document, stub = w.chatserver;
  // the snippet was pasted twice
  if (stub && stub._ctx) return;
  var me = d.currentScript || d.querySelector('script[data-site][src*="widget.js"]');
  var data = me && me.dataset, key = data && data.site;
  if (!key) return console.warn('chatserver: the script tag needs data-site');
  var ui = {};
  try { ui = JSON.parse(localStorage.getItem('chatserver:' + key)).ui || {}; } catch (e) { /* none yet */ }
  // keeps a path prefix
  var base = me.src.replace(/\/widget\.js([?#].*)?$/, '');
  var queue = (stub && stub.q) || [], listeners = {}, panel, loading;

  // chatserver('open') or chatserver.open(); calls wait in the queue until the panel is ready.
  function api(name) {
    var args = [].slice.call(arguments, 1);
    if (name === 'on') return on(args[0], args[1]);
    if (panel) return panel(name, args);
    queue.push([name].concat(args));
    if (name === 'open' || name === 'toggle') load();
  }
  'open close toggle showLauncher hideLauncher identify locale prefill on'.split(' ').forEach(function (n) {
    api[n] = function () { return api.apply(null, [n].concat([].slice.call(arguments))); };
  });
  function on(event, fn) {
    var list = listeners[event] = listeners[event] || [];
    list.push(fn);
    return function () { if (list.indexOf(fn) >= 0) list.splice(list.indexOf(fn), 1); };
  }
  // Listeners given to the stub must be in place before 'ready' fires.
  queue = [].filter.call(queue, function (call) { return call[0] !== 'on' || !on(call[1], call[2]); });

  var host = d.createElement('chatserver-widget'), root = host.attachShadow({ mode: 'open' });
  var side = (data.position || ui.position) === 'left' ? 'left' : 'right';
  var style = d.createElement('style'), button = d.createElement('button');
  style.textContent = ':host{all:initial!important;position:fixed!important;z-index:2147483000!important;' +
    'bottom:0!important;' + side + ':0!important;display:block!important;width:0!important;height:0!important}' +
    '.cs-launcher{position:fixed;bottom:20px;' + side + ':20px;width:56px;height:56px;border:0;border-radius:50%;' +
    'margin:0;padding:0;background:var(--cs-color,' + (ui.color || '#2563eb') + ');color:var(--cs-on,#fff);' +
    'cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}' +
    '.cs-launcher[hidden]{display:none}.cs-launcher svg{width:28px;height:28px;fill:currentColor}';
  button.type = 'button';
  button.className = 'cs-launcher';
  button.setAttribute('aria-label', 'Chat');
  button.setAttribute('aria-expanded', 'false');
  button.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg><span class="cs-badge" aria-hidden="true"></span>';
  button.hidden = data.launcher === 'false';
  button.onclick = function () { api('toggle'); };
  button.onpointerenter = load;
  root.append(style, button);

  function load() {
    if (loading) return;
    loading = d.createElement('script');
    loading.src = base + '/widget/widget.js?v=__VERSION__&l=' + [data.locale, navigator.language, ui.locale];
    loading.onerror = function () { loading = null; };
    d.head.appendChild(loading);
  }

  // widget.js takes this context and hands back its command handler through ready().
  api._ctx = {
    key: key, base: base, data: data, root: root, launcher: button,
    emit: function (event, detail) {
      (listeners[event] || []).slice().forEach(function (fn) {
        try { fn(detail); } catch (e) { setTimeout(function () { throw e; }); }
      });
    },
    ready: function (handler) {
      panel = handler;
      queue.splice(0).forEach(function (call) { api.apply(null, call); });
      api._ctx.emit('ready');
    }
  };
  w.chatserver = api;

  function mount() {
    d.body.appendChild(host);
    // After the load event, never before: at once if a chat is under way, else when idle.
    function later() {
      if (ui.active || queue.length) load();
      else if (w.requestIdleCallback) requestIdleCallback(load, { timeout: 3000 });
      else setTimeout(load, 1500);
    }
    if (d.readyState === 'complete') later();
    else w.addEventListener('load', later);
  }
  if (d.body) mount();
  else d.addEventListener('DOMContentLoaded', mount);
})();
