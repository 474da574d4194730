/* chatserver panel: loaded by loader.js (served as /widget.js), never embedded directly.
   Talks protocol v1 (docs/protocol.md) over one WebSocket; docs/widget.md for the API. */
(function () {
  'use strict';
  var w = window, d = document, ctx = w.chatserver && w.chatserver._ctx;
  if (!ctx || ctx.started) return;
  ctx.started = true;

  // The visitor's language, put in by the server from the catalogues (chatserver/i18n.py):
  // the languages there are, one language's strings, and the sites' default greeting.
  var I18N = __I18N__, STRINGS = {};
  STRINGS[I18N.lang] = I18N.strings;
  var ICONS = {
    more: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M5 12h.01M12 12h.01M19 12h.01" stroke-width="3"/></svg>',
    close: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>',
    list: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 6h16M4 12h16M4 18h10"/></svg>',
    send: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 12l16-8-6 16-2-6z"/></svg>',
    clip: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M20 11l-8 8a5 5 0 0 1-7-7l8-8a3 3 0 0 1 5 5l-8 8a1 1 0 0 1-3-3l7-7"/></svg>',
    sound: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 9h4l5-4v14l-5-4H4z"/><path class="cs-wave" d="M16 9a4 4 0 0 1 0 6M18.5 6.5a8 8 0 0 1 0 11"/></svg>',
    // Drawn: emoji are empty boxes where no emoji font is installed.
    thumb: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 10h4v10H3zM7 10l4-8c1.4 0 2.5 1.1 2.5 2.5V9H19a2 2 0 0 1 2 2.3l-1.2 7a2 2 0 0 1-2 1.7H7"/></svg>'
  };
  var CSS =
    '*,*::before,*::after{box-sizing:border-box}' +
    '.cs-launcher{transition:transform .15s}.cs-launcher:hover{transform:scale(1.06)}.cs-launcher:focus-visible{outline:3px solid #111;outline-offset:3px}' +
    '.cs-badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#dc2626;color:#fff;font:700 12px/20px system-ui,sans-serif;text-align:center}.cs-badge:empty{display:none}' +
    '.cs-panel{position:fixed;bottom:88px;right:20px;width:372px;height:min(600px,calc(100vh - 108px));display:flex;flex-direction:column;' +
    'background:#fff;color:#1f2937;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;text-align:left;border-radius:16px;overflow:hidden;' +
    'box-shadow:0 12px 40px rgba(15,23,42,.22),0 2px 6px rgba(15,23,42,.08);animation:cs-in .18s ease-out}' +
    '.cs-left .cs-panel{right:auto;left:20px}.cs-panel[hidden]{display:none}' +
    '@keyframes cs-in{from{opacity:0;transform:translateY(12px) scale(.98)}}' +
    '.cs-head{display:flex;align-items:center;gap:10px;padding:14px 12px 14px 16px;background:var(--cs-color);color:var(--cs-on)}' +
    '.cs-avatar{flex:none;width:36px;height:36px;border-radius:50%;background:rgba(255,255,255,.22);display:flex;align-items:center;justify-content:center;font-weight:700;font-size:15px;position:relative}' +
    '.cs-avatar::after{content:"";position:absolute;right:0;bottom:0;width:10px;height:10px;border-radius:50%;background:#9ca3af;box-shadow:0 0 0 2px var(--cs-color)}' +
    '.cs-on .cs-avatar::after{background:#22c55e}' +
    '.cs-titles{flex:1;min-width:0}.cs-title{margin:0;font-size:16px;font-weight:650;line-height:1.25;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}' +
    '.cs-sub{font-size:12.5px;opacity:.88;line-height:1.3}' +
    '.cs-icon{flex:none;width:34px;height:34px;border:0;border-radius:8px;background:transparent;color:inherit;cursor:pointer;display:flex;align-items:center;justify-content:center;padding:0}' +
    '.cs-icon:hover{background:rgba(255,255,255,.16)}.cs-icon svg{width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}' +
    '.cs-icon[aria-pressed=false] .cs-wave{opacity:.25}' +
    '.cs-banner{padding:6px 12px;background:#fef3c7;color:#78350f;font-size:12.5px;text-align:center}.cs-banner:empty{display:none}' +
    '.cs-log{flex:1;overflow-y:auto;padding:16px 14px 8px;background:#f8fafc;display:flex;flex-direction:column;gap:4px;overscroll-behavior:contain}' +
    '.cs-row{display:flex;flex-direction:column;align-items:flex-start;max-width:100%}.cs-me{align-items:flex-end}.cs-sys{align-items:center}' +
    '.cs-who{font-size:11.5px;color:#6b7280;margin:8px 0 2px 4px}' +
    '.cs-bubble{max-width:82%;padding:8px 12px;border-radius:16px 16px 16px 4px;background:#fff;border:1px solid #e5e7eb;white-space:pre-wrap;overflow-wrap:anywhere}' +
    '.cs-me .cs-bubble{background:var(--cs-color);color:var(--cs-on);border-color:transparent;border-radius:16px 16px 4px 16px}' +
    '.cs-me.cs-pending .cs-bubble{opacity:.7}.cs-me.cs-failed .cs-bubble{background:#fee2e2;color:#7f1d1d}' +
    '.cs-bubble a{color:inherit;text-decoration:underline}' +
    '.cs-sys .cs-bubble{background:transparent;border:0;color:#6b7280;font-size:12.5px;padding:6px 0;text-align:center}' +
    '.cs-meta{font-size:11px;color:#6b7280;margin:2px 4px 4px}' +
    '.cs-card{background:#fff;border:1px solid #e5e7eb;border-radius:12px;padding:12px;margin:6px 0;font-size:13.5px;align-self:stretch}' +
    '.cs-card p{margin:0 0 8px}.cs-card ul{list-style:none;margin:0 0 10px;padding:0}.cs-card li{padding:6px 0;border-top:1px solid #f1f5f9}' +
    '.cs-card li a{font-weight:600;color:#1d4ed8;text-decoration:none}.cs-card li a:hover{text-decoration:underline}' +
    '.cs-snip{display:block;color:#4b5563;font-size:12.5px}mark{background:#fef08a;color:inherit;border-radius:2px}' +
    '.cs-ans{color:#374151;font-size:13px;margin-top:4px}.cs-ans p{margin:0 0 4px}.cs-ans ol,.cs-ans ul{margin:4px 0;padding-left:20px;list-style:revert}' +
    '.cs-ans li{border:0!important;padding:1px 0!important}.cs-ans a{font-weight:400!important}.cs-more{font:inherit;font-size:12px;border:0;background:none;color:#1d4ed8;cursor:pointer}' +
    '.cs-strip{padding:8px 14px;border-top:1px solid #e5e7eb;font-size:13px;max-height:40%;overflow-y:auto}.cs-strip>p{margin:0;color:#6b7280;font-size:12px}' +
    '.cs-strip ul{list-style:none;margin:0;padding:0}.cs-strip li a{font-weight:600;color:#1d4ed8;text-decoration:none}' +
    '.cs-actions{display:flex;gap:8px;flex-wrap:wrap}' +
    '.cs-btn{font:inherit;font-size:13px;font-weight:600;padding:7px 12px;border-radius:8px;border:1px solid var(--cs-color);background:var(--cs-color);color:var(--cs-on);cursor:pointer}' +
    '.cs-btn.cs-ghost{background:#fff;color:#1f2937;border-color:#d1d5db}.cs-btn:disabled{opacity:.5;cursor:default}' +
    '.cs-btn svg{width:16px;height:16px;margin:0 6px -3px 0;fill:none;stroke:currentColor;stroke-width:2}.cs-bad svg{transform:scaleY(-1)}.cs-launcher.cs-off{filter:grayscale(1);opacity:.75}' +
    '.cs-field{display:block;margin:0 0 8px}.cs-field span{display:block;font-size:12px;color:#4b5563;margin-bottom:2px}' +
    '.cs-field input,.cs-field textarea{width:100%;font:inherit;padding:7px 9px;border:1px solid #d1d5db;border-radius:8px;background:#fff;color:#111}' +
    '.cs-err{color:#b91c1c}.cs-typing{min-height:22px;padding:0 18px;font-size:12px;color:#6b7280;background:#f8fafc}' +
    '.cs-dots i{display:inline-block;width:5px;height:5px;margin-right:3px;border-radius:50%;background:#9ca3af;animation:cs-dot 1s infinite}' +
    '.cs-dots i:nth-child(2){animation-delay:.15s}.cs-dots i:nth-child(3){animation-delay:.3s;margin-right:6px}' +
    '@keyframes cs-dot{50%{transform:translateY(-3px);opacity:.5}}' +
    '.cs-notice{padding:10px 14px;border-top:1px solid #e5e7eb;background:#fff;font-size:13px}.cs-notice:empty{display:none}.cs-notice p{margin:0 0 8px}' +
    '.cs-compose{display:flex;align-items:flex-end;gap:8px;padding:10px 10px 10px 14px;border-top:1px solid #e5e7eb;background:#fff}' +
    '.cs-input{flex:1;resize:none;border:0;outline:0;font:inherit;color:#111;background:transparent;max-height:120px;min-height:22px;padding:6px 0;margin:0}' +
    '.cs-send{width:38px;height:38px;border-radius:50%;background:var(--cs-color);color:var(--cs-on)}.cs-send:hover{background:var(--cs-color);filter:brightness(1.08)}' +
    '.cs-send svg{fill:currentColor;stroke:none;width:18px;height:18px}.cs-clip{color:#6b7280}.cs-file::before{content:"\\2193  "}.cs-clip:hover{background:#f1f5f9}' +
    '.cs-img{display:block;max-width:100%;max-height:220px;border-radius:8px;margin:2px 0}.cs-drop .cs-log{outline:3px dashed var(--cs-color);outline-offset:-6px}' +
    '.cs-chats{flex:1;overflow-y:auto;padding:12px;background:#f8fafc;display:none;flex-direction:column;gap:6px}.cs-listing .cs-chats{display:flex}' +
    '.cs-listing .cs-log,.cs-listing .cs-typing,.cs-listing .cs-notice,.cs-listing .cs-compose{display:none}' +
    '.cs-chat{font:inherit;text-align:left;padding:9px 12px;border:1px solid #e5e7eb;border-radius:12px;background:#fff;color:#4b5563;cursor:pointer}' +
    '.cs-chat span{display:block;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.cs-live{color:#111;font-weight:600;border-left:3px solid var(--cs-color)}.cs-when{font-size:11.5px;color:#6b7280;font-weight:400}' +
    '.cs-new{position:relative}.cs-new::after{content:"";position:absolute;top:5px;right:5px;width:8px;height:8px;border-radius:50%;background:#dc2626}' +
    '.cs-foot{text-align:center;font-size:11px;color:#9ca3af;padding:0 0 6px;background:#fff}' +
    ':focus-visible{outline:3px solid #f59e0b;outline-offset:2px}.cs-input:focus-visible{outline:0}.cs-compose:focus-within{box-shadow:inset 0 2px 0 var(--cs-color)}' +
    '.cs-hide{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}' +
    '.cs-peek{position:fixed;bottom:88px;right:20px;max-width:280px;padding:10px 34px 10px 14px;background:#fff;color:#1f2937;font:14px/1.4 system-ui,sans-serif;border-radius:14px 14px 4px 14px;box-shadow:0 8px 28px rgba(15,23,42,.2);cursor:pointer;animation:cs-in .18s ease-out;white-space:pre-wrap;overflow-wrap:anywhere}' +
    '.cs-left .cs-peek{right:auto;left:20px;border-radius:14px 14px 14px 4px}.cs-peek[hidden]{display:none}.cs-peek .cs-who{margin:0 0 2px}.cs-peek .cs-icon{position:absolute;top:4px;right:4px;width:26px;height:26px;color:#6b7280}.cs-peek .cs-icon svg{width:14px;height:14px}' +
    '@media (max-width:640px){.cs-panel,.cs-left .cs-panel{inset:0;width:auto;height:auto;border-radius:0}.cs-launcher.cs-opened{display:none}}' +
    '@media (prefers-reduced-motion:reduce){.cs-panel,.cs-dots i{animation:none}.cs-launcher{transition:none}}';

  var KEY = 'chatserver:' + ctx.key, root = ctx.root, emit = ctx.emit, launcher = ctx.launcher;
  var store = read();
  store.outbox = store.outbox || [];
  store.ui = store.ui || {};
  var settings = { color: store.ui.color, locale: store.ui.locale, position: store.ui.position, greeting: store.ui.greeting };
  var siteName = store.ui.name || '', locale, T;

  function read() {
    try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { return {}; }
  }
  function save() {
    store.ui.active = !!(store.conv || store.outbox.length || store.open);
    try { localStorage.setItem(KEY, JSON.stringify(store)); } catch (e) { /* storage full or blocked: keep going in memory */ }
  }
  function t(key, vars) {
    return fill(T[key] || key, vars || {});
  }
  // A counted text: the catalogues' languages use the singular for exactly one (i18n.py).
  function tn(key, num) {
    return fill((T[key] || [key, key])[num === 1 ? 0 : 1], { num: num });
  }
  function fill(text, vars) {
    return text.replace(/%\((\w+)\)s|%%/g, function (all, name) { return name ? vars[name] : '%'; });
  }
  function pickLocale() {
    var wanted = [store.locale, ctx.data.locale, navigator.language, settings.locale];
    for (var i = 0; i < wanted.length; i++) {
      var l = String(wanted[i] || '').slice(0, 2).toLowerCase();
      if (I18N.locales.indexOf(l) >= 0) return l;
    }
    return 'en';
  }

  // DOM helpers: everything a person typed goes in through textContent.
  function el(tag, cls, text, attrs) {
    var e = d.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
  }
  function icon(name, cls, label) {
    var b = el('button', 'cs-icon ' + cls, null, { type: 'button', 'aria-label': label });
    // a constant above, never visitor text
    b.innerHTML = ICONS[name];
    return b;
  }
  function httpUrl(text) {
    try {
      var u = new URL(text);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch (e) { return null; }
  }
  function link(href, text) {
    return el('a', null, text, { href: href, target: '_blank', rel: 'noopener noreferrer' });
  }
  // Text with http(s) links made clickable; anything else (javascript:, data:) stays text.
  function richText(parent, text) {
    var re = /\bhttps?:\/\/[^\s<>"']+/gi, at = 0, m;
    while ((m = re.exec(text))) {
      var raw = m[0].replace(/[.,;:!?)\]]+$/, ''), href = httpUrl(raw);
      if (!href) continue;
      parent.appendChild(d.createTextNode(text.slice(at, m.index)));
      parent.appendChild(link(href, raw));
      at = m.index + raw.length;
      re.lastIndex = at;
    }
    parent.appendChild(d.createTextNode(text.slice(at)));
  }
  // Search snippets mark matches as [[word]]; each becomes a <mark> built by the DOM.
  function marked(parent, text) {
    String(text).split(/\[\[|\]\]/).forEach(function (part, i) {
      parent.appendChild(i % 2 ? el('mark', null, part) : d.createTextNode(part));
    });
  }
  function idFor() {
    var a = new Uint8Array(12);
    (w.crypto || w.msCrypto).getRandomValues(a);
    return 'w' + Array.prototype.map.call(a, function (b) { return (b % 36).toString(36); }).join('');
  }
  function clock(ms) {
    return new Date(ms || Date.now()).toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' });
  }

  // ---- the panel -------------------------------------------------------------------------
  var style = el('style', null, CSS);
  var panel = el('div', 'cs-panel', null, { role: 'dialog', 'aria-modal': 'false', hidden: '' });
  var head = el('div', 'cs-head');
  var avatar = el('div', 'cs-avatar', null, { 'aria-hidden': 'true' });
  var titles = el('div', 'cs-titles');
  var title = el('h2', 'cs-title', null, { id: 'cs-title' });
  var sub = el('div', 'cs-sub');
  var soundBtn = icon('sound', 'cs-sound', ''), listBtn = icon('list', 'cs-list', ''), chats = el('nav', 'cs-chats');
  var closeBtn = icon('close', 'cs-x', '');
  var banner = el('div', 'cs-banner', null, { role: 'status' });
  var log = el('div', 'cs-log', null, { role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: '0' });
  var typingRow = el('div', 'cs-typing', null, { 'aria-hidden': 'true' });
  var notice = el('div', 'cs-notice', null, { 'aria-live': 'polite' });
  var form = el('form', 'cs-compose');
  var input = el('textarea', 'cs-input', null, { rows: '1', maxlength: '5000' });
  var sendBtn = icon('send', 'cs-send', '');
  sendBtn.type = 'submit';
  var clipBtn = icon('clip', 'cs-clip', ''), fileIn = el('input', 'cs-hide', null, { type: 'file', multiple: '', tabindex: '-1' });
  var foot = el('div', 'cs-foot', 'chatserver');
  var greetingRow = el('div', 'cs-row cs-them cs-greeting');
  var greetingBubble = el('div', 'cs-bubble');
  greetingRow.appendChild(greetingBubble);
  panel.setAttribute('aria-labelledby', 'cs-title');
  titles.append(title, sub);
  head.append(avatar, titles, listBtn, soundBtn, closeBtn);
  log.appendChild(greetingRow);
  form.append(clipBtn, input, sendBtn, fileIn);
  panel.append(head, banner, chats, log, typingRow, notice, form, foot);
  var wrap = el('div');
  wrap.appendChild(panel);
  root.append(style, wrap);

  // Conversation state; the store holds what must survive a reload.
  var conv = store.conv || null, status = null, agentName = null, agentsOnline = true;
  var lastSeq = 0, upTo = 0, filling = false, bySeq = {}, byCid = {}, emitted = {}, mine = [], starting = null, features = [], suggested = null;
  var maxChars = 5000, unread = 0, typingTimer = null, typingSent = false, typingOff = null;
  var ws = null, live = false, tries = 0, retryTimer = null, beat = null, lastFrame = 0, blocked = false, connecting = false;
  var baseTitle = null, audio = null;

  function fetchStrings(l) {
    STRINGS[l] = T;
    fetch(ctx.base + '/widget/strings/' + l + '.json?v=__VERSION__', { credentials: 'omit' })
      .then(function (r) { return r.json(); })
      .then(function (table) { STRINGS[l] = table; relabel(); }, function () { delete STRINGS[l]; });
  }

  function applySettings(s) {
    s = s || {};
    for (var k in s) settings[k] = s[k];
    var color = /^#[0-9a-f]{6}$/i.test(settings.color || '') ? settings.color : '#2563eb';
    var r = parseInt(color.slice(1, 3), 16), g = parseInt(color.slice(3, 5), 16), b = parseInt(color.slice(5, 7), 16);
    var on = 0.299 * r + 0.587 * g + 0.114 * b > 170 ? '#111827' : '#ffffff';
    [panel, launcher].forEach(function (x) {
      x.style.setProperty('--cs-color', color);
      x.style.setProperty('--cs-on', on);
    });
    wrap.className = (ctx.data.position || settings.position) === 'left' ? 'cs-left' : '';
    store.ui.color = color;
    store.ui.position = settings.position;
    store.ui.locale = settings.locale;
    store.ui.greeting = settings.greeting;
    relabel();
  }
  function relabel() {
    locale = pickLocale();
    T = STRINGS[locale] || T || I18N.strings;
    // Another language than the one served (chatserver('locale', …), the site's setting):
    // its strings come once, then the panel is labelled again.
    if (!STRINGS[locale]) fetchStrings(locale);
    panel.setAttribute('lang', locale);
    title.textContent = siteName || t('widget_chat');
    avatar.textContent = (siteName || 'C').trim().charAt(0).toUpperCase();
    // The site's greeting is written in the site's language; other languages get ours, and
    // so does a site that kept the (English) default greeting.
    var own = settings.greeting && settings.greeting !== I18N.greeting && (settings.locale || 'en').slice(0, 2) === locale;
    greetingBubble.textContent = own ? settings.greeting : t('widget_greeting');
    input.setAttribute('placeholder', t('widget_placeholder'));
    input.setAttribute('aria-label', t('widget_placeholder'));
    sendBtn.setAttribute('aria-label', t('widget_send'));
    clipBtn.setAttribute('aria-label', t('widget_attach'));
    closeBtn.setAttribute('aria-label', t('widget_close'));
    listBtn.setAttribute('aria-label', t('widget_chats'));
    chats.setAttribute('aria-label', t('widget_chats'));
    labelMenu();
    launcher.setAttribute('aria-label', t('widget_open'));
    log.setAttribute('aria-label', t('widget_messages'));
    soundBtn.setAttribute('aria-pressed', String(store.sound !== false));
    soundBtn.setAttribute('aria-label', store.sound !== false ? t('widget_sound_on') : t('widget_sound_off'));
    mine.forEach(paintState);
    showStatus();
  }

  // ---- messages --------------------------------------------------------------------------
  function place(row, seq) {
    if (seq) {
      row.setAttribute('data-seq', seq);
      for (var n = greetingRow.nextSibling; n; n = n.nextSibling) {
        var s = +n.getAttribute('data-seq');
        if (!s || s > seq) return log.insertBefore(row, n);
      }
    }
    log.appendChild(row);
  }
  function addRow(kind, author, text, seq, when) {
    var row = el('div', 'cs-row cs-' + kind);
    var prev = log.lastChild;
    // Notes of ours (an agent joined) sit after the message they follow, not at the end.
    if (kind === 'sys') seq = lastSeq + 0.5;
    if (kind === 'them' && !(prev && prev.getAttribute('data-author') === author)) {
      row.appendChild(el('div', 'cs-who', author || t('widget_someone')));
    }
    row.setAttribute('data-author', author || '');
    var bubble = row.bubble = el('div', 'cs-bubble');
    richText(bubble, text);
    row.appendChild(bubble);
    var meta = el('div', 'cs-meta', kind === 'sys' ? '' : clock(when));
    if (kind !== 'sys') row.appendChild(meta);
    row.meta = meta;
    row.when = when;
    place(row, seq);
    scroll();
    return row;
  }
  function scroll() {
    log.scrollTop = log.scrollHeight;
  }
  function paintState(row) {
    // sending, queued, sent, delivered, read (i18n.BUILT_KEYS)
    var s = row.state, key = 'widget_' + s;
    var label = s === 'failed' ? t('widget_failed', { error: row.error || '' }) : t(key);
    row.className = 'cs-row cs-me' + (s === 'sending' || s === 'queued' ? ' cs-pending' : '') + (s === 'failed' ? ' cs-failed' : '');
    row.meta.textContent = (row.when ? clock(row.when) + ' · ' : '') + label;
  }
  function setState(row, s) {
    var rank = { queued: 0, sending: 1, sent: 2, delivered: 3, read: 4, failed: 5 };
    if (row.state && rank[s] < rank[row.state] && s !== 'sending' && row.state !== 'queued') return;
    row.state = s;
    paintState(row);
  }
  function pendingRow(item) {
    var row = addRow('me', '', item.text, 0, 0);
    row.cid = item.cid;
    byCid[item.cid] = row;
    mine.push(row);
    setState(row, live ? 'sending' : 'queued');
    return row;
  }
  function onMessage(m) {
    if (m.conversation !== conv) return elsewhere(m);
    if (!bySeq[m.seq]) show(m);
    announce(m);
  }
  function announce(m) {
    if (emitted[m.seq]) return;
    emitted[m.seq] = true;
    emit('message', { conversation: m.conversation, seq: m.seq, author: { kind: m.author.kind, name: m.author.name }, text: m.text });
  }
  function show(m) {
    var kind = m.author.kind === 'visitor' ? 'me' : m.author.kind === 'system' ? 'sys' : 'them';
    var row = m.client_id && byCid[m.client_id];
    if (row) {
      row.when = m.created_at;
      place(row, m.seq);
    } else {
      row = addRow(kind, m.author.name, m.text, m.seq, m.created_at);
      if (kind === 'me') mine.push(row);
    }
    if (m.files) showFiles(row, m.files);
    row.seq = m.seq;
    bySeq[m.seq] = row;
    lastSeq = Math.max(lastSeq, m.seq);
    stored(m.seq);
    if (kind === 'me') setState(row, m.seq <= (store.agentRead || 0) ? 'read' : 'sent');
    if (kind !== 'them') return;
    showTyping(null);
    if (m.seq <= (store.seen || 0)) return;
    if (isRead()) return markRead();
    send({ type: 'receipt', conversation: conv, seq: m.seq, status: 'delivered' });
    setUnread(unread + 1);
    if (panel.hidden) peek(m.text, m.author.name);
    if (synced) ding();
  }
  // Resume from the highest seq below which nothing is missing (upTo), never from the highest
  // seen, own acks included: a frame lost between server processes would be skipped for good.
  // A gap is filled by a sync at once.
  function stored(seq) {
    while (bySeq[upTo + 1]) upTo++;
    if (seq > upTo + 1 && conv && !filling) {
      filling = true;
      send({ type: 'sync', conversation: conv, after: upTo });
    }
  }
  function onReceipt(side, statusName, seq) {
    if (side !== 'agent') return;
    if (statusName === 'read') store.agentRead = Math.max(store.agentRead || 0, seq);
    mine.forEach(function (row) { if (row.seq && row.seq <= seq) setState(row, statusName); });
  }
  function isRead() {
    return !panel.hidden && d.visibilityState === 'visible';
  }
  function markRead() {
    var top = 0;
    for (var s in bySeq) if (bySeq[s].className.indexOf('cs-them') >= 0) top = Math.max(top, +s);
    if (top > (store.seen || 0)) {
      store.seen = top;
      save();
      send({ type: 'receipt', conversation: conv, seq: top, status: 'read' });
    }
    setUnread(0);
  }
  function setUnread(n) {
    if (n === unread) return;
    unread = n;
    var badge = launcher.querySelector('.cs-badge');
    badge.textContent = n ? (n > 9 ? '9+' : String(n)) : '';
    launcher.setAttribute('aria-label', t('widget_open') + (n ? ' (' + tn('widget_unread', n) + ')' : ''));
    var clean = d.title.replace(/^\(\d+\+?\) /, '');
    d.title = n ? '(' + n + ') ' + clean : clean;
    emit('unread', { count: n });
  }
  function ding() {
    if (store.sound === false || (isRead() && d.hasFocus())) return;
    try {
      audio = audio || new (w.AudioContext || w.webkitAudioContext)();
      var o = audio.createOscillator(), g = audio.createGain(), now = audio.currentTime;
      o.frequency.setValueAtTime(880, now);
      o.frequency.setValueAtTime(1320, now + 0.09);
      g.gain.setValueAtTime(0.06, now);
      g.gain.exponentialRampToValueAtTime(0.0001, now + 0.3);
      o.connect(g);
      g.connect(audio.destination);
      o.start(now);
      o.stop(now + 0.3);
    } catch (e) { /* no audio on this device */ }
  }
  function showTyping(name) {
    clearTimeout(typingOff);
    typingRow.textContent = '';
    if (!name) return;
    var dots = el('span', 'cs-dots');
    dots.append(el('i'), el('i'), el('i'));
    typingRow.append(dots, d.createTextNode(t('widget_typing', { name: name })));
    // An agent whose socket dropped never says "stopped": forget the indicator after a while.
    typingOff = setTimeout(showTyping, 8000);
  }

  // ---- status line and notices -------------------------------------------------------------
  // The notice is drawn afresh on every change (queue moves, agents come and go); draft keeps
  // what the visitor was typing in its fields, and focus stays where it was.
  var draft = {}, formError = '', instead = false, wantTranscript = false;
  function showStatus() {
    var had = root.activeElement, keep = had && notice.contains(had) && had.name;
    [].forEach.call(notice.querySelectorAll('[name]'), function (i) { draft[i.name] = i.value; });
    var offline = !agentsOnline || !openNow || blocked;
    panel.classList.toggle('cs-on', !offline);
    launcher.classList.toggle('cs-off', blocked);
    input.disabled = sendBtn.disabled = blocked;
    // Nobody to answer: the email form, not a button that queues for no one.
    var person = suggested && suggested.querySelector('[name=person]');
    if (person) person.hidden = offline;
    sub.textContent = blocked ? t('widget_unavailable') : status === 'assigned' && agentName ? t('widget_chatting', { name: agentName })
      : !openNow ? (changeAt ? t('widget_closed_till', { when: when(changeAt) }) : t('widget_closed'))
      : status === 'queued' && agentsOnline ? t('widget_waiting')
      : agentsOnline ? t('widget_online') : t('widget_away');
    notice.textContent = '';
    if (blocked) return;
    if (proof) proofNotice();
    else if (status === 'closed') endedNotice();
    else if ((status === 'queued' || status === 'new') && (offline || instead)) {
      emailNotice(!openNow ? t('widget_closed_form') : offline ? t('widget_nobody') : t('widget_wait_email'));
    } else if (!conv && settings.prechat && settings.prechat !== 'off' && !(store.profile && store.profile.email)) {
      emailNotice(t('widget_prechat'), true);
    } else if (!conv && !openNow) {
      notice.appendChild(el('p', null, t('widget_closed_ask')));
    } else if (status === 'queued') {
      queueNotice();
    }
    var again = keep && notice.querySelector('[name="' + keep + '"]');
    if (again) again.focus();
  }
  function queueNotice() {
    var p = el('p'), q = queueInfo || {};
    if (q.position) p.textContent = t('widget_position', { n: q.position }) + ' ';
    if (q.wait_seconds) p.appendChild(d.createTextNode(t('widget_wait', { n: Math.max(1, Math.round(q.wait_seconds / 60)) })));
    if (p.textContent) notice.appendChild(p);
    // Tired of waiting: the chat becomes an email ticket (leave_email), the question kept.
    notice.appendChild(button(t('widget_instead'), function () { instead = true; showStatus(); }, 'cs-ghost', 'instead'));
  }
  var queueInfo = null;
  function field(label, type, value, key) {
    var f = el('label', 'cs-field'), i = el(type === 'area' ? 'textarea' : 'input', null, null, { name: key });
    if (type !== 'area') i.type = type;
    i.value = draft[key] != null ? draft[key] : value || '';
    f.append(el('span', null, label), i);
    f.input = i;
    return f;
  }
  function button(label, onclick, cls, key) {
    var b = el('button', 'cs-btn' + (cls ? ' ' + cls : ''), label, { type: 'button' });
    if (key) b.name = key;
    b.onclick = onclick;
    return b;
  }
  // One form for an address: before the chat (prechat: kept on the contact with the visitor
  // token) or to be answered by email (offline, closed, tired of waiting: leave_email).
  function emailNotice(text, prechat) {
    var profile = store.profile || {}, pending = asking('leave_email'), f = el('form');
    var name = field(t('widget_name'), 'text', profile.name, 'name');
    var email = field(t('widget_email'), 'email', profile.email || (store.ticket || {}).email, 'email');
    email.input.required = !prechat || settings.prechat === 'required';
    f.append(el('p', null, text), name, email);
    if (formError) f.appendChild(el('p', 'cs-err', formError, { role: 'alert' }));
    var go = el('button', 'cs-btn', pending ? t('widget_sending') : prechat ? t('widget_save') : t('widget_send'), { type: 'submit', name: 'go' });
    go.disabled = !!pending;
    f.appendChild(go);
    f.onsubmit = function (e) {
      e.preventDefault();
      if (!email.input.checkValidity()) return email.input.reportValidity();
      var who = { name: name.input.value.trim(), email: email.input.value.trim() };
      formError = '';
      if (prechat) {
        store.profile = who;
        save();
        fetchToken().catch(function () { /* sent again with the next token request */ });
        showStatus();
        return input.focus();
      }
      var frame = { type: 'leave_email', conversation: conv, email: who.email, client_id: idFor() };
      if (who.name) frame.name = who.name;
      ask(frame);
    };
    notice.append(f, verifyButton(email));
  }
  // A request whose answer must not be lost (leave_email, transcript): kept in the store and
  // sent again after a reconnect or reload until the server answers (a ticket, a transcript
  // event or an error); the server finds the first ticket or mail of a resend.
  function asking(type) {
    return store.ask && store.ask.type === type && store.ask.conversation === conv ? store.ask : null;
  }
  function ask(frame) {
    store.ask = frame;
    save();
    showStatus();
    if (live) send(frame);
    else connect();
  }
  function answered(type) {
    var was = asking(type);
    if (was) store.ask = null;
    return was;
  }
  function endedNotice() {
    var ticket = store.ticket && store.ticket.conversation === conv ? store.ticket : null;
    notice.appendChild(el('p', null, t('widget_ended')));
    if (ticket) {
      // Handed over to email: the answer comes by mail, with the transcript in it.
      notice.appendChild(el('p', null, t('widget_emailed', { email: ticket.email })));
    } else {
      // Thanked from then on, also after a reload.
      if (store.rated === conv) notice.appendChild(el('p', 'cs-thanks', t('widget_thanks'), { role: 'status' }));
      else if (features.indexOf('rating') >= 0) {
        var q = el('p', null, t('widget_rate')), box = el('div', 'cs-actions'), comment = field(t('widget_comment'), 'area', '', 'comment');
        ['good', 'bad'].forEach(function (score) {
          var b = button(t(score === 'good' ? 'widget_good' : 'widget_bad'), function () {
            send({ type: 'rate', conversation: conv, score: score, comment: comment.input.value.trim() });
            store.rated = conv;
            save();
            showStatus();
          }, 'cs-ghost cs-' + score);
          b.insertAdjacentHTML('afterbegin', ICONS.thumb);
          box.appendChild(b);
        });
        notice.append(q, comment, box);
      }
      if (features.indexOf('transcript') >= 0) transcriptNotice();
    }
    var row = el('div', 'cs-actions');
    row.appendChild(button(t('widget_again'), function () { newChat(); input.focus(); }));
    notice.appendChild(row);
  }
  function transcriptNotice() {
    var pending = asking('transcript');
    if (store.sentTo && store.sentTo.conversation === conv) {
      return notice.appendChild(el('p', null, t('widget_sent_to', { email: store.sentTo.email })));
    }
    if (!wantTranscript && !pending) {
      return notice.appendChild(button(t('widget_transcript'), function () { wantTranscript = true; showStatus(); }, 'cs-ghost', 'transcript'));
    }
    var f = el('form'), email = field(t('widget_email'), 'email', (store.profile || {}).email || (store.ticket || {}).email, 'tmail');
    email.input.required = true;
    var go = el('button', 'cs-btn', pending ? t('widget_sending') : t('widget_send'), { type: 'submit', name: 'tgo' });
    go.disabled = !!pending;
    f.append(el('p', null, t('widget_transcript')), email);
    if (formError) f.appendChild(el('p', 'cs-err', formError, { role: 'alert' }));
    f.appendChild(go);
    f.onsubmit = function (e) {
      e.preventDefault();
      if (!email.input.checkValidity()) return email.input.reportValidity();
      formError = '';
      ask({ type: 'transcript', conversation: conv, email: email.input.value.trim(), locale: locale, client_id: idFor() });
    };
    notice.append(f, verifyButton(email));
  }
  function onTicket(k) {
    answered('leave_email');
    // A ticket made of this chat (the visitor's address, or an agent's convert) is shown in it.
    if (k.conversation && k.email) store.ticket = { id: k.id, conversation: k.conversation, email: k.email };
    if (k.email) store.profile = { name: (store.profile || {}).name || '', email: k.email };
    instead = false;
    draft = {};
    save();
    showStatus();
  }
  // Business hours: the server says whether the site is open now and when that changes. At
  // that moment the panel changes too, then asks for the next change (a fresh visitor token
  // carries it), spread over half a minute so open pages do not all ask at once.
  var openNow = true, changeAt = 0, hoursTimer = null;
  function applyHours(f) {
    if (!('open_now' in f)) return;
    openNow = f.open_now !== false;
    var secs = f.next_change_in;
    changeAt = secs ? Date.now() + secs * 1000 : 0;
    clearTimeout(hoursTimer);
    if (!secs) return;
    // timers overflow past 24.8 days; a day is plenty
    var due = Math.min(secs, 86400);
    hoursTimer = setTimeout(function () {
      if (due === secs) { openNow = !openNow; changeAt = 0; showStatus(); }
      setTimeout(function () { fetchToken().then(showStatus, function () { /* next connect */ }); }, Math.random() * 30000);
    }, due * 1000);
  }
  function when(ms) {
    return new Date(ms).toLocaleString(locale, { weekday: 'long', hour: '2-digit', minute: '2-digit' });
  }
  function newChat() {
    store.lastConv = conv;
    conv = store.conv = null;
    status = null;
    agentName = null;
    instead = wantTranscript = false;
    formError = '';
    draft = {};
    queueInfo = store.ask = store.cards = null;
    store.seen = store.agentRead = 0;
    lastSeq = upTo = 0;
    filling = false;
    bySeq = {};
    byCid = {};
    emitted = {};
    mine = [];
    while (greetingRow.nextSibling) log.removeChild(greetingRow.nextSibling);
    save();
    showStatus();
  }
  // ---- the visitor's conversations: open ones first, any of them continued, or a new one ----
  var listing = false, picked = false;
  function showList(on) {
    listing = on;
    panel.classList.toggle('cs-listing', on);
    listBtn.setAttribute('aria-expanded', String(on));
    chats.textContent = '';
    if (on) { listBtn.classList.remove('cs-new'); connect(); send({ type: 'conversations' }); }
  }
  listBtn.onclick = function () { showList(!listing); };
  // An answer in another of the visitor's open chats (one this page started or showed): a dot
  // on the list button and the tone, as for the chat in view.
  function elsewhere(m) {
    if (m.author.kind !== 'agent') return;
    listBtn.classList.add('cs-new');
    ding();
  }
  function onList(list) {
    if (!listing) return;
    chats.textContent = '';
    chats.append(el('h3', 'cs-who', t('widget_chats')), button(t('widget_again'), function () { showList(false); newChat(); input.focus(); }, '', 'new'));
    list.forEach(function (c) {
      var last = c.last || {}, b = el('button', 'cs-chat' + (c.status === 'closed' ? '' : ' cs-live'), null, { type: 'button' });
      var who = last.author === 'agent' && c.agent ? c.agent.name + ': ' : '';
      b.append(el('span', null, who + (last.text || '…')), el('span', 'cs-when', ago(c.updated_at) + (c.status === 'closed' ? ' · ' + t('widget_ended_short') : '')));
      b.onclick = function () { pick(c.id); };
      chats.appendChild(b);
    });
  }
  function pick(id) {
    showList(false);
    picked = true;
    input.focus();
    if (id === conv) return;
    newChat();
    conv = store.conv = id;
    save();
    send({ type: 'sync', conversation: conv, after: 0 });
  }
  // Under a minute is "now": a list is no stopwatch.
  function ago(ms) {
    var n = (ms - Date.now()) / 1000, u = 'second', units = { minute: 60, hour: 3600, day: 86400, week: 604800 };
    for (var k in units) if (-n >= units[k]) u = k;
    try { return new Intl.RelativeTimeFormat(locale, { numeric: 'auto' }).format(units[u] ? Math.round(n / units[u]) : 0, u); } catch (e) { return clock(ms); }
  }

  // Help-article suggestions (issue 5): shown in the log with the two ways forward.
  function onSuggestions(f) {
    if (f.conversation !== conv || !f.articles || !f.articles.length) return;
    // A sync repeats the suggestions of a chat still waiting for an answer: show them once.
    if (suggested && suggested.parentNode) suggested.parentNode.removeChild(suggested);
    // After the question they answer (seq), also after a reload.
    f.seq = f.seq || lastSeq;
    store.cards = f;
    save();
    var card = suggested = el('div', 'cs-card', null, { role: 'group', 'aria-label': t('widget_suggest') });
    var list = el('ul');
    card.appendChild(el('p', null, t('widget_suggest')));
    f.articles.slice(0, 5).forEach(function (a, i) { list.appendChild(answerItem(a, !i)); });
    var actions = el('div', 'cs-actions');
    var yes = el('button', 'cs-btn cs-ghost', t('widget_helped'), { type: 'button' });
    var no = el('button', 'cs-btn', t('widget_person'), { type: 'button', name: 'person' });
    yes.onclick = function () {
      yes.disabled = no.disabled = true;
      send({ type: 'resolve', conversation: conv });
      addRow('sys', '', t('widget_glad'), 0, 0);
    };
    no.onclick = function () {
      yes.disabled = no.disabled = true;
      send({ type: 'escalate', conversation: conv });
    };
    actions.append(yes, no);
    card.append(list, actions);
    place(card, f.seq + 0.5);
    showStatus();
    scroll();
  }

  // The answer, not just a link (issue 14): under an article's title the passage that answers
  // (plain text and steps, put in as text), open for the first article, a click away for others.
  function answerItem(a, shown) {
    var li = el('li'), p = a.passage, href = safeUrl(a.url), more = p && safeUrl(p.url);
    var opened = function () {
      var fr = { type: 'article', slug: a.slug, locale: a.locale };
      if (conv) fr.conversation = conv;
      send(fr);
      emit('article', { slug: a.slug, title: a.title, url: href });
    };
    var a1 = href ? link(href, a.title) : el('strong', null, a.title);
    a1.onclick = opened;
    li.appendChild(a1);
    if (!p || typeof p !== 'object') {
      var snip = el('span', 'cs-snip');
      marked(snip, a.snippet || '');
      li.appendChild(snip);
      return li;
    }
    var box = el('div', 'cs-ans'), steps = [].concat(p.steps || []), list = el(p.numbered ? 'ol' : 'ul');
    if (p.heading) box.appendChild(el('b', null, p.heading));
    if (p.text) box.appendChild(el('p', null, p.text));
    steps.forEach(function (step) { list.appendChild(el('li', null, String(step))); });
    if (steps.length) box.appendChild(list);
    if (more) box.appendChild(link(more, t('widget_whole'))).onclick = opened;
    if (!shown) {
      var toggle = el('button', 'cs-more', t('widget_show_answer'), { type: 'button', 'aria-expanded': 'false' });
      box.hidden = true;
      toggle.onclick = function () {
        box.hidden = !box.hidden;
        toggle.setAttribute('aria-expanded', String(!box.hidden));
      };
      li.appendChild(toggle);
    }
    li.appendChild(box);
    return li;
  }
  function safeUrl(u) {
    try { return httpUrl(new URL(String(u || ''), ctx.base).href); } catch (e) { return null; }
  }
  // Suggestions while typing, before the first message: a pause in typing (debounced, at most
  // one search a second: the server's budget is 120 a minute) asks the server, and the strip
  // above the input changes only when the answer does, so it never blinks while one types.
  var strip = el('div', 'cs-strip', null, { 'aria-live': 'polite', hidden: '' });
  var stripKey = 'null', searchTimer = null, searched = '', searchAt = 0, searchPause = 0;
  panel.insertBefore(strip, form);
  function typed() {
    clearTimeout(searchTimer);
    var text = input.value.trim().slice(0, 500);
    // Too short to search: what is shown stays; nothing typed, or a chat begun: it goes.
    if (conv || store.outbox.length || blocked || text.length < 4) return showStrip(text && !conv && !store.outbox.length && !blocked ? undefined : null);
    searchTimer = setTimeout(function () {
      // asked again once the socket is up
      if (!live) return typed();
      if (text === searched) return;
      searched = text;
      searchAt = Date.now();
      send({ type: 'search', text: text });
    }, Math.max(400, searchAt + 1000 - Date.now(), searchPause - Date.now()));
  }
  function onTyped(f) {
    // An answer to text typed before the last search is stale.
    if (!conv && f.query === searched) showStrip(f.articles);
  }
  function showStrip(list) {
    if (list === undefined) return;
    list = list && list.length ? list.slice(0, 3) : null;
    var key = JSON.stringify(list);
    if (key === stripKey) return;
    stripKey = key;
    strip.hidden = !list;
    if (!list) return;
    var ul = el('ul');
    list.forEach(function (a, i) { ul.appendChild(answerItem(a, !i)); });
    strip.textContent = '';
    strip.append(el('p', null, t('widget_maybe')), ul);
  }
  input.addEventListener('input', typed);

  // ---- files: sent over HTTP with the visitor's token, the message comes back on the socket --
  function fileUrl(path) {
    return ctx.base + '/api/v1/sites/' + encodeURIComponent(ctx.key) + path;
  }
  function auth() {
    return { Authorization: 'Bearer ' + store.token };
  }
  // A file is fetched with the token and shown from a blob: images as pictures, anything else
  // only ever as a download (typed octet-stream, with a download name), never opened here.
  function getFile(f) {
    return fetch(fileUrl('/files/' + encodeURIComponent(f.id)), { headers: auth(), credentials: 'omit' })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.blob(); })
      .then(function (b) { return URL.createObjectURL(new Blob([b], { type: f.inline ? f.type : 'application/octet-stream' })); });
  }
  function showFiles(row, list) {
    var b = row.bubble;
    b.textContent = '';
    list.forEach(function (f) {
      var a = el('a', 'cs-file', f.inline ? null : f.name, { href: '#', title: f.name });
      if (f.inline) {
        var img = el('img', 'cs-img', null, { alt: f.name });
        a.appendChild(img);
        getFile(f).then(function (u) { img.src = a.href = u; a.download = f.name; }, function () { img.alt = f.name; });
      }
      a.onclick = function (e) {
        if (a.download) return;
        e.preventDefault();
        getFile(f).then(function (u) { a.href = u; a.download = f.name; a.click(); });
      };
      b.appendChild(a);
    });
  }
  function upload(f) {
    if (!conv || !store.token) { banner.textContent = t('widget_attach_first'); return; }
    var cid = idFor(), row = addRow('me', '', f.name, 0, 0);
    row.cid = cid;
    byCid[cid] = row;
    mine.push(row);
    setState(row, 'sending');
    fetch(fileUrl('/conversations/' + encodeURIComponent(conv) + '/files?client_id=' + cid + '&name=' + encodeURIComponent(f.name)), {
      method: 'POST', body: f, headers: auth(), credentials: 'omit'
    }).then(function (r) {
      return r.json().then(function (a) {
        if (!r.ok) throw new Error(a.message);
        // the socket brought the message first
        if (row.seq) return;
        show({ conversation: conv, seq: a.ack.seq, client_id: cid, created_at: a.ack.created_at, author: { kind: 'visitor' }, files: [a.file] });
      });
    }).catch(function (e) {
      row.error = e.message;
      setState(row, 'failed');
    });
  }
  function uploadAll(files) {
    [].forEach.call(files || [], upload);
  }
  clipBtn.onclick = function () { fileIn.click(); };
  fileIn.onchange = function () { uploadAll(fileIn.files); fileIn.value = ''; };
  input.addEventListener('paste', function (e) {
    var fs = e.clipboardData && e.clipboardData.files;
    if (fs && fs.length) { e.preventDefault(); uploadAll(fs); }
  });
  function dragging(e) {
    return e.dataTransfer && [].indexOf.call(e.dataTransfer.types || [], 'Files') >= 0;
  }
  panel.addEventListener('dragover', function (e) {
    if (dragging(e)) { e.preventDefault(); panel.classList.add('cs-drop'); }
  });
  panel.addEventListener('dragleave', function () { panel.classList.remove('cs-drop'); });
  panel.addEventListener('drop', function (e) {
    panel.classList.remove('cs-drop');
    if (dragging(e)) { e.preventDefault(); uploadAll(e.dataTransfer.files); }
  });

  // ---- sending --------------------------------------------------------------------------
  function submit() {
    var text = input.value.trim();
    if (!text || blocked) return;
    if (text.length > maxChars) {
      banner.textContent = tn('widget_too_long', maxChars);
      return;
    }
    if (status === 'closed') {
      newChat();
      addRow('sys', '', t('widget_new_after'), 0, 0);
    }
    input.value = '';
    grow();
    stopTyping();
    showStrip(null);
    var item = { cid: idFor(), text: text, conv: conv };
    store.outbox.push(item);
    save();
    pendingRow(item);
    if (live) sendItem(item);
    else connect();
  }
  function sendItem(item) {
    if (!item.conv && conv) item.conv = conv;
    if (byCid[item.cid]) setState(byCid[item.cid], 'sending');
    if (item.conv) return send({ type: 'message', conversation: item.conv, client_id: item.cid, text: item.text });
    // One start at a time: later messages wait for the conversation it opens.
    if (!starting || starting === item.cid) {
      starting = item.cid;
      send({ type: 'start', client_id: item.cid, text: item.text });
    }
  }
  function flush() {
    store.outbox.forEach(sendItem);
  }
  function onAck(f) {
    var item = null;
    store.outbox = store.outbox.filter(function (x) { return x.cid === f.ref ? !(item = x) : true; });
    if (!item) return;
    if (!item.conv) {
      starting = null;
      conv = store.conv = f.conversation;
      status = status || 'new';
      send({ type: 'sync', conversation: conv, after: upTo });
    }
    save();
    var row = byCid[f.ref];
    if (row && !row.seq) {
      row.seq = f.seq;
      row.when = f.created_at;
      bySeq[f.seq] = row;
      lastSeq = Math.max(lastSeq, f.seq);
      stored(f.seq);
      place(row, f.seq);
      setState(row, 'sent');
      // The server sends no copy of a message back to the socket it came from: the ack is it.
      announce({ conversation: f.conversation, seq: f.seq, author: { kind: 'visitor', name: (store.profile || {}).name || null }, text: item.text });
    }
    if (!item.conv) flush();
  }
  // Refusals a visitor can meet (limits, blocks, mail rules) in their language.
  // What a refusal means to the visitor, in their language, without the server's field names.
  function said(f) {
    var key = 'widget_err_' + f.code, m = f.message || '';
    if (T[key]) return t(key, { seconds: Math.ceil(f.retry_after || 1) });
    if (f.code === 'too_large') return tn('widget_too_long', maxChars);
    return t(/mail/.test(m) ? 'widget_bad_email' : /name/.test(m) ? 'widget_bad_name' : 'widget_refused');
  }
  function onError(f) {
    if (proof && f.ref && f.ref === proof.cid) { proofBusy = false; proofError = said(f); return showStatus(); }
    var a = store.ask;
    if (a && (f.ref === a.client_id || f.ref === a.conversation)) {
      // Refused (a mistyped address, say): the form comes back with what was typed and why.
      store.ask = null;
      formError = said(f);
      save();
      showStatus();
    }
    var item = store.outbox.filter(function (x) { return x.cid === f.ref; })[0];
    if (item && f.code === 'conflict') {
      // The chat was closed meanwhile: what was written opens a new one instead of vanishing.
      store.outbox.forEach(function (x) { x.conv = null; });
      store.lastConv = conv;
      conv = store.conv = null;
      status = null;
      starting = null;
      save();
      return flush();
    }
    if (item && (f.code === 'unavailable' || f.code === 'rate_limited')) {
      // Nothing was stored: the same message (same client id) goes again when the server says.
      setTimeout(function () { if (store.outbox.indexOf(item) >= 0) sendItem(item); },
        (f.retry_after || 2) * (500 + Math.random() * 1000));
      return;
    }
    if (item) {
      store.outbox.splice(store.outbox.indexOf(item), 1);
      // a refused start holds back no later one
      if (starting === item.cid) starting = null;
      save();
      var row = byCid[f.ref];
      if (row) { row.error = said(f); setState(row, 'failed'); }
      return;
    }
    if (f.code === 'rate_limited' && !f.ref) {
      // a search: ask again then
      searchPause = Date.now() + (f.retry_after || 5) * 1000;
      searched = '';
      typed();
    }
    if (f.code === 'not_found' && f.ref === conv) {
      // a conversation from another visitor token: start afresh
      conv = store.conv = null;
      save();
    }
  }
  // What to fix, in the visitor's words; the server's message names the field.
  function send(frame) {
    if (live && ws && frame.conversation !== null) ws.send(JSON.stringify(frame));
  }
  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingSent && conv) send({ type: 'typing', conversation: conv, active: false });
    typingSent = false;
  }
  function grow() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight, 120) + 'px';
  }

  // ---- the connection -----------------------------------------------------------------------
  var synced = false, fetched = false;
  function fetchToken() {
    var body = { page: { url: location.href, title: d.title.replace(/^\(\d+\+?\) /, '') }, locale: locale };
    if (d.referrer && d.referrer.indexOf(location.origin + '/') !== 0) body.page.referrer = d.referrer.slice(0, 2000);
    // The agent sees the visitor's local time; a browser without Intl zones just omits it.
    try { body.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) {}
    if (store.token) body.token = store.token;
    if (store.profile) body.profile = store.profile;
    if (store.identity) body.identity = store.identity;
    return fetch(ctx.base + '/api/v1/sites/' + encodeURIComponent(ctx.key) + '/visitors', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), credentials: 'omit'
    }).then(function (r) {
      if (r.status === 403 || r.status === 404) {
        blocked = true;
        return r.json().catch(function () { return {}; }).then(function (e) {
          // an agent blocked this visitor: say so
          if (e.code === 'blocked') blocked = said(e);
          throw new Error('chatserver: this page may not use site ' + ctx.key + ' (HTTP ' + r.status + ')');
        });
      }
      if (r.status === 400 && (store.profile || store.identity)) {
        // A name, address or identity the server refuses must not keep the chat away: say
        // why, forget it, and carry on as an anonymous visitor.
        return r.json().then(function (e) {
          if (store.profile && store.profile.email) formError = said(e);
          else banner.textContent = said(e);
          delete store.profile;
          delete store.identity;
          save();
          showStatus();
          return fetchToken();
        });
      }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json().then(accept);
    });
  }
  function accept(data) {
    fetched = true;
    store.token = data.token;
    siteName = store.ui.name = data.site.name;
    agentsOnline = !!data.agents_online;
    applyHours(data);
    applySettings(data.site.settings);
    save();
  }
  function connect() {
    if (ws || connecting || blocked) return;
    connecting = true;
    clearTimeout(retryTimer);
    // A token this page already fetched is good for the reconnect: no HTTP round trip, so a
    // restarted server takes its visitors back at socket speed (4401 clears it: then fetch).
    (store.token && fetched ? Promise.resolve() : fetchToken()).then(function () {
      var s = ws = new WebSocket(ctx.base.replace(/^http/, 'ws') + '/ws/visitor?site=' + encodeURIComponent(ctx.key));
      s.onopen = function () { s.send(JSON.stringify({ type: 'hello', token: store.token })); };
      s.onmessage = function (e) {
        lastFrame = Date.now();
        var f;
        try { f = JSON.parse(e.data); } catch (x) { return; }
        if (f && typeof f.type === 'string') handle(f);
      };
      s.onclose = function (e) { dropped(s, e.code); };
      connecting = false;
    }).catch(function (e) {
      connecting = false;
      if (blocked) {
        // Refused (an origin the site does not allow, or a blocked visitor): nothing waits to be
        // sent "when back online".
        var why = blocked === true ? t('widget_unavailable') : blocked;
        store.outbox.splice(0).forEach(function (item) {
          var row = byCid[item.cid];
          row.error = why;
          setState(row, 'failed');
        });
        save();
        showStatus();
        if (blocked !== true) banner.textContent = blocked;
        if (w.console) console.warn(e.message);
        return;
      }
      // A refused origin gets no CORS headers, so it looks like a network error; if the server
      // answers a plain request, the refusal is real: say so, and keep trying slowly.
      fetch(ctx.base + '/healthz', { mode: 'no-cors', credentials: 'omit' }).then(function () {
        banner.textContent = t('widget_unavailable');
        tries = Math.max(tries, 5);
      }, function () {
        banner.textContent = navigator.onLine === false ? t('widget_offline') : t('widget_reconnecting');
      });
      retry();
    });
  }
  function dropped(s, code) {
    if (ws !== s) return;
    s.onclose = s.onmessage = null;
    ws = null;
    live = false;
    synced = false;
    starting = null;
    clearInterval(beat);
    // expired or foreign: a fresh token, then resume
    if (code === 4401) store.token = null;
    mine.forEach(function (row) { if (row.state === 'sending') setState(row, 'queued'); });
    banner.textContent = navigator.onLine === false ? t('widget_offline') : t('widget_reconnecting');
    emit('disconnect', { code: code });
    retry();
  }
  function retry() {
    clearTimeout(retryTimer);
    // 0.5 s, 1 s, 2 s ... up to 30 s, with jitter so a restarted server is not hit all at once.
    var delay = Math.min(30000, 500 * Math.pow(2, tries++)) * (0.5 + Math.random() / 2);
    retryTimer = setTimeout(connect, delay);
  }
  function handle(f) {
    switch (f.type) {
      case 'welcome': return onWelcome(f);
      case 'ack': return onAck(f);
      case 'message': return onMessage(f);
      case 'synced':
        if (f.conversation !== conv) return;
        if (f.more) return send({ type: 'sync', conversation: conv, after: f.last_seq });
        synced = true;
        filling = false;
        if (isRead()) markRead();
        return;
      case 'conversation': return onConversation(f.conversation || {});
      case 'conversations': return onList(f.conversations || []);
      case 'typing':
        if (f.conversation === conv && f.author && f.author.kind === 'agent') showTyping(f.active ? f.author.name || t('widget_someone') : null);
        return;
      case 'receipt': return f.conversation === conv && onReceipt(f.side, f.status, f.seq);
      case 'suggestions': return f.conversation === null ? onTyped(f) : onSuggestions(f);
      case 'presence': return;
      case 'availability': agentsOnline = !!f.agents_online; applyHours(f); return showStatus();
      case 'ticket': return onTicket(f.ticket || {});
      case 'transcript':
        if (!answered('transcript')) return;
        store.sentTo = { conversation: f.conversation, email: f.email };
        wantTranscript = false;
        save();
        return showStatus();
      case 'resync': return conv && send({ type: 'sync', conversation: conv, after: upTo });
      case 'email_proof': return onProof(f);
      case 'error': return onError(f);
    }
  }
  function onWelcome(f) {
    live = true;
    tries = 0;
    banner.textContent = '';
    agentsOnline = !!f.agents_online;
    applyHours(f);
    features = f.features || [];
    if (f.limits && f.limits.max_text_chars) maxChars = f.limits.max_text_chars;
    var open = f.conversations || [], known = open.some(function (c) { return c.id === conv; });
    // A chat that ended since (or another visitor's) gives way to one still open elsewhere.
    if (!known && !picked && open.length && !store.outbox.length) {
      if (conv) newChat();
      conv = store.conv = open[open.length - 1].id;
    }
    if (listing) send({ type: 'conversations' });
    open.forEach(function (c) { if (c.id === conv) onConversation(c); });
    if (conv) send({ type: 'sync', conversation: conv, after: upTo });
    else synced = true;
    flush();
    // unanswered before the socket dropped: ask again
    if (store.ask) send(store.ask);
    var hb = (f.heartbeat || 20) * 1000, s = ws;
    lastFrame = Date.now();
    beat = setInterval(function () {
      // Nothing heard for 2.5 heartbeats: the socket is dead even if the browser has not noticed.
      if (Date.now() - lastFrame > 2.5 * hb) { s.close(); dropped(s, 1006); }
      else send({ type: 'ping' });
    }, hb);
    save();
    showStatus();
    emit('connect', {});
  }
  function onConversation(c) {
    if (!c.id) return;
    if (c.id !== conv) {
      // Another tab of this visitor started a chat: follow it here too.
      if ((conv && (picked || (status !== 'closed' && status !== null))) || c.status === 'closed' || store.outbox.length) return;
      if (conv) newChat();
      conv = store.conv = c.id;
      save();
      send({ type: 'sync', conversation: conv, after: 0 });
    }
    var was = status, name = c.agent && c.agent.name;
    status = c.status;
    if (status === 'assigned') agentsOnline = true;
    // A sync describes the chat without its place in line: keep the last one the server sent.
    if (c.queue || status !== 'queued') queueInfo = c.queue || null;
    if (status === 'assigned' && name && (was === 'queued' || was === 'new') && name !== agentName) {
      addRow('sys', '', t('widget_joined', { name: name }), 0, 0);
    }
    agentName = name || null;
    // Past "new" the choice is made (queued, taken, closed): the articles stay, the buttons go.
    var acts = status !== 'new' && suggested && suggested.querySelector('.cs-actions');
    if (acts) acts.parentNode.removeChild(acts);
    if (c.agent_read_seq) onReceipt('agent', 'read', c.agent_read_seq);
    if (status === 'closed') {
      showTyping(null);
      if (was && was !== 'closed') emit('close-chat', { conversation: c.id });
    }
    save();
    showStatus();
  }

  // ---- opening and closing --------------------------------------------------------------------
  function open(quiet) {
    if (!panel.hidden) return;
    peekBox.hidden = true;
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    launcher.classList.add('cs-opened');
    store.open = true;
    save();
    connect();
    if (synced && conv) markRead();
    else setUnread(0);
    scroll();
    if (!quiet) input.focus();
    emit('open');
  }
  function close() {
    if (panel.hidden) return;
    var focused = root.activeElement;
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    launcher.classList.remove('cs-opened');
    store.open = false;
    save();
    stopTyping();
    if (focused) launcher.focus();
    emit('close');
  }

  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  input.addEventListener('input', function () {
    grow();
    if (!conv || !live) return;
    if (!typingSent) send({ type: 'typing', conversation: conv, active: true });
    typingSent = true;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 3000);
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    submit();
    input.focus();
  });
  panel.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') close();
  });
  closeBtn.onclick = close;
  soundBtn.onclick = function () {
    store.sound = store.sound === false;
    save();
    relabel();
  };
  // Other tabs of this site share the store: a chat started there shows here without a
  // reload, and what was read there no longer counts as unread here.
  w.addEventListener('storage', function (e) {
    var fresh;
    try { fresh = e.key === KEY && JSON.parse(e.newValue); } catch (x) { return; }
    if (!fresh) return;
    // Only what the other tab knows: a tab that loaded before the first token must not erase it.
    ['token', 'profile', 'ticket', 'sentTo', 'sound'].forEach(function (k) { if (fresh[k] != null) store[k] = fresh[k]; });
    if (fresh.conv && fresh.conv !== conv && (!conv || status === 'closed') && !store.outbox.length) {
      newChat();
      conv = store.conv = fresh.conv;
      save();
      if (live) send({ type: 'sync', conversation: conv, after: 0 });
      else connect();
    }
    if (fresh.conv === conv && fresh.seen > (store.seen || 0)) {
      store.seen = fresh.seen;
      var n = 0;
      for (var s in bySeq) if (+s > store.seen && bySeq[s].className.indexOf('cs-them') >= 0) n++;
      setUnread(n);
    }
    relabel();
  });
  d.addEventListener('visibilitychange', function () {
    if (isRead() && conv && synced) markRead();
  });
  w.addEventListener('online', function () {
    if (!ws) { tries = 0; connect(); }
  });
  w.addEventListener('offline', function () {
    if (!live) banner.textContent = t('widget_offline');
  });

  // ---- proving an address: a mailed code joins this visitor to the contact that owns it -------
  // proof (kept over a reload): the address and its step, 'ask' (for a code), then 'code'.
  var proof = store.proof, proofError = '', proofBusy = false;
  var menuBtn = icon('more', 'cs-more', ''), menu = el('div', 'cs-menu', null, { role: 'menu', hidden: '' });
  var verifyItem = button('', function () { verify(); }, 'cs-ghost');
  verifyItem.setAttribute('role', 'menuitem');
  style.textContent += '.cs-menu{position:absolute;top:52px;right:12px;padding:6px;background:#fff;border:1px solid #e5e7eb;border-radius:12px;box-shadow:0 6px 20px rgba(0,0,0,.15)}';
  head.insertBefore(menuBtn, soundBtn);
  menu.appendChild(verifyItem);
  panel.appendChild(menu);
  function labelMenu() {
    menuBtn.setAttribute('aria-label', t('widget_menu'));
    verifyItem.textContent = t('widget_verify');
  }
  menuBtn.onclick = function () { menu.hidden = !menu.hidden; if (!menu.hidden) verifyItem.focus(); };
  panel.addEventListener('click', function (e) { if (!menuBtn.contains(e.target)) menu.hidden = true; });
  function verify(email) {
    proof = store.proof = { step: 'ask', email: email || store.verified || (store.profile || {}).email || '' };
    proofError = '';
    draft.pmail = null;
    save();
    showStatus();
    notice.querySelector('input').focus();
  }
  // In a form that takes an address: prove the one typed there (unless it is proven already).
  function verifyButton(field) {
    return field.input.value === store.verified ? '' : button(t('widget_verify'), function () { verify(field.input.value.trim()); }, 'cs-ghost');
  }
  function proofNotice() {
    var f = el('form'), code = proof.step === 'code';
    var a = field(code ? t('widget_code') : t('widget_email'), code ? 'text' : 'email', code ? '' : proof.email, code ? 'pcode' : 'pmail'), i = a.input;
    var go = el('button', 'cs-btn', proofBusy ? t('widget_sending') : code ? t('widget_confirm') : t('widget_send_code'), { type: 'submit' });
    go.disabled = proofBusy;
    i.required = true;
    if (code) {
      // One field that phones offer their number keys and the mailed code for; a pasted
      // "123 456" keeps its digits, and six digits are sent at once.
      i.inputMode = 'numeric';
      i.autocomplete = 'one-time-code';
      i.pattern = '\\d{6}';
      i.oninput = function () {
        i.value = i.value.replace(/\D/g, '').slice(0, 6);
        if (i.value.length > 5 && !proofBusy) f.requestSubmit();
      };
    }
    f.append(el('p', null, code ? t('widget_code_sent', proof) : t('widget_verify_intro')), a, el('p', 'cs-err', proofError), go, ' ');
    if (code) f.append(button(t('widget_new_code'), function () { verify(proof.email); }, 'cs-ghost'), ' ');
    f.append(button(t('widget_cancel'), function () { endProof(); }, 'cs-ghost'));
    f.onsubmit = function (e) {
      e.preventDefault();
      if (!i.checkValidity()) return i.reportValidity();
      // Offline: the banner says so, and what was typed stays for the next press.
      if (!live) return connect();
      var frame = code ? { type: 'confirm_email', code: i.value } : { type: 'verify_email', locale: locale };
      frame.email = proof.email = code ? proof.email : i.value.trim();
      frame.client_id = proof.cid = idFor();
      proofBusy = true;
      proofError = '';
      save();
      showStatus();
      send(frame);
      // An answer lost with a dropped socket must not keep the button disabled.
      setTimeout(function () { if (proofBusy) { proofBusy = false; showStatus(); } }, 9000);
    };
    notice.appendChild(f);
  }
  function endProof() {
    proof = store.proof = null;
    save();
    showStatus();
  }
  function onProof(f) {
    if (f.token) {
      // Joined the contact that owns this address (in this tab or another): this socket's
      // visitor is gone, so connect again as that contact, whose conversations come with the welcome.
      store.token = f.token;
      save();
      ws.close();
      dropped(ws, 1000);
    }
    if (!proof || f.email !== proof.email) return;
    proofBusy = false;
    draft.pcode = '';
    if (!f.proven) {
      proof.step = 'code';
      return showStatus();
    }
    store.profile = { name: (store.profile || {}).name || '', email: store.verified = f.email };
    addRow('sys', '', t('widget_verified', f), 0, 0);
    endProof();
  }

  // ---- the public API (calls arrive through the loader's global) ----------------------------
  var api = {
    open: function () { open(); },
    close: close,
    toggle: function () { if (panel.hidden) open(); else close(); },
    showLauncher: function () { launcher.hidden = false; },
    hideLauncher: function () { launcher.hidden = true; },
    // A signed-in user, signed by the site's backend: {id, name, email, hash, expires}.
    identify: function (who) {
      if (!who || typeof who !== 'object') return;
      store.identity = { id: String(who.id || ''), name: who.name, email: who.email, hash: who.hash, expires: who.expires };
      store.profile = { name: who.name || '', email: who.email || '' };
      save();
      if (ws) fetchToken().catch(function () { /* sent again on the next connect */ });
      showStatus();
    },
    locale: function (l) {
      store.locale = String(l || '');
      save();
      relabel();
    },
    // The host page reports an event ('cart_idle'); a proactive rule may answer it.
    track: function (name) {
      if (proactiveEvents === null) return proactiveTracked.push(String(name));
      if (proactiveEvents[String(name)]) proactiveShow(proactiveEvents[String(name)]);
    },
    prefill: function (text) {
      input.value = String(text == null ? '' : text).slice(0, maxChars);
      grow();
    }
  };

  // ---- the preview bubble: a line for a visitor whose panel is closed (a proactive rule's
  // message, an agent's invitation or answer); a click opens the panel, x dismisses it --------
  var peekBox = el('div', 'cs-peek', null, { hidden: '', role: 'status' });
  var peekText = el('span');
  var peekWho = el('div', 'cs-who');
  var peekX = icon('close', 'cs-peek-x', '');
  peekBox.append(peekWho, peekText, peekX);
  wrap.appendChild(peekBox);
  peekBox.onclick = function () { open(); };
  peekX.onclick = function (e) { e.stopPropagation(); peekBox.hidden = true; };
  function peek(text, who) {
    peekWho.textContent = who || '';
    peekX.setAttribute('aria-label', t('widget_close'));
    peekText.textContent = String(text).length > 140 ? String(text).slice(0, 139) + '\u2026' : text;
    peekBox.hidden = false;
  }

  // ---- proactive chat: the site's rules show a message in the bubble (docs/metrics.md) -----
  // Triggers are checked here; the server records each show and refuses past the rule's cap,
  // so one visitor is not pestered across pages and tabs. One message per page view at most.
  var proactiveFired = false, proactiveEvents = null, proactiveTracked = [];
  function proactiveUrl(path) {
    return ctx.base + '/api/v1/sites/' + encodeURIComponent(ctx.key) + '/proactive' + (path || '');
  }
  function proactiveShow(rule) {
    if (proactiveFired || (conv && status !== 'closed') || store.outbox.length || !panel.hidden) return;
    proactiveFired = true;
    fetchToken().then(function () {
      return fetch(proactiveUrl('/' + encodeURIComponent(rule.id) + '/shown'), {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token: store.token }), credentials: 'omit'
      });
    }).then(function (r) { return r.ok ? r.json() : {}; }).then(function (answer) {
      if (!answer.show || (conv && status !== 'closed') || !panel.hidden) return;
      // an ended chat stays in the list; the invitation opens a clean panel
      if (conv) newChat();
      addRow('them', siteName || '', rule.message, 0, Date.now());
      peek(rule.message, siteName);
      emit('proactive', { rule: rule.id });
    }).catch(function () { /* no proactive message this time */ });
  }
  function proactiveMatches(pattern) {
    var re = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
    return new RegExp('^' + re + '$').test(location.pathname + location.search);
  }
  fetch(proactiveUrl(), { credentials: 'omit' }).then(function (r) { return r.ok ? r.json() : {}; }).then(function (data) {
    proactiveEvents = {};
    (data.rules || []).forEach(function (rule) {
      var onPage = w.performance ? performance.now() : 0;
      if (rule.trigger === 'time') setTimeout(function () { proactiveShow(rule); }, Math.max(0, rule.value * 1000 - onPage));
      else if (rule.trigger === 'url' && proactiveMatches(String(rule.value))) proactiveShow(rule);
      else if (rule.trigger === 'event') proactiveEvents[rule.value] = rule;
    });
    proactiveTracked.splice(0).forEach(function (name) { api.track(name); });
  }).catch(function () { /* no rules: nothing proactive */ });

  applySettings({});
  for (var i = 0; i < store.outbox.length; i++) {
    if (store.outbox[i].conv && store.outbox[i].conv !== conv) store.outbox[i].conv = null;
    pendingRow(store.outbox[i]);
  }
  if (store.cards) onSuggestions(store.cards);
  // Every page holds the socket: agents see who is on the site now and may invite them.
  connect();
  if (store.open) open(true);
  ctx.ready(function (name, args) {
    if (!api.hasOwnProperty(name)) {
      if (w.console) console.warn('chatserver: unknown command ' + name);
      return;
    }
    return api[name].apply(null, args);
  });
})();
