// The tickets page: filters and list, the thread, reply by email, private notes, changes.
// Reads and writes /api/v1/tickets (docs/protocol.md); live through the agent socket's
// `ticket` events. What customers wrote goes in with textContent, never as HTML.
(function () {
  'use strict';
  var d = document;
  var root = d.getElementById('tickets');
  if (!root) return;
  var t = window.CSConsole.t, tk = window.CSConsole.tk, tn = window.CSConsole.tn, el = window.CSConsole.el;
  var me = root.dataset.me;
  var locale = root.dataset.locale;
  var $ = function (id) { return d.getElementById(id); };

  // Several ticket events in a burst (a bulk change) refresh the list once.
  var LIST_REFRESH_MS = 300;

  function when(ms) {
    return new Date(ms).toLocaleString(locale, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  }

  // HTTP ----------------------------------------------------------------------------------------

  function api(method, url, body) {
    var options = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (r) {
      if (r.status === 401) { location.assign('/console/signin?next=/console/tickets'); throw new Error('signed out'); }
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) {
          var error = new Error(data.message || String(r.status));
          error.status = r.status;
          throw error;
        }
        return data;
      });
    });
  }

  // The list ------------------------------------------------------------------------------------

  var listed = [];
  var current = null;      // the ticket shown: {ticket, entries, transcript, history}
  var agentsBySite = {};
  var listTimer = null;

  function query() {
    var params = [];
    var status = $('f-status').value, assignee = $('f-assignee').value, tag = $('f-tag').value.trim();
    if (status) params.push('status=' + encodeURIComponent(status));
    if (assignee) params.push('assignee=' + encodeURIComponent(assignee));
    if (tag) params.push('tag=' + encodeURIComponent(tag.toLowerCase()));
    return '/api/v1/tickets' + (params.length ? '?' + params.join('&') : '');
  }

  function loadList() {
    var url = query();
    return api('GET', url).then(function (r) {
      if (url !== query()) return;  // the filters changed meanwhile; that answer is coming
      listed = r.tickets;
      renderList();
    }).catch(function (e) { toast(t('ticket_failed', { message: e.message })); });
  }

  function soon() {
    clearTimeout(listTimer);
    listTimer = setTimeout(loadList, LIST_REFRESH_MS);
  }

  function renderList() {
    var ul = $('ticket-list');
    ul.textContent = '';
    $('tickets-empty').hidden = listed.length > 0;
    listed.forEach(function (ticket) {
      var li = el('li');
      var row = el('button', 'ticket-row' + (current && current.ticket.id === ticket.id ? ' is-active' : ''));
      row.type = 'button';
      row.dataset.ticket = ticket.id;
      var top = el('span', 'ticket-top');
      top.append(el('span', 'ticket-subject', ticket.subject));
      if (ticket.priority === 'high' || ticket.priority === 'urgent') {
        top.append(el('span', 'pill pill-' + ticket.priority, tk('priority_', ticket.priority)));
      }
      top.append(el('span', 'pill pill-' + ticket.status, tk('ticket_status_', ticket.status)));
      var who = ticket.contact.name || ticket.contact.email || '';
      var sub = who + ' · ' + (ticket.assignee ? ticket.assignee.name : t('assignee_none')) + ' · ' + when(ticket.updated_at);
      row.append(top, el('span', 'ticket-sub', sub));
      row.onclick = function () { location.hash = ticket.id; };
      li.append(row);
      ul.append(li);
    });
  }

  ['f-status', 'f-assignee'].forEach(function (id) { $(id).onchange = loadList; });
  $('f-tag').addEventListener('input', soon);
  $('filters').onsubmit = function (e) { e.preventDefault(); loadList(); };

  // One ticket ----------------------------------------------------------------------------------

  function open(id) {
    if (!id) { show(null); return; }
    api('GET', '/api/v1/tickets/' + encodeURIComponent(id)).then(show).catch(function (e) {
      show(null);
      toast(e.status === 404 ? t('ticket_gone') : t('ticket_failed', { message: e.message }));
    });
  }

  function show(detail) {
    var switched = !current || !detail || current.ticket.id !== detail.ticket.id;
    current = detail;
    $('ticket').hidden = !detail;
    $('ticket-none').hidden = !!detail;
    renderList();
    if (!detail) return;
    var ticket = detail.ticket;
    if (switched) {
      $('t-error').hidden = true;
      $('t-notice').hidden = true;
    }
    $('t-subject').textContent = ticket.subject;
    var contact = ticket.contact;
    $('t-sub').textContent = [contact.name, contact.email, when(ticket.created_at)]
      .filter(Boolean).join(' · ');
    $('t-status').value = ticket.status;
    $('t-priority').value = ticket.priority;
    if (switched || d.activeElement !== $('t-tags')) $('t-tags').value = ticket.tags.join(', ');
    loadAgents(ticket);
    renderTranscript(detail.transcript);
    renderThread(detail.entries, ticket);
    renderHistory(detail.history, ticket);
    $('t-text').placeholder = replying ? t('ticket_reply_placeholder', { email: contact.email || '' }) : t('ticket_note_placeholder');
  }

  function renderTranscript(lines) {
    var box = $('t-transcript-box');
    box.hidden = !lines.length;
    $('t-transcript-title').textContent = tn('chat_transcript', lines.length);
    var ol = $('t-transcript');
    ol.textContent = '';
    lines.forEach(function (m) {
      var li = el('li');
      li.append(el('strong', null, (m.author.name || t(m.author.kind === 'visitor' ? 'entry_customer' : 'agent')) + ': '));
      li.append(d.createTextNode(m.text));
      ol.append(li);
    });
  }

  function renderThread(entries, ticket) {
    var ol = $('t-thread');
    ol.textContent = '';
    entries.forEach(function (e) {
      var li = el('li', 'entry entry-' + e.kind);
      li.dataset.kind = e.kind;
      var head = el('div', 'entry-head');
      var who = e.kind === 'customer' ? (ticket.contact.name || ticket.contact.email || t('entry_customer'))
        : e.author.name || t('agent');
      var label = el('span', 'entry-who', who);
      if (e.kind === 'note') label.append(d.createTextNode(' · ' + t('entry_note')));
      head.append(label, el('span', null, when(e.created_at)));
      li.append(head, el('div', 'entry-text', e.text));
      (e.attachments || []).forEach(function (a) {
        var link = el('a', 'small', a.filename || a.id);
        link.href = '/api/v1/attachments/' + encodeURIComponent(a.id || a);
        li.append(link);
      });
      ol.append(li);
    });
  }

  function renderHistory(history, ticket) {
    var ol = $('t-history');
    ol.textContent = '';
    history.forEach(function (h) {
      if (h.kind === 'ticket' && h.id === ticket.id) return;
      var li = el('li', 'past');
      var top = el('span', 'past-top');
      top.append(el('span', 'past-channel', window.CSConsole.said(h, locale)), el('span', 'past-when', when(h.created_at)));
      li.append(top, el('span', 'past-text', h.summary || tk(h.kind === 'chat' ? 'status_' : 'ticket_status_', h.status)));
      ol.append(li);
    });
  }

  function loadAgents(ticket) {
    var fill = function (list) {
      var select = $('t-assignee');
      select.textContent = '';
      select.append(new Option(t('assignee_none'), ''));
      list.forEach(function (a) { select.append(new Option(a.id === me ? a.name + ' (' + t('you') + ')' : a.name, a.id)); });
      // A disabled or removed assignee still shows who it is.
      if (ticket.assignee && !list.some(function (a) { return a.id === ticket.assignee.id; })) {
        select.append(new Option(ticket.assignee.name, ticket.assignee.id));
      }
      select.value = ticket.assignee ? ticket.assignee.id : '';
    };
    if (agentsBySite[ticket.site]) return fill(agentsBySite[ticket.site]);
    api('GET', '/console/api/agents?site=' + encodeURIComponent(ticket.site)).then(function (r) {
      agentsBySite[ticket.site] = r.agents;
      if (current && current.ticket.id === ticket.id) fill(r.agents);
    }).catch(function () {});
  }

  // Changes -------------------------------------------------------------------------------------

  function change(body) {
    var id = current.ticket.id;
    return api('PATCH', '/api/v1/tickets/' + encodeURIComponent(id), body).then(function (r) {
      notice(t('ticket_saved'));
      merge(r.ticket);
    }).catch(function (e) {
      error(e.message);
      open(id);   // show what is stored, not what was refused
    });
  }

  function merge(ticket) {
    if (current && current.ticket.id === ticket.id) {
      current.ticket = ticket;
      show(current);
    }
    soon();
  }

  $('t-status').onchange = function () { change({ status: $('t-status').value }); };
  $('t-priority').onchange = function () { change({ priority: $('t-priority').value }); };
  $('t-assignee').onchange = function () { change({ assignee: $('t-assignee').value || null }); };
  function saveTags() {
    var tags = $('t-tags').value.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
    $('t-tags').blur();   // then the stored form of the tags (lower case) replaces what was typed
    change({ tags: tags });
  }
  $('t-tags-save').onclick = saveTags;
  $('t-tags').addEventListener('keydown', function (e) {
    if (e.key === 'Enter') { e.preventDefault(); saveTags(); }
  });

  // Reply or note -------------------------------------------------------------------------------

  var replying = true;
  var draftId = null;   // kept until the server stores the text: a retry is never stored twice

  function setMode(reply) {
    replying = reply;
    draftId = null;
    $('t-mode-reply').classList.toggle('is-active', reply);
    $('t-mode-note').classList.toggle('is-active', !reply);
    $('t-mode-reply').setAttribute('aria-selected', reply ? 'true' : 'false');
    $('t-mode-note').setAttribute('aria-selected', reply ? 'false' : 'true');
    $('t-reply-status-box').hidden = !reply;
    $('t-compose').classList.toggle('composer-note', !reply);
    $('t-send').textContent = reply ? t('reply_send') : t('note_add');
    $('t-send').className = reply ? 'btn btn-primary' : 'btn btn-note';
    if (current) show(current);
    $('t-text').focus();
  }
  $('t-mode-reply').onclick = function () { setMode(true); };
  $('t-mode-note').onclick = function () { setMode(false); };

  $('t-compose').onsubmit = function (e) {
    e.preventDefault();
    var text = $('t-text').value;
    if (!text.trim() || !current) return;
    var id = current.ticket.id;
    draftId = draftId || 'w' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    var body = { text: text, client_id: draftId };
    if (replying && $('t-reply-status').value) body.status = $('t-reply-status').value;
    var path = '/api/v1/tickets/' + encodeURIComponent(id) + (replying ? '/replies' : '/notes');
    $('t-send').disabled = true;
    api('POST', path, body).then(function (r) {
      $('t-text').value = '';
      $('t-reply-status').value = '';
      draftId = null;
      notice(replying ? t('ticket_mailed', { email: r.ticket.contact.email || '' }) : t('ticket_saved'));
      open(id);
      soon();
    }).catch(function (e) {
      error(e.message);   // the text stays in the box
    }).then(function () { $('t-send').disabled = false; });
  };

  function notice(text) {
    $('t-error').hidden = true;
    $('t-notice').textContent = text;
    $('t-notice').hidden = false;
  }

  function error(text) {
    $('t-notice').hidden = true;
    $('t-error').textContent = t('ticket_failed', { message: text });
    $('t-error').hidden = false;
  }

  var toastTimer = null;
  function toast(text) {
    $('toast').textContent = text;
    $('toast').hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { $('toast').hidden = true; }, 5000);
  }

  // Live: the agent socket tells about every ticket opened or changed on the agent's sites. --------

  function connect() {
    window.CSConsole.agentSocket({ next: '/console/tickets', onFrame: function (frame) {
      if (frame.type === 'welcome') {
        $('banner').hidden = true;
        loadList();   // whatever changed while we were away
      } else if (frame.type === 'ticket') {
        soon();
        if (current && current.ticket.id === frame.ticket.id) open(frame.ticket.id);
      }
    }, onDown: function () {
      $('banner').textContent = t('reconnecting');
      $('banner').hidden = false;
    } });
  }

  window.addEventListener('hashchange', function () { open(location.hash.slice(1)); });
  loadList();
  open(location.hash.slice(1));
  connect();
}());
