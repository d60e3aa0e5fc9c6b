/* The sign-in form: email and password, then (with two-factor sign-in on) a code.
 *
 * A right password for an agent with two-factor sign-in answers a short-lived
 * challenge instead of a session; the form then asks for the code from the
 * authenticator app (or a recovery code) and sends both. An agent whose team
 * requires two-factor sign-in and who has not set it up is sent to /account.
 * Signed in, the agent goes on to the page that sent them here (``?next=``), if
 * it is a page of this site: anything else could send them to an impostor.
 */
import { $, api, session } from "./inbox-core.js";

const ACCOUNT_PAGE = "/account";
const form = { challenge: null };

/** ``onSignedIn(agent)`` runs once a session is open. */
export function bindSignIn(onSignedIn) {
  $("login-form").addEventListener("submit", (event) => submit(event, onSignedIn));
  $("login-restart").addEventListener("click", () => {
    showPasswordStep();
    $("login-error").textContent = "";
  });
}

export function showPasswordStep() {
  form.challenge = null;
  $("login-code").value = "";
  $("code-step").hidden = true;
  $("password-step").hidden = false;
  $("login-email").focus();
}

function showCodeStep(challenge) {
  form.challenge = challenge;
  $("login-password").value = "";
  $("password-step").hidden = true;
  $("code-step").hidden = false;
  $("login-code").focus();
}

async function submit(event, onSignedIn) {
  event.preventDefault();
  const errorBox = $("login-error");
  const step = form.challenge ? codeStep : passwordStep;
  const missing = step.missing();
  errorBox.textContent = missing;
  if (missing) return;
  const button = event.target.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const answer = await step.send();
    if (answer.two_factor === "required") {
      showCodeStep(answer.challenge);
      return;
    }
    session.csrf = answer.csrf_token;
    showPasswordStep();
    if (answer.agent.must_enrol_two_factor) {
      window.location.assign(ACCOUNT_PAGE);
      return;
    }
    const next = nextPage();
    if (next) {
      window.location.assign(next);
      return;
    }
    onSignedIn(answer.agent);
  } catch (error) {
    if (error.body?.sign_in === "password") showPasswordStep();
    errorBox.textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

/**
 * The ``next`` page of this page's address, as a full URL of this site, else null.
 * The full URL, never its path: resolving dot segments can turn ``/.//evil.example``
 * into the path ``//evil.example``, which a browser reads as another host.
 */
export function nextPage() {
  const next = new URLSearchParams(window.location.search).get("next");
  if (!next || !next.startsWith("/") || /[\\\u0000-\u001f]/.test(next) || next.startsWith("//")) {
    return null;
  }
  const target = new URL(next, window.location.origin);
  if (target.origin !== window.location.origin || target.pathname.startsWith("//")) return null;
  return target.pathname + target.search + target.hash === "/" ? null : target.href;
}

/** Drop ``?next=`` from the address once the inbox is what is shown. */
export function forgetNextPage() {
  if (!window.location.search) return;
  window.history.replaceState(null, "", window.location.pathname + window.location.hash);
}

const passwordStep = {
  missing: () =>
    $("login-email").value.trim() && $("login-password").value
      ? ""
      : "Enter your email and password.",
  send: () =>
    api("POST", "/api/login", {
      email: $("login-email").value.trim(),
      password: $("login-password").value,
    }),
};

const codeStep = {
  missing: () => ($("login-code").value.trim() ? "" : "Enter the code."),
  send: () =>
    api("POST", "/api/login/two-factor", {
      challenge: form.challenge,
      code: $("login-code").value.trim(),
    }),
};
