/* The reports page: each report fetched as JSON for the period chosen, drawn as a table and
 * a chart (Chart.js, vendored), with a link to the same rows as CSV.
 *
 * Every value goes in through textContent; names come from the report's agents map.
 */
import { apiClient } from "./api.js";

const SIGN_IN = "/?next=/reports";
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DEFAULT_DAYS = 28;
const charts = new Map();
const $ = (id) => document.getElementById(id);
const api = apiClient(
  () => null,
  () => window.location.assign(SIGN_IN),
);

async function boot() {
  const me = await api("GET", "/api/me");
  $("who").textContent = me.name;
  const today = new Date();
  const first = new Date(today.getTime() - (DEFAULT_DAYS - 1) * 86400000);
  $("to").value = isoDay(today);
  $("from").value = isoDay(first);
  $("zone").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  $("period").addEventListener("submit", (event) => {
    event.preventDefault();
    showAll();
  });
  await showAll();
}

function isoDay(moment) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}`;
}

function query() {
  const params = new URLSearchParams({ zone: $("zone").value.trim() || "UTC" });
  if ($("from").value) params.set("from", $("from").value);
  if ($("to").value) params.set("to", $("to").value);
  return params.toString();
}

async function showAll() {
  $("report-error").textContent = "";
  const sections = [...document.querySelectorAll("section[data-report]")];
  try {
    await Promise.all(sections.map(show));
  } catch (error) {
    $("report-error").textContent = error.message || String(error);
  }
}

async function show(section) {
  const name = section.dataset.report;
  section.dataset.loaded = "false";
  const report = await api("GET", `/api/reports/${name}?${query()}`);
  $("scope").textContent = report.scope === "all" ? "Everyone's customers" : "Your customers";
  section.querySelector("a.csv").href = `/api/reports/${name}.csv?${query()}`;
  section.querySelector("a.csv").textContent = `${name}.csv`;
  const table = section.querySelector("table.rows");
  if (table) fillTable(table, report);
  DRAW[name]?.(report);
  section.dataset.loaded = "true";
}

function ownerName(report, id) {
  if (id === null || id === "" || id === undefined) return "nobody";
  return report.agents[String(id)] || `agent ${id}`;
}

const OWNER_COLUMNS = new Set(["owner_id"]);

function fillTable(table, report) {
  table.replaceChildren();
  const rows = report.rows;
  if (!rows.length) {
    const caption = table.createCaption();
    caption.textContent = "Nothing in this period.";
    return;
  }
  const columns = Object.keys(rows[0]);
  const head = table.createTHead().insertRow();
  for (const column of columns) {
    const cell = document.createElement("th");
    cell.textContent = column.replaceAll("_", " ");
    head.append(cell);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const line = body.insertRow();
    for (const column of columns) {
      const cell = line.insertCell();
      cell.textContent = cellText(report, row, column);
      if (typeof row[column] === "number") cell.className = "number";
    }
  }
}

function cellText(report, row, column) {
  const value = row[column];
  const isOwner = OWNER_COLUMNS.has(column) || (column === "key" && row.group === "owner");
  if (isOwner || (column === "owner" && report.report === "due")) return ownerName(report, value);
  if (column.endsWith("_seconds")) return value === null ? "–" : duration(value);
  return value === null ? "–" : String(value);
}

function duration(seconds) {
  const minutes = Math.round(seconds / 60);
  return minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function draw(id, config) {
  charts.get(id)?.destroy();
  charts.set(id, new window.Chart($(id), { ...config, options: { maintainAspectRatio: false, animation: false, ...config.options } }));
}

const hours = (seconds) => (seconds === null ? null : Math.round(seconds / 36) / 100);

function bars(id, labels, datasets, options = {}) {
  draw(id, { type: "bar", data: { labels, datasets }, options });
}

const DRAW = {
  responses(report) {
    const first = report.rows.filter((row) => row.kind === "first");
    const owners = first.filter((row) => row.group === "owner");
    bars(
      "chart-responses-owner",
      owners.map((row) => ownerName(report, row.key)),
      [
        { label: "first response, median (h)", data: owners.map((r) => hours(r.median_seconds)) },
        { label: "first response, p90 (h)", data: owners.map((r) => hours(r.p90_seconds)) },
      ],
    );
    const weeks = first.filter((row) => row.group === "week");
    draw("chart-responses-week", {
      type: "line",
      data: {
        labels: weeks.map((row) => row.key),
        datasets: [
          { label: "median (h), by week", data: weeks.map((r) => hours(r.median_seconds)) },
          { label: "p90 (h), by week", data: weeks.map((r) => hours(r.p90_seconds)) },
        ],
      },
    });
  },
  sla(report) {
    const owners = report.rows.filter((row) => row.group === "owner");
    bars(
      "chart-sla",
      owners.map((row) => ownerName(report, row.key)),
      [{ label: "SLA met %", data: owners.map((row) => row.met_percent) }],
      { scales: { y: { min: 0, max: 100 } } },
    );
  },
  held(report) {
    drawHeatmap($("heatmap"), report.rows);
  },
  autoreplies(report) {
    bars(
      "chart-autoreplies",
      report.rows.map((row) => row.week),
      [{ label: "auto-replies", data: report.rows.map((row) => row.count) }],
    );
  },
  continuity(report) {
    const labels = report.rows.map((row) => ownerName(report, row.owner_id));
    const series = ["owner", "both", "backup"].map((kind) => ({
      label: kind === "owner" ? "by the owner" : kind === "both" ? "by both" : "by others",
      data: report.rows.map((row) => row[kind]),
    }));
    bars("chart-continuity", labels, series, { scales: { x: { stacked: true }, y: { stacked: true } } });
  },
  load(report) {
    bars(
      "chart-load",
      report.rows.map((row) => ownerName(report, row.owner_id)),
      [
        { label: "open conversations", data: report.rows.map((row) => row.open_conversations) },
        { label: "customers owned", data: report.rows.map((row) => row.customers) },
      ],
    );
  },
  satisfaction(report) {
    const scores = [1, 2, 3, 4, 5];
    const given = scores.map((n) => report.rows.reduce((sum, row) => sum + row[`score_${n}`], 0));
    bars("chart-satisfaction", scores.map((n) => `${n}/5`), [{ label: "answers", data: given }]);
  },
  tags(report) {
    const colours = report.rows.map((row) => (/^#[0-9a-f]{6}$/.test(row.colour) ? row.colour : "#888888"));
    bars(
      "chart-tags",
      report.rows.map((row) => row.tag),
      [{ label: "conversations", data: report.rows.map((row) => row.conversations), backgroundColor: colours }],
    );
  },
};

/** 7 rows of 24 hours; a cell's shade (set through the CSSOM, not markup) is its share of the busiest hour. */
function drawHeatmap(table, rows) {
  table.replaceChildren();
  const busiest = Math.max(1, ...rows.map((row) => row.held));
  const head = table.createTHead().insertRow();
  head.append(document.createElement("th"));
  for (let hour = 0; hour < 24; hour += 1) {
    const cell = document.createElement("th");
    cell.textContent = String(hour);
    head.append(cell);
  }
  const body = table.createTBody();
  DAYS.forEach((day, weekday) => {
    const line = body.insertRow();
    const label = document.createElement("th");
    label.textContent = day;
    line.append(label);
    for (const row of rows.filter((r) => r.weekday === weekday)) {
      const cell = line.insertCell();
      cell.textContent = row.held ? String(row.held) : "";
      cell.title = `${day} ${row.hour}:00–${row.hour + 1}:00: ${row.held} held`;
      if (row.held) cell.style.backgroundColor = `rgba(41, 87, 201, ${0.15 + (0.85 * row.held) / busiest})`;
      if (row.held / busiest > 0.6) cell.style.color = "#fff";
    }
  });
}

boot().catch((error) => {
  $("report-error").textContent = error.message || String(error);
});
