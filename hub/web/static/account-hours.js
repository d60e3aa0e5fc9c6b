/* The agent's own working hours and absences, on their account page (hours-absences.js). */
import { apiClient } from "./api.js";
import { hoursAndAbsences } from "./hours-absences.js";

const session = { csrf: null };
const api = apiClient(
  () => session.csrf,
  () => window.location.assign("/"),
);

async function boot() {
  const me = await api("GET", "/api/me");
  if (me.must_enrol_two_factor) return; // nothing else is open until two-factor is set up
  session.csrf = me.csrf_token;
  const section = document.getElementById("my-hours");
  const editor = hoursAndAbsences(document.getElementById("my-hours-editor"), api, "/api/me");
  await editor.load();
  section.hidden = false;
}

boot().catch((error) => {
  document.getElementById("my-hours-error").textContent = error.message || String(error);
});
