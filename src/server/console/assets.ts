// The console's stylesheets and scripts, served as files (its CSP allows no inline code) under
// names that carry a hash of their content: a new version is a new URL, so they can be cached for
// good and a stale copy is never mixed with a newer page. The report's own CSS and script come from
// src/report/html.ts, so the plan reads and filters exactly as in plan.html.
import { createHash } from 'node:crypto';
import { REPORT_CSS, REPORT_SCRIPT } from '../../report/html.js';

const CONSOLE_CSS = `
.skip { position: absolute; left: -9999px; top: 0; background: #fff; padding: 8px 12px; z-index: 10; }
.skip:focus { left: 8px; top: 8px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
nav.top { display: flex; align-items: center; justify-content: space-between; gap: 16px; flex-wrap: wrap;
  padding: 10px 32px; border-bottom: 1px solid var(--line); background: var(--panel); }
nav.top .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
nav.top .who { display: flex; align-items: center; gap: 12px; color: var(--muted); }
nav.top .who form { margin: 0; }
.tag { display: inline-block; padding: 0 6px; border-radius: 4px; border: 1px solid var(--line); font-size: 11.5px;
  text-transform: uppercase; letter-spacing: .04em; }
a { color: var(--adopt); }
a:focus-visible, button:focus-visible, textarea:focus-visible, input:focus-visible, select:focus-visible, .button:focus-visible {
  outline: 3px solid var(--adopt); outline-offset: 2px; }
.crumbs { margin: 0 0 6px; color: var(--muted); }
h1 .status { vertical-align: 4px; margin-left: 6px; }
.status { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 650;
  border: 1px solid var(--line); white-space: nowrap; }
.status.ok { color: var(--add); background: var(--add-bg); border-color: #aceebb; }
.status.waiting { color: #7d4e00; background: var(--change-bg); border-color: #f2d36b; }
.status.busy { color: var(--adopt); background: var(--adopt-bg); border-color: #b6e3ff; }
.status.bad { color: var(--remove); background: var(--remove-bg); border-color: #ffcecb; }
.status.warn { color: var(--change); background: var(--change-bg); border-color: #f2d36b; }
.status.muted { color: var(--muted); background: var(--panel); }
.flag { font-size: 12px; font-weight: 600; }
.flag.ok { color: var(--add); } .flag.bad { color: var(--remove); } .flag.warn { color: var(--change); }
.small { font-size: 12px; }
.nowrap { white-space: nowrap; }
.reason { max-width: 280px; overflow-wrap: anywhere; }
ul.kinds { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px; }
table.runs td { vertical-align: top; }
table.runs tr.attention td { background: #fffbe6; }
a.run { font-family: var(--mono); font-size: 12.5px; }
.banner { border: 1px solid var(--line); border-left-width: 6px; border-radius: 6px; padding: 10px 14px; margin: 14px 0; }
.banner.waiting, .banner.warn { border-color: #bf8700; background: var(--change-bg); }
.banner.ok { border-color: var(--add); background: #f0fff4; }
.banner.bad { border-color: var(--remove); background: var(--remove-bg); }
.banner.muted { border-color: var(--line); background: var(--panel); }
.meta { margin-top: 12px; }
q.comment { font-style: italic; }
.error { color: var(--remove); overflow-wrap: anywhere; }
section.decision { border: 2px solid #d4a72c; border-radius: 8px; padding: 4px 18px 16px; margin: 22px 0; background: #fffdf3; }
section.decision h2 { margin-top: 14px; }
.notes { margin: 6px 0 12px; padding-left: 20px; }
form.decide label { display: block; font-weight: 600; margin-bottom: 4px; }
form.decide textarea { width: 100%; max-width: 720px; font: inherit; padding: 8px; border: 1px solid var(--line); border-radius: 6px; }
.buttons { display: flex; gap: 12px; margin-top: 10px; }
button, .button { font: inherit; font-weight: 600; padding: 7px 16px; border-radius: 6px; border: 1px solid var(--line);
  background: var(--bg); color: var(--fg); cursor: pointer; text-decoration: none; display: inline-block; }
button.primary, .button.primary { background: var(--add); border-color: var(--add); color: #fff; }
button.danger { background: var(--bg); border-color: var(--remove); color: var(--remove); }
button.link { background: none; border: none; padding: 0; color: var(--adopt); text-decoration: underline; font-weight: 400; }
button[disabled] { opacity: .6; cursor: progress; }
.since { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 18px; }
ul.changes { margin: 4px 0; padding-left: 18px; }
ul.changes li { margin: 2px 0; overflow-wrap: anywhere; }
section.report { margin-top: 24px; border-top: 1px solid var(--line); }
table.queues { width: auto; }
@media (max-width: 900px) { .since { grid-template-columns: 1fr; } nav.top { padding: 10px 16px; } }
`;

// The one thing the console's own pages script: a decision form is sent once. The clicked button's
// value must still go with the form, so the buttons are disabled just after the submit event.
const CONSOLE_JS = `
'use strict';
(function () {
  var forms = document.querySelectorAll('form.decide');
  Array.prototype.forEach.call(forms, function (form) {
    form.addEventListener('submit', function () {
      setTimeout(function () {
        Array.prototype.forEach.call(form.querySelectorAll('button'), function (b) { b.disabled = true; });
      }, 0);
    });
  });
})();
`;

export interface Asset {
  body: string;
  type: string;
}

function named(base: string, ext: string, body: string): [string, Asset] {
  const hash = createHash('sha256').update(body, 'utf8').digest('hex').slice(0, 12);
  return [
    `${base}.${hash}.${ext}`,
    { body, type: ext === 'css' ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8' },
  ];
}

const FILES = [
  named('report', 'css', REPORT_CSS),
  named('console', 'css', CONSOLE_CSS),
  named('report', 'js', REPORT_SCRIPT),
  named('console', 'js', CONSOLE_JS),
];

/** By file name, as served under /console/static/. */
export const ASSETS: ReadonlyMap<string, Asset> = new Map(FILES);

const path = (name: string) => `/console/static/${name}`;
/** What every page links, in order (the report's CSS first: the console's builds on its variables). */
export const PAGE_ASSETS = {
  css: FILES.filter(([n]) => n.endsWith('.css')).map(([n]) => path(n)),
  js: FILES.filter(([n]) => n.endsWith('.js')).map(([n]) => path(n)),
};
