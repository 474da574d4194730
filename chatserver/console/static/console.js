// What every console page shares: its strings, a DOM helper, and the agent socket that
// reconnects by itself. Loaded before the page's own script.
(function () {
  'use strict';
  var d = document;
  var node = d.getElementById('cs-strings');
  var S = node ? JSON.parse(node.textContent) : {};
  // Reconnects back off from 1 s to 15 s: quick after a blip, gentle on a server that is down.
  var RECONNECT_MIN_MS = 1000;
  var RECONNECT_MAX_MS = 15000;

  // The page's language from the catalogue (chatserver/i18n.py): %(name)s placeholders.
  function t(key, vars) {
    return fill(S[key] || key, vars || {});
  }
  // A key built from data ('status_' + status); such keys are listed in i18n.py's BUILT_KEYS.
  function tk(prefix, value, vars) {
    return t(prefix + value, vars);
  }
  // A counted text: English and Dutch use the singular for exactly one (i18n.py checks).
  function tn(key, num, vars) {
    var forms = S[key] || [key, key];
    return fill(forms[num === 1 ? 0 : 1], Object.assign({ num: num }, vars));
  }
  function fill(text, vars) {
    return text.replace(/%\((\w+)\)s|%%/g, function (all, name) { return name ? vars[name] : '%'; });
  }

  function el(tag, cls, text) {
    var made = d.createElement(tag);
    if (cls) made.className = cls;
    if (text != null) made.textContent = text;
    return made;
  }

  // Open /ws/agent and keep it open: hello on every connect, each frame to onFrame, onDown
  // when it drops. A missing or revoked session (4401, 4403) goes to sign-in, back to `next`.
  function agentSocket(options) {
    var ws = null;
    var backoff = RECONNECT_MIN_MS;
    function connect() {
      var s = ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/agent');
      s.onopen = function () { s.send(JSON.stringify({ type: 'hello' })); };
      s.onmessage = function (e) {
        var frame;
        try { frame = JSON.parse(e.data); } catch (err) { return; }
        if (frame.type === 'welcome') backoff = RECONNECT_MIN_MS;
        options.onFrame(frame);
      };
      s.onclose = function (e) {
        if (e.code === 4401 || e.code === 4403) {
          location.assign('/console/signin?next=' + encodeURIComponent(options.next));
          return;
        }
        if (options.onDown) options.onDown();
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
      };
    }
    connect();
    return {
      // Send one frame; false when the socket is not open right now.
      send: function (frame) {
        if (!ws || ws.readyState !== 1) return false;
        ws.send(JSON.stringify(frame));
        return true;
      }
    };
  }

  // An earlier contact in people's words: "Emailed us this morning", "Via WhatsApp yesterday".
  // h is a customer history entry (chatserver/customers.py); days are the agent's own.
  function said(h, locale) {
    var at = new Date(h.created_at), now = new Date();
    var days = Math.round((new Date(now.getFullYear(), now.getMonth(), now.getDate()) -
      new Date(at.getFullYear(), at.getMonth(), at.getDate())) / 86400000);
    var hour = at.getHours();
    var when = days <= 0 ? (hour < 12 ? t('when_morning') : hour < 18 ? t('when_afternoon') : t('when_evening'))
      : days === 1 ? t('when_yesterday')
      : days < 7 ? tn('when_days_ago', days)
      : t('when_on', { date: at.toLocaleDateString(locale, { day: 'numeric', month: 'short', year: days > 300 ? 'numeric' : undefined }) });
    if (h.channel_name) return t('said_api', { name: h.channel_name, when: when });
    return tk('said_', h.channel, { when: when });
  }

  window.CSConsole = { t: t, tk: tk, tn: tn, el: el, said: said, agentSocket: agentSocket };
}());
