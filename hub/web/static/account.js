/* The agent's account page: turn two-factor sign-in on (QR code, first code, recovery
 * codes shown once) or off.
 *
 * The QR code comes from the hub as an SVG data: URL, shown in an <img> (no markup of
 * ours or anyone's enters the page); every text goes in through textContent.
 */
import { apiClient } from "./api.js";

const SIGN_IN = "/";
const state = { csrf: null, me: null, enrolment: null };
const $ = (id) => document.getElementById(id);
const api = apiClient(
  () => state.csrf,
  () => window.location.assign(SIGN_IN),
);

async function boot() {
  $("totp-start").addEventListener("click", () => run(startSetup));
  $("totp-confirm-form").addEventListener("submit", (event) => submitted(event, confirm));
  $("totp-off-form").addEventListener("submit", (event) => submitted(event, turnOff));
  $("logout").addEventListener("click", () => run(logout));
  await run(load);
}

/** Run ``action``, showing what went wrong under the section. */
async function run(action) {
  $("account-error").textContent = "";
  try {
    await action();
  } catch (error) {
    $("account-error").textContent = error.message || String(error);
  }
}

function submitted(event, action) {
  event.preventDefault();
  const button = event.target.querySelector("button[type=submit]");
  button.disabled = true;
  run(action).finally(() => {
    button.disabled = false;
  });
}

async function load() {
  const me = await api("GET", "/api/me");
  state.me = me;
  state.csrf = me.csrf_token;
  $("account-name").textContent = `${me.name} (${me.email})`;
  $("inbox-link").hidden = me.must_enrol_two_factor;
  $("must-enrol").hidden = !me.must_enrol_two_factor;
  showStatus(me.two_factor);
}

function showStatus(on) {
  $("two-factor-status").textContent = on
    ? "On: signing in takes your password and a code from your authenticator app."
    : "Off: signing in takes your password only.";
  $("totp-start").hidden = on;
  $("totp-off-form").hidden = !on;
}

async function startSetup() {
  const offer = await api("POST", "/api/me/two-factor/setup");
  state.enrolment = offer.enrolment;
  $("totp-qr").src = offer.qr_svg;
  $("totp-secret").textContent = offer.secret;
  $("totp-start").hidden = true;
  $("totp-setup").hidden = false;
  $("totp-code").focus();
}

async function confirm() {
  const code = $("totp-code").value.trim();
  if (!code) throw new Error("Enter the code your app shows.");
  const confirmed = await api("POST", "/api/me/two-factor", {
    enrolment: state.enrolment,
    code,
  });
  state.enrolment = null;
  $("totp-setup").hidden = true;
  $("totp-secret").textContent = "";
  $("totp-qr").removeAttribute("src");
  $("recovery-codes").replaceChildren(
    ...confirmed.recovery_codes.map((recovery) => {
      const item = document.createElement("li");
      item.textContent = recovery;
      return item;
    }),
  );
  $("recovery").hidden = false;
  $("must-enrol").hidden = true;
  $("inbox-link").hidden = false;
  showStatus(true);
  $("totp-off-form").hidden = true;
}

async function turnOff() {
  const code = $("totp-off-code").value.trim();
  if (!code) throw new Error("Enter a current code or a recovery code.");
  await api("POST", "/api/me/two-factor/off", { code });
  $("totp-off-code").value = "";
  showStatus(false);
}

async function logout() {
  try {
    await api("POST", "/api/logout");
  } catch (error) {
    if (error.status !== 401) throw error;
  }
  window.location.assign(SIGN_IN);
}

boot();
