// SLA flags in the inbox: colour, sort order and an alert for chats nearing or past a target.
// The server sends `sla` events (docs/protocol.md) with the instants each clock turns nearing
// and breached; this script re-checks them every second, so a flag changes on time.
(function () {
  'use strict';
  var inbox = window.CSInbox;
  if (!inbox) return;
  var d = document;
  var tk = window.CSConsole.tk;
  var RANK = { breached: 0, nearing: 1, ok: 2 };
  var clocks = {};   // conversation id -> the latest chat clock from the server
  var told = {};     // conversation id -> the state we last alerted about
  var skew = 0;      // server clock minus ours, so flags turn on the server's time

  function stateOf(item) {
    var now = Date.now() + skew;
    if (item.due_at != null && now > item.due_at) return 'breached';
    if (item.nearing_at != null && now >= item.nearing_at) return 'nearing';
    return 'ok';
  }

  function label(id) {
    var li = d.querySelector('.conv[data-conversation="' + CSS.escape(id) + '"] .conv-name');
    return li ? li.textContent : id.slice(0, 4).toUpperCase();
  }

  // Alerts go to the assignee, or to the whole team while nobody holds the chat.
  function alertIfNew(item, state) {
    if (state === 'ok' || told[item.id] === item.metric + state) return;
    if (item.agent && item.agent !== inbox.me.id) return;
    told[item.id] = item.metric + state;
    var text = tk('sla_alert_', state, { name: label(item.id) });
    inbox.toast(text);
    if (window.Notification && Notification.permission === 'granted' && d.visibilityState !== 'visible') {
      new Notification(text, { tag: 'sla-' + item.id });
    }
  }

  var busy = false;
  function decorate() {
    if (busy) return;
    busy = true;
    ['queue', 'mine', 'all'].forEach(function (list) {
      var ul = d.getElementById('list-' + list);
      if (!ul) return;
      var items = Array.prototype.slice.call(ul.children);
      items.forEach(function (li, i) {
        var item = clocks[li.dataset.conversation];
        var state = item ? stateOf(item) : 'ok';
        li.dataset.order = i;
        li.classList.toggle('sla-nearing', state === 'nearing');
        li.classList.toggle('sla-breached', state === 'breached');
        var flag = li.querySelector('.sla-flag');
        if (state === 'ok') { if (flag) flag.remove(); }
        else {
          if (!flag) {
            flag = d.createElement('span');
            flag.className = 'sla-flag';
            (li.querySelector('.conv-top') || li).append(flag);
          }
          flag.textContent = tk('sla_', state);
          flag.title = tk('sla_', state) + ' (' + item.metric.replace('_', ' ') + ')';
        }
      });
      // Breached first, then nearing, each group in the list's own order.
      var sorted = items.slice().sort(function (a, b) {
        var ra = RANK[clocks[a.dataset.conversation] ? stateOf(clocks[a.dataset.conversation]) : 'ok'];
        var rb = RANK[clocks[b.dataset.conversation] ? stateOf(clocks[b.dataset.conversation]) : 'ok'];
        return ra - rb || a.dataset.order - b.dataset.order;
      });
      if (sorted.some(function (li, i) { return li !== items[i]; })) sorted.forEach(function (li) { ul.append(li); });
    });
    busy = false;
  }

  inbox.on('sla', function (f) {
    skew = (f.now || Date.now()) - Date.now();
    var site = f.site;
    for (var id in clocks) if (clocks[id].site === site) delete clocks[id];
    (f.items || []).forEach(function (item) {
      if (item.kind !== 'chat') return;
      item.site = site;
      clocks[item.id] = item;
    });
    tick();
  });

  function tick() {
    for (var id in clocks) alertIfNew(clocks[id], stateOf(clocks[id]));
    decorate();
  }
  setInterval(tick, 1000);

  // The inbox redraws its lists often; flag them again after each redraw.
  var observer = new MutationObserver(function () { if (!busy) decorate(); });
  ['queue', 'mine', 'all'].forEach(function (list) {
    var ul = d.getElementById('list-' + list);
    if (ul) observer.observe(ul, { childList: true });
  });
})();
