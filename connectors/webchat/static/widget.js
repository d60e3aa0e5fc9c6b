/*
 * The hub's web chat widget: one plain file, no dependencies, no build step.
 *
 * Embed it on any page, where HUB is the hub's address and N the name of a
 * webchat channel in the hub's config:
 *
 *   <script src="https://HUB/webchat/N/widget.js" data-hub-chat async></script>
 *
 * The page's origin must be in the channel's allowed_origins (the default,
 * "*", allows every site). The widget loads widget.css from the same place,
 * talks to the hub over one WebSocket (wss://HUB/webchat/N/ws) and keeps the
 * visitor's token in localStorage, so a reload or a later visit is the same
 * customer with the same history. It reconnects on its own (1 s, doubling up
 * to 30 s) and resends what was typed meanwhile under the same client_id, so
 * the hub stores each message once.
 *
 * The page may call HubChat.open() and HubChat.close(); nothing else is global.
 *
 * A site whose visitors are signed in can say who they are, signed by its backend
 * with the channel's identity secret (see docs/security.md), on the same tag:
 *
 *   data-user-id="17" data-user-email="lena@example.org" data-user-name="Lena"
 *   data-user-signature="<hex HMAC-SHA256 of "17\nlena@example.org">"
 *
 * Without that, an email the visitor types is only their claim; where the hub can
 * send mail, the widget offers to confirm it with a one-time code.
 */
(function () {
  'use strict';

  if (window.HubChat) return;
  const script = document.currentScript || document.querySelector('script[data-hub-chat]');
  if (!script || !script.src) return;

  const BASE = new URL('./', script.src);
  const SOCKET_URL = BASE.href.replace(/^http/, 'ws') + 'ws';
  const KEY = 'hubchat:' + BASE.href;
  const FIRST_RETRY_MS = 1000;
  const MAX_RETRY_MS = 30000;
  const MAX_FRAME_BYTES = 32 * 1024;
  const MAX_TOKEN_CHARS = 200;
  const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

  const state = {
    socket: null,
    ready: false,
    retryMs: FIRST_RETRY_MS,
    retryTimer: null,
    token: storedToken(),
    name: '',
    email: '',
    identity: signedIdentity(),
    emailCodes: false,
    verified: '',
    unread: 0,
    wrote: false, // the visitor wrote on this page: the "who and when" line has done its job
  };
  const pending = new Map(); // client_id -> {frame, item}, in the order typed
  const shown = new Map(); // message id -> item
  const ui = build();

  // --- storage: blocked storage (private modes, strict cookie settings) must not break the chat

  function read(area, name) {
    try {
      return window[area].getItem(KEY + name) || '';
    } catch (error) {
      return '';
    }
  }

  function write(area, name, value) {
    try {
      window[area].setItem(KEY + name, value);
    } catch (error) {
      // Not remembered across pages; this page still chats.
    }
  }

  /** The site's signed identity for its signed-in visitor, from the script tag, if any. */
  function signedIdentity() {
    const data = script.dataset;
    if (!data.userSignature) return null;
    const identity = { signature: data.userSignature };
    if (data.userId) identity.user_id = data.userId;
    if (data.userEmail) identity.email = data.userEmail;
    if (data.userName) identity.name = data.userName;
    return identity;
  }

  function storedToken() {
    const token = read('localStorage', ':token');
    return token.length <= MAX_TOKEN_CHARS ? token : '';
  }

  // --- building the widget

  function el(tag, className, attributes) {
    const node = document.createElement(tag);
    node.className = className;
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    return node;
  }

  function labelled(text, field) {
    const label = el('label', 'hubchat-field');
    const caption = el('span', 'hubchat-field-label');
    caption.textContent = text;
    label.append(caption, field);
    return label;
  }

  function build() {
    const root = el('div', 'hubchat-root', { hidden: '' });
    const launcher = el('button', 'hubchat-launcher', {
      type: 'button',
      'aria-expanded': 'false',
      'aria-controls': 'hubchat-panel',
      'data-testid': 'hubchat-launcher',
    });
    const launcherText = el('span', 'hubchat-launcher-text');
    launcherText.textContent = 'Chat';
    const badge = el('span', 'hubchat-badge', { hidden: '', 'aria-hidden': 'true' });
    launcher.append(launcherText, badge);

    const panel = el('section', 'hubchat-panel', {
      id: 'hubchat-panel',
      role: 'dialog',
      'aria-label': 'Chat',
      hidden: '',
      'data-testid': 'hubchat-panel',
    });
    const header = el('header', 'hubchat-header');
    const title = el('h2', 'hubchat-title', { 'data-testid': 'hubchat-title' });
    title.textContent = 'Chat';
    const status = el('p', 'hubchat-status', { 'data-testid': 'hubchat-status' });
    const closer = el('button', 'hubchat-close', { type: 'button', 'aria-label': 'Close chat' });
    closer.textContent = '\u00d7';
    const heading = el('div', 'hubchat-heading');
    heading.append(title, status);
    header.append(heading, closer);

    const list = el('ol', 'hubchat-messages', {
      'aria-live': 'polite',
      'aria-label': 'Messages',
      'data-testid': 'hubchat-messages',
    });
    const error = el('p', 'hubchat-error', { role: 'alert', hidden: '', 'data-testid': 'hubchat-error' });

    const identity = el('fieldset', 'hubchat-identity');
    const legend = el('legend', 'hubchat-legend');
    legend.textContent = 'Before you start (optional)';
    const name = el('input', 'hubchat-text-field', {
      type: 'text',
      autocomplete: 'name',
      maxlength: '200',
      'data-testid': 'hubchat-name',
    });
    const email = el('input', 'hubchat-text-field', {
      type: 'email',
      autocomplete: 'email',
      maxlength: '320',
      'data-testid': 'hubchat-email',
    });
    const hint = el('p', 'hubchat-hint');
    hint.textContent = 'We link your earlier conversations only once you confirm this address is yours.';
    identity.append(legend, labelled('Name', name), labelled('Email', email), hint);

    const verify = el('div', 'hubchat-verify', { hidden: '', 'data-testid': 'hubchat-verify' });
    const verifyText = el('p', 'hubchat-verify-text', { 'data-testid': 'hubchat-verify-text' });
    const verifySend = el('button', 'hubchat-verify-send', {
      type: 'button',
      'data-testid': 'hubchat-verify-send',
    });
    verifySend.textContent = 'Send me a code';
    const code = el('input', 'hubchat-text-field hubchat-code', {
      type: 'text',
      inputmode: 'numeric',
      autocomplete: 'one-time-code',
      maxlength: '6',
      hidden: '',
      'aria-label': 'Code from the email',
      'data-testid': 'hubchat-code',
    });
    const codeSend = el('button', 'hubchat-verify-send', {
      type: 'button',
      hidden: '',
      'data-testid': 'hubchat-code-send',
    });
    codeSend.textContent = 'Confirm';
    verify.append(verifyText, code, verifySend, codeSend);

    const form = el('form', 'hubchat-form', { novalidate: '' });
    const input = el('textarea', 'hubchat-input', {
      rows: '2',
      placeholder: 'Write a message\u2026',
      'aria-label': 'Message',
      'data-testid': 'hubchat-input',
    });
    const send = el('button', 'hubchat-send', { type: 'submit', 'data-testid': 'hubchat-send' });
    send.textContent = 'Send';
    const compose = el('div', 'hubchat-compose');
    compose.append(input, send);
    const who = el('p', 'hubchat-who', { hidden: '', 'data-testid': 'hubchat-who' });
    form.append(identity, who, compose);

    panel.append(header, list, error, verify, form);
    root.append(launcher, panel);

    launcher.addEventListener('click', () => (panel.hidden ? open(true) : close()));
    closer.addEventListener('click', () => {
      close();
      launcher.focus();
    });
    panel.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape') return;
      close();
      launcher.focus();
    });
    input.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
      event.preventDefault();
      submit();
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      submit();
    });
    verifySend.addEventListener('click', askForCode);
    codeSend.addEventListener('click', sendCode);
    code.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      event.preventDefault();
      sendCode();
    });
    return {
      root, launcher, badge, panel, title, status, list, error, identity, name, email, input,
      verify, verifyText, verifySend, code, codeSend, who,
    };
  }

  function mount() {
    const link = el('link', '', { rel: 'stylesheet', href: new URL('widget.css', BASE).href });
    const reveal = () => (ui.root.hidden = false);
    link.addEventListener('load', reveal);
    link.addEventListener('error', reveal);
    (document.head || document.documentElement).append(link);
    document.body.append(ui.root);
  }

  // --- showing messages

  function clock(at) {
    const date = new Date(at);
    return isNaN(date) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function messageItem(from, text) {
    const item = el('li', 'hubchat-message hubchat-message--' + from, {
      'data-testid': 'hubchat-message',
      'data-from': from,
    });
    const body = el('p', 'hubchat-message-text');
    if (from === 'agent') withLinks(body, text);
    else body.textContent = text;
    item.append(body, el('p', 'hubchat-meta'));
    return item;
  }

  const LINK = /\bhttps?:\/\/[^\s<>"']+/g;

  /** The team's text with its http(s) addresses as links (the satisfaction question's
   * answer page, say); all of it goes in as text, no HTML is parsed. */
  function withLinks(body, text) {
    let done = 0;
    for (const match of text.matchAll(LINK)) {
      body.append(text.slice(done, match.index));
      const link = el('a', 'hubchat-link', {
        href: match[0],
        target: '_blank',
        rel: 'noopener noreferrer',
        'data-testid': 'hubchat-link',
      });
      link.textContent = match[0];
      body.append(link);
      done = match.index + match[0].length;
    }
    body.append(text.slice(done));
  }

  /** Buttons under a message (a score for the satisfaction question): links that open
   * in a new tab; only http(s) addresses, labels as text. */
  function choiceRow(choices) {
    const row = el('p', 'hubchat-choices');
    for (const choice of choices) {
      const url = String(choice.url);
      if (!/^https?:\/\//.test(url)) continue;
      const button = el('a', 'hubchat-choice', {
        href: url,
        target: '_blank',
        rel: 'noopener noreferrer',
        'data-testid': 'hubchat-choice',
      });
      button.textContent = String(choice.label);
      row.append(button);
    }
    return row;
  }

  function setState(item, itemState, note) {
    item.setAttribute('data-state', itemState);
    item.querySelector('.hubchat-meta').textContent = note;
  }

  function place(item, before) {
    ui.list.insertBefore(item, before);
    ui.list.scrollTop = ui.list.scrollHeight;
    ui.identity.hidden = true;
  }

  function firstUnsent() {
    return ui.list.querySelector('[data-state="sending"], [data-state="failed"]');
  }

  /** A stored message; those from history go before what is still being sent. */
  function show(message, fromHistory) {
    if (shown.has(message.id)) return false;
    const item = messageItem(message.from === 'agent' ? 'agent' : 'visitor', String(message.text));
    if (Array.isArray(message.choices)) item.insertBefore(choiceRow(message.choices), item.lastChild);
    setState(item, 'sent', clock(message.at));
    shown.set(message.id, item);
    place(item, fromHistory ? firstUnsent() : null);
    return true;
  }

  function showError(text) {
    ui.error.textContent = text;
    ui.error.hidden = !text;
  }

  function setStatus(connection, text) {
    ui.status.setAttribute('data-connection', connection);
    ui.status.textContent = text;
  }

  function setTitle(title) {
    const text = String(title || 'Chat');
    ui.title.textContent = text;
    ui.panel.setAttribute('aria-label', text);
  }

  function setUnread(count) {
    state.unread = count;
    ui.badge.textContent = String(count);
    ui.badge.hidden = count === 0;
    if (count) ui.launcher.setAttribute('aria-label', 'Chat, ' + count + ' new');
    else ui.launcher.removeAttribute('aria-label');
  }

  // --- sending

  function clientId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  }

  function submit() {
    const text = ui.input.value.trim();
    if (!text) return;
    const asking = !ui.identity.hidden;
    const name = asking ? ui.name.value.trim() : '';
    const email = asking ? ui.email.value.trim() : '';
    if (email && !EMAIL.test(email)) {
      showError('Please check the email address, or leave it empty.');
      ui.email.focus();
      return;
    }
    showError('');
    const frame = { type: 'message', client_id: clientId(), text };
    if (name) frame.name = state.name = name;
    if (email) frame.email = state.email = email.toLowerCase();
    ui.input.value = '';
    state.wrote = true;
    ui.who.hidden = true;
    offerVerification();
    const item = messageItem('visitor', text);
    place(item, null);
    if (new Blob([JSON.stringify(frame)]).size > MAX_FRAME_BYTES) fail(item, 'too long', null);
    else queue(item, frame);
    ui.input.focus();
  }

  function queue(item, frame) {
    setState(item, 'sending', 'Sending\u2026');
    pending.set(frame.client_id, { frame, item });
    transmit(frame);
    if (!state.socket) connect(); // the visitor is waiting: do not sit out the backoff
  }

  /** Sent now if connected; otherwise it waits in `pending` for the next welcome. */
  function transmit(frame) {
    if (state.ready) state.socket.send(JSON.stringify(frame));
  }

  function fail(item, error, frame) {
    setState(item, 'failed', 'Not sent: ' + error);
    if (!frame) return;
    const retry = el('button', 'hubchat-retry', { type: 'button' });
    retry.textContent = 'Try again';
    retry.addEventListener('click', () => {
      place(item, null);
      queue(item, frame);
    });
    item.querySelector('.hubchat-meta').append(' ', retry);
  }

  // --- confirming a typed email with a one-time code

  function offerVerification() {
    if (!state.emailCodes || !state.email || state.verified === state.email) return;
    ui.verifyText.textContent = 'Is ' + state.email + ' yours? Confirm it and we can find ' +
      'your earlier conversations with us.';
    ui.verifySend.hidden = false;
    ui.code.hidden = ui.codeSend.hidden = true;
    ui.verify.hidden = false;
  }

  function askForCode() {
    if (!state.ready) return showError('Not connected: try again in a moment.');
    showError('');
    state.socket.send(JSON.stringify({ type: 'verify', email: state.email }));
  }

  function sendCode() {
    const code = ui.code.value.trim();
    if (!/^[0-9]{6}$/.test(code)) return showError('The code has six digits.');
    if (!state.ready) return showError('Not connected: try again in a moment.');
    showError('');
    state.socket.send(JSON.stringify({ type: 'code', code }));
  }

  // --- receiving

  const handlers = {
    welcome(frame) {
      state.token = String(frame.token);
      write('localStorage', ':token', state.token);
      setTitle(frame.title);
      state.emailCodes = Boolean(frame.email_codes) && !frame.signed_in;
      if (frame.signed_in) ui.identity.hidden = true;
      for (const message of frame.history || []) show(message, true);
      // Who answers and when, until the visitor writes on this page.
      ui.who.textContent = typeof frame.who_and_when === 'string' ? frame.who_and_when : '';
      ui.who.hidden = state.wrote || !ui.who.textContent;
      state.ready = true;
      state.retryMs = FIRST_RETRY_MS;
      setStatus('online', 'Connected');
      for (const entry of pending.values()) transmit(entry.frame);
    },
    ack(frame) {
      const entry = pending.get(frame.client_id);
      if (!entry) return;
      pending.delete(frame.client_id);
      if (shown.has(frame.message_id)) {
        entry.item.remove(); // stored before a drop and shown again from history
        return;
      }
      shown.set(frame.message_id, entry.item);
      setState(entry.item, 'sent', clock(new Date()));
    },
    'code-sent'(frame) {
      ui.verifyText.textContent = 'We sent a code to ' + String(frame.email) + '. Enter it here:';
      ui.verifySend.textContent = 'Send a new code';
      ui.code.hidden = ui.codeSend.hidden = false;
      ui.code.value = '';
      ui.code.focus();
    },
    verified(frame) {
      state.verified = String(frame.email);
      ui.verifyText.textContent = state.verified + ' is confirmed. Thank you!';
      ui.code.hidden = ui.codeSend.hidden = ui.verifySend.hidden = true;
    },
    message(frame) {
      if (show(frame.message, false) && ui.panel.hidden) setUnread(state.unread + 1);
    },
    error(frame) {
      const entry = frame.client_id ? pending.get(frame.client_id) : null;
      if (!entry) {
        showError(String(frame.error));
        return;
      }
      pending.delete(frame.client_id);
      fail(entry.item, String(frame.error), entry.frame);
    },
  };

  function receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (error) {
      return;
    }
    if (frame && Object.prototype.hasOwnProperty.call(handlers, frame.type)) handlers[frame.type](frame);
  }

  // --- the connection

  function hello() {
    const frame = { type: 'hello' };
    if (state.token) frame.token = state.token;
    if (state.name) frame.name = state.name;
    if (state.identity) frame.identity = state.identity;
    const zone = browserZone();
    if (zone) frame.zone = zone;
    if (/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$/.test(navigator.language || '')) {
      frame.locale = navigator.language;
    }
    return frame;
  }

  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    } catch (error) {
      return null;
    }
  }

  function connect() {
    clearTimeout(state.retryTimer);
    state.retryTimer = null;
    if (state.socket) return;
    let socket;
    try {
      socket = new WebSocket(SOCKET_URL);
    } catch (error) {
      setStatus('offline', 'Chat unavailable');
      return;
    }
    state.socket = socket;
    setStatus('connecting', 'Connecting\u2026');
    socket.addEventListener('open', () => socket.send(JSON.stringify(hello())));
    socket.addEventListener('message', (event) => receive(event.data));
    socket.addEventListener('close', () => dropped(socket));
  }

  function dropped(socket) {
    if (state.socket !== socket) return;
    state.socket = null;
    state.ready = false;
    const delay = state.retryMs * (1 + Math.random() * 0.2);
    state.retryMs = Math.min(state.retryMs * 2, MAX_RETRY_MS);
    setStatus('offline', 'Offline, reconnecting\u2026');
    state.retryTimer = setTimeout(connect, delay);
  }

  window.addEventListener('online', () => {
    if (!state.retryTimer) return;
    state.retryMs = FIRST_RETRY_MS;
    connect();
  });

  // --- opening and closing

  function open(focus) {
    ui.panel.hidden = false;
    ui.launcher.setAttribute('aria-expanded', 'true');
    write('sessionStorage', ':open', '1');
    setUnread(0);
    if (!state.socket && !state.retryTimer) connect();
    if (focus) ui.input.focus();
  }

  function close() {
    ui.panel.hidden = true;
    ui.launcher.setAttribute('aria-expanded', 'false');
    write('sessionStorage', ':open', '');
  }

  function start() {
    mount();
    if (read('sessionStorage', ':open')) open(false);
    else if (state.token) connect(); // a returning visitor: agent replies show on the launcher
  }

  window.HubChat = Object.freeze({ open: () => open(true), close });
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
