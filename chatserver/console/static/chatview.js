// The chat view's tools beside the reply box: private notes, help articles sent as links,
// convert to an email ticket. Builds on inbox.js (window.CSInbox); text goes in by textContent.
(function () {
  'use strict';
  var I = window.CSInbox;
  if (!I) return;
  var d = document;
  var $ = function (id) { return d.getElementById(id); };
  var t = I.t, el = I.el;

  // Wait this long after the last keystroke before searching: one request per pause, not per key.
  var SEARCH_DEBOUNCE_MS = 250;

  // Notes -------------------------------------------------------------------------------------

  var notes = {};        // conversation id -> {note id -> note}
  var noteWaiting = null; // client_id of the note this tab sent and has not seen stored yet

  I.on('note', function (f) {
    (notes[f.conversation] = notes[f.conversation] || {})[f.id] = f;
    if (f.client_id === noteWaiting && f.author.id === I.me.id) {
      noteWaiting = null;
      $('note-text').value = '';
      $('note-send').disabled = false;
    }
    if (f.conversation === I.active()) I.renderTranscript();
  });

  I.items(function (conversation) {
    var list = [];
    var kept = notes[conversation] || {};
    for (var id in kept) list.push(noteItem(kept[id]));
    return list;
  });

  function noteItem(n) {
    return {
      created_at: n.created_at,
      draw: function () {
        var li = el('li', 'msg msg-note');
        li.dataset.note = n.id;
        li.append(el('span', 'msg-who', t('note_by', { name: n.author.name || t('agent') })));
        li.append(el('div', 'msg-text', n.text));
        li.append(el('span', 'msg-meta', new Date(n.created_at).toLocaleTimeString(I.locale, { hour: '2-digit', minute: '2-digit' })));
        return li;
      }
    };
  }

  function mode(note) {
    $('note-form').hidden = !note;
    $('composer').hidden = note;
    $('mode-note').classList.toggle('is-active', note);
    $('mode-reply').classList.toggle('is-active', !note);
    $('mode-note').setAttribute('aria-selected', note ? 'true' : 'false');
    $('mode-reply').setAttribute('aria-selected', note ? 'false' : 'true');
    $(note ? 'note-text' : 'text').focus();
  }
  $('mode-note').onclick = function () { mode(true); };
  $('mode-reply').onclick = function () { mode(false); };

  $('note-form').onsubmit = function (e) {
    e.preventDefault();
    var text = $('note-text').value.trim();
    var conversation = I.active();
    if (!text || !conversation) return;
    noteWaiting = I.clientId();
    // The text stays in the box until the server says it is stored: an error loses nothing.
    if (I.send({ type: 'note', conversation: conversation, client_id: noteWaiting, text: text })) {
      $('note-send').disabled = true;
      setTimeout(function () { $('note-send').disabled = false; }, 5000);
    }
  };
  $('note-text').addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('note-form').requestSubmit();
    }
  });

  // Help articles, sent as links --------------------------------------------------------------

  var searchTimer = null;
  var searched = '';

  $('kb-toggle').onclick = function () {
    var open = $('kb-panel').hidden;
    $('kb-panel').hidden = !open;
    $('kb-toggle').setAttribute('aria-expanded', open ? 'true' : 'false');
    $('kb-toggle').classList.toggle('is-active', open);
    if (open) $('kb-q').focus();
  };

  function search() {
    var q = $('kb-q').value.trim();
    var locale = $('kb-locale').value;
    var key = q + '|' + locale;
    if (key === searched) return;
    searched = key;
    if (!q) { showArticles([], q); return; }
    I.getJSON('/console/api/articles?q=' + encodeURIComponent(q) + (locale ? '&locale=' + locale : ''))
      .then(function (r) { if (searched === key) showArticles(r.articles, q); })
      .catch(function () { I.toast(t('kb_failed')); });
  }

  $('kb-q').addEventListener('input', function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(search, SEARCH_DEBOUNCE_MS);
  });
  $('kb-locale').onchange = search;
  $('kb-q').addEventListener('keydown', function (e) {
    if (e.key === 'Enter') { e.preventDefault(); clearTimeout(searchTimer); search(); }
  });

  // Snippets mark matched words with [[ and ]]: highlight them, never parse them as HTML.
  function snippet(text) {
    var p = el('p', 'kb-snippet');
    text.split(/(\[\[.*?\]\])/).forEach(function (part) {
      if (part.indexOf('[[') === 0) p.append(el('mark', null, part.slice(2, -2)));
      else if (part) p.append(d.createTextNode(part));
    });
    return p;
  }

  function showArticles(list, q) {
    var ul = $('kb-results');
    ul.textContent = '';
    $('kb-empty').hidden = !q || list.length > 0;
    var c = I.conversation(I.active());
    list.forEach(function (a) {
      var li = el('li', 'kb-hit');
      var head = el('div', 'kb-head');
      var link = el('a', 'kb-title', a.title);
      link.href = a.url;
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      head.append(link, el('span', 'pill', a.locale));
      var send = el('button', 'btn btn-small kb-send', t('kb_send'));
      send.type = 'button';
      send.disabled = !I.holds(c);
      send.title = send.disabled ? t('accept_to_reply') : '';
      send.onclick = function () { sendLink(a); };
      head.append(send);
      li.append(head, snippet(a.snippet || ''));
      ul.append(li);
    });
  }

  // The link goes out through the reply box, so it is acknowledged and resent like any reply;
  // whatever the agent had typed goes with it, above the link.
  function sendLink(a) {
    var box = $('text');
    var typed = box.value.trim();
    box.value = (typed ? typed + '\n' : '') + a.title + '\n' + a.url;
    mode(false);
    $('composer').requestSubmit();
  }

  // Convert to an email ticket -------------------------------------------------------------------

  var converted = {};   // conversation id -> ticket id

  function convertible(c) {
    return c && c.status !== 'closed' && (c.status !== 'assigned' || I.holds(c));
  }

  function ticketLine(conversation) {
    var ticket = converted[conversation];
    var line = $('chat-ticket');
    line.textContent = '';
    line.hidden = !ticket;
    if (!ticket) return;
    line.append(d.createTextNode(t('converted') + ' '));
    var link = el('a', null, t('open_ticket'));
    link.href = '/console/tickets#' + encodeURIComponent(ticket);
    line.append(link);
  }

  I.onRender(function (c) {
    $('convert').hidden = !convertible(c);
    ticketLine(c.id);
    // Whether a link can be sent depends on who holds the chat shown: redraw when that changes.
    var key = c.id + (I.holds(c) ? '+' : '-');
    if (key !== lastShown && !$('kb-panel').hidden) { searched = ''; search(); }
    lastShown = key;
  });
  var lastShown = '';

  $('convert').onclick = function () {
    var id = I.active();
    var c = I.conversation(id);
    if (!convertible(c)) return;
    var subject = window.prompt(t('convert_subject'), '');
    if (subject === null) return;   // cancelled
    var frame = { type: 'convert', conversation: id };
    subject = subject.trim();
    if (subject) frame.subject = subject;
    I.send(frame);
  };

  // Block the visitor: their contact, their address or its network (console/blocks.py) ------------

  $('block').onchange = function () {
    var kind = this.value, c = I.conversation(I.active());
    this.value = '';
    if (!kind || !c || !window.confirm(t('block_confirm'))) return;
    fetch('/api/v1/sites/' + encodeURIComponent(c.site) + '/blocks', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'same-origin',
      body: JSON.stringify({ kind: kind, contact: c.contact.id })
    }).then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); }).then(function (a) {
      I.toast(a[0] ? t('blocked_toast', { what: a[1].block.value }) : a[1].message);
    }, function () { I.toast(t('block_failed')); });
  };

  I.on('ticket', function (f) {
    var ticket = f.ticket;
    if (!ticket.conversation) return;
    var fresh = !converted[ticket.conversation];
    converted[ticket.conversation] = ticket.id;
    if (ticket.conversation !== I.active()) return;
    ticketLine(ticket.conversation);
    if (fresh) I.toast(t('converted_toast', { subject: ticket.subject }));
  });
}());
