// The console's few behaviours, in plain JavaScript: the mailbox list kept live (server-sent
// events), template previews and the test send (JSON calls to the console's own server).
'use strict';

function $(selector) {
  return document.querySelector(selector);
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  let data = {};
  try {
    data = await response.json();
  } catch (_) {
    data = { error: { message: `the console answered ${response.status}` } };
  }
  return data;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function describeError(error) {
  const fields = (error.fields || []).map((f) => `${f.field}: ${f.description}`).join('; ');
  return `${error.reason ? error.reason + ': ' : ''}${error.message}${fields ? ' (' + fields + ')' : ''}`;
}

// -- mailbox: the list follows the folder without a reload ---------------------------------
function followMailbox() {
  const list = $('#message-list');
  if (!list) return;
  const live = $('#live');
  const events = new EventSource('/mailbox/events');
  events.addEventListener('open', () => live && live.classList.add('on'));
  events.addEventListener('error', () => live && live.classList.remove('on'));
  events.addEventListener('mailbox', async () => {
    const selected = encodeURIComponent(list.dataset.selected || '');
    const response = await fetch(`/mailbox/list?id=${selected}`, { credentials: 'same-origin' });
    if (response.ok) list.innerHTML = await response.text();
  });
}

// -- templates: preview with an edited payload ---------------------------------------------
function showPreview(preview) {
  $('#preview').hidden = false;
  const locale = preview.locale ? `, ${preview.locale}` : '';
  $('#preview-lookup').textContent =
    `${preview.template.template_path} (${preview.usage_type}${locale}) · ${preview.size_bytes} bytes`;
  const warnings = $('#preview-warnings');
  warnings.replaceChildren();
  for (const w of preview.warnings || []) {
    const item = element('li');
    item.append(element('code', w.code), ` ${w.field_path || ''}: ${w.message}`);
    warnings.append(item);
  }
  const headers = $('#preview-headers');
  headers.replaceChildren();
  for (const h of preview.headers || []) {
    if (!['From', 'To', 'Subject', 'Reply-To'].includes(h.name) && !h.name.startsWith('X-')) continue;
    const row = element('tr');
    row.append(element('th', h.name), element('td', h.value));
    headers.append(row);
  }
  $('#preview-text').textContent = preview.text_body || '(no plain-text body)';
  $('#preview-html').srcdoc = preview.html_body || '<p style="color:#888">(no HTML body)</p>';
}

function previewTemplates() {
  const form = $('#preview-form');
  if (!form) return;
  const request = JSON.parse($('#template-view').dataset.request);
  const error = $('#preview-error');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    let payload;
    try {
      payload = JSON.parse($('#payload').value);
    } catch (exc) {
      error.textContent = `The payload is not JSON: ${exc.message}`;
      error.hidden = false;
      return;
    }
    const data = await postJson('/api/preview', { ...request, to: $('#preview-to').value, payload });
    if (data.error) {
      error.textContent = describeError(data.error);
      error.hidden = false;
      return;
    }
    showPreview(data.preview);
  });
  for (const button of document.querySelectorAll('[data-width]')) {
    button.addEventListener('click', () => {
      for (const other of document.querySelectorAll('[data-width]')) {
        other.setAttribute('aria-pressed', String(other === button));
      }
      $('#preview-html').classList.toggle('phone', button.dataset.width === 'phone');
    });
  }
}

// -- send a test: TestConnection with a recipient, a line per step ---------------------------
function showSteps(result) {
  const steps = $('#test-steps');
  steps.replaceChildren();
  for (const step of result.steps || []) {
    const item = element('li', undefined, step.ok ? 'ok' : 'failed');
    const millis = step.elapsed ? Math.round(parseFloat(step.elapsed) * 1000) : 0;
    const code = step.smtp_code ? `${step.smtp_code} ` : '';
    item.append(
      element('span', step.ok ? '✓' : '✗', 'mark'),
      element('strong', step.name),
      element('span', `${millis} ms`, 'millis'),
      element('span', `${code}${step.detail || ''}`, 'detail'),
    );
    if (step.hint) item.append(element('p', `Hint: ${step.hint}`, 'hint'));
    steps.append(item);
  }
  const summary = $('#test-summary');
  const failed = (result.steps || []).find((s) => !s.ok);
  summary.textContent = result.ok ? 'The settings work: the test message was accepted.'
    : `The test failed at ${failed ? failed.name : 'a step'}.`;
  summary.className = `summary ${result.ok ? 'ok' : 'failed'}`;
  summary.hidden = false;
}

function testSend() {
  const form = $('#test-form');
  if (!form) return;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('#test-button');
    button.disabled = true;
    button.textContent = 'Sending…';
    const profile = $('#test-profile');
    const data = await postJson('/api/test', {
      to: $('#test-to').value,
      profile: profile ? profile.value : '',
    });
    button.disabled = false;
    button.textContent = 'Send';
    if (data.error) {
      $('#test-steps').replaceChildren();
      const summary = $('#test-summary');
      summary.textContent = describeError(data.error);
      summary.className = 'summary failed';
      summary.hidden = false;
      return;
    }
    showSteps(data.result);
  });
}

function login() {
  const form = $('#login-form');
  if (!form) return;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = await postJson('/login', { token: $('#token').value });
    if (data.ok) {
      window.location.assign('/mailbox');
      return;
    }
    const error = $('#login-error');
    error.textContent = data.error.message;
    error.hidden = false;
  });
}

followMailbox();
previewTemplates();
testSend();
login();
