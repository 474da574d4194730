// Who is on the site now (console/visitors_page.py): the list, asked again every few
// seconds, and an invitation to chat that opens a conversation held by the agent.
(function () {
  'use strict';
  var C = window.CSConsole, t = C.t, el = C.el, d = document;
  var main = d.getElementById('visitors'), picker = d.getElementById('v-site');
  if (!main || !picker) return;
  var rows = d.getElementById('v-rows'), none = d.getElementById('v-none'), count = d.getElementById('v-count');
  var poll = +main.dataset.poll || 3000, timer = null, writing = {};

  function duration(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m >= 60 ? Math.floor(m / 60) + ':' + String(m % 60).padStart(2, '0') + ':' + String(s).padStart(2, '0')
      : m + ':' + String(s).padStart(2, '0');
  }
  function host(url) {
    try { return new URL(url).host; } catch (e) { return url; }
  }
  function inviteForm(v, cell) {
    var f = el('form', 'inline-form v-invite'), input = el('input');
    input.name = 'text';
    input.required = true;
    input.maxLength = 5000;
    input.placeholder = t('visitors_invite_placeholder');
    input.setAttribute('aria-label', t('visitors_invite_placeholder'));
    var go = el('button', 'btn btn-small', t('visitors_invite_send')), said = el('span', 'muted v-said');
    said.setAttribute('role', 'status');
    f.append(input, go, said);
    f.onsubmit = function (e) {
      e.preventDefault();
      go.disabled = true;
      fetch('/console/api/visitors/' + encodeURIComponent(v.id) + '/invite', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'same-origin',
        body: JSON.stringify({ site: picker.value, text: input.value, client_id: 'inv-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8) })
      }).then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body.message || ('HTTP ' + r.status));
          delete writing[v.id];
          said.textContent = '';
          var open = el('a', null, t('visitors_invited'));
          open.href = '/console#c=' + body.conversation.id;
          said.appendChild(open);
          input.value = '';
        });
      }).catch(function (err) {
        said.textContent = t('visitors_invite_failed', { reason: err.message });
      }).then(function () { go.disabled = false; });
    };
    input.oninput = function () { writing[v.id] = cell; };
    cell.appendChild(f);
  }
  function row(v) {
    var tr = el('tr');
    tr.dataset.visitor = v.id;
    var who = el('td', null, v.name || v.email || t('visitors_anonymous', { id: v.id.slice(0, 6) }));
    var page = el('td');
    if (v.page.url) {
      var a = el('a', null, v.page.title || v.page.url);
      a.href = v.page.url;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      var u = new URL(v.page.url, location.href);
      page.append(a, el('div', 'muted v-path', u.pathname + u.search));
    }
    var before = el('td');
    var chats = v.chatting ? t('visitors_chatting') : v.chatted_before ? t('visitors_returning') : t('visitors_first');
    before.appendChild(el('span', 'pill' + (v.chatting ? ' pill-assigned' : ''), chats));
    var act = el('td', 'right');
    if (writing[v.id]) act = writing[v.id];
    else if (!v.chatting) inviteForm(v, act);
    tr.append(who, page, el('td', 'v-time', duration(v.seconds_on_site)),
      el('td', 'muted', v.referrer ? host(v.referrer) : t('visitors_direct')), before, act);
    return tr;
  }
  function load() {
    clearTimeout(timer);
    fetch('/console/api/visitors?site=' + encodeURIComponent(picker.value), { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error('HTTP ' + r.status)); })
      .then(function (data) {
        var list = data.visitors || [];
        rows.replaceChildren.apply(rows, list.map(row));
        none.hidden = list.length > 0;
        count.textContent = C.tn('visitors_count', list.length);
      }, function () { count.textContent = t('visitors_unreachable'); })
      .then(function () { timer = setTimeout(load, poll); });
  }
  picker.onchange = function () { writing = {}; load(); };
  load();
}());
