// The approvers' page: a static HTML shell, a stylesheet and a script, each served from its own
// path so the Content-Security-Policy can forbid inline script and style. Everything the page
// shows comes from the JSON API and is put into the DOM as text nodes (textContent,
// createTextNode): SQL, comments and claims are never parsed as HTML. The script never uses
// innerHTML or similar; a test checks that.
//
// The token lives in this tab only (sessionStorage) and is sent only in the Authorization
// header; the sign-in field has no `name`, so even a submit without the script sends nothing.
import { APP_JS } from './page-script.js';

export { APP_JS };

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>auditgate approvals</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <h1>auditgate approvals</h1>
  <div id="who" hidden>
    <p id="whoami"></p>
    <button type="button" id="signout">Sign out</button>
  </div>
</header>
<div id="live" class="live" role="status" aria-live="polite" aria-atomic="true"></div>
<div id="alert" class="alert" role="alert"></div>
<main id="main" tabindex="-1">
<noscript><p class="alert">This page needs JavaScript. The command line works too: <code>auditgate approvals list</code>.</p></noscript>

<section id="signin" aria-labelledby="signin-h">
  <h2 id="signin-h">Sign in</h2>
  <form id="signin-form" method="post" autocomplete="off">
    <label for="token">Bearer token (JWT)</label>
    <input id="token" type="password" autocomplete="off" spellcheck="false" aria-describedby="token-hint" required>
    <p id="token-hint" class="hint">A token from your identity provider; for development:
      <code>auditgate token --sub you@example.com --kind human --groups approvers</code>.
      It stays in this browser tab and is only sent in the Authorization header.</p>
    <button type="submit">Sign in</button>
  </form>
</section>

<div id="app" hidden>
  <section id="grants-section" aria-labelledby="grants-h" hidden>
    <h2 id="grants-h">Your active access grants</h2>
    <ul id="grants"></ul>
  </section>

  <section aria-labelledby="pending-h">
    <h2 id="pending-h" tabindex="-1">Pending requests <span id="count"></span></h2>
    <p class="conn">Live updates: <span id="conn">connecting</span></p>
    <p id="empty" class="empty" hidden>No pending requests.</p>
    <ul id="pending" class="requests"></ul>
  </section>

  <section aria-labelledby="recent-h">
    <h2 id="recent-h">Decided while this page was open</h2>
    <p id="recent-empty" class="empty">None yet.</p>
    <ul id="recent" class="requests"></ul>
  </section>

  <section id="access" aria-labelledby="access-h">
    <h2 id="access-h">Request access</h2>
    <p class="hint">Ask for an upstream role for your own sessions for a while. Once approved,
      your new sessions may use the role until the grant ends.</p>
    <form id="access-form" method="post">
      <div class="field">
        <label for="access-role">Role</label>
        <input id="access-role" list="access-roles" autocomplete="off" spellcheck="false" required maxlength="63">
        <datalist id="access-roles"></datalist>
      </div>
      <div class="field">
        <label for="access-minutes">Minutes</label>
        <input id="access-minutes" type="number" min="1" max="1440" step="1" value="60" required>
      </div>
      <div class="field">
        <label for="access-reason">Reason</label>
        <textarea id="access-reason" rows="2" maxlength="1000" required></textarea>
      </div>
      <p id="access-error" class="error" role="alert"></p>
      <button type="submit">Request access</button>
    </form>
  </section>
</div>
</main>
</body>
</html>
`;

export const APP_CSS = `:root {
  --fg: #1b1f24; --bg: #ffffff; --muted: #57606a; --line: #d0d7de; --card: #f6f8fa;
  --accent: #0969da; --ok: #1a7f37; --bad: #cf222e; --mark: #fff1a8; --focus: #bf3989;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.45;
}
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9da7b3; --line: #30363d; --card: #161b22;
          --accent: #58a6ff; --ok: #3fb950; --bad: #f85149; --mark: #6e5a00; --focus: #ff7bd0; }
}
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); }
main { max-width: 72rem; margin: 0 auto; padding: 0 1rem 3rem; }
main:focus { outline: none; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: .5rem; z-index: 2; }
.top { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 1rem;
       padding: .75rem 1rem; border-bottom: 1px solid var(--line); }
.top h1 { font-size: 1.25rem; margin: 0; }
#who { display: flex; align-items: center; gap: .75rem; }
#who[hidden] { display: none; }
#who p { margin: 0; color: var(--muted); }
.live { max-width: 72rem; margin: .5rem auto 0; padding: 0 1rem; min-height: 1.5em; color: var(--muted); }
.alert { max-width: 72rem; margin: 0 auto; padding: 0 1rem; color: var(--bad); font-weight: 600; }
.alert:empty, .error:empty { display: none; }
.error { color: var(--bad); font-weight: 600; }
.hint, .conn, .empty { color: var(--muted); }
label { display: block; font-weight: 600; margin: .5rem 0 .25rem; }
input, textarea, button { font: inherit; color: inherit; }
input, textarea { width: 100%; max-width: 40rem; padding: .4rem .5rem; border: 1px solid var(--muted); border-radius: 4px; background: var(--bg); }
button { padding: .4rem .9rem; border: 1px solid var(--muted); border-radius: 4px; background: var(--card); cursor: pointer; }
button:disabled { opacity: .55; cursor: not-allowed; }
button.approve { border-color: var(--ok); color: var(--ok); font-weight: 600; }
button.reject { border-color: var(--bad); color: var(--bad); font-weight: 600; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.requests { list-style: none; padding: 0; margin: 0; }
.request { border: 1px solid var(--line); border-radius: 6px; background: var(--card); padding: .75rem 1rem; margin: 0 0 1rem; }
.request h3 { margin: 0 0 .25rem; font-size: 1.1rem; }
.request h3:focus { outline: none; }
.request .meta { margin: 0 0 .5rem; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: 3px; border: 1px solid currentColor; font-size: .85em; font-weight: 600; }
.status-approved, .status-released { color: var(--ok); }
.status-rejected, .status-expired, .status-withdrawn { color: var(--bad); }
.left.urgent { color: var(--bad); font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .5rem 0; }
dt { font-weight: 600; color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
pre.sql { background: var(--bg); border: 1px solid var(--line); border-radius: 4px; padding: .6rem; overflow-x: auto;
          white-space: pre-wrap; overflow-wrap: anywhere; margin: .25rem 0 .5rem; }
mark { background: var(--mark); color: inherit; border-radius: 2px; padding: 0 1px; font-weight: 600; }
.decide { border-top: 1px solid var(--line); margin-top: .5rem; padding-top: .25rem; }
.buttons { display: flex; gap: .75rem; margin-top: .5rem; }
.note { color: var(--muted); font-style: italic; }
.field { margin-bottom: .5rem; }
h4 { margin: .75rem 0 .25rem; font-size: 1rem; }
`;
