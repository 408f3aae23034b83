/*! chatbot-mvp widget panel: the chat dialog, loaded by widget.js (loader.js) on first use.
 * Talks to the chatbot's widget API: POST /widget/session (publishable key -> visitor token), POST /chat
 * (streamed: delta / done / error events), GET and DELETE /conversations/{id}, POST /feedback.
 * Replies are shown as text; only http(s) links become clickable. No framework, no build step.
 */
const TEXTS = {
  fr: {
    title: 'FAQ Intelligent', placeholder: 'Posez une question...', send: 'Envoyer', label: 'Votre question',
    stop: 'Stop', stopLabel: 'Arrêter la réponse', close: 'Fermer', fresh: 'Nouvelle conversation',
    log: 'Conversation', you: 'Vous :', bot: 'Assistant :',
    welcome: 'Bonjour ! Posez votre question : je réponds à partir de la FAQ du site.',
    thinking: 'Réflexion en cours…', complete: 'Réponse terminée.', stopped: 'Réponse arrêtée.',
    cut: '(réponse interrompue)', restored: 'Conversation reprise.', started: 'Nouvelle conversation.',
    helpful: 'Cette réponse vous a-t-elle aidé ?', up: 'Utile', down: 'Pas utile', thanks: 'Merci pour votre avis !',
    offline: 'Hors ligne : vérifiez votre connexion, puis réessayez.',
    refused: "Ce site n'est pas autorisé à utiliser ce chatbot.",
    limited: 'Trop de questions à la fois : réessayez {when}.',
    unavailable: 'Le service ne répond pas pour le moment : réessayez dans un instant.',
    failed: "Le message n'a pas pu être envoyé : réessayez.",
    seconds: 'dans {n} s', minutes: 'dans {n} min', at: 'à {t}', tomorrow: 'demain à {t}',
  },
  en: {
    title: 'Smart FAQ', placeholder: 'Ask a question...', send: 'Send', label: 'Your question',
    stop: 'Stop', stopLabel: 'Stop the reply', close: 'Close', fresh: 'New conversation',
    log: 'Conversation', you: 'You:', bot: 'Assistant:',
    welcome: "Hello! Ask your question: I answer from the site's FAQ.",
    thinking: 'Thinking…', complete: 'Reply complete.', stopped: 'Reply stopped.',
    cut: '(reply interrupted)', restored: 'Conversation restored.', started: 'New conversation.',
    helpful: 'Was this reply helpful?', up: 'Helpful', down: 'Not helpful', thanks: 'Thank you for your feedback!',
    offline: 'Offline: check your connection, then try again.',
    refused: 'This site is not allowed to use this chatbot.',
    limited: 'Too many questions at once: try again {when}.',
    unavailable: 'The service is not answering right now: try again in a moment.',
    failed: 'The message could not be sent: try again.',
    seconds: 'in {n} s', minutes: 'in {n} min', at: 'at {t}', tomorrow: 'tomorrow at {t}',
  },
};

const CSS = `
.panel{position:absolute;bottom:76px;right:0;width:min(380px,calc(100vw - 40px));height:min(600px,calc(100vh - 120px));
 display:flex;flex-direction:column;background:#fff;color:#1b1b1f;border-radius:12px;overflow:hidden;
 box-shadow:0 10px 40px rgba(0,0,0,.28)}
.panel.left{right:auto;left:0}
.panel[hidden]{display:none}
.head{display:flex;align-items:center;gap:2px;padding:8px 6px 8px 16px;background:var(--cb-accent);color:var(--cb-on)}
h2{flex:1;margin:0;font-size:17px;font-weight:600}
button{all:unset;box-sizing:border-box;cursor:pointer}
button:focus-visible{outline:3px solid currentColor;outline-offset:-4px}
.icon{width:40px;height:40px;display:grid;place-items:center;border-radius:8px}
.icon:hover{background:rgba(127,127,127,.25)}
svg{width:22px;height:22px;fill:currentColor}
.log{flex:1;overflow-y:auto;padding:16px;display:flex;flex-direction:column;gap:10px;background:#f4f5f7}
.log:focus-visible{outline:3px solid #1b1b1f;outline-offset:-3px}
.empty{margin:0;color:#4a4f57}
.msg{max-width:85%;padding:9px 12px;border-radius:14px}
.text{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
.user{align-self:flex-end;background:var(--cb-accent);color:var(--cb-on);border-bottom-right-radius:4px}
.bot{align-self:flex-start;background:#fff;border:1px solid #d6d9de;border-bottom-left-radius:4px}
.bot a{color:#0b4ea2}
.user a{color:inherit}
.mark{display:block;margin-top:4px;font-size:14px;color:#4a4f57}
.pending .text::after{content:'•••';letter-spacing:2px;animation:cb-blink 1s infinite}
@keyframes cb-blink{50%{opacity:.3}}
.rate{display:flex;gap:4px;margin-top:6px}
.rate button{width:36px;height:32px;display:grid;place-items:center;border-radius:6px;color:#4a4f57}
.rate button:hover{background:#eceef1}
.rate button[aria-pressed=true]{background:#1b1b1f;color:#fff}
.rate svg{width:18px;height:18px}
.status{margin:0;padding:6px 16px;min-height:20px;font-size:14px;line-height:20px;color:#4a4f57;background:#fff}
.status.error{color:#a3161a;font-weight:600}
.composer{display:flex;gap:8px;padding:10px;border-top:1px solid #d6d9de;background:#fff}
textarea{flex:1;box-sizing:border-box;min-height:44px;max-height:120px;padding:10px;border:1px solid #767b84;
 border-radius:8px;font:inherit;font-size:16px;color:#1b1b1f;background:#fff;resize:none}
textarea:focus{outline:2px solid var(--cb-accent);outline-offset:1px}
.send{min-width:88px;padding:0 14px;border-radius:8px;background:var(--cb-accent);color:var(--cb-on);font-size:16px;
 font-weight:600;text-align:center}
.send.stop{background:#1b1b1f;color:#fff}
.send:focus-visible{outline:3px solid #1b1b1f;outline-offset:2px}
.send:disabled{opacity:.55;cursor:not-allowed}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:480px){.panel,.panel.left{position:fixed;inset:0;width:auto;height:auto;border-radius:0}}
@media (prefers-reduced-motion:reduce){.pending .text::after{animation:none}}`;

// Material Design icons (Apache 2.0): close, refresh, thumb up (rotated for thumb down).
const ICONS = {
  close: 'M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z',
  fresh: 'M17.65 6.35A7.96 7.96 0 0 0 12 4a8 8 0 1 0 7.73 10h-2.08A6 6 0 1 1 12 6c1.66 0 3.14.69 4.22 1.78L13 11h7V4z',
  up: 'M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 '
    + '7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z',
};
const LINK = /\bhttps?:\/\/[^\s<>"'`]+/gi;

class Problem extends Error {
  constructor(kind, wait = 0) {
    super(kind);
    this.kind = kind; // offline | refused | limited | unavailable | failed
    this.wait = wait; // seconds, for `limited`
  }
}

function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name.includes('-') || name === 'role') element.setAttribute(name, value);
    else element[name] = value;
  }
  element.append(...children);
  return element;
}

function icon(name, flip = false) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  path.setAttribute('d', ICONS[name]);
  if (flip) path.setAttribute('transform', 'rotate(180 12 12)');
  svg.append(path);
  return svg;
}

/** Text with its http(s) links made clickable; nothing else is interpreted. */
export function linkify(text) {
  const out = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    let url = match[0];
    // Trailing punctuation ends a sentence, not the link; a ")" stays when the link opened one.
    while (/[.,;:!?'»\]]$/.test(url) || (url.endsWith(')') && url.split('(').length < url.split(')').length)) {
      url = url.slice(0, -1);
    }
    out.append(text.slice(last, match.index));
    out.append(h('a', { href: url, target: '_blank', rel: 'noopener noreferrer nofollow', textContent: url }));
    last = match.index + url.length;
  }
  out.append(text.slice(last));
  return out;
}

/** Server-Sent Events from a fetch body: yields [event name, parsed data]; `: ping` comments are skipped. */
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        let name = 'message';
        const data = [];
        for (const line of buffer.slice(0, end).split('\n')) {
          if (line.startsWith('event:')) name = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        buffer = buffer.slice(end + 2);
        if (data.length) yield [name, JSON.parse(data.join('\n'))];
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function storage(name) {
  return {
    read() {
      try {
        return JSON.parse(localStorage.getItem(name)) || {};
      } catch {
        return {};
      }
    },
    write(value) {
      try {
        localStorage.setItem(name, JSON.stringify(value));
      } catch { /* storage refused: the conversation lasts as long as the page */ }
    },
  };
}

export function mount({ root, launcher, host, lang, key, title, left = false, remember = () => {} }) {
  const t = TEXTS[lang] || TEXTS.en;
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];

  const store = storage(`cbw:${host}:${key}`);
  const state = store.read(); // {token, expires, conversation}
  const save = (changes) => store.write(Object.assign(state, changes));
  let streaming = null; // the AbortController of the reply being streamed
  let blockedUntil = 0;
  let started = null;
  let pendingSession = null;

  const heading = h('h2', { id: 'cb-title', textContent: title || t.title });
  const fresh = h('button', { type: 'button', className: 'icon', title: t.fresh, 'aria-label': t.fresh }, icon('fresh'));
  const closer = h('button', { type: 'button', className: 'icon', title: t.close, 'aria-label': t.close }, icon('close'));
  const empty = h('p', { className: 'empty', textContent: t.welcome });
  const log = h('div', { className: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': t.log, tabIndex: 0 }, empty);
  const status = h('p', { className: 'status', role: 'status' });
  const input = h('textarea', { id: 'cb-input', rows: 1, placeholder: t.placeholder, maxLength: 4000 });
  const send = h('button', { type: 'submit', className: 'send', textContent: t.send });
  const form = h('form', { className: 'composer' }, h('label', { htmlFor: 'cb-input', className: 'sr', textContent: t.label }), input, send);
  const dialog = h('section', { id: 'cb-panel', className: left ? 'panel left' : 'panel', role: 'dialog', 'aria-labelledby': 'cb-title', hidden: true },
    h('div', { className: 'head' }, heading, fresh, closer), log, status, form);
  root.append(dialog);
  launcher.setAttribute('aria-controls', 'cb-panel');

  const say = (text, error = false) => {
    status.textContent = text;
    status.classList.toggle('error', error);
  };
  const scroll = () => (log.scrollTop = log.scrollHeight);

  function when(seconds) {
    if (seconds < 90) return t.seconds.replace('{n}', Math.ceil(seconds));
    if (seconds < 5400) return t.minutes.replace('{n}', Math.round(seconds / 60));
    const at = new Date(Date.now() + seconds * 1000);
    const time = at.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
    return (at.toDateString() === new Date().toDateString() ? t.at : t.tomorrow).replace('{t}', time);
  }

  function show(error) {
    const kind = error instanceof Problem ? error.kind : 'failed';
    if (kind !== 'limited') return say(t[kind], true);
    blockedUntil = Date.now() + error.wait * 1000;
    send.disabled = true;
    say(t.limited.replace('{when}', when(error.wait)), true);
    setTimeout(() => {
      send.disabled = false;
      if (status.classList.contains('error')) say('');
    }, error.wait * 1000);
  }

  // Network: every failure becomes a Problem the visitor can act on.
  async function call(path, init, isSession = false, retried = false) {
    try {
      return await fetch(host + path, init);
    } catch (error) {
      if (init.signal?.aborted) throw error;
      if (!retried && navigator.onLine) {
        // No answer at all: a network that changed under the request (Wi-Fi to mobile) is worth one more try.
        await new Promise((resolve) => setTimeout(resolve, 300));
        return call(path, init, isSession, true);
      }
      if (!navigator.onLine) throw new Problem('offline');
      // A refused origin gets no CORS headers, so its 403 is unreadable: if the host answers a no-cors probe,
      // it is up and said no; if not, it (or the network) is down.
      try {
        await fetch(`${host}/healthz`, { mode: 'no-cors', cache: 'no-store' });
      } catch {
        throw new Problem('offline');
      }
      throw new Problem(isSession ? 'refused' : 'unavailable');
    }
  }

  async function problem(response, isSession = false) {
    if (response.status === 429) return new Problem('limited', Number(response.headers.get('retry-after')) || 30);
    if (response.status >= 500) return new Problem('unavailable');
    return new Problem(isSession || response.status === 401 || response.status === 403 ? 'refused' : 'failed');
  }

  function session(renew = false) {
    if (!renew && state.token && state.expires > Date.now() + 60000) return Promise.resolve(state.token);
    return (pendingSession ||= (async () => {
      try {
        const body = JSON.stringify({ key, visitor: state.token || undefined }); // the same visitor, renewed
        const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body };
        const response = await call('/widget/session', init, true);
        if (!response.ok) throw await problem(response, true);
        const answer = await response.json();
        save({ token: answer.token, expires: Date.now() + answer.expires_in * 1000 });
        return answer.token;
      } finally {
        pendingSession = null;
      }
    })());
  }

  async function api(path, init = {}, renewed = false) {
    const token = await session(renewed);
    const headers = { authorization: `Bearer ${token}` };
    if (init.body) headers['content-type'] = 'application/json';
    const response = await call(path, { ...init, headers });
    if (response.status === 401 && !renewed) return api(path, init, true); // expired: a new token, once
    return response;
  }

  function add(role, text) {
    empty.remove();
    const body = h('p', { className: 'text' }, linkify(text));
    const item = h('div', { className: role === 'user' ? 'msg user' : 'msg bot' },
      h('span', { className: 'sr', textContent: role === 'user' ? t.you : t.bot }), body);
    log.append(item);
    scroll();
    return { item, body };
  }

  function rating(item, conversation) {
    const group = h('div', { className: 'rate', role: 'group', 'aria-label': t.helpful });
    for (const [value, label] of [['up', t.up], ['down', t.down]]) {
      const button = h('button', { type: 'button', title: label, 'aria-label': label, 'aria-pressed': 'false' },
        icon('up', value === 'down'));
      button.addEventListener('click', async () => {
        for (const other of group.children) other.setAttribute('aria-pressed', String(other === button));
        try {
          const body = JSON.stringify({ conversation_id: conversation, rating: value });
          const response = await api('/feedback', { method: 'POST', body });
          if (!response.ok) throw await problem(response);
          say(t.thanks);
        } catch (error) {
          button.setAttribute('aria-pressed', 'false');
          show(error);
        }
      });
      group.append(button);
    }
    item.append(group);
  }

  async function restore() {
    if (!state.conversation) return;
    try {
      const response = await api(`/conversations/${encodeURIComponent(state.conversation)}`);
      if (response.status === 404) return save({ conversation: null }); // expired on the server
      if (!response.ok) throw await problem(response);
      const { messages } = await response.json();
      log.setAttribute('aria-live', 'off'); // the restored transcript is not read aloud line by line
      for (const message of messages) {
        const { item } = add(message.role, message.content);
        if (message.role === 'assistant') rating(item, state.conversation);
      }
      if (messages.length) say(t.restored);
      setTimeout(() => log.setAttribute('aria-live', 'polite'), 100);
    } catch (error) {
      show(error);
    }
  }

  async function ask(text) {
    await started; // a restored transcript comes first
    const controller = (streaming = new AbortController());
    send.textContent = t.stop;
    send.setAttribute('aria-label', t.stopLabel);
    send.classList.add('stop');
    const question = add('user', text);
    const { item, body } = add('assistant', '');
    item.classList.add('pending');
    log.setAttribute('aria-busy', 'true'); // fragments are not read aloud; the status line speaks instead
    say(t.thinking);
    let reply = '';
    let finished = false;
    try {
      const payload = { message: text, conversation_id: state.conversation || undefined, stream: true };
      const response = await api('/chat', { method: 'POST', body: JSON.stringify(payload), signal: controller.signal });
      if (!response.ok) throw await problem(response);
      for await (const [name, data] of events(response.body)) {
        if (name === 'delta') {
          reply += data.text;
          item.classList.remove('pending');
          body.textContent = reply;
          scroll();
        } else if (name === 'done') {
          finished = true;
          reply = data.reply;
          body.replaceChildren(linkify(reply));
          if (data.conversation_id) {
            save({ conversation: data.conversation_id });
            rating(item, data.conversation_id);
          }
        } else if (name === 'error') {
          throw new Problem('unavailable');
        }
      }
      if (!finished) throw new Problem('unavailable');
      say(t.complete);
    } catch (error) {
      if (reply) {
        body.replaceChildren(linkify(reply));
        item.append(h('span', { className: 'mark', textContent: t.cut }));
      } else {
        // Nothing came back: the question was not answered, so it goes back into the input.
        item.remove();
        question.item.remove();
        if (!input.value) input.value = text;
        if (!log.querySelector('.msg')) log.append(empty);
      }
      if (controller.signal.aborted) say(t.stopped);
      else show(error);
    } finally {
      streaming = null;
      item.classList.remove('pending');
      log.setAttribute('aria-busy', 'false');
      send.textContent = t.send;
      send.removeAttribute('aria-label');
      send.classList.remove('stop');
      scroll();
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (streaming) return streaming.abort(); // the Stop button: closing the stream stops the model
    const text = input.value.trim();
    if (!text || Date.now() < blockedUntil) return;
    input.value = '';
    ask(text);
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!streaming) form.requestSubmit();
    }
  });
  fresh.addEventListener('click', async () => {
    streaming?.abort();
    const previous = state.conversation;
    save({ conversation: null });
    log.replaceChildren(empty);
    say(t.started);
    input.focus();
    if (previous) {
      try {
        await api(`/conversations/${encodeURIComponent(previous)}`, { method: 'DELETE' });
      } catch { /* forgotten here; the server lets it expire */ }
    }
  });
  closer.addEventListener('click', () => close());
  root.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !dialog.hidden) {
      event.preventDefault();
      close();
    }
  });
  addEventListener('offline', () => say(t.offline, true));
  addEventListener('online', () => status.textContent === t.offline && say(''));

  function open(focus) {
    dialog.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    remember(true);
    if (focus) input.focus();
    started ||= restore();
  }
  function close() {
    dialog.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    remember(false);
    launcher.focus();
  }
  return { open, close, toggle: (focus) => (dialog.hidden ? open(focus) : close()) };
}
