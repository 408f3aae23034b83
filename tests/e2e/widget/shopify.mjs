// The Shopify theme app extension, outside Shopify: Theme Check (Shopify's own, offline) and a Liquid render.
//
//   node shopify.mjs check <extension dir>                      -> JSON list of offenses
//   node shopify.mjs report <extension dir>                     -> one line per offense; exit 1 on an error
//   node shopify.mjs render <extension dir> '<context JSON>'    -> JSON {"html": the app embed block rendered}
//
// The render uses liquidjs, which knows standard Liquid only: the `schema` tag is registered as a no-op block
// and Shopify's `t` filter reads the extension's storefront locale (context.locale, else en.default).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [command, dir, contextJson] = process.argv.slice(2);

if (command === 'check' || command === 'report') {
  const { check } = await import('@shopify/theme-check-node');
  const offenses = await check(dir, 'theme-check:theme-app-extension');
  const relative = (uri) => uri.replace(/^file:\/\//, '').replace(`${dir}/`, '');
  const found = offenses.map((o) => ({ check: o.check, severity: o.severity, message: o.message, file: relative(o.uri) }));
  if (command === 'check') console.log(JSON.stringify(found));
  else {
    for (const o of found) console.log(`${o.file}: ${o.check} (${['error', 'warning', 'info'][o.severity]}): ${o.message}`);
    console.log(`theme check: ${found.filter((o) => o.severity === 0).length} error(s), ${found.length} offense(s)`);
    if (found.some((o) => o.severity === 0)) process.exit(1);
  }
} else if (command === 'render') {
  const { Liquid } = await import('liquidjs');
  const context = JSON.parse(contextJson);
  const engine = new Liquid();
  engine.registerTag('schema', {
    parse(token, remainTokens) {
      this.tokens = [];
      const stream = this.liquid.parser.parseStream(remainTokens);
      stream.on('tag:endschema', () => stream.stop()).on('template', () => {}).on('end', () => {
        throw new Error('schema: missing endschema');
      });
      stream.start();
    },
    * render() {},
  });
  const localeFile = join(dir, 'locales', `${context.locale}.json`);
  const locale = JSON.parse(readFileSync(existsSync(localeFile) ? localeFile : join(dir, 'locales', 'en.default.json'), 'utf8'));
  engine.registerFilter('t', (key) => key.split('.').reduce((node, part) => node?.[part], locale) ?? `translation missing: ${key}`);
  const source = readFileSync(join(dir, 'blocks', 'chatbot.liquid'), 'utf8');
  const html = await engine.parseAndRender(source, {
    block: { settings: context.settings },
    request: { locale: { iso_code: context.locale } },
  });
  console.log(JSON.stringify({ html }));
} else {
  console.error('usage: node shopify.mjs check|render <extension dir> [context JSON]');
  process.exit(2);
}
