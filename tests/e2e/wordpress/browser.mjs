// Drives Debian's Chromium (playwright-core, no downloaded browser) through the chat box of a WordPress page.
//
//   node browser.mjs '{"url": ..., "questions": [...], "slowQuestion": ..., "screenshot": ..., "out": ...}'
//   node browser.mjs '{"url": ..., "cookies": [...], "elementScreenshot": {"selector": ..., "path": ...}, "out": ...}'
//
// For each question: type it, press Enter, wait for a reply or an error, and record what a visitor sees.
// `slowQuestion` is asked with the REST answer held back for a moment, to see the waiting state.
// Every request the browser makes and every response body it receives are recorded, so that the test can
// check that the API key never reaches the browser. Writes one JSON document to `out`.
import { writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const args = JSON.parse(process.argv[2]);
const TIMEOUT_MS = args.timeoutMs ?? 45000;

const browser = await chromium.launch({
  executablePath: args.executablePath ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const result = { requests: [], responses: [], steps: [], consoleErrors: [], pageErrors: [], recordingErrors: [] };
const recording = [];
try {
  const context = await browser.newContext({
    viewport: { width: 900, height: 900 },
    locale: args.locale ?? 'en-US',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  page.on('console', (msg) => {
    if (msg.type() === 'error') result.consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => result.pageErrors.push(String(err)));
  // Every request is recorded at once with the headers known then; the full set (cookies included) is read
  // asynchronously, and a late one (a favicon) may still be reading when the browser closes: such a failure
  // is noted, never fatal, and all reads are awaited before closing.
  const record = (work) => recording.push(work().catch((err) => result.recordingErrors.push(String(err))));
  page.on('request', (request) => {
    const entry = { url: request.url(), method: request.method(), headers: request.headers(), postData: request.postData() ?? '' };
    result.requests.push(entry);
    record(async () => {
      entry.headers = await request.allHeaders();
    });
  });
  page.on('response', (response) =>
    record(async () => {
      let body = '';
      try {
        body = await response.text();
      } catch {
        body = '';
      }
      result.responses.push({ url: response.url(), status: response.status(), headers: await response.allHeaders(), body });
    }),
  );

  if (args.cookies) await context.addCookies(args.cookies);
  const started = Date.now();
  const navigation = await page.goto(args.url, { waitUntil: 'load' });
  result.pageStatus = navigation.status();
  result.pageLoadMs = Date.now() - started;
  result.rawHtml = await navigation.text();

  // An admin page: a screenshot of one element, and what the browser saw.
  if (args.elementScreenshot) {
    await page.locator(args.elementScreenshot.selector).first().screenshot({ path: args.elementScreenshot.path });
    result.domHtml = await page.content();
    result.cookies = await context.cookies();
  } else {
    await chat(page, context);
  }
} finally {
  await Promise.allSettled(recording);
  await browser.close();
}
writeFileSync(args.out, JSON.stringify(result, null, 1));

// The chat box: ask each question as a visitor would and record what the page shows.
async function chat(page, context) {
  const box = page.locator('.chatbot-faq').first();
  const input = box.locator('.chatbot-faq__input');
  const button = box.locator('.chatbot-faq__send');
  const status = box.locator('.chatbot-faq__status');
  result.title = (await box.locator('.chatbot-faq__title').textContent())?.trim();
  result.placeholder = await input.getAttribute('placeholder');
  result.buttonText = (await button.textContent())?.trim();
  result.labelText = (await box.locator('label.chatbot-faq__label').textContent())?.trim();
  result.logAttrs = {
    role: await box.locator('.chatbot-faq__log').getAttribute('role'),
    ariaLive: await box.locator('.chatbot-faq__log').getAttribute('aria-live'),
  };

  async function ask(question, { slow = false } = {}) {
    const bots = box.locator('.chatbot-faq__message--bot');
    const before = await bots.count();
    const step = { question };
    if (slow) {
      await page.route('**/*chatbot-faq/v1/chat*', async (route) => {
        await new Promise((resolve) => setTimeout(resolve, 1500));
        await route.continue();
      });
    }
    await input.fill(question);
    const t0 = Date.now();
    await input.press('Enter');
    if (slow) {
      await page.waitForTimeout(300);
      step.waiting = {
        ariaBusy: await box.getAttribute('aria-busy'),
        buttonDisabled: await button.isDisabled(),
        statusText: (await status.textContent())?.trim(),
      };
    }
    await page.waitForFunction(
      ([el, n]) => el.querySelectorAll('.chatbot-faq__message--bot').length > n
        || el.querySelector('.chatbot-faq__status--error') !== null,
      [await box.elementHandle(), before],
      { timeout: TIMEOUT_MS },
    );
    step.elapsedMs = Date.now() - t0;
    if (slow) await page.unroute('**/*chatbot-faq/v1/chat*');
    const count = await bots.count();
    step.reply = count > before ? (await bots.nth(count - 1).locator('.chatbot-faq__text').textContent()) : null;
    step.statusText = (await status.textContent())?.trim();
    step.statusIsError = await status.evaluate((el) => el.classList.contains('chatbot-faq__status--error'));
    step.ariaBusy = await box.getAttribute('aria-busy');
    step.focusedIsInput = await input.evaluate((el) => document.activeElement === el);
    step.imagesInLog = await box.locator('.chatbot-faq__log img').count();
    step.logText = await box.locator('.chatbot-faq__log').innerText();
    result.steps.push(step);
    return step;
  }

  for (const [i, question] of (args.questions ?? []).entries()) {
    await ask(question);
    if (i === (args.screenshotAfter ?? 0) && args.screenshot) {
      await box.screenshot({ path: args.screenshot });
    }
  }
  if (args.slowQuestion) await ask(args.slowQuestion, { slow: true });
  if (args.errorQuestion) await ask(args.errorQuestion);

  result.pwned = await page.evaluate(() => window.__chatbotFaqPwned === true);
  result.domHtml = await page.content();
  result.cookies = await context.cookies();
}
