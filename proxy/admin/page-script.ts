// The approvers' page script, served as /app.js (a classic script; the CSP allows only
// same-origin script files). Written as plain browser JavaScript in a string so the build
// needs no bundler. Rules it keeps:
// - data from the API reaches the DOM only as text (textContent / createTextNode, setAttribute
//   for ids and datetimes), never as HTML;
// - the token is kept in sessionStorage and sent only in the Authorization header, never in
//   a URL; fetch() is called with credentials 'omit' (there are no cookies anyway);
// - live updates come from GET /api/events read with fetch() streaming (EventSource cannot
//   send the Authorization header).
// The pure helpers at the top (tablesFromFacts, highlightSql, formatLeft) run in Node too:
// the tests evaluate this script in a vm context without a document.
//
// No backticks or dollar-brace sequences below: this is a String.raw template.
export const APP_JS = String.raw`'use strict';

/** Tables named in the analyzer's facts (a facts object, a list of them, or {statements: [...]}). */
function tablesFromFacts(facts) {
  var out = [];
  var seen = {};
  function add(list) {
    for (var i = 0; i < list.length; i++) {
      var t = list[i];
      if (!t || typeof t !== 'object' || typeof t.name !== 'string' || t.name === '') continue;
      var schema = typeof t.schema === 'string' && t.schema !== '' ? t.schema : null;
      var access = typeof t.access === 'string' ? t.access : '';
      var key = (schema || '') + '\u0000' + t.name + '\u0000' + access;
      if (seen[key]) continue;
      seen[key] = true;
      out.push({ schema: schema, name: t.name, access: access });
    }
  }
  function walk(f, depth) {
    if (!f || typeof f !== 'object' || depth > 4) return;
    if (Array.isArray(f)) {
      for (var i = 0; i < f.length; i++) walk(f[i], depth + 1);
      return;
    }
    if (Array.isArray(f.tables)) add(f.tables);
    if (Array.isArray(f.statements)) walk(f.statements, depth + 1);
  }
  walk(facts, 0);
  return out;
}

var IDENT_START = /[A-Za-z_\u0080-\uffff]/;
var IDENT_PART = /[A-Za-z0-9_$\u0080-\uffff]/;

/**
 * Splits SQL into segments [{text, mark}] whose texts concatenate to the SQL exactly; mark is
 * true for a (possibly schema-qualified, possibly quoted) name of one of the tables. Strings,
 * comments and dollar-quoted bodies are skipped, so a table name inside a literal is not marked.
 */
function highlightSql(sql, tables) {
  sql = String(sql);
  var segs = [];
  var plain = 0;
  var n = sql.length;
  var i = 0;
  function mark(from, to) {
    if (from > plain) segs.push({ text: sql.slice(plain, from), mark: false });
    segs.push({ text: sql.slice(from, to), mark: true });
    plain = to;
  }
  function matches(parts) {
    var last = parts[parts.length - 1];
    for (var k = 0; k < tables.length; k++) {
      var t = tables[k];
      if (t.name !== last) continue;
      if (t.schema === null) {
        if (parts.length === 1) return true;
      } else if (parts.length >= 2 && parts[parts.length - 2] === t.schema) {
        return true;
      }
    }
    return false;
  }
  while (i < n) {
    var c = sql[i];
    var next = sql[i + 1];
    if (c === "'" || ((c === 'E' || c === 'e') && next === "'" && (i === 0 || !IDENT_PART.test(sql[i - 1])))) {
      var backslash = c !== "'";
      var j = backslash ? i + 2 : i + 1;
      while (j < n) {
        if (backslash && sql[j] === '\\') { j += 2; continue; }
        if (sql[j] === "'") {
          if (sql[j + 1] === "'") { j += 2; continue; }
          j++;
          break;
        }
        j++;
      }
      i = j;
      continue;
    }
    if (c === '-' && next === '-') {
      var eol = sql.indexOf('\n', i);
      i = eol < 0 ? n : eol;
      continue;
    }
    if (c === '/' && next === '*') {
      var depth = 1;
      var p = i + 2;
      while (p < n && depth > 0) {
        if (sql[p] === '/' && sql[p + 1] === '*') { depth++; p += 2; }
        else if (sql[p] === '*' && sql[p + 1] === '/') { depth--; p += 2; }
        else p++;
      }
      i = p;
      continue;
    }
    if (c === '$') {
      var tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 66));
      if (tag) {
        var close = sql.indexOf(tag[0], i + tag[0].length);
        i = close < 0 ? n : close + tag[0].length;
        continue;
      }
      i++;
      continue;
    }
    if (c === '"' || IDENT_START.test(c)) {
      var start = i;
      var parts = [];
      var q = i;
      for (;;) {
        var value;
        if (sql[q] === '"') {
          var r = q + 1;
          value = '';
          while (r < n) {
            if (sql[r] === '"') {
              if (sql[r + 1] === '"') { value += '"'; r += 2; continue; }
              r++;
              break;
            }
            value += sql[r];
            r++;
          }
          q = r;
        } else {
          var s = q;
          while (q < n && IDENT_PART.test(sql[q])) q++;
          value = sql.slice(s, q).toLowerCase();
        }
        parts.push(value);
        if (sql[q] === '.' && q + 1 < n && (sql[q + 1] === '"' || IDENT_START.test(sql[q + 1]))) {
          q++;
          continue;
        }
        break;
      }
      if (matches(parts)) mark(start, q);
      i = q;
      continue;
    }
    if (c >= '0' && c <= '9') {
      while (i < n && /[0-9A-Za-z_.]/.test(sql[i])) i++;
      continue;
    }
    i++;
  }
  if (plain < n) segs.push({ text: sql.slice(plain), mark: false });
  return segs;
}

/** "4m 05s left", "1h 02m left", "expired". */
function formatLeft(ms) {
  if (!(ms > 0)) return 'expired';
  var s = Math.floor(ms / 1000);
  var d = Math.floor(s / 86400);
  var h = Math.floor((s % 86400) / 3600);
  var m = Math.floor((s % 3600) / 60);
  var sec = s % 60;
  var pad = function (x) { return x < 10 ? '0' + x : String(x); };
  if (d > 0) return d + 'd ' + h + 'h left';
  if (h > 0) return h + 'h ' + pad(m) + 'm left';
  if (m > 0) return m + 'm ' + pad(sec) + 's left';
  return sec + 's left';
}

function main() {
  var TOKEN_KEY = 'auditgate.admin.token';
  var $ = function (id) { return document.getElementById(id); };
  var els = {
    signin: $('signin'), signinForm: $('signin-form'), token: $('token'), app: $('app'),
    who: $('who'), whoami: $('whoami'), signout: $('signout'), live: $('live'), alert: $('alert'),
    pending: $('pending'), empty: $('empty'), count: $('count'), conn: $('conn'), pendingH: $('pending-h'),
    recent: $('recent'), recentEmpty: $('recent-empty'), grants: $('grants'), grantsSection: $('grants-section'),
    accessForm: $('access-form'), accessRole: $('access-role'), accessRoles: $('access-roles'),
    accessMinutes: $('access-minutes'), accessReason: $('access-reason'), accessError: $('access-error'),
    access: $('access'), main: $('main')
  };
  var state = {
    token: null, me: null, offset: 0, stream: null,
    pending: new Map(), cards: new Map(), comments: new Map(), recent: [], status: new Map(),
    seq: 0, touched: new Map()
  };

  function now() { return Date.now() + state.offset; }
  function syncClock(serverTime) {
    var t = Date.parse(serverTime);
    if (!isNaN(t)) state.offset = t - Date.now();
  }

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = String(v);
        else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }

  var announceTimer = null;
  function announce(msg) {
    clearTimeout(announceTimer);
    els.live.textContent = '';
    announceTimer = setTimeout(function () { els.live.textContent = msg; }, 50);
  }
  function showAlert(msg) { els.alert.textContent = msg || ''; }

  function ApiError(status, code, message) {
    this.status = status; this.code = code; this.message = message;
  }

  async function api(method, path, body) {
    var headers = { Authorization: 'Bearer ' + state.token, Accept: 'application/json' };
    var init = { method: method, headers: headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    var res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', 'cannot reach the gateway: ' + (e && e.message ? e.message : e));
    }
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      var err = data && data.error ? data.error : {};
      var message = typeof err.message === 'string' ? err.message : 'HTTP ' + res.status;
      if (res.status === 401) signOut('Signed out: ' + message + '. Sign in again with a valid token.');
      throw new ApiError(res.status, typeof err.code === 'string' ? err.code : 'http_' + res.status, message);
    }
    if (data && data.server_time) syncClock(data.server_time);
    return data;
  }

  // ---- sign in / out ----
  async function signIn(token, quiet) {
    state.token = token;
    try {
      state.me = await api('GET', '/api/me');
    } catch (e) {
      state.token = null;
      try { sessionStorage.removeItem(TOKEN_KEY); } catch (x) { /* storage disabled */ }
      if (!quiet || e.status !== 401) showAlert(e.status === 401 ? 'Sign-in refused: ' + e.message : e.message);
      return false;
    }
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch (x) { /* storage disabled: memory only */ }
    showAlert('');
    els.token.value = '';
    els.signin.hidden = true;
    els.app.hidden = false;
    els.who.hidden = false;
    renderMe();
    try { await loadPending(); } catch (e) { if (e.status === 401) return false; showAlert(e.message); }
    startStream();
    els.pendingH.focus();
    announce('Signed in as ' + state.me.identity.subject + '. ' + pendingSummary());
    return true;
  }

  function signOut(message) {
    if (state.stream) state.stream.abort();
    state.stream = null;
    state.token = null;
    state.me = null;
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (x) { /* ignore */ }
    state.pending.clear(); state.cards.clear(); state.comments.clear(); state.status.clear(); state.touched.clear(); state.recent = [];
    els.pending.textContent = ''; els.recent.textContent = ''; els.grants.textContent = '';
    els.app.hidden = true; els.who.hidden = true; els.signin.hidden = false;
    renderCount(); renderRecent();
    if (message) showAlert(message); else showAlert('');
    announce(message || 'Signed out.');
    els.token.focus();
  }

  function renderMe() {
    var me = state.me;
    var id = me.identity;
    els.whoami.textContent = 'Signed in as ' + id.subject + ' (' + id.kind + (id.groups.length ? '; groups: ' + id.groups.join(', ') : '; no groups') + ')' +
      (me.can_approve ? '' : '. This identity kind cannot approve.');
    els.access.hidden = !me.access_requests;
    els.accessRoles.textContent = '';
    (me.requestable_roles || []).forEach(function (r) { els.accessRoles.appendChild(h('option', { value: r })); });
    els.grants.textContent = '';
    (me.grants || []).forEach(function (g) {
      els.grants.appendChild(h('li', null, 'Role ', h('strong', { text: g.role }), ' until ', h('time', { datetime: g.until, text: new Date(g.until).toLocaleString() })));
    });
    els.grantsSection.hidden = !(me.grants && me.grants.length);
  }

  async function refreshMe() {
    try { state.me = await api('GET', '/api/me'); renderMe(); } catch (e) { /* shown elsewhere */ }
  }

  // ---- requests ----
  async function loadPending() {
    // Only what was shown before this list was asked for can be missing from it because it
    // left pending; a request that arrived on the stream meanwhile stays.
    var asOf = state.seq;
    var data = await api('GET', '/api/requests?status=pending');
    var ids = new Set();
    data.requests.forEach(function (r) { ids.add(r.id); apply(r, null, true); });
    Array.from(state.pending.keys()).forEach(function (id) {
      if (!ids.has(id) && (state.touched.get(id) || 0) <= asOf) removePending(id);
    });
    renderCount();
  }

  function pendingSummary() {
    var n = state.pending.size;
    return n === 0 ? 'No pending requests.' : n === 1 ? '1 pending request.' : n + ' pending requests.';
  }

  function renderCount() {
    var n = state.pending.size;
    els.count.textContent = '(' + n + ')';
    els.empty.hidden = n !== 0;
  }

  function what(r) {
    if (r.type === 'access') return 'access to role ' + r.role + ' for ' + r.minutes + ' min';
    var f = r.facts;
    var kind = f && typeof f === 'object' && !Array.isArray(f) && typeof f.command_tag === 'string' && f.command_tag ? f.command_tag : 'statement';
    return kind + ' on ' + r.database;
  }
  function describe(r) { return what(r) + ' by ' + r.requester.subject; }

  function approvalsOf(r) {
    return r.decisions.filter(function (d) { return d.decision === 'approve'; }).length;
  }

  /**
   * Shows a request's new state. Updates can arrive twice (the POST answer and the event
   * stream) and out of order: a request never goes back to pending, and a pending request
   * never loses decisions, so older states are ignored.
   */
  function apply(r, event, quiet) {
    var prev = state.status.get(r.id);
    var current = state.pending.get(r.id);
    if (r.status === 'pending') {
      if (prev !== undefined && prev !== 'pending') return;
      if (current && r.decisions.length < current.decisions.length) return;
      state.status.set(r.id, 'pending');
      upsertPending(r);
      if (!quiet && prev === undefined) announce('New request: ' + describe(r) + '.');
      else if (!quiet && current && r.decisions.length > current.decisions.length) {
        announce('Decision recorded on ' + describe(r) + ': ' + approvalsOf(r) + ' of ' + r.required_approvals + ' approvals.');
      }
    } else {
      state.status.set(r.id, r.status);
      if (current) removePending(r.id);
      addRecent(r);
      if (!quiet && prev !== r.status) announce('Request ' + r.status + ': ' + describe(r) + '.');
      if (prev !== r.status && r.type === 'access' && r.viewer && r.viewer.is_requester) refreshMe();
    }
    renderCount();
    void event;
  }

  function upsertPending(r) {
    state.pending.set(r.id, r);
    state.touched.set(r.id, ++state.seq);
    var old = state.cards.get(r.id);
    // Before building: the new card takes over the comment field (keeping what was typed).
    var active = document.activeElement;
    var key = old && active && old.contains(active) && active.getAttribute ? active.getAttribute('data-focus') : null;
    var card = buildCard(r, false);
    if (old) {
      old.replaceWith(card);
      state.cards.set(r.id, card);
      if (key) {
        var target = card.querySelector('[data-focus="' + key + '"]');
        if (target && !target.disabled) target.focus();
      }
      return;
    }
    state.cards.set(r.id, card);
    var before = null;
    var items = els.pending.children;
    for (var i = 0; i < items.length; i++) {
      var other = state.pending.get(items[i].getAttribute('data-id'));
      if (other && other.expires_at > r.expires_at) { before = items[i]; break; }
    }
    els.pending.insertBefore(card, before);
  }

  function removePending(id) {
    var card = state.cards.get(id);
    state.pending.delete(id);
    state.touched.delete(id);
    state.cards.delete(id);
    state.comments.delete(id);
    if (!card) return;
    var hadFocus = card.contains(document.activeElement);
    var next = card.nextElementSibling || card.previousElementSibling;
    card.remove();
    if (hadFocus) {
      var heading = next ? next.querySelector('h3') : null;
      (heading || els.pendingH).focus();
    }
  }

  function addRecent(r) {
    state.recent = [r].concat(state.recent.filter(function (x) { return x.id !== r.id; })).slice(0, 20);
    renderRecent();
  }

  function renderRecent() {
    els.recent.textContent = '';
    state.recent.forEach(function (r) { els.recent.appendChild(buildCard(r, true)); });
    els.recentEmpty.hidden = state.recent.length !== 0;
  }

  var BLOCKED = {
    self_approval: 'You made this request: someone else must decide.',
    not_an_approver: 'You are not in an approver group for this request.',
    already_decided: 'You have already decided on this request.',
    approver_kind: 'Your identity kind cannot approve or reject.',
    expired: 'The time to decide has run out.',
    not_pending: 'This request is no longer pending.'
  };

  function claimsList(claims) {
    var keys = Object.keys(claims || {});
    if (keys.length === 0) return h('span', { class: 'note', text: 'none in the token' });
    return h('ul', { class: 'claims' }, keys.map(function (k) {
      var v = claims[k];
      return h('li', null, k + ': ', h('strong', { text: typeof v === 'string' ? v : JSON.stringify(v) }));
    }));
  }

  function buildCard(r, recent) {
    var hid = (recent ? 'recent-' : 'req-') + r.id;
    var title = r.type === 'access'
      ? 'Access request: role ' + r.role + ' for ' + r.minutes + ' minutes'
      : 'Statement: ' + what(r) + ' as ' + r.upstream_role;
    var approvals = approvalsOf(r);
    var meta = h('p', { class: 'meta' },
      h('span', { class: 'badge status-' + r.status, text: r.status }), ' · ',
      'approvals ' + approvals + ' of ' + r.required_approvals,
      r.status === 'pending' ? [' · ', h('time', { class: 'left', datetime: r.expires_at, 'data-expires': r.expires_at, text: formatLeft(Date.parse(r.expires_at) - now()) })] : null,
      r.type === 'access' && r.granted_until ? [' · granted until ', h('time', { datetime: r.granted_until, text: new Date(r.granted_until).toLocaleString() })] : null
    );
    var dl = h('dl');
    function row(label, value) { dl.appendChild(h('dt', { text: label })); dl.appendChild(h('dd', null, value)); }
    row('Requester', [h('strong', { text: r.requester.subject }), ' (' + r.requester.kind + ', issuer ' + r.requester.issuer + ')']);
    row('Agent / provenance', claimsList(r.requester.claims));
    if (r.type === 'statement') {
      row('Database / role', r.database + ' as ' + r.upstream_role);
      row('Policy reason', r.reason);
    } else {
      row('Role', r.role + ' for ' + r.minutes + ' minutes');
      row('Requester\u2019s reason', r.reason);
    }
    row('Approver groups', r.approver_groups.join(', ') + ' (' + r.required_approvals + ' approval' + (r.required_approvals === 1 ? '' : 's') + ' required)');
    if (r.decisions.length) {
      row('Decisions', h('ul', null, r.decisions.map(function (d) {
        return h('li', null, h('strong', { text: d.decision === 'approve' ? 'approved' : 'rejected' }), ' by ' + d.approver.subject + ' at ' + new Date(d.at).toLocaleString() +
          (d.comment ? ': \u201c' + d.comment + '\u201d' : ''));
      })));
    }
    row('Requested', h('time', { datetime: r.created_at, text: new Date(r.created_at).toLocaleString() }));
    row('Request ID', h('code', { text: r.id }));

    var body = [h('h3', { id: hid, tabindex: '-1', 'data-focus': 'heading', text: title }), meta, dl];
    if (r.type === 'statement') {
      var tables = tablesFromFacts(r.facts);
      var code = h('code');
      highlightSql(r.sql, tables).forEach(function (seg) {
        code.appendChild(seg.mark ? h('mark', { text: seg.text }) : document.createTextNode(seg.text));
      });
      body.push(h('h4', { text: 'SQL' }), h('pre', { class: 'sql', 'aria-label': 'SQL to run' }, code));
      if (tables.length) {
        body.push(h('p', { class: 'tables' }, 'Tables: ', tables.map(function (t, k) {
          return [k ? ', ' : '', h('mark', { text: (t.schema ? t.schema + '.' : '') + t.name }), t.access ? ' (' + t.access + ')' : ''];
        })));
      }
      if (r.params && r.params.length) {
        body.push(h('h4', { text: 'Parameters' }), h('ol', { class: 'params' }, r.params.map(function (p, k) {
          return h('li', null, '$' + (k + 1) + ' = ', p === null ? h('em', { text: 'NULL' }) : h('code', { text: p }));
        })));
      }
    }
    if (!recent && r.status === 'pending') body.push(decisionForm(r, hid));
    return h('li', { class: 'request', 'data-id': r.id }, h('article', { 'aria-labelledby': hid }, body));
  }

  function decisionForm(r, hid) {
    var v = r.viewer || { can_decide: false, reason: null };
    if (!v.can_decide) {
      return h('p', { class: 'note' }, BLOCKED[v.reason] || 'You cannot decide on this request.');
    }
    var cid = 'comment-' + r.id;
    var comment = state.comments.get(r.id);
    if (!comment) {
      comment = h('textarea', { id: cid, rows: '2', maxlength: '2000', 'data-focus': 'comment' });
      state.comments.set(r.id, comment);
    }
    var err = h('p', { class: 'error', role: 'alert' });
    var approve = h('button', { type: 'button', class: 'approve', 'data-focus': 'approve', 'aria-describedby': hid, text: 'Approve' });
    var reject = h('button', { type: 'button', class: 'reject', 'data-focus': 'reject', 'aria-describedby': hid, text: 'Reject' });
    async function decide(action) {
      approve.disabled = true; reject.disabled = true; err.textContent = '';
      try {
        var data = await api('POST', '/api/requests/' + encodeURIComponent(r.id) + '/' + action, { comment: comment.value });
        apply(data.request, null, true);
        announce((action === 'approve' ? 'You approved ' : 'You rejected ') + describe(data.request) + '. Status: ' + data.request.status + '.');
      } catch (e) {
        if (e.status === 401) return;
        err.textContent = e.message;
        approve.disabled = false; reject.disabled = false;
        if (e.status === 409 || e.status === 404) {
          try { var fresh = await api('GET', '/api/requests/' + encodeURIComponent(r.id)); apply(fresh.request, null); } catch (x) { removePending(r.id); renderCount(); }
        }
      }
    }
    approve.addEventListener('click', function () { decide('approve'); });
    reject.addEventListener('click', function () { decide('reject'); });
    return h('div', { class: 'decide' },
      h('label', { for: cid, text: 'Comment (recorded with your decision)' }), comment,
      h('div', { class: 'buttons' }, approve, reject), err);
  }

  // ---- live updates ----
  function startStream() {
    if (state.stream) state.stream.abort();
    var ctrl = new AbortController();
    state.stream = ctrl;
    (async function () {
      var backoff = 1000;
      var first = true;
      while (!ctrl.signal.aborted && state.token) {
        try {
          els.conn.textContent = first ? 'connecting' : 'reconnecting';
          var res = await fetch('/api/events', {
            headers: { Authorization: 'Bearer ' + state.token, Accept: 'text/event-stream' },
            signal: ctrl.signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer'
          });
          if (res.status === 401) { signOut('Signed out: the token was refused or has expired. Sign in again.'); return; }
          if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
          els.conn.textContent = 'connected';
          backoff = 1000;
          first = false;
          // The stream is registered before its headers arrive: reloading now catches whatever
          // changed before it (or while disconnected) without a gap.
          await loadPending();
          var reader = res.body.getReader();
          var decoder = new TextDecoder();
          var buf = '';
          for (;;) {
            var chunk = await reader.read();
            if (chunk.done) break;
            buf += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, '\n');
            var idx;
            while ((idx = buf.indexOf('\n\n')) >= 0) {
              var block = buf.slice(0, idx);
              buf = buf.slice(idx + 2);
              if (onMessage(block) === 'stop') return;
            }
          }
        } catch (e) {
          if (ctrl.signal.aborted) return;
        }
        if (ctrl.signal.aborted || !state.token) return;
        els.conn.textContent = 'disconnected, retrying';
        first = false;
        await new Promise(function (res) { setTimeout(res, backoff); });
        backoff = Math.min(backoff * 2, 30000);
      }
    })();
  }

  function onMessage(block) {
    var event = 'message';
    var data = '';
    block.split('\n').forEach(function (line) {
      if (line.slice(0, 6) === 'event:') event = line.slice(6).trim();
      else if (line.slice(0, 5) === 'data:') data += line.slice(5).replace(/^ /, '');
    });
    if (!data) return null;
    var msg;
    try { msg = JSON.parse(data); } catch (e) { return null; }
    if (msg.server_time) syncClock(msg.server_time);
    if (event === 'change' && msg.request) apply(msg.request, msg.event);
    if (event === 'resync') loadPending().catch(function () { /* the next event or reconnect retries */ });
    if (event === 'reauth') { signOut('Signed out: the token has expired. Sign in again.'); return 'stop'; }
    return null;
  }

  // ---- ticking clocks ----
  setInterval(function () {
    var times = els.pending.querySelectorAll('time[data-expires]');
    for (var i = 0; i < times.length; i++) {
      var t = times[i];
      var left = Date.parse(t.getAttribute('data-expires')) - now();
      t.textContent = formatLeft(left);
      t.classList.toggle('urgent', left < 60000);
      if (left <= 0) {
        var card = t.closest('.request');
        if (card) card.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
      }
    }
  }, 1000);

  // ---- forms ----
  els.signinForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var token = els.token.value.trim();
    if (!token) { showAlert('Paste a token first.'); els.token.focus(); return; }
    signIn(token, false).then(function (ok) { if (!ok) els.token.focus(); });
  });
  els.signout.addEventListener('click', function () { signOut(); });
  els.accessForm.addEventListener('submit', async function (ev) {
    ev.preventDefault();
    els.accessError.textContent = '';
    var minutes = Number(els.accessMinutes.value);
    try {
      var data = await api('POST', '/api/access-requests', { role: els.accessRole.value.trim(), minutes: minutes, reason: els.accessReason.value });
      els.accessReason.value = '';
      apply(data.request, null, true);
      announce('Access request for role ' + data.request.role + ' created; waiting for ' + data.request.approver_groups.join(' or ') + '.');
    } catch (e) {
      if (e.status !== 401) els.accessError.textContent = e.message;
    }
  });

  var saved = null;
  try { saved = sessionStorage.getItem(TOKEN_KEY); } catch (x) { saved = null; }
  if (saved) signIn(saved, true);
  else els.token.focus();
}

if (typeof document !== 'undefined') {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
  else main();
}
`;
