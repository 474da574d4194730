// The agent inbox: lists, tabs, transcript and composer over one WebSocket (protocol v1).
// Everything a visitor wrote goes into the page with textContent, never as HTML.
(function () {
  'use strict';
  var d = document;
  var root = d.getElementById('inbox');
  if (!root) return;
  var t = window.CSConsole.t, tk = window.CSConsole.tk, el = window.CSConsole.el;
  var me = { id: root.dataset.me, name: root.dataset.name, role: root.dataset.role };
  var locale = root.dataset.locale;
  var $ = function (id) { return d.getElementById(id); };

  // A typing indicator that stops arriving (a closed laptop) is cleared after this long.
  var TYPING_STALE_MS = 6000;
  // We tell the visitor we stopped typing after this long without a keystroke.
  var TYPING_IDLE_MS = 3000;

  var convs = {};      // id -> state of one conversation
  var tabs = [];       // ids of conversations open as tabs, in order
  var active = null;   // the id shown
  var socket = null;
  var ready = false;
  var welcomed = false;
  var pending = {};    // client_id -> {conversation, text} not yet acknowledged
  var agentsBySite = {};
  var cannedBySite = {};
  var typingTimer = null;
  var typingSent = null;
  // Other console scripts (chatview.js) add frame handlers, transcript items and render hooks.
  var ext = { handlers: {}, items: [], render: [] };

  function state(id) {
    if (!convs[id]) {
      convs[id] = { c: null, msgs: {}, seqs: [], following: false, lastSeq: 0, upTo: 0, filling: false, firstText: '',
        visitorDelivered: 0, visitorRead: 0, readSent: 0, typing: null, alerted: false };
    }
    return convs[id];
  }

  // Lines from the visitor this agent has not seen yet (above the last read receipt sent).
  function unread(s) {
    return s.seqs.filter(function (seq) { return seq > s.readSent && s.msgs[seq].author.kind === 'visitor'; }).length;
  }

  function name(c) {
    var contact = c && c.contact;
    return (contact && contact.name) || t('visitor_n', { n: (contact ? contact.id : c.id).slice(0, 4).toUpperCase() });
  }

  function send(frame) {
    if (!ready || !socket.send(frame)) { toast(t('not_connected')); return false; }
    return true;
  }

  // Connection ---------------------------------------------------------------------------

  function connect() {
    socket = window.CSConsole.agentSocket({
      next: '/console',
      onFrame: function (frame) {
        var handler = handlers[frame.type] || ext.handlers[frame.type];
        if (handler) handler(frame);
      },
      onDown: function () {
        ready = false;
        $('availability').disabled = true;
        banner(t('reconnecting'));
        for (var id in convs) convs[id].following = false;
      }
    });
  }

  var handlers = {
    welcome: function (f) {
      ready = true;
      banner('');
      me.availability = f.you.availability;
      setAvailability(f.you.availability);
      var open = {};
      f.conversations.forEach(function (c) { open[c.id] = true; update(c, !welcomed); });
      // A conversation we listed that is no longer open closed while we were away.
      for (var id in convs) {
        if (!open[id] && convs[id].c && convs[id].c.status !== 'closed') {
          convs[id].c.status = 'closed';
        }
      }
      if (!welcomed) restoreTabs(open);
      tabs.forEach(follow);
      welcomed = true;
      render();
      for (var cid in pending) send(pending[cid].frame);
    },
    conversation: function (f) { update(f.conversation, false); render(); },
    // The server may have missed frames for us (see docs/protocol.md): catch up from the store.
    resync: function (f) {
      (f.conversations || []).forEach(function (id) {
        var s = state(id);
        if (s.following) send({ type: 'sync', conversation: id, after: s.upTo });
      });
    },
    message: function (f) { addMessage(f); },
    // An admin changed the site's canned replies: the next /shortcut inserts the new text.
    canned: function (f) {
      cannedBySite[f.site] = f.canned;
      if (!cannedBox.hidden) showCanned();
    },
    ack: function (f) {
      var waiting = pending[f.ref];
      if (!waiting) return;
      delete pending[f.ref];
      var s = state(f.conversation);
      if (!s.msgs[f.seq]) {
        addMessage({ conversation: f.conversation, seq: f.seq, id: f.id, client_id: f.ref,
          author: { kind: 'agent', id: me.id, name: me.name }, text: waiting.frame.text, created_at: f.created_at });
      } else if (f.conversation === active) {
        renderTranscript();
      }
    },
    typing: function (f) {
      if (f.author.kind !== 'visitor') return;
      var s = state(f.conversation);
      clearTimeout(s.typingTimer);
      s.typing = f.active ? f.author.name || name(s.c) : null;
      if (f.active) s.typingTimer = setTimeout(function () { s.typing = null; renderTyping(); }, TYPING_STALE_MS);
      renderTyping();
    },
    receipt: function (f) {
      if (f.side !== 'visitor') return;
      var s = state(f.conversation);
      if (f.status === 'read') s.visitorRead = Math.max(s.visitorRead, f.seq);
      s.visitorDelivered = Math.max(s.visitorDelivered, f.seq);
      if (f.conversation === active) renderTranscript();
    },
    synced: function (f) {
      var s = state(f.conversation);
      if (f.more) send({ type: 'sync', conversation: f.conversation, after: f.last_seq });
      else s.synced = true;
      s.filling = false;
      markRead(f.conversation);
      render();
    },
    presence: function (f) {
      if (f.agent.id === me.id && f.agent.status !== 'offline') setAvailability(f.agent.status);
      for (var site in agentsBySite) delete agentsBySite[site];
      if (active) loadAgents(convs[active].c);
    },
    error: function (f) {
      var waiting = f.ref && pending[f.ref];
      if (waiting && (f.code === 'unavailable' || f.code === 'rate_limited')) {
        // Nothing was stored: the same reply (same client id) goes again when the server says.
        setTimeout(function () { if (pending[f.ref] === waiting) send(waiting.frame); },
          (f.retry_after || 2) * (500 + Math.random() * 1000));
        return;
      }
      if (waiting) {
        delete pending[f.ref];
        renderTranscript();
      }
      toast(f.message);
    }
  };

  function update(c, initial) {
    var s = state(c.id);
    var before = s.c;
    s.c = c;
    if (c.id === linked) { linked = null; setTimeout(function () { openTab(c.id, true); }); }
    s.lastSeq = Math.max(s.lastSeq, c.last_seq || 0);
    s.visitorRead = Math.max(s.visitorRead, c.visitor_read_seq || 0);
    s.visitorDelivered = Math.max(s.visitorDelivered, s.visitorRead);
    var mine = c.status === 'assigned' && c.agent && c.agent.id === me.id;
    // The queue and my chats are followed, to show the first question and count unread lines.
    if (c.status === 'queued' || mine) follow(c.id);
    if (initial) return;
    var wasQueued = before && before.status === 'queued';
    var wasMine = before && before.status === 'assigned' && before.agent && before.agent.id === me.id;
    if (c.status === 'queued' && !wasQueued) alertNew(c, t('alert_queued', { name: name(c) }));
    if (mine && !wasMine) {
      alertNew(c, t('alert_assigned', { name: name(c) }));
      openTab(c.id, false);
    }
  }

  function follow(id) {
    var s = state(id);
    if (s.following || !ready) return;
    s.following = true;
    send({ type: 'sync', conversation: id, after: s.upTo });
  }

  function addMessage(m) {
    var s = state(m.conversation);
    if (!s.msgs[m.seq]) {
      s.msgs[m.seq] = m;
      s.seqs.push(m.seq);
      s.seqs.sort(function (a, b) { return a - b; });
      if (m.author.kind === 'visitor' && !s.firstText) s.firstText = m.text;
    }
    s.lastSeq = Math.max(s.lastSeq, m.seq);
    // Resume from the highest seq below which nothing is missing, never from the highest seen:
    // a frame lost between processes (Redis down) leaves a gap, filled by a sync at once.
    while (s.msgs[s.upTo + 1]) s.upTo += 1;
    if (m.seq > s.upTo + 1 && s.following && !s.filling) {
      s.filling = true;
      send({ type: 'sync', conversation: m.conversation, after: s.upTo });
    }
    if (m.author.kind === 'visitor') {
      s.typing = null;
      if (m.conversation !== active) flashTitle();
    }
    markRead(m.conversation);
    if (m.conversation === active) { renderTranscript(); renderTyping(); }
    renderLists();
  }

  // Receipts: the visitor sees "read" only when this tab shows the conversation.
  function markRead(id) {
    var s = convs[id];
    if (!s || !s.upTo || !ready) return;
    var shown = id === active && d.visibilityState === 'visible';
    var last = s.upTo;
    if (shown && last > s.readSent) {
      s.readSent = last;
      send({ type: 'receipt', conversation: id, seq: last, status: 'read' });
    } else if (!shown && last > (s.deliveredSent || 0) && last > s.readSent) {
      s.deliveredSent = last;
      send({ type: 'receipt', conversation: id, seq: last, status: 'delivered' });
    }
    updateTitle();
  }

  // Lists --------------------------------------------------------------------------------

  function render() { renderLists(); renderTabs(); renderChat(); updateTitle(); }

  function open(c) { return c && c.status !== 'closed'; }

  function renderLists() {
    var all = [], queue = [], mine = [];
    for (var id in convs) {
      var c = convs[id].c;
      if (!open(c)) continue;
      all.push(c);
      if (c.status === 'queued') queue.push(c);
      if (c.status === 'assigned' && c.agent && c.agent.id === me.id) mine.push(c);
    }
    queue.sort(function (a, b) { return (a.queued_at || a.created_at) - (b.queued_at || b.created_at); });
    fill('queue', queue);
    fill('mine', mine);
    fill('all', all);
  }

  function fill(list, items) {
    var ul = $('list-' + list);
    ul.textContent = '';
    $('count-' + list).textContent = items.length;
    $('empty-' + list).hidden = items.length > 0;
    items.forEach(function (c) {
      var s = convs[c.id];
      var count = c.id === active ? 0 : unread(s);
      var li = el('li', 'conv' + (c.id === active ? ' is-active' : '') + (count ? ' has-unread' : ''));
      li.dataset.conversation = c.id;
      var button = el('button', 'conv-open');
      button.type = 'button';
      var top = el('span', 'conv-top');
      top.append(el('span', 'conv-name', name(c)));
      if (c.status === 'queued') top.append(el('span', 'conv-wait', waited(c.queued_at || c.created_at)));
      else if (list === 'all') top.append(el('span', 'pill pill-' + c.status, c.agent ? c.agent.name : tk('status_', c.status)));
      if (count) top.append(el('span', 'badge', count));
      button.append(top, el('span', 'conv-preview', s.firstText || '…'));
      button.onclick = function () { openTab(c.id, true); };
      li.append(button);
      if (takeable(c)) {
        var accept = el('button', 'btn btn-small btn-primary conv-accept', t('accept'));
        accept.type = 'button';
        accept.onclick = function () { acceptChat(c.id); };
        li.append(accept);
      }
      ul.append(li);
    });
  }

  function waited(since) {
    var seconds = Math.max(0, Math.round((Date.now() - since) / 1000));
    if (seconds < 60) return t('wait_seconds', { n: seconds });
    return t('wait_minutes', { n: Math.floor(seconds / 60) });
  }

  // Waiting times tick while nobody answers.
  setInterval(function () {
    var spans = d.querySelectorAll('#list-queue .conv');
    spans.forEach(function (li) {
      var c = convs[li.dataset.conversation].c;
      var wait = li.querySelector('.conv-wait');
      if (wait) wait.textContent = waited(c.queued_at || c.created_at);
    });
  }, 1000);

  // Tabs and the chat ----------------------------------------------------------------------

  // Open tabs and the one shown survive a reload (per agent, in this browser); a tab whose
  // chat closed meanwhile is let go then.
  var TABS_KEY = 'cs-inbox-tabs:' + me.id;
  // A link to one conversation (/console#c=<id>, from the reports): synced, then opened.
  var linked = (/^#c=([\w-]{1,64})$/.exec(location.hash) || [])[1] || null;
  function saveTabs() {
    try { localStorage.setItem(TABS_KEY, JSON.stringify({ tabs: tabs, active: active })); } catch (e) { /* private mode */ }
  }
  function restoreTabs(open) {
    var saved = {};
    try { saved = JSON.parse(localStorage.getItem(TABS_KEY)) || {}; } catch (e) { /* none */ }
    (saved.tabs || []).forEach(function (id) { if (open[id] && tabs.indexOf(id) < 0) tabs.push(id); });
    if (saved.active && tabs.indexOf(saved.active) >= 0) setTimeout(function () { show(saved.active); });
    else if (tabs.length) setTimeout(function () { show(tabs[0]); });
    saveTabs();
    if (linked) { state(linked); follow(linked); }
  }

  // A chat from the customer's history: opened in a tab once its state has come.
  function openChat(id) {
    if (convs[id] && convs[id].c) return openTab(id, true);
    linked = id;
    state(id).following = false;
    follow(id);
  }

  function openTab(id, focus) {
    if (tabs.indexOf(id) < 0) tabs.push(id);
    saveTabs();
    follow(id);
    if (focus || !active) show(id);
    else renderTabs();
  }

  function show(id) {
    stopTyping();
    active = id;
    saveTabs();
    render();
    markRead(id);
    loadCustomer(convs[id].c);
    loadAgents(convs[id].c);
    loadCanned(convs[id].c);
    $('text').focus();
  }

  function closeTab(id) {
    var at = tabs.indexOf(id);
    tabs.splice(at, 1);
    if (active === id) {
      active = tabs[Math.min(at, tabs.length - 1)] || null;
      if (active) return show(active);
    }
    saveTabs();
    render();
  }

  function renderTabs() {
    var bar = $('tabs');
    bar.textContent = '';
    tabs.forEach(function (id) {
      var s = convs[id];
      var tab = el('div', 'tab' + (id === active ? ' is-active' : '') + (open(s.c) ? '' : ' is-closed'));
      var label = el('button', 'tab-label', name(s.c));
      label.type = 'button';
      label.setAttribute('role', 'tab');
      label.setAttribute('aria-selected', id === active ? 'true' : 'false');
      label.onclick = function () { show(id); };
      if (id !== active && unread(s)) label.append(el('span', 'badge', unread(s)));
      var x = el('button', 'tab-x', '×');
      x.type = 'button';
      x.title = t('close_tab');
      x.setAttribute('aria-label', t('close_tab'));
      x.onclick = function () { closeTab(id); };
      tab.append(label, x);
      bar.append(tab);
    });
  }

  // A chat nobody holds yet can be taken from every list that shows it, asked-for or not.
  function takeable(c) {
    return c.status === 'new' || c.status === 'queued';
  }

  function holds(c) {
    return c && c.status === 'assigned' && c.agent && (c.agent.id === me.id || me.role === 'admin');
  }

  function renderChat() {
    var s = active && convs[active];
    $('chat').hidden = !s;
    $('chat-empty').hidden = !!s;
    $('customer').hidden = !s;
    if (!s) return;
    var c = s.c;
    $('chat-title').textContent = name(c);
    $('chat-sub').textContent = c.status === 'assigned' && c.agent
      ? (c.agent.id === me.id ? t('with_you') : t('with_agent', { name: c.agent.name }))
      : tk('status_', c.status);
    if (c.channel_name) $('chat-sub').textContent = t('chat_via', { status: $('chat-sub').textContent, name: c.channel_name });
    $('accept').hidden = !takeable(c);
    $('transfer-box').hidden = !holds(c);
    $('close').hidden = !open(c) || (c.status === 'assigned' && !holds(c));
    var writable = holds(c);
    $('text').disabled = !writable;
    $('send').disabled = !writable;
    $('text').placeholder = writable ? t('reply_placeholder')
      : c.status === 'closed' ? t('closed_no_reply') : t('accept_to_reply');
    renderTranscript();
    renderTyping();
    ext.render.forEach(function (fn) { fn(c); });
  }

  function renderTranscript() {
    var s = active && convs[active];
    if (!s) return;
    var list = $('transcript');
    var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.textContent = '';
    var lastDay = '';
    var shown = s.seqs.map(function (seq) { return s.msgs[seq]; });
    ext.items.forEach(function (items) { shown = shown.concat(items(active)); });
    shown.sort(function (a, b) { return a.created_at - b.created_at || (a.seq || 0) - (b.seq || 0); });
    shown.forEach(function (m) {
      var day = new Date(m.created_at).toLocaleDateString(locale);
      if (day !== lastDay) { list.append(el('li', 'day', day)); lastDay = day; }
      list.append(m.draw ? m.draw() : bubble(m, s));
    });
    for (var cid in pending) {
      var p = pending[cid];
      if (p.frame.conversation !== active) continue;
      list.append(bubble({ author: { kind: 'agent', id: me.id, name: me.name }, text: p.frame.text,
        created_at: p.at }, s, t('sending')));
    }
    if (atBottom || list.dataset.shown !== active) list.scrollTop = list.scrollHeight;
    list.dataset.shown = active;
  }

  function bubble(m, s, state) {
    var kind = m.author.kind;
    var li = el('li', 'msg msg-' + kind + (kind === 'agent' && m.author.id === me.id ? ' msg-mine' : ''));
    if (kind === 'system') { li.append(el('span', 'msg-system', m.text)); return li; }
    var who = kind === 'visitor' ? m.author.name || name(s.c) : m.author.name || t('agent');
    li.append(el('span', 'msg-who', who));
    if (m.text) li.append(el('div', 'msg-text', m.text));
    (m.files || []).forEach(function (f) { li.append(fileLink(f)); });
    var meta = el('span', 'msg-meta', new Date(m.created_at).toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' }));
    if (kind === 'agent') {
      var status = state || (m.seq <= s.visitorRead ? t('read') : m.seq <= s.visitorDelivered ? t('delivered') : t('sent'));
      meta.append(el('span', 'msg-state', ' · ' + status));
      li.dataset.state = state ? 'sending' : m.seq <= s.visitorRead ? 'read' : m.seq <= s.visitorDelivered ? 'delivered' : 'sent';
    }
    li.append(meta);
    return li;
  }

  // Files come from this origin with the session; each is served inert (a sandbox CSP,
  // nosniff, and a download unless it is a raster image), so the link is safe to follow here.
  function fileLink(f) {
    var a = el('a', 'msg-file', f.inline ? '' : f.name);
    a.href = '/api/v1/files/' + encodeURIComponent(f.id);
    a.download = f.name;
    a.title = f.name;
    if (f.inline) {
      var img = el('img', 'msg-img');
      img.src = a.href;
      img.alt = f.name;
      a.append(img);
    }
    return a;
  }

  function upload(file) {
    if (!active) return;
    var url = '/api/v1/conversations/' + encodeURIComponent(active) + '/files?client_id=' + clientId() +
      '&name=' + encodeURIComponent(file.name);
    fetch(url, { method: 'POST', body: file, credentials: 'same-origin' }).then(function (r) {
      return r.json().then(function (a) { if (!r.ok) throw new Error(a.message); });
    }).catch(function (e) { toast(t('attach_failed', { name: file.name, error: e.message })); });
  }
  function uploadAll(files) { [].forEach.call(files || [], upload); }
  $('attach').onclick = function () { $('attach-input').click(); };
  $('attach-input').onchange = function () { uploadAll(this.files); this.value = ''; };
  $('text').addEventListener('paste', function (e) {
    var fs = e.clipboardData && e.clipboardData.files;
    if (fs && fs.length) { e.preventDefault(); uploadAll(fs); }
  });
  $('composer').addEventListener('dragover', function (e) { e.preventDefault(); });
  $('composer').addEventListener('drop', function (e) {
    e.preventDefault();
    uploadAll(e.dataTransfer && e.dataTransfer.files);
  });

  function renderTyping() {
    var s = active && convs[active];
    $('typing').textContent = s && s.typing ? t('typing', { name: s.typing }) : '';
  }

  // Actions ------------------------------------------------------------------------------

  function acceptChat(id) {
    if (send({ type: 'accept', conversation: id })) openTab(id, true);
  }

  $('accept').onclick = function () { if (active) acceptChat(active); };
  $('close').onclick = function () {
    if (active && confirm(t('close_confirm', { name: name(convs[active].c) }))) {
      send({ type: 'close', conversation: active });
    }
  };
  $('transfer').onclick = function () {
    var to = $('transfer-to').value;
    if (!active || !to) { toast(t('transfer_pick')); return; }
    send({ type: 'transfer', conversation: active, agent: to });
  };

  var sent = 0;
  function clientId() {
    sent += 1;
    return 'c' + Date.now().toString(36) + sent.toString(36) + Math.random().toString(36).slice(2, 8);
  }

  $('composer').onsubmit = function (e) {
    e.preventDefault();
    var text = $('text').value.trim();
    if (!text || !active) return;
    var frame = { type: 'message', conversation: active, client_id: clientId(), text: text };
    pending[frame.client_id] = { frame: frame, at: Date.now() };
    if (send(frame)) {
      $('text').value = '';
      stopTyping();
    }
    renderTranscript();
  };

  $('text').addEventListener('keydown', function (e) {
    if (!cannedBox.hidden && (e.key === 'Tab' || e.key === 'Enter' || e.key === 'ArrowDown' || e.key === 'ArrowUp' || e.key === 'Escape')) {
      cannedKey(e);
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('composer').requestSubmit();
    }
  });

  $('text').addEventListener('input', function () {
    showCanned();
    if (!active || !holds(convs[active].c)) return;
    if (typingSent !== active) {
      stopTyping();
      typingSent = active;
      send({ type: 'typing', conversation: active, active: true });
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  });

  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingSent && ready) send({ type: 'typing', conversation: typingSent, active: false });
    typingSent = null;
  }

  // Canned responses: "/" then a shortcut; Tab or Enter inserts it with placeholders filled.
  var cannedBox = $('canned');
  var cannedPick = 0;
  var cannedShown = [];

  function showCanned() {
    var value = $('text').value;
    var match = /^\/([\w-]*)$/.exec(value);
    var list = active && convs[active].c ? cannedBySite[convs[active].c.site] || [] : [];
    cannedShown = match ? list.filter(function (r) { return r.shortcut.indexOf(match[1].toLowerCase()) === 0; }) : [];
    cannedBox.textContent = '';
    cannedBox.hidden = !cannedShown.length;
    cannedPick = Math.min(cannedPick, Math.max(0, cannedShown.length - 1));
    cannedShown.forEach(function (r, i) {
      var li = el('li', i === cannedPick ? 'is-picked' : '');
      li.setAttribute('role', 'option');
      li.append(el('strong', null, '/' + r.shortcut), el('span', null, ' ' + r.body));
      li.onmousedown = function (e) { e.preventDefault(); insertCanned(r); };
      cannedBox.append(li);
    });
  }

  function cannedKey(e) {
    e.preventDefault();
    if (e.key === 'Escape') { cannedShown = []; cannedBox.hidden = true; return; }
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      cannedPick = (cannedPick + (e.key === 'ArrowDown' ? 1 : cannedShown.length - 1)) % cannedShown.length;
      showCanned();
      return;
    }
    insertCanned(cannedShown[cannedPick]);
  }

  function fillPlaceholders(body, c) {
    var visitor = c.contact && c.contact.name;
    var values = {
      name: visitor || t('there'),
      first_name: visitor ? visitor.split(/\s+/)[0] : t('there'),
      agent: me.name
    };
    return body.replace(/\{(name|first_name|agent)\}/g, function (_, key) { return values[key]; });
  }

  function insertCanned(r) {
    $('text').value = fillPlaceholders(r.body, convs[active].c);
    cannedBox.hidden = true;
    cannedShown = [];
    $('text').focus();
  }

  // Availability: online gets chats assigned, away picks from the queue, offline neither.
  $('availability').onchange = function () {
    var status = $('availability').value;
    if (send({ type: 'presence', status: status })) setAvailability(status);
  };

  function setAvailability(status) {
    $('availability').value = status;
    $('availability').disabled = !ready;
    $('availability-dot').className = 'dot dot-' + status;
  }

  // Side data over HTTP ------------------------------------------------------------------------

  function getJSON(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } }).then(function (r) {
      if (r.status === 401) { location.assign('/console/signin?next=/console'); throw new Error('signed out'); }
      if (!r.ok) throw new Error(r.status);
      return r.json();
    });
  }

  function loadAgents(c) {
    if (!c || !holds(c)) return;
    var site = c.site;
    var done = function (list) {
      agentsBySite[site] = list;
      var select = $('transfer-to');
      select.textContent = '';
      select.append(new Option(t('transfer_to'), ''));
      list.forEach(function (a) {
        if (c.agent && a.id === c.agent.id) return;
        select.append(new Option(a.name + ' · ' + t(a.status), a.id));
      });
    };
    if (agentsBySite[site]) return done(agentsBySite[site]);
    getJSON('/console/api/agents?site=' + encodeURIComponent(site)).then(function (r) { done(r.agents); }).catch(function () {});
  }

  function loadCanned(c) {
    if (!c || cannedBySite[c.site]) return;
    getJSON('/console/api/canned?site=' + encodeURIComponent(c.site)).then(function (r) {
      cannedBySite[c.site] = r.canned;
    }).catch(function () {});
  }

  var rtf = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(locale, { numeric: 'auto' }) : null;
  function ago(ms) {
    var seconds = (ms - Date.now()) / 1000;
    var units = [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60]];
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(seconds) >= units[i][1] || units[i][0] === 'minute') {
        var n = Math.round(seconds / units[i][1]);
        return rtf ? rtf.format(n, units[i][0]) : new Date(ms).toLocaleString(locale);
      }
    }
    return '';
  }

  function when(ms) {
    var span = el('span', 'past-when', ago(ms));
    span.dataset.at = ms;
    return span;
  }
  // "2 minutes ago" becomes "3 minutes ago", "this morning" "yesterday", without a reload.
  setInterval(function () {
    d.querySelectorAll('#customer .past-when[data-at]').forEach(function (span) { span.textContent = ago(+span.dataset.at); });
    d.querySelectorAll('#customer .past-channel').forEach(function (span) {
      if (span.said) span.textContent = window.CSConsole.said(span.said, locale);
    });
  }, 30000);

  function loadCustomer(c) {
    var contact = c && c.contact;
    if (!contact) return;
    $('cust-name').textContent = name(c);
    $('cust-avatar').textContent = name(c).trim().charAt(0).toUpperCase();
    $('cust-facts').textContent = '';
    $('cust-history').textContent = '';
    getJSON('/console/api/contacts/' + encodeURIComponent(contact.id)).then(function (r) {
      if (!active || convs[active].c.contact.id !== contact.id) return;
      var facts = $('cust-facts');
      facts.textContent = '';
      r.facts.forEach(function (f) {
        var value = f.key === 'verified' ? tk('verified_', f.value) : f.value;
        facts.append(el('dt', null, tk('fact_', f.key)), el('dd', null, value));
      });
      var history = $('cust-history');
      history.textContent = '';
      // The customer's chats still open come first (another may need an answer too), then
      // the rest newest first; each opens where it is handled.
      var live = function (h) { return h.kind === 'chat' && h.status !== 'closed' ? 0 : 1; };
      r.conversations.slice().sort(function (a, b) { return live(a) - live(b); }).forEach(function (h) {
        if (h.id === c.id) return;
        var li = el('li', 'past');
        var line = el('span', 'past-top');
        var channel = el('span', 'past-channel', window.CSConsole.said(h, locale));
        channel.said = h;
        line.append(channel);
        if (!live(h)) line.append(el('span', 'pill pill-' + h.status, tk('status_', h.status)));
        var go = el('a', 'past-text', h.summary || '…');
        go.href = h.kind === 'chat' ? '#c=' + h.id : '/console/tickets#' + h.id;
        if (h.kind === 'chat') go.onclick = function (e) { e.preventDefault(); openChat(h.id); };
        li.append(line, go);
        if (h.rating) li.append(el('span', 'pill pill-' + h.rating, tk('rating_', h.rating)));
        history.append(li);
      });
      $('cust-history-empty').hidden = history.children.length > 0;
      var articles = $('cust-articles');
      articles.textContent = '';
      (r.articles || []).forEach(function (a) {
        var li = el('li', 'past');
        li.append(el('span', 'past-text', a.title), when(a.viewed_at));
        articles.append(li);
      });
      $('cust-articles-box').hidden = !articles.children.length;
      var searches = $('cust-searches');
      searches.textContent = '';
      (r.searches || []).forEach(function (q) {
        var li = el('li', 'past');
        li.append(el('span', 'past-text', q.query), when(q.searched_at));
        searches.append(li);
      });
      $('cust-searches-box').hidden = !searches.children.length;
    }).catch(function () {});
  }

  // Alerts: sound, tab title and the Notification API ------------------------------------------

  var baseTitle = d.title;
  var flashing = 0;
  function updateTitle() {
    var count = 0;
    for (var id in convs) {
      var c = convs[id].c;
      if (c && c.status === 'queued') count += 1;
      else if (open(c) && id !== active && unread(convs[id])) count += 1;
    }
    d.title = (count ? '(' + count + ') ' : '') + (flashing ? '● ' : '') + baseTitle;
  }

  function flashTitle() {
    if (d.visibilityState === 'visible') return;
    flashing = 1;
    updateTitle();
  }

  var audio = null;
  function chime() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      [660, 880].forEach(function (hz, i) {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        var at = audio.currentTime + i * 0.16;
        osc.frequency.value = hz;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.3);
        osc.connect(gain).connect(audio.destination);
        osc.start(at);
        osc.stop(at + 0.32);
      });
    } catch (err) { /* no audio device: the title and notification still tell */ }
  }

  function alertNew(c, text) {
    var s = state(c.id);
    if (s.alerted === c.status + (c.agent ? c.agent.id : '')) return;
    s.alerted = c.status + (c.agent ? c.agent.id : '');
    chime();
    flashTitle();
    if (window.Notification && Notification.permission === 'granted' && d.visibilityState !== 'visible') {
      var note = new Notification(text, { body: s.firstText || '', tag: c.id });
      note.onclick = function () { window.focus(); openTab(c.id, true); note.close(); };
    }
  }

  if (window.Notification && Notification.permission === 'default') {
    $('alerts-enable').hidden = false;
    $('alerts-enable').onclick = function () {
      Notification.requestPermission().then(function () { $('alerts-enable').hidden = true; });
    };
  }

  d.addEventListener('visibilitychange', function () {
    if (d.visibilityState === 'visible') {
      flashing = 0;
      if (active) markRead(active);
      updateTitle();
    }
  });

  // Banner and toast ---------------------------------------------------------------------------

  function banner(text) {
    $('banner').textContent = text;
    $('banner').hidden = !text;
  }

  var toastTimer = null;
  function toast(text) {
    $('toast').textContent = text;
    $('toast').hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { $('toast').hidden = true; }, 5000);
  }

  window.CSInbox = {
    me: me, locale: locale, t: t, el: el, send: send, toast: toast, getJSON: getJSON,
    active: function () { return active; },
    conversation: function (id) { return convs[id] && convs[id].c; },
    holds: holds, renderTranscript: renderTranscript,
    on: function (type, fn) { ext.handlers[type] = fn; },
    items: function (fn) { ext.items.push(fn); },
    onRender: function (fn) { ext.render.push(fn); },
    clientId: clientId
  };

  // Connect once every deferred console script has registered its handlers.
  if (d.readyState === 'complete') connect();
  else d.addEventListener('DOMContentLoaded', connect);
}());
