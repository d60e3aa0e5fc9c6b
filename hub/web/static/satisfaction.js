/* The answer page behind a satisfaction link: the token in the path is the only key.
 *
 * Everything the customer wrote is shown with textContent, never as HTML.
 */

const token = decodeURIComponent(location.pathname.split("/").pop());
const endpoint = `/api/satisfaction/${encodeURIComponent(token)}`;
const $ = (id) => document.getElementById(id);

async function call(method, body) {
  const response = await fetch(endpoint, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `the hub answered ${response.status}`);
  return answer;
}

function showProblem(message) {
  $("problem").textContent = message;
  $("problem").hidden = false;
}

function showAnswer(survey) {
  $("question").textContent = survey.question;
  $("problem").hidden = true;
  $("expires").textContent = new Date(survey.expires_at).toLocaleString();
  const answered = survey.score !== null;
  $("answer").hidden = answered;
  $("thanks").hidden = !answered;
  if (!answered) {
    preselect();
    return;
  }
  $("given-score").textContent = `${survey.score}/5`;
  $("given-comment").textContent = survey.comment || "";
  $("given-comment").hidden = !survey.comment;
  const form = $("answer");
  form.elements.namedItem("score").value = String(survey.score);
  form.elements.namedItem("comment").value = survey.comment || "";
}

/** A score chosen with a button in the chat (``?score=4``): checked, still to be sent. */
function preselect() {
  const chosen = new URLSearchParams(location.search).get("score");
  const button = document.querySelector(`input[name="score"][value="${Number(chosen)}"]`);
  if (button) button.checked = true;
}

$("answer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const comment = form.elements.namedItem("comment").value.trim();
  try {
    showAnswer(await call("POST", {
      score: Number(form.elements.namedItem("score").value),
      comment: comment || null,
    }));
  } catch (error) {
    showProblem(error.message);
  }
});

$("change").addEventListener("click", () => {
  $("thanks").hidden = true;
  $("answer").hidden = false;
});

call("GET").then(showAnswer, (error) => {
  $("question").textContent = "This link does not work";
  showProblem(error.message);
});
