/*! chatbot-mvp widget loader: a chat button on any page; the panel (panel.js) loads when it is first needed.
 * <script src="https://CHATBOT-HOST/widget.js" data-key="pk_..." defer></script>
 * Optional: data-lang="fr|en" (else the page's lang), data-color="#1a56db", data-position="right|left",
 * data-title="...". Everything lives in an open shadow root; styles are constructable stylesheets (no <style>,
 * no style attribute), so a page whose CSP has no 'unsafe-inline' needs only this host in script-src and
 * connect-src. The server writes the panel's content-hashed path into the import below.
 */
(() => {
  const me = document.currentScript;
  if (!me || !me.src || document.querySelector('chatbot-widget')) return;
  const data = me.dataset;
  const host = new URL(me.src).origin;
  const lang = /^fr\b/i.test(data.lang || document.documentElement.lang || navigator.language || '') ? 'fr' : 'en';
  const texts = {
    fr: { open: 'Ouvrir le chat', close: 'Fermer le chat', failed: 'Chat indisponible : pas de connexion au service.' },
    en: { open: 'Open the chat', close: 'Close the chat', failed: 'Chat unavailable: the service cannot be reached.' },
  }[lang];
  const color = data.color && CSS.supports('color', data.color) ? data.color : '#1a56db';
  const left = data.position === 'left';
  const memory = `cbw-open:${host}`;

  const element = document.createElement('chatbot-widget');
  const root = element.attachShadow({ mode: 'open' });
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(`
:host{all:initial!important;position:fixed!important;z-index:2147483000!important;bottom:20px!important;
 ${left ? 'left' : 'right'}:20px!important;--cb-accent:${color};--cb-on:#fff;font:16px/1.4 system-ui,-apple-system,
 "Segoe UI",Roboto,sans-serif;color:#1b1b1f}
.launcher{all:unset;box-sizing:border-box;width:60px;height:60px;border-radius:50%;background:var(--cb-accent);
 color:var(--cb-on);display:grid;place-items:center;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}
.launcher:focus-visible{outline:3px solid #1b1b1f;outline-offset:3px;box-shadow:0 0 0 6px #fff}
.launcher svg{width:28px;height:28px;fill:currentColor}
.note{position:absolute;bottom:70px;${left ? 'left' : 'right'}:0;width:220px;margin:0;padding:8px 12px;
 border-radius:8px;background:#1b1b1f;color:#fff;font-size:14px}
.note:empty{display:none}`);
  root.adoptedStyleSheets = [sheet];

  const launcher = document.createElement('button');
  launcher.type = 'button';
  launcher.className = 'launcher';
  launcher.setAttribute('aria-label', texts.open);
  launcher.setAttribute('aria-expanded', 'false');
  launcher.setAttribute('aria-haspopup', 'dialog');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  path.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6v2h10V9H7zm0 4v2h7v-2H7z');
  svg.append(path);
  launcher.append(svg);
  const note = document.createElement('p');
  note.className = 'note';
  note.setAttribute('role', 'status');
  root.append(note, launcher);

  // The panel is a module on the chatbot's host, under a content-hashed path (cached for a year).
  let panel = null;
  const load = () =>
    (panel ||= import(`${host}__PANEL_PATH__`)
      .then((module) =>
        module.mount({
          root, launcher, host, lang, left, key: data.key || '', title: data.title || '',
          remember: (open) => {
            try {
              open ? sessionStorage.setItem(memory, '1') : sessionStorage.removeItem(memory);
            } catch { /* storage refused (privacy settings): the panel just does not reopen by itself */ }
            launcher.setAttribute('aria-label', open ? texts.close : texts.open);
          },
        }))
      .catch((error) => {
        panel = null;
        note.textContent = texts.failed;
        throw error;
      }));
  const show = (focus) => load().then((widget) => (note.textContent = '', widget.toggle(focus)), () => {});

  launcher.addEventListener('click', () => show(true));
  // Fetch the panel as soon as the visitor shows interest: it is usually there before the click.
  launcher.addEventListener('pointerenter', () => load().catch(() => {}), { once: true });
  launcher.addEventListener('focus', () => load().catch(() => {}), { once: true });

  const start = () => {
    document.body.append(element);
    let reopen = false;
    try {
      reopen = sessionStorage.getItem(memory) === '1';
    } catch { /* no storage: start closed */ }
    if (reopen) show(false); // open before this page load (a reload, a navigation): open again
    // Dark text on a light accent colour, white on a dark one (the contrast that is higher).
    const rgb = getComputedStyle(launcher).backgroundColor.match(/[\d.]+/g);
    const linear = (v) => ((v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    if (rgb && 0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2]) > 0.179) {
      sheet.insertRule(':host{--cb-on:#111}', sheet.cssRules.length);
    }
  };
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start, { once: true });
})();
