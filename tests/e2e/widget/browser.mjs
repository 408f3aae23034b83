// Drives Debian's Chromium (playwright-core, one launch) through the widget on several pages, one scenario per
// browser context, and writes what a visitor saw and what the browser sent and received as one JSON document.
//
//   node browser.mjs '{"scenarios": [{"name", "flow", "url", "phone"?, "screenshot"?}, ...], "out", "axePath"}'
//
// Flows: `conversation` (keyboard only: ask, watch the stream, rate, stop, reload, Escape, new conversation),
// `phone`, `states` (offline, then rate limited), `refused` (an origin the chatbot does not list), `short`
// (ask, reload, new conversation: for the Shopify page and the demo page).
import { readFileSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const args = JSON.parse(process.argv[2]);
const AXE = readFileSync(args.axePath, 'utf8');
const W = 'chatbot-widget';

// Installed in the page before each question: timings and what the transcript showed while the reply streamed.
const WATCH = () => {
  const root = document.querySelector('chatbot-widget').shadowRoot;
  const log = root.querySelector('.log');
  const w = (window.__cbw = { t0: null, first: null, ended: null, busySeen: false, seen: [], statusWhileStreaming: null });
  root.querySelector('form').addEventListener('submit', () => {
    w.t0 ??= performance.now();
    w.before = root.querySelectorAll('.msg.bot').length;
  }, { capture: true, once: true });
  const observer = new MutationObserver((records) => {
    for (const record of records) {
      if (record.attributeName !== 'aria-busy') continue;
      if (log.getAttribute('aria-busy') === 'true') w.busySeen = true;
      else if (record.oldValue === 'true' && w.ended === null) w.ended = performance.now() - w.t0;
    }
    const bubble = w.t0 === null ? null : root.querySelectorAll('.msg.bot')[w.before];
    const text = bubble?.querySelector('.text').textContent ?? '';
    if (text && log.getAttribute('aria-busy') === 'true' && text !== w.seen.at(-1)) {
      if (w.first === null) {
        w.first = performance.now() - w.t0;
        w.statusWhileStreaming = root.querySelector('.status').textContent;
      }
      w.seen.push(text);
    }
  });
  observer.observe(root, { subtree: true, childList: true, characterData: true, attributes: true, attributeOldValue: true });
  w.disconnect = () => observer.disconnect();
};

// A wait started before the action that triggers it (no race); if the action fails first, its rejection is
// not left unhandled (that would end the process).
const expect = (promise) => {
  promise.catch(() => {});
  return promise;
};
const q = (page, selector) => page.locator(`${W} ${selector}`);
const status = async (page) => (await q(page, '.status').textContent()).trim();
const inWidget = (page, fn) => page.evaluate(fn);

async function ask(page, text, { stop = false } = {}) {
  await page.evaluate(WATCH);
  await q(page, 'textarea').fill(text);
  await q(page, 'textarea').press('Enter');
  const step = { question: text };
  if (stop) {
    await page.waitForFunction(() => window.__cbw.seen.length >= 3);
    step.sendLabelWhileStreaming = await q(page, '.send').getAttribute('aria-label');
    step.stoppedAt = Date.now() / 1000;
    await q(page, '.send').click();
  }
  await page.waitForFunction(() => window.__cbw.ended !== null);
  const watched = await page.evaluate(() => {
    const { first, ended, busySeen, seen, statusWhileStreaming } = window.__cbw;
    window.__cbw.disconnect();
    return { first, ended, busySeen, seen, statusWhileStreaming };
  });
  return { ...step, ...watched, status: await status(page), error: await q(page, '.status.error').count() > 0 };
}

const transcript = (page) => inWidget(page, () => [...document.querySelector('chatbot-widget').shadowRoot
  .querySelectorAll('.msg')].map((m) => ({
  role: m.classList.contains('user') ? 'user' : 'assistant',
  text: m.querySelector('.text').textContent,
  links: [...m.querySelectorAll('.text a')].map((a) => ({ href: a.getAttribute('href'), target: a.target, rel: a.rel })),
  elements: [...m.querySelector('.text').querySelectorAll('*')].map((e) => e.tagName.toLowerCase()),
  rated: m.querySelector('.rate') !== null,
  mark: m.querySelector('.mark')?.textContent ?? null,
})));

const focused = (page) => inWidget(page, () => {
  const host = document.activeElement;
  const inner = host?.shadowRoot?.activeElement;
  return host?.tagName === 'CHATBOT-WIDGET' && inner ? `${inner.tagName.toLowerCase()}.${inner.className}` : host?.tagName;
});

const stored = (page) => page.evaluate(() => Object.fromEntries(Object.entries(localStorage)
  .filter(([k]) => k.startsWith('cbw:')).map(([k, v]) => [k, JSON.parse(v)])));

async function axe(page) {
  await page.evaluate(AXE);
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations', 'passes'] });
    const inWidget = (node) => Array.isArray(node.target[0]) && node.target[0][0] === 'chatbot-widget';
    return {
      violations: result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target) })),
      widgetNodesChecked: result.passes.flatMap((p) => p.nodes).filter(inWidget).length,
    };
  });
}

async function open(page, out) {
  await q(page, '.launcher').click();
  await q(page, '.panel').waitFor({ state: 'visible' });
  out.focusAfterOpen = await focused(page);
}

async function reloadAndRestore(page, out, messages) {
  await page.reload();
  await q(page, '.panel').waitFor({ state: 'visible' }); // reopened by itself: it was open before the reload
  await page.waitForFunction((n) => document.querySelector('chatbot-widget').shadowRoot.querySelectorAll('.msg').length >= n, messages);
  out.restored = await transcript(page);
  out.restoredStatus = await status(page);
}

async function newConversation(page, out) {
  out.storedBeforeNew = await stored(page);
  const deleted = expect(page.waitForResponse((r) => r.request().method() === 'DELETE')); // before the click
  await q(page, 'button[aria-label="New conversation"], button[aria-label="Nouvelle conversation"]').click();
  await deleted;
  out.afterNew = { transcript: await transcript(page), stored: await stored(page), status: await status(page) };
}

const FLOWS = {
  async conversation(page, out, s) {
    out.launcher = { label: await q(page, '.launcher').getAttribute('aria-label'), expanded: await q(page, '.launcher').getAttribute('aria-expanded') };
    for (let i = 0; i < 5 && !(await focused(page)).startsWith('button.launcher'); i++) await page.keyboard.press('Tab');
    out.focusAfterTab = await focused(page);
    await page.keyboard.press('Enter');
    await q(page, '.panel').waitFor({ state: 'visible' });
    out.focusAfterOpen = await focused(page);
    out.dialog = await inWidget(page, () => {
      const root = document.querySelector('chatbot-widget').shadowRoot;
      const attrs = (el, ...names) => Object.fromEntries(names.map((n) => [n, el.getAttribute(n)]));
      return { panel: attrs(root.querySelector('.panel'), 'role', 'aria-labelledby'), title: root.getElementById('cb-title').textContent,
        log: attrs(root.querySelector('.log'), 'role', 'aria-live'), status: attrs(root.querySelector('.status'), 'role'),
        label: root.querySelector('label').textContent, expanded: root.host.shadowRoot.querySelector('.launcher').getAttribute('aria-expanded') };
    });
    out.ask = await ask(page, 'Where are refunds explained? See https://example.com/refunds. <b>bold</b> javascript:alert(1)');
    out.stream = await ask(page, '#stream:8x150 Tell me more');
    await q(page, '.msg.bot:last-of-type .rate button[aria-label="Helpful"]').click();
    await page.waitForFunction(() => document.querySelector('chatbot-widget').shadowRoot.querySelector('.status').textContent.startsWith('Thank'));
    out.feedback = { status: await status(page), pressed: await q(page, '.msg.bot:last-of-type .rate button[aria-pressed="true"]').getAttribute('aria-label') };
    out.stop = await ask(page, '#stream:60x100 A long answer, please', { stop: true });
    out.stop.transcript = (await transcript(page)).at(-1);
    await reloadAndRestore(page, out, 4);
    for (let i = 0; i < 20 && (await focused(page)) !== 'textarea.'; i++) await page.keyboard.press('Tab');
    out.focusBeforeEscape = await focused(page);
    await page.keyboard.press('Escape');
    await q(page, '.panel').waitFor({ state: 'hidden' });
    out.afterEscape = { focus: await focused(page), expanded: await q(page, '.launcher').getAttribute('aria-expanded') };
    await page.keyboard.press('Enter');
    await q(page, '.panel').waitFor({ state: 'visible' });
    out.axe = await axe(page);
    await newConversation(page, out);
    out.afterNewAsk = await ask(page, 'A fresh start');
    out.storedAfterNewAsk = await stored(page);
  },
  async phone(page, out, s) {
    await q(page, '.launcher').tap();
    await q(page, '.panel').waitFor({ state: 'visible' });
    out.viewport = page.viewportSize();
    out.panelBox = await q(page, '.panel').boundingBox();
    out.inputFontSize = await q(page, 'textarea').evaluate((el) => getComputedStyle(el).fontSize);
    out.texts = { title: await q(page, 'h2').textContent(), placeholder: await q(page, 'textarea').getAttribute('placeholder'), send: await q(page, '.send').textContent() };
    out.ask = await ask(page, 'Comment modifier la FAQ ?');
    if (s.screenshot) await page.screenshot({ path: s.screenshot });
    out.axe = await axe(page);
  },
  async states(page, out, s, context) {
    await open(page, out);
    out.first = await ask(page, 'Hello');
    await context.setOffline(true);
    out.offline = await ask(page, 'Are you there?');
    out.offline.inputKept = await q(page, 'textarea').inputValue();
    await context.setOffline(false);
    await page.waitForFunction(() => document.querySelector('chatbot-widget').shadowRoot.querySelector('.status').textContent === '');
    await q(page, 'textarea').fill('');
    for (let i = 0; i < 40 && !out.limited; i++) {
      const step = await ask(page, `Question ${i}`);
      if (step.error) out.limited = { ...step, asked: i + 1, sendDisabled: await q(page, '.send').isDisabled() };
    }
  },
  async refused(page, out) {
    await open(page, out);
    out.ask = await ask(page, 'Hello from a site the chatbot does not know');
    out.ask.inputKept = await q(page, 'textarea').inputValue();
    out.transcript = await transcript(page);
  },
  async short(page, out, s) {
    out.launcherStyle = await q(page, '.launcher').evaluate((el) => ({
      background: getComputedStyle(el).backgroundColor, color: getComputedStyle(el).color, left: el.getBoundingClientRect().left,
    }));
    await open(page, out);
    out.texts = { title: await q(page, 'h2').textContent(), placeholder: await q(page, 'textarea').getAttribute('placeholder'), send: await q(page, '.send').textContent() };
    out.ask = await ask(page, s.question ?? `#stream:6x120 Comment suivre ma commande ? https://example.com/suivi (${s.name})`);
    const rated = expect(page.waitForResponse((r) => r.url().endsWith('/feedback')));
    await q(page, '.msg.bot:last-of-type .rate button').last().click();
    await rated;
    out.feedbackStatus = await status(page);
    await reloadAndRestore(page, out, 2);
    if (s.screenshot) await page.screenshot({ path: s.screenshot }); // the transcript, back after the reload
    await newConversation(page, out);
  },
};

async function run(browser, s) {
  const phone = s.phone ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {};
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 }, locale: 'en-US', ...phone });
  const out = { requests: [], responses: [], console: [], pageErrors: [] };
  const pending = [];
  context.on('request', (r) => out.requests.push({ url: r.url(), method: r.method(), headers: r.headers(), postData: r.postData() ?? '' }));
  context.on('response', (r) => pending.push((async () => {
    const entry = { url: r.url(), status: r.status(), method: r.request().method(), postData: r.request().postData() ?? '', headers: await r.allHeaders(), body: '' };
    out.responses.push(entry);
    entry.body = await r.text().catch(() => ''); // an aborted stream has no complete body
  })().catch(() => {})));
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push({ directive: e.violatedDirective, blocked: e.blockedURI }));
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('console', (m) => out.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => out.pageErrors.push(String(e)));
  try {
    await page.goto(s.url);
    await q(page, '.launcher').waitFor();
    await FLOWS[s.flow](page, out, s, context);
    out.csp = await page.evaluate(() => window.__csp);
    if (s.controlViolation) {
      // Proves the listener works on this page: an inline style the CSP must refuse.
      out.consoleBeforeControl = [...out.console];
      await page.evaluate(() => document.head.append(Object.assign(document.createElement('style'), { textContent: 'p{}' })));
      await page.waitForTimeout(200);
      out.controlCsp = await page.evaluate(() => window.__csp.length);
    }
    out.dom = await page.content();
  } catch (error) {
    out.error = String(error.stack || error);
    if (s.screenshot) await page.screenshot({ path: s.screenshot.replace('.png', '-failed.png') }).catch(() => {});
  }
  await Promise.allSettled(pending);
  await context.close();
  return out;
}

const browser = await chromium.launch({
  executablePath: args.executablePath ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const results = {};
try {
  for (const scenario of args.scenarios) {
    let result = await run(browser, scenario);
    if (result.error) {
      // Once more, in a fresh context: on a busy machine Chromium aborts requests when Docker adds or removes a
      // network interface (net::ERR_NETWORK_CHANGED). The first failure is kept and reported by the harness.
      const first = { error: result.error, console: result.console };
      result = { ...(await run(browser, scenario)), firstAttempt: first };
    }
    results[scenario.name] = result;
  }
} finally {
  await browser.close();
}
writeFileSync(args.out, JSON.stringify(results, null, 1));
